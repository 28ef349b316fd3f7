/*
 * Simulator scenario files: a lab scenario file (docs/scenario-format.md, parsed by
 * the lab's own parser, netns/scenario.c) plus lines starting with `sim` that only
 * the simulator reads (docs/simulator.md):
 *
 *   sim session agent NODE connector NODE relay NODE   who runs what (required)
 *   sim nat NAT mapping ei|ad|apd filtering ei|ad|apd [ports preserve|random|sequential]
 *           [refresh out|both]                         RFC 4787 terms, overriding 'type'
 *   sim link NODE reorder PCT                          reordering on NODE's uplink
 *   sim run [duration D] [skew D] [skew-side agent|connector] [data D] [shuffle on|off]
 *           [predict on|off]                           port prediction (docs/hard-nat.md)
 *           [probe on|off] [probe-sockets N] [probe-count N] [probe-rate N]
 *                                                      birthday probing (hard-nat.md)
 *           [detect on|off]                            ... told what --nat-ports auto finds
 *           [portmap on|off]                           the nodes ask the NAT in front
 *                                                      for a port mapping (--portmap auto)
 *                                                      when it has a 'portmap' key
 *   sim block NAT peer NODE from T until T             NAT drops traffic with NODE's
 *                                                      public address (path failure)
 *   sim expect direct|relay|none                       the outcome to check
 *
 * D and T are durations, PCT a percentage, in core/units.h's grammar ("1.5s", "2.5%";
 * a unit is required except for 0).
 *
 * The lab ignores nothing: it refuses `sim` lines, so a .sim file is not a .lab file;
 * but every .lab file is a valid simulator scenario once a `sim session` line is
 * added (or given on the command line).
 */
#ifndef ZT_SIM_SIMSCN_H
#define ZT_SIM_SIMSCN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nat.h"
#include "../netns/scenario.h"

#define ZT_SIM_SCN_BLOCKS 8

struct zt_sim_scn {
	struct zt_scn lab;
	/* set by a 'sim nat' line, and for every symmetric NAT from its 'ports' */
	bool nat_set[ZT_SCN_MAX_NODES];
	struct zt_sim_nat_cfg nat[ZT_SCN_MAX_NODES];   /* when nat_set */
	uint32_t reorder_ppm[ZT_SCN_MAX_NODES];
	char agent[ZT_SCN_NAME_MAX + 1], connector[ZT_SCN_NAME_MAX + 1], relay[ZT_SCN_NAME_MAX + 1];
	uint64_t duration;      /* default 60 s */
	uint64_t skew;          /* added to one side's start moment; default 0 */
	bool skew_connector;    /* skew the connector (default: the agent) */
	uint64_t data_interval; /* default 50 ms; 0 in the file: "data off" */
	bool shuffle;
	bool predict_off;       /* "predict off": the nodes run with --predict off */
	/* "probe on": the nodes are told their NAT (mapping, ports) and may spray from
	 * probe_sockets sockets, probe probe_count times at probe_rate (0: defaults) */
	bool probe;
	unsigned probe_sockets, probe_count, probe_rate;
	/* "detect on": with probe on, the nodes are told what their own detection finds
	 * (--nat-ports auto: a preserving symmetric NAT reads as random) instead of what
	 * `ztna discover` reports (theory.h zt_sim_nat_known) */
	bool detect;
	/* "portmap on": agent and connector run --portmap auto: each gets a port mapping
	 * from the NAT in front of it when that NAT has a 'portmap' key (default off, as
	 * the programs' --portmap) */
	bool portmap;
	struct { char nat[ZT_SCN_NAME_MAX + 1], peer[ZT_SCN_NAME_MAX + 1]; uint64_t from, until; }
		blocks[ZT_SIM_SCN_BLOCKS];
	unsigned nblocks;
	int expect;             /* enum zt_sim_expect, or -1 when not given */
};

/* Sets the defaults (no topology). */
void zt_sim_scn_defaults(struct zt_sim_scn *s);

/*
 * Parses scenario text. Returns 0, or a zt_scn_parse() code / ZT_ESYNTAX,
 * ZT_ECONF_KEY, ZT_ECONF_VALUE, ZT_ECONF_REF, ZT_ECONF_MISSING with err filled
 * ("FILE:LINE: ..."). A missing `sim session` line is not an error here (the caller
 * may name the nodes); zt_sim_scn_check() reports it.
 */
int zt_sim_scn_parse(struct zt_sim_scn *ret, const char *text, size_t len,
		     const char *filename, struct zt_scn_error *err);
/* Reads and parses a file. Also returns -errno when it cannot be read. */
int zt_sim_scn_load(struct zt_sim_scn *ret, const char *path, struct zt_scn_error *err);

/* Checks the session names: agent and connector are hosts (or servers), relay a
 * server. Returns 0 or ZT_ECONF_MISSING / ZT_ECONF_REF with err filled. */
int zt_sim_scn_check(const struct zt_sim_scn *s, struct zt_scn_error *err);

#endif
