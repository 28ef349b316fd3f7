/* TLS 1.3 over a byte stream, sans-IO (tlsstream.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "quic/tlsstream.h"

struct zt_tlsstream {
	struct zt_tls_session *tls;
	gnutls_session_t s;
	enum zt_tlsstream_state state;
	int gnutls_err;                  /* the failure's GnuTLS code */
	/* Both buffers exist only while they hold bytes (an idle stream has neither). */
	uint8_t *in;                     /* ciphertext received, in[in_off..in_len) not taken
					    (ZT_TLSSTREAM_IN_MAX bytes when allocated) */
	size_t in_off, in_len;
	uint8_t *out;                    /* ciphertext to send, out[out_off..out_len) */
	size_t out_off, out_len, out_cap;
};

static void in_release(struct zt_tlsstream *t)
{
	free(t->in);
	t->in = NULL;
	t->in_off = t->in_len = 0;
}

/* GnuTLS's transport: our buffers. */

static ssize_t pull(gnutls_transport_ptr_t arg, void *buf, size_t cap)
{
	struct zt_tlsstream *t = arg;
	size_t n = t->in_len - t->in_off;

	if (!n) {
		gnutls_transport_set_errno(t->s, EAGAIN);
		return -1;
	}
	if (n > cap)
		n = cap;
	memcpy(buf, t->in + t->in_off, n);
	t->in_off += n;
	if (t->in_off == t->in_len)
		in_release(t); /* all of it is TLS's now */
	return (ssize_t)n;
}

static ssize_t push(gnutls_transport_ptr_t arg, const void *data, size_t len)
{
	struct zt_tlsstream *t = arg;

	if (t->out_len + len > t->out_cap) {
		size_t cap = t->out_cap ? t->out_cap : 4096;
		uint8_t *p;
		while (cap < t->out_len + len)
			cap *= 2;
		if (!(p = realloc(t->out, cap))) {
			gnutls_transport_set_errno(t->s, ENOMEM);
			return -1;
		}
		t->out = p;
		t->out_cap = cap;
	}
	memcpy(t->out + t->out_len, data, len);
	t->out_len += len;
	return (ssize_t)len;
}

static void fail(struct zt_tlsstream *t, int rc)
{
	if (t->state == ZT_TLSSTREAM_FAILED)
		return;
	t->gnutls_err = rc;
	t->state = ZT_TLSSTREAM_FAILED;
	gnutls_alert_send_appropriate(t->s, rc);
}

/* The handshake as far as the input allows. */
static void step(struct zt_tlsstream *t)
{
	int rc;

	if (t->state != ZT_TLSSTREAM_HANDSHAKE)
		return;
	rc = gnutls_handshake(t->s);
	if (rc == 0)
		t->state = ZT_TLSSTREAM_OPEN;
	else if (rc != GNUTLS_E_AGAIN && rc != GNUTLS_E_INTERRUPTED && gnutls_error_is_fatal(rc))
		fail(t, rc);
}

int zt_tlsstream_new(struct zt_tlsstream **ret, struct zt_tls_ctx *ctx, const char *peer_name)
{
	struct zt_tlsstream *t = calloc(1, sizeof(*t));
	int rc;

	if (!t)
		return -ENOMEM;
	rc = zt_tls_session_new_tcp(&t->tls, ctx, peer_name);
	if (rc < 0) {
		free(t);
		return rc;
	}
	t->s = zt_tls_session_native(t->tls);
	gnutls_transport_set_ptr(t->s, t);
	gnutls_transport_set_pull_function(t->s, pull);
	gnutls_transport_set_push_function(t->s, push);
	t->state = ZT_TLSSTREAM_HANDSHAKE;
	step(t);
	*ret = t;
	return 0;
}

void zt_tlsstream_free(struct zt_tlsstream *t)
{
	if (!t)
		return;
	zt_tls_session_free(t->tls);
	free(t->in);
	free(t->out);
	free(t);
}

