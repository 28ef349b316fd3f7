#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "app/conf.h"
#include "core/err.h"
#include "core/units.h"

#define MAX_CONF_BYTES (1024 * 1024)

void zt_conf_init(struct zt_conf *c, const struct zt_conf_key *keys, size_t nkeys, void *ctx)
{
	*c = (struct zt_conf){ .tables[0] = { .keys = keys, .nkeys = nkeys, .ctx = ctx },
			       .ntables = 1 };
}

int zt_conf_add(struct zt_conf *c, const struct zt_conf_key *keys, size_t nkeys, void *ctx)
{
	if (c->ntables == ZT_CONF_TABLES)
		return -ENOSPC;
	c->tables[c->ntables++] = (struct zt_conf_table){ .keys = keys, .nkeys = nkeys,
							  .ctx = ctx };
	return 0;
}

/* The idx-th key over all tables (and its table), or NULL past the last. */
static const struct zt_conf_key *key_at(const struct zt_conf *c, size_t idx,
					const struct zt_conf_table **ret_t)
{
	for (size_t t = 0; t < c->ntables; t++) {
		if (idx < c->tables[t].nkeys) {
			if (ret_t)
				*ret_t = &c->tables[t];
			return &c->tables[t].keys[idx];
		}
		idx -= c->tables[t].nkeys;
	}
	return NULL;
}

static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), prev[64], cur[64];

	if (la >= 63 || lb >= 63)
		return 99;
	for (size_t j = 0; j <= lb; j++)
		prev[j] = j;
	for (size_t i = 1; i <= la; i++) {
		cur[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
			size_t del = prev[j] + 1, ins = cur[j - 1] + 1;
			cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
		}
		memcpy(prev, cur, (lb + 1) * sizeof(size_t));
	}
	return prev[lb];
}

static const struct zt_conf_key *find_key(const struct zt_conf *c, const char *name, size_t *idx,
					  const struct zt_conf_table **ret_t)
{
	const struct zt_conf_key *k;

	for (size_t i = 0; (k = key_at(c, i, ret_t)); i++)
		if (!strcmp(k->name, name)) {
			*idx = i;
			return k;
		}
	return NULL;
}

static int unknown_key(struct zt_conf *c, const char *where, const char *name)
{
	const struct zt_conf_key *k;
	const char *best = NULL;
	size_t bestd = 3;

	for (size_t i = 0; (k = key_at(c, i, NULL)); i++) {
		size_t d = edit_distance(name, k->name);
		if (d < bestd) {
			bestd = d;
			best = k->name;
		}
	}
	if (best)
		snprintf(c->err, sizeof(c->err), "%s: unknown key '%s' (did you mean '%s'?)", where,
			 name, best);
	else
		snprintf(c->err, sizeof(c->err), "%s: unknown key '%s' (see --help for the keys)",
			 where, name);
	return ZT_ECONF_KEY;
}

/* Stores n in an unsigned field of 4 or 8 bytes. */
static int store_uint(void *dst, size_t size, uint64_t n)
{
	uint32_t n32 = (uint32_t)n;

	if (size == sizeof(uint64_t))
		memcpy(dst, &n, sizeof(n));
	else if (size == sizeof(uint32_t) && n <= UINT32_MAX)
		memcpy(dst, &n32, sizeof(n32));
	else
		return -EINVAL;
	return 0;
}

/* A key's maximum: .max, or what its field holds. */
static uint64_t key_max(const struct zt_conf_key *k)
{
	if (k->max)
		return k->max;
	return k->size == sizeof(uint32_t) ? UINT32_MAX : UINT64_MAX;
}

static int set_text(const struct zt_conf_key *k, void *dst, const char *v, const char **why)
{
	if (!*v || strlen(v) >= k->size) {
		*why = "empty or too long";
		return ZT_ESYNTAX;
	}
	memcpy(dst, v, strlen(v) + 1);
	return 0;
}

