#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/json.h"
#include "core/natreport.h"
#include "core/version.h"

#define MAX_TOKENS 96
#define MAX_MS 3600000.0  /* an hour: longer round trips or lifetimes are not ours */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Minimum and median (the lower middle of an even count) in microseconds. */
static void rtt_stats(struct zt_natreport *rep, const struct zt_natdisc_result *r)
{
	uint64_t s[ZT_NATDISC_MAX_RTT_SAMPLES];
	unsigned n = r->rtt_samples < ZT_NATDISC_MAX_RTT_SAMPLES ? r->rtt_samples :
								   ZT_NATDISC_MAX_RTT_SAMPLES;

	rep->rtt_samples = n;
	if (n == 0)
		return;
	memcpy(s, r->rtt, n * sizeof(s[0]));
	qsort(s, n, sizeof(s[0]), cmp_u64);
	rep->rtt_min_us = s[0] / ZT_US;
	rep->rtt_median_us = s[(n - 1) / 2] / ZT_US;
}

void zt_natreport_from_result(struct zt_natreport *rep, const struct zt_natdisc_result *r,
			      const struct zt_addr *server, const struct zt_addr *local,
			      uint64_t lifetime_max)
{
	bool lt = r->lifetime == ZT_NATDISC_LIFETIME_MEASURED ||
		  r->lifetime == ZT_NATDISC_LIFETIME_ABOVE;

	*rep = (struct zt_natreport){
		.server = *server,
		.server_other = r->rfc5780 ? r->other : (struct zt_addr){ 0 },
		.local = *local,
		.public_addr = r->mapped,
		.udp_blocked = r->type == ZT_NAT_TYPE_UDP_BLOCKED,
		.nat_known = r->mapped.family != 0,
		.nat = r->nat,
		.type = r->type,
		.mapping = r->mapping,
		.filtering = r->filtering,
		.hairpin = r->hairpin,
		.ports = r->nat ? r->ports : ZT_NAT_PORTS_UNKNOWN,
		.port_samples = r->port_samples,
		.lifetime = r->lifetime,
		.lifetime_alive_ms = lt ? r->lifetime_alive / ZT_MS : 0,
		.lifetime_gone_ms = r->lifetime == ZT_NATDISC_LIFETIME_MEASURED ?
					    r->lifetime_gone / ZT_MS : 0,
		.lifetime_max_ms = lifetime_max / ZT_MS,
		.requests = r->requests,
		.answers = r->answers,
	};
	memcpy(rep->port_local, r->port_local, sizeof(rep->port_local));
	memcpy(rep->port_public, r->port_mapped, sizeof(rep->port_public));
	rtt_stats(rep, r);
}

double zt_natreport_loss(const struct zt_natreport *rep)
{
	if (rep->requests == 0)
		return -1;
	return (double)(rep->requests - rep->answers) / rep->requests;
}

/* ---- writing ---- */

struct out {
	char *buf;
	size_t cap, n;
	bool full;
};

static void put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int k;

	if (o->full)
		return;
	va_start(ap, fmt);
	k = vsnprintf(o->buf + o->n, o->cap - o->n, fmt, ap);
	va_end(ap);
	if (k < 0 || (size_t)k >= o->cap - o->n)
		o->full = true;
	else
		o->n += (size_t)k;
}

/* "  "key": "text"," or null (NULL); names and addresses need no escaping. */
static void put_str(struct out *o, const char *key, const char *v)
{
	if (v)
		put(o, "  \"%s\": \"%s\",\n", key, v);
	else
		put(o, "  \"%s\": null,\n", key);
}

static void put_addr(struct out *o, const char *key, const struct zt_addr *a)
{
	char b[ZT_ADDR_STRLEN];

	put_str(o, key, a->family ? zt_addr_str(a, b) : NULL);
}

static void put_bool(struct out *o, const char *key, bool known, bool v)
{
	put(o, "  \"%s\": %s,\n", key, !known ? "null" : v ? "true" : "false");
}

static void put_ms(struct out *o, const char *key, bool known, uint64_t ms)
{
	if (known)
		put(o, "  \"%s\": %llu,\n", key, (unsigned long long)ms);
	else
		put(o, "  \"%s\": null,\n", key);
}

