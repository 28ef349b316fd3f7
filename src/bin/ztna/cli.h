/*
 * Shared command-line plumbing for the ztna subcommands: options through app/conf.h
 * (so every option may also come from --config FILE), -v/-vv for the log level,
 * --help, and the value parsers the option tables use.
 *
 * Exit statuses used by discover and punch (documented in their --help):
 *   0 success, 1 the network test failed (its reason printed), 2 bad usage or a local
 *   error (socket, bind); on SIGINT/SIGTERM they clean up and die by the signal
 *   (a shell reports 130 / 143).
 */
#ifndef ZT_BIN_ZTNA_CLI_H
#define ZT_BIN_ZTNA_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "app/conf.h"
#include "core/addr.h"

#define ZT_EXIT_OK 0
#define ZT_EXIT_FAILED 1
#define ZT_EXIT_USAGE 2

/*
 * Parses argv[1..] for subcommand `cmd` against keys (ctx is the setters' context).
 * Strips -v (debug logs), -vv (trace) and -h/--help first. Sets up logging
 * (prog=ztna-CMD, info level, or as -v asks). Returns -1 to go on, or the exit status
 * to return at once: 0 after printing the help (usage_head, then the option table), 2
 * after printing an error to stderr.
 */
int zt_cli_parse(const char *cmd, const char *usage_head, const struct zt_conf_key *keys,
		 size_t nkeys, void *ctx, int argc, char **argv);

/* Defines `static int fn(void *ctx, const char *v, const char **why)` that sets the
 * bool `field` of the struct `type` ctx points at: the setter of an is_flag option. */
#define ZT_CLI_FLAG_SETTER(fn, type, field)                                    \
	static int fn(void *ctx, const char *v, const char **why)              \
	{                                                                      \
		(void)v;                                                       \
		(void)why;                                                     \
		((type *)ctx)->field = true;                                   \
		return 0;                                                      \
	}

/* Value parsers for option setters: 0, or a negative code with *why set. */
int zt_cli_addr(struct zt_addr *ret, const char *v, uint16_t default_port, const char **why);
/* An unsigned integer in [lo, hi]. */
int zt_cli_uint(unsigned *ret, const char *v, unsigned lo, unsigned hi, const char **why);
/* A duration (core/units.h: "5s", "1.5s", "250ms") in (0, max_ns], as ns; a bare
 * number is in scale (ZT_SEC: seconds, ZT_MS: milliseconds), as the option documents. */
int zt_cli_duration(uint64_t *ret, const char *v, uint64_t scale, uint64_t max_ns,
		    const char **why);

/*
 * Ends the process by signal sig (SIGINT, SIGTERM) after the caller has cleaned up:
 * default action restored, the signal unblocked and raised. A program that exits
 * normally on SIGINT makes a calling shell ignore the user's Ctrl-C (bash waits for
 * the child and only acts when it died from the signal), so a script's trap would
 * not run. Returns 128 + sig only if the signal did not end the process.
 */
int zt_cli_reraise(int sig);

/* Writes a JSON string literal (with quotes; "null" for NULL) of s to f. */
void zt_cli_json_str(FILE *f, const char *s);
/* An address as text, or "-" when unset. */
const char *zt_cli_addr_str(const struct zt_addr *a, char buf[ZT_ADDR_STRLEN]);

#endif
