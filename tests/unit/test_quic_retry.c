/*
 * quic/retry.h: Retry packets and their tokens (RFC 9000 s8.1.2, s17.2.5), with a
 * real client connection (ngtcp2 + GnuTLS, quic/conn.h) on the other side: the client
 * follows the Retry and repeats the token; the token verifies only from its address,
 * for the connection ID the Retry named, under the same secret, within its lifetime;
 * a connection accepted with it completes its handshake (the client checks the
 * original and Retry connection IDs in our transport parameters); an INVALID_TOKEN
 * close ends the client's attempt.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include <ngtcp2/ngtcp2.h>

#include "core/err.h"
#include "core/units.h"
#include "quic/conn.h"
#include "quic/pki.h"
#include "quic/retry.h"
#include "quic_harness.h"

#define T0 (1000 * ZT_SEC)
#define LIFE (10 * ZT_SEC)

static const uint8_t secret[32] = "ztna-test-retry-secret-123456789";

struct rt {
	struct qh_fixture *f;
	struct zt_tls_ctx *ctls, *stls;
	struct zt_quic_conn *client;
	struct zt_quic_path cpath;      /* the client's view */
	struct zt_addr caddr, saddr;
	struct zt_quic_retry *r;
	uint8_t first[1500], second[1500];
	size_t first_len, second_len;
	struct zt_quic_initial ini1, ini2;
};

static void rt_init(struct rt *t, struct qh_fixture *f)
{
	struct zt_tls_config cc = { .side = ZT_TLS_CLIENT, .alpn = ZT_ALPN_OUTER,
				    .ca_pem = f->pki.ca.cert, .cert_pem = f->pki.alice.cert,
				    .key_pem = f->pki.alice.key };
	struct zt_tls_config sc = { .side = ZT_TLS_SERVER, .alpn = ZT_ALPN_OUTER,
				    .ca_pem = f->pki.ca.cert, .cert_pem = f->pki.intermediate.cert,
				    .key_pem = f->pki.intermediate.key, .require_peer_cert = true };
	struct zt_quic_config qc = { .rng = &f->rng };
	struct zt_quic_path out;
	int n;

	memset(t, 0, sizeof(*t));
	t->f = f;
	t->caddr = qh_addr("192.0.2.7:5000");
	t->saddr = qh_addr("127.0.0.1:4433");
	assert_int_equal(zt_tls_ctx_new(&t->ctls, &cc), 0);
	assert_int_equal(zt_tls_ctx_new(&t->stls, &sc), 0);
	assert_int_equal(zt_quic_retry_new(&t->r, secret, sizeof(secret)), 0);
	qc.tls = t->ctls;
	t->cpath = (struct zt_quic_path){ .local = t->caddr, .remote = t->saddr };
	assert_int_equal(zt_quic_conn_connect(&t->client, &qc, ZT_PKI_INTERMEDIATE_DNS, &t->cpath,
					      NULL, T0), 0);
	n = zt_quic_conn_poll_send(t->client, T0, t->first, sizeof(t->first), &out);
	assert_true(n >= 1200);
	t->first_len = (size_t)n;
	assert_int_equal(zt_quic_initial_parse(t->first, t->first_len, &t->ini1), 0);
}

/* The server answers the first Initial with a Retry; the client sends its next. */
static void rt_retry(struct rt *t, uint64_t now)
{
	uint8_t retry[ZT_QUIC_RETRY_MAX];
	struct zt_quic_path out;
	int n;

	n = zt_quic_retry_write(t->r, now, &t->f->rng, &t->caddr, &t->ini1, retry, sizeof(retry));
	assert_true(n > 0 && n <= ZT_QUIC_RETRY_MAX);
	assert_int_equal(retry[0] & 0xf0, 0xf0); /* long header, type Retry */
	assert_int_equal(zt_quic_conn_recv(t->client, now, &t->cpath, retry, (size_t)n), 0);
	n = zt_quic_conn_poll_send(t->client, now, t->second, sizeof(t->second), &out);
	assert_true(n >= 1200);
	t->second_len = (size_t)n;
	assert_int_equal(zt_quic_initial_parse(t->second, t->second_len, &t->ini2), 0);
}

