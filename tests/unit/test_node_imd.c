/*
 * node/imd.h: the Intermediate, driven on the in-memory network by raw control
 * clients (an outer connection and a control channel each, scripted by the test):
 * authentication, policy, pairing, relaying with quotas and rates, signaling and its timing,
 * observed-address changes, replacement by a newer login, stateless resets after a
 * restart, garbage; address validation with Retry, half-open limits and timeouts;
 * per-identity limits (relay rate, sessions, transport, direct); the relay channel
 * (its binding rules: tests/sec/test_sec_relaychan.c).
 *
 *     alice 127.0.0.2:5000 (5 ms) ---.
 *     bob   127.0.0.4:5000 (5 ms) ----+--- Intermediate 127.0.0.1:4433 (0 ms)
 *     c1    127.0.0.3:6000 (20 ms) --'
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/err.h"
#include "core/route.h"
#include "core/stun.h"
#include "core/units.h"
#include "node/relay.h"
#include "node/relaytab.h"
#include "node_harness.h"

/* The world (node_harness.h) with this file's policy, the Intermediate started with
 * quota_pkts and open_hold (0: the defaults). */
static void world_init(struct nh_world *w, struct nh_fixture *f, uint64_t quota_pkts,
		       uint64_t open_hold)
{
	static const char *const policy[] = {
		"client agent:alice:pw-alice", "client agent:bob:pw-bob", "client connector:c1:pw-c1",
		"allow alice=web,ghost", "allow bob=db", "serve c1=web,db", NULL,
	};

	nh_world_init(w, f, policy);
	w->icfg.quota_packets = quota_pkts;
	w->icfg.open_hold = open_hold;
	w->icfg.reset_key = nh_reset_key;
	w->icfg.reset_key_len = sizeof(nh_reset_key);
	nh_world_start(w);
}

/* The Intermediate again, with w->icfg as the test changed it. */
static void restart_imd(struct nh_world *w)
{
	zt_imd_free(w->imd.imd);
	assert_int_equal(zt_imd_new(&w->imd.imd, &w->icfg, w->net.now), 0);
}

static void welcome_with_observed_address(void **state)
{
	struct nh_world w;
	const struct zt_ctrl_msg *m;
	struct zt_imd_stats st;

	world_init(&w, *state, 0, 0);
	nh_raw_login(&w.alice, w.alice_tls, &w.imd.addr, ZT_CTRL_ROLE_AGENT, "alice", "pw-alice",
		     NULL);
	m = nh_raw_last(&w.alice, ZT_CTRL_WELCOME);
	assert_non_null(m);
	assert_true(m->u.welcome.client_id != 0);
	assert_true(zt_addr_equal(&m->u.welcome.observed, &w.alice.addr));
	zt_imd_stats(w.imd.imd, &st);
	assert_int_equal(st.auth_ok, 1);
	assert_int_equal(st.auth_failed, 0);
	assert_int_equal(st.clients, 1);
	nh_world_fini(&w);
}

/* With tunnel pools, an agent's WELCOME carries its tunnel addresses: the same at
 * every start of an Intermediate whatever the order of logins, another for another
 * agent, none for a connector (docs/tunnel.md). */
static void tunnel_world(struct nh_world *w, struct nh_fixture *f)
{
	world_init(w, f, 0, 0);
	zt_imd_free(w->imd.imd);
	assert_int_equal(zt_prefix_parse("100.64.0.0/10", &w->icfg.tun_pool4, &w->icfg.tun_plen4), 0);
	assert_int_equal(zt_prefix_parse("fd7a:7a74::/64", &w->icfg.tun_pool6, &w->icfg.tun_plen6), 0);
	nh_world_start(w);
}

static struct zt_ctrl_welcome login_welcome(struct nh_world *w, struct nh_ep *e,
					    struct zt_tls_ctx *tls, enum zt_ctrl_role role,
					    const char *name, const char *token)
{
	nh_raw_login(e, tls, &w->imd.addr, role, name, token, NULL);
	assert_non_null(nh_raw_last(e, ZT_CTRL_WELCOME));
	return nh_raw_last(e, ZT_CTRL_WELCOME)->u.welcome;
}

static void agents_get_stable_tunnel_addresses(void **state)
{
	struct nh_world w;
	struct zt_ctrl_welcome a, b, c, a2;

	tunnel_world(&w, *state);
	a = login_welcome(&w, &w.alice, w.alice_tls, ZT_CTRL_ROLE_AGENT, "alice", "pw-alice");
	b = login_welcome(&w, &w.bob, w.bob_tls, ZT_CTRL_ROLE_AGENT, "bob", "pw-bob");
	c = login_welcome(&w, &w.c1, w.c1_tls, ZT_CTRL_ROLE_CONNECTOR, "c1", "pw-c1");
	assert_int_equal(a.tun4.family, AF_INET);
	assert_int_equal(a.tun4.ip[0], 100);
	assert_int_equal(a.tun4.ip[1] & 0xc0, 64);
	assert_int_equal(a.tun6.family, AF_INET6);
	assert_int_equal(a.tun6.ip[0], 0xfd);
	assert_false(zt_addr_equal(&a.tun4, &b.tun4));
	assert_int_equal(c.tun4.family, 0);
	assert_int_equal(c.tun6.family, 0);
	nh_world_fini(&w);
	/* a restart, bob first this time */
	tunnel_world(&w, *state);
	login_welcome(&w, &w.bob, w.bob_tls, ZT_CTRL_ROLE_AGENT, "bob", "pw-bob");
	a2 = login_welcome(&w, &w.alice, w.alice_tls, ZT_CTRL_ROLE_AGENT, "alice", "pw-alice");
	assert_true(zt_addr_equal(&a.tun4, &a2.tun4));
	assert_true(zt_addr_equal(&a.tun6, &a2.tun6));
	nh_world_fini(&w);
	/* a pool of the wrong family is refused */
	world_init(&w, *state, 0, 0);
	zt_imd_free(w.imd.imd);
	assert_int_equal(zt_prefix_parse("fd00::/64", &w.icfg.tun_pool4, &w.icfg.tun_plen4), 0);
	{
		struct zt_imd *imd;
		assert_int_equal(zt_imd_new(&imd, &w.icfg, 0), -EINVAL);
	}
	w.imd.imd = NULL;
	nh_world_fini(&w);
}

static void register_routes(struct nh_ep *e, const char *services, const char *const *routes)
{
	struct zt_ctrl_msg m;
	const char *s = services;

	zt_ctrl_msg_init(&m, ZT_CTRL_REGISTER);
	while (*s) {
		size_t len = strcspn(s, ",");
		snprintf(m.u.reg.services[m.u.reg.n_services++], sizeof(m.u.reg.services[0]), "%.*s",
			 (int)len, s);
		s += len + (s[len] == ',');
	}
	for (; *routes; routes++)
		snprintf(m.u.reg.routes[m.u.reg.n_routes++], sizeof(m.u.reg.routes[0]), "%s", *routes);
	assert_int_equal(nh_raw_send(e, &m), 0);
}

/*
 * Routed services reach the agents whose policy allows them (docs/tunnel.md): a
 * connector's routes are checked (the grammar; the name one of its services), each
 * agent gets its whole list as ROUTES after WELCOME and again whenever it changes
 * (not when it does not); the connector's WELCOME names the pools, its SESSION the
 * agent's tunnel addresses.
 */
static void routes_follow_the_policy(void **state)
{
	static const char *const routes[] = {
		"web=10.0.6.20/32:tcp/443,icmp", "db=10.0.5.0/24", "mail=10.0.7.0/24",
		"db=10.0.5.1/24", NULL,
	};
	struct nh_world w;
	struct zt_ctrl_welcome a, c;
	const struct zt_ctrl_msg *m;

	tunnel_world(&w, *state);
	a = login_welcome(&w, &w.alice, w.alice_tls, ZT_CTRL_ROLE_AGENT, "alice", "pw-alice");
	assert_true(nh_wait_count(&w.alice, ZT_CTRL_ROUTES, 1, ZT_SEC));
	assert_int_equal(nh_raw_last(&w.alice, ZT_CTRL_ROUTES)->u.routes.n_routes, 0);
	c = login_welcome(&w, &w.c1, w.c1_tls, ZT_CTRL_ROLE_CONNECTOR, "c1", "pw-c1");
	assert_string_equal(c.tun_pool4, "100.64.0.0/10");
	assert_string_equal(c.tun_pool6, "fd7a:7a74::/64");
	assert_string_equal(a.tun_pool4, "");
	register_routes(&w.c1, "web,db", routes);
	assert_true(nh_wait_count(&w.alice, ZT_CTRL_ROUTES, 2, ZT_SEC));
	m = nh_raw_last(&w.alice, ZT_CTRL_ROUTES);
	assert_int_equal(m->u.routes.n_routes, 1);
	assert_string_equal(m->u.routes.routes[0], "web=10.0.6.20/32:tcp/443,icmp");
	assert_true(nh_wait_count(&w.c1, ZT_CTRL_ERROR, 2, ZT_SEC));
	assert_int_equal(nh_raw_last(&w.c1, ZT_CTRL_ERROR)->u.error.code, (uint32_t)-ZT_ESYNTAX);

	login_welcome(&w, &w.bob, w.bob_tls, ZT_CTRL_ROLE_AGENT, "bob", "pw-bob");
	assert_true(nh_wait_count(&w.bob, ZT_CTRL_ROUTES, 1, ZT_SEC));
	m = nh_raw_last(&w.bob, ZT_CTRL_ROUTES);
	assert_int_equal(m->u.routes.n_routes, 1);
	assert_string_equal(m->u.routes.routes[0], "db=10.0.5.0/24");

	/* the same routes again: nothing new for the agents */
	register_routes(&w.c1, "web,db", routes);
	nh_run_alive(&w.net, 500 * ZT_MS);
	assert_int_equal(nh_raw_count(&w.alice, ZT_CTRL_ROUTES), 2);

	assert_int_equal(nh_raw_open(&w.alice, 7, "web", 0), 0);
	assert_true(nh_wait_count(&w.c1, ZT_CTRL_SESSION, 1, ZT_SEC));
	m = nh_raw_last(&w.c1, ZT_CTRL_SESSION);
	assert_true(zt_addr_equal(&m->u.session.tun4, &a.tun4));
	assert_true(zt_addr_equal(&m->u.session.tun6, &a.tun6));
	assert_true(nh_wait_count(&w.alice, ZT_CTRL_SESSION, 1, ZT_SEC));
	assert_int_equal(nh_raw_last(&w.alice, ZT_CTRL_SESSION)->u.session.tun4.family, 0);

	/* the connector goes: its routes with it */
	zt_quic_conn_close(w.c1.raw.conn, 0, "bye");
	assert_true(nh_wait_count(&w.alice, ZT_CTRL_ROUTES, 3, 3 * ZT_SEC));
	assert_int_equal(nh_raw_last(&w.alice, ZT_CTRL_ROUTES)->u.routes.n_routes, 0);
	nh_world_fini(&w);
}

/* The ERROR arrives, then the connection is closed with the same code. */
static void expect_refusal(struct nh_world *w, struct nh_ep *e, uint32_t code)
{
	const struct zt_ctrl_msg *m;
	struct zt_quic_close_info ci;

	assert_true(nh_wait_count(e, ZT_CTRL_ERROR, 1, 3 * ZT_SEC));
	m = nh_raw_last(e, ZT_CTRL_ERROR);
	assert_int_equal(m->u.error.code, code);
	assert_true(strlen(m->u.error.text) > 0);
	nh_run_for(&w->net, 500 * ZT_MS);
	assert_true(zt_quic_conn_state(e->raw.conn) >= ZT_QUIC_DRAINING);
	zt_quic_conn_close_info(e->raw.conn, &ci);
	assert_true(ci.by_peer);
	assert_true(ci.app);
	assert_int_equal(ci.code, code);
	assert_int_equal(nh_raw_count(e, ZT_CTRL_WELCOME), 0);
}

/* As expect_refusal, for a connection that was welcomed before. */
static void expect_refusal_after_welcome(struct nh_world *w, struct nh_ep *e, uint32_t code)
{
	const struct zt_ctrl_msg *m;
	struct zt_quic_close_info ci;

	assert_true(nh_wait_count(e, ZT_CTRL_ERROR, 1, 3 * ZT_SEC));
	m = nh_raw_last(e, ZT_CTRL_ERROR);
	assert_int_equal(m->u.error.code, code);
	nh_run_for(&w->net, 500 * ZT_MS);
	assert_true(zt_quic_conn_state(e->raw.conn) >= ZT_QUIC_DRAINING);
	zt_quic_conn_close_info(e->raw.conn, &ci);
	assert_true(ci.by_peer);
	assert_true(ci.app);
	assert_int_equal(ci.code, code);
}

static void bad_token_refused(void **state)
{
	struct nh_world w;
	struct zt_imd_stats st;

	world_init(&w, *state, 0, 0);
	nh_raw_up(&w.alice, w.alice_tls, &w.imd.addr);
	nh_raw_hello(&w.alice, ZT_CTRL_ROLE_AGENT, "alice", "wrong", NULL);
	expect_refusal(&w, &w.alice, 1500);
	zt_imd_stats(w.imd.imd, &st);
	assert_int_equal(st.auth_failed, 1);
	assert_int_equal(st.auth_ok, 0);
	nh_world_fini(&w);
}

static void identity_and_role_must_match_certificate(void **state)
{
	struct nh_world w;

	world_init(&w, *state, 0, 0);
	/* alice's certificate, bob's name and token. */
	nh_raw_up(&w.alice, w.alice_tls, &w.imd.addr);
	nh_raw_hello(&w.alice, ZT_CTRL_ROLE_AGENT, "bob", "pw-bob", NULL);
	expect_refusal(&w, &w.alice, 1500);
	/* an agent's certificate claiming to be a connector. */
	nh_raw_up(&w.bob, w.bob_tls, &w.imd.addr);
	nh_raw_hello(&w.bob, ZT_CTRL_ROLE_CONNECTOR, "bob", "pw-bob", "web");
	expect_refusal(&w, &w.bob, 1500);
	/* the full identity URI is accepted in HELLO. */
	nh_raw_login(&w.c1, w.c1_tls, &w.imd.addr, ZT_CTRL_ROLE_CONNECTOR, "ztna:connector:c1",
		     "pw-c1", "web");
	nh_world_fini(&w);
}

static void hello_must_come_first(void **state)
{
	struct nh_world w;

	world_init(&w, *state, 0, 0);
	nh_raw_up(&w.alice, w.alice_tls, &w.imd.addr);
	assert_int_equal(nh_raw_open(&w.alice, 1, "web", 0), 0);
	expect_refusal(&w, &w.alice, 1504);
	nh_world_fini(&w);
}

static void untrusted_certificate_fails_handshake(void **state)
{
	struct nh_fixture *f = *state;
	struct nh_world w;
	struct zt_tls_ctx *rogue;
	struct zt_quic_close_info ci;
	struct zt_imd_stats st;

	world_init(&w, f, 0, 0);
	rogue = nh_tls(f, ZT_TLS_CLIENT, ZT_ALPN_OUTER, &f->pki.q.mallory, false);
	assert_int_equal(nh_raw_connect(&w.alice, rogue, &w.imd.addr), 0);
	nh_run_for(&w.net, 2 * ZT_SEC);
	assert_false(w.alice.raw.handshake);
	assert_true(zt_quic_conn_state(w.alice.raw.conn) >= ZT_QUIC_CLOSING);
	zt_quic_conn_close_info(w.alice.raw.conn, &ci);
	assert_int_equal(ci.err, ZT_ETLS);
	zt_imd_stats(w.imd.imd, &st);
	assert_int_equal(st.auth_ok, 0);
	assert_int_equal(st.clients, 0);
	nh_world_fini(&w);
	zt_tls_ctx_free(rogue);
}

