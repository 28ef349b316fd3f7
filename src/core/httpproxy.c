/* HTTP CONNECT proxy client, sans-IO (httpproxy.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/err.h"
#include "core/httpproxy.h"
#include "core/route.h"

/* Character classes without the locale. */
static bool is_digit(int c) { return c >= '0' && c <= '9'; }
static bool is_alpha(int c) { return (c | 0x20) >= 'a' && (c | 0x20) <= 'z'; }
static bool is_print(int c) { return c >= 0x20 && c < 0x7f; }
static bool is_ctl(int c) { return c < 0x20 || c == 0x7f; }

static int hex_value(int c)
{
	if (is_digit(c))
		return c - '0';
	if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
		return (c | 0x20) - 'a' + 10;
	return -1;
}

__attribute__((format(printf, 3, 4)))
static void say(char *err, size_t errcap, const char *fmt, ...)
{
	va_list ap;

	if (!errcap)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errcap, fmt, ap);
	va_end(ap);
}

/* s[0..n) fit for an error message: at most 32 bytes, what is not printable as '?'. */
static const char *quote(char q[40], const char *s, size_t n)
{
	size_t k = n > 32 ? 32 : n;

	for (size_t i = 0; i < k; i++)
		q[i] = is_print((unsigned char)s[i]) ? s[i] : '?';
	strcpy(q + k, n > k ? "..." : "");
	return q;
}

/* Sets *ret_rest past "http://", or to url when it has no scheme (RFC 3986 s3.1). */
static int skip_scheme(const char *url, const char **ret_rest, char *err, size_t errcap)
{
	size_t n = 0;
	char q[40];

	if (is_alpha((unsigned char)url[0]))
		while (is_alpha((unsigned char)url[n]) || is_digit((unsigned char)url[n]) ||
		       url[n] == '+' || url[n] == '-' || url[n] == '.')
			n++;
	if (!n || strncmp(url + n, "://", 3)) {
		*ret_rest = url; /* "HOST:PORT", as curl reads https_proxy */
		return 0;
	}
	if (n == 4 && !strncasecmp(url, "http", 4)) {
		*ret_rest = url + 7;
		return 0;
	}
	if (n == 5 && !strncasecmp(url, "https", 5))
		say(err, errcap, "https:// proxies are not supported (no TLS to the proxy): "
				 "use http://");
	else
		say(err, errcap, "the scheme %s:// is not supported: use http://",
		    quote(q, url, n));
	return -EPROTONOSUPPORT;
}

/* Percent-decodes (RFC 3986 s2.1) one userinfo part into out[max + 1]. */
static int decode(const char *p, size_t n, char *out, size_t max, const char *what,
		  bool colon_ok, char *err, size_t errcap)
{
	size_t len = 0;

	for (size_t i = 0; i < n; i++) {
		int c = (unsigned char)p[i];

		if (c == '%') {
			int hi = i + 2 < n ? hex_value((unsigned char)p[i + 1]) : -1;

			c = hi < 0 ? -1 : hex_value((unsigned char)p[i + 2]);
			if (c < 0) {
				say(err, errcap, "bad percent-encoding in the %s (%%XX expected)",
				    what);
				return ZT_ESYNTAX;
			}
			c |= hi << 4;
			i += 2;
		}
		if (is_ctl(c)) {
			say(err, errcap, "the %s contains a control character", what);
			return ZT_ESYNTAX;
		}
		if (c == ':' && !colon_ok) {
			say(err, errcap, "the %s contains ':', which Basic authentication cannot "
					 "carry (RFC 7617)", what);
			return ZT_ESYNTAX;
		}
		if (len == max) {
			say(err, errcap, "the %s is longer than %zu bytes", what, max);
			return ZT_ETOOBIG;
		}
		out[len++] = (char)c;
	}
	out[len] = '\0';
	return 0;
}

/* USER[:PASSWORD], p[0..n) (RFC 3986 s3.2.1): the user ends at the first ':'. */
static int parse_userinfo(const char *p, size_t n, struct zt_httpproxy_url *u, char *err,
			  size_t errcap)
{
	const char *colon = memchr(p, ':', n);
	size_t ulen = colon ? (size_t)(colon - p) : n;
	int rc;

	if (!ulen) {
		say(err, errcap, "the user name before '@' is empty");
		return ZT_ESYNTAX;
	}
	rc = decode(p, ulen, u->user, ZT_HTTPPROXY_USER_MAX, "user name", false, err, errcap);
	if (rc < 0)
		return rc;
	if (colon) {
		rc = decode(colon + 1, n - ulen - 1, u->password, ZT_HTTPPROXY_PASS_MAX,
			    "password", true, err, errcap);
		if (rc < 0)
			return rc;
	}
	u->has_auth = true;
	return 0;
}

