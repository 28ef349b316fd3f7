#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/x509.h>
#include <ngtcp2/ngtcp2_crypto_gnutls.h>

#include "core/err.h"
#include "quic/tls.h"

/* TLS 1.3 only, the AEADs ngtcp2's GnuTLS backend supports, no middlebox
 * compatibility mode (RFC 9001 s8.4). */
static const char priority[] =
	"NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+AES-128-GCM:+AES-256-GCM:"
	"+CHACHA20-POLY1305:%DISABLE_TLS13_COMPAT_MODE";

struct zt_tls_ctx {
	enum zt_tls_side side;
	gnutls_certificate_credentials_t cred;
	gnutls_priority_t prio;     /* parsed once: 8 KiB a session when parsed per session */
	char *alpn;
	bool require_peer_cert;
	bool have_ca;
	void (*keylog)(void *arg, const char *line);
	void *keylog_arg;
};

struct zt_tls_session {
	ngtcp2_crypto_conn_ref ref; /* first: the session's ptr points here */
	struct zt_tls_ctx *ctx;
	gnutls_session_t s;
	char *peer_name;            /* GnuTLS keeps a pointer to it */
	gnutls_typed_vdata_st vdata[2];
	/* After zt_tls_session_release(): s is NULL, the peer's identity kept. */
	bool released;
	int identity_rc;            /* its length, or why there is none */
	char *identity;
};

static int tls_err(int rc)
{
	return rc == GNUTLS_E_MEMORY_ERROR ? -ENOMEM : ZT_ETLS;
}

static int file_err(int rc)
{
	switch (rc) {
	case GNUTLS_E_FILE_ERROR:
		return -ENOENT;
	case GNUTLS_E_MEMORY_ERROR:
		return -ENOMEM;
	case GNUTLS_E_CERTIFICATE_KEY_MISMATCH:
	case GNUTLS_E_BASE64_DECODING_ERROR:
	case GNUTLS_E_ASN1_DER_ERROR:
	case GNUTLS_E_BASE64_UNEXPECTED_HEADER_ERROR:
		return ZT_EMALFORMED;
	default:
		return rc < 0 ? ZT_EMALFORMED : 0;
	}
}

static gnutls_datum_t pem_datum(const char *pem)
{
	return (gnutls_datum_t){ .data = (unsigned char *)pem, .size = (unsigned)strlen(pem) };
}

static int load_creds(struct zt_tls_ctx *ctx, const struct zt_tls_config *cfg)
{
	int rc;

	if (cfg->ca_pem) {
		gnutls_datum_t d = pem_datum(cfg->ca_pem);
		rc = gnutls_certificate_set_x509_trust_mem(ctx->cred, &d, GNUTLS_X509_FMT_PEM);
		if (rc <= 0)
			return rc == 0 ? ZT_EMALFORMED : file_err(rc);
		ctx->have_ca = true;
	} else if (cfg->ca_file) {
		rc = gnutls_certificate_set_x509_trust_file(ctx->cred, cfg->ca_file,
							    GNUTLS_X509_FMT_PEM);
		if (rc <= 0)
			return rc == 0 ? ZT_EMALFORMED : file_err(rc);
		ctx->have_ca = true;
	}
	if (cfg->cert_pem) {
		gnutls_datum_t c = pem_datum(cfg->cert_pem), k = pem_datum(cfg->key_pem);
		rc = gnutls_certificate_set_x509_key_mem2(ctx->cred, &c, &k, GNUTLS_X509_FMT_PEM,
							  NULL, 0);
		if (rc < 0)
			return file_err(rc);
	} else if (cfg->cert_file) {
		rc = gnutls_certificate_set_x509_key_file2(ctx->cred, cfg->cert_file, cfg->key_file,
							   GNUTLS_X509_FMT_PEM, NULL, 0);
		if (rc < 0)
			return file_err(rc);
	}
	return 0;
}

