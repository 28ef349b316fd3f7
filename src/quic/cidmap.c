#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "quic/cidmap.h"

struct cid_node {
	struct cid_node *next;
	struct zt_quic_conn *conn;
	uint8_t len;
	uint8_t cid[ZT_QUIC_CID_MAX];
};

struct zt_quic_cidmap {
	struct cid_node **bucket;
	size_t nbucket; /* a power of two */
	size_t count;
	uint64_t k0, k1;
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

int zt_quic_cidmap_new(struct zt_quic_cidmap **ret, const struct zt_rng *rng)
{
	struct zt_quic_cidmap *m = calloc(1, sizeof(*m));

	if (!m)
		return -ENOMEM;
	m->nbucket = 64;
	m->bucket = calloc(m->nbucket, sizeof(*m->bucket));
	if (!m->bucket) {
		free(m);
		return -ENOMEM;
	}
	m->k0 = zt_rng_u64(rng);
	m->k1 = zt_rng_u64(rng);
	*ret = m;
	return 0;
}

void zt_quic_cidmap_free(struct zt_quic_cidmap *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->nbucket; i++) {
		struct cid_node *n = m->bucket[i];
		while (n) {
			struct cid_node *next = n->next;
			free(n);
			n = next;
		}
	}
	free(m->bucket);
	free(m);
}

static void grow(struct zt_quic_cidmap *m)
{
	size_t nb = m->nbucket * 2;
	struct cid_node **b = calloc(nb, sizeof(*b));

	if (!b)
		return; /* keep working with longer chains */
	for (size_t i = 0; i < m->nbucket; i++) {
		struct cid_node *n = m->bucket[i];
		while (n) {
			struct cid_node *next = n->next;
			size_t j = cid_hash(m, n->cid, n->len) & (nb - 1);
			n->next = b[j];
			b[j] = n;
			n = next;
		}
	}
	free(m->bucket);
	m->bucket = b;
	m->nbucket = nb;
}

static struct cid_node **slot(const struct zt_quic_cidmap *m, const uint8_t *cid, size_t len)
{
	struct cid_node **p = &m->bucket[cid_hash(m, cid, len) & (m->nbucket - 1)];

	while (*p && ((*p)->len != len || memcmp((*p)->cid, cid, len)))
		p = &(*p)->next;
	return p;
}

int zt_quic_cidmap_add(struct zt_quic_cidmap *m, const uint8_t *cid, size_t len,
		       struct zt_quic_conn *c)
{
	struct cid_node **p, *n;

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
	*p = n;
	if (++m->count > m->nbucket)
		grow(m);
	return 0;
}

int zt_quic_cidmap_remove(struct zt_quic_cidmap *m, const uint8_t *cid, size_t len)
{
	struct cid_node **p, *n;

	if (len == 0 || len > ZT_QUIC_CID_MAX)
		return -ENOENT;
	p = slot(m, cid, len);
	if (!*p)
		return -ENOENT;
	n = *p;
	*p = n->next;
	free(n);
	m->count--;
	return 0;
}

size_t zt_quic_cidmap_remove_conn(struct zt_quic_cidmap *m, const struct zt_quic_conn *c)
{
	size_t removed = 0;

	for (size_t i = 0; i < m->nbucket; i++) {
		struct cid_node **p = &m->bucket[i];
		while (*p) {
			if ((*p)->conn == c) {
				struct cid_node *n = *p;
				*p = n->next;
				free(n);
				removed++;
			} else {
				p = &(*p)->next;
			}
		}
	}
	m->count -= removed;
	return removed;
}

struct zt_quic_conn *zt_quic_cidmap_find(const struct zt_quic_cidmap *m, const uint8_t *cid,
					 size_t len)
{
	struct cid_node **p;

	if (len == 0 || len > ZT_QUIC_CID_MAX)
		return NULL;
	p = slot(m, cid, len);
	return *p ? (*p)->conn : NULL;
}

size_t zt_quic_cidmap_count(const struct zt_quic_cidmap *m)
{
	return m->count;
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
