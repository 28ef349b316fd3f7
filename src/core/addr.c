#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/addr.h"
#include "core/err.h"

static int parse_port(const char *s, uint16_t *ret)
{
	char *end;
	unsigned long v;

	if (*s < '0' || *s > '9')
		return ZT_ESYNTAX;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (*end != '\0')
		return ZT_ESYNTAX;
	if (errno || v > 65535)
		return ZT_ERANGE;
	*ret = (uint16_t)v;
	return 0;
}

int zt_addr_parse(struct zt_addr *ret, const char *text, uint16_t default_port)
{
	char host[INET6_ADDRSTRLEN + 2];
	const char *port_text = NULL;
	struct zt_addr a = { 0 };
	uint16_t port = default_port;
	size_t n;
	int rc;

	if (!text || !*text)
		return ZT_ESYNTAX;
	if (text[0] == '[') {
		const char *close = strchr(text, ']');
		if (!close)
			return ZT_ESYNTAX;
		n = (size_t)(close - text - 1);
		if (close[1] == ':')
			port_text = close + 2;
		else if (close[1] != '\0')
			return ZT_ESYNTAX;
		if (n >= sizeof(host))
			return ZT_ESYNTAX;
		memcpy(host, text + 1, n);
		host[n] = '\0';
	} else {
		const char *colon = strchr(text, ':');
		if (colon && strchr(colon + 1, ':'))
			colon = NULL; /* bare IPv6 without a port */
		n = colon ? (size_t)(colon - text) : strlen(text);
		if (n >= sizeof(host))
			return ZT_ESYNTAX;
		memcpy(host, text, n);
		host[n] = '\0';
		if (colon)
			port_text = colon + 1;
	}
	if (port_text) {
		rc = parse_port(port_text, &port);
		if (rc < 0)
			return rc;
	}
	if (inet_pton(AF_INET, host, a.ip) == 1)
		a.family = AF_INET;
	else if (inet_pton(AF_INET6, host, a.ip) == 1)
		a.family = AF_INET6;
	else
		return ZT_ESYNTAX;
	a.port = port;
	zt_addr_unmap(&a);
	*ret = a;
	return 0;
}

int zt_addr_format(const struct zt_addr *a, bool with_port, char *buf, size_t cap)
{
	char ip[INET6_ADDRSTRLEN];
	int n;

	if (a->family == AF_INET)
		inet_ntop(AF_INET, a->ip, ip, sizeof(ip));
	else if (a->family == AF_INET6)
		inet_ntop(AF_INET6, a->ip, ip, sizeof(ip));
	else
		snprintf(ip, sizeof(ip), "unset");

	if (!with_port)
		n = snprintf(buf, cap, "%s", ip);
	else if (a->family == AF_INET6)
		n = snprintf(buf, cap, "[%s]:%u", ip, a->port);
	else
		n = snprintf(buf, cap, "%s:%u", ip, a->port);
	if (n < 0 || (size_t)n >= cap)
		return -ENOBUFS;
	return n;
}

const char *zt_addr_str(const struct zt_addr *a, char buf[ZT_ADDR_STRLEN])
{
	if (zt_addr_format(a, true, buf, ZT_ADDR_STRLEN) < 0)
		snprintf(buf, ZT_ADDR_STRLEN, "?");
	return buf;
}

void zt_addr_set_v4(struct zt_addr *a, const uint8_t ip[4], uint16_t port)
{
	*a = (struct zt_addr){ .family = AF_INET, .port = port };
	memcpy(a->ip, ip, 4);
}

void zt_addr_set_v6(struct zt_addr *a, const uint8_t ip[16], uint16_t port)
{
	*a = (struct zt_addr){ .family = AF_INET6, .port = port };
	memcpy(a->ip, ip, 16);
	zt_addr_unmap(a);
}

void zt_addr_unmap(struct zt_addr *a)
{
	static const uint8_t prefix[12] = { [10] = 0xff, [11] = 0xff };

	if (a->family != AF_INET6 || memcmp(a->ip, prefix, sizeof(prefix)))
		return;
	/* in place, field by field: the caller's zeroed padding stays zero */
	a->family = AF_INET;
	memmove(a->ip, a->ip + 12, 4);
	memset(a->ip + 4, 0, sizeof(a->ip) - 4);
}

static size_t ip_len(const struct zt_addr *a)
{
	return a->family == AF_INET ? 4 : a->family == AF_INET6 ? 16 : 0;
}

bool zt_addr_ip_equal(const struct zt_addr *a, const struct zt_addr *b)
{
	return a->family == b->family && memcmp(a->ip, b->ip, ip_len(a)) == 0;
}

bool zt_addr_equal(const struct zt_addr *a, const struct zt_addr *b)
{
	return zt_addr_ip_equal(a, b) && a->port == b->port;
}

bool zt_addr_is_loopback(const struct zt_addr *a)
{
	static const uint8_t v6_loop[16] = { [15] = 1 };

	if (a->family == AF_INET)
		return a->ip[0] == 127;
	return a->family == AF_INET6 && memcmp(a->ip, v6_loop, 16) == 0;
}

bool zt_addr_is_any(const struct zt_addr *a)
{
	static const uint8_t zero[16];

	if (a->family == AF_INET)
		return memcmp(a->ip, zero, 4) == 0;
	return a->family != AF_INET6 || memcmp(a->ip, zero, 16) == 0;
}

bool zt_addr_is_linklocal(const struct zt_addr *a)
{
	if (a->family == AF_INET)
		return a->ip[0] == 169 && a->ip[1] == 254;
	return a->family == AF_INET6 && a->ip[0] == 0xfe && (a->ip[1] & 0xc0) == 0x80;
}

bool zt_addr_is_private(const struct zt_addr *a)
{
	if (a->family == AF_INET)
		return a->ip[0] == 10 || (a->ip[0] == 172 && (a->ip[1] & 0xf0) == 16) ||
		       (a->ip[0] == 192 && a->ip[1] == 168);
	return a->family == AF_INET6 && (a->ip[0] & 0xfe) == 0xfc;
}

int zt_addr_to_sockaddr(const struct zt_addr *a, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (a->family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)ss;
		in->sin_family = AF_INET;
		in->sin_port = htons(a->port);
		memcpy(&in->sin_addr, a->ip, 4);
		return sizeof(*in);
	}
	if (a->family == AF_INET6) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(a->port);
		memcpy(&in6->sin6_addr, a->ip, 16);
		return sizeof(*in6);
	}
	return -EAFNOSUPPORT;
}

int zt_addr_from_sockaddr(struct zt_addr *ret, const struct sockaddr *sa, socklen_t len)
{
	if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		zt_addr_set_v4(ret, (const uint8_t *)&in->sin_addr, ntohs(in->sin_port));
		return 0;
	}
	if (sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		/* An IPv4-mapped IPv6 address is the IPv4 address. */
		if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr))
			zt_addr_set_v4(ret, (const uint8_t *)&in6->sin6_addr + 12, ntohs(in6->sin6_port));
		else
			zt_addr_set_v6(ret, (const uint8_t *)&in6->sin6_addr, ntohs(in6->sin6_port));
		return 0;
	}
	return -EAFNOSUPPORT;
}
