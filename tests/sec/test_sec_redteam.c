/*
 * An adversarial review of the issue 11 hardening (the Intermediate's control plane):
 * authenticated but hostile agents and connectors trying to reach, disturb or take
 * over sessions that are not theirs. Each test names what it tries; the ones marked
 * "finding" failed on the code before their fix.
 *
 *   alice, bob (agents) ---.
 *                           +--- Intermediate 127.0.0.1:4433
 *   c1 (web), c2 (db) -----'
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/stun.h"
#include "core/units.h"
#include "node/relay.h"
#include "node_harness.h"

/* What a raw client saw, by session: CANDIDATES and CLOSEs received. */
struct seen {
	uint32_t watch;            /* the session counted */
	size_t cands, closes;      /* for it */
	size_t cands_all;
};

/* A policer on the way to one address: a link of `rate` bytes/s (burst 16 KiB);
 * what does not fit is lost, and QUIC's congestion control settles to the rate. */
struct policer {
	struct zt_addr to;
	uint64_t rate, at, tokens;
};

static bool police(void *arg, const struct nh_pkt *p)
{
	struct policer *pl = arg;
	uint64_t cap = 16 * 1024 * ZT_SEC;

	if (!zt_addr_equal(&p->to, &pl->to))
		return false;
	if (p->at > pl->at) {
		pl->tokens += (p->at - pl->at) * pl->rate;
		pl->at = p->at;
	}
	if (pl->tokens > cap)
		pl->tokens = cap;
	if (pl->tokens < p->len * ZT_SEC)
		return true;
	pl->tokens -= p->len * ZT_SEC;
	return false;
}

struct world {
	struct nh_world nw; /* the Intermediate, alice, bob, c1, c2 */
	struct policer c1_link;
	struct seen c1_seen, c2_seen, alice_seen, bob_seen;
};

static void on_msg(struct nh_ep *e, const struct zt_ctrl_msg *m, void *arg)
{
	struct seen *s = arg;
	(void)e;

	if (m->type == ZT_CTRL_CANDIDATES) {
		s->cands_all++;
		s->cands += m->u.cands.session_id == s->watch;
	}
	if (m->type == ZT_CTRL_CLOSE)
		s->closes += m->u.close.session_id == s->watch;
}

static void world_init(struct world *w, struct nh_fixture *f)
{
	static const char *const policy[] = {
		"client agent:alice:pw-alice", "client agent:bob:pw-bob",
		"client connector:c1:pw-c1", "client connector:c2:pw-c2",
		"allow alice=web", "allow bob=web,db", "serve c1=web", "serve c2=db", NULL,
	};

	memset(w, 0, sizeof(*w));
	nh_world_init(&w->nw, f, policy);
	w->nw.alice.lat = 2 * ZT_MS;
	nh_world_start(&w->nw);
}

static void login(struct world *w, struct nh_ep *e, struct zt_tls_ctx *tls, uint8_t role,
		  const char *name, const char *service, struct seen *seen)
{
	nh_raw_login(e, tls, &w->nw.imd.addr, role, name, NULL, service);
	e->raw.on_msg = on_msg;
	e->raw.on_msg_arg = seen;
}

/* alice's session to web (through c1); returns its id. */
static uint32_t open_web(struct world *w, struct nh_ep *agent, uint64_t request)
{
	size_t before = nh_raw_total(agent, ZT_CTRL_SESSION);
	const struct zt_ctrl_msg *m;

	assert_int_equal(nh_raw_open(agent, request, "web", 0), 0);
	assert_true(nh_wait_total(&w->nw.net, agent, ZT_CTRL_SESSION, before + 1, 3 * ZT_SEC));
	m = nh_raw_last(agent, ZT_CTRL_SESSION);
	assert_int_equal(m->u.session.request_id, request);
	return (uint32_t)m->u.session.session_id;
}

/* CANDIDATES for session id: n candidates, every string field as long as allowed (the
 * largest message a client may send). */
static void big_candidates(struct zt_ctrl_msg *m, uint32_t id, uint32_t seq, unsigned n)
{
	struct zt_ctrl_candidates *cd = &m->u.cands;

	zt_ctrl_msg_init(m, ZT_CTRL_CANDIDATES);
	cd->session_id = id;
	memset(cd->ufrag, 'u', ZT_CTRL_STR_MAX);
	memset(cd->pwd, 'p', ZT_CTRL_STR_MAX);
	cd->seq = seq;
	cd->n_cands = (uint8_t)n;
	for (unsigned i = 0; i < n; i++) {
		struct zt_cand *c = &cd->cands[i];
		c->type = ZT_CAND_SRFLX;
		c->component = 1;
		c->priority = 1000 + i;
		memset(c->foundation, 'f', ZT_CAND_FOUNDATION_MAX);
		assert_int_equal(zt_addr_parse(&c->addr, "2001:db8::1", 9), 0);
		c->addr.port = (uint16_t)(1000 + i);
		c->related = c->addr;
	}
}

