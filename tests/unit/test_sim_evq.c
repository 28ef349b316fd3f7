#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "../../sim/evq.h"
#include "../../sim/net.h"
#include "../../sim/session.h"

static void again(void *ctx, void *arg, uint64_t now)
{
	struct zt_sim_evq *q = ctx;

	(*(uint64_t *)arg)++;
	assert_int_equal(zt_sim_evq_push(q, now, again, q, arg), 0);
}

static void once(void *ctx, void *arg, uint64_t now)
{
	(void)ctx;
	(void)now;
	(*(uint64_t *)arg)++;
}

/* An event that schedules itself at the same instant forever (an endpoint whose
 * deadline stays due) stops the run after ZT_SIM_EVQ_SPIN_MAX events at that instant,
 * saying when; the event stays queued for the caller to drain. Before, the run never
 * ended (make test's test_sim_prop timed out after 900 s on such a case). Events at one
 * instant that end are run as ever. */
static void a_busy_loop_stops_the_run(void **state)
{
	struct zt_sim_evq q;
	uint64_t n = 0, m = 0;
	(void)state;

	zt_sim_evq_init(&q);
	for (int i = 0; i < 1000; i++)
		assert_int_equal(zt_sim_evq_push(&q, 5, once, &q, &m), 0);
	assert_int_equal(zt_sim_evq_run(&q, 10), 1000);
	assert_false(q.spun);
	assert_int_equal(m, 1000);
	assert_int_equal(zt_sim_evq_push(&q, 42, again, &q, &n), 0);
	zt_sim_evq_run(&q, 1000);
	assert_true(q.spun);
	assert_true(q.spun_at == 42);
	assert_true(n == ZT_SIM_EVQ_SPIN_MAX);
	assert_int_equal(q.n, 1);
	zt_sim_evq_fini(&q);
}

/* An endpoint whose deadline stays due however often it is serviced (its on_timeout
 * does not move it: the ICE bug of 57484ce) is not woken again after
 * ZT_SIM_EVQ_SPIN_MAX wakes in a row, and the queue says when: the run ends at its
 * duration (before, the endpoint was woken every nanosecond, 6e9 times for the 6 s left
 * of ztna-sim --case 107582471022589). */
static uint64_t stuck_wakes;
static void st_recv(void *ep, uint64_t now, const struct zt_addr *local,
		    const struct zt_addr *from, const uint8_t *buf, size_t len)
{
	(void)ep, (void)now, (void)local, (void)from, (void)buf, (void)len;
}
static size_t st_poll(void *ep, uint64_t now, uint8_t *buf, size_t cap,
		      struct zt_addr *ret_local, struct zt_addr *ret_remote)
{
	(void)ep, (void)now, (void)buf, (void)cap, (void)ret_local, (void)ret_remote;
	return 0;
}
static uint64_t st_deadline(void *ep)
{
	(void)ep;
	return 1000; /* due from 1 us on, forever */
}
static void st_timeout(void *ep, uint64_t now)
{
	(void)ep, (void)now;
	stuck_wakes++;
}
static const struct zt_sim_endpoint_ops stuck_ops = {
	.recv = st_recv, .poll_send = st_poll, .next_deadline = st_deadline,
	.on_timeout = st_timeout,
};

static void an_endpoint_stuck_due_is_dropped(void **state)
{
	static struct zt_sim_net net;
	struct zt_sim_evq q;
	struct zt_sim_ep e;
	int node;
	(void)state;

	zt_sim_evq_init(&q);
	zt_sim_net_init(&net, &q, 1);
	struct zt_addr a;
	assert_int_equal(zt_addr_parse(&a, "203.0.113.9:1000", 0), 0);
	node = zt_sim_net_add(&net, "h", ZT_SIM_NODE_SERVER, -1, &a, NULL);
	assert_true(node >= 0);
	zt_sim_ep_attach(&e, &net, node, &stuck_ops, NULL, 0);
	zt_sim_evq_run(&q, 10 * 1000000000ULL);
	assert_true(q.spun);
	assert_true(q.spun_at >= 1000 && q.spun_at < 1000 + 2 * ZT_SIM_EVQ_SPIN_MAX);
	assert_true(stuck_wakes >= ZT_SIM_EVQ_SPIN_MAX && stuck_wakes < 9 * ZT_SIM_EVQ_SPIN_MAX);
	assert_true(q.now == 10 * 1000000000ULL);
	zt_sim_net_fini(&net);
	zt_sim_evq_fini(&q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(a_busy_loop_stops_the_run),
		cmocka_unit_test(an_endpoint_stuck_due_is_dropped),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
