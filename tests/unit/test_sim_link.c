#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/units.h"
#include "../../sim/evq.h"
#include "../../sim/link.h"

static void delay_jitter_without_reordering(void **state)
{
	struct zt_sim_link_cfg c = { .delay = 10 * ZT_MS, .jitter = 2 * ZT_MS };
	struct zt_sim_link_dir d = { 0 };
	struct zt_prng g;
	uint64_t at, last = 0;

	(void)state;
	zt_prng_seed(&g, 1);
	for (uint64_t i = 0; i < 1000; i++) {
		uint64_t now = i * 100 * ZT_US;
		assert_int_equal(zt_sim_link_send(&d, &c, now, 100, &g, &at), ZT_SIM_LINK_OK);
		assert_true(at >= now + 8 * ZT_MS);
		assert_true(at <= now + 12 * ZT_MS || at == last);
		assert_true(at >= last); /* jitter alone never reorders */
		last = at;
	}
}

static void loss_rate_and_reordering(void **state)
{
	struct zt_sim_link_cfg c = { .delay = 5 * ZT_MS, .loss_ppm = 100000, .reorder_ppm = 50000 };
	struct zt_sim_link_dir d = { 0 };
	struct zt_prng g;
	unsigned lost = 0, overtaken = 0;
	uint64_t at, prev = 0;

	(void)state;
	zt_prng_seed(&g, 2);
	for (uint64_t i = 0; i < 100000; i++) {
		enum zt_sim_link_verdict v = zt_sim_link_send(&d, &c, i * ZT_MS, 100, &g, &at);
		if (v == ZT_SIM_LINK_LOSS) {
			lost++;
			continue;
		}
		assert_int_equal(v, ZT_SIM_LINK_OK);
		if (prev > at)
			overtaken++;
		prev = at;
	}
	assert_in_range(lost, 9000, 11000);
	/* held packets arrive after the next one: about 5 % of the survivors */
	assert_in_range(overtaken, 3500, 5500);
	assert_int_equal(d.lost, lost);
}

static void rate_queue_mtu_down(void **state)
{
	/* 8 Mbit/s: 1000 bytes take 1 ms; a queue of 2 x 1500 bytes */
	struct zt_sim_link_cfg c = { .delay = 1 * ZT_MS, .rate_bps = 8000000, .queue = 2 };
	struct zt_sim_link_dir d = { 0 };
	struct zt_prng g;
	uint64_t at;

	(void)state;
	zt_prng_seed(&g, 3);
	assert_int_equal(zt_sim_link_send(&d, &c, 0, 1000, &g, &at), ZT_SIM_LINK_OK);
	assert_int_equal(at, 2 * ZT_MS);
	assert_int_equal(zt_sim_link_send(&d, &c, 0, 1000, &g, &at), ZT_SIM_LINK_OK);
	assert_int_equal(at, 3 * ZT_MS);
	assert_int_equal(zt_sim_link_send(&d, &c, 0, 1000, &g, &at), ZT_SIM_LINK_OK);
	assert_int_equal(at, 4 * ZT_MS);
	/* 3000 bytes waiting: the next 1000 do not fit in 2 x 1500 */
	assert_int_equal(zt_sim_link_send(&d, &c, 0, 1000, &g, &at), ZT_SIM_LINK_QUEUE);
	assert_int_equal(zt_sim_link_send(&d, &c, 0, 1501, &g, &at), ZT_SIM_LINK_MTU);
	d.down = true;
	assert_int_equal(zt_sim_link_send(&d, &c, 10 * ZT_MS, 10, &g, &at), ZT_SIM_LINK_DOWN);
}

struct trail {
	int order[8];
	int n;
	uint64_t times[8];
};

static void note(void *ctx, void *arg, uint64_t now)
{
	struct trail *t = ctx;

	t->times[t->n] = now;
	t->order[t->n++] = (int)(intptr_t)arg;
}

static void evq_orders_by_time_then_fifo(void **state)
{
	struct zt_sim_evq q;
	struct trail t = { 0 };

	(void)state;
	zt_sim_evq_init(&q);
	assert_int_equal(zt_sim_evq_push(&q, 30, note, &t, (void *)1), 0);
	assert_int_equal(zt_sim_evq_push(&q, 10, note, &t, (void *)2), 0);
	assert_int_equal(zt_sim_evq_push(&q, 20, note, &t, (void *)3), 0);
	assert_int_equal(zt_sim_evq_push(&q, 10, note, &t, (void *)4), 0);
	assert_int_equal(zt_sim_evq_next(&q), 10);
	assert_int_equal(zt_sim_evq_run(&q, 20), 3);
	assert_int_equal(q.now, 20);
	assert_int_equal(t.order[0], 2);
	assert_int_equal(t.order[1], 4);
	assert_int_equal(t.order[2], 3);
	/* the past is clamped to now */
	assert_int_equal(zt_sim_evq_push(&q, 5, note, &t, (void *)5), 0);
	assert_int_equal(zt_sim_evq_run(&q, 100), 2);
	assert_int_equal(t.order[3], 5);
	assert_int_equal(t.times[3], 20);
	assert_int_equal(t.order[4], 1);
	assert_int_equal(q.now, 100);
	assert_int_equal(zt_sim_evq_next(&q), UINT64_MAX);
	zt_sim_evq_fini(&q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(delay_jitter_without_reordering),
		cmocka_unit_test(loss_rate_and_reordering),
		cmocka_unit_test(rate_queue_mtu_down),
		cmocka_unit_test(evq_orders_by_time_then_fifo),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
