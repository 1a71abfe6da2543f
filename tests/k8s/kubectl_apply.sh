#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The real kubectl applies k8s/ (kustomize built in) to the fake API server: every
# manifest is parsed by the real client and stored; a second apply changes nothing; a
# changed manifest is patched in; the controller's Role grants no wildcard (that it grants
# what controller/cluster/ calls, the fake enforces under the pod backend's tests).
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if ! command -v kubectl >/dev/null; then
	echo "not ok - kubectl is installed: install kubernetes-client (scripts/deps.sh)"
	exit 1
fi
fake_start
trap fake_stop EXIT
kc() { kubectl --cache-dir "$FAKE_DIR/cache" --request-timeout=20s "$@"; }

out=$(kc apply -k "$TOP/k8s" 2>&1)
status=$?
want="namespace/xwhisk created
serviceaccount/xwhisk-controller created
serviceaccount/xwhisk-node created
role.rbac.authorization.k8s.io/xwhisk-controller created
rolebinding.rbac.authorization.k8s.io/xwhisk-controller created
configmap/xwhisk-config created
secret/xwhisk-node-token created
service/xwhisk-controller created
persistentvolumeclaim/xwhisk-controller-state created
deployment.apps/xwhisk-controller created
daemonset.apps/xwhisk-node created"
if [ $status -eq 0 ] && [ "$(sort <<<"$out")" = "$(sort <<<"$want")" ]; then
	ok "kubectl apply -k k8s/ creates every object"
else
	not_ok "kubectl apply -k k8s/ creates every object" "status $status: $(tr '\n' ' ' <<<"$out")"
fi

out=$(kc get -n xwhisk deployment,daemonset,configmap,secret,serviceaccount,service,pvc,role,rolebinding -o name 2>&1)
n=$(grep -c / <<<"$out")
if [ "$n" -eq 10 ]; then
	ok "kubectl get lists the applied objects"
else
	not_ok "kubectl get lists the applied objects" "$n of 10: $(tr '\n' ' ' <<<"$out")"
fi

out=$(kc get -n xwhisk daemonset/xwhisk-node -o jsonpath='{.spec.template.spec.hostNetwork} {.spec.template.spec.containers[0].securityContext.capabilities.add}' 2>&1)
if [[ "$out" == "true "*BPF* ]]; then
	ok "the DaemonSet is stored as written (hostNetwork, capabilities)"
else
	not_ok "the DaemonSet is stored as written (hostNetwork, capabilities)" "$out"
fi

out=$(kc get -n xwhisk deployment/xwhisk-controller -o jsonpath='{.metadata.annotations.kubectl\.kubernetes\.io/last-applied-configuration}' 2>&1)
if grep -q '"kind":"Deployment"' <<<"$out"; then
	ok "client-side apply kept its last-applied-configuration"
else
	not_ok "client-side apply kept its last-applied-configuration" "$out"
fi

out=$(kc apply -k "$TOP/k8s" 2>&1)
status=$?
if [ $status -eq 0 ] && [ "$(grep -c ' unchanged$' <<<"$out")" -eq 11 ]; then
	ok "a second apply leaves every object unchanged"
else
	not_ok "a second apply leaves every object unchanged" "status $status: $(tr '\n' ' ' <<<"$out")"
fi

# A changed manifest: kubectl computes a strategic merge patch; the fake applies it.
rv_before=$(kc get -n xwhisk configmap/xwhisk-config -o jsonpath='{.metadata.resourceVersion}')
mkdir -p "$FAKE_DIR/overlay"
cp "$TOP"/k8s/*.yaml "$FAKE_DIR/overlay/"
sed -i 's/XWHISK_KEEPALIVE_S: "600"/XWHISK_KEEPALIVE_S: "300"/' "$FAKE_DIR/overlay/config.yaml"
sed -i 's/replicas: 1/replicas: 2/' "$FAKE_DIR/overlay/controller.yaml"
out=$(kc apply -k "$FAKE_DIR/overlay" 2>&1)
status=$?
got=$(kc get -n xwhisk configmap/xwhisk-config -o jsonpath='{.data.XWHISK_KEEPALIVE_S} {.metadata.resourceVersion}' 2>&1)
replicas=$(kc get -n xwhisk deployment/xwhisk-controller -o jsonpath='{.spec.replicas} {.spec.template.spec.containers[0].name} {.metadata.generation}' 2>&1)
if [ $status -eq 0 ] && grep -q 'configmap/xwhisk-config configured' <<<"$out" &&
	[ "${got% *}" = 300 ] && [ "${got#* }" != "$rv_before" ] && [ "$replicas" = "2 controller 2" ]; then
	ok "a changed manifest is patched in (new data, new resourceVersion, generation 2)"
else
	not_ok "a changed manifest is patched in" "status $status, got '$got' (rv before $rv_before), deployment '$replicas': $(tr '\n' ' ' <<<"$out")"
fi

# The Role: that it grants all the pod backend calls is checked by running the pod
# backend's tests under it (pod_harness.bash: the fake enforces it, rbac.sh); here, that
# it grants nothing wholesale.
out=$(kc get -n xwhisk role/xwhisk-controller -o jsonpath='{range .rules[*]}{.apiGroups} {.resources} {.verbs}{"\n"}{end}' 2>&1)
if [ -n "$out" ] && ! grep -q '"\*"' <<<"$out"; then
	ok "the controller's Role names its resources and verbs (no wildcard)"
else
	not_ok "the controller's Role names its resources and verbs (no wildcard)" "$(tr '\n' ' ' <<<"$out")"
fi

out=$(kc delete -k "$TOP/k8s" --wait=false 2>&1)
left=$(kc get namespaces -o name 2>&1)
if [ $? -eq 0 ] && ! grep -q xwhisk <<<"$left"; then
	ok "kubectl delete -k k8s/ removes them"
else
	not_ok "kubectl delete -k k8s/ removes them" "$(tr '\n' ' ' <<<"$out $left")"
fi

[ "$failures" -eq 0 ]
