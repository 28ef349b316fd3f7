/* Routed services (route.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "core/err.h"
#include "core/route.h"

/* A decimal number of at most 5 digits up to a character not a digit. */
static const char *number(const char *s, unsigned *ret)
{
	unsigned v = 0, n = 0;

	while (*s >= '0' && *s <= '9' && n < 6) {
		v = v * 10 + (unsigned)(*s++ - '0');
		n++;
	}
	if (n == 0 || n > 5)
		return NULL;
	*ret = v;
	return s;
}

static int parse_rule(struct zt_route_rule *r, const char *s, const char *end)
{
	static const struct { const char *name; uint8_t proto; } protos[] = {
		{ "tcp", ZT_ROUTE_TCP }, { "udp", ZT_ROUTE_UDP }, { "icmp", ZT_ROUTE_ICMP },
	};
	unsigned lo, hi;
	size_t n;

	for (size_t i = 0; i < sizeof(protos) / sizeof(protos[0]); i++) {
		n = strlen(protos[i].name);
		if ((size_t)(end - s) < n || strncmp(s, protos[i].name, n))
			continue;
		*r = (struct zt_route_rule){ .proto = protos[i].proto, .lo = 0, .hi = 65535 };
		s += n;
		if (s == end)
			return 0;
		if (*s != '/' || protos[i].proto == ZT_ROUTE_ICMP)
			return ZT_ESYNTAX;
		if (!(s = number(s + 1, &lo)))
			return ZT_ESYNTAX;
		hi = lo;
		if (s < end && *s == '-' && !(s = number(s + 1, &hi)))
			return ZT_ESYNTAX;
		if (s != end)
			return ZT_ESYNTAX;
		if (lo > 65535 || hi > 65535 || lo > hi)
			return ZT_ERANGE;
		r->lo = (uint16_t)lo;
		r->hi = (uint16_t)hi;
		return 0;
	}
	return ZT_ESYNTAX;
}

static int parse_rules(struct zt_route *r, const char *s)
{
	while (*s) {
		const char *end = strchr(s, ',');
		int rc;

		if (!end)
			end = s + strlen(s);
		if (r->nrules == ZT_ROUTE_RULES_MAX)
			return ZT_ERANGE;
		rc = parse_rule(&r->rules[r->nrules++], s, end);
		if (rc < 0)
			return rc;
		s = *end ? end + 1 : end;
		if (*end && !*s)
			return ZT_ESYNTAX; /* a trailing comma */
	}
	return 0;
}

/* Whether the bits of a after the first plen are all zero. */
static bool host_bits_zero(const struct zt_addr *a, unsigned plen)
{
	unsigned bytes = a->family == AF_INET ? 4 : 16;

	for (unsigned i = 0; i < bytes; i++) {
		unsigned keep = plen >= 8 * (i + 1) ? 8 : plen > 8 * i ? plen - 8 * i : 0;
		if (a->ip[i] & (uint8_t)(0xff >> keep))
			return false;
	}
	return true;
}

static int parse_prefix(struct zt_route *r, const char *s, const char **ret_end)
{
	char addr[48];
	const char *slash = strchr(s, '/'), *end;
	unsigned plen;

	if (!slash || (size_t)(slash - s) >= sizeof(addr) || slash == s)
		return ZT_ESYNTAX;
	memcpy(addr, s, (size_t)(slash - s));
	addr[slash - s] = '\0';
	if (strchr(addr, '[') || strchr(addr, ']') ||
	    zt_addr_parse(&r->prefix, addr, 0) < 0 || r->prefix.port)
		return ZT_ESYNTAX;
	if (!(end = number(slash + 1, &plen)) || (*end && *end != ':'))
		return ZT_ESYNTAX;
	if (plen > (r->prefix.family == AF_INET ? 32u : 128u) || !host_bits_zero(&r->prefix, plen))
		return ZT_ERANGE;
	r->plen = (uint8_t)plen;
	*ret_end = end;
	return 0;
}

