// SPDX-License-Identifier: Apache-2.0
// Routing state and intra-sandbox concurrency (DESIGN.md "Data plane", "eBPF"): an action
// with limits.concurrency > 1 runs several activations at once in one sandbox (the slots
// map shows its in-flight count); with concurrency 1 a sandbox never holds two; bpftool
// prints the pinned maps with named fields, and an invoked action has a WARM slot whose
// action_id is in "warm" and "actions"; the namespaces map holds the namespace's limits;
// xwhisk_warm_sandboxes agrees with the slots map; an action whose process dies
// mid-activation ends it at once as a developer error, a sandbox killed from outside as
// a whisk internal error, an action past its memory limit with "exhausted its memory".
'use strict';
const fs = require('fs');
const { test, run, assert, sleep } = require('./lib/harness');
const dp = require('./lib/dp');
const { putAction, invoke, invokeOk, SLOT_STATE } = dp;

const NSN = 'dpmaps';
const ns = dp.namespacedSystem(NSN, { env: { XWHISK_PREWARM: 'nodejs:20=1,python:3=0' }, limits: { ...dp.HIGH_LIMITS, maxActionConcurrency: 10 } });
const { sys, opts } = ns;

// A random tag per sandbox process: equal tags = the same sandbox.
const PAR = `
const tag = Math.random().toString(36).slice(2);
let running = 0, most = 0;
function main(p) {
  running++; most = Math.max(most, running);
  return new Promise((r) => setTimeout(() => { running--; r({ tag, most }); }, p.ms || 0));
}`;

let parId; // the action id of "par" in the maps (a decimal string)

// Samples the slots of an action while fn runs.
async function sampling(actionId, fn) {
  const samples = [];
  let done = false;
  const sampler = (async () => {
    while (!done) {
      const slots = await dp.slotsInUseAsync(sys);
      samples.push(slots.filter((s) => s.action_id === actionId));
      await sleep(100);
    }
  })();
  const t0 = Date.now();
  try {
    const out = await fn();
    return { out, samples, elapsed: Date.now() - t0 };
  } finally {
    done = true;
    await sampler;
  }
}

test('an invoked action has a WARM slot; its action_id is a key of "warm" and "actions"', async () => {
  await putAction(sys, 'par', { exec: { kind: 'nodejs:20', code: PAR }, limits: { concurrency: 3, timeout: 7000, memory: 192 } }, opts());
  await invokeOk(sys, 'par', {}, opts());
  const used = dp.slotsInUse(sys);
  const warm = used.filter((s) => s.state === SLOT_STATE.WARM);
  assert.strictEqual(warm.length, 1, `one warm slot after one cold start: ${JSON.stringify(used)}`);
  const s = warm[0];
  parId = s.action_id;
  assert.ok(parId !== '0', JSON.stringify(s));
  assert.strictEqual(s.concurrency, 3, `the slot carries the action's concurrency: ${JSON.stringify(s)}`);
  assert.strictEqual(s.inflight, 0, JSON.stringify(s));
  // The address reads as an address in bpftool: four bytes, the sandbox subnet's.
  assert.ok(Array.isArray(s.addr) && s.addr.length === 4, `addr as bytes: ${JSON.stringify(s)}`);
  const subnet = sys.netEnv.XWHISK_SANDBOX_SUBNET.split('.').slice(0, 2).map(Number);
  assert.deepStrictEqual(s.addr.slice(0, 2).map(Number), subnet, `addr in the sandbox subnet: ${JSON.stringify(s)}`);
  assert.ok(s.port !== 0, `port: ${JSON.stringify(s)}`);
  assert.ok(s.pid > 0, `the sandbox pid: ${JSON.stringify(s)}`);
  assert.ok(Number(s.invocations) >= 1, `invocations counted: ${JSON.stringify(s)}`);
  const warmMap = dp.bpfDumpJson(sys, 'warm');
  const w = warmMap.find((e) => String(e.key) === parId);
  assert.ok(w, `warm has the action: ${JSON.stringify(warmMap).slice(0, 800)}`);
  assert.ok(w.value.count >= 1 && w.value.slot.slice(0, w.value.count).includes(s.slot), `warm lists slot ${s.slot}: ${JSON.stringify(w.value)}`);
  const actions = dp.bpfDumpJson(sys, 'actions');
  const a = actions.find((e) => String(e.key) === parId);
  assert.ok(a, `actions has the action: ${JSON.stringify(actions).slice(0, 800)}`);
  assert.strictEqual(a.value.concurrency, 3);
  assert.strictEqual(a.value.timeout_ms, 7000);
  assert.strictEqual(a.value.memory_mb, 192);
  assert.strictEqual(a.value.kind, 1, 'XW_KIND_NODEJS');
  const nss = dp.bpfDumpJson(sys, 'namespaces');
  const ns = nss.find((e) => Number(e.key) === a.value.ns_idx);
  const inUse = nss.filter((e) => e.value.flags).map((e) => `${e.key}: ${e.value.invocations_per_minute}/min`);
  assert.ok(a.value.ns_idx > 0 && ns, `actions[${parId}].ns_idx is ${a.value.ns_idx} (0 means none); namespaces in use: ${inUse.join(', ')}`);
  assert.strictEqual(ns.value.invocations_per_minute, dp.HIGH_LIMITS.invocationsPerMinute);
  assert.strictEqual(ns.value.concurrent_invocations, dp.HIGH_LIMITS.concurrentInvocations);
  assert.strictEqual(ns.value.fires_per_minute, dp.HIGH_LIMITS.firesPerMinute);
});

