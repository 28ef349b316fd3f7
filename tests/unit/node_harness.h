/*
 * An in-memory network for the node tests (src/node): endpoints that are an
 * Intermediate (zt_imd), an agent or connector (zt_peer), or a raw control client (an
 * outer QUIC connection and a control channel the test drives by hand), each with
 * its own access-link latency, on a virtual clock. No sockets, no real time.
 *
 * A packet from endpoint A to endpoint B takes A.lat + B.lat. A peer whose outer
 * connection runs over TLS/TCP (zt_peer_tcp_wanted) gets a TCP connection to the
 * Intermediate at that IP (accepted at once: zt_imd_tcp_accept), whose bytes travel as
 * packets with nh_pkt.tcp set, in order, with the same latency (a tap sees them too).
 * The TCP direct path's links (zt_peer_link_*): a CONNECT to an address where another
 * peer's CONNECT to this one waits connects both at once (simultaneous open; a CONNECT
 * nobody meets never connects, nor any to or from an endpoint with links_blocked), and
 * its bytes travel as packets with nh_pkt.link set (the receiver's link id). Each endpoint has the
 * address it is reached at (addr) and the address its node believes it has (local);
 * changing addr mid-run models a NAT rebinding. An Intermediate's stun_port is a second
 * port of its address (zt_imd_config.stun_port): datagrams to it reach the Intermediate
 * with that local port, and what it sends from that port leaves from it. A peer with
 * seq_nat sits behind a sequential symmetric NAT: its first destination sees addr, each
 * new destination the next port, or nat_step ports further (at most NH_NAT_MAPS; no
 * filtering).
 *
 * The PKI is quic_harness.h's (CA, intermediate "relay", service "web", agent
 * "alice", connector "c1", rogue CA and "mallory") plus agent "bob", connector "c2"
 * and service "db" from the same CA.
 *
 * On top: raw clients logging in (nh_raw_login), a policy from config-file lines
 * (nh_policy), and the world most Intermediate tests share (struct nh_world).
 */
#ifndef ZT_TESTS_NODE_HARNESS_H
#define ZT_TESTS_NODE_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/ctrl.h"
#include "core/units.h"
#include "node/ctrlchan.h"
#include "node/imd.h"
#include "node/peer.h"
#include "node/policy.h"
#include "quic_harness.h"

struct nh_pki {
	struct qh_pki q;
	struct zt_pki_pem bob, c2, db;
};

struct nh_fixture {
	struct zt_prng prng;
	struct zt_rng rng;
	struct nh_pki pki;
};

/* cmocka group setup/teardown: *state is a struct nh_fixture. */
int nh_fixture_setup(void **state);
int nh_fixture_teardown(void **state);

/* A TLS context from the fixture's PKI (cred may be NULL); asserts on failure. */
struct zt_tls_ctx *nh_tls(const struct nh_fixture *f, enum zt_tls_side side, const char *alpn,
			  const struct zt_pki_pem *cred, bool require_peer_cert);

struct nh_pkt {
	struct nh_pkt *next;
	uint64_t at;
	uint64_t tcp;           /* 0: a datagram; else bytes of the TCP connection with this
				   id at the Intermediate */
	bool fin;               /* TCP: the connection ends here */
	uint32_t link;          /* else, not 0: bytes of the receiver's TCP direct link */
	struct zt_addr from, to;
	size_t len;
	uint8_t data[];
};

#define NH_MAX_EPS 256
#define NH_MAX_MSGS 64
#define NH_NAT_MAPS 32

enum nh_kind { NH_IMD = 1, NH_PEER = 2, NH_RAW = 3 };

struct nh_net;
struct nh_ep;

/* A raw control client: outer connection + control channel, messages collected. */
struct nh_raw {
	struct zt_prng prng;
	struct zt_rng rng;
	struct zt_quic_conn *conn;
	struct zt_ctrlchan ch;
	struct zt_ctrl_msg msgs[NH_MAX_MSGS];
	size_t nmsgs;                   /* all received so far (kept: the first NH_MAX_MSGS) */
	uint64_t msg_at[NH_MAX_MSGS];   /* when each arrived */
	size_t by_type[16];             /* every message received, by type */
	struct zt_ctrl_error last_error; /* the last ERROR received */
	bool no_read;                   /* leaves the control stream unread (a stuck reader) */
	/* Optional: sees every message received (set after nh_raw_connect). */
	void (*on_msg)(struct nh_ep *e, const struct zt_ctrl_msg *m, void *arg);
	void *on_msg_arg;
	size_t ndgrams;
	uint8_t last_dgram[1500];
	size_t last_dgram_len;
	/* Relay channel datagrams (node/relay.h) that reached it, outside its connection. */
	size_t nchan;
	uint8_t last_chan[1500];
	size_t last_chan_len;
	bool handshake;
};

