/*
 * The relay table: what the Intermediate's workers need to forward relay-channel
 * datagrams (docs/relay-channel.md) without the Intermediate (docs/workers.md).
 *
 * One entry per session: for each end, its validated address (the outer connection's
 * observed address), the local address its connection uses, whether it is logged in
 * with the channel agreed, and whether it has no relay rate; and the session's relay
 * count with its quotas. The Intermediate (node/imd.c) owns the table and keeps it in
 * step with its sessions (zt_relaytab_set / zt_relaytab_del); a worker only asks
 * zt_relaytab_forward. Nothing here starts a thread, reads a clock or touches a
 * socket: the caller serialises writers against readers with the lock callbacks it
 * gives (the table calls lock/unlock around every change; readers hold the same lock
 * shared while they call zt_relaytab_forward). The relay count is the one shared
 * state readers change: atomics, so that the quota holds in total whichever thread
 * forwards.
 *
 * The fast path forwards only the plain case: a channel datagram from the validated
 * address of an end that agreed to the channel and has no relay rate, for a session
 * whose other end is there with the channel agreed, within its quotas. Everything
 * else (QUIC, STUN, a rate-limited sender, a session over its quota, an unknown
 * session or address) is the Intermediate's, which drops, counts, logs and answers it
 * exactly as before.
 */
#ifndef ZT_NODE_RELAYTAB_H
#define ZT_NODE_RELAYTAB_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/addr.h"

/* A session's relayed bytes and packets, charged by every thread that forwards. */
struct zt_relay_count {
	_Atomic uint64_t bytes, pkts;
};

/* Adds len bytes and one packet when both stay within max_bytes and max_pkts: true;
 * else adds nothing: false. Safe to call from several threads at once. */
bool zt_relay_count_charge(struct zt_relay_count *c, uint64_t len, uint64_t max_bytes,
			   uint64_t max_pkts);
/* Takes back a charge (the payload was not sent after all). */
void zt_relay_count_refund(struct zt_relay_count *c, uint64_t len);
uint64_t zt_relay_count_bytes(const struct zt_relay_count *c);
uint64_t zt_relay_count_pkts(const struct zt_relay_count *c);

struct zt_relaytab_end {
	struct zt_addr addr;  /* its validated address (family 0: no end) */
	struct zt_addr local; /* its connection's local address: we send from it */
	bool chan;            /* logged in, the channel agreed */
	bool rate_free;       /* no relay rate: a worker may charge it (no token bucket) */
};

struct zt_relaytab_entry {
	uint32_t id;                  /* the session id, nonzero */
	struct zt_relaytab_end end[2];
	struct zt_relay_count *count; /* the session's, outlives the entry */
	uint64_t max_bytes, max_pkts; /* its quotas */
};

/* The writers' lock: the table calls lock before and unlock after each change. */
struct zt_relaytab_lock {
	void (*lock)(void *arg);
	void (*unlock)(void *arg);
	void *arg;
};

struct zt_relaytab;

/* A new empty table; lk may be NULL (one thread). Returns 0 or -ENOMEM. */
int zt_relaytab_new(struct zt_relaytab **ret, const struct zt_relaytab_lock *lk);
void zt_relaytab_free(struct zt_relaytab *t);

/* Adds or replaces the entry for e->id (copied). Returns 0, -EINVAL (id 0, no count)
 * or -ENOMEM (the old entry, if any, is then removed: its datagrams go the slow way). */
int zt_relaytab_set(struct zt_relaytab *t, const struct zt_relaytab_entry *e);
/* Removes the entry for id, if any: from then on no reader forwards for it. */
void zt_relaytab_del(struct zt_relaytab *t, uint32_t id);
size_t zt_relaytab_size(const struct zt_relaytab *t);

/* What zt_relaytab_forward decided. */
enum zt_relaytab_verdict {
	ZT_RELAYTAB_SLOW = 0, /* not ours: hand it to the Intermediate */
	ZT_RELAYTAB_FORWARD,  /* send pkt unchanged to *ret_to from *ret_local (charged) */
};

/*
 * The fast-path decision for a datagram pkt of len bytes from `from`: FORWARD when it
 * is a well-formed channel datagram of a session in the table, from the address of an
 * end with the channel agreed and no relay rate, the other end there with the channel
 * agreed, and the session's count charged within its quotas (the payload after the
 * marker, as the Intermediate counts it); *ret_to and *ret_local are then set, and the
 * table's total counts it too. SLOW otherwise, nothing charged. The caller holds the
 * readers' lock.
 */
enum zt_relaytab_verdict zt_relaytab_forward(struct zt_relaytab *t,
					     const struct zt_addr *from, const uint8_t *pkt,
					     size_t len, struct zt_addr *ret_to,
					     struct zt_addr *ret_local);

/* What the readers forwarded in all, since the table was made (any thread). */
void zt_relaytab_forwarded(const struct zt_relaytab *t, uint64_t *pkts, uint64_t *bytes);

#endif
