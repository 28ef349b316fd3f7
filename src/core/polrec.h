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
 * Integers big-endian. The text is at most ZT_POLREC_TEXT_MAX bytes and holds no NUL.
 * Sans-IO: the caller passes the nonce (random, from its RNG) and the time.
 */
#ifndef ZT_CORE_POLREC_H
#define ZT_CORE_POLREC_H

#include <stddef.h>
#include <stdint.h>

#define ZT_POLREC_TEXT_MAX (256 * 1024)
#define ZT_POLREC_NONCE_LEN 12
#define ZT_POLREC_TAG_LEN 16
#define ZT_POLREC_HDR_LEN (4 + 1 + 8 + 8 + ZT_POLREC_NONCE_LEN)
#define ZT_POLREC_OVERHEAD (ZT_POLREC_HDR_LEN + ZT_POLREC_TAG_LEN)
#define ZT_POLREC_KEY_MIN 16

struct zt_polrec {
	uint64_t seq;
	uint64_t issued_ms;
};

/* Seals text (len bytes) into buf. Returns the record's length, -EINVAL (short key,
 * a NUL in the text), ZT_ETOOBIG (text over ZT_POLREC_TEXT_MAX), -ENOBUFS, ZT_ETLS. */
int zt_polrec_seal(uint8_t *buf, size_t cap, const struct zt_polrec *r, const char *text,
		   size_t len, const uint8_t nonce[ZT_POLREC_NONCE_LEN], const uint8_t *key,
		   size_t key_len);

/* Opens a record: its header into *ret and its text into out (NUL-terminated; cap
 * at least the record's length - ZT_POLREC_OVERHEAD + 1). Returns the text's length,
 * ZT_ETRUNC, ZT_EMALFORMED (not a record of version 1, a NUL in the text), ZT_ETOOBIG,
 * ZT_EAUTH (the key is not the sealer's, or a byte changed), -ENOBUFS, -EINVAL (short
 * key), ZT_ETLS. Nothing is written to *ret on failure. */
int zt_polrec_open(const uint8_t *buf, size_t len, const uint8_t *key, size_t key_len,
		   struct zt_polrec *ret, char *out, size_t cap);

#endif
