#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/parse.h"
#include "core/err.h"
#include "core/units.h"

static int number(const char *text, uint64_t *ret, const char **rest)
{
	char *end;
	unsigned long long v;

	if (*text < '0' || *text > '9')
		return ZT_ESYNTAX;
	errno = 0;
	v = strtoull(text, &end, 10);
	if (errno)
		return ZT_ERANGE;
	*ret = v;
	*rest = end;
	return 0;
}

int zt_parse_duration(const char *text, uint64_t *ret_ns)
{
	static const struct { const char *suffix; uint64_t mult; } units[] = {
		{ "ns", 1 }, { "us", ZT_US }, { "ms", ZT_MS }, { "s", ZT_SEC }, { "", ZT_SEC },
		{ "m", 60 * ZT_SEC }, { "h", 3600 * ZT_SEC },
	};
	const char *rest;
	uint64_t v;
	int rc = number(text, &v, &rest);

	if (rc < 0)
		return rc;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(rest, units[i].suffix))
			continue;
		if (v > UINT64_MAX / units[i].mult / 2)
			return ZT_ERANGE;
		*ret_ns = v * units[i].mult;
		return 0;
	}
	return ZT_ESYNTAX;
}

int zt_parse_size(const char *text, uint64_t *ret)
{
	const char *rest;
	uint64_t v, mult = 1;
	int rc = number(text, &v, &rest);

	if (rc < 0)
		return rc;
	if (!strcmp(rest, "K") || !strcmp(rest, "k"))
		mult = 1ULL << 10;
	else if (!strcmp(rest, "M"))
		mult = 1ULL << 20;
	else if (!strcmp(rest, "G"))
		mult = 1ULL << 30;
	else if (!strcmp(rest, "T"))
		mult = 1ULL << 40;
	else if (*rest)
		return ZT_ESYNTAX;
	if (v > UINT64_MAX / mult)
		return ZT_ERANGE;
	*ret = v * mult;
	return 0;
}

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
