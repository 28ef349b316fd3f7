#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "core/promfmt.h"

static void families_and_samples(void **state)
{
	char buf[1024];
	struct zt_prom p;

	(void)state;
	zt_prom_init(&p, buf, sizeof(buf));
	zt_prom_family(&p, "ztna_relay_packets_total", "counter", "Relayed packets.");
	zt_prom_u64(&p, "ztna_relay_packets_total", NULL, NULL, 42);
	zt_prom_family(&p, "ztna_clients", "gauge", "Connected clients, by kind.");
	zt_prom_u64(&p, "ztna_clients", "kind", "agent", 3);
	zt_prom_f64(&p, "ztna_uptime_seconds", NULL, NULL, 1.5);
	assert_false(p.full);
	assert_string_equal(buf,
			    "# HELP ztna_relay_packets_total Relayed packets.\n"
			    "# TYPE ztna_relay_packets_total counter\n"
			    "ztna_relay_packets_total 42\n"
			    "# HELP ztna_clients Connected clients, by kind.\n"
			    "# TYPE ztna_clients gauge\n"
			    "ztna_clients{kind=\"agent\"} 3\n"
			    "ztna_uptime_seconds 1.5\n");
	assert_int_equal(p.len, strlen(buf));
}

static void families_of_values(void **state)
{
	char buf[512];
	struct zt_prom p;

	(void)state;
	zt_prom_init(&p, buf, sizeof(buf));
	ZT_PROM_ONE(&p, "a_total", "counter", "A.", 5);
	ZT_PROM_MANY(&p, "b_total", "counter", "B.", "reason", { "x", 1 }, { "y", 2 });
	assert_string_equal(buf, "# HELP a_total A.\n# TYPE a_total counter\na_total 5\n"
				 "# HELP b_total B.\n# TYPE b_total counter\n"
				 "b_total{reason=\"x\"} 1\nb_total{reason=\"y\"} 2\n");
}

static void histograms(void **state)
{
	char buf[512];
	struct zt_prom p;
	const double le[] = { 0.1, 2.5 };
	const uint64_t cum[] = { 1, 3 };

	(void)state;
	zt_prom_init(&p, buf, sizeof(buf));
	zt_prom_histogram(&p, "t_seconds", "T.", le, cum, 2, 4, 12.25);
	assert_false(p.full);
	assert_string_equal(buf, "# HELP t_seconds T.\n# TYPE t_seconds histogram\n"
				 "t_seconds_bucket{le=\"0.1\"} 1\nt_seconds_bucket{le=\"2.5\"} 3\n"
				 "t_seconds_bucket{le=\"+Inf\"} 4\nt_seconds_sum 12.25\n"
				 "t_seconds_count 4\n");
}

static void label_values_are_escaped(void **state)
{
	char buf[256];
	struct zt_prom p;

	(void)state;
	zt_prom_init(&p, buf, sizeof(buf));
	zt_prom_u64(&p, "m", "service", "a\"b\\c\nd", 1);
	zt_prom_family(&p, "h", "gauge", "two\nlines \\ here");
	assert_string_equal(buf, "m{service=\"a\\\"b\\\\c\\nd\"} 1\n"
				 "# HELP h two\\nlines \\\\ here\n# TYPE h gauge\n");
}

static void a_line_that_does_not_fit_is_left_out(void **state)
{
	char buf[40];
	struct zt_prom p;

	(void)state;
	zt_prom_init(&p, buf, sizeof(buf));
	zt_prom_u64(&p, "a_metric", NULL, NULL, 1);  /* 11 bytes */
	zt_prom_u64(&p, "b_metric", "label", "a long value here", 2);
	assert_true(p.full);
	assert_string_equal(buf, "a_metric 1\n");
	zt_prom_u64(&p, "c_metric", NULL, NULL, 3);  /* still fits after the refusal */
	assert_string_equal(buf, "a_metric 1\nc_metric 3\n");
	/* exactly full: 39 bytes and the NUL */
	zt_prom_init(&p, buf, sizeof(buf));
	zt_prom_u64(&p, "x23456789012345678901234567890123456", NULL, NULL, 7);
	assert_false(p.full);
	assert_int_equal(p.len, 39);
	zt_prom_u64(&p, "y", NULL, NULL, 1);
	assert_true(p.full);
	assert_int_equal(strlen(buf), 39);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(families_and_samples),
		cmocka_unit_test(families_of_values),
		cmocka_unit_test(histograms),
		cmocka_unit_test(label_values_are_escaped),
		cmocka_unit_test(a_line_that_does_not_fit_is_left_out),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
