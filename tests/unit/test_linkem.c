#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "core/rng.h"
#include "core/units.h"
#include "../../netns/linkem.h"

static struct zt_scn_link link_cfg(uint64_t delay, uint64_t jitter, uint32_t loss_ppm,
				   uint64_t rate, uint32_t mtu, uint32_t queue)
{
	return (struct zt_scn_link){ .set = true, .delay_ns = delay, .jitter_ns = jitter,
				     .loss_ppm = loss_ppm, .rate_bps = rate, .mtu = mtu, .queue = queue };
}

/* One direction of a link with its own generator. */
struct fixture {
	struct zt_linkem_dir d;
	struct zt_prng p;
	struct zt_rng rng;
};

static void setup(struct fixture *f, struct zt_scn_link l, uint64_t seed)
{
	zt_prng_seed(&f->p, seed);
	f->rng = zt_prng_rng(&f->p);
	zt_linkem_init(&f->d, &l);
}

/* Admits a frame at now; returns the verdict, *due set on PASS. */
static enum zt_linkem_verdict admit(struct fixture *f, uint64_t now, size_t len, bool ip, uint64_t *due)
{
	return zt_linkem_admit(&f->d, &f->rng, now, len, ip, due);
}

static void plain_link_passes_at_once(void **state)
{
	struct fixture f;
	uint64_t due = 0;

	(void)state;
	setup(&f, link_cfg(0, 0, 0, 0, 1500, 1000), 1);
	assert_int_equal(admit(&f, 5000, 100, true, &due), ZT_LINKEM_PASS);
	assert_int_equal(due, 5000);
	assert_int_equal(f.d.queued, 1);
	zt_linkem_departed(&f.d);
	assert_int_equal(f.d.queued, 0);
	zt_linkem_departed(&f.d); /* never below zero */
	assert_int_equal(f.d.queued, 0);
}

static void delay_is_added(void **state)
{
	struct fixture f;
	uint64_t due;

	(void)state;
	setup(&f, link_cfg(10 * ZT_MS, 0, 0, 0, 1500, 1000), 1);
	assert_int_equal(admit(&f, ZT_SEC, 60, true, &due), ZT_LINKEM_PASS);
	assert_int_equal(due, ZT_SEC + 10 * ZT_MS);
	assert_int_equal(admit(&f, ZT_SEC + 1, 60, false, &due), ZT_LINKEM_PASS);
	assert_int_equal(due, ZT_SEC + 1 + 10 * ZT_MS);
}

static void jitter_stays_in_its_window(void **state)
{
	struct fixture f;
	uint64_t lo = UINT64_MAX, hi = 0, sum = 0;
	const int n = 20000;

	(void)state;
	setup(&f, link_cfg(10 * ZT_MS, 2 * ZT_MS, 0, 0, 1500, 1000), 3);
	for (int i = 0; i < n; i++) {
		uint64_t now = (uint64_t)i * ZT_SEC, due, x; /* far apart: no FIFO clamping */

		assert_int_equal(admit(&f, now, 100, true, &due), ZT_LINKEM_PASS);
		zt_linkem_departed(&f.d);
		x = due - now;
		lo = x < lo ? x : lo;
		hi = x > hi ? x : hi;
		sum += x;
	}
	assert_true(lo >= 8 * ZT_MS);
	assert_true(hi <= 12 * ZT_MS);
	/* the whole window is used, centred on the delay */
	assert_true(lo < 8 * ZT_MS + 50 * ZT_US);
	assert_true(hi > 12 * ZT_MS - 50 * ZT_US);
	assert_in_range(sum / (uint64_t)n, 10 * ZT_MS - 50 * ZT_US, 10 * ZT_MS + 50 * ZT_US);
}

static void jitter_never_reorders(void **state)
{
	struct fixture f;
	uint64_t last = 0;

	(void)state;
	setup(&f, link_cfg(5 * ZT_MS, 5 * ZT_MS, 0, 0, 1500, 100000), 9);
	for (int i = 0; i < 5000; i++) {
		uint64_t due, now = (uint64_t)i * 10 * ZT_US;

		assert_int_equal(admit(&f, now, 100, true, &due), ZT_LINKEM_PASS);
		assert_true(due >= last);
		assert_true(due >= now);
		last = due;
	}
}

static void loss_rate_and_arp_spared(void **state)
{
	struct fixture f;
	uint64_t due;
	int lost = 0;
	const int n = 100000;

	(void)state;
	setup(&f, link_cfg(0, 0, 100000, 0, 1500, 1000), 5); /* 10 % */
	for (int i = 0; i < n; i++) {
		if (admit(&f, 0, 100, true, &due) == ZT_LINKEM_DROP_LOSS)
			lost++;
		else
			zt_linkem_departed(&f.d);
	}
	assert_in_range(lost, 9500, 10500);
	assert_int_equal(f.d.lost, (uint64_t)lost);

	setup(&f, link_cfg(0, 0, 1000000, 0, 1500, 1000), 5); /* everything */
	assert_int_equal(admit(&f, 0, 100, true, &due), ZT_LINKEM_DROP_LOSS);
	assert_int_equal(admit(&f, 0, 42, false, &due), ZT_LINKEM_PASS);
}

