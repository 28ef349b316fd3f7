/* --workers for the Intermediate (imdworkers.h). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "app/log.h"
#include "core/err.h"
#include "imdworkers.h"

int imd_workers_set(struct imd_workers *iw, const char *v, const char **why)
{
	return zt_workers_parse(v, &iw->n, why);
}

int imd_workers_prepare(struct imd_workers *iw, struct zt_daemon *d, struct zt_imd_config *ic)
{
	int rc;

	if (iw->n <= 1)
		return 0;
	rc = zt_workers_new(&iw->wk, iw->n);
	if (rc < 0)
		return zt_daemon_fail(d, 1, "--workers %u: %s", iw->n, zt_strerror(rc));
	d->udp_shared = true;
	ic->relaytab = zt_workers_table(iw->wk);
	return 0;
}

int imd_workers_start(struct imd_workers *iw, struct zt_daemon *d)
{
	int rc;

	if (!iw->wk)
		return 0;
	rc = zt_workers_start(iw->wk, d->loop, &d->io);
	if (rc < 0)
		return zt_daemon_fail(d, 1, "--workers %u: %s (SO_REUSEPORT on the listen address)",
				      iw->n, zt_strerror(rc));
	zt_info("workers", "threads=%u note=\"relay-channel datagrams forwarded on every "
		"thread, the rest on the main one (docs/workers.md)\"", iw->n);
	return 0;
}

void imd_workers_log(const struct imd_workers *iw, const char *event)
{
	struct zt_worker_stats s;
	char ev[32];

	if (!iw->wk)
		return;
	/* worker_stats, worker_exit: not the main line's event (scripts take its last) */
	snprintf(ev, sizeof(ev), "worker_%s", event);
	for (unsigned i = 0; i < zt_workers_threads(iw->wk); i++) {
		zt_workers_stats(iw->wk, i, &s);
		zt_info(ev, "worker=%u rx=%" PRIu64 " forwarded=%" PRIu64 " handed=%" PRIu64
			" dropped=%" PRIu64, i + 1, s.rx, s.forwarded, s.handed, s.dropped);
	}
}

void imd_workers_free(struct imd_workers *iw)
{
	zt_workers_free(iw->wk);
	iw->wk = NULL;
}
