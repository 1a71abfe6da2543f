// SPDX-License-Identifier: Apache-2.0
#include "prom.h"

void prom_family(struct buf *b, const char *name, const char *type, const char *help)
{
	buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void prom_value(struct buf *b, const char *name, const char *type, const char *help,
		uint64_t value)
{
	prom_family(b, name, type, help);
	buf_printf(b, "%s %llu\n", name, (unsigned long long)value);
}

void prom_histogram(struct buf *b, const char *name, const char *help,
		    const char *const *bounds, const uint64_t *counts, size_t n, double sum)
{
	uint64_t cumulative = 0;

	prom_family(b, name, "histogram", help);
	for (size_t i = 0; i < n; i++) {
		cumulative += counts[i];
		buf_printf(b, "%s_bucket{le=\"%s\"} %llu\n", name, bounds[i],
			   (unsigned long long)cumulative);
	}
	buf_printf(b, "%s_sum %.6f\n%s_count %llu\n", name, sum, name,
		   (unsigned long long)cumulative);
}
