/*
 * core/httpproxy.h: proxy URLs accepted and refused (each refusal naming its problem),
 * the CONNECT request byte for byte, and the answer's reader through every split, with
 * the tunnel's bytes behind the head left alone.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "core/httpproxy.h"

struct url_good {
	const char *url, *host;
	uint16_t port;
	const char *user, *password; /* user NULL: no credentials */
};

static void url_good(void **state)
{
	static const struct url_good v[] = {
		{ "http://proxy.example:3128", "proxy.example", 3128, NULL, NULL },
		{ "http://proxy.example", "proxy.example", 80, NULL, NULL },
		{ "HTTP://Proxy:8080/", "Proxy", 8080, NULL, NULL },
		{ "proxy:3128", "proxy", 3128, NULL, NULL }, /* curl's https_proxy form */
		{ "10.0.0.1:3128/", "10.0.0.1", 3128, NULL, NULL },
		{ "proxy_1.corp-net.example", "proxy_1.corp-net.example", 80, NULL, NULL },
		{ "http://[::1]:3128", "::1", 3128, NULL, NULL },
		{ "[2001:db8::1]/", "2001:db8::1", 80, NULL, NULL },
		{ "http://[::ffff:10.0.0.1]:1", "::ffff:10.0.0.1", 1, NULL, NULL },
		{ "http://p:65535", "p", 65535, NULL, NULL },
		{ "http://p:00080", "p", 80, NULL, NULL },
		{ "http://alice:s3cr%40t@proxy:3128", "proxy", 3128, "alice", "s3cr@t" },
		{ "http://alice@proxy:3128/", "proxy", 3128, "alice", "" },
		{ "http://al%69ce:p:w@proxy", "proxy", 80, "alice", "p:w" },
		{ "http://u:p@ss@[::1]:8", "::1", 8, "u", "p@ss" }, /* the last '@' ends it */
		{ "bob:%C3%A9t%c3%a9@proxy:3128", "proxy", 3128, "bob", "\xc3\xa9t\xc3\xa9" },
		{ "http://u:@proxy", "proxy", 80, "u", "" },
	};
	(void)state;

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		struct zt_httpproxy_url u;
		char err[128] = "x";

		int rc = zt_httpproxy_parse_url(v[i].url, &u, err, sizeof(err));

		if (rc)
			fail_msg("'%s': rc %d (%s)", v[i].url, rc, err);
		assert_string_equal(err, "");
		assert_string_equal(u.host, v[i].host);
		assert_int_equal(u.port, v[i].port);
		assert_int_equal(u.has_auth, v[i].user != NULL);
		if (v[i].user) {
			assert_string_equal(u.user, v[i].user);
			assert_string_equal(u.password, v[i].password);
		}
	}
}

/* The longest host, user and password fit; one byte more does not. */
static void url_limits(void **state)
{
	static char url[2048], err[128];
	struct zt_httpproxy_url u;
	char host[300], enc[3 * 256 + 1];
	(void)state;

	memset(host, 'h', 255);
	host[255] = '\0';
	for (int i = 0; i < 255; i++)
		memcpy(enc + 3 * i, "%61", 3);              /* 255 bytes once decoded */
	enc[3 * 255] = '\0';
	snprintf(url, sizeof(url), "http://%s:%s@%s:1", enc, enc, host);
	assert_int_equal(zt_httpproxy_parse_url(url, &u, err, sizeof(err)), 0);
	assert_int_equal(strlen(u.host), 255);
	assert_int_equal(strlen(u.user), 255);
	assert_int_equal(strlen(u.password), 255);

	snprintf(url, sizeof(url), "http://%sh:1", host);
	assert_int_equal(zt_httpproxy_parse_url(url, &u, err, sizeof(err)), ZT_ETOOBIG);
	assert_non_null(strstr(err, "host is longer than 255"));
	snprintf(url, sizeof(url), "http://%sa:p@h", enc);
	assert_int_equal(zt_httpproxy_parse_url(url, &u, err, sizeof(err)), ZT_ETOOBIG);
	assert_non_null(strstr(err, "user name is longer than 255"));
	snprintf(url, sizeof(url), "http://u:%s%%61@h", enc);
	assert_int_equal(zt_httpproxy_parse_url(url, &u, err, sizeof(err)), ZT_ETOOBIG);
	assert_non_null(strstr(err, "password is longer than 255"));
}

