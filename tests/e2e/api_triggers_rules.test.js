// SPDX-License-Identifier: Apache-2.0
// Triggers and rules through the management API (openwhisk-api.md 1.6, 1.7) and the
// checks of the npm client's triggers.test.js and rules.test.js (section 7). Firing is
// the node data plane's and is not tested here.
'use strict';
const { System, test, run, assert, expectError } = require('./lib/harness');
const { NS, expectStatus, expectClientError, stillServing } = require('./lib/api');

const sys = new System();
const JS = 'function main(p) { return p }';
test.before(async () => {
  await sys.start();
  for (const a of ['hello', 'tests', 'other'])
    expectStatus(await sys.request('PUT', `${NS}/_/actions/${a}`, { body: { exec: { kind: 'nodejs:20', code: JS } } }), 200);
  expectStatus(await sys.request('PUT', `${NS}/_/packages/rpkg`, { body: {} }), 200);
  expectStatus(await sys.request('PUT', `${NS}/_/actions/rpkg/inpkg`, { body: { exec: { kind: 'nodejs:20', code: JS } } }), 200);
});
test.after(async () => {
  await sys.stop();
  sys.cleanup();
});

const T = `${NS}/_/triggers`;
const R = `${NS}/_/rules`;
const getRule = async (name) => expectStatus(await sys.request('GET', `${R}/${name}`), 200);
const getTrigger = async (name) => expectStatus(await sys.request('GET', `${T}/${name}`), 200);

test('npm client: trigger create (annotations [], 0.0.1, limits {}), update 0.0.2, delete', async () => {
  const ow = sys.client();
  const t = await ow.triggers.create({ name: 'cl_trigger' });
  assert.deepStrictEqual(t.annotations, []);
  assert.strictEqual(t.version, '0.0.1');
  assert.deepStrictEqual(t.limits, {});
  await expectClientError(ow.triggers.create({ name: 'cl_trigger' }), 409);
  const u = await ow.triggers.update({ name: 'cl_trigger' });
  assert.strictEqual(u.version, '0.0.2');
  assert.ok((await ow.triggers.list()).some((x) => x.name === 'cl_trigger'));
  const d = await ow.triggers.delete({ name: 'cl_trigger' });
  assert.strictEqual(d.name, 'cl_trigger');
  await expectClientError(ow.triggers.get({ name: 'cl_trigger' }), 404);
});

test('trigger PUT returns the OpenWhisk document', async () => {
  const b = expectStatus(await sys.request('PUT', `${T}/t1`, { body: { parameters: [{ key: 'x', value: 1 }] } }), 200);
  assert.deepStrictEqual(
    Object.keys(b).sort(),
    ['annotations', 'limits', 'name', 'namespace', 'parameters', 'publish', 'updated', 'version'],
  );
  assert.strictEqual(b.namespace, 'guest');
  assert.strictEqual(b.name, 't1');
  assert.deepStrictEqual(b.parameters, [{ key: 'x', value: 1 }]);
  assert.deepStrictEqual(b.limits, {});
  assert.deepStrictEqual(b.annotations, []);
  assert.strictEqual(b.version, '0.0.1');
  assert.strictEqual(b.publish, false);
  assert.deepStrictEqual(await getTrigger('t1'), b);
  // an empty body is read as {}
  const e = await sys.request('PUT', `${T}/t2`, { raw: '', headers: { 'Content-Type': 'application/json' } });
  assert.strictEqual(expectStatus(e, 200).name, 't2');
  expectStatus(await sys.request('PUT', `${T}/t3`, { body: {} }), 200);
});

test('trigger update bumps the version and replaces parameters', async () => {
  const u = expectStatus(
    await sys.request('PUT', `${T}/t1?overwrite=true`, { body: { parameters: [{ key: 'y', value: 2 }], annotations: [{ key: 'a', value: 1 }] } }),
    200,
  );
  assert.strictEqual(u.version, '0.0.2');
  assert.deepStrictEqual(u.parameters, [{ key: 'y', value: 2 }]);
  assert.deepStrictEqual(u.annotations, [{ key: 'a', value: 1 }]);
  expectError(await sys.request('PUT', `${T}/t1`, { body: {} }), 409, 'resource already exists');
});

