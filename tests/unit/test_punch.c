#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "core/punch.h"
#include "core/units.h"

/*
 * Two punchers on virtual time, each behind a toy NAT of one RFC 4787 type:
 *   mapping:   endpoint-independent (the inside port kept for every destination) or,
 *              for symmetric, a new public port per destination;
 *   filtering: full cone anyone; address-restricted only IPs the inside sent to from
 *              that public port; port-restricted and symmetric only IP:port pairs.
 * Like the lab's NATs, nothing is mapped before the inside sends, and a packet to an
 * unmapped port is dropped. Each side first "asks a STUN server" (a mapping towards
 * 198.51.100.1:3478) and is given the peer's resulting public address. Every datagram
 * takes `delay`; a side may start late; datagrams may be dropped by number.
 */

#define MS ZT_MS
#define MAXQ 256

enum nat_type { FC, ARC, PRC, SYM, NONE };

struct toy_nat {
	enum nat_type type;
	struct zt_addr pub;       /* public IP, port = the inside port */
	uint16_t next_port;
	struct { struct zt_addr dst; uint16_t port; } map[32];
	int nmap;
	/* what the inside sent: (remote, from public port) */
	struct { struct zt_addr remote; uint16_t port; } out[64];
	int nout;
};

struct side {
	struct zt_punch *p;
	struct zt_prng prng;
	struct toy_nat nat;
	struct zt_addr given;     /* the peer's address as told */
	uint64_t start;
	bool initiator, started;
	int drop_from;            /* drop this side's datagrams number >= drop_from (-1: none) */
	int sent;
};

struct pkt {
	uint64_t at;
	int to;
	struct zt_addr src, dst;
	uint8_t buf[ZT_PUNCH_MSG_LEN];
	size_t len;
};

struct net {
	struct side s[2];
	struct pkt q[MAXQ];
	int nq;
	uint64_t delay;
	int drop_first[2];        /* drop this side's first N datagrams */
	int sizes_bad;            /* datagrams whose size is not ZT_PUNCH_MSG_LEN */
};

static struct zt_addr addr(const char *text)
{
	struct zt_addr a;

	assert_int_equal(zt_addr_parse(&a, text, 0), 0);
	return a;
}

static bool has_mapping(const struct toy_nat *n, uint16_t port)
{
	if (n->type == NONE)
		return port == n->pub.port;
	for (int i = 0; i < n->nmap; i++)
		if (n->map[i].port == port)
			return true;
	return false;
}

/* The public source of a datagram from the inside to dst (creating the mapping). */
static struct zt_addr nat_out(struct toy_nat *n, const struct zt_addr *dst)
{
	struct zt_addr src = n->pub;
	int i;

	if (n->type == NONE)
		return src;
	for (i = 0; i < n->nmap; i++)
		if (n->type != SYM || zt_addr_equal(&n->map[i].dst, dst))
			break;
	if (i == n->nmap) {
		assert_true(n->nmap < 32);
		n->map[i].dst = *dst;
		n->map[i].port = n->type == SYM ? n->next_port++ : n->pub.port;
		n->nmap++;
	}
	src.port = n->map[i].port;
	assert_true(n->nout < 64);
	n->out[n->nout].remote = *dst;
	n->out[n->nout].port = src.port;
	n->nout++;
	return src;
}

static bool nat_in(const struct toy_nat *n, const struct zt_addr *src, const struct zt_addr *dst)
{
	if (!zt_addr_ip_equal(dst, &n->pub) || !has_mapping(n, dst->port))
		return false;
	if (n->type == FC || n->type == NONE)
		return true;
	for (int i = 0; i < n->nout; i++) {
		if (n->out[i].port != dst->port)
			continue;
		if (n->type == ARC ? zt_addr_ip_equal(&n->out[i].remote, src)
				   : zt_addr_equal(&n->out[i].remote, src))
			return true;
	}
	return false;
}

static void net_init(struct net *net, enum nat_type ta, enum nat_type tb, uint64_t skew_b)
{
	struct zt_addr stun = addr("198.51.100.1:3478");

	memset(net, 0, sizeof(*net));
	net->delay = 5 * MS;
	net->s[0].nat = (struct toy_nat){ .type = ta, .pub = addr("203.0.113.1:5000"),
					  .next_port = 40000 };
	net->s[1].nat = (struct toy_nat){ .type = tb, .pub = addr("203.0.113.2:6000"),
					  .next_port = 50000 };
	/* what a STUN server told each side, which the script passes to the other */
	net->s[1].given = nat_out(&net->s[0].nat, &stun);
	net->s[0].given = nat_out(&net->s[1].nat, &stun);
	net->s[0].initiator = true;
	net->s[1].start = skew_b;
	for (int i = 0; i < 2; i++) {
		zt_prng_seed(&net->s[i].prng, 4787 + (uint64_t)i);
		net->s[i].drop_from = -1;
	}
}

