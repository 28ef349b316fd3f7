#include <stddef.h>

#include "core/ctrl.h"
#include "imdmetrics.h"

static void gauges(const struct zt_imd_stats *s, struct zt_prom *p, uint64_t uptime_ns)
{
	zt_prom_family(p, "ztna_uptime_seconds", "gauge", "Seconds since the program started.");
	zt_prom_f64(p, "ztna_uptime_seconds", NULL, NULL, (double)uptime_ns / 1e9);
	ZT_PROM_ONE(p, "ztna_clients", "gauge", "Outer connections now (half-open and closing ones too).",
	    s->clients);
	ZT_PROM_ONE(p, "ztna_clients_authenticated", "gauge", "Clients logged in now.", s->authenticated);
	ZT_PROM_ONE(p, "ztna_clients_half_open", "gauge", "Clients whose handshake is not done.",
	    s->half_open);
	ZT_PROM_ONE(p, "ztna_sessions", "gauge", "Sessions (agent to connector) now.", s->sessions);
	ZT_PROM_ONE(p, "ztna_opens_held", "gauge", "OPENs waiting for their connector now.", s->held_now);
}

static void connections(const struct zt_imd_stats *s, struct zt_prom *p)
{
	ZT_PROM_MANY(p, "ztna_connections_accepted_total", "counter", "Outer connections accepted.",
	     "transport", { "udp", s->accepted - s->tcp_accepted }, { "tcp", s->tcp_accepted });
	ZT_PROM_MANY(p, "ztna_connections_refused_total", "counter",
	     "New outer connections refused, by reason.", "reason", { "full", s->refused_full },
	     { "half_open_max", s->refused_half_open }, { "half_open_per_source", s->refused_source },
	     { "accept_failed", s->accept_failed }, { "handshake_timeout", s->half_open_expired });
	ZT_PROM_MANY(p, "ztna_logins_total", "counter", "HELLOs, by result.", "result",
	     { "ok", s->auth_ok }, { "failed", s->auth_failed },
	     { "transport_refused", s->transport_refused }, { "replaced", s->replaced });
	ZT_PROM_MANY(p, "ztna_retry_total", "counter", "QUIC address validation (Retry).", "event",
	     { "sent", s->retry_sent }, { "validated", s->retry_validated },
	     { "bad_token", s->retry_bad_token });
	ZT_PROM_MANY(p, "ztna_stun_requests_total", "counter", "STUN Binding requests, by outcome.",
	     "result", { "answered", s->stun_answered }, { "dropped", s->stun_dropped },
	     { "rate_limited", s->stun_limited });
	ZT_PROM_MANY(p, "ztna_datagrams_total", "counter", "UDP datagrams on the Intermediate's port.",
	     "direction", { "in", s->dgrams_in }, { "out", s->dgrams_out });
	ZT_PROM_MANY(p, "ztna_datagrams_dropped_total", "counter", "Datagrams dropped on arrival.",
	     "reason", { "garbage", s->dropped_garbage }, { "unknown_connection", s->dropped_unknown },
	     { "refused_by_connection", s->dropped_conn });
}

static void sessions(const struct zt_imd_stats *s, struct zt_prom *p)
{
	ZT_PROM_ONE(p, "ztna_opens_total", "counter", "OPEN requests from agents.", s->opens);
	ZT_PROM_ONE(p, "ztna_sessions_opened_total", "counter", "Sessions opened.", s->sessions_opened);
	ZT_PROM_MANY(p, "ztna_sessions_events_total", "counter", "Sessions kept across an end's loss.",
	     "event", { "resumed", s->sessions_resumed }, { "orphaned", s->sessions_orphaned },
	     { "orphan_expired", s->orphans_expired });
	ZT_PROM_MANY(p, "ztna_opens_refused_total", "counter", "OPENs refused, by reason.", "reason",
	     { "policy", s->policy_refused }, { "no_service", s->no_service },
	     { "open_rate", s->open_rate_limited }, { "max_sessions", s->open_max_sessions },
	     { "held_limit", s->held_refused }, { "connector_busy", s->open_busy });
	ZT_PROM_ONE(p, "ztna_register_refused_total", "counter",
	    "Services a connector may not serve (or not names).", s->register_refused);
	ZT_PROM_ONE(p, "ztna_candidates_forwarded_total", "counter",
	    "CANDIDATES messages passed between ends (hole punching).", s->candidates_fwd);
	ZT_PROM_ONE(p, "ztna_direct_refused_total", "counter",
	    "CANDIDATES dropped: an end's identity has direct off.", s->direct_refused);
	ZT_PROM_ONE(p, "ztna_ctrl_errors_total", "counter", "Control messages refused or undecodable.",
	    s->ctrl_errors);
}

