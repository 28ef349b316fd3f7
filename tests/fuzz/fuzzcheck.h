/* The fuzz targets' invariant check: a broken invariant is a finding, so say which
 * and abort (libFuzzer keeps the input). */
#ifndef ZT_TESTS_FUZZCHECK_H
#define ZT_TESTS_FUZZCHECK_H

#include <stdio.h>
#include <stdlib.h>

#define check(cond)                                                                   \
	do {                                                                          \
		if (!(cond)) {                                                        \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, \
				#cond);                                               \
			abort();                                                      \
		}                                                                     \
	} while (0)

#endif
