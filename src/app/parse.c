#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/parse.h"
#include "core/err.h"

int zt_parse_hostport(const char *text, uint16_t default_port, struct zt_addr *ret)
{
	struct addrinfo hints = { .ai_socktype = SOCK_DGRAM, .ai_family = AF_UNSPEC }, *res, *ai;
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
	rc = -ENOENT;
	for (int pass = 0; pass < 2 && rc < 0; pass++)
		for (ai = res; ai; ai = ai->ai_next) {
			if ((pass == 0) != (ai->ai_family == AF_INET))
				continue;
			if (zt_addr_from_sockaddr(ret, ai->ai_addr, ai->ai_addrlen) == 0) {
				ret->port = (uint16_t)port;
				rc = 0;
				break;
			}
		}
	freeaddrinfo(res);
	return rc;
}
