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
 *	                            (after closing the socket itself)
 *	                   CLOSE:   close link req.id's socket (an attempt given up, or
 *	                            the link ended); nothing more is reported for it
 *	                   (requests come out in order; an attempt that ends before its
 *	                   CONNECT was polled takes the CONNECT back: no CLOSE for it)
 *	bytes in:          zt_tcplinks_recv(t, now, id, data, len) (takes them all)
 *	to send:           len = zt_tcplinks_output(t, id, &p); write p[0..len);
 *	                   zt_tcplinks_sent(t, now, id, written)
 *	the socket ended:  close it, zt_tcplinks_closed(t, now, id, err)
 *	timer:             zt_tcplinks_next_deadline / zt_tcplinks_on_timeout
 *
 * A link's life: WAITING (until its attempt's time) -> CONNECTING (a CONNECT asked;
 * at most attempt_timeout) -> UP, or back to WAITING after `retry` while the first
 * attempt is less than give_up old, else it fails. UP ends on the socket's end, a
 * framing error, nothing received for dead_after (each end sends a PING after
 * keepalive without sending anything), no PKT either way for idle_close, or
 * zt_tcplinks_close(). Ending or failing: a CLOSE request (none when the owner reported
 * the socket's end with zt_tcplinks_failed() or zt_tcplinks_closed(): it has closed it
 * already), the link is forgotten, then cb.down (so want() from cb.down makes a new
 * link; its id is never used again: ids grow from 1). A forgotten link's CLOSE
 * requests hold its place (max_links) until they are polled.
 *
 * Timers (zt_tcplinks_poll_req runs them too, so the owner's loop above starts each
 * attempt at its time): an attempt older than attempt_timeout gets a CLOSE request,
 * then the link waits `retry`; no attempt starts give_up or later after the first
 * (the link fails with the last attempt's err: -ETIMEDOUT, or failed()'s). An UP link
 * sends a PING when it queued nothing for keepalive (one PING in flight at most; its
 * PONG gives the RTT), ends with -ETIMEDOUT when nothing came for dead_after, and with
 * 0 when no PKT went either way for idle_close.
 *
 * Memory is held only while bytes wait: a link's input buffer (one partial record) and
 * output (up to out_max; PING and PONG go past it by at most ZT_TCPLINK_CTL_SLACK, so
 * a peer that sends PINGs without reading cannot grow it) are allocated when bytes come
 * and freed when they have gone.
 *
 * Callbacks are called from every function that takes `now` but next_deadline; they
 * may call every function here but free (a link's own recv from inside its cb.packet
 * is -EBUSY). A link closed from inside cb.packet gets no more callbacks.
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
/* PING/PONG bytes the output holds past out_max, at most. */
#define ZT_TCPLINK_CTL_SLACK 4096

struct zt_tcplinks;

struct zt_tcplink_callbacks {
	void (*up)(void *arg, uint64_t now, uint32_t link);
	/* An UP link ended, or a wanted one failed (err: the last attempt's, or
	 * -ETIMEDOUT (attempts, dead_after), -EPROTO for a framing error, -ENOMEM (no
	 * input buffer), zt_tcplinks_closed()'s err (0: the peer's FIN), 0 for idle_close
	 * and zt_tcplinks_close()). The link is forgotten already. */
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
	uint64_t pkts_in, pkts_out, bytes_in, bytes_out, dropped_out; /* bytes: packets' */
	size_t out_queued;            /* bytes waiting to be written */
	size_t in_partial;            /* bytes of a partial record held */
};

/* Returns 0, -EINVAL (no cb) or -ENOMEM. */
int zt_tcplinks_new(struct zt_tcplinks **ret, const struct zt_tcplink_config *cfg);
/* Frees every link without callbacks or requests (the owner closes its sockets). */
void zt_tcplinks_free(struct zt_tcplinks *t);

/*
 * A link from local to remote whose first attempt is at `at` (now or later). The link
 * to remote there is already, whatever its state, is returned as it is. Returns its id
 * (> 0), -EINVAL (an address without a port), -ENOSPC (max_links, counting forgotten
 * links whose CLOSE was not polled yet) or -ENOMEM.
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
 * over ZT_TCPLINK_PKT_MAX), -ENOBUFS (the record would take the output past out_max)
 * or -ENOMEM (both counted as dropped_out). Takes no `now`: the latest given to any
 * call stands for it (keepalive, idle_close). */
int zt_tcplinks_send(struct zt_tcplinks *t, uint32_t id, uint32_t session, const uint8_t *pkt,
		     size_t len);

/* The owner's side. Returns 1 with *ret set, or 0. */
int zt_tcplinks_poll_req(struct zt_tcplinks *t, uint64_t now, struct zt_tcplink_req *ret);
/* The CONNECT of link id connected (ignored unless that attempt is in progress). */
void zt_tcplinks_connected(struct zt_tcplinks *t, uint64_t now, uint32_t id);
/* The attempt failed (err: -ECONNREFUSED, -ENETUNREACH...; a positive errno is taken
 * as its negative, 0 as -ECONNABORTED) and the owner closed the socket: no CLOSE request follows; the link
 * waits `retry`, or fails past give_up (cb.down with err). */
void zt_tcplinks_failed(struct zt_tcplinks *t, uint64_t now, uint32_t id, int err);
/* Returns 0, or a negative error: -EPROTO (framing) and -ENOMEM ended the link;
 * -ENOENT: no such link; -ENOTCONN: not UP; -EBUSY: from inside the link's own
 * cb.packet (the bytes are not taken). 0 also when a callback closed the link (the
 * bytes after that record are dropped). */
int zt_tcplinks_recv(struct zt_tcplinks *t, uint64_t now, uint32_t id, const uint8_t *data,
		     size_t len);
/* Bytes waiting on link id (0: none, or no such link). */
size_t zt_tcplinks_output(struct zt_tcplinks *t, uint32_t id, const uint8_t **ret);
void zt_tcplinks_sent(struct zt_tcplinks *t, uint64_t now, uint32_t id, size_t n);
/* The socket ended (err: 0 for the peer's FIN, or -errno) and the owner closed it: the
 * link ends (cb.down with err) with no CLOSE request (an attempt in progress: as
 * failed()). */
void zt_tcplinks_closed(struct zt_tcplinks *t, uint64_t now, uint32_t id, int err);

void zt_tcplinks_on_timeout(struct zt_tcplinks *t, uint64_t now);
/* The next time a timer is due, or ZT_TIME_NEVER. */
uint64_t zt_tcplinks_next_deadline(const struct zt_tcplinks *t);

#endif
