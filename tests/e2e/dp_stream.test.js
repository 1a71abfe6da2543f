// SPDX-License-Identifier: Apache-2.0
// Streaming web actions (an xwhisk extension, docs/API.md): a Node.js action annotated
// web-stream is main(req, res) / upgrade(req, socket, head); the node splices the client's
// connection to it with sock_accel. A 200 MB upload answers its SHA-256 while the node's
// RSS stays flat; a 200 MB download streams back; small and chunked bodies; an Upgrade
// echoes raw bytes both ways; each request's record (status code, bytes, how it ended,
// logs); a session past the action's timeout is closed; a client that leaves frees the
// slot at once; a sandbox that does not read and a client that does not read stall nothing
// else on the node (one worker) nor grow its memory, and the kernel holds a bounded part of
// the stream for them (docs/EBPF.md, "A slow reader"); a client that stops reading after
// the action hung up costs the node no CPU while the rest waits; a sandbox that dies
// mid-stream closes the client's connection with a record that says so; a client that
// half-closes after its upload, or after the action hung up while its answer still
// waited, still gets the whole answer. Bad input: an Upgrade to an
// ordinary web action stays an ordinary call, and a body over 1 MB to one gets the usual 413.
'use strict';
const crypto = require('crypto');
const fs = require('fs');
const http = require('http');
const net = require('net');
const path = require('path');
const WebSocket = require('ws');
const { test, run, assert, request } = require('./lib/harness');
const dp = require('./lib/dp');
const { putAction, waitRecord } = dp;

const NSN = 'dpstream';
// One worker: a stream that stalled it would stall every other request of the node.
const ns = dp.namespacedSystem(NSN, { split: true, env: { XWHISK_PREWARM: 'nodejs:20=2,python:3=0', XWHISK_WORKERS: '1' } });
const { sys, opts } = ns;
const WEB = `/api/v1/web/${NSN}/default`;
const MB = 1 << 20;

const STREAM_CODE = `
const crypto = require('crypto');
function main(req, res) {
  const id = req.headers['x-ow-activation-id'];
  const url = new URL(req.url, 'http://sandbox');
  if (url.pathname === '/download') {
    const total = Number(url.searchParams.get('mb')) * 1048576;
    // ?pattern=1: the k-th 64 KB piece is filled with k % 251, so order shows.
    const pattern = url.searchParams.get('pattern');
    const chunk = Buffer.alloc(65536, 7);
    let sent = 0;
    res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': total, 'X-Activation': id });
    const pump = () => {
      while (sent < total) {
        const piece = pattern ? Buffer.alloc(65536, (sent >> 16) % 251) : chunk;
        sent += piece.length;
        if (!res.write(piece)) return res.once('drain', pump);
      }
      res.end();
    };
    return pump();
  }
  if (url.pathname === '/die') {
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': 1000000 });
    res.write('dying ' + id + '\\n');
    return setTimeout(() => process.exit(3), 300);
  }
  if (url.pathname === '/hold') {
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    res.write('started ' + id + '\\n');
    return;
  }
  const h = crypto.createHash('sha256');
  let n = 0;
  // ?stall=MS: the body is not read for MS (the socket's window fills).
  const consume = () => {
    req.on('data', (c) => { h.update(c); n += c.length; });
    req.on('end', () => {
      console.log('upload of', n, 'bytes');
      res.writeHead(201, { 'Content-Type': 'application/json', 'X-Stream': 'yes' });
      res.end(JSON.stringify({ sha256: h.digest('hex'), bytes: n, method: req.method, url: req.url,
        id, user: req.headers['x-ow-user'] || null }));
    });
  };
  const stall = Number(url.searchParams.get('stall') || 0);
  if (stall) setTimeout(consume, stall); else consume();
}
function upgrade(req, socket, head) {
  socket.write('HTTP/1.1 101 Switching Protocols\\r\\nConnection: Upgrade\\r\\nUpgrade: echo\\r\\n' +
    'X-Activation: ' + req.headers['x-ow-activation-id'] + '\\r\\n\\r\\n');
  // ?mb=N: N MB of k % 251 per 64 KB piece, then the end; what the client sends is dropped.
  const mb = Number(new URL(req.url, 'http://sandbox').searchParams.get('mb') || 0);
  if (mb) {
    socket.resume();
    for (let k = 0; k < mb * 16; k++) socket.write(Buffer.alloc(65536, k % 251));
    return socket.end();
  }
  if (head.length) socket.write(head);
  socket.pipe(socket);
}`;

// native: the executable serves HTTP on $PORT.
const NATIVE_CODE = `#!/usr/bin/env python3
import os, http.server
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    def do_GET(self):
        body = ('native ' + self.path).encode()
        self.send_response(202)
        self.send_header('Content-Length', str(len(body)))
        self.send_header('Connection', 'close')
        self.send_header('X-Activation', self.headers.get('X-OW-Activation-Id', ''))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
http.server.HTTPServer(('0.0.0.0', int(os.environ['PORT'])), H).serve_forever()
`;

