/*
 * Finding (issue 11, "one authorized agent can deny service to others"): CANDIDATES
 * naming a victim's address made the connector send ICE connectivity checks there,
 * 13,798 packets in 15 s from 20 sessions: the STUN amplification ("voice hammer")
 * attack of RFC 8445 s19.5.1. Checks to an address that has not answered are paid from
 * per-session, per-destination and process budgets (core/checkbudget.h).
 *
 *     mallory (a raw client logged in as agent alice) 127.0.0.2 --.
 *                                                                 +-- Intermediate 127.0.0.1
 *     c1 (ztna connector, "web") 127.0.0.3 ----------------------'
 *     bob (a real agent, direct on) 127.0.0.4                      victim 127.0.0.99
 *
 * mallory opens 20 sessions to web and, for 15 s, starts a new ICE generation on each
 * every 300 ms whose 16 candidates are all ports of the victim. The connector answers
 * every generation and checks the victim. Counted: datagrams to the victim's IP.
 * Meanwhile bob's session must still go direct (the budgets do not starve others).
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
#include "node_harness.h"

#define SESSIONS 20
#define CANDS 16

struct hammer {
	struct nh_fixture *f;
	struct nh_net net;
	struct nh_ep imd, mallory, conn, bob;
	struct zt_policy *policy;
	struct zt_tls_ctx *imd_tls, *m_tls, *c_outer, *web_tls, *b_outer, *b_inner;
	struct zt_peer_service svc;
	struct zt_peer_callbacks ccb, bcb;
	struct zt_addr victim;
	uint64_t to_victim;
	uint64_t sessions[SESSIONS];
	size_t nsessions;
};

static bool tap(void *arg, const struct nh_pkt *p)
{
	struct hammer *h = arg;

	if (zt_addr_ip_equal(&p->to, &h->victim))
		h->to_victim++;
	return false;
}

/* The connector's shell: accept channels and drop them (only the paths matter). */
static void c_chan_accept(struct zt_peer *p, void *arg, struct zt_peer_chan *ch, const char *service)
{
	(void)p;
	(void)arg;
	(void)service;
	(void)ch;
}

static void setup(struct hammer *h, struct nh_fixture *f)
{
	static const char *const policy[] = {
		"client agent:alice:pw-alice", "client agent:bob:pw-bob", "client connector:c1:pw-c1",
		"allow alice=web", "allow bob=web", "serve c1=web", NULL,
	};
	struct zt_imd_config icfg;
	struct zt_peer_config ccfg;

	memset(h, 0, sizeof(*h));
	h->f = f;
	nh_net_init(&h->net);
	h->net.tap = tap;
	h->net.tap_arg = h;
	h->victim = qh_addr("127.0.0.99:7000");
	h->policy = nh_policy(policy);
	h->imd_tls = nh_tls(f, ZT_TLS_SERVER, ZT_ALPN_OUTER, &f->pki.q.intermediate, true);
	h->m_tls = nh_tls(f, ZT_TLS_CLIENT, ZT_ALPN_OUTER, &f->pki.q.alice, false);
	h->c_outer = nh_tls(f, ZT_TLS_CLIENT, ZT_ALPN_OUTER, &f->pki.q.c1, false);
	h->web_tls = nh_tls(f, ZT_TLS_SERVER, ZT_ALPN_INNER, &f->pki.q.web, true);
	h->b_outer = nh_tls(f, ZT_TLS_CLIENT, ZT_ALPN_OUTER, &f->pki.bob, false);
	h->b_inner = nh_tls(f, ZT_TLS_CLIENT, ZT_ALPN_INNER, &f->pki.bob, false);
	nh_ep_init(&h->imd, &h->net, NH_IMD, "127.0.0.1:4433", 0);
	nh_ep_init(&h->mallory, &h->net, NH_RAW, "127.0.0.2:5000", 5 * ZT_MS);
	nh_ep_init(&h->conn, &h->net, NH_PEER, "127.0.0.3:6000", 5 * ZT_MS);
	nh_ep_init(&h->bob, &h->net, NH_PEER, "127.0.0.4:5000", 5 * ZT_MS);
	icfg = (struct zt_imd_config){
		.tls = h->imd_tls, .rng = &f->rng, .policy = h->policy,
		.reset_key = (const uint8_t *)"0123456789abcdef0123456789abcdef", .reset_key_len = 32,
		.log = nh_node_log("imd"),
	};
	assert_int_equal(zt_imd_new(&h->imd.imd, &icfg, h->net.now), 0);
	h->ccb = (struct zt_peer_callbacks){ .chan_accept = c_chan_accept };
	h->svc = (struct zt_peer_service){ .name = "web", .tls = h->web_tls };
	ccfg = (struct zt_peer_config){
		.role = ZT_CTRL_ROLE_CONNECTOR, .name = "c1",
		.token = (const uint8_t *)"pw-c1", .token_len = 5,
		.intermediate = h->imd.addr, .local = h->conn.local,
		.outer_tls = h->c_outer, .services = &h->svc, .n_services = 1, .rng = &f->rng,
		.cb = &h->ccb, .arg = h, .log = nh_node_log("connector"),
		/* mallory's sessions never finish their handshake; a patient attacker who
		 * did would keep them as long: keep them for the whole run */
		.open_timeout = 60 * ZT_SEC,
	};
	assert_int_equal(zt_peer_new(&h->conn.peer, &ccfg, h->net.now), 0);
}

