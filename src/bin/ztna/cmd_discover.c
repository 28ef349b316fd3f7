/*
 * ztna discover: RFC 5780 NAT behaviour discovery (core/natdisc.h) over real sockets.
 *
 *   ztna discover --server ADDR[:PORT] [--local IP[:PORT]] [--json] [--timeout S]
 *                 [--lifetime [--lifetime-max D]] [--basic] [--report FILE|-] [-v]
 *
 * Socket 0 is bound to --local (default: the address the kernel would send to the
 * server from, any port); socket 1, on the same IP and any port, is only for the
 * hairpinning test; ZT_NATDISC_PORT_SAMPLES more (same IP, any port, each used for one
 * request) sample the port allocation, and with --lifetime ZT_NATDISC_LIFETIME_PROBES
 * more probe the mapping lifetime (core/natdisc.h, tests 5 and 6). Prints the
 * reflexive address, the mapping and filtering behaviour, hairpinning (yes, no,
 * untested), the NAT type name, the port allocation pattern and the lifetime; --json
 * prints one JSON object instead. --report also writes the NAT report
 * (core/natreport.h, docs/report-format.md) to FILE, or to stdout instead of the text. --basic stops after the first answer (reflexive
 * address only).
 *
 * Retransmission (RFC 8489 s6.2.1) with shorter limits than the RFC's Rc=7, Rm=16
 * (39.5 s before a transaction fails): every test sends at 0, RTO and 3 RTO and gives
 * up at 7 RTO, with RTO = S / 7 for --timeout S (default 3.5 s: RTO 500 ms, the RFC's
 * initial value, Rc=3, Rm=4). So an unreachable server or a network that blocks UDP is
 * reported after S seconds, and a whole run takes at most about 4 S (three tests may
 * legitimately go unanswered: the two filtering tests and hairpinning).
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "app/log.h"
#include "cli.h"
#include "cmds.h"
#include "core/err.h"
#include "core/natdisc.h"
#include "core/natreport.h"
#include "io/clock.h"
#include "io/loop.h"
#include "io/sysrng.h"
#include "io/udp.h"

#define DEFAULT_TIMEOUT (3500 * ZT_MS)
#define DEFAULT_LIFETIME_MAX (60 * ZT_SEC)
#define RTO_DIVISOR 7 /* Rc = 3 sends at 0, RTO, 3 RTO; Rm = 4: fail at 7 RTO */

struct sock {
	struct zt_watch w;
	struct zt_udp u;
	unsigned idx;
	struct disc *d;
};

struct disc {
	struct zt_addr server, local;
	bool have_local, json, basic, lifetime;
	const char *report;      /* --report FILE, "-": stdout */
	int signo;               /* SIGINT/SIGTERM received */
	uint64_t timeout, lifetime_max;
	struct zt_natdisc *nd;
	struct sock s[ZT_NATDISC_MAX_SOCKETS];
	unsigned nsock;          /* sockets open in s[] */
	struct zt_loop *loop;
	unsigned long ignored;
};

static int set_server(void *ctx, const char *v, const char **why)
{
	return zt_cli_addr(&((struct disc *)ctx)->server, v, 3478, why);
}

static int set_local(void *ctx, const char *v, const char **why)
{
	struct disc *d = ctx;

	d->have_local = true;
	return zt_cli_addr(&d->local, v, 0, why);
}

ZT_CLI_FLAG_SETTER(set_json, struct disc, json)

ZT_CLI_FLAG_SETTER(set_basic, struct disc, basic)

static int set_timeout(void *ctx, const char *v, const char **why)
{
	return zt_cli_duration(&((struct disc *)ctx)->timeout, v, ZT_SEC, 600 * ZT_SEC, why);
}

ZT_CLI_FLAG_SETTER(set_lifetime, struct disc, lifetime)

static int set_lifetime_max(void *ctx, const char *v, const char **why)
{
	return zt_cli_duration(&((struct disc *)ctx)->lifetime_max, v, ZT_SEC,
			       ZT_NATDISC_MAX_LIFETIME, why);
}

