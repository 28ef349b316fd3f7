#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/err.h"
#include "io/file.h"

/* A buffer of twice the room (4 KiB at first, most at the most), the len bytes read
 * so far copied over and wiped from the old one. */
static int grow(char **buf, size_t len, size_t *cap, size_t most)
{
	size_t ncap = *cap ? *cap * 2 : 4096;
	char *nb;

	if (ncap > most || ncap < *cap)
		ncap = most;
	nb = malloc(ncap);
	if (!nb)
		return -ENOMEM;
	if (*buf) {
		memcpy(nb, *buf, len);
		explicit_bzero(*buf, len);
		free(*buf);
	}
	*buf = nb;
	*cap = ncap;
	return 0;
}

int zt_read_all(int fd, size_t max, char **ret, size_t *ret_len)
{
	/* room for one byte over max (to see it) and the NUL */
	size_t most = max < SIZE_MAX - 2 ? max + 2 : SIZE_MAX, len = 0, cap = 0;
	char *buf = NULL;
	int rc;

	for (;;) {
		ssize_t n;

		if (cap - len < 2 && (rc = grow(&buf, len, &cap, most)) < 0)
			goto out_free;
		n = read(fd, buf + len, cap - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			goto out_free;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > max) {
			rc = ZT_ETOOBIG;
			goto out_free;
		}
	}
	buf[len] = '\0';
	*ret = buf;
	if (ret_len)
		*ret_len = len;
	return 0;

out_free:
	if (buf)
		explicit_bzero(buf, len);
	free(buf);
	return rc;
}

int zt_write_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}
