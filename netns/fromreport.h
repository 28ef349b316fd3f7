/*
 * ztna-lab from-report: a scenario that rebuilds two networks from their NAT reports
 * (`ztna discover --report`, docs/report-format.md; docs/lab.md, "Reproduce a field
 * failure from two reports").
 *
 * Each report becomes a NAT on the public segment (203.0.113.0/24) with one host behind
 * it; a STUN server with two addresses and an Intermediate stand on the public side:
 *
 *     type               -> nat type (open: the host on the public segment, no NAT;
 *                           firewall: a cone NAT of the same filtering; udp-blocked:
 *                           port-restricted with `udp block`; null: refused)
 *     ports              -> `ports` of a symmetric NAT (the lab's cone NATs preserve)
 *     lifetime           -> `timeout` (measured: the middle of alive..gone, whole s)
 *     hairpinning        -> `hairpin on|off` (null: the lab's default, off)
 *     rtt_median_ms / 2  -> `link HOST delay` (one way; under 0.1 ms: none)
 *     loss               -> `link HOST loss`: each direction p, 1 - (1 - p)^2 = loss
 *
 * The file starts with a comment header saying where each value came from and what
 * the lab cannot reproduce.
 */
#ifndef ZT_NETNS_FROMREPORT_H
#define ZT_NETNS_FROMREPORT_H

#include <stddef.h>
#include <stdio.h>

struct zt_fromreport_src {
	const char *path;    /* for comments and errors */
	const char *text;    /* the report document */
	size_t len;
};

/*
 * Writes the scenario for the two reports to out. Returns 0, or a negative code with
 * err filled ("PATH: field FIELD: what is wrong"): a report that does not parse
 * (core/natreport.h's codes), ZT_ECONF_VALUE (a report that cannot be rebuilt: its
 * type is null), -EIO (out failed).
 */
int zt_fromreport(FILE *out, const struct zt_fromreport_src src[2], char *err, size_t errcap);

/* The subcommand (argv[0] is "from-report"): A.json B.json to stdout. Exit status 0;
 * 2 bad usage, a file that cannot be read or a bad report (the message names the file
 * and the field); 1 stdout failed. */
int zt_fromreport_main(int argc, char **argv);

#endif
