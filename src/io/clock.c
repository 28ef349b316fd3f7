#include <time.h>

#include "io/clock.h"

static uint64_t read_clock(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

uint64_t zt_clock_now(void)
{
	return read_clock(CLOCK_MONOTONIC);
}

uint64_t zt_clock_wall(void)
{
	return read_clock(CLOCK_REALTIME);
}