int zt_tls_ctx_new(struct zt_tls_ctx **ret, const struct zt_tls_config *cfg)
{
	bool have_ca = cfg->ca_pem || cfg->ca_file;
	bool have_cert = cfg->cert_pem || cfg->cert_file;
	struct zt_tls_ctx *ctx;
	int rc;

	if (!cfg->alpn || !*cfg->alpn || strlen(cfg->alpn) > 255 ||
	    (cfg->ca_pem && cfg->ca_file) || (cfg->cert_pem && cfg->cert_file) ||
	    (!!cfg->cert_pem != !!cfg->key_pem) || (!!cfg->cert_file != !!cfg->key_file) ||
	    (cfg->side == ZT_TLS_CLIENT && !have_ca) ||
	    (cfg->side == ZT_TLS_SERVER && !have_cert) ||
	    (cfg->side == ZT_TLS_SERVER && cfg->require_peer_cert && !have_ca))
		return -EINVAL;
	ctx = calloc(1, sizeof(*ctx));
	if (!ctx)
		return -ENOMEM;
	ctx->side = cfg->side;
	ctx->require_peer_cert = cfg->side == ZT_TLS_SERVER && cfg->require_peer_cert;
	ctx->keylog = cfg->keylog;
	ctx->keylog_arg = cfg->keylog_arg;
	ctx->alpn = strdup(cfg->alpn);
	if (!ctx->alpn) {
		rc = -ENOMEM;
		goto out_free;
	}
	rc = gnutls_certificate_allocate_credentials(&ctx->cred);
	if (rc < 0) {
		rc = tls_err(rc);
		goto out_free;
	}
	rc = load_creds(ctx, cfg);
	if (rc < 0)
		goto out_free;
	rc = gnutls_priority_init(&ctx->prio, priority, NULL);
	if (rc < 0) {
		ctx->prio = NULL;
		rc = tls_err(rc);
		goto out_free;
	}
	*ret = ctx;
	return 0;

out_free:
	zt_tls_ctx_free(ctx);
	return rc;
}

void zt_tls_ctx_free(struct zt_tls_ctx *ctx)
{
	if (!ctx)
		return;
	if (ctx->cred)
		gnutls_certificate_free_credentials(ctx->cred);
	if (ctx->prio)
		gnutls_priority_deinit(ctx->prio);
	free(ctx->alpn);
	free(ctx);
}

enum zt_tls_side zt_tls_ctx_side(const struct zt_tls_ctx *ctx)
{
	return ctx->side;
}

static struct zt_tls_session *session_of(gnutls_session_t gs)
{
	return gnutls_session_get_ptr(gs);
}

static int keylog_cb(gnutls_session_t gs, const char *label, const gnutls_datum_t *secret)
{
	static const char hex[] = "0123456789abcdef";
	struct zt_tls_session *s = session_of(gs);
	gnutls_datum_t crandom, srandom;
	char line[512];
	size_t n;

	if (!s->ctx->keylog)
		return 0;
	gnutls_session_get_random(gs, &crandom, &srandom);
	n = (size_t)snprintf(line, sizeof(line), "%s ", label);
	if (n + crandom.size * 2 + 1 + secret->size * 2 + 1 > sizeof(line))
		return 0;
	for (unsigned i = 0; i < crandom.size; i++) {
		line[n++] = hex[crandom.data[i] >> 4];
		line[n++] = hex[crandom.data[i] & 15];
	}
	line[n++] = ' ';
	for (unsigned i = 0; i < secret->size; i++) {
		line[n++] = hex[secret->data[i] >> 4];
		line[n++] = hex[secret->data[i] & 15];
	}
	line[n] = '\0';
	s->ctx->keylog(s->ctx->keylog_arg, line);
	explicit_bzero(line, sizeof(line));
	return 0;
}

/* Server: the client must offer our ALPN (RFC 9001 s8.1); MANDATORY alone lets a
 * ClientHello without the extension through. */
static int client_hello_cb(gnutls_session_t gs, unsigned htype, unsigned when,
			   unsigned incoming, const gnutls_datum_t *msg)
{
	struct zt_tls_session *s = session_of(gs);
	gnutls_datum_t sel;
	(void)htype;
	(void)when;
	(void)incoming;
	(void)msg;

	if (gnutls_alpn_get_selected_protocol(gs, &sel) < 0 || sel.size != strlen(s->ctx->alpn) ||
	    memcmp(sel.data, s->ctx->alpn, sel.size))
		return GNUTLS_E_NO_APPLICATION_PROTOCOL;
	return 0;
}

