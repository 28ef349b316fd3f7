#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "net.h"

/* on_segment()'s `from` for a packet the segment's NAT delivers onto its lan */
#define FROM_NAT (-2)

struct pkt {
	uint64_t id;
	int node;                /* the node whose uplink it is crossing */
	struct zt_addr src, dst;
	size_t len;
	uint8_t data[];
};

static void nat_log(void *ctx, uint64_t now, const struct zt_sim_nat *nat,
		    enum zt_sim_nat_event ev, const struct zt_sim_nat_map *m)
{
	struct zt_sim_net *net = ctx;
	struct zt_sim_trace t = {
		.kind = ev == ZT_SIM_NAT_EV_CREATE ? ZT_SIM_TR_NAT_MAP : ZT_SIM_TR_NAT_EXPIRE,
		.node = (int)(((const char *)nat - (const char *)net->nodes) /
			      (ptrdiff_t)sizeof(net->nodes[0])),
		.xsrc = m->inside,
		.xdst = nat->wan,
		.dst = m->key,
	};

	t.xdst.port = m->port;
	if (net->trace)
		net->trace(net->trace_ctx, now, &t);
}

void zt_sim_net_init(struct zt_sim_net *net, struct zt_sim_evq *evq, uint64_t seed)
{
	*net = (struct zt_sim_net){ .evq = evq, .next_id = 1 };
	zt_prng_seed(&net->prng, seed);
}

void zt_sim_net_fini(struct zt_sim_net *net)
{
	for (unsigned i = 0; i < net->nnodes; i++)
		if (net->nodes[i].kind == ZT_SIM_NODE_NAT)
			zt_sim_nat_fini(&net->nodes[i].nat);
}

void zt_sim_net_drop_event(void *ctx, void *arg)
{
	(void)ctx;
	free(arg);
}

int zt_sim_net_add(struct zt_sim_net *net, const char *name, enum zt_sim_node_kind kind,
		   int up, const struct zt_addr *addr, const struct zt_sim_nat_cfg *cfg)
{
	struct zt_sim_node *n;

	if (net->nnodes >= ZT_SIM_NET_MAX_NODES)
		return -ENOSPC;
	if (up >= (int)net->nnodes || (up >= 0 && net->nodes[up].kind != ZT_SIM_NODE_NAT) ||
	    (kind == ZT_SIM_NODE_NAT && !cfg) || (kind == ZT_SIM_NODE_SERVER && up >= 0))
		return -EINVAL;
	n = &net->nodes[net->nnodes];
	*n = (struct zt_sim_node){ .kind = kind, .up = up, .naddrs = 1 };
	strncpy(n->name, name, sizeof(n->name) - 1);
	n->addrs[0] = *addr;
	n->addrs[0].port = 0;
	if (kind == ZT_SIM_NODE_NAT) {
		zt_sim_nat_init(&n->nat, cfg, addr);
		n->nat.log = nat_log;
		n->nat.log_ctx = net;
		n->nat.name = n->name;
	}
	return (int)net->nnodes++;
}

int zt_sim_net_add_addr(struct zt_sim_net *net, int node, const struct zt_addr *addr)
{
	struct zt_sim_node *n;

	if (node < 0 || node >= (int)net->nnodes)
		return -EINVAL;
	n = &net->nodes[node];
	if (n->naddrs >= ZT_SIM_NET_MAX_ADDRS)
		return -ENOSPC;
	n->addrs[n->naddrs] = *addr;
	n->addrs[n->naddrs++].port = 0;
	return 0;
}

int zt_sim_net_find(const struct zt_sim_net *net, const char *name)
{
	for (unsigned i = 0; i < net->nnodes; i++)
		if (!strcmp(net->nodes[i].name, name))
			return (int)i;
	return -1;
}

void zt_sim_net_set_rx(struct zt_sim_net *net, int node, zt_sim_rx_fn *fn, void *ctx)
{
	net->nodes[node].rx = fn;
	net->nodes[node].rx_ctx = ctx;
}

