/*
 * node/imd.h: sessions across Intermediates (docs/scale-out.md). Two Intermediates on
 * the in-memory network: B, whose cfg.elsewhere places connector c1 at A, opens a
 * link to A (cfg.link_tls, the intermediate certificate as a client) for its agents'
 * OPENs; A (cfg.links_in) pairs them with c1 under its own policy. Raw clients:
 *
 *     alice 127.0.0.2:5000 (5 ms) --.                                 .-- c1 127.0.0.3:6000 (20 ms)
 *     bob   127.0.0.4:5000 (5 ms) ---+-- B 127.0.0.9:4433 (10 ms) ==link== A 127.0.0.1:4433 (0 ms)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "core/units.h"
#include "node/relay.h"
#include "node_harness.h"

struct lw {
	struct nh_world w;            /* A (w.imd), c1, alice and bob */
	struct nh_ep b;               /* B */
	struct zt_imd_config bcfg;
	struct zt_policy *bpol;
	struct zt_tls_ctx *link_tls;
	int where_calls;
	const char *where_imd;        /* where_c1's answer: c1 at this Intermediate */
	bool where_none;              /* where_c1: c1 is nowhere (between two logins) */
	struct zt_addr where_addr;
};

static bool where_c1(void *arg, const struct zt_policy *policy, const char *service,
		     struct zt_imd_where *ret)
{
	struct lw *l = arg;

	(void)policy;
	l->where_calls++;
	if (l->where_none)
		return false;
	if (strcmp(service, "web")) {
		snprintf(ret->note, sizeof(ret->note), "the cluster is unreachable");
		return false;
	}
	snprintf(ret->connector, sizeof(ret->connector), "c1");
	snprintf(ret->imd, sizeof(ret->imd), "%s", l->where_imd ? l->where_imd : "imd-a");
	ret->link = l->where_imd ? l->where_addr : l->w.imd.addr;
	return true;
}

/* A's ctrl_busy (0: the default) for the next lw_init. */
static size_t a_ctrl_busy;

/* A's policy: a_lines; B's: alice and bob may reach web. links_in: A takes links. */
static void lw_init(struct lw *l, struct nh_fixture *f, const char *const *a_lines, bool links_in)
{
	static const char *const b_lines[] = {
		"client agent:alice:pw-alice", "client agent:bob:pw-bob", "allow alice=web",
		"allow bob=web,db", "client connector:c1:pw-c1", "serve c1=web", NULL,
	};

	memset(l, 0, sizeof(*l));
	nh_world_init(&l->w, f, a_lines);
	l->w.icfg.links_in = links_in;
	l->w.icfg.ctrl_busy = a_ctrl_busy;
	nh_world_start(&l->w);
	l->bpol = nh_policy(b_lines);
	l->link_tls = nh_tls(f, ZT_TLS_CLIENT, ZT_ALPN_OUTER, &f->pki.q.intermediate, false);
	nh_ep_init(&l->b, &l->w.net, NH_IMD, "127.0.0.9:4433", 10 * ZT_MS);
	l->bcfg = l->w.icfg;
	l->bcfg.ctrl_busy = 0;
	l->bcfg.policy = l->bpol;
	l->bcfg.listen = l->b.addr;
	l->bcfg.log = nh_node_log("imd-b");
	l->bcfg.elsewhere = where_c1;
	l->bcfg.elsewhere_arg = l;
	l->bcfg.link_tls = l->link_tls;
	l->bcfg.link_identity = "ztna:intermediate:relay";
	assert_int_equal(zt_imd_new(&l->b.imd, &l->bcfg, l->w.net.now), 0);
	nh_raw_login(&l->w.c1, l->w.c1_tls, &l->w.imd.addr, ZT_CTRL_ROLE_CONNECTOR, "c1", "pw-c1",
		     "web");
	nh_raw_login(&l->w.alice, l->w.alice_tls, &l->b.addr, ZT_CTRL_ROLE_AGENT, "alice",
		     "pw-alice", NULL);
	nh_raw_login(&l->w.bob, l->w.bob_tls, &l->b.addr, ZT_CTRL_ROLE_AGENT, "bob", "pw-bob", NULL);
}

static void lw_fini(struct lw *l)
{
	nh_world_fini(&l->w); /* frees B too: it is on the network */
	zt_policy_free(l->bpol);
	zt_tls_ctx_free(l->link_tls);
}

static const char *const a_both[] = {
	"client agent:alice:pw-alice", "client agent:bob:pw-bob", "client connector:c1:pw-c1",
	"allow alice=web", "allow bob=web", "serve c1=web", NULL,
};

static void relay_dgram(struct nh_ep *e, uint32_t session, const char *payload)
{
	uint8_t buf[256];
	size_t n = strlen(payload);

	zt_relay_hdr_write(buf, sizeof(buf), session);
	memcpy(buf + ZT_RELAY_HDR_LEN, payload, n);
	assert_int_equal(zt_quic_dgram_send(e->raw.conn, buf, ZT_RELAY_HDR_LEN + n), 0);
}