test('bpftool map dump prints named fields', async () => {
  const fields = {
    slots: ['state', 'inflight', 'concurrency', 'generation', 'action_id', 'addr', 'port', 'last_used_ns', 'invocations', 'pid'],
    warm: ['count', 'slot'],
    actions: ['revision', 'ns_idx', 'concurrency', 'memory_mb', 'timeout_ms', 'kind', 'flags'],
    namespaces: ['invocations_per_minute', 'concurrent_invocations', 'fires_per_minute', 'inflight', 'invocation_window', 'throttled'],
  };
  for (const [map, names] of Object.entries(fields)) {
    const text = dp.bpfDumpText(sys, map);
    for (const n of names) assert.ok(text.includes(`"${n}":`), `${map}: field ${n} in bpftool's dump`);
  }
});

test('concurrency 3: three parallel activations share one sandbox and finish in about one run', async () => {
  const { out, samples, elapsed } = await sampling(parId, () =>
    Promise.all([0, 1, 2].map(() => invoke(sys, 'par', { ms: 1500 }, opts()))),
  );
  const seen = out.map((r) => `${r.status} ${JSON.stringify(r.json && r.json.response ? r.json.response.result : r.text)}`);
  assert.deepStrictEqual(out.map((r) => r.status), [200, 200, 200], `three parallel invokes: ${seen.join(' | ')}`);
  const tags = new Set(out.map((r) => r.json.response.result.tag));
  assert.strictEqual(tags.size, 1, `one sandbox served all three: ${[...tags]}`);
  assert.ok(Math.max(...out.map((r) => r.json.response.result.most)) === 3, 'the action saw three at once');
  assert.ok(elapsed < 2900, `three 1.5 s activations took ${elapsed} ms`);
  const maxInflight = Math.max(0, ...samples.flat().map((s) => s.inflight));
  assert.strictEqual(maxInflight, 3, `slots map in-flight while running: ${JSON.stringify(samples.map((x) => x.map((s) => s.inflight)))}`);
  assert.ok(samples.every((x) => x.length <= 1), `one slot for the action: ${JSON.stringify(samples.map((x) => x.map((s) => s.slot)))}`);
  assert.ok(dp.slotsInUse(sys).filter((s) => s.action_id === parId).every((s) => s.inflight === 0), 'released after');
});

test('concurrency 1: a sandbox never holds two activations (more sandboxes, or a queue)', async () => {
  await putAction(sys, 'solo', { exec: { kind: 'nodejs:20', code: PAR } }, opts());
  await invokeOk(sys, 'solo', {}, opts());
  const before = new Set(dp.slotsInUse(sys).map((s) => s.action_id));
  const soloId = [...before].find((id) => id !== parId);
  assert.ok(soloId, 'solo has a slot');
  const { out, samples, elapsed } = await sampling(soloId, () =>
    Promise.all([0, 1, 2].map(() => invoke(sys, 'solo', { ms: 1000 }, opts()))),
  );
  for (const r of out) assert.strictEqual(r.status, 200, r.text);
  for (const r of out) assert.strictEqual(r.json.response.result.most, 1, 'the action never saw two at once');
  assert.ok(samples.flat().every((s) => s.inflight <= 1), `in-flight per slot: ${JSON.stringify(samples.map((x) => x.map((s) => s.inflight)))}`);
  const tags = new Set(out.map((r) => r.json.response.result.tag));
  assert.ok(tags.size === 3 || elapsed >= 2000, `three sandboxes (${tags.size}) or queued (${elapsed} ms)`);
});

test('xwhisk_warm_sandboxes agrees with the WARM slots', async () => {
  const warm = dp.slotsInUse(sys).filter((s) => s.state === SLOT_STATE.WARM).length;
  const { values } = await dp.metrics(sys.nodePort);
  assert.strictEqual(values.get('xwhisk_warm_sandboxes'), warm);
  assert.ok(warm >= 2);
});

