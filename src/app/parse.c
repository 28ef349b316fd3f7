#include <errno.h>
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

int zt_parse_hostport_both(const char *text, uint16_t default_port, struct zt_addr *ret,
			   struct zt_addr *ret_other)
{
	struct addrinfo hints = { .ai_socktype = SOCK_DGRAM, .ai_family = AF_UNSPEC }, *res, *ai;
	struct zt_addr a4 = { 0 }, a6 = { 0 };
	char host[256];
	const char *colon;
	unsigned long port;
	char *end;
	int rc;

	rc = zt_addr_parse(ret, text, default_port);
	if (rc == 0 && ret->port == 0) {
		/* an explicit port 0 is out of range (as for names); a missing one a syntax
		 * error when there is no default */
		struct zt_addr probe;
		if (default_port || (zt_addr_parse(&probe, text, 1) == 0 && probe.port == 0))
			return ZT_ERANGE;
		return ZT_ESYNTAX;
	}
	if (rc == 0)
		return 0;
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
	/* the first address of each family: IPv4 in *ret, IPv6 in *ret_other (or *ret) */
	for (ai = res; ai; ai = ai->ai_next) {
		struct zt_addr a;
		if (zt_addr_from_sockaddr(&a, ai->ai_addr, ai->ai_addrlen) < 0)
			continue;
		a.port = (uint16_t)port;
		if (a.family == AF_INET && !a4.family)
			a4 = a;
		else if (a.family == AF_INET6 && !a6.family)
			a6 = a;
	}
	rc = a4.family || a6.family ? 0 : -ENOENT;
	if (rc == 0)
		*ret = a4.family ? a4 : a6;
	if (rc == 0 && ret_other && a4.family)
		*ret_other = a6;
	freeaddrinfo(res);
	return rc;
}