size_t zt_tlsstream_feed(struct zt_tlsstream *t, const uint8_t *data, size_t len)
{
	size_t room;

	if (t->state == ZT_TLSSTREAM_FAILED)
		return len; /* nothing more is read: taken and dropped */
	if (t->in_off) {
		memmove(t->in, t->in + t->in_off, t->in_len - t->in_off);
		t->in_len -= t->in_off;
		t->in_off = 0;
	}
	room = ZT_TLSSTREAM_IN_MAX - t->in_len;
	if (len > room)
		len = room;
	if (len && !t->in && !(t->in = malloc(ZT_TLSSTREAM_IN_MAX))) {
		fail(t, GNUTLS_E_MEMORY_ERROR);
		return len; /* as a failed stream does: taken and dropped */
	}
	if (len) {
		memcpy(t->in + t->in_len, data, len);
		t->in_len += len;
	}
	step(t);
	return len;
}

size_t zt_tlsstream_output(const struct zt_tlsstream *t, const uint8_t **ret)
{
	*ret = t->out ? t->out + t->out_off : NULL;
	return t->out_len - t->out_off;
}

void zt_tlsstream_sent(struct zt_tlsstream *t, size_t n)
{
	if (n > t->out_len - t->out_off)
		n = t->out_len - t->out_off;
	t->out_off += n;
	if (t->out_off == t->out_len) {
		/* all sent: an idle stream holds no buffer (the next write allocates one) */
		free(t->out);
		t->out = NULL;
		t->out_off = t->out_len = t->out_cap = 0;
	}
}

int zt_tlsstream_write(struct zt_tlsstream *t, const void *data, size_t len)
{
	const uint8_t *p = data;
	size_t done = 0;

	if (t->state == ZT_TLSSTREAM_FAILED)
		return ZT_ETLS;
	if (t->state != ZT_TLSSTREAM_OPEN)
		return ZT_ESTATE;
	if (t->out_len - t->out_off > ZT_TLSSTREAM_OUT_HIGH)
		return -EAGAIN;
	while (done < len) {
		ssize_t n = gnutls_record_send(t->s, p + done, len - done);
		if (n < 0) {
			if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
				continue; /* push never blocks: a retry completes it */
			fail(t, (int)n);
			return n == GNUTLS_E_MEMORY_ERROR ? -ENOMEM : ZT_ETLS;
		}
		done += (size_t)n;
	}
	return (int)len;
}

int zt_tlsstream_read(struct zt_tlsstream *t, void *buf, size_t cap)
{
	ssize_t n;

	if (t->state == ZT_TLSSTREAM_FAILED)
		return ZT_ETLS;
	if (t->state == ZT_TLSSTREAM_HANDSHAKE)
		return ZT_ESTATE;
	if (t->state == ZT_TLSSTREAM_CLOSED)
		return 0;
	n = gnutls_record_recv(t->s, buf, cap);
	if (n > 0)
		return (int)n;
	if (n == 0) {
		t->state = ZT_TLSSTREAM_CLOSED;
		return 0;
	}
	if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED || !gnutls_error_is_fatal((int)n))
		return -EAGAIN;
	fail(t, (int)n);
	return ZT_ETLS;
}

void zt_tlsstream_close(struct zt_tlsstream *t)
{
	if (t->state != ZT_TLSSTREAM_OPEN)
		return;
	gnutls_bye(t->s, GNUTLS_SHUT_WR);
	t->state = ZT_TLSSTREAM_CLOSED;
}

enum zt_tlsstream_state zt_tlsstream_state(const struct zt_tlsstream *t)
{
	return t->state;
}

int zt_tlsstream_error(const struct zt_tlsstream *t, char *text, size_t cap)
{
	char why[256];

	if (t->state != ZT_TLSSTREAM_FAILED) {
		if (cap)
			text[0] = '\0';
		return 0;
	}
	if (zt_tls_session_verify_error(t->tls, why, sizeof(why)) > 0)
		snprintf(text, cap, "%s (%s)", gnutls_strerror(t->gnutls_err), why);
	else
		snprintf(text, cap, "%s", gnutls_strerror(t->gnutls_err));
	return ZT_ETLS;
}

struct zt_tls_session *zt_tlsstream_tls(struct zt_tlsstream *t)
{
	return t->tls;
}
