/* The intrusive hash table (hmap.h). */
#include <errno.h>
#include <stdlib.h>

#include "core/hmap.h"

/* Fibonacci hashing: the top bits of hash x 2^64/phi, so that sequential keys (stream
 * ids 0, 4, 8, ...) spread over every bucket. */
static size_t index_of(uint64_t hash, unsigned shift)
{
	return (size_t)((hash * 0x9e3779b97f4a7c15ULL) >> (64 - shift));
}

int zt_hmap_init(struct zt_hmap *m, unsigned shift)
{
	if (shift < 1 || shift > 30)
		return -EINVAL;
	*m = (struct zt_hmap){ .shift = shift };
	m->b = calloc((size_t)1 << shift, sizeof(*m->b));
	return m->b ? 0 : -ENOMEM;
}

void zt_hmap_fini(struct zt_hmap *m)
{
	free(m->b);
	m->b = NULL;
	m->n = 0;
}

struct zt_hnode **zt_hmap_slot(const struct zt_hmap *m, uint64_t hash,
			       bool (*match)(const struct zt_hnode *n, const void *key),
			       const void *key)
{
	struct zt_hnode **p = &m->b[index_of(hash, m->shift)];

	while (*p && ((*p)->hash != hash || (match && !match(*p, key))))
		p = &(*p)->next;
	return p;
}

static void grow(struct zt_hmap *m)
{
	unsigned shift = m->shift + 1;
	struct zt_hnode **b;

	if (shift > 30 || !(b = calloc((size_t)1 << shift, sizeof(*b))))
		return; /* longer chains, still correct */
	for (size_t i = 0; i < (size_t)1 << m->shift; i++)
		while (m->b[i]) {
			struct zt_hnode *n = m->b[i];
			size_t j = index_of(n->hash, shift);
			m->b[i] = n->next;
			n->next = b[j];
			b[j] = n;
		}
	free(m->b);
	m->b = b;
	m->shift = shift;
}

void zt_hmap_link(struct zt_hmap *m, struct zt_hnode **slot, struct zt_hnode *n, uint64_t hash)
{
	n->hash = hash;
	n->next = *slot;
	*slot = n;
	if (++m->n > (size_t)1 << m->shift)
		grow(m);
}

struct zt_hnode *zt_hmap_unlink(struct zt_hmap *m, struct zt_hnode **slot)
{
	struct zt_hnode *n = *slot;

	*slot = n->next;
	n->next = NULL;
	m->n--;
	return n;
}

void zt_hmap_remove(struct zt_hmap *m, struct zt_hnode *n)
{
	struct zt_hnode **p = &m->b[index_of(n->hash, m->shift)];

	while (*p && *p != n)
		p = &(*p)->next;
	if (*p)
		zt_hmap_unlink(m, p);
}

size_t zt_hmap_take_if(struct zt_hmap *m, bool (*pred)(const struct zt_hnode *n, const void *arg),
		       const void *arg, void (*done)(struct zt_hnode *n, void *darg), void *darg)
{
	size_t taken = 0;

	for (size_t i = 0; m->b && i < (size_t)1 << m->shift; i++) {
		struct zt_hnode **p = &m->b[i], *n;
		while (*p) {
			if (pred && !pred(*p, arg)) {
				p = &(*p)->next;
				continue;
			}
			n = zt_hmap_unlink(m, p);
			taken++;
			if (done)
				done(n, darg);
		}
	}
	return taken;
}

size_t zt_hmap_walk(const struct zt_hmap *m, bool (*fn)(const struct zt_hnode *n, void *arg),
		    void *arg)
{
	size_t seen = 0;

	for (size_t i = 0; m->b && i < (size_t)1 << m->shift; i++)
		for (const struct zt_hnode *n = m->b[i]; n; n = n->next) {
			seen++;
			if (!fn(n, arg))
				return seen;
		}
	return seen;
}
