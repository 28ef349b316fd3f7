/*
 * quic/tlsstream.h: TLS 1.3 over a byte stream, two ends joined in memory by the
 * test: the handshake with mutual authentication (identities, ALPN), plaintext both
 * ways through any split of the bytes (one byte at a time too), the bounded input,
 * close_notify; refusals: a client certificate of another CA, a server that is not
 * the name expected, the QUIC ALPN, garbage; each ends FAILED with a reason, and the
 * other end hears an alert.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "core/err.h"
#include "quic/tlsstream.h"
#include "quic_harness.h"

static struct zt_tls_ctx *ctx(const struct qh_fixture *f, enum zt_tls_side side, const char *alpn,
			      const struct zt_pki_pem *cred, const struct zt_pki_pem *ca)
{
	struct zt_tls_config cfg = { .side = side, .alpn = alpn, .ca_pem = ca->cert,
				     .cert_pem = cred->cert, .key_pem = cred->key,
				     .require_peer_cert = side == ZT_TLS_SERVER };
	struct zt_tls_ctx *c = NULL;
	(void)f;

	assert_int_equal(zt_tls_ctx_new(&c, &cfg), 0);
	return c;
}

/* Moves what a has to send into b, at most chunk bytes per feed. Returns the count. */
static size_t pipe_once(struct zt_tlsstream *a, struct zt_tlsstream *b, size_t chunk)
{
	const uint8_t *p;
	size_t n = zt_tlsstream_output(a, &p), moved = 0;

	while (moved < n) {
		size_t k = n - moved < chunk ? n - moved : chunk;
		size_t took = zt_tlsstream_feed(b, p + moved, k);
		if (!took)
			break; /* b is full: read it first */
		moved += took;
	}
	zt_tlsstream_sent(a, moved);
	return moved;
}

static void pump(struct zt_tlsstream *c, struct zt_tlsstream *s, size_t chunk)
{
	for (int i = 0; i < 100000; i++)
		if (!pipe_once(c, s, chunk) && !pipe_once(s, c, chunk))
			return;
}

struct ends {
	struct zt_tls_ctx *cctx, *sctx;
	struct zt_tlsstream *c, *s;
};

static void ends_up(struct ends *e, const struct qh_fixture *f, size_t chunk)
{
	e->cctx = ctx(f, ZT_TLS_CLIENT, ZT_ALPN_OUTER_TCP, &f->pki.alice, &f->pki.ca);
	e->sctx = ctx(f, ZT_TLS_SERVER, ZT_ALPN_OUTER_TCP, &f->pki.intermediate, &f->pki.ca);
	assert_int_equal(zt_tlsstream_new(&e->c, e->cctx, "127.0.0.1"), 0);
	assert_int_equal(zt_tlsstream_new(&e->s, e->sctx, NULL), 0);
	assert_int_equal(zt_tlsstream_state(e->c), ZT_TLSSTREAM_HANDSHAKE);
	pump(e->c, e->s, chunk);
}

static void ends_down(struct ends *e)
{
	zt_tlsstream_free(e->c);
	zt_tlsstream_free(e->s);
	zt_tls_ctx_free(e->cctx);
	zt_tls_ctx_free(e->sctx);
}

/* Reads what s has into buf (up to cap), pumping as needed. */
static size_t read_all(struct zt_tlsstream *from, struct zt_tlsstream *to, uint8_t *buf,
		       size_t cap, size_t want, size_t chunk)
{
	size_t got = 0;

	for (int i = 0; i < 100000 && got < want; i++) {
		int n = zt_tlsstream_read(to, buf + got, cap - got);
		if (n > 0) {
			got += (size_t)n;
			continue;
		}
		assert_int_equal(n, -EAGAIN);
		if (!pipe_once(from, to, chunk))
			break;
	}
	return got;
}

