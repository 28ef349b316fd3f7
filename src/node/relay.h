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
 * max_udp_payload, on the relay path and on a direct path that carries it (a smaller
 * one gets what its path-MTU probes found: node/direct.h, zt_direct_payload).
 *
 * The relay channel (docs/relay-channel.md): the same payload in a plain UDP datagram
 * on the outer connection's addresses, behind a marker byte, when both the client and
 * the Intermediate agreed to it at login (HELLO/WELCOME RELAY_CHANNEL):
 *
 *     channel datagram = ZT_RELAY_CHAN_MARKER | session id (u32 BE, nonzero) | inner packet
 *
 * The marker 0x0C is unassigned in RFC 7983 s7 (4..15): not STUN (0..3), NAT-PMP/PCP
 * answers (0, 2), ztna punch (0x0A) or QUIC (0x40..0xFF, fixed bit set).
 */
#ifndef ZT_NODE_RELAY_H
#define ZT_NODE_RELAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/units.h"
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

#define ZT_RELAY_CHAN_MARKER 0x0C
#define ZT_RELAY_CHAN_HDR_LEN (1 + ZT_RELAY_HDR_LEN)
/* The longest channel datagram: marker and an outer DATAGRAM's largest payload. */
#define ZT_RELAY_CHAN_MAX (1 + ZT_QUIC_TUNNEL_MTU)
/* A client sends a relayed packet as an outer DATAGRAM, not channel data, when its
 * outer connection has sent nothing ack-eliciting for this long: the Intermediate
 * then sees its current address at least this often (NAT rebinding). */
#define ZT_RELAY_CHAN_REFRESH ZT_SEC

/* Whether a datagram's first byte says relay channel. */
static inline bool zt_relay_is_chan(const uint8_t *buf, size_t len)
{
	return len > 0 && buf[0] == ZT_RELAY_CHAN_MARKER;
}

/* Writes the channel header (marker and session id, nonzero). Returns
 * ZT_RELAY_CHAN_HDR_LEN, -EINVAL (session 0) or -ENOBUFS. */
int zt_relay_chan_write(uint8_t *buf, size_t cap, uint32_t session);

/*
 * Reads a channel datagram's header. Returns ZT_RELAY_CHAN_HDR_LEN with *ret_session
 * set (the inner packet follows: 1 to ZT_RELAY_TUNNEL_MTU bytes), ZT_EMALFORMED
 * (another marker, session 0), ZT_ETRUNC (no inner packet) or ZT_ETOOBIG (longer
 * than ZT_RELAY_CHAN_MAX).
 */
int zt_relay_chan_read(const uint8_t *buf, size_t len, uint32_t *ret_session);

#endif
