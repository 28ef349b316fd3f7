/*
 * Policy records: the deployment's authorization policy (its client list, allow,
 * serve and limit rules, as the text of an Intermediate's configuration) shared by
 * several Intermediates through a key-value store (NATS JetStream KV,
 * docs/scale-out.md). The store is not trusted and the client list holds tokens, so a
 * record is sealed: AES-256-GCM under a key derived from the deployment's presence key
 * (HMAC-SHA256(presence key, "ztna policy record v1"): one secret, two uses kept
 * apart), the header as associated data. Whoever lacks the key can neither read nor
 * forge one; an older record (a lower seq) is the caller's to refuse.
 *
 *   record = "ZTPP" | version (u8, 1) | seq (u64) | issued (u64, Unix ms)
 *          | nonce (12 bytes) | ciphertext of the text | tag (16 bytes)
 *
 * Version 2 is signed by an operator (quic/sig.h; --policy-signer at the
 * Intermediates): the same sealed record, version byte 2, and after it
 *
 *          | signer's key id (32 bytes) | Ed25519 signature (64 bytes)
 *
 * of everything before the trailer. The version byte is associated data of the seal,
 * so a signed record cannot pass for an unsigned one without the key. This module
 * parses the trailer; the caller checks the signature (core does no signing).
 *
 * Integers big-endian. The text is at most ZT_POLREC_TEXT_MAX bytes and holds no NUL.
 * Sans-IO: the caller passes the nonce (random, from its RNG) and the time.
 */
#ifndef ZT_CORE_POLREC_H
#define ZT_CORE_POLREC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ZT_POLREC_TEXT_MAX (256 * 1024)
#define ZT_POLREC_NONCE_LEN 12
#define ZT_POLREC_TAG_LEN 16
#define ZT_POLREC_HDR_LEN (4 + 1 + 8 + 8 + ZT_POLREC_NONCE_LEN)
#define ZT_POLREC_OVERHEAD (ZT_POLREC_HDR_LEN + ZT_POLREC_TAG_LEN)
#define ZT_POLREC_KEY_MIN 16
#define ZT_POLREC_SIGNER_LEN 32
#define ZT_POLREC_SIG_LEN 64
#define ZT_POLREC_TRAILER_LEN (ZT_POLREC_SIGNER_LEN + ZT_POLREC_SIG_LEN)

struct zt_polrec {
	uint64_t seq;
	uint64_t issued_ms;
	bool is_signed;                         /* version 2 (seal: write it as such) */
	/* open, version 2: the trailer, and how many bytes the signature covers */
	uint8_t signer[ZT_POLREC_SIGNER_LEN];
	uint8_t sig[ZT_POLREC_SIG_LEN];
	size_t signed_len;
};

/* Seals text (len bytes) into buf. Returns the record's length, -EINVAL (short key,
 * a NUL in the text), ZT_ETOOBIG (text over ZT_POLREC_TEXT_MAX), -ENOBUFS, ZT_ETLS.
 * r->is_signed: version 2, the trailer still to add (zt_polrec_sign_finish). */
int zt_polrec_seal(uint8_t *buf, size_t cap, const struct zt_polrec *r, const char *text,
		   size_t len, const uint8_t nonce[ZT_POLREC_NONCE_LEN], const uint8_t *key,
		   size_t key_len);

/* Version 2: the trailer after the n bytes sealed in buf (signer's key id, its
 * signature of those n bytes). Returns the record's length or -ENOBUFS. */
int zt_polrec_sign_finish(uint8_t *buf, size_t cap, size_t n,
			  const uint8_t signer[ZT_POLREC_SIGNER_LEN],
			  const uint8_t sig[ZT_POLREC_SIG_LEN]);

/* Opens a record (version 1 or 2): its header (and trailer) into *ret and its text into out (NUL-terminated; cap
 * at least the record's length - ZT_POLREC_OVERHEAD + 1). Returns the text's length,
 * ZT_ETRUNC, ZT_EMALFORMED (not a record of version 1, a NUL in the text), ZT_ETOOBIG,
 * ZT_EAUTH (the key is not the sealer's, or a byte changed), -ENOBUFS, -EINVAL (short
 * key), ZT_ETLS. Nothing is written to *ret on failure. */
int zt_polrec_open(const uint8_t *buf, size_t len, const uint8_t *key, size_t key_len,
		   struct zt_polrec *ret, char *out, size_t cap);

#endif
