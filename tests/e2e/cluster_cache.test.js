// SPDX-License-Identifier: Apache-2.0
// The response cache in a cluster (scripts/xwhisk-cluster, two nodes): each node answers
// from its own cache, and an update through one node empties the entries built from the
// changed document on every node (issue 14; the other node hears it on the event stream).
'use strict';
const { execFileSync } = require('child_process');
const path = require('path');
const { test, run, assert, sleep, TOP, BUILD, GUEST_AUTH } = require('./lib/harness');

const NAME = `c${process.pid % 100000}`;
const SCRIPT = path.join(TOP, 'scripts', 'xwhisk-cluster');
const ENV = {
  ...process.env,
  XWHISK_BIN: BUILD,
  XWHISK_PREWARM: '',
  XWHISK_LOG_LEVEL: 'info',
};
const cluster = (...args) => execFileSync(SCRIPT, args, { env: ENV, encoding: 'utf8', timeout: 120000 });

// Each sandbox counts its runs: a cached answer repeats the count it was made with.
const CODE = `
let runs = 0;
const me = Math.random().toString(36).slice(2);
function main(p) { runs++; return { token: p.token, runs, me, __ow_cache: { ttl: 120 } } }`;

function http(i, method, urlPath, body) {
  const out = cluster('exec', NAME, 'cli', 'curl', '-s', '-m', '60', '-u', GUEST_AUTH, '-X', method,
    '-H', 'Content-Type: application/json', '-d', JSON.stringify(body), '-w', '\n%{http_code}',
    `http://10.77.0.${10 + i}:3233/api/v1/namespaces/_/${urlPath}`);
  const nl = out.lastIndexOf('\n');
  return { status: Number(out.slice(nl + 1)), text: out.slice(0, nl) };
}

function invoke(i, token) {
  const r = http(i, 'POST', 'actions/ck/check?blocking=true', { token });
  assert.strictEqual(r.status, 200, `invoke on n${i}: ${r.text}`);
  return JSON.parse(r.text);
}

const cached = (rec) => (rec.annotations.find((a) => a.key === 'cached') || {}).value === true;

function putPackage(annotations) {
  const r = http(1, 'PUT', 'packages/ck?overwrite=true', { parameters: [{ key: 'fixed', value: 1 }], annotations });
  assert.strictEqual(r.status, 200, r.text);
}

test.before(() => {
  cluster('up', NAME, '2');
  putPackage([]);
  const r = http(1, 'PUT', 'actions/ck/check?overwrite=true', { exec: { kind: 'nodejs:20', code: CODE } });
  assert.strictEqual(r.status, 200, r.text);
});
test.after(() => {
  if (!process.env.XWHISK_KEEP_CLUSTER) cluster('down', NAME);
});

test('each node answers from its own cache; an update through n1 empties both', async () => {
  for (const i of [1, 2]) {
    const first = invoke(i, 'a');
    assert.ok(!cached(first), `n${i}: the first invoke runs`);
    const again = invoke(i, 'a');
    assert.ok(cached(again), `n${i} answers from its cache: ${JSON.stringify(again).slice(0, 600)}`);
    assert.deepStrictEqual(again.response.result, first.response.result);
  }
  // Same revision and parameters after the update: only the invalidation can drop a's
  // entries. n2 learns of it from the controller's event stream.
  putPackage([{ key: 'touched', value: true }]);
  await sleep(1500);
  for (const i of [2, 1]) {
    // Another token's answer is kept again for the re-resolved action...
    assert.ok(!cached(invoke(i, 'b')));
    assert.ok(cached(invoke(i, 'b')), `n${i}: cached again after the update`);
    // ...but what was kept before the update is gone.
    assert.ok(!cached(invoke(i, 'a')), `n${i}: the entry made before the update is gone`);
  }
});

run();