static void handshake_identities_and_data(void **state)
{
	struct qh_fixture *f = *state;
	static uint8_t big[300000], got[300000];
	struct ends e;
	char id[256];
	const char *alpn;
	const uint8_t *out;
	size_t n;

	ends_up(&e, f, 100000);
	assert_int_equal(zt_tlsstream_state(e.c), ZT_TLSSTREAM_OPEN);
	assert_int_equal(zt_tlsstream_state(e.s), ZT_TLSSTREAM_OPEN);
	assert_true(zt_tls_session_peer_identity(zt_tlsstream_tls(e.s), id, sizeof(id)) > 0);
	assert_string_equal(id, "ztna:agent:alice");
	alpn = zt_tls_session_alpn(zt_tlsstream_tls(e.c), &n);
	assert_int_equal(n, strlen(ZT_ALPN_OUTER_TCP));
	assert_memory_equal(alpn, ZT_ALPN_OUTER_TCP, n);

	/* both ways, more than the input holds: read as it comes */
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 7 + i / 251);
	assert_int_equal(zt_tlsstream_write(e.c, big, sizeof(big)), (int)sizeof(big));
	assert_int_equal(read_all(e.c, e.s, got, sizeof(got), sizeof(big), 5000), sizeof(big));
	assert_memory_equal(got, big, sizeof(big));
	assert_int_equal(zt_tlsstream_write(e.s, "pong", 4), 4);
	assert_int_equal(read_all(e.s, e.c, got, sizeof(got), 4, 1), 4);
	assert_memory_equal(got, "pong", 4);
	assert_int_equal(zt_tlsstream_read(e.c, got, sizeof(got)), -EAGAIN);
	/* all sent: neither end holds an output buffer */
	assert_int_equal(zt_tlsstream_output(e.c, &out), 0);
	assert_null(out);
	assert_int_equal(zt_tlsstream_output(e.s, &out), 0);
	assert_null(out);

	/* close_notify: the other end reads the end */
	zt_tlsstream_close(e.c);
	assert_int_equal(zt_tlsstream_write(e.c, "x", 1), ZT_ESTATE);
	pipe_once(e.c, e.s, 1000);
	assert_int_equal(zt_tlsstream_read(e.s, got, sizeof(got)), 0);
	assert_int_equal(zt_tlsstream_state(e.s), ZT_TLSSTREAM_CLOSED);
	ends_down(&e);
}

static void byte_by_byte(void **state)
{
	struct qh_fixture *f = *state;
	struct ends e;
	uint8_t got[64];

	ends_up(&e, f, 1);
	assert_int_equal(zt_tlsstream_state(e.c), ZT_TLSSTREAM_OPEN);
	assert_int_equal(zt_tlsstream_state(e.s), ZT_TLSSTREAM_OPEN);
	assert_int_equal(zt_tlsstream_write(e.s, "hello", 5), 5);
	assert_int_equal(read_all(e.s, e.c, got, sizeof(got), 5, 1), 5);
	assert_memory_equal(got, "hello", 5);
	ends_down(&e);
}

static void before_the_handshake(void **state)
{
	struct qh_fixture *f = *state;
	struct zt_tls_ctx *cc = ctx(f, ZT_TLS_CLIENT, ZT_ALPN_OUTER_TCP, &f->pki.alice, &f->pki.ca);
	struct zt_tlsstream *c;
	const uint8_t *p;
	uint8_t b[16];

	assert_int_equal(zt_tlsstream_new(&c, cc, "127.0.0.1"), 0);
	assert_true(zt_tlsstream_output(c, &p) > 100); /* the ClientHello */
	assert_int_equal(p[0], 22);                      /* a handshake record */
	assert_int_equal(zt_tlsstream_write(c, "x", 1), ZT_ESTATE);
	assert_int_equal(zt_tlsstream_read(c, b, sizeof(b)), ZT_ESTATE);
	assert_int_equal(zt_tlsstream_new(&c, cc, NULL), -EINVAL); /* a client needs a name */
	zt_tlsstream_free(c);
	zt_tls_ctx_free(cc);
}

static void expect_failed(struct zt_tlsstream *t, const char *why)
{
	char text[512];

	assert_int_equal(zt_tlsstream_state(t), ZT_TLSSTREAM_FAILED);
	assert_int_equal(zt_tlsstream_error(t, text, sizeof(text)), ZT_ETLS);
	assert_true(strlen(text) > 0);
	if (why && !strstr(text, why))
		fail_msg("'%s' does not say '%s'", text, why);
}

