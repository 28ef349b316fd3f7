#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "core/cand.h"
#include "core/err.h"

/* RFC 8445 s5.1.2.1 by hand: 2^24 = 16777216, 65535 * 256 = 16776960. */
#define PRIO_HOST 2130706431u  /* 126 * 16777216 + 16776960 + 255 */
#define PRIO_PRFLX 1862270975u /* 110 * 16777216 + 16776960 + 255 */
#define PRIO_SRFLX 1694498815u /* 100 * 16777216 + 16776960 + 255 */
#define PRIO_RELAY 16777215u   /*   0 * 16777216 + 16776960 + 255 */

static struct zt_addr addr(const char *text)
{
	struct zt_addr a;

	assert_int_equal(zt_addr_parse(&a, text, 0), 0);
	return a;
}

static struct zt_cand cand(unsigned type, uint32_t prio, const char *a)
{
	struct zt_cand c = { .type = (uint8_t)type, .component = 1, .priority = prio,
			     .foundation = "1", .addr = addr(a) };
	return c;
}

static void priority_rfc_numbers(void **state)
{
	(void)state;
	assert_int_equal(zt_cand_priority(ZT_CAND_HOST, 65535, 1), PRIO_HOST);
	assert_int_equal(zt_cand_priority(ZT_CAND_PRFLX, 65535, 1), PRIO_PRFLX);
	assert_int_equal(zt_cand_priority(ZT_CAND_SRFLX, 65535, 1), PRIO_SRFLX);
	assert_int_equal(zt_cand_priority(ZT_CAND_RELAY, 65535, 1), PRIO_RELAY);
	/* 126 * 16777216 + 0 * 256 + (256 - 2) */
	assert_int_equal(zt_cand_priority(ZT_CAND_HOST, 0, 2), 2113929470u);
	/* 126 * 16777216 + 10 * 256 + 255 */
	assert_int_equal(zt_cand_priority(ZT_CAND_HOST, 10, 1), 2113932031u);
	/* relay, local pref 1, component 256: 0 + 1 * 256 + 0 */
	assert_int_equal(zt_cand_priority(ZT_CAND_RELAY, 1, 256), 256u);
	assert_int_equal(zt_cand_type_pref(ZT_CAND_HOST), 126);
	assert_int_equal(zt_cand_type_pref(ZT_CAND_PRFLX), 110);
	assert_int_equal(zt_cand_type_pref(ZT_CAND_SRFLX), 100);
	assert_int_equal(zt_cand_type_pref(ZT_CAND_RELAY), 0);
}

static void priority_rejects_bad_arguments(void **state)
{
	(void)state;
	assert_int_equal(zt_cand_priority(ZT_CAND_HOST, 65535, 0), 0);
	assert_int_equal(zt_cand_priority(ZT_CAND_HOST, 65535, 257), 0);
	assert_int_equal(zt_cand_priority(4, 65535, 1), 0);
	assert_string_equal(zt_cand_type_name(4), "?");
	assert_string_equal(zt_cand_type_name(ZT_CAND_PRFLX), "prflx");
}

