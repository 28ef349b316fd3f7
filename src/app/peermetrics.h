/* An agent's or connector's metrics (docs/metrics.md), for app/metrics.h. */
#ifndef ZT_APP_PEERMETRICS_H
#define ZT_APP_PEERMETRICS_H

#include <stdint.h>

#include "core/promfmt.h"
#include "node/peer.h"

/* Writes every family: the outer connection, sessions by path, the counters. */
void zt_peer_metrics(const struct zt_peer *peer, struct zt_prom *p, uint64_t uptime_ns);

#endif
