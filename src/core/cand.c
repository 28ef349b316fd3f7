#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/cand.h"
#include "core/err.h"

static const char *const type_names[] = {
	[ZT_CAND_HOST] = "host",
	[ZT_CAND_SRFLX] = "srflx",
	[ZT_CAND_PRFLX] = "prflx",
	[ZT_CAND_RELAY] = "relay",
};

#define N_TYPES (sizeof(type_names) / sizeof(type_names[0]))

const char *zt_cand_type_name(unsigned type)
{
	return type < N_TYPES ? type_names[type] : "?";
}

unsigned zt_cand_type_pref(unsigned type)
{
	switch (type) {
	case ZT_CAND_HOST:
		return ZT_CAND_PREF_HOST;
	case ZT_CAND_PRFLX:
		return ZT_CAND_PREF_PRFLX;
	case ZT_CAND_SRFLX:
		return ZT_CAND_PREF_SRFLX;
	default:
		return ZT_CAND_PREF_RELAY;
	}
}

uint32_t zt_cand_priority(unsigned type, uint16_t local_pref, unsigned component)
{
	if (type >= N_TYPES || component < 1 || component > ZT_CAND_COMPONENT_MAX)
		return 0;
	/* RFC 8445 s5.1.2.1 */
	return (uint32_t)zt_cand_type_pref(type) << 24 | (uint32_t)local_pref << 8 |
	       (256 - component);
}

static size_t ip_len(const struct zt_addr *a)
{
	return a->family == AF_INET ? 4 : a->family == AF_INET6 ? 16 : 0;
}

/* FNV-1a, 64 bits: stable across hosts and builds, which a foundation must be. */
static uint64_t fnv1a(uint64_t h, const void *data, size_t n)
{
	const uint8_t *p = data;

	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

int zt_cand_foundation(char ret[ZT_CAND_FOUNDATION_MAX + 1], unsigned type,
		       const struct zt_addr *base, const struct zt_addr *server)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	uint8_t t = (uint8_t)type;

	if (!ip_len(base))
		return -EINVAL;
	/* RFC 8445 s5.1.1.3: same type, same base IP, same server IP (UDP only here). */
	h = fnv1a(h, &t, 1);
	h = fnv1a(h, &base->family, 1);
	h = fnv1a(h, base->ip, ip_len(base));
	if ((type == ZT_CAND_SRFLX || type == ZT_CAND_RELAY) && server && ip_len(server)) {
		h = fnv1a(h, &server->family, 1);
		h = fnv1a(h, server->ip, ip_len(server));
	}
	snprintf(ret, ZT_CAND_FOUNDATION_MAX + 1, "%08x", (uint32_t)(h ^ h >> 32));
	return 8;
}

const struct zt_addr *zt_cand_base(const struct zt_cand *c)
{
	if ((c->type == ZT_CAND_SRFLX || c->type == ZT_CAND_PRFLX) && c->related.family)
		return &c->related;
	return &c->addr;
}

static bool is_ice_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	       (ch >= '0' && ch <= '9') || ch == '+' || ch == '/';
}

static int check_foundation(const char *f, size_t n)
{
	if (n < 1 || n > ZT_CAND_FOUNDATION_MAX)
		return ZT_ESYNTAX;
	for (size_t i = 0; i < n; i++)
		if (!is_ice_char(f[i]))
			return ZT_ESYNTAX;
	return 0;
}

