/*
 * ztna-intermediate: the public rendezvous and relay. One UDP socket: QUIC
 * connections from agents and connectors (authenticated by certificate and token);
 * a TCP listener (443 by default) for the same over TLS where UDP does not pass;
 * control messages, pairing by policy, relaying of end-to-end packets it cannot
 * decrypt, STUN answers. The logic is node/imd.h; this is its I/O shell, in the
 * daemons' shell (app/daemon.h).
 *
 *   ztna-intermediate --listen 127.0.0.1:4433 --pki DIR \
 *       --client agent:alice:TOKEN --client connector:c1:TOKEN --allow alice=web \
 *       --serve c1=web [--limit agent:alice=relay-rate:10M,transport:udp]
 *
 * SIGHUP logs a stats line; SIGINT/SIGTERM stop it (with a final one).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <limits.h>
#include <malloc.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "app/conf.h"
#include "app/daemon.h"
#include "app/log.h"
#include "app/metrics.h"
#include "app/outertcp.h"
#include "app/secret.h"
#include "app/sprayio.h"
#include "core/err.h"
#include "core/units.h"
#include "io/loop.h"
#include "node/imd.h"
#include "node/policy.h"
#include "core/route.h"
#include "quic/pki.h"
#include "imdctl.h"
#include "imdmetrics.h"
#include "imdnats.h"
#include "quic/certinfo.h"
#include "imdworkers.h"

struct prog {
	struct zt_daemon d;        /* files, logs, loop, socket */
	/* Settings: the Intermediate's configuration, which most keys write straight into
	 * (the rest of it is filled at setup), and ours. */
	struct zt_imd_config ic;
	struct zt_addr listen;
	struct zt_addr tcp_listen;   /* family 0: the UDP address's IP, port 443 */
	bool tcp_set, tcp_off;       /* --tcp-listen given; ... as "off" */
	long stun_port;              /* --stun-port: -1 not given (the UDP port + 1), 0 off */
	struct zt_sprayio stun;      /* its socket */
	char reset_key_file[PATH_MAX];
	struct zt_policy *policy;

	struct zt_imd *imd;
	struct zt_otcp_server otcp;
	uint64_t nofile;           /* the open-files limit in force */
	struct zt_timer trim_t;
	size_t trim_peak;          /* clients at most since the last malloc_trim */
	struct zt_addr metrics_at; /* --metrics; family 0: off */
	struct zt_metrics *metrics;
	uint64_t started;
	struct imd_workers workers; /* --workers */
	struct imd_ctl ctl;        /* --control: `ztna status --intermediate` */
	struct imd_nats nats;      /* --nats: several Intermediates (docs/scale-out.md) */
	char link_identity[ZT_PKI_IDENTITY_MAX]; /* our certificate's, for our links' HELLO */
	int argc;                  /* the command line, read again on SIGHUP (reload) */
	char **argv;
};

#define P(ctx) ((struct prog *)(ctx))

static int set_listen(void *ctx, const char *v, const char **why)
{
	struct zt_addr *l = &P(ctx)->listen;
	int rc = zt_addr_parse(l, v, 4433);

	if (rc < 0)
		*why = "an IP address and port";
	/* [::]: one dual-stack socket for both families (io/udp.h, family 0) */
	if (rc == 0 && l->family == AF_INET6 && zt_addr_is_any(l))
		*l = (struct zt_addr){ .port = l->port };
	return rc;
}

static int set_tcp_listen(void *ctx, const char *v, const char **why)
{
	int rc;

	P(ctx)->tcp_set = true;
	P(ctx)->tcp_off = !strcmp(v, "off");
	if (P(ctx)->tcp_off)
		return 0;
	rc = zt_addr_parse(&P(ctx)->tcp_listen, v, 443);
	if (rc < 0)
		*why = "an IP address and port, or off";
	return rc;
}

static int set_stun_port(void *ctx, const char *v, const char **why)
{
	char *end;
	long n = strtol(v, &end, 10);

	if (!strcmp(v, "off")) {
		P(ctx)->stun_port = 0;
		return 0;
	}
	if (!*v || *end || n < 0 || n > 65535) {
		*why = "a port 1-65535, or 0 or off (none)";
		return ZT_ESYNTAX;
	}
	P(ctx)->stun_port = n;
	return 0;
}

static int set_relay_channel(void *ctx, const char *v, const char **why)
{
	if (strcmp(v, "on") && strcmp(v, "off")) {
		*why = "on or off";
		return ZT_ESYNTAX;
	}
	P(ctx)->ic.relay_channel_off = !strcmp(v, "off");
	return 0;
}

static int set_metrics(void *ctx, const char *v, const char **why)
{
	struct zt_addr *a = &P(ctx)->metrics_at;

	if (!strcmp(v, "off")) {
		*a = (struct zt_addr){ 0 };
		return 0;
	}
	if (zt_addr_parse(a, v, 0) < 0 || a->port == 0) {
		*a = (struct zt_addr){ 0 };
		*why = "ADDR:PORT (e.g. 127.0.0.1:9100), or off";
		return ZT_ECONF_VALUE;
	}
	return 0;
}

static int set_link_address(void *ctx, const char *v, const char **why)
{
	struct zt_addr *a = &P(ctx)->nats.link_addr;

	if (zt_addr_parse(a, v, 0) < 0 || a->port == 0 || zt_addr_is_any(a)) {
		*a = (struct zt_addr){ 0 };
		*why = "ADDR:PORT, the address other Intermediates reach this one's UDP port at "
		       "(e.g. 192.0.2.10:4433)";
		return ZT_ECONF_VALUE;
	}
	return 0;
}

static int set_workers(void *ctx, const char *v, const char **why)
{
	return imd_workers_set(&P(ctx)->workers, v, why);
}

static int set_nats_policy(void *ctx, const char *v, const char **why)
{
	return imd_nats_set_policy(&P(ctx)->nats, v, why);
}

static int set_policy_signer(void *ctx, const char *v, const char **why)
{
	return imd_nats_add_signer(&P(ctx)->nats, v, why);
}

static int set_control(void *ctx, const char *v, const char **why)
{
	return imd_ctl_set(&P(ctx)->ctl, v, why);
}

static int set_client(void *ctx, const char *v, const char **why)
{
	return zt_policy_add_client(P(ctx)->policy, v, why);
}

/* One "KIND:NAME[:TOKEN]" per line, '#' comments; the file must be private (mode 0600).
 * Errors name the line but never echo it (it may hold a token). */