/* alice's signaling for her sessions: every session's CANDIDATES as often as the
 * Intermediate's per-session message limit allows (32 per 10 s), each as big as
 * allowed, for d. Returns the messages sent. */
static size_t pump(struct world *w, struct zt_ctrl_msg *m, const uint32_t *ids, size_t n,
		   uint64_t d)
{
	uint64_t end = w->nw.net.now + d;
	size_t sent = 0;
	uint32_t seq = 0;

	while (w->nw.net.now < end) {
		for (size_t i = 0; i < n; i++) {
			big_candidates(m, ids[i], seq, ZT_CTRL_CANDS_MAX);
			sent += nh_raw_send(&w->nw.alice, m) == 0;
		}
		seq++;
		nh_run_for(&w->nw.net, 10 * ZT_SEC / 32);
	}
	return sent;
}

/*
 * Finding: one agent backs a connector up with signaling alone. CANDIDATES were
 * forwarded as long as the receiver was not backed up (ctrl-busy), and each session
 * could send 32 of them per 10 s, each up to ~4 KiB: alice's 16 sessions (the
 * connector's default per-agent limit) carried up to 200 KiB/s of signaling, within
 * her control-message budget. The connector, backed up by it, got no new session
 * (bob's OPEN waited for it to drain), and bob's CANDIDATES were dropped behind
 * alice's. The documented rule is that one agent alone does not back a connector up.
 */
static void candidates_do_not_back_up_the_connector(void **state)
{
	struct world w;
	struct zt_ctrl_msg *m = malloc(sizeof(*m));
	struct zt_imd_stats st;
	uint32_t ids[16], bob_id;
	size_t sent;

	assert_non_null(m);
	world_init(&w, *state);
	login(&w, &w.nw.c1, w.nw.c1_tls, ZT_CTRL_ROLE_CONNECTOR, "c1", "web", &w.c1_seen);
	login(&w, &w.nw.alice, w.nw.alice_tls, ZT_CTRL_ROLE_AGENT, "alice", NULL, &w.alice_seen);
	login(&w, &w.nw.bob, w.nw.bob_tls, ZT_CTRL_ROLE_AGENT, "bob", NULL, &w.bob_seen);
	for (unsigned i = 0; i < 16; i++)
		ids[i] = open_web(&w, &w.nw.alice, 100 + i);
	/* c1's downlink: 64 KB/s (a DSL line's; in the harness links have no rate). */
	w.c1_link = (struct policer){ .to = w.nw.c1.addr, .rate = 64000, .at = w.nw.net.now };
	w.nw.net.tap = police;
	w.nw.net.tap_arg = &w.c1_link;
	sent = pump(&w, m, ids, 16, 2 * ZT_SEC);
	/* bob, a bystander, asks for web while alice goes on, and signals for it. */
	assert_int_equal(nh_raw_open(&w.nw.bob, 1, "web", 0), 0);
	sent += pump(&w, m, ids, 16, 400 * ZT_MS);
	assert_int_equal(nh_raw_total(&w.nw.bob, ZT_CTRL_SESSION), 1);
	bob_id = (uint32_t)nh_raw_last(&w.nw.bob, ZT_CTRL_SESSION)->u.session.session_id;
	w.c1_seen.watch = bob_id;
	big_candidates(m, bob_id, 0, 4);
	assert_int_equal(nh_raw_send(&w.nw.bob, m), 0);
	sent += pump(&w, m, ids, 16, 600 * ZT_MS);
	zt_imd_stats(w.nw.imd.imd, &st);
	print_message("# alice sent %zu CANDIDATES (%zu reached c1, %" PRIu64 " dropped); bob's OPEN "
		      "held: %" PRIu64 ", his CANDIDATES at c1: %zu\n",
		      sent, w.c1_seen.cands_all, st.ctrl_fwd_dropped, st.held, w.c1_seen.cands);
	assert_int_equal(st.held, 0);       /* bob's OPEN did not wait for c1 to drain */
	assert_int_equal(w.c1_seen.cands, 1); /* and his signaling got through */
	nh_world_fini(&w.nw);
	free(m);
}

/* Counts what the Intermediate sends to one address. */
struct counter {
	struct zt_addr to;
	size_t pkts, bytes;
};

static bool count_to(void *arg, const struct nh_pkt *p)
{
	struct counter *c = arg;

	if (zt_addr_equal(&p->to, &c->to)) {
		c->pkts++;
		c->bytes += p->len;
	}
	return false;
}