static int set_report(void *ctx, const char *v, const char **why)
{
	if (!*v) {
		*why = "needs a file name, or - for stdout";
		return -EINVAL;
	}
	((struct disc *)ctx)->report = v;
	return 0;
}

static const struct zt_conf_key keys[] = {
	{ .name = "server", .syntax = "ADDR[:PORT]", .example = "203.0.113.10:3478",
	  .help = "the STUN server's primary address (port 3478 if not given)",
	  .set = set_server, .required = true },
	{ .name = "local", .syntax = "IP[:PORT]", .example = "192.168.1.2:5000",
	  .help = "bind the test socket here (default: the route's source, any port)",
	  .set = set_local },
	{ .name = "json", .syntax = "", .help = "print one JSON object", .set = set_json,
	  .is_flag = true },
	{ .name = "basic", .syntax = "",
	  .help = "only the reflexive address: one Binding request, no behaviour tests",
	  .set = set_basic, .is_flag = true },
	{ .name = "timeout", .syntax = "S", .example = "3.5",
	  .help = "how long one test waits for its answer: seconds, or 5s, 500ms (default 3.5)",
	  .set = set_timeout },
	{ .name = "lifetime", .syntax = "",
	  .help = "also measure how long an idle mapping lives (takes up to --lifetime-max)",
	  .set = set_lifetime, .is_flag = true },
	{ .name = "report", .syntax = "FILE", .example = "home.json",
	  .help = "also write the NAT report (docs/report-format.md) to FILE; - : to stdout, "
		  "instead of the text",
	  .set = set_report },
	{ .name = "lifetime-max", .syntax = "D", .example = "60s",
	  .help = "the longest idle time --lifetime tries: seconds, or 2m (default 60, at most 3600)",
	  .set = set_lifetime_max },
};

static const char usage_head[] =
	"usage: ztna discover --server ADDR[:PORT] [--local IP[:PORT]] [--json] [--timeout S]\n"
	"                     [--lifetime [--lifetime-max D]] [--basic] [--report FILE|-]\n"
	"\n"
	"Finds this host's reflexive address and its NAT's behaviour with the RFC 5780 tests\n"
	"against a STUN server that has two addresses (ztna stun-server --alternate, or\n"
	"coturn with two listening IPs): mapping and filtering (endpoint-independent,\n"
	"address-dependent, address-and-port-dependent), hairpinning, and the type name:\n"
	"open, firewall, full-cone, address-restricted, port-restricted, symmetric,\n"
	"udp-blocked, unknown. --basic stops after the first answer: the reflexive address\n"
	"and whether there is a NAT at all (type 'nat' or 'no-nat').\n"
	"\n"
	"Behind a NAT it then sends one request from each of 5 fresh sockets to the server\n"
	"and names the port allocation pattern: preserve (every public port is the local\n"
	"one), sequential (each public port 1 to 8 above the previous), random; unknown\n"
	"with fewer than 3 answers. --lifetime makes 20 more mappings, leaves them idle\n"
	"for 1/20, 2/20, ... of --lifetime-max and checks them in turn until one is gone:\n"
	"the mapping lifetime to 1/20 of --lifetime-max, in about that lifetime. It works\n"
	"where a new mapping can be told from the old one: random or sequential ports, or\n"
	"port-preserving with endpoint-independent mapping and address(-and-port)-\n"
	"dependent filtering; elsewhere it says 'not-measurable'.\n"
	"\n"
	"--report FILE writes what a lab needs to rebuild this network (ztna-lab\n"
	"from-report) as one JSON document: the above, the ports seen, the round trip to\n"
	"the server (min, median) and the loss seen; unknown values are null.\n"
	"\n"
	"Each test sends at 0, RTO and 3 RTO and gives up at 7 RTO, RTO = S/7 (default\n"
	"S = 3.5 s: RTO 500 ms). No answer to the first test within S seconds: UDP blocked\n"
	"or the server is down.\n"
	"Exit status: 0 classified; 1 no answer from the server; 3 incomplete (the server\n"
	"answered but a test could not be completed: see 'error'); 2 bad usage or a local\n"
	"error. SIGINT/SIGTERM: it cleans up and dies by the signal (a shell shows 130/143).\n";

