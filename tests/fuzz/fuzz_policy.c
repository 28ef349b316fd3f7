/*
 * libFuzzer target: the Intermediate's policy specs (src/node/policy.c): --client,
 * --allow and --serve values, one per line, the first byte choosing which ('c', 'a',
 * 's'; the rest of the line is the spec), then queries against what was added.
 *
 * An add must return 0 or a spec error with a reason (ZT_ESYNTAX, ZT_ECTRL_DUP for a
 * client twice); a spec that fails adds nothing; a rule that was added matches its
 * own names and no other kind of rule. Aborts (a finding) when that breaks.
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
	default:
		rc = 0;
		break;
	}
	if (rc < 0 && rc != -ENOMEM)
		check(why && *why);
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