/* The last datagram e got: its session id and payload. */
static void last_dgram_is(const struct nh_ep *e, uint32_t session, const char *payload)
{
	uint32_t id = 0;

	assert_int_equal(zt_relay_hdr_read(e->raw.last_dgram, e->raw.last_dgram_len, &id),
			 ZT_RELAY_HDR_LEN);
	assert_int_equal(id, session);
	assert_int_equal(e->raw.last_dgram_len, ZT_RELAY_HDR_LEN + strlen(payload));
	assert_memory_equal(e->raw.last_dgram + ZT_RELAY_HDR_LEN, payload, strlen(payload));
}

/* alice at B opens web: a session at each Intermediate, ids of their own. */
static void open_across(struct lw *l, uint32_t *ret_b, uint32_t *ret_a)
{
	const struct zt_ctrl_msg *m;

	assert_int_equal(nh_raw_open(&l->w.alice, 71, "web", 0), 0);
	assert_true(nh_wait_count(&l->w.alice, ZT_CTRL_SESSION, 1, 3 * ZT_SEC));
	assert_true(nh_wait_count(&l->w.c1, ZT_CTRL_SESSION, 1, 3 * ZT_SEC));
	m = nh_raw_last(&l->w.alice, ZT_CTRL_SESSION);
	assert_int_equal(m->u.session.request_id, 71);
	assert_string_equal(m->u.session.peer_identity, "ztna:connector:c1");
	assert_int_equal(m->u.session.ice_role, ZT_CTRL_ICE_CONTROLLING);
	*ret_b = (uint32_t)m->u.session.session_id;
	m = nh_raw_last(&l->w.c1, ZT_CTRL_SESSION);
	assert_string_equal(m->u.session.peer_identity, "ztna:agent:alice");
	assert_int_equal(m->u.session.ice_role, ZT_CTRL_ICE_CONTROLLED);
	*ret_a = (uint32_t)m->u.session.session_id;
}

/* Pairing, candidates (the agent's address as B saw it), START_CHECKS from A, relayed
 * payloads both ways under each side's id, CLOSE from the connector. */
static void session_across_two_intermediates(void **state)
{
	struct lw l;
	struct zt_imd_stats sa, sb;
	const struct zt_ctrl_msg *m;
	uint32_t idb, ida;
	char obs[ZT_ADDR_STRLEN];

	lw_init(&l, *state, a_both, true);
	open_across(&l, &idb, &ida);

	nh_raw_cands(&l.w.alice, idb, 1, "10.0.0.2:5000");
	assert_true(nh_wait_count(&l.w.c1, ZT_CTRL_CANDIDATES, 1, 3 * ZT_SEC));
	m = nh_raw_last(&l.w.c1, ZT_CTRL_CANDIDATES);
	assert_int_equal(m->u.cands.session_id, ida);
	assert_string_equal(zt_addr_str(&m->u.cands.observed, obs), "127.0.0.2:5000");
	nh_raw_cands(&l.w.c1, ida, 1, "10.0.0.3:6000");
	assert_true(nh_wait_count(&l.w.alice, ZT_CTRL_CANDIDATES, 1, 3 * ZT_SEC));
	assert_int_equal(nh_raw_last(&l.w.alice, ZT_CTRL_CANDIDATES)->u.cands.session_id, idb);
	assert_true(nh_wait_count(&l.w.alice, ZT_CTRL_START_CHECKS, 1, 3 * ZT_SEC));
	assert_true(nh_wait_count(&l.w.c1, ZT_CTRL_START_CHECKS, 1, 3 * ZT_SEC));
	assert_int_equal(nh_raw_last(&l.w.alice, ZT_CTRL_START_CHECKS)->u.start.session_id, idb);
	assert_int_equal(nh_raw_last(&l.w.c1, ZT_CTRL_START_CHECKS)->u.start.session_id, ida);

	relay_dgram(&l.w.alice, idb, "ping");
	nh_run_alive(&l.w.net, 200 * ZT_MS);
	assert_int_equal(l.w.c1.raw.ndgrams, 1);
	last_dgram_is(&l.w.c1, ida, "ping");
	relay_dgram(&l.w.c1, ida, "pong!");
	nh_run_alive(&l.w.net, 200 * ZT_MS);
	assert_int_equal(l.w.alice.raw.ndgrams, 1);
	last_dgram_is(&l.w.alice, idb, "pong!");
	/* an id that is A's, not alice's at B, relays nothing */
	if (ida != idb) {
		relay_dgram(&l.w.alice, ida, "stray");
		nh_run_alive(&l.w.net, 200 * ZT_MS);
		assert_int_equal(l.w.c1.raw.ndgrams, 1);
	}

	zt_imd_stats(l.b.imd, &sb);
	zt_imd_stats(l.w.imd.imd, &sa);
	assert_int_equal(sb.links_opened, 1);
	assert_int_equal(sb.cross_opens, 1);
	assert_int_equal(sb.cross_sessions, 1);
	assert_int_equal(sa.links_in, 1);
	assert_int_equal(sa.link_opens, 1);

	/* c1 closes: alice is told under her id, both sessions go */
	{
		struct zt_ctrl_msg c;
		zt_ctrl_msg_init(&c, ZT_CTRL_CLOSE);
		c.u.close.session_id = ida;
		c.u.close.reason = 1507;
		snprintf(c.u.close.text, sizeof(c.u.close.text), "done");
		assert_int_equal(nh_raw_send(&l.w.c1, &c), 0);
	}
	assert_true(nh_wait_count(&l.w.alice, ZT_CTRL_CLOSE, 1, 3 * ZT_SEC));
	m = nh_raw_last(&l.w.alice, ZT_CTRL_CLOSE);
	assert_int_equal(m->u.close.session_id, idb);
	assert_string_equal(m->u.close.text, "done");
	zt_imd_stats(l.b.imd, &sb);
	zt_imd_stats(l.w.imd.imd, &sa);
	assert_int_equal(sb.sessions, 0);
	assert_int_equal(sa.sessions, 0);
	lw_fini(&l);
}

