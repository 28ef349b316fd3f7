/*
 * libFuzzer target: the PCP / NAT-PMP answer decoder (core/pcp.h) and the port-mapping
 * client (node/portmap.h) taking the input as the gateway's answer in each of its
 * states: probing with PCP, after the fallback to NAT-PMP (waiting for the address,
 * then for the mapping), and mapped (a renewal or update). PCP-shaped inputs are also
 * tried with the client's nonce and port patched in, so that they reach past the
 * nonce check. Aborts when an invariant breaks: a decoded field outside the input's
 * shape, more than one request per answer, a mapping without address, port or a
 * lifetime in range, a deadline in the past, a request after stop.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/pcp.h"
#include "core/rng.h"
#include "core/units.h"
#include "node/portmap.h"
#include "fuzzcheck.h"

enum stage { FRESH, NATPMP_ADDR, NATPMP_MAP, MAPPED, STAGES };

struct harness {
	struct zt_prng prng;
	struct zt_rng rng;
	struct zt_portmap *pm;
	struct zt_addr gw;
	uint64_t now;
	uint8_t req[128];
	int req_len;
};

static void check_answer(const uint8_t *buf, size_t len)
{
	struct zt_pcp_answer a;

	if (zt_pcp_parse(&a, buf, len) < 0)
		return;
	check(a.version == buf[0]);
	if (a.version == ZT_NATPMP_VERSION) {
		check(len >= ZT_NATPMP_HDR_LEN && len <= ZT_NATPMP_MAP_LEN);
	} else {
		check(len >= ZT_PCP_HDR_LEN && len <= ZT_PCP_MAX_LEN && len % 4 == 0);
		check(!a.has_body || (a.version == ZT_PCP_VERSION && len >= ZT_PCP_MAP_MSG_LEN));
		check(a.result <= 255);
	}
	check(a.external_ip.family == 0 || a.external_ip.family == AF_INET ||
	      a.external_ip.family == AF_INET6);
	check(a.external_ip.port == 0);
	zt_pcp_epoch_valid(a.epoch, a.lifetime, a.epoch % 1000);
	zt_natpmp_epoch_valid(a.epoch, a.lifetime, a.epoch % 1000);
	check(zt_pcp_result_name(a.version, a.result) != NULL);
}

/* Sends what the client has (keeping the last request); returns how many. */
static unsigned pump(struct harness *h)
{
	uint8_t buf[1500];
	struct zt_addr to;
	unsigned n = 0;
	int len;

	while ((len = zt_portmap_poll_send(h->pm, h->now, buf, sizeof(buf), &to)) > 0) {
		check(len <= ZT_PCP_MAP_MSG_LEN);
		check(zt_addr_equal(&to, &h->gw));
		memcpy(h->req, buf, (size_t)len);
		h->req_len = len;
		check(++n < 100);
	}
	check(len == 0);
	return n;
}

static void check_state(const struct harness *h)
{
	struct zt_portmap_info i;

	zt_portmap_info(h->pm, &i);
	check(zt_portmap_next_deadline(h->pm) >= h->now);
	if (i.state == ZT_PORTMAP_MAPPED) {
		check(i.external.family == AF_INET && i.external.port != 0);
		check(i.lifetime >= 10 && i.lifetime <= 86400);
		check(i.expires_at > h->now);
	} else {
		check(i.external.family == 0);
	}
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* An honest gateway's answer to the last request: PCP MAP -> "unsupported version"
 * (a NAT-PMP gateway) or a mapping; NAT-PMP address or mapping. */
static void honest(struct harness *h, bool natpmp_only)
{
	uint8_t a[64] = { 0 };
	size_t n;

	if (h->req[0] == 2 && natpmp_only) {
		a[1] = 0x81;
		a[3] = 1;
		n = 8;
	} else if (h->req[0] == 2) {
		memcpy(a, h->req, 60);
		a[1] = 0x81;
		memset(a + 8, 0, 16);
		put32(a + 4, 3600);
		a[42] = 0xea;
		a[43] = 0x60;
		memcpy(a + 44, (const uint8_t[]){ 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 203, 0,
						  113, 5 }, 16);
		n = 60;
	} else if (h->req[1] == 0) {
		a[1] = 0x80;
		memcpy(a + 8, (const uint8_t[]){ 203, 0, 113, 5 }, 4);
		n = 12;
	} else {
		a[1] = 0x81;
		memcpy(a + 8, h->req + 4, 2);
		a[10] = 0xea;
		a[11] = 0x60;
		put32(a + 12, 3600);
		n = 16;
	}
	zt_portmap_recv(h->pm, h->now, &h->gw, a, n);
	pump(h);
}

static void drive(const uint8_t *data, size_t size, enum stage stage, bool patch)
{
	struct harness h = { .now = ZT_SEC };
	struct zt_portmap_config cfg = { 0 };
	uint8_t *copy = malloc(size ? size : 1); /* exact size: ASan sees over-reads */

	if (!copy)
		return;
	memcpy(copy, data, size);
	zt_prng_seed(&h.prng, 3);
	h.rng = zt_prng_rng(&h.prng);
	zt_addr_parse(&h.gw, "192.168.1.1:5351", 0);
	cfg.gateway = h.gw;
	zt_addr_parse(&cfg.local, "192.168.1.10:50000", 0);
	cfg.rng = &h.rng;
	check(zt_portmap_new(&h.pm, &cfg, h.now) == 0);
	pump(&h);
	if (stage != FRESH && stage != MAPPED)
		honest(&h, true);  /* fallback: the address request is out */
	if (stage == NATPMP_MAP || stage == MAPPED)
		honest(&h, false); /* the mapping request is out, or we are mapped */
	if (patch && size >= 42 && copy[0] == 2 && h.req[0] == 2) {
		memcpy(copy + 24, h.req + 24, 12); /* nonce */
		memcpy(copy + 40, h.req + 40, 2);  /* internal port */
	}
	h.now += ZT_MS;
	check(zt_portmap_recv(h.pm, h.now, &h.gw, copy, size) == 1);
	check(pump(&h) <= 1);
	check_state(&h);
	for (int k = 0; k < 8; k++) {
		uint64_t t = zt_portmap_next_deadline(h.pm);

		if (t == ZT_TIME_NEVER)
			break;
		h.now = t > h.now ? t : h.now;
		zt_portmap_on_timeout(h.pm, h.now);
		check(pump(&h) <= 1);
		check_state(&h);
	}
	zt_portmap_stop(h.pm, h.now);
	check(pump(&h) <= 1);
	check(zt_portmap_next_deadline(h.pm) == ZT_TIME_NEVER);
	zt_portmap_free(h.pm);
	free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_answer(data, size);
	for (int s = 0; s < STAGES; s++) {
		drive(data, size, (enum stage)s, false);
		drive(data, size, (enum stage)s, true);
	}
	return 0;
}
