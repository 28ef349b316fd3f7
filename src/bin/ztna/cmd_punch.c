/*
 * ztna punch: manual UDP hole punching with a PING/PONG round trip (core/punch.h).
 *
 *   ztna punch --peer IP:PORT [--local-port N | --local IP[:PORT]] [--initiator]
 *              [--attempts N] [--interval MS] [--timeout S] [--json] [-v]
 *
 * Run it on both hosts at about the same time, each with the other's public address
 * (from `ztna discover`), exactly one side with --initiator. Prints the result, the
 * address the peer was reached at (peer-reflexive when its NAT gave it a new port),
 * our address as the peer saw it, and the round trip; --json prints one JSON object.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/epoll.h>

#include "app/log.h"
#include "cli.h"
#include "cmds.h"
#include "core/err.h"
#include "core/punch.h"
#include "io/clock.h"
#include "io/loop.h"
#include "io/sysrng.h"
#include "io/udp.h"

struct puncher {
	struct zt_punch_cfg cfg;
	struct zt_addr local;
	bool have_local, have_port, json;
	int signo;               /* SIGINT/SIGTERM received */
	unsigned local_port;
	struct zt_punch *p;
	struct zt_udp u;
	struct zt_watch w;
	struct zt_loop *loop;
	unsigned long send_errors;
};

static int set_peer(void *ctx, const char *v, const char **why)
{
	struct puncher *c = ctx;
	int rc = zt_cli_addr(&c->cfg.peer, v, 0, why);

	if (rc == 0 && c->cfg.peer.port == 0) {
		*why = "the port is required";
		return ZT_ESYNTAX;
	}
	return rc;
}

static int set_local_port(void *ctx, const char *v, const char **why)
{
	struct puncher *c = ctx;

	c->have_port = true;
	return zt_cli_uint(&c->local_port, v, 1, 65535, why);
}

static int set_local(void *ctx, const char *v, const char **why)
{
	struct puncher *c = ctx;

	c->have_local = true;
	return zt_cli_addr(&c->local, v, 0, why);
}

ZT_CLI_FLAG_SETTER(set_initiator, struct puncher, cfg.initiator)

static int set_attempts(void *ctx, const char *v, const char **why)
{
	return zt_cli_uint(&((struct puncher *)ctx)->cfg.attempts, v, 1, 100000, why);
}

static int set_interval(void *ctx, const char *v, const char **why)
{
	return zt_cli_duration(&((struct puncher *)ctx)->cfg.interval, v, ZT_MS, 60 * ZT_SEC,
			       why);
}

static int set_timeout(void *ctx, const char *v, const char **why)
{
	return zt_cli_duration(&((struct puncher *)ctx)->cfg.timeout, v, ZT_SEC, 3600 * ZT_SEC,
			       why);
}

ZT_CLI_FLAG_SETTER(set_json, struct puncher, json)

static const struct zt_conf_key keys[] = {
	{ .name = "peer", .syntax = "IP:PORT", .example = "203.0.113.2:40000",
	  .help = "the peer's public address", .set = set_peer, .required = true },
	{ .name = "local-port", .syntax = "N", .example = "40000",
	  .help = "bind this UDP port (default: any)", .set = set_local_port },
	{ .name = "local", .syntax = "IP[:PORT]", .example = "192.168.1.2:40000",
	  .help = "bind this address (default: the wildcard address)", .set = set_local },
	{ .name = "initiator", .syntax = "", .help = "send the PING and measure the round trip",
	  .set = set_initiator, .is_flag = true },
	{ .name = "attempts", .syntax = "N", .example = "50",
	  .help = "punch rounds at most (default 50)", .set = set_attempts },
	{ .name = "interval", .syntax = "MS", .example = "100",
	  .help = "between punch rounds and PINGs: milliseconds, or 0.5s, 250us (default 100)",
	  .set = set_interval },
	{ .name = "timeout", .syntax = "S", .example = "10",
	  .help = "give up after S: seconds, or 2m, 1500ms (default 10)", .set = set_timeout },
	{ .name = "json", .syntax = "", .help = "print one JSON object", .set = set_json,
	  .is_flag = true },
};

