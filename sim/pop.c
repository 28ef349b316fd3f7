#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/birthday.h"
#include "odds.h"
#include "core/err.h"
#include "core/units.h"
#include "draw.h"
#include "pop.h"
#include "prop.h"

#define POP_PORTS (ZT_BIRTHDAY_PORT_HI - ZT_BIRTHDAY_PORT_LO + 1)

static const char *const via_names[ZT_SIM_POP_VIAS] = {
	"plain ICE", "port mapping", "port prediction", "birthday probing", "IPv6 (theory only)",
};

/* A session's delays, from its seed: access links 0-100 ms, the relay's 0-30 ms. */
static void pop_delays(struct zt_sim_prop_params *p, uint64_t seed)
{
	struct zt_prng g;

	zt_prng_seed(&g, seed ^ 0x9090ULL);
	p->delay[0] = zt_sim_range(&g, 0, 100000) * ZT_US;
	p->delay[1] = zt_sim_range(&g, 0, 100000) * ZT_US;
	p->relay_delay = zt_sim_range(&g, 0, 30000) * ZT_US;
}

/* The scenario text of one session: sides s, techniques t (NULL: none), delays from seed. */
static int pop_text(const struct zt_sim_pop_side s[2], const struct zt_sim_pop_tech *t,
		    uint64_t seed, char *buf, size_t cap)
{
	struct zt_sim_prop_params p = {
		.type = { s[0].type, s[1].type }, .outer = { -1, -1 },
		.ports = { s[0].ports, s[1].ports }, .portmap = { s[0].portmap, s[1].portmap },
		.duration = 15 * ZT_SEC,
		.v = { .predict_off = !t || !t->predict, .probe = t && t->probe,
		       .detect = t && t->probe && t->detect, .portmap = t && t->portmap },
	};

	pop_delays(&p, seed);
	return zt_sim_prop_text(&p, seed, buf, cap);
}

static int pop_parse(const struct zt_sim_pop_side s[2], const struct zt_sim_pop_tech *t,
		     uint64_t seed, struct zt_sim_scn *scn)
{
	struct zt_scn_error err;
	char text[4096];
	int n = pop_text(s, t, seed, text, sizeof(text));

	if (n < 0)
		return n;
	return zt_sim_scn_parse(scn, text, (size_t)n, "pop", &err);
}

int zt_sim_pop_session_sides(const struct zt_sim_pop_side s[2], const struct zt_sim_pop_tech *t,
			     uint64_t seed, struct zt_sim_outcome *ret)
{
	static __thread struct zt_sim_scn scn;
	struct zt_sim_session_cfg cfg = { .scn = &scn, .seed = seed };
	int rc = pop_parse(s, t, seed, &scn);

	return rc < 0 ? rc : zt_sim_session_run(&cfg, ret);
}

int zt_sim_pop_session(int a, int b, uint64_t seed, const struct zt_sim_variant *v,
		       struct zt_sim_outcome *ret)
{
	static __thread struct zt_sim_scn scn;
	struct zt_sim_prop_params p = {
		.type = { a, b }, .outer = { -1, -1 }, .duration = 15 * ZT_SEC,
	};
	struct zt_sim_session_cfg cfg = { .scn = &scn, .seed = seed };
	struct zt_scn_error err;
	char text[4096];
	int n;

