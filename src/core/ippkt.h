/*
 * IP packets as the packet tunnel carries them (docs/tunnel.md, "Packet tunnel"): one
 * parser for IPv4 (RFC 791) and IPv6 (RFC 8200) headers that gives what the per-packet
 * policy and the path-MTU code need, checked against the bytes; the ICMP "too big"
 * answer (RFC 1191, RFC 8201, RFC 4443); TCP MSS clamping (RFC 879, RFC 6691), the
 * checksum computed again. Sans-IO: buffers in, buffers out.
 *
 * What the parser refuses (ZT_ETRUNC / ZT_EMALFORMED): fewer bytes than a header or the
 * total length declares, a version other than 4 or 6, an IPv4 header length below 20
 * or a bad IPv4 header checksum, a total length below the header, more than
 * ZT_IPPKT_MAX_EXT IPv6 extension headers, and a first fragment too short for the
 * ports of TCP or UDP or the type of ICMP. Bytes after the total length are ignored
 * (the length says where the packet ends). Nothing beyond the checks is trusted: a
 * caller uses the offsets only within len.
 */
#ifndef ZT_CORE_IPPKT_H
#define ZT_CORE_IPPKT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/addr.h"

#define ZT_IP_ICMP 1
#define ZT_IP_TCP 6
#define ZT_IP_UDP 17
#define ZT_IP_ICMPV6 58

/* IPv6 extension headers the parser walks through before it gives up. */
#define ZT_IPPKT_MAX_EXT 8

struct zt_ippkt {
	uint8_t family;           /* AF_INET or AF_INET6 */
	struct zt_addr src, dst;  /* .port: the TCP/UDP port in a first fragment, else 0 */
	uint8_t proto;            /* the upper-layer protocol (after IPv6 extensions) */
	uint8_t ttl;              /* TTL or hop limit */
	size_t hlen;              /* IP header(s): where the upper layer starts */
	size_t len;               /* the packet's total length */
	bool fragment;            /* one piece of a fragmented datagram */
	bool has_l4;              /* the upper-layer header is here (not a later fragment) */
	bool df;                  /* IPv4 Don't Fragment (IPv6: always; routers never split) */
	uint8_t icmp_type, icmp_code; /* ICMP or ICMPv6, with has_l4 */
};

/* Returns 0 with *ret filled, ZT_ETRUNC or ZT_EMALFORMED. */
int zt_ippkt_parse(struct zt_ippkt *ret, const uint8_t *buf, size_t len);

/* Whether p is an ICMP or ICMPv6 error message (never answered with another one,
 * RFC 1122 s3.2.2, RFC 4443 s2.4). */
bool zt_ippkt_is_icmp_error(const struct zt_ippkt *p);

/*
 * The answer to pkt (parsed as p), which is larger than mtu: IPv4 Destination
 * Unreachable, Fragmentation Needed (type 3 code 4, the next-hop MTU in it) or ICMPv6
 * Packet Too Big (type 2), from `from` (an address of the tunnel's in p's family) to
 * p's source, quoting as much of pkt as fits in 576 (IPv4) or 1280 (IPv6) bytes.
 * Returns its length, 0 when none is due (pkt is an ICMP error, a later fragment, or
 * IPv4 without DF, which is fragmented instead), -EINVAL (mtu below 68 / 1280, or
 * `from` of another family), -ENOSPC (cap too small).
 */
int zt_ippkt_too_big(uint8_t *out, size_t cap, const struct zt_ippkt *p, const uint8_t *pkt,
		     uint32_t mtu, const struct zt_addr *from);

/*
 * The answer to pkt (parsed as p), which a policy refuses: ICMP Destination
 * Unreachable, Communication Administratively Prohibited (type 3 code 13, RFC 1812)
 * or ICMPv6 Destination Unreachable, administratively prohibited (type 1 code 1, RFC
 * 4443), from `from` to p's source, quoting as zt_ippkt_too_big does; so a client
 * fails at once instead of waiting for its timeout. Returns its length, 0 when none
 * is due (pkt is an ICMP error or a later fragment), -EINVAL (`from` of another
 * family), -ENOSPC.
 */
int zt_ippkt_prohibited(uint8_t *out, size_t cap, const struct zt_ippkt *p, const uint8_t *pkt,
			const struct zt_addr *from);

/*
 * A TCP SYN's MSS options lowered to mss where larger (RFC 6691: a path's MSS is its
 * MTU less the IP and TCP headers), the TCP checksum computed again. pkt is the
 * packet p was parsed from, and may be changed. Returns 1 (changed), 0 (not a SYN
 * with a larger MSS), ZT_EMALFORMED (a TCP header that does not fit, or an option
 * length that runs past it: nothing is changed then).
 */
int zt_ippkt_clamp_mss(uint8_t *pkt, const struct zt_ippkt *p, uint16_t mss);

/* The sum over p's upper layer with its pseudo-header (RFC 768, RFC 9293, RFC 8200
 * s8.1), folded: 0xffff when the TCP, UDP or ICMPv6 checksum in it is right. */
uint16_t zt_ippkt_l4_sum(const uint8_t *pkt, const struct zt_ippkt *p);

/* The Internet checksum (RFC 1071) of len bytes, folded, not complemented, starting
 * from sum (0, or the partial sum of earlier bytes; len odd only for the last part). */
uint32_t zt_ip_csum_add(uint32_t sum, const uint8_t *buf, size_t len);
uint16_t zt_ip_csum_fold(uint32_t sum);

#endif