static const char usage_head[] =
	"usage: ztna punch --peer IP:PORT [--local-port N] [--initiator] [--attempts N]\n"
	"                  [--interval MS] [--timeout S] [--json]\n"
	"\n"
	"UDP hole punching by hand. Run it on both hosts at about the same time, each with\n"
	"the other's public address (ztna discover prints it; bind the port you discovered\n"
	"with, or one your NAT keeps: --local-port), one side with --initiator. Both send a\n"
	"punch every interval to every address they know for the peer and answer every\n"
	"packet at the address it came from (a peer behind a symmetric NAT arrives from a\n"
	"port nobody told us: peer-reflexive); once a side's punch is answered it stops\n"
	"punching, and the initiator measures a PING/PONG round trip with a random nonce.\n"
	"Gives up after N rounds without an answer (+1 s), or after S seconds.\n"
	"Messages: 56 bytes, first byte 0x0A (format in src/core/punch.h).\n"
	"Exit status: 0 a direct path works both ways; 1 it does not (reason: no-answer,\n"
	"one-way, no-pong, no-ping); 2 bad usage or a local error. SIGINT/SIGTERM: it\n"
	"cleans up and dies by the signal (a shell shows 130/143).\n";

static void on_readable(struct zt_loop *loop, struct zt_watch *w, uint32_t revents, uint64_t now)
{
	struct puncher *c = w->data;
	char b[ZT_ADDR_STRLEN];
	uint8_t buf[1500];
	struct zt_addr from;
	int n, rc;

	(void)loop;
	(void)revents;
	for (int budget = 0; budget < 64; budget++) {
		n = zt_udp_recv(&c->u, buf, sizeof(buf), &from, NULL);
		if (n == -EAGAIN)
			return;
		if (n < 0 && n != -EMSGSIZE) {
			/* an ICMP error from an earlier send (port unreachable): not fatal */
			zt_debug("recv_error", "error=\"%s\"", strerror(-n));
			continue;
		}
		rc = n < 0 ? ZT_ETOOBIG : zt_punch_recv(c->p, now, &from, buf, (size_t)n);
		if (rc < 0)
			zt_debug("ignored", "from=%s len=%d reason=\"%s\"", zt_addr_str(&from, b), n,
				 zt_strerror(rc));
		else if (buf[4] != ZT_PUNCH_PUNCH || zt_log_enabled(ZT_LOG_TRACE))
			zt_debug("recv", "from=%s type=%u", zt_addr_str(&from, b), buf[4]);
	}
}

static void on_signal(struct zt_loop *loop, int sig, void *data)
{
	if (sig == SIGHUP)
		return;
	((struct puncher *)data)->signo = sig;
	zt_loop_stop(loop);
}

static void flush(struct puncher *c, uint64_t now)
{
	char b[ZT_ADDR_STRLEN];
	uint8_t buf[ZT_PUNCH_MSG_LEN];
	struct zt_addr to;
	int n, rc;

	zt_punch_on_timeout(c->p, now);
	while ((n = zt_punch_poll_send(c->p, now, buf, sizeof(buf), &to)) > 0) {
		rc = zt_udp_send(&c->u, &to, NULL, buf, (size_t)n);
		if (rc < 0)
			c->send_errors++;
		if (rc < 0)
			zt_debug("send", "to=%s type=%u error=\"%s\"", zt_addr_str(&to, b), buf[4],
				 strerror(-rc));
		else if (buf[4] != ZT_PUNCH_PUNCH || zt_log_enabled(ZT_LOG_TRACE))
			zt_debug("send", "to=%s type=%u", zt_addr_str(&to, b), buf[4]);
	}
}

