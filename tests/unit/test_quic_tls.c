/* Handshakes through quic/tls.h + quic/conn.h on the in-memory wire: certificate
 * verification both ways, ALPN, identities, key log and qlog output. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/units.h"
#include "quic/conn.h"
#include "quic/tls.h"
#include "quic_harness.h"


struct side {
	const char *alpn;
	const char *ca;
	const char *cert, *key;
	bool require_peer_cert;
};

struct hs {
	struct qh_net net;
	struct qh_node srv, cli;
	struct zt_tls_ctx *stls, *ctls;
	struct zt_quic_config scfg, ccfg;
	struct zt_quic_callbacks cb;
	struct zt_quic_conn *client;
	int srv_done, cli_done;
	unsigned keylog_lines, keylog_bad;
	size_t qlog_bytes;
	bool qlog_fin, qlog_has_version;
	unsigned dgrams[2];          /* DATAGRAMs received: [0] by the client, [1] server */
	char got[16];                /* stream bytes the server read */
	size_t got_len;
};

static void on_handshake(struct zt_quic_conn *c, void *arg)
{
	struct hs *h = arg;

	if (zt_quic_conn_is_server(c))
		h->srv_done++;
	else
		h->cli_done++;
}

static void on_dgram(struct zt_quic_conn *c, void *arg, const uint8_t *data, size_t len)
{
	struct hs *h = arg;
	(void)data;
	(void)len;
	h->dgrams[zt_quic_conn_is_server(c)]++;
}

static void on_readable(struct zt_quic_conn *c, void *arg, int64_t sid, void *sarg)
{
	struct hs *h = arg;
	bool fin;
	int n;
	(void)sarg;

	n = zt_quic_stream_read(c, sid, h->got + h->got_len, sizeof(h->got) - h->got_len, &fin);
	if (n > 0)
		h->got_len += (size_t)n;
}

static void on_keylog(void *arg, const char *line)
{
	struct hs *h = arg;
	const char *sp1 = strchr(line, ' '), *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;

	h->keylog_lines++;
	/* "LABEL <32-byte client random, hex> <secret, hex>" */
	if (!sp1 || !sp2 || sp2 - sp1 - 1 != 64 || strlen(sp2 + 1) < 64 ||
	    strspn(sp1 + 1, "0123456789abcdef ") != strlen(sp1 + 1))
		h->keylog_bad++;
}

static void on_qlog(void *arg, const void *data, size_t len, bool fin)
{
	struct hs *h = arg;

	h->qlog_bytes += len;
	if (fin)
		h->qlog_fin = true;
	if (qh_contains(data, len, (const uint8_t *)"qlog_version", 12))
		h->qlog_has_version = true;
}

static int make_tls(struct zt_tls_ctx **ret, enum zt_tls_side side, const struct side *s,
		    struct hs *h, bool keylog)
{
	struct zt_tls_config cfg = {
		.side = side,
		.alpn = s->alpn,
		.ca_pem = s->ca,
		.cert_pem = s->cert,
		.key_pem = s->key,
		.require_peer_cert = s->require_peer_cert,
		.keylog = keylog ? on_keylog : NULL,
		.keylog_arg = h,
	};
	return zt_tls_ctx_new(ret, &cfg);
}

/* Set up a server at 127.0.0.1:4433 and a client at 127.0.0.2:5000 and start the
 * client toward server_name. */
