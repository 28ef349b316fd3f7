#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/units.h"
#include "../../sim/birthday.h"
#include "../../sim/pop.h"
#include "../../sim/session.h"

/*
 * Whole sessions: the real zt_ice and zt_pathmgr over the simulated network.
 */

static void load(struct zt_sim_scn *scn, const char *rel)
{
	struct zt_scn_error err;
	char path[512];
	const char *root = getenv("ZT_ROOT");

	snprintf(path, sizeof(path), "%s/%s", root ? root : ".", rel);
	if (zt_sim_scn_load(scn, path, &err) < 0)
		fail_msg("%s", err.msg);
}

static void nat_matrix_equals_design_table(void **state)
{
	/* docs/design.md (and docs/lab.md's observed matrix): relay exactly for SYM x SYM and
	 * SYM x PRC, both ways round; written out, not derived from sim/theory. */
	static const bool direct[4][4] = {
		/*          FC     ARC    PRC    SYM */
		/* FC  */ { true,  true,  true,  true },
		/* ARC */ { true,  true,  true,  true },
		/* PRC */ { true,  true,  true,  false },
		/* SYM */ { true,  true,  false, false },
	};

	(void)state;
	for (int a = 0; a < 4; a++) {
		for (int b = 0; b < 4; b++) {
			for (uint64_t seed = 1; seed <= 3; seed++) {
				struct zt_sim_outcome o;
				assert_int_equal(zt_sim_pop_session(a, b, seed, NULL, &o), 0);
				assert_true(o.session_up);
				if (o.went_direct != direct[a][b])
					fail_msg("%d x %d seed %llu: went direct %d, table says %d", a, b,
						 (unsigned long long)seed, o.went_direct, direct[a][b]);
				assert_int_equal(o.theory, direct[a][b] ? ZT_SIM_EXPECT_DIRECT
									: ZT_SIM_EXPECT_RELAY);
				assert_int_equal(o.final_path, direct[a][b] ? ZT_SIM_PATH_DIRECT
									    : ZT_SIM_PATH_RELAY);
			}
		}
	}
}

/* Symmetric NATs that allocate ports sequentially (docs/hard-nat.md): with port
 * prediction every cell is direct, symmetric x symmetric included; with it off the
 * design table's three relay cells are relay again. Fails without prediction. */
static void sequential_nat_matrix_is_direct_with_prediction(void **state)
{
	static const bool plain[4][4] = {
		{ true, true, true, true },
		{ true, true, true, true },
		{ true, true, true, false },
		{ true, true, false, false },
	};

	(void)state;
	for (int pass = 0; pass < 2; pass++) {
		const struct zt_sim_variant v = { .sequential = true, .predict_off = pass == 1 };
		for (int a = 0; a < 4; a++) {
			for (int b = 0; b < 4; b++) {
				for (uint64_t seed = 1; seed <= 3; seed++) {
					struct zt_sim_outcome o;
					bool want = pass == 0 || plain[a][b];
					assert_int_equal(zt_sim_pop_session(a, b, seed, &v, &o), 0);
					assert_true(o.session_up);
					if (o.went_direct != want)
						fail_msg("prediction %s, %d x %d seed %llu: went direct %d",
							 pass ? "off" : "on", a, b,
							 (unsigned long long)seed, o.went_direct);
					assert_int_equal(o.theory, want ? ZT_SIM_EXPECT_DIRECT
									: ZT_SIM_EXPECT_RELAY);
					assert_int_equal(o.final_path, want ? ZT_SIM_PATH_DIRECT
									    : ZT_SIM_PATH_RELAY);
				}
			}
		}
	}
}