	pop_delays(&p, seed);
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

/* What theory says for the sides with techniques t only. */
static int theory_with(const struct zt_sim_pop_side s[2], const struct zt_sim_pop_tech *t,
		       uint64_t seed, enum zt_sim_expect *ret)
{
	static __thread struct zt_sim_scn scn;
	struct zt_sim_session_cfg cfg = { .scn = &scn, .seed = seed };
	const char *types[2];
	int rc = pop_parse(s, t, seed, &scn);

	return rc < 0 ? rc : zt_sim_session_theory(&cfg, ret, types);
}

/* Which technique made an IPv4 session direct: the first of plain ICE, port mapping,
 * prediction under which theory says direct; probing for a birthday cell. Returns
 * ZT_SIM_POP_VIAS when theory gives no way (counted as unexplained). */
static int attribute(const struct zt_sim_pop_side s[2], const struct zt_sim_pop_tech *t,
		     uint64_t seed, const struct zt_sim_outcome *o)
{
	struct zt_sim_pop_tech only = { .portmap = t->portmap };
	enum zt_sim_expect e;

	if (o->theory != ZT_SIM_EXPECT_DIRECT)
		return o->birthday_cell ? ZT_SIM_POP_PROBE : ZT_SIM_POP_VIAS;
	if (theory_with(s, NULL, seed, &e) == 0 && e == ZT_SIM_EXPECT_DIRECT)
		return ZT_SIM_POP_PLAIN;
	if (t->portmap && theory_with(s, &only, seed, &e) == 0 && e == ZT_SIM_EXPECT_DIRECT)
		return ZT_SIM_POP_PORTMAP;
	return ZT_SIM_POP_PREDICT;
}

/* Books one session: o over IPv4, v6: both sides have IPv6 and it is on. */
static void book(struct zt_sim_pop_result *r, const struct zt_sim_pop_side s[2],
		 const struct zt_sim_pop_tech *t, uint64_t seed, const struct zt_sim_outcome *o,
		 bool v6)
{
	double pb = zt_sim_birthday_expected(ZT_BIRTHDAY_SOCKETS, ZT_BIRTHDAY_COUNT, POP_PORTS);
	bool direct4 = o->final_path == ZT_SIM_PATH_DIRECT;
	bool random = o->theory != ZT_SIM_EXPECT_DIRECT && o->birthday_cell;
	double p = o->theory == ZT_SIM_EXPECT_DIRECT ? 1 : random ? pb : 0;

	r->ran++;
	if (!random && direct4 != (o->theory == ZT_SIM_EXPECT_DIRECT))
		r->disagree++;
	if (random) {
		r->probe_cells++;
		r->probe_direct += direct4;
	}
	if (direct4) {
		int via = attribute(s, t, seed, o);
		r->direct_v4++;
		if (via == ZT_SIM_POP_VIAS)
			r->unexplained++;
		else
			r->via[via]++;
	} else if (v6) {
		r->via[ZT_SIM_POP_IPV6]++;
	}
	if (v6)
		p = 1;
	r->direct += direct4 || v6;
	r->expected += p;
	r->expected_var += p * (1 - p);
	r->cell[s[0].type + 1][s[1].type + 1][0]++;
	r->cell[s[0].type + 1][s[1].type + 1][1] += direct4 || v6;
}

int zt_sim_pop_run(const struct zt_sim_pop_mix *mix, const struct zt_sim_pop_cfg *cfg,
		   struct zt_sim_pop_result *r)
{
	struct zt_prng g;
	double sd;

