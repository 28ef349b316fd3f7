#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "core/rng.h"
#include "emu.h"
#include "linkem.h"

#define READ_BUDGET 256     /* frames read per wake-up per descriptor */
#define FRAME_MAX 65536

struct frame {
	uint64_t due;
	uint32_t len;
	uint8_t data[];
};

struct emu_dir {
	struct emu_link *link;
	int from, to;              /* descriptors */
	struct zt_linkem_dir model;
	struct frame **ring;       /* FIFO, sorted by due (the model never reorders) */
	uint32_t cap, head, count;
	struct zt_timer timer;
	uint64_t write_errors;
	uint64_t late_max, late_sum, sent; /* how far after its due time a frame left */
};

struct emu_link {
	char name[40];
	struct zt_emu *emu;
	int fd[2];
	struct zt_watch watch[2];
	struct emu_dir dir[2];     /* dir[i] carries frames read from fd[i] to fd[1 - i] */
	struct zt_prng prng;
	struct zt_rng rng;
	struct emu_link *next;
};

struct zt_emu {
	struct zt_loop *loop;
	struct emu_link *links;
	uint8_t buf[FRAME_MAX];
};

int zt_emu_new(struct zt_loop *loop, struct zt_emu **ret)
{
	struct zt_emu *e = calloc(1, sizeof(*e));

	if (!e)
		return -ENOMEM;
	e->loop = loop;
	*ret = e;
	return 0;
}

static void on_due(struct zt_loop *loop, struct zt_timer *t, uint64_t now)
{
	struct emu_dir *d = t->data;

	while (d->count && d->ring[d->head]->due <= now) {
		struct frame *f = d->ring[d->head];
		uint64_t late = now - f->due;

		if (write(d->to, f->data, f->len) != (ssize_t)f->len)
			d->write_errors++;
		d->late_max = late > d->late_max ? late : d->late_max;
		d->late_sum += late;
		d->sent++;
		free(f);
		d->head = (d->head + 1) % d->cap;
		d->count--;
		zt_linkem_departed(&d->model);
	}
	if (d->count)
		zt_timer_set(loop, t, d->ring[d->head]->due);
}

static void on_readable(struct zt_loop *loop, struct zt_watch *w, uint32_t revents, uint64_t now)
{
	struct emu_dir *d = w->data;
	struct zt_emu *e = d->link->emu;

	(void)revents;
	for (int i = 0; i < READ_BUDGET; i++) {
		ssize_t n = read(d->from, e->buf, sizeof(e->buf));
		struct frame *f;
		uint64_t due;

		if (n <= 0)
			break; /* EAGAIN: drained */
		if (zt_linkem_admit(&d->model, &d->link->rng, now, (size_t)n,
				    zt_linkem_frame_is_ip(e->buf, (size_t)n), &due) != ZT_LINKEM_PASS)
			continue;
		f = malloc(sizeof(*f) + (size_t)n);
		if (!f) {
			zt_linkem_departed(&d->model);
			continue;
		}
		f->due = due;
		f->len = (uint32_t)n;
		memcpy(f->data, e->buf, (size_t)n);
		/* admit() bounds the frames in flight by cfg.queue == cap */
		d->ring[(d->head + d->count) % d->cap] = f;
		if (d->count++ == 0)
			zt_timer_set(loop, &d->timer, due);
	}
}

static int dir_init(struct emu_link *l, int i, const struct zt_scn_link *cfg)
{
	struct emu_dir *d = &l->dir[i];

	d->link = l;
	d->from = l->fd[i];
	d->to = l->fd[1 - i];
	zt_linkem_init(&d->model, cfg);
	d->cap = d->model.cfg.queue;
	d->ring = calloc(d->cap, sizeof(*d->ring));
	if (!d->ring)
		return -ENOMEM;
	zt_timer_init(&d->timer, on_due, d);
	l->watch[i] = (struct zt_watch){ .fd = l->fd[i], .events = EPOLLIN, .cb = on_readable,
					 .data = d };
	return 0;
}

static void link_free(struct zt_emu *e, struct emu_link *l, int watched)
{
	for (int i = 0; i < 2; i++) {
		struct emu_dir *d = &l->dir[i];

		if (i < watched)
			zt_loop_del(e->loop, &l->watch[i]);
		zt_timer_cancel(e->loop, &d->timer);
		for (uint32_t k = 0; k < d->count; k++)
			free(d->ring[(d->head + k) % d->cap]);
		free(d->ring);
		close(l->fd[i]);
	}
	free(l);
}

int zt_emu_add(struct zt_emu *e, const char *name, const struct zt_scn_link *cfg, uint64_t seed,
	       int fd_a, int fd_b)
{
	struct emu_link *l = calloc(1, sizeof(*l));
	int rc, watched = 0;

	if (!l) {
		close(fd_a);
		close(fd_b);
		return -ENOMEM;
	}
	l->emu = e;
	snprintf(l->name, sizeof(l->name), "%s", name);
	l->fd[0] = fd_a;
	l->fd[1] = fd_b;
	zt_prng_seed(&l->prng, seed);
	l->rng = zt_prng_rng(&l->prng);
	for (int i = 0; i < 2; i++) {
		zt_timer_init(&l->dir[i].timer, on_due, &l->dir[i]);
		if ((rc = dir_init(l, i, cfg)) < 0)
			goto out_free;
	}
	for (; watched < 2; watched++)
		if ((rc = zt_loop_add(e->loop, &l->watch[watched])) < 0)
			goto out_free;
	l->next = e->links;
	e->links = l;
	return 0;
out_free:
	link_free(e, l, watched);
	return rc;
}

int zt_emu_set(struct zt_emu *e, const char *name, const struct zt_scn_link *l)
{
	for (struct emu_link *k = e->links; k; k = k->next) {
		if (strcmp(k->name, name))
			continue;
		for (int i = 0; i < 2; i++) {
			struct zt_scn_link *c = &k->dir[i].model.cfg;
			c->delay_ns = l->delay_ns;
			c->jitter_ns = l->jitter_ns;
			c->loss_ppm = l->loss_ppm;
			c->rate_bps = l->rate_bps;
			c->blackhole = l->blackhole;
		}
		return 0;
	}
	return -ENOENT;
}

void zt_emu_report(const struct zt_emu *e, void (*fn)(void *ctx, const char *line), void *ctx)
{
	for (const struct emu_link *l = e->links; l; l = l->next)
		for (int i = 0; i < 2; i++) {
			const struct emu_dir *d = &l->dir[i];
			char line[256];

			snprintf(line, sizeof(line),
				 "link=%s dir=%s passed=%llu lost=%llu too_big=%llu blackholed=%llu overflow=%llu "
				 "write_errors=%llu late_avg_us=%.1f late_max_us=%.1f",
				 l->name, i == 0 ? "up" : "down",
				 (unsigned long long)d->model.passed, (unsigned long long)d->model.lost,
				 (unsigned long long)d->model.too_big,
				 (unsigned long long)d->model.blackholed,
				 (unsigned long long)d->model.overflow,
				 (unsigned long long)d->write_errors,
				 d->sent ? (double)d->late_sum / (double)d->sent / 1e3 : 0.0,
				 (double)d->late_max / 1e3);
			fn(ctx, line);
		}
}

void zt_emu_free(struct zt_emu *e)
{
	if (!e)
		return;
	while (e->links) {
		struct emu_link *l = e->links;

		e->links = l->next;
		link_free(e, l, 2);
	}
	free(e);
}
