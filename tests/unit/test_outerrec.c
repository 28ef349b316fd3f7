/*
 * core/outerrec.h: the outer connection's records over TLS/TCP: written and read back
 * through every split of the stream, extensions skipped, CLOSE's fields, and what is
 * malformed stops the reader for good.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "core/err.h"
#include "core/outerrec.h"

/* A stream: CTRL "hello", an extension, DGRAM of 1500 bytes, CLOSE 1507 "bye". */
static size_t stream(uint8_t *buf, size_t cap, uint8_t *dgram)
{
	size_t n = 0;
	int k;

	for (int i = 0; i < ZT_OREC_DGRAM_MAX; i++)
		dgram[i] = (uint8_t)(i * 13);
	k = zt_orec_write(buf, cap, ZT_OREC_CTRL, "hello", 5);
	assert_int_equal(k, 8);
	n += (size_t)k;
	k = zt_orec_write(buf + n, cap - n, 200, "ext", 3);
	assert_int_equal(k, 6);
	n += (size_t)k;
	k = zt_orec_write(buf + n, cap - n, ZT_OREC_DGRAM, dgram, ZT_OREC_DGRAM_MAX);
	assert_int_equal(k, ZT_OREC_HDR_LEN + ZT_OREC_DGRAM_MAX);
	n += (size_t)k;
	k = zt_orec_write_close(buf + n, cap - n, 1507, "bye");
	assert_int_equal(k, ZT_OREC_HDR_LEN + 4 + 3);
	return n + (size_t)k;
}

static void check_records(struct zt_orec *r, int n, const uint8_t *dgram)
{
	uint32_t code;
	char reason[ZT_OREC_REASON_MAX + 1];

	assert_int_equal(n, 3);
	assert_int_equal(r[0].type, ZT_OREC_CTRL);
	assert_int_equal(r[0].len, 5);
	assert_int_equal(r[1].type, ZT_OREC_DGRAM);
	assert_int_equal(r[1].len, ZT_OREC_DGRAM_MAX);
	assert_int_equal(r[2].type, ZT_OREC_CLOSE);
	assert_int_equal(zt_orec_close_parse(&r[2], &code, reason), 0);
	assert_int_equal(code, 1507);
	assert_string_equal(reason, "bye");
	(void)dgram;
}

static void every_split(void **state)
{
	static uint8_t buf[4096], dgram[ZT_OREC_DGRAM_MAX], copy[3][ZT_OREC_DGRAM_MAX];
	static struct zt_orec_reader rd;
	size_t total = stream(buf, sizeof(buf), dgram);
	(void)state;

	for (size_t cut = 0; cut <= total; cut += cut < 40 || cut > total - 40 ? 1 : 97) {
		struct zt_orec r[4];
		int n = 0, rc;
		zt_orec_reader_init(&rd);
		assert_int_equal(zt_orec_reader_feed(&rd, buf, cut), (int)cut);
		while ((rc = zt_orec_reader_pop(&rd, &r[n])) == 1) {
			memcpy(copy[n], r[n].body, r[n].len); /* valid until the next feed */
			r[n].body = copy[n];
			n++;
		}
		assert_int_equal(rc, 0);
		assert_int_equal(zt_orec_reader_feed(&rd, buf + cut, total - cut), (int)(total - cut));
		while ((rc = zt_orec_reader_pop(&rd, &r[n])) == 1) {
			memcpy(copy[n], r[n].body, r[n].len);
			r[n].body = copy[n];
			n++;
		}
		assert_int_equal(rc, 0);
		check_records(r, n, dgram);
		assert_memory_equal(copy[0], "hello", 5);
		assert_memory_equal(copy[1], dgram, ZT_OREC_DGRAM_MAX);
		zt_orec_reader_fini(&rd);
	}
}