// native: a server that accepts a connection but reads nothing for 3 s, then answers the
// body's SHA-256 (one thread per connection).
const SLEEPY_CODE = `#!/usr/bin/env python3
import hashlib, os, socket, threading, time
def serve(c):
    try:
        time.sleep(3)
        f = c.makefile('rb')
        length, aid = 0, ''
        while True:
            line = f.readline()
            if line in (b'\\r\\n', b''):
                break
            k, _, v = line.decode().partition(':')
            if k.lower() == 'content-length':
                length = int(v)
            if k.lower() == 'x-ow-activation-id':
                aid = v.strip()
        h, n = hashlib.sha256(), 0
        while n < length:
            b = f.read(min(65536, length - n))
            if not b:
                break
            h.update(b)
            n += len(b)
        body = ('%s %d %s' % (h.hexdigest(), n, aid)).encode()
        c.sendall(b'HTTP/1.1 200 OK\\r\\nContent-Length: %d\\r\\nConnection: close\\r\\n\\r\\n' % len(body) + body)
    except OSError:
        pass
    c.close()
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(('0.0.0.0', int(os.environ['PORT'])))
srv.listen(16)
while True:
    threading.Thread(target=serve, args=(srv.accept()[0],), daemon=True).start()
`;

// Python: main is a WSGI callable; the body is read as it comes, the answer yielded piece
// by piece.
const WSGI_CODE = `
import hashlib, json, os
def main(environ, start_response):
    aid = environ.get('HTTP_X_OW_ACTIVATION_ID', '')
    if environ['PATH_INFO'] == '/download':
        total = int(environ['QUERY_STRING'].split('=')[1]) << 20
        start_response('200 OK', [('Content-Type', 'application/octet-stream'),
                                  ('Content-Length', str(total)), ('X-Activation', aid)])
        return (b'\\x07' * 65536 for _ in range(total // 65536))
    length = int(environ.get('CONTENT_LENGTH') or 0)
    h, n, body = hashlib.sha256(), 0, environ['wsgi.input']
    while n < length:
        piece = body.read(min(65536, length - n))
        if not piece:
            break
        h.update(piece)
        n += len(piece)
    print('wsgi upload of', n, 'bytes')
    out = json.dumps({'sha256': h.hexdigest(), 'bytes': n, 'method': environ['REQUEST_METHOD'],
                      'path': environ['PATH_INFO'], 'query': environ['QUERY_STRING'], 'id': aid}).encode()
    start_response('201 Created', [('Content-Type', 'application/json'), ('Content-Length', str(len(out)))])
    return [out]
`;

const PLAIN_CODE = 'function main(p) { return { method: p.__ow_method, upgrade: p.__ow_headers.upgrade || null } }';

// A zip action with the ws package, as a user would deploy it: main answers plain HTTP,
// upgrade hands WebSockets to ws and echoes every message.
const WS_INDEX = `
const { WebSocketServer } = require('ws');
const wss = new WebSocketServer({ noServer: true });
exports.main = (req, res) => { res.end('plain'); };
exports.upgrade = (req, socket, head) => {
  wss.handleUpgrade(req, socket, head, (ws) => {
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  });
};`;

function wsZip() {
  const dir = path.dirname(require.resolve('ws/package.json'));
  const files = { 'package.json': JSON.stringify({ main: 'index.js' }), 'index.js': WS_INDEX };
  for (const f of ['package.json', 'index.js', ...fs.readdirSync(path.join(dir, 'lib')).map((n) => `lib/${n}`)]) {
    files[`node_modules/ws/${f}`] = fs.readFileSync(path.join(dir, f));
  }
  return dp.zip(files).toString('base64');
}

test.before(async () => {
  const webExport = { key: 'web-export', value: true };
  const stream = { key: 'web-stream', value: true };
  const exec = { kind: 'nodejs:20', code: STREAM_CODE };
  await putAction(sys, 'sha', { exec, annotations: [webExport, stream] }, opts());
  await putAction(sys, 'holder', { exec, annotations: [webExport, stream], limits: { timeout: 60000 } }, opts());
  await putAction(sys, 'sleepy', { exec: { kind: 'native', code: SLEEPY_CODE }, annotations: [webExport, stream], limits: { logs: 0 } }, opts());
  await putAction(sys, 'bbnat', { exec: { kind: 'blackbox', image: 'openwhisk/dockerskeleton', code: NATIVE_CODE }, annotations: [webExport, stream], limits: { logs: 0 } }, opts());
  await putAction(sys, 'wsgi', { exec: { kind: 'python:3', code: WSGI_CODE }, annotations: [webExport, stream] }, opts());
  await putAction(sys, 'dier', { exec, annotations: [webExport, stream] }, opts());
  await putAction(sys, 'short', { exec, annotations: [webExport, stream], limits: { timeout: 2000 } }, opts());
  await putAction(sys, 'nat', { exec: { kind: 'native', code: NATIVE_CODE }, annotations: [webExport, stream], limits: { logs: 0 } }, opts());
  await putAction(sys, 'wsecho', { exec: { kind: 'nodejs:20', code: wsZip(), binary: true }, annotations: [webExport, stream] }, opts());
  await putAction(sys, 'plain', { exec: { kind: 'nodejs:20', code: PLAIN_CODE }, annotations: [webExport] }, opts());
});

