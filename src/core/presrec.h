/*
 * Presence records: which Intermediate holds a client's outer connection, as the
 * Intermediates of one deployment will share them through a key-value store (NATS
 * JetStream KV, docs/scale-out.md). The store is not trusted: a record is
 * authenticated with HMAC-SHA256 under the deployment's presence key, which every
 * Intermediate holds and no client does; the store's key it was found under must be
 * the client's name in the record (a record copied under another name is refused);
 * and a record past its expiry counts as absent.
 *
 *   record  = "ZTPR" | version (u8, 1) | role (u8: 1 agent, 2 connector)
 *           | name length (u8, 1..ZT_PRESREC_NAME_MAX) | name
 *           | Intermediate length (u8, 1..ZT_PRESREC_IMD_MAX) | Intermediate name
 *           | address count (u8, 0..ZT_PRESREC_ADDRS_MAX) | addresses
 *           | seq (u64) | issued (u64, Unix ms) | expires (u64, Unix ms)
 *           | mac (32 bytes: HMAC-SHA256 under the key, over everything before it)
 *   address = family (u8: 4 or 6) | IP (4 or 16 bytes) | port (u16, not 0)
 *
 * Integers big-endian. Names are letters, digits, '-', '_' and '.' (the PKI's identity
 * names). expires is after issued by at most ZT_PRESREC_TTL_MAX_MS. Nothing may follow
 * the mac. Sans-IO: the caller passes the time.
 */
#ifndef ZT_CORE_PRESREC_H
#define ZT_CORE_PRESREC_H

#include <stddef.h>
#include <stdint.h>

#include "core/addr.h"

#define ZT_PRESREC_NAME_MAX 95
#define ZT_PRESREC_IMD_MAX 63
#define ZT_PRESREC_ADDRS_MAX 4
#define ZT_PRESREC_MAC_LEN 32
#define ZT_PRESREC_KEY_MIN 16
#define ZT_PRESREC_TTL_MAX_MS (10ULL * 60 * 1000)
/* How far in the future a record's issued time may lie (clocks of two machines). */
#define ZT_PRESREC_SKEW_MS (60ULL * 1000)
/* The longest record. */
#define ZT_PRESREC_MAX                                                                     \
	(4 + 1 + 1 + 1 + ZT_PRESREC_NAME_MAX + 1 + ZT_PRESREC_IMD_MAX + 1 +               \
	 ZT_PRESREC_ADDRS_MAX * 19 + 3 * 8 + ZT_PRESREC_MAC_LEN)

enum zt_presrec_role {
	ZT_PRESREC_AGENT = 1,
	ZT_PRESREC_CONNECTOR = 2,
	/* an Intermediate itself (name = imd): addrs are where it takes links from the
	 * others (docs/scale-out.md) */
	ZT_PRESREC_INTERMEDIATE = 3,
};

struct zt_presrec {
	uint8_t role;
	char name[ZT_PRESREC_NAME_MAX + 1];
	char imd[ZT_PRESREC_IMD_MAX + 1];
	size_t naddrs;
	struct zt_addr addrs[ZT_PRESREC_ADDRS_MAX];
	uint64_t seq;
	uint64_t issued_ms, expires_ms;
};

/* Writes r signed with key (at least ZT_PRESREC_KEY_MIN bytes). Returns the length,
 * ZT_EMALFORMED (a field out of the format's bounds), -EINVAL (short key), -ENOBUFS,
 * ZT_ETLS (the HMAC failed). */
int zt_presrec_encode(uint8_t *buf, size_t cap, const struct zt_presrec *r, const uint8_t *key,
		      size_t key_len);

/* Reads and verifies a record found under the store's key want_name (NULL: not
 * checked) at now_ms. Returns 0 with *ret filled, or: ZT_ETRUNC, ZT_EMALFORMED (not a
 * record of version 1, a field out of bounds, bytes after the mac), ZT_EAUTH (the mac
 * does not verify), ZT_EPOLICY (the name is not want_name), ZT_ETIMEOUT (expired),
 * ZT_ERANGE (issued more than ZT_PRESREC_SKEW_MS ahead of now), -EINVAL (short key),
 * ZT_ETLS. *ret is untouched on failure. */
int zt_presrec_decode(const uint8_t *buf, size_t len, const uint8_t *key, size_t key_len,
		      uint64_t now_ms, const char *want_name, struct zt_presrec *ret);

/*
 * The store's key of a client's record: "agent.NAME" or "connector.NAME" (NATS KV keys
 * allow these characters). zt_presrec_key writes it (NUL-terminated) and returns its
 * length, ZT_EMALFORMED (role or name out of bounds) or -ENOBUFS.
 * zt_presrec_key_parse reads one: the role and the name (NUL-terminated, at most
 * ZT_PRESREC_NAME_MAX) into name, or ZT_EMALFORMED.
 */
/* A keyed hash of a client (role and name) for the tables that hold records: a writer
 * with the presence key chooses the names, so the seed should be secret. */
uint64_t zt_presrec_hash(uint64_t seed, uint8_t role, const char *name);

#define ZT_PRESREC_KEY_MAX (13 + ZT_PRESREC_NAME_MAX)
int zt_presrec_key(char *buf, size_t cap, uint8_t role, const char *name);
int zt_presrec_key_parse(const char *key, uint8_t *role, char name[ZT_PRESREC_NAME_MAX + 1]);

#endif
