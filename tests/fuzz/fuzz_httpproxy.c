/*
 * libFuzzer target: the HTTP CONNECT proxy client (core/httpproxy.h).
 *
 * Input: byte 0 seeds the sizes of the pieces the answer is fed in (1..64, varying;
 * with its bit 7 set, the answer is repeated up to 9000 bytes, past the head's bound),
 * byte 1 is the length of the proxy URL that follows, the rest is the proxy's answer.
 *
 * A URL parsed is one whose request builds, fits ZT_HTTPPROXY_REQUEST_MAX, and which
 * written back (credentials percent-encoded) parses to the same; a URL refused leaves
 * ret untouched and says why in printable text. The reader never takes a byte past the
 * empty line that ends the final head (nor past ZT_HTTPPROXY_HEAD_MAX), takes all it is
 * given while it needs more, ends the same however the answer is cut, keeps a status
 * of 200..599 and a printable reason, and stays done or failed.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "core/httpproxy.h"
#include "fuzzcheck.h"

static bool printable(const char *s)
{
	for (; *s; s++)
		if (*s < 0x20 || *s > 0x7e)
			return false;
	return true;
}

static void encode(char *out, const char *s)
{
	for (; *s; s++, out += 3)
		sprintf(out, "%%%02X", (unsigned char)*s);
	*out = '\0';
}

static void url_parsed(const struct zt_httpproxy_url *u)
{
	static char again[4 * 1024], req[ZT_HTTPPROXY_REQUEST_MAX];
	static char user[3 * ZT_HTTPPROXY_USER_MAX + 1], pass[3 * ZT_HTTPPROXY_PASS_MAX + 1];
	static char line[2 * ZT_HTTPPROXY_HOST_MAX + 64];
	struct zt_httpproxy_url v;
	bool v6 = strchr(u->host, ':');
	int n;

	check(u->host[0] && strlen(u->host) <= ZT_HTTPPROXY_HOST_MAX && u->port);
	check(!u->has_auth || (u->user[0] && !strchr(u->user, ':')));
	n = zt_httpproxy_request(u, u->host, u->port, req, sizeof(req));
	check(n > 0 && (size_t)n == strlen(req));
	check(n >= 4 && strstr(req, "\r\n\r\n") == req + n - 4);
	snprintf(line, sizeof(line), "CONNECT %s%s%s:%u HTTP/1.1\r\nHost: %s%s%s:%u\r\n",
		 v6 ? "[" : "", u->host, v6 ? "]" : "", (unsigned)u->port, v6 ? "[" : "",
		 u->host, v6 ? "]" : "", (unsigned)u->port);
	check(!strncmp(req, line, strlen(line)));
	check(!strstr(req, "Proxy-Authorization: Basic ") == !u->has_auth);

	encode(user, u->has_auth ? u->user : "");
	encode(pass, u->has_auth ? u->password : "");
	snprintf(again, sizeof(again), "http://%s%s%s%s%s%s%s:%u/", user,
		 u->has_auth ? ":" : "", pass, u->has_auth ? "@" : "", v6 ? "[" : "", u->host,
		 v6 ? "]" : "", (unsigned)u->port);
	check(zt_httpproxy_parse_url(again, &v, NULL, 0) == 0);
	check(!strcmp(v.host, u->host) && v.port == u->port && v.has_auth == u->has_auth);
	check(!u->has_auth || (!strcmp(v.user, u->user) && !strcmp(v.password, u->password)));
}

static void url(const uint8_t *data, size_t len)
{
	static char text[256];
	static struct zt_httpproxy_url u, before;
	char err[160];
	int rc;

	memcpy(text, data, len);
	text[len] = '\0';
	memset(&u, 0x5a, sizeof(u));
	before = u;
	rc = zt_httpproxy_parse_url(text, &u, err, sizeof(err));
	if (rc == 0) {
		check(err[0] == '\0');
		url_parsed(&u);
		return;
	}
	check(rc == ZT_EZEROLEN || rc == ZT_ESYNTAX || rc == ZT_ERANGE || rc == ZT_ETOOBIG ||
	      rc == -EPROTONOSUPPORT);
	check(err[0] && printable(err));
	check(!memcmp(&u, &before, sizeof(u)));
}

struct outcome {
	int rc;
	size_t taken;
};

/* Feeds the answer in pieces whose sizes come from seed. */
static struct outcome read_answer(struct zt_httpproxy_reader *r, const uint8_t *data,
				  size_t len, uint8_t seed)
{
	struct outcome o = { 0 };
	uint32_t x = seed * 2654435761u + 1;
	size_t off = 0;

	zt_httpproxy_reader_init(r);
	while (off < len) {
		size_t piece = seed ? 1 + (x >> 16) % 64 : len - off, consumed = 999999;

		x = x * 1103515245u + 12345;
		if (piece > len - off)
			piece = len - off;
		o.rc = zt_httpproxy_feed(r, data + off, piece, &consumed);
		if (o.rc < 0) {
			check(consumed == 999999);
			break;
		}
		check(consumed <= piece);
		check(o.rc == 1 || consumed == piece);
		o.taken += consumed;
		off += piece;
		if (o.rc == 1)
			break;
	}
	return o;
}

static void answer(const uint8_t *data, size_t len, uint8_t seed)
{
	static struct zt_httpproxy_reader r, whole;
	struct outcome o = read_answer(&r, data, len, seed);
	struct outcome w = read_answer(&whole, data, len, 0);
	char d[16 + ZT_HTTPPROXY_REASON_MAX];
	size_t consumed = 7;

	/* on an error, what the caller was told it took is undefined: compare the reader's */
	check(o.rc == w.rc && r.taken == whole.taken && (o.rc < 0 || o.taken == w.taken));
	check(r.taken <= ZT_HTTPPROXY_HEAD_MAX && o.taken <= r.taken);
	if (o.rc < 0) {
		check(o.rc == ZT_EMALFORMED ||
		      (o.rc == ZT_ETOOBIG && r.taken == ZT_HTTPPROXY_HEAD_MAX));
		check(zt_httpproxy_feed(&r, data, len, &consumed) == o.rc && consumed == 7);
		check(zt_httpproxy_describe(&r, d, sizeof(d)) == -EINVAL);
		return;
	}
	if (o.rc == 0) {
		check(o.taken == len);
		return;
	}
	/* the head ends with an empty line, and not one byte later */
	check(o.taken >= 14 && !memcmp(data, "HTTP/1.", 7) && data[o.taken - 1] == '\n');
	check(data[o.taken - 2] == '\n' ||
	      (data[o.taken - 2] == '\r' && data[o.taken - 3] == '\n'));
	check(r.status >= 200 && r.status <= 599 && r.ok == (r.status / 100 == 2));
	check(r.status == whole.status && !strcmp(r.reason, whole.reason));
	check(strlen(r.reason) <= ZT_HTTPPROXY_REASON_MAX && printable(r.reason));
	check(zt_httpproxy_describe(&r, d, sizeof(d)) > 0 && !strncmp(d, "HTTP ", 5));
	check(zt_httpproxy_feed(&r, data, len, &consumed) == 1 && consumed == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t big[9000];
	const uint8_t *ans;
	size_t ulen, alen;

	if (size < 2)
		return 0;
	ulen = data[1];
	if (ulen > size - 2)
		ulen = size - 2;
	url(data + 2, ulen);
	ans = data + 2 + ulen;
	alen = size - 2 - ulen;
	if (!(data[0] & 0x80) || !alen) {
		answer(ans, alen, data[0]);
		return 0;
	}
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = ans[i % alen];
	answer(big, sizeof(big), data[0]);
	return 0;
}
