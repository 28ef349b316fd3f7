/*
 * Drives one sans-IO node (an Intermediate, an agent or a connector) from the event
 * loop with one UDP socket: datagrams in, the node's datagrams out, its timer armed
 * from its next deadline. With nothing due the timer is disarmed and the program
 * sleeps in epoll.
 *
 * Datagrams waiting on the socket are read ZT_NODEIO_RX_BATCH per system call
 * (recvmmsg), up to 64 per wake-up, all given to the node before it is asked for what
 * to send: one flush answers a burst. Datagrams the node gives in a row for the same
 * address pair and of equal size are sent with one system call (UDP GSO) where the
 * kernel allows it.
 *
 * The program calls zt_nodeio_kick() after it called into the node on its own (a TCP
 * connection accepted, data read): kick sends what the node has and re-arms the
 * timer. Inside the node's own callbacks (which run during recv, timeout and sending)
 * kick only takes note; the driver flushes when the node returns.
 */
#ifndef ZT_APP_NODEIO_H
#define ZT_APP_NODEIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/addr.h"
#include "io/loop.h"
#include "io/udp.h"

struct zt_nodeio_ops {
	int (*recv)(void *node, uint64_t now, const struct zt_addr *local, const struct zt_addr *from,
		    const uint8_t *pkt, size_t len);
	int (*poll_send)(void *node, uint64_t now, uint8_t *buf, size_t cap, struct zt_addr *local,
			 struct zt_addr *remote);
	uint64_t (*next_deadline)(const void *node);
	void (*on_timeout)(void *node, uint64_t now);
};

/* The ops for node/imd.h and node/peer.h. */
extern const struct zt_nodeio_ops zt_nodeio_imd_ops;
extern const struct zt_nodeio_ops zt_nodeio_peer_ops;

struct zt_nodeio_stats {
	uint64_t rx, tx, rx_bytes, tx_bytes;
	uint64_t rx_errors, tx_errors, tx_blocked, rx_truncated;
	uint64_t rx_batches;       /* system calls that brought datagrams (recvmmsg) */
};

/* Datagrams one receive call takes at most, and the largest one taken (a longer one
 * is dropped and counted in rx_truncated: ours are at most 1452 bytes). */
#define ZT_NODEIO_RX_BATCH 16
#define ZT_NODEIO_RX_MAX 2048

struct zt_nodeio {
	struct zt_loop *loop;
	struct zt_udp udp;
	struct zt_watch watch;
	struct zt_timer timer;
	const struct zt_nodeio_ops *ops;
	void *node;
	/* Optional: called each time the node's datagrams have been taken, inside the
	 * node's turn (kick only takes note): the outer TCP connection's shell
	 * (app/outertcp.h) moves its bytes then. */
	void (*after)(void *arg, uint64_t now);
	void *after_arg;
	/* Optional: called at the start of each flush, inside the node's turn (also while
	 * the socket is full), before the node is asked for its datagrams: the TCP
	 * forwards write what the node delivered during the turn in one go
	 * (zt_tcpfwd_flush_due), and the flow-control credit of their reads goes out in
	 * this flush. */
	void (*before)(void *arg, uint64_t now);
	void *before_arg;
	/* Optional: other sockets the node may send from (app/sprayio.h): returns true
	 * when the datagram from local was one of theirs (sent or dropped there). */
	bool (*send_other)(void *arg, const struct zt_addr *local, const struct zt_addr *remote,
			   const uint8_t *buf, size_t len);
	void *other_arg;
	bool in_node;              /* inside a call into the node */
	bool blocked;              /* the socket's send buffer is full: the batch waits */
	bool no_gso;               /* the kernel refused UDP GSO: one datagram per call */
	/* Datagrams to send, gathered while polling the node: consecutive ones to the
	 * same address pair, all of the first one's size (the last may be shorter), go
	 * out in one system call (UDP GSO). */
	struct zt_addr b_local, b_remote;
	size_t b_len, b_seg, b_count;
	/* The datagram that could not join a batch while the socket was full. */
	struct zt_addr spill_local, spill_remote;
	size_t spill_len;
	struct zt_nodeio_stats st;
	uint8_t batch[ZT_UDP_SEGMENTS_MAX_BYTES];
	uint8_t spill[2048];
	uint8_t buf[65536];
	uint8_t rxbuf[ZT_NODEIO_RX_BATCH][ZT_NODEIO_RX_MAX];
};

/* Opens the socket bound to *bind. Returns 0 or -errno. io->udp.local is the bound
 * address (port filled in). */
int zt_nodeio_open(struct zt_nodeio *io, struct zt_loop *loop, const struct zt_addr *bind);

/* As zt_nodeio_open, the socket opened with zt_udp_open_shared (SO_REUSEPORT). */
int zt_nodeio_open_shared(struct zt_nodeio *io, struct zt_loop *loop, const struct zt_addr *bind);

/* A datagram another socket of ours received, into the node as if this one had
 * (counted in rx); the caller kicks once it fed what it had. */
void zt_nodeio_feed(struct zt_nodeio *io, uint64_t now, const struct zt_addr *local,
		    const struct zt_addr *from, const uint8_t *pkt, size_t len);

/* Starts driving node with ops (the node exists now). Returns 0 or -errno. */
int zt_nodeio_start(struct zt_nodeio *io, const struct zt_nodeio_ops *ops, void *node);

/* Sends what the node has and re-arms its timer (a note only while inside the node). */
void zt_nodeio_kick(struct zt_nodeio *io);

/* Stops watching and closes the socket (the node is the caller's). Accepts a zeroed
 * struct (never opened), one whose open failed, and one closed already. */
void zt_nodeio_close(struct zt_nodeio *io);

#endif
