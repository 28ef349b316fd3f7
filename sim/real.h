/*
 * One simulated session with the real programs' cores: zt_imd (the Intermediate) on
 * the relay server and zt_peer (agent and connector) on the private hosts, with their
 * real ngtcp2 + GnuTLS outer and inner connections, the real control protocol, ICE
 * and path manager, driven through sim/endpoint.h on the virtual clock over the
 * scenario's modelled NATs and links. The TLS identities come from a dev PKI made
 * once per process in memory (src/quic/pki.h).
 *
 * The agent opens one channel to the service at 1 s and writes a known byte pattern
 * into it (50 kB/s, until 15 s before the end, so that all of it can arrive); the
 * connector reads it and checks every byte and its order. A channel that fails before
 * it is READY (the session did not come up: a refusal, a handshake timeout) is opened
 * again a second later, as an application connecting again would. The agent's path
 * and the stream's progress are sampled every 10 ms.
 *
 * Determinism: the network, NATs, the cores' timers and their random numbers (one
 * seeded generator per node) follow the seed; GnuTLS draws its own key shares and
 * nonces, so the bytes on the wire differ from run to run while their sizes and the
 * timing, hence the outcome, do not (a replay of a case gives the same path and
 * switches; see docs/simulator.md).
 */
#ifndef ZT_SIM_REAL_H
#define ZT_SIM_REAL_H

#include <stdbool.h>
#include <stdint.h>

#include "session.h"

struct zt_sim_real_outcome {
	struct zt_sim_outcome o;     /* the fields the model's checks use */
	uint64_t stream_sent;        /* pattern bytes the agent wrote */
	uint64_t stream_received;    /* ... the connector read, in order */
	uint64_t max_stall;          /* the longest time with bytes sent and not yet
					received during which none arrived (ns) */
	uint64_t max_stall_end;      /* when it ended (or the run did) */
	uint64_t first_ready_at;     /* the agent's channel first READY; 0: never */
	unsigned chan_opens;         /* channels the agent's application opened */
	unsigned open_failures;      /* ... that failed before READY (each is opened
					again a second later) */
	bool stream_corrupt;         /* a byte differed from the pattern */
	bool stream_reset;           /* a channel that was READY was reset or failed */
	uint64_t relay_pkts;         /* relayed by the Intermediate */
};

/* Runs the scenario once with the real cores. Returns 0 with *ret filled, or a
 * negative code (scenario check, -ENOMEM, ZT_ETLS from the PKI or a TLS context). */
int zt_sim_real_run(const struct zt_sim_session_cfg *cfg, struct zt_sim_real_outcome *ret);

#endif
