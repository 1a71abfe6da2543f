// SPDX-License-Identifier: Apache-2.0
// Firing triggers on the node (openwhisk-api.md 1.6, 4): 204 without an active rule and
// no record; 202 with active rules, each rule's action invoked with the trigger's
// parameters, the payload and __ow_headers; the trigger's record (no end or duration,
// logs = one JSON string per rule); disabled rules are skipped; firesPerMinute, and rule
// invokes counted against invocationsPerMinute.
'use strict';
const { test, run, assert, expectError, sleep } = require('./lib/harness');
const { NS } = require('./lib/api');
const dp = require('./lib/dp');
const { waitRecord, putAction, putEntity } = dp;

const NSN = 'dptrig';
const ns = dp.namespacedSystem(NSN, { env: { XWHISK_PREWARM: 'nodejs:20=2,python:3=0' } });
const { sys, opts } = ns;
const fire = (name, body, o = {}) => sys.request('POST', `${NS}/_/triggers/${name}`, { auth: ns.key, body, ...o });
const setRule = (name, status, auth = ns.key) => sys.request('POST', `${NS}/_/rules/${name}`, { auth, body: { status } });

const ECHO = (tag) => `function main(p) { return { tag: '${tag}', args: p }; }`;

test.before(async () => {
  await putAction(sys, 'first', { exec: { kind: 'nodejs:20', code: ECHO('first') }, parameters: [{ key: 'ap', value: 'action' }] }, opts());
  await putAction(sys, 'second', { exec: { kind: 'nodejs:20', code: ECHO('second') } }, opts());
  await putEntity(sys, 'triggers', 'tr', { parameters: [{ key: 'tp', value: 'trigger' }, { key: 'over', value: 'trigger' }] }, opts());
});

// Trigger activations, newest first.
async function triggerActivations(name, auth = ns.key) {
  const r = await sys.request('GET', `${NS}/_/activations?name=${name}&docs=true`, { auth });
  assert.strictEqual(r.status, 200, r.text);
  return r.json;
}

function parseRuleLogs(rec) {
  assert.ok(Array.isArray(rec.logs), JSON.stringify(rec));
  return rec.logs.map((l) => {
    assert.strictEqual(typeof l, 'string', `each log entry is a JSON string: ${JSON.stringify(rec.logs)}`);
    return JSON.parse(l);
  });
}

test('no rule: fire is 204 with no body, and no record', async () => {
  const r = await fire('tr', { x: 1 });
  assert.strictEqual(r.status, 204, r.text);
  assert.strictEqual(r.text, '');
  await sleep(1500); // records ship within about a second
  assert.deepStrictEqual(await triggerActivations('tr'), []);
});

test('a missing trigger is 404', async () => {
  expectError(await fire('nosuchtrigger', {}), 404);
});

test('active rule: 202 {activationId}; the action gets trigger params + payload + __ow_headers', async () => {
  await putEntity(sys, 'rules', 'r1', { trigger: `/${NSN}/tr`, action: `/${NSN}/first` }, opts());
  const r = await fire('tr', { x: 1, over: 'payload' }, { headers: { 'X-Fire-Header': 'yes' } });
  assert.strictEqual(r.status, 202, r.text);
  assert.deepStrictEqual(Object.keys(r.json), ['activationId']);
  dp.expectHeaderId(r, r.json.activationId);
  const rec = await waitRecord(sys, r.json.activationId, opts());
  const show = JSON.stringify(rec);
  assert.strictEqual(rec.name, 'tr', show);
  assert.strictEqual(rec.namespace, NSN, show);
  assert.ok(!('end' in rec), `a trigger record has no end: ${show}`);
  assert.ok(!('duration' in rec), `a trigger record has no duration: ${show}`);
  assert.strictEqual(rec.response.status, 'success', show);
  assert.deepStrictEqual(rec.response.result, { x: 1, over: 'payload' }, 'result = the payload');
  const lines = parseRuleLogs(rec);
  assert.strictEqual(lines.length, 1, show);
  const l = lines[0];
  assert.strictEqual(l.statusCode, 0, show);
  assert.strictEqual(l.success, true, show);
  assert.strictEqual(l.rule, `${NSN}/r1`, show);
  assert.strictEqual(l.action, `${NSN}/first`, show);
  assert.ok(dp.HEX32.test(l.activationId), show);
  const act = await waitRecord(sys, l.activationId, opts());
  assert.strictEqual(act.name, 'first');
  const args = act.response.result.args;
  assert.strictEqual(args.tp, 'trigger', JSON.stringify(args));
  assert.strictEqual(args.over, 'payload', 'the payload wins over trigger parameters');
  assert.strictEqual(args.x, 1);
  assert.strictEqual(args.ap, 'action', 'the action\'s own parameters are under the arguments');
  assert.ok(args.__ow_headers && typeof args.__ow_headers === 'object', JSON.stringify(args));
  assert.strictEqual(args.__ow_headers['x-fire-header'], 'yes', 'header names lowercased');
  assert.ok(!('X-Fire-Header' in args.__ow_headers));
});

