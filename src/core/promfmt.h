/*
 * The Prometheus text exposition format (version 0.0.4) written into a caller's
 * buffer: a family's "# HELP" and "# TYPE" lines, then its samples
 * "name{label="value"} 123". Names and help texts are the caller's constants (help is
 * escaped all the same: '\' and newline); label values may come from peers or
 * settings (identities, service names) and are escaped as the format says ('\', '"',
 * newline). A line that does not fit is left out whole and the writer is marked full;
 * everything written before it stays valid exposition text.
 */
#ifndef ZT_CORE_PROMFMT_H
#define ZT_CORE_PROMFMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct zt_prom {
	char *buf;
	size_t cap, len;  /* buf[len] is a NUL while len < cap */
	bool full;        /* a line was left out */
};

void zt_prom_init(struct zt_prom *p, char *buf, size_t cap);

/* "# HELP name help" and "# TYPE name type" (type: "counter", "gauge", ...). */
void zt_prom_family(struct zt_prom *p, const char *name, const char *type, const char *help);

/* One sample; label NULL for none, else label="value" (value escaped). */
void zt_prom_u64(struct zt_prom *p, const char *name, const char *label, const char *value,
		 uint64_t v);

/* One value of a family with a label (value NULL: a family without one). */
struct zt_prom_lv {
	const char *value;
	uint64_t n;
};

/* A family's HELP and TYPE lines and its n samples: name{label="v[i].value"} v[i].n, or
 * name v[0].n when label is NULL. */
void zt_prom_values(struct zt_prom *p, const char *name, const char *type, const char *help,
		    const char *label, const struct zt_prom_lv *v, size_t n);

/* One family of one unlabelled value, and one of several labelled values. */
#define ZT_PROM_ONE(p, name, type, help, val) \
	zt_prom_values(p, name, type, help, NULL, &(struct zt_prom_lv){ .n = (val) }, 1)
#define ZT_PROM_MANY(p, name, type, help, label, ...)                                     \
	zt_prom_values(p, name, type, help, label, (const struct zt_prom_lv[]){ __VA_ARGS__ }, \
		       sizeof((const struct zt_prom_lv[]){ __VA_ARGS__ }) / sizeof(struct zt_prom_lv))

/* The same with a floating-point value (e.g. seconds), printed with %.9g. */
void zt_prom_f64(struct zt_prom *p, const char *name, const char *label, const char *value,
		 double v);

/*
 * A histogram family: "# TYPE name histogram", then name_bucket{le="b"} for each of
 * the n upper bounds le[i] (seconds, ascending) with cum[i] observations at or below
 * it, name_bucket{le="+Inf"} count, name_sum sum and name_count count. name is at most
 * 64 bytes.
 */
void zt_prom_histogram(struct zt_prom *p, const char *name, const char *help, const double *le,
		       const uint64_t *cum, size_t n, uint64_t count, double sum);

#endif
