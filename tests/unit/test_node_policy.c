/* node/policy.h: credential, allow- and serve-rule specs, token checks, policy matching. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "core/err.h"
#include "node/policy.h"

static int tok(const struct zt_policy *p, enum zt_pki_kind k, const char *name, const char *t)
{
	return zt_policy_check(p, k, name, (const uint8_t *)t, strlen(t));
}

static void credentials(void **state)
{
	struct zt_policy *p;
	const char *why = NULL;
	(void)state;

	assert_int_equal(zt_policy_new(&p), 0);
	assert_int_equal(zt_policy_add_client(p, "agent:alice:s3cr:et", &why), 0);
	assert_int_equal(zt_policy_add_client(p, "connector:c1", &why), 0);
	assert_int_equal(zt_policy_client_count(p), 2);
	/* The token is everything after the second colon. */
	assert_int_equal(tok(p, ZT_PKI_AGENT, "alice", "s3cr:et"), 0);
	assert_int_equal(tok(p, ZT_PKI_AGENT, "alice", "s3cr"), ZT_EAUTH);
	assert_int_equal(tok(p, ZT_PKI_AGENT, "alice", "s3cr:eT"), ZT_EAUTH);
	assert_int_equal(tok(p, ZT_PKI_AGENT, "alice", ""), ZT_EAUTH);
	/* Same name, other kind; unknown name. */
	assert_int_equal(tok(p, ZT_PKI_CONNECTOR, "alice", "s3cr:et"), ZT_EAUTH);
	assert_int_equal(tok(p, ZT_PKI_AGENT, "bob", "s3cr:et"), ZT_EAUTH);
	/* Certificate only: no token expected, and none accepted. */
	assert_int_equal(tok(p, ZT_PKI_CONNECTOR, "c1", ""), 0);
	assert_int_equal(tok(p, ZT_PKI_CONNECTOR, "c1", "x"), ZT_EAUTH);

	assert_int_equal(zt_policy_add_client(p, "agent:alice:again", &why), ZT_ECTRL_DUP);
	assert_int_equal(zt_policy_add_client(p, "user:alice:x", &why), ZT_ESYNTAX);
	assert_non_null(strstr(why, "agent"));
	assert_int_equal(zt_policy_add_client(p, "agent", &why), ZT_ESYNTAX);
	assert_int_equal(zt_policy_add_client(p, "agent::x", &why), ZT_ESYNTAX);
	assert_int_equal(zt_policy_add_client(p, "agent:-bad:x", &why), ZT_ESYNTAX);
	assert_int_equal(zt_policy_add_client(p, "agent:bob:", &why), ZT_ESYNTAX);
	assert_int_equal(zt_policy_client_count(p), 2);
	zt_policy_free(p);
}

static void allow_rules(void **state)
{
	struct zt_policy *p;
	const char *why = NULL;
	(void)state;

	assert_int_equal(zt_policy_new(&p), 0);
	assert_false(zt_policy_allows(p, "alice", "web")); /* nothing unless allowed */
	assert_int_equal(zt_policy_add_allow(p, "alice=web,db", &why), 0);
	assert_int_equal(zt_policy_add_allow(p, "*=echo", &why), 0);
	assert_int_equal(zt_policy_add_allow(p, "root=*", &why), 0);
	assert_int_equal(zt_policy_rule_count(p), 4);
	assert_true(zt_policy_allows(p, "alice", "web"));
	assert_true(zt_policy_allows(p, "alice", "db"));
	assert_false(zt_policy_allows(p, "alice", "mail"));
	assert_true(zt_policy_allows(p, "bob", "echo"));
	assert_false(zt_policy_allows(p, "bob", "web"));
	assert_true(zt_policy_allows(p, "root", "anything"));
	assert_int_equal(zt_policy_add_allow(p, "alice", &why), ZT_ESYNTAX);
	assert_int_equal(zt_policy_add_allow(p, "=web", &why), ZT_ESYNTAX);
	assert_int_equal(zt_policy_add_allow(p, "alice=", &why), ZT_ESYNTAX);
	/* A bad entry in a list adds nothing from that list. */
	assert_int_equal(zt_policy_add_allow(p, "carol=web,,db", &why), ZT_ESYNTAX);
	assert_int_equal(zt_policy_add_allow(p, "carol=web,b@d", &why), ZT_ESYNTAX);
	assert_false(zt_policy_allows(p, "carol", "web"));
	assert_int_equal(zt_policy_rule_count(p), 4);
	zt_policy_free(p);
}