struct url_bad {
	const char *url;
	int rc;
	const char *says;
};

static void url_bad(void **state)
{
	static const struct url_bad v[] = {
		{ "", ZT_EZEROLEN, "URL is empty" },
		{ "https://proxy:3128", -EPROTONOSUPPORT, "https:// proxies are not supported" },
		{ "HTTPS://proxy", -EPROTONOSUPPORT, "no TLS to the proxy" },
		{ "socks5://proxy:1080", -EPROTONOSUPPORT, "scheme socks5:// is not supported" },
		{ "http://", ZT_EZEROLEN, "host is empty" },
		{ "http://:3128", ZT_EZEROLEN, "host is empty" },
		{ "http://u:p@:3128", ZT_EZEROLEN, "host is empty" },
		{ "http://[]:1", ZT_EZEROLEN, "host is empty" },
		{ "http://proxy:0", ZT_ERANGE, "port 0 is out of range" },
		{ "http://proxy:65536", ZT_ERANGE, "port 65536 is out of range" },
		{ "http://proxy:99999999999999999999", ZT_ERANGE, "out of range" },
		{ "http://proxy:18446744073709554744", ZT_ERANGE, "out of range" }, /* 2^64+3128 */
		{ "http://proxy:31a8", ZT_ESYNTAX, "port 31a8 is not a number" },
		{ "http://proxy:-1", ZT_ESYNTAX, "not a number" },
		{ "http://proxy:", ZT_ESYNTAX, "port after ':' is empty" },
		{ "http://proxy:3128/path", ZT_ESYNTAX, "\"/path\" after the host and port" },
		{ "http://proxy:3128?x=1", ZT_ESYNTAX, "\"?x=1\" after the host and port" },
		{ "http://proxy//", ZT_ESYNTAX, "only a final '/'" },
		{ "http://proxy#f", ZT_ESYNTAX, "\"#f\" after" },
		{ "http://::1:3128", ZT_ESYNTAX, "must be in brackets" },
		{ "2001:db8::1", ZT_ESYNTAX, "must be in brackets" },
		{ "http://[::1:3128", ZT_ESYNTAX, "no closing ']'" },
		{ "http://[::g]:1", ZT_ESYNTAX, "[::g] is not an IPv6 address" },
		{ "http://[10.0.0.1]:1", ZT_ESYNTAX, "is not an IPv6 address" },
		{ "http://[::1]x", ZT_ESYNTAX, "only :PORT may follow" },
		{ "http://pro xy:1", ZT_ESYNTAX, "contains ' '" },
		{ "http://proxy\n:1", ZT_ESYNTAX, "byte 0x0a" },
		{ "http://proxy ", ZT_ESYNTAX, "contains ' '" },
		{ "http://@proxy", ZT_ESYNTAX, "user name before '@' is empty" },
		{ "http://:pw@proxy", ZT_ESYNTAX, "user name before '@' is empty" },
		{ "http://u:p%4@proxy", ZT_ESYNTAX, "percent-encoding in the password" },
		{ "http://u%zz:p@proxy", ZT_ESYNTAX, "percent-encoding in the user name" },
		{ "http://u%0a:p@proxy", ZT_ESYNTAX, "user name contains a control character" },
		{ "http://u:p%7f@proxy", ZT_ESYNTAX, "password contains a control character" },
		{ "http://u:p%00@proxy", ZT_ESYNTAX, "password contains a control character" },
		{ "http://u%3Ax:p@proxy", ZT_ESYNTAX, "contains ':', which Basic" },
		{ "http://u:pa/ss@proxy", ZT_ESYNTAX, "must be percent-encoded" },
	};
	(void)state;

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		struct zt_httpproxy_url u, before;
		char err[160] = "";
		int rc;

		memset(&u, 0xa5, sizeof(u));
		before = u;
		rc = zt_httpproxy_parse_url(v[i].url, &u, err, sizeof(err));
		if (rc != v[i].rc || !strstr(err, v[i].says))
			fail_msg("'%s': rc %d \"%s\", expected %d \"...%s...\"", v[i].url, rc, err,
				 v[i].rc, v[i].says);
		assert_memory_equal(&u, &before, sizeof(u)); /* untouched on failure */
		assert_null(strstr(err, "ss@")); /* the credentials are not quoted */
	}
}

