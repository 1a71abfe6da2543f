// SPDX-License-Identifier: Apache-2.0
// Restarts (DESIGN.md "Data plane", "eBPF"): warm sandboxes keep serving across a restart
// of xwhisk-node (SIGTERM or SIGKILL; the next invoke is warm, in the same sandbox), and
// another system starting and being removed on the same machine leaves them alone; no
// activation record is lost when the node is killed with -9 under load, nor when every
// process is; slot in-flight counts do not leak across a crash.
'use strict';
const { System, test, run, assert, sleep } = require('./lib/harness');
const dp = require('./lib/dp');
const { ann, hasAnn, putAction, invoke, invokeOk, SLOT_STATE } = dp;

// split: the controller and the node as separate processes, so the node alone can go.
const NSN = 'dprst';
const ns = dp.namespacedSystem(NSN, { split: true, env: { XWHISK_PREWARM: 'nodejs:20=1,python:3=0' } });
const { sys, opts } = ns;

const COUNTER = `
const tag = Math.random().toString(36).slice(2);
let n = 0;
function main(p) {
  n++;
  return new Promise((r) => setTimeout(() => r({ n, tag, i: p.i }), p.ms || 0));
}`;

test.before(async () => {
  await putAction(sys, 'counter', { exec: { kind: 'nodejs:20', code: COUNTER } }, opts());
  // concurrency 1 on purpose: several sandboxes and a queue, independent of intra-sandbox
  // concurrency (dp_maps tests that)
  await putAction(sys, 'work', { exec: { kind: 'nodejs:20', code: COUNTER } }, opts());
});

let last; // the last counter result
async function expectWarmAfterRestart(signal) {
  const pid = sys.nodePid;
  await sys.restartNode(signal);
  assert.notStrictEqual(sys.nodePid, pid, 'a new node process');
  const r = await invoke(sys, 'counter', {}, opts());
  assert.strictEqual(r.status, 200, `first invoke after the node's ${signal}: ${r.status} ${r.text.slice(0, 500)}`);
  assert.ok(!hasAnn(r.json, 'initTime'), `warm right after the restart (no initTime): ${JSON.stringify(r.json.annotations)}`);
  assert.strictEqual(r.json.response.result.tag, last.tag, 'the same sandbox');
  assert.strictEqual(r.json.response.result.n, last.n + 1, 'with its state');
  last = r.json.response.result;
}

test('warm sandboxes keep serving across a restart of xwhisk-node (SIGTERM)', async () => {
  const cold = await invokeOk(sys, 'counter', {}, opts());
  assert.strictEqual(typeof ann(cold, 'initTime'), 'number');
  last = (await invokeOk(sys, 'counter', {}, opts())).response.result;
  assert.strictEqual(last.n, 2);
  const slotsBefore = dp.slotsInUse(sys).filter((s) => s.state === SLOT_STATE.WARM).map((s) => s.slot);
  await expectWarmAfterRestart('SIGTERM');
  const slotsAfter = dp.slotsInUse(sys).filter((s) => s.state === SLOT_STATE.WARM).map((s) => s.slot);
  assert.deepStrictEqual(slotsAfter, slotsBefore, `the maps kept the warm slots: before ${JSON.stringify(slotsBefore)}, after ${JSON.stringify(slotsAfter)}`);
});

test('... and across a kill -9 of xwhisk-node', async () => {
  await expectWarmAfterRestart('SIGKILL');
});

test('another node starting on this machine leaves this node\'s sandboxes alone', async () => {
  const other = new System({ env: { XWHISK_PREWARM: 'nodejs:20=0,python:3=0' } });
  try {
    await other.start();
    await sleep(300);
  } finally {
    await dp.teardown(other);
  }
  const r = await invoke(sys, 'counter', {}, opts());
  assert.strictEqual(r.status, 200, r.text.slice(0, 400));
  assert.strictEqual(r.json.response.result.tag, last.tag, `the same sandbox after another system started and was removed: ${JSON.stringify(r.json.annotations)}`);
  assert.ok(!hasAnn(r.json, 'initTime'), 'warm');
  last = r.json.response.result;
});

