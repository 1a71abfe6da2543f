// SPDX-License-Identifier: Apache-2.0
// End to end through pods: a controller with XWHISK_BACKEND=kubernetes against the fake
// API server (tests/k8s/fake_apiserver.py) whose fake kubelet runs node n1's pods, and a
// real xwhisk-node named n1. Invocations go in at the node, the cold path allocates, the
// controller creates a pod, /init's it when Ready and the node routes to podIP:8080.
'use strict';
const { spawn } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { System, test, run, assert, sleep, BUILD } = require('../e2e/lib/harness');

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xwhisk-k8s-e2e-'));
let fake;
let api;
let sys;

async function kube(method, urlPath, body) {
  const r = await fetch(api + urlPath, {
    method,
    headers: { 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: r.status, json: await r.json().catch(() => undefined) };
}
const pods = async () => (await kube('GET', '/api/v1/namespaces/xwhisk/pods')).json.items;
const opts = (body) => ({ body });

test.before(async () => {
  const portFile = path.join(dir, 'port');
  // the controller calls the API as its service account, under the Role of k8s/rbac.yaml
  const tokenFile = path.join(dir, 'controller-token');
  const token = require('crypto').randomBytes(16).toString('hex');
  fs.writeFileSync(tokenFile, token + '\n');
  fake = spawn('python3', [path.join(__dirname, 'fake_apiserver.py'), '--port-file', portFile, '--node', 'n1',
    '--path-map', `/opt/xwhisk=${BUILD}`, '--rbac', path.join(__dirname, '../../k8s/rbac.yaml'),
    '--user', `${token}=system:serviceaccount:xwhisk:xwhisk-controller`],
  { stdio: ['ignore', 'inherit', 'inherit'] });
  for (let i = 0; i < 100 && !fs.existsSync(portFile); i++) await sleep(50);
  api = `http://127.0.0.1:${fs.readFileSync(portFile, 'utf8').trim()}`;
  sys = new System({
    split: true,
    env: {
      XWHISK_BACKEND: 'kubernetes',
      XWHISK_KUBE_API: api,
      XWHISK_KUBE_NAMESPACE: 'xwhisk',
      XWHISK_KUBE_TOKEN_FILE: tokenFile,
      XWHISK_NODE_NAME: 'n1',
      XWHISK_PREWARM: '',
      XWHISK_LOG_LEVEL: 'info',
      // the GC test: idle pods go after 5 s and a grace of 0.5 s (swept at 10 graces:
      // nodes report idleness only of their own sandboxes)
      XWHISK_KEEPALIVE_S: '5',
      XWHISK_GC_GRACE_MS: '500',
    },
  });
  await sys.start();
  // Before it has registered, a node starts sandboxes itself (degraded mode): not pods.
  for (let i = 0; i < 200 && !sys.log.includes('registered as node n1'); i++) await sleep(50);
});

test.after(async () => {
  if (sys) {
    if (run.failed) console.log(sys.log.slice(-(process.env.K8S_E2E_LOG ? 100000 : 3000)));
    await sys.stop();
    sys.cleanup();
  }
  if (fake) fake.kill('SIGTERM');
  fs.rmSync(dir, { recursive: true, force: true });
});

test('a cold invocation runs in a pod bound to the node', async () => {
  let r = await sys.request('PUT', '/api/v1/namespaces/_/actions/hello', opts({
    exec: { kind: 'nodejs:20', code: 'function main(p) { return { greeting: "hello " + p.name }; }' },
  }));
  assert.strictEqual(r.status, 200, r.text);
  r = await sys.request('POST', '/api/v1/namespaces/_/actions/hello?blocking=true&result=true', opts({ name: 'pod' }));
  assert.strictEqual(r.status, 200, r.text);
  assert.deepStrictEqual(r.json, { greeting: 'hello pod' });
  const running = (await pods()).filter((p) => p.status.phase === 'Running');
  assert.strictEqual(running.length, 1, JSON.stringify(running.map((p) => p.metadata.name)));
  assert.strictEqual(running[0].spec.nodeName, 'n1');
  assert.ok(running[0].status.podIP.startsWith('127.77.'), running[0].status.podIP);
});

test('a warm invocation reuses the pod', async () => {
  const r = await sys.request('POST', '/api/v1/namespaces/_/actions/hello?blocking=true&result=true', opts({ name: 'again' }));
  assert.strictEqual(r.status, 200, r.text);
  assert.deepStrictEqual(r.json, { greeting: 'hello again' });
  assert.strictEqual((await pods()).length, 1);
});

test('a sequence runs through pods', async () => {
  let r = await sys.request('PUT', '/api/v1/namespaces/_/actions/shout', opts({
    exec: { kind: 'nodejs:20', code: 'function main(p) { return { greeting: p.greeting.toUpperCase() }; }' },
  }));
  assert.strictEqual(r.status, 200, r.text);
  r = await sys.request('PUT', '/api/v1/namespaces/_/actions/both', opts({
    exec: { kind: 'sequence', components: ['/_/hello', '/_/shout'] },
  }));
  assert.strictEqual(r.status, 200, r.text);
  r = await sys.request('POST', '/api/v1/namespaces/_/actions/both?blocking=true&result=true', opts({ name: 'seq' }));
  assert.strictEqual(r.status, 200, r.text);
  assert.deepStrictEqual(r.json, { greeting: 'HELLO SEQ' });
  assert.strictEqual((await pods()).length, 2);
});

const docidOf = (p) => JSON.parse(p.metadata.annotations['xwhisk.dev/sandbox']).docid;

test('a restarted controller adopts the running pods: the next invocation is warm', async () => {
  const before = (await pods()).map((p) => p.metadata.name).sort();
  const ctl = sys.procs.controller;
  process.kill(ctl.pid, 'SIGTERM');
  await ctl.exited;
  const logFrom = sys.log.length;
  sys.procs.controller = sys.spawnPart('xwhisk-controller', sys.baseEnv());
  await sys.waitPort(sys.controllerPort, sys.procs.controller, 'the controller');
  // the node registers again (its heartbeat is answered 404), then its pods are adopted
  for (let i = 0; i < 200 && !/adopted pod/.test(sys.log.slice(logFrom)); i++) await sleep(50);
  assert.ok(/adopted pod/.test(sys.log.slice(logFrom)), 'the controller adopted the pods');
  await sleep(500); // the node's resync after the new epoch
  const r = await sys.request('POST', '/api/v1/namespaces/_/actions/both?blocking=true&result=true', opts({ name: 'back' }));
  assert.strictEqual(r.status, 200, r.text);
  assert.deepStrictEqual(r.json, { greeting: 'HELLO BACK' });
  assert.deepStrictEqual((await pods()).map((p) => p.metadata.name).sort(), before);
});

test('a pod that dies is replaced by a new one on the next invocation', async () => {
  const before = (await pods()).find((p) => docidOf(p) === 'guest/hello');
  assert.ok(before, 'a pod of hello');
  const k = await kube('POST', `/fake/kill-pod?namespace=xwhisk&name=${before.metadata.name}`);
  assert.strictEqual(k.status, 200);
  for (let i = 0; i < 100 && (await pods()).some((p) => p.metadata.name === before.metadata.name); i++) await sleep(100);
  const r = await sys.request('POST', '/api/v1/namespaces/_/actions/hello?blocking=true&result=true', opts({ name: 'anew' }));
  assert.strictEqual(r.status, 200, r.text);
  assert.deepStrictEqual(r.json, { greeting: 'hello anew' });
  const now = (await pods()).filter((p) => docidOf(p) === 'guest/hello' && p.status.phase === 'Running');
  assert.strictEqual(now.length, 1);
  assert.notStrictEqual(now[0].metadata.name, before.metadata.name);
});

test('the GC deletes idle pods (mark, grace, sweep)', async () => {
  let left;
  for (let i = 0; i < 300; i++) {
    left = await pods();
    if (!left.length) break;
    await sleep(100);
  }
  assert.deepStrictEqual(left.map((p) => p.metadata.name), []);
});

test('every call of the controller was its service account\'s, allowed by k8s/rbac.yaml', async () => {
  // The controller's calls by its User-Agent: each with its token (no admin credential),
  // and none refused.
  const mine = (await kube('GET', '/fake/requests')).json.filter((r) => r.agent === 'xwhisk-controller');
  assert.ok(mine.length > 0, 'the controller called the API');
  assert.deepStrictEqual(mine.filter((r) => r.auth !== 'user').map((r) => `${r.method} ${r.path}: ${r.auth}`), []);
  assert.deepStrictEqual(mine.filter((r) => r.rbac_denied).map((r) => `${r.method} ${r.path}`), []);
});

run();
