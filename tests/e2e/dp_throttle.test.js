// SPDX-License-Identifier: Apache-2.0
// Namespace throttles on the node (openwhisk-api.md 4): the guest namespace keeps
// OpenWhisk's defaults (60 invocations per calendar minute, 30 concurrent); over them a
// 429 with OpenWhisk's text and a Retry-After header; rejected requests still count; web
// actions count for their owner; a sequence counts once; after the 429s the namespace
// works again once the window allows.
'use strict';
const { System, test, run, assert, expectError, sleep, GUEST_AUTH } = require('./lib/harness');
const { NS } = require('./lib/api');
const dp = require('./lib/dp');
const { putAction, putEntity, invoke } = dp;

const sys = new System({ env: { XWHISK_PREWARM: 'nodejs:20=1,python:3=0' } });
const RATE = /^Too many requests in the last minute \(count: (\d+), allowed: (\d+)\)\.$/;
const CONC = /^Too many concurrent requests in flight \(count: (\d+), allowed: (\d+)\)\.$/;
const SLEEPER = 'function main(p) { return new Promise((r) => setTimeout(() => r({ slept: p.ms || 0 }), p.ms || 0)); }';
const later = []; // checks that wait for the next window, awaited by the last test

test.before(async () => {
  await sys.start();
  // Only the per-action concurrency ceiling is raised, so one sandbox can hold all 30.
  sys.admin('limits', 'set', 'guest', '--maxActionConcurrency', '50');
});
test.after(() => dp.teardown(sys));

function retryAfter(r) {
  const ra = Number(r.headers['retry-after']);
  assert.ok(Number.isInteger(ra) && ra >= 1 && ra <= 60, `Retry-After header: ${JSON.stringify(r.headers)}`);
  return ra;
}

// After Retry-After seconds the namespace serves again.
function afterRetry(ra, what, fn) {
  later.push(
    (async () => {
      await sleep(ra * 1000 + 300);
      const r = await fn();
      assert.strictEqual(r.status, 200, `${what} after Retry-After (${ra} s): ${r.status} ${r.text.slice(0, 300)}`);
    })(),
  );
}

test('guest keeps OpenWhisk\'s defaults: 60 per minute, 30 concurrent', async () => {
  const r = await sys.request('GET', `${NS}/_/limits`);
  assert.strictEqual(r.status, 200, r.text);
  assert.strictEqual(r.json.invocationsPerMinute, 60);
  assert.strictEqual(r.json.concurrentInvocations, 30);
  assert.strictEqual(r.json.firesPerMinute, 60);
});

test('guest: the 31st concurrent activation is 429 "Too many concurrent requests in flight"', async () => {
  await putAction(sys, 'sleeper', { exec: { kind: 'nodejs:20', code: SLEEPER }, limits: { concurrency: 30 } });
  const warm = await invoke(sys, 'sleeper', {});
  assert.strictEqual(warm.status, 200, warm.text);
  const accepted = await Promise.all(Array.from({ length: 30 }, () => invoke(sys, 'sleeper', { ms: 3000 }, { blocking: false })));
  assert.deepStrictEqual(accepted.map((r) => r.status), Array(30).fill(202), accepted.map((r) => r.text).join(' '));
  // The namespace's in-flight count (namespaces map) must be 30 now; if not, activations
  // ended early (see the concurrency tests in dp_maps) and the 429 cannot be expected.
  const guest = dp.bpfDumpJson(sys, 'namespaces').find((e) => e.value.flags && e.value.concurrent_invocations === 30);
  assert.ok(guest, 'guest in the namespaces map');
  assert.strictEqual(guest.value.inflight, 30, `namespaces[${guest.key}].inflight with 30 sleeping activations`);
  const r = await invoke(sys, 'sleeper', {}, { blocking: false });
  expectError(r, 429);
  const m = r.json.error.match(CONC);
  assert.ok(m, `OpenWhisk's text: ${r.json.error}`);
  assert.deepStrictEqual([Number(m[1]), Number(m[2])], [30, 30]);
  retryAfter(r);
  // once they finished, the namespace is free again
  await dp.eventually(async () => (await invoke(sys, 'sleeper', {})).status === 200, { timeoutMs: 10000, everyMs: 300, what: 'an invoke after the 30 finished' });
  for (const a of accepted) await dp.waitRecord(sys, a.json.activationId);
});

