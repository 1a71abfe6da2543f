/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Leader election between controller replicas with a coordination.k8s.io/v1 Lease, as
 * client-go's leaderelection does it: the holder renews spec.renewTime every renew
 * period; another replica takes the Lease over once the record it observes has not
 * changed for leaseDurationSeconds (measured on its own clock, not from the timestamps,
 * so clock skew between machines does not matter); every write carries the
 * resourceVersion it read, so two replicas never both win (409 Conflict for the loser).
 *
 * The election runs on a thread of its own. The loop polls it: on_elected runs once when
 * this replica becomes the leader; on_lost when it could not renew for two thirds of the
 * duration (the caller stops: a replica that may have lost the Lease must not act on it).
 */
#ifndef XWHISK_LEASE_H
#define XWHISK_LEASE_H

#include "kube.h"
#include "loop.h"

struct lease;

struct lease_config {
	struct kube_config kube;
	const char *name;     /* the Lease's name in kube.namespace */
	const char *identity; /* this replica's holderIdentity */
	unsigned duration_s;  /* leaseDurationSeconds */
	unsigned renew_ms;    /* how often the holder renews (and others look) */
};

struct lease *lease_start(struct loop *loop, const struct lease_config *cfg,
			  void (*on_elected)(void *data), void (*on_lost)(void *data), void *data);
void lease_stop(struct lease *l);

#endif
