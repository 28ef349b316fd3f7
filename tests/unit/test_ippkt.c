/* IP packets for the packet tunnel (core/ippkt.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "core/err.h"
#include "core/ippkt.h"

static void put16(uint8_t *p, unsigned v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* An IPv4 packet: header (checksum right), then payload; returns its length. */
static size_t v4(uint8_t *b, uint8_t proto, const char *src, const char *dst,
		 const uint8_t *payload, size_t plen, unsigned frag)
{
	memset(b, 0, 20);
	b[0] = 0x45;
	put16(b + 2, (unsigned)(20 + plen));
	put16(b + 6, frag);
	b[8] = 64;
	b[9] = proto;
	inet_pton(AF_INET, src, b + 12);
	inet_pton(AF_INET, dst, b + 16);
	put16(b + 10, (uint16_t)~zt_ip_csum_fold(zt_ip_csum_add(0, b, 20)));
	memcpy(b + 20, payload, plen);
	return 20 + plen;
}

static size_t v6(uint8_t *b, uint8_t next, const char *src, const char *dst,
		 const uint8_t *payload, size_t plen)
{
	memset(b, 0, 40);
	b[0] = 0x60;
	put16(b + 4, (unsigned)plen);
	b[6] = next;
	b[7] = 64;
	inet_pton(AF_INET6, src, b + 8);
	inet_pton(AF_INET6, dst, b + 24);
	memcpy(b + 40, payload, plen);
	return 40 + plen;
}

/* A TCP header (20 bytes + options) to dport, SYN when syn. */
static size_t tcp_hdr(uint8_t *t, unsigned sport, unsigned dport, bool syn, const uint8_t *opts,
		      size_t olen)
{
	memset(t, 0, 20);
	put16(t, sport);
	put16(t + 2, dport);
	t[12] = (uint8_t)(((20 + olen) / 4) << 4);
	t[13] = syn ? 0x02 : 0x10;
	if (olen)
		memcpy(t + 20, opts, olen);
	return 20 + olen;
}

static void v4_tcp_udp_icmp(void **state)
{
	uint8_t pkt[256], l4[64], extra[4] = { 1, 2, 3, 4 };
	struct zt_ippkt p;
	size_t n;
	(void)state;

	n = v4(pkt, ZT_IP_TCP, "10.0.0.1", "10.0.5.20", l4, tcp_hdr(l4, 40000, 443, true, NULL, 0), 0x4000);
	memcpy(pkt + n, extra, 4); /* bytes after the total length: ignored */
	assert_int_equal(zt_ippkt_parse(&p, pkt, n + 4), 0);
	assert_int_equal(p.family, AF_INET);
	assert_int_equal(p.proto, ZT_IP_TCP);
	assert_int_equal(p.len, n);
	assert_int_equal(p.hlen, 20);
	assert_int_equal(p.src.port, 40000);
	assert_int_equal(p.dst.port, 443);
	assert_true(p.df && p.has_l4 && !p.fragment);
	assert_int_equal(p.dst.ip[3], 20);
	n = v4(pkt, ZT_IP_UDP, "10.0.0.1", "10.0.5.20", (uint8_t[8]){ 0x12, 0x34, 0, 53 }, 8, 0);
	assert_int_equal(zt_ippkt_parse(&p, pkt, n), 0);
	assert_int_equal(p.dst.port, 53);
	assert_false(p.df);
	n = v4(pkt, ZT_IP_ICMP, "10.0.0.1", "10.0.5.20", (uint8_t[8]){ 8, 0 }, 8, 0);
	assert_int_equal(zt_ippkt_parse(&p, pkt, n), 0);
	assert_int_equal(p.icmp_type, 8);
	assert_false(zt_ippkt_is_icmp_error(&p));
	n = v4(pkt, ZT_IP_ICMP, "10.0.0.1", "10.0.5.20", (uint8_t[8]){ 3, 4 }, 8, 0);
	assert_int_equal(zt_ippkt_parse(&p, pkt, n), 0);
	assert_true(zt_ippkt_is_icmp_error(&p));
}

