#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "core/units.h"
#include "../../sim/simscn.h"
#include "../../sim/theory.h"

static const char base[] =
	"public 203.0.113.0/24\n"
	"server relay\n"
	"nat home type symmetric lan 192.168.1.0/24\n"
	"host alice behind home\n"
	"host bob behind public\n";

static int parse(struct zt_sim_scn *s, const char *extra, struct zt_scn_error *err)
{
	char text[2048];

	snprintf(text, sizeof(text), "%s%s", base, extra);
	return zt_sim_scn_parse(s, text, strlen(text), "t.sim", err);
}

static void sim_lines_are_read_and_lab_lines_kept(void **state)
{
	static struct zt_sim_scn s;
	struct zt_scn_error err;
	int home;

	(void)state;
	assert_int_equal(parse(&s,
		"sim session agent alice connector bob relay relay\n"
		"sim nat home mapping ad filtering ei ports sequential refresh both  # comment\n"
		"sim link alice reorder 2.5%\n"
		"sim run duration 90s skew 250ms skew-side connector data off shuffle on\n"
		"sim block home peer bob from 1.5s until 3s\n"
		"sim expect relay\n", &err), 0);
	assert_string_equal(s.agent, "alice");
	assert_string_equal(s.connector, "bob");
	assert_string_equal(s.relay, "relay");
	home = zt_scn_find(&s.lab, "home");
	assert_true(home >= 0);
	assert_true(s.nat_set[home]);
	assert_int_equal(s.nat[home].mapping, ZT_SIM_AD);
	assert_int_equal(s.nat[home].filtering, ZT_SIM_EI);
	assert_int_equal(s.nat[home].ports, ZT_SIM_PORTS_SEQUENTIAL);
	assert_true(s.nat[home].refresh_inbound);
	assert_int_equal(s.reorder_ppm[zt_scn_find(&s.lab, "alice")], 25000);
	assert_int_equal(s.duration, 90 * ZT_SEC);
	assert_int_equal(s.skew, 250 * ZT_MS);
	assert_true(s.skew_connector);
	assert_int_equal(s.data_interval, 0);
	assert_true(s.shuffle);
	assert_int_equal(s.nblocks, 1);
	assert_int_equal(s.blocks[0].from, 1500 * ZT_MS);
	assert_int_equal(s.blocks[0].until, 3 * ZT_SEC);
	assert_int_equal(s.expect, ZT_SIM_EXPECT_RELAY);
	assert_int_equal(s.lab.nodes[home].type, ZT_NAT_SYMMETRIC);
	assert_int_equal(zt_sim_scn_check(&s, &err), 0);
}

/* Durations and percentages in core/units.h's grammar. */
/* The lab's 'ports' on a symmetric NAT drives the simulator's allocation; a 'sim nat'
 * line still wins; the cone types are untouched. */
static void lab_port_patterns_reach_the_simulator(void **state)
{
	static struct zt_sim_scn s;
	struct zt_scn_error err;
	static const char text[] =
		"public 203.0.113.0/24\n"
		"nat a type symmetric lan 192.168.1.0/24 ports sequential\n"
		"nat b type symmetric lan 192.168.1.0/24 ports preserve\n"
		"nat c type symmetric lan 192.168.1.0/24\n"
		"nat d type symmetric lan 192.168.1.0/24 ports preserve\n"
		"nat e type port-restricted lan 192.168.1.0/24\n"
		"sim nat d mapping ei filtering apd ports random\n"
		"nat f type full-cone lan 192.168.1.0/24 refresh outbound\n"
		"nat g type symmetric lan 192.168.1.0/24 refresh outbound ports sequential\n";

	(void)state;
	assert_int_equal(zt_sim_scn_parse(&s, text, strlen(text), "p.sim", &err), 0);
	assert_int_equal(s.nat[0].ports, ZT_SIM_PORTS_SEQUENTIAL);
	assert_int_equal(s.nat[0].mapping, ZT_SIM_APD);
	assert_int_equal(s.nat[0].filtering, ZT_SIM_APD);
	assert_true(s.nat_set[0] && s.nat_set[1] && s.nat_set[2] && s.nat_set[3]);
	assert_int_equal(s.nat[1].ports, ZT_SIM_PORTS_PRESERVE);
	assert_int_equal(s.nat[2].ports, ZT_SIM_PORTS_RANDOM);
	assert_int_equal(s.nat[3].ports, ZT_SIM_PORTS_RANDOM);
	assert_int_equal(s.nat[3].mapping, ZT_SIM_EI);
	assert_false(s.nat_set[4]);
	/* 'refresh outbound': inbound packets do not keep a mapping */
	assert_true(s.nat_set[5] && !s.nat[5].refresh_inbound);
	assert_int_equal(s.nat[5].mapping, ZT_SIM_EI);
	assert_int_equal(s.nat[5].filtering, ZT_SIM_EI);
	assert_true(s.nat_set[6] && !s.nat[6].refresh_inbound);
	assert_int_equal(s.nat[6].ports, ZT_SIM_PORTS_SEQUENTIAL);
	assert_true(s.nat[2].refresh_inbound);
}

