/*
 * node/tcpouter.h: the outer connection over TLS/TCP, two ends joined in memory by the
 * test: the handshake, control bytes and relay payloads both ways, PING/PONG giving
 * the RTT, CLOSE with its code and reason, the bounded control input (records wait
 * until the owner reads, and go on once it did), DGRAMs dropped while the output is
 * long, garbage and a malformed record closing the connection, the handshake and idle
 * timeouts.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "core/err.h"
#include "core/outerrec.h"
#include "core/units.h"
#include "node/tcpouter.h"
#include "quic_harness.h"

struct end {
	struct zt_tcpouter *t;
	bool hs;
	unsigned readable, writable, dgrams;
	size_t dgram_bytes;
};

static void on_hs(void *arg)
{
	((struct end *)arg)->hs = true;
}

static void on_readable(void *arg)
{
	((struct end *)arg)->readable++;
}

static void on_writable(void *arg)
{
	((struct end *)arg)->writable++;
}

static void on_dgram(void *arg, const uint8_t *data, size_t len)
{
	struct end *e = arg;
	(void)data;
	e->dgrams++;
	e->dgram_bytes += len;
}

static const struct zt_tcpouter_callbacks cb = {
	.handshake_done = on_hs,
	.ctrl_readable = on_readable,
	.ctrl_writable = on_writable,
	.datagram = on_dgram,
};

struct pair {
	struct zt_tls_ctx *cctx, *sctx;
	struct end c, s;
	uint64_t now;
};

static struct zt_tls_ctx *ctx(const struct qh_fixture *f, enum zt_tls_side side,
			      const struct zt_pki_pem *cred)
{
	struct zt_tls_config cfg = { .side = side, .alpn = ZT_ALPN_OUTER_TCP,
				     .ca_pem = f->pki.ca.cert, .cert_pem = cred->cert,
				     .key_pem = cred->key, .require_peer_cert = side == ZT_TLS_SERVER };
	struct zt_tls_ctx *c = NULL;

	assert_int_equal(zt_tls_ctx_new(&c, &cfg), 0);
	return c;
}

/* Moves a's output into b (all of it that b takes), the clock one ms on. */
static size_t move(struct pair *p, struct end *a, struct end *b)
{
	const uint8_t *out;
	size_t n = zt_tcpouter_output(a->t, &out), took;

	p->now += ZT_MS;
	if (!n)
		return 0;
	took = zt_tcpouter_feed(b->t, p->now, out, n);
	zt_tcpouter_sent(a->t, p->now, took);
	return took;
}

static void pump(struct pair *p)
{
	for (int i = 0; i < 10000; i++)
		if (!move(p, &p->c, &p->s) && !move(p, &p->s, &p->c))
			return;
}

static void pair_up(struct pair *p, const struct qh_fixture *f)
{
	struct zt_tcpouter_config cc = { .peer_name = "127.0.0.1", .cb = &cb, .arg = &p->c,
					 .keepalive = 5 * ZT_SEC, .idle_timeout = 20 * ZT_SEC };
	struct zt_tcpouter_config sc = { .cb = &cb, .arg = &p->s, .idle_timeout = 30 * ZT_SEC };

	memset(p, 0, sizeof(*p));
	p->now = 1000 * ZT_SEC;
	p->cctx = cc.tls = ctx(f, ZT_TLS_CLIENT, &f->pki.alice);
	p->sctx = sc.tls = ctx(f, ZT_TLS_SERVER, &f->pki.intermediate);
	assert_int_equal(zt_tcpouter_new(&p->c.t, &cc, p->now), 0);
	assert_int_equal(zt_tcpouter_new(&p->s.t, &sc, p->now), 0);
	pump(p);
	assert_true(p->c.hs && p->s.hs);
	assert_int_equal(zt_tcpouter_state(p->c.t), ZT_QUIC_ESTABLISHED);
	assert_int_equal(zt_tcpouter_state(p->s.t), ZT_QUIC_ESTABLISHED);
}

static void pair_down(struct pair *p)
{
	zt_tcpouter_free(p->c.t);
	zt_tcpouter_free(p->s.t);
	zt_tls_ctx_free(p->cctx);
	zt_tls_ctx_free(p->sctx);
}

