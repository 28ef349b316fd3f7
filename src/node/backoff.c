#include "core/units.h"
#include "node/backoff.h"

void zt_backoff_init(struct zt_backoff *b, uint64_t min, uint64_t max)
{
	b->min = min ? min : 200 * ZT_MS;
	b->max = max ? max : 30 * ZT_SEC;
	if (b->max < b->min)
		b->max = b->min;
	zt_backoff_reset(b);
}

uint64_t zt_backoff_next(struct zt_backoff *b, const struct zt_rng *rng)
{
	uint64_t half = b->step / 2, jitter;

	jitter = half ? zt_rng_u64(rng) % (half + 1) : 0;
	b->step = b->step > b->max / 2 ? b->max : b->step * 2;
	b->attempts++;
	return half + jitter;
}

void zt_backoff_reset(struct zt_backoff *b)
{
	b->step = b->min;
	b->attempts = 0;
}
