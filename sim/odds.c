#include "odds.h"

#include <math.h>

void zt_sim_wilson(unsigned k, unsigned n, double *lo, double *hi)
{
	const double z = 1.959964;
	double p, d, c, h;

	if (!n) {
		*lo = 0;
		*hi = 1;
		return;
	}
	p = (double)k / n;
	d = 1 + z * z / n;
	c = (p + z * z / (2.0 * n)) / d;
	h = z * sqrt(p * (1 - p) / n + z * z / (4.0 * n * n)) / d;
	*lo = c - h < 0 ? 0 : c - h;
	*hi = c + h > 1 ? 1 : c + h;
}

double zt_sim_birthday_expected(unsigned n, unsigned m, unsigned ports)
{
	return 1.0 - pow(1.0 - (double)n / ports, (double)m);
}
