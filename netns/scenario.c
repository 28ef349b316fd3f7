#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/err.h"
#include "core/units.h"
#include "scenario.h"

#define MAX_TOKENS 40
#define MAX_LINE 1024
#define DEFAULT_TIMEOUT_S 120
#define DEFAULT_MTU 1500
#define DEFAULT_QUEUE 1000

struct parser {
	struct zt_scn *s;
	const char *file;
	int line;
	struct zt_scn_error *err;
	int public_line;
	/* resolved after every line is read: names may be used before their definition */
	char behind[ZT_SCN_MAX_NODES][ZT_SCN_NAME_MAX + 1];
	char egress[ZT_SCN_MAX_NODES][ZT_SCN_NAME_MAX + 1];  /* 'egress proxy NODE' of a NAT */
	unsigned auto_addrs[ZT_SCN_MAX_NODES];
	bool gw_given[ZT_SCN_MAX_NODES];
	/* IPv6: checked and completed after every line is read (v6.c-like, below) */
	int public6_line;
	int v6_line;                          /* first line with an IPv6 key */
	char v6_key[8];                       /* that key */
	bool addr6_given[ZT_SCN_MAX_NODES];
	bool gw6_given[ZT_SCN_MAX_NODES];
	bool fw6_given[ZT_SCN_MAX_NODES];
	struct {
		char node[ZT_SCN_NAME_MAX + 1];
		struct zt_scn_link link;
	} links[ZT_SCN_MAX_NODES];
	unsigned nlinks;
	char ev_node[ZT_SCN_MAX_EVENTS][ZT_SCN_NAME_MAX + 1]; /* each 'at' line's NODE */
	char ev_to[ZT_SCN_MAX_EVENTS][ZT_SCN_NAME_MAX + 1];   /* ... 'move NAT': the NAT */
};

static const char *const nat_type_names[] = {
	[ZT_NAT_FULL_CONE] = "full-cone",
	[ZT_NAT_ADDR_RESTRICTED] = "address-restricted",
	[ZT_NAT_PORT_RESTRICTED] = "port-restricted",
	[ZT_NAT_SYMMETRIC] = "symmetric",
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* names[i], or "?" past the table. */
static const char *name_in(const char *const *names, size_t n, unsigned i)
{
	return i < n ? names[i] : "?";
}

/* The index of word t in names, or -1. */
static int index_in(const char *const *names, size_t n, const char *t)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(t, names[i]))
			return (int)i;
	return -1;
}

const char *zt_nat_type_name(enum zt_nat_type t)
{
	return name_in(nat_type_names, COUNT(nat_type_names), (unsigned)t);
}

const char *zt_scn_proxy_name(enum zt_scn_proxy p)
{
	switch (p) {
	case ZT_SCN_PROXY_NONE: return "none";
	case ZT_SCN_PROXY_ALLOW: return "allow";
	case ZT_SCN_PROXY_DENY: return "deny";
	}
	return "?";
}

const char *zt_ip6_str(const uint8_t ip[16], char buf[ZT_IP6_STR_MAX])
{
	if (!inet_ntop(AF_INET6, ip, buf, ZT_IP6_STR_MAX))
		snprintf(buf, ZT_IP6_STR_MAX, "?");
	return buf;
}

const char *zt_ip4_str(uint32_t ip, char buf[16])
{
	snprintf(buf, 16, "%u.%u.%u.%u", ip >> 24, (ip >> 16) & 255, (ip >> 8) & 255, ip & 255);
	return buf;
}

