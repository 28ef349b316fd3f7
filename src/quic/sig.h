/*
 * Signer keys: Ed25519 key pairs an operator signs what it puts in the cluster with
 * (pushed policies, docs/scale-out.md), and the public keys the Intermediates trust
 * (--policy-signer). GnuTLS does the cryptography. A key is named by its id: SHA-256
 * of its SubjectPublicKeyInfo (DER), the same for the private key and its public one
 * (`openssl pkey -pubin -in K.pub -outform DER | sha256sum` gives it too).
 *
 * Private keys are PKCS#8 PEM ("PRIVATE KEY"), public keys SubjectPublicKeyInfo PEM
 * ("PUBLIC KEY"). Keys of another algorithm are refused (ZT_EMALFORMED).
 */
#ifndef ZT_QUIC_SIG_H
#define ZT_QUIC_SIG_H

#include <stddef.h>
#include <stdint.h>

#define ZT_SIG_LEN 64
#define ZT_SIG_ID_LEN 32

struct zt_sig_priv;
struct zt_sig_pub;

/* A new key pair as PEM text (heap, NUL-terminated; free both). Returns 0, -ENOMEM
 * or ZT_ETLS. */
int zt_sig_keygen(char **ret_priv_pem, char **ret_pub_pem);

/* Load a private key from PEM. Returns 0, ZT_EMALFORMED (not a PEM private key, or
 * not Ed25519), -ENOMEM or ZT_ETLS. */
int zt_sig_priv_load(struct zt_sig_priv **ret, const char *pem);
void zt_sig_priv_free(struct zt_sig_priv *k);
void zt_sig_priv_id(const struct zt_sig_priv *k, uint8_t id[ZT_SIG_ID_LEN]);
/* Sign len bytes of data. Returns 0 or ZT_ETLS. */
int zt_sig_sign(const struct zt_sig_priv *k, const uint8_t *data, size_t len,
		uint8_t sig[ZT_SIG_LEN]);

/* Load a public key from PEM: as zt_sig_priv_load. */
int zt_sig_pub_load(struct zt_sig_pub **ret, const char *pem);
void zt_sig_pub_free(struct zt_sig_pub *k);
void zt_sig_pub_id(const struct zt_sig_pub *k, uint8_t id[ZT_SIG_ID_LEN]);
/* Returns 0 when sig is k's signature of data, else ZT_EAUTH. */
int zt_sig_verify(const struct zt_sig_pub *k, const uint8_t *data, size_t len,
		  const uint8_t sig[ZT_SIG_LEN]);

/* The id's first 8 bytes as 16 hex digits into buf (at least 17 bytes): how logs and
 * `ztna policy show` name a signer. */
void zt_sig_id_str(const uint8_t id[ZT_SIG_ID_LEN], char *buf);

#endif