static void put_ports(struct out *o, const char *key, const uint16_t *p, unsigned n)
{
	put(o, "  \"%s\": [", key);
	for (unsigned i = 0; i < n; i++)
		put(o, "%s%u", i ? ", " : "", p[i]);
	put(o, "],\n");
}

static void put_measures(struct out *o, const struct zt_natreport *rep)
{
	bool alive = rep->lifetime == ZT_NATDISC_LIFETIME_MEASURED ||
		     rep->lifetime == ZT_NATDISC_LIFETIME_ABOVE;
	double loss = zt_natreport_loss(rep);

	put_ports(o, "port_local", rep->port_local, rep->port_samples);
	put_ports(o, "port_public", rep->port_public, rep->port_samples);
	put_str(o, "lifetime", rep->lifetime == ZT_NATDISC_LIFETIME_UNTESTED ? NULL :
			       zt_natdisc_lifetime_name(rep->lifetime));
	put_ms(o, "lifetime_alive_ms", alive, rep->lifetime_alive_ms);
	put_ms(o, "lifetime_gone_ms", rep->lifetime == ZT_NATDISC_LIFETIME_MEASURED,
	       rep->lifetime_gone_ms);
	put_ms(o, "lifetime_max_ms", rep->lifetime_max_ms > 0, rep->lifetime_max_ms);
	if (rep->rtt_samples)
		put(o, "  \"rtt_min_ms\": %.3f,\n  \"rtt_median_ms\": %.3f,\n",
		    (double)rep->rtt_min_us / 1000, (double)rep->rtt_median_us / 1000);
	else
		put(o, "  \"rtt_min_ms\": null,\n  \"rtt_median_ms\": null,\n");
	put(o, "  \"rtt_samples\": %u,\n  \"requests\": %u,\n  \"answers\": %u,\n",
	    rep->rtt_samples, rep->requests, rep->answers);
	if (loss >= 0)
		put(o, "  \"loss\": %.4f\n", loss);
	else
		put(o, "  \"loss\": null\n");
}

int zt_natreport_write(const struct zt_natreport *rep, char *buf, size_t cap)
{
	struct out o = { .buf = buf, .cap = cap };

	if (cap == 0)
		return -ENOBUFS;
	put(&o, "{\n  \"schema\": %d,\n  \"generator\": \"ztna discover %s\",\n",
	    ZT_NATREPORT_SCHEMA, ZT_VERSION);
	put_addr(&o, "server", &rep->server);
	put_addr(&o, "server_other", &rep->server_other);
	put_addr(&o, "local", &rep->local);
	put_addr(&o, "public", &rep->public_addr);
	put_bool(&o, "udp_blocked", true, rep->udp_blocked);
	put_bool(&o, "nat", rep->nat_known, rep->nat);
	put_str(&o, "type", rep->type ? zt_natdisc_type_name(rep->type) : NULL);
	put_str(&o, "mapping", rep->mapping ? zt_natdisc_behavior_name(rep->mapping) : NULL);
	put_str(&o, "filtering", rep->filtering ? zt_natdisc_behavior_name(rep->filtering) : NULL);
	put_bool(&o, "hairpinning", rep->hairpin != ZT_NAT_HAIRPIN_UNKNOWN,
		 rep->hairpin == ZT_NAT_HAIRPIN_YES);
	put_str(&o, "ports", rep->ports ? zt_natdisc_ports_name(rep->ports) : NULL);
	put_measures(&o, rep);
	put(&o, "}\n");
	return o.full ? -ENOBUFS : (int)o.n;
}

/* ---- reading ---- */

struct rd {
	const char *text;
	const struct zt_json_tok *tok;
	const char *field, *why;
};

typedef const char *name_fn(int v);

static const char *type_nm(int v) { return zt_natdisc_type_name((enum zt_nat_type)v); }
static const char *behavior_nm(int v) { return zt_natdisc_behavior_name((enum zt_nat_behavior)v); }
static const char *ports_nm(int v) { return zt_natdisc_ports_name((enum zt_nat_ports)v); }
static const char *lifetime_nm(int v) { return zt_natdisc_lifetime_name((enum zt_natdisc_lifetime)v); }

