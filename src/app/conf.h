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
 * A key applies its value through a setter of its own, or, without one, writes it
 * straight into a field of its table's struct: .kind says what the field holds and how
 * the value is read (durations and sizes in the grammar of core/units.h), .offset and
 * .size where it is (ZT_CONF_FIELD(type, member) fills both). A program's keys may
 * come in several tables (zt_conf_add), each writing into its own struct.
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
#include <stdint.h>

/* What a key without a setter writes at .offset (.size bytes) of its table's struct. */
enum zt_conf_kind {
	ZT_CONF_SETTER = 0,   /* none: .set applies the value */
	ZT_CONF_TEXT,         /* char[.size]: 1 to .size - 1 bytes ("empty or too long") */
	/* uint64_t nanoseconds, a duration of core/units.h (a bare number is seconds) in
	 * [.min, .max] (.max 0: no maximum). With .min above 0, a 0 is "a duration above 0"
	 * (in the core 0 means "the default", which an operator who wrote 0 would not
	 * expect); another value out of range is .why. */
	ZT_CONF_DURATION,
	/* An unsigned field of 4 or 8 bytes: a size or count of core/units.h ("64K", "10M")
	 * in [.min, .max] (.max 0: the field's maximum). Out of range or not a size: .why,
	 * or "a positive number (K, M, G allowed)" / "at most MAX". */
	ZT_CONF_SIZE,
	/* An unsigned field of 4 or 8 bytes: a whole decimal number, no suffix, in
	 * [.min, .max] ("a whole number from MIN to MAX"). */
	ZT_CONF_UINT,
	ZT_CONF_COUNTER,      /* int: one more each time (a repeatable flag: --verbose) */
};

/* .offset and .size of a member of type, for a key of a kind. */
#define ZT_CONF_FIELD(type, member) \
	.offset = offsetof(type, member), .size = sizeof(((type *)0)->member)

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
	/* Without a setter: where the value goes and what it must be (enum zt_conf_kind). */
	enum zt_conf_kind kind;
	size_t offset, size;
	uint64_t min, max;
	const char *why;      /* the reason shown for a value out of range */
};

#define ZT_CONF_TABLES 4
#define ZT_CONF_KEYS 64

struct zt_conf_table {
	const struct zt_conf_key *keys;
	size_t nkeys;
	void *ctx;            /* the setters' context; the struct the fields are in */
};

struct zt_conf {
	struct zt_conf_table tables[ZT_CONF_TABLES];
	size_t ntables;
	unsigned seen[ZT_CONF_KEYS]; /* times each key was set, counted over the tables in
				       order (keys beyond 64 are not counted) */
	bool from_cli[ZT_CONF_KEYS]; /* ... and last by the command line (not a file) */
	char why[96];         /* a reason written for a key of a kind */
	char err[512];        /* the last error, one line */
};

void zt_conf_init(struct zt_conf *c, const struct zt_conf_key *keys, size_t nkeys, void *ctx);
/* Adds a table of keys (after those there are: --help lists them in that order) whose
 * setters get ctx and whose fields are in the struct ctx points to. Returns 0 or
 * -ENOSPC (ZT_CONF_TABLES already). */
int zt_conf_add(struct zt_conf *c, const struct zt_conf_key *keys, size_t nkeys, void *ctx);

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
