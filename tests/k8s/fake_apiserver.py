#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A fake Kubernetes API server (and kubelet) for xwhisk's tests: no cluster can run here.

It keeps the semantics of the real API that kubectl and xwhisk's pod backend rely on:
  - discovery: /version, /api, /apis, /api/v1, /apis/<group>/<version> (legacy, not the
    aggregated form: kubectl falls back to it when the answer is plain application/json),
    and /openapi/v3 with enough for kubectl's validation (every POST/PUT/PATCH declares
    fieldValidation, so kubectl leaves validation to the server);
  - generic storage of the kinds in RESOURCES, one resourceVersion counter for all (as
    etcd's revision), uid, creationTimestamp, generation, namespaces that must exist;
  - create (409 AlreadyExists; generateName), get, list (labelSelector, fieldSelector on
    metadata.name, metadata.namespace, spec.nodeName, status.phase), update (409 Conflict
    on a stale resourceVersion), patch (merge, JSON patch, a strategic merge that merges
    lists of named objects by name), delete (pods bound to a fake kubelet's node are
    deleted gracefully: deletionTimestamp first, gone once the kubelet stopped them);
  - the status subresource (PUT/PATCH .../status change only status; the main resource
    keeps status);
  - ?watch=1 from a resourceVersion: the events after it, bookmarks when asked, 410 Gone
    (an ERROR event with reason Expired) for a version older than the kept history.
Not implemented (answered 415/405): server-side apply, protobuf, aggregated discovery,
admission, quotas. Authentication only when asked: with --token T a request needs
"Authorization: Bearer T" or a client certificate signed by --client-ca, else 401; without
it any request is accepted. --tls-cert/--tls-key serve HTTPS. The request log says which
credential came ("auth": "token", "cert", "user" or "none"), the User-Agent ("agent"),
what was answered ("status")
and whether RBAC refused it ("rbac_denied").

RBAC as the real authorizer does it, for the users that --user TOKEN=NAME declares (a
service account is "system:serviceaccount:NS:NAME", in the groups system:serviceaccounts,
system:serviceaccounts:NS and system:authenticated): a request carrying
"Authorization: Bearer TOKEN" may do only what the stored Roles and ClusterRoles bound to
that user (RoleBinding in the request's namespace, ClusterRoleBinding anywhere) grant:
apiGroups, resources (a subresource as "pods/status"), verbs (get list watch create update
patch delete deletecollection; "*" matches any) and resourceNames; anything else is 403
Forbidden with the real Status body. Every other credential is an administrator (as
system:masters), and discovery paths are open to all (as system:discovery). --rbac FILE
(repeatable) stores the YAML manifests of FILE at start (their namespaces are made when
missing), e.g. k8s/rbac.yaml.

Test hooks under /fake/: POST /fake/compact (forget the history: older watches get 410),
POST /fake/drop-watches (break every open watch), GET /fake/requests (what was called:
method, path, query, auth, t (epoch seconds); POST /fake/clear-requests forgets them), GET
/fake/ready-times (pod name -> when the kubelet wrote it Ready, epoch seconds), POST /fake/kill-pod?namespace=&name= (the pod's process dies), POST
/fake/refuse-creates?resource=pods&count=N&as=quota|invalid (the next N creates of that
resource are refused as a cluster refuses them: 403 Forbidden "exceeded quota" as a
ResourceQuota does, or 422 Invalid as validation does; count=0 ends it).

The fake kubelet (--node NAME, repeatable) runs every pod bound to NAME (spec.nodeName):
the first container's command and args with $(VAR) expanded from its env (fieldRef
status.podIP and metadata.name supported), image paths mapped with --path-map
FROM=TO, on its own loopback address 127.77.x.y (so every pod serves on its
containerPort as on a real pod network). When the first containerPort accepts
connections the pod is Running and Ready with that podIP; when the process exits the pod
is Failed; a deleted pod's process is stopped (SIGTERM, then SIGKILL).

  fake_apiserver.py [--listen 127.0.0.1:0] [--port-file F] [--node N]... [--path-map A=B]...
                    [--history N] [--bookmark-ms MS] [--tls-cert F --tls-key F]
                    [--client-ca F] [--token T] [--user TOKEN=NAME]... [--rbac FILE]...
Prints "listening on http://HOST:PORT" and writes the port to --port-file.
"""
import argparse
import copy
import datetime
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# (group, version, plural, kind, namespaced, has status subresource, short names)
RESOURCES = [
    ("", "v1", "namespaces", "Namespace", False, True, ["ns"]),
    ("", "v1", "nodes", "Node", False, True, ["no"]),
    ("", "v1", "pods", "Pod", True, True, ["po"]),
    ("", "v1", "services", "Service", True, True, ["svc"]),
    ("", "v1", "endpoints", "Endpoints", True, False, ["ep"]),
    ("", "v1", "configmaps", "ConfigMap", True, False, ["cm"]),
    ("", "v1", "secrets", "Secret", True, False, []),
    ("", "v1", "serviceaccounts", "ServiceAccount", True, False, ["sa"]),
    ("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", True, True, ["pvc"]),
    ("", "v1", "events", "Event", True, False, ["ev"]),
    ("apps", "v1", "deployments", "Deployment", True, True, ["deploy"]),
    ("apps", "v1", "daemonsets", "DaemonSet", True, True, ["ds"]),
    ("apps", "v1", "replicasets", "ReplicaSet", True, True, ["rs"]),
    ("apps", "v1", "statefulsets", "StatefulSet", True, True, ["sts"]),
    ("coordination.k8s.io", "v1", "leases", "Lease", True, False, []),
    ("events.k8s.io", "v1", "events", "Event", True, False, ["ev"]),
    ("rbac.authorization.k8s.io", "v1", "roles", "Role", True, False, []),
    ("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", True, False, []),
    ("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", False, False, []),
    ("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", False,
     False, []),
    ("scheduling.k8s.io", "v1", "priorityclasses", "PriorityClass", False, False, ["pc"]),
]
BY_PATH = {(r[0], r[1], r[2]): r for r in RESOURCES}
VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]


def now_iso():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def api_version(group, version):
    return f"{group}/{version}" if group else version


def status(code, reason, message, details=None):
    st = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
          "message": message, "reason": reason, "code": code}
    if details:
        st["details"] = details
    return st


class ApiError(Exception):
    def __init__(self, code, reason, message, details=None):
        super().__init__(message)
        self.body = status(code, reason, message, details)
        self.code = code


def not_found(res, name):
    return ApiError(404, "NotFound", f'{res[2]}{"." + res[0] if res[0] else ""} "{name}" '
                    "not found", {"name": name, "group": res[0], "kind": res[2]})


# ---- patches ------------------------------------------------------------------------

def merge_patch(target, patch):
    """RFC 7386."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


def strategic_merge(target, patch):
    """A strategic merge patch, simplified: lists of objects that all carry a "name" (or,
    for ports, a containerPort/port) merge by that key as the built-in types' patchMergeKey
    do; directives ($patch, $setElementOrder, $retainKeys, $deleteFromPrimitiveList) are
    honoured where they delete, otherwise dropped."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        return {k: v for k, v in patch.items() if k != "$patch"}
    out = copy.deepcopy(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if k.startswith("$setElementOrder/") or k in ("$patch", "$retainKeys"):
            continue
        if k.startswith("$deleteFromPrimitiveList/"):
            field = k.split("/", 1)[1]
            if isinstance(out.get(field), list):
                out[field] = [x for x in out[field] if x not in v]
            continue
        if v is None:
            out.pop(k, None)
        elif isinstance(v, list) and isinstance(out.get(k), list):
            out[k] = merge_list(out[k], v)
        elif isinstance(v, dict):
            out[k] = strategic_merge(out.get(k), v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def merge_key(items):
    for key in ("name", "containerPort", "port", "mountPath", "ip", "type"):
        if items and all(isinstance(x, dict) and key in x for x in items):
            return key
    return None


def merge_list(old, new):
    key = merge_key([x for x in new if not (isinstance(x, dict) and "$patch" in x)] or new)
    if not key or not all(isinstance(x, dict) and key in x for x in old):
        return [x for x in copy.deepcopy(new) if not (isinstance(x, dict) and "$patch" in x)]
    out = copy.deepcopy(old)
    for item in new:
        idx = next((i for i, x in enumerate(out) if x.get(key) == item.get(key)), None)
        if item.get("$patch") == "delete":
            if idx is not None:
                out.pop(idx)
        elif idx is None:
            out.append(strategic_merge({}, item))
        else:
            out[idx] = strategic_merge(out[idx], item)
    return out


def json_pointer(path):
    return [p.replace("~1", "/").replace("~0", "~") for p in path.split("/")[1:]]


def json_patch(doc, ops):
    """RFC 6902: add, remove, replace, test, copy, move."""
    doc = copy.deepcopy(doc)

    def walk(parts):
        cur = doc
        for p in parts[:-1]:
            cur = cur[int(p)] if isinstance(cur, list) else cur[p]
        return cur, parts[-1]

    def get(path):
        cur = doc
        for p in json_pointer(path):
            cur = cur[int(p)] if isinstance(cur, list) else cur[p]
        return cur

    def add(path, value):
        parent, last = walk(json_pointer(path))
        if isinstance(parent, list):
            parent.insert(len(parent) if last == "-" else int(last), value)
        else:
            parent[last] = value

    def remove(path):
        parent, last = walk(json_pointer(path))
        if isinstance(parent, list):
            return parent.pop(int(last))
        return parent.pop(last)

    try:
        for op in ops:
            kind, path = op["op"], op["path"]
            if kind == "add":
                add(path, copy.deepcopy(op["value"]))
            elif kind == "remove":
                remove(path)
            elif kind == "replace":
                remove(path)
                add(path, copy.deepcopy(op["value"]))
            elif kind == "test":
                if get(path) != op["value"]:
                    raise ApiError(422, "Invalid", f"test failed at {path}")
            elif kind == "copy":
                add(path, copy.deepcopy(get(op["from"])))
            elif kind == "move":
                add(path, remove(op["from"]))
            else:
                raise ApiError(400, "BadRequest", f"unknown op {kind}")
    except (KeyError, IndexError, ValueError, TypeError) as e:
        raise ApiError(422, "Invalid", f"the JSON patch does not apply: {e!r}")
    return doc


# ---- selectors ----------------------------------------------------------------------

def parse_selector(text):
    reqs = []
    for part in filter(None, (p.strip() for p in (text or "").split(","))):
        m = re.match(r"^([^!=\s]+)\s*(==|=|!=)\s*(.*)$", part)
        if m:
            reqs.append((m.group(1), "!=" if m.group(2) == "!=" else "=", m.group(3)))
        elif part.startswith("!"):
            reqs.append((part[1:], "absent", None))
        else:
            m = re.match(r"^(\S+)\s+(in|notin)\s+\((.*)\)$", part)
            if not m:
                raise ApiError(400, "BadRequest", f"unable to parse requirement: {part}")
            reqs.append((m.group(1), m.group(2), [v.strip() for v in m.group(3).split(",")]))
    return reqs


def selector_matches(reqs, values):
    for key, op, want in reqs:
        have = values.get(key)
        if op == "=" and have != want:
            return False
        if op == "!=" and have == want:
            return False
        if op == "absent" and have is not None:
            return False
        if op == "in" and have not in want:
            return False
        if op == "notin" and have in want:
            return False
    return True


def label_reqs(text):
    reqs = []
    for part in filter(None, (p.strip() for p in (text or "").split(","))):
        if re.match(r"^[^!=\s]+$", part):
            reqs.append((part, "exists", None))
        else:
            reqs.extend(parse_selector(part))
    return reqs


def labels_match(reqs, labels):
    for key, op, want in reqs:
        if op == "exists":
            if key not in labels:
                return False
        elif not selector_matches([(key, op, want)], labels):
            return False
    return True


def field_values(obj):
    md = obj.get("metadata", {})
    return {"metadata.name": md.get("name"), "metadata.namespace": md.get("namespace", ""),
            "spec.nodeName": obj.get("spec", {}).get("nodeName", ""),
            "status.phase": obj.get("status", {}).get("phase", "")}


# ---- RBAC ---------------------------------------------------------------------------

RBAC_GROUP = "rbac.authorization.k8s.io"


def request_verb(method, name, q):
    if method == "GET":
        return "get" if name else "watch" if q.get("watch") in ("1", "true") else "list"
    if method == "DELETE":
        return "delete" if name else "deletecollection"
    return {"POST": "create", "PUT": "update", "PATCH": "patch"}.get(method, method.lower())


def user_groups(user):
    """The groups the API server puts an authenticated user in (a service account's too)."""
    parts = user.split(":")
    groups = ["system:authenticated"]
    if len(parts) == 4 and parts[:2] == ["system", "serviceaccount"]:
        groups += ["system:serviceaccounts", f"system:serviceaccounts:{parts[2]}"]
    return groups


def subject_matches(subject, user, groups, binding_ns):
    kind, name = subject.get("kind"), subject.get("name")
    if kind == "ServiceAccount":
        return user == f"system:serviceaccount:{subject.get('namespace') or binding_ns}:{name}"
    return (kind == "User" and name == user) or (kind == "Group" and name in groups)


def rule_allows(rule, group, resource, verb, name):
    """As the RBAC authorizer matches a PolicyRule: "*" matches anything, "*/status" any
    resource's status; a rule naming resourceNames allows only requests for those names."""
    has = lambda field, want: any(x in ("*", want) for x in rule.get(field) or [])
    sub = resource.partition("/")[2]
    if not (has("verbs", verb) and has("apiGroups", group) and
            any(r in ("*", resource) or (sub and r == "*/" + sub)
                for r in rule.get("resources") or [])):
        return False
    names = rule.get("resourceNames") or []
    return not names or name in names


def forbidden(user, verb, res, ns, name, sub):
    """403 with the message and details of the real API server."""
    resource = res[2] + ("/" + sub if sub else "")
    where = f'in the namespace "{ns}"' if ns else "at the cluster scope"
    qualified = res[2] + ("." + res[0] if res[0] else "")
    head = f'{qualified} "{name}"' if name else qualified
    details = {k: v for k, v in (("name", name), ("group", res[0]), ("kind", res[2])) if v}
    return ApiError(403, "Forbidden", f'{head} is forbidden: User "{user}" cannot {verb} '
                    f'resource "{resource}" in API group "{res[0]}" {where}', details)


# ---- the store ----------------------------------------------------------------------

class Store:
    def __init__(self, history):
        self.lock = threading.Condition()
        self.rv = 1
        self.objects = {}   # (group, version, plural, namespace, name) -> object
        self.history = []   # (rv, type, resource, namespace, object)
        self.history_max = history
        self.compacted = 0  # versions at or below this are gone from the history
        self.epoch = 0      # bumped to break every watch
        self.listeners = []  # callables(type, res, obj), called with the lock held
        for ns in ("default", "kube-system", "kube-public"):
            with self.lock:
                self._put(BY_PATH[("", "v1", "namespaces")], "", {
                    "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns},
                    "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}},
                    "ADDED")

    def _record(self, kind, res, ns, obj):
        self.history.append((self.rv, kind, res, ns, copy.deepcopy(obj)))
        if len(self.history) > self.history_max:
            drop = len(self.history) - self.history_max
            self.compacted = self.history[drop - 1][0]
            del self.history[:drop]
        for fn in list(self.listeners):
            fn(kind, res, obj)
        self.lock.notify_all()

    def _put(self, res, ns, obj, kind):
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)
        self.objects[(res[0], res[1], res[2], ns, obj["metadata"]["name"])] = obj
        self._record(kind, res, ns, obj)
        return copy.deepcopy(obj)

    def _delete(self, res, ns, name):
        obj = self.objects.pop((res[0], res[1], res[2], ns, name))
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)
        self._record("DELETED", res, ns, obj)
        return copy.deepcopy(obj)

    def get(self, res, ns, name):
        with self.lock:
            obj = self.objects.get((res[0], res[1], res[2], ns, name))
            if obj is None:
                raise not_found(res, name)
            return copy.deepcopy(obj)

    def list(self, res, ns, labels, fields):
        with self.lock:
            items = [copy.deepcopy(o) for k, o in sorted(self.objects.items())
                     if k[:3] == res[:3] and (ns is None or k[3] == ns) and
                     labels_match(labels, o["metadata"].get("labels", {})) and
                     selector_matches(fields, field_values(o))]
            return items, str(self.rv)

    def check_namespace(self, res, ns):
        if res[4] and ("", "v1", "namespaces", "", ns) not in self.objects:
            raise ApiError(404, "NotFound", f'namespaces "{ns}" not found',
                           {"name": ns, "kind": "namespaces"})

    def allows(self, user, ns, group, resource, verb, name):
        """Whether the Roles and ClusterRoles bound to user grant the request (namespace ""
        for a cluster-scoped one, None for a list across namespaces)."""
        groups = user_groups(user)
        rbac = lambda plural, n, nm: self.objects.get((RBAC_GROUP, "v1", plural, n, nm), {})
        with self.lock:
            for key, binding in self.objects.items():
                if key[:3] == (RBAC_GROUP, "v1", "clusterrolebindings"):
                    bns = ""
                elif key[:3] == (RBAC_GROUP, "v1", "rolebindings") and ns and key[3] == ns:
                    bns = ns
                else:
                    continue
                if not any(subject_matches(s, user, groups, bns)
                           for s in binding.get("subjects") or []):
                    continue
                ref = binding.get("roleRef") or {}
                role = (rbac("clusterroles", "", ref.get("name"))
                        if ref.get("kind") == "ClusterRole" or not bns
                        else rbac("roles", bns, ref.get("name")))
                if any(rule_allows(r, group, resource, verb, name)
                       for r in role.get("rules") or []):
                    return True
        return False

    def create(self, res, ns, obj):
        with self.lock:
            self.check_namespace(res, ns)
            md = obj.setdefault("metadata", {})
            if not md.get("name") and md.get("generateName"):
                md["name"] = md["generateName"] + uuid.uuid4().hex[:5]
            if not md.get("name"):
                raise ApiError(422, "Invalid", "metadata.name: Required value: name or "
                               "generateName is required")
            if (res[0], res[1], res[2], ns, md["name"]) in self.objects:
                raise ApiError(409, "AlreadyExists", f'{res[2]} "{md["name"]}" already exists',
                               {"name": md["name"], "group": res[0], "kind": res[2]})
            if md.get("resourceVersion"):
                raise ApiError(400, "BadRequest",
                               "resourceVersion should not be set on objects to be created")
            md.update(uid=str(uuid.uuid4()), creationTimestamp=now_iso(), generation=1)
            if res[4]:
                md["namespace"] = ns
            else:
                md.pop("namespace", None)
            obj["apiVersion"], obj["kind"] = api_version(res[0], res[1]), res[3]
            if res[3] == "Pod":
                obj.setdefault("status", {})
                obj["status"] = {"phase": "Pending", "qosClass": "BestEffort"}
            if res[3] == "Namespace":
                obj["status"] = {"phase": "Active"}
            return self._put(res, ns, obj, "ADDED")

    def update(self, res, ns, name, fn, subresource, precondition=None):
        """fn(old) -> new object; the status subresource changes only status and the main
        resource of a kind with a status subresource keeps its status."""
        with self.lock:
            old = self.objects.get((res[0], res[1], res[2], ns, name))
            if old is None:
                raise not_found(res, name)
            new = fn(copy.deepcopy(old))
            md = new.setdefault("metadata", {})
            want = precondition or md.get("resourceVersion")
            if want and want != old["metadata"]["resourceVersion"]:
                raise ApiError(409, "Conflict", f'Operation cannot be fulfilled on {res[2]} '
                               f'"{name}": the object has been modified; please apply your '
                               "changes to the latest version and try again",
                               {"name": name, "group": res[0], "kind": res[2]})
            if md.get("name", name) != name:
                raise ApiError(400, "BadRequest", "the name of the object does not match "
                               "the name on the URL")
            if subresource == "status":
                new = dict(copy.deepcopy(old), status=new.get("status", {}))
            else:
                if res[5]:
                    new["status"] = copy.deepcopy(old.get("status", {}))
                for k in ("uid", "creationTimestamp", "deletionTimestamp",
                          "deletionGracePeriodSeconds"):
                    if k in old["metadata"]:
                        md[k] = old["metadata"][k]
                    else:
                        md.pop(k, None)
                md["name"] = name
                if res[4]:
                    md["namespace"] = ns
                strip = lambda o: {k: v for k, v in o.items() if k not in ("metadata",
                                                                            "status")}
                md["generation"] = old["metadata"].get("generation", 1) + (
                    strip(new) != strip(old))
            new["apiVersion"], new["kind"] = api_version(res[0], res[1]), res[3]
            if new == old:
                return copy.deepcopy(old)  # a no-op write does not bump the version
            return self._put(res, ns, new, "MODIFIED")

    def delete(self, res, ns, name, graceful):
        with self.lock:
            obj = self.objects.get((res[0], res[1], res[2], ns, name))
            if obj is None:
                raise not_found(res, name)
            if graceful(obj):
                if "deletionTimestamp" not in obj["metadata"]:
                    obj = copy.deepcopy(obj)
                    obj["metadata"]["deletionTimestamp"] = now_iso()
                    obj["metadata"]["deletionGracePeriodSeconds"] = 30
                    return self._put(res, ns, obj, "MODIFIED")
                return copy.deepcopy(obj)
            if res[3] == "Namespace":
                for key in [k for k in self.objects if k[3] == name and k[2] != "namespaces"]:
                    self._delete(BY_PATH[key[:3]], key[3], key[4])
            return self._delete(res, ns, name)

    def finish_delete(self, res, ns, name):
        with self.lock:
            if (res[0], res[1], res[2], ns, name) in self.objects:
                self._delete(res, ns, name)


# ---- the fake kubelet ---------------------------------------------------------------

class Kubelet:
    """Runs the pods bound to its nodes as local processes on loopback addresses."""

    def __init__(self, store, nodes, path_map):
        self.store, self.nodes, self.path_map = store, set(nodes), path_map
        self.procs = {}  # (ns, name) -> Popen
        self.ready_at = {}  # pod name -> when it was written Ready (epoch seconds)
        # another fake of a test running at the same time takes addresses too: start
        # somewhere else, and skip what is taken
        self.next_ip = int.from_bytes(os.urandom(2), "big") % 60000
        self.work = []
        self.cv = threading.Condition()
        pods = BY_PATH[("", "v1", "pods")]
        with store.lock:
            for n in nodes:
                store._put(BY_PATH[("", "v1", "nodes")], "", {
                    "apiVersion": "v1", "kind": "Node",
                    "metadata": {"name": n, "uid": str(uuid.uuid4()),
                                 "creationTimestamp": now_iso(),
                                 "labels": {"kubernetes.io/hostname": n}},
                    "status": {"conditions": [{"type": "Ready", "status": "True"}],
                               "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
                               "capacity": {"cpu": "2", "memory": "4Gi", "pods": "110"}}},
                    "ADDED")
            store.listeners.append(self.on_event)
        self.pods = pods
        threading.Thread(target=self.run, daemon=True).start()

    def on_event(self, kind, res, obj):
        if res[2] == "pods" and obj.get("spec", {}).get("nodeName") in self.nodes:
            with self.cv:
                self.work.append((kind, copy.deepcopy(obj)))
                self.cv.notify()

    def run(self):
        while True:
            with self.cv:
                while not self.work:
                    self.cv.wait()
                kind, pod = self.work.pop(0)
            try:
                self.handle(kind, pod)
            except Exception as e:  # one bad pod must not stop the kubelet
                print(f"fake kubelet: {e!r}", file=sys.stderr, flush=True)

    def handle(self, kind, pod):
        md = pod["metadata"]
        key = (md["namespace"], md["name"])
        if kind == "DELETED" or md.get("deletionTimestamp"):
            self.stop(key)
            if kind != "DELETED":
                self.store.finish_delete(self.pods, *key)
            return
        if key in self.procs or pod.get("status", {}).get("phase") not in (None, "Pending"):
            return
        self.start(key, pod)

    def map_path(self, s):
        for src, dst in self.path_map:
            if s.startswith(src):
                return dst + s[len(src):]
        return s

    def free_ip(self, port):
        """The next loopback address 127.77.x.y whose port nobody holds."""
        for _ in range(1000):
            n = self.next_ip % 62500
            self.next_ip += 1
            ip = f"127.77.{n // 250}.{n % 250 + 2}"
            probe = socket.socket()
            try:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                probe.bind((ip, port))
                return ip
            except OSError:
                continue
            finally:
                probe.close()
        return ip

    def start(self, key, pod):
        spec = pod["spec"]
        c = spec["containers"][0]
        ip = self.free_ip((c.get("ports") or [{"containerPort": 8080}])[0]["containerPort"])
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": "/tmp"}
        for e in c.get("env", []):
            if "value" in e:
                env[e["name"]] = e["value"]
            elif e.get("valueFrom", {}).get("fieldRef"):
                path = e["valueFrom"]["fieldRef"]["fieldPath"]
                env[e["name"]] = {"status.podIP": ip, "metadata.name": key[1],
                                  "metadata.namespace": key[0],
                                  "spec.nodeName": spec.get("nodeName", "")}.get(path, "")
        for k in ("XWHISK_LOG_LEVEL",):
            if k in os.environ and k not in env:
                env[k] = os.environ[k]
        expand = lambda s: re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)",
                                  lambda m: env.get(m.group(1), m.group(0)), s)
        argv = [self.map_path(expand(a)) for a in c.get("command", []) + c.get("args", [])]
        if not argv:
            self.set_status(key, "Failed", ip, False, "the fake kubelet runs only pods that "
                            "name a command")
            return
        proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL,
                                start_new_session=True)
        self.procs[key] = proc
        port = (c.get("ports") or [{"containerPort": 8080}])[0]["containerPort"]
        self.set_status(key, "Pending", ip, False, None)
        threading.Thread(target=self.watch_proc, args=(key, proc, ip, port),
                         daemon=True).start()

    def watch_proc(self, key, proc, ip, port):
        deadline = time.time() + 60
        ready = False
        while proc.poll() is None:
            if not ready:
                try:
                    socket.create_connection((ip, port), timeout=0.5).close()
                    ready = True
                    self.set_status(key, "Running", ip, True, None)
                except OSError:
                    if time.time() > deadline:
                        ready = True  # never Ready: the controller's start timeout decides
            time.sleep(0.05)
        if self.procs.get(key) is proc:
            del self.procs[key]
            self.set_status(key, "Failed", ip, False, f"exited with status {proc.returncode}")

    def set_status(self, key, phase, ip, ready, message):
        cond = "True" if ready else "False"

        def fn(old):
            st = old.setdefault("status", {})
            st.update(phase=phase, podIP=ip, podIPs=[{"ip": ip}], hostIP="127.0.0.1",
                      conditions=[{"type": "Ready", "status": cond},
                                  {"type": "ContainersReady", "status": cond},
                                  {"type": "PodScheduled", "status": "True"}],
                      containerStatuses=[{"name": old["spec"]["containers"][0]["name"],
                                          "ready": ready, "restartCount": 0,
                                          "image": old["spec"]["containers"][0].get("image"),
                                          "state": {"running" if phase == "Running" else
                                                    "terminated" if phase == "Failed" else
                                                    "waiting": {}}}])
            st.setdefault("startTime", now_iso())
            if message:
                st["message"] = message
            old["metadata"].pop("resourceVersion", None)
            return old

        try:
            self.store.update(self.pods, key[0], key[1], fn, "status")
            if ready:
                self.ready_at[key[1]] = time.time()
        except ApiError:
            pass  # deleted meanwhile

    def stop(self, key):
        proc = self.procs.pop(key, None)
        if proc is None:
            return
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=2)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()

    def kill(self, key):
        proc = self.procs.get(key)
        if proc is None:
            return False
        os.killpg(proc.pid, signal.SIGKILL)
        return True

    def stop_all(self):
        for key in list(self.procs):
            self.stop(key)


