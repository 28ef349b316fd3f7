/* The packet tunnel's shell (tunshell.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "app/log.h"
#include "app/tunshell.h"
#include "core/err.h"
#include "io/tun.h"
#include "io/tunnat.h"

int zt_tunshell_open(struct zt_tunshell *t, struct zt_loop *loop, struct zt_nodeio *io,
		     bool agent, const char *ifname, char *err, size_t errcap)
{
	int rc;

	memset(t, 0, sizeof(*t));
	t->loop = loop;
	t->io = io;
	t->agent = agent;
	rc = zt_tun_open(&t->tun, ifname, ZT_PEER_TUN_MTU);
	if (rc < 0) {
		snprintf(err, errcap, "cannot create the tunnel device %s: %s%s",
			 ifname && *ifname ? ifname : "ztnaN", strerror(-rc),
			 rc == -EPERM ? " (needs root or CAP_NET_ADMIN)"
			 : rc == -EBUSY ? " (a device of that name exists: pick another --tun)" : "");
		return rc;
	}
	if (!agent) {
		char why[256] = "";
		rc = zt_tunnat_open(&t->nat, zt_tun_name(t->tun), true, why, sizeof(why));
		if (rc == -ENOENT) /* no IPv6 in this kernel: IPv4 alone */
			rc = zt_tunnat_open(&t->nat, zt_tun_name(t->tun), false, why, sizeof(why));
		if (rc < 0) {
			snprintf(err, errcap, "cannot set up forwarding and masquerade for %s: %s",
				 zt_tun_name(t->tun), *why ? why : strerror(-rc));
			zt_tun_close(t->tun);
			t->tun = NULL;
			return rc;
		}
	}
	zt_info("tunnel_device", "name=%s mtu=%u role=%s", zt_tun_name(t->tun), ZT_PEER_TUN_MTU,
		agent ? "agent" : "connector");
	return 0;
}

/* Packets from the device: a batch to the node, then its datagrams out. */
static void on_readable(struct zt_loop *loop, struct zt_watch *w, uint32_t revents, uint64_t now)
{
	struct zt_tunshell *t = w->data;
	(void)loop;
	(void)revents;

	for (int i = 0; i < ZT_TUNSHELL_BATCH; i++) {
		int n = zt_tun_read(t->tun, t->buf, sizeof(t->buf));
		if (n == -EAGAIN)
			break;
		if (n < 0) {
			t->st.rx_errors++;
			continue;
		}
		t->st.rx++;
		if (zt_peer_tun_send(t->peer, now, t->buf, (size_t)n) < 0)
			t->st.rx_refused++;
	}
	zt_nodeio_kick(t->io);
}

int zt_tunshell_start(struct zt_tunshell *t, struct zt_peer *peer)
{
	int rc;

	t->peer = peer;
	t->w = (struct zt_watch){ .fd = zt_tun_fd(t->tun), .events = EPOLLIN, .cb = on_readable,
				  .data = t };
	rc = zt_loop_add(t->loop, &t->w);
	t->watching = rc == 0;
	return rc;
}

static void route_log(const char *what, const struct zt_addr *prefix, unsigned plen, int rc)
{
	char a[ZT_ADDR_STRLEN];

	zt_addr_format(prefix, false, a, sizeof(a));
	if (rc < 0)
		zt_warn("tunnel_route_failed", "what=%s prefix=%s/%u error=\"%s\"", what, a, plen,
			strerror(-rc));
	else
		zt_info("tunnel_route", "what=%s prefix=%s/%u", what, a, plen);
}

/* Agent: a new tunnel address of one family (the old one goes with its routes). */
static void agent_addr(struct zt_tunshell *t, struct zt_addr *have, const struct zt_addr *want)
{
	unsigned plen = want->family == AF_INET ? 32 : 128;
	int rc;

	if (!want->family || zt_addr_ip_equal(have, want))
		return;
	rc = zt_tun_addr_add(t->tun, want, plen);
	route_log("address", want, plen, rc);
	if (rc < 0) {
		t->st.route_errors++;
		return;
	}
	*have = *want;
}

