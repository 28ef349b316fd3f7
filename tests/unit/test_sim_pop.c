#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "core/err.h"
#include "../../sim/pop.h"

/*
 * Population mode (sim/popmix.c, sim/pop.c): the mix file's grammar, the draw, each
 * technique's cells written out by hand (not derived from sim/theory.c), and a small
 * population run that agrees with the theory.
 */

static void default_file_is_the_default_mix(void **state)
{
	struct zt_sim_pop_mix def, file;
	char text[8192];
	unsigned line;
	FILE *f = fopen("scenarios/sim/nat-mix-default.txt", "r");
	size_t n;

	(void)state;
	assert_non_null(f);
	n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	zt_sim_pop_default(&def);
	assert_int_equal(zt_sim_pop_parse(&file, text, &line), 0);
	assert_memory_equal(&def, &file, sizeof(def));
}

static void grammar(void **state)
{
	struct zt_sim_pop_mix m;
	unsigned line;

	(void)state;
	assert_int_equal(zt_sim_pop_parse(&m, "symmetric 1\nports sequential 2 # c\n"
					  "portmap 25%\nipv6 0.5\n", &line), 0);
	assert_true(m.weight[4] == 1 && m.ports[1] == 2 && m.portmap == 0.25 && m.ipv6 == 0.5);
	/* errors name their line */
	assert_int_equal(zt_sim_pop_parse(&m, "symmetric 1\n\nportmap 2\n", &line), ZT_ECONF_VALUE);
	assert_int_equal(line, 3);
	assert_int_equal(zt_sim_pop_parse(&m, "symmetric 1\nipv6 101%\n", &line), ZT_ECONF_VALUE);
	assert_int_equal(line, 2);
	assert_int_equal(zt_sim_pop_parse(&m, "cone 1\n", &line), ZT_ECONF_KEY);
	assert_int_equal(line, 1);
	assert_int_equal(zt_sim_pop_parse(&m, "symmetric 1\nports shuffled 1\n", &line), ZT_ECONF_KEY);
	assert_int_equal(zt_sim_pop_parse(&m, "symmetric\n", &line), ZT_ESYNTAX);
	assert_int_equal(zt_sim_pop_parse(&m, "symmetric 1 2\n", &line), ZT_ESYNTAX);
	assert_int_equal(zt_sim_pop_parse(&m, "ports random\n", &line), ZT_ESYNTAX);
	assert_int_equal(zt_sim_pop_parse(&m, "symmetric nan\n", &line), ZT_ECONF_VALUE);
	assert_int_equal(zt_sim_pop_parse(&m, "symmetric -1\n", &line), ZT_ECONF_VALUE);
	assert_int_equal(zt_sim_pop_parse(&m, "symmetric 5%\n", &line), ZT_ECONF_VALUE);
	assert_int_equal(zt_sim_pop_parse(&m, "symmetric 1x\n", &line), ZT_ECONF_VALUE);
	/* no type with a weight */
	assert_int_equal(zt_sim_pop_parse(&m, "portmap 1\nnone 0\n", &line), ZT_ECONF_VALUE);
	assert_int_equal(line, 0);
}

static void draw_follows_the_mix(void **state)
{
	struct zt_sim_pop_mix m = { .weight = { [4] = 1 }, .ports = { 0, 1, 0 }, .portmap = 1 };
	struct zt_sim_pop_mix h = { .weight = { [3] = 1, [4] = 1 }, .ports = { 1, 1, 0 },
				    .portmap = 0.3, .ipv6 = 0.5 };
	unsigned sym = 0, seq = 0, pm = 0, v6 = 0;
	struct zt_prng g;

	(void)state;
	zt_prng_seed(&g, 1);
	for (int i = 0; i < 100; i++) {
		struct zt_sim_pop_side s;
		zt_sim_pop_draw(&m, &g, &s);
		assert_true(s.type == 3 && s.ports == 1 && s.portmap && !s.ipv6);
	}
	for (int i = 0; i < 10000; i++) {
		struct zt_sim_pop_side s;
		zt_sim_pop_draw(&h, &g, &s);
		sym += s.type == 3;
		seq += s.ports == 1;
		pm += s.portmap;
		v6 += s.ipv6;
		if (s.type != 3)
			assert_int_equal(s.ports, 0);
	}
	/* within 5 standard deviations */
	assert_in_range(sym, 4750, 5250);
	assert_in_range(seq, 2250, 2750);
	assert_in_range(pm, 2770, 3230);
	assert_in_range(v6, 4750, 5250);
}

static const struct zt_sim_pop_tech all = { .predict = true, .probe = true, .detect = true,
					    .portmap = true, .ipv6 = true };

/* Runs a cell for seeds 1..n; returns how many went direct. */
static unsigned cell(struct zt_sim_pop_side a, struct zt_sim_pop_side b,
		     const struct zt_sim_pop_tech *t, unsigned n)
{
	struct zt_sim_pop_side s[2] = { a, b };
	unsigned direct = 0;

	for (uint64_t seed = 1; seed <= n; seed++) {
		struct zt_sim_outcome o;
		assert_int_equal(zt_sim_pop_session_sides(s, t, seed, &o), 0);
		assert_true(o.session_up);
		direct += o.final_path == ZT_SIM_PATH_DIRECT;
	}
	return direct;
}

