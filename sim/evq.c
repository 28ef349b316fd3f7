#include <errno.h>
#include <stdlib.h>

#include "evq.h"

void zt_sim_evq_init(struct zt_sim_evq *q)
{
	*q = (struct zt_sim_evq){ 0 };
}

void zt_sim_evq_fini(struct zt_sim_evq *q)
{
	if (!q)
		return;
	free(q->heap);
	*q = (struct zt_sim_evq){ 0 };
}

static int before(const struct zt_sim_ev *a, const struct zt_sim_ev *b)
{
	return a->at < b->at || (a->at == b->at && a->seq < b->seq);
}

int zt_sim_evq_push(struct zt_sim_evq *q, uint64_t at, zt_sim_ev_fn *fn, void *ctx, void *arg)
{
	struct zt_sim_ev ev;
	size_t i;

	if (q->n == q->cap) {
		size_t cap = q->cap ? q->cap * 2 : 256;
		struct zt_sim_ev *h = realloc(q->heap, cap * sizeof(*h));
		if (!h)
			return -ENOMEM;
		q->heap = h;
		q->cap = cap;
	}
	ev = (struct zt_sim_ev){
		.at = at < q->now ? q->now : at, .seq = q->seq++, .fn = fn, .ctx = ctx, .arg = arg,
	};
	/* sift up */
	for (i = q->n++; i > 0; i = (i - 1) / 2) {
		size_t parent = (i - 1) / 2;
		if (!before(&ev, &q->heap[parent]))
			break;
		q->heap[i] = q->heap[parent];
	}
	q->heap[i] = ev;
	return 0;
}

uint64_t zt_sim_evq_next(const struct zt_sim_evq *q)
{
	return q->n ? q->heap[0].at : UINT64_MAX;
}

static void remove_top(struct zt_sim_evq *q)
{
	struct zt_sim_ev last = q->heap[--q->n];
	size_t i = 0;

	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= q->n)
			break;
		if (c + 1 < q->n && before(&q->heap[c + 1], &q->heap[c]))
			c++;
		if (!before(&q->heap[c], &last))
			break;
		q->heap[i] = q->heap[c];
		i = c;
	}
	if (q->n)
		q->heap[i] = last;
}

int zt_sim_evq_pop(struct zt_sim_evq *q, uint64_t until, struct zt_sim_ev *ret)
{
	if (!q->n || q->heap[0].at > until) {
		if (until != UINT64_MAX && until > q->now)
			q->now = until;
		return 0;
	}
	*ret = q->heap[0];
	remove_top(q);
	q->now = ret->at;
	q->popped++;
	return 1;
}

uint64_t zt_sim_evq_run(struct zt_sim_evq *q, uint64_t until)
{
	struct zt_sim_ev ev;
	uint64_t ran = 0, same = 0, last = UINT64_MAX;

	while (zt_sim_evq_pop(q, until, &ev)) {
		same = ev.at == last ? same + 1 : 0;
		last = ev.at;
		if (same >= ZT_SIM_EVQ_SPIN_MAX) {
			q->spun = true;
			q->spun_at = ev.at;
			/* back in the queue: its arg is the caller's to drain */
			(void)zt_sim_evq_push(q, ev.at, ev.fn, ev.ctx, ev.arg);
			break;
		}
		ev.fn(ev.ctx, ev.arg, ev.at);
		ran++;
	}
	return ran;
}

void zt_sim_evq_drain(struct zt_sim_evq *q, void (*drop)(void *ctx, void *arg))
{
	for (size_t i = 0; i < q->n; i++)
		if (drop)
			drop(q->heap[i].ctx, q->heap[i].arg);
	q->n = 0;
}
