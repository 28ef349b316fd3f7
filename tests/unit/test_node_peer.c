/*
 * node/peer.h with node/imd.h: the whole relay-path system in memory. An agent
 * (alice) and a connector (c1, fronting "web" and "db") reach each other through the
 * Intermediate; the test plays both programs' forwarding shells: the agent side
 * writes and checks patterns, the connector side echoes.
 *
 *     alice 127.0.0.2:5000 (5 ms) --- Intermediate 127.0.0.1:4433 --- c1 127.0.0.3:6000 (10 ms)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/ippkt.h"
#include "core/units.h"
#include "core/route.h"
#include "node/relay.h"
#include "node_harness.h"
#include "tun_harness.h"

#define MAX_CHANS 256
#define MAX_FLOWS 8

static const uint8_t marker[16] = "ZTNA-PLAINTEXT!!";

/* One channel as the test's forwarding shell sees it. */
struct tchan {
	struct zt_peer_chan *ch;
	bool agent, used;
	uint64_t seed;
	uint64_t to_send, sent, recvd;
	bool send_fin, fin_sent, fin_recv, ready, reset, failed, released, corrupt;
	int code;
	bool echo;               /* connector: echo what arrives, FIN after FIN */
	bool paused;             /* do not read */
	uint8_t back[16384];     /* echo: read but not yet written */
	size_t blen;
	bool markers;            /* agent: put the marker into the data */
	bool hold;               /* connector sink: read but do not consume (a slow target) */
	uint64_t held;           /* ... bytes read and not consumed */
	bool exact;              /* agent: write only what zt_peer_chan_writable() allows */
	unsigned writables;      /* WRITABLE events */
};

struct tflow {
	struct zt_peer_flow *f;
	bool used, closed, agent;
	int reason;
	uint64_t in;
};

struct world {
	struct nh_fixture *f;
	struct nh_net net;
	struct nh_ep imd, agent, conn;
	struct nh_ep *imd2;                          /* a second Intermediate (failover tests) */
	struct zt_imd_config icfg;
	struct zt_peer_config acfg, ccfg;
	struct zt_policy *policy;
	struct zt_tls_ctx *imd_tls, *a_outer, *a_inner, *c_outer, *web_tls, *db_tls;
	struct zt_tls_ctx *imd_tcp, *a_tcp, *c_tcp;  /* ZT_ALPN_OUTER_TCP */
	bool agent_udp_blocked, conn_udp_blocked;    /* drop their datagrams (not TCP) */
	uint64_t tcp_bytes;                          /* on TCP connections, either way */
	struct zt_peer_service services[2];
	struct zt_peer_callbacks acb, ccb;
	struct tchan chans[MAX_CHANS];
	struct tflow flows[MAX_FLOWS];
	uint64_t wire_marker_hits, relay_marker_hits;
	uint64_t chan_pkts;              /* relay channel datagrams on the wire */
	uint64_t conn_imd_pkts;          /* connector -> Intermediate, other than those */
	uint64_t direct_pkts;            /* agent <-> connector without the Intermediate */
	bool cut_direct;                 /* drop agent <-> connector packets */
	size_t direct_max;               /* ... those longer (a path MTU); 0: none */
	uint64_t direct_over;            /* ... dropped for it */
	size_t direct_longest;           /* the longest one delivered */
	bool cut_link;                   /* drop the TCP direct links' bytes */
	uint64_t link_pkts;              /* ... seen */
	struct zt_addr spoofer;          /* replays captured direct packets from here */
	uint8_t captured[1500];          /* the last agent -> connector QUIC packet */
	size_t captured_len;
	uint64_t to_spoofer, from_spoofer; /* bytes */
	bool cut_agent_imd;              /* drop agent <-> Intermediate packets */
	bool cut_conn_imd;               /* drop connector <-> Intermediate packets */
	unsigned pongs;
	uint64_t pong_nonce, pong_rtt;
	bool pong_direct;
	struct zt_addr pong_remote;
	unsigned sessions_ready, sessions_closed, downs, readies;
	struct zt_peer_session_info last_ready;
	unsigned refused;                /* cb->refused calls (agent) */
	bool conn_sink;                  /* connector channels drain (hold: do not consume) */
	bool conn_hold;
	struct nh_ep bob;                /* a second agent (start_bob) */
	struct zt_tls_ctx *b_outer, *b_inner;
	struct zt_peer_config bcfg;
	struct zt_peer_refusal last_refusal;
	/* the packet tunnel: what each end's shell got for its TUN device */
	unsigned tun_to_agent, tun_to_conn, tun_routes_calls;
	size_t tun_nroutes;
	uint8_t tun_last_agent[1500], tun_last_conn[1500];
	size_t tun_len_agent, tun_len_conn;
	struct zt_route croutes[3];
	/* port mapping: datagrams to the gateway are kept here and dropped */
	struct zt_addr gw;
	unsigned gw_pkts;
	uint8_t gw_last[64];
	size_t gw_last_len;
};

static struct tchan *tchan_new(struct world *w, bool agent)
{
	for (int i = 0; i < MAX_CHANS; i++)
		if (!w->chans[i].used) {
			memset(&w->chans[i], 0, sizeof(w->chans[i]));
			w->chans[i].used = true;
			w->chans[i].agent = agent;
			return &w->chans[i];
		}
	fail_msg("too many channels");
	return NULL;
}

static uint8_t tbyte(const struct tchan *t, uint64_t off)
{
	if (t->markers && off % 4096 < sizeof(marker))
		return marker[off % 4096];
	return qh_pattern(t->seed, off);
}

static void pump(struct tchan *t)
{
	uint8_t buf[8192];

	if (!t->ch || t->released || !t->agent || !t->ready)
		return;
	while (t->sent < t->to_send) {
		size_t n = t->to_send - t->sent < sizeof(buf) ? t->to_send - t->sent : sizeof(buf);
		int k;
		if (t->exact) {
			size_t room = zt_peer_chan_writable(t->ch);
			if (room == 0)
				return; /* WRITABLE must follow */
			if (n > room)
				n = room;
		}
		for (size_t i = 0; i < n; i++)
			buf[i] = tbyte(t, t->sent + i);
		k = zt_peer_chan_write(t->ch, buf, n);
		if (k <= 0)
			return;
		t->sent += (uint64_t)k;
	}
	if (t->send_fin && !t->fin_sent && zt_peer_chan_shutdown(t->ch) == 0)
		t->fin_sent = true;
}

static void echo(struct tchan *t)
{
	bool fin = false;
	int n;

	for (;;) {
		if (t->blen) {
			n = zt_peer_chan_write(t->ch, t->back, t->blen);
			if (n <= 0)
				return;
			zt_peer_chan_consumed(t->ch, (size_t)n); /* echoed: written on */
			memmove(t->back, t->back + n, t->blen - (size_t)n);
			t->blen -= (size_t)n;
			continue;
		}
		if (t->fin_recv) {
			if (!t->fin_sent && zt_peer_chan_shutdown(t->ch) == 0)
				t->fin_sent = true;
			return;
		}
		if (t->paused)
			return;
		n = zt_peer_chan_read(t->ch, t->back, sizeof(t->back), &fin);
		if (n < 0)
			return;
		t->blen = (size_t)n;
		t->recvd += (uint64_t)n;
		if (fin)
			t->fin_recv = true;
	}
}

static void drain(struct tchan *t)
{
	uint8_t buf[8192];
	bool fin = false;
	int n;

	while (!t->fin_recv && !t->paused) {
		n = zt_peer_chan_read(t->ch, buf, sizeof(buf), &fin);
		if (n < 0)
			return;
		for (int i = 0; i < n; i++)
			if (buf[i] != tbyte(t, t->recvd + (uint64_t)i))
				t->corrupt = true;
		t->recvd += (uint64_t)n;
		if (t->hold)
			t->held += (uint64_t)n;
		else
			zt_peer_chan_consumed(t->ch, (size_t)n);
		if (fin)
			t->fin_recv = true;
	}
}

static void service_chan(struct tchan *t)
{
	if (!t->ch || t->released)
		return;
	if (t->echo)
		echo(t);
	else {
		drain(t);
		pump(t);
	}
	/* Both directions done: the shell lets go (as it closes its TCP socket). */
	if (t->fin_recv && t->fin_sent && !t->blen) {
		zt_peer_chan_release(t->ch, 0);
		t->released = true;
	}
}

static void on_chan_event(struct zt_peer *p, void *arg, struct zt_peer_chan *ch, void *carg,
			  enum zt_peer_chan_event ev, int code)
{
	struct tchan *t = carg;
	(void)p;
	(void)arg;
	(void)ch;

	switch (ev) {
	case ZT_PEER_CHAN_READY:
		t->ready = true;
		break;
	case ZT_PEER_CHAN_WRITABLE:
		t->writables++;
		break;
	case ZT_PEER_CHAN_RESET:
	case ZT_PEER_CHAN_FAILED:
		if (ev == ZT_PEER_CHAN_RESET)
			t->reset = true;
		else
			t->failed = true;
		t->code = code;
		zt_peer_chan_release(t->ch, ZT_FWD_TCP_RESET);
		t->released = true;
		return;
	default:
		break;
	}
	service_chan(t);
}

static void on_chan_accept(struct zt_peer *p, void *arg, struct zt_peer_chan *ch, const char *service)
{
	struct world *w = arg;
	struct tchan *t = tchan_new(w, false);
	(void)p;
	(void)service;

	t->ch = ch;
	t->echo = !w->conn_sink;
	t->hold = w->conn_hold;
	t->ready = true;
	zt_peer_chan_set_arg(ch, t);
}

static struct tflow *tflow_new(struct world *w, bool agent)
{
	for (int i = 0; i < MAX_FLOWS; i++)
		if (!w->flows[i].used) {
			memset(&w->flows[i], 0, sizeof(w->flows[i]));
			w->flows[i].used = true;
			w->flows[i].agent = agent;
			return &w->flows[i];
		}
	fail_msg("too many flows");
	return NULL;
}

static void on_flow_accept(struct zt_peer *p, void *arg, struct zt_peer_flow *f, const char *service)
{
	struct world *w = arg;
	struct tflow *t = tflow_new(w, false);
	(void)p;
	(void)service;

	t->f = f;
	zt_peer_flow_set_arg(f, t);
}

static void on_flow_dgram(struct zt_peer *p, void *arg, struct zt_peer_flow *f, void *farg,
			  const uint8_t *data, size_t len)
{
	struct world *w = arg;
	struct tflow *t = farg;
	(void)p;

	t->in++;
	if (!t->agent)
		zt_peer_flow_send(f, w->net.now, data, len); /* echo */
}

static void on_flow_closed(struct zt_peer *p, void *arg, struct zt_peer_flow *f, void *farg, int reason)
{
	struct tflow *t = farg;
	(void)p;
	(void)arg;
	(void)f;

	t->closed = true;
	t->reason = reason;
	t->f = NULL;
}

static void on_session(struct zt_peer *p, void *arg, const struct zt_peer_session_info *s,
		       enum zt_peer_session_event ev)
{
	struct world *w = arg;

	if (p != w->agent.peer)
		return;
	if (ev == ZT_PEER_SESSION_READY) {
		w->sessions_ready++;
		w->last_ready = *s;
	}
	if (ev == ZT_PEER_SESSION_CLOSED)
		w->sessions_closed++;
}

static void on_down(struct zt_peer *p, void *arg, int err, const char *text, uint64_t retry_at)
{
	struct world *w = arg;
	(void)p;
	(void)err;
	(void)text;
	(void)retry_at;
	w->downs++;
}

static void on_pong(struct zt_peer *p, void *arg, const char *service, uint64_t nonce,
		    uint64_t rtt, const char *path, const struct zt_addr *remote)
{
	struct world *w = arg;
	(void)p;
	(void)service;
	w->pongs++;
	w->pong_nonce = nonce;
	w->pong_rtt = rtt;
	w->pong_direct = strcmp(path, "relay") != 0;
	w->pong_remote = *remote;
}

static void on_ready(struct zt_peer *p, void *arg, const struct zt_addr *observed)
{
	struct world *w = arg;
	(void)p;
	(void)observed;
	w->readies++;
}

static void on_refused(struct zt_peer *p, void *arg, const struct zt_peer_refusal *r)
{
	struct world *w = arg;
	(void)p;
	w->refused++;
	w->last_refusal = *r;
}

static bool tap(void *arg, const struct nh_pkt *p)
{
	struct world *w = arg;

	if (qh_contains(p->data, p->len, marker, sizeof(marker)))
		w->wire_marker_hits++;
	if (p->tcp)
		w->tcp_bytes += p->len;
	if (!p->tcp && !p->link && zt_relay_is_chan(p->data, p->len))
		w->chan_pkts++;
	else if (!p->tcp && !p->link && zt_addr_equal(&p->from, &w->conn.addr) &&
		 zt_addr_equal(&p->to, &w->imd.addr))
		w->conn_imd_pkts++;
	if (w->gw.family && !p->tcp && !p->link && zt_addr_equal(&p->to, &w->gw)) {
		w->gw_pkts++;
		w->gw_last_len = p->len < sizeof(w->gw_last) ? p->len : sizeof(w->gw_last);
		memcpy(w->gw_last, p->data, w->gw_last_len);
		return true;
	}
	if (p->link) {
		w->link_pkts++;
		return w->cut_link;
	}
	if (!p->tcp && w->agent_udp_blocked &&
	    (zt_addr_equal(&p->from, &w->agent.addr) || zt_addr_equal(&p->to, &w->agent.addr)))
		return true;
	if (!p->tcp && w->conn_udp_blocked &&
	    (zt_addr_equal(&p->from, &w->conn.addr) || zt_addr_equal(&p->to, &w->conn.addr)))
		return true;
	if (w->spoofer.family && zt_addr_equal(&p->to, &w->spoofer))
		w->to_spoofer += p->len;
	if (w->spoofer.family && zt_addr_equal(&p->from, &w->spoofer))
		w->from_spoofer += p->len;
	if (w->cut_agent_imd &&
	    ((zt_addr_equal(&p->from, &w->agent.addr) && zt_addr_equal(&p->to, &w->imd.addr)) ||
	     (zt_addr_equal(&p->from, &w->imd.addr) && zt_addr_equal(&p->to, &w->agent.addr))))
		return true;
	if (w->cut_conn_imd &&
	    ((zt_addr_equal(&p->from, &w->conn.addr) && zt_addr_equal(&p->to, &w->imd.addr)) ||
	     (zt_addr_equal(&p->from, &w->imd.addr) && zt_addr_equal(&p->to, &w->conn.addr))))
		return true;
	if (zt_addr_equal(&p->from, &w->agent.addr) && zt_addr_equal(&p->to, &w->conn.addr) &&
	    p->len <= sizeof(w->captured) && p->len > 0 && p->data[0] >= 0x40) {
		memcpy(w->captured, p->data, p->len); /* QUIC, not STUN (first byte < 4) */
		w->captured_len = p->len;
	}
	if ((zt_addr_equal(&p->from, &w->agent.addr) && zt_addr_equal(&p->to, &w->conn.addr)) ||
	    (zt_addr_equal(&p->from, &w->conn.addr) && zt_addr_equal(&p->to, &w->agent.addr))) {
		w->direct_pkts++;
		if (w->direct_max && p->len > w->direct_max) {
			w->direct_over++;
			return true;
		}
		if (!w->cut_direct && p->len > w->direct_longest)
			w->direct_longest = p->len;
		return w->cut_direct;
	}
	return false;
}

static void start_agent(struct world *w, const char *token)
{
	w->acfg.token = (const uint8_t *)token;
	w->acfg.token_len = strlen(token);
	assert_int_equal(zt_peer_new(&w->agent.peer, &w->acfg, w->net.now), 0);
}

static void start_connector(struct world *w)
{
	assert_int_equal(zt_peer_new(&w->conn.peer, &w->ccfg, w->net.now), 0);
}

static void world_init(struct world *w, struct nh_fixture *f, uint64_t quota_pkts)
{
	static const char *const policy[] = {
		"client agent:alice:pw-alice", "client connector:c1:pw-c1",
		"allow alice=web,ghost", "serve c1=web,db", NULL,
	};

	memset(w, 0, sizeof(*w));
	w->f = f;
	nh_net_init(&w->net);
	w->net.tap = tap;
	w->net.tap_arg = w;
	w->policy = nh_policy(policy);
	w->imd_tls = nh_tls(f, ZT_TLS_SERVER, ZT_ALPN_OUTER, &f->pki.q.intermediate, true);
	w->a_outer = nh_tls(f, ZT_TLS_CLIENT, ZT_ALPN_OUTER, &f->pki.q.alice, false);
	w->a_inner = nh_tls(f, ZT_TLS_CLIENT, ZT_ALPN_INNER, &f->pki.q.alice, false);
	w->c_outer = nh_tls(f, ZT_TLS_CLIENT, ZT_ALPN_OUTER, &f->pki.q.c1, false);
	w->web_tls = nh_tls(f, ZT_TLS_SERVER, ZT_ALPN_INNER, &f->pki.q.web, true);
	w->db_tls = nh_tls(f, ZT_TLS_SERVER, ZT_ALPN_INNER, &f->pki.db, true);
	w->imd_tcp = nh_tls(f, ZT_TLS_SERVER, ZT_ALPN_OUTER_TCP, &f->pki.q.intermediate, true);
	w->a_tcp = nh_tls(f, ZT_TLS_CLIENT, ZT_ALPN_OUTER_TCP, &f->pki.q.alice, false);
	w->c_tcp = nh_tls(f, ZT_TLS_CLIENT, ZT_ALPN_OUTER_TCP, &f->pki.q.c1, false);
	nh_ep_init(&w->imd, &w->net, NH_IMD, "127.0.0.1:4433", 0);
	nh_ep_init(&w->agent, &w->net, NH_PEER, "127.0.0.2:5000", 5 * ZT_MS);
	nh_ep_init(&w->conn, &w->net, NH_PEER, "127.0.0.3:6000", 10 * ZT_MS);
	w->icfg = (struct zt_imd_config){
		.tls = w->imd_tls,
		.tls_tcp = w->imd_tcp,
		.rng = &f->rng,
		.policy = w->policy,
		.quota_packets = quota_pkts,
		.reset_key = (const uint8_t *)"0123456789abcdef0123456789abcdef",
		.reset_key_len = 32,
		.log = nh_node_log("imd"),
	};
	assert_int_equal(zt_imd_new(&w->imd.imd, &w->icfg, w->net.now), 0);
	w->acb = (struct zt_peer_callbacks){ .chan_event = on_chan_event, .flow_datagram = on_flow_dgram,
					     .flow_closed = on_flow_closed, .session = on_session,
					     .down = on_down, .ready = on_ready, .pong = on_pong,
					     .refused = on_refused };
	w->ccb = (struct zt_peer_callbacks){ .chan_accept = on_chan_accept, .chan_event = on_chan_event,
					     .flow_accept = on_flow_accept, .flow_datagram = on_flow_dgram,
					     .flow_closed = on_flow_closed };
	w->acfg = (struct zt_peer_config){
		.role = ZT_CTRL_ROLE_AGENT, .name = "alice",
		.intermediate = w->imd.addr, .local = w->agent.local,
		.outer_tls = w->a_outer, .outer_tls_tcp = w->a_tcp, .inner_tls = w->a_inner,
		.rng = &f->rng,
		.cb = &w->acb, .arg = w, .log = nh_node_log("agent"),
		.flow_idle = 5 * ZT_SEC,
		/* an Intermediate restart is heard at the next keepalive (a Stateless
		 * Reset): the tests of it wait 7 s (the default is 25 s) */
		.outer_keepalive = 5 * ZT_SEC,
		/* these tests are about the relay path; direct_path_* turn it on */
		.path = { .direct_disabled = true },
	};
	w->services[0] = (struct zt_peer_service){ .name = "web", .tls = w->web_tls };
	w->services[1] = (struct zt_peer_service){ .name = "db", .tls = w->db_tls };
	w->ccfg = (struct zt_peer_config){
		.role = ZT_CTRL_ROLE_CONNECTOR, .name = "c1",
		.token = (const uint8_t *)"pw-c1", .token_len = 5,
		.intermediate = w->imd.addr, .local = w->conn.local,
		.outer_tls = w->c_outer, .outer_tls_tcp = w->c_tcp, .services = w->services,
		.n_services = 2, .rng = &f->rng,
		.cb = &w->ccb, .arg = w, .log = nh_node_log("connector"),
		.flow_idle = 5 * ZT_SEC,
		.outer_keepalive = 5 * ZT_SEC,
		.path = { .direct_disabled = true },
	};
}