static int set_duration(struct zt_conf *c, const struct zt_conf_key *k, void *dst, const char *v,
			const char **why)
{
	char lo[32], hi[32];
	uint64_t ns;
	int rc = zt_units_duration(v, &ns);

	if (rc < 0) {
		*why = "a duration like 30s, 1.5s, 250ms or 2m (a bare number is seconds)";
		return rc;
	}
	if (ns == 0 && k->min > 0) {
		*why = "a duration above 0";
		return ZT_ERANGE;
	}
	if (ns < k->min || ns > key_max(k)) {
		zt_units_duration_str(lo, sizeof(lo), k->min);
		zt_units_duration_str(hi, sizeof(hi), key_max(k));
		snprintf(c->why, sizeof(c->why), "between %s and %s", lo, hi);
		*why = k->why ? k->why : c->why;
		return ZT_ERANGE;
	}
	return k->size == sizeof(ns) ? store_uint(dst, k->size, ns) : -EINVAL;
}

static int set_size(struct zt_conf *c, const struct zt_conf_key *k, void *dst, const char *v,
		    const char **why)
{
	uint64_t n;
	int rc = zt_units_size(v, &n);

	if (rc == 0 && n >= k->min && n <= key_max(k))
		return store_uint(dst, k->size, n);
	if (k->why)
		*why = k->why;
	else if (rc < 0 || n < k->min) {
		*why = "a positive number (K, M, G allowed)";
	} else {
		snprintf(c->why, sizeof(c->why), "at most %" PRIu64, key_max(k));
		*why = c->why;
	}
	return rc < 0 ? rc : ZT_ERANGE;
}

static int set_uint(struct zt_conf *c, const struct zt_conf_key *k, void *dst, const char *v,
		    const char **why)
{
	unsigned long long n;
	char *end = NULL;

	snprintf(c->why, sizeof(c->why), "a whole number from %" PRIu64 " to %" PRIu64, k->min,
		 key_max(k));
	*why = c->why;
	if (*v < '0' || *v > '9')
		return ZT_ESYNTAX;
	n = strtoull(v, &end, 10);
	if (*end)
		return ZT_ESYNTAX;
	if (n < k->min || n > key_max(k))
		return ZT_ERANGE;
	return store_uint(dst, k->size, n);
}

/* A key without a setter: the value into its field. */
static int set_field(struct zt_conf *c, const struct zt_conf_table *t, const struct zt_conf_key *k,
		     const char *v, const char **why)
{
	void *dst = (char *)t->ctx + k->offset;
	int n;

	switch (k->kind) {
	case ZT_CONF_TEXT:
		return set_text(k, dst, v, why);
	case ZT_CONF_DURATION:
		return set_duration(c, k, dst, v, why);
	case ZT_CONF_SIZE:
		return set_size(c, k, dst, v, why);
	case ZT_CONF_UINT:
		return set_uint(c, k, dst, v, why);
	case ZT_CONF_COUNTER:
		if (k->size != sizeof(int))
			return -EINVAL;
		memcpy(&n, dst, sizeof(n));
		n++;
		memcpy(dst, &n, sizeof(n));
		return 0;
	case ZT_CONF_SETTER:
		break;
	}
	return -EINVAL;
}

/*
 * A key that takes one value set again: the command line overrides a config file
 * (either order: a file's value after the command line's is skipped); twice in one
 * source (or in two files) is an error. Returns 1 to skip, 0 to set, or the error.
 */
static int set_again(struct zt_conf *c, size_t idx, bool cli, const char *where,
		     const char *name)
{
	if (cli && !c->from_cli[idx])
		return 0;
	if (!cli && c->from_cli[idx])
		return 1;
	snprintf(c->err, sizeof(c->err), "%s: '%s' is set twice (it takes one value; remove one "
		 "of them)", where, name);
	return ZT_ECONF_VALUE;
}

static int apply(struct zt_conf *c, const char *where, const char *name, const char *value,
		 bool cli)
{
	const struct zt_conf_table *t;
	const struct zt_conf_key *k;
	const char *why = NULL;
	size_t idx;
	int rc;

	k = find_key(c, name, &idx, &t);
	if (!k)
		return unknown_key(c, where, name);
	if (idx < ZT_CONF_KEYS && c->seen[idx] && !k->repeatable &&
	    (rc = set_again(c, idx, cli, where, name)) != 0)
		return rc > 0 ? 0 : rc;
	rc = k->set ? k->set(t->ctx, value, &why) : set_field(c, t, k, value, &why);
	if (rc == -EINVAL && !k->set) {
		snprintf(c->err, sizeof(c->err), "%s: key '%s' has no field of its kind (a bug)",
			 where, name);
		return rc;
	}
	if (rc < 0) {
		/* A secret's value is never repeated in a message (it ends up in logs). */
		snprintf(c->err, sizeof(c->err), "%s: bad value '%s' for '%s': %s%sexpected %s%s%s%s",
			 where, k->secret ? "(a secret, not shown)" : value, name, why ? why : "",
			 why ? "; " : "", k->syntax,
			 k->example ? " (e.g. " : "", k->example ? k->example : "",
			 k->example ? ")" : "");
		return rc == -ENOMEM ? rc : ZT_ECONF_VALUE;
	}
	if (idx < ZT_CONF_KEYS) {
		c->seen[idx]++;
		c->from_cli[idx] = cli;
	}
	return 0;
}

