// SPDX-License-Identifier: Apache-2.0
// Nodes started with identical settings, as a DaemonSet starts them: the controller gives
// each a sandbox subnet of its XWHISK_SANDBOX_CIDR (the same one again after a restart of
// the node or of the controller), the nodes route to each other's subnets, and so use each
// other's warm sandboxes. A node that is lost loses its routes on the others until it is
// back. With XWHISK_SANDBOX_SUBNET forced to one subnet for all, each node serves from its
// own sandboxes instead of routing into a subnet it cannot reach.
'use strict';
const { execFileSync } = require('child_process');
const fs = require('fs');
const path = require('path');
const { test, run, assert, sleep, TOP, BUILD, GUEST_AUTH } = require('./lib/harness');

const NAME = `s${process.pid % 100000}`;
const SCRIPT = path.join(TOP, 'scripts', 'xwhisk-cluster');
const ENV = {
  ...process.env,
  XWHISK_BIN: BUILD,
  XWHISK_PREWARM: '',
  XWHISK_NODE_LOST_MS: '3000',
  XWHISK_LOG_LEVEL: 'info',
};
const DIR = `/tmp/xwc-${NAME}`;
const cluster = (env, ...args) => execFileSync(SCRIPT, args, { env, encoding: 'utf8', timeout: 120000 });

function curl(env, ...args) {
  const out = cluster(env, 'exec', NAME, 'cli', 'curl', '-s', '-m', '60', '-w', '\n%{http_code}', ...args);
  const nl = out.lastIndexOf('\n');
  return { status: Number(out.slice(nl + 1)), text: out.slice(0, nl) };
}

function invoke(env, i, action, params) {
  const r = curl(env, '-u', GUEST_AUTH, '-X', 'POST', '-H', 'Content-Type: application/json', '-d',
    JSON.stringify(params), `http://10.77.0.${10 + i}:3233/api/v1/namespaces/_/actions/${action}?blocking=true`);
  assert.strictEqual(r.status, 200, `n${i}: ${r.text}`);
  return JSON.parse(r.text);
}

function putAction(env, name) {
  const r = curl(env, '-u', GUEST_AUTH, '-X', 'PUT', '-H', 'Content-Type: application/json', '-d',
    JSON.stringify({ exec: { kind: 'nodejs:20', code: 'function main(p) { return { n: p.n } }' } }),
    `http://10.77.0.11:3233/api/v1/namespaces/_/actions/${name}`);
  assert.strictEqual(r.status, 200, r.text);
}

function pool(env) {
  const token = fs.readFileSync(`${DIR}/token`, 'utf8').trim();
  const r = curl(env, '-H', `Authorization: Bearer ${token}`, 'http://10.77.0.1:3234/internal/v1/sandboxes');
  return JSON.parse(r.text);
}

const routesOf = (i) => cluster(ENV, 'exec', NAME, `n${i}`, 'ip', 'route', 'show', 'proto', '88');
const initTime = (rec) => (rec.annotations.find((a) => a.key === 'initTime') || {}).value;