// Bytes sock_accel counted under these verdicts (xwhisk_sock_accel_bytes_total), summed.
async function verdictBytes(...verdicts) {
  const m = (await dp.metrics(sys.nodePort)).values;
  return verdicts.reduce((n, v) => n + (m.get(`xwhisk_sock_accel_bytes_total{verdict="${v}"}`) || 0), 0);
}

function rssKb(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : 0;
}

// A streamed upload of total bytes (a pattern), with its SHA-256; resolves the answer.
function upload(path, total, { headers = {} } = {}) {
  return new Promise((resolve, reject) => {
    const hash = crypto.createHash('sha256');
    const req = http.request({
      host: '127.0.0.1', port: sys.nodePort, method: 'PUT', path,
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': total, ...headers },
    }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, text: Buffer.concat(chunks).toString(), sha256: hash.digest('hex') }));
    });
    req.on('error', reject);
    req.setTimeout(120000, () => req.destroy(new Error('upload timed out')));
    const chunk = Buffer.alloc(256 * 1024);
    let sent = 0;
    const pump = () => {
      while (sent < total) {
        const n = Math.min(chunk.length, total - sent);
        for (let i = 0; i < n; i += 4096) chunk.writeUInt32LE((sent + i) >>> 0, i);
        const piece = chunk.subarray(0, n);
        hash.update(piece);
        sent += n;
        if (!req.write(Buffer.from(piece))) return req.once('drain', pump);
      }
      req.end();
    };
    pump();
  });
}

test('a 200 MB upload streams to main(req, res) and answers its SHA-256; the node stays flat', async () => {
  // Warm the action first, so the node's growth is the stream's alone.
  const warm = await request(sys.nodePort, 'POST', `${WEB}/sha`, { raw: 'warm' });
  assert.strictEqual(warm.status, 201, warm.text);
  // The client's bytes go into the sandbox's socket, by the verdict or, held while the
  // action was behind, by the node's hand through sock_msg_redirect: none by TCP.
  const intoOrHeld = (m) => ['into', 'held', 'full'].reduce((n, v) => n + (m.get(`xwhisk_sock_accel_bytes_total{verdict="${v}"}`) || 0), 0);
  const into0 = intoOrHeld((await dp.metrics(sys.nodePort)).values);
  const before = rssKb(sys.nodePid);
  let peak = before;
  const probe = setInterval(() => { peak = Math.max(peak, rssKb(sys.nodePid)); }, 100);
  const r = await upload(`${WEB}/sha/some/path?x=1`, 200 * MB);
  clearInterval(probe);
  assert.strictEqual(r.status, 201, r.text);
  assert.strictEqual(r.headers['x-stream'], 'yes', 'headers are the action\'s own');
  const body = JSON.parse(r.text);
  assert.strictEqual(body.bytes, 200 * MB, r.text);
  assert.strictEqual(body.sha256, r.sha256, `every byte arrived, in order: ${r.text}`);
  assert.strictEqual(body.method, 'PUT', r.text);
  assert.strictEqual(body.url, '/some/path?x=1', 'the action sees the path after its name');
  assert.ok(peak - before < 20 * 1024, `node RSS grew by ${peak - before} kB`);
  const rec = await waitRecord(sys, body.id, opts());
  assert.strictEqual(rec.response.status, 'success', JSON.stringify(rec.response));
  const why = JSON.stringify(rec.response);
  const res = rec.response.result;
  assert.strictEqual(res.statusCode, 201, why);
  assert.strictEqual(res.bytesIn, 200 * MB, JSON.stringify(res));
  assert.ok(res.bytesOut > 100, JSON.stringify(res));
  assert.strictEqual(res.end, 'complete', why);
  assert.strictEqual(res.splice, 'sock_accel', `spliced by the kernel, not relayed: ${why}`);
  assert.ok(rec.end >= rec.start && rec.duration >= 0, 'start, end, duration');
  assert.ok((rec.logs || []).some((l) => l.includes(`upload of ${200 * MB} bytes`)), JSON.stringify(rec.logs));
  const m = (await dp.metrics(sys.nodePort)).values;
  assert.strictEqual(m.get('xwhisk_stream_accel'), res.splice === 'sock_accel' ? 1 : 0, 'the splice mode is on /metrics');
  assert.ok(m.get(`xwhisk_stream_sessions_total{mode="${res.splice === 'sock_accel' ? 'sock_accel' : 'relay'}"}`) >= 1);
  // The upload skipped TCP between the node and the sandbox (sock_msg is on by default):
  // at most the bytes read before the splice went another way.
  const into = intoOrHeld(m) - into0;
  assert.ok(into > 190 * MB, `${(into / MB).toFixed(1)} MB went straight into the sandbox's socket`);
  assert.ok(m.get('xwhisk_stream_into_sandbox_total') >= 1, 'the session is counted');
});

