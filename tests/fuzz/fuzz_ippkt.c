/*
 * libFuzzer target: the packet tunnel's IP packet parser and what works on its result
 * (core/ippkt.h), and the routed-service grammar with its per-packet check
 * (core/route.h).
 *
 * The input's first byte chooses: even, an IP packet (the rest, an exact-size copy):
 * a packet that parses has its offsets inside it; its too-big and prohibited answers
 * parse back as ICMP errors to its source with checksums right; an MSS clamp keeps the TCP checksum
 * right and the packet parsing the same. Odd, a route line (NUL-terminated copy): one
 * that parses formats, parses back to the same, and formats the same again; then it
 * judges a packet made from the line's bytes without harm. A packet that parses also
 * goes through the per-packet check (core/tunfilter.h), counted exactly once.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/err.h"
#include "core/ippkt.h"
#include "core/route.h"
#include "core/tunfilter.h"
#include "fuzzcheck.h"

static void too_big(const struct zt_ippkt *p, const uint8_t *pkt)
{
	static uint8_t out[1400];
	struct zt_addr from;
	struct zt_ippkt q;
	int n;

	zt_addr_parse(&from, p->family == AF_INET ? "100.64.0.1" : "fd00::1", 0);
	for (int kind = 0; kind < 2; kind++) {
		n = kind ? zt_ippkt_prohibited(out, sizeof(out), p, pkt, &from)
			 : zt_ippkt_too_big(out, sizeof(out), p, pkt,
					    p->family == AF_INET ? 576 : 1280, &from);
		check(n >= 0);
		if (n == 0)
			continue;
		check(zt_ippkt_parse(&q, out, (size_t)n) == 0);
		check(q.len == (size_t)n && zt_ippkt_is_icmp_error(&q));
		check(zt_addr_ip_equal(&q.dst, &p->src) && zt_addr_ip_equal(&q.src, &from));
		if (q.family == AF_INET6)
			check(zt_ippkt_l4_sum(out, &q) == 0xffff);
		else
			check(zt_ip_csum_fold(zt_ip_csum_add(0, out + q.hlen, q.len - q.hlen)) ==
			      0xffff);
	}
}

/* The per-packet check on a packet that parsed: never malformed, counted once. */
static void filter(const struct zt_ippkt *p, const uint8_t *pkt, size_t size)
{
	struct zt_route r;
	struct zt_tunfilter f = { .mtu = 1362 };
	struct zt_ippkt q;
	enum zt_tun_drop d;
	uint64_t n = 0;

	check(zt_route_parse(&r, p->family == AF_INET ? "a=0.0.0.0/1:tcp/1-1000,icmp"
						      : "a=::/0:udp") == 0);
	if (p->family == AF_INET)
		f.self4 = p->src;
	else
		f.self6 = p->src;
	f.routes = &r;
	f.nroutes = 1;
	d = zt_tunfilter_check(&f, pkt, size, &q);
	check(d != ZT_TUN_DROP_MALFORMED && d != ZT_TUN_DROP_SPOOFED);
	for (int i = 0; i < ZT_TUN_DROP_REASONS; i++)
		n += f.dropped[i];
	check(n + f.passed == 1 && (d == ZT_TUN_PASS) == (f.passed == 1));
}

static void packet(const uint8_t *data, size_t size)
{
	uint8_t *buf = malloc(size ? size : 1);
	struct zt_ippkt p, q;
	int rc;

	if (!buf)
		return;
	memcpy(buf, data, size);
	rc = zt_ippkt_parse(&p, buf, size);
	if (rc < 0) {
		check(rc == ZT_ETRUNC || rc == ZT_EMALFORMED);
		goto out;
	}
	check(p.hlen <= p.len && p.len <= size);
	check(p.family == AF_INET || p.family == AF_INET6);
	filter(&p, buf, size);
	too_big(&p, buf);
	rc = zt_ippkt_clamp_mss(buf, &p, 536);
	check(rc == 0 || rc == 1 || rc == ZT_EMALFORMED);
	if (rc == 1) {
		check(zt_ippkt_l4_sum(buf, &p) == 0xffff);
		check(zt_ippkt_parse(&q, buf, size) == 0 && q.len == p.len && q.proto == p.proto);
		check(zt_ippkt_clamp_mss(buf, &p, 536) == 0); /* nothing more to lower */
	}
out:
	free(buf);
}

static void route(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1), out[ZT_ROUTE_STRLEN], again[ZT_ROUTE_STRLEN];
	struct zt_route r, s;
	struct zt_ippkt p = { 0 };
	int rc;

	if (!text)
		return;
	memcpy(text, data, size);
	text[size] = '\0';
	rc = zt_route_parse(&r, text);
	if (rc < 0) {
		check(rc == ZT_ESYNTAX || rc == ZT_ERANGE);
		goto out;
	}
	check(zt_route_format(&r, out, sizeof(out)) > 0);
	check(zt_route_parse(&s, out) == 0 && !memcmp(&r, &s, sizeof(r)));
	check(zt_route_format(&s, again, sizeof(again)) > 0 && !strcmp(out, again));
	p.family = r.prefix.family;
	p.dst = r.prefix;
	p.proto = size ? data[size - 1] : 0;
	p.has_l4 = size & 1;
	p.dst.port = (uint16_t)(size * 257);
	(void)zt_route_allows(&r, &p);
	check(zt_route_contains(&r, &r.prefix));
out:
	free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!size)
		return 0;
	if (data[0] & 1)
		route(data + 1, size - 1);
	else
		packet(data + 1, size - 1);
	return 0;
}
