/*
 * The odds the simulator's populations are judged by: how likely a technique is to
 * succeed in theory, and how sure a measured share is. Pure functions.
 */
#ifndef ZT_SIM_ODDS_H
#define ZT_SIM_ODDS_H

/* Wilson 95 % interval for k successes of n (n 0: [0, 1]). */
void zt_sim_wilson(unsigned k, unsigned n, double *lo, double *hi);

/* The expected success of birthday probing: n sockets, m probes over P ports,
 * 1 - (1 - n/P)^m. */
double zt_sim_birthday_expected(unsigned n, unsigned m, unsigned ports);

#endif