/* A STUN Binding request (20 bytes, the smallest), its transaction ID the time. */
static size_t binding_request(struct world *w, uint8_t *buf, size_t cap)
{
	struct zt_stun_builder b;
	uint8_t tid[12];

	memset(tid, 0, sizeof(tid));
	memcpy(tid, &w->nw.net.now, sizeof(w->nw.net.now));
	zt_stun_build_init(&b, buf, cap, ZT_STUN_BINDING, ZT_STUN_REQUEST, tid);
	return (size_t)zt_stun_build_finish(&b);
}

/*
 * Finding (anyone on the Internet): the Intermediate answers STUN Binding requests
 * from anyone, and a source address can be spoofed. Every request was answered: a
 * 20-byte request gets a 56-byte answer (2.8 times the bytes, IPv4; up to 124 for
 * IPv6), without a rate bound, so the Intermediate reflected and amplified a flood
 * at any victim. Stateless resets and INVALID_TOKEN closes had a budget; STUN did
 * not. Now answers take from a budget per destination IP and in all.
 */
static void stun_answers_to_one_address_are_bounded(void **state)
{
	struct world w;
	struct counter victim = { 0 }, other = { 0 };
	struct zt_addr vaddr, oaddr;
	uint8_t req[64];
	size_t n, sent = 0;

	world_init(&w, *state);
	assert_int_equal(zt_addr_parse(&vaddr, "198.51.100.7", 53), 0);
	assert_int_equal(zt_addr_parse(&oaddr, "203.0.113.9", 40000), 0);
	victim.to = vaddr;
	w.nw.net.tap = count_to;
	w.nw.net.tap_arg = &victim;
	/* 10 s of 1,000 spoofed requests a second "from" the victim. */
	for (int ms = 0; ms < 10000; ms++) {
		n = binding_request(&w, req, sizeof(req));
		nh_send(&w.nw.net, &vaddr, &w.nw.imd.addr, req, n);
		sent++;
		nh_run_for(&w.nw.net, ZT_MS);
	}
	print_message("# %zu spoofed requests (%zu bytes): %zu answers to the victim, %zu bytes\n",
		      sent, sent * n, victim.pkts, victim.bytes);
	assert_true(victim.pkts <= 80 + 10 * 10 + 1);
	/* Someone else asking meanwhile is answered. */
	other.to = oaddr;
	w.nw.net.tap_arg = &other;
	n = binding_request(&w, req, sizeof(req));
	nh_send(&w.nw.net, &oaddr, &w.nw.imd.addr, req, n);
	nh_run_for(&w.nw.net, 10 * ZT_MS);
	assert_int_equal(other.pkts, 1);
	nh_world_fini(&w.nw);
}

static void path_report(struct nh_ep *e, uint32_t id, uint8_t path)
{
	struct zt_ctrl_msg m;

	zt_ctrl_msg_init(&m, ZT_CTRL_PATH_REPORT);
	m.u.path.session_id = id;
	m.u.path.path = path;
	assert_int_equal(nh_raw_send(e, &m), 0);
}

static void send_close(struct nh_ep *e, uint32_t id, uint32_t reason)
{
	struct zt_ctrl_msg m;

	zt_ctrl_msg_init(&m, ZT_CTRL_CLOSE);
	m.u.close.session_id = id;
	m.u.close.reason = reason;
	assert_int_equal(nh_raw_send(e, &m), 0);
}

/* e's connection ends (its program stopped: CONNECTION_CLOSE, as on a restart). */
static void drop_connection(struct world *w, struct nh_ep *e)
{
	zt_quic_conn_close(e->raw.conn, 0, "restart");
	nh_run_for(&w->nw.net, 200 * ZT_MS);
}

/*
 * Finding (the redundancy choice): a session on the direct path whose agent lost
 * the Intermediate is kept for it (orphan), and the agent re-attaches it with OPEN +
 * SESSION_ID. With two connectors serving the service, the Intermediate sent that
 * OPEN to the connector with the fewest sessions, as for a new session: not the
 * session's own (which still counts it), so the re-attachment failed (ERROR 1504,
 * "in use"); the agent gave up, and 30 s later the orphan expired and the connector
 * was told to end the session, which was working on its direct path all along.
 */