/* The address the kernel sends to `to` from: connect() a UDP socket, no packet sent. */
static int route_source(const struct zt_addr *to, struct zt_addr *ret)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, sl, rc;

	sl = zt_addr_to_sockaddr(to, &ss);
	if (sl < 0)
		return sl;
	fd = socket(to->family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&ss, (socklen_t)sl) < 0) {
		rc = -errno;
		goto out_close;
	}
	len = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0) {
		rc = -errno;
		goto out_close;
	}
	rc = zt_addr_from_sockaddr(ret, (struct sockaddr *)&ss, len);
	ret->port = 0;
out_close:
	close(fd);
	return rc;
}

static void on_readable(struct zt_loop *loop, struct zt_watch *w, uint32_t revents, uint64_t now)
{
	struct sock *s = w->data;
	struct disc *d = s->d;
	char b[ZT_ADDR_STRLEN];
	uint8_t buf[1500];
	struct zt_addr from;
	int n, rc;

	(void)loop;
	(void)revents;
	for (int budget = 0; budget < 64; budget++) {
		n = zt_udp_recv(&s->u, buf, sizeof(buf), &from, NULL);
		if (n == -EAGAIN)
			return;
		if (n < 0) {
			zt_debug("recv_error", "socket=%u error=\"%s\"", s->idx, strerror(-n));
			continue;
		}
		rc = zt_natdisc_recv(d->nd, now, s->idx, &from, buf, (size_t)n);
		if (rc < 0) {
			d->ignored++;
			zt_debug("ignored", "socket=%u from=%s len=%d reason=\"%s\"", s->idx,
				 zt_addr_str(&from, b), n, zt_strerror(rc));
		} else {
			zt_debug("recv", "socket=%u from=%s len=%d", s->idx, zt_addr_str(&from, b), n);
		}
	}
}

static void on_signal(struct zt_loop *loop, int sig, void *data)
{
	if (sig == SIGHUP)
		return;
	((struct disc *)data)->signo = sig;
	zt_loop_stop(loop);
}

static void flush(struct disc *d, uint64_t now)
{
	char b[ZT_ADDR_STRLEN];
	uint8_t buf[256];
	struct zt_addr to;
	unsigned sock;
	int n, rc;

	zt_natdisc_on_timeout(d->nd, now);
	while ((n = zt_natdisc_poll_send(d->nd, now, buf, sizeof(buf), &sock, &to)) > 0) {
		rc = zt_udp_send(&d->s[sock].u, &to, NULL, buf, (size_t)n);
		if (rc < 0)
			zt_debug("send", "socket=%u to=%s len=%d error=\"%s\"", sock,
				 zt_addr_str(&to, b), n, strerror(-rc));
		else
			zt_debug("send", "socket=%u to=%s len=%d", sock, zt_addr_str(&to, b), n);
	}
}

static const char *hairpin_name(const struct disc *d, enum zt_nat_hairpin h)
{
	return h == ZT_NAT_HAIRPIN_UNKNOWN || d->basic ? "untested" : zt_natdisc_hairpin_name(h);
}

static const char *behavior_name(const struct disc *d, enum zt_nat_behavior b)
{
	return d->basic ? "untested" : zt_natdisc_behavior_name(b);
}

static const char *type_name(const struct disc *d, const struct zt_natdisc_result *r)
{
	if (d->basic && r->mapped.family)
		return r->nat ? "nat" : "no-nat";
	return zt_natdisc_type_name(r->type);
}

/* "41234->20010 41240->20011 ..." of the answered port samples. */
static void port_list(const struct zt_natdisc_result *r, char *buf, size_t cap)
{
	size_t n = 0;

	buf[0] = 0;
	for (unsigned i = 0; i < r->port_samples && n < cap; i++)
		n += (size_t)snprintf(buf + n, cap - n, "%s%u->%u", i ? " " : "", r->port_local[i],
				      r->port_mapped[i]);
}

