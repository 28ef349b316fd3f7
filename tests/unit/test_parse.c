#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "app/parse.h"
#include "core/err.h"

static void hostport_literals(void **state)
{
	struct zt_addr a;

	(void)state;
	assert_int_equal(zt_parse_hostport("192.0.2.1:4433", 0, &a), 0);
	assert_int_equal(a.family, AF_INET);
	assert_int_equal(a.port, 4433);
	assert_int_equal(zt_parse_hostport("[::1]:80", 0, &a), 0);
	assert_int_equal(a.family, AF_INET6);
	assert_int_equal(a.port, 80);
	assert_int_equal(zt_parse_hostport("192.0.2.1", 443, &a), 0);
	assert_int_equal(a.port, 443);
	assert_int_equal(zt_parse_hostport("192.0.2.1", 0, &a), ZT_ESYNTAX);
	assert_int_equal(zt_parse_hostport("192.0.2.1:70000", 0, &a), ZT_ERANGE);
	assert_int_equal(zt_parse_hostport(":80", 0, &a), ZT_ESYNTAX);
}

/* Found by fuzz_parse: an explicit port 0 on a literal address was accepted when a
 * default port was given (the result had port 0), while for a name it is ZT_ERANGE. */
static void hostport_explicit_port_zero(void **state)
{
	struct zt_addr a;

	(void)state;
	assert_int_equal(zt_parse_hostport("[::1]:0", 1285, &a), ZT_ERANGE);
	assert_int_equal(zt_parse_hostport("192.0.2.1:0", 443, &a), ZT_ERANGE);
	assert_int_equal(zt_parse_hostport("192.0.2.1:0", 0, &a), ZT_ERANGE);
	assert_int_equal(zt_parse_hostport("[::1]", 0, &a), ZT_ESYNTAX);
}

/* A name with both families gives one of each (the outer connection races them);
 * a literal or a one-family name gives one. "localhost" resolves through
 * /etc/hosts: 127.0.0.1, and ::1 where the file lists it. */
static void hostport_both_families(void **state)
{
	struct zt_addr a, b = { 0 };

	(void)state;
	assert_int_equal(zt_parse_hostport_both("192.0.2.1:4433", 0, &a, &b), 0);
	assert_int_equal(a.family, AF_INET);
	assert_int_equal(b.family, 0);
	assert_int_equal(zt_parse_hostport_both("[2001:db8::1]:4433", 0, &a, &b), 0);
	assert_int_equal(a.family, AF_INET6);
	assert_int_equal(b.family, 0);
	assert_int_equal(zt_parse_hostport_both("localhost:4433", 0, &a, &b), 0);
	assert_int_equal(a.family, AF_INET);
	assert_int_equal(a.port, 4433);
	if (b.family) {
		assert_int_equal(b.family, AF_INET6);
		assert_true(zt_addr_is_loopback(&b));
		assert_int_equal(b.port, 4433);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(hostport_literals),
		cmocka_unit_test(hostport_explicit_port_zero),
		cmocka_unit_test(hostport_both_families),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
