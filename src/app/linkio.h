/*
 * The sockets of the TCP direct path's links (node/tcplink.h through node/peer.h's
 * zt_peer_link_*; docs/tcp-transport.md): run from the outer TCP client's after-hook
 * (app/outertcp.h), so that every turn of the node carries out the links' requests
 * and moves their bytes.
 *
 * CONNECT: a non-blocking socket with SO_REUSEADDR and SO_REUSEPORT (the outer TCP
 * socket has them: the link leaves from its port, so that the NAT gives it the mapping
 * the Intermediate saw), TCP_NODELAY, bound to the request's local address, connect()
 * to the remote one; its outcome is reported (connected, or failed with the error).
 * Bytes read go to the peer (it takes them all); its output is written while the
 * socket takes it. CLOSE, an end of the peer's or a failure: the socket is closed.
 */
#ifndef ZT_APP_LINKIO_H
#define ZT_APP_LINKIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "app/nodeio.h"
#include "io/loop.h"
#include "node/peer.h"

/* Sockets at most (a request beyond: reported failed, -EMFILE). */
#define ZT_LINKIO_MAX 64

struct zt_linkio;

struct zt_linkio_sock {
	struct zt_linkio *l;
	uint32_t id;                 /* the link's; 0: a free slot */
	int fd;
	struct zt_watch watch;
	bool connecting, want_out;
};

struct zt_linkio_stats {
	uint64_t connects, connected, failed, closed, bytes_in, bytes_out;
};

struct zt_linkio {
	struct zt_loop *loop;
	struct zt_nodeio *io;
	struct zt_peer *peer;
	struct zt_linkio_sock socks[ZT_LINKIO_MAX];
	struct zt_linkio_stats st;
};

void zt_linkio_init(struct zt_linkio *l, struct zt_loop *loop, struct zt_nodeio *io,
		    struct zt_peer *peer);
/* The node's turn ended: requests, output, events. */
void zt_linkio_after(struct zt_linkio *l, uint64_t now);
/* Closes every socket (the peer is told nothing). */
void zt_linkio_close(struct zt_linkio *l);

/* SO_REUSEADDR and SO_REUSEPORT on fd (the outer TCP socket, before it binds). */
void zt_linkio_reuse(int fd);

#endif
