/*
 * The relay channel's binding rules at the Intermediate (docs/relay-channel.md,
 * "Binding" and "Security argument"): channel data carries no authentication of its
 * own, so the Intermediate takes it only from the validated address of a logged-in
 * client that asked for the channel and is an end of the session the datagram names.
 * Spoofed sources, other clients, other sessions, clients that did not ask, and the
 * address a login moved away from are dropped and counted, charged to nobody,
 * answered with nothing (no reflection), and the session goes on. What the channel
 * does expose is pinned too: a spoofer with a client's exact address and session id
 * is forwarded and billed to that client (the inner connection drops the packet).
 *
 *     alice 127.0.0.2:5000 (5 ms) ---.
 *     bob   127.0.0.4:5000 (5 ms) ----+--- Intermediate 127.0.0.1:4433 (0 ms)
 *     c1    127.0.0.3:6000 (20 ms) --'         spoofers: 127.0.0.9, ...
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "core/units.h"
#include "node/relay.h"
#include "node_harness.h"

static void world_start(struct nh_world *w, struct nh_fixture *f)
{
	static const char *const policy[] = {
		"client agent:alice:pw-alice", "client agent:bob:pw-bob", "client connector:c1:pw-c1",
		"allow alice=web", "allow bob=db", "serve c1=web,db", NULL,
	};

	nh_world_init(w, f, policy);
	nh_world_start(w);
}

/* nh_pair_two() with every raw client asking for the channel or none. */
static void pair_two(struct nh_world *w, bool chan, uint32_t *ret_a, uint32_t *ret_b)
{
	w->alice.raw_chan = w->bob.raw_chan = w->c1.raw_chan = chan;
	nh_pair_two(w, ret_a, ret_b);
}

/* A channel datagram from `from` (an endpoint's local address: the receiver sees its
 * public one; any other address: a spoofer's) for session, size bytes of payload. */
static void chan_send(struct nh_world *w, const char *from, uint32_t session, size_t size)
{
	uint8_t buf[ZT_RELAY_CHAN_MAX] = { 0 };
	struct zt_addr a = qh_addr(from);

	assert_true(size >= 1 && size <= ZT_RELAY_TUNNEL_MTU);
	assert_int_equal(zt_relay_chan_write(buf, sizeof(buf), session), ZT_RELAY_CHAN_HDR_LEN);
	buf[ZT_RELAY_CHAN_HDR_LEN] = 0x41;
	nh_send(&w->net, &a, &w->imd.addr, buf, ZT_RELAY_CHAN_HDR_LEN + size);
}

/* What the Intermediate sends to addresses that are no client's. */
struct stray {
	struct nh_world *w;
	size_t pkts;
};

static bool count_stray(void *arg, const struct nh_pkt *p)
{
	struct stray *s = arg;
	const struct nh_world *w = s->w;

	if (zt_addr_equal(&p->from, &w->imd.addr) && !zt_addr_equal(&p->to, &w->alice.addr) &&
	    !zt_addr_equal(&p->to, &w->bob.addr) && !zt_addr_equal(&p->to, &w->c1.addr) &&
	    !zt_addr_equal(&p->to, &w->c2.addr))
		s->pkts++;
	return false;
}

static uint64_t delivered(const struct nh_ep *e)
{
	return e->raw.nchan + e->raw.ndgrams;
}

/* Wrong source, another client, another session, no session: dropped, counted, not
 * charged, not answered; the sessions go on. */