test('guest: past 60 in a calendar minute, 429 "Too many requests in the last minute (count: 61, allowed: 60)."', async () => {
  const before = (await dp.metrics(sys.nodePort)).values.get('xwhisk_throttled_total');
  let r;
  for (let i = 0; i < 130; i++) {
    r = await invoke(sys, 'sleeper', {});
    if (r.status === 429) break; // whatever the action does, every request counts
  }
  expectError(r, 429);
  const m = r.json.error.match(RATE);
  assert.ok(m, `OpenWhisk's text: ${r.json.error}`);
  assert.deepStrictEqual([Number(m[1]), Number(m[2])], [61, 60], 'the first rejection of a window is the 61st request');
  const ra = retryAfter(r);
  const toNextMinute = Math.ceil((60000 - (Date.now() % 60000)) / 1000);
  assert.ok(Math.abs(ra - toNextMinute) <= 2, `Retry-After ${ra} is the time to the next calendar minute (${toNextMinute})`);
  // rejected requests still count
  const again = await invoke(sys, 'sleeper', {});
  if (Date.now() % 60000 > 1000 && again.status === 429) assert.strictEqual(again.json.error.match(RATE)[1], '62');
  // throttled requests make no activation and are counted in the metrics
  const after = (await dp.metrics(sys.nodePort)).values.get('xwhisk_throttled_total');
  assert.ok(after >= before + 1, `xwhisk_throttled_total ${before} -> ${after}`);
  afterRetry(ra, 'guest', () => invoke(sys, 'sleeper', {}));
});

test('another namespace is not throttled by guest\'s window', async () => {
  const key = dp.createNamespace(sys, 'dpother', { invocationsPerMinute: 1000, concurrentInvocations: 10 });
  await putAction(sys, 'quick', { exec: { kind: 'nodejs:20', code: SLEEPER } }, { auth: key });
  const r = await invoke(sys, 'quick', {}, { auth: key });
  assert.strictEqual(r.status, 200, r.text);
});

test('a low per-minute limit: rejected requests count, web actions count for the owner, a sequence once', async () => {
  const key = dp.createNamespace(sys, 'dprate', { invocationsPerMinute: 4, concurrentInvocations: 10 });
  const o = { auth: key };
  await putAction(sys, 'q', { exec: { kind: 'nodejs:20', code: SLEEPER }, annotations: [{ key: 'web-export', value: true }] }, o);
  await putAction(sys, 's', { exec: { kind: 'sequence', components: ['/dprate/q', '/dprate/q', '/dprate/q'] } }, o);
  if (Date.now() % 60000 > 50000) await sleep(60000 - (Date.now() % 60000) + 50);
  const seq = await invoke(sys, 's', {}, o); // 1: three components, counted once
  assert.strictEqual(seq.status, 200, seq.text);
  assert.strictEqual(seq.json.logs.length, 3);
  const webOk = await sys.request('GET', '/api/v1/web/dprate/default/q.json', { auth: null }); // 2
  assert.strictEqual(webOk.status, 200, webOk.text);
  assert.strictEqual((await invoke(sys, 'q', {}, o)).status, 200); // 3
  assert.strictEqual((await invoke(sys, 'q', {}, o)).status, 200); // 4
  const r5 = await invoke(sys, 'q', {}, o);
  expectError(r5, 429, 'Too many requests in the last minute (count: 5, allowed: 4).');
  const r6 = await invoke(sys, 'q', {}, o);
  expectError(r6, 429, 'Too many requests in the last minute (count: 6, allowed: 4).');
  const web = await sys.request('GET', '/api/v1/web/dprate/default/q.json', { auth: null });
  assert.strictEqual(web.status, 429, `web actions are throttled as their owner: ${web.status} ${web.text}`);
  assert.ok(RATE.test(web.json.error), web.text);
  retryAfter(web);
  afterRetry(retryAfter(r6), 'dprate', () => invoke(sys, 'q', {}, o));
});

test('a low concurrency limit counts blocking and non-blocking activations alike', async () => {
  const key = dp.createNamespace(sys, 'dpconc', { invocationsPerMinute: 1000, concurrentInvocations: 2 });
  const o = { auth: key };
  await putAction(sys, 'z', { exec: { kind: 'nodejs:20', code: SLEEPER } }, o);
  assert.strictEqual((await invoke(sys, 'z', {}, o)).status, 200);
  const blocking = invoke(sys, 'z', { ms: 2000 }, o);
  await sleep(300);
  const nb = await invoke(sys, 'z', { ms: 2000 }, { ...o, blocking: false });
  assert.strictEqual(nb.status, 202, nb.text);
  const r = await invoke(sys, 'z', {}, o);
  expectError(r, 429, 'Too many concurrent requests in flight (count: 2, allowed: 2).');
  assert.strictEqual(Number(r.headers['retry-after']) >= 1, true, JSON.stringify(r.headers));
  assert.strictEqual((await blocking).status, 200);
  await dp.waitRecord(sys, nb.json.activationId, o);
  assert.strictEqual((await invoke(sys, 'z', {}, o)).status, 200, 'free again');
});

test('after the 429s each namespace works again once its window allows', async () => {
  await Promise.all(later);
});

run();
