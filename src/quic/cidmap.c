#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/hmap.h"
#include "quic/cidmap.h"

/* The IDs of one connection, so that freeing it takes out only its own: a scan of
 * the whole table per connection made 10,000 clients leaving at once cost the
 * Intermediate 8 s of CPU, no login answered meanwhile (bench multi-load). */
struct owner {
	struct zt_hnode node;           /* in by_conn, hashed by the connection's address */
	const struct zt_quic_conn *conn;
	struct cid_node *head;
};

struct cid_node {
	struct zt_hnode node;
	struct zt_quic_conn *conn;
	struct owner *owner;
	struct cid_node *prev, *next;   /* the owner's */
	uint8_t len;
	uint8_t cid[ZT_QUIC_CID_MAX];
};

struct zt_quic_cidmap {
	struct zt_hmap map;
	struct zt_hmap by_conn;         /* struct owner */
	uint64_t k0, k1;
};

struct cid_key {
	const uint8_t *cid;
	size_t len;
};

static uint64_t rotl(uint64_t x, int r)
{
	return x << r | x >> (64 - r);
}

/* A keyed mix of the ID bytes (not cryptographic; the key defeats chosen collisions). */
static uint64_t cid_hash(const struct zt_quic_cidmap *m, const uint8_t *cid, size_t len)
{
	uint64_t h = m->k0 ^ (len * 0x9e3779b97f4a7c15ULL);

	for (size_t i = 0; i < len; i += 8) {
		uint64_t w = 0;
		size_t n = len - i < 8 ? len - i : 8;
		memcpy(&w, cid + i, n);
		h ^= w + m->k1;
		h = rotl(h * 0xbf58476d1ce4e5b9ULL, 31) * 0x94d049bb133111ebULL;
	}
	return h ^ (h >> 29);
}

static bool same_cid(const struct zt_hnode *n, const void *key)
{
	const struct cid_node *c = zt_hmap_entry(n, struct cid_node, node);
	const struct cid_key *k = key;

	return c->len == k->len && !memcmp(c->cid, k->cid, k->len);
}

int zt_quic_cidmap_new(struct zt_quic_cidmap **ret, const struct zt_rng *rng)
{
	struct zt_quic_cidmap *m = calloc(1, sizeof(*m));

	if (!m)
		return -ENOMEM;
	if (zt_hmap_init(&m->map, 6) < 0) {
		free(m);
		return -ENOMEM;
	}
	if (zt_hmap_init(&m->by_conn, 6) < 0) {
		zt_hmap_fini(&m->map);
		free(m);
		return -ENOMEM;
	}
	m->k0 = zt_rng_u64(rng);
	m->k1 = zt_rng_u64(rng);
	*ret = m;
	return 0;
}

static void free_node(struct zt_hnode *n, void *arg)
{
	(void)arg;
	free(zt_hmap_entry(n, struct cid_node, node));
}

static void free_owner(struct zt_hnode *n, void *arg)
{
	(void)arg;
	free(zt_hmap_entry(n, struct owner, node));
}

void zt_quic_cidmap_free(struct zt_quic_cidmap *m)
{
	if (!m)
		return;
	zt_hmap_take_if(&m->map, NULL, NULL, free_node, NULL);
	zt_hmap_take_if(&m->by_conn, NULL, NULL, free_owner, NULL);
	zt_hmap_fini(&m->map);
	zt_hmap_fini(&m->by_conn);
	free(m);
}

/* Pointers are not chosen by peers: a plain mix of the address is enough. */
static uint64_t conn_hash(const struct zt_quic_conn *c)
{
	uint64_t h = (uint64_t)(uintptr_t)c * 0x9e3779b97f4a7c15ULL;

	return h ^ (h >> 31);
}

static bool same_conn(const struct zt_hnode *n, const void *conn)
{
	return zt_hmap_entry(n, struct owner, node)->conn == conn;
}

/* The owner record of c (made when make and missing), or NULL. */
static struct owner *owner_of(struct zt_quic_cidmap *m, const struct zt_quic_conn *c, bool make)
{
	uint64_t h = conn_hash(c);
	struct zt_hnode **p = zt_hmap_slot(&m->by_conn, h, same_conn, c);
	struct owner *o;

	if (*p)
		return zt_hmap_entry(*p, struct owner, node);
	if (!make || !(o = calloc(1, sizeof(*o))))
		return NULL;
	o->conn = c;
	zt_hmap_link(&m->by_conn, p, &o->node, h);
	return o;
}

/* Takes n out of its owner's list (and the owner out when that was its last ID). */
static void owner_drop(struct zt_quic_cidmap *m, struct cid_node *n)
{
	struct owner *o = n->owner;

	if (n->prev)
		n->prev->next = n->next;
	else
		o->head = n->next;
	if (n->next)
		n->next->prev = n->prev;
	if (!o->head) {
		zt_hmap_remove(&m->by_conn, &o->node);
		free(o);
	}
}

