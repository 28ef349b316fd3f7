#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/units.h"
#include "endpoint.h"
#include "evq.h"
#include "relay.h"
#include "session.h"

#define AGENT_BOOT (100 * ZT_MS)
#define RELAY_PORT 4433
#define AGENT_PORT 5000
#define CONNECTOR_PORT 6000

struct run {
	struct zt_sim_evq evq;
	struct zt_sim_net net;
	struct zt_sim_relay relay;
	struct zt_sim_peer agent, connector;
	struct zt_sim_ep eps[3];
	int map[ZT_SCN_MAX_NODES];   /* scenario node -> net node */
};

static void ep_wake(void *ctx, void *arg, uint64_t now);

static void ep_service(struct zt_sim_ep *e, uint64_t now)
{
	uint8_t buf[ZT_SIM_PKT_MAX];
	struct zt_addr l, r;
	uint64_t d;
	size_t n;

	for (int round = 0; round < 8; round++) {
		if (e->ops->next_deadline(e->obj) <= now)
			e->ops->on_timeout(e->obj, now);
		while ((n = e->ops->poll_send(e->obj, now, buf, sizeof(buf), &l, &r)) > 0)
			zt_sim_net_send(e->net, e->node, &l, &r, buf, n);
		if (e->ops->next_deadline(e->obj) > now)
			break;
	}
	d = e->ops->next_deadline(e->obj);
	if (d == UINT64_MAX)
		return;
	e->stuck = d <= now ? e->stuck + 1 : 0;
	if (e->stuck >= ZT_SIM_EVQ_SPIN_MAX) { /* a deadline its timers never move on */
		e->net->evq->spun = true;
		e->net->evq->spun_at = now;
		return; /* not woken again: the run goes on without it, the outcome says so */
	}
	if (d <= now)
		d = now + 1;
	if (d < e->wake_at || e->wake_at <= now) {
		e->wake_at = d;
		zt_sim_evq_push(e->net->evq, d, ep_wake, e, NULL);
	}
}

static void ep_wake(void *ctx, void *arg, uint64_t now)
{
	struct zt_sim_ep *e = ctx;

	(void)arg;
	if (now >= e->wake_at)
		e->wake_at = 0;
	ep_service(e, now);
}

static void ep_rx(void *ctx, uint64_t now, const struct zt_addr *local,
		  const struct zt_addr *from, const uint8_t *buf, size_t len)
{
	struct zt_sim_ep *e = ctx;

	e->ops->recv(e->obj, now, local, from, buf, len);
	ep_service(e, now);
}

void zt_sim_ep_attach(struct zt_sim_ep *e, struct zt_sim_net *net, int node,
		      const struct zt_sim_endpoint_ops *ops, void *obj, uint64_t boot)
{
	*e = (struct zt_sim_ep){ .ops = ops, .obj = obj, .node = node, .net = net, .wake_at = boot };
	zt_sim_net_set_rx(net, node, ep_rx, e);
	zt_sim_evq_push(net->evq, boot, ep_wake, e, NULL);
}

void zt_sim_ep_kick(struct zt_sim_ep *e, uint64_t now)
{
	ep_service(e, now);
}

void zt_sim_drop_event(void *ctx, void *arg)
{
	if (arg)
		zt_sim_net_drop_event(ctx, arg);
}

static void drop_event(void *ctx, void *arg)
{
	/* network events carry a packet; endpoint wakes carry nothing */
	if (arg)
		zt_sim_net_drop_event(ctx, arg);
}

static struct zt_addr v4(uint32_t ip, uint16_t port)
{
	uint8_t b[4] = { (uint8_t)(ip >> 24), (uint8_t)(ip >> 16), (uint8_t)(ip >> 8), (uint8_t)ip };
	struct zt_addr a;

	zt_addr_set_v4(&a, b, port);
	return a;
}