// Invokes "work" every `everyMs` for `ms`, calling `disrupt` at `at` ms; returns the
// activation ids the API answered (200/202/502), with the status. The load goes on for ms,
// and then until minAfter requests sent after the disruption ended were answered (a slow
// restart must not leave too few to judge by), at most capMs.
async function loadWith({ ms, everyMs, at, disrupt, minAfter = 0, capMs = 20000 }) {
  const answered = [];
  const pending = [];
  const t0 = Date.now();
  let disrupted = null;
  let over = false;
  let answeredAfter = 0;
  for (let i = 0; Date.now() - t0 < ms || (answeredAfter < minAfter && Date.now() - t0 < capMs); i++) {
    if (!disrupted && Date.now() - t0 >= at) disrupted = disrupt().then(() => { over = true; });
    const blocking = i % 4 === 3;
    const sentAfter = over;
    pending.push(
      invoke(sys, 'work', { i, ms: 400 }, opts({ blocking })).then(
        (r) => {
          const id = r.headers['x-openwhisk-activation-id'] || (r.json && r.json.activationId);
          if ([200, 202, 502].includes(r.status) && id) {
            answered.push({ id, status: r.status, i, blocking });
            if (sentAfter) answeredAfter++;
          }
        },
        () => {}, // cut off by the kill: never answered
      ),
    );
    await sleep(everyMs);
  }
  await disrupted;
  await Promise.all(pending);
  assert.ok(answeredAfter >= minAfter, `answered after the restart: ${answeredAfter} (wanted ${minAfter})`);
  return answered;
}

async function missingRecords(answered, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  let missing = answered;
  while (missing.length && Date.now() < deadline) {
    const still = [];
    for (const a of missing) {
      const r = await sys.request('GET', `/api/v1/namespaces/_/activations/${a.id}`, opts());
      if (r.status !== 200) still.push(a);
    }
    missing = still;
    if (missing.length) await sleep(500);
  }
  return missing;
}

test('no record is lost when the node is killed -9 under load', async () => {
  await invokeOk(sys, 'work', {}, opts());
  const answered = await loadWith({
    ms: 1600, everyMs: 70, at: 800, minAfter: 3, disrupt: () => sys.restartNode('SIGKILL'),
  });
  assert.ok(answered.length >= 10, `enough answered: ${answered.length}`);
  const missing = await missingRecords(answered, 25000);
  assert.deepStrictEqual(
    missing,
    [],
    `${missing.length} of ${answered.length} answered activations have no record: ${JSON.stringify(missing.slice(0, 10))}`,
  );
});

test('slot in-flight counts do not leak across the crash; the action serves warm again', async () => {
  await dp.eventually(
    () => dp.slotsInUse(sys).every((s) => s.inflight === 0),
    { timeoutMs: 10000, what: `in-flight counts back to 0: ${JSON.stringify(dp.slotsInUse(sys).map((s) => [s.slot, s.state, s.inflight]))}` },
  );
  const r = await invokeOk(sys, 'work', {}, opts());
  assert.ok(!hasAnn(r, 'initTime'), 'served by the surviving sandbox');
});

test('no record is lost when every process is killed -9 under load', async () => {
  const answered = await loadWith({
    ms: 1400,
    everyMs: 70,
    at: 700,
    minAfter: 3,
    disrupt: async () => {
      await sys.stop('SIGKILL');
      await sys.start();
    },
  });
  assert.ok(answered.length >= 5, `enough answered: ${answered.length}`);
  const missing = await missingRecords(answered, 25000);
  assert.deepStrictEqual(
    missing,
    [],
    `${missing.length} of ${answered.length} answered activations have no record: ${JSON.stringify(missing.slice(0, 10))}`,
  );
});

test('after a restart of everything, actions still run', async () => {
  const r = await invokeOk(sys, 'counter', {}, opts());
  assert.strictEqual(r.response.status, 'success');
});

run();
