#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "core/err.h"
#include "quic/certinfo.h"

/* Appends to a NUL-terminated buf, cutting what does not fit. */
static void append(char *buf, size_t cap, const char *fmt, ...)
{
	size_t len = strlen(buf);
	va_list ap;

	if (len + 1 >= cap)
		return;
	va_start(ap, fmt);
	vsnprintf(buf + len, cap - len, fmt, ap);
	va_end(ap);
}

static void hex(char *out, size_t cap, const unsigned char *b, size_t n, const char *sep)
{
	out[0] = '\0';
	for (size_t i = 0; i < n; i++)
		append(out, cap, "%s%02X", i && sep ? sep : "", b[i]);
}

/* One subjectAltName (DNS, IP or URI; others are skipped) appended to c->sans. */
static void add_san(struct zt_certinfo *c, int type, const char *val, size_t len)
{
	const char *sep = c->sans[0] ? "," : "";
	char ip[INET6_ADDRSTRLEN];

	if (type == GNUTLS_SAN_DNSNAME) {
		append(c->sans, sizeof(c->sans), "%sDNS:%.*s", sep, (int)len, val);
	} else if (type == GNUTLS_SAN_IPADDRESS && (len == 4 || len == 16)) {
		if (inet_ntop(len == 4 ? AF_INET : AF_INET6, val, ip, sizeof(ip)))
			append(c->sans, sizeof(c->sans), "%sIP:%s", sep, ip);
	} else if (type == GNUTLS_SAN_URI) {
		append(c->sans, sizeof(c->sans), "%sURI:%.*s", sep, (int)len, val);
		if (!c->identity[0] && len > 5 && !strncmp(val, "ztna:", 5) &&
		    len < sizeof(c->identity))
			snprintf(c->identity, sizeof(c->identity), "%.*s", (int)len, val);
	}
}

static void read_sans(gnutls_x509_crt_t crt, struct zt_certinfo *c)
{
	for (unsigned i = 0; i < 64; i++) {
		char val[256];
		size_t n = sizeof(val);
		int t = gnutls_x509_crt_get_subject_alt_name(crt, i, val, &n, NULL);

		if (t == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
			break;
		if (t >= 0)
			add_san(c, t, val, n);
	}
}

/* A name field (cut to its buffer; "" when absent). */
static void read_cn(gnutls_x509_crt_t crt, bool issuer, char *out, size_t cap)
{
	char buf[256];
	size_t n = sizeof(buf);
	int rc = issuer ? gnutls_x509_crt_get_issuer_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME,
							     0, 0, buf, &n)
			: gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0,
							buf, &n);

	snprintf(out, cap, "%.*s", rc < 0 ? 0 : (int)n, buf);
}

static void read_fields(gnutls_x509_crt_t crt, struct zt_certinfo *c)
{
	unsigned char b[64];
	size_t n = sizeof(b);

	read_cn(crt, false, c->cn, sizeof(c->cn));
	read_cn(crt, true, c->issuer_cn, sizeof(c->issuer_cn));
	read_sans(crt, c);
	if (gnutls_x509_crt_get_serial(crt, b, &n) == 0)
		hex(c->serial, sizeof(c->serial), b, n < 20 ? n : 20, NULL);
	n = sizeof(b);
	if (gnutls_x509_crt_get_fingerprint(crt, GNUTLS_DIG_SHA256, b, &n) == 0 && n == 32)
		hex(c->sha256, sizeof(c->sha256), b, n, ":");
	c->not_before = gnutls_x509_crt_get_activation_time(crt);
	c->not_after = gnutls_x509_crt_get_expiration_time(crt);
	c->is_ca = gnutls_x509_crt_get_ca_status(crt, NULL) > 0;
}

int zt_certinfo_pem(const char *pem, struct zt_certinfo *ret)
{
	gnutls_datum_t d = { .data = (unsigned char *)pem, .size = (unsigned)strlen(pem) };
	gnutls_x509_crt_t crt;
	struct zt_certinfo c = { 0 };
	int rc;

	if (!strstr(pem, "-----BEGIN CERTIFICATE-----"))
		return ZT_EMALFORMED;
	rc = gnutls_x509_crt_init(&crt);
	if (rc < 0)
		return rc == GNUTLS_E_MEMORY_ERROR ? -ENOMEM : ZT_ETLS;
	rc = gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_PEM);
	if (rc < 0) {
		rc = rc == GNUTLS_E_MEMORY_ERROR ? -ENOMEM : ZT_EMALFORMED;
		goto out;
	}
	read_fields(crt, &c);
	*ret = c;
out:
	gnutls_x509_crt_deinit(crt);
	return rc < 0 ? rc : 0;
}

int zt_certinfo_file(const char *path, struct zt_certinfo *ret)
{
	char *text = NULL;
	int rc = zt_pki_read_file(path, &text);

	if (rc < 0)
		return rc;
	rc = zt_certinfo_pem(text, ret);
	free(text);
	return rc;
}

enum zt_cert_expiry zt_certinfo_expiry(const struct zt_certinfo *c, time_t now,
				       unsigned warn_days, long *ret_days)
{
	/* floor division: one second past not_after is day -1, not 0 */
	long long diff = (long long)c->not_after - (long long)now;
	long days = (long)(diff >= 0 ? diff / 86400 : -((-diff + 86399) / 86400));

	if (ret_days)
		*ret_days = days;
	if (now < c->not_before)
		return ZT_CERT_NOT_YET_VALID;
	if (now > c->not_after)
		return ZT_CERT_EXPIRED;
	if (diff < (long long)warn_days * 86400)
		return ZT_CERT_EXPIRES_SOON;
	return ZT_CERT_VALID;
}

const char *zt_cert_expiry_name(enum zt_cert_expiry e)
{
	switch (e) {
	case ZT_CERT_VALID: return "valid";
	case ZT_CERT_EXPIRES_SOON: return "expires soon";
	case ZT_CERT_EXPIRED: return "EXPIRED";
	case ZT_CERT_NOT_YET_VALID: return "not yet valid";
	}
	return "?";
}
