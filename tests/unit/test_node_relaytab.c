/* node/relaytab.h: the workers' fast-path decision, the table's life, the shared quota. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "node/relay.h"
#include "node/relaytab.h"

#define SID 0x11223344u
#define PKT_LEN 101 /* marker, session id, 96 bytes of inner packet */

static struct zt_addr v4(uint8_t last, uint16_t port)
{
	struct zt_addr a = { .family = AF_INET, .port = port };

	a.ip[0] = 127;
	a.ip[3] = last;
	return a;
}

/* A channel datagram for session id. */
static void chan_pkt(uint8_t *pkt, uint32_t id)
{
	memset(pkt, 0x5a, PKT_LEN);
	assert_int_equal(zt_relay_chan_write(pkt, PKT_LEN, id), ZT_RELAY_CHAN_HDR_LEN);
}

/* Session SID between an agent at .2:1000 and a connector at .3:2000, both on the
 * channel with no relay rate; our local address .1:4433. */
static struct zt_relaytab_entry plain(struct zt_relay_count *count, uint64_t max_pkts)
{
	return (struct zt_relaytab_entry){
		.id = SID, .count = count, .max_bytes = UINT64_MAX, .max_pkts = max_pkts,
		.end = { { .addr = v4(2, 1000), .local = v4(1, 4433), .chan = true, .rate_free = true },
			 { .addr = v4(3, 2000), .local = v4(1, 4433), .chan = true, .rate_free = true } },
	};
}

static void forwards_the_plain_case_both_ways(void **state)
{
	struct zt_relay_count count = { 0 };
	struct zt_relaytab_entry e = plain(&count, UINT64_MAX);
	struct zt_relaytab *t;
	struct zt_addr a = v4(2, 1000), c = v4(3, 2000), to, local;
	uint8_t pkt[PKT_LEN];
	uint64_t tp, tb;
	(void)state;

	assert_int_equal(zt_relaytab_new(&t, NULL), 0);
	assert_int_equal(zt_relaytab_set(t, &e), 0);
	assert_int_equal(zt_relaytab_size(t), 1);
	chan_pkt(pkt, SID);
	assert_int_equal(zt_relaytab_forward(t, &a, pkt, PKT_LEN, &to, &local), ZT_RELAYTAB_FORWARD);
	assert_true(zt_addr_equal(&to, &c));
	assert_true(zt_addr_equal(&local, &e.end[1].local));
	assert_int_equal(zt_relaytab_forward(t, &c, pkt, PKT_LEN, &to, &local), ZT_RELAYTAB_FORWARD);
	assert_true(zt_addr_equal(&to, &a));
	/* charged as the Intermediate charges: the payload after the marker */
	assert_int_equal(zt_relay_count_pkts(&count), 2);
	assert_int_equal(zt_relay_count_bytes(&count), 2 * (PKT_LEN - 1));
	/* and in the table's total (the Intermediate's status and metrics add it) */
	zt_relaytab_forwarded(t, &tp, &tb);
	assert_int_equal(tp, 2);
	assert_int_equal(tb, 2 * (PKT_LEN - 1));
	zt_relaytab_free(t);
}

