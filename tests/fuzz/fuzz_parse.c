/*
 * libFuzzer target: the value parsers of config files, options and scenario files:
 * the units grammar of src/core/units.c (durations with each meaning of a bare number,
 * sizes, bit rates, percentages, and their formatters) and zt_parse_hostport
 * (src/app/parse.c).
 *
 * The input is one value (an exact-size NUL-terminated copy, so ASan sees any read
 * past it). Each parser must return 0 or one of its documented codes and leave its
 * result alone on failure; a value that parses must be within a rounding error of
 * what strtod reads (an independent oracle), print back (with the core's formatter
 * and in the parser's own units) and parse to the same result.
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

/* One grammar of core/units.h: its parser and formatter on uint64_t, and its units. */
struct grammar {
	int (*parse)(const char *text, uint64_t *ret);
	int (*format)(char *buf, size_t cap, uint64_t v);
	uint64_t max, bare;       /* bare: a bare number's unit; 0: refused (but for 0) */
	size_t nunits;
	struct { const char *name; uint64_t mult; } units[6];
};

static int duration_sec(const char *text, uint64_t *ret)
{
	return zt_units_duration(text, ret);
}

static int size_str(char *buf, size_t cap, uint64_t v)
{
	int n = snprintf(buf, cap, "%" PRIu64, v);

	return n < 0 || (size_t)n >= cap ? -ENOBUFS : n;
}

static int percent(const char *text, uint64_t *ret)
{
	uint32_t v = 12345;
	int rc = zt_units_percent(text, &v);

	if (rc < 0)
		check(v == 12345);
	else
		*ret = v;
	return rc;
}

static int percent_str(char *buf, size_t cap, uint64_t v)
{
	check(v <= ZT_UNITS_PPM_MAX);
	return zt_units_percent_str(buf, cap, (uint32_t)v);
}

static const struct grammar durations = {
	.parse = duration_sec, .format = zt_units_duration_str, .max = ZT_UNITS_DURATION_MAX,
	.bare = ZT_SEC, .nunits = 6,
	.units = { { "ns", ZT_NS }, { "us", ZT_US }, { "ms", ZT_MS }, { "s", ZT_SEC },
		   { "m", ZT_MIN }, { "h", ZT_HOUR } },
};
static const struct grammar sizes = {
	.parse = zt_units_size, .format = size_str, .max = UINT64_MAX, .bare = 1, .nunits = 5,
	.units = { { "K", 1ULL << 10 }, { "k", 1ULL << 10 }, { "M", 1ULL << 20 },
		   { "G", 1ULL << 30 }, { "T", 1ULL << 40 } },
};
static const struct grammar rates = {
	.parse = zt_units_rate, .format = zt_units_rate_str, .max = UINT64_MAX, .nunits = 4,
	.units = { { "bit", 1 }, { "kbit", 1000 }, { "mbit", 1000000 }, { "gbit", 1000000000 } },
};
static const struct grammar percents = {
	.parse = percent, .format = percent_str, .max = ZT_UNITS_PPM_MAX, .nunits = 1,
	.units = { { "%", 10000 } },
};

/* The multiplier of text's unit (text was accepted: digits and '.', then the unit). */
static uint64_t unit_of(const struct grammar *g, const char *text)
{
	const char *u = text + strspn(text, "0123456789.");

	for (size_t i = 0; i < g->nunits; i++)
		if (!strcmp(u, g->units[i].name))
			return g->units[i].mult;
	check(*u == '\0' && g->bare);
	return g->bare;
}

/*
 * Parses text with g. An accepted value is at most g->max, within a rounding error of
 * what strtod reads times its unit (an oracle independent of core/units.c's integer
 * arithmetic; the C locale), and formats to text that parses to the same value.
 * Returns the parser's code with *ret set on success.
 */
static int fuzz_grammar(const struct grammar *g, const char *text, uint64_t *ret)
{
	char again[64];
	uint64_t v = 12345, w = 0;
	double want;
	int rc = g->parse(text, &v);

	if (rc < 0) {
		check(rc == ZT_ESYNTAX || rc == ZT_ERANGE);
		check(v == 12345);
		return rc;
	}
	check(rc == 0 && v <= g->max);
	want = strtod(text, NULL) * (double)unit_of(g, text);
	check((double)v >= want * (1 - 1e-12) - 1 && (double)v <= want * (1 + 1e-12) + 1);
	check(g->format(again, sizeof(again), v) > 0);
	check(g->parse(again, &w) == 0 && w == v);
	*ret = v;
	return 0;
}

static void fuzz_duration(const char *text)
{
	char again[64];
	uint64_t v = 0, w = 0, in_ms = 12345, strict = 12345;
	int rc = fuzz_grammar(&durations, text, &v);
	int rc_ms = zt_units_duration_in(text, ZT_MS, &in_ms);
	int rc_strict = zt_units_duration_in(text, 0, &strict);

	/* the grammar does not depend on the bare unit, only a bare number's meaning */
	check(rc_strict == 0 || rc_strict == ZT_ESYNTAX || rc_strict == ZT_ERANGE);
	check(rc_ms == 0 || rc_ms == ZT_ESYNTAX || rc_ms == ZT_ERANGE);
	if (rc_strict == 0)
		check(rc == 0 && rc_ms == 0 && v == strict && in_ms == strict);
	else
		check(strict == 12345);
	if (rc == ZT_ESYNTAX)
		check(rc_ms == ZT_ESYNTAX && rc_strict == ZT_ESYNTAX);
	check(rc_ms == 0 ? in_ms <= ZT_UNITS_DURATION_MAX : in_ms == 12345);
	if (rc < 0)
		return;
	check(zt_units_duration_str(again, sizeof(again), v) > 0); /* always with a unit */
	check(zt_units_duration_in(again, 0, &w) == 0 && w == v);
	snprintf(again, sizeof(again), "%" PRIu64 "ns", v);
	check(zt_units_duration(again, &w) == 0 && w == v);
	if (v % ZT_SEC == 0) {
		snprintf(again, sizeof(again), "%" PRIu64, (uint64_t)(v / ZT_SEC));
		check(zt_units_duration(again, &w) == 0 && w == v);
	}
}

static void fuzz_size(const char *text)
{
	char again[64];
	uint64_t v = 0, w = 0;

	if (fuzz_grammar(&sizes, text, &v) < 0 || v % 1024)
		return;
	snprintf(again, sizeof(again), "%" PRIu64 "K", v / 1024);
	check(zt_units_size(again, &w) == 0 && w == v);
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
	uint64_t v;

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
	(void)fuzz_grammar(&rates, text, &v);
	(void)fuzz_grammar(&percents, text, &v);
	fuzz_hostport(text, default_port);
	free(text);
	return 0;
}
