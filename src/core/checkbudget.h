/*
 * What connectivity checks to addresses that have not answered may cost, across the
 * sessions of one process (sans-IO, time passed in).
 *
 * RFC 8445 s19.5.1: an authenticated peer can name any address as its candidate (a
 * victim's) and so turn signaling into STUN traffic towards it; the amplification
 * cannot be removed, only bounded. Until an address has answered a check (RFC 7675:
 * consent), every check sent to it takes one token from each of three buckets: the
 * session's (struct zt_tokens the caller keeps per session, across ICE generations),
 * the destination IP's (shared by all sessions: one victim gets little however many
 * sessions name it), and the process's. A check that finds a bucket empty waits; the
 * first checks of a session fit in the bursts, so punching is not slowed, only the
 * sustained rate is capped. An answer gives the check's tokens back (it was not sent
 * to a victim), so busy but working sessions do not use the budget up.
 *
 * The destination table keeps ZT_CHECK_BUDGET_DSTS IPs; a new one takes the slot of
 * the one with the most tokens (the most idle). An attacker naming more victims than
 * that resets some of their buckets: the process's bucket still bounds the total.
 */
#ifndef ZT_CORE_CHECKBUDGET_H
#define ZT_CORE_CHECKBUDGET_H

#include <stdbool.h>
#include <stdint.h>

#include "core/addr.h"
#include "core/tokens.h"

#define ZT_CHECK_BUDGET_DSTS 64
/* Each bucket's burst is this many seconds of its rate. */
#define ZT_CHECK_BUDGET_BURST_S 8

struct zt_check_budget_config {
	uint32_t session_rate;   /* checks/s of one session; 0: 4 */
	uint32_t dest_rate;      /* checks/s to one IP, all sessions; 0: 2 */
	uint32_t total_rate;     /* checks/s of the process; 0: 100 */
};

struct zt_check_budget_stats {
	uint64_t taken;          /* checks charged */
	uint64_t refunded;       /* tokens given back by answers */
	uint64_t deferred;       /* times a check found a bucket empty and waited */
};

struct zt_check_budget {
	struct zt_check_budget_config cfg;
	struct zt_tokens total;
	struct {
		struct zt_addr ip;   /* port 0; family 0: free */
		struct zt_tokens t;
	} dst[ZT_CHECK_BUDGET_DSTS];
	struct zt_check_budget_stats st;
};

/* Zero config fields take the defaults. */
void zt_check_budget_init(struct zt_check_budget *b, const struct zt_check_budget_config *cfg,
			  uint64_t now);

/* A session's own bucket (kept by the caller for the session's life). */
void zt_check_budget_session(const struct zt_check_budget *b, struct zt_tokens *session,
			     uint64_t now);

/*
 * Charges one check to `to` against session (may be NULL) and the budget (may be NULL:
 * then only the session's). Returns true when every bucket had a token (each lost
 * one), false when one was empty (nothing taken; counted as deferred).
 */
bool zt_check_budget_take(struct zt_check_budget *b, struct zt_tokens *session, uint64_t now,
			  const struct zt_addr *to);

/* The earliest time >= now at which a check to `to` would be charged (an estimate:
 * other sessions may take the shared tokens first). */
uint64_t zt_check_budget_when(const struct zt_check_budget *b, const struct zt_tokens *session,
			      uint64_t now, const struct zt_addr *to);

/* `to` answered: the n tokens its checks took come back. */
void zt_check_budget_refund(struct zt_check_budget *b, struct zt_tokens *session,
			    const struct zt_addr *to, uint32_t n);

#endif
