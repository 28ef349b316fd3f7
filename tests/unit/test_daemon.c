/* The daemons' shell (app/daemon.c): settings through one option table (the kinds of
 * app/conf.h and zt_daemon_keys, on the command line and in config files), the key
 * log and qlog files, the TLS file checks, and zt_daemon_main's way through a program's
 * ops, signals included. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app/conf.h"
#include "app/daemon.h"
#include "core/err.h"
#include "core/units.h"

/* A program's settings: a daemon and fields its keys write straight into. */
struct prog {
	struct zt_daemon d;
	uint64_t hold, budget;
	uint32_t count;
	unsigned small;            /* a 4-byte field of a size kind */
	char label[8];
	/* what zt_daemon_main did with the ops */
	int setups, stats_hup, stats_exit, stops, teardowns;
	int setup_rc;
	bool bind;                 /* setup opens the loop and a socket, then raises signals */
};

#define F(member) ZT_CONF_FIELD(struct prog, member)

static const struct zt_conf_key keys[] = {
	{ .name = "hold", .syntax = "DURATION", .example = "10s", .help = "a duration",
	  .kind = ZT_CONF_DURATION, F(hold), .min = 1 },
	{ .name = "window", .syntax = "DURATION", .example = "15s", .help = "a bounded duration",
	  .kind = ZT_CONF_DURATION, F(hold), .min = 100 * ZT_MS, .max = 25 * ZT_SEC,
	  .why = "between 100ms and 25s" },
	{ .name = "budget", .syntax = "SIZE", .example = "32M", .help = "a size",
	  .kind = ZT_CONF_SIZE, F(budget), .min = 64 * 1024, .max = 1ULL << 40 },
	{ .name = "rate", .syntax = "N", .example = "20", .help = "a count with suffixes",
	  .kind = ZT_CONF_SIZE, F(small), .min = 1, .max = 1000000 },
	{ .name = "count", .syntax = "N", .example = "4", .help = "a whole number",
	  .kind = ZT_CONF_UINT, F(count), .min = 1, .max = 48 },
	{ .name = "label", .syntax = "TEXT", .example = "abc", .help = "a short text",
	  .kind = ZT_CONF_TEXT, F(label), .required = true },
};

static void prog_init(struct prog *p, struct zt_conf *c)
{
	*p = (struct prog){ .d = { .prog = "ztna-test" } };
	p->d.arg = p;
	zt_conf_init(c, keys, sizeof(keys) / sizeof(keys[0]), p);
}

/* zt_daemon_parse of "ztna-test ARGS..." on a fresh program. */
static int parse(struct prog *p, struct zt_conf *c, int argc, char **argv)
{
	prog_init(p, c);
	return zt_daemon_parse(&p->d, c, argc, argv);
}

static void flags_and_verbosity(void **state)
{
	char *argv[] = { "ztna-test", "--label", "x", "--verbose", "-vv", "--verbose=1", NULL };
	char *argv_one[] = { "ztna-test", "--label=x", "-v", NULL };
	struct prog p;
	struct zt_conf c;

	(void)state;
	assert_int_equal(parse(&p, &c, 6, argv), 0);
	assert_int_equal(p.d.verbose, 4);
	assert_int_equal(zt_daemon_log_level(&p.d), ZT_LOG_TRACE);
	assert_int_equal(parse(&p, &c, 3, argv_one), 0);
	assert_int_equal(zt_daemon_log_level(&p.d), ZT_LOG_DEBUG);
	assert_string_equal(p.label, "x");
	p.d.verbose = 0;
	assert_int_equal(zt_daemon_log_level(&p.d), ZT_LOG_INFO);
}