/* Each technique in the cell it is for, on and off (fails without the technique). */
static void each_technique_in_its_cell(void **state)
{
	const struct zt_sim_pop_side prc = { .type = 2 };
	const struct zt_sim_pop_side sym_random = { .type = 3, .ports = 0 };
	const struct zt_sim_pop_side sym_seq = { .type = 3, .ports = 1 };
	const struct zt_sim_pop_side sym_pres = { .type = 3, .ports = 2 };
	const struct zt_sim_pop_side sym_mapped = { .type = 3, .portmap = true };
	struct zt_sim_pop_tech t;

	(void)state;
	/* prediction: port-restricted x sequential symmetric, both ways round */
	assert_int_equal(cell(prc, sym_seq, &all, 3), 3);
	assert_int_equal(cell(sym_seq, prc, &all, 3), 3);
	assert_int_equal(cell(sym_seq, sym_seq, &all, 3), 3);
	t = all;
	t.predict = false;
	assert_int_equal(cell(prc, sym_seq, &t, 3), 0);
	/* probing: port-restricted x random symmetric: 1 - (1 - 256/64512)^1024 = 98.3 % */
	assert_in_range(cell(prc, sym_random, &all, 20), 17, 20);
	t = all;
	t.probe = false;
	assert_int_equal(cell(prc, sym_random, &t, 5), 0);
	/* port mapping: random symmetric x random symmetric, the agent's NAT maps */
	assert_int_equal(cell(sym_mapped, sym_random, &all, 3), 3);
	assert_int_equal(cell(sym_random, sym_mapped, &all, 3), 3);
	t = all;
	t.portmap = false;
	assert_int_equal(cell(sym_mapped, sym_random, &t, 3), 0);
	/* a port-preserving symmetric NAT: `ztna discover` says "preserve", so the node does
	 * not spray (relay); its own detection (--nat-ports auto) reads it as random (its
	 * second mapping cannot keep the port): spraying then, the port-restricted side
	 * probing, direct at the formula's rate */
	t = all;
	t.detect = false;
	assert_int_equal(cell(prc, sym_pres, &t, 3), 0);
	assert_in_range(cell(prc, sym_pres, &all, 20), 17, 20);
	assert_in_range(cell(sym_pres, prc, &all, 20), 17, 20);
	/* what nothing crosses over IPv4: symmetric x symmetric with random ports */
	assert_int_equal(cell(sym_random, sym_random, &all, 3), 0);
	assert_int_equal(cell(sym_pres, sym_random, &all, 3), 0);
}

/* A small population: every deterministic session as theory says, the direct share
 * within the theory's interval, the techniques' counts adding up. */
static void population_agrees_with_theory(void **state)
{
	struct zt_sim_pop_cfg cfg = { .sessions = 300, .seed = 5, .tech = all };
	struct zt_sim_pop_result r, plain;
	struct zt_sim_pop_mix mix;
	unsigned sum = 0;

	(void)state;
	zt_sim_pop_default(&mix);
	assert_int_equal(zt_sim_pop_run(&mix, &cfg, &r), 0);
	assert_int_equal(r.ran, 300);
	assert_int_equal(r.disagree, 0);
	assert_int_equal(r.unexplained, 0);
	for (int i = 0; i < ZT_SIM_POP_VIAS; i++)
		sum += r.via[i];
	assert_int_equal(sum, r.direct);
	assert_true(r.direct >= r.theory_lo * r.ran - 1e-9 && r.direct <= r.theory_hi * r.ran + 1e-9);
	assert_true(r.via[ZT_SIM_POP_PORTMAP] > 0 && r.via[ZT_SIM_POP_PROBE] > 0 &&
		    r.via[ZT_SIM_POP_PREDICT] > 0);
	/* the same draws with every technique off: plain ICE only, fewer direct */
	cfg.tech = (struct zt_sim_pop_tech){ 0 };
	assert_int_equal(zt_sim_pop_run(&mix, &cfg, &plain), 0);
	assert_int_equal(plain.disagree, 0);
	assert_int_equal(plain.via[ZT_SIM_POP_PLAIN], plain.direct);
	assert_int_equal(plain.via[ZT_SIM_POP_PLAIN], r.via[ZT_SIM_POP_PLAIN]);
	assert_true(plain.direct < r.direct);
}

/* IPv6 is counted by theory only, apart from the simulated IPv4 sessions. */
static void ipv6_is_theory_only(void **state)
{
	struct zt_sim_pop_mix mix = { .weight = { [4] = 1 }, .ipv6 = 1 };
	struct zt_sim_pop_cfg cfg = { .sessions = 20, .seed = 3, .tech = all };
	struct zt_sim_pop_result r;

	(void)state;
	assert_int_equal(zt_sim_pop_run(&mix, &cfg, &r), 0);
	assert_int_equal(r.direct, 20);
	assert_int_equal(r.direct_v4, 0);
	assert_int_equal(r.via[ZT_SIM_POP_IPV6], 20);
	cfg.tech.ipv6 = false;
	assert_int_equal(zt_sim_pop_run(&mix, &cfg, &r), 0);
	assert_int_equal(r.direct, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(default_file_is_the_default_mix),
		cmocka_unit_test(grammar),
		cmocka_unit_test(draw_follows_the_mix),
		cmocka_unit_test(each_technique_in_its_cell),
		cmocka_unit_test(population_agrees_with_theory),
		cmocka_unit_test(ipv6_is_theory_only),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
