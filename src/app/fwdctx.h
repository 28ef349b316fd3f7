/*
 * What the forwarding shells of ztna-agent and ztna-connector share: the loop, the
 * node driver and the peer, a scratch buffer, counters, and a graveyard. Objects that
 * own an epoll watch are not freed inside a loop iteration that may still deliver an
 * event for them (io/loop.h); they are buried and freed by a timer due at once.
 */
#ifndef ZT_APP_FWDCTX_H
#define ZT_APP_FWDCTX_H

#include <stddef.h>
#include <stdint.h>

#include "app/nodeio.h"
#include "io/loop.h"
#include "node/peer.h"

struct zt_fwd_grave {
	struct zt_fwd_grave *next;
	void (*free)(struct zt_fwd_grave *g);
};

struct zt_fwdctx_stats {
	uint64_t tcp_accepted, tcp_connected, tcp_refused, tcp_closed, tcp_reset, tcp_failed;
	uint64_t tcp_bytes_out, tcp_bytes_in;   /* to / from the tunnel */
	uint64_t tcp_writes;    /* send() calls that wrote tunnel bytes to a socket */
	uint64_t udp_flows, udp_in, udp_out, udp_dropped;
	uint64_t tcp_limited;   /* connector: no socket for a channel (file descriptors);
				   agent: channels the connector reset with ZT_FWD_LIMIT */
	uint64_t udp_limited;   /* connector: no socket for a flow (file descriptors) */
	size_t tcp_now, udp_now;
};

/* A log line about a limit at most every ZT_FWDCTX_BURST_EVERY, with the count of the
 * ones not logged since. */
#define ZT_FWDCTX_BURST_EVERY (10ULL * 1000000000ULL)
struct zt_fwdctx_burst {
	uint64_t at;            /* the last line (0: none yet) */
	uint64_t unlogged;
};

struct zt_tcpconn;
struct zt_udpflow;

#define ZT_FWDCTX_RX_BATCH 16
#define ZT_FWDCTX_RX_BUF 2048

struct zt_fwdctx {
	struct zt_loop *loop;
	struct zt_nodeio *io;
	struct zt_peer *peer;
	struct zt_timer reaper;
	struct zt_fwd_grave *graveyard;
	struct zt_fwdctx_stats st;
	struct zt_fwdctx_burst tcp_limit_log, udp_limit_log;
	struct zt_tcpconn *tcp;        /* live TCP connections */
	struct zt_tcpconn *tcp_due;    /* ones with tunnel data for their socket (fwd_tcp.h) */
	struct zt_udpflow *udp;        /* live UDP flows */
	uint8_t scratch[65536];
	/* UDP forwards' receive batches: a datagram longer than a flow carries
	 * (ZT_PEER_UDP_MAX) is dropped whole, so ZT_FWDCTX_RX_BUF is enough */
	uint8_t rxbuf[ZT_FWDCTX_RX_BATCH][ZT_FWDCTX_RX_BUF];
};

void zt_fwdctx_init(struct zt_fwdctx *ctx, struct zt_loop *loop, struct zt_nodeio *io);
/* Queues g for freeing once this loop iteration is over. */
void zt_fwdctx_bury(struct zt_fwdctx *ctx, struct zt_fwd_grave *g);
/* Whether a line may be logged now (one per ZT_FWDCTX_BURST_EVERY); *ret_unlogged:
 * how many were not since the last one (counted when it returns false). */
bool zt_fwdctx_burst(struct zt_fwdctx_burst *b, uint64_t now, uint64_t *ret_unlogged);

/* Connector: a channel (udp false) or flow got no socket (err: socket()'s -errno, out
 * of file descriptors): counted in st, a warning at most every 10 s. */
void zt_fwdctx_no_socket(struct zt_fwdctx *ctx, bool udp, int err);

/* Frees the graveyard now (at exit). Accepts a zeroed struct (never initialised). */
void zt_fwdctx_fini(struct zt_fwdctx *ctx);

#endif