static void url_err_buffer(void **state)
{
	struct zt_httpproxy_url u;
	char err[8], long_err[128];
	(void)state;

	assert_int_equal(zt_httpproxy_parse_url(NULL, &u, NULL, 0), ZT_EZEROLEN);
	assert_int_equal(zt_httpproxy_parse_url("https://p", &u, NULL, 0), -EPROTONOSUPPORT);
	assert_int_equal(zt_httpproxy_parse_url("http://p:0", &u, err, sizeof(err)), ZT_ERANGE);
	assert_string_equal(err, "the por"); /* cut, terminated */
	/* a long bad port is quoted cut short, with what is not printable as '?' */
	assert_int_equal(zt_httpproxy_parse_url("http://p:1\x01"
						"2345678901234567890123456789012345678901234",
						&u, long_err, sizeof(long_err)), ZT_ESYNTAX);
	assert_string_equal(long_err, "the port 1?234567890123456789012345678901... "
				      "is not a number");
}

static void request_bytes(void **state)
{
	static const char plain[] = "CONNECT imd.example:443 HTTP/1.1\r\n"
				    "Host: imd.example:443\r\n"
				    "User-Agent: ztna\r\n"
				    "\r\n";
	/* RFC 7617 s2's example credentials */
	static const char auth[] = "CONNECT 10.0.0.2:8443 HTTP/1.1\r\n"
				   "Host: 10.0.0.2:8443\r\n"
				   "Proxy-Authorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==\r\n"
				   "User-Agent: ztna\r\n"
				   "\r\n";
	static const char v6[] = "CONNECT [2001:db8::1]:443 HTTP/1.1\r\n"
				 "Host: [2001:db8::1]:443\r\n"
				 "Proxy-Authorization: Basic YTo=\r\n"
				 "User-Agent: ztna\r\n"
				 "\r\n";
	struct zt_httpproxy_url u = { .has_auth = true, .user = "Aladdin",
				      .password = "open sesame" };
	struct zt_httpproxy_url noauth = { .user = "ignored", .password = "x" };
	char buf[ZT_HTTPPROXY_REQUEST_MAX];
	(void)state;

	assert_int_equal(zt_httpproxy_request(NULL, "imd.example", 443, buf, sizeof(buf)),
			 (int)strlen(plain));
	assert_string_equal(buf, plain);
	assert_int_equal(zt_httpproxy_request(&noauth, "imd.example", 443, buf, sizeof(buf)),
			 (int)strlen(plain));
	assert_string_equal(buf, plain);
	assert_int_equal(zt_httpproxy_request(&u, "10.0.0.2", 8443, buf, sizeof(buf)),
			 (int)strlen(auth));
	assert_string_equal(buf, auth);
	u = (struct zt_httpproxy_url){ .has_auth = true, .user = "a" };
	assert_int_equal(zt_httpproxy_request(&u, "2001:db8::1", 443, buf, sizeof(buf)),
			 (int)strlen(v6));
	assert_string_equal(buf, v6);
}

