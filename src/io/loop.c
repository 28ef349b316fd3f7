#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "io/clock.h"
#include "io/loop.h"

#define MAX_EVENTS 64

struct zt_loop {
	int epfd;
	bool stop;
	bool no_pwait2;         /* epoll_pwait2 refused (ENOSYS): millisecond waits */
	uint64_t now;
	struct zt_timer **heap;
	size_t nheap, capheap;
	struct zt_watch sigw;
	void (*on_signal)(struct zt_loop *, int, void *);
	void *sigdata;
};

int zt_loop_new(struct zt_loop **ret)
{
	struct zt_loop *loop = calloc(1, sizeof(*loop));

	if (!loop)
		return -ENOMEM;
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (loop->epfd < 0) {
		int rc = -errno;
		free(loop);
		return rc;
	}
	loop->sigw.fd = -1;
	loop->now = zt_clock_now();
	*ret = loop;
	return 0;
}

void zt_loop_free(struct zt_loop *loop)
{
	if (!loop)
		return;
	if (loop->sigw.fd >= 0)
		close(loop->sigw.fd);
	close(loop->epfd);
	free(loop->heap);
	free(loop);
}

int zt_loop_add(struct zt_loop *loop, struct zt_watch *w)
{
	struct epoll_event ev = { .events = w->events, .data.ptr = w };

	if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, w->fd, &ev) < 0)
		return -errno;
	return 0;
}

int zt_loop_mod(struct zt_loop *loop, struct zt_watch *w, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = w };

	if (w->events == events)
		return 0;
	if (epoll_ctl(loop->epfd, EPOLL_CTL_MOD, w->fd, &ev) < 0)
		return -errno;
	w->events = events;
	return 0;
}

void zt_loop_del(struct zt_loop *loop, struct zt_watch *w)
{
	epoll_ctl(loop->epfd, EPOLL_CTL_DEL, w->fd, NULL);
}

/* Timer min-heap on deadline. */

static void heap_swap(struct zt_loop *loop, size_t a, size_t b)
{
	struct zt_timer *t = loop->heap[a];

	loop->heap[a] = loop->heap[b];
	loop->heap[b] = t;
	loop->heap[a]->heap_idx = a;
	loop->heap[b]->heap_idx = b;
}

static void heap_up(struct zt_loop *loop, size_t i)
{
	while (i > 0) {
		size_t parent = (i - 1) / 2;
		if (loop->heap[parent]->deadline <= loop->heap[i]->deadline)
			break;
		heap_swap(loop, parent, i);
		i = parent;
	}
}

static void heap_down(struct zt_loop *loop, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < loop->nheap && loop->heap[l]->deadline < loop->heap[m]->deadline)
			m = l;
		if (r < loop->nheap && loop->heap[r]->deadline < loop->heap[m]->deadline)
			m = r;
		if (m == i)
			break;
		heap_swap(loop, i, m);
		i = m;
	}
}

void zt_timer_init(struct zt_timer *t, void (*cb)(struct zt_loop *, struct zt_timer *, uint64_t),
		   void *data)
{
	*t = (struct zt_timer){ .deadline = UINT64_MAX, .cb = cb, .data = data,
				.heap_idx = (size_t)-1 };
}

void zt_timer_cancel(struct zt_loop *loop, struct zt_timer *t)
{
	size_t i = t->heap_idx;

	if (i == (size_t)-1)
		return;
	loop->nheap--;
	if (i != loop->nheap) {
		loop->heap[i] = loop->heap[loop->nheap];
		loop->heap[i]->heap_idx = i;
		heap_down(loop, i);
		heap_up(loop, i);
	}
	t->heap_idx = (size_t)-1;
	t->deadline = UINT64_MAX;
}

