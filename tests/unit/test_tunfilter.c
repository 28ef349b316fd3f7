/* The packet tunnel's per-packet check (core/tunfilter.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <string.h>

#include "core/tunfilter.h"

static void put16(uint8_t *p, unsigned v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* IPv4 (checksum right) with a UDP/TCP header to dport, or ICMP echo; len bytes. */
static size_t v4(uint8_t *b, uint8_t proto, const char *src, const char *dst, unsigned dport,
		 size_t len)
{
	memset(b, 0, len);
	b[0] = 0x45;
	put16(b + 2, (unsigned)len);
	b[8] = 64;
	b[9] = proto;
	inet_pton(AF_INET, src, b + 12);
	inet_pton(AF_INET, dst, b + 16);
	put16(b + 10, (uint16_t)~zt_ip_csum_fold(zt_ip_csum_add(0, b, 20)));
	if (proto == ZT_IP_ICMP)
		b[20] = 8;
	else
		put16(b + 22, dport);
	if (proto == ZT_IP_TCP)
		b[32] = 5 << 4;
	return len;
}

static size_t v6(uint8_t *b, const char *src, const char *dst, unsigned dport)
{
	memset(b, 0, 48);
	b[0] = 0x60;
	put16(b + 4, 8);
	b[6] = ZT_IP_UDP;
	b[7] = 64;
	inet_pton(AF_INET6, src, b + 8);
	inet_pton(AF_INET6, dst, b + 24);
	put16(b + 42, dport);
	return 48;
}

/* The lab: web and db behind the connector; the agent is 100.64.0.7. */
static void judges_and_counts(void **state)
{
	struct zt_route routes[2];
	struct zt_tunfilter f = { .mtu = 1362 };
	struct zt_ippkt p;
	uint8_t pkt[2000];
	size_t n;
	(void)state;

	assert_int_equal(zt_route_parse(&routes[0], "web=10.0.6.20/32:tcp/443,icmp"), 0);
	assert_int_equal(zt_route_parse(&routes[1], "db=10.0.5.0/24"), 0);
	assert_int_equal(zt_addr_parse(&f.self4, "100.64.0.7", 0), 0);
	assert_int_equal(zt_addr_parse(&f.self6, "fd7a::7", 0), 0);
	f.routes = routes;
	f.nroutes = 2;

	n = v4(pkt, ZT_IP_TCP, "100.64.0.7", "10.0.6.20", 443, 60);
	assert_int_equal(zt_tunfilter_check(&f, pkt, n, &p), ZT_TUN_PASS);
	assert_int_equal(p.dst.port, 443);
	assert_ptr_equal(f.matched, &routes[0]);
	n = v4(pkt, ZT_IP_ICMP, "100.64.0.7", "10.0.6.20", 0, 28);
	assert_int_equal(zt_tunfilter_check(&f, pkt, n, &p), ZT_TUN_PASS);
	n = v4(pkt, ZT_IP_UDP, "100.64.0.7", "10.0.5.99", 5432, 40);
	assert_int_equal(zt_tunfilter_check(&f, pkt, n, &p), ZT_TUN_PASS);
	assert_ptr_equal(f.matched, &routes[1]); /* the route it goes to names its service */
	/* web on another port: in a route, no rule */
	n = v4(pkt, ZT_IP_TCP, "100.64.0.7", "10.0.6.20", 22, 60);
	assert_int_equal(zt_tunfilter_check(&f, pkt, n, &p), ZT_TUN_DROP_RULE);
	/* a host nobody routed */
	n = v4(pkt, ZT_IP_TCP, "100.64.0.7", "10.0.7.1", 443, 60);
	assert_int_equal(zt_tunfilter_check(&f, pkt, n, &p), ZT_TUN_DROP_NO_ROUTE);
	/* another agent's address, or anything else, as the source */
	n = v4(pkt, ZT_IP_TCP, "100.64.0.8", "10.0.6.20", 443, 60);
	assert_int_equal(zt_tunfilter_check(&f, pkt, n, &p), ZT_TUN_DROP_SPOOFED);
	/* over the MTU */
	n = v4(pkt, ZT_IP_UDP, "100.64.0.7", "10.0.5.99", 53, 1400);
	assert_int_equal(zt_tunfilter_check(&f, pkt, n, &p), ZT_TUN_DROP_TOO_BIG);
	/* not a packet */
	memset(pkt, 0xff, 64);
	assert_int_equal(zt_tunfilter_check(&f, pkt, 64, &p), ZT_TUN_DROP_MALFORMED);
	/* IPv6: the agent's v6 address, but no v6 route */
	n = v6(pkt, "fd7a::7", "2001:db8::1", 53);
	assert_int_equal(zt_tunfilter_check(&f, pkt, n, &p), ZT_TUN_DROP_NO_ROUTE);
	n = v6(pkt, "fd7a::8", "2001:db8::1", 53);
	assert_int_equal(zt_tunfilter_check(&f, pkt, n, &p), ZT_TUN_DROP_SPOOFED);

	assert_int_equal(f.passed, 3);
	assert_int_equal(f.dropped[ZT_TUN_DROP_RULE], 1);
	assert_int_equal(f.dropped[ZT_TUN_DROP_NO_ROUTE], 2);
	assert_int_equal(f.dropped[ZT_TUN_DROP_SPOOFED], 2);
	assert_int_equal(f.dropped[ZT_TUN_DROP_TOO_BIG], 1);
	assert_int_equal(f.dropped[ZT_TUN_DROP_MALFORMED], 1);
	assert_string_equal(zt_tun_drop_name(ZT_TUN_DROP_NO_ROUTE), "no-route");
}

/* An agent without a v6 tunnel address sends no v6 packet. */
static void no_address_no_packets(void **state)
{
	struct zt_route r;
	struct zt_tunfilter f = { .mtu = 1362 };
	struct zt_ippkt p;
	uint8_t pkt[64];
	(void)state;

	assert_int_equal(zt_route_parse(&r, "all=::/0"), 0);
	f.routes = &r;
	f.nroutes = 1;
	assert_int_equal(zt_tunfilter_check(&f, pkt, v6(pkt, "::", "2001:db8::1", 53), &p),
			 ZT_TUN_DROP_SPOOFED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(judges_and_counts),
		cmocka_unit_test(no_address_no_packets),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