static void foundation_follows_rfc_rules(void **state)
{
	struct zt_addr b1 = addr("192.168.1.10:5000"), b1p = addr("192.168.1.10:6000");
	struct zt_addr b2 = addr("192.168.1.11:5000"), b6 = addr("[2001:db8::10]:5000");
	struct zt_addr s1 = addr("198.51.100.1:3478"), s1p = addr("198.51.100.1:3479");
	struct zt_addr s2 = addr("198.51.100.2:3478");
	struct zt_addr none = { 0 };
	char f1[ZT_CAND_FOUNDATION_MAX + 1], f2[ZT_CAND_FOUNDATION_MAX + 1];

	(void)state;
	assert_int_equal(zt_cand_foundation(f1, ZT_CAND_HOST, &b1, NULL), 8);
	assert_int_equal(strlen(f1), 8);
	assert_int_equal(strspn(f1, "0123456789abcdef"), 8);
	/* same type, same base IP, other port: same foundation */
	zt_cand_foundation(f2, ZT_CAND_HOST, &b1p, NULL);
	assert_string_equal(f1, f2);
	/* a server does not count for host candidates */
	zt_cand_foundation(f2, ZT_CAND_HOST, &b1, &s1);
	assert_string_equal(f1, f2);
	/* other base IP, other family, other type: different */
	zt_cand_foundation(f2, ZT_CAND_HOST, &b2, NULL);
	assert_string_not_equal(f1, f2);
	zt_cand_foundation(f2, ZT_CAND_HOST, &b6, NULL);
	assert_string_not_equal(f1, f2);
	zt_cand_foundation(f2, ZT_CAND_SRFLX, &b1, NULL);
	assert_string_not_equal(f1, f2);
	/* srflx: the server's IP counts, its port does not */
	zt_cand_foundation(f1, ZT_CAND_SRFLX, &b1, &s1);
	zt_cand_foundation(f2, ZT_CAND_SRFLX, &b1p, &s1p);
	assert_string_equal(f1, f2);
	zt_cand_foundation(f2, ZT_CAND_SRFLX, &b1, &s2);
	assert_string_not_equal(f1, f2);
	zt_cand_foundation(f2, ZT_CAND_RELAY, &b1, &s1);
	assert_string_not_equal(f1, f2);
	assert_int_equal(zt_cand_foundation(f1, ZT_CAND_HOST, &none, NULL), -EINVAL);
}

static void base_by_type(void **state)
{
	struct zt_cand h = cand(ZT_CAND_HOST, PRIO_HOST, "10.0.0.1:1");
	struct zt_cand s = cand(ZT_CAND_SRFLX, PRIO_SRFLX, "203.0.113.1:2");
	struct zt_cand r = cand(ZT_CAND_RELAY, PRIO_RELAY, "203.0.113.9:3");

	(void)state;
	s.related = h.addr;
	r.related = s.addr;
	assert_ptr_equal(zt_cand_base(&h), &h.addr);
	assert_ptr_equal(zt_cand_base(&s), &s.related);
	assert_ptr_equal(zt_cand_base(&r), &r.addr);
	s.related = (struct zt_addr){ 0 };
	assert_ptr_equal(zt_cand_base(&s), &s.addr);
}

static void pair_priority_both_roles(void **state)
{
	struct zt_cand host = cand(ZT_CAND_HOST, PRIO_HOST, "10.0.0.1:1");
	struct zt_cand srflx = cand(ZT_CAND_SRFLX, PRIO_SRFLX, "203.0.113.1:2");
	struct zt_cand_pair p;

	(void)state;
	/* G = 2130706431, D = 1694498815: 2^32 * D + 2 * G + 1 */
	assert_true(zt_cand_pair_priority(PRIO_HOST, PRIO_SRFLX) == 7277816997797167103ULL);
	/* G < D: no tie bit */
	assert_true(zt_cand_pair_priority(PRIO_SRFLX, PRIO_HOST) == 7277816997797167102ULL);
	/* G = host, D = relay 16777215: 2^32 * D + 2 * G + 1 */
	assert_true(zt_cand_pair_priority(PRIO_HOST, PRIO_RELAY) == 72057594004373503ULL);
	/* equal priorities: 2^32 * G + 2 * G */
	assert_true(zt_cand_pair_priority(5, 5) == (5ULL << 32) + 10);

	/* the same pair seen from each side: the controlling side's local candidate is G */
	zt_cand_pair_init(&p, &host, &srflx, true);
	assert_true(p.priority == 7277816997797167103ULL);
	zt_cand_pair_init(&p, &host, &srflx, false);
	assert_true(p.priority == 7277816997797167102ULL);
	assert_memory_equal(&p.local, &host, sizeof(host));
	assert_memory_equal(&p.remote, &srflx, sizeof(srflx));
}