int zt_timer_set(struct zt_loop *loop, struct zt_timer *t, uint64_t deadline)
{
	if (deadline == UINT64_MAX) {
		zt_timer_cancel(loop, t);
		return 0;
	}
	if (t->heap_idx != (size_t)-1) {
		uint64_t old = t->deadline;
		t->deadline = deadline;
		if (deadline < old)
			heap_up(loop, t->heap_idx);
		else
			heap_down(loop, t->heap_idx);
		return 0;
	}
	if (loop->nheap == loop->capheap) {
		size_t cap = loop->capheap ? loop->capheap * 2 : 16;
		struct zt_timer **h = realloc(loop->heap, cap * sizeof(*h));
		if (!h)
			return -ENOMEM;
		loop->heap = h;
		loop->capheap = cap;
	}
	t->deadline = deadline;
	t->heap_idx = loop->nheap;
	loop->heap[loop->nheap++] = t;
	heap_up(loop, t->heap_idx);
	return 0;
}

static void on_signalfd(struct zt_loop *loop, struct zt_watch *w, uint32_t revents, uint64_t now)
{
	struct signalfd_siginfo si;

	(void)revents;
	(void)now;
	while (read(w->fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (loop->on_signal)
			loop->on_signal(loop, (int)si.ssi_signo, loop->sigdata);
		else if (si.ssi_signo == SIGINT || si.ssi_signo == SIGTERM)
			loop->stop = true;
	}
}

int zt_loop_catch_signals(struct zt_loop *loop, void (*on_signal)(struct zt_loop *, int, void *),
			  void *data)
{
	sigset_t set;
	int fd;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -errno;
	fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	loop->sigw = (struct zt_watch){ .fd = fd, .events = EPOLLIN, .cb = on_signalfd };
	loop->on_signal = on_signal;
	loop->sigdata = data;
	return zt_loop_add(loop, &loop->sigw);
}

static void run_timers(struct zt_loop *loop)
{
	/* Fire only timers due at this tick's time; callbacks may re-arm. A timer
	 * re-armed for a time <= now fires on the next iteration, not in a tight loop. */
	size_t budget = loop->nheap;

	while (budget-- && loop->nheap && loop->heap[0]->deadline <= loop->now) {
		struct zt_timer *t = loop->heap[0];
		uint64_t due = t->deadline;
		zt_timer_cancel(loop, t);
		t->deadline = due; /* the callback may look at when it was due */
		t->cb(loop, t, loop->now);
	}
}

int zt_loop_run_once(struct zt_loop *loop, uint64_t max_wait_ns)
{
	struct epoll_event evs[MAX_EVENTS];
	struct timespec ts, *tsp = NULL;
	uint64_t wait = max_wait_ns;
	int n;

	loop->now = zt_clock_now();
	if (loop->nheap) {
		uint64_t d = loop->heap[0]->deadline;
		uint64_t until = d > loop->now ? d - loop->now : 0;
		if (until < wait)
			wait = until;
	}
	if (wait != UINT64_MAX) {
		ts.tv_sec = (time_t)(wait / 1000000000ULL);
		ts.tv_nsec = (long)(wait % 1000000000ULL);
		tsp = &ts;
	}
	n = loop->no_pwait2 ? -1 : epoll_pwait2(loop->epfd, evs, MAX_EVENTS, tsp, NULL);
	if (n < 0 && (loop->no_pwait2 || errno == ENOSYS)) {
		/* Kernels before 5.11, and tools that do not know the call (valgrind 3.19):
		 * epoll_wait, the timeout rounded up to whole milliseconds. */
		loop->no_pwait2 = true;
		n = epoll_wait(loop->epfd, evs, MAX_EVENTS,
			       wait == UINT64_MAX ? -1 : wait >= INT32_MAX * 1000000ULL ? INT32_MAX
			       : (int)((wait + 999999) / 1000000));
	}
	if (n < 0) {
		if (errno == EINTR)
			return 0;
		return -errno;
	}
	loop->now = zt_clock_now();
	for (int i = 0; i < n; i++) {
		struct zt_watch *w = evs[i].data.ptr;
		w->cb(loop, w, evs[i].events, loop->now);
	}
	run_timers(loop);
	return 0;
}

int zt_loop_run(struct zt_loop *loop)
{
	int rc = 0;

	loop->stop = false;
	while (!loop->stop) {
		rc = zt_loop_run_once(loop, UINT64_MAX);
		if (rc < 0)
			break;
	}
	return rc;
}

void zt_loop_stop(struct zt_loop *loop)
{
	loop->stop = true;
}

uint64_t zt_loop_now(const struct zt_loop *loop)
{
	return loop->now;
}
