/*
 * libFuzzer target: the punch message decoder and state machine (core/punch.h).
 *
 * The input is cut into datagrams (a length byte, then that many bytes) fed to one
 * running puncher at advancing times, with its sends polled after each. A datagram
 * that decodes must encode back to the same 56 bytes except the zero fields; the
 * state machine must never emit anything but 56-byte messages, never hold more than
 * ZT_PUNCH_MAX_ADDRS addresses, and after doing what is due have its next deadline
 * ahead (or be finished with nothing queued). Aborts (a finding)
 * when that breaks.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/punch.h"
#include "fuzzcheck.h"

static void round_trip(const uint8_t *d, size_t n)
{
	struct zt_punch_msg m;
	uint8_t out[ZT_PUNCH_MSG_LEN], norm[ZT_PUNCH_MSG_LEN];
	int rc = zt_punch_decode(&m, d, n);

	if (rc < 0) {
		check(rc == ZT_ETRUNC || rc == ZT_ETOOBIG || rc == ZT_EMALFORMED);
		return;
	}
	check(n == ZT_PUNCH_MSG_LEN);
	check(zt_punch_encode(&m, out, sizeof(out)) == ZT_PUNCH_MSG_LEN);
	/* the encoder writes the ignored fields (5-7, 37) as zero */
	memcpy(norm, d, sizeof(norm));
	norm[5] = norm[6] = norm[7] = norm[37] = 0;
	if (norm[36] == 0)
		memset(norm + 38, 0, 18); /* no address: port and ip are not kept */
	check(memcmp(out, norm, sizeof(out)) == 0);
}

static void fill(void *ctx, uint8_t *buf, size_t len)
{
	uint64_t *x = ctx;

	for (size_t i = 0; i < len; i++) {
		*x = *x * 6364136223846793005ULL + 1442695040888963407ULL;
		buf[i] = (uint8_t)(*x >> 56);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t seed = 1, now = 1000;
	struct zt_punch_cfg cfg = { .initiator = size & 1, .interval = 10 * ZT_MS,
				    .attempts = 5, .rng = { .fill = fill, .ctx = &seed } };
	struct zt_punch *p;
	struct zt_addr to, from;
	uint8_t buf[ZT_PUNCH_MSG_LEN + 8];
	size_t off = 0;
	int n;

	zt_addr_parse(&cfg.peer, "192.0.2.1:7000", 0);
	if (zt_punch_new(&cfg, now, &p) < 0)
		return 0;
	while (off < size) {
		size_t len = data[off++];
		uint8_t *dgram;

		if (len > size - off)
			len = size - off;
		dgram = malloc(len ? len : 1); /* exact size: ASan sees over-reads */
		if (!dgram)
			break;
		memcpy(dgram, data + off, len);
		round_trip(dgram, len);
		/* vary the source so peer-reflexive learning is exercised */
		zt_addr_parse(&from, "192.0.2.1:7000", 0);
		from.port = (uint16_t)(7000 + (len ? dgram[len - 1] % 12 : 0));
		zt_punch_recv(p, now, &from, dgram, len);
		free(dgram);
		off += len;
		now += (uint64_t)(len % 7) * 3 * ZT_MS;
		zt_punch_on_timeout(p, now);
		while ((n = zt_punch_poll_send(p, now, buf, sizeof(buf), &to)) > 0)
			check(n == ZT_PUNCH_MSG_LEN);
		check(n == 0);
		check(zt_punch_result(p)->n_addrs <= ZT_PUNCH_MAX_ADDRS);
		/* everything due at now was done: the next deadline lies ahead, or the
		 * run has ended with nothing left to send */
		if (zt_punch_result(p)->state == ZT_PUNCH_RUNNING)
			check(zt_punch_next_deadline(p) > now);
		else
			check(zt_punch_finished(p) && zt_punch_next_deadline(p) == ZT_TIME_NEVER);
	}
	zt_punch_free(p);
	return 0;
}
