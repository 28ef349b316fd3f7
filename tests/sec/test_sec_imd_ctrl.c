/*
 * The Intermediate's control plane against authenticated but hostile or broken
 * parties (issue 11; each finding reproduced on commit 228d3a4, src/node/imd.c):
 *
 *  - Service hijack: any authenticated connector could register any service, and
 *    the newest registration took every new session of it.
 *  - One agent's OPEN flood: sessions and held OPENs without bound, one log line
 *    per refused or held OPEN.
 *  - 16,384 OPENs over 16 connections filled the SESSION backlog towards the
 *    connector, and the Intermediate closed the connector's connection ("control
 *    stream not read"), ending every session of its services.
 *  - OPENs held before the connector registered were released past max-sessions.
 *  - A control-message flood was answered message for message, without bound.
 *
 *   alice, bob, a0..a15 (agents) ---.
 *                                    +--- Intermediate 127.0.0.1:4433
 *   c1 (web, db), c2 (mail) --------'
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
#include <time.h>

#include "core/err.h"
#include "core/units.h"
#include "node/relay.h"
#include "node_harness.h"

#define NAGENTS 16

struct sec_fixture {
	struct nh_fixture *nh;
	struct zt_pki_pem agent[NAGENTS]; /* a0..a15 */
};

/* What an agent got for its OPENs. */
struct answers {
	size_t sessions, errors, busy, quota, other;
};

struct world {
	struct nh_world nw; /* the Intermediate, alice, bob, c1, c2 */
	struct sec_fixture *sf;
	struct nh_ep *ag; /* NAGENTS */
	struct answers alice_ans, ag_ans[NAGENTS];
	struct zt_tls_ctx *ag_tls[NAGENTS];
	unsigned long lines, refusal_lines;
};

static int setup(void **state)
{
	struct sec_fixture *sf = calloc(1, sizeof(*sf));
	struct zt_pki_ca *ca = NULL;
	void *nh = NULL;
	char name[8];
	int rc = -1;

	if (!sf || nh_fixture_setup(&nh) < 0)
		goto out;
	sf->nh = nh;
	if (zt_pki_ca_load(&ca, sf->nh->pki.q.ca.cert, sf->nh->pki.q.ca.key) < 0)
		goto out;
	for (int i = 0; i < NAGENTS; i++) {
		snprintf(name, sizeof(name), "a%d", i);
		struct zt_pki_subject s = { .kind = ZT_PKI_AGENT, .name = name };
		if (zt_pki_issue(ca, &s, time(NULL), &sf->nh->rng, &sf->agent[i]) < 0)
			goto out;
	}
	*state = sf;
	rc = 0;
out:
	zt_pki_ca_free(ca);
	return rc;
}

static int teardown(void **state)
{
	struct sec_fixture *sf = *state;
	void *nh = sf->nh;

	for (int i = 0; i < NAGENTS; i++)
		zt_pki_pem_fini(&sf->agent[i]);
	nh_fixture_teardown(&nh);
	free(sf);
	return 0;
}

static void count_log(void *arg, enum zt_node_level level, const char *event, const char *kv)
{
	struct world *w = arg;

	w->lines++;
	if (!strcmp(event, "open_refused") || !strcmp(event, "open_held") ||
	    !strcmp(event, "register_refused"))
		w->refusal_lines++;
	if (getenv("NH_LOG"))
		nh_log("imd", level, event, kv);
}

static void on_answer(struct nh_ep *e, const struct zt_ctrl_msg *m, void *arg)
{
	struct answers *a = arg;
	(void)e;

	if (m->type == ZT_CTRL_SESSION && m->u.session.request_id)
		a->sessions++;
	if (m->type != ZT_CTRL_ERROR || !m->u.error.request_id)
		return;
	a->errors++;
	if (m->u.error.code == (uint32_t)-ZT_EBUSY)
		a->busy++;
	else if (m->u.error.code == (uint32_t)-ZT_EQUOTA)
		a->quota++;
	else
		a->other++;
}