/* Base64 of each padding case (RFC 4648 s4), through the header it ends up in. */
static void request_base64(void **state)
{
	static const struct { const char *user, *password, *b64; } v[] = {
		{ "a", "", "YTo=" },
		{ "ab", "", "YWI6" },
		{ "a", "bc", "YTpiYw==" },
		{ "alice", "s3cr@t", "YWxpY2U6czNjckB0" },
	};
	char buf[ZT_HTTPPROXY_REQUEST_MAX], want[128];
	(void)state;

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		struct zt_httpproxy_url u = { .has_auth = true };

		strcpy(u.user, v[i].user);
		strcpy(u.password, v[i].password);
		assert_true(zt_httpproxy_request(&u, "t", 1, buf, sizeof(buf)) > 0);
		snprintf(want, sizeof(want), "\r\nProxy-Authorization: Basic %s\r\n", v[i].b64);
		assert_non_null(strstr(buf, want));
	}
}

static void request_refused(void **state)
{
	struct zt_httpproxy_url u = { .has_auth = true };
	char buf[ZT_HTTPPROXY_REQUEST_MAX], host[300];
	int n;
	(void)state;

	assert_int_equal(zt_httpproxy_request(NULL, "", 443, buf, sizeof(buf)), -EINVAL);
	assert_int_equal(zt_httpproxy_request(NULL, NULL, 443, buf, sizeof(buf)), -EINVAL);
	assert_int_equal(zt_httpproxy_request(NULL, "a\r\nX: y", 443, buf, sizeof(buf)), -EINVAL);
	assert_int_equal(zt_httpproxy_request(NULL, "a\nb", 443, buf, sizeof(buf)), -EINVAL);
	assert_int_equal(zt_httpproxy_request(NULL, "a b", 443, buf, sizeof(buf)), -EINVAL);
	assert_int_equal(zt_httpproxy_request(NULL, "[::1]", 443, buf, sizeof(buf)), -EINVAL);
	assert_int_equal(zt_httpproxy_request(NULL, "imd", 0, buf, sizeof(buf)), -EINVAL);
	memset(host, 'h', 256);
	host[256] = '\0';
	assert_int_equal(zt_httpproxy_request(NULL, host, 443, buf, sizeof(buf)), -EINVAL);

	/* the longest request fits in ZT_HTTPPROXY_REQUEST_MAX; one byte short is -ENOBUFS */
	host[255] = '\0';
	memset(u.user, 'u', ZT_HTTPPROXY_USER_MAX);
	memset(u.password, 'p', ZT_HTTPPROXY_PASS_MAX);
	n = zt_httpproxy_request(&u, host, 65535, buf, sizeof(buf));
	assert_true(n > 0 && n < ZT_HTTPPROXY_REQUEST_MAX);
	assert_int_equal(strlen(buf), n);
	assert_int_equal(zt_httpproxy_request(&u, host, 65535, buf, (size_t)n + 1), n);
	assert_int_equal(zt_httpproxy_request(&u, host, 65535, buf, (size_t)n), -ENOBUFS);
	assert_int_equal(buf[0], '\0'); /* no part of the credentials left behind */
	assert_int_equal(zt_httpproxy_request(NULL, "t", 1, NULL, 0), -ENOBUFS);
}

/* Feeds s[0..n) in one call. */
static int feed(struct zt_httpproxy_reader *r, const char *s, size_t n, size_t *consumed)
{
	return zt_httpproxy_feed(r, (const uint8_t *)s, n, consumed);
}

static void reader_byte_by_byte(void **state)
{
	static const char head[] = "HTTP/1.1 200 Connection established\r\n"
				   "Proxy-Agent: squid\r\n"
				   "\r\n";
	struct zt_httpproxy_reader r;
	size_t n = strlen(head), consumed;
	char d[64];
	(void)state;

	zt_httpproxy_reader_init(&r);
	assert_int_equal(zt_httpproxy_describe(&r, d, sizeof(d)), -EINVAL);
	for (size_t i = 0; i < n; i++) {
		consumed = 99;
		assert_int_equal(feed(&r, head + i, 1, &consumed), i + 1 == n ? 1 : 0);
		assert_int_equal(consumed, 1);
	}
	assert_int_equal(r.status, 200);
	assert_true(r.ok);
	assert_string_equal(r.reason, "Connection established");
	assert_int_equal(zt_httpproxy_describe(&r, d, sizeof(d)), 31);
	assert_string_equal(d, "HTTP 200 Connection established");
	assert_int_equal(zt_httpproxy_describe(&r, d, 31), -ENOBUFS);
	/* done: nothing more is taken */
	assert_int_equal(feed(&r, "\x16\x03", 2, &consumed), 1);
	assert_int_equal(consumed, 0);
}