test('a 200 MB download streams back, straight from the action\'s socket to the client\'s', async () => {
  const before = (await dp.metrics(sys.nodePort)).values;
  const msg0 = await verdictBytes('msg');
  const got = await new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port: sys.nodePort, path: `${WEB}/sha/download?mb=200` }, (res) => {
      let n = 0;
      res.on('data', (c) => { n += c.length; });
      res.on('end', () => resolve({ status: res.statusCode, n, id: res.headers['x-activation'] }));
    });
    req.on('error', reject);
  });
  assert.strictEqual(got.status, 200);
  assert.strictEqual(got.n, 200 * MB);
  const rec = await waitRecord(sys, got.id, opts());
  assert.strictEqual(rec.response.result.statusCode, 200);
  assert.ok(rec.response.result.bytesOut > 200 * MB, JSON.stringify(rec.response.result));
  // By accel_answer (docs/EBPF.md, "Answers by sk_msg"): the status line by TCP, then
  // writes straight to the client's socket while it has room; once it had none, by TCP
  // until that way is empty again (a fast reader such as curl takes nearly all of it
  // straight, this client the first megabytes).
  const after = (await dp.metrics(sys.nodePort)).values;
  const straight = (await verdictBytes('msg')) - msg0;
  console.log(`# ${(straight / MB).toFixed(1)} MB went straight to the client`);
  assert.ok(straight >= MB, `${straight} bytes by sk_msg`);
  assert.ok(after.get('xwhisk_stream_answer_direct_total') > before.get('xwhisk_stream_answer_direct_total'));
  // The session ended before its record: its accel_answers entry is gone with it.
  assert.deepStrictEqual(dp.bpfDumpJson(sys, 'accel_answers'), [], 'no stream left in accel_answers');
});

test('small and chunked bodies are framed for the action; credentials tell who calls', async () => {
  const r = await request(sys.nodePort, 'POST', `${WEB}/sha`, { raw: 'hello', auth: ns.key });
  assert.strictEqual(r.status, 201, r.text);
  assert.strictEqual(r.json.sha256, crypto.createHash('sha256').update('hello').digest('hex'));
  assert.strictEqual(r.json.user, NSN);
  const chunked = await new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: sys.nodePort, method: 'POST', path: `${WEB}/sha`,
      headers: { 'Transfer-Encoding': 'chunked' } }, (res) => {
      const c = [];
      res.on('data', (d) => c.push(d));
      res.on('end', () => resolve({ status: res.statusCode, json: JSON.parse(Buffer.concat(c).toString()) }));
    });
    req.on('error', reject);
    req.write('abc');
    req.write('def');
    req.end();
  });
  assert.strictEqual(chunked.status, 201);
  assert.strictEqual(chunked.json.bytes, 6);
});

test('an Upgrade reaches upgrade(req, socket, head): 1,000 messages echo both ways', async () => {
  const intoSessions = async () => (await dp.metrics(sys.nodePort)).values.get('xwhisk_stream_into_sandbox_total') || 0;
  const into0 = await intoSessions();
  const sock = net.connect(sys.nodePort, '127.0.0.1');
  await new Promise((r) => sock.once('connect', r));
  sock.write(`GET ${WEB}/sha/echo HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n`);
  let buf = Buffer.alloc(0);
  const want = [];
  for (let i = 0; i < 1000; i++) want.push(`message ${i};`);
  const expected = want.join('');
  const done = new Promise((resolve, reject) => {
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      const text = buf.toString();
      const end = text.indexOf('\r\n\r\n');
      if (end >= 0 && text.length - end - 4 >= expected.length) resolve(text);
    });
    sock.on('error', reject);
    setTimeout(() => reject(new Error(`echo timed out: ${buf.toString().slice(0, 300)}`)), 20000);
  });
  await new Promise((r) => setTimeout(r, 200));
  for (const m of want) sock.write(m);
  const text = await done;
  assert.ok(text.startsWith('HTTP/1.1 101'), text.slice(0, 100));
  assert.strictEqual(text.slice(text.indexOf('\r\n\r\n') + 4), expected);
  const id = /X-Activation: ([0-9a-f]{32})/.exec(text)[1];
  sock.end();
  const rec = await waitRecord(sys, id, opts());
  assert.strictEqual(rec.response.result.statusCode, 101, JSON.stringify(rec.response.result));
  assert.strictEqual(rec.response.result.bytesIn, expected.length, JSON.stringify(rec.response.result));
  // An upgraded session's client bytes go through the node's socket, not into the
  // sandbox's: its end is passed on by that socket's counters.
  assert.strictEqual(await intoSessions(), into0, 'an upgrade does not go into the sandbox\'s socket');
});