static void world_init(struct world *w, struct sec_fixture *sf)
{
	static const char *const policy[] = {
		"client agent:alice:pw-alice", "client agent:bob:pw-bob",
		"client connector:c1:pw-c1", "client connector:c2:pw-c2",
		"allow alice=web,db,ghost", "allow bob=db,mail", "allow *=web",
		"serve c1=web,db", "serve c2=mail", NULL,
	};
	struct nh_fixture *f = sf->nh;
	const char *why;
	char spec[64], addr[32];

	memset(w, 0, sizeof(*w));
	w->sf = sf;
	nh_world_init(&w->nw, f, policy);
	for (int i = 0; i < NAGENTS; i++) {
		snprintf(spec, sizeof(spec), "agent:a%d:pw-a%d", i, i);
		assert_int_equal(zt_policy_add_client(w->nw.policy, spec, &why), 0);
	}
	w->ag = calloc(NAGENTS, sizeof(*w->ag));
	assert_non_null(w->ag);
	for (int i = 0; i < NAGENTS; i++) {
		snprintf(addr, sizeof(addr), "127.0.1.%d:5000", i + 1);
		nh_ep_init(&w->ag[i], &w->nw.net, NH_RAW, addr, (uint64_t)(i % 4 + 2) * ZT_MS);
		w->ag_tls[i] = nh_tls(f, ZT_TLS_CLIENT, ZT_ALPN_OUTER, &sf->agent[i], false);
	}
	w->nw.icfg.log = (struct zt_node_log){ .fn = count_log, .arg = w,
					       .max_level = ZT_NODE_DEBUG };
}

static void world_fini(struct world *w)
{
	nh_world_fini(&w->nw);
	free(w->ag);
	for (int i = 0; i < NAGENTS; i++)
		zt_tls_ctx_free(w->ag_tls[i]);
}

static void login_agent(struct world *w, struct nh_ep *e, struct zt_tls_ctx *tls, const char *name,
			struct answers *ans)
{
	nh_raw_login(e, tls, &w->nw.imd.addr, ZT_CTRL_ROLE_AGENT, name, NULL, NULL);
	e->raw.on_msg = on_answer;
	e->raw.on_msg_arg = ans;
}

static void login_agents(struct world *w)
{
	char name[8];

	for (int i = 0; i < NAGENTS; i++) {
		snprintf(name, sizeof(name), "a%d", i);
		login_agent(w, &w->ag[i], w->ag_tls[i], name, &w->ag_ans[i]);
	}
}

static bool established(const struct nh_ep *e)
{
	return e->raw.conn && zt_quic_conn_state(e->raw.conn) == ZT_QUIC_ESTABLISHED;
}

static void ping(struct nh_ep *e, uint64_t nonce)
{
	struct zt_ctrl_msg m;

	zt_ctrl_msg_init(&m, ZT_CTRL_PING);
	m.u.ping.nonce = nonce;
	m.u.ping.timestamp = e->net->now;
	(void)nh_raw_send(e, &m);
}

/* c1 serving web and db, bob with a session to db through it: the bystanders every
 * test checks. Returns the session id. */
static uint32_t bystander_session(struct world *w)
{
	const struct zt_ctrl_msg *m;

	nh_raw_login(&w->nw.c1, w->nw.c1_tls, &w->nw.imd.addr, ZT_CTRL_ROLE_CONNECTOR, "c1", NULL,
		     "web,db");
	nh_raw_login(&w->nw.bob, w->nw.bob_tls, &w->nw.imd.addr, ZT_CTRL_ROLE_AGENT, "bob", NULL,
		     NULL);
	assert_int_equal(nh_raw_open(&w->nw.bob, 77, "db", 0), 0);
	assert_true(nh_wait_total(&w->nw.net, &w->nw.bob, ZT_CTRL_SESSION, 1, 3 * ZT_SEC));
	assert_true(nh_wait_total(&w->nw.net, &w->nw.c1, ZT_CTRL_SESSION, 1, 3 * ZT_SEC));
	m = nh_raw_last(&w->nw.bob, ZT_CTRL_SESSION);
	assert_string_equal(m->u.session.peer_identity, "ztna:connector:c1");
	return (uint32_t)m->u.session.session_id;
}

/* The bystander session is still there, both ends connected, and relays. */
static void bystander_alive(struct world *w, uint32_t id)
{
	struct zt_imd_session_info si;
	uint8_t pkt[64];
	size_t before = w->nw.c1.raw.ndgrams;

	assert_true(established(&w->nw.c1));
	assert_true(established(&w->nw.bob));
	assert_int_equal(zt_imd_session_info(w->nw.imd.imd, id, &si), 0);
	zt_relay_hdr_write(pkt, sizeof(pkt), id);
	memcpy(pkt + ZT_RELAY_HDR_LEN, "still here", 10);
	assert_int_equal(zt_quic_dgram_send(w->nw.bob.raw.conn, pkt, ZT_RELAY_HDR_LEN + 10), 0);
	nh_run_for(&w->nw.net, 300 * ZT_MS);
	assert_int_equal(w->nw.c1.raw.ndgrams, before + 1);
}

