// SPDX-License-Identifier: GPL-2.0 OR Apache-2.0
/* The maps alone: xwhisk-node loads this object to create (or re-adopt) the pinned maps
 * before any program is attached. */
#include "lib/maps.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";
