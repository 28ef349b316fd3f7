/*
 * The Prometheus metrics endpoint of a program (`--metrics ADDR:PORT`, off by
 * default; docs/metrics.md): a TCP listener on the program's loop that answers
 * `GET /metrics` (and HEAD) with the text exposition the program's render function
 * writes (core/promfmt.h), then closes the connection. Other paths get 404, other
 * methods 405, a malformed request 400 (core/httpreq.h reads the head).
 *
 * Bounds, so a slow or hostile client costs little: at most ZT_METRICS_CONNS
 * connections (more are closed at once), a request head of ZT_HTTPREQ_MAX bytes, a
 * connection lives ZT_METRICS_TIMEOUT at most, an answer at most ZT_METRICS_OUT_MAX
 * bytes (what does not fit is left out, and ztna_metrics_truncated says so).
 */
#ifndef ZT_APP_METRICS_H
#define ZT_APP_METRICS_H

#include <stdint.h>

#include "core/addr.h"
#include "core/promfmt.h"
#include "io/loop.h"

#define ZT_METRICS_CONNS 16
#define ZT_METRICS_TIMEOUT (5ULL * 1000000000)
#define ZT_METRICS_OUT_MAX (256u * 1024)

/* Writes the program's metrics (families and samples) at now. */
typedef void (*zt_metrics_render)(void *arg, struct zt_prom *p, uint64_t now);

struct zt_metrics;

/* Listens at `at`. Returns 0 or -errno (bind, listen). */
int zt_metrics_open(struct zt_metrics **ret, struct zt_loop *loop, const struct zt_addr *at,
		    zt_metrics_render render, void *arg);

/* The bound address (its port filled in). */
const struct zt_addr *zt_metrics_local(const struct zt_metrics *m);

/* Closes the listener and every connection. NULL is fine. */
void zt_metrics_close(struct zt_metrics *m);

#endif
