/*
 * Randomness for the sans-IO core.
 *
 * Protocol code never draws randomness itself: it takes a struct zt_rng, whose fill
 * callback the I/O shell backs with getrandom() and the tests and the simulator back
 * with the seeded generator below (so runs replay exactly).
 */
#ifndef ZT_CORE_RNG_H
#define ZT_CORE_RNG_H

#include <stddef.h>
#include <stdint.h>

struct zt_rng {
	void (*fill)(void *ctx, uint8_t *buf, size_t len);
	void *ctx;
};

static inline void zt_rng_fill(const struct zt_rng *rng, void *buf, size_t len)
{
	rng->fill(rng->ctx, (uint8_t *)buf, len);
}

uint32_t zt_rng_u32(const struct zt_rng *rng);
uint64_t zt_rng_u64(const struct zt_rng *rng);
/* Uniform in [0, bound) without modulo bias; 0 when bound is 0. */
uint32_t zt_rng_below(const struct zt_rng *rng, uint32_t bound);

/* Deterministic generator (xoshiro256**, seeded through splitmix64). Not for keys. */
struct zt_prng {
	uint64_t s[4];
};

void zt_prng_seed(struct zt_prng *p, uint64_t seed);
uint64_t zt_prng_next(struct zt_prng *p);
/* A struct zt_rng drawing from p. */
struct zt_rng zt_prng_rng(struct zt_prng *p);

#endif
