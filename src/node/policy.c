#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/ctrl.h"
#include "core/err.h"
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

struct zt_policy {
	struct cred *creds;
	size_t ncreds, capcreds;
	struct ruleset allow, serve;
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