static void print_ports(const struct disc *d, const struct zt_natdisc_result *r)
{
	char list[ZT_NATDISC_MAX_PORT_SAMPLES * 12 + 1];

	if (d->basic || !r->nat) {
		printf("ports         untested\n");
		return;
	}
	port_list(r, list, sizeof(list));
	printf("ports         %s (%u of %u samples, local->public: %s)\n",
	       zt_natdisc_ports_name(r->ports), r->port_samples, ZT_NATDISC_PORT_SAMPLES, list);
}

static void print_lifetime(const struct disc *d, const struct zt_natdisc_result *r)
{
	double step = (double)d->lifetime_max / ZT_NATDISC_LIFETIME_PROBES / ZT_SEC;

	switch (r->lifetime) {
	case ZT_NATDISC_LIFETIME_MEASURED:
		printf("lifetime      %.1f-%.1f s (alive after %.1f s idle, gone after %.1f s; method %s)\n",
		       (double)r->lifetime_alive / ZT_SEC, (double)r->lifetime_gone / ZT_SEC,
		       (double)r->lifetime_alive / ZT_SEC, (double)r->lifetime_gone / ZT_SEC,
		       zt_natdisc_lt_method_name(r->lifetime_method));
		break;
	case ZT_NATDISC_LIFETIME_ABOVE:
		printf("lifetime      above %.1f s (alive after %.1f s idle, the longest tried; method %s)\n",
		       (double)r->lifetime_alive / ZT_SEC, (double)r->lifetime_alive / ZT_SEC,
		       zt_natdisc_lt_method_name(r->lifetime_method));
		break;
	case ZT_NATDISC_LIFETIME_UNMEASURABLE:
		printf("lifetime      not-measurable (ports %s, filtering %s: a new mapping looks like "
		       "the old one)\n", zt_natdisc_ports_name(r->ports),
		       zt_natdisc_behavior_name(r->filtering));
		break;
	case ZT_NATDISC_LIFETIME_FAILED:
		printf("lifetime      failed (the probes got no usable answers)\n");
		break;
	default:
		printf("lifetime      untested%s\n", d->lifetime ? " (no NAT)" :
		       " (--lifetime measures it)");
		return;
	}
	if (r->lifetime == ZT_NATDISC_LIFETIME_MEASURED || r->lifetime == ZT_NATDISC_LIFETIME_ABOVE)
		printf("              (%d probes, one every %.2f s of idle time up to %.1f s)\n",
		       ZT_NATDISC_LIFETIME_PROBES, step, (double)d->lifetime_max / ZT_SEC);
}

static void print_text(const struct disc *d, const struct zt_natdisc_result *r)
{
	char b1[ZT_ADDR_STRLEN], b2[ZT_ADDR_STRLEN];

	printf("server        %s", zt_addr_str(&d->server, b1));
	if (r->rfc5780)
		printf(" (other address %s)", zt_addr_str(&r->other, b2));
	else if (r->mapped.family)
		printf(" (no OTHER-ADDRESS: not an RFC 5780 server)");
	printf("\nlocal         %s\n", zt_addr_str(&d->s[0].u.local, b1));
	printf("reflexive     %s%s\n", zt_cli_addr_str(&r->mapped, b1),
	       !r->mapped.family ? "" : r->nat ? "" : " (the local address: no NAT)");
	printf("mapping       %s\n", behavior_name(d, r->mapping));
	printf("filtering     %s\n", behavior_name(d, r->filtering));
	printf("hairpinning   %s\n", hairpin_name(d, r->hairpin));
	printf("nat type      %s\n", type_name(d, r));
	print_ports(d, r);
	print_lifetime(d, r);
	if (r->error)
		printf("error         %s%s%d\n", zt_strerror(r->error),
		       r->stun_error ? ", STUN error " : "", r->stun_error);
}

