/*
 * ICE connectivity checks (RFC 8445) for one data stream with one component, as a
 * sans-IO state machine: candidates and credentials in, STUN datagrams out, a
 * selected (nominated) candidate pair and events as the result.
 *
 * Drive it like the rest of the core:
 *   zt_ice_recv(ice, now, local, from, buf, len)   every STUN datagram the socket gets
 *   zt_ice_poll_send(ice, now, buf, cap, &local, &remote)   until it returns 0
 *   zt_ice_next_deadline(ice) / zt_ice_on_timeout(ice, now)
 *   zt_ice_poll_event(ice, &ev)   after any of the above
 *
 * Choices, each a deliberate simplification or deviation (both ends are ztna):
 *  - One checklist, no frozen state: every pair starts Waiting (RFC 8445 s6.1.2.6
 *    freezes pairs sharing a foundation to save checks across components and streams;
 *    with one component and at most 100 pairs it only delays the first success).
 *  - Nomination: the controlling side puts USE-CANDIDATE on every check (the "aggressive"
 *    nomination of RFC 5245; RFC 8445 s8.1.1 only describes regular nomination). The
 *    first pair whose check succeeds is nominated on both sides in one round trip, which
 *    is what the time-to-direct goal needs; later successes do not replace it.
 *  - Relay candidates are signalled for visibility but never paired: the relay path is
 *    the end-to-end connection's fallback, always available, outside ICE.
 *  - Local srflx candidates are replaced by their base when pairing (s6.1.2.4), so every
 *    check is sent from a host address of the one socket.
 *  - A generation that FAILED because no pair succeeded in time goes back to CHECKING
 *    (at most ZT_ICE_MAX_REVIVALS times) when an authenticated check from the peer
 *    arrives: the peer started late (skew, lost signaling) and the holes are open
 *    now. A SELECTED event may therefore follow a FAILED one. Consent loss is final.
 *  - After selection, checks stop and consent freshness (RFC 7675 in spirit) runs on
 *    the selected pair: a Binding request every keepalive interval; consent is lost
 *    when nothing authenticated (response, or request from the peer) arrives on the
 *    pair for consent_timeout. Authenticated traffic from the peer (zt_ice_note_alive;
 *    on the controlled side its request too) also postpones our next request to 9/8
 *    of an interval after it: a pair that carries the connection's packets needs no
 *    checks, and the controlling side's checks spare the controlled side its own.
 *  - Path MTU (RFC 8899 DPLPMTUD, probing with padded Binding requests: PADDING of
 *    RFC 5780 s7.6): when a pair is selected, one padded request of each size in
 *    cfg.mtu_probe (UDP payload bytes, rounded up to the 4 bytes STUN messages come
 *    in) goes on it, each up to MTU_PROBE_TX times rto_initial apart. An
 *    authenticated answer (success or error: either proves the request arrived
 *    whole) confirms its size; zt_ice_path_mtu() says the largest confirmed and,
 *    once no larger probe is pending, that probing ended (ZT_ICE_EV_PATH_MTU). A
 *    probe lost to the path's MTU (ICMP Packet Too Big, the sender's EMSGSIZE, or a
 *    silent drop) is simply never answered. Probes prove our sending direction only;
 *    the peer probes its own. They are not consent checks (a lost probe costs no
 *    consent), but an answer proves consent like one.
 *
 * Pacing: a new check (ordinary or triggered) leaves at most every Ta; retransmissions
 * follow each transaction's own timer (initial RTO, doubling, capped), so a lossy or
 * filtered path (a port-restricted NAT drops the first punch) is retried quickly.
 *
 * Predicted candidates (core/cand.h `predicted`, docs/hard-nat.md): a peer behind a
 * NAT that allocates ports sequentially names the ports its next new mappings will
 * get. They pair with the first host candidate of their family only and are checked
 * before the ordinary pairs (after triggered checks), in the order of
 * zt_portpred_rank(): index order, or odd indexes first on the controlled side when
 * cfg.predicting (we signalled predicted candidates of our own). When we predict, our
 * k-th check to a new address leaves from our k-th predicted port, so that order is
 * kept: while a predicted pair waits for the budget, no ordinary check goes first.
 * They are paid from the budget like every check to an address that has not answered.
 * When an authenticated request arrives from one of them, the peer's NAT gave that
 * port: the other predicted pairs that have neither succeeded nor been heard from
 * stop (they would only spend the address's budget the right pair needs).
 *
 * Budget (RFC 8445 s19.5.1, the STUN amplification or "voice hammer" attack; RFC 7675
 * consent): the peer may name any address, a victim's among them. A check (new,
 * triggered or retransmitted) to a remote address that has not answered one yet takes
 * a token from the session's and the process's budgets (core/checkbudget.h); without
 * one it waits, and other pairs go first. An authenticated success response from the
 * address (or the address being cfg.trusted: the relay) makes it answered: its
 * checks are free from then on and the tokens they took come back. An authenticated
 * request from an address pays for one check back to it (the triggered check of
 * s7.3.1.4, or the retransmission it hurries; at most two saved up): never more
 * checks than requests, so no amplification, and a late peer's arrival is answered
 * even when many unanswered (predicted) candidates of its address spent the budget.
 * The signalled remote candidates kept are bounded by cfg.max_remote ("agents MAY
 * limit the number of candidates they will accept", s19.5.1).
 */
