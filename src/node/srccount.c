#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "node/srccount.h"

struct entry {
	struct entry *next;
	uint64_t key;
	uint8_t family;
	unsigned count;
};

struct zt_srccount {
	struct entry **b;
	size_t nb, n;
	uint64_t k0, k1;
};

/* An IPv4 address or an IPv6 /64, as one number. */
static uint64_t key_of(const struct zt_addr *a)
{
	uint64_t k = 0;
	size_t len = a->family == AF_INET ? 4 : 8;

	for (size_t i = 0; i < len; i++)
		k = k << 8 | a->ip[i];
	return k;
}

static size_t bucket(const struct zt_srccount *m, uint64_t key, uint8_t family, size_t nb)
{
	uint64_t h = (key ^ m->k0) + family;

	h = (h ^ (h >> 31)) * m->k1;
	h = (h ^ (h >> 29)) * 0xbf58476d1ce4e5b9ULL;
	return (size_t)(h ^ (h >> 32)) & (nb - 1);
}

int zt_srccount_new(struct zt_srccount **ret, uint64_t seed)
{
	struct zt_srccount *m = calloc(1, sizeof(*m));

	if (!m)
		return -ENOMEM;
	m->nb = 16;
	m->b = calloc(m->nb, sizeof(*m->b));
	if (!m->b) {
		free(m);
		return -ENOMEM;
	}
	m->k0 = seed * 0x9e3779b97f4a7c15ULL;
	m->k1 = (seed ^ 0x94d049bb133111ebULL) | 1;
	*ret = m;
	return 0;
}

void zt_srccount_free(struct zt_srccount *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->nb; i++)
		while (m->b[i]) {
			struct entry *e = m->b[i];
			m->b[i] = e->next;
			free(e);
		}
	free(m->b);
	free(m);
}

static struct entry **find(const struct zt_srccount *m, const struct zt_addr *a)
{
	uint64_t k = key_of(a);
	struct entry **p = &m->b[bucket(m, k, a->family, m->nb)];

	while (*p && ((*p)->key != k || (*p)->family != a->family))
		p = &(*p)->next;
	return p;
}

unsigned zt_srccount_get(const struct zt_srccount *m, const struct zt_addr *a)
{
	struct entry *e = *find(m, a);

	return e ? e->count : 0;
}

/* Twice the buckets when there are more entries than buckets; failure is harmless. */
static void grow(struct zt_srccount *m)
{
	size_t nb = m->nb * 2;
	struct entry **b = calloc(nb, sizeof(*b));

	if (!b)
		return;
	for (size_t i = 0; i < m->nb; i++)
		while (m->b[i]) {
			struct entry *e = m->b[i];
			size_t j = bucket(m, e->key, e->family, nb);
			m->b[i] = e->next;
			e->next = b[j];
			b[j] = e;
		}
	free(m->b);
	m->b = b;
	m->nb = nb;
}

int zt_srccount_inc(struct zt_srccount *m, const struct zt_addr *a)
{
	struct entry **p = find(m, a), *e = *p;

	if (e)
		return (int)++e->count;
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->key = key_of(a);
	e->family = a->family;
	e->count = 1;
	*p = e;
	if (++m->n > m->nb)
		grow(m);
	return 1;
}

void zt_srccount_dec(struct zt_srccount *m, const struct zt_addr *a)
{
	struct entry **p = find(m, a), *e = *p;

	if (!e)
		return;
	if (--e->count == 0) {
		*p = e->next;
		free(e);
		m->n--;
	}
}

size_t zt_srccount_sources(const struct zt_srccount *m)
{
	return m->n;
}