static struct zt_hnode **slot(const struct zt_quic_cidmap *m, const uint8_t *cid, size_t len)
{
	struct cid_key k = { cid, len };

	return zt_hmap_slot(&m->map, cid_hash(m, cid, len), same_cid, &k);
}

int zt_quic_cidmap_add(struct zt_quic_cidmap *m, const uint8_t *cid, size_t len,
		       struct zt_quic_conn *c)
{
	struct zt_hnode **p;
	struct cid_node *n;

	if (len == 0 || len > ZT_QUIC_CID_MAX)
		return -EINVAL;
	p = slot(m, cid, len);
	if (*p)
		return -EEXIST;
	n = calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	n->owner = owner_of(m, c, true);
	if (!n->owner) {
		free(n);
		return -ENOMEM;
	}
	n->next = n->owner->head;
	if (n->next)
		n->next->prev = n;
	n->owner->head = n;
	n->conn = c;
	n->len = (uint8_t)len;
	memcpy(n->cid, cid, len);
	zt_hmap_link(&m->map, p, &n->node, cid_hash(m, cid, len));
	return 0;
}

int zt_quic_cidmap_remove(struct zt_quic_cidmap *m, const uint8_t *cid, size_t len)
{
	struct zt_hnode **p;

	if (len == 0 || len > ZT_QUIC_CID_MAX)
		return -ENOENT;
	struct cid_node *n;

	p = slot(m, cid, len);
	if (!*p)
		return -ENOENT;
	n = zt_hmap_entry(zt_hmap_unlink(&m->map, p), struct cid_node, node);
	owner_drop(m, n);
	free(n);
	return 0;
}

size_t zt_quic_cidmap_remove_conn(struct zt_quic_cidmap *m, const struct zt_quic_conn *c)
{
	struct owner *o = owner_of(m, c, false);
	struct cid_node *n, *next;
	size_t k = 0;

	if (!o)
		return 0;
	for (n = o->head; n; n = next) {
		next = n->next;
		zt_hmap_remove(&m->map, &n->node);
		free(n);
		k++;
	}
	zt_hmap_remove(&m->by_conn, &o->node);
	free(o);
	return k;
}

struct zt_quic_conn *zt_quic_cidmap_find(const struct zt_quic_cidmap *m, const uint8_t *cid,
					 size_t len)
{
	struct zt_hnode **p;

	if (len == 0 || len > ZT_QUIC_CID_MAX)
		return NULL;
	p = slot(m, cid, len);
	return *p ? zt_hmap_entry(*p, struct cid_node, node)->conn : NULL;
}

size_t zt_quic_cidmap_count(const struct zt_quic_cidmap *m)
{
	return m->map.n;
}

int zt_quic_pkt_dcid(const uint8_t *pkt, size_t len, const uint8_t **ret_cid,
		     size_t *ret_len)
{
	if (len < 1)
		return ZT_ETRUNC;
	if (!(pkt[0] & 0x40))
		return ZT_EMALFORMED; /* fixed bit (RFC 9000 s17); we never grease it */
	if (pkt[0] & 0x80) {
		/* RFC 9000 s17.2: flags, version (4), DCID length (1), DCID. */
		size_t dl;
		if (len < 6)
			return ZT_ETRUNC;
		dl = pkt[5];
		if (dl > ZT_QUIC_CID_MAX)
			return ZT_EMALFORMED;
		if (len < 6 + dl)
			return ZT_ETRUNC;
		*ret_cid = pkt + 6;
		*ret_len = dl;
		return 0;
	}
	/* RFC 9000 s17.3: flags, then the DCID whose length the receiver knows. */
	if (len < 1 + ZT_QUIC_CID_LEN)
		return ZT_ETRUNC;
	*ret_cid = pkt + 1;
	*ret_len = ZT_QUIC_CID_LEN;
	return 0;
}

bool zt_quic_pkt_is_initial(const uint8_t *pkt, size_t len)
{
	/* Long header, fixed bit, type 0 (Initial), version 1. */
	return len >= 1200 && (pkt[0] & 0xf0) == 0xc0 && pkt[1] == 0 && pkt[2] == 0 &&
	       pkt[3] == 0 && pkt[4] == 1;
}

struct zt_quic_conn *zt_quic_cidmap_lookup_pkt(const struct zt_quic_cidmap *m,
					       const uint8_t *pkt, size_t len)
{
	const uint8_t *cid;
	size_t cl;

	if (zt_quic_pkt_dcid(pkt, len, &cid, &cl) < 0)
		return NULL;
	return zt_quic_cidmap_find(m, cid, cl);
}
