#include <string.h>

#include "core/portpred.h"

void zt_portpred_init(struct zt_portpred *pp)
{
	*pp = (struct zt_portpred){ 0 };
}

/* Whether a datagram to a may never reach the NAT's table (see portpred.h). */
static bool uncounted(const struct zt_addr *a)
{
	bool shared = a->family == AF_INET && a->ip[0] == 100 && (a->ip[1] & 0xc0) == 64;

	return !a->family || zt_addr_is_private(a) || zt_addr_is_loopback(a) ||
	       zt_addr_is_linklocal(a) || shared;
}

/* Remembers dst as sent to at now. Returns true when it was not in the table. */
static bool remember(struct zt_portpred *pp, uint64_t now, const struct zt_addr *dst)
{
	size_t oldest = 0;

	for (size_t i = 0; i < pp->ndst; i++) {
		struct zt_portpred_dst *e = &pp->dst[i];
		if (now >= e->last + ZT_PORTPRED_DST_LIFE) {
			/* forgotten: the NAT may have let the mapping go */
			pp->dst[i--] = pp->dst[--pp->ndst];
			continue;
		}
		if (zt_addr_equal(&e->addr, dst)) {
			e->last = now;
			return false;
		}
		if (e->last < pp->dst[oldest].last)
			oldest = i;
	}
	if (pp->ndst == ZT_PORTPRED_DSTS)
		pp->dst[oldest] = (struct zt_portpred_dst){ .addr = *dst, .last = now };
	else
		pp->dst[pp->ndst++] = (struct zt_portpred_dst){ .addr = *dst, .last = now };
	return true;
}

void zt_portpred_observed(struct zt_portpred *pp, uint64_t now, const struct zt_addr *pub,
			  const struct zt_addr *toward)
{
	if (!pub->family)
		return;
	if (!zt_addr_equal(&pp->observed, pub)) {
		pp->observed = *pub;
		pp->since = 0;
	}
	if (toward && toward->family)
		remember(pp, now, toward);
}

void zt_portpred_sent(struct zt_portpred *pp, uint64_t now, const struct zt_addr *dst)
{
	if (uncounted(dst) || !remember(pp, now, dst))
		return;
	pp->counted++;
	if (pp->observed.family)
		pp->since++;
}

size_t zt_portpred_cands(const struct zt_portpred *pp, const struct zt_addr *base,
			 const struct zt_addr *server, struct zt_cand *out, size_t n)
{
	size_t k;

	if (!pp->observed.family)
		return 0;
	if (n > ZT_CAND_PREDICTED_MAX)
		n = ZT_CAND_PREDICTED_MAX;
	for (k = 1; k <= n; k++) {
		uint32_t port = (uint32_t)pp->observed.port + pp->since + (uint32_t)k;
		struct zt_cand *c = &out[k - 1];

		if (port > 65535)
			break;
		*c = (struct zt_cand){ .type = ZT_CAND_SRFLX, .component = 1,
				       .predicted = (uint8_t)k, .addr = pp->observed };
		c->addr.port = (uint16_t)port;
		if (base && base->family == pp->observed.family)
			c->related = *base;
		c->priority = zt_cand_priority(ZT_CAND_SRFLX, (uint16_t)(ZT_PORTPRED_LOCAL_PREF - k), 1);
		zt_cand_foundation(c->foundation, ZT_CAND_SRFLX,
				   c->related.family ? &c->related : &c->addr, server);
	}
	return k - 1;
}

unsigned zt_portpred_rank(unsigned k, bool controlling, bool both_predict)
{
	if (controlling || !both_predict)
		return k;
	/* odd indexes first: 1 -> 0, 3 -> 1, 5 -> 2, ...; then 2, 4, ... after them */
	return k & 1 ? k / 2 : ZT_CAND_PREDICTED_MAX + k / 2;
}
