/*
 * libFuzzer target: the SDP-style candidate line parser (zt_cand_parse).
 *
 * The input is one line (an exact-size copy, not NUL-terminated, so ASan sees any read
 * past it). A line that parses must pass zt_cand_check(), print, parse back to the same
 * candidate, and print identically again. Aborts (a finding) when that breaks.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cand.h"
#include "core/err.h"
#include "fuzzcheck.h"

static bool same(const struct zt_cand *a, const struct zt_cand *b)
{
	return a->type == b->type && a->component == b->component &&
	       a->transport == b->transport && a->predicted == b->predicted &&
	       a->priority == b->priority && strcmp(a->foundation, b->foundation) == 0 &&
	       zt_addr_equal(&a->addr, &b->addr) && a->related.family == b->related.family &&
	       (!a->related.family || zt_addr_equal(&a->related, &b->related));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *line = malloc(size ? size : 1);
	char text[ZT_CAND_STRLEN], again[ZT_CAND_STRLEN];
	struct zt_cand c, d;
	struct zt_cand_pair p, q;
	int rc, n;

	if (!line)
		return 0;
	if (size)
		memcpy(line, data, size);
	rc = zt_cand_parse(&c, line, size);
	if (rc < 0) {
		check(rc == ZT_ESYNTAX || rc == ZT_ERANGE || rc == ZT_ECAND_TYPE ||
		      rc == ZT_ECAND_TRANSPORT || rc == ZT_EMALFORMED);
		goto out_free;
	}
	check(rc == 0);
	check(zt_cand_check(&c) == 0);
	n = zt_cand_format(&c, text, sizeof(text));
	check(n > 0 && (size_t)n == strlen(text));
	check(zt_cand_parse(&d, text, (size_t)n) == 0);
	check(same(&c, &d));
	check(zt_cand_format(&d, again, sizeof(again)) == n);
	check(strcmp(text, again) == 0);
	check(zt_cand_format(&c, text, (size_t)n) == -ENOBUFS);

	/* The pair helpers on what was parsed. */
	zt_cand_pair_init(&p, &c, &d, true);
	zt_cand_pair_init(&q, &d, &c, false);
	check(p.priority == q.priority);
	check(zt_cand_pair_cmp(&p, &q) == 0);
	check(zt_cand_pair_redundant(&p, &q));
	check(zt_cand_base(&c) == &c.addr || zt_cand_base(&c) == &c.related);
out_free:
	free(line);
	return 0;
}