# ---- discovery and openapi ----------------------------------------------------------

def resource_list(group, version):
    return {"kind": "APIResourceList", "apiVersion": "v1",
            "groupVersion": api_version(group, version),
            "resources": sum(([{"name": r[2], "singularName": r[3].lower(), "namespaced": r[4],
                                "kind": r[3], "verbs": VERBS, "shortNames": r[6]}] +
                              ([{"name": r[2] + "/status", "singularName": "",
                                 "namespaced": r[4], "kind": r[3],
                                 "verbs": ["get", "patch", "update"]}] if r[5] else [])
                              for r in RESOURCES if r[0] == group and r[1] == version), [])}


def groups():
    seen = []
    for r in RESOURCES:
        if r[0] and (r[0], r[1]) not in seen:
            seen.append((r[0], r[1]))
    return seen


def openapi_gv(group, version):
    """Enough of a group-version's OpenAPI v3 document for kubectl: the paths with their
    x-kubernetes-group-version-kind and a fieldValidation parameter on writes, so that it
    validates on the server (which stores what it is given)."""
    param = {"name": "fieldValidation", "in": "query", "schema": {"type": "string"}}
    paths = {}
    for r in RESOURCES:
        if (r[0], r[1]) != (group, version):
            continue
        gvk = {"group": r[0], "version": r[1], "kind": r[3]}
        op = lambda action: {"x-kubernetes-action": action,
                             "x-kubernetes-group-version-kind": gvk,
                             "parameters": [param] if action in ("post", "put", "patch")
                             else [], "responses": {"200": {"description": "OK"}}}
        base = f"/api/{version}" if not group else f"/apis/{group}/{version}"
        if r[4]:
            base += "/namespaces/{namespace}"
        paths[f"{base}/{r[2]}"] = {"get": op("list"), "post": op("post")}
        paths[f"{base}/{r[2]}/{{name}}"] = {"get": op("get"), "put": op("put"),
                                            "patch": op("patch"), "delete": op("delete")}
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes (fake)", "version": "v1.30.0"},
            "paths": paths, "components": {"schemas": {}}}


