#include <string.h>

#include "core/pathmgr.h"
#include "core/units.h"

void zt_pathmgr_init(struct zt_pathmgr *pm, const struct zt_path_config *cfg, uint64_t now)
{
	struct zt_path_config c = cfg ? *cfg : (struct zt_path_config){ 0 };

	(void)now;
	if (!c.cooldown)
		c.cooldown = 30 * ZT_SEC;
	if (!c.cooldown_max)
		c.cooldown_max = 8 * c.cooldown;
	if (!c.stable_after)
		c.stable_after = 120 * ZT_SEC;
	if (!c.stall_min)
		c.stall_min = 400 * ZT_MS;
	if (!c.stall_max)
		c.stall_max = 1500 * ZT_MS;
	if (c.stall_max < c.stall_min)
		c.stall_max = c.stall_min;
	if (!c.stall_ptos)
		c.stall_ptos = 3;
	if (!c.ka_idle)
		c.ka_idle = 25 * ZT_SEC;
	if (!c.consent_idle)
		c.consent_idle = c.ka_idle * 5 / 2;
	if (!c.ka_busy)
		c.ka_busy = 1 * ZT_SEC;
	if (!c.consent_busy)
		c.consent_busy = 3 * ZT_SEC;
	if (!c.busy_linger)
		c.busy_linger = 2 * ZT_SEC;
	if (!c.netchange_debounce)
		c.netchange_debounce = 500 * ZT_MS;
	*pm = (struct zt_pathmgr){
		.cfg = c,
		.state = ZT_PATHMGR_RELAY,
		.cooldown_cur = c.cooldown,
		.stats = { .path = ZT_PATH_KIND_RELAY, .last_reason = "start" },
	};
}

static void request_start(struct zt_pathmgr *pm, const char *reason)
{
	if (pm->cfg.direct_disabled)
		return;
	pm->pending_start = true;
	pm->pending_reason = reason;
}

void zt_pathmgr_begin(struct zt_pathmgr *pm, uint64_t now)
{
	(void)now;
	if (pm->state == ZT_PATHMGR_RELAY)
		request_start(pm, "session-up");
}

void zt_pathmgr_ice_started(struct zt_pathmgr *pm, uint64_t now)
{
	if (!pm->stats.ice_attempts)
		pm->first_start = now;
	pm->stats.ice_attempts++;
	pm->stats.ice_started = now;
	/* a new generation while direct (network change) keeps the direct path meanwhile */
	if (pm->state != ZT_PATHMGR_DIRECT)
		pm->state = ZT_PATHMGR_CHECKING;
}

/* Leaves the direct path or a failed attempt: relay now, retry after the cooldown. */
static void back_off(struct zt_pathmgr *pm, uint64_t now, const char *reason, bool migrate)
{
	if (migrate) {
		pm->pending_relay = true;
		pm->pending_direct = false;
		pm->stats.fallbacks++;
	} else {
		pm->stats.ice_failed++;
	}
	pm->pending_reason = reason;
	pm->state = ZT_PATHMGR_COOLDOWN;
	pm->retry_at = now + pm->cooldown_cur;
	pm->cooldown_cur = pm->cooldown_cur * 2 > pm->cfg.cooldown_max ? pm->cfg.cooldown_max
									: pm->cooldown_cur * 2;
	pm->stats.last_reason = reason;
}

void zt_pathmgr_ice_event(struct zt_pathmgr *pm, uint64_t now, const struct zt_ice_event *ev)
{
	switch (ev->type) {
	case ZT_ICE_EV_SELECTED:
		/* In COOLDOWN: the failed generation came back for a late peer (ice.h). */
		if (pm->state == ZT_PATHMGR_CHECKING || pm->state == ZT_PATHMGR_COOLDOWN) {
			pm->pair = ev->pair;
			pm->pending_direct = true;
			pm->pending_reason = pm->state == ZT_PATHMGR_COOLDOWN ? "nominated-late-peer"
									      : "nominated";
			pm->state = ZT_PATHMGR_DIRECT;
			pm->direct_since = now;
			pm->last_direct_rx = now;
			pm->tx_pending = false;
		} else if (pm->state == ZT_PATHMGR_DIRECT &&
			   (!zt_addr_equal(&ev->pair.remote.addr, &pm->pair.remote.addr) ||
			    !zt_addr_equal(&ev->pair.local.addr, &pm->pair.local.addr))) {
			/* a later generation (network change) found another pair */
			pm->pair = ev->pair;
			pm->pending_direct = true;
			pm->pending_reason = "new-pair";
			pm->last_direct_rx = now;
			pm->tx_pending = false;
		}
		break;
	case ZT_ICE_EV_FAILED:
		if (pm->state == ZT_PATHMGR_CHECKING)
			back_off(pm, now, "no-pair-succeeded", false);
		break;
	case ZT_ICE_EV_CONSENT_LOST:
		if (pm->state == ZT_PATHMGR_DIRECT)
			back_off(pm, now, "consent-lost", true);
		break;
	default:
		break;
	}
}

