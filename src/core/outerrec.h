/*
 * Records of the outer connection over TLS/TCP (docs/tcp-transport.md): what the QUIC
 * outer connection carries as a stream and as DATAGRAMs, framed in one byte stream
 * (the plaintext of quic/tlsstream.h).
 *
 *   record = type (u8) | length (u16, big-endian) | body (length bytes)
 *
 *   1 CTRL   bytes of the control stream, in order (core/ctrl.h frames its messages
 *            over their concatenation; a message may span records); 1..16384 bytes
 *   2 DGRAM  one outer DATAGRAM payload (node/relay.h: session id + an end-to-end
 *            packet), 1..ZT_OREC_DGRAM_MAX bytes
 *   3 CLOSE  the end of the connection: code (u32, as CONNECTION_CLOSE's application
 *            error code) | reason (UTF-8, the rest, at most 255 bytes)
 *   4 PING   8 bytes the peer sends back in a PONG (liveness and round-trip time)
 *   5 PONG   the 8 bytes of a PING
 *   128..255 extensions: skipped by a reader that does not know them
 *
 * Anything else is malformed: a type 0 or 6..127, a length of 0 (CTRL, DGRAM) or over
 * the type's maximum, a CLOSE shorter than 4 bytes, a PING or PONG not of 8 bytes; the
 * reader stops at the first such record (the connection is closed). Sans-IO; the
 * reader allocates its buffer only while it holds bytes (below).
 */
#ifndef ZT_CORE_OUTERREC_H
#define ZT_CORE_OUTERREC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ZT_OREC_HDR_LEN 3
#define ZT_OREC_CTRL_MAX 16384
#define ZT_OREC_DGRAM_MAX 1500
#define ZT_OREC_REASON_MAX 255
#define ZT_OREC_PING_LEN 8
/* The largest record a reader holds (a CTRL one), header included; extension bodies
 * (up to 65535 bytes) pass through it without being held. */
#define ZT_OREC_MAX (ZT_OREC_HDR_LEN + ZT_OREC_CTRL_MAX)

enum zt_orec_type {
	ZT_OREC_CTRL = 1,
	ZT_OREC_DGRAM = 2,
	ZT_OREC_CLOSE = 3,
	ZT_OREC_PING = 4,
	ZT_OREC_PONG = 5,
	ZT_OREC_EXT_MIN = 128,
};

/* One record as the reader hands it out (body points into the reader). */
struct zt_orec {
	uint8_t type;
	const uint8_t *body;
	size_t len;
};

/* Writes a record. Returns its length, -EINVAL (type or body length not allowed),
 * -ENOBUFS. */
int zt_orec_write(uint8_t *buf, size_t cap, uint8_t type, const void *body, size_t len);
/* A CLOSE record (reason cut to ZT_OREC_REASON_MAX). Returns its length or -ENOBUFS. */
int zt_orec_write_close(uint8_t *buf, size_t cap, uint32_t code, const char *reason);
/* A CLOSE record's fields (reason NUL-terminated in a buffer of ZT_OREC_REASON_MAX+1).
 * Returns 0 or ZT_EMALFORMED. */
int zt_orec_close_parse(const struct zt_orec *r, uint32_t *ret_code,
			char reason[ZT_OREC_REASON_MAX + 1]);

/*
 * Incremental reader: feed it the stream's bytes in any split, pop whole records.
 * It holds at most one record (ZT_OREC_MAX: what it has not popped stops feed);
 * an extension's body is dropped as it arrives. Its buffer (ZT_OREC_MAX bytes) is
 * allocated when feed has bytes to hold and freed when a pop finds nothing left (the
 * record popped before is then no longer valid) or the reader is poisoned, so an idle
 * reader holds no memory; zt_orec_reader_fini() frees it in any state.
 */
struct zt_orec_reader {
	size_t len, off;            /* buf[off..len) not popped yet */
	size_t skip;                /* bytes of an extension's body still to drop */
	int poison;                 /* 0, or ZT_EMALFORMED once a record was */
	uint8_t *buf;               /* NULL while nothing is held */
};

void zt_orec_reader_init(struct zt_orec_reader *r);
void zt_orec_reader_fini(struct zt_orec_reader *r);
/* Takes up to len bytes. Returns how many (fewer when full: pop first; at least
 * zt_orec_reader_room()), the poison error, or -ENOMEM (no buffer: nothing taken). */
int zt_orec_reader_feed(struct zt_orec_reader *r, const uint8_t *data, size_t len);
/* How many bytes the next feed takes at least (ZT_OREC_MAX less what is not popped). */
size_t zt_orec_reader_room(const struct zt_orec_reader *r);
/*
 * The next record: 1 (in *ret, valid until the next feed or pop), 0 (need more bytes),
 * ZT_EMALFORMED (then always: close the connection). Extension records are skipped.
 */
int zt_orec_reader_pop(struct zt_orec_reader *r, struct zt_orec *ret);

#endif
