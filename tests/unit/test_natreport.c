#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "core/err.h"
#include "core/natreport.h"

static struct zt_addr addr(const char *text)
{
	struct zt_addr a;

	assert_int_equal(zt_addr_parse(&a, text, 0), 0);
	return a;
}

/* A sequential symmetric NAT, lifetime measured, 4 round trips, 1 of 10 lost. */
static void sample_result(struct zt_natdisc_result *r)
{
	static const uint64_t rtt[] = { 30 * ZT_MS, 10 * ZT_MS, 12345 * ZT_US, 20 * ZT_MS };

	*r = (struct zt_natdisc_result){
		.done = true, .type = ZT_NAT_TYPE_SYMMETRIC, .nat = true, .rfc5780 = true,
		.mapped = addr("198.51.100.7:40001"), .other = addr("203.0.113.11:3479"),
		.mapping = ZT_NAT_ADDRESS_PORT_DEPENDENT,
		.filtering = ZT_NAT_ADDRESS_PORT_DEPENDENT, .hairpin = ZT_NAT_HAIRPIN_NO,
		.ports = ZT_NAT_PORTS_SEQUENTIAL, .port_samples = 3,
		.port_local = { 5002, 5003, 5004 }, .port_mapped = { 40004, 40005, 40006 },
		.lifetime = ZT_NATDISC_LIFETIME_MEASURED, .lifetime_method = ZT_NATDISC_LT_PORT,
		.lifetime_alive = 4500 * ZT_MS, .lifetime_gone = 5 * ZT_SEC,
		.requests = 10, .answers = 9, .rtt_samples = 4,
	};
	memcpy(r->rtt, rtt, sizeof(rtt));
}

/* Two reports are equal when they write the same document (no padding compared). */
static void assert_same_report(const struct zt_natreport *a, const struct zt_natreport *b)
{
	char da[ZT_NATREPORT_MAX], db[ZT_NATREPORT_MAX];

	assert_true(zt_natreport_write(a, da, sizeof(da)) > 0);
	assert_true(zt_natreport_write(b, db, sizeof(db)) > 0);
	assert_string_equal(da, db);
	assert_int_equal(a->rtt_min_us, b->rtt_min_us);
	assert_int_equal(a->hairpin, b->hairpin);
	assert_true(zt_addr_equal(&a->public_addr, &b->public_addr));
}

static void from_result_write_and_read_back(void **state)
{
	struct zt_natdisc_result res;
	struct zt_natreport rep, back;
	struct zt_addr server = addr("203.0.113.10:3478"), local = addr("192.168.1.2:5000");
	const char *field = "x", *why = "x";
	char buf[ZT_NATREPORT_MAX];
	int n;

	(void)state;
	sample_result(&res);
	zt_natreport_from_result(&rep, &res, &server, &local, 10 * ZT_SEC);
	assert_int_equal(rep.rtt_min_us, 10000);
	assert_int_equal(rep.rtt_median_us, 12345);   /* the lower middle of 4 */
	assert_true(zt_natreport_loss(&rep) > 0.099 && zt_natreport_loss(&rep) < 0.101);
	n = zt_natreport_write(&rep, buf, sizeof(buf));
	assert_true(n > 0);
	assert_non_null(strstr(buf, "\"schema\": 1,\n"));
	assert_non_null(strstr(buf, "\"type\": \"symmetric\""));
	assert_non_null(strstr(buf, "\"ports\": \"sequential\""));
	assert_non_null(strstr(buf, "\"port_public\": [40004, 40005, 40006]"));
	assert_non_null(strstr(buf, "\"hairpinning\": false"));
	assert_non_null(strstr(buf, "\"rtt_min_ms\": 10.000"));
	assert_non_null(strstr(buf, "\"rtt_median_ms\": 12.345"));
	assert_non_null(strstr(buf, "\"lifetime_gone_ms\": 5000"));
	assert_non_null(strstr(buf, "\"loss\": 0.1000\n}"));
	assert_int_equal(zt_natreport_parse(buf, (size_t)n, &back, &field, &why), 0);
	assert_same_report(&back, &rep);
	assert_int_equal(zt_natreport_write(&rep, buf, 100), -ENOBUFS);
}