/* A's policy decides: bob, whom B lets reach web, is refused with A's words, and B
 * keeps nothing of the attempt. */
static void the_connectors_intermediate_checks_its_policy(void **state)
{
	static const char *const a_alice_only[] = {
		"client agent:alice:pw-alice", "client agent:bob:pw-bob",
		"client connector:c1:pw-c1", "allow alice=web", "serve c1=web", NULL,
	};
	struct lw l;
	struct zt_imd_stats sb;
	const struct zt_ctrl_msg *m;

	lw_init(&l, *state, a_alice_only, true);
	assert_int_equal(nh_raw_open(&l.w.bob, 5, "web", 0), 0);
	assert_true(nh_wait_count(&l.w.bob, ZT_CTRL_ERROR, 1, 3 * ZT_SEC));
	m = nh_raw_last(&l.w.bob, ZT_CTRL_ERROR);
	assert_int_equal(m->u.error.code, 1501);
	assert_int_equal(m->u.error.request_id, 5);
	assert_string_equal(m->u.error.text, "agent bob may not reach service web (policy)");
	zt_imd_stats(l.b.imd, &sb);
	assert_int_equal(sb.cross_refused, 1);
	assert_int_equal(sb.sessions, 0);
	assert_int_equal(nh_raw_count(&l.w.c1, ZT_CTRL_SESSION), 0);
	/* found nowhere, with a note on why that may be wrong: the refusal carries it */
	assert_int_equal(nh_raw_open(&l.w.bob, 6, "db", 0), 0);
	assert_true(nh_wait_count(&l.w.bob, ZT_CTRL_ERROR, 2, 3 * ZT_SEC));
	m = nh_raw_last(&l.w.bob, ZT_CTRL_ERROR);
	assert_int_equal(m->u.error.code, 1502);
	assert_string_equal(m->u.error.text, "no connector serves db (the cluster is unreachable)");
	lw_fini(&l);
}

/* OPENs over a link for a connector whose control stream is backed up wait for it to
 * drain, as an agent's own OPENs do: a burst of 3,334 OPENs across (zt-load pairs,
 * bench multi-load) got 1510 "busy: try again" for half of them. Here A counts c1 as
 * backed up as soon as a byte waits for its ACK: the second OPEN comes while the
 * first SESSION does. */
static void busy_connector_holds_opens_over_a_link(void **state)
{
	struct lw l;
	struct zt_imd_stats sa;

	a_ctrl_busy = 1;
	lw_init(&l, *state, a_both, true);
	a_ctrl_busy = 0;
	assert_int_equal(nh_raw_open(&l.w.alice, 1, "web", 0), 0);
	assert_int_equal(nh_raw_open(&l.w.bob, 2, "web", 0), 0);
	assert_true(nh_wait_count(&l.w.alice, ZT_CTRL_SESSION, 1, 3 * ZT_SEC));
	assert_true(nh_wait_count(&l.w.bob, ZT_CTRL_SESSION, 1, 3 * ZT_SEC));
	assert_true(nh_wait_count(&l.w.c1, ZT_CTRL_SESSION, 2, 3 * ZT_SEC));
	assert_int_equal(nh_raw_total(&l.w.alice, ZT_CTRL_ERROR), 0);
	assert_int_equal(nh_raw_total(&l.w.bob, ZT_CTRL_ERROR), 0);
	zt_imd_stats(l.w.imd.imd, &sa);
	assert_true(sa.held >= 1); /* the second waited */
	assert_int_equal(sa.sessions, 2);
	lw_fini(&l);
}

/*
 * A link is read whatever A has queued to it. A stops reading a party with more than
 * ctrl_busy queued towards it (so that a client not reading its answers cannot go on
 * asking); between two Intermediates that is a deadlock: 3,334 OPENs across at once
 * (bench multi-load) left 65-70 KB queued each way, neither read the other for 30 s,
 * and the link was closed with all its sessions. Here A counts a party as backed up
 * at 2,000 bytes queued and the link's far end is 400 ms away: with the pause, the
 * link's 300 OPENs went some 20 per round trip of the link (c1 had all SESSIONs
 * after 5.0 s); read on, as fast as c1 takes them (0.6 s).
 */
