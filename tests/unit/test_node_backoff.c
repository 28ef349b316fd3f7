/* node/backoff.h: jittered exponential reconnect delays. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>

#include "core/rng.h"
#include "core/units.h"
#include "node/backoff.h"

static void doubles_with_jitter_up_to_max(void **state)
{
	struct zt_prng prng;
	struct zt_rng rng;
	struct zt_backoff b;
	uint64_t step = 100 * ZT_MS, d, prev_max = 0;
	bool varied = false;
	(void)state;

	zt_prng_seed(&prng, 5);
	rng = zt_prng_rng(&prng);
	zt_backoff_init(&b, 100 * ZT_MS, 2 * ZT_SEC);
	for (int i = 0; i < 10; i++) {
		d = zt_backoff_next(&b, &rng);
		/* Attempt i waits between half and all of min(max, min * 2^i). */
		assert_true(d >= step / 2 && d <= step);
		if (d != step / 2 && d != step)
			varied = true;
		prev_max = step;
		step = step * 2 > 2 * ZT_SEC ? 2 * ZT_SEC : step * 2;
	}
	assert_true(varied);
	assert_int_equal(prev_max, 2 * ZT_SEC);
	assert_int_equal(b.attempts, 10);
	zt_backoff_reset(&b);
	d = zt_backoff_next(&b, &rng);
	assert_true(d >= 50 * ZT_MS && d <= 100 * ZT_MS);
}

static void two_clients_spread_out(void **state)
{
	struct zt_prng pa, pb;
	struct zt_rng ra, rb;
	struct zt_backoff a, b;
	int same = 0;
	(void)state;

	zt_prng_seed(&pa, 1);
	zt_prng_seed(&pb, 2);
	ra = zt_prng_rng(&pa);
	rb = zt_prng_rng(&pb);
	zt_backoff_init(&a, 0, 0);
	zt_backoff_init(&b, 0, 0);
	assert_int_equal(a.min, 200 * ZT_MS);
	assert_int_equal(a.max, 30 * ZT_SEC);
	for (int i = 0; i < 8; i++)
		same += zt_backoff_next(&a, &ra) == zt_backoff_next(&b, &rb);
	assert_true(same < 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(doubles_with_jitter_up_to_max),
		cmocka_unit_test(two_clients_spread_out),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
