/*
 * The direct path of one session: an ICE generation (core/ice.h) that hole-punches
 * through the node's one socket, and, on the agent, the path manager (core/pathmgr.h)
 * that moves the session's inner connection between the relay path and the
 * nominated direct pair. The connector's side answers checks and follows: the inner
 * connection's server moves with the client (ngtcp2).
 *
 *   agent                         Intermediate                    connector
 *   session ready -> START_ICE
 *   gather, CANDIDATES(gen) ---------> forwarded ------------------> new generation,
 *                                                                   CANDIDATES(gen)
 *   remote candidates <------------- forwarded <------------------
 *                         START_CHECKS(offset corrected by each RTT)
 *   zt_ice_start(at) <-------------------+------------------------> zt_ice_start(at)
 *   checks through the socket <======================================> checks
 *   SELECTED -> GO_DIRECT: move the inner connection; PATH_REPORT
 *   stalled data / consent lost / peer did not follow -> GO_RELAY; retry later
 *
 * A self-contained object, sans-IO like the cores it drives: what it needs is given at
 * creation (zt_direct_config) and by calls (signaling, STUN datagrams, the inner
 * connection's state), what it decides is polled: control messages to send
 * (zt_direct_poll_ctrl), moves of the inner connection (zt_direct_poll_move, whose
 * outcome the caller reports with zt_direct_moved), STUN datagrams
 * (zt_direct_poll_send). It knows no session, peer or connection object; the node's
 * sessions (node/session.c) own one each and carry out what it asks. Every function
 * takes the time; nothing here reads a clock or a socket.
 */
#ifndef ZT_NODE_DIRECT_H
#define ZT_NODE_DIRECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/addr.h"
#include "core/checkbudget.h"
#include "core/ctrl.h"
#include "core/pathmgr.h"
#include "core/portpred.h"
#include "core/birthday.h"
#include "core/rng.h"
#include "node/nodelog.h"
#include "node/pathcount.h"
#include "node/relay.h"
#include "quic/conn.h"

#define ZT_DIRECT_MAX_HOSTS 8

/*
 * Packet sizes on the direct path (docs/direct-path.md, "Packet size"): the inner
 * connection's UDP payload on a direct pair is what ICE's path-MTU probes confirmed
 * there (core/ice.h, Path MTU), never less than the base every path of its family
 * carries (RFC 8899 s5.1.2 BASE_PLPMTU: IPv6's minimum MTU of 1280, RFC 8200 s5, less
 * the IPv6 and UDP headers; for IPv4 the same 1280 less 20 + 8) and never more than the
 * relay's (ZT_RELAY_TUNNEL_MTU: the size everything above is made for). Probed: the
 * relay's size, and 1352 (a 1400-byte IPv6 link, e.g. a VPN; 1372 over IPv4).
 */
#define ZT_DIRECT_BASE_V6 (1280 - 40 - 8)
#define ZT_DIRECT_BASE_V4 (1280 - 20 - 8)
#define ZT_DIRECT_FULL ZT_RELAY_TUNNEL_MTU
#define ZT_DIRECT_PROBE_MID (1400 - 40 - 8)

