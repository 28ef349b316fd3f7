#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "app/conf.h"
#include "core/addr.h"
#include "core/err.h"

struct settings {
	struct zt_addr listen;
	char services[4][64];
	int nservices;
	int verbose;
};

static int set_listen(void *ctx, const char *v, const char **why)
{
	struct settings *s = ctx;
	int rc = zt_addr_parse(&s->listen, v, 4433);

	if (rc == ZT_ERANGE)
		*why = "port above 65535";
	return rc;
}

static int set_service(void *ctx, const char *v, const char **why)
{
	struct settings *s = ctx;

	if (s->nservices == 4) {
		*why = "at most 4 services";
		return ZT_ERANGE;
	}
	if (!strchr(v, '=')) {
		*why = "no '='";
		return ZT_ESYNTAX;
	}
	snprintf(s->services[s->nservices++], sizeof(s->services[0]), "%s", v);
	return 0;
}

static int set_verbose(void *ctx, const char *v, const char **why)
{
	(void)why;
	((struct settings *)ctx)->verbose = atoi(v);
	return 0;
}

static const struct zt_conf_key keys[] = {
	{ .name = "listen", .syntax = "ADDR[:PORT]", .example = "0.0.0.0:4433",
	  .help = "listen address", .set = set_listen, .required = true },
	{ .name = "service", .syntax = "NAME=tcp:HOST:PORT", .example = "db=tcp:127.0.0.1:5432",
	  .set = set_service, .repeatable = true },
	{ .name = "verbose", .syntax = "", .set = set_verbose, .is_flag = true },
};

static void parses_keys_comments_and_repeats(void **state)
{
	struct settings s = { 0 };
	struct zt_conf c;
	char buf[ZT_ADDR_STRLEN];

	(void)state;
	zt_conf_init(&c, keys, 3, &s);
	assert_int_equal(zt_conf_parse(&c, "a.conf",
				       "# comment\n\n  listen = 10.0.0.1:99   # trailing\n"
				       "service = a=tcp:1.2.3.4:5\r\nservice=b=udp:x#y:1\n"),
			 0);
	assert_int_equal(zt_conf_finish(&c), 0);
	assert_string_equal(zt_addr_str(&s.listen, buf), "10.0.0.1:99");
	assert_int_equal(s.nservices, 2);
	assert_string_equal(s.services[1], "b=udp:x#y:1");
}

static void unknown_key_suggests_and_names_line(void **state)
{
	struct settings s = { 0 };
	struct zt_conf c;

	(void)state;
	zt_conf_init(&c, keys, 3, &s);
	assert_int_equal(zt_conf_parse(&c, "a.conf", "listen = 1.2.3.4\nlisen = x\n"), ZT_ECONF_KEY);
	assert_string_equal(c.err, "a.conf:2: unknown key 'lisen' (did you mean 'listen'?)");
}

static void bad_value_shows_syntax_and_example(void **state)
{
	struct settings s = { 0 };
	struct zt_conf c;

	(void)state;
	zt_conf_init(&c, keys, 3, &s);
	assert_int_equal(zt_conf_parse(&c, "b.conf", "\n\nlisten = 1.2.3.4:70000\n"), ZT_ECONF_VALUE);
	assert_string_equal(c.err, "b.conf:3: bad value '1.2.3.4:70000' for 'listen': port above "
				   "65535; expected ADDR[:PORT] (e.g. 0.0.0.0:4433)");
}

static void missing_equals_and_duplicates(void **state)
{
	struct settings s = { 0 };
	struct zt_conf c;

	(void)state;
	zt_conf_init(&c, keys, 3, &s);
	assert_int_equal(zt_conf_parse(&c, "c.conf", "listen 1.2.3.4\n"), ZT_ESYNTAX);
	assert_non_null(strstr(c.err, "c.conf:1: expected 'key = value'"));
	/* such a line is named by its first word only: the rest may be a token */
	zt_conf_init(&c, keys, 3, &s);
	assert_int_equal(zt_conf_parse(&c, "c.conf", "\nclient agent:alice:SECRET-TOKEN\n"),
			 ZT_ESYNTAX);
	assert_string_equal(c.err, "c.conf:2: expected 'key = value', got 'client ...'");
	zt_conf_init(&c, keys, 3, &s);
	assert_int_equal(zt_conf_parse(&c, "c.conf", "listen=1.2.3.4\nlisten=1.2.3.5\n"),
			 ZT_ECONF_VALUE);
	assert_non_null(strstr(c.err, "c.conf:2: 'listen' is set twice"));
}

