/*
 * Manual UDP hole punching between two hosts (the `ztna punch` debugging tool), sans-IO.
 *
 * Both sides know the other's public (server-reflexive) address from somewhere else
 * (a person, a script) and start at about the same time:
 *
 *   1. punch     every interval, each side sends a PUNCH to every address it knows for
 *                the peer: the one it was given, plus every address the peer's packets
 *                actually came from (peer-reflexive, as ICE, RFC 8445 s7.3.1.3: a
 *                peer behind an endpoint-dependent-mapping NAT arrives from a port
 *                nobody could have told us). It keeps punching after its first packet
 *                got through: an address-and-port-dependent filter drops a side's
 *                first punches until that side's own packets have opened it.
 *   2. answer    every PUNCH is answered with an ACK to the address it came from, and
 *                every PING with a PONG, for as long as the run lasts. A side is
 *                "confirmed" when an ACK to one of its own punches comes back (or, for
 *                the side that does not ping, when a PING arrives: the peer only pings
 *                after one of our ACKs reached it). The address that answer came from
 *                is where the peer was reached; a confirmed side stops punching.
 *   3. ping      the initiator then sends PING (random 64-bit nonce, a sequence number)
 *                to that address every interval until a PONG echoes it: the PING/PONG
 *                round trip is the reported RTT. It then sends DONE three times and has
 *                succeeded (the responder's RTT: from its PONG to the DONE). The responder succeeds on DONE, or, when confirmed, `linger`
 *                after the last PING it answered (DONE lost) or at its timeout (PINGs
 *                still coming: it cannot know whether its PONGs arrive).
 *
 * Both sides may be initiators (each pings, each answers); if neither is, both fail
 * with ZT_PUNCH_FAIL_NO_PING.
 *
 * Failure: no success by start + timeout, or punching exhausted (attempts rounds) and
 * still unconfirmed ZT_PUNCH_GRACE after the last punch. The reason says how far it
 * got: nothing from the peer at all, the peer's packets arrived but ours were never
 * acknowledged (one-way), or confirmed but the PING exchange did not complete.
 *
 * Wire format (own, fixed 56 bytes, all integers big-endian). The first byte, 0x0A,
 * is outside what STUN (0-3), DTLS (20-63), TURN channels (64-79) and QUIC (64-127,
 * 192-255) use (RFC 7983, RFC 9443), so it can share a socket with them later.
 *
 *   0   4  magic    0x0A 'Z' 'P' '1'
 *   4   1  type     1 PUNCH, 2 ACK, 3 PING, 4 PONG, 5 DONE
 *   5   3  zero     ignored on receipt
 *   8   8  sender   the sender's random run id
 *  16   8  echo     ACK/PONG/DONE: the run id of the side answered; else zero
 *  24   4  seq      PUNCH: a number per punch; ACK: the PUNCH's; PING: a number per
 *                   PING; PONG and DONE: the PING's
 *  28   8  nonce    PING/PONG/DONE: the initiator's random nonce; else zero
 *  36   1  family   4 or 6 for the observed address below, 0 for none
 *  37   1  zero
 *  38   2  port     observed address: ACK/PONG the source of the packet answered;
 *  40  16  ip         PING/DONE where the sender reaches the receiver (IPv4 in the
 *                     first 4 bytes, the other 12 zero)
 *
 * An ACK, PONG or DONE is accepted only when its echo field is our run id (stale
 * packets from an earlier run on the same ports are ignored), a PONG only with our
 * nonce. The first valid message fixes the peer's run id; others are then ignored.
 * Answers are never larger than what they answer (no amplification).
 */
#ifndef ZT_CORE_PUNCH_H
#define ZT_CORE_PUNCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/addr.h"
#include "core/rng.h"
#include "core/units.h"

#define ZT_PUNCH_MSG_LEN 56
#define ZT_PUNCH_MAX_ADDRS 8    /* the given address + peer-reflexive ones */
#define ZT_PUNCH_QUEUE 16       /* answers waiting for poll_send */
#define ZT_PUNCH_DONE_COPIES 3
#define ZT_PUNCH_GRACE (1 * ZT_SEC)

/* Defaults for zero fields of struct zt_punch_cfg. */
#define ZT_PUNCH_INTERVAL (100 * ZT_MS)
#define ZT_PUNCH_ATTEMPTS 50
#define ZT_PUNCH_TIMEOUT (10 * ZT_SEC)

enum zt_punch_type {
	ZT_PUNCH_PUNCH = 1,
	ZT_PUNCH_ACK = 2,
	ZT_PUNCH_PING = 3,
	ZT_PUNCH_PONG = 4,
	ZT_PUNCH_DONE = 5,
};

/* One message, decoded. */
struct zt_punch_msg {
	uint8_t type;            /* enum zt_punch_type */
	uint64_t sender;
	uint64_t echo;
	uint32_t seq;
	uint64_t nonce;
	struct zt_addr observed; /* family 0 when absent */
};

/* Encodes m into buf. Returns ZT_PUNCH_MSG_LEN, -ENOBUFS, or -EINVAL (bad type or
 * observed family). */
int zt_punch_encode(const struct zt_punch_msg *m, uint8_t *buf, size_t cap);

