/*
 * An in-memory network for the QUIC tests: nodes (one address each) holding
 * connections, a wire with a fixed one-way latency, and a loop that advances a
 * virtual clock from event to event (packet arrivals, connection deadlines, the
 * test's own wake-ups). No sockets, no real time.
 *
 * Also an in-memory development PKI (qh_pki) made with quic/pki.h.
 */
#ifndef ZT_TESTS_QUIC_HARNESS_H
#define ZT_TESTS_QUIC_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/addr.h"
#include "core/rng.h"
#include "quic/conn.h"
#include "quic/pki.h"

/* CA + intermediate ("relay", IP 127.0.0.1), service "web", agent "alice", connector
 * "c1"; and a second, untrusted CA with its own service "web" and agent "mallory". */
struct qh_pki {
	struct zt_pki_pem ca, intermediate, web, alice, c1;
	struct zt_pki_pem rogue_ca, rogue_web, mallory;
};

int qh_pki_init(struct qh_pki *p, struct zt_rng *rng);
void qh_pki_fini(struct qh_pki *p);

/* A QUIC test group's state: a seeded generator and a PKI made with it. */
struct qh_fixture {
	struct zt_prng prng;
	struct zt_rng rng;
	struct qh_pki pki;
};

/* cmocka group setup and teardown: *state is a struct qh_fixture. */
int qh_fixture_setup(void **state);
int qh_fixture_teardown(void **state);

struct qh_pkt {
	struct qh_pkt *next;
	uint64_t at;
	struct zt_addr from, to;
	size_t len;
	uint8_t data[];
};

#define QH_MAX_NODES 8
#define QH_MAX_CONNS 16

struct qh_node;

struct qh_net {
	uint64_t now;
	uint64_t latency;
	uint64_t wake;                  /* a test's step may ask to run at this time */
	struct qh_pkt *head, *tail;
	struct qh_node *nodes[QH_MAX_NODES];
	size_t nnodes;
	/* Sees every packet put on the wire; returns true to drop it. */
	bool (*tap)(void *arg, const struct qh_pkt *p);
	void *tap_arg;
	uint64_t pkts, bytes, dropped, undeliverable;
};

struct qh_node {
	struct qh_net *net;
	struct zt_addr addr;
	struct zt_quic_cidmap *map;
	const struct zt_quic_config *accept_cfg; /* set: accept new connections */
	void *accept_arg;
	struct zt_quic_conn *conns[QH_MAX_CONNS];
	size_t nconns;
	/* A packet a connection sends from a virtual (relay) local address. */
	void (*virt_send)(void *arg, struct zt_quic_conn *c, const struct zt_quic_path *p,
			  const uint8_t *pkt, size_t len);
	void *virt_arg;
	uint64_t unrouted;
	size_t tx_cap;                /* poll_send's cap (the path's packet size); 0: 64 KiB */
};

void qh_net_init(struct qh_net *n, uint64_t latency);
void qh_net_fini(struct qh_net *n);

/* A node at text address addr ("10.0.0.1:443") with its own cidmap. */
void qh_node_init(struct qh_node *nd, struct qh_net *n, const char *addr,
		  const struct zt_rng *rng);
/* Frees the node's connections and map. */
void qh_node_fini(struct qh_node *nd);
void qh_node_add(struct qh_node *nd, struct zt_quic_conn *c);

/* Feed a packet that arrived at nd from `from` (demultiplex, or accept). */
void qh_node_deliver(struct qh_node *nd, const struct zt_addr *from, const uint8_t *pkt,
		     size_t len);

/* Put a packet on the wire, arriving latency later. */
void qh_wire_send(struct qh_net *n, const struct zt_addr *from, const struct zt_addr *to,
		  const uint8_t *pkt, size_t len);

/* Let every connection send what it can now. */
void qh_flush(struct qh_net *n);

/*
 * Run until step(arg, now) returns true (then true), or nothing is left to do or the
 * clock passes `until` (then false). step runs once per event; it may set n->wake.
 */
bool qh_run(struct qh_net *n, bool (*step)(void *arg, uint64_t now), void *arg,
	    uint64_t until);

/*
 * A server node (127.0.0.1:4433, the intermediate's credentials, client certificates
 * required) and a client node (127.0.0.2:5000, alice) for an outer connection. tmpl
 * (may be NULL) supplies window and size settings for both; cb/arg are both sides'.
 */
struct qh_pair {
	struct qh_net net;
	struct qh_node srv, cli;
	struct zt_tls_ctx *stls, *ctls;
	struct zt_quic_config scfg, ccfg;
	struct zt_quic_conn *client;
};

int qh_pair_init(struct qh_pair *p, const struct qh_pki *pki, const struct zt_rng *rng,
		 const struct zt_quic_config *tmpl, const struct zt_quic_callbacks *cb,
		 void *arg);
/* Run until both ends are ESTABLISHED (true) or 5 virtual seconds pass. */
bool qh_pair_connect(struct qh_pair *p);
/* The server's connection (NULL before the client's first packet arrived). */
struct zt_quic_conn *qh_pair_server(struct qh_pair *p);
void qh_pair_fini(struct qh_pair *p);

/* A text address. */
struct zt_addr qh_addr(const char *text);

/* Deterministic test bytes: the byte at offset off of stream `seed`. */
static inline uint8_t qh_pattern(uint64_t seed, uint64_t off)
{
	uint64_t x = (off >> 3) * 0x9e3779b97f4a7c15ULL + seed * 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 31;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 29;
	return (uint8_t)(x >> ((off & 7) * 8));
}

/*
 * One side of a test stream: sends to_send bytes (then FIN if send_fin) and checks
 * every byte it receives. Byte off of a direction with seed S is qh_pattern(S, off),
 * except that the first marker_len bytes of every 4 KiB block are the marker.
 */
struct qh_ep {
	struct zt_quic_conn *c;
	int64_t sid;                  /* -1 until the stream exists */
	uint64_t seed_out, seed_in;
	uint64_t to_send, sent, received;
	bool send_fin, fin_sent, fin_recv, closed, reset_seen, stopped_seen, corrupt;
	uint64_t reset_code;
	size_t read_budget;           /* bytes per read_every; 0: read all on readable */
	uint64_t read_every, next_read;
	bool reading_off;             /* do not read */
	size_t max_readable;          /* the most bytes ever waiting to be read */
	unsigned short_writes, writable_events, opened;
	const uint8_t *marker;
	size_t marker_len;
	uint64_t markers_in;          /* markers received */
};

void qh_ep_init(struct qh_ep *e, uint64_t seed_out, uint64_t seed_in);
uint8_t qh_ep_byte(const struct qh_ep *e, uint64_t seed, uint64_t off);
/* Write what the send buffer takes (and FIN at the end). */
void qh_ep_pump(struct qh_ep *e);
/* Read up to budget bytes (0: all), verifying them. */
void qh_ep_drain(struct qh_ep *e, size_t budget);
/* Per-event work: budgeted reading (asks the loop to wake for it) and writing. */
void qh_ep_step(struct qh_net *n, struct qh_ep *e, uint64_t now);

/* A zt_quic_config.log that prints "<arg>: line" to stderr (debugging). */
void qh_log_line(void *arg, const char *line);

/* True if needle occurs in hay. */
bool qh_contains(const uint8_t *hay, size_t hlen, const uint8_t *needle, size_t nlen);

#endif