static void spoofed_and_foreign_channel_data_dropped(void **state)
{
	struct nh_world w;
	struct stray stray = { .w = &w };
	struct zt_imd_stats st;
	struct zt_imd_session_info sa, sb;
	uint32_t ida, idb;

	world_start(&w, *state);
	pair_two(&w, true, &ida, &idb);
	w.net.tap = count_stray;
	w.net.tap_arg = &stray;
	chan_send(&w, "127.0.0.9:5000", ida, 100);   /* a spoofed source */
	chan_send(&w, "127.0.0.2:5001", ida, 100);   /* alice's IP, another port */
	chan_send(&w, "127.0.0.3:5000", ida, 100);   /* c1's IP, alice's port */
	chan_send(&w, "127.0.0.4:5000", ida, 100);   /* bob into alice's session */
	chan_send(&w, "127.0.0.2:5000", idb, 100);   /* alice into bob's session */
	chan_send(&w, "127.0.0.2:5000", ida ^ idb ^ 0x5a5a5a5a, 100); /* no such session */
	nh_run_for(&w.net, 200 * ZT_MS);
	zt_imd_stats(w.imd.imd, &st);
	assert_int_equal(st.relay_chan_dropped_addr, 6);
	assert_int_equal(st.relay_chan_pkts, 0);
	assert_int_equal(st.relay_pkts, 0);
	assert_int_equal(delivered(&w.c1) + delivered(&w.alice) + delivered(&w.bob), 0);
	assert_int_equal(zt_imd_session_info(w.imd.imd, ida, &sa), 0);
	assert_int_equal(zt_imd_session_info(w.imd.imd, idb, &sb), 0);
	assert_int_equal(sa.relay_pkts + sa.relay_bytes + sb.relay_pkts + sb.relay_bytes, 0);
	assert_int_equal(stray.pkts, 0);
	/* both sessions are unaffected: each way, as channel data */
	chan_send(&w, "127.0.0.2:5000", ida, 100);
	chan_send(&w, "127.0.0.3:6000", ida, 100);
	chan_send(&w, "127.0.0.4:5000", idb, 100);
	nh_run_for(&w.net, 200 * ZT_MS);
	assert_int_equal(w.c1.raw.nchan, 2);
	assert_int_equal(w.alice.raw.nchan, 1);
	zt_imd_stats(w.imd.imd, &st);
	assert_int_equal(st.relay_chan_pkts, 3);
	assert_int_equal(st.relay_pkts, 3);
	assert_int_equal(nh_raw_total(&w.alice, ZT_CTRL_CLOSE) + nh_raw_total(&w.c1, ZT_CTRL_CLOSE) +
				 nh_raw_total(&w.bob, ZT_CTRL_CLOSE),
			 0);
	assert_int_equal(stray.pkts, 0);
	nh_world_fini(&w);
}

/* Guessing: 20,000 spoofed datagrams with random session ids, from random sources and
 * from a client's own address: none is forwarded, none answered, nothing is kept. */
static void guessing_session_ids_gets_nothing(void **state)
{
	struct nh_world w;
	struct stray stray = { .w = &w };
	struct zt_imd_stats st;
	struct zt_prng prng;
	uint32_t ida, idb;
	char from[32];

	world_start(&w, *state);
	pair_two(&w, true, &ida, &idb);
	w.net.tap = count_stray;
	w.net.tap_arg = &stray;
	zt_prng_seed(&prng, 0x67756573);
	for (int i = 0; i < 20000; i++) {
		uint32_t id = (uint32_t)zt_prng_next(&prng);
		if (id == ida || id == idb || id == 0)
			continue;
		if (i & 1)
			snprintf(from, sizeof(from), "127.0.%u.%u:%u", (unsigned)(id >> 24) % 200 + 10,
				 (unsigned)(id >> 16) & 0xff, (unsigned)id % 60000 + 1024);
		else
			snprintf(from, sizeof(from), "127.0.0.2:5000");
		chan_send(&w, from, id, 1200);
		if (i % 1000 == 999)
			nh_run_for(&w.net, 10 * ZT_MS);
	}
	nh_run_for(&w.net, 200 * ZT_MS);
	zt_imd_stats(w.imd.imd, &st);
	assert_true(st.relay_chan_dropped_addr >= 19990);
	assert_int_equal(st.relay_chan_pkts + st.relay_pkts, 0);
	assert_int_equal(st.sessions, 2);
	assert_int_equal(st.clients, 3);
	assert_int_equal(delivered(&w.c1) + delivered(&w.alice) + delivered(&w.bob), 0);
	assert_int_equal(stray.pkts, 0);
	nh_world_fini(&w);
}

/* A client that did not ask for the channel: its own channel data, from its own
 * validated address for its own session, is dropped; what is relayed to it comes in
 * DATAGRAMs. */
static void no_channel_without_asking(void **state)
{
	struct nh_world w;
	struct zt_imd_stats st;
	uint32_t ida, idb;

	world_start(&w, *state);
	pair_two(&w, false, &ida, &idb);
	assert_false(nh_raw_last(&w.alice, ZT_CTRL_WELCOME)->u.welcome.relay_channel);
	chan_send(&w, "127.0.0.2:5000", ida, 100);
	chan_send(&w, "127.0.0.3:6000", ida, 100);
	nh_run_for(&w.net, 200 * ZT_MS);
	zt_imd_stats(w.imd.imd, &st);
	assert_int_equal(st.relay_chan_dropped_addr, 2);
	assert_int_equal(st.relay_pkts, 0);
	assert_int_equal(delivered(&w.c1) + delivered(&w.alice), 0);
	nh_world_fini(&w);
}

