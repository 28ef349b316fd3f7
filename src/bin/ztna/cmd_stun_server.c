/*
 * ztna stun-server: an RFC 8489 Binding server with RFC 5780 NAT behaviour discovery
 * (core/stun_server.h) on real sockets.
 *
 *   ztna stun-server --primary IP[:PORT] [--alternate IP[:PORT]] [-v]
 *
 * With --alternate it binds the four RFC 5780 endpoints A1:P1, A1:P2, A2:P1, A2:P2
 * (P1 from --primary, default 3478; P2 from --alternate, default P1 + 1); without it,
 * one endpoint, and CHANGE-REQUEST gets 420. Logs (key=value, stderr): "listening"
 * once every socket is bound; at -v the first drop of each kind (later ones are only
 * counted), at -vv every request and drop; the counters on SIGHUP and at exit.
 * SIGINT/SIGTERM end it with status 0.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/epoll.h>

#include "app/log.h"
#include "cli.h"
#include "cmds.h"
#include "core/err.h"
#include "core/stun_server.h"
#include "io/loop.h"
#include "io/udp.h"

#define MAX_REASONS 24

struct ep {
	struct zt_watch w;
	struct zt_udp u;
	unsigned idx;
	struct server *srv;
};

struct drop_count {
	int code;
	unsigned long n;
};

struct server {
	struct zt_addr primary, alternate;
	bool have_alternate;
	struct zt_stun_server core;
	struct ep ep[ZT_STUN_SERVER_MAX_EP];
	unsigned n_ep;
	struct zt_loop *loop;
	unsigned long received, answered, send_errors, answered_from[ZT_STUN_SERVER_MAX_EP];
	struct drop_count drops[MAX_REASONS];
	unsigned n_drops;
};

static int set_primary(void *ctx, const char *v, const char **why)
{
	return zt_cli_addr(&((struct server *)ctx)->primary, v, 3478, why);
}

static int set_alternate(void *ctx, const char *v, const char **why)
{
	struct server *s = ctx;

	s->have_alternate = true;
	return zt_cli_addr(&s->alternate, v, 0, why);
}

static const struct zt_conf_key keys[] = {
	{ .name = "primary", .syntax = "IP[:PORT]", .example = "203.0.113.10:3478",
	  .help = "the primary address A1:P1 (port 3478 if not given)", .set = set_primary,
	  .required = true },
	{ .name = "alternate", .syntax = "IP[:PORT]", .example = "203.0.113.11",
	  .help = "the alternate address A2:P2 (port P1+1 if not given): RFC 5780 mode",
	  .set = set_alternate },
};

static const char usage_head[] =
	"usage: ztna stun-server --primary IP[:PORT] [--alternate IP[:PORT]] [-v]\n"
	"\n"
	"An RFC 8489 STUN Binding server. With --alternate it also does RFC 5780 NAT\n"
	"behaviour discovery (CHANGE-REQUEST, OTHER-ADDRESS, RESPONSE-ORIGIN) on four\n"
	"sockets: A1:P1, A1:P2, A2:P1, A2:P2. Answers are never more than 96 bytes larger\n"
	"than the request. Runs until SIGINT/SIGTERM; SIGHUP logs the counters.\n"
	"Exit status: 0 after a signal, 2 bad usage or a socket that cannot be bound.\n";

static void count_drop(struct server *s, unsigned idx, const struct zt_addr *from, int code)
{
	char b[ZT_ADDR_STRLEN];
	unsigned i;

	for (i = 0; i < s->n_drops; i++)
		if (s->drops[i].code == code)
			break;
	if (i == s->n_drops && i < MAX_REASONS) {
		s->drops[i] = (struct drop_count){ .code = code };
		s->n_drops++;
		if (!zt_log_enabled(ZT_LOG_TRACE))
			zt_debug("drop", "endpoint=%u from=%s reason=\"%s\" note=\"first of its kind; "
				 "more are counted, shown with -vv\"", idx, zt_addr_str(from, b),
				 zt_strerror(code));
	}
	if (i < s->n_drops)
		s->drops[i].n++;
	zt_trace("drop", "endpoint=%u from=%s reason=\"%s\"", idx, zt_addr_str(from, b),
		 zt_strerror(code));
}

static void log_stats(const struct server *s)
{
	char drops[1024] = "";
	size_t off = 0;
	unsigned long dropped = 0;

	for (unsigned i = 0; i < s->n_drops; i++) {
		int n = snprintf(drops + off, sizeof(drops) - off, "%s%s:%lu", i ? "," : "",
				 zt_strerror(s->drops[i].code), s->drops[i].n);
		if (n > 0 && (size_t)n < sizeof(drops) - off)
			off += (size_t)n;
		dropped += s->drops[i].n;
	}
	zt_info("stats", "received=%lu answered=%lu dropped=%lu send_errors=%lu "
		"answered_from=%lu,%lu,%lu,%lu drops=\"%s\"", s->received, s->answered, dropped,
		s->send_errors, s->answered_from[0], s->answered_from[1], s->answered_from[2],
		s->answered_from[3], drops);
}

static void on_readable(struct zt_loop *loop, struct zt_watch *w, uint32_t revents, uint64_t now)
{
	struct ep *e = w->data;
	struct server *s = e->srv;
	uint8_t req[2048], out[ZT_STUN_SERVER_MAX_RESPONSE];
	char b1[ZT_ADDR_STRLEN];
	struct zt_addr from;
	unsigned send_ep;
	int n, m, rc;

	(void)loop;
	(void)revents;
	(void)now;
	for (int budget = 0; budget < 64; budget++) {
		n = zt_udp_recv(&e->u, req, sizeof(req), &from, NULL);
		if (n == -EAGAIN)
			return;
		s->received++;
		if (n == -EMSGSIZE) {
			count_drop(s, e->idx, &from, ZT_ETOOBIG);
			continue;
		}
		if (n < 0) {
			zt_debug("recv_error", "endpoint=%u error=\"%s\"", e->idx, strerror(-n));
			continue;
		}
		m = zt_stun_server_handle(&s->core, e->idx, &from, req, (size_t)n, out, sizeof(out),
					  &send_ep);
		if (m < 0) {
			count_drop(s, e->idx, &from, m);
			continue;
		}
		rc = zt_udp_send(&s->ep[send_ep].u, &from, NULL, out, (size_t)m);
		if (rc < 0) {
			s->send_errors++;
			zt_debug("send_error", "endpoint=%u to=%s error=\"%s\"", send_ep,
				 zt_addr_str(&from, b1), strerror(-rc));
			continue;
		}
		s->answered++;
		s->answered_from[send_ep]++;
		zt_trace("answer", "endpoint=%u from=%s sent_from=%u len=%d", e->idx,
			 zt_addr_str(&from, b1), send_ep, m);
	}
}

static void on_signal(struct zt_loop *loop, int sig, void *data)
{
	if (sig == SIGHUP) {
		log_stats(data);
		return;
	}
	zt_loop_stop(loop);
}

int stun_server_main(int argc, char **argv)
{
	struct server s = { 0 };
	char list[4 * ZT_ADDR_STRLEN + 4] = "", b[ZT_ADDR_STRLEN];
	const struct zt_addr *alt = NULL;
	int rc, status = ZT_EXIT_USAGE;
	unsigned i;

	rc = zt_cli_parse("stun-server", usage_head, keys, sizeof(keys) / sizeof(keys[0]), &s,
			  argc, argv);
	if (rc >= 0)
		return rc;
	if (s.have_alternate) {
		if (!s.alternate.port)
			s.alternate.port = (uint16_t)(s.primary.port + 1);
		alt = &s.alternate;
	}
	if (zt_stun_server_init(&s.core, &s.primary, alt) < 0) {
		fprintf(stderr, "ztna stun-server: the primary and alternate address need the same "
				"family, different IPs and different ports (primary port 65535 "
				"needs an explicit alternate port)\n");
		return ZT_EXIT_USAGE;
	}
	rc = zt_loop_new(&s.loop);
	if (rc < 0) {
		fprintf(stderr, "ztna stun-server: event loop: %s\n", strerror(-rc));
		return ZT_EXIT_USAGE;
	}
	s.n_ep = zt_stun_server_endpoints(&s.core);
	for (i = 0; i < s.n_ep; i++) {
		struct ep *e = &s.ep[i];

		e->idx = i;
		e->srv = &s;
		rc = zt_udp_open(&e->u, zt_stun_server_endpoint(&s.core, i));
		if (rc < 0) {
			fprintf(stderr, "ztna stun-server: cannot bind %s: %s\n",
				zt_addr_str(zt_stun_server_endpoint(&s.core, i), b), strerror(-rc));
			goto out_close;
		}
		e->w = (struct zt_watch){ .fd = e->u.fd, .events = EPOLLIN, .cb = on_readable,
					  .data = e };
		rc = zt_loop_add(s.loop, &e->w);
		if (rc < 0) {
			zt_udp_close(&e->u);
			fprintf(stderr, "ztna stun-server: epoll: %s\n", strerror(-rc));
			goto out_close;
		}
		snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s", i ? "," : "",
			 zt_addr_str(&e->u.local, b));
	}
	rc = zt_loop_catch_signals(s.loop, on_signal, &s);
	if (rc < 0) {
		fprintf(stderr, "ztna stun-server: signals: %s\n", strerror(-rc));
		goto out_close;
	}
	zt_info("listening", "endpoints=%s mode=%s", list, s.n_ep == 4 ? "rfc5780" : "basic");
	rc = zt_loop_run(s.loop);
	log_stats(&s);
	status = rc < 0 ? ZT_EXIT_USAGE : ZT_EXIT_OK;
	if (rc < 0)
		fprintf(stderr, "ztna stun-server: event loop: %s\n", strerror(-rc));
out_close:
	while (i-- > 0) {
		zt_loop_del(s.loop, &s.ep[i].w);
		zt_udp_close(&s.ep[i].u);
	}
	zt_loop_free(s.loop);
	return status;
}
