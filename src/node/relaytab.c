/* The relay table for the Intermediate's workers (relaytab.h). */
#include <errno.h>
#include <stdlib.h>

#include "core/hmap.h"
#include "node/relay.h"
#include "node/relaytab.h"

struct tab_node {
	struct zt_hnode hnode;
	struct zt_relaytab_entry e;
};

struct zt_relaytab {
	struct zt_hmap map; /* tab_node by session id */
	struct zt_relaytab_lock lk;
	struct zt_relay_count total; /* everything forwarded, by every reader */
};

/* Adds n to *v when the sum stays within max (CAS: another thread may add at once). */
static bool add_within(_Atomic uint64_t *v, uint64_t n, uint64_t max)
{
	uint64_t cur = atomic_load_explicit(v, memory_order_relaxed);

	do {
		if (n > max || cur > max - n)
			return false;
	} while (!atomic_compare_exchange_weak_explicit(v, &cur, cur + n, memory_order_relaxed,
							memory_order_relaxed));
	return true;
}

bool zt_relay_count_charge(struct zt_relay_count *c, uint64_t len, uint64_t max_bytes,
			   uint64_t max_pkts)
{
	if (!add_within(&c->bytes, len, max_bytes))
		return false;
	if (!add_within(&c->pkts, 1, max_pkts)) {
		atomic_fetch_sub_explicit(&c->bytes, len, memory_order_relaxed);
		return false;
	}
	return true;
}

void zt_relay_count_refund(struct zt_relay_count *c, uint64_t len)
{
	atomic_fetch_sub_explicit(&c->bytes, len, memory_order_relaxed);
	atomic_fetch_sub_explicit(&c->pkts, 1, memory_order_relaxed);
}

uint64_t zt_relay_count_bytes(const struct zt_relay_count *c)
{
	return atomic_load_explicit(&c->bytes, memory_order_relaxed);
}

uint64_t zt_relay_count_pkts(const struct zt_relay_count *c)
{
	return atomic_load_explicit(&c->pkts, memory_order_relaxed);
}

int zt_relaytab_new(struct zt_relaytab **ret, const struct zt_relaytab_lock *lk)
{
	struct zt_relaytab *t = calloc(1, sizeof(*t));

	if (!t)
		return -ENOMEM;
	if (zt_hmap_init(&t->map, 6) < 0) {
		free(t);
		return -ENOMEM;
	}
	if (lk)
		t->lk = *lk;
	*ret = t;
	return 0;
}

static void node_free(struct zt_hnode *n, void *arg)
{
	(void)arg;
	free(zt_hmap_entry(n, struct tab_node, hnode));
}

void zt_relaytab_free(struct zt_relaytab *t)
{
	if (!t)
		return;
	zt_hmap_take_if(&t->map, NULL, NULL, node_free, NULL);
	zt_hmap_fini(&t->map);
	free(t);
}

static bool same_id(const struct zt_hnode *n, const void *id)
{
	return zt_hmap_entry(n, struct tab_node, hnode)->e.id == *(const uint32_t *)id;
}

static struct zt_hnode **slot_of(const struct zt_relaytab *t, uint32_t id)
{
	return zt_hmap_slot(&t->map, id, same_id, &id);
}

static void lock(const struct zt_relaytab *t)
{
	if (t->lk.lock)
		t->lk.lock(t->lk.arg);
}

static void unlock(const struct zt_relaytab *t)
{
	if (t->lk.unlock)
		t->lk.unlock(t->lk.arg);
}

int zt_relaytab_set(struct zt_relaytab *t, const struct zt_relaytab_entry *e)
{
	struct zt_hnode **slot;
	struct tab_node *n;
	int rc = 0;

	if (!e->id || !e->count)
		return -EINVAL;
	lock(t);
	slot = slot_of(t, e->id);
	if (*slot) {
		zt_hmap_entry(*slot, struct tab_node, hnode)->e = *e;
	} else if ((n = malloc(sizeof(*n)))) {
		n->e = *e;
		zt_hmap_link(&t->map, slot, &n->hnode, e->id);
	} else {
		rc = -ENOMEM;
	}
	unlock(t);
	return rc;
}

void zt_relaytab_del(struct zt_relaytab *t, uint32_t id)
{
	struct zt_hnode **slot;

	lock(t);
	slot = slot_of(t, id);
	if (*slot)
		node_free(zt_hmap_unlink(&t->map, slot), NULL);
	unlock(t);
}

size_t zt_relaytab_size(const struct zt_relaytab *t)
{
	return t->map.n;
}

enum zt_relaytab_verdict zt_relaytab_forward(struct zt_relaytab *t,
					     const struct zt_addr *from, const uint8_t *pkt,
					     size_t len, struct zt_addr *ret_to,
					     struct zt_addr *ret_local)
{
	const struct zt_relaytab_entry *e;
	const struct zt_relaytab_end *to;
	struct zt_hnode *n;
	uint32_t id;
	int k;

	if (zt_relay_chan_read(pkt, len, &id) < 0 || !(n = *slot_of(t, id)))
		return ZT_RELAYTAB_SLOW;
	e = &zt_hmap_entry(n, struct tab_node, hnode)->e;
	/* docs/relay-channel.md "Binding": only from the validated address of an end */
	for (k = 0; k < 2; k++)
		if (e->end[k].chan && zt_addr_equal(from, &e->end[k].addr))
			break;
	if (k == 2 || !e->end[k].rate_free)
		return ZT_RELAYTAB_SLOW;
	to = &e->end[1 - k];
	if (!to->chan || !zt_relay_count_charge(e->count, len - 1, e->max_bytes, e->max_pkts))
		return ZT_RELAYTAB_SLOW;
	zt_relay_count_charge(&t->total, len - 1, UINT64_MAX, UINT64_MAX);
	*ret_to = to->addr;
	*ret_local = to->local;
	return ZT_RELAYTAB_FORWARD;
}

void zt_relaytab_forwarded(const struct zt_relaytab *t, uint64_t *pkts, uint64_t *bytes)
{
	*pkts = zt_relay_count_pkts(&t->total);
	*bytes = zt_relay_count_bytes(&t->total);
}
