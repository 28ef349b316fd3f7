/* core/birthday: birthday probing's datagrams, bounded in count and rate
 * (docs/hard-nat.md). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/birthday.h"
#include "core/units.h"

static struct zt_addr addr(const char *s)
{
	struct zt_addr a;

	assert_int_equal(zt_addr_parse(&a, s, 0), 0);
	return a;
}

/* Drives p from t0 in 1 ms steps until end; returns how many it sent, recording
 * their times and remote ports. */
static unsigned drive(struct zt_birthday *p, uint64_t t0, uint64_t end, uint64_t *times,
		      uint16_t *ports, struct zt_addr *locals, unsigned cap)
{
	unsigned n = 0;
	struct zt_addr l, r;

	for (uint64_t t = t0; t < end; t += ZT_MS) {
		while (zt_birthday_poll(p, t, &l, &r) == 1) {
			if (n < cap) {
				times[n] = t;
				ports[n] = r.port;
				locals[n] = l;
			}
			n++;
		}
	}
	return n;
}

/* Probes: never more than count, never faster than rate, none before start, all to
 * the target IP from the one socket, ports over the range. */
static void probes_are_bounded_and_paced(void **state)
{
	static uint64_t times[2048];
	static uint16_t ports[2048];
	static struct zt_addr locals[2048];
	struct zt_prng g;
	struct zt_addr me = addr("192.168.1.2:5000");
	struct zt_birthday p;
	struct zt_birthday_config c = { .role = ZT_BIRTHDAY_PROBE, .locals = &me, .nlocals = 1,
				     .target = addr("203.0.113.2:9"), .count = 1024, .rate = 200,
				     .start = 300 * ZT_MS };
	unsigned n, low = 0;

	(void)state;
	zt_prng_seed(&g, 7);
	c.rng = zt_prng_rng(&g);
	assert_int_equal(zt_birthday_init(&p, &c), 0);
	assert_int_equal(zt_birthday_next_deadline(&p), 300 * ZT_MS);
	n = drive(&p, 0, 20 * ZT_SEC, times, ports, locals, 2048);
	assert_int_equal(n, 1024);
	assert_true(zt_birthday_done(&p));
	assert_int_equal(zt_birthday_next_deadline(&p), ZT_TIME_NEVER);
	assert_int_equal(times[0], 300 * ZT_MS);
	for (unsigned i = 1; i < n; i++)
		assert_true(times[i] - times[i - 1] >= ZT_SEC / 200);
	/* 1024 at 200 a second: 5.115 s from the first to the last */
	assert_int_equal(times[n - 1] - times[0], 1023 * (ZT_SEC / 200));
	for (unsigned i = 0; i < n; i++) {
		assert_true(ports[i] >= ZT_BIRTHDAY_PORT_LO);
		assert_true(zt_addr_equal(&locals[i], &me));
		low += ports[i] < 33280; /* the lower half of 1024..65535 */
	}
	assert_in_range(low, 412, 612); /* about half */
	assert_int_equal(p.st.sent, 1024);
}

/* A poll that comes late sends one, and the next is a full interval later: a slow
 * caller never gets a burst. */
static void a_late_caller_gets_no_burst(void **state)
{
	struct zt_prng g;
	struct zt_addr me = addr("192.168.1.2:5000"), l, r;
	struct zt_birthday p;
	struct zt_birthday_config c = { .role = ZT_BIRTHDAY_PROBE, .locals = &me, .nlocals = 1,
				     .target = addr("203.0.113.2:9"), .count = 100, .rate = 100,
				     .port_lo = 40000, .port_hi = 40009 };

	(void)state;
	zt_prng_seed(&g, 1);
	c.rng = zt_prng_rng(&g);
	assert_int_equal(zt_birthday_init(&p, &c), 0);
	assert_int_equal(zt_birthday_poll(&p, 5 * ZT_SEC, &l, &r), 1);
	assert_in_range(r.port, 40000, 40009);
	assert_int_equal(zt_birthday_poll(&p, 5 * ZT_SEC, &l, &r), 0);
	assert_int_equal(zt_birthday_next_deadline(&p), 5 * ZT_SEC + 10 * ZT_MS);
	zt_birthday_stop(&p);
	assert_int_equal(zt_birthday_poll(&p, 6 * ZT_SEC, &l, &r), 0);
	assert_int_equal(zt_birthday_next_deadline(&p), ZT_TIME_NEVER);
	assert_int_equal(p.st.sent, 1);
}

/* Spray: one datagram from each socket, in order, to the target; count bounded by
 * the sockets. */
static void spray_uses_each_socket_once(void **state)
{
	static uint64_t times[64];
	static uint16_t ports[64];
	static struct zt_addr got[64];
	struct zt_addr socks[8];
	struct zt_birthday p;
	struct zt_birthday_config c = { .role = ZT_BIRTHDAY_SPRAY, .locals = socks, .nlocals = 8,
				     .target = addr("203.0.113.1:5000"), .count = 50, .rate = 1000 };

	(void)state;
	for (int i = 0; i < 8; i++) {
		socks[i] = addr("10.10.0.2:40000");
		socks[i].port = (uint16_t)(40000 + i);
	}
	assert_int_equal(zt_birthday_init(&p, &c), 0);
	assert_int_equal(drive(&p, 0, ZT_SEC, times, ports, got, 64), 8);
	for (int i = 0; i < 8; i++) {
		assert_true(zt_addr_equal(&got[i], &socks[i]));
		assert_int_equal(ports[i], 5000);
		assert_int_equal(times[i], (uint64_t)i * ZT_MS);
	}
}

static void rejects_bad_config(void **state)
{
	struct zt_addr me = addr("192.168.1.2:5000");
	struct zt_birthday p;
	struct zt_prng g;
	struct zt_birthday_config ok = { .role = ZT_BIRTHDAY_PROBE, .locals = &me, .nlocals = 1,
				      .target = addr("203.0.113.2:9"), .count = 1, .rate = 1 }, c;

	(void)state;
	zt_prng_seed(&g, 1);
	ok.rng = zt_prng_rng(&g);
	assert_int_equal(zt_birthday_init(&p, &ok), 0);
	c = ok, c.role = 0;
	assert_int_equal(zt_birthday_init(&p, &c), -EINVAL);
	c = ok, c.nlocals = 0;
	assert_int_equal(zt_birthday_init(&p, &c), -EINVAL);
	c = ok, c.target.family = 0;
	assert_int_equal(zt_birthday_init(&p, &c), -EINVAL);
	c = ok, c.rate = 0;
	assert_int_equal(zt_birthday_init(&p, &c), -EINVAL);
	c = ok, c.port_lo = 2000, c.port_hi = 1000;
	assert_int_equal(zt_birthday_init(&p, &c), -EINVAL);
	c = ok, c.rng.fill = NULL;
	assert_int_equal(zt_birthday_init(&p, &c), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(probes_are_bounded_and_paced),
		cmocka_unit_test(a_late_caller_gets_no_burst),
		cmocka_unit_test(spray_uses_each_socket_once),
		cmocka_unit_test(rejects_bad_config),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
