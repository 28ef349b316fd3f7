/*
 * Population mode: how many sessions end direct in a population whose NATs follow a
 * given mix of types, with a 95 % confidence interval (Wilson score interval for a
 * binomial share). Each simulated session draws both sides' NAT independently from
 * the mix, one-way access delays uniform in 0..100 ms, no loss, and runs 15 s.
 *
 * Mix file: one "NAME WEIGHT" per line, '#' comments; NAME is none (a public
 * address), full-cone, address-restricted, port-restricted or symmetric; weights are
 * relative. The default mix and its sources are in docs/simulator.md.
 */
#ifndef ZT_SIM_POP_H
#define ZT_SIM_POP_H

#include <stdint.h>
#include <stdio.h>

#include "prop.h"
#include "session.h"

#define ZT_SIM_POP_TYPES 5   /* none, then the lab's four types */

struct zt_sim_pop_mix {
	double weight[ZT_SIM_POP_TYPES]; /* [0] none, [1 + lab type] */
};

/* The documented default mix (docs/simulator.md says where the numbers come from). */
void zt_sim_pop_default(struct zt_sim_pop_mix *ret);

/* Parses a mix file's text. Returns 0, ZT_ESYNTAX, ZT_ECONF_KEY, ZT_ECONF_VALUE. */
int zt_sim_pop_parse(struct zt_sim_pop_mix *ret, const char *text);

/*
 * One session between an agent behind lab NAT type a and a connector behind type b
 * (-1: no NAT), delays drawn from seed, no loss, 15 s, no data flow. Returns 0 or a
 * negative code.
 */
int zt_sim_pop_session(int a, int b, uint64_t seed, const struct zt_sim_variant *v,
		       struct zt_sim_outcome *ret);

/* Wilson 95 % interval for k of n. */
void zt_sim_pop_wilson(unsigned k, unsigned n, double *lo, double *hi);

/* The --population command: prints the estimate to out. Returns the exit status. */
int zt_sim_pop_main(const char *file, unsigned sessions, uint64_t seed, FILE *out);

#endif
