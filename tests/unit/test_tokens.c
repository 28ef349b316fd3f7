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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(burst_then_rate),
		cmocka_unit_test(refunds_and_far_times),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