static void v4_bad_input(void **state)
{
	uint8_t pkt[256], l4[64];
	struct zt_ippkt p;
	size_t n = v4(pkt, ZT_IP_TCP, "10.0.0.1", "10.0.5.20", l4, tcp_hdr(l4, 1, 2, false, NULL, 0), 0);
	(void)state;

	for (size_t k = 0; k < n; k++) /* every shorter prefix is refused */
		assert_true(zt_ippkt_parse(&p, pkt, k) < 0);
	pkt[10] ^= 1; /* header checksum */
	assert_int_equal(zt_ippkt_parse(&p, pkt, n), ZT_EMALFORMED);
	pkt[10] ^= 1;
	pkt[0] = 0x44; /* IHL 16 */
	assert_int_equal(zt_ippkt_parse(&p, pkt, n), ZT_EMALFORMED);
	pkt[0] = 0x55; /* version 5 */
	assert_int_equal(zt_ippkt_parse(&p, pkt, n), ZT_EMALFORMED);
	/* a first fragment that splits the TCP header (RFC 1858) */
	n = v4(pkt, ZT_IP_TCP, "10.0.0.1", "10.0.5.20", l4, 8, 0x2000);
	assert_int_equal(zt_ippkt_parse(&p, pkt, n), ZT_EMALFORMED);
	/* a later fragment: no ports, accepted */
	n = v4(pkt, ZT_IP_TCP, "10.0.0.1", "10.0.5.20", l4, 8, 0x0010);
	assert_int_equal(zt_ippkt_parse(&p, pkt, n), 0);
	assert_true(p.fragment && !p.has_l4);
	assert_int_equal(p.dst.port, 0);
	/* total length below the header */
	n = v4(pkt, ZT_IP_UDP, "10.0.0.1", "10.0.5.20", l4, 8, 0);
	put16(pkt + 2, 10);
	put16(pkt + 10, 0);
	put16(pkt + 10, (uint16_t)~zt_ip_csum_fold(zt_ip_csum_add(0, pkt, 20)));
	assert_int_equal(zt_ippkt_parse(&p, pkt, n), ZT_EMALFORMED);
}

/* IPv6 through hop-by-hop and destination options to UDP; a fragment header; too
 * many extension headers; ICMPv6. */
static void v6_extension_headers(void **state)
{
	uint8_t pkt[512], pl[256] = { 0 };
	struct zt_ippkt p;
	size_t n;
	(void)state;

	pl[0] = 60;  /* hop-by-hop (8 bytes), next: destination options */
	pl[8] = 17;  /* destination options (8 bytes), next: UDP */
	put16(pl + 16, 5353);
	put16(pl + 18, 53);
	n = v6(pkt, 0, "2001:db8::1", "2001:db8:5::20", pl, 24);
	assert_int_equal(zt_ippkt_parse(&p, pkt, n), 0);
	assert_int_equal(p.proto, ZT_IP_UDP);
	assert_int_equal(p.hlen, 56);
	assert_int_equal(p.dst.port, 53);
	assert_true(p.df);
	/* a later fragment */
	memset(pl, 0, sizeof(pl));
	pl[0] = 6;
	put16(pl + 2, 8 << 3);
	n = v6(pkt, 44, "2001:db8::1", "2001:db8:5::20", pl, 16);
	assert_int_equal(zt_ippkt_parse(&p, pkt, n), 0);
	assert_true(p.fragment && !p.has_l4);
	assert_int_equal(p.proto, ZT_IP_TCP);
	/* nine destination-options headers */
	memset(pl, 0, sizeof(pl));
	for (int i = 0; i < 9; i++)
		pl[8 * i] = i < 8 ? 60 : 59;
	n = v6(pkt, 60, "2001:db8::1", "2001:db8:5::20", pl, 72);
	assert_int_equal(zt_ippkt_parse(&p, pkt, n), ZT_EMALFORMED);
	/* an extension header running past the payload */
	pl[0] = 17;
	pl[1] = 3;
	n = v6(pkt, 60, "2001:db8::1", "2001:db8:5::20", pl, 16);
	assert_int_equal(zt_ippkt_parse(&p, pkt, n), ZT_EMALFORMED);
	/* ICMPv6 echo request, and an ICMPv6 error */
	n = v6(pkt, ZT_IP_ICMPV6, "2001:db8::1", "2001:db8:5::20", (uint8_t[8]){ 128 }, 8);
	assert_int_equal(zt_ippkt_parse(&p, pkt, n), 0);
	assert_false(zt_ippkt_is_icmp_error(&p));
	n = v6(pkt, ZT_IP_ICMPV6, "2001:db8::1", "2001:db8:5::20", (uint8_t[8]){ 1 }, 8);
	assert_int_equal(zt_ippkt_parse(&p, pkt, n), 0);
	assert_true(zt_ippkt_is_icmp_error(&p));
	/* payload length past the buffer */
	assert_int_equal(zt_ippkt_parse(&p, pkt, n - 1), ZT_ETRUNC);
}