test('trigger feed annotation must name an entity', async () => {
  expectError(await sys.request('PUT', `${T}/tfeed`, { body: { annotations: [{ key: 'feed', value: 'not a /valid//feed' }] } }), 400, 'Feed name is not valid');
  const b = expectStatus(
    await sys.request('PUT', `${T}/tfeed`, { body: { annotations: [{ key: 'feed', value: '/whisk.system/alarms/alarm' }] } }),
    200,
  );
  assert.strictEqual(b.annotations[0].value, '/whisk.system/alarms/alarm');
});

test('trigger list: summaries, count, newest first', async () => {
  const list = expectStatus(await sys.request('GET', T), 200);
  assert.deepStrictEqual(list.map((t) => t.name).sort(), ['t1', 't2', 't3', 'tfeed']);
  for (const t of list) assert.deepStrictEqual(Object.keys(t).sort(), ['annotations', 'name', 'namespace', 'publish', 'updated', 'version']);
  for (let i = 1; i < list.length; i++) assert.ok(list[i - 1].updated >= list[i].updated);
  assert.deepStrictEqual(expectStatus(await sys.request('GET', `${T}?count=true`), 200), { triggers: 4 });
  assert.strictEqual(expectStatus(await sys.request('GET', `${T}?limit=2&skip=1`), 200).length, 2);
});

test('trigger delete returns the trigger; then 404', async () => {
  const d = expectStatus(await sys.request('DELETE', `${T}/t3`), 200);
  assert.strictEqual(d.name, 't3');
  expectError(await sys.request('DELETE', `${T}/t3`), 404);
  expectError(await sys.request('GET', `${T}/t3`), 404);
  expectStatus(await sys.request('DELETE', `${T}/tfeed`), 200);
});

test('another namespace\'s triggers and rules are 403', async () => {
  expectError(await sys.request('GET', `${NS}/whisk.system/triggers`), 403);
  expectError(await sys.request('GET', `${NS}/whisk.system/triggers/t`), 403);
  expectError(await sys.request('PUT', `${NS}/whisk.system/triggers/t`, { body: {} }), 403);
  expectError(await sys.request('GET', `${NS}/whisk.system/rules`), 403);
  expectError(await sys.request('PUT', `${NS}/whisk.system/rules/r`, { body: { trigger: '/guest/t1', action: '/guest/hello' } }), 403);
});

test('rule create with "/ns/action" strings: {path, name} refs, active, in the trigger\'s rules map', async () => {
  const b = expectStatus(await sys.request('PUT', `${R}/r1`, { body: { trigger: '/guest/t1', action: '/guest/hello' } }), 200);
  assert.deepStrictEqual(b.trigger, { path: 'guest', name: 't1' });
  assert.deepStrictEqual(b.action, { path: 'guest', name: 'hello' });
  assert.strictEqual(b.status, 'active');
  assert.strictEqual(b.namespace, 'guest');
  assert.strictEqual(b.name, 'r1');
  assert.strictEqual(b.version, '0.0.1');
  assert.strictEqual(b.publish, false);
  assert.deepStrictEqual(b.annotations, []);
  assert.strictEqual(typeof b.updated, 'number');
  const t = await getTrigger('t1');
  assert.deepStrictEqual(t.rules, { 'guest/r1': { action: { path: 'guest', name: 'hello' }, status: 'active' } });
  const g = await getRule('r1');
  assert.deepStrictEqual(g.trigger, { path: 'guest', name: 't1' });
  assert.strictEqual(g.status, 'active');
});

test('rule create with {path, name} objects and _ resolved', async () => {
  const b = expectStatus(
    await sys.request('PUT', `${R}/r2`, { body: { trigger: { path: 'guest', name: 't2' }, action: { path: '_', name: 'other' } } }),
    200,
  );
  assert.deepStrictEqual(b.trigger, { path: 'guest', name: 't2' });
  assert.deepStrictEqual(b.action, { path: 'guest', name: 'other' });
  const c = expectStatus(await sys.request('PUT', `${R}/r3`, { body: { trigger: '_/t2', action: '_/rpkg/inpkg' } }), 200);
  assert.deepStrictEqual(c.trigger, { path: 'guest', name: 't2' });
  assert.deepStrictEqual(c.action, { path: 'guest/rpkg', name: 'inpkg' });
  const t = await getTrigger('t2');
  assert.deepStrictEqual(Object.keys(t.rules).sort(), ['guest/r2', 'guest/r3']);
  assert.deepStrictEqual(t.rules['guest/r3'].action, { path: 'guest/rpkg', name: 'inpkg' });
});