int zt_cand_check(const struct zt_cand *c)
{
	size_t n = strnlen(c->foundation, sizeof(c->foundation));
	int rc;

	if (c->type >= N_TYPES)
		return ZT_ECAND_TYPE;
	if (c->transport > ZT_CAND_TCP_SO)
		return ZT_ECAND_TRANSPORT;
	if (c->predicted && c->type != ZT_CAND_SRFLX)
		return ZT_ECAND_TYPE;
	if (c->predicted && c->transport != ZT_CAND_UDP)
		return ZT_ECAND_TRANSPORT;
	if (c->predicted > ZT_CAND_PREDICTED_MAX)
		return ZT_ERANGE;
	if (c->component < 1 || c->component > ZT_CAND_COMPONENT_MAX)
		return ZT_ERANGE;
	if (c->priority < 1 || c->priority > ZT_CAND_PRIORITY_MAX)
		return ZT_ERANGE;
	if (n == sizeof(c->foundation))
		return ZT_ESYNTAX;
	rc = check_foundation(c->foundation, n);
	if (rc < 0)
		return rc;
	if (!ip_len(&c->addr))
		return ZT_EMALFORMED;
	if (c->addr.port == 0)
		return ZT_ERANGE;
	if (c->related.family && !ip_len(&c->related))
		return ZT_EMALFORMED;
	return 0;
}

/* Text parsing: a cursor over [p, end). */
struct tok {
	const char *p;
	size_t n;
};

static bool next_tok(const char **cur, const char *end, struct tok *t)
{
	const char *s = *cur;

	while (s < end && (*s == ' ' || *s == '\t'))
		s++;
	if (s == end)
		return false;
	t->p = s;
	while (s < end && *s != ' ' && *s != '\t')
		s++;
	t->n = (size_t)(s - t->p);
	*cur = s;
	return true;
}

static bool tok_is(const struct tok *t, const char *word)
{
	return t->n == strlen(word) && strncasecmp(t->p, word, t->n) == 0;
}

/* Decimal digits only; values above max give ZT_ERANGE, however many digits. */
static int tok_uint(const struct tok *t, uint64_t max, uint64_t *ret)
{
	uint64_t v = 0;

	for (size_t i = 0; i < t->n; i++) {
		if (t->p[i] < '0' || t->p[i] > '9')
			return ZT_ESYNTAX;
		if (v <= max)
			v = v * 10 + (uint64_t)(t->p[i] - '0');
	}
	if (v > max)
		return ZT_ERANGE;
	*ret = v;
	return 0;
}

static int tok_ip(const struct tok *t, struct zt_addr *a)
{
	char buf[INET6_ADDRSTRLEN];

	if (t->n >= sizeof(buf))
		return ZT_ESYNTAX;
	memcpy(buf, t->p, t->n);
	buf[t->n] = '\0';
	*a = (struct zt_addr){ 0 };
	if (inet_pton(AF_INET, buf, a->ip) == 1)
		a->family = AF_INET;
	else if (inet_pton(AF_INET6, buf, a->ip) == 1)
		a->family = AF_INET6;
	else
		return ZT_ESYNTAX;
	zt_addr_unmap(a); /* ::ffff:a.b.c.d is a.b.c.d (core/addr.h) */
	return 0;
}

static int tok_port(const struct tok *t, struct zt_addr *a)
{
	uint64_t v;
	int rc = tok_uint(t, 65535, &v);

	if (rc < 0)
		return rc;
	a->port = (uint16_t)v;
	return 0;
}

static int skip_prefix(const char **cur, const char *end)
{
	static const char a_eq[] = "a=", cand[] = "candidate:";
	const char *s = *cur;
	bool had_a = false;

	while (s < end && (*s == ' ' || *s == '\t'))
		s++;
	if ((size_t)(end - s) >= 2 && strncasecmp(s, a_eq, 2) == 0) {
		s += 2;
		had_a = true;
	}
	if ((size_t)(end - s) >= sizeof(cand) - 1 && strncasecmp(s, cand, sizeof(cand) - 1) == 0)
		s += sizeof(cand) - 1;
	else if (had_a)
		return ZT_ESYNTAX;
	*cur = s;
	return 0;
}

/* After the type: [SP rel-addr SP rel-port], then *(SP cand-extension), ignored but
 * for "tcptype", which a TCP candidate must have with the value "so", and "predicted"
 * (core/cand.h). */