static void malformed_stops_the_reader(void **state)
{
	static const uint8_t bad[][8] = {
		{ 0, 0, 1, 'x' },              /* type 0 */
		{ 6, 0, 1, 'x' },              /* an unknown type below the extensions */
		{ ZT_OREC_PING, 0, 7 },        /* PING of 7 bytes */
		{ ZT_OREC_PONG, 0, 9 },        /* PONG of 9 bytes */
		{ ZT_OREC_CTRL, 0, 0 },        /* empty CTRL */
		{ ZT_OREC_DGRAM, 0x05, 0xdd }, /* DGRAM of 1501 */
		{ ZT_OREC_CTRL, 0x40, 0x01 },  /* CTRL of 16385 */
		{ ZT_OREC_CLOSE, 0, 3, 0, 0, 0 }, /* CLOSE without its whole code */
	};
	static struct zt_orec_reader rd;
	struct zt_orec r;
	uint8_t ok[8];
	(void)state;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		zt_orec_reader_init(&rd);
		zt_orec_reader_feed(&rd, bad[i], sizeof(bad[i]));
		assert_int_equal(zt_orec_reader_pop(&rd, &r), ZT_EMALFORMED);
		assert_int_equal(zt_orec_reader_feed(&rd, ok, 1), ZT_EMALFORMED);
		assert_int_equal(zt_orec_reader_pop(&rd, &r), ZT_EMALFORMED);
		assert_null(rd.buf); /* nothing more is read: nothing is held */
		zt_orec_reader_fini(&rd);
	}
	/* the writer refuses the same */
	assert_int_equal(zt_orec_write(ok, sizeof(ok), 0, "x", 1), -EINVAL);
	assert_int_equal(zt_orec_write(ok, sizeof(ok), 7, "x", 1), -EINVAL);
	assert_int_equal(zt_orec_write(ok, sizeof(ok), ZT_OREC_CTRL, "", 0), -EINVAL);
	assert_int_equal(zt_orec_write(ok, sizeof(ok), ZT_OREC_DGRAM, ok, ZT_OREC_DGRAM_MAX + 1),
			 -EINVAL);
	assert_int_equal(zt_orec_write(ok, 3, ZT_OREC_CTRL, "x", 1), -ENOBUFS);
	r = (struct zt_orec){ .type = ZT_OREC_CLOSE, .body = ok, .len = 3 };
	assert_int_equal(zt_orec_close_parse(&r, &(uint32_t){ 0 }, (char[256]){ 0 }), ZT_EMALFORMED);
}

/* A PING and a PONG of 8 bytes; an extension of 65535 bytes, longer than the reader
 * holds, passes through it between two records in any split. */
static void ping_and_long_extension(void **state)
{
	static uint8_t buf[ZT_OREC_HDR_LEN * 4 + 65535 + 64], ext[65535];
	static struct zt_orec_reader rd;
	struct zt_orec r;
	size_t n = 0;
	(void)state;

	memset(ext, 'e', sizeof(ext));
	n += (size_t)zt_orec_write(buf + n, sizeof(buf) - n, ZT_OREC_PING, "12345678", 8);
	n += (size_t)zt_orec_write(buf + n, sizeof(buf) - n, 250, ext, sizeof(ext));
	n += (size_t)zt_orec_write(buf + n, sizeof(buf) - n, ZT_OREC_PONG, "abcdefgh", 8);
	assert_int_equal(n, 3 * ZT_OREC_HDR_LEN + 16 + 65535);
	assert_true(ZT_OREC_MAX < 65535);
	for (size_t piece = 1; piece <= 40000; piece = piece * 7 + 1) {
		size_t off = 0;
		int got = 0;

		zt_orec_reader_init(&rd);
		while (off < n) {
			size_t k = n - off < piece ? n - off : piece;
			int took = zt_orec_reader_feed(&rd, buf + off, k);
			int rc;

			assert_true(took > 0);
			off += (size_t)took;
			while ((rc = zt_orec_reader_pop(&rd, &r)) == 1) {
				assert_int_equal(r.len, 8);
				assert_int_equal(r.type, got ? ZT_OREC_PONG : ZT_OREC_PING);
				assert_memory_equal(r.body, got ? "abcdefgh" : "12345678", 8);
				got++;
			}
			assert_int_equal(rc, 0);
		}
		assert_int_equal(got, 2);
		zt_orec_reader_fini(&rd);
	}
}

