/*
 * Tunnel addresses for agents (docs/tunnel.md, "Packet tunnel"): one address per agent
 * identity from a pool prefix (e.g. 100.64.0.0/10, RFC 6598), the same one each time:
 * an identity's place in the pool is its name's hash, so its address survives a
 * restart of whatever keeps the pool. Two identities whose hashes meet: the later one
 * takes the next free place (in order), so only those depend on who came first. The
 * pool's first two addresses (the network's, and the gateway's: the tunnel's own side)
 * and, for IPv4, the last (broadcast) are never handed out. Host parts are at most 64
 * bits (an IPv6 pool of /64 or longer uses the low 64 bits).
 *
 * An identity holds its address while it is taken (as many times as it is taken:
 * say, once per connection) and it goes back when the last is given back.
 */
#ifndef ZT_CORE_ADDRPOOL_H
#define ZT_CORE_ADDRPOOL_H

#include <stddef.h>
#include <stdint.h>

#include "core/addr.h"

struct zt_addrpool;

/* prefix: its network address; plen: 8..30 (IPv4) or 64..126 (IPv6). Returns 0,
 * -EINVAL (a length out of range, host bits set), -ENOMEM. */
int zt_addrpool_new(struct zt_addrpool **ret, const struct zt_addr *prefix, unsigned plen);
void zt_addrpool_free(struct zt_addrpool *p);

/* The pool's gateway address (the tunnel's own side: network address + 1). */
void zt_addrpool_gateway(const struct zt_addrpool *p, struct zt_addr *ret);

/* identity's address (taken once more). Returns 0, -ENOSPC (the pool is full),
 * -ENOMEM, -EINVAL (an empty identity). */
int zt_addrpool_take(struct zt_addrpool *p, const char *identity, struct zt_addr *ret);
/* Gives one back; the address is free again when the last is given back. */
void zt_addrpool_give(struct zt_addrpool *p, const char *identity);
/* Identities holding an address. */
size_t zt_addrpool_used(const struct zt_addrpool *p);

#endif