struct nh_ep {
	struct nh_net *net;
	enum nh_kind kind;
	struct zt_addr addr;    /* reached at */
	struct zt_addr local;   /* believes it is bound to */
	uint64_t lat;           /* one-way latency of its access link */
	bool down;              /* everything to it is lost */
	bool tcp_refused;       /* peer: its TCP connections are refused */
	uint64_t tcp_gen, tcp_id; /* peer: its TCP connection (zt_peer_tcp_wanted's gen, and
				     its id at the Intermediate tcp_imd; 0: none) */
	struct nh_ep *tcp_imd;
	bool links_blocked;     /* peer: no TCP direct link connects to or from it */
	struct nh_link {
		uint32_t id;            /* the peer's link id; 0: a free slot */
		struct zt_addr remote;
		struct nh_ep *to;       /* connected: the other end, its link id */
		uint32_t to_id;
	} links[8];
	uint64_t link_bytes;    /* sent on links */
	uint16_t stun_port;     /* Intermediate: its STUN port (0: none) */
	bool seq_nat;           /* peer: behind a sequential symmetric NAT */
	uint16_t nat_step;      /* ... its step (0: 1) */
	struct nh_natmap {
		struct zt_addr dst;
		uint16_t port;
	} natmap[NH_NAT_MAPS];
	size_t nnat;
	struct zt_imd *imd;
	struct zt_peer *peer;
	struct nh_raw raw;
	bool raw_chan;          /* raw client: asks for the relay channel in HELLO */
	uint64_t rx, tx;
};

struct nh_net {
	uint64_t now, wake;
	struct nh_pkt *head;
	struct nh_ep *eps[NH_MAX_EPS];
	size_t neps;
	/* Sees every packet put on the wire; returns true to drop it. */
	bool (*tap)(void *arg, const struct nh_pkt *p);
	void *tap_arg;
	uint64_t pkts, bytes, dropped, undeliverable;
};

void nh_net_init(struct nh_net *n);
/* Frees queued packets and every endpoint's node. */
void nh_net_fini(struct nh_net *n);

/* Registers an endpoint at text address addr with latency lat; the node is set after. */
void nh_ep_init(struct nh_ep *e, struct nh_net *n, enum nh_kind kind, const char *addr,
		uint64_t lat);
/* Frees the endpoint's node (its state is lost: a crash or restart). */
void nh_ep_kill(struct nh_ep *e);

/* Starts a raw client connecting to the Intermediate at imd_addr with tls. */
int nh_raw_connect(struct nh_ep *e, struct zt_tls_ctx *tls, const struct zt_addr *imd_addr);
/* Sends a control message (opens the stream on first use). */
int nh_raw_send(struct nh_ep *e, const struct zt_ctrl_msg *m);
/* The last received message of type, or NULL. */
const struct zt_ctrl_msg *nh_raw_last(const struct nh_ep *e, uint8_t type);
/* How many messages of type were received (among the first NH_MAX_MSGS). */
size_t nh_raw_count(const struct nh_ep *e, uint8_t type);
/* How many messages of type were received in all. */
size_t nh_raw_total(const struct nh_ep *e, uint8_t type);
/* Reads what the control stream holds now (after no_read is cleared). */
void nh_raw_read(struct nh_ep *e);

/* HELLO with role, name, token and services (a comma-separated list, as in "web,db";
 * NULL or "" for none); asserts it is sent. */
void nh_raw_hello(struct nh_ep *e, uint8_t role, const char *name, const char *token,
		  const char *services);
/* OPEN of service (resume: SESSION_ID, 0 for none). Returns nh_raw_send()'s result. */
int nh_raw_open(struct nh_ep *e, uint64_t request_id, const char *service, uint64_t resume);
/* CANDIDATES for session: generation gen (ufrag "uf<gen>"), one host candidate at
 * ip ("IP:PORT"), end of candidates; asserts it is sent. */
void nh_raw_cands(struct nh_ep *e, uint32_t session, uint32_t gen, const char *ip);
/* Runs until e has received count messages of type in all, for at most d. */
bool nh_wait_total(struct nh_net *n, struct nh_ep *e, uint8_t type, size_t count, uint64_t d);
/* Runs until e has received count messages of type among its first NH_MAX_MSGS (what
 * nh_raw_count() sees), for at most d. */
bool nh_wait_count(struct nh_ep *e, uint8_t type, size_t count, uint64_t d);

/* Runs until raw client e's handshake is done, for at most d. */
bool nh_wait_handshake(struct nh_ep *e, uint64_t d);