/* bob, a second agent at 127.0.0.4:5000, allowed to web. */
static void start_bob(struct world *w)
{
	const char *why;

	assert_int_equal(zt_policy_add_client(w->policy, "agent:bob:pw-bob", &why), 0);
	assert_int_equal(zt_policy_add_allow(w->policy, "bob=web", &why), 0);
	w->b_outer = nh_tls(w->f, ZT_TLS_CLIENT, ZT_ALPN_OUTER, &w->f->pki.bob, false);
	w->b_inner = nh_tls(w->f, ZT_TLS_CLIENT, ZT_ALPN_INNER, &w->f->pki.bob, false);
	nh_ep_init(&w->bob, &w->net, NH_PEER, "127.0.0.4:5000", 5 * ZT_MS);
	w->bcfg = w->acfg;
	w->bcfg.name = "bob";
	w->bcfg.token = (const uint8_t *)"pw-bob";
	w->bcfg.token_len = 6;
	w->bcfg.local = w->bob.local;
	w->bcfg.outer_tls = w->b_outer;
	w->bcfg.inner_tls = w->b_inner;
	assert_int_equal(zt_peer_new(&w->bob.peer, &w->bcfg, w->net.now), 0);
}

static void world_fini(struct world *w)
{
	nh_net_fini(&w->net);
	zt_tls_ctx_free(w->b_outer);
	zt_tls_ctx_free(w->b_inner);
	zt_policy_free(w->policy);
	zt_tls_ctx_free(w->imd_tls);
	zt_tls_ctx_free(w->a_outer);
	zt_tls_ctx_free(w->a_inner);
	zt_tls_ctx_free(w->c_outer);
	zt_tls_ctx_free(w->web_tls);
	zt_tls_ctx_free(w->db_tls);
	zt_tls_ctx_free(w->imd_tcp);
	zt_tls_ctx_free(w->a_tcp);
	zt_tls_ctx_free(w->c_tcp);
}

static bool both_ready(void *arg, uint64_t now)
{
	struct world *w = arg;
	(void)now;
	return w->agent.peer && w->conn.peer && zt_peer_state(w->agent.peer) == ZT_PEER_READY &&
	       zt_peer_state(w->conn.peer) == ZT_PEER_READY;
}

static bool both_ready_conn_only(void *arg, uint64_t now)
{
	struct world *w = arg;
	(void)now;
	return w->conn.peer && zt_peer_state(w->conn.peer) == ZT_PEER_READY;
}

/* A second Intermediate, imd2 at 127.0.0.8 (as the first is configured), named as both
 * clients' failover. */
static void add_failover(struct world *w, struct nh_ep *imd2)
{
	struct zt_imd_config c2 = w->icfg;

	nh_ep_init(imd2, &w->net, NH_IMD, "127.0.0.8:4433", 0);
	c2.log = nh_node_log("imd2");
	assert_int_equal(zt_imd_new(&imd2->imd, &c2, w->net.now), 0);
	w->acfg.failover[0] = w->ccfg.failover[0] = imd2->addr;
	w->acfg.n_failover = w->ccfg.n_failover = 1;
}

static bool agent_in_hello(void *arg, uint64_t now)
{
	struct world *w = arg;
	(void)now;
	return zt_peer_state(w->agent.peer) == ZT_PEER_HELLO;
}

static void world_up(struct world *w, struct nh_fixture *f, uint64_t quota_pkts)
{
	world_init(w, f, quota_pkts);
	start_connector(w);
	start_agent(w, "pw-alice");
	assert_true(nh_run(&w->net, both_ready, w, w->net.now + 3 * ZT_SEC));
}

/* Every event: the shells service their channels. */
static bool service_all(void *arg, uint64_t now)
{
	struct world *w = arg;
	(void)now;

	for (int i = 0; i < MAX_CHANS; i++)
		if (w->chans[i].used)
			service_chan(&w->chans[i]);
	return false;
}

static struct tchan *open_chan_on(struct world *w, struct zt_peer *p, const char *service,
				  uint64_t bytes, uint64_t seed)
{
	struct tchan *t = tchan_new(w, true);

	t->seed = seed;
	t->to_send = bytes;
	t->send_fin = true;
	assert_int_equal(zt_peer_chan_open(p, w->net.now, service, t, &t->ch), 0);
	return t;
}

static struct tchan *open_chan(struct world *w, const char *service, uint64_t bytes, uint64_t seed)
{
	return open_chan_on(w, w->agent.peer, service, bytes, seed);
}

struct done_arg {
	struct world *w;
	struct tchan *t;
};

static bool chan_done(void *arg, uint64_t now)
{
	struct done_arg *d = arg;

	service_all(d->w, now);
	return d->t->released;
}

static void run_chan(struct world *w, struct tchan *t, uint64_t limit)
{
	struct done_arg d = { .w = w, .t = t };
	assert_true(nh_run(&w->net, chan_done, &d, w->net.now + limit));
}

static void stream_through_the_relay(void **state)
{
	struct world w;
	struct tchan *t;
	struct zt_imd_stats is;
	struct zt_peer_stats as;
	struct zt_quic_path path;

	world_up(&w, *state, 0);
	t = open_chan(&w, "web", 1 << 20, 11);
	t->markers = true;
	run_chan(&w, t, 20 * ZT_SEC);
	assert_true(t->ready);
	assert_false(t->reset || t->failed || t->corrupt);
	assert_int_equal(t->recvd, 1 << 20);
	assert_true(t->fin_recv);
	/* The inner connection is on the relay path and verified both identities. */
	assert_int_equal(w.sessions_ready, 1);
	assert_string_equal(w.last_ready.peer_identity, "ztna:connector:c1");
	assert_true(w.last_ready.controlling);
	zt_quic_conn_path(w.last_ready.conn, &path);
	assert_true(zt_quic_is_relay_addr(&path.local));
	assert_true(zt_addr_equal(&path.remote, &w.imd.addr));
	zt_imd_stats(w.imd.imd, &is);
	assert_true(is.relay_pkts > 700);
	assert_true(is.relay_bytes > 2 * (1 << 20));
	zt_peer_stats(w.agent.peer, &as);
	assert_true(as.relay_out > 350 && as.relay_in > 350);
	/* The relay only ever saw ciphertext. */
	assert_int_equal(w.wire_marker_hits, 0);
	/* Control: the same tap does see a marker in plaintext. */
	nh_send(&w.net, &w.agent.local, &w.imd.addr, marker, sizeof(marker));
	assert_int_equal(w.wire_marker_hits, 1);
	world_fini(&w);
}

/* Several Intermediates (cfg.failover): the one in use gone (A stops answering), both
 * ends move to the next within the idle timeout and a new stream runs there; a home
 * that never answers is passed over after the handshake timeout. */
static void failover_to_the_next_intermediate(void **state)
{
	struct world w;
	static struct nh_ep imd2; /* large (a raw client's messages): not on the stack */
	struct tchan *t;
	char a[ZT_ADDR_STRLEN];
	uint64_t t0;

	world_init(&w, *state, 0);
	add_failover(&w, &imd2);
	w.acfg.outer_idle_timeout = w.ccfg.outer_idle_timeout = 6 * ZT_SEC;
	w.acfg.outer_keepalive = w.ccfg.outer_keepalive = 2 * ZT_SEC;
	start_connector(&w);
	start_agent(&w, "pw-alice");
	assert_true(nh_run(&w.net, both_ready, &w, w.net.now + 3 * ZT_SEC));
	assert_string_equal(zt_addr_str(zt_peer_intermediate(w.agent.peer), a), "127.0.0.1:4433");
	t = open_chan(&w, "web", 64 << 10, 3);
	run_chan(&w, t, 10 * ZT_SEC);
	assert_int_equal(t->recvd, 64 << 10);

	w.imd.down = true;
	t0 = w.net.now;
	assert_true(nh_run(&w.net, agent_in_hello, &w, w.net.now + 10 * ZT_SEC));
	assert_true(nh_run(&w.net, both_ready, &w, w.net.now + 5 * ZT_SEC));
	assert_true(w.net.now - t0 < 10 * ZT_SEC);
	assert_string_equal(zt_addr_str(zt_peer_intermediate(w.agent.peer), a), "127.0.0.8:4433");
	assert_string_equal(zt_addr_str(zt_peer_intermediate(w.conn.peer), a), "127.0.0.8:4433");
	t = open_chan(&w, "web", 64 << 10, 4);
	run_chan(&w, t, 10 * ZT_SEC);
	assert_false(t->reset || t->failed || t->corrupt);
	assert_int_equal(t->recvd, 64 << 10);
	zt_peer_free(w.agent.peer);
	w.agent.peer = NULL;

	/* a home that never answers: the agent moves on after the handshake timeout */
	w.acfg.intermediate = w.imd.addr;
	w.acfg.handshake_timeout = 3 * ZT_SEC;
	start_agent(&w, "pw-alice");
	t0 = w.net.now;
	assert_true(nh_run(&w.net, both_ready, &w, w.net.now + 8 * ZT_SEC));
	assert_true(w.net.now - t0 >= 3 * ZT_SEC);
	assert_string_equal(zt_addr_str(zt_peer_intermediate(w.agent.peer), a), "127.0.0.8:4433");
	world_fini(&w);
}

/*
 * With the default timeouts (idle 75 s, keepalive 25 s) a dead Intermediate is left
 * for the next one when it goes silent: nothing of ours answered for 15 s
 * (failover_silence) while something waits for an answer. Idle clients put their
 * keepalive in flight at most 25 s after the death: both at the next Intermediate
 * within 25 + 15 s and a login (20.2 s here; before: the 75 s idle timeout).
 */
static void failover_on_silence_with_the_default_timeouts(void **state)
{
	struct world w;
	static struct nh_ep imd2; /* large (a raw client's messages): not on the stack */
	char a[ZT_ADDR_STRLEN];
	uint64_t t0;

	world_init(&w, *state, 0);
	add_failover(&w, &imd2);
	start_connector(&w);
	start_agent(&w, "pw-alice");
	assert_true(nh_run(&w.net, both_ready, &w, w.net.now + 3 * ZT_SEC));
	nh_run_for(&w.net, 5 * ZT_SEC);
	w.imd.down = true;
	t0 = w.net.now;
	assert_true(nh_run(&w.net, agent_in_hello, &w, w.net.now + 45 * ZT_SEC));
	assert_true(nh_run(&w.net, both_ready, &w, w.net.now + 5 * ZT_SEC));
	print_message("# both at the next Intermediate %.1f s after the first died\n",
		      (double)(w.net.now - t0) / ZT_SEC);
	assert_true(w.net.now - t0 <= 42 * ZT_SEC);
	assert_string_equal(zt_addr_str(zt_peer_intermediate(w.agent.peer), a), "127.0.0.8:4433");
	assert_string_equal(zt_addr_str(zt_peer_intermediate(w.conn.peer), a), "127.0.0.8:4433");
	world_fini(&w);
}

struct leave_arg {
	struct world *w;
	uint64_t agent_left, conn_left; /* when each was first not logged in at imd */
};

static bool both_left(void *arg, uint64_t now)
{
	struct leave_arg *l = arg;
	struct world *w = l->w;

	service_all(w, now);
	if (l->agent_left == ZT_TIME_NEVER && zt_peer_state(w->agent.peer) != ZT_PEER_READY)
		l->agent_left = now;
	if (l->conn_left == ZT_TIME_NEVER && zt_peer_state(w->conn.peer) != ZT_PEER_READY)
		l->conn_left = now;
	return l->agent_left != ZT_TIME_NEVER && l->conn_left != ZT_TIME_NEVER;
}

/*
 * A relayed session held by flow control when its Intermediate dies, default
 * timeouts: the connector reads but does not consume (a slow target), so the agent's
 * stream stops at the window and nothing of either end waits for an answer when the
 * Intermediate dies. Each leaves it within failover_silence / 5 + failover_silence
 * (3 + 15 s): the keepalive is short while relayed data flows and for 15 s after.
 * Before, each waited for its keepalive (25 s) and the silence after it: ~40 s.
 */
static void held_relayed_ends_leave_a_dead_intermediate(void **state)
{
	struct world w;
	static struct nh_ep imd2; /* large (a raw client's messages): not on the stack */
	struct leave_arg l = { .w = &w, .agent_left = ZT_TIME_NEVER,
			       .conn_left = ZT_TIME_NEVER };
	struct tchan *t;
	uint64_t t0, sent, pkts;

	world_init(&w, *state, 0);
	add_failover(&w, &imd2);
	w.acfg.outer_keepalive = w.ccfg.outer_keepalive = 0; /* the default, 25 s */
	w.cut_direct = true;
	w.conn_sink = w.conn_hold = true;
	start_connector(&w);
	start_agent(&w, "pw-alice");
	assert_true(nh_run(&w.net, both_ready, &w, w.net.now + 3 * ZT_SEC));
	t = open_chan(&w, "web", 200000000, 47);
	t->send_fin = false;
	nh_run(&w.net, service_all, &w, w.net.now + 5 * ZT_SEC);
	/* held: nothing more goes for the last two seconds */
	sent = t->sent;
	assert_true(sent > 100000);
	nh_run(&w.net, service_all, &w, w.net.now + 2 * ZT_SEC);
	assert_int_equal(t->sent, sent);
	/* an idle relayed session does not count as data: 20 s after the last, the
	 * connector's packets to its Intermediate are its keepalive's and the relayed
	 * keepalives' (each as an outer DATAGRAM: chan_fresh) and their ACKs */
	nh_run(&w.net, service_all, &w, w.net.now + 20 * ZT_SEC);
	pkts = w.conn_imd_pkts;
	nh_run(&w.net, service_all, &w, w.net.now + 50 * ZT_SEC);
	print_message("# connector -> Intermediate in 50 s idle: %llu\n",
		      (unsigned long long)(w.conn_imd_pkts - pkts));
	assert_true(w.conn_imd_pkts - pkts <= 4); /* 12 if every relayed packet counted */
	assert_int_equal(t->sent, sent);
	w.imd.down = true;
	t0 = w.net.now;
	assert_true(nh_run(&w.net, both_left, &l, w.net.now + 45 * ZT_SEC));
	print_message("# left the dead Intermediate: agent %.1f s, connector %.1f s\n",
		      (double)(l.agent_left - t0) / ZT_SEC, (double)(l.conn_left - t0) / ZT_SEC);
	assert_true(l.agent_left - t0 <= 18 * ZT_SEC + 500 * ZT_MS);
	assert_true(l.conn_left - t0 <= 18 * ZT_SEC + 500 * ZT_MS);
	world_fini(&w);
}

/*
 * A relayed session when its Intermediate dies and one end reaches the next one much
 * later than the other (the connector cannot reach it for 30 s: a network of its own
 * down too; or an idle client, which notices the death up to 25 s after the other
 * end). The agent asks for its session there until the connector comes (every second,
 * 30 s), both keep it meanwhile (PEER_RELAY_DETACH_MAX, 45 s: an idle client's bound of
 * 25 + 15 s and a login) and the channel carries data again afterwards. Before, a
 * client kept a relayed session 10 s: the agent's was gone ("not re-attached in time")
 * long before the connector came.
 */
static bool agent_logged_in(void *arg, uint64_t now)
{
	struct world *w = arg;

	service_all(w, now);
	return zt_peer_state(w->agent.peer) == ZT_PEER_READY;
}

struct gone_arg {
	struct world *w;
	struct tchan *t;
};

static bool chan_gone(void *arg, uint64_t now)
{
	struct gone_arg *g = arg;

	service_all(g->w, now);
	return g->t->reset || g->t->failed || g->t->released;
}

/* The connector unreachable for block after its Intermediate died (see below). */
static void relayed_later_end(struct nh_fixture *f, uint64_t block)
{
	struct world w;
	static struct nh_ep imd2; /* large (a raw client's messages): not on the stack */
	struct leave_arg l = { .w = &w, .agent_left = ZT_TIME_NEVER,
			       .conn_left = ZT_TIME_NEVER };
	struct gone_arg g = { .w = &w };
	struct zt_peer_stats as, cs;
	struct tchan *t;
	uint64_t t0, got;

	world_init(&w, f, 0);
	add_failover(&w, &imd2);
	w.cut_direct = true;
	start_connector(&w);
	start_agent(&w, "pw-alice");
	assert_true(nh_run(&w.net, both_ready, &w, w.net.now + 3 * ZT_SEC));
	t = g.t = open_chan(&w, "web", 4096, 53);
	t->send_fin = false;
	nh_run(&w.net, service_all, &w, w.net.now + 2 * ZT_SEC);
	assert_int_equal(t->recvd, 4096);
	w.imd.down = true;
	w.conn_udp_blocked = true;
	t0 = w.net.now;
	assert_true(nh_run(&w.net, both_left, &l, w.net.now + 45 * ZT_SEC));
	assert_true(nh_run(&w.net, agent_logged_in, &w, w.net.now + 5 * ZT_SEC));
	if (block > 45 * ZT_SEC) {
		/* given up at last, about 45 s after the agent left (its last resume refused,
		 * or not re-attached in time): the clock goes on (before, a deadline of the
		 * closed session's stayed at that instant: the loop spun until the session
		 * was reaped) */
		assert_true(nh_run(&w.net, chan_gone, &g, l.agent_left + 46 * ZT_SEC));
		assert_true(w.net.now >= l.agent_left + 43 * ZT_SEC);
		got = w.net.now;
		nh_run(&w.net, service_all, &w, got + 2 * ZT_SEC);
		assert_int_equal(w.net.now, got + 2 * ZT_SEC);
		world_fini(&w);
		return;
	}
	nh_run(&w.net, service_all, &w, t0 + block);
	w.conn_udp_blocked = false;
	assert_true(nh_run(&w.net, both_ready, &w, w.net.now + 15 * ZT_SEC));
	print_message("# the agent at the next Intermediate %.1f s before the connector\n",
		      (double)(w.net.now - l.agent_left) / ZT_SEC);
	nh_run(&w.net, service_all, &w, w.net.now + 3 * ZT_SEC);
	zt_peer_stats(w.agent.peer, &as);
	zt_peer_stats(w.conn.peer, &cs);
	assert_int_equal(as.sessions_resumed, 1);
	assert_int_equal(cs.sessions_resumed, 1);
	got = t->recvd;
	t->to_send += 65536;
	nh_run(&w.net, service_all, &w, w.net.now + 3 * ZT_SEC);
	assert_int_equal(t->recvd, got + 65536);
	assert_false(t->reset || t->failed || t->corrupt);
	world_fini(&w);
}

static void relayed_session_waits_for_the_later_end(void **state)
{
	relayed_later_end(*state, 30 * ZT_SEC);
}

/* ... and one that never comes: the session is given up, no timer left behind. */
static void relayed_session_given_up_leaves_no_timer(void **state)
{
	relayed_later_end(*state, 90 * ZT_SEC);
}

/*
 * A relayed session with no Intermediate left to go to: kept PEER_RELAY_DETACH_MAX
 * (45 s), then given up ("not re-attached in time"), and the clock goes on. Before, the
 * closed session's detach time stayed its deadline while zt_psession_timers skipped
 * it: the loop spun at that instant until the session was reaped (here: for good).
 */
static void relayed_session_given_up_without_intermediates(void **state)
{
	struct world w;
	static struct nh_ep imd2; /* large (a raw client's messages): not on the stack */
	struct gone_arg g = { .w = &w };
	uint64_t t0, at;

	world_init(&w, *state, 0);
	add_failover(&w, &imd2);
	w.cut_direct = true;
	start_connector(&w);
	start_agent(&w, "pw-alice");
	assert_true(nh_run(&w.net, both_ready, &w, w.net.now + 3 * ZT_SEC));
	g.t = open_chan(&w, "web", 4096, 59);
	g.t->send_fin = false;
	nh_run(&w.net, service_all, &w, w.net.now + 2 * ZT_SEC);
	assert_int_equal(g.t->recvd, 4096);
	w.imd.down = imd2.down = true;
	t0 = w.net.now;
	assert_true(nh_run(&w.net, chan_gone, &g, t0 + 90 * ZT_SEC));
	print_message("# given up %.1f s after the Intermediates died\n",
		      (double)(w.net.now - t0) / ZT_SEC);
	assert_true(w.net.now >= t0 + 45 * ZT_SEC);
	at = w.net.now;
	nh_run(&w.net, service_all, &w, at + 2 * ZT_SEC);
	assert_int_equal(w.net.now, at + 2 * ZT_SEC);
	world_fini(&w);
}

static bool both_home(void *arg, uint64_t now)
{
	struct world *w = arg;
	(void)now;
	return both_ready(w, now) &&
	       zt_addr_equal(zt_peer_intermediate(w->agent.peer), &w->imd.addr) &&
	       zt_addr_equal(zt_peer_intermediate(w->conn.peer), &w->imd.addr);
}

/*
 * Back home: the home Intermediate dies, both move to the next one; when the home
 * answers again, a handshake with it (every home_retry, 3 s here) completes and both
 * log in there again; a stream goes through it then. Before, they stayed at the next
 * one for good (until it failed in turn).
 */
