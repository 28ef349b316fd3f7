/*
 * Configuration files and command-line options from one table of keys.
 *
 * File syntax, one setting per line:
 *     # comment
 *     key = value            (value runs to the end of the line, trimmed;
 *                             " #" starts a trailing comment)
 * A key marked repeatable may appear on several lines (e.g. one service per line).
 * The same key is accepted on the command line as --key VALUE or --key=VALUE.
 *
 * Errors are written into the caller's buffer as one line naming the file and line,
 * what was wrong and how to fix it, e.g.
 *     agent.conf:3: unknown key 'forwrd' (did you mean 'forward'?)
 *     agent.conf:5: bad value for 'intermediate': expected ADDR:PORT, e.g. 192.0.2.1:4433
 */
#ifndef ZT_APP_CONF_H
#define ZT_APP_CONF_H

#include <stdbool.h>
#include <stddef.h>

struct zt_conf_key {
	const char *name;
	const char *syntax;   /* what a value looks like, e.g. "ADDR:PORT" */
	const char *example;  /* an example value for error messages, e.g. "192.0.2.1:4433" */
	const char *help;     /* one line for --help */
	/* Applies a value. Returns 0, or a negative code with *why set to a short reason
	 * (may be left NULL: then the syntax is shown). */
	int (*set)(void *ctx, const char *value, const char **why);
	bool repeatable;
	bool required;
	bool is_flag;         /* command line: --name takes no value (value is "1") */
	/* The value is a secret (a token): a config file that sets it must not be readable
	 * or writable by group or others (zt_conf_load refuses it, naming chmod 600). */
	bool secret;
};

struct zt_conf {
	const struct zt_conf_key *keys;
	size_t nkeys;
	void *ctx;
	unsigned seen[64];    /* times each key was set (keys beyond 64 are not counted) */
	char err[512];        /* the last error, one line */
};

void zt_conf_init(struct zt_conf *c, const struct zt_conf_key *keys, size_t nkeys, void *ctx);

/* Parses text (NUL-terminated) named `source` in errors. Returns 0 or a ZT_ECONF_* code. */
int zt_conf_parse(struct zt_conf *c, const char *source, const char *text);
/* Reads and parses a file. Returns 0, -errno (file unreadable), -EPERM (it sets a
 * secret key and group or others may read or write it) or a ZT_ECONF_* code. */
int zt_conf_load(struct zt_conf *c, const char *path);

/*
 * Parses argv[first..argc) as --key VALUE / --key=VALUE options. "--config FILE" loads
 * a file at that point. Positional arguments are an error. Returns 0 or a negative code.
 */
int zt_conf_args(struct zt_conf *c, int argc, char **argv, int first);

/* Checks required keys are set. Returns 0 or ZT_ECONF_MISSING with the error filled. */
int zt_conf_finish(struct zt_conf *c);

/* Writes the option list for --help. */
void zt_conf_usage(const struct zt_conf *c, char *buf, size_t cap);

#endif