static void pairs_sort_highest_first_and_stable(void **state)
{
	struct zt_cand l_host = cand(ZT_CAND_HOST, PRIO_HOST, "10.0.0.1:1");
	struct zt_cand l_srflx = cand(ZT_CAND_SRFLX, PRIO_SRFLX, "203.0.113.1:2");
	struct zt_cand r_host = cand(ZT_CAND_HOST, PRIO_HOST, "10.0.1.1:1");
	struct zt_cand r_host2 = cand(ZT_CAND_HOST, PRIO_HOST, "10.0.1.2:1");
	struct zt_cand r_relay = cand(ZT_CAND_RELAY, PRIO_RELAY, "198.51.100.1:3");
	struct zt_cand_pair in[5], a[5], b[5];
	static const size_t perm[5] = { 3, 0, 4, 2, 1 };

	(void)state;
	zt_cand_pair_init(&in[0], &l_srflx, &r_relay, true);
	zt_cand_pair_init(&in[1], &l_host, &r_host2, true);
	zt_cand_pair_init(&in[2], &l_srflx, &r_host, true);
	zt_cand_pair_init(&in[3], &l_host, &r_host, true);
	zt_cand_pair_init(&in[4], &l_host, &r_relay, true);
	memcpy(a, in, sizeof(a));
	for (size_t i = 0; i < 5; i++)
		b[i] = in[perm[i]];
	zt_cand_pair_sort(a, 5);
	zt_cand_pair_sort(b, 5);
	for (size_t i = 1; i < 5; i++) {
		assert_true(a[i - 1].priority >= a[i].priority);
		assert_true(zt_cand_pair_cmp(&a[i - 1], &a[i]) < 0);
	}
	/* host-host pairs first; of the two, 10.0.1.1 before 10.0.1.2 (address tie-break) */
	assert_memory_equal(&a[0], &in[3], sizeof(a[0]));
	assert_memory_equal(&a[1], &in[1], sizeof(a[0]));
	assert_memory_equal(&a[2], &in[2], sizeof(a[0]));
	assert_memory_equal(&a[3], &in[4], sizeof(a[0]));
	assert_memory_equal(&a[4], &in[0], sizeof(a[0]));
	/* the order does not depend on the input order */
	assert_memory_equal(a, b, sizeof(a));
	assert_int_equal(zt_cand_pair_cmp(&a[0], &a[0]), 0);
	zt_cand_pair_sort(a, 0);
}

static void redundant_pairs_share_base_and_remote(void **state)
{
	struct zt_cand host = cand(ZT_CAND_HOST, PRIO_HOST, "10.0.0.1:5000");
	struct zt_cand srflx = cand(ZT_CAND_SRFLX, PRIO_SRFLX, "203.0.113.1:6000");
	struct zt_cand other = cand(ZT_CAND_HOST, PRIO_HOST, "10.0.0.2:5000");
	struct zt_cand remote = cand(ZT_CAND_HOST, PRIO_HOST, "10.9.9.9:7000");
	struct zt_cand remote2 = cand(ZT_CAND_HOST, PRIO_HOST, "10.9.9.9:7001");
	struct zt_cand_pair a, b;

	(void)state;
	srflx.related = host.addr; /* srflx based on the host candidate */
	zt_cand_pair_init(&a, &host, &remote, true);
	zt_cand_pair_init(&b, &srflx, &remote, true);
	assert_true(zt_cand_pair_redundant(&a, &b));
	zt_cand_pair_init(&b, &srflx, &remote2, true);
	assert_false(zt_cand_pair_redundant(&a, &b));
	zt_cand_pair_init(&b, &other, &remote, true);
	assert_false(zt_cand_pair_redundant(&a, &b));
}

