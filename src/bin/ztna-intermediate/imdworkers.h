/* --workers for the Intermediate (app/workers.h, docs/workers.md): the program's part. */
#ifndef ZT_BIN_IMDWORKERS_H
#define ZT_BIN_IMDWORKERS_H

#include "app/daemon.h"
#include "app/workers.h"
#include "node/imd.h"

struct imd_workers {
	unsigned n;            /* --workers: threads in all; 0 (not given) as 1 */
	struct zt_workers *wk; /* n > 1, once prepared */
};

/* --workers N|auto. Returns 0 or ZT_ESYNTAX with *why. */
int imd_workers_set(struct imd_workers *iw, const char *v, const char **why);

/* Before zt_daemon_open: the shared socket and the relay table (ic->relaytab).
 * Returns 0 or the exit status (with the message). */
int imd_workers_prepare(struct imd_workers *iw, struct zt_daemon *d, struct zt_imd_config *ic);

/* After zt_nodeio_start: the threads. Returns 0 or the exit status. */
int imd_workers_start(struct imd_workers *iw, struct zt_daemon *d);

/* One line per worker thread: event worker_EVENT (worker_stats, worker_exit). */
void imd_workers_log(const struct imd_workers *iw, const char *event);

/* After zt_imd_free. */
void imd_workers_free(struct imd_workers *iw);

#endif