test('rule errors: missing parts, missing trigger or action, duplicate', async () => {
  expectError(await sys.request('PUT', `${R}/rbad`, { body: { trigger: '/guest/t1' } }), 400, 'rule requires a valid trigger and a valid action');
  expectError(await sys.request('PUT', `${R}/rbad`, { body: { action: '/guest/hello' } }), 400, 'rule requires a valid trigger and a valid action');
  expectError(await sys.request('PUT', `${R}/rbad`, { body: { trigger: '/guest/nope', action: '/guest/hello' } }), 400, 'trigger /guest/nope does not exist');
  expectError(await sys.request('PUT', `${R}/rbad`, { body: { trigger: '/guest/t1', action: '/guest/nope' } }), 400, 'action /guest/nope does not exist');
  expectError(await sys.request('PUT', `${R}/rbad`, { body: { trigger: '/guest/t1', action: '/guest/rpkg/nope' } }), 400, 'action /guest/rpkg/nope does not exist');
  expectError(await sys.request('PUT', `${R}/r1`, { body: { trigger: '/guest/t1', action: '/guest/hello' } }), 409, 'resource already exists');
  expectError(await sys.request('GET', `${R}/rbad`), 404);
  assert.deepStrictEqual(Object.keys((await getTrigger('t1')).rules), ['guest/r1']);
  await stillServing(sys);
});

test('POST {status:"inactive"} answers 200 "OK"; GET shows the status; repeating is fine', async () => {
  let r = await sys.request('POST', `${R}/r1`, { body: { status: 'inactive' } });
  assert.strictEqual(r.status, 200, r.text);
  assert.strictEqual(r.text, 'OK');
  assert.strictEqual((await getRule('r1')).status, 'inactive');
  assert.strictEqual((await getTrigger('t1')).rules['guest/r1'].status, 'inactive');
  r = await sys.request('POST', `${R}/r1`, { body: { status: 'inactive' } });
  assert.strictEqual(r.status, 200);
  r = await sys.request('POST', `${R}/r1`, { body: { status: 'active' } });
  assert.strictEqual(r.status, 200);
  assert.strictEqual((await getRule('r1')).status, 'active');
});

test('POST with a bad status is 400; on a missing rule 404', async () => {
  expectError(
    await sys.request('POST', `${R}/r1`, { body: { status: 'bogus' } }),
    400,
    "'bogus' is not a recognized rule state, must be one of ['active', 'inactive']",
  );
  expectError(await sys.request('POST', `${R}/r1`, { body: {} }), 400);
  expectError(await sys.request('POST', `${R}/nope`, { body: { status: 'active' } }), 404);
  assert.strictEqual((await getRule('r1')).status, 'active');
});

test('npm client: rules create, get, disable, enable, update with overwrite, delete', async () => {
  const ow = sys.client();
  await ow.triggers.create({ name: 'sample_rule_trigger' });
  const r = await ow.rules.create({ name: 'cl_rule', action: '/guest/hello', trigger: '/guest/sample_rule_trigger' });
  assert.deepStrictEqual(r.action, { path: 'guest', name: 'hello' });
  assert.deepStrictEqual(r.trigger, { path: 'guest', name: 'sample_rule_trigger' });
  const g = await ow.rules.get({ name: 'cl_rule' });
  assert.strictEqual(g.status, 'active');
  await ow.rules.disable({ name: 'cl_rule' });
  assert.strictEqual((await ow.rules.get({ name: 'cl_rule' })).status, 'inactive');
  await ow.rules.enable({ name: 'cl_rule' });
  assert.strictEqual((await ow.rules.get({ name: 'cl_rule' })).status, 'active');
  const u = await ow.rules.update({ name: 'cl_rule', action: '/guest/tests', trigger: '/guest/sample_rule_trigger' });
  assert.deepStrictEqual(u.action, { path: 'guest', name: 'tests' });
  assert.strictEqual(u.version, '0.0.2');
  assert.strictEqual(u.status, 'active');
  assert.deepStrictEqual((await getTrigger('sample_rule_trigger')).rules['guest/cl_rule'].action, { path: 'guest', name: 'tests' });
  assert.ok((await ow.rules.list()).some((x) => x.name === 'cl_rule'));
  const d = await ow.rules.delete({ name: 'cl_rule' });
  assert.strictEqual(d.status, 'inactive');
  await expectClientError(ow.rules.get({ name: 'cl_rule' }), 404);
});