static void resume_goes_to_the_sessions_connector(void **state)
{
	struct world w;
	const struct zt_ctrl_msg *m;
	struct zt_imd_stats st;
	uint32_t id;

	world_init(&w, *state);
	assert_int_equal(zt_policy_add_serve(w.nw.policy, "c2=web", &(const char *){ NULL }), 0);
	login(&w, &w.nw.c2, w.nw.c2_tls, ZT_CTRL_ROLE_CONNECTOR, "c2", "web", &w.c2_seen);
	login(&w, &w.nw.c1, w.nw.c1_tls, ZT_CTRL_ROLE_CONNECTOR, "c1", "web", &w.c1_seen);
	login(&w, &w.nw.alice, w.nw.alice_tls, ZT_CTRL_ROLE_AGENT, "alice", NULL, &w.alice_seen);
	id = open_web(&w, &w.nw.alice, 1); /* a tie: the most recently registered, c1 */
	assert_string_equal(nh_raw_last(&w.nw.alice, ZT_CTRL_SESSION)->u.session.peer_identity,
			    "ztna:connector:c1");
	w.c1_seen.watch = w.c2_seen.watch = id;
	path_report(&w.nw.alice, id, ZT_CTRL_PATH_DIRECT);
	nh_run_for(&w.nw.net, 100 * ZT_MS);
	drop_connection(&w, &w.nw.alice);
	zt_imd_stats(w.nw.imd.imd, &st);
	assert_int_equal(st.sessions_orphaned, 1);
	/* alice is back and asks for her session again */
	login(&w, &w.nw.alice, w.nw.alice_tls, ZT_CTRL_ROLE_AGENT, "alice", NULL, &w.alice_seen);
	assert_int_equal(nh_raw_open(&w.nw.alice, 2, "web", id), 0);
	nh_run_for(&w.nw.net, 500 * ZT_MS);
	m = nh_raw_last(&w.nw.alice, ZT_CTRL_SESSION);
	assert_non_null(m);
	assert_int_equal(m->u.session.session_id, id);
	assert_int_equal(m->u.session.request_id, 2);
	assert_string_equal(m->u.session.peer_identity, "ztna:connector:c1");
	assert_int_equal(nh_raw_total(&w.nw.c2, ZT_CTRL_SESSION), 0);
	/* and the grace passes without the session ending */
	nh_run_alive(&w.nw.net, 35 * ZT_SEC);
	assert_int_equal(w.c1_seen.closes, 0);
	zt_imd_stats(w.nw.imd.imd, &st);
	assert_int_equal(st.orphans_expired, 0);
	assert_int_equal(st.sessions_resumed, 1);
	nh_world_fini(&w.nw);
}

/*
 * Suspicions (cleared): a party reaching into a session that is not its own. bob (an
 * agent allowed to web) and c2 (a connector of db) name alice's session to web in
 * every message that carries a session id, and in relayed datagrams; bob asks to
 * re-attach it; c2 logs in again while the session waits for its connector c1.
 * Nothing reaches or changes the session: it ends only with its own ends.
 */
