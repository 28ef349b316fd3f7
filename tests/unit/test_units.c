#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "core/err.h"
#include "core/units.h"

/* text -> ns (rc 0) or the error, through zt_units_duration (a bare number is seconds) */
static const struct {
	const char *text;
	int rc;
	uint64_t ns;
} durations[] = {
	{ "100ns", 0, 100 },
	{ "1500us", 0, 1500 * ZT_US },
	{ "250ms", 0, 250 * ZT_MS },
	{ "10s", 0, 10 * ZT_SEC },
	{ "2m", 0, 120 * ZT_SEC },
	{ "1h", 0, 3600 * ZT_SEC },
	{ "10", 0, 10 * ZT_SEC },                 /* bare: seconds */
	{ "0", 0, 0 },
	{ "0s", 0, 0 },
	{ "1.5s", 0, 1500 * ZT_MS },              /* fractions in every unit */
	{ "1.5", 0, 1500 * ZT_MS },
	{ "0.25ms", 0, 250 * ZT_US },
	{ "1.001ms", 0, 1001 * ZT_US },
	{ "1.2345ms", 0, 1234500 },
	{ "1.5us", 0, 1500 },
	{ "0.5m", 0, 30 * ZT_SEC },
	{ "1.5h", 0, 5400 * ZT_SEC },
	{ ".5s", 0, 500 * ZT_MS },
	{ "5.s", 0, 5 * ZT_SEC },
	{ "007s", 0, 7 * ZT_SEC },
	{ "0.000000001s", 0, 1 },                 /* 1 ns: the finest */
	{ "1.000000000000000000000000s", 0, ZT_SEC },
	{ "9223372036854775807ns", 0, ZT_UNITS_DURATION_MAX },
	{ "1.5ns", ZT_ERANGE, 0 },                /* finer than 1 ns: not rounded */
	{ "0.0000000001s", ZT_ERANGE, 0 },
	{ "1.2345us", ZT_ERANGE, 0 },
	{ "9223372036854775808ns", ZT_ERANGE, 0 }, /* above ZT_UNITS_DURATION_MAX */
	{ "99999999999999999999s", ZT_ERANGE, 0 },
	{ "99999999999999999999", ZT_ERANGE, 0 },
	{ "9999999999999h", ZT_ERANGE, 0 },
	{ "18446744073709551616ns", ZT_ERANGE, 0 },
	{ "", ZT_ESYNTAX, 0 },
	{ ".", ZT_ESYNTAX, 0 },
	{ "ms", ZT_ESYNTAX, 0 },
	{ ".s", ZT_ESYNTAX, 0 },
	{ "-1s", ZT_ESYNTAX, 0 },
	{ "+1s", ZT_ESYNTAX, 0 },
	{ "10 s", ZT_ESYNTAX, 0 },                /* no whitespace anywhere */
	{ " 10s", ZT_ESYNTAX, 0 },
	{ "10s ", ZT_ESYNTAX, 0 },
	{ "\t10s", ZT_ESYNTAX, 0 },
	{ "10s\n", ZT_ESYNTAX, 0 },
	{ "1.2.3s", ZT_ESYNTAX, 0 },
	{ "1,5s", ZT_ESYNTAX, 0 },                /* no locale */
	{ "nan", ZT_ESYNTAX, 0 },                 /* what strtod would take */
	{ "nans", ZT_ESYNTAX, 0 },
	{ "inf", ZT_ESYNTAX, 0 },
	{ "infs", ZT_ESYNTAX, 0 },
	{ "1e9", ZT_ESYNTAX, 0 },
	{ "1e3ms", ZT_ESYNTAX, 0 },
	{ "0x10", ZT_ESYNTAX, 0 },
	{ "5S", ZT_ESYNTAX, 0 },                  /* units are case-sensitive */
	{ "5MS", ZT_ESYNTAX, 0 },
	{ "5sec", ZT_ESYNTAX, 0 },
	{ "5min", ZT_ESYNTAX, 0 },
	{ "5d", ZT_ESYNTAX, 0 },
	{ "5 ", ZT_ESYNTAX, 0 },
	{ "99999999999999999999x", ZT_ESYNTAX, 0 }, /* the grammar is checked first */
};

