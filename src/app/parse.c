#include <errno.h>
#include <stdbool.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/parse.h"
#include "core/err.h"

int zt_parse_hostport(const char *text, uint16_t default_port, struct zt_addr *ret)
{
	return zt_parse_hostport_both(text, default_port, ret, NULL);
}

/* Appends the addresses of family of res not seen yet, up to cap; returns the count. */
static size_t take_family(const struct addrinfo *res, int family, uint16_t port,
			  struct zt_addr *ret, size_t n, size_t cap)
{
	for (const struct addrinfo *ai = res; ai && n < cap; ai = ai->ai_next) {
		struct zt_addr a;
		bool seen = false;

		if (zt_addr_from_sockaddr(&a, ai->ai_addr, ai->ai_addrlen) < 0 || a.family != family)
			continue;
		a.port = port;
		for (size_t k = 0; k < n && !seen; k++)
			seen = zt_addr_equal(&ret[k], &a);
		if (!seen)
			ret[n++] = a;
	}
	return n;
}

size_t zt_parse_addrinfo(const struct addrinfo *res, uint16_t port, struct zt_addr *ret,
			 size_t cap)
{
	return take_family(res, AF_INET6, port, ret, take_family(res, AF_INET, port, ret, 0, cap),
			   cap);
}

int zt_parse_hostport_all(const char *text, uint16_t default_port, struct zt_addr *ret,
			  size_t cap, size_t *ret_n)
{
	struct addrinfo hints = { .ai_socktype = SOCK_DGRAM, .ai_family = AF_UNSPEC }, *res;
	char host[256];
	const char *colon;
	unsigned long port;
	char *end;
	int rc;

	*ret_n = 0;
	if (!cap)
		return -EINVAL;
	rc = zt_addr_parse(ret, text, default_port);
	if (rc == 0 && ret->port == 0) {
		/* an explicit port 0 is out of range (as for names); a missing one a syntax
		 * error when there is no default */
		struct zt_addr probe;
		if (default_port || (zt_addr_parse(&probe, text, 1) == 0 && probe.port == 0))
			return ZT_ERANGE;
		return ZT_ESYNTAX;
	}
	if (rc == 0) {
		*ret_n = 1;
		return 0;
	}
	if (rc == ZT_ERANGE)
		return rc;
	colon = strrchr(text, ':');
	if (colon) {
		errno = 0;
		port = strtoul(colon + 1, &end, 10);
		if (*end || colon[1] == '\0' || errno)
			return ZT_ESYNTAX;
		if (port > 65535 || port == 0)
			return ZT_ERANGE;
	} else {
		if (!default_port)
			return ZT_ESYNTAX;
		port = default_port;
		colon = text + strlen(text);
	}
	if (colon == text || (size_t)(colon - text) >= sizeof(host))
		return ZT_ESYNTAX;
	memcpy(host, text, (size_t)(colon - text));
	host[colon - text] = '\0';
	if (getaddrinfo(host, NULL, &hints, &res) != 0)
		return -ENOENT;
	*ret_n = zt_parse_addrinfo(res, (uint16_t)port, ret, cap);
	freeaddrinfo(res);
	return *ret_n ? 0 : -ENOENT;
}

int zt_parse_hostport_both(const char *text, uint16_t default_port, struct zt_addr *ret,
			   struct zt_addr *ret_other)
{
	struct zt_addr all[16];
	size_t n;
	int rc = zt_parse_hostport_all(text, default_port, all, 16, &n);

	if (rc < 0)
		return rc;
	*ret = all[0];
	/* the first IPv6 one, when the first is IPv4 (IPv4 come first) */
	for (size_t k = 1; ret_other && all[0].family == AF_INET && k < n; k++)
		if (all[k].family == AF_INET6) {
			*ret_other = all[k];
			break;
		}
	return 0;
}
