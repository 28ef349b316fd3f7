/*
 * UDP forwarding over peer flows (node/peer.h).
 *
 * Agent: a listening socket per forward; each client address (IP and port) that
 * sends to it gets its own flow; datagrams back from the flow go to that client.
 * Connector: each new flow gets a socket connected to the service's target; what the
 * target sends back goes into the flow. Flows that carry nothing for the peer's
 * flow_idle are forgotten at both ends (flow_closed), and so are their sockets and
 * mappings here.
 */
#ifndef ZT_APP_FWD_UDP_H
#define ZT_APP_FWD_UDP_H

#include "app/fwdctx.h"
#include "core/addr.h"

struct zt_udplisten;
struct zt_udpflow;

/* Agent: listen on *bind for service. Returns 0 or -errno. */
int zt_udpfwd_listen(struct zt_fwdctx *ctx, const struct zt_addr *bind, const char *service,
		     struct zt_udplisten **ret);
void zt_udpfwd_listen_close(struct zt_fwdctx *ctx, struct zt_udplisten *l);

/* Connector: a new flow f whose target is *target. Returns 0 or -errno (f closed). */
int zt_udpfwd_accept(struct zt_fwdctx *ctx, struct zt_peer_flow *f, const struct zt_addr *target);

/* The peer's flow callbacks for flows whose argument is a struct zt_udpflow. */
void zt_udpfwd_datagram(struct zt_fwdctx *ctx, struct zt_udpflow *u, const uint8_t *data, size_t len);
void zt_udpfwd_closed(struct zt_fwdctx *ctx, struct zt_udpflow *u);

/* Closes every flow (at exit). */
void zt_udpfwd_close_all(struct zt_fwdctx *ctx);

#endif
