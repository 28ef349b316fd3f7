/* core/portpred: counting new mappings and naming the next ones' ports
 * (docs/hard-nat.md). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/portpred.h"

static struct zt_addr addr(const char *s)
{
	struct zt_addr a;

	assert_int_equal(zt_addr_parse(&a, s, 0), 0);
	return a;
}

/* The Intermediate saw 203.0.113.2:20000; three public destinations later the next
 * new mapping is 20004, whatever the repeats and the private destinations. */
static void counts_new_public_destinations(void **state)
{
	struct zt_portpred pp;
	struct zt_addr imd = addr("198.51.100.1:4433"), pub = addr("203.0.113.2:20000");
	struct zt_cand c[8];

	(void)state;
	zt_portpred_init(&pp);
	assert_int_equal(zt_portpred_cands(&pp, NULL, &imd, c, 8), 0); /* nothing observed */
	zt_portpred_observed(&pp, 0, &pub, &imd);
	zt_portpred_sent(&pp, 1, &imd);                   /* the observed mapping */
	zt_portpred_sent(&pp, 2, &(struct zt_addr){ 0 }); /* no address: ignored */
	assert_int_equal(pp.since, 0);
	{
		static const char *const uncounted[] = {
			"10.1.2.3:5", "172.16.0.1:5", "192.168.9.9:5", "127.0.0.1:5",
			"169.254.1.1:5", "100.64.0.1:5", "100.127.255.255:5", "[fc00::1]:5",
			"[fe80::1]:5", "[::1]:5",
		};
		for (size_t i = 0; i < sizeof(uncounted) / sizeof(uncounted[0]); i++) {
			struct zt_addr a = addr(uncounted[i]);
			zt_portpred_sent(&pp, 11, &a);
		}
	}
	assert_int_equal(pp.since, 0);
	{
		struct zt_addr a = addr("203.0.113.9:7000"), b = addr("203.0.113.9:7001"),
			       e = addr("100.128.0.1:9");
		zt_portpred_sent(&pp, 20, &a);
		zt_portpred_sent(&pp, 21, &a); /* the same mapping */
		zt_portpred_sent(&pp, 22, &b); /* another port: another mapping */
		zt_portpred_sent(&pp, 23, &e); /* just outside 100.64/10 */
	}
	assert_int_equal(pp.since, 3);
	assert_int_equal(pp.counted, 3);
	assert_int_equal(zt_portpred_cands(&pp, NULL, &imd, c, 8), 8);
	for (int k = 0; k < 8; k++) {
		assert_int_equal(c[k].predicted, k + 1);
		assert_int_equal(c[k].addr.port, 20004 + k);
		assert_true(zt_addr_ip_equal(&c[k].addr, &pub));
		assert_int_equal(c[k].type, ZT_CAND_SRFLX);
		assert_int_equal(zt_cand_check(&c[k]), 0);
		/* below the observed srflx (65535), falling with k */
		assert_true(c[k].priority < zt_cand_priority(ZT_CAND_SRFLX, 65535, 1));
		if (k)
			assert_true(c[k].priority < c[k - 1].priority);
	}
}

/* A new observed address (another mapping towards the Intermediate: a NAT reboot, a
 * new outer connection) restarts the count; the same one keeps it. */
static void a_new_observation_restarts(void **state)
{
	struct zt_portpred pp;
	struct zt_addr imd = addr("198.51.100.1:4433"), pub = addr("203.0.113.2:20000"),
		       peer = addr("203.0.113.9:7000"), pub2 = addr("203.0.113.2:30000");
	struct zt_addr base = addr("10.0.0.2:6000");
	struct zt_cand c[2];

	(void)state;
	zt_portpred_init(&pp);
	zt_portpred_sent(&pp, 0, &peer); /* before any observation: not counted towards one */
	assert_int_equal(pp.since, 0);
	zt_portpred_observed(&pp, 1, &pub, &imd);
	peer.port++;
	zt_portpred_sent(&pp, 2, &peer);
	zt_portpred_observed(&pp, 3, &pub, &imd);
	assert_int_equal(pp.since, 1);
	zt_portpred_observed(&pp, 4, &pub2, &imd);
	assert_int_equal(pp.since, 0);
	assert_int_equal(zt_portpred_cands(&pp, &base, &imd, c, 2), 2);
	assert_int_equal(c[0].addr.port, 30001);
	assert_true(zt_addr_equal(&c[0].related, &base));
	/* the same inputs, the same foundation (a srflx from base via the Intermediate) */
	{
		char f[ZT_CAND_FOUNDATION_MAX + 1];
		zt_cand_foundation(f, ZT_CAND_SRFLX, &base, &imd);
		assert_string_equal(c[1].foundation, f);
	}
}

