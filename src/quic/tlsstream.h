/*
 * TLS 1.3 over a byte stream (TCP), sans-IO: the outer connection's transport where
 * UDP does not pass (docs/tcp-transport.md). The same contexts, PKI and checks as the
 * QUIC connections (quic/tls.h: the client verifies the server's name and key purpose,
 * a server with require_peer_cert verifies the client's), its own ALPN
 * (ZT_ALPN_OUTER_TCP), and no socket: the caller feeds the bytes the TCP connection
 * gave, sends the bytes zt_tlsstream_output() holds, and reads and writes plaintext.
 *
 *	on bytes from TCP:   n = zt_tlsstream_feed(t, data, len);   (n < len: full,
 *	                     read plaintext first, then feed the rest)
 *	                     while ((r = zt_tlsstream_read(t, buf, cap)) > 0) ...
 *	to send:             len = zt_tlsstream_output(t, &p); send p[0..len);
 *	                     zt_tlsstream_sent(t, sent);
 *
 * Buffers are bounded: the input holds at most ZT_TLSSTREAM_IN_MAX bytes not yet
 * taken by TLS, the output refuses plaintext (-EAGAIN) while more than
 * ZT_TLSSTREAM_OUT_HIGH bytes wait to be sent. They hold memory only while bytes wait:
 * the input is allocated when bytes are fed and freed when TLS has taken them all, the
 * output freed when all of it was sent, so an idle stream costs its struct and
 * GnuTLS's session. A handshake failure (a certificate refused, a wrong ALPN, garbage)
 * sends the alert TLS picks into the output and makes the stream FAILED with ZT_ETLS;
 * zt_tlsstream_error() says why.
 */
#ifndef ZT_QUIC_TLSSTREAM_H
#define ZT_QUIC_TLSSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "quic/tls.h"

/* Two full TLS records (16 KiB of plaintext each, plus their overhead). */
#define ZT_TLSSTREAM_IN_MAX (2 * (16384 + 256))
#define ZT_TLSSTREAM_OUT_HIGH (256 * 1024)

enum zt_tlsstream_state {
	ZT_TLSSTREAM_HANDSHAKE = 1, /* not done yet */
	ZT_TLSSTREAM_OPEN = 2,      /* data both ways */
	ZT_TLSSTREAM_CLOSED = 3,    /* the peer said close_notify (or we did) */
	ZT_TLSSTREAM_FAILED = 4,    /* handshake or record failure: zt_tlsstream_error() */
};

struct zt_tlsstream;

/*
 * A client (peer_name: the name the server's certificate must carry) or a server
 * (peer_name NULL) stream on ctx, whose ALPN is ZT_ALPN_OUTER_TCP. A client's
 * ClientHello is in the output at once. Returns 0, -EINVAL, -ENOMEM, ZT_ETLS.
 */
int zt_tlsstream_new(struct zt_tlsstream **ret, struct zt_tls_ctx *ctx, const char *peer_name);
void zt_tlsstream_free(struct zt_tlsstream *t);

/* Bytes from the TCP connection; the handshake goes on with them. Returns how many
 * were taken (fewer than len while the input is full of records not read yet). When
 * the input cannot be allocated the stream fails (ZT_ETLS, "memory allocation") and
 * the bytes are taken and dropped, as after any failure. */
size_t zt_tlsstream_feed(struct zt_tlsstream *t, const uint8_t *data, size_t len);

/* The bytes to send now (*ret points into the stream's output: valid until the next
 * call that changes the stream: sent, write, feed, read, close), and how many were
 * sent (all of it frees the output). */
size_t zt_tlsstream_output(const struct zt_tlsstream *t, const uint8_t **ret);
void zt_tlsstream_sent(struct zt_tlsstream *t, size_t n);

/* Plaintext to the peer: all of it (returns len), or -EAGAIN (the output is over
 * ZT_TLSSTREAM_OUT_HIGH: send first), ZT_ESTATE (not open), ZT_ETLS. */
int zt_tlsstream_write(struct zt_tlsstream *t, const void *data, size_t len);

/* Plaintext from the peer. Returns the count (> 0), 0 (the peer closed: close_notify),
 * -EAGAIN (none yet), ZT_ESTATE (handshake not done), ZT_ETLS (the stream failed). */
int zt_tlsstream_read(struct zt_tlsstream *t, void *buf, size_t cap);

/* Our close_notify into the output; the stream takes no more plaintext. */
void zt_tlsstream_close(struct zt_tlsstream *t);

enum zt_tlsstream_state zt_tlsstream_state(const struct zt_tlsstream *t);
/* Why it failed (0 when it did not: else ZT_ETLS), with text: TLS's reason, or the
 * certificate's. */
int zt_tlsstream_error(const struct zt_tlsstream *t, char *text, size_t cap);
/* The TLS session, for zt_tls_session_peer_identity() once OPEN. */
struct zt_tls_session *zt_tlsstream_tls(struct zt_tlsstream *t);

#endif
