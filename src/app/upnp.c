/* UPnP IGD port mapping in a worker thread (app/upnp.h, docs/portmap.md). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <miniupnpc/miniupnpc.h>
#include <miniupnpc/upnpcommands.h>
#include <miniupnpc/upnperrors.h>

#include "app/log.h"
#include "app/nodeio.h"
#include "app/upnp.h"
#include "core/units.h"
#include "io/clock.h"
#include "io/loop.h"
#include "node/peer.h"

#define UPNP_LEASE 7200             /* asked for, as PCP's (RFC 6886 s3.3) */
#define UPNP_MAX_LEASE 86400        /* as PCP's clamp */
#define UPNP_MIN_LEASE 10
#define UPNP_RENEW_MAX (60 * ZT_SEC)
#define UPNP_DISCOVER_MS 1000       /* SSDP: upnpDiscover's wait (MX 1) */
#define UPNP_RETRY_NO_IGD (5 * 60 * ZT_SEC)
#define UPNP_RETRY_ERROR (60 * ZT_SEC)
#define UPNP_RETRY_RENEW (10 * ZT_SEC)
#define UPNP_REFRESH_MIN (5 * ZT_SEC) /* zt_upnp_refresh: renewals at most this often */

enum upnp_op { OP_MAP = 1, OP_RENEW, OP_DELETE };

struct zt_upnp {
	struct zt_loop *loop;
	struct zt_peer *peer;
	struct zt_nodeio *io;
	uint64_t after;
	int fds[2];
	struct zt_watch w;
	struct zt_timer t;
	pthread_t th;
	bool busy;
	uint64_t job_at;        /* when the last job started */

	/* The job: written before the thread starts, then the worker's until joined. */
	enum upnp_op op;
	char lan[INET_ADDRSTRLEN];
	char port[8], ext_port[8];
	bool have_igd;
	struct UPNPUrls urls;
	struct IGDdatas data;
	struct zt_upnp_answer ans;
	bool any_port, permanent, no_igd;
	int rc;
	char err[96];

	/* The loop's. */
	struct zt_addr gw, local;
	bool mapped, delete_due;
	struct zt_addr ext;
	char mapped_port[8];
	uint32_t lease;
	uint64_t expires_at;
	char last_error[96];
	struct zt_upnp_stats st;
};

/* Answers. */

/* Strict decimal, at most max; -1 when not. */
static int64_t decimal(const char *s, uint64_t max)
{
	uint64_t v = 0;

	if (!*s || strlen(s) > 10)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	return v > max ? (int64_t)max + 1 : (int64_t)v;
}

static bool public_ipv4(const uint8_t *ip)
{
	return !(ip[0] == 0 || ip[0] == 10 || ip[0] == 127 || ip[0] >= 224 ||
		 (ip[0] == 100 && (ip[1] & 0xc0) == 64) || (ip[0] == 169 && ip[1] == 254) ||
		 (ip[0] == 172 && (ip[1] & 0xf0) == 16) || (ip[0] == 192 && ip[1] == 168) ||
		 (ip[0] == 192 && ip[1] == 0 && ip[2] == 0) || (ip[0] == 198 && (ip[1] & 0xfe) == 18));
}