int zt_sim_session_build(struct zt_sim_net *net, const struct zt_sim_scn *scn,
			 int map[ZT_SCN_MAX_NODES])
{
	const struct zt_scn *lab = &scn->lab;
	unsigned added = 0;

	for (unsigned i = 0; i < lab->nnodes; i++)
		map[i] = -1;
	for (unsigned depth = 0; depth <= ZT_SCN_MAX_DEPTH + 1 && added < lab->nnodes; depth++) {
		for (unsigned i = 0; i < lab->nnodes; i++) {
			const struct zt_scn_node *n = &lab->nodes[i];
			struct zt_sim_nat_cfg cfg;
			enum zt_sim_node_kind kind;
			struct zt_addr a;
			int up, idx;

			if (map[i] >= 0 || zt_scn_depth(lab, i) != depth)
				continue;
			up = n->up < 0 ? -1 : map[n->up];
			if (n->up >= 0 && up < 0)
				continue;
			kind = n->kind == ZT_SCN_NAT ? ZT_SIM_NODE_NAT :
			       n->kind == ZT_SCN_SERVER ? ZT_SIM_NODE_SERVER : ZT_SIM_NODE_HOST;
			if (n->kind == ZT_SCN_NAT) {
				cfg = scn->nat_set[i] ? scn->nat[i] : zt_sim_nat_cfg_of_type((int)n->type);
				cfg.hairpin = n->hairpin;
				/* the simulator carries UDP only: a proxy-only lan gets none out */
				cfg.udp_blocked = n->block_udp || n->egress_proxy;
				cfg.timeout = (uint64_t)n->timeout_s * ZT_SEC;
				cfg.portmap = n->portmap != ZT_SCN_PORTMAP_NONE;
			}
			a = v4(n->addr[0], 0);
			/* a host 'behind public' is a server in the simulator's terms */
			if (kind == ZT_SIM_NODE_HOST && up < 0)
				kind = ZT_SIM_NODE_SERVER;
			idx = zt_sim_net_add(net, n->name, kind, up, &a,
					     kind == ZT_SIM_NODE_NAT ? &cfg : NULL);
			if (idx < 0)
				return idx;
			for (unsigned k = 1; k < n->naddr; k++) {
				struct zt_addr b = v4(n->addr[k], 0);
				zt_sim_net_add_addr(net, idx, &b);
			}
			net->nodes[idx].link = (struct zt_sim_link_cfg){
				.delay = n->link.delay_ns, .jitter = n->link.jitter_ns,
				.loss_ppm = n->link.loss_ppm, .rate_bps = n->link.rate_bps,
				.mtu = n->link.mtu, .queue = n->link.queue,
				.reorder_ppm = scn->reorder_ppm[i],
			};
			map[i] = idx;
			added++;
		}
	}
	return added == lab->nnodes ? 0 : -EINVAL;
}

/* The scenario's `sim block` lines: a NAT dropping a peer's traffic for a while. */
static void session_blocks(struct zt_sim_net *net, const struct zt_sim_scn *scn,
			   const int map[ZT_SCN_MAX_NODES])
{
	for (unsigned k = 0; k < scn->nblocks; k++) {
		int nat = map[zt_scn_find(&scn->lab, scn->blocks[k].nat)];
		int peer = map[zt_scn_find(&scn->lab, scn->blocks[k].peer)];
		struct zt_sim_block b = { .nat = nat, .remote = zt_sim_net_public_ip(net, peer),
					  .from = scn->blocks[k].from, .until = scn->blocks[k].until };
		zt_sim_net_block(net, &b);
	}
}

/* 'sim run portmap on': host n asks the NAT in front of it for a mapping of its
 * socket's port (the node's PCP / NAT-PMP / UPnP client, docs/portmap.md, reduced to
 * its result: the mapping is there when the session starts). */
static void session_portmap(struct zt_sim_net *net, const struct zt_sim_scn *scn, int n,
			    uint16_t port)
{
	struct zt_addr in;
	int up = net->nodes[n].up;

	if (!scn->portmap || up < 0 || !net->nodes[up].nat.cfg.portmap)
		return;
	in = net->nodes[n].addrs[0];
	in.port = port;
	if (zt_sim_nat_map_static(&net->nodes[up].nat, &net->prng, &in, &net->nodes[n].mapped) == 0)
		net->nodes[n].portmapped = true;
}

