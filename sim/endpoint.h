/*
 * What the simulator needs from a program running on a simulated host: the sans-IO
 * shape of the core (STYLE.md), nothing else. Datagrams in through recv, out through
 * poll_send (until it returns 0), timers through next_deadline / on_timeout. Every
 * call gets the virtual time; the endpoint never reads a clock or a socket.
 *
 * Today sim/peer (agent and connector stand-ins around the real zt_ice, zt_pathmgr
 * and zt_ctrl) and sim/relay (the Intermediate stand-in) implement it. The src/node
 * cores (Intermediate, agent, connector with their ngtcp2 connections) are meant to
 * plug in here with a thin adapter each, replacing the stand-ins.
 */
#ifndef ZT_SIM_ENDPOINT_H
#define ZT_SIM_ENDPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "core/addr.h"

struct zt_sim_endpoint_ops {
	/* A datagram for local (the host's address, as the NAT delivered it) from `from`. */
	void (*recv)(void *ep, uint64_t now, const struct zt_addr *local,
		     const struct zt_addr *from, const uint8_t *buf, size_t len);
	/* The next datagram to send now: its length (0: none), source and destination. */
	size_t (*poll_send)(void *ep, uint64_t now, uint8_t *buf, size_t cap,
			    struct zt_addr *ret_local, struct zt_addr *ret_remote);
	/* When on_timeout next has work (UINT64_MAX: never). */
	uint64_t (*next_deadline)(void *ep);
	void (*on_timeout)(void *ep, uint64_t now);
};

#endif