static void start(struct net *net, int i, uint64_t now, const struct zt_punch_cfg *base)
{
	struct side *s = &net->s[i];
	struct zt_punch_cfg cfg = base ? *base : (struct zt_punch_cfg){ 0 };

	cfg.peer = s->given;
	cfg.initiator = s->initiator;
	cfg.rng = zt_prng_rng(&s->prng);
	assert_int_equal(zt_punch_new(&cfg, now, &s->p), 0);
	s->started = true;
}

static void transmit(struct net *net, int i, uint64_t now, const uint8_t *buf, size_t len,
		     const struct zt_addr *to)
{
	struct side *s = &net->s[i];
	struct pkt *k;
	int n = s->sent++;

	if (len != ZT_PUNCH_MSG_LEN)
		net->sizes_bad++;
	if (n < net->drop_first[i] || (s->drop_from >= 0 && n >= s->drop_from))
		return;
	assert_true(net->nq < MAXQ);
	k = &net->q[net->nq++];
	k->at = now + net->delay;
	k->to = 1 - i;
	k->src = nat_out(&s->nat, to);
	k->dst = *to;
	memcpy(k->buf, buf, len);
	k->len = len;
}

/* Runs both sides until both have finished or until `until`. */
static void run(struct net *net, uint64_t until, const struct zt_punch_cfg *base)
{
	uint64_t now = 0;

	for (int guard = 0; guard < 100000; guard++) {
		uint64_t next = ZT_TIME_NEVER;
		uint8_t buf[128];
		struct zt_addr to;
		int n;

		for (int i = 0; i < 2; i++)
			if (!net->s[i].started && now >= net->s[i].start)
				start(net, i, now, base);
		/* deliver what is due, in order */
		for (int j = 0; j < net->nq;) {
			struct pkt k = net->q[j];
			if (k.at > now) {
				j++;
				continue;
			}
			memmove(&net->q[j], &net->q[j + 1], (size_t)(net->nq - j - 1) * sizeof(k));
			net->nq--;
			if (net->s[k.to].started && nat_in(&net->s[k.to].nat, &k.src, &k.dst))
				zt_punch_recv(net->s[k.to].p, now, &k.src, k.buf, k.len);
		}
		for (int i = 0; i < 2; i++) {
			struct side *s = &net->s[i];
			if (!s->started)
				continue;
			zt_punch_on_timeout(s->p, now);
			while ((n = zt_punch_poll_send(s->p, now, buf, sizeof(buf), &to)) > 0)
				transmit(net, i, now, buf, (size_t)n, &to);
			assert_true(n == 0);
		}
		if (net->s[0].started && net->s[1].started && zt_punch_finished(net->s[0].p) &&
		    zt_punch_finished(net->s[1].p) && net->nq == 0)
			return;
		for (int i = 0; i < 2; i++) {
			uint64_t d = net->s[i].started ? zt_punch_next_deadline(net->s[i].p)
						       : net->s[i].start;
			if (d < next)
				next = d;
		}
		for (int j = 0; j < net->nq; j++)
			if (net->q[j].at < next)
				next = net->q[j].at;
		if (next <= now)
			next = now + 1; /* only deliveries and polls at now remained */
		if (next == ZT_TIME_NEVER || next > until)
			return;
		now = next;
	}
	fail_msg("the simulation did not settle");
}

static void net_free(struct net *net)
{
	for (int i = 0; i < 2; i++)
		zt_punch_free(net->s[i].p);
}

static const struct zt_punch_result *res(struct net *net, int i)
{
	return zt_punch_result(net->s[i].p);
}

/* ---- wire format ---- */

