#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/err.h"
#include "../../netns/fromreport.h"
#include "../../netns/scenario.h"

/* A symmetric NAT, sequential ports, lifetime 4.5-5 s, 12.346 ms, 1 of 10 lost. */
static const char report_a[] =
	"{\"schema\": 1, \"server\": \"203.0.113.10:3478\", \"server_other\": \"203.0.113.11:3479\",\n"
	" \"local\": \"192.168.1.2:5000\", \"public\": \"198.51.100.7:40001\", \"udp_blocked\": false,\n"
	" \"nat\": true, \"type\": \"symmetric\", \"mapping\": \"address-and-port-dependent\",\n"
	" \"filtering\": \"address-and-port-dependent\", \"hairpinning\": false,\n"
	" \"ports\": \"sequential\", \"port_local\": [5002, 5003, 5004],\n"
	" \"port_public\": [40004, 40005, 40006], \"lifetime\": \"measured\",\n"
	" \"lifetime_alive_ms\": 4500, \"lifetime_gone_ms\": 5000, \"lifetime_max_ms\": 10000,\n"
	" \"rtt_min_ms\": 10.0, \"rtt_median_ms\": 12.346, \"rtt_samples\": 4,\n"
	" \"requests\": 10, \"answers\": 9, \"loss\": 0.1}\n";

/* A full-cone NAT that hairpins, no lifetime, 0.05 ms: no link line. */
static const char report_b[] =
	"{\"schema\": 1, \"server\": \"203.0.113.10:3478\", \"server_other\": null,\n"
	" \"local\": \"10.0.0.2:5000\", \"public\": \"198.51.100.8:5000\", \"udp_blocked\": false,\n"
	" \"nat\": true, \"type\": \"full-cone\", \"mapping\": \"endpoint-independent\",\n"
	" \"filtering\": \"endpoint-independent\", \"hairpinning\": true, \"ports\": \"preserve\",\n"
	" \"port_local\": [], \"port_public\": [], \"lifetime\": null, \"lifetime_alive_ms\": null,\n"
	" \"lifetime_gone_ms\": null, \"lifetime_max_ms\": null, \"rtt_min_ms\": 0.04,\n"
	" \"rtt_median_ms\": 0.05, \"rtt_samples\": 3, \"requests\": 3, \"answers\": 3, \"loss\": 0}\n";

/* Generates from two report texts; returns the code, the scenario text in *ret. */
static int generate(const char *a, const char *b, char **ret, char *err, size_t errcap)
{
	struct zt_fromreport_src src[2] = {
		{ .path = "a.json", .text = a, .len = strlen(a) },
		{ .path = "b.json", .text = b, .len = strlen(b) },
	};
	size_t n;
	FILE *f = open_memstream(ret, &n);
	int rc;

	assert_non_null(f);
	rc = zt_fromreport(f, src, err, errcap);
	fclose(f);
	return rc;
}

static void rebuilds_both_networks(void **state)
{
	struct zt_scn *s = malloc(sizeof(*s));
	struct zt_scn_error e;
	char *text, err[256];
	int a, b, ha, hb;

	(void)state;
	assert_non_null(s);
	assert_int_equal(generate(report_a, report_b, &text, err, sizeof(err)), 0);
	if (zt_scn_parse(s, text, strlen(text), "field.lab", &e) < 0)
		fail_msg("%s\n%s", e.msg, text);
	a = zt_scn_find(s, "nat_a");
	b = zt_scn_find(s, "nat_b");
	ha = zt_scn_find(s, "host_a");
	hb = zt_scn_find(s, "host_b");
	assert_true(a >= 0 && b >= 0 && ha >= 0 && hb >= 0);
	assert_true(zt_scn_find(s, "stun") >= 0 && zt_scn_find(s, "imd") >= 0);
	assert_int_equal(s->nodes[zt_scn_find(s, "stun")].naddr, 2);
	assert_int_equal(s->nodes[a].type, ZT_NAT_SYMMETRIC);
	assert_int_equal(s->nodes[a].ports, ZT_SCN_PORTS_SEQUENTIAL);
	assert_int_equal(s->nodes[a].timeout_s, 5);       /* the middle of 4.5 .. 5 s */
	assert_false(s->nodes[a].hairpin);
	assert_int_equal(s->nodes[b].type, ZT_NAT_FULL_CONE);
	assert_true(s->nodes[b].hairpin);
	assert_int_equal(s->nodes[b].timeout_s, 120);     /* not measured: the default */
	assert_int_equal(s->nodes[ha].up, a);
	assert_int_equal(s->nodes[hb].up, b);
	/* 12.346 ms / 2 each way; 1 - (1 - p)^2 = 0.1 -> p = 5.1317 % */
	assert_true(s->nodes[ha].link.set);
	assert_int_equal(s->nodes[ha].link.delay_ns, 6173000);
	assert_int_equal(s->nodes[ha].link.loss_ppm, 51317);
	assert_false(s->nodes[hb].link.set);              /* 25 us: not emulated */
	assert_non_null(strstr(text, "# nat_a (host_a behind it) from a.json:"));
	assert_non_null(strstr(text, "lifetime measured: alive after 4.5 s, gone after 5.0 s -> timeout 5"));
	assert_non_null(strstr(text, "hairpinning true -> hairpin on"));
	free(text);
	free(s);
}

