// SPDX-License-Identifier: Apache-2.0
// The system starts as `make run` does and answers the basics.
'use strict';
const { systemPerFile, test, run, assert } = require('./lib/harness');

const sys = systemPerFile();

test('GET /ping answers pong', async () => {
  const r = await sys.request('GET', '/ping', { auth: null });
  assert.strictEqual(r.status, 200);
  assert.strictEqual(r.text, 'pong');
});

test('the openwhisk client lists the guest namespace', async () => {
  const ns = await sys.client().namespaces.list();
  assert.deepStrictEqual(ns, ['guest']);
});

run();
