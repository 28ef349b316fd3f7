/*
 * Jittered exponential backoff for reconnecting ("equal jitter"): attempt n waits
 * d/2 + random(d/2) with d = min(max, min * 2^n), so many clients that lost the same
 * server do not come back in step, and no wait is shorter than half the step.
 */
#ifndef ZT_NODE_BACKOFF_H
#define ZT_NODE_BACKOFF_H

#include <stdint.h>

#include "core/rng.h"

struct zt_backoff {
	uint64_t min, max;  /* ns */
	uint64_t step;      /* d of the next attempt */
	unsigned attempts;  /* since the last reset */
};

/* min > 0 and max >= min; zero values take 200 ms and 30 s. */
void zt_backoff_init(struct zt_backoff *b, uint64_t min, uint64_t max);

/* The wait before the next attempt (ns), and the step doubles (up to max). */
uint64_t zt_backoff_next(struct zt_backoff *b, const struct zt_rng *rng);

/* Success: the next failure starts from min again. */
void zt_backoff_reset(struct zt_backoff *b);

#endif
