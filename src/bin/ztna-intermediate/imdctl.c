#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app/log.h"
#include "core/err.h"
#include "core/units.h"
#include "imdctl.h"

#define SAMPLE_EVERY ZT_SEC
#define RATE_SPAN (10 * ZT_SEC)

int imd_ctl_set(struct imd_ctl *ctl, const char *v, const char **why)
{
	if (!*v || strlen(v) >= sizeof(ctl->path)) {
		*why = "a socket path of 1 to 107 bytes, or none";
		return ZT_ESYNTAX;
	}
	snprintf(ctl->path, sizeof(ctl->path), "%s", v);
	return 0;
}

static uint64_t ms_since(uint64_t t, uint64_t now)
{
	return now > t ? (now - t) / ZT_MS : 0;
}

static void status_node(struct imd_ctl *ctl, struct zt_ctlconn *c, uint64_t now, size_t nclients,
			size_t nsessions)
{
	struct zt_imd_stats s;
	char l[ZT_ADDR_STRLEN], t[ZT_ADDR_STRLEN];
	uint64_t win, bps, pps;

	zt_imd_stats(ctl->imd, &s);
	/* the relay's totals: the Intermediate's own and its workers' (docs/workers.md) */
	s.relay_bytes += s.relay_worker_bytes;
	s.relay_pkts += s.relay_worker_pkts;
	bps = zt_ratewin_rate(&ctl->bytes, now, s.relay_bytes, RATE_SPAN, &win);
	pps = zt_ratewin_rate(&ctl->pkts, now, s.relay_pkts, RATE_SPAN, NULL);
	zt_ctl_printf(c, "node role=intermediate state=ready listen=%s tcp_listen=%s stun_port=%u "
		      "uptime_ms=%" PRIu64 " clients=%zu authenticated=%zu half_open=%zu sessions=%zu "
		      "held=%zu relay_bytes=%" PRIu64 " relay_pkts=%" PRIu64 " relay_bytes_rate=%"
		      PRIu64 " relay_pkts_rate=%" PRIu64 " rate_window_ms=%" PRIu64 " dgrams_in=%"
		      PRIu64 " dgrams_out=%" PRIu64 " dropped_garbage=%" PRIu64
		      " dropped_unknown_connection=%" PRIu64 " dropped_by_connection=%" PRIu64
		      " dropped_unknown_session=%" PRIu64 " dropped_quota=%" PRIu64 " dropped_rate=%"
		      PRIu64 " dropped_queue=%" PRIu64 " dropped_malformed=%" PRIu64
		      " dropped_channel_address=%" PRIu64 " dropped_channel_malformed=%" PRIu64
		      " opens=%" PRIu64 " sessions_opened=%" PRIu64 " logins_failed=%" PRIu64
		      " clients_listed=%zu sessions_listed=%zu",
		      zt_addr_str(&ctl->listen, l),
		      ctl->tcp_listen.family ? zt_addr_str(&ctl->tcp_listen, t) : "off", ctl->stun_port,
		      ms_since(ctl->started, now), s.clients, s.authenticated, s.half_open, s.sessions,
		      s.held_now, s.relay_bytes, s.relay_pkts, bps, pps, (uint64_t)(win / ZT_MS), s.dgrams_in,
		      s.dgrams_out, s.dropped_garbage, s.dropped_unknown, s.dropped_conn,
		      s.relay_dropped_unknown, s.relay_dropped_quota, s.relay_dropped_rate,
		      s.relay_dropped_queue, s.relay_dropped_malformed, s.relay_chan_dropped_addr,
		      s.relay_chan_dropped_malformed, s.opens, s.sessions_opened, s.auth_failed,
		      nclients, nsessions);
}

static void status_clients(struct zt_ctlconn *c, const struct zt_imd_client_info *ci, size_t n,
			   uint64_t now)
{
	char a[ZT_ADDR_STRLEN];

	for (size_t i = 0; i < n; i++)
		zt_ctl_printf(c, "client=%016" PRIx64 " identity=%s kind=%s transport=%s remote=%s "
			      "connected_ms=%" PRIu64 " login_ms=%" PRIu64 " sessions=%zu services=%s "
			      "channel=%s relay_dropped_rate=%" PRIu64,
			      ci[i].id, ci[i].identity, ci[i].connector ? "connector" : "agent",
			      ci[i].tcp ? "tcp" : "udp", zt_addr_str(&ci[i].remote, a),
			      ms_since(ci[i].connected_at, now), ms_since(ci[i].login_at, now),
			      ci[i].sessions, ci[i].services, ci[i].chan ? "on" : "off",
			      ci[i].relay_dropped_rate);
}

static void status_sessions(struct imd_ctl *ctl, struct zt_ctlconn *c, const uint32_t *ids,
			    size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct zt_imd_session_info si;
		if (zt_imd_session_info(ctl->imd, ids[i], &si) < 0)
			continue;
		zt_ctl_printf(c, "session=%08x service=%s agent=%s connector=%s path=%s state=%s "
			      "relay_bytes=%" PRIu64 " relay_pkts=%" PRIu64 " dropped_quota=%" PRIu64
			      " dropped_rate=%" PRIu64 " checks_started=%s generation=%u",
			      si.id, si.service, si.agent[0] ? si.agent : "-",
			      si.connector[0] ? si.connector : "-", si.direct ? "direct" : "relay",
			      si.orphan ? "orphan" : "ready", si.relay_bytes, si.relay_pkts,
			      si.dropped_quota, si.dropped_rate, si.started ? "yes" : "no",
			      si.generation);
	}
}