static int parse_port(const char *p, size_t n, uint16_t *ret, char *err, size_t errcap)
{
	unsigned long v = 0;
	char q[40];

	if (!n) {
		say(err, errcap, "the port after ':' is empty");
		return ZT_ESYNTAX;
	}
	for (size_t i = 0; i < n; i++) {
		if (!is_digit((unsigned char)p[i])) {
			say(err, errcap, "the port %s is not a number", quote(q, p, n));
			return ZT_ESYNTAX;
		}
		if (v <= 65535)
			v = v * 10 + (unsigned long)(p[i] - '0');
	}
	if (v == 0 || v > 65535) {
		say(err, errcap, "the port %s is out of range (1 to 65535)", quote(q, p, n));
		return ZT_ERANGE;
	}
	*ret = (uint16_t)v;
	return 0;
}

/* [IPV6], a name or an IPv4 address, then maybe :PORT, p[0..n): sets u->host and
 * *ret_port_at (the ':' before the port, or p + n). */
static int parse_host(const char *p, size_t n, struct zt_httpproxy_url *u,
		      const char **ret_port_at, char *err, size_t errcap)
{
	const char *host = p, *end, *close = n ? memchr(p, ']', n) : NULL;
	struct in6_addr a6;
	char q[40];
	size_t len;

	if (n && p[0] == '[') {
		if (!close) {
			say(err, errcap, "the IPv6 address has no closing ']'");
			return ZT_ESYNTAX;
		}
		host = p + 1;
		end = close + 1;
		if (end < p + n && *end != ':') {
			say(err, errcap, "only :PORT may follow the IPv6 address in brackets");
			return ZT_ESYNTAX;
		}
		len = (size_t)(close - host);
	} else {
		end = memchr(p, ':', n);
		if (end && memchr(end + 1, ':', n - (size_t)(end + 1 - p))) {
			say(err, errcap,
			    "an IPv6 address must be in brackets, as http://[::1]:3128");
			return ZT_ESYNTAX;
		}
		end = end ? end : p + n;
		len = (size_t)(end - p);
	}
	if (!len) {
		say(err, errcap, "the proxy's host is empty");
		return ZT_EZEROLEN;
	}
	if (len > ZT_HTTPPROXY_HOST_MAX) {
		say(err, errcap, "the proxy's host is longer than %d bytes", ZT_HTTPPROXY_HOST_MAX);
		return ZT_ETOOBIG;
	}
	memcpy(u->host, host, len);
	u->host[len] = '\0';
	if (host != p && (len >= INET6_ADDRSTRLEN || inet_pton(AF_INET6, u->host, &a6) != 1)) {
		say(err, errcap, "[%s] is not an IPv6 address", quote(q, host, len));
		return ZT_ESYNTAX;
	}
	for (size_t i = 0; host == p && i < len; i++) {
		int c = (unsigned char)host[i];

		if (is_alpha(c) || is_digit(c) || c == '-' || c == '.' || c == '_')
			continue;
		if (is_print(c))
			say(err, errcap, "the proxy's host contains '%c', not allowed in a host "
					 "name", c);
		else
			say(err, errcap, "the proxy's host contains the byte 0x%02x, not allowed "
					 "in a host name", (unsigned)c);
		return ZT_ESYNTAX;
	}
	*ret_port_at = end;
	return 0;
}

int zt_httpproxy_parse_url(const char *url, struct zt_httpproxy_url *ret, char *err,
			   size_t errcap)
{
	struct zt_httpproxy_url u = { .port = ZT_HTTPPROXY_DEFAULT_PORT };
	const char *auth, *at, *port_at;
	char q[40];
	size_t n;
	int rc;

	say(err, errcap, "%s", "");
	if (!url || !*url) {
		say(err, errcap, "the proxy URL is empty");
		return ZT_EZEROLEN;
	}
	rc = skip_scheme(url, &auth, err, errcap);
	if (rc < 0)
		return rc;
	n = strcspn(auth, "/?#");
	at = memrchr(auth, '@', n);
	if (auth[n] && strcmp(auth + n, "/")) {
		/* RFC 3986 s3.2: these end the authority, so they cut a password in two */
		if (strchr(auth + n, '@'))
			say(err, errcap, "a '/', '?' or '#' in the user name or password must be "
					 "percent-encoded (%%2F, %%3F, %%23)");
		else
			say(err, errcap, "\"%s\" after the host and port is not allowed: only a "
					 "final '/' may follow",
			    quote(q, auth + n, strlen(auth + n)));
		return ZT_ESYNTAX;
	}
	if (at) {
		rc = parse_userinfo(auth, (size_t)(at - auth), &u, err, errcap);
		if (rc < 0)
			return rc;
		n -= (size_t)(at + 1 - auth);
		auth = at + 1;
	}
	rc = parse_host(auth, n, &u, &port_at, err, errcap);
	if (rc < 0)
		return rc;
	if (port_at < auth + n) {
		rc = parse_port(port_at + 1, (size_t)(auth + n - port_at - 1), &u.port, err,
				errcap);
		if (rc < 0)
			return rc;
	}
	*ret = u;
	return 0;
}

