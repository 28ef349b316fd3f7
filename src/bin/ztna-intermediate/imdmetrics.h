/* The Intermediate's metrics (docs/metrics.md), for app/metrics.h. */
#ifndef ZT_BIN_IMDMETRICS_H
#define ZT_BIN_IMDMETRICS_H

#include <stdint.h>

#include "core/promfmt.h"
#include "node/imd.h"

/* Writes every family of the Intermediate's counters and gauges. */
void imd_metrics(const struct zt_imd *imd, struct zt_prom *p, uint64_t uptime_ns);

#endif
