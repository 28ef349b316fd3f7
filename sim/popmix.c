#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "draw.h"
#include "popmix.h"

const char *const zt_sim_pop_type_names[ZT_SIM_POP_TYPES] = {
	"none", "full-cone", "address-restricted", "port-restricted", "symmetric",
};
const char *const zt_sim_pop_ports_names[ZT_SIM_POP_PORTS] = {
	"random", "sequential", "preserve",
};

void zt_sim_pop_default(struct zt_sim_pop_mix *m)
{
	/*
	 * docs/simulator.md, "Default mix" (also scenarios/sim/nat-mix-default.txt):
	 * 82 % of NATs endpoint-independent, 18 % not (Ford, Srisuresh, Kegel, USENIX
	 * ATC 2005); the split of the 82 % by filtering (20/20/60), the symmetric NATs'
	 * allocation (50/30/20 random/sequential/preserve) and the 30 % of NATs granting
	 * a port mapping are assumptions (DiCioccio et al., PAM 2012: most homes' gateways
	 * gave no UPnP answer); IPv6 on 42 % of sides (APNIC Labs, 2026); no public side.
	 */
	*m = (struct zt_sim_pop_mix){
		.weight = { 0, 16.4, 16.4, 49.2, 18 },
		.ports = { 50, 30, 20 },
		.portmap = 0.30,
		.ipv6 = 0.42,
	};
}

static int index_of(const char *const *names, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(name, names[i]))
			return i;
	return -1;
}

/* A number 0..max, or (percent) "N%" for N in 0..100 given as a share. */
static int number(const char *t, double max, bool percent, double *ret)
{
	char *end;
	double v = strtod(t, &end);

	if (end == t)
		return ZT_ECONF_VALUE;
	if (percent && *end == '%') {
		v /= 100;
		end++;
	}
	if (*end || !(v >= 0) || v > max)
		return ZT_ECONF_VALUE;
	*ret = v;
	return 0;
}

/* One line's tokens: name [arg] value. Returns 0 or a code. */
static int item(struct zt_sim_pop_mix *m, char **tok, int n)
{
	int k;

	if (!strcmp(tok[0], "ports")) {
		if (n != 3)
			return ZT_ESYNTAX;
		if ((k = index_of(zt_sim_pop_ports_names, ZT_SIM_POP_PORTS, tok[1])) < 0)
			return ZT_ECONF_KEY;
		return number(tok[2], 1e9, false, &m->ports[k]);
	}
	if (n != 2)
		return ZT_ESYNTAX;
	if (!strcmp(tok[0], "portmap"))
		return number(tok[1], 1, true, &m->portmap);
	if (!strcmp(tok[0], "ipv6"))
		return number(tok[1], 1, true, &m->ipv6);
	if ((k = index_of(zt_sim_pop_type_names, ZT_SIM_POP_TYPES, tok[0])) < 0)
		return ZT_ECONF_KEY;
	return number(tok[1], 1e9, false, &m->weight[k]);
}

int zt_sim_pop_parse(struct zt_sim_pop_mix *ret, const char *text, unsigned *ret_line)
{
	struct zt_sim_pop_mix m = { 0 };
	const char *p = text;
	double total = 0;
	unsigned lineno = 0;

	*ret_line = 0;
	while (*p) {
		char line[256], *tok[4], *save = NULL, *t;
		const char *e = strchr(p, '\n');
		size_t l = e ? (size_t)(e - p) : strlen(p);
		int n = 0, rc;

		lineno++;
		*ret_line = lineno;
		if (l >= sizeof(line))
			return ZT_ESYNTAX;
		memcpy(line, p, l);
		line[l] = '\0';
		p += l + (e ? 1 : 0);
		if ((t = strchr(line, '#')))
			*t = '\0';
		for (t = strtok_r(line, " \t\r", &save); t; t = strtok_r(NULL, " \t\r", &save)) {
			if (n == 4)
				return ZT_ESYNTAX;
			tok[n++] = t;
		}
		if (!n)
			continue;
		if ((rc = item(&m, tok, n)) < 0)
			return rc;
	}
	*ret_line = 0;
	for (int i = 0; i < ZT_SIM_POP_TYPES; i++)
		total += m.weight[i];
	if (total <= 0)
		return ZT_ECONF_VALUE;
	*ret = m;
	return 0;
}

/* The index x (0..1) falls on by weight; a rounding past the end takes the last
 * index with a weight. */
static int pick(const double *w, int n, double x)
{
	double total = 0;
	int last = 0;

	for (int i = 0; i < n; i++) {
		total += w[i];
		if (w[i] > 0)
			last = i;
	}
	if (total <= 0)
		return 0;
	x *= total;
	for (int i = 0; i < n; i++) {
		if (x < w[i])
			return i;
		x -= w[i];
	}
	return last;
}

void zt_sim_pop_draw(const struct zt_sim_pop_mix *m, struct zt_prng *g, struct zt_sim_pop_side *ret)
{
	double t = zt_sim_unit(g), p = zt_sim_unit(g), pm = zt_sim_unit(g), v6 = zt_sim_unit(g);

	*ret = (struct zt_sim_pop_side){
		.type = pick(m->weight, ZT_SIM_POP_TYPES, t) - 1,
		.ports = pick(m->ports, ZT_SIM_POP_PORTS, p),
		.portmap = pm < m->portmap,
		.ipv6 = v6 < m->ipv6,
	};
	if (ret->type < 0)
		ret->portmap = false;  /* no NAT, nothing to map */
	if (ret->type != 3)
		ret->ports = 0;
}
