#include <stdbool.h>
#include <string.h>

#include "core/err.h"
#include "core/httpreq.h"

/* The length of the line at buf[off..len) without its end (CRLF or LF), and in
 * *ret_next the offset after it; -1 when no line end is there yet. */
static long line_at(const char *buf, size_t len, size_t off, size_t *ret_next)
{
	const char *nl = memchr(buf + off, '\n', len - off);
	size_t n;

	if (!nl)
		return -1;
	n = (size_t)(nl - (buf + off));
	*ret_next = off + n + 1;
	if (n && buf[off + n - 1] == '\r')
		n--;
	return (long)n;
}

static bool token_char(char c)
{
	return c >= 'A' && c <= 'Z';
}

/* "GET /metrics HTTP/1.1" */
static int request_line(const char *s, size_t n, struct zt_httpreq *r)
{
	size_t m = 0, t, p;

	while (m < n && token_char(s[m]))
		m++;
	if (m == 0 || m >= n || s[m] != ' ')
		return ZT_EMALFORMED;
	if (m >= sizeof(r->method))
		return ZT_ETOOBIG;
	memcpy(r->method, s, m);
	r->method[m] = '\0';
	t = m + 1;
	for (p = t; p < n && s[p] > ' ' && s[p] < 0x7f; p++)
		;
	if (p == t || p >= n || s[p] != ' ' || s[t] != '/')
		return ZT_EMALFORMED;
	if (n - p - 1 != 8 || memcmp(s + p + 1, "HTTP/1.", 7) || s[n - 1] < '0' || s[n - 1] > '9')
		return ZT_EMALFORMED;
	r->minor = s[n - 1] - '0';
	n = p; /* the target ends here; the path before any '?' */
	for (p = t; p < n && s[p] != '?'; p++)
		;
	if (p - t > ZT_HTTPREQ_PATH_MAX)
		return ZT_ETOOBIG;
	memcpy(r->path, s + t, p - t);
	r->path[p - t] = '\0';
	return 0;
}

static int header_line(const char *s, size_t n)
{
	const char *colon = memchr(s, ':', n);

	if (!colon || colon == s)
		return ZT_EMALFORMED;
	for (size_t i = 0; i < n; i++)
		if ((s[i] < ' ' && s[i] != '\t') || s[i] == 0x7f || (s + i < colon && s[i] <= ' '))
			return ZT_EMALFORMED;
	return 0;
}

int zt_httpreq_parse(const char *buf, size_t len, struct zt_httpreq *ret)
{
	struct zt_httpreq r = { 0 };
	size_t off = 0, next;
	long n;
	int rc;

	n = line_at(buf, len, 0, &next);
	if (n < 0)
		return len > ZT_HTTPREQ_MAX ? ZT_ETOOBIG : 0;
	if (next > ZT_HTTPREQ_MAX)
		return ZT_ETOOBIG;
	if ((rc = request_line(buf, (size_t)n, &r)) < 0)
		return rc;
	for (off = next;; off = next) {
		n = line_at(buf, len, off, &next);
		if (n < 0)
			return len > ZT_HTTPREQ_MAX ? ZT_ETOOBIG : 0;
		if (next > ZT_HTTPREQ_MAX)
			return ZT_ETOOBIG;
		if (n == 0)
			break;
		if ((rc = header_line(buf + off, (size_t)n)) < 0)
			return rc;
	}
	*ret = r;
	return (int)next;
}
