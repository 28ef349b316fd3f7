/*
 * STUN Binding responder (RFC 8489) with NAT behaviour discovery (RFC 5780), sans-IO.
 *
 * The server owns up to four local endpoints, two IP addresses A1, A2 times two
 * ports P1, P2, numbered ip * 2 + port:
 *
 *     0 = A1:P1 (primary)   1 = A1:P2   2 = A2:P1   3 = A2:P2 (the "alternate")
 *
 * The I/O shell opens one UDP socket per endpoint (zt_stun_server_endpoint()), hands
 * every datagram to zt_stun_server_handle() with the index of the socket it arrived
 * on and its source, and sends the returned bytes back to that source from the socket
 * the function names (RFC 5780 s6.1 Table 1: CHANGE-REQUEST moves it).
 *
 * Success responses carry XOR-MAPPED-ADDRESS and MAPPED-ADDRESS (RFC 5780 s6.1 asks
 * for both), RESPONSE-ORIGIN, OTHER-ADDRESS (with an alternate address only), and
 * FINGERPRINT when the request had one. No SOFTWARE, no PADDING.
 *
 * One-address mode (no alternate): a single endpoint; no OTHER-ADDRESS; any request
 * with CHANGE-REQUEST gets 420 listing CHANGE-REQUEST (RFC 5780 s6, "MUST respond with
 * a 420 (Unknown Attribute) to any Request with a CHANGE-REQUEST attribute").
 *
 * What gets an answer:
 *   - a well-formed Binding request: success response;
 *   - unknown comprehension-required attributes (including PADDING and RESPONSE-PORT,
 *     which are not implemented): 420 with UNKNOWN-ATTRIBUTES;
 *   - a Binding request with a valid header whose attributes are malformed (bad
 *     lengths, families, values, more than ZT_STUN_MAX_ATTRS): 400 Bad Request.
 * Everything else is dropped silently: non-STUN datagrams, bad cookie or length,
 * indications and responses, methods other than Binding, and a FINGERPRINT that does
 * not match (RFC 8489 s7.3: then it is not STUN). MESSAGE-INTEGRITY is ignored: this
 * usage runs without credentials.
 *
 * Amplification bound: every response is at most ZT_STUN_SERVER_MAX_RESPONSE (124)
 * bytes and at most ZT_STUN_SERVER_MAX_GROWTH (96) bytes longer than its request.
 * The worst case is the smallest IPv6 request (20 bytes, or 28 with FINGERPRINT)
 * answered with four 24-byte address attributes; an IPv4 answer is at most 76 bytes.
 * 420 and 400 answers are never more than 32 and 20 bytes longer than the request.
 */
#ifndef ZT_CORE_STUN_SERVER_H
#define ZT_CORE_STUN_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "core/addr.h"

#define ZT_STUN_SERVER_MAX_EP 4
#define ZT_STUN_SERVER_MAX_RESPONSE 124
#define ZT_STUN_SERVER_MAX_GROWTH 96

struct zt_stun_server {
	struct zt_addr ep[ZT_STUN_SERVER_MAX_EP];
	unsigned n_ep; /* 1 (one-address mode) or 4 */
};

/*
 * primary is A1:P1. alternate is A2:P2, or NULL (or family 0) for one-address mode.
 * Returns 0, or -EINVAL: a family other than AF_INET/AF_INET6, a zero port, the two
 * of different families, the same IP, or the same port.
 */
int zt_stun_server_init(struct zt_stun_server *s, const struct zt_addr *primary,
			const struct zt_addr *alternate);

/* 1 or 4. */
unsigned zt_stun_server_endpoints(const struct zt_stun_server *s);

/* The address of endpoint idx (what to bind), or NULL when idx is out of range. */
const struct zt_addr *zt_stun_server_endpoint(const struct zt_stun_server *s, unsigned idx);

/*
 * Handle one datagram that arrived on endpoint local from address from.
 * Returns the length (> 0) of the response written to out, to be sent to from out of
 * endpoint *ret_send; or a negative code and nothing to send:
 *   ZT_E*     the datagram is dropped, the code says why (decode errors as
 *             zt_stun_decode_header()/zt_stun_decode(); ZT_ESTATE for a STUN
 *             message that is not a Binding request)
 *   -EINVAL   local out of range or from unset (caller bug)
 *   -ENOBUFS  cap too small (ZT_STUN_SERVER_MAX_RESPONSE always suffices)
 */
int zt_stun_server_handle(const struct zt_stun_server *s, unsigned local,
			  const struct zt_addr *from, const uint8_t *req, size_t len,
			  uint8_t *out, size_t cap, unsigned *ret_send);

#endif
