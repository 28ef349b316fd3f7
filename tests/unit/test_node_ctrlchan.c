/*
 * The control channel (node/ctrlchan.h) over a real outer connection: messages go
 * through in order; a reader that stops reading makes the backlog overflow once, and
 * the channel refuses every send after that (its owner closes the connection).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(messages_arrive_in_order),
		cmocka_unit_test(a_reader_that_stops_overflows_the_backlog_once),
	};
	return cmocka_run_group_tests(tests, qh_fixture_setup, qh_fixture_teardown);
}
