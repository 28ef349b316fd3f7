/*
 * The Intermediate's second STUN port (--stun-port, for the nodes' NAT detection,
 * docs/hard-nat.md) is a public responder like the main port's STUN: a spoofed flood
 * must not make it a reflector. Its answers share the main port's budget (10 a second
 * to one IP, burst 80; 1000 in all), so two ports do not double what a victim gets;
 * the budget is an option (--stun-rate); and the port takes nothing but STUN (a QUIC
 * Initial to it opens no connection).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "core/stun.h"
#include "node_harness.h"

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

static void world_start(struct nh_world *w, struct nh_fixture *f, uint32_t stun_rate)
{
	static const char *const policy[] = { "client agent:alice:pw-alice", NULL };

	nh_world_init(w, f, policy);
	w->icfg.stun_port = 4434;
	w->icfg.stun_rate = stun_rate;
	w->imd.stun_port = 4434;
	nh_world_start(w);
}

static size_t binding_request(const struct nh_world *w, uint8_t *buf, size_t cap)
{
	struct zt_stun_builder b;
	uint8_t tid[12] = { 0 };

	memcpy(tid, &w->net.now, sizeof(w->net.now));
	zt_stun_build_init(&b, buf, cap, ZT_STUN_BINDING, ZT_STUN_REQUEST, tid);
	return (size_t)zt_stun_build_finish(&b);
}

/* ms milliseconds of one spoofed request a millisecond "from" the victim to the STUN
 * port, and to the QUIC port too when both; returns the answers the victim got. */
static size_t flood(struct nh_world *w, int ms, bool both)
{
	struct counter victim = { 0 };
	struct zt_addr stun = w->imd.addr;
	uint8_t req[64];
	size_t n;

	assert_int_equal(zt_addr_parse(&victim.to, "198.51.100.7", 53), 0);
	stun.port = 4434;
	w->net.tap = count_to;
	w->net.tap_arg = &victim;
	for (int i = 0; i < ms; i++) {
		n = binding_request(w, req, sizeof(req));
		if (both)
			nh_send(&w->net, &victim.to, &w->imd.addr, req, n);
		nh_send(&w->net, &victim.to, &stun, req, n);
		nh_run_for(&w->net, ZT_MS);
	}
	w->net.tap = NULL;
	print_message("# %d spoofed requests: %zu answers (%zu bytes)\n", both ? 2 * ms : ms,
		      victim.pkts, victim.bytes);
	return victim.pkts;
}

/* 10 s of 1,000 spoofed requests a second "from" the victim to each port: at most the
 * one budget's answers (burst 80 + 10 a second) in all. */
static void a_flood_to_both_ports_is_bounded_once(void **state)
{
	struct nh_world w;
	struct zt_imd_stats st;
	size_t answers;

	world_start(&w, *state, 0);
	answers = flood(&w, 10000, true);
	zt_imd_stats(w.imd.imd, &st);
	assert_true(answers >= 80 && answers <= 80 + 10 * 10 + 1);
	assert_int_equal(st.stun_answered, answers);
	assert_int_equal(st.stun_limited, 20000 - answers);
	nh_world_fini(&w);
}

/* --stun-rate 1: burst 8, then 1 a second. */
static void the_budget_is_an_option(void **state)
{
	struct nh_world w;
	size_t answers;

	world_start(&w, *state, 1);
	answers = flood(&w, 5000, false);
	assert_true(answers >= 8 && answers <= 8 + 5 + 1);
	nh_world_fini(&w);
}

/* A client's first Initial sent to the STUN port opens nothing and gets nothing. */
static void the_stun_port_takes_only_stun(void **state)
{
	struct nh_world w;
	struct counter back = { 0 };
	struct zt_addr from, stun;
	struct zt_imd_stats st;
	uint8_t buf[1500];
	size_t n;

	world_start(&w, *state, 0);
	assert_int_equal(zt_addr_parse(&from, "203.0.113.50", 40000), 0);
	stun = w.imd.addr;
	stun.port = 4434;
	back.to = from;
	w.net.tap = count_to;
	w.net.tap_arg = &back;
	n = nh_first_initial(w.alice_tls, &w.f->rng, &from, &stun, w.net.now, buf, sizeof(buf));
	nh_send(&w.net, &from, &stun, buf, n);
	nh_run_for(&w.net, 100 * ZT_MS);
	zt_imd_stats(w.imd.imd, &st);
	assert_int_equal(back.pkts, 0);
	assert_int_equal(st.accepted, 0);
	assert_int_equal(st.stun_dropped, 1);
	/* the same Initial to the QUIC port is answered */
	n = nh_first_initial(w.alice_tls, &w.f->rng, &from, &w.imd.addr, w.net.now, buf, sizeof(buf));
	nh_send(&w.net, &from, &w.imd.addr, buf, n);
	nh_run_for(&w.net, 100 * ZT_MS);
	assert_true(back.pkts > 0);
	nh_world_fini(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(a_flood_to_both_ports_is_bounded_once),
		cmocka_unit_test(the_budget_is_an_option),
		cmocka_unit_test(the_stun_port_takes_only_stun),
	};

	return cmocka_run_group_tests(tests, nh_fixture_setup, nh_fixture_teardown);
}