/* The too-big answers: to the sender, from the tunnel address, the MTU in them, the
 * checksums right, the offending packet quoted; none for errors or without DF. */
static void too_big_answers(void **state)
{
	static uint8_t pkt[1600], pl[1600], out[1400];
	uint8_t l4[64];
	struct zt_ippkt p, q;
	struct zt_addr from4, from6;
	int n;
	size_t len;
	(void)state;

	assert_int_equal(zt_addr_parse(&from4, "100.64.0.1", 0), 0);
	assert_int_equal(zt_addr_parse(&from6, "fd00::1", 0), 0);
	len = tcp_hdr(l4, 40000, 80, false, NULL, 0);
	memcpy(pl, l4, len);
	len = v4(pkt, ZT_IP_TCP, "10.0.0.1", "10.0.5.20", pl, 1480, 0x4000);
	assert_int_equal(zt_ippkt_parse(&p, pkt, len), 0);
	n = zt_ippkt_too_big(out, sizeof(out), &p, pkt, 1411, &from4);
	assert_int_equal(n, 576);
	assert_int_equal(zt_ippkt_parse(&q, out, (size_t)n), 0);
	assert_int_equal(q.proto, ZT_IP_ICMP);
	assert_int_equal(q.icmp_type, 3);
	assert_int_equal(q.icmp_code, 4);
	assert_true(zt_ippkt_is_icmp_error(&q));
	assert_true(zt_addr_ip_equal(&q.dst, &p.src));
	assert_true(zt_addr_ip_equal(&q.src, &from4));
	assert_int_equal(out[26] << 8 | out[27], 1411);
	assert_int_equal(zt_ip_csum_fold(zt_ip_csum_add(0, out + 20, (size_t)n - 20)), 0xffff);
	assert_memory_equal(out + 28, pkt, 48);
	assert_int_equal(zt_ippkt_too_big(out, 100, &p, pkt, 1411, &from4), -ENOSPC);
	assert_int_equal(zt_ippkt_too_big(out, sizeof(out), &p, pkt, 40, &from4), -EINVAL);
	assert_int_equal(zt_ippkt_too_big(out, sizeof(out), &p, pkt, 1411, &from6), -EINVAL);
	assert_int_equal(zt_ippkt_too_big(out, sizeof(out), &q, out, 500, &from4), 0);
	pkt[6] = 0; /* no DF: fragmented, not answered */
	put16(pkt + 10, 0);
	put16(pkt + 10, (uint16_t)~zt_ip_csum_fold(zt_ip_csum_add(0, pkt, 20)));
	assert_int_equal(zt_ippkt_parse(&p, pkt, len), 0);
	assert_int_equal(zt_ippkt_too_big(out, sizeof(out), &p, pkt, 1411, &from4), 0);
	/* IPv6 */
	memset(pl, 0, sizeof(pl));
	put16(pl, 1);
	put16(pl + 2, 2);
	len = v6(pkt, ZT_IP_UDP, "2001:db8::1", "2001:db8:5::20", pl, 1452);
	assert_int_equal(zt_ippkt_parse(&p, pkt, len), 0);
	n = zt_ippkt_too_big(out, sizeof(out), &p, pkt, 1280, &from6);
	assert_int_equal(n, 1280);
	assert_int_equal(zt_ippkt_parse(&q, out, (size_t)n), 0);
	assert_int_equal(q.icmp_type, 2);
	assert_int_equal(out[44] << 24 | out[45] << 16 | out[46] << 8 | out[47], 1280);
	assert_int_equal(zt_ippkt_l4_sum(out, &q), 0xffff);
	assert_memory_equal(out + 48, pkt, 40);
	/* an IPv6 packet from an IPv4-mapped address: its addresses stay IPv6 (the
	 * socket-address unmapping of zt_addr_set_v6 does not apply to packets), and the
	 * answer goes back to it (fuzz_ippkt found the mismatch) */
	len = v6(pkt, ZT_IP_UDP, "::ffff:10.0.0.65", "2001:db8:5::20", pl, 1452);
	assert_int_equal(zt_ippkt_parse(&p, pkt, len), 0);
	assert_int_equal(p.src.family, AF_INET6);
	n = zt_ippkt_too_big(out, sizeof(out), &p, pkt, 1280, &from6);
	assert_int_equal(n, 1280);
	assert_int_equal(zt_ippkt_parse(&q, out, (size_t)n), 0);
	assert_true(zt_addr_ip_equal(&q.dst, &p.src));
	assert_true(zt_addr_ip_equal(&q.src, &from6));
}

