/* The outer connection over TLS/TCP (tcpouter.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/outerrec.h"
#include "core/units.h"
#include "node/tcpouter.h"

/* Plaintext staged before it is sealed into TLS records: the largest record fits. */
#define PEND_MAX (ZT_OREC_HDR_LEN + ZT_OREC_CTRL_MAX)

struct zt_tcpouter {
	struct zt_tlsstream *tls;
	struct zt_tcpouter_config cfg;
	enum zt_quic_state state;
	struct zt_quic_close_info ci;
	bool server;
	uint64_t created, last_rx, last_ping, closing_until;
	/* a PING in flight: its body, when it left */
	uint64_t ping_val, ping_at;
	bool ping_out;
	uint64_t srtt;
	bool want_writable;              /* ctrl_write took less than it was given */
	/* records; each buffer exists only while it holds bytes */
	struct zt_orec_reader rd;
	struct zt_orec held;             /* a CTRL record that did not fit ctrl_in yet (its
					    body in rd's buffer: nothing pops until it goes) */
	bool have_held;
	uint8_t *ctrl_in;                /* received control bytes, [ctrl_off..ctrl_len)
					    (ZT_TCPOUTER_CTRL_IN bytes when allocated) */
	size_t ctrl_off, ctrl_len;
	uint8_t *pend;                   /* plaintext not sealed yet (PEND_MAX bytes when
					    allocated) */
	size_t pend_len;
	struct zt_tcpouter_stats st;
};

static uint64_t or_default(uint64_t v, uint64_t def)
{
	return v ? v : def;
}

int zt_tcpouter_new(struct zt_tcpouter **ret, const struct zt_tcpouter_config *cfg, uint64_t now)
{
	struct zt_tcpouter *t;
	int rc;

	if (!cfg->tls || (zt_tls_ctx_side(cfg->tls) == ZT_TLS_CLIENT) != !!cfg->peer_name)
		return -EINVAL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	rc = zt_tlsstream_new(&t->tls, cfg->tls, cfg->peer_name);
	if (rc < 0) {
		free(t);
		return rc;
	}
	t->cfg = *cfg;
	t->cfg.handshake_timeout = or_default(cfg->handshake_timeout, 10 * ZT_SEC);
	t->cfg.idle_timeout = or_default(cfg->idle_timeout, 30 * ZT_SEC);
	t->cfg.keepalive = or_default(cfg->keepalive, t->cfg.idle_timeout / 3);
	t->cfg.dgram_high = (size_t)or_default(cfg->dgram_high, 64 * 1024);
	t->server = !cfg->peer_name;
	t->state = ZT_QUIC_HANDSHAKING;
	t->created = t->last_rx = t->last_ping = now;
	zt_orec_reader_init(&t->rd);
	*ret = t;
	return 0;
}

void zt_tcpouter_free(struct zt_tcpouter *t)
{
	if (!t)
		return;
	zt_tlsstream_free(t->tls);
	zt_orec_reader_fini(&t->rd);
	free(t->ctrl_in);
	free(t->pend);
	free(t);
}

void zt_tcpouter_set_arg(struct zt_tcpouter *t, void *arg)
{
	t->cfg.arg = arg;
}

/* The end: state and why (the first reason stays). */
static void end(struct zt_tcpouter *t, enum zt_quic_state st, int err, bool by_peer, bool app,
		uint64_t code, const char *reason)
{
	if (t->state >= ZT_QUIC_CLOSING) {
		if (st > t->state)
			t->state = st;
		return;
	}
	t->state = st;
	t->ci = (struct zt_quic_close_info){ .err = err, .by_peer = by_peer, .app = app, .code = code };
	snprintf(t->ci.reason, sizeof(t->ci.reason), "%.127s", reason ? reason : "");
}

/* Output. */

