/*
 * libFuzzer target: the config-file parser (src/app/conf.c, zt_conf_parse and
 * zt_conf_finish) with a key table of its own (plain, repeatable, flag and required
 * keys; setters that use the duration and size parsers of src/core/units.c and refuse
 * some values), and the same value parsers on every line of the input.
 *
 * A parse must return 0 or a config error code with a message naming where
 * ("fuzz.conf:LINE: ..."). Aborts (a finding) when that breaks.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/conf.h"
#include "core/err.h"
#include "core/units.h"
#include "fuzzcheck.h"

struct ctx {
	char name[64];
	uint64_t dur, size;
	unsigned forwards, flags;
};

static int set_name(void *c, const char *v, const char **why)
{
	if (!*v || strlen(v) >= sizeof(((struct ctx *)c)->name)) {
		*why = "1 to 63 bytes";
		return ZT_ESYNTAX;
	}
	snprintf(((struct ctx *)c)->name, sizeof(((struct ctx *)c)->name), "%s", v);
	return 0;
}

static int set_dur(void *c, const char *v, const char **why)
{
	int rc = zt_units_duration(v, &((struct ctx *)c)->dur);

	if (rc < 0)
		*why = "a duration";
	return rc;
}

static int set_size(void *c, const char *v, const char **why)
{
	int rc = zt_units_size(v, &((struct ctx *)c)->size);

	if (rc < 0)
		*why = "a size";
	return rc;
}

static int set_forward(void *c, const char *v, const char **why)
{
	(void)v;
	if (++((struct ctx *)c)->forwards > 8) {
		*why = "at most 8";
		return ZT_ERANGE;
	}
	return 0;
}

static int set_flag(void *c, const char *v, const char **why)
{
	(void)v;
	(void)why;
	((struct ctx *)c)->flags++;
	return 0;
}

static const struct zt_conf_key keys[] = {
	{ .name = "name", .syntax = "NAME", .help = "h", .set = set_name, .required = true },
	{ .name = "intermediate", .syntax = "HOST:PORT", .help = "h", .set = set_name },
	{ .name = "keepalive", .syntax = "DURATION", .help = "h", .set = set_dur },
	{ .name = "size", .syntax = "SIZE", .help = "h", .set = set_size },
	{ .name = "forward", .syntax = "SPEC", .help = "h", .set = set_forward, .repeatable = true },
	{ .name = "verbose", .syntax = "", .help = "h", .set = set_flag, .is_flag = true,
	  .repeatable = true },
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ctx ctx = { 0 };
	struct zt_conf c;
	char *text = malloc(size + 1);
	int rc;

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	zt_conf_init(&c, keys, sizeof(keys) / sizeof(keys[0]), &ctx);
	rc = zt_conf_parse(&c, "fuzz.conf", text);
	if (rc == 0)
		rc = zt_conf_finish(&c);
	if (rc < 0) {
		check(memchr(c.err, '\0', sizeof(c.err)) != NULL);
		check(c.err[0] != '\0');
	}
	check(rc == 0 || (rc <= -1000 && rc > -1500) || rc == -ENOMEM);
	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
		uint64_t v = 7;
		int a = zt_units_duration(line, &v), b;
		check(a == 0 || a == ZT_ESYNTAX || a == ZT_ERANGE);
		b = zt_units_size(line, &v);
		check(b == 0 || b == ZT_ESYNTAX || b == ZT_ERANGE);
	}
	free(text);
	return 0;
}
