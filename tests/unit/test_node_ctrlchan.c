/*
 * The control channel (node/ctrlchan.h) over a real outer connection: messages go
 * through in order; a reader that stops reading makes the backlog overflow once, and
 * the channel refuses every send after that (its owner closes the connection); the
 * message reader and the backlog exist only while bytes wait in them, and a framing
 * error outlives the reader.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "core/err.h"
#include "core/units.h"
#include "node/ctrlchan.h"
#include "quic_harness.h"

struct world {
	struct qh_pair p;
	struct zt_ctrlchan cli, srv;
	bool srv_reads;
	int64_t sid;
};

static void cb_opened(struct zt_quic_conn *c, void *arg, int64_t sid)
{
	struct world *w = arg;

	if (c != w->p.client) {
		zt_ctrlchan_init(&w->srv, c, sid);
		zt_ctrlchan_attach(&w->srv, sid);
	}
}

static const struct zt_quic_callbacks callbacks = {
	.stream_opened = cb_opened,
};

static void world_init(struct qh_fixture *f, struct world *w)
{
	memset(w, 0, sizeof(*w));
	assert_int_equal(qh_pair_init(&w->p, &f->pki, &f->rng, NULL, &callbacks, w), 0);
	assert_true(qh_pair_connect(&w->p));
	assert_int_equal(zt_quic_stream_open(w->p.client, &w->sid, NULL), 0);
	zt_ctrlchan_init(&w->cli, w->p.client, w->sid);
	zt_ctrlchan_attach(&w->cli, w->sid);
}

static void world_fini(struct world *w)
{
	zt_ctrlchan_fini(&w->cli);
	if (w->srv.conn)
		zt_ctrlchan_fini(&w->srv);
	qh_pair_fini(&w->p);
}

static void ping(struct zt_ctrl_msg *m, uint64_t nonce)
{
	zt_ctrl_msg_init(m, ZT_CTRL_PING);
	m->u.ping.nonce = nonce;
}

static void messages_arrive_in_order(void **state)
{
	struct world w;
	struct zt_ctrl_msg m;
	uint64_t next = 1;

	world_init(*state, &w);
	for (uint64_t i = 1; i <= 50; i++) {
		ping(&m, i);
		assert_int_equal(zt_ctrlchan_send(&w.cli, &m), 0);
	}
	qh_run(&w.p.net, NULL, NULL, w.p.net.now + ZT_SEC);
	assert_non_null(w.srv.conn);
	while (zt_ctrlchan_next(&w.srv, &m) == 1) {
		assert_int_equal(m.type, ZT_CTRL_PING);
		assert_int_equal(m.u.ping.nonce, next++);
	}
	assert_int_equal(next, 51);
	assert_false(w.cli.overflowed);
	world_fini(&w);
}

/* The server never reads: the stream's window fills, then the backlog; the send that
 * would pass ZT_CTRLCHAN_BACKLOG fails with -ENOBUFS and marks the channel, and every
 * later send fails the same way, however small (no message is ever cut in two). */
static void a_reader_that_stops_overflows_the_backlog_once(void **state)
{
	struct world w;
	struct zt_ctrl_msg m;
	int rc = 0;
	uint64_t i;

	world_init(*state, &w);
	for (i = 1; i < 100000; i++) {
		ping(&m, i);
		rc = zt_ctrlchan_send(&w.cli, &m);
		if (rc != 0)
			break;
		if (!(i % 64))
			qh_run(&w.p.net, NULL, NULL, w.p.net.now + 10 * ZT_MS);
	}
	assert_int_equal(rc, -ENOBUFS);
	assert_true(w.cli.overflowed);
	assert_true(w.cli.blen <= ZT_CTRLCHAN_BACKLOG);
	assert_true(w.cli.blen > ZT_CTRLCHAN_BACKLOG - 100); /* it was full */
	qh_run(&w.p.net, NULL, NULL, w.p.net.now + ZT_SEC);
	ping(&m, 0);
	assert_int_equal(zt_ctrlchan_send(&w.cli, &m), -ENOBUFS);
	world_fini(&w);
}

/* Raw bytes on the client's stream, then to the server. */
static void raw(struct world *w, const uint8_t *data, size_t len)
{
	assert_int_equal(zt_quic_stream_write(w->p.client, w->sid, data, len), (int)len);
	qh_run(&w->p.net, NULL, NULL, w->p.net.now + 100 * ZT_MS);
	assert_non_null(w->srv.conn);
}

/* No reader before a byte comes, none once a message leaves nothing behind; a partial
 * message keeps it. */
