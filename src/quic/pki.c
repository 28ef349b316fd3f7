#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "core/err.h"
#include "quic/pki.h"

struct zt_pki_ca {
	gnutls_x509_crt_t crt;
	gnutls_x509_privkey_t key;
};

static const char *const kind_names[] = {
	[ZT_PKI_INTERMEDIATE] = "intermediate",
	[ZT_PKI_SERVICE] = "service",
	[ZT_PKI_AGENT] = "agent",
	[ZT_PKI_CONNECTOR] = "connector",
};

const char *zt_pki_kind_name(enum zt_pki_kind kind)
{
	if (kind < ZT_PKI_INTERMEDIATE || kind > ZT_PKI_CONNECTOR)
		return NULL;
	return kind_names[kind];
}

bool zt_pki_name_valid(const char *name)
{
	size_t n;

	if (!name)
		return false;
	n = strlen(name);
	if (n == 0 || n > ZT_PKI_NAME_MAX || name[0] == '-' || name[n - 1] == '-')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '-'))
			return false;
	}
	return true;
}

int zt_pki_identity(enum zt_pki_kind kind, const char *name, char *buf, size_t cap)
{
	const char *k = zt_pki_kind_name(kind);
	int n;

	if (!k || !zt_pki_name_valid(name))
		return ZT_ESYNTAX;
	n = snprintf(buf, cap, "ztna:%s:%s", k, name);
	if (n < 0 || (size_t)n >= cap)
		return -ENOBUFS;
	return n;
}

int zt_pki_identity_parse(const char *uri, enum zt_pki_kind *ret_kind,
			  const char **ret_name)
{
	const char *rest, *colon;

	if (!uri || strncmp(uri, "ztna:", 5))
		return ZT_ESYNTAX;
	rest = uri + 5;
	colon = strchr(rest, ':');
	if (!colon)
		return ZT_ESYNTAX;
	for (int k = ZT_PKI_INTERMEDIATE; k <= ZT_PKI_CONNECTOR; k++) {
		size_t kl = strlen(kind_names[k]);
		if ((size_t)(colon - rest) == kl && !strncmp(rest, kind_names[k], kl)) {
			if (!zt_pki_name_valid(colon + 1))
				return ZT_ESYNTAX;
			*ret_kind = (enum zt_pki_kind)k;
			*ret_name = colon + 1;
			return 0;
		}
	}
	return ZT_ESYNTAX;
}

int zt_pki_service_host(const char *name, char *buf, size_t cap)
{
	int n;

	if (!zt_pki_name_valid(name))
		return ZT_ESYNTAX;
	n = snprintf(buf, cap, "svc-%s.ztna", name);
	if (n < 0 || (size_t)n >= cap)
		return -ENOBUFS;
	return n;
}

int zt_pki_file_stem(const struct zt_pki_subject *s, char *buf, size_t cap)
{
	int n;

	if (s->kind == ZT_PKI_INTERMEDIATE)
		n = snprintf(buf, cap, "intermediate");
	else if (zt_pki_kind_name(s->kind) && zt_pki_name_valid(s->name))
		n = snprintf(buf, cap, "%s-%s", zt_pki_kind_name(s->kind), s->name);
	else
		return ZT_ESYNTAX;
	if (n < 0 || (size_t)n >= cap)
		return -ENOBUFS;
	return n;
}

void zt_pki_pem_fini(struct zt_pki_pem *p)
{
	if (!p)
		return;
	free(p->cert);
	if (p->key) {
		explicit_bzero(p->key, strlen(p->key));
		free(p->key);
	}
	p->cert = NULL;
	p->key = NULL;
}

static int tls_err(int rc)
{
	return rc == GNUTLS_E_MEMORY_ERROR ? -ENOMEM : ZT_ETLS;
}

