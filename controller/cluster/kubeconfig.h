/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A kubeconfig file (XWHISK_KUBECONFIG or KUBECONFIG), as kubectl reads it: the context
 * XWHISK_KUBE_CONTEXT names, else current-context; its cluster's server and CA
 * (certificate-authority or -data, insecure-skip-tls-verify) and its user's token (token
 * or tokenFile) or client certificate (client-certificate/-key or their -data); relative
 * paths are relative to the file's directory. exec plugins and auth providers are not
 * run: such a user is refused with a message.
 */
#ifndef XWHISK_KUBECONFIG_H
#define XWHISK_KUBECONFIG_H

#include <jansson.h>

#include "kube.h"

/* Fills kc's server, credentials and namespace (when the context names one); -ENOENT
 * for no such file, -EINVAL (logged) for one that does not say what to use. */
int kubeconfig_load(const char *path, const char *context, struct kube_config *kc);
/* A YAML document as JSON (scalars as strings): NULL when it does not parse. */
json_t *yaml_to_json(const char *text, size_t len);

#endif
