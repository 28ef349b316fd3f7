#include "core/tokens.h"
#include "core/units.h"

#define ONE ZT_SEC /* nanotokens per token */

void zt_tokens_init(struct zt_tokens *t, uint32_t rate, uint32_t burst, uint64_t now)
{
	t->rate = rate ? rate : 1;
	t->cap = (uint64_t)(burst ? burst : 1) * ONE;
	t->level = t->cap;
	t->last = now;
}

/* The level at now (time never runs backwards here: an earlier now counts as last). */
static uint64_t level_at(const struct zt_tokens *t, uint64_t now)
{
	uint64_t dt = now > t->last ? now - t->last : 0, room = t->cap - t->level;

	/* dt ns at rate tokens/s gain dt * rate nanotokens */
	if (dt >= room / t->rate + 1)
		return t->cap;
	return t->level + dt * t->rate;
}

static void update(struct zt_tokens *t, uint64_t now)
{
	t->level = level_at(t, now);
	if (now > t->last)
		t->last = now;
}

bool zt_tokens_take_n(struct zt_tokens *t, uint64_t now, uint32_t n)
{
	uint64_t need = (uint64_t)n * ONE;

	update(t, now);
	if (t->level < need)
		return false;
	t->level -= need;
	return true;
}

bool zt_tokens_take(struct zt_tokens *t, uint64_t now)
{
	return zt_tokens_take_n(t, now, 1);
}

bool zt_tokens_ready(const struct zt_tokens *t, uint64_t now)
{
	return level_at(t, now) >= ONE;
}

void zt_tokens_give(struct zt_tokens *t, uint32_t n)
{
	uint64_t add = (uint64_t)n * ONE;

	t->level = add >= t->cap - t->level ? t->cap : t->level + add;
}

uint64_t zt_tokens_when(const struct zt_tokens *t, uint64_t now)
{
	uint64_t l = level_at(t, now);

	if (l >= ONE)
		return now;
	/* the missing nanotokens at rate per ns, rounded up */
	return (now > t->last ? now : t->last) + (ONE - l + t->rate - 1) / t->rate;
}

uint64_t zt_tokens_level(const struct zt_tokens *t, uint64_t now)
{
	return level_at(t, now) / ONE;
}
