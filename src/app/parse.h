/* Values in configuration files and options: durations, sizes, host:port. */
#ifndef ZT_APP_PARSE_H
#define ZT_APP_PARSE_H

#include <stdint.h>

#include "core/addr.h"

/*
 * "250ms", "10s", "2m", "1h", "1500us"; a bare number is seconds. Returns 0 with
 * *ret_ns set, or ZT_ESYNTAX / ZT_ERANGE.
 */
int zt_parse_duration(const char *text, uint64_t *ret_ns);

/* "4096", "64K", "10M", "64G" (powers of 1024). Returns 0, ZT_ESYNTAX, ZT_ERANGE. */
int zt_parse_size(const char *text, uint64_t *ret);

/*
 * "1.2.3.4:80", "[::1]:80", "localhost:80", "host.example:80": a literal address, or a
 * name resolved now (getaddrinfo; IPv4 first). The port is required unless
 * default_port is nonzero. Returns 0, ZT_ESYNTAX, ZT_ERANGE, or -ENOENT (the name
 * does not resolve).
 */
int zt_parse_hostport(const char *text, uint16_t default_port, struct zt_addr *ret);

#endif