static void hs_start(struct qh_fixture *f, struct hs *h, const struct side *srv,
		     const struct side *cli, const char *server_name, bool extras)
{
	struct zt_quic_path path;

	memset(h, 0, sizeof(*h));
	qh_net_init(&h->net, 5 * ZT_MS);
	qh_node_init(&h->srv, &h->net, "127.0.0.1:4433", &f->rng);
	qh_node_init(&h->cli, &h->net, "127.0.0.2:5000", &f->rng);
	assert_int_equal(make_tls(&h->stls, ZT_TLS_SERVER, srv, h, false), 0);
	assert_int_equal(make_tls(&h->ctls, ZT_TLS_CLIENT, cli, h, extras), 0);
	h->cb = (struct zt_quic_callbacks){ .handshake_done = on_handshake, .datagram = on_dgram,
					    .stream_readable = on_readable };
	h->scfg = (struct zt_quic_config){ .tls = h->stls, .rng = &f->rng, .cidmap = h->srv.map,
					   .cb = &h->cb };
	h->ccfg = (struct zt_quic_config){ .tls = h->ctls, .rng = &f->rng, .cidmap = h->cli.map,
					   .cb = &h->cb };
	if (getenv("QH_LOG")) {
		h->ccfg.log = qh_log_line;
		h->ccfg.log_arg = "cli";
		h->scfg.log = qh_log_line;
		h->scfg.log_arg = "srv";
	}
	if (extras) {
		h->ccfg.qlog = on_qlog;
		h->ccfg.qlog_arg = h;
	}
	h->srv.accept_cfg = &h->scfg;
	h->srv.accept_arg = h;
	path = (struct zt_quic_path){ .local = h->cli.addr, .remote = h->srv.addr };
	assert_int_equal(zt_quic_conn_connect(&h->client, &h->ccfg, server_name, &path, h,
					      h->net.now), 0);
	qh_node_add(&h->cli, h->client);
}

static void hs_end(struct hs *h)
{
	qh_node_fini(&h->cli);
	qh_node_fini(&h->srv);
	qh_net_fini(&h->net);
	zt_tls_ctx_free(h->stls);
	zt_tls_ctx_free(h->ctls);
}

static bool both_established(void *arg, uint64_t now)
{
	struct hs *h = arg;
	(void)now;
	return h->srv_done && h->cli_done;
}

/* Both sides at rest: every connection closed. */
static bool all_closed(void *arg, uint64_t now)
{
	struct hs *h = arg;
	(void)now;
	if (zt_quic_conn_state(h->client) != ZT_QUIC_CLOSED)
		return false;
	for (size_t i = 0; i < h->srv.nconns; i++)
		if (zt_quic_conn_state(h->srv.conns[i]) != ZT_QUIC_CLOSED)
			return false;
	return true;
}

static void outer_mutual_ok(void **state)
{
	struct qh_fixture *f = *state;
	struct side srv = { .alpn = ZT_ALPN_OUTER, .ca = f->pki.ca.cert, .cert = f->pki.intermediate.cert,
			    .key = f->pki.intermediate.key, .require_peer_cert = true };
	struct side cli = { .alpn = ZT_ALPN_OUTER, .ca = f->pki.ca.cert, .cert = f->pki.alice.cert,
			    .key = f->pki.alice.key };
	char id[ZT_PKI_IDENTITY_MAX];
	const char *alpn;
	size_t alen = 0;
	struct hs h;
	struct zt_quic_stats st;

	hs_start(f, &h, &srv, &cli, ZT_PKI_INTERMEDIATE_DNS, true);
	assert_true(qh_run(&h.net, both_established, &h, h.net.now + 2 * ZT_SEC));
	assert_int_equal(h.srv.nconns, 1);
	assert_int_equal(zt_quic_conn_state(h.client), ZT_QUIC_ESTABLISHED);
	assert_int_equal(zt_quic_conn_state(h.srv.conns[0]), ZT_QUIC_ESTABLISHED);
	assert_int_equal(h.cli_done, 1);
	assert_int_equal(h.srv_done, 1);

	assert_int_equal(zt_tls_session_peer_identity(zt_quic_conn_tls(h.srv.conns[0]), id,
						      sizeof(id)), 16);
	assert_string_equal(id, "ztna:agent:alice");
	assert_int_equal(zt_tls_session_peer_identity(zt_quic_conn_tls(h.client), id, sizeof(id)),
			 23);
	assert_string_equal(id, "ztna:intermediate:relay");
	assert_int_equal(zt_tls_session_peer_identity(zt_quic_conn_tls(h.client), id, 8), -ENOBUFS);
	alpn = zt_tls_session_alpn(zt_quic_conn_tls(h.client), &alen);
	assert_non_null(alpn);
	assert_int_equal(alen, strlen(ZT_ALPN_OUTER));
	assert_memory_equal(alpn, ZT_ALPN_OUTER, alen);
	assert_int_equal(zt_tls_session_verify_error(zt_quic_conn_tls(h.client), id, sizeof(id)), 0);

	/* The key log: the four TLS 1.3 traffic secrets, well-formed. */
	assert_true(h.keylog_lines >= 4);
	assert_int_equal(h.keylog_bad, 0);

	/* RTT over a 5 ms one-way wire. */
	zt_quic_conn_stats(h.client, &st);
	assert_in_range(st.srtt_ns, 10 * ZT_MS, 12 * ZT_MS);

	/* A clean close: the server learns the code and reason. */
	assert_int_equal(zt_quic_conn_close(h.client, 0, "bye"), 0);
	assert_int_equal(zt_quic_conn_close(h.client, 0, "again"), ZT_ESTATE);
	assert_true(qh_run(&h.net, all_closed, &h, h.net.now + 5 * ZT_SEC));
	{
		struct zt_quic_close_info ci;
		zt_quic_conn_close_info(h.srv.conns[0], &ci);
		assert_true(ci.by_peer);
		assert_true(ci.app);
		assert_int_equal(ci.code, 0);
		assert_int_equal(ci.err, 0);
		assert_string_equal(ci.reason, "bye");
	}
	assert_true(h.qlog_fin || h.qlog_bytes > 0);
	assert_true(h.qlog_has_version);
	hs_end(&h);
}