static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

int zt_conf_parse(struct zt_conf *c, const char *source, const char *text)
{
	char line[1024], where[300];
	unsigned lineno = 0;
	const char *p = text;

	while (*p) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		char *s, *eq, *hash, *key, *value;

		lineno++;
		snprintf(where, sizeof(where), "%s:%u", source, lineno);
		if (n >= sizeof(line)) {
			snprintf(c->err, sizeof(c->err), "%s: line longer than %zu bytes", where,
				 sizeof(line) - 1);
			return ZT_ECONF_VALUE;
		}
		memcpy(line, p, n);
		line[n] = '\0';
		p = nl ? nl + 1 : p + n;

		s = trim(line);
		if (*s == '\0' || *s == '#')
			continue;
		/* a trailing comment needs whitespace before '#', so values may contain '#' */
		for (hash = s; (hash = strchr(hash, '#')); hash++)
			if (hash[-1] == ' ' || hash[-1] == '\t') {
				*hash = '\0';
				break;
			}
		eq = strchr(s, '=');
		if (!eq) {
			/* its first word only: the rest may be a secret (a client's token) */
			size_t w = strcspn(s, " \t");
			snprintf(c->err, sizeof(c->err), "%s: expected 'key = value', got '%.*s%s'",
				 where, (int)(w < 64 ? w : 64), s, s[w] ? " ..." : "");
			return ZT_ESYNTAX;
		}
		*eq = '\0';
		key = trim(s);
		value = trim(eq + 1);
		if (!*key) {
			snprintf(c->err, sizeof(c->err), "%s: missing key before '='", where);
			return ZT_ESYNTAX;
		}
		int rc = apply(c, where, key, value, false);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* A file that set a secret key (seen[] grew) must be private to its owner. */
static int check_secret_mode(struct zt_conf *c, const char *path, int fd, const unsigned *before)
{
	const struct zt_conf_key *k;
	struct stat st;

	for (size_t i = 0; (k = key_at(c, i, NULL)) && i < ZT_CONF_KEYS; i++) {
		if (!k->secret || c->seen[i] == before[i])
			continue;
		if (fstat(fd, &st) == 0 && !(st.st_mode & 077))
			return 0;
		snprintf(c->err, sizeof(c->err), "%s: sets '%s', a secret, and is readable or "
			 "writable by group or others: chmod 600 %s", path, k->name, path);
		return -EPERM;
	}
	return 0;
}

int zt_conf_load(struct zt_conf *c, const char *path)
{
	unsigned seen[ZT_CONF_KEYS];
	FILE *f;
	char *text;
	size_t n;
	int rc;

	memcpy(seen, c->seen, sizeof(seen));
	f = fopen(path, "r");
	if (!f) {
		rc = -errno;
		snprintf(c->err, sizeof(c->err), "%s: cannot read: %s", path, strerror(-rc));
		return rc;
	}
	text = malloc(MAX_CONF_BYTES + 1);
	if (!text) {
		rc = -ENOMEM;
		goto out_close;
	}
	errno = 0;
	n = fread(text, 1, MAX_CONF_BYTES + 1, f);
	if (ferror(f)) {
		/* e.g. a directory: fopen() takes it, reading it fails (EISDIR) */
		rc = errno ? -errno : -EIO;
		snprintf(c->err, sizeof(c->err), "%s: cannot read: %s", path, strerror(-rc));
		goto out_free;
	}
	if (n > MAX_CONF_BYTES) {
		snprintf(c->err, sizeof(c->err), "%s: larger than %d bytes", path, MAX_CONF_BYTES);
		rc = ZT_ETOOBIG;
		goto out_free;
	}
	text[n] = '\0';
	if (memchr(text, '\0', n)) {
		snprintf(c->err, sizeof(c->err), "%s: contains a NUL byte (not a text file?)", path);
		rc = ZT_ESYNTAX;
		goto out_free;
	}
	rc = zt_conf_parse(c, path, text);
	if (rc == 0)
		rc = check_secret_mode(c, path, fileno(f), seen);
out_free:
	free(text);
out_close:
	fclose(f);
	return rc;
}

int zt_conf_args(struct zt_conf *c, int argc, char **argv, int first)
{
	char name[128], where[160];

	for (int i = first; i < argc; i++) {
		const char *arg = argv[i], *value, *eq;
		const struct zt_conf_key *k;
		size_t idx, n;
		int rc;

		if (strncmp(arg, "--", 2) != 0 || arg[2] == '\0') {
			snprintf(c->err, sizeof(c->err),
				 "unexpected argument '%s' (options are --key VALUE; see --help)", arg);
			return ZT_ESYNTAX;
		}
		arg += 2;
		eq = strchr(arg, '=');
		n = eq ? (size_t)(eq - arg) : strlen(arg);
		if (n >= sizeof(name))
			n = sizeof(name) - 1;
		memcpy(name, arg, n);
		name[n] = '\0';
		snprintf(where, sizeof(where), "option --%s", name);
		if (!strcmp(name, "config")) {
			value = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
			if (!value) {
				snprintf(c->err, sizeof(c->err), "option --config needs a FILE");
				return ZT_ESYNTAX;
			}
			rc = zt_conf_load(c, value);
			if (rc < 0)
				return rc;
			continue;
		}
		k = find_key(c, name, &idx, NULL);
		if (!k)
			return unknown_key(c, where, name);
		if (k->is_flag)
			value = eq ? eq + 1 : "1";
		else if (eq)
			value = eq + 1;
		else if (i + 1 < argc)
			value = argv[++i];
		else {
			snprintf(c->err, sizeof(c->err), "%s needs a value: %s", where, k->syntax);
			return ZT_ESYNTAX;
		}
		rc = apply(c, where, name, value, true);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int zt_conf_finish(struct zt_conf *c)
{
	const struct zt_conf_key *k, *first = NULL;
	char list[400] = "";
	int missing = 0;

	/* every one missing, at once: "'a' (add 'a = X' ..., or pass --a), 'b' (...)" */
	for (size_t i = 0; (k = key_at(c, i, NULL)) && i < ZT_CONF_KEYS; i++) {
		size_t len = strlen(list);
		if (!k->required || c->seen[i])
			continue;
		first = first ? first : k;
		snprintf(list + len, sizeof(list) - len, "%s'%s' (add '%s = %s' to the config "
			 "file, or pass --%s)", missing++ ? ", " : "", k->name, k->name,
			 k->example ? k->example : k->syntax, k->name);
	}
	if (!missing)
		return 0;
	if (missing == 1)
		snprintf(c->err, sizeof(c->err), "required setting '%s' missing: add '%s = %s' to "
			 "the config file or pass --%s", first->name, first->name,
			 first->example ? first->example : first->syntax, first->name);
	else
		snprintf(c->err, sizeof(c->err), "required settings missing: %s", list);
	return ZT_ECONF_MISSING;
}

void zt_conf_usage(const struct zt_conf *c, char *buf, size_t cap)
{
	const struct zt_conf_key *k;
	size_t off = 0;
	int n;

	n = snprintf(buf, cap, "  --config FILE            read settings from FILE (key = value lines)\n");
	off = n > 0 ? (size_t)n : 0;
	for (size_t i = 0; (k = key_at(c, i, NULL)) && off < cap; i++) {
		char left[64];
		if (k->is_flag)
			snprintf(left, sizeof(left), "--%s", k->name);
		else
			snprintf(left, sizeof(left), "--%s %s", k->name, k->syntax);
		n = snprintf(buf + off, cap - off, "  %-24s %s%s%s\n", left, k->help ? k->help : "",
			     k->required ? " (required)" : "", k->repeatable ? " (repeatable)" : "");
		if (n < 0)
			break;
		off += (size_t)n;
	}
}
