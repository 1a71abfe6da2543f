// SPDX-License-Identifier: Apache-2.0
// Streaming web actions on a node started with XWHISK_ACCEL_ANSWER=0: what a node does
// where the verifier refuses accel_answer (docs/EBPF.md, "Answers by sk_msg"). The client's
// bytes still go straight into the sandbox's socket (sock_msg is on); the answer goes by
// TCP to the node's socket and on by sock_accel's verdict, whole and in order, small or
// 64 MB, and after a client's half-close; nothing is counted as sent straight.
'use strict';
const crypto = require('crypto');
const http = require('http');
const { test, run, assert } = require('./lib/harness');
const dp = require('./lib/dp');
const { putAction, waitRecord } = dp;

const NSN = 'dpstcp';
const ns = dp.namespacedSystem(NSN, {
  split: true,
  env: { XWHISK_PREWARM: 'nodejs:20=1,python:3=0', XWHISK_WORKERS: '1', XWHISK_ACCEL_ANSWER: '0' },
});
const { sys, opts } = ns;
const WEB = `/api/v1/web/${NSN}/default`;
const MB = 1 << 20;

// GET ?mb=N: N MB, the k-th 64 KB piece filled with k % 251 (order shows); any other
// request: the SHA-256 and length of its body.
const CODE = `
const crypto = require('crypto');
function main(req, res) {
  const id = req.headers['x-ow-activation-id'];
  const mb = Number(new URL(req.url, 'http://sandbox').searchParams.get('mb') || 0);
  if (mb) {
    res.writeHead(200, { 'Content-Length': mb * 1048576, 'X-Activation': id });
    let k = 0;
    const pump = () => {
      while (k < mb * 16) if (!res.write(Buffer.alloc(65536, k++ % 251))) return res.once('drain', pump);
      res.end();
    };
    return pump();
  }
  const h = crypto.createHash('sha256');
  let n = 0;
  req.on('data', (c) => { h.update(c); n += c.length; });
  req.on('end', () => {
    res.writeHead(201, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ sha256: h.digest('hex'), bytes: n, id }));
  });
}`;

test.before(async () => {
  const annotations = [{ key: 'web-export', value: true }, { key: 'web-stream', value: true }];
  await putAction(sys, 'tcpans', { exec: { kind: 'nodejs:20', code: CODE }, annotations }, opts());
});

async function values() {
  return (await dp.metrics(sys.nodePort)).values;
}

const sha = (b) => crypto.createHash('sha256').update(b).digest('hex');

test('a 64 MB answer goes by TCP through the node, whole and in order; none of it straight', async () => {
  const before = await values();
  const got = await new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port: sys.nodePort, path: `${WEB}/tcpans?mb=64` }, (res) => {
      let n = 0;
      let bad = -1;
      res.on('data', (c) => {
        for (let i = 0; i < c.length && bad < 0; i += 4096) if (c[i] !== ((n + i) >> 16) % 251) bad = n + i;
        n += c.length;
      });
      res.on('end', () => resolve({ status: res.statusCode, n, bad, id: res.headers['x-activation'] }));
    });
    req.on('error', reject);
  });
  assert.strictEqual(got.status, 200);
  assert.strictEqual(got.n, 64 * MB);
  assert.strictEqual(got.bad, -1, `byte ${got.bad} is out of order`);
  const rec = await waitRecord(sys, got.id, opts());
  const res = rec.response.result;
  assert.strictEqual(rec.response.status, 'success', JSON.stringify(rec.response));
  // the action's server keeps the connection: the session ends when the client leaves it
  assert.ok(['complete', 'client closed'].includes(res.end), JSON.stringify(res));
  assert.strictEqual(res.splice, 'sock_accel', JSON.stringify(res));
  assert.ok(res.bytesOut > 64 * MB, JSON.stringify(res));
  const after = await values();
  const straight = (m) => m.get('xwhisk_sock_accel_bytes_total{verdict="msg"}') || 0;
  assert.strictEqual(straight(after) - straight(before), 0, 'no byte went by accel_answer');
  assert.strictEqual(after.get('xwhisk_stream_answer_direct_total') || 0, 0);
  // By the verdict (pass), or held while the client was behind and sent on by the node.
  const byTcp = (m) => ['pass', 'held', 'full'].reduce((n, v) => n + (m.get(`xwhisk_sock_accel_bytes_total{verdict="${v}"}`) || 0), 0);
  assert.ok(byTcp(after) - byTcp(before) >= 64 * MB, `${byTcp(after) - byTcp(before)} bytes by the verdict`);
});

test('uploads small and large, one after a half-close: every answer comes back by TCP', async () => {
  for (const size of [5, 3 * MB]) {
    const body = crypto.randomBytes(size);
    const r = await new Promise((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: sys.nodePort, method: 'PUT', path: `${WEB}/tcpans` }, (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode, text: Buffer.concat(chunks).toString() }));
      });
      req.on('error', reject);
      req.end(body);
    });
    assert.strictEqual(r.status, 201, r.text);
    assert.deepStrictEqual(JSON.parse(r.text).sha256, sha(body), r.text);
    assert.strictEqual(JSON.parse(r.text).bytes, size, r.text);
  }
  const body = crypto.randomBytes(MB);
  const text = await dp.halfClose(sys.nodePort, `PUT ${WEB}/tcpans HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n`, body);
  assert.ok(text.startsWith('HTTP/1.1 201'), text.slice(0, 200));
  const json = JSON.parse(dp.dechunk(text.slice(text.indexOf('\r\n\r\n') + 4)));
  assert.strictEqual(json.bytes, body.length);
  assert.strictEqual(json.sha256, sha(body));
  const rec = await waitRecord(sys, json.id, opts());
  assert.strictEqual(rec.response.result.end, 'complete', JSON.stringify(rec.response));
  assert.strictEqual((await values()).get('xwhisk_stream_answer_direct_total') || 0, 0);
});

run();