/* The TLS bytes that follow the head in the same read are left to the caller. */
static void reader_leaves_the_tunnel_bytes(void **state)
{
	static const char in[] = "HTTP/1.0 200 OK\r\n\r\n\x16\x03\x01\x00\x05hello";
	const size_t head = 19, total = sizeof(in) - 1;
	(void)state;

	for (size_t cut = 0; cut <= total; cut++) {
		struct zt_httpproxy_reader r;
		size_t c1 = 99, c2 = 99;
		int rc;

		zt_httpproxy_reader_init(&r);
		rc = feed(&r, in, cut, &c1);
		assert_int_equal(rc, cut >= head ? 1 : 0);
		assert_int_equal(c1, cut >= head ? head : cut);
		rc = feed(&r, in + cut, total - cut, &c2);
		assert_int_equal(rc, 1);
		assert_int_equal(c1 + c2, head);
		assert_int_equal(r.status, 200);
		assert_string_equal(r.reason, "OK");
	}
}

struct answer {
	const char *head;
	int status;
	bool ok;
	const char *describe;
};

static void reader_statuses(void **state)
{
	static const struct answer v[] = {
		{ "HTTP/1.1 200 Connection established\r\n\r\n", 200, true,
		  "HTTP 200 Connection established" },
		{ "HTTP/1.1 204 \r\n\r\n", 204, true, "HTTP 204" },
		{ "HTTP/1.1 200\r\n\r\n", 200, true, "HTTP 200" },
		{ "HTTP/1.1 407 Proxy Authentication Required\r\n"
		  "Proxy-Authenticate: Basic realm=\"corp\"\r\n"
		  "Content-Length: 0\r\n\r\n", 407, false,
		  "HTTP 407 Proxy Authentication Required" },
		{ "HTTP/1.1 403 Forbidden\r\nContent-Type: text/html\r\n\r\n", 403, false,
		  "HTTP 403 Forbidden" },
		{ "HTTP/1.0 502 Bad Gateway\r\n\r\n", 502, false, "HTTP 502 Bad Gateway" },
		{ "HTTP/1.1 299 Odd but 2xx\r\n\r\n", 299, true, "HTTP 299 Odd but 2xx" },
		/* bare LF (RFC 9112 s2.2), and mixed */
		{ "HTTP/1.1 200 OK\nVia: 1.1 p\n\n", 200, true, "HTTP 200 OK" },
		{ "HTTP/1.1 200 OK\r\nVia: 1.1 p\n\r\n", 200, true, "HTTP 200 OK" },
		/* a CR inside a line does not end it */
		{ "HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\r\nY: c\r\n\r\n", 200, true, "HTTP 200 OK" },
		/* interim 1xx skipped (RFC 9110 s15.2) */
		{ "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: x\r\n\r\n"
		  "HTTP/1.1 403 Forbidden\r\n\r\n", 403, false, "HTTP 403 Forbidden" },
		/* the reason, safe to log */
		{ "HTTP/1.1 403 Bad\x1b[31m\tthing\xff\r\r\n\r\n", 403, false,
		  "HTTP 403 Bad?[31m thing??" },
	};
	(void)state;

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		struct zt_httpproxy_reader r;
		size_t n = strlen(v[i].head), consumed = 0;
		char d[160];
		int rc;

		zt_httpproxy_reader_init(&r);
		rc = feed(&r, v[i].head, n, &consumed);
		if (rc != 1)
			fail_msg("answer %zu (%s): rc %d", i, v[i].describe, rc);
		assert_int_equal(consumed, n);
		assert_int_equal(r.status, v[i].status);
		assert_int_equal(r.ok, v[i].ok);
		assert_int_equal(zt_httpproxy_describe(&r, d, sizeof(d)), strlen(v[i].describe));
		assert_string_equal(d, v[i].describe);
	}
}

