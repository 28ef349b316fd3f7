/*
 * STUN messages (RFC 8489), with the ICE (RFC 8445) and NAT behaviour discovery
 * (RFC 5780) attributes.
 *
 * Decoding: zt_stun_decode() parses one datagram into a struct zt_stun_msg of views
 * into the caller's buffer (no allocation, no copy; the buffer must outlive the msg).
 * It checks the header, walks every attribute, checks each known attribute's length
 * and address family, verifies FINGERPRINT when present, and records where
 * MESSAGE-INTEGRITY, MESSAGE-INTEGRITY-SHA256 and FINGERPRINT sit so that the
 * integrity checks below can run later with the right key.
 *
 * Ordering rules (RFC 8489 s14.5, s14.6, s14.7), as implemented:
 *   - attributes after MESSAGE-INTEGRITY other than MESSAGE-INTEGRITY-SHA256 and
 *     FINGERPRINT, and attributes after MESSAGE-INTEGRITY-SHA256 other than FINGERPRINT,
 *     are *ignored* as the RFC says: their TLV framing must still be sound, but they
 *     are not recorded, not length-checked, and never reported as unknown;
 *   - any attribute after FINGERPRINT makes the message invalid (ZT_ESTUN_ORDER):
 *     FINGERPRINT MUST be last, and a datagram breaking that is not taken for STUN.
 * Repeated attributes are all recorded; the getters return the first (RFC 8489 s14).
 * Unknown comprehension-required attributes (0x0000-0x7FFF) do not fail the decode:
 * they are listed in msg->unknown so that a server can answer 420 with
 * UNKNOWN-ATTRIBUTES (zt_stun_check_known(), zt_stun_build_420()).
 *
 * Encoding: struct zt_stun_builder writes into a caller buffer. Attributes are
 * appended in call order; the header length is kept current, so MESSAGE-INTEGRITY,
 * MESSAGE-INTEGRITY-SHA256 and FINGERPRINT, appended last, are computed over the
 * right length-adjusted header. Errors are sticky (like struct zt_wr): the put
 * functions return nothing and zt_stun_build_finish() reports the first failure.
 *
 * PADDING (RFC 5780 s7.6) is known (any length, value ignored): the path-MTU probes
 * of core/ice.h are padded Binding requests.
 * Not implemented: USERHASH, PASSWORD-ALGORITHM(S), ALTERNATE-SERVER,
 * RESPONSE-PORT (all treated as unknown); SASLprep/OpaqueString of passwords (keys are
 * the bytes given); classic RFC 3489 messages without the magic cookie (rejected).
 */
#ifndef ZT_CORE_STUN_H
#define ZT_CORE_STUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/addr.h"
#include "core/wire.h"

#define ZT_STUN_HDR_LEN 20
#define ZT_STUN_COOKIE 0x2112A442u
#define ZT_STUN_TID_LEN 12
/* Longest message: the 16-bit length field, a multiple of 4, plus the header. */
#define ZT_STUN_MAX_LEN (ZT_STUN_HDR_LEN + 65532)
/* Attributes kept per decoded message; more gives ZT_ESTUN_TOOMANY. */
#define ZT_STUN_MAX_ATTRS 32
#define ZT_STUN_FINGERPRINT_XOR 0x5354554eu
#define ZT_STUN_HMAC_SHA1_LEN 20
#define ZT_STUN_HMAC_SHA256_LEN 32
#define ZT_STUN_LONG_TERM_KEY_LEN 16 /* MD5 */

/* Value limits (RFC 8489 s14.3, s14.8, s14.9, s14.10, s14.14). */
#define ZT_STUN_MAX_USERNAME 512
#define ZT_STUN_MAX_TEXT 763 /* REALM, NONCE, SOFTWARE, error reason */

enum zt_stun_class {
	ZT_STUN_REQUEST = 0,
	ZT_STUN_INDICATION = 1,
	ZT_STUN_SUCCESS = 2,
	ZT_STUN_ERROR = 3,
};

#define ZT_STUN_BINDING 0x001