static void scenario_files_meet_their_expectations(void **state)
{
	static const char *const files[] = {
		"scenarios/sim/prc-prc.sim", "scenarios/sim/double-nat-vs-symmetric.sim",
		"scenarios/sim/double-nat-vs-full-cone.sim", "scenarios/sim/cgn-hairpin.sim",
		"scenarios/sim/prc-vs-sequential.sim", "scenarios/sim/sequential-vs-prc.sim",
		"scenarios/sim/sequential-vs-sequential.sim",
		"scenarios/sim/sequential-no-prediction.sim",
		"scenarios/sim/portmap-sym-vs-sym.sim",
	};
	static struct zt_sim_scn scn;

	(void)state;
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		struct zt_sim_session_cfg cfg = { .scn = &scn, .seed = 1 };
		struct zt_sim_outcome o;

		load(&scn, files[i]);
		assert_true(scn.expect >= 0);
		assert_int_equal(zt_sim_session_run(&cfg, &o), 0);
		assert_int_equal(o.theory, scn.expect);
		if (scn.expect == ZT_SIM_EXPECT_DIRECT) {
			assert_true(o.went_direct);
			assert_int_equal(o.final_path, ZT_SIM_PATH_DIRECT);
		} else {
			assert_false(o.went_direct);
			assert_true(o.session_up);
			assert_int_equal(o.final_path, ZT_SIM_PATH_RELAY);
		}
	}
}

static void path_failure_falls_back_and_returns(void **state)
{
	static struct zt_sim_scn scn;
	struct zt_sim_session_cfg cfg = { .scn = &scn, .seed = 1 };
	struct zt_sim_outcome o;

	(void)state;
	load(&scn, "scenarios/sim/path-failure.sim");
	assert_int_equal(zt_sim_session_run(&cfg, &o), 0);
	/* relay -> direct, direct -> relay after the cut at 20 s, relay -> direct after 40 s */
	assert_int_equal(o.switches, 3);
	assert_int_equal(o.final_path, ZT_SIM_PATH_DIRECT);
	assert_int_equal(o.generations, 2);
	/* the fallback is decided within 2 s of the cut: the data never pauses longer */
	assert_true(o.max_gap < 2 * ZT_SEC);
	assert_true(o.data_received > o.data_sent * 99 / 100);
}

static void same_seed_same_run(void **state)
{
	static struct zt_sim_scn scn;
	struct zt_sim_outcome a, b, c;
	struct zt_sim_session_cfg cfg = { .scn = &scn, .seed = 42 };

	(void)state;
	load(&scn, "scenarios/sim/prc-prc.sim");
	scn.lab.nodes[zt_scn_find(&scn.lab, "home")].link.loss_ppm = 100000;
	scn.lab.nodes[zt_scn_find(&scn.lab, "home")].link.jitter_ns = 5 * ZT_MS;
	assert_int_equal(zt_sim_session_run(&cfg, &a), 0);
	assert_int_equal(zt_sim_session_run(&cfg, &b), 0);
	assert_int_equal(a.packets, b.packets);
	assert_int_equal(a.events, b.events);
	assert_int_equal(a.data_received, b.data_received);
	assert_int_equal(a.first_direct_at, b.first_direct_at);
	assert_int_equal(a.max_gap, b.max_gap);
	cfg.seed = 43;
	assert_int_equal(zt_sim_session_run(&cfg, &c), 0);
	assert_true(a.packets != c.packets || a.data_received != c.data_received ||
		    a.first_direct_at != c.first_direct_at);
}