static void text_round_trip_every_type(void **state)
{
	static const char *const lines[] = {
		"candidate:1 1 udp 2130706431 192.168.1.10 50000 typ host",
		"candidate:a1b2c3d4 1 udp 1694498815 203.0.113.7 61000 typ srflx raddr 192.168.1.10 rport 50000",
		"candidate:x+/Z 1 udp 1862270975 198.51.100.3 40001 typ prflx raddr 192.168.1.10 rport 50000",
		"candidate:r1 1 udp 16777215 198.51.100.200 3478 typ relay raddr 203.0.113.7 rport 61000",
		"candidate:1 1 udp 2130706431 2001:db8::10 50000 typ host",
		"candidate:2 1 udp 1694498815 2001:db8:1:2:3:4:5:6 65535 typ srflx raddr fe80::1 rport 50000",
		"candidate:3 256 udp 1862270975 2001:db8::3 1 typ prflx raddr 2001:db8::10 rport 0",
		"candidate:01234567890123456789012345678901 2 udp 1 2001:db8::200 3478 typ relay raddr 0.0.0.0 rport 0",
		"candidate:t1 1 tcp 2130706431 192.168.1.10 40443 typ host tcptype so",
		"candidate:t2 1 tcp 1694498815 203.0.113.7 40443 typ srflx raddr 192.168.1.10 rport 40443 tcptype so",
		"candidate:t3 1 tcp 1694498815 2001:db8:1:2:3:4:5:6 65535 typ srflx raddr 2001:db8:1:2:3:4:5:7 rport 65535 tcptype so",
		"candidate:p1 1 udp 1686110463 203.0.113.7 20001 typ srflx raddr 192.168.1.10 rport 50000 predicted 1",
		"candidate:p2 1 udp 1686110207 203.0.113.7 20064 typ srflx predicted 64",
	};
	char buf[ZT_CAND_STRLEN];
	struct zt_cand c;

	(void)state;
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		assert_int_equal(zt_cand_parse(&c, lines[i], strlen(lines[i])), 0);
		assert_int_equal(zt_cand_format(&c, buf, sizeof(buf)), strlen(lines[i]));
		assert_string_equal(buf, lines[i]);
	}
	assert_int_equal(zt_cand_parse(&c, lines[1], strlen(lines[1])), 0);
	assert_int_equal(c.type, ZT_CAND_SRFLX);
	assert_int_equal(c.component, 1);
	assert_int_equal(c.priority, PRIO_SRFLX);
	assert_string_equal(c.foundation, "a1b2c3d4");
	assert_int_equal(c.addr.family, AF_INET);
	assert_int_equal(c.addr.port, 61000);
	assert_int_equal(c.addr.ip[0], 203);
	assert_int_equal(c.addr.ip[3], 7);
	assert_int_equal(c.related.family, AF_INET);
	assert_int_equal(c.related.port, 50000);
	assert_int_equal(c.related.ip[3], 10);
	assert_int_equal(c.transport, ZT_CAND_UDP);
	assert_int_equal(c.predicted, 0);
	assert_int_equal(zt_cand_parse(&c, lines[11], strlen(lines[11])), 0);
	assert_int_equal(c.predicted, 1);
	assert_int_equal(c.type, ZT_CAND_SRFLX);
	assert_int_equal(c.addr.port, 20001);
	assert_int_equal(zt_cand_parse(&c, lines[9], strlen(lines[9])), 0);
	assert_int_equal(c.transport, ZT_CAND_TCP_SO);
	assert_int_equal(c.type, ZT_CAND_SRFLX);
	assert_int_equal(c.related.port, 40443);
	/* tcptype anywhere among the extensions */
	static const char early[] = "candidate:t2 1 TCP 1 203.0.113.7 40443 typ srflx tcptype so raddr 192.168.1.10 rport 40443 x y";
	assert_int_equal(zt_cand_parse(&c, early, strlen(early)), 0);
	assert_int_equal(c.transport, ZT_CAND_TCP_SO);
	assert_int_equal(c.related.port, 40443);
	c.transport = 2;
	assert_int_equal(zt_cand_check(&c), ZT_ECAND_TRANSPORT);
	assert_int_equal(zt_cand_parse(&c, lines[6], strlen(lines[6])), 0);
	assert_int_equal(c.component, 256);
	assert_int_equal(c.addr.family, AF_INET6);
	assert_int_equal(c.related.port, 0);
}

