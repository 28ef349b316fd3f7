/*
 * The TCP sockets of the outer connection over TLS/TCP (docs/tcp-transport.md): the
 * shell around node/peer.h's and node/imd.h's zt_*_tcp_* functions, on the program's
 * event loop, run from app/nodeio.h's after-hook so that every turn of the node moves
 * its TCP bytes too.
 *
 * Client (agent, connector): keeps the one TCP connection zt_peer_tcp_wanted() asks
 * for: connects (non-blocking, TCP_NODELAY), through an HTTP proxy when one is set
 * (core/httpproxy.h: CONNECT to the Intermediate's TCP address first; a refusal is
 * reported with the proxy's status line), reads into the peer, writes its output,
 * closes when the peer wants another connection or none. Without a proxy its socket
 * binds with SO_REUSEADDR + SO_REUSEPORT first, so that the TCP direct path's links
 * (app/linkio.h, run from the same hook) can leave from its port.
 *
 * Server (Intermediate): a listening socket; each accepted connection is handed to
 * zt_imd_tcp_accept (refused: closed at once), read into the Intermediate, written
 * from it, closed when it says so. Input the Intermediate did not take waits in a
 * buffer of the connection (allocated only then) and the socket is not read until it
 * is taken.
 */
#ifndef ZT_APP_OUTERTCP_H
#define ZT_APP_OUTERTCP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "app/linkio.h"
#include "app/nodeio.h"
#include "core/addr.h"
#include "core/hmap.h"
#include "core/httpproxy.h"
#include "io/listener.h"
#include "io/loop.h"
#include "node/imd.h"
#include "node/peer.h"

struct zt_otcp_stats {
	uint64_t connects, connected, failed, closed;  /* client: attempts, ...; server: accepted, refused */
	uint64_t bytes_in, bytes_out;
};

struct zt_otcp_client {
	struct zt_loop *loop;
	struct zt_nodeio *io;
	struct zt_peer *peer;
	int fd;                     /* -1: none */
	struct zt_watch watch;
	uint64_t gen;               /* the peer's connection this socket is */
	bool connecting, want_out;
	uint8_t *in;                /* input the peer did not take yet */
	size_t in_len;
	struct zt_otcp_stats st;
	int last_err;               /* the last connection's failure (-errno), 0: none */
	/* An HTTP proxy (zt_otcp_client_proxy): connect there, CONNECT to the target. */
	bool use_proxy, proxy_wait;
	struct zt_httpproxy_url proxy;
	struct zt_addr proxy_addr, target;
	struct zt_httpproxy_reader prd;
	char why[400];              /* the last failure, in words */
	struct zt_linkio links;     /* the TCP direct path's sockets (app/linkio.h) */
};

/* Hooks c into io (its after-hook) for peer. */
void zt_otcp_client_init(struct zt_otcp_client *c, struct zt_loop *loop, struct zt_nodeio *io,
			 struct zt_peer *peer);
/* Every connection goes through the HTTP proxy u at addr (u->host resolved). */
void zt_otcp_client_proxy(struct zt_otcp_client *c, const struct zt_httpproxy_url *u,
			  const struct zt_addr *addr);
void zt_otcp_client_close(struct zt_otcp_client *c);

struct otcp_conn;

struct zt_otcp_server {
	struct zt_loop *loop;
	struct zt_nodeio *io;
	struct zt_imd *imd;
	int fd;                      /* the listening socket (lst's), -1: none */
	struct zt_listener lst;
	struct zt_addr local;        /* the bound address (port filled in) */
	bool accept_logged;
	uint64_t accept_log_at;
	struct zt_hmap conns;        /* by the Intermediate's id */
	size_t nconns;
	struct otcp_conn *stalled;   /* connections with input not taken */
	struct zt_otcp_stats st;
};

/* Listens on at and hooks s into io for imd. Returns 0 or -errno. */
int zt_otcp_server_open(struct zt_otcp_server *s, struct zt_loop *loop, struct zt_nodeio *io,
			struct zt_imd *imd, const struct zt_addr *at);
/* Closes the listener and every connection (the Intermediate is told). Accepts a
 * zeroed struct. */
void zt_otcp_server_close(struct zt_otcp_server *s);

#endif
