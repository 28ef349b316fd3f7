/* node/peernat.c: the node's NAT detection in the node core, against the real
 * Intermediate (its STUN port named in WELCOME) on the in-memory network, the agent
 * behind a sequential symmetric NAT of the harness (docs/hard-nat.md). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/portpred.h"
#include "node/peer_int.h"
#include "node/session.h"
#include "node_harness.h"

struct world {
	struct nh_fixture *f;
	struct nh_net net;
	struct nh_ep imd, agent, conn;
	struct zt_policy *policy;
	struct zt_imd_config icfg;
	struct zt_peer_config acfg, ccfg;
	struct zt_peer_service services[1];
	struct zt_tls_ctx *imd_tls, *a_outer, *a_inner, *c_outer, *web_tls;
	uint64_t to_stun;        /* datagrams to the Intermediate's STUN port */
	bool drop_stun;          /* ... all lost */
	unsigned drop_first;     /* ... the first ones lost */
	bool drop_direct;        /* datagrams between agent and connector (not via the
				    Intermediate) lost: no direct path */
	struct zt_peer_callbacks acb;
	char nat_cb[16];         /* the agent's nat callback: the last result */
	unsigned nat_cbs;
};

static void on_nat(struct zt_peer *p, void *arg, const char *nat)
{
	struct world *w = arg;
	(void)p;

	snprintf(w->nat_cb, sizeof(w->nat_cb), "%s", nat);
	w->nat_cbs++;
}

static bool tap(void *arg, const struct nh_pkt *p)
{
	struct world *w = arg;

	if (w->drop_direct && !p->tcp && !p->link && !zt_addr_ip_equal(&p->to, &w->imd.addr) &&
	    !zt_addr_ip_equal(&p->from, &w->imd.addr))
		return true;
	if (p->tcp || p->link || !zt_addr_ip_equal(&p->to, &w->imd.addr) ||
	    p->to.port != w->imd.stun_port)
		return false;
	w->to_stun++;
	return w->drop_stun || w->to_stun <= w->drop_first;
}

/* The Intermediate at 198.51.100.1:4433 (STUN port 4434), the agent at 203.0.113.2
 * behind a sequential NAT (first mapping 203.0.113.2:20000), the connector at
 * 198.51.100.7:6000 without a NAT. Public addresses: port prediction does not count
 * private or loopback destinations. */
static void world_init(struct world *w, struct nh_fixture *f)
{
	static const char *const policy[] = { "client agent:alice:pw-alice",
					      "client connector:c1:pw-c1", "allow alice=web",
					      "serve c1=web", NULL };

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
	nh_ep_init(&w->imd, &w->net, NH_IMD, "198.51.100.1:4433", 0);
	nh_ep_init(&w->agent, &w->net, NH_PEER, "203.0.113.2:20000", 5 * ZT_MS);
	nh_ep_init(&w->conn, &w->net, NH_PEER, "198.51.100.7:6000", 10 * ZT_MS);
	w->agent.local = (struct zt_addr){ 0 };
	assert_int_equal(zt_addr_parse(&w->agent.local, "10.0.0.2:5000", 0), 0);
	w->agent.seq_nat = true;
	w->imd.stun_port = 4434;
	w->icfg = (struct zt_imd_config){ .tls = w->imd_tls, .rng = &f->rng, .policy = w->policy,
					  .listen = w->imd.addr, .stun_port = 4434,
					  .log = nh_node_log("imd") };
	w->acfg = (struct zt_peer_config){
		.role = ZT_CTRL_ROLE_AGENT, .name = "alice",
		.token = (const uint8_t *)"pw-alice", .token_len = 8,
		.intermediate = w->imd.addr, .local = w->agent.local,
		.outer_tls = w->a_outer, .inner_tls = w->a_inner, .rng = &f->rng,
		.log = nh_node_log("agent"), .nat_detect = true, .cb = &w->acb, .arg = w,
	};
	w->acb = (struct zt_peer_callbacks){ .nat = on_nat };
	w->services[0] = (struct zt_peer_service){ .name = "web", .tls = w->web_tls };
	w->ccfg = (struct zt_peer_config){
		.role = ZT_CTRL_ROLE_CONNECTOR, .name = "c1",
		.token = (const uint8_t *)"pw-c1", .token_len = 5,
		.intermediate = w->imd.addr, .local = w->conn.local,
		.outer_tls = w->c_outer, .services = w->services, .n_services = 1,
		.rng = &f->rng, .log = nh_node_log("connector"),
	};
}

