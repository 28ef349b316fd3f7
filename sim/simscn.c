#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/units.h"
#include "simscn.h"
#include "theory.h"

#define MAX_TOK 24

void zt_sim_scn_defaults(struct zt_sim_scn *s)
{
	memset(s, 0, sizeof(*s));
	s->duration = 60 * ZT_SEC;
	s->data_interval = 50 * ZT_MS;
	s->expect = -1;
}

static int fail(struct zt_scn_error *err, const char *file, int line, int rc, const char *fmt,
		const char *a, const char *b)
{
	char msg[1024];

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
	snprintf(msg, sizeof(msg), fmt, a ? a : "", b ? b : "");
#pragma GCC diagnostic pop
	err->line = line;
	snprintf(err->msg, sizeof(err->msg), "%.80s:%d: %.200s", file, line, msg);
	return rc;
}

/* "10ms", "1.5s", "250us", "2000ns", "3s" (core/units.h; a unit on all but 0), at most
 * 10^6 s of virtual time */
static int parse_dur(const char *t, uint64_t *ret)
{
	uint64_t v;

	if (zt_units_duration_in(t, 0, &v) < 0 || v > 1000000 * ZT_SEC)
		return -1;
	*ret = v;
	return 0;
}

static int parse_dep(const char *t, enum zt_sim_dep *ret)
{
	if (!strcmp(t, "ei"))
		*ret = ZT_SIM_EI;
	else if (!strcmp(t, "ad"))
		*ret = ZT_SIM_AD;
	else if (!strcmp(t, "apd"))
		*ret = ZT_SIM_APD;
	else
		return -1;
	return 0;
}

/* sim session agent NODE connector NODE relay NODE */
static int sim_session(struct zt_sim_scn *s, char **tok, int n, const char *file, int line,
		       struct zt_scn_error *err)
{
	for (int i = 2; i + 1 < n; i += 2) {
		char *dst = !strcmp(tok[i], "agent") ? s->agent :
			    !strcmp(tok[i], "connector") ? s->connector :
			    !strcmp(tok[i], "relay") ? s->relay : NULL;
		if (!dst)
			return fail(err, file, line, ZT_ECONF_KEY,
				    "unknown key '%s' (agent, connector, relay)%s", tok[i], NULL);
		snprintf(dst, ZT_SCN_NAME_MAX + 1, "%s", tok[i + 1]);
	}
	return 0;
}

/* sim nat NAT KEY VALUE...: kept pending until the lab's nodes are known */
static int sim_nat(char **tok, int n, const char *file, int line, struct zt_scn_error *err,
		   char pending_nat[][ZT_SCN_NAME_MAX + 1], int *npending,
		   struct zt_sim_nat_cfg *pending_cfg)
{
	struct zt_sim_nat_cfg c = { .mapping = ZT_SIM_EI, .filtering = ZT_SIM_APD };

	if (n < 3 || (n - 3) % 2)
		return fail(err, file, line, ZT_ESYNTAX, "expected 'sim nat NAT KEY VALUE...'%s%s", NULL, NULL);
	for (int i = 3; i + 1 < n; i += 2) {
		const char *k = tok[i], *v = tok[i + 1];
		int bad = 0;
		if (!strcmp(k, "mapping"))
			bad = parse_dep(v, &c.mapping);
		else if (!strcmp(k, "filtering"))
			bad = parse_dep(v, &c.filtering);
		else if (!strcmp(k, "ports"))
			c.ports = !strcmp(v, "preserve") ? ZT_SIM_PORTS_PRESERVE :
				  !strcmp(v, "random") ? ZT_SIM_PORTS_RANDOM :
				  !strcmp(v, "sequential") ? ZT_SIM_PORTS_SEQUENTIAL : (bad = -1, 0);
		else if (!strcmp(k, "refresh"))
			c.refresh_inbound = !strcmp(v, "both") ? true :
					    !strcmp(v, "out") ? false : (bad = -1, false);
		else
			return fail(err, file, line, ZT_ECONF_KEY,
				    "unknown key '%s' (mapping, filtering, ports, refresh)%s", k, NULL);
		if (bad)
			return fail(err, file, line, ZT_ECONF_VALUE, "bad value '%s' for '%s'", v, k);
	}
	if (*npending >= ZT_SCN_MAX_NODES)
		return fail(err, file, line, ZT_ERANGE, "too many 'sim nat' lines%s%s", NULL, NULL);
	snprintf(pending_nat[*npending], ZT_SCN_NAME_MAX + 1, "%s", tok[2]);
	pending_cfg[(*npending)++] = c;
	return 0;
}

