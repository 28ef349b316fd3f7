#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/units.h"
#include "draw.h"
#include "pop.h"
#include "prop.h"

static const char *const type_names[ZT_SIM_POP_TYPES] = {
	"none", "full-cone", "address-restricted", "port-restricted", "symmetric",
};

void zt_sim_pop_default(struct zt_sim_pop_mix *m)
{
	/*
	 * docs/simulator.md, "Default mix" (also scenarios/sim/nat-mix-default.txt):
	 * 82 % of NATs endpoint-independent, 18 % not (Ford, Srisuresh, Kegel, USENIX
	 * ATC 2005: UDP hole punching worked with 82 % of the NATs tested); the split of
	 * the 82 % by filtering (20/20/60 full/address/port-restricted) is an assumption,
	 * not a measurement; no side without NAT.
	 */
	*m = (struct zt_sim_pop_mix){ .weight = { 0, 16.4, 16.4, 49.2, 18 } };
}

int zt_sim_pop_parse(struct zt_sim_pop_mix *ret, const char *text)
{
	struct zt_sim_pop_mix m = { 0 };
	const char *p = text;
	double total = 0;

	while (*p) {
		char line[256], name[64];
		const char *e = strchr(p, '\n');
		size_t l = e ? (size_t)(e - p) : strlen(p);
		double w;
		int k;

		if (l >= sizeof(line))
			return ZT_ESYNTAX;
		memcpy(line, p, l);
		line[l] = '\0';
		p += l + (e ? 1 : 0);
		if (strchr(line, '#'))
			*strchr(line, '#') = '\0';
		k = sscanf(line, "%63s %lf", name, &w);
		if (k <= 0)
			continue;
		if (k != 2)
			return ZT_ESYNTAX;
		for (k = 0; k < ZT_SIM_POP_TYPES; k++)
			if (!strcmp(name, type_names[k]))
				break;
		if (k == ZT_SIM_POP_TYPES)
			return ZT_ECONF_KEY;
		if (!(w >= 0) || w > 1e9)
			return ZT_ECONF_VALUE;
		m.weight[k] = w;
		total += w;
	}
	if (total <= 0)
		return ZT_ECONF_VALUE;
	*ret = m;
	return 0;
}

int zt_sim_pop_session(int a, int b, uint64_t seed, const struct zt_sim_variant *v,
		       struct zt_sim_outcome *ret)
{
	struct zt_sim_prop_params p = {
		.type = { a, b }, .outer = { -1, -1 }, .duration = 15 * ZT_SEC,
	};
	static __thread struct zt_sim_scn scn;
	struct zt_sim_session_cfg cfg = { .scn = &scn, .seed = seed };
	struct zt_scn_error err;
	struct zt_prng g;
	char text[4096];
	int n;

	zt_prng_seed(&g, seed ^ 0x9090ULL);
	p.delay[0] = zt_sim_range(&g, 0, 100000) * ZT_US;
	p.delay[1] = zt_sim_range(&g, 0, 100000) * ZT_US;
	p.relay_delay = zt_sim_range(&g, 0, 30000) * ZT_US;
	if (v)
		p.v = *v;
	n = zt_sim_prop_text(&p, seed, text, sizeof(text));
	if (n < 0)
		return n;
	n = zt_sim_scn_parse(&scn, text, (size_t)n, "pop", &err);
	if (n < 0)
		return n;
	return zt_sim_session_run(&cfg, ret);
}

void zt_sim_pop_wilson(unsigned k, unsigned n, double *lo, double *hi)
{
	const double z = 1.959964;
	double p, d, c, h;

	if (!n) {
		*lo = 0;
		*hi = 1;
		return;
	}
	p = (double)k / n;
	d = 1 + z * z / n;
	c = (p + z * z / (2.0 * n)) / d;
	h = z * sqrt(p * (1 - p) / n + z * z / (4.0 * n * n)) / d;
	*lo = c - h < 0 ? 0 : c - h;
	*hi = c + h > 1 ? 1 : c + h;
}

static int draw_type(const struct zt_sim_pop_mix *m, struct zt_prng *g)
{
	double total = 0, x;

	for (int i = 0; i < ZT_SIM_POP_TYPES; i++)
		total += m->weight[i];
	x = zt_sim_unit(g) * total;
	for (int i = 0; i < ZT_SIM_POP_TYPES; i++) {
		if (x < m->weight[i])
			return i - 1;
		x -= m->weight[i];
	}
	return ZT_SIM_POP_TYPES - 2;
}

int zt_sim_pop_main(const char *file, unsigned sessions, uint64_t seed, FILE *out)
{
	struct zt_sim_pop_mix mix;
	unsigned direct = 0, ran = 0, theory_direct = 0;
	unsigned cell[ZT_SIM_POP_TYPES][ZT_SIM_POP_TYPES][2] = { 0 };
	struct zt_prng g;
	double lo, hi, total = 0;

	if (file) {
		FILE *f = fopen(file, "r");
		char text[8192];
		size_t n;
		int rc;
		if (!f) {
			fprintf(stderr, "ztna-sim: %s: %s\n", file, strerror(errno));
			return 2;
		}
		n = fread(text, 1, sizeof(text) - 1, f);
		fclose(f);
		text[n] = '\0';
		rc = zt_sim_pop_parse(&mix, text);
		if (rc < 0) {
			fprintf(stderr, "ztna-sim: %s: bad mix file (%s)\n", file, zt_strerror(rc));
			return 2;
		}
	} else {
		zt_sim_pop_default(&mix);
	}
	for (int i = 0; i < ZT_SIM_POP_TYPES; i++)
		total += mix.weight[i];
	fprintf(out, "NAT mix (%s):", file ? file : "default, docs/simulator.md");
	for (int i = 0; i < ZT_SIM_POP_TYPES; i++)
		fprintf(out, " %s %.1f%%", type_names[i], 100 * mix.weight[i] / total);
	fprintf(out, "\n");
	zt_prng_seed(&g, seed);
	for (unsigned s = 0; s < sessions; s++) {
		struct zt_sim_outcome o;
		int a = draw_type(&mix, &g), b = draw_type(&mix, &g);
		if (zt_sim_pop_session(a, b, seed * 1000003 + s, NULL, &o) < 0)
			continue;
		ran++;
		direct += o.final_path == ZT_SIM_PATH_DIRECT;
		theory_direct += o.theory == ZT_SIM_EXPECT_DIRECT;
		cell[a + 1][b + 1][0]++;
		cell[a + 1][b + 1][1] += o.final_path == ZT_SIM_PATH_DIRECT;
	}
	zt_sim_pop_wilson(direct, ran, &lo, &hi);
	fprintf(out, "sessions %u: direct %u = %.1f %% (95 %% CI %.1f-%.1f %%); theory says %.1f %%\n",
		ran, direct, ran ? 100.0 * direct / ran : 0, 100 * lo, 100 * hi,
		ran ? 100.0 * theory_direct / ran : 0);
	fprintf(out, "per pair (agent x connector): direct/sessions\n");
	for (int a = 0; a < ZT_SIM_POP_TYPES; a++)
		for (int b = 0; b < ZT_SIM_POP_TYPES; b++)
			if (cell[a][b][0])
				fprintf(out, "  %-18s x %-18s %4u/%-4u\n", type_names[a], type_names[b],
					cell[a][b][1], cell[a][b][0]);
	return 0;
}
