/*
 * Connection ID -> connection, for demultiplexing many QUIC connections on one UDP
 * socket (RFC 9000 s5.2).
 *
 * Connections created with a map in their config register themselves: the source
 * connection IDs they issue, and for a server the client's original destination
 * connection ID (which the client's first Initials still carry). They unregister IDs
 * the peer retires, and all of theirs when freed. The I/O shell looks a datagram up
 * with zt_quic_cidmap_lookup_pkt(); a miss that zt_quic_pkt_is_initial() calls an
 * Initial is a new connection for zt_quic_conn_accept().
 *
 * The table hashes connection IDs with a key drawn from the rng at creation, so a
 * peer cannot aim many IDs at one bucket.
 */
#ifndef ZT_QUIC_CIDMAP_H
#define ZT_QUIC_CIDMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/rng.h"

/* Every connection ID this project issues is this long. */
#define ZT_QUIC_CID_LEN 8
/* The longest connection ID QUIC v1 allows (RFC 9000 s17.2). */
#define ZT_QUIC_CID_MAX 20

struct zt_quic_conn;
struct zt_quic_cidmap;

/* Returns 0, -ENOMEM. */
int zt_quic_cidmap_new(struct zt_quic_cidmap **ret, const struct zt_rng *rng);
/* Frees the table, not the connections in it. */
void zt_quic_cidmap_free(struct zt_quic_cidmap *m);

/* Returns 0, -EEXIST (the ID is taken), -EINVAL (len 0 or > ZT_QUIC_CID_MAX), -ENOMEM. */
int zt_quic_cidmap_add(struct zt_quic_cidmap *m, const uint8_t *cid, size_t len,
		       struct zt_quic_conn *c);
/* Returns 0 or -ENOENT. */
int zt_quic_cidmap_remove(struct zt_quic_cidmap *m, const uint8_t *cid, size_t len);
/* Removes every ID of c; returns how many. */
size_t zt_quic_cidmap_remove_conn(struct zt_quic_cidmap *m, const struct zt_quic_conn *c);
/* The connection owning the ID, or NULL. */
struct zt_quic_conn *zt_quic_cidmap_find(const struct zt_quic_cidmap *m, const uint8_t *cid,
					 size_t len);
size_t zt_quic_cidmap_count(const struct zt_quic_cidmap *m);

/*
 * The destination connection ID of a QUIC packet (long header: its own length
 * field; short header: ZT_QUIC_CID_LEN). Returns 0 and points *ret_cid into pkt, or
 * ZT_EMALFORMED (not QUIC: fixed bit clear) / ZT_ETRUNC.
 */
int zt_quic_pkt_dcid(const uint8_t *pkt, size_t len, const uint8_t **ret_cid,
		     size_t *ret_len);

/* True if pkt is a QUIC v1 long-header Initial at least 1200 bytes long (the
 * minimum a client's Initial datagram has, RFC 9000 s14.1). */
bool zt_quic_pkt_is_initial(const uint8_t *pkt, size_t len);

/* zt_quic_pkt_dcid() then zt_quic_cidmap_find(); NULL when either fails. */
struct zt_quic_conn *zt_quic_cidmap_lookup_pkt(const struct zt_quic_cidmap *m,
					       const uint8_t *pkt, size_t len);

#endif