/* The node's addresses, kept current by the caller (read at each gathering). */
struct zt_direct_addrs {
	struct zt_addr hosts[ZT_DIRECT_MAX_HOSTS]; /* host candidates' addresses */
	size_t nhosts;
	struct zt_addr observed;     /* server-reflexive: what the Intermediate sees */
	/* A port mapping at the gateway (node/portmap.h, docs/portmap.md; family 0: none):
	 * a server-reflexive candidate ahead of the observed one. mapped_base: our
	 * address towards the gateway (its base); gateway: who granted it (foundation). */
	struct zt_addr mapped, mapped_base, gateway;
	struct zt_addr local;        /* the socket (its port for host candidates) */
	struct zt_addr intermediate; /* relay candidate; the trusted STUN source */
	/* The TCP direct path's candidates (family 0: none): the outer TLS/TCP
	 * connection's local address and what the Intermediate sees it at. */
	struct zt_addr tcp_local, tcp_observed;
	/* The node's NAT allocates ports sequentially: its count of new mappings
	 * (core/portpred.h), read at each gathering for predicted candidates; NULL: it
	 * does not, or is not known to. */
	const struct zt_portpred *portpred;
	/* The node's NAT as configured (enum zt_ctrl_nat_mapping / _ports, 0 unknown),
	 * signalled in CANDIDATES for birthday probing (docs/hard-nat.md). */
	uint8_t nat_mapping, nat_ports;
	/* Sockets the shell opened for spraying (birthday probing; caller-owned, their
	 * local addresses), or none: the node cannot spray. */
	const struct zt_addr *spray;
	size_t nspray;
};

/* The peer's TCP candidates a generation keeps, at most. */
#define ZT_DIRECT_MAX_TCP 4

struct zt_direct_config {
	bool agent;                         /* controlling: runs the path manager */
	uint32_t session_id;                /* in CANDIDATES, PATH_REPORT, log lines */
	const char *service;                /* in log lines (kept by the caller) */
	const struct zt_rng *rng;
	const struct zt_path_config *path;  /* the path manager's settings */
	unsigned max_remote;                /* remote candidates per generation */
	struct zt_check_budget *budget;     /* the node's, shared by its sessions */
	bool no_predict;                    /* port prediction off: no predicted candidates
					       of ours, the peer's ignored (docs/hard-nat.md) */
	bool no_probe;                      /* birthday probing off (docs/hard-nat.md) */
	unsigned probe_count;               /* probes a generation sends; 0: ZT_BIRTHDAY_COUNT */
	uint32_t probe_rate;                /* probes a second; 0: ZT_BIRTHDAY_RATE */
	const struct zt_direct_addrs *addrs;
	const struct zt_node_log *log;
	struct zt_path_counts *counts;      /* the node's, summed over its sessions; NULL:
					       none (node/pathcount.h) */
};

/* The inner connection as the caller sees it now. */
struct zt_direct_conn {
	bool exists;                 /* there is one */
	bool up;                     /* its handshake is done: it may move */
	struct zt_quic_path path;    /* its current path */
	uint64_t srtt, bytes_in_flight;
	uint32_t pto_count, nudges_unanswered;
	bool dgrams;                 /* it carries DATAGRAMs of any size (UDP flows, the
					packet tunnel): see zt_direct_payload */
};

struct zt_direct;

/* Returns 0 or -ENOMEM. */
int zt_direct_new(struct zt_direct **ret, const struct zt_direct_config *cfg, uint64_t now);
void zt_direct_free(struct zt_direct *d);

/* The inner connection's state; call before any other call that may act on it. */
void zt_direct_conn_state(struct zt_direct *d, const struct zt_direct_conn *c);

/* Agent: the session is paired (ICE may run beside the end-to-end handshake), or its
 * connection is up since (a move that waited may go). */
void zt_direct_ready(struct zt_direct *d, uint64_t now);
/* The session ends: stop checking. */
void zt_direct_stop(struct zt_direct *d);

/* Signaling from the peer. */
void zt_direct_candidates(struct zt_direct *d, uint64_t now, const struct zt_ctrl_candidates *c);
/* The current generation's remote TCP candidates (srflx first), up to cap. Returns how
 * many there are. */
size_t zt_direct_tcp_remote(const struct zt_direct *d, struct zt_addr *out, size_t cap);
/* START_CHECKS: returns 0, -ESRCH (not the current generation), or zt_ice_start()'s
 * error. */
int zt_direct_start(struct zt_direct *d, uint64_t now, uint64_t at, uint32_t generation);

