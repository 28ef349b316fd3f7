/* Routed services (core/route.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "core/err.h"
#include "core/route.h"

static void parses_and_formats(void **state)
{
	static const char *const ok[] = {
		"db=10.0.5.0/24",
		"web=10.0.6.20/32:tcp/443,udp/53,icmp",
		"v6=2001:db8:5::/48:tcp/22",
		"all=0.0.0.0/0",
		"range=192.168.0.0/16:tcp/8000-8099,udp",
		"x=::/0:icmp",
	};
	struct zt_route r, r2;
	char buf[ZT_ROUTE_STRLEN];
	(void)state;

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		assert_int_equal(zt_route_parse(&r, ok[i]), 0);
		assert_true(zt_route_format(&r, buf, sizeof(buf)) > 0);
		assert_string_equal(buf, ok[i]);
		assert_int_equal(zt_route_parse(&r2, buf), 0);
		assert_memory_equal(&r, &r2, sizeof(r));
	}
	assert_int_equal(zt_route_parse(&r, "web=10.0.6.20/32:tcp/443,udp/53,icmp"), 0);
	assert_string_equal(r.name, "web");
	assert_int_equal(r.plen, 32);
	assert_int_equal(r.nrules, 3);
	assert_int_equal(r.rules[0].proto, ZT_ROUTE_TCP);
	assert_int_equal(r.rules[0].lo, 443);
	assert_int_equal(r.rules[0].hi, 443);
	assert_int_equal(r.rules[2].proto, ZT_ROUTE_ICMP);
	/* tcp/0-65535 is written as tcp */
	assert_int_equal(zt_route_parse(&r, "a=10.0.0.0/8:tcp/0-65535"), 0);
	assert_int_equal(zt_route_format(&r, buf, sizeof(buf)), (int)strlen("a=10.0.0.0/8:tcp"));
	assert_int_equal(zt_route_format(&r, buf, 5), -ENOBUFS);
}

static void refuses_bad_text(void **state)
{
	static const struct { const char *text; int rc; } bad[] = {
		{ "", ZT_ESYNTAX },
		{ "db", ZT_ESYNTAX },
		{ "=10.0.5.0/24", ZT_ESYNTAX },
		{ "db=10.0.5.0", ZT_ESYNTAX },           /* the length is required */
		{ "db=10.0.5.1/24", ZT_ERANGE },          /* host bits */
		{ "db=10.0.5.0/33", ZT_ERANGE },
		{ "db=2001:db8::/129", ZT_ERANGE },
		{ "db=10.0.5.0/", ZT_ESYNTAX },
		{ "db=10.0.5.0/24:", ZT_ESYNTAX },
		{ "db=10.0.5.0/24:tcp/", ZT_ESYNTAX },
		{ "db=10.0.5.0/24:tcp/70000", ZT_ERANGE },
		{ "db=10.0.5.0/24:tcp/90-80", ZT_ERANGE },
		{ "db=10.0.5.0/24:tcp/80,", ZT_ESYNTAX },
		{ "db=10.0.5.0/24:icmp/8", ZT_ESYNTAX },
		{ "db=10.0.5.0/24:sctp", ZT_ESYNTAX },
		{ "db=10.0.5.0/24:tcpx", ZT_ESYNTAX },
		{ "db=[2001:db8::]/64", ZT_ESYNTAX },
		{ "d b=10.0.5.0/24", ZT_ESYNTAX },
		{ "db=10.0.5.0:80/24", ZT_ESYNTAX },
		{ "db=host.example/24", ZT_ESYNTAX },
		{ "db=10.0.5.0/024x", ZT_ESYNTAX },
		{ "db=10.0.5.0/24:tcp/000080", ZT_ESYNTAX },
	};
	struct zt_route r = { .plen = 7 };
	char many[512] = "m=10.0.0.0/8:";
	(void)state;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = zt_route_parse(&r, bad[i].text);
		if (rc != bad[i].rc)
			fail_msg("'%s': %d, not %d", bad[i].text, rc, bad[i].rc);
		assert_int_equal(r.plen, 7); /* untouched */
	}
	for (int i = 0; i < 17; i++)
		strcat(many, i ? ",udp" : "udp");
	assert_int_equal(zt_route_parse(&r, many), ZT_ERANGE);
	memset(many, 'n', 64);
	strcpy(many + 64, "=10.0.0.0/8");
	assert_int_equal(zt_route_parse(&r, many), ZT_ERANGE);
}

static struct zt_ippkt pkt(const char *dst, uint8_t proto, uint16_t dport, bool has_l4)
{
	struct zt_ippkt p = { .proto = proto, .has_l4 = has_l4, .fragment = !has_l4 };

	assert_int_equal(zt_addr_parse(&p.dst, dst, 0), 0);
	p.family = p.dst.family;
	p.dst.port = has_l4 ? dport : 0;
	return p;
}

static void allows_by_prefix_and_rule(void **state)
{
	struct zt_route web, db, v6;
	struct zt_ippkt p;
	(void)state;

	assert_int_equal(zt_route_parse(&web, "web=10.0.6.16/28:tcp/443,udp/53-54,icmp"), 0);
	assert_int_equal(zt_route_parse(&db, "db=10.0.5.0/24"), 0);
	assert_int_equal(zt_route_parse(&v6, "v6=2001:db8:4::/47:tcp"), 0);
	p = pkt("10.0.6.20", ZT_IP_TCP, 443, true);
	assert_true(zt_route_allows(&web, &p));
	assert_false(zt_route_allows(&db, &p));
	p = pkt("10.0.6.20", ZT_IP_TCP, 80, true);
	assert_false(zt_route_allows(&web, &p));
	p = pkt("10.0.6.20", ZT_IP_UDP, 54, true);
	assert_true(zt_route_allows(&web, &p));
	p = pkt("10.0.6.32", ZT_IP_UDP, 53, true); /* outside the /28 */
	assert_false(zt_route_allows(&web, &p));
	p = pkt("10.0.6.17", ZT_IP_ICMP, 0, true);
	assert_true(zt_route_allows(&web, &p));
	p = pkt("10.0.6.17", ZT_IP_TCP, 0, false); /* a later fragment: tcp only on 443 */
	assert_false(zt_route_allows(&web, &p));
	p = pkt("10.0.5.9", 47, 0, true); /* GRE: no rules, everything */
	assert_true(zt_route_allows(&db, &p));
	p = pkt("2001:db8:4::1", ZT_IP_TCP, 22, true);
	assert_true(zt_route_allows(&v6, &p));
	p = pkt("2001:db8:6::1", ZT_IP_TCP, 22, true);
	assert_false(zt_route_allows(&v6, &p));
	p = pkt("2001:db8:5::1", ZT_IP_TCP, 0, false); /* tcp on every port: fragments too */
	assert_true(zt_route_allows(&v6, &p));
	p = pkt("10.0.5.9", ZT_IP_TCP, 22, true); /* another family */
	assert_false(zt_route_allows(&v6, &p));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(parses_and_formats),
		cmocka_unit_test(refuses_bad_text),
		cmocka_unit_test(allows_by_prefix_and_rule),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