static void encodes_the_documented_layout(void **state)
{
	(void)state;
	static const uint8_t want[ZT_PUNCH_MSG_LEN] = {
		0x0A, 'Z', 'P', '1',                            /* magic */
		0x02, 0, 0, 0,                                  /* ACK, zero */
		0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, /* sender */
		0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28, /* echo */
		0x00, 0x00, 0x01, 0x02,                         /* seq 258 */
		0, 0, 0, 0, 0, 0, 0, 0,                         /* nonce: none */
		4, 0, 0x13, 0x88,                               /* IPv4, zero, port 5000 */
		203, 0, 113, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 203.0.113.7 */
	};
	struct zt_punch_msg m = {
		.type = ZT_PUNCH_ACK,
		.sender = 0x1112131415161718ULL,
		.echo = 0x2122232425262728ULL,
		.seq = 258,
		.observed = addr("203.0.113.7:5000"),
	}, back;
	uint8_t buf[80];

	assert_int_equal(zt_punch_encode(&m, buf, sizeof(buf)), ZT_PUNCH_MSG_LEN);
	assert_memory_equal(buf, want, sizeof(want));
	assert_int_equal(zt_punch_decode(&back, buf, ZT_PUNCH_MSG_LEN), 0);
	assert_int_equal(back.type, ZT_PUNCH_ACK);
	assert_true(back.sender == m.sender && back.echo == m.echo && back.nonce == 0);
	assert_int_equal(back.seq, 258);
	assert_true(zt_addr_equal(&back.observed, &m.observed));

	m.type = ZT_PUNCH_PONG;
	m.nonce = 0xfeedfacecafebeefULL;
	m.observed = addr("[2001:db8::1]:443");
	assert_int_equal(zt_punch_encode(&m, buf, sizeof(buf)), ZT_PUNCH_MSG_LEN);
	assert_int_equal(zt_punch_decode(&back, buf, ZT_PUNCH_MSG_LEN), 0);
	assert_true(back.nonce == m.nonce);
	assert_true(zt_addr_equal(&back.observed, &m.observed));

	m.type = ZT_PUNCH_PUNCH;
	m.observed = (struct zt_addr){ 0 };
	assert_int_equal(zt_punch_encode(&m, buf, ZT_PUNCH_MSG_LEN - 1), -ENOBUFS);
	m.type = 6;
	assert_int_equal(zt_punch_encode(&m, buf, sizeof(buf)), -EINVAL);
	m.type = ZT_PUNCH_PUNCH;
	m.observed.family = 99;
	assert_int_equal(zt_punch_encode(&m, buf, sizeof(buf)), -EINVAL);
}

static void rejects_bad_datagrams(void **state)
{
	(void)state;
	struct zt_punch_msg m = { .type = ZT_PUNCH_PING, .sender = 7, .nonce = 9 }, back;
	uint8_t buf[ZT_PUNCH_MSG_LEN + 1], bad[ZT_PUNCH_MSG_LEN];

	assert_int_equal(zt_punch_encode(&m, buf, sizeof(buf)), ZT_PUNCH_MSG_LEN);
	back.type = 0;
	assert_int_equal(zt_punch_decode(&back, buf, 0), ZT_ETRUNC);
	assert_int_equal(zt_punch_decode(&back, buf, ZT_PUNCH_MSG_LEN - 1), ZT_ETRUNC);
	assert_int_equal(zt_punch_decode(&back, buf, ZT_PUNCH_MSG_LEN + 1), ZT_ETOOBIG);
	assert_int_equal(back.type, 0); /* untouched on failure */

	memcpy(bad, buf, sizeof(bad));
	bad[0] = 0x00; /* a STUN first byte */
	assert_int_equal(zt_punch_decode(&back, bad, sizeof(bad)), ZT_EMALFORMED);
	memcpy(bad, buf, sizeof(bad));
	bad[3] = '2'; /* another version */
	assert_int_equal(zt_punch_decode(&back, bad, sizeof(bad)), ZT_EMALFORMED);
	memcpy(bad, buf, sizeof(bad));
	bad[4] = 0; /* type 0 */
	assert_int_equal(zt_punch_decode(&back, bad, sizeof(bad)), ZT_EMALFORMED);
	bad[4] = 6;
	assert_int_equal(zt_punch_decode(&back, bad, sizeof(bad)), ZT_EMALFORMED);
	memcpy(bad, buf, sizeof(bad));
	bad[36] = 5; /* family */
	assert_int_equal(zt_punch_decode(&back, bad, sizeof(bad)), ZT_EMALFORMED);
	memcpy(bad, buf, sizeof(bad));
	bad[36] = 4;
	bad[50] = 1; /* IPv4 with bytes past the fourth */
	assert_int_equal(zt_punch_decode(&back, bad, sizeof(bad)), ZT_EMALFORMED);
	memcpy(bad, buf, sizeof(bad));
	bad[36] = 6;
	bad[50] = bad[51] = 0xff; /* ::ffff:0.0.0.0, IPv4-mapped: IPv4 is family 4 only */
	assert_int_equal(zt_punch_decode(&back, bad, sizeof(bad)), ZT_EMALFORMED);
	bad[50] = 0xfe; /* any other IPv6 address is fine */
	assert_int_equal(zt_punch_decode(&back, bad, sizeof(bad)), 0);
	memcpy(bad, buf, sizeof(bad));
	bad[5] = bad[6] = bad[7] = bad[37] = 0xff; /* zero fields are ignored */
	assert_int_equal(zt_punch_decode(&back, bad, sizeof(bad)), 0);
	assert_int_equal(back.type, ZT_PUNCH_PING);
}

