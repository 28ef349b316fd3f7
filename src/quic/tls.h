/*
 * GnuTLS sessions for QUIC (ngtcp2_crypto_gnutls): TLS 1.3 only, one ALPN per
 * connection kind, certificates verified against the project CA.
 *
 * A struct zt_tls_ctx holds what many sessions share (credentials, trust anchors,
 * settings); a struct zt_tls_session is one connection's GnuTLS session, handed to
 * ngtcp2 by conn.c. Sessions do not outlive their ctx.
 *
 * Verification, done by GnuTLS inside the handshake (a failure aborts it with a TLS
 * alert, and the QUIC connection closes with CRYPTO_ERROR):
 *   client: the server's chain must lead to the CA, carry the TLS-server key purpose
 *           and match the expected name given to zt_tls_session_new (a DNS name, or
 *           an IP literal matched against IP subjectAltNames).
 *   server: with require_peer_cert, the client must present a certificate whose
 *           chain leads to the CA and which carries the TLS-client key purpose;
 *           without a certificate the handshake fails.
 * After the handshake zt_tls_session_peer_identity() gives the peer's identity.
 */
#ifndef ZT_QUIC_TLS_H
#define ZT_QUIC_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include <gnutls/gnutls.h>
#include <ngtcp2/ngtcp2_crypto.h>

#define ZT_ALPN_OUTER "ztna-outer/1"
#define ZT_ALPN_INNER "ztna-inner/1"
/* The outer connection over TLS/TCP (quic/tlsstream.h), where UDP does not pass. */
#define ZT_ALPN_OUTER_TCP "ztna-outer-tcp/1"

enum zt_tls_side {
	ZT_TLS_CLIENT = 0,
	ZT_TLS_SERVER = 1,
};

struct zt_tls_config {
	enum zt_tls_side side;
	const char *alpn;          /* required: ZT_ALPN_OUTER or ZT_ALPN_INNER */
	/* Trust anchors (the CA), as PEM text or a PEM file; one is required for a
	 * client, and for a server with require_peer_cert. */
	const char *ca_pem;
	const char *ca_file;
	/* Our certificate and key, as PEM text or files; required for a server, and
	 * for a client whose server requires a certificate. */
	const char *cert_pem;
	const char *key_pem;
	const char *cert_file;
	const char *key_file;
	bool require_peer_cert;    /* server: mutual authentication */
	/*
	 * Optional TLS key log (the SSLKEYLOGFILE format Wireshark reads): called
	 * once per secret with one line, without the newline, e.g.
	 * "CLIENT_HANDSHAKE_TRAFFIC_SECRET <client random hex> <secret hex>".
	 */
	void (*keylog)(void *arg, const char *line);
	void *keylog_arg;
};

struct zt_tls_ctx;
struct zt_tls_session;

/*
 * Create a context. Returns 0, -EINVAL (missing required field, or files and PEM
 * given for the same item), -ENOMEM, -errno (unreadable file), ZT_EMALFORMED (PEM
 * that does not parse, or a key that is not the certificate's), ZT_ETLS.
 */
int zt_tls_ctx_new(struct zt_tls_ctx **ret, const struct zt_tls_config *cfg);
void zt_tls_ctx_free(struct zt_tls_ctx *ctx);
enum zt_tls_side zt_tls_ctx_side(const struct zt_tls_ctx *ctx);

/*
 * Create a session. A client verifies the server against peer_name (required for a
 * client: a DNS name such as "intermediate.ztna" or "svc-web.ztna", or an IP
 * literal); a server passes NULL. conn_ref is the ngtcp2 hook the session reports
 * to (zt_tls_session_conn_ref; conn.c fills it). Returns 0, -EINVAL, -ENOMEM,
 * ZT_ETLS.
 */
int zt_tls_session_new(struct zt_tls_session **ret, struct zt_tls_ctx *ctx,
		       const char *peer_name);
/* The same for TLS over a byte stream (quic/tlsstream.h) rather than QUIC: no QUIC
 * transport parameters, TLS records of its own. */
int zt_tls_session_new_tcp(struct zt_tls_session **ret, struct zt_tls_ctx *ctx,
			   const char *peer_name);
void zt_tls_session_free(struct zt_tls_session *s);

/*
 * Free the GnuTLS session of a completed handshake (its state, record buffers and
 * the peer's certificate chain: ~11 KB), keeping the peer's identity and the ALPN,
 * which zt_tls_session_peer_identity(), _verify_error() (empty) and _alpn() still
 * give. For a QUIC server, which needs nothing more of TLS: key updates use
 * ngtcp2's own keys (RFC 9001 s6) and a client sends no post-handshake message
 * (conn.c refuses any). Call only after the handshake completed. Returns 0 (also
 * when already released), -EINVAL (no session), -ENOMEM.
 */
int zt_tls_session_release(struct zt_tls_session *s);

/* The gnutls_session_t, for ngtcp2_conn_set_tls_native_handle(); NULL once
 * released. */
gnutls_session_t zt_tls_session_native(struct zt_tls_session *s);

/* The hook ngtcp2_crypto_gnutls calls to find the ngtcp2_conn; the owner sets its
 * get_conn and user_data before the handshake starts. */
ngtcp2_crypto_conn_ref *zt_tls_session_conn_ref(struct zt_tls_session *s);

/*
 * The peer's identity from its verified certificate: its "ztna:KIND:NAME" URI
 * subjectAltName, or else its common name. Call after the handshake completed.
 * Returns the length written (NUL-terminated), -ENOENT (the peer sent no
 * certificate), -ENOBUFS, ZT_EMALFORMED.
 */
int zt_tls_session_peer_identity(struct zt_tls_session *s, char *buf, size_t cap);

/*
 * Why the peer's certificate was refused, as text ("The certificate is NOT trusted.
 * The name in the certificate does not match the expected."); empty when it was not.
 * Returns the length written or -ENOBUFS.
 */
int zt_tls_session_verify_error(struct zt_tls_session *s, char *buf, size_t cap);

/* The ALPN the handshake selected, or NULL before/without one (points into the
 * session). */
const char *zt_tls_session_alpn(struct zt_tls_session *s, size_t *ret_len);

#endif
