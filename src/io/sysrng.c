#include <errno.h>
#include <sys/random.h>

#include "io/sysrng.h"

static void sysrng_fill(void *ctx, uint8_t *buf, size_t len)
{
	(void)ctx;
	while (len) {
		ssize_t n = getrandom(buf, len, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			/* getrandom cannot fail otherwise with these arguments */
			continue;
		}
		buf += n;
		len -= (size_t)n;
	}
}

struct zt_rng zt_sysrng(void)
{
	return (struct zt_rng){ .fill = sysrng_fill, .ctx = NULL };
}
