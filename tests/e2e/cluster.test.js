// SPDX-License-Identifier: Apache-2.0
// A cluster on one machine (scripts/xwhisk-cluster): three nodes, each in its own network
// namespace, one controller. Placement, sandboxes shared across nodes, mark-and-sweep GC
// and unmark, a lost node, a controller restart and the nodes' resync.
'use strict';
const { execFileSync } = require('child_process');
const path = require('path');
const { test, run, assert, sleep, TOP, BUILD, GUEST_AUTH } = require('./lib/harness');

const NAME = `t${process.pid % 100000}`;
const SCRIPT = path.join(TOP, 'scripts', 'xwhisk-cluster');
const ENV = {
  ...process.env,
  XWHISK_BIN: BUILD,
  XWHISK_KEEPALIVE_S: '4',
  // Long enough that a loaded machine neither sweeps a sandbox between the test seeing it
  // draining and its unmark, nor takes a node's late heartbeat (every 2 s) for its loss.
  XWHISK_GC_GRACE_MS: '5000',
  XWHISK_NODE_LOST_MS: '8000',
  XWHISK_PREWARM: '',
  XWHISK_LOG_LEVEL: 'info',
};

function cluster(...args) {
  return execFileSync(SCRIPT, args, { env: ENV, encoding: 'utf8', timeout: 120000 });
}

// HTTP from the client namespace, through curl. Returns {status, json, text}.
function http(method, url, { body, auth = GUEST_AUTH, bearer } = {}) {
  const args = ['exec', NAME, 'cli', 'curl', '-s', '-m', '60', '-X', method, '-w', '\n%{http_code}'];
  if (auth && !bearer) args.push('-u', auth);
  if (bearer) args.push('-H', `Authorization: Bearer ${bearer}`);
  if (body !== undefined) args.push('-H', 'Content-Type: application/json', '-d', JSON.stringify(body));
  args.push(url);
  const out = cluster(...args);
  const nl = out.lastIndexOf('\n');
  const text = out.slice(0, nl);
  let json;
  try {
    json = JSON.parse(text);
  } catch (e) {
    json = undefined;
  }
  return { status: Number(out.slice(nl + 1)), text, json };
}

const node = (i) => `http://10.77.0.${10 + i}:3233`;
const CTL = 'http://10.77.0.1:3234';
let token;
const pool = () => http('GET', `${CTL}/internal/v1/sandboxes`, { bearer: token }).json;
const sandboxesOf = (docid) => pool().sandboxes.filter((s) => s.docid === docid);
const nodeIndex = (name) => pool().nodes.find((n) => n.name === name).index;