	memset(r, 0, sizeof(*r));
	zt_prng_seed(&g, cfg->seed);
	for (unsigned i = 0; i < cfg->sessions; i++) {
		struct zt_sim_pop_side s[2];
		struct zt_sim_outcome o;
		uint64_t seed = cfg->seed * 1000003 + i;
		int rc;

		zt_sim_pop_draw(mix, &g, &s[0]);
		zt_sim_pop_draw(mix, &g, &s[1]);
		rc = zt_sim_pop_session_sides(s, &cfg->tech, seed, &o);
		if (rc < 0)
			return rc;
		book(r, s, &cfg->tech, seed, &o, cfg->tech.ipv6 && s[0].ipv6 && s[1].ipv6);
	}
	zt_sim_wilson(r->direct, r->ran, &r->lo, &r->hi);
	sd = sqrt(r->expected_var);
	r->theory_lo = r->ran ? (r->expected - 1.959964 * sd) / r->ran : 0;
	r->theory_hi = r->ran ? (r->expected + 1.959964 * sd) / r->ran : 1;
	return 0;
}

static int load_mix(const char *file, struct zt_sim_pop_mix *mix)
{
	FILE *f;
	char text[8192];
	size_t n;
	unsigned line;
	int rc;

	if (!file) {
		zt_sim_pop_default(mix);
		return 0;
	}
	if (!(f = fopen(file, "r"))) {
		fprintf(stderr, "ztna-sim: %s: %s\n", file, strerror(errno));
		return -1;
	}
	n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	rc = n == sizeof(text) - 1 ? ZT_ETOOBIG : zt_sim_pop_parse(mix, text, &line);
	if (rc < 0) {
		fprintf(stderr, "ztna-sim: %s:%u: bad mix file (%s); lines are 'TYPE WEIGHT', "
			"'ports random|sequential|preserve WEIGHT', 'portmap SHARE', 'ipv6 SHARE' "
			"(docs/simulator.md)\n", file, line, zt_strerror(rc));
		return -1;
	}
	return 0;
}

static void print_mix(const struct zt_sim_pop_mix *m, const struct zt_sim_pop_cfg *cfg, FILE *out)
{
	double total = 0, ptotal = 0;

	for (int i = 0; i < ZT_SIM_POP_TYPES; i++)
		total += m->weight[i];
	for (int i = 0; i < ZT_SIM_POP_PORTS; i++)
		ptotal += m->ports[i];
	fprintf(out, "NAT mix (%s):", cfg->file ? cfg->file : "default, docs/simulator.md");
	for (int i = 0; i < ZT_SIM_POP_TYPES; i++)
		fprintf(out, " %s %.1f%%", zt_sim_pop_type_names[i], 100 * m->weight[i] / total);
	fprintf(out, "\n  symmetric NATs' ports:");
	for (int i = 0; i < ZT_SIM_POP_PORTS; i++)
		fprintf(out, " %s %.1f%%", zt_sim_pop_ports_names[i],
			ptotal > 0 ? 100 * m->ports[i] / ptotal : i == 0 ? 100.0 : 0.0);
	fprintf(out, "; NATs granting a port mapping %.1f%%; sides with IPv6 %.1f%%\n",
		100 * m->portmap, 100 * m->ipv6);
	fprintf(out, "techniques: plain ICE; port mapping %s; port prediction %s; birthday probing %s; "
		"IPv6 %s\n", cfg->tech.portmap ? "on" : "off", cfg->tech.predict ? "on" : "off",
		!cfg->tech.probe ? "off" : cfg->tech.detect ?
		"on (NAT as --nat-ports auto detects it)" :
		"on (NAT as `ztna discover` reports it, --discover)", cfg->tech.ipv6 ? "on (theory only)" : "off");
}

static void print_result(const struct zt_sim_pop_result *r, FILE *out)
{
	double n = r->ran ? r->ran : 1;
	bool within = r->direct >= r->expected - 1.959964 * sqrt(r->expected_var) - 1e-9 &&
		      r->direct <= r->expected + 1.959964 * sqrt(r->expected_var) + 1e-9;

	fprintf(out, "sessions %u: direct %u = %.1f %% (95 %% CI %.1f-%.1f %%); theory %.1f %% "
		"(95 %% interval %.2f-%.2f %%): %s\n", r->ran, r->direct, 100 * r->direct / n,
		100 * r->lo, 100 * r->hi, 100 * r->expected / n, 100 * r->theory_lo,
		100 * r->theory_hi, within ? "within" : "OUTSIDE");
	fprintf(out, "  simulated over IPv4: %u direct (%.1f %%); by IPv6, theory only, not simulated: %u\n",
		r->direct_v4, 100 * r->direct_v4 / n, r->via[ZT_SIM_POP_IPV6]);
	fprintf(out, "  direct by technique:");
	for (int i = 0; i < ZT_SIM_POP_VIAS; i++)
		fprintf(out, "%s %s %u", i ? "," : "", via_names[i], r->via[i]);
	fprintf(out, "\n  against theory: %u of %u deterministic sessions differ; %u direct without a "
		"way in theory; birthday cells %u, direct %u (formula %.1f %%)\n", r->disagree,
		r->ran - r->probe_cells, r->unexplained, r->probe_cells, r->probe_direct,
		100 * zt_sim_birthday_expected(ZT_BIRTHDAY_SOCKETS, ZT_BIRTHDAY_COUNT, POP_PORTS));
	fprintf(out, "per pair (agent x connector): direct/sessions\n");
	for (int a = 0; a < ZT_SIM_POP_TYPES; a++)
		for (int b = 0; b < ZT_SIM_POP_TYPES; b++)
			if (r->cell[a][b][0])
				fprintf(out, "  %-18s x %-18s %4u/%-4u\n", zt_sim_pop_type_names[a],
					zt_sim_pop_type_names[b], r->cell[a][b][1], r->cell[a][b][0]);
}

int zt_sim_pop_main(const struct zt_sim_pop_cfg *cfg, FILE *out)
{
	struct zt_sim_pop_mix mix;
	struct zt_sim_pop_result *r;
	int rc;

	if (load_mix(cfg->file, &mix) < 0)
		return 2;
	if (!(r = malloc(sizeof(*r))))
		return 2;
	print_mix(&mix, cfg, out);
	rc = zt_sim_pop_run(&mix, cfg, r);
	if (rc < 0) {
		fprintf(stderr, "ztna-sim: a population session could not run: %s\n", zt_strerror(rc));
		free(r);
		return 2;
	}
	print_result(r, out);
	free(r);
	return 0;
}
