/*
 * Birthday-paradox probing (docs/hard-nat.md), sans-IO: the addresses of the datagrams
 * that find a path between a side E behind an endpoint-independent NAT (one public
 * port Pe, whatever its filtering) and a side R behind an endpoint-dependent NAT that
 * picks ports at random.
 *
 *   spray (R): one datagram from each of n local sockets to E's public address: n
 *              mappings at R's NAT on ports nobody can predict, each letting E:Pe in;
 *   probe (E): up to m datagrams from E's one socket to random ports of R's public
 *              IP, at most `rate` a second: each opens E's filter for its port, and
 *              one that lands on one of R's n mapped ports reaches R.
 *
 * With P ports to choose from, m probes find at least one of the n with probability
 * 1 - (1 - n/P)^m (ports drawn with replacement, as the formula assumes). The caller
 * builds each payload (an ICE-authenticated Binding request: zt_ice_build_probe), so
 * that R's ICE agent answers the one that lands and its triggered check finishes the
 * pair through the port the probe opened; it stops this object when ICE has a pair.
 *
 * Bounded: exactly `count` datagrams at most, never faster than `rate`, none after
 * zt_birthday_stop().
 */
#ifndef ZT_CORE_BIRTHDAY_H
#define ZT_CORE_BIRTHDAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/addr.h"
#include "core/rng.h"

enum zt_birthday_role {
	ZT_BIRTHDAY_SPRAY = 1,
	ZT_BIRTHDAY_PROBE = 2,
};

/* Defaults (docs/hard-nat.md: 98 % success for 256 x 1024 over 64,512 ports). */
#define ZT_BIRTHDAY_SOCKETS 256        /* spray: sockets */
#define ZT_BIRTHDAY_COUNT 1024         /* probe: datagrams */
#define ZT_BIRTHDAY_RATE 200           /* datagrams a second (1024 in 5.1 s) */
#define ZT_BIRTHDAY_SPRAY_RATE 1000    /* spray: datagrams a second (256 in 0.26 s) */
#define ZT_BIRTHDAY_PORT_LO 1024
#define ZT_BIRTHDAY_PORT_HI 65535

struct zt_birthday_config {
	enum zt_birthday_role role;
	/* spray: the sockets (caller-owned, live while this object sends); probe: one,
	 * the socket probes leave from */
	const struct zt_addr *locals;
	size_t nlocals;
	/* spray: E's public address; probe: R's public IP (the port is drawn) */
	struct zt_addr target;
	unsigned count;             /* spray: at most nlocals; probe: probes */
	uint32_t rate;              /* a second, >= 1 */
	uint16_t port_lo, port_hi;  /* probe: the range drawn from; 0: 1024..65535 */
	struct zt_rng rng;          /* probe: the ports */
	uint64_t start;             /* nothing before */
};

struct zt_birthday_stats {
	uint64_t sent;
	uint64_t first_at, last_at; /* of the datagrams sent */
};

struct zt_birthday {
	struct zt_birthday_config cfg;
	uint64_t next;              /* the next datagram is due then */
	bool stopped;
	struct zt_birthday_stats st;
};

/* Sets p up. Returns 0, or -EINVAL: no role, no sockets, a target without address,
 * rate 0, port_lo > port_hi. */
int zt_birthday_init(struct zt_birthday *p, const struct zt_birthday_config *cfg);

/*
 * The next datagram, if one is due at now: returns 1 with its addresses in *ret_local
 * (one of cfg.locals) and *ret_remote, or 0. Each 1 counts as sent.
 */
int zt_birthday_poll(struct zt_birthday *p, uint64_t now, struct zt_addr *ret_local,
		  struct zt_addr *ret_remote);

/* When the next datagram is due, or ZT_TIME_NEVER (done or stopped). */
uint64_t zt_birthday_next_deadline(const struct zt_birthday *p);

/* No more datagrams. */
void zt_birthday_stop(struct zt_birthday *p);

/* All sent, or stopped. */
bool zt_birthday_done(const struct zt_birthday *p);

#endif