static void reader_long_reason_is_cut(void **state)
{
	char head[600];
	struct zt_httpproxy_reader r;
	size_t consumed;
	(void)state;

	strcpy(head, "HTTP/1.1 502 ");
	memset(head + 13, 'r', 400);
	strcpy(head + 413, "\r\n\r\n");
	zt_httpproxy_reader_init(&r);
	assert_int_equal(feed(&r, head, strlen(head), &consumed), 1);
	assert_int_equal(consumed, strlen(head));
	assert_int_equal(strlen(r.reason), ZT_HTTPPROXY_REASON_MAX);
	assert_int_equal(r.reason[0], 'r');
}

static void reader_malformed(void **state)
{
	static const char *v[] = {
		"HTTP/2 200 OK\r\n\r\n",
		"HTTP/1.1 20 OK\r\n\r\n",
		"HTTP/1.1 2000 OK\r\n\r\n",
		"HTTP/1.1 099 Low\r\n\r\n",
		"HTTP/1.1 600 High\r\n\r\n",
		"HTTP/1.1 2x0 OK\r\n\r\n",
		"HTTP/1.x 200 OK\r\n\r\n",
		"http/1.1 200 OK\r\n\r\n",
		"HTTP/1.1  200 OK\r\n\r\n",
		"HTTP/1.1 200OK\r\n\r\n",
		"HTTP/1.1\r\n\r\n",
		"\r\nHTTP/1.1 200 OK\r\n\r\n",
		"\nHTTP/1.1 200 OK\r\n\r\n",
		"SSH-2.0-OpenSSH_9.2\r\n",
		"\x16\x03\x01\x00\x05",  /* a TLS record: told at once, not after 8 KiB */
		"\x05\x00",              /* a SOCKS5 answer */
		"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n",
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 OK\r\n\r\n",
	};
	(void)state;

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		struct zt_httpproxy_reader r;
		size_t consumed = 12345;
		int rc;

		zt_httpproxy_reader_init(&r);
		rc = feed(&r, v[i], strlen(v[i]), &consumed);
		if (rc != ZT_EMALFORMED)
			fail_msg("answer %zu: rc %d, status %d", i, rc, r.status);
		assert_int_equal(consumed, 12345); /* untouched on an error */
		assert_int_equal(feed(&r, "HTTP/1.1 200 OK\r\n\r\n", 19, &consumed), ZT_EMALFORMED);
		assert_int_equal(zt_httpproxy_describe(&r, (char[32]){ 0 }, 32), -EINVAL);
	}
}

/* A head of ZT_HTTPPROXY_HEAD_MAX bytes is read; one byte more is ZT_ETOOBIG. */
static void reader_bounded(void **state)
{
	static char head[ZT_HTTPPROXY_HEAD_MAX + 2];
	static const char first[] = "HTTP/1.1 200 OK\r\nX: ";
	const size_t n = ZT_HTTPPROXY_HEAD_MAX;
	struct zt_httpproxy_reader r;
	size_t consumed;
	(void)state;

	memcpy(head, first, strlen(first));
	memset(head + strlen(first), 'a', n - strlen(first) - 4);
	memcpy(head + n - 4, "\r\n\r\n", 4);
	zt_httpproxy_reader_init(&r);
	assert_int_equal(feed(&r, head, n, &consumed), 1);
	assert_int_equal(consumed, n);

	memset(head + strlen(first), 'a', n - strlen(first) - 3);
	memcpy(head + n - 3, "\r\n\r\n", 4);
	zt_httpproxy_reader_init(&r);
	assert_int_equal(feed(&r, head, n, &consumed), 0); /* one short of the end */
	assert_int_equal(consumed, n);
	assert_int_equal(feed(&r, head + n, 1, &consumed), ZT_ETOOBIG);
	assert_int_equal(feed(&r, "\n", 1, &consumed), ZT_ETOOBIG);

	/* the bound counts interim responses too */
	zt_httpproxy_reader_init(&r);
	for (int i = 0; i < 1000; i++) {
		int rc = feed(&r, "HTTP/1.1 100 Continue\r\n\r\n", 25, &consumed);

		if (rc) {
			assert_int_equal(rc, ZT_ETOOBIG);
			assert_true(i * 25 >= ZT_HTTPPROXY_HEAD_MAX - 25);
			return;
		}
	}
	fail_msg("1000 interim responses taken");
}