static void required_key_missing(void **state)
{
	struct settings s = { 0 };
	struct zt_conf c;

	(void)state;
	zt_conf_init(&c, keys, 3, &s);
	assert_int_equal(zt_conf_parse(&c, "d.conf", "service = a=tcp:h:1\n"), 0);
	assert_int_equal(zt_conf_finish(&c), ZT_ECONF_MISSING);
	assert_non_null(strstr(c.err, "add 'listen = 0.0.0.0:4433'"));
}

static void command_line_and_config_file(void **state)
{
	struct settings s = { 0 };
	struct zt_conf c;
	char path[] = "/tmp/zt-conf-test-XXXXXX";
	int fd = mkstemp(path);
	const char *text = "service = f=tcp:h:1\n";
	char *argv[] = { "prog", "--config", path, "--listen=127.0.0.1:5", "--service",
			 "g=udp:h:2", "--verbose", NULL };

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (int)strlen(text));
	close(fd);
	zt_conf_init(&c, keys, 3, &s);
	assert_int_equal(zt_conf_args(&c, 7, argv, 1), 0);
	unlink(path);
	assert_int_equal(zt_conf_finish(&c), 0);
	assert_int_equal(s.nservices, 2);
	assert_int_equal(s.verbose, 1);
	assert_int_equal(s.listen.port, 5);
}

/* The command line overrides a config file's single-value keys, whichever comes first;
 * repeatable keys add up; twice on the command line is still an error. */
static void command_line_overrides_the_file(void **state)
{
	static const struct zt_conf_key keys2[] = {
		{ .name = "listen", .syntax = "ADDR[:PORT]", .set = set_listen, .required = true },
		{ .name = "service", .syntax = "S", .set = set_service, .repeatable = true },
		{ .name = "verbose", .syntax = "", .set = set_verbose, .is_flag = true },
		{ .name = "other", .syntax = "N", .example = "1", .set = set_verbose,
		  .required = true },
	};
	struct settings s = { 0 };
	struct zt_conf c;
	char path[] = "/tmp/zt-conf-test-XXXXXX";
	int fd = mkstemp(path);
	const char *text = "listen = 10.0.0.1:1\nservice = f=tcp:h:1\nother = 7\n";
	char *after[] = { "prog", "--config", path, "--listen", "10.0.0.2:2", "--service", "g=x", NULL };
	char *before[] = { "prog", "--listen", "10.0.0.3:3", "--config", path, NULL };
	char *twice[] = { "prog", "--listen", "10.0.0.3:3", "--listen=10.0.0.4:4", NULL };

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (int)strlen(text));
	close(fd);
	zt_conf_init(&c, keys2, 4, &s);
	assert_int_equal(zt_conf_args(&c, 7, after, 1), 0);
	assert_int_equal(s.listen.port, 2);
	assert_int_equal(s.nservices, 2);
	assert_int_equal(s.verbose, 7);
	memset(&s, 0, sizeof(s));
	zt_conf_init(&c, keys2, 4, &s);
	assert_int_equal(zt_conf_args(&c, 5, before, 1), 0);
	assert_int_equal(s.listen.port, 3); /* the file's listen came later and was skipped */
	memset(&s, 0, sizeof(s));
	zt_conf_init(&c, keys2, 4, &s);
	assert_int_equal(zt_conf_args(&c, 4, twice, 1), ZT_ECONF_VALUE);
	assert_non_null(strstr(c.err, "option --listen: 'listen' is set twice"));
	unlink(path);
}

/* Every required key that is missing is named in one error. */
static void all_missing_keys_at_once(void **state)
{
	static const struct zt_conf_key keys2[] = {
		{ .name = "listen", .syntax = "ADDR", .example = "0.0.0.0:4433", .set = set_listen,
		  .required = true },
		{ .name = "service", .syntax = "S", .set = set_service, .repeatable = true },
		{ .name = "other", .syntax = "ADDR", .set = set_listen, .required = true },
	};
	struct settings s = { 0 };
	struct zt_conf c;

	(void)state;
	zt_conf_init(&c, keys2, 3, &s);
	assert_int_equal(zt_conf_finish(&c), ZT_ECONF_MISSING);
	assert_string_equal(c.err, "required settings missing: 'listen' (add 'listen = 0.0.0.0:4433' "
				   "to the config file, or pass --listen), 'other' (add 'other = ADDR' "
				   "to the config file, or pass --other)");
}