static void text_accepts_sdp_variants(void **state)
{
	static const char *const variants[] = {
		"a=candidate:1 1 udp 2130706431 192.168.1.10 50000 typ host",
		"1 1 udp 2130706431 192.168.1.10 50000 typ host",
		"a=candidate:1 1 UDP 2130706431 192.168.1.10 50000 TYP HOST\r\n",
		"candidate:1 1 udp 2130706431 192.168.1.10 50000 typ host generation 0 network-id 1",
		"candidate:1  1\tudp 02130706431 192.168.1.10 50000 typ host ufrag abcd",
	};
	static const char want[] = "candidate:1 1 udp 2130706431 192.168.1.10 50000 typ host";
	char buf[ZT_CAND_STRLEN];
	struct zt_cand c;

	(void)state;
	for (size_t i = 0; i < sizeof(variants) / sizeof(variants[0]); i++) {
		assert_int_equal(zt_cand_parse(&c, variants[i], strlen(variants[i])), 0);
		assert_int_equal(zt_cand_format(&c, buf, sizeof(buf)), strlen(want));
		assert_string_equal(buf, want);
	}
	/* extensions after the related address are ignored too */
	static const char ext[] =
		"candidate:2 1 udp 1694498815 203.0.113.7 61000 typ srflx raddr 10.0.0.1 rport 9 generation 3";
	assert_int_equal(zt_cand_parse(&c, ext, strlen(ext)), 0);
	assert_int_equal(c.related.port, 9);
	/* the length bounds the parse: a prefix of a longer buffer is a line of its own */
	assert_int_equal(zt_cand_parse(&c, want, strlen(want) - 5), ZT_ESYNTAX); /* "typ" cut */
}

/* A peer naming ::ffff:a.b.c.d names a.b.c.d: one form for pairing (same family,
 * RFC 8445 s6.1.2.2), the check budgets and what we send (core/addr.h). */
static void text_unmaps_v4_mapped(void **state)
{
	static const char line[] =
		"candidate:1 1 udp 2130706431 ::ffff:192.0.2.9 50000 typ srflx raddr ::ffff:10.0.0.1 rport 9";
	struct zt_cand c;
	char buf[ZT_CAND_STRLEN];

	(void)state;
	assert_int_equal(zt_cand_parse(&c, line, strlen(line)), 0);
	assert_int_equal(c.addr.family, AF_INET);
	assert_int_equal(c.related.family, AF_INET);
	assert_true(zt_cand_format(&c, buf, sizeof(buf)) > 0);
	assert_non_null(strstr(buf, " 192.0.2.9 50000 typ srflx raddr 10.0.0.1 rport 9"));
}

