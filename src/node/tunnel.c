/* The packet tunnel of an agent or connector (tunnel.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/err.h"
#include "core/ippkt.h"
#include "node/peer_int.h"
#include "node/tunnel.h"

static bool is_agent(const struct zt_peer *p)
{
	return p->cfg.role == ZT_CTRL_ROLE_AGENT;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct zt_route *)a)->name, ((const struct zt_route *)b)->name);
}

static bool serves(const struct zt_peer *p, const char *service)
{
	for (size_t i = 0; i < p->cfg.n_services; i++)
		if (!strcmp(p->cfg.services[i].name, service))
			return true;
	return false;
}

int zt_ptun_init(struct zt_peer *p)
{
	struct ptunnel *t = &p->tun;
	char text[ZT_ROUTE_STRLEN];

	if (p->cfg.n_routes && (is_agent(p) || !p->cfg.routes))
		return -EINVAL;
	if (p->cfg.n_routes > ZT_CTRL_HELLO_ROUTES_MAX)
		return -EINVAL;
	for (size_t i = 0; i < p->cfg.n_routes; i++) {
		int n = zt_route_format(&p->cfg.routes[i], text, sizeof(text));
		if (n < 0 || n > ZT_CTRL_STR_MAX || !serves(p, p->cfg.routes[i].name))
			return -EINVAL;
		t->routes[i] = p->cfg.routes[i];
	}
	t->nroutes = p->cfg.n_routes;
	qsort(t->routes, t->nroutes, sizeof(t->routes[0]), by_name);
	return zt_hmap_init(&t->by_addr, 4);
}

void zt_ptun_fini(struct zt_peer *p)
{
	zt_hmap_fini(&p->tun.by_addr);
}

/* Control messages. */

void zt_ptun_hello(const struct zt_peer *p, struct zt_ctrl_hello *h)
{
	for (size_t i = 0; i < p->tun.nroutes; i++)
		if (zt_route_format(&p->tun.routes[i], h->routes[h->n_routes],
				    sizeof(h->routes[0])) > 0)
			h->n_routes++;
}

void zt_ptun_on_welcome(struct zt_peer *p, const struct zt_ctrl_welcome *w)
{
	struct ptunnel *t = &p->tun;

	t->pool4.family = t->pool6.family = 0;
	if (is_agent(p))
		return;
	if (w->tun_pool4[0] && (zt_prefix_parse(w->tun_pool4, &t->pool4, &t->plen4) < 0 ||
				t->pool4.family != AF_INET))
		t->pool4.family = 0;
	if (w->tun_pool6[0] && (zt_prefix_parse(w->tun_pool6, &t->pool6, &t->plen6) < 0 ||
				t->pool6.family != AF_INET6))
		t->pool6.family = 0;
}

void zt_ptun_on_routes(struct zt_peer *p, const struct zt_ctrl_routes *m)
{
	struct ptunnel *t = &p->tun;
	char list[512] = "-";
	size_t off = 0;

	if (!is_agent(p)) {
		p->st.ctrl_errors++;
		return;
	}
	t->nroutes = 0;
	for (unsigned i = 0; i < m->n_routes && i < ZT_CTRL_ROUTES_MAX; i++) {
		if (zt_route_parse(&t->routes[t->nroutes], m->routes[i]) < 0) {
			p->st.ctrl_errors++;
			continue;
		}
		if (off < sizeof(list))
			off += (size_t)snprintf(list + off, sizeof(list) - off, "%s%s", off ? " " : "",
						m->routes[i]);
		t->nroutes++;
	}
	PLOG(p, ZT_NODE_INFO, "tunnel_routes", "n=%zu routes=\"%s\"", t->nroutes, list);
	if (p->cb.tun_routes)
		p->cb.tun_routes(p, p->cfg.arg, t->routes, t->nroutes);
}

/* Connector: sessions by the agent's tunnel address. */

struct tkey {
	const struct zt_addr *agent; /* the packet's destination */
	const struct zt_addr *from;  /* its source: in one of the session's routes */
};

static uint64_t addr_hash(const struct zt_addr *a)
{
	size_t n = a->family == AF_INET ? 4 : 16;
	uint64_t h = 0xcbf29ce484222325ull ^ a->family;

	for (size_t i = 0; i < n; i++)
		h = (h ^ a->ip[i]) * 0x100000001b3ull;
	return h;
}

static struct psession *node_session(const struct zt_hnode *n, int fam)
{
	return fam ? zt_hmap_entry(n, struct psession, tnode[1])
		   : zt_hmap_entry(n, struct psession, tnode[0]);
}