static void report(struct world *w, const char *what)
{
	struct zt_imd_stats st;
	size_t sessions = 0, busy = 0, quota = 0;

	zt_imd_stats(w->nw.imd.imd, &st);
	for (int i = 0; i < NAGENTS; i++) {
		sessions += w->ag_ans[i].sessions;
		busy += w->ag_ans[i].busy;
		quota += w->ag_ans[i].quota;
	}
	print_message("# %s: sessions_opened=%" PRIu64 " now=%zu answers: session=%zu busy=%zu quota=%zu;"
		      " held=%" PRIu64 " open_busy=%" PRIu64 " held_refused=%" PRIu64
		      " rate_limited=%" PRIu64 " send_dropped=%" PRIu64 " stalled_closed=%" PRIu64
		      " c1 SESSIONs=%zu log lines=%lu\n",
		      what, st.sessions_opened, st.sessions, sessions, busy, quota, st.held, st.open_busy,
		      st.held_refused, st.open_rate_limited, st.ctrl_send_dropped,
		      st.ctrl_stalled_closed, nh_raw_total(&w->nw.c1, ZT_CTRL_SESSION), w->lines);
}

static size_t answered(const struct answers *a)
{
	return a->sessions + a->errors;
}

static size_t all_answered(const struct world *w)
{
	size_t n = 0;

	for (int i = 0; i < NAGENTS; i++)
		n += answered(&w->ag_ans[i]);
	return n;
}

struct until_answered {
	struct world *w;
	size_t want;
};

static bool agents_answered(void *arg, uint64_t now)
{
	struct until_answered *u = arg;
	(void)now;
	return all_answered(u->w) >= u->want;
}

/* Whole seconds from t0 to now, rounded up. */
static uint64_t secs_since(const struct world *w, uint64_t t0)
{
	return (w->nw.net.now - t0 + ZT_SEC - 1) / ZT_SEC;
}

/* Service hijack, HELLO: c2 names c1's service web among its own. */
static void hijack_in_hello_refused(void **state)
{
	struct world w;
	const struct zt_ctrl_msg *m;
	struct zt_imd_stats st;

	world_init(&w, *state);
	nh_world_start(&w.nw);
	bystander_session(&w);
	/* c2 logs in last: with "the newest registration wins" it took web. */
	nh_raw_login(&w.nw.c2, w.nw.c2_tls, &w.nw.imd.addr, ZT_CTRL_ROLE_CONNECTOR, "c2", NULL,
		     "web,mail");
	assert_true(nh_wait_total(&w.nw.net, &w.nw.c2, ZT_CTRL_ERROR, 1, 2 * ZT_SEC));
	m = nh_raw_last(&w.nw.c2, ZT_CTRL_ERROR);
	assert_int_equal(m->u.error.code, (uint32_t)-ZT_ENOTSERVER);
	assert_int_equal(m->u.error.request_id, 0);
	assert_non_null(strstr(m->u.error.text, "may not serve web"));
	assert_non_null(strstr(m->u.error.text, "--serve c2=web"));
	assert_true(established(&w.nw.c2)); /* refused in part, not thrown out */
	/* alice's session to web goes to its owner. */
	login_agent(&w, &w.nw.alice, w.nw.alice_tls, "alice", &w.alice_ans);
	assert_int_equal(nh_raw_open(&w.nw.alice, 1, "web", 0), 0);
	assert_true(nh_wait_total(&w.nw.net, &w.nw.alice, ZT_CTRL_SESSION, 1, 3 * ZT_SEC));
	assert_string_equal(nh_raw_last(&w.nw.alice, ZT_CTRL_SESSION)->u.session.peer_identity,
			    "ztna:connector:c1");
	/* c2's own service is registered. */
	assert_int_equal(nh_raw_open(&w.nw.bob, 2, "mail", 0), 0);
	assert_true(nh_wait_total(&w.nw.net, &w.nw.bob, ZT_CTRL_SESSION, 2, 3 * ZT_SEC));
	assert_string_equal(nh_raw_last(&w.nw.bob, ZT_CTRL_SESSION)->u.session.peer_identity,
			    "ztna:connector:c2");
	assert_true(nh_wait_total(&w.nw.net, &w.nw.c2, ZT_CTRL_SESSION, 1, 3 * ZT_SEC));
	assert_int_equal(nh_raw_total(&w.nw.c1, ZT_CTRL_SESSION), 2); /* bob's db, alice's web */
	zt_imd_stats(w.nw.imd.imd, &st);
	assert_int_equal(st.register_refused, 1);
	assert_int_equal(w.refusal_lines, 1);
	world_fini(&w);
}

