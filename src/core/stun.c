#include <errno.h>
#include <string.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <zlib.h>

#include "core/stun.h"

static inline uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline size_t pad4(size_t n)
{
	return (n + 3) & ~(size_t)3;
}

bool zt_stun_looks_like(const uint8_t *buf, size_t len)
{
	/* RFC 7983 s7: STUN occupies first-byte values 0-3 on a multiplexed socket. */
	if (len < ZT_STUN_HDR_LEN || buf[0] > 3)
		return false;
	if (get32(buf + 4) != ZT_STUN_COOKIE)
		return false;
	return get16(buf + 2) % 4 == 0 && (size_t)get16(buf + 2) + ZT_STUN_HDR_LEN == len;
}

uint16_t zt_stun_type(uint16_t method, enum zt_stun_class cls)
{
	/* RFC 8489 s5: M11..M7 C1 M6..M4 C0 M3..M0 */
	return (uint16_t)((method & 0x000f) | (method & 0x0070) << 1 | (method & 0x0f80) << 2 |
			  (cls & 1) << 4 | (cls & 2) << 7);
}

void zt_stun_type_split(uint16_t type, uint16_t *ret_method, uint8_t *ret_cls)
{
	*ret_method = (uint16_t)((type & 0x000f) | (type & 0x00e0) >> 1 | (type & 0x3e00) >> 2);
	*ret_cls = (uint8_t)((type >> 4 & 1) | (type >> 7 & 2));
}

int zt_stun_decode_header(struct zt_stun_msg *ret, const uint8_t *buf, size_t len)
{
	size_t body;

	if (len == 0)
		return ZT_EZEROLEN;
	if (len > ZT_STUN_MAX_LEN)
		return ZT_ETOOBIG;
	/* RFC 8489 s5: the two most significant bits are zero. */
	if (buf[0] & 0xc0)
		return ZT_ESTUN_NOTSTUN;
	if (len < ZT_STUN_HDR_LEN)
		return ZT_ETRUNC;
	if (get32(buf + 4) != ZT_STUN_COOKIE)
		return ZT_ESTUN_COOKIE;
	body = get16(buf + 2);
	if (body % 4)
		return ZT_ESTUN_NOTSTUN;
	if (ZT_STUN_HDR_LEN + body > len)
		return ZT_ETRUNC;
	if (ZT_STUN_HDR_LEN + body < len)
		return ZT_EMALFORMED;

	memset(ret, 0, sizeof(*ret));
	ret->buf = buf;
	ret->len = len;
	zt_stun_type_split(get16(buf), &ret->method, &ret->cls);
	memcpy(ret->tid, buf + 8, ZT_STUN_TID_LEN);
	return 0;
}

static int check_addr_value(const uint8_t *v, size_t len)
{
	if (len < 4)
		return ZT_ESTUN_ATTRLEN;
	switch (v[1]) {
	case 1:
		return len == 8 ? 0 : ZT_ESTUN_ATTRLEN;
	case 2:
		return len == 20 ? 0 : ZT_ESTUN_ATTRLEN;
	default:
		return ZT_ESTUN_FAMILY;
	}
}

