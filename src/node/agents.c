/*
 * Connector: the per-agent limits (node/peer.h, docs/security.md "The connector's
 * resources"). An agent is a peer identity; what it holds is summed over all its
 * sessions, so one agent cannot take the sockets, flows or memory other agents need.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "node/peer_int.h"

static struct pagent *find(const struct zt_peer *p, const char *identity)
{
	for (struct pagent *a = p->agents; a; a = a->next)
		if (!strcmp(a->identity, identity))
			return a;
	return NULL;
}

bool zt_pagent_may_open(struct zt_peer *p, const char *identity)
{
	struct pagent *a = find(p, identity);

	if (!a || a->sessions < p->cfg.agent_max_sessions)
		return true;
	a->refused++;
	if (!a->logged_at || p->now >= a->logged_at + PEER_AGENT_LOG_EVERY) {
		PLOG(p, ZT_NODE_WARN, "agent_limited",
		     "peer=%s what=session limit=agent-max-sessions max=%zu sessions=%zu refused=%" PRIu64,
		     identity, p->cfg.agent_max_sessions, a->sessions, a->unlogged + 1);
		a->logged_at = p->now;
		a->unlogged = 0;
	} else {
		a->unlogged++;
	}
	return false;
}

struct pagent *zt_pagent_attach(struct zt_peer *p, const char *identity)
{
	struct pagent *a = find(p, identity);

	if (!a) {
		a = calloc(1, sizeof(*a));
		if (!a)
			return NULL;
		snprintf(a->identity, sizeof(a->identity), "%s", identity);
		zt_tokens_init(&a->tun_tokens, p->cfg.agent_max_pps, p->cfg.agent_max_pps, p->now);
		a->next = p->agents;
		p->agents = a;
	}
	a->sessions++;
	return a;
}

void zt_pagent_detach(struct zt_peer *p, struct pagent *a)
{
	struct pagent **pp;

	if (!a || --a->sessions)
		return;
	for (pp = &p->agents; *pp && *pp != a; pp = &(*pp)->next)
		;
	if (*pp)
		*pp = a->next;
	free(a);
}

/* The sockets a may hold now: its own cap, and a fair share of the program's budget
 * that always leaves room for one more agent: total / (agents holding sockets + 1),
 * counting a. */
static size_t socket_cap(const struct zt_peer *p, const struct pagent *a, const char **ret_limit)
{
	size_t holders = 1, share;

	*ret_limit = "agent-max-sockets";
	if (!p->cfg.sockets_total)
		return p->cfg.agent_max_sockets;
	for (const struct pagent *b = p->agents; b; b = b->next)
		holders += b != a && (b->chans || b->flows);
	share = p->cfg.sockets_total / (holders + 1);
	if (share >= p->cfg.agent_max_sockets)
		return p->cfg.agent_max_sockets;
	*ret_limit = "fair-share";
	return share;
}

int zt_pagent_admit(struct zt_peer *p, struct pagent *a, bool flow, const char *service)
{
	const char *limit = NULL;
	size_t max = 0, cap;

	if (!a)
		return 0;
	cap = socket_cap(p, a, &limit);
	if (flow && a->flows >= p->cfg.agent_max_flows) {
		limit = "agent-max-flows";
		max = p->cfg.agent_max_flows;
	} else if (a->chans + a->flows >= cap) {
		max = cap;
	} else if (p->cfg.sockets_total && p->sockets_used >= p->cfg.sockets_total) {
		limit = "sockets-total";
		max = p->cfg.sockets_total;
	} else {
		if (flow)
			a->flows++;
		else
			a->chans++;
		p->sockets_used++;
		return 0;
	}
	a->refused++;
	if (flow)
		p->st.limit_flow_dgrams++;
	else
		p->st.limit_chans++;
	/* once per burst: the first refusal, then a line at most every 10 s with the count */
	if (a->logged_at && p->now < a->logged_at + PEER_AGENT_LOG_EVERY) {
		a->unlogged++;
		return ZT_EBUSY;
	}
	PLOG(p, ZT_NODE_WARN, "agent_limited",
	     "peer=%s service=%s what=%s limit=%s max=%zu chans=%zu flows=%zu sockets_used=%zu refused=%" PRIu64,
	     a->identity, service, flow ? "flow" : "channel", limit, max, a->chans, a->flows,
	     p->sockets_used, a->unlogged + 1);
	a->logged_at = p->now;
	a->unlogged = 0;
	return ZT_EBUSY;
}

void zt_pagent_release(struct zt_peer *p, struct pagent *a, bool flow)
{
	if (!a)
		return;
	if (flow && a->flows)
		a->flows--;
	else if (!flow && a->chans)
		a->chans--;
	if (p->sockets_used)
		p->sockets_used--;
}

uint64_t zt_pagent_room(const struct zt_peer *p, const struct pagent *a)
{
	uint64_t used = a->in_held + a->out_queued;

	return used >= p->cfg.agent_max_bytes ? 0 : p->cfg.agent_max_bytes - used;
}