static int set_clients_file(void *ctx, const char *v, const char **why)
{
	static char msg[PATH_MAX + 160];
	char *text = NULL, *line, *next;
	unsigned lineno = 0;
	int rc = zt_secret_read(v, &text, why);

	if (rc == -EPERM) {
		snprintf(msg, sizeof(msg), "readable or writable by group or others (it holds "
			 "tokens): chmod 600 %s", v);
		*why = msg;
	}
	for (line = text; rc == 0 && line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		lineno++;
		line[strcspn(line, "\r#")] = '\0';
		line += strspn(line, " \t");
		line[strcspn(line, " \t")] = '\0';
		if (!*line)
			continue;
		rc = zt_policy_add_client(P(ctx)->policy, line, why);
		if (rc < 0) {
			snprintf(msg, sizeof(msg), "%s:%u: %s", v, lineno, *why);
			*why = msg;
		}
	}
	zt_secret_free(text);
	return rc;
}

static int set_allow(void *ctx, const char *v, const char **why)
{
	return zt_policy_add_allow(P(ctx)->policy, v, why);
}

static int set_serve(void *ctx, const char *v, const char **why)
{
	return zt_policy_add_serve(P(ctx)->policy, v, why);
}

static int set_limit(void *ctx, const char *v, const char **why)
{
	return zt_policy_add_limit(P(ctx)->policy, v, why);
}

/* An IPv4 or IPv6 pool for agents' tunnel addresses (one of each at most). */
static int set_tunnel_pool(void *ctx, const char *v, const char **why)
{
	struct zt_imd_config *ic = &P(ctx)->ic;
	struct zt_addr a;
	uint8_t plen;

	int rc = zt_prefix_parse(v, &a, &plen);

	if (rc < 0) {
		*why = rc == ZT_ERANGE ? "the network's own address (no host bits), with a length "
					 "that fits it"
				       : "a network's prefix, like 100.64.0.0/10 or fd7a:7a74::/64";
		return rc;
	}
	if (a.family == AF_INET ? plen < 8 || plen > 30 : plen < 64 || plen > 126) {
		*why = "a length of 8 to 30 (IPv4) or 64 to 126 (IPv6)";
		return ZT_ERANGE;
	}
	if ((a.family == AF_INET ? ic->tun_pool4 : ic->tun_pool6).family) {
		*why = "one pool per address family";
		return ZT_ESYNTAX;
	}
	if (a.family == AF_INET) {
		ic->tun_pool4 = a;
		ic->tun_plen4 = plen;
	} else {
		ic->tun_pool6 = a;
		ic->tun_plen6 = plen;
	}
	return 0;
}

static int set_retry(void *ctx, const char *v, const char **why)
{
	if (!strcmp(v, "load"))
		P(ctx)->ic.retry = ZT_IMD_RETRY_LOAD;
	else if (!strcmp(v, "always"))
		P(ctx)->ic.retry = ZT_IMD_RETRY_ALWAYS;
	else {
		*why = "'load' or 'always'";
		return ZT_ESYNTAX;
	}
	return 0;
}

/* The keys write straight into the Intermediate's configuration (p->ic) where they can. */
#define PF(member) ZT_CONF_FIELD(struct prog, member)
#define TEXT(member) .kind = ZT_CONF_TEXT, PF(member)
/* A duration above 0 (0 would silently mean the default in the core). */
#define DURATION(member) .kind = ZT_CONF_DURATION, PF(member), .min = 1
/* A count above 0 (K, M, G allowed), at most hi (0: what the field holds). */
#define COUNT(member, hi) .kind = ZT_CONF_SIZE, PF(member), .min = 1, .max = (hi)