/* A copy of a GnuTLS datum as a NUL-terminated heap string; frees the datum. */
static char *datum_to_str(gnutls_datum_t *d)
{
	char *s = malloc(d->size + 1);

	if (s) {
		memcpy(s, d->data, d->size);
		s[d->size] = '\0';
	}
	gnutls_memset(d->data, 0, d->size);
	gnutls_free(d->data);
	d->data = NULL;
	return s;
}

static int export_pem(gnutls_x509_crt_t crt, gnutls_x509_privkey_t key,
		      struct zt_pki_pem *ret)
{
	gnutls_datum_t dc = { 0 }, dk = { 0 };
	struct zt_pki_pem p = { 0 };
	int rc;

	rc = gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &dc);
	if (rc < 0)
		return tls_err(rc);
	p.cert = datum_to_str(&dc);
	if (!p.cert)
		return -ENOMEM;
	rc = gnutls_x509_privkey_export2_pkcs8(key, GNUTLS_X509_FMT_PEM, NULL,
					       GNUTLS_PKCS_PLAIN, &dk);
	if (rc < 0) {
		zt_pki_pem_fini(&p);
		return tls_err(rc);
	}
	p.key = datum_to_str(&dk);
	if (!p.key) {
		zt_pki_pem_fini(&p);
		return -ENOMEM;
	}
	*ret = p;
	return 0;
}

/* Fields every certificate gets: version, serial, validity, CN, key, key id. */
static int set_common(gnutls_x509_crt_t crt, gnutls_x509_privkey_t key, const char *cn,
		      time_t now, unsigned days, const struct zt_rng *rng)
{
	uint8_t serial[16], keyid[64];
	size_t keyid_len = sizeof(keyid);
	int rc;

	zt_rng_fill(rng, serial, sizeof(serial));
	serial[0] &= 0x7f; /* RFC 5280 s4.1.2.2: a positive integer */
	serial[0] |= 0x01; /* and no leading zero octet to strip */
	if ((rc = gnutls_x509_crt_set_version(crt, 3)) < 0 ||
	    (rc = gnutls_x509_crt_set_serial(crt, serial, sizeof(serial))) < 0 ||
	    (rc = gnutls_x509_crt_set_activation_time(crt, now - 3600)) < 0 ||
	    (rc = gnutls_x509_crt_set_expiration_time(crt, now + (time_t)days * 86400)) < 0 ||
	    (rc = gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, cn,
						(unsigned)strlen(cn))) < 0 ||
	    (rc = gnutls_x509_crt_set_key(crt, key)) < 0 ||
	    (rc = gnutls_x509_crt_get_key_id(crt, GNUTLS_KEYID_USE_SHA1, keyid,
					     &keyid_len)) < 0 ||
	    (rc = gnutls_x509_crt_set_subject_key_id(crt, keyid, keyid_len)) < 0)
		return tls_err(rc);
	return 0;
}

static int new_key(gnutls_x509_privkey_t *ret)
{
	gnutls_x509_privkey_t key;
	int rc;

	rc = gnutls_x509_privkey_init(&key);
	if (rc < 0)
		return tls_err(rc);
	rc = gnutls_x509_privkey_generate(key, GNUTLS_PK_ECDSA,
					  GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0);
	if (rc < 0) {
		gnutls_x509_privkey_deinit(key);
		return tls_err(rc);
	}
	*ret = key;
	return 0;
}

void zt_pki_ca_free(struct zt_pki_ca *ca)
{
	if (!ca)
		return;
	if (ca->crt)
		gnutls_x509_crt_deinit(ca->crt);
	if (ca->key)
		gnutls_x509_privkey_deinit(ca->key);
	free(ca);
}

