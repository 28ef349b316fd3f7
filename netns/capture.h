/*
 * Packet capture for a lab run: one classic pcap file (LINKTYPE_ETHERNET, microsecond
 * timestamps) per interface, written from an AF_PACKET socket opened in the
 * interface's namespace; frames in both directions. The socket is read on the
 * caller's zt_loop, the file flushed on close.
 */
#ifndef ZT_NETNS_CAPTURE_H
#define ZT_NETNS_CAPTURE_H

#include <stddef.h>
#include <stdint.h>

#include "io/loop.h"

#define ZT_PCAP_HDR_LEN 24
#define ZT_PCAP_REC_LEN 16
#define ZT_PCAP_SNAPLEN 65535

/* Writes the pcap global header (native byte order, as pcap readers expect). */
void zt_pcap_file_header(uint8_t out[ZT_PCAP_HDR_LEN]);

/* Writes a record header for a frame of orig_len bytes, caplen of them kept. */
void zt_pcap_record_header(uint8_t out[ZT_PCAP_REC_LEN], uint64_t wall_ns, uint32_t caplen,
			   uint32_t orig_len);

struct zt_capture;

/*
 * Starts capturing interface ifindex of the calling thread's current namespace into
 * the file path (created, truncated). Returns 0 or -errno.
 */
int zt_capture_open(struct zt_loop *loop, int ifindex, const char *path, struct zt_capture **ret);

/* Frames written so far. */
uint64_t zt_capture_count(const struct zt_capture *c);

/* Stops, flushes and closes. NULL is fine. */
void zt_capture_close(struct zt_capture *c);

#endif