static void units(void **state)
{
	static struct zt_sim_scn s;
	struct zt_scn_error err;

	(void)state;
	assert_int_equal(parse(&s, "sim run duration 1.5m skew 0 data 0.5s\n"
				   "sim link alice reorder 17.75%\n", &err), 0);
	assert_int_equal(s.duration, 90 * ZT_SEC);
	assert_int_equal(s.skew, 0);
	assert_int_equal(s.data_interval, 500 * ZT_MS);
	assert_int_equal(s.reorder_ppm[zt_scn_find(&s.lab, "alice")], 177500);
}

static void errors_name_file_and_line(void **state)
{
	static struct zt_sim_scn s;
	struct zt_scn_error err;

	(void)state;
	assert_int_equal(parse(&s, "sim teleport alice\n", &err), ZT_ECONF_KEY);
	assert_int_equal(err.line, 6);
	assert_non_null(strstr(err.msg, "t.sim:6:"));
	assert_int_equal(parse(&s, "sim nat home mapping sideways\n", &err), ZT_ECONF_VALUE);
	assert_int_equal(parse(&s, "sim nat alice mapping ei\n", &err), ZT_ECONF_REF);
	assert_non_null(strstr(err.msg, "'alice' is not a NAT"));
	assert_int_equal(parse(&s, "sim link carol reorder 1%\n", &err), ZT_ECONF_REF);
	assert_int_equal(parse(&s, "sim link alice reorder 101%\n", &err), ZT_ECONF_VALUE);
	assert_int_equal(parse(&s, "sim run duration soon\n", &err), ZT_ECONF_VALUE);
	assert_int_equal(parse(&s, "sim run duration\n", &err), ZT_ESYNTAX);
	assert_int_equal(parse(&s, "sim block home peer bob from 1s\n", &err), ZT_ESYNTAX);
	assert_int_equal(parse(&s, "sim expect sideways\n", &err), ZT_ECONF_VALUE);
	/* what strtod would take ("nan", "inf", exponents) is refused, not cast to an integer */
	assert_int_equal(parse(&s, "sim run duration nans\n", &err), ZT_ECONF_VALUE);
	assert_int_equal(parse(&s, "sim run duration infs\n", &err), ZT_ECONF_VALUE);
	assert_int_equal(parse(&s, "sim link alice reorder nan%\n", &err), ZT_ECONF_VALUE);
	assert_int_equal(parse(&s, "sim run duration 1e3s\n", &err), ZT_ECONF_VALUE);
	/* a unit is required (but for 0); at most 10^6 s; 1 ns at the finest */
	assert_int_equal(parse(&s, "sim run duration 90\n", &err), ZT_ECONF_VALUE);
	assert_int_equal(parse(&s, "sim run duration 1000001s\n", &err), ZT_ECONF_VALUE);
	assert_int_equal(parse(&s, "sim run skew 1.5ns\n", &err), ZT_ECONF_VALUE);
	assert_int_equal(parse(&s, "sim link alice reorder 0.00001%\n", &err), ZT_ECONF_VALUE);
	/* a bad second expect line is refused even after a good one */
	assert_int_equal(parse(&s, "sim expect direct\nsim expect sideways\n", &err), ZT_ECONF_VALUE);
	assert_int_equal(parse(&s, "sim session pilot alice\n", &err), ZT_ECONF_KEY);
	/* lab errors keep their own line numbers with sim lines before them */
	assert_int_equal(parse(&s, "sim expect direct\nnat bad type fullcone lan 10.0.0.0/24\n", &err),
			 ZT_ECONF_VALUE);
	assert_int_equal(err.line, 7);
	/* the session's names must exist with the right kinds */
	assert_int_equal(parse(&s, "", &err), 0);
	assert_int_equal(zt_sim_scn_check(&s, &err), ZT_ECONF_MISSING);
	assert_int_equal(parse(&s, "sim session agent alice connector bob relay home\n", &err), 0);
	assert_int_equal(zt_sim_scn_check(&s, &err), ZT_ECONF_REF);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(sim_lines_are_read_and_lab_lines_kept),
		cmocka_unit_test(lab_port_patterns_reach_the_simulator),
		cmocka_unit_test(units),
		cmocka_unit_test(errors_name_file_and_line),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