static void values_land_in_their_fields(void **state)
{
	char *argv[] = { "ztna-test", "--label", "abc", "--hold", "1.5s", "--budget", "1.5M",
			 "--count", "48", "--rate=1K", "--keylog", "/tmp/k", "--qlog-dir", "/tmp",
			 NULL };
	struct prog p;
	struct zt_conf c;

	(void)state;
	assert_int_equal(parse(&p, &c, 14, argv), 0);
	assert_int_equal(p.hold, 1500 * ZT_MS);
	assert_int_equal(p.budget, 1536 * 1024);
	assert_int_equal(p.count, 48);
	assert_int_equal(p.small, 1024);
	assert_string_equal(p.d.keylog, "/tmp/k");
	assert_string_equal(p.d.qlog_dir, "/tmp");
}

/* --NAME VALUE (with --label set): the code, the message in c->err. */
static int bad(struct prog *p, struct zt_conf *c, const char *name, const char *value)
{
	char *argv[] = { "ztna-test", "--label", "x", (char *)name, (char *)value, NULL };

	return parse(p, c, 5, argv);
}

static void bad_values_name_the_option(void **state)
{
	struct prog p;
	struct zt_conf c;

	(void)state;
	assert_int_equal(bad(&p, &c, "--hold", "1.5x"), ZT_ECONF_VALUE);
	assert_string_equal(c.err, "option --hold: bad value '1.5x' for 'hold': a duration like "
				   "30s, 1.5s, 250ms or 2m (a bare number is seconds); expected "
				   "DURATION (e.g. 10s)");
	assert_int_equal(p.hold, 0);
	assert_int_equal(bad(&p, &c, "--hold", "0"), ZT_ECONF_VALUE);
	assert_non_null(strstr(c.err, "'hold': a duration above 0;"));
	assert_int_equal(bad(&p, &c, "--window", "26s"), ZT_ECONF_VALUE);
	assert_non_null(strstr(c.err, "'window': between 100ms and 25s;"));
	assert_int_equal(bad(&p, &c, "--budget", "63K"), ZT_ECONF_VALUE);
	assert_non_null(strstr(c.err, "bad value '63K' for 'budget'"));
	assert_int_equal(bad(&p, &c, "--budget", "lots"), ZT_ECONF_VALUE);
	assert_non_null(strstr(c.err, "'budget': a positive number (K, M, G allowed)"));
	assert_int_equal(bad(&p, &c, "--rate", "2M"), ZT_ECONF_VALUE);
	assert_non_null(strstr(c.err, "'rate': at most 1000000;"));
	assert_int_equal(bad(&p, &c, "--count", "49"), ZT_ECONF_VALUE);
	assert_non_null(strstr(c.err, "'count': a whole number from 1 to 48;"));
	assert_int_equal(bad(&p, &c, "--count", "4K"), ZT_ECONF_VALUE);
	assert_int_equal(bad(&p, &c, "--label", "y"), ZT_ECONF_VALUE);
	assert_non_null(strstr(c.err, "'label' is set twice"));
	assert_int_equal(bad(&p, &c, "--log-rate", "x"), ZT_ECONF_VALUE);
	assert_non_null(strstr(c.err, "option --log-rate: bad value 'x' for 'log-rate'"));
	assert_int_equal(bad(&p, &c, "--keylg", "x"), ZT_ECONF_KEY);
	assert_non_null(strstr(c.err, "did you mean 'keylog'?"));
}

static void text_too_long_and_required(void **state)
{
	char *argv[] = { "ztna-test", "--label", "12345678", NULL };
	char *none[] = { "ztna-test", "--count", "3", NULL };
	struct prog p;
	struct zt_conf c;

	(void)state;
	assert_int_equal(parse(&p, &c, 3, argv), ZT_ECONF_VALUE);
	assert_non_null(strstr(c.err, "'label': empty or too long"));
	assert_int_equal(parse(&p, &c, 3, none), ZT_ECONF_MISSING);
	assert_non_null(strstr(c.err, "required setting 'label' missing: add 'label = abc'"));
}

/* A temporary directory; *ret holds its path. */
static void tmpdir(char ret[64])
{
	snprintf(ret, 64, "/tmp/zt-daemon-test-XXXXXX");
	assert_non_null(mkdtemp(ret));
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	fclose(f);
	assert_int_equal(chmod(path, mode), 0);
}

