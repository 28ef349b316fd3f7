/* app/upnp.c: the bounds on a UPnP IGD's answers (zt_upnp_check). The worker thread and
 * libminiupnpc are exercised against miniupnpd in tests/lab/portmap_client.sh. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "app/upnp.h"

static struct zt_addr local(void)
{
	struct zt_addr a;

	assert_int_equal(zt_addr_parse(&a, "192.168.1.2:40000", 0), 0);
	return a;
}

static int check(const struct zt_upnp_answer *a, bool any_port, struct zt_addr *ext,
		 uint32_t *lease, bool *clamped, const char **why)
{
	struct zt_addr l = local();

	return zt_upnp_check(a, &l, 40000, any_port, 86400, ext, lease, clamped, why);
}

static void good_answer_taken(void **state)
{
	struct zt_upnp_answer a = { .ext_ip = "100.21.0.1", .ext_port = "40000",
				    .int_client = "192.168.1.2", .int_port = "40000",
				    .lease = "7199" };
	struct zt_addr ext;
	uint32_t lease;
	bool clamped = true;
	const char *why;
	char s[ZT_ADDR_STRLEN];
	(void)state;

	assert_int_equal(check(&a, false, &ext, &lease, &clamped, &why), 0);
	assert_string_equal(zt_addr_str(&ext, s), "100.21.0.1:40000");
	assert_int_equal(lease, 7199);
	assert_false(clamped);
	/* an IGD without GetSpecificPortMappingEntry: the lease asked for */
	a.int_client[0] = a.int_port[0] = a.lease[0] = '\0';
	assert_int_equal(check(&a, false, &ext, &lease, &clamped, &why), 0);
	assert_int_equal(lease, 7200);
	/* AddAnyPortMapping's port */
	strcpy(a.ext_port, "51000");
	assert_int_equal(check(&a, true, &ext, &lease, &clamped, &why), 0);
	assert_int_equal(ext.port, 51000);
}

static void leases_clamped_or_refused(void **state)
{
	struct zt_upnp_answer a = { .ext_ip = "198.51.100.9", .ext_port = "40000" };
	struct zt_addr ext;
	uint32_t lease;
	bool clamped;
	const char *why;
	(void)state;

	strcpy(a.lease, "0"); /* permanent */
	assert_int_equal(check(&a, false, &ext, &lease, &clamped, &why), 0);
	assert_true(clamped);
	assert_int_equal(lease, 86400);
	strcpy(a.lease, "4294967295");
	assert_int_equal(check(&a, false, &ext, &lease, &clamped, &why), 0);
	assert_true(clamped);
	assert_int_equal(lease, 86400);
	strcpy(a.lease, "99999999999999");
	assert_int_equal(check(&a, false, &ext, &lease, &clamped, &why), -EPROTO);
	strcpy(a.lease, "9");
	assert_int_equal(check(&a, false, &ext, &lease, &clamped, &why), -EPROTO);
	assert_string_equal(why, "lease under 10 s");
	strcpy(a.lease, "-5");
	assert_int_equal(check(&a, false, &ext, &lease, &clamped, &why), -EPROTO);
	strcpy(a.lease, "12abc");
	assert_int_equal(check(&a, false, &ext, &lease, &clamped, &why), -EPROTO);
}

static void hostile_answers_refused(void **state)
{
	static const char *const bad_ips[] = {
		"", "garbage", "10.0.0.1", "192.168.1.1", "172.20.0.1", "100.64.0.1", "127.0.0.1",
		"169.254.1.1", "0.0.0.0", "224.0.0.1", "255.255.255.255", "240.0.0.1",
		"192.0.0.8", "198.18.0.1", "2001:db8::1", "1.2.3.4 ", " 1.2.3.4", "1.2.3.4.5",
	};
	static const char *const bad_ports[] = { "", "0", "65536", "40001", "-1", "4e4", "040000" };
	struct zt_upnp_answer a;
	struct zt_addr ext = { 0 };
	uint32_t lease = 0;
	bool clamped;
	const char *why;
	(void)state;

	for (size_t i = 0; i < sizeof(bad_ips) / sizeof(bad_ips[0]); i++) {
		a = (struct zt_upnp_answer){ .ext_port = "40000" };
		strcpy(a.ext_ip, bad_ips[i]);
		assert_int_equal(check(&a, false, &ext, &lease, &clamped, &why), -EPROTO);
		assert_string_equal(why, "external address not a public IPv4 address");
	}
	/* not NUL-terminated within the buffer */
	a = (struct zt_upnp_answer){ .ext_port = "40000" };
	memset(a.ext_ip, '1', sizeof(a.ext_ip));
	assert_int_equal(check(&a, false, &ext, &lease, &clamped, &why), -EPROTO);
	for (size_t i = 0; i < sizeof(bad_ports) / sizeof(bad_ports[0]); i++) {
		a = (struct zt_upnp_answer){ .ext_ip = "100.21.0.1" };
		strcpy(a.ext_port, bad_ports[i]);
		/* "040000" is 40000 in decimal: taken; the others refused */
		assert_int_equal(check(&a, false, &ext, &lease, &clamped, &why),
				 !strcmp(bad_ports[i], "040000") ? 0 : -EPROTO);
	}
	ext = (struct zt_addr){ 0 };
	lease = 0;
	a = (struct zt_upnp_answer){ .ext_ip = "100.21.0.1", .ext_port = "40000",
				     .int_client = "192.168.1.3", .int_port = "40000" };
	assert_int_equal(check(&a, false, &ext, &lease, &clamped, &why), -EPROTO);
	assert_string_equal(why, "mapping for another internal client");
	strcpy(a.int_client, "192.168.1.2");
	strcpy(a.int_port, "40001");
	assert_int_equal(check(&a, false, &ext, &lease, &clamped, &why), -EPROTO);
	assert_string_equal(why, "mapping for another internal port");
	/* refused: the out-parameters are untouched */
	assert_int_equal(ext.family, 0);
	assert_int_equal(lease, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(good_answer_taken),
		cmocka_unit_test(leases_clamped_or_refused),
		cmocka_unit_test(hostile_answers_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
