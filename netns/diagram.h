/*
 * ASCII drawing of a scenario's topology: the public segment, what hangs off it, and
 * what sits behind each NAT, with addresses, NAT behaviour and link impairments.
 */
#ifndef ZT_NETNS_DIAGRAM_H
#define ZT_NETNS_DIAGRAM_H

#include <stdio.h>

#include "scenario.h"

/* Writes the diagram of s to f. Returns 0, or -EIO when writing failed. */
int zt_scn_diagram(const struct zt_scn *s, FILE *f);

#endif
