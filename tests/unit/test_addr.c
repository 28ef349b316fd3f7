#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "core/addr.h"
#include "core/err.h"

static void parse_v4_with_port(void **state)
{
	struct zt_addr a;
	char buf[ZT_ADDR_STRLEN];

	(void)state;
	assert_int_equal(zt_addr_parse(&a, "192.0.2.1:3478", 0), 0);
	assert_int_equal(a.family, AF_INET);
	assert_int_equal(a.port, 3478);
	assert_int_equal(a.ip[0], 192);
	assert_int_equal(a.ip[3], 1);
	assert_string_equal(zt_addr_str(&a, buf), "192.0.2.1:3478");
}

static void parse_default_port(void **state)
{
	struct zt_addr a;

	(void)state;
	assert_int_equal(zt_addr_parse(&a, "10.0.0.1", 4433), 0);
	assert_int_equal(a.port, 4433);
}

static void parse_v6_forms(void **state)
{
	struct zt_addr a;
	char buf[ZT_ADDR_STRLEN];

	(void)state;
	assert_int_equal(zt_addr_parse(&a, "[2001:db8::1]:443", 0), 0);
	assert_int_equal(a.family, AF_INET6);
	assert_int_equal(a.port, 443);
	assert_string_equal(zt_addr_str(&a, buf), "[2001:db8::1]:443");
	assert_int_equal(zt_addr_parse(&a, "::1", 7), 0);
	assert_int_equal(a.port, 7);
	assert_true(zt_addr_is_loopback(&a));
}

static void wildcard_detected(void **state)
{
	struct zt_addr a = { 0 };

	(void)state;
	assert_true(zt_addr_is_any(&a)); /* unset */
	assert_int_equal(zt_addr_parse(&a, "0.0.0.0:5", 0), 0);
	assert_true(zt_addr_is_any(&a));
	assert_int_equal(zt_addr_parse(&a, "[::]:5", 0), 0);
	assert_true(zt_addr_is_any(&a));
	assert_int_equal(zt_addr_parse(&a, "0.0.0.1", 0), 0);
	assert_false(zt_addr_is_any(&a));
	assert_int_equal(zt_addr_parse(&a, "::2", 0), 0);
	assert_false(zt_addr_is_any(&a));
}

static void parse_rejects_bad_text(void **state)
{
	struct zt_addr a = { .port = 99 };

	(void)state;
	assert_int_equal(zt_addr_parse(&a, "", 0), ZT_ESYNTAX);
	assert_int_equal(zt_addr_parse(&a, "1.2.3", 0), ZT_ESYNTAX);
	assert_int_equal(zt_addr_parse(&a, "1.2.3.4:", 0), ZT_ESYNTAX);
	assert_int_equal(zt_addr_parse(&a, "1.2.3.4:x", 0), ZT_ESYNTAX);
	assert_int_equal(zt_addr_parse(&a, "1.2.3.4:65536", 0), ZT_ERANGE);
	assert_int_equal(zt_addr_parse(&a, "[::1", 0), ZT_ESYNTAX);
	assert_int_equal(zt_addr_parse(&a, "[::1]x", 0), ZT_ESYNTAX);
	/* untouched on failure */
	assert_int_equal(a.port, 99);
}

static void sockaddr_round_trip(void **state)
{
	struct zt_addr a, b;
	struct sockaddr_storage ss;
	int len;

	(void)state;
	assert_int_equal(zt_addr_parse(&a, "[fe80::2]:9", 0), 0);
	len = zt_addr_to_sockaddr(&a, &ss);
	assert_int_equal(len, sizeof(struct sockaddr_in6));
	assert_int_equal(zt_addr_from_sockaddr(&b, (struct sockaddr *)&ss, (socklen_t)len), 0);
	assert_true(zt_addr_equal(&a, &b));
	assert_true(zt_addr_is_linklocal(&b));
}

static void v4_mapped_becomes_v4(void **state)
{
	struct sockaddr_in6 in6 = { .sin6_family = AF_INET6, .sin6_port = htons(5) };
	struct zt_addr a;

	(void)state;
	inet_pton(AF_INET6, "::ffff:10.1.2.3", &in6.sin6_addr);
	assert_int_equal(zt_addr_from_sockaddr(&a, (struct sockaddr *)&in6, sizeof(in6)), 0);
	assert_int_equal(a.family, AF_INET);
	assert_true(zt_addr_is_private(&a));
}

/* No v4-mapped form enters through text or raw bytes either (candidates, control
 * messages and STUN use these): the same host has one form. */
static void v4_mapped_never_stored(void **state)
{
	struct zt_addr a, b, v4;
	uint8_t raw[16] = { [10] = 0xff, [11] = 0xff, 192, 0, 2, 7 };

	(void)state;
	assert_int_equal(zt_addr_parse(&v4, "192.0.2.7:9", 0), 0);
	assert_int_equal(zt_addr_parse(&a, "[::ffff:192.0.2.7]:9", 0), 0);
	assert_int_equal(a.family, AF_INET);
	assert_true(zt_addr_equal(&a, &v4));
	zt_addr_set_v6(&b, raw, 9);
	assert_int_equal(b.family, AF_INET);
	assert_true(zt_addr_equal(&b, &v4));
	assert_memory_equal(b.ip + 4, (uint8_t[12]){ 0 }, 12);
	/* ::ffff:0:a.b.c.d (SIIT) and ::a.b.c.d are other addresses */
	raw[11] = 0;
	zt_addr_set_v6(&b, raw, 9);
	assert_int_equal(b.family, AF_INET6);
}

static void format_small_buffer(void **state)
{
	struct zt_addr a;
	char small[4];

	(void)state;
	zt_addr_parse(&a, "192.0.2.1:1", 0);
	assert_int_equal(zt_addr_format(&a, true, small, sizeof(small)), -ENOBUFS);
}

static void strerror_names_both_kinds(void **state)
{
	(void)state;
	assert_string_equal(zt_strerror(ZT_ESTUN_COOKIE), "bad STUN magic cookie");
	assert_string_equal(zt_strerror(-ENOBUFS), strerror(ENOBUFS));
	assert_string_equal(zt_strerror(0), "success");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(parse_v4_with_port),
		cmocka_unit_test(parse_default_port),
		cmocka_unit_test(parse_v6_forms),
		cmocka_unit_test(parse_rejects_bad_text),
		cmocka_unit_test(wildcard_detected),
		cmocka_unit_test(sockaddr_round_trip),
		cmocka_unit_test(v4_mapped_becomes_v4),
		cmocka_unit_test(v4_mapped_never_stored),
		cmocka_unit_test(format_small_buffer),
		cmocka_unit_test(strerror_names_both_kinds),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