static const struct zt_conf_key keys[] = {
	{ .name = "listen", .syntax = "ADDR[:PORT]", .example = "[::]:4433",
	  .help = "the UDP address to serve (default [::]:4433: IPv6 and IPv4 on one socket; "
		  "0.0.0.0:PORT for IPv4 only)", .set = set_listen },
	{ .name = "tcp-listen", .syntax = "ADDR[:PORT]|off", .example = "0.0.0.0:443",
	  .help = "the TCP address for clients over TLS/TCP, where UDP does not pass (default: "
		  "the UDP address's IP, port 443; without the right to bind it, a warning)",
	  .set = set_tcp_listen },
	{ .name = "stun-port", .syntax = "PORT|off", .example = "4434",
	  .help = "a second UDP port of the same IP answering STUN Binding requests, named "
		  "in WELCOME: clients detect their NAT's port allocation with it (default: the "
		  "UDP port + 1, a warning when it cannot be bound; 0 or off: none)",
	  .set = set_stun_port },
	{ .name = "stun-rate", .syntax = "N", .example = "10",
	  .help = "STUN answers a second to one IP address, both STUN ports together (burst 8 s "
		  "worth; a request's source can be spoofed) (default 10)",
	  COUNT(ic.stun_rate, ZT_IMD_RATE_MAX) },
	{ .name = "stun-rate-total", .syntax = "N", .example = "1000",
	  .help = "STUN answers a second in all (burst 8 s worth) (default 1000)",
	  COUNT(ic.stun_rate_total, ZT_IMD_RATE_MAX) },
	{ .name = "pki", .syntax = "DIR", .example = "/etc/ztna/pki",
	  .help = "our bundle from 'ztna pki init' (DIR/intermediate): default ca, cert and key "
		  "files; one holding keys not ours is refused", TEXT(d.pki) },
	{ .name = "cert", .syntax = "FILE", .example = "intermediate.pem",
	  .help = "our certificate (default PKI/intermediate.pem)", TEXT(d.cert) },
	{ .name = "key", .syntax = "FILE", .example = "intermediate.key",
	  .help = "our private key (default PKI/intermediate.key)", TEXT(d.key) },
	{ .name = "ca", .syntax = "FILE", .example = "ca.pem",
	  .help = "the CA that signs agents and connectors (default PKI/ca.pem)", TEXT(d.ca) },
	{ .name = "client", .syntax = "KIND:NAME[:TOKEN]", .example = "agent:alice:s3cret",
	  .help = "who may connect: agent or connector NAME, with its token (visible in ps: "
		  "prefer clients-file)", .set = set_client, .repeatable = true, .secret = true },
	{ .name = "clients-file", .syntax = "FILE", .example = "/etc/ztna/clients",
	  .help = "client lines from FILE (mode 0600): one KIND:NAME[:TOKEN] per line",
	  .set = set_clients_file, .repeatable = true },
	{ .name = "allow", .syntax = "AGENT=SERVICE[,SERVICE...]", .example = "alice=web,db",
	  .help = "which agent may reach which services ('*' for any)", .set = set_allow,
	  .repeatable = true },
	{ .name = "serve", .syntax = "CONNECTOR=SERVICE[,SERVICE...]", .example = "c1=web,db",
	  .help = "which connector may serve which services ('*' for any); no other registers",
	  .set = set_serve, .repeatable = true },
	{ .name = "limit", .syntax = "KIND:NAME=KEY:VALUE[,KEY:VALUE...]",
	  .example = "agent:alice=relay-rate:10M,transport:udp",
	  .help = "one identity's limits ('*' for any of its kind; its own name wins per key): "
		  "relay-rate, relay-burst (SIZE), sessions (N, agents), transport any|udp|tcp, "
		  "direct on|off (off: relay only)",
	  .set = set_limit, .repeatable = true },
	{ .name = "quota-bytes", .syntax = "SIZE", .example = "10G",
	  .help = "relay budget per session (default 64G)", COUNT(ic.quota_bytes, 0),
	  .why = "a size above 0 such as 1G or 500M" },
	{ .name = "quota-packets", .syntax = "N", .example = "10M",
	  .help = "relay packets per session (default 64M)", COUNT(ic.quota_packets, 0) },
	{ .name = "relay-rate", .syntax = "SIZE", .example = "50M",
	  .help = "relay bytes per second per client, K/M/G: what one connection sends into "
		  "the relay, all its sessions together; over it packets are dropped (default: no "
		  "limit; set one, docs/security.md)",
	  COUNT(ic.relay_rate, 0), .why = "bytes per second above 0 such as 50M, below 4G" },
	{ .name = "relay-channel", .syntax = "on|off", .example = "off",
	  .help = "relayed packets of clients on QUIC as plain UDP datagrams on their outer "
		  "connection's addresses, bound to the address it validated (default on); off: in "
		  "outer DATAGRAMs, encrypted per hop (docs/relay-channel.md)",
	  .set = set_relay_channel },
	{ .name = "relay-burst", .syntax = "SIZE", .example = "16M",
	  .help = "relay bytes at once per client above --relay-rate, K/M/G (default a quarter "
		  "second at the rate, at least 16K)",
	  .kind = ZT_CONF_SIZE, PF(ic.relay_burst), .min = ZT_IMD_RELAY_BURST_MIN,
	  .why = "a size from 16K to below 4G" },
	{ .name = "open-hold", .syntax = "DURATION", .example = "10s",
	  .help = "after a start, hold requests for services not registered yet (default 10s)",
	  .kind = ZT_CONF_DURATION, PF(ic.open_hold) /* 0: no hold */ },
	{ .name = "idle-timeout", .syntax = "DURATION", .example = "75s",
	  .help = "a silent client is gone after this (default 75s: 3 x the clients' keepalive)",
	  DURATION(ic.idle_timeout) },
	{ .name = "start-margin", .syntax = "DURATION", .example = "50ms",
	  .help = "START_CHECKS lead time for the farther end (default 50ms)",
	  DURATION(ic.start_margin) },
	{ .name = "max-clients", .syntax = "N", .example = "10000",
	  .help = "connections at most (default 10000)", COUNT(ic.max_clients, 0) },
	{ .name = "max-sessions", .syntax = "N", .example = "1024",
	  .help = "sessions per agent connection, held requests included (default 1024)",
	  COUNT(ic.max_sessions, 1000000) },
	{ .name = "open-rate", .syntax = "N", .example = "20",
	  .help = "session requests (OPEN) per second per connection (default 20)",
	  COUNT(ic.open_rate, ZT_IMD_RATE_MAX) },
	{ .name = "open-burst", .syntax = "N", .example = "100",
	  .help = "session requests in a burst per connection (default 100)",
	  COUNT(ic.open_burst, ZT_IMD_RATE_MAX) },
	{ .name = "max-held", .syntax = "N", .example = "32",
	  .help = "requests waiting for a connector per connection (default 32)",
	  COUNT(ic.max_held, 1000000) },
	{ .name = "max-held-total", .syntax = "N", .example = "10000",
	  .help = "requests waiting for a connector in all (default 10000)",
	  COUNT(ic.max_held_total, 10000000) },
	{ .name = "busy-hold", .syntax = "DURATION", .example = "5s",
	  .help = "a request waits this long for a backed-up connector (default 5s)",
	  DURATION(ic.busy_hold) },
	{ .name = "ctrl-rate", .syntax = "N", .example = "200",
	  .help = "control messages per second per connection (default 200)",
	  COUNT(ic.ctrl_rate, ZT_IMD_RATE_MAX) },
	{ .name = "ctrl-burst", .syntax = "N", .example = "1000",
	  .help = "control messages in a burst per connection, +16 per session (default 1000)",
	  COUNT(ic.ctrl_burst, ZT_IMD_RATE_MAX) },
	{ .name = "ctrl-busy", .syntax = "SIZE", .example = "64K",
	  .help = "control bytes queued to a party before it gets no new sessions (default 64K)",
	  .kind = ZT_CONF_SIZE, PF(ic.ctrl_busy), .min = 1024,
	  .max = ZT_IMD_CTRL_BUSY_MAX, .why = "a size from 1K to 128K" },
	{ .name = "ctrl-stall", .syntax = "DURATION", .example = "30s",
	  .help = "close a party that reads none of its control stream this long (default 30s)",
	  DURATION(ic.ctrl_stall) },
	{ .name = "retry", .syntax = "load|always", .example = "always",
	  .help = "address validation (a Retry) for every new client, or under load only "
		  "(default load)",
	  .set = set_retry },
	{ .name = "retry-half-open", .syntax = "N", .example = "100",
	  .help = "under load: N connections half-open (not authenticated yet) (default 100)",
	  COUNT(ic.retry_half_open, 0) },
	{ .name = "retry-half-open-per-source", .syntax = "N", .example = "4",
	  .help = "... or N from the new client's source (default 4)",
	  COUNT(ic.retry_half_open_source, 0) },
	{ .name = "retry-token-lifetime", .syntax = "DURATION", .example = "10s",
	  .help = "a Retry token is good this long (default 10s)",
	  DURATION(ic.retry_token_lifetime) },
	{ .name = "half-open-max", .syntax = "N", .example = "1000",
	  .help = "connections not yet authenticated (handshake or HELLO due) at most; new ones "
		  "over it are dropped (default 1000)",
	  COUNT(ic.half_open_max, 0) },
	{ .name = "half-open-per-source", .syntax = "N", .example = "32",
	  .help = "... from one source, an IPv4 address or IPv6 /64 (default 32)",
	  COUNT(ic.half_open_per_source, 0) },
	{ .name = "handshake-timeout", .syntax = "DURATION", .example = "10s",
	  .help = "a connection not authenticated this long after its first packet is dropped "
		  "(default 10s)",
	  DURATION(ic.handshake_timeout) },
	{ .name = "logins-per-identity", .syntax = "N", .example = "1",
	  .help = "connections one identity may hold; a newer login replaces the oldest "
		  "(default 1; more only for load tests)",
	  COUNT(ic.logins_per_identity, 0) },
	{ .name = "tunnel-pool", .syntax = "PREFIX", .example = "100.64.0.0/10",
	  .help = "agents' tunnel addresses come from this IPv4 or IPv6 prefix, one per agent "
		  "and the same at every login (packet tunnel; default none)",
	  .set = set_tunnel_pool, .repeatable = true },
	{ .name = "control", .syntax = "PATH|none", .example = "/run/ztna/intermediate.sock",
	  .help = "control socket for 'ztna status --intermediate' (default "
		  "/run/ztna/intermediate.sock as root, else $XDG_RUNTIME_DIR/ztna-intermediate.sock; "
		  "skipped with a warning when another program holds it)", .set = set_control },
	{ .name = "metrics", .syntax = "ADDR:PORT|off", .example = "127.0.0.1:9100",
	  .help = "serve Prometheus metrics over HTTP here (GET /metrics; docs/metrics.md); "
		  "default off",
	  .set = set_metrics },
	{ .name = "workers", .syntax = "N|auto", .example = "auto",
	  .help = "threads: N-1 more UDP sockets on the listen address (SO_REUSEPORT) whose "
		  "threads forward relay-channel datagrams themselves; auto: one per CPU (default "
		  "1; docs/workers.md)",
	  .set = set_workers },
	{ .name = "nats", .syntax = "URL[,URL...]", .example = "nats://10.0.0.5:4222",
	  .help = "share presence with the deployment's other Intermediates through this NATS "
		  "cluster (JetStream key-value; docs/scale-out.md); default off: this "
		  "Intermediate works alone",
	  TEXT(nats.servers) },
	{ .name = "nats-name", .syntax = "NAME", .example = "imd-eu1",
	  .help = "this Intermediate's name in the cluster, unique in the deployment (with --nats)",
	  TEXT(nats.name) },
	{ .name = "presence-key", .syntax = "FILE", .example = "/etc/ztna/presence.key",
	  .help = "the deployment's presence key, the same on every Intermediate, mode 0600; "
		  "records in the cluster are signed with it (with --nats)",
	  TEXT(nats.key_file) },
	{ .name = "nats-policy", .syntax = "follow|off", .example = "follow",
	  .help = "follow: the clients and rules pushed to the cluster ('ztna policy push') "
		  "replace this Intermediate's own, and every later push applies at once (with "
		  "--nats; default off)",
	  .set = set_nats_policy },
	{ .name = "policy-signer", .syntax = "FILE", .example = "/etc/ztna/operator.pub",
	  .help = "an operator's public key (ztna policy keygen): only policies signed with "
		  "one of these keys are taken from the cluster (up to 8; with "
		  "--nats-policy follow; default: any the presence key opens)",
	  .set = set_policy_signer, .repeatable = true },
	{ .name = "nats-policy-bucket", .syntax = "NAME", .example = "ztna-policy",
	  .help = "the key-value bucket of the pushed policy (default ztna-policy)",
	  TEXT(nats.policy_bucket) },
	{ .name = "presence-ttl", .syntax = "DURATION", .example = "30s",
	  .help = "how long a presence record lives (refreshed every third of it): a dead "
		  "Intermediate's clients are forgotten after this (3s..10m, default 30s; with "
		  "--nats)",
	  .kind = ZT_CONF_DURATION, PF(nats.ttl), .min = 3 * ZT_SEC, .max = 600 * ZT_SEC,
	  .why = "a duration from 3s to 10m" },
	{ .name = "nats-bucket", .syntax = "NAME", .example = "ztna-presence",
	  .help = "the key-value bucket of presence records (default ztna-presence)",
	  TEXT(nats.bucket) },
	{ .name = "nats-replicas", .syntax = "N", .example = "3",
	  .help = "copies of the bucket in the cluster when this Intermediate creates it "
		  "(default 1; 3 on a three-node cluster)",
	  COUNT(nats.replicas, 5) },
	{ .name = "link-address", .syntax = "ADDR:PORT", .example = "192.0.2.10:4433",
	  .help = "where the deployment's other Intermediates open links to this one, for "
		  "sessions of their agents with connectors here (published with --nats; default: "
		  "the listen address, unless it is a wildcard)",
	  .set = set_link_address },
	{ .name = "reset-key-file", .syntax = "FILE", .example = "/etc/ztna/reset.key",
	  .help = "secret for stateless resets after a restart and Retry tokens (default: from "
		  "the TLS key)",
	  TEXT(reset_key_file) },
};

