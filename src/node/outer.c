/* The outer connection over QUIC or TLS/TCP (outer.h). */
#include <errno.h>
#include <stdlib.h>

#include "core/err.h"
#include "node/outer.h"

struct zt_outer {
	enum zt_outer_kind kind;
	struct zt_quic_conn *quic;
	struct zt_tcpouter *tcp;
	struct zt_ctrlchan ch;
	struct zt_quic_path path;        /* TCP: the connection's addresses */
	const struct zt_outer_callbacks *cb;
	void *arg;
};

#define CB(o, name, ...)                                     \
	do {                                                 \
		if ((o)->cb && (o)->cb->name)                \
			(o)->cb->name((o), (o)->arg, ##__VA_ARGS__); \
	} while (0)

/* QUIC events. */

static void q_handshake(struct zt_quic_conn *c, void *arg)
{
	struct zt_outer *o = arg;
	int64_t sid;

	if (!zt_quic_conn_is_server(c)) {
		if (zt_quic_stream_open(c, &sid, NULL) < 0) {
			zt_quic_conn_close(c, (uint64_t)-ZT_ESTATE, "cannot open the control stream");
			return;
		}
		zt_ctrlchan_attach(&o->ch, sid);
	}
	CB(o, ready);
}

static void q_opened(struct zt_quic_conn *c, void *arg, int64_t sid)
{
	struct zt_outer *o = arg;

	if (zt_quic_conn_is_server(c) && o->ch.sid < 0) {
		zt_ctrlchan_attach(&o->ch, sid);
		return;
	}
	zt_quic_stream_reset(c, sid, 0); /* one control stream; nothing else */
}

static void q_readable(struct zt_quic_conn *c, void *arg, int64_t sid, void *sarg)
{
	struct zt_outer *o = arg;
	(void)c;
	(void)sarg;

	if (sid == o->ch.sid)
		CB(o, ctrl_readable);
}

static void q_writable(struct zt_quic_conn *c, void *arg, int64_t sid, void *sarg)
{
	struct zt_outer *o = arg;
	(void)c;
	(void)sarg;

	if (sid == o->ch.sid) {
		zt_ctrlchan_flush(&o->ch);
		CB(o, ctrl_writable);
	}
}

static void q_dgram(struct zt_quic_conn *c, void *arg, const uint8_t *data, size_t len)
{
	struct zt_outer *o = arg;
	(void)c;

	CB(o, datagram, data, len);
}

static void q_path(struct zt_quic_conn *c, void *arg, const struct zt_quic_path *path, bool ok)
{
	struct zt_outer *o = arg;
	(void)c;

	CB(o, path_validated, path, ok);
}

static const struct zt_quic_callbacks quic_cb = {
	.handshake_done = q_handshake,
	.stream_opened = q_opened,
	.stream_readable = q_readable,
	.stream_writable = q_writable,
	.datagram = q_dgram,
	.path_validated = q_path,
};

/* TCP events. */

static void t_handshake(void *arg)
{
	struct zt_outer *o = arg;

	CB(o, ready);
}

static void t_readable(void *arg)
{
	struct zt_outer *o = arg;

	CB(o, ctrl_readable);
}

static void t_writable(void *arg)
{
	struct zt_outer *o = arg;

	zt_ctrlchan_flush(&o->ch);
	CB(o, ctrl_writable);
}

static void t_dgram(void *arg, const uint8_t *data, size_t len)
{
	struct zt_outer *o = arg;

	CB(o, datagram, data, len);
}

static const struct zt_tcpouter_callbacks tcp_cb = {
	.handshake_done = t_handshake,
	.ctrl_readable = t_readable,
	.ctrl_writable = t_writable,
	.datagram = t_dgram,
};

/* Creation. */

static struct zt_outer *outer_alloc(enum zt_outer_kind kind, const struct zt_outer_callbacks *cb,
				    void *arg)
{
	struct zt_outer *o = calloc(1, sizeof(*o));

	if (!o)
		return NULL;
	o->kind = kind;
	o->cb = cb;
	o->arg = arg;
	zt_ctrlchan_init(&o->ch, NULL, -1);
	return o;
}

/* A QUIC connection made (rc 0: o->quic) or not: o returned or freed. */
static int quic_made(struct zt_outer *o, int rc, struct zt_outer **ret)
{
	if (rc < 0) {
		free(o);
		return rc;
	}
	o->ch.conn = o->quic;
	*ret = o;
	return 0;
}

int zt_outer_connect_quic(struct zt_outer **ret, const struct zt_quic_config *qc,
			  const char *server_name, const struct zt_quic_path *path,
			  const struct zt_outer_callbacks *cb, void *arg, uint64_t now)
{
	struct zt_quic_config c = *qc;
	struct zt_outer *o = outer_alloc(ZT_OUTER_UDP, cb, arg);

	if (!o)
		return -ENOMEM;
	c.cb = &quic_cb;
	return quic_made(o, zt_quic_conn_connect(&o->quic, &c, server_name, path, o, now), ret);
}

int zt_outer_accept_quic(struct zt_outer **ret, const struct zt_quic_config *qc,
			 const struct zt_quic_path *path, const uint8_t *pkt, size_t len,
			 const struct zt_quic_retried *retried, const struct zt_outer_callbacks *cb,
			 void *arg, uint64_t now)
{
	struct zt_quic_config c = *qc;
	struct zt_outer *o = outer_alloc(ZT_OUTER_UDP, cb, arg);

	if (!o)
		return -ENOMEM;
	c.cb = &quic_cb;
	return quic_made(o, zt_quic_conn_accept_retried(&o->quic, &c, path, pkt, len, retried, o, now),
			 ret);
}

int zt_outer_new_tcp(struct zt_outer **ret, const struct zt_tcpouter_config *tc,
		     const struct zt_quic_path *path, const struct zt_outer_callbacks *cb, void *arg,
		     uint64_t now)
{
	struct zt_tcpouter_config c = *tc;
	struct zt_outer *o = outer_alloc(ZT_OUTER_TCP, cb, arg);
	int rc;

	if (!o)
		return -ENOMEM;
	c.cb = &tcp_cb;
	c.arg = o;
	rc = zt_tcpouter_new(&o->tcp, &c, now);
	if (rc < 0) {
		free(o);
		return rc;
	}
	o->path = *path;
	zt_ctrlchan_init_tcp(&o->ch, o->tcp);
	*ret = o;
	return 0;
}

void zt_outer_free(struct zt_outer *o)
{
	if (!o)
		return;
	zt_ctrlchan_fini(&o->ch);
	zt_quic_conn_free(o->quic);
	zt_tcpouter_free(o->tcp);
	free(o);
}

/* Accessors. */

enum zt_outer_kind zt_outer_kind(const struct zt_outer *o)
{
	return o->kind;
}

const char *zt_outer_kind_name(enum zt_outer_kind k)
{
	return k == ZT_OUTER_TCP ? "tcp" : "udp";
}

void *zt_outer_arg(const struct zt_outer *o)
{
	return o->arg;
}

struct zt_quic_conn *zt_outer_quic(const struct zt_outer *o)
{
	return o->quic;
}

struct zt_tcpouter *zt_outer_tcp(const struct zt_outer *o)
{
	return o->tcp;
}

struct zt_ctrlchan *zt_outer_ctrl(struct zt_outer *o)
{
	return &o->ch;
}

size_t zt_outer_ctrl_queued(const struct zt_outer *o, size_t sndbuf)
{
	size_t room;

	if (o->tcp)
		return zt_tcpouter_queued(o->tcp) + o->ch.blen;
	if (o->ch.sid < 0)
		return o->ch.blen;
	room = zt_quic_stream_writable(o->quic, o->ch.sid);
	return (room < sndbuf ? sndbuf - room : 0) + o->ch.blen;
}

int zt_outer_dgram_send(struct zt_outer *o, const void *data, size_t len)
{
	return o->tcp ? zt_tcpouter_dgram_send(o->tcp, data, len)
		      : zt_quic_dgram_send(o->quic, data, len);
}

size_t zt_outer_dgram_queued(const struct zt_outer *o)
{
	return o->tcp ? zt_tcpouter_queued(o->tcp) / 1200 : zt_quic_dgram_queued(o->quic);
}

enum zt_quic_state zt_outer_state(const struct zt_outer *o)
{
	return o->tcp ? zt_tcpouter_state(o->tcp) : zt_quic_conn_state(o->quic);
}

void zt_outer_close_info(const struct zt_outer *o, struct zt_quic_close_info *ret)
{
	if (o->tcp)
		zt_tcpouter_close_info(o->tcp, ret);
	else
		zt_quic_conn_close_info(o->quic, ret);
}

void zt_outer_close(struct zt_outer *o, uint64_t now, uint64_t code, const char *reason)
{
	if (o->tcp) {
		zt_ctrlchan_flush(&o->ch); /* what the channel holds goes before the CLOSE */
		zt_tcpouter_close(o->tcp, now, code, reason);
	} else {
		zt_quic_conn_close(o->quic, code, reason);
	}
}

uint64_t zt_outer_next_deadline(const struct zt_outer *o)
{
	return o->tcp ? zt_tcpouter_next_deadline(o->tcp) : zt_quic_conn_next_deadline(o->quic);
}

void zt_outer_on_timeout(struct zt_outer *o, uint64_t now)
{
	if (o->tcp)
		zt_tcpouter_on_timeout(o->tcp, now);
	else
		zt_quic_conn_on_timeout(o->quic, now);
}

uint64_t zt_outer_srtt(const struct zt_outer *o)
{
	struct zt_quic_stats qs;

	if (o->tcp)
		return zt_tcpouter_srtt(o->tcp);
	zt_quic_conn_stats(o->quic, &qs);
	return qs.srtt_ns;
}

void zt_outer_path(const struct zt_outer *o, struct zt_quic_path *ret)
{
	if (o->tcp)
		*ret = o->path;
	else
		zt_quic_conn_path(o->quic, ret);
}

struct zt_tls_session *zt_outer_tls(struct zt_outer *o)
{
	return o->tcp ? zt_tcpouter_tls(o->tcp) : zt_quic_conn_tls(o->quic);
}