/* The client verifies an IP literal against the certificate's IP SANs. */
static void outer_by_ip(void **state)
{
	struct qh_fixture *f = *state;
	struct side srv = { .alpn = ZT_ALPN_OUTER, .ca = f->pki.ca.cert, .cert = f->pki.intermediate.cert,
			    .key = f->pki.intermediate.key, .require_peer_cert = true };
	struct side cli = { .alpn = ZT_ALPN_OUTER, .ca = f->pki.ca.cert, .cert = f->pki.c1.cert,
			    .key = f->pki.c1.key };
	char id[ZT_PKI_IDENTITY_MAX];
	struct hs h;

	hs_start(f, &h, &srv, &cli, "127.0.0.1", false);
	assert_true(qh_run(&h.net, both_established, &h, h.net.now + 2 * ZT_SEC));
	assert_int_equal(zt_tls_session_peer_identity(zt_quic_conn_tls(h.srv.conns[0]), id,
						      sizeof(id)), 17);
	assert_string_equal(id, "ztna:connector:c1");
	hs_end(&h);

	hs_start(f, &h, &srv, &cli, "127.0.0.9", false);
	assert_false(qh_run(&h.net, both_established, &h, h.net.now + 2 * ZT_SEC));
	assert_int_equal(h.cli_done + h.srv_done, 0);
	hs_end(&h);
}

/* A failed handshake: nobody reaches ESTABLISHED, both ends close, the failing side
 * with `local_err`, and the TLS error is reported as such on both sides. */
static void expect_failure(struct hs *h, bool client_fails, const char *reason_part)
{
	struct zt_quic_close_info ci, si;

	qh_run(&h->net, all_closed, h, h->net.now + 20 * ZT_SEC);
	assert_int_equal(h->cli_done, 0);
	assert_int_equal(h->srv_done, 0);
	assert_int_equal(zt_quic_conn_state(h->client), ZT_QUIC_CLOSED);
	zt_quic_conn_close_info(h->client, &ci);
	assert_int_equal(ci.err, ZT_ETLS);
	assert_int_equal(ci.by_peer, !client_fails);
	assert_int_equal(ci.code & ~0xffULL, 0x100); /* CRYPTO_ERROR + alert */
	if (reason_part && client_fails)
		assert_non_null(strstr(ci.reason, reason_part));
	assert_int_equal(h->srv.nconns, 1);
	assert_int_equal(zt_quic_conn_state(h->srv.conns[0]), ZT_QUIC_CLOSED);
	zt_quic_conn_close_info(h->srv.conns[0], &si);
	assert_int_equal(si.err, ZT_ETLS);
	assert_int_equal(si.by_peer, client_fails);
	assert_int_equal(si.code, ci.code);
}

