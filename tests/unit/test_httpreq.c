#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "core/httpreq.h"

static int parse(const char *text, struct zt_httpreq *r)
{
	return zt_httpreq_parse(text, strlen(text), r);
}

static void complete_heads(void **state)
{
	struct zt_httpreq r;
	const char *a = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:9100\r\nUser-Agent: Prometheus/2.42\r\n"
			"Accept: text/plain;version=0.0.4\r\n\r\n";

	(void)state;
	assert_int_equal(parse(a, &r), (int)strlen(a));
	assert_string_equal(r.method, "GET");
	assert_string_equal(r.path, "/metrics");
	assert_int_equal(r.minor, 1);
	/* LF only, HTTP/1.0, a query, bytes after the head (not ours to read) */
	assert_int_equal(parse("HEAD /metrics?x=1 HTTP/1.0\n\nbody", &r), 28);
	assert_string_equal(r.method, "HEAD");
	assert_string_equal(r.path, "/metrics");
	assert_int_equal(r.minor, 0);
	assert_int_equal(parse("POST / HTTP/1.1\r\n\r\n", &r), 19);
	assert_string_equal(r.path, "/");
}

static void incomplete_heads_want_more(void **state)
{
	struct zt_httpreq r;
	const char *a = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";

	(void)state;
	for (size_t n = 0; n < strlen(a); n++)
		if (zt_httpreq_parse(a, n, &r) != 0)
			fail_msg("prefix of %zu bytes: not 0", n);
}

static void malformed_heads(void **state)
{
	static const char *const bad[] = {
		"\r\n\r\n", "get /metrics HTTP/1.1\r\n\r\n", "GET metrics HTTP/1.1\r\n\r\n",
		"GET /metrics\r\n\r\n", "GET /metrics HTTP/2.0\r\n\r\n", "GET  /metrics HTTP/1.1\r\n\r\n",
		"GET /metrics HTTP/1.1 \r\n\r\n", "GET /a\tb HTTP/1.1\r\n\r\n",
		"GET /metrics HTTP/1.1\r\nNoColon\r\n\r\n", "GET /metrics HTTP/1.1\r\n: x\r\n\r\n",
		"GET /metrics HTTP/1.1\r\nBad Name: x\r\n\r\n", "GET /metrics HTTP/1.1\r\nA: \x01\r\n\r\n",
		"GET /metrics HTTP/1.x\r\n\r\n",
	};
	struct zt_httpreq r;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (parse(bad[i], &r) != ZT_EMALFORMED)
			fail_msg("case %zu: %d, not ZT_EMALFORMED", i, parse(bad[i], &r));
}

static void too_big(void **state)
{
	static char big[ZT_HTTPREQ_MAX + 64];
	struct zt_httpreq r;
	size_t n;

	(void)state;
	memset(big, 'a', sizeof(big));
	assert_int_equal(zt_httpreq_parse(big, sizeof(big), &r), ZT_ETOOBIG); /* no line end */
	n = (size_t)snprintf(big, sizeof(big), "GET /metrics HTTP/1.1\r\n");
	memset(big + n, 'h', sizeof(big) - n); /* a header that never ends */
	assert_int_equal(zt_httpreq_parse(big, sizeof(big), &r), ZT_ETOOBIG);
	n = (size_t)snprintf(big, sizeof(big), "GETGETGETGETGETGET / HTTP/1.1\r\n\r\n");
	assert_int_equal(zt_httpreq_parse(big, n, &r), ZT_ETOOBIG);
	big[0] = 'G';
	memset(big, 0, sizeof(big));
	memcpy(big, "GET /", 5);
	memset(big + 5, 'p', 300);
	memcpy(big + 305, " HTTP/1.1\r\n\r\n", 13);
	assert_int_equal(zt_httpreq_parse(big, 318, &r), ZT_ETOOBIG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(complete_heads),
		cmocka_unit_test(incomplete_heads_want_more),
		cmocka_unit_test(malformed_heads),
		cmocka_unit_test(too_big),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
