// SPDX-License-Identifier: Apache-2.0
// The soak (scripts/soak.sh runs it): SOAK_MINUTES of mixed load against a system of its
// own (controller and node as two processes, own ports, data directory, bridge, subnet,
// cgroup parent and pinned maps, as the e2e harness starts them), with a kill -9 of the
// node, of the controller and of a sandbox proxy in turn, each restarted. At the end it
// counts what must be 0: accepted activations without a record, descriptors the node and
// controller gained, and sandboxes, veths, cgroups and maps left after the stop.
// A correctness test, not a benchmark: the rates it prints are only for orientation.
'use strict';
const fs = require('fs');
const path = require('path');
const { execFileSync } = require('child_process');
const { System, sleep } = require('../tests/e2e/lib/harness');

const MINUTES = Number(process.env.SOAK_MINUTES || 10);
const WORKERS = Number(process.env.SOAK_WORKERS || 4);
// One kill every this long, in turn: node, controller, proxy.
const KILL_EVERY_MS = Number(process.env.SOAK_KILL_EVERY_S || 60) * 1000;
const NS = '/api/v1/namespaces/_';
const tag = require('crypto').randomBytes(3).toString('hex');
const cgroupParent = `/xwsoak-${tag}`;

const log = (...a) => console.log(`soak ${new Date().toISOString().slice(11, 19)}`, ...a);

const NODE_CODE = 'function main(p) { return { n: p.n || 0, kind: "nodejs" }; }';
const PY_CODE = 'def main(a):\n    return {"n": a.get("n", 0), "kind": "python"}\n';
const SHELL_CODE = '#!/bin/sh\nwhile IFS= read -r line; do echo "{\\"kind\\":\\"native\\"}" >&3; done\n';
const BLACKBOX_CODE = '#!/bin/sh\necho \'{"kind":"blackbox"}\'\n';
const WEB_CODE = 'function main(p) { return { body: { hello: p.name || "web" } }; }';

const counts = {
  accepted: 0, requests: 0, byStatus: {}, unexpected: 0, errors: 0, kills: {},
};
const accepted = new Map(); // activationId -> what made it
const unexpected = [];

function note(what, r, want) {
  counts.requests++;
  counts.byStatus[r.status] = (counts.byStatus[r.status] || 0) + 1;
  if (!want.includes(r.status)) {
    counts.unexpected++;
    if (unexpected.length < 40) unexpected.push(`${what}: ${r.status} ${String(r.text).slice(0, 160)}`);
  }
}

// An answer that carries an activation id was accepted: it must get a record.
function accept(what, r) {
  const id = (r.json && r.json.activationId) || r.headers['x-openwhisk-activation-id'];
  if ([200, 202, 502].includes(r.status) && /^[0-9a-f]{32}$/.test(id || '')) {
    accepted.set(id, what);
    counts.accepted++;
  }
}

async function put(sys, collection, name, body) {
  const r = await sys.request('PUT', `${NS}/${collection}/${name}?overwrite=true`, { body });
  if (r.status !== 200) throw new Error(`PUT ${collection}/${name}: ${r.status} ${r.text.slice(0, 300)}`);
}

async function setup(sys) {
  const kinds = ['nodejs'];
  // The load is far above OpenWhisk's default 60 a minute: a 429 would hide the rest.
  sys.admin('limits', 'set', 'guest', '--invocationsPerMinute', '1000000', '--firesPerMinute', '1000000',
    '--concurrentInvocations', '10000');
  await put(sys, 'actions', 'k-nodejs', { exec: { kind: 'nodejs:20', code: NODE_CODE } });
  await put(sys, 'actions', 'k-python', { exec: { kind: 'python:3', code: PY_CODE } });
  kinds.push('python');
  for (const [name, exec] of [
    ['k-native', { kind: 'native', code: SHELL_CODE }],
    ['k-blackbox', { kind: 'blackbox', image: 'openwhisk/dockerskeleton', code: BLACKBOX_CODE }],
  ]) {
    const r = await sys.request('PUT', `${NS}/actions/${name}?overwrite=true`, { body: { exec } });
    if (r.status === 200) kinds.push(name.slice(2));
    else log(`${name} not available: ${r.status}`);
  }
  await put(sys, 'actions', 'seq', {
    exec: { kind: 'sequence', components: ['/_/k-nodejs', '/_/k-python', '/_/k-nodejs'] },
  });
  await put(sys, 'actions', 'web', {
    exec: { kind: 'nodejs:20', code: WEB_CODE },
    annotations: [{ key: 'web-export', value: true }],
  });
  await put(sys, 'triggers', 'tick', {});
  await put(sys, 'rules', 'tick-rule', { trigger: '/_/tick', action: '/_/k-nodejs' });
  return kinds;
}