static void open_refused_by_policy_and_for_unknown_service(void **state)
{
	struct nh_world w;
	const struct zt_ctrl_msg *m;
	struct zt_imd_stats st;

	world_init(&w, *state, 0, 0);
	nh_raw_login(&w.c1, w.c1_tls, &w.imd.addr, ZT_CTRL_ROLE_CONNECTOR, "c1", "pw-c1", "web");
	nh_raw_login(&w.bob, w.bob_tls, &w.imd.addr, ZT_CTRL_ROLE_AGENT, "bob", "pw-bob", NULL);
	assert_int_equal(nh_raw_open(&w.bob, 42, "web", 0), 0); /* bob may reach db only */
	assert_true(nh_wait_count(&w.bob, ZT_CTRL_ERROR, 1, 3 * ZT_SEC));
	m = nh_raw_last(&w.bob, ZT_CTRL_ERROR);
	assert_int_equal(m->u.error.code, 1501);
	assert_int_equal(m->u.error.request_id, 42);
	nh_raw_login(&w.alice, w.alice_tls, &w.imd.addr, ZT_CTRL_ROLE_AGENT, "alice", "pw-alice",
		     NULL);
	/* allowed, but nobody serves it */
	assert_int_equal(nh_raw_open(&w.alice, 43, "ghost", 0), 0);
	assert_true(nh_wait_count(&w.alice, ZT_CTRL_ERROR, 1, 3 * ZT_SEC));
	m = nh_raw_last(&w.alice, ZT_CTRL_ERROR);
	assert_int_equal(m->u.error.code, 1502);
	assert_int_equal(m->u.error.request_id, 43);
	/* Refusals leave the connections up. */
	assert_int_equal(zt_quic_conn_state(w.alice.raw.conn), ZT_QUIC_ESTABLISHED);
	assert_int_equal(zt_quic_conn_state(w.bob.raw.conn), ZT_QUIC_ESTABLISHED);
	zt_imd_stats(w.imd.imd, &st);
	assert_int_equal(st.policy_refused, 1);
	assert_int_equal(st.no_service, 1);
	assert_int_equal(st.sessions, 0);
	nh_world_fini(&w);
}

static int elsewhere_calls;

static bool where_is(void *arg, const struct zt_policy *policy, const char *service,
		     struct zt_imd_where *ret)
{
	(void)arg;
	elsewhere_calls++;
	/* the Intermediate's policy comes along: c1 may serve web */
	if (strcmp(service, "web") || !zt_policy_may_serve(policy, "c1", "web"))
		return false;
	snprintf(ret->connector, sizeof(ret->connector), "c1");
	snprintf(ret->imd, sizeof(ret->imd), "imd-a");
	return true;
}

/* cfg.elsewhere: a service whose connector is at another Intermediate is refused
 * with where it is (1502 still); one nobody serves anywhere as before. */
static void open_for_a_connector_elsewhere_says_where(void **state)
{
	struct nh_world w;
	const struct zt_ctrl_msg *m;
	struct zt_imd_stats st;

	nh_world_init(&w, *state, (const char *const[]){ "client agent:alice:pw-alice",
		"client connector:c1:pw-c1", "allow alice=web,ghost", "serve c1=web", NULL });
	w.icfg.elsewhere = where_is;
	elsewhere_calls = 0;
	nh_world_start(&w);
	nh_raw_login(&w.alice, w.alice_tls, &w.imd.addr, ZT_CTRL_ROLE_AGENT, "alice", "pw-alice",
		     NULL);
	assert_int_equal(nh_raw_open(&w.alice, 44, "web", 0), 0);
	assert_true(nh_wait_count(&w.alice, ZT_CTRL_ERROR, 1, 3 * ZT_SEC));
	m = nh_raw_last(&w.alice, ZT_CTRL_ERROR);
	assert_int_equal(m->u.error.code, 1502);
	assert_int_equal(m->u.error.request_id, 44);
	assert_non_null(strstr(m->u.error.text, "connector c1 at Intermediate imd-a"));
	/* no cfg.link_tls: it opens no links */
	assert_non_null(strstr(m->u.error.text, "opens no links to others: connect to that one"));
	assert_int_equal(nh_raw_open(&w.alice, 45, "ghost", 0), 0);
	assert_true(nh_wait_count(&w.alice, ZT_CTRL_ERROR, 2, 3 * ZT_SEC));
	m = nh_raw_last(&w.alice, ZT_CTRL_ERROR);
	assert_int_equal(m->u.error.request_id, 45);
	assert_string_equal(m->u.error.text, "no connector serves ghost");
	zt_imd_stats(w.imd.imd, &st);
	assert_int_equal(st.no_service, 2);
	assert_int_equal(st.no_service_elsewhere, 1);
	assert_int_equal(elsewhere_calls, 2);
	nh_world_fini(&w);
}

/* alice and c1 logged in, alice opened web: returns the session id. */
static uint32_t pair(struct nh_world *w)
{
	const struct zt_ctrl_msg *a, *c;

	nh_raw_login(&w->c1, w->c1_tls, &w->imd.addr, ZT_CTRL_ROLE_CONNECTOR, "c1", "pw-c1", "web");
	nh_raw_login(&w->alice, w->alice_tls, &w->imd.addr, ZT_CTRL_ROLE_AGENT, "alice", "pw-alice",
		     NULL);
	assert_int_equal(nh_raw_open(&w->alice, 7, "web", 0), 0);
	assert_true(nh_wait_count(&w->alice, ZT_CTRL_SESSION, 1, 3 * ZT_SEC));
	assert_true(nh_wait_count(&w->c1, ZT_CTRL_SESSION, 1, 3 * ZT_SEC));
	a = nh_raw_last(&w->alice, ZT_CTRL_SESSION);
	c = nh_raw_last(&w->c1, ZT_CTRL_SESSION);
	assert_true(a->u.session.session_id != 0 && a->u.session.session_id <= UINT32_MAX);
	assert_int_equal(a->u.session.session_id, c->u.session.session_id);
	return (uint32_t)a->u.session.session_id;
}

static void pairing(void **state)
{
	struct nh_world w;
	const struct zt_ctrl_msg *a, *c;
	struct zt_imd_session_info si;
	uint32_t id;

	world_init(&w, *state, 0, 0);
	id = pair(&w);
	a = nh_raw_last(&w.alice, ZT_CTRL_SESSION);
	c = nh_raw_last(&w.c1, ZT_CTRL_SESSION);
	assert_int_equal(a->u.session.request_id, 7);
	assert_int_equal(c->u.session.request_id, 0);
	assert_string_equal(a->u.session.service, "web");
	assert_string_equal(a->u.session.peer_identity, "ztna:connector:c1");
	assert_string_equal(c->u.session.peer_identity, "ztna:agent:alice");
	assert_int_equal(a->u.session.ice_role, ZT_CTRL_ICE_CONTROLLING);
	assert_int_equal(c->u.session.ice_role, ZT_CTRL_ICE_CONTROLLED);
	assert_true(a->u.session.quota_bytes > 0 && a->u.session.quota_packets > 0);
	assert_int_equal(zt_imd_session_info(w.imd.imd, id, &si), 0);
	assert_string_equal(si.agent, "ztna:agent:alice");
	assert_string_equal(si.connector, "ztna:connector:c1");
	nh_world_fini(&w);
}

/* What a control socket shows (zt_imd_clients, zt_imd_session_ids): the logged-in
 * clients, newest first, with identity, kind, address and services; the session with
 * its ends; a short array gets what fits and the count in all. */
static void clients_and_sessions_listed(void **state)
{
	struct nh_world w;
	struct zt_imd_client_info ci[4];
	struct zt_imd_session_info si;
	uint32_t ids[4], id;
	char a[ZT_ADDR_STRLEN];

	world_init(&w, *state, 0, 0);
	assert_int_equal(zt_imd_clients(w.imd.imd, ci, 4), 0);
	assert_int_equal(zt_imd_session_ids(w.imd.imd, ids, 4), 0);
	id = pair(&w);
	assert_int_equal(zt_imd_clients(w.imd.imd, ci, 4), 2);
	assert_string_equal(ci[0].identity, "ztna:agent:alice");
	assert_false(ci[0].connector);
	assert_false(ci[0].tcp);
	assert_string_equal(zt_addr_str(&ci[0].remote, a), "127.0.0.2:5000");
	assert_string_equal(ci[0].services, "-");
	assert_int_equal(ci[0].sessions, 1);
	assert_true(ci[0].login_at >= ci[0].connected_at && ci[0].login_at <= w.net.now);
	assert_string_equal(ci[1].identity, "ztna:connector:c1");
	assert_true(ci[1].connector);
	assert_string_equal(zt_addr_str(&ci[1].remote, a), "127.0.0.3:6000");
	assert_string_equal(ci[1].services, "web");
	assert_int_equal(ci[1].sessions, 1);
	memset(ci, 0, sizeof(ci));
	assert_int_equal(zt_imd_clients(w.imd.imd, ci, 1), 2);
	assert_string_equal(ci[0].identity, "ztna:agent:alice");
	assert_string_equal(ci[1].identity, ""); /* untouched */
	assert_int_equal(zt_imd_session_ids(w.imd.imd, ids, 4), 1);
	assert_int_equal(ids[0], id);
	assert_int_equal(zt_imd_session_ids(w.imd.imd, ids, 0), 1);
	assert_int_equal(zt_imd_session_info(w.imd.imd, id, &si), 0);
	assert_false(si.direct);
	assert_false(si.orphan);
	nh_world_fini(&w);
}

struct seen {
	int n;
	char text[128];
	uint64_t login_at[2]; /* the agent's, the connector's */
	uint64_t floor[2];
};

static void see_client(void *arg, bool connector, const char *name, const struct zt_addr *remote,
		       uint64_t login_at, uint64_t login_floor)
{
	struct seen *s = arg;
	char a[ZT_ADDR_STRLEN];
	size_t l = strlen(s->text);

	snprintf(s->text + l, sizeof(s->text) - l, "%s%s:%s@%s", s->n++ ? " " : "",
		 connector ? "connector" : "agent", name, zt_addr_str(remote, a));
	s->login_at[connector] = login_at;
	s->floor[connector] = login_floor;
}

/* cfg.login_floor: the seq of a record elsewhere, per name, and who was asked. */
struct floors {
	char asked[64];
	uint64_t alice, c1;
};

static uint64_t floor_of(void *arg, bool connector, const char *name)
{
	struct floors *f = arg;
	size_t l = strlen(f->asked);

	snprintf(f->asked + l, sizeof(f->asked) - l, "%s%s:%s", l ? " " : "",
		 connector ? "connector" : "agent", name);
	return !strcmp(name, "alice") ? f->alice : !strcmp(name, "c1") ? f->c1 : 0;
}

/* zt_imd_each_client (what the presence publisher reads): every logged-in client, its
 * role, bare name and validated address. */
static void each_client_walks_the_logged_in(void **state)
{
	struct nh_world w;
	struct seen s = { 0 };

	world_init(&w, *state, 0, 0);
	zt_imd_each_client(w.imd.imd, see_client, &s);
	assert_int_equal(s.n, 0);
	pair(&w);
	zt_imd_each_client(w.imd.imd, see_client, &s);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.text, "agent:alice@127.0.0.2:5000 connector:c1@127.0.0.3:6000");
	/* their logins' times: c1 first, then alice */
	assert_true(s.login_at[1] > 0 && s.login_at[1] < s.login_at[0]);
	assert_true(s.login_at[0] <= w.net.now);
	assert_true(s.floor[0] == 0 && s.floor[1] == 0); /* no cfg.login_floor */
	nh_world_fini(&w);
}

/* cfg.login_floor (the presence table's record of the client at another Intermediate,
 * node/prespub.h) is asked once as each agent or connector logs in, and what it said
 * then is what zt_imd_each_client gives, later answers notwithstanding: the floor is
 * of the records known before the login. */
static void each_client_gives_the_floor_of_the_login(void **state)
{
	struct nh_world w;
	struct seen s = { 0 };
	struct floors f = { .alice = 1700000000000123, .c1 = 0 };

	world_init(&w, *state, 0, 0);
	w.icfg.login_floor = floor_of;
	w.icfg.elsewhere_arg = &f;
	restart_imd(&w);
	pair(&w);
	assert_string_equal(f.asked, "connector:c1 agent:alice");
	f.alice = f.c1 = 42; /* records that came after the logins */
	zt_imd_each_client(w.imd.imd, see_client, &s);
	assert_int_equal(s.n, 2);
	assert_true(s.floor[0] == 1700000000000123ULL);
	assert_true(s.floor[1] == 0);
	assert_string_equal(f.asked, "connector:c1 agent:alice"); /* not asked again */
	nh_world_fini(&w);
}

/*
 * zt_imd_retire_identity (the shared presence shows a newer login of c1 at another
 * Intermediate): c1's login here ends with ERROR 1508 saying so, its connection is
 * closed, and its relayed session with alice is kept for it (an orphan, as for a lost
 * connection: no CLOSE to alice). Nobody else is touched; a name not logged in, none.
 */
static void retire_identity_keeps_its_sessions(void **state)
{
	struct nh_world w;
	struct zt_imd_stats st;
	const struct zt_ctrl_msg *e;

	world_init(&w, *state, 0, 0);
	pair(&w);
	assert_int_equal(zt_imd_retire_identity(w.imd.imd, w.net.now, true, "nobody", "x"), 0);
	assert_int_equal(zt_imd_retire_identity(w.imd.imd, w.net.now, false, "c1", "x"), 0);
	assert_int_equal(zt_imd_retire_identity(w.imd.imd, w.net.now, true, "c1",
						"a newer login of it at imd-b"), 1);
	assert_true(nh_wait_count(&w.c1, ZT_CTRL_ERROR, 1, 3 * ZT_SEC));
	e = nh_raw_last(&w.c1, ZT_CTRL_ERROR);
	assert_int_equal(e->u.error.code, (uint32_t)-ZT_EREPLACED);
	assert_string_equal(e->u.error.text, "a newer login of it at imd-b");
	nh_run_alive(&w.net, 2 * ZT_SEC);
	zt_imd_stats(w.imd.imd, &st);
	assert_int_equal(st.replaced, 1);
	assert_int_equal(st.sessions_orphaned, 1);
	assert_int_equal(st.sessions, 1);
	assert_int_equal(st.clients, 1);
	assert_int_equal(nh_raw_count(&w.alice, ZT_CTRL_CLOSE), 0);
	nh_world_fini(&w);
}

/* With several logins of one identity allowed (logins_per_identity 2: load tests, a
 * deployment that means it), a newer login elsewhere ends none here: they may be at
 * several Intermediates too. Before, the multi-Intermediate load bench's agents (one
 * identity, three Intermediates) retired each other (ERROR 1508). */
static void retire_identity_not_with_several_logins(void **state)
{
	struct nh_world w;
	struct zt_imd_stats st;

	world_init(&w, *state, 0, 0);
	w.icfg.logins_per_identity = 2;
	restart_imd(&w);
	pair(&w);
	assert_int_equal(zt_imd_retire_identity(w.imd.imd, w.net.now, true, "c1",
						"a newer login of it at imd-b"), 0);
	nh_run_alive(&w.net, 1 * ZT_SEC);
	zt_imd_stats(w.imd.imd, &st);
	assert_int_equal(st.replaced, 0);
	assert_int_equal(st.authenticated, 2);
	assert_int_equal(nh_raw_count(&w.c1, ZT_CTRL_ERROR), 0);
	nh_world_fini(&w);
}

static void relay_dgram(struct nh_ep *e, uint32_t session, const char *payload)
{
	uint8_t buf[256];
	size_t n = strlen(payload);

	if (session)
		zt_relay_hdr_write(buf, sizeof(buf), session);
	else
		memset(buf, 0, ZT_RELAY_HDR_LEN);
	memcpy(buf + ZT_RELAY_HDR_LEN, payload, n);
	assert_int_equal(zt_quic_dgram_send(e->raw.conn, buf, ZT_RELAY_HDR_LEN + n), 0);
}