static void a_link_is_read_while_backed_up(void **state)
{
	static struct nh_ep lk;
	struct zt_ctrl_msg m;
	struct lw l;
	uint64_t t0;

	a_ctrl_busy = 2000;
	lw_init(&l, *state, a_both, true);
	a_ctrl_busy = 0;
	nh_ep_init(&lk, &l.w.net, NH_RAW, "127.0.0.11:5000", 200 * ZT_MS);
	assert_int_equal(nh_raw_connect(&lk, l.link_tls, &l.w.imd.addr), 0);
	assert_true(nh_wait_handshake(&lk, 3 * ZT_SEC));
	zt_ctrl_msg_init(&m, ZT_CTRL_HELLO);
	m.u.hello.role = ZT_CTRL_ROLE_INTERMEDIATE;
	snprintf(m.u.hello.identity, sizeof(m.u.hello.identity), "ztna:intermediate:relay");
	assert_int_equal(nh_raw_send(&lk, &m), 0);
	assert_true(nh_wait_count(&lk, ZT_CTRL_WELCOME, 1, 3 * ZT_SEC));
	t0 = l.w.net.now;
	for (uint64_t i = 1; i <= 300; i++) {
		zt_ctrl_msg_init(&m, ZT_CTRL_OPEN);
		m.u.open.request_id = i;
		snprintf(m.u.open.service, sizeof(m.u.open.service), "web");
		snprintf(m.u.open.agent, sizeof(m.u.open.agent), "ztna:agent:alice");
		assert_int_equal(nh_raw_send(&lk, &m), 0);
	}
	assert_true(nh_wait_total(&l.w.net, &l.w.c1, ZT_CTRL_SESSION, 300, 30 * ZT_SEC));
	print_message("# 300 OPENs over a link: c1 had their SESSIONs in %.0f ms\n",
		      (double)(l.w.net.now - t0) / ZT_MS);
	assert_true(l.w.net.now - t0 < 2 * ZT_SEC);
	assert_true(nh_wait_total(&l.w.net, &lk, ZT_CTRL_SESSION, 300, 10 * ZT_SEC));
	assert_int_equal(nh_raw_total(&l.w.c1, ZT_CTRL_SESSION), 300);
	lw_fini(&l);
}

/* An Intermediate without links_in refuses the link: the agent's OPEN fails with
 * "try again" (1510), naming the Intermediate. */
static void links_refused_where_not_taken(void **state)
{
	struct lw l;
	struct zt_imd_stats sb;
	const struct zt_ctrl_msg *m;

	lw_init(&l, *state, a_both, false);
	assert_int_equal(nh_raw_open(&l.w.alice, 9, "web", 0), 0);
	assert_true(nh_wait_count(&l.w.alice, ZT_CTRL_ERROR, 1, 3 * ZT_SEC));
	m = nh_raw_last(&l.w.alice, ZT_CTRL_ERROR);
	assert_int_equal(m->u.error.code, 1510);
	assert_int_equal(m->u.error.request_id, 9);
	assert_non_null(strstr(m->u.error.text, "the link to Intermediate imd-a"));
	zt_imd_stats(l.b.imd, &sb);
	assert_int_equal(sb.links_failed, 1);
	assert_int_equal(sb.sessions, 0);
	lw_fini(&l);
}

/* The agent goes (its own close): the connector hears of it through the link; a
 * revocation at A (set_policy without alice) ends a link's session of hers. */
static void agent_gone_and_revoked_end_sessions_at_a(void **state)
{
	static const char *const a_without_alice[] = {
		"client agent:bob:pw-bob", "client connector:c1:pw-c1", "allow bob=web",
		"serve c1=web", NULL,
	};
	struct lw l;
	struct zt_policy *p2;
	struct zt_imd_reload r;
	struct zt_imd_stats sa;
	uint32_t idb, ida;

	lw_init(&l, *state, a_both, true);
	open_across(&l, &idb, &ida);
	p2 = nh_policy(a_without_alice);
	assert_int_equal(zt_imd_set_policy(l.w.imd.imd, l.w.net.now, p2, &r), 0);
	assert_int_equal(r.sessions_ended, 1);
	assert_int_equal(r.clients_revoked, 0); /* the link stays */
	assert_true(nh_wait_count(&l.w.alice, ZT_CTRL_CLOSE, 1, 3 * ZT_SEC));
	assert_int_equal(nh_raw_last(&l.w.alice, ZT_CTRL_CLOSE)->u.close.session_id, idb);
	assert_int_equal(nh_raw_last(&l.w.alice, ZT_CTRL_CLOSE)->u.close.reason, 1501);
	assert_true(nh_wait_count(&l.w.c1, ZT_CTRL_CLOSE, 1, 3 * ZT_SEC));

	/* bob's session, then bob goes: c1 is told */
	assert_int_equal(nh_raw_open(&l.w.bob, 3, "web", 0), 0);
	assert_true(nh_wait_count(&l.w.c1, ZT_CTRL_SESSION, 2, 3 * ZT_SEC));
	ida = (uint32_t)nh_raw_last(&l.w.c1, ZT_CTRL_SESSION)->u.session.session_id;
	zt_quic_conn_close(l.w.bob.raw.conn, 0, "bye");
	assert_true(nh_wait_count(&l.w.c1, ZT_CTRL_CLOSE, 2, 3 * ZT_SEC));
	assert_int_equal(nh_raw_last(&l.w.c1, ZT_CTRL_CLOSE)->u.close.session_id, ida);
	zt_imd_stats(l.w.imd.imd, &sa);
	assert_int_equal(sa.sessions, 0);
	lw_fini(&l);
	zt_policy_free(p2);
}

/* A dies: within the link's idle time (10 s, from its last keepalive) B notices; the
 * session its agent reported direct is kept (no CLOSE: the ends need no Intermediate
 * on the direct path); the relayed one waits for its connector to show up (c1 is still
 * placed at dead A here) and ends when the rehome grace (50 s: longer than the
 * orphan grace, 30 s, so that a connector has time to leave its silent Intermediate)
 * is over. */
