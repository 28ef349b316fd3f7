/*
 * The direct path of each session (internal to node/): an ICE generation (core/ice.h)
 * that hole-punches through the one socket, and, on the agent, the path manager
 * (core/pathmgr.h) that migrates the session's inner connection between the relay
 * path and the nominated direct pair. The connector's side answers checks and
 * follows: the inner connection's server moves with the client (ngtcp2).
 *
 *   agent                         Intermediate                    connector
 *   session ready -> START_ICE
 *   gather, CANDIDATES(gen) ---------> forwarded ------------------> new generation,
 *                                                                   CANDIDATES(gen)
 *   remote candidates <------------- forwarded <------------------
 *                         START_CHECKS(offset corrected by each RTT)
 *   zt_ice_start(at) <-------------------+------------------------> zt_ice_start(at)
 *   checks through the socket <======================================> checks
 *   SELECTED -> GO_DIRECT: migrate the inner connection; PATH_REPORT
 *   stalled data / consent lost -> GO_RELAY; retry later (cooldown, backoff)
 *
 * Every function takes the time; nothing here reads a clock or a socket.
 */
#ifndef ZT_NODE_DIRECT_H
#define ZT_NODE_DIRECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/ctrl.h"
#include "quic/conn.h"

struct zt_peer;
struct psession;
struct zt_peer_path_info;

/* The session's inner connection is up: the agent starts its first generation. */
void zt_pdirect_ready(struct psession *s, uint64_t now);
/* The session ends: stop checking (the state is freed with the session). */
void zt_pdirect_stop(struct psession *s);
void zt_pdirect_free(struct psession *s);

/* Signaling for session s. */
void zt_pdirect_candidates(struct psession *s, uint64_t now, const struct zt_ctrl_candidates *c);
void zt_pdirect_start(struct psession *s, uint64_t now, uint64_t at, uint32_t generation);

/* A STUN datagram: handed to the session whose ICE agent it belongs to.
 * Returns 1 when one took it, 0 otherwise. */
int zt_pdirect_stun(struct zt_peer *p, uint64_t now, const struct zt_addr *local,
		    const struct zt_addr *from, const uint8_t *pkt, size_t len);

/* An inner packet of s arrived from `from` outside the relay (the direct path), or
 * was sent on the direct path. */
void zt_pdirect_direct_rx(struct psession *s, uint64_t now, const struct zt_addr *from);
void zt_pdirect_direct_tx(struct psession *s, uint64_t now);

/* The inner connection's path validation ended. */
void zt_pdirect_path(struct psession *s, uint64_t now, const struct zt_quic_path *path, bool ok);

/* The next STUN datagram of any session. Returns its length or 0. */
int zt_pdirect_poll_send(struct zt_peer *p, uint64_t now, uint8_t *buf, size_t cap,
			 struct zt_addr *ret_local, struct zt_addr *ret_remote);

void zt_pdirect_timers(struct psession *s, uint64_t now);
uint64_t zt_pdirect_next_deadline(const struct psession *s);

/* Local addresses changed: agents re-gather after the path manager's debounce. */
void zt_pdirect_netchange(struct zt_peer *p, uint64_t now);

/* Fills the direct-path part of the status. */
void zt_pdirect_info(const struct psession *s, struct zt_peer_path_info *ret);

#endif
