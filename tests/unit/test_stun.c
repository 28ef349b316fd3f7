#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <gnutls/crypto.h>
#include <zlib.h>

#include "core/stun.h"

/*
 * RFC 5769 test vectors, typed from the RFC's hex dumps. Their MESSAGE-INTEGRITY and
 * FINGERPRINT values cover every byte before them, so a typo fails the verify tests.
 */

/* RFC 5769 s2.1: sample request (short-term credentials, padding bytes are 0x20). */
static const uint8_t rfc5769_request[] = {
	0x00, 0x01, 0x00, 0x58, /* Binding request, length 88 */
	0x21, 0x12, 0xa4, 0x42, /* magic cookie */
	0xb7, 0xe7, 0xa7, 0x01, /* } */
	0xbc, 0x34, 0xd6, 0x86, /* }  transaction ID */
	0xfa, 0x87, 0xdf, 0xae, /* } */
	0x80, 0x22, 0x00, 0x10, /* SOFTWARE, 16 bytes */
	0x53, 0x54, 0x55, 0x4e, /* "STUN" */
	0x20, 0x74, 0x65, 0x73, /* " tes" */
	0x74, 0x20, 0x63, 0x6c, /* "t cl" */
	0x69, 0x65, 0x6e, 0x74, /* "ient" */
	0x00, 0x24, 0x00, 0x04, /* PRIORITY */
	0x6e, 0x00, 0x01, 0xff, /*   0x6e0001ff */
	0x80, 0x29, 0x00, 0x08, /* ICE-CONTROLLED */
	0x93, 0x2f, 0xf9, 0xb1, /* } tie breaker */
	0x51, 0x26, 0x3b, 0x36, /* } */
	0x00, 0x06, 0x00, 0x09, /* USERNAME, 9 bytes */
	0x65, 0x76, 0x74, 0x6a, /* "evtj" */
	0x3a, 0x68, 0x36, 0x76, /* ":h6v" */
	0x59, 0x20, 0x20, 0x20, /* "Y" + 3 padding bytes */
	0x00, 0x08, 0x00, 0x14, /* MESSAGE-INTEGRITY */
	0x9a, 0xea, 0xa7, 0x0c, /* } */
	0xbf, 0xd8, 0xcb, 0x56, /* } */
	0x78, 0x1e, 0xf2, 0xb5, /* }  HMAC-SHA1 */
	0xb2, 0xd3, 0xf2, 0x49, /* } */
	0xc1, 0xb5, 0x71, 0xa2, /* } */
	0x80, 0x28, 0x00, 0x04, /* FINGERPRINT */
	0xe5, 0x7a, 0x3b, 0xcf, /*   CRC-32 ^ 0x5354554e */
};

/* RFC 5769 s2.2: sample IPv4 response. */
static const uint8_t rfc5769_response_v4[] = {
	0x01, 0x01, 0x00, 0x3c, /* Binding success response, length 60 */
	0x21, 0x12, 0xa4, 0x42, /* magic cookie */
	0xb7, 0xe7, 0xa7, 0x01, /* } */
	0xbc, 0x34, 0xd6, 0x86, /* }  transaction ID */
	0xfa, 0x87, 0xdf, 0xae, /* } */
	0x80, 0x22, 0x00, 0x0b, /* SOFTWARE, 11 bytes */
	0x74, 0x65, 0x73, 0x74, /* "test" */
	0x20, 0x76, 0x65, 0x63, /* " vec" */
	0x74, 0x6f, 0x72, 0x20, /* "tor" + 1 padding byte */
	0x00, 0x20, 0x00, 0x08, /* XOR-MAPPED-ADDRESS */
	0x00, 0x01, 0xa1, 0x47, /*   IPv4, port 32853 ^ 0x2112 */
	0xe1, 0x12, 0xa6, 0x43, /*   192.0.2.1 ^ cookie */
	0x00, 0x08, 0x00, 0x14, /* MESSAGE-INTEGRITY */
	0x2b, 0x91, 0xf5, 0x99, /* } */
	0xfd, 0x9e, 0x90, 0xc3, /* } */
	0x8c, 0x74, 0x89, 0xf9, /* }  HMAC-SHA1 */
	0x2a, 0xf9, 0xba, 0x53, /* } */
	0xf0, 0x6b, 0xe7, 0xd7, /* } */
	0x80, 0x28, 0x00, 0x04, /* FINGERPRINT */
	0xc0, 0x7d, 0x4c, 0x96, /*   CRC-32 ^ 0x5354554e */
};

/* RFC 5769 s2.3: sample IPv6 response. */
static const uint8_t rfc5769_response_v6[] = {
	0x01, 0x01, 0x00, 0x48, /* Binding success response, length 72 */
	0x21, 0x12, 0xa4, 0x42, /* magic cookie */
	0xb7, 0xe7, 0xa7, 0x01, /* } */
	0xbc, 0x34, 0xd6, 0x86, /* }  transaction ID */
	0xfa, 0x87, 0xdf, 0xae, /* } */
	0x80, 0x22, 0x00, 0x0b, /* SOFTWARE, 11 bytes */
	0x74, 0x65, 0x73, 0x74, /* "test" */
	0x20, 0x76, 0x65, 0x63, /* " vec" */
	0x74, 0x6f, 0x72, 0x20, /* "tor" + 1 padding byte */
	0x00, 0x20, 0x00, 0x14, /* XOR-MAPPED-ADDRESS */
	0x00, 0x02, 0xa1, 0x47, /*   IPv6, port 32853 ^ 0x2112 */
	0x01, 0x13, 0xa9, 0xfa, /* } */
	0xa5, 0xd3, 0xf1, 0x79, /* }  2001:db8:1234:5678:11:2233:4455:6677 */
	0xbc, 0x25, 0xf4, 0xb5, /* }  ^ (cookie | transaction ID) */
	0xbe, 0xd2, 0xb9, 0xd9, /* } */
	0x00, 0x08, 0x00, 0x14, /* MESSAGE-INTEGRITY */
	0xa3, 0x82, 0x95, 0x4e, /* } */
	0x4b, 0xe6, 0x7b, 0xf1, /* } */
	0x17, 0x84, 0xc9, 0x7c, /* }  HMAC-SHA1 */
	0x82, 0x92, 0xc2, 0x75, /* } */
	0xbf, 0xe3, 0xed, 0x41, /* } */
	0x80, 0x28, 0x00, 0x04, /* FINGERPRINT */
	0xc8, 0xfb, 0x0b, 0x4c, /*   CRC-32 ^ 0x5354554e */
};

/* RFC 5769 s2.4: request with long-term credentials (no FINGERPRINT, zero padding). */
static const uint8_t rfc5769_long_term[] = {
	0x00, 0x01, 0x00, 0x60, /* Binding request, length 96 */
	0x21, 0x12, 0xa4, 0x42, /* magic cookie */
	0x78, 0xad, 0x34, 0x33, /* } */
	0xc6, 0xad, 0x72, 0xc0, /* }  transaction ID */
	0x29, 0xda, 0x41, 0x2e, /* } */
	0x00, 0x06, 0x00, 0x12, /* USERNAME, 18 bytes */
	0xe3, 0x83, 0x9e, 0xe3, /* } */
	0x83, 0x88, 0xe3, 0x83, /* } */
	0xaa, 0xe3, 0x83, 0x83, /* }  U+30DE U+30C8 U+30EA U+30C3 U+30AF U+30B9 in UTF-8 */
	0xe3, 0x82, 0xaf, 0xe3, /* } */
	0x82, 0xb9, 0x00, 0x00, /* }  + 2 padding bytes */
	0x00, 0x15, 0x00, 0x1c, /* NONCE, 28 bytes */
	0x66, 0x2f, 0x2f, 0x34, /* "f//4" */
	0x39, 0x39, 0x6b, 0x39, /* "99k9" */
	0x35, 0x34, 0x64, 0x36, /* "54d6" */
	0x4f, 0x4c, 0x33, 0x34, /* "OL34" */
	0x6f, 0x4c, 0x39, 0x46, /* "oL9F" */
	0x53, 0x54, 0x76, 0x79, /* "STvy" */
	0x36, 0x34, 0x73, 0x41, /* "64sA" */
	0x00, 0x14, 0x00, 0x0b, /* REALM, 11 bytes */
	0x65, 0x78, 0x61, 0x6d, /* "exam" */
	0x70, 0x6c, 0x65, 0x2e, /* "ple." */
	0x6f, 0x72, 0x67, 0x00, /* "org" + 1 padding byte */
	0x00, 0x08, 0x00, 0x14, /* MESSAGE-INTEGRITY */
	0xf6, 0x70, 0x24, 0x65, /* } */
	0x6d, 0xd6, 0x4a, 0x3e, /* } */
	0x02, 0xb8, 0xe0, 0x71, /* }  HMAC-SHA1 */
	0x2e, 0x85, 0xc9, 0xa2, /* } */
	0x8c, 0xa8, 0x96, 0x66, /* } */
};