test('rule list: full documents without status', async () => {
  const list = expectStatus(await sys.request('GET', R), 200);
  assert.deepStrictEqual(list.map((r) => r.name).sort(), ['r1', 'r2', 'r3']);
  for (const r of list) {
    assert.ok(!('status' in r), JSON.stringify(r));
    assert.ok(r.trigger && r.action && r.version, JSON.stringify(r));
  }
  assert.deepStrictEqual(expectStatus(await sys.request('GET', `${R}?count=true`), 200), { rules: 3 });
});

test('update moving a rule to another trigger keeps its (inactive) status', async () => {
  expectStatus(await sys.request('POST', `${R}/r1`, { body: { status: 'inactive' } }), 200);
  expectStatus(await sys.request('PUT', `${T}/t4`, { body: {} }), 200);
  const u = expectStatus(await sys.request('PUT', `${R}/r1?overwrite=true`, { body: { trigger: '/guest/t4', action: '/guest/hello' } }), 200);
  assert.strictEqual(u.status, 'inactive');
  assert.deepStrictEqual(u.trigger, { path: 'guest', name: 't4' });
  assert.strictEqual(u.version, '0.0.2');
  assert.strictEqual((await getRule('r1')).status, 'inactive');
  assert.deepStrictEqual((await getTrigger('t4')).rules, { 'guest/r1': { action: { path: 'guest', name: 'hello' }, status: 'inactive' } });
  assert.deepStrictEqual((await getTrigger('t1')).rules || {}, {}, 'the entry left the old trigger');
  // an update that names only the action keeps the trigger
  const v = expectStatus(await sys.request('PUT', `${R}/r1?overwrite=true`, { body: { action: '/guest/other' } }), 200);
  assert.deepStrictEqual(v.trigger, { path: 'guest', name: 't4' });
  assert.deepStrictEqual(v.action, { path: 'guest', name: 'other' });
  assert.strictEqual(v.status, 'inactive');
});

test('a trigger update keeps its rules map', async () => {
  const u = expectStatus(await sys.request('PUT', `${T}/t4?overwrite=true`, { body: { parameters: [{ key: 'p', value: 1 }] } }), 200);
  assert.deepStrictEqual(Object.keys(u.rules), ['guest/r1']);
});

test('delete returns the rule with status inactive and removes it from the trigger', async () => {
  expectStatus(await sys.request('POST', `${R}/r2`, { body: { status: 'active' } }), 200);
  const d = expectStatus(await sys.request('DELETE', `${R}/r2`), 200);
  assert.strictEqual(d.status, 'inactive');
  assert.strictEqual(d.name, 'r2');
  assert.deepStrictEqual(Object.keys((await getTrigger('t2')).rules), ['guest/r3']);
  expectError(await sys.request('DELETE', `${R}/r2`), 404);
});

test('a rule whose trigger was deleted reports inactive and cannot be activated', async () => {
  assert.strictEqual((await getRule('r3')).status, 'active');
  expectStatus(await sys.request('DELETE', `${T}/t2`), 200);
  assert.strictEqual((await getRule('r3')).status, 'inactive');
  expectError(await sys.request('POST', `${R}/r3`, { body: { status: 'active' } }), 404, 'Only rules with existing triggers can be activated');
  // re-creating the trigger does not bring the rule back to life
  expectStatus(await sys.request('PUT', `${T}/t2`, { body: {} }), 200);
  assert.strictEqual((await getRule('r3')).status, 'inactive');
  const d = expectStatus(await sys.request('DELETE', `${R}/r3`), 200);
  assert.strictEqual(d.status, 'inactive');
});

test('deleting an action does not delete the rules that name it', async () => {
  expectStatus(await sys.request('PUT', `${R}/r5`, { body: { trigger: '/guest/t2', action: '/guest/tests' } }), 200);
  expectStatus(await sys.request('DELETE', `${NS}/_/actions/tests`), 200);
  const g = await getRule('r5');
  assert.deepStrictEqual(g.action, { path: 'guest', name: 'tests' });
});

test('wrong methods on triggers and rules are 405', async () => {
  expectError(await sys.request('POST', T, { body: {} }), 405);
  expectError(await sys.request('DELETE', R), 405);
  expectError(await sys.request('PATCH', `${R}/r1`, { body: {} }), 405);
  await stillServing(sys);
});

run();
