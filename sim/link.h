/*
 * One direction of a simulated link: propagation delay, jitter, random loss,
 * reordering, a serialisation rate with a finite queue, and an MTU. The same knobs as
 * the lab's `link` lines (docs/scenario-format.md), plus reordering.
 *
 * Model, per packet of len bytes offered at time now:
 *   - len > mtu: dropped (ZT_SIM_LINK_MTU; no fragmentation, as for UDP with DF);
 *   - with a rate, the packet waits behind the bytes still being serialised; when
 *     they exceed queue x mtu bytes it is tail-dropped (ZT_SIM_LINK_QUEUE);
 *   - lost with probability loss_ppm (ZT_SIM_LINK_LOSS), after taking its queue slot;
 *   - arrives at departure + delay + U[-jitter, +jitter]. Like the lab's emulator,
 *     jitter alone never reorders: an arrival is never before the previous one's.
 *     With probability reorder_ppm a packet is instead held back by an extra
 *     reorder_extra (default: delay + jitter + 1 ms) and skips that rule, so later
 *     packets overtake it.
 */
#ifndef ZT_SIM_LINK_H
#define ZT_SIM_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/rng.h"

struct zt_sim_link_cfg {
	uint64_t delay;         /* ns, one way */
	uint64_t jitter;        /* ns, <= delay */
	uint32_t loss_ppm;
	uint32_t reorder_ppm;
	uint64_t reorder_extra; /* ns; 0: delay + jitter + 1 ms */
	uint64_t rate_bps;      /* 0: unlimited */
	uint32_t mtu;           /* 0: 1500 */
	uint32_t queue;         /* packets (of mtu bytes) before tail drop; 0: 1000 */
};

enum zt_sim_link_verdict {
	ZT_SIM_LINK_OK = 0,
	ZT_SIM_LINK_LOSS = 1,
	ZT_SIM_LINK_MTU = 2,
	ZT_SIM_LINK_QUEUE = 3,
	ZT_SIM_LINK_DOWN = 4,
};

/* The sending state of one direction. */
struct zt_sim_link_dir {
	uint64_t busy_until;    /* the serialiser is busy until then */
	uint64_t last_arrival;  /* the latest in-order arrival scheduled */
	bool down;              /* cut: every packet is dropped (ZT_SIM_LINK_DOWN) */
	uint64_t sent, lost, reordered;
};

/*
 * Offers a packet of len bytes at now. Returns ZT_SIM_LINK_OK with the arrival time
 * in *ret_arrival, or the reason it was dropped (*ret_arrival untouched).
 */
enum zt_sim_link_verdict zt_sim_link_send(struct zt_sim_link_dir *d,
					  const struct zt_sim_link_cfg *cfg, uint64_t now,
					  size_t len, struct zt_prng *prng, uint64_t *ret_arrival);

/* "ok", "loss", "mtu", "queue", "down". */
const char *zt_sim_link_verdict_name(enum zt_sim_link_verdict v);

#endif
