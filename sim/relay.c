#include <stdio.h>
#include <string.h>

#include "core/ctrl.h"
#include "core/units.h"
#include "relay.h"

void zt_sim_relay_init(struct zt_sim_relay *r, const struct zt_addr *addr)
{
	*r = (struct zt_sim_relay){ .addr = *addr, .margin = 10 * ZT_MS };
}

static struct zt_sim_relay_client *client_of(struct zt_sim_relay *r, const struct zt_addr *a,
					     bool create)
{
	struct zt_sim_relay_client *free_slot = NULL;

	for (int i = 0; i < ZT_SIM_RELAY_CLIENTS; i++) {
		if (r->clients[i].used && zt_addr_equal(&r->clients[i].addr, a))
			return &r->clients[i];
		if (!r->clients[i].used && !free_slot)
			free_slot = &r->clients[i];
	}
	if (!create || !free_slot)
		return NULL;
	*free_slot = (struct zt_sim_relay_client){ .used = true, .addr = *a };
	zt_sim_chan_init(&free_slot->chan);
	return free_slot;
}

/* The other party of the session: the first client with the other role. */
static struct zt_sim_relay_client *peer_of(struct zt_sim_relay *r,
					   const struct zt_sim_relay_client *c)
{
	for (int i = 0; i < ZT_SIM_RELAY_CLIENTS; i++)
		if (r->clients[i].used && &r->clients[i] != c && r->clients[i].role &&
		    r->clients[i].role != c->role)
			return &r->clients[i];
	return NULL;
}

static void send_msg(struct zt_sim_relay_client *c, const struct zt_ctrl_msg *m)
{
	uint8_t buf[ZT_SIM_CHAN_MSG_MAX];
	int n = zt_ctrl_encode(m, buf, sizeof(buf));

	if (n > 0)
		zt_sim_chan_send(&c->chan, buf, (size_t)n);
}

static void maybe_start(struct zt_sim_relay *r, struct zt_sim_relay_client *a,
			struct zt_sim_relay_client *b)
{
	struct zt_ctrl_msg m;
	uint64_t rmax;
	struct zt_sim_relay_client *side[2] = { a, b };

	if (!a->cands_gen || a->cands_gen != b->cands_gen || r->started_gen >= a->cands_gen)
		return;
	r->started_gen = a->cands_gen;
	rmax = a->rtt > b->rtt ? a->rtt : b->rtt;
	for (int i = 0; i < 2; i++) {
		zt_ctrl_msg_init(&m, ZT_CTRL_START_CHECKS);
		m.u.start.session_id = r->session_id;
		m.u.start.generation = a->cands_gen - 1;
		/* both receive this about rtt/2 from now: start together at max/2 + margin */
		m.u.start.start_offset = (rmax - side[i]->rtt) / 2 + r->margin;
		send_msg(side[i], &m);
	}
}

static void on_msg(struct zt_sim_relay *r, struct zt_sim_relay_client *c, uint64_t now,
		   const uint8_t *buf, size_t len);

static void on_msg(struct zt_sim_relay *r, struct zt_sim_relay_client *c, uint64_t now,
		   const uint8_t *buf, size_t len)
{
	struct zt_ctrl_msg in, out;
	struct zt_sim_relay_client *p;

	if (zt_ctrl_decode(&in, buf, len) < 0)
		return;
	switch (in.type) {
	case ZT_CTRL_HELLO:
		c->role = in.u.hello.role;
		zt_ctrl_msg_init(&out, ZT_CTRL_WELCOME);
		out.u.welcome.client_id = (uint64_t)(c - r->clients) + 1;
		out.u.welcome.observed = c->addr;
		out.u.welcome.server_time = now;
		send_msg(c, &out);
		if (r->pending_open && c->role == ZT_CTRL_ROLE_CONNECTOR) {
			struct zt_ctrl_msg open;
			struct zt_sim_relay_client *agent = r->pending_open;
			uint8_t buf[256];
			int n;

			r->pending_open = NULL;
			zt_ctrl_msg_init(&open, ZT_CTRL_OPEN);
			open.u.open.request_id = r->pending_request;
			snprintf(open.u.open.service, sizeof(open.u.open.service), "svc");
			n = zt_ctrl_encode(&open, buf, sizeof(buf));
			if (n > 0)
				on_msg(r, agent, now, buf, (size_t)n);
		}
		zt_ctrl_msg_init(&out, ZT_CTRL_PING);
		out.u.ping.nonce = 1;
		out.u.ping.timestamp = now;
		send_msg(c, &out);
		break;
	case ZT_CTRL_PONG:
		if (in.u.ping.timestamp && in.u.ping.timestamp <= now)
			c->rtt = now - in.u.ping.timestamp;
		break;
	case ZT_CTRL_PING:
		zt_ctrl_msg_init(&out, ZT_CTRL_PONG);
		out.u.ping = in.u.ping;
		out.u.ping.peer_time = now;
		send_msg(c, &out);
		break;
	case ZT_CTRL_OPEN:
		p = peer_of(r, c);
		if (!p) {
			/* the service is not registered yet: hold the OPEN until it is */
			r->pending_open = c;
			r->pending_request = in.u.open.request_id;
			break;
		}
		r->session_id++;
		for (int i = 0; i < 2; i++) {
			struct zt_sim_relay_client *x = i ? p : c;
			zt_ctrl_msg_init(&out, ZT_CTRL_SESSION);
			out.u.session.session_id = r->session_id;
			out.u.session.request_id = i ? 0 : in.u.open.request_id;
			snprintf(out.u.session.service, sizeof(out.u.session.service), "%s",
				 in.u.open.service);
			snprintf(out.u.session.peer_identity, sizeof(out.u.session.peer_identity),
				 "%s", i ? "agent" : "connector");
			out.u.session.quota_bytes = 1ULL << 40;
			out.u.session.quota_packets = 1ULL << 30;
			out.u.session.ice_role = i ? ZT_CTRL_ICE_CONTROLLED : ZT_CTRL_ICE_CONTROLLING;
			send_msg(x, &out);
		}
		break;
	case ZT_CTRL_CANDIDATES:
		p = peer_of(r, c);
		if (!p)
			break;
		in.u.cands.observed = c->addr; /* as node/imd.c: where we see the sender */
		send_msg(p, &in);
		if (in.u.cands.generation + 1 > c->cands_gen)
			c->cands_gen = in.u.cands.generation + 1;
		maybe_start(r, c, p);
		break;
	default:
		break;
	}
}

