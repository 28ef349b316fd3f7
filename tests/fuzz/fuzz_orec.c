/*
 * libFuzzer target: the outer connection's record reader (core/outerrec.h).
 *
 * The input's first byte sets the size of the pieces the rest is fed in (1..256).
 * Every record popped is one the writer accepts back, byte for byte the same; a CLOSE
 * parses; the reader never takes more than it holds; once it says malformed it keeps
 * saying so; and the bytes it took before that are exactly whole records and what is
 * still buffered. Its buffer exists only while bytes wait in it: none once a pop
 * found nothing left, none once malformed.
 */
#include <stdint.h>
#include <string.h>

#include "core/err.h"
#include "core/outerrec.h"
#include "fuzzcheck.h"

static struct zt_orec_reader rd;
static uint8_t out[ZT_OREC_HDR_LEN + 65535];

static void one(const struct zt_orec *r)
{
	uint32_t code;
	char reason[ZT_OREC_REASON_MAX + 1];
	int n = zt_orec_write(out, sizeof(out), r->type, r->body, r->len);

	check(n == (int)(ZT_OREC_HDR_LEN + r->len));
	check(out[0] == r->type && !memcmp(out + ZT_OREC_HDR_LEN, r->body, r->len));
	if (r->type == ZT_OREC_CLOSE)
		check(zt_orec_close_parse(r, &code, reason) == 0);
	check(r->type >= ZT_OREC_CTRL && r->type <= ZT_OREC_PONG);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t piece, off = 1;
	struct zt_orec r;
	int rc = 0;

	if (size < 1)
		return 0;
	piece = (size_t)data[0] + 1;
	zt_orec_reader_init(&rd);
	while (off < size && rc >= 0) {
		size_t n = size - off < piece ? size - off : piece;
		int took = zt_orec_reader_feed(&rd, data + off, n);
		if (took < 0) {
			check(took == ZT_EMALFORMED);
			break;
		}
		check((size_t)took <= n);
		off += (size_t)took;
		while ((rc = zt_orec_reader_pop(&rd, &r)) == 1)
			one(&r);
		check(rc == 0 || rc == ZT_EMALFORMED);
		check(rd.len > rd.off || !rd.buf);
		if (took == 0 && rc == 0)
			break; /* full of one record that cannot be (never: the buffer holds any) */
	}
	if (rc == ZT_EMALFORMED) {
		check(zt_orec_reader_pop(&rd, &r) == ZT_EMALFORMED);
		check(zt_orec_reader_feed(&rd, data, 1) == ZT_EMALFORMED);
		check(!rd.buf);
	}
	zt_orec_reader_fini(&rd);
	return 0;
}