static const char *fail_text(enum zt_punch_fail f)
{
	switch (f) {
	case ZT_PUNCH_FAIL_NO_ANSWER:
		return "nothing arrived from the peer (not running, wrong address, or a NAT or "
		       "firewall on the way filters us)";
	case ZT_PUNCH_FAIL_ONE_WAY:
		return "the peer's packets arrive here, but ours never got an answer";
	case ZT_PUNCH_FAIL_NO_PONG:
		return "punches were answered, but no PONG came back for our PINGs";
	case ZT_PUNCH_FAIL_NO_PING:
		return "punches were answered, but the peer never sent a PING (is exactly one side "
		       "--initiator?)";
	default:
		return "";
	}
}

static double ms(uint64_t ns)
{
	return (double)ns / (double)ZT_MS;
}

static void print_text(const struct puncher *c, const struct zt_punch_result *r)
{
	char b1[ZT_ADDR_STRLEN], b2[ZT_ADDR_STRLEN];

	if (r->state == ZT_PUNCH_OK)
		printf("result        ok: a direct path works both ways\n");
	else
		printf("result        failed (%s): %s\n", zt_punch_fail_name(r->fail),
		       fail_text(r->fail));
	printf("local         %s\n", zt_addr_str(&c->u.local, b1));
	printf("peer          %s\n", zt_addr_str(&c->cfg.peer, b1));
	if (r->reached.family)
		printf("reached at    %s%s\n", zt_addr_str(&r->reached, b2),
		       r->peer_reflexive ? " (peer-reflexive: not the address given)" : "");
	else
		printf("reached at    -\n");
	printf("seen as       %s\n", zt_cli_addr_str(&r->observed, b1));
	if (r->rtt)
		printf("rtt           %.3f ms (%s)\n", ms(r->rtt),
		       c->cfg.initiator ? "PING/PONG" : "our PONG to the peer's DONE");
	else if (r->punch_rtt)
		printf("rtt           %.3f ms (punch/answer)\n", ms(r->punch_rtt));
	else
		printf("rtt           -\n");
	if (r->t_confirmed)
		printf("direct after  %.1f ms (first packet from the peer after %.1f ms)\n",
		       ms(r->t_confirmed), ms(r->t_first_rx));
	printf("packets       punches=%u rounds=%u pings=%u received=%u ignored=%u peer_addrs=%u\n",
	       r->punches_sent, r->rounds, r->pings_sent, r->received, r->ignored, r->n_addrs);
}

static void json_ms(const char *key, uint64_t ns, bool have)
{
	if (have)
		printf(",\"%s\":%.3f", key, ms(ns));
	else
		printf(",\"%s\":null", key);
}

static void print_json(const struct puncher *c, const struct zt_punch_result *r)
{
	char b[ZT_ADDR_STRLEN];

	printf("{\"result\":\"%s\",\"reason\":", zt_punch_state_name(r->state));
	zt_cli_json_str(stdout, r->state == ZT_PUNCH_OK ? NULL : zt_punch_fail_name(r->fail));
	printf(",\"local\":\"%s\"", zt_addr_str(&c->u.local, b));
	printf(",\"peer\":\"%s\",\"reached\":", zt_addr_str(&c->cfg.peer, b));
	zt_cli_json_str(stdout, r->reached.family ? zt_addr_str(&r->reached, b) : NULL);
	printf(",\"peer_reflexive\":%s,\"observed\":", r->peer_reflexive ? "true" : "false");
	zt_cli_json_str(stdout, r->observed.family ? zt_addr_str(&r->observed, b) : NULL);
	printf(",\"initiator\":%s", c->cfg.initiator ? "true" : "false");
	json_ms("rtt_ms", r->rtt, r->rtt != 0);
	json_ms("punch_rtt_ms", r->punch_rtt, r->punch_rtt != 0);
	json_ms("first_rx_ms", r->t_first_rx, r->t_first_rx != 0);
	json_ms("direct_ms", r->t_confirmed, r->t_confirmed != 0);
	json_ms("elapsed_ms", r->t_done, true);
	printf(",\"punches\":%u,\"rounds\":%u,\"pings\":%u,\"received\":%u,\"ignored\":%u"
	       ",\"peer_addrs\":%u,\"send_errors\":%lu}\n", r->punches_sent, r->rounds,
	       r->pings_sent, r->received, r->ignored, r->n_addrs, c->send_errors);
}

