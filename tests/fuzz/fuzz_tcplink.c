/*
 * libFuzzer target: the records of a TCP direct link (node/tcplink.h) read by an UP
 * link.
 *
 * The input's first byte sets the size of the pieces the rest is fed in (1..256); the
 * second, if nonzero, makes cb.packet close the link at that packet. Checked against
 * a plain reading of the same bytes: every cb.packet has a session != 0 and
 * 1 <= len <= ZT_TCPLINK_PKT_MAX, and the packets are exactly the records before the
 * first framing error, with their sessions and bytes; the link ends with -EPROTO
 * exactly when there is a framing error; once it ended, no more callbacks and recv
 * says -ENOENT; every PING is answered with a PONG (the output, written after each
 * piece, holds nothing else); what is left of a partial record is held and no more.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "core/units.h"
#include "fuzzcheck.h"
#include "node/tcplink.h"

struct seen {
	struct zt_tcplinks *t;
	unsigned close_at;
	size_t packets;
	unsigned downs;
	int down_err;
	uint64_t hash;
};

/* What the bytes say, read plainly. */
struct plain {
	size_t packets, pings, partial;
	bool bad;
	uint64_t hash;
};

static uint64_t mix(uint64_t h, uint32_t session, const uint8_t *p, size_t len)
{
	h = (h ^ session) * 0x100000001b3ULL;
	h = (h ^ len) * 0x100000001b3ULL;
	for (size_t i = 0; i < len; i++)
		h = (h ^ p[i]) * 0x100000001b3ULL;
	return h;
}

static void read_plain(const uint8_t *p, size_t n, size_t max_packets, struct plain *r)
{
	size_t off = 0, len;
	uint32_t session;

	while (off < n && r->packets < max_packets) {
		if (p[off] == ZT_TCPLINK_REC_PING || p[off] == ZT_TCPLINK_REC_PONG) {
			r->pings += p[off++] == ZT_TCPLINK_REC_PING;
			continue;
		}
		if (p[off] != ZT_TCPLINK_REC_PKT)
			goto bad;
		if (n - off >= 5 && !(p[off + 1] | p[off + 2] | p[off + 3] | p[off + 4]))
			goto bad;
		if (n - off < ZT_TCPLINK_PKT_HDR)
			break;
		len = (size_t)p[off + 5] << 8 | p[off + 6];
		if (!len || len > ZT_TCPLINK_PKT_MAX)
			goto bad;
		if (n - off < ZT_TCPLINK_PKT_HDR + len)
			break;
		session = (uint32_t)p[off + 1] << 24 | (uint32_t)p[off + 2] << 16 |
			  (uint32_t)p[off + 3] << 8 | p[off + 4];
		r->hash = mix(r->hash, session, p + off + ZT_TCPLINK_PKT_HDR, len);
		r->packets++;
		off += ZT_TCPLINK_PKT_HDR + len;
	}
	r->partial = n - off;
	return;
bad:
	r->bad = true;
}

static void on_up(void *arg, uint64_t now, uint32_t link)
{
	(void)arg, (void)now, (void)link;
}

static void on_down(void *arg, uint64_t now, uint32_t link, int err)
{
	struct seen *s = arg;

	(void)now, (void)link;
	check(!s->downs);
	s->downs++;
	s->down_err = err;
}

static void on_packet(void *arg, uint64_t now, uint32_t link, uint32_t session,
		      const uint8_t *pkt, size_t len)
{
	struct seen *s = arg;

	check(!s->downs);
	check(session != 0 && len >= 1 && len <= ZT_TCPLINK_PKT_MAX);
	s->hash = mix(s->hash, session, pkt, len);
	if (++s->packets == s->close_at)
		zt_tcplinks_close(s->t, now, link);
}

static const struct zt_tcplink_callbacks cb = {
	.up = on_up,
	.down = on_down,
	.packet = on_packet,
};

/* Writes the link's output; returns its PONGs (nothing else may be in it). */
static size_t pongs(struct seen *s, uint64_t now, uint32_t id)
{
	const uint8_t *p;
	size_t n = zt_tcplinks_output(s->t, id, &p);

	for (size_t i = 0; i < n; i++)
		check(p[i] == ZT_TCPLINK_REC_PONG);
	zt_tcplinks_sent(s->t, now, id, n);
	return n;
}

static uint32_t link_up(struct seen *s, uint64_t now)
{
	const uint8_t a[4] = { 192, 0, 2, 1 }, b[4] = { 192, 0, 2, 2 };
	struct zt_addr local, remote;
	struct zt_tcplink_req req;
	int id;

	zt_addr_set_v4(&local, a, 4000);
	zt_addr_set_v4(&remote, b, 5000);
	id = zt_tcplinks_want(s->t, now, now, &local, &remote);
	check(id > 0);
	check(zt_tcplinks_poll_req(s->t, now, &req) == 1 && req.op == ZT_TCPLINK_CONNECT);
	zt_tcplinks_connected(s->t, now, (uint32_t)id);
	check(zt_tcplinks_up(s->t, (uint32_t)id));
	return (uint32_t)id;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct seen s = { 0 };
	struct zt_tcplink_config cfg = { .cb = &cb, .arg = &s };
	struct plain want = { 0 };
	struct zt_tcplink_info info;
	uint64_t now = 1000 * ZT_SEC;
	size_t piece, off = 2, answered = 0;
	uint32_t id;
	int rc = 0;

	if (size < 2)
		return 0;
	piece = (size_t)data[0] + 1;
	s.close_at = data[1];
	read_plain(data + 2, size - 2, s.close_at ? s.close_at : SIZE_MAX, &want);
	check(zt_tcplinks_new(&s.t, &cfg) == 0);
	id = link_up(&s, now);
	while (off < size && !s.downs) {
		size_t n = size - off < piece ? size - off : piece;

		now += ZT_MS;
		rc = zt_tcplinks_recv(s.t, now, id, data + off, n);
		check(rc == 0 || rc == -EPROTO);
		check(rc == 0 || s.downs);
		if (!s.downs)
			answered += pongs(&s, now, id);
		off += n;
	}
	check(s.packets == want.packets && s.hash == want.hash);
	if (s.close_at && s.packets == s.close_at) {
		check(s.downs == 1 && s.down_err == 0 && rc == 0);
	} else if (want.bad) {
		check(s.downs == 1 && s.down_err == -EPROTO && rc == -EPROTO);
	} else {
		check(!s.downs && answered == want.pings);
		check(zt_tcplinks_info(s.t, id, &info) == 0 && info.in_partial == want.partial);
		check(info.out_queued == 0 && info.pkts_in == want.packets);
	}
	if (s.downs) {
		check(zt_tcplinks_count(s.t) == 0);
		check(zt_tcplinks_recv(s.t, now, id, data, 1) == -ENOENT);
	}
	zt_tcplinks_free(s.t);
	return 0;
}
