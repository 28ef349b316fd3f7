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

#endif