static void world_start(struct world *w)
{
	assert_int_equal(zt_imd_new(&w->imd.imd, &w->icfg, w->net.now), 0);
	assert_int_equal(zt_peer_new(&w->conn.peer, &w->ccfg, w->net.now), 0);
	assert_int_equal(zt_peer_new(&w->agent.peer, &w->acfg, w->net.now), 0);
}

static void world_fini(struct world *w)
{
	nh_net_fini(&w->net);
	zt_policy_free(w->policy);
	zt_tls_ctx_free(w->imd_tls);
	zt_tls_ctx_free(w->a_outer);
	zt_tls_ctx_free(w->a_inner);
	zt_tls_ctx_free(w->c_outer);
	zt_tls_ctx_free(w->web_tls);
}

static bool agent_ready(void *arg, uint64_t now)
{
	struct world *w = arg;
	(void)now;
	return zt_peer_state(w->agent.peer) == ZT_PEER_READY &&
	       zt_peer_state(w->conn.peer) == ZT_PEER_READY;
}

/* Starts everything, waits for both logins, then runs for settle. */
static void login(struct world *w, uint64_t settle)
{
	world_start(w);
	assert_true(nh_run(&w->net, agent_ready, w, w->net.now + 3 * ZT_SEC));
	nh_run_for(&w->net, settle);
}

/* The first predicted port the agent would signal now (0: none, prediction off). */
static uint16_t first_predicted(const struct world *w)
{
	const struct zt_peer *p = w->agent.peer;
	struct zt_cand c[1];

	if (!p->addrs.portpred ||
	    zt_portpred_cands(p->addrs.portpred, NULL, &w->imd.addr, c, 1) != 1)
		return 0;
	return c[0].addr.port;
}

/* The pairs the connector's ICE agent made for its one session (the agent's
 * candidates: with prediction, its 8 predicted ones too). */
static size_t conn_pairs(const struct world *w)
{
	uint32_t id;
	struct zt_peer_path_info pi;

	assert_int_equal(zt_peer_session_ids(w->conn.peer, &id, 1), 1);
	assert_int_equal(zt_peer_session_path(w->conn.peer, id, &pi), 0);
	return pi.ice_pairs;
}

/* WELCOME names the STUN port; one Binding request from the agent's socket leaves
 * from the NAT's next port (20001): sequential. Prediction is on, counting the request
 * as a mapping (the next new destination gets 20002: the first predicted port); the
 * agent's next new destination, the connector, does get 20002, and the connector pairs
 * with the 8 predicted candidates, the first of which is where the check came from. */
static void sequential_nat_is_detected_and_predicted(void **state)
{
	struct world w;
	struct zt_imd_stats is;
	size_t pairs;

	world_init(&w, *state);
	world_start(&w);
	assert_string_equal(zt_peer_nat(w.agent.peer), "unknown");
	assert_true(nh_run(&w.net, agent_ready, &w, w.net.now + 3 * ZT_SEC));
	nh_run_for(&w.net, 500 * ZT_MS);
	assert_string_equal(zt_peer_nat(w.agent.peer), "sequential");
	assert_int_equal(w.nat_cbs, 1);
	assert_string_equal(w.nat_cb, "sequential");
	assert_int_equal(w.agent.peer->natprobe.second.port, 20001);
	assert_int_equal(w.to_stun, 1); /* one request, answered */
	zt_imd_stats(w.imd.imd, &is);
	assert_int_equal(is.stun_answered, 1);
	assert_int_equal(w.agent.peer->addrs.nat_ports, ZT_CTRL_NAT_PORTS_SEQUENTIAL);
	assert_int_equal(first_predicted(&w), 20002);
	/* the connector has no NAT here and never asked (nat_detect off) */
	assert_string_equal(zt_peer_nat(w.conn.peer), "unknown");

	assert_int_equal(zt_peer_ping(w.agent.peer, w.net.now, "web", 7), -EAGAIN); /* opens it */
	nh_run_for(&w.net, 3 * ZT_SEC);
	assert_int_equal(w.agent.nnat, 3);
	assert_true(zt_addr_equal(&w.agent.natmap[2].dst, &w.conn.addr));
	assert_int_equal(w.agent.natmap[2].port, 20002);
	pairs = conn_pairs(&w);
	world_fini(&w);

	/* the same without detection: no predicted candidates */
	world_init(&w, *state);
	w.acfg.nat_detect = false;
	login(&w, 500 * ZT_MS);
	assert_int_equal(w.to_stun, 0);
	assert_string_equal(zt_peer_nat(w.agent.peer), "unknown");
	assert_int_equal(first_predicted(&w), 0);
	assert_int_equal(zt_peer_ping(w.agent.peer, w.net.now, "web", 7), -EAGAIN); /* opens it */
	nh_run_for(&w.net, 3 * ZT_SEC);
	/* 8 predicted pairs more, one peer-reflexive pair less: the agent's check came
	 * from 20002, a candidate the connector knew (predicted k = 1) */
	assert_int_equal(conn_pairs(&w) + ZT_PORTPRED_WINDOW - 1, pairs);
	world_fini(&w);
}