int zt_sim_session_net(struct zt_sim_net *net, struct zt_sim_evq *evq,
		       const struct zt_sim_session_cfg *cfg, int map[ZT_SCN_MAX_NODES],
		       int *ret_agent, int *ret_connector, int *ret_relay)
{
	const struct zt_sim_scn *scn = cfg->scn;
	int rc;

	zt_sim_evq_init(evq);
	zt_sim_net_init(net, evq, cfg->seed);
	net->trace = cfg->trace;
	net->trace_ctx = cfg->trace_ctx;
	rc = zt_sim_session_build(net, scn, map);
	if (rc < 0)
		return rc;
	*ret_agent = map[zt_scn_find(&scn->lab, scn->agent)];
	*ret_connector = map[zt_scn_find(&scn->lab, scn->connector)];
	*ret_relay = map[zt_scn_find(&scn->lab, scn->relay)];
	session_blocks(net, scn, map);
	session_portmap(net, scn, *ret_agent, AGENT_PORT);
	session_portmap(net, scn, *ret_connector, CONNECTOR_PORT);
	return 0;
}

int zt_sim_session_theory(const struct zt_sim_session_cfg *cfg, enum zt_sim_expect *ret,
			  const char *ret_types[2])
{
	struct zt_sim_evq evq;
	struct zt_sim_net net;
	int map[ZT_SCN_MAX_NODES], a, c, rl;
	int rc = zt_sim_session_net(&net, &evq, cfg, map, &a, &c, &rl);

	if (rc == 0) {
		*ret = zt_sim_theory(&net, a, c, !cfg->scn->predict_off);
		ret_types[0] = zt_sim_effective_type(&net, a);
		ret_types[1] = zt_sim_effective_type(&net, c);
	}
	zt_sim_evq_drain(&evq, zt_sim_drop_event);
	zt_sim_evq_fini(&evq);
	zt_sim_net_fini(&net);
	return rc;
}

int zt_sim_session_node_names(const struct zt_sim_scn *scn, const char *names[ZT_SIM_NET_MAX_NODES])
{
	/* the same order build() adds them in */
	const struct zt_scn *lab = &scn->lab;
	unsigned k = 0;

	for (unsigned depth = 0; depth <= ZT_SCN_MAX_DEPTH + 1; depth++)
		for (unsigned i = 0; i < lab->nnodes; i++)
			if (zt_scn_depth(lab, i) == depth && k < ZT_SIM_NET_MAX_NODES)
				names[k++] = lab->nodes[i].name;
	return (int)k;
}

/* One-way delay from node up to (not including) the segment of `stop` (-1: public). */
static uint64_t oneway(const struct zt_sim_net *net, int node, int stop)
{
	uint64_t d = 0;

	for (; node >= 0 && node != stop; node = net->nodes[node].up)
		d += net->nodes[node].link.delay;
	return d;
}

static int lowest_shared(const struct zt_sim_net *net, int a, int b)
{
	for (int x = net->nodes[a].up; x >= 0; x = net->nodes[x].up)
		for (int y = net->nodes[b].up; y >= 0; y = net->nodes[y].up)
			if (x == y)
				return x;
	return -1;
}

static uint32_t max_per_minute(const struct zt_sim_peer_stats *st)
{
	unsigned n = st->switches < 64 ? st->switches : 64;
	uint32_t best = 0;

	for (unsigned i = 0; i < n; i++) {
		uint32_t c = 0;
		for (unsigned j = i; j < n && st->switch_times[j] - st->switch_times[i] < 60 * ZT_SEC; j++)
			c++;
		if (c > best)
			best = c;
	}
	return best;
}

/* The agent on net node a and the connector on c, both pointed at the relay. Returns 0
 * or the error, with neither peer left initialized. */
/* 'sim run probe on': a node told its NAT, with sockets to spray from (birthday
 * probing, docs/hard-nat.md). */
