#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "core/err.h"
#include "../../netns/probe.h"

static const uint8_t request_vector[ZT_PROBE_HDR_LEN] = {
	0x5a, 0x54, 0x50, 0x42,                         /* "ZTPB" */
	0x01,                                           /* request */
	0x01,                                           /* address set */
	0x00, 0x00,                                     /* reserved */
	0x00, 0x00, 0x01, 0x02,                         /* seq 258 */
	0x00, 0x00, 0x00, 0x00, 0x3b, 0x9a, 0xca, 0x00, /* 1e9 ns */
	0xcb, 0x00, 0x71, 0x0b,                         /* 203.0.113.11 */
	0x0d, 0x96,                                     /* port 3478 */
	0x00, 0x00,                                     /* reserved */
	0x00, 0x00, 0x00, 0x00,                         /* reserved */
};

static void encodes_the_documented_layout(void **state)
{
	struct zt_probe_msg m = { .type = ZT_PROBE_REQUEST, .seq = 258, .sent_ns = 1000000000,
				  .has_addr = true, .ip = 0xcb00710b, .port = 3478 };
	uint8_t buf[64];

	(void)state;
	memset(buf, 0xee, sizeof(buf));
	assert_int_equal(zt_probe_encode(&m, ZT_PROBE_HDR_LEN, buf, sizeof(buf)), ZT_PROBE_HDR_LEN);
	assert_memory_equal(buf, request_vector, sizeof(request_vector));
	assert_int_equal(buf[ZT_PROBE_HDR_LEN], 0xee);
}

static void pads_and_round_trips(void **state)
{
	struct zt_probe_msg m = { .type = ZT_PROBE_RESPONSE, .seq = 7, .sent_ns = 42,
				  .has_addr = true, .ip = 0x0a000001, .port = 65535 }, back;
	uint8_t buf[1200];

	(void)state;
	memset(buf, 0xee, sizeof(buf));
	assert_int_equal(zt_probe_encode(&m, sizeof(buf), buf, sizeof(buf)), (int)sizeof(buf));
	for (size_t i = ZT_PROBE_HDR_LEN; i < sizeof(buf); i++)
		assert_int_equal(buf[i], 0);
	assert_int_equal(zt_probe_decode(&back, buf, sizeof(buf)), 0);
	assert_int_equal(back.type, ZT_PROBE_RESPONSE);
	assert_int_equal(back.seq, 7);
	assert_int_equal(back.sent_ns, 42);
	assert_true(back.has_addr);
	assert_int_equal(back.ip, 0x0a000001);
	assert_int_equal(back.port, 65535);

	m.has_addr = false;
	assert_int_equal(zt_probe_encode(&m, ZT_PROBE_HDR_LEN, buf, sizeof(buf)), ZT_PROBE_HDR_LEN);
	assert_int_equal(buf[20], 0); /* the address is not written when unset */
	assert_int_equal(zt_probe_decode(&back, buf, ZT_PROBE_HDR_LEN), 0);
	assert_false(back.has_addr);
	assert_int_equal(back.ip, 0);
}

static void encoder_contract(void **state)
{
	struct zt_probe_msg m = { .type = ZT_PROBE_REQUEST };
	uint8_t buf[64];

	(void)state;
	assert_int_equal(zt_probe_encode(&m, ZT_PROBE_HDR_LEN - 1, buf, sizeof(buf)), -EINVAL);
	assert_int_equal(zt_probe_encode(&m, 40, buf, 39), -ENOBUFS);
	m.type = (enum zt_probe_type)3;
	assert_int_equal(zt_probe_encode(&m, ZT_PROBE_HDR_LEN, buf, sizeof(buf)), -EINVAL);
}

static void rejects_bad_datagrams(void **state)
{
	struct zt_probe_msg m = { .seq = 99 };
	uint8_t buf[ZT_PROBE_HDR_LEN];
	static const size_t bad_bytes[] = { 0, 4, 5, 6, 7, 26, 27, 28, 31 };

	(void)state;
	for (size_t len = 0; len < ZT_PROBE_HDR_LEN; len++)
		assert_int_equal(zt_probe_decode(&m, request_vector, len), ZT_ETRUNC);
	for (size_t i = 0; i < sizeof(bad_bytes) / sizeof(bad_bytes[0]); i++) {
		memcpy(buf, request_vector, sizeof(buf));
		buf[bad_bytes[i]] ^= 0x02; /* magic, type 3, flag bit 1, reserved bits */
		assert_int_equal(zt_probe_decode(&m, buf, sizeof(buf)), ZT_EMALFORMED);
	}
	assert_int_equal(m.seq, 99); /* untouched on failure */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(encodes_the_documented_layout),
		cmocka_unit_test(pads_and_round_trips),
		cmocka_unit_test(encoder_contract),
		cmocka_unit_test(rejects_bad_datagrams),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