/* No NAT mapping per destination (the harness NAT off): eim, no prediction. */
static void endpoint_independent_is_detected(void **state)
{
	struct world w;

	world_init(&w, *state);
	w.agent.seq_nat = false;
	login(&w, 500 * ZT_MS);
	assert_string_equal(zt_peer_nat(w.agent.peer), "eim");
	assert_int_equal(w.agent.peer->addrs.nat_mapping, ZT_CTRL_NAT_MAP_INDEPENDENT);
	assert_int_equal(first_predicted(&w), 0);
	world_fini(&w);
}

/* A NAT that moves 1000 ports a mapping: random. Without spray sockets the node does
 * not say ports random (an endpoint-independent peer would probe for nothing); once the
 * shell hands it sockets (after the nat callback), it does: the spraying side. */
static void random_ports_want_spray_sockets(void **state)
{
	struct world w;
	struct zt_addr spray[2];

	world_init(&w, *state);
	w.agent.nat_step = 1000;
	login(&w, 500 * ZT_MS);
	assert_string_equal(zt_peer_nat(w.agent.peer), "random");
	assert_string_equal(w.nat_cb, "random");
	assert_int_equal(w.agent.peer->natprobe.second.port, 21000);
	assert_int_equal(w.agent.peer->addrs.nat_mapping, ZT_CTRL_NAT_MAP_ADDRESS_PORT);
	assert_int_equal(w.agent.peer->addrs.nat_ports, 0);
	assert_int_equal(first_predicted(&w), 0);
	assert_int_equal(zt_peer_set_spray(w.agent.peer, NULL, 2), -EINVAL);
	spray[0] = spray[1] = w.agent.local;
	spray[0].port = 5001;
	spray[1].port = 5002;
	assert_int_equal(zt_peer_set_spray(w.agent.peer, spray, 2), 0);
	assert_int_equal(w.agent.peer->addrs.nat_ports, ZT_CTRL_NAT_PORTS_RANDOM);
	assert_int_equal(w.agent.peer->addrs.nspray, 2);
	assert_int_equal(w.nat_cbs, 1);
	world_fini(&w);
}

/* The NAT learned after a session started checking (spray sockets handed over after the
 * nat callback, or a detection that came late): the session, not on the direct path,
 * checks again as soon as its generation has failed, not after the 30 s cooldown; a
 * change that alters nothing signalled starts nothing. Without it the second
 * generation came at the cooldown's end. */