/* "ports", "port_samples", "port_local", "port_public", "lifetime", ... */
static void print_json_tests_5_6(const struct disc *d, const struct zt_natdisc_result *r)
{
	const char *ports = d->basic || !r->nat ? "untested" : zt_natdisc_ports_name(r->ports);

	printf(",\"ports\":\"%s\",\"port_samples\":%u,\"port_local\":[", ports, r->port_samples);
	for (unsigned i = 0; i < r->port_samples; i++)
		printf("%s%u", i ? "," : "", r->port_local[i]);
	printf("],\"port_public\":[");
	for (unsigned i = 0; i < r->port_samples; i++)
		printf("%s%u", i ? "," : "", r->port_mapped[i]);
	printf("],\"lifetime\":\"%s\",\"lifetime_method\":\"%s\"",
	       zt_natdisc_lifetime_name(r->lifetime), zt_natdisc_lt_method_name(r->lifetime_method));
	printf(",\"lifetime_alive_ms\":%llu,\"lifetime_gone_ms\":%llu,\"lifetime_max_ms\":%llu",
	       (unsigned long long)(r->lifetime_alive / ZT_MS),
	       (unsigned long long)(r->lifetime_gone / ZT_MS),
	       (unsigned long long)(d->lifetime ? d->lifetime_max / ZT_MS : 0));
}

static void print_json(const struct disc *d, const struct zt_natdisc_result *r, uint64_t ms)
{
	char b[ZT_ADDR_STRLEN];

	printf("{\"server\":\"%s\"", zt_addr_str(&d->server, b));
	printf(",\"local\":\"%s\"", zt_addr_str(&d->s[0].u.local, b));
	printf(",\"reflexive\":");
	zt_cli_json_str(stdout, r->mapped.family ? zt_addr_str(&r->mapped, b) : NULL);
	printf(",\"other\":");
	zt_cli_json_str(stdout, r->rfc5780 ? zt_addr_str(&r->other, b) : NULL);
	printf(",\"nat\":%s,\"rfc5780\":%s", r->nat ? "true" : "false",
	       r->rfc5780 ? "true" : "false");
	printf(",\"mapping\":\"%s\",\"filtering\":\"%s\",\"hairpinning\":\"%s\"",
	       behavior_name(d, r->mapping), behavior_name(d, r->filtering),
	       hairpin_name(d, r->hairpin));
	printf(",\"type\":\"%s\"", type_name(d, r));
	print_json_tests_5_6(d, r);
	printf(",\"error\":");
	zt_cli_json_str(stdout, r->error ? zt_strerror(r->error) : NULL);
	printf(",\"stun_error\":%d,\"elapsed_ms\":%llu}\n", r->stun_error, (unsigned long long)ms);
}

/* The NAT report to d->report. Returns 0, or -1 with the message printed. */
static int write_report(const struct disc *d, const struct zt_natdisc_result *r)
{
	struct zt_natreport rep;
	char buf[ZT_NATREPORT_MAX];
	FILE *f = stdout;
	int n, rc = 0;

	zt_natreport_from_result(&rep, r, &d->server, &d->s[0].u.local,
				 d->lifetime ? d->lifetime_max : 0);
	n = zt_natreport_write(&rep, buf, sizeof(buf));
	if (n < 0) {
		fprintf(stderr, "ztna discover: report: %s\n", strerror(-n));
		return -1;
	}
	if (strcmp(d->report, "-") != 0 && !(f = fopen(d->report, "w"))) {
		fprintf(stderr, "ztna discover: cannot write %s: %s\n", d->report, strerror(errno));
		return -1;
	}
	if (fwrite(buf, 1, (size_t)n, f) != (size_t)n || fflush(f) != 0)
		rc = -1;
	if (f != stdout && fclose(f) != 0)
		rc = -1;
	if (rc < 0)
		fprintf(stderr, "ztna discover: cannot write %s: %s\n",
			f == stdout ? "the report to stdout" : d->report, strerror(errno));
	return rc;
}

/* The sockets natdisc uses: 2, then the port samples and lifetime probes. */
static unsigned sockets_wanted(const struct disc *d)
{
	if (d->basic)
		return 2;
	return ZT_NATDISC_SOCKET_SAMPLE0 + ZT_NATDISC_PORT_SAMPLES +
	       (d->lifetime ? ZT_NATDISC_LIFETIME_PROBES : 0);
}

/* Socket 0 on --local, the others on its IP and any port, all watched for answers.
 * Returns 0, or -1 with the message printed; d->nsock counts those open. */
