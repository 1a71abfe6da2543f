// SPDX-License-Identifier: Apache-2.0
// The controller keeps answering while a large action is written (issue 11, item 5): a
// ~45 MB exec PUT is parsed, and its answer dumped, off the controller's loop, so that
// management calls made meanwhile answer in a small part of the PUT's time. (Only the
// store's durable write of the document is still on the loop.)
'use strict';
const { systemPerFile, test, run, assert, sleep, request, GUEST_AUTH } = require('./lib/harness');
const { NS } = require('./lib/api');

const sys = systemPerFile();
const ctl = (method, path, opts = {}) => request(sys.controllerPort, method, path, { auth: GUEST_AUTH, ...opts });

test('GET calls answer quickly while a 45 MB action PUT is in flight', async () => {
  const code = `function main() { return { ok: true }; }\n//${'x'.repeat(45 << 20)}`;
  const raw = Buffer.from(JSON.stringify({ exec: { kind: 'nodejs:20', code } }));
  const started = Date.now();
  let ended = 0;
  const put = ctl('PUT', `${NS}/guest/actions/big?overwrite=true`, {
    raw,
    headers: { 'Content-Type': 'application/json' },
  }).then((r) => {
    ended = Date.now();
    return r;
  });
  const latencies = [];
  while (!ended) {
    const t = Date.now();
    const r = await ctl('GET', `${NS}/guest/actions?limit=1`);
    assert.strictEqual(r.status, 200, r.text);
    if (!ended) latencies.push(Date.now() - t);
    if (process.env.DEBUG && Date.now() - t > 300) console.log(`# slow GET at ${t - started} ms: ${Date.now() - t} ms`);
    await sleep(50);
  }
  const r = await put;
  assert.strictEqual(r.status, 200, r.text.slice(0, 300));
  assert.strictEqual(r.json.exec.code.length, code.length);
  const took = ended - started;
  const worst = Math.max(...latencies);
  console.log(`# PUT of ${raw.length} bytes: ${took} ms; ${latencies.length} GETs meanwhile, the slowest ${worst} ms`);
  assert.ok(latencies.length >= 3, `only ${latencies.length} GETs during a ${took} ms PUT`);
  // Generous: the loop once stalled for most of the PUT (parse, checks, dump, store
  // write, the answer's dump, all inline); the durable store write is all that is left.
  assert.ok(worst < took / 2, `a GET took ${worst} ms during a ${took} ms PUT`);
  // Read back whole: a reply that large is dumped off the loop as well.
  const got = await ctl('GET', `${NS}/guest/actions/big`);
  assert.strictEqual(got.status, 200, got.text.slice(0, 300));
  assert.strictEqual(got.json.exec.code, code);
  assert.strictEqual(got.headers['x-request-id'].length > 0, true);
});

run();