async function until(what, fn, ms = 20000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

test.after(() => {
  if (process.env.XWHISK_KEEP_CLUSTER) return;
  try {
    cluster(ENV, 'down', NAME);
  } catch (e) { /* already down */ }
});

test('identical nodes get their own subnets from the controller and share warm sandboxes', async () => {
  cluster(ENV, 'up', NAME, '3');
  await until('three nodes', () => pool(ENV).nodes.length === 3);
  const subnets = {};
  for (const n of pool(ENV).nodes) {
    assert.match(n.subnet, /^169\.254\.\d+\.0\/22$/, JSON.stringify(n));
    const third = Number(n.subnet.split('.')[2]);
    assert.ok(third >= 64 && third < 128, `${n.subnet} lies in 169.254.64.0/18`);
    assert.strictEqual(fs.readFileSync(`${DIR}/${n.name}/node/subnet`, 'utf8'), n.subnet, 'the node kept it');
    subnets[n.name] = n.subnet;
  }
  assert.strictEqual(new Set(Object.values(subnets)).size, 3, JSON.stringify(subnets));
  // Each node routes to the two others' subnets through their addresses, and to no other.
  for (const i of [1, 2, 3]) {
    await until(`n${i}'s routes`, () => {
      const routes = routesOf(i);
      return [1, 2, 3].every((j) => j === i
        ? !routes.includes(subnets[`n${j}`])
        : routes.includes(`${subnets[`n${j}`]} via 10.77.0.${10 + j}`));
    });
  }
  putAction(ENV, 'where');
  assert.ok(initTime(invoke(ENV, 1, 'where', { n: 1 })) > 0, 'a cold start on n1');
  for (const i of [2, 3]) {
    const rec = invoke(ENV, i, 'where', { n: i });
    assert.deepStrictEqual(rec.response.result, { n: i });
    assert.strictEqual(initTime(rec), undefined, `n${i} used n1's warm sandbox`);
  }
  assert.strictEqual(pool(ENV).sandboxes.filter((s) => s.docid === 'guest/where').length, 1);
  fs.writeFileSync(`${DIR}/subnets.json`, JSON.stringify(subnets));
});

test('a lost node loses its routes on the others; back, it keeps its subnet and its routes return', async () => {
  const subnets = JSON.parse(fs.readFileSync(`${DIR}/subnets.json`, 'utf8'));
  cluster(ENV, 'kill', NAME, 'n2');
  await until('n2 lost', () => pool(ENV).nodes.find((n) => n.name === 'n2').lost, 20000);
  await until("n2's route gone from n1 and n3", () => [1, 3].every((i) => !routesOf(i).includes(subnets.n2)));
  cluster(ENV, 'start', NAME, 'n2');
  await until('n2 back', () => !pool(ENV).nodes.find((n) => n.name === 'n2').lost, 20000);
  assert.strictEqual(pool(ENV).nodes.find((n) => n.name === 'n2').subnet, subnets.n2);
  await until("n2's route back on n1 and n3",
    () => [1, 3].every((i) => routesOf(i).includes(`${subnets.n2} via 10.77.0.12`)));
  // n2 serves from n1's warm sandbox again. (A node back from a restart may answer 429
  // until its first namespace lease gives it a share: that is the budgets' business.)
  const rec = await until('n2 serves', () => {
    const r = curl(ENV, '-u', GUEST_AUTH, '-X', 'POST', '-H', 'Content-Type: application/json', '-d',
      '{"n":22}', 'http://10.77.0.12:3233/api/v1/namespaces/_/actions/where?blocking=true');
    assert.ok(r.status === 200 || r.status === 429, r.text);
    return r.status === 200 && JSON.parse(r.text);
  }, 15000);
  assert.strictEqual(initTime(rec), undefined, "n2 used n1's warm sandbox");
});

test('a node with a new data directory gets its stored subnet back after a controller restart', async () => {
  const subnets = JSON.parse(fs.readFileSync(`${DIR}/subnets.json`, 'utf8'));
  const token = fs.readFileSync(`${DIR}/token`, 'utf8').trim();
  execFileSync('bash', ['-c', `kill $(cat ${DIR}/controller.pid)`]);
  await sleep(300);
  execFileSync('bash', ['-c',
    `XWHISK_DATA_DIR=${DIR}/controller XWHISK_CONTROLLER_LISTEN=10.77.0.1:3234 XWHISK_NODE_TOKEN=${token} ` +
    `XWHISK_SANDBOX_CIDR=169.254.64.0/18 XWHISK_SANDBOX_NODE_PREFIX=22 nsenter --net=/run/netns/xwc${NAME}-ctl ` +
    `${BUILD}/xwhisk-controller >>${DIR}/controller.log 2>&1 & echo $! >${DIR}/controller.pid`]);
  await until('the nodes registered again', () => {
    try {
      return pool(ENV).nodes.length === 3;
    } catch (e) {
      return false;
    }
  });
  // n3 forgets its subnet (a wiped host path): the controller's store still has it.
  cluster(ENV, 'kill', NAME, 'n3');
  fs.unlinkSync(`${DIR}/n3/node/subnet`);
  cluster(ENV, 'start', NAME, 'n3');
  await until('n3 kept its subnet', () => fs.existsSync(`${DIR}/n3/node/subnet`));
  assert.strictEqual(fs.readFileSync(`${DIR}/n3/node/subnet`, 'utf8'), subnets.n3);
  for (const n of pool(ENV).nodes) assert.strictEqual(n.subnet, subnets[n.name], JSON.stringify(n));
});

test('with one subnet forced on every node, each serves from its own sandboxes', async () => {
  cluster(ENV, 'down', NAME);
  const shared = { ...ENV, XWHISK_CLUSTER_SUBNET: '169.254.96.0/22' };
  cluster(shared, 'up', NAME, '2');
  putAction(shared, 'where');
  for (const [i, n] of [[1, 1], [2, 2], [1, 3], [2, 4]])
    assert.deepStrictEqual(invoke(shared, i, 'where', { n }).response.result, { n });
  assert.ok(/inside this node's own sandbox subnet: not routed to/.test(fs.readFileSync(`${DIR}/n2.log`, 'utf8')),
    'n2 said why');
  assert.strictEqual(routesOf(1), '', 'no routes between nodes that share a subnet');
});

run();
