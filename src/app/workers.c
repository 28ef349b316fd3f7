/* The Intermediate's worker threads (workers.h, docs/workers.md). */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "app/workers.h"
#include "core/err.h"
#include "core/units.h"
#include "node/relay.h"

/* Datagrams a worker holds for the main thread, and forwarded ones it sends per
 * wake-up (nodeio reads at most 64 before it sends). */
#define HANDOFF_RING 512
#define OUT_RING 128

struct handoff {
	struct zt_addr local, from;
	size_t len;
	uint8_t data[ZT_NODEIO_RX_MAX];
};

struct fwd {
	struct zt_addr local, to;
	size_t len;
	uint8_t data[ZT_RELAY_CHAN_MAX];
};

struct worker {
	struct zt_workers *ws;
	pthread_t thread;
	bool running;
	struct zt_loop *loop;
	int stop_fd;
	struct zt_watch stop_w;
	/* Forwarded datagrams waiting for nodeio to poll them (this thread only). */
	struct fwd out[OUT_RING];
	size_t out_head, out_len;
	/* To the main thread: one producer (this thread), one consumer (main). */
	struct handoff *ring;
	_Atomic size_t head, tail;   /* head: main's next; tail: our next */
	atomic_bool pending;         /* main has been woken and not drained since */
	_Atomic uint64_t rx, forwarded, handed, dropped;
	struct zt_nodeio io;         /* last: large */
};

struct zt_workers {
	unsigned n;                  /* threads besides the main one */
	pthread_rwlock_t lock;       /* the table: main writes, workers read */
	struct zt_relaytab *tab;
	int wake_fd;                 /* workers -> main */
	struct zt_watch wake_w;
	struct zt_loop *main_loop;
	struct zt_nodeio *main;
	struct worker *w[ZT_WORKERS_MAX];
};

int zt_workers_parse(const char *v, unsigned *ret, const char **why)
{
	char *end;
	long n;

	if (!strcmp(v, "auto")) {
		n = sysconf(_SC_NPROCESSORS_ONLN);
		*ret = n < 1 ? 1 : n > ZT_WORKERS_MAX ? ZT_WORKERS_MAX : (unsigned)n;
		return 0;
	}
	n = strtol(v, &end, 10);
	if (!*v || *end || n < 1 || n > ZT_WORKERS_MAX) {
		*why = "a count from 1 to 64, or auto (the online CPUs)";
		return ZT_ESYNTAX;
	}
	*ret = (unsigned)n;
	return 0;
}

static void tab_lock(void *arg)
{
	pthread_rwlock_wrlock(arg);
}

static void tab_unlock(void *arg)
{
	pthread_rwlock_unlock(arg);
}

int zt_workers_new(struct zt_workers **ret, unsigned n)
{
	pthread_rwlockattr_t attr;
	struct zt_workers *ws;
	int rc;

	if (n < 2 || n > ZT_WORKERS_MAX)
		return -EINVAL;
	ws = calloc(1, sizeof(*ws));
	if (!ws)
		return -ENOMEM;
	ws->n = n - 1;
	ws->wake_fd = -1;
	pthread_rwlockattr_init(&attr);
	/* the main thread's updates must not wait behind a stream of readers */
	pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	rc = -pthread_rwlock_init(&ws->lock, &attr);
	pthread_rwlockattr_destroy(&attr);
	if (rc < 0) {
		free(ws);
		return rc;
	}
	rc = zt_relaytab_new(&ws->tab, &(struct zt_relaytab_lock){ .lock = tab_lock,
								   .unlock = tab_unlock,
								   .arg = &ws->lock });
	if (rc < 0) {
		pthread_rwlock_destroy(&ws->lock);
		free(ws);
		return rc;
	}
	*ret = ws;
	return 0;
}

struct zt_relaytab *zt_workers_table(struct zt_workers *ws)
{
	return ws->tab;
}

unsigned zt_workers_threads(const struct zt_workers *ws)
{
	return ws->n;
}

static uint64_t get(const _Atomic uint64_t *v)
{
	return atomic_load_explicit(v, memory_order_relaxed);
}

/* One writer per counter (its worker): no read-modify-write needed. */
static void bump(_Atomic uint64_t *v)
{
	atomic_store_explicit(v, get(v) + 1, memory_order_relaxed);
}