static void duration_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(durations) / sizeof(durations[0]); i++) {
		uint64_t v = 12345;
		int rc = zt_units_duration(durations[i].text, &v);

		if (rc != durations[i].rc)
			fail_msg("'%s': rc %d, expected %d", durations[i].text, rc, durations[i].rc);
		if (rc == 0 && v != durations[i].ns)
			fail_msg("'%s': %llu ns, expected %llu", durations[i].text,
				 (unsigned long long)v, (unsigned long long)durations[i].ns);
		if (rc < 0 && v != 12345)
			fail_msg("'%s': the result was written on failure", durations[i].text);
	}
}

/* A caller's own meaning of a bare number: milliseconds, or none (a unit required). */
static void duration_bare_unit(void **state)
{
	uint64_t v = 0;

	(void)state;
	assert_int_equal(zt_units_duration_in("100", ZT_MS, &v), 0);
	assert_int_equal(v, 100 * ZT_MS);
	assert_int_equal(zt_units_duration_in("0.5", ZT_MS, &v), 0);
	assert_int_equal(v, 500 * ZT_US);
	assert_int_equal(zt_units_duration_in("2s", ZT_MS, &v), 0);
	assert_int_equal(v, 2 * ZT_SEC);
	assert_int_equal(zt_units_duration_in("3", ZT_HOUR, &v), 0);
	assert_int_equal(v, 3 * ZT_HOUR);

	assert_int_equal(zt_units_duration_in("10ms", 0, &v), 0);
	assert_int_equal(v, 10 * ZT_MS);
	v = 1;
	assert_int_equal(zt_units_duration_in("0", 0, &v), 0);
	assert_int_equal(v, 0);
	v = 1;
	assert_int_equal(zt_units_duration_in("0.000", 0, &v), 0);
	assert_int_equal(v, 0);
	v = 7;
	assert_int_equal(zt_units_duration_in("10", 0, &v), ZT_ESYNTAX);
	assert_int_equal(zt_units_duration_in("0.5", 0, &v), ZT_ESYNTAX);
	assert_int_equal(zt_units_duration_in("99999999999999999999", 0, &v), ZT_ESYNTAX);
	assert_int_equal(v, 7);

	assert_int_equal(zt_units_duration_in("1", ZT_HOUR + 1, &v), -EINVAL);
	assert_int_equal(v, 7);
}

static void sizes(void **state)
{
	uint64_t v = 0;

	(void)state;
	assert_int_equal(zt_units_size("4096", &v), 0);
	assert_int_equal(v, 4096);
	assert_int_equal(zt_units_size("64K", &v), 0);
	assert_int_equal(v, 65536);
	assert_int_equal(zt_units_size("64k", &v), 0);
	assert_int_equal(v, 65536);
	assert_int_equal(zt_units_size("10M", &v), 0);
	assert_int_equal(v, 10 << 20);
	assert_int_equal(zt_units_size("1G", &v), 0);
	assert_int_equal(v, 1ULL << 30);
	assert_int_equal(zt_units_size("2T", &v), 0);
	assert_int_equal(v, 2ULL << 40);
	assert_int_equal(zt_units_size("1.5K", &v), 0);
	assert_int_equal(v, 1536);
	assert_int_equal(zt_units_size("0.5M", &v), 0);
	assert_int_equal(v, 512 * 1024);
	assert_int_equal(zt_units_size("18446744073709551615", &v), 0);
	assert_int_equal(v, UINT64_MAX);
	assert_int_equal(zt_units_size("16777215T", &v), 0);
	assert_int_equal(v, 16777215ULL << 40);
	v = 9;
	assert_int_equal(zt_units_size("10X", &v), ZT_ESYNTAX);
	assert_int_equal(zt_units_size("", &v), ZT_ESYNTAX);
	assert_int_equal(zt_units_size("10 K", &v), ZT_ESYNTAX);
	assert_int_equal(zt_units_size("-1", &v), ZT_ESYNTAX);
	assert_int_equal(zt_units_size("1e6", &v), ZT_ESYNTAX);
	assert_int_equal(zt_units_size("nan", &v), ZT_ESYNTAX);
	assert_int_equal(zt_units_size("10KB", &v), ZT_ESYNTAX);
	assert_int_equal(zt_units_size("10m", &v), ZT_ESYNTAX);
	assert_int_equal(zt_units_size("16777216T", &v), ZT_ERANGE);
	assert_int_equal(zt_units_size("18446744073709551616", &v), ZT_ERANGE);
	assert_int_equal(zt_units_size("0.1K", &v), ZT_ERANGE); /* 102.4 bytes */
	assert_int_equal(zt_units_size("1.5", &v), ZT_ERANGE);
	assert_int_equal(v, 9);
}

