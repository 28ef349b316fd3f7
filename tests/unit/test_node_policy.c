/* node/policy.h: credential, allow-, serve- and limit-rule specs, token checks, policy
 * matching, per-identity limits and their precedence. */
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

static struct zt_policy_limits lim(const struct zt_policy *p, enum zt_pki_kind k, const char *name)
{
	struct zt_policy_limits l;

	memset(&l, 0xa5, sizeof(l)); /* every field is written */
	zt_policy_limits(p, k, name, &l);
	return l;
}

/* Limit specs: each key, sizes in the units grammar, several keys in one rule. */
static void limit_rules(void **state)
{
	struct zt_policy *p;
	struct zt_policy_limits l;
	const char *why = NULL;
	(void)state;

	assert_int_equal(zt_policy_new(&p), 0);
	/* no rule: nothing set */
	assert_int_equal(zt_policy_limits(p, ZT_PKI_AGENT, "alice", &l), 0);
	assert_int_equal(l.has, 0);
	assert_int_equal(zt_policy_add_limit(p, "agent:alice=relay-rate:10M,relay-burst:1.5M,"
					     "sessions:64,transport:udp,direct:off", &why), 0);
	assert_int_equal(zt_policy_add_limit(p, "connector:c1=relay-rate:100000", &why), 0);
	assert_int_equal(zt_policy_add_limit(p, "agent:bob=transport:tcp", &why), 0);
	assert_int_equal(zt_policy_add_limit(p, "agent:carol=transport:any,direct:on", &why), 0);
	assert_int_equal(zt_policy_add_limit(p, "agent:dave=sessions:1K", &why), 0);
	assert_int_equal(zt_policy_limit_count(p), 5);
	assert_int_equal(zt_policy_limits(p, ZT_PKI_AGENT, "alice", &l), 1);
	assert_int_equal(l.has, ZT_POLICY_HAS_RELAY | ZT_POLICY_HAS_SESSIONS |
				ZT_POLICY_HAS_TRANSPORT | ZT_POLICY_HAS_DIRECT);
	assert_int_equal(l.relay_rate, 10 << 20);
	assert_int_equal(l.relay_burst, 3 << 19);
	assert_int_equal(l.sessions, 64);
	assert_int_equal(l.transports, ZT_POLICY_UDP);
	assert_false(l.direct);
	l = lim(p, ZT_PKI_CONNECTOR, "c1");
	assert_int_equal(l.has, ZT_POLICY_HAS_RELAY);
	assert_int_equal(l.relay_rate, 100000);
	assert_int_equal(l.relay_burst, 0); /* the default for the rate */
	assert_int_equal(l.sessions, 0);
	assert_int_equal(lim(p, ZT_PKI_AGENT, "bob").transports, ZT_POLICY_TCP);
	l = lim(p, ZT_PKI_AGENT, "carol");
	assert_int_equal(l.transports, ZT_POLICY_ANY);
	assert_true(l.direct);
	assert_int_equal(lim(p, ZT_PKI_AGENT, "dave").sessions, 1024);
	/* a kind's rules are its own: connector c1 is not agent c1, and no prefixes */
	assert_int_equal(lim(p, ZT_PKI_AGENT, "c1").has, 0);
	assert_int_equal(lim(p, ZT_PKI_CONNECTOR, "alice").has, 0);
	assert_int_equal(lim(p, ZT_PKI_AGENT, "alic").has, 0);
	assert_int_equal(lim(p, ZT_PKI_AGENT, "alicex").has, 0);
	/* the range ends */
	assert_int_equal(zt_policy_add_limit(p, "agent:e1=relay-rate:1,relay-burst:16K", &why), 0);
	assert_int_equal(zt_policy_add_limit(p, "agent:e2=relay-rate:4294967295,sessions:1000000",
					     &why), 0);
	assert_int_equal(lim(p, ZT_PKI_AGENT, "e2").relay_rate, UINT32_MAX);
	zt_policy_free(p);
}

