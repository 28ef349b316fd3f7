/*
 * The event loop: epoll for file descriptors, a min-heap of timers with nanosecond
 * deadlines (epoll_pwait2), signalfd for SIGINT/SIGTERM/SIGHUP. One loop per program.
 *
 * The clock is read once per iteration and passed to every callback as `now`, so the
 * sans-IO cores downstream see one consistent time per tick. With no timer armed and
 * no traffic the loop sleeps in epoll: an idle program costs no CPU.
 */
#ifndef ZT_IO_LOOP_H
#define ZT_IO_LOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct zt_loop;

struct zt_watch {
	int fd;
	uint32_t events; /* EPOLLIN, EPOLLOUT, ... */
	void (*cb)(struct zt_loop *loop, struct zt_watch *w, uint32_t revents, uint64_t now);
	void *data;
};

struct zt_timer {
	uint64_t deadline; /* absolute monotonic ns; read-only for callers */
	void (*cb)(struct zt_loop *loop, struct zt_timer *t, uint64_t now);
	void *data;
	size_t heap_idx;   /* private: position in the heap, SIZE_MAX when not armed */
};

/* Creates a loop. Returns 0 or -errno. */
int zt_loop_new(struct zt_loop **ret);
void zt_loop_free(struct zt_loop *loop);

/* Watches w->fd for w->events. Returns 0 or -errno. */
int zt_loop_add(struct zt_loop *loop, struct zt_watch *w);
int zt_loop_mod(struct zt_loop *loop, struct zt_watch *w, uint32_t events);
void zt_loop_del(struct zt_loop *loop, struct zt_watch *w);

/* Initialises a disarmed timer. */
void zt_timer_init(struct zt_timer *t, void (*cb)(struct zt_loop *, struct zt_timer *, uint64_t),
		   void *data);
/* Arms (or re-arms) t for an absolute deadline; UINT64_MAX disarms. Returns 0 or -ENOMEM. */
int zt_timer_set(struct zt_loop *loop, struct zt_timer *t, uint64_t deadline);
void zt_timer_cancel(struct zt_loop *loop, struct zt_timer *t);
static inline bool zt_timer_armed(const struct zt_timer *t)
{
	return t->heap_idx != (size_t)-1;
}

/*
 * Signals: SIGINT, SIGTERM and SIGHUP are blocked and delivered through a signalfd;
 * on_signal (may be NULL: then SIGINT/SIGTERM stop the loop) is called with the number.
 */
int zt_loop_catch_signals(struct zt_loop *loop, void (*on_signal)(struct zt_loop *, int, void *),
			  void *data);

/*
 * Runs until zt_loop_stop(). Returns 0, or -errno if epoll itself failed.
 * A callback may delete or free its own watch or timer, or a timer; it must not free
 * another watch during the same iteration (defer that to a timer due now).
 */
int zt_loop_run(struct zt_loop *loop);
/* Runs one iteration, waiting at most max_wait_ns (0: poll). Returns 0 or -errno. */
int zt_loop_run_once(struct zt_loop *loop, uint64_t max_wait_ns);
void zt_loop_stop(struct zt_loop *loop);
/* The time read at the start of the current iteration. */
uint64_t zt_loop_now(const struct zt_loop *loop);

#endif