static int open_sockets(struct disc *d)
{
	struct zt_addr bind1 = d->local;
	char b[ZT_ADDR_STRLEN];
	unsigned want = sockets_wanted(d);
	int rc;

	bind1.port = 0;
	for (; d->nsock < want; d->nsock++) {
		struct sock *s = &d->s[d->nsock];
		const struct zt_addr *at = d->nsock == 0 ? &d->local : &bind1;

		s->idx = d->nsock;
		s->d = d;
		rc = zt_udp_open(&s->u, at);
		if (rc < 0) {
			fprintf(stderr, "ztna discover: cannot bind %s: %s\n", zt_addr_str(at, b),
				strerror(-rc));
			return -1;
		}
		s->w = (struct zt_watch){ .fd = s->u.fd, .events = EPOLLIN, .cb = on_readable,
					  .data = s };
		rc = zt_loop_add(d->loop, &s->w);
		if (rc < 0) {
			zt_udp_close(&s->u);
			fprintf(stderr, "ztna discover: epoll: %s\n", strerror(-rc));
			return -1;
		}
	}
	return 0;
}

static void close_sockets(struct disc *d)
{
	while (d->nsock > 0) {
		d->nsock--;
		zt_loop_del(d->loop, &d->s[d->nsock].w);
		zt_udp_close(&d->s[d->nsock].u);
	}
}

/* The RFC 5780 tests over our two sockets, with --timeout's retransmission limits.
 * Returns 0, or -1 with the message printed. */
static int natdisc_start(struct disc *d)
{
	struct zt_natdisc_cfg cfg = { 0 };
	char b[ZT_ADDR_STRLEN];
	int rc;

	cfg.server = d->server;
	for (unsigned i = 0; i < d->nsock; i++)
		cfg.local[i] = d->s[i].u.local;
	cfg.n_sockets = 2;
	if (!d->basic)
		cfg.n_port_samples = ZT_NATDISC_PORT_SAMPLES;
	if (d->lifetime) {
		cfg.n_lifetime_probes = ZT_NATDISC_LIFETIME_PROBES;
		cfg.lifetime_max = d->lifetime_max;
	}
	/* a wildcard --local: the route's source is the address a "no NAT" answer shows */
	if (route_source(&d->server, &cfg.host_ips[0]) == 0)
		cfg.n_host_ips = 1;
	cfg.rng = zt_sysrng();
	cfg.rto = d->timeout / RTO_DIVISOR;
	cfg.rc = cfg.rc_silent = 3;
	cfg.rm = cfg.rm_silent = 4;
	rc = zt_natdisc_new(&cfg, &d->nd);
	if (rc < 0) {
		fprintf(stderr, "ztna discover: %s\n", zt_strerror(rc));
		return -1;
	}
	zt_debug("start", "server=%s local=%s rto_ms=%llu", zt_addr_str(&d->server, b),
		 zt_addr_str(&d->s[0].u.local, b), (unsigned long long)(cfg.rto / ZT_MS));
	return 0;
}

/* Runs the tests until they are done (with --basic: until the first answer) or a
 * signal. Returns 0 with the milliseconds taken, or -1 with the message printed. */
static int run(struct disc *d, uint64_t *ret_ms)
{
	const struct zt_natdisc_result *r;
	uint64_t t0, now;
	int rc;

	t0 = zt_clock_now();
	for (;;) {
		uint64_t deadline;

		now = zt_clock_now();
		flush(d, now);
		r = zt_natdisc_result(d->nd);
		if (r->done || d->signo || (d->basic && r->mapped.family))
			break;
		deadline = zt_natdisc_next_deadline(d->nd);
		rc = zt_loop_run_once(d->loop, deadline > now ? deadline - now : 0);
		if (rc < 0) {
			fprintf(stderr, "ztna discover: event loop: %s\n", strerror(-rc));
			return -1;
		}
	}
	*ret_ms = (now - t0) / ZT_MS;
	return 0;
}