/* Length and value rules of the attributes this module knows; 1 for unknown types. */
static int check_attr(uint16_t type, const uint8_t *v, size_t len)
{
	switch (type) {
	case ZT_STUN_ATTR_MAPPED_ADDRESS:
	case ZT_STUN_ATTR_XOR_MAPPED_ADDRESS:
	case ZT_STUN_ATTR_RESPONSE_ORIGIN:
	case ZT_STUN_ATTR_OTHER_ADDRESS:
		return check_addr_value(v, len);
	case ZT_STUN_ATTR_CHANGE_REQUEST:
	case ZT_STUN_ATTR_PRIORITY:
	case ZT_STUN_ATTR_FINGERPRINT:
		return len == 4 ? 0 : ZT_ESTUN_ATTRLEN;
	case ZT_STUN_ATTR_ICE_CONTROLLED:
	case ZT_STUN_ATTR_ICE_CONTROLLING:
		return len == 8 ? 0 : ZT_ESTUN_ATTRLEN;
	case ZT_STUN_ATTR_USE_CANDIDATE:
		return len == 0 ? 0 : ZT_ESTUN_ATTRLEN;
	case ZT_STUN_ATTR_MESSAGE_INTEGRITY:
		return len == ZT_STUN_HMAC_SHA1_LEN ? 0 : ZT_ESTUN_ATTRLEN;
	case ZT_STUN_ATTR_MESSAGE_INTEGRITY_SHA256:
		/* RFC 8489 s14.6: 16 to 32 bytes, a multiple of 4 (truncation allowed). */
		return len >= 16 && len <= 32 && len % 4 == 0 ? 0 : ZT_ESTUN_ATTRLEN;
	case ZT_STUN_ATTR_USERNAME:
		return len <= ZT_STUN_MAX_USERNAME ? 0 : ZT_ESTUN_ATTRLEN;
	case ZT_STUN_ATTR_REALM:
	case ZT_STUN_ATTR_NONCE:
	case ZT_STUN_ATTR_SOFTWARE:
		return len <= ZT_STUN_MAX_TEXT ? 0 : ZT_ESTUN_ATTRLEN;
	case ZT_STUN_ATTR_ERROR_CODE:
		if (len < 4 || len - 4 > ZT_STUN_MAX_TEXT)
			return ZT_ESTUN_ATTRLEN;
		/* RFC 8489 s14.8: class 3-6, number 0-99 */
		if ((v[2] & 7) < 3 || (v[2] & 7) > 6 || v[3] > 99)
			return ZT_EMALFORMED;
		return 0;
	case ZT_STUN_ATTR_UNKNOWN_ATTRIBUTES:
		return len % 2 == 0 ? 0 : ZT_ESTUN_ATTRLEN;
	case ZT_STUN_ATTR_PADDING:
		return 0; /* RFC 5780 s7.6: any content */
	default:
		return 1;
	}
}

static int check_fingerprint(const struct zt_stun_msg *m)
{
	uint32_t crc = (uint32_t)crc32(0L, m->buf, (uInt)m->fp_off);

	if ((crc ^ ZT_STUN_FINGERPRINT_XOR) != get32(m->buf + m->fp_off + 4))
		return ZT_ESTUN_FINGERPRINT;
	return 0;
}

int zt_stun_decode(struct zt_stun_msg *ret, const uint8_t *buf, size_t len)
{
	struct zt_stun_msg m;
	size_t off = ZT_STUN_HDR_LEN;
	int rc;

	rc = zt_stun_decode_header(&m, buf, len);
	if (rc < 0)
		return rc;

	while (off < len) {
		uint16_t type, alen;
		const uint8_t *v;

		if (len - off < 4)
			return ZT_ETRUNC;
		type = get16(buf + off);
		alen = get16(buf + off + 2);
		if (pad4(alen) > len - off - 4)
			return ZT_ETRUNC;
		v = buf + off + 4;
		/* RFC 8489 s14.7: FINGERPRINT is last. */
		if (m.fp_off)
			return ZT_ESTUN_ORDER;
		/* RFC 8489 s14.5, s14.6: what follows the integrity attributes is ignored. */
		if ((m.mi256_off && type != ZT_STUN_ATTR_FINGERPRINT) ||
		    (m.mi_off && type != ZT_STUN_ATTR_MESSAGE_INTEGRITY_SHA256 &&
		     type != ZT_STUN_ATTR_FINGERPRINT)) {
			off += 4 + pad4(alen);
			continue;
		}
		rc = check_attr(type, v, alen);
		if (rc < 0)
			return rc;
		if (m.n_attrs == ZT_STUN_MAX_ATTRS)
			return ZT_ESTUN_TOOMANY;
		m.attrs[m.n_attrs++] = (struct zt_stun_attr){
			.type = type, .len = alen, .off = (uint32_t)(off + 4),
		};
		if (rc == 1 && zt_stun_attr_required(type))
			m.unknown[m.n_unknown++] = type;
		if (type == ZT_STUN_ATTR_MESSAGE_INTEGRITY)
			m.mi_off = (uint32_t)off;
		else if (type == ZT_STUN_ATTR_MESSAGE_INTEGRITY_SHA256)
			m.mi256_off = (uint32_t)off;
		else if (type == ZT_STUN_ATTR_FINGERPRINT)
			m.fp_off = (uint32_t)off;
		off += 4 + pad4(alen);
	}
	if (m.fp_off) {
		rc = check_fingerprint(&m);
		if (rc < 0)
			return rc;
	}
	*ret = m;
	return 0;
}

int zt_stun_check_known(const struct zt_stun_msg *m)
{
	return m->n_unknown ? ZT_ESTUN_UNKNOWN_REQ : 0;
}

