// SPDX-License-Identifier: Apache-2.0
// Stopping (issue 11, item 6): SIGTERM drains, so an activation in flight finishes and
// answers instead of being recorded "interrupted", while new requests are turned away;
// and in make run's mode (XWHISK_EPHEMERAL=1) nothing of the node outlives it: no
// sandbox, no bridge, no pinned maps.
'use strict';
const fs = require('fs');
const { execFileSync } = require('child_process');
const { test, run, assert, sleep } = require('./lib/harness');
const dp = require('./lib/dp');
const { putAction, invoke } = dp;

const NSN = 'dpstop';
const ns = dp.namespacedSystem(NSN, {
  env: { XWHISK_PREWARM: 'nodejs:20=1,python:3=0', XWHISK_EPHEMERAL: '1', XWHISK_DRAIN_MS: '15000', XWHISK_LOG_LEVEL: 'info' },
});
const { sys, opts } = ns;

const SLOW = 'function main(p) { return new Promise((r) => setTimeout(() => r({ done: p.n }), 2500)) }';

function bridgeExists(name) {
  try {
    execFileSync('ip', ['link', 'show', name], { stdio: 'ignore' });
    return true;
  } catch (e) {
    return false;
  }
}

test('SIGTERM: an activation in flight finishes and answers; then nothing of the node is left', async () => {
  await putAction(sys, 'slow', { exec: { kind: 'nodejs:20', code: SLOW } }, opts());
  const warm = await invoke(sys, 'slow', { n: 0 }, { ...opts(), result: true });
  assert.strictEqual(warm.status, 200, warm.text);
  const sandboxes = `${sys.dataDir}/node/sandboxes`;
  assert.ok(fs.readdirSync(sandboxes).length > 0, 'sandboxes exist before the stop');
  assert.ok(bridgeExists(sys.netEnv.XWHISK_SANDBOX_BRIDGE), 'the bridge exists before the stop');

  const inFlight = invoke(sys, 'slow', { n: 1 }, { ...opts(), result: true }).catch((e) => ({ status: 0, text: e.message }));
  await sleep(700);
  const stopped = sys.stop('SIGTERM');
  await sleep(300);
  // Draining: a new request gets no service (listener closed, or 503 on an open connection).
  const late = await invoke(sys, 'slow', { n: 2 }, { ...opts(), result: true }).catch((e) => ({ status: 0, text: e.message }));
  assert.ok(late.status === 0 || late.status === 503, `a request during the drain: ${late.status} ${late.text}`);
  const r = await inFlight;
  assert.strictEqual(r.status, 200, `the activation in flight: ${r.status} ${r.text}`);
  assert.deepStrictEqual(r.json, { done: 1 });
  await stopped;

  assert.deepStrictEqual(fs.readdirSync(sandboxes), [], 'no sandbox state left');
  assert.ok(!bridgeExists(sys.netEnv.XWHISK_SANDBOX_BRIDGE), 'the bridge is gone');
  assert.ok(!fs.existsSync(sys.pinDir), 'the pinned maps are gone');
  assert.match(sys.log, /drained: stopping/);
  assert.match(sys.log, /ephemeral: removing/);
});

run();