static void rt_fini(struct rt *t)
{
	zt_quic_conn_free(t->client);
	zt_quic_retry_free(t->r);
	zt_tls_ctx_free(t->ctls);
	zt_tls_ctx_free(t->stls);
}

static void initial_parse(void **state)
{
	struct rt t;
	struct zt_quic_initial ini;
	uint8_t pkt[1500];

	rt_init(&t, *state);
	assert_int_equal(t.ini1.version, 1);
	assert_int_equal(t.ini1.dcid_len, ZT_QUIC_CID_LEN);
	assert_int_equal(t.ini1.scid_len, ZT_QUIC_CID_LEN);
	assert_null(t.ini1.token);
	assert_int_equal(t.ini1.token_len, 0);
	/* RFC 9000 s14.1: an Initial in a datagram under 1200 bytes is dropped. */
	assert_int_equal(zt_quic_initial_parse(t.first, 1199, &ini), ZT_EMALFORMED);
	/* a short header, a Handshake packet, another version */
	memcpy(pkt, t.first, t.first_len);
	pkt[0] = 0x40;
	assert_int_equal(zt_quic_initial_parse(pkt, t.first_len, &ini), ZT_EMALFORMED);
	memcpy(pkt, t.first, t.first_len);
	pkt[0] = (uint8_t)((pkt[0] & 0xcf) | 0x20);
	assert_int_equal(zt_quic_initial_parse(pkt, t.first_len, &ini), ZT_EMALFORMED);
	memcpy(pkt, t.first, t.first_len);
	pkt[4] = 2;
	assert_int_equal(zt_quic_initial_parse(pkt, t.first_len, &ini), ZT_EMALFORMED);
	assert_int_equal(zt_quic_initial_parse(pkt, 0, &ini), ZT_EMALFORMED);
	rt_fini(&t);
}

static void client_follows_retry_and_token_verifies(void **state)
{
	struct rt t;
	uint8_t odcid[ZT_QUIC_CID_MAX];
	size_t olen = 0;

	rt_init(&t, *state);
	rt_retry(&t, T0 + ZT_MS);
	/* the client repeats our token, to the connection ID the Retry gave */
	assert_non_null(t.ini2.token);
	assert_true(t.ini2.token_len <= ZT_QUIC_RETRY_TOKEN_MAX);
	assert_int_equal(t.ini2.dcid_len, ZT_QUIC_CID_LEN);
	assert_memory_not_equal(t.ini2.dcid, t.ini1.dcid, ZT_QUIC_CID_LEN);
	assert_memory_equal(t.ini2.scid, t.ini1.scid, ZT_QUIC_CID_LEN);
	assert_int_equal(zt_quic_retry_check(t.r, T0 + 2 * ZT_MS, LIFE, &t.caddr, &t.ini2, odcid,
					     &olen), 0);
	assert_int_equal(olen, t.ini1.dcid_len);
	assert_memory_equal(odcid, t.ini1.dcid, olen);
	/* good until the end of its lifetime */
	assert_int_equal(zt_quic_retry_check(t.r, T0 + ZT_MS + LIFE, LIFE, &t.caddr, &t.ini2, odcid,
					     &olen), 0);
	rt_fini(&t);
}

