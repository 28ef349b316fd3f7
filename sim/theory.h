/*
 * What RFC 4787 theory says two peers should end with, from the NATs in front of
 * them (sim/net.h), for ICE with server-reflexive and peer-reflexive candidates:
 *
 *  - any UDP-blocking router in front of either peer: no session at all (NONE);
 *  - both on the same segment: DIRECT (host candidates);
 *  - otherwise each side's NAT chain below their lowest shared NAT (or the whole
 *    chain) is folded into one NAT: mapping endpoint-independent only if every layer
 *    is, filtering as strict as the strictest layer. Behind a shared NAT the packets
 *    must hairpin there (DIRECT needs hairpin on, and the shared NAT is part of both
 *    folded chains). Then DIRECT iff
 *        both mappings are EI (each side's srflx is the address it sends from), or
 *        one side's mapping is EI and its filtering is not APD (it accepts the
 *        other side's fresh port, which ICE then learns as peer-reflexive);
 *    else RELAY. For the lab's four types this gives docs/design.md's table: relay exactly
 *    for symmetric x symmetric and symmetric x port-restricted.
 *  - with port prediction on (docs/hard-nat.md) and no shared NAT, a side is
 *    predictable (zt_sim_predictable) when its NATs' ports can be foretold; then
 *    also DIRECT when one side's mapping is EI and the other is predictable (it
 *    checks the predicted ports, which its own filter then lets back in), or both
 *    are predictable (the two sides' checks to each other's predicted ports meet).
 *  - a port mapping at a host's first NAT (net.h portmapped: 'portmap' NAT with
 *    'sim run portmap on') makes that layer endpoint-independent both ways for the
 *    host's socket, keeping its port (RFC 6887 s11), in every rule above.
 *  - birthday probing is not in zt_sim_theory(): its cells (zt_sim_birthday_cell) go
 *    direct with a probability, 1 - (1 - n/P)^m.
 */
#ifndef ZT_SIM_THEORY_H
#define ZT_SIM_THEORY_H

#include <stdint.h>

#include "net.h"

enum zt_sim_expect {
	ZT_SIM_EXPECT_DIRECT = 0,
	ZT_SIM_EXPECT_RELAY = 1,
	ZT_SIM_EXPECT_NONE = 2,
};

/* The expected outcome for hosts a and b; predict: port prediction on. */
enum zt_sim_expect zt_sim_theory(const struct zt_sim_net *net, int a, int b, bool predict);

/*
 * Whether host n's public ports can be predicted: at least one NAT in front of it
 * has address-and-port-dependent mapping, every such NAT allocates ports
 * sequentially, and every endpoint-independent one preserves the inside port (so a
 * new mapping below takes the next port above too). Address-dependent mapping is not
 * predicted (checks to several ports of one address share one mapping). The
 * simulator tells such a node `--nat-ports sequential`, as an operator who ran
 * `ztna discover` would.
 */
bool zt_sim_predictable(const struct zt_sim_net *net, int n);

/* The NAT behaviour host n sees through every NAT in front of it, folded as above,
 * in the lab's words: "full-cone", "address-restricted", "port-restricted",
 * "symmetric" (any endpoint-dependent mapping), "udp-blocked", or "open" (no NAT). */
const char *zt_sim_effective_type(const struct zt_sim_net *net, int n);

/*
 * What host n's operator would configure after `ztna discover` (birthday probing,
 * docs/hard-nat.md): the folded mapping behaviour as enum zt_ctrl_nat_mapping, and
 * the ports as enum zt_ctrl_nat_ports (preserve for an endpoint-independent chain,
 * random when an endpoint-dependent layer picks at random, sequential when all do so
 * in sequence). A host without NAT: independent, preserve.
 */
void zt_sim_nat_facts(const struct zt_sim_net *net, int n, uint8_t *ret_mapping, uint8_t *ret_ports);

/*
 * What host n's own detection finds instead (--nat-ports auto, core/natprobe.c: a
 * second mapping of the main socket, towards the Intermediate's STUN port, compared
 * with the first): as zt_sim_nat_facts(), except that an endpoint-dependent chain
 * that is not sequential reads as random, a port-preserving one included (its first
 * mapping kept the socket's port, the second cannot). detect false: the facts above.
 */
void zt_sim_nat_known(const struct zt_sim_net *net, int n, bool detect, uint8_t *ret_mapping,
		      uint8_t *ret_ports);

/* Whether birthday probing applies between hosts a and b: one side's folded mapping is
 * endpoint-independent, the other's endpoint-dependent with a layer picking ports at
 * random (as zt_sim_nat_known(detect) tells the nodes). Direct then with a probability, 1 - (1 - n/P)^m (docs/hard-nat.md). */
bool zt_sim_birthday_cell(const struct zt_sim_net *net, int a, int b, bool detect);

/* "direct", "relay", "none". */
const char *zt_sim_expect_name(enum zt_sim_expect e);

#endif