/* The reader takes what it has room for; popping makes room. */
static void reader_is_bounded(void **state)
{
	static uint8_t big[3 * ZT_OREC_MAX];
	static struct zt_orec_reader rd;
	static uint8_t chunk[ZT_OREC_CTRL_MAX];
	struct zt_orec r;
	size_t n = 0, fed = 0;
	int records = 0;
	(void)state;

	memset(chunk, 'c', sizeof(chunk));
	while (n + ZT_OREC_HDR_LEN + sizeof(chunk) <= sizeof(big))
		n += (size_t)zt_orec_write(big + n, sizeof(big) - n, ZT_OREC_CTRL, chunk, sizeof(chunk));
	zt_orec_reader_init(&rd);
	while (fed < n) {
		int k = zt_orec_reader_feed(&rd, big + fed, n - fed);
		assert_true(k >= 0 && (size_t)k <= ZT_OREC_MAX);
		fed += (size_t)k;
		while (zt_orec_reader_pop(&rd, &r) == 1) {
			assert_int_equal(r.len, sizeof(chunk));
			records++;
		}
	}
	assert_int_equal(records, (int)(n / (ZT_OREC_HDR_LEN + sizeof(chunk))));
	zt_orec_reader_fini(&rd);
}

/* The reader's buffer exists while bytes wait in it: from the first byte fed until a
 * pop finds none left (the record popped before stays readable until then); an
 * extension's body passing through takes none; fini frees it at any point. */
static void buffer_only_while_bytes_wait(void **state)
{
	uint8_t buf[64], ext[8] = { 250, 0, 200 };
	struct zt_orec_reader rd;
	struct zt_orec r;
	int n = zt_orec_write(buf, sizeof(buf), ZT_OREC_DGRAM, "payload", 7);
	(void)state;

	zt_orec_reader_init(&rd);
	assert_null(rd.buf);
	assert_int_equal(zt_orec_reader_room(&rd), ZT_OREC_MAX);
	assert_int_equal(zt_orec_reader_feed(&rd, buf, 2), 2);
	assert_non_null(rd.buf);
	assert_int_equal(zt_orec_reader_room(&rd), ZT_OREC_MAX - 2);
	assert_int_equal(zt_orec_reader_pop(&rd, &r), 0);
	assert_non_null(rd.buf); /* half a header waits */
	assert_int_equal(zt_orec_reader_feed(&rd, buf + 2, (size_t)n - 2), n - 2);
	assert_int_equal(zt_orec_reader_pop(&rd, &r), 1);
	assert_non_null(rd.buf);
	assert_memory_equal(r.body, "payload", 7);
	assert_int_equal(zt_orec_reader_pop(&rd, &r), 0);
	assert_null(rd.buf);
	/* an extension's header, then its body in pieces: dropped, nothing held */
	assert_int_equal(zt_orec_reader_feed(&rd, ext, 3), 3);
	assert_int_equal(zt_orec_reader_pop(&rd, &r), 0);
	assert_null(rd.buf);
	for (int i = 0; i < 4; i++)
		assert_int_equal(zt_orec_reader_feed(&rd, buf, 50), 50);
	assert_null(rd.buf);
	/* a record after it; fini with bytes held */
	assert_int_equal(zt_orec_reader_feed(&rd, buf, (size_t)n), n);
	assert_int_equal(zt_orec_reader_pop(&rd, &r), 1);
	assert_int_equal(zt_orec_reader_feed(&rd, buf, 1), 1);
	zt_orec_reader_fini(&rd);
	assert_null(rd.buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(every_split),
		cmocka_unit_test(malformed_stops_the_reader),
		cmocka_unit_test(reader_is_bounded),
		cmocka_unit_test(ping_and_long_extension),
		cmocka_unit_test(buffer_only_while_bytes_wait),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
