#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "core/err.h"
#include "quic/pki.h"


static struct zt_addr qh_addr(const char *text)
{
	struct zt_addr a;

	memset(&a, 0, sizeof(a));
	assert_int_equal(zt_addr_parse(&a, text, 0), 0);
	return a;
}

static gnutls_x509_crt_t parse(const char *pem)
{
	gnutls_datum_t d = { .data = (unsigned char *)pem, .size = (unsigned)strlen(pem) };
	gnutls_x509_crt_t crt;

	assert_int_equal(gnutls_x509_crt_init(&crt), 0);
	assert_int_equal(gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_PEM), 0);
	return crt;
}

/* Whether crt has a subjectAltName of type with exactly this value. */
static bool has_san(gnutls_x509_crt_t crt, int type, const void *val, size_t len)
{
	for (unsigned i = 0;; i++) {
		char buf[256];
		size_t n = sizeof(buf);
		int t = gnutls_x509_crt_get_subject_alt_name(crt, i, buf, &n, NULL);
		if (t == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
			return false;
		if (t == type && n == len && !memcmp(buf, val, len))
			return true;
	}
}

static bool has_purpose(gnutls_x509_crt_t crt, const char *oid)
{
	for (unsigned i = 0;; i++) {
		char buf[128];
		size_t n = sizeof(buf);
		if (gnutls_x509_crt_get_key_purpose_oid(crt, i, buf, &n, NULL) < 0)
			return false;
		if (!strcmp(buf, oid))
			return true;
	}
}

static unsigned verify(const char *leaf_pem, const char *ca_pem)
{
	gnutls_x509_crt_t leaf = parse(leaf_pem), ca = parse(ca_pem);
	unsigned status = 0;

	assert_int_equal(gnutls_x509_crt_verify(leaf, &ca, 1, 0, &status), 0);
	gnutls_x509_crt_deinit(leaf);
	gnutls_x509_crt_deinit(ca);
	return status;
}

static void names_and_identities(void **state)
{
	char buf[ZT_PKI_IDENTITY_MAX];
	enum zt_pki_kind kind;
	const char *name;

	(void)state;
	assert_true(zt_pki_name_valid("web"));
	assert_true(zt_pki_name_valid("a-b-9"));
	assert_false(zt_pki_name_valid(""));
	assert_false(zt_pki_name_valid("-web"));
	assert_false(zt_pki_name_valid("web-"));
	assert_false(zt_pki_name_valid("we b"));
	assert_false(zt_pki_name_valid("w.eb"));
	/* 64 characters: one too many for a DNS label. */
	assert_false(zt_pki_name_valid("x23456789012345678901234567890123456789"
				       "0123456789012345678901234"));

	assert_int_equal(zt_pki_identity(ZT_PKI_AGENT, "alice", buf, sizeof(buf)), 16);
	assert_string_equal(buf, "ztna:agent:alice");
	assert_int_equal(zt_pki_identity(ZT_PKI_AGENT, "al ice", buf, sizeof(buf)), ZT_ESYNTAX);
	assert_int_equal(zt_pki_identity(ZT_PKI_SERVICE, "web", buf, 10), -ENOBUFS);
	assert_int_equal(zt_pki_identity((enum zt_pki_kind)9, "web", buf, sizeof(buf)), ZT_ESYNTAX);

	assert_int_equal(zt_pki_identity_parse("ztna:service:web", &kind, &name), 0);
	assert_int_equal(kind, ZT_PKI_SERVICE);
	assert_string_equal(name, "web");
	assert_int_equal(zt_pki_identity_parse("ztna:connector:c1", &kind, &name), 0);
	assert_int_equal(kind, ZT_PKI_CONNECTOR);
	assert_int_equal(zt_pki_identity_parse("ztna:agents:alice", &kind, &name), ZT_ESYNTAX);
	assert_int_equal(zt_pki_identity_parse("ztna:agent:", &kind, &name), ZT_ESYNTAX);
	assert_int_equal(zt_pki_identity_parse("ztna:agent", &kind, &name), ZT_ESYNTAX);
	assert_int_equal(zt_pki_identity_parse("http:agent:alice", &kind, &name), ZT_ESYNTAX);

	assert_int_equal(zt_pki_service_host("web", buf, sizeof(buf)), 12);
	assert_string_equal(buf, "svc-web.ztna");
	assert_int_equal(zt_pki_service_host("w b", buf, sizeof(buf)), ZT_ESYNTAX);
}

static void issued_certificates(void **state)
{
	struct zt_prng prng;
	struct zt_rng rng = zt_prng_rng(&prng);
	struct zt_pki_ca *ca, *other;
	struct zt_pki_pem cap = { 0 }, otherp = { 0 }, inter = { 0 }, web = { 0 }, alice = { 0 };
	struct zt_addr ips[2] = { qh_addr("192.0.2.7"), qh_addr("2001:db8::7") };
	const char *dns[] = { "relay.example" };
	struct zt_pki_subject si = { .kind = ZT_PKI_INTERMEDIATE, .name = "relay",
				     .ips = ips, .n_ips = 2, .dns = dns, .n_dns = 1 };
	struct zt_pki_subject sw = { .kind = ZT_PKI_SERVICE, .name = "web" };
	struct zt_pki_subject sa = { .kind = ZT_PKI_AGENT, .name = "alice", .days = 10 };
	struct zt_pki_subject bad = { .kind = ZT_PKI_AGENT, .name = "al/ice" };
	time_t now = time(NULL);
	gnutls_x509_crt_t crt;
	char cn[64];
	size_t n = sizeof(cn);

	(void)state;
	zt_prng_seed(&prng, 1);
	assert_int_equal(zt_pki_ca_new(&ca, "test CA", 0, now, &rng), 0);
	assert_int_equal(zt_pki_ca_new(&other, "test CA", 0, now, &rng), 0);
	assert_int_equal(zt_pki_ca_pem(ca, &cap), 0);
	assert_int_equal(zt_pki_ca_pem(other, &otherp), 0);
	assert_non_null(strstr(cap.cert, "BEGIN CERTIFICATE"));
	assert_non_null(strstr(cap.key, "BEGIN PRIVATE KEY"));
	assert_int_equal(zt_pki_issue(ca, &si, now, &rng, &inter), 0);
	assert_int_equal(zt_pki_issue(ca, &sw, now, &rng, &web), 0);
	assert_int_equal(zt_pki_issue(ca, &sa, now, &rng, &alice), 0);
	assert_int_equal(zt_pki_issue(ca, &bad, now, &rng, &alice), ZT_ESYNTAX);

	/* Chains verify against their CA and not against another. */
	assert_int_equal(verify(inter.cert, cap.cert), 0);
	assert_int_equal(verify(alice.cert, cap.cert), 0);
	assert_int_not_equal(verify(web.cert, otherp.cert), 0);

	crt = parse(inter.cert);
	assert_true(has_san(crt, GNUTLS_SAN_URI, "ztna:intermediate:relay", 23));
	assert_true(has_san(crt, GNUTLS_SAN_DNSNAME, "intermediate.ztna", 17));
	assert_true(has_san(crt, GNUTLS_SAN_DNSNAME, "relay.example", 13));
	assert_true(has_san(crt, GNUTLS_SAN_IPADDRESS, ips[0].ip, 4));
	assert_true(has_san(crt, GNUTLS_SAN_IPADDRESS, ips[1].ip, 16));
	assert_true(gnutls_x509_crt_check_hostname(crt, "intermediate.ztna"));
	assert_true(gnutls_x509_crt_check_hostname(crt, "192.0.2.7"));
	assert_false(gnutls_x509_crt_check_hostname(crt, "192.0.2.8"));
	assert_true(has_purpose(crt, GNUTLS_KP_TLS_WWW_SERVER));
	assert_false(has_purpose(crt, GNUTLS_KP_TLS_WWW_CLIENT));
	gnutls_x509_crt_deinit(crt);

	crt = parse(web.cert);
	assert_true(has_san(crt, GNUTLS_SAN_URI, "ztna:service:web", 16));
	assert_true(gnutls_x509_crt_check_hostname(crt, "svc-web.ztna"));
	assert_false(gnutls_x509_crt_check_hostname(crt, "svc-db.ztna"));
	assert_true(has_purpose(crt, GNUTLS_KP_TLS_WWW_SERVER));
	assert_true(has_purpose(crt, GNUTLS_KP_TLS_WWW_CLIENT));
	gnutls_x509_crt_deinit(crt);

	crt = parse(alice.cert);
	assert_true(has_san(crt, GNUTLS_SAN_URI, "ztna:agent:alice", 16));
	assert_int_equal(gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0, cn, &n), 0);
	assert_string_equal(cn, "alice");
	assert_true(has_purpose(crt, GNUTLS_KP_TLS_WWW_CLIENT));
	assert_false(has_purpose(crt, GNUTLS_KP_TLS_WWW_SERVER));
	/* 10 days, starting an hour back. */
	assert_int_equal(gnutls_x509_crt_get_expiration_time(crt) -
				 gnutls_x509_crt_get_activation_time(crt),
			 10 * 86400 + 3600);
	gnutls_x509_crt_deinit(crt);

	/* A CA reloaded from PEM issues certificates that verify; a foreign key is refused. */
	zt_pki_ca_free(ca);
	assert_int_equal(zt_pki_ca_load(&ca, cap.cert, cap.key), 0);
	zt_pki_pem_fini(&alice);
	assert_int_equal(zt_pki_issue(ca, &sa, now, &rng, &alice), 0);
	assert_int_equal(verify(alice.cert, cap.cert), 0);
	zt_pki_ca_free(ca);
	assert_int_equal(zt_pki_ca_load(&ca, cap.cert, otherp.key), ZT_EMALFORMED);
	assert_int_equal(zt_pki_ca_load(&ca, "garbage", cap.key), ZT_EMALFORMED);

	zt_pki_ca_free(other);
	zt_pki_pem_fini(&cap);
	zt_pki_pem_fini(&otherp);
	zt_pki_pem_fini(&inter);
	zt_pki_pem_fini(&web);
	zt_pki_pem_fini(&alice);
}

