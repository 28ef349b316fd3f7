#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "../../netns/capture.h"

static uint32_t u32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

static uint16_t u16(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, 2);
	return v;
}

static void file_header(void **state)
{
	uint8_t h[ZT_PCAP_HDR_LEN];

	(void)state;
	zt_pcap_file_header(h);
	assert_int_equal(u32(h), 0xa1b2c3d4);     /* native order, microseconds */
	assert_int_equal(u16(h + 4), 2);
	assert_int_equal(u16(h + 6), 4);
	assert_int_equal(u32(h + 8), 0);
	assert_int_equal(u32(h + 12), 0);
	assert_int_equal(u32(h + 16), ZT_PCAP_SNAPLEN);
	assert_int_equal(u32(h + 20), 1);         /* LINKTYPE_ETHERNET */
}

static void record_header(void **state)
{
	uint8_t r[ZT_PCAP_REC_LEN];

	(void)state;
	zt_pcap_record_header(r, 1700000000123456789ULL, 60, 1514);
	assert_int_equal(u32(r), 1700000000);
	assert_int_equal(u32(r + 4), 123456);     /* ns truncated to us */
	assert_int_equal(u32(r + 8), 60);
	assert_int_equal(u32(r + 12), 1514);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(file_header),
		cmocka_unit_test(record_header),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
