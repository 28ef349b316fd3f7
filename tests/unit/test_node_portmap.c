/*
 * node/portmap.h against a fake gateway on virtual time: PCP, NAT-PMP, the version
 * fallback, retransmission and giving up, renewal, clamped lifetimes, restarts,
 * refusals, hostile answers, deletion.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/err.h"
#include "core/pcp.h"
#include "core/rng.h"
#include "core/units.h"
#include "node/portmap.h"

enum gw_kind {
	GW_BOTH,    /* PCP and NAT-PMP, as miniupnpd */
	GW_NATPMP,  /* NAT-PMP only: answers PCP with "unsupported version" */
	GW_PCP_V1,  /* a PCP server of version 1: UNSUPP_VERSION, silent to NAT-PMP */
	GW_SILENT,
};

/* The gateway: one mapping, an epoch that starts at boot (virtual seconds). */
struct gw {
	enum gw_kind kind;
	bool silent;            /* drops every request (now) */
	uint64_t boot;          /* epoch origin */
	uint16_t next_port;     /* what a new mapping gets */
	uint32_t grant;         /* lifetime granted; 0: as asked */
	uint8_t refuse;         /* result code for every map request (0: grant) */
	uint32_t refuse_lifetime;
	bool exists;
	uint16_t eport;
	unsigned requests, deletes, pcp_requests, natpmp_requests;
	uint64_t sent_at[64];   /* when requests arrived (the first 64) */
	uint8_t last[64];
	size_t last_len;
};

struct bench {
	struct zt_prng prng;
	struct zt_rng rng;
	struct zt_portmap_config cfg;
	struct zt_portmap *pm;
	struct gw gw;
	uint64_t now;
};

static const uint8_t ext_ip[4] = { 203, 0, 113, 5 };

static struct zt_addr addr(const char *s)
{
	struct zt_addr a;