static void clients_go_back_home(void **state)
{
	struct world w;
	static struct nh_ep imd2; /* large (a raw client's messages): not on the stack */
	struct zt_peer_stats st;
	struct tchan *t;
	char a[ZT_ADDR_STRLEN];
	uint64_t t0;

	world_init(&w, *state, 0);
	add_failover(&w, &imd2);
	w.acfg.outer_idle_timeout = w.ccfg.outer_idle_timeout = 6 * ZT_SEC;
	w.acfg.outer_keepalive = w.ccfg.outer_keepalive = 2 * ZT_SEC;
	w.acfg.home_retry = w.ccfg.home_retry = 3 * ZT_SEC;
	start_connector(&w);
	start_agent(&w, "pw-alice");
	assert_true(nh_run(&w.net, both_home, &w, w.net.now + 3 * ZT_SEC));
	w.imd.down = true;
	assert_true(nh_run(&w.net, agent_in_hello, &w, w.net.now + 10 * ZT_SEC));
	assert_true(nh_run(&w.net, both_ready, &w, w.net.now + 5 * ZT_SEC));
	assert_string_equal(zt_addr_str(zt_peer_intermediate(w.agent.peer), a), "127.0.0.8:4433");
	/* away from a dead home: the handshakes with it fail, they stay */
	nh_run_for(&w.net, 8 * ZT_SEC);
	assert_false(both_home(&w, 0));
	assert_true(both_ready(&w, 0));
	w.imd.down = false;
	t0 = w.net.now;
	assert_true(nh_run(&w.net, both_home, &w, w.net.now + 10 * ZT_SEC));
	assert_true(w.net.now - t0 <= 4 * ZT_SEC); /* within home_retry and a login */
	zt_peer_stats(w.agent.peer, &st);
	assert_true(st.home_probes >= 2);
	t = open_chan(&w, "web", 64 << 10, 5);
	run_chan(&w, t, 10 * ZT_SEC);
	assert_false(t->reset || t->failed || t->corrupt);
	assert_int_equal(t->recvd, 64 << 10);
	world_fini(&w);
}

static bool both_at(void *arg, uint64_t now)
{
	struct world *w = arg;
	return both_ready(w, now) &&
	       zt_addr_equal(zt_peer_intermediate(w->agent.peer), &w->imd2->addr) &&
	       zt_addr_equal(zt_peer_intermediate(w->conn.peer), &w->imd2->addr);
}

/*
 * --intermediate-pick nearest: the first one given is 40 ms further away (20 ms each
 * way) than the second; after logging in at the first, each client measures a QUIC
 * handshake with the other, moves there, and keeps it as its home: when the first
 * answers again after the second died... the second stays home (a failure moves them
 * to the first, and the second, back, takes them home again).
 */
static void nearest_intermediate_becomes_home(void **state)
{
	struct world w;
	static struct nh_ep imd2; /* large (a raw client's messages): not on the stack */
	struct tchan *t;

	world_init(&w, *state, 0);
	w.imd.lat = 20 * ZT_MS;
	add_failover(&w, &imd2);
	w.imd2 = &imd2;
	w.acfg.pick_nearest = w.ccfg.pick_nearest = true;
	w.acfg.outer_idle_timeout = w.ccfg.outer_idle_timeout = 6 * ZT_SEC;
	w.acfg.outer_keepalive = w.ccfg.outer_keepalive = 2 * ZT_SEC;
	w.acfg.home_retry = w.ccfg.home_retry = 3 * ZT_SEC;
	start_connector(&w);
	start_agent(&w, "pw-alice");
	assert_true(nh_run(&w.net, both_ready, &w, w.net.now + 3 * ZT_SEC));
	assert_true(nh_run(&w.net, both_at, &w, w.net.now + 3 * ZT_SEC));
	t = open_chan(&w, "web", 64 << 10, 6);
	run_chan(&w, t, 10 * ZT_SEC);
	assert_int_equal(t->recvd, 64 << 10);
	/* the second is home now: a failure moves them to the first, its return back */
	imd2.down = true;
	assert_true(nh_run(&w.net, agent_in_hello, &w, w.net.now + 10 * ZT_SEC));
	assert_true(nh_run(&w.net, both_ready, &w, w.net.now + 5 * ZT_SEC));
	assert_false(both_at(&w, 0));
	imd2.down = false;
	assert_true(nh_run(&w.net, both_at, &w, w.net.now + 10 * ZT_SEC));
	world_fini(&w);
}

/* The relay channel (docs/relay-channel.md): by default both ends and the
 * Intermediate agree, and the stream rides as channel data both ways, with an outer
 * DATAGRAM at most about once a second per end (the outer path's refresh). */
static void relay_channel_carries_the_stream(void **state)
{
	struct world w;
	struct tchan *t;
	struct zt_imd_stats is;
	struct zt_peer_stats as, cs;
	uint64_t t0;

	world_up(&w, *state, 0);
	t0 = w.net.now;
	t = open_chan(&w, "web", 1 << 20, 11);
	t->markers = true;
	run_chan(&w, t, 20 * ZT_SEC);
	assert_false(t->reset || t->failed || t->corrupt);
	assert_int_equal(t->recvd, 1 << 20);
	nh_run(&w.net, service_all, &w, w.net.now + 200 * ZT_MS); /* the last ACKs land */
	zt_imd_stats(w.imd.imd, &is);
	zt_peer_stats(w.agent.peer, &as);
	zt_peer_stats(w.conn.peer, &cs);
	assert_true(as.relay_chan_out > 350 && as.relay_chan_in > 350);
	assert_true(cs.relay_chan_out > 350 && cs.relay_chan_in > 350);
	/* what went as DATAGRAMs: the first packets, then one a second or so per end */
	{
		uint64_t secs = (w.net.now - t0) / ZT_SEC + 1;
		assert_true(as.relay_out - as.relay_chan_out <= 2 + 2 * secs);
		assert_true(cs.relay_out - cs.relay_chan_out <= 2 + 2 * secs);
	}
	assert_int_equal(is.relay_chan_pkts, as.relay_chan_out + cs.relay_chan_out);
	assert_int_equal(is.relay_chan_out, as.relay_chan_in + cs.relay_chan_in);
	assert_int_equal(is.relay_chan_dropped_addr + is.relay_chan_dropped_malformed, 0);
	assert_int_equal(as.relay_chan_dropped + cs.relay_chan_dropped, 0);
	assert_int_equal(w.chan_pkts, is.relay_chan_pkts + is.relay_chan_out);
	/* still ciphertext only */
	assert_int_equal(w.wire_marker_hits, 0);
	world_fini(&w);
}

/* --relay-channel off at the agent, the connector or the Intermediate: that end (or
 * every end) falls back to DATAGRAMs, and the stream gets through all the same. */
static void relay_channel_off_on_either_side(void **state)
{
	for (int which = 0; which < 3; which++) {
		struct world w;
		struct tchan *t;
		struct zt_imd_stats is;
		struct zt_peer_stats as, cs;

		world_init(&w, *state, 0);
		w.acfg.relay_channel_off = which == 0;
		w.ccfg.relay_channel_off = which == 1;
		if (which == 2) {
			zt_imd_free(w.imd.imd);
			w.icfg.relay_channel_off = true;
			assert_int_equal(zt_imd_new(&w.imd.imd, &w.icfg, w.net.now), 0);
		}
		start_connector(&w);
		start_agent(&w, "pw-alice");
		assert_true(nh_run(&w.net, both_ready, &w, w.net.now + 3 * ZT_SEC));
		t = open_chan(&w, "web", 256 << 10, 12);
		run_chan(&w, t, 20 * ZT_SEC);
		assert_false(t->reset || t->failed || t->corrupt);
		assert_int_equal(t->recvd, 256 << 10);
		zt_imd_stats(w.imd.imd, &is);
		zt_peer_stats(w.agent.peer, &as);
		zt_peer_stats(w.conn.peer, &cs);
		assert_true(as.relay_out > 100 && cs.relay_out > 100);
		if (which == 0 || which == 2)
			assert_int_equal(as.relay_chan_in + as.relay_chan_out, 0);
		else
			assert_true(as.relay_chan_in > 100 && as.relay_chan_out > 50);
		if (which == 1 || which == 2)
			assert_int_equal(cs.relay_chan_in + cs.relay_chan_out, 0);
		else
			assert_true(cs.relay_chan_in > 50 && cs.relay_chan_out > 100);
		assert_int_equal(is.relay_chan_dropped_addr + as.relay_chan_dropped +
					 cs.relay_chan_dropped,
				 0);
		world_fini(&w);
	}
}

/* The agent's NAT rebinds in the middle of a stream on the channel: its channel data
 * from the new port is dropped until an outer packet from there has moved the outer
 * connection, which the refresh rule (an outer DATAGRAM when nothing ack-eliciting
 * went for ZT_RELAY_CHAN_REFRESH) sends within about a second, not at the next
 * keepalive (5 s here). The stream completes intact. */
struct rebind_watch {
	struct world *w;
	struct tchan *t;
	uint64_t dropped, last_drop_at;
};

static bool rebind_step(void *arg, uint64_t now)
{
	struct rebind_watch *rw = arg;
	struct zt_imd_stats is;

	zt_imd_stats(rw->w->imd.imd, &is);
	if (is.relay_chan_dropped_addr != rw->dropped) {
		rw->dropped = is.relay_chan_dropped_addr;
		rw->last_drop_at = now;
	}
	service_all(rw->w, now);
	return rw->t->released;
}

static void relay_channel_survives_rebinding(void **state)
{
	struct world w;
	struct rebind_watch rw = { .w = &w };
	struct zt_imd_stats is;
	uint64_t rebind_at;

	world_up(&w, *state, 0);
	rw.t = open_chan(&w, "web", 16 << 20, 13);
	/* 1.5 s into the stream: the outer connection has carried little but the refresh */
	nh_run(&w.net, service_all, &w, w.net.now + 1500 * ZT_MS);
	assert_false(rw.t->released);
	zt_imd_stats(w.imd.imd, &is);
	assert_true(is.relay_chan_pkts > 500);
	rebind_at = w.net.now;
	w.agent.addr = qh_addr("127.0.0.2:5999");
	assert_true(nh_run(&w.net, rebind_step, &rw, w.net.now + 60 * ZT_SEC));
	assert_false(rw.t->reset || rw.t->failed || rw.t->corrupt);
	assert_int_equal(rw.t->recvd, 16 << 20);
	/* it did rebind on the channel, and the drops ended within the refresh and a
	 * path validation */
	assert_true(rw.dropped > 0);
	assert_true(rw.last_drop_at - rebind_at <= ZT_RELAY_CHAN_REFRESH + 200 * ZT_MS);
	zt_imd_stats(w.imd.imd, &is);
	assert_true(is.relay_chan_pkts > 1000);
	world_fini(&w);
}

/* An agent takes its tunnel addresses from its WELCOME, the connector gets none, and
 * after a restart of the Intermediate the agent has the same ones again. */
static void agent_learns_its_tunnel_addresses(void **state)
{
	struct world w;
	struct zt_addr a4, a6, b4, b6, c4, c6;

	world_init(&w, *state, 0);
	zt_imd_free(w.imd.imd);
	assert_int_equal(zt_prefix_parse("100.64.0.0/10", &w.icfg.tun_pool4, &w.icfg.tun_plen4), 0);
	assert_int_equal(zt_prefix_parse("fd7a:7a74::/64", &w.icfg.tun_pool6, &w.icfg.tun_plen6), 0);
	assert_int_equal(zt_imd_new(&w.imd.imd, &w.icfg, w.net.now), 0);
	start_connector(&w);
	start_agent(&w, "pw-alice");
	assert_true(nh_run(&w.net, both_ready, &w, w.net.now + 3 * ZT_SEC));
	zt_peer_tunnel_addrs(w.agent.peer, &a4, &a6);
	assert_int_equal(a4.family, AF_INET);
	assert_int_equal(a4.ip[0], 100);
	assert_int_equal(a6.family, AF_INET6);
	zt_peer_tunnel_addrs(w.conn.peer, &c4, &c6);
	assert_int_equal(c4.family | c6.family, 0);
	/* restart: the clients hear a Stateless Reset and log in again */
	zt_imd_free(w.imd.imd);
	assert_int_equal(zt_imd_new(&w.imd.imd, &w.icfg, w.net.now), 0);
	nh_run(&w.net, service_all, &w, w.net.now + 7 * ZT_SEC);
	assert_int_equal(zt_peer_state(w.agent.peer), ZT_PEER_READY);
	assert_int_equal(w.readies, 2); /* logged in again */
	zt_peer_tunnel_addrs(w.agent.peer, &b4, &b6);
	assert_true(zt_addr_equal(&a4, &b4));
	assert_true(zt_addr_equal(&a6, &b6));
	world_fini(&w);
}

/* The packet tunnel (node/tunnel.h). */

static void on_tun_packet(struct zt_peer *p, void *arg, const uint8_t *pkt, size_t len)
{
	struct world *w = arg;
	bool agent = p != w->conn.peer;

	assert_true(len <= sizeof(w->tun_last_agent));
	memcpy(agent ? w->tun_last_agent : w->tun_last_conn, pkt, len);
	if (agent) {
		w->tun_len_agent = len;
		w->tun_to_agent++;
	} else {
		w->tun_len_conn = len;
		w->tun_to_conn++;
	}
}

/* The connector's log lines of one event, counted (and printed as nh_log does). */
static struct {
	const char *event;
	unsigned count;
	char last[512];
} conn_log_watch;

static void conn_log(void *arg, enum zt_node_level level, const char *event, const char *kv)
{
	if (conn_log_watch.event && !strcmp(event, conn_log_watch.event)) {
		conn_log_watch.count++;
		snprintf(conn_log_watch.last, sizeof(conn_log_watch.last), "%s", kv);
	}
	if (getenv("NH_LOG"))
		nh_log(arg, level, event, kv);
}

static void on_tun_routes(struct zt_peer *p, void *arg, const struct zt_route *r, size_t n)
{
	struct world *w = arg;
	(void)p;
	(void)r;
	w->tun_routes_calls++;
	w->tun_nroutes = n;
}

static void put16(uint8_t *b, unsigned v)
{
	b[0] = (uint8_t)(v >> 8);
	b[1] = (uint8_t)v;
}

/* An IPv4 packet of len bytes (header checksum right, DF set): a TCP SYN from sport
 * to dport with an MSS option of 1460 (TCP checksum right), or an ICMP echo. */
static size_t ip4(uint8_t *b, uint8_t proto, const struct zt_addr *src, const char *dst,
		  unsigned sport, unsigned dport, size_t len)
{
	struct zt_ippkt ip;

	memset(b, 0, len);
	b[0] = 0x45;
	put16(b + 2, (unsigned)len);
	b[6] = 0x40;
	b[8] = 64;
	b[9] = proto;
	memcpy(b + 12, src->ip, 4);
	assert_int_equal(inet_pton(AF_INET, dst, b + 16), 1);
	put16(b + 10, (uint16_t)~zt_ip_csum_fold(zt_ip_csum_add(0, b, 20)));
	if (proto == ZT_IP_ICMP) {
		b[20] = 8;
		return len;
	}
	put16(b + 20, sport);
	put16(b + 22, dport);
	b[32] = 6 << 4;          /* 24 bytes of header: one option */
	b[33] = 0x02;            /* SYN */
	put16(b + 34, 65535);
	b[40] = 2, b[41] = 4;    /* MSS 1460 */
	put16(b + 42, 1460);
	assert_int_equal(zt_ippkt_parse(&ip, b, len), 0);
	put16(b + 36, (uint16_t)~zt_ippkt_l4_sum(b, &ip));
	return len;
}

struct tun_wait {
	const unsigned *counter;
	unsigned want;
};

static bool tun_count_at_least(void *arg, uint64_t now)
{
	const struct tun_wait *t = arg;
	(void)now;
	return *t->counter >= t->want;
}

static void tun_world(struct world *w, struct nh_fixture *f)
{
	world_init(w, f, 0);
	zt_imd_free(w->imd.imd);
	assert_int_equal(zt_prefix_parse("100.64.0.0/10", &w->icfg.tun_pool4, &w->icfg.tun_plen4), 0);
	assert_int_equal(zt_prefix_parse("fd7a:7a74::/64", &w->icfg.tun_pool6, &w->icfg.tun_plen6), 0);
	assert_int_equal(zt_imd_new(&w->imd.imd, &w->icfg, w->net.now), 0);
	assert_int_equal(zt_route_parse(&w->croutes[0], "web=10.0.6.20/32:tcp/443,icmp"), 0);
	assert_int_equal(zt_route_parse(&w->croutes[1], "db=10.0.5.0/24"), 0);
	assert_int_equal(zt_route_parse(&w->croutes[2], "web=fd00:5::/64:udp/53"), 0);
	w->ccfg.routes = w->croutes;
	w->ccfg.n_routes = 3;
	w->acb.tun_packet = w->ccb.tun_packet = on_tun_packet;
	w->acb.tun_routes = on_tun_routes;
	conn_log_watch.event = "tunnel_dropped";
	conn_log_watch.count = 0;
	w->ccfg.log = (struct zt_node_log){ .fn = conn_log, .arg = (void *)"connector",
					    .max_level = ZT_NODE_TRACE };
	start_connector(w);
	start_agent(w, "pw-alice");
	assert_true(nh_run(&w->net, both_ready, w, w->net.now + 3 * ZT_SEC));
	nh_run_for(&w->net, 200 * ZT_MS);
}

/* Waits until *counter reaches want (the world runs meanwhile). */
static void tun_wait(struct world *w, const unsigned *counter, unsigned want)
{
	struct tun_wait t = { .counter = counter, .want = want };

	assert_true(nh_run(&w->net, tun_count_at_least, &t, w->net.now + 3 * ZT_SEC));
	assert_int_equal(*counter, want);
}

/*
 * IP packets (IPv4, and IPv6 on a second route of the same service) cross the
 * tunnel both ways on the session of their route's service,
 * opened by the first one: the agent learns only the routes its policy allows (web,
 * not db), a SYN's MSS is clamped to the tunnel MTU (1362 - 40) with the checksum
 * right, the connector's reply finds the agent by its tunnel address; the agent's
 * own check refuses what has no route or rule, a packet over the MTU is answered
 * with ICMP "fragmentation needed" naming 1362, and the connector, the authority,
 * drops a spoofed source and a destination outside the session's routes that the
 * agent did not check (sent on its inner connection directly), counted per agent.
 */
