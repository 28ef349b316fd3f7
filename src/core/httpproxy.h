/*
 * HTTP CONNECT proxy client, sans-IO (docs/tcp-transport.md): the agent or connector
 * reaches the Intermediate's TLS/TCP port through an HTTP proxy given as
 * `--proxy http://HOST:PORT` or in the https_proxy environment variable.
 *
 *   1. zt_httpproxy_parse_url(): the proxy's host, port and optional credentials.
 *   2. The caller resolves the host and connects TCP to it (no DNS here).
 *   3. zt_httpproxy_request(): the CONNECT request to send (RFC 9110 s9.3.6).
 *   4. zt_httpproxy_feed(): the proxy's answer, read up to the end of its header block
 *      and never further: the bytes after it are the tunnel's (TLS).
 *   5. On a 2xx, the TCP connection is a tunnel to the target; otherwise the caller
 *      closes it and reports zt_httpproxy_describe() ("HTTP 403 Forbidden").
 *
 * No allocation, no printing; -errno or ZT_E* (core/err.h) on failure.
 */
#ifndef ZT_CORE_HTTPPROXY_H
#define ZT_CORE_HTTPPROXY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/addr.h"

#define ZT_HTTPPROXY_HOST_MAX 255
#define ZT_HTTPPROXY_USER_MAX 255
#define ZT_HTTPPROXY_PASS_MAX 255
/* The http scheme's default port (RFC 9110 s4.2.1), not a proxy convention (3128, 8080). */
#define ZT_HTTPPROXY_DEFAULT_PORT 80
/* The largest response head the reader takes, interim 1xx responses included. */
#define ZT_HTTPPROXY_HEAD_MAX 8192
/* The longest reason phrase kept (a longer one is cut). */
#define ZT_HTTPPROXY_REASON_MAX 127
/* A request buffer of this size always suffices (longest host, user and password). */
#define ZT_HTTPPROXY_REQUEST_MAX 2048

/* A proxy as parsed: host is a name or an address literal (IPv6 without brackets). */
struct zt_httpproxy_url {
	char host[ZT_HTTPPROXY_HOST_MAX + 1];
	uint16_t port;
	bool has_auth;                            /* user and password below are set */
	char user[ZT_HTTPPROXY_USER_MAX + 1];     /* percent-decoded */
	char password[ZT_HTTPPROXY_PASS_MAX + 1]; /* percent-decoded; may be empty */
};

/*
 * Parses a proxy URL:
 *
 *   [http://][USER[:PASSWORD]@]HOST[:PORT][/]
 *
 * HOST is a name (letters, digits, '-', '.', '_'), an IPv4 address, or an IPv6 address
 * in brackets ("http://[::1]:3128"). Without a scheme ("proxy:3128") the URL is read as
 * http, as curl reads https_proxy. The scheme is case-insensitive. PORT defaults to 80
 * (ZT_HTTPPROXY_DEFAULT_PORT); an empty one ("host:") is refused. USER and PASSWORD are
 * percent-decoded (RFC 3986 s2.1); the userinfo ends at the last '@' before the first
 * '/', '?' or '#'; a missing PASSWORD is an empty one. Decoded, they may not hold a
 * control character, nor USER a ':' (RFC 7617 s2).
 *
 * Refused: https:// (TLS to the proxy is not supported) and any other scheme, an empty
 * host or user name, a port of 0, over 65535 or not digits, anything after the
 * authority but one '/', a field over its maximum above.
 *
 * Returns 0 with *ret filled (untouched on failure), or on failure, with a sentence
 * naming the problem in err (NUL-terminated, cut to errcap; err may be NULL when errcap
 * is 0; the credentials are never quoted): ZT_EZEROLEN (empty URL), -EPROTONOSUPPORT
 * (a scheme other than http), ZT_ESYNTAX, ZT_ERANGE (port), ZT_ETOOBIG (a field too long).
 */
int zt_httpproxy_parse_url(const char *url, struct zt_httpproxy_url *ret, char *err,
			   size_t errcap);

