/*
 * The packet tunnel of an agent or connector (docs/tunnel.md, "Packet tunnel"): IP
 * packets between the shell's TUN device and the sessions, one packet per DATAGRAM of
 * the session's end-to-end connection (node/fwd.h, ZT_FWD_IP_FLOW), on whatever path
 * that connection uses.
 *
 * Agent: the Intermediate gives it tunnel addresses (WELCOME) and the routes it may
 * use (ROUTES, cb->tun_routes: the shell routes their prefixes into its TUN device).
 * A packet from the device must come from its tunnel address and go to one of those
 * routes with a rule that allows it (a courtesy: the connector checks again); it goes
 * on the session of the route's service, opened when there is none (queued while it
 * comes up). A packet from the tunnel must be for its tunnel address, from the
 * session's routes.
 *
 * Connector: its routes (cfg.routes) go to the Intermediate with its services. An
 * agent's packet must pass the per-packet check (core/tunfilter.h) with the agent's
 * tunnel addresses (the Intermediate's SESSION) and the routes of the session's
 * service: the connector is the authority. A packet from its device (a reply) goes to
 * the agent whose tunnel address it is for, on that agent's session whose route holds
 * the packet's source.
 *
 * The agent answers a packet its check refuses (no route, no rule) with ICMP
 * "administratively prohibited" (RFC 1812, RFC 4443), so the application fails at
 * once. Both: a packet over ZT_PEER_TUN_MTU is answered with ICMP "fragmentation needed" /
 * ICMPv6 "packet too big" naming it (RFC 1191, RFC 8201) through cb->tun_packet; a TCP
 * SYN's MSS is lowered to fit the MTU (RFC 6691). Drops are counted by reason
 * (zt_peer_stats tun_dropped; per agent at the connector).
 */
#ifndef ZT_NODE_TUNNEL_H
#define ZT_NODE_TUNNEL_H

#include <stddef.h>
#include <stdint.h>

#include "node/peerdefs.h"

/*
 * One IP packet read from the TUN device (pkt may be changed: MSS clamping). Returns 0
 * (sent, or queued while the session comes up), or why it was dropped (counted):
 * ZT_EMALFORMED, -EMSGSIZE (over the MTU: answered), ZT_EPOLICY (not the tunnel
 * address, no route, no rule), -EAGAIN (queue or send buffer full), -EPIPE (no
 * session for it), a refusal's code (agent), -EINVAL (no tunnel yet). Call poll_send after.
 */
int zt_peer_tun_send(struct zt_peer *p, uint64_t now, uint8_t *pkt, size_t len);

/* Agent: the routes it may use now (the last ROUTES), up to cap. Returns how many. */
size_t zt_peer_tun_routes(const struct zt_peer *p, struct zt_route *out, size_t cap);

/* Connector: the pools of the agents' tunnel addresses (WELCOME; family 0: none),
 * which its shell routes into the device. */
void zt_peer_tun_pools(const struct zt_peer *p, struct zt_addr *ret4, uint8_t *ret_plen4,
		       struct zt_addr *ret6, uint8_t *ret_plen6);

#endif
