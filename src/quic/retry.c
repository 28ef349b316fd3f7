#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/crypto.h>
#include <ngtcp2/ngtcp2.h>
#include <ngtcp2/ngtcp2_crypto.h>

#include "core/err.h"
#include "core/wire.h"
#include "quic/retry.h"

#define TOKEN_MAGIC 0x7a /* 'z': not ngtcp2's 0xb6 (Retry) or 0x36 (NEW_TOKEN) */
#define NONCE_LEN 12
#define TAG_LEN 16
#define KEY_LEN 16
/* The plaintext: issued at (8), odcid length (1), odcid. */
#define PLAIN_MAX (8 + 1 + ZT_QUIC_CID_MAX)
/* The associated data: version (4), family (1), IP (16), port (2), Retry CID length
 * (1) and the Retry CID. */
#define AAD_MAX (4 + 1 + 16 + 2 + 1 + ZT_QUIC_CID_MAX)

struct zt_quic_retry {
	gnutls_aead_cipher_hd_t aead;
};

static const char key_label[] = "ztna retry token key v1";

int zt_quic_initial_parse(const uint8_t *pkt, size_t len, struct zt_quic_initial *ret)
{
	ngtcp2_pkt_hd hd;

	if (ngtcp2_accept(&hd, pkt, len) != 0 || hd.type != NGTCP2_PKT_INITIAL ||
	    hd.version != NGTCP2_PROTO_VER_V1 || hd.dcid.datalen < NGTCP2_MIN_INITIAL_DCIDLEN ||
	    hd.dcid.datalen > ZT_QUIC_CID_MAX || hd.scid.datalen > ZT_QUIC_CID_MAX)
		return ZT_EMALFORMED;
	memset(ret, 0, sizeof(*ret));
	ret->version = hd.version;
	memcpy(ret->dcid, hd.dcid.data, hd.dcid.datalen);
	ret->dcid_len = hd.dcid.datalen;
	memcpy(ret->scid, hd.scid.data, hd.scid.datalen);
	ret->scid_len = hd.scid.datalen;
	if (hd.token.len) {
		ret->token = hd.token.base;
		ret->token_len = hd.token.len;
	}
	return 0;
}

int zt_quic_retry_new(struct zt_quic_retry **ret, const uint8_t *secret, size_t len)
{
	uint8_t mac[32];
	gnutls_datum_t key = { .data = mac, .size = KEY_LEN };
	struct zt_quic_retry *r;

	if (!secret || len < 16)
		return -EINVAL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	/* A key of its own: the secret may serve other purposes (stateless resets). */
	if (gnutls_hmac_fast(GNUTLS_MAC_SHA256, secret, len, key_label, sizeof(key_label) - 1,
			     mac) < 0 ||
	    gnutls_aead_cipher_init(&r->aead, GNUTLS_CIPHER_AES_128_GCM, &key) < 0) {
		explicit_bzero(mac, sizeof(mac));
		free(r);
		return ZT_ETLS;
	}
	explicit_bzero(mac, sizeof(mac));
	*ret = r;
	return 0;
}

void zt_quic_retry_free(struct zt_quic_retry *r)
{
	if (!r)
		return;
	gnutls_aead_cipher_deinit(r->aead);
	free(r);
}

static size_t make_aad(uint8_t *aad, uint32_t version, const struct zt_addr *client,
		       const uint8_t *cid, size_t cidlen)
{
	struct zt_wr w = zt_wr_init(aad, AAD_MAX);

	zt_wr_u32(&w, version);
	zt_wr_u8(&w, client->family);
	zt_wr_bytes(&w, client->ip, sizeof(client->ip));
	zt_wr_u16(&w, client->port);
	zt_wr_u8(&w, (uint8_t)cidlen);
	zt_wr_bytes(&w, cid, cidlen);
	return (size_t)zt_wr_finish(&w); /* fits: cidlen <= ZT_QUIC_CID_MAX */
}

/* The token for a client told to use cid next; returns its length or ZT_ETLS. */
static int make_token(const struct zt_quic_retry *r, uint64_t now, const struct zt_rng *rng,
		      const struct zt_addr *client, const struct zt_quic_initial *ini,
		      const uint8_t *cid, size_t cidlen, uint8_t *token)
{
	uint8_t plain[PLAIN_MAX], aad[AAD_MAX];
	struct zt_wr w = zt_wr_init(plain, sizeof(plain));
	size_t plen, alen, clen = PLAIN_MAX + TAG_LEN;

	zt_wr_u64(&w, now);
	zt_wr_u8(&w, (uint8_t)ini->dcid_len);
	zt_wr_bytes(&w, ini->dcid, ini->dcid_len);
	plen = (size_t)zt_wr_finish(&w);
	alen = make_aad(aad, ini->version, client, cid, cidlen);
	token[0] = TOKEN_MAGIC;
	zt_rng_fill(rng, token + 1, NONCE_LEN);
	if (gnutls_aead_cipher_encrypt(r->aead, token + 1, NONCE_LEN, aad, alen, TAG_LEN, plain,
				       plen, token + 1 + NONCE_LEN, &clen) < 0)
		return ZT_ETLS;
	return (int)(1 + NONCE_LEN + clen);
}