static void packet_tunnel_both_ways(void **state)
{
	struct world w;
	struct zt_addr a4, a6, self;
	struct zt_peer_stats as, cs;
	struct zt_peer_agent_info ai;
	struct zt_peer_session_info si;
	struct zt_ippkt ip;
	uint8_t pkt[1500], d[1500];
	uint32_t ids[4];
	char text[ZT_ADDR_STRLEN];
	size_t n;

	tun_world(&w, *state);
	zt_peer_tunnel_addrs(w.agent.peer, &a4, &a6);
	assert_int_equal(a4.family, AF_INET);
	assert_true(w.tun_routes_calls >= 1);
	assert_int_equal(w.tun_nroutes, 2); /* web's two routes, not db's */

	n = ip4(pkt, ZT_IP_TCP, &a4, "10.0.6.20", 40000, 443, 44);
	assert_int_equal(zt_peer_tun_send(w.agent.peer, w.net.now, pkt, n), 0);
	tun_wait(&w, &w.tun_to_conn, 1);
	assert_int_equal(w.tun_len_conn, 44);
	assert_int_equal(zt_ippkt_parse(&ip, w.tun_last_conn, 44), 0);
	assert_true(zt_addr_ip_equal(&ip.src, &a4));
	assert_int_equal(w.tun_last_conn[42] << 8 | w.tun_last_conn[43], ZT_PEER_TUN_MTU - 40);
	assert_int_equal(zt_ippkt_l4_sum(w.tun_last_conn, &ip), 0xffff);

	/* the reply, from the network to the agent's tunnel address */
	assert_int_equal(zt_addr_parse(&self, "10.0.6.20", 0), 0);
	assert_true(zt_addr_format(&a4, false, text, sizeof(text)) > 0);
	n = ip4(d, ZT_IP_TCP, &self, text, 443, 40000, 44);
	assert_int_equal(zt_peer_tun_send(w.conn.peer, w.net.now, d, n), 0);
	tun_wait(&w, &w.tun_to_agent, 1);
	assert_int_equal(w.tun_len_agent, 44);
	assert_memory_equal(w.tun_last_agent, d, 44);

	/* IPv6 both ways, on web's second route (the same session) */
	{
		struct zt_addr from = a6, to = th_addr("[fd00:5::9]:53");
		from.port = 4000;
		n = th_udp_packet(pkt, sizeof(pkt), &from, &to, "v6?", 3);
		assert_int_equal(zt_peer_tun_send(w.agent.peer, w.net.now, pkt, n), 0);
		tun_wait(&w, &w.tun_to_conn, 2);
		assert_int_equal(w.tun_len_conn, n);
		assert_memory_equal(w.tun_last_conn, pkt, n);
		n = th_udp_packet(d, sizeof(d), &to, &from, "v6!", 3);
		assert_int_equal(zt_peer_tun_send(w.conn.peer, w.net.now, d, n), 0);
		tun_wait(&w, &w.tun_to_agent, 2);
		assert_memory_equal(w.tun_last_agent, d, n);
	}

	/* the agent's own check: db is not allowed, web only on 443; each answered
	 * "administratively prohibited" from the address it was for */
	n = ip4(pkt, ZT_IP_TCP, &a4, "10.0.5.1", 40000, 5432, 44);
	assert_int_equal(zt_peer_tun_send(w.agent.peer, w.net.now, pkt, n), ZT_EPOLICY);
	n = ip4(pkt, ZT_IP_TCP, &a4, "10.0.6.20", 40000, 22, 44);
	assert_int_equal(zt_peer_tun_send(w.agent.peer, w.net.now, pkt, n), ZT_EPOLICY);
	assert_int_equal(w.tun_to_agent, 4);
	assert_int_equal(zt_ippkt_parse(&ip, w.tun_last_agent, w.tun_len_agent), 0);
	assert_int_equal(ip.icmp_type, 3);
	assert_int_equal(ip.icmp_code, 13);
	assert_true(zt_addr_ip_equal(&ip.dst, &a4));
	assert_memory_equal(w.tun_last_agent + ip.hlen + 8, pkt, n);
	/* too big: answered with the tunnel's MTU */
	n = ip4(pkt, ZT_IP_ICMP, &a4, "10.0.6.20", 0, 0, 1400);
	assert_int_equal(zt_peer_tun_send(w.agent.peer, w.net.now, pkt, n), -EMSGSIZE);
	assert_int_equal(w.tun_to_agent, 5);
	assert_int_equal(zt_ippkt_parse(&ip, w.tun_last_agent, w.tun_len_agent), 0);
	assert_int_equal(ip.icmp_type, 3);
	assert_int_equal(ip.icmp_code, 4);
	assert_int_equal(w.tun_last_agent[ip.hlen + 6] << 8 | w.tun_last_agent[ip.hlen + 7],
			 ZT_PEER_TUN_MTU);
	zt_peer_stats(w.agent.peer, &as);
	assert_int_equal(as.tun_dropped[ZT_TUN_DROP_NO_ROUTE], 1);
	assert_int_equal(as.tun_dropped[ZT_TUN_DROP_RULE], 1);
	assert_int_equal(as.tun_dropped[ZT_TUN_DROP_TOO_BIG], 1);
	assert_int_equal(as.tun_prohibited, 2);
	assert_int_equal(as.tun_out, 2);
	assert_int_equal(as.tun_in, 2);

	/* past the agent's check: the connector drops them itself */
	assert_int_equal(zt_peer_session_ids(w.agent.peer, ids, 4), 1);
	assert_int_equal(zt_peer_session_info(w.agent.peer, ids[0], &si), 0);
	zt_fwd_flow_write(d, sizeof(d), ZT_FWD_IP_FLOW);
	assert_int_equal(zt_addr_parse(&self, "10.9.9.9", 0), 0);
	n = ip4(d + 4, ZT_IP_TCP, &self, "10.0.6.20", 40000, 443, 44);
	assert_int_equal(zt_quic_dgram_send(si.conn, d, 4 + n), 0);
	n = ip4(d + 4, ZT_IP_TCP, &a4, "10.0.5.1", 40000, 443, 44);
	assert_int_equal(zt_quic_dgram_send(si.conn, d, 4 + n), 0);
	nh_run_for(&w.net, 300 * ZT_MS);
	assert_int_equal(w.tun_to_conn, 2);
	zt_peer_stats(w.conn.peer, &cs);
	assert_int_equal(cs.tun_dropped[ZT_TUN_DROP_SPOOFED], 1);
	assert_int_equal(cs.tun_dropped[ZT_TUN_DROP_NO_ROUTE], 1);
	assert_int_equal(cs.tun_in, 2);
	assert_int_equal(cs.tun_out, 2);
	assert_int_equal(zt_peer_agents(w.conn.peer, &ai, 1), 1);
	assert_int_equal(ai.tun_dropped, 2);
	/* one line for both (the second within 10 s is counted in the next one) */
	assert_int_equal(conn_log_watch.count, 1);
	assert_non_null(strstr(conn_log_watch.last, "reason=spoofed src=10.9.9.9 dst=10.0.6.20"));
	/* a reply for an address no agent has */
	assert_int_equal(zt_addr_parse(&self, "10.0.6.20", 0), 0);
	n = ip4(d, ZT_IP_TCP, &self, "100.64.9.9", 443, 40000, 44);
	assert_int_equal(zt_peer_tun_send(w.conn.peer, w.net.now, d, n), ZT_EPOLICY);
	world_fini(&w);
}

/*
 * One agent's flood through the tunnel is cut at its own budget (agent_max_pps, a
 * second's burst) at the connector, counted, and another agent's packets still all
 * get through: the budget is per agent.
 */
static void tunnel_flood_is_cut_per_agent(void **state)
{
	struct world w;
	struct zt_addr a4, a6, b4, b6;
	struct zt_peer_stats cs;
	uint8_t pkt[1500];
	unsigned accepted = 0, before;
	uint64_t t0;
	size_t n;

	world_init(&w, *state, 0);
	zt_imd_free(w.imd.imd);
	assert_int_equal(zt_prefix_parse("100.64.0.0/10", &w.icfg.tun_pool4, &w.icfg.tun_plen4), 0);
	assert_int_equal(zt_imd_new(&w.imd.imd, &w.icfg, w.net.now), 0);
	assert_int_equal(zt_route_parse(&w.croutes[0], "web=10.0.6.0/24"), 0);
	w.ccfg.routes = w.croutes;
	w.ccfg.n_routes = 1;
	w.ccfg.agent_max_pps = 100;
	w.acb.tun_packet = w.ccb.tun_packet = on_tun_packet;
	start_connector(&w);
	start_agent(&w, "pw-alice");
	start_bob(&w);
	assert_true(nh_run(&w.net, both_ready, &w, w.net.now + 3 * ZT_SEC));
	nh_run_for(&w.net, 300 * ZT_MS);
	zt_peer_tunnel_addrs(w.agent.peer, &a4, &a6);
	zt_peer_tunnel_addrs(w.bob.peer, &b4, &b6);
	assert_int_equal(b4.family, AF_INET);

	/* alice's session up (one packet), then a flood of 1000 at once */
	n = ip4(pkt, ZT_IP_ICMP, &a4, "10.0.6.1", 0, 0, 100);
	assert_int_equal(zt_peer_tun_send(w.agent.peer, w.net.now, pkt, n), 0);
	tun_wait(&w, &w.tun_to_conn, 1);
	t0 = w.net.now;
	for (int i = 0; i < 1000; i++)
		accepted += zt_peer_tun_send(w.agent.peer, w.net.now, pkt, n) == 0;
	nh_run_for(&w.net, 500 * ZT_MS);
	assert_true(accepted > 200);
	zt_peer_stats(w.conn.peer, &cs);
	/* the burst (100, one spent) and what half a second brings, no more */
	assert_true(w.tun_to_conn - 1 <= 100 + 100 * (w.net.now - t0) / ZT_SEC + 1);
	assert_true(w.tun_to_conn - 1 >= 90);
	assert_int_equal(cs.tun_rate_dropped, accepted - (w.tun_to_conn - 1));

	/* bob's packets are his own budget's */
	before = w.tun_to_conn;
	n = ip4(pkt, ZT_IP_ICMP, &b4, "10.0.6.1", 0, 0, 100);
	for (int i = 0; i < 10; i++)
		assert_int_equal(zt_peer_tun_send(w.bob.peer, w.net.now, pkt, n), 0);
	tun_wait(&w, &w.tun_to_conn, before + 10);
	world_fini(&w);
}

static bool released(void *arg, uint64_t now)
{
	(void)now;
	return ((struct tchan *)arg)->released;
}

/* A shell that never offers more than the channel has room for (as the TCP
 * forwarder does) still gets WRITABLE and finishes. */
static void writer_within_writable_is_woken(void **state)
{
	struct world w;
	struct tchan *t;

	world_up(&w, *state, 0);
	t = open_chan(&w, "web", 3 << 20, 21);
	t->exact = true;
	/* Only the peer's events drive both shells. */
	assert_true(nh_run(&w.net, released, t, w.net.now + 20 * ZT_SEC));
	assert_int_equal(t->recvd, 3 << 20);
	assert_false(t->corrupt);
	assert_true(t->writables > 0);
	world_fini(&w);
}

static void many_channels_one_session(void **state)
{
	struct world w;
	struct tchan *t[100];
	struct zt_peer_stats cs;
	bool all;

	world_up(&w, *state, 0);
	for (int i = 0; i < 100; i++)
		t[i] = open_chan(&w, "web", 20000 + (uint64_t)i * 97, 100 + (uint64_t)i);
	for (int round = 0; round < 200; round++) {
		nh_run(&w.net, service_all, &w, w.net.now + 100 * ZT_MS);
		all = true;
		for (int i = 0; i < 100; i++)
			all &= t[i]->released;
		if (all)
			break;
	}
	for (int i = 0; i < 100; i++) {
		assert_true(t[i]->released);
		assert_false(t[i]->reset || t[i]->corrupt);
		assert_int_equal(t[i]->recvd, 20000 + (uint64_t)i * 97);
	}
	assert_int_equal(w.sessions_ready, 1);
	zt_peer_stats(w.conn.peer, &cs);
	assert_int_equal(cs.chans_opened, 100);
	assert_int_equal(cs.sessions_opened, 1);
	world_fini(&w);
}

static void reset_propagates(void **state)
{
	struct world w;
	struct tchan *t, *c = NULL;

	world_up(&w, *state, 0);
	t = open_chan(&w, "web", 100000, 3);
	t->send_fin = false;
	nh_run(&w.net, service_all, &w, w.net.now + 2 * ZT_SEC);
	assert_true(t->ready);
	for (int i = 0; i < MAX_CHANS; i++)
		if (w.chans[i].used && !w.chans[i].agent)
			c = &w.chans[i];
	assert_non_null(c);
	assert_int_equal(c->recvd, 100000);
	/* The agent's TCP client resets its connection. */
	zt_peer_chan_release(t->ch, ZT_FWD_TCP_RESET);
	t->released = true;
	nh_run(&w.net, service_all, &w, w.net.now + 1 * ZT_SEC);
	assert_true(c->reset);
	assert_int_equal(c->code, ZT_FWD_TCP_RESET);
	assert_true(c->released);
	world_fini(&w);
}

static void refusals_fail_channels_with_codes(void **state)
{
	struct world w;
	struct tchan *a, *b;
	struct zt_peer_stats st;

	world_up(&w, *state, 0);
	a = open_chan(&w, "db", 10, 1);    /* alice may not reach db */
	b = open_chan(&w, "ghost", 10, 2); /* allowed, nobody serves it */
	nh_run(&w.net, service_all, &w, w.net.now + 2 * ZT_SEC);
	assert_true(a->failed);
	assert_int_equal(a->code, ZT_EPOLICY);
	assert_true(b->failed);
	assert_int_equal(b->code, ZT_ENOSERVICE);
	assert_false(a->ready || b->ready);
	zt_peer_stats(w.agent.peer, &st);
	assert_int_equal(st.sessions_failed, 2);
	/* The outer connection is still fine: web works. */
	a = open_chan(&w, "web", 5000, 3);
	run_chan(&w, a, 5 * ZT_SEC);
	assert_int_equal(a->recvd, 5000);
	world_fini(&w);
}

/*
 * A refused login (bad token) is not a reconnect loop: 5 s (2.5..5 s with jitter),
 * doubling, up to refusal_backoff_max; what waited for the session fails at once with
 * the reason, and new channels fail fast while the refusal holds.
 */
static void wrong_token_backs_off(void **state)
{
	struct world w;
	struct zt_peer_stats st;
	struct zt_peer_refusal r;
	struct zt_peer_chan *ch;
	struct tchan *t;

	world_init(&w, *state, 0);
	w.acfg.open_timeout = 3 * ZT_SEC;
	start_connector(&w);
	start_agent(&w, "not-the-token");
	t = open_chan(&w, "web", 10, 1);
	nh_run(&w.net, service_all, &w, w.net.now + 1 * ZT_SEC);
	/* The channel failed with the reason, not after its open timeout. */
	assert_true(t->failed);
	assert_int_equal(t->code, ZT_EAUTH);
	assert_int_equal(w.refused, 1);
	assert_int_equal(w.last_refusal.code, ZT_EAUTH);
	assert_string_equal(w.last_refusal.service, "");
	assert_int_equal(zt_peer_refusal(w.agent.peer, NULL, &r), 0);
	assert_int_equal(r.code, ZT_EAUTH);
	assert_non_null(strstr(r.text, "bad credential"));
	assert_true(r.retry_at >= r.at + 2500 * ZT_MS && r.retry_at <= r.at + 5 * ZT_SEC);
	/* While it holds: nothing waits, nothing is sent. */
	assert_int_equal(zt_peer_chan_open(w.agent.peer, w.net.now, "web", NULL, &ch), ZT_EAUTH);
	assert_int_equal(zt_peer_ping(w.agent.peer, w.net.now, "web", 1), ZT_EAUTH);
	nh_run(&w.net, service_all, &w, w.net.now + 29 * ZT_SEC);
	zt_peer_stats(w.agent.peer, &st);
	assert_int_equal(st.welcomes, 0);
	/* 0, then 2.5..5 s, then 5..10 s more, then 10..20 s more: 3 or 4 tries in 30 s
	 * (the old 200 ms doubling to 30 s made 8). */
	assert_true(st.connects >= 3 && st.connects <= 4);
	assert_int_equal(st.refusals, st.connects);
	assert_true(st.refused_fast >= 2);
	assert_int_equal(zt_peer_refusal(w.agent.peer, NULL, &r), 0);
	assert_int_equal(r.count, st.connects);
	world_fini(&w);
}

/* A certificate the Intermediate's TLS refuses is a refused login too (ZT_ETLS). */
static void tls_failure_backs_off_long(void **state)
{
	struct world w;
	struct zt_peer_stats st;
	struct zt_peer_refusal r;

	world_init(&w, *state, 0);
	w.acfg.intermediate_name = "not-the-intermediate.ztna";
	start_connector(&w);
	start_agent(&w, "pw-alice");
	nh_run(&w.net, service_all, &w, w.net.now + 20 * ZT_SEC);
	zt_peer_stats(w.agent.peer, &st);
	assert_int_equal(st.welcomes, 0);
	assert_true(st.connects >= 2 && st.connects <= 4);
	assert_int_equal(zt_peer_refusal(w.agent.peer, NULL, &r), 0);
	assert_int_equal(r.code, ZT_ETLS);
	world_fini(&w);
}

/* A login over a transport the Intermediate's limit rules do not allow for the
 * identity (agent:alice=transport:udp, alice on TCP) is a refused login (ZT_EPOLICY)
 * that says which transport and whose, and backs off as long as a bad token does; the
 * connector, without a limit, is in over TCP. */
static void transport_refused_by_policy_backs_off(void **state)
{
	struct world w;
	struct zt_peer_stats st;
	struct zt_peer_refusal r;
	const char *why = NULL;

	world_init(&w, *state, 0);
	assert_int_equal(zt_policy_add_limit(w.policy, "agent:alice=transport:udp", &why), 0);
	w.agent_udp_blocked = w.conn_udp_blocked = true;
	w.acfg.transport = w.ccfg.transport = ZT_PEER_TRANSPORT_TCP;
	start_connector(&w);
	start_agent(&w, "pw-alice");
	assert_true(nh_run(&w.net, both_ready_conn_only, &w, w.net.now + 3 * ZT_SEC));
	assert_int_equal(zt_peer_outer_kind(w.conn.peer), ZT_OUTER_TCP);
	nh_run(&w.net, service_all, &w, w.net.now + 1 * ZT_SEC);
	assert_int_equal(w.refused, 1);
	assert_int_equal(zt_peer_refusal(w.agent.peer, NULL, &r), 0);
	assert_int_equal(r.code, ZT_EPOLICY);
	assert_non_null(strstr(r.text, "transport tcp not allowed for ztna:agent:alice"));
	assert_true(r.retry_at >= r.at + 2500 * ZT_MS && r.retry_at <= r.at + 5 * ZT_SEC);
	nh_run(&w.net, service_all, &w, w.net.now + 29 * ZT_SEC);
	zt_peer_stats(w.agent.peer, &st);
	assert_int_equal(st.welcomes, 0);
	/* 0, then 2.5..5 s, 5..10 s, 10..20 s more: 3 or 4 tries in 30 s */
	assert_true(st.connects >= 3 && st.connects <= 4);
	assert_int_equal(zt_peer_refusal(w.agent.peer, NULL, &r), 0);
	assert_int_equal(r.count, st.connects);
	world_fini(&w);
}

static unsigned imd_opens(const struct world *w)
{
	struct zt_imd_stats is;

	zt_imd_stats(w->imd.imd, &is);
	return (unsigned)is.opens;
}

/*
 * Retry storms (issue 11): a refused OPEN is remembered. What waited fails at once;
 * channels, flows and pings for the service fail fast without an OPEN for 1 s, then
 * 2 s, 4 s ...; `ztna ping`'s retry every 50 ms for 3 s sends 2 OPENs, not 61.
 */
static void refused_open_is_not_retried_at_once(void **state)
{
	struct world w;
	struct tchan *t;
	struct zt_peer_chan *ch;
	struct zt_peer_flow *f;
	struct zt_peer_refusal r;
	struct zt_peer_stats st;
	uint64_t t0;
	const char *why;

	world_up(&w, *state, 0);
	t = open_chan(&w, "db", 10, 1);    /* alice may not reach db */
	nh_run(&w.net, service_all, &w, w.net.now + 500 * ZT_MS);
	assert_true(t->failed);
	assert_int_equal(t->code, ZT_EPOLICY);
	assert_int_equal(w.refused, 1);
	assert_string_equal(w.last_refusal.service, "db");
	assert_int_equal(w.last_refusal.code, ZT_EPOLICY);
	assert_non_null(strstr(w.last_refusal.text, "may not reach service db"));
	assert_int_equal(imd_opens(&w), 1);
	assert_int_equal(zt_peer_refusal(w.agent.peer, "db", &r), 0);
	assert_int_equal(r.retry_at - r.at, 1 * ZT_SEC);
	assert_int_equal(r.count, 1);
	assert_int_equal(zt_peer_refusal(w.agent.peer, "web", &r), -ENOENT);
	/* Fast failures, no OPEN. */
	assert_int_equal(zt_peer_chan_open(w.agent.peer, w.net.now, "db", NULL, &ch), ZT_EPOLICY);
	assert_int_equal(zt_peer_flow_open(w.agent.peer, w.net.now, "db", NULL, &f), ZT_EPOLICY);
	assert_int_equal(zt_peer_ping(w.agent.peer, w.net.now, "db", 5), ZT_EPOLICY);
	/* Other services are not affected. */
	assert_int_equal(zt_peer_ping(w.agent.peer, w.net.now, "web", 6), -EAGAIN);
	nh_run(&w.net, service_all, &w, w.net.now + 500 * ZT_MS);
	assert_int_equal(imd_opens(&w), 2);
	/* What peerctl does for `ztna ping db` (3 s, a try every 50 ms). */
	t0 = w.net.now;
	while (w.net.now < t0 + 3 * ZT_SEC) {
		zt_peer_ping(w.agent.peer, w.net.now, "db", 7);
		nh_run_for(&w.net, 50 * ZT_MS);
	}
	/* 1 s hold: one more OPEN at ~+0.5 s, then a 2 s hold: one more at ~+2.5 s. */
	assert_int_equal(imd_opens(&w), 4);
	zt_peer_stats(w.agent.peer, &st);
	assert_int_equal(st.opens, 4);
	assert_true(st.refused_fast >= 50);
	assert_int_equal(zt_peer_refusal(w.agent.peer, "db", &r), 0);
	assert_int_equal(r.count, 3);
	assert_int_equal(r.retry_at - r.at, 4 * ZT_SEC);
	/* The policy changes; once the hold is over, success forgets the refusal. */
	assert_int_equal(zt_policy_add_allow(w.policy, "alice=db", &why), 0);
	nh_run_for(&w.net, 4 * ZT_SEC);
	t = open_chan(&w, "db", 3000, 2);
	run_chan(&w, t, 5 * ZT_SEC);
	assert_int_equal(t->recvd, 3000);
	assert_int_equal(zt_peer_refusal(w.agent.peer, "db", &r), -ENOENT);
	world_fini(&w);
}

/* The hold doubles up to refusal_backoff_max; a temporary refusal (no service) holds
 * the same way. */
static void refusal_hold_is_capped(void **state)
{
	struct world w;
	struct zt_peer_refusal r;
	uint64_t holds[8];

	world_init(&w, *state, 0);
	w.acfg.refusal_backoff_max = 5 * ZT_SEC;
	start_connector(&w);
	start_agent(&w, "pw-alice");
	assert_true(nh_run(&w.net, both_ready, &w, w.net.now + 3 * ZT_SEC));
	for (int i = 0; i < 6; i++) {
		struct tchan *t = open_chan(&w, "ghost", 10, (uint64_t)i); /* allowed, nobody serves it */
		nh_run(&w.net, service_all, &w, w.net.now + 200 * ZT_MS);
		assert_true(t->failed);
		assert_int_equal(t->code, ZT_ENOSERVICE);
		assert_int_equal(zt_peer_refusal(w.agent.peer, "ghost", &r), 0);
		holds[i] = r.retry_at - r.at;
		nh_run_for(&w.net, holds[i]);
	}
	assert_int_equal(holds[0], 1 * ZT_SEC);
	assert_int_equal(holds[1], 2 * ZT_SEC);
	assert_int_equal(holds[2], 4 * ZT_SEC);
	assert_int_equal(holds[3], 5 * ZT_SEC);
	assert_int_equal(holds[5], 5 * ZT_SEC);
	assert_int_equal(imd_opens(&w), 6);
	world_fini(&w);
}

