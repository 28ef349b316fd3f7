/*
 * A lab's timed events: the scenario's 'at TIME ...' lines (netns/scenario.h) done on
 * the supervisor's loop at t0 + TIME each, in order. A link change goes to the link
 * emulator (the link is emulated because an 'at' line names it); 'nat NODE flush'
 * empties the NAT's mapping tables and conntrack (and restarts its port-mapping
 * daemon, whose mappings a reboot also loses). Each event done, or failed, is told
 * to the log function with the time it ran at.
 */
#ifndef ZT_NETNS_LABEVENTS_H
#define ZT_NETNS_LABEVENTS_H

#include <stdint.h>

#include "lab.h"
#include "scenario.h"

struct zt_labev;

/* One event done (rc 0) or failed (rc < 0, err says why); late_ns: after its time. */
typedef void (*zt_labev_log_fn)(void *ctx, const struct zt_scn_event *ev, uint64_t late_ns,
				int rc, const char *err);

/*
 * Arms the events of lab->scn on lab->loop, counted from t0 (monotonic ns); dir is the
 * run directory (for a port-mapping daemon's files). Returns 0 (also with no events)
 * or -ENOMEM.
 */
int zt_labev_start(struct zt_lab *lab, uint64_t t0, const char *dir, zt_labev_log_fn fn,
		   void *ctx, struct zt_labev **ret);

/* Events not done yet (for the log at teardown). */
unsigned zt_labev_pending(const struct zt_labev *ev);

/* Disarms and frees; NULL is fine. */
void zt_labev_free(struct zt_labev *ev);

#endif
