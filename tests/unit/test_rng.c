#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/rng.h"

static void prng_is_deterministic(void **state)
{
	struct zt_prng a, b;

	(void)state;
	zt_prng_seed(&a, 42);
	zt_prng_seed(&b, 42);
	for (int i = 0; i < 100; i++)
		assert_int_equal(zt_prng_next(&a), zt_prng_next(&b));
	zt_prng_seed(&b, 43);
	assert_int_not_equal(zt_prng_next(&a), zt_prng_next(&b));
}

static void below_stays_in_bound(void **state)
{
	struct zt_prng p;
	struct zt_rng rng = zt_prng_rng(&p);
	unsigned hits[7] = { 0 };

	(void)state;
	zt_prng_seed(&p, 1);
	for (int i = 0; i < 7000; i++) {
		uint32_t v = zt_rng_below(&rng, 7);
		assert_true(v < 7);
		hits[v]++;
	}
	/* each residue is drawn; a broken reduction would starve some */
	for (int i = 0; i < 7; i++)
		assert_in_range(hits[i], 800, 1200);
	assert_int_equal(zt_rng_below(&rng, 0), 0);
}

static void fill_odd_lengths(void **state)
{
	struct zt_prng p;
	struct zt_rng rng = zt_prng_rng(&p);
	uint8_t buf[13] = { 0 };
	uint8_t guard[3] = { 0xaa, 0xaa, 0xaa };

	(void)state;
	zt_prng_seed(&p, 7);
	zt_rng_fill(&rng, buf, 11);
	assert_int_equal(buf[11], 0);
	assert_int_equal(buf[12], 0);
	assert_int_equal(guard[0], 0xaa);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(prng_is_deterministic),
		cmocka_unit_test(below_stays_in_bound),
		cmocka_unit_test(fill_odd_lengths),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