// One operation of the mix, chosen at random.
async function operate(sys, kinds) {
  const kind = kinds[Math.floor(Math.random() * kinds.length)];
  const n = Math.floor(Math.random() * 1000);
  const roll = Math.random();
  let r;
  if (roll < 0.3) {
    r = await sys.request('POST', `${NS}/actions/k-${kind}?blocking=true`, { body: { n } });
    note(`blocking ${kind}`, r, [200, 502, 503, 504]);
    accept(`blocking ${kind}`, r);
  } else if (roll < 0.5) {
    r = await sys.request('POST', `${NS}/actions/k-${kind}`, { body: { n } });
    note(`non-blocking ${kind}`, r, [202, 503]);
    accept(`non-blocking ${kind}`, r);
  } else if (roll < 0.6) {
    r = await sys.request('POST', `${NS}/actions/seq?blocking=true`, { body: { n } });
    note('sequence', r, [200, 502, 503, 504]);
    accept('sequence', r);
  } else if (roll < 0.7) {
    r = await sys.request('POST', `${NS}/triggers/tick`, { body: { n } });
    note('trigger', r, [202, 503]);
    accept('trigger', r);
  } else if (roll < 0.8) {
    r = await sys.request('GET', `/api/v1/web/guest/default/web.json?name=s${n}`, { auth: null });
    note('web', r, [200, 502, 503]);
    accept('web', r);
  } else {
    await badRequest(sys, roll);
  }
}

async function badRequest(sys, roll) {
  const bad = [
    ['bad auth', () => sys.request('POST', `${NS}/actions/k-nodejs?blocking=true`, { auth: 'nobody:nothing', body: {} }), [401]],
    ['bad JSON', () => sys.request('POST', `${NS}/actions/k-nodejs`, { raw: '{"n":', headers: { 'Content-Type': 'application/json' } }), [400]],
    ['huge body', () => sys.request('POST', `${NS}/actions/k-nodejs`, { raw: Buffer.alloc(3 << 20, 'a'), headers: { 'Content-Type': 'application/json' } }), [413]],
    ['unknown action', () => sys.request('POST', `${NS}/actions/nope-${roll}?blocking=true`, { body: {} }), [404]],
    ['unknown trigger', () => sys.request('POST', `${NS}/triggers/nope-${roll}`, { body: {} }), [404]],
    ['unknown web', () => sys.request('GET', '/api/v1/web/guest/default/nope.json', { auth: null }), [404]],
  ];
  const [what, fn, want] = bad[Math.floor(Math.random() * bad.length)];
  let r;
  try {
    r = await fn();
  } catch (e) {
    // A huge body may be answered and the connection closed before it is all sent.
    if (what === 'huge body' && /EPIPE|ECONNRESET/.test(e.code || e.message)) return;
    throw e;
  }
  // 503: the part behind it is being restarted by the soak itself.
  note(what, r, [...want, 503]);
}

// ---- what the system holds ----

// The descriptors a process holds, by what they are (socket, pipe, anon_inode:[pidfd],
// a file...): a leak shows as one kind that grows while the sandboxes do not.
function fdKinds(pid) {
  const out = { total: 0 };
  let fds = [];
  try {
    fds = fs.readdirSync(`/proc/${pid}/fd`);
  } catch (e) {
    return out;
  }
  for (const fd of fds) {
    let t;
    try {
      t = fs.readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch (e) {
      continue;
    }
    const kind = t.startsWith('/') ? 'file' : t.replace(/:\[?\d+\]?$/, '').replace(/^anon_inode:/, '');
    out[kind] = (out[kind] || 0) + 1;
    out.total++;
  }
  return out;
}

const stateDir = (sys) => path.join(sys.dataDir, 'node', 'sandboxes');

// The sandboxes the node recorded: [{id, pid, veth}].
function sandboxes(sys) {
  const out = [];
  let dirs = [];
  try {
    dirs = fs.readdirSync(stateDir(sys));
  } catch (e) {
    return out;
  }
  for (const d of dirs) {
    try {
      const st = JSON.parse(fs.readFileSync(path.join(stateDir(sys), d, 'state.json'), 'utf8'));
      out.push({ id: st.id, pid: st.pid, veth: st.veth });
    } catch (e) {
      out.push({ id: d, pid: 0, veth: '' });
    }
  }
  return out;
}

const alive = (pid) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return false;
  }
};

function cgroupsLeft() {
  let n = 0;
  for (const h of fs.readdirSync('/sys/fs/cgroup')) {
    const dir = path.join('/sys/fs/cgroup', h, cgroupParent);
    if (!fs.existsSync(dir)) continue;
    const walk = (d) => {
      for (const e of fs.readdirSync(d, { withFileTypes: true }))
        if (e.isDirectory()) {
          n++;
          walk(path.join(d, e.name));
        }
    };
    walk(dir);
  }
  return n;
}

function linksLeft(names) {
  const out = execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' });
  return names.filter((n) => n && (out.includes(` ${n}@`) || out.includes(` ${n}:`))).length;
}

// ---- kills ----

async function killNode(sys) {
  await sys.restartNode('SIGKILL');
}

async function killController(sys) {
  const c = sys.procs.controller;
  process.kill(c.pid, 'SIGKILL');
  await c.exited;
  sys.procs.controller = sys.spawnPart('xwhisk-controller', sys.baseEnv());
  await sys.waitPort(sys.controllerPort, sys.procs.controller, 'the controller');
}