static int parse_tail(const char **cur, const char *end, struct zt_cand *c)
{
	bool so = false;
	struct tok t;
	int rc;

	while (next_tok(cur, end, &t)) {
		struct tok val;
		bool raddr = tok_is(&t, "raddr") && !c->related.family;

		if (tok_is(&t, "rport") && !c->related.family)
			return ZT_ESYNTAX; /* rport without raddr */
		if (!next_tok(cur, end, &val))
			return ZT_ESYNTAX;
		if (tok_is(&t, "tcptype")) {
			if (c->transport != ZT_CAND_TCP_SO || !tok_is(&val, "so"))
				return ZT_ECAND_TRANSPORT;
			so = true;
			continue;
		}
		if (tok_is(&t, "predicted")) {
			uint64_t k;
			rc = tok_uint(&val, ZT_CAND_PREDICTED_MAX, &k);
			if (rc < 0)
				return rc;
			if (!k)
				return ZT_ERANGE;
			c->predicted = (uint8_t)k;
			continue;
		}
		if (!raddr)
			continue;
		rc = tok_ip(&val, &c->related);
		if (rc < 0)
			return rc;
		if (!next_tok(cur, end, &t) || !tok_is(&t, "rport") ||
		    !next_tok(cur, end, &val))
			return ZT_ESYNTAX;
		rc = tok_port(&val, &c->related);
		if (rc < 0)
			return rc;
	}
	return c->transport == ZT_CAND_TCP_SO && !so ? ZT_ECAND_TRANSPORT : 0;
}

int zt_cand_parse(struct zt_cand *ret, const char *text, size_t len)
{
	const char *cur = text, *end = text + len;
	struct zt_cand c = { 0 };
	struct tok t;
	uint64_t v;
	int rc;

	while (end > cur && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' ||
			     end[-1] == '\t'))
		end--;
	for (const char *s = cur; s < end; s++)
		if ((unsigned char)*s < 0x20 && *s != '\t')
			return ZT_ESYNTAX;
	rc = skip_prefix(&cur, end);
	if (rc < 0)
		return rc;

	/* RFC 8839 s5.1: foundation SP component-id SP transport SP priority SP
	 * connection-address SP port SP "typ" SP cand-type */
	if (!next_tok(&cur, end, &t))
		return ZT_ESYNTAX;
	rc = check_foundation(t.p, t.n);
	if (rc < 0)
		return rc;
	memcpy(c.foundation, t.p, t.n);

	if (!next_tok(&cur, end, &t))
		return ZT_ESYNTAX;
	rc = tok_uint(&t, ZT_CAND_COMPONENT_MAX, &v);
	if (rc < 0)
		return rc;
	c.component = (uint16_t)v;

	if (!next_tok(&cur, end, &t))
		return ZT_ESYNTAX;
	if (tok_is(&t, "tcp"))
		c.transport = ZT_CAND_TCP_SO; /* confirmed by its tcptype below */
	else if (!tok_is(&t, "udp"))
		return ZT_ECAND_TRANSPORT;

	if (!next_tok(&cur, end, &t))
		return ZT_ESYNTAX;
	rc = tok_uint(&t, ZT_CAND_PRIORITY_MAX, &v);
	if (rc < 0)
		return rc;
	c.priority = (uint32_t)v;

	if (!next_tok(&cur, end, &t))
		return ZT_ESYNTAX;
	rc = tok_ip(&t, &c.addr);
	if (rc < 0)
		return rc;
	if (!next_tok(&cur, end, &t))
		return ZT_ESYNTAX;
	rc = tok_port(&t, &c.addr);
	if (rc < 0)
		return rc;

	if (!next_tok(&cur, end, &t) || !tok_is(&t, "typ"))
		return ZT_ESYNTAX;
	if (!next_tok(&cur, end, &t))
		return ZT_ESYNTAX;
	c.type = UINT8_MAX;
	for (unsigned i = 0; i < N_TYPES; i++)
		if (tok_is(&t, type_names[i]))
			c.type = (uint8_t)i;
	if (c.type == UINT8_MAX)
		return ZT_ECAND_TYPE;

	rc = parse_tail(&cur, end, &c);
	if (rc < 0)
		return rc;
	rc = zt_cand_check(&c);
	if (rc < 0)
		return rc;
	*ret = c;
	return 0;
}