int zt_upnp_check(const struct zt_upnp_answer *a, const struct zt_addr *local, uint16_t asked,
		  bool any_port, uint32_t max_lease, struct zt_addr *ret_ext, uint32_t *ret_lease,
		  bool *ret_clamped, const char **why)
{
	struct zt_addr ext = { .family = AF_INET }, in = { 0 };
	int64_t port = decimal(a->ext_port, 65535), lease = UPNP_LEASE;
	int64_t iport = *a->int_port ? decimal(a->int_port, 65535) : local->port;

	*why = NULL;
	if (strnlen(a->ext_ip, sizeof(a->ext_ip)) == sizeof(a->ext_ip) ||
	    inet_pton(AF_INET, a->ext_ip, ext.ip) != 1 || !public_ipv4(ext.ip))
		*why = "external address not a public IPv4 address";
	else if (port < 1 || port > 65535 || (!any_port && port != asked))
		*why = "external port not the one asked or not 1..65535";
	else if (*a->int_client && (zt_addr_parse(&in, a->int_client, 0) < 0 ||
				    !zt_addr_ip_equal(&in, local)))
		*why = "mapping for another internal client";
	else if (iport != local->port)
		*why = "mapping for another internal port";
	else if (*a->lease && (lease = decimal(a->lease, UINT32_MAX)) < 0)
		*why = "lease not a number";
	else if (lease > 0 && lease < UPNP_MIN_LEASE)
		*why = "lease under 10 s";
	if (*why)
		return -EPROTO;
	*ret_clamped = lease == 0 || lease > max_lease;
	*ret_lease = *ret_clamped ? max_lease : (uint32_t)lease;
	ext.port = (uint16_t)port;
	*ret_ext = ext;
	return 0;
}

/* The worker: blocking calls, results in u->ans, u->rc and u->err. */

static int fail(struct zt_upnp *u, const char *call, int r)
{
	snprintf(u->err, sizeof(u->err), "%s: %s (%d)", call, strupnperror(r) ? strupnperror(r)
								       : "error", r);
	if (r < 0) /* HTTP or parse error: find the IGD again next time */
		u->have_igd = false;
	return u->rc = -EPROTO;
}

static int discover(struct zt_upnp *u)
{
	struct UPNPDev *devs;
	char lanaddr[64] = "";
	int err = 0, r;

	if (u->have_igd)
		return 0;
	devs = upnpDiscover(UPNP_DISCOVER_MS, u->lan, NULL, UPNP_LOCAL_PORT_ANY, 0, 2, &err);
	u->no_igd = true;
	if (!devs) {
		snprintf(u->err, sizeof(u->err), "no UPnP device answered the SSDP search");
		return u->rc = -ENOENT;
	}
	r = UPNP_GetValidIGD(devs, &u->urls, &u->data, lanaddr, sizeof(lanaddr));
	freeUPNPDevlist(devs);
	if (r != 1 && r != 2) { /* 1: connected IGD, 2: IGD not connected */
		if (r)
			FreeUPNPUrls(&u->urls);
		snprintf(u->err, sizeof(u->err), "no valid IGD among the devices found");
		return u->rc = -ENOENT;
	}
	u->no_igd = false;
	u->have_igd = true;
	return 0;
}

static void job_map(struct zt_upnp *u)
{
	const char *url, *st;
	char lease[12], desc[80], enabled[4];
	int r;

	if (discover(u) < 0)
		return;
	url = u->urls.controlURL;
	st = u->data.first.servicetype;
	u->ans = (struct zt_upnp_answer){ 0 };
	r = UPNP_GetExternalIPAddress(url, st, u->ans.ext_ip);
	if (r) {
		fail(u, "GetExternalIPAddress", r);
		return;
	}
	snprintf(lease, sizeof(lease), "%u", u->permanent ? 0 : UPNP_LEASE);
	snprintf(u->ans.ext_port, sizeof(u->ans.ext_port), "%s", u->ext_port);
	r = UPNP_AddPortMapping(url, st, u->ext_port, u->port, u->lan, "ztna", "UDP", NULL, lease);
	if (r == 725) { /* OnlyPermanentLeasesSupported (IGD v1) */
		u->permanent = true;
		r = UPNP_AddPortMapping(url, st, u->ext_port, u->port, u->lan, "ztna", "UDP", NULL, "0");
	}
	if (r == 718 && u->op == OP_MAP) { /* ConflictInMappingEntry: any port (IGD v2) */
		u->any_port = true;
		r = UPNP_AddAnyPortMapping(url, st, u->ext_port, u->port, u->lan, "ztna", "UDP",
					   NULL, lease, u->ans.ext_port);
		u->ans.ext_port[sizeof(u->ans.ext_port) - 1] = '\0';
	}
	if (r) {
		fail(u, "AddPortMapping", r);
		return;
	}
	/* read back; not every IGD has it, so no answer leaves the strings empty */
	if (UPNP_GetSpecificPortMappingEntry(url, st, u->ans.ext_port, "UDP", NULL,
					     u->ans.int_client, u->ans.int_port, desc, enabled,
					     u->ans.lease))
		u->ans.int_client[0] = u->ans.int_port[0] = u->ans.lease[0] = '\0';
	u->rc = 0;
}

