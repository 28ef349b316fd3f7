/*
 * The Intermediate's signaling and relay role, as a stand-in until the src/node
 * Intermediate core runs in the simulator: real control messages (core/ctrl) on a
 * reliable ordered channel per client (sim/chan, standing in for the outer QUIC
 * stream), relayed end-to-end datagrams (standing in for outer DATAGRAM frames).
 *
 *   HELLO      -> WELCOME with the observed (server-reflexive) address, and a PING
 *   PONG       -> the client's RTT
 *   OPEN       -> SESSION to the agent (controlling) and the connector (controlled);
 *                 held until the connector has said HELLO
 *   CANDIDATES -> forwarded to the peer; once both sides' candidates of a generation
 *                 are through: START_CHECKS to both, start_offset chosen so both
 *                 start at one moment: (max RTT - own RTT) / 2 + margin after receipt
 *   PING       -> PONG
 *   datagram   -> the same bytes to the other client of the session
 * Clients are known by the address they send from (no connection IDs: a NAT rebinding
 * looks like a new client to this stand-in).
 */
#ifndef ZT_SIM_RELAY_H
#define ZT_SIM_RELAY_H

#include <stdbool.h>
#include <stdint.h>

#include "chan.h"
#include "core/addr.h"
#include "endpoint.h"

#define ZT_SIM_RELAY_CLIENTS 4

struct zt_sim_relay_client {
	bool used;
	struct zt_addr addr;
	struct zt_sim_chan chan;
	uint8_t role;                 /* enum zt_ctrl_role */
	uint64_t rtt;                 /* from PING/PONG; 0: unknown */
	uint32_t cands_gen;           /* last generation whose candidates it sent, +1 */
	uint64_t dgram_in, dgram_out;
};

struct zt_sim_relay {
	struct zt_addr addr;          /* where it listens */
	struct zt_sim_relay_client clients[ZT_SIM_RELAY_CLIENTS];
	uint64_t session_id;
	struct zt_sim_relay_client *pending_open; /* an OPEN before the connector came */
	uint64_t pending_request;
	uint32_t started_gen;         /* generations started so far, +1 */
	uint64_t margin;              /* added to every start offset; default 10 ms */
	/* a datagram waiting: relayed packets go out in order of arrival */
	struct { struct zt_addr to; size_t len; uint8_t buf[ZT_SIM_CHAN_MSG_MAX + 8]; } out[64];
	unsigned out_head, out_n;
	uint64_t relayed, relay_dropped;
};

extern const struct zt_sim_endpoint_ops zt_sim_relay_ops;

void zt_sim_relay_init(struct zt_sim_relay *r, const struct zt_addr *addr);

#endif
