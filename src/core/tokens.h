/*
 * A token bucket on the caller's clock (sans-IO: time is an argument): `rate` tokens
 * a second, at most `burst` saved up. For budgets that may spend a burst at once but
 * only the rate for long (connectivity checks to addresses that have not answered,
 * core/checkbudget.h; bytes relayed per client, node/imd.c, one token a byte).
 * Integer arithmetic in nanotokens, no drift: rate and burst up to UINT32_MAX fit.
 */
#ifndef ZT_CORE_TOKENS_H
#define ZT_CORE_TOKENS_H

#include <stdbool.h>
#include <stdint.h>

struct zt_tokens {
	uint64_t rate;    /* tokens per second */
	uint64_t cap;     /* burst, in nanotokens */
	uint64_t level;   /* nanotokens at `last` */
	uint64_t last;
};

/* rate >= 1 and burst >= 1 (zero takes 1); starts full at now. */
void zt_tokens_init(struct zt_tokens *t, uint32_t rate, uint32_t burst, uint64_t now);

/* Takes one token if there is one at now. Returns true when it did. */
bool zt_tokens_take(struct zt_tokens *t, uint64_t now);

/* Takes n tokens at once if there are n at now, else none (all or nothing: a packet of
 * n bytes). Returns true when it did; n = 0 is always true, n above the burst never. */
bool zt_tokens_take_n(struct zt_tokens *t, uint64_t now, uint32_t n);

/* Whether a token is there at now (nothing taken). */
bool zt_tokens_ready(const struct zt_tokens *t, uint64_t now);

/* Gives n tokens back (a refund), up to the burst. */
void zt_tokens_give(struct zt_tokens *t, uint32_t n);

/* The earliest time >= now at which a token is there. */
uint64_t zt_tokens_when(const struct zt_tokens *t, uint64_t now);

/* Tokens there at now (whole ones). */
uint64_t zt_tokens_level(const struct zt_tokens *t, uint64_t now);

#endif
