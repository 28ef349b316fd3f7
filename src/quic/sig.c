#include "quic/sig.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "core/err.h"

struct zt_sig_pub {
	gnutls_pubkey_t k;
	uint8_t id[ZT_SIG_ID_LEN];
};

struct zt_sig_priv {
	gnutls_privkey_t k;
	struct zt_sig_pub pub;
};

/* k's id (SHA-256 of its SubjectPublicKeyInfo). Returns 0 or ZT_ETLS. */
static int pub_id(struct zt_sig_pub *p)
{
	size_t n = sizeof(p->id);

	if (gnutls_pubkey_get_key_id(p->k, GNUTLS_KEYID_USE_SHA256, p->id, &n) < 0 ||
	    n != sizeof(p->id))
		return ZT_ETLS;
	return 0;
}

/* A heap copy of d as a NUL-terminated string (d freed). */
static char *datum_str(gnutls_datum_t *d)
{
	char *s = malloc((size_t)d->size + 1);

	if (s) {
		memcpy(s, d->data, d->size);
		s[d->size] = '\0';
	}
	gnutls_free(d->data);
	d->data = NULL;
	return s;
}

int zt_sig_keygen(char **ret_priv_pem, char **ret_pub_pem)
{
	gnutls_privkey_t pk = NULL;
	gnutls_x509_privkey_t xk = NULL;
	gnutls_pubkey_t pub = NULL;
	gnutls_datum_t d = { 0 }, e = { 0 };
	int rc = ZT_ETLS;

	*ret_priv_pem = *ret_pub_pem = NULL;
	if (gnutls_privkey_init(&pk) < 0 || gnutls_pubkey_init(&pub) < 0)
		goto out;
	if (gnutls_privkey_generate2(pk, GNUTLS_PK_EDDSA_ED25519, 256, 0, NULL, 0) < 0 ||
	    gnutls_privkey_export_x509(pk, &xk) < 0 ||
	    gnutls_x509_privkey_export2_pkcs8(xk, GNUTLS_X509_FMT_PEM, NULL, GNUTLS_PKCS_PLAIN,
					      &d) < 0 ||
	    gnutls_pubkey_import_privkey(pub, pk, 0, 0) < 0 ||
	    gnutls_pubkey_export2(pub, GNUTLS_X509_FMT_PEM, &e) < 0)
		goto out;
	*ret_priv_pem = datum_str(&d);
	*ret_pub_pem = datum_str(&e);
	rc = *ret_priv_pem && *ret_pub_pem ? 0 : -ENOMEM;
	if (rc < 0) {
		free(*ret_priv_pem);
		free(*ret_pub_pem);
		*ret_priv_pem = *ret_pub_pem = NULL;
	}
out:
	if (d.data) {
		gnutls_memset(d.data, 0, d.size);
		gnutls_free(d.data);
	}
	gnutls_free(e.data);
	gnutls_x509_privkey_deinit(xk);
	gnutls_pubkey_deinit(pub);
	gnutls_privkey_deinit(pk);
	return rc;
}

int zt_sig_priv_load(struct zt_sig_priv **ret, const char *pem)
{
	struct zt_sig_priv *k = calloc(1, sizeof(*k));
	gnutls_datum_t d = { .data = (unsigned char *)pem, .size = (unsigned)strlen(pem) };
	int rc = ZT_ETLS;

	*ret = NULL;
	if (!k)
		return -ENOMEM;
	if (gnutls_privkey_init(&k->k) < 0 || gnutls_pubkey_init(&k->pub.k) < 0)
		goto fail;
	if (gnutls_privkey_import_x509_raw(k->k, &d, GNUTLS_X509_FMT_PEM, NULL, 0) < 0 ||
	    gnutls_privkey_get_pk_algorithm(k->k, NULL) != GNUTLS_PK_EDDSA_ED25519) {
		rc = ZT_EMALFORMED;
		goto fail;
	}
	if (gnutls_pubkey_import_privkey(k->pub.k, k->k, 0, 0) < 0 || (rc = pub_id(&k->pub)) < 0)
		goto fail;
	*ret = k;
	return 0;
fail:
	zt_sig_priv_free(k);
	return rc;
}

void zt_sig_priv_free(struct zt_sig_priv *k)
{
	if (!k)
		return;
	gnutls_pubkey_deinit(k->pub.k);
	gnutls_privkey_deinit(k->k);
	free(k);
}

void zt_sig_priv_id(const struct zt_sig_priv *k, uint8_t id[ZT_SIG_ID_LEN])
{
	memcpy(id, k->pub.id, ZT_SIG_ID_LEN);
}

int zt_sig_sign(const struct zt_sig_priv *k, const uint8_t *data, size_t len,
		uint8_t sig[ZT_SIG_LEN])
{
	gnutls_datum_t d = { .data = (unsigned char *)data, .size = (unsigned)len }, s = { 0 };
	int rc = 0;

	if (gnutls_privkey_sign_data2(k->k, GNUTLS_SIGN_EDDSA_ED25519, 0, &d, &s) < 0)
		return ZT_ETLS;
	if (s.size == ZT_SIG_LEN)
		memcpy(sig, s.data, ZT_SIG_LEN);
	else
		rc = ZT_ETLS;
	gnutls_free(s.data);
	return rc;
}

int zt_sig_pub_load(struct zt_sig_pub **ret, const char *pem)
{
	struct zt_sig_pub *k = calloc(1, sizeof(*k));
	gnutls_datum_t d = { .data = (unsigned char *)pem, .size = (unsigned)strlen(pem) };
	int rc = ZT_ETLS;

	*ret = NULL;
	if (!k)
		return -ENOMEM;
	if (gnutls_pubkey_init(&k->k) < 0)
		goto fail;
	if (gnutls_pubkey_import(k->k, &d, GNUTLS_X509_FMT_PEM) < 0 ||
	    gnutls_pubkey_get_pk_algorithm(k->k, NULL) != GNUTLS_PK_EDDSA_ED25519) {
		rc = ZT_EMALFORMED;
		goto fail;
	}
	if ((rc = pub_id(k)) < 0)
		goto fail;
	*ret = k;
	return 0;
fail:
	zt_sig_pub_free(k);
	return rc;
}

void zt_sig_pub_free(struct zt_sig_pub *k)
{
	if (!k)
		return;
	gnutls_pubkey_deinit(k->k);
	free(k);
}

void zt_sig_pub_id(const struct zt_sig_pub *k, uint8_t id[ZT_SIG_ID_LEN])
{
	memcpy(id, k->id, ZT_SIG_ID_LEN);
}

int zt_sig_verify(const struct zt_sig_pub *k, const uint8_t *data, size_t len,
		  const uint8_t sig[ZT_SIG_LEN])
{
	gnutls_datum_t d = { .data = (unsigned char *)data, .size = (unsigned)len };
	gnutls_datum_t s = { .data = (unsigned char *)sig, .size = ZT_SIG_LEN };

	return gnutls_pubkey_verify_data2(k->k, GNUTLS_SIGN_EDDSA_ED25519, 0, &d, &s) < 0
		       ? ZT_EAUTH : 0;
}

void zt_sig_id_str(const uint8_t id[ZT_SIG_ID_LEN], char *buf)
{
	for (int i = 0; i < 8; i++)
		snprintf(buf + 2 * i, 3, "%02x", id[i]);
}
