#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "io/clock.h"
#include "io/loop.h"

struct fired {
	struct zt_timer timers[5];
	int order[8];
	int n;
};

static void record(struct zt_loop *loop, struct zt_timer *t, uint64_t now)
{
	struct fired *f = t->data;

	(void)loop;
	assert_true(now >= t->deadline);
	assert_false(zt_timer_armed(t));
	f->order[f->n++] = (int)(t - f->timers);
}

static void timers_fire_in_deadline_order(void **state)
{
	struct zt_loop *loop;
	struct fired f = { 0 };
	uint64_t base;

	(void)state;
	assert_int_equal(zt_loop_new(&loop), 0);
	base = zt_clock_now() - 1000000; /* all due already */
	for (int i = 0; i < 5; i++)
		zt_timer_init(&f.timers[i], record, &f);
	zt_timer_set(loop, &f.timers[0], base + 500);
	zt_timer_set(loop, &f.timers[1], base + 100);
	zt_timer_set(loop, &f.timers[2], base + 300);
	zt_timer_set(loop, &f.timers[3], base + 200);
	zt_timer_set(loop, &f.timers[4], base + 400);
	/* re-arming moves a timer; cancelling removes it */
	zt_timer_set(loop, &f.timers[0], base + 50);
	zt_timer_cancel(loop, &f.timers[4]);
	assert_false(zt_timer_armed(&f.timers[4]));
	assert_int_equal(zt_loop_run_once(loop, 0), 0);
	assert_int_equal(f.n, 4);
	assert_int_equal(f.order[0], 0);
	assert_int_equal(f.order[1], 1);
	assert_int_equal(f.order[2], 3);
	assert_int_equal(f.order[3], 2);
	zt_loop_free(loop);
}

static void future_timer_does_not_fire(void **state)
{
	struct zt_loop *loop;
	struct fired f = { 0 };

	(void)state;
	assert_int_equal(zt_loop_new(&loop), 0);
	zt_timer_init(&f.timers[0], record, &f);
	zt_timer_set(loop, &f.timers[0], zt_clock_now() + 3600ULL * 1000000000ULL);
	assert_int_equal(zt_loop_run_once(loop, 0), 0);
	assert_int_equal(f.n, 0);
	assert_true(zt_timer_armed(&f.timers[0]));
	zt_loop_free(loop);
}

static void on_readable(struct zt_loop *loop, struct zt_watch *w, uint32_t revents, uint64_t now)
{
	uint64_t v;
	int *count = w->data;

	(void)now;
	assert_true(revents & EPOLLIN);
	assert_int_equal(read(w->fd, &v, sizeof(v)), sizeof(v));
	*count += (int)v;
	zt_loop_stop(loop);
}

static void watch_delivers_events(void **state)
{
	struct zt_loop *loop;
	int count = 0;
	uint64_t one = 3;
	struct zt_watch w = { .events = EPOLLIN, .cb = on_readable, .data = &count };

	(void)state;
	assert_int_equal(zt_loop_new(&loop), 0);
	w.fd = eventfd(0, EFD_NONBLOCK);
	assert_true(w.fd >= 0);
	assert_int_equal(zt_loop_add(loop, &w), 0);
	assert_int_equal(write(w.fd, &one, sizeof(one)), sizeof(one));
	assert_int_equal(zt_loop_run(loop), 0);
	assert_int_equal(count, 3);
	zt_loop_del(loop, &w);
	close(w.fd);
	zt_loop_free(loop);
}

static void stop_on_signal(struct zt_loop *loop, int sig, void *data)
{
	*(int *)data = sig;
	zt_loop_stop(loop);
}

static void signals_arrive_through_loop(void **state)
{
	struct zt_loop *loop;
	int got = 0;
	sigset_t set;

	(void)state;
	assert_int_equal(zt_loop_new(&loop), 0);
	assert_int_equal(zt_loop_catch_signals(loop, stop_on_signal, &got), 0);
	raise(SIGHUP);
	assert_int_equal(zt_loop_run(loop), 0);
	assert_int_equal(got, SIGHUP);
	zt_loop_free(loop);
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_UNBLOCK, &set, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(timers_fire_in_deadline_order),
		cmocka_unit_test(future_timer_does_not_fire),
		cmocka_unit_test(watch_delivers_events),
		cmocka_unit_test(signals_arrive_through_loop),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
