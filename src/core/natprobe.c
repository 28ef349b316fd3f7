#include <errno.h>
#include <string.h>

#include "core/natprobe.h"

void zt_natprobe_init(struct zt_natprobe *np)
{
	*np = (struct zt_natprobe){ .next_send = ZT_TIME_NEVER, .fail_at = ZT_TIME_NEVER };
}

int zt_natprobe_start(struct zt_natprobe *np, uint64_t now, const struct zt_addr *observed,
		      const struct zt_addr *server, const uint8_t tid[ZT_STUN_TID_LEN])
{
	if (!observed->family || !server->family || !server->port ||
	    observed->family != server->family)
		return -EINVAL;
	if (zt_addr_equal(&np->observed, observed) && zt_addr_equal(&np->server, server) &&
	    (np->result || zt_natprobe_running(np)))
		return 0;
	zt_natprobe_init(np);
	np->observed = *observed;
	np->server = *server;
	memcpy(np->tid, tid, sizeof(np->tid));
	np->next_send = now;
	return 1;
}

void zt_natprobe_stop(struct zt_natprobe *np)
{
	np->next_send = np->fail_at = ZT_TIME_NEVER;
}

bool zt_natprobe_running(const struct zt_natprobe *np)
{
	return !np->result && (np->next_send != ZT_TIME_NEVER || np->fail_at != ZT_TIME_NEVER);
}

int zt_natprobe_poll_send(struct zt_natprobe *np, uint64_t now, uint8_t *buf, size_t cap,
			  struct zt_addr *ret_to)
{
	struct zt_stun_builder b;
	uint64_t rto = ZT_NATPROBE_RTO;
	int n;

	if (np->result || now < np->next_send)
		return 0;
	if (cap < ZT_NATPROBE_REQ_LEN)
		return -ENOBUFS;
	zt_stun_build_init(&b, buf, cap, ZT_STUN_BINDING, ZT_STUN_REQUEST, np->tid);
	zt_stun_put_fingerprint(&b);
	n = zt_stun_build_finish(&b);
	if (n < 0)
		return n;
	if (np->sent == 0)
		np->started = now;
	for (unsigned i = 0; i < np->sent; i++)
		rto *= 2;
	if (++np->sent < ZT_NATPROBE_TRIES) {
		np->next_send = now + rto;
	} else {
		np->next_send = ZT_TIME_NEVER;
		np->fail_at = now + ZT_NATPROBE_LAST_WAIT;
	}
	*ret_to = np->server;
	return n;
}

enum zt_natprobe_result zt_natprobe_classify(const struct zt_addr *observed,
					     const struct zt_addr *second)
{
	if (!observed->family || !zt_addr_ip_equal(observed, second))
		return ZT_NATPROBE_UNKNOWN;
	if (second->port == observed->port)
		return ZT_NATPROBE_EIM;
	if (second->port > observed->port &&
	    second->port - observed->port <= ZT_NATPROBE_SEQ_MAX_STEP)
		return ZT_NATPROBE_SEQUENTIAL;
	return ZT_NATPROBE_RANDOM;
}

int zt_natprobe_recv(struct zt_natprobe *np, uint64_t now, const struct zt_addr *from,
		     const uint8_t *buf, size_t len)
{
	struct zt_stun_msg m;
	struct zt_addr mapped;

	if (!np->sent || np->result || !zt_addr_equal(from, &np->server))
		return 0;
	if (zt_stun_decode(&m, buf, len) < 0 || memcmp(m.tid, np->tid, sizeof(np->tid)))
		return 0;
	/* ours: decided only by a success with a mapped address of P0's family
	 * (RFC 8489 s7.3.3: unknown comprehension-required attributes fail it) */
	if (m.method != ZT_STUN_BINDING || m.cls != ZT_STUN_SUCCESS || m.n_unknown)
		return 1;
	if (zt_stun_get_addr(&m, ZT_STUN_ATTR_XOR_MAPPED_ADDRESS, &mapped) < 0 &&
	    zt_stun_get_addr(&m, ZT_STUN_ATTR_MAPPED_ADDRESS, &mapped) < 0)
		return 1;
	if (mapped.family != np->observed.family || !mapped.port)
		return 1;
	np->second = mapped;
	np->result = zt_natprobe_classify(&np->observed, &mapped);
	np->took = now - np->started;
	np->next_send = np->fail_at = ZT_TIME_NEVER;
	return 1;
}

uint64_t zt_natprobe_next_deadline(const struct zt_natprobe *np)
{
	if (np->result)
		return ZT_TIME_NEVER;
	return np->next_send < np->fail_at ? np->next_send : np->fail_at;
}

void zt_natprobe_on_timeout(struct zt_natprobe *np, uint64_t now)
{
	if (np->result || np->fail_at == ZT_TIME_NEVER || now < np->fail_at)
		return;
	np->result = ZT_NATPROBE_UNKNOWN;
	np->took = now - np->started;
	np->fail_at = ZT_TIME_NEVER;
}

enum zt_natprobe_result zt_natprobe_result(const struct zt_natprobe *np)
{
	return np->result;
}

const char *zt_natprobe_name(enum zt_natprobe_result r)
{
	switch (r) {
	case ZT_NATPROBE_EIM: return "eim";
	case ZT_NATPROBE_SEQUENTIAL: return "sequential";
	case ZT_NATPROBE_RANDOM: return "random";
	case ZT_NATPROBE_UNKNOWN: return "unknown";
	default: return "none";
	}
}