const struct zt_stun_attr *zt_stun_find(const struct zt_stun_msg *m, uint16_t type)
{
	for (unsigned i = 0; i < m->n_attrs; i++)
		if (m->attrs[i].type == type)
			return &m->attrs[i];
	return NULL;
}

int zt_stun_get_addr(const struct zt_stun_msg *m, uint16_t type, struct zt_addr *ret)
{
	const struct zt_stun_attr *a = zt_stun_find(m, type);
	const uint8_t *v;
	uint8_t ip[16], mask[16];
	uint16_t port;
	size_t n;
	int rc;

	if (!a)
		return -ENOENT;
	v = m->buf + a->off;
	rc = check_addr_value(v, a->len);
	if (rc < 0)
		return rc;
	n = a->len - 4;
	port = get16(v + 2);
	memcpy(ip, v + 4, n);
	if (type == ZT_STUN_ATTR_XOR_MAPPED_ADDRESS) {
		/* RFC 8489 s14.2: XOR with the cookie, then (IPv6) the transaction ID. */
		mask[0] = ZT_STUN_COOKIE >> 24;
		mask[1] = ZT_STUN_COOKIE >> 16 & 0xff;
		mask[2] = ZT_STUN_COOKIE >> 8 & 0xff;
		mask[3] = ZT_STUN_COOKIE & 0xff;
		memcpy(mask + 4, m->tid, ZT_STUN_TID_LEN);
		port ^= ZT_STUN_COOKIE >> 16;
		for (size_t i = 0; i < n; i++)
			ip[i] ^= mask[i];
	}
	if (n == 4)
		zt_addr_set_v4(ret, ip, port);
	else
		zt_addr_set_v6(ret, ip, port);
	return 0;
}

int zt_stun_get_u32(const struct zt_stun_msg *m, uint16_t type, uint32_t *ret)
{
	const struct zt_stun_attr *a = zt_stun_find(m, type);

	if (!a)
		return -ENOENT;
	if (a->len != 4)
		return ZT_ESTUN_ATTRLEN;
	*ret = get32(m->buf + a->off);
	return 0;
}

int zt_stun_get_u64(const struct zt_stun_msg *m, uint16_t type, uint64_t *ret)
{
	const struct zt_stun_attr *a = zt_stun_find(m, type);

	if (!a)
		return -ENOENT;
	if (a->len != 8)
		return ZT_ESTUN_ATTRLEN;
	*ret = (uint64_t)get32(m->buf + a->off) << 32 | get32(m->buf + a->off + 4);
	return 0;
}

int zt_stun_get_bytes(const struct zt_stun_msg *m, uint16_t type, const uint8_t **ret,
		      size_t *ret_len)
{
	const struct zt_stun_attr *a = zt_stun_find(m, type);

	if (!a)
		return -ENOENT;
	*ret = m->buf + a->off;
	*ret_len = a->len;
	return 0;
}

int zt_stun_get_error(const struct zt_stun_msg *m, int *ret_code, const char **ret_reason,
		      size_t *ret_reason_len)
{
	const struct zt_stun_attr *a = zt_stun_find(m, ZT_STUN_ATTR_ERROR_CODE);
	const uint8_t *v;

	if (!a)
		return -ENOENT;
	v = m->buf + a->off;
	*ret_code = (v[2] & 7) * 100 + v[3];
	*ret_reason = (const char *)v + 4;
	*ret_reason_len = a->len - 4u;
	return 0;
}

int zt_stun_get_unknown_list(const struct zt_stun_msg *m, uint16_t *types, size_t cap)
{
	const struct zt_stun_attr *a = zt_stun_find(m, ZT_STUN_ATTR_UNKNOWN_ATTRIBUTES);
	size_t n;

	if (!a)
		return -ENOENT;
	n = a->len / 2u;
	for (size_t i = 0; i < n && i < cap; i++)
		types[i] = get16(m->buf + a->off + 2 * i);
	return (int)n;
}