static void rates(void **state)
{
	uint64_t v = 0;

	(void)state;
	assert_int_equal(zt_units_rate("64000bit", &v), 0);
	assert_int_equal(v, 64000);
	assert_int_equal(zt_units_rate("512kbit", &v), 0);
	assert_int_equal(v, 512000);
	assert_int_equal(zt_units_rate("10mbit", &v), 0);
	assert_int_equal(v, 10000000);
	assert_int_equal(zt_units_rate("1.5gbit", &v), 0);
	assert_int_equal(v, 1500000000);
	assert_int_equal(zt_units_rate("64.001kbit", &v), 0);
	assert_int_equal(v, 64001);
	v = 3;
	assert_int_equal(zt_units_rate("10", &v), ZT_ESYNTAX); /* a unit is required */
	assert_int_equal(zt_units_rate("10mbps", &v), ZT_ESYNTAX);
	assert_int_equal(zt_units_rate("10Mbit", &v), ZT_ESYNTAX);
	assert_int_equal(zt_units_rate("", &v), ZT_ESYNTAX);
	assert_int_equal(zt_units_rate("infbit", &v), ZT_ESYNTAX);
	assert_int_equal(zt_units_rate("1.5bit", &v), ZT_ERANGE);
	assert_int_equal(zt_units_rate("18446744073709552gbit", &v), ZT_ERANGE);
	assert_int_equal(v, 3);
}