# ---- HTTP ---------------------------------------------------------------------------

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-apiserver"

    def log_message(self, fmt, *args):
        if os.environ.get("FAKE_APISERVER_VERBOSE"):
            sys.stderr.write("fake-apiserver: " + (fmt % args) + "\n")

    def send_response(self, code, message=None):
        if getattr(self, "entry", None) is not None:
            self.entry["status"] = code  # for the request log
        super().send_response(code, message)

    def send_json(self, code, body, ctype="application/json"):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def body(self):
        raw = self.raw
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            raise ApiError(415 if not raw.lstrip().startswith((b"{", b"[")) else 400,
                           "UnsupportedMediaType" if not raw.lstrip().startswith(b"{") else
                           "BadRequest", "the fake API server speaks JSON only")

    def setup(self):
        if isinstance(self.request, ssl.SSLSocket):
            self.request.do_handshake()
        super().setup()

    def credential(self):
        """Which accepted credential the request carries: "token", "cert", "user" (a
        --user token: self.user names the user) or "none"."""
        srv = self.server
        header = self.headers.get("Authorization", "")
        self.user = srv.users.get(header[len("Bearer "):]) if header.startswith("Bearer ") \
            else None
        if self.user:
            return "user"
        if srv.token and self.headers.get("Authorization", "") == "Bearer " + srv.token:
            return "token"
        getpeercert = getattr(self.connection, "getpeercert", None)
        if getpeercert and getpeercert():
            return "cert"
        return "none"

    def do_GET(self):
        self.dispatch("GET")

    def do_POST(self):
        self.dispatch("POST")

    def do_PUT(self):
        self.dispatch("PUT")

    def do_PATCH(self):
        self.dispatch("PATCH")

    def do_DELETE(self):
        self.dispatch("DELETE")

    def dispatch(self, method):
        url = urllib.parse.urlsplit(self.path)
        q = {k: v[-1] for k, v in urllib.parse.parse_qs(url.query).items()}
        srv = self.server
        # the whole body first, whatever the answer: the connection stays usable
        n = int(self.headers.get("Content-Length") or 0)
        self.raw = self.rfile.read(n) if n else b""
        auth = self.credential()
        self.entry = {"method": method, "path": url.path, "query": q, "auth": auth,
                      "agent": self.headers.get("User-Agent", ""), "t": time.time()}
        with srv.log_lock:
            srv.requests.append(self.entry)
        try:
            if srv.token and auth == "none" and not url.path.startswith("/fake/"):
                raise ApiError(401, "Unauthorized", "Unauthorized")
            self.route(method, url.path.rstrip("/") or "/", q)
        except ApiError as e:
            self.send_json(e.code, e.body)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def route(self, method, path, q):
        srv = self.server
        parts = path.strip("/").split("/") if path != "/" else []
        if parts[:1] == ["fake"]:
            return self.fake_hook(method, parts[1:], q)
        if method == "GET":
            if path == "/version":
                return self.send_json(200, {"major": "1", "minor": "30", "gitVersion":
                                            "v1.30.0-fake", "platform": "linux/amd64"})
            if path in ("/healthz", "/readyz", "/livez"):
                data = b"ok"
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", "2")
                self.end_headers()
                return self.wfile.write(data)
            if path == "/api":
                return self.send_json(200, {"kind": "APIVersions", "versions": ["v1"],
                                            "serverAddressByClientCIDRs": [
                                                {"clientCIDR": "0.0.0.0/0",
                                                 "serverAddress": "127.0.0.1"}]})
            if path == "/apis":
                return self.send_json(200, {"kind": "APIGroupList", "apiVersion": "v1",
                                            "groups": [{"name": g, "versions": [
                                                {"groupVersion": f"{g}/{v}", "version": v}],
                                                "preferredVersion": {
                                                    "groupVersion": f"{g}/{v}", "version": v}}
                                                for g, v in groups()]})
            if path == "/api/v1":
                return self.send_json(200, resource_list("", "v1"))
            if len(parts) == 3 and parts[0] == "apis" and (parts[1], parts[2]) in groups():
                return self.send_json(200, resource_list(parts[1], parts[2]))
            if len(parts) == 2 and parts[0] == "apis" and any(g == parts[1]
                                                              for g, _ in groups()):
                v = next(v for g, v in groups() if g == parts[1])
                gv = {"groupVersion": f"{parts[1]}/{v}", "version": v}
                return self.send_json(200, {"kind": "APIGroup", "apiVersion": "v1",
                                            "name": parts[1], "versions": [gv],
                                            "preferredVersion": gv})
            if path == "/openapi/v3":
                gvs = [("", "v1")] + groups()
                return self.send_json(200, {"paths": {
                    (f"apis/{g}/{v}" if g else "api/v1"):
                        {"serverRelativeURL": f"/openapi/v3/{'apis/' + g + '/' + v if g else 'api/v1'}?hash=fake"}
                    for g, v in gvs}})
            if parts[:2] == ["openapi", "v3"]:
                rest = parts[2:]
                if rest == ["api", "v1"]:
                    return self.send_json(200, openapi_gv("", "v1"))
                if len(rest) == 3 and rest[0] == "apis" and (rest[1], rest[2]) in groups():
                    return self.send_json(200, openapi_gv(rest[1], rest[2]))
        res, ns, name, sub = self.parse_resource(parts)
        if self.user:
            verb = request_verb(method, name, q)
            if not self.server.store.allows(self.user, ns, res[0],
                                            res[2] + ("/" + sub if sub else ""), verb, name):
                self.entry["rbac_denied"] = True
                raise forbidden(self.user, verb, res, ns, name, sub)
        return self.resource(method, res, ns, name, sub, q)

    def parse_resource(self, parts):
        """/api/v1[/namespaces/NS]/PLURAL[/NAME[/SUB]] and /apis/G/V/..."""
        if parts[:2] == ["api", "v1"]:
            group, version, rest = "", "v1", parts[2:]
        elif parts[:1] == ["apis"] and len(parts) >= 3:
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        ns = None
        if len(rest) >= 3 and rest[0] == "namespaces" and (group, version, rest[2]) in BY_PATH:
            ns, rest = rest[1], rest[2:]
        if not rest or (group, version, rest[0]) not in BY_PATH or len(rest) > 3:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        res = BY_PATH[(group, version, rest[0])]
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else None
        if sub and (sub != "status" or not res[5]):
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if res[4] and ns is None and name is not None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if not res[4] and ns is not None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        return res, (ns if res[4] else ""), name, sub

    def resource(self, method, res, ns, name, sub, q):
        store = self.server.store
        if name is None:
            if method == "GET":
                labels = label_reqs(q.get("labelSelector"))
                fields = parse_selector(q.get("fieldSelector"))
                if q.get("watch") in ("1", "true"):
                    return self.watch(res, ns, labels, fields, q)
                items, rv = store.list(res, ns if res[4] else None, labels, fields)
                if res[4] and ns:
                    pass
                return self.send_json(200, {"kind": res[3] + "List",
                                            "apiVersion": api_version(res[0], res[1]),
                                            "metadata": {"resourceVersion": rv},
                                            "items": items})
            if method == "POST":
                obj = self.body()
                if not isinstance(obj, dict):
                    raise ApiError(400, "BadRequest", "the body must be an object")
                if obj.get("kind") not in (None, res[3]):
                    raise ApiError(400, "BadRequest", f'the kind "{obj.get("kind")}" does '
                                   f"not match {res[3]}")
                want_ns = obj.get("metadata", {}).get("namespace")
                if res[4] and want_ns and want_ns != ns:
                    raise ApiError(400, "BadRequest", "the namespace of the provided object "
                                   "does not match the namespace sent on the request")
                self.maybe_refuse(res, obj)
                return self.send_json(201, store.create(res, ns, obj))
            raise ApiError(405, "MethodNotAllowed", f"{method} is not supported here")
        if method == "GET":
            return self.send_json(200, store.get(res, ns, name))
        if method == "PUT":
            new = self.body()
            if not isinstance(new, dict):
                raise ApiError(400, "BadRequest", "the body must be an object")
            return self.send_json(200, store.update(res, ns, name, lambda old: new, sub))
        if method == "PATCH":
            ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip()
            patch = self.body()
            if ctype == "application/merge-patch+json":
                fn = lambda old: merge_patch(old, patch)
            elif ctype == "application/strategic-merge-patch+json":
                fn = lambda old: strategic_merge(old, patch)
            elif ctype == "application/json-patch+json":
                fn = lambda old: json_patch(old, patch)
            else:
                raise ApiError(415, "UnsupportedMediaType", f'the body of the request was in '
                               f'an unknown format - accepted media types include: '
                               'application/json-patch+json, application/merge-patch+json, '
                               'application/strategic-merge-patch+json')

            def patched(old):
                before = old["metadata"]["resourceVersion"]
                new = fn(old)
                # a patch names a resourceVersion only to make it a precondition
                if not (isinstance(patch, dict) and
                        patch.get("metadata", {}).get("resourceVersion")):
                    new.setdefault("metadata", {})["resourceVersion"] = before
                return new

            return self.send_json(200, store.update(res, ns, name, patched, sub))
        if method == "DELETE":
            opts = self.body() or {}
            grace = q.get("gracePeriodSeconds", opts.get("gracePeriodSeconds"))
            kubelet = self.server.kubelet
            graceful = lambda obj: (res[3] == "Pod" and kubelet is not None and
                                    str(grace) != "0" and
                                    obj.get("spec", {}).get("nodeName") in kubelet.nodes)
            obj = store.delete(res, ns, name, graceful)
            return self.send_json(200, obj)
        raise ApiError(405, "MethodNotAllowed", f"{method} is not supported here")

    def maybe_refuse(self, res, obj):
        """A create that /fake/refuse-creates said to refuse, with the real answers."""
        srv = self.server
        with srv.log_lock:
            how = srv.refuse.get(res[2])
            if not how or how[0] <= 0:
                return
            how[0] -= 1
        name = obj.get("metadata", {}).get("name") or obj.get("metadata", {}).get(
            "generateName", "")
        if how[1] == "invalid":
            raise ApiError(422, "Invalid", f'{res[3]} "{name}" is invalid: '
                           "spec.containers[0].image: Required value",
                           {"name": name, "kind": res[3], "causes": [
                               {"reason": "FieldValueRequired", "message": "Required value",
                                "field": "spec.containers[0].image"}]})
        raise ApiError(403, "Forbidden", f'{res[2]} "{name}" is forbidden: exceeded quota: '
                       "xwhisk-quota, requested: limits.memory=128Mi, used: "
                       "limits.memory=2Gi, limited: limits.memory=2Gi",
                       {"name": name, "kind": res[2]})

    def watch(self, res, ns, labels, fields, q):
        store, srv = self.server.store, self.server
        bookmarks = q.get("allowWatchBookmarks") in ("1", "true")
        timeout = float(q.get("timeoutSeconds") or 1800)
        want = q.get("resourceVersion") or ""
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

        def send(obj):
            data = json.dumps(obj).encode() + b"\n"
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()

        def matches(r, n, obj):
            return (r[:3] == res[:3] and (not ns or n == ns) and
                    labels_match(labels, obj["metadata"].get("labels", {})) and
                    selector_matches(fields, field_values(obj)))

        with store.lock:
            epoch = store.epoch
            if want in ("", "0"):
                # "any" version: the current state as ADDED events, then changes
                items, rv = store.list(res, ns or None, labels, fields)
                pending = [("ADDED", o) for o in items]
                since = int(rv)
            else:
                since = int(want) if want.isdigit() else -1
                if since < store.compacted or since < 0:
                    pending = None
                else:
                    pending = [(k, copy.deepcopy(o)) for v, k, r, n, o in store.history
                               if v > since and matches(r, n, o)]
                    since = store.rv
        if pending is None:
            send({"type": "ERROR", "object": status(410, "Expired", f"too old resource "
                                                    f"version: {want} ({store.compacted + 1})")})
            return self.end_chunks()
        try:
            for kind, obj in pending:
                send({"type": kind, "object": obj})
            end = time.time() + timeout
            last_bookmark = time.time()
            while time.time() < end:
                with store.lock:
                    store.lock.wait(timeout=0.2)
                    if store.epoch != epoch or srv.stopping:
                        break
                    if since < store.compacted:
                        # fell out of the history while waiting (only under heavy churn)
                        pending = None
                    else:
                        pending = [(k, copy.deepcopy(o)) for v, k, r, n, o in store.history
                                   if v > since and matches(r, n, o)]
                        since = store.rv
                if pending is None:
                    send({"type": "ERROR", "object": status(410, "Expired",
                                                            "too old resource version")})
                    break
                for kind, obj in pending:
                    send({"type": kind, "object": obj})
                if bookmarks and time.time() - last_bookmark >= srv.bookmark_s:
                    last_bookmark = time.time()
                    send({"type": "BOOKMARK", "object": {
                        "kind": res[3], "apiVersion": api_version(res[0], res[1]),
                        "metadata": {"resourceVersion": str(since)}}})
            self.end_chunks()
        except (BrokenPipeError, ConnectionResetError):
            pass
        self.close_connection = True

    def end_chunks(self):
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()
        self.close_connection = True

    def fake_hook(self, method, parts, q):
        store, srv = self.server.store, self.server
        if parts == ["compact"] and method == "POST":
            with store.lock:
                # (a revision of its own, so that every version a client holds is older)
                store.rv += 1
                store.compacted = store.rv
                store.history.clear()
                store.epoch += 1  # open watches end, and resume into a 410
                store.lock.notify_all()
            return self.send_json(200, {"compacted": store.compacted})
        if parts == ["drop-watches"] and method == "POST":
            with store.lock:
                store.epoch += 1
                store.lock.notify_all()
            return self.send_json(200, {})
        if parts == ["ready-times"] and method == "GET":
            return self.send_json(200, dict(srv.kubelet.ready_at) if srv.kubelet else {})
        if parts == ["clear-requests"] and method == "POST":
            with srv.log_lock:
                srv.requests.clear()
            return self.send_json(200, {})
        if parts == ["requests"] and method == "GET":
            with srv.log_lock:
                return self.send_json(200, srv.requests)
        if parts == ["refuse-creates"] and method == "POST":
            with srv.log_lock:
                srv.refuse[q.get("resource", "pods")] = [int(q.get("count", "1")),
                                                         q.get("as", "quota")]
            return self.send_json(200, {})
        if parts == ["kill-pod"] and method == "POST" and srv.kubelet:
            ok = srv.kubelet.kill((q.get("namespace", ""), q.get("name", "")))
            return self.send_json(200 if ok else 404, {"killed": ok})
        raise ApiError(404, "NotFound", "no such hook")


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def load_manifests(store, path):
    """Stores the objects of a YAML file (as kubectl create -f would), making the
    namespaces they are in when missing."""
    # only here: the rest of the fake needs no more than the standard library. Debian's
    # python3-yaml (scripts/deps.sh) is on /usr/bin/python3's path, not on that of another
    # python3 first in PATH (pyenv's): take it from there then.
    try:
        import yaml
    except ImportError:
        sys.path.append("/usr/lib/python3/dist-packages")
        import yaml
    namespaces = BY_PATH[("", "v1", "namespaces")]
    with open(path) as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    for doc in docs:
        res = next((r for r in RESOURCES if api_version(r[0], r[1]) == doc.get("apiVersion")
                    and r[3] == doc.get("kind")), None)
        if res is None:
            sys.exit(f"{path}: the fake does not know {doc.get('apiVersion')} {doc.get('kind')}")
        ns = doc["metadata"].get("namespace", "default") if res[4] else ""
        if ns and ("", "v1", "namespaces", "", ns) not in store.objects:
            store.create(namespaces, "", {"metadata": {"name": ns}})
        store.create(res, ns, doc)


