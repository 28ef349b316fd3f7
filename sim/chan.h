/*
 * A reliable, ordered message channel over simulated datagrams: the simulator's
 * stand-in for a control stream on the outer QUIC connection (agent or connector <->
 * Intermediate) until the real src/node cores and their ngtcp2 connections run here.
 *
 * Go-back-N: messages get sequence numbers; the receiver accepts only the next one in
 * order and acknowledges cumulatively; the sender retransmits everything
 * unacknowledged when its timer fires (RTO from Karn-filtered RTT samples, initial
 * 500 ms, doubling, capped at 4 s, like QUIC's PTO in spirit). So messages arrive
 * once, in order, after the loss-dependent delay a stream would add.
 *
 * Datagram format (sim-internal; first byte outside RFC 7983's STUN and QUIC ranges):
 *   0xE1 seq(u32) message...   a message
 *   0xE2 seq(u32)              "everything up to seq received"
 *   0xE3 payload...            an unreliable datagram (the relayed end-to-end packet)
 */
#ifndef ZT_SIM_CHAN_H
#define ZT_SIM_CHAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ZT_SIM_CHAN_MSG 0xE1
#define ZT_SIM_CHAN_ACK 0xE2
#define ZT_SIM_CHAN_DGRAM 0xE3
#define ZT_SIM_CHAN_WINDOW 32
#define ZT_SIM_CHAN_MSG_MAX 1400

struct zt_sim_chan_slot {
	uint32_t seq;
	uint16_t len;
	bool retransmitted;
	uint64_t sent_at;           /* 0: not sent yet */
	uint8_t buf[ZT_SIM_CHAN_MSG_MAX];
};

struct zt_sim_chan {
	struct zt_sim_chan_slot slots[ZT_SIM_CHAN_WINDOW];
	uint32_t next_seq;          /* next to assign */
	uint32_t una;               /* oldest unacknowledged */
	uint32_t next_tx;           /* next to (re)send */
	uint32_t rx_next;           /* next expected from the peer */
	bool ack_due;
	uint64_t rto_at;            /* retransmission deadline, or UINT64_MAX */
	uint64_t srtt, rttvar, rto;
	bool have_rtt;
	uint64_t retransmits;
};

void zt_sim_chan_init(struct zt_sim_chan *c);

/* Queues a message. Returns 0, -ENOBUFS (window full) or -EMSGSIZE. */
int zt_sim_chan_send(struct zt_sim_chan *c, const uint8_t *msg, size_t len);

/*
 * The next datagram to transmit now (a message, a retransmission, or an ACK), into
 * buf. Returns its length, or 0 when nothing is due.
 */
size_t zt_sim_chan_poll(struct zt_sim_chan *c, uint64_t now, uint8_t *buf, size_t cap);

/*
 * Processes a received channel datagram. Returns 1 and points *ret_msg and *ret_len at a
 * newly delivered message, 0 when nothing is delivered (an ACK, a duplicate, out of
 * order), or -EINVAL for a datagram that is not a channel message or ACK.
 */
int zt_sim_chan_recv(struct zt_sim_chan *c, uint64_t now, const uint8_t *buf, size_t len,
		     const uint8_t **ret_msg, size_t *ret_len);

/* When zt_sim_chan_poll() next has something without new input (UINT64_MAX: never). */
uint64_t zt_sim_chan_deadline(const struct zt_sim_chan *c);

/* The smoothed RTT (ns), 0 before the first sample. */
uint64_t zt_sim_chan_srtt(const struct zt_sim_chan *c);

#endif
