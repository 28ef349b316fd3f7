/*
 * ztna status / ztna ping: clients of a running agent's (or connector's) control
 * socket (app/peerctl.h, docs/control-socket.md), and of the Intermediate's
 * (ztna-intermediate/imdctl.h).
 *
 *   ztna status [--control PATH | --connector | --intermediate] [--raw | --json]
 *   ztna status --intermediate --presence [--raw | --json]
 *   ztna ping SERVICE [-c N] [-i DURATION] [--timeout DURATION] [--control PATH]
 *
 * status prints one line per session: service, path (direct or relay), local and
 * remote addresses, RTT, time it took to go direct, path switches; --raw prints the
 * program's key=value lines as they are. ping prints each round trip with the path
 * it took ("via direct 203.0.113.2:40123 in 0.4 ms", "via relay in 1.1 ms") and a
 * summary; exit 0 when at least one answer came, 1 when none did, 2 on bad usage
 * or when the program cannot be reached.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "app/ctlsock.h"
#include "cli.h"
#include "cmds.h"
#include "core/err.h"
#include "core/logfmt.h"
#include "core/units.h"

struct ctlclient {
	char control[108];
	bool control_set, connector, intermediate, raw, json, presence;
	unsigned count, timeout_ms;
	uint64_t interval;
	int fd;
	char buf[ZT_CTL_OUT_MAX + 1];
	size_t len;
};

static int set_control(void *ctx, const char *v, const char **why)
{
	struct ctlclient *c = ctx;

	if (strlen(v) >= sizeof(c->control)) {
		*why = "a socket path is at most 107 bytes";
		return ZT_ESYNTAX;
	}
	snprintf(c->control, sizeof(c->control), "%s", v);
	c->control_set = true;
	return 0;
}

ZT_CLI_FLAG_SETTER(set_connector, struct ctlclient, connector)
ZT_CLI_FLAG_SETTER(set_intermediate, struct ctlclient, intermediate)
ZT_CLI_FLAG_SETTER(set_presence, struct ctlclient, presence)
ZT_CLI_FLAG_SETTER(set_raw, struct ctlclient, raw)
ZT_CLI_FLAG_SETTER(set_json, struct ctlclient, json)

static int set_count(void *ctx, const char *v, const char **why)
{
	return zt_cli_uint(&((struct ctlclient *)ctx)->count, v, 1, 100000, why);
}

static int set_interval(void *ctx, const char *v, const char **why)
{
	return zt_cli_duration(&((struct ctlclient *)ctx)->interval, v, ZT_SEC, 60 * ZT_SEC, why);
}

static int set_timeout(void *ctx, const char *v, const char **why)
{
	uint64_t ns;
	int rc = zt_cli_duration(&ns, v, ZT_MS, 60 * ZT_SEC, why);

	if (rc == 0) /* the control socket's ping takes whole milliseconds: rounded up */
		((struct ctlclient *)ctx)->timeout_ms = (unsigned)((ns + ZT_MS - 1) / ZT_MS);
	return rc;
}

static const struct zt_conf_key status_keys[] = {
	{ .name = "control", .syntax = "PATH", .example = "/run/ztna/agent.sock",
	  .help = "the program's control socket (its --control)", .set = set_control },
	{ .name = "connector", .syntax = "", .help = "the connector's default socket, not the agent's",
	  .set = set_connector, .is_flag = true },
	{ .name = "intermediate", .syntax = "", .help = "the Intermediate's default socket: its "
	  "clients, sessions and relay counters", .set = set_intermediate, .is_flag = true },
	{ .name = "presence", .syntax = "", .help = "with --intermediate: its NATS cluster and "
	  "where the deployment's clients are (--nats; exit 0 when the cluster is ready)",
	  .set = set_presence, .is_flag = true },
	{ .name = "raw", .syntax = "", .help = "print the key=value lines as they come",
	  .set = set_raw, .is_flag = true },
	{ .name = "json", .syntax = "", .help = "print one JSON object: node, sessions, agents, "
	  "clients, refusals, portmap, upnp, errors, ready", .set = set_json, .is_flag = true },
};

