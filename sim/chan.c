#include <errno.h>
#include <string.h>

#include "chan.h"
#include "core/units.h"
#include "core/wire.h"

#define RTO_INITIAL (500 * ZT_MS)
#define RTO_MIN (50 * ZT_MS)
#define RTO_MAX (4 * ZT_SEC)

void zt_sim_chan_init(struct zt_sim_chan *c)
{
	*c = (struct zt_sim_chan){ .rto_at = UINT64_MAX, .rto = RTO_INITIAL };
}

int zt_sim_chan_send(struct zt_sim_chan *c, const uint8_t *msg, size_t len)
{
	struct zt_sim_chan_slot *s;

	if (len > ZT_SIM_CHAN_MSG_MAX)
		return -EMSGSIZE;
	if (c->next_seq - c->una >= ZT_SIM_CHAN_WINDOW)
		return -ENOBUFS;
	s = &c->slots[c->next_seq % ZT_SIM_CHAN_WINDOW];
	*s = (struct zt_sim_chan_slot){ .seq = c->next_seq++, .len = (uint16_t)len };
	memcpy(s->buf, msg, len);
	return 0;
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

size_t zt_sim_chan_poll(struct zt_sim_chan *c, uint64_t now, uint8_t *buf, size_t cap)
{
	struct zt_sim_chan_slot *s;

	if (c->ack_due && cap >= 5) {
		c->ack_due = false;
		buf[0] = ZT_SIM_CHAN_ACK;
		put32(buf + 1, c->rx_next - 1);
		return 5;
	}
	if (c->una != c->next_seq && now >= c->rto_at) {
		/* go back N */
		c->next_tx = c->una;
		c->rto = c->rto * 2 > RTO_MAX ? RTO_MAX : c->rto * 2;
		c->rto_at = UINT64_MAX;
		c->retransmits++;
	}
	if (c->next_tx == c->next_seq)
		return 0;
	s = &c->slots[c->next_tx % ZT_SIM_CHAN_WINDOW];
	if ((size_t)s->len + 5 > cap)
		return 0;
	if (s->sent_at)
		s->retransmitted = true;
	s->sent_at = now;
	c->next_tx++;
	if (c->rto_at == UINT64_MAX)
		c->rto_at = now + c->rto;
	buf[0] = ZT_SIM_CHAN_MSG;
	put32(buf + 1, s->seq);
	memcpy(buf + 5, s->buf, s->len);
	return (size_t)s->len + 5;
}

static void rtt_sample(struct zt_sim_chan *c, uint64_t r)
{
	if (!c->have_rtt) {
		c->srtt = r;
		c->rttvar = r / 2;
		c->have_rtt = true;
	} else {
		uint64_t d = c->srtt > r ? c->srtt - r : r - c->srtt;
		c->rttvar = (3 * c->rttvar + d) / 4;
		c->srtt = (7 * c->srtt + r) / 8;
	}
	c->rto = c->srtt + 4 * c->rttvar;
	if (c->rto < RTO_MIN)
		c->rto = RTO_MIN;
	if (c->rto > RTO_MAX)
		c->rto = RTO_MAX;
}

int zt_sim_chan_recv(struct zt_sim_chan *c, uint64_t now, const uint8_t *buf, size_t len,
		     const uint8_t **ret_msg, size_t *ret_len)
{
	uint32_t seq;

	if (len < 5 || (buf[0] != ZT_SIM_CHAN_MSG && buf[0] != ZT_SIM_CHAN_ACK))
		return -EINVAL;
	seq = get32(buf + 1);
	if (buf[0] == ZT_SIM_CHAN_ACK) {
		if ((int32_t)(seq - c->una) < 0 || (int32_t)(seq - c->next_seq) >= 0)
			return 0; /* old, or acknowledges what was never sent */
		while ((int32_t)(seq - c->una) >= 0) {
			struct zt_sim_chan_slot *s = &c->slots[c->una % ZT_SIM_CHAN_WINDOW];
			if (s->seq == seq && !s->retransmitted && s->sent_at)
				rtt_sample(c, now - s->sent_at);
			c->una++;
		}
		if ((int32_t)(c->next_tx - c->una) < 0)
			c->next_tx = c->una;
		c->rto_at = c->una == c->next_seq ? UINT64_MAX : now + c->rto;
		return 0;
	}
	c->ack_due = true;
	if (seq != c->rx_next)
		return 0;
	c->rx_next++;
	*ret_msg = buf + 5;
	*ret_len = len - 5;
	return 1;
}

uint64_t zt_sim_chan_deadline(const struct zt_sim_chan *c)
{
	if (c->ack_due || c->next_tx != c->next_seq)
		return 0;
	return c->una != c->next_seq ? c->rto_at : UINT64_MAX;
}

uint64_t zt_sim_chan_srtt(const struct zt_sim_chan *c)
{
	return c->srtt;
}
