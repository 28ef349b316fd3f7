/*
 * An agent or a connector, sans-IO: the outer connection to the Intermediate, its
 * control channel, sessions, and the end-to-end (inner) QUIC connection of each
 * session, with channels (forwarded TCP connections) and flows (forwarded UDP) on it.
 * Driven like quic/conn.h by the datagrams of the program's one UDP socket:
 *
 *	on a datagram:  zt_peer_recv(p, now, local, from, pkt, len);
 *	on the timer:   zt_peer_on_timeout(p, now);
 *	after either, and after calling any zt_peer_chan_* / zt_peer_flow_* function:
 *	    while ((n = zt_peer_poll_send(p, now, buf, cap, &local, &remote)) > 0)
 *	        send buf[0..n) from local to remote;
 *	    arm the timer at zt_peer_next_deadline(p);
 *
 * Demultiplexing (docs/tunnel.md, RFC 9443 first byte):
 *   0..3             STUN: to the ICE agent of the session it belongs to (node/direct.h);
 *                    counted and dropped when no session takes it.
 *   64..127, 192..255  QUIC: from the Intermediate's address, the outer connection;
 *                    from anywhere else, an inner connection found by destination
 *                    connection ID (the direct path, once ICE migrates a session).
 *   anything else    dropped and counted.
 * Inner packets on the relay path arrive inside the outer connection's DATAGRAM
 * frames (node/relay.h: session id + packet) and are fed to the session's inner
 * connection on the relay path {local: zt_quic_relay_addr(family, ZT_RELAY_PATH_ID),
 * remote: the Intermediate's address}; what an inner connection sends on that path
 * is wrapped the same way, and what it sends on any other path (the direct path)
 * comes out of poll_send as an ordinary datagram.
 *
 * Outer connection: TLS 1.3 (ALPN ztna-outer/1) to the Intermediate, whose
 * certificate must name cfg.intermediate_name; our certificate is our identity.
 * After the handshake, HELLO (role, name, token; a connector's services) on the
 * control stream, then WELCOME with our observed address. When the connection ends
 * (Intermediate restart: it answers with a Stateless Reset; idle timeout; refusal)
 * we reconnect after a jittered exponential backoff (a refused login: a long one,
 * struct zt_peer_refusal) and say HELLO again. Sessions are kept (detached) and
 * re-attached through the new connection (the agent's OPEN with SESSION_ID, the
 * connector's SESSION for the id it kept): on a direct path they go on meanwhile, on
 * the relay path their packets are lost until then and resent by the end-to-end
 * connection, for at most 10 s (then they end and their channels are reset); after a
 * refused login they end at once. Channels still waiting for a session wait on (up to
 * open_timeout) and their OPEN is sent again.
 *
 * Sessions. Agent: the first channel or flow for a service sends OPEN; the
 * Intermediate's SESSION starts the inner connection (QUIC client, ALPN
 * ztna-inner/1, our certificate, the server must prove "svc-SERVICE.ztna" and the
 * identity ztna:service:SERVICE); when its handshake is done the session is ready,
 * waiting channels get their streams. ERROR (policy, no such service, ...) fails the
 * waiting channels with its code, and is remembered: no OPEN for that service until
 * its hold runs out (struct zt_peer_refusal). One session per service is reused by later
 * channels until it ends (CLOSE from the Intermediate, e.g. when the connector
 * restarted; inner idle timeout; relay lost); the next channel then opens a new one.
 * Connector: SESSION announces an agent; its inner connection's first Initial arrives
 * through the relay and is accepted with the service's certificate; the agent's
 * certificate must be the identity SESSION named, else the connection is closed.
 *
 * Channels (TCP): an agent opens one per forwarded TCP connection
 * (zt_peer_chan_open); the connector learns of it through cb->chan_accept once the
 * stream header (node/fwd.h) has arrived. Both sides then write, read, shut down
 * (FIN) and release it; flow control is the backpressure: write takes only what the
 * stream's send buffer has room for (then WRITABLE follows), and data not read stays
 * in the stream and holds the other end back.
 *
 * Flows (UDP): datagrams of one local UDP peer <-> inner DATAGRAM frames with a flow
 * id; forgotten after flow_idle without traffic (cb->flow_closed).
 *
 * Callbacks are called from inside zt_peer_recv/on_timeout/poll_send (and from
 * zt_peer_chan_* calls only where noted). A callback may call zt_peer_chan_* and
 * zt_peer_flow_* functions, but not zt_peer_recv, zt_peer_on_timeout, zt_peer_poll_send
 * or zt_peer_free. In a chan_event callback, release only the channel the event is for.
 *
 * Direct paths: each session runs its own (node/direct.h: ICE, and on the agent the
 * path manager that moves the inner connection); zt_peer_session_path reports it.
 */
#ifndef ZT_NODE_PEER_H
#define ZT_NODE_PEER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "node/outer.h"
#include "node/pathcount.h"
#include "node/peerdefs.h"
#include "node/portmap.h"
#include "node/session.h"
#include "node/tcplink.h"
#include "node/tunnel.h"

