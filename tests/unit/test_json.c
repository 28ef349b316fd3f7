#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "core/err.h"
#include "core/json.h"

static int parse(const char *s, struct zt_json_tok *t, unsigned cap)
{
	return zt_json_parse(s, strlen(s), t, cap, NULL);
}

static void tokens_in_document_order(void **state)
{
	static const char doc[] = " {\"a\": [1, -2.5e3, true], \"b\": {\"c\": null}, \"d\": \"x\"} ";
	struct zt_json_tok t[16];
	char buf[8];
	double v;
	int i;

	(void)state;
	assert_int_equal(parse(doc, t, 16), 12);
	assert_int_equal(t[0].type, ZT_JSON_OBJECT);
	assert_int_equal(t[0].n, 3);
	assert_int_equal(t[0].end, 12);
	i = zt_json_get(doc, t, 0, "a");
	assert_int_equal(i, 2);
	assert_int_equal(t[i].type, ZT_JSON_ARRAY);
	assert_int_equal(t[i].n, 3);
	assert_int_equal(t[i].end, 6);
	assert_int_equal(zt_json_num(doc, &t[4], &v), 0);
	assert_true(v == -2500.0);
	assert_int_equal(t[5].type, ZT_JSON_TRUE);
	i = zt_json_get(doc, t, 0, "b");
	assert_int_equal(t[zt_json_get(doc, t, (unsigned)i, "c")].type, ZT_JSON_NULL);
	i = zt_json_get(doc, t, 0, "d");
	assert_int_equal(zt_json_str(doc, &t[i], buf, sizeof(buf)), 1);
	assert_string_equal(buf, "x");
	assert_int_equal(zt_json_get(doc, t, 0, "e"), -ENOENT);
	assert_int_equal(zt_json_get(doc, t, 2, "a"), -EINVAL);
	assert_string_equal(zt_json_type_name(t[0].type), "object");
}

static void strings_decode_escapes_and_utf8(void **state)
{
	/* \u00e9 is two UTF-8 bytes, the surrogate pair for U+1F600 four */
	static const char doc[] = "\"a\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\ud83d\\ude00\xc3\xa9\"";
	static const char want[] = "a\"\\/\b\f\n\r\t\xc3\xa9\xf0\x9f\x98\x80\xc3\xa9";
	struct zt_json_tok t[2];
	char buf[32];

	(void)state;
	assert_int_equal(parse(doc, t, 2), 1);
	assert_int_equal(zt_json_str(doc, &t[0], buf, sizeof(buf)), (int)strlen(want));
	assert_string_equal(buf, want);
	assert_int_equal(zt_json_str(doc, &t[0], buf, 5), -ENOBUFS);
	assert_int_equal(parse("\"\\u0000\"", t, 2), 1);
	assert_int_equal(zt_json_str("\"\\u0000\"", &t[0], buf, sizeof(buf)), -EILSEQ);
}

static void rejects_what_is_not_strict_json(void **state)
{
	static const char *bad[] = {
		"", " ", "{", "}", "[1,]", "{\"a\":1,}", "{\"a\" 1}", "{a:1}", "[1 2]", "01",
		"-", "1.", ".5", "1e", "+1", "0x10", "NaN", "Infinity", "tru", "nul", "'a'",
		"\"a", "\"\\x\"", "\"\\u12\"", "\"\\ud800\"", "\"\\udc00\"", "\"\\ud800\\u0041\"",
		"\"\t\"", "\"\xc0\xaf\"", "\"\xed\xa0\x80\"", "\"\xff\"", "\"\xe2\x82\"",
		"1 2", "{} x", "[1] /* c */", "{\"a\":1,\"a\":2}", "\x01",
	};
	struct zt_json_tok t[8];
	size_t off = 99;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = parse(bad[i], t, 8);

		if (rc != ZT_EMALFORMED)
			fail_msg("accepted or wrong error %d: '%s'", rc, bad[i]);
	}
	assert_int_equal(zt_json_parse("[1, x]", 6, t, 8, &off), ZT_EMALFORMED);
	assert_int_equal(off, 4);
}

static void limits(void **state)
{
	struct zt_json_tok t[40];
	char deep[64];

	(void)state;
	assert_int_equal(parse("[1,2,3]", t, 3), -ENOBUFS);
	assert_int_equal(parse("[1,2,3]", t, 4), 4);
	memset(deep, '[', ZT_JSON_MAX_DEPTH);
	memset(deep + ZT_JSON_MAX_DEPTH, ']', ZT_JSON_MAX_DEPTH);
	deep[2 * ZT_JSON_MAX_DEPTH] = 0;
	assert_int_equal(parse(deep, t, 40), ZT_JSON_MAX_DEPTH);
	memset(deep, '[', ZT_JSON_MAX_DEPTH + 1);
	memset(deep + ZT_JSON_MAX_DEPTH + 1, ']', ZT_JSON_MAX_DEPTH + 1);
	deep[2 * ZT_JSON_MAX_DEPTH + 2] = 0;
	assert_int_equal(parse(deep, t, 40), -E2BIG);
	assert_int_equal(parse("1e999", t, 1), 1);
	assert_int_equal(zt_json_num("1e999", &t[0], &(double){ 0 }), -ERANGE);
	assert_int_equal(parse("[]", t, 1), 1);
	assert_int_equal(t[0].n, 0);
	assert_int_equal(parse("{}", t, 1), 1);
	assert_int_equal(parse("-0.0E+1", t, 1), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(tokens_in_document_order),
		cmocka_unit_test(strings_decode_escapes_and_utf8),
		cmocka_unit_test(rejects_what_is_not_strict_json),
		cmocka_unit_test(limits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