test('a WebSocket through the node: ws in a zip action echoes 1,000 messages, text and binary, then a clean close', async () => {
  const ws = new WebSocket(`ws://127.0.0.1:${sys.nodePort}${WEB}/wsecho`);
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
  const got = [];
  const done = new Promise((resolve, reject) => {
    ws.on('message', (data, isBinary) => {
      got.push({ data: Buffer.from(data), isBinary });
      if (got.length === 1000) resolve();
    });
    ws.once('error', reject);
    setTimeout(() => reject(new Error(`echo timed out after ${got.length} messages`)), 30000);
  });
  for (let i = 0; i < 1000; i++) {
    if (i % 2) ws.send(Buffer.from([i & 255, (i >> 8) & 255, 7]), { binary: true });
    else ws.send(`text ${i}`);
  }
  await done;
  for (let i = 0; i < 1000; i++) {
    assert.strictEqual(got[i].isBinary, i % 2 === 1, `message ${i}`);
    if (i % 2) assert.deepStrictEqual([...got[i].data], [i & 255, (i >> 8) & 255, 7]);
    else assert.strictEqual(got[i].data.toString(), `text ${i}`);
  }
  const closed = new Promise((resolve) => ws.once('close', (code) => resolve(code)));
  ws.close(1000, 'bye');
  assert.strictEqual(await closed, 1000);
});

// Opens a /hold stream; resolves the socket and the activation id once it started.
function hold(action) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(sys.nodePort, '127.0.0.1');
    let text = '';
    sock.on('connect', () => sock.write(`GET ${WEB}/${action}/hold HTTP/1.1\r\nHost: x\r\n\r\n`));
    sock.on('data', (d) => {
      text += d.toString();
      const m = /started ([0-9a-f]{32})/.exec(text);
      if (m) resolve({ sock, id: m[1] });
    });
    sock.on('error', reject);
    setTimeout(() => reject(new Error(`no start: ${text}`)), 20000);
  });
}

test('a session past the action\'s time limit is closed, and its record says so', async () => {
  const t0 = Date.now();
  const { sock, id } = await hold('short');
  await new Promise((resolve) => sock.on('close', resolve));
  const took = Date.now() - t0;
  assert.ok(took >= 1500 && took < 10000, `closed after ${took} ms`);
  const rec = await waitRecord(sys, id, opts());
  assert.strictEqual(rec.response.status, 'action developer error');
  assert.strictEqual(rec.response.result.end, 'timeout');
});

test('a client that leaves mid-stream frees its slot at once', async () => {
  const { sock, id } = await hold('holder');
  const left = Date.now();
  sock.destroy();
  const rec = await waitRecord(sys, id, opts());
  assert.strictEqual(rec.response.result.end, 'client closed', JSON.stringify(rec.response));
  assert.ok(rec.end - left < 5000, `ended ${rec.end - left} ms after the client left`);
  // The slot is free again: the next stream of the action starts in its sandbox.
  const again = await hold('holder');
  again.sock.destroy();
});

test('native and blackbox: the executable is an HTTP server on $PORT', async () => {
  for (const action of ['nat', 'bbnat']) {
    const r = await request(sys.nodePort, 'GET', `${WEB}/${action}/x/y?z=1`, { auth: null });
    assert.strictEqual(r.status, 202, `${action}: ${r.text}`);
    assert.strictEqual(r.text, 'native /x/y?z=1');
    const rec = await waitRecord(sys, r.headers['x-activation'], opts());
    assert.strictEqual(rec.response.result.statusCode, 202, JSON.stringify(rec.response.result));
  }
});

test('python: main(environ, start_response) is a WSGI app; 64 MB up and down, unbuffered', async () => {
  const r = await upload(`${WEB}/wsgi/some/path?x=1`, 64 * MB);
  assert.strictEqual(r.status, 201, r.text);
  const body = JSON.parse(r.text);
  assert.strictEqual(body.bytes, 64 * MB, r.text);
  assert.strictEqual(body.sha256, r.sha256, 'every byte arrived, in order');
  assert.strictEqual(body.path, '/some/path', r.text);
  assert.strictEqual(body.query, 'x=1', r.text);
  assert.strictEqual(body.method, 'PUT', r.text);
  const rec = await waitRecord(sys, body.id, opts());
  assert.strictEqual(rec.response.result.end, 'complete', JSON.stringify(rec.response));
  assert.strictEqual(rec.response.result.statusCode, 201, JSON.stringify(rec.response));
  assert.ok((rec.logs || []).some((l) => l.includes(`wsgi upload of ${64 * MB} bytes`)), JSON.stringify(rec.logs));
  const got = await new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port: sys.nodePort, path: `${WEB}/wsgi/download?mb=64` }, (res) => {
      let n = 0;
      let bad = 0;
      res.on('data', (c) => { n += c.length; if (c[0] !== 7 || c[c.length - 1] !== 7) bad++; });
      res.on('end', () => resolve({ status: res.statusCode, n, bad, id: res.headers['x-activation'] }));
    }).on('error', reject);
  });
  assert.strictEqual(got.status, 200);
  assert.strictEqual(got.n, 64 * MB);
  assert.strictEqual(got.bad, 0);
  const rec2 = await waitRecord(sys, got.id, opts());
  assert.strictEqual(rec2.response.result.end, 'complete', JSON.stringify(rec2.response));
});