static int fail(struct rd *d, const char *field, const char *why, int err)
{
	d->field = field;
	d->why = why;
	return err;
}

/* The value of member name, or NULL with the error set. */
static const struct zt_json_tok *member(struct rd *d, const char *name)
{
	int i = zt_json_get(d->text, d->tok, 0, name);

	if (i < 0) {
		fail(d, name, "missing", ZT_ECONF_MISSING);
		return NULL;
	}
	return &d->tok[i];
}

#define GET(d, name, t)                                  \
	do {                                             \
		if (!((t) = member(d, name)))            \
			return ZT_ECONF_MISSING;         \
	} while (0)

static int rd_addr(struct rd *d, const char *name, bool nullable, struct zt_addr *ret)
{
	const struct zt_json_tok *t;
	char s[ZT_ADDR_STRLEN];

	GET(d, name, t);
	if (t->type == ZT_JSON_NULL && nullable) {
		*ret = (struct zt_addr){ 0 };
		return 0;
	}
	if (zt_json_str(d->text, t, s, sizeof(s)) < 0 || zt_addr_parse(ret, s, 0) < 0 ||
	    ret->port == 0)
		return fail(d, name, nullable ? "expected \"IP:PORT\" or null" : "expected \"IP:PORT\"",
			    ZT_ECONF_VALUE);
	return 0;
}

/* true, false, or null when nullable (*ret_known false). */
static int rd_bool(struct rd *d, const char *name, bool nullable, bool *ret_known, bool *ret)
{
	const struct zt_json_tok *t;

	GET(d, name, t);
	*ret_known = t->type != ZT_JSON_NULL;
	*ret = t->type == ZT_JSON_TRUE;
	if (t->type == ZT_JSON_TRUE || t->type == ZT_JSON_FALSE || (nullable && !*ret_known))
		return 0;
	return fail(d, name, nullable ? "expected true, false or null" : "expected true or false",
		    ZT_ECONF_VALUE);
}

/* One of the names name(1..n), or null (0). */
static int rd_name(struct rd *d, const char *field, name_fn *name, int n, const char *why,
		   int *ret)
{
	const struct zt_json_tok *t;
	char s[32];

	GET(d, field, t);
	if (t->type == ZT_JSON_NULL) {
		*ret = 0;
		return 0;
	}
	if (zt_json_str(d->text, t, s, sizeof(s)) >= 0)
		for (int v = 1; v <= n; v++)
			if (strcmp(s, name(v)) == 0) {
				*ret = v;
				return 0;
			}
	return fail(d, field, why, ZT_ECONF_VALUE);
}

/* A number from 0 to max (integer when integer), or null when nullable (-1). */
static int rd_num(struct rd *d, const char *name, bool nullable, bool integer, double max,
		  double *ret)
{
	const struct zt_json_tok *t;

	GET(d, name, t);
	if (t->type == ZT_JSON_NULL && nullable) {
		*ret = -1;
		return 0;
	}
	if (zt_json_num(d->text, t, ret) < 0 || *ret < 0 || *ret > max ||
	    (integer && *ret != floor(*ret)))
		return fail(d, name, integer ? (nullable ? "expected a whole number in range or null" :
					       "expected a whole number in range") :
				     (nullable ? "expected a number in range or null" :
						 "expected a number in range"),
			    ZT_ECONF_VALUE);
	return 0;
}

/* An array of at most ZT_NATDISC_MAX_PORT_SAMPLES ports 1..65535. */
static int rd_ports(struct rd *d, const char *name, uint16_t *ports, unsigned *ret_n)
{
	const struct zt_json_tok *t;
	unsigned n = 0;
	double v;

	GET(d, name, t);
	if (t->type != ZT_JSON_ARRAY || t->n > ZT_NATDISC_MAX_PORT_SAMPLES)
		return fail(d, name, "expected an array of at most 8 ports", ZT_ECONF_VALUE);
	for (const struct zt_json_tok *e = t + 1; n < t->n; e = d->tok + e->end, n++) {
		if (zt_json_num(d->text, e, &v) < 0 || v < 1 || v > 65535 || v != floor(v))
			return fail(d, name, "expected ports, whole numbers 1 to 65535",
				    ZT_ECONF_VALUE);
		ports[n] = (uint16_t)v;
	}
	*ret_n = n;
	return 0;
}