/* The exit status of a finished run, with the reason on stderr when it is not 0. */
static int exit_status(const struct disc *d, const struct zt_natdisc_result *r)
{
	char b[ZT_ADDR_STRLEN];

	if (r->type == ZT_NAT_TYPE_UDP_BLOCKED) {
		fprintf(stderr, "ztna discover: no answer from %s within %.1f s: the server is "
				"down or unreachable, or UDP is blocked on the way\n",
			zt_addr_str(&d->server, b), (double)d->timeout / ZT_SEC);
		return ZT_EXIT_FAILED;
	}
	if (d->basic)
		return ZT_EXIT_OK;
	if (r->type == ZT_NAT_TYPE_UNKNOWN || r->error) {
		if (!r->rfc5780)
			fprintf(stderr, "ztna discover: incomplete: %s sent no OTHER-ADDRESS (one "
					"address only, or not an RFC 5780 server), so mapping and "
					"filtering cannot be tested\n", zt_addr_str(&d->server, b));
		else
			fprintf(stderr, "ztna discover: incomplete: %s%s%d\n", zt_strerror(r->error),
				r->stun_error ? ", STUN error " : "", r->stun_error);
		return 3;
	}
	return ZT_EXIT_OK;
}

/* Options that exclude each other: true with the message printed. */
static bool usage_conflict(const struct disc *d)
{
	const char *why = NULL;

	if (d->lifetime_max && !d->lifetime)
		why = "--lifetime-max goes with --lifetime";
	else if (d->lifetime && d->basic)
		why = "--lifetime and --basic exclude each other";
	else if (d->report && d->basic)
		why = "--report needs the behaviour tests: not with --basic";
	else if (d->report && d->json && strcmp(d->report, "-") == 0)
		why = "--report - and --json both print to stdout: give --report a file";
	if (why)
		fprintf(stderr, "ztna discover: %s\n", why);
	return why != NULL;
}

int discover_main(int argc, char **argv)
{
	struct disc d = { .timeout = DEFAULT_TIMEOUT };
	const struct zt_natdisc_result *r;
	char b[ZT_ADDR_STRLEN];
	uint64_t ms;
	int rc, status = ZT_EXIT_USAGE;

	rc = zt_cli_parse("discover", usage_head, keys, sizeof(keys) / sizeof(keys[0]), &d, argc,
			  argv);
	if (rc >= 0)
		return rc;
	if (d.server.port == 0) {
		fprintf(stderr, "ztna discover: --server needs a port other than 0\n");
		return ZT_EXIT_USAGE;
	}
	if (usage_conflict(&d))
		return ZT_EXIT_USAGE;
	if (!d.lifetime_max)
		d.lifetime_max = DEFAULT_LIFETIME_MAX;
	if (!d.have_local) {
		rc = route_source(&d.server, &d.local);
		if (rc < 0) {
			fprintf(stderr, "ztna discover: no route to %s: %s\n",
				zt_addr_str(&d.server, b), strerror(-rc));
			return ZT_EXIT_FAILED;
		}
	} else if (d.local.family != d.server.family) {
		fprintf(stderr, "ztna discover: --local and --server are of different families\n");
		return ZT_EXIT_USAGE;
	}
	rc = zt_loop_new(&d.loop);
	if (rc < 0) {
		fprintf(stderr, "ztna discover: event loop: %s\n", strerror(-rc));
		return ZT_EXIT_USAGE;
	}
	if (open_sockets(&d) < 0)
		goto out_close;
	rc = zt_loop_catch_signals(d.loop, on_signal, &d);
	if (rc < 0) {
		fprintf(stderr, "ztna discover: signals: %s\n", strerror(-rc));
		goto out_close;
	}
	if (natdisc_start(&d) < 0)
		goto out_close;
	if (run(&d, &ms) < 0)
		goto out_free;
	if (d.signo) {
		fprintf(stderr, "ztna discover: interrupted\n");
		goto out_free;
	}
	r = zt_natdisc_result(d.nd);
	if (d.json)
		print_json(&d, r, ms);
	else if (!d.report || strcmp(d.report, "-") != 0)
		print_text(&d, r);
	fflush(stdout);
	if (d.report && write_report(&d, r) < 0)
		goto out_free;
	status = exit_status(&d, r);
out_free:
	zt_natdisc_free(d.nd);
out_close:
	close_sockets(&d);
	zt_loop_free(d.loop);
	if (d.signo)
		return zt_cli_reraise(d.signo);
	return status;
}