/* HMAC over a header copy whose length field is hdr_len, then body bytes 20..end. */
static int stun_hmac(gnutls_mac_algorithm_t alg, const uint8_t *key, size_t key_len,
		     const uint8_t *buf, size_t end, uint16_t hdr_len, uint8_t *out)
{
	gnutls_hmac_hd_t h;
	uint8_t hdr[ZT_STUN_HDR_LEN];

	memcpy(hdr, buf, ZT_STUN_HDR_LEN);
	hdr[2] = (uint8_t)(hdr_len >> 8);
	hdr[3] = (uint8_t)hdr_len;
	if (gnutls_hmac_init(&h, alg, key, key_len) < 0)
		return ZT_ETLS;
	if (gnutls_hmac(h, hdr, sizeof(hdr)) < 0 ||
	    gnutls_hmac(h, buf + ZT_STUN_HDR_LEN, end - ZT_STUN_HDR_LEN) < 0) {
		gnutls_hmac_deinit(h, NULL);
		return ZT_ETLS;
	}
	gnutls_hmac_deinit(h, out);
	return 0;
}

static bool equal_ct(const uint8_t *a, const uint8_t *b, size_t n)
{
	uint8_t d = 0;

	for (size_t i = 0; i < n; i++)
		d |= a[i] ^ b[i];
	return d == 0;
}

int zt_stun_check_integrity(const struct zt_stun_msg *m, const uint8_t *key, size_t key_len)
{
	uint8_t mac[ZT_STUN_HMAC_SHA256_LEN];
	gnutls_mac_algorithm_t alg;
	uint32_t at;
	uint16_t alen;
	int rc;

	/* RFC 8489 s9.1.3: prefer MESSAGE-INTEGRITY-SHA256 when both are present. */
	if (m->mi256_off) {
		at = m->mi256_off;
		alg = GNUTLS_MAC_SHA256;
	} else if (m->mi_off) {
		at = m->mi_off;
		alg = GNUTLS_MAC_SHA1;
	} else {
		return ZT_ESTUN_NOINTEGRITY;
	}
	alen = get16(m->buf + at + 2);
	/* The length field counts up to the end of the integrity attribute (s14.5). */
	rc = stun_hmac(alg, key, key_len, m->buf, at,
		       (uint16_t)(at + 4 + alen - ZT_STUN_HDR_LEN), mac);
	if (rc < 0)
		return rc;
	return equal_ct(mac, m->buf + at + 4, alen) ? 0 : ZT_ESTUN_INTEGRITY;
}

int zt_stun_check_short_term(const struct zt_stun_msg *m, const char *username,
			     const char *password)
{
	const uint8_t *u;
	size_t ulen;

	if (!m->mi_off && !m->mi256_off)
		return ZT_ESTUN_NOINTEGRITY;
	if (zt_stun_get_bytes(m, ZT_STUN_ATTR_USERNAME, &u, &ulen) < 0 ||
	    ulen != strlen(username) || memcmp(u, username, ulen) != 0)
		return ZT_ESTUN_USERNAME;
	return zt_stun_check_integrity(m, (const uint8_t *)password, strlen(password));
}

int zt_stun_long_term_key(const char *username, const char *realm, const char *password,
			  uint8_t key[ZT_STUN_LONG_TERM_KEY_LEN])
{
	char buf[3 * ZT_STUN_MAX_TEXT + 2];
	size_t ul = strlen(username), rl = strlen(realm), pl = strlen(password);

	if (ul > ZT_STUN_MAX_TEXT || rl > ZT_STUN_MAX_TEXT || pl > ZT_STUN_MAX_TEXT)
		return -EINVAL;
	memcpy(buf, username, ul);
	buf[ul] = ':';
	memcpy(buf + ul + 1, realm, rl);
	buf[ul + 1 + rl] = ':';
	memcpy(buf + ul + rl + 2, password, pl);
	if (gnutls_hash_fast(GNUTLS_DIG_MD5, buf, ul + rl + pl + 2, key) < 0)
		return ZT_ETLS;
	return 0;
}

/* ---- Encoding ---- */

static void build_fail(struct zt_stun_builder *b, int err)
{
	if (!b->w.err)
		b->w.err = err;
}

void zt_stun_build_init(struct zt_stun_builder *b, uint8_t *buf, size_t cap, uint16_t method,
			enum zt_stun_class cls, const uint8_t tid[ZT_STUN_TID_LEN])
{
	*b = (struct zt_stun_builder){ .w = zt_wr_init(buf, cap) };
	memcpy(b->tid, tid, ZT_STUN_TID_LEN);
	if (method > 0xfff || (unsigned)cls > 3) {
		build_fail(b, -EINVAL);
		return;
	}
	zt_wr_u16(&b->w, zt_stun_type(method, cls));
	zt_wr_u16(&b->w, 0);
	zt_wr_u32(&b->w, ZT_STUN_COOKIE);
	zt_wr_bytes(&b->w, tid, ZT_STUN_TID_LEN);
}