static void ctrl_dgram_close(void **state)
{
	struct pair p;
	uint8_t big[40000], got[40000], d[1500] = { 7 };
	struct zt_quic_close_info ci;
	size_t n = 0;
	int k;

	pair_up(&p, *state);
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 31);
	/* control bytes over several CTRL records arrive in order */
	assert_int_equal(zt_tcpouter_ctrl_write(p.c.t, big, sizeof(big)), (int)sizeof(big));
	assert_int_equal(zt_tcpouter_dgram_send(p.c.t, d, sizeof(d)), 0);
	assert_int_equal(zt_tcpouter_dgram_send(p.c.t, d, ZT_OREC_DGRAM_MAX + 1), -EINVAL);
	pump(&p);
	while ((k = zt_tcpouter_ctrl_read(p.s.t, got + n, sizeof(got) - n)) > 0)
		n += (size_t)k;
	assert_int_equal(n, sizeof(big));
	assert_memory_equal(got, big, sizeof(big));
	assert_true(p.s.readable >= 1);
	assert_int_equal(p.s.dgrams, 1);
	assert_int_equal(p.s.dgram_bytes, sizeof(d));
	/* CLOSE: the peer learns the code and the reason */
	zt_tcpouter_close(p.s.t, p.now, 1508, "replaced");
	assert_true(zt_tcpouter_state(p.s.t) >= ZT_QUIC_CLOSING);
	pump(&p);
	assert_int_equal(zt_tcpouter_state(p.s.t), ZT_QUIC_CLOSED);
	assert_int_equal(zt_tcpouter_state(p.c.t), ZT_QUIC_CLOSED);
	zt_tcpouter_close_info(p.c.t, &ci);
	assert_true(ci.by_peer && ci.app);
	assert_int_equal(ci.code, 1508);
	assert_string_equal(ci.reason, "replaced");
	assert_int_equal(zt_tcpouter_ctrl_read(p.c.t, got, 1), ZT_EPEER);
	pair_down(&p);
}

/* The owner that does not read its control bytes holds the input back: records wait
 * (DGRAMs behind them too), and go on at the next timer once it has read. */
static void control_input_is_bounded(void **state)
{
	struct pair p;
	static uint8_t chunk[ZT_OREC_CTRL_MAX], got[ZT_TCPOUTER_CTRL_IN * 2];
	uint8_t d[100] = { 1 };
	size_t total = 0, n = 0;
	int k;

	pair_up(&p, *state);
	memset(chunk, 'x', sizeof(chunk));
	for (int i = 0; i < 8; i++) {
		assert_int_equal(zt_tcpouter_ctrl_write(p.c.t, chunk, sizeof(chunk)), (int)sizeof(chunk));
		total += sizeof(chunk);
		if (i == 2) /* a DGRAM after 48 KiB of control bytes */
			assert_int_equal(zt_tcpouter_dgram_send(p.c.t, d, sizeof(d)), 0);
	}
	pump(&p);
	/* 128 KiB sent; the server took at most its bound (the DGRAM came through) */
	assert_int_equal(p.s.dgrams, 1);
	while ((k = zt_tcpouter_ctrl_read(p.s.t, got + n, sizeof(got) - n)) > 0)
		n += (size_t)k;
	assert_true(n > 0 && n <= ZT_TCPOUTER_CTRL_IN);
	/* read: it goes on at once (deadline now), and the rest arrives */
	assert_true(zt_tcpouter_next_deadline(p.s.t) <= p.now);
	for (int i = 0; i < 20 && n < total; i++) {
		zt_tcpouter_on_timeout(p.s.t, p.now);
		pump(&p);
		while ((k = zt_tcpouter_ctrl_read(p.s.t, got + n, sizeof(got) - n)) > 0)
			n += (size_t)k;
	}
	assert_int_equal(n, total);
	assert_int_equal(p.s.dgrams, 1);
	pair_down(&p);
}

/* DGRAMs are dropped while the output is long; PING/PONG measures the RTT; silence
 * ends the connection at the idle timeout. */
static void dgram_drop_ping_idle(void **state)
{
	struct pair p;
	uint8_t d[1400] = { 3 };
	struct zt_tcpouter_stats st;
	struct zt_quic_close_info ci;
	int dropped = 0;

	pair_up(&p, *state);
	for (int i = 0; i < 100; i++)
		dropped += zt_tcpouter_dgram_send(p.c.t, d, sizeof(d)) == -ENOBUFS;
	assert_true(dropped > 40 && dropped < 60); /* 64 KiB is about 46 of them */
	zt_tcpouter_stats(p.c.t, &st);
	assert_int_equal(st.dgrams_dropped, (uint64_t)dropped);
	pump(&p);
	/* keepalive: a PING after 5 s, the PONG 2 ms later (the test's clock) */
	p.now += 5 * ZT_SEC;
	zt_tcpouter_on_timeout(p.c.t, p.now);
	pump(&p);
	zt_tcpouter_stats(p.c.t, &st);
	assert_true(st.pings_sent >= 1);
	assert_true(zt_tcpouter_srtt(p.c.t) > 0 && zt_tcpouter_srtt(p.c.t) < 5 * ZT_MS);
	/* nothing more from the server: the client gives up 20 s after the last bytes */
	p.now += 21 * ZT_SEC;
	zt_tcpouter_on_timeout(p.c.t, p.now);
	assert_int_equal(zt_tcpouter_state(p.c.t), ZT_QUIC_CLOSED);
	zt_tcpouter_close_info(p.c.t, &ci);
	assert_int_equal(ci.err, ZT_ETIMEOUT);
	pair_down(&p);
}

