// SPDX-License-Identifier: Apache-2.0
// Memory pressure between tenants (issue 11, item 3): one namespace's idle sandboxes
// fill the node's memory (XWHISK_NODE_MEMORY_MB); another namespace's concurrent cold
// invokes must all succeed, the idle (or GC-marked) sandboxes being evicted to make room,
// and an invoke that finds every sandbox busy waits for one to free instead of failing.
// A platform failure is never the action's: no 502 "exited unexpectedly" for lack of room.
'use strict';
const { System, test, run, assert, sleep } = require('./lib/harness');
const dp = require('./lib/dp');
const { putAction, invoke } = dp;

const NODE_MB = 1024;
const ACTION_MB = 128; // OpenWhisk's minimum: NODE_MB / ACTION_MB sandboxes fill the node
const FILL = NODE_MB / ACTION_MB;
const SLEEPER = 'function main(p) { return new Promise((r) => setTimeout(() => r({ ok: true, ns: process.env.__OW_NAMESPACE }), p.ms || 0)); }';
const LIMITS = { invocationsPerMinute: 100000, concurrentInvocations: 1000, firesPerMinute: 10000 };

// A system whose node declares NODE_MB, with namespaces bob and alice.
async function startSystem(env) {
  const sys = new System({ env: { XWHISK_NODE_MEMORY_MB: String(NODE_MB), XWHISK_PREWARM: 'nodejs:20=0,python:3=0', ...env } });
  await sys.start();
  const keys = { bob: dp.createNamespace(sys, 'bob', LIMITS), alice: dp.createNamespace(sys, 'alice', LIMITS) };
  return { sys, keys };
}

const action = { exec: { kind: 'nodejs:20', code: SLEEPER }, limits: { memory: ACTION_MB, concurrency: 1 } };

// bob's FILL actions, each invoked once: FILL idle sandboxes holding all of the node.
async function fillWithBob(sys, key) {
  for (let i = 0; i < FILL; i++) {
    await putAction(sys, `b${i}`, action, { auth: key });
    const r = await invoke(sys, `b${i}`, {}, { auth: key });
    assert.strictEqual(r.status, 200, `bob's b${i}: ${r.status} ${r.text.slice(0, 300)}`);
  }
}

// n concurrent blocking invokes of alice's one action (concurrency 1: one sandbox each).
async function aliceBurst(sys, key, n, ms) {
  await putAction(sys, 'a', action, { auth: key });
  const rs = await Promise.all(Array.from({ length: n }, () => invoke(sys, 'a', { ms }, { auth: key })));
  const bad = rs.filter((r) => r.status !== 200).map((r) => `${r.status} ${r.text.slice(0, 200)}`);
  assert.deepStrictEqual(bad, [], `${bad.length} of alice's ${n} concurrent cold invokes failed`);
  for (const r of rs) assert.strictEqual(r.json.response.result.ns, 'alice', JSON.stringify(r.json));
}

test('bob\'s idle sandboxes fill the node; alice\'s concurrent cold invokes all succeed', async () => {
  const { sys, keys } = await startSystem({});
  try {
    await fillWithBob(sys, keys.bob);
    // More than the node holds at once: the last ones wait for a busy sandbox to free.
    await aliceBurst(sys, keys.alice, FILL + 4, 1500);
    // bob is served again afterwards (his sandboxes were evicted, not broken).
    const r = await invoke(sys, 'b0', {}, { auth: keys.bob });
    assert.strictEqual(r.status, 200, r.text);
  } finally {
    await dp.teardown(sys);
  }
});

test('GC-marked (draining) sandboxes are evicted for room too', async () => {
  // Keep-alive 1 s: bob's sandboxes are marked soon; a long grace keeps them marked.
  const { sys, keys } = await startSystem({ XWHISK_KEEPALIVE_S: '1', XWHISK_GC_GRACE_MS: '600000' });
  try {
    await fillWithBob(sys, keys.bob);
    await sleep(3500);
    await aliceBurst(sys, keys.alice, FILL, 500);
  } finally {
    await dp.teardown(sys);
  }
});

run();