/* Records an error at the current line (or none when line is 0). Returns rc. */
__attribute__((format(printf, 4, 5)))
static int fail_at(struct parser *p, int line, int rc, const char *fmt, ...)
{
	char what[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	p->err->line = line;
	if (line > 0)
		snprintf(p->err->msg, sizeof(p->err->msg), "%s:%d: %s", p->file, line, what);
	else
		snprintf(p->err->msg, sizeof(p->err->msg), "%s: %s", p->file, what);
	return rc;
}

#define fail(p, rc, ...) fail_at(p, (p)->line, rc, __VA_ARGS__)

/* Value parsers: 0 on success, -1 when the text does not fit the grammar. */

static int parse_u64(const char *t, uint64_t max, uint64_t *ret)
{
	uint64_t v = 0;

	if (!*t)
		return -1;
	for (; *t; t++) {
		if (*t < '0' || *t > '9')
			return -1;
		if (v > (max - (uint64_t)(*t - '0')) / 10)
			return -1;
		v = v * 10 + (uint64_t)(*t - '0');
	}
	*ret = v;
	return 0;
}

/* Durations, percentages and rates in core/units.h's grammar, with the lab's limits. */

/* "10ms", "1.5ms", "200us", "2s", "0" (a unit on all but 0), at most a minute (more is
 * surely a typo): nanoseconds. */
static int parse_delay(const char *t, uint64_t *ret)
{
	uint64_t v;

	if (zt_units_duration_in(t, 0, &v) < 0 || v > 60 * ZT_SEC)
		return -1;
	*ret = v;
	return 0;
}

/* "10mbit", "512kbit", "1.5gbit", "64000bit": bit/s; below 1 kbit/s nothing useful
 * passes. */
static int parse_rate(const char *t, uint64_t *ret)
{
	uint64_t v;

	if (zt_units_rate(t, &v) < 0 || v < 1000 || v > 100ULL * 1000000000)
		return -1;
	*ret = v;
	return 0;
}

static int parse_ip4(const char *t, uint32_t *ret)
{
	uint32_t ip = 0;

	for (int i = 0; i < 4; i++) {
		unsigned v = 0, n = 0;

		while (*t >= '0' && *t <= '9') {
			v = v * 10 + (unsigned)(*t++ - '0');
			if (++n > 3 || v > 255)
				return -1;
		}
		if (n == 0 || (i < 3 && *t++ != '.'))
			return -1;
		ip = ip << 8 | v;
	}
	if (*t)
		return -1;
	*ret = ip;
	return 0;
}

static uint32_t prefix_mask(unsigned prefix)
{
	return prefix ? ~0U << (32 - prefix) : 0;
}

/* "10.0.0.0/24", prefix 8..30, host bits zero. */
static int parse_cidr(struct parser *p, const char *t, uint32_t *net, unsigned *prefix)
{
	char ip[32];
	const char *slash = strchr(t, '/');
	uint64_t pl;
	uint32_t a;
	char buf[16];

	if (!slash || (size_t)(slash - t) >= sizeof(ip))
		return fail(p, ZT_ECONF_VALUE, "expected a network like 10.0.0.0/24, got '%s'", t);
	memcpy(ip, t, (size_t)(slash - t));
	ip[slash - t] = 0;
	if (parse_ip4(ip, &a) || parse_u64(slash + 1, 32, &pl))
		return fail(p, ZT_ECONF_VALUE, "expected a network like 10.0.0.0/24, got '%s'", t);
	if (pl < 8 || pl > 30)
		return fail(p, ZT_ERANGE, "expected a prefix length from 8 to 30, got /%u",
			    (unsigned)pl);
	if (a & ~prefix_mask((unsigned)pl))
		return fail(p, ZT_ECONF_VALUE,
			    "expected a network address (host bits zero), got '%s': did you mean %s/%u?",
			    t, zt_ip4_str(a & prefix_mask((unsigned)pl), buf), (unsigned)pl);
	*net = a;
	*prefix = (unsigned)pl;
	return 0;
}

/* ---- IPv6 (dual-stack labs): documentation addresses only, 2001:db8::/32 ---- */

static const uint8_t doc6_net[16] = { 0x20, 0x01, 0x0d, 0xb8 };

static bool in_prefix6(const uint8_t a[16], const uint8_t net[16], unsigned pl)
{
	unsigned full = pl / 8, rest = pl % 8;

	if (memcmp(a, net, full))
		return false;
	return !rest || ((a[full] ^ net[full]) & (uint8_t)(0xff << (8 - rest))) == 0;
}

/* Keeps the first pl bits of a (zeroes the rest) into out. */
static void net_of6(const uint8_t a[16], unsigned pl, uint8_t out[16])
{
	memset(out, 0, 16);
	memcpy(out, a, pl / 8);
	if (pl % 8)
		out[pl / 8] = a[pl / 8] & (uint8_t)(0xff << (8 - pl % 8));
}

/* Remembers the first IPv6 key (for the 'needs public6' error). */
static void saw_v6(struct parser *p, const char *key)
{
	if (!p->v6_line) {
		p->v6_line = p->line;
		snprintf(p->v6_key, sizeof(p->v6_key), "%s", key);
	}
}

/* An IPv6 address after key, inside 2001:db8::/32 (the lab never uses real ones). */
static int parse_ip6(struct parser *p, const char *key, const char *t, uint8_t ret[16])
{
	if (strlen(t) >= ZT_IP6_STR_MAX || strchr(t, '%') || inet_pton(AF_INET6, t, ret) != 1)
		return fail(p, ZT_ECONF_VALUE, "expected an IPv6 address like 2001:db8:100::10 after "
			    "'%s', got '%s'", key, t);
	if (!in_prefix6(ret, doc6_net, 32))
		return fail(p, ZT_ERANGE, "'%s %s': the lab uses only the documentation prefix "
			    "2001:db8::/32 (RFC 3849), e.g. 2001:db8:100::10", key, t);
	saw_v6(p, key);
	return 0;
}

/* "2001:db8:1:1::/64": prefix 32..64 inside 2001:db8::/32, host bits zero. */
static int parse_cidr6(struct parser *p, const char *key, const char *t, uint8_t net[16],
		       unsigned *prefix)
{
	char ip[ZT_IP6_STR_MAX], want[ZT_IP6_STR_MAX];
	const char *slash = strchr(t, '/');
	uint8_t n[16];
	uint64_t pl;
	int rc;

	if (!slash || (size_t)(slash - t) >= sizeof(ip) || parse_u64(slash + 1, 128, &pl))
		return fail(p, ZT_ECONF_VALUE, "expected an IPv6 prefix like 2001:db8:1:1::/64 "
			    "after '%s', got '%s'", key, t);
	memcpy(ip, t, (size_t)(slash - t));
	ip[slash - t] = 0;
	if ((rc = parse_ip6(p, key, ip, net)) < 0)
		return rc;
	if (pl < ZT_SCN_V6_MIN_PREFIX || pl > ZT_SCN_V6_MAX_PREFIX)
		return fail(p, ZT_ERANGE, "expected an IPv6 prefix length from %d to %d after "
			    "'%s', got /%u", ZT_SCN_V6_MIN_PREFIX, ZT_SCN_V6_MAX_PREFIX, key,
			    (unsigned)pl);
	net_of6(net, (unsigned)pl, n);
	if (memcmp(n, net, 16))
		return fail(p, ZT_ECONF_VALUE, "expected a network prefix (host bits zero) after "
			    "'%s', got '%s': did you mean %s/%u?", key, t, zt_ip6_str(n, want),
			    (unsigned)pl);
	*prefix = (unsigned)pl;
	return 0;
}

/* 'addr6' of a server or host, once. */
static int add_addr6(struct parser *p, unsigned idx, struct zt_scn_node *nd, const char *t)
{
	if (p->addr6_given[idx])
		return fail(p, ZT_ERANGE, "'addr6' given twice: '%s' has one IPv6 address", nd->name);
	p->addr6_given[idx] = true;
	return parse_ip6(p, "addr6", t, nd->addr6);
}

static const char *const fw6_names[] = {
	[ZT_SCN_FW6_ADDR_PORT] = "address-and-port",
	[ZT_SCN_FW6_ENDPOINT] = "endpoint-independent",
	[ZT_SCN_FW6_OPEN] = "open",
};

const char *zt_scn_fw6_name(enum zt_scn_fw6 f)
{
	return name_in(fw6_names, COUNT(fw6_names), (unsigned)f);
}

/* The IPv6 keys of a nat line: lan6, wan6, gw6, fw6. Returns 1 when k is none of them. */
static int nat_key6(struct parser *p, struct zt_scn_node *nd, unsigned idx, const char *k,
		    const char *v)
{
	int i;

	if (!strcmp(k, "lan6")) {
		nd->lan6 = true;
		return parse_cidr6(p, k, v, nd->lan6_net, &nd->lan6_prefix);
	} else if (!strcmp(k, "wan6")) {
		p->addr6_given[idx] = true;
		return parse_ip6(p, k, v, nd->addr6);
	} else if (!strcmp(k, "gw6")) {
		p->gw6_given[idx] = true;
		return parse_ip6(p, k, v, nd->lan6_gw);
	} else if (!strcmp(k, "fw6")) {
		if ((i = index_in(fw6_names, COUNT(fw6_names), v)) < 0)
			return fail(p, ZT_ECONF_VALUE, "expected 'address-and-port' (the default), "
				    "'endpoint-independent' or 'open' after 'fw6', got '%s'", v);
		nd->fw6 = (enum zt_scn_fw6)i;
		p->fw6_given[idx] = true;
		saw_v6(p, k);
		return 0;
	}
	return 1;
}

static bool valid_name(const char *t)
{
	size_t n = strlen(t);

	if (n < 1 || n > ZT_SCN_NAME_MAX || t[0] < 'a' || t[0] > 'z')
		return false;
	for (size_t i = 1; i < n; i++)
		if (!((t[i] >= 'a' && t[i] <= 'z') || (t[i] >= '0' && t[i] <= '9') || t[i] == '_'))
			return false;
	return strcmp(t, "public") != 0;
}

static int parse_onoff(struct parser *p, const char *key, const char *t, bool *ret)
{
	if (!strcmp(t, "on"))
		*ret = true;
	else if (!strcmp(t, "off"))
		*ret = false;
	else
		return fail(p, ZT_ECONF_VALUE, "expected 'on' or 'off' after '%s', got '%s'", key, t);
	return 0;
}

/* Splits a line into whitespace-separated tokens, dropping a '#' comment. */
static int tokenize(struct parser *p, char *buf, char **tok)
{
	int n = 0;
	char *c = strchr(buf, '#');

	if (c)
		*c = 0;
	for (char *t = strtok(buf, " \t\r"); t; t = strtok(NULL, " \t\r")) {
		if (n == MAX_TOKENS)
			return fail(p, ZT_ETOOBIG, "more than %d words on one line", MAX_TOKENS);
		tok[n++] = t;
	}
	return n;
}

/* Checks that the words after the head come in key/value pairs, keys not repeated
 * unless listed in repeatable. */
static int check_pairs(struct parser *p, char **tok, int n, int first, const char *what,
		       const char *repeatable)
{
	if ((n - first) % 2)
		return fail(p, ZT_ESYNTAX, "expected a value after '%s' (%s takes KEY VALUE pairs)",
			    tok[n - 1], what);
	for (int i = first; i < n; i += 2)
		for (int j = first; j < i; j += 2)
			if (!strcmp(tok[i], tok[j]) && !(repeatable && !strcmp(tok[i], repeatable)))
				return fail(p, ZT_ECONF_VALUE, "'%s' given twice", tok[i]);
	return 0;
}

static int new_node(struct parser *p, const char *kind, const char *name, enum zt_scn_kind k,
		    struct zt_scn_node **ret)
{
	struct zt_scn *s = p->s;
	struct zt_scn_node *nd;

	if (!valid_name(name))
		return fail(p, ZT_ECONF_VALUE,
			    "expected a %s name (a-z first, then a-z 0-9 _, at most %d, not 'public'), got '%s'",
			    kind, ZT_SCN_NAME_MAX, name);
	for (unsigned i = 0; i < s->nnodes; i++)
		if (!strcmp(s->nodes[i].name, name))
			return fail(p, ZT_ECONF_VALUE, "'%s' is already defined at line %d", name,
				    s->nodes[i].line);
	if (s->nnodes == ZT_SCN_MAX_NODES)
		return fail(p, ZT_ERANGE, "more than %d nodes", ZT_SCN_MAX_NODES);
	nd = &s->nodes[s->nnodes];
	*nd = (struct zt_scn_node){ .kind = k, .line = p->line, .up = -1, .up2 = -1,
				    .timeout_s = DEFAULT_TIMEOUT_S };
	strcpy(nd->name, name);
	p->behind[s->nnodes][0] = 0;
	p->egress[s->nnodes][0] = 0;
	p->auto_addrs[s->nnodes] = 0;
	p->gw_given[s->nnodes] = false;
	p->addr6_given[s->nnodes] = false;
	p->gw6_given[s->nnodes] = false;
	p->fw6_given[s->nnodes] = false;
	s->nnodes++;
	*ret = nd;
	return 0;
}

static int add_addr(struct parser *p, struct zt_scn_node *nd, const char *t)
{
	uint32_t a;

	if (parse_ip4(t, &a))
		return fail(p, ZT_ECONF_VALUE, "expected an IPv4 address after 'addr', got '%s'", t);
	if (nd->naddr == ZT_SCN_MAX_ADDRS || (nd->kind != ZT_SCN_SERVER && nd->naddr == 1))
		return fail(p, ZT_ERANGE, "too many addresses for '%s' (a server has at most %d, "
			    "other nodes one)", nd->name, ZT_SCN_MAX_ADDRS);
	nd->addr[nd->naddr++] = a;
	return 0;
}

static int line_server(struct parser *p, char **tok, int n)
{
	struct zt_scn_node *nd;
	unsigned idx = p->s->nnodes;
	int rc;

	if (n < 2)
		return fail(p, ZT_ESYNTAX, "expected 'server NAME [addr IP]... [addrs N] "
			    "[proxy allow|deny [port N]]'");
	if ((rc = new_node(p, "server", tok[1], ZT_SCN_SERVER, &nd)) < 0 ||
	    (rc = check_pairs(p, tok, n, 2, "server", "addr")) < 0)
		return rc;
	for (int i = 2; i < n; i += 2) {
		uint64_t v;

		if (!strcmp(tok[i], "addr")) {
			if ((rc = add_addr(p, nd, tok[i + 1])) < 0)
				return rc;
		} else if (!strcmp(tok[i], "addr6")) {
			if ((rc = add_addr6(p, idx, nd, tok[i + 1])) < 0)
				return rc;
		} else if (!strcmp(tok[i], "addrs")) {
			if (parse_u64(tok[i + 1], 100, &v) || v < 1 || v > ZT_SCN_MAX_ADDRS)
				return fail(p, ZT_ERANGE, "expected 1 to %d after 'addrs', got '%s'",
					    ZT_SCN_MAX_ADDRS, tok[i + 1]);
			p->auto_addrs[idx] = (unsigned)v;
		} else if (!strcmp(tok[i], "proxy")) {
			if (!strcmp(tok[i + 1], "allow"))
				nd->proxy = ZT_SCN_PROXY_ALLOW;
			else if (!strcmp(tok[i + 1], "deny"))
				nd->proxy = ZT_SCN_PROXY_DENY;
			else
				return fail(p, ZT_ECONF_VALUE, "expected 'allow' (CONNECT to any port) or "
					    "'deny' (every CONNECT refused) after 'proxy', got '%s'", tok[i + 1]);
		} else if (!strcmp(tok[i], "port")) {
			if (parse_u64(tok[i + 1], 100000, &v) || v < 1 || v > 65535)
				return fail(p, ZT_ERANGE, "expected a TCP port from 1 to 65535 after 'port', "
					    "got '%s'", tok[i + 1]);
			nd->proxy_port = (uint16_t)v;
		} else {
			return fail(p, ZT_ECONF_KEY, "unknown server key '%s' (expected addr, addrs, "
				    "addr6, proxy, port)", tok[i]);
		}
	}
	if (p->auto_addrs[idx] && nd->naddr)
		return fail(p, ZT_ECONF_VALUE, "give either 'addr' or 'addrs', not both");
	if (nd->proxy_port && nd->proxy == ZT_SCN_PROXY_NONE)
		return fail(p, ZT_ECONF_MISSING, "'port' is the port of the server's proxy: add "
			    "'proxy allow' or 'proxy deny'");
	if (nd->proxy != ZT_SCN_PROXY_NONE && !nd->proxy_port)
		nd->proxy_port = ZT_SCN_PROXY_PORT;
	if (!nd->naddr && !p->auto_addrs[idx])
		p->auto_addrs[idx] = 1;
	return 0;
}

static int line_host(struct parser *p, char **tok, int n)
{
	struct zt_scn_node *nd;
	unsigned idx = p->s->nnodes;
	bool behind = false;
	int rc;

	if (n < 2)
		return fail(p, ZT_ESYNTAX, "expected 'host NAME behind NAT [addr IP] [addr6 IP6]'");
	if ((rc = new_node(p, "host", tok[1], ZT_SCN_HOST, &nd)) < 0 ||
	    (rc = check_pairs(p, tok, n, 2, "host", NULL)) < 0)
		return rc;
	for (int i = 2; i < n; i += 2) {
		if (!strcmp(tok[i], "behind")) {
			snprintf(p->behind[idx], sizeof(p->behind[idx]), "%s", tok[i + 1]);
			if (strcmp(tok[i + 1], "public") && !valid_name(tok[i + 1]))
				return fail(p, ZT_ECONF_VALUE, "expected a NAT name after 'behind', got '%s'",
					    tok[i + 1]);
			behind = true;
		} else if (!strcmp(tok[i], "addr")) {
			if ((rc = add_addr(p, nd, tok[i + 1])) < 0)
				return rc;
		} else if (!strcmp(tok[i], "addr6")) {
			if ((rc = add_addr6(p, idx, nd, tok[i + 1])) < 0)
				return rc;
		} else {
			return fail(p, ZT_ECONF_KEY, "unknown host key '%s' (expected behind, addr, "
				    "addr6)", tok[i]);
		}
	}
	if (!behind)
		return fail(p, ZT_ECONF_MISSING, "host '%s' needs 'behind NAT'", nd->name);
	if (!nd->naddr)
		p->auto_addrs[idx] = 1;
	return 0;
}

static int parse_nat_type(struct parser *p, const char *t, enum zt_nat_type *ret)
{
	int i = index_in(nat_type_names, COUNT(nat_type_names), t);

	if (i < 0)
		return fail(p, ZT_ECONF_VALUE, "expected a NAT type (full-cone, address-restricted, "
			    "port-restricted, symmetric), got '%s'", t);
	*ret = (enum zt_nat_type)i;
	return 0;
}

/*
 * 'egress proxy NODE' is the one key followed by two words: takes it out of tok (the
 * other words keep their order) into p->egress[idx], so the rest stays KEY VALUE pairs.
 * Only key positions are looked at: a value that happens to read 'egress' is a value.
 */
static int take_egress(struct parser *p, unsigned idx, char **tok, int *n)
{
	for (int i = 2; i < *n; i += 2) {
		if (strcmp(tok[i], "egress"))
			continue;
		if (p->egress[idx][0])
			return fail(p, ZT_ECONF_VALUE, "'egress' given twice");
		if (i + 1 >= *n || strcmp(tok[i + 1], "proxy"))
			return fail(p, ZT_ESYNTAX, "expected 'proxy NODE' after 'egress' (egress proxy "
				    "NODE: the lan reaches out only through that proxy server), got '%s'",
				    i + 1 < *n ? tok[i + 1] : "");
		if (i + 2 >= *n || !valid_name(tok[i + 2]))
			return fail(p, ZT_ECONF_VALUE, "expected the name of a proxy server after "
				    "'egress proxy', got '%s'", i + 2 < *n ? tok[i + 2] : "");
		snprintf(p->egress[idx], sizeof(p->egress[idx]), "%s", tok[i + 2]);
		memmove(&tok[i], &tok[i + 3], (size_t)(*n - i - 3) * sizeof(*tok));
		*n -= 3;
		i -= 2;
	}
	return 0;
}

static const char *const ports_names[] = {
	[ZT_SCN_PORTS_RANDOM] = "random",
	[ZT_SCN_PORTS_SEQUENTIAL] = "sequential",
	[ZT_SCN_PORTS_PRESERVE] = "preserve",
};

const char *zt_scn_ports_name(enum zt_scn_ports p)
{
	return name_in(ports_names, COUNT(ports_names), (unsigned)p);
}

static int parse_ports(struct parser *p, const char *t, enum zt_scn_ports *ret)
{
	int i = index_in(ports_names, COUNT(ports_names), t);

	if (i < 0)
		return fail(p, ZT_ECONF_VALUE, "expected 'random', 'sequential' or 'preserve' after "
			    "'ports', got '%s'", t);
	*ret = (enum zt_scn_ports)i;
	return 0;
}

static const char *const portmap_names[] = {
	[ZT_SCN_PORTMAP_NONE] = "none",
	[ZT_SCN_PORTMAP_UPNP] = "upnp",
	[ZT_SCN_PORTMAP_NATPMP] = "natpmp",
	[ZT_SCN_PORTMAP_PCP] = "pcp",
	[ZT_SCN_PORTMAP_ALL] = "all",
};

const char *zt_scn_portmap_name(enum zt_scn_portmap p)
{
	return name_in(portmap_names, COUNT(portmap_names), (unsigned)p);
}

/* 'portmap upnp|natpmp|pcp|all' ("none" is only the default's name). */
static int parse_portmap(struct parser *p, const char *t, enum zt_scn_portmap *ret)
{
	int i = index_in(portmap_names, COUNT(portmap_names), t);

	if (i <= 0)
		return fail(p, ZT_ECONF_VALUE, "expected 'upnp', 'natpmp', 'pcp' or 'all' after "
			    "'portmap', got '%s'", t);
	*ret = (enum zt_scn_portmap)i;
	return 0;
}

/* What a nat line has said so far, checked when the line is complete. */
struct nat_seen {
	bool type, lan, ports;
	uint32_t gw;
};

/* One KEY VALUE pair of a nat line. */
static int nat_key(struct parser *p, struct zt_scn_node *nd, unsigned idx, const char *k,
		   const char *v, struct nat_seen *seen)
{
	uint64_t u;
	int rc;

	if (!strcmp(k, "type")) {
		if ((rc = parse_nat_type(p, v, &nd->type)) < 0)
			return rc;
		seen->type = true;
	} else if (!strcmp(k, "lan")) {
		if ((rc = parse_cidr(p, v, &nd->lan_net, &nd->lan_prefix)) < 0)
			return rc;
		seen->lan = true;
	} else if (!strcmp(k, "behind")) {
		if (strcmp(v, "public") && !valid_name(v))
			return fail(p, ZT_ECONF_VALUE,
				    "expected 'public' or a NAT name after 'behind', got '%s'", v);
		snprintf(p->behind[idx], sizeof(p->behind[idx]), "%s", v);
	} else if (!strcmp(k, "wan")) {
		if (parse_ip4(v, &nd->addr[0]))
			return fail(p, ZT_ECONF_VALUE, "expected an IPv4 address after 'wan', got '%s'", v);
		nd->naddr = 1;
	} else if (!strcmp(k, "gw")) {
		if (parse_ip4(v, &seen->gw))
			return fail(p, ZT_ECONF_VALUE, "expected an IPv4 address after 'gw', got '%s'", v);
		p->gw_given[idx] = true;
	} else if (!strcmp(k, "hairpin")) {
		return parse_onoff(p, k, v, &nd->hairpin);
	} else if (!strcmp(k, "timeout")) {
		/* whole seconds: "120", "120s", "2m" */
		if (zt_units_duration(v, &u) < 0 || u % ZT_SEC || u < ZT_SEC || u > 86400 * ZT_SEC)
			return fail(p, ZT_ERANGE,
				    "expected a mapping timeout of 1 to 86400 seconds, got '%s'", v);
		nd->timeout_s = (unsigned)(u / ZT_SEC);
	} else if (!strcmp(k, "udp")) {
		if (!strcmp(v, "block"))
			nd->block_udp = true;
		else if (!strcmp(v, "allow"))
			nd->block_udp = false;
		else
			return fail(p, ZT_ECONF_VALUE, "expected 'allow' or 'block' after 'udp', got '%s'", v);
	} else if (!strcmp(k, "icmp")) {
		if (strcmp(v, "drop") && strcmp(v, "pass"))
			return fail(p, ZT_ECONF_VALUE, "expected 'pass' or 'drop' after 'icmp', got '%s'", v);
		nd->drop_icmp = !strcmp(v, "drop");
	} else if (!strcmp(k, "ports")) {
		if ((rc = parse_ports(p, v, &nd->ports)) < 0)
			return rc;
		seen->ports = true;
	} else if (!strcmp(k, "portmap")) {
		return parse_portmap(p, v, &nd->portmap);
	} else if (!strcmp(k, "refresh")) {
		if (strcmp(v, "outbound") && strcmp(v, "both"))
			return fail(p, ZT_ECONF_VALUE, "expected 'outbound' or 'both' after 'refresh' "
				    "(which packets keep a mapping alive), got '%s'", v);
		nd->refresh_outbound = !strcmp(v, "outbound");
	} else if (!strcmp(k, "block")) {
		if (parse_u64(v, ZT_SCN_BLOCK_MAX, &u) || u < ZT_SCN_BLOCK_MIN)
			return fail(p, ZT_ERANGE, "expected the ports of a subscriber's block after "
				    "'block', %d to %d, got '%s'", ZT_SCN_BLOCK_MIN, ZT_SCN_BLOCK_MAX, v);
		nd->port_block = (uint16_t)u;
	} else if ((rc = nat_key6(p, nd, idx, k, v)) <= 0) {
		return rc;
	} else {
		return fail(p, ZT_ECONF_KEY, "unknown nat key '%s' (expected type, lan, behind, "
			    "wan, gw, hairpin, timeout, udp, icmp, ports, portmap, block, refresh, egress, "
			    "lan6, wan6, gw6, fw6)", k);
	}
	return 0;
}

static int line_nat(struct parser *p, char **tok, int n)
{
	struct zt_scn_node *nd;
	unsigned idx = p->s->nnodes;
	struct nat_seen seen = { 0 };
	int rc;

	if (n < 2)
		return fail(p, ZT_ESYNTAX, "expected 'nat NAME type TYPE lan CIDR [KEY VALUE]...'");
	if ((rc = new_node(p, "nat", tok[1], ZT_SCN_NAT, &nd)) < 0 ||
	    (rc = take_egress(p, idx, tok, &n)) < 0 ||
	    (rc = check_pairs(p, tok, n, 2, "nat", NULL)) < 0)
		return rc;
	for (int i = 2; i < n; i += 2)
		if ((rc = nat_key(p, nd, idx, tok[i], tok[i + 1], &seen)) < 0)
			return rc;
	if (!seen.type)
		return fail(p, ZT_ECONF_MISSING, "nat '%s' needs 'type TYPE' (full-cone, "
			    "address-restricted, port-restricted, symmetric)", nd->name);
	if (!seen.lan)
		return fail(p, ZT_ECONF_MISSING, "nat '%s' needs 'lan CIDR'", nd->name);
	/* the cone types are endpoint-independent: one mapping per inside endpoint, which
	 * Linux gives the inside port when it is free; there is no pattern to choose */
	if (seen.ports && nd->type != ZT_NAT_SYMMETRIC)
		return fail(p, ZT_ECONF_VALUE, "'ports %s' is for 'type symmetric' only: a %s NAT "
			    "keeps one mapping per inside endpoint, on the inside port when it is "
			    "free (remove 'ports')", zt_scn_ports_name(nd->ports),
			    zt_nat_type_name(nd->type));
	if (nd->port_block && nd->ports != ZT_SCN_PORTS_RANDOM && nd->type == ZT_NAT_SYMMETRIC)
		return fail(p, ZT_ECONF_VALUE, "'block' takes random ports in each block: 'ports %s' "
			    "cannot go with it (remove one)", zt_scn_ports_name(nd->ports));
	if (nd->refresh_outbound && nd->portmap != ZT_SCN_PORTMAP_NONE)
		return fail(p, ZT_ECONF_VALUE, "'refresh outbound' cannot go with 'portmap' (a "
			    "port mapping receives before it sends: remove one)");
	if (nd->type != ZT_NAT_SYMMETRIC)
		nd->ports = ZT_SCN_PORTS_PRESERVE;
	nd->lan_gw = p->gw_given[idx] ? seen.gw : nd->lan_net + 1;
	if (!nd->naddr)
		p->auto_addrs[idx] = 1;
	return 0;
}

/* "N" (68..9000: an IP packet size) or "off" (0). */
static int parse_blackhole(const char *v, uint32_t *ret)
{
	uint64_t u;

	if (!strcmp(v, "off")) {
		*ret = 0;
		return 0;
	}
	if (parse_u64(v, 100000, &u) || u < 68 || u > 9000)
		return -1;
	*ret = (uint32_t)u;
	return 0;
}

static int line_link(struct parser *p, char **tok, int n)
{
	struct zt_scn_link *l;
	int rc;

	if (n < 2)
		return fail(p, ZT_ESYNTAX, "expected 'link NODE [delay D] [jitter D] [loss P%%] "
			    "[rate R] [mtu N] [queue N] [blackhole N]'");
	if (!valid_name(tok[1]))
		return fail(p, ZT_ECONF_VALUE, "expected a node name after 'link', got '%s'", tok[1]);
	for (unsigned i = 0; i < p->nlinks; i++)
		if (!strcmp(p->links[i].node, tok[1]))
			return fail(p, ZT_ECONF_VALUE, "the link of '%s' is already described at line %d",
				    tok[1], p->links[i].link.line);
	if (p->nlinks == ZT_SCN_MAX_NODES)
		return fail(p, ZT_ERANGE, "more than %d link lines", ZT_SCN_MAX_NODES);
	if ((rc = check_pairs(p, tok, n, 2, "link", NULL)) < 0)
		return rc;
	snprintf(p->links[p->nlinks].node, sizeof(p->links[0].node), "%s", tok[1]);
	l = &p->links[p->nlinks].link;
	*l = (struct zt_scn_link){ .set = true, .line = p->line, .mtu = DEFAULT_MTU,
				   .queue = DEFAULT_QUEUE };
	for (int i = 2; i < n; i += 2) {
		const char *k = tok[i], *v = tok[i + 1];
		uint64_t u;

		if (!strcmp(k, "delay") || !strcmp(k, "jitter")) {
			if (parse_delay(v, !strcmp(k, "delay") ? &l->delay_ns : &l->jitter_ns))
				return fail(p, ZT_ECONF_VALUE,
					    "expected a duration like 10ms, 1.5ms, 200us or 1s (at most 60s) after '%s', got '%s'",
					    k, v);
		} else if (!strcmp(k, "loss")) {
			if (zt_units_percent(v, &l->loss_ppm) < 0)
				return fail(p, ZT_ECONF_VALUE,
					    "expected a percentage like 1%% or 0.25%% (0 to 100) after 'loss', got '%s'", v);
		} else if (!strcmp(k, "rate")) {
			if (parse_rate(v, &l->rate_bps))
				return fail(p, ZT_ECONF_VALUE,
					    "expected a rate like 512kbit, 10mbit or 1gbit (1kbit to 100gbit) after 'rate', got '%s'",
					    v);
		} else if (!strcmp(k, "mtu")) {
			if (parse_u64(v, 100000, &u) || u < 576 || u > 9000)
				return fail(p, ZT_ERANGE, "expected an MTU from 576 to 9000, got '%s'", v);
			l->mtu = (uint32_t)u;
		} else if (!strcmp(k, "queue")) {
			if (parse_u64(v, 1000000, &u) || u < 1 || u > 100000)
				return fail(p, ZT_ERANGE, "expected a queue of 1 to 100000 packets, got '%s'", v);
			l->queue = (uint32_t)u;
		} else if (!strcmp(k, "blackhole")) {
			if (parse_blackhole(v, &l->blackhole) < 0 || !l->blackhole)
				return fail(p, ZT_ERANGE, "expected a packet size from 68 to 9000 bytes "
					    "after 'blackhole', got '%s'", v);
		} else {
			return fail(p, ZT_ECONF_KEY, "unknown link key '%s' (expected delay, jitter, "
				    "loss, rate, mtu, queue, blackhole)", k);
		}
	}
	if (l->blackhole && l->blackhole >= l->mtu)
		return fail(p, ZT_ECONF_VALUE, "blackhole %u is not below the link's mtu %u (it "
			    "would drop nothing)", l->blackhole, l->mtu);
	if (l->jitter_ns > l->delay_ns)
		return fail(p, ZT_ECONF_VALUE, "jitter must not exceed delay (packets would leave "
			    "before they arrive)");
	p->nlinks++;
	return 0;
}

/* The KEY VALUE pairs of 'at TIME link NODE ...' (from tok[4]) into ev. */
static int event_link_keys(struct parser *p, char **tok, int n, struct zt_scn_event *ev)
{
	int rc = check_pairs(p, tok, n, 4, "'at TIME link NODE'", NULL);

	for (int i = 4; rc == 0 && i < n; i += 2) {
		const char *k = tok[i], *v = tok[i + 1];
		struct zt_scn_link *l = &ev->link;

		if (!strcmp(k, "delay") || !strcmp(k, "jitter")) {
			bool delay = !strcmp(k, "delay");
			if (parse_delay(v, delay ? &l->delay_ns : &l->jitter_ns))
				return fail(p, ZT_ECONF_VALUE, "expected a duration like 10ms, 1.5ms, "
					    "200us or 1s (at most 60s) after '%s', got '%s'", k, v);
			ev->keys |= delay ? ZT_SCN_KEY_DELAY : ZT_SCN_KEY_JITTER;
		} else if (!strcmp(k, "loss")) {
			if (zt_units_percent(v, &l->loss_ppm) < 0)
				return fail(p, ZT_ECONF_VALUE, "expected a percentage like 1%% or 0.25%% "
					    "(0 to 100) after 'loss', got '%s'", v);
			ev->keys |= ZT_SCN_KEY_LOSS;
		} else if (!strcmp(k, "rate")) {
			if (strcmp(v, "off") && parse_rate(v, &l->rate_bps))
				return fail(p, ZT_ECONF_VALUE, "expected a rate like 512kbit, 10mbit or "
					    "1gbit (1kbit to 100gbit), or 'off', after 'rate', got '%s'", v);
			ev->keys |= ZT_SCN_KEY_RATE;
		} else if (!strcmp(k, "blackhole")) {
			if (parse_blackhole(v, &l->blackhole) < 0)
				return fail(p, ZT_ERANGE, "expected a packet size from 68 to 9000 bytes, "
					    "or 'off', after 'blackhole', got '%s'", v);
			ev->keys |= ZT_SCN_KEY_BLACKHOLE;
		} else {
			return fail(p, ZT_ECONF_KEY, "unknown key '%s' for a timed link change "
				    "(expected delay, jitter, loss, rate, blackhole; or 'down', 'up')", k);
		}
	}
	if (rc == 0 && !ev->keys)
		return fail(p, ZT_ESYNTAX, "expected what changes after 'at %s link %s': delay D, "
			    "jitter D, loss P%%, rate R, or 'down' or 'up'", tok[1], tok[3]);
	return rc;
}

/* 'at TIME link NODE ...' or 'at TIME nat NODE flush' (scenario.h). */
static int line_at(struct parser *p, char **tok, int n)
{
	struct zt_scn *s = p->s;
	struct zt_scn_event *ev;
	uint64_t at;
	int rc = 0;

	if (n < 4)
		return fail(p, ZT_ESYNTAX, "expected 'at TIME link NODE [delay D] [jitter D] "
			    "[loss P%%] [rate R]', 'at TIME link NODE down|up', 'at TIME nat NODE "
			    "flush' or 'at TIME host NODE move NAT'");
	if (zt_units_duration_in(tok[1], 0, &at) < 0 || at > ZT_SCN_EVENT_MAX_NS)
		return fail(p, ZT_ECONF_VALUE, "expected a time after the lab is ready like 10s, "
			    "1.5s, 500ms or 2m (at most 24h) after 'at', got '%s'", tok[1]);
	if (s->nevents == ZT_SCN_MAX_EVENTS)
		return fail(p, ZT_ERANGE, "more than %d 'at' lines", ZT_SCN_MAX_EVENTS);
	if (!valid_name(tok[3]))
		return fail(p, ZT_ECONF_VALUE, "expected a node name after 'at %s %s', got '%s'",
			    tok[1], tok[2], tok[3]);
	ev = &s->events[s->nevents];
	*ev = (struct zt_scn_event){ .at_ns = at, .line = p->line };
	if (!strcmp(tok[2], "nat")) {
		if (n != 5 || strcmp(tok[4], "flush"))
			return fail(p, ZT_ESYNTAX, "expected 'at %s nat %s flush' (the NAT forgets "
				    "its mappings, as after a reboot)", tok[1], tok[3]);
		ev->kind = ZT_SCN_EV_NAT_FLUSH;
	} else if (!strcmp(tok[2], "link")) {
		bool down = n == 5 && !strcmp(tok[4], "down"), up = n == 5 && !strcmp(tok[4], "up");
		ev->kind = down ? ZT_SCN_EV_LINK_DOWN : up ? ZT_SCN_EV_LINK_UP : ZT_SCN_EV_LINK;
		if (!down && !up)
			rc = event_link_keys(p, tok, n, ev);
	} else if (!strcmp(tok[2], "host")) {
		if (n != 6 || strcmp(tok[4], "move"))
			return fail(p, ZT_ESYNTAX, "expected 'at %s host %s move NAT' (the host's "
				    "uplink moves behind that NAT)", tok[1], tok[3]);
		if (!valid_name(tok[5]))
			return fail(p, ZT_ECONF_VALUE, "expected a nat name after 'move', got '%s'",
				    tok[5]);
		ev->kind = ZT_SCN_EV_HOST_MOVE;
		snprintf(p->ev_to[s->nevents], sizeof(p->ev_to[0]), "%s", tok[5]);
	} else {
		return fail(p, ZT_ECONF_KEY, "expected 'link', 'nat' or 'host' after 'at %s', got "
			    "'%s'", tok[1], tok[2]);
	}
	if (rc < 0)
		return rc;
	snprintf(p->ev_node[s->nevents], sizeof(p->ev_node[0]), "%s", tok[3]);
	s->nevents++;
	return 0;
}

static int parse_line(struct parser *p, char **tok, int n)
{
	struct zt_scn *s = p->s;
	uint64_t v;

	if (!strcmp(tok[0], "lab")) {
		if (n != 2 || strlen(tok[1]) >= sizeof(s->name))
			return fail(p, ZT_ESYNTAX, "expected 'lab NAME' (one word, at most %zu characters)",
				    sizeof(s->name) - 1);
		strcpy(s->name, tok[1]);
	} else if (!strcmp(tok[0], "seed")) {
		if (n != 2 || parse_u64(tok[1], UINT64_MAX, &v))
			return fail(p, ZT_ESYNTAX, "expected 'seed N' (a decimal number)");
		s->seed = v;
	} else if (!strcmp(tok[0], "public")) {
		if (p->public_line)
			return fail(p, ZT_ECONF_VALUE, "'public' is already given at line %d",
				    p->public_line);
		if (n != 2)
			return fail(p, ZT_ESYNTAX, "expected 'public CIDR', e.g. 'public 203.0.113.0/24'");
		p->public_line = p->line;
		return parse_cidr(p, tok[1], &s->pub_net, &s->pub_prefix);
	} else if (!strcmp(tok[0], "public6")) {
		if (p->public6_line)
			return fail(p, ZT_ECONF_VALUE, "'public6' is already given at line %d",
				    p->public6_line);
		if (n != 2)
			return fail(p, ZT_ESYNTAX, "expected 'public6 PREFIX', e.g. 'public6 2001:db8:100::/48'");
		p->public6_line = p->line;
		s->has6 = true;
		return parse_cidr6(p, "public6", tok[1], s->pub6_net, &s->pub6_prefix);
	} else if (!strcmp(tok[0], "server")) {
		return line_server(p, tok, n);
	} else if (!strcmp(tok[0], "nat")) {
		return line_nat(p, tok, n);
	} else if (!strcmp(tok[0], "host")) {
		return line_host(p, tok, n);
	} else if (!strcmp(tok[0], "link")) {
		return line_link(p, tok, n);
	} else if (!strcmp(tok[0], "at")) {
		return line_at(p, tok, n);
	} else {
		return fail(p, ZT_ECONF_KEY, "expected lab, seed, public, public6, server, nat, host, "
			    "link or at, got '%s'", tok[0]);
	}
	return 0;
}

/* The segment node i is attached to: its subnet. */
static void up_subnet(const struct zt_scn *s, int up, uint32_t *net, unsigned *prefix)
{
	if (up < 0) {
		*net = s->pub_net;
		*prefix = s->pub_prefix;
	} else {
		*net = s->nodes[up].lan_net;
		*prefix = s->nodes[up].lan_prefix;
	}
}

static bool overlaps(uint32_t a, unsigned pa, uint32_t b, unsigned pb)
{
	unsigned pl = pa < pb ? pa : pb;

	return (a & prefix_mask(pl)) == (b & prefix_mask(pl));
}

/*
 * Is address a taken on segment up: by the segment's gw, by one of the first `nodes`
 * nodes, or by one of the first `own` addresses of node `nodes`?
 */
static bool addr_taken(const struct zt_scn *s, int up, uint32_t a, unsigned nodes, unsigned own)
{
	if (up >= 0 && s->nodes[up].lan_gw == a)
		return true;
	for (unsigned i = 0; i <= nodes && i < s->nnodes; i++) {
		unsigned n = i == nodes ? own : s->nodes[i].naddr;

		if (s->nodes[i].up != up)
			continue;
		for (unsigned j = 0; j < n; j++)
			if (s->nodes[i].addr[j] == a)
				return true;
	}
	return false;
}

static int resolve_refs(struct parser *p)
{
	struct zt_scn *s = p->s;

	for (unsigned i = 0; i < p->nlinks; i++) {
		int k = zt_scn_find(s, p->links[i].node);

		if (k < 0)
			return fail_at(p, p->links[i].link.line, ZT_ECONF_REF,
				       "'link %s': no node named '%s' is defined", p->links[i].node,
				       p->links[i].node);
		s->nodes[k].link = p->links[i].link;
	}
	for (unsigned i = 0; i < s->nnodes; i++) {
		struct zt_scn_node *nd = &s->nodes[i];
		int k;

		if (!p->behind[i][0] || !strcmp(p->behind[i], "public"))
			continue;
		k = zt_scn_find(s, p->behind[i]);
		if (k < 0)
			return fail_at(p, nd->line, ZT_ECONF_REF, "'%s' is behind '%s', which is not defined",
				       nd->name, p->behind[i]);
		if (s->nodes[k].kind != ZT_SCN_NAT)
			return fail_at(p, nd->line, ZT_ECONF_REF, "'%s' is behind '%s', which is not a nat",
				       nd->name, p->behind[i]);
		if ((unsigned)k == i)
			return fail_at(p, nd->line, ZT_ECONF_REF, "'%s' cannot be behind itself", nd->name);
		nd->up = k;
	}
	for (unsigned i = 0; i < s->nnodes; i++) {
		unsigned depth = 0;

		for (int u = s->nodes[i].up; u >= 0; u = s->nodes[u].up)
			if (++depth > ZT_SCN_MAX_DEPTH)
				return fail_at(p, s->nodes[i].line, ZT_ERANGE,
					       "'%s' is behind more than %d NATs (or NATs are behind each other in a loop)",
					       s->nodes[i].name, ZT_SCN_MAX_DEPTH);
	}
	return 0;
}

static int check_lans(struct parser *p)
{
	struct zt_scn *s = p->s;
	char a[16], b[16];

	for (unsigned i = 0; i < s->nnodes; i++) {
		const struct zt_scn_node *nd = &s->nodes[i];
		uint32_t mask = prefix_mask(nd->lan_prefix);

		if (nd->kind != ZT_SCN_NAT)
			continue;
		if ((nd->lan_gw & mask) != nd->lan_net || nd->lan_gw == nd->lan_net ||
		    nd->lan_gw == (nd->lan_net | ~mask))
			return fail_at(p, nd->line, ZT_ERANGE, "gw %s is not a host address of lan %s/%u",
				       zt_ip4_str(nd->lan_gw, a), zt_ip4_str(nd->lan_net, b), nd->lan_prefix);
		if (overlaps(nd->lan_net, nd->lan_prefix, s->pub_net, s->pub_prefix))
			return fail_at(p, nd->line, ZT_ECONF_VALUE, "lan %s/%u of '%s' overlaps the public segment",
				       zt_ip4_str(nd->lan_net, a), nd->lan_prefix, nd->name);
		for (int u = nd->up; u >= 0; u = s->nodes[u].up)
			if (overlaps(nd->lan_net, nd->lan_prefix, s->nodes[u].lan_net, s->nodes[u].lan_prefix))
				return fail_at(p, nd->line, ZT_ECONF_VALUE,
					       "lan %s/%u of '%s' overlaps lan %s/%u of '%s' in front of it",
					       zt_ip4_str(nd->lan_net, a), nd->lan_prefix, nd->name,
					       zt_ip4_str(s->nodes[u].lan_net, b), s->nodes[u].lan_prefix,
					       s->nodes[u].name);
	}
	return 0;
}

/* 'block N': the nodes on each such NAT's lan, in the file's order, one block each;
 * all the blocks must fit below port 65536. */
static int resolve_blocks(struct parser *p)
{
	struct zt_scn *s = p->s;

	for (unsigned i = 0; i < s->nnodes; i++) {
		struct zt_scn_node *nat = &s->nodes[i];
		unsigned fit;

		if (nat->kind != ZT_SCN_NAT || !nat->port_block)
			continue;
		fit = (65536 - ZT_SCN_BLOCK_BASE) / nat->port_block;
		for (unsigned j = 0; j < s->nnodes; j++) {
			if (s->nodes[j].up != (int)i)
				continue;
			if (nat->nblocks == fit)
				return fail_at(p, nat->line, ZT_ERANGE,
					       "'block %u' fits %u subscribers below port 65536; '%s' "
					       "is one more (a smaller block, or fewer nodes behind '%s')",
					       nat->port_block, fit, s->nodes[j].name, nat->name);
			nat->block_addr[nat->nblocks++] = s->nodes[j].addr[0];
		}
	}
	return 0;
}

static int assign_addrs(struct parser *p)
{
	struct zt_scn *s = p->s;
	char a[16], b[16];

	/* explicit addresses first, so automatic ones never take them */
	for (unsigned i = 0; i < s->nnodes; i++) {
		struct zt_scn_node *nd = &s->nodes[i];
		uint32_t net;
		unsigned pl;

		up_subnet(s, nd->up, &net, &pl);
		for (unsigned j = 0; j < nd->naddr; j++) {
			uint32_t x = nd->addr[j], mask = prefix_mask(pl);

			if ((x & mask) != net || x == net || x == (net | ~mask))
				return fail_at(p, nd->line, ZT_ERANGE,
					       "address %s of '%s' is not a host address of its segment %s/%u",
					       zt_ip4_str(x, a), nd->name, zt_ip4_str(net, b), pl);
			/* only explicit addresses are set yet: earlier lines win */
			if (addr_taken(s, nd->up, x, i, j))
				return fail_at(p, nd->line, ZT_ECONF_VALUE,
					       "address %s of '%s' is already used on its segment",
					       zt_ip4_str(x, a), nd->name);
		}
	}
	for (unsigned i = 0; i < s->nnodes; i++) {
		struct zt_scn_node *nd = &s->nodes[i];
		uint32_t net, mask, x;
		unsigned pl;

		up_subnet(s, nd->up, &net, &pl);
		mask = prefix_mask(pl);
		for (unsigned k = 0; k < p->auto_addrs[i]; k++) {
			for (x = net + 1; x < (net | ~mask); x++)
				if (!addr_taken(s, nd->up, x, s->nnodes, 0))
					break;
			if (x >= (net | ~mask))
				return fail_at(p, nd->line, ZT_ERANGE, "no free address left for '%s' on %s/%u",
					       nd->name, zt_ip4_str(net, a), pl);
			nd->addr[nd->naddr++] = x;
		}
	}
	return 0;
}

/*
 * The automatic IPv6 address of a node whose IPv4 host part (address & ~mask) is h: the
 * prefix, then h's decimal digits read as hex digits (203.0.113.10 -> PREFIX::10), so the
 * two addresses of a node are easy to pair; unique because the IPv4 ones are.
 */
static void auto6(const uint8_t net[16], uint32_t h, uint8_t out[16])
{
	uint32_t v = 0;

	for (unsigned shift = 0; h && shift < 32; h /= 10, shift += 4)
		v |= (h % 10) << shift;
	memcpy(out, net, 16);
	for (int i = 0; i < 4; i++)
		out[15 - i] |= (uint8_t)(v >> (8 * i));
}

/* The IPv6 segment node i sits on: the public one, its NAT's lan6, or none (false). */
static bool seg6(const struct zt_scn *s, int up, const uint8_t **net, unsigned *pl)
{
	if (up < 0) {
		*net = s->pub6_net;
		*pl = s->pub6_prefix;
		return true;
	}
	*net = s->nodes[up].lan6_net;
	*pl = s->nodes[up].lan6_prefix;
	return s->nodes[up].lan6;
}

/* A host address of the segment: inside it, not the all-zero one (subnet-router anycast). */
static bool host6_of(const uint8_t a[16], const uint8_t *net, unsigned pl)
{
	return in_prefix6(a, net, pl) && memcmp(a, net, 16);
}

/* The lan6 of each NAT: on the public segment, unique, not in public6; its gw6. */
static int check_lan6(struct parser *p)
{
	struct zt_scn *s = p->s;
	char a[ZT_IP6_STR_MAX], b[ZT_IP6_STR_MAX];

	for (unsigned i = 0; i < s->nnodes; i++) {
		struct zt_scn_node *nd = &s->nodes[i];
		unsigned pl = nd->lan6_prefix;

		if (nd->kind != ZT_SCN_NAT)
			continue;
		if (p->fw6_given[i] && !nd->lan6)
			return fail_at(p, nd->line, ZT_ECONF_MISSING, "'fw6' of nat '%s' filters its "
				       "IPv6 lan: add 'lan6 PREFIX' (e.g. lan6 2001:db8:1::/64)", nd->name);
		if (p->gw6_given[i] && !nd->lan6)
			return fail_at(p, nd->line, ZT_ECONF_MISSING, "'gw6' of nat '%s' is its address "
				       "on its IPv6 lan: add 'lan6 PREFIX'", nd->name);
		if (nd->up >= 0 && (nd->lan6 || p->addr6_given[i]))
			return fail_at(p, nd->line, ZT_ECONF_VALUE, "nat '%s' is behind nat '%s': only "
				       "a NAT on the public segment gets IPv6 (remove '%s')", nd->name,
				       s->nodes[nd->up].name, nd->lan6 ? "lan6" : "wan6");
		if (!nd->lan6)
			continue;
		if (in_prefix6(nd->lan6_net, s->pub6_net, s->pub6_prefix) ||
		    in_prefix6(s->pub6_net, nd->lan6_net, pl))
			return fail_at(p, nd->line, ZT_ECONF_VALUE, "lan6 %s/%u of '%s' overlaps "
				       "public6 %s/%u: pick a prefix outside it", zt_ip6_str(nd->lan6_net, a),
				       pl, nd->name, zt_ip6_str(s->pub6_net, b), s->pub6_prefix);
		for (unsigned j = 0; j < i; j++) {
			const struct zt_scn_node *o = &s->nodes[j];

			if (o->kind == ZT_SCN_NAT && o->lan6 &&
			    (in_prefix6(o->lan6_net, nd->lan6_net, pl) ||
			     in_prefix6(nd->lan6_net, o->lan6_net, o->lan6_prefix)))
				return fail_at(p, nd->line, ZT_ECONF_VALUE, "lan6 %s/%u of '%s' overlaps "
					       "lan6 %s/%u of '%s' (IPv6 lans are routed, so each needs its "
					       "own prefix)", zt_ip6_str(nd->lan6_net, a), pl, nd->name,
					       zt_ip6_str(o->lan6_net, b), o->lan6_prefix, o->name);
		}
		if (!p->gw6_given[i])
			auto6(nd->lan6_net, nd->lan_gw & ~prefix_mask(nd->lan_prefix), nd->lan6_gw);
		else if (!host6_of(nd->lan6_gw, nd->lan6_net, pl))
			return fail_at(p, nd->line, ZT_ERANGE, "gw6 %s of '%s' is not a host address "
				       "of its lan6 %s/%u", zt_ip6_str(nd->lan6_gw, a), nd->name,
				       zt_ip6_str(nd->lan6_net, b), pl);
	}
	return 0;
}

/* Is a taken on segment up by its gw6 or an earlier node (0..i-1)? Returns that or -1/-2. */
static int addr6_owner(const struct zt_scn *s, int up, const uint8_t a[16], unsigned i)
{
	if (up >= 0 && !memcmp(s->nodes[up].lan6_gw, a, 16))
		return -2;
	for (unsigned j = 0; j < i; j++)
		if (s->nodes[j].has6 && s->nodes[j].up == up && !memcmp(s->nodes[j].addr6, a, 16))
			return (int)j;
	return -1;
}

/* Gives every node on an IPv6 segment its address (after assign_addrs). */
static int assign_addrs6(struct parser *p)
{
	struct zt_scn *s = p->s;
	char a[ZT_IP6_STR_MAX], b[ZT_IP6_STR_MAX];

	for (unsigned i = 0; i < s->nnodes; i++) {
		struct zt_scn_node *nd = &s->nodes[i];
		const uint8_t *net;
		unsigned pl;
		int o;

		if (nd->kind == ZT_SCN_NAT && nd->up >= 0)
			continue; /* a NAT behind a NAT: IPv4 only (check_lan6) */
		if (!seg6(s, nd->up, &net, &pl)) {
			if (p->addr6_given[i])
				return fail_at(p, nd->line, ZT_ECONF_VALUE, "'addr6' of '%s': nat '%s' in "
					       "front of it has no IPv6 lan (add 'lan6 PREFIX' to its line %d)",
					       nd->name, s->nodes[nd->up].name, s->nodes[nd->up].line);
			continue;
		}
		nd->has6 = true;
		if (!p->addr6_given[i])
			auto6(net, nd->addr[0] & ~prefix_mask(zt_scn_up_prefix(s, i)), nd->addr6);
		else if (!host6_of(nd->addr6, net, pl))
			return fail_at(p, nd->line, ZT_ERANGE, "IPv6 address %s of '%s' is not a host "
				       "address of its segment %s/%u", zt_ip6_str(nd->addr6, a), nd->name,
				       zt_ip6_str(net, b), pl);
		o = addr6_owner(s, nd->up, nd->addr6, i);
		if (o != -1)
			return fail_at(p, nd->line, ZT_ECONF_VALUE, "IPv6 address %s of '%s' is already "
				       "used by '%s' on its segment (give one of them another%s)",
				       zt_ip6_str(nd->addr6, a), nd->name,
				       o == -2 ? s->nodes[nd->up].name : s->nodes[o].name,
				       p->addr6_given[i] ? "" : " 'addr6'");
	}
	return 0;
}

/* Dual-stack checks and addresses; a lab without 'public6' must use no IPv6 key. */
static int resolve_v6(struct parser *p)
{
	int rc;

	if (!p->s->has6) {
		if (p->v6_line)
			return fail_at(p, p->v6_line, ZT_ECONF_MISSING, "'%s' needs a 'public6 PREFIX' "
				       "line (the public segment's IPv6 prefix, e.g. 'public6 "
				       "2001:db8:100::/48')", p->v6_key);
		return 0;
	}
	if ((rc = check_lan6(p)) < 0)
		return rc;
	return assign_addrs6(p);
}

/* 'egress proxy NAME' names no node: the fix is one of the proxies, or a new one. */
static int egress_unknown(struct parser *p, const struct zt_scn_node *nd, const char *name)
{
	const struct zt_scn *s = p->s;
	char known[ZT_SCN_MAX_NODES * (ZT_SCN_NAME_MAX + 2) + 1] = "";
	size_t len = 0;

	for (unsigned i = 0; i < s->nnodes; i++)
		if (s->nodes[i].proxy != ZT_SCN_PROXY_NONE)
			len += (size_t)snprintf(known + len, sizeof(known) - len, "%s%s", len ? ", " : "",
						s->nodes[i].name);
	if (len)
		return fail_at(p, nd->line, ZT_ECONF_REF, "'egress proxy %s' of nat '%s': no node "
			       "named '%s' is defined (proxy servers: %s)", name, nd->name, name, known);
	return fail_at(p, nd->line, ZT_ECONF_REF, "'egress proxy %s' of nat '%s': no node named "
		       "'%s' is defined (add 'server %s proxy allow')", name, nd->name, name, name);
}

/* 'egress proxy NODE': NODE must be a server running a proxy; after assign_addrs, as the
 * rules need the proxy's address. */
static int resolve_egress(struct parser *p)
{
	struct zt_scn *s = p->s;

	for (unsigned i = 0; i < s->nnodes; i++) {
		struct zt_scn_node *nd = &s->nodes[i];
		const char *name = p->egress[i];
		const struct zt_scn_node *px;
		int k;

		if (!name[0])
			continue;
		k = zt_scn_find(s, name);
		if (k < 0)
			return egress_unknown(p, nd, name);
		px = &s->nodes[k];
		if (px->kind != ZT_SCN_SERVER)
			return fail_at(p, nd->line, ZT_ECONF_REF,
				       "'egress proxy %s' of nat '%s': '%s' is a %s, not a server (a proxy "
				       "is 'server NAME proxy allow' or 'proxy deny')", name, nd->name, name,
				       px->kind == ZT_SCN_NAT ? "nat" : "host");
		if (px->proxy == ZT_SCN_PROXY_NONE)
			return fail_at(p, nd->line, ZT_ECONF_REF,
				       "'egress proxy %s' of nat '%s': server '%s' runs no proxy (add "
				       "'proxy allow' or 'proxy deny' to its line %d)", name, nd->name, name,
				       px->line);
		nd->egress_proxy = true;
		nd->egress_node = (unsigned)k;
		nd->egress_addr = px->addr[0];
		nd->egress_port = px->proxy_port;
	}
	return 0;
}

static void default_name(struct zt_scn *s, const char *filename)
{
	const char *base = strrchr(filename, '/');
	size_t n;

	base = base ? base + 1 : filename;
	n = strcspn(base, ".");
	if (n == 0 || n >= sizeof(s->name)) {
		snprintf(s->name, sizeof(s->name), "lab");
		return;
	}
	memcpy(s->name, base, n);
	s->name[n] = 0;
}

/* Stable sort by time (insertion: at most ZT_SCN_MAX_EVENTS), with their node names. */
static void sort_events(struct parser *p)
{
	struct zt_scn *s = p->s;

	for (unsigned i = 1; i < s->nevents; i++) {
		struct zt_scn_event ev = s->events[i];
		char name[ZT_SCN_NAME_MAX + 1];
		unsigned j = i;

		memcpy(name, p->ev_node[i], sizeof(name));
		for (; j > 0 && s->events[j - 1].at_ns > ev.at_ns; j--) {
			s->events[j] = s->events[j - 1];
			memcpy(p->ev_node[j], p->ev_node[j - 1], sizeof(name));
		}
		s->events[j] = ev;
		memcpy(p->ev_node[j], name, sizeof(name));
	}
}

/* The free address of segment up (a NAT's lan) nobody else takes, also as a second
 * uplink; 0: none left. */
static uint32_t free_addr2(const struct zt_scn *s, int up)
{
	uint32_t net = s->nodes[up].lan_net, mask = prefix_mask(s->nodes[up].lan_prefix);

	for (uint32_t x = net + 1; x < (net | ~mask); x++) {
		bool taken = addr_taken(s, up, x, s->nnodes, 0);

		for (unsigned i = 0; i < s->nnodes && !taken; i++)
			taken = s->nodes[i].up2 == up && s->nodes[i].addr2 == x;
		if (!taken)
			return x;
	}
	return 0;
}

/* 'at TIME host NODE move NAT', in time order: NODE a host behind a NAT, never moved
 * where it already is, to one other NAT only; that NAT's lan gives it an address. */
static int resolve_moves(struct parser *p)
{
	struct zt_scn *s = p->s;
	int cur[ZT_SCN_MAX_NODES];
	char a[16];

	for (unsigned i = 0; i < s->nnodes; i++)
		cur[i] = s->nodes[i].up;
	for (unsigned i = 0; i < s->nevents; i++) {
		const struct zt_scn_event *ev = &s->events[i];
		struct zt_scn_node *h = &s->nodes[ev->node];

		if (ev->kind != ZT_SCN_EV_HOST_MOVE)
			continue;
		if (h->kind != ZT_SCN_HOST || h->up < 0)
			return fail_at(p, ev->line, ZT_ECONF_REF, "'%s' is not a host behind a nat "
				       "(only such a host moves)", h->name);
		if (cur[ev->node] == (int)ev->to)
			return fail_at(p, ev->line, ZT_ECONF_VALUE, "'%s' is already behind '%s' then",
				       h->name, s->nodes[ev->to].name);
		if ((int)ev->to != h->up && h->up2 >= 0 && h->up2 != (int)ev->to)
			return fail_at(p, ev->line, ZT_ECONF_VALUE, "'%s' already moves behind '%s': "
				       "a host moves to one other nat (and back)", h->name,
				       s->nodes[h->up2].name);
		cur[ev->node] = (int)ev->to;
		if ((int)ev->to == h->up || h->up2 >= 0)
			continue;
		h->up2 = (int)ev->to;
		h->addr2 = free_addr2(s, h->up2);
		if (!h->addr2)
			return fail_at(p, ev->line, ZT_ERANGE, "no free address left for '%s' on %s/%u",
				       h->name, zt_ip4_str(s->nodes[h->up2].lan_net, a),
				       s->nodes[h->up2].lan_prefix);
	}
	return 0;
}

/* Each event's node (of the right kind); link events make their link emulated; the
 * links' states in time order keep jitter <= delay. */
static int resolve_events(struct parser *p)
{
	struct zt_scn *s = p->s;
	struct zt_scn_link cur[ZT_SCN_MAX_NODES], saved[ZT_SCN_MAX_NODES];

	/* the NAT of each move, before the sort reorders the names */
	for (unsigned i = 0; i < s->nevents; i++) {
		int to = zt_scn_find(s, p->ev_to[i]);

		if (s->events[i].kind != ZT_SCN_EV_HOST_MOVE)
			continue;
		if (to < 0 || s->nodes[to].kind != ZT_SCN_NAT)
			return fail_at(p, s->events[i].line, ZT_ECONF_REF, "'%s' is not a nat (a host "
				       "moves behind a nat)", p->ev_to[i]);
		s->events[i].to = (unsigned)to;
	}
	sort_events(p);
	for (unsigned i = 0; i < s->nevents; i++) {
		struct zt_scn_event *ev = &s->events[i];
		int k = zt_scn_find(s, p->ev_node[i]);
		struct zt_scn_link *l;

		if (k < 0)
			return fail_at(p, ev->line, ZT_ECONF_REF, "no node named '%s' is defined",
				       p->ev_node[i]);
		ev->node = (unsigned)k;
		if (ev->kind == ZT_SCN_EV_NAT_FLUSH) {
			if (s->nodes[k].kind != ZT_SCN_NAT)
				return fail_at(p, ev->line, ZT_ECONF_REF, "'%s' is not a nat (only a "
					       "nat has mappings to flush)", p->ev_node[i]);
			continue;
		}
		if (ev->kind == ZT_SCN_EV_HOST_MOVE)
			continue; /* resolve_moves */
		l = &s->nodes[k].link;
		if (!l->set)
			*l = (struct zt_scn_link){ .set = true, .line = ev->line, .mtu = DEFAULT_MTU,
						   .queue = DEFAULT_QUEUE };
		l->timed = true;
	}
	for (unsigned i = 0; i < s->nnodes; i++)
		cur[i] = saved[i] = s->nodes[i].link;
	for (unsigned i = 0; i < s->nevents; i++) {
		const struct zt_scn_event *ev = &s->events[i];

		if (!zt_scn_event_apply(ev, &cur[ev->node], &saved[ev->node]))
			continue;
		if (cur[ev->node].jitter_ns > cur[ev->node].delay_ns)
			return fail_at(p, ev->line, ZT_ECONF_VALUE, "the link of '%s' would have jitter "
				       "over its delay from here (packets would leave before they "
				       "arrive)", s->nodes[ev->node].name);
		if (cur[ev->node].blackhole >= cur[ev->node].mtu)
			return fail_at(p, ev->line, ZT_ECONF_VALUE, "blackhole %u is not below the "
				       "mtu %u of the link of '%s'", cur[ev->node].blackhole,
				       cur[ev->node].mtu, s->nodes[ev->node].name);
	}
	return 0;
}

static void set_keys(const struct zt_scn_event *ev, struct zt_scn_link *l)
{
	if (ev->keys & ZT_SCN_KEY_DELAY)
		l->delay_ns = ev->link.delay_ns;
	if (ev->keys & ZT_SCN_KEY_JITTER)
		l->jitter_ns = ev->link.jitter_ns;
	if (ev->keys & ZT_SCN_KEY_LOSS)
		l->loss_ppm = ev->link.loss_ppm;
	if (ev->keys & ZT_SCN_KEY_RATE)
		l->rate_bps = ev->link.rate_bps;
	if (ev->keys & ZT_SCN_KEY_BLACKHOLE)
		l->blackhole = ev->link.blackhole;
}

bool zt_scn_event_apply(const struct zt_scn_event *ev, struct zt_scn_link *l,
			struct zt_scn_link *saved)
{
	switch (ev->kind) {
	case ZT_SCN_EV_LINK: /* saved is the link's settings as if never down */
		set_keys(ev, l);
		set_keys(ev, saved);
		return true;
	case ZT_SCN_EV_LINK_DOWN:
		l->loss_ppm = 1000000;
		return true;
	case ZT_SCN_EV_LINK_UP:
		*l = *saved;
		return true;
	default:
		return false;
	}
}

int zt_scn_event_str(const struct zt_scn *s, const struct zt_scn_event *ev, char *buf,
		     size_t cap)
{
	const char *name = ev->node < s->nnodes ? s->nodes[ev->node].name : "?";
	char v[32];
	size_t n;
	int w;

	if (ev->kind == ZT_SCN_EV_NAT_FLUSH)
		w = snprintf(buf, cap, "nat %s flush", name);
	else if (ev->kind == ZT_SCN_EV_HOST_MOVE)
		w = snprintf(buf, cap, "host %s move %s", name,
			     ev->to < s->nnodes ? s->nodes[ev->to].name : "?");
	else if (ev->kind != ZT_SCN_EV_LINK)
		w = snprintf(buf, cap, "link %s %s", name,
			     ev->kind == ZT_SCN_EV_LINK_DOWN ? "down" : "up");
	else
		w = snprintf(buf, cap, "link %s", name);
	if (w < 0 || (size_t)w >= cap)
		return -ENOBUFS;
	n = (size_t)w;
	if (ev->kind != ZT_SCN_EV_LINK)
		return (int)n;
	for (unsigned bit = 1; bit <= ZT_SCN_KEY_BLACKHOLE; bit <<= 1) {
		if (!(ev->keys & bit))
			continue;
		if (bit == ZT_SCN_KEY_BLACKHOLE && ev->link.blackhole)
			snprintf(v, sizeof(v), "%u", ev->link.blackhole);
		else if (bit == ZT_SCN_KEY_BLACKHOLE)
			snprintf(v, sizeof(v), "off");
		else if (bit == ZT_SCN_KEY_DELAY || bit == ZT_SCN_KEY_JITTER)
			zt_units_duration_str(v, sizeof(v), bit == ZT_SCN_KEY_DELAY ?
					      ev->link.delay_ns : ev->link.jitter_ns);
		else if (bit == ZT_SCN_KEY_LOSS)
			zt_units_percent_str(v, sizeof(v), ev->link.loss_ppm);
		else if (ev->link.rate_bps)
			zt_units_rate_str(v, sizeof(v), ev->link.rate_bps);
		else
			snprintf(v, sizeof(v), "off");
		w = snprintf(buf + n, cap - n, " %s %s", bit == ZT_SCN_KEY_DELAY ? "delay" :
			     bit == ZT_SCN_KEY_JITTER ? "jitter" : bit == ZT_SCN_KEY_LOSS ? "loss" :
			     bit == ZT_SCN_KEY_RATE ? "rate" : "blackhole", v);
		if (w < 0 || (size_t)w >= cap - n)
			return -ENOBUFS;
		n += (size_t)w;
	}
	return (int)n;
}

int zt_scn_parse(struct zt_scn *ret, const char *text, size_t len, const char *filename,
		 struct zt_scn_error *err)
{
	struct parser *p;
	size_t off = 0;
	int rc = 0;

	*err = (struct zt_scn_error){ 0 };
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	*p = (struct parser){ .s = ret, .file = filename, .err = err };
	*ret = (struct zt_scn){ .seed = 1 };
	if (len > ZT_SCN_MAX_BYTES) {
		rc = fail_at(p, 0, ZT_ETOOBIG, "larger than %d bytes", ZT_SCN_MAX_BYTES);
		goto out_free;
	}
	while (off < len) {
		const char *nl = memchr(text + off, '\n', len - off);
		size_t l = nl ? (size_t)(nl - (text + off)) : len - off;
		char buf[MAX_LINE + 1], *tok[MAX_TOKENS];
		int n;

		p->line++;
		if (l > MAX_LINE) {
			rc = fail(p, ZT_ETOOBIG, "line longer than %d characters", MAX_LINE);
			goto out_free;
		}
		memcpy(buf, text + off, l);
		buf[l] = 0;
		off += l + 1;
		if (memchr(buf, 0, l)) {
			rc = fail(p, ZT_ESYNTAX, "NUL byte in the text");
			goto out_free;
		}
		n = tokenize(p, buf, tok);
		if (n < 0) {
			rc = n;
			goto out_free;
		}
		if (n > 0 && (rc = parse_line(p, tok, n)) < 0)
			goto out_free;
	}
	p->line = 0;
	if (!p->public_line) {
		rc = fail_at(p, 0, ZT_ECONF_MISSING, "no 'public CIDR' line (the public segment), "
			     "e.g. 'public 203.0.113.0/24'");
		goto out_free;
	}
	if (ret->nnodes == 0) {
		rc = fail_at(p, 0, ZT_ECONF_MISSING, "no server, nat or host defined");
		goto out_free;
	}
	if ((rc = resolve_refs(p)) < 0 || (rc = check_lans(p)) < 0 || (rc = assign_addrs(p)) < 0 ||
	    (rc = resolve_blocks(p)) < 0 ||
	    (rc = resolve_egress(p)) < 0 || (rc = resolve_v6(p)) < 0 || (rc = resolve_events(p)) < 0 ||
	    (rc = resolve_moves(p)) < 0)
		goto out_free;
	if (!ret->name[0])
		default_name(ret, filename);
	rc = 0;
out_free:
	free(p);
	return rc;
}

int zt_scn_load(struct zt_scn *ret, const char *path, struct zt_scn_error *err)
{
	char *buf;
	size_t len = 0;
	int fd, rc;

	*err = (struct zt_scn_error){ 0 };
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		snprintf(err->msg, sizeof(err->msg), "%s: %s", path, strerror(-rc));
		return rc;
	}
	buf = malloc(ZT_SCN_MAX_BYTES + 1);
	if (!buf) {
		rc = -ENOMEM;
		snprintf(err->msg, sizeof(err->msg), "%s: out of memory", path);
		goto out_close;
	}
	for (;;) {
		ssize_t n = read(fd, buf + len, ZT_SCN_MAX_BYTES + 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			snprintf(err->msg, sizeof(err->msg), "%s: %s", path, strerror(-rc));
			goto out_free;
		}
		if (n == 0 || (len += (size_t)n) == ZT_SCN_MAX_BYTES + 1)
			break;
	}
	rc = zt_scn_parse(ret, buf, len, path, err);
out_free:
	free(buf);
out_close:
	close(fd);
	return rc;
}