int zt_sim_net_block(struct zt_sim_net *net, const struct zt_sim_block *b)
{
	if (net->nblocks >= ZT_SIM_NET_MAX_BLOCKS)
		return -ENOSPC;
	if (b->nat < 0 || b->nat >= (int)net->nnodes || net->nodes[b->nat].kind != ZT_SIM_NODE_NAT)
		return -EINVAL;
	net->blocks[net->nblocks++] = *b;
	return 0;
}

struct zt_addr zt_sim_net_public_ip(const struct zt_sim_net *net, int node)
{
	while (net->nodes[node].up >= 0)
		node = net->nodes[node].up;
	return net->nodes[node].addrs[0];
}

static void trace(struct zt_sim_net *net, uint64_t now, enum zt_sim_trace_kind kind,
		  const struct pkt *p, int node, const char *why)
{
	struct zt_sim_trace t = {
		.kind = kind, .pkt_id = p->id, .node = node, .src = p->src, .dst = p->dst,
		.buf = p->data, .len = p->len, .why = why,
	};

	if (net->trace)
		net->trace(net->trace_ctx, now, &t);
}

static void drop(struct zt_sim_net *net, uint64_t now, struct pkt *p, int node, const char *why)
{
	trace(net, now, ZT_SIM_TR_DROP, p, node, why);
	net->dropped++;
	net->in_flight--;
	free(p);
}

static bool has_ip(const struct zt_sim_node *n, const struct zt_addr *a)
{
	for (unsigned i = 0; i < n->naddrs; i++)
		if (zt_addr_ip_equal(&n->addrs[i], a))
			return true;
	return false;
}

static bool blocked(const struct zt_sim_net *net, uint64_t now, int nat,
		    const struct zt_addr *remote)
{
	for (unsigned i = 0; i < net->nblocks; i++) {
		const struct zt_sim_block *b = &net->blocks[i];
		if (b->nat == nat && now >= b->from && now < b->until &&
		    zt_addr_ip_equal(&b->remote, remote))
			return true;
	}
	return false;
}

static void arrive_up(void *ctx, void *arg, uint64_t now);
static void arrive_down(void *ctx, void *arg, uint64_t now);

/* Sends p across node's uplink, up or down; then fn runs at the far end. */
static void cross(struct zt_sim_net *net, uint64_t now, struct pkt *p, int node, bool up)
{
	struct zt_sim_node *n = &net->nodes[node];
	uint64_t at;
	enum zt_sim_link_verdict v;

	v = zt_sim_link_send(up ? &n->link_up : &n->link_down, &n->link, now, p->len,
			     &net->prng, &at);
	if (v != ZT_SIM_LINK_OK) {
		drop(net, now, p, node, zt_sim_link_verdict_name(v));
		return;
	}
	p->node = node;
	if (zt_sim_evq_push(net->evq, at, up ? arrive_up : arrive_down, net, p) < 0)
		drop(net, now, p, node, "nomem");
}

