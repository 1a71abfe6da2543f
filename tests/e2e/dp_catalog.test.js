// SPDX-License-Identifier: Apache-2.0
// The whisk.system catalog (scripts/catalog) as scripts/xwhisk-run installs it, and the
// npm client's own integration checks that need it (openwhisk-api.md 7): a blocking
// invoke of /whisk.system/utils/sort succeeds; a zip nodejs action returns its input; a
// sequence of /whisk.system/utils/echo; a trigger fired through a rule to echo; every
// listed activation can be read with get, logs and result.
'use strict';
const { execFileSync } = require('child_process');
const path = require('path');
const { System, test, run, assert, TOP } = require('./lib/harness');
const { NS } = require('./lib/api');
const dp = require('./lib/dp');

const sys = new System({ catalog: true, env: { XWHISK_PREWARM: 'nodejs:20=2,python:3=0' } });
test.before(() => sys.start());
test.after(() => dp.teardown(sys));

const UTILS = ['echo', 'sort', 'cat', 'head', 'split', 'date'];

test('whisk.system/utils is installed, published, with echo and sort', async () => {
  const r = await sys.request('GET', `${NS}/whisk.system/packages/utils`);
  assert.strictEqual(r.status, 200, `guest can read the published package: ${r.text}`);
  assert.strictEqual(r.json.publish, true);
  const names = r.json.actions.map((a) => a.name).sort();
  assert.deepStrictEqual(names, [...UTILS].sort());
  const sort = await sys.request('GET', `${NS}/whisk.system/actions/utils/sort`);
  assert.strictEqual(sort.status, 200, sort.text);
  assert.ok(sort.json.exec.kind.startsWith('nodejs'), sort.json.exec.kind);
});

test('the installer is idempotent: a second run changes nothing', async () => {
  const before = (await sys.request('GET', `${NS}/whisk.system/actions/utils/echo`)).json.version;
  const out = execFileSync('node', [path.join(TOP, 'scripts', 'catalog', 'install.js'), '--apihost', sys.apihost], { encoding: 'utf8' });
  assert.ok(/xwhisk catalog: .* installed, 0 changed/.test(out), out);
  const after = (await sys.request('GET', `${NS}/whisk.system/actions/utils/echo`)).json.version;
  assert.strictEqual(after, before);
});

test('npm client: blocking invoke of /whisk.system/utils/sort has response.success true', async () => {
  const ow = sys.client();
  const rec = await ow.actions.invoke({ name: '/whisk.system/utils/sort', blocking: true, params: { lines: ['b', 'c', 'a'] } });
  assert.strictEqual(rec.response.success, true, JSON.stringify(rec.response));
  assert.deepStrictEqual(rec.response.result, { lines: ['a', 'b', 'c'], length: 3 });
  assert.strictEqual(rec.namespace, 'guest', 'the record is the caller\'s');
  assert.strictEqual(dp.ann(rec, 'path'), 'whisk.system/utils/sort');
  const empty = await ow.actions.invoke({ name: '/whisk.system/utils/sort', blocking: true, result: true });
  assert.deepStrictEqual(empty, { lines: [], length: 0 });
});

test('npm client: a zip nodejs action returns its input', async () => {
  const ow = sys.client();
  const archive = dp.zip({
    'package.json': JSON.stringify({ name: 'echo-zip', version: '1.0.0', main: 'index.js' }),
    'index.js': 'function main(params) { return params; }\nexports.main = main;\n',
  });
  await ow.actions.create({ name: 'zip_echo', action: archive });
  const rec = await ow.actions.invoke({ name: 'zip_echo', blocking: true, params: { hello: 'world' } });
  assert.deepStrictEqual(rec.response.result, { hello: 'world' });
});

test('npm client: a sequence of /whisk.system/utils/echo', async () => {
  const ow = sys.client();
  const seq = ['/whisk.system/utils/echo'];
  const a = await ow.actions.create({ name: 'echo_seq', sequence: seq });
  assert.strictEqual(a.exec.kind, 'sequence');
  assert.deepStrictEqual(a.exec.components, seq);
  const rec = await ow.actions.invoke({ name: 'echo_seq', blocking: true, params: { say: 'hi' } });
  assert.strictEqual(rec.response.success, true);
  assert.deepStrictEqual(rec.response.result, { say: 'hi' });
});

test('a pipeline of utils: split | sort | head', async () => {
  const ow = sys.client();
  await ow.actions.create({
    name: 'pipeline',
    sequence: ['/whisk.system/utils/split', '/whisk.system/utils/sort', '/whisk.system/utils/head'],
  });
  const res = await ow.actions.invoke({ name: 'pipeline', blocking: true, result: true, params: { payload: 'pear\napple\nfig' } });
  assert.deepStrictEqual(res, { lines: ['apple'], num: 1 });
});

test('npm client: fire a trigger with a rule to /whisk.system/utils/echo', async () => {
  const ow = sys.client();
  await ow.triggers.create({ name: 'cat_trigger' });
  await ow.rules.create({ name: 'cat_rule', trigger: 'cat_trigger', action: '/whisk.system/utils/echo' });
  const fired = await ow.triggers.invoke({ name: 'cat_trigger', params: { via: 'rule' } });
  assert.ok(dp.HEX32.test(fired.activationId), JSON.stringify(fired));
  const rec = await dp.waitRecord(sys, fired.activationId);
  const line = JSON.parse(rec.logs[0]);
  assert.strictEqual(line.action, 'whisk.system/utils/echo');
  const echo = await dp.waitRecord(sys, line.activationId);
  assert.strictEqual(echo.response.result.via, 'rule');
});

test('npm client: every listed activation can be read with get, logs and result', async () => {
  const ow = sys.client();
  await dp.eventually(async () => (await ow.activations.list({ limit: 200 })).length >= 8, { what: 'records shipped' });
  const list = await ow.activations.list({ limit: 200 });
  for (const a of list) {
    assert.strictEqual(a.namespace, 'guest', JSON.stringify(a));
    const got = await ow.activations.get({ name: a.activationId });
    assert.strictEqual(got.activationId, a.activationId);
    const logs = await ow.activations.logs({ name: a.activationId });
    assert.ok(Array.isArray(logs.logs), JSON.stringify(logs));
    const result = await ow.activations.result({ name: a.activationId });
    assert.ok('result' in result && 'success' in result, JSON.stringify(result));
  }
});

run();