/* Garbage instead of TLS, a malformed record after it, a silent client. */
static void garbage_malformed_silence(void **state)
{
	const struct qh_fixture *f = *state;
	struct zt_tcpouter *s;
	struct end e = { 0 };
	struct zt_tcpouter_config sc = { .cb = &cb, .arg = &e, .handshake_timeout = 2 * ZT_SEC };
	struct zt_quic_close_info ci;
	uint8_t junk[64];
	uint64_t now = 1000 * ZT_SEC;

	sc.tls = ctx(f, ZT_TLS_SERVER, &f->pki.intermediate);
	memset(junk, 0x41, sizeof(junk));
	assert_int_equal(zt_tcpouter_new(&s, &sc, now), 0);
	zt_tcpouter_feed(s, now, junk, sizeof(junk));
	assert_true(zt_tcpouter_state(s) >= ZT_QUIC_CLOSING);
	zt_tcpouter_close_info(s, &ci);
	assert_int_equal(ci.err, ZT_ETLS);
	zt_tcpouter_free(s);
	/* silence: closed at the handshake timeout */
	assert_int_equal(zt_tcpouter_new(&s, &sc, now), 0);
	assert_int_equal(zt_tcpouter_next_deadline(s), now + 2 * ZT_SEC);
	zt_tcpouter_on_timeout(s, now + 2 * ZT_SEC);
	assert_int_equal(zt_tcpouter_state(s), ZT_QUIC_CLOSED);
	zt_tcpouter_close_info(s, &ci);
	assert_int_equal(ci.err, ZT_ETIMEOUT);
	zt_tcpouter_free(s);
	zt_tls_ctx_free(sc.tls);
	/* a record of type 0 inside TLS (a raw TLS client): the receiver closes */
	{
		struct zt_tls_ctx *cc = ctx(f, ZT_TLS_CLIENT, &f->pki.alice);
		struct zt_tlsstream *raw;
		const uint8_t *out;
		uint8_t rec[4] = { 0, 0, 1, 'x' }, buf[4096];
		size_t n;

		sc.tls = ctx(f, ZT_TLS_SERVER, &f->pki.intermediate);
		assert_int_equal(zt_tcpouter_new(&s, &sc, now), 0);
		assert_int_equal(zt_tlsstream_new(&raw, cc, "127.0.0.1"), 0);
		for (int i = 0; i < 20 && zt_tcpouter_state(s) == ZT_QUIC_HANDSHAKING; i++) {
			n = zt_tlsstream_output(raw, &out);
			zt_tlsstream_sent(raw, zt_tcpouter_feed(s, now, out, n));
			n = zt_tcpouter_output(s, &out);
			zt_tcpouter_sent(s, now, zt_tlsstream_feed(raw, out, n));
			while (zt_tlsstream_read(raw, buf, sizeof(buf)) > 0)
				;
		}
		assert_int_equal(zt_tcpouter_state(s), ZT_QUIC_ESTABLISHED);
		assert_int_equal(zt_tlsstream_write(raw, rec, sizeof(rec)), (int)sizeof(rec));
		n = zt_tlsstream_output(raw, &out);
		zt_tcpouter_feed(s, now, out, n);
		assert_int_equal(zt_tcpouter_state(s), ZT_QUIC_CLOSED);
		zt_tcpouter_close_info(s, &ci);
		assert_int_equal(ci.err, ZT_EMALFORMED);
		zt_tlsstream_free(raw);
		zt_tcpouter_free(s);
		zt_tls_ctx_free(cc);
		zt_tls_ctx_free(sc.tls);
	}
}

static void eof_ends_it(void **state)
{
	struct pair p;
	struct zt_quic_close_info ci;

	pair_up(&p, *state);
	zt_tcpouter_eof(p.s.t, p.now, -ECONNRESET, NULL);
	assert_int_equal(zt_tcpouter_state(p.s.t), ZT_QUIC_CLOSED);
	zt_tcpouter_close_info(p.s.t, &ci);
	assert_int_equal(ci.err, -ECONNRESET);
	assert_true(ci.by_peer);
	zt_tcpouter_eof(p.c.t, p.now, -ECONNREFUSED, "the proxy refused");
	zt_tcpouter_close_info(p.c.t, &ci);
	assert_string_equal(ci.reason, "the proxy refused");
	assert_int_equal(zt_tcpouter_dgram_send(p.c.t, "x", 1), ZT_ESTATE);
	assert_int_equal(zt_tcpouter_ctrl_write(p.c.t, "x", 1), ZT_ESTATE);
	pair_down(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(ctrl_dgram_close),
		cmocka_unit_test(control_input_is_bounded),
		cmocka_unit_test(dgram_drop_ping_idle),
		cmocka_unit_test(garbage_malformed_silence),
		cmocka_unit_test(eof_ends_it),
	};

	return cmocka_run_group_tests(tests, qh_fixture_setup, qh_fixture_teardown);
}