/* A whole number lo..hi. Returns 0 or -1. */
static int parse_count(const char *v, unsigned lo, unsigned hi, unsigned *ret)
{
	char *end;
	unsigned long x;

	if (*v < '0' || *v > '9')
		return -1;
	x = strtoul(v, &end, 10);
	if (*end || x < lo || x > hi)
		return -1;
	*ret = (unsigned)x;
	return 0;
}

/* sim run KEY VALUE...: duration, skew, skew-side, data, shuffle */
static int sim_run(struct zt_sim_scn *s, char **tok, int n, const char *file, int line,
		   struct zt_scn_error *err)
{
	for (int i = 2; i + 1 < n; i += 2) {
		const char *k = tok[i], *v = tok[i + 1];
		int bad = 0;
		if (!strcmp(k, "duration"))
			bad = parse_dur(v, &s->duration);
		else if (!strcmp(k, "skew"))
			bad = parse_dur(v, &s->skew);
		else if (!strcmp(k, "skew-side"))
			s->skew_connector = !strcmp(v, "connector") ? true :
					    !strcmp(v, "agent") ? false : (bad = -1, false);
		else if (!strcmp(k, "data"))
			bad = !strcmp(v, "off") ? (s->data_interval = 0, 0) : parse_dur(v, &s->data_interval);
		else if (!strcmp(k, "shuffle"))
			s->shuffle = !strcmp(v, "on") ? true : !strcmp(v, "off") ? false : (bad = -1, false);
		else if (!strcmp(k, "predict"))
			s->predict_off = !strcmp(v, "off") ? true : !strcmp(v, "on") ? false : (bad = -1, false);
		else if (!strcmp(k, "probe"))
			s->probe = !strcmp(v, "on") ? true : !strcmp(v, "off") ? false : (bad = -1, false);
		else if (!strcmp(k, "detect"))
			s->detect = !strcmp(v, "on") ? true : !strcmp(v, "off") ? false : (bad = -1, false);
		else if (!strcmp(k, "portmap"))
			s->portmap = !strcmp(v, "on") ? true : !strcmp(v, "off") ? false : (bad = -1, false);
		else if (!strcmp(k, "probe-sockets"))
			bad = parse_count(v, 1, 4096, &s->probe_sockets);
		else if (!strcmp(k, "probe-count"))
			bad = parse_count(v, 1, 100000, &s->probe_count);
		else if (!strcmp(k, "probe-rate"))
			bad = parse_count(v, 1, 100000, &s->probe_rate);
		else
			return fail(err, file, line, ZT_ECONF_KEY,
				    "unknown key '%s' (duration, skew, skew-side, data, shuffle, predict, probe, "
				    "probe-sockets, probe-count, probe-rate, detect, portmap)%s", k, NULL);
		if (bad)
			return fail(err, file, line, ZT_ECONF_VALUE, "bad value '%s' for '%s'", v, k);
	}
	return 0;
}

/* sim block NAT peer NODE from T until T */
static int sim_block(struct zt_sim_scn *s, char **tok, int n, const char *file, int line,
		     struct zt_scn_error *err)
{
	unsigned b = s->nblocks;

