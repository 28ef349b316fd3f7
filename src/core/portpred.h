/*
 * Port prediction for a NAT that allocates public ports sequentially (sans-IO; the
 * design, with what it assumes and where it fails: docs/hard-nat.md).
 *
 * Behind an endpoint-dependent ("symmetric") NAT every new destination gets a new
 * public port; a sequential NAT hands them out in order, each new mapping the next
 * port. The node knows the order of its own sends: if its mapping towards the
 * Intermediate has public port P0 and it has sent to `since` new destinations after
 * that, its next new destination leaves from P0 + since + 1, as long as nothing else
 * behind the NAT takes a port meanwhile. This object keeps that count (the caller
 * reports the observation and every destination a datagram of the socket goes to) and
 * names the ports of the next n new mappings: the predicted candidates the node
 * signals, so that the peer sends to them (core/cand.h `predicted`).
 *
 * Counting errs low on purpose: a wrong guess that is too low by d is absorbed by the
 * check schedule (core/ice.h, predicted pairs) when d is small; a guess too high is
 * never right. So a destination counts once while it is in the table, and the table
 * remembers a destination for ZT_PORTPRED_DST_LIFE after its last datagram (longer
 * than most NATs keep an idle mapping: re-sending after the NAT forgot it takes a new
 * port that is not counted, too low); private, loopback, link-local and shared
 * (100.64/10) destinations are not counted (a router may drop them before its NAT:
 * again too low when it does not).
 */
#ifndef ZT_CORE_PORTPRED_H
#define ZT_CORE_PORTPRED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/addr.h"
#include "core/cand.h"
#include "core/units.h"

#define ZT_PORTPRED_DSTS 64
#define ZT_PORTPRED_DST_LIFE (300 * ZT_SEC)
/* Predicted candidates a node signals per ICE generation. */
#define ZT_PORTPRED_WINDOW 8
/* RFC 8445 s5.1.2.1 local preference of predicted candidate k: 32768 - k (the
 * observed srflx has 65534, a port mapping 65535: a predicted one is never preferred
 * to them). */
#define ZT_PORTPRED_LOCAL_PREF 32768

struct zt_portpred_dst {
	struct zt_addr addr;
	uint64_t last;               /* the last datagram to it */
};

struct zt_portpred {
	struct zt_addr observed;     /* the observed mapping's public address (family 0: none) */
	uint32_t since;              /* new destinations counted since it was observed */
	struct zt_portpred_dst dst[ZT_PORTPRED_DSTS];
	size_t ndst;
	uint64_t counted;            /* new destinations counted in all (statistics) */
};

void zt_portpred_init(struct zt_portpred *pp);

/*
 * The mapping towards `toward` (the Intermediate) is seen at public address `pub`
 * (WELCOME, OBSERVED_ADDRESS). A public address other than the last one restarts the
 * count from it; the same one changes nothing. `toward` is remembered as sent to.
 */
void zt_portpred_observed(struct zt_portpred *pp, uint64_t now, const struct zt_addr *pub,
			  const struct zt_addr *toward);

/* A datagram of the socket went to dst. */
void zt_portpred_sent(struct zt_portpred *pp, uint64_t now, const struct zt_addr *dst);

/*
 * Writes up to n predicted srflx candidates into out: the public addresses the node's
 * next new mappings will get, k = 1..n (candidate k has `predicted` k and port
 * P0 + since + k), component 1, related address base (the socket's host address, may
 * be NULL), foundation as a srflx from base obtained by server (the Intermediate).
 * Stops before a port above 65535. Returns how many (0 without an observation).
 */
size_t zt_portpred_cands(const struct zt_portpred *pp, const struct zt_addr *base,
			 const struct zt_addr *server, struct zt_cand *out, size_t n);

/*
 * The place of the peer's predicted candidate k in our checks (lower first; the
 * schedule of docs/hard-nat.md): in index order, except on the controlled side when
 * both sides predict, which takes the odd indexes first (1, 3, 5, ... then 2, 4, ...).
 * With the two orders unlike, a guess too low by d_a on the controlling side and d_c
 * on the controlled one still pairs the controlling side's check i = 1 + d_a + 2 d_c
 * with the controlled side's check j = 1 + d_a + d_c; with like orders only
 * d_a = d_c = 0 pairs.
 */
unsigned zt_portpred_rank(unsigned k, bool controlling, bool both_predict);

#endif