/* ---- runs ---- */

static void open_paths_connect_in_one_round_trip(void **state)
{
	(void)state;
	struct net net;

	net_init(&net, NONE, NONE, 0);
	run(&net, 20 * ZT_SEC, NULL);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(res(&net, i)->state, ZT_PUNCH_OK);
		assert_true(zt_addr_equal(&res(&net, i)->reached, &net.s[i].given));
		assert_false(res(&net, i)->peer_reflexive);
		/* the first punch is acknowledged one round trip later */
		assert_int_equal(res(&net, i)->t_confirmed, 10 * MS);
		assert_int_equal(res(&net, i)->punch_rtt, 10 * MS);
		assert_int_equal(res(&net, i)->rounds, 1);
	}
	/* the PING goes out when confirmed (10 ms) and its PONG is back 10 ms later */
	assert_int_equal(res(&net, 0)->rtt, 10 * MS);
	assert_int_equal(res(&net, 0)->pings_sent, 1);
	assert_int_equal(res(&net, 0)->t_done, 20 * MS);
	assert_true(zt_addr_equal(&res(&net, 0)->observed, &net.s[1].given));
	/* the responder ends on the first DONE: 25 ms (PONG at 15 ms, DONE at 25 ms) */
	assert_int_equal(res(&net, 1)->t_done, 25 * MS);
	assert_int_equal(res(&net, 1)->rtt, 10 * MS);
	assert_true(zt_addr_equal(&res(&net, 1)->observed, &net.s[0].given));
	assert_int_equal(net.sizes_bad, 0);
	net_free(&net);
}

static void keeps_punching_when_the_first_punches_are_dropped(void **state)
{
	(void)state;
	struct net net;

	/* port-restricted both sides, B 250 ms late: A's punches before B's first one are
	 * filtered by B's NAT; A must keep sending (docs/lab.md pitfall 5) */
	net_init(&net, PRC, PRC, 250 * MS);
	run(&net, 20 * ZT_SEC, NULL);
	assert_int_equal(res(&net, 0)->state, ZT_PUNCH_OK);
	assert_int_equal(res(&net, 1)->state, ZT_PUNCH_OK);
	assert_true(res(&net, 0)->rounds >= 3);
	/* A's first answer arrives after B started and punched; confirmed on A's punch of
	 * the round after that (every 100 ms from 0): 300 ms + 10 ms */
	assert_int_equal(res(&net, 0)->t_confirmed, 310 * MS);
	/* B's first punch passes A's NAT (A sent to B first) and is answered at once */
	assert_int_equal(res(&net, 1)->t_confirmed, 10 * MS);
	net_free(&net);
}

static void learns_peer_reflexive_addresses(void **state)
{
	(void)state;
	struct net net;

	/* B symmetric: its punches to A come from a port nobody told A about; A's punches
	 * to B's STUN mapping are filtered. Only answering where packets come from works
	 * (docs/lab.md pitfall 6). */
	net_init(&net, FC, SYM, 0);
	run(&net, 20 * ZT_SEC, NULL);
	assert_int_equal(res(&net, 0)->state, ZT_PUNCH_OK);
	assert_int_equal(res(&net, 1)->state, ZT_PUNCH_OK);
	assert_true(res(&net, 0)->peer_reflexive);
	assert_false(zt_addr_equal(&res(&net, 0)->reached, &net.s[0].given));
	assert_true(zt_addr_ip_equal(&res(&net, 0)->reached, &net.s[0].given));
	assert_int_equal(res(&net, 0)->reached.port, 50001); /* B's mapping towards A */
	assert_int_equal(res(&net, 0)->n_addrs, 2);
	assert_false(res(&net, 1)->peer_reflexive);
	/* B sees A where it was told; A sees B at the new port */
	assert_int_equal(res(&net, 1)->observed.port, 50001);
	net_free(&net);
}

