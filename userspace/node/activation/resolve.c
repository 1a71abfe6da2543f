// SPDX-License-Identifier: Apache-2.0
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "log.h"
#include "node/activation/resolve.h"
#include "node/ingress/worker.h"

struct lookup {
	struct worker *w;
	struct identity who;
	char name[600];
	uint64_t epoch;
	resolve_cb cb;
	void *data;
};

void resolve_name(const struct identity *who, const char *ns, const char *pkg, const char *name,
		  char *out, size_t size)
{
	if (!strcmp(ns, "_"))
		ns = who->ns;
	if (pkg && *pkg)
		snprintf(out, size, "/%s/%s/%s", ns, pkg, name);
	else
		snprintf(out, size, "/%s/%s", ns, name);
}

static void on_resolved(int status, json_t *body, void *data)
{
	struct lookup *l = data;
	struct action_entry *a = NULL;
	const char *msg = json_obj_str(body, "error");

	if (status == 200) {
		a = action_cache_put(l->w->node->actions, l->epoch, l->who.ns, l->who.ns_idx, l->name, body);
		if (!a) {
			l->cb(503, NULL, "The action's definition could not be read.", l->data);
			goto out;
		}
		l->cb(0, a, NULL, l->data);
		goto out;
	}
	if (status < 0 || status >= 500) {
		pr_warn("resolve %s: controller %s", l->name,
			status < 0 ? "unreachable" : "failed");
		l->cb(503, NULL, "The controller is not reachable.", l->data);
	} else if (status == 403) {
		l->cb(403, NULL, msg ? msg : "The supplied authentication is not authorized.",
		      l->data);
	} else if (status == 409) {
		l->cb(409, NULL, "Resource by this name exists but is not in this collection.",
		      l->data);
	} else {
		l->cb(404, NULL, "The requested resource does not exist.", l->data);
	}
out:
	free(l);
}

void resolve_action(struct worker *w, const struct identity *who, const char *name,
		    resolve_cb cb, void *data)
{
	struct action_entry *a = action_cache_get(w->node->actions, who->ns, name);
	struct lookup *l;

	if (a) {
		cb(0, a, NULL, data);
		return;
	}
	l = calloc(1, sizeof(*l));
	if (!l) {
		cb(503, NULL, "The node is out of memory.", data);
		return;
	}
	l->w = w;
	l->who = *who;
	l->epoch = action_cache_epoch(w->node->actions);
	snprintf(l->name, sizeof(l->name), "%s", name);
	l->cb = cb;
	l->data = data;
	if (ctlclient_resolve(w->ctl, "action", who->ns, name, on_resolved, l)) {
		free(l);
		cb(503, NULL, "The controller is not reachable.", data);
	}
}