enum zt_stun_attr_type {
	ZT_STUN_ATTR_MAPPED_ADDRESS = 0x0001,
	ZT_STUN_ATTR_CHANGE_REQUEST = 0x0003,       /* RFC 5780 */
	ZT_STUN_ATTR_USERNAME = 0x0006,
	ZT_STUN_ATTR_MESSAGE_INTEGRITY = 0x0008,
	ZT_STUN_ATTR_ERROR_CODE = 0x0009,
	ZT_STUN_ATTR_UNKNOWN_ATTRIBUTES = 0x000A,
	ZT_STUN_ATTR_REALM = 0x0014,
	ZT_STUN_ATTR_NONCE = 0x0015,
	ZT_STUN_ATTR_MESSAGE_INTEGRITY_SHA256 = 0x001C,
	ZT_STUN_ATTR_XOR_MAPPED_ADDRESS = 0x0020,
	ZT_STUN_ATTR_PRIORITY = 0x0024,             /* RFC 8445 */
	ZT_STUN_ATTR_USE_CANDIDATE = 0x0025,        /* RFC 8445 */
	ZT_STUN_ATTR_PADDING = 0x0026,              /* RFC 5780 */
	ZT_STUN_ATTR_SOFTWARE = 0x8022,
	ZT_STUN_ATTR_FINGERPRINT = 0x8028,
	ZT_STUN_ATTR_ICE_CONTROLLED = 0x8029,       /* RFC 8445 */
	ZT_STUN_ATTR_ICE_CONTROLLING = 0x802A,      /* RFC 8445 */
	ZT_STUN_ATTR_RESPONSE_ORIGIN = 0x802B,      /* RFC 5780 */
	ZT_STUN_ATTR_OTHER_ADDRESS = 0x802C,        /* RFC 5780 */
};

/* CHANGE-REQUEST flags (RFC 5780 s7.2). */
#define ZT_STUN_CHANGE_IP 0x4u
#define ZT_STUN_CHANGE_PORT 0x2u

/* Error codes used here (RFC 8489 s14.8, RFC 8445 s7.3.1.1). */
#define ZT_STUN_ERR_BAD_REQUEST 400
#define ZT_STUN_ERR_UNAUTHORIZED 401
#define ZT_STUN_ERR_UNKNOWN_ATTRIBUTE 420
#define ZT_STUN_ERR_ROLE_CONFLICT 487
#define ZT_STUN_ERR_SERVER_ERROR 500

/* One attribute as found on the wire: value at msg->buf + off, len bytes (no padding). */
struct zt_stun_attr {
	uint16_t type;
	uint16_t len;
	uint32_t off;
};

struct zt_stun_msg {
	const uint8_t *buf;   /* the whole message, as passed to zt_stun_decode() */
	size_t len;
	uint16_t method;      /* 12 bits */
	uint8_t cls;          /* enum zt_stun_class */
	uint8_t tid[ZT_STUN_TID_LEN];
	unsigned n_attrs;
	struct zt_stun_attr attrs[ZT_STUN_MAX_ATTRS];
	/* Offsets of the attribute *headers* in buf; 0 when absent. */
	uint32_t mi_off, mi256_off, fp_off;
	/* Unknown comprehension-required attribute types, in order of appearance. */
	unsigned n_unknown;
	uint16_t unknown[ZT_STUN_MAX_ATTRS];
};

/*
 * Demultiplexing test for a shared socket (RFC 7983): first byte 0-3, the magic
 * cookie, a length field that is a multiple of 4 and equals len - 20. Reads at most
 * the 20 header bytes; a true answer does not mean zt_stun_decode() will succeed.
 */
bool zt_stun_looks_like(const uint8_t *buf, size_t len);

/*
 * Parse the 20-byte header only: method, class, transaction ID. Checks the first two
 * bits, the cookie, and that the length field is a multiple of 4 and matches len.
 * Returns 0, or ZT_EZEROLEN (len 0), ZT_ETRUNC (shorter than the header or than the
 * length field says), ZT_ETOOBIG (len > ZT_STUN_MAX_LEN), ZT_ESTUN_NOTSTUN,
 * ZT_ESTUN_COOKIE, ZT_EMALFORMED (bytes after the declared length).
 * *ret is filled only on success; its attribute fields are zeroed.
 */
int zt_stun_decode_header(struct zt_stun_msg *ret, const uint8_t *buf, size_t len);