static void others_sessions_are_out_of_reach(void **state)
{
	struct world w;
	struct zt_ctrl_msg m;
	struct zt_imd_session_info si;
	struct zt_imd_stats st;
	uint8_t pkt[64];
	uint32_t id;
	size_t c1_dgrams;

	world_init(&w, *state);
	login(&w, &w.nw.c1, w.nw.c1_tls, ZT_CTRL_ROLE_CONNECTOR, "c1", "web", &w.c1_seen);
	login(&w, &w.nw.c2, w.nw.c2_tls, ZT_CTRL_ROLE_CONNECTOR, "c2", "db", &w.c2_seen);
	login(&w, &w.nw.alice, w.nw.alice_tls, ZT_CTRL_ROLE_AGENT, "alice", NULL, &w.alice_seen);
	login(&w, &w.nw.bob, w.nw.bob_tls, ZT_CTRL_ROLE_AGENT, "bob", NULL, &w.bob_seen);
	id = open_web(&w, &w.nw.alice, 1);
	w.c1_seen.watch = w.alice_seen.watch = id;
	c1_dgrams = w.nw.c1.raw.ndgrams;
	for (int k = 0; k < 2; k++) {
		struct nh_ep *e = k ? &w.nw.c2 : &w.nw.bob;
		size_t errors = nh_raw_total(e, ZT_CTRL_ERROR);
		send_close(e, id, (uint32_t)-ZT_EPOLICY);
		path_report(e, id, ZT_CTRL_PATH_DIRECT);
		big_candidates(&m, id, 0, 2);
		assert_int_equal(nh_raw_send(e, &m), 0);
		zt_relay_hdr_write(pkt, sizeof(pkt), id);
		memcpy(pkt + ZT_RELAY_HDR_LEN, "not yours", 9);
		assert_int_equal(zt_quic_dgram_send(e->raw.conn, pkt, ZT_RELAY_HDR_LEN + 9), 0);
		nh_run_for(&w.nw.net, 300 * ZT_MS);
		/* CANDIDATES: "no such session", as for an id nobody has */
		assert_int_equal(nh_raw_total(e, ZT_CTRL_ERROR), errors + 1);
		assert_int_equal(nh_raw_last(e, ZT_CTRL_ERROR)->u.error.code, (uint32_t)-ZT_ESTATE);
	}
	/* bob asks to re-attach alice's session: refused ("in use"), not moved to him */
	assert_int_equal(nh_raw_open(&w.nw.bob, 7, "web", id), 0);
	nh_run_for(&w.nw.net, 300 * ZT_MS);
	assert_int_equal(nh_raw_last(&w.nw.bob, ZT_CTRL_ERROR)->u.error.code, (uint32_t)-ZT_ESTATE);
	assert_int_equal(nh_raw_last(&w.nw.bob, ZT_CTRL_ERROR)->u.error.request_id, 7);
	assert_int_equal(nh_raw_total(&w.nw.bob, ZT_CTRL_SESSION), 0);
	assert_int_equal(zt_imd_session_info(w.nw.imd.imd, id, &si), 0);
	assert_string_equal(si.agent, "ztna:agent:alice");
	assert_int_equal(w.c1_seen.closes + w.alice_seen.closes, 0);
	assert_int_equal(w.c1_seen.cands, 0);
	assert_int_equal(w.nw.c1.raw.ndgrams, c1_dgrams);
	zt_imd_stats(w.nw.imd.imd, &st);
	assert_int_equal(st.relay_dropped_unknown, 2);
	/* alice's own report puts it on the direct path; c1 goes: it waits for c1 */
	path_report(&w.nw.alice, id, ZT_CTRL_PATH_DIRECT);
	nh_run_for(&w.nw.net, 100 * ZT_MS);
	drop_connection(&w, &w.nw.c1);
	zt_imd_stats(w.nw.imd.imd, &st);
	assert_int_equal(st.sessions_orphaned, 1);
	/* c2 logging in again (also naming web) does not take it up; c1 does */
	drop_connection(&w, &w.nw.c2);
	nh_raw_login(&w.nw.c2, w.nw.c2_tls, &w.nw.imd.addr, ZT_CTRL_ROLE_CONNECTOR, "c2", NULL,
		     "db,web");
	nh_run_for(&w.nw.net, 300 * ZT_MS);
	assert_int_equal(nh_raw_total(&w.nw.c2, ZT_CTRL_SESSION), 0);
	assert_int_equal(nh_raw_last(&w.nw.c2, ZT_CTRL_ERROR)->u.error.code, (uint32_t)-ZT_ENOTSERVER);
	login(&w, &w.nw.c1, w.nw.c1_tls, ZT_CTRL_ROLE_CONNECTOR, "c1", "web", &w.c1_seen);
	nh_run_for(&w.nw.net, 300 * ZT_MS);
	assert_int_equal(nh_raw_total(&w.nw.c1, ZT_CTRL_SESSION), 1);
	assert_int_equal(nh_raw_last(&w.nw.c1, ZT_CTRL_SESSION)->u.session.session_id, id);
	nh_world_fini(&w.nw);
}

/* ---- A session kept on its direct path across an Intermediate restart ---- */

/* The shells of the real agent and connector: a channel is kept open, nothing more. */
static void keep_chan(struct zt_peer *p, void *arg, struct zt_peer_chan *ch, const char *service)
{
	(void)p;
	(void)arg;
	(void)ch;
	(void)service;
}

static void chan_event(struct zt_peer *p, void *arg, struct zt_peer_chan *ch, void *carg,
		       enum zt_peer_chan_event ev, int code)
{
	(void)p;
	(void)arg;
	(void)carg;
	(void)code;
	if (ev == ZT_PEER_CHAN_RESET || ev == ZT_PEER_CHAN_FAILED)
		zt_peer_chan_release(ch, 0);
}

struct kept {
	struct world w;               /* alice and c1 are real programs here */
	struct zt_tls_ctx *a_inner, *web_tls;
	struct zt_peer_service web;
	struct zt_peer_callbacks acb, ccb;
	struct zt_peer_config acfg, ccfg;
	bool cut_alice;               /* alice <-> Intermediate lost */
	uint32_t id;
};

static bool kept_tap(void *arg, const struct nh_pkt *p)
{
	struct kept *k = arg;
	const struct zt_addr *a = &k->w.nw.alice.addr, *i = &k->w.nw.imd.addr;

	return k->cut_alice && ((zt_addr_equal(&p->from, a) && zt_addr_equal(&p->to, i)) ||
				(zt_addr_equal(&p->from, i) && zt_addr_equal(&p->to, a)));
}

