/* core/ratewin: a counter's rate over the last span, from samples a second apart. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/ratewin.h"
#include "core/units.h"

/* No sample (or only one taken now): rate 0, window 0. */
static void nothing_yet(void **state)
{
	struct zt_ratewin w;
	uint64_t win = 99;

	(void)state;
	zt_ratewin_init(&w);
	assert_int_equal(zt_ratewin_rate(&w, 5 * ZT_SEC, 1000, 10 * ZT_SEC, &win), 0);
	assert_int_equal(win, 0);
	zt_ratewin_sample(&w, 5 * ZT_SEC, 1000);
	assert_int_equal(zt_ratewin_rate(&w, 5 * ZT_SEC, 1000, 10 * ZT_SEC, &win), 0);
	assert_int_equal(win, 0);
}

/* 1000 a second for 30 s, then 100 a second: over a 10 s span the rate follows
 * within one sampling interval, and only the last 10-11 s count. */
static void follows_the_last_span(void **state)
{
	struct zt_ratewin w;
	uint64_t v = 0, win;

	(void)state;
	zt_ratewin_init(&w);
	for (uint64_t t = 0; t <= 30; t++, v += 1000)
		zt_ratewin_sample(&w, t * ZT_SEC, v);
	v -= 1000; /* the value at t = 30 */
	assert_int_equal(zt_ratewin_rate(&w, 30 * ZT_SEC + 500 * ZT_MS, v + 500, 10 * ZT_SEC, &win),
			 1000);
	assert_int_equal(win, 10500 * ZT_MS);
	for (uint64_t t = 31; t <= 45; t++) {
		v += 100;
		zt_ratewin_sample(&w, t * ZT_SEC, v);
	}
	assert_int_equal(zt_ratewin_rate(&w, 45 * ZT_SEC, v, 10 * ZT_SEC, &win), 100);
	assert_int_equal(win, 10 * ZT_SEC);
	/* 5 s after the change: half of the window at each rate */
	zt_ratewin_init(&w);
	v = 0;
	for (uint64_t t = 0; t <= 20; t++) {
		zt_ratewin_sample(&w, t * ZT_SEC, v);
		v += t < 15 ? 1000 : 100;
	}
	v -= 100;
	assert_int_equal(zt_ratewin_rate(&w, 20 * ZT_SEC, v, 10 * ZT_SEC, NULL), 550);
}

/* Just after start the window is what there is; more samples than slots wrap. */
static void short_history_and_wrap(void **state)
{
	struct zt_ratewin w;
	uint64_t win;

	(void)state;
	zt_ratewin_init(&w);
	zt_ratewin_sample(&w, 1 * ZT_SEC, 0);
	zt_ratewin_sample(&w, 2 * ZT_SEC, 2000);
	assert_int_equal(zt_ratewin_rate(&w, 3 * ZT_SEC, 4000, 10 * ZT_SEC, &win), 2000);
	assert_int_equal(win, 2 * ZT_SEC);
	for (uint64_t t = 3; t < 3 + 3 * ZT_RATEWIN_SLOTS; t++)
		zt_ratewin_sample(&w, t * ZT_SEC, (t - 1) * 2000);
	assert_int_equal(w.n, ZT_RATEWIN_SLOTS);
	/* a span longer than the history kept: the oldest sample */
	assert_int_equal(zt_ratewin_rate(&w, (2 + 3 * ZT_RATEWIN_SLOTS) * ZT_SEC,
					 (1 + 3 * ZT_RATEWIN_SLOTS) * 2000, 100 * ZT_SEC, &win), 2000);
	assert_int_equal(win, (ZT_RATEWIN_SLOTS - 1) * ZT_SEC);
}

/* A counter that went down starts a new history; a value below the chosen sample
 * gives 0, never a huge rate. Large counts do not overflow. */
static void resets_and_large_counts(void **state)
{
	struct zt_ratewin w;

	(void)state;
	zt_ratewin_init(&w);
	zt_ratewin_sample(&w, 1 * ZT_SEC, 5000);
	zt_ratewin_sample(&w, 2 * ZT_SEC, 10);
	assert_int_equal(w.n, 1);
	assert_int_equal(zt_ratewin_rate(&w, 3 * ZT_SEC, 1010, 10 * ZT_SEC, NULL), 1000);
	assert_int_equal(zt_ratewin_rate(&w, 3 * ZT_SEC, 5, 10 * ZT_SEC, NULL), 0);
	zt_ratewin_init(&w);
	zt_ratewin_sample(&w, 0, 0);
	assert_int_equal(zt_ratewin_rate(&w, 10 * ZT_SEC, 100000000000000ULL, 10 * ZT_SEC, NULL),
			 10000000000000ULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(nothing_yet),
		cmocka_unit_test(follows_the_last_span),
		cmocka_unit_test(short_history_and_wrap),
		cmocka_unit_test(resets_and_large_counts),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