/*
 * Parse a whole message (one UDP datagram: len must be exactly 20 + length field).
 * Returns 0, a zt_stun_decode_header() error, or:
 *   ZT_ETRUNC            an attribute runs past the end of the message
 *   ZT_ESTUN_ATTRLEN     a known attribute's length is wrong for its type
 *   ZT_ESTUN_FAMILY      an address attribute's family is neither 1 nor 2
 *   ZT_EMALFORMED        a bad value (ERROR-CODE class/number)
 *   ZT_ESTUN_ORDER       an attribute follows FINGERPRINT
 *   ZT_ESTUN_FINGERPRINT FINGERPRINT present and wrong
 *   ZT_ESTUN_TOOMANY     more than ZT_STUN_MAX_ATTRS recorded attributes
 * *ret is filled only on success. Unknown comprehension-required attributes are not
 * an error here: see zt_stun_check_known().
 */
int zt_stun_decode(struct zt_stun_msg *ret, const uint8_t *buf, size_t len);

/* 0, or ZT_ESTUN_UNKNOWN_REQ when m carries unknown comprehension-required attributes. */
int zt_stun_check_known(const struct zt_stun_msg *m);

/* Message type field from method and class (RFC 8489 s5), and back. */
uint16_t zt_stun_type(uint16_t method, enum zt_stun_class cls);
void zt_stun_type_split(uint16_t type, uint16_t *ret_method, uint8_t *ret_cls);

/* True for 0x0000-0x7FFF (RFC 8489 s14). */
static inline bool zt_stun_attr_required(uint16_t type)
{
	return type < 0x8000;
}

/* ---- Getters: all return 0, or -ENOENT when the attribute is absent. ---- */

/* The first attribute of that type, or NULL. */
const struct zt_stun_attr *zt_stun_find(const struct zt_stun_msg *m, uint16_t type);

static inline bool zt_stun_has(const struct zt_stun_msg *m, uint16_t type)
{
	return zt_stun_find(m, type) != NULL;
}

/*
 * An address attribute: MAPPED-ADDRESS, RESPONSE-ORIGIN, OTHER-ADDRESS (plain) or
 * XOR-MAPPED-ADDRESS (un-XORed with the cookie and transaction ID). Also
 * ZT_ESTUN_ATTRLEN / ZT_ESTUN_FAMILY for an unknown type with a bad value.
 */
int zt_stun_get_addr(const struct zt_stun_msg *m, uint16_t type, struct zt_addr *ret);

/* 32-bit (PRIORITY, CHANGE-REQUEST, FINGERPRINT) and 64-bit (ICE-CONTROLLED/LING)
 * values; ZT_ESTUN_ATTRLEN when the attribute has another length. */
int zt_stun_get_u32(const struct zt_stun_msg *m, uint16_t type, uint32_t *ret);
int zt_stun_get_u64(const struct zt_stun_msg *m, uint16_t type, uint64_t *ret);

/* Raw value view (USERNAME, SOFTWARE, REALM, NONCE, ...): not NUL-terminated. */
int zt_stun_get_bytes(const struct zt_stun_msg *m, uint16_t type, const uint8_t **ret,
		      size_t *ret_len);

/* ERROR-CODE: code 300-699 and a view of the reason phrase (not NUL-terminated). */
int zt_stun_get_error(const struct zt_stun_msg *m, int *ret_code, const char **ret_reason,
		      size_t *ret_reason_len);

/* UNKNOWN-ATTRIBUTES: copies up to cap types; returns how many the attribute holds. */
int zt_stun_get_unknown_list(const struct zt_stun_msg *m, uint16_t *types, size_t cap);

/* ---- Integrity ---- */

/*
 * Verify MESSAGE-INTEGRITY-SHA256 if present, else MESSAGE-INTEGRITY, with key.
 * Returns 0, ZT_ESTUN_NOINTEGRITY (neither present), ZT_ESTUN_INTEGRITY (mismatch),
 * ZT_ETLS (GnuTLS failed).
 */
int zt_stun_check_integrity(const struct zt_stun_msg *m, const uint8_t *key, size_t key_len);

/*
 * Short-term credential check (RFC 8489 s9.1.3): MESSAGE-INTEGRITY(-SHA256) present,
 * USERNAME present and equal to username, integrity verifies with password as the key.
 * Returns 0, ZT_ESTUN_NOINTEGRITY, ZT_ESTUN_USERNAME, ZT_ESTUN_INTEGRITY, ZT_ETLS.
 * (RFC 8489 s9.1.3: the first gives a 400 answer, the others 401.)
 */
int zt_stun_check_short_term(const struct zt_stun_msg *m, const char *username,
			     const char *password);

