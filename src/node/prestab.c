#include "node/prestab.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/hmap.h"

struct entry {
	struct zt_hnode node;
	struct zt_presrec rec;
};

struct zt_prestab {
	struct zt_hmap map;
	size_t max;
	uint64_t seed;
	uint8_t key[64];
	size_t key_len;
	struct zt_prestab_stats st;
};

struct who {
	uint8_t role;
	const char *name;
};

/* Keyed (core/presrec.h); chains are bounded by max anyway. */
static uint64_t who_hash(const struct zt_prestab *t, const struct who *w)
{
	return zt_presrec_hash(t->seed, w->role, w->name);
}

static bool same_who(const struct zt_hnode *n, const void *key)
{
	const struct entry *e = zt_hmap_entry(n, struct entry, node);
	const struct who *w = key;

	return e->rec.role == w->role && !strcmp(e->rec.name, w->name);
}

int zt_prestab_new(struct zt_prestab **ret, size_t max, const uint8_t *key, size_t key_len,
		   uint64_t seed)
{
	struct zt_prestab *t;

	if (key_len < ZT_PRESREC_KEY_MIN || key_len > sizeof(t->key) || max == 0)
		return -EINVAL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	if (zt_hmap_init(&t->map, 4) < 0) {
		free(t);
		return -ENOMEM;
	}
	t->max = max;
	t->seed = seed;
	memcpy(t->key, key, key_len);
	t->key_len = key_len;
	*ret = t;
	return 0;
}

static void free_entry(struct zt_hnode *n, void *arg)
{
	(void)arg;
	free(zt_hmap_entry(n, struct entry, node));
}

void zt_prestab_free(struct zt_prestab *t)
{
	if (!t)
		return;
	zt_hmap_take_if(&t->map, NULL, NULL, free_entry, NULL);
	zt_hmap_fini(&t->map);
	explicit_bzero(t->key, sizeof(t->key));
	free(t);
}

static int refuse(struct zt_prestab *t, int err)
{
	t->st.refused++;
	t->st.last_refusal = err;
	return err;
}

static int apply_delete(struct zt_prestab *t, const struct who *w)
{
	struct zt_hnode **slot = zt_hmap_slot(&t->map, who_hash(t, w), same_who, w);

	if (*slot) {
		free_entry(zt_hmap_unlink(&t->map, slot), NULL);
		t->st.deleted++;
	}
	return 0;
}

static int apply_put(struct zt_prestab *t, const struct who *w, const struct zt_presrec *r)
{
	uint64_t h = who_hash(t, w);
	struct zt_hnode **slot = zt_hmap_slot(&t->map, h, same_who, w);
	struct entry *e;

	if (*slot) {
		e = zt_hmap_entry(*slot, struct entry, node);
		if (r->seq <= e->rec.seq) {
			t->st.stale++;
			return 1;
		}
		e->rec = *r;
		t->st.applied++;
		return 0;
	}
	if (t->map.n >= t->max) {
		t->st.full++;
		t->st.last_refusal = ZT_EQUOTA;
		return ZT_EQUOTA;
	}
	e = malloc(sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->rec = *r;
	zt_hmap_link(&t->map, slot, &e->node, h);
	t->st.applied++;
	return 0;
}

int zt_prestab_apply(struct zt_prestab *t, uint64_t now_ms, const char *key, const uint8_t *val,
		     size_t len)
{
	char name[ZT_PRESREC_NAME_MAX + 1];
	struct zt_presrec r;
	struct who w = { .name = name };
	int rc;

	rc = zt_presrec_key_parse(key, &w.role, name);
	if (rc < 0)
		return refuse(t, rc);
	if (!val)
		return apply_delete(t, &w);
	rc = zt_presrec_decode(val, len, t->key, t->key_len, now_ms, name, &r);
	if (rc < 0)
		return refuse(t, rc);
	if (r.role != w.role)
		return refuse(t, ZT_EPOLICY);
	return apply_put(t, &w, &r);
}

int zt_prestab_find(const struct zt_prestab *t, uint64_t now_ms, uint8_t role, const char *name,
		    struct zt_presrec *ret)
{
	struct who w = { .role = role, .name = name };
	struct zt_hnode **slot = zt_hmap_slot(&t->map, who_hash(t, &w), same_who, &w);
	const struct entry *e;

	if (!*slot)
		return -ENOENT;
	e = zt_hmap_entry(*slot, struct entry, node);
	if (e->rec.expires_ms <= now_ms)
		return -ENOENT;
	*ret = e->rec;
	return 0;
}

struct first_walk {
	uint64_t now_ms;
	bool (*pred)(void *arg, const struct zt_presrec *r);
	void *arg;
	const struct zt_presrec *found;
};

static bool first_one(const struct zt_hnode *n, void *arg)
{
	struct first_walk *f = arg;
	const struct entry *e = zt_hmap_entry(n, struct entry, node);

	if (e->rec.expires_ms <= f->now_ms || !f->pred(f->arg, &e->rec))
		return true;
	f->found = &e->rec;
	return false;
}

int zt_prestab_first(const struct zt_prestab *t, uint64_t now_ms,
		     bool (*pred)(void *arg, const struct zt_presrec *r), void *arg,
		     struct zt_presrec *ret)
{
	struct first_walk f = { .now_ms = now_ms, .pred = pred, .arg = arg };

	zt_hmap_walk(&t->map, first_one, &f);
	if (!f.found)
		return -ENOENT;
	*ret = *f.found;
	return 0;
}

static bool is_expired(const struct zt_hnode *n, const void *arg)
{
	return zt_hmap_entry(n, struct entry, node)->rec.expires_ms <= *(const uint64_t *)arg;
}

size_t zt_prestab_expire(struct zt_prestab *t, uint64_t now_ms)
{
	size_t n = zt_hmap_take_if(&t->map, is_expired, &now_ms, free_entry, NULL);

	t->st.expired += n;
	return n;
}

struct list_walk {
	uint64_t now_ms;
	struct zt_presrec *out;
	size_t cap, n;
};

static bool list_one(const struct zt_hnode *n, void *arg)
{
	struct list_walk *l = arg;
	const struct entry *e = zt_hmap_entry(n, struct entry, node);

	if (e->rec.expires_ms <= l->now_ms)
		return true;
	if (l->n < l->cap)
		l->out[l->n] = e->rec;
	l->n++;
	return true;
}

size_t zt_prestab_list(const struct zt_prestab *t, uint64_t now_ms, struct zt_presrec *ret,
		       size_t cap)
{
	struct list_walk l = { .now_ms = now_ms, .out = ret, .cap = cap };

	zt_hmap_walk(&t->map, list_one, &l);
	return l.n;
}

void zt_prestab_stats(const struct zt_prestab *t, struct zt_prestab_stats *ret)
{
	*ret = t->st;
	ret->entries = t->map.n;
}
