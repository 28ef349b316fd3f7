/*
 * The simulator's discrete-event core: a virtual clock (uint64_t nanoseconds, as in
 * the sans-IO core) and a queue of timed callbacks kept in a binary heap.
 *
 * Events with the same time run in the order they were scheduled (a sequence number
 * breaks ties), so a run is a pure function of its inputs and its seed. The clock
 * only moves forward: popping an event sets now to its time.
 */
#ifndef ZT_SIM_EVQ_H
#define ZT_SIM_EVQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef void zt_sim_ev_fn(void *ctx, void *arg, uint64_t now);

struct zt_sim_ev {
	uint64_t at;
	uint64_t seq;
	zt_sim_ev_fn *fn;
	void *ctx;
	void *arg;
};

struct zt_sim_evq {
	struct zt_sim_ev *heap;
	size_t n, cap;
	uint64_t seq;
	uint64_t now;     /* the time of the event popped last (starts at 0) */
	uint64_t popped;  /* events run so far */
	/* zt_sim_evq_run stopped: more than ZT_SIM_EVQ_SPIN_MAX events in a row at one
	 * instant, spun_at (an endpoint whose deadline stays due: a busy loop) */
	bool spun;
	uint64_t spun_at;
};

#define ZT_SIM_EVQ_SPIN_MAX 1000000

void zt_sim_evq_init(struct zt_sim_evq *q);
/* Frees the queue; pending events are dropped without running (their args are the
 * caller's to free: see zt_sim_evq_drain). Accepts a zeroed queue. */
void zt_sim_evq_fini(struct zt_sim_evq *q);

/*
 * Schedules fn(ctx, arg, at). A time before now is moved to now (an event never runs
 * in the past). Returns 0 or -ENOMEM.
 */
int zt_sim_evq_push(struct zt_sim_evq *q, uint64_t at, zt_sim_ev_fn *fn, void *ctx, void *arg);

/* The time of the next event, or UINT64_MAX when the queue is empty. */
uint64_t zt_sim_evq_next(const struct zt_sim_evq *q);

/*
 * Removes the earliest event into *ret and advances now to its time. Returns 1, or 0
 * when the queue is empty or the next event is after `until` (nothing removed; now
 * is then advanced to `until` unless until is UINT64_MAX).
 */
int zt_sim_evq_pop(struct zt_sim_evq *q, uint64_t until, struct zt_sim_ev *ret);

/* Pops and runs events up to and including time `until`. Returns how many ran. */
/* (also stops, setting spun, after ZT_SIM_EVQ_SPIN_MAX events in a row at one instant) */
uint64_t zt_sim_evq_run(struct zt_sim_evq *q, uint64_t until);

/* Removes every pending event, calling drop(ctx, arg) for each (drop may be NULL). */
void zt_sim_evq_drain(struct zt_sim_evq *q, void (*drop)(void *ctx, void *arg));

#endif
