#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>

#include "core/happyeyes.h"
#include "core/units.h"

static struct zt_addr A(const char *text)
{
	struct zt_addr a;

	assert_int_equal(zt_addr_parse(&a, text, 0), 0);
	return a;
}

static void order_puts_v6_first_and_interleaves(void **state)
{
	struct zt_addr a[] = { A("192.0.2.1:1"), A("192.0.2.2:1"), A("192.0.2.3:1"),
			       A("[2001:db8::1]:1"), A("[2001:db8::2]:1") };
	size_t order[5];

	(void)state;
	zt_he_order(a, 5, order);
	/* v6, v4, v6, v4, then the rest of v4; each family in its own order */
	assert_int_equal(order[0], 3);
	assert_int_equal(order[1], 0);
	assert_int_equal(order[2], 4);
	assert_int_equal(order[3], 1);
	assert_int_equal(order[4], 2);
}

static void order_one_family_keeps_it(void **state)
{
	struct zt_addr a[] = { A("192.0.2.1:1"), A("192.0.2.2:1") }, b[] = { A("[::1]:1") };
	size_t order[2];

	(void)state;
	zt_he_order(a, 2, order);
	assert_int_equal(order[0], 0);
	assert_int_equal(order[1], 1);
	zt_he_order(b, 1, order);
	assert_int_equal(order[0], 0);
	zt_he_order(a, 0, order); /* nothing to do, nothing written */
}

/* RFC 8305 s5: v6 at once, v4 after the delay, the first to complete wins. */
static void race_starts_second_family_after_delay(void **state)
{
	struct zt_addr a[] = { A("192.0.2.1:4433"), A("[2001:db8::1]:4433") };
	struct zt_he he;

	(void)state;
	zt_he_init(&he, a, 2, 0);
	assert_int_equal(he.n, 2);
	assert_int_equal(he.addrs[0].family, AF_INET6);
	assert_int_equal(zt_he_start(&he, 1000), 0);
	assert_int_equal(zt_he_next_deadline(&he), 1000 + ZT_HE_DELAY_DEFAULT);
	assert_int_equal(zt_he_due(&he, 1000 + ZT_HE_DELAY_DEFAULT - 1), -1);
	assert_int_equal(zt_he_due(&he, 1000 + ZT_HE_DELAY_DEFAULT), 1);
	assert_int_equal(he.addrs[1].family, AF_INET);
	/* nothing left to start */
	assert_int_equal(zt_he_next_deadline(&he), ZT_TIME_NEVER);
	assert_int_equal(zt_he_due(&he, UINT64_MAX - 1), -1);
	zt_he_won(&he, 1);
	assert_int_equal(he.winner, 1);
	/* a new series starts from IPv6 again */
	assert_int_equal(zt_he_start(&he, 5 * ZT_SEC), 0);
	assert_int_equal(he.winner, -1);
	assert_int_equal(zt_he_due(&he, 5 * ZT_SEC + 10 * ZT_MS), -1);
}

static void race_won_first_starts_nothing_more(void **state)
{
	struct zt_addr a[] = { A("[2001:db8::1]:4433"), A("192.0.2.1:4433") };
	struct zt_he he;

	(void)state;
	zt_he_init(&he, a, 2, 100 * ZT_MS);
	assert_int_equal(zt_he_start(&he, 0), 0);
	zt_he_won(&he, 0);
	assert_int_equal(zt_he_next_deadline(&he), ZT_TIME_NEVER);
	assert_int_equal(zt_he_due(&he, ZT_SEC), -1);
}

/* A failure starts the next attempt without waiting; all failed is reported. */
static void race_failure_starts_next_at_once(void **state)
{
	struct zt_addr a[] = { A("[2001:db8::1]:4433"), A("192.0.2.1:4433") };
	struct zt_he he;

	(void)state;
	zt_he_init(&he, a, 2, 0);
	assert_int_equal(zt_he_start(&he, 0), 0);
	assert_false(zt_he_failed(&he, 30 * ZT_MS, 0));
	assert_int_equal(zt_he_next_deadline(&he), 30 * ZT_MS);
	assert_int_equal(zt_he_due(&he, 30 * ZT_MS), 1);
	assert_true(zt_he_failed(&he, 40 * ZT_MS, 1));
	/* an index never started is ignored */
	assert_false(zt_he_failed(&he, 40 * ZT_MS, 5));
	assert_false(zt_he_failed(&he, 40 * ZT_MS, -1));
}

static void init_drops_duplicates_and_unset(void **state)
{
	struct zt_addr a[] = { A("192.0.2.1:4433"), { 0 }, A("192.0.2.1:4433") };
	struct zt_he he;

	(void)state;
	zt_he_init(&he, a, 3, 0);
	assert_int_equal(he.n, 1);
	assert_int_equal(zt_he_start(&he, 0), 0);
	assert_int_equal(zt_he_next_deadline(&he), ZT_TIME_NEVER);
	zt_he_init(&he, a, 0, 0);
	assert_int_equal(zt_he_start(&he, 0), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(order_puts_v6_first_and_interleaves),
		cmocka_unit_test(order_one_family_keeps_it),
		cmocka_unit_test(race_starts_second_family_after_delay),
		cmocka_unit_test(race_won_first_starts_nothing_more),
		cmocka_unit_test(race_failure_starts_next_at_once),
		cmocka_unit_test(init_drops_duplicates_and_unset),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