test('bad input: an Upgrade to an ordinary web action is an ordinary call; over 1 MB is 413', async () => {
  const r = await request(sys.nodePort, 'GET', `${WEB}/plain.json`, { headers: { Connection: 'Upgrade', Upgrade: 'websocket' } });
  assert.strictEqual(r.status, 200, r.text);
  assert.strictEqual(r.json.method, 'get');
  // The answer comes before the body was read: the client still gets it (a lingering close).
  const big = await request(sys.nodePort, 'POST', `${WEB}/plain.json`, { raw: Buffer.alloc(2 * MB, 1) });
  assert.strictEqual(big.status, 413, big.text);
  if (big.status === 413) assert.ok(/larger than allowed/.test(big.text), big.text);
});

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Ordinary web calls, one after another, until stop() says so: their latencies (ms).
async function ordinaryCalls(until) {
  const lat = [];
  while (!until()) {
    const t = Date.now();
    const r = await request(sys.nodePort, 'GET', `${WEB}/plain.json`);
    assert.strictEqual(r.status, 200, r.text);
    lat.push(Date.now() - t);
    await sleep(50);
  }
  return lat;
}

test('a sandbox that does not read stalls nothing else: ordinary web calls answer meanwhile, then the upload completes', async () => {
  const warm = await request(sys.nodePort, 'GET', `${WEB}/plain.json`);
  assert.strictEqual(warm.status, 200, warm.text);
  // What the verdict sent on (into the sandbox's socket, or to the node's): while the
  // action reads nothing, all of it waits in the kernel.
  const taken = () => verdictBytes('into', 'pass');
  const taken0 = await taken();
  const t0 = Date.now();
  const up = upload(`${WEB}/sleepy`, 96 * MB);
  // The action sleeps 3 s before it reads: at 2.5 s the client has long been stopped.
  const stalled = sleep(2500).then(taken);
  const lat = await ordinaryCalls(() => Date.now() - t0 > 3500);
  const inKernel = ((await stalled) - taken0) / MB;
  console.log(`# ${inKernel.toFixed(1)} MB waited in the kernel while the action read nothing`);
  const r = await up;
  assert.strictEqual(r.status, 200, r.text);
  const [sha256, bytes, id] = r.text.split(' ');
  assert.strictEqual(Number(bytes), 96 * MB, r.text);
  assert.strictEqual(sha256, r.sha256, 'every byte arrived, in order');
  assert.ok(lat.length >= 10 && Math.max(...lat) < 400, `ordinary calls took ${lat.join(', ')} ms`);
  // Bounded by the action socket's receive buffer and 256 queued skbs (docs/EBPF.md, "A
  // slow reader"); unbounded, all 96 MB.
  assert.ok(inKernel < 64, `${inKernel.toFixed(1)} MB waited in the kernel`);
  const rec = await waitRecord(sys, id, opts());
  assert.strictEqual(rec.response.result.end, 'complete', JSON.stringify(rec.response));
  assert.strictEqual(rec.response.result.bytesIn, 96 * MB, JSON.stringify(rec.response));
});

test('a slow reader: the node stays flat and answers others meanwhile; every byte arrives, in order', async () => {
  // what went to the client's socket: by the verdict, or straight from the action's
  // (accel_answer)
  const passed = () => verdictBytes('pass', 'msg');
  const total = 64 * MB;
  const rss0 = rssKb(sys.nodePid);
  const p0 = await passed();
  const full0 = await verdictBytes('full');
  let res;
  let n = 0;
  let bad = 0;
  const ended = new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port: sys.nodePort, path: `${WEB}/sha/download?mb=64&pattern=1` }, (r) => {
      res = r;
      r.pause();
      r.on('data', (c) => {
        for (let i = 0; i < c.length; i += 4093) if (c[i] !== ((n + i) >> 16) % 251) bad++;
        n += c.length;
        // slowly: a pause after every piece
        r.pause();
        setTimeout(() => r.resume(), 2);
      });
      r.on('end', resolve);
      r.on('error', reject);
    });
    req.on('error', reject);
  });
  await dp.eventually(() => res, { what: 'the answer\'s head' });
  // The client reads nothing for 2 s: the action must wait, the node must not fill up.
  const t0 = Date.now();
  const lat = await ordinaryCalls(() => Date.now() - t0 > 2000);
  // What sock_accel moved meanwhile waits in the kernel's queues for the client: bounded
  // (docs/EBPF.md, "A slow reader"); the rest stays in the sandbox, its socket's window
  // closed. Unbounded, nearly all of the 64 MB went through.
  const through = ((await passed()) - p0) / MB;
  console.log(`# ${through.toFixed(1)} MB went through while the client read nothing`);
  assert.ok(through < 32, `${through.toFixed(1)} MB went through while the client read nothing`);
  assert.ok((await verdictBytes('full')) > full0, 'the verdict held bytes for a full peer');
  assert.ok(Math.max(...lat) < 500, `ordinary calls took ${lat.join(', ')} ms`);
  res.resume();
  await ended;
  assert.strictEqual(n, total);
  assert.strictEqual(bad, 0, 'every byte intact');
  assert.ok(rssKb(sys.nodePid) - rss0 < 20 * 1024, 'the node stays flat');
  // The record counts every byte.
  const rec = await waitRecord(sys, res.headers['x-activation'], opts());
  assert.strictEqual(rec.response.result.end, 'complete', JSON.stringify(rec.response));
  assert.ok(rec.response.result.bytesOut > total, JSON.stringify(rec.response.result));
});