static void nat_learned_late_checks_again(void **state)
{
	struct world w;
	struct zt_addr spray[1];
	struct zt_peer_path_info pi;
	uint32_t id, gen;

	world_init(&w, *state);
	w.agent.nat_step = 1000;
	w.drop_direct = true;
	login(&w, 500 * ZT_MS);
	assert_string_equal(zt_peer_nat(w.agent.peer), "random");
	assert_int_equal(zt_peer_ping(w.agent.peer, w.net.now, "web", 7), -EAGAIN); /* opens it */
	nh_run_for(&w.net, 1 * ZT_SEC);
	assert_int_equal(zt_peer_session_ids(w.agent.peer, &id, 1), 1);
	assert_int_equal(zt_peer_session_path(w.agent.peer, id, &pi), 0);
	assert_int_equal(pi.generation, 1);
	assert_string_equal(pi.manager, "checking");
	spray[0] = w.agent.local;
	spray[0].port = 5001;
	assert_int_equal(zt_peer_set_spray(w.agent.peer, spray, 1), 0);
	/* the running generation fails (no direct datagram passes), the next one follows */
	nh_run_for(&w.net, 12 * ZT_SEC);
	assert_int_equal(zt_peer_session_path(w.agent.peer, id, &pi), 0);
	assert_false(pi.direct);
	assert_true(pi.generation >= 2);
	/* that one ends too (cooldown); the same sockets again change nothing signalled:
	 * no new generation */
	nh_run_for(&w.net, 8 * ZT_SEC);
	assert_int_equal(zt_peer_session_path(w.agent.peer, id, &pi), 0);
	gen = pi.generation;
	assert_int_equal(zt_peer_set_spray(w.agent.peer, spray, 1), 0);
	nh_run_for(&w.net, 5 * ZT_SEC);
	assert_int_equal(zt_peer_session_path(w.agent.peer, id, &pi), 0);
	assert_int_equal(pi.generation, gen);
	world_fini(&w);
}

/* Lost answers: retransmitted, bounded (4 requests), then unknown and quiet; the
 * first two lost: detected with the third. An explicit --nat-ports wins. An
 * Intermediate without a STUN port: nothing sent. */
static void lost_requests_are_bounded(void **state)
{
	struct world w;

	world_init(&w, *state);
	w.drop_stun = true;
	login(&w, 30 * ZT_SEC);
	assert_int_equal(w.to_stun, ZT_NATPROBE_TRIES);
	assert_string_equal(zt_peer_nat(w.agent.peer), "unknown");
	assert_int_equal(first_predicted(&w), 0);
	world_fini(&w);

	world_init(&w, *state);
	w.drop_first = 2;
	login(&w, 3 * ZT_SEC);
	assert_int_equal(w.to_stun, 3);
	assert_string_equal(zt_peer_nat(w.agent.peer), "sequential");
	world_fini(&w);

	world_init(&w, *state);
	w.acfg.nat_detect = false;
	w.acfg.nat_ports = ZT_CTRL_NAT_PORTS_RANDOM;
	login(&w, 1 * ZT_SEC);
	assert_int_equal(w.to_stun, 0);
	assert_string_equal(zt_peer_nat(w.agent.peer), "random");
	world_fini(&w);

	world_init(&w, *state);
	w.icfg.stun_port = 0;
	login(&w, 10 * ZT_SEC);
	assert_int_equal(w.to_stun, 0);
	assert_string_equal(zt_peer_nat(w.agent.peer), "unknown");
	world_fini(&w);
}

/* A new observation (the NAT rebound the agent to another public port) starts the
 * detection again from it. */
static void a_new_observation_detects_again(void **state)
{
	struct world w;

	world_init(&w, *state);
	login(&w, 500 * ZT_MS);
	assert_string_equal(zt_peer_nat(w.agent.peer), "sequential");
	assert_int_equal(w.to_stun, 1);
	/* rebinding: a new NAT table from 31000 */
	w.agent.addr.port = 31000;
	w.agent.nnat = 0;
	nh_run_for(&w.net, 30 * ZT_SEC); /* a keepalive (25 s) shows the new address */
	assert_int_equal(w.agent.peer->natprobe.observed.port, 31000);
	assert_int_equal(w.agent.peer->natprobe.second.port, 31001);
	assert_int_equal(w.to_stun, 2);
	assert_string_equal(zt_peer_nat(w.agent.peer), "sequential");
	world_fini(&w);
}

/* An Intermediate configured with its STUN port on its QUIC port is refused. */
static void stun_port_must_differ(void **state)
{
	struct world w;

	world_init(&w, *state);
	w.icfg.stun_port = 4433;
	assert_int_equal(zt_imd_new(&w.imd.imd, &w.icfg, 0), -EINVAL);
	world_fini(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(sequential_nat_is_detected_and_predicted),
		cmocka_unit_test(endpoint_independent_is_detected),
		cmocka_unit_test(random_ports_want_spray_sockets),
		cmocka_unit_test(nat_learned_late_checks_again),
		cmocka_unit_test(lost_requests_are_bounded),
		cmocka_unit_test(a_new_observation_detects_again),
		cmocka_unit_test(stun_port_must_differ),
	};

	return cmocka_run_group_tests(tests, nh_fixture_setup, nh_fixture_teardown);
}
