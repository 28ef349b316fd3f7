#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "app/parse.h"
#include "core/err.h"
#include "core/units.h"

static void durations(void **state)
{
	uint64_t v = 0;

	(void)state;
	assert_int_equal(zt_parse_duration("250ms", &v), 0);
	assert_int_equal(v, 250 * ZT_MS);
	assert_int_equal(zt_parse_duration("10", &v), 0);
	assert_int_equal(v, 10 * ZT_SEC);
	assert_int_equal(zt_parse_duration("2m", &v), 0);
	assert_int_equal(v, 120 * ZT_SEC);
	assert_int_equal(zt_parse_duration("1500us", &v), 0);
	assert_int_equal(v, 1500 * ZT_US);
	assert_int_equal(zt_parse_duration("ms", &v), ZT_ESYNTAX);
	assert_int_equal(zt_parse_duration("-1s", &v), ZT_ESYNTAX);
	assert_int_equal(zt_parse_duration("10 s", &v), ZT_ESYNTAX);
	assert_int_equal(zt_parse_duration("99999999999999999999s", &v), ZT_ERANGE);
	assert_int_equal(zt_parse_duration("9999999999999h", &v), ZT_ERANGE);
}

static void sizes(void **state)
{
	uint64_t v = 0;

	(void)state;
	assert_int_equal(zt_parse_size("4096", &v), 0);
	assert_int_equal(v, 4096);
	assert_int_equal(zt_parse_size("64K", &v), 0);
	assert_int_equal(v, 65536);
	assert_int_equal(zt_parse_size("10M", &v), 0);
	assert_int_equal(v, 10 << 20);
	assert_int_equal(zt_parse_size("10X", &v), ZT_ESYNTAX);
	assert_int_equal(zt_parse_size("", &v), ZT_ESYNTAX);
	assert_int_equal(zt_parse_size("16777216T", &v), ZT_ERANGE);
}

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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(durations),
		cmocka_unit_test(sizes),
		cmocka_unit_test(hostport_literals),
		cmocka_unit_test(hostport_explicit_port_zero),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