static void probe_cfg(struct zt_sim_peer_cfg *pc, const struct zt_sim_net *net,
		      const struct zt_sim_scn *scn, int node)
{
	pc->nat_mapping = pc->nat_ports = 0;
	pc->spray_sockets = 0;
	if (!scn->probe)
		return;
	zt_sim_nat_known(net, node, scn->detect, &pc->nat_mapping, &pc->nat_ports);
	pc->spray_sockets = scn->probe_sockets ? scn->probe_sockets : ZT_BIRTHDAY_SOCKETS;
	pc->probe_count = scn->probe_count;
	pc->probe_rate = scn->probe_rate;
}

/* A port mapping at the node's gateway: its candidate, as node/peer.c gives it to the
 * direct path (srflx, local preference 65535, the gateway's address as foundation). */
static void portmap_cfg(struct zt_sim_peer_cfg *pc, const struct zt_sim_net *net, int node)
{
	const struct zt_sim_node *h = &net->nodes[node];

	pc->mapped = (struct zt_addr){ 0 };
	if (!h->portmapped)
		return;
	pc->mapped = h->mapped;
	pc->gateway = net->nodes[h->up].nat.wan;
}

static int peers_init(struct run *r, const struct zt_sim_session_cfg *cfg, int a, int c)
{
	const struct zt_sim_scn *scn = cfg->scn;
	struct zt_sim_peer_cfg pc;
	int rc;

	pc = (struct zt_sim_peer_cfg){
		.agent = true, .name = scn->agent, .relay = r->relay.addr,
		.seed = cfg->seed * 2 + 1, .shuffle_cands = scn->shuffle,
		.start_skew = scn->skew_connector ? 0 : scn->skew,
		.data_interval = scn->data_interval, .log = cfg->log, .log_ctx = cfg->log_ctx,
	};
	pc.host = r->net.nodes[a].addrs[0];
	pc.host.port = AGENT_PORT;
	pc.predict_off = scn->predict_off;
	pc.nat_sequential = zt_sim_predictable(&r->net, a);
	portmap_cfg(&pc, &r->net, a);
	probe_cfg(&pc, &r->net, scn, a);
	rc = zt_sim_peer_init(&r->agent, &pc);
	if (rc < 0)
		return rc;
	pc.agent = false;
	pc.name = scn->connector;
	pc.seed = cfg->seed * 2 + 2;
	pc.start_skew = scn->skew_connector ? scn->skew : 0;
	pc.host = r->net.nodes[c].addrs[0];
	pc.host.port = CONNECTOR_PORT;
	pc.nat_sequential = zt_sim_predictable(&r->net, c);
	portmap_cfg(&pc, &r->net, c);
	probe_cfg(&pc, &r->net, scn, c);
	rc = zt_sim_peer_init(&r->connector, &pc);
	if (rc < 0)
		zt_sim_peer_fini(&r->agent);
	return rc;
}

/* What the run came to, from the peers' statistics and the network (a, c, rl: the
 * agent's, the connector's and the relay's net nodes). */