/* Everything but the plain case is the Intermediate's: SLOW, nothing charged. */
static void the_rest_goes_to_the_main_thread(void **state)
{
	struct zt_relay_count count = { 0 };
	struct zt_relaytab_entry e = plain(&count, UINT64_MAX);
	struct zt_relaytab *t;
	struct zt_addr a = v4(2, 1000), other_port = v4(2, 1001), stranger = v4(9, 1000), to, local;
	uint8_t pkt[PKT_LEN], quic[PKT_LEN];
	uint64_t tp, tb;
	(void)state;

	assert_int_equal(zt_relaytab_new(&t, NULL), 0);
	assert_int_equal(zt_relaytab_set(t, &e), 0);
	chan_pkt(pkt, SID);
	memcpy(quic, pkt, PKT_LEN);
	quic[0] = 0x40; /* a QUIC short header */
	assert_int_equal(zt_relaytab_forward(t, &a, quic, PKT_LEN, &to, &local), ZT_RELAYTAB_SLOW);
	assert_int_equal(zt_relaytab_forward(t, &a, pkt, ZT_RELAY_CHAN_HDR_LEN, &to, &local),
			 ZT_RELAYTAB_SLOW); /* no inner packet */
	assert_int_equal(zt_relaytab_forward(t, &other_port, pkt, PKT_LEN, &to, &local),
			 ZT_RELAYTAB_SLOW);
	assert_int_equal(zt_relaytab_forward(t, &stranger, pkt, PKT_LEN, &to, &local),
			 ZT_RELAYTAB_SLOW);
	chan_pkt(pkt, SID + 1); /* another session */
	assert_int_equal(zt_relaytab_forward(t, &a, pkt, PKT_LEN, &to, &local), ZT_RELAYTAB_SLOW);
	chan_pkt(pkt, SID);
	/* a sender with a relay rate (its token bucket is the main thread's) */
	e.end[0].rate_free = false;
	assert_int_equal(zt_relaytab_set(t, &e), 0);
	assert_int_equal(zt_relaytab_forward(t, &a, pkt, PKT_LEN, &to, &local), ZT_RELAYTAB_SLOW);
	/* the other end without the channel (a DATAGRAM is the main thread's) */
	e = plain(&count, UINT64_MAX);
	e.end[1].chan = false;
	assert_int_equal(zt_relaytab_set(t, &e), 0);
	assert_int_equal(zt_relaytab_forward(t, &a, pkt, PKT_LEN, &to, &local), ZT_RELAYTAB_SLOW);
	/* the other end gone (an orphaned session) */
	e.end[1] = (struct zt_relaytab_end){ 0 };
	assert_int_equal(zt_relaytab_set(t, &e), 0);
	assert_int_equal(zt_relaytab_forward(t, &a, pkt, PKT_LEN, &to, &local), ZT_RELAYTAB_SLOW);
	/* the sender not (or no longer) logged in with the channel */
	e = plain(&count, UINT64_MAX);
	e.end[0].chan = false;
	assert_int_equal(zt_relaytab_set(t, &e), 0);
	assert_int_equal(zt_relaytab_forward(t, &a, pkt, PKT_LEN, &to, &local), ZT_RELAYTAB_SLOW);
	assert_int_equal(zt_relay_count_pkts(&count), 0);
	assert_int_equal(zt_relay_count_bytes(&count), 0);
	zt_relaytab_forwarded(t, &tp, &tb);
	assert_int_equal(tp + tb, 0);
	assert_int_equal(zt_relaytab_set(t, &(struct zt_relaytab_entry){ .id = 0, .count = &count }),
			 -EINVAL);
	assert_int_equal(zt_relaytab_set(t, &(struct zt_relaytab_entry){ .id = 5 }), -EINVAL);
	zt_relaytab_free(t);
}

/* An ended (or revoked) session: once its entry is removed, nothing is forwarded for it
 * again, and the main thread gets every datagram. */
static void an_ended_session_is_not_forwarded(void **state)
{
	struct zt_relay_count count = { 0 };
	struct zt_relaytab_entry e = plain(&count, UINT64_MAX);
	struct zt_relaytab *t;
	struct zt_addr a = v4(2, 1000), to, local;
	uint8_t pkt[PKT_LEN];
	(void)state;

	assert_int_equal(zt_relaytab_new(&t, NULL), 0);
	assert_int_equal(zt_relaytab_set(t, &e), 0);
	chan_pkt(pkt, SID);
	assert_int_equal(zt_relaytab_forward(t, &a, pkt, PKT_LEN, &to, &local), ZT_RELAYTAB_FORWARD);
	zt_relaytab_del(t, SID);
	zt_relaytab_del(t, SID); /* twice: nothing */
	assert_int_equal(zt_relaytab_size(t), 0);
	assert_int_equal(zt_relaytab_forward(t, &a, pkt, PKT_LEN, &to, &local), ZT_RELAYTAB_SLOW);
	assert_int_equal(zt_relay_count_pkts(&count), 1);
	zt_relaytab_free(t);
	zt_relaytab_free(NULL);
}

/* The quota: a charge past it is refused and adds nothing; a refund gives it back. */
static void quota_is_charged_exactly(void **state)
{
	struct zt_relay_count count = { 0 };
	struct zt_relaytab_entry e = plain(&count, 3);
	struct zt_relaytab *t;
	struct zt_addr a = v4(2, 1000), to, local;
	uint8_t pkt[PKT_LEN];
	(void)state;

	assert_int_equal(zt_relaytab_new(&t, NULL), 0);
	assert_int_equal(zt_relaytab_set(t, &e), 0);
	chan_pkt(pkt, SID);
	for (int i = 0; i < 3; i++)
		assert_int_equal(zt_relaytab_forward(t, &a, pkt, PKT_LEN, &to, &local),
				 ZT_RELAYTAB_FORWARD);
	assert_int_equal(zt_relaytab_forward(t, &a, pkt, PKT_LEN, &to, &local), ZT_RELAYTAB_SLOW);
	assert_int_equal(zt_relay_count_pkts(&count), 3);
	zt_relay_count_refund(&count, PKT_LEN - 1);
	assert_int_equal(zt_relaytab_forward(t, &a, pkt, PKT_LEN, &to, &local), ZT_RELAYTAB_FORWARD);
	/* bytes: exactly up to the quota, not one past it */
	assert_true(zt_relay_count_charge(&(struct zt_relay_count){ 0 }, 10, 10, 1));
	assert_false(zt_relay_count_charge(&(struct zt_relay_count){ 0 }, 11, 10, 1));
	assert_false(zt_relay_count_charge(&(struct zt_relay_count){ 0 }, 1, 10, 0));
	assert_int_equal(zt_relay_count_bytes(&count), 3 * (PKT_LEN - 1));
	zt_relaytab_free(t);
}

