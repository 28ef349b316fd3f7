/* Host:port values in configuration files and options (durations and sizes: core/units.h). */
#ifndef ZT_APP_PARSE_H
#define ZT_APP_PARSE_H

#include <stdint.h>

#include "core/addr.h"

/*
 * "1.2.3.4:80", "[::1]:80", "localhost:80", "host.example:80": a literal address, or a
 * name resolved now (getaddrinfo; IPv4 first). The port is required unless
 * default_port is nonzero. Returns 0, ZT_ESYNTAX, ZT_ERANGE, or -ENOENT (the name
 * does not resolve).
 */
int zt_parse_hostport(const char *text, uint16_t default_port, struct zt_addr *ret);

#endif