/*
 * RFC 8489 appendix B.1: long-term credentials with USERHASH, PASSWORD-ALGORITHM
 * SHA-256 and MESSAGE-INTEGRITY-SHA256. USERHASH and PASSWORD-ALGORITHM are not
 * implemented here, so they decode as unknown comprehension-required attributes.
 */
static const uint8_t rfc8489_b1[] = {
	0x00, 0x01, 0x00, 0x90, /* Binding request, length 144 */
	0x21, 0x12, 0xa4, 0x42, /* magic cookie */
	0x78, 0xad, 0x34, 0x33, /* } */
	0xc6, 0xad, 0x72, 0xc0, /* }  transaction ID */
	0x29, 0xda, 0x41, 0x2e, /* } */
	0x00, 0x1e, 0x00, 0x20, /* USERHASH, 32 bytes */
	0x4a, 0x3c, 0xf3, 0x8f, 0xef, 0x69, 0x92, 0xbd,
	0xa9, 0x52, 0xc6, 0x78, 0x04, 0x17, 0xda, 0x0f,
	0x24, 0x81, 0x94, 0x15, 0x56, 0x9e, 0x60, 0xb2,
	0x05, 0xc4, 0x6e, 0x41, 0x40, 0x7f, 0x17, 0x04,
	0x00, 0x15, 0x00, 0x29, /* NONCE, 41 bytes */
	0x6f, 0x62, 0x4d, 0x61, 0x74, 0x4a, 0x6f, 0x73, /* "obMatJos" */
	0x32, 0x41, 0x41, 0x41, 0x43, 0x66, 0x2f, 0x2f, /* "2AAACf//" */
	0x34, 0x39, 0x39, 0x6b, 0x39, 0x35, 0x34, 0x64, /* "499k954d" */
	0x36, 0x4f, 0x4c, 0x33, 0x34, 0x6f, 0x4c, 0x39, /* "6OL34oL9" */
	0x46, 0x53, 0x54, 0x76, 0x79, 0x36, 0x34, 0x73, /* "FSTvy64s" */
	0x41, 0x00, 0x00, 0x00, /* "A" + 3 padding bytes */
	0x00, 0x14, 0x00, 0x0b, /* REALM, 11 bytes */
	0x65, 0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x2e, 0x6f, 0x72, 0x67, 0x00,
	0x00, 0x1d, 0x00, 0x04, /* PASSWORD-ALGORITHM */
	0x00, 0x02, 0x00, 0x00, /*   SHA-256, no parameters */
	0x00, 0x1c, 0x00, 0x20, /* MESSAGE-INTEGRITY-SHA256 */
	0xb5, 0xc7, 0xbf, 0x00, 0x5b, 0x6c, 0x52, 0xa2,
	0x1c, 0x51, 0xc5, 0xe8, 0x92, 0xf8, 0x19, 0x24,
	0x13, 0x62, 0x96, 0xcb, 0x92, 0x7c, 0x43, 0x14,
	0x93, 0x09, 0x27, 0x8c, 0xc6, 0x51, 0x8e, 0x65,
};

static const uint8_t tid_5769[ZT_STUN_TID_LEN] = {
	0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae,
};
static const uint8_t tid_5769_lt[ZT_STUN_TID_LEN] = {
	0x78, 0xad, 0x34, 0x33, 0xc6, 0xad, 0x72, 0xc0, 0x29, 0xda, 0x41, 0x2e,
};
#define PASSWORD_5769 "VOkJxbRl1RmTxUk/WvJxBt"
#define USERNAME_5769 "evtj:h6vY"
/* "マトリックス" */
#define LT_USERNAME "\xe3\x83\x9e\xe3\x83\x88\xe3\x83\xaa\xe3\x83\x83\xe3\x82\xaf\xe3\x82\xb9"
#define LT_NONCE "f//499k954d6OL34oL9FSTvy64sA"
#define LT_REALM "example.org"
/* SASLprep("The\u00adM\u00aatr\u2168") */
#define LT_PASSWORD "TheMatrIX"

struct vec {
	const char *name;
	const uint8_t *buf;
	size_t len;
};

static const struct vec vectors[] = {
	{ "5769 s2.1", rfc5769_request, sizeof(rfc5769_request) },
	{ "5769 s2.2", rfc5769_response_v4, sizeof(rfc5769_response_v4) },
	{ "5769 s2.3", rfc5769_response_v6, sizeof(rfc5769_response_v6) },
	{ "5769 s2.4", rfc5769_long_term, sizeof(rfc5769_long_term) },
	{ "8489 B.1", rfc8489_b1, sizeof(rfc8489_b1) },
};
#define N_VECTORS (sizeof(vectors) / sizeof(vectors[0]))

/* An exact-size heap copy, so that ASan sees any read past the end. */
static uint8_t *dup_exact(const uint8_t *p, size_t n)
{
	uint8_t *q = malloc(n ? n : 1);

	assert_non_null(q);
	if (n)
		memcpy(q, p, n);
	return q;
}

static void expect_text(const struct zt_stun_msg *m, uint16_t type, const char *want)
{
	const uint8_t *v;
	size_t n;

	assert_int_equal(zt_stun_get_bytes(m, type, &v, &n), 0);
	assert_int_equal(n, strlen(want));
	assert_memory_equal(v, want, n);
}

static void rfc5769_request_decodes(void **state)
{
	struct zt_stun_msg m;
	uint32_t prio;
	uint64_t tie;

	(void)state;
	assert_int_equal(zt_stun_decode(&m, rfc5769_request, sizeof(rfc5769_request)), 0);
	assert_int_equal(m.method, ZT_STUN_BINDING);
	assert_int_equal(m.cls, ZT_STUN_REQUEST);
	assert_memory_equal(m.tid, tid_5769, ZT_STUN_TID_LEN);
	assert_int_equal(m.n_attrs, 6);
	assert_int_equal(zt_stun_check_known(&m), 0);
	expect_text(&m, ZT_STUN_ATTR_SOFTWARE, "STUN test client");
	expect_text(&m, ZT_STUN_ATTR_USERNAME, USERNAME_5769);
	assert_int_equal(zt_stun_get_u32(&m, ZT_STUN_ATTR_PRIORITY, &prio), 0);
	assert_int_equal(prio, 0x6e0001ff);
	assert_int_equal(zt_stun_get_u64(&m, ZT_STUN_ATTR_ICE_CONTROLLED, &tie), 0);
	assert_true(tie == 0x932ff9b151263b36ULL);
	assert_false(zt_stun_has(&m, ZT_STUN_ATTR_ICE_CONTROLLING));
	assert_int_equal(m.mi_off, 20 + 20 + 8 + 12 + 16);
	assert_int_equal(m.fp_off, 20 + 20 + 8 + 12 + 16 + 24);
	/* FINGERPRINT was verified by the decoder; MESSAGE-INTEGRITY with the password: */
	assert_int_equal(zt_stun_check_short_term(&m, USERNAME_5769, PASSWORD_5769), 0);
	assert_int_equal(zt_stun_check_short_term(&m, USERNAME_5769, "VOkJxbRl1RmTxUk/WvJxBT"),
			 ZT_ESTUN_INTEGRITY);
	assert_int_equal(zt_stun_check_short_term(&m, "evtj:h6vy", PASSWORD_5769),
			 ZT_ESTUN_USERNAME);
	assert_int_equal(zt_stun_check_short_term(&m, "evtj:h6vY2", PASSWORD_5769),
			 ZT_ESTUN_USERNAME);
}