static void teardown(struct hammer *h)
{
	nh_net_fini(&h->net);
	zt_policy_free(h->policy);
	zt_tls_ctx_free(h->imd_tls);
	zt_tls_ctx_free(h->m_tls);
	zt_tls_ctx_free(h->c_outer);
	zt_tls_ctx_free(h->web_tls);
	zt_tls_ctx_free(h->b_outer);
	zt_tls_ctx_free(h->b_inner);
}

static bool mallory_welcomed(void *arg, uint64_t now)
{
	struct hammer *h = arg;
	(void)now;
	return nh_raw_count(&h->mallory, ZT_CTRL_WELCOME) == 1 &&
	       zt_peer_state(h->conn.peer) == ZT_PEER_READY;
}

static bool sessions_open(void *arg, uint64_t now)
{
	struct hammer *h = arg;
	(void)now;
	return nh_raw_count(&h->mallory, ZT_CTRL_SESSION) == SESSIONS;
}

/* mallory logs in as alice and opens SESSIONS sessions to web. */
static void mallory_opens(struct hammer *h)
{
	struct zt_ctrl_msg m;

	assert_int_equal(nh_raw_connect(&h->mallory, h->m_tls, &h->imd.addr), 0);
	nh_run(&h->net, NULL, NULL, h->net.now + 200 * ZT_MS);
	assert_true(h->mallory.raw.handshake);
	zt_ctrl_msg_init(&m, ZT_CTRL_HELLO);
	m.u.hello.role = ZT_CTRL_ROLE_AGENT;
	snprintf(m.u.hello.identity, sizeof(m.u.hello.identity), "alice");
	memcpy(m.u.hello.token, "pw-alice", 8);
	m.u.hello.token_len = 8;
	assert_int_equal(nh_raw_send(&h->mallory, &m), 0);
	assert_true(nh_run(&h->net, mallory_welcomed, h, h->net.now + 2 * ZT_SEC));
	for (int i = 0; i < SESSIONS; i++) {
		zt_ctrl_msg_init(&m, ZT_CTRL_OPEN);
		m.u.open.request_id = (uint64_t)i + 1;
		snprintf(m.u.open.service, sizeof(m.u.open.service), "web");
		assert_int_equal(nh_raw_send(&h->mallory, &m), 0);
	}
	assert_true(nh_run(&h->net, sessions_open, h, h->net.now + 2 * ZT_SEC));
	for (size_t i = 0; i < h->mallory.raw.nmsgs && i < NH_MAX_MSGS; i++)
		if (h->mallory.raw.msgs[i].type == ZT_CTRL_SESSION)
			h->sessions[h->nsessions++] = h->mallory.raw.msgs[i].u.session.session_id;
	assert_int_equal(h->nsessions, SESSIONS);
}

