// SPDX-License-Identifier: Apache-2.0
// Runs straight to the Node.js loop (docs/SANDBOXES.md, "Runs straight to the loop"): a
// warm nodejs sandbox answers /run on its run port (the runtime port + 2) with no
// xwhisk-proxy on the way, and what the action writes still lands in its record as the
// proxy would have put it there: init output joined to the first run, both streams in
// order, partial lines, what a logger writes to the descriptors itself, the lines of a run
// that timed out or whose process died.
'use strict';
const http = require('http');
const net = require('net');
const { test, run, assert } = require('./lib/harness');
const dp = require('./lib/dp');
const { checkLogs, invoke, invokeOk, putAction } = dp;

const NSN = 'dpdirect';
const ns = dp.namespacedSystem(NSN, { env: { XWHISK_PREWARM: 'nodejs:20=1,python:3=0' } });
const { sys, opts } = ns;

const CODE = `
console.log('loaded at init');
async function main(p) {
  if (p.ms) await new Promise((r) => setTimeout(r, p.ms));
  if (p.exit) { console.log('about to exit'); process.exit(3); }
  console.log('out one');
  console.error('err one');
  process.stdout.write('a partial ');
  process.stdout.write('line\\n');
  console.log('two\\nlines');
  require('fs').writeSync(2, 'a logger writing to fd 2\\n');
  process.stdout.write('no newline at the end');
  return { ok: true };
}`;

const SLOW = `
async function main(p) {
  console.log('before the wait');
  console.error('also before');
  await new Promise((r) => setTimeout(r, p.ms));
  return { slept: p.ms };
}`;

function slotOf(name) {
  const used = dp.slotsInUse(sys).filter((s) => s.state === dp.SLOT_STATE.WARM);
  return used.map((s) => ({ ...s, host: s.addr.map(Number).join('.') }));
}

function texts(logs) {
  return checkLogs(logs).map((l) => `${l.stream}: ${l.text}`);
}

