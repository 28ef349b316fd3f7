/* Tunnel addresses for agents (addrpool.h). */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/addrpool.h"
#include "core/hmap.h"

struct holder {
	struct zt_hnode by_name, by_place;
	uint64_t place;
	unsigned refs;
	char identity[];
};

struct zt_addrpool {
	struct zt_addr prefix;
	unsigned host_bits;          /* 2..64 */
	uint64_t first, last;        /* places handed out: first..last */
	struct zt_hmap names, places;
};

/* FNV-1a: stable across runs and builds (the address must be). */
static uint64_t name_hash(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 0x100000001b3ULL;
	return h;
}

static bool same_name(const struct zt_hnode *n, const void *key)
{
	return !strcmp(zt_hmap_entry(n, struct holder, by_name)->identity, key);
}

static bool same_place(const struct zt_hnode *n, const void *key)
{
	return zt_hmap_entry(n, struct holder, by_place)->place == *(const uint64_t *)key;
}

static bool host_zero(const struct zt_addr *a, unsigned host_bits)
{
	unsigned len = a->family == AF_INET ? 4 : 16;

	for (unsigned i = 0; i < len; i++) {
		unsigned from_end = (len - 1 - i) * 8; /* bits below this byte */
		if (from_end + 8 <= host_bits ? a->ip[i] : from_end < host_bits ?
		    a->ip[i] & (uint8_t)((1u << (host_bits - from_end)) - 1) : 0)
			return false;
	}
	return true;
}

int zt_addrpool_new(struct zt_addrpool **ret, const struct zt_addr *prefix, unsigned plen)
{
	struct zt_addrpool *p;
	unsigned bits = prefix->family == AF_INET ? 32 : 128;

	if ((prefix->family == AF_INET && (plen < 8 || plen > 30)) ||
	    (prefix->family == AF_INET6 && (plen < 64 || plen > 126)) ||
	    (prefix->family != AF_INET && prefix->family != AF_INET6) ||
	    !host_zero(prefix, bits - plen))
		return -EINVAL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->prefix = *prefix;
	p->prefix.port = 0;
	p->host_bits = bits - plen;
	p->first = 2;
	p->last = p->host_bits == 64 ? UINT64_MAX : (UINT64_C(1) << p->host_bits) - 1;
	if (prefix->family == AF_INET)
		p->last--; /* broadcast */
	if (zt_hmap_init(&p->names, 4) < 0 || zt_hmap_init(&p->places, 4) < 0) {
		zt_addrpool_free(p);
		return -ENOMEM;
	}
	*ret = p;
	return 0;
}

static void free_holder(struct zt_hnode *n, void *arg)
{
	(void)arg;
	free(zt_hmap_entry(n, struct holder, by_name));
}

void zt_addrpool_free(struct zt_addrpool *p)
{
	if (!p)
		return;
	if (p->names.b)
		zt_hmap_take_if(&p->names, NULL, NULL, free_holder, NULL);
	zt_hmap_fini(&p->names);
	zt_hmap_fini(&p->places);
	free(p);
}

static void place_addr(const struct zt_addrpool *p, uint64_t place, struct zt_addr *ret)
{
	unsigned len = p->prefix.family == AF_INET ? 4 : 16;

	*ret = p->prefix;
	for (unsigned i = 0; i < 8 && i < len; i++)
		ret->ip[len - 1 - i] |= (uint8_t)(place >> (8 * i));
}

void zt_addrpool_gateway(const struct zt_addrpool *p, struct zt_addr *ret)
{
	place_addr(p, 1, ret);
}

/* The identity's own place, or the next free one after it. */
static int free_place(const struct zt_addrpool *p, const char *identity, uint64_t *ret)
{
	uint64_t span = p->last - p->first + 1, place;

	if ((uint64_t)p->names.n >= span)
		return -ENOSPC;
	place = p->first + name_hash(identity) % span;
	while (*zt_hmap_slot(&p->places, place, same_place, &place))
		place = place == p->last ? p->first : place + 1;
	*ret = place;
	return 0;
}

int zt_addrpool_take(struct zt_addrpool *p, const char *identity, struct zt_addr *ret)
{
	struct zt_hnode **slot;
	struct holder *h;
	uint64_t hash, place;
	size_t n;
	int rc;

	if (!identity || !*identity)
		return -EINVAL;
	hash = name_hash(identity);
	slot = zt_hmap_slot(&p->names, hash, same_name, identity);
	if (*slot) {
		h = zt_hmap_entry(*slot, struct holder, by_name);
		h->refs++;
		place_addr(p, h->place, ret);
		return 0;
	}
	rc = free_place(p, identity, &place);
	if (rc < 0)
		return rc;
	n = strlen(identity);
	h = calloc(1, sizeof(*h) + n + 1);
	if (!h)
		return -ENOMEM;
	memcpy(h->identity, identity, n + 1);
	h->place = place;
	h->refs = 1;
	zt_hmap_link(&p->names, slot, &h->by_name, hash);
	zt_hmap_link(&p->places, zt_hmap_slot(&p->places, place, same_place, &place), &h->by_place,
		     place);
	place_addr(p, place, ret);
	return 0;
}

void zt_addrpool_give(struct zt_addrpool *p, const char *identity)
{
	struct zt_hnode **slot;
	struct holder *h;

	if (!identity)
		return;
	slot = zt_hmap_slot(&p->names, name_hash(identity), same_name, identity);
	if (!*slot)
		return;
	h = zt_hmap_entry(*slot, struct holder, by_name);
	if (--h->refs)
		return;
	zt_hmap_unlink(&p->names, slot);
	zt_hmap_remove(&p->places, &h->by_place);
	free(h);
}

size_t zt_addrpool_used(const struct zt_addrpool *p)
{
	return p->names.n;
}