static void command_line_errors(void **state)
{
	struct settings s = { 0 };
	struct zt_conf c;
	char *argv1[] = { "prog", "stray", NULL };
	char *argv2[] = { "prog", "--listen", NULL };
	char *argv3[] = { "prog", "--config", "/nonexistent/zt.conf", NULL };

	(void)state;
	zt_conf_init(&c, keys, 3, &s);
	assert_int_equal(zt_conf_args(&c, 2, argv1, 1), ZT_ESYNTAX);
	assert_int_equal(zt_conf_args(&c, 2, argv2, 1), ZT_ESYNTAX);
	assert_non_null(strstr(c.err, "--listen needs a value"));
	assert_int_equal(zt_conf_args(&c, 3, argv3, 1), -ENOENT);
	assert_non_null(strstr(c.err, "/nonexistent/zt.conf: cannot read"));
}

static int set_secret(void *ctx, const char *v, const char **why)
{
	(void)ctx;
	(void)v;
	(void)why;
	return 0;
}

static int refuse_secret(void *ctx, const char *v, const char **why)
{
	(void)ctx;
	(void)v;
	*why = "1 to 512 bytes";
	return ZT_ESYNTAX;
}

/* A refused secret (a token) is not repeated in the error message. */
static void bad_secret_is_not_echoed(void **state)
{
	static const struct zt_conf_key skeys[] = {
		{ .name = "token", .syntax = "TOKEN", .set = refuse_secret, .secret = true },
	};
	char *argv[] = { "prog", "--token", "hunter2-secret", NULL };
	struct settings s = { 0 };
	struct zt_conf c;

	(void)state;
	zt_conf_init(&c, skeys, 1, &s);
	assert_int_equal(zt_conf_args(&c, 3, argv, 1), ZT_ECONF_VALUE);
	assert_non_null(strstr(c.err, "'token'"));
	assert_non_null(strstr(c.err, "1 to 512 bytes"));
	assert_null(strstr(c.err, "hunter2"));
	zt_conf_init(&c, skeys, 1, &s);
	assert_int_equal(zt_conf_parse(&c, "x.conf", "token = hunter2-secret\n"), ZT_ECONF_VALUE);
	assert_non_null(strstr(c.err, "x.conf:1"));
	assert_null(strstr(c.err, "hunter2"));
}

/* A file that sets a secret key must be private (0600); one that does not may be 0644. */
static void secret_key_needs_a_private_file(void **state)
{
	static const struct zt_conf_key skeys[] = {
		{ .name = "listen", .syntax = "ADDR", .set = set_listen },
		{ .name = "token", .syntax = "TOKEN", .set = set_secret, .secret = true },
	};
	struct settings s = { 0 };
	struct zt_conf c;
	char path[] = "/tmp/zt-conf-test-XXXXXX";
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "token = s3cret\n", 15), 15);
	close(fd);
	assert_int_equal(chmod(path, 0644), 0);
	zt_conf_init(&c, skeys, 2, &s);
	assert_int_equal(zt_conf_load(&c, path), -EPERM);
	assert_non_null(strstr(c.err, "sets 'token', a secret"));
	assert_non_null(strstr(c.err, "chmod 600"));
	assert_int_equal(chmod(path, 0600), 0);
	zt_conf_init(&c, skeys, 2, &s);
	assert_int_equal(zt_conf_load(&c, path), 0);
	fd = open(path, O_WRONLY | O_TRUNC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "listen = 1.2.3.4\n", 17), 17);
	close(fd);
	assert_int_equal(chmod(path, 0644), 0);
	zt_conf_init(&c, skeys, 2, &s);
	assert_int_equal(zt_conf_load(&c, path), 0);
	unlink(path);
}

/* A directory is no config file: an error, not an empty file. */
static void directory_is_refused(void **state)
{
	struct settings s = { 0 };
	struct zt_conf c;
	char path[] = "/tmp/zt-conf-dir-XXXXXX";

	(void)state;
	assert_non_null(mkdtemp(path));
	zt_conf_init(&c, keys, sizeof(keys) / sizeof(keys[0]), &s);
	assert_int_equal(zt_conf_load(&c, path), -EISDIR);
	assert_non_null(strstr(c.err, "cannot read: Is a directory"));
	rmdir(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(parses_keys_comments_and_repeats),
		cmocka_unit_test(unknown_key_suggests_and_names_line),
		cmocka_unit_test(bad_value_shows_syntax_and_example),
		cmocka_unit_test(missing_equals_and_duplicates),
		cmocka_unit_test(required_key_missing),
		cmocka_unit_test(command_line_and_config_file),
		cmocka_unit_test(command_line_overrides_the_file),
		cmocka_unit_test(all_missing_keys_at_once),
		cmocka_unit_test(command_line_errors),
		cmocka_unit_test(secret_key_needs_a_private_file),
		cmocka_unit_test(directory_is_refused),
		cmocka_unit_test(bad_secret_is_not_echoed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