static int seal(struct zt_tcpouter *t)
{
	int rc;

	if (!t->pend_len)
		return 0;
	rc = zt_tlsstream_write(t->tls, t->pend, t->pend_len);
	if (rc < 0)
		return rc;
	free(t->pend); /* TLS holds it now */
	t->pend = NULL;
	t->pend_len = 0;
	return 0;
}

/* Room for n more bytes of staged plaintext: what is staged is sealed first when they
 * would not fit, the buffer allocated when there is none. Returns 0, -ENOMEM or
 * seal()'s error. */
static int pend_room(struct zt_tcpouter *t, size_t n)
{
	int rc;

	if (t->pend_len + n > PEND_MAX) {
		rc = seal(t);
		if (rc < 0)
			return rc;
	}
	if (!t->pend && !(t->pend = malloc(PEND_MAX)))
		return -ENOMEM;
	return 0;
}

/* One record into the staged plaintext. */
static int put(struct zt_tcpouter *t, uint8_t type, const void *body, size_t len)
{
	int rc = pend_room(t, ZT_OREC_HDR_LEN + len);

	if (rc < 0)
		return rc;
	rc = zt_orec_write(t->pend + t->pend_len, PEND_MAX - t->pend_len, type, body, len);
	if (rc < 0)
		return rc;
	t->pend_len += (size_t)rc;
	return 0;
}

size_t zt_tcpouter_queued(const struct zt_tcpouter *t)
{
	const uint8_t *p;

	return t->pend_len + zt_tlsstream_output(t->tls, &p);
}

size_t zt_tcpouter_output(struct zt_tcpouter *t, const uint8_t **ret)
{
	seal(t); /* -EAGAIN: the output is long already; the rest waits */
	return zt_tlsstream_output(t->tls, ret);
}

static void maybe_closed(struct zt_tcpouter *t)
{
	if (t->state == ZT_QUIC_CLOSING && !zt_tcpouter_queued(t))
		t->state = ZT_QUIC_CLOSED;
}

void zt_tcpouter_sent(struct zt_tcpouter *t, uint64_t now, size_t n)
{
	(void)now;
	zt_tlsstream_sent(t->tls, n);
	t->st.bytes_out += n;
	maybe_closed(t);
	if (t->want_writable && t->state == ZT_QUIC_ESTABLISHED &&
	    zt_tcpouter_queued(t) < ZT_TLSSTREAM_OUT_HIGH / 2) {
		t->want_writable = false;
		if (t->cfg.cb && t->cfg.cb->ctrl_writable)
			t->cfg.cb->ctrl_writable(t->cfg.arg);
	}
}

int zt_tcpouter_ctrl_write(struct zt_tcpouter *t, const void *data, size_t len)
{
	size_t done = 0;

	if (t->state != ZT_QUIC_ESTABLISHED)
		return ZT_ESTATE;
	while (done < len && zt_tcpouter_queued(t) < ZT_TLSSTREAM_OUT_HIGH) {
		size_t k = len - done < ZT_OREC_CTRL_MAX ? len - done : ZT_OREC_CTRL_MAX;
		if (put(t, ZT_OREC_CTRL, (const uint8_t *)data + done, k) < 0)
			break;
		done += k;
	}
	if (done < len)
		t->want_writable = true;
	return (int)done;
}

int zt_tcpouter_dgram_send(struct zt_tcpouter *t, const void *data, size_t len)
{
	if (t->state != ZT_QUIC_ESTABLISHED)
		return ZT_ESTATE;
	if (!len || len > ZT_OREC_DGRAM_MAX)
		return -EINVAL;
	if (zt_tcpouter_queued(t) + len > t->cfg.dgram_high || put(t, ZT_OREC_DGRAM, data, len) < 0) {
		t->st.dgrams_dropped++;
		return -ENOBUFS;
	}
	t->st.dgrams_out++;
	return 0;
}