// The CPU time a process has used, in seconds.
function cpuSeconds(pid) {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) / 100; // utime + stime, in USER_HZ
}

// For the upgraded blob answers below: a watch that turns true once the verdict has seen
// all mb MB of the answer (the action wrote it whole and hung up), the request, and the
// checks of what the client got: every byte, in order, and a complete record.
function watchWholeAnswer(mb, seen0) {
  const w = { seen: false };
  w.timer = setInterval(async () => {
    if (!w.seen && (await verdictBytes('pass', 'msg', 'held', 'full')) - seen0 >= mb * MB) w.seen = true;
  }, 50);
  return w;
}

const blobRequest = (mb) => `GET ${WEB}/sha/blob?mb=${mb} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: blob\r\n\r\n`;

async function checkBlob(got, mb) {
  const body = got.subarray(got.indexOf('\r\n\r\n') + 4);
  assert.strictEqual(body.length, mb * MB, 'every byte arrived');
  let bad = 0;
  for (let i = 0; i < body.length; i += 4093) if (body[i] !== (i >> 16) % 251) bad++;
  assert.strictEqual(bad, 0, 'every byte intact, in order');
  const id = /X-Activation: ([0-9a-f]{32})/.exec(got.toString('latin1'))[1];
  const rec = await waitRecord(sys, id, opts());
  assert.strictEqual(rec.response.result.end, 'complete', JSON.stringify(rec.response));
  return rec;
}

test('a client that stops reading after the action sent its whole answer and hung up: the node waits without spinning, and every byte arrives', async () => {
  const mb = 48;
  const kept0 = await verdictBytes('held', 'full');
  const seen0 = await verdictBytes('pass', 'msg', 'held', 'full');
  // The client ends its side once the answer starts (the node passes that on to the
  // action's socket) and reads a piece every 4 ms. The action writes 48 MB and closes.
  // Once the verdict has seen all of it, the client reads nothing for 1.5 s: the action's
  // socket is shut both ways while the rest of the answer waits on it for the client.
  let spent; // the node's CPU seconds in those 1.5 s
  const whole = watchWholeAnswer(mb, seen0);
  const got = await new Promise((resolve, reject) => {
    const sock = net.connect(sys.nodePort, '127.0.0.1');
    const chunks = [];
    sock.on('connect', () => sock.write(blobRequest(mb)));
    sock.on('data', (d) => {
      if (!chunks.length) sock.end();
      chunks.push(d);
      sock.pause();
      if (!whole.seen || spent !== undefined) return setTimeout(() => sock.resume(), 4);
      const cpu0 = cpuSeconds(sys.nodePid);
      spent = null;
      setTimeout(() => {
        spent = cpuSeconds(sys.nodePid) - cpu0;
        sock.resume();
      }, 1500);
    });
    sock.on('close', () => resolve(Buffer.concat(chunks)));
    sock.on('error', reject);
    setTimeout(() => reject(new Error('no end in 60 s')), 60000);
  }).finally(() => clearInterval(whole.timer));
  assert.ok(typeof spent === 'number', 'the client stopped after the action\'s end, before its own');
  console.log(`# the node spent ${spent.toFixed(2)} s of CPU in the 1.5 s the client read nothing`);
  assert.ok((await verdictBytes('held', 'full')) > kept0, 'the verdict held bytes for the client');
  // Spinning on the hang-up, it spent nearly all of it.
  assert.ok(spent < 0.4, `the node spent ${spent.toFixed(2)} s of CPU in 1.5 s`);
  await checkBlob(got, mb);
});

// The client ends its side only after the action wrote its whole answer and hung up, while
// the rest of that answer still waits for it on the action's socket: the node must not
// take the end of both sides for the end of the session (stream.c, client_ended).
test('a client that half-closes after the action hung up, with the answer still waiting for it, gets every byte', async () => {
  const mb = 48;
  const whole = watchWholeAnswer(mb, await verdictBytes('pass', 'msg', 'held', 'full'));
  const got = await new Promise((resolve, reject) => {
    const sock = net.connect(sys.nodePort, '127.0.0.1');
    const chunks = [];
    let ended = false;
    sock.on('connect', () => sock.write(blobRequest(mb)));
    sock.on('data', (d) => {
      chunks.push(d);
      sock.pause();
      if (!whole.seen || ended) return setTimeout(() => sock.resume(), 4);
      ended = true;
      sock.end();
      setTimeout(() => sock.resume(), 500);
    });
    sock.on('close', () => resolve({ body: Buffer.concat(chunks), ended }));
    sock.on('error', reject);
    setTimeout(() => reject(new Error('no end in 60 s')), 60000);
  }).finally(() => clearInterval(whole.timer));
  assert.ok(got.ended, 'the client ended its side after the action\'s end');
  const rec = await checkBlob(got.body, mb);
  assert.ok(rec.response.result.bytesOut > mb * MB, JSON.stringify(rec.response.result));
});

