#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/hmap.h"
#include "quic/cidmap.h"

struct cid_node {
	struct zt_hnode node;
	struct zt_quic_conn *conn;
	uint8_t len;
	uint8_t cid[ZT_QUIC_CID_MAX];
};

struct zt_quic_cidmap {
	struct zt_hmap map;
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

void zt_quic_cidmap_free(struct zt_quic_cidmap *m)
{
	if (!m)
		return;
	zt_hmap_take_if(&m->map, NULL, NULL, free_node, NULL);
	zt_hmap_fini(&m->map);
	free(m);
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
	p = slot(m, cid, len);
	if (!*p)
		return -ENOENT;
	free_node(zt_hmap_unlink(&m->map, p), NULL);
	return 0;
}

static bool of_conn(const struct zt_hnode *n, const void *conn)
{
	return zt_hmap_entry(n, struct cid_node, node)->conn == conn;
}

size_t zt_quic_cidmap_remove_conn(struct zt_quic_cidmap *m, const struct zt_quic_conn *c)
{
	return zt_hmap_take_if(&m->map, of_conn, c, free_node, NULL);
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
