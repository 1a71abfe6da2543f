/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Stem cells of the pod backend: pods of a kind's runtime, running and ready on a node,
 * that no action has claimed yet (XWHISK_POD_PREWARM="kind=count,...", per node, of
 * XWHISK_POD_STEM_MEMORY_MB each). An allocation of that kind and memory on that node,
 * without a CPU or GPU request, claims one: its pod is relabelled as the sandbox's and
 * gets /init at once, so such a cold start is /init only; the backend makes another to
 * keep the count. The bookkeeping only: pods.c creates, patches and deletes.
 */
#ifndef XWHISK_STEM_PODS_H
#define XWHISK_STEM_PODS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "runtimes.h"

#define LABEL_STEM "xwhisk.dev/stem-cell"  /* the kind, as a label value */
#define ANNOTATION_KIND "xwhisk.dev/kind"  /* the kind as it is */
#define STEM_NAME_PREFIX "xw-stem-"

struct stem_pods;

/* spec: "kind=count,..." of the manifest's kinds (blackboxes have no stem cells). NULL
 * with *bad (a static message) on a bad spec. */
struct stem_pods *stem_pods_new(const char *spec, const struct runtimes *rt,
				unsigned memory_mb, const char **bad);
void stem_pods_free(struct stem_pods *sp);
unsigned stem_pods_memory_mb(const struct stem_pods *sp);

/* A pod event; false when the pod is no stem cell. *remove: it should be deleted (a kind
 * no longer wanted, an ended one). */
bool stem_pods_on_pod(struct stem_pods *sp, const char *type, const json_t *pod, bool *remove);
/* For each stem cell node lacks, create(data, kind, name) with a fresh name (counted as
 * on its way from then on). */
void stem_pods_fill(struct stem_pods *sp, const char *node,
		    void (*create)(void *data, const char *kind, const char *name), void *data);
/* A ready stem cell of kind on node for memory_mb: its name and address, and it is no
 * stem cell any more; false when there is none. */
bool stem_pods_claim(struct stem_pods *sp, const char *node, const char *kind,
		     unsigned memory_mb, char *name, size_t name_len, char *ip, size_t ip_len);
/* A fresh list of the pods: ready stem cells it lacks went away unseen. */
void stem_pods_keep_listed(struct stem_pods *sp, const json_t *items);
/* A stem cell whose pod could not be made: the next fill makes another. */
void stem_pods_forget(struct stem_pods *sp, const char *name);
/* Stem cells known now (ready or on their way), and claimed so far. */
void stem_pods_counts(const struct stem_pods *sp, unsigned *known, unsigned long *claimed);

#endif