test('a sandbox that dies mid-stream: the client\'s connection is closed and the record says why', async () => {
  const t0 = Date.now();
  const got = await new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port: sys.nodePort, path: `${WEB}/dier/die` }, (res) => {
      let text = '';
      res.on('data', (d) => { text += d; });
      res.on('error', () => {});
      res.on('close', () => resolve({ status: res.statusCode, text, complete: res.complete }));
    });
    req.on('error', reject);
  });
  assert.strictEqual(got.status, 200);
  assert.ok(!got.complete, 'the answer was cut');
  assert.ok(Date.now() - t0 < 10000, `closed after ${Date.now() - t0} ms`);
  const id = /dying ([0-9a-f]{32})/.exec(got.text)[1];
  const rec = await waitRecord(sys, id, opts());
  assert.strictEqual(rec.response.status, 'action developer error', JSON.stringify(rec.response));
  assert.strictEqual(rec.response.result.end, 'sandbox exited', JSON.stringify(rec.response));
  assert.ok(/exited unexpectedly/.test(rec.response.result.error), JSON.stringify(rec.response));
  // Another sandbox serves the next request.
  const again = await request(sys.nodePort, 'POST', `${WEB}/dier`, { raw: 'again' });
  assert.strictEqual(again.status, 201, again.text);
});

test('half-close: a client that shuts down its side after its upload still gets the whole answer', async () => {
  for (const size of [5, 3 * MB]) {
    const body = Buffer.alloc(size, 'h');
    const text = await dp.halfClose(sys.nodePort, `PUT ${WEB}/sha HTTP/1.1\r\nHost: x\r\nContent-Length: ${size}\r\n\r\n`, body);
    assert.ok(text.startsWith('HTTP/1.1 201'), `${size} bytes: ${JSON.stringify(text.slice(0, 400))} ${text.length}`);
    const json = JSON.parse(dp.dechunk(text.slice(text.indexOf('\r\n\r\n') + 4)));
    assert.strictEqual(json.bytes, size);
    assert.strictEqual(json.sha256, crypto.createHash('sha256').update(body).digest('hex'));
    const rec = await waitRecord(sys, json.id, opts());
    assert.strictEqual(rec.response.result.end, 'complete', JSON.stringify(rec.response));
  }
  // A client that ends its side after its upload, to an action that reads nothing for 3 s:
  // its FIN alone is not passed on (the action would take it for the request's end).
  const fins0 = (await dp.metrics(sys.nodePort)).values.get('xwhisk_sock_accel_fins_total') || 0;
  const body = crypto.randomBytes(14 * MB);
  const text = await dp.halfClose(sys.nodePort, `PUT ${WEB}/sleepy HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n`, body);
  assert.ok(text.startsWith('HTTP/1.1 200'), text.slice(0, 200));
  const [sha256, bytes, id] = text.slice(text.indexOf('\r\n\r\n') + 4).split(' ');
  assert.strictEqual(Number(bytes), body.length, text.slice(0, 300));
  assert.strictEqual(sha256, crypto.createHash('sha256').update(body).digest('hex'));
  const rec = await waitRecord(sys, id, opts());
  assert.strictEqual(rec.response.result.end, 'complete', JSON.stringify(rec.response));
  assert.strictEqual(rec.response.result.bytesIn, body.length, JSON.stringify(rec.response));
  assert.ok((await dp.metrics(sys.nodePort)).values.get('xwhisk_sock_accel_fins_total') > fins0, 'the FIN was counted, and went nowhere');
  // An upgraded session's end reaches the action's server (the echo ends in turn), before
  // and after the splice started.
  for (const waitFor of ['\r\n\r\n', undefined]) {
    const text = await dp.halfClose(sys.nodePort, `GET ${WEB}/sha/echo HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n`,
      'last words', { waitFor });
    assert.ok(text.startsWith('HTTP/1.1 101'), text.slice(0, 200));
    assert.strictEqual(text.slice(text.indexOf('\r\n\r\n') + 4), 'last words');
    const id = /X-Activation: ([0-9a-f]{32})/.exec(text)[1];
    const rec = await waitRecord(sys, id, opts());
    assert.strictEqual(rec.response.result.end, 'complete', JSON.stringify(rec.response));
    assert.strictEqual(rec.response.status, 'success', JSON.stringify(rec.response));
  }
});

run();