/* A destination is remembered ZT_PORTPRED_DST_LIFE after its last datagram; then it
 * counts again (the NAT may have let the mapping go). A full table forgets the oldest. */
static void destinations_are_forgotten(void **state)
{
	struct zt_portpred pp;
	struct zt_addr imd = addr("198.51.100.1:4433"), pub = addr("203.0.113.2:20000"),
		       a = addr("203.0.113.9:7000");

	(void)state;
	zt_portpred_init(&pp);
	zt_portpred_observed(&pp, 0, &pub, &imd);
	zt_portpred_sent(&pp, 0, &a);
	zt_portpred_sent(&pp, ZT_PORTPRED_DST_LIFE - 1, &a); /* refreshed */
	zt_portpred_sent(&pp, 2 * ZT_PORTPRED_DST_LIFE - 2, &a);
	assert_int_equal(pp.since, 1);
	zt_portpred_sent(&pp, 3 * ZT_PORTPRED_DST_LIFE, &a);
	assert_int_equal(pp.since, 2);
	/* 64 others push it out */
	for (int i = 0; i < ZT_PORTPRED_DSTS; i++) {
		struct zt_addr b = a;
		b.port = (uint16_t)(8000 + i);
		zt_portpred_sent(&pp, 3 * ZT_PORTPRED_DST_LIFE + 1 + (uint64_t)i, &b);
	}
	assert_int_equal(pp.since, 2 + ZT_PORTPRED_DSTS);
	assert_int_equal(pp.ndst, ZT_PORTPRED_DSTS);
	zt_portpred_sent(&pp, 3 * ZT_PORTPRED_DST_LIFE + 100, &a);
	assert_int_equal(pp.since, 3 + ZT_PORTPRED_DSTS);
}

/* No port above 65535 is predicted. */
static void stops_at_the_top_port(void **state)
{
	struct zt_portpred pp;
	struct zt_addr imd = addr("198.51.100.1:4433"), pub = addr("203.0.113.2:65532");
	struct zt_cand c[8];

	(void)state;
	zt_portpred_init(&pp);
	zt_portpred_observed(&pp, 0, &pub, &imd);
	assert_int_equal(zt_portpred_cands(&pp, NULL, &imd, c, 8), 3);
	assert_int_equal(c[2].addr.port, 65535);
	assert_int_equal(zt_portpred_cands(&pp, NULL, &imd, c, 0), 0);
}

/*
 * The schedule: in index order, except the controlled side when both predict (odd
 * first). Then for every pair of guesses too low by da (controlling) and dc
 * (controlled) with da + dc <= 3, some check i of the controlling side and j of the
 * controlled side meet within the window of 8: the controlling side's i-th new
 * mapping (port base_a + da + i) goes to the controlled side's port that is its j-th
 * (base_c + dc + j), and that one goes back to the first.
 */
static void the_schedule_meets_with_low_guesses(void **state)
{
	const unsigned w = ZT_PORTPRED_WINDOW;

	(void)state;
	for (unsigned k = 1; k <= ZT_CAND_PREDICTED_MAX; k++) {
		assert_int_equal(zt_portpred_rank(k, true, true), k);
		assert_int_equal(zt_portpred_rank(k, false, false), k);
	}
	assert_true(zt_portpred_rank(1, false, true) < zt_portpred_rank(3, false, true));
	assert_true(zt_portpred_rank(7, false, true) < zt_portpred_rank(2, false, true));
	assert_true(zt_portpred_rank(2, false, true) < zt_portpred_rank(4, false, true));
	for (unsigned da = 0; da <= 3; da++) {
		for (unsigned dc = 0; da + dc <= 3; dc++) {
			/* target[n]: the index of the peer's predicted candidate the side's
			 * n-th check (n = 1..w) goes to, in rank order */
			unsigned ta[9], tc[9], n;
			bool met = false;

			for (n = 1; n <= w; n++)
				ta[n] = n;
			n = 1;
			for (unsigned r = 0; n <= w && r < 2 * ZT_CAND_PREDICTED_MAX; r++)
				for (unsigned k = 1; k <= w; k++)
					if (zt_portpred_rank(k, false, true) == r)
						tc[n++] = k;
			for (unsigned i = 1; i <= w; i++)
				for (unsigned j = 1; j <= w; j++)
					/* a's i-th mapping is a's port da + i; it goes to c's
					 * predicted ta[i], which is c's real port dc + j ... */
					if (ta[i] == dc + j && tc[j] == da + i)
						met = true;
			if (!met)
				print_error("da %u dc %u: no meeting\n", da, dc);
			assert_true(met);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(counts_new_public_destinations),
		cmocka_unit_test(a_new_observation_restarts),
		cmocka_unit_test(destinations_are_forgotten),
		cmocka_unit_test(stops_at_the_top_port),
		cmocka_unit_test(the_schedule_meets_with_low_guesses),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