static void text_rejects_bad_lines(void **state)
{
	static const struct {
		const char *line;
		int rc;
	} bad[] = {
		{ "", ZT_ESYNTAX },
		{ "candidate:", ZT_ESYNTAX },
		{ "a=1 1 udp 2130706431 192.168.1.10 50000 typ host", ZT_ESYNTAX },
		{ "candidate:1 1 udp 2130706431 192.168.1.10 50000 typ cool", ZT_ECAND_TYPE },
		{ "candidate:1 1 tcp 2130706431 192.168.1.10 50000 typ host tcptype active", ZT_ECAND_TRANSPORT },
		{ "candidate:1 1 tcp 2130706431 192.168.1.10 50000 typ host tcptype passive", ZT_ECAND_TRANSPORT },
		{ "candidate:1 1 tcp 2130706431 192.168.1.10 50000 typ host", ZT_ECAND_TRANSPORT },
		{ "candidate:1 1 udp 2130706431 192.168.1.10 50000 typ host tcptype so", ZT_ECAND_TRANSPORT },
		{ "candidate:1 1 tcp 2130706431 192.168.1.10 50000 typ host tcptype", ZT_ESYNTAX },
		{ "candidate:1 1 dtls 2130706431 192.168.1.10 50000 typ host", ZT_ECAND_TRANSPORT },
		{ "candidate:1 1 udp 2130706431 192.168.1.10 50000 typ", ZT_ESYNTAX },
		{ "candidate:1 1 udp 2130706431 192.168.1.10 50000 host", ZT_ESYNTAX },
		{ "candidate:1 1 udp 2130706431 192.168.1.10 50000", ZT_ESYNTAX },
		{ "candidate:1 1 udp 2130706431 192.168.1.10", ZT_ESYNTAX },
		{ "candidate:1 1 udp 2130706431", ZT_ESYNTAX },
		{ "candidate:1 1 udp", ZT_ESYNTAX },
		{ "candidate:1 1", ZT_ESYNTAX },
		{ "candidate:1", ZT_ESYNTAX },
		{ "candidate:1 1 udp 0 192.168.1.10 50000 typ host", ZT_ERANGE },
		{ "candidate:1 1 udp 2147483648 192.168.1.10 50000 typ host", ZT_ERANGE },
		{ "candidate:1 1 udp 99999999999999999999999999 192.168.1.10 50000 typ host", ZT_ERANGE },
		{ "candidate:1 1 udp 2147483647x 192.168.1.10 50000 typ host", ZT_ESYNTAX },
		{ "candidate:1 1 udp -1 192.168.1.10 50000 typ host", ZT_ESYNTAX },
		{ "candidate:1 0 udp 1 192.168.1.10 50000 typ host", ZT_ERANGE },
		{ "candidate:1 257 udp 1 192.168.1.10 50000 typ host", ZT_ERANGE },
		{ "candidate:1 1 udp 1 192.168.1.10 65536 typ host", ZT_ERANGE },
		{ "candidate:1 1 udp 1 192.168.1.10 0 typ host", ZT_ERANGE },
		{ "candidate:1 1 udp 1 192.168.1.256 1 typ host", ZT_ESYNTAX },
		{ "candidate:1 1 udp 1 host.example 1 typ host", ZT_ESYNTAX },
		{ "candidate:1 1 udp 1 [2001:db8::1] 1 typ host", ZT_ESYNTAX },
		{ "candidate:1 1 udp 1 2001:db8::1%eth0 1 typ host", ZT_ESYNTAX },
		{ "candidate:1 1 udp 1 2001:db8:0000:0000:0000:0000:0000:0000:1 1 typ host", ZT_ESYNTAX },
		{ "candidate:f_o 1 udp 1 10.0.0.1 1 typ host", ZT_ESYNTAX },
		{ "candidate:012345678901234567890123456789012 1 udp 1 10.0.0.1 1 typ host", ZT_ESYNTAX },
		{ "candidate:1 1 udp 1 10.0.0.1 1 typ srflx raddr 10.0.0.2", ZT_ESYNTAX },
		{ "candidate:1 1 udp 1 10.0.0.1 1 typ srflx raddr 10.0.0.2 port 5", ZT_ESYNTAX },
		{ "candidate:1 1 udp 1 10.0.0.1 1 typ srflx raddr 10.0.0.2 rport", ZT_ESYNTAX },
		{ "candidate:1 1 udp 1 10.0.0.1 1 typ srflx raddr 10.0.0.2 rport 65536", ZT_ERANGE },
		{ "candidate:1 1 udp 1 10.0.0.1 1 typ srflx raddr nowhere rport 5", ZT_ESYNTAX },
		{ "candidate:1 1 udp 1 10.0.0.1 1 typ srflx rport 5", ZT_ESYNTAX },
		{ "candidate:1 1 udp 1 10.0.0.1 1 typ host generation", ZT_ESYNTAX },
		/* predicted: srflx, UDP, 1..64 */
		{ "candidate:1 1 udp 1 10.0.0.1 1 typ host predicted 1", ZT_ECAND_TYPE },
		{ "candidate:1 1 udp 1 10.0.0.1 1 typ prflx predicted 1", ZT_ECAND_TYPE },
		{ "candidate:1 1 tcp 1 10.0.0.1 1 typ srflx tcptype so predicted 1", ZT_ECAND_TRANSPORT },
		{ "candidate:1 1 udp 1 10.0.0.1 1 typ srflx predicted 0", ZT_ERANGE },
		{ "candidate:1 1 udp 1 10.0.0.1 1 typ srflx predicted 65", ZT_ERANGE },
		{ "candidate:1 1 udp 1 10.0.0.1 1 typ srflx predicted x", ZT_ESYNTAX },
		{ "candidate:1 1 udp 1 10.0.0.1 1 typ srflx predicted", ZT_ESYNTAX },
	};
	struct zt_cand c = { .priority = 77 };
	struct zt_cand before = c;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = zt_cand_parse(&c, bad[i].line, strlen(bad[i].line));

		if (rc != bad[i].rc)
			print_error("line %zu: \"%s\" gave %d, want %d\n", i, bad[i].line, rc,
				    bad[i].rc);
		assert_int_equal(rc, bad[i].rc);
		assert_memory_equal(&c, &before, sizeof(c));
	}
	/* an embedded NUL is not the end of the line */
	static const char nul[] = "candidate:1 1 udp 1 10.0.0.1\0junk 1 typ host";
	assert_int_equal(zt_cand_parse(&c, nul, sizeof(nul) - 1), ZT_ESYNTAX);
}

