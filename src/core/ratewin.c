/* A counter's rate over a recent window (ratewin.h). */
#include "core/ratewin.h"

void zt_ratewin_init(struct zt_ratewin *w)
{
	*w = (struct zt_ratewin){ 0 };
}

void zt_ratewin_sample(struct zt_ratewin *w, uint64_t now, uint64_t value)
{
	if (w->n) {
		size_t last = (w->head + ZT_RATEWIN_SLOTS - 1) % ZT_RATEWIN_SLOTS;
		if (value < w->value[last] || now < w->at[last])
			w->n = 0;
	}
	w->at[w->head] = now;
	w->value[w->head] = value;
	w->head = (w->head + 1) % ZT_RATEWIN_SLOTS;
	if (w->n < ZT_RATEWIN_SLOTS)
		w->n++;
}

uint64_t zt_ratewin_rate(const struct zt_ratewin *w, uint64_t now, uint64_t value, uint64_t span,
			 uint64_t *ret_window)
{
	size_t pick = ZT_RATEWIN_SLOTS; /* none */
	uint64_t dt;

	/* newest first: the first one at least span old, else the oldest one kept */
	for (size_t k = 1; k <= w->n; k++) {
		size_t i = (w->head + ZT_RATEWIN_SLOTS - k) % ZT_RATEWIN_SLOTS;
		if (w->at[i] >= now)
			continue;
		pick = i;
		if (now - w->at[i] >= span)
			break;
	}
	if (ret_window)
		*ret_window = 0;
	if (pick == ZT_RATEWIN_SLOTS || value < w->value[pick])
		return 0;
	dt = now - w->at[pick];
	if (ret_window)
		*ret_window = dt;
	/* in double: the growth times 1e9 overflows 64 bits past 18 GB */
	return (uint64_t)((double)(value - w->value[pick]) * 1e9 / (double)dt);
}
