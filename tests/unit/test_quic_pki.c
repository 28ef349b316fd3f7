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
	/* the client of another Intermediate's link (docs/scale-out.md) */
	assert_true(has_purpose(crt, GNUTLS_KP_TLS_WWW_CLIENT));
	gnutls_x509_crt_deinit(crt);

	crt = parse(web.cert);
	assert_true(has_san(crt, GNUTLS_SAN_URI, "ztna:service:web", 16));
	assert_true(gnutls_x509_crt_check_hostname(crt, "svc-web.ztna"));
	assert_false(gnutls_x509_crt_check_hostname(crt, "svc-db.ztna"));
	assert_true(has_purpose(crt, GNUTLS_KP_TLS_WWW_SERVER));
	/* a service key only serves: it never passes as a client */
	assert_false(has_purpose(crt, GNUTLS_KP_TLS_WWW_CLIENT));
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
			if (unlink(path) < 0)
				rm_tree(path);
		}
	closedir(d);
	rmdir(dir);
}

/* The names in dir, sorted, space-separated. */
static void listing(const char *dir, char *out, size_t cap)
{
	struct dirent **names;
	int n = scandir(dir, &names, NULL, alphasort);
	size_t used = 0;

	out[0] = '\0';
	for (int i = 0; i < n; i++) {
		if (names[i]->d_name[0] != '.')
			used += (size_t)snprintf(out + used, used < cap ? cap - used : 0, "%s%s",
						 used ? " " : "", names[i]->d_name);
		free(names[i]);
	}
	free(names);
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

static char *read_in(const char *dir, const char *name)
{
	char path[4096], *text = NULL;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_int_equal(zt_pki_read_file(path, &text), 0);
	return text;
}

/* One bundle per party, each with only its own keys; the CA's key apart. */
static void directory(void **state)
{
	struct zt_prng prng;
	struct zt_rng rng = zt_prng_rng(&prng);
	char tmpl[] = "/tmp/zt-pki-XXXXXX", dir[64], sub[128], list[512], *ca, *leaf;
	struct zt_addr ip = qh_addr("127.0.0.1");
	struct zt_pki_subject subj[] = {
		{ .kind = ZT_PKI_INTERMEDIATE, .name = "relay", .ips = &ip, .n_ips = 1 },
		{ .kind = ZT_PKI_CONNECTOR, .name = "c1" },
		{ .kind = ZT_PKI_SERVICE, .name = "web", .connector = "c1" },
		{ .kind = ZT_PKI_SERVICE, .name = "db", .connector = "c2" },
		{ .kind = ZT_PKI_SERVICE, .name = "web", .connector = "c2" },
		{ .kind = ZT_PKI_AGENT, .name = "alice" },
	};
	struct zt_pki_subject more[] = { { .kind = ZT_PKI_CONNECTOR, .name = "c2" } };
	struct zt_pki_subject badname[] = { { .kind = ZT_PKI_AGENT, .name = "x y" } };
	struct zt_pki_subject orphan[] = { { .kind = ZT_PKI_SERVICE, .name = "ssh" } };
	time_t now = time(NULL);

	(void)state;
	zt_prng_seed(&prng, 1);
	assert_non_null(mkdtemp(tmpl));
	snprintf(dir, sizeof(dir), "%s/pki", tmpl);
	assert_int_equal(zt_pki_init_dir(dir, "ztna dev CA", subj, 6, false, now, &rng), 0);
	listing(dir, list, sizeof(list));
	assert_string_equal(list, "agent-alice ca connector-c1 connector-c2 intermediate");
	snprintf(sub, sizeof(sub), "%s/ca", dir);
	listing(sub, list, sizeof(list));
	assert_string_equal(list, "ca.key ca.pem");
	snprintf(sub, sizeof(sub), "%s/intermediate", dir);
	listing(sub, list, sizeof(list));
	assert_string_equal(list, "ca.pem intermediate.key intermediate.pem");
	snprintf(sub, sizeof(sub), "%s/agent-alice", dir);
	listing(sub, list, sizeof(list));
	assert_string_equal(list, "agent-alice.key agent-alice.pem ca.pem");
	snprintf(sub, sizeof(sub), "%s/connector-c1", dir);
	listing(sub, list, sizeof(list));
	assert_string_equal(list, "ca.pem connector-c1.key connector-c1.pem service-web.key "
				  "service-web.pem");
	assert_int_equal(mode_of(dir, ""), 0700);
	assert_int_equal(mode_of(dir, "ca"), 0700);
	assert_int_equal(mode_of(dir, "ca/ca.key"), 0600);
	assert_int_equal(mode_of(dir, "connector-c1"), 0700);
	assert_int_equal(mode_of(dir, "connector-c1/service-web.key"), 0600);
	assert_int_equal(mode_of(dir, "connector-c1/service-web.pem"), 0644);
	assert_int_equal(mode_of(dir, "agent-alice/ca.pem"), 0644);

	/* The same service for two connectors: two certificates, two keys. */
	ca = read_in(sub, "service-web.key");
	snprintf(sub, sizeof(sub), "%s/connector-c2", dir);
	leaf = read_in(sub, "service-web.key");
	assert_string_not_equal(ca, leaf);
	free(ca);
	free(leaf);

	/* No second CA over the first. */
	assert_int_equal(zt_pki_init_dir(dir, "ztna dev CA", subj, 6, false, now, &rng), -EEXIST);
	/* More identities later, under the same CA, into their bundles. */
	assert_int_equal(zt_pki_issue_dir(dir, more, 1, false, now, &rng), 0);
	listing(sub, list, sizeof(list));
	assert_string_equal(list, "ca.pem connector-c2.key connector-c2.pem service-db.key "
				  "service-db.pem service-web.key service-web.pem");
	assert_int_equal(zt_pki_issue_dir(dir, more, 1, false, now, &rng), -EEXIST);
	assert_int_equal(zt_pki_issue_dir(dir, badname, 1, false, now, &rng), ZT_ESYNTAX);
	assert_int_equal(zt_pki_issue_dir(dir, orphan, 1, false, now, &rng), ZT_ESYNTAX);

	ca = read_in(dir, "ca/ca.pem");
	leaf = read_in(sub, "connector-c2.pem");
	assert_int_equal(verify(leaf, ca), 0);
	free(leaf);
	leaf = read_in(sub, "ca.pem");
	assert_string_equal(leaf, ca);
	free(ca);
	free(leaf);
	snprintf(sub, sizeof(sub), "%s/nothing", dir);
	assert_int_equal(zt_pki_read_file(sub, &ca), -ENOENT);
	assert_int_equal(zt_pki_issue_dir(tmpl, more, 1, false, now, &rng), -ENOENT);

	rm_tree(tmpl);
}

/* A --pki directory holding keys that are not the party's is found out. */
static void bundle_check(void **state)
{
	struct zt_prng prng;
	struct zt_rng rng = zt_prng_rng(&prng);
	char tmpl[] = "/tmp/zt-pki-XXXXXX", dir[64], sub[128], found[4096];
	struct zt_pki_subject subj[] = {
		{ .kind = ZT_PKI_INTERMEDIATE, .name = "intermediate" },
		{ .kind = ZT_PKI_CONNECTOR, .name = "c1" },
		{ .kind = ZT_PKI_SERVICE, .name = "web", .connector = "c1" },
		{ .kind = ZT_PKI_AGENT, .name = "alice" },
	};
	struct zt_pki_subject alice = { .kind = ZT_PKI_AGENT, .name = "alice" };
	struct zt_pki_subject c1 = { .kind = ZT_PKI_CONNECTOR, .name = "c1" };
	struct zt_pki_subject imd = { .kind = ZT_PKI_INTERMEDIATE, .name = "intermediate" };
	FILE *f;

	(void)state;
	zt_prng_seed(&prng, 2);
	assert_non_null(mkdtemp(tmpl));
	snprintf(dir, sizeof(dir), "%s/pki", tmpl);
	assert_int_equal(zt_pki_init_dir(dir, "ztna dev CA", subj, 4, false, time(NULL), &rng), 0);

	/* Each bundle is clean for its own party (a connector's service keys are its). */
	snprintf(sub, sizeof(sub), "%s/agent-alice", dir);
	assert_int_equal(zt_pki_bundle_check(sub, &alice, found, sizeof(found)), 0);
	snprintf(sub, sizeof(sub), "%s/connector-c1", dir);
	assert_int_equal(zt_pki_bundle_check(sub, &c1, found, sizeof(found)), 0);
	snprintf(sub, sizeof(sub), "%s/intermediate", dir);
	assert_int_equal(zt_pki_bundle_check(sub, &imd, found, sizeof(found)), 0);
	/* ... and not for another party. */
	snprintf(sub, sizeof(sub), "%s/connector-c1", dir);
	assert_true(zt_pki_bundle_check(sub, &alice, found, sizeof(found)) >= 2);
	/* The whole tree: the CA's directory and every bundle hold foreign keys. */
	assert_int_equal(zt_pki_bundle_check(dir, &alice, found, sizeof(found)), 4);
	/* A key dropped into a bundle. */
	snprintf(sub, sizeof(sub), "%s/agent-alice/ca.key", dir);
	f = fopen(sub, "w");
	assert_non_null(f);
	fclose(f);
	snprintf(sub, sizeof(sub), "%s/agent-alice", dir);
	assert_int_equal(zt_pki_bundle_check(sub, &alice, found, sizeof(found)), 1);
	assert_non_null(strstr(found, "agent-alice/ca.key"));
	snprintf(sub, sizeof(sub), "%s/none", dir);
	assert_int_equal(zt_pki_bundle_check(sub, &alice, found, sizeof(found)), -ENOENT);

	rm_tree(tmpl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(names_and_identities),
		cmocka_unit_test(issued_certificates),
		cmocka_unit_test(directory),
		cmocka_unit_test(bundle_check),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