static void send_ping(struct zt_tcpouter *t, uint64_t now)
{
	uint8_t b[ZT_OREC_PING_LEN];

	for (int i = 0; i < 8; i++)
		b[i] = (uint8_t)(now >> (56 - 8 * i));
	t->last_ping = now;
	if (put(t, ZT_OREC_PING, b, sizeof(b)) < 0)
		return;
	t->st.pings_sent++;
	if (!t->ping_out) {
		t->ping_out = true;
		t->ping_val = now;
		t->ping_at = now;
	}
}

void zt_tcpouter_close(struct zt_tcpouter *t, uint64_t now, uint64_t code, const char *reason)
{
	uint64_t wait;

	if (t->state >= ZT_QUIC_CLOSING)
		return;
	if (t->state == ZT_QUIC_HANDSHAKING) {
		/* no records before TLS is up: the TCP connection just ends */
		end(t, ZT_QUIC_CLOSED, 0, false, true, code, reason);
		return;
	}
	{
		uint8_t rec[ZT_OREC_HDR_LEN + 4 + ZT_OREC_REASON_MAX];
		int n = zt_orec_write_close(rec, sizeof(rec), (uint32_t)code, reason);

		if (n > 0 && pend_room(t, (size_t)n) == 0) {
			memcpy(t->pend + t->pend_len, rec, (size_t)n);
			t->pend_len += (size_t)n;
		}
	}
	seal(t);
	zt_tlsstream_close(t->tls);
	end(t, ZT_QUIC_CLOSING, 0, false, true, code, reason);
	wait = 3 * t->srtt;
	t->closing_until = now + (wait > ZT_SEC ? wait : ZT_SEC);
	maybe_closed(t);
}

/* Input. */

static void rtt_sample(struct zt_tcpouter *t, uint64_t now, const uint8_t *b)
{
	uint64_t v = 0, r;

	for (int i = 0; i < 8; i++)
		v = v << 8 | b[i];
	if (!t->ping_out || v != t->ping_val)
		return;
	t->ping_out = false;
	r = now - t->ping_at;
	t->srtt = t->srtt ? (7 * t->srtt + r) / 8 : r;
}

/* A CTRL body into ctrl_in. Returns false when it does not fit yet. */
static bool ctrl_take(struct zt_tcpouter *t, const struct zt_orec *r)
{
	if (!t->ctrl_in) { /* freed whenever the owner has read it all */
		t->ctrl_in = malloc(ZT_TCPOUTER_CTRL_IN);
		if (!t->ctrl_in) {
			end(t, ZT_QUIC_CLOSED, -ENOMEM, false, false, 0, "out of memory");
			return true;
		}
	}
	if (t->ctrl_off && t->ctrl_off == t->ctrl_len)
		t->ctrl_off = t->ctrl_len = 0;
	if (t->ctrl_len + r->len > ZT_TCPOUTER_CTRL_IN && t->ctrl_off) {
		memmove(t->ctrl_in, t->ctrl_in + t->ctrl_off, t->ctrl_len - t->ctrl_off);
		t->ctrl_len -= t->ctrl_off;
		t->ctrl_off = 0;
	}
	if (t->ctrl_len + r->len > ZT_TCPOUTER_CTRL_IN)
		return false;
	memcpy(t->ctrl_in + t->ctrl_len, r->body, r->len);
	t->ctrl_len += r->len;
	return true;
}

/* One record. Returns false when it must wait (held). */
static bool dispatch(struct zt_tcpouter *t, uint64_t now, const struct zt_orec *r, bool *ctrl)
{
	uint32_t code;
	char reason[ZT_OREC_REASON_MAX + 1];

	switch (r->type) {
	case ZT_OREC_CTRL:
		if (!ctrl_take(t, r))
			return false;
		*ctrl = true;
		break;
	case ZT_OREC_DGRAM:
		t->st.dgrams_in++;
		if (t->cfg.cb && t->cfg.cb->datagram)
			t->cfg.cb->datagram(t->cfg.arg, r->body, r->len);
		break;
	case ZT_OREC_CLOSE:
		if (zt_orec_close_parse(r, &code, reason) == 0)
			end(t, ZT_QUIC_CLOSED, 0, true, true, code, reason[0] ? reason : "closed by the peer");
		break;
	case ZT_OREC_PING:
		put(t, ZT_OREC_PONG, r->body, r->len);
		break;
	case ZT_OREC_PONG:
		rtt_sample(t, now, r->body);
		break;
	}
	return true;
}