/* A packet a policy refuses is answered "administratively prohibited", v4 and v6;
 * never an ICMP error, with or without DF. */
static void prohibited_answers(void **state)
{
	static uint8_t pkt[1600], pl[1600], out[1400];
	uint8_t l4[64];
	struct zt_ippkt p, q;
	struct zt_addr from4, from6;
	int n;
	size_t len;
	(void)state;

	assert_int_equal(zt_addr_parse(&from4, "10.0.5.20", 0), 0);
	assert_int_equal(zt_addr_parse(&from6, "2001:db8:5::20", 0), 0);
	len = tcp_hdr(l4, 40000, 22, true, NULL, 0);
	memcpy(pl, l4, len);
	len = v4(pkt, ZT_IP_TCP, "100.64.0.7", "10.0.5.20", pl, 60, 0);
	assert_int_equal(zt_ippkt_parse(&p, pkt, len), 0);
	n = zt_ippkt_prohibited(out, sizeof(out), &p, pkt, &from4);
	assert_int_equal(n, 20 + 8 + (int)len);
	assert_int_equal(zt_ippkt_parse(&q, out, (size_t)n), 0);
	assert_int_equal(q.icmp_type, 3);
	assert_int_equal(q.icmp_code, 13);
	assert_true(zt_addr_ip_equal(&q.dst, &p.src));
	assert_true(zt_addr_ip_equal(&q.src, &from4));
	assert_int_equal(zt_ip_csum_fold(zt_ip_csum_add(0, out + 20, (size_t)n - 20)), 0xffff);
	assert_memory_equal(out + 28, pkt, len);
	assert_int_equal(zt_ippkt_prohibited(out, sizeof(out), &q, out, &from4), 0);
	assert_int_equal(zt_ippkt_prohibited(out, 50, &p, pkt, &from4), -ENOSPC);
	assert_int_equal(zt_ippkt_prohibited(out, sizeof(out), &p, pkt, &from6), -EINVAL);
	memset(pl, 0, sizeof(pl));
	len = v6(pkt, ZT_IP_UDP, "fd7a::7", "2001:db8:5::20", pl, 48);
	assert_int_equal(zt_ippkt_parse(&p, pkt, len), 0);
	n = zt_ippkt_prohibited(out, sizeof(out), &p, pkt, &from6);
	assert_int_equal(n, 40 + 8 + (int)len);
	assert_int_equal(zt_ippkt_parse(&q, out, (size_t)n), 0);
	assert_int_equal(q.icmp_type, 1);
	assert_int_equal(q.icmp_code, 1);
	assert_int_equal(zt_ippkt_l4_sum(out, &q), 0xffff);
}

