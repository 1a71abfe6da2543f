#!/usr/bin/env node
// SPDX-License-Identifier: Apache-2.0
//
// Installs the whisk.system catalog (manifest.json) through the OpenWhisk API, as
// OpenWhisk's postdeploy step installs its catalog. Idempotent: a package or action
// that is already as the manifest says is left alone, so a restart changes nothing.
//
//   node scripts/catalog/install.js [--apihost URL] [--auth UUID:KEY] [--timeout S]
//
// The API host defaults to $XWHISK_APIHOST, else http://$XWHISK_NODE_LISTEN, else
// http://127.0.0.1:3233; the key to $XWHISK_SYSTEM_AUTH, else the well-known whisk.system
// key the embedded system seeds. Ends with one line, "xwhisk catalog: ...", and exit
// status 0 when everything is in place.
'use strict';

const fs = require('fs');
const path = require('path');

const DEFAULT_SYSTEM_AUTH =
  '789c46b1-71f6-4ed5-8c54-816aa4f8c502:abczO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwP';

function options(argv) {
  const o = {
    apihost:
      process.env.XWHISK_APIHOST ||
      (process.env.XWHISK_NODE_LISTEN ? `http://${process.env.XWHISK_NODE_LISTEN}` : 'http://127.0.0.1:3233'),
    auth: process.env.XWHISK_SYSTEM_AUTH || DEFAULT_SYSTEM_AUTH,
    timeoutS: 30,
  };
  for (let i = 2; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--apihost') o.apihost = argv[++i];
    else if (a === '--auth') o.auth = argv[++i];
    else if (a === '--timeout') o.timeoutS = Number(argv[++i]);
    else if (a === '-h' || a === '--help') {
      console.log('usage: install.js [--apihost URL] [--auth UUID:KEY] [--timeout S]');
      process.exit(0);
    } else throw new Error(`unknown argument '${a}'`);
  }
  if (!/^https?:\/\//.test(o.apihost)) o.apihost = `http://${o.apihost}`;
  o.apihost = o.apihost.replace(/\/+$/, '');
  return o;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// One API call; retried while the system is still coming up (no answer, or 5xx).
async function call(o, deadline, method, urlPath, body) {
  const url = `${o.apihost}/api/v1/namespaces/${urlPath}`;
  const headers = { Authorization: 'Basic ' + Buffer.from(o.auth).toString('base64') };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  for (let attempt = 0; ; attempt++) {
    let res, text;
    try {
      res = await fetch(url, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(10000),
      });
      text = await res.text();
    } catch (e) {
      if (Date.now() > deadline) throw new Error(`${method} ${url}: ${e.message}`);
      await sleep(Math.min(100 * 2 ** attempt, 1000));
      continue;
    }
    if (res.status >= 500 && Date.now() <= deadline) {
      await sleep(Math.min(100 * 2 ** attempt, 1000));
      continue;
    }
    let json;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch (e) {
      json = undefined;
    }
    return { status: res.status, json, text };
  }
}

const canon = (v) => JSON.stringify(v === undefined ? null : v);

function expect(res, what, ...ok) {
  if (!ok.includes(res.status)) throw new Error(`${what}: HTTP ${res.status} ${res.text.slice(0, 300)}`);
  return res.json;
}

async function installPackage(o, deadline, ns, pkg) {
  const where = `${encodeURIComponent(ns)}/packages/${encodeURIComponent(pkg.name)}`;
  const want = { publish: !!pkg.publish, annotations: pkg.annotations || [], parameters: pkg.parameters || [] };
  const cur = await call(o, deadline, 'GET', where);
  expect(cur, `GET package ${pkg.name}`, 200, 404);
  let changed = 0;
  if (
    cur.status === 404 ||
    cur.json.publish !== want.publish ||
    canon(cur.json.annotations) !== canon(want.annotations) ||
    canon(cur.json.parameters) !== canon(want.parameters) ||
    (cur.json.binding && Object.keys(cur.json.binding).length)
  ) {
    expect(await call(o, deadline, 'PUT', `${where}?overwrite=true`, want), `PUT package ${pkg.name}`, 200);
    changed++;
  }
  for (const a of pkg.actions || []) {
    const code = fs.readFileSync(path.join(__dirname, a.file), 'utf8');
    const at = `${encodeURIComponent(ns)}/actions/${encodeURIComponent(pkg.name)}/${encodeURIComponent(a.name)}`;
    const body = {
      exec: { kind: a.kind, code },
      annotations: a.annotations || [],
      parameters: a.parameters || [],
      limits: a.limits || {},
    };
    const now = await call(o, deadline, 'GET', at);
    expect(now, `GET action ${pkg.name}/${a.name}`, 200, 404);
    if (now.status === 200) {
      const j = now.json;
      // The controller adds annotations of its own (exec, provide-api-key): compare ours.
      const theirs = (j.annotations || []).filter((x) => (a.annotations || []).some((y) => y.key === x.key));
      const same =
        j.exec &&
        j.exec.kind === a.kind &&
        j.exec.code === code &&
        canon(theirs) === canon(a.annotations || []) &&
        canon(j.parameters || []) === canon(a.parameters || []);
      if (same) continue;
    }
    expect(await call(o, deadline, 'PUT', `${at}?overwrite=true`, body), `PUT action ${pkg.name}/${a.name}`, 200);
    changed++;
  }
  return changed;
}

async function main() {
  const o = options(process.argv);
  const manifest = JSON.parse(fs.readFileSync(path.join(__dirname, 'manifest.json'), 'utf8'));
  const deadline = Date.now() + o.timeoutS * 1000;
  const done = [];
  let changed = 0;
  for (const pkg of manifest.packages) {
    changed += await installPackage(o, deadline, manifest.namespace, pkg);
    done.push(`${manifest.namespace}/${pkg.name} (${(pkg.actions || []).length} actions)`);
  }
  console.log(`xwhisk catalog: ${done.join(', ')} installed, ${changed} changed`);
}

main().catch((e) => {
  console.log(`xwhisk catalog: not installed: ${e.message}`);
  process.exit(1);
});
