/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The pod backend (XWHISK_BACKEND=kubernetes): sandboxes are Kubernetes pods.
 *
 * The allocator keeps deciding placement. Each node agent that registers gets a twin in
 * the cluster, "<node>/pods", with the agent's capacity: the allocator places only on
 * twins, and a sandbox on a twin is a pod created with spec.nodeName = <node> (so the
 * scheduler is never on the cold path). Every node agent routes to it as another node's
 * sandbox, at podIP:8080. Its pod carries labels (managed-by, sandbox id, action id,
 * revision) and annotations with what a restarted controller needs to adopt it.
 *
 * A watch on the pods (list, then watch from the list's resourceVersion; 410 Gone:
 * list again; a broken stream: resume from the last version seen) drives the rest:
 * Ready with a podIP -> the controller POSTs /init with the action's code -> the "warm"
 * event every node applies; a pod that failed or went away -> its sandbox leaves the
 * pool. The GC and the allocator remove sandboxes as before; removing one deletes its pod.
 * At start, the list adopts the ready pods the store still knows, once their node's
 * agent has registered, and deletes the others. Stem cell pods (stem_pods.h) wait ready
 * per node and kind; an allocation that fits one takes it over with a patch and /init.
 *
 * The API calls run on two threads of the backend's own (one for writes, one for the
 * watch); what they learn comes back to the controller's loop through a mailbox.
 */
#ifndef XWHISK_PODS_H
#define XWHISK_PODS_H

#include "cluster.h"
#include "kube.h"
#include "runtimes.h"
#include "store.h"

struct pods;

struct pods_config {
	struct kube_config kube;
	const char *image;     /* XWHISK_POD_IMAGE: the xwhisk image (xwhisk-proxy, loops) */
	bool openwhisk_images; /* XWHISK_POD_RUNTIME_IMAGES=openwhisk: the manifest's images */
	unsigned adopt_wait_ms; /* how long a pod waits for its node agent to register */
	const char *prewarm;    /* XWHISK_POD_PREWARM: stem cell pods per kind and node */
	unsigned stem_memory_mb; /* XWHISK_POD_STEM_MEMORY_MB: theirs (256) */
};

/* Starts the backend on c (sets its hooks). NULL on failure, logged. */
struct pods *pods_start(struct loop *loop, struct cluster *c, struct store *store,
			const struct runtimes *rt, const struct pods_config *cfg);
void pods_stop(struct pods *p);

/* The pod of sandbox s as the API would take it (a new reference): for tests. */
json_t *pods_manifest(const struct pods_config *cfg, const struct runtimes *rt,
		      const struct gsandbox *s, const char *node_name);
/* A stem cell pod of kind (stem_pods.h) named name. */
json_t *pods_stem_manifest(const struct pods_config *cfg, const struct runtimes *rt,
			   const char *kind, unsigned memory_mb, const char *node_name,
			   const char *name);
/* What makes a pod sandbox s's: {labels, annotations} (a claimed stem cell's patch). */
json_t *pods_sandbox_metadata(const struct gsandbox *s);

#endif