static void format_checks_candidate_and_space(void **state)
{
	struct zt_cand c = cand(ZT_CAND_SRFLX, PRIO_SRFLX, "[2001:db8::1]:1");
	static const char want[] = "candidate:1 1 udp 1694498815 2001:db8::1 1 typ srflx";
	char buf[ZT_CAND_STRLEN];

	(void)state;
	assert_int_equal(zt_cand_format(&c, buf, sizeof(want) - 1), -ENOBUFS);
	assert_int_equal(zt_cand_format(&c, buf, sizeof(want)), sizeof(want) - 1);
	assert_string_equal(buf, want);
	c.priority = 0;
	assert_int_equal(zt_cand_format(&c, buf, sizeof(buf)), ZT_ERANGE);
	c.priority = 1;
	c.type = 9;
	assert_int_equal(zt_cand_format(&c, buf, sizeof(buf)), ZT_ECAND_TYPE);
	c.type = ZT_CAND_HOST;
	memset(c.foundation, 'a', sizeof(c.foundation)); /* not NUL-terminated */
	assert_int_equal(zt_cand_format(&c, buf, sizeof(buf)), ZT_ESYNTAX);
	strcpy(c.foundation, "ok");
	c.related.family = 99;
	assert_int_equal(zt_cand_format(&c, buf, sizeof(buf)), ZT_EMALFORMED);
	c.related.family = 0;
	c.addr.family = 0;
	assert_int_equal(zt_cand_format(&c, buf, sizeof(buf)), ZT_EMALFORMED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(priority_rfc_numbers),
		cmocka_unit_test(priority_rejects_bad_arguments),
		cmocka_unit_test(foundation_follows_rfc_rules),
		cmocka_unit_test(base_by_type),
		cmocka_unit_test(pair_priority_both_roles),
		cmocka_unit_test(pairs_sort_highest_first_and_stable),
		cmocka_unit_test(redundant_pairs_share_base_and_remote),
		cmocka_unit_test(text_round_trip_every_type),
		cmocka_unit_test(text_accepts_sdp_variants),
		cmocka_unit_test(text_unmaps_v4_mapped),
		cmocka_unit_test(text_rejects_bad_lines),
		cmocka_unit_test(format_checks_candidate_and_space),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
