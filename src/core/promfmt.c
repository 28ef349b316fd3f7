#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/promfmt.h"

void zt_prom_init(struct zt_prom *p, char *buf, size_t cap)
{
	*p = (struct zt_prom){ .buf = buf, .cap = cap };
	if (cap)
		buf[0] = '\0';
}

/* Appends one whole line (or nothing, marking full); quote escapes '"' too. */
static void line(struct zt_prom *p, const char *head, const char *esc, bool quote,
		 const char *tail)
{
	size_t n = p->len;
	char c;

	for (const char *s = head; *s && n + 1 < p->cap; s++)
		p->buf[n++] = *s;
	for (const char *s = esc; s && (c = *s) && n + 2 < p->cap; s++) {
		if (c == '\\' || c == '\n' || (quote && c == '"')) {
			p->buf[n++] = '\\';
			c = c == '\n' ? 'n' : c;
		}
		p->buf[n++] = c;
	}
	for (const char *s = tail; *s && n + 1 < p->cap; s++)
		p->buf[n++] = *s;
	/* the whole line, its newline and the NUL, or nothing: each loop stops short of
	 * the last byte, and only a whole line ends in its newline (the rest holds none) */
	if (n == p->len || p->buf[n - 1] != '\n') {
		p->full = true;
		if (p->cap)
			p->buf[p->len] = '\0';
		return;
	}
	p->len = n;
	p->buf[n] = '\0';
}

void zt_prom_family(struct zt_prom *p, const char *name, const char *type, const char *help)
{
	char head[160], tail[160];

	snprintf(head, sizeof(head), "# HELP %s ", name);
	line(p, head, help, false, "\n");
	snprintf(tail, sizeof(tail), "# TYPE %s %s\n", name, type);
	line(p, tail, NULL, false, "");
}

static void sample(struct zt_prom *p, const char *name, const char *label, const char *value,
		   const char *num)
{
	char head[160], tail[64];

	if (label) {
		snprintf(head, sizeof(head), "%s{%s=\"", name, label);
		snprintf(tail, sizeof(tail), "\"} %s\n", num);
		line(p, head, value, true, tail);
	} else {
		snprintf(head, sizeof(head), "%s %s\n", name, num);
		line(p, head, NULL, false, "");
	}
}

void zt_prom_u64(struct zt_prom *p, const char *name, const char *label, const char *value,
		 uint64_t v)
{
	char num[24];

	snprintf(num, sizeof(num), "%llu", (unsigned long long)v);
	sample(p, name, label, value, num);
}

void zt_prom_f64(struct zt_prom *p, const char *name, const char *label, const char *value,
		 double v)
{
	char num[40];

	snprintf(num, sizeof(num), "%.9g", v);
	sample(p, name, label, value, num);
}

void zt_prom_values(struct zt_prom *p, const char *name, const char *type, const char *help,
		    const char *label, const struct zt_prom_lv *v, size_t n)
{
	zt_prom_family(p, name, type, help);
	for (size_t i = 0; i < n; i++)
		zt_prom_u64(p, name, label, label ? v[i].value : NULL, v[i].n);
}

void zt_prom_histogram(struct zt_prom *p, const char *name, const char *help, const double *le,
		       const uint64_t *cum, size_t n, uint64_t count, double sum)
{
	char bucket[80], total[80], num[40];

	snprintf(bucket, sizeof(bucket), "%s_bucket", name);
	zt_prom_family(p, name, "histogram", help);
	for (size_t i = 0; i < n; i++) {
		snprintf(num, sizeof(num), "%.9g", le[i]);
		zt_prom_u64(p, bucket, "le", num, cum[i]);
	}
	zt_prom_u64(p, bucket, "le", "+Inf", count);
	snprintf(total, sizeof(total), "%s_sum", name);
	zt_prom_f64(p, total, NULL, NULL, sum);
	snprintf(total, sizeof(total), "%s_count", name);
	zt_prom_u64(p, total, NULL, NULL, count);
}