/* A new generation on every session, every candidate a port of the victim. */
static void mallory_candidates(struct hammer *h, uint32_t gen)
{
	struct zt_ctrl_msg m;

	for (size_t s = 0; s < h->nsessions; s++) {
		struct zt_ctrl_candidates *c = &m.u.cands;
		zt_ctrl_msg_init(&m, ZT_CTRL_CANDIDATES);
		c->session_id = h->sessions[s];
		snprintf(c->ufrag, sizeof(c->ufrag), "hmmr%u", gen);
		snprintf(c->pwd, sizeof(c->pwd), "hammerhammerhammerhammer%u", gen);
		c->generation = gen;
		c->end_of_candidates = true;
		c->n_cands = CANDS;
		for (int i = 0; i < CANDS; i++) {
			c->cands[i] = (struct zt_cand){ .type = ZT_CAND_HOST, .component = 1,
							.addr = h->victim };
			c->cands[i].addr.port = (uint16_t)(7000 + i);
			c->cands[i].priority = zt_cand_priority(ZT_CAND_HOST, (uint16_t)(65535 - i), 1);
			snprintf(c->cands[i].foundation, sizeof(c->cands[i].foundation), "v%d", i);
		}
		nh_raw_send(&h->mallory, &m);
	}
}

static bool bob_direct(void *arg, uint64_t now)
{
	struct hammer *h = arg;
	uint32_t id;
	struct zt_peer_path_info pi;
	(void)now;

	return zt_peer_session_ids(h->bob.peer, &id, 1) == 1 &&
	       zt_peer_session_path(h->bob.peer, id, &pi) == 0 && pi.direct;
}

static void start_bob(struct hammer *h)
{
	struct zt_peer_config bcfg = {
		.role = ZT_CTRL_ROLE_AGENT, .name = "bob",
		.token = (const uint8_t *)"pw-bob", .token_len = 6,
		.intermediate = h->imd.addr, .local = h->bob.local,
		.outer_tls = h->b_outer, .inner_tls = h->b_inner, .rng = &h->f->rng,
		.cb = &h->bcb, .arg = h, .log = nh_node_log("bob"),
	};

	assert_int_equal(zt_peer_new(&h->bob.peer, &bcfg, h->net.now), 0);
}

static void victim_gets_a_bounded_number_of_checks(void **state)
{
	struct hammer h;
	struct zt_peer_chan *ch;
	struct zt_peer_stats cs;
	uint64_t t0, bob_at = 0;
	uint32_t gen = 1;

	setup(&h, *state);
	mallory_opens(&h);
	t0 = h.net.now;
	while (h.net.now < t0 + 15 * ZT_SEC) {
		mallory_candidates(&h, gen++);
		nh_run(&h.net, NULL, NULL, h.net.now + 300 * ZT_MS);
		if (!h.bob.peer && h.net.now >= t0 + 5 * ZT_SEC) {
			start_bob(&h);
			assert_int_equal(zt_peer_chan_open(h.bob.peer, h.net.now, "web", NULL, &ch), 0);
			bob_at = h.net.now;
		}
	}
	zt_peer_stats(h.conn.peer, &cs);
	fprintf(stderr, "# to the victim in 15 s: %llu datagrams (generations %u, checks charged %llu, "
			"deferred %llu)\n",
		(unsigned long long)h.to_victim, gen - 1, (unsigned long long)cs.checks_charged,
		(unsigned long long)cs.checks_deferred);
	/* The connector did check the victim (the attack ran), but at most the
	 * destination's burst (16) and 2 a second after it: 46; the old code sent 1000s. */
	assert_true(h.to_victim > 0);
	assert_true(h.to_victim <= 16 + 2 * 15);
	/* bob, an agent next to the attack, went direct while it ran. */
	assert_true(nh_run(&h.net, bob_direct, &h, h.net.now + 3 * ZT_SEC));
	assert_true(bob_at > 0);
	teardown(&h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(victim_gets_a_bounded_number_of_checks),
	};

	return cmocka_run_group_tests(tests, nh_fixture_setup, nh_fixture_teardown);
}