static void log_stats(void *arg, const char *event)
{
	struct prog *p = arg;
	struct zt_imd_stats s;
	char ev[32];

	zt_imd_stats(p->imd, &s);
	zt_info(event,
		"clients=%zu sessions=%zu rx=%" PRIu64 " tx=%" PRIu64 " dropped_garbage=%" PRIu64
		" dropped_unknown=%" PRIu64 " dropped_conn=%" PRIu64 " stun_answered=%" PRIu64
		" stun_dropped=%" PRIu64 " stun_limited=%" PRIu64 " resets_sent=%" PRIu64 " accepted=%" PRIu64
		" accept_failed=%" PRIu64 " refused_full=%" PRIu64 " auth_ok=%" PRIu64
		" auth_failed=%" PRIu64
		" authenticated=%zu half_open=%zu half_open_sources=%zu retry_sent=%" PRIu64 " retry_validated=%" PRIu64
		" retry_bad_token=%" PRIu64 " refused_half_open=%" PRIu64 " refused_source=%" PRIu64
		" half_open_expired=%" PRIu64 " replaced=%" PRIu64
		" opens=%" PRIu64 " sessions_opened=%" PRIu64 " policy_refused=%" PRIu64
		" no_service=%" PRIu64 " no_service_elsewhere=%" PRIu64 " transport_refused=%" PRIu64 " direct_refused=%" PRIu64
		" relay_pkts=%" PRIu64 " relay_bytes=%" PRIu64
		" relay_dropped_unknown=%" PRIu64 " relay_dropped_quota=%" PRIu64
		" relay_dropped_rate=%" PRIu64 " relay_dropped_queue=%" PRIu64
		" relay_dropped_malformed=%" PRIu64 " relay_chan_pkts=%" PRIu64
		" relay_chan_out=%" PRIu64 " relay_chan_dropped_addr=%" PRIu64
		" relay_chan_dropped_malformed=%" PRIu64 " ctrl_errors=%" PRIu64
		" register_refused=%" PRIu64 " open_rate_limited=%" PRIu64 " open_max_sessions=%" PRIu64
		" held=%" PRIu64 " held_now=%zu held_refused=%" PRIu64 " open_busy=%" PRIu64
		" ctrl_over_budget=%" PRIu64 " ctrl_budget_closed=%" PRIu64 " ctrl_fwd_dropped=%" PRIu64
		" ctrl_send_dropped=%" PRIu64 " ctrl_stalled_closed=%" PRIu64 " log_suppressed=%" PRIu64
		" tcp_accepted=%" PRIu64 " tcp_now=%zu tcp_refused=%" PRIu64 " tcp_bytes_in=%" PRIu64
		" tcp_bytes_out=%" PRIu64 " tcp_accept_errors=%" PRIu64,
		s.clients, s.sessions, p->d.io.st.rx, p->d.io.st.tx, s.dropped_garbage, s.dropped_unknown,
		s.dropped_conn, s.stun_answered, s.stun_dropped, s.stun_limited, s.resets_sent, s.accepted,
		s.accept_failed, s.refused_full, s.auth_ok, s.auth_failed,
		s.authenticated, s.half_open, s.half_open_sources, s.retry_sent, s.retry_validated, s.retry_bad_token,
		s.refused_half_open, s.refused_source, s.half_open_expired, s.replaced,
		s.opens, s.sessions_opened, s.policy_refused, s.no_service, s.no_service_elsewhere, s.transport_refused,
		s.direct_refused, s.relay_pkts, s.relay_bytes,
		s.relay_dropped_unknown, s.relay_dropped_quota, s.relay_dropped_rate,
		s.relay_dropped_queue,
		s.relay_dropped_malformed, s.relay_chan_pkts, s.relay_chan_out,
		s.relay_chan_dropped_addr, s.relay_chan_dropped_malformed, s.ctrl_errors, s.register_refused, s.open_rate_limited,
		s.open_max_sessions, s.held, s.held_now, s.held_refused, s.open_busy, s.ctrl_over_budget,
		s.ctrl_budget_closed, s.ctrl_fwd_dropped, s.ctrl_send_dropped, s.ctrl_stalled_closed,
		s.log_suppressed, s.tcp_accepted, p->otcp.nconns, p->otcp.st.failed,
		p->otcp.st.bytes_in, p->otcp.st.bytes_out, p->otcp.lst.errors);
	snprintf(ev, sizeof(ev), "links_%s", event);
	if (p->ic.link_tls)
		zt_info(ev, "links_opened=%" PRIu64 " links_failed=%" PRIu64 " links_in=%" PRIu64
			" cross_opens=%" PRIu64 " cross_sessions=%" PRIu64 " cross_refused=%" PRIu64
			" link_opens=%" PRIu64, s.links_opened, s.links_failed, s.links_in,
			s.cross_opens, s.cross_sessions, s.cross_refused, s.link_opens);
	imd_workers_log(&p->workers, event);
	imd_nats_log(&p->nats, event);
}