test('two rules: both actions run, one log line per rule', async () => {
  await putEntity(sys, 'rules', 'r2', { trigger: `/${NSN}/tr`, action: `/${NSN}/second` }, opts());
  const r = await fire('tr', { y: 2 });
  assert.strictEqual(r.status, 202, r.text);
  const rec = await waitRecord(sys, r.json.activationId, opts());
  const lines = parseRuleLogs(rec).sort((a, b) => a.rule.localeCompare(b.rule));
  assert.deepStrictEqual(lines.map((l) => [l.rule, l.action, l.statusCode]), [
    [`${NSN}/r1`, `${NSN}/first`, 0],
    [`${NSN}/r2`, `${NSN}/second`, 0],
  ]);
  const tags = [];
  for (const l of lines) tags.push((await waitRecord(sys, l.activationId, opts())).response.result.tag);
  assert.deepStrictEqual(tags, ['first', 'second']);
});

test('a disabled rule is not fired; all disabled is 204 again', async () => {
  const d = await setRule('r2', 'inactive');
  assert.strictEqual(d.status, 200, d.text);
  const r = await fire('tr', {});
  assert.strictEqual(r.status, 202, r.text);
  const rec = await waitRecord(sys, r.json.activationId, opts());
  assert.deepStrictEqual(parseRuleLogs(rec).map((l) => l.rule), [`${NSN}/r1`]);
  assert.strictEqual((await setRule('r1', 'inactive')).status, 200);
  const none = await fire('tr', {});
  assert.strictEqual(none.status, 204, none.text);
  assert.strictEqual((await setRule('r1', 'active')).status, 200);
});

test('npm client: rules.create, triggers.invoke gives an activationId, rules.disable', async () => {
  const ow = sys.client(ns.key);
  await ow.triggers.create({ name: 'cltr' });
  await ow.rules.create({ name: 'clrule', trigger: 'cltr', action: 'second' });
  const res = await ow.triggers.invoke({ name: 'cltr', params: { via: 'client' } });
  assert.ok(dp.HEX32.test(res.activationId), JSON.stringify(res));
  const rec = await waitRecord(sys, res.activationId, opts());
  const [l] = parseRuleLogs(rec);
  const act = await waitRecord(sys, l.activationId, opts());
  assert.strictEqual(act.response.result.args.via, 'client');
  await ow.rules.disable({ name: 'clrule' });
  const again = await fire('cltr', {});
  assert.strictEqual(again.status, 204);
});

test('firesPerMinute: the fire over the limit is 429 with Retry-After', async () => {
  const key = dp.createNamespace(sys, 'dpfires', { firesPerMinute: 3, invocationsPerMinute: 1000, concurrentInvocations: 100 });
  await putEntity(sys, 'triggers', 'ft', {}, { auth: key });
  // Stay inside one calendar minute.
  if (Date.now() % 60000 > 55000) await sleep(60000 - (Date.now() % 60000) + 50);
  const statuses = [];
  let last;
  for (let i = 0; i < 4; i++) {
    last = await sys.request('POST', `${NS}/_/triggers/ft`, { auth: key, body: {} });
    statuses.push(last.status);
  }
  assert.deepStrictEqual(statuses, [204, 204, 204, 429]);
  expectError(last, 429, 'Too many requests in the last minute (count: 4, allowed: 3).');
  const ra = Number(last.headers['retry-after']);
  assert.ok(ra >= 1 && ra <= 60, `Retry-After: ${last.headers['retry-after']}`);
});

test('rule invokes count against invocationsPerMinute: the over-limit rule is logged as failed', async () => {
  const key = dp.createNamespace(sys, 'dpruleth', { invocationsPerMinute: 2, firesPerMinute: 100, concurrentInvocations: 100 });
  const o = { auth: key };
  await putAction(sys, 'a', { exec: { kind: 'nodejs:20', code: ECHO('a') } }, o);
  await putEntity(sys, 'triggers', 't', {}, o);
  await putEntity(sys, 'rules', 'r', { trigger: '/dpruleth/t', action: '/dpruleth/a' }, o);
  if (Date.now() % 60000 > 50000) await sleep(60000 - (Date.now() % 60000) + 50);
  const ids = [];
  for (let i = 0; i < 3; i++) {
    const r = await sys.request('POST', `${NS}/_/triggers/t`, { auth: key, body: { i } });
    assert.strictEqual(r.status, 202, `the fire itself is not an invocation: ${r.text}`);
    ids.push(r.json.activationId);
  }
  const lines = [];
  for (const id of ids) lines.push(parseRuleLogs(await waitRecord(sys, id, o))[0]);
  assert.deepStrictEqual(lines.map((l) => l.success), [true, true, false], JSON.stringify(lines));
  const bad = lines[2];
  assert.strictEqual(bad.statusCode, 1, JSON.stringify(bad));
  assert.strictEqual(bad.error, 'Too many requests in the last minute (count: 3, allowed: 2).', JSON.stringify(bad));
  assert.ok(!bad.activationId, 'no activation for a throttled rule');
});

run();
