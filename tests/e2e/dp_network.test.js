// SPDX-License-Identifier: Apache-2.0
// What an action reaches from its sandbox (sandbox_tc on its veth): the node's API through
// __OW_API_HOST, and nothing else of the host: a server listening on every address of the
// node is out of reach, and the drop is counted on /metrics by reason. This node has
// XWHISK_SOCK_MSG=0, as an operator who wants every /run seen on the veth would: /run goes
// by TCP (the default, sk_msg redirect, is dp_sock_msg.test.js's).
'use strict';
const net = require('net');
const { test, run, assert } = require('./lib/harness');
const dp = require('./lib/dp');
const { putAction } = dp;

const NSN = 'dpnet';
const ns = dp.namespacedSystem(NSN, { env: { XWHISK_PREWARM: '', XWHISK_SOCK_MSG: '0' } });
const { sys, opts } = ns;

// Tries a TCP connection from inside the action: "connected", or why not.
const probe = `
const net = require('net');
function main(p) {
  return new Promise((resolve) => {
    const s = net.connect({ host: p.host, port: p.port });
    const done = (r) => { s.destroy(); resolve({ r }); };
    s.setTimeout(1500, () => done('timeout'));
    s.on('connect', () => done('connected'));
    s.on('error', (e) => done(e.code));
  });
}`;

// GETs the API's root through __OW_API_HOST, as an action using the openwhisk client would.
const api = `
const http = require('http');
function main() {
  return new Promise((resolve) => {
    const host = process.env.__OW_API_HOST;
    http.get(host + '/api/v1', (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ host, status: res.statusCode, body }));
    }).on('error', (e) => resolve({ host, error: e.code }));
  });
}`;

test.before(async () => {
  await putAction(sys, 'probe', { exec: { kind: 'nodejs:20', code: probe } }, opts());
  await putAction(sys, 'api', { exec: { kind: 'nodejs:20', code: api } }, opts());
});

test('an action reaches the node API through __OW_API_HOST', async () => {
  const r = await dp.invokeOk(sys, 'api', {}, { ...opts(), result: true });
  assert.match(r.host, /^http:\/\/\d+\.\d+\.\d+\.\d+:\d+$/, JSON.stringify(r));
  assert.strictEqual(r.status, 200, JSON.stringify(r));
  assert.ok(JSON.parse(r.body).api_paths || JSON.parse(r.body).description, r.body);
});

test('a server on every address of the host is out of reach; the drop is counted', async () => {
  const server = net.createServer((s) => s.end());
  await new Promise((resolve) => server.listen(0, '0.0.0.0', resolve));
  try {
    const gateway = new URL((await dp.invokeOk(sys, 'api', {}, { ...opts(), result: true })).host).hostname;
    const before = (await dp.metrics(sys.nodePort)).values.get('xwhisk_sandbox_net_drops_total{reason="host"}') || 0;
    const r = await dp.invokeOk(sys, 'probe', { host: gateway, port: server.address().port }, { ...opts(), result: true });
    assert.notStrictEqual(r.r, 'connected', JSON.stringify(r));
    await dp.eventually(async () =>
      ((await dp.metrics(sys.nodePort)).values.get('xwhisk_sandbox_net_drops_total{reason="host"}') || 0) > before,
    { what: 'a counted host drop' });
    // The positive control: the same probe reaches the node's own ingress port.
    const ok = await dp.invokeOk(sys, 'probe', { host: gateway, port: sys.nodePort }, { ...opts(), result: true });
    assert.strictEqual(ok.r, 'connected', JSON.stringify(ok));
  } finally {
    server.close();
  }
});

test('with XWHISK_SOCK_MSG=0 no /run byte is redirected', async () => {
  for (let i = 0; i < 3; i++) await dp.invokeOk(sys, 'api', {}, { ...opts(), result: true });
  const m = (await dp.metrics(sys.nodePort)).values;
  assert.strictEqual(m.get('xwhisk_sock_msg_attached'), 0);
  assert.ok(!m.get('xwhisk_sock_msg_msgs_total{verdict="redirected"}'), 'nothing redirected');
});

run();
