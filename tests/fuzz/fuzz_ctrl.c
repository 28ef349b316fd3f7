/*
 * libFuzzer target: control-message decoder and stream reader.
 *
 * Input: one schedule byte, then a byte stream. The stream is fed to a zt_ctrl_reader
 * in chunks whose sizes the schedule byte picks (0: all at once, 1: byte by byte,
 * s: pseudo-random sizes 1..s), and every result the reader gives is checked against
 * decoding the stream frame by frame with zt_ctrl_frame_len() + zt_ctrl_decode() on
 * exact-size copies (so ASan sees any read past a frame). Every decoded message must
 * re-encode, the encoding must be no longer than the frame it came from, and decoding
 * it again must give the same struct. Candidates must print and parse back to the same
 * candidate. Aborts (a finding) when any of that breaks.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cand.h"
#include "core/ctrl.h"
#include "core/err.h"
#include "fuzzcheck.h"

static void check_cands(const struct zt_ctrl_candidates *c)
{
	char text[ZT_CAND_STRLEN];

	check(c->n_cands <= ZT_CTRL_CANDS_MAX);
	for (unsigned i = 0; i < c->n_cands; i++) {
		const struct zt_cand *a = &c->cands[i];
		struct zt_cand b;
		int n;

		check(zt_cand_check(a) == 0);
		n = zt_cand_format(a, text, sizeof(text));
		check(n > 0 && (size_t)n < sizeof(text));
		check(zt_cand_parse(&b, text, (size_t)n) == 0);
		check(a->type == b.type && a->component == b.component &&
		      a->priority == b.priority && strcmp(a->foundation, b.foundation) == 0 &&
		      zt_addr_equal(&a->addr, &b.addr) && a->related.family == b.related.family &&
		      (!a->related.family || zt_addr_equal(&a->related, &b.related)));
	}
}

/* A message that decoded: it re-encodes canonically and decodes to the same thing. */
static void check_round_trip(const struct zt_ctrl_msg *m, size_t frame_len)
{
	static uint8_t buf[ZT_CTRL_MSG_MAX];
	static struct zt_ctrl_msg again;
	int n = zt_ctrl_encode(m, buf, sizeof(buf));

	check(n >= ZT_CTRL_HDR_LEN && (size_t)n <= frame_len);
	check(zt_ctrl_frame_len(buf, (size_t)n, NULL) == n);
	check(zt_ctrl_decode(&again, buf, (size_t)n) == 0);
	check(memcmp(&again, m, sizeof(again)) == 0);
	check(strcmp(zt_ctrl_type_name(m->type), "?") != 0);
	if (m->type == ZT_CTRL_CANDIDATES)
		check_cands(&m->u.cands);
}

static bool is_framing_error(int rc)
{
	return rc == ZT_ETOOBIG || rc == ZT_ECTRL_VERSION;
}

/* The reference: decode the frame at *off of the stream; returns what pop should. */
static int ref_next(const uint8_t *s, size_t len, size_t *off, struct zt_ctrl_msg *m)
{
	int total = zt_ctrl_frame_len(s + *off, len - *off, NULL);
	uint8_t *exact;
	int rc;

	if (total == ZT_ETRUNC || (total > 0 && (size_t)total > len - *off))
		return 0;
	if (total < 0)
		return total;
	exact = malloc((size_t)total);
	check(exact != NULL);
	memcpy(exact, s + *off, (size_t)total);
	rc = zt_ctrl_decode(m, exact, (size_t)total);
	free(exact);
	if (rc == 0)
		check_round_trip(m, (size_t)total);
	*off += (size_t)total;
	return rc < 0 ? rc : 1;
}

/* Pops until the reader wants more; false once it is poisoned. */
static bool pop_all(struct zt_ctrl_reader *r, const uint8_t *s, size_t len, size_t *off)
{
	static struct zt_ctrl_msg got, want;
	int rc, ref;

	for (;;) {
		size_t at = *off;

		rc = zt_ctrl_reader_pop(r, &got);
		if (rc == 0)
			return true;
		ref = ref_next(s, len, off, &want);
		check(rc == ref);
		if (is_framing_error(rc)) {
			check(zt_ctrl_reader_poisoned(r));
			check(zt_ctrl_reader_pop(r, &got) == rc);
			return false;
		}
		check(!zt_ctrl_reader_poisoned(r));
		if (rc == 1)
			check(memcmp(&got, &want, sizeof(got)) == 0);
		else
			check(got.type == s[at + 1]);
	}
}

static uint32_t next_rand(uint32_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 17;
	*x ^= *x << 5;
	return *x;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct zt_ctrl_reader r;
	static struct zt_ctrl_msg m;
	uint8_t sched;
	uint8_t *s;
	size_t len, fed = 0, off = 0;
	uint32_t x;
	bool alive = true;
	int rc;

	if (size < 1)
		return 0;
	sched = data[0];
	len = size - 1;
	s = malloc(len ? len : 1);
	if (!s)
		return 0;
	memcpy(s, data + 1, len);
	x = 0x9e3779b9u ^ sched;

	/* The whole stream as one message. */
	rc = zt_ctrl_decode(&m, s, len);
	if (rc == 0)
		check_round_trip(&m, len);
	else
		check(rc < 0 && rc > ZT_ERR_MIN);

	zt_ctrl_reader_init(&r);
	while (alive && fed < len) {
		size_t chunk = len - fed;
		int took;

		if (sched)
			chunk = 1 + next_rand(&x) % sched;
		if (chunk > len - fed)
			chunk = len - fed;
		took = zt_ctrl_reader_feed(&r, s + fed, chunk);
		check(took >= 0 && (size_t)took <= chunk);
		fed += (size_t)took;
		alive = pop_all(&r, s, len, &off);
		/* a full buffer always holds a complete message or a framing error */
		check(!alive || took > 0 || r.len < sizeof(r.buf));
	}
	if (alive) {
		/* what is left is an incomplete frame, and the reader holds exactly it */
		check(ref_next(s, len, &off, &m) == 0);
		check(r.len == len - off);
	}
	free(s);
	return 0;
}