#ifndef ZT_CORE_ICE_H
#define ZT_CORE_ICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/addr.h"
#include "core/cand.h"
#include "core/checkbudget.h"
#include "core/rng.h"
#include "core/tokens.h"

#define ZT_ICE_MAX_LOCAL 8
#define ZT_ICE_MAX_REMOTE 48     /* signalled + peer-reflexive */
#define ZT_ICE_MAX_PAIRS 100     /* the bound, and RFC 8445 s6.1.2.5's default */
#define ZT_ICE_UFRAG_MAX 32
#define ZT_ICE_PWD_MAX 64
/* How often a failed generation comes back to life for a late peer (see zt_ice_recv). */
#define ZT_ICE_MAX_REVIVALS 2
/* Path MTU probe sizes per selected pair, at most (see Path MTU). */
#define ZT_ICE_MTU_PROBES 2

struct zt_ice_config {
	bool controlling;
	uint64_t tie_breaker;       /* random 64 bits (RFC 8445 s7.1.1) */
	const char *local_ufrag;    /* 4..32 ice-chars */
	const char *local_pwd;      /* 22..64 ice-chars */
	struct zt_rng rng;          /* transaction IDs */
	uint64_t ta;                /* pacing between new checks; default 20 ms (<= 50 ms) */
	uint64_t rto_initial;       /* first retransmission; default 100 ms */
	uint64_t rto_max;           /* retransmission cap; default 400 ms */
	uint64_t fail_timeout;      /* no pair by start + this: FAILED; default 5 s */
	uint64_t keepalive_interval; /* consent checks on the selected pair; default 15 s */
	uint64_t consent_timeout;   /* no authenticated traffic for this long: lost; default 30 s */
	const char *software;       /* SOFTWARE attribute, or NULL for none */
	size_t max_remote;          /* signalled remote candidates kept; 0 (or more than
				       ZT_ICE_MAX_REMOTE): ZT_ICE_MAX_REMOTE */
	/* Checks to addresses that have not answered are paid from these (see Budget
	 * above); they must outlive the agent. NULL: not bounded there. */
	struct zt_tokens *session_budget;
	struct zt_check_budget *budget;
	struct zt_addr trusted;     /* an address that counts as answered (the relay);
				       family 0: none */
	bool predicting;            /* we signal predicted candidates (see above) */
	/* Path MTU probes on the selected pair (see Path MTU above): UDP payload sizes,
	 * each 1200..1500, largest first; 0 ends the list (none: no probes). */
	uint16_t mtu_probe[ZT_ICE_MTU_PROBES];
};

enum zt_ice_state {
	ZT_ICE_NEW = 0,       /* gathering / waiting for the peer's credentials or start */
	ZT_ICE_CHECKING = 1,
	ZT_ICE_CONNECTED = 2, /* a pair is selected */
	ZT_ICE_FAILED = 3,    /* no pair worked in time, or consent was lost */
};