static void rfc5769_request_encodes(void **state)
{
	uint8_t buf[200];
	struct zt_stun_builder b;

	(void)state;
	zt_stun_build_init(&b, buf, sizeof(buf), ZT_STUN_BINDING, ZT_STUN_REQUEST, tid_5769);
	b.pad = 0x20; /* the RFC's padding bytes */
	zt_stun_put_str(&b, ZT_STUN_ATTR_SOFTWARE, "STUN test client");
	zt_stun_put_u32(&b, ZT_STUN_ATTR_PRIORITY, 0x6e0001ff);
	zt_stun_put_u64(&b, ZT_STUN_ATTR_ICE_CONTROLLED, 0x932ff9b151263b36ULL);
	zt_stun_put_str(&b, ZT_STUN_ATTR_USERNAME, USERNAME_5769);
	zt_stun_put_integrity(&b, (const uint8_t *)PASSWORD_5769, strlen(PASSWORD_5769));
	zt_stun_put_fingerprint(&b);
	assert_int_equal(zt_stun_build_finish(&b), sizeof(rfc5769_request));
	assert_memory_equal(buf, rfc5769_request, sizeof(rfc5769_request));
}

static void check_response(const uint8_t *vec, size_t len, const char *want_ip)
{
	struct zt_stun_msg m;
	struct zt_addr a, want;

	assert_int_equal(zt_addr_parse(&want, want_ip, 32853), 0);
	assert_int_equal(zt_stun_decode(&m, vec, len), 0);
	assert_int_equal(m.method, ZT_STUN_BINDING);
	assert_int_equal(m.cls, ZT_STUN_SUCCESS);
	assert_memory_equal(m.tid, tid_5769, ZT_STUN_TID_LEN);
	expect_text(&m, ZT_STUN_ATTR_SOFTWARE, "test vector");
	assert_int_equal(zt_stun_get_addr(&m, ZT_STUN_ATTR_XOR_MAPPED_ADDRESS, &a), 0);
	assert_true(zt_addr_equal(&a, &want));
	assert_true(m.fp_off > 0);
	assert_int_equal(zt_stun_check_integrity(&m, (const uint8_t *)PASSWORD_5769,
						 strlen(PASSWORD_5769)),
			 0);
	assert_int_equal(zt_stun_check_integrity(&m, (const uint8_t *)"x", 1),
			 ZT_ESTUN_INTEGRITY);
}

static void encode_response(const uint8_t *vec, size_t len, const char *ip)
{
	uint8_t buf[200];
	struct zt_stun_builder b;
	struct zt_addr a;

	assert_int_equal(zt_addr_parse(&a, ip, 32853), 0);
	zt_stun_build_init(&b, buf, sizeof(buf), ZT_STUN_BINDING, ZT_STUN_SUCCESS, tid_5769);
	b.pad = 0x20;
	zt_stun_put_str(&b, ZT_STUN_ATTR_SOFTWARE, "test vector");
	zt_stun_put_addr(&b, ZT_STUN_ATTR_XOR_MAPPED_ADDRESS, &a);
	zt_stun_put_integrity(&b, (const uint8_t *)PASSWORD_5769, strlen(PASSWORD_5769));
	zt_stun_put_fingerprint(&b);
	assert_int_equal(zt_stun_build_finish(&b), len);
	assert_memory_equal(buf, vec, len);
}

static void rfc5769_ipv4_response(void **state)
{
	(void)state;
	check_response(rfc5769_response_v4, sizeof(rfc5769_response_v4), "192.0.2.1");
	encode_response(rfc5769_response_v4, sizeof(rfc5769_response_v4), "192.0.2.1");
}

static void rfc5769_ipv6_response(void **state)
{
	static const char ip[] = "2001:db8:1234:5678:11:2233:4455:6677";

	(void)state;
	check_response(rfc5769_response_v6, sizeof(rfc5769_response_v6), ip);
	encode_response(rfc5769_response_v6, sizeof(rfc5769_response_v6), ip);
}

static void rfc5769_long_term_decodes(void **state)
{
	struct zt_stun_msg m;
	uint8_t key[ZT_STUN_LONG_TERM_KEY_LEN];

	(void)state;
	assert_int_equal(zt_stun_decode(&m, rfc5769_long_term, sizeof(rfc5769_long_term)), 0);
	assert_int_equal(m.cls, ZT_STUN_REQUEST);
	assert_memory_equal(m.tid, tid_5769_lt, ZT_STUN_TID_LEN);
	expect_text(&m, ZT_STUN_ATTR_USERNAME, LT_USERNAME);
	expect_text(&m, ZT_STUN_ATTR_NONCE, LT_NONCE);
	expect_text(&m, ZT_STUN_ATTR_REALM, LT_REALM);
	assert_int_equal(m.fp_off, 0);
	assert_int_equal(zt_stun_long_term_key(LT_USERNAME, LT_REALM, LT_PASSWORD, key), 0);
	assert_int_equal(zt_stun_check_integrity(&m, key, sizeof(key)), 0);
	/* the password itself is not the long-term key */
	assert_int_equal(zt_stun_check_integrity(&m, (const uint8_t *)LT_PASSWORD,
						 strlen(LT_PASSWORD)),
			 ZT_ESTUN_INTEGRITY);
	assert_int_equal(zt_stun_long_term_key(LT_USERNAME, LT_REALM, "TheMatrix", key), 0);
	assert_int_equal(zt_stun_check_integrity(&m, key, sizeof(key)), ZT_ESTUN_INTEGRITY);
}

static void rfc5769_long_term_encodes(void **state)
{
	uint8_t buf[200], key[ZT_STUN_LONG_TERM_KEY_LEN];
	struct zt_stun_builder b;

	(void)state;
	assert_int_equal(zt_stun_long_term_key(LT_USERNAME, LT_REALM, LT_PASSWORD, key), 0);
	zt_stun_build_init(&b, buf, sizeof(buf), ZT_STUN_BINDING, ZT_STUN_REQUEST, tid_5769_lt);
	zt_stun_put_str(&b, ZT_STUN_ATTR_USERNAME, LT_USERNAME);
	zt_stun_put_str(&b, ZT_STUN_ATTR_NONCE, LT_NONCE);
	zt_stun_put_str(&b, ZT_STUN_ATTR_REALM, LT_REALM);
	zt_stun_put_integrity(&b, key, sizeof(key));
	assert_int_equal(zt_stun_build_finish(&b), sizeof(rfc5769_long_term));
	assert_memory_equal(buf, rfc5769_long_term, sizeof(rfc5769_long_term));
}

static void rfc8489_sha256_vector(void **state)
{
	static const char creds[] = LT_USERNAME ":" LT_REALM ":" LT_PASSWORD;
	struct zt_stun_msg m;
	uint8_t key[32];

	(void)state;
	assert_int_equal(zt_stun_decode(&m, rfc8489_b1, sizeof(rfc8489_b1)), 0);
	assert_int_equal(m.n_unknown, 2);
	assert_int_equal(m.unknown[0], 0x001e); /* USERHASH */
	assert_int_equal(m.unknown[1], 0x001d); /* PASSWORD-ALGORITHM */
	assert_int_equal(zt_stun_check_known(&m), ZT_ESTUN_UNKNOWN_REQ);
	assert_true(m.mi256_off > 0);
	assert_int_equal(m.mi_off, 0);
	/* RFC 8489 s9.2.2: the SHA-256 key is SHA-256(username:realm:password) */
	assert_int_equal(gnutls_hash_fast(GNUTLS_DIG_SHA256, creds, strlen(creds), key), 0);
	assert_int_equal(zt_stun_check_integrity(&m, key, sizeof(key)), 0);
	key[0] ^= 1;
	assert_int_equal(zt_stun_check_integrity(&m, key, sizeof(key)), ZT_ESTUN_INTEGRITY);
}