static bool tkey_match(const struct zt_hnode *n, const void *key, int fam)
{
	const struct tkey *k = key;
	const struct psession *s = node_session(n, fam);
	const struct zt_addr *self = fam ? &s->tunf.self6 : &s->tunf.self4;

	if (s->state != ZT_PEER_S_READY || !zt_addr_ip_equal(self, k->agent))
		return false;
	for (size_t i = 0; i < s->tunf.nroutes; i++)
		if (zt_route_contains(&s->tunf.routes[i], k->from))
			return true;
	return false;
}

static bool match4(const struct zt_hnode *n, const void *key)
{
	return tkey_match(n, key, 0);
}

static bool match6(const struct zt_hnode *n, const void *key)
{
	return tkey_match(n, key, 1);
}

/* Connector: SESSION named the agent's tunnel addresses for the new session s. */
static void session_opened(struct psession *s, const struct zt_ctrl_session *m)
{
	struct ptunnel *t = &s->p->tun;
	const struct zt_addr *tun4 = &m->tun4, *tun6 = &m->tun6;
	size_t first = 0, n = 0;

	if (is_agent(s->p))
		return;

	for (size_t i = 0; i < t->nroutes; i++)
		if (!strcmp(t->routes[i].name, s->service) && !n++)
			first = i;
	s->tunf = (struct zt_tunfilter){ .routes = &t->routes[first], .nroutes = n,
					 .mtu = ZT_PEER_TUN_MTU };
	if (tun4->family == AF_INET)
		zt_addr_set_v4(&s->tunf.self4, tun4->ip, 0);
	if (tun6->family == AF_INET6)
		zt_addr_set_v6(&s->tunf.self6, tun6->ip, 0);
	if (!n)
		return; /* not a routed service: no packets on this session */
	for (int i = 0; i < 2; i++) {
		const struct zt_addr *a = i ? &s->tunf.self6 : &s->tunf.self4;
		uint64_t h;
		if (!a->family)
			continue;
		h = addr_hash(a);
		zt_hmap_link(&t->by_addr, zt_hmap_slot(&t->by_addr, h, NULL, NULL), &s->tnode[i], h);
		s->tlinked[i] = true;
	}
}

static void session_gone(struct psession *s)
{
	for (int i = 0; i < 2; i++)
		if (s->tlinked[i]) {
			zt_hmap_remove(&s->p->tun.by_addr, &s->tnode[i]);
			s->tlinked[i] = false;
		}
}

/* Both directions. */

/* A packet dropped for reason r: counted (for the agent a too, if any); one over the
 * MTU is answered. Returns the code for zt_peer_tun_send. */
static int dropped(struct zt_peer *p, struct pagent *a, enum zt_tun_drop r,
		   const struct zt_ippkt *ip, const uint8_t *pkt)
{
	p->st.tun_dropped[r]++;
	if (a)
		a->tun_dropped++;
	if (r == ZT_TUN_DROP_TOO_BIG) {
		int n = zt_ippkt_too_big(p->tun.icmp, sizeof(p->tun.icmp), ip, pkt, ZT_PEER_TUN_MTU,
					 &ip->dst);
		if (n > 0 && p->cb.tun_packet) {
			p->st.tun_too_big++;
			p->cb.tun_packet(p, p->cfg.arg, p->tun.icmp, (size_t)n);
		}
		return -EMSGSIZE;
	}
	if (is_agent(p) && (r == ZT_TUN_DROP_NO_ROUTE || r == ZT_TUN_DROP_RULE)) {
		/* the agent's own application fails at once, not after its timeout */
		int n = zt_ippkt_prohibited(p->tun.icmp, sizeof(p->tun.icmp), ip, pkt, &ip->dst);
		if (n > 0 && p->cb.tun_packet) {
			p->st.tun_prohibited++;
			p->cb.tun_packet(p, p->cfg.arg, p->tun.icmp, (size_t)n);
		}
	}
	return r == ZT_TUN_DROP_MALFORMED ? ZT_EMALFORMED : r == ZT_TUN_PASS ? -EPIPE : ZT_EPOLICY;
}

/* A TCP SYN's MSS lowered to what the tunnel carries (RFC 6691). */
static void clamp(struct zt_peer *p, uint8_t *pkt, const struct zt_ippkt *ip)
{
	uint16_t mss = ZT_PEER_TUN_MTU - (ip->family == AF_INET ? 40 : 60);

	if (ip->proto == ZT_IP_TCP && ip->has_l4 && zt_ippkt_clamp_mss(pkt, ip, mss) == 1)
		p->st.tun_mss_clamped++;
}