/*
 * Creates an agent or connector and starts connecting. cfg is copied; the TLS
 * contexts, services and rng must outlive it. Returns 0, -EINVAL (a required field
 * missing, wrong TLS side, a connector without services), -ENOMEM, ZT_ETLS.
 */
int zt_peer_new(struct zt_peer **ret, const struct zt_peer_config *cfg, uint64_t now);
/* Frees everything (sends nothing, no callbacks). NULL is fine. */
void zt_peer_free(struct zt_peer *p);

/* One datagram from the socket. Returns 0 (taken; maybe dropped and counted) or
 * -EINVAL (an address unset). */
int zt_peer_recv(struct zt_peer *p, uint64_t now, const struct zt_addr *local,
		 const struct zt_addr *from, const uint8_t *pkt, size_t len);

/* The next datagram to send, from *ret_local (may be an unspecified address: let the
 * kernel choose) to *ret_remote. Returns its length, 0 (nothing now), -ENOBUFS (cap
 * below ZT_QUIC_OUTER_UDP_PAYLOAD). */
int zt_peer_poll_send(struct zt_peer *p, uint64_t now, uint8_t *buf, size_t cap,
		      struct zt_addr *ret_local, struct zt_addr *ret_remote);

uint64_t zt_peer_next_deadline(const struct zt_peer *p);
void zt_peer_on_timeout(struct zt_peer *p, uint64_t now);

/*
 * Shutting down: closes the outer connection (application code 0, reason), which
 * makes the Intermediate end our sessions and tell their other ends at once;
 * poll_send then yields the CONNECTION_CLOSE. No reconnection follows.
 */
void zt_peer_close(struct zt_peer *p, const char *reason);

enum zt_peer_state zt_peer_state(const struct zt_peer *p);
void zt_peer_stats(const struct zt_peer *p, struct zt_peer_stats *ret);
/* What its sessions did with direct paths, since the start (node/pathcount.h). */
const struct zt_path_counts *zt_peer_path_counts(const struct zt_peer *p);
/* The outer QUIC connection (NULL while backing off, or over TCP), for statistics. */
struct zt_quic_conn *zt_peer_outer(const struct zt_peer *p);
/* The outer connection's last failure (a transport that failed in the race too, such
 * as a proxy's refusal): its error (0: none yet), "TRANSPORT: REASON" in text and when
 * in *ret_at. */
int zt_peer_last_error(const struct zt_peer *p, char *text, size_t cap, uint64_t *ret_at);
/* The outer connection's transport (cfg.transport) and smoothed RTT (0: none now). */
enum zt_outer_kind zt_peer_outer_kind(const struct zt_peer *p);
uint64_t zt_peer_outer_srtt(const struct zt_peer *p);
/* The Intermediate's UDP address in use: cfg.intermediate, or cfg.intermediate_alt
 * when that family won the race (the one being tried while connecting). */
const struct zt_addr *zt_peer_intermediate(const struct zt_peer *p);

/*
 * The outer connection over TLS/TCP (cfg.transport ZT_PEER_TRANSPORT_TCP,
 * docs/tcp-transport.md). The peer asks for a TCP connection and the shell keeps one:
 *
 *	after every call:  gen = zt_peer_tcp_wanted(p, &remote);
 *	                   a gen other than the socket's: close the socket (if any), and
 *	                   if gen > 0 connect a new one to remote (non-blocking);
 *	                   0: close the socket once its output is written
 *	connected:         zt_peer_tcp_connected(p, now, gen, &local);
 *	bytes in:          n = zt_peer_tcp_recv(p, now, gen, data, len); keep the rest
 *	while connected:   len = zt_peer_tcp_output(p, gen, &data); write data[0..len);
 *	                   zt_peer_tcp_sent(p, now, gen, written);
 *	ended or failed:   zt_peer_tcp_closed(p, now, gen, err, why);
 *
 * A gen that is not the current one is ignored (-ENOENT from recv and output).
 */
uint64_t zt_peer_tcp_wanted(const struct zt_peer *p, struct zt_addr *ret_remote);
void zt_peer_tcp_connected(struct zt_peer *p, uint64_t now, uint64_t gen,
			   const struct zt_addr *local);
int zt_peer_tcp_recv(struct zt_peer *p, uint64_t now, uint64_t gen, const uint8_t *data,
		     size_t len);
int zt_peer_tcp_output(struct zt_peer *p, uint64_t gen, const uint8_t **ret);
void zt_peer_tcp_sent(struct zt_peer *p, uint64_t now, uint64_t gen, size_t n);
/* why: what to report (a proxy's refusal, ...); NULL: from err. */
void zt_peer_tcp_closed(struct zt_peer *p, uint64_t now, uint64_t gen, int err, const char *why);

