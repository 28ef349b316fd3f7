#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/ctrl.h"
#include "core/err.h"
#include "core/units.h"
#include "node/policy.h"

struct cred {
	enum zt_pki_kind kind;
	char name[ZT_PKI_NAME_MAX + 1];
	uint8_t token[ZT_CTRL_TOKEN_MAX];
	size_t token_len;
};

/* NAME=SERVICE: an agent may reach a service (allow), a connector may serve it (serve). */
struct rule {
	char name[ZT_PKI_NAME_MAX + 1];     /* "*" for any */
	char service[ZT_CTRL_STR_MAX + 1];  /* "*" for any */
};

struct ruleset {
	struct rule *rules;
	size_t n, cap;
};

/* The limits rules set for one KIND:NAME ("*" for any), merged. */
struct limit {
	enum zt_pki_kind kind;
	char name[ZT_PKI_NAME_MAX + 1];
	struct zt_policy_limits l;
};

struct zt_policy {
	struct cred *creds;
	size_t ncreds, capcreds;
	struct ruleset allow, serve;
	struct limit *limits;
	size_t nlimits, caplimits;
};

int zt_policy_new(struct zt_policy **ret)
{
	struct zt_policy *p = calloc(1, sizeof(*p));

	if (!p)
		return -ENOMEM;
	*ret = p;
	return 0;
}

void zt_policy_free(struct zt_policy *p)
{
	if (!p)
		return;
	free(p->creds);
	free(p->allow.rules);
	free(p->serve.rules);
	free(p->limits);
	free(p);
}

static int grow(void **arr, size_t *cap, size_t n, size_t elem)
{
	size_t ncap;
	void *a;

	if (n < *cap)
		return 0;
	ncap = *cap ? *cap * 2 : 8;
	a = realloc(*arr, ncap * elem);
	if (!a)
		return -ENOMEM;
	*arr = a;
	*cap = ncap;
	return 0;
}

static const struct cred *find_cred(const struct zt_policy *p, enum zt_pki_kind kind,
				    const char *name)
{
	for (size_t i = 0; i < p->ncreds; i++)
		if (p->creds[i].kind == kind && !strcmp(p->creds[i].name, name))
			return &p->creds[i];
	return NULL;
}

int zt_policy_add_client(struct zt_policy *p, const char *spec, const char **why)
{
	const char *c1 = strchr(spec, ':'), *c2, *tok = NULL;
	struct cred cr = { 0 };
	size_t klen, nlen;
	int rc;

	if (!c1) {
		*why = "expected KIND:NAME[:TOKEN]";
		return ZT_ESYNTAX;
	}
	klen = (size_t)(c1 - spec);
	if (klen == 5 && !strncmp(spec, "agent", 5))
		cr.kind = ZT_PKI_AGENT;
	else if (klen == 9 && !strncmp(spec, "connector", 9))
		cr.kind = ZT_PKI_CONNECTOR;
	else {
		*why = "KIND must be 'agent' or 'connector'";
		return ZT_ESYNTAX;
	}
	c2 = strchr(c1 + 1, ':');
	nlen = c2 ? (size_t)(c2 - c1 - 1) : strlen(c1 + 1);
	if (nlen == 0 || nlen > ZT_PKI_NAME_MAX) {
		*why = "NAME must be 1-63 of [A-Za-z0-9-]";
		return ZT_ESYNTAX;
	}
	memcpy(cr.name, c1 + 1, nlen);
	cr.name[nlen] = '\0';
	if (!zt_pki_name_valid(cr.name)) {
		*why = "NAME must be 1-63 of [A-Za-z0-9-]";
		return ZT_ESYNTAX;
	}
	if (c2) {
		tok = c2 + 1;
		cr.token_len = strlen(tok);
		if (cr.token_len == 0 || cr.token_len > ZT_CTRL_TOKEN_MAX) {
			*why = "TOKEN must be 1-512 bytes (or leave out ':TOKEN')";
			return ZT_ESYNTAX;
		}
		memcpy(cr.token, tok, cr.token_len);
	}
	if (find_cred(p, cr.kind, cr.name)) {
		*why = "this identity is configured already";
		return ZT_ECTRL_DUP;
	}
	rc = grow((void **)&p->creds, &p->capcreds, p->ncreds, sizeof(*p->creds));
	if (rc < 0)
		return rc;
	p->creds[p->ncreds++] = cr;
	return 0;
}