static void *worker(void *arg)
{
	struct zt_upnp *u = arg;
	int r;

	u->rc = 0;
	u->err[0] = '\0';
	if (u->op == OP_DELETE) {
		r = u->have_igd ? UPNP_DeletePortMapping(u->urls.controlURL,
							 u->data.first.servicetype,
							 u->ext_port, "UDP", NULL)
				: UPNPCOMMAND_INVALID_ARGS;
		if (r)
			fail(u, "DeletePortMapping", r);
	} else {
		job_map(u);
	}
	(void)!write(u->fds[1], "x", 1);
	return NULL;
}

/* The loop's side. */

static void start(struct zt_upnp *u, enum upnp_op op)
{
	u->op = op;
	if (!inet_ntop(AF_INET, u->local.ip, u->lan, sizeof(u->lan)))
		u->lan[0] = '\0';
	snprintf(u->port, sizeof(u->port), "%u", u->local.port);
	if (op == OP_MAP) {
		snprintf(u->ext_port, sizeof(u->ext_port), "%u", u->local.port);
		u->any_port = false;
	} else {
		snprintf(u->ext_port, sizeof(u->ext_port), "%s", u->mapped_port);
	}
	if (op == OP_MAP && !u->have_igd)
		u->st.discoveries++;
	u->st.jobs++;
	u->job_at = zt_loop_now(u->loop);
	if (pthread_create(&u->th, NULL, worker, u) != 0) {
		snprintf(u->last_error, sizeof(u->last_error), "cannot start a thread");
		zt_timer_set(u->loop, &u->t, zt_loop_now(u->loop) + UPNP_RETRY_ERROR);
		return;
	}
	u->busy = true;
}

static void give_node(struct zt_upnp *u, uint64_t now)
{
	static const struct zt_addr none;

	zt_peer_portmap_external(u->peer, now, "upnp", u->mapped ? &u->ext : &none, u->lease);
	zt_nodeio_kick(u->io);
}

static void mapped(struct zt_upnp *u, uint64_t now)
{
	struct zt_addr ext;
	uint32_t lease;
	bool clamped, first = !u->mapped;
	const char *why;
	char a[ZT_ADDR_STRLEN];

	if (zt_upnp_check(&u->ans, &u->local, u->local.port, u->any_port, UPNP_MAX_LEASE, &ext,
			  &lease, &clamped, &why) < 0) {
		u->st.bad_answers++;
		snprintf(u->last_error, sizeof(u->last_error), "%s", why);
		zt_warn("portmap_upnp", "error=\"%s\" external=\"%.39s\" port=\"%.7s\"", why,
			u->ans.ext_ip, u->ans.ext_port);
		/* it may have mapped something: delete what was asked for */
		snprintf(u->mapped_port, sizeof(u->mapped_port), "%s", u->ext_port);
		u->delete_due = true;
		zt_timer_set(u->loop, &u->t, now + UPNP_RETRY_ERROR);
		return;
	}
	u->st.mapped++;
	u->st.clamped += clamped;
	if (first || !zt_addr_equal(&ext, &u->ext))
		zt_info("portmap_upnp", "external=%s lease_s=%u%s control=\"%.100s\"",
			zt_addr_str(&ext, a), lease, u->permanent ? " permanent=yes" : "",
			u->urls.controlURL);
	u->mapped = true;
	u->ext = ext;
	u->lease = lease;
	u->expires_at = now + (uint64_t)lease * ZT_SEC;
	snprintf(u->mapped_port, sizeof(u->mapped_port), "%u", ext.port);
	give_node(u, now);
	zt_timer_set(u->loop, &u->t, now + (lease / 2 * ZT_SEC < UPNP_RENEW_MAX
					    ? lease / 2 * ZT_SEC : UPNP_RENEW_MAX));
}