	if (n != 9 || strcmp(tok[3], "peer") || strcmp(tok[5], "from") || strcmp(tok[7], "until"))
		return fail(err, file, line, ZT_ESYNTAX,
			    "expected 'sim block NAT peer NODE from T until T'%s%s", NULL, NULL);
	if (b >= ZT_SIM_SCN_BLOCKS)
		return fail(err, file, line, ZT_ERANGE, "too many 'sim block' lines%s%s", NULL, NULL);
	if (parse_dur(tok[6], &s->blocks[b].from) || parse_dur(tok[8], &s->blocks[b].until))
		return fail(err, file, line, ZT_ECONF_VALUE, "bad time in '%s %s'", tok[6], tok[8]);
	snprintf(s->blocks[b].nat, ZT_SCN_NAME_MAX + 1, "%s", tok[2]);
	snprintf(s->blocks[b].peer, ZT_SCN_NAME_MAX + 1, "%s", tok[4]);
	s->nblocks++;
	return 0;
}

/* sim expect direct|relay|none */
static int sim_expect(struct zt_sim_scn *s, char **tok, int n, const char *file, int line,
		      struct zt_scn_error *err)
{
	int found = -1;

	if (n != 3)
		return fail(err, file, line, ZT_ESYNTAX, "expected 'sim expect direct|relay|none'%s%s", NULL, NULL);
	for (int e = 0; e <= ZT_SIM_EXPECT_NONE; e++)
		if (!strcmp(tok[2], zt_sim_expect_name((enum zt_sim_expect)e)))
			found = e;
	if (found >= 0)
		s->expect = found;
	if (found < 0)
		return fail(err, file, line, ZT_ECONF_VALUE, "expected direct, relay or none, got '%s'%s", tok[2], NULL);
	return 0;
}

static int sim_line(struct zt_sim_scn *s, char **tok, int n, const char *file, int line,
		    struct zt_scn_error *err, char pending_nat[][ZT_SCN_NAME_MAX + 1],
		    int *npending, struct zt_sim_nat_cfg *pending_cfg, char pending_link[][ZT_SCN_NAME_MAX + 1],
		    uint32_t *pending_reorder, int *nlink)
{
	const char *what = n > 1 ? tok[1] : "";

	if (n < 2)
		return fail(err, file, line, ZT_ESYNTAX, "expected a word after 'sim'%s%s", NULL, NULL);
	if (strcmp(what, "session") && strcmp(what, "nat") && strcmp(what, "link") &&
	    strcmp(what, "run") && strcmp(what, "block") && strcmp(what, "expect"))
		return fail(err, file, line, ZT_ECONF_KEY,
			    "unknown 'sim %s' (session, nat, link, run, block, expect)%s", what, NULL);
	if ((n - 2) % 2 && strcmp(what, "nat") && strcmp(what, "link") && strcmp(what, "block") &&
	    strcmp(what, "expect"))
		return fail(err, file, line, ZT_ESYNTAX, "'sim %s' takes KEY VALUE pairs%s", what, NULL);
	if (!strcmp(what, "session"))
		return sim_session(s, tok, n, file, line, err);
	if (!strcmp(what, "nat"))
		return sim_nat(tok, n, file, line, err, pending_nat, npending, pending_cfg);
	if (!strcmp(what, "link")) {
		if (n != 5 || strcmp(tok[3], "reorder"))
			return fail(err, file, line, ZT_ESYNTAX, "expected 'sim link NODE reorder PCT'%s%s", NULL, NULL);
		if (*nlink >= ZT_SCN_MAX_NODES || zt_units_percent(tok[4], &pending_reorder[*nlink]) < 0)
			return fail(err, file, line, ZT_ECONF_VALUE, "bad percentage '%s'%s", tok[4], NULL);
		snprintf(pending_link[(*nlink)++], ZT_SCN_NAME_MAX + 1, "%s", tok[2]);
		return 0;
	}
	if (!strcmp(what, "run"))
		return sim_run(s, tok, n, file, line, err);
	if (!strcmp(what, "block"))
		return sim_block(s, tok, n, file, line, err);
	if (!strcmp(what, "expect"))
		return sim_expect(s, tok, n, file, line, err);
	return fail(err, file, line, ZT_ECONF_KEY,
		    "unknown 'sim %s' (session, nat, link, run, block, expect)%s", what, NULL);
}

