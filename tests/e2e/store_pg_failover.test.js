// SPDX-License-Identifier: Apache-2.0
// Two controllers and one node on one PostgreSQL database (a server this file starts with
// tests/pg/pgtmp.sh): the controllers elect one leader with the advisory lock, writes
// through either are read through the other, and after a kill -9 of the leader the other
// takes over allocation and GC within seconds, the node moves to it (XWHISK_CONTROLLER
// lists both) and re-registers its sandboxes, which the new leader adopts (warm stays
// warm), invocations keep working, and no record of an answered activation is lost.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawn, execFileSync } = require('child_process');
const { System, test, run, assert, sleep, request, freePort, TOP, BUILD, GUEST_AUTH } = require('./lib/harness');
const { NS, expectStatus } = require('./lib/api');
const { invoke, invokeOk, putAction } = require('./lib/dp');

const PGTMP = path.join(TOP, 'tests', 'pg', 'pgtmp.sh');
const pgtmp = (...args) => execFileSync(PGTMP, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 120000 }).trim();
const TOKEN = `failover${'0123456789abcdef'.repeat(3)}`;
const exec = { kind: 'nodejs:20', code: 'function main(p) { return { got: p } }' };

let server = null;
let sys = null; // controller A and the node, split (A alone can be killed)
let ctlB = null; // the second controller: { proc, port, dir, log }
const answered = []; // activation ids the node answered with

const initTime = (rec) => (rec.annotations.find((x) => x.key === 'initTime') || {}).value;

async function metric(port, name) {
  try {
    const r = await request(port, 'GET', '/metrics', { auth: null });
    const m = r.text.match(new RegExp(`^${name} (\\S+)$`, 'm'));
    return m ? Number(m[1]) : null;
  } catch (e) {
    return null; // not serving
  }
}

async function pool(port) {
  const r = await request(port, 'GET', '/internal/v1/sandboxes', { auth: null, headers: { Authorization: `Bearer ${TOKEN}` } });
  return expectStatus(r, 200);
}