static void wrong_ca(void **state)
{
	struct qh_fixture *f = *state;
	struct side srv = { .alpn = ZT_ALPN_OUTER, .ca = f->pki.ca.cert, .cert = f->pki.intermediate.cert,
			    .key = f->pki.intermediate.key, .require_peer_cert = true };
	struct side cli = { .alpn = ZT_ALPN_OUTER, .ca = f->pki.rogue_ca.cert, .cert = f->pki.alice.cert,
			    .key = f->pki.alice.key };
	struct hs h;

	hs_start(f, &h, &srv, &cli, ZT_PKI_INTERMEDIATE_DNS, false);
	expect_failure(&h, true, "NOT trusted");
	hs_end(&h);
}

static void wrong_name(void **state)
{
	struct qh_fixture *f = *state;
	struct side srv = { .alpn = ZT_ALPN_INNER, .ca = f->pki.ca.cert, .cert = f->pki.web.cert,
			    .key = f->pki.web.key, .require_peer_cert = true };
	struct side cli = { .alpn = ZT_ALPN_INNER, .ca = f->pki.ca.cert, .cert = f->pki.alice.cert,
			    .key = f->pki.alice.key };
	struct hs h;

	/* The right service proves itself... */
	hs_start(f, &h, &srv, &cli, "svc-web.ztna", false);
	assert_true(qh_run(&h.net, both_established, &h, h.net.now + 2 * ZT_SEC));
	hs_end(&h);
	/* ...and is refused when another one was asked for. */
	hs_start(f, &h, &srv, &cli, "svc-db.ztna", false);
	expect_failure(&h, true, "does not match");
	hs_end(&h);
}

/* A service certificate from another CA with the right name is refused too. */
static void impostor_service(void **state)
{
	struct qh_fixture *f = *state;
	struct side srv = { .alpn = ZT_ALPN_INNER, .ca = f->pki.ca.cert, .cert = f->pki.rogue_web.cert,
			    .key = f->pki.rogue_web.key, .require_peer_cert = true };
	struct side cli = { .alpn = ZT_ALPN_INNER, .ca = f->pki.ca.cert, .cert = f->pki.alice.cert,
			    .key = f->pki.alice.key };
	struct hs h;

	hs_start(f, &h, &srv, &cli, "svc-web.ztna", false);
	expect_failure(&h, true, "NOT trusted");
	hs_end(&h);
}

static void inner_missing_client_cert(void **state)
{
	struct qh_fixture *f = *state;
	struct side srv = { .alpn = ZT_ALPN_INNER, .ca = f->pki.ca.cert, .cert = f->pki.web.cert,
			    .key = f->pki.web.key, .require_peer_cert = true };
	struct side cli = { .alpn = ZT_ALPN_INNER, .ca = f->pki.ca.cert };
	struct hs h;

	hs_start(f, &h, &srv, &cli, "svc-web.ztna", false);
	expect_failure(&h, false, NULL);
	hs_end(&h);
}

static void inner_untrusted_client_cert(void **state)
{
	struct qh_fixture *f = *state;
	struct side srv = { .alpn = ZT_ALPN_INNER, .ca = f->pki.ca.cert, .cert = f->pki.web.cert,
			    .key = f->pki.web.key, .require_peer_cert = true };
	struct side cli = { .alpn = ZT_ALPN_INNER, .ca = f->pki.ca.cert, .cert = f->pki.mallory.cert,
			    .key = f->pki.mallory.key };
	struct hs h;

	hs_start(f, &h, &srv, &cli, "svc-web.ztna", false);
	expect_failure(&h, false, NULL);
	hs_end(&h);
}