static bool is_syn(const uint8_t *pkt, const struct zt_ippkt *ip)
{
	return ip->proto == ZT_IP_TCP && ip->has_l4 && ip->len >= ip->hlen + 14 &&
	       (pkt[ip->hlen + 13] & 0x02);
}

static int send_ip(struct psession *s, const uint8_t *pkt, size_t len)
{
	struct zt_peer *p = s->p;
	uint8_t *b = p->tun.buf;
	int rc;

	zt_fwd_flow_write(b, sizeof(p->tun.buf), ZT_FWD_IP_FLOW);
	memcpy(b + ZT_FWD_FLOW_HDR_LEN, pkt, len);
	rc = zt_psession_dgram(s, b, ZT_FWD_FLOW_HDR_LEN + len);
	if (rc < 0) {
		p->st.tun_dropped[ZT_TUN_PASS]++;
		return rc;
	}
	p->st.tun_out++;
	zt_psession_tun_used(s);
	return 0;
}

/* cfg.tun_unchecked: the route that holds the destination, else the first one. */
static int agent_send_unchecked(struct zt_peer *p, uint64_t now, uint8_t *pkt, size_t len)
{
	struct ptunnel *t = &p->tun;
	const struct zt_route *r = t->nroutes ? &t->routes[0] : NULL;
	struct zt_ippkt ip;
	struct psession *s;
	int rc;

	if (!r || zt_ippkt_parse(&ip, pkt, len) < 0)
		return dropped(p, NULL, ZT_TUN_DROP_NO_ROUTE, &ip, pkt);
	for (size_t i = 0; i < t->nroutes; i++)
		if (zt_route_contains(&t->routes[i], &ip.dst))
			r = &t->routes[i];
	rc = zt_psession_for_service(p, now, r->name, &s);
	if (rc < 0) {
		p->st.tun_dropped[ZT_TUN_PASS]++;
		return rc;
	}
	return send_ip(s, pkt, ip.len);
}

static int agent_send(struct zt_peer *p, uint64_t now, uint8_t *pkt, size_t len)
{
	struct ptunnel *t = &p->tun;
	struct zt_tunfilter f = { .self4 = p->tun4, .self6 = p->tun6, .routes = t->routes,
				  .nroutes = t->nroutes, .mtu = ZT_PEER_TUN_MTU };
	struct zt_ippkt ip;
	struct psession *s;
	enum zt_tun_drop r;
	int rc;

	if (!p->tun4.family && !p->tun6.family)
		return -EINVAL;
	if (p->cfg.tun_unchecked)
		return agent_send_unchecked(p, now, pkt, len);
	r = zt_tunfilter_check(&f, pkt, len, &ip);
	if (r != ZT_TUN_PASS)
		return dropped(p, NULL, r, &ip, pkt);
	clamp(p, pkt, &ip);
	rc = zt_psession_for_service(p, now, f.matched->name, &s);
	if (rc < 0) {
		p->st.tun_dropped[ZT_TUN_PASS]++;
		return rc;
	}
	return send_ip(s, pkt, ip.len);
}

static int connector_send(struct zt_peer *p, uint8_t *pkt, size_t len)
{
	struct zt_ippkt ip;
	struct zt_hnode **slot;
	struct tkey k;
	int fam;

	if (zt_ippkt_parse(&ip, pkt, len) < 0)
		return dropped(p, NULL, ZT_TUN_DROP_MALFORMED, &ip, pkt);
	if (ip.len > ZT_PEER_TUN_MTU)
		return dropped(p, NULL, ZT_TUN_DROP_TOO_BIG, &ip, pkt);
	fam = ip.family == AF_INET6;
	k = (struct tkey){ .agent = &ip.dst, .from = &ip.src };
	slot = zt_hmap_slot(&p->tun.by_addr, addr_hash(&ip.dst), fam ? match6 : match4, &k);
	if (!*slot)
		return dropped(p, NULL, ZT_TUN_DROP_NO_ROUTE, &ip, pkt);
	clamp(p, pkt, &ip);
	return send_ip(node_session(*slot, fam), pkt, ip.len);
}

int zt_peer_tun_send(struct zt_peer *p, uint64_t now, uint8_t *pkt, size_t len)
{
	p->now = now;
	return is_agent(p) ? agent_send(p, now, pkt, len) : connector_send(p, pkt, len);
}