static void relay_recv(void *ep, uint64_t now, const struct zt_addr *local,
		       const struct zt_addr *from, const uint8_t *buf, size_t len)
{
	struct zt_sim_relay *r = ep;
	struct zt_sim_relay_client *c, *p;
	const uint8_t *msg;
	size_t mlen;

	(void)local;
	if (!len)
		return;
	c = client_of(r, from, buf[0] == ZT_SIM_CHAN_MSG);
	if (!c)
		return;
	if (buf[0] == ZT_SIM_CHAN_DGRAM) {
		c->dgram_in++;
		p = peer_of(r, c);
		if (!p || r->out_n == sizeof(r->out) / sizeof(r->out[0]) || len > sizeof(r->out[0].buf)) {
			r->relay_dropped++;
			return;
		}
		unsigned i = (r->out_head + r->out_n++) % (sizeof(r->out) / sizeof(r->out[0]));
		r->out[i].to = p->addr;
		r->out[i].len = len;
		memcpy(r->out[i].buf, buf, len);
		p->dgram_out++;
		r->relayed++;
		return;
	}
	if (zt_sim_chan_recv(&c->chan, now, buf, len, &msg, &mlen) == 1)
		on_msg(r, c, now, msg, mlen);
}

static size_t relay_poll_send(void *ep, uint64_t now, uint8_t *buf, size_t cap,
			      struct zt_addr *ret_local, struct zt_addr *ret_remote)
{
	struct zt_sim_relay *r = ep;
	size_t n;

	*ret_local = r->addr;
	for (int i = 0; i < ZT_SIM_RELAY_CLIENTS; i++) {
		if (!r->clients[i].used)
			continue;
		n = zt_sim_chan_poll(&r->clients[i].chan, now, buf, cap);
		if (n) {
			*ret_remote = r->clients[i].addr;
			return n;
		}
	}
	if (r->out_n) {
		unsigned i = r->out_head;
		if (r->out[i].len > cap)
			return 0;
		memcpy(buf, r->out[i].buf, r->out[i].len);
		*ret_remote = r->out[i].to;
		r->out_head = (r->out_head + 1) % (sizeof(r->out) / sizeof(r->out[0]));
		r->out_n--;
		return r->out[i].len;
	}
	return 0;
}

static uint64_t relay_next_deadline(void *ep)
{
	struct zt_sim_relay *r = ep;
	uint64_t d = r->out_n ? 0 : UINT64_MAX;

	for (int i = 0; i < ZT_SIM_RELAY_CLIENTS; i++) {
		if (r->clients[i].used) {
			uint64_t x = zt_sim_chan_deadline(&r->clients[i].chan);
			if (x < d)
				d = x;
		}
	}
	return d;
}

static void relay_on_timeout(void *ep, uint64_t now)
{
	(void)ep;
	(void)now; /* the channels act on their deadlines inside poll_send */
}

const struct zt_sim_endpoint_ops zt_sim_relay_ops = {
	.recv = relay_recv,
	.poll_send = relay_poll_send,
	.next_deadline = relay_next_deadline,
	.on_timeout = relay_on_timeout,
};
