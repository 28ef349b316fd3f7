/*
 * Automatic NAT detection of a node (sans-IO; docs/hard-nat.md, "How a node learns
 * that its NAT is sequential").
 *
 * The Intermediate sees the node's main UDP socket at public address P0 (WELCOME's
 * observed address) and names a second port of its own IP that answers STUN Binding
 * requests (WELCOME's STUN_PORT). One Binding request from the same socket to that
 * port makes a second mapping when the NAT maps per destination; its answer's
 * XOR-MAPPED-ADDRESS is P1. Then (zt_natprobe_classify):
 *
 *     P1 == P0                      ZT_NATPROBE_EIM: one mapping for both destinations
 *                                   (endpoint-independent, or address-dependent: the
 *                                   two destinations share one IP, so the two cannot
 *                                   be told apart here; ztna discover can, RFC 5780)
 *     same IP, P1 - P0 in 1..8      ZT_NATPROBE_SEQUENTIAL (endpoint-dependent, the
 *                                   next port; a random NAT does that with chance
 *                                   8/64512)
 *     same IP, anything else        ZT_NATPROBE_RANDOM (endpoint-dependent)
 *     another IP, another family    ZT_NATPROBE_UNKNOWN (a NAT that spreads mappings
 *                                   over several public IPs: neither prediction nor
 *                                   probing can aim at it)
 *
 * The request is retransmitted (RFC 8489 s6.2.1 shape, shorter): sent at 0, then
 * after ZT_NATPROBE_RTO doubling, ZT_NATPROBE_TRIES in all, and given up
 * ZT_NATPROBE_LAST_WAIT after the last (0.5, 1.5, 3.5 s; unknown at 5.5 s). Only an
 * answer from the server's address with our transaction ID, class success and a
 * mapped address decides; anything else is not taken (returns 0) or ignored.
 */
#ifndef ZT_CORE_NATPROBE_H
#define ZT_CORE_NATPROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/addr.h"
#include "core/stun.h"
#include "core/units.h"

#define ZT_NATPROBE_TRIES 4
#define ZT_NATPROBE_RTO (500 * ZT_MS)
#define ZT_NATPROBE_LAST_WAIT (2 * ZT_SEC)
/* The largest P1 - P0 still taken as sequential (as ztna discover's, core/natdisc.h). */
#define ZT_NATPROBE_SEQ_MAX_STEP 8
/* A Binding request with FINGERPRINT: 28 bytes. */
#define ZT_NATPROBE_REQ_LEN (ZT_STUN_HDR_LEN + 8)

enum zt_natprobe_result {
	ZT_NATPROBE_NONE = 0,     /* not started, or waiting for the answer */
	ZT_NATPROBE_EIM,
	ZT_NATPROBE_SEQUENTIAL,
	ZT_NATPROBE_RANDOM,
	ZT_NATPROBE_UNKNOWN,      /* no answer in time, or one that cannot be classified */
};

struct zt_natprobe {
	struct zt_addr observed;  /* P0 (family 0: never started) */
	struct zt_addr server;    /* the Intermediate's STUN port */
	uint8_t tid[ZT_STUN_TID_LEN];
	unsigned sent;
	uint64_t started;         /* the first send */
	uint64_t next_send;       /* ZT_TIME_NEVER: no more sends */
	uint64_t fail_at;         /* ZT_TIME_NEVER: not yet known */
	enum zt_natprobe_result result;
	struct zt_addr second;    /* P1, once answered */
	uint64_t took;            /* first send to the answer (or to giving up) */
};

void zt_natprobe_init(struct zt_natprobe *np);

/*
 * Detect anew for the observation observed (P0) with the server server (the
 * Intermediate's IP, its STUN port), the transaction ID tid (random, from the
 * caller). The first request is due at now. A probe already running or done for the
 * same observed address and server is kept (returns 0); otherwise the old result is
 * dropped and a new probe starts (returns 1). -EINVAL: observed or server unset, or
 * of different families.
 */
int zt_natprobe_start(struct zt_natprobe *np, uint64_t now, const struct zt_addr *observed,
		      const struct zt_addr *server, const uint8_t tid[ZT_STUN_TID_LEN]);

/* Stops a running probe without a result (the result of a finished one is kept). */
void zt_natprobe_stop(struct zt_natprobe *np);

/*
 * The request when one is due: writes it to buf and the server's address to *ret_to,
 * returns its length; 0 when nothing is due; -ENOBUFS when cap is below
 * ZT_NATPROBE_REQ_LEN.
 */
int zt_natprobe_poll_send(struct zt_natprobe *np, uint64_t now, uint8_t *buf, size_t cap,
			  struct zt_addr *ret_to);

/*
 * A datagram from from. Returns 1 when it was the answer to our request (taken: a
 * result may be known now, zt_natprobe_result), 0 when it is not ours (from another
 * address, another transaction, or no probe waits): the caller passes it on.
 * An answer of ours that is malformed, an error, or without a usable mapped
 * address is taken and ignored (the retransmissions go on).
 */
int zt_natprobe_recv(struct zt_natprobe *np, uint64_t now, const struct zt_addr *from,
		     const uint8_t *buf, size_t len);

/* When zt_natprobe_on_timeout or poll_send has something to do (ZT_TIME_NEVER: never). */
uint64_t zt_natprobe_next_deadline(const struct zt_natprobe *np);

/* Gives up (result ZT_NATPROBE_UNKNOWN) ZT_NATPROBE_LAST_WAIT after the last request. */
void zt_natprobe_on_timeout(struct zt_natprobe *np, uint64_t now);

/* True while requests are due or an answer is awaited. */
bool zt_natprobe_running(const struct zt_natprobe *np);

enum zt_natprobe_result zt_natprobe_result(const struct zt_natprobe *np);

/* The pure rule above: P0 observed, P1 second. */
enum zt_natprobe_result zt_natprobe_classify(const struct zt_addr *observed,
					     const struct zt_addr *second);

/* "none", "eim", "sequential", "random", "unknown". */
const char *zt_natprobe_name(enum zt_natprobe_result r);

#endif
