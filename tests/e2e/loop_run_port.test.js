// SPDX-License-Identifier: Apache-2.0
// The Node.js loop's own /run server (userspace/runtimes/nodejs/loop.js, serveRuns), alone
// on a loopback port, driven as the node drives it: the limits and error paths that a
// whole system cannot reach or would hide (the node retires a sandbox after a developer
// error, and always asks for its logs). dp_direct_run.test.js covers the rest in a system.
'use strict';
const { spawn } = require('child_process');
const http = require('http');
const net = require('net');
const path = require('path');
const { test, run, assert } = require('./lib/harness');

const LOOP = path.join(__dirname, '../../userspace/runtimes/nodejs/loop.js');
const STAMPED = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z (stdout|stderr): (.*)$/;

const CODE = `
function main(p) {
  if (p.lines) for (let i = 0; i < p.lines; i++) console.log('line ' + i + ' ' + 'x'.repeat(40));
  if (p.throw) throw new Error('boom');
  if (p.big) return { n: 10n };
  return { ok: true };
}`;

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

let loop, port, piped = '';

function post(body, headers = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: '/run', method: 'POST', headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c) => { text += c; });
      res.on('end', () => {
        const n = res.headers['x-xwhisk-logs'];
        const logs = n === undefined ? undefined : text.slice(0, Number(n)).split('\n').filter(Boolean);
        resolve({ status: res.statusCode, logs, body: JSON.parse(n === undefined ? text : text.slice(Number(n))) });
      });
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

test.before(async () => {
  port = await freePort();
  loop = spawn(process.execPath, [LOOP], { stdio: ['pipe', 'pipe', 'pipe', 'pipe'] });
  loop.stdout.on('data', (d) => { piped += d; });
  loop.stderr.on('data', (d) => { piped += d; });
  const answers = [];
  loop.stdio[3].on('data', (d) => answers.push(...String(d).split('\n').filter(Boolean)));
  const until = async (fn) => { while (!answers.some(fn)) await new Promise((r) => setTimeout(r, 10)); };
  await until((l) => l.includes('"concurrent"'));
  loop.stdin.write(JSON.stringify({ init: { main: 'main', binary: false, code: CODE, dir: '/tmp', env: {},
    run_port: port, logs: 1 << 20, concurrency: 1 } }) + '\n');
  await until((l) => l.includes('run_port'));
});

test.after(() => loop.kill());

test('logs in band cut at the limit with OpenWhisk\'s note; limit 0 keeps none', async () => {
  const all = await post({ value: { lines: 3 } }, { 'X-Xwhisk-Logs': '65536' });
  assert.strictEqual(all.status, 200);
  assert.deepStrictEqual(all.logs.map((l) => l.match(STAMPED)[2].slice(0, 6)), ['line 0', 'line 1', 'line 2']);
  const cut = await post({ value: { lines: 10 } }, { 'X-Xwhisk-Logs': '200' });
  assert.strictEqual(cut.logs.length, 3, JSON.stringify(cut.logs)); // two lines of about 90 bytes, then the note
  assert.strictEqual(cut.logs[2].match(STAMPED)[2],
    'Logs were truncated because the total bytes size exceeds the limit of 200 bytes.');
  const none = await post({ value: { lines: 2 } }, { 'X-Xwhisk-Logs': '0' });
  assert.deepStrictEqual(none.logs, []);
  assert.deepStrictEqual(none.body, { ok: true });
});

test('a run that did not ask for its logs: none in band, its lines and the sentinels on the pipes', async () => {
  piped = '';
  const r = await post({ value: { lines: 1 } });
  assert.strictEqual(r.logs, undefined);
  await new Promise((r2) => setTimeout(r2, 100));
  assert.match(piped, /^line 0 x+\nXXX_THE_END_OF_A_WHISK_ACTIVATION_XXX\nXXX_THE_END_OF_A_WHISK_ACTIVATION_XXX\n$/);
});

test('a result JSON cannot hold is a 502 naming why', async () => {
  const r = await post({ value: { big: true } }, { 'X-Xwhisk-Logs': '65536' });
  assert.strictEqual(r.status, 502);
  assert.match(r.body.error, /^An error has occurred: TypeError: .*BigInt/);
});

test('a thrown exception is a 502, and every run after it a 403 "status is stopped"', async () => {
  const r = await post({ value: { throw: true } }, { 'X-Xwhisk-Logs': '65536' });
  assert.strictEqual(r.status, 502);
  assert.deepStrictEqual(r.body, { error: 'An error has occurred: Error: boom' });
  assert.ok(r.logs.some((l) => /stderr: Error: boom/.test(l)), JSON.stringify(r.logs));
  const after = await post({ value: {} }, { 'X-Xwhisk-Logs': '65536' });
  assert.strictEqual(after.status, 403);
  assert.deepStrictEqual(after.body, { error: 'System not ready, status is stopped.' });
  assert.deepStrictEqual(after.logs, []);
});

run();