async function until(what, fn, ms = 20000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

function startB(env) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xwhisk-e2e-ctlb-'));
  const b = { dir, port: env.port, log: '' };
  b.proc = spawn(path.join(BUILD, 'xwhisk-controller'), [], {
    env: { ...process.env, ...env.vars, XWHISK_DATA_DIR: dir, XWHISK_CONTROLLER_LISTEN: `127.0.0.1:${env.port}` },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  for (const s of [b.proc.stdout, b.proc.stderr]) s.on('data', (d) => (b.log = (b.log + d).slice(-200000)));
  b.exited = new Promise((r) => b.proc.on('exit', r));
  return b;
}

test.before(async () => {
  server = pgtmp('start');
  sys = new System({ split: true, store: server, sharedStore: true });
  sys.nodePort = await freePort();
  sys.controllerPort = await freePort();
  const portB = await freePort();
  const shared = {
    XWHISK_NODE_TOKEN: TOKEN,
    XWHISK_LOG_LEVEL: 'info',
    // B collects idle sandboxes quickly once it leads (A keeps them)
    XWHISK_GC_GRACE_MS: '1000',
  };
  sys.env = {
    ...shared,
    XWHISK_CONTROLLER: `http://127.0.0.1:${sys.controllerPort},http://127.0.0.1:${portB}`,
  };
  await sys.start();
  await until('A leads', async () => (await metric(sys.controllerPort, 'xwhisk_cluster_leader')) === 1);
  ctlB = startB({ port: portB, vars: { ...shared, XWHISK_STORE: server, XWHISK_KEEPALIVE_S: '4' } });
  await until('B serves', async () => (await metric(portB, 'xwhisk_cluster_leader')) !== null);
});

test.after(async () => {
  if (run.failed) {
    if (sys) console.log(`---- log of A and the node ----\n${sys.log.slice(-6000)}`);
    if (ctlB) console.log(`---- log of B ----\n${ctlB.log.slice(-4000)}`);
  }
  if (ctlB) {
    try {
      process.kill(ctlB.proc.pid, 'SIGKILL');
    } catch (e) {
      /* gone */
    }
    await ctlB.exited;
    fs.rmSync(ctlB.dir, { recursive: true, force: true });
  }
  if (sys) {
    await sys.stop();
    sys.cleanup();
  }
  if (server) pgtmp('stop', server);
});

test('one leader: A runs the allocator, B is on standby (503 to allocations and heartbeats)', async () => {
  assert.strictEqual(await metric(sys.controllerPort, 'xwhisk_cluster_leader'), 1);
  assert.strictEqual(await metric(ctlB.port, 'xwhisk_cluster_leader'), 0);
  const r = await request(ctlB.port, 'POST', '/internal/v1/nodes/n1/heartbeat', {
    auth: null,
    headers: { Authorization: `Bearer ${TOKEN}` },
    body: {},
  });
  assert.strictEqual(r.status, 503, r.text);
  assert.strictEqual(r.headers['x-xwhisk-standby'], '1');
});

test('writes through either controller are read through the other', async () => {
  // through the node (A), read on B's API
  await putAction(sys, 'hot', { exec });
  const onB = await request(ctlB.port, 'GET', `${NS}/_/actions/hot`, { auth: GUEST_AUTH });
  assert.strictEqual(expectStatus(onB, 200).name, 'hot');
  // through B's API, read through the node (A)
  expectStatus(await request(ctlB.port, 'PUT', `${NS}/_/actions/idle?overwrite=true`, { auth: GUEST_AUTH, body: { exec } }), 200);
  expectStatus(await request(ctlB.port, 'PUT', `${NS}/_/actions/later?overwrite=true`, { auth: GUEST_AUTH, body: { exec } }), 200);
  assert.strictEqual(expectStatus(await sys.request('GET', `${NS}/_/actions/idle`), 200).name, 'idle');
});

let hotSandbox = null;
let idleSandbox = null;

test('the node allocates through A: the sandboxes are in A\'s pool', async () => {
  for (const a of ['hot', 'idle']) answered.push((await invokeOk(sys, a, { warm: a })).activationId);
  const p = await pool(sys.controllerPort);
  hotSandbox = p.sandboxes.find((s) => s.docid === 'guest/hot');
  idleSandbox = p.sandboxes.find((s) => s.docid === 'guest/idle');
  assert.ok(hotSandbox && idleSandbox, JSON.stringify(p.sandboxes));
  assert.strictEqual((await pool(ctlB.port)).sandboxes.length, 0, 'B placed nothing');
});

test('kill -9 of the leader: B leads within seconds, the node moves to it, invocations keep working', async () => {
  // invocations all along, from just before the kill until well after the takeover
  let stop = false;
  const results = [];
  const invoker = (async () => {
    while (!stop) {
      const t = Date.now();
      const r = await invoke(sys, 'hot', { t });
      results.push({ t, status: r.status, id: r.json && r.json.activationId, rec: r.json, text: r.text });
      await sleep(100);
    }
  })();
  await sleep(500);
  const killedAt = Date.now();
  process.kill(sys.procs.controller.pid, 'SIGKILL');
  await sys.procs.controller.exited;
  await until('B leads', async () => (await metric(ctlB.port, 'xwhisk_cluster_leader')) === 1, 10000);
  const tookOver = Date.now() - killedAt;
  console.log(`# B leads ${tookOver} ms after the kill`);
  assert.ok(tookOver < 5000, `B took ${tookOver} ms to lead`);
  // the node registered with B and listed its sandboxes: adopted, not started anew
  await until('the node\'s sandboxes adopted by B', async () => {
    const p = await pool(ctlB.port);
    return p.sandboxes.some((s) => s.id === hotSandbox.id && s.state === 'warm') && p.nodes.length === 1;
  }, 15000);
  await sleep(1500);
  stop = true;
  await invoker;
  const bad = results.filter((r) => r.status !== 200);
  assert.strictEqual(bad.length, 0, `failed invocations: ${bad.map((r) => `${r.status} ${r.text.slice(0, 120)}`).join('; ')}`);
  assert.ok(results.length >= 10, `${results.length} invocations`);
  for (const r of results) assert.strictEqual(initTime(r.rec), undefined, 'every invocation ran warm, in the same sandbox');
  for (const r of results) answered.push(r.id);
  const hot = (await pool(ctlB.port)).sandboxes.filter((s) => s.docid === 'guest/hot');
  assert.deepStrictEqual(hot.map((s) => s.id), [hotSandbox.id], 'B knows the one sandbox A placed');
});

test('B allocates: an action never run before gets a sandbox placed by B', async () => {
  const before = await metric(ctlB.port, 'xwhisk_cluster_placements_total');
  const rec = await invokeOk(sys, 'later', { after: 'takeover' });
  answered.push(rec.activationId);
  assert.strictEqual(await metric(ctlB.port, 'xwhisk_cluster_placements_total'), before + 1);
  assert.ok((await pool(ctlB.port)).sandboxes.some((s) => s.docid === 'guest/later'));
});

test('B runs the GC: the adopted idle sandbox is marked and swept', async () => {
  await until('the idle sandbox swept', async () => {
    const p = await pool(ctlB.port);
    return !p.sandboxes.some((s) => s.id === idleSandbox.id);
  }, 20000);
  assert.ok((await metric(ctlB.port, 'xwhisk_cluster_gc_total\\{phase="sweep"\\}')) >= 1);
});

test('no record of an answered activation is lost: each is found through B', async () => {
  assert.ok(answered.length >= 13, `${answered.length} activations`);
  for (const id of answered) {
    let r;
    for (let i = 0; i < 100; i++) {
      r = await sys.request('GET', `${NS}/_/activations/${id}`);
      if (r.status === 200) break;
      await sleep(200);
    }
    assert.strictEqual(r.status, 200, `activation ${id}: ${r.status} ${r.text}`);
  }
});

run();