	assert_int_equal(zt_addr_parse(&a, s, 0), 0);
	return a;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint32_t epoch(const struct gw *g, uint64_t now)
{
	return (uint32_t)((now - g->boot) / ZT_SEC);
}

/* A PCP MAP answer to request q (60 bytes). */
static size_t gw_pcp(struct gw *g, uint64_t now, const uint8_t *q, uint8_t *out)
{
	uint32_t life = get32(q + 4);

	memset(out, 0, 60);
	out[0] = 2;
	out[1] = 0x81;
	memcpy(out + 24, q + 24, 16); /* nonce, protocol, reserved */
	memcpy(out + 40, q + 40, 2);  /* internal port */
	put32(out + 8, epoch(g, now));
	if (life == 0) {
		g->deletes++;
		g->exists = false;
		return 60;
	}
	if (g->refuse) {
		out[3] = g->refuse;
		put32(out + 4, g->refuse_lifetime);
		return 60;
	}
	if (!g->exists) {
		g->exists = true;
		g->eport = g->next_port;
	}
	put32(out + 4, g->grant ? g->grant : life);
	out[42] = (uint8_t)(g->eport >> 8);
	out[43] = (uint8_t)g->eport;
	out[54] = out[55] = 0xff;
	memcpy(out + 56, ext_ip, 4);
	return 60;
}

/* A NAT-PMP answer to request q. */
static size_t gw_natpmp(struct gw *g, uint64_t now, const uint8_t *q, size_t len, uint8_t *out)
{
	memset(out, 0, 16);
	out[1] = (uint8_t)(0x80 | q[1]);
	put32(out + 4, epoch(g, now));
	if (q[1] == 0) {
		memcpy(out + 8, ext_ip, 4);
		return 12;
	}
	assert_int_equal(len, 12);
	if (get32(q + 8) == 0) {
		g->deletes++;
		g->exists = false;
		return 16;
	}
	if (g->refuse) {
		out[3] = g->refuse;
		return 16;
	}
	if (!g->exists) {
		g->exists = true;
		g->eport = g->next_port;
	}
	memcpy(out + 8, q + 4, 2);
	out[10] = (uint8_t)(g->eport >> 8);
	out[11] = (uint8_t)g->eport;
	put32(out + 12, g->grant ? g->grant : get32(q + 8));
	return 16;
}

/* The gateway's answer to one request, or 0 (none). */
static size_t gw_answer(struct gw *g, uint64_t now, const uint8_t *q, size_t len, uint8_t *out)
{
	if (g->requests < 64)
		g->sent_at[g->requests] = now;
	g->requests++;
	memcpy(g->last, q, len < sizeof(g->last) ? len : sizeof(g->last));
	g->last_len = len;
	g->pcp_requests += q[0] == 2;
	g->natpmp_requests += q[0] == 0;
	if (g->silent || g->kind == GW_SILENT)
		return 0;
	if (q[0] == 2) {
		if (g->kind == GW_NATPMP) { /* RFC 6886 s3.5, 8 bytes as miniupnpd */
			memset(out, 0, 8);
			out[1] = (uint8_t)(0x80 | q[1]);
			out[3] = ZT_NATPMP_UNSUPP_VERSION;
			put32(out + 4, epoch(g, now));
			return 8;
		}
		if (g->kind == GW_PCP_V1) {
			memset(out, 0, 24);
			out[0] = 1;
			out[1] = (uint8_t)(0x80 | q[1]);
			out[3] = ZT_PCP_UNSUPP_VERSION;
			return 24;
		}
		return gw_pcp(g, now, q, out);
	}
	if (g->kind == GW_PCP_V1)
		return 0;
	return gw_natpmp(g, now, q, len, out);
}

static void setup(struct bench *b, enum gw_kind kind, enum zt_portmap_mode mode)
{
	memset(b, 0, sizeof(*b));
	zt_prng_seed(&b->prng, 7);
	b->rng = zt_prng_rng(&b->prng);
	b->now = 1000 * ZT_SEC;
	b->gw = (struct gw){ .kind = kind, .boot = 100 * ZT_SEC, .next_port = 60000 };
	b->cfg = (struct zt_portmap_config){ .mode = mode, .gateway = addr("192.168.1.1"),
					     .local = addr("192.168.1.10:50000"), .rng = &b->rng };
	assert_int_equal(zt_portmap_new(&b->pm, &b->cfg, b->now), 0);
}

static struct zt_addr gw_from(void)
{
	return addr("192.168.1.1:5351");
}

/* Sends what the client has; the gateway answers at once. Returns requests sent. */
static unsigned flush(struct bench *b)
{
	uint8_t buf[1200], ans[1200];
	struct zt_addr to, from = gw_from();
	unsigned n = 0;
	int len;

	while ((len = zt_portmap_poll_send(b->pm, b->now, buf, sizeof(buf), &to)) > 0) {
		size_t m;

		assert_true(zt_addr_equal(&to, &from));
		n++;
		m = gw_answer(&b->gw, b->now, buf, (size_t)len, ans);
		if (m)
			assert_int_equal(zt_portmap_recv(b->pm, b->now, &from, ans, m), 1);
	}
	assert_int_equal(len, 0);
	return n;
}

/* Runs on virtual time until `until`. */
static void run_until(struct bench *b, uint64_t until)
{
	for (unsigned i = 0; i < 1000000; i++) {
		uint64_t t;

		flush(b);
		t = zt_portmap_next_deadline(b->pm);
		if (t > until) {
			b->now = until;
			return;
		}
		if (t > b->now)
			b->now = t;
		zt_portmap_on_timeout(b->pm, b->now);
	}
	fail_msg("no progress on virtual time");
}

static void run_for(struct bench *b, uint64_t d)
{
	run_until(b, b->now + d);
}

static struct zt_portmap_info info(const struct bench *b)
{
	struct zt_portmap_info i;