// The process of the action, not the sandbox's init: a signal to the init is the platform
// stopping the sandbox (a whisk internal error), the runtime's own death is the action's.
function killRuntime(initPid) {
  const kids = fs.readFileSync(`/proc/${initPid}/task/${initPid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
  assert.ok(kids.length > 0, `the sandbox's init ${initPid} has a runtime process`);
  for (const k of kids) process.kill(Number(k), 'SIGKILL');
}

test('an action whose process dies mid-activation: developer error at once, not after the time limit', async () => {
  await putAction(sys, 'victim', { exec: { kind: 'nodejs:20', code: PAR }, limits: { timeout: 20000 } }, opts());
  await invokeOk(sys, 'victim', {}, opts());
  const known = new Set([parId]);
  const t0 = Date.now();
  const pending = invoke(sys, 'victim', { ms: 8000 }, opts());
  const busy = await dp.eventually(
    () => dp.slotsInUse(sys).find((s) => s.inflight === 1 && s.state === SLOT_STATE.WARM && !known.has(s.action_id) && s.pid > 0),
    { timeoutMs: 5000, everyMs: 100, what: 'the busy slot of "victim"' },
  );
  killRuntime(busy.pid);
  const r = await pending;
  const took = Date.now() - t0;
  assert.strictEqual(r.status, 502, r.text.slice(0, 400));
  assert.strictEqual(r.json.response.status, 'action developer error');
  assert.deepStrictEqual(r.json.response.result, { error: 'The action did not produce a valid response and exited unexpectedly.' });
  assert.ok(took < 5000, `answered ${took} ms after the start (the time limit is 20 s)`);
  const next = await invokeOk(sys, 'victim', {}, opts({ timeout: '10000' }));
  assert.strictEqual(typeof dp.ann(next, 'initTime'), 'number', 'a new sandbox');
});

// The sandbox's init killed from outside (an operator, the host's OOM killer): the
// runtime's connection ends first, the verdict waits for the init's end and blames the
// platform; the action's own memory limit blames the action. Both run straight to the
// Node.js loop, past the proxy that used to tell.
test('a sandbox killed from outside mid-activation: whisk internal error, not the action\'s', async () => {
  await putAction(sys, 'shot', { exec: { kind: 'nodejs:20', code: PAR }, limits: { timeout: 20000, logs: 0 } }, opts()); // no logs to wait for: the verdict looks for the end itself
  await invokeOk(sys, 'shot', {}, opts());
  const pending = invoke(sys, 'shot', { ms: 8000 }, opts());
  const busy = await dp.eventually(
    () => dp.slotsInUse(sys).find((s) => s.inflight === 1 && s.state === SLOT_STATE.WARM && s.action_id !== parId && s.pid > 0),
    { timeoutMs: 5000, everyMs: 100, what: 'the busy slot of "shot"' },
  );
  process.kill(busy.pid, 'SIGKILL');
  const r = await pending;
  assert.strictEqual(r.status, 500, r.text.slice(0, 400));
  assert.strictEqual(r.json.response.status, 'whisk internal error');
  assert.deepStrictEqual(r.json.response.result, { error: "The action's sandbox was stopped by the platform." });
});

test('a Node.js action past its memory limit: developer error, "exhausted its memory"', async () => {
  const HOG = 'function main() { const hog = []; for (;;) hog.push(Buffer.alloc(16 << 20, 1)); }';
  await putAction(sys, 'hog', { exec: { kind: 'nodejs:20', code: HOG }, limits: { memory: 128, timeout: 20000 } }, opts());
  const r = await invoke(sys, 'hog', {}, opts());
  assert.strictEqual(r.status, 502, r.text.slice(0, 400));
  assert.strictEqual(r.json.response.status, 'action developer error');
  assert.deepStrictEqual(r.json.response.result, { error: 'The action exhausted its memory and was aborted.' });
});

test('an update of the action routes to a new action id (stale sandboxes are not used)', async () => {
  const warmIds = () => new Set(dp.slotsInUse(sys).filter((s) => s.state === SLOT_STATE.WARM).map((s) => s.action_id));
  const before = warmIds();
  assert.ok(before.has(parId), 'the old revision is warm before the update');
  await putAction(sys, 'par', { exec: { kind: 'nodejs:20', code: PAR.replace('let running', 'let  running') }, limits: { concurrency: 3 } }, opts());
  const rec = await invokeOk(sys, 'par', {}, opts());
  assert.strictEqual(typeof dp.ann(rec, 'initTime'), 'number', 'the new revision starts cold');
  const fresh = [...warmIds()].filter((id) => !before.has(id));
  assert.strictEqual(fresh.length, 1, `one warm slot of a new action id (the new revision): ${fresh}`);
});

run();
