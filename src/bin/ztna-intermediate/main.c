/*
 * ztna-intermediate: the public rendezvous and relay. One UDP socket: QUIC
 * connections from agents and connectors (authenticated by certificate and token),
 * control messages, pairing by policy, relaying of end-to-end packets it cannot
 * decrypt, STUN answers. The logic is node/imd.h; this is its I/O shell.
 *
 *   ztna-intermediate --listen 127.0.0.1:4433 --pki DIR \
 *       --client agent:alice:TOKEN --client connector:c1:TOKEN --allow alice=web \
 *       --serve c1=web
 *
 * SIGHUP logs a stats line; SIGINT/SIGTERM stop it (with a final one).
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app/conf.h"
#include "app/log.h"
#include "app/nodeio.h"
#include "app/secret.h"
#include "core/err.h"
#include "core/units.h"
#include "io/loop.h"
#include "io/sysrng.h"
#include "node/imd.h"
#include "node/policy.h"
#include "quic/pki.h"

struct prog {
	struct zt_addr listen;
	char pki[PATH_MAX], cert[PATH_MAX], key[PATH_MAX], ca[PATH_MAX];
	char reset_key_file[PATH_MAX], qlog_dir[PATH_MAX], keylog[PATH_MAX];
	uint64_t quota_bytes, quota_packets, open_hold, idle_timeout, start_margin, max_clients;
	bool open_hold_set;
	/* control-message limits (node/imd.h); 0: the default */
	uint64_t max_sessions, open_rate, open_burst, max_held, max_held_total, busy_hold;
	uint64_t ctrl_rate, ctrl_burst, ctrl_busy, ctrl_stall;
	/* the Intermediate under load (docs/security.md) */
	enum zt_imd_retry retry;
	uint64_t retry_half_open, retry_half_open_source, retry_token_lifetime;
	uint64_t half_open_max, half_open_per_source, handshake_timeout, logins_per_identity;
	int verbose;
	struct zt_policy *policy;

	struct zt_rng rng;
	struct zt_loop *loop;
	struct zt_nodeio io;
	struct zt_imd *imd;
	struct zt_tls_ctx *tls;
	FILE *keylog_f;
	unsigned qlog_seq;
	struct zt_timer trim_t;
	size_t trim_peak;          /* clients at most since the last malloc_trim */
};

#define P(ctx) ((struct prog *)(ctx))

static int set_str(char *dst, size_t cap, const char *v, const char **why)
{
	if (!*v || strlen(v) >= cap) {
		*why = "empty or too long";
		return ZT_ESYNTAX;
	}
	memcpy(dst, v, strlen(v) + 1);
	return 0;
}

static int set_listen(void *ctx, const char *v, const char **why)
{
	int rc = zt_addr_parse(&P(ctx)->listen, v, 4433);

	if (rc < 0)
		*why = "an IP address and port";
	return rc;
}

static int set_pki(void *ctx, const char *v, const char **why)
{
	return set_str(P(ctx)->pki, PATH_MAX, v, why);
}

static int set_cert(void *ctx, const char *v, const char **why)
{
	return set_str(P(ctx)->cert, PATH_MAX, v, why);
}

static int set_key(void *ctx, const char *v, const char **why)
{
	return set_str(P(ctx)->key, PATH_MAX, v, why);
}

static int set_ca(void *ctx, const char *v, const char **why)
{
	return set_str(P(ctx)->ca, PATH_MAX, v, why);
}

static int set_reset_key(void *ctx, const char *v, const char **why)
{
	return set_str(P(ctx)->reset_key_file, PATH_MAX, v, why);
}

static int set_qlog(void *ctx, const char *v, const char **why)
{
	return set_str(P(ctx)->qlog_dir, PATH_MAX, v, why);
}