static void token_bound_to_address_cid_secret_and_time(void **state)
{
	struct rt t;
	struct zt_quic_retry *other;
	struct zt_quic_initial ini;
	struct zt_addr a;
	uint8_t odcid[ZT_QUIC_CID_MAX], tok[ZT_QUIC_RETRY_TOKEN_MAX];
	size_t olen = 77;
	uint64_t now = T0 + 2 * ZT_MS;

	rt_init(&t, *state);
	rt_retry(&t, T0 + ZT_MS);
	/* another IP, another port */
	a = qh_addr("192.0.2.8:5000");
	assert_int_equal(zt_quic_retry_check(t.r, now, LIFE, &a, &t.ini2, odcid, &olen), ZT_EAUTH);
	a = qh_addr("192.0.2.7:5001");
	assert_int_equal(zt_quic_retry_check(t.r, now, LIFE, &a, &t.ini2, odcid, &olen), ZT_EAUTH);
	/* expired, or issued "in the future" */
	assert_int_equal(zt_quic_retry_check(t.r, T0 + ZT_MS + LIFE + 1, LIFE, &t.caddr, &t.ini2,
					     odcid, &olen), ZT_ETIMEOUT);
	assert_int_equal(zt_quic_retry_check(t.r, T0, LIFE, &t.caddr, &t.ini2, odcid, &olen),
			 ZT_ETIMEOUT);
	/* another secret: another Intermediate, or a restart with a random key */
	assert_int_equal(zt_quic_retry_new(&other, (const uint8_t *)"another-secret-0123456789", 25), 0);
	assert_int_equal(zt_quic_retry_check(other, now, LIFE, &t.caddr, &t.ini2, odcid, &olen),
			 ZT_EAUTH);
	zt_quic_retry_free(other);
	/* the token with another connection ID, or another version */
	ini = t.ini2;
	ini.dcid[0] ^= 1;
	assert_int_equal(zt_quic_retry_check(t.r, now, LIFE, &t.caddr, &ini, odcid, &olen), ZT_EAUTH);
	ini = t.ini2;
	ini.version = 0xff00001d;
	assert_int_equal(zt_quic_retry_check(t.r, now, LIFE, &t.caddr, &ini, odcid, &olen), ZT_EAUTH);
	/* any byte changed */
	for (size_t i = 1; i < t.ini2.token_len; i++) {
		ini = t.ini2;
		memcpy(tok, t.ini2.token, t.ini2.token_len);
		tok[i] ^= 0x80;
		ini.token = tok;
		assert_int_equal(zt_quic_retry_check(t.r, now, LIFE, &t.caddr, &ini, odcid, &olen),
				 ZT_EAUTH);
	}
	/* not ours: no token, another magic byte, cut short, too long */
	assert_int_equal(zt_quic_retry_check(t.r, now, LIFE, &t.caddr, &t.ini1, odcid, &olen),
			 ZT_EMALFORMED);
	ini = t.ini2;
	memcpy(tok, t.ini2.token, t.ini2.token_len);
	tok[0] = 0xb6;
	ini.token = tok;
	assert_int_equal(zt_quic_retry_check(t.r, now, LIFE, &t.caddr, &ini, odcid, &olen),
			 ZT_EMALFORMED);
	ini = t.ini2;
	ini.token_len = 20;
	assert_int_equal(zt_quic_retry_check(t.r, now, LIFE, &t.caddr, &ini, odcid, &olen),
			 ZT_EMALFORMED);
	ini.token_len = ZT_QUIC_RETRY_TOKEN_MAX + 1;
	assert_int_equal(zt_quic_retry_check(t.r, now, LIFE, &t.caddr, &ini, odcid, &olen),
			 ZT_EMALFORMED);
	assert_int_equal(olen, 77); /* untouched on failure */
	rt_fini(&t);
}

