/* Randomness from the kernel (getrandom), as a struct zt_rng for the core. */
#ifndef ZT_IO_SYSRNG_H
#define ZT_IO_SYSRNG_H

#include "core/rng.h"

/* A struct zt_rng backed by getrandom(2). Never fails (it blocks only before the
 * kernel's pool is initialised, which is long past on a running system). */
struct zt_rng zt_sysrng(void);

#endif