static bool agent_ready(void *arg, uint64_t now)
{
	struct world *w = arg;
	(void)now;
	return zt_peer_state(w->agent.peer) == ZT_PEER_READY &&
	       zt_peer_state(w->conn.peer) == ZT_PEER_READY;
}

/* Before 2026-12-02 a relayed session ended with the Intermediate (the channel was
 * reset with SESSION_GONE); now it survives the restart. */
static void intermediate_restart_recovers(void **state)
{
	struct world w;
	struct tchan *t, *old;
	struct zt_peer_stats st;

	world_up(&w, *state, 0);
	old = open_chan(&w, "web", 5000, 1);
	old->send_fin = false;
	nh_run(&w.net, service_all, &w, w.net.now + 1 * ZT_SEC);
	assert_int_equal(old->recvd, 5000);
	/* Restart: state gone, same key; the clients hear a Stateless Reset on their
	 * next packet (the outer keepalive, 5 s in these tests). */
	zt_imd_free(w.imd.imd);
	assert_int_equal(zt_imd_new(&w.imd.imd, &w.icfg, w.net.now), 0);
	nh_run(&w.net, service_all, &w, w.net.now + 7 * ZT_SEC);
	assert_true(agent_ready(&w, 0));
	assert_int_equal(w.downs, 1);
	assert_int_equal(w.readies, 2);
	zt_peer_stats(w.agent.peer, &st);
	assert_int_equal(st.resets_received, 1);
	/* The old channel's session was kept by both ends (detached on the relay path) and
	 * re-attached through the new Intermediate (the agent's resume OPEN, the
	 * connector's SESSION for the id it kept): the channel goes on, nothing lost. */
	assert_false(old->reset);
	assert_true(st.sessions_resumed >= 1);
	old->to_send = 10000;
	old->send_fin = true;
	run_chan(&w, old, 10 * ZT_SEC);
	assert_int_equal(old->recvd, 10000);
	assert_false(old->corrupt || old->reset);
	/* New channels work without restarting anything. */
	t = open_chan(&w, "web", 30000, 2);
	run_chan(&w, t, 5 * ZT_SEC);
	assert_int_equal(t->recvd, 30000);
	assert_false(t->corrupt);
	world_fini(&w);
}

/*
 * The outer connection over TLS/TCP (docs/tcp-transport.md): an agent whose UDP is
 * blocked logs in over TCP and streams 1 MiB through the relay to a connector on QUIC
 * (and with both ends on TCP); the relay sees only ciphertext on TCP too.
 */
static void tcp_outer_stream(struct nh_fixture *f, bool conn_tcp)
{
	struct world w;
	struct tchan *t;
	struct zt_imd_stats is;
	struct zt_peer_stats as;

	world_init(&w, f, 0);
	w.agent_udp_blocked = true;
	w.acfg.transport = ZT_PEER_TRANSPORT_TCP;
	if (conn_tcp) {
		w.conn_udp_blocked = true;
		w.ccfg.transport = ZT_PEER_TRANSPORT_TCP;
	}
	start_connector(&w);
	start_agent(&w, "pw-alice");
	assert_true(nh_run(&w.net, both_ready, &w, w.net.now + 3 * ZT_SEC));
	assert_int_equal(zt_peer_outer_kind(w.agent.peer), ZT_OUTER_TCP);
	assert_null(zt_peer_outer(w.agent.peer));
	zt_imd_stats(w.imd.imd, &is);
	assert_int_equal(is.tcp_accepted, conn_tcp ? 2 : 1);
	t = open_chan(&w, "web", 1 << 20, 21);
	t->markers = true;
	run_chan(&w, t, 20 * ZT_SEC);
	assert_true(t->ready);
	assert_false(t->reset || t->failed || t->corrupt);
	assert_int_equal(t->recvd, 1 << 20);
	assert_true(t->fin_recv);
	zt_imd_stats(w.imd.imd, &is);
	assert_true(is.relay_pkts > 700);
	zt_peer_stats(w.agent.peer, &as);
	assert_true(as.relay_out > 350 && as.relay_in > 350);
	assert_true(w.tcp_bytes > 2 * (1 << 20));
	assert_int_equal(w.wire_marker_hits, 0);
	/* the relay channel: never over TCP; a connector on UDP has it both ways */
	assert_int_equal(as.relay_chan_in + as.relay_chan_out, 0);
	zt_peer_stats(w.conn.peer, &as);
	if (conn_tcp) {
		assert_int_equal(as.relay_chan_in + as.relay_chan_out + w.chan_pkts, 0);
	} else {
		assert_true(as.relay_chan_in > 350 && as.relay_chan_out > 350);
		assert_int_equal(w.chan_pkts, as.relay_chan_in + as.relay_chan_out);
	}
	/* the round-trip time from PING/PONG: two access links of 5 ms and 0 ms, both ways */
	nh_run(&w.net, service_all, &w, w.net.now + 12 * ZT_SEC);
	assert_true(zt_peer_outer_srtt(w.agent.peer) >= 9 * ZT_MS &&
		    zt_peer_outer_srtt(w.agent.peer) <= 12 * ZT_MS);
	world_fini(&w);
}

static void tcp_outer_agent_to_udp_connector(void **state)
{
	tcp_outer_stream(*state, false);
}

static void tcp_outer_both_ends(void **state)
{
	tcp_outer_stream(*state, true);
}

/* Over TCP, an Intermediate restart resets the connection (it no longer knows it) and
 * the agent logs in again at once; zt_peer_close ends the agent's login at the
 * Intermediate with its CLOSE record, not an idle timeout. */
static void tcp_outer_restart_and_close(void **state)
{
	struct world w;
	struct tchan *t;
	struct zt_imd_stats is;

	world_init(&w, *state, 0);
	w.agent_udp_blocked = true;
	w.acfg.transport = ZT_PEER_TRANSPORT_TCP;
	start_connector(&w);
	start_agent(&w, "pw-alice");
	assert_true(nh_run(&w.net, both_ready, &w, w.net.now + 3 * ZT_SEC));
	zt_imd_free(w.imd.imd);
	assert_int_equal(zt_imd_new(&w.imd.imd, &w.icfg, w.net.now), 0);
	nh_run(&w.net, service_all, &w, w.net.now + 7 * ZT_SEC);
	assert_true(agent_ready(&w, 0));
	assert_int_equal(w.downs, 1);
	assert_int_equal(w.readies, 2);
	t = open_chan(&w, "web", 30000, 2);
	run_chan(&w, t, 5 * ZT_SEC);
	assert_int_equal(t->recvd, 30000);
	zt_imd_stats(w.imd.imd, &is);
	assert_int_equal(is.clients, 2);
	zt_peer_close(w.agent.peer, "bye");
	nh_run(&w.net, service_all, &w, w.net.now + 200 * ZT_MS);
	zt_imd_stats(w.imd.imd, &is);
	assert_int_equal(is.clients, 1);
	assert_int_equal(zt_peer_tcp_wanted(w.agent.peer, &(struct zt_addr){ 0 }), 0);
	world_fini(&w);
}

/*
 * --transport auto (docs/tcp-transport.md): QUIC when UDP passes (no TCP connection at
 * all), TLS/TCP 300 ms later when it does not; on TCP, UDP is tried again and the login
 * moves to it with its sessions: a stream running across the move arrives whole.
 */
static bool agent_ready_any(void *arg, uint64_t now)
{
	struct world *w = arg;
	(void)now;
	return zt_peer_state(w->agent.peer) == ZT_PEER_READY;
}

static void auto_prefers_udp(void **state)
{
	struct world w;
	struct zt_imd_stats is;

	world_init(&w, *state, 0);
	w.acfg.transport = ZT_PEER_TRANSPORT_AUTO;
	start_connector(&w);
	start_agent(&w, "pw-alice");
	assert_true(nh_run(&w.net, both_ready, &w, w.net.now + 3 * ZT_SEC));
	nh_run(&w.net, service_all, &w, w.net.now + 2 * ZT_SEC);
	assert_int_equal(zt_peer_outer_kind(w.agent.peer), ZT_OUTER_UDP);
	zt_imd_stats(w.imd.imd, &is);
	assert_int_equal(is.tcp_accepted, 0);
	assert_int_equal(w.tcp_bytes, 0);
	world_fini(&w);
}

/* Happy Eyeballs (RFC 8305 s5): the Intermediate's IPv6 address does not answer; the
 * IPv4 attempt starts 250 ms later and wins; the IPv6 one is given up. */
static void eyeballs_silent_v6_falls_back_to_v4(void **state)
{
	struct world w;
	struct tchan *t;
	uint64_t t0, v6_pkts;

	world_init(&w, *state, 0);
	assert_int_equal(zt_addr_parse(&w.gw, "[2001:db8::1]:4433", 0), 0); /* counted, dropped */
	w.acfg.intermediate = w.gw;
	w.acfg.intermediate_alt = w.imd.addr;
	start_connector(&w);
	assert_true(nh_run(&w.net, both_ready_conn_only, &w, w.net.now + 3 * ZT_SEC));
	t0 = w.net.now;
	start_agent(&w, "pw-alice");
	assert_true(nh_run(&w.net, agent_ready_any, &w, w.net.now + 3 * ZT_SEC));
	/* 250 ms of IPv6, then the IPv4 handshake and the login (5 ms links) */
	assert_true(w.net.now - t0 >= 250 * ZT_MS && w.net.now - t0 <= 350 * ZT_MS);
	assert_true(zt_addr_equal(zt_peer_intermediate(w.agent.peer), &w.imd.addr));
	assert_int_equal(zt_peer_outer_kind(w.agent.peer), ZT_OUTER_UDP);
	assert_true(w.gw_pkts >= 1);
	v6_pkts = w.gw_pkts;
	t = open_chan(&w, "web", 100000, 5);
	run_chan(&w, t, 5 * ZT_SEC);
	assert_int_equal(t->recvd, 100000);
	assert_false(t->corrupt);
	assert_int_equal(w.gw_pkts, v6_pkts); /* the IPv6 attempt is gone */
	world_fini(&w);
}

/* The Intermediate answers on IPv6: it is tried first (whatever the order given)
 * and wins within the delay, so IPv4 is never tried. */
static void eyeballs_v6_first_wins(void **state)
{
	struct world w;
	struct tchan *t;
	uint64_t t0;

	world_init(&w, *state, 0);
	assert_int_equal(zt_addr_parse(&w.imd.addr, "[2001:db8::4]:4433", 0), 0);
	w.imd.local = w.imd.addr;
	w.ccfg.intermediate = w.imd.addr;
	assert_int_equal(zt_addr_parse(&w.gw, "192.0.2.4:4433", 0), 0);
	w.acfg.intermediate = w.gw;
	w.acfg.intermediate_alt = w.imd.addr;
	start_connector(&w);
	assert_true(nh_run(&w.net, both_ready_conn_only, &w, w.net.now + 3 * ZT_SEC));
	t0 = w.net.now;
	start_agent(&w, "pw-alice");
	assert_true(nh_run(&w.net, agent_ready_any, &w, w.net.now + 3 * ZT_SEC));
	assert_true(w.net.now - t0 < 250 * ZT_MS);
	assert_true(zt_addr_equal(zt_peer_intermediate(w.agent.peer), &w.imd.addr));
	t = open_chan(&w, "web", 100000, 6);
	run_chan(&w, t, 5 * ZT_SEC);
	assert_int_equal(t->recvd, 100000);
	assert_int_equal(w.gw_pkts, 0);
	world_fini(&w);
}

static void auto_falls_back_to_tcp(void **state)
{
	struct world w;
	struct tchan *t;
	uint64_t t0;

	world_init(&w, *state, 0);
	w.acfg.transport = ZT_PEER_TRANSPORT_AUTO;
	w.agent_udp_blocked = true;
	start_connector(&w);
	assert_true(nh_run(&w.net, both_ready_conn_only, &w, w.net.now + 3 * ZT_SEC));
	t0 = w.net.now;
	start_agent(&w, "pw-alice");
	assert_true(nh_run(&w.net, agent_ready_any, &w, w.net.now + 3 * ZT_SEC));
	/* 300 ms of QUIC, then the TCP and TLS handshakes and the login (5 ms links) */
	assert_true(w.net.now - t0 >= 300 * ZT_MS && w.net.now - t0 <= 400 * ZT_MS);
	assert_int_equal(zt_peer_outer_kind(w.agent.peer), ZT_OUTER_TCP);
	t = open_chan(&w, "web", 100000, 5);
	run_chan(&w, t, 5 * ZT_SEC);
	assert_int_equal(t->recvd, 100000);
	assert_false(t->corrupt);
	world_fini(&w);
}

static void auto_moves_back_to_udp(void **state)
{
	struct world w;
	struct tchan *t;
	struct zt_imd_stats is;
	struct zt_peer_stats as;

	world_init(&w, *state, 0);
	w.acfg.transport = ZT_PEER_TRANSPORT_AUTO;
	w.acfg.udp_probe = 700 * ZT_MS;
	w.agent_udp_blocked = true;
	start_connector(&w);
	start_agent(&w, "pw-alice");
	assert_true(nh_run(&w.net, both_ready, &w, w.net.now + 3 * ZT_SEC));
	assert_int_equal(zt_peer_outer_kind(w.agent.peer), ZT_OUTER_TCP);
	/* a stream on the TCP relay; UDP comes back half a second in */
	t = open_chan(&w, "web", 8 << 20, 31);
	nh_run(&w.net, service_all, &w, w.net.now + 500 * ZT_MS);
	assert_true(t->ready && t->recvd > 0 && t->recvd < (8 << 20));
	w.agent_udp_blocked = false;
	run_chan(&w, t, 30 * ZT_SEC);
	assert_false(t->reset || t->failed || t->corrupt);
	assert_int_equal(t->recvd, 8 << 20);
	assert_true(t->fin_recv);
	assert_int_equal(zt_peer_outer_kind(w.agent.peer), ZT_OUTER_UDP);
	zt_peer_stats(w.agent.peer, &as);
	assert_int_equal(as.moves, 1);
	assert_int_equal(w.sessions_ready, 1);
	assert_int_equal(w.downs, 0);
	zt_imd_stats(w.imd.imd, &is);
	assert_int_equal(is.moved, 1);
	assert_int_equal(is.clients, 2);
	world_fini(&w);
}

/* A TCP connection that cannot be made: status has the reason (zt_peer_last_error);
 * none before anything failed. */
static void tcp_outer_refused_is_reported(void **state)
{
	struct world w;
	char text[256];
	uint64_t at = 0;

	world_init(&w, *state, 0);
	w.acfg.transport = ZT_PEER_TRANSPORT_TCP;
	w.agent.tcp_refused = true;
	start_agent(&w, "pw-alice");
	assert_int_equal(zt_peer_last_error(w.agent.peer, text, sizeof(text), &at), 0);
	nh_run(&w.net, NULL, NULL, w.net.now + 2 * ZT_SEC);
	assert_int_not_equal(zt_peer_state(w.agent.peer), ZT_PEER_READY);
	assert_int_equal(zt_peer_last_error(w.agent.peer, text, sizeof(text), &at), -ECONNREFUSED);
	assert_true(!strncmp(text, "tcp: ", 5));
	assert_true(at > 0 && at <= w.net.now);
	world_fini(&w);
}

/* A middlebox resets the agent's TCP connection to the Intermediate mid-transfer: the
 * agent connects again at once, its relayed session was kept at both the agent and the
 * Intermediate (an orphan: the connection was lost, not closed) and is re-attached;
 * the stream arrives whole, the channel never reset. */
static void tcp_reset_keeps_relayed_sessions(void **state)
{
	struct world w;
	struct tchan *t;
	struct zt_peer_stats as;
	struct zt_imd_stats is;

	world_init(&w, *state, 0);
	w.agent_udp_blocked = true;
	w.acfg.transport = ZT_PEER_TRANSPORT_TCP;
	start_connector(&w);
	start_agent(&w, "pw-alice");
	assert_true(nh_run(&w.net, both_ready, &w, w.net.now + 3 * ZT_SEC));
	t = open_chan(&w, "web", 4 << 20, 41);
	nh_run(&w.net, service_all, &w, w.net.now + 300 * ZT_MS);
	assert_true(t->ready && t->recvd > 0 && t->recvd < (4 << 20));
	/* the reset: both ends of the TCP connection hear of it */
	zt_imd_tcp_closed(w.imd.imd, w.net.now, w.agent.tcp_id, -ECONNRESET);
	zt_peer_tcp_closed(w.agent.peer, w.net.now, w.agent.tcp_gen, -ECONNRESET, NULL);
	w.agent.tcp_id = 0;
	w.agent.tcp_imd = NULL;
	run_chan(&w, t, 30 * ZT_SEC);
	assert_false(t->reset || t->failed || t->corrupt);
	assert_int_equal(t->recvd, 4 << 20);
	assert_true(t->fin_recv);
	zt_peer_stats(w.agent.peer, &as);
	assert_true(as.sessions_resumed >= 1);
	assert_true(as.connects >= 2);
	zt_imd_stats(w.imd.imd, &is);
	assert_true(is.sessions_orphaned >= 1 && is.sessions_resumed >= 1);
	world_fini(&w);
}

/*
 * The TCP direct path (docs/tcp-transport.md): both ends on TCP (UDP blocked), START_
 * CHECKS starts a link from each outer TCP connection's address to the other's (the
 * harness connects two CONNECTs that meet: simultaneous open), the agent moves the
 * session onto it and the transfer goes on there; the link cut mid-transfer (its
 * bytes dropped), the inner connection stalls on it and goes back to the relay: every
 * byte arrives, the channel never resets.
 */
static bool on_tcp_path(void *arg, uint64_t now)
{
	struct world *w = arg;
	struct zt_peer_path_info ai;
	uint32_t ids[4];

	service_all(w, now);
	return zt_peer_session_ids(w->agent.peer, ids, 4) == 1 &&
	       zt_peer_session_path(w->agent.peer, ids[0], &ai) == 0 && ai.tcp;
}

static bool on_relay_path(void *arg, uint64_t now)
{
	struct world *w = arg;
	struct zt_peer_path_info ai;
	uint32_t ids[4];

	service_all(w, now);
	return zt_peer_session_ids(w->agent.peer, ids, 4) == 1 &&
	       zt_peer_session_path(w->agent.peer, ids[0], &ai) == 0 && !ai.direct;
}

static void tcp_world(struct world *w, struct nh_fixture *f)
{
	world_init(w, f, 0);
	w->agent_udp_blocked = w->conn_udp_blocked = true;
	w->acfg.transport = w->ccfg.transport = ZT_PEER_TRANSPORT_TCP;
	w->acfg.path = (struct zt_path_config){ 0 };
	w->ccfg.path = (struct zt_path_config){ 0 };
	start_connector(w);
	start_agent(w, "pw-alice");
	assert_true(nh_run(&w->net, both_ready, w, w->net.now + 3 * ZT_SEC));
}

static void tcp_direct_path_and_fallback(void **state)
{
	struct world w;
	struct tchan *t;
	struct zt_peer_stats as, cs;
	struct zt_peer_path_info ai;
	uint32_t id;
	uint64_t at_cut;

	tcp_world(&w, *state);
	t = open_chan(&w, "web", 8 << 20, 51);
	t->markers = true;
	assert_true(nh_run(&w.net, on_tcp_path, &w, w.net.now + 5 * ZT_SEC));
	assert_int_equal(zt_peer_session_ids(w.agent.peer, &id, 1), 1);
	assert_int_equal(zt_peer_session_path(w.agent.peer, id, &ai), 0);
	assert_true(ai.direct && ai.tcp);
	assert_string_equal(ai.tcp_state, "up");
	assert_true(zt_relay_is_tcp_path(&ai.local));
	assert_true(zt_addr_equal(&ai.remote, &w.conn.local));
	nh_run(&w.net, service_all, &w, w.net.now + 300 * ZT_MS);
	assert_true(t->recvd > 0 && t->recvd < (8 << 20));
	assert_true(w.agent.link_bytes > 0 && w.conn.link_bytes > 0);
	/* the link dies mid-transfer: back to the relay */
	w.cut_link = true;
	at_cut = w.net.now;
	assert_true(nh_run(&w.net, on_relay_path, &w, w.net.now + 5 * ZT_SEC));
	assert_true(w.net.now - at_cut < 2 * ZT_SEC);
	run_chan(&w, t, 60 * ZT_SEC);
	assert_false(t->reset || t->failed || t->corrupt);
	assert_int_equal(t->recvd, 8 << 20);
	assert_true(t->fin_recv);
	assert_int_equal(w.wire_marker_hits, 0); /* ciphertext on the link too */
	zt_peer_stats(w.agent.peer, &as);
	zt_peer_stats(w.conn.peer, &cs);
	assert_true(as.tcp_links_up >= 1 && cs.tcp_links_up >= 1);
	assert_true(as.tcp_path_moves >= 2); /* onto the link and off it */
	assert_true(as.tcp_pkts_out > 100 && cs.tcp_pkts_out > 100);
	world_fini(&w);
}

