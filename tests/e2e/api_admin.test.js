// SPDX-License-Identifier: Apache-2.0
// xwhisk-admin (like OpenWhisk's wskadmin) against a running system: users and their
// keys, and namespace limits, as the API sees them (openwhisk-api.md 1.4, 2).
'use strict';
const { spawnSync } = require('child_process');
const path = require('path');
const { systemPerFile, test, run, assert, expectError, GUEST_AUTH, SYSTEM_AUTH, BUILD } = require('./lib/harness');
const { NS, expectStatus, stillServing } = require('./lib/api');

const sys = systemPerFile();

const KEY = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}:[A-Za-z0-9]{64}$/;
const exec = { kind: 'nodejs:20', code: 'function main(p) { return p }' };

// Runs xwhisk-admin expecting failure; returns its stderr (kept off the test output).
function adminFails(...args) {
  const store = sys.storeUri ? ['--store', sys.storeUri] : []; // the system's store (PostgreSQL: XWHISK_TEST_STORE)
  const r = spawnSync(path.join(BUILD, 'xwhisk-admin'), ['--data-dir', sys.dataDir, ...store, ...args], { encoding: 'utf8' });
  assert.notStrictEqual(r.status, 0, `xwhisk-admin ${args.join(' ')} should have failed: ${r.stdout}`);
  assert.ok(r.stderr.length > 0, 'says why on stderr');
  return r.stderr;
}

let aliceKey;

test('user create prints a uuid:key that works through the API and the client', async () => {
  aliceKey = sys.admin('user', 'create', 'alice');
  assert.match(aliceKey, KEY);
  assert.deepStrictEqual(expectStatus(await sys.request('GET', `${NS}`, { auth: aliceKey }), 200), ['alice']);
  assert.deepStrictEqual(await sys.client(aliceKey).namespaces.list(), ['alice']);
  const a = expectStatus(await sys.request('PUT', `${NS}/_/actions/mine`, { auth: aliceKey, body: { exec } }), 200);
  assert.strictEqual(a.namespace, 'alice');
  expectError(await sys.request('GET', `${NS}/alice/actions/mine`), 403, 'not authorized');
  expectError(await sys.request('GET', `${NS}/_/actions/mine`), 404);
});

test('user create of an existing namespace fails; a bad name is refused', async () => {
  assert.match(adminFails('user', 'create', 'alice'), /already exists/);
  adminFails('user', 'create', 'bad$name');
  adminFails('user', 'create', 'a/b');
});

test('user create --auth uses the given key', async () => {
  const given = '11111111-2222-4333-8444-555555555555:' + 'K'.repeat(64);
  assert.strictEqual(sys.admin('user', 'create', 'bob', '--auth', given), given);
  assert.deepStrictEqual(expectStatus(await sys.request('GET', `${NS}`, { auth: given }), 200), ['bob']);
  adminFails('user', 'create', 'carol', '--auth', 'not-a-key');
  adminFails('user', 'create', 'dave', '--auth', given); // the uuid is taken
});

test('user list shows the namespaces without keys', async () => {
  const list = JSON.parse(sys.admin('user', 'list'));
  const names = list.map((u) => u.namespace).sort();
  assert.deepStrictEqual(names, ['alice', 'bob', 'guest', 'whisk.system']);
  const alice = list.find((u) => u.namespace === 'alice');
  assert.strictEqual(alice.uuid, aliceKey.split(':')[0]);
  const text = JSON.stringify(list);
  assert.ok(!text.includes(aliceKey.split(':')[1]), 'no key in the listing');
  assert.ok(!text.includes(GUEST_AUTH.split(':')[1]));
  const got = JSON.parse(sys.admin('user', 'get', 'guest'));
  assert.strictEqual(got.uuid, GUEST_AUTH.split(':')[0]);
  adminFails('user', 'get', 'nobody');
});

test('user regenerate: the old key is 401, the new one works, entities stay', async () => {
  const fresh = sys.admin('user', 'regenerate', 'alice');
  assert.match(fresh, KEY);
  assert.notStrictEqual(fresh, aliceKey);
  expectError(await sys.request('GET', `${NS}`, { auth: aliceKey }), 401, 'The supplied authentication is invalid');
  assert.deepStrictEqual(expectStatus(await sys.request('GET', `${NS}`, { auth: fresh }), 200), ['alice']);
  expectStatus(await sys.request('GET', `${NS}/_/actions/mine`, { auth: fresh }), 200);
  aliceKey = fresh;
  adminFails('user', 'regenerate', 'nobody');
});