static void other_types(void **state)
{
	struct zt_scn *s = malloc(sizeof(*s));
	struct zt_scn_error e;
	char *text, err[256], b[sizeof(report_b) + 64];
	const char *at;
	int nb, hb;

	(void)state;
	/* no NAT (open): the host on the public segment */
	at = strstr(report_b, "\"full-cone\"");
	snprintf(b, sizeof(b), "%.*s\"open\"%s", (int)(at - report_b), report_b,
		 at + strlen("\"full-cone\""));
	assert_int_equal(generate(report_a, b, &text, err, sizeof(err)), 0);
	assert_int_equal(zt_scn_parse(s, text, strlen(text), "field.lab", &e), 0);
	nb = zt_scn_find(s, "nat_b");
	hb = zt_scn_find(s, "host_b");
	assert_int_equal(nb, -1);
	assert_int_equal(s->nodes[hb].up, -1);
	free(text);
	/* unknown type: refused, naming the file and the field */
	snprintf(b, sizeof(b), "%.*snull%s", (int)(at - report_b), report_b,
		 at + strlen("\"full-cone\""));
	assert_int_equal(generate(report_a, b, &text, err, sizeof(err)), ZT_ECONF_VALUE);
	assert_non_null(strstr(err, "b.json: field type: null"));
	free(text);
	/* a bad report: the parser's field */
	assert_true(generate("{\"schema\": 2}", report_b, &text, err, sizeof(err)) < 0);
	assert_string_equal(err, "a.json: field schema: this version reads schema 1 only");
	free(text);
	assert_true(generate(report_a, "{", &text, err, sizeof(err)) < 0);
	assert_string_equal(err, "b.json: not valid JSON");
	free(text);
	free(s);
}

/* No answer at all: a NAT that drops UDP, no link line (no round trip, the loss is the
 * block's). */
static void udp_blocked(void **state)
{
	static const char blocked[] =
		"{\"schema\": 1, \"server\": \"203.0.113.10:3478\", \"server_other\": null,\n"
		" \"local\": \"10.0.0.2:5000\", \"public\": null, \"udp_blocked\": true, \"nat\": null,\n"
		" \"type\": \"udp-blocked\", \"mapping\": null, \"filtering\": null, \"hairpinning\": null,\n"
		" \"ports\": null, \"port_local\": [], \"port_public\": [], \"lifetime\": null,\n"
		" \"lifetime_alive_ms\": null, \"lifetime_gone_ms\": null, \"lifetime_max_ms\": null,\n"
		" \"rtt_min_ms\": null, \"rtt_median_ms\": null, \"rtt_samples\": 0, \"requests\": 3,\n"
		" \"answers\": 0, \"loss\": 1}\n";
	struct zt_scn *s = malloc(sizeof(*s));
	struct zt_scn_error e;
	char *text, err[256];
	int b, hb;

	(void)state;
	assert_int_equal(generate(report_a, blocked, &text, err, sizeof(err)), 0);
	if (zt_scn_parse(s, text, strlen(text), "field.lab", &e) < 0)
		fail_msg("%s\n%s", e.msg, text);
	b = zt_scn_find(s, "nat_b");
	hb = zt_scn_find(s, "host_b");
	assert_true(b >= 0 && hb >= 0);
	assert_true(s->nodes[b].block_udp);
	assert_int_equal(s->nodes[b].type, ZT_NAT_PORT_RESTRICTED);
	assert_false(s->nodes[hb].link.set);
	assert_non_null(strstr(text, "approximated: no answer at all"));
	free(text);
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(rebuilds_both_networks),
		cmocka_unit_test(other_types),
		cmocka_unit_test(udp_blocked),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
