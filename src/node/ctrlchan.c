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
	ch->poison = 0;
	ch->backlog = NULL;
	ch->boff = ch->blen = ch->bcap = ch->bmax = 0;
	ch->eof = false;
	ch->overflowed = ch->cut = false;
	ch->sent = ch->received = 0;
	if (sid >= 0)
		zt_ctrlchan_attach(ch, sid);
}

void zt_ctrlchan_attach(struct zt_ctrlchan *ch, int64_t sid)
{
	ch->sid = sid;
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

static void backlog_drop(struct zt_ctrlchan *ch)
{
	free(ch->backlog);
	ch->backlog = NULL;
	ch->boff = ch->blen = ch->bcap = 0;
}

void zt_ctrlchan_set_backlog_max(struct zt_ctrlchan *ch, size_t max)
{
	ch->bmax = max;
}

/*
 * Room for rest more bytes at the end of the backlog: -ENOBUFS past the bound, or
 * -ENOMEM. The bytes already sent from its front (boff) are reclaimed by moving the
 * rest down only when they are at least as many as those moved, or the bound is
 * reached; else the buffer doubles: each byte is moved a bounded number of times.
 */
static int backlog_room(struct zt_ctrlchan *ch, size_t rest)
{
	size_t max = ch->bmax ? ch->bmax : ZT_CTRLCHAN_BACKLOG, cap;
	uint8_t *b;

	if (ch->blen + rest > max)
		return -ENOBUFS;
	if (ch->boff + ch->blen + rest <= ch->bcap)
		return 0;
	cap = ch->bcap ? 2 * ch->bcap : (max < ZT_CTRLCHAN_BACKLOG ? max : ZT_CTRLCHAN_BACKLOG);
	while (cap < ch->blen + rest)
		cap *= 2;
	if (cap > max)
		cap = max;
	if (ch->boff && (ch->boff >= ch->blen || cap <= ch->bcap)) {
		memmove(ch->backlog, ch->backlog + ch->boff, ch->blen);
		ch->boff = 0;
		if (ch->blen + rest <= ch->bcap)
			return 0;
	}
	b = realloc(ch->backlog, cap);
	if (!b)
		return -ENOMEM;
	if (ch->boff) {
		memmove(b, b + ch->boff, ch->blen);
		ch->boff = 0;
	}
	ch->backlog = b;
	ch->bcap = cap;
	return 0;
}

static void reader_drop(struct zt_ctrlchan *ch)
{
	free(ch->rd);
	ch->rd = NULL;
}

void zt_ctrlchan_fini(struct zt_ctrlchan *ch)
{
	backlog_drop(ch);
	reader_drop(ch);
}

int zt_ctrlchan_flush(struct zt_ctrlchan *ch)
{
	int n;

	if (!ch->blen)
		return 0;
	if (ch->sid < 0)
		return ZT_ESTATE;
	n = pipe_write(ch, ch->backlog + ch->boff, ch->blen);
	if (n < 0)
		return n == -ENOMEM ? n : ZT_ESTATE;
	if ((size_t)n == ch->blen) {
		backlog_drop(ch); /* send() allocates it again when the stream is full */
		return 0;
	}
	ch->boff += (size_t)n;
	ch->blen -= (size_t)n;
	return 0;
}

int zt_ctrlchan_send(struct zt_ctrlchan *ch, const struct zt_ctrl_msg *msg)
{
	uint8_t buf[ZT_CTRL_MSG_MAX];
	int len, n = 0, rc;

	if (ch->sid < 0)
		return ZT_ESTATE;
	/* After a message was dropped for a full backlog, none goes until the backlog has
	 * drained (an owner that closes on overflowed never sends again); after one was
	 * cut, none ever: the stream's framing is lost. */
	if (ch->cut || (ch->overflowed && ch->blen))
		return -ENOBUFS;
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

		rc = backlog_room(ch, rest);
		if (rc == -ENOBUFS) {
			ch->overflowed = true;
			return -ENOBUFS;
		}
		if (rc < 0) {
			/* part of it is on the stream: no message may follow */
			if (n > 0)
				ch->overflowed = ch->cut = true;
			return -ENOMEM;
		}
		memcpy(ch->backlog + ch->boff + ch->blen, buf + n, rest);
		ch->blen += rest;
	}
	ch->sent++;
	return 0;
}

/* Pops from the reader, if there is one, and frees it when it holds no partial message
 * (*msg is a copy: nothing in it points into the reader) or a framing error poisoned it. */
static int reader_pop(struct zt_ctrlchan *ch, struct zt_ctrl_msg *msg)
{
	int rc;

	if (!ch->rd)
		return 0;
	rc = zt_ctrl_reader_pop(ch->rd, msg);
	if (zt_ctrl_reader_poisoned(ch->rd))
		ch->poison = rc;
	if (ch->poison || !ch->rd->len)
		reader_drop(ch);
	return rc;
}

/* Feeds n bytes to the reader, allocating it. Fails (-ENOMEM) only when that fails. */
static int reader_feed(struct zt_ctrlchan *ch, const uint8_t *buf, size_t n)
{
	if (!ch->rd) {
		ch->rd = malloc(sizeof(*ch->rd));
		if (!ch->rd)
			return -ENOMEM;
		zt_ctrl_reader_init(ch->rd);
	}
	return zt_ctrl_reader_feed(ch->rd, buf, n);
}

int zt_ctrlchan_next(struct zt_ctrlchan *ch, struct zt_ctrl_msg *msg)
{
	uint8_t buf[4096];

	if (ch->poison)
		return ch->poison;
	for (;;) {
		size_t room = sizeof(buf);
		bool fin = false;
		int rc, n;

		rc = reader_pop(ch, msg);
		if (rc != 0) {
			if (rc == 1)
				ch->received++;
			return rc;
		}
		if (ch->eof) {
			reader_drop(ch); /* a partial message that will not be finished */
			return ZT_EPEER;
		}
		if (ch->sid < 0)
			return 0;
		/* never more than the reader has room for: the rest waits in the stream */
		if (ch->rd && ZT_CTRL_MSG_MAX - ch->rd->len < room)
			room = ZT_CTRL_MSG_MAX - ch->rd->len;
		n = pipe_read(ch, buf, room, &fin);
		if (n == -EAGAIN)
			return 0;
		/* the reader has room for n; without memory for it the stream reads as
		 * ended, as a failed read does (the owner closes) */
		if (n < 0 || (n > 0 && reader_feed(ch, buf, (size_t)n) < 0)) {
			ch->eof = true;
			reader_drop(ch);
			return ZT_EPEER;
		}
		if (fin)
			ch->eof = true;
	}
}