/*
 * Long-term credential key (RFC 8489 s9.2.2, MD5 algorithm):
 * MD5(username ":" realm ":" password), into key[16]. No SASLprep is applied.
 * Returns 0, -EINVAL (a string longer than ZT_STUN_MAX_TEXT), ZT_ETLS.
 */
int zt_stun_long_term_key(const char *username, const char *realm, const char *password,
			  uint8_t key[ZT_STUN_LONG_TERM_KEY_LEN]);

/* ---- Encoding ---- */

struct zt_stun_builder {
	struct zt_wr w;
	uint8_t pad;       /* byte used for attribute padding (0 unless set; RFC 8489 s14) */
	uint8_t tid[ZT_STUN_TID_LEN];
	bool after_mi;     /* MESSAGE-INTEGRITY written: only MI-SHA256 / FINGERPRINT may follow */
	bool after_mi256;  /* MI-SHA256 written: only FINGERPRINT may follow */
	bool after_fp;     /* FINGERPRINT written: nothing may follow */
};

/* Start a message in buf. Check the result with zt_stun_build_finish(). */
void zt_stun_build_init(struct zt_stun_builder *b, uint8_t *buf, size_t cap, uint16_t method,
			enum zt_stun_class cls, const uint8_t tid[ZT_STUN_TID_LEN]);

/* Any attribute from a raw value (len < 65536). */
void zt_stun_put_raw(struct zt_stun_builder *b, uint16_t type, const void *val, size_t len);
/* PADDING of len zero bytes (the attribute takes 4 + len rounded up to 4). */
void zt_stun_put_padding(struct zt_stun_builder *b, size_t len);
/* A text attribute (USERNAME, SOFTWARE, REALM, NONCE) from a C string. */
static inline void zt_stun_put_str(struct zt_stun_builder *b, uint16_t type, const char *s)
{
	zt_stun_put_raw(b, type, s, strlen(s));
}
void zt_stun_put_u32(struct zt_stun_builder *b, uint16_t type, uint32_t v);
void zt_stun_put_u64(struct zt_stun_builder *b, uint16_t type, uint64_t v);
/* MAPPED-ADDRESS, RESPONSE-ORIGIN, OTHER-ADDRESS; XOR-MAPPED-ADDRESS is XORed. */
void zt_stun_put_addr(struct zt_stun_builder *b, uint16_t type, const struct zt_addr *a);
/* ERROR-CODE with code 300-699 and a reason phrase (may be NULL: a standard phrase). */
void zt_stun_put_error(struct zt_stun_builder *b, int code, const char *reason);
/* UNKNOWN-ATTRIBUTES (n >= 1). */
void zt_stun_put_unknown_list(struct zt_stun_builder *b, const uint16_t *types, size_t n);
/* MESSAGE-INTEGRITY (HMAC-SHA1) and MESSAGE-INTEGRITY-SHA256 (full 32 bytes). */
void zt_stun_put_integrity(struct zt_stun_builder *b, const uint8_t *key, size_t key_len);
void zt_stun_put_integrity_sha256(struct zt_stun_builder *b, const uint8_t *key,
				  size_t key_len);
void zt_stun_put_fingerprint(struct zt_stun_builder *b);

/*
 * Returns the message length, or the first error: -ENOBUFS (buffer too small),
 * -EINVAL (bad argument or an attribute after MESSAGE-INTEGRITY/FINGERPRINT that may
 * not follow it), ZT_ETOOBIG (message over ZT_STUN_MAX_LEN), ZT_ETLS.
 */
int zt_stun_build_finish(const struct zt_stun_builder *b);

/* The standard reason phrase for an error code ("Bad Request", ...), or "Error". */
const char *zt_stun_error_reason(int code);

/*
 * Error response to request m: same method and transaction ID, ERROR-CODE code with
 * reason (NULL: the standard phrase); FINGERPRINT when the request had one.
 * Returns the length or a zt_stun_build_finish() error.
 */
int zt_stun_build_error(const struct zt_stun_msg *m, int code, const char *reason,
			uint8_t *buf, size_t cap);

/*
 * 420 response to request m listing m's unknown comprehension-required attributes
 * (RFC 8489 s6.3.1.1), FINGERPRINT when the request had one. -EINVAL when m has none.
 */
int zt_stun_build_420(const struct zt_stun_msg *m, uint8_t *buf, size_t cap);

#endif
