/*
 * The packet tunnel's per-packet check (docs/tunnel.md, "Policy model"): what one
 * agent's IP packets may do. The connector is the authority and applies it to every
 * packet that arrives from the agent; the agent applies it to what it sends, as a
 * courtesy. A packet passes when it parses (core/ippkt.h), fits the tunnel, comes
 * from the agent's own tunnel address, and goes to a route the agent may use with a
 * rule that allows it (core/route.h); otherwise it is dropped and counted by reason.
 */
#ifndef ZT_CORE_TUNFILTER_H
#define ZT_CORE_TUNFILTER_H

#include <stddef.h>
#include <stdint.h>

#include "core/addr.h"
#include "core/ippkt.h"
#include "core/route.h"

enum zt_tun_drop {
	ZT_TUN_PASS = 0,
	ZT_TUN_DROP_MALFORMED,     /* not an IP packet the parser accepts */
	ZT_TUN_DROP_TOO_BIG,       /* over the tunnel MTU */
	ZT_TUN_DROP_SPOOFED,       /* source not the agent's tunnel address */
	ZT_TUN_DROP_NO_ROUTE,      /* destination in no route the agent may use */
	ZT_TUN_DROP_RULE,          /* in a route, but no rule of it allows the packet */
	ZT_TUN_DROP_REASONS
};

struct zt_tunfilter {
	struct zt_addr self4, self6;       /* the agent's tunnel addresses (family 0: none) */
	const struct zt_route *routes;     /* the routes this agent may use (kept by the caller) */
	size_t nroutes;
	uint32_t mtu;                      /* the tunnel MTU */
	const struct zt_route *matched;    /* the route the last packet passed to */
	uint64_t passed;
	uint64_t dropped[ZT_TUN_DROP_REASONS]; /* by reason ([0] unused) */
};

/* Judges one packet. Returns ZT_TUN_PASS (*ret filled) or the reason it was dropped;
 * either way counted. */
enum zt_tun_drop zt_tunfilter_check(struct zt_tunfilter *f, const uint8_t *pkt, size_t len,
				    struct zt_ippkt *ret);

/* "malformed", "too-big", "spoofed", "no-route", "rule" ("pass" for ZT_TUN_PASS). */
const char *zt_tun_drop_name(enum zt_tun_drop r);

#endif