static bool peer_ready(void *arg, uint64_t now)
{
	struct zt_peer *p = arg;
	(void)now;
	return zt_peer_state(p) == ZT_PEER_READY;
}

static bool welcomed_twice(void *arg, uint64_t now)
{
	struct zt_peer_stats st;
	(void)now;

	zt_peer_stats(arg, &st);
	return st.welcomes >= 2;
}

/* The state of session id at p (ZT_PEER_S_CLOSED when it is gone). */
static enum zt_peer_session_state session_state(struct zt_peer *p, uint32_t id)
{
	struct zt_peer_session_info si;

	return zt_peer_session_info(p, id, &si) == 0 ? si.state : ZT_PEER_S_CLOSED;
}

/*
 * alice (a real agent) and c1 (a real connector, serving web, which c2 may serve
 * too) with a session on the direct path; then the Intermediate restarts, c1 comes
 * back and alice, cut off from it for now, does not yet: both keep the session
 * (detached), waiting to re-attach it.
 */
static void kept_session(struct kept *k, struct nh_fixture *f)
{
	struct world *w = &k->w;
	struct zt_peer_chan *ch;
	struct zt_peer_path_info ai;
	const char *why;

	memset(k, 0, sizeof(*k));
	world_init(w, f);
	/* with a reset key, a restarted Intermediate answers the old connections'
	 * packets with a Stateless Reset and they reconnect at once */
	zt_imd_free(w->nw.imd.imd);
	w->nw.icfg.reset_key = (const uint8_t *)"0123456789abcdef0123456789abcdef";
	w->nw.icfg.reset_key_len = 32;
	assert_int_equal(zt_imd_new(&w->nw.imd.imd, &w->nw.icfg, w->nw.net.now), 0);
	assert_int_equal(zt_policy_add_serve(w->nw.policy, "c2=web", &why), 0);
	w->nw.net.tap = kept_tap;
	w->nw.net.tap_arg = k;
	k->a_inner = nh_tls(f, ZT_TLS_CLIENT, ZT_ALPN_INNER, &f->pki.q.alice, false);
	k->web_tls = nh_tls(f, ZT_TLS_SERVER, ZT_ALPN_INNER, &f->pki.q.web, true);
	k->web = (struct zt_peer_service){ .name = "web", .tls = k->web_tls };
	k->acb = (struct zt_peer_callbacks){ .chan_event = chan_event };
	k->ccb = (struct zt_peer_callbacks){ .chan_accept = keep_chan, .chan_event = chan_event };
	w->nw.alice.kind = w->nw.c1.kind = NH_PEER;
	k->acfg = (struct zt_peer_config){
		.role = ZT_CTRL_ROLE_AGENT, .name = "alice",
		.token = (const uint8_t *)"pw-alice", .token_len = 8,
		.intermediate = w->nw.imd.addr, .local = w->nw.alice.local,
		.outer_tls = w->nw.alice_tls, .inner_tls = k->a_inner, .rng = &f->rng,
		.cb = &k->acb, .log = nh_node_log("alice"),
	};
	k->ccfg = (struct zt_peer_config){
		.role = ZT_CTRL_ROLE_CONNECTOR, .name = "c1",
		.token = (const uint8_t *)"pw-c1", .token_len = 5,
		.intermediate = w->nw.imd.addr, .local = w->nw.c1.local,
		.outer_tls = w->nw.c1_tls, .services = &k->web, .n_services = 1, .rng = &f->rng,
		.cb = &k->ccb, .log = nh_node_log("c1"),
	};
	assert_int_equal(zt_peer_new(&w->nw.c1.peer, &k->ccfg, w->nw.net.now), 0);
	assert_int_equal(zt_peer_new(&w->nw.alice.peer, &k->acfg, w->nw.net.now), 0);
	assert_true(nh_run(&w->nw.net, peer_ready, w->nw.alice.peer, w->nw.net.now + 3 * ZT_SEC));
	assert_true(nh_run(&w->nw.net, peer_ready, w->nw.c1.peer, w->nw.net.now + 3 * ZT_SEC));
	assert_int_equal(zt_peer_chan_open(w->nw.alice.peer, w->nw.net.now, "web", NULL, &ch), 0);
	nh_run_for(&w->nw.net, 3 * ZT_SEC);
	assert_int_equal(zt_peer_session_ids(w->nw.alice.peer, &k->id, 1), 1);
	assert_int_equal(zt_peer_session_path(w->nw.alice.peer, k->id, &ai), 0);
	assert_true(ai.direct);
	/* The Intermediate restarts; alice does not reach the new one yet. */
	k->cut_alice = true;
	zt_imd_free(w->nw.imd.imd);
	assert_int_equal(zt_imd_new(&w->nw.imd.imd, &w->nw.icfg, w->nw.net.now), 0);
	assert_true(nh_run(&w->nw.net, welcomed_twice, w->nw.c1.peer, w->nw.net.now + 30 * ZT_SEC));
	assert_int_equal(session_state(w->nw.c1.peer, k->id), ZT_PEER_S_READY);
}

