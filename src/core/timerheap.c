#include <errno.h>
#include <stdlib.h>

#include "core/timerheap.h"

void zt_timerheap_init(struct zt_timerheap *h)
{
	*h = (struct zt_timerheap){ 0 };
}

void zt_timerheap_fini(struct zt_timerheap *h)
{
	for (size_t i = 0; i < h->n; i++)
		h->v[i]->idx = ZT_TIMERHEAP_NONE;
	free(h->v);
	*h = (struct zt_timerheap){ 0 };
}

void zt_timerheap_entry_init(struct zt_timerheap_entry *e)
{
	*e = (struct zt_timerheap_entry){ .at = UINT64_MAX, .idx = ZT_TIMERHEAP_NONE };
}

int zt_timerheap_reserve(struct zt_timerheap *h, size_t n)
{
	struct zt_timerheap_entry **v;
	size_t cap = h->cap ? h->cap : 16;

	if (n <= h->cap)
		return 0;
	while (cap < n)
		cap *= 2;
	v = realloc(h->v, cap * sizeof(*v));
	if (!v)
		return -ENOMEM;
	h->v = v;
	h->cap = cap;
	return 0;
}

static void place(struct zt_timerheap *h, size_t i, struct zt_timerheap_entry *e)
{
	h->v[i] = e;
	e->idx = i;
}

static void sift_up(struct zt_timerheap *h, size_t i)
{
	struct zt_timerheap_entry *e = h->v[i];

	while (i > 0) {
		size_t parent = (i - 1) / 2;
		if (h->v[parent]->at <= e->at)
			break;
		place(h, i, h->v[parent]);
		i = parent;
	}
	place(h, i, e);
}

static void sift_down(struct zt_timerheap *h, size_t i)
{
	struct zt_timerheap_entry *e = h->v[i];

	for (;;) {
		size_t l = 2 * i + 1, m = l;
		if (l >= h->n)
			break;
		if (l + 1 < h->n && h->v[l + 1]->at < h->v[l]->at)
			m = l + 1;
		if (e->at <= h->v[m]->at)
			break;
		place(h, i, h->v[m]);
		i = m;
	}
	place(h, i, e);
}

void zt_timerheap_remove(struct zt_timerheap *h, struct zt_timerheap_entry *e)
{
	size_t i = e->idx;
	struct zt_timerheap_entry *last;

	if (i == ZT_TIMERHEAP_NONE || i >= h->n || h->v[i] != e)
		return;
	e->idx = ZT_TIMERHEAP_NONE;
	last = h->v[--h->n];
	if (i == h->n)
		return;
	place(h, i, last);
	sift_down(h, i);
	sift_up(h, last->idx);
}

int zt_timerheap_set(struct zt_timerheap *h, struct zt_timerheap_entry *e, uint64_t at)
{
	uint64_t old = e->at;
	int rc;

	if (at == UINT64_MAX) {
		zt_timerheap_remove(h, e);
		e->at = at;
		return 0;
	}
	if (e->idx == ZT_TIMERHEAP_NONE) {
		if (h->n == h->cap && (rc = zt_timerheap_reserve(h, h->n + 1)) < 0)
			return rc;
		e->at = at;
		place(h, h->n++, e);
		sift_up(h, e->idx);
		return 0;
	}
	e->at = at;
	if (at < old)
		sift_up(h, e->idx);
	else if (at > old)
		sift_down(h, e->idx);
	return 0;
}
