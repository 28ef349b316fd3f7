/*
 * A small intrusive hash table, the one every map in the tree uses: the caller embeds
 * a struct zt_hnode in its records and gives each one's 64-bit hash (keyed, where an
 * attacker chooses the keys); chains per bucket, the buckets doubling whenever there
 * are more records than buckets (a failed doubling only lengthens the chains). The
 * table owns no record: removing one hands it back.
 *
 * Finding and changing go through a slot, the link that points at a record:
 *
 *   struct zt_hnode **p = zt_hmap_slot(&m, h, same_key, &key);
 *   if (*p) ... found: container_of(*p), or zt_hmap_unlink(&m, p) ...
 *   else zt_hmap_link(&m, p, &rec->node, h);   (p is then used up)
 */
#ifndef ZT_CORE_HMAP_H
#define ZT_CORE_HMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct zt_hnode {
	struct zt_hnode *next;
	uint64_t hash;
};

struct zt_hmap {
	struct zt_hnode **b;
	unsigned shift;              /* 1 << shift buckets */
	size_t n;                    /* records */
};

/* The record that holds node n as its member `member`. */
#define zt_hmap_entry(n, type, member) ((type *)((char *)(n) - offsetof(type, member)))

/* 1 << shift buckets to start with (shift 1..30). Returns 0 or -ENOMEM. */
int zt_hmap_init(struct zt_hmap *m, unsigned shift);
/* Frees the buckets (not the records: take them out first). */
void zt_hmap_fini(struct zt_hmap *m);

/* The link to the first record with hash for which match(node, key) holds (match
 * NULL: any record with hash), or the empty link at the end of that chain. */
struct zt_hnode **zt_hmap_slot(const struct zt_hmap *m, uint64_t hash,
			       bool (*match)(const struct zt_hnode *n, const void *key),
			       const void *key);
/* Puts n (with its hash) at slot, from zt_hmap_slot for that hash just before. */
void zt_hmap_link(struct zt_hmap *m, struct zt_hnode **slot, struct zt_hnode *n, uint64_t hash);
/* Takes the record at slot out and returns it. */
struct zt_hnode *zt_hmap_unlink(struct zt_hmap *m, struct zt_hnode **slot);
/* Takes out n, which is in the table. */
void zt_hmap_remove(struct zt_hmap *m, struct zt_hnode *n);

/* Calls fn(node, arg) for every record, in no order, until fn returns false; fn must
 * not change the table. Returns how many records fn saw. */
size_t zt_hmap_walk(const struct zt_hmap *m, bool (*fn)(const struct zt_hnode *n, void *arg),
		    void *arg);

/* Takes out every record for which pred(node, arg) holds (pred NULL: all), handing
 * each to done (which may free it). Returns how many. */
size_t zt_hmap_take_if(struct zt_hmap *m, bool (*pred)(const struct zt_hnode *n, const void *arg),
		       const void *arg, void (*done)(struct zt_hnode *n, void *darg), void *darg);

#endif