static void kept_fini(struct kept *k)
{
	nh_world_fini(&k->w.nw);
	zt_tls_ctx_free(k->a_inner);
	zt_tls_ctx_free(k->web_tls);
}

/*
 * Finding: another connector of the service ends a session it does not serve. After
 * an Intermediate restart the agent's OPEN re-attaching its session (SESSION_ID) is
 * paired like a new session, here with c2 (registered last). The agent ignored the
 * SESSION (wrong peer) but not the CLOSE c2 then sent for that id: it ended its
 * session, which was working on its direct path through c1.
 */
static void other_connector_cannot_end_a_kept_session(void **state)
{
	struct kept k;
	struct world *w = &k.w;
	const struct zt_ctrl_msg *m;

	kept_session(&k, *state);
	login(w, &w->nw.c2, w->nw.c2_tls, ZT_CTRL_ROLE_CONNECTOR, "c2", "web", &w->c2_seen);
	k.cut_alice = false;
	assert_true(nh_wait_total(&w->nw.net, &w->nw.c2, ZT_CTRL_SESSION, 1, 10 * ZT_SEC));
	m = nh_raw_last(&w->nw.c2, ZT_CTRL_SESSION);
	assert_int_equal(m->u.session.session_id, k.id);
	send_close(&w->nw.c2, k.id, (uint32_t)-ZT_EPEER);
	nh_run_for(&w->nw.net, 2 * ZT_SEC);
	assert_int_equal(session_state(w->nw.alice.peer, k.id), ZT_PEER_S_READY);
	assert_int_equal(session_state(w->nw.c1.peer, k.id), ZT_PEER_S_READY);
	kept_fini(&k);
}

/*
 * Finding: an agent that knows a kept session's id ends it at the connector. After
 * an Intermediate restart bob asks to "re-attach" alice's session id before she is
 * back: the Intermediate pairs him with c1 under that id; c1 ignored the SESSION
 * (wrong peer) but not the CLOSE bob sent next, and ended alice's session.
 */
static void other_agent_cannot_end_a_kept_session(void **state)
{
	struct kept k;
	struct world *w = &k.w;

	kept_session(&k, *state);
	login(w, &w->nw.bob, w->nw.bob_tls, ZT_CTRL_ROLE_AGENT, "bob", NULL, &w->bob_seen);
	assert_int_equal(nh_raw_open(&w->nw.bob, 9, "web", k.id), 0);
	assert_true(nh_wait_total(&w->nw.net, &w->nw.bob, ZT_CTRL_SESSION, 1, 3 * ZT_SEC));
	send_close(&w->nw.bob, k.id, (uint32_t)-ZT_EPEER);
	nh_run_for(&w->nw.net, 2 * ZT_SEC);
	assert_int_equal(session_state(w->nw.c1.peer, k.id), ZT_PEER_S_READY);
	k.cut_alice = false;
	nh_run_for(&w->nw.net, 3 * ZT_SEC);
	assert_int_equal(session_state(w->nw.alice.peer, k.id), ZT_PEER_S_READY);
	assert_int_equal(session_state(w->nw.c1.peer, k.id), ZT_PEER_S_READY);
	kept_fini(&k);
}

/* ---- A connector naming a victim's address to an agent ---- */

struct aim {
	struct world *w;
	struct zt_addr victim;
	uint64_t to_victim;
	uint32_t gens[64];          /* generations alice started, answered */
	size_t ngens;
};

static bool aim_tap(void *arg, const struct nh_pkt *p)
{
	struct aim *a = arg;

	a->to_victim += zt_addr_ip_equal(&p->to, &a->victim);
	return false;
}

/* The hostile connector answers each of alice's generations with 16 ports of the
 * victim (and trickles the same again, as often as it is forwarded). */
