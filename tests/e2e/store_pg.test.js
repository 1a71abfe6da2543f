// SPDX-License-Identifier: Apache-2.0
// The PostgreSQL store end to end, on a server this file starts (tests/pg/pgtmp.sh):
// entities and activations through the npm `openwhisk` client, conflicts, a restart,
// an outage of the database (503 with Retry-After; a node's records wait in its spool),
// retention, and two controllers on one database (an update through one reaches the
// other's nodes).
// The whole API suite runs on PostgreSQL too: XWHISK_TEST_STORE=$(tests/pg/pgtmp.sh start).
'use strict';
const path = require('path');
const { execFileSync } = require('child_process');
const { System, test, run, assert, sleep, TOP } = require('./lib/harness');
const { NS, expectStatus, expectClientError, postActivations, activationRecord } = require('./lib/api');
const { invoke, invokeOk, putAction } = require('./lib/dp');

const PGTMP = path.join(TOP, 'tests', 'pg', 'pgtmp.sh');
const pgtmp = (...args) => execFileSync(PGTMP, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 120000 }).trim();

let server = null; // the server's URI
let a = null; // controller + node on the server's database
let b = null; // a second controller + node on the same database
const exec = { kind: 'nodejs:20', code: 'function main(p) { return { got: p } }' };
const HOUR = 3600 * 1000;