static void percents(void **state)
{
	uint32_t v = 0;

	(void)state;
	assert_int_equal(zt_units_percent("20%", &v), 0);
	assert_int_equal(v, 200000);
	assert_int_equal(zt_units_percent("0.5%", &v), 0);
	assert_int_equal(v, 5000);
	assert_int_equal(zt_units_percent("17.75%", &v), 0);
	assert_int_equal(v, 177500);
	assert_int_equal(zt_units_percent("0.0001%", &v), 0);
	assert_int_equal(v, 1);
	assert_int_equal(zt_units_percent("0%", &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(zt_units_percent("100%", &v), 0);
	assert_int_equal(v, ZT_UNITS_PPM_MAX);
	assert_int_equal(zt_units_percent("100.0000%", &v), 0);
	assert_int_equal(v, ZT_UNITS_PPM_MAX);
	v = 5;
	assert_int_equal(zt_units_percent("100.0001%", &v), ZT_ERANGE);
	assert_int_equal(zt_units_percent("101%", &v), ZT_ERANGE);
	assert_int_equal(zt_units_percent("99999999999999999999%", &v), ZT_ERANGE);
	assert_int_equal(zt_units_percent("0.00001%", &v), ZT_ERANGE); /* finer than 1 ppm */
	assert_int_equal(zt_units_percent("5", &v), ZT_ESYNTAX);
	assert_int_equal(zt_units_percent("%", &v), ZT_ESYNTAX);
	assert_int_equal(zt_units_percent("5 %", &v), ZT_ESYNTAX);
	assert_int_equal(zt_units_percent("-1%", &v), ZT_ESYNTAX);
	assert_int_equal(zt_units_percent("nan%", &v), ZT_ESYNTAX);
	assert_int_equal(zt_units_percent("inf%", &v), ZT_ESYNTAX);
	assert_int_equal(zt_units_percent("1e1%", &v), ZT_ESYNTAX);
	assert_int_equal(zt_units_percent("5%%", &v), ZT_ESYNTAX);
	assert_int_equal(v, 5);
}

static void formats(void **state)
{
	static const struct { uint64_t ns; const char *text; } d[] = {
		{ 10 * ZT_MS, "10ms" }, { 1500 * ZT_US, "1.5ms" }, { 250 * ZT_US, "250us" },
		{ 1001 * ZT_US, "1.001ms" }, { 2 * ZT_SEC, "2000ms" }, { 1, "0.001us" },
		{ 1234500, "1234.5us" }, { 0, "0us" },
	};
	char buf[32];

	(void)state;
	for (size_t i = 0; i < sizeof(d) / sizeof(d[0]); i++) {
		assert_int_equal(zt_units_duration_str(buf, sizeof(buf), d[i].ns), strlen(d[i].text));
		assert_string_equal(buf, d[i].text);
	}
	assert_int_equal(zt_units_percent_str(buf, sizeof(buf), 2500), 5);
	assert_string_equal(buf, "0.25%");
	assert_int_equal(zt_units_percent_str(buf, sizeof(buf), ZT_UNITS_PPM_MAX), 4);
	assert_string_equal(buf, "100%");
	assert_int_equal(zt_units_percent_str(buf, sizeof(buf), 1), 7);
	assert_string_equal(buf, "0.0001%");
	assert_int_equal(zt_units_rate_str(buf, sizeof(buf), 1500000000), 7);
	assert_string_equal(buf, "1.5gbit");
	assert_int_equal(zt_units_rate_str(buf, sizeof(buf), 64001), 10);
	assert_string_equal(buf, "64.001kbit");
	assert_int_equal(zt_units_rate_str(buf, sizeof(buf), 1000000), 5);
	assert_string_equal(buf, "1mbit");
	assert_int_equal(zt_units_rate_str(buf, sizeof(buf), 999), 6);
	assert_string_equal(buf, "999bit");
	/* too small a buffer: -ENOBUFS, never an overrun */
	assert_int_equal(zt_units_duration_str(buf, 4, 10 * ZT_MS), -ENOBUFS);
	assert_int_equal(zt_units_duration_str(buf, 5, 10 * ZT_MS), 4);
	assert_int_equal(zt_units_percent_str(buf, 0, 1), -ENOBUFS);
	assert_int_equal(zt_units_rate_str(buf, 3, 999), -ENOBUFS);
}

/* Format, parse: the same value, over a spread of magnitudes (a fixed LCG). */
static void formats_round_trip(void **state)
{
	uint64_t x = 88172645463325252ULL;
	char buf[40];

	(void)state;
	for (int i = 0; i < 20000; i++) {
		uint64_t ns, bps, back = 0;
		uint32_t ppm, pback = 0;

		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
		ns = (x >> 1) >> (x % 63); /* up to ZT_UNITS_DURATION_MAX */
		bps = x >> (x % 64);
		ppm = (uint32_t)(x % (ZT_UNITS_PPM_MAX + 1));
		assert_true(zt_units_duration_str(buf, sizeof(buf), ns) > 0);
		assert_int_equal(zt_units_duration_in(buf, 0, &back), 0);
		assert_int_equal(back, ns);
		assert_true(zt_units_rate_str(buf, sizeof(buf), bps) > 0);
		assert_int_equal(zt_units_rate(buf, &back), 0);
		assert_int_equal(back, bps);
		assert_true(zt_units_percent_str(buf, sizeof(buf), ppm) > 0);
		assert_int_equal(zt_units_percent(buf, &pback), 0);
		assert_int_equal(pback, ppm);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(duration_table),
		cmocka_unit_test(duration_bare_unit),
		cmocka_unit_test(sizes),
		cmocka_unit_test(rates),
		cmocka_unit_test(percents),
		cmocka_unit_test(formats),
		cmocka_unit_test(formats_round_trip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
