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
 * so a flood is held back by QUIC flow control. The reader (ZT_CTRL_MSG_MAX bytes) is
 * allocated when the channel gets its stream, so a connection that never opens one
 * (a half-open connection at the Intermediate) does not pay for it; if that
 * allocation fails the channel reads as ended (ZT_EPEER).
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

struct zt_ctrlchan {
	struct zt_quic_conn *conn;
	struct zt_tcpouter *tcp;     /* instead of conn: CTRL records (sid 0) */
	int64_t sid;                 /* -1: no stream yet */
	struct zt_ctrl_reader *rd;   /* NULL until a stream is attached */
	uint8_t *backlog;
	size_t blen;
	bool eof;                    /* the peer finished or reset the stream */
	bool overflowed;             /* a send found the backlog full (-ENOBUFS) */
	uint64_t sent, received;     /* messages */
};

/* Binds to stream sid of conn (sid may be -1 and set later with zt_ctrlchan_attach). */
void zt_ctrlchan_init(struct zt_ctrlchan *ch, struct zt_quic_conn *conn, int64_t sid);
void zt_ctrlchan_attach(struct zt_ctrlchan *ch, int64_t sid);
/* Binds to the CTRL records of t (attached at once). */
void zt_ctrlchan_init_tcp(struct zt_ctrlchan *ch, struct zt_tcpouter *t);
void zt_ctrlchan_fini(struct zt_ctrlchan *ch);

/*
 * Encodes and sends msg (or queues it behind the backlog). Returns 0, -EINVAL (the
 * message does not encode), ZT_ESTATE (no stream, or it is shut), -ENOBUFS (the
 * backlog would exceed its bound: the peer is not reading), -ENOMEM.
 */
int zt_ctrlchan_send(struct zt_ctrlchan *ch, const struct zt_ctrl_msg *msg);

/* Writes backlog to the stream. Returns 0 or ZT_ESTATE (the stream is gone). */
int zt_ctrlchan_flush(struct zt_ctrlchan *ch);

/*
 * Takes the next complete message off the stream. Returns 1 (in *msg), 0 (none yet),
 * ZT_EPEER (the peer ended the stream; ch->eof is set), a framing error (ZT_ETOOBIG,
 * ZT_ECTRL_VERSION: the stream is unusable), or another zt_ctrl_decode() error for one
 * message that was skipped (msg->type says which type it had).
 */
int zt_ctrlchan_next(struct zt_ctrlchan *ch, struct zt_ctrl_msg *msg);

#endif