/* A reload (zt_imd_set_policy): bob's session goes on untouched; alice, no longer
 * listed, is told and closed, her session's connector told; then an allow rule that
 * went ends bob's session only; a service the connector may no longer serve goes. */
static void reload_revokes_only_what_the_new_policy_refuses(void **state)
{
	static const char *const without_alice[] = {
		"client agent:bob:pw-bob", "client connector:c1:pw-c1", "allow bob=db",
		"serve c1=web,db", NULL,
	};
	static const char *const without_db[] = {
		"client agent:bob:pw-bob", "client connector:c1:pw-c1", "allow bob=web",
		"serve c1=web", NULL,
	};
	struct nh_world w;
	struct zt_policy *p1, *p2;
	struct zt_imd_reload r;
	struct zt_imd_stats st;
	const struct zt_ctrl_msg *m;
	uint32_t a_id, b_id;

	world_init(&w, *state, 0, 0);
	nh_raw_login(&w.c1, w.c1_tls, &w.imd.addr, ZT_CTRL_ROLE_CONNECTOR, "c1", "pw-c1", "web,db");
	nh_raw_login(&w.alice, w.alice_tls, &w.imd.addr, ZT_CTRL_ROLE_AGENT, "alice", "pw-alice",
		     NULL);
	nh_raw_login(&w.bob, w.bob_tls, &w.imd.addr, ZT_CTRL_ROLE_AGENT, "bob", "pw-bob", NULL);
	assert_int_equal(nh_raw_open(&w.alice, 1, "web", 0), 0);
	assert_int_equal(nh_raw_open(&w.bob, 2, "db", 0), 0);
	assert_true(nh_wait_count(&w.alice, ZT_CTRL_SESSION, 1, 3 * ZT_SEC));
	assert_true(nh_wait_count(&w.bob, ZT_CTRL_SESSION, 1, 3 * ZT_SEC));
	a_id = (uint32_t)nh_raw_last(&w.alice, ZT_CTRL_SESSION)->u.session.session_id;
	b_id = (uint32_t)nh_raw_last(&w.bob, ZT_CTRL_SESSION)->u.session.session_id;

	p1 = nh_policy(without_alice);
	assert_int_equal(zt_imd_set_policy(w.imd.imd, w.net.now, p1, &r), 0);
	zt_policy_free(w.policy); /* the old one: the Intermediate no longer looks at it */
	w.policy = p1;
	assert_int_equal(r.clients_revoked, 1);
	assert_int_equal(r.sessions_ended, 1);
	assert_true(nh_wait_count(&w.alice, ZT_CTRL_ERROR, 1, 3 * ZT_SEC));
	m = nh_raw_last(&w.alice, ZT_CTRL_ERROR);
	assert_int_equal(m->u.error.code, (uint32_t)-ZT_EAUTH);
	assert_non_null(strstr(m->u.error.text, "revoked"));
	assert_true(nh_wait_count(&w.c1, ZT_CTRL_CLOSE, 1, 3 * ZT_SEC));
	assert_int_equal(nh_raw_last(&w.c1, ZT_CTRL_CLOSE)->u.close.session_id, a_id);
	nh_run_alive(&w.net, 2 * ZT_SEC);
	assert_true(zt_quic_conn_state(w.alice.raw.conn) >= ZT_QUIC_CLOSING);
	assert_int_equal(zt_quic_conn_state(w.bob.raw.conn), ZT_QUIC_ESTABLISHED);
	assert_int_equal(nh_raw_count(&w.bob, ZT_CTRL_CLOSE), 0);
	relay_dgram(&w.bob, b_id, "still here");
	nh_run_for(&w.net, 200 * ZT_MS);
	assert_int_equal(w.c1.raw.ndgrams, 1);
	assert_memory_equal(w.c1.raw.last_dgram + ZT_RELAY_HDR_LEN, "still here", 10);

	p2 = nh_policy(without_db);
	assert_int_equal(zt_imd_set_policy(w.imd.imd, w.net.now, p2, &r), 0);
	zt_policy_free(w.policy);
	w.policy = p2;
	assert_int_equal(r.clients_revoked, 0);
	assert_int_equal(r.sessions_ended, 1);
	assert_int_equal(r.services_dropped, 1);
	assert_true(nh_wait_count(&w.bob, ZT_CTRL_CLOSE, 1, 3 * ZT_SEC));
	m = nh_raw_last(&w.bob, ZT_CTRL_CLOSE);
	assert_int_equal(m->u.close.session_id, b_id);
	assert_int_equal(m->u.close.reason, (uint32_t)-ZT_EPOLICY);
	assert_int_equal(zt_quic_conn_state(w.bob.raw.conn), ZT_QUIC_ESTABLISHED);
	zt_imd_stats(w.imd.imd, &st);
	assert_int_equal(st.sessions, 0);
	assert_int_equal(zt_imd_set_policy(w.imd.imd, w.net.now, NULL, &r), -EINVAL);
	nh_world_fini(&w);
}

static void relays_only_between_the_pair(void **state)
{
	struct nh_world w;
	struct zt_imd_stats st;
	uint32_t id, got;

	world_init(&w, *state, 0, 0);
	id = pair(&w);
	nh_raw_login(&w.bob, w.bob_tls, &w.imd.addr, ZT_CTRL_ROLE_AGENT, "bob", "pw-bob", NULL);
	relay_dgram(&w.alice, id, "from alice");
	nh_run_for(&w.net, 200 * ZT_MS);
	assert_int_equal(w.c1.raw.ndgrams, 1);
	assert_int_equal(w.c1.raw.last_dgram_len, ZT_RELAY_HDR_LEN + 10);
	assert_int_equal(zt_relay_hdr_read(w.c1.raw.last_dgram, w.c1.raw.last_dgram_len, &got),
			 ZT_RELAY_HDR_LEN);
	assert_int_equal(got, id);
	assert_memory_equal(w.c1.raw.last_dgram + ZT_RELAY_HDR_LEN, "from alice", 10);
	relay_dgram(&w.c1, id, "from c1");
	nh_run_for(&w.net, 200 * ZT_MS);
	assert_int_equal(w.alice.raw.ndgrams, 1);
	assert_memory_equal(w.alice.raw.last_dgram + ZT_RELAY_HDR_LEN, "from c1", 7);
	/* bob is not an end of the session; a session that does not exist; session 0. */
	relay_dgram(&w.bob, id, "intruder");
	relay_dgram(&w.alice, id ^ 0x5a5a5a5a, "nowhere");
	relay_dgram(&w.alice, 0, "zero");
	nh_run_for(&w.net, 200 * ZT_MS);
	assert_int_equal(w.c1.raw.ndgrams, 1);
	assert_int_equal(w.alice.raw.ndgrams, 1);
	zt_imd_stats(w.imd.imd, &st);
	assert_int_equal(st.relay_pkts, 2);
	assert_int_equal(st.relay_dropped_unknown, 2);
	assert_int_equal(st.relay_dropped_malformed, 1);
	nh_world_fini(&w);
}

static void relay_quota_ends_the_session(void **state)
{
	struct nh_world w;
	struct zt_imd_stats st;
	struct zt_imd_session_info si;
	const struct zt_ctrl_msg *m;
	uint32_t id;

	world_init(&w, *state, 5, 0);
	id = pair(&w);
	for (int i = 0; i < 8; i++)
		relay_dgram(&w.alice, id, "packet");
	assert_int_equal(zt_imd_session_info(w.imd.imd, id, &si), 0);
	assert_int_equal(si.quota_packets, 5);
	assert_true(nh_wait_count(&w.alice, ZT_CTRL_CLOSE, 1, 3 * ZT_SEC));
	assert_true(nh_wait_count(&w.c1, ZT_CTRL_CLOSE, 1, 3 * ZT_SEC));
	m = nh_raw_last(&w.alice, ZT_CTRL_CLOSE);
	assert_int_equal(m->u.close.session_id, id);
	assert_int_equal(m->u.close.reason, 1503);
	nh_run_for(&w.net, 200 * ZT_MS);
	assert_int_equal(w.c1.raw.ndgrams, 5);
	zt_imd_stats(w.imd.imd, &st);
	assert_int_equal(st.relay_pkts, 5);
	assert_int_equal(st.relay_dropped_quota, 3);
	nh_world_fini(&w);
}

/* Relay rate (cfg.relay_rate): each client's bytes into the relay, its own bucket. */

/* e sends n payloads of size bytes (zeros after the relay header) into session; returns
 * how many its connection took. */
static int relay_many(struct nh_ep *e, uint32_t session, size_t size, int n)
{
	uint8_t buf[ZT_RELAY_HDR_LEN + 1200] = { 0 };
	int taken = 0;

	assert_true(size <= 1200);
	zt_relay_hdr_write(buf, sizeof(buf), session);
	for (int i = 0; i < n; i++)
		taken += zt_quic_dgram_send(e->raw.conn, buf, ZT_RELAY_HDR_LEN + size) == 0;
	return taken;
}

/* The lines of one event (.event), counted, the last one kept. */
struct event_lines {
	const char *event;
	unsigned n;
	char last[256];
};

static void count_lines_of(void *arg, enum zt_node_level level, const char *event,
			   const char *kv)
{
	struct event_lines *el = arg;
	(void)level;

	if (strcmp(event, el->event))
		return;
	el->n++;
	snprintf(el->last, sizeof(el->last), "%s", kv);
}

#define RATE 100000  /* bytes a second */
#define BURST 20000

/* alice offers 2 MB/s for 1 s to c1, bob 50 KB/s in another session to the same c1:
 * alice gets about RATE * 1 s + BURST through, the rest is dropped and counted, her
 * session goes on; bob, under his own bucket, loses nothing. */
static void relay_rate_drops_over_the_senders_rate(void **state)
{
	struct nh_world w;
	struct event_lines rl = { .event = "relay_rate_limited" };
	struct zt_imd_session_info sa, sb;
	struct zt_imd_stats st;
	uint32_t ida, idb;
	uint64_t got;
	int sent_a = 0, sent_b = 0;

	world_init(&w, *state, 0, 0);
	w.icfg.relay_rate = RATE;
	w.icfg.relay_burst = BURST;
	w.icfg.log = (struct zt_node_log){ .fn = count_lines_of, .arg = &rl,
					   .max_level = ZT_NODE_DEBUG };
	restart_imd(&w);
	nh_pair_two(&w, &ida, &idb);
	for (int t = 0; t < 100; t++) {
		sent_a += relay_many(&w.alice, ida, 1000, 20);
		sent_b += relay_many(&w.bob, idb, 500, 1);
		nh_run_for(&w.net, 10 * ZT_MS);
	}
	nh_run_for(&w.net, 500 * ZT_MS);
	assert_int_equal(zt_imd_session_info(w.imd.imd, ida, &sa), 0);
	assert_int_equal(zt_imd_session_info(w.imd.imd, idb, &sb), 0);
	zt_imd_stats(w.imd.imd, &st);
	/* what alice's connection took reached the Intermediate: relayed or dropped */
	assert_true(sent_a > 1500);
	assert_int_equal(sa.relay_pkts + sa.dropped_rate, (uint64_t)sent_a);
	got = sa.relay_bytes;
	assert_int_equal(got, sa.relay_pkts * (ZT_RELAY_HDR_LEN + 1000));
	assert_true(got >= RATE * 95 / 100 + BURST);
	assert_true(got <= RATE * 105 / 100 + BURST);
	assert_int_equal(st.relay_dropped_rate, sa.dropped_rate);
	assert_int_equal(st.relay_dropped_queue, 0);
	/* bob: all of it */
	assert_int_equal(sb.relay_pkts, (uint64_t)sent_b);
	assert_int_equal(sb.dropped_rate, 0);
	assert_int_equal(w.c1.raw.ndgrams, sa.relay_pkts + sb.relay_pkts);
	/* dropped, not ended: no ERROR, no CLOSE, and once the bucket has refilled (0.2 s
	 * at RATE) a burst passes whole */
	assert_int_equal(nh_raw_total(&w.alice, ZT_CTRL_ERROR), 0);
	assert_int_equal(nh_raw_total(&w.alice, ZT_CTRL_CLOSE), 0);
	assert_int_equal(nh_raw_total(&w.c1, ZT_CTRL_CLOSE), 0);
	nh_run_for(&w.net, 200 * ZT_MS);
	assert_int_equal(relay_many(&w.alice, ida, 1000, 19), 19);
	nh_run_for(&w.net, 200 * ZT_MS);
	assert_int_equal(zt_imd_session_info(w.imd.imd, ida, &sa), 0);
	assert_int_equal(sa.relay_pkts + sa.dropped_rate, (uint64_t)sent_a + 19);
	assert_int_equal(sa.dropped_rate, st.relay_dropped_rate);
	/* one line for the whole run, the next one 10 s later with the drops so far */
	assert_int_equal(rl.n, 1);
	assert_non_null(strstr(rl.last, "identity=ztna:agent:alice rate=100000 burst=20000"));
	nh_run_alive(&w.net, 10 * ZT_SEC);
	relay_many(&w.alice, ida, 1000, 40);
	nh_run_for(&w.net, 200 * ZT_MS);
	zt_imd_stats(w.imd.imd, &st);
	assert_true(st.relay_dropped_rate > sa.dropped_rate);
	assert_int_equal(rl.n, 2);
	assert_non_null(strstr(rl.last, "identity=ztna:agent:alice"));
	nh_world_fini(&w);
}

/* A move (HELLO with CLIENT_ID) hands the new connection the old one's relay budget,
 * not a full one: moving is not a way around the rate. */
static void relay_rate_budget_follows_a_move(void **state)
{
	struct nh_world w;
	struct nh_ep a2;
	struct zt_ctrl_msg m;
	struct zt_imd_session_info si;
	struct zt_imd_stats st;
	uint64_t before;
	uint32_t id;

	world_init(&w, *state, 0, 0);
	w.icfg.relay_rate = RATE;
	w.icfg.relay_burst = BURST;
	restart_imd(&w);
	id = pair(&w);
	nh_ep_init(&a2, &w.net, NH_RAW, "127.0.0.12:5000", 5 * ZT_MS);
	nh_raw_up(&a2, w.alice_tls, &w.imd.addr);
	/* alice spends her budget, then moves to a2 */
	assert_int_equal(relay_many(&w.alice, id, 1000, 40), 40);
	nh_run_for(&w.net, 20 * ZT_MS);
	zt_ctrl_msg_init(&m, ZT_CTRL_HELLO);
	m.u.hello.role = ZT_CTRL_ROLE_AGENT;
	snprintf(m.u.hello.identity, sizeof(m.u.hello.identity), "alice");
	m.u.hello.token_len = (uint16_t)strlen("pw-alice");
	memcpy(m.u.hello.token, "pw-alice", m.u.hello.token_len);
	m.u.hello.move_from = nh_raw_last(&w.alice, ZT_CTRL_WELCOME)->u.welcome.client_id;
	assert_int_equal(nh_raw_send(&a2, &m), 0);
	assert_true(nh_wait_count(&a2, ZT_CTRL_WELCOME, 1, 3 * ZT_SEC));
	zt_imd_stats(w.imd.imd, &st);
	assert_int_equal(st.moved, 1);
	assert_int_equal(zt_imd_session_info(w.imd.imd, id, &si), 0);
	before = si.relay_pkts;
	/* a full budget would pass 19 of these (20,000 bytes); what refilled since the
	 * spending (some 40 ms at 100,000 B/s) passes a few */
	assert_int_equal(relay_many(&a2, id, 1000, 20), 20);
	nh_run_for(&w.net, 20 * ZT_MS);
	assert_int_equal(zt_imd_session_info(w.imd.imd, id, &si), 0);
	assert_true(si.relay_pkts - before <= 10);
	assert_int_equal(si.relay_pkts + si.dropped_rate, 60);
	nh_world_fini(&w);
}