int zt_pki_ca_new(struct zt_pki_ca **ret, const char *cn, unsigned days, time_t now,
		  const struct zt_rng *rng)
{
	struct zt_pki_ca *ca;
	int rc;

	if (!cn || !*cn)
		return -EINVAL;
	ca = calloc(1, sizeof(*ca));
	if (!ca)
		return -ENOMEM;
	rc = new_key(&ca->key);
	if (rc < 0)
		goto out_free;
	rc = gnutls_x509_crt_init(&ca->crt);
	if (rc < 0) {
		rc = tls_err(rc);
		goto out_free;
	}
	rc = set_common(ca->crt, ca->key, cn, now, days ? days : 3650, rng);
	if (rc < 0)
		goto out_free;
	if ((rc = gnutls_x509_crt_set_basic_constraints(ca->crt, 1, 0)) < 0 ||
	    (rc = gnutls_x509_crt_set_key_usage(
		     ca->crt, GNUTLS_KEY_KEY_CERT_SIGN | GNUTLS_KEY_CRL_SIGN |
				      GNUTLS_KEY_DIGITAL_SIGNATURE)) < 0 ||
	    (rc = gnutls_x509_crt_sign2(ca->crt, ca->crt, ca->key, GNUTLS_DIG_SHA256, 0)) < 0) {
		rc = tls_err(rc);
		goto out_free;
	}
	*ret = ca;
	return 0;

out_free:
	zt_pki_ca_free(ca);
	return rc;
}

int zt_pki_ca_load(struct zt_pki_ca **ret, const char *cert_pem, const char *key_pem)
{
	gnutls_datum_t dc = { .data = (unsigned char *)cert_pem,
			      .size = (unsigned)strlen(cert_pem) };
	gnutls_datum_t dk = { .data = (unsigned char *)key_pem,
			      .size = (unsigned)strlen(key_pem) };
	uint8_t id_crt[64], id_key[64];
	size_t n_crt = sizeof(id_crt), n_key = sizeof(id_key);
	struct zt_pki_ca *ca;
	int rc;

	ca = calloc(1, sizeof(*ca));
	if (!ca)
		return -ENOMEM;
	if ((rc = gnutls_x509_crt_init(&ca->crt)) < 0 ||
	    (rc = gnutls_x509_privkey_init(&ca->key)) < 0) {
		rc = tls_err(rc);
		goto out_free;
	}
	if (gnutls_x509_crt_import(ca->crt, &dc, GNUTLS_X509_FMT_PEM) < 0 ||
	    gnutls_x509_privkey_import2(ca->key, &dk, GNUTLS_X509_FMT_PEM, NULL, 0) < 0) {
		rc = ZT_EMALFORMED;
		goto out_free;
	}
	/* The key must be the certificate's. */
	if (gnutls_x509_crt_get_key_id(ca->crt, 0, id_crt, &n_crt) < 0 ||
	    gnutls_x509_privkey_get_key_id(ca->key, 0, id_key, &n_key) < 0 || n_crt != n_key ||
	    memcmp(id_crt, id_key, n_crt)) {
		rc = ZT_EMALFORMED;
		goto out_free;
	}
	*ret = ca;
	return 0;

out_free:
	zt_pki_ca_free(ca);
	return rc;
}

int zt_pki_ca_pem(const struct zt_pki_ca *ca, struct zt_pki_pem *ret)
{
	return export_pem(ca->crt, ca->key, ret);
}

static int add_san(gnutls_x509_crt_t crt, gnutls_x509_subject_alt_name_t type,
		   const void *data, size_t len)
{
	int rc = gnutls_x509_crt_set_subject_alt_name(crt, type, data, (unsigned)len,
						      GNUTLS_FSAN_APPEND);
	return rc < 0 ? tls_err(rc) : 0;
}