int zt_quic_retry_write(const struct zt_quic_retry *r, uint64_t now, const struct zt_rng *rng,
			const struct zt_addr *client, const struct zt_quic_initial *ini,
			uint8_t *buf, size_t cap)
{
	uint8_t token[ZT_QUIC_RETRY_TOKEN_MAX];
	ngtcp2_cid dcid, scid, odcid;
	ngtcp2_ssize n;
	int tlen;

	if (cap < ZT_QUIC_RETRY_MAX)
		return -ENOBUFS;
	/* s17.2.5.1: a new connection ID of our choosing; the client's next Initial
	 * carries it as its destination, and the token binds it. */
	scid.datalen = ZT_QUIC_CID_LEN;
	/* ngtcp2 asserts (aborts) on a Retry whose ID is the client's original one. */
	do
		zt_rng_fill(rng, scid.data, scid.datalen);
	while (ini->dcid_len == scid.datalen && !memcmp(ini->dcid, scid.data, scid.datalen));
	tlen = make_token(r, now, rng, client, ini, scid.data, scid.datalen, token);
	if (tlen < 0)
		return tlen;
	ngtcp2_cid_init(&dcid, ini->scid, ini->scid_len);
	ngtcp2_cid_init(&odcid, ini->dcid, ini->dcid_len);
	n = ngtcp2_crypto_write_retry(buf, cap, ini->version, &dcid, &scid, &odcid, token,
				      (size_t)tlen);
	return n < 0 ? ZT_ETLS : (int)n;
}

int zt_quic_retry_check(const struct zt_quic_retry *r, uint64_t now, uint64_t lifetime,
			const struct zt_addr *client, const struct zt_quic_initial *ini,
			uint8_t odcid[ZT_QUIC_CID_MAX], size_t *ret_odcid_len)
{
	const uint8_t *t = ini->token;
	uint8_t plain[PLAIN_MAX + TAG_LEN], aad[AAD_MAX], olen;
	size_t clen, plen = sizeof(plain), alen;
	uint64_t issued;
	struct zt_rd rd;

	if (!t || ini->token_len < 1 + NONCE_LEN + 8 + 1 + NGTCP2_MIN_INITIAL_DCIDLEN + TAG_LEN ||
	    ini->token_len > ZT_QUIC_RETRY_TOKEN_MAX || t[0] != TOKEN_MAGIC)
		return ZT_EMALFORMED;
	clen = ini->token_len - 1 - NONCE_LEN;
	alen = make_aad(aad, ini->version, client, ini->dcid, ini->dcid_len);
	if (gnutls_aead_cipher_decrypt(r->aead, t + 1, NONCE_LEN, aad, alen, TAG_LEN,
				       t + 1 + NONCE_LEN, clen, plain, &plen) < 0)
		return ZT_EAUTH;
	/* Authenticated, so written by make_token; checked all the same. */
	rd = zt_rd_init(plain, plen);
	if (zt_rd_u64(&rd, &issued) < 0 || zt_rd_u8(&rd, &olen) < 0 ||
	    olen < NGTCP2_MIN_INITIAL_DCIDLEN || olen > ZT_QUIC_CID_MAX || zt_rd_left(&rd) != olen)
		return ZT_EAUTH;
	if (issued > now || now - issued > lifetime)
		return ZT_ETIMEOUT;
	zt_rd_copy(&rd, odcid, olen);
	*ret_odcid_len = olen;
	return 0;
}

int zt_quic_write_invalid_token(const struct zt_quic_initial *ini, uint8_t *buf, size_t cap)
{
	static const char reason[] = "invalid token";
	ngtcp2_cid dcid, scid;
	ngtcp2_ssize n;

	if (cap < ZT_QUIC_INVALID_TOKEN_MAX)
		return -ENOBUFS;
	/* Sent from the connection ID the client addressed: its Initial keys come from
	 * that ID (RFC 9001 s5.2). */
	ngtcp2_cid_init(&dcid, ini->scid, ini->scid_len);
	ngtcp2_cid_init(&scid, ini->dcid, ini->dcid_len);
	n = ngtcp2_crypto_write_connection_close(buf, cap, ini->version, &dcid, &scid,
						 NGTCP2_INVALID_TOKEN, (const uint8_t *)reason,
						 sizeof(reason) - 1);
	return n < 0 ? ZT_ETLS : (int)n;
}