/* schema, addresses, and the classification. */
static int rd_class(struct rd *d, struct zt_natreport *r)
{
	static const char bnames[] = "expected \"endpoint-independent\", \"address-dependent\", "
				     "\"address-and-port-dependent\" or null";
	double schema;
	bool known, hp;
	int v, rc;

	rc = rd_num(d, "schema", false, true, 1e9, &schema);
	if (rc == 0 && schema != ZT_NATREPORT_SCHEMA)
		return fail(d, "schema", "this version reads schema 1 only", ZT_ECONF_VALUE);
	if (rc < 0 || (rc = rd_addr(d, "server", false, &r->server)) < 0 ||
	    (rc = rd_addr(d, "server_other", true, &r->server_other)) < 0 ||
	    (rc = rd_addr(d, "local", false, &r->local)) < 0 ||
	    (rc = rd_addr(d, "public", true, &r->public_addr)) < 0 ||
	    (rc = rd_bool(d, "udp_blocked", false, &known, &r->udp_blocked)) < 0 ||
	    (rc = rd_bool(d, "nat", true, &r->nat_known, &r->nat)) < 0)
		return rc;
	rc = rd_name(d, "type", type_nm, ZT_NAT_TYPE_SYMMETRIC,
		     "expected \"full-cone\", \"address-restricted\", \"port-restricted\", "
		     "\"symmetric\", \"open\", \"firewall\", \"udp-blocked\" or null", &v);
	if (rc < 0)
		return rc;
	r->type = (enum zt_nat_type)v;
	if ((rc = rd_name(d, "mapping", behavior_nm, ZT_NAT_ADDRESS_PORT_DEPENDENT, bnames, &v)) < 0)
		return rc;
	r->mapping = (enum zt_nat_behavior)v;
	if ((rc = rd_name(d, "filtering", behavior_nm, ZT_NAT_ADDRESS_PORT_DEPENDENT, bnames, &v)) < 0)
		return rc;
	r->filtering = (enum zt_nat_behavior)v;
	if ((rc = rd_bool(d, "hairpinning", true, &known, &hp)) < 0)
		return rc;
	r->hairpin = !known ? ZT_NAT_HAIRPIN_UNKNOWN : hp ? ZT_NAT_HAIRPIN_YES : ZT_NAT_HAIRPIN_NO;
	if ((r->type == ZT_NAT_TYPE_UDP_BLOCKED) != r->udp_blocked)
		return fail(d, "udp_blocked", "true exactly when type is \"udp-blocked\"",
			    ZT_ECONF_VALUE);
	return 0;
}

/* The port samples and the mapping lifetime. */
static int rd_ports_lifetime(struct rd *d, struct zt_natreport *r)
{
	double alive, gone, max;
	unsigned n;
	int v, rc;

	rc = rd_name(d, "ports", ports_nm, ZT_NAT_PORTS_RANDOM,
		     "expected \"preserve\", \"sequential\", \"random\" or null", &v);
	if (rc < 0)
		return rc;
	r->ports = (enum zt_nat_ports)v;
	if ((rc = rd_ports(d, "port_local", r->port_local, &r->port_samples)) < 0 ||
	    (rc = rd_ports(d, "port_public", r->port_public, &n)) < 0)
		return rc;
	if (n != r->port_samples)
		return fail(d, "port_public", "as many ports as port_local", ZT_ECONF_VALUE);
	rc = rd_name(d, "lifetime", lifetime_nm, ZT_NATDISC_LIFETIME_FAILED,
		     "expected \"measured\", \"above-max\", \"not-measurable\", \"failed\" or null",
		     &v);
	if (rc < 0)
		return rc;
	r->lifetime = (enum zt_natdisc_lifetime)v;
	if ((rc = rd_num(d, "lifetime_alive_ms", true, true, MAX_MS, &alive)) < 0 ||
	    (rc = rd_num(d, "lifetime_gone_ms", true, true, MAX_MS, &gone)) < 0 ||
	    (rc = rd_num(d, "lifetime_max_ms", true, true, MAX_MS, &max)) < 0)
		return rc;
	if (r->lifetime == ZT_NATDISC_LIFETIME_MEASURED && (gone < 0 || alive < 0 || gone < alive))
		return fail(d, "lifetime_gone_ms", "\"measured\" needs lifetime_alive_ms and a "
			    "lifetime_gone_ms at least as large", ZT_ECONF_VALUE);
	if (r->lifetime == ZT_NATDISC_LIFETIME_ABOVE && alive < 0)
		return fail(d, "lifetime_alive_ms", "\"above-max\" needs it", ZT_ECONF_VALUE);
	r->lifetime_alive_ms = alive < 0 ? 0 : (uint64_t)alive;
	r->lifetime_gone_ms = gone < 0 ? 0 : (uint64_t)gone;
	r->lifetime_max_ms = max < 0 ? 0 : (uint64_t)max;
	return 0;
}