/* A client that only has a server certificate (no client purpose) is refused. */
static void inner_wrong_purpose(void **state)
{
	struct qh_fixture *f = *state;
	struct side srv = { .alpn = ZT_ALPN_INNER, .ca = f->pki.ca.cert, .cert = f->pki.web.cert,
			    .key = f->pki.web.key, .require_peer_cert = true };
	/* a service's certificate only serves (an Intermediate's also serves as the client
	 * of a link to another, docs/scale-out.md) */
	struct side cli = { .alpn = ZT_ALPN_INNER, .ca = f->pki.ca.cert, .cert = f->pki.web.cert,
			    .key = f->pki.web.key };
	struct hs h;

	hs_start(f, &h, &srv, &cli, "svc-web.ztna", false);
	expect_failure(&h, false, NULL);
	hs_end(&h);
}

static void alpn_mismatch(void **state)
{
	struct qh_fixture *f = *state;
	struct side srv = { .alpn = ZT_ALPN_OUTER, .ca = f->pki.ca.cert, .cert = f->pki.intermediate.cert,
			    .key = f->pki.intermediate.key, .require_peer_cert = true };
	struct side cli = { .alpn = ZT_ALPN_INNER, .ca = f->pki.ca.cert, .cert = f->pki.alice.cert,
			    .key = f->pki.alice.key };
	struct hs h;

	hs_start(f, &h, &srv, &cli, ZT_PKI_INTERMEDIATE_DNS, false);
	expect_failure(&h, false, NULL);
	hs_end(&h);
}

static bool got_all(void *arg, uint64_t now)
{
	struct hs *h = arg;
	(void)now;
	return h->dgrams[0] && h->dgrams[1] && h->got_len == 5;
}

/* release_tls: the server frees its GnuTLS session once the handshake completed and
 * still tells the peer's identity; data flows both ways; CRYPTO data the client
 * sends afterwards (here a TLS KeyUpdate, which QUIC forbids: RFC 9001 s6) closes
 * the connection with CRYPTO_ERROR + unexpected_message. */
static void server_releases_tls(void **state)
{
	struct qh_fixture *f = *state;
	struct side srv = { .alpn = ZT_ALPN_OUTER, .ca = f->pki.ca.cert, .cert = f->pki.intermediate.cert,
			    .key = f->pki.intermediate.key, .require_peer_cert = true };
	struct side cli = { .alpn = ZT_ALPN_OUTER, .ca = f->pki.ca.cert, .cert = f->pki.alice.cert,
			    .key = f->pki.alice.key };
	static const uint8_t key_update[] = { 24, 0, 0, 1, 0 }; /* KeyUpdate, not requested */
	char id[ZT_PKI_IDENTITY_MAX];
	struct zt_quic_close_info ci, si;
	struct zt_tls_session *t;
	ngtcp2_crypto_conn_ref *ref;
	const char *alpn;
	size_t alen = 0;
	int64_t sid;
	struct hs h;

	hs_start(f, &h, &srv, &cli, ZT_PKI_INTERMEDIATE_DNS, false);
	h.scfg.release_tls = true;
	assert_true(qh_run(&h.net, both_established, &h, h.net.now + 2 * ZT_SEC));
	t = zt_quic_conn_tls(h.srv.conns[0]);
	assert_null(zt_tls_session_native(t));
	assert_non_null(zt_tls_session_native(zt_quic_conn_tls(h.client))); /* a client keeps it */
	assert_int_equal(zt_tls_session_peer_identity(t, id, sizeof(id)), 16);
	assert_string_equal(id, "ztna:agent:alice");
	assert_int_equal(zt_tls_session_peer_identity(t, id, 8), -ENOBUFS);
	alpn = zt_tls_session_alpn(t, &alen);
	assert_int_equal(alen, strlen(ZT_ALPN_OUTER));
	assert_memory_equal(alpn, ZT_ALPN_OUTER, alen);
	assert_int_equal(zt_tls_session_verify_error(t, id, sizeof(id)), 0);
	assert_int_equal(zt_tls_session_release(t), 0); /* again: nothing to do */

	/* The connection works on: a stream and DATAGRAMs both ways. */
	assert_int_equal(zt_quic_stream_open(h.client, &sid, NULL), 0);
	assert_int_equal(zt_quic_stream_write(h.client, sid, "hello", 5), 5);
	assert_int_equal(zt_quic_dgram_send(h.client, "d", 1), 0);
	assert_int_equal(zt_quic_dgram_send(h.srv.conns[0], "d", 1), 0);
	assert_true(qh_run(&h.net, got_all, &h, h.net.now + 2 * ZT_SEC));
	assert_memory_equal(h.got, "hello", 5);

	/* The client's ngtcp2_conn, through its TLS session's hook. */
	ref = zt_tls_session_conn_ref(zt_quic_conn_tls(h.client));
	assert_int_equal(ngtcp2_conn_submit_crypto_data(ref->get_conn(ref),
							NGTCP2_CRYPTO_LEVEL_APPLICATION,
							key_update, sizeof(key_update)), 0);
	assert_true(qh_run(&h.net, all_closed, &h, h.net.now + 5 * ZT_SEC));
	zt_quic_conn_close_info(h.srv.conns[0], &si);
	assert_false(si.by_peer);
	assert_int_equal(si.err, ZT_ETLS);
	assert_int_equal(si.code, 0x100 + 10); /* CRYPTO_ERROR, unexpected_message */
	zt_quic_conn_close_info(h.client, &ci);
	assert_true(ci.by_peer);
	assert_int_equal(ci.code, 0x100 + 10);
	hs_end(&h);
}