static bool name_or_star(const char *s, size_t n, size_t max)
{
	char buf[ZT_CTRL_STR_MAX + 1];

	if (n == 1 && s[0] == '*')
		return true;
	if (n == 0 || n > max)
		return false;
	memcpy(buf, s, n);
	buf[n] = '\0';
	return zt_pki_name_valid(buf);
}

/* NAME=SERVICE[,SERVICE...] into rs; what names the left side in the error. */
static int add_rules(struct ruleset *rs, const char *spec, const char **why, const char *bad_spec)
{
	const char *eq = strchr(spec, '='), *s, *comma;
	size_t nlen = eq ? (size_t)(eq - spec) : 0, added = 0;
	int rc;

	if (!eq || !name_or_star(spec, nlen, ZT_PKI_NAME_MAX)) {
		*why = bad_spec;
		return ZT_ESYNTAX;
	}
	for (s = eq + 1;; s = comma + 1) {
		struct rule r = { 0 };
		size_t slen;

		comma = strchr(s, ',');
		slen = comma ? (size_t)(comma - s) : strlen(s);
		if (!name_or_star(s, slen, ZT_PKI_NAME_MAX)) {
			rs->n -= added;
			*why = "a SERVICE is 1-63 of [A-Za-z0-9-] or '*'";
			return ZT_ESYNTAX;
		}
		memcpy(r.name, spec, nlen);
		memcpy(r.service, s, slen);
		rc = grow((void **)&rs->rules, &rs->cap, rs->n, sizeof(*rs->rules));
		if (rc < 0) {
			rs->n -= added;
			return rc;
		}
		rs->rules[rs->n++] = r;
		added++;
		if (!comma)
			break;
	}
	return 0;
}

int zt_policy_add_allow(struct zt_policy *p, const char *spec, const char **why)
{
	return add_rules(&p->allow, spec, why,
			 "expected AGENT=SERVICE[,SERVICE...] with names of [A-Za-z0-9-] or '*'");
}

int zt_policy_add_serve(struct zt_policy *p, const char *spec, const char **why)
{
	return add_rules(&p->serve, spec, why,
			 "expected CONNECTOR=SERVICE[,SERVICE...] with names of [A-Za-z0-9-] or '*'");
}

int zt_policy_check(const struct zt_policy *p, enum zt_pki_kind kind, const char *name,
		    const uint8_t *token, size_t token_len)
{
	const struct cred *c = find_cred(p, kind, name);
	uint8_t diff = 0;

	if (!c)
		return ZT_EAUTH;
	if (token_len != c->token_len)
		return ZT_EAUTH;
	for (size_t i = 0; i < token_len; i++)
		diff |= token[i] ^ c->token[i];
	return diff ? ZT_EAUTH : 0;
}

bool zt_policy_has_client(const struct zt_policy *p, enum zt_pki_kind kind, const char *name)
{
	return find_cred(p, kind, name) != NULL;
}

static bool matches(const struct ruleset *rs, const char *name, const char *service)
{
	for (size_t i = 0; i < rs->n; i++) {
		const struct rule *r = &rs->rules[i];
		if ((!strcmp(r->name, "*") || !strcmp(r->name, name)) &&
		    (!strcmp(r->service, "*") || !strcmp(r->service, service)))
			return true;
	}
	return false;
}

bool zt_policy_allows(const struct zt_policy *p, const char *agent, const char *service)
{
	return matches(&p->allow, agent, service);
}

bool zt_policy_may_serve(const struct zt_policy *p, const char *connector, const char *service)
{
	return matches(&p->serve, connector, service);
}

/* Limits. */

#define LIMIT_KEYS "relay-rate, relay-burst, sessions, transport, direct"

/* KIND of a limit spec (kind_len bytes at s). Returns 0 or ZT_ESYNTAX. */
static int limit_kind(const char *s, size_t n, enum zt_pki_kind *ret)
{
	if (n == 5 && !strncmp(s, "agent", 5))
		*ret = ZT_PKI_AGENT;
	else if (n == 9 && !strncmp(s, "connector", 9))
		*ret = ZT_PKI_CONNECTOR;
	else
		return ZT_ESYNTAX;
	return 0;
}