/* no_proxy, as curl reads it: names and their subdomains, addresses, prefixes, "*". */
static void no_proxy_list(void **state)
{
	struct zt_addr v4, v6, other;

	(void)state;
	assert_int_equal(zt_addr_parse(&v4, "203.0.113.10", 0), 0);
	assert_int_equal(zt_addr_parse(&v6, "2001:db8::10", 0), 0);
	assert_int_equal(zt_addr_parse(&other, "198.51.100.1", 0), 0);
	/* names: the name itself and names under it, any case, with or without a dot */
	assert_true(zt_httpproxy_no_proxy("example.com", "relay.example.com", &v4));
	assert_true(zt_httpproxy_no_proxy(".example.com", "relay.example.com", NULL));
	assert_true(zt_httpproxy_no_proxy("EXAMPLE.com", "example.COM", NULL));
	assert_true(zt_httpproxy_no_proxy(".example.com", "example.com", NULL));
	assert_false(zt_httpproxy_no_proxy("example.com", "badexample.com", NULL));
	assert_false(zt_httpproxy_no_proxy("relay.example.com", "example.com", NULL));
	assert_false(zt_httpproxy_no_proxy("example.com", NULL, &v4));
	/* addresses and prefixes */
	assert_true(zt_httpproxy_no_proxy("localhost, 203.0.113.10", NULL, &v4));
	assert_true(zt_httpproxy_no_proxy("10.0.0.0/8,203.0.113.0/24", "", &v4));
	assert_false(zt_httpproxy_no_proxy("10.0.0.0/8,203.0.113.0/24", "", &other));
	assert_true(zt_httpproxy_no_proxy("2001:db8::/32", NULL, &v6));
	assert_false(zt_httpproxy_no_proxy("2001:db8::/32", NULL, &v4));
	assert_true(zt_httpproxy_no_proxy("2001:db8::10", NULL, &v6));
	/* everything; separators; nothing */
	assert_true(zt_httpproxy_no_proxy("*", NULL, NULL));
	assert_true(zt_httpproxy_no_proxy(" ,, a.org\t*", "x", NULL));
	assert_false(zt_httpproxy_no_proxy("*.example.com", "relay.example.com", NULL));
	assert_false(zt_httpproxy_no_proxy("", "relay.example.com", &v4));
	assert_false(zt_httpproxy_no_proxy(NULL, "relay.example.com", &v4));
	assert_false(zt_httpproxy_no_proxy("203.0.113.0/99,203.0.113.10/x", NULL, &v4));
	/* an entry over the longest host name matches nothing */
	char big[400];
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_false(zt_httpproxy_no_proxy(big, big, NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(url_good),
		cmocka_unit_test(url_limits),
		cmocka_unit_test(url_bad),
		cmocka_unit_test(url_err_buffer),
		cmocka_unit_test(request_bytes),
		cmocka_unit_test(request_base64),
		cmocka_unit_test(request_refused),
		cmocka_unit_test(reader_byte_by_byte),
		cmocka_unit_test(reader_leaves_the_tunnel_bytes),
		cmocka_unit_test(reader_statuses),
		cmocka_unit_test(reader_long_reason_is_cut),
		cmocka_unit_test(reader_malformed),
		cmocka_unit_test(reader_bounded),
		cmocka_unit_test(no_proxy_list),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
