/*
 * The presence table: where each client of the deployment is connected, as the
 * Intermediates publish it in the shared store (docs/scale-out.md). It is fed the
 * store's events one by one (a put with its value, or a delete) and keeps, per client,
 * the newest record that verifies (core/presrec.h: the deployment's presence key, the
 * store key's name, expiry). Sans-IO: the caller passes the wall-clock time in Unix ms.
 *
 * Nothing from the store is trusted: a value that does not verify is refused and
 * counted, and leaves the entry it would have replaced alone; an older record (a lower
 * seq) than the one held is ignored; a record counts as absent once expired. The table
 * holds at most `max` clients; a new one beyond that is refused (ZT_EQUOTA, counted),
 * so a flood of records costs bounded memory.
 *
 *   zt_prestab_apply(t, now_ms, "connector.c1", value, len);   a put
 *   zt_prestab_apply(t, now_ms, "connector.c1", NULL, 0);      a delete or purge
 *   zt_prestab_find(t, now_ms, ZT_PRESREC_CONNECTOR, "c1", &rec);
 */
#ifndef ZT_NODE_PRESTAB_H
#define ZT_NODE_PRESTAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/presrec.h"

struct zt_prestab;

struct zt_prestab_stats {
	size_t entries;          /* held now (some may have expired since the last sweep) */
	uint64_t applied;        /* puts taken */
	uint64_t deleted;        /* deletes that removed an entry */
	uint64_t stale;          /* puts older than the record held (lower or same seq) */
	uint64_t refused;        /* values or keys that did not verify */
	uint64_t full;           /* new clients refused: the table was full */
	uint64_t expired;        /* entries swept at their expiry */
	int last_refusal;        /* the error of the latest refusal, 0 none */
};

/* key: the deployment's presence key (copied; at least ZT_PRESREC_KEY_MIN bytes);
 * seed: for the hash. Returns 0, -EINVAL (short key, max 0) or -ENOMEM. */
int zt_prestab_new(struct zt_prestab **ret, size_t max, const uint8_t *key, size_t key_len,
		   uint64_t seed);
/* Wipes the key. NULL is fine. */
void zt_prestab_free(struct zt_prestab *t);

/* One event of the store under key; val NULL: a delete. Returns 0 (taken: applied,
 * removed, or a delete of nothing), 1 (a stale put, ignored), or the refusal:
 * ZT_EMALFORMED (the key or value is not a record's), an error of zt_presrec_decode,
 * ZT_EPOLICY (the key's role is not the record's), ZT_EQUOTA (full), -ENOMEM. */
int zt_prestab_apply(struct zt_prestab *t, uint64_t now_ms, const char *key, const uint8_t *val,
		     size_t len);

/* The record of that client, if one is held and has not expired at now_ms. Returns 0
 * with *ret filled or -ENOENT. */
int zt_prestab_find(const struct zt_prestab *t, uint64_t now_ms, uint8_t role, const char *name,
		    struct zt_presrec *ret);

/* The first entry not expired at now_ms for which pred(arg, rec) holds, in no order,
 * into *ret. Returns 0 or -ENOENT. */
int zt_prestab_first(const struct zt_prestab *t, uint64_t now_ms,
		     bool (*pred)(void *arg, const struct zt_presrec *r), void *arg,
		     struct zt_presrec *ret);

/* Removes the entries expired at now_ms. Returns how many. */
size_t zt_prestab_expire(struct zt_prestab *t, uint64_t now_ms);

/* Up to cap of the entries not expired at now_ms into ret, in no order. Returns how
 * many there are in all. */
size_t zt_prestab_list(const struct zt_prestab *t, uint64_t now_ms, struct zt_presrec *ret,
		       size_t cap);

void zt_prestab_stats(const struct zt_prestab *t, struct zt_prestab_stats *ret);

#endif