/* Which connector may serve which service: the same grammar as allow, its own rules. */
static void serve_rules(void **state)
{
	struct zt_policy *p;
	const char *why = NULL;
	(void)state;

	assert_int_equal(zt_policy_new(&p), 0);
	/* Zero trust: no rule, no service for anyone. */
	assert_false(zt_policy_may_serve(p, "c1", "web"));
	assert_int_equal(zt_policy_add_serve(p, "c1=web,db", &why), 0);
	assert_int_equal(zt_policy_add_serve(p, "*=echo", &why), 0);
	assert_int_equal(zt_policy_add_serve(p, "hub=*", &why), 0);
	assert_int_equal(zt_policy_serve_count(p), 4);
	assert_int_equal(zt_policy_rule_count(p), 0); /* allow rules are apart */
	assert_true(zt_policy_may_serve(p, "c1", "web"));
	assert_true(zt_policy_may_serve(p, "c1", "db"));
	assert_false(zt_policy_may_serve(p, "c2", "web")); /* the hijack */
	assert_false(zt_policy_may_serve(p, "c1", "mail"));
	assert_true(zt_policy_may_serve(p, "c2", "echo"));
	assert_true(zt_policy_may_serve(p, "hub", "anything"));
	/* Names match exactly: no prefixes, no case folding. */
	assert_false(zt_policy_may_serve(p, "c", "web"));
	assert_false(zt_policy_may_serve(p, "c11", "web"));
	assert_false(zt_policy_may_serve(p, "C1", "web"));
	assert_false(zt_policy_may_serve(p, "c1", "webx"));
	/* Serve and allow do not grant each other. */
	assert_false(zt_policy_allows(p, "c1", "web"));
	assert_int_equal(zt_policy_add_allow(p, "alice=mail", &why), 0);
	assert_false(zt_policy_may_serve(p, "alice", "mail"));

	why = NULL;
	assert_int_equal(zt_policy_add_serve(p, "c1", &why), ZT_ESYNTAX);
	assert_non_null(strstr(why, "CONNECTOR=SERVICE"));
	assert_int_equal(zt_policy_add_serve(p, "=web", &why), ZT_ESYNTAX);
	assert_int_equal(zt_policy_add_serve(p, "c1=", &why), ZT_ESYNTAX);
	assert_int_equal(zt_policy_add_serve(p, "c1=web,", &why), ZT_ESYNTAX);
	assert_int_equal(zt_policy_add_serve(p, "c 1=web", &why), ZT_ESYNTAX);
	assert_int_equal(zt_policy_add_serve(p, "c1=web=db", &why), ZT_ESYNTAX);
	assert_int_equal(zt_policy_add_serve(p, "**=web", &why), ZT_ESYNTAX);
	assert_int_equal(zt_policy_add_serve(p, "-c=web", &why), ZT_ESYNTAX);
	/* 64 characters: one over the name limit. */
	assert_int_equal(zt_policy_add_serve(p, "c1=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
					     &why), ZT_ESYNTAX);
	assert_int_equal(zt_policy_add_serve(p, "c3=ok,b@d", &why), ZT_ESYNTAX);
	assert_false(zt_policy_may_serve(p, "c3", "ok")); /* a bad list adds nothing */
	assert_int_equal(zt_policy_serve_count(p), 4);
	zt_policy_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(credentials),
		cmocka_unit_test(allow_rules),
		cmocka_unit_test(serve_rules),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