static bool is_ip_literal(const char *name)
{
	for (const char *p = name; *p; p++)
		if (!((*p >= '0' && *p <= '9') || *p == '.' || *p == ':' ||
		      (*p >= 'a' && *p <= 'f') || (*p >= 'A' && *p <= 'F')))
			return false;
	return strchr(name, ':') || strspn(name, "0123456789.") == strlen(name);
}

static int setup_session(struct zt_tls_session *s, const char *peer_name, bool quic)
{
	struct zt_tls_ctx *ctx = s->ctx;
	bool client = ctx->side == ZT_TLS_CLIENT;
	gnutls_datum_t alpn = { .data = (unsigned char *)ctx->alpn,
				.size = (unsigned)strlen(ctx->alpn) };
	unsigned nv = 0;
	int rc;

	rc = gnutls_init(&s->s, (client ? GNUTLS_CLIENT : GNUTLS_SERVER | GNUTLS_NO_AUTO_SEND_TICKET) |
					GNUTLS_NO_END_OF_EARLY_DATA);
	if (rc < 0)
		return tls_err(rc);
	gnutls_session_set_ptr(s->s, &s->ref);
	if (quic && (client ? ngtcp2_crypto_gnutls_configure_client_session(s->s)
			    : ngtcp2_crypto_gnutls_configure_server_session(s->s)))
		return ZT_ETLS;
	if ((rc = gnutls_priority_set(s->s, ctx->prio)) < 0 ||
	    (rc = gnutls_credentials_set(s->s, GNUTLS_CRD_CERTIFICATE, ctx->cred)) < 0 ||
	    (rc = gnutls_alpn_set_protocols(s->s, &alpn, 1,
					    GNUTLS_ALPN_MANDATORY |
						    (client ? 0 : GNUTLS_ALPN_SERVER_PRECEDENCE))) < 0)
		return tls_err(rc);
	if (ctx->keylog)
		gnutls_session_set_keylog_function(s->s, keylog_cb);

	if (client) {
		s->peer_name = strdup(peer_name);
		if (!s->peer_name)
			return -ENOMEM;
		if (!is_ip_literal(peer_name) &&
		    (rc = gnutls_server_name_set(s->s, GNUTLS_NAME_DNS, peer_name,
						 strlen(peer_name))) < 0)
			return tls_err(rc);
		s->vdata[nv++] = (gnutls_typed_vdata_st){ .type = GNUTLS_DT_DNS_HOSTNAME,
							  .data = (unsigned char *)s->peer_name };
		s->vdata[nv++] = (gnutls_typed_vdata_st){
			.type = GNUTLS_DT_KEY_PURPOSE_OID,
			.data = (unsigned char *)GNUTLS_KP_TLS_WWW_SERVER };
		gnutls_session_set_verify_cert2(s->s, s->vdata, nv, 0);
	} else {
		gnutls_handshake_set_hook_function(s->s, GNUTLS_HANDSHAKE_CLIENT_HELLO,
						   GNUTLS_HOOK_POST, client_hello_cb);
		if (ctx->require_peer_cert) {
			gnutls_certificate_server_set_request(s->s, GNUTLS_CERT_REQUIRE);
			s->vdata[nv++] = (gnutls_typed_vdata_st){
				.type = GNUTLS_DT_KEY_PURPOSE_OID,
				.data = (unsigned char *)GNUTLS_KP_TLS_WWW_CLIENT };
			gnutls_session_set_verify_cert2(s->s, s->vdata, nv, 0);
		}
	}
	return 0;
}

static int session_new(struct zt_tls_session **ret, struct zt_tls_ctx *ctx,
		       const char *peer_name, bool quic)
{
	struct zt_tls_session *s;
	int rc;

	if (ctx->side == ZT_TLS_CLIENT ? !peer_name || !*peer_name : peer_name != NULL)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->ctx = ctx;
	rc = setup_session(s, peer_name, quic);
	if (rc < 0) {
		zt_tls_session_free(s);
		return rc;
	}
	*ret = s;
	return 0;
}

int zt_tls_session_new(struct zt_tls_session **ret, struct zt_tls_ctx *ctx,
		       const char *peer_name)
{
	return session_new(ret, ctx, peer_name, true);
}