static void link_lost_rehomes_relayed_keeps_direct(void **state)
{
	struct lw l;
	struct zt_ctrl_msg p;
	struct zt_imd_stats sb;
	struct zt_imd_session_info si;
	uint32_t idb, ida, idb2;

	lw_init(&l, *state, a_both, true);
	open_across(&l, &idb, &ida);
	assert_int_equal(nh_raw_open(&l.w.alice, 72, "web", 0), 0);
	assert_true(nh_wait_count(&l.w.alice, ZT_CTRL_SESSION, 2, 3 * ZT_SEC));
	idb2 = (uint32_t)nh_raw_last(&l.w.alice, ZT_CTRL_SESSION)->u.session.session_id;
	/* the second one goes direct */
	zt_ctrl_msg_init(&p, ZT_CTRL_PATH_REPORT);
	p.u.path.session_id = idb2;
	p.u.path.path = ZT_CTRL_PATH_DIRECT;
	assert_int_equal(nh_raw_send(&l.w.alice, &p), 0);
	nh_run_alive(&l.w.net, 300 * ZT_MS);
	(void)ida;

	l.w.imd.down = true;
	/* idle 10 s from its last PING (every 2.5 s), which restarted the idle timer */
	nh_run_alive(&l.w.net, 13 * ZT_SEC);
	zt_imd_stats(l.b.imd, &sb);
	assert_int_equal(sb.links_failed, 1);
	assert_int_equal(sb.sessions, 2);
	assert_int_equal(nh_raw_count(&l.w.alice, ZT_CTRL_CLOSE), 0);
	nh_run_alive(&l.w.net, 30 * ZT_SEC);
	assert_int_equal(nh_raw_count(&l.w.alice, ZT_CTRL_CLOSE), 0); /* 43 s: waits on */
	nh_run_alive(&l.w.net, 25 * ZT_SEC);
	/* (her PONGs fill the first NH_MAX_MSGS by now: totals) */
	assert_int_equal(nh_raw_total(&l.w.alice, ZT_CTRL_CLOSE), 1);
	assert_int_not_equal(zt_imd_session_info(l.b.imd, idb, &si), 0);
	zt_imd_stats(l.b.imd, &sb);
	assert_int_equal(sb.sessions, 1);
	assert_int_equal(zt_imd_session_info(l.b.imd, idb2, &si), 0);
	assert_true(si.direct);
	lw_fini(&l);
}

/* A dies, c1 moves: the relayed session goes on under the same id, c1 taking it up
 * from the SESSION it gets: first c1 at A2 (over a new link, which asks A2 for the
 * same id), then, A2 dead too, c1 at B itself. alice is told nothing. */
static void relayed_session_follows_its_connector(void **state)
{
	static struct nh_ep a2; /* large: not on the stack */
	struct zt_imd_config c2;
	struct lw l;
	const struct zt_ctrl_msg *m;
	uint32_t idb, ida;

	lw_init(&l, *state, a_both, true);
	open_across(&l, &idb, &ida);
	nh_ep_init(&a2, &l.w.net, NH_IMD, "127.0.0.11:4433", 0);
	c2 = l.w.icfg;
	c2.listen = a2.addr;
	c2.log = nh_node_log("imd-a2");
	assert_int_equal(zt_imd_new(&a2.imd, &c2, l.w.net.now), 0);

	l.w.imd.down = true;
	nh_run_alive(&l.w.net, 13 * ZT_SEC); /* B's link to A is down */
	nh_raw_login(&l.w.c1, l.w.c1_tls, &a2.addr, ZT_CTRL_ROLE_CONNECTOR, "c1", "pw-c1", "web");
	l.where_imd = "imd-a2";
	l.where_addr = a2.addr;
	assert_true(nh_wait_count(&l.w.c1, ZT_CTRL_SESSION, 1, 3 * ZT_SEC));
	m = nh_raw_last(&l.w.c1, ZT_CTRL_SESSION);
	assert_int_equal(m->u.session.session_id, idb);
	assert_string_equal(m->u.session.peer_identity, "ztna:agent:alice");
	relay_dgram(&l.w.alice, idb, "via a2");
	nh_run_alive(&l.w.net, 300 * ZT_MS);
	last_dgram_is(&l.w.c1, idb, "via a2");

	a2.down = true;
	nh_run_alive(&l.w.net, 13 * ZT_SEC);
	nh_raw_login(&l.w.c1, l.w.c1_tls, &l.b.addr, ZT_CTRL_ROLE_CONNECTOR, "c1", "pw-c1", "web");
	assert_true(nh_wait_count(&l.w.c1, ZT_CTRL_SESSION, 1, 3 * ZT_SEC));
	assert_int_equal(nh_raw_last(&l.w.c1, ZT_CTRL_SESSION)->u.session.session_id, idb);
	relay_dgram(&l.w.c1, idb, "via b");
	nh_run_alive(&l.w.net, 300 * ZT_MS);
	last_dgram_is(&l.w.alice, idb, "via b");
	assert_int_equal(nh_raw_count(&l.w.alice, ZT_CTRL_CLOSE), 0);
	assert_int_equal(nh_raw_count(&l.w.alice, ZT_CTRL_SESSION), 1);
	lw_fini(&l);
}