// POST to the sandbox's run port from here, as the node would.
function post(host, port, path, body, headers = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host, port, path, method: 'POST', headers: { 'Content-Type': 'application/json', ...headers } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c) => { text += c; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

let nodeSlot;

test('a warm nodejs sandbox takes runs on the runtime port + 2; python keeps the proxy\'s', async () => {
  await putAction(sys, 'direct', { exec: { kind: 'nodejs:20', code: CODE }, limits: { concurrency: 1, timeout: 5000 } }, opts());
  await invokeOk(sys, 'direct', {}, opts());
  const nodeSlots = slotOf();
  assert.strictEqual(nodeSlots.length, 1, JSON.stringify(nodeSlots));
  nodeSlot = nodeSlots[0];
  await putAction(sys, 'py', { exec: { kind: 'python:3', code: 'def main(args):\n    print("py line")\n    return {"ok": True}\n' } }, opts());
  const py = await invokeOk(sys, 'py', {}, opts());
  assert.deepStrictEqual(texts(py.logs), ['stdout: py line'], JSON.stringify(py.logs));
  const pySlot = slotOf().find((s) => s.slot !== nodeSlot.slot);
  assert.ok(pySlot, JSON.stringify(slotOf()));
  assert.strictEqual(nodeSlot.port, pySlot.port + 2, `nodejs ${nodeSlot.port}, python ${pySlot.port}`);
});

test('logs: init output joins the first run; streams, partial and split lines as written', async () => {
  await putAction(sys, 'fresh', { exec: { kind: 'nodejs:20', code: CODE } }, opts());
  const first = await invokeOk(sys, 'fresh', {}, opts());
  const want = ['stdout: out one', 'stderr: err one', 'stdout: a partial line', 'stdout: two', 'stdout: lines',
    'stderr: a logger writing to fd 2', 'stdout: no newline at the end'];
  assert.deepStrictEqual(texts(first.logs), ['stdout: loaded at init', ...want], JSON.stringify(first.logs));
  const second = await invokeOk(sys, 'fresh', {}, opts());
  assert.deepStrictEqual(texts(second.logs), want, JSON.stringify(second.logs));
  assert.ok(!second.annotations.some((a) => a.key === 'initTime'), 'the second run was warm');
});

test('the run port refuses as the proxy does: bad body 400, bad value 400, other paths 500, over the concurrency 429', async () => {
  const { host, port } = nodeSlot;
  const logs = { 'X-Xwhisk-Logs': '65536' };
  const bad = await post(host, port, '/run', '{not json', logs);
  assert.strictEqual(bad.status, 400, bad.text);
  assert.deepStrictEqual(JSON.parse(bad.text), { error: 'Bad request.' });
  const scalar = await post(host, port, '/run', '{"value":5}', logs);
  assert.strictEqual(scalar.status, 400, scalar.text);
  assert.deepStrictEqual(JSON.parse(scalar.text), { error: 'The action did not receive a dictionary or array as an argument.' });
  const other = await post(host, port, '/init', '{}', logs);
  assert.strictEqual(other.status, 500, other.text);
  // Concurrency 1: a second run while one sleeps is refused, and the first still answers.
  const slow = post(host, port, '/run', '{"value":{"ms":800}}', logs);
  await new Promise((r) => setTimeout(r, 200));
  const busy = await post(host, port, '/run', '{"value":{}}', logs);
  assert.strictEqual(busy.status, 429, busy.text);
  assert.strictEqual(busy.headers['retry-after'], '1');
  assert.match(JSON.parse(busy.text).error, /^Too many concurrent requests in flight \(count: 1, allowed: 1\)\.$/);
  const done = await slow;
  assert.strictEqual(done.status, 200, done.text);
  const n = Number(done.headers['x-xwhisk-logs']);
  assert.ok(n > 0, JSON.stringify(done.headers));
  assert.deepStrictEqual(JSON.parse(done.text.slice(n)), { ok: true });
  assert.match(done.text.slice(0, n).split('\n')[0], /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z stdout: out one$/);
});

test('a client gone before its body was whole takes no room: the next run is served', async () => {
  const { host, port } = nodeSlot;
  await new Promise((resolve, reject) => {
    const s = net.connect({ host, port }, () => {
      s.write('POST /run HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"value":');
      setTimeout(() => { s.destroy(); resolve(); }, 100);
    });
    s.on('error', reject);
  });
  await new Promise((r) => setTimeout(r, 100));
  const r = await post(host, port, '/run', '{"value":{}}', { 'X-Xwhisk-Logs': '65536' });
  assert.strictEqual(r.status, 200, r.text); // the action's concurrency is 1
});

test('a run past its time limit keeps the lines it wrote before (they leave the loop before the deadline)', async () => {
  await putAction(sys, 'slow', { exec: { kind: 'nodejs:20', code: SLOW }, limits: { timeout: 1000 } }, opts());
  await invokeOk(sys, 'slow', { ms: 1 }, opts());
  const r = await invoke(sys, 'slow', { ms: 5000 }, opts());
  assert.strictEqual(r.status, 502, r.text);
  assert.deepStrictEqual(r.json.response.result, { error: 'The action exceeded its time limits of 1000 milliseconds.' });
  const t = texts(r.json.logs);
  assert.ok(t.includes('stdout: before the wait') && t.includes('stderr: also before'), JSON.stringify(r.json.logs));
  const next = await invokeOk(sys, 'slow', { ms: 1 }, opts());
  assert.deepStrictEqual(next.response.result, { slept: 1 });
});

test('a loop that exits mid-run: developer error, "exited unexpectedly", its lines kept; the next invoke works', async () => {
  const r = await invoke(sys, 'direct', { exit: true }, opts());
  assert.strictEqual(r.status, 502, r.text);
  assert.deepStrictEqual(r.json.response.result, { error: 'The action did not produce a valid response and exited unexpectedly.' });
  assert.ok(texts(r.json.logs).includes('stdout: about to exit'), JSON.stringify(r.json.logs));
  const next = await invokeOk(sys, 'direct', {}, opts());
  assert.deepStrictEqual(next.response.result, { ok: true });
});

run();
