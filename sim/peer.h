/*
 * An agent or a connector for the model (the simulator's default mode): the node's
 * own direct-path object (node/direct.h: ICE generations, gathering, the signaling
 * rules, the path manager's moves) around stand-in connections, driven through
 * sim/endpoint.h. What is real and what stands in:
 *
 *   real:  zt_direct, and inside it zt_ice (checks, retransmissions, nomination,
 *          peer-reflexive candidates, consent), zt_pathmgr (relay/direct decisions,
 *          stall rule, cooldown), zt_cand (priorities, foundations); zt_ctrl (every
 *          control message is encoded and decoded), zt_stun (inside zt_ice).
 *   stand-in: the outer connection to the Intermediate (sim/chan, reliable datagrams
 *          instead of an ngtcp2 stream) and the inner end-to-end connection: a stream
 *          of numbered datagrams (DATA) with per-packet acknowledgements (ACK) carried
 *          on the current path, relay or direct, with no retransmission, which moves
 *          at once when zt_direct asks. It gives the path manager real in-flight
 *          bytes, RTT and direct-path receptions; its losses show what QUIC would
 *          have to retransmit. (--real runs the node cores whole: sim/real.c.)
 *
 * Only the agent runs a path manager: it is the QUIC client and migrates; the
 * connector follows, answering on the path each packet came from (as ngtcp2's server
 * side does) and answering ICE generations the agent starts.
 *
 * Datagram formats (sim-internal; 0x41/0x42 sit in QUIC's short-header range):
 *   0x41 seq(u64) sent_at(u64) padding   DATA, agent -> connector
 *   0x42 seq(u64) sent_at(u64)           ACK, connector -> agent
 * Through the relay they travel inside a 0xE3 datagram (sim/chan.h).
 */
#ifndef ZT_SIM_PEER_H
#define ZT_SIM_PEER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chan.h"
#include "core/addr.h"
#include "core/ice.h"
#include "core/pathmgr.h"
#include "core/rng.h"
#include "endpoint.h"
#include "node/direct.h"

#define ZT_SIM_PEER_INFLIGHT 256
#define ZT_SIM_PEER_OUTQ 32
#define ZT_SIM_DATA 0x41
#define ZT_SIM_DATA_ACK 0x42

typedef void zt_sim_log_fn(void *ctx, uint64_t now, int level, const char *who,
			   const char *text);

struct zt_sim_peer_cfg {
	bool agent;                 /* agent (controlling, migrates) or connector */
	const char *name;           /* for the log */
	struct zt_addr host;        /* its one UDP socket: host address and port */
	struct zt_addr relay;       /* the Intermediate */
	uint64_t seed;              /* ICE transaction IDs, credentials, tie-breaker */
	uint64_t start_skew;        /* added to every START_CHECKS moment (late CPU/clock) */
	bool shuffle_cands;         /* add the peer's candidates in a random order */
	struct zt_path_config path; /* agent only */
	struct zt_ice_config ice;   /* timing fields only (zero: defaults) */
	uint64_t data_interval;     /* agent: one DATA every this (0: no data) */
	size_t data_len;            /* DATA size; default 200 */
	uint64_t keepalive;         /* PING to the Intermediate; default 10 s */
	bool nat_sequential;        /* --nat-ports sequential (docs/hard-nat.md) */
	bool predict_off;           /* --predict off */
	/* birthday probing (docs/hard-nat.md): the NAT as configured (0: not told),
	 * spray sockets (host:40000 + i), probes and their rate (0: defaults) */
	uint8_t nat_mapping, nat_ports;
	unsigned spray_sockets, probe_count, probe_rate;
	/* a port mapping at the gateway (family 0: none) and who granted it */
	struct zt_addr mapped, gateway;
	zt_sim_log_fn *log;
	void *log_ctx;
};

enum zt_sim_path { ZT_SIM_PATH_NONE = 0, ZT_SIM_PATH_RELAY = 1, ZT_SIM_PATH_DIRECT = 2 };

struct zt_sim_peer_stats {
	uint64_t welcomed_at, session_at;  /* 0: not yet */
	uint64_t first_direct_at;          /* first time the agent went direct */
	uint64_t ice_start_at;             /* first zt_ice_start moment */
	uint32_t generations;
	uint32_t switches;
	uint64_t switch_times[64];         /* the first 64 switches */
	uint64_t data_sent, data_sent_direct, acks_received;
	uint64_t data_received, data_received_direct, data_reordered, data_dup;
	uint64_t first_data_rx, last_data_rx, max_gap;
	uint64_t highest_seq_rx;
	uint64_t stun_dropped;             /* ICE refused a STUN datagram */
};

struct zt_sim_inflight {
	uint64_t seq, sent_at;
	uint32_t len;
	bool live;
};

struct zt_sim_peer {
	struct zt_sim_peer_cfg cfg;
	struct zt_prng prng;
	struct zt_sim_chan chan;
	struct zt_addr observed;
	bool welcomed, in_session;
	uint64_t session_id;
	/* the direct path: the node's own object (node/direct.h) */
	struct zt_direct *d;
	struct zt_rng rng;
	struct zt_direct_addrs addrs;
	struct zt_portpred portpred; /* new mappings counted, as node/peer.c does */
	struct zt_addr *spray;       /* spray_sockets addresses */
	struct zt_check_budget budget;
	struct zt_node_log nlog;
	uint64_t now;               /* of the call in progress, for its log lines */
	/* path */
	enum zt_sim_path path;
	struct zt_quic_path pair;   /* the direct pair, while on it */
	/* data */
	uint64_t next_seq, next_data_at, next_ping_at;
	struct zt_sim_inflight inflight[ZT_SIM_PEER_INFLIGHT];
	uint64_t srtt;
	/* datagrams waiting to go out (data, acks) */
	struct { struct zt_addr local, remote; uint16_t len; uint8_t buf[1500]; } outq[ZT_SIM_PEER_OUTQ];
	unsigned out_head, out_n;
	struct zt_sim_peer_stats st;
	int err;                    /* first error from the core, if any (reported) */
};

extern const struct zt_sim_endpoint_ops zt_sim_peer_ops;

/* Sets the peer up and queues its HELLO. Returns 0 or a negative code. */
int zt_sim_peer_init(struct zt_sim_peer *p, const struct zt_sim_peer_cfg *cfg);
void zt_sim_peer_fini(struct zt_sim_peer *p);

const char *zt_sim_path_name(enum zt_sim_path p);

#endif