/* A size in [lo, hi] (core/units.h). Returns 0 or ZT_ESYNTAX. */
static int limit_size(const char *v, uint64_t lo, uint64_t hi, uint64_t *ret)
{
	uint64_t n;

	if (zt_units_size(v, &n) < 0 || n < lo || n > hi)
		return ZT_ESYNTAX;
	*ret = n;
	return 0;
}

static const char *const limit_key_names[] = {
	"relay-rate", "relay-burst", "sessions", "transport", "direct",
};

/* One KEY:VALUE (key k of limit_key_names, a NUL-terminated value) into l. Returns 0
 * or ZT_ESYNTAX with *why. */
static int limit_key(struct zt_policy_limits *l, size_t k, const char *v, enum zt_pki_kind kind,
		     const char **why)
{
	uint64_t n;

	switch (k) {
	case 0:
		*why = "relay-rate: bytes a second from 1 to below 4G, such as 10M";
		if (limit_size(v, 1, UINT32_MAX, &n) < 0)
			return ZT_ESYNTAX;
		l->relay_rate = (uint32_t)n;
		l->has |= ZT_POLICY_HAS_RELAY;
		return 0;
	case 1:
		*why = "relay-burst: bytes from 16K to below 4G, such as 4M";
		if (limit_size(v, ZT_POLICY_RELAY_BURST_MIN, UINT32_MAX, &n) < 0)
			return ZT_ESYNTAX;
		l->relay_burst = (uint32_t)n;
		return 0;
	case 2:
		*why = kind == ZT_PKI_CONNECTOR
			       ? "sessions is a limit of agents (a connector's sessions are its agents')"
			       : "sessions: a count from 1 to 1000000, such as 64";
		if (kind == ZT_PKI_CONNECTOR || limit_size(v, 1, ZT_POLICY_SESSIONS_MAX, &n) < 0)
			return ZT_ESYNTAX;
		l->sessions = (size_t)n;
		l->has |= ZT_POLICY_HAS_SESSIONS;
		return 0;
	case 3:
		*why = "transport: any, udp or tcp";
		l->transports = !strcmp(v, "any") ? ZT_POLICY_ANY : !strcmp(v, "udp") ? ZT_POLICY_UDP
				: !strcmp(v, "tcp") ? ZT_POLICY_TCP : 0;
		if (!l->transports)
			return ZT_ESYNTAX;
		l->has |= ZT_POLICY_HAS_TRANSPORT;
		return 0;
	default:
		*why = "direct: on or off";
		if (strcmp(v, "on") && strcmp(v, "off"))
			return ZT_ESYNTAX;
		l->direct = !strcmp(v, "on");
		l->has |= ZT_POLICY_HAS_DIRECT;
		return 0;
	}
}

/* KEY:VALUE[,KEY:VALUE...] into l. Returns 0 or ZT_ESYNTAX with *why. */
static int limit_keys(struct zt_policy_limits *l, const char *s, enum zt_pki_kind kind,
		      const char **why)
{
	const size_t nkeys = sizeof(limit_key_names) / sizeof(limit_key_names[0]);
	char val[32];
	const char *comma, *colon;
	size_t n, klen, k;
	unsigned seen = 0;
	int rc;

	for (;; s = comma + 1) {
		comma = strchr(s, ',');
		n = comma ? (size_t)(comma - s) : strlen(s);
		colon = memchr(s, ':', n);
		klen = colon ? (size_t)(colon - s) : 0;
		if (!colon || n - klen - 1 == 0) {
			*why = "each limit is KEY:VALUE; the keys are " LIMIT_KEYS;
			return ZT_ESYNTAX;
		}
		for (k = 0; k < nkeys; k++)
			if (strlen(limit_key_names[k]) == klen && !strncmp(s, limit_key_names[k], klen))
				break;
		if (k == nkeys) {
			*why = "unknown KEY: the keys are " LIMIT_KEYS;
			return ZT_ESYNTAX;
		}
		if (seen & (1u << k)) {
			*why = "a KEY given twice in one limit";
			return ZT_ESYNTAX;
		}
		seen |= 1u << k;
		if (n - klen - 1 >= sizeof(val)) {
			*why = "a VALUE too long (at most 31 bytes)";
			return ZT_ESYNTAX;
		}
		memcpy(val, colon + 1, n - klen - 1);
		val[n - klen - 1] = '\0';
		rc = limit_key(l, k, val, kind, why);
		if (rc < 0)
			return rc;
		if (!comma)
			break;
	}
	if (l->relay_burst && !l->relay_rate) {
		*why = "relay-burst needs relay-rate in the same limit (a burst is sized for its rate)";
		return ZT_ESYNTAX;
	}
	return 0;
}