/* Plaintext from TLS into the record reader, as much as it has room for. Returns
 * false when there is none now (or the stream ended). */
static bool refill(struct zt_tcpouter *t)
{
	uint8_t buf[4096];
	size_t room = zt_orec_reader_room(&t->rd);
	int n, took;

	if (room > sizeof(buf))
		room = sizeof(buf);
	n = zt_tlsstream_read(t->tls, buf, room);
	if (n == -EAGAIN)
		return false;
	if (n == 0) {
		end(t, ZT_QUIC_CLOSED, 0, true, false, 0, "the peer ended TLS (close_notify)");
		return false;
	}
	if (n < 0) {
		char why[128];
		zt_tlsstream_error(t->tls, why, sizeof(why));
		end(t, ZT_QUIC_CLOSED, ZT_ETLS, false, false, 0, why);
		return false;
	}
	took = zt_orec_reader_feed(&t->rd, buf, (size_t)n);
	if (took == -ENOMEM)
		end(t, ZT_QUIC_CLOSED, -ENOMEM, false, false, 0, "out of memory");
	else if (took != n)
		end(t, ZT_QUIC_CLOSED, ZT_EMALFORMED, false, false, 0, "malformed record");
	return true;
}

/* Records as far as they go; the control callback once at the end. */
static void pump(struct zt_tcpouter *t, uint64_t now)
{
	bool ctrl = false;
	struct zt_orec r;
	int rc;

	while (t->state == ZT_QUIC_ESTABLISHED) {
		if (t->have_held) {
			if (!dispatch(t, now, &t->held, &ctrl))
				break;
			t->have_held = false;
			continue;
		}
		rc = zt_orec_reader_pop(&t->rd, &r);
		if (rc == 1) {
			if (!dispatch(t, now, &r, &ctrl)) {
				t->held = r; /* its body stays in the reader: nothing is fed until it goes */
				t->have_held = true;
				break;
			}
			continue;
		}
		if (rc < 0) {
			end(t, ZT_QUIC_CLOSED, ZT_EMALFORMED, false, false, 0, "malformed record");
			break;
		}
		if (!refill(t))
			break;
	}
	if (ctrl && t->cfg.cb && t->cfg.cb->ctrl_readable)
		t->cfg.cb->ctrl_readable(t->cfg.arg);
}

static void handshake_step(struct zt_tcpouter *t, uint64_t now)
{
	enum zt_tlsstream_state ts = zt_tlsstream_state(t->tls);
	char why[128];

	if (t->state != ZT_QUIC_HANDSHAKING)
		return;
	if (ts == ZT_TLSSTREAM_FAILED) {
		zt_tlsstream_error(t->tls, why, sizeof(why));
		end(t, ZT_QUIC_CLOSING, ZT_ETLS, false, false, 0, why); /* the alert goes out */
		t->closing_until = now + ZT_SEC;
		maybe_closed(t);
		return;
	}
	if (ts != ZT_TLSSTREAM_OPEN)
		return;
	t->state = ZT_QUIC_ESTABLISHED;
	if (!t->server)
		t->srtt = now - t->created;
	t->last_ping = now;
	if (t->cfg.cb && t->cfg.cb->handshake_done)
		t->cfg.cb->handshake_done(t->cfg.arg);
}

size_t zt_tcpouter_feed(struct zt_tcpouter *t, uint64_t now, const uint8_t *data, size_t len)
{
	size_t off = 0;

	if (t->state >= ZT_QUIC_CLOSING)
		return len; /* nothing more is read */
	if (len)
		t->last_rx = now;
	t->st.bytes_in += len;
	do {
		size_t k = zt_tlsstream_feed(t->tls, data + off, len - off);

		off += k;
		handshake_step(t, now);
		pump(t, now);
		if (!k || t->state != ZT_QUIC_ESTABLISHED)
			break;
	} while (off < len);
	if (t->state >= ZT_QUIC_CLOSING)
		return len;
	t->st.bytes_in -= len - off;
	return off;
}