/* The quota across threads: two workers forwarding and the main thread charging its
 * own relays at once never pass it, and use it up exactly. */
#define QUOTA 20000
#define TRIES 15000

struct racer {
	struct zt_relaytab *t;
	struct zt_relay_count *count;
	struct zt_addr from;
	int ok;
};

static void *forwarder(void *arg)
{
	struct racer *r = arg;
	struct zt_addr to, local;
	uint8_t pkt[PKT_LEN];

	chan_pkt(pkt, SID);
	for (int i = 0; i < TRIES; i++)
		r->ok += zt_relaytab_forward(r->t, &r->from, pkt, PKT_LEN, &to, &local) ==
			 ZT_RELAYTAB_FORWARD;
	return NULL;
}

static void *main_thread(void *arg)
{
	struct racer *r = arg;

	for (int i = 0; i < TRIES; i++)
		r->ok += zt_relay_count_charge(r->count, PKT_LEN - 1, UINT64_MAX, QUOTA);
	return NULL;
}

static void quota_holds_across_threads(void **state)
{
	struct zt_relay_count count = { 0 };
	struct zt_relaytab_entry e = plain(&count, QUOTA);
	struct zt_relaytab *t;
	struct racer r[3];
	pthread_t th[3];
	(void)state;

	assert_int_equal(zt_relaytab_new(&t, NULL), 0);
	assert_int_equal(zt_relaytab_set(t, &e), 0);
	for (int i = 0; i < 3; i++)
		r[i] = (struct racer){ .t = t, .count = &count, .from = e.end[i % 2].addr };
	assert_int_equal(pthread_create(&th[0], NULL, forwarder, &r[0]), 0);
	assert_int_equal(pthread_create(&th[1], NULL, forwarder, &r[1]), 0);
	assert_int_equal(pthread_create(&th[2], NULL, main_thread, &r[2]), 0);
	for (int i = 0; i < 3; i++)
		pthread_join(th[i], NULL);
	assert_int_equal(r[0].ok + r[1].ok + r[2].ok, QUOTA);
	assert_int_equal(zt_relay_count_pkts(&count), QUOTA);
	assert_int_equal(zt_relay_count_bytes(&count), (uint64_t)QUOTA * (PKT_LEN - 1));
	zt_relaytab_free(t);
}

/* Every change happens under the writers' lock the caller gave. */
struct lock_log {
	int locks, unlocks;
	bool held;
};

static void test_lock(void *arg)
{
	struct lock_log *l = arg;

	assert_false(l->held);
	l->held = true;
	l->locks++;
}

static void test_unlock(void *arg)
{
	struct lock_log *l = arg;

	assert_true(l->held);
	l->held = false;
	l->unlocks++;
}

static void changes_take_the_lock(void **state)
{
	struct zt_relay_count count = { 0 };
	struct zt_relaytab_entry e = plain(&count, 1);
	struct lock_log l = { 0 };
	struct zt_relaytab *t;
	(void)state;

	assert_int_equal(zt_relaytab_new(&t, &(struct zt_relaytab_lock){
		.lock = test_lock, .unlock = test_unlock, .arg = &l }), 0);
	assert_int_equal(zt_relaytab_set(t, &e), 0);
	assert_int_equal(zt_relaytab_set(t, &e), 0);
	zt_relaytab_del(t, SID);
	assert_int_equal(l.locks, 3);
	assert_int_equal(l.unlocks, 3);
	zt_relaytab_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(forwards_the_plain_case_both_ways),
		cmocka_unit_test(the_rest_goes_to_the_main_thread),
		cmocka_unit_test(an_ended_session_is_not_forwarded),
		cmocka_unit_test(quota_is_charged_exactly),
		cmocka_unit_test(quota_holds_across_threads),
		cmocka_unit_test(changes_take_the_lock),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
