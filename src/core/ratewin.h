/*
 * The rate of a growing counter over a recent window (bytes a second relayed over the
 * last ten seconds, for a status line), sans-IO: the owner samples the counter at a
 * steady pace (zt_ratewin_sample, e.g. from a one-second timer) and asks for the rate
 * whenever it likes with the counter's value now.
 *
 * The rate is taken against the newest sample at least `span` old (so the window is
 * span to span + the sampling interval long), or the oldest one kept while the
 * history is shorter than that (just after start). ZT_RATEWIN_SLOTS samples are kept:
 * the span must be below ZT_RATEWIN_SLOTS sampling intervals.
 */
#ifndef ZT_CORE_RATEWIN_H
#define ZT_CORE_RATEWIN_H

#include <stddef.h>
#include <stdint.h>

#define ZT_RATEWIN_SLOTS 16

struct zt_ratewin {
	uint64_t at[ZT_RATEWIN_SLOTS];
	uint64_t value[ZT_RATEWIN_SLOTS];
	size_t head, n;               /* head: the next slot written */
};

void zt_ratewin_init(struct zt_ratewin *w);

/* Records the counter's value at now (nanoseconds; times never go back). A counter
 * that went down (reset) forgets the history. */
void zt_ratewin_sample(struct zt_ratewin *w, uint64_t now, uint64_t value);

/*
 * The counter's growth a second, rounded down, from the sample chosen as above to
 * (now, value); *ret_window (may be NULL) gets that window's length in ns. Returns 0
 * (and a window of 0) without a sample older than now, or when value is below it.
 */
uint64_t zt_ratewin_rate(const struct zt_ratewin *w, uint64_t now, uint64_t value, uint64_t span,
			 uint64_t *ret_window);

#endif
