/*
 * Counts per traffic source, for per-source limits: the Intermediate's half-open
 * connections from each client address.
 *
 * A source is an IPv4 address, or an IPv6 /64 (one subscriber's prefix, RFC 6177):
 * ports never count, since one host has as many as it likes. Entries exist only while
 * their count is above zero, so the table holds at most as many as the counted objects.
 * The hash is keyed by a seed from the caller; chains stay short even for addresses
 * chosen to collide when the seed is secret, and are bounded by the entry count anyway.
 */
#ifndef ZT_NODE_SRCCOUNT_H
#define ZT_NODE_SRCCOUNT_H

#include <stddef.h>
#include <stdint.h>

#include "core/addr.h"

struct zt_srccount;

/* Returns 0 or -ENOMEM. */
int zt_srccount_new(struct zt_srccount **ret, uint64_t seed);
/* NULL is fine. */
void zt_srccount_free(struct zt_srccount *m);

/* The count of a's source (0 when it has none). */
unsigned zt_srccount_get(const struct zt_srccount *m, const struct zt_addr *a);
/* Adds one to a's source. Returns the new count, or -ENOMEM (nothing counted). */
int zt_srccount_inc(struct zt_srccount *m, const struct zt_addr *a);
/* Takes one from a's source (nothing when it has none); a source at 0 is forgotten. */
void zt_srccount_dec(struct zt_srccount *m, const struct zt_addr *a);
/* Sources with a count above 0. */
size_t zt_srccount_sources(const struct zt_srccount *m);

#endif