static void rm_tree(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[4096];

	if (!d)
		return;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
			snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
			unlink(path);
		}
	closedir(d);
	rmdir(dir);
}

static mode_t mode_of(const char *dir, const char *name)
{
	char path[4096];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (stat(path, &st) < 0)
		return 0;
	return st.st_mode & 0777;
}

static void directory(void **state)
{
	struct zt_prng prng;
	struct zt_rng rng = zt_prng_rng(&prng);
	char tmpl[] = "/tmp/zt-pki-XXXXXX", dir[64], path[4096], *ca = NULL, *key = NULL;
	struct zt_addr ip = qh_addr("127.0.0.1");
	struct zt_pki_subject subj[] = {
		{ .kind = ZT_PKI_INTERMEDIATE, .name = "relay", .ips = &ip, .n_ips = 1 },
		{ .kind = ZT_PKI_SERVICE, .name = "web" },
		{ .kind = ZT_PKI_AGENT, .name = "alice" },
	};
	struct zt_pki_subject more[] = { { .kind = ZT_PKI_CONNECTOR, .name = "c1" } };
	struct zt_pki_subject badname[] = { { .kind = ZT_PKI_AGENT, .name = "x y" } };
	time_t now = time(NULL);

	(void)state;
	zt_prng_seed(&prng, 1);
	assert_non_null(mkdtemp(tmpl));
	snprintf(dir, sizeof(dir), "%s/pki", tmpl);
	assert_int_equal(zt_pki_init_dir(dir, "ztna dev CA", subj, 3, false, now, &rng), 0);
	assert_int_equal(mode_of(dir, ""), 0700);
	assert_int_equal(mode_of(dir, "ca.key"), 0600);
	assert_int_equal(mode_of(dir, "ca.pem"), 0644);
	assert_int_equal(mode_of(dir, "intermediate.key"), 0600);
	assert_int_equal(mode_of(dir, "intermediate.pem"), 0644);
	assert_int_equal(mode_of(dir, "service-web.pem"), 0644);
	assert_int_equal(mode_of(dir, "agent-alice.key"), 0600);
	assert_int_equal(mode_of(dir, "connector-c1.pem"), 0);

	/* No second CA over the first. */
	assert_int_equal(zt_pki_init_dir(dir, "ztna dev CA", subj, 3, false, now, &rng), -EEXIST);
	/* More identities later, under the same CA; existing ones are not overwritten. */
	assert_int_equal(zt_pki_issue_dir(dir, more, 1, false, now, &rng), 0);
	assert_int_equal(mode_of(dir, "connector-c1.key"), 0600);
	assert_int_equal(zt_pki_issue_dir(dir, more, 1, false, now, &rng), -EEXIST);
	assert_int_equal(zt_pki_issue_dir(dir, badname, 1, false, now, &rng), ZT_ESYNTAX);

	snprintf(path, sizeof(path), "%s/ca.pem", dir);
	assert_int_equal(zt_pki_read_file(path, &ca), 0);
	snprintf(path, sizeof(path), "%s/connector-c1.pem", dir);
	assert_int_equal(zt_pki_read_file(path, &key), 0);
	assert_int_equal(verify(key, ca), 0);
	free(ca);
	free(key);
	snprintf(path, sizeof(path), "%s/nothing", dir);
	assert_int_equal(zt_pki_read_file(path, &ca), -ENOENT);
	assert_int_equal(zt_pki_issue_dir(tmpl, more, 1, false, now, &rng), -ENOENT);

	rm_tree(dir);
	rm_tree(tmpl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(names_and_identities),
		cmocka_unit_test(issued_certificates),
		cmocka_unit_test(directory),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