/* Service hijack, REGISTER: c2 adds web later, and a service no rule binds. */
static void hijack_by_register_refused(void **state)
{
	struct world w;
	struct zt_ctrl_msg reg;
	const struct zt_ctrl_msg *m;

	world_init(&w, *state);
	nh_world_start(&w.nw);
	bystander_session(&w);
	nh_raw_login(&w.nw.c2, w.nw.c2_tls, &w.nw.imd.addr, ZT_CTRL_ROLE_CONNECTOR, "c2", NULL,
		     "mail");
	zt_ctrl_msg_init(&reg, ZT_CTRL_REGISTER);
	reg.u.reg.n_services = 3;
	snprintf(reg.u.reg.services[0], sizeof(reg.u.reg.services[0]), "web");
	snprintf(reg.u.reg.services[1], sizeof(reg.u.reg.services[1]), "mail");
	snprintf(reg.u.reg.services[2], sizeof(reg.u.reg.services[2]), "ghost");
	assert_int_equal(nh_raw_send(&w.nw.c2, &reg), 0);
	assert_true(nh_wait_total(&w.nw.net, &w.nw.c2, ZT_CTRL_ERROR, 2, 2 * ZT_SEC));
	m = nh_raw_last(&w.nw.c2, ZT_CTRL_ERROR);
	assert_int_equal(m->u.error.code, (uint32_t)-ZT_ENOTSERVER);
	assert_non_null(strstr(m->u.error.text, "ghost")); /* zero trust: no rule, no service */
	login_agent(&w, &w.nw.alice, w.nw.alice_tls, "alice", &w.alice_ans);
	assert_int_equal(nh_raw_open(&w.nw.alice, 1, "web", 0), 0);
	assert_int_equal(nh_raw_open(&w.nw.alice, 2, "ghost", 0), 0);
	assert_true(nh_wait_total(&w.nw.net, &w.nw.alice, ZT_CTRL_SESSION, 1, 3 * ZT_SEC));
	assert_true(nh_wait_total(&w.nw.net, &w.nw.alice, ZT_CTRL_ERROR, 1, 3 * ZT_SEC));
	assert_string_equal(nh_raw_last(&w.nw.alice, ZT_CTRL_SESSION)->u.session.peer_identity,
			    "ztna:connector:c1");
	assert_int_equal(nh_raw_last(&w.nw.alice, ZT_CTRL_ERROR)->u.error.code,
			 (uint32_t)-ZT_ENOSERVICE);
	assert_int_equal(nh_raw_open(&w.nw.bob, 3, "mail", 0), 0);
	assert_true(nh_wait_total(&w.nw.net, &w.nw.bob, ZT_CTRL_SESSION, 2, 3 * ZT_SEC));
	assert_string_equal(nh_raw_last(&w.nw.bob, ZT_CTRL_SESSION)->u.session.peer_identity,
			    "ztna:connector:c2");
	assert_true(nh_wait_total(&w.nw.net, &w.nw.c2, ZT_CTRL_SESSION, 1, 3 * ZT_SEC));
	assert_int_equal(nh_raw_total(&w.nw.c1, ZT_CTRL_SESSION), 2); /* bob's db, alice's web */
	world_fini(&w);
}

/* A service is a name (1-63 of [A-Za-z0-9-]) even where a rule allows any ("serve c2=*"):
 * a longer one is refused at registration, the longest one works end to end. */