static void config_errors(void **state)
{
	struct qh_fixture *f = *state;
	struct zt_tls_ctx *ctx;
	struct zt_tls_config cfg = { .side = ZT_TLS_CLIENT, .alpn = ZT_ALPN_OUTER };
	struct zt_tls_session *s;

	assert_int_equal(zt_tls_ctx_new(&ctx, &cfg), -EINVAL); /* client without CA */
	cfg.ca_pem = "not a certificate";
	assert_int_equal(zt_tls_ctx_new(&ctx, &cfg), ZT_EMALFORMED);
	cfg.ca_pem = f->pki.ca.cert;
	cfg.alpn = NULL;
	assert_int_equal(zt_tls_ctx_new(&ctx, &cfg), -EINVAL);
	cfg = (struct zt_tls_config){ .side = ZT_TLS_SERVER, .alpn = ZT_ALPN_OUTER,
				      .ca_pem = f->pki.ca.cert };
	assert_int_equal(zt_tls_ctx_new(&ctx, &cfg), -EINVAL); /* server without cert */
	cfg.cert_pem = f->pki.intermediate.cert;
	cfg.key_pem = f->pki.alice.key;
	assert_int_equal(zt_tls_ctx_new(&ctx, &cfg), ZT_EMALFORMED); /* key of another cert */
	cfg.key_pem = f->pki.intermediate.key;
	assert_int_equal(zt_tls_ctx_new(&ctx, &cfg), 0);
	assert_int_equal(zt_tls_session_new(&s, ctx, "x"), -EINVAL); /* a server has no peer name */
	zt_tls_ctx_free(ctx);
	cfg = (struct zt_tls_config){ .side = ZT_TLS_CLIENT, .alpn = ZT_ALPN_OUTER,
				      .ca_file = "/nonexistent/ca.pem" };
	assert_true(zt_tls_ctx_new(&ctx, &cfg) < 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(outer_mutual_ok),
		cmocka_unit_test(outer_by_ip),
		cmocka_unit_test(wrong_ca),
		cmocka_unit_test(wrong_name),
		cmocka_unit_test(impostor_service),
		cmocka_unit_test(inner_missing_client_cert),
		cmocka_unit_test(inner_untrusted_client_cert),
		cmocka_unit_test(inner_wrong_purpose),
		cmocka_unit_test(alpn_mismatch),
		cmocka_unit_test(server_releases_tls),
		cmocka_unit_test(config_errors),
	};

	return cmocka_run_group_tests(tests, qh_fixture_setup, qh_fixture_teardown);
}