int zt_tls_session_new_tcp(struct zt_tls_session **ret, struct zt_tls_ctx *ctx,
			   const char *peer_name)
{
	return session_new(ret, ctx, peer_name, false);
}

void zt_tls_session_free(struct zt_tls_session *s)
{
	if (!s)
		return;
	if (s->s)
		gnutls_deinit(s->s);
	free(s->peer_name);
	free(s->identity);
	free(s);
}

gnutls_session_t zt_tls_session_native(struct zt_tls_session *s)
{
	return s->s;
}

ngtcp2_crypto_conn_ref *zt_tls_session_conn_ref(struct zt_tls_session *s)
{
	return &s->ref;
}

static int copy_str(char *buf, size_t cap, const char *src, size_t len)
{
	if (len + 1 > cap)
		return -ENOBUFS;
	memcpy(buf, src, len);
	buf[len] = '\0';
	return (int)len;
}

static int peer_identity(gnutls_session_t gs, char *buf, size_t cap)
{
	const gnutls_datum_t *certs;
	unsigned n = 0;
	gnutls_x509_crt_t crt;
	char name[512];
	size_t len;
	int rc = -ENOENT;

	certs = gnutls_certificate_get_peers(gs, &n);
	if (!certs || n == 0)
		return -ENOENT;
	if (gnutls_x509_crt_init(&crt) < 0)
		return -ENOMEM;
	if (gnutls_x509_crt_import(crt, &certs[0], GNUTLS_X509_FMT_DER) < 0) {
		rc = ZT_EMALFORMED;
		goto out_crt;
	}
	for (unsigned i = 0;; i++) {
		unsigned critical;
		int type;
		len = sizeof(name);
		type = gnutls_x509_crt_get_subject_alt_name(crt, i, name, &len, &critical);
		if (type == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
			break;
		if (type < 0)
			continue;
		if (type == GNUTLS_SAN_URI && len > 5 && !strncmp(name, "ztna:", 5)) {
			rc = copy_str(buf, cap, name, len);
			goto out_crt;
		}
	}
	len = sizeof(name);
	if (gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0, name, &len) == 0)
		rc = copy_str(buf, cap, name, strnlen(name, len));
	else
		rc = ZT_EMALFORMED;
out_crt:
	gnutls_x509_crt_deinit(crt);
	return rc;
}

int zt_tls_session_peer_identity(struct zt_tls_session *s, char *buf, size_t cap)
{
	if (!s->released)
		return peer_identity(s->s, buf, cap);
	if (s->identity_rc < 0)
		return s->identity_rc;
	return copy_str(buf, cap, s->identity, (size_t)s->identity_rc);
}

int zt_tls_session_release(struct zt_tls_session *s)
{
	char id[520]; /* peer_identity() reads at most 512 bytes of a name */
	int rc;

	if (s->released)
		return 0;
	if (!s->s)
		return -EINVAL;
	rc = peer_identity(s->s, id, sizeof(id));
	if (rc >= 0 && !(s->identity = strdup(id)))
		return -ENOMEM;
	s->identity_rc = rc;
	gnutls_deinit(s->s);
	s->s = NULL;
	s->released = true;
	return 0;
}

int zt_tls_session_verify_error(struct zt_tls_session *s, char *buf, size_t cap)
{
	unsigned status = s->released ? 0 : gnutls_session_get_verify_cert_status(s->s);
	gnutls_datum_t out;
	int rc;

	if (!status)
		return copy_str(buf, cap, "", 0);
	if (gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &out, 0) < 0)
		return copy_str(buf, cap, "certificate verification failed", 31);
	rc = copy_str(buf, cap, (const char *)out.data, out.size);
	gnutls_free(out.data);
	return rc;
}

const char *zt_tls_session_alpn(struct zt_tls_session *s, size_t *ret_len)
{
	gnutls_datum_t sel;

	if (s->released) {
		/* the handshake completed: ours was the only one offered or accepted */
		*ret_len = strlen(s->ctx->alpn);
		return s->ctx->alpn;
	}
	if (gnutls_alpn_get_selected_protocol(s->s, &sel) < 0)
		return NULL;
	*ret_len = sel.size;
	return (const char *)sel.data;
}