/* B2, another Intermediate like B (links out, elsewhere), at 127.0.0.10. */
static void b2_start(struct lw *l, struct nh_ep *b2)
{
	struct zt_imd_config c2 = l->bcfg;

	nh_ep_init(b2, &l->w.net, NH_IMD, "127.0.0.10:4433", 10 * ZT_MS);
	c2.listen = b2->addr;
	c2.log = nh_node_log("imd-b2");
	assert_int_equal(zt_imd_new(&b2->imd, &c2, l->w.net.now), 0);
}

/* The agent's Intermediate dies; the agent moves to another (B2) and asks for its
 * session again (OPEN with SESSION_ID): B2 links to A with the same id, A takes the
 * session up (the id was the same at both from the start), c1 notices nothing and
 * payloads flow again under the one id. */
static void agent_moves_and_a_takes_its_session_up(void **state)
{
	static struct nh_ep b2; /* large: not on the stack */
	struct lw l;
	struct zt_imd_stats sa;
	const struct zt_ctrl_msg *m;
	uint32_t idb, ida;

	lw_init(&l, *state, a_both, true);
	open_across(&l, &idb, &ida);
	assert_int_equal(ida, idb); /* A took B's id: it was free */
	b2_start(&l, &b2);

	l.b.down = true;
	nh_run_alive(&l.w.net, 12 * ZT_SEC); /* A's link from B idles out: an orphan there */
	nh_raw_login(&l.w.alice, l.w.alice_tls, &b2.addr, ZT_CTRL_ROLE_AGENT, "alice", "pw-alice",
		     NULL);
	assert_int_equal(nh_raw_open(&l.w.alice, 88, "web", idb), 0);
	/* (a new connection: the raw client's counts start over) */
	assert_true(nh_wait_count(&l.w.alice, ZT_CTRL_SESSION, 1, 3 * ZT_SEC));
	m = nh_raw_last(&l.w.alice, ZT_CTRL_SESSION);
	assert_int_equal(m->u.session.session_id, idb);
	assert_int_equal(m->u.session.request_id, 88);
	assert_string_equal(m->u.session.peer_identity, "ztna:connector:c1");
	zt_imd_stats(l.w.imd.imd, &sa);
	assert_int_equal(sa.sessions_resumed, 1);
	assert_int_equal(sa.links_in, 2);
	assert_int_equal(nh_raw_count(&l.w.c1, ZT_CTRL_CLOSE), 0);
	assert_int_equal(nh_raw_count(&l.w.c1, ZT_CTRL_SESSION), 1);

	relay_dgram(&l.w.alice, idb, "again");
	nh_run_alive(&l.w.net, 300 * ZT_MS);
	last_dgram_is(&l.w.c1, idb, "again");
	relay_dgram(&l.w.c1, idb, "back");
	nh_run_alive(&l.w.net, 300 * ZT_MS);
	last_dgram_is(&l.w.alice, idb, "back");
	lw_fini(&l);
}

/* Both ends move to B2, the agent first: its OPEN with SESSION_ID finds the connector
 * still placed at A (dead: the record outlives it), so B2 links to A for it; c1 logs in
 * at B2 a moment later and the session becomes local there at once (c1 gets SESSION,
 * alice the answer to her OPEN), relayed payloads flow under the one id. Before, the
 * OPEN waited for the link to dead A until its idle timeout (10 s) and failed; the
 * ends, which keep a relayed session 10 s, had given it up by then. */
static void both_move_agent_first_session_local_when_c1_comes(void **state)
{
	static struct nh_ep b2; /* large: not on the stack */
	struct zt_imd_stats sb;
	struct lw l;
	const struct zt_ctrl_msg *m;
	uint32_t idb, ida;

	lw_init(&l, *state, a_both, true);
	open_across(&l, &idb, &ida);
	b2_start(&l, &b2);

	l.w.imd.down = l.b.down = true;
	nh_raw_login(&l.w.alice, l.w.alice_tls, &b2.addr, ZT_CTRL_ROLE_AGENT, "alice", "pw-alice",
		     NULL);
	assert_int_equal(nh_raw_open(&l.w.alice, 88, "web", idb), 0);
	nh_run_alive(&l.w.net, 500 * ZT_MS);
	zt_imd_stats(b2.imd, &sb);
	assert_int_equal(sb.cross_opens, 1);
	assert_int_equal(nh_raw_count(&l.w.alice, ZT_CTRL_SESSION), 0);
	nh_raw_login(&l.w.c1, l.w.c1_tls, &b2.addr, ZT_CTRL_ROLE_CONNECTOR, "c1", "pw-c1", "web");
	assert_true(nh_wait_count(&l.w.c1, ZT_CTRL_SESSION, 1, 1 * ZT_SEC));
	assert_int_equal(nh_raw_last(&l.w.c1, ZT_CTRL_SESSION)->u.session.session_id, idb);
	assert_true(nh_wait_count(&l.w.alice, ZT_CTRL_SESSION, 1, 1 * ZT_SEC));
	m = nh_raw_last(&l.w.alice, ZT_CTRL_SESSION);
	assert_int_equal(m->u.session.session_id, idb);
	assert_int_equal(m->u.session.request_id, 88);
	relay_dgram(&l.w.alice, idb, "at b2");
	nh_run_alive(&l.w.net, 300 * ZT_MS);
	last_dgram_is(&l.w.c1, idb, "at b2");
	relay_dgram(&l.w.c1, idb, "back");
	nh_run_alive(&l.w.net, 300 * ZT_MS);
	last_dgram_is(&l.w.alice, idb, "back");
	/* the link to dead A fails later with nothing on it: alice is told nothing */
	nh_run_alive(&l.w.net, 12 * ZT_SEC);
	assert_int_equal(nh_raw_count(&l.w.alice, ZT_CTRL_ERROR), 0);
	assert_int_equal(nh_raw_count(&l.w.alice, ZT_CTRL_CLOSE), 0);
	relay_dgram(&l.w.alice, idb, "still");
	nh_run_alive(&l.w.net, 300 * ZT_MS);
	last_dgram_is(&l.w.c1, idb, "still");
	lw_fini(&l);
}