/*
 * Decodes one datagram. Returns 0, or ZT_ETRUNC (shorter than ZT_PUNCH_MSG_LEN),
 * ZT_ETOOBIG (longer), ZT_EMALFORMED (wrong magic, unknown type, bad family).
 * *ret is written only on success.
 */
int zt_punch_decode(struct zt_punch_msg *ret, const uint8_t *buf, size_t len);

struct zt_punch_cfg {
	struct zt_addr peer;     /* the address we were told the peer has */
	bool initiator;          /* this side pings and measures the round trip */
	uint64_t interval;       /* between punch rounds and PINGs; 0: ZT_PUNCH_INTERVAL */
	unsigned attempts;       /* punch rounds at most; 0: ZT_PUNCH_ATTEMPTS */
	uint64_t timeout;        /* give up at start + this; 0: ZT_PUNCH_TIMEOUT */
	uint64_t linger;         /* responder: success this long after the last PING
				    answered when no DONE came; 0: 3 intervals, >= 300 ms */
	struct zt_rng rng;       /* run id and nonce */
};

enum zt_punch_state {
	ZT_PUNCH_RUNNING = 0,
	ZT_PUNCH_OK,
	ZT_PUNCH_FAILED,
};

enum zt_punch_fail {
	ZT_PUNCH_FAIL_NONE = 0,
	ZT_PUNCH_FAIL_NO_ANSWER,  /* "no-answer": not one valid packet from the peer */
	ZT_PUNCH_FAIL_ONE_WAY,    /* "one-way": the peer's packets arrive, ours are never acknowledged */
	ZT_PUNCH_FAIL_NO_PONG,    /* "no-pong": confirmed, but no PONG to our PINGs */
	ZT_PUNCH_FAIL_NO_PING,    /* "no-ping": confirmed, but the peer never pinged (no initiator?) */
};

struct zt_punch_result {
	enum zt_punch_state state;
	enum zt_punch_fail fail;
	struct zt_addr reached;   /* where the peer answered from (family 0 until confirmed) */
	bool peer_reflexive;      /* reached differs from cfg.peer */
	struct zt_addr observed;  /* our address as the peer saw it (from an ACK/PONG) */
	uint64_t rtt;             /* initiator: PING -> PONG; responder: PONG -> DONE;
				     0 when not measured */
	uint64_t punch_rtt;       /* the PUNCH -> ACK round trip that confirmed us; 0 if none */
	uint64_t t_first_rx;      /* since start: first valid packet from the peer; 0: none */
	uint64_t t_confirmed;     /* since start: confirmed; 0: not */
	uint64_t t_done;          /* since start: OK or FAILED */
	unsigned punches_sent;    /* PUNCH datagrams (all addresses) */
	unsigned rounds;          /* punch rounds */
	unsigned pings_sent;
	unsigned received;        /* valid messages from the peer */
	unsigned ignored;         /* datagrams dropped: undecodable, foreign run id, queue full */
	unsigned n_addrs;         /* peer addresses known (1 + peer-reflexive) */
};

struct zt_punch;

/*
 * Starts a run at now; the first PUNCH is due at once. Returns 0 and *ret, -EINVAL
 * (peer unset or port 0, no rng, interval or timeout zero after defaults), -ENOMEM.
 */
int zt_punch_new(const struct zt_punch_cfg *cfg, uint64_t now, struct zt_punch **ret);
void zt_punch_free(struct zt_punch *p);

/*
 * The next datagram due at now: writes it to buf, sets *ret_to, returns its length;
 * 0 when nothing is due; -ENOBUFS when cap < ZT_PUNCH_MSG_LEN. Call until 0.
 * Answers queued by recv() still go out after the run has ended.
 */
int zt_punch_poll_send(struct zt_punch *p, uint64_t now, uint8_t *buf, size_t cap,
		       struct zt_addr *ret_to);

/*
 * A datagram from from. Returns 0 when it was used, or a negative code when ignored:
 * a zt_punch_decode() error, ZT_ESTATE (another run's id or nonce, a message this
 * side does not expect), -ENOBUFS (answer queue full), -EINVAL (from unset).
 */
int zt_punch_recv(struct zt_punch *p, uint64_t now, const struct zt_addr *from,
		  const uint8_t *buf, size_t len);

/* When poll_send()/on_timeout() are due next (<= now: at once); ZT_TIME_NEVER once the
 * run has ended and nothing is queued. */
uint64_t zt_punch_next_deadline(const struct zt_punch *p);

/* Ends the run when its time is up (timeout, grace, linger); a no-op otherwise. */
void zt_punch_on_timeout(struct zt_punch *p, uint64_t now);

/* The result so far; final once state != ZT_PUNCH_RUNNING. */
const struct zt_punch_result *zt_punch_result(const struct zt_punch *p);

/* True once the run has ended and every queued datagram was handed out. */
bool zt_punch_finished(const struct zt_punch *p);

/* "no-answer", "one-way", ...; "ok"/"failed"/"running". */
const char *zt_punch_fail_name(enum zt_punch_fail f);
const char *zt_punch_state_name(enum zt_punch_state s);

#endif