/* The default (no rate): a 2 MB/s flow both ways loses nothing. */
static void relay_rate_default_drops_nothing(void **state)
{
	struct nh_world w;
	struct zt_imd_stats st;
	uint32_t id;
	int sent_a = 0, sent_c = 0;

	world_init(&w, *state, 0, 0);
	id = pair(&w);
	for (int t = 0; t < 100; t++) {
		sent_a += relay_many(&w.alice, id, 1000, 20);
		sent_c += relay_many(&w.c1, id, 1000, 20);
		nh_run_for(&w.net, 10 * ZT_MS);
	}
	nh_run_for(&w.net, 500 * ZT_MS);
	zt_imd_stats(w.imd.imd, &st);
	/* the relay forwarded everything that reached it (a few of c1's may expire in its
	 * own queue while its window grows, 20 ms away: that is not the relay's doing) */
	assert_true(sent_a > 1500 && sent_c > 1500);
	assert_true(st.relay_pkts >= (uint64_t)(sent_a + sent_c) * 98 / 100);
	assert_int_equal(st.relay_dropped_rate, 0);
	assert_int_equal(st.relay_dropped_queue, 0);
	assert_int_equal(w.c1.raw.ndgrams + w.alice.raw.ndgrams, st.relay_pkts);
	nh_world_fini(&w);
}

/* The relay channel (docs/relay-channel.md): channel datagrams put on the wire by hand
 * from `from` (an endpoint's local address: the receiver sees its public one; any
 * other address: a spoofer's). */
static void chan_send(struct nh_world *w, const char *from, uint32_t session,
		      const char *payload)
{
	uint8_t buf[ZT_RELAY_CHAN_MAX] = { ZT_RELAY_CHAN_MARKER };
	size_t n = strlen(payload);
	struct zt_addr a = qh_addr(from);

	assert_true(n <= ZT_RELAY_TUNNEL_MTU);
	if (session) /* 0: the header with session 0, which the writer refuses */
		assert_int_equal(zt_relay_chan_write(buf, sizeof(buf), session), ZT_RELAY_CHAN_HDR_LEN);
	memcpy(buf + ZT_RELAY_CHAN_HDR_LEN, payload, n);
	nh_send(&w->net, &a, &w->imd.addr, buf, ZT_RELAY_CHAN_HDR_LEN + n);
}

/* The channel datagram e got last: session id and payload. */
static void assert_chan(const struct nh_ep *e, uint32_t session, const char *payload)
{
	uint32_t got;

	assert_int_equal(zt_relay_chan_read(e->raw.last_chan, e->raw.last_chan_len, &got),
			 ZT_RELAY_CHAN_HDR_LEN);
	assert_int_equal(got, session);
	assert_int_equal(e->raw.last_chan_len, ZT_RELAY_CHAN_HDR_LEN + strlen(payload));
	assert_memory_equal(e->raw.last_chan + ZT_RELAY_CHAN_HDR_LEN, payload, strlen(payload));
}

/* alice asks for the channel, c1 does not: each end gets what it agreed to, whichever
 * way the other end sent; with the Intermediate's channel off, nobody gets it and
 * channel data is dropped. */
static void relay_channel_per_end(void **state)
{
	struct nh_world w;
	struct zt_imd_stats st;
	uint32_t id;

	for (int off = 0; off < 2; off++) {
		world_init(&w, *state, 0, 0);
		w.icfg.relay_channel_off = off;
		restart_imd(&w);
		w.alice.raw_chan = true;
		id = pair(&w);
		assert_int_equal(nh_raw_last(&w.alice, ZT_CTRL_WELCOME)->u.welcome.relay_channel, !off);
		assert_false(nh_raw_last(&w.c1, ZT_CTRL_WELCOME)->u.welcome.relay_channel);
		chan_send(&w, "127.0.0.2:5000", id, "chan from alice");
		relay_dgram(&w.c1, id, "from c1");
		nh_run_for(&w.net, 200 * ZT_MS);
		zt_imd_stats(w.imd.imd, &st);
		if (off) {
			assert_int_equal(w.c1.raw.ndgrams, 0);
			assert_int_equal(w.alice.raw.nchan, 0);
			assert_int_equal(w.alice.raw.ndgrams, 1);
			assert_int_equal(st.relay_chan_dropped_addr, 1);
			assert_int_equal(st.relay_pkts, 1);
			nh_world_fini(&w);
			continue;
		}
		/* alice's channel data reached c1 as a DATAGRAM, c1's DATAGRAM alice as
		 * channel data: the same payload behind the marker */
		assert_int_equal(w.c1.raw.ndgrams, 1);
		assert_int_equal(w.c1.raw.last_dgram_len, ZT_RELAY_HDR_LEN + 15);
		assert_memory_equal(w.c1.raw.last_dgram + ZT_RELAY_HDR_LEN, "chan from alice", 15);
		assert_int_equal(w.alice.raw.ndgrams, 0);
		assert_int_equal(w.alice.raw.nchan, 1);
		assert_chan(&w.alice, id, "from c1");
		assert_int_equal(st.relay_chan_pkts, 1);
		assert_int_equal(st.relay_chan_out, 1);
		assert_int_equal(st.relay_pkts, 2);
		/* quota counts the payload without the marker, as its DATAGRAM */
		assert_int_equal(st.relay_bytes, 2 * ZT_RELAY_HDR_LEN + 15 + 7);
		assert_int_equal(st.relay_chan_dropped_addr + st.relay_chan_dropped_malformed, 0);
		nh_world_fini(&w);
	}
}

/* Channel data passes the same quota and rate as DATAGRAMs (one function). */
static void relay_channel_quota_and_rate(void **state)
{
	struct nh_world w;
	struct zt_imd_stats st;
	struct zt_imd_session_info si;
	uint32_t id;
	char big[1001];

	memset(big, 'r', 1000);
	big[1000] = '\0';
	world_init(&w, *state, 5, 0);
	w.alice.raw_chan = w.c1.raw_chan = true;
	id = pair(&w);
	for (int i = 0; i < 8; i++)
		chan_send(&w, "127.0.0.2:5000", id, "packet");
	assert_true(nh_wait_count(&w.alice, ZT_CTRL_CLOSE, 1, 3 * ZT_SEC));
	assert_int_equal(nh_raw_last(&w.alice, ZT_CTRL_CLOSE)->u.close.reason, 1503);
	assert_true(nh_wait_count(&w.c1, ZT_CTRL_CLOSE, 1, 3 * ZT_SEC));
	assert_int_equal(w.c1.raw.nchan, 5);
	zt_imd_stats(w.imd.imd, &st);
	assert_int_equal(st.relay_dropped_quota, 3);
	nh_world_fini(&w);

	world_init(&w, *state, 0, 0);
	w.icfg.relay_rate = RATE;
	w.icfg.relay_burst = BURST;
	restart_imd(&w);
	w.alice.raw_chan = w.c1.raw_chan = true;
	id = pair(&w);
	for (int i = 0; i < 40; i++)
		chan_send(&w, "127.0.0.2:5000", id, big);
	nh_run_for(&w.net, 100 * ZT_MS);
	assert_int_equal(zt_imd_session_info(w.imd.imd, id, &si), 0);
	/* the burst (20,000 bytes) passes, 19 payloads of 1004 bytes, and a little more as
	 * the bucket refills */
	assert_true(si.relay_pkts >= 19 && si.relay_pkts <= 21);
	assert_int_equal(si.relay_pkts + si.dropped_rate, 40);
	assert_int_equal(w.c1.raw.nchan, si.relay_pkts);
	nh_world_fini(&w);
}

/* A client's NAT rebinds: its channel data from the new address is dropped until an
 * outer packet from there has moved and validated its connection; then taken, and
 * what is relayed to it goes to the new address. */
static void relay_channel_follows_rebinding(void **state)
{
	struct nh_world w;
	struct zt_imd_stats st;
	struct zt_ctrl_msg ping;
	uint32_t id;

	world_init(&w, *state, 0, 0);
	w.alice.raw_chan = w.c1.raw_chan = true;
	id = pair(&w);
	w.alice.addr = qh_addr("127.0.0.2:5999");
	chan_send(&w, "127.0.0.2:5000", id, "after rebinding");
	nh_run_for(&w.net, 200 * ZT_MS);
	zt_imd_stats(w.imd.imd, &st);
	assert_int_equal(st.relay_chan_dropped_addr, 1);
	assert_int_equal(w.c1.raw.nchan, 0);
	zt_ctrl_msg_init(&ping, ZT_CTRL_PING);
	ping.u.ping.nonce = 9;
	ping.u.ping.timestamp = w.net.now;
	nh_raw_send(&w.alice, &ping);
	assert_true(nh_wait_count(&w.alice, ZT_CTRL_OBSERVED_ADDRESS, 1, 3 * ZT_SEC));
	chan_send(&w, "127.0.0.2:5000", id, "validated");
	chan_send(&w, "127.0.0.3:6000", id, "to the new address");
	nh_run_for(&w.net, 200 * ZT_MS);
	assert_int_equal(w.c1.raw.nchan, 1);
	assert_chan(&w.c1, id, "validated");
	assert_int_equal(w.alice.raw.nchan, 1);
	assert_chan(&w.alice, id, "to the new address");
	/* the old address is nobody's now */
	w.alice.addr = qh_addr("127.0.0.2:5000");
	chan_send(&w, "127.0.0.2:5000", id, "old address");
	nh_run_for(&w.net, 200 * ZT_MS);
	zt_imd_stats(w.imd.imd, &st);
	assert_int_equal(st.relay_chan_dropped_addr, 2);
	assert_int_equal(w.c1.raw.nchan, 1);
	nh_world_fini(&w);
}

/* A burst below ZT_IMD_RELAY_BURST_MIN would never pass an initial window. */
/* The workers' relay table (node/relaytab.h, docs/workers.md): the Intermediate keeps
 * an entry per session with both ends' validated addresses; what a worker forwards is
 * charged to the session's own count; a rebinding moves the entry; a revoked client's
 * session is gone from it (a worker no longer forwards for it); a sender with a relay
 * rate is not the fast path's. */
static enum zt_relaytab_verdict table_forward(struct zt_relaytab *t, const struct zt_addr *from,
					      uint32_t id, struct zt_addr *ret_to)
{
	uint8_t pkt[ZT_RELAY_CHAN_HDR_LEN + 8] = { 0 };
	struct zt_addr local;

	assert_int_equal(zt_relay_chan_write(pkt, sizeof(pkt), id), ZT_RELAY_CHAN_HDR_LEN);
	return zt_relaytab_forward(t, from, pkt, sizeof(pkt), ret_to, &local);
}

static void relay_table_follows_the_sessions(void **state)
{
	static const char *const without_alice[] = {
		"client agent:bob:pw-bob", "client connector:c1:pw-c1", "allow bob=db",
		"serve c1=web,db", NULL,
	};
	struct zt_imd_session_info si;
	struct zt_relaytab *t;
	struct zt_imd_reload r;
	struct zt_ctrl_msg ping;
	struct zt_addr to, old;
	struct zt_policy *p1;
	struct nh_world w;
	uint32_t id;

	assert_int_equal(zt_relaytab_new(&t, NULL), 0);
	world_init(&w, *state, 0, 0);
	w.icfg.relaytab = t;
	restart_imd(&w);
	w.alice.raw_chan = w.c1.raw_chan = true;
	id = pair(&w);
	assert_int_equal(zt_relaytab_size(t), 1);
	assert_int_equal(table_forward(t, &w.alice.addr, id, &to), ZT_RELAYTAB_FORWARD);
	assert_true(zt_addr_equal(&to, &w.c1.addr));
	assert_int_equal(table_forward(t, &w.c1.addr, id, &to), ZT_RELAYTAB_FORWARD);
	assert_true(zt_addr_equal(&to, &w.alice.addr));
	/* the main thread's relays and the worker's share one count */
	chan_send(&w, "127.0.0.2:5000", id, "main thread");
	nh_run_for(&w.net, 200 * ZT_MS);
	assert_int_equal(w.c1.raw.nchan, 1);
	assert_int_equal(zt_imd_session_info(w.imd.imd, id, &si), 0);
	assert_int_equal(si.relay_pkts, 3);
	assert_int_equal(si.relay_bytes, 2 * (ZT_RELAY_HDR_LEN + 8) + ZT_RELAY_HDR_LEN + 11);
	/* alice's NAT rebinds: the new address once her connection validated it */
	old = w.alice.addr;
	w.alice.addr = qh_addr("127.0.0.2:5999");
	zt_ctrl_msg_init(&ping, ZT_CTRL_PING);
	ping.u.ping.nonce = 9;
	ping.u.ping.timestamp = w.net.now;
	nh_raw_send(&w.alice, &ping);
	assert_true(nh_wait_count(&w.alice, ZT_CTRL_OBSERVED_ADDRESS, 1, 3 * ZT_SEC));
	assert_int_equal(table_forward(t, &old, id, &to), ZT_RELAYTAB_SLOW);
	assert_int_equal(table_forward(t, &w.alice.addr, id, &to), ZT_RELAYTAB_FORWARD);
	assert_int_equal(table_forward(t, &w.c1.addr, id, &to), ZT_RELAYTAB_FORWARD);
	assert_true(zt_addr_equal(&to, &w.alice.addr));
	/* alice revoked: her session ends, and no worker forwards for it any more */
	p1 = nh_policy(without_alice);
	assert_int_equal(zt_imd_set_policy(w.imd.imd, w.net.now, p1, &r), 0);
	zt_policy_free(w.policy);
	w.policy = p1;
	assert_int_equal(r.sessions_ended, 1);
	assert_int_equal(zt_relaytab_size(t), 0);
	assert_int_equal(table_forward(t, &w.c1.addr, id, &to), ZT_RELAYTAB_SLOW);
	assert_int_equal(table_forward(t, &w.alice.addr, id, &to), ZT_RELAYTAB_SLOW);
	nh_world_fini(&w);

	/* a relay rate: the token bucket is the main thread's, so nothing is the workers';
	 * the Intermediate's end leaves the table empty */
	world_init(&w, *state, 0, 0);
	w.icfg.relaytab = t;
	w.icfg.relay_rate = RATE;
	restart_imd(&w);
	w.alice.raw_chan = w.c1.raw_chan = true;
	id = pair(&w);
	assert_int_equal(zt_relaytab_size(t), 1);
	assert_int_equal(table_forward(t, &w.alice.addr, id, &to), ZT_RELAYTAB_SLOW);
	assert_int_equal(table_forward(t, &w.c1.addr, id, &to), ZT_RELAYTAB_SLOW);
	nh_world_fini(&w);
	assert_int_equal(zt_relaytab_size(t), 0);
	zt_relaytab_free(t);
}

static void relay_burst_below_minimum_refused(void **state)
{
	struct nh_world w;
	struct zt_imd *imd = NULL;

	world_init(&w, *state, 0, 0);
	w.icfg.relay_rate = RATE;
	w.icfg.relay_burst = ZT_IMD_RELAY_BURST_MIN - 1;
	assert_int_equal(zt_imd_new(&imd, &w.icfg, w.net.now), -EINVAL);
	w.icfg.relay_burst = ZT_IMD_RELAY_BURST_MIN;
	assert_int_equal(zt_imd_new(&imd, &w.icfg, w.net.now), 0);
	zt_imd_free(imd);
	nh_world_fini(&w);
}

static void start_offsets_math(void **state)
{
	uint64_t a, c;
	(void)state;

	/* agent 10 ms RTT, connector 40 ms: D = 20 ms + 50 ms margin. */
	zt_imd_start_offsets(10 * ZT_MS, 40 * ZT_MS, 50 * ZT_MS, &a, &c);
	assert_int_equal(a, 65 * ZT_MS);
	assert_int_equal(c, 50 * ZT_MS);
	/* Arrival + offset is the same moment for both. */
	assert_int_equal(5 * ZT_MS + a, 20 * ZT_MS + c);
	zt_imd_start_offsets(0, 0, 7, &a, &c);
	assert_int_equal(a, 7);
	assert_int_equal(c, 7);
	zt_imd_start_offsets(30 * ZT_MS, 2 * ZT_MS, 0, &a, &c);
	assert_int_equal(a, 0);
	assert_int_equal(c, 14 * ZT_MS);
}