static void service_names_are_names(void **state)
{
	struct world w;
	struct zt_ctrl_msg reg;
	const struct zt_ctrl_msg *m;
	char longest[ZT_PKI_NAME_MAX + 1], too_long[ZT_PKI_NAME_MAX + 2];
	const char *why;

	world_init(&w, *state);
	assert_int_equal(zt_policy_add_serve(w.nw.policy, "c2=*", &why), 0);
	assert_int_equal(zt_policy_add_allow(w.nw.policy, "alice=*", &why), 0);
	memset(longest, 'l', sizeof(longest) - 1);
	longest[sizeof(longest) - 1] = '\0';
	memset(too_long, 't', sizeof(too_long) - 1);
	too_long[sizeof(too_long) - 1] = '\0';
	nh_world_start(&w.nw);
	nh_raw_login(&w.nw.c2, w.nw.c2_tls, &w.nw.imd.addr, ZT_CTRL_ROLE_CONNECTOR, "c2", NULL,
		     "mail");
	zt_ctrl_msg_init(&reg, ZT_CTRL_REGISTER);
	reg.u.reg.n_services = 3;
	snprintf(reg.u.reg.services[0], sizeof(reg.u.reg.services[0]), "%s", longest);
	snprintf(reg.u.reg.services[1], sizeof(reg.u.reg.services[1]), "%s", too_long);
	snprintf(reg.u.reg.services[2], sizeof(reg.u.reg.services[2]), "bad_name");
	assert_int_equal(nh_raw_send(&w.nw.c2, &reg), 0);
	assert_true(nh_wait_total(&w.nw.net, &w.nw.c2, ZT_CTRL_ERROR, 2, 2 * ZT_SEC));
	m = nh_raw_last(&w.nw.c2, ZT_CTRL_ERROR);
	assert_int_equal(m->u.error.code, (uint32_t)-ZT_ENOTSERVER);
	assert_non_null(strstr(m->u.error.text, "bad_name is not a service name"));
	login_agent(&w, &w.nw.alice, w.nw.alice_tls, "alice", &w.alice_ans);
	assert_int_equal(nh_raw_open(&w.nw.alice, 1, longest, 0), 0);
	assert_true(nh_wait_total(&w.nw.net, &w.nw.alice, ZT_CTRL_SESSION, 1, 3 * ZT_SEC));
	m = nh_raw_last(&w.nw.alice, ZT_CTRL_SESSION);
	assert_string_equal(m->u.session.service, longest);
	assert_string_equal(m->u.session.peer_identity, "ztna:connector:c2");
	assert_int_equal(nh_raw_open(&w.nw.alice, 2, too_long, 0), 0);
	assert_true(nh_wait_total(&w.nw.net, &w.nw.alice, ZT_CTRL_ERROR, 1, 3 * ZT_SEC));
	assert_int_equal(nh_raw_last(&w.nw.alice, ZT_CTRL_ERROR)->u.error.code,
			 (uint32_t)-ZT_ENOSERVICE);
	assert_int_equal(nh_raw_total(&w.nw.alice, ZT_CTRL_SESSION), 1);
	world_fini(&w);
}

/*
 * One agent, 6,000 OPENs at once: sessions bounded by the OPEN rate, each OPEN
 * answered (SESSION or ERROR with its REQUEST_ID) until the agent, over its
 * control-message budget by a second burst, is closed (1510); a bounded number of
 * log lines; the connector and another agent's session untouched.
 */
static void open_flood_one_connection(void **state)
{
	struct world w;
	struct zt_imd_stats st;
	struct zt_quic_close_info ci;
	uint64_t t0;
	uint32_t id;
	unsigned long lines0;

	world_init(&w, *state);
	nh_world_start(&w.nw);
	id = bystander_session(&w);
	login_agent(&w, &w.nw.alice, w.nw.alice_tls, "alice", &w.alice_ans);
	t0 = w.nw.net.now;
	lines0 = w.lines;
	for (int i = 0; i < 6000; i++) {
		(void)nh_raw_open(&w.nw.alice, (uint64_t)i + 1, "web", 0);
		if (i % 250 == 249)
			nh_run_for(&w.nw.net, 5 * ZT_MS);
	}
	nh_run_for(&w.nw.net, 1 * ZT_SEC);
	zt_imd_stats(w.nw.imd.imd, &st);
	/* open-burst 100 + open-rate 20/s */
	assert_true(w.alice_ans.sessions <= 100 + 20 * secs_since(&w, t0));
	/* its budget (1,000 + 16 per session) handled, as many again answered 1510, then
	 * closed */
	assert_int_equal(st.ctrl_budget_closed, 1);
	assert_true(answered(&w.alice_ans) >= 5000);
	assert_true(w.alice_ans.busy >= 4800);
	assert_int_equal(w.alice_ans.other, 0);
	assert_true(zt_quic_conn_state(w.nw.alice.raw.conn) >= ZT_QUIC_CLOSING);
	zt_quic_conn_close_info(w.nw.alice.raw.conn, &ci);
	assert_true(ci.by_peer && ci.app);
	assert_int_equal(ci.code, (uint64_t)-ZT_EBUSY);
	/* bob's session is the one left */
	assert_true(st.open_rate_limited >= 800);
	assert_int_equal(st.sessions, 1);
	assert_int_equal(st.held_now, 0);
	/* a line per session opened and closed, a window's worth of refusals */
	assert_true(w.lines - lines0 <= 2 * w.alice_ans.sessions + 20);
	bystander_alive(&w, id);
	world_fini(&w);
}

