#include "app/policytext.h"

#include <errno.h>
#include <stdio.h>

#include "app/conf.h"
#include "core/err.h"

static int set_client(void *ctx, const char *v, const char **why)
{
	return zt_policy_add_client(ctx, v, why);
}

static int set_allow(void *ctx, const char *v, const char **why)
{
	return zt_policy_add_allow(ctx, v, why);
}

static int set_serve(void *ctx, const char *v, const char **why)
{
	return zt_policy_add_serve(ctx, v, why);
}

static int set_limit(void *ctx, const char *v, const char **why)
{
	return zt_policy_add_limit(ctx, v, why);
}

static const struct zt_conf_key keys[] = {
	{ .name = "client", .syntax = "KIND:NAME[:TOKEN]", .set = set_client, .repeatable = true,
	  .secret = true },
	{ .name = "allow", .syntax = "AGENT=SERVICE[,SERVICE...]", .set = set_allow,
	  .repeatable = true },
	{ .name = "serve", .syntax = "CONNECTOR=SERVICE[,SERVICE...]", .set = set_serve,
	  .repeatable = true },
	{ .name = "limit", .syntax = "KIND:NAME=KEY:VALUE[,KEY:VALUE...]", .set = set_limit,
	  .repeatable = true },
};

int zt_policytext_parse(const char *source, const char *text, struct zt_policy **ret,
			char *err, size_t cap)
{
	struct zt_conf c;
	struct zt_policy *p;
	int rc = zt_policy_new(&p);

	if (rc < 0)
		return rc;
	zt_conf_init(&c, keys, sizeof(keys) / sizeof(keys[0]), p);
	rc = zt_conf_parse(&c, source, text);
	if (rc < 0) {
		snprintf(err, cap, "%s", c.err);
		goto fail;
	}
	if (zt_policy_client_count(p) == 0) {
		snprintf(err, cap, "%s: no client line: nobody could connect (add 'client = "
			 "KIND:NAME:TOKEN' lines)", source);
		rc = ZT_ECONF_MISSING;
		goto fail;
	}
	*ret = p;
	return 0;
fail:
	zt_policy_free(p);
	return rc;
}
