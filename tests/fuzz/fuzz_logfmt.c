/*
 * libFuzzer target: the log value escaper (src/core/logfmt.c), fed peer-controlled
 * bytes as the values of a log line.
 *
 * The input is split at its first NUL: the part before is a C string (%s, in a bare and
 * in a quoted position, and with a precision), the rest is a byte string of exact
 * length (NULs included) for zt_logfmt_value. Invariants: the output is one line of
 * printable ASCII; it splits back (tests/fuzz/logparse.h) into exactly the fields of
 * the format, each value byte for byte; with any smaller buffer the output still fits,
 * stays printable, and parses (cut at a safe point, " truncated=1"). Reading back
 * (zt_logfmt_field) finds the same fields as the test reader; the JSON form of the
 * line, and of the raw input as a line, is one printable object at any size.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/logfmt.h"
#include "fuzzcheck.h"
#include "logparse.h"

static bool printable(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f)
			return false;
	return s[n] == '\0';
}

static struct lp_field fields[8];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, 0, size);
	size_t n1 = nul ? (size_t)(nul - data) : size, n2 = nul ? size - n1 - 1 : 0;
	size_t cap = 12 * size + 256, n, half = n1 / 2;
	char *s1, *out;
	int got;

	if (size > 1000)
		return 0;
	s1 = malloc(n1 + 1);
	out = malloc(cap);
	check(s1 && out);
	memcpy(s1, data, n1);
	s1[n1] = '\0';

	n = zt_logfmt(out, cap, "a=%s b=\"%s\" c=%.*s d=%c n=%d", s1, s1, (int)half, s1,
		      n1 ? s1[0] : 'x', (int)size);
	check(n < cap && printable(out, n));
	got = lp_parse(out, fields, 8);
	check(got == 5);
	check(fields[0].len == n1 && !memcmp(fields[0].val, s1, n1));
	check(fields[1].len == n1 && !memcmp(fields[1].val, s1, n1));
	check(fields[2].len == half && !memcmp(fields[2].val, s1, half));
	check(fields[3].len == 1);

	/* every smaller buffer: fits, printable, parses */
	for (size_t c = ZT_LOGFMT_MIN; c < n + 1 && c < ZT_LOGFMT_MIN + 64; c++) {
		size_t m = zt_logfmt(out, c, "a=%s b=\"%s\"", s1, s1);
		check(m < c && printable(out, m));
		check(lp_parse(out, fields, 8) >= 1);
	}

	/* read back by the library: the same 5 fields; as JSON: one printable object */
	{
		struct zt_logfmt_kv kv;
		size_t pos = 0, jcap = 6 * n + 64;
		int k = 0, rc;
		char *j = malloc(jcap);

		check(j != NULL);
		n = zt_logfmt(out, cap, "a=%s b=\"%s\" c=%.*s d=%c n=%d", s1, s1, (int)half, s1,
			      n1 ? s1[0] : 'x', (int)size);
		while ((rc = zt_logfmt_field(out, n, &pos, &kv)) == 1)
			k++;
		check(rc == 0 && k == 5);
		size_t caps[] = { ZT_LOGFMT_MIN, ZT_LOGFMT_MIN + (size ? data[size - 1] : 0) % 128,
				  ZT_LOGFMT_MIN + (size * 7919) % 512, jcap };

		for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
			size_t c = caps[i] < jcap ? caps[i] : jcap, m = zt_logfmt_json(j, c, out, n);
			check(m < c && j[0] == '{' && j[m - 1] == '}' && printable(j, m));
			m = zt_logfmt_json(j, c, (const char *)data, size);
			check(m < c && j[0] == '{' && j[m - 1] == '}' && printable(j, m));
		}
		free(j);
	}

	/* an exact byte string, NULs included, as one value */
	n = zt_logfmt_value(out, cap, (const char *)data + n1 + (nul ? 1 : 0), n2, false);
	check(n > 0 && n < cap && printable(out, n));
	if (out[0] == '"') {
		check(lp_quoted(out + 1, &fields[0]) == out + n);
		check(fields[0].len == n2 && !memcmp(fields[0].val, data + n1 + 1, n2));
	} else {
		check(n == n2 && !memcmp(out, data + n1 + 1, n2));
	}
	free(s1);
	free(out);
	return 0;
}