static void rate_serialises_frames(void **state)
{
	struct fixture f;
	uint64_t due;

	(void)state;
	/* 1 Mbit/s: a 1250-byte frame takes 10 ms */
	setup(&f, link_cfg(3 * ZT_MS, 0, 0, 1000000, 1500, 1000), 1);
	for (int i = 1; i <= 3; i++) {
		assert_int_equal(admit(&f, 0, 1250, true, &due), ZT_LINKEM_PASS);
		assert_int_equal(due, (uint64_t)i * 10 * ZT_MS + 3 * ZT_MS);
	}
	/* an idle link starts serialising at once */
	assert_int_equal(admit(&f, ZT_SEC, 125, true, &due), ZT_LINKEM_PASS);
	assert_int_equal(due, ZT_SEC + ZT_MS + 3 * ZT_MS);
}

static void mtu_counts_the_ip_packet(void **state)
{
	struct fixture f;
	uint64_t due;

	(void)state;
	setup(&f, link_cfg(0, 0, 0, 0, 1400, 1000), 1);
	assert_int_equal(admit(&f, 0, 1414, true, &due), ZT_LINKEM_PASS);
	assert_int_equal(admit(&f, 0, 1415, true, &due), ZT_LINKEM_DROP_MTU);
	assert_int_equal(f.d.too_big, 1);
	setup(&f, link_cfg(0, 0, 0, 0, 0, 1000), 1); /* unset: 1500 */
	assert_int_equal(admit(&f, 0, 1514, true, &due), ZT_LINKEM_PASS);
	assert_int_equal(admit(&f, 0, 1515, true, &due), ZT_LINKEM_DROP_MTU);
}

static void blackhole_drops_big_ip_packets_only(void **state)
{
	struct fixture f;
	struct zt_scn_link l = link_cfg(0, 0, 0, 0, 1500, 1000);
	uint64_t due;

	(void)state;
	l.blackhole = 1280;
	setup(&f, l, 1);
	assert_int_equal(admit(&f, 0, 1280 + 14, true, &due), ZT_LINKEM_PASS);
	assert_int_equal(admit(&f, 0, 1281 + 14, true, &due), ZT_LINKEM_DROP_BLACKHOLE);
	assert_int_equal(admit(&f, 0, 1500 + 14, true, &due), ZT_LINKEM_DROP_BLACKHOLE);
	assert_int_equal(admit(&f, 0, 1400, false, &due), ZT_LINKEM_PASS); /* not IP */
	assert_int_equal(f.d.blackholed, 2);
	assert_int_equal(f.d.too_big, 0);
}

static void queue_limit_tail_drops(void **state)
{
	struct fixture f;
	uint64_t due;

	(void)state;
	setup(&f, link_cfg(ZT_MS, 0, 0, 0, 1500, 3), 1);
	for (int i = 0; i < 3; i++)
		assert_int_equal(admit(&f, 0, 100, true, &due), ZT_LINKEM_PASS);
	assert_int_equal(admit(&f, 0, 100, true, &due), ZT_LINKEM_DROP_QUEUE);
	assert_int_equal(f.d.overflow, 1);
	zt_linkem_departed(&f.d);
	assert_int_equal(admit(&f, 0, 100, true, &due), ZT_LINKEM_PASS);
	assert_int_equal(f.d.passed, 4);
}

static void same_seed_same_fate(void **state)
{
	struct zt_scn_link l = link_cfg(10 * ZT_MS, 3 * ZT_MS, 200000, 0, 1500, 100000);
	struct fixture a, b;

	(void)state;
	setup(&a, l, 77);
	setup(&b, l, 77);
	for (int i = 0; i < 1000; i++) {
		uint64_t da = 0, db = 0, now = (uint64_t)i * ZT_MS;

		assert_int_equal(admit(&a, now, 200, true, &da), admit(&b, now, 200, true, &db));
		assert_int_equal(da, db);
	}
	assert_true(a.d.lost > 0);
}

static void ethertypes(void **state)
{
	uint8_t f[20] = { 0 };

	(void)state;
	f[12] = 0x08, f[13] = 0x00;
	assert_true(zt_linkem_frame_is_ip(f, sizeof(f)));
	f[12] = 0x86, f[13] = 0xdd;
	assert_true(zt_linkem_frame_is_ip(f, sizeof(f)));
	f[12] = 0x08, f[13] = 0x06; /* ARP */
	assert_false(zt_linkem_frame_is_ip(f, sizeof(f)));
	f[12] = 0x08, f[13] = 0x00;
	assert_false(zt_linkem_frame_is_ip(f, 13));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(plain_link_passes_at_once),
		cmocka_unit_test(delay_is_added),
		cmocka_unit_test(jitter_stays_in_its_window),
		cmocka_unit_test(jitter_never_reorders),
		cmocka_unit_test(loss_rate_and_arp_spared),
		cmocka_unit_test(rate_serialises_frames),
		cmocka_unit_test(mtu_counts_the_ip_packet),
		cmocka_unit_test(blackhole_drops_big_ip_packets_only),
		cmocka_unit_test(queue_limit_tail_drops),
		cmocka_unit_test(same_seed_same_fate),
		cmocka_unit_test(ethertypes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