def main():
    ap = argparse.ArgumentParser(description="A fake Kubernetes API server and kubelet.")
    ap.add_argument("--listen", default="127.0.0.1:0")
    ap.add_argument("--port-file")
    ap.add_argument("--node", action="append", default=[])
    ap.add_argument("--path-map", action="append", default=[])
    ap.add_argument("--history", type=int, default=1000)
    ap.add_argument("--bookmark-ms", type=int, default=1000)
    ap.add_argument("--tls-cert")
    ap.add_argument("--tls-key")
    ap.add_argument("--client-ca")
    ap.add_argument("--token")
    ap.add_argument("--user", action="append", default=[], metavar="TOKEN=NAME")
    ap.add_argument("--rbac", action="append", default=[], metavar="FILE")
    a = ap.parse_args()
    host, port = a.listen.rsplit(":", 1)
    srv = Server((host, int(port)), Handler)
    srv.token = a.token
    srv.users = dict(u.split("=", 1) for u in a.user)
    scheme = "http"
    if a.tls_cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(a.tls_cert, a.tls_key)
        if a.client_ca:
            ctx.load_verify_locations(a.client_ca)
            ctx.verify_mode = ssl.CERT_OPTIONAL
        # the handshake in the request's thread, not in the accepting one
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True, do_handshake_on_connect=False)
        scheme = "https"
    srv.store = Store(a.history)
    for f in a.rbac:
        load_manifests(srv.store, f)
    srv.requests, srv.log_lock, srv.stopping = [], threading.Lock(), False
    srv.refuse = {}  # plural -> [creates left to refuse, "quota" or "invalid"]
    srv.bookmark_s = a.bookmark_ms / 1000.0
    srv.kubelet = Kubelet(srv.store, a.node, [tuple(m.split("=", 1)) for m in a.path_map]) \
        if a.node else None

    def stop(signo, frame):
        srv.stopping = True
        if srv.kubelet:
            srv.kubelet.stop_all()
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    real_port = srv.server_address[1]
    if a.port_file:
        with open(a.port_file + ".tmp", "w") as f:
            f.write(f"{real_port}\n")
        os.rename(a.port_file + ".tmp", a.port_file)
    print(f"listening on {scheme}://{host}:{real_port}", flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