/* Agent: a packet from the connector must be for our address, from the session's
 * routes (a courtesy: the connector is the authority). */
static enum zt_tun_drop agent_check(const struct psession *s, const uint8_t *pkt, size_t len,
				    struct zt_ippkt *ip)
{
	const struct ptunnel *t = &s->p->tun;
	const struct zt_addr *self;

	if (zt_ippkt_parse(ip, pkt, len) < 0)
		return ZT_TUN_DROP_MALFORMED;
	if (ip->len > ZT_PEER_TUN_MTU)
		return ZT_TUN_DROP_TOO_BIG;
	self = ip->family == AF_INET ? &s->p->tun4 : &s->p->tun6;
	if (!self->family || !zt_addr_ip_equal(&ip->dst, self))
		return ZT_TUN_DROP_NO_ROUTE;
	for (size_t i = 0; i < t->nroutes; i++)
		if (!strcmp(t->routes[i].name, s->service) && zt_route_contains(&t->routes[i], &ip->src))
			return ZT_TUN_PASS;
	return ZT_TUN_DROP_SPOOFED;
}

/* Connector: a packet of s's agent dropped, counted for it; logged at most once per
 * PEER_AGENT_LOG_EVERY per agent (the line says how many were not). */
static void agent_dropped(struct psession *s, const char *why, const struct zt_ippkt *ip,
			  bool parsed)
{
	struct zt_peer *p = s->p;
	struct pagent *a = s->agent;
	char src[ZT_ADDR_STRLEN] = "-", dst[ZT_ADDR_STRLEN] = "-";

	if (!a)
		return;
	a->tun_dropped++;
	if (a->tun_logged_at && p->now < a->tun_logged_at + PEER_AGENT_LOG_EVERY) {
		a->tun_unlogged++;
		return;
	}
	if (parsed) {
		zt_addr_format(&ip->src, false, src, sizeof(src));
		zt_addr_format(&ip->dst, false, dst, sizeof(dst));
	}
	PLOG(p, ZT_NODE_WARN, "tunnel_dropped",
	     "peer=%s service=%s reason=%s src=%s dst=%s proto=%u dport=%u not_logged=%" PRIu64,
	     a->identity, s->service, why, src, dst, parsed ? ip->proto : 0,
	     parsed ? ip->dst.port : 0, a->tun_unlogged);
	a->tun_logged_at = p->now;
	a->tun_unlogged = 0;
}

static void ip_in(struct psession *s, const uint8_t *pkt, size_t len)
{
	struct zt_peer *p = s->p;
	struct zt_ippkt ip;
	enum zt_tun_drop r;

	if (is_agent(p))
		r = agent_check(s, pkt, len, &ip);
	else
		r = zt_tunfilter_check(&s->tunf, pkt, len, &ip);
	if (r != ZT_TUN_PASS) {
		p->st.tun_dropped[r]++;
		agent_dropped(s, zt_tun_drop_name(r), &ip, r != ZT_TUN_DROP_MALFORMED);
		return;
	}
	if (s->agent && !zt_tokens_take(&s->agent->tun_tokens, p->now)) {
		p->st.tun_rate_dropped++;
		agent_dropped(s, "rate", &ip, true);
		return;
	}
	len = ip.len;
	if (is_syn(pkt, &ip)) {
		memcpy(p->tun.buf, pkt, len);
		clamp(p, p->tun.buf, &ip);
		pkt = p->tun.buf;
	}
	p->st.tun_in++;
	zt_psession_tun_used(s);
	if (p->cb.tun_packet)
		p->cb.tun_packet(p, p->cfg.arg, pkt, len);
}

const struct psession_hooks zt_ptun_hooks = {
	.ip_in = ip_in,
	.opened = session_opened,
	.gone = session_gone,
};

size_t zt_peer_tun_routes(const struct zt_peer *p, struct zt_route *out, size_t cap)
{
	for (size_t i = 0; i < p->tun.nroutes && i < cap; i++)
		out[i] = p->tun.routes[i];
	return p->tun.nroutes;
}

void zt_peer_tun_pools(const struct zt_peer *p, struct zt_addr *ret4, uint8_t *ret_plen4,
		       struct zt_addr *ret6, uint8_t *ret_plen6)
{
	*ret4 = p->tun.pool4;
	*ret_plen4 = p->tun.plen4;
	*ret6 = p->tun.pool6;
	*ret_plen6 = p->tun.plen6;
}