static void relay(const struct zt_imd_stats *s, struct zt_prom *p)
{
	ZT_PROM_ONE(p, "ztna_relay_packets_total", "counter",
	    "End-to-end packets relayed (DATAGRAMs and relay channel), the workers' included.",
	    s->relay_pkts + s->relay_worker_pkts);
	ZT_PROM_ONE(p, "ztna_relay_bytes_total", "counter", "Bytes of those packets.",
	    s->relay_bytes + s->relay_worker_bytes);
	ZT_PROM_ONE(p, "ztna_relay_worker_packets_total", "counter",
	    "Of those, relay channel datagrams the worker threads forwarded (--workers).",
	    s->relay_worker_pkts);
	ZT_PROM_MANY(p, "ztna_relay_channel_packets_total", "counter",
	     "Relay channel datagrams (docs/relay-channel.md).", "direction",
	     { "in", s->relay_chan_pkts }, { "out", s->relay_chan_out });
	ZT_PROM_MANY(p, "ztna_relay_dropped_total", "counter", "Relayed packets dropped, by reason.",
	     "reason", { "unknown_session", s->relay_dropped_unknown },
	     { "quota", s->relay_dropped_quota }, { "rate", s->relay_dropped_rate },
	     { "queue", s->relay_dropped_queue }, { "malformed", s->relay_dropped_malformed },
	     { "channel_address", s->relay_chan_dropped_addr },
	     { "channel_malformed", s->relay_chan_dropped_malformed });
}

/* NAT types seen: the clients logged in now, by what they said of their NAT. */
static void nats(const struct zt_imd *imd, struct zt_prom *p)
{
	uint32_t m[ZT_IMD_NAT_KINDS], pt[ZT_IMD_NAT_KINDS];

	zt_imd_nat_seen(imd, m, pt);
	ZT_PROM_MANY(p, "ztna_clients_nat_mapping", "gauge",
	     "Clients logged in now, by their NAT's mapping behaviour (RFC 4787) as they signal it.",
	     "mapping", { "unknown", m[0] }, { "endpoint-independent", m[ZT_CTRL_NAT_MAP_INDEPENDENT] },
	     { "address-dependent", m[ZT_CTRL_NAT_MAP_ADDRESS] },
	     { "address-and-port-dependent", m[ZT_CTRL_NAT_MAP_ADDRESS_PORT] });
	ZT_PROM_MANY(p, "ztna_clients_nat_ports", "gauge",
	     "Clients logged in now, by their NAT's port allocation as they signal it.", "ports",
	     { "unknown", pt[0] }, { "preserve", pt[ZT_CTRL_NAT_PORTS_PRESERVE] },
	     { "sequential", pt[ZT_CTRL_NAT_PORTS_SEQUENTIAL] },
	     { "random", pt[ZT_CTRL_NAT_PORTS_RANDOM] });
}

/* Links between Intermediates (docs/scale-out.md): zero without --nats. */
static void links(const struct zt_imd_stats *s, struct zt_prom *p)
{
	ZT_PROM_MANY(p, "ztna_links_total", "counter",
	     "Links between Intermediates: opened by this one, ended, taken from others.", "event",
	     { "opened", s->links_opened }, { "failed", s->links_failed }, { "taken", s->links_in });
	ZT_PROM_MANY(p, "ztna_cross_sessions_total", "counter",
	     "Sessions across Intermediates: this one's agents' OPENs sent over a link, and "
	     "their outcome; OPENs taken from links for other Intermediates' agents.", "event",
	     { "opened", s->cross_opens }, { "answered", s->cross_sessions },
	     { "refused", s->cross_refused }, { "taken", s->link_opens });
	ZT_PROM_ONE(p, "ztna_opens_refused_elsewhere_total", "counter",
	    "OPENs refused whose connector is at another Intermediate no link could reach.",
	    s->no_service_elsewhere);
}

void imd_metrics(const struct zt_imd *imd, struct zt_prom *p, uint64_t uptime_ns)
{
	struct zt_imd_stats s;

	zt_imd_stats(imd, &s);
	gauges(&s, p, uptime_ns);
	connections(&s, p);
	sessions(&s, p);
	relay(&s, p);
	links(&s, p);
	nats(imd, p);
}