test('user delete: the key is 401 afterwards; others are unaffected', async () => {
  assert.match(sys.admin('user', 'delete', 'bob'), /bob/);
  const bobKey = '11111111-2222-4333-8444-555555555555:' + 'K'.repeat(64);
  expectError(await sys.request('GET', `${NS}`, { auth: bobKey }), 401);
  assert.ok(!JSON.parse(sys.admin('user', 'list')).some((u) => u.namespace === 'bob'));
  adminFails('user', 'delete', 'bob');
  await stillServing(sys);
});

test('limits get prints the effective limits', async () => {
  const l = JSON.parse(sys.admin('limits', 'get', 'alice'));
  assert.strictEqual(l.invocationsPerMinute, 60);
  assert.strictEqual(l.maxActionMemory, 512);
  assert.deepStrictEqual(l, expectStatus(await sys.request('GET', `${NS}/_/limits`, { auth: aliceKey }), 200));
  adminFails('limits', 'get', 'nobody');
});

test('limits set: overrides show in GET /limits of that namespace only', async () => {
  sys.admin('limits', 'set', 'alice', '--invocationsPerMinute', '600', '--concurrentInvocations', '5', '--firesPerMinute', '9');
  const l = expectStatus(await sys.request('GET', `${NS}/_/limits`, { auth: aliceKey }), 200);
  assert.strictEqual(l.invocationsPerMinute, 600);
  assert.strictEqual(l.concurrentInvocations, 5);
  assert.strictEqual(l.firesPerMinute, 9);
  const g = expectStatus(await sys.request('GET', `${NS}/_/limits`), 200);
  assert.strictEqual(g.invocationsPerMinute, 60);
  assert.strictEqual(g.concurrentInvocations, 30);
  assert.strictEqual(JSON.parse(sys.admin('limits', 'get', 'alice')).invocationsPerMinute, 600);
  adminFails('limits', 'set', 'alice', '--noSuchLimit', '1');
  adminFails('limits', 'set', 'alice', '--invocationsPerMinute', 'many');
  adminFails('limits', 'set', 'alice', '--invocationsPerMinute', '4294967296'); // nodes count in 32 bits
  adminFails('limits', 'set', 'nobody', '--invocationsPerMinute', '1');
});

test('limits set: action bounds are enforced on PUT with OpenWhisk\'s messages', async () => {
  sys.admin('limits', 'set', 'alice', '--maxActionMemory', '256', '--maxActionTimeout', '10000', '--maxActionConcurrency', '4');
  const put = (limits) => sys.request('PUT', `${NS}/_/actions/lim?overwrite=true`, { auth: aliceKey, body: { exec, limits } });
  expectError(await put({ memory: 300 }), 400, 'memory 300 MB exceeds allowed threshold of 256 MB');
  expectError(await put({ timeout: 20000 }), 400, 'duration 20000 milliseconds exceeds allowed threshold of 10000 milliseconds');
  expectError(await put({ concurrency: 5 }), 400, 'concurrency 5 exceeds allowed threshold of 4');
  expectError(await put({ instances: 6 }), 400, 'Max action instance concurrency must not exceed your namespace concurrency of 5.');
  expectStatus(await put({ memory: 256, timeout: 10000, concurrency: 4, instances: 5 }), 200);
  const l = expectStatus(await sys.request('GET', `${NS}/_/limits`, { auth: aliceKey }), 200);
  assert.strictEqual(l.maxActionMemory, 256);
  assert.strictEqual(l.maxActionTimeout, 10000);
  // guest keeps the system bounds
  expectStatus(await sys.request('PUT', `${NS}/_/actions/lim`, { body: { exec, limits: { memory: 512 } } }), 200);
});

test('limits delete drops every override', async () => {
  sys.admin('limits', 'delete', 'alice');
  const l = expectStatus(await sys.request('GET', `${NS}/_/limits`, { auth: aliceKey }), 200);
  assert.strictEqual(l.invocationsPerMinute, 60);
  assert.strictEqual(l.maxActionMemory, 512);
  assert.strictEqual(l.concurrentInvocations, 30);
  expectStatus(await sys.request('PUT', `${NS}/_/actions/lim?overwrite=true`, { auth: aliceKey, body: { limits: { memory: 512 } } }), 200);
});

test('the seeded keys keep working alongside new users', async () => {
  assert.deepStrictEqual(expectStatus(await sys.request('GET', `${NS}`, { auth: SYSTEM_AUTH }), 200), ['whisk.system']);
  await stillServing(sys);
});

run();
