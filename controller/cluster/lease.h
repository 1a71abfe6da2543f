/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Leader election between controller replicas with a coordination.k8s.io/v1 Lease, as
 * client-go's leaderelection does it: the holder renews spec.renewTime every renew
 * period; another replica takes the Lease over once the record it observes has not
 * changed for leaseDurationSeconds (measured on its own clock, not from the timestamps,
 * so clock skew between machines does not matter); every write carries the
 * resourceVersion it read, so two replicas never both win (409 Conflict for the loser).
 *
 * One round is one leader_ops round (leader.h): a holder that could not renew for two
 * thirds of the duration stops leading (on_lost) before another replica may take over.
 */
#ifndef XWHISK_LEASE_H
#define XWHISK_LEASE_H

#include "kube.h"
#include "leader.h"
#include "loop.h"

struct lease_config {
	struct kube_config kube;
	const char *name;     /* the Lease's name in kube.namespace */
	const char *identity; /* this replica's holderIdentity */
	unsigned duration_s;  /* leaseDurationSeconds */
	unsigned renew_ms;    /* how often the holder renews (and others look) */
};

/* Stopped with leader_stop. */
struct leader *lease_start(struct loop *loop, const struct lease_config *cfg,
			   void (*on_elected)(void *data), void (*on_lost)(void *data), void *data);

#endif