/* The finding: 16 agents x 1,024 OPENs towards one connector. The connector keeps its
 * connection and its other sessions, learns of every session made, and every OPEN is
 * answered. */
static void open_flood_16_connections_keeps_the_connector(void **state)
{
	struct world w;
	struct zt_imd_stats st;
	struct until_answered u;
	uint64_t t0;
	uint32_t id;

	world_init(&w, *state);
	nh_world_start(&w.nw);
	id = bystander_session(&w);
	login_agents(&w);
	t0 = w.nw.net.now;
	for (int i = 0; i < NAGENTS; i++)
		for (int k = 0; k < 1024; k++)
			assert_int_equal(nh_raw_open(&w.ag[i], (uint64_t)k + 1, "web", 0), 0);
	u = (struct until_answered){ .w = &w, .want = NAGENTS * 1024 };
	assert_true(nh_run(&w.nw.net, agents_answered, &u, w.nw.net.now + 15 * ZT_SEC));
	nh_run_for(&w.nw.net, 500 * ZT_MS);
	report(&w, "16 x 1024 OPENs");
	zt_imd_stats(w.nw.imd.imd, &st);
	assert_true(established(&w.nw.c1));
	assert_int_equal(all_answered(&w), NAGENTS * 1024);
	assert_true(st.sessions <= 1 + NAGENTS * (100 + 20 * secs_since(&w, t0)));
	/* every session made reached the connector; none of its messages was dropped */
	assert_int_equal(nh_raw_total(&w.nw.c1, ZT_CTRL_SESSION), st.sessions_opened);
	assert_int_equal(st.ctrl_send_dropped, 0);
	assert_int_equal(st.ctrl_stalled_closed, 0);
	bystander_alive(&w, id);
	world_fini(&w);
}

/* OPENs held while no connector is registered: at most max_sessions of them count,
 * and registration releases no more than max_sessions. */
static void held_opens_never_past_max_sessions(void **state)
{
	struct world w;
	struct zt_imd_stats st;

	world_init(&w, *state);
	w.nw.icfg.max_sessions = 8;
	w.nw.icfg.open_hold = 10 * ZT_SEC;
	nh_world_start(&w.nw);
	login_agent(&w, &w.nw.alice, w.nw.alice_tls, "alice", &w.alice_ans);
	for (int i = 0; i < 20; i++)
		assert_int_equal(nh_raw_open(&w.nw.alice, (uint64_t)i + 1, "web", 0), 0);
	nh_run_for(&w.nw.net, 200 * ZT_MS);
	assert_int_equal(w.alice_ans.quota, 12);
	zt_imd_stats(w.nw.imd.imd, &st);
	assert_int_equal(st.held_now, 8);
	nh_raw_login(&w.nw.c1, w.nw.c1_tls, &w.nw.imd.addr, ZT_CTRL_ROLE_CONNECTOR, "c1", NULL,
		     "web");
	nh_run_for(&w.nw.net, 500 * ZT_MS);
	zt_imd_stats(w.nw.imd.imd, &st);
	assert_int_equal(st.sessions, 8);
	assert_int_equal(w.alice_ans.sessions, 8);
	assert_int_equal(answered(&w.alice_ans), 20);
	/* and the cap holds after the release */
	assert_int_equal(nh_raw_open(&w.nw.alice, 99, "web", 0), 0);
	nh_run_for(&w.nw.net, 200 * ZT_MS);
	assert_int_equal(w.alice_ans.quota, 13);
	world_fini(&w);
}

