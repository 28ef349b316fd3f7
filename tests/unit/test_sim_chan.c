#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "core/rng.h"
#include "core/units.h"
#include "../../sim/chan.h"
#include "../../sim/draw.h"

/* Two channels over a lossy, delaying pipe: every message arrives once, in order. */
static void delivers_in_order_once_under_loss(void **state)
{
	static struct zt_sim_chan a, b;
	struct zt_prng g;
	struct { uint64_t at; int to; size_t len; uint8_t buf[64]; } q[4096];
	unsigned nq = 0, next_expected = 0;
	uint64_t now = 0;

	(void)state;
	zt_sim_chan_init(&a);
	zt_sim_chan_init(&b);
	zt_prng_seed(&g, 5);
	for (uint32_t i = 0; i < 20; i++) {
		uint8_t m[4] = { (uint8_t)i, 0xab, 0xcd, 0xef };
		assert_int_equal(zt_sim_chan_send(&a, m, sizeof(m)), 0);
	}
	while (now < 120 * ZT_SEC && next_expected < 20) {
		uint8_t buf[64];
		size_t n;
		/* both ends send what they have; 30 % of datagrams are lost; 20 ms delay */
		for (int side = 0; side < 2; side++) {
			struct zt_sim_chan *c = side ? &b : &a;
			while ((n = zt_sim_chan_poll(c, now, buf, sizeof(buf))) > 0) {
				assert_true(nq < 4096);
				if (zt_sim_chance(&g, 300000))
					continue;
				q[nq].at = now + 20 * ZT_MS;
				q[nq].to = !side;
				q[nq].len = n;
				memcpy(q[nq++].buf, buf, n);
			}
		}
		now += ZT_MS;
		for (unsigned i = 0; i < nq;) {
			if (q[i].at <= now) {
				const uint8_t *msg;
				size_t mlen;
				struct zt_sim_chan *c = q[i].to ? &b : &a;
				int rc = zt_sim_chan_recv(c, now, q[i].buf, q[i].len, &msg, &mlen);
				assert_true(rc >= 0);
				if (rc == 1) {
					assert_true(c == &b);
					assert_int_equal(mlen, 4);
					assert_int_equal(msg[0], next_expected);
					next_expected++;
				}
				q[i] = q[--nq];
			} else {
				i++;
			}
		}
	}
	assert_int_equal(next_expected, 20);
	assert_true(a.retransmits > 0);
	assert_true(zt_sim_chan_srtt(&a) >= 40 * ZT_MS);
}

static void window_and_bad_input(void **state)
{
	static struct zt_sim_chan c;
	uint8_t big[ZT_SIM_CHAN_MSG_MAX + 1] = { 0 }, junk[3] = { 0xE1, 0, 0 };
	const uint8_t *msg;
	size_t mlen;

	(void)state;
	zt_sim_chan_init(&c);
	assert_int_equal(zt_sim_chan_send(&c, big, sizeof(big)), -EMSGSIZE);
	for (int i = 0; i < ZT_SIM_CHAN_WINDOW; i++)
		assert_int_equal(zt_sim_chan_send(&c, big, 10), 0);
	assert_int_equal(zt_sim_chan_send(&c, big, 10), -ENOBUFS);
	assert_int_equal(zt_sim_chan_recv(&c, 0, junk, sizeof(junk), &msg, &mlen), -EINVAL);
	junk[0] = 0x41;
	assert_int_equal(zt_sim_chan_recv(&c, 0, junk, sizeof(junk), &msg, &mlen), -EINVAL);
	assert_int_equal(zt_sim_chan_deadline(&c), 0); /* unsent messages: due now */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(delivers_in_order_once_under_loss),
		cmocka_unit_test(window_and_bad_input),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