static int set_leaf(gnutls_x509_crt_t crt, const struct zt_pki_ca *ca,
		    const struct zt_pki_subject *s)
{
	char uri[ZT_PKI_IDENTITY_MAX], host[ZT_PKI_HOST_MAX];
	uint8_t akid[64];
	size_t akid_len = sizeof(akid);
	bool server = s->kind == ZT_PKI_INTERMEDIATE || s->kind == ZT_PKI_SERVICE;
	/* A service key only ever serves: it must not pass as a client anywhere. An
	 * Intermediate is also the client of another one's link (docs/scale-out.md). */
	bool client = s->kind == ZT_PKI_AGENT || s->kind == ZT_PKI_CONNECTOR ||
		      s->kind == ZT_PKI_INTERMEDIATE;
	int rc;

	if ((rc = gnutls_x509_crt_set_basic_constraints(crt, 0, -1)) < 0 ||
	    (rc = gnutls_x509_crt_set_key_usage(crt, GNUTLS_KEY_DIGITAL_SIGNATURE)) < 0 ||
	    (server && (rc = gnutls_x509_crt_set_key_purpose_oid(crt, GNUTLS_KP_TLS_WWW_SERVER,
								  0)) < 0) ||
	    (client && (rc = gnutls_x509_crt_set_key_purpose_oid(crt, GNUTLS_KP_TLS_WWW_CLIENT,
								  0)) < 0) ||
	    (rc = gnutls_x509_crt_get_subject_key_id(ca->crt, akid, &akid_len, NULL)) < 0 ||
	    (rc = gnutls_x509_crt_set_authority_key_id(crt, akid, akid_len)) < 0)
		return tls_err(rc);

	rc = zt_pki_identity(s->kind, s->name, uri, sizeof(uri));
	if (rc < 0)
		return rc;
	if ((rc = add_san(crt, GNUTLS_SAN_URI, uri, strlen(uri))) < 0)
		return rc;
	if (s->kind == ZT_PKI_INTERMEDIATE) {
		rc = add_san(crt, GNUTLS_SAN_DNSNAME, ZT_PKI_INTERMEDIATE_DNS,
			     strlen(ZT_PKI_INTERMEDIATE_DNS));
		if (rc < 0)
			return rc;
	} else if (s->kind == ZT_PKI_SERVICE) {
		rc = zt_pki_service_host(s->name, host, sizeof(host));
		if (rc < 0)
			return rc;
		if ((rc = add_san(crt, GNUTLS_SAN_DNSNAME, host, strlen(host))) < 0)
			return rc;
	}
	for (size_t i = 0; i < s->n_dns; i++)
		if ((rc = add_san(crt, GNUTLS_SAN_DNSNAME, s->dns[i], strlen(s->dns[i]))) < 0)
			return rc;
	for (size_t i = 0; i < s->n_ips; i++) {
		size_t len = s->ips[i].family == AF_INET6 ? 16 : 4;
		if (s->ips[i].family != AF_INET && s->ips[i].family != AF_INET6)
			return ZT_ESYNTAX;
		if ((rc = add_san(crt, GNUTLS_SAN_IPADDRESS, s->ips[i].ip, len)) < 0)
			return rc;
	}
	return 0;
}

int zt_pki_issue(const struct zt_pki_ca *ca, const struct zt_pki_subject *s, time_t now,
		 const struct zt_rng *rng, struct zt_pki_pem *ret)
{
	gnutls_x509_crt_t crt = NULL;
	gnutls_x509_privkey_t key = NULL;
	int rc;

	if (!zt_pki_kind_name(s->kind) || !zt_pki_name_valid(s->name))
		return ZT_ESYNTAX;
	rc = new_key(&key);
	if (rc < 0)
		return rc;
	rc = gnutls_x509_crt_init(&crt);
	if (rc < 0) {
		rc = tls_err(rc);
		goto out_key;
	}
	rc = set_common(crt, key, s->name, now, s->days ? s->days : ZT_PKI_DEFAULT_DAYS, rng);
	if (rc < 0)
		goto out_crt;
	rc = set_leaf(crt, ca, s);
	if (rc < 0)
		goto out_crt;
	rc = gnutls_x509_crt_sign2(crt, ca->crt, ca->key, GNUTLS_DIG_SHA256, 0);
	if (rc < 0) {
		rc = tls_err(rc);
		goto out_crt;
	}
	rc = export_pem(crt, key, ret);
out_crt:
	gnutls_x509_crt_deinit(crt);
out_key:
	gnutls_x509_privkey_deinit(key);
	return rc;
}