static const struct zt_conf_key ping_keys[] = {
	{ .name = "control", .syntax = "PATH", .example = "/run/ztna/agent.sock",
	  .help = "the agent's control socket (its --control)", .set = set_control },
	{ .name = "count", .syntax = "N", .example = "4", .help = "round trips (also -c; default 4)",
	  .set = set_count },
	{ .name = "interval", .syntax = "DURATION", .example = "200ms",
	  .help = "between round trips: 200ms, 2s, or seconds (also -i; default 1s)",
	  .set = set_interval },
	{ .name = "timeout", .syntax = "DURATION", .example = "3s",
	  .help = "wait this long for each answer: 500ms, 2s, or milliseconds (default 3s)",
	  .set = set_timeout },
};

static const char *role_name(const struct ctlclient *c)
{
	return c->intermediate ? "intermediate" : c->connector ? "connector" : "agent";
}

/* The program's default socket (app/ctlsock.h, as the program chooses it; without
 * one, the /run/ztna one, which the error then names). */
static void default_path(struct ctlclient *c)
{
	if (!c->control_set)
		zt_ctl_default_path(c->control, sizeof(c->control), role_name(c));
}

static int open_ctl(struct ctlclient *c, const char *cmd)
{
	default_path(c);
	c->fd = zt_ctl_connect(c->control);
	if (c->fd < 0) {
		fprintf(stderr, "ztna %s: cannot reach %s: %s (is the %s running? pass its "
				"--control PATH with --control)\n", cmd, c->control, strerror(-c->fd),
			role_name(c));
		return ZT_EXIT_USAGE;
	}
	return 0;
}

/* Sends one command line and reads its answer (lines up to the empty line) into
 * c->buf, NUL-terminated. Returns 0 or -errno (-EPIPE: the program hung up). */
