/*
 * libFuzzer target: the strict JSON reader (src/core/json.c) and the NAT report reader
 * on top of it (src/core/natreport.c), fed arbitrary bytes.
 *
 * Invariants: no crash or leak; every token lies inside the input and its subtree end
 * inside the token count; every string token decodes or says why not; a report that
 * parses writes back to a document that parses to the same report, and writing that
 * again gives the same bytes.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "core/json.h"
#include "core/natreport.h"
#include "fuzzcheck.h"

static void check_tokens(const char *s, size_t len, const struct zt_json_tok *t, int n)
{
	char buf[256];

	for (int i = 0; i < n; i++) {
		check(t[i].off + (size_t)t[i].len <= len);
		check(t[i].end > (uint32_t)i && t[i].end <= (uint32_t)n);
		if (t[i].type == ZT_JSON_STRING) {
			int k = zt_json_str(s, &t[i], buf, sizeof(buf));

			check(k >= 0 || k == -ENOBUFS || k == -EILSEQ);
			check(k < 0 || (size_t)k < sizeof(buf));
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct zt_json_tok tok[256];
	struct zt_natreport r1, r2;
	const char *field, *why, *s = (const char *)data;
	static char w1[ZT_NATREPORT_MAX], w2[ZT_NATREPORT_MAX];
	int n, n1, n2;

	n = zt_json_parse(s, size, tok, 256, NULL);
	if (n > 0)
		check_tokens(s, size, tok, n);
	if (zt_natreport_parse(s, size, &r1, &field, &why) < 0) {
		check(field && why);
		return 0;
	}
	n1 = zt_natreport_write(&r1, w1, sizeof(w1));
	check(n1 > 0);
	check(zt_natreport_parse(w1, (size_t)n1, &r2, &field, &why) == 0);
	n2 = zt_natreport_write(&r2, w2, sizeof(w2));
	check(n2 == n1 && memcmp(w1, w2, (size_t)n1) == 0);
	return 0;
}
