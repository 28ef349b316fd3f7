/*
 * The packet tunnel's shell for ztna-agent and ztna-connector (node/tunnel.h): the TUN
 * device (io/tun.h) with MTU ZT_PEER_TUN_MTU, its addresses and routes, the
 * connector's forwarding and masquerade (io/tunnat.h), and the packets between the
 * device and the node.
 *
 * Agent: the device gets the tunnel addresses of each login (WELCOME) as /32 and /128,
 * and a route for every prefix the Intermediate's ROUTES allow (the agent's address of
 * that family as preferred source); routes that leave the list are deleted. A route
 * that holds the Intermediate's address (keep_out) is never installed: the outer
 * connection would be sent into the tunnel it carries.
 * Connector: the device routes the agents' pools (the connector's WELCOME), and the
 * masquerade table sends the agents' packets to the network with its own address.
 *
 * Packets: up to ZT_TUNSHELL_BATCH per wake-up are read from the device and given to
 * the node, then the node's datagrams go out together (app/nodeio.h). What the node
 * hands back is written to the device; a write the device refuses is counted.
 * Everything is removed at close; after a SIGKILL the device and its routes are gone
 * with the process, and the next connector start replaces its nftables table.
 */
#ifndef ZT_APP_TUNSHELL_H
#define ZT_APP_TUNSHELL_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "app/nodeio.h"
#include "core/ctrl.h"
#include "core/route.h"
#include "io/loop.h"
#include "node/peer.h"

#define ZT_TUNSHELL_BATCH 64

struct zt_tun;
struct zt_tunnat;

struct zt_tunshell_stats {
	uint64_t rx, tx;              /* packets read from / written to the device */
	uint64_t rx_refused;          /* read, and the node did not take them (node's counters) */
	uint64_t rx_errors, tx_errors;
	uint64_t route_errors;        /* routes or addresses the kernel refused */
	uint64_t routes_skipped;      /* agent: routes not installed (no address of their
					 family; one that holds the Intermediate's address) */
};

struct zt_tunshell {
	struct zt_loop *loop;
	struct zt_nodeio *io;
	struct zt_peer *peer;
	bool agent;
	struct zt_tun *tun;
	struct zt_tunnat *nat;
	struct zt_watch w;
	bool watching;
	struct zt_addr addr4, addr6;                  /* agent: on the device */
	struct zt_route routes[ZT_CTRL_ROUTES_MAX];   /* agent: installed */
	struct zt_route want[ZT_CTRL_ROUTES_MAX];     /* agent: the node's list (scratch) */
	size_t nroutes;
	struct zt_addr keep_out;                      /* the Intermediate's address: never routed
							 into the device (the outer connection
							 would run inside itself) */
	struct zt_addr pool4, pool6;                  /* connector: routed into the device */
	uint8_t plen4, plen6;
	struct zt_tunshell_stats st;
	uint8_t buf[65536];
};

/*
 * Creates the device (ifname NULL or "": the kernel picks ztnaN) and, for a
 * connector, the masquerade table. Returns 0, or -errno with err (errcap bytes) saying
 * what failed (-EPERM: needs root or CAP_NET_ADMIN; -EBUSY: the name is taken).
 */
int zt_tunshell_open(struct zt_tunshell *t, struct zt_loop *loop, struct zt_nodeio *io,
		     bool agent, const char *ifname, char *err, size_t errcap);
/* Starts moving packets to and from peer. Returns 0 or -errno. */
int zt_tunshell_start(struct zt_tunshell *t, struct zt_peer *peer);
/* The node logged in (cb->ready): the agent's addresses, the connector's pools. */
void zt_tunshell_ready(struct zt_tunshell *t);
/* Agent: the routes it may use now (cb->tun_routes). */
void zt_tunshell_routes(struct zt_tunshell *t, const struct zt_route *routes, size_t n);
/* A packet from the node for the device (cb->tun_packet). */
void zt_tunshell_write(struct zt_tunshell *t, const uint8_t *pkt, size_t len);
/* The device's name ("" when there is none). */
const char *zt_tunshell_name(const struct zt_tunshell *t);
/* Removes routes, addresses, the table and the device. A zeroed struct is fine. */
void zt_tunshell_close(struct zt_tunshell *t);

#endif
