/*
 * quic/sig.h: a key pair signs and its public key verifies; another key, a changed
 * byte of the data or of the signature does not; the private and public key share an
 * id, two pairs do not; what is not an Ed25519 key in PEM is refused on load.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/rng.h"
#include "io/sysrng.h"
#include "quic/pki.h"
#include "quic/sig.h"

static const uint8_t DATA[] = "ZTPP\x02 a sealed policy record";

static void pair(struct zt_sig_priv **priv, struct zt_sig_pub **pub)
{
	char *a, *b;

	assert_int_equal(zt_sig_keygen(&a, &b), 0);
	assert_non_null(strstr(a, "-----BEGIN PRIVATE KEY-----"));
	assert_non_null(strstr(b, "-----BEGIN PUBLIC KEY-----"));
	assert_int_equal(zt_sig_priv_load(priv, a), 0);
	assert_int_equal(zt_sig_pub_load(pub, b), 0);
	free(a);
	free(b);
}

static void signs_and_verifies(void **state)
{
	struct zt_sig_priv *k1, *k2;
	struct zt_sig_pub *p1, *p2;
	uint8_t sig[ZT_SIG_LEN], id1[ZT_SIG_ID_LEN], id1p[ZT_SIG_ID_LEN], id2[ZT_SIG_ID_LEN];
	uint8_t data[sizeof(DATA)];
	char hex[17];
	(void)state;

	pair(&k1, &p1);
	pair(&k2, &p2);
	zt_sig_priv_id(k1, id1);
	zt_sig_pub_id(p1, id1p);
	zt_sig_pub_id(p2, id2);
	assert_memory_equal(id1, id1p, ZT_SIG_ID_LEN);
	assert_memory_not_equal(id1, id2, ZT_SIG_ID_LEN);
	zt_sig_id_str(id1, hex);
	assert_int_equal(strlen(hex), 16);

	assert_int_equal(zt_sig_sign(k1, DATA, sizeof(DATA), sig), 0);
	assert_int_equal(zt_sig_verify(p1, DATA, sizeof(DATA), sig), 0);
	assert_int_equal(zt_sig_verify(p2, DATA, sizeof(DATA), sig), ZT_EAUTH);
	for (size_t i = 0; i < sizeof(DATA); i++) {
		memcpy(data, DATA, sizeof(DATA));
		data[i] ^= 0x01;
		assert_int_equal(zt_sig_verify(p1, data, sizeof(DATA), sig), ZT_EAUTH);
	}
	for (size_t i = 0; i < ZT_SIG_LEN; i += 7) {
		sig[i] ^= 0x80;
		assert_int_equal(zt_sig_verify(p1, DATA, sizeof(DATA), sig), ZT_EAUTH);
		sig[i] ^= 0x80;
	}
	assert_int_equal(zt_sig_verify(p1, DATA, sizeof(DATA) - 1, sig), ZT_EAUTH);
	zt_sig_priv_free(k1);
	zt_sig_priv_free(k2);
	zt_sig_pub_free(p1);
	zt_sig_pub_free(p2);
}

/* A certificate's ECDSA key (what `ztna pki` issues) is not a signer key; neither is
 * a public key given as the private one, nor text that is not PEM. */
static void other_keys_refused(void **state)
{
	struct zt_rng rng = zt_sysrng();
	struct zt_pki_ca *ca;
	struct zt_pki_pem pem = { 0 };
	struct zt_pki_subject s = { .kind = ZT_PKI_AGENT, .name = "alice" };
	struct zt_sig_priv *k;
	struct zt_sig_pub *p;
	char *a, *b;
	(void)state;

	assert_int_equal(zt_pki_ca_new(&ca, "test", 0, 1800000000, &rng), 0);
	assert_int_equal(zt_pki_issue(ca, &s, 1800000000, &rng, &pem), 0);
	assert_int_equal(zt_sig_priv_load(&k, pem.key), ZT_EMALFORMED);
	assert_null(k);
	assert_int_equal(zt_sig_pub_load(&p, pem.cert), ZT_EMALFORMED);
	assert_null(p);
	zt_pki_pem_fini(&pem);
	zt_pki_ca_free(ca);

	assert_int_equal(zt_sig_keygen(&a, &b), 0);
	assert_int_equal(zt_sig_priv_load(&k, b), ZT_EMALFORMED);
	assert_int_equal(zt_sig_pub_load(&p, a), ZT_EMALFORMED);
	assert_int_equal(zt_sig_pub_load(&p, "not a key"), ZT_EMALFORMED);
	assert_int_equal(zt_sig_priv_load(&k, ""), ZT_EMALFORMED);
	free(a);
	free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(signs_and_verifies),
		cmocka_unit_test(other_keys_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
