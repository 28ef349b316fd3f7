#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "core/err.h"
#include "core/units.h"

/* A parser's answer for text: rc, and the value when rc is 0. */
struct vec {
	const char *text;
	int rc;
	uint64_t v;
};

/* Runs parse over the vectors; a failure must leave the result alone. */
static void run(const char *what, int (*parse)(const char *, uint64_t *), const struct vec *t,
		size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint64_t v = 12345;
		int rc = parse(t[i].text, &v);

		if (rc != t[i].rc)
			fail_msg("%s '%s': rc %d, expected %d", what, t[i].text, rc, t[i].rc);
		if (rc == 0 && v != t[i].v)
			fail_msg("%s '%s': %llu, expected %llu", what, t[i].text,
				 (unsigned long long)v, (unsigned long long)t[i].v);
		if (rc < 0 && v != 12345)
			fail_msg("%s '%s': the result was written on failure", what, t[i].text);
	}
}

#define RUN(parse, t) run(#parse, parse, t, sizeof(t) / sizeof(t[0]))

/* zt_units_duration: a bare number is seconds */
static const struct vec durations[] = {
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
	RUN(zt_units_duration, durations);
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

static const struct vec sizes[] = {
	{ "4096", 0, 4096 },
	{ "64K", 0, 65536 },
	{ "64k", 0, 65536 },
	{ "10M", 0, 10 << 20 },
	{ "1G", 0, 1ULL << 30 },
	{ "2T", 0, 2ULL << 40 },
	{ "1.5K", 0, 1536 },
	{ "0.5M", 0, 512 * 1024 },
	{ "18446744073709551615", 0, UINT64_MAX },
	{ "16777215T", 0, 16777215ULL << 40 },
	{ "10X", ZT_ESYNTAX, 0 },
	{ "", ZT_ESYNTAX, 0 },
	{ "10 K", ZT_ESYNTAX, 0 },
	{ "-1", ZT_ESYNTAX, 0 },
	{ "1e6", ZT_ESYNTAX, 0 },
	{ "nan", ZT_ESYNTAX, 0 },
	{ "10KB", ZT_ESYNTAX, 0 },
	{ "10m", ZT_ESYNTAX, 0 },
	{ "16777216T", ZT_ERANGE, 0 },
	{ "18446744073709551616", ZT_ERANGE, 0 },
	{ "0.1K", ZT_ERANGE, 0 },                /* 102.4 bytes */
	{ "1.5", ZT_ERANGE, 0 },
};

static const struct vec rates[] = {
	{ "64000bit", 0, 64000 },
	{ "512kbit", 0, 512000 },
	{ "10mbit", 0, 10000000 },
	{ "1.5gbit", 0, 1500000000 },
	{ "64.001kbit", 0, 64001 },
	{ "10", ZT_ESYNTAX, 0 },                 /* a unit is required */
	{ "10mbps", ZT_ESYNTAX, 0 },
	{ "10Mbit", ZT_ESYNTAX, 0 },
	{ "", ZT_ESYNTAX, 0 },
	{ "infbit", ZT_ESYNTAX, 0 },
	{ "1.5bit", ZT_ERANGE, 0 },
	{ "18446744073709552gbit", ZT_ERANGE, 0 },
};

static const struct vec percents[] = {
	{ "20%", 0, 200000 },
	{ "0.5%", 0, 5000 },
	{ "17.75%", 0, 177500 },
	{ "0.0001%", 0, 1 },
	{ "0%", 0, 0 },
	{ "100%", 0, ZT_UNITS_PPM_MAX },
	{ "100.0000%", 0, ZT_UNITS_PPM_MAX },
	{ "100.0001%", ZT_ERANGE, 0 },
	{ "101%", ZT_ERANGE, 0 },
	{ "99999999999999999999%", ZT_ERANGE, 0 },
	{ "0.00001%", ZT_ERANGE, 0 },            /* finer than 1 ppm */
	{ "5", ZT_ESYNTAX, 0 },
	{ "%", ZT_ESYNTAX, 0 },
	{ "5 %", ZT_ESYNTAX, 0 },
	{ "-1%", ZT_ESYNTAX, 0 },
	{ "nan%", ZT_ESYNTAX, 0 },
	{ "inf%", ZT_ESYNTAX, 0 },
	{ "1e1%", ZT_ESYNTAX, 0 },
	{ "5%%", ZT_ESYNTAX, 0 },
};

/* zt_units_percent through run()'s signature, checking its own result is left alone. */
static int percent(const char *text, uint64_t *ret)
{
	uint32_t v = 54321;
	int rc = zt_units_percent(text, &v);

	if (rc < 0)
		assert_int_equal(v, 54321);
	else
		*ret = v;
	return rc;
}

static void sizes_rates_percents(void **state)
{
	(void)state;
	RUN(zt_units_size, sizes);
	RUN(zt_units_rate, rates);
	RUN(percent, percents);
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
		cmocka_unit_test(sizes_rates_percents),
		cmocka_unit_test(formats),
		cmocka_unit_test(formats_round_trip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
