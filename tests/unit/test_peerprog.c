/* The agent's and connector's settings (app/peerprog.c's option table): values in the
 * units grammar of core/units.h, on the command line and in a config file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <sys/socket.h>
#include <string.h>

#include "app/conf.h"
#include "app/peerprog.h"
#include "core/err.h"
#include "core/units.h"

/* --NAME VALUE on a fresh program. Returns zt_conf_args()'s code; *ret_pp is the
 * program (free it), err its message. */
static int option(const char *name, const char *value, struct zt_peerprog **ret_pp,
		  char err[512])
{
	struct zt_peerprog *pp = calloc(1, sizeof(*pp));
	char *argv[] = { "ztna-agent", (char *)name, (char *)value };
	struct zt_conf c;
	int rc;

	assert_non_null(pp);
	zt_conf_init(&c, zt_peerprog_keys, zt_peerprog_nkeys, pp);
	rc = zt_conf_args(&c, 3, argv, 1);
	memcpy(err, c.err, sizeof(c.err));
	*ret_pp = pp;
	return rc;
}

/* Issue 12: "--open-timeout 1.5s" was refused (no fractions in durations). */
static void durations_take_fractions(void **state)
{
	struct zt_peerprog *pp;
	char err[512];

	(void)state;
	assert_int_equal(option("--open-timeout", "1.5s", &pp, err), 0);
	assert_int_equal(pp->pc.open_timeout, 1500 * ZT_MS);
	free(pp);
	assert_int_equal(option("--keepalive", "250ms", &pp, err), 0);
	assert_int_equal(pp->pc.outer_keepalive, 250 * ZT_MS);
	free(pp);
	assert_int_equal(option("--idle-timeout", "20", &pp, err), 0); /* bare: seconds */
	assert_int_equal(pp->pc.outer_idle_timeout, 20 * ZT_SEC);
	free(pp);
	assert_int_equal(option("--refusal-backoff-max", "1.5h", &pp, err), 0);
	assert_int_equal(pp->pc.refusal_backoff_max, 5400 * ZT_SEC);
	free(pp);
}

static void bad_durations_are_named(void **state)
{
	struct zt_peerprog *pp;
	char err[512];

	(void)state;
	assert_int_equal(option("--open-timeout", "1.5x", &pp, err), ZT_ECONF_VALUE);
	assert_non_null(strstr(err, "bad value '1.5x' for 'open-timeout'"));
	assert_non_null(strstr(err, "a duration like 30s, 1.5s, 250ms or 2m"));
	assert_int_equal(pp->pc.open_timeout, 0);
	free(pp);
	assert_int_equal(option("--open-timeout", "0", &pp, err), ZT_ECONF_VALUE);
	assert_non_null(strstr(err, "a duration above 0"));
	free(pp);
	assert_int_equal(option("--open-timeout", "nan", &pp, err), ZT_ECONF_VALUE);
	free(pp);
	assert_int_equal(option("--refusal-backoff-max", "0.5s", &pp, err), ZT_ECONF_VALUE);
	assert_non_null(strstr(err, "between 1s and 24h"));
	free(pp);
}

/* Two Intermediate addresses, one of each family (the outer connection races them);
 * a third, or a second of one family, is another Intermediate (failover, in order);
 * past 8 Intermediates: refused with the reason. */
static void intermediate_twice_one_per_family(void **state)
{
	struct zt_peerprog *pp = calloc(1, sizeof(*pp));
	char *argv[] = { "ztna-agent", "--intermediate", "[2001:db8::1]:4433", "--intermediate",
			 "192.0.2.1:4434", "--eyeballs-delay", "100ms" };
	char *third[] = { "ztna-agent", "--intermediate", "192.0.2.2" };
	char a[ZT_ADDR_STRLEN];
	struct zt_conf c;

	(void)state;
	assert_non_null(pp);
	zt_conf_init(&c, zt_peerprog_keys, zt_peerprog_nkeys, pp);
	assert_int_equal(zt_conf_args(&c, 7, argv, 1), 0);
	assert_int_equal(pp->pc.intermediate.family, AF_INET6);
	assert_int_equal(pp->pc.intermediate_alt.family, AF_INET);
	assert_int_equal(pp->pc.intermediate_alt.port, 4434);
	assert_int_equal(pp->pc.eyeballs_delay, 100 * ZT_MS);
	assert_int_equal(pp->pc.n_failover, 0);
	assert_int_equal(zt_conf_args(&c, 3, third, 1), 0);
	assert_int_equal(pp->pc.n_failover, 1);
	assert_string_equal(zt_addr_str(&pp->pc.failover[0], a), "192.0.2.2:4433");
	free(pp);

	pp = calloc(1, sizeof(*pp));
	zt_conf_init(&c, zt_peerprog_keys, zt_peerprog_nkeys, pp);
	char *same[] = { "ztna-agent", "--intermediate", "192.0.2.1", "--intermediate", "192.0.2.2",
			 "--intermediate", "[2001:db8::3]:4435" };
	assert_int_equal(zt_conf_args(&c, 7, same, 1), 0);
	assert_int_equal(pp->pc.intermediate_alt.family, 0);
	assert_int_equal(pp->pc.n_failover, 2);
	assert_string_equal(zt_addr_str(&pp->pc.failover[1], a), "[2001:db8::3]:4435");
	/* the same one again is no other Intermediate */
	assert_int_equal(zt_conf_args(&c, 3, third, 1), 0);
	assert_int_equal(pp->pc.n_failover, 2);
	for (int i = 0; i < 5; i++) {
		char ip[32], *more[] = { "ztna-agent", "--intermediate", ip };
		snprintf(ip, sizeof(ip), "192.0.2.%d", 10 + i);
		assert_int_equal(zt_conf_args(&c, 3, more, 1), 0);
	}
	assert_int_equal(pp->pc.n_failover, ZT_PEER_FAILOVER_MAX);
	char *ninth[] = { "ztna-agent", "--intermediate", "192.0.2.99" };
	assert_int_equal(zt_conf_args(&c, 3, ninth, 1), ZT_ECONF_VALUE);
	assert_non_null(strstr(c.err, "at most 8 Intermediates"));
	free(pp);
}

static void config_file_durations(void **state)
{
	struct zt_peerprog *pp = calloc(1, sizeof(*pp));
	struct zt_conf c;

	(void)state;
	assert_non_null(pp);
	zt_conf_init(&c, zt_peerprog_keys, zt_peerprog_nkeys, pp);
	assert_int_equal(zt_conf_parse(&c, "agent.conf", "open-timeout = 1.5s\nflow-idle = 2m\n"), 0);
	assert_int_equal(pp->pc.open_timeout, 1500 * ZT_MS);
	assert_int_equal(pp->pc.flow_idle, 120 * ZT_SEC);
	assert_int_equal(zt_conf_parse(&c, "agent.conf", "\ncooldown = 1e3\n"), ZT_ECONF_VALUE);
	assert_non_null(strstr(c.err, "agent.conf:2: bad value '1e3' for 'cooldown'"));
	free(pp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(durations_take_fractions),
		cmocka_unit_test(bad_durations_are_named),
		cmocka_unit_test(intermediate_twice_one_per_family),
		cmocka_unit_test(config_file_durations),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
