/*
 * The commands of an agent's or a connector's control socket (app/ctlsock.h), for
 * `ztna status` and `ztna ping` (docs/control-socket.md):
 *
 *   status               a line "node role=.. name=.. state=.. intermediate=.. local=.."
 *                        (with login_error, login_text, login_refusals, retry_in_ms
 *                        while a refused login holds) then one line per session,
 *                        key=value: session service peer state path (direct|relay)
 *                        local remote rtt_us time_to_direct_ms switches generation ice
 *                        manager reason; then one line per refused service: refusal
 *                        service code error text count ago_ms retry_in_ms
 *   ping SERVICE [MS]    agent: one in-band echo to SERVICE's connector (node/fwd.h flow
 *                        0), opening the session if needed; answers
 *                        "pong service=.. nonce=.. rtt_ns=.. path=direct|relay remote=..",
 *                        "error=refused code=.. text=.. retry_in_ms=.." at once when the
 *                        OPEN (or the login) is refused or a refusal holds (no OPEN then),
 *                        or "error=timeout ..." after MS milliseconds (default 3000,
 *                        at most 60000)
 *   help                 the command list
 *
 * Anything else: "error=unknown-command ...".
 */
#ifndef ZT_APP_PEERCTL_H
#define ZT_APP_PEERCTL_H

#include <stdbool.h>
#include <stdint.h>

#include "app/ctlsock.h"
#include "core/addr.h"
#include "io/loop.h"

struct zt_peerprog;

struct zt_peerctl_ping {
	struct zt_ctlconn *c;     /* NULL: free slot */
	char service[64];
	uint64_t nonce;
	uint64_t deadline;
	bool sent;                /* zt_peer_ping() accepted it (else retried) */
};

struct zt_peerctl {
	struct zt_peerprog *pp;
	struct zt_ctlsock *sock;
	struct zt_timer timer;    /* retries and timeouts of pending pings */
	struct zt_peerctl_ping pings[ZT_CTL_CONNS];
	uint64_t nonce_next;
};

/* Listens on path for pp (whose loop and peer exist). Returns 0 or
 * zt_ctlsock_open()'s errors. */
int zt_peerctl_open(struct zt_peerctl *ctl, struct zt_peerprog *pp, const char *path);
void zt_peerctl_close(struct zt_peerctl *ctl);

/* The peer's refused callback: pings waiting for r->service (all of them for the
 * login) are answered with the refusal now. */
struct zt_peer_refusal;
void zt_peerctl_refused(struct zt_peerctl *ctl, const struct zt_peer_refusal *r, uint64_t now);

/* The peer's pong callback, passed on (node/peer.h's cb->pong). */
void zt_peerctl_pong(struct zt_peerctl *ctl, const char *service, uint64_t nonce, uint64_t rtt_ns,
		     const char *path, const struct zt_addr *remote);

#endif