/* An output buffer that counts what does not fit. */
struct out {
	char *buf;
	size_t cap, len;
};

static void put(struct out *o, const char *s, size_t n)
{
	if (o->len + n < o->cap)
		memcpy(o->buf + o->len, s, n);
	o->len += n;
}

static void put_str(struct out *o, const char *s)
{
	put(o, s, strlen(s));
}

/* host:port, an IPv6 host in brackets (RFC 9112 s3.2.3, RFC 3986 s3.2.2). */
static void put_hostport(struct out *o, const char *host, uint16_t port)
{
	char p[8];
	bool v6 = strchr(host, ':');

	put_str(o, v6 ? "[" : "");
	put_str(o, host);
	snprintf(p, sizeof(p), "%s:%u", v6 ? "]" : "", (unsigned)port);
	put_str(o, p);
}

/* RFC 4648 s4, with padding. */
static void put_base64(struct out *o, const uint8_t *s, size_t n)
{
	static const char abc[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)s[i] << 16 | (i + 1 < n ? (uint32_t)s[i + 1] << 8 : 0) |
			     (i + 2 < n ? s[i + 2] : 0);
		char q[4] = {
			abc[v >> 18 & 63],
			abc[v >> 12 & 63],
			i + 1 < n ? abc[v >> 6 & 63] : '=',
			i + 2 < n ? abc[v & 63] : '=',
		};
		put(o, q, sizeof(q));
	}
}

/* RFC 7617 s2: user-pass = user-id ":" password, base64 of its bytes as given. */
static void put_basic(struct out *o, const struct zt_httpproxy_url *u)
{
	uint8_t cred[ZT_HTTPPROXY_USER_MAX + 1 + ZT_HTTPPROXY_PASS_MAX];
	size_t ul = strnlen(u->user, ZT_HTTPPROXY_USER_MAX);
	size_t pl = strnlen(u->password, ZT_HTTPPROXY_PASS_MAX);

	memcpy(cred, u->user, ul);
	cred[ul] = ':';
	memcpy(cred + ul + 1, u->password, pl);
	put_str(o, "Proxy-Authorization: Basic ");
	put_base64(o, cred, ul + 1 + pl);
	put_str(o, "\r\n");
	explicit_bzero(cred, sizeof(cred));
}

static bool target_ok(const char *host)
{
	size_t n = strnlen(host, ZT_HTTPPROXY_HOST_MAX + 1);

	if (!n || n > ZT_HTTPPROXY_HOST_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		int c = (unsigned char)host[i];

		/* CR, LF or space would let the name rewrite the request */
		if (is_ctl(c) || c == ' ' || c == '[' || c == ']')
			return false;
	}
	return true;
}

int zt_httpproxy_request(const struct zt_httpproxy_url *u, const char *target_host,
			 uint16_t target_port, char *buf, size_t cap)
{
	struct out o = { .buf = buf, .cap = cap };

	if (!target_host || !target_ok(target_host) || !target_port)
		return -EINVAL;
	/* RFC 9110 s9.3.6 and s7.2: the target's authority, in the line and in Host */
	put_str(&o, "CONNECT ");
	put_hostport(&o, target_host, target_port);
	put_str(&o, " HTTP/1.1\r\nHost: ");
	put_hostport(&o, target_host, target_port);
	put_str(&o, "\r\n");
	if (u && u->has_auth)
		put_basic(&o, u);
	put_str(&o, "User-Agent: ztna\r\n\r\n");
	if (o.len >= cap) {
		if (cap)
			explicit_bzero(buf, cap); /* it may hold part of the credentials */
		return -ENOBUFS;
	}
	buf[o.len] = '\0';
	return (int)o.len;
}

void zt_httpproxy_reader_init(struct zt_httpproxy_reader *r)
{
	*r = (struct zt_httpproxy_reader){ .in_status = true };
}

/* The reason phrase, cut and made safe to log (RFC 9112 s4: HTAB, SP, VCHAR, obs-text). */
static void keep_reason(struct zt_httpproxy_reader *r, const char *s, size_t n)
{
	if (n > ZT_HTTPPROXY_REASON_MAX)
		n = ZT_HTTPPROXY_REASON_MAX;
	for (size_t i = 0; i < n; i++) {
		int c = (unsigned char)s[i];

		r->reason[i] = c == '\t' ? ' ' : is_print(c) ? (char)c : '?';
	}
	r->reason[n] = '\0';
}