static struct limit *find_limit(const struct zt_policy *p, enum zt_pki_kind kind,
				const char *name)
{
	for (size_t i = 0; i < p->nlimits; i++)
		if (p->limits[i].kind == kind && !strcmp(p->limits[i].name, name))
			return &p->limits[i];
	return NULL;
}

/* b's fields into a (has bits b sets), which has none of them. */
static void limits_merge(struct zt_policy_limits *a, const struct zt_policy_limits *b,
			 unsigned bits)
{
	if (bits & ZT_POLICY_HAS_RELAY) {
		a->relay_rate = b->relay_rate;
		a->relay_burst = b->relay_burst;
	}
	if (bits & ZT_POLICY_HAS_SESSIONS)
		a->sessions = b->sessions;
	if (bits & ZT_POLICY_HAS_TRANSPORT)
		a->transports = b->transports;
	if (bits & ZT_POLICY_HAS_DIRECT)
		a->direct = b->direct;
	a->has |= bits;
}

int zt_policy_add_limit(struct zt_policy *p, const char *spec, const char **why)
{
	const char *eq = strchr(spec, '='), *colon;
	struct limit lim = { 0 }, *old;
	size_t nlen;
	int rc;

	colon = eq ? memchr(spec, ':', (size_t)(eq - spec)) : NULL;
	if (!colon) {
		*why = "expected KIND:NAME=KEY:VALUE[,KEY:VALUE...], e.g. agent:alice=relay-rate:10M";
		return ZT_ESYNTAX;
	}
	if (limit_kind(spec, (size_t)(colon - spec), &lim.kind) < 0) {
		*why = "KIND must be 'agent' or 'connector'";
		return ZT_ESYNTAX;
	}
	nlen = (size_t)(eq - colon - 1);
	if (!name_or_star(colon + 1, nlen, ZT_PKI_NAME_MAX)) {
		*why = "NAME must be 1-63 of [A-Za-z0-9-], or '*' for any";
		return ZT_ESYNTAX;
	}
	memcpy(lim.name, colon + 1, nlen);
	rc = limit_keys(&lim.l, eq + 1, lim.kind, why);
	if (rc < 0)
		return rc;
	old = find_limit(p, lim.kind, lim.name);
	if (old) {
		if (old->l.has & lim.l.has) {
			*why = "a key of this limit is set already for this KIND:NAME (by an earlier limit)";
			return ZT_ECTRL_DUP;
		}
		limits_merge(&old->l, &lim.l, lim.l.has);
		return 0;
	}
	rc = grow((void **)&p->limits, &p->caplimits, p->nlimits, sizeof(*p->limits));
	if (rc < 0)
		return rc;
	p->limits[p->nlimits++] = lim;
	return 0;
}

int zt_policy_limits(const struct zt_policy *p, enum zt_pki_kind kind, const char *name,
		     struct zt_policy_limits *ret)
{
	const struct limit *own = find_limit(p, kind, name), *any = find_limit(p, kind, "*");
	struct zt_policy_limits l = { 0 };

	if (own)
		limits_merge(&l, &own->l, own->l.has);
	if (any)
		limits_merge(&l, &any->l, any->l.has & ~l.has);
	*ret = l;
	return l.has != 0;
}

size_t zt_policy_limit_count(const struct zt_policy *p)
{
	return p->nlimits;
}

size_t zt_policy_client_count(const struct zt_policy *p)
{
	return p->ncreds;
}

size_t zt_policy_rule_count(const struct zt_policy *p)
{
	return p->allow.n;
}

size_t zt_policy_serve_count(const struct zt_policy *p)
{
	return p->serve.n;
}