/* e closes its connection saying it moves (ZT_EMOVING, as a client going back home). */
static void raw_moves(struct lw *l, struct nh_ep *e)
{
	assert_int_equal(zt_quic_conn_close(e->raw.conn, (uint64_t)-ZT_EMOVING, "back home"), 0);
	nh_run_alive(&l->w.net, 300 * ZT_MS);
}

/* c1 (from A) and alice both at B, a relayed session of hers to web there: its id. */
static uint32_t both_at_b(struct lw *l)
{
	assert_int_equal(zt_quic_conn_close(l->w.c1.raw.conn, 0, "bye"), 0);
	nh_run_alive(&l->w.net, 300 * ZT_MS);
	nh_raw_login(&l->w.c1, l->w.c1_tls, &l->b.addr, ZT_CTRL_ROLE_CONNECTOR, "c1", "pw-c1", "web");
	assert_int_equal(nh_raw_open(&l->w.alice, 71, "web", 0), 0);
	assert_true(nh_wait_count(&l->w.alice, ZT_CTRL_SESSION, 1, 3 * ZT_SEC));
	assert_true(nh_wait_count(&l->w.c1, ZT_CTRL_SESSION, 1, 3 * ZT_SEC));
	assert_int_equal(l->where_calls, 0); /* a session at B alone */
	return (uint32_t)nh_raw_last(&l->w.alice, ZT_CTRL_SESSION)->u.session.session_id;
}

/* Payloads both ways under id, from a to c and back. */
static void payloads_flow(struct lw *l, struct nh_ep *a, struct nh_ep *c, uint32_t id,
			  const char *there, const char *back)
{
	relay_dgram(a, id, there);
	nh_run_alive(&l->w.net, 300 * ZT_MS);
	last_dgram_is(c, id, there);
	relay_dgram(c, id, back);
	nh_run_alive(&l->w.net, 300 * ZT_MS);
	last_dgram_is(a, id, back);
}

/* The connector goes back home (B2) first, saying so (ZT_EMOVING): B keeps the
 * session as for a lost connector and looks for c1 elsewhere; once c1's record names
 * B2, B links there under the same id and c1 takes the session up from B2's SESSION.
 * alice, still at B, is told nothing. Before, B took the close as c1 leaving and ended
 * the session. early: c1's record names B2 before c1 is there (B2 refuses the OPEN,
 * 1502), which does not end the session: B looks again. */
static void connector_moves_home(struct nh_fixture *f, bool early)
{
	static struct nh_ep b2; /* large: not on the stack */
	struct zt_imd_stats sb;
	struct lw l;
	uint32_t id;

	lw_init(&l, f, a_both, true);
	b2_start(&l, &b2);
	id = both_at_b(&l);
	l.where_none = !early; /* c1's record is gone with its login at B */
	l.where_imd = "imd-b2";
	l.where_addr = b2.addr;
	raw_moves(&l, &l.w.c1);
	nh_run_alive(&l.w.net, 1 * ZT_SEC);
	assert_int_equal(nh_raw_count(&l.w.alice, ZT_CTRL_CLOSE), 0);
	zt_imd_stats(b2.imd, &sb); /* refused there while c1 was not */
	if (early)
		assert_true(sb.no_service >= 1);
	else
		assert_int_equal(sb.no_service, 0);
	nh_raw_login(&l.w.c1, l.w.c1_tls, &b2.addr, ZT_CTRL_ROLE_CONNECTOR, "c1", "pw-c1", "web");
	l.where_none = false;
	assert_true(nh_wait_count(&l.w.c1, ZT_CTRL_SESSION, 1, 2 * ZT_SEC));
	assert_int_equal(nh_raw_last(&l.w.c1, ZT_CTRL_SESSION)->u.session.session_id, id);
	payloads_flow(&l, &l.w.alice, &l.w.c1, id, "via b2", "back via b2");
	nh_run_alive(&l.w.net, 35 * ZT_SEC); /* past the orphan grace: still on */
	assert_int_equal(nh_raw_count(&l.w.alice, ZT_CTRL_CLOSE), 0);
	assert_int_equal(nh_raw_count(&l.w.alice, ZT_CTRL_SESSION), 1);
	payloads_flow(&l, &l.w.alice, &l.w.c1, id, "later", "back later");
	lw_fini(&l);
}

static void connector_moves_home_its_session_follows(void **state)
{
	connector_moves_home(*state, false);
}