async function killProxy(sys) {
  const live = sandboxes(sys).filter((s) => s.pid && alive(s.pid));
  if (!live.length) return false;
  const s = live[Math.floor(Math.random() * live.length)];
  process.kill(s.pid, 'SIGKILL');
  return true;
}

const KILLS = [['node', killNode], ['controller', killController], ['proxy', killProxy]];

// ---- the run ----

async function waitRecords(sys) {
  const missing = [];
  const deadline = Date.now() + 60000;
  for (const [id, what] of accepted) {
    for (;;) {
      const r = await sys.request('GET', `${NS}/activations/${id}`);
      if (r.status === 200) break;
      if (Date.now() > deadline) {
        missing.push(`${id} (${what}): ${r.status}`);
        break;
      }
      await sleep(200);
    }
  }
  return missing;
}

async function main() {
  const sys = new System({
    split: true,
    env: { XWHISK_CGROUP_PARENT: cgroupParent, XWHISK_EPHEMERAL: '1', XWHISK_DRAIN_MS: '5000' },
  });
  const veths = new Set();
  let result = 1;
  log(`system in ${sys.dataDir}, ${MINUTES} min, ${WORKERS} clients, a kill every ${KILL_EVERY_MS / 1000} s`);
  try {
    await sys.start();
    const kinds = await setup(sys);
    log(`kinds: ${kinds.join(', ')}`);
    // Warm up, then the descriptors the processes hold at rest.
    for (const k of kinds) await sys.request('POST', `${NS}/actions/k-${k}?blocking=true`, { body: {} });
    await sleep(3000);
    const before = {
      node: fdKinds(sys.procs.node.pid), controller: fdKinds(sys.procs.controller.pid),
      sandboxes: sandboxes(sys).length,
    };
    const end = Date.now() + MINUTES * 60000;
    let stopping = false;
    const clients = Array.from({ length: WORKERS }, async () => {
      while (!stopping) {
        try {
          await operate(sys, kinds);
        } catch (e) {
          counts.errors++; // connection refused or reset while a part restarts
          await sleep(100);
        }
      }
    });
    let k = 0;
    let nextKill = Date.now() + KILL_EVERY_MS;
    let lastReport = Date.now();
    while (Date.now() < end) {
      await sleep(1000);
      for (const s of sandboxes(sys)) veths.add(s.veth);
      // No kill in the last minute: the end counts a system at rest.
      if (Date.now() >= nextKill && end - Date.now() > 60000) {
        const [what, fn] = KILLS[k++ % KILLS.length];
        const done = await fn(sys);
        if (done !== false) counts.kills[what] = (counts.kills[what] || 0) + 1;
        log(`kill -9 ${what}${done === false ? ': none running' : ''}`);
        nextKill = Date.now() + KILL_EVERY_MS;
      }
      if (Date.now() - lastReport > 60000) {
        lastReport = Date.now();
        log(`${counts.requests} requests, ${counts.accepted} accepted, ${counts.unexpected} unexpected, ${counts.errors} connection errors`);
      }
    }
    stopping = true;
    await Promise.all(clients);
    await sleep(5000);
    const after = {
      node: fdKinds(sys.procs.node.pid), controller: fdKinds(sys.procs.controller.pid),
      sandboxes: sandboxes(sys).length,
    };
    const missing = await waitRecords(sys);
    for (const s of sandboxes(sys)) veths.add(s.veth);
    const pids = sandboxes(sys).map((s) => s.pid).filter(Boolean);
    await sys.stop('SIGTERM');
    await sleep(2000);
    const left = {
      sandboxProcesses: pids.filter(alive).length,
      stateDirs: sandboxes(sys).length,
      veths: linksLeft([...veths]),
      bridge: linksLeft([sys.netEnv.XWHISK_SANDBOX_BRIDGE]),
      cgroups: cgroupsLeft(),
      pinnedMaps: fs.existsSync(sys.pinDir) ? fs.readdirSync(sys.pinDir).length : 0,
    };
    const report = {
      minutes: MINUTES, requests: counts.requests, byStatus: counts.byStatus,
      unexpectedStatus: counts.unexpected, connectionErrors: counts.errors, kills: counts.kills,
      accepted: accepted.size, recorded: accepted.size - missing.length, lost: missing.length,
      fds: { before, after }, left,
    };
    console.log(JSON.stringify(report, null, 1));
    for (const m of missing.slice(0, 20)) log(`no record: ${m}`);
    for (const u of unexpected) log(`unexpected: ${u}`);
    const leaked = Object.values(left).reduce((a, b) => a + b, 0);
    result = missing.length || leaked ? 1 : 0;
    log(result ? 'FAILED' : 'ok: 0 lost, nothing left');
  } catch (e) {
    log(`error: ${e.stack || e}`);
    log(sys.log.slice(-3000));
  } finally {
    await sys.stop('SIGKILL').catch(() => {});
    sys.cleanup();
    for (const h of fs.readdirSync('/sys/fs/cgroup')) {
      try {
        fs.rmdirSync(path.join('/sys/fs/cgroup', h, cgroupParent));
      } catch (e) {
        /* absent, or not empty (then counted above) */
      }
    }
  }
  process.exit(result);
}

main();