static void outcome(struct run *r, const struct zt_sim_scn *scn, int a, int c, int rl,
		    struct zt_sim_outcome *ret)
{
	*ret = (struct zt_sim_outcome){
		.theory = zt_sim_theory(&r->net, a, c, !scn->predict_off),
		.birthday_cell = scn->probe && zt_sim_birthday_cell(&r->net, a, c, scn->detect),
		.session_up = r->agent.in_session && r->connector.in_session,
		.session_at = r->agent.st.session_at,
		.ice_start_at = r->agent.st.ice_start_at,
		.ice_start_connector = r->connector.st.ice_start_at,
		.went_direct = r->agent.st.first_direct_at != 0,
		.first_direct_at = r->agent.st.first_direct_at,
		.final_path = r->agent.path,
		.switches = r->agent.st.switches,
		.max_switches_per_min = max_per_minute(&r->agent.st),
		.generations = r->agent.st.generations,
		.data_sent = r->agent.st.data_sent,
		.data_sent_direct = r->agent.st.data_sent_direct,
		.data_received = r->connector.st.data_received,
		.data_received_direct = r->connector.st.data_received_direct,
		.data_reordered = r->connector.st.data_reordered,
		.first_data_rx = r->connector.st.first_data_rx,
		.max_gap = r->connector.st.max_gap,
		.events = r->evq.popped,
		.packets = r->net.sent,
		.dropped = r->net.dropped,
		.end = scn->duration,
		.err = r->agent.err ? r->agent.err : r->connector.err,
	};
	if (ret->went_direct && ret->first_direct_at >= ret->ice_start_at)
		ret->time_to_direct = ret->first_direct_at - ret->ice_start_at;
	if (ret->went_direct) {
		uint64_t both = ret->ice_start_at > ret->ice_start_connector ? ret->ice_start_at
									     : ret->ice_start_connector;
		ret->time_from_both = ret->first_direct_at > both ? ret->first_direct_at - both : 0;
	}
	{
		/* a shared NAT is as far as direct packets climb (hairpinning there) */
		int shared = lowest_shared(&r->net, a, c);
		ret->rtt_agent_relay = 2 * (oneway(&r->net, a, -1) + oneway(&r->net, rl, -1));
		ret->rtt_connector_relay = 2 * (oneway(&r->net, c, -1) + oneway(&r->net, rl, -1));
		ret->rtt_direct = 2 * (oneway(&r->net, a, shared) + oneway(&r->net, c, shared));
	}
	if (r->agent.d) {
		struct zt_direct_info di;
		zt_direct_info(r->agent.d, &di);
		ret->checks = di.checks_sent;
		ret->retransmits = di.retransmits;
	}
	ret->stun_dropped = r->agent.st.stun_dropped + r->connector.st.stun_dropped;
}

int zt_sim_session_run(const struct zt_sim_session_cfg *cfg, struct zt_sim_outcome *ret)
{
	const struct zt_sim_scn *scn = cfg->scn;
	struct zt_scn_error err;
	struct run *r;
	int rc, a, c, rl;

	rc = zt_sim_scn_check(scn, &err);
	if (rc < 0)
		return rc;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	rc = zt_sim_session_net(&r->net, &r->evq, cfg, r->map, &a, &c, &rl);
	if (rc < 0)
		goto out_free;

	zt_sim_relay_init(&r->relay, &(struct zt_addr){ 0 });
	r->relay.addr = r->net.nodes[rl].addrs[0];
	r->relay.addr.port = RELAY_PORT;
	rc = peers_init(r, cfg, a, c);
	if (rc < 0)
		goto out_free;

	r->eps[0] = (struct zt_sim_ep){ .ops = &zt_sim_relay_ops, .obj = &r->relay, .node = rl,
					.net = &r->net };
	r->eps[1] = (struct zt_sim_ep){ .ops = &zt_sim_peer_ops, .obj = &r->connector, .node = c,
					.net = &r->net };
	r->eps[2] = (struct zt_sim_ep){ .ops = &zt_sim_peer_ops, .obj = &r->agent, .node = a,
					.net = &r->net };
	for (int i = 0; i < 3; i++)
		zt_sim_net_set_rx(&r->net, r->eps[i].node, ep_rx, &r->eps[i]);
	r->eps[2].wake_at = AGENT_BOOT;
	zt_sim_evq_push(&r->evq, 0, ep_wake, &r->eps[1], NULL);
	zt_sim_evq_push(&r->evq, AGENT_BOOT, ep_wake, &r->eps[2], NULL);

	zt_sim_evq_run(&r->evq, scn->duration);

	outcome(r, scn, a, c, rl, ret);
	ret->spun = r->evq.spun;
	ret->spun_at = r->evq.spun_at;
	rc = 0;
	zt_sim_peer_fini(&r->connector);
	zt_sim_peer_fini(&r->agent);
out_free:
	zt_sim_evq_drain(&r->evq, drop_event);
	zt_sim_evq_fini(&r->evq);
	zt_sim_net_fini(&r->net);
	free(r);
	return rc;
}
