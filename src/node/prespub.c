#include "node/prespub.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/hmap.h"

#define NUDGE_GAP_MS 1000

struct pub {
	struct zt_hnode node;
	uint8_t role;
	char name[ZT_PRESREC_NAME_MAX + 1];
	struct zt_addr remote;
	uint64_t put_at;        /* wall ms of the last put */
	uint64_t pass;          /* the last pass that saw it */
	uint64_t login_ms;      /* its login here (wall ms) */
	uint64_t seq;           /* of our last put: login_ms in us, then one more each put */
	uint64_t floor;         /* its login's floor: seq stays above it (zt_prespub_see) */
	bool nudged;
	bool yielded;           /* a newer login of it elsewhere holds the record */
};

struct zt_prespub {
	struct zt_hmap map;
	char self[ZT_PRESREC_IMD_MAX + 1];
	uint8_t key[64];
	size_t key_len;
	uint64_t refresh_ms, ttl_ms, seed;
	zt_prespub_emit_fn *emit;
	void *arg;
	uint64_t pass;
	struct zt_prespub_stats st;
};

struct who {
	uint8_t role;
	const char *name;
};

static uint64_t who_hash(const struct zt_prespub *p, uint8_t role, const char *name)
{
	return zt_presrec_hash(p->seed, role, name);
}

static bool same_who(const struct zt_hnode *n, const void *key)
{
	const struct pub *e = zt_hmap_entry(n, struct pub, node);
	const struct who *w = key;

	return e->role == w->role && !strcmp(e->name, w->name);
}

int zt_prespub_new(struct zt_prespub **ret, const struct zt_prespub_config *cfg)
{
	struct zt_prespub *p;
	uint64_t refresh = cfg->refresh_ms ? cfg->refresh_ms : 10000;
	uint64_t ttl = cfg->ttl_ms ? cfg->ttl_ms : 30000;
	size_t sl = cfg->self ? strlen(cfg->self) : 0;

	if (sl == 0 || sl > ZT_PRESREC_IMD_MAX || cfg->key_len < ZT_PRESREC_KEY_MIN ||
	    cfg->key_len > sizeof(p->key) || ttl <= refresh || ttl > ZT_PRESREC_TTL_MAX_MS ||
	    !cfg->emit)
		return -EINVAL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	if (zt_hmap_init(&p->map, 4) < 0) {
		free(p);
		return -ENOMEM;
	}
	memcpy(p->self, cfg->self, sl);
	memcpy(p->key, cfg->key, cfg->key_len);
	p->key_len = cfg->key_len;
	p->refresh_ms = refresh;
	p->ttl_ms = ttl;
	p->seed = cfg->seed;
	p->emit = cfg->emit;
	p->arg = cfg->arg;
	*ret = p;
	return 0;
}

static void free_pub(struct zt_hnode *n, void *arg)
{
	(void)arg;
	free(zt_hmap_entry(n, struct pub, node));
}

void zt_prespub_free(struct zt_prespub *p)
{
	if (!p)
		return;
	zt_hmap_take_if(&p->map, NULL, NULL, free_pub, NULL);
	zt_hmap_fini(&p->map);
	explicit_bzero(p->key, sizeof(p->key));
	free(p);
}

void zt_prespub_begin(struct zt_prespub *p)
{
	p->pass++;
}

static int put(struct zt_prespub *p, struct pub *e, uint64_t now_ms)
{
	struct zt_presrec r = {
		.role = e->role,
		.naddrs = e->remote.family ? 1 : 0,
		.issued_ms = now_ms,
		.expires_ms = now_ms + p->ttl_ms,
	};
	uint8_t buf[ZT_PRESREC_MAX];
	char key[ZT_PRESREC_KEY_MAX + 1];
	int n;

	/* logins order records (the newer login wins everywhere); a login's puts follow
	 * each other; a login ranks above the records it came after, whatever the clocks */
	e->seq = e->seq + 1 > e->login_ms * 1000 ? e->seq + 1 : e->login_ms * 1000;
	if (e->seq <= e->floor)
		e->seq = e->floor + 1;
	r.seq = e->seq;
	memcpy(r.name, e->name, sizeof(r.name));
	memcpy(r.imd, p->self, sizeof(r.imd));
	r.addrs[0] = e->remote;
	n = zt_presrec_key(key, sizeof(key), e->role, e->name);
	if (n >= 0)
		n = zt_presrec_encode(buf, sizeof(buf), &r, p->key, p->key_len);
	if (n < 0) {
		p->st.errors++;
		return n;
	}
	n = p->emit(p->arg, key, buf, (size_t)n);
	if (n < 0) {
		p->st.deferred++;
		e->put_at = 0; /* due at the next pass */
		return n;
	}
	e->put_at = now_ms;
	e->nudged = false;
	p->st.puts++;
	return 1;
}