int zt_cand_format(const struct zt_cand *c, char *buf, size_t cap)
{
	char ip[ZT_ADDR_STRLEN], rip[ZT_ADDR_STRLEN], rel[ZT_ADDR_STRLEN + 24] = "";
	char ext[24] = "";
	bool tcp = c->transport == ZT_CAND_TCP_SO;
	int n, rc;

	rc = zt_cand_check(c);
	if (rc < 0)
		return rc;
	zt_addr_format(&c->addr, false, ip, sizeof(ip));
	if (c->related.family) {
		zt_addr_format(&c->related, false, rip, sizeof(rip));
		snprintf(rel, sizeof(rel), " raddr %s rport %u", rip, c->related.port);
	}
	if (tcp)
		snprintf(ext, sizeof(ext), " tcptype so");
	else if (c->predicted)
		snprintf(ext, sizeof(ext), " predicted %u", c->predicted);
	n = snprintf(buf, cap, "candidate:%s %u %s %u %s %u typ %s%s%s", c->foundation,
		     c->component, tcp ? "tcp" : "udp", c->priority, ip, c->addr.port,
		     type_names[c->type], rel, ext);
	if (n < 0 || (size_t)n >= cap)
		return -ENOBUFS;
	return n;
}

uint64_t zt_cand_pair_priority(uint32_t g, uint32_t d)
{
	uint64_t lo = g < d ? g : d, hi = g < d ? d : g;

	/* RFC 8445 s6.1.2.3 */
	return (lo << 32) + 2 * hi + (g > d ? 1 : 0);
}

void zt_cand_pair_init(struct zt_cand_pair *ret, const struct zt_cand *local,
		       const struct zt_cand *remote, bool controlling)
{
	*ret = (struct zt_cand_pair){ .local = *local, .remote = *remote };
	ret->priority = controlling ? zt_cand_pair_priority(local->priority, remote->priority)
				    : zt_cand_pair_priority(remote->priority, local->priority);
}

static int cmp_u64_desc(uint64_t a, uint64_t b)
{
	return a > b ? -1 : a < b ? 1 : 0;
}

static int addr_cmp(const struct zt_addr *a, const struct zt_addr *b)
{
	int d;

	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	d = memcmp(a->ip, b->ip, sizeof(a->ip));
	if (d)
		return d;
	return a->port < b->port ? -1 : a->port > b->port ? 1 : 0;
}

int zt_cand_pair_cmp(const struct zt_cand_pair *a, const struct zt_cand_pair *b)
{
	int d;

	if ((d = cmp_u64_desc(a->priority, b->priority)))
		return d;
	if ((d = cmp_u64_desc(a->local.priority, b->local.priority)))
		return d;
	if ((d = cmp_u64_desc(a->remote.priority, b->remote.priority)))
		return d;
	if (a->local.component != b->local.component)
		return a->local.component < b->local.component ? -1 : 1;
	if ((d = addr_cmp(&a->local.addr, &b->local.addr)))
		return d;
	return addr_cmp(&a->remote.addr, &b->remote.addr);
}

void zt_cand_pair_sort(struct zt_cand_pair *pairs, size_t n)
{
	/* Insertion sort: stable, no allocation, and checklists are small (<= 100). */
	for (size_t i = 1; i < n; i++) {
		struct zt_cand_pair p = pairs[i];
		size_t j = i;

		while (j > 0 && zt_cand_pair_cmp(&pairs[j - 1], &p) > 0) {
			pairs[j] = pairs[j - 1];
			j--;
		}
		pairs[j] = p;
	}
}

bool zt_cand_pair_redundant(const struct zt_cand_pair *a, const struct zt_cand_pair *b)
{
	return a->local.component == b->local.component &&
	       zt_addr_equal(zt_cand_base(&a->local), zt_cand_base(&b->local)) &&
	       zt_addr_equal(&a->remote.addr, &b->remote.addr);
}