static void looks_like_demux(void **state)
{
	uint8_t buf[sizeof(rfc5769_request)];

	(void)state;
	for (size_t i = 0; i < N_VECTORS; i++)
		assert_true(zt_stun_looks_like(vectors[i].buf, vectors[i].len));
	assert_false(zt_stun_looks_like(rfc5769_request, sizeof(rfc5769_request) - 4));
	assert_false(zt_stun_looks_like(rfc5769_request, 19));
	assert_false(zt_stun_looks_like(NULL, 0));
	memcpy(buf, rfc5769_request, sizeof(buf));
	buf[0] = 0x04; /* RFC 7983: 4..19 is not STUN */
	assert_false(zt_stun_looks_like(buf, sizeof(buf)));
	buf[0] = 0xc3; /* a QUIC long header */
	assert_false(zt_stun_looks_like(buf, sizeof(buf)));
	buf[0] = 0x40; /* a QUIC short header */
	assert_false(zt_stun_looks_like(buf, sizeof(buf)));
	buf[0] = 0x03;
	assert_true(zt_stun_looks_like(buf, sizeof(buf)));
	buf[7] ^= 1;
	assert_false(zt_stun_looks_like(buf, sizeof(buf)));
}

static void type_field_round_trip(void **state)
{
	uint16_t method;
	uint8_t cls;

	(void)state;
	/* RFC 8489 s6: Binding request 0x0001, success 0x0101, error 0x0111, indication 0x0011 */
	assert_int_equal(zt_stun_type(ZT_STUN_BINDING, ZT_STUN_REQUEST), 0x0001);
	assert_int_equal(zt_stun_type(ZT_STUN_BINDING, ZT_STUN_SUCCESS), 0x0101);
	assert_int_equal(zt_stun_type(ZT_STUN_BINDING, ZT_STUN_ERROR), 0x0111);
	assert_int_equal(zt_stun_type(ZT_STUN_BINDING, ZT_STUN_INDICATION), 0x0011);
	assert_int_equal(zt_stun_type(0xfff, ZT_STUN_ERROR), 0x3fff);
	for (unsigned mth = 0; mth <= 0xfff; mth++) {
		for (unsigned c = 0; c < 4; c++) {
			uint16_t t = zt_stun_type((uint16_t)mth, (enum zt_stun_class)c);

			assert_true(t < 0x4000);
			zt_stun_type_split(t, &method, &cls);
			assert_int_equal(method, mth);
			assert_int_equal(cls, c);
		}
	}
}

/* Every prefix of every vector is refused (and read inside its bounds: ASan). */
static void truncated_prefixes(void **state)
{
	struct zt_stun_msg m;

	(void)state;
	for (size_t i = 0; i < N_VECTORS; i++) {
		for (size_t n = 0; n < vectors[i].len; n++) {
			uint8_t *p = dup_exact(vectors[i].buf, n);
			int rc = zt_stun_decode(&m, p, n);

			if (rc != (n == 0 ? ZT_EZEROLEN : ZT_ETRUNC))
				fail_msg("%s prefix %zu: rc %d", vectors[i].name, n, rc);
			assert_false(zt_stun_looks_like(p, n));
			free(p);
		}
	}
}

/*
 * Prefixes whose header length is patched to match: cut between attributes they are
 * valid STUN (the RFC 5769 s2.1 request cut before FINGERPRINT still verifies,
 * because MESSAGE-INTEGRITY never covered FINGERPRINT); cut inside one they fail.
 */
static void truncated_with_consistent_length(void **state)
{
	struct zt_stun_msg m;
	int ok = 0;

	(void)state;
	for (size_t i = 0; i < N_VECTORS; i++) {
		for (size_t n = ZT_STUN_HDR_LEN; n < vectors[i].len; n += 4) {
			uint8_t *p = dup_exact(vectors[i].buf, n);
			int rc;

			p[2] = (uint8_t)((n - 20) >> 8);
			p[3] = (uint8_t)(n - 20);
			rc = zt_stun_decode(&m, p, n);
			if (rc != 0 && rc != ZT_ETRUNC)
				fail_msg("%s cut at %zu: rc %d", vectors[i].name, n, rc);
			if (rc == 0) {
				ok++;
				if (i == 0 && n == sizeof(rfc5769_request) - 8)
					assert_int_equal(zt_stun_check_short_term(
								 &m, USERNAME_5769, PASSWORD_5769),
							 0);
			}
			free(p);
		}
	}
	/* s2.1: 6 cuts at attribute boundaries, s2.2 and s2.3: 4, s2.4: 4, B.1: 5 */
	assert_int_equal(ok, 6 + 4 + 4 + 4 + 5);
}

static void oversized_and_trailing(void **state)
{
	struct zt_stun_msg m;
	struct zt_stun_builder b;
	uint8_t *big = calloc(1, ZT_STUN_MAX_LEN + 4);
	uint8_t *val = calloc(1, 65532);
	uint8_t buf[sizeof(rfc5769_request) + 4];

	(void)state;
	assert_non_null(big);
	assert_non_null(val);
	/* the largest message: one 65528-byte comprehension-optional attribute */
	zt_stun_build_init(&b, big, ZT_STUN_MAX_LEN + 4, ZT_STUN_BINDING, ZT_STUN_REQUEST,
			   tid_5769);
	zt_stun_put_raw(&b, 0xc000, val, 65528);
	assert_int_equal(zt_stun_build_finish(&b), ZT_STUN_MAX_LEN);
	assert_int_equal(zt_stun_decode(&m, big, ZT_STUN_MAX_LEN), 0);
	assert_int_equal(m.n_attrs, 1);
	assert_int_equal(m.attrs[0].len, 65528);
	/* one more byte of datagram than any STUN message can be */
	assert_int_equal(zt_stun_decode(&m, big, ZT_STUN_MAX_LEN + 1), ZT_ETOOBIG);
	/* the builder refuses to grow past the 16-bit length either */
	zt_stun_build_init(&b, big, ZT_STUN_MAX_LEN + 4, ZT_STUN_BINDING, ZT_STUN_REQUEST,
			   tid_5769);
	zt_stun_put_raw(&b, 0xc000, val, 65529);
	assert_int_equal(zt_stun_build_finish(&b), ZT_ETOOBIG);
	/* bytes after the declared length */
	memcpy(buf, rfc5769_request, sizeof(rfc5769_request));
	memset(buf + sizeof(rfc5769_request), 0, 4);
	assert_int_equal(zt_stun_decode(&m, buf, sizeof(buf)), ZT_EMALFORMED);
	assert_false(zt_stun_looks_like(buf, sizeof(buf)));
	free(big);
	free(val);
}

static void bad_header(void **state)
{
	uint8_t buf[sizeof(rfc5769_request)];
	struct zt_stun_msg m;

	(void)state;
	memcpy(buf, rfc5769_request, sizeof(buf));
	buf[4] = 0x21 ^ 0x80;
	assert_int_equal(zt_stun_decode(&m, buf, sizeof(buf)), ZT_ESTUN_COOKIE);
	assert_int_equal(zt_stun_decode_header(&m, buf, sizeof(buf)), ZT_ESTUN_COOKIE);
	memcpy(buf, rfc5769_request, sizeof(buf));
	buf[0] = 0x40;
	assert_int_equal(zt_stun_decode(&m, buf, sizeof(buf)), ZT_ESTUN_NOTSTUN);
	buf[0] = 0x80;
	assert_int_equal(zt_stun_decode(&m, buf, sizeof(buf)), ZT_ESTUN_NOTSTUN);
	memcpy(buf, rfc5769_request, sizeof(buf));
	buf[3] = 0x57; /* not a multiple of 4 */
	assert_int_equal(zt_stun_decode(&m, buf, sizeof(buf) - 1), ZT_ESTUN_NOTSTUN);
	memcpy(buf, rfc5769_request, sizeof(buf));
	buf[3] = 0x5c; /* claims 4 bytes more than the datagram holds */
	assert_int_equal(zt_stun_decode(&m, buf, sizeof(buf)), ZT_ETRUNC);
	assert_int_equal(zt_stun_decode(&m, buf, 0), ZT_EZEROLEN);
	/* header-only parse of a good vector */
	assert_int_equal(zt_stun_decode_header(&m, rfc5769_long_term, sizeof(rfc5769_long_term)),
			 0);
	assert_int_equal(m.n_attrs, 0);
	assert_memory_equal(m.tid, tid_5769_lt, ZT_STUN_TID_LEN);
}

