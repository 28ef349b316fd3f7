/*
 * app/policytext.h: a policy from configuration text: the four keys work, anything
 * else is refused with the source and line, a bad client line is named without its
 * token, a text without clients is refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "app/policytext.h"
#include "core/err.h"

static void four_keys(void **state)
{
	struct zt_policy *p = NULL;
	char err[512] = "";
	(void)state;

	assert_int_equal(zt_policytext_parse("pushed", "# the deployment's policy\n"
					     "client = agent:alice:tok-a\nclient = connector:c1:tok-c\n"
					     "allow = alice=web\nserve = c1=web\n"
					     "limit = agent:alice=relay-rate:10M\n", &p, err, sizeof(err)), 0);
	assert_int_equal(zt_policy_client_count(p), 2);
	assert_true(zt_policy_allows(p, "alice", "web"));
	assert_false(zt_policy_allows(p, "alice", "db"));
	assert_true(zt_policy_may_serve(p, "c1", "web"));
	assert_int_equal(zt_policy_check(p, ZT_PKI_AGENT, "alice", (const uint8_t *)"tok-a", 5), 0);
	assert_true(zt_policy_check(p, ZT_PKI_AGENT, "alice", (const uint8_t *)"wrong", 5) < 0);
	zt_policy_free(p);
}

static void refusals(void **state)
{
	struct zt_policy *p = NULL;
	char err[512];
	(void)state;

	assert_true(zt_policytext_parse("pushed", "client = agent:alice:t\nlisten = 0.0.0.0:1\n", &p, err,
					sizeof(err)) < 0);
	assert_null(p);
	assert_non_null(strstr(err, "pushed:2"));
	assert_true(zt_policytext_parse("pushed", "client = agent:alice:t\nallow = alice\n", &p, err,
					sizeof(err)) < 0);
	assert_non_null(strstr(err, "pushed:2"));
	/* a bad client line: named, its token not shown */
	assert_true(zt_policytext_parse("pushed", "client = robot:r2:SECRET-42\n", &p, err,
					sizeof(err)) < 0);
	assert_non_null(strstr(err, "pushed:1"));
	assert_null(strstr(err, "SECRET-42"));
	assert_int_equal(zt_policytext_parse("pushed", "allow = alice=web\n", &p, err, sizeof(err)),
			 ZT_ECONF_MISSING);
	assert_non_null(strstr(err, "no client line"));
	assert_null(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(four_keys),
		cmocka_unit_test(refusals),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
