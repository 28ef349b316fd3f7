/*
 * Population mode: how many sessions end direct in a population drawn from a mix
 * (sim/popmix.h: NAT types, symmetric NATs' port allocation, port-mapping gateways,
 * IPv6), with the node's techniques on (port prediction, birthday probing, port
 * mapping) or any of them off, with a 95 % confidence interval (Wilson score interval
 * for a binomial share), the theory's expected share and its interval, and how many
 * sessions each technique made direct. Each session draws both sides independently,
 * one-way access delays uniform in 0..100 ms, no loss, and runs 15 s over IPv4.
 *
 * IPv6 is not simulated (the simulator carries IPv4 only): a session both of whose
 * sides have usable IPv6 and that did not go direct over IPv4 is counted direct by
 * theory alone, and reported apart (docs/simulator.md says why and what it assumes).
 */
#ifndef ZT_SIM_POP_H
#define ZT_SIM_POP_H

#include <stdint.h>
#include <stdio.h>

#include "popmix.h"
#include "prop.h"
#include "session.h"

/* What a session may use. */
struct zt_sim_pop_tech {
	bool predict;   /* port prediction (sequential symmetric NATs) */
	bool probe;     /* birthday probing (random symmetric NAT x endpoint-independent) */
	bool detect;    /* the nodes know their NAT as their own detection finds it
			   (--nat-ports auto, the programs' default: a preserving symmetric
			   NAT reads as random and sprays); false: as `ztna discover`
			   reports it (preserving: no spraying) */
	bool portmap;   /* the nodes ask their gateway for a port mapping */
	bool ipv6;      /* IPv6 host candidates (theory only) */
};

/* How a direct session got there (pop_attribute). */
enum zt_sim_pop_via {
	ZT_SIM_POP_PLAIN = 0,     /* plain ICE: host, srflx, prflx candidates */
	ZT_SIM_POP_PORTMAP = 1,
	ZT_SIM_POP_PREDICT = 2,
	ZT_SIM_POP_PROBE = 3,
	ZT_SIM_POP_IPV6 = 4,      /* theory only */
	ZT_SIM_POP_VIAS = 5,
};

/*
 * One session between an agent behind lab NAT type a and a connector behind type b
 * (-1: no NAT), delays drawn from seed, no loss, 15 s, no data flow; v: a variant or
 * NULL. Returns 0 or a negative code.
 */
int zt_sim_pop_session(int a, int b, uint64_t seed, const struct zt_sim_variant *v,
		       struct zt_sim_outcome *ret);

/* The same for two drawn sides with the techniques t (IPv6 aside: IPv4 only). */
int zt_sim_pop_session_sides(const struct zt_sim_pop_side s[2], const struct zt_sim_pop_tech *t,
			     uint64_t seed, struct zt_sim_outcome *ret);

struct zt_sim_pop_cfg {
	const char *file;               /* mix file, or NULL: the default */
	unsigned sessions;
	uint64_t seed;
	struct zt_sim_pop_tech tech;
};

struct zt_sim_pop_result {
	unsigned ran;
	unsigned direct;                /* direct over IPv4 (simulated) or IPv6 (theory) */
	unsigned direct_v4;             /* of those, simulated */
	unsigned via[ZT_SIM_POP_VIAS];  /* direct sessions by technique */
	unsigned unexplained;           /* direct where theory gives no way */
	unsigned disagree;              /* deterministic cells whose outcome differs from theory */
	unsigned probe_cells, probe_direct; /* birthday cells (random outcome) and their hits */
	double expected;                /* theory: expected direct sessions */
	double expected_var;            /* ... its variance (the birthday cells) */
	double lo, hi;                  /* Wilson 95 % of direct / ran */
	double theory_lo, theory_hi;    /* theory's 95 % interval for the share */
	unsigned cell[ZT_SIM_POP_TYPES][ZT_SIM_POP_TYPES][2]; /* sessions, direct per type pair */
};

/* Runs the sessions of cfg from mix. Returns 0 or the first session's error. */
int zt_sim_pop_run(const struct zt_sim_pop_mix *mix, const struct zt_sim_pop_cfg *cfg,
		   struct zt_sim_pop_result *ret);

/* The --population command: prints the estimate to out. Returns the exit status. */
int zt_sim_pop_main(const struct zt_sim_pop_cfg *cfg, FILE *out);

#endif
