#include "core/polrec.h"

#include <errno.h>
#include <string.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

#include "core/err.h"
#include "core/wire.h"

static const uint8_t MAGIC[4] = { 'Z', 'T', 'P', 'P' };
#define VERSION 1
#define VERSION_SIGNED 2
static const char LABEL[] = "ztna policy record v1";

/* The AEAD under HMAC-SHA256(key, LABEL). Returns 0 or ZT_ETLS. */
static int aead(const uint8_t *key, size_t key_len, gnutls_aead_cipher_hd_t *h)
{
	uint8_t k[32];
	gnutls_datum_t d = { .data = k, .size = sizeof(k) };
	int rc = 0;

	if (gnutls_hmac_fast(GNUTLS_MAC_SHA256, key, key_len, LABEL, sizeof(LABEL) - 1, k) < 0 ||
	    gnutls_aead_cipher_init(h, GNUTLS_CIPHER_AES_256_GCM, &d) < 0)
		rc = ZT_ETLS;
	gnutls_memset(k, 0, sizeof(k));
	return rc;
}

int zt_polrec_seal(uint8_t *buf, size_t cap, const struct zt_polrec *r, const char *text,
		   size_t len, const uint8_t nonce[ZT_POLREC_NONCE_LEN], const uint8_t *key,
		   size_t key_len)
{
	struct zt_wr w = zt_wr_init(buf, cap);
	gnutls_aead_cipher_hd_t h;
	size_t out_len;
	int n, rc;

	if (key_len < ZT_POLREC_KEY_MIN || memchr(text, '\0', len))
		return -EINVAL;
	if (len > ZT_POLREC_TEXT_MAX)
		return ZT_ETOOBIG;
	zt_wr_bytes(&w, MAGIC, sizeof(MAGIC));
	zt_wr_u8(&w, r->is_signed ? VERSION_SIGNED : VERSION);
	zt_wr_u64(&w, r->seq);
	zt_wr_u64(&w, r->issued_ms);
	zt_wr_bytes(&w, nonce, ZT_POLREC_NONCE_LEN);
	n = zt_wr_finish(&w);
	if (n < 0)
		return n;
	if (cap - (size_t)n < len + ZT_POLREC_TAG_LEN)
		return -ENOBUFS;
	if ((rc = aead(key, key_len, &h)) < 0)
		return rc;
	out_len = cap - (size_t)n;
	rc = gnutls_aead_cipher_encrypt(h, nonce, ZT_POLREC_NONCE_LEN, buf, (size_t)n,
					ZT_POLREC_TAG_LEN, text, len, buf + n, &out_len);
	gnutls_aead_cipher_deinit(h);
	if (rc < 0 || out_len != len + ZT_POLREC_TAG_LEN)
		return ZT_ETLS;
	return n + (int)out_len;
}

int zt_polrec_sign_finish(uint8_t *buf, size_t cap, size_t n,
			  const uint8_t signer[ZT_POLREC_SIGNER_LEN],
			  const uint8_t sig[ZT_POLREC_SIG_LEN])
{
	if (n > cap || cap - n < ZT_POLREC_TRAILER_LEN)
		return -ENOBUFS;
	memcpy(buf + n, signer, ZT_POLREC_SIGNER_LEN);
	memcpy(buf + n + ZT_POLREC_SIGNER_LEN, sig, ZT_POLREC_SIG_LEN);
	return (int)(n + ZT_POLREC_TRAILER_LEN);
}

static uint64_t be64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

int zt_polrec_open(const uint8_t *buf, size_t len, const uint8_t *key, size_t key_len,
		   struct zt_polrec *ret, char *out, size_t cap)
{
	gnutls_aead_cipher_hd_t h;
	size_t text_len, out_len;
	bool is_signed;
	int rc;

	if (key_len < ZT_POLREC_KEY_MIN)
		return -EINVAL;
	if (len < ZT_POLREC_OVERHEAD)
		return ZT_ETRUNC;
	if (memcmp(buf, MAGIC, sizeof(MAGIC)) || (buf[4] != VERSION && buf[4] != VERSION_SIGNED))
		return ZT_EMALFORMED;
	is_signed = buf[4] == VERSION_SIGNED;
	if (is_signed) {
		if (len < ZT_POLREC_OVERHEAD + ZT_POLREC_TRAILER_LEN)
			return ZT_ETRUNC;
		len -= ZT_POLREC_TRAILER_LEN;
	}
	text_len = len - ZT_POLREC_OVERHEAD;
	if (text_len > ZT_POLREC_TEXT_MAX)
		return ZT_ETOOBIG;
	if (cap < text_len + 1)
		return -ENOBUFS;
	if ((rc = aead(key, key_len, &h)) < 0)
		return rc;
	out_len = cap;
	rc = gnutls_aead_cipher_decrypt(h, buf + 21, ZT_POLREC_NONCE_LEN, buf, ZT_POLREC_HDR_LEN,
					ZT_POLREC_TAG_LEN, buf + ZT_POLREC_HDR_LEN,
					len - ZT_POLREC_HDR_LEN, out, &out_len);
	gnutls_aead_cipher_deinit(h);
	if (rc < 0 || out_len != text_len) {
		memset(out, 0, cap < text_len ? cap : text_len);
		return ZT_EAUTH;
	}
	out[text_len] = '\0';
	if (memchr(out, '\0', text_len)) {
		memset(out, 0, text_len);
		return ZT_EMALFORMED;
	}
	ret->seq = be64(buf + 5);
	ret->issued_ms = be64(buf + 13);
	ret->is_signed = is_signed;
	ret->signed_len = is_signed ? len : 0;
	if (is_signed) {
		memcpy(ret->signer, buf + len, ZT_POLREC_SIGNER_LEN);
		memcpy(ret->sig, buf + len + ZT_POLREC_SIGNER_LEN, ZT_POLREC_SIG_LEN);
	} else {
		memset(ret->signer, 0, sizeof(ret->signer));
		memset(ret->sig, 0, sizeof(ret->sig));
	}
	return (int)text_len;
}