/* NAT types seen (the metrics): each client counted by what its last CANDIDATES said
 * of its NAT; unknown until it says. */
static void nat_seen_counts_what_clients_said(void **state)
{
	struct nh_world w;
	struct zt_ctrl_msg m;
	uint32_t map[ZT_IMD_NAT_KINDS], ports[ZT_IMD_NAT_KINDS], id;

	world_init(&w, *state, 0, 0);
	id = pair(&w);
	zt_imd_nat_seen(w.imd.imd, map, ports);
	assert_int_equal(map[0], 2); /* alice and c1, nothing said yet */
	assert_int_equal(ports[0], 2);
	nh_raw_cands(&w.alice, id, 0, "192.0.2.1:1000");
	nh_run_for(&w.net, 200 * ZT_MS);
	zt_imd_nat_seen(w.imd.imd, map, ports);
	assert_int_equal(map[0], 2); /* said nothing of its NAT */
	/* alice: symmetric with sequential ports; c1: endpoint-independent */
	zt_ctrl_msg_init(&m, ZT_CTRL_CANDIDATES);
	m.u.cands.session_id = id;
	snprintf(m.u.cands.ufrag, sizeof(m.u.cands.ufrag), "uf1");
	snprintf(m.u.cands.pwd, sizeof(m.u.cands.pwd), "pwpwpwpwpwpwpwpwpwpwpw");
	m.u.cands.generation = 1;
	m.u.cands.end_of_candidates = true;
	m.u.cands.nat_mapping = ZT_CTRL_NAT_MAP_ADDRESS_PORT;
	m.u.cands.nat_ports = ZT_CTRL_NAT_PORTS_SEQUENTIAL;
	assert_int_equal(nh_raw_send(&w.alice, &m), 0);
	m.u.cands.nat_mapping = ZT_CTRL_NAT_MAP_INDEPENDENT;
	m.u.cands.nat_ports = 0; /* not said */
	assert_int_equal(nh_raw_send(&w.c1, &m), 0);
	nh_run_for(&w.net, 200 * ZT_MS);
	zt_imd_nat_seen(w.imd.imd, map, ports);
	assert_int_equal(map[ZT_CTRL_NAT_MAP_ADDRESS_PORT], 1);
	assert_int_equal(map[ZT_CTRL_NAT_MAP_INDEPENDENT], 1);
	assert_int_equal(map[0], 0);
	assert_int_equal(ports[ZT_CTRL_NAT_PORTS_SEQUENTIAL], 1);
	assert_int_equal(ports[0], 1);
	nh_world_fini(&w);
}

static void candidates_forwarded_and_checks_start_together(void **state)
{
	struct nh_world w;
	const struct zt_ctrl_msg *ma, *mc, *sa, *sc;
	uint64_t at_a = 0, at_c = 0, start_a, start_c, diff;
	uint32_t id;

	world_init(&w, *state, 0, 0);
	id = pair(&w);
	/* Some traffic so both outer connections have an RTT estimate. */
	for (int i = 0; i < 3; i++) {
		struct zt_ctrl_msg ping;
		zt_ctrl_msg_init(&ping, ZT_CTRL_PING);
		ping.u.ping.nonce = (uint64_t)i + 1;
		ping.u.ping.timestamp = w.net.now;
		nh_raw_send(&w.alice, &ping);
		nh_raw_send(&w.c1, &ping);
		nh_run_for(&w.net, 100 * ZT_MS);
	}
	assert_true(nh_raw_count(&w.alice, ZT_CTRL_PONG) >= 3);
	nh_raw_cands(&w.alice, id, 0, "192.0.2.1:1000");
	nh_run_for(&w.net, 200 * ZT_MS);
	assert_int_equal(nh_raw_count(&w.c1, ZT_CTRL_CANDIDATES), 1);
	assert_int_equal(nh_raw_count(&w.c1, ZT_CTRL_START_CHECKS), 0); /* one side only */
	mc = nh_raw_last(&w.c1, ZT_CTRL_CANDIDATES);
	assert_int_equal(mc->u.cands.session_id, id);
	assert_string_equal(mc->u.cands.ufrag, "uf0");
	assert_true(zt_addr_equal(&mc->u.cands.cands[0].addr, &(struct zt_addr){ 0 }) == false);
	nh_raw_cands(&w.c1, id, 0, "198.51.100.1:2000");
	assert_true(nh_wait_count(&w.alice, ZT_CTRL_START_CHECKS, 1, 3 * ZT_SEC));
	assert_true(nh_wait_count(&w.c1, ZT_CTRL_START_CHECKS, 1, 3 * ZT_SEC));
	ma = nh_raw_last(&w.alice, ZT_CTRL_CANDIDATES);
	assert_non_null(ma);
	assert_string_equal(zt_addr_str(&ma->u.cands.cands[0].addr, (char[ZT_ADDR_STRLEN]){ 0 }),
			    "198.51.100.1:2000");
	sa = nh_raw_last(&w.alice, ZT_CTRL_START_CHECKS);
	sc = nh_raw_last(&w.c1, ZT_CTRL_START_CHECKS);
	for (size_t i = 0; i < w.alice.raw.nmsgs && i < NH_MAX_MSGS; i++)
		if (w.alice.raw.msgs[i].type == ZT_CTRL_START_CHECKS)
			at_a = w.alice.raw.msg_at[i];
	for (size_t i = 0; i < w.c1.raw.nmsgs && i < NH_MAX_MSGS; i++)
		if (w.c1.raw.msgs[i].type == ZT_CTRL_START_CHECKS)
			at_c = w.c1.raw.msg_at[i];
	/* alice is 5 ms away, c1 20 ms: alice waits about 15 ms longer. */
	assert_true(sa->u.start.start_offset > sc->u.start.start_offset);
	assert_true(sc->u.start.start_offset >= 50 * ZT_MS);
	start_a = at_a + sa->u.start.start_offset;
	start_c = at_c + sc->u.start.start_offset;
	diff = start_a > start_c ? start_a - start_c : start_c - start_a;
	assert_true(diff < 3 * ZT_MS);
	nh_world_fini(&w);
}

/* OPEN with SESSION_ID (a session kept on its direct path while the ends had lost the
 * Intermediate): paired under that id if it is free and the policy allows it. */
static void resume_reattaches_under_the_same_id(void **state)
{
	struct nh_world w;
	const struct zt_ctrl_msg *a, *c, *e;
	struct zt_imd_stats st;

	world_init(&w, *state, 0, 0);
	nh_raw_login(&w.c1, w.c1_tls, &w.imd.addr, ZT_CTRL_ROLE_CONNECTOR, "c1", "pw-c1", "web");
	nh_raw_login(&w.alice, w.alice_tls, &w.imd.addr, ZT_CTRL_ROLE_AGENT, "alice", "pw-alice",
		     NULL);
	nh_raw_login(&w.bob, w.bob_tls, &w.imd.addr, ZT_CTRL_ROLE_AGENT, "bob", "pw-bob", NULL);
	assert_int_equal(nh_raw_open(&w.alice, 9, "web", 0xc0ffee), 0);
	assert_true(nh_wait_count(&w.alice, ZT_CTRL_SESSION, 1, 3 * ZT_SEC));
	assert_true(nh_wait_count(&w.c1, ZT_CTRL_SESSION, 1, 3 * ZT_SEC));
	a = nh_raw_last(&w.alice, ZT_CTRL_SESSION);
	c = nh_raw_last(&w.c1, ZT_CTRL_SESSION);
	assert_int_equal(a->u.session.session_id, 0xc0ffee);
	assert_int_equal(a->u.session.request_id, 9);
	assert_int_equal(c->u.session.session_id, 0xc0ffee);
	assert_string_equal(c->u.session.peer_identity, "ztna:agent:alice");
	/* the id is in use now: a second resume of it is refused */
	assert_int_equal(nh_raw_open(&w.alice, 10, "web", 0xc0ffee), 0);
	assert_true(nh_wait_count(&w.alice, ZT_CTRL_ERROR, 1, 3 * ZT_SEC));
	e = nh_raw_last(&w.alice, ZT_CTRL_ERROR);
	assert_int_equal(e->u.error.code, (uint32_t)-ZT_ESTATE);
	assert_int_equal(e->u.error.request_id, 10);
	/* the policy still rules: bob may not reach web, resume or not */
	assert_int_equal(nh_raw_open(&w.bob, 11, "web", 0xbeef), 0);
	assert_true(nh_wait_count(&w.bob, ZT_CTRL_ERROR, 1, 3 * ZT_SEC));
	assert_int_equal(nh_raw_last(&w.bob, ZT_CTRL_ERROR)->u.error.code, (uint32_t)-ZT_EPOLICY);
	/* ids are 32 bits */
	assert_int_equal(nh_raw_open(&w.alice, 12, "web", 1ULL << 40), 0);
	assert_true(nh_wait_count(&w.alice, ZT_CTRL_ERROR, 2, 3 * ZT_SEC));
	assert_int_equal(nh_raw_last(&w.alice, ZT_CTRL_ERROR)->u.error.request_id, 12);
	zt_imd_stats(w.imd.imd, &st);
	assert_int_equal(st.sessions_resumed, 1);
	assert_int_equal(st.sessions_opened, 1);
	assert_int_equal(nh_raw_count(&w.c1, ZT_CTRL_SESSION), 1);
	nh_world_fini(&w);
}

/* A peer sending candidates nonstop: the Intermediate forwards at most 32 per 10 s
 * per end, counts the rest, and the session and the other end are unaffected. */
static void nonstop_candidates_are_bounded(void **state)
{
	struct nh_world w;
	struct zt_imd_stats st;
	uint32_t id;

	world_init(&w, *state, 0, 0);
	id = pair(&w);
	for (int i = 0; i < 200; i++) {
		nh_raw_cands(&w.alice, id, (uint32_t)i, "192.0.2.1:1000");
		if (i % 20 == 19)
			nh_run_for(&w.net, 20 * ZT_MS);
	}
	nh_run_for(&w.net, 300 * ZT_MS);
	assert_int_equal(nh_raw_count(&w.c1, ZT_CTRL_CANDIDATES), 32);
	zt_imd_stats(w.imd.imd, &st);
	assert_int_equal(st.candidates_fwd, 32);
	assert_true(st.ctrl_errors >= 168);
	/* the connector's own candidates still go through, and after the window alice's */
	nh_raw_cands(&w.c1, id, 0, "198.51.100.1:2000");
	nh_run_for(&w.net, 200 * ZT_MS);
	assert_int_equal(nh_raw_count(&w.alice, ZT_CTRL_CANDIDATES), 1);
	nh_run_for(&w.net, 10 * ZT_SEC);
	nh_raw_cands(&w.alice, id, 500, "192.0.2.1:1000");
	nh_run_for(&w.net, 200 * ZT_MS);
	assert_int_equal(nh_raw_count(&w.c1, ZT_CTRL_CANDIDATES), 33);
	nh_world_fini(&w);
}

static void observed_address_follows_rebinding(void **state)
{
	struct nh_world w;
	struct zt_ctrl_msg ping;
	const struct zt_ctrl_msg *m;

	world_init(&w, *state, 0, 0);
	nh_raw_login(&w.alice, w.alice_tls, &w.imd.addr, ZT_CTRL_ROLE_AGENT, "alice", "pw-alice",
		     NULL);
	assert_int_equal(nh_raw_count(&w.alice, ZT_CTRL_OBSERVED_ADDRESS), 0);
	/* The NAT in front of alice gives her a new public port. */
	w.alice.addr = qh_addr("127.0.0.2:5999");
	zt_ctrl_msg_init(&ping, ZT_CTRL_PING);
	ping.u.ping.nonce = 9;
	ping.u.ping.timestamp = w.net.now;
	nh_raw_send(&w.alice, &ping);
	assert_true(nh_wait_count(&w.alice, ZT_CTRL_OBSERVED_ADDRESS, 1, 3 * ZT_SEC));
	m = nh_raw_last(&w.alice, ZT_CTRL_OBSERVED_ADDRESS);
	assert_true(zt_addr_equal(&m->u.observed.addr, &w.alice.addr));
	nh_world_fini(&w);
}

static void newer_connector_connection_replaces_older(void **state)
{
	struct nh_world w;
	struct nh_ep c1b;
	const struct zt_ctrl_msg *m;
	struct zt_imd_stats st;
	uint32_t id;

	world_init(&w, *state, 0, 0);
	id = pair(&w);
	/* c1 restarted: a new connection from another port with the same identity. */
	nh_ep_init(&c1b, &w.net, NH_RAW, "127.0.0.3:6001", 20 * ZT_MS);
	nh_raw_login(&c1b, w.c1_tls, &w.imd.addr, ZT_CTRL_ROLE_CONNECTOR, "c1", "pw-c1", "web");
	assert_true(nh_wait_count(&w.alice, ZT_CTRL_CLOSE, 1, 3 * ZT_SEC));
	m = nh_raw_last(&w.alice, ZT_CTRL_CLOSE);
	assert_int_equal(m->u.close.session_id, id);
	/* the old connection is told why, then closed with the same code */
	expect_refusal_after_welcome(&w, &w.c1, 1508);
	/* The next OPEN pairs with the new connection. */
	assert_int_equal(nh_raw_open(&w.alice, 8, "web", 0), 0);
	assert_true(nh_wait_count(&c1b, ZT_CTRL_SESSION, 1, 3 * ZT_SEC));
	zt_imd_stats(w.imd.imd, &st);
	assert_int_equal(st.sessions, 1);
	nh_world_fini(&w);
}

static void held_open_waits_for_registration(void **state)
{
	struct nh_world w;

	world_init(&w, *state, 0, 3 * ZT_SEC);
	nh_raw_login(&w.alice, w.alice_tls, &w.imd.addr, ZT_CTRL_ROLE_AGENT, "alice", "pw-alice",
		     NULL);
	assert_int_equal(nh_raw_open(&w.alice, 5, "web", 0), 0);
	nh_run_for(&w.net, 500 * ZT_MS);
	assert_int_equal(nh_raw_count(&w.alice, ZT_CTRL_ERROR), 0);
	nh_raw_login(&w.c1, w.c1_tls, &w.imd.addr, ZT_CTRL_ROLE_CONNECTOR, "c1", "pw-c1", "web");
	assert_true(nh_wait_count(&w.alice, ZT_CTRL_SESSION, 1, 3 * ZT_SEC));
	/* After the hold, an unknown service is refused at once... */
	assert_int_equal(nh_raw_open(&w.alice, 6, "ghost", 0), 0);
	assert_true(nh_wait_count(&w.alice, ZT_CTRL_ERROR, 1, 3 * ZT_SEC));
	assert_int_equal(nh_raw_last(&w.alice, ZT_CTRL_ERROR)->u.error.request_id, 6);
	assert_true(w.net.now >= 1003 * ZT_SEC);
	nh_world_fini(&w);
}

static void restart_answers_with_stateless_reset(void **state)
{
	struct nh_world w;
	struct zt_ctrl_msg ping;
	struct zt_imd_stats st;

	world_init(&w, *state, 0, 0);
	nh_raw_login(&w.alice, w.alice_tls, &w.imd.addr, ZT_CTRL_ROLE_AGENT, "alice", "pw-alice",
		     NULL);
	/* The Intermediate restarts: all state lost, same key. */
	zt_imd_free(w.imd.imd);
	assert_int_equal(zt_imd_new(&w.imd.imd, &w.icfg, w.net.now), 0);
	zt_ctrl_msg_init(&ping, ZT_CTRL_PING);
	ping.u.ping.nonce = 1;
	ping.u.ping.timestamp = w.net.now;
	nh_raw_send(&w.alice, &ping);
	nh_run_for(&w.net, 200 * ZT_MS);
	/* The client learned at once, not at its idle timeout. */
	assert_true(zt_quic_conn_state(w.alice.raw.conn) >= ZT_QUIC_DRAINING);
	zt_imd_stats(w.imd.imd, &st);
	assert_true(st.resets_sent >= 1);
	assert_true(st.dropped_unknown >= 1);
	nh_world_fini(&w);
}