int punch_main(int argc, char **argv)
{
	struct puncher c = { 0 };
	const struct zt_punch_result *r;
	char b[ZT_ADDR_STRLEN];
	int rc, status = ZT_EXIT_USAGE;

	rc = zt_cli_parse("punch", usage_head, keys, sizeof(keys) / sizeof(keys[0]), &c, argc,
			  argv);
	if (rc >= 0)
		return rc;
	if (!c.have_local)
		c.local = (struct zt_addr){ .family = c.cfg.peer.family };
	else if (c.local.family != c.cfg.peer.family) {
		fprintf(stderr, "ztna punch: --local and --peer are of different families\n");
		return ZT_EXIT_USAGE;
	}
	if (c.have_port) {
		if (c.have_local && c.local.port && c.local.port != c.local_port) {
			fprintf(stderr, "ztna punch: --local has a port and --local-port another\n");
			return ZT_EXIT_USAGE;
		}
		c.local.port = (uint16_t)c.local_port;
	}
	c.cfg.rng = zt_sysrng();
	rc = zt_loop_new(&c.loop);
	if (rc < 0) {
		fprintf(stderr, "ztna punch: event loop: %s\n", strerror(-rc));
		return ZT_EXIT_USAGE;
	}
	rc = zt_udp_open(&c.u, &c.local);
	if (rc < 0) {
		fprintf(stderr, "ztna punch: cannot bind %s: %s\n", zt_addr_str(&c.local, b),
			strerror(-rc));
		goto out_loop;
	}
	c.w = (struct zt_watch){ .fd = c.u.fd, .events = EPOLLIN, .cb = on_readable, .data = &c };
	rc = zt_loop_add(c.loop, &c.w);
	if (rc == 0)
		rc = zt_loop_catch_signals(c.loop, on_signal, &c);
	if (rc < 0) {
		fprintf(stderr, "ztna punch: %s\n", strerror(-rc));
		goto out_close;
	}
	rc = zt_punch_new(&c.cfg, zt_clock_now(), &c.p);
	if (rc < 0) {
		fprintf(stderr, "ztna punch: %s\n", zt_strerror(rc));
		goto out_close;
	}
	zt_debug("start", "local=%s peer=%s initiator=%d", zt_addr_str(&c.u.local, b),
		 zt_addr_str(&c.cfg.peer, b), c.cfg.initiator);
	for (;;) {
		uint64_t now = zt_clock_now(), deadline;

		flush(&c, now);
		if (zt_punch_finished(c.p) || c.signo)
			break;
		deadline = zt_punch_next_deadline(c.p);
		rc = zt_loop_run_once(c.loop, deadline > now ? deadline - now : 0);
		if (rc < 0) {
			fprintf(stderr, "ztna punch: event loop: %s\n", strerror(-rc));
			goto out_free;
		}
	}
	if (c.signo) {
		fprintf(stderr, "ztna punch: interrupted\n");
				goto out_free;
	}
	r = zt_punch_result(c.p);
	if (c.json)
		print_json(&c, r);
	else
		print_text(&c, r);
	fflush(stdout);
	status = r->state == ZT_PUNCH_OK ? ZT_EXIT_OK : ZT_EXIT_FAILED;
out_free:
	zt_punch_free(c.p);
out_close:
	zt_loop_del(c.loop, &c.w);
	zt_udp_close(&c.u);
out_loop:
	zt_loop_free(c.loop);
	if (c.signo)
		return zt_cli_reraise(c.signo);
	return status;
}
