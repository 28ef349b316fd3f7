#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "io/udp.h"

static void loopback_send_recv_with_local_address(void **state)
{
	struct zt_udp a, b;
	struct zt_addr bind_a, bind_b, from, to;
	uint8_t buf[64];

	(void)state;
	zt_addr_parse(&bind_a, "127.0.0.1:0", 0);
	zt_addr_parse(&bind_b, "127.0.0.2:0", 0);
	assert_int_equal(zt_udp_open(&a, &bind_a), 0);
	assert_int_equal(zt_udp_open(&b, &bind_b), 0);
	assert_int_not_equal(a.local.port, 0);
	assert_int_equal(zt_udp_recv(&a, buf, sizeof(buf), &from, &to), -EAGAIN);
	assert_int_equal(zt_udp_send(&b, &a.local, NULL, (const uint8_t *)"hello", 5), 0);
	assert_int_equal(zt_udp_recv(&a, buf, sizeof(buf), &from, &to), 5);
	assert_memory_equal(buf, "hello", 5);
	assert_true(zt_addr_equal(&from, &b.local));
	assert_true(zt_addr_equal(&to, &a.local));
	zt_udp_close(&a);
	zt_udp_close(&b);
}

static void oversize_is_reported(void **state)
{
	struct zt_udp a, b;
	struct zt_addr bind_a, from;
	uint8_t big[100] = { 0 }, small[10];

	(void)state;
	zt_addr_parse(&bind_a, "127.0.0.1:0", 0);
	assert_int_equal(zt_udp_open(&a, &bind_a), 0);
	assert_int_equal(zt_udp_open(&b, &bind_a), 0);
	assert_int_equal(zt_udp_send(&b, &a.local, NULL, big, sizeof(big)), 0);
	assert_int_equal(zt_udp_recv(&a, small, sizeof(small), &from, NULL), -EMSGSIZE);
	zt_udp_close(&a);
	zt_udp_close(&b);
}

static void bind_conflict_is_an_error(void **state)
{
	struct zt_udp a, b;

	(void)state;
	struct zt_addr any;
	zt_addr_parse(&any, "127.0.0.1:0", 0);
	assert_int_equal(zt_udp_open(&a, &any), 0);
	assert_int_equal(zt_udp_open(&b, &a.local), -EADDRINUSE);
	zt_udp_close(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(loopback_send_recv_with_local_address),
		cmocka_unit_test(oversize_is_reported),
		cmocka_unit_test(bind_conflict_is_an_error),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
