/*
 * The NAT report (docs/report-format.md): what `ztna discover --report` measured about
 * one network, as one JSON document (schema 1) a lab can be rebuilt from (`ztna-lab
 * from-report`). Sans-IO: built from a core/natdisc.h result, written to and read from
 * memory; the callers do the files.
 *
 * Unknown or untested values are explicit, never invented: an unset address
 * (family 0), ZT_NAT_BEHAVIOR_UNKNOWN, ZT_NAT_HAIRPIN_UNKNOWN, ZT_NAT_PORTS_UNKNOWN,
 * ZT_NATDISC_LIFETIME_UNTESTED, ZT_NAT_TYPE_UNKNOWN, nat_known false, rtt_samples 0,
 * requests 0 are all written as JSON null (and read back so).
 */
#ifndef ZT_CORE_NATREPORT_H
#define ZT_CORE_NATREPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/addr.h"
#include "core/natdisc.h"

#define ZT_NATREPORT_SCHEMA 1
#define ZT_NATREPORT_MAX 4096   /* the longest document written; longer ones are refused */

struct zt_natreport {
	struct zt_addr server;        /* the STUN server asked (primary address) */
	struct zt_addr server_other;  /* its OTHER-ADDRESS; unset: none (not RFC 5780) */
	struct zt_addr local;         /* the test socket's own address */
	struct zt_addr public_addr;   /* the reflexive address of test I; unset: no answer */
	bool udp_blocked;             /* test I got no answer */
	bool nat_known, nat;          /* is there a NAT (public != local)? */
	enum zt_nat_type type;        /* ZT_NAT_TYPE_UNKNOWN: null */
	enum zt_nat_behavior mapping, filtering;
	enum zt_nat_hairpin hairpin;
	enum zt_nat_ports ports;
	unsigned port_samples;        /* answered samples, local -> public port */
	uint16_t port_local[ZT_NATDISC_MAX_PORT_SAMPLES];
	uint16_t port_public[ZT_NATDISC_MAX_PORT_SAMPLES];
	enum zt_natdisc_lifetime lifetime;
	uint64_t lifetime_alive_ms;   /* with "measured" and "above-max" */
	uint64_t lifetime_gone_ms;    /* with "measured" */
	uint64_t lifetime_max_ms;     /* the longest idle time tried, when tried */
	unsigned rtt_samples;         /* 0: no round trip measured (rtt_* null) */
	uint64_t rtt_min_us, rtt_median_us;
	unsigned requests, answers;   /* loss = (requests - answers) / requests; 0: null */
};

/*
 * A report of a finished discovery: r with the server and the test socket's address
 * it ran with; lifetime_max is the longest idle time tried (0 when --lifetime was not
 * given). The round trips' minimum and median come from r->rtt[].
 */
void zt_natreport_from_result(struct zt_natreport *rep, const struct zt_natdisc_result *r,
			      const struct zt_addr *server, const struct zt_addr *local,
			      uint64_t lifetime_max);

/* The round-trip loss, 0.0 to 1.0; -1 when nothing was sent (null in the document). */
double zt_natreport_loss(const struct zt_natreport *rep);

/*
 * Writes the document (pretty-printed JSON, one member a line, NUL-terminated) into
 * buf. Returns its length, or -ENOBUFS (ZT_NATREPORT_MAX always suffices).
 */
int zt_natreport_write(const struct zt_natreport *rep, char *buf, size_t cap);

/*
 * Reads a document (docs/report-format.md). Members beyond schema 1's are ignored;
 * every schema-1 member must be there with its type, or null where allowed. Returns 0
 * with *ret filled, or ZT_EMALFORMED (not strict JSON, not an object), ZT_ETOOBIG (over
 * ZT_NATREPORT_MAX bytes or tokens), ZT_ECONF_MISSING (a member missing),
 * ZT_ECONF_VALUE (schema not 1, a member of the wrong type or out of range); then
 * *ret_field names the member ("" for the document itself) and *ret_why says what is
 * wrong (static strings). *ret is untouched on failure.
 */
int zt_natreport_parse(const char *text, size_t len, struct zt_natreport *ret,
		       const char **ret_field, const char **ret_why);

#endif