/*
 * glibc keeps freed memory: a flood of connections leaves their pages in the heap
 * (fragmented, so the top is rarely free and never trimmed). When the client count
 * has halved since its peak (by at least TRIM_MIN), malloc_trim() gives the free
 * pages back to the system.
 */
#define TRIM_EVERY (2 * ZT_SEC)
#define TRIM_MIN 64

static void on_trim(struct zt_loop *loop, struct zt_timer *t, uint64_t now)
{
	struct prog *p = t->data;
	struct zt_imd_stats s;
	size_t n;

	zt_imd_stats(p->imd, &s);
	n = s.clients;
	if (n > p->trim_peak)
		p->trim_peak = n;
	if (p->trim_peak >= n + TRIM_MIN && n <= p->trim_peak / 2) {
		malloc_trim(0);
		p->trim_peak = n;
	}
	zt_timer_set(loop, t, now + TRIM_EVERY);
}

static void log_start(const struct prog *p)
{
	char a[ZT_ADDR_STRLEN];
	uint64_t nofile = p->nofile;
	size_t max = p->ic.max_clients ? p->ic.max_clients : 10000;

	zt_info("start", "listen=%s tcp_listen=%s stun_port=%u open_files=%" PRIu64 " clients_configured=%zu rules=%zu serve_rules=%zu limits=%zu",
		zt_addr_str(&p->d.io.udp.local, a),
		p->otcp.fd >= 0 ? zt_addr_str(&p->otcp.local, (char[ZT_ADDR_STRLEN]){ 0 }) : "off",
		p->ic.stun_port, nofile, zt_policy_client_count(p->policy),
		zt_policy_rule_count(p->policy), zt_policy_serve_count(p->policy),
		zt_policy_limit_count(p->policy));
	if (p->otcp.fd >= 0 && nofile < max + 64)
		zt_warn("open_files_low", "open_files=%" PRIu64 " max_clients=%zu note=\"TCP clients "
			"past the limit wait in the kernel's queue\" fix=\"raise the hard limit (ulimit "
			"-Hn, systemd LimitNOFILE=) or lower --max-clients\"", nofile, max);
	if (!zt_policy_serve_count(p->policy))
		zt_warn("no_serve_rules", "hint=\"no connector may register a service: add --serve "
			"CONNECTOR=SERVICE for each connector\"");
}

/* With --nats: links to and from the other Intermediates (docs/scale-out.md), as a
 * client with our certificate, which must carry the TLS client purpose. */
static int links_tls(struct prog *p, struct zt_tls_config *tc)
{
	struct zt_certinfo ci;
	int rc = zt_certinfo_file(p->d.cert, &ci);

	if (rc < 0 || !*ci.identity)
		return zt_daemon_fail(&p->d, 1, "%s: %s", p->d.cert,
				      rc < 0 ? zt_strerror(rc) : "no ztna identity in the certificate");
	snprintf(p->link_identity, sizeof(p->link_identity), "%s", ci.identity);
	tc->side = ZT_TLS_CLIENT;
	tc->alpn = ZT_ALPN_OUTER;
	tc->require_peer_cert = false;
	return zt_daemon_tls_new(&p->d, tc, &p->ic.link_tls) < 0 ? 1 : 0;
}