test.before(async () => {
  server = pgtmp('start');
  a = new System({ store: server });
  await a.start();
  assert.ok(/^postgresql:\/\//.test(a.storeUri), `system A runs on PostgreSQL: ${a.storeUri}`);
});

test.after(async () => {
  if (run.failed) for (const s of [a, b]) if (s) console.log(`---- log of a system ----\n${s.log.slice(-3000)}`);
  for (const s of [b, a]) {
    if (!s) continue;
    await s.stop();
    s.cleanup();
  }
  if (server) pgtmp('stop', server);
});

test('npm client: create, get, update, list and delete entities', async () => {
  const ow = a.client();
  await ow.actions.create({ name: 'pga', action: { exec } });
  let got = await ow.actions.get({ name: 'pga' });
  assert.strictEqual(got.version, '0.0.1');
  await ow.actions.update({ name: 'pga', action: { exec, parameters: [{ key: 'k', value: 1 }] } });
  got = await ow.actions.get({ name: 'pga' });
  assert.strictEqual(got.version, '0.0.2');
  assert.deepStrictEqual(got.parameters, [{ key: 'k', value: 1 }]);
  await ow.packages.create({ name: 'pgp' });
  await ow.actions.create({ name: 'pgp/inner', action: { exec } });
  await ow.triggers.create({ name: 'pgt' });
  await ow.rules.create({ name: 'pgr', trigger: 'pgt', action: 'pga' });
  const names = (await ow.actions.list()).map((x) => x.name).sort();
  assert.deepStrictEqual(names, ['inner', 'pga']);
  assert.strictEqual((await ow.rules.get({ name: 'pgr' })).status, 'active');
  await ow.rules.delete({ name: 'pgr' });
  await ow.triggers.delete({ name: 'pgt' });
  await ow.actions.delete({ name: 'pgp/inner' });
  await ow.packages.delete({ name: 'pgp' });
  await expectClientError(ow.packages.get({ name: 'pgp' }), 404);
});

test('create of an existing entity is 409; concurrent updates never both win', async () => {
  const ow = a.client();
  await expectClientError(ow.actions.create({ name: 'pga', action: { exec } }), 409);
  // 20 updates at once: each that succeeds bumped the revision it read, so the version
  // counts exactly the successes; the others are 409 "Concurrent modification".
  const before = await ow.actions.get({ name: 'pga' });
  const res = await Promise.all(
    Array.from({ length: 20 }, (_, i) =>
      a.request('PUT', `${NS}/_/actions/pga?overwrite=true`, { body: { exec, parameters: [{ key: 'i', value: i }] } }),
    ),
  );
  const ok = res.filter((r) => r.status === 200).length;
  for (const r of res) assert.ok(r.status === 200 || r.status === 409, `${r.status} ${r.text}`);
  const after = await ow.actions.get({ name: 'pga' });
  const patch = (v) => Number(v.split('.')[2]);
  assert.strictEqual(patch(after.version), patch(before.version) + ok, `${ok} updates succeeded`);
});

const T0 = Date.now() - HOUR;
const recs = [
  activationRecord({ name: 'hello', start: T0 + 1000 }),
  activationRecord({ name: 'hello', start: T0 + 2000, statusCode: 1, result: { error: 'x' } }),
  activationRecord({ name: 'other', start: T0 + 3000 }),
  activationRecord({ name: 'act', path: 'guest/mypkg/act', start: T0 + 4000 }),
  activationRecord({ name: 'hello', start: T0 + 5000 }),
];

test('activations: a batch is stored once; list with name, since, upto, skip, limit', async () => {
  expectStatus(await postActivations(a, recs), 200);
  expectStatus(await postActivations(a, recs), 200); // resent: no duplicates
  const ow = a.client();
  const all = await ow.activations.list({ limit: 0 });
  assert.deepStrictEqual(all.map((x) => x.activationId), recs.map((r) => r.activationId).reverse());
  const hello = await ow.activations.list({ name: 'hello' });
  assert.deepStrictEqual(hello.map((x) => x.start), [T0 + 5000, T0 + 2000, T0 + 1000]);
  assert.strictEqual(hello[1].statusCode, 1);
  const pkg = await ow.activations.list({ name: 'mypkg/act' });
  assert.deepStrictEqual(pkg.map((x) => x.activationId), [recs[3].activationId]);
  const window = await ow.activations.list({ since: T0 + 2000, upto: T0 + 4000 });
  assert.deepStrictEqual(window.map((x) => x.start), [T0 + 4000, T0 + 3000, T0 + 2000]);
  const page = await ow.activations.list({ skip: 1, limit: 2 });
  assert.deepStrictEqual(page.map((x) => x.start), [T0 + 4000, T0 + 3000]);
  assert.deepStrictEqual(expectStatus(await a.request('GET', `${NS}/_/activations?count=true&name=hello`), 200), { activations: 3 });
  const one = await ow.activations.get({ name: recs[1].activationId });
  assert.deepStrictEqual(one.response.result, { error: 'x' });
});

test('a restarted system finds its entities and records', async () => {
  await a.restart();
  const ow = a.client();
  assert.strictEqual((await ow.actions.get({ name: 'pga' })).name, 'pga');
  assert.strictEqual((await ow.activations.list({ limit: 0 })).length, recs.length);
});

test('the database down: 503 with Retry-After, records refused (not acknowledged); back: served again', async () => {
  pgtmp('down', server);
  try {
    const r = await a.request('GET', `${NS}/_/actions/pga`);
    assert.strictEqual(r.status, 503, `${r.status} ${r.text}`);
    assert.ok(Number(r.headers['retry-after']) > 0, 'Retry-After');
    assert.ok(r.json && typeof r.json.error === 'string' && r.json.code, r.text);
    const ship = await postActivations(a, [activationRecord({ start: Date.now() })]);
    assert.strictEqual(ship.status, 503, `a node's batch must not be acknowledged: ${ship.status} ${ship.text}`);
  } finally {
    pgtmp('up', server);
  }
  let r;
  for (let i = 0; i < 50; i++) {
    r = await a.request('GET', `${NS}/_/actions/pga`);
    if (r.status === 200) break;
    await sleep(200);
  }
  assert.strictEqual(r.status, 200, `after the database came back: ${r.status} ${r.text}`);
});

test('a record made while the database is down waits in the node spool and arrives later', async () => {
  await putAction(a, 'spooled', { exec });
  await invokeOk(a, 'spooled', { warm: 1 }); // warm sandbox, cached identity and action
  pgtmp('down', server);
  let rec;
  try {
    rec = await invokeOk(a, 'spooled', { during: 'outage' });
    await sleep(2500); // a few shipping attempts fail
  } finally {
    pgtmp('up', server);
  }
  // 404 until shipped; 503 while the controller waits out its reconnection pause.
  let r;
  for (let i = 0; i < 150; i++) {
    r = await a.request('GET', `${NS}/_/activations/${rec.activationId}`);
    if (r.status === 200) break;
    assert.ok(r.status === 404 || r.status === 503, `${r.status} ${r.text}`);
    await sleep(200);
  }
  const stored = expectStatus(r, 200);
  assert.deepStrictEqual(stored.response.result, { got: { during: 'outage' } });
});

test('two controllers on one database: writes through either are read through the other', async () => {
  // B also expires records older than 2 hours, checking every half second.
  b = new System({
    store: a.storeUri,
    sharedStore: true,
    env: { XWHISK_ACTIVATION_RETENTION: '2h', XWHISK_RETENTION_PERIOD_MS: '500' },
  });
  await b.start();
  const owA = a.client();
  const owB = b.client();
  assert.strictEqual((await owB.actions.get({ name: 'pga' })).version, (await owA.actions.get({ name: 'pga' })).version);
  await owB.actions.create({ name: 'fromb', action: { exec } });
  assert.strictEqual((await owA.actions.get({ name: 'fromb' })).namespace, 'guest');
  await owA.actions.update({ name: 'fromb', action: { exec, annotations: [{ key: 'x', value: 1 }] } });
  assert.strictEqual((await owB.actions.get({ name: 'fromb' })).version, '0.0.2');
  const rec = activationRecord({ name: 'viab', start: Date.now() });
  expectStatus(await postActivations(b, [rec]), 200);
  assert.strictEqual((await owA.activations.get({ name: rec.activationId })).name, 'viab');
  await expectClientError(owA.actions.create({ name: 'fromb', action: { exec } }), 409);
  // Updates racing through both controllers: the version counts exactly the successes
  // (two writers that read one revision cannot both win), the losers are 409.
  const before = await owA.actions.get({ name: 'pga' });
  const res = await Promise.all(
    Array.from({ length: 40 }, (_, i) =>
      (i % 2 ? a : b).request('PUT', `${NS}/_/actions/pga?overwrite=true`, { body: { exec, parameters: [{ key: 'i', value: i }] } }),
    ),
  );
  for (const r of res) assert.ok(r.status === 200 || r.status === 409, `${r.status} ${r.text}`);
  const ok = res.filter((r) => r.status === 200).length;
  const after = await owB.actions.get({ name: 'pga' });
  const patch = (v) => Number(v.split('.')[2]);
  assert.strictEqual(patch(after.version), patch(before.version) + ok, `${ok} of 40 updates succeeded`);
  if (ok === 40) console.log('# note: no update lost a race this time (no 409)');
});

test('an update and a delete through one controller reach the nodes of the other (their cached action is dropped)', async () => {
  const code = (v) => ({ kind: 'nodejs:20', code: `function main() { return { v: ${v} } }` });
  await putAction(a, 'crossed', { exec: code(1) });
  assert.deepStrictEqual((await invokeOk(a, 'crossed', {})).response.result, { v: 1 }); // cached on A's node
  await putAction(b, 'crossed', { exec: code(2) });
  let got;
  for (let i = 0; i < 50; i++) {
    got = (await invokeOk(a, 'crossed', {})).response.result;
    if (got.v === 2) break;
    await sleep(100);
  }
  assert.deepStrictEqual(got, { v: 2 }, "A's node runs the new code");
  // A delete through B: A's node stops running the action.
  expectStatus(await b.request('DELETE', `${NS}/_/actions/crossed`), 200);
  let r;
  for (let i = 0; i < 50; i++) {
    r = await invoke(a, 'crossed', {});
    if (r.status === 404) break;
    await sleep(100);
  }
  assert.strictEqual(r.status, 404, `invoke after the delete through B: ${r.status} ${r.text.slice(0, 200)}`);
});

test('retention: records older than XWHISK_ACTIVATION_RETENTION go, newer stay', async () => {
  const old = [activationRecord({ name: 'ancient', start: Date.now() - 3 * HOUR }), activationRecord({ name: 'ancient', start: Date.now() - 5 * HOUR })];
  expectStatus(await postActivations(a, old), 200);
  let n;
  for (let i = 0; i < 60; i++) {
    n = expectStatus(await a.request('GET', `${NS}/_/activations?count=true&name=ancient`), 200).activations;
    if (n === 0) break;
    await sleep(250);
  }
  assert.strictEqual(n, 0, 'old records deleted by the second controller');
  assert.strictEqual((await a.client().activations.list({ name: 'hello' })).length, 3, 'an hour-old record is kept');
});

run();
