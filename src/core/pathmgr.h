/*
 * The path manager: decides which path the end-to-end connection uses, relay or
 * direct, and when to try direct again. Sans-IO: the I/O shell reports ICE events,
 * received packets and the connection's in-flight state, and carries out the
 * decisions it polls (migrate, start a new ICE generation), each with a reason for
 * the log.
 *
 *   RELAY ----start ICE----> CHECKING --selected--> DIRECT
 *     ^                         |                     |
 *     |                      failed           consent lost, acknowledged
 *     |                         v             data stalls, or the peer
 *     |                         |             answers elsewhere only
 *     +--- cooldown expires -- COOLDOWN <-------------+  (migrate back to relay)
 *
 * Hysteresis: the cooldown before retrying direct starts at `cooldown` and doubles
 * after each failure or fallback (capped at cooldown_max); it resets once a direct
 * path has stayed up for `stable_after`. A direct path is never abandoned for a
 * reason other than evidence that it is dead, so the connection does not flap.
 *
 * Stall rule: on the direct path, when bytes are in flight and we have been sending
 * on it for stall_timeout = clamp(4 x smoothed RTT, stall_min, stall_max) without
 * receiving anything on it since the first of those sends, and the connection's probe
 * timeout has expired stall_ptos times in a row meanwhile (its own evidence that its
 * probes go unanswered), the path is dead. (Time spent idle before the sends does not
 * count.) Time alone took a lossy but working path for a dead one: with 20 % loss on
 * both access links (a third of the packets lost each way) a tail loss and a lost ACK
 * often leave 4 RTT without a packet, while a PTO round (two probes) goes unanswered
 * about one time in three, three in a row 4 % of the time. A dead path gets there
 * within 3 PTOs: a few hundred ms on a LAN-like path, at most about 3 s (the
 * connection caps its probe interval at a second, quic/conn.c). Idle paths are judged
 * by ICE consent instead, with
 * the keepalive interval and consent timeout this module picks: the idle values
 * while no data flows, the busy values (faster liveness) while it does.
 */
#ifndef ZT_CORE_PATHMGR_H
#define ZT_CORE_PATHMGR_H

#include <stdbool.h>
#include <stdint.h>

#include "core/cand.h"
#include "core/ice.h"

struct zt_path_config {
	uint64_t cooldown;       /* first retry after a failure; default 30 s */
	uint64_t cooldown_max;   /* default 8 x cooldown */
	uint64_t stable_after;   /* direct this long resets the backoff; default 120 s */
	uint64_t stall_min;      /* default 400 ms */
	uint64_t stall_max;      /* default 1500 ms (the fallback goal is < 2 s) */
	uint32_t stall_ptos;     /* probe timeouts in a row a stall needs; default 3 */
	uint64_t ka_idle;        /* keepalive interval while idle; default 25 s */
	uint64_t consent_idle;   /* consent timeout while idle; default 2.5 x ka_idle */
	uint64_t ka_busy;        /* while data flows; default 1 s */
	uint64_t consent_busy;   /* default 3 s */
	uint64_t busy_linger;    /* data in flight this recently, not answered since,
				    counts as busy; default 2 s */
	uint64_t netchange_debounce; /* default 500 ms */
	bool direct_disabled;    /* never try direct (stay on relay) */
};

enum zt_path_kind {
	ZT_PATH_KIND_RELAY = 0,
	ZT_PATH_KIND_DIRECT = 1,
};

enum zt_path_state {
	ZT_PATHMGR_RELAY = 0,    /* on relay, no ICE running, nothing scheduled */
	ZT_PATHMGR_CHECKING = 1, /* on relay, ICE running */
	ZT_PATHMGR_DIRECT = 2,
	ZT_PATHMGR_COOLDOWN = 3, /* on relay, retry scheduled */
};

enum zt_path_action {
	ZT_PATH_ACT_GO_DIRECT = 1,  /* migrate to decision.pair */
	ZT_PATH_ACT_GO_RELAY = 2,   /* migrate back to the relay path */
	ZT_PATH_ACT_START_ICE = 3,  /* gather, signal and check a new ICE generation */
};

struct zt_path_decision {
	enum zt_path_action action;
	const char *reason;         /* static text for logs: "nominated", "consent-lost", ... */
	struct zt_cand_pair pair;   /* GO_DIRECT only */
};

