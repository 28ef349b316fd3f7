/*
 * libFuzzer target: the simulator's scenario parser (sim/simscn.c: the lab's lines
 * plus the `sim ...` lines) and its session check.
 *
 * A parse must return 0 or a documented code with a NUL-terminated message naming the
 * file; an accepted scenario's durations stay below a day, its reorder rates
 * within 100 %, every symmetric NAT has a port allocation; zt_sim_scn_check must not crash on what the parser accepted.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/units.h"
#include "../../sim/simscn.h"
#include "fuzzcheck.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct zt_sim_scn s;
	struct zt_scn_error err;
	char *text = malloc(size ? size : 1);
	int rc;

	if (!text)
		return 0;
	memcpy(text, data, size);
	rc = zt_sim_scn_parse(&s, text, size, "fuzz.sim", &err);
	if (rc == 0) {
		check(s.duration <= 1000000 * ZT_SEC);
		check(s.skew <= 1000000 * ZT_SEC);
		for (size_t i = 0; i < ZT_SCN_MAX_NODES; i++)
			check(s.reorder_ppm[i] <= 1000000);
		/* a symmetric NAT always has its allocation set (from 'ports' or 'sim nat') */
		for (unsigned i = 0; i < s.lab.nnodes; i++)
			if (s.lab.nodes[i].kind == ZT_SCN_NAT && s.lab.nodes[i].type == ZT_NAT_SYMMETRIC)
				check(s.nat_set[i] && s.nat[i].ports <= ZT_SIM_PORTS_SEQUENTIAL);
		zt_sim_scn_check(&s, &err);
	} else {
		check(rc == ZT_ESYNTAX || rc == ZT_ECONF_KEY || rc == ZT_ECONF_VALUE ||
		      rc == ZT_ECONF_MISSING || rc == ZT_ECONF_REF || rc == ZT_ERANGE ||
		      rc == ZT_ETOOBIG);
		check(memchr(err.msg, '\0', sizeof(err.msg)) != NULL);
		check(strncmp(err.msg, "fuzz.sim", 8) == 0);
	}
	free(text);
	return 0;
}