static void refusals(void **state)
{
	struct qh_fixture *f = *state;
	struct zt_tls_ctx *cc, *sc, *rogue, *quic;
	struct zt_tlsstream *c, *s;
	uint8_t b[64];

	sc = ctx(f, ZT_TLS_SERVER, ZT_ALPN_OUTER_TCP, &f->pki.intermediate, &f->pki.ca);
	/* a client whose certificate another CA signed */
	rogue = ctx(f, ZT_TLS_CLIENT, ZT_ALPN_OUTER_TCP, &f->pki.mallory, &f->pki.ca);
	assert_int_equal(zt_tlsstream_new(&c, rogue, "127.0.0.1"), 0);
	assert_int_equal(zt_tlsstream_new(&s, sc, NULL), 0);
	pump(c, s, 100000);
	expect_failed(s, "NOT trusted");
	/* TLS 1.3: the client's handshake is done when it sent its certificate; it hears
	 * the alert with its first read */
	assert_int_equal(zt_tlsstream_read(c, b, sizeof(b)), ZT_ETLS);
	expect_failed(c, NULL);
	assert_int_equal(zt_tlsstream_read(s, b, sizeof(b)), ZT_ETLS);
	zt_tlsstream_free(c);
	zt_tlsstream_free(s);

	/* a server that is not the name the client expects */
	cc = ctx(f, ZT_TLS_CLIENT, ZT_ALPN_OUTER_TCP, &f->pki.alice, &f->pki.ca);
	assert_int_equal(zt_tlsstream_new(&c, cc, "other.ztna"), 0);
	assert_int_equal(zt_tlsstream_new(&s, sc, NULL), 0);
	pump(c, s, 100000);
	expect_failed(c, "name");
	zt_tlsstream_free(c);
	zt_tlsstream_free(s);

	/* the QUIC ALPN on the TCP port */
	quic = ctx(f, ZT_TLS_CLIENT, ZT_ALPN_OUTER, &f->pki.alice, &f->pki.ca);
	assert_int_equal(zt_tlsstream_new(&c, quic, "127.0.0.1"), 0);
	assert_int_equal(zt_tlsstream_new(&s, sc, NULL), 0);
	pump(c, s, 100000);
	expect_failed(s, NULL);
	zt_tlsstream_free(c);
	zt_tlsstream_free(s);

	/* garbage */
	assert_int_equal(zt_tlsstream_new(&s, sc, NULL), 0);
	memset(b, 0x41, sizeof(b));
	assert_int_equal(zt_tlsstream_feed(s, b, sizeof(b)), sizeof(b));
	expect_failed(s, NULL);
	assert_int_equal(zt_tlsstream_feed(s, b, sizeof(b)), sizeof(b)); /* dropped */
	zt_tlsstream_free(s);
	zt_tls_ctx_free(cc);
	zt_tls_ctx_free(quic);
	zt_tls_ctx_free(rogue);
	zt_tls_ctx_free(sc);
}

/* The input takes no more than it holds; reading makes room. */
static void input_is_bounded(void **state)
{
	struct qh_fixture *f = *state;
	static uint8_t big[200000], got[200000];
	struct ends e;
	const uint8_t *p;
	size_t n, took;

	ends_up(&e, f, 100000);
	memset(big, 0x5a, sizeof(big));
	assert_int_equal(zt_tlsstream_write(e.c, big, sizeof(big)), (int)sizeof(big));
	n = zt_tlsstream_output(e.c, &p);
	assert_true(n > sizeof(big));
	took = zt_tlsstream_feed(e.s, p, n);
	assert_int_equal(took, ZT_TLSSTREAM_IN_MAX);
	zt_tlsstream_sent(e.c, took);
	assert_int_equal(read_all(e.c, e.s, got, sizeof(got), sizeof(big), 100000), sizeof(big));
	assert_memory_equal(got, big, sizeof(big));
	ends_down(&e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(handshake_identities_and_data),
		cmocka_unit_test(byte_by_byte),
		cmocka_unit_test(before_the_handshake),
		cmocka_unit_test(refusals),
		cmocka_unit_test(input_is_bounded),
	};

	return cmocka_run_group_tests(tests, qh_fixture_setup, qh_fixture_teardown);
}
