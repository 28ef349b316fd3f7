/*
 * Extra UDP sockets of a node beside its main one: the sockets birthday probing sprays
 * from (docs/hard-nat.md), or the Intermediate's STUN port. For a node
 * driven by app/nodeio: n sockets bound like the main one (its address, port 0),
 * each watched for datagrams, which go to the node with the socket's address as the
 * local one (ICE answers a probe that found its mapping from that socket, and the
 * pair it nominates uses it); datagrams the node sends from one of these addresses
 * (matched by port, whatever IP the node names) go out on that socket. The node core
 * gets their addresses (zt_peer_config.spray) and decides when to use them.
 *
 * Costs n file descriptors for the program's life (opened at start when the node's
 * NAT is configured as endpoint-dependent with random ports, --spray-sockets).
 */
#ifndef ZT_APP_SPRAYIO_H
#define ZT_APP_SPRAYIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "app/nodeio.h"
#include "core/addr.h"
#include "io/loop.h"
#include "io/udp.h"

struct zt_sprayio_sock {
	struct zt_udp udp;
	struct zt_watch watch;
	struct zt_sprayio *s;
};

struct zt_sprayio {
	struct zt_nodeio *io;         /* the node's driver (its ops, node, kick) */
	struct zt_sprayio_sock *socks;
	struct zt_addr *locals;       /* their addresses, for the node */
	size_t n;
	uint64_t rx, tx, tx_errors;
};

/*
 * Opens n sockets bound to *bind's address (port 0) and watches them on io's loop.
 * The node must exist before a datagram arrives (zt_nodeio_start). Returns 0 or -errno
 * (nothing left open).
 */
int zt_sprayio_open(struct zt_sprayio *s, struct zt_nodeio *io, const struct zt_addr *bind, size_t n);

/*
 * One socket bound to *at as it is (its port kept), watched and sent on the same way:
 * the Intermediate's STUN port (ztna-intermediate --stun-port). Returns 0 or -errno.
 */
int zt_sprayio_open_at(struct zt_sprayio *s, struct zt_nodeio *io, const struct zt_addr *at);

/* Closes them all. Accepts a zeroed struct. */
void zt_sprayio_close(struct zt_sprayio *s);

/* nodeio's send_other hook: sends buf on the socket whose port is local's. Returns
 * true when it was one of ours (sent, or dropped on an error), false otherwise. */
bool zt_sprayio_send(void *arg, const struct zt_addr *local, const struct zt_addr *remote,
		     const uint8_t *buf, size_t len);

#endif
