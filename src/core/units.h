/* Time in the core is uint64_t nanoseconds on a monotonic clock, passed in by the caller. */
#ifndef ZT_CORE_UNITS_H
#define ZT_CORE_UNITS_H

#define ZT_NS 1ULL
#define ZT_US 1000ULL
#define ZT_MS 1000000ULL
#define ZT_SEC 1000000000ULL

/* "No deadline": a next_deadline() with nothing pending returns this. */
#define ZT_TIME_NEVER UINT64_MAX

#endif