static void cmd_status(struct imd_ctl *ctl, struct zt_ctlconn *c, uint64_t now)
{
	struct zt_imd_client_info *ci = calloc(IMD_CTL_LIST_MAX, sizeof(*ci));
	uint32_t *ids = calloc(IMD_CTL_LIST_MAX, sizeof(*ids));
	size_t nc = 0, ns = 0;

	if (!ci || !ids) {
		zt_ctl_printf(c, "error=%d text=\"%s\"", ENOMEM, strerror(ENOMEM));
		goto out;
	}
	nc = zt_imd_clients(ctl->imd, ci, IMD_CTL_LIST_MAX);
	ns = zt_imd_session_ids(ctl->imd, ids, IMD_CTL_LIST_MAX);
	nc = nc < IMD_CTL_LIST_MAX ? nc : IMD_CTL_LIST_MAX;
	ns = ns < IMD_CTL_LIST_MAX ? ns : IMD_CTL_LIST_MAX;
	status_node(ctl, c, now, nc, ns);
	status_clients(c, ci, nc, now);
	status_sessions(ctl, c, ids, ns);
out:
	zt_ctl_end(c);
	free(ci);
	free(ids);
}

static void on_line(void *arg, struct zt_ctlconn *c, char *line, uint64_t now)
{
	struct imd_ctl *ctl = arg;

	if (!line)
		return;
	line[strcspn(line, "\r")] = '\0';
	if (!strcmp(line, "status")) {
		cmd_status(ctl, c, now);
		return;
	}
	if (!strcmp(line, "presence") && ctl->presence) {
		ctl->presence(ctl->presence_arg, c, now);
		return;
	}
	if (!strcmp(line, "help"))
		zt_ctl_printf(c, "commands: status (the node, its clients and sessions), presence "
			      "(where the deployment's clients are, with --nats), help");
	else
		zt_ctl_printf(c, "error=unknown-command text=\"%.64s: try help\"", line);
	zt_ctl_end(c);
}

static void on_sample(struct zt_loop *loop, struct zt_timer *t, uint64_t now)
{
	struct imd_ctl *ctl = t->data;
	struct zt_imd_stats s;

	zt_imd_stats(ctl->imd, &s);
	zt_ratewin_sample(&ctl->bytes, now, s.relay_bytes + s.relay_worker_bytes);
	zt_ratewin_sample(&ctl->pkts, now, s.relay_pkts + s.relay_worker_pkts);
	zt_timer_set(loop, t, now + SAMPLE_EVERY);
}

/* The path: --control's, or the default one (NULL: none, said in the log). */
static const char *control_path(struct imd_ctl *ctl, char *buf, size_t cap)
{
	if (*ctl->path)
		return ctl->path;
	if (zt_ctl_default_path(buf, cap, "intermediate") < 0) {
		zt_info("control", "socket=none reason=\"no XDG_RUNTIME_DIR; set --control PATH\"");
		return NULL;
	}
	if (geteuid() == 0)
		mkdir("/run/ztna", 0755);
	return buf;
}

int imd_ctl_start(struct imd_ctl *ctl, struct zt_daemon *d, const struct zt_imd *imd,
		  const struct zt_addr *tcp_listen, uint16_t stun_port)
{
	char buf[sizeof(ctl->path)];
	const char *path;
	int rc;

	ctl->loop = d->loop;
	ctl->imd = imd;
	ctl->listen = d->io.udp.local;
	ctl->tcp_listen = tcp_listen ? *tcp_listen : (struct zt_addr){ 0 };
	ctl->stun_port = stun_port;
	ctl->started = zt_loop_now(d->loop);
	zt_ratewin_init(&ctl->bytes);
	zt_ratewin_init(&ctl->pkts);
	zt_timer_init(&ctl->sample_t, on_sample, ctl);
	if (!strcmp(ctl->path, "none") || !(path = control_path(ctl, buf, sizeof(buf))))
		return 0;
	rc = zt_ctlsock_open(&ctl->sock, d->loop, path, on_line, ctl);
	if (rc < 0 && *ctl->path)
		return zt_daemon_fail(d, 1, "control socket %s: %s (%s)", path, strerror(-rc),
				      rc == -EADDRINUSE ? "another program uses it: pick another "
							  "--control PATH"
							: "pick another --control PATH, or --control none");
	if (rc < 0) {
		zt_warn("control", "socket=none path=%s error=\"%s\" fix=\"--control PATH\"", path,
			strerror(-rc));
		return 0;
	}
	on_sample(d->loop, &ctl->sample_t, ctl->started);
	zt_info("control", "socket=%s", path);
	return 0;
}

void imd_ctl_close(struct imd_ctl *ctl)
{
	if (ctl->loop)
		zt_timer_cancel(ctl->loop, &ctl->sample_t);
	zt_ctlsock_close(ctl->sock);
	ctl->sock = NULL;
}