int zt_prefix_parse(const char *text, struct zt_addr *ret, uint8_t *ret_plen)
{
	struct zt_route r = { 0 };
	const char *end;
	int rc = parse_prefix(&r, text, &end);

	if (rc == 0 && *end)
		rc = ZT_ESYNTAX;
	if (rc < 0)
		return rc;
	*ret = r.prefix;
	*ret_plen = r.plen;
	return 0;
}

int zt_route_parse(struct zt_route *ret, const char *text)
{
	struct zt_route r = { 0 };
	const char *eq = strchr(text, '='), *end;
	size_t n;
	int rc;

	if (!eq || eq == text || (n = (size_t)(eq - text)) > ZT_ROUTE_NAME_MAX)
		return eq && eq != text ? ZT_ERANGE : ZT_ESYNTAX;
	for (size_t i = 0; i < n; i++)
		if (text[i] <= ' ' || text[i] == ':' || (unsigned char)text[i] >= 0x7f)
			return ZT_ESYNTAX;
	memcpy(r.name, text, n);
	rc = parse_prefix(&r, eq + 1, &end);
	if (rc == 0 && *end == ':')
		rc = *(end + 1) ? parse_rules(&r, end + 1) : ZT_ESYNTAX;
	if (rc < 0)
		return rc;
	*ret = r;
	return 0;
}

int zt_route_format(const struct zt_route *r, char *buf, size_t cap)
{
	char a[ZT_ADDR_STRLEN];
	static const char *const names[] = { "?", "tcp", "udp", "icmp" };
	int n = snprintf(buf, cap, "%s=%s/%u", r->name,
			 zt_addr_format(&r->prefix, false, a, sizeof(a)) > 0 ? a : "?", r->plen);

	for (unsigned i = 0; i < r->nrules && n >= 0 && (size_t)n < cap; i++) {
		const struct zt_route_rule *u = &r->rules[i];
		const char *sep = i ? "," : ":";
		if (u->proto == ZT_ROUTE_ICMP || (u->lo == 0 && u->hi == 65535))
			n += snprintf(buf + n, cap - (size_t)n, "%s%s", sep, names[u->proto % 4]);
		else if (u->lo == u->hi)
			n += snprintf(buf + n, cap - (size_t)n, "%s%s/%u", sep, names[u->proto % 4], u->lo);
		else
			n += snprintf(buf + n, cap - (size_t)n, "%s%s/%u-%u", sep, names[u->proto % 4],
				      u->lo, u->hi);
	}
	return n < 0 || (size_t)n >= cap ? -ENOBUFS : n;
}

bool zt_route_contains(const struct zt_route *r, const struct zt_addr *a)
{
	unsigned full = r->plen / 8, rest = r->plen % 8;

	if (a->family != r->prefix.family)
		return false;
	if (memcmp(a->ip, r->prefix.ip, full))
		return false;
	return !rest || !((a->ip[full] ^ r->prefix.ip[full]) & (uint8_t)(0xff << (8 - rest)));
}

static bool rule_allows(const struct zt_route_rule *u, const struct zt_ippkt *p)
{
	bool any_port = u->lo == 0 && u->hi == 65535;

	switch (u->proto) {
	case ZT_ROUTE_ICMP:
		return p->proto == (p->family == AF_INET ? ZT_IP_ICMP : ZT_IP_ICMPV6);
	case ZT_ROUTE_TCP:
	case ZT_ROUTE_UDP:
		if (p->proto != (u->proto == ZT_ROUTE_TCP ? ZT_IP_TCP : ZT_IP_UDP))
			return false;
		if (!p->has_l4)
			return any_port;
		return p->dst.port >= u->lo && p->dst.port <= u->hi;
	}
	return false;
}

bool zt_route_allows(const struct zt_route *r, const struct zt_ippkt *p)
{
	if (!zt_route_contains(r, &p->dst))
		return false;
	if (!r->nrules)
		return true;
	for (unsigned i = 0; i < r->nrules; i++)
		if (rule_allows(&r->rules[i], p))
			return true;
	return false;
}
