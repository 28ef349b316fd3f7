#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "app/conf.h"
#include "core/err.h"

#define MAX_CONF_BYTES (1024 * 1024)

void zt_conf_init(struct zt_conf *c, const struct zt_conf_key *keys, size_t nkeys, void *ctx)
{
	*c = (struct zt_conf){ .keys = keys, .nkeys = nkeys, .ctx = ctx };
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

static const struct zt_conf_key *find_key(const struct zt_conf *c, const char *name, size_t *idx)
{
	for (size_t i = 0; i < c->nkeys; i++)
		if (!strcmp(c->keys[i].name, name)) {
			*idx = i;
			return &c->keys[i];
		}
	return NULL;
}

static int unknown_key(struct zt_conf *c, const char *where, const char *name)
{
	const char *best = NULL;
	size_t bestd = 3;

	for (size_t i = 0; i < c->nkeys; i++) {
		size_t d = edit_distance(name, c->keys[i].name);
		if (d < bestd) {
			bestd = d;
			best = c->keys[i].name;
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

static int apply(struct zt_conf *c, const char *where, const char *name, const char *value,
		 const char *form)
{
	const struct zt_conf_key *k;
	const char *why = NULL;
	size_t idx;
	int rc;

	k = find_key(c, name, &idx);
	if (!k)
		return unknown_key(c, where, name);
	if (idx < 64 && c->seen[idx] && !k->repeatable) {
		snprintf(c->err, sizeof(c->err),
			 "%s: '%s' is set twice (it takes one value; remove one of them)", where, name);
		return ZT_ECONF_VALUE;
	}
	rc = k->set(c->ctx, value, &why);
	if (rc < 0) {
		/* A secret's value is never repeated in a message (it ends up in logs). */
		snprintf(c->err, sizeof(c->err), "%s: bad value '%s' for '%s': %s%sexpected %s%s%s%s",
			 where, k->secret ? "(a secret, not shown)" : value, name, why ? why : "",
			 why ? "; " : "", k->syntax,
			 k->example ? " (e.g. " : "", k->example ? k->example : "",
			 k->example ? ")" : "");
		(void)form;
		return rc == -ENOMEM ? rc : ZT_ECONF_VALUE;
	}
	if (idx < 64)
		c->seen[idx]++;
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
			snprintf(c->err, sizeof(c->err),
				 "%s: expected 'key = value', got '%s'", where, s);
			return ZT_ESYNTAX;
		}
		*eq = '\0';
		key = trim(s);
		value = trim(eq + 1);
		if (!*key) {
			snprintf(c->err, sizeof(c->err), "%s: missing key before '='", where);
			return ZT_ESYNTAX;
		}
		int rc = apply(c, where, key, value, "file");
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* A file that set a secret key (seen[] grew) must be private to its owner. */
static int check_secret_mode(struct zt_conf *c, const char *path, int fd, const unsigned *before)
{
	struct stat st;

	for (size_t i = 0; i < c->nkeys && i < 64; i++) {
		if (!c->keys[i].secret || c->seen[i] == before[i])
			continue;
		if (fstat(fd, &st) == 0 && !(st.st_mode & 077))
			return 0;
		snprintf(c->err, sizeof(c->err), "%s: sets '%s', a secret, and is readable or "
			 "writable by group or others: chmod 600 %s", path, c->keys[i].name, path);
		return -EPERM;
	}
	return 0;
}

int zt_conf_load(struct zt_conf *c, const char *path)
{
	unsigned seen[64];
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
		k = find_key(c, name, &idx);
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
		rc = apply(c, where, name, value, "option");
		if (rc < 0)
			return rc;
	}
	return 0;
}

int zt_conf_finish(struct zt_conf *c)
{
	for (size_t i = 0; i < c->nkeys && i < 64; i++)
		if (c->keys[i].required && !c->seen[i]) {
			snprintf(c->err, sizeof(c->err),
				 "required setting '%s' missing: add '%s = %s' to the config file "
				 "or pass --%s",
				 c->keys[i].name, c->keys[i].name,
				 c->keys[i].example ? c->keys[i].example : c->keys[i].syntax,
				 c->keys[i].name);
			return ZT_ECONF_MISSING;
		}
	return 0;
}

void zt_conf_usage(const struct zt_conf *c, char *buf, size_t cap)
{
	size_t off = 0;
	int n;

	n = snprintf(buf, cap, "  --config FILE            read settings from FILE (key = value lines)\n");
	off = n > 0 ? (size_t)n : 0;
	for (size_t i = 0; i < c->nkeys && off < cap; i++) {
		char left[64];
		const struct zt_conf_key *k = &c->keys[i];
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