static void udp_blocked_means_no_session(void **state)
{
	static struct zt_sim_scn scn;
	struct zt_sim_session_cfg cfg = { .scn = &scn, .seed = 1 };
	struct zt_sim_outcome o;

	(void)state;
	static const char text[] =
		"public 203.0.113.0/24\n"
		"server relay\n"
		"server conn\n"
		"nat office type port-restricted lan 10.10.0.0/24 udp block\n"
		"host alice behind office\n"
		"sim session agent alice connector conn relay relay\n"
		"sim run duration 10s\n";
	struct zt_scn_error err;

	if (zt_sim_scn_parse(&scn, text, sizeof(text) - 1, "blocked", &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(zt_sim_session_run(&cfg, &o), 0);
	assert_false(o.session_up);
	assert_int_equal(o.theory, ZT_SIM_EXPECT_NONE);
}

/* Birthday probing (docs/hard-nat.md): port-restricted x symmetric with random ports,
 * the nodes told their NATs. With 256 sprayed sockets and 1024 probes each session
 * goes direct with p = 1 - (1 - 256/64512)^1024 = 98.3 %: at least 34 of 40 within
 * 10 s (fewer has a binomial probability under 1e-6); without probing none. */
static void birthday_probing_goes_direct_as_the_formula_says(void **state)
{
	struct zt_sim_birthday_cfg cfg = { .sessions = 40, .seed = 3 };
	struct zt_sim_birthday_result r;

	(void)state;
	assert_int_equal(zt_sim_birthday_run(&cfg, &r), 0);
	printf("# birthday probing: %u/%u direct within 10 s (formula %.1f %%)\n", r.direct, r.ran,
	       100 * r.expected);
	assert_int_equal(r.ran, 40);
	assert_true(r.expected > 0.98 && r.expected < 0.99);
	assert_true(r.direct >= 34);
	cfg.probe_off = true;
	assert_int_equal(zt_sim_birthday_run(&cfg, &r), 0);
	assert_int_equal(r.direct, 0);
}

struct sends {
	struct zt_addr to;              /* count packets to this IP */
	int from;                       /* sent by this node */
	uint64_t times[4096];
	unsigned n;
};

static void count_sends(void *ctx, uint64_t now, const struct zt_sim_trace *t)
{
	struct sends *c = ctx;

	if (t->kind == ZT_SIM_TR_SEND && t->node == c->from && zt_addr_ip_equal(&t->dst, &c->to) &&
	    c->n < 4096)
		c->times[c->n++] = now;
}

/* Probing never exceeds its budget: with one sprayed socket (a hit is unlikely) the
 * probing side sends all 1024 probes and no more, at most 200 in any second, plus its
 * few ICE checks. */
static void birthday_probing_stays_within_its_budget(void **state)
{
	static struct zt_sim_scn scn;
	static struct sends c;
	static const char text[] =
		"lab budget\npublic 203.0.113.0/24\nserver relay addr 203.0.113.100\n"
		"nat home type port-restricted lan 192.168.1.0/24 wan 203.0.113.1\n"
		"nat office type symmetric lan 10.10.0.0/24 wan 203.0.113.2\n"
		"host alice behind home\nhost bob behind office\n"
		"sim session agent alice connector bob relay relay\n"
		"sim run duration 20s data off probe on probe-sockets 1\n";
	struct zt_sim_session_cfg cfg = { .scn = &scn, .seed = 1, .trace = count_sends, .trace_ctx = &c };
	struct zt_scn_error err;
	struct zt_sim_outcome o;
	const char *names[ZT_SIM_NET_MAX_NODES];
	unsigned most = 0;

	(void)state;
	memset(&c, 0, sizeof(c));
	assert_int_equal(zt_sim_scn_parse(&scn, text, strlen(text), "budget", &err), 0);
	c.from = -1;
	for (int i = 0, nn = zt_sim_session_node_names(&scn, names); i < nn; i++)
		if (!strcmp(names[i], "alice"))
			c.from = i;
	assert_true(c.from >= 0);
	assert_int_equal(zt_addr_parse(&c.to, "203.0.113.2:0", 0), 0);
	assert_int_equal(zt_sim_session_run(&cfg, &o), 0);
	assert_false(o.went_direct);
	assert_true(c.n >= 1024 && c.n <= 1024 + 40);
	for (unsigned i = 0; i < c.n; i++) {
		unsigned k = 0;
		for (unsigned j = i; j < c.n && c.times[j] < c.times[i] + ZT_SEC; j++)
			k++;
		if (k > most)
			most = k;
	}
	printf("# %u datagrams to the symmetric NAT, at most %u in a second\n", c.n, most);
	assert_true(most <= 200 + 20);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(nat_matrix_equals_design_table),
		cmocka_unit_test(sequential_nat_matrix_is_direct_with_prediction),
		cmocka_unit_test(scenario_files_meet_their_expectations),
		cmocka_unit_test(birthday_probing_goes_direct_as_the_formula_says),
		cmocka_unit_test(birthday_probing_stays_within_its_budget),
		cmocka_unit_test(path_failure_falls_back_and_returns),
		cmocka_unit_test(same_seed_same_run),
		cmocka_unit_test(udp_blocked_means_no_session),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