static void mss_is_clamped(void **state)
{
	uint8_t pkt[256], l4[64];
	uint8_t opts[12] = { 1, 1, 4, 2, 2, 4, 0x05, 0xb4, 1, 3, 3, 7 }; /* NOP NOP SACKOK MSS=1460 NOP WS */
	struct zt_ippkt p;
	size_t n;
	(void)state;

	n = v4(pkt, ZT_IP_TCP, "10.0.0.1", "10.0.5.20", l4, tcp_hdr(l4, 40000, 443, true, opts, 12), 0x4000);
	assert_int_equal(zt_ippkt_parse(&p, pkt, n), 0);
	assert_int_equal(zt_ippkt_clamp_mss(pkt, &p, 1371), 1);
	assert_int_equal(pkt[20 + 26] << 8 | pkt[20 + 27], 1371);
	assert_int_equal(zt_ippkt_l4_sum(pkt, &p), 0xffff);
	assert_int_equal(zt_ippkt_clamp_mss(pkt, &p, 1400), 0); /* already below */
	/* not a SYN */
	n = v4(pkt, ZT_IP_TCP, "10.0.0.1", "10.0.5.20", l4, tcp_hdr(l4, 40000, 443, false, opts, 12), 0);
	assert_int_equal(zt_ippkt_parse(&p, pkt, n), 0);
	assert_int_equal(zt_ippkt_clamp_mss(pkt, &p, 1000), 0);
	/* IPv6 */
	n = v6(pkt, ZT_IP_TCP, "2001:db8::1", "2001:db8:5::20", l4, tcp_hdr(l4, 1, 22, true, opts, 12));
	assert_int_equal(zt_ippkt_parse(&p, pkt, n), 0);
	assert_int_equal(zt_ippkt_clamp_mss(pkt, &p, 1351), 1);
	assert_int_equal(zt_ippkt_l4_sum(pkt, &p), 0xffff);
	/* an option that runs past the header */
	opts[10] = 9; /* the window-scale option runs past the header */
	n = v4(pkt, ZT_IP_TCP, "10.0.0.1", "10.0.5.20", l4, tcp_hdr(l4, 1, 2, true, opts, 12), 0);
	assert_int_equal(zt_ippkt_parse(&p, pkt, n), 0);
	assert_int_equal(zt_ippkt_clamp_mss(pkt, &p, 1000), ZT_EMALFORMED);
	assert_int_equal(pkt[20 + 26] << 8 | pkt[20 + 27], 1460); /* nothing changed */
	/* two MSS options (found by fuzz_ippkt): both lowered */
	memcpy(opts, (uint8_t[12]){ 2, 4, 0x21, 0, 1, 1, 2, 4, 0xed, 0xed, 0, 0 }, 12);
	n = v4(pkt, ZT_IP_TCP, "10.0.0.1", "10.0.5.20", l4, tcp_hdr(l4, 1, 2, true, opts, 12), 0);
	assert_int_equal(zt_ippkt_parse(&p, pkt, n), 0);
	assert_int_equal(zt_ippkt_clamp_mss(pkt, &p, 536), 1);
	assert_int_equal(pkt[20 + 22] << 8 | pkt[20 + 23], 536);
	assert_int_equal(pkt[20 + 28] << 8 | pkt[20 + 29], 536);
	assert_int_equal(zt_ippkt_l4_sum(pkt, &p), 0xffff);
	assert_int_equal(zt_ippkt_clamp_mss(pkt, &p, 536), 0);
	memcpy(opts, (uint8_t[12]){ 1, 1, 4, 2, 2, 4, 0x05, 0xb4, 1, 3, 3, 7 }, 12);
	opts[4] = 9; opts[5] = 40;
	n = v4(pkt, ZT_IP_TCP, "10.0.0.1", "10.0.5.20", l4, tcp_hdr(l4, 1, 2, true, opts, 12), 0);
	assert_int_equal(zt_ippkt_parse(&p, pkt, n), 0);
	assert_int_equal(zt_ippkt_clamp_mss(pkt, &p, 1000), ZT_EMALFORMED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(v4_tcp_udp_icmp),
		cmocka_unit_test(v4_bad_input),
		cmocka_unit_test(v6_extension_headers),
		cmocka_unit_test(too_big_answers),
		cmocka_unit_test(prohibited_answers),
		cmocka_unit_test(mss_is_clamped),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