/* Our certificate, key and CA (a bundle without foreign keys), the key log, the qlog
 * directory, the TLS context. Returns 0 or the exit status, with the message. */
static int load_files(struct prog *p)
{
	struct zt_daemon *d = &p->d;
	struct zt_tls_config tc = { .side = ZT_TLS_SERVER, .alpn = ZT_ALPN_OUTER,
				    .require_peer_cert = true, .ca_file = d->ca,
				    .cert_file = d->cert, .key_file = d->key };

	zt_daemon_pki_defaults(d, "intermediate");
	if (*d->pki && zt_secret_check_pki(d->prog, d->pki, ZT_PKI_INTERMEDIATE, "intermediate"))
		return 1;
	if (zt_daemon_check_tls_files(d, d->cert, d->key, "'ztna pki init DIR --intermediate-ip "
				      "IP' and pass --pki DIR/intermediate") < 0)
		return 2;
	if (zt_daemon_open_files(d) < 0 || zt_daemon_tls_new(d, &tc, &p->ic.tls) < 0)
		return 1;
	tc.alpn = ZT_ALPN_OUTER_TCP;
	if (zt_daemon_tls_new(d, &tc, &p->ic.tls_tcp) < 0)
		return 1;
	return *p->nats.servers ? links_tls(p, &tc) : 0;
}

/* The TCP listener: a failure is fatal when --tcp-listen asked for it, else a warning
 * (port 443 needs CAP_NET_BIND_SERVICE). Returns 0 or the exit status. */
static int tcp_open(struct prog *p)
{
	struct zt_addr at = p->tcp_listen;
	char a[ZT_ADDR_STRLEN];
	int rc;

	p->otcp.fd = -1;
	if (p->tcp_off)
		return 0;
	if (!p->tcp_set) {
		at = p->d.io.udp.local;
		at.port = 443;
	}
	rc = zt_otcp_server_open(&p->otcp, p->d.loop, &p->d.io, p->imd, &at);
	if (rc == 0)
		return 0;
	if (p->tcp_set)
		return zt_daemon_fail(&p->d, 1, "--tcp-listen %s: %s", zt_addr_str(&at, a), strerror(-rc));
	zt_warn("tcp_listen_failed", "address=%s error=\"%s\" note=\"clients over TLS/TCP cannot "
		"connect\" fix=\"grant CAP_NET_BIND_SERVICE, or --tcp-listen ADDR:PORT, or "
		"--tcp-listen off\"", zt_addr_str(&at, a), strerror(-rc));
	return 0;
}

/* The STUN port's socket (the UDP address's IP): a failure is fatal when --stun-port
 * named the port, else a warning. Sets ic.stun_port. Returns 0 or the exit status. */
static int stun_open(struct prog *p)
{
	struct zt_addr at = p->d.io.udp.local;
	uint16_t udp_port = at.port;
	char a[ZT_ADDR_STRLEN];
	int rc;

	if (!p->stun_port || (p->stun_port < 0 && udp_port == 65535))
		return 0;
	at.port = (uint16_t)(p->stun_port < 0 ? udp_port + 1 : p->stun_port);
	if (at.port == udp_port)
		return zt_daemon_fail(&p->d, 2, "--stun-port %u is the UDP port: pick another, or "
				      "--stun-port off", at.port);
	/* beside a dual-stack socket, both families there too (family 0: io/udp.h) */
	rc = zt_sprayio_open_at(&p->stun, &p->d.io,
				p->d.io.udp.dual ? &(struct zt_addr){ .port = at.port } : &at);
	if (rc == 0) {
		p->d.io.send_other = zt_sprayio_send;
		p->d.io.other_arg = &p->stun;
		p->ic.stun_port = at.port;
		return 0;
	}
	if (p->stun_port > 0)
		return zt_daemon_fail(&p->d, 1, "--stun-port %s: %s", zt_addr_str(&at, a), strerror(-rc));
	zt_warn("stun_port_failed", "address=%s error=\"%s\" note=\"clients cannot detect their "
		"NAT (docs/hard-nat.md)\" fix=\"free the port, or --stun-port PORT, or --stun-port "
		"off\"", zt_addr_str(&at, a), strerror(-rc));
	return 0;
}

/* The stateless reset secret: --reset-key-file (a secret file: the mode rule of
 * app/secret.h applies) or our TLS key. Returns it (heap) or NULL, with the message. */
static char *load_reset_key(struct prog *p)
{
	const char *why = "";
	char *reset_key = NULL;
	int rc;

	if (*p->reset_key_file)
		rc = zt_secret_read(p->reset_key_file, &reset_key, &why);
	else if ((rc = zt_pki_read_file(p->d.key, &reset_key)) < 0)
		why = zt_strerror(rc);
	if (rc < 0 || strlen(reset_key) < 16) {
		zt_daemon_fail(&p->d, 1, "reset key %s: %s%s%s",
			       *p->reset_key_file ? p->reset_key_file : p->d.key,
			       rc < 0 ? why : "shorter than 16 bytes",
			       rc == -EPERM ? " (it holds a secret): chmod 600 " : "",
			       rc == -EPERM ? p->reset_key_file : "");
		zt_secret_free(reset_key);
		return NULL;
	}
	return reset_key;
}

/* True if a --client in argv carries a token (KIND:NAME:TOKEN), which ps shows. */
static bool token_in_argv(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		const char *v = !strcmp(argv[i], "--client") && i + 1 < argc ? argv[i + 1]
				: !strncmp(argv[i], "--client=", 9) ? argv[i] + 9 : NULL;
		if (v && strchr(v, ':') && strchr(strchr(v, ':') + 1, ':'))
			return true;
	}
	return false;
}

/* The rest of the Intermediate's configuration (the keys wrote its settings). */
static void imd_config(struct prog *p, const char *reset_key)
{
	struct zt_imd_config *ic = &p->ic;

	ic->rng = &p->d.rng;
	ic->policy = p->policy;
	ic->listen = p->d.io.udp.local;
	ic->reset_key = (const uint8_t *)reset_key;
	ic->reset_key_len = strlen(reset_key);
	ic->log = zt_daemon_node_log();
	if (*p->d.qlog_dir) {
		ic->qlog_open = zt_daemon_qlog_open;
		ic->qlog_write = zt_daemon_qlog_write;
		ic->qlog_arg = &p->d;
	}
}

