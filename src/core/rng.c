#include "core/rng.h"

uint32_t zt_rng_u32(const struct zt_rng *rng)
{
	uint32_t v;

	zt_rng_fill(rng, &v, sizeof(v));
	return v;
}

uint64_t zt_rng_u64(const struct zt_rng *rng)
{
	uint64_t v;

	zt_rng_fill(rng, &v, sizeof(v));
	return v;
}

uint32_t zt_rng_below(const struct zt_rng *rng, uint32_t bound)
{
	uint32_t limit, v;

	if (bound == 0)
		return 0;
	/* Reject the top partial range so every residue is equally likely. */
	limit = UINT32_MAX - (UINT32_MAX % bound);
	do
		v = zt_rng_u32(rng);
	while (v >= limit);
	return v % bound;
}

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

void zt_prng_seed(struct zt_prng *p, uint64_t seed)
{
	for (int i = 0; i < 4; i++)
		p->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

uint64_t zt_prng_next(struct zt_prng *p)
{
	uint64_t *s = p->s;
	uint64_t result = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

static void prng_fill(void *ctx, uint8_t *buf, size_t len)
{
	struct zt_prng *p = ctx;

	while (len) {
		uint64_t v = zt_prng_next(p);
		size_t n = len < 8 ? len : 8;
		for (size_t i = 0; i < n; i++)
			buf[i] = (uint8_t)(v >> (8 * i));
		buf += n;
		len -= n;
	}
}

struct zt_rng zt_prng_rng(struct zt_prng *p)
{
	return (struct zt_rng){ .fill = prng_fill, .ctx = p };
}