/*
 * Appends an attribute header and room for len value bytes plus padding, updates the
 * header length, and returns where the value goes (NULL on error).
 */
static uint8_t *put_attr(struct zt_stun_builder *b, uint16_t type, size_t len)
{
	uint8_t *at;
	size_t total;

	if (b->w.err)
		return NULL;
	if (len > 0xffff || b->after_fp ||
	    (b->after_mi256 && type != ZT_STUN_ATTR_FINGERPRINT) ||
	    (b->after_mi && type != ZT_STUN_ATTR_MESSAGE_INTEGRITY_SHA256 &&
	     type != ZT_STUN_ATTR_FINGERPRINT)) {
		build_fail(b, -EINVAL);
		return NULL;
	}
	if (b->w.off + 4 + pad4(len) > ZT_STUN_MAX_LEN) {
		build_fail(b, ZT_ETOOBIG);
		return NULL;
	}
	zt_wr_u16(&b->w, type);
	zt_wr_u16(&b->w, (uint16_t)len);
	at = zt_wr_reserve(&b->w, pad4(len));
	if (!at)
		return NULL;
	memset(at + len, b->pad, pad4(len) - len);
	total = b->w.off - ZT_STUN_HDR_LEN;
	zt_wr_patch_u16(&b->w, 2, (uint16_t)total);
	return at;
}

void zt_stun_put_raw(struct zt_stun_builder *b, uint16_t type, const void *val, size_t len)
{
	uint8_t *at = put_attr(b, type, len);

	if (at && len)
		memcpy(at, val, len);
}

void zt_stun_put_padding(struct zt_stun_builder *b, size_t len)
{
	uint8_t *at = put_attr(b, ZT_STUN_ATTR_PADDING, len);

	if (at)
		memset(at, 0, len);
}

void zt_stun_put_u32(struct zt_stun_builder *b, uint16_t type, uint32_t v)
{
	uint8_t *at = put_attr(b, type, 4);

	if (at) {
		at[0] = (uint8_t)(v >> 24);
		at[1] = (uint8_t)(v >> 16);
		at[2] = (uint8_t)(v >> 8);
		at[3] = (uint8_t)v;
	}
}

void zt_stun_put_u64(struct zt_stun_builder *b, uint16_t type, uint64_t v)
{
	uint8_t *at = put_attr(b, type, 8);

	for (int i = 0; at && i < 8; i++)
		at[i] = (uint8_t)(v >> (56 - 8 * i));
}

void zt_stun_put_addr(struct zt_stun_builder *b, uint16_t type, const struct zt_addr *a)
{
	size_t n;
	uint16_t port = a->port;
	uint8_t *at;

	if (a->family == AF_INET) {
		n = 4;
	} else if (a->family == AF_INET6) {
		n = 16;
	} else {
		build_fail(b, -EINVAL);
		return;
	}
	at = put_attr(b, type, 4 + n);
	if (!at)
		return;
	memcpy(at + 4, a->ip, n);
	if (type == ZT_STUN_ATTR_XOR_MAPPED_ADDRESS) {
		uint8_t mask[16] = {
			ZT_STUN_COOKIE >> 24, ZT_STUN_COOKIE >> 16 & 0xff,
			ZT_STUN_COOKIE >> 8 & 0xff, ZT_STUN_COOKIE & 0xff,
		};

		memcpy(mask + 4, b->tid, ZT_STUN_TID_LEN);
		port ^= ZT_STUN_COOKIE >> 16;
		for (size_t i = 0; i < n; i++)
			at[4 + i] ^= mask[i];
	}
	at[0] = 0;
	at[1] = n == 4 ? 1 : 2;
	at[2] = (uint8_t)(port >> 8);
	at[3] = (uint8_t)port;
}

const char *zt_stun_error_reason(int code)
{
	switch (code) {
	case 300: return "Try Alternate";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 420: return "Unknown Attribute";
	case 438: return "Stale Nonce";
	case 487: return "Role Conflict";
	case 500: return "Server Error";
	default: return "Error";
	}
}

