#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/err.h"
#include "core/rng.h"
#include "quic/certinfo.h"
#include "quic/pki.h"

static struct zt_addr ip(const char *text)
{
	struct zt_addr a;

	memset(&a, 0, sizeof(a));
	assert_int_equal(zt_addr_parse(&a, text, 0), 0);
	return a;
}

static void reads_what_pki_issued(void **state)
{
	struct zt_prng prng;
	struct zt_rng rng = zt_prng_rng(&prng);
	struct zt_pki_ca *ca;
	struct zt_pki_pem cap = { 0 }, inter = { 0 };
	struct zt_addr ips[2] = { ip("192.0.2.7"), ip("2001:db8::7") };
	const char *dns[] = { "relay.example" };
	struct zt_pki_subject si = { .kind = ZT_PKI_INTERMEDIATE, .name = "relay", .ips = ips,
				     .n_ips = 2, .dns = dns, .n_dns = 1, .days = 90 };
	time_t now = 1800000000;
	struct zt_certinfo c, c2;

	(void)state;
	zt_prng_seed(&prng, 3);
	assert_int_equal(zt_pki_ca_new(&ca, "test CA", 0, now, &rng), 0);
	assert_int_equal(zt_pki_ca_pem(ca, &cap), 0);
	assert_int_equal(zt_pki_issue(ca, &si, now, &rng, &inter), 0);

	assert_int_equal(zt_certinfo_pem(inter.cert, &c), 0);
	assert_string_equal(c.cn, "relay");
	assert_string_equal(c.issuer_cn, "test CA");
	assert_string_equal(c.identity, "ztna:intermediate:relay");
	assert_non_null(strstr(c.sans, "DNS:intermediate.ztna"));
	assert_non_null(strstr(c.sans, "DNS:relay.example"));
	assert_non_null(strstr(c.sans, "IP:192.0.2.7"));
	assert_non_null(strstr(c.sans, "IP:2001:db8::7"));
	assert_non_null(strstr(c.sans, "URI:ztna:intermediate:relay"));
	assert_false(c.is_ca);
	assert_int_equal(strlen(c.sha256), 32 * 3 - 1);
	assert_true(strlen(c.serial) > 0);
	assert_true(c.not_before <= now);
	assert_true(c.not_after >= now + 89 * 86400 && c.not_after <= now + 91 * 86400);

	assert_int_equal(zt_certinfo_pem(cap.cert, &c2), 0);
	assert_true(c2.is_ca);
	assert_string_equal(c2.cn, "test CA");
	assert_string_equal(c2.identity, "");
	assert_string_not_equal(c2.sha256, c.sha256);

	zt_pki_pem_fini(&inter);
	zt_pki_pem_fini(&cap);
	zt_pki_ca_free(ca);
}

static void expiry_states(void **state)
{
	struct zt_certinfo c = { .not_before = 1000000, .not_after = 1000000 + 100 * 86400 };
	long days = 0;

	(void)state;
	assert_int_equal(zt_certinfo_expiry(&c, 1000000 + 10 * 86400, 30, &days), ZT_CERT_VALID);
	assert_int_equal(days, 90);
	assert_int_equal(zt_certinfo_expiry(&c, 1000000 + 71 * 86400, 30, &days),
			 ZT_CERT_EXPIRES_SOON);
	assert_int_equal(days, 29);
	assert_int_equal(zt_certinfo_expiry(&c, 1000000 + 70 * 86400, 30, NULL), ZT_CERT_VALID);
	assert_int_equal(zt_certinfo_expiry(&c, c.not_after, 30, &days), ZT_CERT_EXPIRES_SOON);
	assert_int_equal(days, 0);
	assert_int_equal(zt_certinfo_expiry(&c, c.not_after + 1, 30, &days), ZT_CERT_EXPIRED);
	assert_int_equal(days, -1);
	assert_int_equal(zt_certinfo_expiry(&c, c.not_after + 3 * 86400, 30, &days),
			 ZT_CERT_EXPIRED);
	assert_int_equal(days, -3);
	assert_int_equal(zt_certinfo_expiry(&c, 999999, 30, NULL), ZT_CERT_NOT_YET_VALID);
	assert_string_equal(zt_cert_expiry_name(ZT_CERT_EXPIRED), "EXPIRED");
}

static void refuses_what_is_not_a_certificate(void **state)
{
	struct zt_certinfo c;
	char path[] = "/tmp/zt-certinfo-XXXXXX";
	int fd;

	(void)state;
	assert_int_equal(zt_certinfo_pem("", &c), ZT_EMALFORMED);
	assert_int_equal(zt_certinfo_pem("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE "
					 "KEY-----\n", &c), ZT_EMALFORMED);
	assert_int_equal(zt_certinfo_pem("-----BEGIN CERTIFICATE-----\n!!!!\n-----END "
					 "CERTIFICATE-----\n", &c), ZT_EMALFORMED);
	assert_int_equal(zt_certinfo_file("/nonexistent/zt-cert.pem", &c), -ENOENT);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "hello\n", 6), 6);
	close(fd);
	assert_int_equal(zt_certinfo_file(path, &c), ZT_EMALFORMED);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(reads_what_pki_issued),
		cmocka_unit_test(expiry_states),
		cmocka_unit_test(refuses_what_is_not_a_certificate),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
