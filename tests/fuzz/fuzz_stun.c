/*
 * libFuzzer target: STUN decoder, integrity and fingerprint checks, getters, the
 * RFC 5780 Binding responder, and the discovery client (as the answer to its test I,
 * whose transaction ID comes from a fixed seed) and the node's NAT detection (core/natprobe,
 * taking the input's own transaction ID so that every decodable input is "its answer")
 * on the same input. Aborts (a finding) when an invariant
 * breaks: a response over the amplification bound, a response that does not decode,
 * a decoded message whose recorded views fall outside the input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/natdisc.h"
#include "core/natprobe.h"
#include "core/stun.h"
#include "core/stun_server.h"

static void check(int cond)
{
	if (!cond)
		abort();
}

static void exercise_getters(const struct zt_stun_msg *m)
{
	static const uint16_t addr_types[] = { ZT_STUN_ATTR_MAPPED_ADDRESS,
					       ZT_STUN_ATTR_XOR_MAPPED_ADDRESS,
					       ZT_STUN_ATTR_RESPONSE_ORIGIN,
					       ZT_STUN_ATTR_OTHER_ADDRESS };
	struct zt_addr a;
	uint32_t v32;
	uint64_t v64;
	const uint8_t *p;
	const char *reason;
	size_t n;
	int code;
	uint16_t list[8];
	uint8_t key[ZT_STUN_LONG_TERM_KEY_LEN];

	for (unsigned i = 0; i < m->n_attrs; i++)
		check(m->attrs[i].off + m->attrs[i].len <= m->len);
	for (size_t i = 0; i < sizeof(addr_types) / sizeof(addr_types[0]); i++)
		if (zt_stun_get_addr(m, addr_types[i], &a) == 0)
			check(a.family == AF_INET || a.family == AF_INET6);
	zt_stun_get_u32(m, ZT_STUN_ATTR_PRIORITY, &v32);
	zt_stun_get_u32(m, ZT_STUN_ATTR_CHANGE_REQUEST, &v32);
	zt_stun_get_u64(m, ZT_STUN_ATTR_ICE_CONTROLLING, &v64);
	zt_stun_get_u64(m, ZT_STUN_ATTR_ICE_CONTROLLED, &v64);
	if (zt_stun_get_bytes(m, ZT_STUN_ATTR_USERNAME, &p, &n) == 0)
		check(p >= m->buf && p + n <= m->buf + m->len);
	if (zt_stun_get_error(m, &code, &reason, &n) == 0)
		check(code >= 300 && code <= 699);
	if (zt_stun_get_unknown_list(m, list, 8) >= 0)
		check(1);
	zt_stun_check_short_term(m, "evtj:h6vY", "VOkJxbRl1RmTxUk/WvJxBt");
	if (zt_stun_long_term_key("user", "realm", "pass", key) == 0)
		zt_stun_check_integrity(m, key, sizeof(key));
}

static void exercise_natdisc(const uint8_t *buf, size_t size)
{
	struct zt_natdisc_cfg cfg = { .n_sockets = 2 };
	struct zt_natdisc *nd;
	struct zt_prng prng;
	struct zt_addr to, from;
	uint8_t req[128];
	unsigned sock;

	zt_addr_parse(&cfg.server, "198.51.100.1:3478", 0);
	zt_addr_parse(&cfg.local[0], "10.0.0.2:5000", 0);
	zt_addr_parse(&cfg.local[1], "10.0.0.2:5001", 0);
	zt_prng_seed(&prng, 1);
	cfg.rng = zt_prng_rng(&prng);
	if (zt_natdisc_new(&cfg, &nd) < 0)
		return;
	check(zt_natdisc_poll_send(nd, 0, req, sizeof(req), &sock, &to) > 0);
	from = cfg.server;
	zt_natdisc_recv(nd, 1, size & 1, &from, buf, size);
	/* whatever phase it reached, the machine keeps its contract */
	while (zt_natdisc_poll_send(nd, 200 * ZT_MS, req, sizeof(req), &sock, &to) > 0)
		check(sock < 2);
	if (zt_natdisc_result(nd)->done)
		check(zt_natdisc_next_deadline(nd) == ZT_TIME_NEVER);
	else
		check(zt_natdisc_next_deadline(nd) != ZT_TIME_NEVER);
	zt_natdisc_free(nd);
}

