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

// A 169.254.X.0/24 (X in 64..255, above the node's default 169.254.32.0/19) that no
// interface of this machine has an address in, so a system's sandbox bridge never shares
// a subnet (and so a route) with another system's, running or left behind. Starts at a
// random X; null when none is free or `ip` is missing.
function freeSubnet(seed) {
  let text;
  try {
    text = execFileSync('ip', ['-4', '-o', 'addr'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch (e) {
    return null;
  }
  const toInt = (a) => a.split('.').reduce((n, o) => n * 256 + Number(o), 0);
  const used = [];
  for (const m of text.matchAll(/inet (\d+\.\d+\.\d+\.\d+)\/(\d+)/g)) {
    const size = 2 ** (32 - Number(m[2]));
    const lo = Math.floor(toInt(m[1]) / size) * size;
    used.push([lo, lo + size - 1]);
  }
  for (let i = 0; i < 192; i++) {
    const x = 64 + ((seed + i) % 192);
    const lo = toInt(`169.254.${x}.0`);
    if (!used.some(([a, b]) => a <= lo + 255 && lo <= b)) return `169.254.${x}.0/24`;
  }
  return null;
}

// The store a system uses: opts.store, else XWHISK_TEST_STORE (so every API test file can
// run on PostgreSQL: XWHISK_TEST_STORE=postgresql://... node tests/e2e/api_actions.test.js),
// else SQLite in the data directory. On a PostgreSQL server each system gets a database of
// its own (created at the first start, dropped by cleanup), unless opts.sharedStore says to
// use the URI as it is (two controllers on one database).
const isPgUri = (u) => /^postgres(ql)?:\/\//.test(u || '');

function psql(serverUri, sql) {
  execFileSync('psql', [serverUri, '-qAtX', '-v', 'ON_ERROR_STOP=1', '-c', sql], {
    stdio: ['ignore', 'ignore', 'pipe'],
    timeout: 30000,
  });
}

// One xwhisk system (controller + node) started through scripts/xwhisk-run.
class System {
  constructor(opts = {}) {
    this.dataDir = opts.dataDir || fs.mkdtempSync(path.join(os.tmpdir(), 'xwhisk-e2e-'));
    // Each system routes from its own pinned maps and its own sandbox network, so a
    // leftover of another test never answers for this one.
    const tag = require('crypto').randomBytes(3).toString('hex');
    this.pinDir = `/sys/fs/bpf/xwhisk-e2e-${tag}`;
    this.netEnv = {
      XWHISK_PIN_DIR: this.pinDir,
      XWHISK_SANDBOX_BRIDGE: `xwe${tag}`,
      // Tests share the machine's loopback: none attaches xdp_guard to it (tests/netns does).
      XWHISK_XDP_IFACE: '',
      // A stop waits this long at most for activations in flight (the default is 30 s).
      XWHISK_DRAIN_MS: '3000',
      XWHISK_SANDBOX_SUBNET: freeSubnet(parseInt(tag, 16)) || `169.254.${64 + (parseInt(tag, 16) % 48) * 4}.0/22`,
    };
    this.env = opts.env || {};
    this.store = opts.store !== undefined ? opts.store : process.env.XWHISK_TEST_STORE || null;
    this.sharedStore = !!opts.sharedStore;
    this.storeUri = null; // what XWHISK_STORE is set to (null: the default SQLite file)
    this.pgDatabase = null; // the database this system created, dropped by cleanup()
    // split: start the controller and the node as two processes (as scripts/xwhisk-run
    // does, but without it), so that the node alone can be killed and restarted.
    this.split = !!opts.split;
    // catalog: let scripts/xwhisk-run install the whisk.system catalog (scripts/catalog)
    // and wait for it; off by default so whisk.system starts empty, as the API tests expect.
    this.catalog = !!opts.catalog;
    this.proc = null;
    this.procs = null;
    this.log = '';
  }

  baseEnv() {
    return {
      ...process.env,
      XWHISK_DATA_DIR: this.dataDir,
      XWHISK_NODE_LISTEN: `127.0.0.1:${this.nodePort}`,
      XWHISK_CONTROLLER_LISTEN: `127.0.0.1:${this.controllerPort}`,
      XWHISK_CONTROLLER: `http://127.0.0.1:${this.controllerPort}`,
      XWHISK_BIN: BUILD,
      XWHISK_CATALOG: this.catalog ? '1' : '0',
      ...(this.storeUri ? { XWHISK_STORE: this.storeUri } : {}),
      ...this.netEnv,
      ...this.env,
    };
  }

  appendLog(d) {
    this.log += d.toString();
    if (this.log.length > 1 << 20) this.log = this.log.slice(-(1 << 19));
  }

  // The store URI for this system, creating its own database on a PostgreSQL server.
  prepareStore() {
    if (this.storeUri || !this.store || this.env.XWHISK_STORE) return;
    if (this.store === 'postgresql')
      throw new Error('XWHISK_TEST_STORE=postgresql is for tests/run.sh (it starts a server); give a node test a URI: XWHISK_TEST_STORE=$(tests/pg/pgtmp.sh start)');
    if (!isPgUri(this.store) || this.sharedStore) {
      this.storeUri = this.store;
      return;
    }
    const name = `xwhisk_e2e_${require('crypto').randomBytes(4).toString('hex')}`;
    psql(this.store, `CREATE DATABASE ${name}`);
    this.pgDatabase = name;
    const u = new URL(this.store);
    u.pathname = `/${name}`;
    this.storeUri = u.toString();
  }

  async start() {
    if (!this.nodePort) {
      this.nodePort = await freePort();
      this.controllerPort = await freePort();
    }
    this.prepareStore();
    const env = this.baseEnv();
    this.log = ''; // a restart must not mistake the last run's banner for its own
    if (this.split) return this.startSplit(env);
    this.proc = spawn(path.join(TOP, 'scripts', 'xwhisk-run'), [], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    this.proc.stdout.on('data', (d) => this.appendLog(d));
    this.proc.stderr.on('data', (d) => this.appendLog(d));
    this.exited = new Promise((r) => this.proc.on('exit', (code, sig) => r({ code, sig })));
    for (let i = 0; i < 300; i++) {
      if (this.log.includes('xwhisk is running')) {
        if (this.catalog) await this.waitCatalog();
        return this;
      }
      if (this.proc.exitCode !== null) break;
      await sleep(50);
    }
    throw new Error(`xwhisk did not start:\n${this.log}`);
  }

  // The catalog installer runs after the banner; it ends with one "xwhisk catalog:" line.
  async waitCatalog(ms = 30000) {
    for (let t = 0; t < ms; t += 50) {
      const m = this.log.match(/xwhisk catalog: (.*)/);
      if (m) {
        if (!/installed/.test(m[1]) || /not installed/.test(m[1])) throw new Error(`catalog: ${m[1]}`);
        return;
      }
      await sleep(50);
    }
    throw new Error(`the catalog was not installed:\n${this.log.slice(-2000)}`);
  }

  spawnPart(bin, env) {
    const p = spawn(path.join(BUILD, bin), [], { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    p.stdout.on('data', (d) => this.appendLog(d));
    p.stderr.on('data', (d) => this.appendLog(d));
    p.exited = new Promise((r) => p.on('exit', (code, sig) => r({ code, sig })));
    return p;
  }

  async waitPort(port, p, what) {
    for (let i = 0; i < 200; i++) {
      if (p.exitCode !== null || p.signalCode !== null) break;
      const ok = await new Promise((r) => {
        const s = net.connect(port, '127.0.0.1');
        s.on('connect', () => {
          s.destroy();
          r(true);
        });
        s.on('error', () => r(false));
      });
      if (ok) return;
      await sleep(50);
    }
    throw new Error(`${what} did not start:\n${this.log.slice(-4000)}`);
  }

  // Split mode: the controller, then the node, each its own process group.
  async startSplit(env) {
    this.procs = {};
    this.procs.controller = this.spawnPart('xwhisk-controller', env);
    await this.waitPort(this.controllerPort, this.procs.controller, 'the controller');
    await this.startNode(env);
    return this;
  }

  async startNode(env = this.baseEnv()) {
    this.procs.node = this.spawnPart('xwhisk-node', env);
    await this.waitPort(this.nodePort, this.procs.node, 'the node');
  }

  get nodePid() {
    return this.procs && this.procs.node ? this.procs.node.pid : null;
  }

  // Split mode: stops the node process alone (its sandboxes live on, as in an upgrade)
  // and starts a new one on the same ports, data directory and maps.
  async restartNode(signal = 'SIGTERM') {
    if (!this.split) throw new Error('restartNode needs new System({ split: true })');
    const node = this.procs.node;
    try {
      process.kill(node.pid, signal);
    } catch (e) {
      /* gone */
    }
    const timer = setTimeout(() => {
      try {
        process.kill(node.pid, 'SIGKILL');
      } catch (e) {
        /* gone */
      }
    }, 10000);
    await node.exited;
    clearTimeout(timer);
    await this.startNode();
    return this;
  }

  async stopSplit(signal) {
    const parts = Object.values(this.procs || {});
    for (const p of parts.reverse()) {
      try {
        process.kill(-p.pid, signal);
      } catch (e) {
        /* already gone */
      }
    }
    const timer = setTimeout(() => {
      for (const p of parts)
        try {
          process.kill(-p.pid, 'SIGKILL');
        } catch (e) {
          /* gone */
        }
    }, 10000);
    const r = await Promise.all(parts.map((p) => p.exited));
    clearTimeout(timer);
    this.procs = null;
    return r[r.length - 1];
  }

  async stop(signal = 'SIGTERM') {
    if (this.split) return this.procs ? this.stopSplit(signal) : undefined;
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

  // Removes the system's sandboxes and pinned maps (xwhisk-node --destroy), then its data.
  cleanup() {
    try {
      execFileSync(path.join(BUILD, 'xwhisk-node'), ['--destroy', '--data-dir', this.dataDir], {
        env: { ...process.env, ...this.netEnv, ...this.env },
        stdio: 'ignore',
        timeout: 30000,
      });
    } catch (e) {
      /* best effort: the directory goes anyway */
    }
    // The sandbox bridge (and its subnet's route) if the node left it behind.
    try {
      execFileSync('ip', ['link', 'del', this.netEnv.XWHISK_SANDBOX_BRIDGE], { stdio: 'ignore' });
    } catch (e) {
      /* already gone */
    }
    fs.rmSync(this.dataDir, { recursive: true, force: true });
    if (this.pgDatabase) {
      try {
        psql(this.store, `DROP DATABASE IF EXISTS ${this.pgDatabase} WITH (FORCE)`);
      } catch (e) {
        /* the server may be gone already */
      }
      this.pgDatabase = null;
    }
  }

  get apihost() {
    return `http://127.0.0.1:${this.nodePort}`;
  }

  // xwhisk-admin against this system's store; returns stdout.
  admin(...args) {
    const store = this.env.XWHISK_STORE || this.storeUri;
    const opts = store ? ['--store', store] : [];
    return execFileSync(path.join(BUILD, 'xwhisk-admin'), ['--data-dir', this.dataDir, ...opts, ...args], {
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

// run.failed: the cases that failed so far (teardown hooks may print more when > 0).
async function run() {
  let failed = 0;
  try {
    for (const h of hooks.before) await h();
  } catch (e) {
    console.log(`not ok - setup: ${fmtErr(e)}`);
    failed++;
  }
  if (!failed) {
    // XWHISK_TEST_ONLY=regex: only the cases whose name matches (while debugging one).
    const only = process.env.XWHISK_TEST_ONLY ? new RegExp(process.env.XWHISK_TEST_ONLY) : null;
    for (const c of cases) {
      if (only && !only.test(c.name)) continue;
      try {
        await c.fn();
        console.log(`ok - ${c.name}`);
      } catch (e) {
        failed++;
        run.failed = failed;
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

// The usual test file's system: started before its first test, stopped and removed
// after its last.
function systemPerFile(options) {
  const sys = new System(options);
  test.before(() => sys.start());
  test.after(async () => {
    await sys.stop();
    sys.cleanup();
  });
  return sys;
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
  isPgUri,
  systemPerFile,
  test,
  run,
  assert,
  expectError,
  sleep,
  request,
  freePort,
  GUEST_AUTH,
  SYSTEM_AUTH,
  TOP,
  BUILD,
};
