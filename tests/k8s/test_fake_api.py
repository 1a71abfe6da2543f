#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The fake API server keeps the real API's semantics that xwhisk relies on: each case
prints "ok - NAME" or "not ok - NAME: why"."""
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
failures = 0


def case(name):
    def wrap(fn):
        global failures
        try:
            fn()
            print(f"ok - {name}", flush=True)
        except Exception as e:
            failures += 1
            print(f"not ok - {name}: {e!r}", flush=True)
        return fn
    return wrap


def call(method, path, body=None, ctype="application/json", token=None):
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": ctype}
    if token:
        headers["Authorization"] = "Bearer " + token
    req = urllib.request.Request(BASE + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


class Watch:
    def __init__(self, path):
        host, port = BASE[len("http://"):].split(":")
        self.sock = socket.create_connection((host, int(port)), timeout=10)
        self.sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        self.buf = b""
        self.status = int(self._line().split()[1])
        while self._line():
            pass

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("the stream ended")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line.decode()

    def next(self):
        size = int(self._line(), 16)
        if size == 0:
            raise EOFError("the stream ended")
        while len(self.buf) < size + 2:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("the stream ended")
            self.buf += chunk
        data, self.buf = self.buf[:size], self.buf[size + 2:]
        return json.loads(data)

    def close(self):
        self.sock.close()


def expect(cond, what):
    if not cond:
        raise AssertionError(what)


def pod(name, node=None, cmd=None, labels=None):
    spec = {"containers": [{"name": "c", "image": "x",
                            "ports": [{"containerPort": 8080}]}]}
    if node:
        spec["nodeName"] = node
    if cmd:
        spec["containers"][0]["command"] = cmd
        spec["containers"][0]["env"] = [{"name": "POD_IP", "valueFrom": {
            "fieldRef": {"fieldPath": "status.podIP"}}}]
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": labels or {"app": "t"}}, "spec": spec}


PODS = "/api/v1/namespaces/default/pods"
SA = "system:serviceaccount:default:ctl"  # the user of token SA_TOKEN (--user)
SA_TOKEN = "sa-token-of-ctl"
RBAC = "/apis/rbac.authorization.k8s.io/v1"


def main():
    global BASE
    tmp = tempfile.mkdtemp()
    port_file = os.path.join(tmp, "port")
    srv = subprocess.Popen([sys.executable, os.path.join(HERE, "fake_apiserver.py"),
                            "--port-file", port_file, "--node", "n1", "--bookmark-ms", "200",
                            "--user", f"{SA_TOKEN}={SA}"])
    try:
        for _ in range(100):
            if os.path.exists(port_file):
                break
            time.sleep(0.05)
        BASE = "http://127.0.0.1:" + open(port_file).read().strip()
        run()
    finally:
        srv.terminate()
        srv.wait()
    return 1 if failures else 0


def run():
    @case("discovery: /api, /apis, /api/v1, /apis/apps/v1, coordination, rbac")
    def _():
        s, b = call("GET", "/api")
        expect(s == 200 and b["versions"] == ["v1"], b)
        s, b = call("GET", "/apis")
        names = {g["name"] for g in b["groups"]}
        expect({"apps", "coordination.k8s.io", "rbac.authorization.k8s.io"} <= names, names)
        s, b = call("GET", "/api/v1")
        expect("pods/status" in {r["name"] for r in b["resources"]}, b)
        for gv, res in (("apps/v1", "daemonsets"), ("coordination.k8s.io/v1", "leases"),
                        ("rbac.authorization.k8s.io/v1", "clusterroles")):
            s, b = call("GET", "/apis/" + gv)
            expect(s == 200 and res in {r["name"] for r in b["resources"]}, (gv, b))

    @case("create sets uid, resourceVersion, creationTimestamp; a second is AlreadyExists")
    def _():
        s, b = call("POST", PODS, pod("a"))
        expect(s == 201 and b["metadata"]["uid"] and b["metadata"]["resourceVersion"] and
               b["status"]["phase"] == "Pending", (s, b))
        s, b = call("POST", PODS, pod("a"))
        expect(s == 409 and b["reason"] == "AlreadyExists", (s, b))

    @case("a namespaced object in a missing namespace is NotFound")
    def _():
        s, b = call("POST", "/api/v1/namespaces/nope/pods", pod("a"))
        expect(s == 404 and b["reason"] == "NotFound", (s, b))

    @case("update with a stale resourceVersion is 409 Conflict; a fresh one bumps it")
    def _():
        s, cur = call("GET", PODS + "/a")
        cur["metadata"]["labels"]["x"] = "1"
        s, b = call("PUT", PODS + "/a", cur)
        expect(s == 200 and int(b["metadata"]["resourceVersion"]) >
               int(cur["metadata"]["resourceVersion"]), (s, b))
        s, b = call("PUT", PODS + "/a", cur)
        expect(s == 409 and b["reason"] == "Conflict", (s, b))

    @case("the status subresource changes status only; the main resource keeps status")
    def _():
        s, cur = call("GET", PODS + "/a")
        cur["status"] = {"phase": "Running"}
        cur["metadata"]["labels"]["y"] = "2"
        s, b = call("PUT", PODS + "/a/status", cur)
        expect(s == 200 and b["status"]["phase"] == "Running" and
               "y" not in b["metadata"]["labels"], b)
        b["status"] = {"phase": "Failed"}
        s, b = call("PUT", PODS + "/a", b)
        expect(s == 200 and b["status"]["phase"] == "Running", b)

    @case("merge patch and JSON patch; a patch naming an old resourceVersion conflicts")
    def _():
        s, b = call("PATCH", PODS + "/a", {"metadata": {"labels": {"m": "1", "x": None}}},
                    "application/merge-patch+json")
        expect(s == 200 and b["metadata"]["labels"].get("m") == "1" and
               "x" not in b["metadata"]["labels"], b)
        s, b = call("PATCH", PODS + "/a", [{"op": "add", "path": "/metadata/labels/j",
                                            "value": "2"}], "application/json-patch+json")
        expect(s == 200 and b["metadata"]["labels"]["j"] == "2", b)
        s, b = call("PATCH", PODS + "/a", {"metadata": {"resourceVersion": "2",
                                                        "labels": {"z": "1"}}},
                    "application/merge-patch+json")
        expect(s == 409, (s, b))

    @case("list carries a resourceVersion; labelSelector and fieldSelector filter")
    def _():
        call("POST", PODS, pod("b", labels={"app": "other"}))
        s, b = call("GET", PODS + "?labelSelector=app%3Dt")
        expect([p["metadata"]["name"] for p in b["items"]] == ["a"] and
               b["metadata"]["resourceVersion"], b)
        s, b = call("GET", "/api/v1/pods?fieldSelector=metadata.name%3Db")
        expect([p["metadata"]["name"] for p in b["items"]] == ["b"], b)

    @case("watch from a list's resourceVersion sees later changes in order, then bookmarks")
    def _():
        s, b = call("GET", PODS)
        w = Watch(PODS + "?watch=1&allowWatchBookmarks=true&resourceVersion=" +
                  b["metadata"]["resourceVersion"])
        call("POST", PODS, pod("c"))
        call("DELETE", PODS + "/b")
        e1, e2 = w.next(), w.next()
        expect((e1["type"], e1["object"]["metadata"]["name"]) == ("ADDED", "c") and
               (e2["type"], e2["object"]["metadata"]["name"]) == ("DELETED", "b"), (e1, e2))
        e3 = w.next()
        expect(e3["type"] == "BOOKMARK" and e3["object"]["metadata"]["resourceVersion"], e3)
        w.close()

    @case("a watch from an expired resourceVersion gets 410 Gone (Expired)")
    def _():
        s, b = call("GET", PODS)
        old = b["metadata"]["resourceVersion"]
        call("POST", PODS, pod("d"))
        call("POST", "/fake/compact")
        w = Watch(PODS + "?watch=1&resourceVersion=" + old)
        e = w.next()
        expect(e["type"] == "ERROR" and e["object"]["code"] == 410 and
               e["object"]["reason"] == "Expired", e)
        w.close()

    @case("the fake kubelet runs a pod bound to its node: Running, Ready, podIP serving")
    def _():
        cmd = [sys.executable, "-m", "http.server", "--bind", "$(POD_IP)", "8080"]
        call("POST", PODS, pod("run", node="n1", cmd=cmd))
        deadline = time.time() + 10
        while time.time() < deadline:
            s, b = call("GET", PODS + "/run")
            st = b.get("status", {})
            ready = any(c["type"] == "Ready" and c["status"] == "True"
                        for c in st.get("conditions", []))
            if st.get("phase") == "Running" and ready:
                break
            time.sleep(0.1)
        expect(st.get("phase") == "Running" and ready and st["podIP"].startswith("127."), st)
        socket.create_connection((st["podIP"], 8080), timeout=2).close()

    @case("deleting a running pod is graceful: deletionTimestamp, then gone, process stopped")
    def _():
        s, b = call("GET", PODS + "/run")
        ip = b["status"]["podIP"]
        s, b = call("DELETE", PODS + "/run")
        expect(s == 200 and b["metadata"].get("deletionTimestamp"), b)
        deadline = time.time() + 10
        while time.time() < deadline and call("GET", PODS + "/run")[0] != 404:
            time.sleep(0.1)
        expect(call("GET", PODS + "/run")[0] == 404, "still there")
        try:
            socket.create_connection((ip, 8080), timeout=1).close()
            raise AssertionError("the pod's process still serves")
        except ConnectionRefusedError:
            pass

    @case("/fake/refuse-creates: the next creates are refused as a quota (403) or validation (422) does")
    def _():
        call("POST", "/fake/refuse-creates?resource=pods&count=1")
        s, b = call("POST", PODS, pod("q1"))
        expect(s == 403 and b["reason"] == "Forbidden" and
               b["message"].startswith('pods "q1" is forbidden: exceeded quota: '), (s, b))
        expect(call("GET", PODS + "/q1")[0] == 404, "not stored")
        expect(call("POST", PODS, pod("q1"))[0] == 201, "the next one is made")
        call("POST", "/fake/refuse-creates?resource=pods&count=1&as=invalid")
        s, b = call("POST", PODS, pod("q2"))
        expect(s == 422 and b["reason"] == "Invalid" and
               b["message"].startswith('Pod "q2" is invalid: '), (s, b))

    rbac_cases()


def rbac_cases():
    as_sa = lambda method, path, body=None, ctype="application/json": call(
        method, path, body, ctype, token=SA_TOKEN)
    call("POST", RBAC + "/namespaces/default/roles", {
        "metadata": {"name": "ctl"}, "rules": [
            {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "create"]},
            {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"],
             "verbs": ["get", "update"], "resourceNames": ["mine"]}]})
    call("POST", RBAC + "/namespaces/default/rolebindings", {
        "metadata": {"name": "ctl"}, "subjects": [
            {"kind": "ServiceAccount", "name": "ctl", "namespace": "default"}],
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "ctl"}})

    @case("RBAC: a --user token may do what its bound Role grants (get, list, create pods)")
    def _():
        expect(as_sa("GET", PODS)[0] == 200, "list")
        expect(as_sa("POST", PODS, pod("rbac-a"))[0] == 201, "create")
        expect(as_sa("GET", PODS + "/rbac-a")[0] == 200, "get")
        expect(as_sa("GET", "/api/v1")[0] == 200, "discovery is open to all")

    @case("RBAC: a verb the Role lacks is 403 Forbidden with the real Status")
    def _():
        s, b = as_sa("PATCH", PODS + "/rbac-a", {"metadata": {"labels": {"x": "y"}}},
                     "application/merge-patch+json")
        expect(s == 403 and b["reason"] == "Forbidden" and b["code"] == 403 and
               b["message"] == f'pods "rbac-a" is forbidden: User "{SA}" cannot patch resource '
               '"pods" in API group "" in the namespace "default"' and
               b["details"] == {"name": "rbac-a", "kind": "pods"}, (s, b))
        s, b = as_sa("GET", PODS + "?watch=1")
        expect(s == 403 and b["message"].startswith('pods is forbidden: ') and
               "cannot watch resource" in b["message"], (s, b))
        expect(call("GET", PODS + "/rbac-a")[1]["metadata"].get("labels") == {"app": "t"},
               "the refused patch changed nothing")

    @case("RBAC: a subresource needs its own rule (pods/status)")
    def _():
        s, b = as_sa("PATCH", PODS + "/rbac-a/status", {"status": {"phase": "Failed"}},
                     "application/merge-patch+json")
        expect(s == 403 and 'cannot patch resource "pods/status"' in b["message"], (s, b))

    @case("RBAC: resourceNames and API groups (leases in coordination.k8s.io)")
    def _():
        leases = "/apis/coordination.k8s.io/v1/namespaces/default/leases"
        for n in ("mine", "other"):
            call("POST", leases, {"metadata": {"name": n}, "spec": {}})
        expect(as_sa("GET", leases + "/mine")[0] == 200, "the named lease")
        s, b = as_sa("GET", leases + "/other")
        expect(s == 403 and b["message"] == f'leases.coordination.k8s.io "other" is forbidden: '
               f'User "{SA}" cannot get resource "leases" in API group "coordination.k8s.io" '
               'in the namespace "default"', (s, b))
        expect(as_sa("GET", leases)[0] == 403, "a list is no named request")

    @case("RBAC: another namespace, the cluster scope, and a ClusterRoleBinding")
    def _():
        s, b = as_sa("GET", "/api/v1/namespaces/kube-system/pods")
        expect(s == 403 and b["message"].endswith('in the namespace "kube-system"'), (s, b))
        s, b = as_sa("GET", "/api/v1/nodes")
        expect(s == 403 and b["message"].endswith("at the cluster scope"), (s, b))
        call("POST", RBAC + "/clusterroles", {"metadata": {"name": "nodes"}, "rules": [
            {"apiGroups": [""], "resources": ["nodes"], "verbs": ["list"]}]})
        call("POST", RBAC + "/clusterrolebindings", {
            "metadata": {"name": "nodes"},
            "subjects": [{"kind": "Group", "name": "system:serviceaccounts:default"}],
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                        "name": "nodes"}})
        expect(as_sa("GET", "/api/v1/nodes")[0] == 200, "bound through its group")
        log = call("GET", "/fake/requests")[1]
        expect(any(r["auth"] == "user" and r["status"] == 403 and r.get("rbac_denied")
                   for r in log), "logged")


if __name__ == "__main__":
    sys.exit(main())
