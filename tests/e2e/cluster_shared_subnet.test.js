// SPDX-License-Identifier: Apache-2.0
// Nodes that all use the same sandbox subnet (a DaemonSet with one setting for every
// node) cannot reach each other's sandboxes: each serves from its own instead of
// routing into a sandbox it cannot reach.
'use strict';
const { execFileSync } = require('child_process');
const path = require('path');
const { test, run, assert, TOP, BUILD, GUEST_AUTH } = require('./lib/harness');

const NAME = `s${process.pid % 100000}`;
const SCRIPT = path.join(TOP, 'scripts', 'xwhisk-cluster');
const ENV = {
  ...process.env,
  XWHISK_BIN: BUILD,
  XWHISK_CLUSTER_SUBNET: '169.254.96.0/22',
  XWHISK_PREWARM: '',
  XWHISK_LOG_LEVEL: 'info',
};
const cluster = (...args) => execFileSync(SCRIPT, args, { env: ENV, encoding: 'utf8', timeout: 120000 });

function invoke(i, action, params) {
  const out = cluster('exec', NAME, 'cli', 'curl', '-s', '-m', '60', '-u', GUEST_AUTH, '-X', 'POST',
    '-H', 'Content-Type: application/json', '-d', JSON.stringify(params), '-w', '\n%{http_code}',
    `http://10.77.0.${10 + i}:3233/api/v1/namespaces/_/actions/${action}?blocking=true`);
  const nl = out.lastIndexOf('\n');
  return { status: Number(out.slice(nl + 1)), text: out.slice(0, nl) };
}

test.before(() => {
  cluster('up', NAME, '2');
  const out = cluster('exec', NAME, 'cli', 'curl', '-s', '-u', GUEST_AUTH, '-X', 'PUT',
    '-H', 'Content-Type: application/json', '-d',
    JSON.stringify({ exec: { kind: 'nodejs:20', code: 'function main(p) { return { n: p.n } }' } }),
    'http://10.77.0.11:3233/api/v1/namespaces/_/actions/where');
  assert.ok(out.includes('"name":"where"'), out);
});
test.after(() => cluster('down', NAME));

test('each node serves from its own sandbox when the subnets are the same', async () => {
  for (const [i, n] of [[1, 1], [2, 2], [1, 3], [2, 4]]) {
    const r = invoke(i, 'where', { n });
    assert.strictEqual(r.status, 200, `n${i}: ${r.text}`);
    assert.deepStrictEqual(JSON.parse(r.text).response.result, { n });
  }
  const log = require('fs').readFileSync(`/tmp/xwc-${NAME}/n2.log`, 'utf8');
  assert.ok(/inside this node's own sandbox subnet: not routed to/.test(log), 'n2 said why');
});

run();
