/*
 * Birthday probing measured (docs/hard-nat.md): sessions between a port-restricted
 * cone side and a symmetric side with random ports (each side the agent in turn),
 * one-way access delays 0..100 ms, no loss, the nodes told their NATs ('sim run probe
 * on'); the share that goes direct within 10 s of the coordinated start, against
 * 1 - (1 - n/P)^m for n sprayed sockets, m probes and P = 64,512 ports.
 */
#ifndef ZT_SIM_BIRTHDAY_H
#define ZT_SIM_BIRTHDAY_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "session.h"

struct zt_sim_birthday_cfg {
	unsigned sessions;
	unsigned sockets, probes, rate;   /* 0: the nodes' defaults (core/birthday.h) */
	uint64_t seed;
	bool real;                        /* the real cores (sim/real.h) */
	bool probe_off;                   /* the same sessions without probing */
};

struct zt_sim_birthday_result {
	unsigned ran, direct;             /* direct within 10 s of the start */
	double expected;                  /* 1 - (1 - n/P)^m */
	double lo, hi;                    /* 95 % Wilson interval of direct / ran */
	uint64_t median_ms;               /* time to direct of those, median */
};

/* Runs the sessions. Returns 0, or a negative code when one could not run. */
int zt_sim_birthday_run(const struct zt_sim_birthday_cfg *cfg, struct zt_sim_birthday_result *ret);

/* ztna-sim --birthday: runs and prints. Returns the exit status. */
int zt_sim_birthday_main(const struct zt_sim_birthday_cfg *cfg, FILE *out);

#endif