static bool due(const struct zt_prespub *p, const struct pub *e, uint64_t now_ms,
		const struct zt_addr *remote)
{
	struct zt_addr none = { 0 };

	if (!zt_addr_equal(&e->remote, remote ? remote : &none))
		return true;
	if (now_ms >= e->put_at + p->refresh_ms || now_ms < e->put_at)
		return true;
	return e->nudged && now_ms >= e->put_at + NUDGE_GAP_MS;
}

int zt_prespub_see(struct zt_prespub *p, uint64_t now_ms, uint8_t role, const char *name,
		   const struct zt_addr *remote, uint64_t login_ms, uint64_t floor)
{
	struct who w = { .role = role, .name = name };
	uint64_t h = who_hash(p, role, name);
	struct zt_hnode **slot = zt_hmap_slot(&p->map, h, same_who, &w);
	size_t nl = strnlen(name, ZT_PRESREC_NAME_MAX + 1);
	struct pub *e;
	int rc;

	if (*slot) {
		e = zt_hmap_entry(*slot, struct pub, node);
		/* seen already in this pass: another login of the same identity here
		 * (--logins-per-identity), at another address: not a move. Each of 10,000
		 * logins of one agent put its own address, 10,000 puts a second. */
		if (e->pass == p->pass)
			return 0;
		e->pass = p->pass;
		if (login_ms != e->login_ms) { /* it logged in here again */
			e->login_ms = login_ms;
			e->floor = floor;
			e->yielded = false;
			e->put_at = 0;
		}
		if (e->yielded || !due(p, e, now_ms, remote))
			return 0;
		e->remote = remote ? *remote : (struct zt_addr){ 0 };
		return put(p, e, now_ms);
	}
	if (nl > ZT_PRESREC_NAME_MAX || (role < ZT_PRESREC_AGENT || role > ZT_PRESREC_INTERMEDIATE)) {
		p->st.errors++;
		return ZT_EMALFORMED;
	}
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	*e = (struct pub){ .role = role, .pass = p->pass, .login_ms = login_ms, .floor = floor };
	memcpy(e->name, name, nl);
	if (remote)
		e->remote = *remote;
	rc = put(p, e, now_ms);
	if (rc < 0) {
		free(e);
		return rc;
	}
	zt_hmap_link(&p->map, slot, &e->node, h);
	return rc;
}

static void delete_pub(struct zt_hnode *n, void *arg)
{
	struct zt_prespub *p = arg;
	struct pub *e = zt_hmap_entry(n, struct pub, node);
	char key[ZT_PRESREC_KEY_MAX + 1];

	/* a yielded record is the newer login's, elsewhere: not ours to delete */
	if (!e->yielded && zt_presrec_key(key, sizeof(key), e->role, e->name) >= 0) {
		p->emit(p->arg, key, NULL, 0);
		p->st.deletes++;
	}
	free(e);
}

static bool not_seen(const struct zt_hnode *n, const void *arg)
{
	return zt_hmap_entry(n, struct pub, node)->pass != *(const uint64_t *)arg;
}

size_t zt_prespub_end(struct zt_prespub *p)
{
	return zt_hmap_take_if(&p->map, not_seen, &p->pass, delete_pub, p);
}

size_t zt_prespub_withdraw(struct zt_prespub *p)
{
	return zt_hmap_take_if(&p->map, NULL, NULL, delete_pub, p);
}

static bool mark_due(const struct zt_hnode *n, void *arg)
{
	(void)arg;
	/* put_at 0 is "never": due at the next pass (see due()) */
	zt_hmap_entry(n, struct pub, node)->put_at = 0;
	return true;
}

void zt_prespub_republish(struct zt_prespub *p)
{
	zt_hmap_walk(&p->map, mark_due, NULL);
}

static struct pub *find_pub(struct zt_prespub *p, uint8_t role, const char *name)
{
	struct who w = { .role = role, .name = name };
	struct zt_hnode **slot = zt_hmap_slot(&p->map, who_hash(p, role, name), same_who, &w);

	return *slot ? zt_hmap_entry(*slot, struct pub, node) : NULL;
}

void zt_prespub_nudge(struct zt_prespub *p, uint8_t role, const char *name)
{
	struct pub *e = find_pub(p, role, name);

	if (!e)
		return;
	if (e->yielded) { /* the newer login's record is gone: ours again */
		e->yielded = false;
		e->put_at = 0;
	}
	if (!e->nudged) {
		e->nudged = true;
		p->st.nudges++;
	}
}

int zt_prespub_elsewhere(struct zt_prespub *p, uint8_t role, const char *name, uint64_t seq)
{
	struct pub *e = find_pub(p, role, name);

	if (!e || e->yielded)
		return 0;
	if (seq <= e->seq) { /* ours is the newer login: the store is to say so */
		zt_prespub_nudge(p, role, name);
		return 0;
	}
	e->yielded = true;
	p->st.yielded++;
	return 1;
}

void zt_prespub_stats(const struct zt_prespub *p, struct zt_prespub_stats *ret)
{
	*ret = p->st;
	ret->clients = p->map.n;
}