void zt_pathmgr_direct_rx(struct zt_pathmgr *pm, uint64_t now)
{
	if (now > pm->last_direct_rx)
		pm->last_direct_rx = now;
	pm->tx_pending = false;
}

void zt_pathmgr_direct_tx(struct zt_pathmgr *pm, uint64_t now)
{
	if (!pm->tx_pending) {
		pm->tx_pending = true;
		pm->tx_since = now;
	}
}

void zt_pathmgr_conn_state(struct zt_pathmgr *pm, uint64_t now, uint64_t bytes_in_flight,
			   uint64_t srtt, uint32_t pto_count)
{
	pm->pto_count = pto_count;
	/* Only sends that expect an answer count: a send without data in flight (an ACK)
	 * may never be answered, so the clock restarts when data goes in flight. */
	if (bytes_in_flight && !pm->bytes_in_flight && pm->tx_pending)
		pm->tx_since = now;
	pm->bytes_in_flight = bytes_in_flight;
	if (srtt)
		pm->srtt = srtt;
	if (bytes_in_flight)
		pm->last_busy = now;
}

void zt_pathmgr_peer_elsewhere(struct zt_pathmgr *pm, uint64_t now, uint32_t unanswered)
{
	if (pm->state == ZT_PATHMGR_DIRECT && unanswered >= pm->cfg.stall_ptos)
		back_off(pm, now, "peer-did-not-follow", true);
}

void zt_pathmgr_path_too_small(struct zt_pathmgr *pm, uint64_t now)
{
	if (pm->state == ZT_PATHMGR_DIRECT)
		back_off(pm, now, "path-mtu", true);
}

void zt_pathmgr_migrated(struct zt_pathmgr *pm, uint64_t now, enum zt_path_kind to, bool ok)
{
	if (!ok) {
		if (to == ZT_PATH_KIND_DIRECT && pm->state == ZT_PATHMGR_DIRECT)
			back_off(pm, now, "migration-refused", false);
		return;
	}
	if (pm->stats.path != to) {
		pm->stats.switches++;
		pm->stats.last_switch = now;
	}
	pm->stats.path = to;
	if (to == ZT_PATH_KIND_DIRECT) {
		pm->last_direct_rx = now;
		pm->tx_pending = false;
		if (!pm->stats.time_to_direct)
			pm->stats.time_to_direct = now > pm->first_start ? now - pm->first_start : 1;
	}
}

void zt_pathmgr_netchange(struct zt_pathmgr *pm, uint64_t now)
{
	if (!pm->netchange_at)
		pm->netchange_at = now;
}

static uint64_t stall_timeout(const struct zt_pathmgr *pm)
{
	uint64_t t = 4 * pm->srtt;

	if (t < pm->cfg.stall_min)
		t = pm->cfg.stall_min;
	if (t > pm->cfg.stall_max)
		t = pm->cfg.stall_max;
	return t;
}

