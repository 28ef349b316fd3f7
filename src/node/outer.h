/*
 * The outer connection between a client (agent, connector) and the Intermediate,
 * whichever transport carries it (docs/tcp-transport.md): QUIC on UDP (quic/conn.h,
 * the control channel on one bidirectional stream, relay payloads in DATAGRAM frames)
 * or TLS over TCP (node/tcpouter.h: the same in records). The owner (node/peer.c,
 * node/imd.c) sends and receives control messages and relay payloads, watches the
 * state, closes, and drives the transport underneath: datagrams through
 * zt_outer_quic(), bytes through zt_outer_tcp().
 *
 * The client opens the control stream when the handshake is done (QUIC) and then
 * calls ready; the server takes the first stream the client opens as the control
 * stream and resets any other. Over TCP the control channel is there from the start.
 */
#ifndef ZT_NODE_OUTER_H
#define ZT_NODE_OUTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "node/ctrlchan.h"
#include "node/tcpouter.h"
#include "quic/conn.h"

enum zt_outer_kind {
	ZT_OUTER_UDP = 1, /* QUIC */
	ZT_OUTER_TCP = 2, /* TLS over TCP */
};

struct zt_outer;

struct zt_outer_callbacks {
	/* the handshake is done (a client's control stream is open) */
	void (*ready)(struct zt_outer *o, void *arg);
	void (*ctrl_readable)(struct zt_outer *o, void *arg);
	void (*ctrl_writable)(struct zt_outer *o, void *arg);
	void (*datagram)(struct zt_outer *o, void *arg, const uint8_t *data, size_t len);
	/* QUIC only: the client's address changed (quic/conn.h path_validated) */
	void (*path_validated)(struct zt_outer *o, void *arg, const struct zt_quic_path *path,
			       bool ok);
};

/* A client over QUIC: qc as zt_quic_conn_connect takes it (its cb is ours). */
int zt_outer_connect_quic(struct zt_outer **ret, const struct zt_quic_config *qc,
			  const char *server_name, const struct zt_quic_path *path,
			  const struct zt_outer_callbacks *cb, void *arg, uint64_t now);
/* A server connection from a client's first Initial (zt_quic_conn_accept_retried). */
int zt_outer_accept_quic(struct zt_outer **ret, const struct zt_quic_config *qc,
			 const struct zt_quic_path *path, const uint8_t *pkt, size_t len,
			 const struct zt_quic_retried *retried, const struct zt_outer_callbacks *cb,
			 void *arg, uint64_t now);
/* Over TCP, either side (tc->tls's side; its cb and arg are ours); path: the TCP
 * connection's local and remote address. */
int zt_outer_new_tcp(struct zt_outer **ret, const struct zt_tcpouter_config *tc,
		     const struct zt_quic_path *path, const struct zt_outer_callbacks *cb, void *arg,
		     uint64_t now);
void zt_outer_free(struct zt_outer *o);

enum zt_outer_kind zt_outer_kind(const struct zt_outer *o);
const char *zt_outer_kind_name(enum zt_outer_kind k);
void *zt_outer_arg(const struct zt_outer *o);
/* The transport underneath (NULL when it is the other kind). */
struct zt_quic_conn *zt_outer_quic(const struct zt_outer *o);
struct zt_tcpouter *zt_outer_tcp(const struct zt_outer *o);

/* The control channel (node/ctrlchan.h: send, next, flush, backlog, overflowed). */
struct zt_ctrlchan *zt_outer_ctrl(struct zt_outer *o);
/* Control bytes queued towards the peer and not known to have arrived (QUIC: in the
 * stream's send buffer of sndbuf bytes, not acknowledged; TCP: not written to the
 * socket) plus the channel's backlog. */
size_t zt_outer_ctrl_queued(const struct zt_outer *o, size_t sndbuf);

/* One relay payload. Returns 0 or a negative error (queue full: dropped). */
int zt_outer_dgram_send(struct zt_outer *o, const void *data, size_t len);
/* Payloads waiting to be sent (TCP: bytes waiting / 1200). */
size_t zt_outer_dgram_queued(const struct zt_outer *o);

enum zt_quic_state zt_outer_state(const struct zt_outer *o);
void zt_outer_close_info(const struct zt_outer *o, struct zt_quic_close_info *ret);
/* Close with an application code and reason (quic/conn.h zt_quic_conn_close). */
void zt_outer_close(struct zt_outer *o, uint64_t now, uint64_t code, const char *reason);
uint64_t zt_outer_next_deadline(const struct zt_outer *o);
void zt_outer_on_timeout(struct zt_outer *o, uint64_t now);
uint64_t zt_outer_srtt(const struct zt_outer *o);
void zt_outer_path(const struct zt_outer *o, struct zt_quic_path *ret);
struct zt_tls_session *zt_outer_tls(struct zt_outer *o);

#endif
