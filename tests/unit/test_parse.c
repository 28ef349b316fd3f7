#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <arpa/inet.h>
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

/* A getaddrinfo() answer of n entries, "a.b.c.d" or an IPv6 text each. */
struct fake_ai {
	struct addrinfo ai[8];
	union {
		struct sockaddr_in v4;
		struct sockaddr_in6 v6;
	} sa[8];
};

static const struct addrinfo *fake(struct fake_ai *f, const char *const *ips, size_t n)
{
	memset(f, 0, sizeof(*f));
	for (size_t i = 0; i < n; i++) {
		if (strchr(ips[i], ':')) {
			f->sa[i].v6.sin6_family = AF_INET6;
			assert_int_equal(inet_pton(AF_INET6, ips[i], &f->sa[i].v6.sin6_addr), 1);
			f->ai[i].ai_addrlen = sizeof(f->sa[i].v6);
		} else {
			f->sa[i].v4.sin_family = AF_INET;
			assert_int_equal(inet_pton(AF_INET, ips[i], &f->sa[i].v4.sin_addr), 1);
			f->ai[i].ai_addrlen = sizeof(f->sa[i].v4);
		}
		f->ai[i].ai_family = f->sa[i].v4.sin_family;
		f->ai[i].ai_addr = (struct sockaddr *)&f->sa[i];
		f->ai[i].ai_next = i + 1 < n ? &f->ai[i + 1] : NULL;
	}
	return f->ai;
}

/* A name with several addresses (several Intermediates behind one DNS name): all of
 * them, IPv4 first, each family in the resolver's order, each once (getaddrinfo
 * gives one per socket type unless hinted), at most cap. */
static void addrinfo_gives_every_address(void **state)
{
	static const char *const ips[] = { "2001:db8::1", "192.0.2.1", "192.0.2.2", "192.0.2.1",
					   "2001:db8::2", "192.0.2.3" };
	struct fake_ai f;
	struct zt_addr a[8];
	char t[ZT_ADDR_STRLEN];
	size_t n;

	(void)state;
	n = zt_parse_addrinfo(fake(&f, ips, 6), 4433, a, 8);
	assert_int_equal(n, 5);
	assert_string_equal(zt_addr_str(&a[0], t), "192.0.2.1:4433");
	assert_string_equal(zt_addr_str(&a[1], t), "192.0.2.2:4433");
	assert_string_equal(zt_addr_str(&a[2], t), "192.0.2.3:4433");
	assert_string_equal(zt_addr_str(&a[3], t), "[2001:db8::1]:4433");
	assert_string_equal(zt_addr_str(&a[4], t), "[2001:db8::2]:4433");
	assert_int_equal(zt_parse_addrinfo(fake(&f, ips, 6), 4433, a, 2), 2);
	assert_string_equal(zt_addr_str(&a[1], t), "192.0.2.2:4433");
	/* a literal is one address */
	assert_int_equal(zt_parse_hostport_all("192.0.2.7:1", 0, a, 8, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(zt_parse_hostport_all("192.0.2.7:0", 0, a, 8, &n), ZT_ERANGE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(hostport_literals),
		cmocka_unit_test(hostport_explicit_port_zero),
		cmocka_unit_test(hostport_both_families),
		cmocka_unit_test(addrinfo_gives_every_address),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