static void restart_with_another_key_resets_nothing(void **state)
{
	struct nh_world w;
	struct zt_ctrl_msg ping;
	static const uint8_t other[32] = "some-other-key-entirely-12345678";

	world_init(&w, *state, 0, 0);
	nh_raw_login(&w.alice, w.alice_tls, &w.imd.addr, ZT_CTRL_ROLE_AGENT, "alice", "pw-alice",
		     NULL);
	zt_imd_free(w.imd.imd);
	w.icfg.reset_key = other;
	assert_int_equal(zt_imd_new(&w.imd.imd, &w.icfg, w.net.now), 0);
	zt_ctrl_msg_init(&ping, ZT_CTRL_PING);
	ping.u.ping.nonce = 1;
	ping.u.ping.timestamp = w.net.now;
	nh_raw_send(&w.alice, &ping);
	nh_run_for(&w.net, 200 * ZT_MS);
	/* A reset with a token the client does not know is ignored. */
	assert_int_equal(zt_quic_conn_state(w.alice.raw.conn), ZT_QUIC_ESTABLISHED);
	nh_world_fini(&w);
}

static void garbage_is_counted_and_sessions_continue(void **state)
{
	struct nh_world w;
	struct zt_imd_stats st;
	uint8_t junk[200], stun[20 + 8];
	struct zt_addr evil = qh_addr("127.0.0.9:999");
	uint32_t id;

	world_init(&w, *state, 0, 0);
	id = pair(&w);
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)(i * 37 + 11);
	junk[0] = 0x95; /* neither STUN nor QUIC */
	nh_send(&w.net, &evil, &w.imd.addr, junk, sizeof(junk));
	nh_send(&w.net, &evil, &w.imd.addr, junk, 0);
	junk[0] = 0x45; /* a short header for no connection */
	nh_send(&w.net, &evil, &w.imd.addr, junk, sizeof(junk));
	junk[0] = 0xc5; /* a truncated long header */
	nh_send(&w.net, &evil, &w.imd.addr, junk, 5);
	/* A STUN Binding request is answered. */
	memset(stun, 0, sizeof(stun));
	stun[1] = 0x01;
	stun[4] = 0x21, stun[5] = 0x12, stun[6] = 0xa4, stun[7] = 0x42;
	for (int i = 8; i < 20; i++)
		stun[i] = (uint8_t)i;
	nh_send(&w.net, &evil, &w.imd.addr, stun, 20);
	nh_run_for(&w.net, 100 * ZT_MS);
	zt_imd_stats(w.imd.imd, &st);
	assert_int_equal(st.dropped_garbage, 2);
	assert_int_equal(st.dropped_unknown, 2);
	assert_int_equal(st.stun_answered, 1);
	/* The session still relays. */
	relay_dgram(&w.alice, id, "still here");
	nh_run_for(&w.net, 200 * ZT_MS);
	assert_int_equal(w.c1.raw.ndgrams, 1);
	nh_world_fini(&w);
}

static void peer_disconnect_closes_sessions(void **state)
{
	struct nh_world w;
	const struct zt_ctrl_msg *m;
	uint32_t id;

	world_init(&w, *state, 0, 0);
	id = pair(&w);
	zt_quic_conn_close(w.c1.raw.conn, 0, "bye");
	assert_true(nh_wait_count(&w.alice, ZT_CTRL_CLOSE, 1, 3 * ZT_SEC));
	m = nh_raw_last(&w.alice, ZT_CTRL_CLOSE);
	assert_int_equal(m->u.close.session_id, id);
	assert_int_equal(m->u.close.reason, 1507);
	nh_world_fini(&w);
}


struct count_wait {
	struct zt_imd *imd;
	size_t below;
};

static bool clients_below(void *arg, uint64_t now)
{
	struct count_wait *cw = arg;
	struct zt_imd_stats st;
	(void)now;

	zt_imd_stats(cw->imd, &st);
	return st.clients < cw->below;
}

/* The first packet the Intermediate sends to one address at or after a moment. */
struct first_pkt {
	struct zt_addr imd, to;
	uint64_t after, at;
};

static bool see_first(void *arg, const struct nh_pkt *p)
{
	struct first_pkt *fp = arg;
	uint64_t sent = p->at - 20 * ZT_MS; /* to c1: its 20 ms link */

	if (!fp->at && sent >= fp->after && zt_addr_equal(&p->from, &fp->imd) &&
	    zt_addr_equal(&p->to, &fp->to))
		fp->at = sent;
	return false;
}

/*
 * Each client's own deadlines are kept (a heap of them, not a scan of all clients):
 * a client that never says HELLO is closed at its own HELLO deadline while three
 * others log in (three identities: a second login of one would replace the first);
 * those, logged in 300 ms apart and silent after, are dropped one by one, in order,
 * each at its own idle timeout.
 */
static void each_client_keeps_its_own_deadlines(void **state)
{
	struct nh_fixture *f = *state;
	struct nh_world w;
	struct nh_ep c2;
	struct zt_tls_ctx *c2_tls;
	uint64_t joined[3];
	struct count_wait cw;
	struct first_pkt fp;
	struct zt_imd_stats st;
	const char *why;

	world_init(&w, f, 0, 0);
	assert_int_equal(zt_policy_add_client(w.policy, "connector:c2:pw-c2", &why), 0);
	assert_int_equal(zt_policy_add_serve(w.policy, "c2=db", &why), 0);
	zt_imd_free(w.imd.imd);
	w.icfg.idle_timeout = 3 * ZT_SEC;
	w.icfg.hello_timeout = 1 * ZT_SEC;
	assert_int_equal(zt_imd_new(&w.imd.imd, &w.icfg, w.net.now), 0);
	c2_tls = nh_tls(f, ZT_TLS_CLIENT, ZT_ALPN_OUTER, &f->pki.c2, false);
	nh_ep_init(&c2, &w.net, NH_RAW, "127.0.0.10:5000", 2 * ZT_MS);
	nh_raw_up(&w.c1, w.c1_tls, &w.imd.addr);
	fp = (struct first_pkt){ .imd = w.imd.addr, .to = w.c1.addr, .after = w.net.now + ZT_SEC };
	w.net.tap = see_first;
	w.net.tap_arg = &fp;
	/* three identities: one authenticated connection each */
	nh_raw_login(&w.alice, w.alice_tls, &w.imd.addr, ZT_CTRL_ROLE_AGENT, "alice", "pw-alice",
		     NULL);
	joined[0] = w.net.now;
	nh_run_for(&w.net, 300 * ZT_MS);
	nh_raw_login(&w.bob, w.bob_tls, &w.imd.addr, ZT_CTRL_ROLE_AGENT, "bob", "pw-bob", NULL);
	joined[1] = w.net.now;
	nh_run_for(&w.net, 300 * ZT_MS);
	nh_raw_login(&c2, c2_tls, &w.imd.addr, ZT_CTRL_ROLE_CONNECTOR, "c2", "pw-c2", "db");
	joined[2] = w.net.now;
	nh_run_for(&w.net, 300 * ZT_MS);
	if (w.net.now < fp.after + 800 * ZT_MS) /* c1 closed, its closing period over */
		nh_run(&w.net, NULL, NULL, fp.after + 800 * ZT_MS);
	/* c1's connection was closed (no HELLO) at its deadline, not at another's */
	assert_true(fp.at);
	assert_in_range(fp.at, fp.after, fp.after + 100 * ZT_MS);
	assert_true(zt_quic_conn_state(w.c1.raw.conn) >= ZT_QUIC_CLOSING);
	zt_imd_stats(w.imd.imd, &st);
	assert_int_equal(st.clients, 3);
	assert_int_equal(st.auth_ok, 3);
	/* the silent clients go in the order they came, each 3 s after its last packet */
	cw.imd = w.imd.imd;
	for (int i = 0; i < 3; i++) {
		zt_imd_stats(w.imd.imd, &st);
		cw.below = st.clients;
		assert_true(nh_run(&w.net, clients_below, &cw, w.net.now + 5 * ZT_SEC));
		assert_in_range(w.net.now, joined[i] + 3 * ZT_SEC - 50 * ZT_MS,
				joined[i] + 3 * ZT_SEC + 300 * ZT_MS);
	}
	zt_imd_stats(w.imd.imd, &st);
	assert_int_equal(st.clients, 0);
	assert_true(zt_imd_next_deadline(w.imd.imd) == ZT_TIME_NEVER);
	nh_world_fini(&w);
	zt_tls_ctx_free(c2_tls);
}

/* Address validation and half-open connections. */

static void retry_always_round_trip(void **state)
{
	struct nh_world w;
	struct zt_imd_stats st;

	world_init(&w, *state, 0, 0);
	w.icfg.retry = ZT_IMD_RETRY_ALWAYS;
	restart_imd(&w);
	/* the client follows the Retry (one more round trip) and logs in */
	nh_raw_login(&w.alice, w.alice_tls, &w.imd.addr, ZT_CTRL_ROLE_AGENT, "alice", "pw-alice",
		     NULL);
	zt_imd_stats(w.imd.imd, &st);
	assert_int_equal(st.retry_sent, 1);
	assert_int_equal(st.retry_validated, 1);
	assert_int_equal(st.retry_bad_token, 0);
	assert_int_equal(st.accepted, 1);
	assert_int_equal(st.auth_ok, 1);
	assert_int_equal(st.half_open, 0);
	nh_world_fini(&w);
}

/* Forged first Initials from addr (nothing answers them): n of them. */
static void forge_initials(struct nh_world *w, const char *addr, int n)
{
	struct zt_addr from = qh_addr(addr);
	uint8_t pkt[1500];

	for (int i = 0; i < n; i++) {
		size_t len = nh_first_initial(w->alice_tls, &w->f->rng, &from, &w->imd.addr,
					      w->net.now, pkt, sizeof(pkt));
		from.port++;
		nh_send(&w->net, &from, &w->imd.addr, pkt, len);
	}
	nh_run_for(&w->net, 10 * ZT_MS);
}

/* Under load only: from a source with 4 half-open (default retry-half-open-per-source),
 * or with 100 half-open in total; nobody else pays the round trip. */
static void retry_under_load_only(void **state)
{
	struct nh_world w;
	struct zt_imd_stats st;

	world_init(&w, *state, 0, 0);
	nh_raw_login(&w.bob, w.bob_tls, &w.imd.addr, ZT_CTRL_ROLE_AGENT, "bob", "pw-bob", NULL);
	zt_imd_stats(w.imd.imd, &st);
	assert_int_equal(st.retry_sent, 0);
	/* 127.0.0.2 (alice's address, other ports) has 4 half-open connections */
	forge_initials(&w, "127.0.0.2:7000", 4);
	zt_imd_stats(w.imd.imd, &st);
	assert_int_equal(st.half_open, 4);
	assert_int_equal(st.half_open_sources, 1);
	assert_int_equal(st.retry_sent, 0);
	forge_initials(&w, "127.0.0.2:8000", 10);
	zt_imd_stats(w.imd.imd, &st);
	assert_int_equal(st.half_open, 4);
	assert_int_equal(st.retry_sent, 10);
	/* alice, from that address, gets a Retry and logs in */
	nh_raw_login(&w.alice, w.alice_tls, &w.imd.addr, ZT_CTRL_ROLE_AGENT, "alice", "pw-alice",
		     NULL);
	zt_imd_stats(w.imd.imd, &st);
	assert_int_equal(st.retry_sent, 11);
	assert_int_equal(st.retry_validated, 1);
	/* c1, elsewhere, does not */
	nh_raw_login(&w.c1, w.c1_tls, &w.imd.addr, ZT_CTRL_ROLE_CONNECTOR, "c1", "pw-c1", "web");
	zt_imd_stats(w.imd.imd, &st);
	assert_int_equal(st.retry_sent, 11);
	assert_int_equal(st.auth_ok, 3);
	nh_world_fini(&w);
}

/* The client's Initials to the Intermediate, after the first, are captured here. */
struct grab {
	struct zt_addr from, to;
	uint8_t pkt[1500];
	size_t len;
	int seen;
	uint64_t hold_until;  /* dropped until then (after the first) */
};

static bool grab_tap(void *arg, const struct nh_pkt *p)
{
	struct grab *g = arg;

	if (!zt_addr_equal(&p->from, &g->from) || !zt_addr_equal(&p->to, &g->to) ||
	    !zt_quic_pkt_is_initial(p->data, p->len))
		return false;
	if (g->seen++ == 1 && p->len <= sizeof(g->pkt)) {
		memcpy(g->pkt, p->data, p->len);
		g->len = p->len;
	}
	return g->seen > 1 && p->at < g->hold_until;
}

static void bad_tokens_refused(void **state)
{
	struct nh_world w;
	struct grab g;
	struct zt_imd_stats st;
	struct zt_quic_close_info ci;
	struct zt_addr moved = qh_addr("127.0.0.2:5001"), other = qh_addr("127.0.0.77:5000");

	world_init(&w, *state, 0, 0);
	w.icfg.retry = ZT_IMD_RETRY_ALWAYS;
	w.icfg.retry_token_lifetime = 1 * ZT_SEC;
	restart_imd(&w);
	/* alice's Initial after the Retry is held back until the token expired */
	g = (struct grab){ .from = w.alice.addr, .to = w.imd.addr,
			   .hold_until = w.net.now + 1500 * ZT_MS };
	w.net.tap = grab_tap;
	w.net.tap_arg = &g;
	assert_int_equal(nh_raw_connect(&w.alice, w.alice_tls, &w.imd.addr), 0);
	nh_run_for(&w.net, 4 * ZT_SEC);
	assert_true(g.len >= 1200);
	zt_imd_stats(w.imd.imd, &st);
	assert_int_equal(st.retry_sent, 1);
	assert_true(st.retry_bad_token >= 1);
	assert_int_equal(st.accepted, 0);
	/* s8.1.3: the client was told at once (INVALID_TOKEN), not left to time out */
	assert_true(zt_quic_conn_state(w.alice.raw.conn) >= ZT_QUIC_DRAINING);
	zt_quic_conn_close_info(w.alice.raw.conn, &ci);
	assert_true(ci.by_peer);
	assert_false(ci.app);
	assert_int_equal(ci.code, 0x0b);
	/* the token from another port or address: refused, nothing kept (alice's own
	 * Initial with it is held back meanwhile, then gets in) */
	w.net.tap = NULL;
	w.icfg.retry_token_lifetime = 0;
	restart_imd(&w);
	g = (struct grab){ .from = w.alice.addr, .to = w.imd.addr,
			   .hold_until = w.net.now + 500 * ZT_MS };
	w.net.tap = grab_tap;
	w.net.tap_arg = &g;
	assert_int_equal(nh_raw_connect(&w.alice, w.alice_tls, &w.imd.addr), 0);
	nh_run_for(&w.net, 100 * ZT_MS);
	assert_true(g.len >= 1200);
	nh_send(&w.net, &moved, &w.imd.addr, g.pkt, g.len);
	nh_send(&w.net, &other, &w.imd.addr, g.pkt, g.len);
	nh_run_for(&w.net, 100 * ZT_MS);
	zt_imd_stats(w.imd.imd, &st);
	assert_int_equal(st.retry_bad_token, 2);
	assert_int_equal(st.accepted, 0);
	assert_true(nh_wait_handshake(&w.alice, 3 * ZT_SEC));
	zt_imd_stats(w.imd.imd, &st);
	assert_int_equal(st.accepted, 1);
	assert_int_equal(st.retry_validated, 1);
	/* a token of another Intermediate (another reset key) */
	w.net.tap = NULL;
	w.icfg.reset_key = (const uint8_t *)"another-reset-key-0123456789abcd";
	restart_imd(&w);
	nh_send(&w.net, &w.alice.addr, &w.imd.addr, g.pkt, g.len);
	nh_run_for(&w.net, 100 * ZT_MS);
	zt_imd_stats(w.imd.imd, &st);
	assert_int_equal(st.retry_bad_token, 1);
	assert_int_equal(st.accepted, 0);
	nh_world_fini(&w);
}