/* p is on the segment behind NAT `seg` (or the public one, -1), coming from node `from`. */
static void on_segment(struct zt_sim_net *net, uint64_t now, struct pkt *p, int seg, int from)
{
	struct zt_sim_node *nat;
	struct zt_addr x;
	enum zt_sim_nat_verdict v;

	for (unsigned i = 0; i < net->nnodes; i++) {
		if (net->nodes[i].up == seg && (int)i != from && has_ip(&net->nodes[i], &p->dst)) {
			cross(net, now, p, (int)i, false);
			return;
		}
	}
	if (from == FROM_NAT) {
		drop(net, now, p, seg, "no-host");
		return;
	}
	if (from >= 0 && has_ip(&net->nodes[from], &p->dst)) {
		drop(net, now, p, from, "self");
		return;
	}
	if (seg < 0) {
		drop(net, now, p, from, "no-route");
		return;
	}
	nat = &net->nodes[seg];
	if (zt_addr_ip_equal(&p->dst, &nat->nat.wan)) {
		/* hairpin (RFC 4787 s6, REQ-9): out, then back in with the public source */
		if (!nat->nat.cfg.hairpin) {
			drop(net, now, p, seg, "no-hairpin");
			return;
		}
		v = zt_sim_nat_out(&nat->nat, now, &net->prng, &p->src, &p->dst, &x);
		if (v != ZT_SIM_NAT_PASS) {
			drop(net, now, p, seg, zt_sim_nat_verdict_name(v));
			return;
		}
		p->src = x;
		v = zt_sim_nat_hairpin_in(&nat->nat, now, &p->dst, &x);
		if (v != ZT_SIM_NAT_PASS) {
			drop(net, now, p, seg, zt_sim_nat_verdict_name(v));
			return;
		}
		if (net->trace) {
			struct zt_sim_trace t = { .kind = ZT_SIM_TR_XLATE, .pkt_id = p->id,
				.node = seg, .src = p->src, .dst = p->dst, .xsrc = p->src, .xdst = x,
				.why = "hairpin" };
			net->trace(net->trace_ctx, now, &t);
		}
		p->dst = x;
		on_segment(net, now, p, seg, FROM_NAT);
		return;
	}
	if (blocked(net, now, seg, &p->dst)) {
		drop(net, now, p, seg, "blocked");
		return;
	}
	v = zt_sim_nat_out(&nat->nat, now, &net->prng, &p->src, &p->dst, &x);
	if (v != ZT_SIM_NAT_PASS) {
		drop(net, now, p, seg, zt_sim_nat_verdict_name(v));
		return;
	}
	if (net->trace) {
		struct zt_sim_trace t = { .kind = ZT_SIM_TR_XLATE, .pkt_id = p->id, .node = seg,
			.src = p->src, .dst = p->dst, .xsrc = x, .xdst = p->dst, .why = "out" };
		net->trace(net->trace_ctx, now, &t);
	}
	p->src = x;
	cross(net, now, p, seg, true);
}

static void arrive_up(void *ctx, void *arg, uint64_t now)
{
	struct zt_sim_net *net = ctx;
	struct pkt *p = arg;

	on_segment(net, now, p, net->nodes[p->node].up, p->node);
}

static void arrive_down(void *ctx, void *arg, uint64_t now)
{
	struct zt_sim_net *net = ctx;
	struct pkt *p = arg;
	int node = p->node;
	struct zt_sim_node *n = &net->nodes[node];
	struct zt_addr x;
	enum zt_sim_nat_verdict v;

	if (n->kind != ZT_SIM_NODE_NAT) {
		trace(net, now, ZT_SIM_TR_DELIVER, p, node, NULL);
		net->delivered++;
		net->in_flight--;
		n->rx_packets++;
		if (n->rx)
			n->rx(n->rx_ctx, now, &p->dst, &p->src, p->data, p->len);
		free(p);
		return;
	}
	if (blocked(net, now, node, &p->src)) {
		drop(net, now, p, node, "blocked");
		return;
	}
	v = zt_sim_nat_in(&n->nat, now, &p->src, &p->dst, &x);
	if (v != ZT_SIM_NAT_PASS) {
		drop(net, now, p, node, zt_sim_nat_verdict_name(v));
		return;
	}
	if (net->trace) {
		struct zt_sim_trace t = { .kind = ZT_SIM_TR_XLATE, .pkt_id = p->id, .node = node,
			.src = p->src, .dst = p->dst, .xsrc = p->src, .xdst = x, .why = "in" };
		net->trace(net->trace_ctx, now, &t);
	}
	p->dst = x;
	on_segment(net, now, p, node, FROM_NAT);
}

int zt_sim_net_send(struct zt_sim_net *net, int node, const struct zt_addr *src,
		    const struct zt_addr *dst, const uint8_t *buf, size_t len)
{
	struct pkt *p;

	if (len > ZT_SIM_PKT_MAX)
		return -EMSGSIZE;
	p = malloc(sizeof(*p) + len);
	if (!p)
		return -ENOMEM;
	*p = (struct pkt){ .id = net->next_id++, .node = node, .src = *src, .dst = *dst,
			   .len = len };
	memcpy(p->data, buf, len);
	net->sent++;
	net->in_flight++;
	trace(net, net->evq->now, ZT_SIM_TR_SEND, p, node, NULL);
	cross(net, net->evq->now, p, node, true);
	return 0;
}