int zt_pathmgr_poll(struct zt_pathmgr *pm, uint64_t now, struct zt_path_decision *ret)
{
	pm->polled = now;
	/* A change while a generation runs waits for its end: when that fails, the next
	 * generation starts at once, not after the cooldown (the change may be what opens
	 * a pair: a NAT detected while checking, docs/hard-nat.md); when it succeeds, the
	 * next one checks again from the direct path. */
	if (pm->netchange_at && now >= pm->netchange_at + pm->cfg.netchange_debounce &&
	    pm->state != ZT_PATHMGR_CHECKING) {
		pm->netchange_at = 0;
		request_start(pm, "network-change");
	}
	if (pm->state == ZT_PATHMGR_DIRECT && pm->bytes_in_flight && pm->tx_pending &&
	    now >= pm->tx_since + stall_timeout(pm) && pm->pto_count >= pm->cfg.stall_ptos)
		back_off(pm, now, "data-stalled", true);
	if (pm->state == ZT_PATHMGR_DIRECT && now >= pm->direct_since + pm->cfg.stable_after)
		pm->cooldown_cur = pm->cfg.cooldown;
	if (pm->state == ZT_PATHMGR_COOLDOWN && now >= pm->retry_at && !pm->pending_start)
		request_start(pm, "retry-after-cooldown");

	if (pm->pending_relay) {
		pm->pending_relay = false;
		*ret = (struct zt_path_decision){ .action = ZT_PATH_ACT_GO_RELAY,
						  .reason = pm->stats.last_reason };
		return 1;
	}
	if (pm->pending_direct) {
		pm->pending_direct = false;
		pm->stats.last_reason = pm->pending_reason;
		*ret = (struct zt_path_decision){ .action = ZT_PATH_ACT_GO_DIRECT,
						  .reason = pm->pending_reason, .pair = pm->pair };
		return 1;
	}
	if (pm->pending_start) {
		pm->pending_start = false;
		*ret = (struct zt_path_decision){ .action = ZT_PATH_ACT_START_ICE,
						  .reason = pm->pending_reason };
		/* until the shell says it started, a retry is not re-requested */
		if (pm->state == ZT_PATHMGR_COOLDOWN || pm->state == ZT_PATHMGR_RELAY)
			pm->state = ZT_PATHMGR_CHECKING;
		return 1;
	}
	return 0;
}

uint64_t zt_pathmgr_next_deadline(const struct zt_pathmgr *pm)
{
	uint64_t d = ZT_TIME_NEVER;

#define EARLIER(t) do { if ((t) < d) d = (t); } while (0)
	if (pm->pending_relay || pm->pending_direct || pm->pending_start)
		return 0;
	if (pm->netchange_at && pm->state != ZT_PATHMGR_CHECKING)
		EARLIER(pm->netchange_at + pm->cfg.netchange_debounce);
	if (pm->state == ZT_PATHMGR_DIRECT) {
		/* past the time bound, the PTO count comes with the connection's own
		 * timer (zt_pathmgr_conn_state after it) */
		if (pm->bytes_in_flight && pm->tx_pending &&
		    (pm->pto_count >= pm->cfg.stall_ptos ||
		     pm->tx_since + stall_timeout(pm) > pm->polled))
			EARLIER(pm->tx_since + stall_timeout(pm));
		if (pm->cooldown_cur != pm->cfg.cooldown)
			EARLIER(pm->direct_since + pm->cfg.stable_after);
	}
	if (pm->state == ZT_PATHMGR_COOLDOWN)
		EARLIER(pm->retry_at);
#undef EARLIER
	return d;
}

void zt_pathmgr_keepalive(const struct zt_pathmgr *pm, uint64_t now, uint64_t *ret_interval,
			  uint64_t *ret_timeout)
{
	/* Busy: bytes in flight, or lately and nothing received on the path since. A
	 * keepalive PING answered, or the end of a transfer, is idle at once: the answer
	 * proved the path (the busy checks after each keepalive made an idle direct
	 * path cost three times the keepalive). */
	bool busy = pm->bytes_in_flight ||
		    (pm->last_busy && now < pm->last_busy + pm->cfg.busy_linger && pm->tx_pending);

	*ret_interval = busy ? pm->cfg.ka_busy : pm->cfg.ka_idle;
	*ret_timeout = busy ? pm->cfg.consent_busy : pm->cfg.consent_idle;
}

const char *zt_pathmgr_state_name(enum zt_path_state s)
{
	switch (s) {
	case ZT_PATHMGR_RELAY: return "relay";
	case ZT_PATHMGR_CHECKING: return "checking";
	case ZT_PATHMGR_DIRECT: return "direct";
	case ZT_PATHMGR_COOLDOWN: return "cooldown";
	}
	return "?";
}
