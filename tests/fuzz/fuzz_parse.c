/*
 * libFuzzer target: the value parsers of config files and options (src/app/parse.c):
 * zt_parse_duration, zt_parse_size, zt_parse_hostport.
 *
 * The input is one value (an exact-size NUL-terminated copy, so ASan sees any read
 * past it). Each parser must return 0 or one of its documented codes; a value that
 * parses must print back (in the parser's own units) and parse to the same result.
 * Name resolution is replaced by a stub below (no DNS from a fuzzer): "localhost"
 * and names ending in ".example" resolve, everything else does not.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/parse.h"
#include "core/err.h"
#include "core/units.h"
#include "fuzzcheck.h"

/* The stub resolver: one IPv6 and one IPv4 answer (v6 first, so "IPv4 first" is tested). */
struct stub_ai {
	struct addrinfo ai[2];
	struct sockaddr_in6 sin6;
	struct sockaddr_in sin;
};

int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
		struct addrinfo **res)
{
	size_t n = node ? strlen(node) : 0;
	struct stub_ai *s;

	(void)service;
	(void)hints;
	if (!node || (strcmp(node, "localhost") && (n < 8 || strcmp(node + n - 8, ".example"))))
		return EAI_NONAME;
	s = calloc(1, sizeof(*s));
	if (!s)
		return EAI_MEMORY;
	s->sin6 = (struct sockaddr_in6){ .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	s->sin = (struct sockaddr_in){ .sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001) };
	s->ai[0] = (struct addrinfo){ .ai_family = AF_INET6, .ai_socktype = SOCK_DGRAM,
				      .ai_addr = (struct sockaddr *)&s->sin6,
				      .ai_addrlen = sizeof(s->sin6), .ai_next = &s->ai[1] };
	s->ai[1] = (struct addrinfo){ .ai_family = AF_INET, .ai_socktype = SOCK_DGRAM,
				      .ai_addr = (struct sockaddr *)&s->sin,
				      .ai_addrlen = sizeof(s->sin) };
	*res = &s->ai[0];
	return 0;
}

void freeaddrinfo(struct addrinfo *res)
{
	free(res); /* &s->ai[0] is the start of the block */
}

static void fuzz_duration(const char *text)
{
	char again[64];
	uint64_t v = 12345, w = 0;
	int rc = zt_parse_duration(text, &v);

	if (rc < 0) {
		check(rc == ZT_ESYNTAX || rc == ZT_ERANGE);
		check(v == 12345);
		return;
	}
	check(rc == 0);
	check(v <= UINT64_MAX / 2);
	snprintf(again, sizeof(again), "%" PRIu64 "ns", v);
	check(zt_parse_duration(again, &w) == 0 && w == v);
	if (v % ZT_SEC == 0) {
		snprintf(again, sizeof(again), "%" PRIu64, (uint64_t)(v / ZT_SEC));
		check(zt_parse_duration(again, &w) == 0 && w == v);
	}
}

static void fuzz_size(const char *text)
{
	char again[64];
	uint64_t v = 12345, w = 0;
	int rc = zt_parse_size(text, &v);

	if (rc < 0) {
		check(rc == ZT_ESYNTAX || rc == ZT_ERANGE);
		check(v == 12345);
		return;
	}
	check(rc == 0);
	snprintf(again, sizeof(again), "%" PRIu64, v);
	check(zt_parse_size(again, &w) == 0 && w == v);
	if (v % 1024 == 0) {
		snprintf(again, sizeof(again), "%" PRIu64 "K", v / 1024);
		check(zt_parse_size(again, &w) == 0 && w == v);
	}
}

static void fuzz_hostport(const char *text, uint16_t default_port)
{
	char again[ZT_ADDR_STRLEN];
	struct zt_addr a, b;
	int rc, n;

	memset(&a, 0, sizeof(a));
	rc = zt_parse_hostport(text, default_port, &a);
	if (rc < 0) {
		check(rc == ZT_ESYNTAX || rc == ZT_ERANGE || rc == -ENOENT);
		return;
	}
	check(rc == 0);
	check(a.family == AF_INET || a.family == AF_INET6);
	check(a.port != 0); /* "the port is required" */
	n = zt_addr_format(&a, true, again, sizeof(again));
	check(n > 0 && (size_t)n == strlen(again));
	check(zt_parse_hostport(again, 0, &b) == 0);
	check(zt_addr_equal(&a, &b));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text;
	uint16_t default_port;

	if (size < 1)
		return 0;
	/* first byte: nonzero picks a default port for hostport */
	default_port = data[0] & 1 ? (uint16_t)(data[0] * 257) : 0;
	text = malloc(size);
	if (!text)
		return 0;
	memcpy(text, data + 1, size - 1);
	text[size - 1] = '\0';
	fuzz_duration(text);
	fuzz_size(text);
	fuzz_hostport(text, default_port);
	free(text);
	return 0;
}