enum zt_ice_event_type {
	ZT_ICE_EV_SELECTED = 1,     /* ev.pair is the nominated pair: use it */
	ZT_ICE_EV_FAILED = 2,       /* no pair succeeded before fail_timeout (or all failed) */
	ZT_ICE_EV_CONSENT_LOST = 3, /* the selected pair stopped answering */
	ZT_ICE_EV_PRFLX = 4,        /* learned a peer-reflexive remote candidate (ev.pair.remote) */
	ZT_ICE_EV_ROLE_CHANGE = 5,  /* a role conflict switched our role (ev.controlling) */
	ZT_ICE_EV_PATH_MTU = 6,     /* probing of the selected pair ended: zt_ice_path_mtu() */
};

struct zt_ice_event {
	enum zt_ice_event_type type;
	struct zt_cand_pair pair;
	bool controlling;
};

struct zt_ice_stats {
	uint64_t checks_sent;       /* first transmissions */
	uint64_t retransmits;
	uint64_t requests_received; /* authenticated */
	uint64_t responses_received; /* matching, authenticated */
	uint64_t dropped_auth;      /* bad USERNAME or MESSAGE-INTEGRITY */
	uint64_t dropped_fingerprint;
	uint64_t dropped_malformed;
	uint64_t dropped_unmatched; /* responses to no transaction of ours */
	uint64_t role_conflicts;
	uint64_t prflx_learned;
	uint64_t keepalives_sent;
	uint64_t revivals;          /* failed, then checked again for a late peer */
	uint64_t checks_deferred;   /* a check waited for the budget (counted per try) */
	uint64_t remote_limited;    /* signalled remote candidates over max_remote */
	uint64_t predicted_pruned;  /* predicted pairs stopped: another one was heard from */
	uint64_t mtu_probes_sent;   /* padded requests, retransmissions included */
	uint64_t mtu_probes_answered;
	uint64_t start_time;        /* when checks started (0: not yet) */
	uint64_t selected_time;     /* when a pair was selected (0: not yet) */
};

struct zt_ice;

/*
 * Creates an agent. Returns 0 or -EINVAL (bad ufrag/pwd, missing rng), -ENOMEM.
 * Zero timing fields take the defaults above.
 */
int zt_ice_new(struct zt_ice **ret, const struct zt_ice_config *cfg);
void zt_ice_free(struct zt_ice *ice);

/*
 * Adds a local candidate (host or srflx; relay and prflx are accepted and kept for
 * signalling but not paired). Host candidates are the addresses checks are sent from.
 * Returns 0, ZT_ECAND_LIMIT when full, or a zt_cand_check() error. Duplicates are
 * ignored (0).
 */
int zt_ice_add_local(struct zt_ice *ice, const struct zt_cand *c);

/* The local candidates, for signalling. Returns how many were copied (<= cap). */
size_t zt_ice_local_cands(const struct zt_ice *ice, struct zt_cand *out, size_t cap);

/* The peer's ICE credentials. Returns 0 or -EINVAL (empty or too long). */
int zt_ice_set_remote_credentials(struct zt_ice *ice, const char *ufrag, const char *pwd);

/*
 * Adds a remote candidate (offer, answer or trickle). Forms pairs with every local
 * host candidate of the same family, up to ZT_ICE_MAX_PAIRS (lowest priority pairs are
 * dropped when over). Returns 0, ZT_ECAND_LIMIT (remote list full, or cfg.max_remote
 * signalled candidates reached), or a zt_cand_check() error. Duplicates (same
 * address) are ignored (0).
 */
int zt_ice_add_remote(struct zt_ice *ice, const struct zt_cand *c);

/* The peer sent end-of-candidates: once every pair has failed, ICE fails early. */
void zt_ice_remote_done(struct zt_ice *ice);

/*
 * Starts ordinary checks at time `at` (the coordinated start moment; may be in the
 * past). Requests from the peer are answered before this. Returns 0, or -EINVAL when
 * the remote credentials are not set.
 */
int zt_ice_start(struct zt_ice *ice, uint64_t at);

