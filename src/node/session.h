/*
 * Sessions of an agent or connector, with their channels (TCP) and flows (UDP): the
 * part of the node's interface (node/peer.h) that session.c implements.
 */
#ifndef ZT_NODE_SESSION_H
#define ZT_NODE_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "node/peerdefs.h"

/* Channels. */

/*
 * Agent: a channel to service (a new stream on its session; OPEN first if there is
 * no session yet). Events follow: READY, or FAILED. Returns 0, -EINVAL (not an agent,
 * or a bad service name), -ENOMEM, or the code of a refusal in force for the service
 * or the login (struct zt_peer_refusal: ZT_EPOLICY, ZT_EAUTH, ...; no OPEN is sent).
 */
int zt_peer_chan_open(struct zt_peer *p, uint64_t now, const char *service, void *carg,
		      struct zt_peer_chan **ret);
void zt_peer_chan_set_arg(struct zt_peer_chan *ch, void *carg);

/* Writes up to len bytes. Returns the count taken (0 before READY or when the send
 * buffer is full: WRITABLE follows), -EPIPE (shut down, reset, or the session is
 * gone). */
int zt_peer_chan_write(struct zt_peer_chan *ch, const void *data, size_t len);
/* Room in the send buffer now (0 before READY; at the connector also within the
 * agent's bytes in flight, whose count it updates). When it is 0 after READY, a
 * WRITABLE event follows once there is room. */
size_t zt_peer_chan_writable(struct zt_peer_chan *ch);

/*
 * Reads received bytes. Returns the count (> 0; *ret_fin true when they end the
 * stream), 0 with *ret_fin at the end, -EAGAIN (nothing yet), -ECONNRESET (reset by
 * the other end), -EPIPE (the session is gone).
 */
int zt_peer_chan_read(struct zt_peer_chan *ch, void *buf, size_t cap, bool *ret_fin);

/*
 * The shell wrote n more of the bytes it read from ch to its socket. At the connector
 * they stop counting as the agent's bytes in flight (cfg.agent_max_bytes: while they
 * are at the limit, zt_peer_chan_read returns -EAGAIN and zt_peer_chan_writable 0, and
 * READABLE / WRITABLE follow when there is room again). Elsewhere a no-op.
 */
void zt_peer_chan_consumed(struct zt_peer_chan *ch, size_t n);

/* FIN after the data written so far (TCP half-close). Returns 0 or -EPIPE. */
int zt_peer_chan_shutdown(struct zt_peer_chan *ch);

/*
 * The application is done with ch: no more events. If the stream did not finish
 * normally both ways (FIN sent and FIN read), it is reset with code (0:
 * ZT_FWD_ABORT; ZT_FWD_TCP_RESET for a TCP reset, ZT_FWD_REFUSED when the connector
 * could not connect). ch is invalid after.
 */
void zt_peer_chan_release(struct zt_peer_chan *ch, uint64_t code);

/* Flows. */

/* Agent: a UDP flow to service. Returns 0, -EINVAL, -ENOMEM, or a refusal's code
 * (as zt_peer_chan_open). */
int zt_peer_flow_open(struct zt_peer *p, uint64_t now, const char *service, void *farg,
		      struct zt_peer_flow **ret);
void zt_peer_flow_set_arg(struct zt_peer_flow *f, void *farg);

/*
 * Sends one datagram on the flow. Returns 0 (sent or, before the session is ready,
 * queued), -EMSGSIZE (over ZT_PEER_UDP_MAX), -EAGAIN (queue full: dropped and
 * counted), -EPIPE (the flow's session is gone).
 */
int zt_peer_flow_send(struct zt_peer_flow *f, uint64_t now, const void *data, size_t len);

/* Forget a flow now (no flow_closed). */
void zt_peer_flow_close(struct zt_peer_flow *f);

/*
 * Agent: one in-band echo (node/fwd.h, flow 0) to service's connector, answered
 * through cb->pong. Opens the session if there is none. Returns 0 (sent), -EAGAIN
 * (the session is not ready yet: try again), -EINVAL (bad service name), -ENOMEM, or
 * a refusal's code (as zt_peer_chan_open).
 */
int zt_peer_ping(struct zt_peer *p, uint64_t now, const char *service, uint64_t nonce);

/*
 * Agent: the refusal remembered for service, or for the login when service is NULL
 * (struct zt_peer_refusal; it may have run out: retry_at <= now). Returns 0 or -ENOENT.
 */
int zt_peer_refusal(const struct zt_peer *p, const char *service, struct zt_peer_refusal *ret);
/* Agent: the refusals remembered for services, up to cap. Returns how many there are. */
size_t zt_peer_refusals(const struct zt_peer *p, struct zt_peer_refusal *out, size_t cap);

/* Fills *ret for session id. Returns 0 or -ENOENT. */
int zt_peer_session_path(const struct zt_peer *p, uint32_t id, struct zt_peer_path_info *ret);
/* The ids of the live sessions, up to cap. Returns how many there are. */
size_t zt_peer_session_ids(const struct zt_peer *p, uint32_t *ids, size_t cap);

/* Connector: the agents with sessions, up to cap. Returns how many there are. */
size_t zt_peer_agents(const struct zt_peer *p, struct zt_peer_agent_info *out, size_t cap);

/* A session by id. Returns 0 or -ENOENT. */
int zt_peer_session_info(const struct zt_peer *p, uint32_t id, struct zt_peer_session_info *ret);

/* The relay path of inner connections {virtual local, Intermediate}. */
void zt_peer_relay_path(const struct zt_peer *p, struct zt_quic_path *ret);

#endif
