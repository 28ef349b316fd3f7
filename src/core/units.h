/*
 * Time in the core is uint64_t nanoseconds on a monotonic clock, passed in by the caller.
 *
 * The one grammar for quantities written by people (config files, options, scenario
 * files): durations, sizes, bit rates and percentages, and the formatters that write
 * them back. Pure: no locale, no errno, no allocation.
 *
 *   VALUE  = NUMBER UNIT
 *   NUMBER = decimal digits with at most one '.' and at least one digit:
 *            "10", "1.5", ".5", "5."
 *
 * No sign, exponent, hex, whitespace, "nan" or "inf": those are ZT_ESYNTAX, as is an
 * unknown unit. Units are case-sensitive. The value must be a whole number of the
 * result's own unit (1 ns, 1 byte, 1 bit/s, 1 ppm): a finer fraction ("1.5ns",
 * "0.1K", "0.00001%") is ZT_ERANGE, never rounded; so is a value above the result's
 * maximum. Every function leaves its ret_ untouched on failure.
 */
#ifndef ZT_CORE_UNITS_H
#define ZT_CORE_UNITS_H

#include <stddef.h>
#include <stdint.h>

#define ZT_NS 1ULL
#define ZT_US 1000ULL
#define ZT_MS 1000000ULL
#define ZT_SEC 1000000000ULL
#define ZT_MIN (60 * ZT_SEC)
#define ZT_HOUR (3600 * ZT_SEC)

/* "No deadline": a next_deadline() with nothing pending returns this. */
#define ZT_TIME_NEVER UINT64_MAX

/* The largest duration the parser returns (about 292 years): now + d never wraps. */
#define ZT_UNITS_DURATION_MAX (UINT64_MAX / 2)

/* 100 %, in the parts per million zt_units_percent() returns. */
#define ZT_UNITS_PPM_MAX 1000000U

/*
 * A duration: NUMBER with ns, us, ms, s, m (minutes) or h. A bare NUMBER is in
 * bare_unit (a multiplier from ZT_NS to ZT_HOUR, e.g. ZT_MS for an option documented
 * in milliseconds); with bare_unit 0 a unit is required, except for a value of 0.
 * Returns 0 with *ret_ns set, ZT_ESYNTAX, ZT_ERANGE (above ZT_UNITS_DURATION_MAX or
 * finer than 1 ns), or -EINVAL for a bare_unit above ZT_HOUR.
 */
int zt_units_duration_in(const char *text, uint64_t bare_unit, uint64_t *ret_ns);

/* zt_units_duration_in(text, ZT_SEC, ret_ns): "250ms", "1.5s", "2m", "10" (seconds). */
int zt_units_duration(const char *text, uint64_t *ret_ns);

/*
 * A size or count: bare bytes, or K (also k), M, G, T, powers of 1024: "4096", "64K",
 * "1.5M". Returns 0 with *ret set, ZT_ESYNTAX, ZT_ERANGE (above UINT64_MAX or not a
 * whole number).
 */
int zt_units_size(const char *text, uint64_t *ret);

/*
 * A bit rate: NUMBER with bit, kbit, mbit or gbit (powers of 1000; a unit is required):
 * "512kbit", "1.5gbit". Returns 0 with *ret_bps set, ZT_ESYNTAX, ZT_ERANGE.
 */
int zt_units_rate(const char *text, uint64_t *ret_bps);

/*
 * A percentage: NUMBER followed by '%', from 0 to 100: "20%", "0.5%", "17.75%".
 * Returns 0 with *ret_ppm set (parts per million: 1 % is 10000), ZT_ESYNTAX, ZT_ERANGE
 * (above 100 % or finer than 0.0001 %).
 */
int zt_units_percent(const char *text, uint32_t *ret_ppm);

/*
 * Formatters: write a value into buf the way people write it, the fraction's trailing
 * zeros dropped. What they write parses back to the same value (for a duration, up to
 * ZT_UNITS_DURATION_MAX). Each returns the length written, or -ENOBUFS when it does
 * not fit in cap (buf then holds a truncated string, if cap > 0).
 *
 * Durations in ms (from 1 ms, when a whole number of us) or us, up to three decimals:
 * "10ms", "1.5ms", "250us", "0.001us".
 */
int zt_units_duration_str(char *buf, size_t cap, uint64_t ns);
/* Percentages from parts per million, up to four decimals: "0.25%", "100%". */
int zt_units_percent_str(char *buf, size_t cap, uint32_t ppm);
/* Rates in the largest of gbit, mbit, kbit that shows them exactly with up to three
 * decimals, else in bit: "10mbit", "1.5gbit", "64.001kbit", "999bit". */
int zt_units_rate_str(char *buf, size_t cap, uint64_t bps);

#endif