/*
 * A symmetric NAT's 'ports' and any NAT's 'refresh outbound' (lab grammar) as the
 * simulator's port allocation and refresh, unless a 'sim nat' line describes the NAT.
 * The simulator's own patterns are the lab's: preserve takes the inside port when no
 * mapping uses it, sequential counts up from 20000 (the lab's ZT_SCN_SEQ_BASE; it
 * skips ports in use where the lab, after 1000 mappings, wraps). 'block N' (CGNAT port
 * blocks) is not modelled.
 */
static void lab_nat_options(struct zt_sim_scn *s)
{
	for (unsigned k = 0; k < s->lab.nnodes; k++) {
		const struct zt_scn_node *n = &s->lab.nodes[k];

		if (n->kind != ZT_SCN_NAT || s->nat_set[k] ||
		    (n->type != ZT_NAT_SYMMETRIC && !n->refresh_outbound))
			continue;
		s->nat[k] = zt_sim_nat_cfg_of_type((int)n->type);
		if (n->type == ZT_NAT_SYMMETRIC)
			s->nat[k].ports = n->ports == ZT_SCN_PORTS_SEQUENTIAL ? ZT_SIM_PORTS_SEQUENTIAL :
					  n->ports == ZT_SCN_PORTS_PRESERVE ? ZT_SIM_PORTS_PRESERVE :
					  ZT_SIM_PORTS_RANDOM;
		if (n->refresh_outbound)
			s->nat[k].refresh_inbound = false;
		s->nat_set[k] = true;
	}
}

