// SPDX-License-Identifier: Apache-2.0
//
// Helpers shared by the data-plane tests (dp_*.test.js): creating actions, invoking,
// waiting for activation records, checking them against OpenWhisk's record contract
// (openwhisk-api.md 3.5), namespaces with their own limits, zip archives, BPF map
// dumps (bpftool), Prometheus metrics and raw HTTP with a half-close.
'use strict';

const crypto = require('crypto');
const net = require('net');
const path = require('path');
const { execFileSync } = require('child_process');
const { assert, sleep, request } = require('./harness');
const { NS, kv } = require('./api');

const HEX32 = /^[0-9a-f]{32}$/;
// "<RFC3339Nano> stdout: line" (OpenWhisk pads the timestamp to 30 columns with spaces).
const LOG_LINE = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?Z)\s+(stdout|stderr): (.*)$/s;
const SENTINEL = 'XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX';

const TIMEOUT_MSG = 'Timeout must be number of milliseconds up to 60000.';
const FINAL_MSG = 'Request defines parameters that are not allowed (e.g., reserved properties).';

const q = (o) => {
  const parts = Object.entries(o)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`);
  return parts.length ? `?${parts.join('&')}` : '';
};

const actionPath = (name, ns = '_') => `${NS}/${ns}/actions/${name.split('/').map(encodeURIComponent).join('/')}`;

// PUT ?overwrite=true; returns the stored action.
async function putAction(sys, name, body, { auth, ns } = {}) {
  const r = await sys.request('PUT', `${actionPath(name, ns)}?overwrite=true`, { auth, body });
  assert.strictEqual(r.status, 200, `PUT action ${name}: ${r.status} ${r.text.slice(0, 400)}`);
  return r.json;
}

async function putEntity(sys, collection, name, body, { auth, ns = '_' } = {}) {
  const r = await sys.request('PUT', `${NS}/${ns}/${collection}/${encodeURIComponent(name)}?overwrite=true`, { auth, body });
  assert.strictEqual(r.status, 200, `PUT ${collection} ${name}: ${r.status} ${r.text.slice(0, 400)}`);
  return r.json;
}

// POST an invoke; blocking by default. Returns {status, headers, text, json}.
function invoke(sys, name, params, { auth, ns, blocking = true, result, timeout, headers, raw } = {}) {
  const qs = q({ blocking: blocking ? 'true' : undefined, result: result ? 'true' : undefined, timeout });
  return sys.request('POST', `${actionPath(name, ns)}${qs}`, {
    auth,
    body: raw === undefined ? params || {} : undefined,
    raw,
    headers,
  });
}

// A blocking invoke that must answer `status`; returns the body.
async function invokeOk(sys, name, params, opts = {}) {
  const want = opts.status || 200;
  const r = await invoke(sys, name, params, opts);
  assert.strictEqual(r.status, want, `invoke ${name}: ${r.status} (wanted ${want}) ${r.text.slice(0, 600)}`);
  return r.json;
}

// GET /activations/{id} until it exists (records exist once the activation completed
// and the node shipped it).
async function waitRecord(sys, id, { auth, ns = '_', timeoutMs = 20000 } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    last = await sys.request('GET', `${NS}/${ns}/activations/${id}`, { auth });
    if (last.status === 200) return last.json;
    if (last.status !== 404) throw new Error(`GET activation ${id}: ${last.status} ${last.text}`);
    if (Date.now() > deadline) throw new Error(`activation ${id} has no record after ${timeoutMs} ms`);
    await sleep(150);
  }
}

const ann = (rec, key) => kv(rec && rec.annotations, key);
const hasAnn = (rec, key) => !!(rec && rec.annotations || []).find((x) => x.key === key);

// The fields every primitive activation record has in extended form (3.5).
function checkRecord(rec, { name, namespace = 'guest', path: p, kind, status = 'success' } = {}) {
  const show = JSON.stringify(rec).slice(0, 1500);
  assert.ok(rec && typeof rec === 'object', `record: ${show}`);
  assert.ok(HEX32.test(rec.activationId), `activationId: ${show}`);
  if (name) assert.strictEqual(rec.name, name, show);
  assert.strictEqual(rec.namespace, namespace, show);
  assert.strictEqual(rec.subject, namespace, show);
  assert.strictEqual(typeof rec.start, 'number', show);
  assert.strictEqual(typeof rec.end, 'number', show);
  assert.ok(rec.end >= rec.start, `end >= start: ${show}`);
  assert.strictEqual(rec.duration, rec.end - rec.start, `duration = end - start: ${show}`);
  assert.ok(Math.abs(rec.start - Date.now()) < 10 * 60 * 1000, `start is epoch ms: ${show}`);
  assert.strictEqual(typeof rec.version, 'string', show);
  assert.strictEqual(rec.publish, false, show);
  assert.ok(rec.response && typeof rec.response === 'object', show);
  assert.ok(!('statusCode' in rec.response), `extended form has no response.statusCode: ${show}`);
  assert.strictEqual(rec.response.status, status, `status: ${show}`);
  assert.strictEqual(rec.response.success, status === 'success', `success: ${show}`);
  assert.ok('result' in rec.response, show);
  assert.ok(Array.isArray(rec.logs), show);
  assert.ok(Array.isArray(rec.annotations), show);
  if (p) assert.strictEqual(ann(rec, 'path'), p, `path annotation: ${show}`);
  if (kind) assert.strictEqual(ann(rec, 'kind'), kind, `kind annotation: ${show}`);
  const limits = ann(rec, 'limits');
  assert.ok(limits && typeof limits === 'object', `limits annotation: ${show}`);
  for (const k of ['timeout', 'memory', 'logs', 'concurrency'])
    assert.strictEqual(typeof limits[k], 'number', `limits.${k}: ${show}`);
  assert.strictEqual(typeof ann(rec, 'waitTime'), 'number', `waitTime annotation: ${show}`);
  assert.ok(ann(rec, 'waitTime') >= 0, show);
  assert.strictEqual(typeof ann(rec, 'timeout'), 'boolean', `timeout annotation: ${show}`);
  return rec;
}

// Log lines are "<timestamp> <stream>: <text>" and hold no sentinel.
function checkLogs(logs) {
  const show = JSON.stringify(logs).slice(0, 1500);
  for (const l of logs) {
    assert.ok(LOG_LINE.test(l), `log line format "<RFC3339Nano> stdout|stderr: text": ${JSON.stringify(l)} in ${show}`);
    assert.ok(!l.includes(SENTINEL), `sentinel in the logs: ${show}`);
  }
  return logs.map((l) => {
    const m = l.match(LOG_LINE);
    return { time: m[1], stream: m[2], text: m[3] };
  });
}

function expectHeaderId(res, id) {
  const h = res.headers['x-openwhisk-activation-id'];
  assert.ok(h && HEX32.test(h), `x-openwhisk-activation-id header on ${res.status}: ${JSON.stringify(res.headers)}`);
  if (id) assert.strictEqual(h, id, 'x-openwhisk-activation-id is the activation id');
  return h;
}

// A namespace created with xwhisk-admin, with its own limits; returns its key.
function createNamespace(sys, ns, limits = {}) {
  const key = sys
    .admin('user', 'create', ns)
    .split('\n')
    .map((s) => s.trim())
    .find((s) => /^[0-9a-f-]{36}:[A-Za-z0-9]{64}$/.test(s));
  assert.ok(key, `xwhisk-admin user create ${ns} printed a uuid:key`);
  const args = [];
  for (const [k, v] of Object.entries(limits)) args.push(`--${k}`, String(v));
  if (args.length) sys.admin('limits', 'set', ns, ...args);
  return key;
}

const HIGH_LIMITS = { invocationsPerMinute: 100000, concurrentInvocations: 1000, firesPerMinute: 10000 };

// The usual data-plane test file's system: started before its first test, with a
// namespace of its own (limits: HIGH_LIMITS unless told), torn down after its last.
// key is the namespace's credential once started; opts(o) authenticates as it.
function namespacedSystem(ns, { limits = HIGH_LIMITS, ...systemOptions } = {}) {
  const { System, test } = require('./harness');
  const ctx = { sys: new System(systemOptions), key: null };
  ctx.opts = (o = {}) => ({ auth: ctx.key, ...o });
  test.before(async () => {
    await ctx.sys.start();
    ctx.key = createNamespace(ctx.sys, ns, limits);
  });
  test.after(() => teardown(ctx.sys));
  return ctx;
}

// ---- zip archives (stored, no compression), enough for action code ----
const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();
function crc32(buf) {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
// files: {name: string|Buffer}; mode: unix mode bits stored for every file.
function zip(files, mode = 0o644) {
  const locals = [];
  const centrals = [];
  let offset = 0;
  for (const [name, content] of Object.entries(files)) {
    const data = Buffer.isBuffer(content) ? content : Buffer.from(content);
    const fname = Buffer.from(name);
    const crc = crc32(data);
    const lh = Buffer.alloc(30);
    lh.writeUInt32LE(0x04034b50, 0);
    lh.writeUInt16LE(20, 4);
    lh.writeUInt16LE(0, 6);
    lh.writeUInt16LE(0, 8); // stored
    lh.writeUInt16LE(0, 10);
    lh.writeUInt16LE(0x21, 12); // 1980-01-01
    lh.writeUInt32LE(crc, 14);
    lh.writeUInt32LE(data.length, 18);
    lh.writeUInt32LE(data.length, 22);
    lh.writeUInt16LE(fname.length, 26);
    lh.writeUInt16LE(0, 28);
    locals.push(lh, fname, data);
    const ch = Buffer.alloc(46);
    ch.writeUInt32LE(0x02014b50, 0);
    ch.writeUInt16LE(0x031e, 4); // made by unix, 3.0
    ch.writeUInt16LE(20, 6);
    ch.writeUInt16LE(0, 8);
    ch.writeUInt16LE(0, 10);
    ch.writeUInt16LE(0, 12);
    ch.writeUInt16LE(0x21, 14);
    ch.writeUInt32LE(crc, 16);
    ch.writeUInt32LE(data.length, 20);
    ch.writeUInt32LE(data.length, 24);
    ch.writeUInt16LE(fname.length, 28);
    ch.writeUInt16LE(0, 30);
    ch.writeUInt16LE(0, 32);
    ch.writeUInt16LE(0, 34);
    ch.writeUInt16LE(0, 36);
    ch.writeUInt32LE(((0o100000 | mode) << 16) >>> 0, 38);
    ch.writeUInt32LE(offset, 42);
    centrals.push(ch, fname);
    offset += 30 + fname.length + data.length;
  }
  const cd = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  const n = Object.keys(files).length;
  end.writeUInt16LE(n, 8);
  end.writeUInt16LE(n, 10);
  end.writeUInt32LE(cd.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cd, end]);
}

// ---- BPF maps ----
// bpftool's JSON with BTF: [{key, value, formatted: {key, value}}]. u64 fields can pass
// 2^53, so long integers are read as strings (compare with BigInt).
function bpfDumpJson(sys, map) {
  const text = execFileSync('bpftool', ['-j', 'map', 'dump', 'pinned', path.join(sys.pinDir, map)], {
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  const safe = text.replace(/([:\[,]\s*)(-?\d{16,})(?=\s*[,}\]])/g, '$1"$2"');
  return JSON.parse(safe).map((e) => (e.formatted ? e.formatted : e));
}

// The same without blocking the event loop (for sampling while requests run).
function bpfDumpJsonAsync(sys, map) {
  const { execFile } = require('child_process');
  return new Promise((resolve, reject) => {
    execFile('bpftool', ['-j', 'map', 'dump', 'pinned', path.join(sys.pinDir, map)], { encoding: 'utf8', maxBuffer: 64 << 20 }, (err, text) => {
      if (err) return reject(err);
      const safe = text.replace(/([:\[,]\s*)(-?\d{16,})(?=\s*[,}\]])/g, '$1"$2"');
      resolve(JSON.parse(safe).map((e) => (e.formatted ? e.formatted : e)));
    });
  });
}

function bpfDumpText(sys, map) {
  return execFileSync('bpftool', ['map', 'dump', 'pinned', path.join(sys.pinDir, map)], {
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
}

const SLOT_STATE = { FREE: 0, STARTING: 1, WARM: 2, DRAINING: 3, REMOVED: 4 };
// The state as a number whether bpftool printed the enum's name or its value.
function slotState(v) {
  if (typeof v === 'number') return v;
  const s = String(v).replace(/^XW_SLOT_/, '');
  return s in SLOT_STATE ? SLOT_STATE[s] : Number(v);
}

// Slots in use: [{slot, state, inflight, action_id (string), ...}].
function slotsInUse(sys) {
  return usedSlots(bpfDumpJson(sys, 'slots'));
}
async function slotsInUseAsync(sys) {
  return usedSlots(await bpfDumpJsonAsync(sys, 'slots'));
}
function usedSlots(entries) {
  return entries
    .map((e) => ({ slot: Number(e.key), ...e.value, state: slotState(e.value.state), action_id: String(e.value.action_id) }))
    .filter((s) => s.state !== SLOT_STATE.FREE && s.state !== SLOT_STATE.REMOVED);
}

// ---- metrics ----
function parseMetrics(text) {
  const m = new Map();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    m.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return m;
}

async function metrics(port) {
  const r = await request(port, 'GET', '/metrics', {});
  assert.strictEqual(r.status, 200, `GET /metrics: ${r.status} ${r.text.slice(0, 300)}`);
  return { text: r.text, values: parseMetrics(r.text), headers: r.headers };
}

// Runs fn over items with at most `limit` at once.
async function pool(items, limit, fn) {
  const out = new Array(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i], i);
    }
  });
  await Promise.all(workers);
  return out;
}

// Names unique per run, so reruns against one data dir never collide.
const uniq = (p) => `${p}_${crypto.randomBytes(3).toString('hex')}`;

// Waits until fn() is truthy (polling); returns its value.
async function eventually(fn, { timeoutMs = 15000, everyMs = 150, what = 'condition' } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    last = await fn();
    if (last) return last;
    if (Date.now() > deadline) throw new Error(`${what}: not true after ${timeoutMs} ms`);
    await sleep(everyMs);
  }
}

// A whole chunked body, decoded.
function dechunk(text) {
  let out = '';
  for (let at = 0; ;) {
    const eol = text.indexOf('\r\n', at);
    const size = parseInt(text.slice(at, eol), 16);
    assert.ok(eol > 0 && size >= 0, `not chunked: ${text.slice(0, 100)}`);
    if (size === 0) return out;
    out += text.slice(eol + 2, eol + 2 + size);
    at = eol + 2 + size + 2;
  }
}

// Sends raw bytes to the node at port, half-closes (shutdown SHUT_WR), after waitFor came
// back when given, and reads until the node closes.
function halfClose(port, head, body, { waitFor } = {}) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    let got = Buffer.alloc(0);
    let sent = false;
    const send = () => {
      sent = true;
      sock.write(body);
      sock.end();
    };
    sock.on('connect', () => {
      sock.write(head);
      if (!waitFor) send();
    });
    sock.on('data', (d) => {
      got = Buffer.concat([got, d]);
      if (!sent && got.includes(waitFor)) send();
    });
    sock.on('close', () => resolve(got.toString('latin1')));
    sock.on('error', reject);
    setTimeout(() => reject(new Error(`no end: ${got.toString().slice(0, 200)}`)), 30000);
  });
}

// Stops and removes a system; with XWHISK_E2E_LOG=1 (or a regular expression) prints the
// lines of its log that match first, for post-mortems.
async function teardown(sys) {
  await sys.stop();
  let want = process.env.XWHISK_E2E_LOG;
  // After a failure, the system's warnings and sandbox events, for the post-mortem.
  if (!want && require('./harness').run.failed) want = '\\[(warn|error)\\]|pool: |removed';
  if (want) {
    const re = want === '1' ? /./ : new RegExp(want, 'i');
    const lines = sys.log.split('\n').filter((l) => re.test(l));
    console.log((process.env.XWHISK_E2E_LOG ? lines : lines.slice(-40)).map((l) => `# ${l}`).join('\n'));
  }
  sys.cleanup();
}

module.exports = {
  teardown,
  dechunk,
  halfClose,
  namespacedSystem,
  HEX32,
  LOG_LINE,
  SENTINEL,
  TIMEOUT_MSG,
  FINAL_MSG,
  HIGH_LIMITS,
  SLOT_STATE,
  q,
  actionPath,
  putAction,
  putEntity,
  invoke,
  invokeOk,
  waitRecord,
  ann,
  hasAnn,
  checkRecord,
  checkLogs,
  expectHeaderId,
  createNamespace,
  zip,
  crc32,
  bpfDumpJson,
  bpfDumpText,
  bpfDumpJsonAsync,
  slotsInUse,
  slotsInUseAsync,
  slotState,
  parseMetrics,
  metrics,
  pool,
  uniq,
  eventually,
  net,
};
