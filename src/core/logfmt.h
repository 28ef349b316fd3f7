/*
 * Log lines that no value can forge: the one formatter behind app/log.h and
 * node/nodelog.h, so no caller can forget to escape.
 *
 * A log line is "key=value key=value ..." on one line. Values come from peers (a
 * HELLO's software string, an ERROR's text, a service name, a certificate identity):
 * a newline in one would start a forged line, a space or "key=" a forged field. So:
 *
 *   - Every %s and %c argument is a value. Outside quotes in the format it is written
 *     as is when it consists only of printable ASCII other than space, '=', '"' and
 *     '\', and is not empty; otherwise it is written in double quotes. Inside quotes
 *     the format already wrote (`text=\"%s\"`) it is only escaped.
 *   - Escaping (in quotes): '"' -> \", '\' -> \\, newline -> \n, CR -> \r, tab -> \t,
 *     every other byte below 0x20 or from 0x7f up -> \xHH. Non-ASCII (UTF-8) is
 *     escaped too: the output is printable ASCII.
 *   - The format's own text is the caller's and trusted, but control characters in
 *     it are escaped as well: the output never holds a line break.
 *   - Numbers (%d %u %x %f %p ...) are formatted as printf does. %n writes nothing.
 *
 * So a formatted line splits back into its fields unambiguously: a bare value ends at
 * a space, a quoted one at the first unescaped '"'.
 *
 * Output that does not fit is cut, never inside an escape: a field cut in its key (or
 * right after its '=') is left out, a value cut short is kept and its quote closed,
 * and " truncated=1" is appended; the text still splits into fields.
 */
#ifndef ZT_CORE_LOGFMT_H
#define ZT_CORE_LOGFMT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

/* Smallest useful buffer: room for the truncation mark. */
#define ZT_LOGFMT_MIN 32

/*
 * Formats fmt with its arguments into buf (cap >= ZT_LOGFMT_MIN), NUL-terminated.
 * Returns the length written (< cap); the output is printable ASCII.
 */
size_t zt_logfmt(char *buf, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
size_t zt_logfmt_v(char *buf, size_t cap, const char *fmt, va_list ap);

/*
 * Writes one value of len bytes (NUL bytes included) into buf as described above:
 * bare or quoted, or escaped only when in_quotes. Returns the length written, or 0
 * with buf[0] = '\0' if it does not fit in cap.
 */
size_t zt_logfmt_value(char *buf, size_t cap, const char *v, size_t len, bool in_quotes);

/* True if a value of len bytes must be quoted outside quotes. */
bool zt_logfmt_needs_quotes(const char *v, size_t len);

/*
 * Reading a line back: one field of line[0..len) from *pos on. A field is key=value,
 * the key up to 64 bytes of printable ASCII without space, '=' or '"'; the value bare
 * (up to the next space) or quoted. On 1, key/klen and the value as written
 * (raw/rawlen, without its quotes; quoted says whether it had them) point into line
 * and *pos is past the field and its space. Returns 1, 0 at the end of the line, or
 * ZT_EMALFORMED for text zt_logfmt does not write (no '=', an unterminated quote, a
 * bad escape, a byte outside printable ASCII).
 */
struct zt_logfmt_kv {
	const char *key, *raw;
	size_t klen, rawlen;
	bool quoted;
};
int zt_logfmt_field(const char *line, size_t len, size_t *pos, struct zt_logfmt_kv *kv);

/*
 * The same line as one JSON object (--log-format json), keys in their order, each
 * value a JSON string, unescaped and escaped again for JSON (a byte from 0x80 up
 * becomes the code point of the same number, \u00XX: nothing is lost and the output
 * stays ASCII), except a bare decimal integer of up to 15 digits, which is a number.
 * A line that does not read back (see zt_logfmt_field) is {"log":"<the line>"}. Output
 * that does not fit ends after the last whole field with "truncated":1. Returns the
 * length written (< cap), or 0 if cap < ZT_LOGFMT_MIN.
 */
size_t zt_logfmt_json(char *out, size_t cap, const char *line, size_t len);

#endif