/* Whether a STUN datagram belongs to this ICE generation. */
bool zt_direct_owns(const struct zt_direct *d, const uint8_t *pkt, size_t len);
/* A STUN datagram: taken (returns 1) if it belongs to this ICE generation, else 0;
 * negative: it did, and ICE refused it (zt_ice_recv()'s error). */
int zt_direct_stun(struct zt_direct *d, uint64_t now, const struct zt_addr *local,
		   const struct zt_addr *from, const uint8_t *pkt, size_t len);

/* An inner packet arrived from `from` outside the relay, or was sent on the direct
 * path. */
void zt_direct_rx(struct zt_direct *d, uint64_t now, const struct zt_addr *from);
void zt_direct_tx(struct zt_direct *d, uint64_t now);

/* The inner connection's validation of path ended. */
void zt_direct_path_result(struct zt_direct *d, uint64_t now, const struct zt_quic_path *path,
			   bool ok);

/* Local addresses changed: the agent re-gathers after the path manager's debounce. */
void zt_direct_netchange(struct zt_direct *d, uint64_t now);

/*
 * The largest UDP payload the inner connection may send on `path`, a UDP path other
 * than the relay's (whose size is ZT_DIRECT_FULL): the size ICE's probes confirmed
 * for it (the latest result for that pair, kept across generations), at least the
 * family's base. While its probes run, or for a path never probed: the base, or
 * ZT_DIRECT_FULL for a connection that carries DATAGRAMs (dgrams; what the relay
 * carries must fit: optimistic until the probes say otherwise). On the agent, a
 * connection with DATAGRAMs on a direct path found smaller than ZT_DIRECT_FULL goes
 * back to the relay (path_decision reason=path-mtu) and retries after the cooldown.
 */
size_t zt_direct_payload(const struct zt_direct *d, const struct zt_quic_path *path, bool dgrams);

/* Whether the inner connection's path is the direct one. */
bool zt_direct_on_direct(const struct zt_direct *d);

void zt_direct_on_timeout(struct zt_direct *d, uint64_t now);
uint64_t zt_direct_next_deadline(const struct zt_direct *d);

/* The next control message to send (CANDIDATES, PATH_REPORT). Returns 1 or 0. */
int zt_direct_poll_ctrl(struct zt_direct *d, struct zt_ctrl_msg *ret);

/* A move of the inner connection the agent decided: to the direct pair `to`, or to
 * the relay (the caller knows its path). Returns 1 or 0; report the outcome. */
struct zt_direct_move {
	enum zt_path_kind kind;
	struct zt_quic_path to;      /* ZT_PATH_KIND_DIRECT */
	const char *reason;
};
int zt_direct_poll_move(struct zt_direct *d, uint64_t now, struct zt_direct_move *ret);
/* Its outcome: rc from zt_quic_conn_migrate (0, -EAGAIN: asked again a little later,
 * others: refused), or ZT_DIRECT_ALREADY when the connection was on `to` already. */
#define ZT_DIRECT_ALREADY 1
void zt_direct_moved(struct zt_direct *d, uint64_t now, int rc, const struct zt_quic_path *to);

/* The next STUN datagram to send. Returns its length or 0. */
int zt_direct_poll_send(struct zt_direct *d, uint64_t now, uint8_t *buf, size_t cap,
			struct zt_addr *ret_local, struct zt_addr *ret_remote);

struct zt_direct_info {
	uint32_t generation;         /* ICE generation (0: none yet) */
	const char *ice_state;       /* zt_ice_state_name(), or "none" */
	const char *manager;         /* agent: zt_pathmgr_state_name(); connector: "follows" */
	const char *last_reason;
	uint32_t switches;
	uint64_t time_to_direct;
	uint64_t checks_sent, retransmits; /* the current generation's ICE checks */
	uint64_t responses;                /* ... answers to them */
	size_t pairs;                      /* ... its candidate pairs */
};
void zt_direct_info(const struct zt_direct *d, struct zt_direct_info *ret);

#endif
