/*
 * The simulated network: nodes (hosts, public servers, NAT routers) arranged as the
 * lab arranges them (netns/scenario.h): a public segment, NATs on it or behind other
 * NATs, hosts on a NAT's lan. Every node has an uplink to the segment it sits on, a
 * link with its own impairments in each direction (sim/link.h); NAT routers translate
 * with sim/nat.h. Packets travel hop by hop as events on the simulator's clock:
 *
 *   host --uplink up--> segment --(NAT: translate, hairpin or forward up)--> ...
 *   ... segment --uplink down--> node (NAT: translate inbound, on to its lan)
 *
 * On a segment a packet goes to the node holding its destination IP; on a NAT's lan a
 * packet for anything else is translated and forwarded upstream, and one for the
 * NAT's own public address is hairpinned (RFC 4787 s6: translated out and back in,
 * so the receiver sees the sender's public mapping) or dropped. On the public segment
 * a packet for no node is dropped (no route). Packets a node sends to its own address
 * are dropped ("self": a real stack would loop them back to the sender, where an ICE
 * agent drops them as unauthenticated).
 *
 * Trace callbacks report every hop, translation, drop and delivery for the timeline.
 */
#ifndef ZT_SIM_NET_H
#define ZT_SIM_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/addr.h"
#include "core/rng.h"
#include "evq.h"
#include "link.h"
#include "nat.h"

#define ZT_SIM_NET_MAX_NODES 32
#define ZT_SIM_NET_MAX_ADDRS 4
#define ZT_SIM_NET_MAX_BLOCKS 8
#define ZT_SIM_PKT_MAX 2048

enum zt_sim_node_kind {
	ZT_SIM_NODE_HOST = 0,
	ZT_SIM_NODE_SERVER = 1,
	ZT_SIM_NODE_NAT = 2,
};

typedef void zt_sim_rx_fn(void *ctx, uint64_t now, const struct zt_addr *local,
			  const struct zt_addr *from, const uint8_t *buf, size_t len);

struct zt_sim_node {
	char name[16];
	enum zt_sim_node_kind kind;
	int up;                       /* NAT in front (node index), -1: public segment */
	struct zt_addr addrs[ZT_SIM_NET_MAX_ADDRS]; /* on the upstream segment, port 0 */
	unsigned naddrs;
	struct zt_sim_link_cfg link;  /* the uplink, each direction */
	struct zt_sim_link_dir link_up, link_down;
	struct zt_sim_nat nat;        /* NAT nodes */
	zt_sim_rx_fn *rx;             /* hosts and servers: where packets are delivered */
	void *rx_ctx;
	uint64_t rx_packets;
	/* hosts: the NAT in front holds a port mapping for the host's socket
	 * (zt_sim_nat_map_static), which theory counts as endpoint-independent both ways */
	bool portmapped;
	struct zt_addr mapped;        /* ... its public endpoint */
};

/* A traffic block on a NAT's wan side: what the lab's path-failure rule does. */
struct zt_sim_block {
	int nat;                      /* node index */
	struct zt_addr remote;        /* IP (port ignored) */
	uint64_t from, until;
};

enum zt_sim_trace_kind {
	ZT_SIM_TR_SEND = 1,      /* a node sent a packet */
	ZT_SIM_TR_XLATE = 2,     /* a NAT rewrote it (src or dst) */
	ZT_SIM_TR_DROP = 3,      /* dropped: why says where and why */
	ZT_SIM_TR_DELIVER = 4,   /* handed to the destination node */
	ZT_SIM_TR_NAT_MAP = 5,   /* mapping created */
	ZT_SIM_TR_NAT_EXPIRE = 6,/* mapping expired */
};

struct zt_sim_trace {
	enum zt_sim_trace_kind kind;
	uint64_t pkt_id;
	int node;                     /* where it happened */
	struct zt_addr src, dst;      /* the packet's addresses at that point */
	struct zt_addr xsrc, xdst;    /* XLATE: after translation; NAT_*: inside / public */
	const uint8_t *buf;           /* the payload (SEND, DELIVER) */
	size_t len;
	const char *why;              /* DROP: "loss", "filtered", "no-route", ... */
};

typedef void zt_sim_trace_fn(void *ctx, uint64_t now, const struct zt_sim_trace *t);

struct zt_sim_net {
	struct zt_sim_evq *evq;
	struct zt_prng prng;          /* link loss/jitter and NAT port choices */
	struct zt_sim_node nodes[ZT_SIM_NET_MAX_NODES];
	unsigned nnodes;
	struct zt_sim_block blocks[ZT_SIM_NET_MAX_BLOCKS];
	unsigned nblocks;
	zt_sim_trace_fn *trace;
	void *trace_ctx;
	uint64_t next_id;
	uint64_t in_flight;           /* packets scheduled, not yet delivered or dropped */
	uint64_t sent, delivered, dropped;
};

/* An empty network on evq, its randomness seeded with seed. */
void zt_sim_net_init(struct zt_sim_net *net, struct zt_sim_evq *evq, uint64_t seed);
/* Frees NAT tables; packets still queued in evq belong to it (drain evq first with
 * zt_sim_net_drop_event). */
void zt_sim_net_fini(struct zt_sim_net *net);
/* For zt_sim_evq_drain(): frees the packet of a pending network event. */
void zt_sim_net_drop_event(void *ctx, void *arg);

/*
 * Adds a node; up is the NAT in front (an index returned before) or -1. addr is its
 * (first) address on that segment. For a NAT, cfg is its behaviour (NULL otherwise).
 * Returns the node index, or -ENOSPC (too many nodes), -EINVAL (up is not a NAT).
 */
int zt_sim_net_add(struct zt_sim_net *net, const char *name, enum zt_sim_node_kind kind,
		   int up, const struct zt_addr *addr, const struct zt_sim_nat_cfg *cfg);
/* Adds another address to a server. Returns 0, -ENOSPC or -EINVAL. */
int zt_sim_net_add_addr(struct zt_sim_net *net, int node, const struct zt_addr *addr);
/* Index of the node named name, or -1. */
int zt_sim_net_find(const struct zt_sim_net *net, const char *name);

/* Where a host or server's packets go. */
void zt_sim_net_set_rx(struct zt_sim_net *net, int node, zt_sim_rx_fn *fn, void *ctx);

/* Adds a wan-side block on a NAT. Returns 0, -ENOSPC or -EINVAL. */
int zt_sim_net_block(struct zt_sim_net *net, const struct zt_sim_block *b);

/*
 * Node `node` sends len bytes from its address src to dst at the evq's current time.
 * Returns 0 (scheduled, or dropped on the first hop: see the trace), -EMSGSIZE (len
 * over ZT_SIM_PKT_MAX), -ENOMEM.
 */
int zt_sim_net_send(struct zt_sim_net *net, int node, const struct zt_addr *src,
		    const struct zt_addr *dst, const uint8_t *buf, size_t len);

/* The address node i has on the public segment (its outermost NAT's wan address). */
struct zt_addr zt_sim_net_public_ip(const struct zt_sim_net *net, int node);

#endif