/* A Binding request with one attribute (type, len) whose value is val (len bytes). */
static size_t one_attr(uint8_t *buf, uint16_t type, const uint8_t *val, size_t len)
{
	size_t padded = (len + 3) & ~(size_t)3;

	memcpy(buf, rfc5769_request, 20);
	buf[2] = (uint8_t)((4 + padded) >> 8);
	buf[3] = (uint8_t)(4 + padded);
	buf[20] = (uint8_t)(type >> 8);
	buf[21] = (uint8_t)type;
	buf[22] = (uint8_t)(len >> 8);
	buf[23] = (uint8_t)len;
	memset(buf + 24, 0, padded);
	if (len)
		memcpy(buf + 24, val, len);
	return 24 + padded;
}

static void wrong_length_attributes(void **state)
{
	static const uint8_t v4[20] = { 0, 1, 0x12, 0x34, 192, 0, 2, 1 };
	static const uint8_t v6[20] = { 0, 2, 0x12, 0x34, 0x20, 0x01, 0x0d, 0xb8 };
	static const uint8_t fam3[8] = { 0, 3, 0x12, 0x34, 1, 2, 3, 4 };
	static const uint8_t fam0[8] = { 0, 0, 0x12, 0x34, 1, 2, 3, 4 };
	static const uint8_t err400[8] = { 0, 0, 4, 0, 'B', 'a', 'd', '!' };
	static const uint8_t err700[4] = { 0, 0, 7, 0 };
	static const uint8_t err299[4] = { 0, 0, 2, 99 };
	static const uint8_t err4100[4] = { 0, 0, 4, 100 };
	static uint8_t zeros[800];
	static const struct {
		uint16_t type;
		const uint8_t *val;
		size_t len;
		int want;
	} cases[] = {
		{ ZT_STUN_ATTR_XOR_MAPPED_ADDRESS, v4, 8, 0 },
		{ ZT_STUN_ATTR_XOR_MAPPED_ADDRESS, v4, 7, ZT_ESTUN_ATTRLEN },
		{ ZT_STUN_ATTR_XOR_MAPPED_ADDRESS, v4, 9, ZT_ESTUN_ATTRLEN },
		{ ZT_STUN_ATTR_XOR_MAPPED_ADDRESS, v4, 20, ZT_ESTUN_ATTRLEN },
		{ ZT_STUN_ATTR_XOR_MAPPED_ADDRESS, v6, 20, 0 },
		{ ZT_STUN_ATTR_XOR_MAPPED_ADDRESS, v6, 8, ZT_ESTUN_ATTRLEN },
		{ ZT_STUN_ATTR_XOR_MAPPED_ADDRESS, v6, 3, ZT_ESTUN_ATTRLEN },
		{ ZT_STUN_ATTR_XOR_MAPPED_ADDRESS, v6, 0, ZT_ESTUN_ATTRLEN },
		{ ZT_STUN_ATTR_MAPPED_ADDRESS, fam3, 8, ZT_ESTUN_FAMILY },
		{ ZT_STUN_ATTR_RESPONSE_ORIGIN, fam0, 8, ZT_ESTUN_FAMILY },
		{ ZT_STUN_ATTR_OTHER_ADDRESS, v4, 3, ZT_ESTUN_ATTRLEN },
		{ ZT_STUN_ATTR_OTHER_ADDRESS, v6, 20, 0 },
		{ ZT_STUN_ATTR_PRIORITY, zeros, 4, 0 },
		{ ZT_STUN_ATTR_PRIORITY, zeros, 3, ZT_ESTUN_ATTRLEN },
		{ ZT_STUN_ATTR_PRIORITY, zeros, 5, ZT_ESTUN_ATTRLEN },
		{ ZT_STUN_ATTR_CHANGE_REQUEST, zeros, 8, ZT_ESTUN_ATTRLEN },
		{ ZT_STUN_ATTR_ICE_CONTROLLING, zeros, 4, ZT_ESTUN_ATTRLEN },
		{ ZT_STUN_ATTR_ICE_CONTROLLED, zeros, 12, ZT_ESTUN_ATTRLEN },
		{ ZT_STUN_ATTR_ICE_CONTROLLED, zeros, 8, 0 },
		{ ZT_STUN_ATTR_USE_CANDIDATE, zeros, 0, 0 },
		{ ZT_STUN_ATTR_USE_CANDIDATE, zeros, 4, ZT_ESTUN_ATTRLEN },
		{ ZT_STUN_ATTR_MESSAGE_INTEGRITY, zeros, 19, ZT_ESTUN_ATTRLEN },
		{ ZT_STUN_ATTR_MESSAGE_INTEGRITY, zeros, 32, ZT_ESTUN_ATTRLEN },
		{ ZT_STUN_ATTR_MESSAGE_INTEGRITY, zeros, 20, 0 },
		{ ZT_STUN_ATTR_MESSAGE_INTEGRITY_SHA256, zeros, 12, ZT_ESTUN_ATTRLEN },
		{ ZT_STUN_ATTR_MESSAGE_INTEGRITY_SHA256, zeros, 18, ZT_ESTUN_ATTRLEN },
		{ ZT_STUN_ATTR_MESSAGE_INTEGRITY_SHA256, zeros, 36, ZT_ESTUN_ATTRLEN },
		{ ZT_STUN_ATTR_MESSAGE_INTEGRITY_SHA256, zeros, 16, 0 },
		{ ZT_STUN_ATTR_MESSAGE_INTEGRITY_SHA256, zeros, 32, 0 },
		{ ZT_STUN_ATTR_FINGERPRINT, zeros, 3, ZT_ESTUN_ATTRLEN },
		{ ZT_STUN_ATTR_FINGERPRINT, zeros, 8, ZT_ESTUN_ATTRLEN },
		{ ZT_STUN_ATTR_USERNAME, zeros, 512, 0 },
		{ ZT_STUN_ATTR_USERNAME, zeros, 513, ZT_ESTUN_ATTRLEN },
		{ ZT_STUN_ATTR_SOFTWARE, zeros, 764, ZT_ESTUN_ATTRLEN },
		{ ZT_STUN_ATTR_REALM, zeros, 764, ZT_ESTUN_ATTRLEN },
		{ ZT_STUN_ATTR_NONCE, zeros, 764, ZT_ESTUN_ATTRLEN },
		{ ZT_STUN_ATTR_NONCE, zeros, 763, 0 },
		{ ZT_STUN_ATTR_ERROR_CODE, err400, 8, 0 },
		{ ZT_STUN_ATTR_ERROR_CODE, err400, 3, ZT_ESTUN_ATTRLEN },
		{ ZT_STUN_ATTR_ERROR_CODE, zeros, 4 + 764, ZT_ESTUN_ATTRLEN },
		{ ZT_STUN_ATTR_ERROR_CODE, err700, 4, ZT_EMALFORMED },
		{ ZT_STUN_ATTR_ERROR_CODE, err299, 4, ZT_EMALFORMED },
		{ ZT_STUN_ATTR_ERROR_CODE, err4100, 4, ZT_EMALFORMED },
		{ ZT_STUN_ATTR_UNKNOWN_ATTRIBUTES, zeros, 3, ZT_ESTUN_ATTRLEN },
		{ ZT_STUN_ATTR_UNKNOWN_ATTRIBUTES, zeros, 6, 0 },
		{ 0xc0de, zeros, 5, 0 }, /* unknown optional: any length */
	};
	uint8_t buf[24 + 800];
	struct zt_stun_msg m;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t n = one_attr(buf, cases[i].type, cases[i].val, cases[i].len);
		uint8_t *p = dup_exact(buf, n);
		int rc = zt_stun_decode(&m, p, n);

		if (rc != cases[i].want)
			fail_msg("case %zu (type 0x%04x len %zu): rc %d want %d", i, cases[i].type,
				 cases[i].len, rc, cases[i].want);
		free(p);
	}
}

static void attribute_overruns_message(void **state)
{
	uint8_t buf[32];
	struct zt_stun_msg m;
	size_t n = one_attr(buf, ZT_STUN_ATTR_PRIORITY, (const uint8_t *)"\0\0\0\1", 4);

	(void)state;
	buf[23] = 8; /* declares 8 value bytes, 4 present */
	assert_int_equal(zt_stun_decode(&m, buf, n), ZT_ETRUNC);
	buf[23] = 5; /* 5 plus padding is 8: also past the end */
	assert_int_equal(zt_stun_decode(&m, buf, n), ZT_ETRUNC);
	buf[22] = 0xff;
	buf[23] = 0xfc;
	assert_int_equal(zt_stun_decode(&m, buf, n), ZT_ETRUNC);
}

