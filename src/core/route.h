/*
 * Routed services for the packet tunnel (docs/tunnel.md, "Packet tunnel"): a name, a
 * prefix behind the connector, and what may cross to it.
 *
 *   NAME=ADDRESS/LENGTH[:RULE,RULE,...]
 *   RULE = tcp | udp | icmp | tcp/PORT | tcp/LOW-HIGH | udp/PORT | udp/LOW-HIGH
 *
 *   db=10.0.5.0/24                    everything to 10.0.5.0/24
 *   web=10.0.6.20/32:tcp/443,udp/53,icmp
 *   v6=2001:db8:5::/48:tcp/22
 *
 * NAME is taken as written (1 to ZT_ROUTE_NAME_MAX characters up to '=', none of
 * them a space, '=' or ':'; the caller checks it names a service). The address must
 * be the prefix's network address (no host bits set). Without rules every packet to
 * the prefix may cross; with rules, one must match: tcp/udp by destination port,
 * icmp for ICMP (IPv4) and ICMPv6. A later fragment carries no ports: it crosses
 * only where its protocol may cross on every port.
 */
#ifndef ZT_CORE_ROUTE_H
#define ZT_CORE_ROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/addr.h"
#include "core/ippkt.h"

#define ZT_ROUTE_NAME_MAX 63
#define ZT_ROUTE_RULES_MAX 16
/* Longest text zt_route_format writes, with the NUL. */
#define ZT_ROUTE_STRLEN (ZT_ROUTE_NAME_MAX + 1 + 44 + ZT_ROUTE_RULES_MAX * 16 + 1)

enum zt_route_proto { ZT_ROUTE_TCP = 1, ZT_ROUTE_UDP = 2, ZT_ROUTE_ICMP = 3 };

struct zt_route_rule {
	uint8_t proto;               /* enum zt_route_proto */
	uint16_t lo, hi;             /* tcp/udp: destination ports lo..hi (0..65535: any) */
};

struct zt_route {
	char name[ZT_ROUTE_NAME_MAX + 1];
	struct zt_addr prefix;       /* network address, port 0 */
	uint8_t plen;
	unsigned nrules;             /* 0: everything */
	struct zt_route_rule rules[ZT_ROUTE_RULES_MAX];
};

/* Returns 0, ZT_ESYNTAX or ZT_ERANGE (a length, port or count out of range, host bits
 * set). *ret is untouched on failure. */
int zt_route_parse(struct zt_route *ret, const char *text);
/* A prefix alone, "ADDRESS/LENGTH" (the route's middle part, the same rules). Returns
 * 0, ZT_ESYNTAX or ZT_ERANGE; *ret and *ret_plen untouched on failure. */
int zt_prefix_parse(const char *text, struct zt_addr *ret, uint8_t *ret_plen);
/* The canonical text (zt_route_parse gives r back). Returns its length or -ENOBUFS. */
int zt_route_format(const struct zt_route *r, char *buf, size_t cap);

/* Whether a is inside r's prefix (same family). */
bool zt_route_contains(const struct zt_route *r, const struct zt_addr *a);
/* Whether p may cross to r: its destination in the prefix, and a rule allows it. */
bool zt_route_allows(const struct zt_route *r, const struct zt_ippkt *p);

#endif
