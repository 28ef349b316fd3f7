/*
 * libFuzzer target: the Intermediate's policy specs (src/node/policy.c): --client,
 * --allow, --serve and --limit values, one per line, the first byte choosing which
 * ('c', 'a', 's', 'l'; the rest of the line is the spec), then queries against what
 * was added.
 *
 * An add must return 0 or a spec error with a reason (ZT_ESYNTAX, ZT_ECTRL_DUP for a
 * client twice or a limit's key twice); a spec that fails adds nothing; a rule that
 * was added matches its own names and no other kind of rule; a limit that was added
 * is found for its KIND:NAME, and every limit found is within its key's range. Aborts
 * (a finding) when that breaks.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "fuzzcheck.h"
#include "node/policy.h"

/* For "NAME=SERVICE" with plain names: the two names, else false. */
static bool simple_pair(const char *spec, char *name, char *svc, size_t cap)
{
	const char *eq = strchr(spec, '=');
	size_t n;

	if (!eq || strchr(eq + 1, ',') || (size_t)(eq - spec) >= cap || strlen(eq + 1) >= cap)
		return false;
	n = (size_t)(eq - spec);
	memcpy(name, spec, n);
	name[n] = '\0';
	strcpy(svc, eq + 1);
	return true;
}

/* A limit's fields: set ones in range, unset ones zero. */
static void check_limits(const struct zt_policy_limits *l)
{
	check(!(l->has & ~(unsigned)(ZT_POLICY_HAS_RELAY | ZT_POLICY_HAS_SESSIONS |
				     ZT_POLICY_HAS_TRANSPORT | ZT_POLICY_HAS_DIRECT)));
	if (l->has & ZT_POLICY_HAS_RELAY)
		check(l->relay_rate >= 1 &&
		      (l->relay_burst == 0 || l->relay_burst >= ZT_POLICY_RELAY_BURST_MIN));
	else
		check(l->relay_rate == 0 && l->relay_burst == 0);
	if (l->has & ZT_POLICY_HAS_SESSIONS)
		check(l->sessions >= 1 && l->sessions <= ZT_POLICY_SESSIONS_MAX);
	else
		check(l->sessions == 0);
	if (l->has & ZT_POLICY_HAS_TRANSPORT)
		check(l->transports && !(l->transports & ~(unsigned)ZT_POLICY_ANY));
	else
		check(l->transports == 0);
	check((l->has & ZT_POLICY_HAS_DIRECT) || !l->direct);
}

/* KIND:NAME of a limit spec, when the text has that shape. */
static bool limit_who(const char *spec, enum zt_pki_kind *kind, char *name, size_t cap)
{
	const char *colon = strchr(spec, ':'), *eq = strchr(spec, '=');
	size_t n;

	if (!colon || !eq || eq < colon || (size_t)(eq - colon - 1) >= cap)
		return false;
	*kind = !strncmp(spec, "connector:", 10) ? ZT_PKI_CONNECTOR : ZT_PKI_AGENT;
	n = (size_t)(eq - colon - 1);
	memcpy(name, colon + 1, n);
	name[n] = '\0';
	return true;
}

static int one_limit(struct zt_policy *p, const char *spec, const char **why)
{
	struct zt_policy_limits before = { 0 }, after;
	size_t limits = zt_policy_limit_count(p);
	enum zt_pki_kind kind = ZT_PKI_AGENT;
	char name[128];
	bool who = limit_who(spec, &kind, name, sizeof(name));
	int rc;

	if (who)
		zt_policy_limits(p, kind, name, &before);
	rc = zt_policy_add_limit(p, spec, why);
	check(rc == 0 || rc == ZT_ESYNTAX || rc == ZT_ECTRL_DUP || rc == -ENOMEM);
	check(zt_policy_limit_count(p) == limits || (rc == 0 && zt_policy_limit_count(p) == limits + 1));
	if (!who)
		return rc;
	check(zt_policy_limits(p, kind, name, &after) == (after.has != 0));
	check_limits(&after);
	if (rc < 0)
		check(before.has == after.has && before.relay_rate == after.relay_rate &&
		      before.relay_burst == after.relay_burst && before.sessions == after.sessions &&
		      before.transports == after.transports && before.direct == after.direct);
	else
		check(after.has != 0 && (after.has & before.has) == before.has);
	return rc;
}

static void one_line(struct zt_policy *p, char kind, const char *spec)
{
	size_t clients = zt_policy_client_count(p), allows = zt_policy_rule_count(p),
	       serves = zt_policy_serve_count(p);
	const char *why = NULL;
	char name[128], svc[128];
	int rc;

	switch (kind) {
	case 'c':
		rc = zt_policy_add_client(p, spec, &why);
		check(rc == 0 || rc == ZT_ESYNTAX || rc == ZT_ECTRL_DUP || rc == -ENOMEM);
		check(zt_policy_client_count(p) == clients + (rc == 0));
		break;
	case 'a':
	case 's':
		rc = kind == 'a' ? zt_policy_add_allow(p, spec, &why) : zt_policy_add_serve(p, spec, &why);
		check(rc == 0 || rc == ZT_ESYNTAX || rc == -ENOMEM);
		if (rc < 0) {
			check(zt_policy_rule_count(p) == allows && zt_policy_serve_count(p) == serves);
			break;
		}
		check(kind == 'a' ? zt_policy_serve_count(p) == serves : zt_policy_rule_count(p) == allows);
		check((kind == 'a' ? zt_policy_rule_count(p) > allows : zt_policy_serve_count(p) > serves));
		if (simple_pair(spec, name, svc, sizeof(name)) && strcmp(name, "*") && strcmp(svc, "*")) {
			bool (*q)(const struct zt_policy *, const char *, const char *) =
				kind == 'a' ? zt_policy_allows : zt_policy_may_serve;
			check(q(p, name, svc));
			/* The only rule: one letter more is another name (no prefix matching). */
			if ((kind == 'a' ? allows : serves) == 0) {
				char longer[130];
				strcpy(longer, name);
				strcat(longer, "x");
				check(!q(p, longer, svc));
				strcpy(longer, svc);
				strcat(longer, "x");
				check(!q(p, name, longer));
			}
		}
		break;
	case 'l':
		rc = one_limit(p, spec, &why);
		break;
	default:
		rc = 0;
		break;
	}
	if (rc < 0 && rc != -ENOMEM)
		check(why && *why);
	{
		struct zt_policy_limits l;
		zt_policy_limits(p, ZT_PKI_AGENT, spec, &l);
		check_limits(&l);
		zt_policy_limits(p, ZT_PKI_CONNECTOR, spec, &l);
		check_limits(&l);
	}
	/* Queries with the raw line never crash whatever it holds. */
	(void)zt_policy_allows(p, spec, spec);
	(void)zt_policy_may_serve(p, spec, spec);
	(void)zt_policy_check(p, ZT_PKI_AGENT, spec, (const uint8_t *)spec, strlen(spec));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct zt_policy *p;
	char *text = malloc(size + 1);

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (zt_policy_new(&p) < 0) {
		free(text);
		return 0;
	}
	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"))
		one_line(p, line[0], line + 1);
	zt_policy_free(p);
	free(text);
	return 0;
}