/* Recompute the FINGERPRINT of a message whose last attribute is FINGERPRINT. */
static void refix_fingerprint(uint8_t *p, size_t n)
{
	uint32_t crc = (uint32_t)crc32(0L, p, (uInt)(n - 8)) ^ ZT_STUN_FINGERPRINT_XOR;

	p[n - 4] = (uint8_t)(crc >> 24);
	p[n - 3] = (uint8_t)(crc >> 16);
	p[n - 2] = (uint8_t)(crc >> 8);
	p[n - 1] = (uint8_t)crc;
}

/* Flipping any bit pattern in any byte never yields a verified message. */
static void bad_integrity_every_byte(void **state)
{
	static const uint8_t flips[] = { 0x01, 0x80, 0xff };
	const size_t n = sizeof(rfc5769_request);
	const size_t mi_end = n - 8;
	struct zt_stun_msg m;
	uint8_t key[ZT_STUN_LONG_TERM_KEY_LEN];

	(void)state;
	assert_int_equal(zt_stun_long_term_key(LT_USERNAME, LT_REALM, LT_PASSWORD, key), 0);
	for (size_t f = 0; f < sizeof(flips); f++) {
		/* s2.4 has no FINGERPRINT: only MESSAGE-INTEGRITY stands in the way */
		for (size_t i = 0; i < sizeof(rfc5769_long_term); i++) {
			uint8_t *p = dup_exact(rfc5769_long_term, sizeof(rfc5769_long_term));
			int rc;

			p[i] ^= flips[f];
			rc = zt_stun_decode(&m, p, sizeof(rfc5769_long_term));
			if (rc == 0)
				rc = zt_stun_check_integrity(&m, key, sizeof(key));
			if (rc == 0)
				fail_msg("s2.4 byte %zu ^ 0x%02x verified", i, flips[f]);
			free(p);
		}
		/* s2.1 with the FINGERPRINT recomputed: MESSAGE-INTEGRITY must catch it */
		for (size_t i = 0; i < mi_end; i++) {
			uint8_t *p = dup_exact(rfc5769_request, n);
			int rc;

			p[i] ^= flips[f];
			refix_fingerprint(p, n);
			rc = zt_stun_decode(&m, p, n);
			if (rc == 0)
				rc = zt_stun_check_short_term(&m, USERNAME_5769, PASSWORD_5769);
			if (rc == 0)
				fail_msg("s2.1 byte %zu ^ 0x%02x verified", i, flips[f]);
			/* bytes of SOFTWARE, PRIORITY, ICE-CONTROLLED values and the MAC itself
			 * keep the structure: the failure must be the integrity check */
			if ((i >= 24 && i < 40) || (i >= 44 && i < 48) || (i >= 52 && i < 60) ||
			    (i >= 80 && i < 100))
				assert_int_equal(rc, ZT_ESTUN_INTEGRITY);
			free(p);
		}
	}
}

static void bad_fingerprint(void **state)
{
	const size_t n = sizeof(rfc5769_request);
	struct zt_stun_msg m;

	(void)state;
	for (size_t i = 0; i < n; i++) {
		uint8_t *p = dup_exact(rfc5769_request, n);
		int rc;

		p[i] ^= 0x10;
		rc = zt_stun_decode(&m, p, n);
		if (i == n - 8 || i == n - 7) {
			/* FINGERPRINT's type changed to an optional unknown one: a valid
			 * message without FINGERPRINT (that MESSAGE-INTEGRITY protects) */
			assert_int_equal(rc, 0);
			assert_int_equal(m.fp_off, 0);
			free(p);
			continue;
		}
		if (rc == 0)
			fail_msg("byte %zu ^ 0x10 decoded", i);
		/* any change to bytes that keep the structure shows as a CRC mismatch */
		if (i >= 24 && i < n - 8 && !(i >= 60 && i < 64) && !(i >= 76 && i < 80) &&
		    !(i >= 40 && i < 44) && !(i >= 48 && i < 52))
			assert_int_equal(rc, ZT_ESTUN_FINGERPRINT);
		if (i >= n - 4)
			assert_int_equal(rc, ZT_ESTUN_FINGERPRINT);
		free(p);
	}
}

static void unknown_required_gets_420(void **state)
{
	static const uint8_t junk[4] = { 1, 2, 3, 4 };
	uint8_t req[128], resp[128];
	struct zt_stun_builder b;
	struct zt_stun_msg m, r;
	uint16_t list[4];
	const char *reason;
	size_t reason_len;
	int n, code;

	(void)state;
	zt_stun_build_init(&b, req, sizeof(req), ZT_STUN_BINDING, ZT_STUN_REQUEST, tid_5769);
	zt_stun_put_u32(&b, ZT_STUN_ATTR_PRIORITY, 1);
	zt_stun_put_raw(&b, 0x7fff, junk, 4);
	zt_stun_put_raw(&b, 0xc001, junk, 3);  /* unknown optional: ignored */
	zt_stun_put_raw(&b, 0x0027, junk, 4);  /* RESPONSE-PORT (RFC 5780): not supported */
	zt_stun_put_fingerprint(&b);
	n = zt_stun_build_finish(&b);
	assert_true(n > 0);
	assert_int_equal(zt_stun_decode(&m, req, (size_t)n), 0);
	assert_int_equal(zt_stun_check_known(&m), ZT_ESTUN_UNKNOWN_REQ);
	assert_int_equal(m.n_unknown, 2);

	n = zt_stun_build_420(&m, resp, sizeof(resp));
	assert_int_equal(n, 20 + 4 + 4 + 20 + 4 + 4 + 8);
	assert_int_equal(zt_stun_decode(&r, resp, (size_t)n), 0);
	assert_int_equal(r.method, ZT_STUN_BINDING);
	assert_int_equal(r.cls, ZT_STUN_ERROR);
	assert_memory_equal(r.tid, tid_5769, ZT_STUN_TID_LEN);
	assert_true(r.fp_off > 0);
	assert_int_equal(zt_stun_get_error(&r, &code, &reason, &reason_len), 0);
	assert_int_equal(code, 420);
	assert_int_equal(reason_len, strlen("Unknown Attribute"));
	assert_memory_equal(reason, "Unknown Attribute", reason_len);
	assert_int_equal(zt_stun_get_unknown_list(&r, list, 4), 2);
	assert_int_equal(list[0], 0x7fff);
	assert_int_equal(list[1], 0x0027);
	/* a cap smaller than the list copies what fits and says how many there are */
	list[1] = 0;
	assert_int_equal(zt_stun_get_unknown_list(&r, list, 1), 2);
	assert_int_equal(list[1], 0);

	/* PADDING (RFC 5780 s7.6; core/ice.h's path-MTU probes) is known, any length */
	zt_stun_build_init(&b, req, sizeof(req), ZT_STUN_BINDING, ZT_STUN_REQUEST, tid_5769);
	zt_stun_put_u32(&b, ZT_STUN_ATTR_PRIORITY, 1);
	zt_stun_put_padding(&b, 37);
	zt_stun_put_fingerprint(&b);
	n = zt_stun_build_finish(&b);
	assert_int_equal(n, 20 + 8 + 4 + 40 + 8);
	assert_int_equal(zt_stun_decode(&m, req, (size_t)n), 0);
	assert_int_equal(zt_stun_check_known(&m), 0);
	assert_true(zt_stun_has(&m, ZT_STUN_ATTR_PADDING));

	/* no unknown attributes: no 420 */
	assert_int_equal(zt_stun_decode(&m, rfc5769_request, sizeof(rfc5769_request)), 0);
	assert_int_equal(zt_stun_build_420(&m, resp, sizeof(resp)), -EINVAL);
}

