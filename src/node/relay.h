/*
 * The relay header: what an agent or connector puts in front of an inner QUIC packet
 * it sends through the Intermediate in an outer DATAGRAM frame.
 *
 *     outer DATAGRAM payload = session id (u32, big-endian, nonzero) | inner packet
 *
 * The Intermediate reads only the session id: it forwards the payload unchanged to
 * the other end of that session, if the sender is one end of it and the session's
 * quota allows. The inner packet is ciphertext of the end-to-end connection, whose
 * keys the Intermediate never has. Session id 0 is reserved (never a session).
 *
 * Sizes: an outer DATAGRAM carries ZT_QUIC_TUNNEL_MTU (1411) bytes, so inner packets
 * are at most ZT_RELAY_TUNNEL_MTU = 1407 bytes: the inner connection's
 * max_udp_payload, on the relay path and (unchanged) on the direct path.
 */
#ifndef ZT_NODE_RELAY_H
#define ZT_NODE_RELAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "quic/conn.h"

#define ZT_RELAY_HDR_LEN 4
#define ZT_RELAY_TUNNEL_MTU (ZT_QUIC_TUNNEL_MTU - ZT_RELAY_HDR_LEN)

/* The relay path's virtual local address id (zt_quic_relay_addr); the TCP direct
 * path's (node/tcplink.h: inner packets on a TCP link to the peer) is another on the
 * same virtual IP, its remote the peer's TCP address. */
#define ZT_RELAY_PATH_ID 1
#define ZT_TCP_PATH_ID 2

/* Whether an inner connection's local address is the relay path's, the TCP direct
 * path's (either: not a UDP direct path). */
bool zt_relay_is_relay_path(const struct zt_addr *local);
bool zt_relay_is_tcp_path(const struct zt_addr *local);

/* Writes the header for session (nonzero). Returns ZT_RELAY_HDR_LEN, -EINVAL
 * (session 0) or -ENOBUFS. */
int zt_relay_hdr_write(uint8_t *buf, size_t cap, uint32_t session);

/*
 * Reads the header of a relayed payload. Returns ZT_RELAY_HDR_LEN with *ret_session
 * set, ZT_ETRUNC (shorter than the header, or nothing after it) or ZT_EMALFORMED
 * (session 0).
 */
int zt_relay_hdr_read(const uint8_t *buf, size_t len, uint32_t *ret_session);

#endif