/* Exchange packets between the client and server until both are established. */
static bool pump(struct rt *t, struct zt_quic_conn *srv, const struct zt_quic_path *spath,
		 uint64_t now)
{
	uint8_t buf[1500];
	struct zt_quic_path out;
	int n;

	for (int round = 0; round < 200; round++, now += ZT_MS) {
		if (zt_quic_conn_next_deadline(t->client) <= now)
			zt_quic_conn_on_timeout(t->client, now);
		if (zt_quic_conn_next_deadline(srv) <= now)
			zt_quic_conn_on_timeout(srv, now);
		while ((n = zt_quic_conn_poll_send(t->client, now, buf, sizeof(buf), &out)) > 0)
			zt_quic_conn_recv(srv, now, spath, buf, (size_t)n);
		while ((n = zt_quic_conn_poll_send(srv, now, buf, sizeof(buf), &out)) > 0)
			zt_quic_conn_recv(t->client, now, &t->cpath, buf, (size_t)n);
		if (zt_quic_conn_state(t->client) != ZT_QUIC_HANDSHAKING &&
		    zt_quic_conn_state(srv) != ZT_QUIC_HANDSHAKING)
			break;
	}
	return zt_quic_conn_state(t->client) == ZT_QUIC_ESTABLISHED &&
	       zt_quic_conn_state(srv) == ZT_QUIC_ESTABLISHED;
}

static void accept_retried(struct rt *t, const uint8_t *odcid, size_t olen,
			   struct zt_quic_conn **ret)
{
	struct zt_quic_config sc = { .tls = t->stls, .rng = &t->f->rng };
	struct zt_quic_path spath = { .local = t->saddr, .remote = t->caddr };
	struct zt_quic_retried rt = { .odcid = odcid, .odcid_len = olen, .token = t->ini2.token,
				      .token_len = t->ini2.token_len };

	assert_int_equal(zt_quic_conn_accept_retried(ret, &sc, &spath, t->second, t->second_len,
						     &rt, NULL, T0 + 2 * ZT_MS), 0);
}

static void handshake_after_retry(void **state)
{
	struct rt t;
	struct zt_quic_conn *srv;
	struct zt_quic_path spath;
	uint8_t odcid[ZT_QUIC_CID_MAX];
	size_t olen;

	rt_init(&t, *state);
	rt_retry(&t, T0 + ZT_MS);
	assert_int_equal(zt_quic_retry_check(t.r, T0 + 2 * ZT_MS, LIFE, &t.caddr, &t.ini2, odcid,
					     &olen), 0);
	accept_retried(&t, odcid, olen, &srv);
	spath = (struct zt_quic_path){ .local = t.saddr, .remote = t.caddr };
	assert_true(pump(&t, srv, &spath, T0 + 3 * ZT_MS));
	zt_quic_conn_free(srv);
	rt_fini(&t);
}

/* RFC 9000 s7.3: a server that names the wrong original connection ID after a Retry
 * is refused by the client (so a token must carry the real one). */
static void client_refuses_wrong_original_cid(void **state)
{
	struct rt t;
	struct zt_quic_conn *srv;
	struct zt_quic_path spath;
	struct zt_quic_close_info ci;
	uint8_t wrong[ZT_QUIC_CID_LEN];

	rt_init(&t, *state);
	rt_retry(&t, T0 + ZT_MS);
	memcpy(wrong, t.ini1.dcid, sizeof(wrong));
	wrong[0] ^= 1;
	accept_retried(&t, wrong, sizeof(wrong), &srv);
	spath = (struct zt_quic_path){ .local = t.saddr, .remote = t.caddr };
	assert_false(pump(&t, srv, &spath, T0 + 3 * ZT_MS));
	assert_true(zt_quic_conn_state(t.client) >= ZT_QUIC_CLOSING);
	zt_quic_conn_close_info(t.client, &ci);
	assert_false(ci.by_peer);
	assert_false(ci.app);
	assert_int_equal(ci.code, 0x08); /* TRANSPORT_PARAMETER_ERROR */
	zt_quic_conn_free(srv);
	rt_fini(&t);
}

