/*
 * The benchmark programs' option values, in the project's one grammar for quantities
 * (src/core/units.h): durations ("3", "1.5s", "250ms"; a bare number in the option's
 * documented unit) and counts and sizes ("1000", "64K"). Each returns 0, or -1 for a
 * value that is not one (the program prints its usage).
 */
#ifndef ZT_BENCH_ARGS_H
#define ZT_BENCH_ARGS_H

#include <stdint.h>

#include "core/units.h"

/* A duration in seconds (as a double), a bare number in bare_unit (ZT_SEC, ZT_MS, ...). */
static inline int bench_duration(const char *v, uint64_t bare_unit, double *ret_s)
{
	uint64_t ns;

	if (zt_units_duration_in(v, bare_unit, &ns) < 0)
		return -1;
	*ret_s = (double)ns / 1e9;
	return 0;
}

/* A count or size up to max. */
static inline int bench_count(const char *v, uint64_t max, long *ret)
{
	uint64_t n;

	if (zt_units_size(v, &n) < 0 || n > max)
		return -1;
	*ret = (long)n;
	return 0;
}

#endif
