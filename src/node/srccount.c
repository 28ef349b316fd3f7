#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/hmap.h"
#include "node/srccount.h"

struct entry {
	struct zt_hnode node;
	uint64_t key;
	uint8_t family;
	unsigned count;
};

struct zt_srccount {
	struct zt_hmap map;
	uint64_t k0, k1;
};

struct source {
	uint64_t key;
	uint8_t family;
};

/* An IPv4 address or an IPv6 /64, as one number. */
static struct source source_of(const struct zt_addr *a)
{
	struct source s = { .family = a->family };
	size_t len = a->family == AF_INET ? 4 : 8;

	for (size_t i = 0; i < len; i++)
		s.key = s.key << 8 | a->ip[i];
	return s;
}

static uint64_t hash_of(const struct zt_srccount *m, const struct source *s)
{
	uint64_t h = (s->key ^ m->k0) + s->family;

	h = (h ^ (h >> 31)) * m->k1;
	h = (h ^ (h >> 29)) * 0xbf58476d1ce4e5b9ULL;
	return h ^ (h >> 32);
}

static bool same_source(const struct zt_hnode *n, const void *key)
{
	const struct entry *e = zt_hmap_entry(n, struct entry, node);
	const struct source *s = key;

	return e->key == s->key && e->family == s->family;
}

int zt_srccount_new(struct zt_srccount **ret, uint64_t seed)
{
	struct zt_srccount *m = calloc(1, sizeof(*m));

	if (!m)
		return -ENOMEM;
	if (zt_hmap_init(&m->map, 4) < 0) {
		free(m);
		return -ENOMEM;
	}
	m->k0 = seed * 0x9e3779b97f4a7c15ULL;
	m->k1 = (seed ^ 0x94d049bb133111ebULL) | 1;
	*ret = m;
	return 0;
}

static void free_entry(struct zt_hnode *n, void *arg)
{
	(void)arg;
	free(zt_hmap_entry(n, struct entry, node));
}

void zt_srccount_free(struct zt_srccount *m)
{
	if (!m)
		return;
	zt_hmap_take_if(&m->map, NULL, NULL, free_entry, NULL);
	zt_hmap_fini(&m->map);
	free(m);
}

static struct zt_hnode **find(const struct zt_srccount *m, const struct source *s)
{
	return zt_hmap_slot(&m->map, hash_of(m, s), same_source, s);
}

unsigned zt_srccount_get(const struct zt_srccount *m, const struct zt_addr *a)
{
	struct source s = source_of(a);
	struct zt_hnode *n = *find(m, &s);

	return n ? zt_hmap_entry(n, struct entry, node)->count : 0;
}

int zt_srccount_inc(struct zt_srccount *m, const struct zt_addr *a)
{
	struct source s = source_of(a);
	struct zt_hnode **p = find(m, &s);
	struct entry *e;

	if (*p)
		return (int)++zt_hmap_entry(*p, struct entry, node)->count;
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->key = s.key;
	e->family = s.family;
	e->count = 1;
	zt_hmap_link(&m->map, p, &e->node, hash_of(m, &s));
	return 1;
}

void zt_srccount_dec(struct zt_srccount *m, const struct zt_addr *a)
{
	struct source s = source_of(a);
	struct zt_hnode **p = find(m, &s);
	struct entry *e;

	if (!*p)
		return;
	e = zt_hmap_entry(*p, struct entry, node);
	if (--e->count == 0) {
		zt_hmap_unlink(&m->map, p);
		free(e);
	}
}

size_t zt_srccount_sources(const struct zt_srccount *m)
{
	return m->map.n;
}