static void error_response(void **state)
{
	uint8_t resp[128];
	struct zt_stun_msg m, r;
	const char *reason;
	size_t reason_len;
	int n, code;

	(void)state;
	assert_int_equal(zt_stun_decode(&m, rfc5769_long_term, sizeof(rfc5769_long_term)), 0);
	n = zt_stun_build_error(&m, 400, NULL, resp, sizeof(resp));
	/* no FINGERPRINT in the request, none in the answer */
	assert_int_equal(n, 20 + 4 + 4 + 12);
	assert_int_equal(zt_stun_decode(&r, resp, (size_t)n), 0);
	assert_int_equal(r.cls, ZT_STUN_ERROR);
	assert_int_equal(r.fp_off, 0);
	assert_memory_equal(r.tid, tid_5769_lt, ZT_STUN_TID_LEN);
	assert_int_equal(zt_stun_get_error(&r, &code, &reason, &reason_len), 0);
	assert_int_equal(code, 400);
	assert_memory_equal(reason, "Bad Request", reason_len);

	n = zt_stun_build_error(&m, 699, "x", resp, sizeof(resp));
	assert_int_equal(zt_stun_decode(&r, resp, (size_t)n), 0);
	assert_int_equal(zt_stun_get_error(&r, &code, &reason, &reason_len), 0);
	assert_int_equal(code, 699);
	assert_int_equal(reason_len, 1);
	assert_int_equal(zt_stun_build_error(&m, 299, NULL, resp, sizeof(resp)), -EINVAL);
	assert_int_equal(zt_stun_build_error(&m, 700, NULL, resp, sizeof(resp)), -EINVAL);
	assert_int_equal(zt_stun_build_error(&m, 400, NULL, resp, 39), -ENOBUFS);
	assert_string_equal(zt_stun_error_reason(487), "Role Conflict");
}

static void ordering_rules(void **state)
{
	static const uint8_t key[] = "key";
	uint8_t buf[256];
	struct zt_stun_builder b;
	struct zt_stun_msg m;
	uint32_t v;
	int n;

	(void)state;
	/* Built by hand: the builder refuses these orders (see below). */
	zt_stun_build_init(&b, buf, sizeof(buf), ZT_STUN_BINDING, ZT_STUN_REQUEST, tid_5769);
	zt_stun_put_str(&b, ZT_STUN_ATTR_USERNAME, "u");
	zt_stun_put_integrity(&b, key, 3);
	n = zt_stun_build_finish(&b);
	assert_int_equal(n, 20 + 8 + 24);
	/* append PRIORITY and an unknown required attribute after MESSAGE-INTEGRITY */
	memcpy(buf + n, "\x00\x24\x00\x04\x00\x00\x00\x07\x7f\x00\x00\x00", 12);
	buf[3] = (uint8_t)(n + 12 - 20);
	assert_int_equal(zt_stun_decode(&m, buf, (size_t)n + 12), 0);
	assert_false(zt_stun_has(&m, ZT_STUN_ATTR_PRIORITY)); /* ignored, s14.5 */
	assert_int_equal(m.n_unknown, 0);
	assert_int_equal(zt_stun_get_u32(&m, ZT_STUN_ATTR_PRIORITY, &v), -ENOENT);
	/* MESSAGE-INTEGRITY covers only up to itself: still verifies */
	assert_int_equal(zt_stun_check_short_term(&m, "u", "key"), 0);

	/* anything after FINGERPRINT is refused */
	zt_stun_build_init(&b, buf, sizeof(buf), ZT_STUN_BINDING, ZT_STUN_REQUEST, tid_5769);
	zt_stun_put_fingerprint(&b);
	n = zt_stun_build_finish(&b);
	assert_int_equal(n, 28);
	memcpy(buf + n, "\x80\x22\x00\x00", 4);
	buf[3] = (uint8_t)(n + 4 - 20);
	assert_int_equal(zt_stun_decode(&m, buf, (size_t)n + 4), ZT_ESTUN_ORDER);

	/* the builder enforces the same rules */
	zt_stun_build_init(&b, buf, sizeof(buf), ZT_STUN_BINDING, ZT_STUN_REQUEST, tid_5769);
	zt_stun_put_integrity(&b, key, 3);
	zt_stun_put_u32(&b, ZT_STUN_ATTR_PRIORITY, 1);
	assert_int_equal(zt_stun_build_finish(&b), -EINVAL);
	zt_stun_build_init(&b, buf, sizeof(buf), ZT_STUN_BINDING, ZT_STUN_REQUEST, tid_5769);
	zt_stun_put_integrity_sha256(&b, key, 3);
	zt_stun_put_integrity(&b, key, 3);
	assert_int_equal(zt_stun_build_finish(&b), -EINVAL);
	zt_stun_build_init(&b, buf, sizeof(buf), ZT_STUN_BINDING, ZT_STUN_REQUEST, tid_5769);
	zt_stun_put_fingerprint(&b);
	zt_stun_put_fingerprint(&b);
	assert_int_equal(zt_stun_build_finish(&b), -EINVAL);
}

static void both_integrities(void **state)
{
	static const uint8_t k1[] = "sha1-key", k2[] = "sha256-key";
	uint8_t buf[256];
	struct zt_stun_builder b;
	struct zt_stun_msg m;
	int n;

	(void)state;
	zt_stun_build_init(&b, buf, sizeof(buf), ZT_STUN_BINDING, ZT_STUN_REQUEST, tid_5769);
	zt_stun_put_str(&b, ZT_STUN_ATTR_USERNAME, "user");
	zt_stun_put_integrity(&b, k1, sizeof(k1) - 1);
	zt_stun_put_integrity_sha256(&b, k2, sizeof(k2) - 1);
	zt_stun_put_fingerprint(&b);
	n = zt_stun_build_finish(&b);
	assert_int_equal(n, 20 + 8 + 24 + 36 + 8);
	assert_int_equal(zt_stun_decode(&m, buf, (size_t)n), 0);
	assert_int_equal(m.mi_off, 28);
	assert_int_equal(m.mi256_off, 52);
	/* SHA-256 is the one checked when both are present */
	assert_int_equal(zt_stun_check_integrity(&m, k2, sizeof(k2) - 1), 0);
	assert_int_equal(zt_stun_check_integrity(&m, k1, sizeof(k1) - 1), ZT_ESTUN_INTEGRITY);
	assert_int_equal(zt_stun_check_short_term(&m, "user", "sha256-key"), 0);
	/* no integrity at all */
	assert_int_equal(zt_stun_decode(&m, buf, 28), ZT_ETRUNC); /* header still says n */
	buf[3] = 8;
	assert_int_equal(zt_stun_decode(&m, buf, 28), 0);
	assert_int_equal(zt_stun_check_integrity(&m, k1, 3), ZT_ESTUN_NOINTEGRITY);
	assert_int_equal(zt_stun_check_short_term(&m, "user", "x"), ZT_ESTUN_NOINTEGRITY);
}

/* MESSAGE-INTEGRITY-SHA256 truncated to 16 bytes (RFC 8489 s14.6), MAC made here. */
static void truncated_sha256_integrity(void **state)
{
	static const char key[] = "k";
	uint8_t buf[64], mac[32];
	struct zt_stun_msg m;

	(void)state;
	memcpy(buf, rfc5769_request, 20);
	buf[2] = 0;
	buf[3] = 20;                         /* up to the end of the 16-byte MAC */
	memcpy(buf + 20, "\x00\x1c\x00\x10", 4);
	assert_int_equal(gnutls_hmac_fast(GNUTLS_MAC_SHA256, key, 1, buf, 20, mac), 0);
	memcpy(buf + 24, mac, 16);
	assert_int_equal(zt_stun_decode(&m, buf, 40), 0);
	assert_int_equal(zt_stun_check_integrity(&m, (const uint8_t *)key, 1), 0);
	buf[39] ^= 1;
	assert_int_equal(zt_stun_decode(&m, buf, 40), 0);
	assert_int_equal(zt_stun_check_integrity(&m, (const uint8_t *)key, 1), ZT_ESTUN_INTEGRITY);
}

