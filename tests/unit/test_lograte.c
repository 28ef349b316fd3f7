/* core/lograte: repeated log lines rate-limited per event, never dropped without a count. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "core/lograte.h"
#include "core/units.h"

#define WARN 1
#define INFO 2

static void a_flood_is_cut_and_counted(void **state)
{
	struct zt_lograte r;
	struct zt_lograte_summary s;
	int allowed = 0;

	(void)state;
	zt_lograte_init(&r, 3);
	for (int i = 0; i < 10; i++)
		allowed += zt_lograte_allow(&r, 100 * ZT_MS + (uint64_t)i, "open_held", INFO);
	assert_int_equal(allowed, 3);
	assert_int_equal(zt_lograte_next_due(&r), 100 * ZT_MS + ZT_SEC);
	assert_false(zt_lograte_poll(&r, 100 * ZT_MS + ZT_SEC - 1, &s));
	assert_true(zt_lograte_poll(&r, 100 * ZT_MS + ZT_SEC, &s));
	assert_string_equal(s.event, "open_held");
	assert_int_equal(s.count, 7);
	assert_int_equal(s.level, INFO);
	assert_false(zt_lograte_poll(&r, 100 * ZT_MS + ZT_SEC, &s));
	assert_int_equal(zt_lograte_next_due(&r), UINT64_MAX);
	/* the next window lets lines through again */
	assert_true(zt_lograte_allow(&r, 100 * ZT_MS + ZT_SEC + 1, "open_held", INFO));
	assert_int_equal(r.suppressed_total, 7);
}

static void the_summary_has_the_worst_level(void **state)
{
	struct zt_lograte r;
	struct zt_lograte_summary s;

	(void)state;
	zt_lograte_init(&r, 1);
	assert_true(zt_lograte_allow(&r, 0, "auth_failed", INFO));
	assert_false(zt_lograte_allow(&r, 1, "auth_failed", INFO));
	assert_false(zt_lograte_allow(&r, 2, "auth_failed", WARN));
	assert_false(zt_lograte_allow(&r, 3, "auth_failed", INFO));
	assert_true(zt_lograte_poll(&r, ZT_SEC, &s));
	assert_int_equal(s.level, WARN);
	assert_int_equal(s.count, 3);
}

static void events_are_counted_apart(void **state)
{
	struct zt_lograte r;
	struct zt_lograte_summary s;
	int a = 0, b = 0;

	(void)state;
	zt_lograte_init(&r, 5);
	for (int i = 0; i < 100; i++) {
		a += zt_lograte_allow(&r, (uint64_t)i, "open_refused", WARN);
		b += zt_lograte_allow(&r, (uint64_t)i, "session_open", INFO);
	}
	assert_int_equal(a, 5);
	assert_int_equal(b, 5);
	assert_true(zt_lograte_poll(&r, ZT_SEC + 100, &s));
	assert_int_equal(s.count, 95);
	assert_true(zt_lograte_poll(&r, ZT_SEC + 100, &s));
	assert_int_equal(s.count, 95);
	assert_false(zt_lograte_poll(&r, ZT_SEC + 100, &s));
}

/* More distinct events than slots: bounded, the extra ones share "other". */
static void many_events_share_one_slot_at_worst(void **state)
{
	struct zt_lograte r;
	struct zt_lograte_summary s;
	char ev[32];
	uint64_t allowed = 0, counted = 0;
	int n = 0;

	(void)state;
	zt_lograte_init(&r, 2);
	for (int round = 0; round < 10; round++)
		for (int e = 0; e < 500; e++) {
			snprintf(ev, sizeof(ev), "event_%d", e);
			allowed += zt_lograte_allow(&r, (uint64_t)(round * 500 + e), ev, INFO);
		}
	/* 63 own slots x 2 lines + 2 for the shared one */
	assert_int_equal(allowed, (ZT_LOGRATE_SLOTS - 1) * 2 + 2);
	while (zt_lograte_poll(&r, UINT64_MAX, &s)) {
		counted += s.count;
		n++;
		if (!strcmp(s.event, "other"))
			assert_int_equal(s.count, 5000 - (ZT_LOGRATE_SLOTS - 1) * 10 - 2);
	}
	assert_int_equal(allowed + counted, 5000);
	assert_int_equal(n, ZT_LOGRATE_SLOTS);
}

/* A slot whose window is over and whose count was taken is reused. */
static void idle_slots_are_reused(void **state)
{
	struct zt_lograte r;
	char ev[32];

	(void)state;
	zt_lograte_init(&r, 1);
	for (int e = 0; e < 1000; e++) {
		snprintf(ev, sizeof(ev), "event_%d", e);
		/* each event once, 1 s apart: never limited */
		assert_true(zt_lograte_allow(&r, (uint64_t)e * ZT_SEC, ev, INFO));
	}
	assert_int_equal(r.suppressed_total, 0);
}

static void no_limit(void **state)
{
	struct zt_lograte r;

	(void)state;
	zt_lograte_init(&r, 0);
	for (int i = 0; i < 100000; i++)
		assert_true(zt_lograte_allow(&r, 0, "x", INFO));
	assert_int_equal(zt_lograte_next_due(&r), UINT64_MAX);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(a_flood_is_cut_and_counted),
		cmocka_unit_test(the_summary_has_the_worst_level),
		cmocka_unit_test(events_are_counted_apart),
		cmocka_unit_test(many_events_share_one_slot_at_worst),
		cmocka_unit_test(idle_slots_are_reused),
		cmocka_unit_test(no_limit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