static void aim_answer(struct nh_ep *e, const struct zt_ctrl_msg *in, void *arg)
{
	struct aim *a = arg;
	struct zt_ctrl_msg *m;
	struct zt_ctrl_candidates *c;

	if (in->type != ZT_CTRL_CANDIDATES)
		return;
	m = calloc(1, sizeof(*m));
	assert_non_null(m);
	zt_ctrl_msg_init(m, ZT_CTRL_CANDIDATES);
	c = &m->u.cands;
	c->session_id = in->u.cands.session_id;
	snprintf(c->ufrag, sizeof(c->ufrag), "vict");
	snprintf(c->pwd, sizeof(c->pwd), "victimvictimvictimvictim");
	c->generation = in->u.cands.generation;
	c->n_cands = 16;
	for (int i = 0; i < 16; i++) {
		c->cands[i] = (struct zt_cand){ .type = ZT_CAND_HOST, .component = 1, .addr = a->victim };
		c->cands[i].addr.port = (uint16_t)(7000 + i);
		c->cands[i].priority = zt_cand_priority(ZT_CAND_HOST, (uint16_t)(65535 - i), 1);
		snprintf(c->cands[i].foundation, sizeof(c->cands[i].foundation), "v%d", i);
	}
	for (int k = 0; k < 4; k++) {
		c->seq = (uint32_t)k;
		c->end_of_candidates = k == 3;
		(void)nh_raw_send(e, m);
	}
	if (a->ngens < 64)
		a->gens[a->ngens++] = c->generation;
	free(m);
}

/*
 * Suspicion (cleared): a connector makes an agent's ICE agent hammer a third party.
 * The check budgets (docs/security.md) are the program's, so they hold at the agent
 * too: c1, hostile, answers every ICE generation of alice's sessions with 16 ports of
 * a victim, for 30 s, while alice keeps opening channels (each failed session is
 * opened again). The victim gets at most the destination budget's burst and rate.
 */
static void connector_cannot_aim_an_agent(void **state)
{
	struct world w;
	struct aim a = { .w = &w };
	struct nh_fixture *f = *state;
	struct zt_tls_ctx *a_inner;
	struct zt_peer_callbacks acb = { .chan_event = chan_event };
	struct zt_peer_config acfg;
	struct zt_peer_chan *ch;
	struct zt_peer_stats st;

	world_init(&w, f);
	assert_int_equal(zt_addr_parse(&a.victim, "192.0.2.99", 0), 0);
	w.nw.net.tap = aim_tap;
	w.nw.net.tap_arg = &a;
	a_inner = nh_tls(f, ZT_TLS_CLIENT, ZT_ALPN_INNER, &f->pki.q.alice, false);
	login(&w, &w.nw.c1, w.nw.c1_tls, ZT_CTRL_ROLE_CONNECTOR, "c1", "web", &w.c1_seen);
	w.nw.c1.raw.on_msg = aim_answer;
	w.nw.c1.raw.on_msg_arg = &a;
	w.nw.alice.kind = NH_PEER;
	acfg = (struct zt_peer_config){
		.role = ZT_CTRL_ROLE_AGENT, .name = "alice",
		.token = (const uint8_t *)"pw-alice", .token_len = 8,
		.intermediate = w.nw.imd.addr, .local = w.nw.alice.local,
		.outer_tls = w.nw.alice_tls, .inner_tls = a_inner, .rng = &f->rng,
		.cb = &acb, .log = nh_node_log("alice"),
	};
	assert_int_equal(zt_peer_new(&w.nw.alice.peer, &acfg, w.nw.net.now), 0);
	assert_true(nh_run(&w.nw.net, peer_ready, w.nw.alice.peer, w.nw.net.now + 3 * ZT_SEC));
	for (int sec = 0; sec < 30; sec++) {
		/* a user that keeps trying: a channel a second (a new session once the
		 * last one failed: the hostile connector never completes the handshake) */
		(void)zt_peer_chan_open(w.nw.alice.peer, w.nw.net.now, "web", NULL, &ch);
		nh_run_alive(&w.nw.net, ZT_SEC);
	}
	zt_peer_stats(w.nw.alice.peer, &st);
	print_message("# %zu generations answered with the victim, %" PRIu64 " sessions: %" PRIu64
		      " datagrams to the victim in 30 s (checks charged %" PRIu64 ", deferred %" PRIu64
		      ")\n", a.ngens, st.sessions_opened, a.to_victim, st.checks_charged,
		      st.checks_deferred);
	assert_true(a.ngens >= 2);
	assert_true(a.to_victim <= 16 + 2 * 30 + 1);
	nh_world_fini(&w.nw);
	zt_tls_ctx_free(a_inner);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(candidates_do_not_back_up_the_connector),
		cmocka_unit_test(stun_answers_to_one_address_are_bounded),
		cmocka_unit_test(resume_goes_to_the_sessions_connector),
		cmocka_unit_test(others_sessions_are_out_of_reach),
		cmocka_unit_test(other_connector_cannot_end_a_kept_session),
		cmocka_unit_test(other_agent_cannot_end_a_kept_session),
		cmocka_unit_test(connector_cannot_aim_an_agent),
	};
	return cmocka_run_group_tests(tests, nh_fixture_setup, nh_fixture_teardown);
}
