/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What sock_accel's programs share: their verdict counters (accel_stats, per CPU, by
 * enum xw_drop_reason).
 */
#ifndef XWHISK_BPF_ACCEL_H
#define XWHISK_BPF_ACCEL_H

#include "lib/maps.h"

static __always_inline void xw_accel_count(__u32 reason, __u32 skbs, __u32 bytes)
{
	struct xw_accel_stat *st = bpf_map_lookup_elem(&accel_stats, &reason);

	if (st) {
		st->skbs += skbs;
		st->bytes += bytes;
	}
}

#endif
