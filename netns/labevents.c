#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "labevents.h"

struct zt_labev {
	struct zt_lab *lab;
	struct zt_timer timer;
	uint64_t t0;
	unsigned next;
	char dir[PATH_MAX];
	zt_labev_log_fn fn;
	void *ctx;
	struct zt_scn_link cur[ZT_SCN_MAX_NODES], saved[ZT_SCN_MAX_NODES];
};

/* 'host H move NAT': to its second uplink, or back to its own. */
static int move_host(struct zt_labev *e, const struct zt_scn_event *ev, char *err, size_t cap)
{
	struct zt_lab *lab = e->lab;
	int rc = zt_lab_move_host(lab, ev->node, (int)ev->to != lab->scn->nodes[ev->node].up);

	if (rc < 0)
		snprintf(err, cap, "%s", lab->err);
	return rc;
}

static int run_one(struct zt_labev *e, const struct zt_scn_event *ev, char *err, size_t cap)
{
	struct zt_lab *lab = e->lab;
	const struct zt_scn_node *n = &lab->scn->nodes[ev->node];
	int rc;

	if (ev->kind == ZT_SCN_EV_HOST_MOVE)
		return move_host(e, ev, err, cap);
	if (zt_scn_event_apply(ev, &e->cur[ev->node], &e->saved[ev->node])) {
		rc = zt_lab_set_link(lab, ev->node, &e->cur[ev->node]);
		if (rc < 0)
			snprintf(err, cap, "the link of %s is not emulated", n->name);
		return rc;
	}
	if (n->portmap == ZT_SCN_PORTMAP_NONE)
		return zt_lab_flush_nat(lab->id, n, err, cap);
	rc = zt_lab_restart_portmap(lab, (int)ev->node, e->dir, false);
	if (rc < 0)
		snprintf(err, cap, "%s", lab->err);
	return rc;
}

static void on_timer(struct zt_loop *loop, struct zt_timer *t, uint64_t now)
{
	struct zt_labev *e = t->data;
	const struct zt_scn *s = e->lab->scn;

	while (e->next < s->nevents && e->t0 + s->events[e->next].at_ns <= now) {
		const struct zt_scn_event *ev = &s->events[e->next++];
		char err[512] = "";
		int rc = run_one(e, ev, err, sizeof(err));

		e->fn(e->ctx, ev, now - (e->t0 + ev->at_ns), rc, err);
	}
	if (e->next < s->nevents)
		zt_timer_set(loop, t, e->t0 + s->events[e->next].at_ns);
}

int zt_labev_start(struct zt_lab *lab, uint64_t t0, const char *dir, zt_labev_log_fn fn,
		   void *ctx, struct zt_labev **ret)
{
	struct zt_labev *e = calloc(1, sizeof(*e));
	int rc = 0;

	if (!e)
		return -ENOMEM;
	*e = (struct zt_labev){ .lab = lab, .t0 = t0, .fn = fn, .ctx = ctx };
	snprintf(e->dir, sizeof(e->dir), "%s", dir);
	for (unsigned i = 0; i < lab->scn->nnodes; i++)
		e->cur[i] = e->saved[i] = lab->scn->nodes[i].link;
	zt_timer_init(&e->timer, on_timer, e);
	if (lab->scn->nevents)
		rc = zt_timer_set(lab->loop, &e->timer, t0 + lab->scn->events[0].at_ns);
	if (rc < 0) {
		free(e);
		return rc;
	}
	*ret = e;
	return 0;
}

unsigned zt_labev_pending(const struct zt_labev *e)
{
	return e ? e->lab->scn->nevents - e->next : 0;
}

void zt_labev_free(struct zt_labev *e)
{
	if (!e)
		return;
	zt_timer_cancel(e->lab->loop, &e->timer);
	free(e);
}