/*
 * Processes one datagram that arrived at local address `local` from `from`.
 * Returns 1 when it was an ICE STUN message (consumed, possibly dropped and counted),
 * 0 when it is not STUN (the caller passes it on), or a negative code for a STUN
 * message this agent dropped (ZT_ESTUN_*: counted in the stats; no state changed).
 */
int zt_ice_recv(struct zt_ice *ice, uint64_t now, const struct zt_addr *local,
		const struct zt_addr *from, const uint8_t *buf, size_t len);

/*
 * Whether a STUN datagram belongs to this agent: a request whose USERNAME starts with
 * our ufrag and ':', or a response to one of our transactions. Lets a program with
 * several agents (one per session) hand each datagram to the right one. Reads only.
 */
bool zt_ice_match(const struct zt_ice *ice, const uint8_t *buf, size_t len);

/*
 * Produces the next datagram to send, from *ret_local to *ret_remote. Returns its
 * length, 0 when nothing is due now, or -ENOBUFS when cap is too small (1280 is
 * always enough).
 */
int zt_ice_poll_send(struct zt_ice *ice, uint64_t now, uint8_t *buf, size_t cap,
		     struct zt_addr *ret_local, struct zt_addr *ret_remote);

/*
 * A Binding request for the peer that no transaction tracks (birthday probing,
 * core/birthday.h): USERNAME, PRIORITY of a peer-reflexive candidate from our first host,
 * our role, MESSAGE-INTEGRITY with the peer's password, FINGERPRINT, a fresh
 * transaction ID. The peer's agent answers it like a check and sends its triggered
 * check back; its answer to us is dropped as unmatched. Returns the length,
 * -EAGAIN before the peer's credentials, -ENOBUFS when cap is too small.
 */
int zt_ice_build_probe(struct zt_ice *ice, uint8_t *buf, size_t cap);

/* A generation that waits longer for its first pair (birthday probing: the probes
 * take seconds): ICE fails fail_timeout after its start instead (0: unchanged). */
void zt_ice_set_fail_timeout(struct zt_ice *ice, uint64_t fail_timeout);

/* The next time zt_ice_on_timeout() has work, or ZT_TIME_NEVER. */
uint64_t zt_ice_next_deadline(const struct zt_ice *ice);
void zt_ice_on_timeout(struct zt_ice *ice, uint64_t now);

/* Pops the oldest event. Returns 1 (an event in *ev) or 0 (none). */
int zt_ice_poll_event(struct zt_ice *ice, struct zt_ice_event *ev);

enum zt_ice_state zt_ice_state(const struct zt_ice *ice);
/* The selected pair. Returns 0 or -ENOENT. */
int zt_ice_selected(const struct zt_ice *ice, struct zt_cand_pair *ret);
bool zt_ice_controlling(const struct zt_ice *ice);
const struct zt_ice_stats *zt_ice_stats(const struct zt_ice *ice);

/*
 * Consent checks on the selected pair every `interval`, lost after `timeout` without
 * authenticated traffic (the path manager shortens both while data flows). A shorter
 * timeout starts with a grace of two intervals, so an idle path is re-probed before it
 * is judged. Zero leaves a value unchanged.
 */
void zt_ice_set_keepalive(struct zt_ice *ice, uint64_t now, uint64_t interval, uint64_t timeout);

/* Tells the agent that authenticated traffic from the selected pair's remote arrived
 * (QUIC packets of the connection on the direct path that decrypted), which proves
 * consent as well as a STUN response, and postpones our next consent check (above). */
void zt_ice_note_alive(struct zt_ice *ice, uint64_t now);

/*
 * The largest UDP payload a path-MTU probe confirmed on the selected pair (0: none
 * yet, none selected, or no probes configured). *ret_final (may be NULL): probing of
 * the selected pair ended (no larger probe is pending); the value holds until another
 * pair is selected.
 */
size_t zt_ice_path_mtu(const struct zt_ice *ice, bool *ret_final);

/* Pair count and the state of each, for status output and tests. */
size_t zt_ice_pair_count(const struct zt_ice *ice);
const char *zt_ice_state_name(enum zt_ice_state s);

#endif
