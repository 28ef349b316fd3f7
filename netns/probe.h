/*
 * A tiny UDP probe protocol for checking the lab by hand and from test scripts:
 * `ztna-lab udp-echo` answers each request with the source address it saw (the
 * prober's mapping on the public side), optionally from another of its sockets
 * (another address or port, for filtering checks); `ztna-lab udp-probe` sends
 * requests and reports replies, mappings, round-trip times and loss.
 *
 * Message (big-endian), ZT_PROBE_HDR_LEN bytes, then zero padding:
 *   0  "ZTPB"
 *   4  type: 1 request, 2 response
 *   5  flags: bit 0 = the address field is set
 *   6  reserved (0)
 *   8  sequence number
 *  12  sender's timestamp (ns), echoed back
 *  20  IPv4 address, 24 port: in a request, the echo socket to answer from;
 *      in a response, the request's source as the echo saw it
 *  26  reserved (0)
 */
#ifndef ZT_NETNS_PROBE_H
#define ZT_NETNS_PROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ZT_PROBE_HDR_LEN 32
#define ZT_PROBE_MAX_LEN 65507

enum zt_probe_type {
	ZT_PROBE_REQUEST = 1,
	ZT_PROBE_RESPONSE = 2,
};

struct zt_probe_msg {
	enum zt_probe_type type;
	uint32_t seq;
	uint64_t sent_ns;
	bool has_addr;
	uint32_t ip;      /* host byte order */
	uint16_t port;
};

/*
 * Encodes m padded to total bytes (at least ZT_PROBE_HDR_LEN). Returns the length,
 * -ENOBUFS when cap < total, -EINVAL for a bad type or total.
 */
int zt_probe_encode(const struct zt_probe_msg *m, size_t total, uint8_t *buf, size_t cap);

/*
 * Decodes a datagram. Returns 0, ZT_ETRUNC (shorter than the header), or
 * ZT_EMALFORMED (wrong magic, unknown type or flags, reserved bits set).
 */
int zt_probe_decode(struct zt_probe_msg *ret, const uint8_t *buf, size_t len);

/* The subcommands (argv[0] is the subcommand name); return the exit status. */
int zt_probe_echo_main(int argc, char **argv);
int zt_probe_probe_main(int argc, char **argv);

#endif
