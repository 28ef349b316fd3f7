#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "core/units.h"
#include "node/pathcount.h"

/* Every reason has its name back; texts it does not know are "other". */
static void reasons_by_name(void **state)
{
	(void)state;
	for (int w = 0; w < ZT_PATH_WHY_MAX; w++)
		assert_int_equal(zt_path_why_of(zt_path_why_name((enum zt_path_why)w)), w);
	assert_int_equal(zt_path_why_of("consent-lost"), ZT_PATH_WHY_CONSENT_LOST);
	assert_int_equal(zt_path_why_of("agent-fell-back"), ZT_PATH_WHY_PEER_FELL_BACK);
	assert_int_equal(zt_path_why_of("nominated"), ZT_PATH_WHY_OTHER);
	assert_int_equal(zt_path_why_of(NULL), ZT_PATH_WHY_OTHER);
	assert_string_equal(zt_path_why_name(ZT_PATH_WHY_MAX), "other");
}

static void switches_by_direction_and_reason(void **state)
{
	struct zt_path_counts c = { 0 };

	(void)state;
	zt_path_count_switch(&c, true, "nominated");
	zt_path_count_switch(&c, true, "new-pair");
	zt_path_count_switch(&c, false, "data-stalled");
	zt_path_count_switch(&c, false, "path-mtu");
	zt_path_count_switch(&c, false, "path-mtu");
	zt_path_count_switch(&c, false, "something-new");
	zt_path_count_switch(NULL, true, "nominated"); /* no counters: nothing */
	assert_int_equal(c.to_direct, 2);
	assert_int_equal(c.to_relay[ZT_PATH_WHY_DATA_STALLED], 1);
	assert_int_equal(c.to_relay[ZT_PATH_WHY_PATH_MTU], 2);
	assert_int_equal(c.to_relay[ZT_PATH_WHY_OTHER], 1);
	assert_int_equal(c.to_relay[ZT_PATH_WHY_CONSENT_LOST], 0);
}

/* Buckets are cumulative (Prometheus): an observation counts in its bucket and every
 * larger one; one on a bound is within it; one past the last only in count and sum. */
static void time_to_direct_buckets(void **state)
{
	struct zt_path_counts c = { 0 };

	(void)state;
	zt_path_count_ttd(&c, 80 * ZT_MS);  /* <= 0.1 */
	zt_path_count_ttd(&c, 250 * ZT_MS); /* on the 0.25 bound */
	zt_path_count_ttd(&c, 60 * ZT_SEC); /* past 30 s */
	assert_int_equal(c.ttd_count, 3);
	assert_int_equal(c.ttd_sum_ns, 80 * ZT_MS + 250 * ZT_MS + 60 * ZT_SEC);
	assert_int_equal(c.ttd_le[0], 0); /* 0.05 */
	assert_int_equal(c.ttd_le[1], 1); /* 0.1 */
	assert_int_equal(c.ttd_le[2], 2); /* 0.25 */
	assert_int_equal(c.ttd_le[ZT_PATH_TTD_BUCKETS - 1], 2); /* 30 */
	for (int i = 1; i < ZT_PATH_TTD_BUCKETS; i++) {
		assert_true(zt_path_ttd_le[i] > zt_path_ttd_le[i - 1]);
		assert_true(c.ttd_le[i] >= c.ttd_le[i - 1]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(reasons_by_name),
		cmocka_unit_test(switches_by_direction_and_reason),
		cmocka_unit_test(time_to_direct_buckets),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
