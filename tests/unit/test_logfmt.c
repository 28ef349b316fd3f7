/* core/logfmt: log values escaped so that no value can forge a line or a field. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "../fuzz/logparse.h"
#include "core/err.h"
#include "core/logfmt.h"
#include "core/rng.h"

static bool printable_one_line(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			return false;
	return true;
}

static void plain_values_stay_bare(void **state)
{
	char b[256];

	(void)state;
	zt_logfmt(b, sizeof(b), "service=%s peer=%s services=%s n=%d", "web", "ztna:agent:alice",
		  "echo,db", 5);
	assert_string_equal(b, "service=web peer=ztna:agent:alice services=echo,db n=5");
}

static void values_that_need_it_are_quoted(void **state)
{
	char b[256];

	(void)state;
	zt_logfmt(b, sizeof(b), "a=%s b=%s c=%s d=%s e=%s", "shutting down", "", "k=v",
		  "say \"hi\"", "back\\slash");
	assert_string_equal(b, "a=\"shutting down\" b=\"\" c=\"k=v\" d=\"say \\\"hi\\\"\" "
			       "e=\"back\\\\slash\"");
	zt_logfmt(b, sizeof(b), "x=%s y=%s", "caf\xc3\xa9", "del\x7f\x01");
	assert_string_equal(b, "x=\"caf\\xc3\\xa9\" y=\"del\\x7f\\x01\"");
}

/* The finding: a peer string with a newline and key=value text forged a line. */
static void a_forged_line_stays_one_escaped_value(void **state)
{
	const char *evil = "ztna-agent 0.1\nts=2026-01-01T00:00:00.000Z level=error "
			   "prog=intermediate event=forged identity=ztna:agent:root";
	struct lp_field f[8];
	char b[512];

	(void)state;
	zt_logfmt(b, sizeof(b), "identity=%s software=\"%s\" text=%s", "ztna:agent:alice", evil, evil);
	assert_null(strchr(b, '\n'));
	assert_true(printable_one_line(b));
	assert_int_equal(lp_parse(b, f, 8), 3);
	assert_string_equal(f[0].key, "identity");
	assert_string_equal(f[1].key, "software");
	assert_int_equal(f[1].len, strlen(evil));
	assert_memory_equal(f[1].val, evil, strlen(evil));
	assert_string_equal(f[2].key, "text");
	assert_memory_equal(f[2].val, evil, strlen(evil));
}

static void inside_format_quotes_only_escapes(void **state)
{
	char b[256];

	(void)state;
	zt_logfmt(b, sizeof(b), "error=\"%s\" why=\"%s: %s\"", "a\"b\nc", "x y", "z");
	assert_string_equal(b, "error=\"a\\\"b\\nc\" why=\"x y: z\"");
}

static void numbers_chars_and_odd_specs(void **state)
{
	char b[512];
	uint64_t big = 18446744073709551615ULL;
	int w = 6;
	const char *volatile nothing = NULL; /* the compiler must not see the NULL */

	(void)state;
	zt_logfmt(b, sizeof(b), "a=%d b=%u c=%ld d=%llu e=%zu f=%08x g=%" PRIu64 " h=%" PRIx64
		  " i=%.2f j=%%", -3, 4u, -5L, 6ULL, (size_t)7, 0xabcu, big, big, 1.5);
	assert_string_equal(b, "a=-3 b=4 c=-5 d=6 e=7 f=00000abc g=18446744073709551615 "
			       "h=ffffffffffffffff i=1.50 j=%");
	zt_logfmt(b, sizeof(b), "a=%-4d| b=%*d c=%.*s d=%c e=%c f=%s g=%hhu h=%hd", 7, w, 42, 3,
		  "abcdef", 'q', '\n', nothing, (unsigned char)255, (short)-2);
	assert_string_equal(b, "a=7   | b=    42 c=abc d=q e=\"\\n\" f=(null) g=255 h=-2");
}

static void control_characters_in_the_format_are_escaped(void **state)
{
	char b[64];

	(void)state;
	zt_logfmt(b, sizeof(b), "a=1\nb=%d\tc", 2);
	assert_string_equal(b, "a=1\\nb=2\\tc");
}