int zt_sim_scn_parse(struct zt_sim_scn *ret, const char *text, size_t len,
		     const char *filename, struct zt_scn_error *err)
{
	char pending_nat[ZT_SCN_MAX_NODES][ZT_SCN_NAME_MAX + 1];
	struct zt_sim_nat_cfg pending_cfg[ZT_SCN_MAX_NODES];
	int pending_line[ZT_SCN_MAX_NODES], link_line[ZT_SCN_MAX_NODES];
	char pending_link[ZT_SCN_MAX_NODES][ZT_SCN_NAME_MAX + 1];
	uint32_t pending_reorder[ZT_SCN_MAX_NODES];
	int npending = 0, nlink = 0, rc = 0, line = 0;
	char *copy;
	size_t i = 0;

	*err = (struct zt_scn_error){ 0 };
	if (len > ZT_SCN_MAX_BYTES)
		return fail(err, filename, 0, ZT_ETOOBIG, "file over 256 KiB%s%s", NULL, NULL);
	zt_sim_scn_defaults(ret);
	copy = malloc(len + 1);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, text, len);
	copy[len] = '\0';
	/* take the sim lines out (blanked, so the lab parser's line numbers stay right) */
	while (i < len) {
		size_t e = i;
		while (e < len && copy[e] != '\n')
			e++;
		line++;
		char *tok[MAX_TOK];
		int n = 0;
		char save = copy[e];
		char buf[1100];
		size_t l = e - i < sizeof(buf) - 1 ? e - i : sizeof(buf) - 1;
		memcpy(buf, copy + i, l);
		buf[l] = '\0';
		char *hash = strchr(buf, '#');
		if (hash)
			*hash = '\0';
		for (char *t = strtok(buf, " \t\r"); t && n < MAX_TOK; t = strtok(NULL, " \t\r"))
			tok[n++] = t;
		if (n && !strcmp(tok[0], "sim")) {
			int before_nat = npending, before_link = nlink;
			rc = sim_line(ret, tok, n, filename, line, err, pending_nat, &npending,
				      pending_cfg, pending_link, pending_reorder, &nlink);
			if (rc < 0)
				goto out_free;
			if (npending > before_nat)
				pending_line[before_nat] = line;
			if (nlink > before_link)
				link_line[before_link] = line;
			memset(copy + i, ' ', e - i);
		}
		(void)save;
		i = e + 1;
	}
	rc = zt_scn_parse(&ret->lab, copy, len, filename, err);
	if (rc < 0)
		goto out_free;
	for (int k = 0; k < npending; k++) {
		int idx = zt_scn_find(&ret->lab, pending_nat[k]);
		if (idx < 0 || ret->lab.nodes[idx].kind != ZT_SCN_NAT) {
			rc = fail(err, filename, pending_line[k], ZT_ECONF_REF,
				  "'%s' is not a NAT defined in this file%s", pending_nat[k], NULL);
			goto out_free;
		}
		ret->nat_set[idx] = true;
		ret->nat[idx] = pending_cfg[k];
	}
	lab_nat_options(ret);
	for (int k = 0; k < nlink; k++) {
		int idx = zt_scn_find(&ret->lab, pending_link[k]);
		if (idx < 0) {
			rc = fail(err, filename, link_line[k], ZT_ECONF_REF, "'%s' is not defined%s",
				  pending_link[k], NULL);
			goto out_free;
		}
		ret->reorder_ppm[idx] = pending_reorder[k];
	}
	for (unsigned k = 0; k < ret->nblocks; k++) {
		int nat = zt_scn_find(&ret->lab, ret->blocks[k].nat);
		if (nat < 0 || ret->lab.nodes[nat].kind != ZT_SCN_NAT ||
		    zt_scn_find(&ret->lab, ret->blocks[k].peer) < 0) {
			rc = fail(err, filename, 0, ZT_ECONF_REF, "'sim block %s peer %s': unknown node",
				  ret->blocks[k].nat, ret->blocks[k].peer);
			goto out_free;
		}
	}
	rc = 0;
out_free:
	free(copy);
	return rc;
}

int zt_sim_scn_load(struct zt_sim_scn *ret, const char *path, struct zt_scn_error *err)
{
	FILE *f = fopen(path, "r");
	char *buf;
	size_t n;
	int rc;

	*err = (struct zt_scn_error){ 0 };
	if (!f) {
		rc = -errno;
		snprintf(err->msg, sizeof(err->msg), "%s: %s", path, strerror(errno));
		return rc;
	}
	buf = malloc(ZT_SCN_MAX_BYTES + 1);
	if (!buf) {
		fclose(f);
		return -ENOMEM;
	}
	n = fread(buf, 1, ZT_SCN_MAX_BYTES + 1, f);
	fclose(f);
	rc = zt_sim_scn_parse(ret, buf, n, path, err);
	free(buf);
	return rc;
}

int zt_sim_scn_check(const struct zt_sim_scn *s, struct zt_scn_error *err)
{
	const char *names[3] = { s->agent, s->connector, s->relay };
	const char *roles[3] = { "agent", "connector", "relay" };

	for (int i = 0; i < 3; i++) {
		int idx;
		if (!names[i][0])
			return fail(err, s->lab.name, 0, ZT_ECONF_MISSING,
				    "no %s: add 'sim session agent NODE connector NODE relay NODE'%s",
				    roles[i], NULL);
		idx = zt_scn_find(&s->lab, names[i]);
		if (idx < 0 || s->lab.nodes[idx].kind == ZT_SCN_NAT ||
		    (i == 2 && s->lab.nodes[idx].kind != ZT_SCN_SERVER))
			return fail(err, s->lab.name, 0, ZT_ECONF_REF,
				    "'%s' cannot be the %s (a host, or a server for the relay)",
				    names[i], roles[i]);
	}
	return 0;
}