/* Bad specs name what is wrong and add nothing. */
static void limit_rules_refused(void **state)
{
	static const struct {
		const char *spec;
		const char *why; /* a part of the reason */
	} bad[] = {
		{ "agent:alice", "KIND:NAME=KEY:VALUE" },
		{ "alice=relay-rate:1M", "KIND:NAME=KEY:VALUE" },
		{ "user:alice=relay-rate:1M", "KIND must be" },
		{ "agent:=relay-rate:1M", "NAME" },
		{ "agent:b@d=relay-rate:1M", "NAME" },
		{ "agent:**=relay-rate:1M", "NAME" },
		{ "agent:alice=", "KEY:VALUE" },
		{ "agent:alice=relay-rate", "KEY:VALUE" },
		{ "agent:alice=relay-rate:", "KEY:VALUE" },
		{ "agent:alice=:1M", "unknown KEY" },
		{ "agent:alice=relay-rate:1M,", "KEY:VALUE" },
		{ "agent:alice=rate:1M", "unknown KEY" },
		{ "agent:alice=Relay-rate:1M", "unknown KEY" },
		{ "agent:alice=relay-rate:0", "relay-rate" },
		{ "agent:alice=relay-rate:4G", "relay-rate" },
		{ "agent:alice=relay-rate:-1", "relay-rate" },
		{ "agent:alice=relay-rate:1M ", "relay-rate" },
		{ "agent:alice=relay-rate:10mbit", "relay-rate" },
		{ "agent:alice=relay-rate:1M,relay-burst:16383", "relay-burst" },
		{ "agent:alice=relay-rate:1M,relay-burst:4G", "relay-burst" },
		{ "agent:alice=relay-burst:1M", "needs relay-rate" },
		{ "agent:alice=relay-rate:1M,relay-rate:2M", "twice" },
		{ "agent:alice=sessions:0", "sessions" },
		{ "agent:alice=sessions:1000001", "sessions" },
		{ "agent:alice=sessions:1.5", "sessions" },
		{ "connector:c1=sessions:10", "limit of agents" },
		{ "agent:alice=transport:quic", "any, udp or tcp" },
		{ "agent:alice=transport:UDP", "any, udp or tcp" },
		{ "agent:alice=direct:no", "on or off" },
		{ "agent:alice=direct:off,direct:on", "twice" },
		{ "agent:alice=transport:udp,relay-rate:123456789012345678901234567890123", "too long" },
		/* one bad key in a list: the good ones before it are not kept */
		{ "agent:alice=transport:udp,sessions:0", "sessions" },
	};
	struct zt_policy *p;
	const char *why;
	(void)state;

	assert_int_equal(zt_policy_new(&p), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		if (zt_policy_add_limit(p, bad[i].spec, &why) != ZT_ESYNTAX || !why ||
		    !strstr(why, bad[i].why))
			fail_msg("'%s': why=%s", bad[i].spec, why ? why : "(none)");
	}
	assert_int_equal(zt_policy_limit_count(p), 0);
	assert_int_equal(lim(p, ZT_PKI_AGENT, "alice").has, 0);
	/* a key set twice for one KIND:NAME, across rules: the second is refused whole */
	assert_int_equal(zt_policy_add_limit(p, "agent:alice=sessions:8", &why), 0);
	why = NULL;
	assert_int_equal(zt_policy_add_limit(p, "agent:alice=transport:udp,sessions:9", &why),
			 ZT_ECTRL_DUP);
	assert_non_null(why);
	assert_int_equal(lim(p, ZT_PKI_AGENT, "alice").has, ZT_POLICY_HAS_SESSIONS);
	assert_int_equal(lim(p, ZT_PKI_AGENT, "alice").sessions, 8);
	/* other keys for it in another rule are merged */
	assert_int_equal(zt_policy_add_limit(p, "agent:alice=transport:udp", &why), 0);
	assert_int_equal(lim(p, ZT_PKI_AGENT, "alice").transports, ZT_POLICY_UDP);
	assert_int_equal(lim(p, ZT_PKI_AGENT, "alice").sessions, 8);
	assert_int_equal(zt_policy_limit_count(p), 1);
	zt_policy_free(p);
}

/* "*": every identity of its kind; the identity's own name wins per key, and the keys
 * it leaves unset come from "*" (relay-rate and relay-burst as one). */
static void limit_wildcard_precedence(void **state)
{
	struct zt_policy *p;
	struct zt_policy_limits l;
	const char *why = NULL;
	(void)state;

	assert_int_equal(zt_policy_new(&p), 0);
	assert_int_equal(zt_policy_add_limit(p, "agent:alice=relay-rate:1M,direct:on", &why), 0);
	/* the wildcard after the name: order does not matter */
	assert_int_equal(zt_policy_add_limit(p, "agent:*=relay-rate:100K,relay-burst:64K,"
					     "sessions:16,transport:udp,direct:off", &why), 0);
	l = lim(p, ZT_PKI_AGENT, "alice");
	assert_int_equal(l.has, ZT_POLICY_HAS_RELAY | ZT_POLICY_HAS_SESSIONS |
				ZT_POLICY_HAS_TRANSPORT | ZT_POLICY_HAS_DIRECT);
	assert_int_equal(l.relay_rate, 1 << 20);    /* hers */
	assert_int_equal(l.relay_burst, 0);         /* hers: the default for her rate */
	assert_true(l.direct);                      /* hers */
	assert_int_equal(l.sessions, 16);           /* "*"'s */
	assert_int_equal(l.transports, ZT_POLICY_UDP);
	/* anyone else of the kind: "*"'s */
	l = lim(p, ZT_PKI_AGENT, "bob");
	assert_int_equal(l.relay_rate, 100 << 10);
	assert_int_equal(l.relay_burst, 64 << 10);
	assert_false(l.direct);
	assert_int_equal(l.sessions, 16);
	/* not another kind */
	assert_int_equal(lim(p, ZT_PKI_CONNECTOR, "c1").has, 0);
	assert_int_equal(zt_policy_add_limit(p, "connector:*=direct:off", &why), 0);
	assert_int_equal(lim(p, ZT_PKI_CONNECTOR, "c1").has, ZT_POLICY_HAS_DIRECT);
	assert_int_equal(lim(p, ZT_PKI_AGENT, "bob").sessions, 16);
	/* "*" is a KIND:NAME of its own: a key twice for it is refused too */
	assert_int_equal(zt_policy_add_limit(p, "agent:*=direct:on", &why), ZT_ECTRL_DUP);
	zt_policy_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(credentials),
		cmocka_unit_test(allow_rules),
		cmocka_unit_test(serve_rules),
		cmocka_unit_test(limit_rules),
		cmocka_unit_test(limit_rules_refused),
		cmocka_unit_test(limit_wildcard_precedence),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