static void invalid_token_close_ends_the_attempt(void **state)
{
	struct rt t;
	struct zt_quic_close_info ci;
	uint8_t out[ZT_QUIC_INVALID_TOKEN_MAX];
	int n;

	rt_init(&t, *state);
	rt_retry(&t, T0 + ZT_MS);
	n = zt_quic_write_invalid_token(&t.ini2, out, sizeof(out));
	assert_true(n > 0 && (size_t)n < t.second_len);
	assert_int_equal(zt_quic_write_invalid_token(&t.ini2, out, 40), -ENOBUFS);
	zt_quic_conn_recv(t.client, T0 + 2 * ZT_MS, &t.cpath, out, (size_t)n);
	assert_true(zt_quic_conn_state(t.client) >= ZT_QUIC_DRAINING);
	zt_quic_conn_close_info(t.client, &ci);
	assert_true(ci.by_peer);
	assert_false(ci.app);
	assert_int_equal(ci.code, 0x0b); /* INVALID_TOKEN */
	rt_fini(&t);
}

static void sizes_and_arguments(void **state)
{
	struct rt t;
	struct zt_quic_retry *r;
	uint8_t out[ZT_QUIC_RETRY_MAX];

	rt_init(&t, *state);
	assert_int_equal(zt_quic_retry_new(&r, secret, 15), -EINVAL);
	assert_int_equal(zt_quic_retry_new(&r, NULL, 32), -EINVAL);
	assert_int_equal(zt_quic_retry_write(t.r, T0, &t.f->rng, &t.caddr, &t.ini1, out,
					     sizeof(out) - 1), -ENOBUFS);
	/* the longest connection IDs fit */
	t.ini1.dcid_len = t.ini1.scid_len = ZT_QUIC_CID_MAX;
	assert_true(zt_quic_retry_write(t.r, T0, &t.f->rng, &t.caddr, &t.ini1, out, sizeof(out)) > 0);
	zt_quic_retry_free(NULL);
	rt_fini(&t);
}

/* An rng whose first draw is the client's own connection ID. */
struct echo_rng {
	const uint8_t *first;
	size_t len;
	bool used;
	struct zt_prng prng;
};

static void echo_fill(void *ctx, uint8_t *buf, size_t len)
{
	struct echo_rng *e = ctx;

	if (!e->used && len == e->len) {
		memcpy(buf, e->first, len);
		e->used = true;
		return;
	}
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)zt_prng_next(&e->prng);
}

/* ngtcp2 aborts on a Retry whose connection ID is the client's original one (found by
 * tests/fuzz/fuzz_retry.c): another is drawn. */
static void retry_id_never_the_original(void **state)
{
	struct rt t;
	struct echo_rng e;
	struct zt_rng rng = { .fill = echo_fill, .ctx = &e };
	uint8_t retry[ZT_QUIC_RETRY_MAX];
	ngtcp2_pkt_hd hd;
	int n;

	rt_init(&t, *state);
	e = (struct echo_rng){ .first = t.ini1.dcid, .len = t.ini1.dcid_len };
	zt_prng_seed(&e.prng, 3);
	n = zt_quic_retry_write(t.r, T0, &rng, &t.caddr, &t.ini1, retry, sizeof(retry));
	assert_true(n > 0);
	assert_true(e.used);
	assert_true(ngtcp2_pkt_decode_hd_long(&hd, retry, (size_t)n) > 0);
	assert_int_equal(hd.type, NGTCP2_PKT_RETRY);
	assert_memory_not_equal(hd.scid.data, t.ini1.dcid, t.ini1.dcid_len);
	rt_fini(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(initial_parse),
		cmocka_unit_test(client_follows_retry_and_token_verifies),
		cmocka_unit_test(token_bound_to_address_cid_secret_and_time),
		cmocka_unit_test(handshake_after_retry),
		cmocka_unit_test(client_refuses_wrong_original_cid),
		cmocka_unit_test(invalid_token_close_ends_the_attempt),
		cmocka_unit_test(sizes_and_arguments),
		cmocka_unit_test(retry_id_never_the_original),
	};
	return cmocka_run_group_tests(tests, qh_fixture_setup, qh_fixture_teardown);
}