	zt_portmap_info(b->pm, &i);
	return i;
}

static void teardown(struct bench *b)
{
	zt_portmap_free(b->pm);
}

static void pcp_maps_and_renews(void **state)
{
	struct bench b;
	struct zt_addr ext;
	struct zt_portmap_info i;
	uint8_t nonce[ZT_PCP_NONCE_LEN];
	char s[ZT_ADDR_STRLEN];
	(void)state;

	setup(&b, GW_BOTH, ZT_PORTMAP_AUTO);
	run_for(&b, ZT_MS);
	i = info(&b);
	assert_int_equal(i.state, ZT_PORTMAP_MAPPED);
	assert_string_equal(i.protocol, "pcp");
	assert_string_equal(zt_addr_str(&i.external, s), "203.0.113.5:60000");
	assert_int_equal(i.lifetime, 7200);
	assert_int_equal(b.gw.requests, 1);
	/* the request: PCP MAP, lifetime 7200, client ::ffff:192.168.1.10, UDP 50000,
	 * suggesting 50000 */
	assert_int_equal(b.gw.last_len, 60);
	assert_int_equal(get32(b.gw.last + 4), 7200);
	assert_int_equal(b.gw.last[23], 10);
	assert_int_equal(b.gw.last[36], 17);
	assert_int_equal(b.gw.last[40] << 8 | b.gw.last[41], 50000);
	assert_int_equal(b.gw.last[42] << 8 | b.gw.last[43], 50000);
	memcpy(nonce, b.gw.last + 24, sizeof(nonce));
	assert_int_equal(zt_portmap_poll_change(b.pm, &ext), 1);
	assert_string_equal(zt_addr_str(&ext, s), "203.0.113.5:60000");
	assert_int_equal(zt_portmap_poll_change(b.pm, &ext), 0);
	assert_true(zt_portmap_external(b.pm, &ext));
	/* renewed every 60 s (renew_max) with the same nonce, suggesting what it has */
	run_for(&b, ZT_HOUR);
	assert_int_equal(b.gw.requests, 61);
	assert_memory_equal(b.gw.last + 24, nonce, sizeof(nonce));
	assert_int_equal(b.gw.last[42] << 8 | b.gw.last[43], 60000);
	assert_memory_equal(b.gw.last + 56, ext_ip, 4);
	assert_int_equal(zt_portmap_poll_change(b.pm, &ext), 0);
	i = info(&b);
	assert_int_equal(i.st.mapped, 61);
	assert_int_equal(i.st.retransmits, 0);
	assert_int_equal(i.st.restarts, 0);
	assert_int_equal(i.last_error, 0);
	teardown(&b);
}

static void renews_at_half_a_short_lifetime(void **state)
{
	struct bench b;
	(void)state;

	setup(&b, GW_BOTH, ZT_PORTMAP_AUTO);
	b.gw.grant = 40; /* renew every 20 s */
	run_for(&b, 100 * ZT_SEC + ZT_MS);
	assert_int_equal(b.gw.requests, 6);
	assert_int_equal(info(&b).state, ZT_PORTMAP_MAPPED);
	teardown(&b);
}

static void natpmp_gateway_version_fallback(void **state)
{
	struct bench b;
	struct zt_portmap_info i;
	char s[ZT_ADDR_STRLEN];
	(void)state;

	setup(&b, GW_NATPMP, ZT_PORTMAP_AUTO);
	run_for(&b, ZT_MS);
	i = info(&b);
	/* PCP MAP -> "unsupported version" -> address request -> mapping request, at once */
	assert_int_equal(i.state, ZT_PORTMAP_MAPPED);
	assert_string_equal(i.protocol, "natpmp");
	assert_string_equal(zt_addr_str(&i.external, s), "203.0.113.5:60000");
	assert_int_equal(b.gw.pcp_requests, 1);
	assert_int_equal(b.gw.natpmp_requests, 2);
	assert_int_equal(i.st.fallbacks, 1);
	assert_int_equal(i.st.timeouts, 0);
	/* the mapping request: UDP 50000, suggesting 50000, 7200 s */
	assert_int_equal(b.gw.last_len, 12);
	assert_int_equal(b.gw.last[1], 1);
	assert_int_equal(b.gw.last[4] << 8 | b.gw.last[5], 50000);
	assert_int_equal(get32(b.gw.last + 8), 7200);
	/* renewals stay on NAT-PMP: address + mapping each minute */
	run_for(&b, 10 * ZT_MIN);
	assert_int_equal(b.gw.pcp_requests, 1);
	assert_int_equal(b.gw.natpmp_requests, 2 + 2 * 10);
	teardown(&b);
}

static void other_pcp_version_falls_back_then_gives_up(void **state)
{
	struct bench b;
	struct zt_portmap_info i;
	(void)state;

	setup(&b, GW_PCP_V1, ZT_PORTMAP_AUTO);
	run_for(&b, 2 * ZT_SEC);
	i = info(&b);
	assert_int_equal(i.st.fallbacks, 1);
	assert_int_equal(b.gw.pcp_requests, 1);
	assert_int_equal(b.gw.natpmp_requests, 3); /* unanswered address requests */
	assert_int_equal(i.state, ZT_PORTMAP_UNAVAILABLE);
	assert_int_equal(i.last_error, ZT_ETIMEOUT);
	teardown(&b);
}

static void silent_gateway_given_up_after_two_seconds(void **state)
{
	struct bench b;
	struct zt_portmap_info i;
	uint64_t t0;
	static const uint64_t at_ms[] = { 0, 250, 750, 1000, 1250, 1750 };
	struct zt_addr ext;
	(void)state;

	setup(&b, GW_SILENT, ZT_PORTMAP_AUTO);
	t0 = b.now;
	run_for(&b, 2 * ZT_SEC - 1);
	assert_int_equal(info(&b).state, ZT_PORTMAP_PROBING);
	run_for(&b, 1);
	i = info(&b);
	assert_int_equal(i.state, ZT_PORTMAP_UNAVAILABLE);
	assert_int_equal(b.gw.requests, 6);
	for (size_t k = 0; k < 6; k++)
		assert_int_equal(b.gw.sent_at[k] - t0, at_ms[k] * ZT_MS);
	assert_int_equal(b.gw.pcp_requests, 3);
	assert_int_equal(b.gw.natpmp_requests, 3);
	assert_int_equal(i.st.timeouts, 2);
	assert_int_equal(i.st.retransmits, 4);
	assert_int_equal(i.last_error, ZT_ETIMEOUT);
	assert_string_equal(i.last_error_text, "no answer from 192.168.1.1:5351");
	assert_int_equal(i.retry_at, t0 + 2 * ZT_SEC + 5 * ZT_MIN);
	assert_int_equal(zt_portmap_poll_change(b.pm, &ext), 0);
	/* nothing until the retry, then the same 6 */
	run_until(&b, i.retry_at - 1);
	assert_int_equal(b.gw.requests, 6);
	run_for(&b, 3 * ZT_SEC);
	assert_int_equal(b.gw.requests, 12);
	assert_int_equal(info(&b).state, ZT_PORTMAP_UNAVAILABLE);
	teardown(&b);
}

static void modes_ask_one_protocol(void **state)
{
	struct bench b;
	struct zt_portmap_info i;
	(void)state;

	/* pcp only: 3 tries, 1 s */
	setup(&b, GW_SILENT, ZT_PORTMAP_PCP);
	run_for(&b, ZT_SEC);
	assert_int_equal(info(&b).state, ZT_PORTMAP_UNAVAILABLE);
	assert_int_equal(b.gw.pcp_requests, 3);
	assert_int_equal(b.gw.natpmp_requests, 0);
	teardown(&b);
	/* pcp only against a NAT-PMP gateway: refused for 30 min */
	setup(&b, GW_NATPMP, ZT_PORTMAP_PCP);
	run_for(&b, ZT_MS);
	i = info(&b);
	assert_int_equal(i.state, ZT_PORTMAP_UNAVAILABLE);
	assert_int_equal(i.last_error, ZT_EPEER);
	assert_int_equal(i.retry_at - b.now + ZT_MS, 30 * ZT_MIN);
	assert_int_equal(b.gw.requests, 1);
	teardown(&b);
	/* natpmp only against a gateway with both */
	setup(&b, GW_BOTH, ZT_PORTMAP_NATPMP);
	run_for(&b, ZT_MS);
	assert_int_equal(info(&b).state, ZT_PORTMAP_MAPPED);
	assert_string_equal(info(&b).protocol, "natpmp");
	assert_int_equal(b.gw.pcp_requests, 0);
	teardown(&b);
}

static void refusals_wait_their_time(void **state)
{
	struct bench b;
	struct zt_portmap_info i;
	uint64_t t0;
	(void)state;

	/* a long-lifetime error: 30 min at least, then asked again */
	setup(&b, GW_BOTH, ZT_PORTMAP_AUTO);
	b.gw.refuse = ZT_PCP_NOT_AUTHORIZED;
	t0 = b.now;
	run_for(&b, 29 * ZT_MIN);
	i = info(&b);
	assert_int_equal(i.state, ZT_PORTMAP_UNAVAILABLE);
	assert_int_equal(i.last_error, ZT_EPEER);
	assert_string_equal(i.last_error_text, "pcp NOT_AUTHORIZED");
	assert_int_equal(i.st.refused, 1);
	assert_int_equal(b.gw.requests, 1);
	run_until(&b, t0 + 30 * ZT_MIN);
	assert_int_equal(b.gw.requests, 2);
	teardown(&b);
	/* a short one: its lifetime, at least 30 s */
	setup(&b, GW_BOTH, ZT_PORTMAP_AUTO);
	b.gw.refuse = ZT_PCP_NO_RESOURCES;
	b.gw.refuse_lifetime = 45;
	run_for(&b, 44 * ZT_SEC);
	assert_int_equal(b.gw.requests, 1);
	b.gw.refuse = 0;
	run_for(&b, ZT_SEC);
	assert_int_equal(b.gw.requests, 2);
	assert_int_equal(info(&b).state, ZT_PORTMAP_MAPPED);
	teardown(&b);
	/* NAT-PMP REFUSED */
	setup(&b, GW_NATPMP, ZT_PORTMAP_AUTO);
	b.gw.refuse = ZT_NATPMP_REFUSED;
	run_for(&b, ZT_SEC);
	assert_string_equal(info(&b).last_error_text, "natpmp REFUSED");
	assert_int_equal(info(&b).state, ZT_PORTMAP_UNAVAILABLE);
	teardown(&b);
}

static void lifetimes_clamped_or_refused(void **state)
{
	struct bench b;
	struct zt_portmap_info i;
	(void)state;

	setup(&b, GW_BOTH, ZT_PORTMAP_AUTO);
	b.gw.grant = UINT32_MAX;
	run_for(&b, ZT_MS);
	i = info(&b);
	assert_int_equal(i.state, ZT_PORTMAP_MAPPED);
	assert_int_equal(i.lifetime, 86400);
	assert_int_equal(i.st.clamped, 1);
	assert_int_equal(i.expires_at - b.now + ZT_MS, 24 * ZT_HOUR);
	assert_int_equal(i.renew_at - b.now + ZT_MS, 60 * ZT_SEC); /* still renewed */
	teardown(&b);
	/* under 10 s: refused, asked again in 30 s, so at most every 30 s (at 0, 30, ...,
	 * 600 s) */
	setup(&b, GW_BOTH, ZT_PORTMAP_AUTO);
	b.gw.grant = 1;
	run_for(&b, 10 * ZT_MIN);
	i = info(&b);
	assert_int_equal(i.state, ZT_PORTMAP_UNAVAILABLE);
	assert_int_equal(b.gw.requests, 21);
	assert_int_equal(i.st.mapped, 0);
	teardown(&b);
}

/* Answers that are not for us: counted, dropped, and the real answer still maps. */
static void hostile_answers_counted_and_dropped(void **state)
{
	struct bench b;
	uint8_t q[64], a[64], junk[1200];
	struct zt_addr to, from = gw_from(), other = addr("192.168.1.66:5351");
	struct zt_portmap_info i;
	size_t m;
	int n;
	(void)state;

	setup(&b, GW_BOTH, ZT_PORTMAP_AUTO);
	n = zt_portmap_poll_send(b.pm, b.now, q, sizeof(q), &to);
	assert_int_equal(n, 60);
	m = gw_answer(&b.gw, b.now, q, (size_t)n, a);
	/* another nonce, another port, another protocol */
	a[24] ^= 1;
	zt_portmap_recv(b.pm, b.now, &from, a, m);
	a[24] ^= 1;
	a[41] ^= 1;
	zt_portmap_recv(b.pm, b.now, &from, a, m);
	a[41] ^= 1;
	a[36] = 6;
	zt_portmap_recv(b.pm, b.now, &from, a, m);
	a[36] = 17;
	/* another opcode (PEER), a request, another source, garbage */
	a[1] = 0x82;
	zt_portmap_recv(b.pm, b.now, &from, a, m);
	a[1] = 0x01;
	zt_portmap_recv(b.pm, b.now, &from, a, m);
	a[1] = 0x81;
	assert_int_equal(zt_portmap_recv(b.pm, b.now, &other, a, m), 0);
	for (unsigned k = 0; k < 10000; k++) {
		size_t len = zt_prng_next(&b.prng) % sizeof(junk);
		zt_rng_fill(&b.rng, junk, len);
		junk[0] &= 3; /* versions 0..3 */
		zt_portmap_recv(b.pm, b.now, &from, junk, len);
	}
	i = info(&b);
	assert_int_equal(i.state, ZT_PORTMAP_PROBING);
	assert_int_equal(i.st.mismatched, 3);
	assert_int_equal(i.st.wrong_source, 1);
	assert_true(i.st.malformed + i.st.unexpected + i.st.mismatched >= 10000);
	assert_int_equal(zt_portmap_poll_send(b.pm, b.now, q, sizeof(q), &to), 0);
	/* the real one */
	assert_int_equal(zt_portmap_recv(b.pm, b.now, &from, a, m), 1);
	assert_int_equal(info(&b).state, ZT_PORTMAP_MAPPED);
	teardown(&b);
}

static void gateway_restart_noticed_and_remapped(void **state)
{
	struct bench b;
	struct zt_portmap_info i;
	struct zt_addr ext;
	(void)state;

	setup(&b, GW_BOTH, ZT_PORTMAP_AUTO);
	run_for(&b, 10 * ZT_MIN);
	assert_int_equal(zt_portmap_poll_change(b.pm, &ext), 1);
	/* the gateway restarts: its mapping and epoch are gone; the next renewal (within
	 * 60 s) sees the epoch and is itself the new mapping, at the suggested port */
	b.gw.exists = false;
	b.gw.next_port = 61000;
	b.gw.boot = b.now;
	run_for(&b, 60 * ZT_SEC);
	i = info(&b);
	assert_int_equal(i.st.restarts, 1);
	assert_int_equal(i.state, ZT_PORTMAP_MAPPED);
	assert_true(b.gw.exists);
	/* our fake gives next_port, not the suggestion: the candidate moves */
	assert_int_equal(zt_portmap_poll_change(b.pm, &ext), 1);
	assert_int_equal(ext.port, 61000);
	teardown(&b);
}

static void announce_restart_bounded(void **state)
{
	struct bench b;
	uint8_t ann[24] = { 0x02, 0x80 };
	struct zt_addr from = gw_from();
	unsigned before;
	(void)state;

	setup(&b, GW_BOTH, ZT_PORTMAP_AUTO);
	run_for(&b, ZT_SEC);
	before = b.gw.requests;
	/* a gateway whose ANNOUNCEs say "restarted" 100 times a second for a minute: the
	 * mapping is asked for again, but no more than every 5 s */
	for (unsigned k = 0; k < 6000; k++) {
		put32(ann + 8, k & 1 ? 0 : 100000);
		zt_portmap_recv(b.pm, b.now, &from, ann, sizeof(ann));
		run_for(&b, 10 * ZT_MS);
	}
	assert_true(info(&b).st.restarts >= 5000);
	assert_true(b.gw.requests - before <= 60 / 5 + 1);
	assert_true(b.gw.requests - before >= 60 / 5 - 1);
	teardown(&b);
}

/* A direct path through the mapping was lost: asked again at once, then no more
 * often than every 5 s however often the node says so; nothing while not mapped. */
static void refresh_asks_again_soon(void **state)
{
	struct bench b;
	(void)state;

	setup(&b, GW_BOTH, ZT_PORTMAP_AUTO);
	run_for(&b, 10 * ZT_SEC);
	assert_int_equal(b.gw.requests, 1);
	zt_portmap_refresh(b.pm, b.now);
	run_for(&b, ZT_MS);
	assert_int_equal(b.gw.requests, 2);
	for (int k = 0; k < 1000; k++) {
		zt_portmap_refresh(b.pm, b.now);
		run_for(&b, 10 * ZT_MS);
	}
	assert_int_equal(b.gw.requests, 2 + 2); /* 10 s: at 5 and 10 s after the last */
	teardown(&b);
	setup(&b, GW_SILENT, ZT_PORTMAP_AUTO);
	run_for(&b, 3 * ZT_SEC);
	zt_portmap_refresh(b.pm, b.now);
	run_for(&b, ZT_SEC);
	assert_int_equal(b.gw.requests, 6);
	teardown(&b);
}

static void natpmp_restart_noticed(void **state)
{
	struct bench b;
	(void)state;

	setup(&b, GW_NATPMP, ZT_PORTMAP_AUTO);
	run_for(&b, 5 * ZT_MIN);
	b.gw.boot = b.now; /* epoch back to 0 */
	run_for(&b, 60 * ZT_SEC);
	assert_int_equal(info(&b).st.restarts, 1);
	assert_int_equal(info(&b).state, ZT_PORTMAP_MAPPED);
	teardown(&b);
}

static void unanswered_renewals_lose_the_mapping(void **state)
{
	struct bench b;
	struct zt_portmap_info i;
	struct zt_addr ext;
	uint64_t t0;
	(void)state;

	setup(&b, GW_BOTH, ZT_PORTMAP_AUTO);
	b.gw.grant = 120; /* renew at 60 s, expires at 120 s */
	t0 = b.now;
	run_for(&b, ZT_MS);
	assert_int_equal(zt_portmap_poll_change(b.pm, &ext), 1);
	b.gw.silent = true;
	run_until(&b, t0 + 120 * ZT_SEC - 1);
	i = info(&b);
	assert_int_equal(i.state, ZT_PORTMAP_MAPPED);
	/* renewals at 60, 71, 82, 93, 104, 115 s: 3 tries each */
	assert_int_equal(b.gw.requests, 1 + 6 * 3);
	assert_int_equal(zt_portmap_poll_change(b.pm, &ext), 0);
	run_until(&b, t0 + 120 * ZT_SEC);
	i = info(&b);
	assert_int_equal(i.st.lost, 1);
	assert_int_equal(i.state, ZT_PORTMAP_PROBING);
	assert_int_equal(zt_portmap_poll_change(b.pm, &ext), 1);
	assert_int_equal(ext.family, 0);
	assert_false(zt_portmap_external(b.pm, &ext));
	run_for(&b, 2 * ZT_SEC);
	assert_int_equal(info(&b).state, ZT_PORTMAP_UNAVAILABLE);
	teardown(&b);
}

static void unsolicited_update_moves_the_candidate(void **state)
{
	struct bench b;
	uint8_t q[64], a[64];
	struct zt_addr to, from = gw_from(), ext;
	size_t m;
	char s[ZT_ADDR_STRLEN];
	(void)state;

	setup(&b, GW_BOTH, ZT_PORTMAP_AUTO);
	assert_int_equal(zt_portmap_poll_send(b.pm, b.now, q, sizeof(q), &to), 60);
	m = gw_answer(&b.gw, b.now, q, 60, a);
	zt_portmap_recv(b.pm, b.now, &from, a, m);
	assert_int_equal(zt_portmap_poll_change(b.pm, &ext), 1);
	/* RFC 6887 s14.2: the gateway's new external address, unasked */
	a[59] = 9;
	b.now += 5 * ZT_SEC;
	zt_portmap_recv(b.pm, b.now, &from, a, m);
	assert_int_equal(zt_portmap_poll_change(b.pm, &ext), 1);
	assert_string_equal(zt_addr_str(&ext, s), "203.0.113.9:60000");
	assert_int_equal(info(&b).st.changed, 1);
	/* an unasked error is not taken */
	a[3] = ZT_PCP_NOT_AUTHORIZED;
	zt_portmap_recv(b.pm, b.now, &from, a, m);
	assert_int_equal(info(&b).state, ZT_PORTMAP_MAPPED);
	assert_int_equal(info(&b).st.unexpected, 1);
	/* a mapping of another family or without port is not a mapping */
	a[3] = 0;
	a[43] = 0;
	a[42] = 0;
	zt_portmap_recv(b.pm, b.now, &from, a, m);
	assert_int_equal(info(&b).st.malformed, 1);
	assert_int_equal(zt_portmap_poll_change(b.pm, &ext), 0);
	teardown(&b);
}

static void stop_deletes_once(void **state)
{
	struct bench b;
	uint8_t buf[64];
	struct zt_addr to;
	static const uint8_t natpmp_delete[] = { 0x00, 0x01, 0x00, 0x00, 0xc3, 0x50,
						 0x00, 0x00, 0x00, 0x00, 0x00, 0x00 };
	(void)state;

	setup(&b, GW_BOTH, ZT_PORTMAP_AUTO);
	run_for(&b, ZT_MS);
	assert_true(b.gw.exists);
	zt_portmap_stop(b.pm, b.now);
	assert_int_equal(flush(&b), 1);
	assert_int_equal(b.gw.deletes, 1);
	assert_false(b.gw.exists);
	assert_int_equal(get32(b.gw.last + 4), 0); /* lifetime 0 */
	assert_int_equal(info(&b).state, ZT_PORTMAP_STOPPED);
	assert_int_equal(zt_portmap_next_deadline(b.pm), ZT_TIME_NEVER);
	zt_portmap_stop(b.pm, b.now);
	assert_int_equal(flush(&b), 0);
	teardown(&b);
	/* NAT-PMP: RFC 6886 s3.4's deletion, byte for byte */
	setup(&b, GW_NATPMP, ZT_PORTMAP_AUTO);
	run_for(&b, ZT_MS);
	zt_portmap_stop(b.pm, b.now);
	assert_int_equal(flush(&b), 1);
	assert_int_equal(b.gw.last_len, sizeof(natpmp_delete));
	assert_memory_equal(b.gw.last, natpmp_delete, sizeof(natpmp_delete));
	teardown(&b);
	/* nobody answered: nothing to delete */
	setup(&b, GW_SILENT, ZT_PORTMAP_AUTO);
	run_for(&b, 3 * ZT_SEC);
	assert_int_equal(info(&b).state, ZT_PORTMAP_UNAVAILABLE);
	zt_portmap_stop(b.pm, b.now);
	assert_int_equal(zt_portmap_poll_send(b.pm, b.now, buf, sizeof(buf), &to), 0);
	teardown(&b);
	/* nothing asked for yet (NAT-PMP address request only): nothing to delete */
	setup(&b, GW_SILENT, ZT_PORTMAP_NATPMP);
	assert_int_equal(zt_portmap_poll_send(b.pm, b.now, buf, sizeof(buf), &to), 2);
	zt_portmap_stop(b.pm, b.now);
	assert_int_equal(zt_portmap_poll_send(b.pm, b.now, buf, sizeof(buf), &to), 0);
	teardown(&b);
}

static void config_checked(void **state)
{
	struct zt_prng prng;
	struct zt_rng rng;
	struct zt_portmap *pm = NULL;
	struct zt_portmap_config c;
	uint8_t buf[64];
	struct zt_addr to;
	(void)state;

	zt_prng_seed(&prng, 1);
	rng = zt_prng_rng(&prng);
	c = (struct zt_portmap_config){ .gateway = addr("192.168.1.1"),
					.local = addr("0.0.0.0:50000"), .rng = &rng };
	assert_int_equal(zt_portmap_new(&pm, &c, 0), -EINVAL); /* a wildcard */
	c.local = addr("192.168.1.10");
	assert_int_equal(zt_portmap_new(&pm, &c, 0), -EINVAL); /* no port */
	c.local = addr("[2001:db8::2]:50000");
	assert_int_equal(zt_portmap_new(&pm, &c, 0), -EINVAL); /* families differ */
	c.local = addr("192.168.1.10:50000");
	c.rng = NULL;
	assert_int_equal(zt_portmap_new(&pm, &c, 0), -EINVAL);
	c.rng = &rng;
	assert_int_equal(zt_portmap_new(&pm, &c, 0), 0);
	assert_int_equal(zt_portmap_poll_send(pm, 0, buf, 59, &to), -ENOBUFS);
	assert_string_equal(zt_portmap_state_name(ZT_PORTMAP_MAPPED), "mapped");
	zt_portmap_free(pm);
	zt_portmap_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(pcp_maps_and_renews),
		cmocka_unit_test(renews_at_half_a_short_lifetime),
		cmocka_unit_test(natpmp_gateway_version_fallback),
		cmocka_unit_test(other_pcp_version_falls_back_then_gives_up),
		cmocka_unit_test(silent_gateway_given_up_after_two_seconds),
		cmocka_unit_test(modes_ask_one_protocol),
		cmocka_unit_test(refusals_wait_their_time),
		cmocka_unit_test(lifetimes_clamped_or_refused),
		cmocka_unit_test(hostile_answers_counted_and_dropped),
		cmocka_unit_test(gateway_restart_noticed_and_remapped),
		cmocka_unit_test(announce_restart_bounded),
		cmocka_unit_test(refresh_asks_again_soon),
		cmocka_unit_test(natpmp_restart_noticed),
		cmocka_unit_test(unanswered_renewals_lose_the_mapping),
		cmocka_unit_test(unsolicited_update_moves_the_candidate),
		cmocka_unit_test(stop_deletes_once),
		cmocka_unit_test(config_checked),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