static int transact(struct ctlclient *c, const char *line)
{
	size_t n = strlen(line);

	for (size_t off = 0; off < n;) {
		ssize_t w = write(c->fd, line + off, n - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -EPIPE;
		off += (size_t)w;
	}
	c->len = 0;
	for (;;) {
		ssize_t r;
		c->buf[c->len] = '\0';
		if ((c->len == 1 && c->buf[0] == '\n') ||
		    (c->len >= 2 && !strcmp(c->buf + c->len - 2, "\n\n")))
			return 0;
		if (c->len == sizeof(c->buf) - 1)
			return -EMSGSIZE;
		r = read(c->fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -EPIPE;
		c->len += (size_t)r;
	}
}

/* The value of key in a "k=v k=v" line (values have no spaces, or are "quoted"). */
static const char *kv(const char *line, const char *key, char *out, size_t cap)
{
	size_t kl = strlen(key);
	const char *p = line;

	out[0] = '\0';
	while ((p = strstr(p, key))) {
		if ((p == line || p[-1] == ' ') && p[kl] == '=') {
			const char *v = p + kl + 1;
			size_t n;
			if (*v == '"') {
				v++;
				n = strcspn(v, "\"\n");
			} else {
				n = strcspn(v, " \n");
			}
			if (n >= cap)
				n = cap - 1;
			memcpy(out, v, n);
			out[n] = '\0';
			return out;
		}
		p += kl;
	}
	return out;
}

/* "1.5 s" from a millisecond count (out holds 128 bytes). */
static const char *print_secs(char *out, const char *ms_text)
{
	snprintf(out, 128, "%.1f s", strtod(ms_text, NULL) / 1000.0);
	return out;
}

static void print_ms(char *out, size_t cap, const char *us_text)
{
	if (!*us_text || !strcmp(us_text, "0"))
		snprintf(out, cap, "-");
	else
		snprintf(out, cap, "%.1f ms", strtod(us_text, NULL) / 1000.0);
}

/* The port mapping's line (docs/portmap.md), in a sentence. */
static void print_portmap(const char *line)
{
	char st[32], proto[32], gw[128], ext[128], t[128], secs[128], err[400];

	kv(line, "state", st, sizeof(st));
	kv(line, "gateway", gw, sizeof(gw));
	if (!strcmp(st, "mapped"))
		printf("portmap: %s via %s at %s, offered as a srflx candidate; renewal in %s\n",
		       kv(line, "external", ext, sizeof(ext)), kv(line, "protocol", proto, sizeof(proto)),
		       gw, print_secs(secs, kv(line, "renew_in_ms", t, sizeof(t))));
	else if (!strcmp(st, "unavailable"))
		printf("portmap: none from %s (%s); next try in %s\n", gw,
		       kv(line, "last_error", err, sizeof(err)),
		       print_secs(secs, kv(line, "retry_in_ms", t, sizeof(t))));
	else
		printf("portmap: %s at %s\n", st, gw);
}

/* The answer in words, one line per session; ZT_EXIT_FAILED if it held an error line. */
static int print_text(struct ctlclient *c)
{
	char *line, *save = NULL;
	int rc = ZT_EXIT_OK;

	for (line = strtok_r(c->buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char v[10][128], why[400];
		if (!strncmp(line, "error=", 6)) {
			fprintf(stderr, "ztna status: %s\n", line);
			rc = ZT_EXIT_FAILED;
		} else if (!strncmp(line, "node ", 5)) {
			printf("%s %s: %s, intermediate %s over %s, local %s, nat=%s, %s session(s)\n",
			       kv(line, "role", v[0], 128), kv(line, "name", v[1], 128),
			       kv(line, "state", v[2], 128), kv(line, "intermediate", v[3], 128),
			       *kv(line, "transport", v[9], 128) ? v[9] : "udp",
			       kv(line, "local", v[4], 128),
			       *kv(line, "nat", v[6], 128) ? v[6] : "unknown",
			       kv(line, "sessions", v[5], 128));
			if (*kv(line, "login_error", v[6], 128))
				printf("login refused (%s): %s; next try in %s\n", v[6],
				       kv(line, "login_text", v[7], 128), print_secs(v[8], kv(line, "retry_in_ms", v[9], 128)));
			else if (*kv(line, "last_error", why, sizeof(why)))
				printf("not connected: %s (%s ago)\n", why,
				       print_secs(v[8], kv(line, "last_error_ago_ms", v[7], 128)));
			printf("%-16s %-10s %-24s %-24s %-9s %-10s %-8s %s\n", "SERVICE", "PATH", "LOCAL",
			       "REMOTE", "RTT", "TO-DIRECT", "SWITCHES", "STATE (WHY)");
		} else if (!strncmp(line, "session=", 8)) {
			char rtt[32], ttd[32], ttd_us[40], path[140];
			print_ms(rtt, sizeof(rtt), kv(line, "rtt_us", v[0], 128));
			kv(line, "path", v[3], 128);
			if (!strcmp(v[3], "direct-tcp"))
				snprintf(path, sizeof(path), "direct(tcp)");
			else
				snprintf(path, sizeof(path), "%s%s", v[3],
					 !strcmp(v[3], "relay") && !strcmp(kv(line, "outer", v[9], 128), "tcp")
						 ? "(tcp)" : "");
			snprintf(ttd_us, sizeof(ttd_us), "%s000", kv(line, "time_to_direct_ms", v[1], 128));
			print_ms(ttd, sizeof(ttd), strcmp(v[1], "0") ? ttd_us : "0");
			printf("%-16s %-10s %-24s %-24s %-9s %-10s %-8s %s (%s)\n",
			       kv(line, "service", v[2], 128), path,
			       kv(line, "local", v[4], 128), kv(line, "remote", v[5], 128), rtt, ttd,
			       kv(line, "switches", v[6], 128), kv(line, "state", v[7], 128),
			       kv(line, "reason", v[8], 128));
		} else if (!strncmp(line, "agent identity=", 15)) {
			printf("agent %s: %s session(s), %s TCP, %s UDP, %s bytes in flight, %s refused "
			       "by a limit\n", kv(line, "identity", v[0], 128), kv(line, "sessions", v[1], 128),
			       kv(line, "chans", v[2], 128), kv(line, "flows", v[3], 128),
			       kv(line, "bytes", v[4], 128), kv(line, "refused", v[5], 128));
		} else if (!strncmp(line, "forward ", 8)) {
			printf("forward %s %s -> %s\n", kv(line, "proto", v[0], 128),
			       kv(line, "listen", v[1], 128), kv(line, "service", v[2], 128));
		} else if (!strncmp(line, "service ", 8)) {
			printf("service %s -> %s %s\n", kv(line, "name", v[0], 128),
			       kv(line, "proto", v[1], 128), kv(line, "target", v[2], 128));
		} else if (!strncmp(line, "portmap ", 8)) {
			print_portmap(line);
		} else if (!strncmp(line, "refusal ", 8)) {
			printf("%-16s refused (%s) %s ago: %s; %s%s\n", kv(line, "service", v[0], 128),
			       kv(line, "code", v[1], 128),
			       print_secs(v[2], kv(line, "ago_ms", v[3], 128)), kv(line, "text", v[4], 128),
			       strcmp(kv(line, "retry_in_ms", v[5], 128), "0") ? "next try in " : "may try again now",
			       strcmp(v[5], "0") ? print_secs(v[6], v[5]) : "");
		}
	}
	return rc;
}

/* "1.2 MB" from a byte count (out holds 32 bytes). */
static const char *print_bytes(char *out, const char *text)
{
	double v = strtod(text, NULL);

	if (v < 1e3)
		snprintf(out, 32, "%.0f B", v);
	else if (v < 1e6)
		snprintf(out, 32, "%.1f kB", v / 1e3);
	else if (v < 1e9)
		snprintf(out, 32, "%.1f MB", v / 1e6);
	else
		snprintf(out, 32, "%.2f GB", v / 1e9);
	return out;
}

/* The Intermediate's node line (ztna-intermediate/imdctl.h), in sentences. */
static void print_imd_node(const char *line)
{
	static const char *const drops[] = { "unknown_session", "quota", "rate", "queue",
		"malformed", "channel_address", "channel_malformed", "garbage", "unknown_connection",
		"by_connection" };
	char v[12][128], b[3][32], key[64];
	size_t off = 0;

	printf("intermediate: %s, udp %s, tcp %s, stun port %s, up %s; %s client(s) (%s logged "
	       "in), %s session(s)\n", kv(line, "state", v[0], 128), kv(line, "listen", v[1], 128),
	       kv(line, "tcp_listen", v[2], 128),
	       strcmp(kv(line, "stun_port", v[3], 128), "0") ? v[3] : "off",
	       print_secs(v[4], kv(line, "uptime_ms", v[5], 128)), kv(line, "clients", v[6], 128),
	       kv(line, "authenticated", v[7], 128), kv(line, "sessions", v[8], 128));
	printf("relayed %s in %s packet(s); over the last %s: %s/s, %s packet(s)/s\n",
	       print_bytes(b[0], kv(line, "relay_bytes", v[0], 128)), kv(line, "relay_pkts", v[1], 128),
	       print_secs(v[2], kv(line, "rate_window_ms", v[3], 128)),
	       print_bytes(b[1], kv(line, "relay_bytes_rate", v[4], 128)),
	       kv(line, "relay_pkts_rate", v[5], 128));
	v[11][0] = '\0';
	for (size_t i = 0; i < sizeof(drops) / sizeof(drops[0]); i++) {
		snprintf(key, sizeof(key), "dropped_%s", drops[i]);
		if (strcmp(kv(line, key, v[0], 128), "0") && *v[0] && off < 100)
			off += (size_t)snprintf(v[11] + off, 128 - off, " %s=%s", drops[i], v[0]);
	}
	printf("dropped:%s\n", off ? v[11] : " none");
}

/* The Intermediate's answer in words: the node, a table of clients, one of sessions. */
static int print_imd_text(struct ctlclient *c)
{
	char *line, *save = NULL;
	unsigned clients = 0, sessions = 0;
	int rc = ZT_EXIT_OK;

	for (line = strtok_r(c->buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char v[8][128], b[32];
		if (!strncmp(line, "error=", 6)) {
			fprintf(stderr, "ztna status: %s\n", line);
			rc = ZT_EXIT_FAILED;
		} else if (!strncmp(line, "node ", 5)) {
			print_imd_node(line);
		} else if (!strncmp(line, "client=", 7)) {
			if (!clients++)
				printf("%-32s %-9s %-28s %-10s %-8s %s\n", "CLIENT", "KIND", "REMOTE",
				       "CONNECTED", "SESSIONS", "SERVICES");
			printf("%-32s %-9s %-28s %-10s %-8s %s\n", kv(line, "identity", v[0], 128),
			       kv(line, "kind", v[1], 128), kv(line, "remote", v[2], 128),
			       print_secs(v[3], kv(line, "connected_ms", v[4], 128)),
			       kv(line, "sessions", v[5], 128), kv(line, "services", v[6], 128));
		} else if (!strncmp(line, "session=", 8)) {
			if (!sessions++)
				printf("%-16s %-24s %-26s %-7s %-7s %s\n", "SERVICE", "AGENT", "CONNECTOR",
				       "PATH", "STATE", "RELAYED");
			printf("%-16s %-24s %-26s %-7s %-7s %s in %s packet(s)\n",
			       kv(line, "service", v[0], 128), kv(line, "agent", v[1], 128),
			       kv(line, "connector", v[2], 128), kv(line, "path", v[3], 128),
			       kv(line, "state", v[4], 128), print_bytes(b, kv(line, "relay_bytes", v[5], 128)),
			       kv(line, "relay_pkts", v[6], 128));
		}
	}
	return rc;
}

/* The Intermediate's presence answer (ztna-intermediate/imdnats.h), in sentences and a
 * table; returns 0 when its cluster is ready. */
static int print_presence(struct ctlclient *c)
{
	char *line, *save = NULL;
	unsigned n = 0;
	int rc = ZT_EXIT_FAILED;

	for (line = strtok_r(c->buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char v[10][128], t[32];
		if (!strncmp(line, "error=", 6)) {
			fprintf(stderr, "ztna status: %s\n", line);
		} else if (!strncmp(line, "nats ", 5)) {
			kv(line, "state", v[0], 128);
			if (!strcmp(v[0], "ready"))
				rc = ZT_EXIT_OK;
			if (!strcmp(v[0], "off")) {
				printf("cluster: off (no --nats: this Intermediate works alone)\n");
				continue;
			}
			printf("cluster: %s, servers %s, bucket %s, as %s; %s client(s) of ours published, "
			       "%s record(s) held, %s refused; policy %s (seq %s, %s refused, %s stale)%s%s\n",
			       v[0], kv(line, "servers", v[1], 128), kv(line, "bucket", v[2], 128),
			       kv(line, "name", v[3], 128), kv(line, "published", v[4], 128),
			       kv(line, "table", v[5], 128), kv(line, "refused", v[6], 128),
			       kv(line, "policy", v[7], 128), kv(line, "policy_seq", v[8], 128),
			       kv(line, "policy_refused", v[9], 128), kv(line, "policy_stale", t, 32),
			       *kv(line, "error", v[1], 128) ? "; " : "", v[1]);
		} else if (!strncmp(line, "presence=", 9)) {
			if (!n++)
				printf("%-40s %-20s %-28s %s\n", "CLIENT", "INTERMEDIATE", "ADDRESS", "EXPIRES");
			printf("%-40s %-20s %-28s in %s\n", kv(line, "presence", v[0], 128),
			       kv(line, "imd", v[1], 128), kv(line, "addr", v[2], 128),
			       print_secs(t, kv(line, "expires_ms", v[3], 128)));
		}
	}
	return rc;
}

/* Whether the node line says role=intermediate. */
static bool node_is_imd(const char *buf)
{
	char role[32];

	return !strncmp(buf, "node ", 5) && !strcmp(kv(buf, "role", role, sizeof(role)), "intermediate");
}

/* Whether the node line says state=ready (logged in to the Intermediate). */
static bool node_ready(const char *buf)
{
	const char *line = !strncmp(buf, "node ", 5) ? buf : strstr(buf, "\nnode ");
	char st[32];

	if (!line)
		return false;
	if (*line == '\n')
		line++;
	return !strcmp(kv(line, "state", st, sizeof(st)), "ready");
}

/* One JSON object of a line's key=value fields (after its leading word, if any). */
static void json_line(const char *line, size_t len)
{
	static char out[1 << 14];
	const char *sp = memchr(line, ' ', len), *eq = memchr(line, '=', len);

	size_t tl = !strncmp(line, "session=", 8) ? 8 : !strncmp(line, "client=", 7) ? 7 : 0;
	size_t idlen = sp && tl ? (size_t)(sp - line) - tl : 0;

	if (sp && (!eq || sp < eq)) { /* "node role=..." */
		len -= (size_t)(sp + 1 - line);
		line = sp + 1;
	} else if (idlen && strspn(line + tl, "0123456789abcdef") == idlen) {
		/* a hex id (session=, client=) stays a string even when its digits are all
		 * decimal */
		zt_logfmt_json(out, sizeof(out), sp + 1, len - (size_t)(sp + 1 - line));
		printf("{\"%.*s\":\"%.*s\"%s%s", (int)tl - 1, line, (int)idlen, line + tl,
		       strcmp(out, "{}") ? "," : "", out + 1);
		return;
	}
	zt_logfmt_json(out, sizeof(out), line, len);
	fputs(out, stdout);
}

/* The lines whose leading word (or first key) is tag: one object (array false, the
 * first such line, or null) or an array of them. */
static void json_group(const char *buf, const char *tag, const char *name, bool array,
		       bool *first)
{
	size_t tl = strlen(tag);
	int n = 0;

	printf("%s\"%s\":%s", *first ? "" : ",", name, array ? "[" : "");
	*first = false;
	for (const char *line = buf; *line;) {
		size_t len = strcspn(line, "\n");
		if (len > tl && !strncmp(line, tag, tl) && (line[tl] == ' ' || line[tl] == '=') &&
		    (array || n == 0)) {
			printf("%s", n++ ? "," : "");
			json_line(line, len);
		}
		line += len + (line[len] == '\n');
	}
	printf("%s", array ? "]" : n ? "" : "null");
}

/* The answer as one JSON document (docs/control-socket.md). */
static void print_json(const struct ctlclient *c)
{
	bool first = true;

	printf("{");
	json_group(c->buf, "node", "node", false, &first);
	json_group(c->buf, "session", "sessions", true, &first);
	json_group(c->buf, "forward", "forwards", true, &first);
	json_group(c->buf, "service", "services", true, &first);
	json_group(c->buf, "tunnel", "tunnel", false, &first);
	json_group(c->buf, "agent", "agents", true, &first);
	json_group(c->buf, "client", "clients", true, &first);
	json_group(c->buf, "refusal", "refusals", true, &first);
	json_group(c->buf, "portmap", "portmap", false, &first);
	json_group(c->buf, "upnp", "upnp", false, &first);
	json_group(c->buf, "error", "errors", true, &first);
	printf(",\"ready\":%s}\n", node_ready(c->buf) ? "true" : "false");
}

/* status --presence: the Intermediate's presence command. */
static int presence(struct ctlclient *c)
{
	int rc = transact(c, "presence\n");

	if (rc < 0) {
		fprintf(stderr, "ztna status: %s: %s\n", c->control, strerror(-rc));
		return ZT_EXIT_FAILED;
	}
	if (!strncmp(c->buf, "error=unknown-command", 21)) {
		fprintf(stderr, "ztna status: %s: not an Intermediate (no presence command)\n",
			c->control);
		return ZT_EXIT_USAGE;
	}
	if (c->raw || c->json) {
		bool first = true, ready = strstr(c->buf, "nats state=ready") == c->buf;
		if (c->raw) {
			fputs(c->buf, stdout);
		} else {
			printf("{");
			json_group(c->buf, "nats", "nats", false, &first);
			json_group(c->buf, "presence", "presence", true, &first);
			printf("}\n");
		}
		return ready ? ZT_EXIT_OK : ZT_EXIT_FAILED;
	}
	return print_presence(c);
}

int status_main(int argc, char **argv)
{
	struct ctlclient *c = calloc(1, sizeof(*c));
	bool ready;
	int rc;

	if (!c)
		return ZT_EXIT_FAILED;
	rc = zt_cli_parse("status",
			  "usage: ztna status [--control PATH | --connector | --intermediate] "
			  "[--raw | --json]\n\n"
			  "The sessions of a running agent (or connector): service, path, addresses,\n"
			  "RTT, time it took to go direct, path switches. Exit status: 0 when it is\n"
			  "logged in to the Intermediate (ready), 1 when it answers but is not (or\n"
			  "answered an error), 2 when it cannot be reached or on bad usage.\n"
			  "With --intermediate (or its --control PATH): the Intermediate's clients,\n"
			  "sessions and relay counters; exit status 0 when it is serving.\n"
			  "With --presence: the Intermediate's NATS cluster (--nats) and where every\n"
			  "client of the deployment is; exit status 0 when the cluster is ready.",
			  status_keys, sizeof(status_keys) / sizeof(status_keys[0]), c, argc, argv);
	if (rc >= 0)
		goto out;
	if (c->connector && c->intermediate) {
		fprintf(stderr, "ztna status: --connector or --intermediate, not both\n");
		rc = ZT_EXIT_USAGE;
		goto out;
	}
	if (c->presence && c->connector) {
		fprintf(stderr, "ztna status: --presence is the Intermediate's: with --intermediate "
			"or its --control PATH\n");
		rc = ZT_EXIT_USAGE;
		goto out;
	}
	if (c->presence && !c->control_set)
		c->intermediate = true;
	rc = open_ctl(c, "status");
	if (rc)
		goto out;
	if (c->presence) {
		rc = presence(c);
		goto close_fd;
	}
	rc = transact(c, "status\n");
	if (rc < 0) {
		fprintf(stderr, "ztna status: %s: %s\n", c->control, strerror(-rc));
		rc = ZT_EXIT_FAILED;
		goto close_fd;
	}
	ready = node_ready(c->buf);
	if (c->raw) {
		fputs(c->buf, stdout);
		rc = ZT_EXIT_OK;
	} else if (c->json) {
		print_json(c);
		rc = ZT_EXIT_OK;
	} else {
		rc = node_is_imd(c->buf) ? print_imd_text(c) : print_text(c);
	}
	if (rc == ZT_EXIT_OK && !ready)
		rc = ZT_EXIT_FAILED; /* answering, not ready: for scripts and health checks */
close_fd:
	close(c->fd);
out:
	free(c);
	return rc;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Options of ping that take the next argument as their value. */
static bool takes_value(const char *o)
{
	static const char *const opts[] = { "-c", "-i", "--count", "--interval", "--timeout",
					     "--control", "--config" };

	for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++)
		if (!strcmp(o, opts[i]))
			return true;
	return false;
}

/* The agent's answer to one `ping`, printed. Returns 1 (a pong, its round trip in
 * *ns), 2 (the same, on the direct path) or 0 (refused, or no answer). */
static int ping_line(struct ctlclient *c, unsigned seq, const char *service, uint64_t *ns)
{
	char v[4][128];

	if (!strncmp(c->buf, "pong ", 5)) {
		bool tcp = !strcmp(kv(c->buf, "path", v[1], 128), "direct-tcp");
		bool d = tcp || !strcmp(v[1], "direct");

		*ns = strtoull(kv(c->buf, "rtt_ns", v[0], 128), NULL, 10);
		if (d)
			printf("seq=%u %s via direct %s%s in %.3f ms\n", seq, service,
			       tcp ? "(tcp) " : "", kv(c->buf, "remote", v[2], 128), (double)*ns / 1e6);
		else if (!strcmp(kv(c->buf, "outer", v[3], 128), "tcp"))
			printf("seq=%u %s via relay (tcp) in %.3f ms\n", seq, service, (double)*ns / 1e6);
		else
			printf("seq=%u %s via relay in %.3f ms\n", seq, service, (double)*ns / 1e6);
		return d ? 2 : 1;
	}
	c->buf[strcspn(c->buf, "\n")] = '\0';
	if (!strncmp(c->buf, "error=refused ", 14))
		printf("seq=%u %s refused: %s (the agent asks again in %s at the earliest)\n", seq,
		       service, kv(c->buf, "text", v[3], 128),
		       print_secs(v[2], kv(c->buf, "retry_in_ms", v[1], 128)));
	else
		printf("seq=%u %s no answer: %s\n", seq, service,
		       kv(c->buf, "text", v[3], 128)[0] ? v[3] : c->buf);
	return 0;
}

int ping_main(int argc, char **argv)
{
	struct ctlclient *c = calloc(1, sizeof(*c));
	const char *service = NULL;
	char *args[64];
	uint64_t *rtts = NULL;
	unsigned answered = 0, direct = 0;
	int n = 0, rc;

	if (!c)
		return ZT_EXIT_FAILED;
	*c = (struct ctlclient){ .count = 4, .interval = ZT_SEC, .timeout_ms = 3000 };
	/* SERVICE is positional; -c and -i are the usual ping short options. */
	for (int i = 0; i < argc && n < 63; i++) {
		if (i > 0 && argv[i][0] != '-' && !service && !(i > 1 && takes_value(argv[i - 1]))) {
			service = argv[i];
			continue;
		}
		args[n++] = !strcmp(argv[i], "-c") ? "--count"
			    : !strcmp(argv[i], "-i") ? "--interval" : argv[i];
	}
	args[n] = NULL;
	rc = zt_cli_parse("ping",
			  "usage: ztna ping SERVICE [-c N] [-i DURATION] [--timeout DURATION] [--control PATH]\n\n"
			  "Round trips to SERVICE's connector through a running agent, each with the\n"
			  "path it took (direct or relay).",
			  ping_keys, sizeof(ping_keys) / sizeof(ping_keys[0]), c, n, args);
	if (rc >= 0)
		goto out;
	if (!service) {
		fprintf(stderr, "ztna ping: which service? usage: ztna ping SERVICE [-c N]\n");
		rc = ZT_EXIT_USAGE;
		goto out;
	}
	rc = open_ctl(c, "ping");
	if (rc)
		goto out;
	rtts = calloc(c->count, sizeof(*rtts));
	if (!rtts) {
		rc = ZT_EXIT_FAILED;
		goto close_fd;
	}
	for (unsigned seq = 1; seq <= c->count; seq++) {
		char cmd[200];
		int trc;

		snprintf(cmd, sizeof(cmd), "ping %s %u\n", service, c->timeout_ms);
		trc = transact(c, cmd);
		if (trc < 0) {
			fprintf(stderr, "ztna ping: %s: %s\n", c->control, strerror(-trc));
			break;
		}
		trc = ping_line(c, seq, service, &rtts[answered]);
		answered += trc > 0;
		direct += trc == 2;
		fflush(stdout);
		if (seq < c->count) {
			struct timespec ts = { .tv_sec = (time_t)(c->interval / ZT_SEC),
					       .tv_nsec = (long)(c->interval % ZT_SEC) };
			while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
				;
		}
	}
	printf("--- %s: %u sent, %u answered (%u direct, %u relay)", service, c->count, answered,
	       direct, answered - direct);
	if (answered) {
		qsort(rtts, answered, sizeof(*rtts), cmp_u64);
		printf(", rtt min/median/max %.3f/%.3f/%.3f ms", (double)rtts[0] / 1e6,
		       (double)rtts[answered / 2] / 1e6, (double)rtts[answered - 1] / 1e6);
	}
	printf("\n");
	rc = answered ? ZT_EXIT_OK : ZT_EXIT_FAILED;

close_fd:
	close(c->fd);
out:
	free(rtts);
	free(c);
	return rc;
}