/* A link that never connects (a symmetric NAT on the way): the session stays on the
 * relay and carries the traffic; its TCP state says so. */
static void tcp_direct_path_blocked_stays_relayed(void **state)
{
	struct world w;
	struct tchan *t;
	struct zt_peer_path_info ai;
	uint32_t id;

	tcp_world(&w, *state);
	w.agent.links_blocked = true;
	t = open_chan(&w, "web", 1 << 20, 52);
	run_chan(&w, t, 30 * ZT_SEC);
	assert_false(t->reset || t->failed || t->corrupt);
	assert_int_equal(t->recvd, 1 << 20);
	nh_run(&w.net, service_all, &w, w.net.now + 8 * ZT_SEC);
	assert_int_equal(zt_peer_session_ids(w.agent.peer, &id, 1), 1);
	assert_int_equal(zt_peer_session_path(w.agent.peer, id, &ai), 0);
	assert_false(ai.direct || ai.tcp);
	assert_string_equal(ai.tcp_state, "failed");
	assert_int_equal(w.link_pkts, 0);
	world_fini(&w);
}

/* The TCP direct path is off through a proxy (or --tcp-direct off): no link is tried. */
static void tcp_direct_path_off(void **state)
{
	struct world w;
	struct tchan *t;
	struct zt_peer_path_info ai;
	struct zt_peer_stats as;
	uint32_t id;

	world_init(&w, *state, 0);
	w.agent_udp_blocked = w.conn_udp_blocked = true;
	w.acfg.transport = w.ccfg.transport = ZT_PEER_TRANSPORT_TCP;
	w.acfg.path = (struct zt_path_config){ 0 };
	w.ccfg.path = (struct zt_path_config){ 0 };
	w.acfg.tcp_direct_off = true;
	start_connector(&w);
	start_agent(&w, "pw-alice");
	assert_true(nh_run(&w.net, both_ready, &w, w.net.now + 3 * ZT_SEC));
	t = open_chan(&w, "web", 1 << 20, 53);
	run_chan(&w, t, 30 * ZT_SEC);
	assert_int_equal(t->recvd, 1 << 20);
	nh_run(&w.net, service_all, &w, w.net.now + 3 * ZT_SEC);
	assert_int_equal(zt_peer_session_ids(w.agent.peer, &id, 1), 1);
	assert_int_equal(zt_peer_session_path(w.agent.peer, id, &ai), 0);
	assert_false(ai.tcp);
	assert_string_equal(ai.tcp_state, "none");
	zt_peer_stats(w.agent.peer, &as);
	assert_int_equal(as.tcp_links_up, 0);
	assert_int_equal(w.link_pkts, 0);
	world_fini(&w);
}

static void connector_restart_recovers(void **state)
{
	struct world w;
	struct tchan *t, *old;

	world_up(&w, *state, 0);
	old = open_chan(&w, "web", 5000, 1);
	old->send_fin = false;
	nh_run(&w.net, service_all, &w, w.net.now + 1 * ZT_SEC);
	assert_int_equal(old->recvd, 5000);
	/* The connector crashes and comes back (same identity, new state). */
	nh_ep_kill(&w.conn);
	for (int i = 0; i < MAX_CHANS; i++)
		if (w.chans[i].used && !w.chans[i].agent)
			w.chans[i].used = false;
	start_connector(&w);
	nh_run(&w.net, service_all, &w, w.net.now + 2 * ZT_SEC);
	/* The Intermediate replaced the old connection and closed its sessions. */
	assert_true(old->reset);
	assert_int_equal(w.sessions_closed, 1);
	t = open_chan(&w, "web", 30000, 2);
	run_chan(&w, t, 5 * ZT_SEC);
	assert_int_equal(t->recvd, 30000);
	assert_int_equal(w.sessions_ready, 2);
	world_fini(&w);
}

static void udp_flow_echo_and_idle_timeout(void **state)
{
	struct world w;
	struct tflow *a;
	uint8_t d[1200];
	struct zt_peer_stats st;

	world_up(&w, *state, 0);
	a = tflow_new(&w, true);
	assert_int_equal(zt_peer_flow_open(w.agent.peer, w.net.now, "web", a, &a->f), 0);
	memset(d, 0x42, sizeof(d));
	/* Before the session is ready: queued, not lost. */
	for (int i = 0; i < 10; i++)
		assert_int_equal(zt_peer_flow_send(a->f, w.net.now, d, sizeof(d)), 0);
	nh_run_for(&w.net, 1 * ZT_SEC);
	assert_int_equal(a->in, 10);
	for (int i = 0; i < 100; i++) {
		assert_int_equal(zt_peer_flow_send(a->f, w.net.now, d, 100 + (size_t)i), 0);
		nh_run_for(&w.net, 5 * ZT_MS);
	}
	nh_run_for(&w.net, 500 * ZT_MS);
	assert_int_equal(a->in, 110);
	assert_int_equal(zt_peer_flow_send(a->f, w.net.now, d, ZT_PEER_UDP_MAX + 1), -EMSGSIZE);
	memset(d, 0x43, sizeof(d));
	assert_int_equal(ZT_PEER_UDP_MAX, 1362);
	/* Idle: both ends forget the flow. */
	nh_run_for(&w.net, 7 * ZT_SEC);
	assert_true(a->closed);
	assert_int_equal(a->reason, ZT_ETIMEOUT);
	assert_true(w.flows[1].used && w.flows[1].closed);
	zt_peer_stats(w.conn.peer, &st);
	assert_int_equal(st.flows, 0);
	assert_int_equal(st.flow_dgrams_in, 110);
	world_fini(&w);
}

static void garbage_to_a_peer_is_counted(void **state)
{
	struct world w;
	struct tchan *t;
	struct zt_peer_stats st;
	uint8_t junk[100];
	struct zt_addr evil = qh_addr("127.0.0.9:999");

	world_up(&w, *state, 0);
	t = open_chan(&w, "web", 50000, 9);
	t->send_fin = false;
	nh_run(&w.net, service_all, &w, w.net.now + 1 * ZT_SEC);
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)(i * 13 + 5);
	junk[0] = 0x90;
	nh_send(&w.net, &evil, &w.agent.addr, junk, sizeof(junk));   /* not QUIC */
	junk[0] = 0x01;
	nh_send(&w.net, &evil, &w.agent.addr, junk, sizeof(junk));   /* STUN, nobody takes it */
	junk[0] = 0x41;
	nh_send(&w.net, &evil, &w.agent.addr, junk, sizeof(junk));   /* QUIC, unknown CID */
	nh_send(&w.net, &w.imd.addr, &w.agent.addr, junk, 3);         /* "from" the Intermediate, truncated */
	nh_run(&w.net, service_all, &w, w.net.now + 500 * ZT_MS);
	zt_peer_stats(w.agent.peer, &st);
	assert_int_equal(st.dropped_garbage, 1);
	assert_int_equal(st.dropped_stun, 1);
	assert_int_equal(st.dropped_unknown, 1);
	/* The session goes on. */
	t->to_send = 60000;
	t->send_fin = true;
	run_chan(&w, t, 5 * ZT_SEC);
	assert_int_equal(t->recvd, 60000);
	assert_false(t->corrupt);
	world_fini(&w);
}

static void quota_ends_session_and_next_use_reopens(void **state)
{
	struct world w;
	struct tchan *t;

	world_up(&w, *state, 200);
	t = open_chan(&w, "web", 1 << 20, 4);
	nh_run(&w.net, service_all, &w, w.net.now + 5 * ZT_SEC);
	assert_true(t->reset);
	assert_int_equal(w.sessions_closed, 1);
	t = open_chan(&w, "web", 20000, 5);
	run_chan(&w, t, 5 * ZT_SEC);
	assert_int_equal(t->recvd, 20000);
	assert_int_equal(w.sessions_ready, 2);
	world_fini(&w);
}

static void slow_reader_is_bounded(void **state)
{
	struct world w;
	struct tchan *t, *c = NULL;
	uint64_t sent_then;

	world_up(&w, *state, 0);
	t = open_chan(&w, "web", 64 << 20, 6);
	t->send_fin = false;
	nh_run(&w.net, service_all, &w, w.net.now + 100 * ZT_MS);
	for (int i = 0; i < MAX_CHANS; i++)
		if (w.chans[i].used && !w.chans[i].agent)
			c = &w.chans[i];
	/* The connector's target stops reading. */
	if (c)
		c->paused = true;
	nh_run(&w.net, service_all, &w, w.net.now + 5 * ZT_SEC);
	if (!c) {
		for (int i = 0; i < MAX_CHANS; i++)
			if (w.chans[i].used && !w.chans[i].agent)
				c = &w.chans[i];
		assert_non_null(c);
	}
	sent_then = t->sent;
	nh_run(&w.net, service_all, &w, w.net.now + 5 * ZT_SEC);
	/* The agent can write no more than the windows and buffers hold. */
	assert_int_equal(t->sent, sent_then);
	assert_true(t->sent < 16 << 20);
	/* Reading again lets it all through. */
	c->paused = false;
	nh_run(&w.net, service_all, &w, w.net.now + 2 * ZT_SEC);
	assert_true(t->sent > sent_then);
	world_fini(&w);
}

/*
 * Port mapping (docs/portmap.md): the agent's client asks the gateway from the node's
 * socket, the gateway's answers (first byte 2 or 0: STUN's range) go to it and not to
 * STUN, the mapped address is offered as a srflx candidate at local preference 65535,
 * and closing deletes the mapping (lifetime 0).
 */
static bool went_direct(void *arg, uint64_t now);

struct cand_watch {
	char lines[8][256];
	unsigned n;
};

static void cand_log(void *arg, enum zt_node_level level, const char *event, const char *kv)
{
	struct cand_watch *cw = arg;

	if (!strcmp(event, "candidate") && cw->n < 8)
		snprintf(cw->lines[cw->n++], sizeof(cw->lines[0]), "%s", kv);
	if (getenv("NH_LOG"))
		nh_log((void *)"agent", level, event, kv);
}

static bool cand_logged(const struct cand_watch *cw, const char *text)
{
	for (unsigned i = 0; i < cw->n; i++)
		if (strstr(cw->lines[i], text))
			return true;
	return false;
}

static void portmap_mapping_offered_and_deleted(void **state)
{
	struct world w;
	struct cand_watch cw = { 0 };
	struct zt_addr gw5351;
	struct zt_portmap_info pi;
	struct zt_peer_stats ps;
	uint8_t ans[60], junk[8] = { 0 };
	char text[128];

	world_init(&w, *state, 0);
	w.acfg.path = (struct zt_path_config){ 0 };
	w.ccfg.path = (struct zt_path_config){ 0 };
	w.acfg.portmap = ZT_PEER_PORTMAP_AUTO;
	w.acfg.log = (struct zt_node_log){ .fn = cand_log, .arg = &cw, .max_level = ZT_NODE_DEBUG };
	assert_int_equal(zt_addr_parse(&w.gw, "10.0.0.1:5351", 0), 0);
	gw5351 = w.gw;
	start_connector(&w);
	start_agent(&w, "pw-alice");
	assert_int_equal(zt_peer_portmap_route(w.agent.peer, w.net.now, &w.gw, &w.agent.local), 0);
	assert_true(nh_run(&w.net, both_ready, &w, w.net.now + 3 * ZT_SEC));
	/* a PCP MAP request from the socket for its port */
	assert_true(w.gw_pkts >= 1);
	assert_int_equal(w.gw_last_len, 60);
	assert_int_equal(w.gw_last[0], 2);
	assert_int_equal(w.gw_last[40] << 8 | w.gw_last[41], w.agent.local.port);
	/* the gateway's answer: 203.0.113.5:61000 for an hour */
	memcpy(ans, w.gw_last, 60);
	ans[1] = 0x81;
	memset(ans + 4, 0, 20);
	ans[6] = 0x0e;
	ans[7] = 0x10;
	ans[42] = 61000 >> 8;
	ans[43] = 61000 & 0xff;
	memcpy(ans + 44, (const uint8_t[]){ 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 203, 0, 113,
					    5 }, 16);
	assert_int_equal(zt_peer_recv(w.agent.peer, w.net.now, &w.agent.local, &gw5351, ans,
				      sizeof(ans)), 0);
	assert_int_equal(zt_peer_recv(w.agent.peer, w.net.now, &w.agent.local, &gw5351, junk,
				      sizeof(junk)), 0);
	assert_int_equal(zt_peer_portmap_info(w.agent.peer, &pi), 0);
	assert_int_equal(pi.state, ZT_PORTMAP_MAPPED);
	assert_int_equal(pi.st.malformed, 1);
	assert_string_equal(zt_addr_str(&pi.external, text), "203.0.113.5:61000");
	zt_peer_stats(w.agent.peer, &ps);
	assert_int_equal(ps.dropped_stun, 0);
	/* a session: its candidates include the mapping */
	open_chan(&w, "web", 1000, 5);
	assert_true(nh_run(&w.net, went_direct, &w, w.net.now + 3 * ZT_SEC));
	snprintf(text, sizeof(text), "udp %u 203.0.113.5 61000 typ srflx",
		 zt_cand_priority(ZT_CAND_SRFLX, 65535, 1));
	assert_true(cand_logged(&cw, text));
	/* closing deletes it: the same request with lifetime 0 */
	w.gw_pkts = 0;
	zt_peer_close(w.agent.peer, "test");
	nh_run_for(&w.net, 10 * ZT_MS);
	assert_int_equal(w.gw_pkts, 1);
	assert_int_equal(w.gw_last_len, 60);
	assert_true(!w.gw_last[4] && !w.gw_last[5] && !w.gw_last[6] && !w.gw_last[7]);
	assert_int_equal(zt_peer_portmap_info(w.agent.peer, &pi), -ENOENT);
	world_fini(&w);
}

/* The shell's UPnP mapping (zt_peer_portmap_external): no PCP from the node, the
 * mapping offered as the client's would be, reported with protocol upnp. */
static void portmap_external_mapping_offered(void **state)
{
	struct world w;
	struct cand_watch cw = { 0 };
	struct zt_portmap_info pi;
	struct zt_addr ext, v6;
	char text[128];

	world_init(&w, *state, 0);
	w.acfg.path = (struct zt_path_config){ 0 };
	w.ccfg.path = (struct zt_path_config){ 0 };
	w.acfg.portmap = ZT_PEER_PORTMAP_UPNP;
	w.acfg.log = (struct zt_node_log){ .fn = cand_log, .arg = &cw, .max_level = ZT_NODE_DEBUG };
	assert_int_equal(zt_addr_parse(&w.gw, "10.0.0.1:5351", 0), 0);
	assert_int_equal(zt_addr_parse(&ext, "203.0.113.5:61000", 0), 0);
	assert_int_equal(zt_addr_parse(&v6, "[2001:db8::1]:61000", 0), 0);
	start_connector(&w);
	start_agent(&w, "pw-alice");
	assert_int_equal(zt_peer_portmap_external(w.agent.peer, w.net.now, "upnp", &ext, 7200),
			 -ENOENT); /* no route yet */
	assert_int_equal(zt_peer_portmap_route(w.agent.peer, w.net.now, &w.gw, &w.agent.local), 0);
	assert_int_equal(zt_peer_portmap_info(w.agent.peer, &pi), 0);
	assert_int_equal(pi.state, ZT_PORTMAP_PROBING);
	assert_string_equal(pi.protocol, "upnp");
	assert_true(nh_run(&w.net, both_ready, &w, w.net.now + 3 * ZT_SEC));
	assert_int_equal(w.gw_pkts, 0); /* upnp only: the node's client does not ask */
	assert_int_equal(zt_peer_portmap_external(w.agent.peer, w.net.now, "upnp", &v6, 7200),
			 -EINVAL);
	assert_int_equal(zt_peer_portmap_external(w.agent.peer, w.net.now, "upnp", &ext, 7200), 0);
	assert_int_equal(zt_peer_portmap_info(w.agent.peer, &pi), 0);
	assert_int_equal(pi.state, ZT_PORTMAP_MAPPED);
	assert_string_equal(pi.protocol, "upnp");
	assert_int_equal(pi.lifetime, 7200);
	assert_string_equal(zt_addr_str(&pi.external, text), "203.0.113.5:61000");
	open_chan(&w, "web", 1000, 5);
	assert_true(nh_run(&w.net, went_direct, &w, w.net.now + 3 * ZT_SEC));
	snprintf(text, sizeof(text), "udp %u 203.0.113.5 61000 typ srflx",
		 zt_cand_priority(ZT_CAND_SRFLX, 65535, 1));
	assert_true(cand_logged(&cw, text));
	/* lost: no candidate, probing again */
	assert_int_equal(zt_peer_portmap_external(w.agent.peer, w.net.now, "upnp",
						  &(struct zt_addr){ 0 }, 0), 0);
	assert_int_equal(zt_peer_portmap_info(w.agent.peer, &pi), 0);
	assert_int_equal(pi.state, ZT_PORTMAP_PROBING);
	zt_peer_close(w.agent.peer, "test");
	nh_run_for(&w.net, 10 * ZT_MS);
	assert_int_equal(w.gw_pkts, 0);
	assert_int_equal(zt_peer_portmap_info(w.agent.peer, &pi), -ENOENT);
	world_fini(&w);
}

/*
 * Ready for the direct path: the agent migrates the inner connection to a direct
 * path (socket address -> connector's address); both ends demultiplex it by
 * connection ID, the stream goes on, and back on the relay path. A session on the
 * direct path outlives an Intermediate restart.
 */
static uint32_t only_session(struct zt_peer *p)
{
	uint32_t ids[4];

	assert_int_equal(zt_peer_session_ids(p, ids, 4), 1);
	return ids[0];
}

static void inner_connection_migrates_direct_and_back(void **state)
{
	struct world w;
	struct tchan *t;
	struct zt_quic_path direct, relay, now_path;
	struct zt_quic_conn *c;
	struct zt_peer_path_info ci = { .direct = true };
	uint64_t before;

	world_up(&w, *state, 0);
	t = open_chan(&w, "web", 200000, 31);
	t->send_fin = false;
	nh_run(&w.net, service_all, &w, w.net.now + 1 * ZT_SEC);
	assert_int_equal(t->recvd, 200000);
	c = w.last_ready.conn;
	assert_int_equal(w.direct_pkts, 0);
	direct = (struct zt_quic_path){ .local = w.agent.local, .remote = w.conn.addr };
	assert_int_equal(zt_quic_conn_migrate(c, w.net.now, &direct, false), 0);
	nh_run(&w.net, service_all, &w, w.net.now + 200 * ZT_MS); /* validated meanwhile */
	zt_quic_conn_path(c, &now_path);
	assert_true(zt_addr_equal(&now_path.remote, &w.conn.addr));
	before = w.direct_pkts;
	t->to_send = 400000;
	nh_run(&w.net, service_all, &w, w.net.now + 1 * ZT_SEC);
	assert_int_equal(t->recvd, 400000);
	assert_false(t->corrupt);
	assert_true(w.direct_pkts - before > 100); /* 200 kB: some 145 full packets */
	/* Back to the relay path, once the connector has stopped checking the path it
	 * left (docs/direct-path.md: ngtcp2 0.12.1 follows no move back to it meanwhile). */
	nh_run(&w.net, service_all, &w, w.net.now + 8 * ZT_SEC);
	zt_peer_relay_path(w.agent.peer, &relay);
	assert_int_equal(zt_quic_conn_migrate(c, w.net.now, &relay, true), 0);
	nh_run(&w.net, service_all, &w, w.net.now + 500 * ZT_MS);
	before = w.direct_pkts;
	t->to_send = 600000;
	nh_run(&w.net, service_all, &w, w.net.now + 1 * ZT_SEC);
	assert_int_equal(t->recvd, 600000);
	assert_true(w.direct_pkts - before < 5);
	zt_quic_conn_path(c, &now_path);
	assert_true(zt_quic_is_relay_addr(&now_path.local));
	/* Direct again once the connector has settled on the relay path (after its
	 * validation ngtcp2 checks the path it left for 3 PTOs, and follows no move back
	 * to that path meanwhile), then the Intermediate restarts: the session stays. */
	for (int i = 0; i < 100 && ci.direct; i++) {
		nh_run(&w.net, service_all, &w, w.net.now + 100 * ZT_MS);
		assert_int_equal(zt_peer_session_path(w.conn.peer, only_session(w.conn.peer), &ci), 0);
	}
	assert_false(ci.direct);
	nh_run(&w.net, service_all, &w, w.net.now + 8 * ZT_SEC);
	assert_int_equal(zt_quic_conn_migrate(c, w.net.now, &direct, false), 0);
	nh_run(&w.net, service_all, &w, w.net.now + 500 * ZT_MS);
	zt_imd_free(w.imd.imd);
	assert_int_equal(zt_imd_new(&w.imd.imd, &w.icfg, w.net.now), 0);
	nh_run(&w.net, service_all, &w, w.net.now + 7 * ZT_SEC);
	assert_true(w.downs >= 1);
	assert_false(t->reset);
	t->to_send = 800000;
	nh_run(&w.net, service_all, &w, w.net.now + 1 * ZT_SEC);
	assert_int_equal(t->recvd, 800000);
	assert_false(t->corrupt);
	world_fini(&w);
}