/* Held OPENs are bounded per connection and in total; the log does not follow. */
static void held_opens_bounded(void **state)
{
	struct world w;
	struct zt_imd_stats st;
	struct until_answered u;

	world_init(&w, *state);
	w.nw.icfg.open_hold = 10 * ZT_SEC;
	w.nw.icfg.max_held_total = 100;
	nh_world_start(&w.nw);
	login_agent(&w, &w.nw.alice, w.nw.alice_tls, "alice", &w.alice_ans);
	for (int i = 0; i < 900; i++)
		assert_int_equal(nh_raw_open(&w.nw.alice, (uint64_t)i + 1, "web", 0), 0);
	nh_run_for(&w.nw.net, 300 * ZT_MS);
	zt_imd_stats(w.nw.imd.imd, &st);
	assert_int_equal(st.held, 32); /* max-held per connection */
	assert_int_equal(st.held_now, 32);
	assert_int_equal(answered(&w.alice_ans), 900 - 32);
	assert_true(w.refusal_lines <= 10);
	/* 16 more agents: the total cap */
	login_agents(&w);
	for (int i = 0; i < NAGENTS; i++)
		for (int k = 0; k < 40; k++)
			assert_int_equal(nh_raw_open(&w.ag[i], (uint64_t)k + 1, "web", 0), 0);
	u = (struct until_answered){ .w = &w, .want = NAGENTS * 40 - (100 - 32) };
	assert_true(nh_run(&w.nw.net, agents_answered, &u, w.nw.net.now + 2 * ZT_SEC));
	zt_imd_stats(w.nw.imd.imd, &st);
	assert_int_equal(st.held_now, 100);
	/* the connector comes: every held OPEN gets its session */
	nh_raw_login(&w.nw.c1, w.nw.c1_tls, &w.nw.imd.addr, ZT_CTRL_ROLE_CONNECTOR, "c1", NULL,
		     "web");
	u.want = NAGENTS * 40;
	assert_true(nh_run(&w.nw.net, agents_answered, &u, w.nw.net.now + 2 * ZT_SEC));
	nh_run_for(&w.nw.net, 200 * ZT_MS);
	assert_int_equal(answered(&w.alice_ans), 900);
	zt_imd_stats(w.nw.imd.imd, &st);
	assert_int_equal(st.held_now, 0);
	assert_int_equal(st.sessions, 100);
	world_fini(&w);
}

/* A client sending control messages nonstop: within its budget everything is
 * answered; over it messages are dropped with one ERROR 1510, and a client that goes
 * on is closed. Nobody else notices. */
static void ctrl_flood_bounded(void **state)
{
	struct world w;
	struct zt_imd_stats st;
	struct zt_quic_close_info ci;
	uint64_t t0;
	uint32_t id;

	world_init(&w, *state);
	nh_world_start(&w.nw);
	id = bystander_session(&w);
	login_agent(&w, &w.nw.alice, w.nw.alice_tls, "alice", &w.alice_ans);
	/* 150 a second for 4 s: within the budget */
	for (int i = 0; i < 80; i++) {
		for (int k = 0; k < 8; k++)
			ping(&w.nw.alice, (uint64_t)(i * 8 + k));
		nh_run_for(&w.nw.net, 50 * ZT_MS);
	}
	nh_run_for(&w.nw.net, 200 * ZT_MS);
	assert_int_equal(nh_raw_total(&w.nw.alice, ZT_CTRL_PONG), 640);
	assert_int_equal(nh_raw_total(&w.nw.alice, ZT_CTRL_ERROR), 0);
	/* 10,000 in 0.2 s */
	t0 = w.nw.net.now;
	for (int i = 0; i < 20; i++) {
		for (int k = 0; k < 500; k++)
			ping(&w.nw.alice, (uint64_t)k);
		nh_run_for(&w.nw.net, 10 * ZT_MS);
	}
	nh_run_for(&w.nw.net, 500 * ZT_MS);
	assert_true(nh_raw_total(&w.nw.alice, ZT_CTRL_PONG) <= 640 + 1000 + 200 * secs_since(&w, t0));
	assert_int_equal(nh_raw_total(&w.nw.alice, ZT_CTRL_ERROR), 1);
	assert_int_equal(w.nw.alice.raw.last_error.code, (uint32_t)-ZT_EBUSY);
	assert_true(zt_quic_conn_state(w.nw.alice.raw.conn) >= ZT_QUIC_CLOSING);
	zt_quic_conn_close_info(w.nw.alice.raw.conn, &ci);
	assert_true(ci.by_peer && ci.app);
	assert_int_equal(ci.code, (uint64_t)-ZT_EBUSY);
	zt_imd_stats(w.nw.imd.imd, &st);
	assert_int_equal(st.ctrl_budget_closed, 1);
	bystander_alive(&w, id);
	world_fini(&w);
}

/* The bystander session, then 16 agents open sessions (1,024 each over 4 s, OPEN rate
 * raised to let them) to a connector that stops reading its control stream. Returns
 * the bystander session's id, *ret_t0 when the flood began. */