static void symmetric_against_port_restricted_hears_nothing(void **state)
{
	(void)state;
	struct zt_punch_cfg cfg = { .attempts = 20 };
	struct net net;

	net_init(&net, PRC, SYM, 0);
	run(&net, 60 * ZT_SEC, &cfg);
	/* B's punches reach A from a new port A never sent to: filtered. A's punches to
	 * B's STUN mapping: filtered. Neither hears anything. */
	for (int i = 0; i < 2; i++) {
		assert_int_equal(res(&net, i)->state, ZT_PUNCH_FAILED);
		assert_int_equal(res(&net, i)->fail, ZT_PUNCH_FAIL_NO_ANSWER);
		assert_int_equal(res(&net, i)->rounds, 20);
		/* last round at 1.9 s, then the grace second */
		assert_int_equal(res(&net, i)->t_done, 1900 * MS + ZT_PUNCH_GRACE);
	}
	net_free(&net);
}

static void matrix_matches_rfc4787_theory(void **state)
{
	(void)state;
	static const char *names[] = { "FC", "ARC", "PRC", "SYM" };
	struct zt_punch_cfg cfg = { .attempts = 20 };

	for (int a = FC; a <= SYM; a++)
		for (int b = FC; b <= SYM; b++)
			for (int skew = 0; skew <= 1; skew++) {
				struct net net;
				bool want = !((a == SYM && b >= PRC) || (b == SYM && a >= PRC));

				net_init(&net, a, b, skew ? 730 * MS : 0);
				run(&net, 60 * ZT_SEC, &cfg);
				for (int i = 0; i < 2; i++) {
					bool ok = res(&net, i)->state == ZT_PUNCH_OK;
					if (ok != want)
						fail_msg("%s x %s skew %d: side %d %s, theory says %s",
							 names[a], names[b], skew, i,
							 zt_punch_state_name(res(&net, i)->state),
							 want ? "direct" : "no direct path");
				}
				net_free(&net);
			}
}

static void dead_peer_fails_after_attempts_and_grace(void **state)
{
	(void)state;
	struct zt_punch_cfg cfg = {
		.peer = addr("192.0.2.9:7000"),
		.initiator = true,
		.interval = 50 * MS,
		.attempts = 10,
	};
	struct zt_prng prng;
	struct zt_punch *p;
	struct zt_addr to;
	uint8_t buf[ZT_PUNCH_MSG_LEN];
	uint64_t now = 1000 * MS;
	unsigned sent = 0;

	zt_prng_seed(&prng, 1);
	cfg.rng = zt_prng_rng(&prng);
	assert_int_equal(zt_punch_new(&cfg, now, &p), 0);
	for (int i = 0; i < 10; i++) {
		assert_int_equal(zt_punch_next_deadline(p), now);
		assert_int_equal(zt_punch_poll_send(p, now, buf, sizeof(buf), &to), ZT_PUNCH_MSG_LEN);
		assert_true(zt_addr_equal(&to, &cfg.peer));
		assert_int_equal(zt_punch_poll_send(p, now, buf, sizeof(buf), &to), 0);
		sent++;
		zt_punch_on_timeout(p, now);
		assert_int_equal(zt_punch_result(p)->state, ZT_PUNCH_RUNNING);
		if (i < 9)
			now += 50 * MS;
	}
	/* punching is over: the next deadline is the grace period after the last round */
	assert_int_equal(zt_punch_next_deadline(p), now + ZT_PUNCH_GRACE);
	zt_punch_on_timeout(p, now + ZT_PUNCH_GRACE - 1);
	assert_int_equal(zt_punch_result(p)->state, ZT_PUNCH_RUNNING);
	zt_punch_on_timeout(p, now + ZT_PUNCH_GRACE);
	assert_int_equal(zt_punch_result(p)->state, ZT_PUNCH_FAILED);
	assert_int_equal(zt_punch_result(p)->fail, ZT_PUNCH_FAIL_NO_ANSWER);
	assert_int_equal(zt_punch_result(p)->punches_sent, sent);
	assert_int_equal(zt_punch_result(p)->t_done, 450 * MS + ZT_PUNCH_GRACE);
	assert_true(zt_punch_finished(p));
	assert_int_equal(zt_punch_next_deadline(p), ZT_TIME_NEVER);
	assert_int_equal(zt_punch_poll_send(p, now + 5 * ZT_SEC, buf, sizeof(buf), &to), 0);
	zt_punch_free(p);
}