void zt_workers_stats(const struct zt_workers *ws, unsigned i, struct zt_worker_stats *ret)
{
	const struct worker *w = i < ws->n ? ws->w[i] : NULL;

	*ret = (struct zt_worker_stats){ 0 };
	if (!w)
		return;
	*ret = (struct zt_worker_stats){ .rx = get(&w->rx), .forwarded = get(&w->forwarded),
					 .handed = get(&w->handed), .dropped = get(&w->dropped) };
}

/* The worker's side. */

static void hand_over(struct worker *w, const struct zt_addr *local, const struct zt_addr *from,
		      const uint8_t *pkt, size_t len)
{
	size_t tail = atomic_load_explicit(&w->tail, memory_order_relaxed);
	struct handoff *h;
	uint64_t one = 1;

	if (tail - atomic_load_explicit(&w->head, memory_order_acquire) >= HANDOFF_RING ||
	    len > sizeof(h->data)) {
		bump(&w->dropped);
		return;
	}
	h = &w->ring[tail % HANDOFF_RING];
	h->local = *local;
	h->from = *from;
	h->len = len;
	memcpy(h->data, pkt, len);
	atomic_store_explicit(&w->tail, tail + 1, memory_order_release);
	bump(&w->handed);
	/* one wake-up until the main thread drained (it clears pending first) */
	if (!atomic_exchange(&w->pending, true) &&
	    write(w->ws->wake_fd, &one, sizeof(one)) < 0) {
		/* the counter is full (cannot be: main reads it): it wakes anyway */
	}
}

static int w_recv(void *node, uint64_t now, const struct zt_addr *local, const struct zt_addr *from,
		  const uint8_t *pkt, size_t len)
{
	struct worker *w = node;
	enum zt_relaytab_verdict v = ZT_RELAYTAB_SLOW;
	struct zt_addr to, src;
	(void)now;

	bump(&w->rx);
	if (zt_relay_is_chan(pkt, len) && w->out_len < OUT_RING) {
		pthread_rwlock_rdlock(&w->ws->lock);
		v = zt_relaytab_forward(w->ws->tab, from, pkt, len, &to, &src);
		pthread_rwlock_unlock(&w->ws->lock);
	}
	if (v == ZT_RELAYTAB_FORWARD) {
		struct fwd *f = &w->out[(w->out_head + w->out_len++) % OUT_RING];
		f->local = src;
		f->to = to;
		f->len = len;
		memcpy(f->data, pkt, len);
		bump(&w->forwarded);
		return 0;
	}
	hand_over(w, local, from, pkt, len);
	return 0;
}

static int w_poll(void *node, uint64_t now, uint8_t *buf, size_t cap, struct zt_addr *local,
		  struct zt_addr *remote)
{
	struct worker *w = node;
	struct fwd *f = &w->out[w->out_head];
	(void)now;

	if (!w->out_len || f->len > cap)
		return 0;
	memcpy(buf, f->data, f->len);
	*local = f->local;
	*remote = f->to;
	w->out_head = (w->out_head + 1) % OUT_RING;
	w->out_len--;
	return (int)f->len;
}

static uint64_t w_deadline(const void *node)
{
	(void)node;
	return ZT_TIME_NEVER;
}

static void w_timeout(void *node, uint64_t now)
{
	(void)node;
	(void)now;
}

static const struct zt_nodeio_ops worker_ops = {
	.recv = w_recv, .poll_send = w_poll, .next_deadline = w_deadline, .on_timeout = w_timeout,
};

static void on_stop(struct zt_loop *loop, struct zt_watch *wa, uint32_t revents, uint64_t now)
{
	(void)wa;
	(void)revents;
	(void)now;
	zt_loop_stop(loop);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	zt_loop_run(w->loop);
	return NULL;
}

/* The main thread's side. */

