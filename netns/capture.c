#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "capture.h"

#define PCAP_MAGIC_US 0xa1b2c3d4u
#define LINKTYPE_ETHERNET 1

struct zt_capture {
	struct zt_loop *loop;
	struct zt_watch watch;
	FILE *f;
	uint64_t count;
	uint8_t buf[ZT_PCAP_SNAPLEN];
};

static void put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

static void put16(uint8_t *p, uint16_t v)
{
	memcpy(p, &v, 2);
}

void zt_pcap_file_header(uint8_t out[ZT_PCAP_HDR_LEN])
{
	put32(out, PCAP_MAGIC_US);
	put16(out + 4, 2);  /* version 2.4 */
	put16(out + 6, 4);
	put32(out + 8, 0);  /* thiszone */
	put32(out + 12, 0); /* sigfigs */
	put32(out + 16, ZT_PCAP_SNAPLEN);
	put32(out + 20, LINKTYPE_ETHERNET);
}

void zt_pcap_record_header(uint8_t out[ZT_PCAP_REC_LEN], uint64_t wall_ns, uint32_t caplen,
			   uint32_t orig_len)
{
	put32(out, (uint32_t)(wall_ns / 1000000000ULL));
	put32(out + 4, (uint32_t)(wall_ns % 1000000000ULL / 1000));
	put32(out + 8, caplen);
	put32(out + 12, orig_len);
}

static void on_frame(struct zt_loop *loop, struct zt_watch *w, uint32_t revents, uint64_t now)
{
	struct zt_capture *c = w->data;

	(void)loop;
	(void)revents;
	(void)now;
	for (int i = 0; i < 256; i++) {
		uint8_t hdr[ZT_PCAP_REC_LEN];
		struct timespec ts;
		ssize_t n = recv(c->watch.fd, c->buf, sizeof(c->buf), MSG_TRUNC | MSG_DONTWAIT);
		uint32_t caplen;

		if (n <= 0)
			break;
		clock_gettime(CLOCK_REALTIME, &ts);
		caplen = (size_t)n > sizeof(c->buf) ? (uint32_t)sizeof(c->buf) : (uint32_t)n;
		zt_pcap_record_header(hdr, (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec,
				      caplen, (uint32_t)n);
		fwrite(hdr, 1, sizeof(hdr), c->f);
		fwrite(c->buf, 1, caplen, c->f);
		c->count++;
	}
	fflush(c->f); /* readable while the lab runs */
}

int zt_capture_open(struct zt_loop *loop, int ifindex, const char *path, struct zt_capture **ret)
{
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL),
				   .sll_ifindex = ifindex };
	uint8_t hdr[ZT_PCAP_HDR_LEN];
	struct zt_capture *c = calloc(1, sizeof(*c));
	int fd, rc;

	if (!c)
		return -ENOMEM;
	fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, htons(ETH_P_ALL));
	if (fd < 0) {
		rc = -errno;
		goto out_free;
	}
	if (bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
		rc = -errno;
		goto out_close;
	}
	c->f = fopen(path, "we");
	if (!c->f) {
		rc = -errno;
		goto out_close;
	}
	zt_pcap_file_header(hdr);
	fwrite(hdr, 1, sizeof(hdr), c->f);
	c->loop = loop;
	c->watch = (struct zt_watch){ .fd = fd, .events = EPOLLIN, .cb = on_frame, .data = c };
	if ((rc = zt_loop_add(loop, &c->watch)) < 0)
		goto out_fclose;
	*ret = c;
	return 0;
out_fclose:
	fclose(c->f);
out_close:
	close(fd);
out_free:
	free(c);
	return rc;
}

uint64_t zt_capture_count(const struct zt_capture *c)
{
	return c->count;
}

void zt_capture_close(struct zt_capture *c)
{
	if (!c)
		return;
	zt_loop_del(c->loop, &c->watch);
	close(c->watch.fd);
	fclose(c->f);
	free(c);
}
