/*
 * The population a --population run draws from (docs/simulator.md, "Population
 * mode"): each side's NAT type, the port allocation of a symmetric NAT, whether its
 * NAT offers a port-mapping protocol, whether it has usable IPv6. Kept apart from the
 * runs (sim/pop.c) so that the parser is fuzzed alone (tests/fuzz/fuzz_popmix.c).
 *
 * Mix file, one item a line, '#' starts a comment:
 *   none|full-cone|address-restricted|port-restricted|symmetric WEIGHT
 *                                  the NAT types (none: a public address); relative
 *   ports random|sequential|preserve WEIGHT
 *                                  how a symmetric NAT allocates ports; relative
 *                                  (none given: random)
 *   portmap SHARE                  share of NATs that grant a port mapping (PCP,
 *                                  NAT-PMP or UPnP IGD); default 0
 *   ipv6 SHARE                     share of sides with usable IPv6; default 0
 * WEIGHT: a number 0..1e9; SHARE: 0..1, or a percentage "30%". Type weights must not
 * all be 0. A later line for the same item replaces the earlier one.
 */
#ifndef ZT_SIM_POPMIX_H
#define ZT_SIM_POPMIX_H

#include <stdbool.h>

#include "core/rng.h"

#define ZT_SIM_POP_TYPES 5   /* none, then the lab's four types */
#define ZT_SIM_POP_PORTS 3   /* random, sequential, preserve (enum zt_scn_ports) */

struct zt_sim_pop_mix {
	double weight[ZT_SIM_POP_TYPES]; /* [0] none, [1 + lab type] */
	double ports[ZT_SIM_POP_PORTS];  /* symmetric NATs' allocation */
	double portmap;                  /* 0..1 */
	double ipv6;                     /* 0..1 */
};

/* One side of a session, as drawn. */
struct zt_sim_pop_side {
	int type;       /* lab NAT type 0..3, or -1: no NAT */
	int ports;      /* enum zt_scn_ports: a symmetric NAT's allocation */
	bool portmap;   /* its NAT grants port mappings */
	bool ipv6;      /* it has usable IPv6 */
};

extern const char *const zt_sim_pop_type_names[ZT_SIM_POP_TYPES];
extern const char *const zt_sim_pop_ports_names[ZT_SIM_POP_PORTS];

/* The documented default mix (docs/simulator.md says where each number comes from). */
void zt_sim_pop_default(struct zt_sim_pop_mix *ret);

/*
 * Parses a mix file's text. Returns 0, or ZT_ESYNTAX (a line without its value, or
 * too long), ZT_ECONF_KEY (an unknown name), ZT_ECONF_VALUE (a value out of range, or
 * all type weights 0) with the line's number in *ret_line (0: the whole file).
 */
int zt_sim_pop_parse(struct zt_sim_pop_mix *ret, const char *text, unsigned *ret_line);

/* Draws one side. Always the same number of draws, whatever the mix. */
void zt_sim_pop_draw(const struct zt_sim_pop_mix *m, struct zt_prng *g, struct zt_sim_pop_side *ret);

#endif