int zt_scn_find(const struct zt_scn *s, const char *name)
{
	for (unsigned i = 0; i < s->nnodes; i++)
		if (!strcmp(s->nodes[i].name, name))
			return (int)i;
	return -1;
}

unsigned zt_scn_depth(const struct zt_scn *s, unsigned i)
{
	unsigned d = 0;

	for (int u = s->nodes[i].up; u >= 0; u = s->nodes[u].up)
		d++;
	return d;
}

uint32_t zt_scn_public_addr(const struct zt_scn *s, unsigned i)
{
	int n = (int)i;

	while (s->nodes[n].up >= 0)
		n = s->nodes[n].up;
	return s->nodes[n].addr[0];
}

unsigned zt_scn_up_prefix(const struct zt_scn *s, unsigned i)
{
	uint32_t net;
	unsigned pl;

	up_subnet(s, s->nodes[i].up, &net, &pl);
	return pl;
}

bool zt_scn_node_v6(const struct zt_scn *s, unsigned i)
{
	return s->nodes[i].has6 || s->nodes[i].lan6;
}

bool zt_scn_link_impaired(const struct zt_scn_link *l)
{
	return l->set && (l->timed || l->delay_ns || l->jitter_ns || l->loss_ppm || l->rate_bps ||
			  l->blackhole);
}

