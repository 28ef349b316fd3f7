/*
 * The link emulator's model of one direction of a link: what happens to a frame that
 * enters it at time now. Pure: time and randomness come in as arguments.
 *
 *   loss     Bernoulli, loss_ppm per million, for IP frames only (ARP is spared so the
 *            neighbours still find each other; they retry anyway)
 *   MTU      a frame whose IP packet is larger than mtu is dropped
 *   blackhole  an IP packet larger than blackhole (when set) is dropped too: the
 *            interfaces keep their MTU, so no ICMP tells the sender (a PMTU black hole)
 *   rate     frames are serialised one after another at rate_bps (the frame's bytes
 *            including the Ethernet header)
 *   queue    a frame that would find `queue` frames already held (waiting to be
 *            serialised or in flight) is tail-dropped
 *   delay    after serialisation, propagation takes delay +- jitter (uniform)
 *   order    frames leave in the order they came: a frame never departs before the one
 *            ahead of it, so jitter does not reorder
 */
#ifndef ZT_NETNS_LINKEM_H
#define ZT_NETNS_LINKEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/rng.h"
#include "scenario.h"

#define ZT_LINKEM_ETH_HLEN 14

enum zt_linkem_verdict {
	ZT_LINKEM_PASS = 0,
	ZT_LINKEM_DROP_LOSS = 1,
	ZT_LINKEM_DROP_MTU = 2,
	ZT_LINKEM_DROP_QUEUE = 3,
	ZT_LINKEM_DROP_BLACKHOLE = 4,
};

struct zt_linkem_dir {
	struct zt_scn_link cfg;
	uint64_t busy_until;   /* end of the last frame's serialisation */
	uint64_t last_due;     /* departure time of the last admitted frame */
	uint32_t queued;       /* admitted frames not yet departed */
	uint64_t passed, lost, too_big, overflow, blackholed;
};

/* Starts a direction with the settings of link l. */
void zt_linkem_init(struct zt_linkem_dir *d, const struct zt_scn_link *l);

/*
 * Decides the fate of a frame of frame_len bytes (Ethernet header included) arriving
 * at now; is_ip says whether loss applies. On ZT_LINKEM_PASS, *ret_due is when it
 * leaves the other end and the frame counts as queued until zt_linkem_departed().
 * Otherwise returns the drop reason and *ret_due is untouched.
 */
enum zt_linkem_verdict zt_linkem_admit(struct zt_linkem_dir *d, const struct zt_rng *rng,
				       uint64_t now, size_t frame_len, bool is_ip,
				       uint64_t *ret_due);

/* A queued frame left (or was discarded at departure). */
void zt_linkem_departed(struct zt_linkem_dir *d);

/* True for Ethernet frames carrying IPv4 or IPv6. */
bool zt_linkem_frame_is_ip(const uint8_t *frame, size_t len);

#endif