/* Files. */

static int join(char *buf, size_t cap, const char *dir, const char *stem, const char *ext)
{
	int n = snprintf(buf, cap, "%s/%s%s", dir, stem, ext);
	return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

static int write_file(const char *path, const char *text, mode_t mode, bool overwrite)
{
	size_t len = strlen(text), off = 0;
	int fd, rc = 0;

	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | (overwrite ? O_TRUNC : O_EXCL), mode);
	if (fd < 0)
		return -errno;
	if (overwrite && fchmod(fd, mode) < 0)
		rc = -errno;
	while (!rc && off < len) {
		ssize_t n = write(fd, text + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			rc = -errno;
		else
			off += (size_t)n;
	}
	if (close(fd) < 0 && !rc)
		rc = -errno;
	return rc;
}

int zt_pki_read_file(const char *path, char **ret)
{
	size_t cap = 4096, len = 0;
	char *buf;
	int fd, rc = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	buf = malloc(cap);
	if (!buf) {
		rc = -ENOMEM;
		goto out_close;
	}
	for (;;) {
		ssize_t n;
		if (len + 1 >= cap) {
			char *nb;
			if (cap >= (1u << 20)) {
				rc = ZT_ETOOBIG;
				break;
			}
			nb = realloc(buf, cap * 2);
			if (!nb) {
				rc = -ENOMEM;
				break;
			}
			buf = nb;
			cap *= 2;
		}
		n = read(fd, buf + len, cap - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			break;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (rc < 0) {
		free(buf);
		goto out_close;
	}
	buf[len] = '\0';
	*ret = buf;
out_close:
	close(fd);
	return rc;
}

static int write_pem(const char *dir, const char *stem, const struct zt_pki_pem *p,
		     bool overwrite)
{
	char path[4096];
	int rc;

	if ((rc = join(path, sizeof(path), dir, stem, ".key")) < 0 ||
	    (rc = write_file(path, p->key, 0600, overwrite)) < 0)
		return rc;
	if ((rc = join(path, sizeof(path), dir, stem, ".pem")) < 0 ||
	    (rc = write_file(path, p->cert, 0644, overwrite)) < 0)
		return rc;
	return 0;
}

int zt_pki_bundle_name(const struct zt_pki_subject *s, char *buf, size_t cap)
{
	struct zt_pki_subject owner = { .kind = ZT_PKI_CONNECTOR, .name = s->connector };

	if (s->kind == ZT_PKI_SERVICE)
		return zt_pki_file_stem(&owner, buf, cap);
	return zt_pki_file_stem(s, buf, cap);
}

/* DIR/SUB made (0700) if missing; path gets "DIR/SUB". */
static int make_dir(char *path, size_t cap, const char *dir, const char *sub)
{
	int rc = join(path, cap, dir, sub, "");

	if (rc < 0)
		return rc;
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/* The bundle of s: its directory made, the CA's certificate in it (kept if there). */
static int open_bundle(const char *dir, const struct zt_pki_subject *s, const char *ca_pem,
		       bool overwrite, char *bdir, size_t cap)
{
	char name[128], path[4096];
	int rc;

	if ((rc = zt_pki_bundle_name(s, name, sizeof(name))) < 0 ||
	    (rc = make_dir(bdir, cap, dir, name)) < 0 ||
	    (rc = join(path, sizeof(path), bdir, "ca", ".pem")) < 0)
		return rc;
	rc = write_file(path, ca_pem, 0644, overwrite);
	return rc == -EEXIST ? 0 : rc;
}

static int issue_all(const struct zt_pki_ca *ca, const char *dir,
		     const struct zt_pki_subject *subj, size_t n, bool overwrite, time_t now,
		     const struct zt_rng *rng)
{
	struct zt_pki_pem cap = { 0 };
	char stem[128], bdir[4096], path[4096];
	int rc;

	/* Check every name and existing file first, so a bad argument writes nothing. */
	for (size_t i = 0; i < n; i++) {
		if ((rc = zt_pki_file_stem(&subj[i], stem, sizeof(stem))) < 0 ||
		    (rc = zt_pki_bundle_name(&subj[i], bdir, sizeof(bdir))) < 0)
			return rc;
		rc = snprintf(path, sizeof(path), "%s/%s/%s.pem", dir, bdir, stem);
		if (rc < 0 || (size_t)rc >= sizeof(path))
			return -ENAMETOOLONG;
		if (!overwrite && access(path, F_OK) == 0)
			return -EEXIST;
	}
	rc = zt_pki_ca_pem(ca, &cap);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		struct zt_pki_pem p = { 0 };
		zt_pki_file_stem(&subj[i], stem, sizeof(stem));
		rc = open_bundle(dir, &subj[i], cap.cert, overwrite, bdir, sizeof(bdir));
		if (rc == 0)
			rc = zt_pki_issue(ca, &subj[i], now, rng, &p);
		if (rc == 0)
			rc = write_pem(bdir, stem, &p, overwrite);
		zt_pki_pem_fini(&p);
	}
	zt_pki_pem_fini(&cap);
	return rc;
}

int zt_pki_init_dir(const char *dir, const char *ca_cn, const struct zt_pki_subject *subj,
		    size_t n, bool overwrite, time_t now, const struct zt_rng *rng)
{
	static const char *const held[] = { "ca/ca.pem", "ca/ca.key", "ca.pem", "ca.key" };
	struct zt_pki_pem cap = { 0 };
	struct zt_pki_ca *ca;
	char path[4096];
	int rc;

	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	for (size_t i = 0; !overwrite && i < sizeof(held) / sizeof(held[0]); i++) {
		if ((rc = join(path, sizeof(path), dir, held[i], "")) < 0)
			return rc;
		if (access(path, F_OK) == 0)
			return -EEXIST;
	}
	if ((rc = make_dir(path, sizeof(path), dir, "ca")) < 0)
		return rc;
	rc = zt_pki_ca_new(&ca, ca_cn, 0, now, rng);
	if (rc < 0)
		return rc;
	rc = zt_pki_ca_pem(ca, &cap);
	if (rc < 0)
		goto out_ca;
	rc = write_pem(path, "ca", &cap, overwrite);
	zt_pki_pem_fini(&cap);
	if (rc < 0)
		goto out_ca;
	rc = issue_all(ca, dir, subj, n, overwrite, now, rng);
out_ca:
	zt_pki_ca_free(ca);
	return rc;
}

int zt_pki_issue_dir(const char *dir, const struct zt_pki_subject *subj, size_t n,
		     bool overwrite, time_t now, const struct zt_rng *rng)
{
	char path[4096], *cert = NULL, *key = NULL;
	struct zt_pki_ca *ca;
	int rc;

	if ((rc = join(path, sizeof(path), dir, "ca/ca", ".pem")) < 0 ||
	    (rc = zt_pki_read_file(path, &cert)) < 0)
		return rc;
	if ((rc = join(path, sizeof(path), dir, "ca/ca", ".key")) < 0 ||
	    (rc = zt_pki_read_file(path, &key)) < 0)
		goto out_cert;
	rc = zt_pki_ca_load(&ca, cert, key);
	if (rc < 0)
		goto out_key;
	rc = issue_all(ca, dir, subj, n, overwrite, now, rng);
	zt_pki_ca_free(ca);
out_key:
	explicit_bzero(key, strlen(key));
	free(key);
out_cert:
	free(cert);
	return rc;
}

/* A private key file of ours by its name: KIND-NAME.key, and a connector's services'. */
static bool own_key(const char *file, const char *stem, enum zt_pki_kind kind)
{
	size_t n = strlen(file), sl = strlen(stem);

	if (n == sl + 4 && !strncmp(file, stem, sl))
		return true;
	return kind == ZT_PKI_CONNECTOR && !strncmp(file, "service-", 8);
}

static bool is_key_name(const char *file)
{
	size_t n = strlen(file);

	return n > 4 && !strcmp(file + n - 4, ".key");
}

/* The first *.key file in dir (one level), or false. */
static bool holds_key(const char *dir, char *ret, size_t cap)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	bool found = false;

	if (!d)
		return false;
	while (!found && (e = readdir(d)))
		if (is_key_name(e->d_name))
			found = join(ret, cap, dir, e->d_name, "") == 0;
	closedir(d);
	return found;
}

int zt_pki_bundle_check(const char *dir, const struct zt_pki_subject *self, char *ret_path,
			size_t cap)
{
	char stem[128], path[4096], found[4096];
	struct dirent *e;
	struct stat st;
	int rc, count = 0;
	DIR *d;

	if ((rc = zt_pki_file_stem(self, stem, sizeof(stem))) < 0)
		return rc;
	d = opendir(dir);
	if (!d)
		return -errno;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") ||
		    join(path, sizeof(path), dir, e->d_name, "") < 0 || stat(path, &st) < 0)
			continue;
		if (S_ISDIR(st.st_mode) ? !holds_key(path, found, sizeof(found))
					: !is_key_name(e->d_name) || own_key(e->d_name, stem, self->kind))
			continue;
		if (count++ == 0 && ret_path)
			snprintf(ret_path, cap, "%s", S_ISDIR(st.st_mode) ? found : path);
	}
	closedir(d);
	return count;
}