/*
 * Half-open limits: 3 from one source, 4 in total; over them a new client's Initials
 * are dropped (it retries them), and it gets in once a half-open one is dropped at
 * the handshake timeout (2 s after its first Initial, HELLO or not).
 */
static void half_open_limits_and_timeout(void **state)
{
	struct nh_world w;
	struct nh_ep x[4];
	struct zt_imd_stats st;
	char addr[32];

	world_init(&w, *state, 0, 0);
	w.icfg.half_open_per_source = 3;
	w.icfg.half_open_max = 4;
	w.icfg.retry_half_open_source = 100; /* no Retry: the limits alone */
	w.icfg.handshake_timeout = 2 * ZT_SEC;
	restart_imd(&w);
	for (int i = 0; i < 4; i++) {
		snprintf(addr, sizeof(addr), "127.0.0.9:%d", 5001 + i);
		nh_ep_init(&x[i], &w.net, NH_RAW, addr, 1 * ZT_MS);
	}
	for (int i = 0; i < 3; i++) {
		assert_int_equal(nh_raw_connect(&x[i], w.alice_tls, &w.imd.addr), 0);
		assert_true(nh_wait_handshake(&x[i], ZT_SEC));
	}
	/* the fourth from 127.0.0.9 */
	assert_int_equal(nh_raw_connect(&x[3], w.alice_tls, &w.imd.addr), 0);
	assert_false(nh_wait_handshake(&x[3], 500 * ZT_MS));
	zt_imd_stats(w.imd.imd, &st);
	assert_true(st.refused_source >= 1);
	assert_int_equal(st.half_open, 3);
	/* another source: the fourth in total, then the limit */
	assert_int_equal(nh_raw_connect(&w.bob, w.bob_tls, &w.imd.addr), 0);
	assert_true(nh_wait_handshake(&w.bob, ZT_SEC));
	assert_int_equal(nh_raw_connect(&w.c1, w.c1_tls, &w.imd.addr), 0);
	assert_false(nh_wait_handshake(&w.c1, 300 * ZT_MS));
	zt_imd_stats(w.imd.imd, &st);
	assert_true(st.refused_half_open >= 1);
	assert_int_equal(st.half_open, 4);
	/* bob says HELLO: authenticated, no longer half-open; c1 gets in */
	nh_raw_hello(&w.bob, ZT_CTRL_ROLE_AGENT, "bob", "pw-bob", NULL);
	assert_true(nh_wait_count(&w.bob, ZT_CTRL_WELCOME, 1, 3 * ZT_SEC));
	assert_true(nh_wait_handshake(&w.c1, 3 * ZT_SEC));
	/* the silent ones go 2 s after their first Initial; x[3] gets in after them */
	assert_true(nh_wait_handshake(&x[3], 6 * ZT_SEC));
	nh_run_for(&w.net, 2500 * ZT_MS);
	zt_imd_stats(w.imd.imd, &st);
	assert_true(st.half_open_expired >= 4);
	assert_true(zt_quic_conn_state(x[0].raw.conn) >= ZT_QUIC_DRAINING);
	assert_int_equal(zt_quic_conn_state(w.bob.raw.conn), ZT_QUIC_ESTABLISHED);
	nh_world_fini(&w);
}

/* A connection that never says HELLO is dropped handshake_timeout after its first
 * Initial, however long the HELLO timeout after the handshake is. */
static void half_open_timeout_counts_from_the_first_initial(void **state)
{
	struct nh_world w;
	struct zt_imd_stats st;
	struct zt_quic_close_info ci;
	uint64_t t0;

	world_init(&w, *state, 0, 0);
	w.icfg.handshake_timeout = 2 * ZT_SEC;
	w.icfg.hello_timeout = 30 * ZT_SEC;
	restart_imd(&w);
	t0 = w.net.now;
	nh_raw_up(&w.alice, w.alice_tls, &w.imd.addr);
	nh_run_for(&w.net, 1900 * ZT_MS);
	assert_int_equal(zt_quic_conn_state(w.alice.raw.conn), ZT_QUIC_ESTABLISHED);
	nh_run(&w.net, NULL, NULL, t0 + 2200 * ZT_MS);
	assert_true(zt_quic_conn_state(w.alice.raw.conn) >= ZT_QUIC_DRAINING);
	zt_quic_conn_close_info(w.alice.raw.conn, &ci);
	assert_true(ci.by_peer);
	assert_int_equal(ci.code, 1506); /* ZT_ETIMEOUT: no control stream for an ERROR */
	zt_imd_stats(w.imd.imd, &st);
	assert_int_equal(st.half_open_expired, 1);
	nh_world_fini(&w);
}

/* Two connectors bound to one service: a new session goes to the one with the fewest
 * sessions, the most recently registered on a tie. */
static void redundant_connectors_share_a_service(void **state)
{
	struct nh_fixture *f = *state;
	struct nh_world w;
	const char *why, *peer;
	static const char *const expect[] = { "ztna:connector:c2", "ztna:connector:c1",
					      "ztna:connector:c2", "ztna:connector:c1" };

	world_init(&w, f, 0, 0);
	assert_int_equal(zt_policy_add_client(w.policy, "connector:c2:pw-c2", &why), 0);
	assert_int_equal(zt_policy_add_serve(w.policy, "c2=web", &why), 0);
	nh_raw_login(&w.c1, w.c1_tls, &w.imd.addr, ZT_CTRL_ROLE_CONNECTOR, "c1", "pw-c1", "web");
	nh_raw_login(&w.c2, w.c2_tls, &w.imd.addr, ZT_CTRL_ROLE_CONNECTOR, "c2", "pw-c2", "web");
	assert_int_equal(nh_raw_total(&w.c2, ZT_CTRL_ERROR), 0);
	nh_raw_login(&w.alice, w.alice_tls, &w.imd.addr, ZT_CTRL_ROLE_AGENT, "alice", "pw-alice",
		     NULL);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(nh_raw_open(&w.alice, (uint64_t)i + 1, "web", 0), 0);
		assert_true(nh_wait_total(&w.net, &w.alice, ZT_CTRL_SESSION, (size_t)i + 1, 3 * ZT_SEC));
		peer = nh_raw_last(&w.alice, ZT_CTRL_SESSION)->u.session.peer_identity;
		assert_string_equal(peer, expect[i]);
	}
	nh_world_fini(&w);
}

/* Over the OPEN rate each OPEN gets ERROR 1510 with its own REQUEST_ID. */
static void open_rate_answers_each_request(void **state)
{
	struct nh_world w;
	struct zt_imd_stats st;

	world_init(&w, *state, 0, 0);
	zt_imd_free(w.imd.imd);
	w.icfg.open_rate = 1;
	w.icfg.open_burst = 3;
	assert_int_equal(zt_imd_new(&w.imd.imd, &w.icfg, w.net.now), 0);
	nh_raw_login(&w.c1, w.c1_tls, &w.imd.addr, ZT_CTRL_ROLE_CONNECTOR, "c1", "pw-c1", "web");
	nh_raw_login(&w.alice, w.alice_tls, &w.imd.addr, ZT_CTRL_ROLE_AGENT, "alice", "pw-alice",
		     NULL);
	for (int i = 1; i <= 5; i++)
		assert_int_equal(nh_raw_open(&w.alice, (uint64_t)i, "web", 0), 0);
	assert_true(nh_wait_total(&w.net, &w.alice, ZT_CTRL_ERROR, 2, 3 * ZT_SEC));
	nh_run_for(&w.net, 100 * ZT_MS);
	assert_int_equal(nh_raw_total(&w.alice, ZT_CTRL_SESSION), 3);
	assert_int_equal(w.alice.raw.last_error.code, (uint32_t)-ZT_EBUSY);
	assert_int_equal(w.alice.raw.last_error.request_id, 5);
	for (size_t i = 0, k = 4; i < w.alice.raw.nmsgs && i < NH_MAX_MSGS; i++)
		if (w.alice.raw.msgs[i].type == ZT_CTRL_ERROR)
			assert_int_equal(w.alice.raw.msgs[i].u.error.request_id, k++);
	/* a second later there is room for one more */
	nh_run_for(&w.net, ZT_SEC);
	assert_int_equal(nh_raw_open(&w.alice, 6, "web", 0), 0);
	assert_true(nh_wait_total(&w.net, &w.alice, ZT_CTRL_SESSION, 4, 3 * ZT_SEC));
	zt_imd_stats(w.imd.imd, &st);
	assert_int_equal(st.open_rate_limited, 2);
	nh_world_fini(&w);
}

struct line_count {
	unsigned refused, summaries;
	char last_summary[256];
};

static void count_lines(void *arg, enum zt_node_level level, const char *event, const char *kv)
{
	struct line_count *lc = arg;
	(void)level;

	if (!strcmp(event, "open_refused"))
		lc->refused++;
	if (!strcmp(event, "log_suppressed")) {
		lc->summaries++;
		snprintf(lc->last_summary, sizeof(lc->last_summary), "%s", kv);
	}
}

/* Refusal lines: 10 per connection per 10 s, then one line summing up the rest. */
static void refusal_lines_are_summed_up(void **state)
{
	struct nh_world w;
	struct line_count lc = { 0 };
	struct zt_imd_stats st;

	world_init(&w, *state, 0, 0);
	zt_imd_free(w.imd.imd);
	w.icfg.log = (struct zt_node_log){ .fn = count_lines, .arg = &lc, .max_level = ZT_NODE_DEBUG };
	assert_int_equal(zt_imd_new(&w.imd.imd, &w.icfg, w.net.now), 0);
	nh_raw_login(&w.bob, w.bob_tls, &w.imd.addr, ZT_CTRL_ROLE_AGENT, "bob", "pw-bob", NULL);
	for (int i = 1; i <= 30; i++)
		/* bob may reach db only */
		assert_int_equal(nh_raw_open(&w.bob, (uint64_t)i, "web", 0), 0);
	assert_true(nh_wait_total(&w.net, &w.bob, ZT_CTRL_ERROR, 30, 3 * ZT_SEC));
	assert_int_equal(lc.refused, 10);
	assert_int_equal(lc.summaries, 0);
	nh_run_for(&w.net, 10 * ZT_SEC);
	assert_int_equal(nh_raw_open(&w.bob, 31, "web", 0), 0);
	assert_true(nh_wait_total(&w.net, &w.bob, ZT_CTRL_ERROR, 31, 3 * ZT_SEC));
	assert_int_equal(lc.refused, 11);
	assert_int_equal(lc.summaries, 1);
	assert_non_null(strstr(lc.last_summary, "identity=ztna:agent:bob lines=20"));
	zt_imd_stats(w.imd.imd, &st);
	assert_int_equal(st.log_suppressed, 20);
	assert_int_equal(st.policy_refused, 31);
	nh_world_fini(&w);
}

/* logins_per_identity 2 (load tests): the third login of alice replaces the first. */
static void logins_per_identity_keeps_the_newest(void **state)
{
	struct nh_world w;
	struct nh_ep a2, a3;
	struct zt_imd_stats st;

	world_init(&w, *state, 0, 0);
	w.icfg.logins_per_identity = 2;
	restart_imd(&w);
	nh_ep_init(&a2, &w.net, NH_RAW, "127.0.0.12:5000", 5 * ZT_MS);
	nh_ep_init(&a3, &w.net, NH_RAW, "127.0.0.13:5000", 5 * ZT_MS);
	nh_raw_login(&w.alice, w.alice_tls, &w.imd.addr, ZT_CTRL_ROLE_AGENT, "alice", "pw-alice",
		     NULL);
	nh_raw_login(&a2, w.alice_tls, &w.imd.addr, ZT_CTRL_ROLE_AGENT, "alice", "pw-alice", NULL);
	nh_run_for(&w.net, 200 * ZT_MS);
	zt_imd_stats(w.imd.imd, &st);
	assert_int_equal(st.authenticated, 2);
	assert_int_equal(st.replaced, 0);
	nh_raw_login(&a3, w.alice_tls, &w.imd.addr, ZT_CTRL_ROLE_AGENT, "alice", "pw-alice", NULL);
	expect_refusal_after_welcome(&w, &w.alice, 1508);
	zt_imd_stats(w.imd.imd, &st);
	assert_int_equal(st.authenticated, 2);
	assert_int_equal(st.replaced, 1);
	assert_int_equal(nh_raw_count(&a2, ZT_CTRL_ERROR), 0);
	nh_world_fini(&w);
}

/* Per-identity limits (node/policy.h limit rules), taken at login. */

static void add_limit(struct nh_world *w, const char *spec)
{
	const char *why = NULL;

	assert_int_equal(zt_policy_add_limit(w->policy, spec, &why), 0);
}

/* alice's own relay rate (100 KB/s) below the global one (10 MB/s): her flood is
 * dropped down to her rate while bob's, in the same second to the same connector under
 * the global rate, all passes; the line names her limits, not the global ones. */
static void limit_relay_rate_per_identity(void **state)
{
	struct nh_world w;
	struct event_lines rl = { .event = "relay_rate_limited" };
	struct zt_imd_session_info sa, sb;
	uint32_t ida, idb;
	int sent_a = 0, sent_b = 0;

	world_init(&w, *state, 0, 0);
	add_limit(&w, "agent:alice=relay-rate:100000,relay-burst:20000");
	w.icfg.relay_rate = 10 << 20;
	w.icfg.log = (struct zt_node_log){ .fn = count_lines_of, .arg = &rl,
					   .max_level = ZT_NODE_DEBUG };
	restart_imd(&w);
	nh_pair_two(&w, &ida, &idb);
	for (int t = 0; t < 100; t++) {
		sent_a += relay_many(&w.alice, ida, 1000, 20);
		sent_b += relay_many(&w.bob, idb, 1000, 20);
		nh_run_for(&w.net, 10 * ZT_MS);
	}
	nh_run_for(&w.net, 500 * ZT_MS);
	assert_int_equal(zt_imd_session_info(w.imd.imd, ida, &sa), 0);
	assert_int_equal(zt_imd_session_info(w.imd.imd, idb, &sb), 0);
	assert_true(sent_a > 1500 && sent_b > 1500);
	assert_int_equal(sa.relay_pkts + sa.dropped_rate, (uint64_t)sent_a);
	assert_true(sa.relay_bytes >= RATE * 95 / 100 + BURST);
	assert_true(sa.relay_bytes <= RATE * 105 / 100 + BURST);
	/* bob: 2 MB/s, under the global 10 MiB/s */
	assert_int_equal(sb.relay_pkts, (uint64_t)sent_b);
	assert_int_equal(sb.dropped_rate, 0);
	assert_int_equal(rl.n, 1);
	assert_non_null(strstr(rl.last, "identity=ztna:agent:alice rate=100000 burst=20000"));
	nh_world_fini(&w);
}

/* An identity's relay rate where there is no global one, its burst the default for the
 * rate (a quarter second, at least 16 KiB); "*" limits every agent without its own. */
static void limit_relay_rate_without_a_global_one(void **state)
{
	struct nh_world w;
	struct event_lines rl = { .event = "relay_rate_limited" };
	struct zt_imd_session_info sa, sb;
	uint32_t ida, idb;

	world_init(&w, *state, 0, 0);
	add_limit(&w, "agent:*=relay-rate:1M");
	add_limit(&w, "agent:alice=relay-rate:100000");
	w.icfg.log = (struct zt_node_log){ .fn = count_lines_of, .arg = &rl,
					   .max_level = ZT_NODE_DEBUG };
	restart_imd(&w);
	nh_pair_two(&w, &ida, &idb);
	/* 40 KB at once: over alice's 25,000-byte burst, within bob's 256 KiB */
	assert_int_equal(relay_many(&w.alice, ida, 1000, 40), 40);
	assert_int_equal(relay_many(&w.bob, idb, 1000, 40), 40);
	nh_run_for(&w.net, 100 * ZT_MS);
	assert_int_equal(zt_imd_session_info(w.imd.imd, ida, &sa), 0);
	assert_int_equal(zt_imd_session_info(w.imd.imd, idb, &sb), 0);
	assert_int_equal(sa.relay_pkts + sa.dropped_rate, 40);
	assert_true(sa.dropped_rate >= 10);
	assert_int_equal(sb.relay_pkts, 40);
	assert_int_equal(rl.n, 1);
	assert_non_null(strstr(rl.last, "identity=ztna:agent:alice rate=100000 burst=25000"));
	nh_world_fini(&w);
}