static void exercise_natprobe(const uint8_t *buf, size_t size)
{
	struct zt_natprobe np;
	struct zt_addr p0, server, to;
	uint8_t tid[ZT_STUN_TID_LEN] = { 0 }, req[ZT_NATPROBE_REQ_LEN];
	enum zt_natprobe_result r;

	zt_addr_parse(&p0, "203.0.113.7:40000", 0);
	zt_addr_parse(&server, "198.51.100.1:4434", 0);
	if (size >= ZT_STUN_HDR_LEN)
		memcpy(tid, buf + 8, sizeof(tid));
	zt_natprobe_init(&np);
	check(zt_natprobe_start(&np, 0, &p0, &server, tid) == 1);
	check(zt_natprobe_poll_send(&np, 0, req, sizeof(req), &to) == ZT_NATPROBE_REQ_LEN);
	check(zt_natprobe_recv(&np, 1, &server, buf, size) >= 0);
	r = zt_natprobe_result(&np);
	check(r <= ZT_NATPROBE_UNKNOWN);
	if (r)
		check(zt_natprobe_next_deadline(&np) == ZT_TIME_NEVER && np.second.family == AF_INET);
	else
		check(zt_natprobe_next_deadline(&np) == ZT_NATPROBE_RTO);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct zt_stun_server s4, s1;
	static int ready;
	struct zt_stun_msg m;
	struct zt_addr from;
	uint8_t resp[ZT_STUN_SERVER_MAX_RESPONSE];
	/* an exact-size copy so that ASan sees reads past the datagram */
	uint8_t *buf = malloc(size ? size : 1);
	unsigned send;
	int rc;

	if (!buf)
		return 0;
	if (size)
		memcpy(buf, data, size);
	if (!ready) {
		struct zt_addr a1, a2;

		zt_addr_parse(&a1, "198.51.100.1:3478", 0);
		zt_addr_parse(&a2, "198.51.100.2:3479", 0);
		check(zt_stun_server_init(&s4, &a1, &a2) == 0);
		check(zt_stun_server_init(&s1, &a1, NULL) == 0);
		ready = 1;
	}

	if (zt_stun_decode(&m, buf, size) == 0) {
		check(zt_stun_looks_like(buf, size) || buf[0] > 3);
		exercise_getters(&m);
		if (m.n_unknown && m.cls == ZT_STUN_REQUEST) {
			rc = zt_stun_build_420(&m, resp, sizeof(resp));
			check(rc > 0 && (size_t)rc <= size + ZT_STUN_SERVER_MAX_GROWTH);
		}
	}

	zt_addr_parse(&from, size & 1 ? "[2001:db8::7]:40000" : "203.0.113.7:40000", 0);
	for (unsigned local = 0; local < 4; local++) {
		const struct zt_stun_server *s = local == 0 && (size & 2) ? &s1 : &s4;

		send = 99;
		rc = zt_stun_server_handle(s, local, &from, buf, size, resp, sizeof(resp), &send);
		if (rc > 0) {
			struct zt_stun_msg r;

			check(rc <= ZT_STUN_SERVER_MAX_RESPONSE);
			check((size_t)rc <= size + ZT_STUN_SERVER_MAX_GROWTH);
			check(send < zt_stun_server_endpoints(s));
			check(zt_stun_decode(&r, resp, (size_t)rc) == 0);
			check(r.cls == ZT_STUN_SUCCESS || r.cls == ZT_STUN_ERROR);
		} else {
			check(send == 99);
		}
	}
	exercise_natdisc(buf, size);
	exercise_natprobe(buf, size);
	free(buf);
	return 0;
}