/*
 * The direct path end to end, in memory: the agent's session goes direct on its own
 * (ICE through both nodes, START_CHECKS from the Intermediate, migration), a transfer
 * survives the direct path being cut (fallback to the relay) and its return (direct
 * again after the cooldown), with every byte in order.
 */
static bool went_direct(void *arg, uint64_t now)
{
	struct world *w = arg;
	struct zt_peer_path_info ai;
	uint32_t ids[4];
	(void)now;

	service_all(w, now);
	return zt_peer_session_ids(w->agent.peer, ids, 4) == 1 &&
	       zt_peer_session_path(w->agent.peer, ids[0], &ai) == 0 && ai.direct;
}

/*
 * Cut right after both ends went direct, with data flowing both ways: the agent goes
 * back to the relay and the connector follows it there at once. ngtcp2 0.12.1 keeps a
 * server on the path it left while it validates that path (which the client no longer
 * answers): with the default initial RTT, ~7 s in which everything the connector
 * sends went into the cut path; the inner connections' initial RTT (quic/conn.c)
 * keeps that window short.
 */
static void connector_follows_back_right_after_going_direct(void **state)
{
	struct world w;
	struct tchan *t;
	struct zt_peer_path_info ai, ci;
	uint64_t got;

	world_init(&w, *state, 0);
	w.acfg.path = (struct zt_path_config){ .cooldown = 30 * ZT_SEC };
	w.ccfg.path = (struct zt_path_config){ 0 };
	start_connector(&w);
	start_agent(&w, "pw-alice");
	assert_true(nh_run(&w.net, both_ready, &w, w.net.now + 3 * ZT_SEC));
	t = open_chan(&w, "web", 20000, 43);
	t->send_fin = false;
	assert_true(nh_run(&w.net, went_direct, &w, w.net.now + 3 * ZT_SEC));
	t->to_send = 200000000;
	nh_run(&w.net, service_all, &w, w.net.now + 3 * ZT_SEC);
	w.cut_direct = true;
	nh_run(&w.net, service_all, &w, w.net.now + 1500 * ZT_MS);
	assert_int_equal(zt_peer_session_path(w.agent.peer, only_session(w.agent.peer), &ai), 0);
	assert_false(ai.direct);
	got = t->recvd;
	nh_run(&w.net, service_all, &w, w.net.now + 1 * ZT_SEC);
	/* the echo comes back on the relay: the connector sends there now */
	assert_int_equal(zt_peer_session_path(w.conn.peer, only_session(w.conn.peer), &ci), 0);
	assert_false(ci.direct);
	assert_true(t->recvd - got > 100000);
	assert_false(t->corrupt || t->reset);
	world_fini(&w);
}

/*
 * With port mapping on, a direct path that falls back to the relay tells the shell on
 * both sides (portmap_refresh), so that a UPnP IGD mapping lost with the router's
 * restart is made again at once (app/upnp.c zt_upnp_refresh); never with it off.
 */
static unsigned refresh_agent, refresh_conn;

static void on_refresh_agent(struct zt_peer *p, void *arg, uint64_t now)
{
	(void)p;
	(void)arg;
	(void)now;
	refresh_agent++;
}

static void on_refresh_conn(struct zt_peer *p, void *arg, uint64_t now)
{
	(void)p;
	(void)arg;
	(void)now;
	refresh_conn++;
}

/*
 * A direct path that carries 1280-byte IPv4 packets (UDP payload 1252; docs/direct-
 * path.md, "Packet size"): ICE's probes of 1407 and 1352 bytes go unanswered, the
 * inner connection sends 1252-byte packets on it, and a 1 MB transfer each way stays
 * direct on both sides. A UDP flow (DATAGRAMs sized for the relay) then takes the
 * session back to the relay (reason path-mtu), where its datagrams go. On the code
 * before, the first full-size packets (1407) were lost and the session fell back to
 * the relay (data-stalled) within seconds.
 */
static void small_direct_path_stays_direct(void **state)
{
	const uint64_t bytes = 20000 + (1u << 20);
	struct world w;
	struct tchan *t;
	struct tflow *a;
	struct zt_peer_path_info ai, ci;
	uint8_t d[1300];
	uint64_t before;

	world_init(&w, *state, 0);
	w.acfg.path = (struct zt_path_config){ .cooldown = 30 * ZT_SEC };
	w.ccfg.path = (struct zt_path_config){ 0 };
	w.direct_max = 1280 - 28;
	start_connector(&w);
	start_agent(&w, "pw-alice");
	assert_true(nh_run(&w.net, both_ready, &w, w.net.now + 3 * ZT_SEC));
	t = open_chan(&w, "web", 20000, 45);
	t->send_fin = false;
	assert_true(nh_run(&w.net, went_direct, &w, w.net.now + 3 * ZT_SEC));
	before = w.direct_pkts;
	t->to_send = bytes;
	nh_run(&w.net, service_all, &w, w.net.now + 4 * ZT_SEC);
	assert_int_equal(t->recvd, bytes);
	assert_false(t->corrupt || t->reset);
	assert_true(w.direct_pkts - before > 2 * (1u << 20) / 1252);
	assert_true(w.direct_over > 0); /* the probes, nothing else */
	assert_int_equal(w.direct_longest, 1252);
	assert_int_equal(zt_peer_session_path(w.agent.peer, only_session(w.agent.peer), &ai), 0);
	assert_int_equal(zt_peer_session_path(w.conn.peer, only_session(w.conn.peer), &ci), 0);
	assert_true(ai.direct && ci.direct);
	assert_int_equal(ai.switches, 1);
	assert_int_equal(ai.payload, 1252);
	assert_int_equal(ci.payload, 1252);

	/* DATAGRAMs that only the relay carries: back to the relay, then they go */
	a = tflow_new(&w, true);
	assert_int_equal(zt_peer_flow_open(w.agent.peer, w.net.now, "web", a, &a->f), 0);
	memset(d, 0x44, sizeof(d));
	assert_int_equal(zt_peer_flow_send(a->f, w.net.now, d, sizeof(d)), 0);
	nh_run(&w.net, service_all, &w, w.net.now + 1 * ZT_SEC);
	assert_int_equal(zt_peer_session_path(w.agent.peer, only_session(w.agent.peer), &ai), 0);
	assert_false(ai.direct);
	assert_string_equal(ai.last_reason, "path-mtu");
	assert_int_equal(ai.payload, ZT_RELAY_TUNNEL_MTU);
	a->in = 0;
	for (int i = 0; i < 5; i++)
		assert_int_equal(zt_peer_flow_send(a->f, w.net.now, d, sizeof(d)), 0);
	nh_run(&w.net, service_all, &w, w.net.now + 500 * ZT_MS);
	assert_int_equal(a->in, 5);
	assert_false(t->corrupt || t->reset);
	world_fini(&w);
}

static void fallback_asks_the_shell_to_refresh_its_mapping(void **state)
{
	for (int on = 0; on < 2; on++) {
		struct world w;
		struct tchan *t;
		struct zt_peer_path_info ai;

		world_init(&w, *state, 0);
		w.acfg.path = (struct zt_path_config){ .cooldown = 30 * ZT_SEC };
		w.ccfg.path = (struct zt_path_config){ 0 };
		if (on)
			w.acfg.portmap = w.ccfg.portmap = ZT_PEER_PORTMAP_UPNP;
		w.acb.portmap_refresh = on_refresh_agent;
		w.ccb.portmap_refresh = on_refresh_conn;
		refresh_agent = refresh_conn = 0;
		start_connector(&w);
		start_agent(&w, "pw-alice");
		assert_true(nh_run(&w.net, both_ready, &w, w.net.now + 3 * ZT_SEC));
		t = open_chan(&w, "web", 20000, 44);
		t->send_fin = false;
		assert_true(nh_run(&w.net, went_direct, &w, w.net.now + 3 * ZT_SEC));
		t->to_send = 200000000;
		nh_run(&w.net, service_all, &w, w.net.now + 2 * ZT_SEC);
		assert_int_equal(zt_peer_session_path(w.conn.peer, only_session(w.conn.peer), &ai), 0);
		assert_true(ai.direct);
		assert_int_equal(refresh_agent + refresh_conn, 0);
		w.cut_direct = true;
		nh_run(&w.net, service_all, &w, w.net.now + 2500 * ZT_MS);
		assert_int_equal(zt_peer_session_path(w.agent.peer, only_session(w.agent.peer), &ai), 0);
		assert_false(ai.direct);
		if (on) {
			assert_true(refresh_agent >= 1);
			assert_true(refresh_conn >= 1);
		} else {
			assert_int_equal(refresh_agent + refresh_conn, 0);
		}
		assert_false(t->corrupt || t->reset);
		world_fini(&w);
	}
}

static void direct_path_chosen_cut_and_restored(void **state)
{
	struct world w;
	struct tchan *t;
	struct zt_peer_path_info ai, ci;
	struct zt_imd_stats is;
	uint64_t t_cut, before, relay_before;

	world_init(&w, *state, 0);
	w.acfg.path = (struct zt_path_config){ .cooldown = 3 * ZT_SEC };
	w.ccfg.path = (struct zt_path_config){ 0 };
	start_connector(&w);
	start_agent(&w, "pw-alice");
	assert_true(nh_run(&w.net, both_ready, &w, w.net.now + 3 * ZT_SEC));
	t = open_chan(&w, "web", 300000, 41);
	t->send_fin = false;
	nh_run(&w.net, service_all, &w, w.net.now + 2 * ZT_SEC);
	assert_int_equal(t->recvd, 300000);

	/* direct, on both sides, with the time it took */
	assert_int_equal(zt_peer_session_path(w.agent.peer, only_session(w.agent.peer), &ai), 0);
	assert_true(ai.direct);
	assert_true(zt_addr_equal(&ai.local, &w.agent.local));
	assert_true(zt_addr_equal(&ai.remote, &w.conn.addr));
	assert_string_equal(ai.manager, "direct");
	assert_int_equal(ai.switches, 1);
	assert_true(ai.time_to_direct > 0 && ai.time_to_direct < 1 * ZT_SEC);
	assert_int_equal(zt_peer_session_path(w.conn.peer, only_session(w.conn.peer), &ci), 0);
	assert_true(ci.direct);
	assert_string_equal(ci.ice_state, "connected");
	before = w.direct_pkts;
	zt_imd_stats(w.imd.imd, &is);
	relay_before = is.relay_pkts;
	t->to_send = 600000;
	nh_run(&w.net, service_all, &w, w.net.now + 1 * ZT_SEC);
	assert_int_equal(t->recvd, 600000);
	/* the transfer went direct: the relay carried (almost) nothing of it */
	zt_imd_stats(w.imd.imd, &is);
	assert_true(w.direct_pkts - before > 50);
	assert_true(is.relay_pkts - relay_before < 5);

	/* cut the direct path in the middle of a transfer: the relay takes over */
	t->to_send = 4000000;
	nh_run(&w.net, service_all, &w, w.net.now + 20 * ZT_MS);
	w.cut_direct = true;
	t_cut = w.net.now;
	nh_run(&w.net, service_all, &w, w.net.now + 2 * ZT_SEC);
	assert_int_equal(zt_peer_session_path(w.agent.peer, only_session(w.agent.peer), &ai), 0);
	assert_false(ai.direct);
	assert_string_equal(ai.last_reason, "data-stalled");
	assert_int_equal(ai.switches, 2);
	nh_run(&w.net, service_all, &w, w.net.now + 3 * ZT_SEC);
	assert_int_equal(t->recvd, 4000000);
	assert_false(t->corrupt || t->reset);
	(void)t_cut;

	/* the in-band echo goes the path the connection is on */
	w.pongs = 0;
	assert_int_equal(zt_peer_ping(w.agent.peer, w.net.now, "web", 77), 0);
	nh_run(&w.net, service_all, &w, w.net.now + 200 * ZT_MS);
	assert_int_equal(w.pongs, 1);
	assert_int_equal(w.pong_nonce, 77);
	assert_false(w.pong_direct);
	assert_true(zt_addr_equal(&w.pong_remote, &w.imd.addr));
	assert_true(w.pong_rtt >= 30 * ZT_MS); /* 2 x (5 + 10) ms through the relay */

	/* restored: direct again once the cooldown (3 s) is over */
	w.cut_direct = false;
	nh_run(&w.net, service_all, &w, w.net.now + 4 * ZT_SEC);
	assert_int_equal(zt_peer_session_path(w.agent.peer, only_session(w.agent.peer), &ai), 0);
	assert_true(ai.direct);
	assert_int_equal(ai.switches, 3);
	assert_true(ai.generation >= 2);
	t->to_send = 4500000;
	nh_run(&w.net, service_all, &w, w.net.now + 2 * ZT_SEC);
	assert_int_equal(t->recvd, 4500000);
	assert_int_equal(zt_peer_ping(w.agent.peer, w.net.now, "web", 78), 0);
	nh_run(&w.net, service_all, &w, w.net.now + 200 * ZT_MS);
	assert_int_equal(w.pongs, 2);
	assert_true(w.pong_direct);
	assert_true(zt_addr_equal(&w.pong_remote, &w.conn.addr));
	assert_true(w.pong_rtt >= 30 * ZT_MS && w.pong_rtt < 40 * ZT_MS); /* 2 x (5 + 10) ms */
	/* a service that does not exist: the session is refused, pings never answered */
	assert_int_equal(zt_peer_ping(w.agent.peer, w.net.now, "nosuch", 79), -EAGAIN);
	assert_false(t->corrupt || t->reset);
	world_fini(&w);
}

/* A session on the direct path for the replay tests. */
static struct tchan *direct_session(struct world *w, void **state)
{
	struct tchan *t;
	struct zt_peer_path_info ai;

	world_init(w, *state, 0);
	w->acfg.path = (struct zt_path_config){ 0 };
	w->ccfg.path = (struct zt_path_config){ 0 };
	start_connector(w);
	start_agent(w, "pw-alice");
	assert_true(nh_run(&w->net, both_ready, w, w->net.now + 3 * ZT_SEC));
	t = open_chan(w, "web", 300000, 45);
	t->send_fin = false;
	nh_run(&w->net, service_all, w, w->net.now + 2 * ZT_SEC);
	assert_int_equal(zt_peer_session_path(w->agent.peer, only_session(w->agent.peer), &ai), 0);
	assert_true(ai.direct);
	assert_int_equal(zt_addr_parse(&w->spoofer, "198.51.100.66:666", 0), 0);
	return t;
}

/*
 * HELLO sent and no answer: the Intermediate rejects a HELLO it did not get within its
 * 10 s, but its ERROR and close may be lost too; the agent connects again after
 * welcome_timeout (15 s) instead of waiting for the outer idle timeout (ztna-sim
 * --case 60442649 --real --max-loss 200000: the connector's HELLO did not arrive in
 * time, the rejection was lost, and it waited 33 s while the agent's refusals for
 * the missing service backed off to 32 s).
 */
static void unanswered_hello_connects_again(void **state)
{
	struct world w;
	uint64_t t0;

	world_init(&w, *state, 0);
	start_connector(&w);
	start_agent(&w, "pw-alice");
	assert_true(nh_run(&w.net, agent_in_hello, &w, w.net.now + 3 * ZT_SEC));
	w.cut_agent_imd = true;
	t0 = w.net.now;
	nh_run_for(&w.net, 14 * ZT_SEC);
	assert_int_equal(zt_peer_state(w.agent.peer), ZT_PEER_HELLO);
	assert_int_equal(w.downs, 0);
	nh_run(&w.net, NULL, NULL, t0 + 16 * ZT_SEC);
	assert_int_equal(w.downs, 1);
	assert_int_not_equal(zt_peer_state(w.agent.peer), ZT_PEER_READY);
	w.cut_agent_imd = false;
	assert_true(nh_run(&w.net, both_ready, &w, w.net.now + 5 * ZT_SEC));
	world_fini(&w);
}

/* Someone who sees the agent's direct packets replays them from its own address,
 * after the originals arrived (it cannot race them): duplicates, dropped; the
 * connector sends nothing to that address and the session stays direct, intact. */
static void replayed_packets_from_elsewhere_get_nothing(void **state)
{
	struct world w;
	struct tchan *t = direct_session(&w, state);
	struct zt_peer_path_info ai, ci;
	uint8_t old[1500];
	size_t old_len;

	for (int i = 0; i < 50; i++) {
		t->to_send += 54000; /* sending all along: the packets replayed carry data */
		nh_run(&w.net, service_all, &w, w.net.now + 5 * ZT_MS);
		assert_true(w.captured_len > 0);
		memcpy(old, w.captured, w.captured_len);
		old_len = w.captured_len;
		nh_run(&w.net, service_all, &w, w.net.now + 50 * ZT_MS); /* the original is in */
		nh_send(&w.net, &w.spoofer, &w.conn.addr, old, old_len);
	}
	nh_run(&w.net, service_all, &w, w.net.now + 2 * ZT_SEC);
	assert_int_equal(t->recvd, 3000000);
	assert_false(t->corrupt || t->reset);
	assert_true(w.from_spoofer > 5000);
	assert_int_equal(w.to_spoofer, 0);
	assert_int_equal(zt_peer_session_path(w.conn.peer, only_session(w.conn.peer), &ci), 0);
	assert_true(ci.direct);
	assert_true(zt_addr_equal(&ci.remote, &w.agent.addr));
	assert_int_equal(zt_peer_session_path(w.agent.peer, only_session(w.agent.peer), &ai), 0);
	assert_true(ai.direct);
	assert_int_equal(ai.switches, 1);
	world_fini(&w);
}

/* An attacker on the path that races the agent's packets (its copies arrive first,
 * RFC 9000 s9.3.3) makes the connector probe the attacker's address: it gets path
 * challenges only, within the 3x anti-amplification limit, never a validated path.
 * The worst it does is push the session onto the relay: no byte lost, no reset. */
static void racing_replays_only_cost_the_direct_path(void **state)
{
	struct world w;
	struct tchan *t = direct_session(&w, state);
	struct zt_peer_path_info ci;

	t->to_send = 3000000;
	for (int i = 0; i < 100; i++) {
		nh_run(&w.net, service_all, &w, w.net.now + 10 * ZT_MS);
		nh_send(&w.net, &w.spoofer, &w.conn.addr, w.captured, w.captured_len);
	}
	nh_run(&w.net, service_all, &w, w.net.now + 30 * ZT_SEC);
	assert_int_equal(t->recvd, 3000000);
	assert_false(t->corrupt || t->reset);
	assert_true(w.from_spoofer > 10000);
	assert_true(w.to_spoofer <= 3 * w.from_spoofer);
	assert_int_equal(zt_peer_session_path(w.conn.peer, only_session(w.conn.peer), &ci), 0);
	assert_false(zt_addr_equal(&ci.remote, &w.spoofer));
	world_fini(&w);
}

/* The Intermediate restarts while a session runs on the direct path: the session
 * goes on untouched, both ends re-attach it to the new Intermediate (OPEN with
 * SESSION_ID), so when the direct path dies later the relay is there again. */
static void direct_session_survives_intermediate_restart(void **state)
{
	struct world w;
	struct tchan *t = direct_session(&w, state);
	struct zt_peer_stats as, cs;
	struct zt_imd_stats is;
	struct zt_peer_path_info ai;

	t->to_send = 2000000;
	nh_run(&w.net, service_all, &w, w.net.now + 200 * ZT_MS);
	zt_imd_free(w.imd.imd);
	assert_int_equal(zt_imd_new(&w.imd.imd, &w.icfg, w.net.now), 0);
	nh_run(&w.net, service_all, &w, w.net.now + 8 * ZT_SEC);
	assert_int_equal(t->recvd, 2000000);
	assert_false(t->corrupt || t->reset);
	assert_true(agent_ready(&w, 0));
	zt_peer_stats(w.agent.peer, &as);
	zt_peer_stats(w.conn.peer, &cs);
	zt_imd_stats(w.imd.imd, &is);
	assert_int_equal(as.resets_received, 1); /* it did lose the Intermediate */
	assert_int_equal(as.sessions_resumed, 1);
	assert_int_equal(cs.sessions_resumed, 1);
	assert_int_equal(is.sessions_resumed, 1);
	assert_int_equal(is.sessions_opened, 1);

	/* now the direct path dies: the relay carries the rest */
	t->to_send = 5000000;
	nh_run(&w.net, service_all, &w, w.net.now + 20 * ZT_MS);
	w.cut_direct = true;
	nh_run(&w.net, service_all, &w, w.net.now + 4 * ZT_SEC);
	assert_int_equal(zt_peer_session_path(w.agent.peer, only_session(w.agent.peer), &ai), 0);
	assert_false(ai.direct);
	assert_int_equal(t->recvd, 5000000);
	assert_false(t->corrupt || t->reset);
	zt_imd_stats(w.imd.imd, &is);
	assert_true(is.relay_pkts > 100);
	world_fini(&w);
}