void zt_tcpouter_eof(struct zt_tcpouter *t, uint64_t now, int err, const char *why)
{
	(void)now;
	if (!why)
		why = err ? "the TCP connection failed" : "the TCP connection was closed";
	end(t, ZT_QUIC_CLOSED, err ? err : ZT_EPEER, true, false, 0, why);
	t->state = ZT_QUIC_CLOSED;
}

int zt_tcpouter_ctrl_read(struct zt_tcpouter *t, void *buf, size_t cap)
{
	size_t n = t->ctrl_len - t->ctrl_off;

	if (!n)
		return t->state >= ZT_QUIC_CLOSING ? ZT_EPEER : 0;
	if (n > cap)
		n = cap;
	memcpy(buf, t->ctrl_in + t->ctrl_off, n);
	t->ctrl_off += n;
	if (t->ctrl_off == t->ctrl_len) {
		/* all read: the next CTRL record allocates it again */
		free(t->ctrl_in);
		t->ctrl_in = NULL;
		t->ctrl_off = t->ctrl_len = 0;
	}
	return (int)n;
}

/* Timers. */

uint64_t zt_tcpouter_next_deadline(const struct zt_tcpouter *t)
{
	uint64_t d;

	switch (t->state) {
	case ZT_QUIC_HANDSHAKING:
		return t->created + t->cfg.handshake_timeout;
	case ZT_QUIC_ESTABLISHED:
		if (t->have_held && t->ctrl_off == t->ctrl_len)
			return 0; /* the owner read what held the input back: go on at once */
		d = t->last_rx + t->cfg.idle_timeout;
		return t->last_ping + t->cfg.keepalive < d ? t->last_ping + t->cfg.keepalive : d;
	case ZT_QUIC_CLOSING:
		return t->closing_until;
	default:
		return ZT_TIME_NEVER;
	}
}

void zt_tcpouter_on_timeout(struct zt_tcpouter *t, uint64_t now)
{
	switch (t->state) {
	case ZT_QUIC_HANDSHAKING:
		if (now >= t->created + t->cfg.handshake_timeout)
			end(t, ZT_QUIC_CLOSED, ZT_ETIMEOUT, false, false, 0, "handshake timeout");
		break;
	case ZT_QUIC_ESTABLISHED:
		if (now >= t->last_rx + t->cfg.idle_timeout) {
			end(t, ZT_QUIC_CLOSED, ZT_ETIMEOUT, false, false, 0, "idle timeout");
			break;
		}
		if (now >= t->last_ping + t->cfg.keepalive)
			send_ping(t, now);
		if (t->have_held)
			pump(t, now);
		break;
	case ZT_QUIC_CLOSING:
		if (now >= t->closing_until)
			t->state = ZT_QUIC_CLOSED;
		break;
	default:
		break;
	}
}

enum zt_quic_state zt_tcpouter_state(const struct zt_tcpouter *t)
{
	return t->state;
}

void zt_tcpouter_close_info(const struct zt_tcpouter *t, struct zt_quic_close_info *ret)
{
	if (t->state < ZT_QUIC_CLOSING)
		*ret = (struct zt_quic_close_info){ 0 };
	else
		*ret = t->ci;
}

uint64_t zt_tcpouter_srtt(const struct zt_tcpouter *t)
{
	return t->srtt;
}

struct zt_tls_session *zt_tcpouter_tls(struct zt_tcpouter *t)
{
	return zt_tlsstream_tls(t->tls);
}

void zt_tcpouter_stats(const struct zt_tcpouter *t, struct zt_tcpouter_stats *ret)
{
	*ret = t->st;
}