/* The status line, line[0..n) without its line end (RFC 9112 s4). */
static int status_line(struct zt_httpproxy_reader *r, size_t n)
{
	const char *s = r->line;
	int code;

	if (n < 12 || memcmp(s, "HTTP/1.", 7) || !is_digit(s[7]) || s[8] != ' ' ||
	    !is_digit(s[9]) || !is_digit(s[10]) || !is_digit(s[11]))
		return ZT_EMALFORMED;
	code = (s[9] - '0') * 100 + (s[10] - '0') * 10 + (s[11] - '0');
	/* RFC 9110 s15: 1xx..5xx; a 101 answers an Upgrade this client never sends */
	if (code < 100 || code > 599 || code == 101)
		return ZT_EMALFORMED;
	/* the SP before an empty reason is often left out: accepted */
	if (n > 12 && s[12] != ' ')
		return ZT_EMALFORMED;
	r->status = code;
	r->ok = code / 100 == 2;
	keep_reason(r, s + 13, n > 13 ? n - 13 : 0);
	return 0;
}

/* One byte of the head: 0 more, 1 the final head ended, or an error. */
static int take(struct zt_httpproxy_reader *r, int c)
{
	size_t content;
	int rc;

	if (c != '\n') {
		if (r->in_status) {
			/* a peer that is not an HTTP proxy is told from its first bytes */
			if (r->line_len < 7 && c != "HTTP/1."[r->line_len])
				return ZT_EMALFORMED;
			if (r->kept < sizeof(r->line))
				r->line[r->kept++] = (char)c;
		}
		r->line_len++;
		r->last_cr = c == '\r';
		return 0;
	}
	/* RFC 9112 s2.2: a line ends at LF, a CR before it is dropped */
	content = r->line_len - (r->last_cr ? 1 : 0);
	r->line_len = 0;
	r->last_cr = false;
	if (r->in_status) {
		r->in_status = false;
		rc = status_line(r, content < r->kept ? content : r->kept);
		r->kept = 0;
		return rc;
	}
	if (content)
		return 0;
	/* the empty line: the end of a head; after an interim 1xx, the next one */
	if (r->status / 100 == 1) {
		r->in_status = true;
		return 0;
	}
	return 1;
}

int zt_httpproxy_feed(struct zt_httpproxy_reader *r, const uint8_t *data, size_t len,
		      size_t *ret_consumed)
{
	size_t i;

	for (i = 0; i < len && r->state == 0; i++) {
		if (r->taken == ZT_HTTPPROXY_HEAD_MAX) {
			r->state = ZT_ETOOBIG;
			break;
		}
		r->taken++;
		r->state = take(r, data[i]);
	}
	if (r->state < 0)
		return r->state;
	*ret_consumed = i;
	return r->state;
}

int zt_httpproxy_describe(const struct zt_httpproxy_reader *r, char *buf, size_t cap)
{
	int n;

	if (r->state != 1)
		return -EINVAL;
	n = snprintf(buf, cap, "HTTP %d%s%s", r->status, r->reason[0] ? " " : "", r->reason);
	return n < 0 || (size_t)n >= cap ? -ENOBUFS : n;
}

/* no_proxy (zt_httpproxy_no_proxy). */

static int lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c | 0x20 : c;
}

static bool name_matches(const char *e, size_t n, const char *name)
{
	size_t len = name ? strlen(name) : 0;

	if (n && e[0] == '.')
		e++, n--;
	if (!n || n > len)
		return false;
	for (size_t i = 0; i < n; i++)
		if (lower(e[i]) != lower(name[len - n + i]))
			return false;
	return n == len || name[len - n - 1] == '.';
}

static bool addr_matches(const char *e, const struct zt_addr *ip)
{
	struct zt_addr a;
	struct zt_route r = { 0 };

	if (!ip || !ip->family)
		return false;
	if (strchr(e, '/')) {
		if (zt_prefix_parse(e, &r.prefix, &r.plen) < 0)
			return false;
		return zt_route_contains(&r, ip);
	}
	if (zt_addr_parse(&a, e, 0) < 0 || a.port)
		return false;
	return zt_addr_ip_equal(&a, ip);
}

static bool entry_matches(const char *e, size_t n, const char *name, const struct zt_addr *ip)
{
	char buf[ZT_HTTPPROXY_HOST_MAX + 1];

	if (n > ZT_HTTPPROXY_HOST_MAX)
		return false;
	memcpy(buf, e, n);
	buf[n] = '\0';
	if (!strcmp(buf, "*"))
		return true;
	return addr_matches(buf, ip) || name_matches(buf, n, name);
}

bool zt_httpproxy_no_proxy(const char *list, const char *name, const struct zt_addr *ip)
{
	const char *p = list;

	while (p && *p) {
		size_t n;

		p += strspn(p, ", \t");
		n = strcspn(p, ", \t");
		if (n && entry_matches(p, n, name, ip))
			return true;
		p += n;
	}
	return false;
}
