/*
 * The outer connection over TLS/TCP, sans-IO (docs/tcp-transport.md): TLS 1.3 on a
 * byte stream (quic/tlsstream.h) carrying records (core/outerrec.h): the control
 * stream's bytes in CTRL records, relay payloads in DGRAM records, the end in a CLOSE
 * record, liveness and round-trip time in PING/PONG.
 *
 * No socket: the owner feeds what the TCP connection gave and writes what the output
 * holds, like quic/tlsstream.h:
 *
 *	on bytes from TCP:  n = zt_tcpouter_feed(t, now, data, len);  (n < len: keep the
 *	                    rest and offer it again after the next event or timeout)
 *	to send:            len = zt_tcpouter_output(t, &p); write p[0..len);
 *	                    zt_tcpouter_sent(t, now, written);
 *	TCP ended:          zt_tcpouter_eof(t, now, err);
 *	timer:              zt_tcpouter_next_deadline / zt_tcpouter_on_timeout
 *
 * States are the QUIC connection's (quic/conn.h): HANDSHAKING until TLS is done,
 * ESTABLISHED, CLOSING after zt_tcpouter_close (the CLOSE record and close_notify wait
 * to be sent: CLOSED when they are, or after the closing period), CLOSED when the
 * peer's CLOSE arrived, TCP ended, TLS failed, or a timeout struck (handshake: nothing
 * after handshake_timeout; idle: nothing received for idle_timeout; each side sends a
 * PING after keepalive without sending one, and answers each PING with a PONG).
 * zt_tcpouter_close_info() says why, as the QUIC connection's would.
 *
 * Bounds: the input is read only as far as the control bytes the owner has not read
 * allow (ZT_TCPOUTER_CTRL_IN); DGRAM records are refused (-ENOBUFS, like a full
 * DATAGRAM queue) while dgram_high bytes wait to be sent; control bytes are taken
 * while the output is under ZT_TLSSTREAM_OUT_HIGH.
 *
 * Memory is held only while bytes wait: the record reader's buffer, the staged
 * plaintext (until it is sealed into TLS), the control input (until the owner has
 * read it all) and TLS's own buffers (quic/tlsstream.h) are allocated when bytes come
 * and freed when they have gone, so an idle connection (half-open, or established
 * with nothing in flight) costs its structs and GnuTLS's session. An allocation that
 * fails ends the connection (CLOSED, err -ENOMEM or ZT_ETLS) or, for bytes to send,
 * is refused as a full output is.
 *
 * Callbacks are called from feed, on_timeout and sent (ctrl_writable); they may call
 * every function here but free.
 */
#ifndef ZT_NODE_TCPOUTER_H
#define ZT_NODE_TCPOUTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "quic/conn.h"
#include "quic/tlsstream.h"

/* Control bytes received and not yet read by the owner, at most. */
#define ZT_TCPOUTER_CTRL_IN (64 * 1024)

struct zt_tcpouter;

struct zt_tcpouter_callbacks {
	void (*handshake_done)(void *arg);
	void (*ctrl_readable)(void *arg);
	void (*ctrl_writable)(void *arg);
	void (*datagram)(void *arg, const uint8_t *data, size_t len);
};

struct zt_tcpouter_config {
	struct zt_tls_ctx *tls;      /* required: its side picks client or server */
	const char *peer_name;       /* client: the name the server's certificate carries */
	uint64_t handshake_timeout;  /* ns; 0: 10 s */
	uint64_t idle_timeout;       /* ns; 0: 30 s */
	uint64_t keepalive;          /* ns; 0: idle_timeout / 3 */
	size_t dgram_high;           /* 0: 64 KiB */
	const struct zt_tcpouter_callbacks *cb;
	void *arg;
};

/* Returns 0, -EINVAL, -ENOMEM, ZT_ETLS. A client's ClientHello is in the output. */
int zt_tcpouter_new(struct zt_tcpouter **ret, const struct zt_tcpouter_config *cfg, uint64_t now);
void zt_tcpouter_free(struct zt_tcpouter *t);
void zt_tcpouter_set_arg(struct zt_tcpouter *t, void *arg);

/* Bytes from TCP. Returns how many were taken; len 0 only goes on with records held
 * back before. */
size_t zt_tcpouter_feed(struct zt_tcpouter *t, uint64_t now, const uint8_t *data, size_t len);
/* The bytes to write now (plaintext written so far is sealed first). */
size_t zt_tcpouter_output(struct zt_tcpouter *t, const uint8_t **ret);
void zt_tcpouter_sent(struct zt_tcpouter *t, uint64_t now, size_t n);
/* The TCP connection ended: err 0 (the peer's FIN) or a negative errno; why: the
 * reason to report (NULL: one from err). */
void zt_tcpouter_eof(struct zt_tcpouter *t, uint64_t now, int err, const char *why);

/* Control bytes to the peer: returns how many were taken (maybe 0: output full, try
 * again on ctrl_writable), ZT_ESTATE (not established, or closing). */
int zt_tcpouter_ctrl_write(struct zt_tcpouter *t, const void *data, size_t len);
/* Control bytes from the peer: the count, 0 (none now), ZT_EPEER (closed). */
int zt_tcpouter_ctrl_read(struct zt_tcpouter *t, void *buf, size_t cap);
/* One relay payload. Returns 0, -ENOBUFS (output full: dropped), -EINVAL (size),
 * ZT_ESTATE. */
int zt_tcpouter_dgram_send(struct zt_tcpouter *t, const void *data, size_t len);
/* Bytes waiting to be sent (plaintext and TLS output). */
size_t zt_tcpouter_queued(const struct zt_tcpouter *t);

/* CLOSE (code, reason) and close_notify to the peer; CLOSING, then CLOSED. */
void zt_tcpouter_close(struct zt_tcpouter *t, uint64_t now, uint64_t code, const char *reason);

enum zt_quic_state zt_tcpouter_state(const struct zt_tcpouter *t);
void zt_tcpouter_close_info(const struct zt_tcpouter *t, struct zt_quic_close_info *ret);
uint64_t zt_tcpouter_next_deadline(const struct zt_tcpouter *t);
void zt_tcpouter_on_timeout(struct zt_tcpouter *t, uint64_t now);
/* Smoothed round-trip time from PING/PONG (the handshake's before the first). */
uint64_t zt_tcpouter_srtt(const struct zt_tcpouter *t);
struct zt_tls_session *zt_tcpouter_tls(struct zt_tcpouter *t);
/* Records and bytes both ways, and DGRAMs dropped (output full). */
struct zt_tcpouter_stats {
	uint64_t bytes_in, bytes_out, dgrams_in, dgrams_out, dgrams_dropped, pings_sent;
};
void zt_tcpouter_stats(const struct zt_tcpouter *t, struct zt_tcpouter_stats *ret);

#endif