/*
 * Writes the CONNECT request for target_host:target_port (RFC 9110 s9.3.6; the
 * authority-form target of RFC 9112 s3.2.3, repeated in Host), NUL-terminated:
 *
 *   CONNECT host:port HTTP/1.1\r\n
 *   Host: host:port\r\n
 *   Proxy-Authorization: Basic base64(user ":" password)\r\n   (when u->has_auth)
 *   User-Agent: ztna\r\n
 *   \r\n
 *
 * target_host is a name or address literal; an IPv6 one (it holds a ':') is put in
 * brackets here. u may be NULL (no credentials). Returns the length (without the NUL),
 * -EINVAL (target_host empty, over ZT_HTTPPROXY_HOST_MAX, holding a control character,
 * space, '[' or ']'; target_port 0), -ENOBUFS (cap too small; buf then holds nothing
 * usable).
 */
int zt_httpproxy_request(const struct zt_httpproxy_url *u, const char *target_host,
			 uint16_t target_port, char *buf, size_t cap);

/*
 * The proxy's answer to CONNECT, read incrementally (RFC 9112 s4, s2.2):
 *
 *   status-line = "HTTP/1." DIGIT SP 3DIGIT [ SP reason ] line-end
 *   then header lines up to an empty line
 *
 * A line ends at LF, a CR before it is dropped: "\r\n\r\n" and "\n\n" both end the
 * block (RFC 9112 s2.2 allows a bare LF). Header fields are not interpreted: a 2xx to
 * CONNECT has no body and its Content-Length or Transfer-Encoding are to be ignored
 * (RFC 9110 s9.3.6); after a non-2xx the caller closes the connection. The status code
 * must be 100..599; the reason is kept cut to ZT_HTTPPROXY_REASON_MAX, each byte that
 * is not printable ASCII replaced by '?', so it is safe to log.
 *
 * Interim 1xx responses are skipped, as RFC 9110 s15.2 asks of a client, and the
 * reader goes on to the final response; except 101 Switching Protocols, which answers
 * an Upgrade never sent: malformed. ZT_HTTPPROXY_HEAD_MAX bounds all of it.
 */
struct zt_httpproxy_reader {
	int state;                  /* 0 reading, 1 done, or the error */
	size_t taken;               /* bytes of the head consumed so far */
	size_t line_len;            /* bytes of the current line before its LF */
	bool in_status;             /* the current line is a status line */
	bool last_cr;               /* the current line's last byte is CR */
	size_t kept;                /* bytes of the status line in line[] */
	char line[16 + ZT_HTTPPROXY_REASON_MAX];
	/* the result, when state is 1 */
	int status;
	bool ok;                    /* status is 2xx: the tunnel is open */
	char reason[ZT_HTTPPROXY_REASON_MAX + 1];
};

void zt_httpproxy_reader_init(struct zt_httpproxy_reader *r);

/*
 * Feeds len bytes of what the proxy sent. Returns 0 (all taken, need more), 1 (the
 * final response's head is complete: status, ok and reason are set; bytes after
 * *ret_consumed are the tunnel's, not the proxy's), or an error: ZT_EMALFORMED (not an
 * HTTP/1.x status line, a status code out of 100..599, a 101), ZT_ETOOBIG (no end of
 * the head within ZT_HTTPPROXY_HEAD_MAX bytes). *ret_consumed is how many of data were
 * header bytes (len when 0 is returned); it is untouched on an error. Once done or
 * failed, the reader returns the same again, taking nothing.
 */
int zt_httpproxy_feed(struct zt_httpproxy_reader *r, const uint8_t *data, size_t len,
		      size_t *ret_consumed);

/*
 * "HTTP 403 Forbidden" ("HTTP 403" without a reason) for a done reader. Returns the
 * length, -EINVAL (not done), -ENOBUFS (cut to cap).
 */
int zt_httpproxy_describe(const struct zt_httpproxy_reader *r, char *buf, size_t cap);

/*
 * Whether a no_proxy list (the no_proxy / NO_PROXY environment variable, read as curl
 * reads it) exempts a target from the proxy. Entries are separated by commas and
 * spaces; "*" alone exempts every target; an IP address matches that address; an
 * ADDRESS/LENGTH prefix ("10.0.0.0/8", "fd00::/8") the addresses in it; a name matches
 * the target's name and every name under it, case-insensitively ("example.com" and
 * ".example.com" match "example.com" and "relay.example.com", not "badexample.com").
 * An entry that is none of these, or longer than ZT_HTTPPROXY_HOST_MAX, matches
 * nothing. name may be NULL or empty (the target given as an address), ip NULL or of
 * family 0 (not known).
 */
bool zt_httpproxy_no_proxy(const char *list, const char *name, const struct zt_addr *ip);

#endif