static void the_reader_exists_while_bytes_wait(void **state)
{
	struct world w;
	struct zt_ctrl_msg m;
	uint8_t buf[ZT_CTRL_MSG_MAX];
	int len;

	world_init(*state, &w);
	assert_null(w.cli.rd); /* attached, nothing read */
	assert_int_equal(zt_ctrlchan_next(&w.cli, &m), 0);
	assert_null(w.cli.rd);
	ping(&m, 7);
	len = zt_ctrl_encode(&m, buf, sizeof(buf));
	assert_true(len > ZT_CTRL_HDR_LEN + 1);
	raw(&w, buf, ZT_CTRL_HDR_LEN + 1);
	assert_int_equal(zt_ctrlchan_next(&w.srv, &m), 0);
	assert_non_null(w.srv.rd); /* half a message */
	raw(&w, buf + ZT_CTRL_HDR_LEN + 1, (size_t)len - ZT_CTRL_HDR_LEN - 1);
	memset(&m, 0, sizeof(m));
	assert_int_equal(zt_ctrlchan_next(&w.srv, &m), 1);
	assert_null(w.srv.rd);
	assert_int_equal(m.type, ZT_CTRL_PING); /* a copy: the reader is gone */
	assert_int_equal(m.u.ping.nonce, 7);
	assert_int_equal(zt_ctrlchan_next(&w.srv, &m), 0);
	world_fini(&w);
}

/* A framing error frees the reader and is returned from then on, valid bytes or not. */
static void a_framing_error_outlives_the_reader(void **state)
{
	static const uint8_t bad[] = {
		0x02,       /* version 2 */
		0x0c,       /* PING */
		0x00, 0x00, /* body length */
	};
	struct world w;
	struct zt_ctrl_msg m;
	uint8_t buf[ZT_CTRL_MSG_MAX];
	int len;

	world_init(*state, &w);
	raw(&w, bad, sizeof(bad));
	assert_int_equal(zt_ctrlchan_next(&w.srv, &m), ZT_ECTRL_VERSION);
	assert_null(w.srv.rd);
	assert_int_equal(w.srv.poison, ZT_ECTRL_VERSION);
	ping(&m, 1);
	len = zt_ctrl_encode(&m, buf, sizeof(buf));
	assert_true(len > 0);
	raw(&w, buf, (size_t)len);
	assert_int_equal(zt_ctrlchan_next(&w.srv, &m), ZT_ECTRL_VERSION);
	assert_null(w.srv.rd);
	world_fini(&w);
}

/* Sends without running the network until the stream's buffer is full and the backlog
 * holds something; returns the next nonce. */
static uint64_t fill_until_backlog(struct world *w, uint64_t nonce)
{
	struct zt_ctrl_msg m;

	while (!w->cli.blen) {
		ping(&m, nonce++);
		assert_int_equal(zt_ctrlchan_send(&w->cli, &m), 0);
		assert_true(nonce < 100000);
	}
	assert_non_null(w->cli.backlog);
	return nonce;
}

/* The server reads (nonces in order from *next) while the client flushes, until every
 * nonce below end has come. */
static void drain(struct world *w, uint64_t *next, uint64_t end)
{
	struct zt_ctrl_msg m;

	for (int i = 0; i < 1000 && *next < end; i++) {
		qh_run(&w->p.net, NULL, NULL, w->p.net.now + 10 * ZT_MS);
		while (w->srv.conn && zt_ctrlchan_next(&w->srv, &m) == 1)
			assert_int_equal(m.u.ping.nonce, (*next)++);
		assert_int_equal(zt_ctrlchan_flush(&w->cli), 0);
	}
}

/* The backlog is freed when flushed empty, allocated again when the stream is full
 * again, and nothing is lost or reordered on the way. */
static void the_backlog_exists_while_bytes_wait(void **state)
{
	struct world w;
	uint64_t nonce = 1, next = 1;

	world_init(*state, &w);
	assert_null(w.cli.backlog);
	for (int round = 0; round < 2; round++) {
		nonce = fill_until_backlog(&w, nonce);
		drain(&w, &next, nonce);
		assert_int_equal(w.cli.blen, 0);
		assert_null(w.cli.backlog);
		assert_int_equal(next, nonce);
		assert_null(w.srv.rd);
	}
	assert_false(w.cli.overflowed);
	world_fini(&w);
}

/* A reader that stops and later reads again: the messages sent while the backlog was
 * full are dropped, and once it has drained, sending goes on (the Intermediate drops
 * and keeps the connection: a party that catches up gets its messages again). */