int zt_scn_link_str(const struct zt_scn_link *l, char *buf, size_t cap)
{
	char v[32];
	size_t n = 0;
	int w;

#define PUT(...)                                                       \
	do {                                                           \
		w = snprintf(buf + n, cap > n ? cap - n : 0, __VA_ARGS__); \
		if (w < 0 || (size_t)w >= (cap > n ? cap - n : 0))     \
			return -ENOBUFS;                               \
		n += (size_t)w;                                        \
	} while (0)

	if (cap == 0)
		return -ENOBUFS;
	buf[0] = 0;
	if (!l->set)
		return 0;
	if (l->delay_ns) {
		zt_units_duration_str(v, sizeof(v), l->delay_ns);
		PUT("%sdelay %s", n ? " " : "", v);
	}
	if (l->jitter_ns) {
		zt_units_duration_str(v, sizeof(v), l->jitter_ns);
		PUT("%sjitter %s", n ? " " : "", v);
	}
	if (l->loss_ppm) {
		zt_units_percent_str(v, sizeof(v), l->loss_ppm);
		PUT("%sloss %s", n ? " " : "", v);
	}
	if (l->rate_bps) {
		zt_units_rate_str(v, sizeof(v), l->rate_bps);
		PUT("%srate %s", n ? " " : "", v);
	}
	if (l->mtu != DEFAULT_MTU)
		PUT("%smtu %u", n ? " " : "", l->mtu);
	if (l->queue != DEFAULT_QUEUE)
		PUT("%squeue %u", n ? " " : "", l->queue);
	if (l->blackhole)
		PUT("%sblackhole %u", n ? " " : "", l->blackhole);
#undef PUT
	return (int)n;
}
