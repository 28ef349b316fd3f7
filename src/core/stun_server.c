#include <errno.h>
#include <string.h>

#include "core/stun.h"
#include "core/stun_server.h"

static bool usable(const struct zt_addr *a)
{
	return (a->family == AF_INET || a->family == AF_INET6) && a->port != 0;
}

int zt_stun_server_init(struct zt_stun_server *s, const struct zt_addr *primary,
			const struct zt_addr *alternate)
{
	struct zt_addr a1p2, a2p1;

	if (!usable(primary))
		return -EINVAL;
	if (!alternate || alternate->family == 0) {
		*s = (struct zt_stun_server){ .ep = { *primary }, .n_ep = 1 };
		return 0;
	}
	if (!usable(alternate) || alternate->family != primary->family ||
	    zt_addr_ip_equal(primary, alternate) || primary->port == alternate->port)
		return -EINVAL;
	a1p2 = *primary;
	a1p2.port = alternate->port;
	a2p1 = *alternate;
	a2p1.port = primary->port;
	*s = (struct zt_stun_server){
		.ep = { *primary, a1p2, a2p1, *alternate },
		.n_ep = 4,
	};
	return 0;
}

unsigned zt_stun_server_endpoints(const struct zt_stun_server *s)
{
	return s->n_ep;
}

const struct zt_addr *zt_stun_server_endpoint(const struct zt_stun_server *s, unsigned idx)
{
	return idx < s->n_ep ? &s->ep[idx] : NULL;
}

/* 420 listing the unknown attributes, plus CHANGE-REQUEST when we cannot honour it. */
static int answer_420(const struct zt_stun_msg *m, bool add_change, uint8_t *out, size_t cap)
{
	uint16_t list[ZT_STUN_MAX_ATTRS + 1];
	unsigned n = m->n_unknown;
	struct zt_stun_builder b;

	memcpy(list, m->unknown, n * sizeof(list[0]));
	if (add_change)
		list[n++] = ZT_STUN_ATTR_CHANGE_REQUEST;
	zt_stun_build_init(&b, out, cap, m->method, ZT_STUN_ERROR, m->tid);
	zt_stun_put_error(&b, ZT_STUN_ERR_UNKNOWN_ATTRIBUTE, NULL);
	zt_stun_put_unknown_list(&b, list, n);
	if (m->fp_off)
		zt_stun_put_fingerprint(&b);
	return zt_stun_build_finish(&b);
}

int zt_stun_server_handle(const struct zt_stun_server *s, unsigned local,
			  const struct zt_addr *from, const uint8_t *req, size_t len,
			  uint8_t *out, size_t cap, unsigned *ret_send)
{
	struct zt_stun_msg m;
	struct zt_stun_builder b;
	uint32_t flags = 0;
	unsigned send;
	bool has_change;
	int rc;

	if (local >= s->n_ep || !from || !usable(from))
		return -EINVAL;
	rc = zt_stun_decode_header(&m, req, len);
	if (rc < 0)
		return rc;
	if (m.cls != ZT_STUN_REQUEST || m.method != ZT_STUN_BINDING)
		return ZT_ESTATE;
	rc = zt_stun_decode(&m, req, len);
	if (rc == ZT_ESTUN_FINGERPRINT)
		return rc; /* RFC 8489 s7.3: not a STUN message after all */
	if (rc < 0) {
		/* m still holds the header: answer with its method and transaction ID */
		rc = zt_stun_build_error(&m, ZT_STUN_ERR_BAD_REQUEST, NULL, out, cap);
		send = local;
		goto out;
	}

	has_change = zt_stun_get_u32(&m, ZT_STUN_ATTR_CHANGE_REQUEST, &flags) == 0;
	/* RFC 5780 s6: without an alternate address, CHANGE-REQUEST is unknown to us. */
	if (m.n_unknown || (has_change && s->n_ep == 1)) {
		rc = answer_420(&m, has_change && s->n_ep == 1, out, cap);
		send = local;
		goto out;
	}

	/* RFC 5780 s6.1 Table 1 */
	send = local;
	if (flags & ZT_STUN_CHANGE_IP)
		send ^= 2;
	if (flags & ZT_STUN_CHANGE_PORT)
		send ^= 1;
	zt_stun_build_init(&b, out, cap, ZT_STUN_BINDING, ZT_STUN_SUCCESS, m.tid);
	zt_stun_put_addr(&b, ZT_STUN_ATTR_XOR_MAPPED_ADDRESS, from);
	zt_stun_put_addr(&b, ZT_STUN_ATTR_MAPPED_ADDRESS, from);
	zt_stun_put_addr(&b, ZT_STUN_ATTR_RESPONSE_ORIGIN, &s->ep[send]);
	if (s->n_ep == 4)
		zt_stun_put_addr(&b, ZT_STUN_ATTR_OTHER_ADDRESS, &s->ep[local ^ 3]);
	if (m.fp_off)
		zt_stun_put_fingerprint(&b);
	rc = zt_stun_build_finish(&b);
out:
	if (rc > 0)
		*ret_send = send;
	return rc;
}