static void failed(struct zt_upnp *u, uint64_t now)
{
	bool renew = u->op == OP_RENEW;

	snprintf(u->last_error, sizeof(u->last_error), "%s", u->err);
	if (u->no_igd && u->op == OP_MAP)
		u->st.no_igd++;
	else
		u->st.errors++;
	zt_warn("portmap_upnp", "error=\"%s\"%s", u->err, renew ? " during=renewal" : "");
	if (renew && now < u->expires_at) {
		zt_timer_set(u->loop, &u->t, now + UPNP_RETRY_RENEW);
		return;
	}
	if (u->mapped) {
		u->st.lost++;
		u->mapped = false;
		give_node(u, now);
	}
	zt_timer_set(u->loop, &u->t, now + (u->no_igd ? UPNP_RETRY_NO_IGD : UPNP_RETRY_ERROR));
}

static void on_done(struct zt_loop *loop, struct zt_watch *w, uint32_t revents, uint64_t now)
{
	struct zt_upnp *u = w->data;
	char b[8];
	(void)loop;
	(void)revents;

	if (read(u->fds[0], b, sizeof(b)) <= 0 || !u->busy)
		return;
	pthread_join(u->th, NULL);
	u->busy = false;
	if (u->op == OP_DELETE) {
		u->st.deleted += u->rc == 0;
		u->delete_due = false;
		if (u->have_igd) { /* a delete follows a route change or a bad answer */
			FreeUPNPUrls(&u->urls);
			u->have_igd = false;
		}
		if (u->mapped) {
			u->mapped = false;
			give_node(u, now);
		}
		zt_timer_set(loop, &u->t, now);
	} else if (u->rc == 0) {
		mapped(u, now);
	} else {
		failed(u, now);
	}
}

/* Auto: only when the node's own client (PCP, NAT-PMP) has no mapping. */
static bool own_client_mapped(struct zt_upnp *u)
{
	struct zt_portmap_info i;

	return u->after && zt_peer_portmap_info(u->peer, &i) == 0 &&
	       i.state == ZT_PORTMAP_MAPPED && strcmp(i.protocol, "upnp") != 0;
}

static void on_timer(struct zt_loop *loop, struct zt_timer *t, uint64_t now)
{
	struct zt_upnp *u = t->data;
	(void)loop;
	(void)now;

	if (u->busy)
		return; /* on_done arms it again */
	if (u->delete_due)
		start(u, OP_DELETE);
	else if (!u->gw.family || own_client_mapped(u))
		return;
	else
		start(u, u->mapped ? OP_RENEW : OP_MAP);
}

int zt_upnp_new(struct zt_upnp **ret, struct zt_loop *loop, struct zt_peer *peer,
		struct zt_nodeio *io, uint64_t after_ms)
{
	struct zt_upnp *u = calloc(1, sizeof(*u));
	int rc;

	if (!u)
		return -ENOMEM;
	*u = (struct zt_upnp){ .loop = loop, .peer = peer, .io = io, .after = after_ms * ZT_MS };
	if (pipe2(u->fds, O_CLOEXEC | O_NONBLOCK) < 0) {
		rc = -errno;
		goto out_free;
	}
	u->w = (struct zt_watch){ .fd = u->fds[0], .events = EPOLLIN,
				  .cb = on_done, .data = u };
	rc = zt_loop_add(loop, &u->w);
	if (rc < 0)
		goto out_close;
	zt_timer_init(&u->t, on_timer, u);
	*ret = u;
	return 0;
out_close:
	close(u->fds[0]);
	close(u->fds[1]);
out_free:
	free(u);
	return rc;
}

