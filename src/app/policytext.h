/*
 * A deployment's policy as text (what `ztna policy push` publishes and the
 * Intermediates with --nats-policy follow, docs/scale-out.md): lines of the
 * Intermediate's configuration grammar (app/conf.h) with only the keys client, allow,
 * serve and limit, the same values as on its command line or in its config file:
 *
 *   client = agent:alice:TOKEN
 *   client = connector:c1:TOKEN
 *   allow = alice=web,db
 *   serve = c1=web,db
 *   limit = agent:alice=relay-rate:10M
 *
 * Errors name the source and the line, never a token.
 */
#ifndef ZT_APP_POLICYTEXT_H
#define ZT_APP_POLICYTEXT_H

#include <stddef.h>

#include "node/policy.h"

/* A new policy from text (NUL-terminated) named source in errors. Returns 0 with
 * *ret, ZT_ECONF_* with the message in err, ZT_ECONF_MISSING (no client line: nobody
 * could connect, surely a mistake), -ENOMEM. */
int zt_policytext_parse(const char *source, const char *text, struct zt_policy **ret,
			char *err, size_t cap);

#endif