/* The binding is the login's connection, not the identity: after alice's login moves
 * to a new connection at another address (HELLO with CLIENT_ID), channel data from
 * her old address is dropped, from the new one taken (it asked again). */
static void binding_follows_a_moved_login(void **state)
{
	struct nh_world w;
	struct nh_ep a2;
	struct zt_ctrl_msg m;
	struct zt_imd_stats st;
	uint32_t ida, idb;

	world_start(&w, *state);
	pair_two(&w, true, &ida, &idb);
	nh_ep_init(&a2, &w.net, NH_RAW, "127.0.0.12:5000", 5 * ZT_MS);
	nh_raw_up(&a2, w.alice_tls, &w.imd.addr);
	zt_ctrl_msg_init(&m, ZT_CTRL_HELLO);
	m.u.hello.role = ZT_CTRL_ROLE_AGENT;
	snprintf(m.u.hello.identity, sizeof(m.u.hello.identity), "alice");
	m.u.hello.token_len = (uint16_t)strlen("pw-alice");
	memcpy(m.u.hello.token, "pw-alice", m.u.hello.token_len);
	m.u.hello.move_from = nh_raw_last(&w.alice, ZT_CTRL_WELCOME)->u.welcome.client_id;
	m.u.hello.relay_channel = true;
	assert_int_equal(nh_raw_send(&a2, &m), 0);
	assert_true(nh_wait_count(&a2, ZT_CTRL_WELCOME, 1, 3 * ZT_SEC));
	assert_true(nh_raw_last(&a2, ZT_CTRL_WELCOME)->u.welcome.relay_channel);
	chan_send(&w, "127.0.0.2:5000", ida, 100);
	nh_run_for(&w.net, 200 * ZT_MS);
	zt_imd_stats(w.imd.imd, &st);
	assert_int_equal(st.relay_chan_dropped_addr, 1);
	assert_int_equal(delivered(&w.c1), 0);
	chan_send(&w, "127.0.0.12:5000", ida, 100);
	chan_send(&w, "127.0.0.3:6000", ida, 100);
	nh_run_for(&w.net, 200 * ZT_MS);
	assert_int_equal(w.c1.raw.nchan, 1);
	assert_int_equal(a2.raw.nchan, 1);
	assert_int_equal(w.alice.raw.nchan, 0);
	nh_world_fini(&w);
}

/* The exposure docs/relay-channel.md states: a spoofer with alice's exact address and
 * her session id is forwarded, and billed to alice (rate and quota), not to bob; the
 * Intermediate sends nothing to the spoofer. */
static void exact_spoof_is_billed_to_the_victim_only(void **state)
{
	struct nh_world w;
	struct zt_imd_session_info sa, sb;
	uint32_t ida, idb;

	nh_world_init(&w, *state,
		      (const char *const[]){ "client agent:alice:pw-alice", "client agent:bob:pw-bob",
					     "client connector:c1:pw-c1", "allow alice=web",
					     "allow bob=db", "serve c1=web,db", NULL });
	w.icfg.relay_rate = 100000;
	w.icfg.relay_burst = 20000;
	nh_world_start(&w);
	pair_two(&w, true, &ida, &idb);
	/* the spoofer sends as alice: 40 x 1000 bytes, twice her burst */
	for (int i = 0; i < 40; i++)
		chan_send(&w, "127.0.0.2:5000", ida, 1000);
	nh_run_for(&w.net, 50 * ZT_MS);
	assert_int_equal(zt_imd_session_info(w.imd.imd, ida, &sa), 0);
	assert_true(sa.dropped_rate >= 15);
	/* bob's bucket is his own: his burst passes whole */
	for (int i = 0; i < 15; i++)
		chan_send(&w, "127.0.0.4:5000", idb, 1000);
	nh_run_for(&w.net, 200 * ZT_MS);
	assert_int_equal(zt_imd_session_info(w.imd.imd, idb, &sb), 0);
	assert_int_equal(sb.relay_pkts, 15);
	assert_int_equal(sb.dropped_rate, 0);
	nh_world_fini(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(spoofed_and_foreign_channel_data_dropped),
		cmocka_unit_test(guessing_session_ids_gets_nothing),
		cmocka_unit_test(no_channel_without_asking),
		cmocka_unit_test(binding_follows_a_moved_login),
		cmocka_unit_test(exact_spoof_is_billed_to_the_victim_only),
	};

	return cmocka_run_group_tests(tests, nh_fixture_setup, nh_fixture_teardown);
}
