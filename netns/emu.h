/*
 * The userspace link emulator (no sch_netem on this kernel): each impaired link is a
 * pair of TAP devices, one in each namespace, and this module moves Ethernet frames
 * between their file descriptors through the model of netns/linkem.h, holding each
 * frame in a per-direction FIFO until its departure time. Runs on the caller's
 * zt_loop: a readable TAP wakes it, a timer per direction fires at the head frame's
 * departure; with no traffic nothing is armed and the loop sleeps.
 */
#ifndef ZT_NETNS_EMU_H
#define ZT_NETNS_EMU_H

#include <stdint.h>

#include "io/loop.h"
#include "scenario.h"

struct zt_emu;

/* Creates an emulator without links on loop. Returns 0 or -ENOMEM. */
int zt_emu_new(struct zt_loop *loop, struct zt_emu **ret);

/*
 * Adds a link named name between the non-blocking TAP descriptors fd_a and fd_b
 * (taken over: closed by zt_emu_free, also on failure), each direction emulating l,
 * randomness seeded by seed. Returns 0, -ENOMEM, or -errno from epoll.
 */
int zt_emu_add(struct zt_emu *e, const char *name, const struct zt_scn_link *l, uint64_t seed,
	       int fd_a, int fd_b);

/*
 * Changes the delay, jitter, loss, rate and blackhole of the link named name, both directions,
 * from now on (frames already held keep their departure times; the MTU and queue stay).
 * Returns 0 or -ENOENT (no such link).
 */
int zt_emu_set(struct zt_emu *e, const char *name, const struct zt_scn_link *l);

/* Calls fn with one line of counters per link direction ("name a>b passed=.. lost=.."). */
void zt_emu_report(const struct zt_emu *e, void (*fn)(void *ctx, const char *line), void *ctx);

/* Stops watching, drops the frames in flight, closes the descriptors. NULL is fine. */
void zt_emu_free(struct zt_emu *e);

#endif