static void truncation_closes_quotes_and_says_so(void **state)
{
	char big[3000], b[100];
	struct lp_field f[4];

	(void)state;
	memset(big, '\n', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	for (size_t cap = ZT_LOGFMT_MIN; cap <= sizeof(b); cap++) {
		size_t n = zt_logfmt(b, cap, "k=%s", big);
		assert_true(n < cap);
		assert_int_equal(strlen(b), n);
		assert_true(printable_one_line(b));
		assert_non_null(strstr(b, " truncated=1"));
		/* never half an escape: what is left parses */
		assert_true(lp_parse(b, f, 4) >= 1);
	}
	zt_logfmt(b, sizeof(b), "text=\"%s\" more=%d", big, 5);
	assert_true(lp_parse(b, f, 4) == 2);
	assert_string_equal(f[1].key, "truncated");
	assert_int_equal(zt_logfmt(b, 8, "x=%d", 1), 0);
	assert_string_equal(b, "");
}

static void one_value(void **state)
{
	char b[16];

	(void)state;
	assert_int_equal(zt_logfmt_value(b, sizeof(b), "a b", 3, false), 5);
	assert_string_equal(b, "\"a b\"");
	assert_int_equal(zt_logfmt_value(b, sizeof(b), "a b", 3, true), 3);
	assert_int_equal(zt_logfmt_value(b, sizeof(b), "a\0b", 3, true), 6);
	assert_string_equal(b, "a\\x00b");
	assert_int_equal(zt_logfmt_value(b, 4, "abcdef", 6, false), 0);
	assert_string_equal(b, "");
	assert_true(zt_logfmt_needs_quotes("", 0));
	assert_false(zt_logfmt_needs_quotes("a-b:c,d/e", 9));
}

/* Random byte strings come back byte for byte, and nothing else appears. */
static void random_values_round_trip(void **state)
{
	struct zt_prng prng;
	struct zt_rng rng;
	struct lp_field f[4];
	char v1[200], v2[200], b[2048];

	(void)state;
	zt_prng_seed(&prng, 20261201);
	rng = zt_prng_rng(&prng);
	for (int i = 0; i < 2000; i++) {
		size_t n1 = zt_rng_u32(&rng) % sizeof(v1), n2 = zt_rng_u32(&rng) % sizeof(v2);
		zt_rng_fill(&rng, v1, n1);
		zt_rng_fill(&rng, v2, n2);
		for (size_t j = 0; j < n1; j++)
			if (!v1[j])
				v1[j] = '\n';
		for (size_t j = 0; j < n2; j++)
			if (!v2[j])
				v2[j] = '=';
		v1[n1] = v2[n2] = '\0';
		zt_logfmt(b, sizeof(b), "a=%s b=\"%s\" c=%d", v1, v2, i);
		assert_true(printable_one_line(b));
		assert_int_equal(lp_parse(b, f, 4), 3);
		assert_int_equal(f[0].len, n1);
		assert_memory_equal(f[0].val, v1, n1);
		assert_int_equal(f[1].len, n2);
		assert_memory_equal(f[1].val, v2, n2);
	}
}

/* Reading back: the fields as written, and what is not logfmt. */
static void fields_read_back(void **state)
{
	const char *line = "a=1 b=\"x y\\n\" c=-";
	struct zt_logfmt_kv kv;
	size_t pos = 0;

	(void)state;
	assert_int_equal(zt_logfmt_field(line, strlen(line), &pos, &kv), 1);
	assert_true(kv.klen == 1 && kv.key[0] == 'a' && kv.rawlen == 1 && !kv.quoted);
	assert_int_equal(zt_logfmt_field(line, strlen(line), &pos, &kv), 1);
	assert_true(kv.quoted && kv.rawlen == 5 && !memcmp(kv.raw, "x y\\n", 5));
	assert_int_equal(zt_logfmt_field(line, strlen(line), &pos, &kv), 1);
	assert_int_equal(zt_logfmt_field(line, strlen(line), &pos, &kv), 0);
	for (const char *bad = "novalue\0a=\"open\0a=\"\\q\"\0=v\0a=\"x\"y\0a=b\tc\0"; *bad;
	     bad += strlen(bad) + 1) {
		pos = 0;
		assert_int_equal(zt_logfmt_field(bad, strlen(bad), &pos, &kv), ZT_EMALFORMED);
	}
}

/* --log-format json: the same fields; integers as numbers; escapes redone for JSON;
 * a forged value stays one string. */
static void json_of_a_line(void **state)
{
	char line[256], out[512];
	size_t n;

	(void)state;
	n = zt_logfmt(line, sizeof(line), "event=x n=%d z=%s s=%s t=\"%s\" big=%s", -42, "007",
		      "a b\n\xff", "\"},{\"evil\":1", "1234567890123456");
	n = zt_logfmt_json(out, sizeof(out), line, n);
	assert_int_equal(n, strlen(out));
	assert_string_equal(out, "{\"event\":\"x\",\"n\":-42,\"z\":\"007\","
				 "\"s\":\"a b\\u000a\\u00ff\",\"t\":\"\\\"},{\\\"evil\\\":1\","
				 "\"big\":\"1234567890123456\"}");
	/* not logfmt: the line as one string */
	n = zt_logfmt_json(out, sizeof(out), "no fields", 9);
	assert_string_equal(out, "{\"log\":\"no fields\"}");
}

/* Cut at the last whole field, marked; a cut raw line too; always one object. */
static void json_truncation(void **state)
{
	char line[256], out[64];
	size_t n = zt_logfmt(line, sizeof(line), "a=1 b=2 long=%s c=3",
			     "0123456789012345678901234567890123456789");
	const char *raw = "\x01\x02 not logfmt at all, and long enough to cut";

	(void)state;
	assert_true(zt_logfmt_json(out, sizeof(out), line, n) < sizeof(out));
	assert_string_equal(out, "{\"a\":1,\"b\":2,\"truncated\":1}");
	for (size_t cap = ZT_LOGFMT_MIN; cap < sizeof(out); cap++) {
		size_t m = zt_logfmt_json(out, cap, line, n);
		assert_true(m < cap && out[0] == '{' && out[m - 1] == '}' && printable_one_line(out));
		m = zt_logfmt_json(out, cap, raw, strlen(raw));
		assert_true(m < cap && out[m - 1] == '}' && strstr(out, "\"truncated\":1"));
	}
	assert_int_equal(zt_logfmt_json(out, 8, line, n), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(plain_values_stay_bare),
		cmocka_unit_test(values_that_need_it_are_quoted),
		cmocka_unit_test(a_forged_line_stays_one_escaped_value),
		cmocka_unit_test(inside_format_quotes_only_escapes),
		cmocka_unit_test(numbers_chars_and_odd_specs),
		cmocka_unit_test(control_characters_in_the_format_are_escaped),
		cmocka_unit_test(truncation_closes_quotes_and_says_so),
		cmocka_unit_test(one_value),
		cmocka_unit_test(random_values_round_trip),
		cmocka_unit_test(fields_read_back),
		cmocka_unit_test(json_of_a_line),
		cmocka_unit_test(json_truncation),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
