/*
 * TCP direct links (docs/tcp-transport.md, "TCP direct path"): TCP connections to a
 * peer node made by simultaneous open - both ends connect() from the local address of
 * their outer TLS/TCP connection to the other's TCP candidate at the same moment, no
 * listen() - each carrying the inner QUIC packets of every session between the two
 * nodes (one link per remote address: a second socket on the same four-tuple cannot
 * exist).
 *
 * Records on a link, no TLS (the inner connection authenticates every packet and
 * validates the path before it moves onto it):
 *
 *	PKT   1 | session (u32, nonzero) | length (u16, 1..ZT_TCPLINK_PKT_MAX) | packet
 *	PING  2                     (answered with a PONG; measures the link's RTT)
 *	PONG  3
 *
 * Any other type, a session 0 or a length out of range is a framing error: the link
 * ends.
 *
 * Sans-IO: the owner makes the sockets the links ask for and moves their bytes:
 *
 *	after every call:  while (zt_tcplinks_poll_req(t, now, &req)) carry it out:
 *	                   CONNECT: socket(), SO_REUSEADDR + SO_REUSEPORT, bind(req.local),
 *	                            non-blocking connect(req.remote); then report
 *	                            zt_tcplinks_connected() or zt_tcplinks_failed()
 *	                   CLOSE:   close link req.id's socket (an attempt given up, or
 *	                            the link ended); nothing more is reported for it
 *	bytes in:          zt_tcplinks_recv(t, now, id, data, len) (takes them all)
 *	to send:           len = zt_tcplinks_output(t, id, &p); write p[0..len);
 *	                   zt_tcplinks_sent(t, now, id, written)
 *	the socket ended:  zt_tcplinks_closed(t, now, id, err)
 *	timer:             zt_tcplinks_next_deadline / zt_tcplinks_on_timeout
 *
 * A link's life: WAITING (until its attempt's time) -> CONNECTING (a CONNECT asked;
 * at most attempt_timeout) -> UP, or back to WAITING after `retry` while the first
 * attempt is less than give_up old, else it fails. UP ends on the socket's end, a
 * framing error, nothing received for dead_after (each end sends a PING after
 * keepalive without sending anything), no PKT either way for idle_close, or
 * zt_tcplinks_close(). Ending or failing: cb.down, a CLOSE request, and the link is
 * forgotten (its id is never used again: ids grow from 1).
 *
 * Memory is held only while bytes wait: a link's input buffer (one partial record) and
 * output (up to out_max; PING and PONG go past it) are allocated when bytes come and
 * freed when they have gone.
 *
 * Callbacks are called from every function that takes `now` but next_deadline; they
 * may call every function here but free.
 */
#ifndef ZT_NODE_TCPLINK_H
#define ZT_NODE_TCPLINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/addr.h"

/* Largest packet in a PKT record (an inner QUIC packet is at most 1407 bytes). */
#define ZT_TCPLINK_PKT_MAX 1500
#define ZT_TCPLINK_REC_PKT 1
#define ZT_TCPLINK_REC_PING 2
#define ZT_TCPLINK_REC_PONG 3
#define ZT_TCPLINK_PKT_HDR 7 /* type, session, length */

struct zt_tcplinks;

struct zt_tcplink_callbacks {
	void (*up)(void *arg, uint64_t now, uint32_t link);
	/* An UP link ended, or a wanted one failed (err: the last attempt's, or
	 * -ETIMEDOUT, -EPROTO for a framing error, 0 for zt_tcplinks_close()). */
	void (*down)(void *arg, uint64_t now, uint32_t link, int err);
	void (*packet)(void *arg, uint64_t now, uint32_t link, uint32_t session,
		       const uint8_t *pkt, size_t len);
};

struct zt_tcplink_config {
	uint64_t attempt_timeout; /* ns one connect() may take; 0: 1.5 s */
	uint64_t retry;           /* ns from a failed attempt to the next; 0: 200 ms */
	uint64_t give_up;         /* ns after the first attempt, no new one; 0: 6 s */
	uint64_t keepalive;       /* ns; 0: 10 s */
	uint64_t dead_after;      /* ns; 0: 30 s */
	uint64_t idle_close;      /* ns without a PKT either way; 0: 120 s */
	size_t out_max;           /* bytes waiting to be written, at most; 0: 256 KiB */
	unsigned max_links;       /* 0: 64 */
	const struct zt_tcplink_callbacks *cb;
	void *arg;
};