struct zt_path_stats {
	enum zt_path_kind path;
	uint32_t switches;          /* migrations carried out, both ways */
	uint32_t ice_attempts;
	uint32_t fallbacks;
	uint32_t ice_failed;        /* attempts that ended on the relay: no pair, or the
					       move to it refused */
	uint64_t ice_started;       /* when the current/last ICE generation started */
	uint64_t time_to_direct;    /* ns from the first ICE start to the first direct path; 0: never */
	uint64_t last_switch;
	const char *last_reason;
};

struct zt_pathmgr {
	struct zt_path_config cfg;
	enum zt_path_state state;
	uint64_t first_start, direct_since, retry_at, cooldown_cur;
	uint64_t last_direct_rx, last_busy, srtt;
	uint32_t pto_count;         /* the connection's probe timeouts in a row */
	uint64_t polled;            /* the last poll's time */
	bool tx_pending;            /* sent on the direct path since the last reception */
	uint64_t tx_since;          /* the first such send */
	uint64_t bytes_in_flight;
	uint64_t netchange_at;      /* pending re-gather, or 0 */
	bool pending_start;         /* START_ICE to emit */
	bool pending_relay;         /* GO_RELAY to emit */
	bool pending_direct;        /* GO_DIRECT to emit */
	const char *pending_reason;
	struct zt_cand_pair pair;
	struct zt_path_stats stats;
};

/* Initialises with defaults for zero fields; the session starts on the relay. */
void zt_pathmgr_init(struct zt_pathmgr *pm, const struct zt_path_config *cfg, uint64_t now);

/* Asks for the first ICE generation now (the session's signaling is up). */
void zt_pathmgr_begin(struct zt_pathmgr *pm, uint64_t now);

/* The shell started the ICE generation a START_ICE asked for. */
void zt_pathmgr_ice_started(struct zt_pathmgr *pm, uint64_t now);

/* An event from the current ICE generation. */
void zt_pathmgr_ice_event(struct zt_pathmgr *pm, uint64_t now, const struct zt_ice_event *ev);

/* A packet of the end-to-end connection arrived on / was sent on the direct path. */
void zt_pathmgr_direct_rx(struct zt_pathmgr *pm, uint64_t now);
void zt_pathmgr_direct_tx(struct zt_pathmgr *pm, uint64_t now);

/* The connection's state after each tick: bytes in flight, smoothed RTT (ns) and its
 * probe timeouts in a row (RFC 9002 PTO count; ZT_PATHMGR_PTOS_UNKNOWN from a shell
 * that has none: the stall rule then goes by time alone). */
#define ZT_PATHMGR_PTOS_UNKNOWN UINT32_MAX
void zt_pathmgr_conn_state(struct zt_pathmgr *pm, uint64_t now, uint64_t bytes_in_flight,
			   uint64_t srtt, uint32_t pto_count);

/* The connection got packets on a path other than its own since it moved to the
 * direct path, none on its own, and asked the peer `unanswered` times (a PTO apart) to
 * follow (quic/conn.c nudge_peer): at stall_ptos of them the peer is alive but cannot
 * follow, and the connection goes back to the relay ("peer-did-not-follow"). */
void zt_pathmgr_peer_elsewhere(struct zt_pathmgr *pm, uint64_t now, uint32_t unanswered);

/* The shell carried out (ok) or could not carry out a migration. */
void zt_pathmgr_migrated(struct zt_pathmgr *pm, uint64_t now, enum zt_path_kind to, bool ok);

/* The direct path is smaller than what the connection must carry (node/direct.h,
 * zt_direct_payload): back to the relay (reason path-mtu), a retry after the
 * cooldown. */
void zt_pathmgr_path_too_small(struct zt_pathmgr *pm, uint64_t now);

/* A local address or link changed (netlink): re-gather after a short debounce. */
void zt_pathmgr_netchange(struct zt_pathmgr *pm, uint64_t now);

/* Pops the next decision. Returns 1 (in *ret) or 0. Call after every input and timeout. */
int zt_pathmgr_poll(struct zt_pathmgr *pm, uint64_t now, struct zt_path_decision *ret);

/* When zt_pathmgr_poll() may have something without new input; ZT_TIME_NEVER if never. */
uint64_t zt_pathmgr_next_deadline(const struct zt_pathmgr *pm);

/* The keepalive interval and consent timeout ICE should use now. */
void zt_pathmgr_keepalive(const struct zt_pathmgr *pm, uint64_t now, uint64_t *ret_interval,
			  uint64_t *ret_timeout);

const char *zt_pathmgr_state_name(enum zt_path_state s);

#endif
