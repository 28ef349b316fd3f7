/*
 * What the end-to-end (inner) connection carries for port forwarding.
 *
 * TCP: one bidirectional stream per forwarded TCP connection, opened by the agent.
 * The stream starts with a header naming what to reach, then the connection's bytes
 * both ways; FIN is TCP's half-close, RESET_STREAM / STOP_SENDING are its reset.
 *
 *     stream header = version (u8, 1) | protocol (u8, 6 = TCP) | name length (u8, 1..255)
 *                   | service name (that many bytes, no NUL)
 *
 * The connector checks the name against the session's service (the agent may only
 * reach what the Intermediate authorized) and resets the stream otherwise.
 *
 * UDP: each forwarded datagram is one DATAGRAM frame of the inner connection,
 *
 *     DATAGRAM payload = flow id (u32, big-endian, nonzero) | the UDP payload
 *
 * The agent picks a flow id per local UDP peer (address and port); the connector
 * keeps one target socket per flow. A flow that carries nothing for the idle timeout
 * is forgotten at both ends.
 *
 * Stream error codes (RESET_STREAM / STOP_SENDING application codes) are enum
 * zt_fwd_code.
 */
#ifndef ZT_NODE_FWD_H
#define ZT_NODE_FWD_H

#include <stddef.h>
#include <stdint.h>

#define ZT_FWD_VERSION 1
#define ZT_FWD_PROTO_TCP 6
#define ZT_FWD_NAME_MAX 255
#define ZT_FWD_HDR_MAX (3 + ZT_FWD_NAME_MAX)
#define ZT_FWD_FLOW_HDR_LEN 4

/*
 * Flow id 0 is the in-band echo behind `ztna ping`: it travels on whatever path the
 * inner connection uses, so its round trip measures that path.
 *
 *     DATAGRAM payload = 0 (u32) | type (u8: 1 request, 2 reply) | nonce (u64)
 *                      | the agent's send time (u64, echoed unchanged)
 *
 * The connector answers a request with the same bytes and type 2.
 */
#define ZT_FWD_ECHO_FLOW 0
#define ZT_FWD_ECHO_LEN (4 + 1 + 8 + 8)
#define ZT_FWD_ECHO_REQUEST 1
#define ZT_FWD_ECHO_REPLY 2

/*
 * Flow id 0xffffffff carries the packet tunnel (node/tunnel.h): one IP packet
 * (IPv4 or IPv6, whole, no fragmenting) per DATAGRAM,
 *
 *     DATAGRAM payload = 0xffffffff (u32) | the IP packet
 *
 * on the session of the routed service the packet belongs to. An agent never picks
 * it for a UDP flow.
 */
#define ZT_FWD_IP_FLOW 0xffffffffu

enum zt_fwd_code {
	ZT_FWD_ABORT = 1,        /* the forwarding program gave up on the connection */
	ZT_FWD_TCP_RESET = 2,    /* the TCP connection at the other end was reset */
	ZT_FWD_REFUSED = 3,      /* the connector could not connect to the target */
	ZT_FWD_BAD_HEADER = 4,   /* the stream header was malformed or names another service */
	ZT_FWD_SESSION_GONE = 5, /* the session ended (not sent on the wire) */
	ZT_FWD_LIMIT = 6,        /* the connector refused it: a limit of the agent (its
				    sockets or flows, its share of the file descriptors) or
				    of the connector was reached (docs/security.md) */
};

/* "abort", "tcp-reset", ... or "?" */
const char *zt_fwd_code_name(uint64_t code);

struct zt_fwd_hdr {
	uint8_t proto;                     /* ZT_FWD_PROTO_TCP */
	char name[ZT_FWD_NAME_MAX + 1];    /* NUL-terminated */
};

/* Encodes a header. Returns its length, -EINVAL (empty or over-long name, or a
 * protocol other than TCP), -ENOBUFS. */
int zt_fwd_hdr_write(uint8_t *buf, size_t cap, const struct zt_fwd_hdr *h);

/*
 * How many of the len bytes at the start of a stream the header still needs, so a
 * reader can take exactly the header and no application byte: returns the header's
 * total length once it is known (len >= 3), else 3.
 */
size_t zt_fwd_hdr_want(const uint8_t *buf, size_t len);

/*
 * Decodes a complete header at the start of buf. Returns its length, ZT_ETRUNC (not
 * all there yet), ZT_EMALFORMED (version, protocol or zero length), ZT_ESYNTAX (a NUL
 * byte in the name).
 */
int zt_fwd_hdr_read(const uint8_t *buf, size_t len, struct zt_fwd_hdr *ret);

/* Writes the flow header. Returns ZT_FWD_FLOW_HDR_LEN, -EINVAL (flow 0), -ENOBUFS. */
int zt_fwd_flow_write(uint8_t *buf, size_t cap, uint32_t flow);

/* Reads the flow header. Returns ZT_FWD_FLOW_HDR_LEN, ZT_ETRUNC, ZT_EMALFORMED (flow 0). */
int zt_fwd_flow_read(const uint8_t *buf, size_t len, uint32_t *ret_flow);

#endif
