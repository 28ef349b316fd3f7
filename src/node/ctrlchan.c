#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "node/ctrlchan.h"

void zt_ctrlchan_init(struct zt_ctrlchan *ch, struct zt_quic_conn *conn, int64_t sid)
{
	ch->conn = conn;
	ch->tcp = NULL;
	ch->sid = -1;
	ch->rd = NULL;
	ch->backlog = NULL;
	ch->blen = 0;
	ch->eof = false;
	ch->overflowed = false;
	ch->sent = ch->received = 0;
	if (sid >= 0)
		zt_ctrlchan_attach(ch, sid);
}

void zt_ctrlchan_attach(struct zt_ctrlchan *ch, int64_t sid)
{
	ch->sid = sid;
	if (ch->rd)
		return;
	ch->rd = malloc(sizeof(*ch->rd));
	if (ch->rd)
		zt_ctrl_reader_init(ch->rd);
	else
		ch->eof = true; /* next() says ZT_EPEER: the owner closes */
}

void zt_ctrlchan_init_tcp(struct zt_ctrlchan *ch, struct zt_tcpouter *t)
{
	zt_ctrlchan_init(ch, NULL, -1);
	ch->tcp = t;
	zt_ctrlchan_attach(ch, 0);
}

static int pipe_write(struct zt_ctrlchan *ch, const uint8_t *data, size_t len)
{
	if (ch->tcp)
		return zt_tcpouter_ctrl_write(ch->tcp, data, len);
	return zt_quic_stream_write(ch->conn, ch->sid, data, len);
}

static int pipe_read(struct zt_ctrlchan *ch, uint8_t *buf, size_t cap, bool *fin)
{
	int n;

	if (!ch->tcp)
		return zt_quic_stream_read(ch->conn, ch->sid, buf, cap, fin);
	n = zt_tcpouter_ctrl_read(ch->tcp, buf, cap);
	return n == 0 ? -EAGAIN : n;
}

void zt_ctrlchan_fini(struct zt_ctrlchan *ch)
{
	free(ch->backlog);
	ch->backlog = NULL;
	ch->blen = 0;
	free(ch->rd);
	ch->rd = NULL;
}

int zt_ctrlchan_flush(struct zt_ctrlchan *ch)
{
	int n;

	if (!ch->blen)
		return 0;
	if (ch->sid < 0)
		return ZT_ESTATE;
	n = pipe_write(ch, ch->backlog, ch->blen);
	if (n < 0)
		return n == -ENOMEM ? n : ZT_ESTATE;
	memmove(ch->backlog, ch->backlog + n, ch->blen - (size_t)n);
	ch->blen -= (size_t)n;
	return 0;
}

int zt_ctrlchan_send(struct zt_ctrlchan *ch, const struct zt_ctrl_msg *msg)
{
	uint8_t buf[ZT_CTRL_MSG_MAX];
	int len, n = 0, rc;

	if (ch->sid < 0)
		return ZT_ESTATE;
	if (ch->overflowed)
		return -ENOBUFS; /* the owner closes the connection */
	len = zt_ctrl_encode(msg, buf, sizeof(buf));
	if (len < 0)
		return -EINVAL;
	rc = zt_ctrlchan_flush(ch);
	if (rc < 0)
		return rc;
	if (!ch->blen) {
		n = pipe_write(ch, buf, (size_t)len);
		if (n < 0)
			return n == -ENOMEM ? n : ZT_ESTATE;
	}
	if (n < len) {
		size_t rest = (size_t)(len - n);
		uint8_t *b;

		if (ch->blen + rest > ZT_CTRLCHAN_BACKLOG) {
			ch->overflowed = true;
			return -ENOBUFS;
		}
		if (!ch->backlog) {
			ch->backlog = malloc(ZT_CTRLCHAN_BACKLOG);
			if (!ch->backlog)
				return -ENOMEM;
		}
		b = ch->backlog;
		memcpy(b + ch->blen, buf + n, rest);
		ch->blen += rest;
	}
	ch->sent++;
	return 0;
}

int zt_ctrlchan_next(struct zt_ctrlchan *ch, struct zt_ctrl_msg *msg)
{
	uint8_t buf[4096];

	if (!ch->rd)
		return ch->eof ? ZT_EPEER : 0;
	for (;;) {
		size_t room = sizeof(ch->rd->buf) - ch->rd->len;
		bool fin = false;
		int rc, n;

		rc = zt_ctrl_reader_pop(ch->rd, msg);
		if (rc != 0) {
			if (rc == 1)
				ch->received++;
			return rc;
		}
		if (ch->eof)
			return ZT_EPEER;
		if (ch->sid < 0)
			return 0;
		if (room > sizeof(buf))
			room = sizeof(buf);
		n = pipe_read(ch, buf, room, &fin);
		if (n == -EAGAIN)
			return 0;
		if (n < 0) {
			ch->eof = true;
			return ZT_EPEER;
		}
		if (n > 0) {
			rc = zt_ctrl_reader_feed(ch->rd, buf, (size_t)n);
			if (rc < 0)
				return rc;
		}
		if (fin)
			ch->eof = true;
	}
}
