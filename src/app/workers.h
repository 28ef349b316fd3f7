/*
 * The Intermediate's workers (docs/workers.md): N-1 threads beside the main one,
 * each with one more UDP socket on the listen address (SO_REUSEPORT: the kernel
 * spreads the clients over the sockets by address hash). A worker forwards the
 * relay-channel datagrams it can (node/relaytab.h, the table the Intermediate keeps)
 * from its own socket, and hands every other datagram to the main thread through a
 * bounded queue and an eventfd (full: dropped and counted): QUIC, STUN and every
 * decision stay with the Intermediate on the main thread.
 *
 *   zt_workers_new(&w, n)              the table, before zt_imd_new (cfg.relaytab)
 *   zt_daemon: udp_shared = true        the main socket joins the group
 *   zt_workers_start(w, loop, &d->io)  after zt_nodeio_start: sockets and threads
 *   zt_workers_free(w)                  stops the threads (before zt_imd_free)
 */
#ifndef ZT_APP_WORKERS_H
#define ZT_APP_WORKERS_H

#include <stdint.h>

#include "app/nodeio.h"
#include "io/loop.h"
#include "node/relaytab.h"

/* Workers at most (the main thread included). */
#define ZT_WORKERS_MAX 64

struct zt_workers;

/* What one worker did, read while it runs. */
struct zt_worker_stats {
	uint64_t rx;          /* datagrams its socket received */
	uint64_t forwarded;   /* relay-channel datagrams it forwarded itself */
	uint64_t handed;      /* given to the main thread */
	uint64_t dropped;     /* not given: the queue to the main thread was full */
};

/*
 * "--workers N|auto": 1 to ZT_WORKERS_MAX, auto the online CPUs (at most the max).
 * Returns 0 with *ret set, or ZT_ESYNTAX with *why.
 */
int zt_workers_parse(const char *v, unsigned *ret, const char **why);

/* Workers for n threads in all (n >= 2): the relay table and its lock, no thread yet.
 * Returns 0, -EINVAL or -ENOMEM. */
int zt_workers_new(struct zt_workers **ret, unsigned n);

/* The table the Intermediate keeps (its cfg.relaytab). */
struct zt_relaytab *zt_workers_table(struct zt_workers *w);

/*
 * Opens a socket per worker thread on main's address (main's socket was opened
 * shared), starts the threads, and feeds what they hand over into main's node on
 * loop. Returns 0 or -errno (-EADDRINUSE: main's socket is not shared); on failure
 * what started is stopped again by zt_workers_free.
 */
int zt_workers_start(struct zt_workers *w, struct zt_loop *loop, struct zt_nodeio *main);

/* Threads besides the main one, and one's counters (i < that). */
unsigned zt_workers_threads(const struct zt_workers *w);
void zt_workers_stats(const struct zt_workers *w, unsigned i, struct zt_worker_stats *ret);

/* Stops and joins the threads, closes their sockets, frees. Accepts NULL. */
void zt_workers_free(struct zt_workers *w);

#endif
