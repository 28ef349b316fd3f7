/*
 * libFuzzer target: the HTTP request head reader of the metrics endpoint
 * (core/httpreq.h). The input is the bytes a scraper (or anyone) sent, in an exact-size
 * buffer (ASan sees over-reads). Checked: the result is one of the documented ones; a
 * complete head is at most the input and ZT_HTTPREQ_MAX, with an upper-case method
 * and a path that starts with '/' and holds no '?', space or control byte; every
 * shorter prefix of a complete head asks for more (0), and the same head read again
 * inside a longer input gives the same answer.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/httpreq.h"
#include "fuzzcheck.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size ? size : 1), *more;
	struct zt_httpreq r, r2;
	int rc;

	if (!buf)
		return 0;
	memcpy(buf, data, size);
	rc = zt_httpreq_parse(buf, size, &r);
	check(rc >= 0 || rc == ZT_EMALFORMED || rc == ZT_ETOOBIG);
	if (rc > 0) {
		check((size_t)rc <= size && rc <= ZT_HTTPREQ_MAX);
		check(r.method[0] && r.path[0] == '/' && r.minor >= 0 && r.minor <= 9);
		for (const char *m = r.method; *m; m++)
			check(*m >= 'A' && *m <= 'Z');
		for (const char *p = r.path; *p; p++)
			check(*p > ' ' && *p < 0x7f && *p != '?');
		check(zt_httpreq_parse(buf, (size_t)rc - 1, &r2) == 0);
		more = malloc((size_t)rc + 8);
		if (more) {
			memcpy(more, buf, (size_t)rc);
			memcpy(more + rc, "trailing", 8);
			check(zt_httpreq_parse(more, (size_t)rc + 8, &r2) == rc);
			check(!strcmp(r.method, r2.method) && !strcmp(r.path, r2.path));
			free(more);
		}
	}
	free(buf);
	return 0;
}
