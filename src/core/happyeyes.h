/*
 * Both address families, in the order to try them: Happy Eyeballs (RFC 8305) for the
 * outer connection to an Intermediate that has IPv4 and IPv6 addresses, and the
 * same family order for host candidates' preferences (RFC 8421 s4). Sans-IO: time
 * is an argument, the caller opens the connections.
 *
 * Order (RFC 8305 s4, RFC 8421 s4): IPv6 first, then the families interleaved
 * (v6, v4, v6, v4, ...), each family in its given order.
 *
 * The race (RFC 8305 s5): the first address at once; the next one when the attempt
 * before it has not completed its handshake after `delay` (the Connection Attempt
 * Delay, 250 ms by default), or at once when it failed. The first attempt that
 * completes wins; the caller closes the others (zt_he_won tells it which).
 *
 *   zt_he_init(&he, addrs, n, delay);
 *   i = zt_he_start(&he, now);             connect to he.addrs[i]
 *   when now >= zt_he_next_deadline(&he):
 *       i = zt_he_due(&he, now)            (>= 0: connect to he.addrs[i] too)
 *   zt_he_failed(&he, now, i)              attempt i ended without a handshake
 *   zt_he_won(&he, i)                      attempt i completed: the others go
 */
#ifndef ZT_CORE_HAPPYEYES_H
#define ZT_CORE_HAPPYEYES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/addr.h"

#define ZT_HE_MAX 8
#define ZT_HE_DELAY_DEFAULT (250ULL * 1000 * 1000) /* ns: RFC 8305 s5's recommendation */

/*
 * Writes into order[0..n) the indexes of a[0..n) in the order above (IPv6 first,
 * families interleaved, stable within a family). Addresses of neither family go
 * last, in their order.
 */
void zt_he_order(const struct zt_addr *a, size_t n, size_t *order);

struct zt_he {
	struct zt_addr addrs[ZT_HE_MAX]; /* in the order they are tried */
	size_t n;
	size_t started;                  /* attempts started: addrs[0..started) */
	uint64_t delay;
	uint64_t next_at;                /* the next attempt's start, or ZT_TIME_NEVER */
	int winner;                      /* index of the attempt that won, or -1 */
	uint32_t failed;                 /* bit i: attempt i failed */
};

/* Takes up to ZT_HE_MAX addresses (duplicates dropped), ordered as above; delay 0
 * means ZT_HE_DELAY_DEFAULT. */
void zt_he_init(struct zt_he *he, const struct zt_addr *addrs, size_t n, uint64_t delay);

/* Starts over (a new connection attempt series): returns the index of the first
 * address to connect to, or -ENOENT when there is none. */
int zt_he_start(struct zt_he *he, uint64_t now);

/* The index of the address to connect to now, or -1 (not yet, none left, or won). */
int zt_he_due(struct zt_he *he, uint64_t now);

/* Attempt i ended without a handshake: the next one may start at once. Returns true
 * when no attempt is left running or to start (the whole series failed). */
bool zt_he_failed(struct zt_he *he, uint64_t now, int i);

/* Attempt i completed its handshake first: no more attempts start. */
void zt_he_won(struct zt_he *he, int i);

/* When zt_he_due has something, or ZT_TIME_NEVER. */
uint64_t zt_he_next_deadline(const struct zt_he *he);

#endif