/* Round trips and loss. */
static int rd_path(struct rd *d, struct zt_natreport *r)
{
	double min, median, samples, req, ans, loss;
	int rc;

	if ((rc = rd_num(d, "rtt_min_ms", true, false, MAX_MS, &min)) < 0 ||
	    (rc = rd_num(d, "rtt_median_ms", true, false, MAX_MS, &median)) < 0 ||
	    (rc = rd_num(d, "rtt_samples", false, true, ZT_NATDISC_MAX_RTT_SAMPLES, &samples)) < 0 ||
	    (rc = rd_num(d, "requests", false, true, 1e6, &req)) < 0 ||
	    (rc = rd_num(d, "answers", false, true, 1e6, &ans)) < 0 ||
	    (rc = rd_num(d, "loss", true, false, 1, &loss)) < 0)
		return rc;
	if ((samples == 0) != (min < 0) || (min < 0) != (median < 0))
		return fail(d, "rtt_min_ms", "rtt_min_ms and rtt_median_ms are null exactly when "
			    "rtt_samples is 0", ZT_ECONF_VALUE);
	if (median < min)
		return fail(d, "rtt_median_ms", "less than rtt_min_ms", ZT_ECONF_VALUE);
	if (ans > req)
		return fail(d, "answers", "more than requests", ZT_ECONF_VALUE);
	r->rtt_samples = (unsigned)samples;
	r->rtt_min_us = min < 0 ? 0 : (uint64_t)llround(min * 1000);
	r->rtt_median_us = median < 0 ? 0 : (uint64_t)llround(median * 1000);
	r->requests = (unsigned)req;
	r->answers = (unsigned)ans;
	if ((loss < 0) != (req == 0) || (loss >= 0 && fabs(loss - zt_natreport_loss(r)) > 0.001))
		return fail(d, "loss", "not (requests - answers) / requests (null when requests "
			    "is 0)", ZT_ECONF_VALUE);
	return 0;
}

int zt_natreport_parse(const char *text, size_t len, struct zt_natreport *ret,
		       const char **ret_field, const char **ret_why)
{
	struct zt_json_tok tok[MAX_TOKENS];
	struct zt_natreport r = { 0 };
	struct rd d = { .text = text, .tok = tok, .field = "" };
	int rc;

	if (len > ZT_NATREPORT_MAX) {
		rc = fail(&d, "", "longer than 4096 bytes: not a report", ZT_ETOOBIG);
		goto out;
	}
	rc = zt_json_parse(text, len, tok, MAX_TOKENS, NULL);
	if (rc == -ENOBUFS || rc == -E2BIG) {
		rc = fail(&d, "", "too many values or too deeply nested: not a report", ZT_ETOOBIG);
		goto out;
	}
	if (rc < 0 || tok[0].type != ZT_JSON_OBJECT) {
		rc = fail(&d, "", rc < 0 ? "not valid JSON" : "not a JSON object", ZT_EMALFORMED);
		goto out;
	}
	if ((rc = rd_class(&d, &r)) < 0 || (rc = rd_ports_lifetime(&d, &r)) < 0 ||
	    (rc = rd_path(&d, &r)) < 0)
		goto out;
	*ret = r;
	return 0;
out:
	*ret_field = d.field;
	*ret_why = d.why;
	return rc;
}