/* Export. */

/* Copies src's regular files (*.pem 0644, *.key 0600; nothing else) into out; dry:
 * only checks that none of them is in out yet (-EEXIST). */
static int copy_bundle(const char *src, const char *out, bool overwrite, bool dry)
{
	char from[4096], to[4096];
	struct dirent *e;
	struct stat st;
	int rc = 0;
	DIR *d = opendir(src);

	if (!d)
		return -errno;
	while (!rc && (e = readdir(d))) {
		size_t n = strlen(e->d_name);
		bool key = is_key_name(e->d_name);
		char *text = NULL;

		if (!key && (n <= 4 || strcmp(e->d_name + n - 4, ".pem")))
			continue;
		if ((rc = join(from, sizeof(from), src, e->d_name, "")) < 0 ||
		    (rc = join(to, sizeof(to), out, e->d_name, "")) < 0)
			break;
		if (lstat(from, &st) < 0 || !S_ISREG(st.st_mode))
			continue;
		if (dry) {
			rc = lstat(to, &st) == 0 ? -EEXIST : 0;
			continue;
		}
		rc = zt_pki_read_file(from, &text);
		if (rc == 0)
			rc = write_file(to, text, key ? 0600 : 0644, overwrite);
		if (text)
			gnutls_memset(text, 0, strlen(text));
		free(text);
	}
	closedir(d);
	return rc;
}

int zt_pki_export(const char *dir, const struct zt_pki_subject *s, const char *out,
		  bool overwrite)
{
	char name[128], src[4096];
	struct stat st;
	int rc;

	if (s->kind == ZT_PKI_SERVICE)
		return ZT_ESYNTAX; /* a service's files travel in its connector's bundle */
	if ((rc = zt_pki_bundle_name(s, name, sizeof(name))) < 0 ||
	    (rc = join(src, sizeof(src), dir, name, "")) < 0)
		return rc;
	if (stat(src, &st) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	if (mkdir(out, 0700) < 0 && errno != EEXIST)
		return -errno;
	if (stat(out, &st) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	if (!overwrite && (rc = copy_bundle(src, out, false, true)) < 0)
		return rc;
	return copy_bundle(src, out, overwrite, false);
}