static void sending_resumes_after_the_backlog_drained(void **state)
{
	struct world w;
	struct zt_ctrl_msg m;
	uint64_t i, got = 0, last = 0;
	int rc = 0;

	world_init(*state, &w);
	for (i = 1; i < 100000 && rc == 0; i++) {
		ping(&m, i);
		rc = zt_ctrlchan_send(&w.cli, &m);
		if (!(i % 64))
			qh_run(&w.p.net, NULL, NULL, w.p.net.now + 10 * ZT_MS);
	}
	assert_int_equal(rc, -ENOBUFS);
	assert_true(w.cli.overflowed && !w.cli.cut);
	/* the reader catches up: everything queued arrives, the backlog drains */
	for (int k = 0; k < 500 && (w.cli.blen || last != i - 2); k++) {
		while (zt_ctrlchan_next(&w.srv, &m) == 1) {
			got++;
			last = m.u.ping.nonce;
		}
		zt_ctrlchan_flush(&w.cli);
		qh_run(&w.p.net, NULL, NULL, w.p.net.now + 10 * ZT_MS);
	}
	while (zt_ctrlchan_next(&w.srv, &m) == 1) {
		got++;
		last = m.u.ping.nonce;
	}
	assert_int_equal(w.cli.blen, 0);
	assert_int_equal(last, i - 2); /* the last one sent before the refusal */
	/* sending goes on */
	ping(&m, 777777);
	assert_int_equal(zt_ctrlchan_send(&w.cli, &m), 0);
	qh_run(&w.p.net, NULL, NULL, w.p.net.now + 100 * ZT_MS);
	assert_int_equal(zt_ctrlchan_next(&w.srv, &m), 1);
	assert_int_equal(m.u.ping.nonce, 777777);
	assert_true(w.cli.overflowed); /* still told, for owners that close on it */
	world_fini(&w);
}

/*
 * A link's bound (ZT_CTRLCHAN_LINK_BACKLOG): a burst far past the default 64 KiB waits
 * while the reader does not read (3,333 SESSIONs across had 604 dropped at 64 KiB),
 * the buffer growing as bytes wait; the reader then takes part of it, more is sent
 * meanwhile (the backlog both drains from the front and grows at the end), and every
 * message arrives once, in order. The bound holds: past it, -ENOBUFS.
 */
static void a_link_backlog_holds_a_burst(void **state)
{
	struct world w;
	struct zt_ctrl_msg m;
	uint64_t i, next = 1;
	int rc;

	world_init(*state, &w);
	zt_ctrlchan_set_backlog_max(&w.cli, ZT_CTRLCHAN_LINK_BACKLOG);
	for (i = 1; w.cli.blen < 1024 * 1024; i++) {
		ping(&m, i);
		assert_int_equal(zt_ctrlchan_send(&w.cli, &m), 0);
		if (i == 64)
			qh_run(&w.p.net, NULL, NULL, w.p.net.now + 100 * ZT_MS); /* srv's stream */
	}
	assert_false(w.cli.overflowed);
	assert_true(w.cli.bcap >= w.cli.blen && w.cli.bcap <= ZT_CTRLCHAN_LINK_BACKLOG);
	for (int round = 0; round < 200 && next < i; round++) {
		for (int k = 0; k < 50; k++, i++) {
			ping(&m, i);
			assert_int_equal(zt_ctrlchan_send(&w.cli, &m), 0);
		}
		drain(&w, &next, next + 1);
	}
	drain(&w, &next, i);
	assert_int_equal(next, i);
	assert_int_equal(w.cli.blen, 0);
	assert_false(w.cli.overflowed);
	/* the bound: the reader stops again */
	for (rc = 0; rc == 0; i++) {
		ping(&m, i);
		rc = zt_ctrlchan_send(&w.cli, &m);
	}
	assert_int_equal(rc, -ENOBUFS);
	assert_true(w.cli.blen <= ZT_CTRLCHAN_LINK_BACKLOG);
	assert_true(w.cli.blen > ZT_CTRLCHAN_LINK_BACKLOG - 100);
	world_fini(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(sending_resumes_after_the_backlog_drained),
		cmocka_unit_test(messages_arrive_in_order),
		cmocka_unit_test(a_reader_that_stops_overflows_the_backlog_once),
		cmocka_unit_test(the_reader_exists_while_bytes_wait),
		cmocka_unit_test(a_framing_error_outlives_the_reader),
		cmocka_unit_test(the_backlog_exists_while_bytes_wait),
		cmocka_unit_test(a_link_backlog_holds_a_burst),
	};
	return cmocka_run_group_tests(tests, qh_fixture_setup, qh_fixture_teardown);
}