static void one_way_path_is_reported(void **state)
{
	(void)state;
	struct zt_punch_cfg cfg = { .attempts = 10 };
	struct net net;

	/* A's datagrams are all lost: B hears nothing, A hears B's punches but never an
	 * answer to its own */
	net_init(&net, NONE, NONE, 0);
	net.s[0].drop_from = 0;
	run(&net, 60 * ZT_SEC, &cfg);
	assert_int_equal(res(&net, 0)->state, ZT_PUNCH_FAILED);
	assert_int_equal(res(&net, 0)->fail, ZT_PUNCH_FAIL_ONE_WAY);
	assert_true(res(&net, 0)->received > 0);
	assert_int_equal(res(&net, 1)->state, ZT_PUNCH_FAILED);
	assert_int_equal(res(&net, 1)->fail, ZT_PUNCH_FAIL_NO_ANSWER);
	net_free(&net);
}

static void lost_pongs_end_in_no_pong_at_timeout(void **state)
{
	(void)state;
	struct zt_punch_cfg cfg = { .timeout = 3 * ZT_SEC };
	struct net net;

	/* B's first datagram (its punch) is its 1st; its ACK the 2nd; then all lost:
	 * A is confirmed by B's ACK and pings into the void */
	net_init(&net, NONE, NONE, 0);
	net.s[1].drop_from = 2;
	run(&net, 60 * ZT_SEC, &cfg);
	assert_int_equal(res(&net, 0)->state, ZT_PUNCH_FAILED);
	assert_int_equal(res(&net, 0)->fail, ZT_PUNCH_FAIL_NO_PONG);
	assert_int_equal(res(&net, 0)->t_done, 3 * ZT_SEC);
	/* a PING every interval from 10 ms on: 10, 110, ..., 2910 ms */
	assert_int_equal(res(&net, 0)->pings_sent, 30);
	/* B answered every PING; with no DONE it ends `linger` after the last one */
	assert_int_equal(res(&net, 1)->state, ZT_PUNCH_OK);
	net_free(&net);
}

static void responder_without_done_ends_after_linger(void **state)
{
	(void)state;
	struct zt_punch_cfg cfg = { .linger = 700 * MS };
	struct net net;

	/* A sends PUNCH, ACK, PING, DONE x3: lose the three DONEs (A's datagrams 3-5) */
	net_init(&net, NONE, NONE, 0);
	net.s[0].drop_from = 3;
	run(&net, 60 * ZT_SEC, &cfg);
	assert_int_equal(res(&net, 0)->state, ZT_PUNCH_OK);
	assert_int_equal(res(&net, 1)->state, ZT_PUNCH_OK);
	/* the PING (sent at 10 ms) arrived at 15 ms: 15 + 700 */
	assert_int_equal(res(&net, 1)->t_done, 715 * MS);
	net_free(&net);
}

static void without_an_initiator_both_fail_no_ping(void **state)
{
	(void)state;
	struct zt_punch_cfg cfg = { .timeout = 2 * ZT_SEC };
	struct net net;

	net_init(&net, NONE, NONE, 0);
	net.s[0].initiator = false;
	run(&net, 60 * ZT_SEC, &cfg);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(res(&net, i)->state, ZT_PUNCH_FAILED);
		assert_int_equal(res(&net, i)->fail, ZT_PUNCH_FAIL_NO_PING);
		assert_int_equal(res(&net, i)->t_done, 2 * ZT_SEC);
	}
	net_free(&net);
}

static void two_initiators_both_measure(void **state)
{
	(void)state;
	struct net net;

	net_init(&net, PRC, FC, 0);
	net.s[1].initiator = true;
	run(&net, 60 * ZT_SEC, NULL);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(res(&net, i)->state, ZT_PUNCH_OK);
		assert_true(res(&net, i)->rtt == 10 * MS);
	}
	net_free(&net);
}