static void config_file_errors_name_file_and_line(void **state)
{
	char dir[64], path[128];
	char *argv[] = { "ztna-test", "--config", path, NULL };
	struct prog p;
	struct zt_conf c;

	(void)state;
	tmpdir(dir);
	snprintf(path, sizeof(path), "%s/test.conf", dir);
	write_file(path, "# settings\nlabel = abc\nhold = 2m\nverbose\n", 0644);
	assert_int_equal(parse(&p, &c, 3, argv), ZT_ESYNTAX);
	assert_non_null(strstr(c.err, "test.conf:4: expected 'key = value', got 'verbose'"));
	write_file(path, "label = abc\nhold = 2m\nverbose = 1\nbudget = nope\n", 0644);
	assert_int_equal(parse(&p, &c, 3, argv), ZT_ECONF_VALUE);
	assert_non_null(strstr(c.err, "test.conf:4: bad value 'nope' for 'budget'"));
	assert_int_equal(p.hold, 120 * ZT_SEC);
	assert_int_equal(p.d.verbose, 1);
	write_file(path, "label = abc\nqlog-dir = /tmp\nkeepalive = 5s\n", 0644);
	assert_int_equal(parse(&p, &c, 3, argv), ZT_ECONF_KEY);
	assert_non_null(strstr(c.err, "test.conf:3: unknown key 'keepalive'"));
	assert_string_equal(p.d.qlog_dir, "/tmp");
	unlink(path);
	rmdir(dir);
}

static void help_lists_both_tables(void **state)
{
	char *argv[] = { "ztna-test", "--count", "x", "-h", NULL };
	char usage[4096];
	struct prog p;
	struct zt_conf c;

	(void)state;
	assert_int_equal(parse(&p, &c, 4, argv), ZT_DAEMON_HELP);
	zt_daemon_usage(&p.d, &c, "ztna-test: a test", usage, sizeof(usage));
	assert_non_null(strstr(usage, "ztna-test: a test\n\nusage: ztna-test [--config FILE] "
				      "[OPTIONS] [-v|-vv]\n       ztna-test --version | -V\n\n"
				      "  --config FILE"));
	assert_true(strstr(usage, "--budget SIZE") < strstr(usage, "--qlog-dir DIR"));
	assert_non_null(strstr(usage, "\n  --verbose                more logs (also -v, -vv) "
				      "(repeatable)\n"));
	assert_non_null(strstr(usage, "a short text (required)"));
}

/* --version and -V answer before anything is parsed (a bad key after them is not
 * reported); the first of help and version asked wins. */
static void version_asked(void **state)
{
	char *a1[] = { "ztna-test", "--version", NULL };
	char *a2[] = { "ztna-test", "--bogus", "x", "-V", NULL };
	char *a3[] = { "ztna-test", "-V", "--help", NULL };
	char *a4[] = { "ztna-test", "--help", "--version", NULL };
	struct prog p;
	struct zt_conf c;

	(void)state;
	assert_int_equal(parse(&p, &c, 2, a1), ZT_DAEMON_VERSION);
	assert_int_equal(parse(&p, &c, 4, a2), ZT_DAEMON_VERSION);
	assert_int_equal(parse(&p, &c, 3, a3), ZT_DAEMON_VERSION);
	assert_int_equal(parse(&p, &c, 3, a4), ZT_DAEMON_HELP);
}

/* The key log is created 0600; an existing one open to others is refused; the qlog
 * directory must be one. */