/* udp blocked: no answer, so everything but the server and the loss is null. */
static void unknown_values_are_null(void **state)
{
	struct zt_natdisc_result res = { .done = true, .type = ZT_NAT_TYPE_UDP_BLOCKED,
					 .requests = 3 };
	struct zt_natreport rep, back;
	struct zt_addr server = addr("203.0.113.10:3478"), local = addr("192.168.1.2:5000");
	const char *field, *why;
	char buf[ZT_NATREPORT_MAX];
	int n;

	(void)state;
	zt_natreport_from_result(&rep, &res, &server, &local, 0);
	n = zt_natreport_write(&rep, buf, sizeof(buf));
	assert_true(n > 0);
	for (const char *const *k = (const char *const[]){ "public", "server_other", "nat",
		"mapping", "filtering", "hairpinning", "ports", "lifetime", "lifetime_alive_ms",
		"lifetime_gone_ms", "lifetime_max_ms", "rtt_min_ms", "rtt_median_ms", NULL }; *k; k++) {
		char want[64];

		snprintf(want, sizeof(want), "\"%s\": null", *k);
		if (!strstr(buf, want))
			fail_msg("%s not null in\n%s", *k, buf);
	}
	assert_non_null(strstr(buf, "\"udp_blocked\": true"));
	assert_non_null(strstr(buf, "\"loss\": 1.0000"));
	assert_int_equal(zt_natreport_parse(buf, (size_t)n, &back, &field, &why), 0);
	assert_same_report(&back, &rep);
}

/* Replace the first "from" in the document by "to" and parse: the error's field. */
static int parse_edit(const char *doc, const char *from, const char *to, const char **field)
{
	char buf[ZT_NATREPORT_MAX + 64];
	const char *at = strstr(doc, from), *why = NULL;
	struct zt_natreport r;
	int rc;

	assert_non_null(at);
	snprintf(buf, sizeof(buf), "%.*s%s%s", (int)(at - doc), doc, to, at + strlen(from));
	rc = zt_natreport_parse(buf, strlen(buf), &r, field, &why);
	if (rc < 0)
		assert_non_null(why);
	return rc;
}

static void bad_reports_name_the_field(void **state)
{
	static const struct {
		const char *from, *to, *field;
		int rc;
	} cases[] = {
		{ "\"schema\": 1", "\"schema\": 2", "schema", ZT_ECONF_VALUE },
		{ "\"schema\": 1,", "", "schema", ZT_ECONF_MISSING },
		{ "\"type\": \"symmetric\"", "\"type\": \"cone\"", "type", ZT_ECONF_VALUE },
		{ "\"type\": \"symmetric\"", "\"type\": 3", "type", ZT_ECONF_VALUE },
		{ "\"ports\": \"sequential\",", "", "ports", ZT_ECONF_MISSING },
		{ "[40004, 40005, 40006]", "[40004, 0, 40006]", "port_public", ZT_ECONF_VALUE },
		{ "[40004, 40005, 40006]", "[40004]", "port_public", ZT_ECONF_VALUE },
		{ "\"hairpinning\": false", "\"hairpinning\": \"no\"", "hairpinning", ZT_ECONF_VALUE },
		{ "\"udp_blocked\": false", "\"udp_blocked\": null", "udp_blocked", ZT_ECONF_VALUE },
		{ "\"udp_blocked\": false", "\"udp_blocked\": true", "udp_blocked", ZT_ECONF_VALUE },
		{ "\"public\": \"198.51.100.7:40001\"", "\"public\": \"nowhere\"", "public",
		  ZT_ECONF_VALUE },
		{ "\"rtt_samples\": 4", "\"rtt_samples\": 0", "rtt_min_ms", ZT_ECONF_VALUE },
		{ "\"rtt_min_ms\": 10.000", "\"rtt_min_ms\": -1", "rtt_min_ms", ZT_ECONF_VALUE },
		{ "\"loss\": 0.1000", "\"loss\": 0.5", "loss", ZT_ECONF_VALUE },
		{ "\"answers\": 9", "\"answers\": 11", "answers", ZT_ECONF_VALUE },
		{ "\"lifetime_gone_ms\": 5000", "\"lifetime_gone_ms\": null", "lifetime_gone_ms",
		  ZT_ECONF_VALUE },
		{ "\"requests\": 10", "\"requests\": 1.5", "requests", ZT_ECONF_VALUE },
		{ "{", "[", "", ZT_EMALFORMED },
		{ "\"loss\": 0.1000", "\"loss\": 0.1000,", "", ZT_EMALFORMED },
		{ "\"schema\": 1", "\"schema\": 1, \"extra\": [1, {\"x\": 2}]", NULL, 0 },
	};
	struct zt_natdisc_result res;
	struct zt_natreport rep;
	struct zt_addr server = addr("203.0.113.10:3478"), local = addr("192.168.1.2:5000");
	char doc[ZT_NATREPORT_MAX];
	const char *field;

	(void)state;
	sample_result(&res);
	zt_natreport_from_result(&rep, &res, &server, &local, 10 * ZT_SEC);
	assert_true(zt_natreport_write(&rep, doc, sizeof(doc)) > 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = parse_edit(doc, cases[i].from, cases[i].to, &field);

		if (rc != cases[i].rc || (rc < 0 && strcmp(field, cases[i].field) != 0))
			fail_msg("case %zu (%s -> %s): rc %d field '%s'", i, cases[i].from, cases[i].to,
				 rc, rc < 0 ? field : "");
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(from_result_write_and_read_back),
		cmocka_unit_test(unknown_values_are_null),
		cmocka_unit_test(bad_reports_name_the_field),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