void zt_stun_put_error(struct zt_stun_builder *b, int code, const char *reason)
{
	size_t rl;
	uint8_t *at;

	if (code < 300 || code > 699) {
		build_fail(b, -EINVAL);
		return;
	}
	if (!reason)
		reason = zt_stun_error_reason(code);
	rl = strlen(reason);
	if (rl > ZT_STUN_MAX_TEXT) {
		build_fail(b, -EINVAL);
		return;
	}
	at = put_attr(b, ZT_STUN_ATTR_ERROR_CODE, 4 + rl);
	if (!at)
		return;
	at[0] = 0;
	at[1] = 0;
	at[2] = (uint8_t)(code / 100);
	at[3] = (uint8_t)(code % 100);
	memcpy(at + 4, reason, rl);
}

void zt_stun_put_unknown_list(struct zt_stun_builder *b, const uint16_t *types, size_t n)
{
	uint8_t *at;

	if (n == 0 || n > 0x7fff) {
		build_fail(b, -EINVAL);
		return;
	}
	at = put_attr(b, ZT_STUN_ATTR_UNKNOWN_ATTRIBUTES, 2 * n);
	for (size_t i = 0; at && i < n; i++) {
		at[2 * i] = (uint8_t)(types[i] >> 8);
		at[2 * i + 1] = (uint8_t)types[i];
	}
}

static void put_mac(struct zt_stun_builder *b, uint16_t type, gnutls_mac_algorithm_t alg,
		    size_t mac_len, const uint8_t *key, size_t key_len)
{
	size_t start = b->w.off;
	uint8_t *at = put_attr(b, type, mac_len);

	if (!at)
		return;
	/* The header length already counts this attribute, as s14.5/s14.6 require. */
	if (gnutls_hmac_fast(alg, key, key_len, b->w.p, start, at) < 0)
		build_fail(b, ZT_ETLS);
}

void zt_stun_put_integrity(struct zt_stun_builder *b, const uint8_t *key, size_t key_len)
{
	put_mac(b, ZT_STUN_ATTR_MESSAGE_INTEGRITY, GNUTLS_MAC_SHA1, ZT_STUN_HMAC_SHA1_LEN, key,
		key_len);
	b->after_mi = true;
}

void zt_stun_put_integrity_sha256(struct zt_stun_builder *b, const uint8_t *key,
				  size_t key_len)
{
	put_mac(b, ZT_STUN_ATTR_MESSAGE_INTEGRITY_SHA256, GNUTLS_MAC_SHA256,
		ZT_STUN_HMAC_SHA256_LEN, key, key_len);
	b->after_mi256 = true;
}

void zt_stun_put_fingerprint(struct zt_stun_builder *b)
{
	size_t start = b->w.off;
	uint8_t *at = put_attr(b, ZT_STUN_ATTR_FINGERPRINT, 4);
	uint32_t crc;

	b->after_fp = true;
	if (!at)
		return;
	/* RFC 8489 s14.7: CRC-32 of everything before the attribute, XOR 0x5354554e. */
	crc = (uint32_t)crc32(0L, b->w.p, (uInt)start) ^ ZT_STUN_FINGERPRINT_XOR;
	at[0] = (uint8_t)(crc >> 24);
	at[1] = (uint8_t)(crc >> 16);
	at[2] = (uint8_t)(crc >> 8);
	at[3] = (uint8_t)crc;
}

int zt_stun_build_finish(const struct zt_stun_builder *b)
{
	return zt_wr_finish(&b->w);
}

int zt_stun_build_error(const struct zt_stun_msg *m, int code, const char *reason,
			uint8_t *buf, size_t cap)
{
	struct zt_stun_builder b;

	zt_stun_build_init(&b, buf, cap, m->method, ZT_STUN_ERROR, m->tid);
	zt_stun_put_error(&b, code, reason);
	if (m->fp_off)
		zt_stun_put_fingerprint(&b);
	return zt_stun_build_finish(&b);
}

int zt_stun_build_420(const struct zt_stun_msg *m, uint8_t *buf, size_t cap)
{
	struct zt_stun_builder b;

	if (m->n_unknown == 0)
		return -EINVAL;
	zt_stun_build_init(&b, buf, cap, m->method, ZT_STUN_ERROR, m->tid);
	zt_stun_put_error(&b, ZT_STUN_ERR_UNKNOWN_ATTRIBUTE, NULL);
	zt_stun_put_unknown_list(&b, m->unknown, m->n_unknown);
	if (m->fp_off)
		zt_stun_put_fingerprint(&b);
	return zt_stun_build_finish(&b);
}