static void connector_moves_home_record_there_first(void **state)
{
	connector_moves_home(*state, true);
}

/* A connector with many sessions moves: its orphans look for it elsewhere every 0.5 s,
 * but B asks the cluster once per moment and service, not once per session (a look may
 * walk the whole presence table): 20 sessions, 2 s, a handful of looks. Before, 20 a
 * round. */
static void many_orphans_look_elsewhere_once(void **state)
{
	struct lw l;
	int before;

	lw_init(&l, *state, a_both, true);
	(void)both_at_b(&l);
	for (unsigned i = 0; i < 19; i++) {
		assert_int_equal(nh_raw_open(&l.w.alice, 100 + i, "web", 0), 0);
		nh_run_alive(&l.w.net, 200 * ZT_MS); /* (the OPEN rate) */
	}
	assert_true(nh_wait_count(&l.w.alice, ZT_CTRL_SESSION, 20, 3 * ZT_SEC));
	l.where_none = true;
	before = l.where_calls;
	raw_moves(&l, &l.w.c1);
	nh_run_alive(&l.w.net, 2 * ZT_SEC);
	print_message("# looks elsewhere in 2 s for 20 orphans: %d\n", l.where_calls - before);
	assert_true(l.where_calls - before >= 3);
	assert_true(l.where_calls - before <= 8);
	assert_int_equal(nh_raw_count(&l.w.alice, ZT_CTRL_CLOSE), 0);
	lw_fini(&l);
}

/* The agent goes back home (B2) first, then the connector: alice's OPEN with the
 * session id at B2 goes over a link to B, where the session waited for her (kept as
 * for a lost agent: ZT_EMOVING); then c1 logs in at B2 and the cross session there
 * becomes local (CLOSE to B under B's id, SESSION to c1): one session at B2, payloads
 * under the one id, nothing ends when B's grace would be over. */
static void agent_then_connector_move_home(void **state)
{
	static struct nh_ep b2; /* large: not on the stack */
	struct zt_imd_stats sb;
	struct lw l;
	const struct zt_ctrl_msg *m;
	uint32_t id;

	lw_init(&l, *state, a_both, true);
	b2_start(&l, &b2);
	id = both_at_b(&l);
	raw_moves(&l, &l.w.alice);
	nh_raw_login(&l.w.alice, l.w.alice_tls, &b2.addr, ZT_CTRL_ROLE_AGENT, "alice", "pw-alice",
		     NULL);
	l.where_imd = "imd-b";
	l.where_addr = l.b.addr;
	assert_int_equal(nh_raw_open(&l.w.alice, 88, "web", id), 0);
	assert_true(nh_wait_count(&l.w.alice, ZT_CTRL_SESSION, 1, 2 * ZT_SEC));
	m = nh_raw_last(&l.w.alice, ZT_CTRL_SESSION);
	assert_int_equal(m->u.session.session_id, id);
	assert_int_equal(m->u.session.request_id, 88);
	payloads_flow(&l, &l.w.alice, &l.w.c1, id, "b2-b", "b-b2");

	raw_moves(&l, &l.w.c1);
	nh_raw_login(&l.w.c1, l.w.c1_tls, &b2.addr, ZT_CTRL_ROLE_CONNECTOR, "c1", "pw-c1", "web");
	assert_true(nh_wait_count(&l.w.c1, ZT_CTRL_SESSION, 1, 1 * ZT_SEC));
	assert_int_equal(nh_raw_last(&l.w.c1, ZT_CTRL_SESSION)->u.session.session_id, id);
	nh_run_alive(&l.w.net, 300 * ZT_MS);
	zt_imd_stats(l.b.imd, &sb);
	assert_int_equal(sb.sessions, 0); /* B's ended with the CLOSE */
	payloads_flow(&l, &l.w.alice, &l.w.c1, id, "at b2", "back at b2");
	nh_run_alive(&l.w.net, 35 * ZT_SEC);
	assert_int_equal(nh_raw_count(&l.w.alice, ZT_CTRL_CLOSE), 0);
	assert_int_equal(nh_raw_count(&l.w.c1, ZT_CTRL_CLOSE), 0);
	payloads_flow(&l, &l.w.alice, &l.w.c1, id, "later", "back later");
	lw_fini(&l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(session_across_two_intermediates),
		cmocka_unit_test(the_connectors_intermediate_checks_its_policy),
		cmocka_unit_test(links_refused_where_not_taken),
		cmocka_unit_test(busy_connector_holds_opens_over_a_link),
		cmocka_unit_test(a_link_is_read_while_backed_up),
		cmocka_unit_test(agent_gone_and_revoked_end_sessions_at_a),
		cmocka_unit_test(link_lost_rehomes_relayed_keeps_direct),
		cmocka_unit_test(relayed_session_follows_its_connector),
		cmocka_unit_test(agent_moves_and_a_takes_its_session_up),
		cmocka_unit_test(both_move_agent_first_session_local_when_c1_comes),
		cmocka_unit_test(connector_moves_home_its_session_follows),
		cmocka_unit_test(connector_moves_home_record_there_first),
		cmocka_unit_test(agent_then_connector_move_home),
		cmocka_unit_test(many_orphans_look_elsewhere_once),
	};
	return cmocka_run_group_tests(tests, nh_fixture_setup, nh_fixture_teardown);
}