async function until(what, fn, ms = 20000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

function invoke(i, action, params = {}) {
  const r = http('POST', `${node(i)}/api/v1/namespaces/_/actions/${action}?blocking=true`, { body: params });
  assert.strictEqual(r.status, 200, `invoke ${action} on n${i}: ${r.text}`);
  return r.json;
}

const initTime = (rec) => (rec.annotations.find((a) => a.key === 'initTime') || {}).value;

test.before(async () => {
  cluster('up', NAME, '3');
  token = require('fs').readFileSync(`/tmp/xwc-${NAME}/token`, 'utf8').trim();
  await until('three nodes registered', () => pool().nodes.length === 3);
  for (const a of ['shared', 'local2', 'gc', 'lost']) {
    const r = http('PUT', `${node(1)}/api/v1/namespaces/_/actions/${a}`, {
      body: { exec: { kind: 'nodejs:20', code: 'function main(p) { return { n: p.n || 0 } }' } },
    });
    assert.strictEqual(r.status, 200, r.text);
  }
  for (const [a, code] of [
    ['tagged', 'function main(p) { console.log("tag=" + p.tag); return {} }'],
    ['thrower', 'function main(p) { if (p.fail) throw new Error("on purpose"); return { ok: true } }'],
  ]) {
    const r = http('PUT', `${node(1)}/api/v1/namespaces/_/actions/${a}`, { body: { exec: { kind: 'nodejs:20', code } } });
    assert.strictEqual(r.status, 200, r.text);
  }
});
test.after(() => {
  if (!process.env.XWHISK_KEEP_CLUSTER) cluster('down', NAME);
});

test('a cold start goes to the node that asked; the other nodes use that sandbox', async () => {
  const first = invoke(1, 'shared', { n: 1 });
  assert.ok(initTime(first) > 0, 'the first invoke is a cold start');
  const [s] = sandboxesOf('guest/shared');
  assert.strictEqual(s.node, nodeIndex('n1'));
  for (const i of [2, 3]) {
    const rec = invoke(i, 'shared', { n: i });
    assert.deepStrictEqual(rec.response.result, { n: i });
    assert.strictEqual(initTime(rec), undefined, `n${i} reused n1's warm sandbox`);
  }
  assert.strictEqual(sandboxesOf('guest/shared').length, 1);
});

// Each activation's logs come in its /run answer (xwhisk-proxy, logs in band), also to the
// nodes that use another node's sandbox; none of them becomes the owner's next
// activation's logs.
test('logs stay with their activation when other nodes use the sandbox', async () => {
  const tags = (rec) => rec.logs.filter((l) => l.includes('tag=')).map((l) => l.split('tag=')[1]);
  assert.deepStrictEqual(tags(invoke(1, 'tagged', { tag: 'a' })), ['a']);
  assert.deepStrictEqual(tags(invoke(2, 'tagged', { tag: 'b' })), ['b']);
  assert.deepStrictEqual(tags(invoke(3, 'tagged', { tag: 'c' })), ['c']);
  assert.deepStrictEqual(tags(invoke(1, 'tagged', { tag: 'd' })), ['d']);
  assert.strictEqual(sandboxesOf('guest/tagged').length, 1);
});

// A developer error retires the sandbox where it ran; a node that used another node's
// sandbox stops routing there and gets a sandbox of its own at once (it used to wait for
// an unmark that never came, for minutes).
test('a developer error in another node\'s sandbox: the next activation there is served at once', async () => {
  invoke(1, 'thrower');
  const failed = http('POST', `${node(2)}/api/v1/namespaces/_/actions/thrower?blocking=true`, { body: { fail: true } });
  assert.strictEqual(failed.status, 502, failed.text);
  assert.strictEqual(failed.json.response.status, 'action developer error');
  const t0 = Date.now();
  assert.deepStrictEqual(invoke(2, 'thrower').response.result, { ok: true });
  assert.ok(Date.now() - t0 < 20000, `served in ${Date.now() - t0} ms`);
  assert.deepStrictEqual(invoke(1, 'thrower').response.result, { ok: true });
});

// Nobody sets a subnet per node: the controller gives each a block of XWHISK_SANDBOX_CIDR
// and the nodes route to each other's (cluster_shared_subnet.test.js tests more of it).
test('the controller gives every node its own sandbox subnet', async () => {
  const subnets = pool().nodes.map((n) => n.subnet);
  for (const s of subnets) assert.match(s, /^169\.254\.(6[4-9]|[7-9]\d|1[01]\d|12[0-7])\.0\/22$/);
  assert.strictEqual(new Set(subnets).size, 3, JSON.stringify(subnets));
});

// The allocator prefers a node with a stem cell of the kind: it has to hear of them.
test('nodes report their stem cells to the controller', async () => {
  // (the manifest's default stem cells; blackbox requests name the image)
  await until('every node reporting its stem cells',
    () => pool().nodes.every((n) => n.stem_cells.native >= 1 && n.stem_cells['openwhisk/dockerskeleton'] >= 1));
});

test('another action asked for by node 2 is placed on node 2', async () => {
  invoke(2, 'local2');
  const [s] = sandboxesOf('guest/local2');
  assert.strictEqual(s.node, nodeIndex('n2'));
});

test('GC: idle past keep-alive is marked draining, an activation unmarks it, then it is swept', async () => {
  invoke(3, 'gc');
  const [s] = sandboxesOf('guest/gc');
  await until('the mark', () => (sandboxesOf('guest/gc')[0] || {}).state === 'draining', 15000);
  // An activation arrives: the node asks to unmark it instead of starting another.
  const rec = invoke(3, 'gc', { n: 7 });
  assert.deepStrictEqual(rec.response.result, { n: 7 });
  const after = sandboxesOf('guest/gc');
  assert.strictEqual(after.length, 1);
  assert.strictEqual(after[0].id, s.id, 'the same sandbox serves again');
  // Left alone, it is marked and swept for good.
  await until('the sweep', () => sandboxesOf('guest/gc').length === 0, 20000);
  const m = http('GET', `${CTL}/metrics`, { auth: null }).text;
  assert.match(m, /xwhisk_cluster_gc_total\{phase="sweep"\} [1-9]/);
  assert.match(m, /xwhisk_cluster_fragmentation [0-9.]+/);
  // The next activation is a cold start again.
  assert.ok(initTime(invoke(3, 'gc')) > 0);
});

test('a lost node: its sandboxes leave the pool and the other nodes stop routing to them', async () => {
  invoke(2, 'lost'); // placed on n2
  assert.strictEqual(initTime(invoke(3, 'lost')), undefined, "n3 reuses n2's sandbox");
  cluster('kill', NAME, 'n2');
  await until('n2 lost', () => pool().nodes.find((n) => n.name === 'n2').lost, 30000);
  assert.strictEqual(sandboxesOf('guest/lost').length, 0);
  // n3 serves it again with a new sandbox, not the dead node's.
  const rec = invoke(3, 'lost', { n: 3 });
  assert.ok(initTime(rec) > 0);
  assert.strictEqual(sandboxesOf('guest/lost')[0].node, nodeIndex('n3'));
  cluster('start', NAME, 'n2');
  await until('n2 back', () => !pool().nodes.find((n) => n.name === 'n2').lost, 15000);
});

test('a controller restart: nodes resync and re-register their sandboxes; warm stays warm', async () => {
  invoke(1, 'shared'); // warm again (the short keep-alive of this cluster collected it)
  const before = sandboxesOf('guest/shared');
  assert.strictEqual(before.length, 1);
  execFileSync('bash', ['-c', `kill $(cat /tmp/xwc-${NAME}/controller.pid)`]);
  await sleep(300);
  execFileSync(
    'bash',
    [
      '-c',
      `XWHISK_DATA_DIR=/tmp/xwc-${NAME}/controller XWHISK_CONTROLLER_LISTEN=10.77.0.1:3234 ` +
        `XWHISK_NODE_TOKEN=${token} XWHISK_KEEPALIVE_S=600 XWHISK_SANDBOX_CIDR=169.254.64.0/18 ` +
        `XWHISK_SANDBOX_NODE_PREFIX=22 nsenter --net=/run/netns/xwc${NAME}-ctl ` +
        `${BUILD}/xwhisk-controller >>/tmp/xwc-${NAME}/controller.log 2>&1 & echo $! >/tmp/xwc-${NAME}/controller.pid`,
    ],
    { env: ENV },
  );
  await until('the sandbox is known again', () => {
    try {
      return sandboxesOf('guest/shared').some((s) => s.id === before[0].id && s.state === 'warm');
    } catch (e) {
      return false;
    }
  });
  for (const i of [1, 2, 3]) {
    const rec = await until(`n${i} serves`, () => {
      const r = http('POST', `${node(i)}/api/v1/namespaces/_/actions/shared?blocking=true`, { body: { n: i } });
      return r.status === 200 ? r.json : null;
    });
    assert.strictEqual(initTime(rec), undefined, `n${i}: still warm after the controller restart`);
  }
});

run();
