/* app/secret: files that hold secrets are created 0600, read only when private. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app/secret.h"
#include "core/err.h"

struct dir {
	char path[64];
};

static int setup(void **state)
{
	struct dir *d = calloc(1, sizeof(*d));

	if (!d)
		return -1;
	snprintf(d->path, sizeof(d->path), "/tmp/zt-secret-test-XXXXXX");
	if (!mkdtemp(d->path)) {
		free(d);
		return -1;
	}
	*state = d;
	return 0;
}

static int teardown(void **state)
{
	struct dir *d = *state;
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d->path);
	if (system(cmd) != 0)
		return -1;
	free(d);
	return 0;
}

static void put(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	assert_int_equal(chmod(path, mode), 0);
}

static mode_t mode_of(const char *path)
{
	struct stat st;

	assert_int_equal(lstat(path, &st), 0);
	return st.st_mode & 07777;
}

static void append_creates_0600_whatever_the_umask(void **state)
{
	struct dir *d = *state;
	char path[128];
	const char *why = NULL;
	mode_t old = umask(0);
	FILE *f;

	snprintf(path, sizeof(path), "%s/keys.log", d->path);
	f = zt_secret_append(path, &why);
	umask(old);
	assert_non_null(f);
	fputs("CLIENT_RANDOM x y\n", f);
	fclose(f);
	assert_int_equal(mode_of(path), 0600);
	/* appending again keeps the content */
	f = zt_secret_append(path, &why);
	assert_non_null(f);
	fputs("more\n", f);
	fclose(f);
	assert_int_equal(mode_of(path), 0600);
}

static void append_refuses_open_files_and_links(void **state)
{
	struct dir *d = *state;
	char path[128], link[128], victim[128];
	const char *why = NULL;

	snprintf(path, sizeof(path), "%s/open.log", d->path);
	put(path, "old\n", 0644);
	assert_null(zt_secret_append(path, &why));
	assert_int_equal(errno, EPERM);
	assert_string_equal(why, "readable or writable by group or others");
	assert_int_equal(mode_of(path), 0644); /* refused, not silently fixed */

	snprintf(link, sizeof(link), "%s/link.log", d->path);
	snprintf(victim, sizeof(victim), "%s/victim", d->path);
	assert_int_equal(symlink(victim, link), 0);
	assert_null(zt_secret_append(link, &why));
	assert_int_equal(errno, ELOOP);
	assert_int_equal(access(victim, F_OK), -1);

	assert_null(zt_secret_append(d->path, &why)); /* a directory */
}

static void create_is_0600_and_exclusive(void **state)
{
	struct dir *d = *state;
	char path[128];
	mode_t old = umask(0);
	FILE *f;

	snprintf(path, sizeof(path), "%s/trace.sqlog", d->path);
	f = zt_secret_create(path);
	umask(old);
	assert_non_null(f);
	fclose(f);
	assert_int_equal(mode_of(path), 0600);
	assert_null(zt_secret_create(path));
	assert_int_equal(errno, EEXIST);
}

static void read_line_strips_and_checks_mode(void **state)
{
	struct dir *d = *state;
	char path[128], buf[16];
	const char *why = NULL;

	snprintf(path, sizeof(path), "%s/tok", d->path);
	put(path, "s3cret\r\nsecond line\n", 0600);
	assert_int_equal(zt_secret_read_line(path, buf, sizeof(buf), &why), 6);
	assert_string_equal(buf, "s3cret");
	put(path, "no-newline", 0400);
	assert_int_equal(zt_secret_read_line(path, buf, sizeof(buf), &why), 10);
	assert_string_equal(buf, "no-newline");

	put(path, "s3cret\n", 0640);
	assert_int_equal(zt_secret_read_line(path, buf, sizeof(buf), &why), -EPERM);
	put(path, "s3cret\n", 0602);
	assert_int_equal(zt_secret_read_line(path, buf, sizeof(buf), &why), -EPERM);
	put(path, "\nlater\n", 0600);
	assert_int_equal(zt_secret_read_line(path, buf, sizeof(buf), &why), ZT_EZEROLEN);
	put(path, "0123456789abcdefXYZ\n", 0600);
	assert_int_equal(zt_secret_read_line(path, buf, sizeof(buf), &why), ZT_ETOOBIG);
	assert_int_equal(zt_secret_read_line(d->path, buf, sizeof(buf), &why), -EINVAL);
	snprintf(path, sizeof(path), "%s/none", d->path);
	assert_int_equal(zt_secret_read_line(path, buf, sizeof(buf), &why), -ENOENT);
	assert_string_equal(why, "no such file");
}

static void read_refuses_big_files(void **state)
{
	struct dir *d = *state;
	char path[128], *text = NULL;
	FILE *f;

	snprintf(path, sizeof(path), "%s/big", d->path);
	f = fopen(path, "w");
	assert_non_null(f);
	for (int i = 0; i < 70 * 1024; i++)
		fputc('x', f);
	fclose(f);
	assert_int_equal(chmod(path, 0600), 0);
	assert_int_equal(zt_secret_read(path, &text, NULL), ZT_ETOOBIG);
	assert_null(text);
	zt_secret_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(append_creates_0600_whatever_the_umask, setup, teardown),
		cmocka_unit_test_setup_teardown(append_refuses_open_files_and_links, setup, teardown),
		cmocka_unit_test_setup_teardown(create_is_0600_and_exclusive, setup, teardown),
		cmocka_unit_test_setup_teardown(read_line_strips_and_checks_mode, setup, teardown),
		cmocka_unit_test_setup_teardown(read_refuses_big_files, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