/* One end alone loses the Intermediate for longer than the outer idle timeout while
 * its session runs on the direct path. The Intermediate keeps the session for it
 * (orphan) without telling the other end; it comes back and re-attaches; the other
 * end saw nothing; and when the direct path dies later, the relay is there. */
static void one_end_blip(void **state, bool agent_side)
{
	struct world w;
	struct tchan *t;
	struct zt_peer_stats as, cs;
	struct zt_imd_stats is;
	struct zt_peer_path_info ai;

	world_init(&w, *state, 0);
	w.acfg.path = (struct zt_path_config){ 0 };
	w.ccfg.path = (struct zt_path_config){ 0 };
	w.acfg.outer_idle_timeout = w.ccfg.outer_idle_timeout = 3 * ZT_SEC;
	w.acfg.outer_keepalive = w.ccfg.outer_keepalive = 1 * ZT_SEC;
	start_connector(&w);
	start_agent(&w, "pw-alice");
	assert_true(nh_run(&w.net, both_ready, &w, w.net.now + 3 * ZT_SEC));
	t = open_chan(&w, "web", 300000, 46);
	t->send_fin = false;
	nh_run(&w.net, service_all, &w, w.net.now + 2 * ZT_SEC);
	assert_int_equal(zt_peer_session_path(w.agent.peer, only_session(w.agent.peer), &ai), 0);
	assert_true(ai.direct);

	t->to_send = 2000000;
	if (agent_side)
		w.cut_agent_imd = true;
	else
		w.cut_conn_imd = true;
	nh_run(&w.net, service_all, &w, w.net.now + 5 * ZT_SEC); /* both sides give up on it */
	w.cut_agent_imd = w.cut_conn_imd = false;
	nh_run(&w.net, service_all, &w, w.net.now + 5 * ZT_SEC); /* reconnects, re-attaches */
	assert_int_equal(t->recvd, 2000000);
	assert_false(t->corrupt || t->reset);
	zt_peer_stats(w.agent.peer, &as);
	zt_peer_stats(w.conn.peer, &cs);
	zt_imd_stats(w.imd.imd, &is);
	assert_int_equal(is.sessions_orphaned, 1);
	assert_int_equal(is.sessions_resumed, 1);
	assert_int_equal(is.orphans_expired, 0);
	assert_int_equal(as.sessions_resumed, agent_side ? 1 : 0);
	assert_int_equal(cs.sessions_resumed, agent_side ? 0 : 1);
	assert_int_equal(cs.sessions_opened, 1); /* the same session all along */
	assert_int_equal(as.sessions_opened, 1);

	/* the relay is there when the direct path dies */
	t->to_send = 5000000;
	nh_run(&w.net, service_all, &w, w.net.now + 20 * ZT_MS);
	w.cut_direct = true;
	nh_run(&w.net, service_all, &w, w.net.now + 4 * ZT_SEC);
	assert_int_equal(zt_peer_session_path(w.agent.peer, only_session(w.agent.peer), &ai), 0);
	assert_false(ai.direct);
	assert_int_equal(t->recvd, 5000000);
	assert_false(t->corrupt || t->reset);
	world_fini(&w);
}

static void agent_outer_blip_keeps_direct_session(void **state)
{
	one_end_blip(state, true);
}

static void connector_outer_blip_keeps_direct_session(void **state)
{
	one_end_blip(state, false);
}

/* An agent that never comes back: its orphaned session ends after the grace and the
 * connector is told then. */
static void orphan_expires_after_grace(void **state)
{
	struct world w;
	struct tchan *t;
	struct zt_imd_stats is;

	world_init(&w, *state, 0);
	zt_imd_free(w.imd.imd);
	w.icfg.orphan_grace = 4 * ZT_SEC;
	assert_int_equal(zt_imd_new(&w.imd.imd, &w.icfg, w.net.now), 0);
	w.acfg.path = (struct zt_path_config){ 0 };
	w.ccfg.path = (struct zt_path_config){ 0 };
	w.acfg.outer_idle_timeout = 3 * ZT_SEC;
	w.acfg.outer_keepalive = 1 * ZT_SEC;
	start_connector(&w);
	start_agent(&w, "pw-alice");
	assert_true(nh_run(&w.net, both_ready, &w, w.net.now + 3 * ZT_SEC));
	t = open_chan(&w, "web", 300000, 47);
	t->send_fin = false;
	nh_run(&w.net, service_all, &w, w.net.now + 2 * ZT_SEC);
	w.cut_agent_imd = true; /* for good */
	nh_run(&w.net, service_all, &w, w.net.now + 4 * ZT_SEC);
	zt_imd_stats(w.imd.imd, &is);
	assert_int_equal(is.sessions_orphaned, 1);
	assert_int_equal(is.orphans_expired, 0);
	assert_int_equal(w.sessions_closed, 0);
	nh_run(&w.net, service_all, &w, w.net.now + 5 * ZT_SEC);
	zt_imd_stats(w.imd.imd, &is);
	assert_int_equal(is.orphans_expired, 1);
	assert_int_equal(is.sessions, 0);
	{ /* the connector was told */
		uint32_t ids[4];
		assert_int_equal(zt_peer_session_ids(w.conn.peer, ids, 4), 0);
	}
	world_fini(&w);
}

/* Direct path disabled on the connector: it ignores the agent's candidates, the
 * agent's ICE gives up after 5 s, and the session stays on the relay untouched. */
static void direct_path_refused_stays_on_relay(void **state)
{
	struct world w;
	struct tchan *t;
	struct zt_peer_path_info ai;

	world_init(&w, *state, 0);
	w.acfg.path = (struct zt_path_config){ 0 };
	start_connector(&w);
	start_agent(&w, "pw-alice");
	assert_true(nh_run(&w.net, both_ready, &w, w.net.now + 3 * ZT_SEC));
	t = open_chan(&w, "web", 200000, 43);
	t->send_fin = false;
	nh_run(&w.net, service_all, &w, w.net.now + 7 * ZT_SEC);
	assert_int_equal(t->recvd, 200000);
	assert_int_equal(zt_peer_session_path(w.agent.peer, only_session(w.agent.peer), &ai), 0);
	assert_false(ai.direct);
	assert_int_equal(ai.switches, 0);
	assert_string_equal(ai.manager, "checking"); /* no START_CHECKS: nothing started */
	assert_int_equal(w.direct_pkts, 0);
	world_fini(&w);
}

/* Connector, per agent (issue 11): sockets (channels + flows) and flows are capped
 * over all the agent's sessions; a channel over the cap is reset with ZT_FWD_LIMIT,
 * which the agent sees; a new flow's datagram is dropped and counted. */
static unsigned count_chans(const struct world *w, bool agent, bool (*pred)(const struct tchan *))
{
	unsigned n = 0;

	for (int i = 0; i < MAX_CHANS; i++)
		n += w->chans[i].used && w->chans[i].agent == agent && pred(&w->chans[i]);
	return n;
}

static bool is_limited(const struct tchan *t)
{
	return t->reset && t->code == ZT_FWD_LIMIT;
}

static bool is_alive(const struct tchan *t)
{
	return t->ready && !t->reset && !t->failed;
}

static void agent_sockets_and_flows_are_capped(void **state)
{
	struct world w;
	struct zt_peer_stats cs;
	struct zt_peer_agent_info ai;
	uint8_t d[8] = "datagram";

	world_init(&w, *state, 0);
	w.ccfg.agent_max_sockets = 10;
	w.ccfg.agent_max_flows = 3;
	start_connector(&w);
	start_agent(&w, "pw-alice");
	assert_true(nh_run(&w.net, both_ready, &w, w.net.now + 3 * ZT_SEC));
	/* five flows: three taken, the other two's datagrams dropped */
	for (int i = 0; i < 5; i++) {
		struct tflow *a = tflow_new(&w, true);
		assert_int_equal(zt_peer_flow_open(w.agent.peer, w.net.now, "web", a, &a->f), 0);
		assert_int_equal(zt_peer_flow_send(a->f, w.net.now, d, sizeof(d)), 0);
	}
	for (int i = 0; i < 20; i++) {
		struct tchan *t = open_chan(&w, "web", 100, (uint64_t)i);
		t->send_fin = false;
	}
	nh_run(&w.net, service_all, &w, w.net.now + 2 * ZT_SEC);
	zt_peer_stats(w.conn.peer, &cs);
	assert_int_equal(cs.flows, 3);
	assert_int_equal(cs.limit_flow_dgrams, 2);
	/* 10 sockets: 3 flows + 7 channels; 13 channels reset with the limit code */
	assert_int_equal(count_chans(&w, true, is_alive), 7);
	assert_int_equal(count_chans(&w, true, is_limited), 13);
	assert_int_equal(cs.limit_chans, 13);
	assert_int_equal(zt_peer_agents(w.conn.peer, &ai, 1), 1);
	assert_string_equal(ai.identity, "ztna:agent:alice");
	assert_int_equal(ai.chans, 7);
	assert_int_equal(ai.flows, 3);
	assert_int_equal(ai.refused, 15);
	world_fini(&w);
}

/* The program's socket budget (its file descriptors): one agent gets at most a fair
 * share, total / (agents holding sockets + 1), so another agent still gets sockets. */
static void fair_share_leaves_room_for_another_agent(void **state)
{
	struct world w;
	struct zt_peer_stats cs;

	world_init(&w, *state, 0);
	w.ccfg.sockets_total = 30;
	start_connector(&w);
	start_agent(&w, "pw-alice");
	start_bob(&w);
	assert_true(nh_run(&w.net, both_ready, &w, w.net.now + 3 * ZT_SEC));
	for (int i = 0; i < 40; i++)
		open_chan(&w, "web", 100, (uint64_t)i)->send_fin = false;
	nh_run(&w.net, service_all, &w, w.net.now + 2 * ZT_SEC);
	/* alone, alice may hold 30 / 2 */
	assert_int_equal(count_chans(&w, true, is_alive), 15);
	assert_int_equal(count_chans(&w, true, is_limited), 25);
	/* bob: a share of 30 / 3 = 10 of what is left */
	for (int i = 0; i < 12; i++)
		open_chan_on(&w, w.bob.peer, "web", 100, (uint64_t)(100 + i))->send_fin = false;
	nh_run(&w.net, service_all, &w, w.net.now + 2 * ZT_SEC);
	assert_int_equal(count_chans(&w, true, is_alive), 15 + 10);
	assert_int_equal(count_chans(&w, true, is_limited), 25 + 2);
	zt_peer_stats(w.conn.peer, &cs);
	assert_int_equal(cs.limit_chans, 27);
	world_fini(&w);
}

/* A slow target: what the connector read for an agent but could not write on counts
 * against the agent's bytes in flight; at the limit the connector stops reading (the
 * agent is held back by flow control), and goes on when the target takes it. */
static void agent_bytes_in_flight_are_bounded(void **state)
{
	struct world w;
	struct tchan *t, *c = NULL;
	struct zt_peer_agent_info ai;

	world_init(&w, *state, 0);
	w.ccfg.agent_max_bytes = 256 * 1024;
	w.conn_sink = w.conn_hold = true;
	start_connector(&w);
	start_agent(&w, "pw-alice");
	assert_true(nh_run(&w.net, both_ready, &w, w.net.now + 3 * ZT_SEC));
	t = open_chan(&w, "web", 4 << 20, 0); /* seed 0: the connector sink checks with its own */
	nh_run(&w.net, service_all, &w, w.net.now + 3 * ZT_SEC);
	for (int i = 0; i < MAX_CHANS; i++)
		if (w.chans[i].used && !w.chans[i].agent)
			c = &w.chans[i];
	assert_non_null(c);
	/* read, not written on: the limit (and one read of at most 8 KiB) */
	assert_true(c->held >= 256 * 1024 - 8192 && c->held <= 256 * 1024 + 8192);
	assert_int_equal(zt_peer_agents(w.conn.peer, &ai, 1), 1);
	assert_true(ai.bytes >= 256 * 1024 - 8192);
	assert_true(t->sent < 4 << 20);
	/* the target takes it: reading goes on (READABLE comes) to the end */
	c->hold = false;
	zt_peer_chan_consumed(c->ch, (size_t)c->held);
	c->held = 0;
	nh_run(&w.net, service_all, &w, w.net.now + 10 * ZT_SEC);
	assert_int_equal(t->sent, 4 << 20);
	assert_int_equal(c->recvd, 4 << 20);
	assert_false(c->corrupt);
	world_fini(&w);
}

/* Sessions per agent: one more is refused (CLOSE, ZT_EBUSY), the agent's channel fails. */
static void agent_sessions_are_capped(void **state)
{
	struct world w;
	struct tchan *a, *b;
	struct zt_peer_stats cs;
	struct zt_peer_refusal r;
	struct zt_peer_chan *ch;
	const char *why;

	world_init(&w, *state, 0);
	w.ccfg.agent_max_sessions = 1;
	assert_int_equal(zt_policy_add_allow(w.policy, "alice=db", &why), 0);
	start_connector(&w);
	start_agent(&w, "pw-alice");
	assert_true(nh_run(&w.net, both_ready, &w, w.net.now + 3 * ZT_SEC));
	a = open_chan(&w, "web", 1000, 1);
	run_chan(&w, a, 5 * ZT_SEC);
	assert_int_equal(a->recvd, 1000);
	a = open_chan(&w, "web", 1000, 2);
	a->send_fin = false;
	b = open_chan(&w, "db", 1000, 3);
	nh_run(&w.net, service_all, &w, w.net.now + 2 * ZT_SEC);
	assert_true(is_alive(a));
	assert_true(b->failed);
	assert_int_equal(b->code, ZT_EBUSY);
	zt_peer_stats(w.conn.peer, &cs);
	assert_int_equal(cs.limit_sessions, 1);
	/* remembered at the agent like a refused OPEN (a temporary one: 1 s, doubling up
	 * to 30 s): a channel to db within the hold fails at once, no new session */
	assert_int_equal(zt_peer_refusal(w.agent.peer, "db", &r), 0);
	assert_int_equal(r.code, ZT_EBUSY);
	assert_int_equal(r.retry_at - r.at, 1 * ZT_SEC);
	b = open_chan(&w, "db", 1000, 4);
	nh_run(&w.net, service_all, &w, w.net.now + 500 * ZT_MS);
	assert_true(b->failed);
	assert_int_equal(zt_peer_refusal(w.agent.peer, "db", &r), 0);
	assert_int_equal(r.retry_at - r.at, 2 * ZT_SEC);
	assert_int_equal(zt_peer_chan_open(w.agent.peer, w.net.now, "db", NULL, &ch), ZT_EBUSY);
	world_fini(&w);
}

/*
 * Two programs with one identity (the same agent started twice): the Intermediate lets
 * the newer login replace the older (ERROR 1508). The replaced one must back off long
 * (a refused login: 5 s, doubling), not log in again at once: over 60 s they replace
 * each other a handful of times, not several times a second.
 */
static void same_identity_twice_does_not_flap(void **state)
{
	struct world w;
	struct zt_imd_stats is;
	struct zt_peer_refusal r;
	struct zt_peer_stats a, b;

	world_up(&w, *state, 0);
	/* the second alice: bob's slot, alice's certificate and token */
	w.b_outer = nh_tls(w.f, ZT_TLS_CLIENT, ZT_ALPN_OUTER, &w.f->pki.q.alice, false);
	w.b_inner = nh_tls(w.f, ZT_TLS_CLIENT, ZT_ALPN_INNER, &w.f->pki.q.alice, false);
	nh_ep_init(&w.bob, &w.net, NH_PEER, "127.0.0.4:5000", 5 * ZT_MS);
	w.bcfg = w.acfg;
	w.bcfg.local = w.bob.local;
	w.bcfg.outer_tls = w.b_outer;
	w.bcfg.inner_tls = w.b_inner;
	assert_int_equal(zt_peer_new(&w.bob.peer, &w.bcfg, w.net.now), 0);
	nh_run(&w.net, service_all, &w, w.net.now + 60 * ZT_SEC);
	zt_imd_stats(w.imd.imd, &is);
	zt_peer_stats(w.agent.peer, &a);
	zt_peer_stats(w.bob.peer, &b);
	/* 2.5..5 s, 2.5..5, 5..10, 5..10, 10..20, 10..20 s: at most ~12 in 60 s */
	assert_true(is.replaced >= 2);
	assert_true(is.replaced <= 12);
	assert_true(a.connects + b.connects <= 14);
	assert_true(zt_peer_refusal(w.agent.peer, NULL, &r) == 0 || zt_peer_refusal(w.bob.peer, NULL, &r) == 0);
	assert_int_equal(r.code, ZT_EREPLACED);
	world_fini(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(stream_through_the_relay),
		cmocka_unit_test(failover_to_the_next_intermediate),
		cmocka_unit_test(failover_on_silence_with_the_default_timeouts),
		cmocka_unit_test(held_relayed_ends_leave_a_dead_intermediate),
		cmocka_unit_test(relayed_session_waits_for_the_later_end),
		cmocka_unit_test(relayed_session_given_up_leaves_no_timer),
		cmocka_unit_test(relayed_session_given_up_without_intermediates),
		cmocka_unit_test(clients_go_back_home),
		cmocka_unit_test(nearest_intermediate_becomes_home),
		cmocka_unit_test(relay_channel_carries_the_stream),
		cmocka_unit_test(relay_channel_off_on_either_side),
		cmocka_unit_test(relay_channel_survives_rebinding),
		cmocka_unit_test(agent_learns_its_tunnel_addresses),
		cmocka_unit_test(packet_tunnel_both_ways),
		cmocka_unit_test(tunnel_flood_is_cut_per_agent),
		cmocka_unit_test(writer_within_writable_is_woken),
		cmocka_unit_test(many_channels_one_session),
		cmocka_unit_test(reset_propagates),
		cmocka_unit_test(refusals_fail_channels_with_codes),
		cmocka_unit_test(wrong_token_backs_off),
		cmocka_unit_test(tls_failure_backs_off_long),
		cmocka_unit_test(transport_refused_by_policy_backs_off),
		cmocka_unit_test(refused_open_is_not_retried_at_once),
		cmocka_unit_test(refusal_hold_is_capped),
		cmocka_unit_test(intermediate_restart_recovers),
		cmocka_unit_test(connector_restart_recovers),
		cmocka_unit_test(udp_flow_echo_and_idle_timeout),
		cmocka_unit_test(garbage_to_a_peer_is_counted),
		cmocka_unit_test(quota_ends_session_and_next_use_reopens),
		cmocka_unit_test(slow_reader_is_bounded),
		cmocka_unit_test(inner_connection_migrates_direct_and_back),
		cmocka_unit_test(portmap_mapping_offered_and_deleted),
		cmocka_unit_test(portmap_external_mapping_offered),
		cmocka_unit_test(direct_path_chosen_cut_and_restored),
		cmocka_unit_test(connector_follows_back_right_after_going_direct),
		cmocka_unit_test(small_direct_path_stays_direct),
		cmocka_unit_test(fallback_asks_the_shell_to_refresh_its_mapping),
		cmocka_unit_test(direct_path_refused_stays_on_relay),
		cmocka_unit_test(replayed_packets_from_elsewhere_get_nothing),
		cmocka_unit_test(racing_replays_only_cost_the_direct_path),
		cmocka_unit_test(direct_session_survives_intermediate_restart),
		cmocka_unit_test(agent_outer_blip_keeps_direct_session),
		cmocka_unit_test(connector_outer_blip_keeps_direct_session),
		cmocka_unit_test(orphan_expires_after_grace),
		cmocka_unit_test(agent_sockets_and_flows_are_capped),
		cmocka_unit_test(fair_share_leaves_room_for_another_agent),
		cmocka_unit_test(agent_bytes_in_flight_are_bounded),
		cmocka_unit_test(agent_sessions_are_capped),
		cmocka_unit_test(same_identity_twice_does_not_flap),
		cmocka_unit_test(unanswered_hello_connects_again),
		cmocka_unit_test(tcp_outer_agent_to_udp_connector),
		cmocka_unit_test(tcp_outer_both_ends),
		cmocka_unit_test(tcp_outer_restart_and_close),
		cmocka_unit_test(auto_prefers_udp),
		cmocka_unit_test(auto_falls_back_to_tcp),
		cmocka_unit_test(eyeballs_silent_v6_falls_back_to_v4),
		cmocka_unit_test(eyeballs_v6_first_wins),
		cmocka_unit_test(auto_moves_back_to_udp),
		cmocka_unit_test(tcp_outer_refused_is_reported),
		cmocka_unit_test(tcp_reset_keeps_relayed_sessions),
		cmocka_unit_test(tcp_direct_path_and_fallback),
		cmocka_unit_test(tcp_direct_path_blocked_stays_relayed),
		cmocka_unit_test(tcp_direct_path_off),
	};

	if (getenv("TEST_FILTER")) /* one test by name (a glob), while working on it */
		cmocka_set_test_filter(getenv("TEST_FILTER"));
	return cmocka_run_group_tests(tests, nh_fixture_setup, nh_fixture_teardown);
}
