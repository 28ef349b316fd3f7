/*
 * The Intermediate's control socket (app/ctlsock.h, docs/control-socket.md), for
 * `ztna status --intermediate`:
 *
 *   status   a line "node role=intermediate state=ready listen=.. tcp_listen=..
 *            stun_port=.. uptime_ms=.. clients=.. sessions=.. relay_bytes=..
 *            relay_pkts=.. relay_bytes_rate=.. relay_pkts_rate=.. rate_window_ms=..
 *            dropped_*=.." (the rates: a second, over the last ~10 s), then one line
 *            per logged-in client "client=ID identity=.. kind=agent|connector
 *            transport=udp|tcp remote=.. connected_ms=.. login_ms=.. sessions=..
 *            services=.. channel=on|off relay_dropped_rate=..", then one per session
 *            "session=ID service=.. agent=.. connector=.. path=direct|relay
 *            state=ready|orphan relay_bytes=.. relay_pkts=.. ...". At most
 *            IMD_CTL_LIST_MAX of each; the node line's clients_listed and
 *            sessions_listed say how many follow.
 *   presence the shared presence (--nats): a line "nats state=..", then one line per
 *            client of the deployment "presence=KEY imd=.. addr=.. seq=.. expires_ms=.."
 *            (imdnats.h); "nats state=off" without --nats
 *   help     the command list
 *
 * Where: --control PATH (or the config key), else the default of app/ctlsock.h
 * (/run/ztna/intermediate.sock as root). A default path that another running program
 * holds is skipped with a warning (several Intermediates on one host); an explicit
 * one is an error at start; a stale file is replaced; --control none: no socket.
 */
#ifndef ZT_BIN_IMDCTL_H
#define ZT_BIN_IMDCTL_H

#include <stdbool.h>
#include <stdint.h>

#include "app/ctlsock.h"
#include "app/daemon.h"
#include "core/addr.h"
#include "core/ratewin.h"
#include "io/loop.h"
#include "node/imd.h"

#define IMD_CTL_LIST_MAX 500

struct imd_ctl {
	char path[108];                  /* --control; "" not given, "none" off */
	struct zt_ctlsock *sock;
	struct zt_loop *loop;
	const struct zt_imd *imd;
	struct zt_addr listen, tcp_listen; /* tcp_listen family 0: off */
	uint16_t stun_port;
	uint64_t started;
	struct zt_timer sample_t;        /* the rates' samples, every second */
	struct zt_ratewin bytes, pkts;
	/* The `presence` command's answer (set before imd_ctl_start; NULL: none). */
	void (*presence)(void *arg, struct zt_ctlconn *c, uint64_t now);
	void *presence_arg;
};

/* --control PATH|none. Returns 0 or ZT_ESYNTAX with *why. */
int imd_ctl_set(struct imd_ctl *ctl, const char *v, const char **why);

/* After the Intermediate and its listeners are up (tcp_listen NULL: none). Returns 0
 * or the exit status, with the message (zt_daemon_fail). */
int imd_ctl_start(struct imd_ctl *ctl, struct zt_daemon *d, const struct zt_imd *imd,
		  const struct zt_addr *tcp_listen, uint16_t stun_port);

/* Closes the socket (removing its file). Safe when never started. */
void imd_ctl_close(struct imd_ctl *ctl);

#endif