static void foreign_answers_are_ignored(void **state)
{
	(void)state;
	struct zt_punch_cfg cfg = { .peer = addr("192.0.2.9:7000"), .initiator = true };
	struct zt_addr from = addr("192.0.2.9:7000"), to;
	struct zt_punch_msg m, sent;
	struct zt_prng prng;
	struct zt_punch *p;
	uint8_t buf[ZT_PUNCH_MSG_LEN];
	int n;

	zt_prng_seed(&prng, 2);
	cfg.rng = zt_prng_rng(&prng);
	assert_int_equal(zt_punch_new(&cfg, 0, &p), 0);
	n = zt_punch_poll_send(p, 0, buf, sizeof(buf), &to);
	assert_int_equal(n, ZT_PUNCH_MSG_LEN);
	assert_int_equal(zt_punch_decode(&sent, buf, (size_t)n), 0);
	assert_int_equal(sent.type, ZT_PUNCH_PUNCH);
	assert_true(sent.sender != 0);

	/* an ACK for another run (a stale packet from an earlier one on these ports) */
	m = (struct zt_punch_msg){ .type = ZT_PUNCH_ACK, .sender = 77, .echo = sent.sender + 1,
				   .seq = sent.seq };
	zt_punch_encode(&m, buf, sizeof(buf));
	assert_int_equal(zt_punch_recv(p, 1 * MS, &from, buf, sizeof(buf)), ZT_ESTATE);
	/* our own packet reflected back */
	zt_punch_encode(&sent, buf, sizeof(buf));
	assert_int_equal(zt_punch_recv(p, 1 * MS, &from, buf, sizeof(buf)), ZT_ESTATE);
	/* garbage */
	memset(buf, 0xab, sizeof(buf));
	assert_int_equal(zt_punch_recv(p, 1 * MS, &from, buf, sizeof(buf)), ZT_EMALFORMED);
	assert_int_equal(zt_punch_recv(p, 1 * MS, &from, buf, 3), ZT_ETRUNC);
	assert_int_equal(zt_punch_result(p)->state, ZT_PUNCH_RUNNING);
	assert_int_equal(zt_punch_result(p)->received, 0);
	assert_int_equal(zt_punch_result(p)->ignored, 4);

	/* the right ACK confirms; a PONG with a wrong nonce does not finish */
	m.echo = sent.sender;
	zt_punch_encode(&m, buf, sizeof(buf));
	assert_int_equal(zt_punch_recv(p, 4 * MS, &from, buf, sizeof(buf)), 0);
	assert_int_equal(zt_punch_result(p)->punch_rtt, 4 * MS);
	n = zt_punch_poll_send(p, 4 * MS, buf, sizeof(buf), &to);
	assert_int_equal(zt_punch_decode(&sent, buf, (size_t)n), 0);
	assert_int_equal(sent.type, ZT_PUNCH_PING);
	m = (struct zt_punch_msg){ .type = ZT_PUNCH_PONG, .sender = 77, .echo = sent.sender,
				   .seq = sent.seq, .nonce = sent.nonce ^ 1 };
	zt_punch_encode(&m, buf, sizeof(buf));
	assert_int_equal(zt_punch_recv(p, 5 * MS, &from, buf, sizeof(buf)), ZT_ESTATE);
	/* another peer's PUNCH once the peer is known */
	m = (struct zt_punch_msg){ .type = ZT_PUNCH_PUNCH, .sender = 78 };
	zt_punch_encode(&m, buf, sizeof(buf));
	assert_int_equal(zt_punch_recv(p, 5 * MS, &from, buf, sizeof(buf)), ZT_ESTATE);
	m.nonce = 0;
	m = (struct zt_punch_msg){ .type = ZT_PUNCH_PONG, .sender = 77, .echo = sent.sender,
				   .seq = sent.seq, .nonce = sent.nonce };
	zt_punch_encode(&m, buf, sizeof(buf));
	assert_int_equal(zt_punch_recv(p, 6 * MS, &from, buf, sizeof(buf)), 0);
	assert_int_equal(zt_punch_result(p)->state, ZT_PUNCH_OK);
	assert_int_equal(zt_punch_result(p)->rtt, 2 * MS);
	/* three DONEs follow, echoing the peer's run id */
	for (int i = 0; i < ZT_PUNCH_DONE_COPIES; i++) {
		n = zt_punch_poll_send(p, 6 * MS, buf, sizeof(buf), &to);
		assert_int_equal(zt_punch_decode(&sent, buf, (size_t)n), 0);
		assert_int_equal(sent.type, ZT_PUNCH_DONE);
		assert_true(sent.echo == 77);
	}
	assert_int_equal(zt_punch_poll_send(p, 6 * MS, buf, sizeof(buf), &to), 0);
	assert_true(zt_punch_finished(p));
	zt_punch_free(p);
}