/* Settings a reload cannot change, named when a file changed them. */
static void restart_needed(const struct prog *p, const struct prog *n)
{
	char keys_changed[160] = "";
	size_t len;

#define DIFF(cond, name)                                                              \
	do {                                                                          \
		len = strlen(keys_changed);                                           \
		if (cond)                                                             \
			snprintf(keys_changed + len, sizeof(keys_changed) - len, "%s%s", \
				 len ? "," : "", name);                               \
	} while (0)
	DIFF(!zt_addr_equal(&p->listen, &n->listen), "listen");
	DIFF(!zt_addr_equal(&p->tcp_listen, &n->tcp_listen) || p->tcp_off != n->tcp_off,
	     "tcp-listen");
	DIFF(p->stun_port != n->stun_port, "stun-port");
	DIFF(strcmp(p->d.pki, n->d.pki) || strcmp(p->d.cert, n->d.cert) ||
	     strcmp(p->d.key, n->d.key) || strcmp(p->d.ca, n->d.ca), "pki");
	DIFF(!zt_addr_equal(&p->metrics_at, &n->metrics_at), "metrics");
	DIFF(strcmp(p->ctl.path, n->ctl.path), "control");
	DIFF(p->workers.n != n->workers.n, "workers");
	DIFF(!imd_nats_same(&p->nats, &n->nats), "nats");
	DIFF(p->ic.max_clients != n->ic.max_clients || p->ic.relay_rate != n->ic.relay_rate ||
	     p->ic.idle_timeout != n->ic.idle_timeout, "limits-of-the-whole-server");
#undef DIFF
	if (keys_changed[0])
		zt_warn("reload", "restart_needed_for=%s note=\"changed in the settings, kept as "
			"they were: only clients, allow, serve and limit rules change on reload\"",
			keys_changed);
}

/* SIGHUP: the clients, allow, serve and limit rules again, from the same command line
 * and config files; a file with an error changes nothing. */
/* A policy from the cluster (--nats-policy follow): in force at once, as on reload. */
static void apply_nats_policy(void *arg, struct zt_policy *policy, uint64_t seq)
{
	struct prog *p = arg;
	struct zt_imd_reload r;
	struct zt_policy *old = p->policy;

	zt_imd_set_policy(p->imd, zt_loop_now(p->d.loop), policy, &r);
	p->policy = policy;
	zt_policy_free(old); /* the Intermediate no longer looks at it */
	zt_info("policy_applied", "source=nats seq=%" PRIu64 " clients_configured=%zu "
		"clients_revoked=%zu sessions_ended=%zu services_dropped=%zu", seq,
		zt_policy_client_count(policy), r.clients_revoked, r.sessions_ended,
		r.services_dropped);
	zt_nodeio_kick(&p->d.io); /* the revoked are told now, not at the next event */
}

/* The presence shows a newer login of that client at another Intermediate: ours ends. */
static size_t retire_elsewhere(void *arg, bool connector, const char *name, const char *text)
{
	struct prog *p = arg;
	size_t n = zt_imd_retire_identity(p->imd, zt_loop_now(p->d.loop), connector, name, text);

	zt_nodeio_kick(&p->d.io);
	return n;
}

/* SIGHUP with --nats: the --policy-signer keys read again (a key removed is revoked).
 * A key that does not load changes nothing (-1). The cluster's policy in force, if its
 * signer is not among them now, is withdrawn: the local policy takes over (below). */
static int reload_signers(struct prog *p, struct prog *n, struct zt_conf *conf)
{
	int rc = imd_nats_reload_signers(&p->nats, &n->nats, conf->err, sizeof(conf->err));

	if (rc < 0) {
		zt_err("reload", "result=failed error=\"%s\" note=\"nothing changed: the running "
		       "settings stay\"", conf->err);
		return -1;
	}
	if (rc == 1)
		zt_warn("policy_withdrawn", "seq=%" PRIu64 " signer=%s note=\"its signer is not a "
			"--policy-signer now: the local policy is in force until one signed by a "
			"--policy-signer is pushed (ztna policy push --sign)\"", p->nats.policy_seq,
			p->nats.policy_signer);
	return 0;
}

static void reload(void *arg)
{
	struct prog *p = arg, *n = calloc(1, sizeof(*n));
	struct zt_conf *conf = calloc(1, sizeof(*conf));
	struct zt_imd_reload r;
	struct zt_policy *old;
	int rc = -ENOMEM;

	if (!n || !conf || zt_policy_new(&n->policy) < 0) {
		zt_err("reload", "result=failed error=\"out of memory\"");
		goto out;
	}
	*n = (struct prog){ .d = { .prog = p->d.prog }, .listen = { .port = 4433 },
			    .stun_port = -1, .ic.open_hold = 10 * ZT_SEC, .policy = n->policy };
	zt_conf_init(conf, keys, sizeof(keys) / sizeof(keys[0]), n);
	rc = zt_daemon_parse(&n->d, conf, p->argc, p->argv);
	if (rc == 0 && zt_policy_client_count(n->policy) == 0) {
		rc = ZT_ECONF_MISSING;
		snprintf(conf->err, sizeof(conf->err), "no client may connect: a clients file or "
			 "--client lines are needed");
	}
	if (rc < 0) {
		zt_err("reload", "result=failed error=\"%s\" note=\"nothing changed: the "
		       "running settings stay\"", conf->err);
		goto out;
	}
	zt_daemon_pki_defaults(&n->d, "intermediate"); /* as setup did for the running one */
	restart_needed(p, n);
	if (*p->nats.servers && imd_nats_same(&p->nats, &n->nats) && reload_signers(p, n, conf) < 0)
		goto out;
	if (imd_nats_policy_in_force(&p->nats)) {
		zt_info("reload", "result=ok policy=kept note=\"the policy pushed to the cluster "
			"(seq %" PRIu64 ") stays in force: with --nats-policy follow, push a new one "
			"(ztna policy push)\"", p->nats.policy_seq);
		goto out;
	}
	zt_imd_set_policy(p->imd, zt_loop_now(p->d.loop), n->policy, &r);
	old = p->policy;
	p->policy = n->policy;
	n->policy = old; /* freed below: the Intermediate no longer looks at it */
	zt_info("reload", "result=ok clients_configured=%zu clients_revoked=%zu sessions_ended=%zu "
		"services_dropped=%zu", zt_policy_client_count(p->policy), r.clients_revoked,
		r.sessions_ended, r.services_dropped);
out:
	if (n)
		zt_policy_free(n->policy);
	free(n);
	free(conf);
}

static void render_metrics(void *arg, struct zt_prom *pr, uint64_t now)
{
	struct prog *p = arg;

	imd_metrics(p->imd, pr, now - p->started);
	imd_nats_metrics(&p->nats, pr);
}

