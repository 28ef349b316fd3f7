/*
 * TCP forwarding between a TCP socket and a peer channel (node/peer.h), for both
 * programs: the agent's accepted connections and the connector's connections to its
 * targets.
 *
 * Bytes move only as fast as the slower side takes them, with one bounded buffer per
 * connection: the socket is read only while the channel has room (its send buffer
 * and the tunnel's flow control), and the channel is read only once what was read
 * before has been written to the socket. End of stream and resets map both ways:
 * TCP EOF -> FIN (zt_peer_chan_shutdown), FIN -> shutdown(SHUT_WR); a TCP reset or
 * error -> stream reset, a stream reset -> TCP reset (SO_LINGER 0). The connection is
 * closed and the channel released once both directions have ended.
 */
#ifndef ZT_APP_FWD_TCP_H
#define ZT_APP_FWD_TCP_H

#include "app/fwdctx.h"
#include "core/addr.h"

#define ZT_TCPFWD_BUF (64 * 1024)

struct zt_tcpconn;

/* Agent: fd was accepted for service; opens the channel. Returns 0 or -errno (fd is
 * closed on failure). */
int zt_tcpfwd_accepted(struct zt_fwdctx *ctx, int fd, const char *service);

/* Connector: the agent opened ch for a service whose target is *target: connects
 * (non-blocking) and forwards once connected. Returns 0 or -errno (ch is released with
 * ZT_FWD_REFUSED on failure). */
int zt_tcpfwd_connect(struct zt_fwdctx *ctx, struct zt_peer_chan *ch, const struct zt_addr *target);

/* A peer chan_event for a channel whose argument is a struct zt_tcpconn. */
void zt_tcpfwd_chan_event(struct zt_fwdctx *ctx, struct zt_tcpconn *c, enum zt_peer_chan_event ev,
			  int code);

/*
 * Tunnel data for a socket that arrives inside the node's turn (while the program
 * hands it a batch of datagrams: ctx->io->in_node) waits for the end of the turn and
 * goes out in one write: one send() per batch of packets instead of one per packet
 * (a tenth of the system calls in a bulk download, issue 16). The driver calls this
 * at the start of its flush (struct zt_nodeio's before hook, arg: the context).
 */
void zt_tcpfwd_flush_due(void *ctx, uint64_t now);

/* Closes every connection (at exit). */
void zt_tcpfwd_close_all(struct zt_fwdctx *ctx);

#endif
