/* io/file: a whole file read from a descriptor, within a limit. */
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

#include "core/err.h"
#include "io/file.h"

/* A descriptor reading n bytes of a pattern (a temporary file, already unlinked). */
static int file_of(size_t n)
{
	char path[] = "/tmp/zt-file-test-XXXXXX";
	int fd = mkstemp(path);
	char c;

	assert_true(fd >= 0);
	unlink(path);
	for (size_t i = 0; i < n; i++) {
		c = (char)('a' + i % 26);
		assert_int_equal(write(fd, &c, 1), 1);
	}
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	return fd;
}

static void reads_to_the_end_with_a_nul(void **state)
{
	size_t sizes[] = { 0, 1, 4094, 4095, 4096, 10000 };
	char *buf;
	size_t len;

	(void)state;
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		int fd = file_of(sizes[k]);

		assert_int_equal(zt_read_all(fd, SIZE_MAX, &buf, &len), 0);
		assert_int_equal(len, sizes[k]);
		assert_int_equal(buf[len], '\0');
		for (size_t i = 0; i < len; i++)
			assert_int_equal(buf[i], 'a' + i % 26);
		free(buf);
		close(fd);
	}
}

static void more_than_max_is_too_big(void **state)
{
	char *buf = (char *)"untouched";
	size_t len = 7;
	int fd;

	(void)state;
	/* exactly max: taken */
	fd = file_of(5000);
	assert_int_equal(zt_read_all(fd, 5000, &buf, NULL), 0);
	assert_int_equal(strlen(buf), 5000);
	free(buf);
	close(fd);
	/* one byte more: refused, the out-parameters left alone */
	buf = (char *)"untouched";
	fd = file_of(5001);
	assert_int_equal(zt_read_all(fd, 5000, &buf, &len), ZT_ETOOBIG);
	assert_string_equal(buf, "untouched");
	assert_int_equal(len, 7);
	close(fd);
	/* a small limit */
	fd = file_of(3);
	assert_int_equal(zt_read_all(fd, 2, &buf, &len), ZT_ETOOBIG);
	close(fd);
}

static void a_read_error_is_returned(void **state)
{
	char *buf = NULL;
	int fd = file_of(0);

	(void)state;
	close(fd);
	assert_int_equal(zt_read_all(fd, SIZE_MAX, &buf, NULL), -EBADF);
	assert_null(buf);
}

static void writes_everything_or_says_why(void **state)
{
	char data[10000], *back;
	size_t len;
	int fd = file_of(0);

	(void)state;
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (char)('a' + i % 26);
	assert_int_equal(zt_write_all(fd, data, sizeof(data)), 0);
	assert_int_equal(zt_write_all(fd, data, 0), 0);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	assert_int_equal(zt_read_all(fd, SIZE_MAX, &back, &len), 0);
	assert_int_equal(len, sizeof(data));
	assert_memory_equal(back, data, len);
	free(back);
	close(fd);
	assert_int_equal(zt_write_all(fd, data, 1), -EBADF);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(reads_to_the_end_with_a_nul),
		cmocka_unit_test(more_than_max_is_too_big),
		cmocka_unit_test(a_read_error_is_returned),
		cmocka_unit_test(writes_everything_or_says_why),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
