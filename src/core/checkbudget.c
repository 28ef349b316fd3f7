#include <string.h>

#include "core/checkbudget.h"

static uint32_t burst(uint32_t rate)
{
	return rate * ZT_CHECK_BUDGET_BURST_S;
}

void zt_check_budget_init(struct zt_check_budget *b, const struct zt_check_budget_config *cfg,
			  uint64_t now)
{
	memset(b, 0, sizeof(*b));
	b->cfg = *cfg;
	if (!b->cfg.session_rate)
		b->cfg.session_rate = 4;
	if (!b->cfg.dest_rate)
		b->cfg.dest_rate = 2;
	if (!b->cfg.total_rate)
		b->cfg.total_rate = 100;
	zt_tokens_init(&b->total, b->cfg.total_rate, burst(b->cfg.total_rate), now);
}

void zt_check_budget_session(const struct zt_check_budget *b, struct zt_tokens *session,
			     uint64_t now)
{
	uint32_t rate = b->cfg.session_rate;

	zt_tokens_init(session, rate, burst(rate), now);
}

static struct zt_addr ip_of(const struct zt_addr *a)
{
	struct zt_addr ip = *a;

	ip.port = 0;
	return ip;
}

/* The destination's bucket, or -1 when the IP has none (it would start full). */
static int dst_find(const struct zt_check_budget *b, const struct zt_addr *to)
{
	struct zt_addr ip = ip_of(to);

	for (int i = 0; i < ZT_CHECK_BUDGET_DSTS; i++)
		if (b->dst[i].ip.family && zt_addr_equal(&b->dst[i].ip, &ip))
			return i;
	return -1;
}

/* A slot for `to`: a free one, or the one with the most tokens now. */
static int dst_add(struct zt_check_budget *b, uint64_t now, const struct zt_addr *to)
{
	int best = 0;
	uint64_t most = 0;

	for (int i = 0; i < ZT_CHECK_BUDGET_DSTS; i++) {
		uint64_t l;
		if (!b->dst[i].ip.family) {
			best = i;
			break;
		}
		l = zt_tokens_level(&b->dst[i].t, now);
		if (l > most) {
			most = l;
			best = i;
		}
	}
	b->dst[best].ip = ip_of(to);
	zt_tokens_init(&b->dst[best].t, b->cfg.dest_rate, burst(b->cfg.dest_rate), now);
	return best;
}

bool zt_check_budget_take(struct zt_check_budget *b, struct zt_tokens *session, uint64_t now,
			  const struct zt_addr *to)
{
	int d = b ? dst_find(b, to) : -1;

	if ((session && !zt_tokens_ready(session, now)) ||
	    (b && (!zt_tokens_ready(&b->total, now) || (d >= 0 && !zt_tokens_ready(&b->dst[d].t, now))))) {
		if (b)
			b->st.deferred++;
		return false;
	}
	if (session)
		zt_tokens_take(session, now);
	if (!b)
		return true;
	if (d < 0)
		d = dst_add(b, now, to);
	zt_tokens_take(&b->dst[d].t, now);
	zt_tokens_take(&b->total, now);
	b->st.taken++;
	return true;
}

uint64_t zt_check_budget_when(const struct zt_check_budget *b, const struct zt_tokens *session,
			      uint64_t now, const struct zt_addr *to)
{
	uint64_t t = session ? zt_tokens_when(session, now) : now, x;
	int d;

	if (!b)
		return t;
	x = zt_tokens_when(&b->total, now);
	if (x > t)
		t = x;
	d = dst_find(b, to);
	if (d >= 0 && (x = zt_tokens_when(&b->dst[d].t, now)) > t)
		t = x;
	return t;
}

void zt_check_budget_refund(struct zt_check_budget *b, struct zt_tokens *session,
			    const struct zt_addr *to, uint32_t n)
{
	int d;

	if (!n)
		return;
	if (session)
		zt_tokens_give(session, n);
	if (!b)
		return;
	d = dst_find(b, to);
	if (d >= 0)
		zt_tokens_give(&b->dst[d].t, n);
	zt_tokens_give(&b->total, n);
	b->st.refunded += n;
}
