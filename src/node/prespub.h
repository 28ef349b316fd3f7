/*
 * The presence publisher: what this Intermediate writes to the shared store about its
 * own clients (docs/scale-out.md). Sans-IO: it is shown the connected clients now and
 * then, in a sync pass, and emits store operations through a callback: a put of a
 * signed record (core/presrec.h) for a client that is new, has moved to another
 * address, or whose record is due for refresh; a delete for one that is gone.
 *
 *   zt_prespub_begin(p);
 *   for each logged-in client: zt_prespub_see(p, now_ms, role, name, &remote, login_ms,
 *                                             floor);
 *   zt_prespub_end(p);                      deletes for those not seen
 *
 * Records live ttl_ms and are refreshed every refresh_ms, so a crashed Intermediate's
 * records vanish within ttl_ms. seq is the client's login time here in microseconds
 * (wall clock), one more for each put of that login: a client's newer login on another
 * Intermediate outranks the older one however often the older one is refreshed. Where
 * the clocks disagree, the floor orders them: the highest seq of that client's record
 * elsewhere that this Intermediate held when the client logged in here (a login that
 * came after a record ranks above it, a Lamport clock's rule; 0: none held).
 *
 * When the store shows a client of ours under another Intermediate's record, the
 * newer login keeps it (zt_prespub_elsewhere): ours is put again if it is the newer,
 * else this publisher yields (no more puts, and no delete) until that record is gone
 * or the client logs in here again; the caller ends the older login here. When the
 * store shows it deleted (an Intermediate it left deletes its record late) or under a
 * value that does not verify, zt_prespub_nudge makes the next pass put ours again, at
 * most once a second per client. Two live logins of one identity at two
 * Intermediates thus settle on the newer, instead of overwriting each other.
 */
#ifndef ZT_NODE_PRESPUB_H
#define ZT_NODE_PRESPUB_H

#include <stddef.h>
#include <stdint.h>

#include "core/addr.h"
#include "core/presrec.h"

/* A put (val, len) or, with val NULL, a delete of key. Returns 0, or below 0 when it
 * could not be taken (a queue full): a put is then tried again at the next pass. */
typedef int zt_prespub_emit_fn(void *arg, const char *key, const uint8_t *val, size_t len);

struct zt_prespub_config {
	const char *self;             /* this Intermediate's name (presrec imd) */
	const uint8_t *key;           /* the presence key (copied) */
	size_t key_len;
	uint64_t refresh_ms;          /* 0: 10 s */
	uint64_t ttl_ms;              /* 0: 30 s; more than refresh_ms */
	uint64_t seed;
	zt_prespub_emit_fn *emit;
	void *arg;
};

struct zt_prespub_stats {
	size_t clients;               /* published now */
	uint64_t puts, deletes;       /* emitted */
	uint64_t nudges;              /* republished because the store disagreed */
	uint64_t yielded;             /* clients left to a newer login elsewhere */
	uint64_t errors;              /* records that could not be made (bad name) */
	uint64_t deferred;            /* puts emit did not take, tried again next pass */
};

struct zt_prespub;

/* Returns 0, -EINVAL (bad self, short key, ttl not above refresh, no emit), -ENOMEM. */
int zt_prespub_new(struct zt_prespub **ret, const struct zt_prespub_config *cfg);
/* NULL is fine. Emits nothing. */
void zt_prespub_free(struct zt_prespub *p);

void zt_prespub_begin(struct zt_prespub *p);
/* A client connected here now, from remote (NULL or family 0: no address in the
 * record), logged in here at login_ms (wall clock). An identity logged in here several
 * times is one record: the first login seen in a pass decides its address and login
 * time. floor: the login's (above; taken at its first pass, like login_ms): its seq
 * is above floor. Returns 1 (a put was emitted), 0 (nothing due, or yielded), ZT_EMALFORMED (a
 * name a record cannot hold; counted in errors), the error of emit (deferred: the put
 * is due again at the next pass), -ENOMEM. */
int zt_prespub_see(struct zt_prespub *p, uint64_t now_ms, uint8_t role, const char *name,
		   const struct zt_addr *remote, uint64_t login_ms, uint64_t floor);
/* Emits a delete for each published client not seen since begin. Returns how many. */
size_t zt_prespub_end(struct zt_prespub *p);

/* Puts that client's record again at the next pass (if it is a client of ours; one we
 * yielded is ours again). */
void zt_prespub_nudge(struct zt_prespub *p, uint8_t role, const char *name);
/* The store holds another Intermediate's record of that client, of seq. Returns 1 when
 * it is the newer login and this publisher yields to it now (the caller ends the login
 * here); 0 otherwise: not our client, yielded already, or ours is the newer (then put
 * again at the next pass, as zt_prespub_nudge). */
int zt_prespub_elsewhere(struct zt_prespub *p, uint8_t role, const char *name, uint64_t seq);
/* Puts every client's record again at the next pass (the store lost or refused
 * some: it was down, or a put failed). */
void zt_prespub_republish(struct zt_prespub *p);
/* Deletes every published record (on shutdown). Returns how many. */
size_t zt_prespub_withdraw(struct zt_prespub *p);

void zt_prespub_stats(const struct zt_prespub *p, struct zt_prespub_stats *ret);

#endif