static int set_keylog(void *ctx, const char *v, const char **why)
{
	return set_str(P(ctx)->keylog, PATH_MAX, v, why);
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

static int set_count(uint64_t *dst, const char *v, const char **why)
{
	int rc = zt_units_size(v, dst);

	if (rc < 0 || *dst == 0) {
		*why = "a positive number (K, M, G allowed)";
		return rc < 0 ? rc : ZT_ERANGE;
	}
	return 0;
}

/* 0 would silently mean the default (64G) in the core: refused. */
static int set_quota_bytes(void *ctx, const char *v, const char **why)
{
	int rc = zt_units_size(v, &P(ctx)->quota_bytes);

	if (rc < 0 || P(ctx)->quota_bytes == 0) {
		*why = "a size above 0 such as 1G or 500M";
		return rc < 0 ? rc : ZT_ERANGE;
	}
	return 0;
}

static int set_quota_packets(void *ctx, const char *v, const char **why)
{
	return set_count(&P(ctx)->quota_packets, v, why);
}

static int set_max_clients(void *ctx, const char *v, const char **why)
{
	return set_count(&P(ctx)->max_clients, v, why);
}

/* A positive count of at most max. */
static int set_limit(uint64_t *dst, const char *v, const char **why, uint64_t max)
{
	int rc = set_count(dst, v, why);

	if (rc == 0 && *dst > max) {
		*why = max == ZT_IMD_RATE_MAX ? "at most 1000000" : "too large";
		return ZT_ERANGE;
	}
	return rc;
}

static int set_max_sessions(void *ctx, const char *v, const char **why)
{
	return set_limit(&P(ctx)->max_sessions, v, why, 1000000);
}

static int set_open_rate(void *ctx, const char *v, const char **why)
{
	return set_limit(&P(ctx)->open_rate, v, why, ZT_IMD_RATE_MAX);
}

static int set_open_burst(void *ctx, const char *v, const char **why)
{
	return set_limit(&P(ctx)->open_burst, v, why, ZT_IMD_RATE_MAX);
}

static int set_max_held(void *ctx, const char *v, const char **why)
{
	return set_limit(&P(ctx)->max_held, v, why, 1000000);
}

static int set_max_held_total(void *ctx, const char *v, const char **why)
{
	return set_limit(&P(ctx)->max_held_total, v, why, 10000000);
}

static int set_ctrl_rate(void *ctx, const char *v, const char **why)
{
	return set_limit(&P(ctx)->ctrl_rate, v, why, ZT_IMD_RATE_MAX);
}

static int set_ctrl_burst(void *ctx, const char *v, const char **why)
{
	return set_limit(&P(ctx)->ctrl_burst, v, why, ZT_IMD_RATE_MAX);
}

static int set_ctrl_busy(void *ctx, const char *v, const char **why)
{
	int rc = zt_units_size(v, &P(ctx)->ctrl_busy);

	if (rc < 0 || P(ctx)->ctrl_busy < 1024 || P(ctx)->ctrl_busy > ZT_IMD_CTRL_BUSY_MAX) {
		*why = "a size from 1K to 128K";
		return rc < 0 ? rc : ZT_ERANGE;
	}
	return 0;
}

static int set_retry(void *ctx, const char *v, const char **why)
{
	if (!strcmp(v, "load"))
		P(ctx)->retry = ZT_IMD_RETRY_LOAD;
	else if (!strcmp(v, "always"))
		P(ctx)->retry = ZT_IMD_RETRY_ALWAYS;
	else {
		*why = "'load' or 'always'";
		return ZT_ESYNTAX;
	}
	return 0;
}

static int set_retry_half_open(void *ctx, const char *v, const char **why)
{
	return set_count(&P(ctx)->retry_half_open, v, why);
}

static int set_retry_half_open_source(void *ctx, const char *v, const char **why)
{
	return set_count(&P(ctx)->retry_half_open_source, v, why);
}

static int set_half_open_max(void *ctx, const char *v, const char **why)
{
	return set_count(&P(ctx)->half_open_max, v, why);
}

static int set_half_open_per_source(void *ctx, const char *v, const char **why)
{
	return set_count(&P(ctx)->half_open_per_source, v, why);
}

static int set_logins_per_identity(void *ctx, const char *v, const char **why)
{
	return set_count(&P(ctx)->logins_per_identity, v, why);
}

static int set_dur(uint64_t *dst, const char *v, const char **why)
{
	int rc = zt_units_duration(v, dst);

	if (rc < 0)
		*why = "a duration like 30s, 1.5s, 250ms or 2m (a bare number is seconds)";
	return rc;
}

static int set_open_hold(void *ctx, const char *v, const char **why)
{
	P(ctx)->open_hold_set = true;
	return set_dur(&P(ctx)->open_hold, v, why);
}

/* A positive duration (0 would silently mean the default in the core). */
static int set_pos_dur(uint64_t *dst, const char *v, const char **why)
{
	int rc = set_dur(dst, v, why);

	if (rc == 0 && *dst == 0) {
		*why = "a duration above 0";
		return ZT_ERANGE;
	}
	return rc;
}

static int set_idle(void *ctx, const char *v, const char **why)
{
	return set_pos_dur(&P(ctx)->idle_timeout, v, why);
}

static int set_margin(void *ctx, const char *v, const char **why)
{
	return set_pos_dur(&P(ctx)->start_margin, v, why);
}

static int set_busy_hold(void *ctx, const char *v, const char **why)
{
	return set_pos_dur(&P(ctx)->busy_hold, v, why);
}

static int set_ctrl_stall(void *ctx, const char *v, const char **why)
{
	return set_pos_dur(&P(ctx)->ctrl_stall, v, why);
}

static int set_log_rate(void *ctx, const char *v, const char **why)
{
	(void)ctx;
	return zt_log_set_rate_text(v, why);
}

static int set_token_lifetime(void *ctx, const char *v, const char **why)
{
	return set_pos_dur(&P(ctx)->retry_token_lifetime, v, why);
}

static int set_handshake_timeout(void *ctx, const char *v, const char **why)
{
	return set_pos_dur(&P(ctx)->handshake_timeout, v, why);
}

static int set_verbose(void *ctx, const char *v, const char **why)
{
	(void)v;
	(void)why;
	P(ctx)->verbose++;
	return 0;
}

static const struct zt_conf_key keys[] = {
	{ .name = "listen", .syntax = "ADDR[:PORT]", .example = "0.0.0.0:4433",
	  .help = "the UDP address to serve (default 0.0.0.0:4433)", .set = set_listen },
	{ .name = "pki", .syntax = "DIR", .example = "/etc/ztna/pki",
	  .help = "our bundle from 'ztna pki init' (DIR/intermediate): default ca, cert and key "
		  "files; one holding keys not ours is refused", .set = set_pki },
	{ .name = "cert", .syntax = "FILE", .example = "intermediate.pem",
	  .help = "our certificate (default PKI/intermediate.pem)", .set = set_cert },
	{ .name = "key", .syntax = "FILE", .example = "intermediate.key",
	  .help = "our private key (default PKI/intermediate.key)", .set = set_key },
	{ .name = "ca", .syntax = "FILE", .example = "ca.pem",
	  .help = "the CA that signs agents and connectors (default PKI/ca.pem)", .set = set_ca },
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
	{ .name = "quota-bytes", .syntax = "SIZE", .example = "10G",
	  .help = "relay budget per session (default 64G)", .set = set_quota_bytes },
	{ .name = "quota-packets", .syntax = "N", .example = "10M",
	  .help = "relay packets per session (default 64M)", .set = set_quota_packets },
	{ .name = "open-hold", .syntax = "DURATION", .example = "10s",
	  .help = "after a start, hold requests for services not registered yet (default 10s)",
	  .set = set_open_hold },
	{ .name = "idle-timeout", .syntax = "DURATION", .example = "20s",
	  .help = "a silent client is gone after this (default 20s)", .set = set_idle },
	{ .name = "start-margin", .syntax = "DURATION", .example = "50ms",
	  .help = "START_CHECKS lead time for the farther end (default 50ms)", .set = set_margin },
	{ .name = "max-clients", .syntax = "N", .example = "10000",
	  .help = "connections at most (default 10000)", .set = set_max_clients },
	{ .name = "max-sessions", .syntax = "N", .example = "1024",
	  .help = "sessions per agent connection, held requests included (default 1024)",
	  .set = set_max_sessions },
	{ .name = "open-rate", .syntax = "N", .example = "20",
	  .help = "session requests (OPEN) per second per connection (default 20)",
	  .set = set_open_rate },
	{ .name = "open-burst", .syntax = "N", .example = "100",
	  .help = "session requests in a burst per connection (default 100)", .set = set_open_burst },
	{ .name = "max-held", .syntax = "N", .example = "32",
	  .help = "requests waiting for a connector per connection (default 32)",
	  .set = set_max_held },
	{ .name = "max-held-total", .syntax = "N", .example = "10000",
	  .help = "requests waiting for a connector in all (default 10000)",
	  .set = set_max_held_total },
	{ .name = "busy-hold", .syntax = "DURATION", .example = "5s",
	  .help = "a request waits this long for a backed-up connector (default 5s)",
	  .set = set_busy_hold },
	{ .name = "ctrl-rate", .syntax = "N", .example = "200",
	  .help = "control messages per second per connection (default 200)", .set = set_ctrl_rate },
	{ .name = "ctrl-burst", .syntax = "N", .example = "1000",
	  .help = "control messages in a burst per connection, +16 per session (default 1000)",
	  .set = set_ctrl_burst },
	{ .name = "ctrl-busy", .syntax = "SIZE", .example = "64K",
	  .help = "control bytes queued to a party before it gets no new sessions (default 64K)",
	  .set = set_ctrl_busy },
	{ .name = "ctrl-stall", .syntax = "DURATION", .example = "30s",
	  .help = "close a party that reads none of its control stream this long (default 30s)",
	  .set = set_ctrl_stall },
	{ .name = "retry", .syntax = "load|always", .example = "always",
	  .help = "address validation (a Retry) for every new client, or under load only "
		  "(default load)",
	  .set = set_retry },
	{ .name = "retry-half-open", .syntax = "N", .example = "100",
	  .help = "under load: N connections half-open (not authenticated yet) (default 100)",
	  .set = set_retry_half_open },
	{ .name = "retry-half-open-per-source", .syntax = "N", .example = "4",
	  .help = "... or N from the new client's source (default 4)",
	  .set = set_retry_half_open_source },
	{ .name = "retry-token-lifetime", .syntax = "DURATION", .example = "10s",
	  .help = "a Retry token is good this long (default 10s)", .set = set_token_lifetime },
	{ .name = "half-open-max", .syntax = "N", .example = "1000",
	  .help = "connections not yet authenticated (handshake or HELLO due) at most; new ones "
		  "over it are dropped (default 1000)",
	  .set = set_half_open_max },
	{ .name = "half-open-per-source", .syntax = "N", .example = "32",
	  .help = "... from one source, an IPv4 address or IPv6 /64 (default 32)",
	  .set = set_half_open_per_source },
	{ .name = "handshake-timeout", .syntax = "DURATION", .example = "10s",
	  .help = "a connection not authenticated this long after its first packet is dropped "
		  "(default 10s)",
	  .set = set_handshake_timeout },
	{ .name = "logins-per-identity", .syntax = "N", .example = "1",
	  .help = "connections one identity may hold; a newer login replaces the oldest "
		  "(default 1; more only for load tests)",
	  .set = set_logins_per_identity },
	{ .name = "reset-key-file", .syntax = "FILE", .example = "/etc/ztna/reset.key",
	  .help = "secret for stateless resets after a restart and Retry tokens (default: from "
		  "the TLS key)",
	  .set = set_reset_key },
	{ .name = "qlog-dir", .syntax = "DIR", .example = "/tmp/qlog",
	  .help = "write a qlog file per QUIC connection into DIR", .set = set_qlog },
	{ .name = "keylog", .syntax = "FILE", .example = "/tmp/keys.log",
	  .help = "append TLS secrets (SSLKEYLOGFILE format, for Wireshark)", .set = set_keylog },
	{ .name = "log-rate", .syntax = "N", .example = "100",
	  .help = "log lines per event and second; more are counted in one summary line "
		  "(default 100, 0: no limit)", .set = set_log_rate },
	{ .name = "verbose", .syntax = "", .help = "more logs (also -v, -vv)", .set = set_verbose,
	  .is_flag = true, .repeatable = true },
};

static void node_log(void *arg, enum zt_node_level level, const char *event, const char *kv)
{
	(void)arg;
	zt_log_kv((enum zt_log_level)level, event, kv);
}

static void keylog_line(void *arg, const char *line)
{
	struct prog *p = arg;

	fprintf(p->keylog_f, "%s\n", line);
	fflush(p->keylog_f);
}

static void *qlog_open(void *arg, const char *label)
{
	struct prog *p = arg;
	char path[PATH_MAX + 128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/intermediate-%s-%d-%u.sqlog", p->qlog_dir, label,
		 (int)getpid(), ++p->qlog_seq);
	f = zt_secret_create(path);
	if (!f)
		zt_warn("qlog_failed", "file=%s error=\"%s\"", path, strerror(errno));
	return f;
}

static void qlog_write(void *h, const void *data, size_t len, bool fin)
{
	if (len)
		fwrite(data, 1, len, h);
	if (fin)
		fclose(h);
}

static void log_stats(struct prog *p, const char *event)
{
	struct zt_imd_stats s;

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
		" no_service=%" PRIu64 " relay_pkts=%" PRIu64 " relay_bytes=%" PRIu64
		" relay_dropped_unknown=%" PRIu64 " relay_dropped_quota=%" PRIu64
		" relay_dropped_queue=%" PRIu64 " relay_dropped_malformed=%" PRIu64 " ctrl_errors=%" PRIu64
		" register_refused=%" PRIu64 " open_rate_limited=%" PRIu64 " open_max_sessions=%" PRIu64
		" held=%" PRIu64 " held_now=%zu held_refused=%" PRIu64 " open_busy=%" PRIu64
		" ctrl_over_budget=%" PRIu64 " ctrl_budget_closed=%" PRIu64 " ctrl_fwd_dropped=%" PRIu64
		" ctrl_send_dropped=%" PRIu64 " ctrl_stalled_closed=%" PRIu64 " log_suppressed=%" PRIu64,
		s.clients, s.sessions, p->io.st.rx, p->io.st.tx, s.dropped_garbage, s.dropped_unknown,
		s.dropped_conn, s.stun_answered, s.stun_dropped, s.stun_limited, s.resets_sent, s.accepted,
		s.accept_failed, s.refused_full, s.auth_ok, s.auth_failed,
		s.authenticated, s.half_open, s.half_open_sources, s.retry_sent, s.retry_validated, s.retry_bad_token,
		s.refused_half_open, s.refused_source, s.half_open_expired, s.replaced,
		s.opens, s.sessions_opened, s.policy_refused, s.no_service, s.relay_pkts, s.relay_bytes,
		s.relay_dropped_unknown, s.relay_dropped_quota, s.relay_dropped_queue,
		s.relay_dropped_malformed, s.ctrl_errors, s.register_refused, s.open_rate_limited,
		s.open_max_sessions, s.held, s.held_now, s.held_refused, s.open_busy, s.ctrl_over_budget,
		s.ctrl_budget_closed, s.ctrl_fwd_dropped, s.ctrl_send_dropped, s.ctrl_stalled_closed,
		s.log_suppressed);
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

static void on_signal(struct zt_loop *loop, int sig, void *arg)
{
	if (sig == SIGHUP) {
		log_stats(arg, "stats");
		return;
	}
	zt_loop_stop(loop);
}

static void default_file(char *dst, const char *dir, const char *name)
{
	if (!*dst && *dir && snprintf(dst, PATH_MAX, "%s/%s", dir, name) >= PATH_MAX)
		dst[0] = '\0';
}

/* The control-message limits (0: the Intermediate's default). */
static void ctrl_limits(const struct prog *p, struct zt_imd_config *ic)
{
	ic->max_sessions = (size_t)p->max_sessions;
	ic->open_rate = (unsigned)p->open_rate;
	ic->open_burst = (unsigned)p->open_burst;
	ic->max_held = (size_t)p->max_held;
	ic->max_held_total = (size_t)p->max_held_total;
	ic->busy_hold = p->busy_hold;
	ic->ctrl_rate = (unsigned)p->ctrl_rate;
	ic->ctrl_burst = (unsigned)p->ctrl_burst;
	ic->ctrl_busy = (size_t)p->ctrl_busy;
	ic->ctrl_stall = p->ctrl_stall;
}

static void log_start(const struct prog *p)
{
	char a[ZT_ADDR_STRLEN];

	zt_info("start", "listen=%s clients_configured=%zu rules=%zu serve_rules=%zu",
		zt_addr_str(&p->io.udp.local, a), zt_policy_client_count(p->policy),
		zt_policy_rule_count(p->policy), zt_policy_serve_count(p->policy));
	if (!zt_policy_serve_count(p->policy))
		zt_warn("no_serve_rules", "hint=\"no connector may register a service: add --serve "
			"CONNECTOR=SERVICE for each connector\"");
}

/* Our certificate, key and CA (a bundle without foreign keys), the key log, the qlog
 * directory, the TLS context. Returns 0 or the exit status, with the message. */
static int load_files(struct prog *p)
{
	struct zt_tls_config tc = { .side = ZT_TLS_SERVER, .alpn = ZT_ALPN_OUTER,
				    .require_peer_cert = true };
	const char *files[3], *why = "";
	struct stat st;
	int rc;

	default_file(p->cert, p->pki, "intermediate.pem");
	default_file(p->key, p->pki, "intermediate.key");
	default_file(p->ca, p->pki, "ca.pem");
	if (*p->pki && zt_secret_check_pki("ztna-intermediate", p->pki, ZT_PKI_INTERMEDIATE,
					   "intermediate"))
		return 1;
	files[0] = p->ca, files[1] = p->cert, files[2] = p->key;
	for (int i = 0; i < 3; i++)
		if (!*files[i] || access(files[i], R_OK) < 0) {
			fprintf(stderr, "ztna-intermediate: cannot read %s: %s (make a development PKI "
					"with 'ztna pki init DIR --intermediate-ip IP' and pass --pki "
					"DIR/intermediate, or set --ca/--cert/--key)\n",
				*files[i] ? files[i] : (i == 0 ? "the CA" : i == 1 ? "the certificate" : "the key"),
				*files[i] ? strerror(errno) : "not set");
			return 2;
		}
	if (*p->keylog && !(p->keylog_f = zt_secret_append(p->keylog, &why))) {
		if (errno == EPERM)
			fprintf(stderr, "ztna-intermediate: the key log %s is readable or writable by "
					"group or others (it holds TLS secrets; remove it, or chmod 600 %s "
					"if nobody else read it)\n", p->keylog, p->keylog);
		else
			fprintf(stderr, "ztna-intermediate: cannot open the key log %s: %s\n", p->keylog,
				why);
		return 1;
	}
	if (*p->qlog_dir && (stat(p->qlog_dir, &st) < 0 || !S_ISDIR(st.st_mode))) {
		fprintf(stderr, "ztna-intermediate: --qlog-dir %s: not a directory\n", p->qlog_dir);
		return 1;
	}
	tc.ca_file = p->ca;
	tc.cert_file = p->cert;
	tc.key_file = p->key;
	if (p->keylog_f) {
		tc.keylog = keylog_line;
		tc.keylog_arg = p;
	}
	rc = zt_tls_ctx_new(&p->tls, &tc);
	if (rc < 0) {
		fprintf(stderr, "ztna-intermediate: cannot use certificate %s with key %s and CA %s: %s\n",
			p->cert, p->key, p->ca, zt_strerror(rc));
		return 1;
	}
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
	else if ((rc = zt_pki_read_file(p->key, &reset_key)) < 0)
		why = zt_strerror(rc);
	if (rc < 0 || strlen(reset_key) < 16) {
		fprintf(stderr, "ztna-intermediate: reset key %s: %s%s%s\n",
			*p->reset_key_file ? p->reset_key_file : p->key,
			rc < 0 ? why : "shorter than 16 bytes",
			rc == -EPERM ? " (it holds a secret): chmod 600 " : "",
			rc == -EPERM ? p->reset_key_file : "");
		zt_secret_free(reset_key);
		return NULL;
	}
	return reset_key;
}

static int setup(struct prog *p)
{
	struct zt_imd_config ic;
	char *reset_key, a[ZT_ADDR_STRLEN];
	int rc;

	rc = load_files(p);
	if (rc)
		return rc;
	reset_key = load_reset_key(p);
	if (!reset_key)
		return 1;
	p->rng = zt_sysrng();
	if ((rc = zt_loop_new(&p->loop)) < 0 || (rc = zt_loop_catch_signals(p->loop, on_signal, p)) < 0) {
		fprintf(stderr, "ztna-intermediate: event loop: %s\n", strerror(-rc));
		zt_secret_free(reset_key);
		return 1;
	}
	zt_log_attach(p->loop);
	rc = zt_nodeio_open(&p->io, p->loop, &p->listen);
	if (rc < 0) {
		fprintf(stderr, "ztna-intermediate: cannot bind UDP %s: %s\n",
			zt_addr_str(&p->listen, a), strerror(-rc));
		zt_secret_free(reset_key);
		return 1;
	}
	ic = (struct zt_imd_config){
		.tls = p->tls,
		.rng = &p->rng,
		.policy = p->policy,
		.listen = p->io.udp.local,
		.quota_bytes = p->quota_bytes,
		.quota_packets = p->quota_packets,
		.start_margin = p->start_margin,
		.open_hold = p->open_hold_set ? p->open_hold : 10 * ZT_SEC,
		.idle_timeout = p->idle_timeout,
		.max_clients = (size_t)p->max_clients,
		.retry = p->retry,
		.retry_half_open = (size_t)p->retry_half_open,
		.retry_half_open_source = (size_t)p->retry_half_open_source,
		.retry_token_lifetime = p->retry_token_lifetime,
		.half_open_max = (size_t)p->half_open_max,
		.half_open_per_source = (size_t)p->half_open_per_source,
		.handshake_timeout = p->handshake_timeout,
		.logins_per_identity = (size_t)p->logins_per_identity,
		.reset_key = (const uint8_t *)reset_key,
		.reset_key_len = strlen(reset_key),
		.log = { .fn = node_log, .arg = p, .max_level = (enum zt_node_level)zt_log_level() },
	};
	ctrl_limits(p, &ic);
	if (*p->qlog_dir) {
		ic.qlog_open = qlog_open;
		ic.qlog_write = qlog_write;
		ic.qlog_arg = p;
	}
	rc = zt_imd_new(&p->imd, &ic, zt_loop_now(p->loop));
	zt_secret_free(reset_key); /* the Intermediate keeps a hash of it */
	if (rc < 0 || (rc = zt_nodeio_start(&p->io, &zt_nodeio_imd_ops, p->imd)) < 0) {
		fprintf(stderr, "ztna-intermediate: %s\n", zt_strerror(rc));
		return 1;
	}
	zt_timer_set(p->loop, &p->trim_t, zt_loop_now(p->loop) + TRIM_EVERY);
	log_start(p);
	return 0;
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

int main(int argc, char **argv)
{
	static struct prog p;
	struct zt_conf conf;
	char usage[8192], **args;
	int nargs = 0, v = 0, rc;

	p.listen = (struct zt_addr){ .family = AF_INET, .port = 4433 };
	if (zt_policy_new(&p.policy) < 0)
		return 1;
	zt_conf_init(&conf, keys, sizeof(keys) / sizeof(keys[0]), &p);
	args = calloc((size_t)argc + 1, sizeof(*args));
	if (!args) {
		zt_policy_free(p.policy);
		return 1;
	}
	for (int i = 0; i < argc; i++) {
		if (i > 0 && argv[i][0] == '-' && argv[i][1] == 'v' &&
		    strspn(argv[i] + 1, "v") == strlen(argv[i] + 1)) {
			v += (int)strlen(argv[i] + 1);
			continue;
		}
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			zt_conf_usage(&conf, usage, sizeof(usage));
			printf("ztna-intermediate: authenticate, pair and relay ztna agents and connectors\n\n"
			       "usage: ztna-intermediate [--config FILE] [OPTIONS] [-v|-vv]\n\n%s", usage);
			free(args);
			return 0;
		}
		args[nargs++] = argv[i];
	}
	rc = zt_conf_args(&conf, nargs, args, 1);
	free(args);
	if (rc == 0)
		rc = zt_conf_finish(&conf);
	if (rc == 0 && zt_policy_client_count(p.policy) == 0) {
		snprintf(conf.err, sizeof(conf.err), "no client may connect: pass --clients-file FILE "
			 "(one KIND:NAME[:TOKEN] per line, mode 0600) or --client KIND:NAME[:TOKEN]");
		rc = ZT_ECONF_MISSING;
	}
	if (rc < 0) {
		fprintf(stderr, "ztna-intermediate: %s\n", conf.err);
		zt_policy_free(p.policy);
		return 2;
	}
	v += p.verbose;
	zt_log_setup("intermediate", v >= 2 ? ZT_LOG_TRACE : v == 1 ? ZT_LOG_DEBUG : ZT_LOG_INFO);
	if (token_in_argv(argc, argv))
		zt_warn("secret_on_command_line", "option=--client note=\"other local users can read "
			"command lines\" fix=\"--clients-file FILE (mode 0600)\"");
	zt_timer_init(&p.trim_t, on_trim, &p);
	rc = setup(&p);
	if (rc == 0) {
		rc = zt_loop_run(p.loop) < 0 ? 1 : 0;
		log_stats(&p, "exit");
		zt_imd_close_all(p.imd, "shutting down");
		zt_nodeio_kick(&p.io);
	}
	if (p.loop)
		zt_timer_cancel(p.loop, &p.trim_t);
	zt_nodeio_close(&p.io);
	zt_imd_free(p.imd);
	zt_tls_ctx_free(p.tls);
	zt_log_detach();
	zt_loop_free(p.loop);
	zt_policy_free(p.policy);
	if (p.keylog_f)
		fclose(p.keylog_f);
	return rc;
}
