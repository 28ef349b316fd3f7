/*
 * The control channel: control messages (core/ctrl.h) on one bidirectional stream of
 * an outer QUIC connection, or in the CTRL records of an outer TLS/TCP connection
 * (node/tcpouter.h), with bounded buffers both ways.
 *
 * Sending encodes a message and writes it to the stream; what the stream does not
 * take at once waits in a backlog of at most ZT_CTRLCHAN_BACKLOG bytes, written by
 * zt_ctrlchan_flush() when the stream has room (its stream_writable event). A peer
 * that stops reading makes the backlog overflow: send() fails and the owner closes
 * the connection, rather than buffering without bound.
 *
 * Receiving reads from the stream only as much as the message reader has room for,
 * so a flood is held back by QUIC flow control.
 *
 * Both buffers exist only while bytes wait in them: the reader (ZT_CTRL_MSG_MAX
 * bytes) is allocated when bytes come off the stream and freed when a message popped
 * leaves no partial one behind (the messages next() returns are copies, nothing in
 * them points into it), when a framing error poisons it (ch->poison keeps the error)
 * and when the stream ends; the backlog (ZT_CTRLCHAN_BACKLOG) is allocated when the
 * stream does not take a message whole and freed when flushed empty. So an idle or
 * half-open connection pays for neither. A reader that cannot be allocated reads as
 * the stream ending (ZT_EPEER: the owner closes).
 */
#ifndef ZT_NODE_CTRLCHAN_H
#define ZT_NODE_CTRLCHAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/ctrl.h"
#include "node/tcpouter.h"
#include "quic/conn.h"

#define ZT_CTRLCHAN_BACKLOG (64 * 1024)
/* The bound for a link between Intermediates (zt_ctrlchan_set_backlog_max). */
#define ZT_CTRLCHAN_LINK_BACKLOG (8 * 1024 * 1024)

struct zt_ctrlchan {
	struct zt_quic_conn *conn;
	struct zt_tcpouter *tcp;     /* instead of conn: CTRL records (sid 0) */
	int64_t sid;                 /* -1: no stream yet */
	struct zt_ctrl_reader *rd;   /* NULL while no byte waits in it */
	int poison;                  /* 0, or the framing error that ended reading */
	uint8_t *backlog;            /* NULL while blen is 0 */
	size_t boff, blen;           /* the bytes waiting: backlog[boff, boff + blen) */
	size_t bcap;                 /* allocated */
	size_t bmax;                 /* bound (0: ZT_CTRLCHAN_BACKLOG) */
	bool eof;                    /* the peer finished or reset the stream */
	bool overflowed;             /* a send found the backlog full (-ENOBUFS), or
					could not queue the rest of a message (-ENOMEM);
					stays set: an owner may close for it */
	bool cut;                    /* ... the latter: no message may follow, ever */
	uint64_t sent, received;     /* messages */
};

/* Binds to stream sid of conn (sid may be -1 and set later with zt_ctrlchan_attach). */
void zt_ctrlchan_init(struct zt_ctrlchan *ch, struct zt_quic_conn *conn, int64_t sid);
void zt_ctrlchan_attach(struct zt_ctrlchan *ch, int64_t sid);
/* Binds to the CTRL records of t (attached at once). */
void zt_ctrlchan_init_tcp(struct zt_ctrlchan *ch, struct zt_tcpouter *t);
void zt_ctrlchan_fini(struct zt_ctrlchan *ch);
/* Another bound for the backlog than ZT_CTRLCHAN_BACKLOG (0: that again): a link
 * between Intermediates, whose bursts are every agent's of an Intermediate at once.
 * The backlog still grows only as bytes wait. */
void zt_ctrlchan_set_backlog_max(struct zt_ctrlchan *ch, size_t max);

/*
 * Encodes and sends msg (or queues it behind the backlog). Returns 0, -EINVAL (the
 * message does not encode), ZT_ESTATE (no stream, or it is shut), -ENOBUFS (the
 * backlog would exceed its bound: the peer is not reading; msg is dropped whole, and
 * so is every message until the backlog has drained: then sending goes on, for an
 * owner that drops rather than closes, as the Intermediate does), -ENOMEM (if part of
 * msg was written, the channel is marked cut as well: no message may follow).
 */
int zt_ctrlchan_send(struct zt_ctrlchan *ch, const struct zt_ctrl_msg *msg);

/* Writes backlog to the stream. Returns 0 or ZT_ESTATE (the stream is gone). */
int zt_ctrlchan_flush(struct zt_ctrlchan *ch);

/*
 * Takes the next complete message off the stream. Returns 1 (in *msg, a copy that
 * stays valid whatever the channel does next), 0 (none yet), ZT_EPEER (the peer ended
 * the stream, or no memory for the reader; ch->eof is set), a framing error
 * (ZT_ETOOBIG, ZT_ECTRL_VERSION: the stream is unusable, and every later call returns
 * it again), or another zt_ctrl_decode() error for one message that was skipped
 * (msg->type says which type it had).
 */
int zt_ctrlchan_next(struct zt_ctrlchan *ch, struct zt_ctrl_msg *msg);

#endif