/* What the workers handed over, into the Intermediate; then one flush. */
static void on_wake(struct zt_loop *loop, struct zt_watch *wa, uint32_t revents, uint64_t now)
{
	struct zt_workers *ws = wa->data;
	uint64_t v;
	(void)loop;
	(void)revents;

	if (read(ws->wake_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return;
	for (unsigned i = 0; i < ws->n; i++) {
		struct worker *w = ws->w[i];
		size_t head, tail;

		if (!w)
			continue;
		atomic_store(&w->pending, false); /* before draining: a later push wakes us */
		head = atomic_load_explicit(&w->head, memory_order_relaxed);
		tail = atomic_load_explicit(&w->tail, memory_order_acquire);
		for (; head != tail; head++) {
			struct handoff *h = &w->ring[head % HANDOFF_RING];
			zt_nodeio_feed(ws->main, now, &h->local, &h->from, h->data, h->len);
		}
		atomic_store_explicit(&w->head, head, memory_order_release);
	}
	zt_nodeio_kick(ws->main);
}

static void worker_free(struct worker *w)
{
	if (!w)
		return;
	zt_nodeio_close(&w->io);
	if (w->stop_fd >= 0) {
		if (w->loop)
			zt_loop_del(w->loop, &w->stop_w);
		close(w->stop_fd);
	}
	zt_loop_free(w->loop);
	free(w->ring);
	free(w);
}

/* A worker on bind, its thread not started. Returns 0 or -errno. */
static int worker_new(struct zt_workers *ws, const struct zt_addr *bind, struct worker **ret)
{
	struct worker *w = calloc(1, sizeof(*w));
	int rc = -ENOMEM;

	if (!w)
		return -ENOMEM;
	w->ws = ws;
	w->stop_fd = -1;
	if (!(w->ring = malloc(HANDOFF_RING * sizeof(*w->ring))))
		goto out_free;
	if ((rc = zt_loop_new(&w->loop)) < 0)
		goto out_free;
	w->stop_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (w->stop_fd < 0) {
		rc = -errno;
		goto out_free;
	}
	w->stop_w = (struct zt_watch){ .fd = w->stop_fd, .events = EPOLLIN, .cb = on_stop, .data = w };
	if ((rc = zt_loop_add(w->loop, &w->stop_w)) < 0) {
		close(w->stop_fd);
		w->stop_fd = -1;
		goto out_free;
	}
	if ((rc = zt_nodeio_open_shared(&w->io, w->loop, bind)) < 0 ||
	    (rc = zt_nodeio_start(&w->io, &worker_ops, w)) < 0)
		goto out_free;
	*ret = w;
	return 0;

out_free:
	worker_free(w);
	return rc;
}

int zt_workers_start(struct zt_workers *ws, struct zt_loop *loop, struct zt_nodeio *main)
{
	/* a dual-stack socket is bound by port alone (io/udp.h, family 0) */
	struct zt_addr bind = main->udp.dual ? (struct zt_addr){ .port = main->udp.local.port }
					     : main->udp.local;
	int rc;

	ws->main = main;
	ws->main_loop = loop;
	ws->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (ws->wake_fd < 0)
		return -errno;
	ws->wake_w = (struct zt_watch){ .fd = ws->wake_fd, .events = EPOLLIN, .cb = on_wake, .data = ws };
	if ((rc = zt_loop_add(loop, &ws->wake_w)) < 0) {
		close(ws->wake_fd);
		ws->wake_fd = -1;
		return rc;
	}
	for (unsigned i = 0; i < ws->n; i++)
		if ((rc = worker_new(ws, &bind, &ws->w[i])) < 0)
			return rc;
	for (unsigned i = 0; i < ws->n; i++) {
		rc = -pthread_create(&ws->w[i]->thread, NULL, worker_main, ws->w[i]);
		if (rc < 0)
			return rc;
		ws->w[i]->running = true;
	}
	return 0;
}

void zt_workers_free(struct zt_workers *ws)
{
	uint64_t one = 1;

	if (!ws)
		return;
	for (unsigned i = 0; i < ws->n; i++) {
		struct worker *w = ws->w[i];
		if (!w || !w->running)
			continue;
		if (write(w->stop_fd, &one, sizeof(one)) < 0) {
			/* cannot fail: the counter is 0 */
		}
		pthread_join(w->thread, NULL);
	}
	for (unsigned i = 0; i < ws->n; i++)
		worker_free(ws->w[i]);
	if (ws->wake_fd >= 0) {
		zt_loop_del(ws->main_loop, &ws->wake_w);
		close(ws->wake_fd);
	}
	zt_relaytab_free(ws->tab);
	pthread_rwlock_destroy(&ws->lock);
	free(ws);
}
