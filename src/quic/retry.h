/*
 * Address validation with Retry packets (RFC 9000 s8.1.2, s17.2.5), for a server that
 * keeps no state for a client until it has proved it receives at its address.
 *
 *	Initial without a token:  zt_quic_initial_parse(), then
 *	                          zt_quic_retry_write() -> send the Retry; keep nothing.
 *	Initial with a token:     zt_quic_retry_check() -> 0: the address is validated;
 *	                          accept with zt_quic_conn_accept_retried() and the
 *	                          original DCID the token carried. Otherwise drop the
 *	                          Initial or answer it with zt_quic_write_invalid_token().
 *
 * The token is ours alone (no NEW_TOKEN tokens are issued): a magic byte, a random
 * 12-byte nonce and, sealed with AES-128-GCM under a key derived from the secret given
 * to zt_quic_retry_new(), the time it was issued and the client's original
 * destination connection ID. The client's address (IP and port), the QUIC version and
 * the connection ID the Retry told the client to use are the AEAD's associated data,
 * so a token works only from the address it was sent to, with the Initial that
 * follows that Retry, for `lifetime` after it was issued (s8.1.4: Retry tokens are
 * short-lived), under the same secret. Tokens of another secret (another
 * Intermediate, or one from before a restart with a random secret) do not verify.
 *
 * Sans-IO: time (`now`, ns of the caller's monotonic clock: tokens are checked by the
 * clock that issued them) and randomness (the nonce, the Retry's connection ID) come
 * from the caller. Nothing here keeps state per client.
 */
#ifndef ZT_QUIC_RETRY_H
#define ZT_QUIC_RETRY_H

#include <stddef.h>
#include <stdint.h>

#include "core/addr.h"
#include "core/rng.h"
#include "quic/cidmap.h"

/* The longest token zt_quic_retry_write() issues. */
#define ZT_QUIC_RETRY_TOKEN_MAX (1 + 12 + 8 + 1 + ZT_QUIC_CID_MAX + 16)
/* The longest Retry packet it writes: header, both connection IDs, token, tag. */
#define ZT_QUIC_RETRY_MAX (1 + 4 + 1 + ZT_QUIC_CID_MAX + 1 + ZT_QUIC_CID_MAX + \
			   ZT_QUIC_RETRY_TOKEN_MAX + 16)
/* The longest INVALID_TOKEN close zt_quic_write_invalid_token() writes. */
#define ZT_QUIC_INVALID_TOKEN_MAX 128

/* The header of a client's Initial (RFC 9000 s17.2.2). */
struct zt_quic_initial {
	uint32_t version;
	uint8_t dcid[ZT_QUIC_CID_MAX], scid[ZT_QUIC_CID_MAX];
	size_t dcid_len, scid_len;
	const uint8_t *token;        /* into the packet; NULL when token_len is 0 */
	size_t token_len;
};

/*
 * Reads the header of a client's first Initial: a QUIC v1 Initial in a datagram of at
 * least 1200 bytes (s14.1) with a destination connection ID of at least 8 bytes
 * (s7.2). Returns 0 or ZT_EMALFORMED (anything else: drop it).
 */
int zt_quic_initial_parse(const uint8_t *pkt, size_t len, struct zt_quic_initial *ret);

struct zt_quic_retry;

/* secret: at least 16 bytes (kept only as a derived key). Returns 0, -EINVAL,
 * -ENOMEM, ZT_ETLS (the crypto library refused the key). */
int zt_quic_retry_new(struct zt_quic_retry **ret, const uint8_t *secret, size_t len);
/* NULL is fine. */
void zt_quic_retry_free(struct zt_quic_retry *r);

/*
 * Writes the Retry answering ini, which arrived from client: a fresh connection ID
 * for the client to use (ZT_QUIC_CID_LEN bytes from rng) and a token issued at now.
 * Returns the packet's length, -ENOBUFS (cap below ZT_QUIC_RETRY_MAX), ZT_ETLS.
 */
int zt_quic_retry_write(const struct zt_quic_retry *r, uint64_t now, const struct zt_rng *rng,
			const struct zt_addr *client, const struct zt_quic_initial *ini,
			uint8_t *buf, size_t cap);

/*
 * Checks the token of ini, which arrived from client. Returns 0 with the original
 * destination connection ID in odcid[0..*ret_odcid_len) (untouched on failure);
 * ZT_EMALFORMED (no token, or not one of ours); ZT_EAUTH (it does not verify: forged,
 * sent to another address, for another connection ID or version, or under another
 * secret); ZT_ETIMEOUT (issued more than lifetime before now, or after now).
 */
int zt_quic_retry_check(const struct zt_quic_retry *r, uint64_t now, uint64_t lifetime,
			const struct zt_addr *client, const struct zt_quic_initial *ini,
			uint8_t odcid[ZT_QUIC_CID_MAX], size_t *ret_odcid_len);

/*
 * The answer to an Initial whose Retry token did not verify (s8.1.3): an Initial
 * with CONNECTION_CLOSE INVALID_TOKEN (0x0b), so the client gives up at once instead
 * of at its handshake timeout; the server keeps no state. It is smaller than the
 * Initial it answers. Returns its length, -ENOBUFS, ZT_ETLS.
 */
int zt_quic_write_invalid_token(const struct zt_quic_initial *ini, uint8_t *buf, size_t cap);

#endif
