#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>

#include "../../sim/odds.h"

/* Wilson's interval: the textbook values, the bounds clipped to [0, 1], none for n 0. */
static void wilson_interval(void **state)
{
	double lo, hi;
	(void)state;

	zt_sim_wilson(5, 10, &lo, &hi);
	assert_true(fabs(lo - 0.2366) < 1e-4 && fabs(hi - 0.7634) < 1e-4);
	zt_sim_wilson(0, 20, &lo, &hi);
	assert_true(lo == 0 && fabs(hi - 0.1611) < 1e-4);
	zt_sim_wilson(20, 20, &lo, &hi);
	assert_true(fabs(lo - 0.8389) < 1e-4 && hi == 1);
	zt_sim_wilson(0, 0, &lo, &hi);
	assert_true(lo == 0 && hi == 1);
}

/* 1 - (1 - n/P)^m: one socket, one probe, 100 ports: 1 %; every port: certain; the
 * defaults of core/birthday.h's scale (256 sockets, 256 probes, 64,512 ports): 63.9 %. */
static void birthday_expected(void **state)
{
	(void)state;

	assert_true(fabs(zt_sim_birthday_expected(1, 1, 100) - 0.01) < 1e-12);
	assert_true(zt_sim_birthday_expected(100, 1, 100) == 1.0);
	assert_true(zt_sim_birthday_expected(5, 0, 100) == 0.0);
	assert_true(fabs(zt_sim_birthday_expected(256, 256, 64512) - 0.6386) < 1e-3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(wilson_interval),
		cmocka_unit_test(birthday_expected),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