/* --metrics: the endpoint, or a clear error naming the address. */
static int metrics_open(struct prog *p)
{
	char a[ZT_ADDR_STRLEN];
	int rc;

	if (!p->metrics_at.family)
		return 0;
	rc = zt_metrics_open(&p->metrics, p->d.loop, &p->metrics_at, render_metrics, p);
	if (rc < 0)
		return zt_daemon_fail(&p->d, 1, "--metrics %s: %s (another program on that port? "
				      "pick another, or --metrics off)",
				      zt_addr_str(&p->metrics_at, a), strerror(-rc));
	zt_info("metrics", "listen=%s path=/metrics", zt_addr_str(zt_metrics_local(p->metrics), a));
	return 0;
}

static int setup(void *arg, int argc, char **argv)
{
	struct prog *p = arg;
	char *reset_key;
	int rc;

	p->argc = argc;
	p->argv = argv;
	if (token_in_argv(argc, argv))
		zt_warn("secret_on_command_line", "option=--client note=\"other local users can read "
			"command lines\" fix=\"--clients-file FILE (mode 0600)\"");
	zt_timer_init(&p->trim_t, on_trim, p);
	rc = load_files(p);
	if (rc)
		return rc;
	reset_key = load_reset_key(p);
	if (!reset_key)
		return 1;
	rc = imd_workers_prepare(&p->workers, &p->d, &p->ic);
	if (rc) {
		zt_secret_free(reset_key);
		return rc;
	}
	if (zt_daemon_open(&p->d, &p->listen) < 0) {
		zt_secret_free(reset_key);
		return 1;
	}
	imd_config(p, reset_key);
	rc = stun_open(p);
	if (rc) {
		zt_secret_free(reset_key);
		return rc;
	}
	if (*p->nats.servers) {
		p->ic.elsewhere = imd_nats_elsewhere;
		p->ic.elsewhere_arg = &p->nats;
		p->ic.login_floor = imd_nats_login_floor;
		p->ic.link_identity = p->link_identity;
		p->ic.links_in = true;
		p->nats.link_pub = p->nats.link_addr;
		if (!p->nats.link_pub.family && !zt_addr_is_any(&p->d.io.udp.local))
			p->nats.link_pub = p->d.io.udp.local;
	}
	rc = zt_imd_new(&p->imd, &p->ic, zt_loop_now(p->d.loop));
	zt_secret_free(reset_key); /* the Intermediate keeps a hash of it */
	p->ic.reset_key = NULL;
	if (rc < 0 || (rc = zt_nodeio_start(&p->d.io, &zt_nodeio_imd_ops, p->imd)) < 0)
		return zt_daemon_fail(&p->d, 1, "%s", zt_strerror(rc));
	rc = imd_workers_start(&p->workers, &p->d);
	if (rc)
		return rc;
	p->nofile = zt_daemon_raise_nofile();
	rc = tcp_open(p);
	if (rc)
		return rc;
	p->started = zt_loop_now(p->d.loop);
	rc = metrics_open(p);
	p->nats.apply = apply_nats_policy;
	p->nats.apply_arg = p;
	p->nats.retire = retire_elsewhere;
	p->nats.retire_arg = p;
	p->ctl.presence = imd_nats_ctl;
	p->ctl.presence_arg = &p->nats;
	if (!rc)
		rc = imd_ctl_start(&p->ctl, &p->d, p->imd, p->otcp.fd >= 0 ? &p->otcp.local : NULL,
				   p->ic.stun_port);
	if (!rc)
		rc = imd_nats_start(&p->nats, &p->d, p->imd);
	if (rc)
		return rc;
	zt_timer_set(p->d.loop, &p->trim_t, zt_loop_now(p->d.loop) + TRIM_EVERY);
	log_start(p);
	return 0;
}

/* Settings that hold together: someone must be allowed in; a relay burst needs a rate. */
static int check(void *arg, char *err, size_t cap)
{
	struct prog *p = arg;

	int rc = imd_nats_check(&p->nats, err, cap);

	if (rc)
		return rc;
	if (p->ic.relay_burst && !p->ic.relay_rate) {
		snprintf(err, cap, "--relay-burst without --relay-rate: the relay has no rate "
			 "limit to burst above; pass --relay-rate SIZE (bytes per second per client)");
		return ZT_ECONF_MISSING;
	}
	if (zt_policy_client_count(p->policy) > 0 || (*p->nats.servers && p->nats.policy_follow))
		return 0;
	snprintf(err, cap, "no client may connect: pass --clients-file FILE (one KIND:NAME[:TOKEN] "
		 "per line, mode 0600) or --client KIND:NAME[:TOKEN]");
	return ZT_ECONF_MISSING;
}

static void stop(void *arg)
{
	struct prog *p = arg;

	zt_imd_close_all(p->imd, "shutting down");
}

static void teardown(void *arg)
{
	struct prog *p = arg;

	if (p->d.loop)
		zt_timer_cancel(p->d.loop, &p->trim_t);
	zt_metrics_close(p->metrics);
	imd_nats_stop(&p->nats);
	imd_ctl_close(&p->ctl);
	zt_otcp_server_close(&p->otcp);
	if (p->stun.io)
		zt_sprayio_close(&p->stun);
	zt_nodeio_close(&p->d.io);
	zt_imd_free(p->imd);
	imd_workers_free(&p->workers); /* after: the Intermediate empties the relay table */
	zt_tls_ctx_free(p->ic.tls);
	zt_tls_ctx_free(p->ic.tls_tcp);
	zt_tls_ctx_free(p->ic.link_tls);
}

static const struct zt_daemon_ops imd_ops = {
	.check = check,
	.setup = setup,
	.stats = log_stats,
	.reload = reload,
	.stop = stop,
	.teardown = teardown,
};

int main(int argc, char **argv)
{
	static struct prog p = {
		.d = { .prog = "ztna-intermediate", .ops = &imd_ops, .arg = &p },
		.listen = { .port = 4433 }, /* both families (io/udp.h) */
		.stun_port = -1,
		.ic.open_hold = 10 * ZT_SEC,
	};
	struct zt_conf conf;
	int rc;

	if (zt_policy_new(&p.policy) < 0)
		return 1;
	zt_conf_init(&conf, keys, sizeof(keys) / sizeof(keys[0]), &p);
	rc = zt_daemon_main(&p.d, &conf, argc, argv, "ztna-intermediate: authenticate, pair and "
			    "relay ztna agents and connectors");
	zt_policy_free(p.policy);
	return rc;
}
