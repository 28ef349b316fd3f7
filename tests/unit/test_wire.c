#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/wire.h"

static void reader_stops_at_end(void **state)
{
	static const uint8_t buf[] = { 0x01, 0x02, 0x03 };
	struct zt_rd r = zt_rd_init(buf, sizeof(buf));
	uint16_t v16;
	uint32_t v32;

	(void)state;
	assert_int_equal(zt_rd_u16(&r, &v16), 0);
	assert_int_equal(v16, 0x0102);
	assert_int_equal(zt_rd_u32(&r, &v32), ZT_ETRUNC);
	/* a failed read does not move the position */
	assert_int_equal(zt_rd_left(&r), 1);
	assert_int_equal(zt_rd_skip(&r, 2), ZT_ETRUNC);
	assert_int_equal(zt_rd_skip(&r, 1), 0);
	assert_int_equal(zt_rd_left(&r), 0);
}

static void writer_error_is_sticky(void **state)
{
	uint8_t buf[5];
	struct zt_wr w = zt_wr_init(buf, sizeof(buf));

	(void)state;
	zt_wr_u32(&w, 0xdeadbeef);
	zt_wr_u16(&w, 1); /* does not fit */
	zt_wr_u8(&w, 2);  /* would fit, but the error is sticky */
	assert_int_equal(zt_wr_finish(&w), -ENOBUFS);
	assert_int_equal(buf[0], 0xde);
}

static void writer_patches_length(void **state)
{
	uint8_t buf[8];
	struct zt_wr w = zt_wr_init(buf, sizeof(buf));

	(void)state;
	zt_wr_u16(&w, 0);
	zt_wr_u64(&w, 0x0102030405060708ULL) ; /* overflows: 2 + 8 > 8 */
	assert_int_equal(zt_wr_finish(&w), -ENOBUFS);
	w = zt_wr_init(buf, sizeof(buf));
	zt_wr_u16(&w, 0);
	zt_wr_bytes(&w, "abc", 3);
	zt_wr_patch_u16(&w, 0, 3);
	assert_int_equal(zt_wr_finish(&w), 5);
	assert_int_equal(buf[1], 3);
	assert_memory_equal(buf + 2, "abc", 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(reader_stops_at_end),
		cmocka_unit_test(writer_error_is_sticky),
		cmocka_unit_test(writer_patches_length),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
