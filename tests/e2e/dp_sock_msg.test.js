// SPDX-License-Identifier: Apache-2.0
// Issue 10, sock_accel on the invoke path: by default (XWHISK_SOCK_MSG unset) the bytes of /run between
// a worker's pooled connection and its sandbox's runtime go by sk_msg redirect
// (bpf/sock_msg_redirect.bpf.c; the sandbox's end enters msg_socks through
// bpf/sockops_msg.bpf.c, the node's once the connection is first idle). Nothing an action
// sees or a record says may change: results, logs, concurrent runs, large bodies, a runtime
// that dies mid-run.
'use strict';
const { test, run, assert } = require('./lib/harness');
const dp = require('./lib/dp');
const { checkLogs, invokeOk, putAction } = dp;

// XWHISK_SOCK_MSG is left out: what a node does by default (dp_network.test.js has it off).
const ns = dp.namespacedSystem('dpskmsg', { env: { XWHISK_PREWARM: '' } });
const { sys, opts } = ns;

const ECHO = `function main(a) {
  console.log('run', a.i);
  if (a.exit) process.exit(3);
  return new Promise((r) => setTimeout(() => r({ i: a.i, pad: a.pad ? a.pad.length : 0 }), a.ms || 0));
}`;

async function msgCounters() {
  const m = (await dp.metrics(sys.nodePort)).values;
  return {
    attached: m.get('xwhisk_sock_msg_attached'),
    redirected: m.get('xwhisk_sock_msg_msgs_total{verdict="redirected"}') || 0,
    bytes: m.get('xwhisk_sock_msg_bytes_total{verdict="redirected"}') || 0,
    addFailures: m.get('xwhisk_sock_msg_add_failures_total'),
  };
}

test('invokes in a row: results and logs as ever, the /run bytes redirected', async () => {
  await putAction(sys, 'echo', { exec: { kind: 'nodejs:20', code: ECHO }, limits: { concurrency: 8 } }, opts());
  await invokeOk(sys, 'echo', { i: 0 }, opts()); // the cold start; the connection joins when idle
  const before = await msgCounters();
  assert.strictEqual(before.attached, 1);
  const N = 30;
  for (let i = 1; i <= N; i++) {
    const rec = await invokeOk(sys, 'echo', { i }, opts());
    assert.deepStrictEqual(rec.response.result, { i, pad: 0 });
    assert.deepStrictEqual(checkLogs(rec.logs).map((l) => l.text), [`run ${i}`]);
  }
  const after = await msgCounters();
  // each /run and its answer: two messages (an answer may take more than one)
  assert.ok(after.redirected - before.redirected >= 2 * N, `${after.redirected - before.redirected} redirected for ${N} runs`);
  assert.strictEqual(after.addFailures, 0, 'every pooled connection entered msg_socks');
});

test('concurrent runs on several pooled connections, and a 1 MB /run', async () => {
  const results = await Promise.all(Array.from({ length: 8 }, (_, k) =>
    invokeOk(sys, 'echo', { i: 100 + k, ms: 200 }, opts())));
  // (runs that overlap in one sandbox share its output: each line is in one of their records)
  const lines = [];
  results.forEach((rec, k) => {
    assert.deepStrictEqual(rec.response.result, { i: 100 + k, pad: 0 });
    lines.push(...checkLogs(rec.logs).map((l) => l.text));
  });
  assert.deepStrictEqual(lines.sort(), Array.from({ length: 8 }, (_, k) => `run ${100 + k}`));
  const before = await msgCounters();
  const pad = 'x'.repeat(1000 * 1000); // under the 1 MB payload limit
  for (let k = 0; k < 3; k++) {
    const rec = await invokeOk(sys, 'echo', { i: 200 + k, pad }, opts());
    assert.deepStrictEqual(rec.response.result, { i: 200 + k, pad: pad.length });
  }
  const after = await msgCounters();
  assert.ok(after.bytes - before.bytes > 3 * pad.length, `${after.bytes - before.bytes} bytes redirected`);
});

test('a runtime that dies mid-run: a developer error, and the next invoke is served', async () => {
  const rec = await invokeOk(sys, 'echo', { i: 300, exit: true }, { ...opts(), status: 502 });
  assert.strictEqual(rec.response.status, 'action developer error');
  for (let i = 301; i <= 303; i++) {
    const ok = await invokeOk(sys, 'echo', { i }, opts());
    assert.deepStrictEqual(ok.response.result, { i, pad: 0 });
  }
});

run();