/* The time nh_raw_up() and nh_raw_login() wait for each step (generous: they return as
 * soon as it is done). */
#define NH_LOGIN_WAIT (5 * ZT_SEC)

/* Connects raw client e with tls to the Intermediate at imd_addr and runs until its
 * handshake is done; asserts it is. */
void nh_raw_up(struct nh_ep *e, struct zt_tls_ctx *tls, const struct zt_addr *imd_addr);
/* nh_raw_up(), then HELLO (as nh_raw_hello(); token NULL: "pw-NAME", the tests'
 * convention), then runs until the WELCOME; asserts it comes. */
void nh_raw_login(struct nh_ep *e, struct zt_tls_ctx *tls, const struct zt_addr *imd_addr,
		  uint8_t role, const char *name, const char *token, const char *services);

/* nh_run gives up (false, a message) after this many turns at one instant. */
#define NH_SPIN_MAX 1000000u

/* Runs for d with every raw client whose connection is established sending a PING
 * each second (in the order they were added), so that idle timeouts end nothing a test
 * watches. */
void nh_run_alive(struct nh_net *n, uint64_t d);

/*
 * A policy from lines as the Intermediate's configuration file has them: "client
 * SPEC", "allow SPEC", "serve SPEC", "limit SPEC" (node/policy.h), the list ended by NULL. Asserts
 * every line is taken.
 */
struct zt_policy *nh_policy(const char *const *lines);

/* The stateless-reset key tests give an Intermediate (zt_imd_config.reset_key). */
extern const uint8_t nh_reset_key[32];

/*
 * An Intermediate world: the Intermediate (imd, 127.0.0.1:4433) and four raw clients
 * with the fixture's certificates, each with its outer TLS context:
 *
 *     alice 127.0.0.2:5000 (5 ms) ---.
 *     bob   127.0.0.4:5000 (5 ms) ----+--- Intermediate 127.0.0.1:4433 (0 ms)
 *     c1    127.0.0.3:6000 (20 ms) ---+
 *     c2    127.0.0.5:6000 (20 ms) --'
 *
 * nh_world_init() builds it with a policy (nh_policy()'s lines) and fills icfg with
 * what every test gives the Intermediate (TLS, rng, policy, listen address, log
 * nh_node_log("imd")), the limits left at their defaults and no reset key. The test
 * may change latencies and icfg, then nh_world_start() creates the Intermediate.
 * A test that needs more (endpoints, contexts) keeps a struct nh_world in its own.
 */
struct nh_world {
	struct nh_fixture *f;
	struct nh_net net;
	struct nh_ep imd, alice, bob, c1, c2;
	struct zt_policy *policy;
	struct zt_imd_config icfg;
	struct zt_tls_ctx *imd_tls, *alice_tls, *bob_tls, *c1_tls, *c2_tls;
};

void nh_world_init(struct nh_world *w, struct nh_fixture *f, const char *const *policy);
/* The Intermediate, with w->icfg as the test left it; asserts it is created. */
void nh_world_start(struct nh_world *w);
/* Raw clients c1 (serving web and db), alice and bob logged in (each asking for the
 * relay channel as its raw_chan says), alice's session to web (*ret_a) and bob's to db
 * (*ret_b) open; the policy must allow it. Asserts each step. */
void nh_pair_two(struct nh_world *w, uint32_t *ret_a, uint32_t *ret_b);
/* Frees the network (its nodes), the policy and the TLS contexts. */
void nh_world_fini(struct nh_world *w);

/*
 * The first Initial of a new client connection (a real ClientHello with tls, fresh
 * connection IDs from rng) from `from` to `to`, into buf. Returns its length; asserts.
 */
size_t nh_first_initial(struct zt_tls_ctx *tls, const struct zt_rng *rng,
			const struct zt_addr *from, const struct zt_addr *to, uint64_t now,
			uint8_t *buf, size_t cap);

/* Puts a datagram on the wire now (as if ep `from` sent it). */
void nh_send(struct nh_net *n, const struct zt_addr *from, const struct zt_addr *to,
	     const uint8_t *data, size_t len);

/*
 * Runs until step(arg, now) returns true (true), or nothing is left to do or the clock
 * passes until (false). step runs once per event and may set n->wake.
 */
bool nh_run(struct nh_net *n, bool (*step)(void *arg, uint64_t now), void *arg, uint64_t until);
/* Runs for d ns of virtual time. */
void nh_run_for(struct nh_net *n, uint64_t d);

/* A node log callback printing to stderr when NH_LOG is set in the environment. */
void nh_log(void *arg, enum zt_node_level level, const char *event, const char *kv);
/* A zt_node_log that prints when NH_LOG is set, tagged with name. */
struct zt_node_log nh_node_log(const char *name);

#endif