static uint32_t flood_a_stuck_connector(struct world *w, struct sec_fixture *sf, uint64_t *ret_t0)
{
	uint32_t id;

	world_init(w, sf);
	w->nw.icfg.open_rate = 1000;
	w->nw.icfg.open_burst = 1000;
	nh_world_start(&w->nw);
	id = bystander_session(w);
	*ret_t0 = w->nw.net.now;
	login_agents(w);
	w->nw.c1.raw.no_read = true;
	/* 1,024 OPENs each over 4 s */
	for (int round = 0; round < 16; round++) {
		for (int i = 0; i < NAGENTS; i++)
			for (int k = 0; k < 64; k++)
				assert_int_equal(nh_raw_open(&w->ag[i],
							     (uint64_t)(round * 64 + k) + 1, "web",
							     0), 0);
		nh_run_for(&w->nw.net, 250 * ZT_MS);
	}
	return id;
}

/*
 * A connector that reads nothing while sessions are opened to it keeps its connection
 * (and its sessions) until it has read nothing for ctrl-stall (30 s): its own fault;
 * meanwhile OPENs for it wait (busy-hold) and get ERROR 1510. Sessions to other
 * services go on.
 */
static void stuck_connector_closed_only_for_its_own_reading(void **state)
{
	struct world w;
	struct zt_imd_stats st;
	struct zt_quic_close_info ci;
	struct until_answered u;
	uint32_t id;
	uint64_t t0;

	id = flood_a_stuck_connector(&w, *state, &t0);
	u = (struct until_answered){ .w = &w, .want = NAGENTS * 1024 };
	assert_true(nh_run(&w.nw.net, agents_answered, &u, w.nw.net.now + 10 * ZT_SEC));
	nh_run_alive(&w.nw.net, t0 + 20 * ZT_SEC - w.nw.net.now);
	report(&w, "stuck connector after 20 s");
	zt_imd_stats(w.nw.imd.imd, &st);
	assert_true(established(&w.nw.c1));
	assert_non_null(w.nw.imd.imd); /* the bystander session is still there... */
	assert_true(zt_imd_session_info(w.nw.imd.imd, id, &(struct zt_imd_session_info){ 0 }) == 0);
	assert_true(st.open_busy > 0);
	assert_int_equal(st.ctrl_stalled_closed, 0);
	/* ... until the connector has read nothing for 30 s */
	nh_run_alive(&w.nw.net, 25 * ZT_SEC);
	assert_true(zt_quic_conn_state(w.nw.c1.raw.conn) >= ZT_QUIC_CLOSING);
	zt_quic_conn_close_info(w.nw.c1.raw.conn, &ci);
	assert_true(ci.by_peer && ci.app);
	assert_int_equal(ci.code, (uint64_t)-ZT_ETIMEOUT);
	zt_imd_stats(w.nw.imd.imd, &st);
	assert_int_equal(st.ctrl_stalled_closed, 1);
	assert_true(established(&w.nw.bob));
	for (int i = 0; i < NAGENTS; i++)
		assert_true(established(&w.ag[i]));
	world_fini(&w);
}

/* The same connector catching up after 10 s: nothing is closed, and it learns of every
 * session made for it. */
static void slow_connector_catches_up(void **state)
{
	struct world w;
	struct zt_imd_stats st;
	uint32_t id;
	uint64_t t0;

	id = flood_a_stuck_connector(&w, *state, &t0);
	nh_run_alive(&w.nw.net, t0 + 10 * ZT_SEC - w.nw.net.now);
	w.nw.c1.raw.no_read = false;
	nh_raw_read(&w.nw.c1);
	nh_run_alive(&w.nw.net, 35 * ZT_SEC);
	report(&w, "slow connector after 45 s");
	zt_imd_stats(w.nw.imd.imd, &st);
	assert_int_equal(all_answered(&w), NAGENTS * 1024);
	assert_int_equal(st.ctrl_stalled_closed, 0);
	assert_int_equal(st.ctrl_send_dropped, 0);
	assert_int_equal(nh_raw_total(&w.nw.c1, ZT_CTRL_SESSION), st.sessions_opened);
	bystander_alive(&w, id);
	world_fini(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(hijack_in_hello_refused),
		cmocka_unit_test(hijack_by_register_refused),
		cmocka_unit_test(service_names_are_names),
		cmocka_unit_test(open_flood_one_connection),
		cmocka_unit_test(open_flood_16_connections_keeps_the_connector),
		cmocka_unit_test(held_opens_never_past_max_sessions),
		cmocka_unit_test(held_opens_bounded),
		cmocka_unit_test(ctrl_flood_bounded),
		cmocka_unit_test(stuck_connector_closed_only_for_its_own_reading),
		cmocka_unit_test(slow_connector_catches_up),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
