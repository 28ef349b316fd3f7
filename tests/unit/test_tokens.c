#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/tokens.h"
#include "core/units.h"

static void burst_then_rate(void **state)
{
	struct zt_tokens t;
	uint64_t now = 1000 * ZT_SEC;
	int n = 0;

	(void)state;
	zt_tokens_init(&t, 4, 8, now);
	while (zt_tokens_take(&t, now))
		n++;
	assert_int_equal(n, 8);
	assert_false(zt_tokens_ready(&t, now));
	/* one every 250 ms */
	assert_int_equal(zt_tokens_when(&t, now), now + 250 * ZT_MS);
	assert_false(zt_tokens_take(&t, now + 249 * ZT_MS));
	assert_true(zt_tokens_take(&t, now + 250 * ZT_MS));
	/* 10 s at 4/s: 40 offered, 8 kept */
	now += 10 * ZT_SEC;
	assert_int_equal(zt_tokens_level(&t, now), 8);
	/* a sustained taker gets the rate */
	n = 0;
	for (uint64_t x = now; x < now + 10 * ZT_SEC; x += ZT_MS)
		n += zt_tokens_take(&t, x);
	assert_int_equal(n, 8 + 40 - 1);
}

static void refunds_and_far_times(void **state)
{
	struct zt_tokens t;
	uint64_t now = 5;

	(void)state;
	zt_tokens_init(&t, 0, 0, now); /* zero takes 1 */
	assert_true(zt_tokens_take(&t, now));
	assert_false(zt_tokens_ready(&t, now));
	zt_tokens_give(&t, 100);     /* capped at the burst */
	assert_int_equal(zt_tokens_level(&t, now), 1);
	assert_true(zt_tokens_take(&t, now));
	/* an earlier time counts as now; a far one fills without overflow */
	assert_false(zt_tokens_take(&t, 1));
	assert_true(zt_tokens_take(&t, UINT64_MAX - 1));
	zt_tokens_init(&t, UINT32_MAX, UINT32_MAX, 0);
	assert_int_equal(zt_tokens_level(&t, UINT64_MAX), UINT32_MAX);
}

/* Bytes: a packet takes its length at once, or nothing. */
static void take_n_all_or_nothing(void **state)
{
	struct zt_tokens t;
	uint64_t now = 7 * ZT_SEC, bytes = 0;

	(void)state;
	zt_tokens_init(&t, 1000, 1500, now); /* 1000 B/s, 1500 B burst */
	assert_true(zt_tokens_take_n(&t, now, 0));
	assert_true(zt_tokens_take_n(&t, now, 1200));
	/* 300 left: a 301-byte packet takes nothing, a 300-byte one fits */
	assert_false(zt_tokens_take_n(&t, now, 301));
	assert_int_equal(zt_tokens_level(&t, now), 300);
	assert_true(zt_tokens_take_n(&t, now, 300));
	assert_false(zt_tokens_take(&t, now));
	/* 1000 B/s: 500 bytes after 500 ms, not 501 */
	assert_false(zt_tokens_take_n(&t, now + 500 * ZT_MS, 501));
	assert_true(zt_tokens_take_n(&t, now + 500 * ZT_MS, 500));
	/* more than the burst never fits, even full */
	now += 100 * ZT_SEC;
	assert_false(zt_tokens_take_n(&t, now, 1501));
	assert_int_equal(zt_tokens_level(&t, now), 1500);
	/* a sustained sender of 100-byte packets gets the burst plus the rate */
	for (uint64_t x = now; x < now + 10 * ZT_SEC; x += ZT_MS)
		if (zt_tokens_take_n(&t, x, 100))
			bytes += 100;
	assert_int_equal(bytes, 1500 + 10 * 1000 - 100);
	/* the largest bucket: no overflow */
	zt_tokens_init(&t, UINT32_MAX, UINT32_MAX, 0);
	assert_true(zt_tokens_take_n(&t, 0, UINT32_MAX));
	assert_false(zt_tokens_take_n(&t, 0, 1));
	assert_true(zt_tokens_take_n(&t, ZT_SEC, UINT32_MAX));
	assert_true(zt_tokens_take_n(&t, UINT64_MAX, UINT32_MAX));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(burst_then_rate),
		cmocka_unit_test(refunds_and_far_times),
		cmocka_unit_test(take_n_all_or_nothing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