void zt_tunshell_ready(struct zt_tunshell *t)
{
	struct zt_addr a4, a6, p4, p6;
	uint8_t l4, l6;
	int rc;

	if (t->agent) {
		zt_peer_tunnel_addrs(t->peer, &a4, &a6);
		agent_addr(t, &t->addr4, &a4);
		agent_addr(t, &t->addr6, &a6);
		if (!a4.family && !a6.family)
			zt_warn("tunnel_no_address", "note=\"the Intermediate gave no tunnel address\" "
				"fix=\"start ztna-intermediate with --tunnel-pool PREFIX\"");
		/* routes skipped for want of an address of their family get it now */
		zt_tunshell_routes(t, t->want, zt_peer_tun_routes(t->peer, t->want, ZT_CTRL_ROUTES_MAX));
		return;
	}
	zt_peer_tun_pools(t->peer, &p4, &l4, &p6, &l6);
	if (p4.family && !(t->pool4.family && zt_addr_ip_equal(&p4, &t->pool4) && l4 == t->plen4)) {
		rc = zt_tun_route_add(t->tun, &p4, l4, NULL);
		route_log("pool", &p4, l4, rc);
		if (rc == 0)
			t->pool4 = p4, t->plen4 = l4;
		else
			t->st.route_errors++;
	}
	if (p6.family && !(t->pool6.family && zt_addr_ip_equal(&p6, &t->pool6) && l6 == t->plen6)) {
		rc = zt_tun_route_add(t->tun, &p6, l6, NULL);
		route_log("pool", &p6, l6, rc);
		if (rc == 0)
			t->pool6 = p6, t->plen6 = l6;
		else
			t->st.route_errors++;
	}
}

static bool has_prefix(const struct zt_route *list, size_t n, const struct zt_route *r)
{
	for (size_t i = 0; i < n; i++)
		if (list[i].plen == r->plen && zt_addr_ip_equal(&list[i].prefix, &r->prefix))
			return true;
	return false;
}

void zt_tunshell_routes(struct zt_tunshell *t, const struct zt_route *routes, size_t n)
{
	struct zt_route keep[ZT_CTRL_ROUTES_MAX];
	size_t k = 0;

	for (size_t i = 0; i < t->nroutes; i++) {
		if (has_prefix(routes, n, &t->routes[i])) {
			keep[k++] = t->routes[i];
			continue;
		}
		route_log("delete", &t->routes[i].prefix, t->routes[i].plen,
			  zt_tun_route_del(t->tun, &t->routes[i].prefix, t->routes[i].plen));
	}
	for (size_t i = 0; i < n && k < ZT_CTRL_ROUTES_MAX; i++) {
		const struct zt_addr *src = routes[i].prefix.family == AF_INET ? &t->addr4 : &t->addr6;
		int rc;
		if (has_prefix(keep, k, &routes[i]))
			continue;
		if (!src->family || (t->keep_out.family && zt_route_contains(&routes[i], &t->keep_out))) {
			t->st.routes_skipped++;
			zt_warn("tunnel_route_skipped", "route=%s reason=\"%s\"", routes[i].name,
				src->family ? "it holds the Intermediate's address"
					    : "no tunnel address of its family");
			continue;
		}
		rc = zt_tun_route_add(t->tun, &routes[i].prefix, routes[i].plen, src);
		route_log("add", &routes[i].prefix, routes[i].plen, rc);
		if (rc < 0) {
			t->st.route_errors++;
			continue;
		}
		keep[k++] = routes[i];
	}
	memcpy(t->routes, keep, k * sizeof(keep[0]));
	t->nroutes = k;
}

void zt_tunshell_write(struct zt_tunshell *t, const uint8_t *pkt, size_t len)
{
	if (!t->tun || zt_tun_write(t->tun, pkt, len) < 0) {
		t->st.tx_errors++;
		return;
	}
	t->st.tx++;
}

const char *zt_tunshell_name(const struct zt_tunshell *t)
{
	return t->tun ? zt_tun_name(t->tun) : "";
}

void zt_tunshell_close(struct zt_tunshell *t)
{
	if (t->watching)
		zt_loop_del(t->loop, &t->w);
	t->watching = false;
	zt_tunnat_close(t->nat);
	t->nat = NULL;
	zt_tun_close(t->tun);
	t->tun = NULL;
}
