// SPDX-License-Identifier: Apache-2.0
//
// The end-to-end harness: starts xwhisk as `make run` does (scripts/xwhisk-run) on free
// ports with its own data directory, offers plain HTTP and the npm `openwhisk` client,
// and runs test cases in order, printing "ok - name" / "not ok - name: why".
'use strict';

const { spawn, execFileSync } = require('child_process');
const fs = require('fs');
const net = require('net');
const os = require('os');
const path = require('path');
const http = require('http');

const TOP = path.resolve(__dirname, '..', '..', '..');
const BUILD = process.env.XWHISK_BIN || path.join(TOP, 'build');
const GUEST_AUTH =
  '23bc46b1-71f6-4ed5-8c54-816aa4f8c502:123zO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwP';
const SYSTEM_AUTH =
  '789c46b1-71f6-4ed5-8c54-816aa4f8c502:abczO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwP';

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// One xwhisk system (controller + node) started through scripts/xwhisk-run.
class System {
  constructor(opts = {}) {
    this.dataDir = opts.dataDir || fs.mkdtempSync(path.join(os.tmpdir(), 'xwhisk-e2e-'));
    this.env = opts.env || {};
    this.proc = null;
    this.log = '';
  }

  async start() {
    if (!this.nodePort) {
      this.nodePort = await freePort();
      this.controllerPort = await freePort();
    }
    const env = {
      ...process.env,
      XWHISK_DATA_DIR: this.dataDir,
      XWHISK_NODE_LISTEN: `127.0.0.1:${this.nodePort}`,
      XWHISK_CONTROLLER_LISTEN: `127.0.0.1:${this.controllerPort}`,
      XWHISK_BIN: BUILD,
      ...this.env,
    };
    this.log = ''; // a restart must not mistake the last run's banner for its own
    this.proc = spawn(path.join(TOP, 'scripts', 'xwhisk-run'), [], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    const append = (d) => {
      this.log += d.toString();
      if (this.log.length > 1 << 20) this.log = this.log.slice(-(1 << 19));
    };
    this.proc.stdout.on('data', append);
    this.proc.stderr.on('data', append);
    this.exited = new Promise((r) => this.proc.on('exit', (code, sig) => r({ code, sig })));
    for (let i = 0; i < 300; i++) {
      if (this.log.includes('xwhisk is running')) return this;
      if (this.proc.exitCode !== null) break;
      await sleep(50);
    }
    throw new Error(`xwhisk did not start:\n${this.log}`);
  }

  async stop(signal = 'SIGTERM') {
    if (!this.proc) return;
    try {
      process.kill(-this.proc.pid, signal);
    } catch (e) {
      /* already gone */
    }
    const timer = setTimeout(() => {
      try {
        process.kill(-this.proc.pid, 'SIGKILL');
      } catch (e) {
        /* gone */
      }
    }, 10000);
    const r = await this.exited;
    clearTimeout(timer);
    this.proc = null;
    return r;
  }

  async restart() {
    await this.stop();
    return this.start();
  }

  cleanup() {
    fs.rmSync(this.dataDir, { recursive: true, force: true });
  }

  get apihost() {
    return `http://127.0.0.1:${this.nodePort}`;
  }

  // xwhisk-admin against this system's store; returns stdout.
  admin(...args) {
    return execFileSync(path.join(BUILD, 'xwhisk-admin'), ['--data-dir', this.dataDir, ...args], {
      encoding: 'utf8',
    }).trim();
  }

  // An openwhisk client (npm package) for this system.
  client(auth = GUEST_AUTH, extra = {}) {
    const openwhisk = require('openwhisk');
    return openwhisk({ apihost: this.apihost, api_key: auth, ...extra });
  }

  // Plain HTTP. Returns {status, headers, text, json}.
  request(method, urlPath, { auth = GUEST_AUTH, body, headers = {}, raw } = {}) {
    return request(this.nodePort, method, urlPath, { auth, body, headers, raw });
  }
}

function request(port, method, urlPath, { auth, body, headers = {}, raw } = {}) {
  return new Promise((resolve, reject) => {
    const h = { ...headers };
    let payload = null;
    if (raw !== undefined) {
      payload = Buffer.isBuffer(raw) ? raw : Buffer.from(raw);
    } else if (body !== undefined) {
      payload = Buffer.from(JSON.stringify(body));
      if (!Object.keys(h).some((k) => k.toLowerCase() === 'content-type')) h['Content-Type'] = 'application/json';
    }
    if (payload) h['Content-Length'] = payload.length;
    if (auth) h.Authorization = 'Basic ' + Buffer.from(auth).toString('base64');
    const req = http.request({ host: '127.0.0.1', port, method, path: urlPath, headers: h }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        let json;
        try {
          json = text.length ? JSON.parse(text) : undefined;
        } catch (e) {
          json = undefined;
        }
        resolve({ status: res.statusCode, headers: res.headers, text, json });
      });
    });
    req.on('error', reject);
    req.setTimeout(120000, () => req.destroy(new Error('request timed out')));
    if (payload) req.write(payload);
    req.end();
  });
}

// ---- test registration and running ----
const cases = [];
const hooks = { before: [], after: [] };

function test(name, fn) {
  cases.push({ name, fn });
}
test.before = (fn) => hooks.before.push(fn);
test.after = (fn) => hooks.after.push(fn);

function fmtErr(e) {
  const msg = e && e.stack ? e.stack.split('\n').slice(0, 3).join(' | ') : String(e);
  return msg.replace(/\s+/g, ' ').slice(0, 400);
}

async function run() {
  let failed = 0;
  try {
    for (const h of hooks.before) await h();
  } catch (e) {
    console.log(`not ok - setup: ${fmtErr(e)}`);
    failed++;
  }
  if (!failed) {
    for (const c of cases) {
      try {
        await c.fn();
        console.log(`ok - ${c.name}`);
      } catch (e) {
        failed++;
        console.log(`not ok - ${c.name}: ${fmtErr(e)}`);
      }
    }
  }
  for (const h of hooks.after) {
    try {
      await h();
    } catch (e) {
      console.log(`not ok - teardown: ${fmtErr(e)}`);
      failed++;
    }
  }
  process.exit(failed ? 1 : 0);
}

// Assertions with messages that say what was seen.
const assert = require('assert');
function expectError(res, status, messagePart) {
  assert.strictEqual(res.status, status, `status ${res.status} (wanted ${status}): ${res.text}`);
  assert.ok(res.json && typeof res.json.error === 'string', `OpenWhisk error body: ${res.text}`);
  assert.ok(typeof res.json.code === 'string' && res.json.code.length > 0, `error code: ${res.text}`);
  if (messagePart !== undefined)
    assert.ok(res.json.error.includes(messagePart), `error "${res.json.error}" should contain "${messagePart}"`);
}

module.exports = {
  System,
  test,
  run,
  assert,
  expectError,
  sleep,
  request,
  GUEST_AUTH,
  SYSTEM_AUTH,
  TOP,
  BUILD,
};
