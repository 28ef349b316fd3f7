/*
 * libFuzzer target: the relay channel header (node/relay.h), the first thing the
 * Intermediate and the clients read of a datagram that starts with the marker.
 *
 * A datagram the reader takes is one the writer makes back byte for byte (marker,
 * session id), with a nonzero session, an inner packet of 1..ZT_RELAY_TUNNEL_MTU bytes
 * after it, and the same session as the DATAGRAM payload after the marker gives;
 * anything else is refused with one of the documented errors, never read past its
 * length. Aborts (a finding) when that breaks.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "fuzzcheck.h"
#include "node/relay.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *copy = malloc(size ? size : 1), hdr[ZT_RELAY_CHAN_HDR_LEN];
	uint32_t s = 0, s2 = 0;
	int rc;

	if (!copy)
		return 0;
	memcpy(copy, data, size); /* exactly size bytes: ASan sees a read past them */
	rc = zt_relay_chan_read(copy, size, &s);
	check(zt_relay_is_chan(copy, size) == (size > 0 && copy[0] == ZT_RELAY_CHAN_MARKER));
	if (rc < 0) {
		check(rc == ZT_EMALFORMED || rc == ZT_ETRUNC || rc == ZT_ETOOBIG);
		check(s == 0);
		free(copy);
		return 0;
	}
	check(rc == ZT_RELAY_CHAN_HDR_LEN && s != 0);
	check(size > ZT_RELAY_CHAN_HDR_LEN && size - ZT_RELAY_CHAN_HDR_LEN <= ZT_RELAY_TUNNEL_MTU);
	check(zt_relay_chan_write(hdr, sizeof(hdr), s) == ZT_RELAY_CHAN_HDR_LEN);
	check(memcmp(hdr, copy, sizeof(hdr)) == 0);
	check(zt_relay_hdr_read(copy + 1, size - 1, &s2) == ZT_RELAY_HDR_LEN && s2 == s);
	free(copy);
	return 0;
}
