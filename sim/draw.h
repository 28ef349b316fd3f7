/*
 * Draws from the simulator's seeded generator (struct zt_prng, core/rng.h). Every
 * random choice in sim/ goes through these, so a seed replays a run exactly.
 */
#ifndef ZT_SIM_DRAW_H
#define ZT_SIM_DRAW_H

#include <stdbool.h>
#include <stdint.h>

#include "core/rng.h"

/* Uniform in [0, 1). */
static inline double zt_sim_unit(struct zt_prng *p)
{
	return (double)(zt_prng_next(p) >> 11) * (1.0 / 9007199254740992.0);
}

/* True with probability ppm / 1e6 (0 never draws, so it does not shift the stream). */
static inline bool zt_sim_chance(struct zt_prng *p, uint32_t ppm)
{
	if (ppm == 0)
		return false;
	if (ppm >= 1000000)
		return true;
	return zt_sim_unit(p) * 1e6 < (double)ppm;
}

/* Uniform integer in [lo, hi] (hi >= lo). */
static inline uint64_t zt_sim_range(struct zt_prng *p, uint64_t lo, uint64_t hi)
{
	if (hi <= lo)
		return lo;
	return lo + (uint64_t)(zt_sim_unit(p) * (double)(hi - lo + 1));
}

#endif