static void key_log_and_qlog_dir(void **state)
{
	char dir[64];
	struct zt_daemon d = { .prog = "ztna-test" };
	struct stat st;

	(void)state;
	tmpdir(dir);
	snprintf(d.keylog, sizeof(d.keylog), "%s/keys.log", dir);
	snprintf(d.qlog_dir, sizeof(d.qlog_dir), "%s", dir);
	assert_int_equal(zt_daemon_open_files(&d), 0);
	assert_non_null(d.keylog_f);
	assert_int_equal(stat(d.keylog, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	zt_daemon_fini(&d);
	assert_null(d.keylog_f);

	assert_int_equal(chmod(d.keylog, 0644), 0);
	assert_int_equal(zt_daemon_open_files(&d), -EPERM);
	assert_non_null(strstr(d.err, "is readable or writable by group or others"));
	assert_non_null(strstr(d.err, "chmod 600"));
	unlink(d.keylog);

	d.keylog[0] = '\0';
	snprintf(d.qlog_dir, sizeof(d.qlog_dir), "%s/none", dir);
	assert_int_equal(zt_daemon_open_files(&d), -ENOTDIR);
	assert_string_equal(strstr(d.err, "--qlog-dir"), d.err);
	assert_non_null(strstr(d.err, "/none: not a directory"));
	rmdir(dir);
}

static void qlog_files_are_private(void **state)
{
	char dir[64], path[256];
	struct zt_daemon d = { .prog = "ztna-test" };
	struct stat st;
	char buf[16] = { 0 };
	void *h;
	FILE *f;

	(void)state;
	tmpdir(dir);
	snprintf(d.qlog_dir, sizeof(d.qlog_dir), "%s", dir);
	h = zt_daemon_qlog_open(&d, "outer-1");
	assert_non_null(h);
	zt_daemon_qlog_write(h, "{\"a\":1}", 7, false);
	zt_daemon_qlog_write(h, "\n", 1, true);
	snprintf(path, sizeof(path), "%s/test-outer-1-%d-1.sqlog", dir, (int)getpid());
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	f = fopen(path, "r");
	assert_non_null(f);
	assert_int_equal(fread(buf, 1, sizeof(buf) - 1, f), 8);
	fclose(f);
	assert_string_equal(buf, "{\"a\":1}\n");
	unlink(path);
	rmdir(dir);
}

static void tls_files_and_defaults(void **state)
{
	struct zt_daemon d = { .prog = "ztna-test" };
	char dir[64], long_dir[PATH_MAX];

	(void)state;
	tmpdir(dir);
	assert_int_equal(zt_daemon_check_tls_files(&d, "c.pem", "c.key", "FIX"), -ENOENT);
	assert_string_equal(d.err, "cannot read the CA: not set (make a development PKI with FIX, "
				   "or set --ca/--cert/--key)");
	snprintf(d.pki, sizeof(d.pki), "%s", dir);
	snprintf(d.key, sizeof(d.key), "/elsewhere.key");
	zt_daemon_pki_defaults(&d, "agent-alice");
	assert_string_equal(d.key, "/elsewhere.key"); /* set: kept */
	assert_non_null(strstr(d.cert, "/agent-alice.pem"));
	assert_non_null(strstr(d.ca, "/ca.pem"));
	write_file(d.ca, "ca\n", 0644);
	assert_int_equal(zt_daemon_check_tls_files(&d, d.cert, d.key, "FIX"), -ENOENT);
	assert_non_null(strstr(d.err, "agent-alice.pem: No such file or directory (make a "
				      "development PKI with FIX"));
	unlink(d.ca);
	rmdir(dir);

	memset(long_dir, 'a', sizeof(long_dir) - 1);
	long_dir[sizeof(long_dir) - 1] = '\0';
	d.ca[0] = '\0';
	zt_daemon_default_file(d.ca, long_dir, "ca", ".pem");
	assert_string_equal(d.ca, ""); /* too long: missing, not cut */
	assert_int_equal(zt_daemon_fail(&d, 7, "x=%d", 5), 7);
	assert_string_equal(d.err, "x=5");
}

/* A program's ops that count what zt_daemon_main did. */
static int t_check(void *arg, char *err, size_t cap)
{
	struct prog *p = arg;

	if (strcmp(p->label, "bad"))
		return 0;
	snprintf(err, cap, "label must not be bad");
	return ZT_ECONF_VALUE;
}

static int t_setup(void *arg, int argc, char **argv)
{
	struct prog *p = arg;
	struct zt_addr lo = { .family = AF_INET, .ip = { 127, 0, 0, 1 } };

	(void)argc;
	(void)argv;
	p->setups++;
	if (p->setup_rc)
		return zt_daemon_fail(&p->d, p->setup_rc, "no luck");
	if (!p->bind)
		return zt_daemon_fail(&p->d, 1, "not binding");
	if (zt_daemon_open(&p->d, &lo) < 0)
		return 1;
	/* queued on the loop's signalfd: a stats line, then the stop */
	raise(SIGHUP);
	raise(SIGTERM);
	return 0;
}

static void t_stats(void *arg, const char *event)
{
	struct prog *p = arg;

	if (!strcmp(event, "stats"))
		p->stats_hup++;
	else if (!strcmp(event, "exit"))
		p->stats_exit++;
}

static void t_stop(void *arg)
{
	((struct prog *)arg)->stops++;
}

static void t_teardown(void *arg)
{
	((struct prog *)arg)->teardowns++;
}

static const struct zt_daemon_ops t_ops = {
	.check = t_check,
	.setup = t_setup,
	.stats = t_stats,
	.stop = t_stop,
	.teardown = t_teardown,
};

static int run_main(struct prog *p, int argc, char **argv, int setup_rc, bool bind)
{
	struct zt_conf c;

	prog_init(p, &c);
	p->d.ops = &t_ops;
	p->setup_rc = setup_rc;
	p->bind = bind;
	return zt_daemon_main(&p->d, &c, argc, argv, "ztna-test: a test");
}

static void main_exit_statuses(void **state)
{
	char *usage_err[] = { "ztna-test", "--label", "x", "--count", "0", NULL };
	char *checked[] = { "ztna-test", "--label", "bad", NULL };
	char *good[] = { "ztna-test", "--label", "x", NULL };
	struct prog p;

	(void)state;
	assert_int_equal(run_main(&p, 5, usage_err, 0, false), 2);
	assert_int_equal(p.setups + p.teardowns, 0);
	assert_int_equal(run_main(&p, 3, checked, 0, false), 2);
	assert_int_equal(p.setups + p.teardowns, 0);
	assert_int_equal(run_main(&p, 3, good, 3, false), 3);
	assert_int_equal(p.setups, 1);
	assert_int_equal(p.teardowns, 1);
	assert_int_equal(p.stops + p.stats_exit, 0);
	assert_string_equal(p.d.err, "no luck");
}

/* SIGHUP logs stats; SIGTERM stops: exit stats, stop, teardown, status 0. */
static void main_runs_until_a_signal(void **state)
{
	char *good[] = { "ztna-test", "--label", "x", NULL };
	struct prog p;

	(void)state;
	assert_int_equal(run_main(&p, 3, good, 0, true), 0);
	assert_int_equal(p.setups, 1);
	assert_int_equal(p.stats_hup, 1);
	assert_int_equal(p.stats_exit, 1);
	assert_int_equal(p.stops, 1);
	assert_int_equal(p.teardowns, 1);
	assert_null(p.d.loop);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(flags_and_verbosity),
		cmocka_unit_test(values_land_in_their_fields),
		cmocka_unit_test(bad_values_name_the_option),
		cmocka_unit_test(text_too_long_and_required),
		cmocka_unit_test(config_file_errors_name_file_and_line),
		cmocka_unit_test(help_lists_both_tables),
		cmocka_unit_test(version_asked),
		cmocka_unit_test(key_log_and_qlog_dir),
		cmocka_unit_test(qlog_files_are_private),
		cmocka_unit_test(tls_files_and_defaults),
		cmocka_unit_test(main_exit_statuses),
		cmocka_unit_test(main_runs_until_a_signal),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
