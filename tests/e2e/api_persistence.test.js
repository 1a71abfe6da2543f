// SPDX-License-Identifier: Apache-2.0
// Entities, rule states, activations, users and limits survive a restart of the system
// (controller and node) on the same data directory.
'use strict';
const { systemPerFile, test, run, assert, expectError, SYSTEM_AUTH } = require('./lib/harness');
const { NS, expectStatus, postActivations, activationRecord, nodeToken } = require('./lib/api');

const sys = systemPerFile();

const exec = { kind: 'nodejs:20', code: 'function main(p) { return p }' };
const paths = {
  action: `${NS}/_/actions/keep`,
  pkg: `${NS}/_/packages/kpkg`,
  pkgAction: `${NS}/_/actions/kpkg/inside`,
  binding: `${NS}/_/packages/kbind`,
  seq: `${NS}/_/actions/kseq`,
  trigger: `${NS}/_/triggers/ktrig`,
  rule: `${NS}/_/rules/krule`,
  rule2: `${NS}/_/rules/krule2`,
};
const before = {};
const recs = [activationRecord({ name: 'keep', start: Date.now() - 2000 }), activationRecord({ name: 'keep', start: Date.now() - 1000, statusCode: 1, result: { error: 'x' } })];
let token, userKey, lists;

test('create entities, activations, a user and limits', async () => {
  expectStatus(await sys.request('PUT', paths.action, { body: { exec, parameters: [{ key: 'a', value: 1, init: true }], limits: { memory: 128 } } }), 200);
  expectStatus(await sys.request('PUT', `${paths.action}?overwrite=true`, { body: { annotations: [{ key: 'web-export', value: true }] } }), 200);
  expectStatus(await sys.request('PUT', `${NS}/_/packages/spkg`, { auth: SYSTEM_AUTH, body: { publish: true, parameters: [{ key: 's', value: 1 }] } }), 200);
  expectStatus(await sys.request('PUT', `${NS}/_/actions/spkg/sact`, { auth: SYSTEM_AUTH, body: { exec } }), 200);
  expectStatus(await sys.request('PUT', paths.pkg, { body: { parameters: [{ key: 'p', value: 2 }] } }), 200);
  expectStatus(await sys.request('PUT', paths.pkgAction, { body: { exec } }), 200);
  expectStatus(await sys.request('PUT', paths.binding, { body: { binding: { namespace: 'whisk.system', name: 'spkg' }, parameters: [{ key: 'b', value: 3 }] } }), 200);
  expectStatus(await sys.request('PUT', paths.seq, { body: { exec: { kind: 'sequence', components: ['/_/keep', '/_/kpkg/inside'] } } }), 200);
  expectStatus(await sys.request('PUT', paths.trigger, { body: { parameters: [{ key: 't', value: 4 }] } }), 200);
  expectStatus(await sys.request('PUT', paths.rule, { body: { trigger: '/_/ktrig', action: '/_/keep' } }), 200);
  expectStatus(await sys.request('PUT', paths.rule2, { body: { trigger: '/_/ktrig', action: '/_/kpkg/inside' } }), 200);
  expectStatus(await sys.request('POST', paths.rule2, { body: { status: 'inactive' } }), 200);
  for (const [k, p] of Object.entries(paths)) before[k] = expectStatus(await sys.request('GET', p), 200);
  assert.strictEqual(before.rule.status, 'active');
  assert.strictEqual(before.rule2.status, 'inactive');
  before.viaBinding = expectStatus(await sys.request('GET', `${NS}/_/actions/kbind/sact`), 200);
  expectStatus(await postActivations(sys, recs), 200);
  token = nodeToken(sys);
  userKey = sys.admin('user', 'create', 'persisted');
  sys.admin('limits', 'set', 'persisted', '--invocationsPerMinute', '77');
  lists = {};
  for (const c of ['actions', 'packages', 'triggers', 'rules', 'activations'])
    lists[c] = expectStatus(await sys.request('GET', `${NS}/_/${c}?limit=0`), 200);
});

test('restart the system', async () => {
  await sys.restart();
  const r = await sys.request('GET', '/ping', { auth: null });
  assert.strictEqual(r.text, 'pong');
});

test('every entity reads back exactly as before', async () => {
  for (const [k, p] of Object.entries(paths)) {
    const now = expectStatus(await sys.request('GET', p), 200);
    assert.deepStrictEqual(now, before[k], k);
  }
  assert.strictEqual(before.action.version, '0.0.2');
  assert.strictEqual(before.action.parameters[0].init, true);
  assert.deepStrictEqual(expectStatus(await sys.request('GET', `${NS}/_/actions/kbind/sact`), 200), before.viaBinding);
});

test('lists and counts are unchanged', async () => {
  for (const c of Object.keys(lists)) {
    const now = expectStatus(await sys.request('GET', `${NS}/_/${c}?limit=0`), 200);
    assert.deepStrictEqual(now, lists[c], c);
  }
  assert.deepStrictEqual(expectStatus(await sys.request('GET', `${NS}/_/activations?count=true`), 200), { activations: 2 });
});

test('rule states survive and can still be changed', async () => {
  const t = expectStatus(await sys.request('GET', paths.trigger), 200);
  assert.strictEqual(t.rules['guest/krule'].status, 'active');
  assert.strictEqual(t.rules['guest/krule2'].status, 'inactive');
  expectStatus(await sys.request('POST', paths.rule2, { body: { status: 'active' } }), 200);
  assert.strictEqual(expectStatus(await sys.request('GET', paths.rule2), 200).status, 'active');
});

test('activations, their results and logs survive; the node token is kept', async () => {
  for (const r of recs) {
    const got = expectStatus(await sys.request('GET', `${NS}/_/activations/${r.activationId}`), 200);
    assert.strictEqual(got.start, r.start);
    assert.deepStrictEqual(got.logs, r.logs);
    const res = expectStatus(await sys.request('GET', `${NS}/_/activations/${r.activationId}/result`), 200);
    assert.deepStrictEqual(res.result, r.response.result);
  }
  assert.strictEqual(nodeToken(sys), token);
  expectStatus(await postActivations(sys, recs, { token }), 200);
  assert.deepStrictEqual(expectStatus(await sys.request('GET', `${NS}/_/activations?count=true`), 200), { activations: 2 }, 'still idempotent');
});

test('users and limits made with xwhisk-admin survive', async () => {
  assert.deepStrictEqual(expectStatus(await sys.request('GET', `${NS}`, { auth: userKey }), 200), ['persisted']);
  const l = expectStatus(await sys.request('GET', `${NS}/_/limits`, { auth: userKey }), 200);
  assert.strictEqual(l.invocationsPerMinute, 77);
});

test('writes continue from the stored state (versions, conflicts, deletes)', async () => {
  const u = expectStatus(await sys.request('PUT', `${paths.action}?overwrite=true`, { body: {} }), 200);
  assert.strictEqual(u.version, '0.0.3');
  expectError(await sys.request('PUT', paths.trigger, { body: {} }), 409);
  expectError(await sys.request('DELETE', paths.pkg), 409, 'Package not empty');
  expectStatus(await sys.request('DELETE', `${paths.pkg}?force=true`), 200);
  await sys.restart();
  expectError(await sys.request('GET', paths.pkg), 404);
  expectError(await sys.request('GET', paths.pkgAction), 404);
  assert.strictEqual(expectStatus(await sys.request('GET', paths.action), 200).version, '0.0.3');
});

run();
