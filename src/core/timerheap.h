/*
 * A min-heap of deadlines, for a node with many timers (one per connection): the
 * earliest is read in O(1), a timer is set, moved or removed in O(log n), instead of
 * scanning every owner for each event. Sans-IO: deadlines are plain uint64_t
 * nanoseconds, nothing here reads a clock.
 *
 * Each timer is a struct zt_timerheap_entry embedded in its owner; the heap keeps
 * pointers to the entries and each entry its slot, so the owner finds its way back
 * with container_of-style arithmetic. An entry is in at most one heap.
 *
 * Memory: the heap grows only when an entry is added beyond its capacity. Reserve
 * room for every owner when the owner is created (zt_timerheap_reserve) and no later
 * zt_timerheap_set can fail.
 */
#ifndef ZT_CORE_TIMERHEAP_H
#define ZT_CORE_TIMERHEAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ZT_TIMERHEAP_NONE ((size_t)-1)

struct zt_timerheap_entry {
	uint64_t at;    /* the deadline while in the heap */
	size_t idx;     /* private: slot in the heap, ZT_TIMERHEAP_NONE when not in it */
};

struct zt_timerheap {
	struct zt_timerheap_entry **v;
	size_t n, cap;
};

void zt_timerheap_init(struct zt_timerheap *h);
/* Frees the heap's array (not the entries). */
void zt_timerheap_fini(struct zt_timerheap *h);
/* Marks e as in no heap. */
void zt_timerheap_entry_init(struct zt_timerheap_entry *e);

/* Room for n entries without growing. Returns 0 or -ENOMEM. */
int zt_timerheap_reserve(struct zt_timerheap *h, size_t n);

/*
 * Sets e's deadline to at: adds e, or moves it if it is in already; at ==
 * UINT64_MAX (never) removes it. Returns 0, or -ENOMEM when adding needed more room
 * than reserved (e is then not in the heap).
 */
int zt_timerheap_set(struct zt_timerheap *h, struct zt_timerheap_entry *e, uint64_t at);
/* Removes e if it is in the heap. */
void zt_timerheap_remove(struct zt_timerheap *h, struct zt_timerheap_entry *e);

static inline bool zt_timerheap_contains(const struct zt_timerheap_entry *e)
{
	return e->idx != ZT_TIMERHEAP_NONE;
}

/* The entry with the earliest deadline, or NULL when empty. */
static inline struct zt_timerheap_entry *zt_timerheap_top(const struct zt_timerheap *h)
{
	return h->n ? h->v[0] : NULL;
}

/* The earliest deadline, or UINT64_MAX when empty. */
static inline uint64_t zt_timerheap_next(const struct zt_timerheap *h)
{
	return h->n ? h->v[0]->at : UINT64_MAX;
}

#endif