void zt_upnp_route(struct zt_upnp *u, uint64_t now, const struct zt_addr *gw,
		   const struct zt_addr *local)
{
	if (zt_addr_ip_equal(gw, &u->gw) && zt_addr_equal(local, &u->local) &&
	    gw->family == u->gw.family)
		return;
	if (u->mapped) { /* at the old gateway: delete it there (the worker's IGD) */
		u->delete_due = true;
		u->mapped = false; /* the node dropped it with the route */
	} else if (!u->busy && u->have_igd) {
		FreeUPNPUrls(&u->urls);
		u->have_igd = false;
	}
	u->gw = gw->family == AF_INET ? *gw : (struct zt_addr){ 0 }; /* IGD: IPv4 only */
	u->local = *local;
	u->permanent = false;
	zt_timer_set(u->loop, &u->t, now + (u->delete_due ? 0 : u->after));
}

void zt_upnp_refresh(struct zt_upnp *u, uint64_t now)
{
	uint64_t at;

	if (!u || !u->mapped || u->delete_due)
		return;
	u->st.refreshes++;
	if (u->busy)
		return; /* a job runs: on_done sets the next */
	at = u->job_at + UPNP_REFRESH_MIN > now ? u->job_at + UPNP_REFRESH_MIN : now;
	if (!zt_timer_armed(&u->t) || u->t.deadline > at)
		zt_timer_set(u->loop, &u->t, at);
}

void zt_upnp_info(const struct zt_upnp *u, struct zt_upnp_info *ret)
{
	*ret = (struct zt_upnp_info){
		.state = u->busy ? "busy" : zt_timer_armed(&u->t) && !u->mapped ? "waiting" : "idle",
		.mapped = u->mapped, .external = u->ext, .lease = u->lease, .st = u->st,
	};
	memcpy(ret->last_error, u->last_error, sizeof(ret->last_error));
}

/* Waits until the job ends or the deadline (zt_clock_now); true if it ended. */
static bool wait_job(struct zt_upnp *u, uint64_t deadline)
{
	char b[8];

	while (u->busy) {
		struct pollfd pfd = { .fd = u->fds[0], .events = POLLIN };
		uint64_t t = zt_clock_now();

		if (t >= deadline || poll(&pfd, 1, (int)((deadline - t) / ZT_MS) + 1) < 0)
			return false;
		if (read(u->fds[0], b, sizeof(b)) > 0) {
			pthread_join(u->th, NULL);
			u->busy = false;
		}
	}
	return true;
}

int zt_upnp_close(struct zt_upnp *u, uint64_t budget_ms)
{
	uint64_t deadline;
	bool done;

	if (!u)
		return 0;
	deadline = zt_clock_now() + budget_ms * ZT_MS;
	zt_timer_cancel(u->loop, &u->t);
	zt_loop_del(u->loop, &u->w);
	done = wait_job(u, deadline);
	if (done && u->op != OP_DELETE && u->busy == false && u->rc == 0 && u->op) {
		/* a map that ended after the loop: it holds a mapping too */
		if (!u->mapped && !u->delete_due && u->ans.ext_port[0]) {
			snprintf(u->mapped_port, sizeof(u->mapped_port), "%s", u->ans.ext_port);
			u->delete_due = true;
		}
	}
	if (done && (u->mapped || u->delete_due) && u->have_igd) {
		start(u, OP_DELETE);
		done = wait_job(u, deadline);
		if (done && u->rc == 0)
			zt_info("portmap_upnp", "deleted=%s", u->mapped_port);
		else if (done)
			zt_warn("portmap_upnp", "error=\"%s\" during=delete", u->err);
	}
	if (!done) { /* the thread is blocked in the library: leave it to the exit */
		zt_warn("portmap_upnp", "error=\"the IGD did not answer within %" PRIu64
			" ms\" during=exit", budget_ms);
		pthread_detach(u->th);
		return -ETIMEDOUT;
	}
	if (u->have_igd)
		FreeUPNPUrls(&u->urls);
	close(u->fds[0]);
	close(u->fds[1]);
	free(u);
	return 0;
}