enum zt_tcplink_state {
	ZT_TCPLINK_WAITING,
	ZT_TCPLINK_CONNECTING,
	ZT_TCPLINK_UP,
};

enum zt_tcplink_op {
	ZT_TCPLINK_CONNECT,
	ZT_TCPLINK_CLOSE,
};

struct zt_tcplink_req {
	enum zt_tcplink_op op;
	uint32_t id;
	struct zt_addr local, remote; /* CONNECT */
};

struct zt_tcplink_info {
	enum zt_tcplink_state state;
	struct zt_addr local, remote;
	unsigned attempts;
	uint64_t up_since;            /* 0: not up */
	uint64_t rtt;                 /* ns, the last PING's; 0: none yet */
	uint64_t pkts_in, pkts_out, bytes_in, bytes_out, dropped_out;
	size_t out_queued;
};

/* Returns 0, -EINVAL (no cb) or -ENOMEM. */
int zt_tcplinks_new(struct zt_tcplinks **ret, const struct zt_tcplink_config *cfg);
/* Frees every link without callbacks or requests (the owner closes its sockets). */
void zt_tcplinks_free(struct zt_tcplinks *t);

/*
 * A link from local to remote whose first attempt is at `at` (now or later). The link
 * to remote there is already, whatever its state, is returned as it is. Returns its id
 * (> 0), -EINVAL (an address without a port) or -ENOSPC (max_links).
 */
int zt_tcplinks_want(struct zt_tcplinks *t, uint64_t now, uint64_t at,
		     const struct zt_addr *local, const struct zt_addr *remote);
/* The link to remote (any state), or 0. */
uint32_t zt_tcplinks_find(const struct zt_tcplinks *t, const struct zt_addr *remote);
bool zt_tcplinks_up(const struct zt_tcplinks *t, uint32_t id);
/* Returns 0 or -ENOENT. */
int zt_tcplinks_info(const struct zt_tcplinks *t, uint32_t id, struct zt_tcplink_info *ret);
/* Ends a link (cb.down with err 0, a CLOSE request). Unknown ids are ignored. */
void zt_tcplinks_close(struct zt_tcplinks *t, uint64_t now, uint32_t id);
size_t zt_tcplinks_count(const struct zt_tcplinks *t);

/* A PKT record. Returns 0, -ENOENT, -ENOTCONN (not UP), -EINVAL (session 0, len 0 or
 * over ZT_TCPLINK_PKT_MAX) or -ENOBUFS (out_max bytes wait; counted as dropped_out). */
int zt_tcplinks_send(struct zt_tcplinks *t, uint32_t id, uint32_t session, const uint8_t *pkt,
		     size_t len);

/* The owner's side. Returns 1 with *ret set, or 0. */
int zt_tcplinks_poll_req(struct zt_tcplinks *t, uint64_t now, struct zt_tcplink_req *ret);
void zt_tcplinks_connected(struct zt_tcplinks *t, uint64_t now, uint32_t id);
void zt_tcplinks_failed(struct zt_tcplinks *t, uint64_t now, uint32_t id, int err);
/* Returns 0, or a negative error when the bytes ended the link (-EPROTO: framing;
 * -ENOENT: no such link). */
int zt_tcplinks_recv(struct zt_tcplinks *t, uint64_t now, uint32_t id, const uint8_t *data,
		     size_t len);
/* Bytes waiting on link id (0: none, or no such link). */
size_t zt_tcplinks_output(struct zt_tcplinks *t, uint32_t id, const uint8_t **ret);
void zt_tcplinks_sent(struct zt_tcplinks *t, uint64_t now, uint32_t id, size_t n);
void zt_tcplinks_closed(struct zt_tcplinks *t, uint64_t now, uint32_t id, int err);

void zt_tcplinks_on_timeout(struct zt_tcplinks *t, uint64_t now);
uint64_t zt_tcplinks_next_deadline(const struct zt_tcplinks *t);

#endif