/*
 * The TCP direct path's links (node/tcplink.h, docs/tcp-transport.md): the shell makes
 * the sockets they ask for and moves their bytes, as node/tcplink.h says, through
 * these (each the zt_tcplinks_ function of the same name, on the peer's links):
 *
 *	after every call:  while (zt_peer_link_poll(p, now, &req)) carry out req
 *	                   (CONNECT: bind req.local with SO_REUSEADDR + SO_REUSEPORT - the
 *	                   outer TCP socket has them too - and connect to req.remote;
 *	                   CLOSE: close that socket)
 *	connect()ed:       zt_peer_link_connected / zt_peer_link_failed
 *	bytes in:          zt_peer_link_recv
 *	to send:           zt_peer_link_output, then zt_peer_link_sent
 *	the socket ended:  zt_peer_link_closed
 */
int zt_peer_link_poll(struct zt_peer *p, uint64_t now, struct zt_tcplink_req *ret);
/* No TCP direct path from now on (cfg.tcp_direct_off; the shell found a proxy). */
void zt_peer_tcp_direct_off(struct zt_peer *p);
void zt_peer_link_connected(struct zt_peer *p, uint64_t now, uint32_t id);
void zt_peer_link_failed(struct zt_peer *p, uint64_t now, uint32_t id, int err);
int zt_peer_link_recv(struct zt_peer *p, uint64_t now, uint32_t id, const uint8_t *data,
		      size_t len);
size_t zt_peer_link_output(struct zt_peer *p, uint32_t id, const uint8_t **ret);
void zt_peer_link_sent(struct zt_peer *p, uint64_t now, uint32_t id, size_t n);
void zt_peer_link_closed(struct zt_peer *p, uint64_t now, uint32_t id, int err);

/*
 * The host addresses for host candidates (RFC 8445 s5.1.1.1); the port of each is
 * replaced by the socket's (cfg.local's). Without any, cfg.local's address is used
 * when it is not a wildcard. Returns 0 or -EINVAL (more than ZT_PEER_MAX_HOSTS).
 */
int zt_peer_set_host_addrs(struct zt_peer *p, const struct zt_addr *ips, size_t n);
/* Local addresses or links changed (netlink): sessions re-gather and check again. */
void zt_peer_netchange(struct zt_peer *p, uint64_t now);

/*
 * Port mapping (cfg.portmap, node/portmap.h, docs/portmap.md): the gateway to ask (the
 * default route's next hop; its port is ignored) and our address towards it (the IP
 * the gateway sees us at and the socket's port). Call at start and whenever either
 * changes; a gateway of family 0 stops the client (its mapping is deleted: one
 * datagram from poll_send). Datagrams from gateway:5351 go to the client whatever
 * their first byte; its requests come out of poll_send. The mapped address is a
 * server-reflexive candidate of the next ICE generations, and a change of it
 * re-gathers as zt_peer_netchange() does. zt_peer_close() deletes the mapping.
 * Returns 0 (also when cfg.portmap is off: nothing happens), -EINVAL (families differ,
 * local a wildcard or without port), -ENOMEM.
 */
int zt_peer_portmap_route(struct zt_peer *p, uint64_t now, const struct zt_addr *gateway,
			  const struct zt_addr *local);
/*
 * A mapping made by the shell (UPnP IGD, whose library blocks: app/upnp.h) at the
 * gateway of the last zt_peer_portmap_route(): `ext` (family 0: lost) with the
 * protocol's name (a string that outlives the peer, e.g. "upnp") and the granted
 * lifetime in seconds. The node treats it like its own client's mapping: a srflx
 * candidate of the next ICE generations, re-gathered on a change, and
 * zt_peer_portmap_info() reports it (state mapped or probing, no counters: the shell
 * keeps those). A mapping given stops the node's own client (auto: PCP and NAT-PMP got
 * nothing); renewal and deletion are the shell's. Returns 0, -ENOENT (port mapping off
 * or no gateway), -EINVAL (another family than the route's).
 */
int zt_peer_portmap_external(struct zt_peer *p, uint64_t now, const char *proto,
			     const struct zt_addr *ext, uint32_t lifetime);
/* The client's state: 0 and *ret, or -ENOENT (off, or no gateway). */
int zt_peer_portmap_info(const struct zt_peer *p, struct zt_portmap_info *ret);

/* Agent: the tunnel addresses the Intermediate gave at the last login (family 0: none;
 * the Intermediate's --tunnel-pool). */
/* What the node knows of its NAT's port allocation: "eim", "sequential", "random" or
 * "unknown" (detected, core/natprobe.h, when nat_detect ran; else the configured
 * nat_ports / nat_mapping). */
const char *zt_peer_nat(const struct zt_peer *p);

/*
 * Spray sockets opened after zt_peer_new (birthday probing; cfg.spray): their local
 * addresses (caller-owned, kept until zt_peer_free), replacing any. With a detected
 * random NAT the node then signals ports random: sessions gathering from now on
 * spray. Returns 0, or -EINVAL (n without spray).
 */
int zt_peer_set_spray(struct zt_peer *p, const struct zt_addr *spray, size_t n);

void zt_peer_tunnel_addrs(const struct zt_peer *p, struct zt_addr *ret4, struct zt_addr *ret6);

#endif
