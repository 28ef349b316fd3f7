#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "core/units.h"

struct unit {
	const char *name;
	uint64_t mult;
};

/* A NUMBER split into its digits; unit points past it. */
struct decimal {
	const char *whole, *frac, *unit;
	size_t nwhole, nfrac;
};

static size_t digits(const char *t)
{
	size_t n = 0;

	while (t[n] >= '0' && t[n] <= '9')
		n++;
	return n;
}

static int split(const char *t, struct decimal *d)
{
	d->whole = t;
	d->nwhole = digits(t);
	d->frac = t + d->nwhole;
	d->nfrac = 0;
	if (*d->frac == '.') {
		d->frac++;
		d->nfrac = digits(d->frac);
	}
	d->unit = d->frac + d->nfrac;
	return d->nwhole + d->nfrac ? 0 : ZT_ESYNTAX;
}

/*
 * d x mult, exactly, if it is a whole number no greater than max. mult is at most
 * UINT64_MAX / 10. The fraction is folded in from its last digit: q is the fraction
 * times mult so far, below mult; a step that leaves a remainder leaves one in every
 * later step, so the value is a whole number only if no step does.
 */
static int scale(const struct decimal *d, uint64_t mult, uint64_t max, uint64_t *ret)
{
	uint64_t v = 0, q = 0;

	for (size_t i = 0; i < d->nwhole; i++) {
		uint64_t digit = (uint64_t)(d->whole[i] - '0');

		if (v > (UINT64_MAX - digit) / 10)
			return ZT_ERANGE;
		v = v * 10 + digit;
	}
	if (v > max / mult)
		return ZT_ERANGE;
	v *= mult;
	for (size_t i = d->nfrac; i-- > 0;) {
		uint64_t t = (uint64_t)(d->frac[i] - '0') * mult + q;

		if (t % 10)
			return ZT_ERANGE;
		q = t / 10;
	}
	if (q > max - v)
		return ZT_ERANGE;
	*ret = v + q;
	return 0;
}

/* Splits text into *d and finds its unit in units ("" is a bare number). Returns the
 * unit's index or ZT_ESYNTAX. */
static int lookup(const char *text, const struct unit *units, size_t nunits, struct decimal *d)
{
	int rc = split(text, d);

	if (rc < 0)
		return rc;
	for (size_t i = 0; i < nunits; i++)
		if (!strcmp(d->unit, units[i].name))
			return (int)i;
	return ZT_ESYNTAX;
}

static int parse(const char *text, const struct unit *units, size_t nunits, uint64_t max,
		 uint64_t *ret)
{
	struct decimal d;
	int i = lookup(text, units, nunits, &d);

	return i < 0 ? i : scale(&d, units[i].mult, max, ret);
}

static bool is_zero(const struct decimal *d)
{
	return strspn(d->whole, "0") >= d->nwhole && strspn(d->frac, "0") >= d->nfrac;
}

int zt_units_duration_in(const char *text, uint64_t bare_unit, uint64_t *ret_ns)
{
	const struct unit units[] = {
		{ "ns", ZT_NS }, { "us", ZT_US }, { "ms", ZT_MS }, { "s", ZT_SEC },
		{ "m", ZT_MIN }, { "h", ZT_HOUR }, { "", bare_unit ? bare_unit : ZT_NS },
	};
	struct decimal d;
	int i;

	if (bare_unit > ZT_HOUR)
		return -EINVAL;
	i = lookup(text, units, sizeof(units) / sizeof(units[0]), &d);
	if (i < 0)
		return i;
	if (!*units[i].name && !bare_unit && !is_zero(&d))
		return ZT_ESYNTAX; /* this caller's grammar wants a unit on all but 0 */
	return scale(&d, units[i].mult, ZT_UNITS_DURATION_MAX, ret_ns);
}

int zt_units_duration(const char *text, uint64_t *ret_ns)
{
	return zt_units_duration_in(text, ZT_SEC, ret_ns);
}

int zt_units_size(const char *text, uint64_t *ret)
{
	static const struct unit units[] = {
		{ "", 1 }, { "K", 1ULL << 10 }, { "k", 1ULL << 10 }, { "M", 1ULL << 20 },
		{ "G", 1ULL << 30 }, { "T", 1ULL << 40 },
	};

	return parse(text, units, sizeof(units) / sizeof(units[0]), UINT64_MAX, ret);
}

int zt_units_rate(const char *text, uint64_t *ret_bps)
{
	static const struct unit units[] = {
		{ "bit", 1 }, { "kbit", 1000 }, { "mbit", 1000000 }, { "gbit", 1000000000 },
	};

	return parse(text, units, sizeof(units) / sizeof(units[0]), UINT64_MAX, ret_bps);
}

int zt_units_percent(const char *text, uint32_t *ret_ppm)
{
	static const struct unit units[] = { { "%", ZT_UNITS_PPM_MAX / 100 } };
	uint64_t v;
	int rc = parse(text, units, 1, ZT_UNITS_PPM_MAX, &v);

	if (rc < 0)
		return rc;
	*ret_ppm = (uint32_t)v;
	return 0;
}

/* v / 10^decimals with the fraction's trailing zeros dropped, then unit. */
static int put_fixed(char *buf, size_t cap, uint64_t v, unsigned decimals, const char *unit)
{
	uint64_t div = 1, frac;
	unsigned fd = decimals;
	int n;

	for (unsigned i = 0; i < decimals; i++)
		div *= 10;
	frac = v % div;
	while (fd > 0 && frac % 10 == 0) {
		frac /= 10;
		fd--;
	}
	if (fd == 0)
		n = snprintf(buf, cap, "%llu%s", (unsigned long long)(v / div), unit);
	else
		n = snprintf(buf, cap, "%llu.%0*llu%s", (unsigned long long)(v / div), (int)fd,
			     (unsigned long long)frac, unit);
	if (n < 0 || (size_t)n >= cap)
		return -ENOBUFS;
	return n;
}

int zt_units_duration_str(char *buf, size_t cap, uint64_t ns)
{
	if (ns >= ZT_MS && ns % ZT_US == 0)
		return put_fixed(buf, cap, ns / ZT_US, 3, "ms");
	return put_fixed(buf, cap, ns, 3, "us");
}

int zt_units_percent_str(char *buf, size_t cap, uint32_t ppm)
{
	return put_fixed(buf, cap, ppm, 4, "%");
}

int zt_units_rate_str(char *buf, size_t cap, uint64_t bps)
{
	static const struct unit units[] = {
		{ "gbit", 1000000 }, { "mbit", 1000 }, { "kbit", 1 },
	};

	/* the largest unit that shows the value exactly with three decimals */
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (bps / 1000 >= units[i].mult && bps % units[i].mult == 0)
			return put_fixed(buf, cap, bps / units[i].mult, 3, units[i].name);
	return put_fixed(buf, cap, bps, 0, "bit");
}
