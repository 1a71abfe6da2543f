// SPDX-License-Identifier: Apache-2.0
// Authentication before a large body (issue 11, item 2): a client that announces a 50 MB
// body with bad or no credentials and sends part of it (as one that sends all but its
// last byte would) is answered 401 at its head, with OpenWhisk's error, by the node and by
// the controller, and neither holds its body: 16 such connections leave their RSS where
// it was. Before, each held what it had sent, up to the body memory cap (twice 52 MB per
// node worker), and nothing was answered before the whole body.
'use strict';
const net = require('net');
const fs = require('fs');
const { systemPerFile, test, run, assert, request, sleep, GUEST_AUTH } = require('./lib/harness');
const { NS } = require('./lib/api');

const sys = systemPerFile({ split: true });
const DECLARED = 50 << 20;
const CHUNK = Buffer.alloc(256 << 10, 'x');
// A well-formed credential nobody has: the node must ask the controller about it.
const UNKNOWN = '11111111-2222-3333-4444-555555555555:' + 'k'.repeat(64);

function rssMb(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Math.round(Number(m[1]) / 1024);
}

// Announces DECLARED bytes and sends SENT of them (less than the 4 MB a server drains after
// refusing a body: a client that sends more, without reading, may be reset before it
// reads the answer), then waits for the answer until waitMs pass. Resolves with the
// answer (status, error text, ms to the answer) and the socket, still open.
const SENT = 3.5 * (1 << 20);
// path and authorization (a whole header value) replace the action PUT and Basic auth.
function pin(port, auth, waitMs = 8000, { path = `${NS}/guest/actions/pinned`, authorization } = {}) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    const started = Date.now();
    let sent = 0;
    let got = Buffer.alloc(0);
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      const text = got.toString();
      const status = Number((/^HTTP\/1\.1 (\d+)/.exec(text) || [])[1] || 0);
      const body = text.slice(text.indexOf('\r\n\r\n') + 4);
      let json;
      try {
        json = JSON.parse(body);
      } catch (e) {
        json = undefined;
      }
      resolve({ socket: s, status, json, ms: Date.now() - started, sent });
    };
    const timer = setTimeout(finish, waitMs);
    const pump = () => {
      while (!done && !got.length && sent < SENT) {
        const n = Math.min(CHUNK.length, SENT - sent);
        sent += n;
        if (!s.write(CHUNK.subarray(0, n))) return;
      }
    };
    s.on('connect', () => {
      const authz = authorization !== undefined ? `Authorization: ${authorization}\r\n`
        : auth === null ? '' : `Authorization: Basic ${Buffer.from(auth).toString('base64')}\r\n`;
      s.write(`${path.startsWith('/internal/') ? 'POST' : 'PUT'} ${path} HTTP/1.1\r\nHost: x\r\n${authz}` +
        `Content-Type: application/json\r\nContent-Length: ${DECLARED}\r\n\r\n`);
      pump();
    });
    s.on('drain', pump);
    s.on('data', (d) => {
      got = Buffer.concat([got, d]);
      if (got.indexOf('\r\n\r\n') >= 0 && /\}\s*$/.test(got.toString())) finish();
    });
    s.on('error', finish); // reset once the server stopped draining
    s.on('close', finish);
  });
}

function expect401(r, text, what) {
  assert.strictEqual(r.status, 401, `${what}: status ${r.status} after ${r.sent} bytes`);
  assert.ok(r.json && r.json.error === text, `${what}: ${JSON.stringify(r.json)}`);
  assert.ok(typeof r.json.code === 'string' && r.json.code.length > 0, what);
  // At once: not after a body's worth of bytes.
  assert.ok(r.ms < 3000, `${what}: the 401 took ${r.ms} ms`);
}

test('bad, unknown or no credentials with a 50 MB body: 401 at the head, node and controller', async () => {
  for (const [port, where] of [[sys.nodePort, 'node'], [sys.controllerPort, 'controller']]) {
    for (const [auth, text] of [
      [GUEST_AUTH.replace(/.$/, 'Q'), 'The supplied authentication is invalid'],
      [UNKNOWN, 'The supplied authentication is invalid'],
      [null, 'The resource requires authentication, which was not supplied with the request'],
    ]) {
      const r = await pin(port, auth);
      r.socket.destroy();
      expect401(r, text, `${where}, ${auth === null ? 'no' : auth === UNKNOWN ? 'an unknown' : 'a bad'} key`);
    }
  }
});

test("the controller's internal API: without the nodes' token a 50 MB body is refused at the head", async () => {
  for (const [authorization, what] of [['', 'no token'], ['Bearer not-the-node-token', 'a wrong token'],
    [`Basic ${Buffer.from(GUEST_AUTH).toString('base64')}`, "a user's key"]]) {
    const r = await pin(sys.controllerPort, null, 8000, { path: '/internal/v1/activations', authorization });
    r.socket.destroy();
    expect401(r, 'The supplied authentication is invalid', `internal, ${what}`);
  }
});

test('16 connections with a bad key and a 50 MB body do not grow RSS', async () => {
  const pids = { node: sys.procs.node.pid, controller: sys.procs.controller.pid };
  for (const [port, where] of [[sys.nodePort, 'node'], [sys.controllerPort, 'controller']]) {
    const before = rssMb(pids[where]);
    const conns = await Promise.all(Array.from({ length: 16 }, () => pin(port, UNKNOWN)));
    await sleep(200);
    const after = rssMb(pids[where]);
    for (const c of conns) c.socket.destroy();
    console.log(`# ${where}: RSS ${before} MB before, ${after} MB with 16 pinning connections`);
    for (const c of conns) expect401(c, 'The supplied authentication is invalid', where);
    assert.ok(after - before < 8, `${where}: RSS grew from ${before} to ${after} MB`);
  }
});

test('a good key still uploads a large action, through the node and to the controller', async () => {
  const code = `function main() { return { ok: true }; }\n//${'x'.repeat(3 << 20)}`;
  const raw = Buffer.from(JSON.stringify({ exec: { kind: 'nodejs:20', code } }));
  for (const [port, name] of [[sys.nodePort, 'big-node'], [sys.controllerPort, 'big-ctl']]) {
    const r = await request(port, 'PUT', `${NS}/guest/actions/${name}`, {
      auth: GUEST_AUTH,
      raw,
      headers: { 'Content-Type': 'application/json' },
    });
    assert.strictEqual(r.status, 200, r.text.slice(0, 300));
    assert.strictEqual(r.json.exec.code.length, code.length);
  }
  // A chunked upload announces no length: looked at as a large one.
  const chunked = await new Promise((resolve, reject) => {
    const http = require('http');
    const req = http.request({
      host: '127.0.0.1', port: sys.nodePort, method: 'PUT', path: `${NS}/guest/actions/big-chunked`,
      headers: { 'Content-Type': 'application/json', Authorization: 'Basic ' + Buffer.from(GUEST_AUTH).toString('base64') },
    }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('error', reject);
    req.write(raw.subarray(0, 1000));
    req.end(raw.subarray(1000));
  });
  assert.strictEqual(chunked, 200);
});

run();
