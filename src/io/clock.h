/* The I/O shell's clock: the only place the programs read time. */
#ifndef ZT_IO_CLOCK_H
#define ZT_IO_CLOCK_H

#include <stdint.h>

/* Monotonic nanoseconds (CLOCK_MONOTONIC). */
uint64_t zt_clock_now(void);
/* Wall-clock nanoseconds since the epoch (CLOCK_REALTIME), for log timestamps. */
uint64_t zt_clock_wall(void);

#endif
