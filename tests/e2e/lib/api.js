// SPDX-License-Identifier: Apache-2.0
//
// Helpers shared by the management API tests (api_*.test.js): status checks that show the
// body, the node token of a system, activation records as nodes store them, and a raw
// HTTP exchange for requests the http module will not send (a lying Content-Length).
'use strict';

const crypto = require('crypto');
const fs = require('fs');
const net = require('net');
const path = require('path');
const { assert, request } = require('./harness');

const NS = '/api/v1/namespaces';

// Asserts the status and returns the parsed body.
function expectStatus(res, status) {
  assert.strictEqual(res.status, status, `status ${res.status} (wanted ${status}): ${res.text.slice(0, 500)}`);
  return res.json;
}

// Asserts that a promise from the npm client rejects with the HTTP status.
async function expectClientError(promise, status, messagePart) {
  let err;
  try {
    await promise;
  } catch (e) {
    err = e;
  }
  assert.ok(err, `expected the client to fail with ${status}`);
  assert.strictEqual(err.statusCode, status, `client error ${err.statusCode} (wanted ${status}): ${err.message}`);
  if (messagePart !== undefined)
    assert.ok(err.message.includes(messagePart), `client error "${err.message}" should contain "${messagePart}"`);
  return err;
}

// After a bad request the server must keep serving: a normal call still works.
async function stillServing(sys) {
  const r = await sys.request('GET', '/api/v1/namespaces');
  assert.strictEqual(r.status, 200, `server stopped serving: ${r.status} ${r.text}`);
  assert.deepStrictEqual(r.json, ['guest']);
}

function nodeToken(sys) {
  return fs.readFileSync(path.join(sys.dataDir, 'controller', 'node.token'), 'utf8').trim();
}

// POST /internal/v1/activations on the controller, as a node ships its records.
function postActivations(sys, records, { token = nodeToken(sys), body, raw } = {}) {
  const headers = token === null ? {} : { Authorization: `Bearer ${token}` };
  return request(sys.controllerPort, 'POST', '/internal/v1/activations', {
    auth: null,
    headers,
    body: body !== undefined ? body : raw === undefined ? { activations: records } : undefined,
    raw,
  });
}

// Records as JSON lines (application/x-ndjson), as nodes ship their spool: each record a
// line, or a line given as a string as it is.
function postLines(sys, lines, { token = nodeToken(sys) } = {}) {
  const text = lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n') + '\n';
  return request(sys.controllerPort, 'POST', '/internal/v1/activations', {
    auth: null,
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/x-ndjson' },
    raw: text,
  });
}

const newId = () => crypto.randomBytes(16).toString('hex');

// A stored activation record (OpenWhisk's WhiskActivation with response.statusCode).
function activationRecord({
  namespace = 'guest',
  name = 'hello',
  path: actionPath,
  start = Date.now(),
  duration = 5,
  end,
  statusCode = 0,
  result = { ok: true },
  logs = ['2024-01-01T00:00:00.000Z stdout: hello'],
  annotations,
  id = newId(),
} = {}) {
  const e = end !== undefined ? end : start + duration;
  const rec = {
    namespace,
    name,
    subject: namespace,
    activationId: id,
    start,
    end: e,
    response: { statusCode, result },
    logs,
    annotations: annotations || [
      { key: 'path', value: actionPath || `${namespace}/${name}` },
      { key: 'kind', value: 'nodejs:20' },
      { key: 'limits', value: { timeout: 60000, memory: 256, logs: 10, concurrency: 1 } },
    ],
    version: '0.0.1',
    publish: false,
  };
  if (e > 0) rec.duration = e - start;
  return rec;
}

// Sends bytes as they are on a fresh connection; resolves with the raw response text.
function rawExchange(port, data, { timeoutMs = 10000 } = {}) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    const chunks = [];
    const timer = setTimeout(() => {
      sock.destroy();
      resolve(Buffer.concat(chunks).toString());
    }, timeoutMs);
    sock.on('data', (c) => chunks.push(c));
    sock.on('error', (e) => {
      clearTimeout(timer);
      if (chunks.length) resolve(Buffer.concat(chunks).toString());
      else reject(e);
    });
    sock.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString());
    });
    sock.write(data);
  });
}

// Parses "HTTP/1.1 413 ...\r\nheaders\r\n\r\nbody" (no chunked encoding).
function parseRaw(text) {
  const sep = text.indexOf('\r\n\r\n');
  const head = sep >= 0 ? text.slice(0, sep) : text;
  const body = sep >= 0 ? text.slice(sep + 4) : '';
  const lines = head.split('\r\n');
  const status = Number((lines[0] || '').split(' ')[1]);
  const headers = {};
  for (const l of lines.slice(1)) {
    const i = l.indexOf(':');
    if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
  }
  let json;
  try {
    json = JSON.parse(body);
  } catch (e) {
    json = undefined;
  }
  return { status, headers, text: body, json };
}

// An annotation's value in a [{key, value}] array.
function kv(arr, key) {
  const e = (arr || []).find((x) => x.key === key);
  return e ? e.value : undefined;
}

module.exports = {
  NS,
  expectStatus,
  expectClientError,
  stillServing,
  nodeToken,
  postActivations,
  postLines,
  activationRecord,
  newId,
  rawExchange,
  parseRaw,
  kv,
};