static void too_many_attributes(void **state)
{
	uint8_t buf[20 + 33 * 8];
	struct zt_stun_builder b;
	struct zt_stun_msg m;
	int n;

	(void)state;
	zt_stun_build_init(&b, buf, sizeof(buf), ZT_STUN_BINDING, ZT_STUN_REQUEST, tid_5769);
	for (uint32_t i = 0; i < ZT_STUN_MAX_ATTRS; i++)
		zt_stun_put_u32(&b, ZT_STUN_ATTR_PRIORITY, i);
	n = zt_stun_build_finish(&b);
	assert_int_equal(zt_stun_decode(&m, buf, (size_t)n), 0);
	assert_int_equal(m.n_attrs, ZT_STUN_MAX_ATTRS);
	zt_stun_put_u32(&b, ZT_STUN_ATTR_PRIORITY, 99);
	n = zt_stun_build_finish(&b);
	assert_int_equal(n, sizeof(buf));
	assert_int_equal(zt_stun_decode(&m, buf, (size_t)n), ZT_ESTUN_TOOMANY);
}

/* Every output buffer shorter than the message fails with -ENOBUFS, in bounds. */
static void builder_small_buffers(void **state)
{
	(void)state;
	for (size_t cap = 0; cap < sizeof(rfc5769_request); cap++) {
		uint8_t *p = malloc(cap ? cap : 1);
		struct zt_stun_builder b;

		assert_non_null(p);
		zt_stun_build_init(&b, p, cap, ZT_STUN_BINDING, ZT_STUN_REQUEST, tid_5769);
		zt_stun_put_str(&b, ZT_STUN_ATTR_SOFTWARE, "STUN test client");
		zt_stun_put_u32(&b, ZT_STUN_ATTR_PRIORITY, 0x6e0001ff);
		zt_stun_put_u64(&b, ZT_STUN_ATTR_ICE_CONTROLLED, 0x932ff9b151263b36ULL);
		zt_stun_put_str(&b, ZT_STUN_ATTR_USERNAME, USERNAME_5769);
		zt_stun_put_integrity(&b, (const uint8_t *)PASSWORD_5769, strlen(PASSWORD_5769));
		zt_stun_put_fingerprint(&b);
		assert_int_equal(zt_stun_build_finish(&b), -ENOBUFS);
		free(p);
	}
}

static void address_attributes_round_trip(void **state)
{
	static const char *addrs[] = { "0.0.0.0:0", "255.255.255.255:65535", "10.1.2.3:4",
				       "[::]:1", "[fe80::1:2:3:4]:33333",
				       "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535" };
	static const uint16_t types[] = { ZT_STUN_ATTR_MAPPED_ADDRESS,
					  ZT_STUN_ATTR_XOR_MAPPED_ADDRESS,
					  ZT_STUN_ATTR_RESPONSE_ORIGIN, ZT_STUN_ATTR_OTHER_ADDRESS };

	(void)state;
	for (size_t i = 0; i < sizeof(addrs) / sizeof(addrs[0]); i++) {
		struct zt_addr a, got;
		struct zt_stun_builder b;
		struct zt_stun_msg m;
		uint8_t buf[128];
		int n;

		assert_int_equal(zt_addr_parse(&a, addrs[i], 0), 0);
		zt_stun_build_init(&b, buf, sizeof(buf), ZT_STUN_BINDING, ZT_STUN_SUCCESS,
				   tid_5769);
		for (size_t t = 0; t < 4; t++)
			zt_stun_put_addr(&b, types[t], &a);
		n = zt_stun_build_finish(&b);
		assert_int_equal(n, 20 + 4 * (a.family == AF_INET ? 12 : 24));
		assert_int_equal(zt_stun_decode(&m, buf, (size_t)n), 0);
		for (size_t t = 0; t < 4; t++) {
			assert_int_equal(zt_stun_get_addr(&m, types[t], &got), 0);
			assert_true(zt_addr_equal(&a, &got));
		}
		/* XOR-MAPPED-ADDRESS is not the plain encoding (the cookie is XORed in) */
		assert_memory_not_equal(buf + 24, buf + 24 + (a.family == AF_INET ? 12 : 24),
					a.family == AF_INET ? 8 : 20);
	}
}

static void getters_on_absent_and_mismatched(void **state)
{
	struct zt_stun_msg m;
	struct zt_addr a;
	uint32_t v32;
	uint64_t v64;
	const uint8_t *p;
	size_t n;
	int code;
	const char *r;
	uint16_t list[1];
	struct zt_stun_builder b;
	uint8_t buf[64];
	uint8_t key[16];
	char longs[ZT_STUN_MAX_TEXT + 2];

	(void)state;
	assert_int_equal(zt_stun_decode(&m, rfc5769_request, sizeof(rfc5769_request)), 0);
	assert_int_equal(zt_stun_get_addr(&m, ZT_STUN_ATTR_MAPPED_ADDRESS, &a), -ENOENT);
	assert_int_equal(zt_stun_get_u32(&m, ZT_STUN_ATTR_CHANGE_REQUEST, &v32), -ENOENT);
	assert_int_equal(zt_stun_get_u64(&m, ZT_STUN_ATTR_ICE_CONTROLLING, &v64), -ENOENT);
	assert_int_equal(zt_stun_get_bytes(&m, ZT_STUN_ATTR_REALM, &p, &n), -ENOENT);
	assert_int_equal(zt_stun_get_error(&m, &code, &r, &n), -ENOENT);
	assert_int_equal(zt_stun_get_unknown_list(&m, list, 1), -ENOENT);
	/* a getter of the wrong width on a present attribute */
	assert_int_equal(zt_stun_get_u32(&m, ZT_STUN_ATTR_ICE_CONTROLLED, &v32),
			 ZT_ESTUN_ATTRLEN);
	assert_int_equal(zt_stun_get_u64(&m, ZT_STUN_ATTR_PRIORITY, &v64), ZT_ESTUN_ATTRLEN);
	assert_int_equal(zt_stun_get_addr(&m, ZT_STUN_ATTR_SOFTWARE, &a), ZT_ESTUN_FAMILY);

	/* builder argument errors */
	zt_stun_build_init(&b, buf, sizeof(buf), 0x1000, ZT_STUN_REQUEST, tid_5769);
	assert_int_equal(zt_stun_build_finish(&b), -EINVAL);
	zt_stun_build_init(&b, buf, sizeof(buf), ZT_STUN_BINDING, ZT_STUN_REQUEST, tid_5769);
	a = (struct zt_addr){ 0 };
	zt_stun_put_addr(&b, ZT_STUN_ATTR_MAPPED_ADDRESS, &a);
	assert_int_equal(zt_stun_build_finish(&b), -EINVAL);
	zt_stun_build_init(&b, buf, sizeof(buf), ZT_STUN_BINDING, ZT_STUN_REQUEST, tid_5769);
	zt_stun_put_unknown_list(&b, list, 0);
	assert_int_equal(zt_stun_build_finish(&b), -EINVAL);
	memset(longs, 'a', sizeof(longs) - 1);
	longs[sizeof(longs) - 1] = '\0';
	assert_int_equal(zt_stun_long_term_key(longs, "r", "p", key), -EINVAL);
	assert_int_equal(zt_stun_long_term_key("u", longs, "p", key), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(rfc5769_request_decodes),
		cmocka_unit_test(rfc5769_request_encodes),
		cmocka_unit_test(rfc5769_ipv4_response),
		cmocka_unit_test(rfc5769_ipv6_response),
		cmocka_unit_test(rfc5769_long_term_decodes),
		cmocka_unit_test(rfc5769_long_term_encodes),
		cmocka_unit_test(rfc8489_sha256_vector),
		cmocka_unit_test(looks_like_demux),
		cmocka_unit_test(type_field_round_trip),
		cmocka_unit_test(truncated_prefixes),
		cmocka_unit_test(truncated_with_consistent_length),
		cmocka_unit_test(oversized_and_trailing),
		cmocka_unit_test(bad_header),
		cmocka_unit_test(wrong_length_attributes),
		cmocka_unit_test(attribute_overruns_message),
		cmocka_unit_test(bad_integrity_every_byte),
		cmocka_unit_test(bad_fingerprint),
		cmocka_unit_test(unknown_required_gets_420),
		cmocka_unit_test(error_response),
		cmocka_unit_test(ordering_rules),
		cmocka_unit_test(both_integrities),
		cmocka_unit_test(truncated_sha256_integrity),
		cmocka_unit_test(too_many_attributes),
		cmocka_unit_test(builder_small_buffers),
		cmocka_unit_test(address_attributes_round_trip),
		cmocka_unit_test(getters_on_absent_and_mismatched),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