static void answers_are_bounded_and_queue_overflow_is_reported(void **state)
{
	(void)state;
	struct zt_punch_cfg cfg = { .peer = addr("192.0.2.9:7000") };
	struct zt_addr from = addr("192.0.2.9:7001"), to;
	struct zt_punch_msg m = { .type = ZT_PUNCH_PING, .sender = 5, .nonce = 6 };
	struct zt_prng prng;
	struct zt_punch *p;
	uint8_t buf[ZT_PUNCH_MSG_LEN];
	int i, n;

	zt_prng_seed(&prng, 3);
	cfg.rng = zt_prng_rng(&prng);
	assert_int_equal(zt_punch_new(&cfg, 0, &p), 0);
	zt_punch_encode(&m, buf, sizeof(buf));
	for (i = 0; i < ZT_PUNCH_QUEUE; i++)
		assert_int_equal(zt_punch_recv(p, 0, &from, buf, sizeof(buf)), 0);
	assert_int_equal(zt_punch_recv(p, 0, &from, buf, sizeof(buf)), -ENOBUFS);
	assert_int_equal(zt_punch_result(p)->ignored, 1);
	assert_int_equal(zt_punch_next_deadline(p), 0);
	assert_int_equal(zt_punch_poll_send(p, 0, buf, ZT_PUNCH_MSG_LEN - 1, &to), -ENOBUFS);
	for (i = 0; i < ZT_PUNCH_QUEUE; i++) {
		struct zt_punch_msg a;
		n = zt_punch_poll_send(p, 0, buf, sizeof(buf), &to);
		assert_int_equal(n, ZT_PUNCH_MSG_LEN); /* the size of what it answers */
		assert_int_equal(zt_punch_decode(&a, buf, (size_t)n), 0);
		assert_int_equal(a.type, ZT_PUNCH_PONG);
		assert_true(zt_addr_equal(&to, &from));
		assert_true(zt_addr_equal(&a.observed, &from));
	}
	zt_punch_free(p);
}

static void rejects_bad_config(void **state)
{
	(void)state;
	struct zt_prng prng;
	struct zt_punch_cfg cfg = { 0 };
	struct zt_punch *p = NULL;

	zt_prng_seed(&prng, 4);
	assert_int_equal(zt_punch_new(&cfg, 0, &p), -EINVAL); /* no peer, no rng */
	cfg.peer = addr("192.0.2.9");                         /* port 0 */
	cfg.rng = zt_prng_rng(&prng);
	assert_int_equal(zt_punch_new(&cfg, 0, &p), -EINVAL);
	cfg.peer.port = 1;
	cfg.rng.fill = NULL;
	assert_int_equal(zt_punch_new(&cfg, 0, &p), -EINVAL);
	assert_null(p);
	zt_punch_free(NULL);
	assert_string_equal(zt_punch_fail_name(ZT_PUNCH_FAIL_ONE_WAY), "one-way");
	assert_string_equal(zt_punch_state_name(ZT_PUNCH_OK), "ok");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(encodes_the_documented_layout),
		cmocka_unit_test(rejects_bad_datagrams),
		cmocka_unit_test(open_paths_connect_in_one_round_trip),
		cmocka_unit_test(keeps_punching_when_the_first_punches_are_dropped),
		cmocka_unit_test(learns_peer_reflexive_addresses),
		cmocka_unit_test(symmetric_against_port_restricted_hears_nothing),
		cmocka_unit_test(matrix_matches_rfc4787_theory),
		cmocka_unit_test(dead_peer_fails_after_attempts_and_grace),
		cmocka_unit_test(one_way_path_is_reported),
		cmocka_unit_test(lost_pongs_end_in_no_pong_at_timeout),
		cmocka_unit_test(responder_without_done_ends_after_linger),
		cmocka_unit_test(without_an_initiator_both_fail_no_ping),
		cmocka_unit_test(two_initiators_both_measure),
		cmocka_unit_test(foreign_answers_are_ignored),
		cmocka_unit_test(answers_are_bounded_and_queue_overflow_is_reported),
		cmocka_unit_test(rejects_bad_config),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
