/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The whole machine's CPU time, every CPU summed, from /proc/stat's first line, for the
 * bench tools that check a process's own CPU against what the machine spent (softirq work
 * done in ksoftirqd or on another CPU, other load). In clock ticks (sysconf(_SC_CLK_TCK)
 * a second): sampled, so meaningful over a run, not over one request.
 */
#ifndef XWHISK_BENCH_MACHINE_CPU_H
#define XWHISK_BENCH_MACHINE_CPU_H

#include <stdio.h>

struct machine_cpu {
	unsigned long long usr; /* user and nice */
	unsigned long long sys;
	unsigned long long si; /* hard and soft interrupts */
	unsigned long long busy; /* usr + sys + si: neither idle, nor waiting, nor stolen */
	unsigned long long total; /* busy, idle, iowait and steal */
};

/* 0, or -1 when /proc/stat cannot be read. */
static inline int machine_cpu_read(struct machine_cpu *out)
{
	unsigned long long u, n, s, idle, io, irq, si, steal;
	FILE *f = fopen("/proc/stat", "re");
	int got = f ? fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &u, &n, &s, &idle,
			     &io, &irq, &si, &steal)
		    : 0;

	if (f)
		fclose(f);
	if (got != 8)
		return -1;
	out->usr = u + n;
	out->sys = s;
	out->si = irq + si;
	out->busy = out->usr + out->sys + out->si;
	out->total = out->busy + idle + io + steal;
	return 0;
}

#endif
