#include <stddef.h>

#include "app/peermetrics.h"

/* Sessions now by path, and how many of them went direct. */
static void sessions(const struct zt_peer *peer, struct zt_prom *p)
{
	uint32_t ids[256];
	size_t n = zt_peer_session_ids(peer, ids, 256);
	uint64_t direct = 0, tcp = 0, relay = 0, went_direct = 0;

	for (size_t i = 0; i < n; i++) {
		struct zt_peer_path_info pi;
		if (zt_peer_session_path(peer, ids[i], &pi) < 0)
			continue;
		if (pi.direct && pi.tcp)
			tcp++;
		else if (pi.direct)
			direct++;
		else
			relay++;
		went_direct += pi.time_to_direct != 0;
	}
	ZT_PROM_MANY(p, "ztna_sessions", "gauge", "Sessions now, by the path they take.", "path",
	     { "direct", direct }, { "direct_tcp", tcp }, { "relay", relay });
	ZT_PROM_ONE(p, "ztna_sessions_went_direct", "gauge",
	    "Sessions now that reached a direct path at least once.", went_direct);
}

/* What the sessions did with direct paths (node/pathcount.h). */
static void paths(const struct zt_path_counts *c, struct zt_prom *p)
{
	struct zt_prom_lv why[ZT_PATH_WHY_MAX];

	ZT_PROM_MANY(p, "ztna_ice_total", "counter",
	     "ICE attempts (agent): begun, and ended on the relay (no pair, or the move refused).",
	     "outcome", { "started", c->ice_started }, { "failed", c->ice_failed });
	ZT_PROM_ONE(p, "ztna_path_switches_direct_total", "counter",
	    "Moves of a session onto a direct path.", c->to_direct);
	for (int w = 0; w < ZT_PATH_WHY_MAX; w++)
		why[w] = (struct zt_prom_lv){ .value = zt_path_why_name((enum zt_path_why)w),
					      .n = c->to_relay[w] };
	zt_prom_values(p, "ztna_path_switches_relay_total", "counter",
		       "Moves of a session back to the relay, by reason.", "reason", why,
		       ZT_PATH_WHY_MAX);
	zt_prom_histogram(p, "ztna_time_to_direct_seconds",
			  "Time from a session's first ICE attempt to its first direct path.",
			  zt_path_ttd_le, c->ttd_le, ZT_PATH_TTD_BUCKETS, c->ttd_count,
			  (double)c->ttd_sum_ns / 1e9);
}

void zt_peer_metrics(const struct zt_peer *peer, struct zt_prom *p, uint64_t uptime_ns)
{
	struct zt_peer_stats s;

	zt_peer_stats(peer, &s);
	zt_prom_family(p, "ztna_uptime_seconds", "gauge", "Seconds since the program started.");
	zt_prom_f64(p, "ztna_uptime_seconds", NULL, NULL, (double)uptime_ns / 1e9);
	ZT_PROM_ONE(p, "ztna_outer_up", "gauge", "1 while logged in to the Intermediate.",
	    zt_peer_state(peer) == ZT_PEER_READY);
	sessions(peer, p);
	paths(zt_peer_path_counts(peer), p);
	ZT_PROM_MANY(p, "ztna_logins_total", "counter", "Outer connection events.", "event",
	     { "connect", s.connects }, { "welcome", s.welcomes }, { "refused", s.refusals },
	     { "moved", s.moves }, { "reset", s.resets_received });
	ZT_PROM_MANY(p, "ztna_sessions_total", "counter", "Sessions, by outcome.", "result",
	     { "opened", s.sessions_opened }, { "failed", s.sessions_failed },
	     { "resumed", s.sessions_resumed });
	ZT_PROM_MANY(p, "ztna_relay_packets_total", "counter",
	     "End-to-end packets through the Intermediate.", "direction",
	     { "in", s.relay_in }, { "out", s.relay_out });
	ZT_PROM_MANY(p, "ztna_relay_channel_packets_total", "counter", "Of those, on the relay channel.",
	     "direction", { "in", s.relay_chan_in }, { "out", s.relay_chan_out });
	ZT_PROM_MANY(p, "ztna_datagrams_total", "counter", "UDP datagrams on the node's socket.",
	     "direction", { "in", s.dgrams_in }, { "out", s.dgrams_out });
	ZT_PROM_MANY(p, "ztna_dropped_total", "counter", "Packets dropped, by reason.", "reason",
	     { "garbage", s.dropped_garbage }, { "stun", s.dropped_stun },
	     { "outer", s.dropped_outer }, { "unknown", s.dropped_unknown },
	     { "relay_session", s.relay_dropped_session },
	     { "relay_malformed", s.relay_dropped_malformed },
	     { "relay_queue", s.relay_dropped_queue }, { "relay_channel", s.relay_chan_dropped },
	     { "flow", s.flow_dgrams_dropped });
	ZT_PROM_MANY(p, "ztna_forwards_total", "counter", "Forwarded TCP connections and UDP datagrams.",
	     "kind", { "tcp_opened", s.chans_opened }, { "tcp_failed", s.chans_failed },
	     { "udp_in", s.flow_dgrams_in }, { "udp_out", s.flow_dgrams_out });
	ZT_PROM_MANY(p, "ztna_tunnel_packets_total", "counter", "Packet tunnel: IP packets.", "direction",
	     { "in", s.tun_in }, { "out", s.tun_out });
	ZT_PROM_ONE(p, "ztna_tcp_path_moves_total", "counter", "Moves onto or off the TCP direct path.",
	    s.tcp_path_moves);
}
