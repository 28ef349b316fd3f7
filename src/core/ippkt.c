/* IP packets for the packet tunnel (ippkt.h). */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "core/err.h"
#include "core/ippkt.h"

#define V4_HLEN 20
#define V6_HLEN 40
#define ICMP_HLEN 8
#define V4_ERR_MAX 576   /* RFC 1812 s4.3.2.3: an ICMP error fits 576 bytes */
#define V6_ERR_MAX 1280  /* RFC 4443 s2.4(c): the IPv6 minimum MTU */

static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void put16(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

uint32_t zt_ip_csum_add(uint32_t sum, const uint8_t *buf, size_t len)
{
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += be16(buf + i);
	if (i < len)
		sum += (uint32_t)buf[i] << 8;
	return sum;
}

uint16_t zt_ip_csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

static void set_addr(struct zt_addr *a, int family, const uint8_t *ip)
{
	if (family == AF_INET) {
		zt_addr_set_v4(a, ip, 0);
		return;
	}
	/* as the packet has it: an IPv6 packet's IPv4-mapped address stays an IPv6 one
	 * (zt_addr_set_v6 unmaps, for socket addresses), or a reply built from it would
	 * go to another address than it came from (fuzz_ippkt) */
	*a = (struct zt_addr){ .family = AF_INET6 };
	memcpy(a->ip, ip, 16);
}

/* The upper layer's ports or ICMP type, in a first fragment. */
static int parse_l4(struct zt_ippkt *r, const uint8_t *buf)
{
	const uint8_t *l = buf + r->hlen;
	size_t rest = r->len - r->hlen;

	if (!r->has_l4)
		return 0;
	switch (r->proto) {
	case ZT_IP_TCP:
		/* the whole fixed header: a first fragment that splits it is how filters
		 * are evaded (RFC 1858) */
		if (rest < 20)
			return ZT_EMALFORMED;
		break;
	case ZT_IP_UDP:
		if (rest < 8)
			return ZT_EMALFORMED;
		break;
	case ZT_IP_ICMP:
	case ZT_IP_ICMPV6:
		if ((r->proto == ZT_IP_ICMP) != (r->family == AF_INET))
			return 0; /* ICMP of the other family: an unknown protocol here */
		if (rest < ICMP_HLEN)
			return ZT_EMALFORMED;
		r->icmp_type = l[0];
		r->icmp_code = l[1];
		return 0;
	default:
		return 0;
	}
	r->src.port = be16(l);
	r->dst.port = be16(l + 2);
	return 0;
}

static int parse_v4(struct zt_ippkt *r, const uint8_t *b, size_t len)
{
	size_t ihl = (size_t)(b[0] & 0x0f) * 4;
	uint16_t frag;

	if (len < V4_HLEN)
		return ZT_ETRUNC;
	if (ihl < V4_HLEN)
		return ZT_EMALFORMED;
	if (len < ihl)
		return ZT_ETRUNC;
	if (zt_ip_csum_fold(zt_ip_csum_add(0, b, ihl)) != 0xffff)
		return ZT_EMALFORMED;
	r->len = be16(b + 2);
	if (r->len < ihl)
		return ZT_EMALFORMED;
	if (r->len > len)
		return ZT_ETRUNC;
	r->family = AF_INET;
	r->hlen = ihl;
	r->ttl = b[8];
	r->proto = b[9];
	frag = be16(b + 6);
	r->df = frag & 0x4000;
	r->fragment = (frag & 0x2000) || (frag & 0x1fff);
	r->has_l4 = !(frag & 0x1fff);
	set_addr(&r->src, AF_INET, b + 12);
	set_addr(&r->dst, AF_INET, b + 16);
	return 0;
}

/* The IPv6 extension headers (RFC 8200 s4): hop-by-hop, routing, fragment,
 * destination options, authentication (RFC 4302). */
static int walk_v6_ext(struct zt_ippkt *r, const uint8_t *b, uint8_t next)
{
	size_t off = V6_HLEN, hl;
	int n;

	for (n = 0; n < ZT_IPPKT_MAX_EXT; n++) {
		if (next != 0 && next != 43 && next != 44 && next != 60 && next != 51)
			break;
		if (off + 8 > r->len)
			return ZT_EMALFORMED;
		if (next == 44) {
			r->fragment = true;
			r->has_l4 = !(be16(b + off + 2) & 0xfff8);
			hl = 8;
		} else {
			hl = next == 51 ? ((size_t)b[off + 1] + 2) * 4 : ((size_t)b[off + 1] + 1) * 8;
		}
		if (off + hl > r->len)
			return ZT_EMALFORMED;
		next = b[off];
		off += hl;
	}
	if (n == ZT_IPPKT_MAX_EXT && (next == 0 || next == 43 || next == 44 || next == 60 ||
				      next == 51))
		return ZT_EMALFORMED;
	r->proto = next;
	r->hlen = off;
	if (next == 59)
		r->has_l4 = false; /* no next header */
	return 0;
}

static int parse_v6(struct zt_ippkt *r, const uint8_t *b, size_t len)
{
	if (len < V6_HLEN)
		return ZT_ETRUNC;
	r->len = V6_HLEN + (size_t)be16(b + 4);
	if (r->len > len)
		return ZT_ETRUNC;
	r->family = AF_INET6;
	r->ttl = b[7];
	r->df = true;
	r->has_l4 = true;
	set_addr(&r->src, AF_INET6, b + 8);
	set_addr(&r->dst, AF_INET6, b + 24);
	return walk_v6_ext(r, b, b[6]);
}

int zt_ippkt_parse(struct zt_ippkt *ret, const uint8_t *buf, size_t len)
{
	int rc;

	memset(ret, 0, sizeof(*ret));
	if (len < 1)
		return ZT_ETRUNC;
	switch (buf[0] >> 4) {
	case 4:
		rc = parse_v4(ret, buf, len);
		break;
	case 6:
		rc = parse_v6(ret, buf, len);
		break;
	default:
		return ZT_EMALFORMED;
	}
	if (rc == 0)
		rc = parse_l4(ret, buf);
	if (rc < 0)
		memset(ret, 0, sizeof(*ret));
	return rc;
}

bool zt_ippkt_is_icmp_error(const struct zt_ippkt *p)
{
	if (!p->has_l4)
		return false;
	if (p->family == AF_INET && p->proto == ZT_IP_ICMP)
		return p->icmp_type == 3 || p->icmp_type == 4 || p->icmp_type == 5 ||
		       p->icmp_type == 11 || p->icmp_type == 12;
	return p->family == AF_INET6 && p->proto == ZT_IP_ICMPV6 && p->icmp_type < 128;
}

/* IPv4: an ICMP error of type and code about pkt (RFC 792), word the header's second
 * 32 bits (the MTU of RFC 1191 for Fragmentation Needed). */
static int error_v4(uint8_t *out, size_t cap, const struct zt_ippkt *p, const uint8_t *pkt,
		    uint8_t type, uint8_t code, uint32_t word, const struct zt_addr *from)
{
	size_t quote = p->len < V4_ERR_MAX - V4_HLEN - ICMP_HLEN ? p->len
								  : V4_ERR_MAX - V4_HLEN - ICMP_HLEN;
	size_t n = V4_HLEN + ICMP_HLEN + quote;
	uint8_t *icmp = out + V4_HLEN;

	if (cap < n)
		return -ENOSPC;
	memset(out, 0, V4_HLEN + ICMP_HLEN);
	out[0] = 0x45;
	put16(out + 2, (uint32_t)n);
	out[8] = 64;
	out[9] = ZT_IP_ICMP;
	memcpy(out + 12, from->ip, 4);
	memcpy(out + 16, p->src.ip, 4);
	put16(out + 10, (uint16_t)~zt_ip_csum_fold(zt_ip_csum_add(0, out, V4_HLEN)));
	icmp[0] = type;
	icmp[1] = code;
	put16(icmp + 4, word >> 16);
	put16(icmp + 6, word);
	memcpy(icmp + ICMP_HLEN, pkt, quote);
	put16(icmp + 2, (uint16_t)~zt_ip_csum_fold(zt_ip_csum_add(0, icmp, ICMP_HLEN + quote)));
	return (int)n;
}

/* The IPv6 pseudo-header's sum (RFC 8200 s8.1). */
static uint32_t v6_pseudo(const uint8_t *src, const uint8_t *dst, size_t len, uint8_t next)
{
	uint8_t tail[8] = { (uint8_t)(len >> 24), (uint8_t)(len >> 16), (uint8_t)(len >> 8),
			    (uint8_t)len, 0, 0, 0, next };

	return zt_ip_csum_add(zt_ip_csum_add(zt_ip_csum_add(0, src, 16), dst, 16), tail, 8);
}

/* IPv6: an ICMPv6 error (RFC 4443 s2.1: as much of pkt as fits in 1280 bytes). */
static int error_v6(uint8_t *out, size_t cap, const struct zt_ippkt *p, const uint8_t *pkt,
		    uint8_t type, uint8_t code, uint32_t word, const struct zt_addr *from)
{
	size_t quote = p->len < V6_ERR_MAX - V6_HLEN - ICMP_HLEN ? p->len
								  : V6_ERR_MAX - V6_HLEN - ICMP_HLEN;
	size_t plen = ICMP_HLEN + quote;
	uint8_t *icmp = out + V6_HLEN;

	if (cap < V6_HLEN + plen)
		return -ENOSPC;
	memset(out, 0, V6_HLEN + ICMP_HLEN);
	out[0] = 0x60;
	put16(out + 4, (uint32_t)plen);
	out[6] = ZT_IP_ICMPV6;
	out[7] = 64;
	memcpy(out + 8, from->ip, 16);
	memcpy(out + 24, p->src.ip, 16);
	icmp[0] = type;
	icmp[1] = code;
	put16(icmp + 4, word >> 16);
	put16(icmp + 6, word);
	memcpy(icmp + ICMP_HLEN, pkt, quote);
	put16(icmp + 2, (uint16_t)~zt_ip_csum_fold(zt_ip_csum_add(
		v6_pseudo(out + 8, out + 24, plen, ZT_IP_ICMPV6), icmp, plen)));
	return (int)(V6_HLEN + plen);
}

/* No error about an error, a later fragment, or to an unspecified source. */
static bool error_due(const struct zt_ippkt *p)
{
	return !zt_ippkt_is_icmp_error(p) && p->has_l4 && !zt_addr_is_any(&p->src);
}

int zt_ippkt_too_big(uint8_t *out, size_t cap, const struct zt_ippkt *p, const uint8_t *pkt,
		     uint32_t mtu, const struct zt_addr *from)
{
	if (!from || from->family != p->family)
		return -EINVAL;
	if (p->family == AF_INET ? mtu < 68 || mtu > 0xffff : mtu < 1280)
		return -EINVAL;
	if (!error_due(p))
		return 0;
	if (p->family == AF_INET) /* Fragmentation Needed (RFC 1191) */
		return p->df ? error_v4(out, cap, p, pkt, 3, 4, mtu, from) : 0;
	return error_v6(out, cap, p, pkt, 2, 0, mtu, from); /* Packet Too Big */
}

int zt_ippkt_prohibited(uint8_t *out, size_t cap, const struct zt_ippkt *p, const uint8_t *pkt,
			const struct zt_addr *from)
{
	if (!from || from->family != p->family)
		return -EINVAL;
	if (!error_due(p))
		return 0;
	if (p->family == AF_INET) /* Communication Administratively Prohibited (RFC 1812) */
		return error_v4(out, cap, p, pkt, 3, 13, 0, from);
	return error_v6(out, cap, p, pkt, 1, 1, 0, from); /* ... prohibited (RFC 4443) */
}

uint16_t zt_ippkt_l4_sum(const uint8_t *pkt, const struct zt_ippkt *p)
{
	size_t l = p->len - p->hlen;
	uint32_t sum;

	if (p->family == AF_INET) {
		uint8_t ph[4] = { 0, p->proto, (uint8_t)(l >> 8), (uint8_t)l };
		sum = zt_ip_csum_add(zt_ip_csum_add(0, pkt + 12, 8), ph, 4);
	} else {
		sum = v6_pseudo(pkt + 8, pkt + 24, l, p->proto);
	}
	return zt_ip_csum_fold(zt_ip_csum_add(sum, pkt + p->hlen, l));
}

int zt_ippkt_clamp_mss(uint8_t *pkt, const struct zt_ippkt *p, uint16_t mss)
{
	uint8_t *tcp = pkt + p->hlen;
	size_t rest, doff;

	if (p->proto != ZT_IP_TCP || !p->has_l4 || p->fragment)
		return 0;
	rest = p->len - p->hlen;
	doff = (size_t)(tcp[12] >> 4) * 4;
	if (rest < 20 || doff < 20 || doff > rest)
		return ZT_EMALFORMED;
	if (!(tcp[13] & 0x02))
		return 0; /* not a SYN */
	/* every MSS option (a SYN that carries two is lowered in both), checked to
	 * the end before anything changes */
	for (int pass = 0; pass < 2; pass++) {
		bool lower = false;
		for (size_t i = 20, olen; i < doff && tcp[i] != 0; i += olen) {
			olen = 1;
			if (tcp[i] == 1)
				continue;
			if (i + 1 >= doff || (olen = tcp[i + 1]) < 2 || i + olen > doff)
				return ZT_EMALFORMED;
			if (tcp[i] == 2 && olen == 4 && be16(tcp + i + 2) > mss) {
				lower = true;
				if (pass)
					put16(tcp + i + 2, mss);
			}
		}
		if (!lower)
			return 0;
	}
	put16(tcp + 16, 0);
	put16(tcp + 16, (uint16_t)~zt_ippkt_l4_sum(pkt, p));
	return 1;
}
