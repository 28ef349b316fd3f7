#include <stdbool.h>

#include "core/ctrl.h"

#include "theory.h"

const char *zt_sim_expect_name(enum zt_sim_expect e)
{
	switch (e) {
	case ZT_SIM_EXPECT_DIRECT: return "direct";
	case ZT_SIM_EXPECT_RELAY: return "relay";
	case ZT_SIM_EXPECT_NONE: return "none";
	}
	return "?";
}

static bool blocked_chain(const struct zt_sim_net *net, int n)
{
	for (n = net->nodes[n].up; n >= 0; n = net->nodes[n].up)
		if (net->nodes[n].nat.cfg.udp_blocked)
			return true;
	return false;
}

static bool in_chain(const struct zt_sim_net *net, int n, int nat)
{
	for (n = net->nodes[n].up; n >= 0; n = net->nodes[n].up)
		if (n == nat)
			return true;
	return false;
}

/* Layer k of host n's NAT chain as n sees it: a port mapping there for n's socket
 * (net.h portmapped) makes it endpoint-independent both ways, keeping the port. */
static struct zt_sim_nat_cfg layer(const struct zt_sim_net *net, int n, int k)
{
	struct zt_sim_nat_cfg c = net->nodes[k].nat.cfg;

	if (net->nodes[n].portmapped && k == net->nodes[n].up) {
		c.mapping = c.filtering = ZT_SIM_EI;
		c.ports = ZT_SIM_PORTS_PRESERVE;
	}
	return c;
}

/* Folds the NATs from n's up to `last` (inclusive; -1: to the top) into one. */
static void fold(const struct zt_sim_net *net, int n, int last, enum zt_sim_dep *map,
		 enum zt_sim_dep *filt)
{
	*map = ZT_SIM_EI;
	*filt = ZT_SIM_EI;
	for (int k = net->nodes[n].up; k >= 0; k = net->nodes[k].up) {
		struct zt_sim_nat_cfg c = layer(net, n, k);
		if (c.mapping > *map)
			*map = c.mapping;
		if (c.filtering > *filt)
			*filt = c.filtering;
		if (k == last)
			break;
	}
}

bool zt_sim_predictable(const struct zt_sim_net *net, int n)
{
	bool dependent = false;

	for (int k = net->nodes[n].up; k >= 0; k = net->nodes[k].up) {
		struct zt_sim_nat_cfg c = layer(net, n, k);
		if (c.mapping == ZT_SIM_EI && c.ports != ZT_SIM_PORTS_PRESERVE)
			return false;
		if (c.mapping == ZT_SIM_AD ||
		    (c.mapping == ZT_SIM_APD && c.ports != ZT_SIM_PORTS_SEQUENTIAL))
			return false;
		dependent |= c.mapping == ZT_SIM_APD;
	}
	return dependent;
}

void zt_sim_nat_facts(const struct zt_sim_net *net, int n, uint8_t *ret_mapping, uint8_t *ret_ports)
{
	enum zt_sim_dep map, filt;
	bool random = false, sequential = true;

	fold(net, n, -1, &map, &filt);
	for (int k = net->nodes[n].up; k >= 0; k = net->nodes[k].up) {
		struct zt_sim_nat_cfg c = layer(net, n, k);
		if (c.mapping == ZT_SIM_EI)
			continue;
		random |= c.ports == ZT_SIM_PORTS_RANDOM;
		sequential &= c.ports == ZT_SIM_PORTS_SEQUENTIAL;
	}
	*ret_mapping = map == ZT_SIM_EI ? ZT_CTRL_NAT_MAP_INDEPENDENT :
		       map == ZT_SIM_AD ? ZT_CTRL_NAT_MAP_ADDRESS : ZT_CTRL_NAT_MAP_ADDRESS_PORT;
	*ret_ports = map == ZT_SIM_EI ? ZT_CTRL_NAT_PORTS_PRESERVE :
		     random ? ZT_CTRL_NAT_PORTS_RANDOM :
		     sequential ? ZT_CTRL_NAT_PORTS_SEQUENTIAL : ZT_CTRL_NAT_PORTS_PRESERVE;
}

void zt_sim_nat_known(const struct zt_sim_net *net, int n, bool detect, uint8_t *ret_mapping,
		      uint8_t *ret_ports)
{
	zt_sim_nat_facts(net, n, ret_mapping, ret_ports);
	if (detect && *ret_mapping != ZT_CTRL_NAT_MAP_INDEPENDENT &&
	    *ret_ports != ZT_CTRL_NAT_PORTS_SEQUENTIAL)
		*ret_ports = ZT_CTRL_NAT_PORTS_RANDOM;
}

bool zt_sim_birthday_cell(const struct zt_sim_net *net, int a, int b, bool detect)
{
	uint8_t ma, pa, mb, pb;

	zt_sim_nat_known(net, a, detect, &ma, &pa);
	zt_sim_nat_known(net, b, detect, &mb, &pb);
	return (ma == ZT_CTRL_NAT_MAP_INDEPENDENT && mb != ZT_CTRL_NAT_MAP_INDEPENDENT &&
		pb == ZT_CTRL_NAT_PORTS_RANDOM) ||
	       (mb == ZT_CTRL_NAT_MAP_INDEPENDENT && ma != ZT_CTRL_NAT_MAP_INDEPENDENT &&
		pa == ZT_CTRL_NAT_PORTS_RANDOM);
}

enum zt_sim_expect zt_sim_theory(const struct zt_sim_net *net, int a, int b, bool predict)
{
	bool pa, pb;

	enum zt_sim_dep ma, fa, mb, fb;
	int shared = -1;

	if (blocked_chain(net, a) || blocked_chain(net, b))
		return ZT_SIM_EXPECT_NONE;
	if (net->nodes[a].up == net->nodes[b].up)
		return ZT_SIM_EXPECT_DIRECT;
	for (int n = net->nodes[a].up; n >= 0 && shared < 0; n = net->nodes[n].up)
		if (in_chain(net, b, n))
			shared = n;
	if (shared >= 0 && !net->nodes[shared].nat.cfg.hairpin)
		return ZT_SIM_EXPECT_RELAY;
	fold(net, a, shared, &ma, &fa);
	fold(net, b, shared, &mb, &fb);
	if (ma == ZT_SIM_EI && mb == ZT_SIM_EI)
		return ZT_SIM_EXPECT_DIRECT;
	if ((ma == ZT_SIM_EI && fa != ZT_SIM_APD) || (mb == ZT_SIM_EI && fb != ZT_SIM_APD))
		return ZT_SIM_EXPECT_DIRECT;
	/* port prediction (docs/hard-nat.md); not through a shared NAT */
	pa = predict && shared < 0 && zt_sim_predictable(net, a);
	pb = predict && shared < 0 && zt_sim_predictable(net, b);
	if ((ma == ZT_SIM_EI && pb) || (mb == ZT_SIM_EI && pa) || (pa && pb))
		return ZT_SIM_EXPECT_DIRECT;
	return ZT_SIM_EXPECT_RELAY;
}

const char *zt_sim_effective_type(const struct zt_sim_net *net, int n)
{
	static const char *const ei[] = { "full-cone", "address-restricted", "port-restricted" };
	enum zt_sim_dep map, filt;

	if (blocked_chain(net, n))
		return "udp-blocked";
	if (net->nodes[n].up < 0)
		return "open";
	fold(net, n, -1, &map, &filt);
	return map == ZT_SIM_EI ? ei[filt] : "symmetric";
}