/* OPENs a service n times (request ids from base); returns the SESSIONs it got. */
static size_t open_n(struct nh_world *w, struct nh_ep *e, const char *service, uint64_t base,
		     int n)
{
	size_t before = nh_raw_total(e, ZT_CTRL_SESSION);

	for (int i = 0; i < n; i++)
		assert_int_equal(nh_raw_open(e, base + (uint64_t)i, service, 0), 0);
	nh_run_for(&w->net, 500 * ZT_MS);
	return nh_raw_total(e, ZT_CTRL_SESSION) - before;
}

/* alice's sessions limit (3) above the global max_sessions (1), bob under the global. */
static void limit_sessions_per_identity(void **state)
{
	struct nh_world w;
	struct zt_imd_stats st;

	world_init(&w, *state, 0, 0);
	add_limit(&w, "agent:alice=sessions:3");
	w.icfg.max_sessions = 1;
	restart_imd(&w);
	nh_raw_login(&w.c1, w.c1_tls, &w.imd.addr, ZT_CTRL_ROLE_CONNECTOR, "c1", "pw-c1", "web,db");
	nh_raw_login(&w.alice, w.alice_tls, &w.imd.addr, ZT_CTRL_ROLE_AGENT, "alice", "pw-alice",
		     NULL);
	nh_raw_login(&w.bob, w.bob_tls, &w.imd.addr, ZT_CTRL_ROLE_AGENT, "bob", "pw-bob", NULL);
	assert_int_equal(open_n(&w, &w.alice, "web", 10, 4), 3);
	assert_int_equal(nh_raw_last(&w.alice, ZT_CTRL_ERROR)->u.error.code, 1503);
	assert_int_equal(nh_raw_last(&w.alice, ZT_CTRL_ERROR)->u.error.request_id, 13);
	assert_int_equal(open_n(&w, &w.bob, "db", 20, 2), 1);
	assert_int_equal(nh_raw_last(&w.bob, ZT_CTRL_ERROR)->u.error.code, 1503);
	zt_imd_stats(w.imd.imd, &st);
	assert_int_equal(st.open_max_sessions, 2);
	assert_int_equal(st.sessions, 4);
	nh_world_fini(&w);
}

/* alice may log in over TCP only: her login over QUIC (UDP) gets ERROR 1501 naming the
 * transport and her identity, and is closed; bob's (udp allowed) and c1's (no limit)
 * log in. */
static void limit_transport_refuses_login(void **state)
{
	struct nh_world w;
	struct event_lines ll = { .event = "login_refused" };
	struct zt_imd_stats st;

	world_init(&w, *state, 0, 0);
	add_limit(&w, "agent:alice=transport:tcp");
	add_limit(&w, "agent:bob=transport:udp");
	w.icfg.log = (struct zt_node_log){ .fn = count_lines_of, .arg = &ll,
					   .max_level = ZT_NODE_DEBUG };
	restart_imd(&w);
	nh_raw_login(&w.c1, w.c1_tls, &w.imd.addr, ZT_CTRL_ROLE_CONNECTOR, "c1", "pw-c1", "web");
	nh_raw_login(&w.bob, w.bob_tls, &w.imd.addr, ZT_CTRL_ROLE_AGENT, "bob", "pw-bob", NULL);
	nh_raw_up(&w.alice, w.alice_tls, &w.imd.addr);
	nh_raw_hello(&w.alice, ZT_CTRL_ROLE_AGENT, "alice", "pw-alice", NULL);
	expect_refusal(&w, &w.alice, 1501);
	assert_non_null(strstr(nh_raw_last(&w.alice, ZT_CTRL_ERROR)->u.error.text,
			       "transport udp not allowed for ztna:agent:alice"));
	assert_int_equal(ll.n, 1);
	assert_non_null(strstr(ll.last, "identity=ztna:agent:alice"));
	assert_non_null(strstr(ll.last, "transport=udp reason=transport-not-allowed"));
	zt_imd_stats(w.imd.imd, &st);
	assert_int_equal(st.transport_refused, 1);
	assert_int_equal(st.auth_ok, 2);
	assert_int_equal(st.authenticated, 2);
	nh_world_fini(&w);
}

/* direct:off for alice: her session's CANDIDATES go nowhere, either way, and no
 * START_CHECKS; bob's session with the same connector gets both. */
static void limit_direct_off_keeps_sessions_on_the_relay(void **state)
{
	struct nh_world w;
	struct zt_imd_session_info si;
	struct zt_imd_stats st;
	uint32_t ida, idb;

	world_init(&w, *state, 0, 0);
	add_limit(&w, "agent:alice=direct:off");
	restart_imd(&w);
	nh_pair_two(&w, &ida, &idb);
	nh_raw_cands(&w.alice, ida, 0, "192.0.2.1:1000");
	nh_raw_cands(&w.c1, ida, 0, "198.51.100.1:2000");
	nh_raw_cands(&w.alice, ida, 1, "192.0.2.1:1001");
	nh_raw_cands(&w.bob, idb, 0, "192.0.2.2:1000");
	nh_raw_cands(&w.c1, idb, 0, "198.51.100.1:2001");
	assert_true(nh_wait_count(&w.bob, ZT_CTRL_START_CHECKS, 1, 3 * ZT_SEC));
	assert_true(nh_wait_count(&w.c1, ZT_CTRL_START_CHECKS, 1, 3 * ZT_SEC));
	nh_run_for(&w.net, 1 * ZT_SEC);
	/* c1 got bob's candidates only, alice none of c1's */
	assert_int_equal(nh_raw_total(&w.c1, ZT_CTRL_CANDIDATES), 1);
	assert_int_equal(nh_raw_last(&w.c1, ZT_CTRL_CANDIDATES)->u.cands.session_id, idb);
	assert_int_equal(nh_raw_total(&w.bob, ZT_CTRL_CANDIDATES), 1);
	assert_int_equal(nh_raw_total(&w.alice, ZT_CTRL_CANDIDATES), 0);
	assert_int_equal(nh_raw_total(&w.alice, ZT_CTRL_START_CHECKS), 0);
	assert_int_equal(nh_raw_total(&w.c1, ZT_CTRL_START_CHECKS), 1);
	assert_int_equal(nh_raw_last(&w.c1, ZT_CTRL_START_CHECKS)->u.start.session_id, idb);
	assert_int_equal(nh_raw_total(&w.alice, ZT_CTRL_ERROR), 0);
	zt_imd_stats(w.imd.imd, &st);
	assert_int_equal(st.direct_refused, 3);
	assert_int_equal(st.candidates_fwd, 2);
	assert_int_equal(st.start_checks_sent, 2);
	assert_int_equal(zt_imd_session_info(w.imd.imd, ida, &si), 0);
	assert_false(si.started);
	/* and the relay carries it */
	relay_dgram(&w.alice, ida, "over the relay");
	nh_run_for(&w.net, 100 * ZT_MS);
	assert_int_equal(w.c1.raw.ndgrams, 1);
	nh_world_fini(&w);
}

/* direct:off for a connector: every session it is an end of. */
static void limit_direct_off_for_a_connector(void **state)
{
	struct nh_world w;
	struct zt_imd_stats st;
	uint32_t ida, idb;

	world_init(&w, *state, 0, 0);
	add_limit(&w, "connector:*=direct:off");
	restart_imd(&w);
	nh_pair_two(&w, &ida, &idb);
	nh_raw_cands(&w.alice, ida, 0, "192.0.2.1:1000");
	nh_raw_cands(&w.c1, ida, 0, "198.51.100.1:2000");
	nh_raw_cands(&w.bob, idb, 0, "192.0.2.2:1000");
	nh_raw_cands(&w.c1, idb, 0, "198.51.100.1:2001");
	nh_run_for(&w.net, 1 * ZT_SEC);
	assert_int_equal(nh_raw_total(&w.c1, ZT_CTRL_CANDIDATES), 0);
	assert_int_equal(nh_raw_total(&w.alice, ZT_CTRL_CANDIDATES), 0);
	assert_int_equal(nh_raw_total(&w.bob, ZT_CTRL_CANDIDATES), 0);
	assert_int_equal(nh_raw_total(&w.c1, ZT_CTRL_START_CHECKS), 0);
	zt_imd_stats(w.imd.imd, &st);
	assert_int_equal(st.direct_refused, 4);
	assert_int_equal(st.candidates_fwd, 0);
	nh_world_fini(&w);
}

static double cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * Thousands of sessions kept for an agent whose connection was lost (orphans) cost the
 * Intermediate nothing per event: their deadlines are in a heap, not a list walked by
 * every zt_imd_next_deadline (was: 4,000 orphans x 200,000 calls = seconds of CPU,
 * each loop turn of the shell paid for every orphan). They still expire, all of them,
 * at the orphan grace.
 */
#define MANY_ORPHANS 4000
static void many_orphans_cost_nothing_per_event(void **state)
{
	struct nh_world w;
	struct zt_imd_stats st;
	double t0, cpu;
	uint64_t lost_at, deadline = 0;

	nh_world_init(&w, *state, (const char *const[]){
		"client agent:alice:pw-alice", "client connector:c1:pw-c1", "allow alice=web",
		"serve c1=web", NULL });
	w.icfg.max_sessions = MANY_ORPHANS;
	w.icfg.open_rate = 1000000;
	w.icfg.open_burst = 1000000;
	w.icfg.ctrl_rate = 1000000;
	w.icfg.ctrl_burst = 1000000;
	nh_world_start(&w);
	nh_raw_login(&w.c1, w.c1_tls, &w.imd.addr, ZT_CTRL_ROLE_CONNECTOR, "c1", "pw-c1", "web");
	nh_raw_login(&w.alice, w.alice_tls, &w.imd.addr, ZT_CTRL_ROLE_AGENT, "alice", "pw-alice",
		     NULL);
	/* in batches: OPENs over what the connector's control stream takes are refused */
	for (uint64_t i = 1; i <= MANY_ORPHANS; i++) {
		assert_int_equal(nh_raw_open(&w.alice, i, "web", 0), 0);
		if (i % 100 == 0) {
			assert_true(nh_wait_total(&w.net, &w.alice, ZT_CTRL_SESSION, i, 10 * ZT_SEC));
			assert_true(nh_wait_total(&w.net, &w.c1, ZT_CTRL_SESSION, i, 10 * ZT_SEC));
		}
	}
	assert_int_equal(nh_raw_total(&w.alice, ZT_CTRL_ERROR), 0);
	/* alice's connection is lost (not closed): her sessions are kept for her; c1
	 * stays (PINGs) */
	nh_ep_kill(&w.alice);
	lost_at = w.net.now;
	do {
		nh_run_alive(&w.net, ZT_SEC);
		zt_imd_stats(w.imd.imd, &st);
	} while (st.sessions_orphaned < MANY_ORPHANS && w.net.now - lost_at < 120 * ZT_SEC);
	assert_int_equal(st.sessions_orphaned, MANY_ORPHANS);
	assert_int_equal(st.orphans_expired, 0);
	t0 = cpu_now();
	for (int i = 0; i < 200000; i++)
		deadline |= zt_imd_next_deadline(w.imd.imd);
	cpu = cpu_now() - t0;
	print_message("# 200,000 next deadlines with %d orphans: %.3f s CPU\n", MANY_ORPHANS, cpu);
	assert_true(deadline != 0);
	assert_true(cpu < 0.5);
	/* all of them expire at the grace (30 s after the idle timeout) */
	nh_run_alive(&w.net, 29 * ZT_SEC);
	zt_imd_stats(w.imd.imd, &st);
	assert_int_equal(st.orphans_expired, 0);
	nh_run_alive(&w.net, 2 * ZT_SEC);
	zt_imd_stats(w.imd.imd, &st);
	assert_int_equal(st.orphans_expired, MANY_ORPHANS);
	assert_int_equal(st.sessions, 0);
	nh_world_fini(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(welcome_with_observed_address),
		cmocka_unit_test(agents_get_stable_tunnel_addresses),
		cmocka_unit_test(routes_follow_the_policy),
		cmocka_unit_test(bad_token_refused),
		cmocka_unit_test(identity_and_role_must_match_certificate),
		cmocka_unit_test(hello_must_come_first),
		cmocka_unit_test(untrusted_certificate_fails_handshake),
		cmocka_unit_test(open_refused_by_policy_and_for_unknown_service),
		cmocka_unit_test(open_for_a_connector_elsewhere_says_where),
		cmocka_unit_test(pairing),
		cmocka_unit_test(clients_and_sessions_listed),
		cmocka_unit_test(each_client_walks_the_logged_in),
		cmocka_unit_test(each_client_gives_the_floor_of_the_login),
		cmocka_unit_test(retire_identity_keeps_its_sessions),
		cmocka_unit_test(retire_identity_not_with_several_logins),
		cmocka_unit_test(reload_revokes_only_what_the_new_policy_refuses),
		cmocka_unit_test(relays_only_between_the_pair),
		cmocka_unit_test(relay_quota_ends_the_session),
		cmocka_unit_test(relay_rate_drops_over_the_senders_rate),
		cmocka_unit_test(relay_rate_budget_follows_a_move),
		cmocka_unit_test(relay_rate_default_drops_nothing),
		cmocka_unit_test(relay_burst_below_minimum_refused),
		cmocka_unit_test(relay_channel_per_end),
		cmocka_unit_test(relay_channel_quota_and_rate),
		cmocka_unit_test(relay_table_follows_the_sessions),
		cmocka_unit_test(relay_channel_follows_rebinding),
		cmocka_unit_test(start_offsets_math),
		cmocka_unit_test(nat_seen_counts_what_clients_said),
		cmocka_unit_test(candidates_forwarded_and_checks_start_together),
		cmocka_unit_test(nonstop_candidates_are_bounded),
		cmocka_unit_test(resume_reattaches_under_the_same_id),
		cmocka_unit_test(observed_address_follows_rebinding),
		cmocka_unit_test(newer_connector_connection_replaces_older),
		cmocka_unit_test(held_open_waits_for_registration),
		cmocka_unit_test(restart_answers_with_stateless_reset),
		cmocka_unit_test(restart_with_another_key_resets_nothing),
		cmocka_unit_test(garbage_is_counted_and_sessions_continue),
		cmocka_unit_test(peer_disconnect_closes_sessions),
		cmocka_unit_test(each_client_keeps_its_own_deadlines),
		cmocka_unit_test(redundant_connectors_share_a_service),
		cmocka_unit_test(open_rate_answers_each_request),
		cmocka_unit_test(refusal_lines_are_summed_up),
		cmocka_unit_test(retry_always_round_trip),
		cmocka_unit_test(retry_under_load_only),
		cmocka_unit_test(bad_tokens_refused),
		cmocka_unit_test(half_open_limits_and_timeout),
		cmocka_unit_test(half_open_timeout_counts_from_the_first_initial),
		cmocka_unit_test(logins_per_identity_keeps_the_newest),
		cmocka_unit_test(limit_relay_rate_per_identity),
		cmocka_unit_test(limit_relay_rate_without_a_global_one),
		cmocka_unit_test(limit_sessions_per_identity),
		cmocka_unit_test(limit_transport_refuses_login),
		cmocka_unit_test(limit_direct_off_keeps_sessions_on_the_relay),
		cmocka_unit_test(limit_direct_off_for_a_connector),
		cmocka_unit_test(many_orphans_cost_nothing_per_event),
	};

	return cmocka_run_group_tests(tests, nh_fixture_setup, nh_fixture_teardown);
}
