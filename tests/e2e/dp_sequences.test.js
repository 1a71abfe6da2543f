// SPDX-License-Identifier: Apache-2.0
// Sequences on the node (openwhisk-api.md 5): components run in order with each result
// passed on; the run stops at the first {error}; the sequence's record (logs = component
// ids, duration = their sum, kind sequence, topmost) and its components' (cause,
// causedBy); nested sequences; components reached through a binding of a published
// whisk.system package; blocking with result, non-blocking, and the npm client; the
// run-time limit of 50 atomic actions once nested sequences are expanded.
'use strict';
const { test, run, assert, SYSTEM_AUTH } = require('./lib/harness');
const { NS } = require('./lib/api');
const dp = require('./lib/dp');
const { ann, hasAnn, checkRecord, invoke, invokeOk, waitRecord, putAction, putEntity } = dp;

const NSN = 'dpseq';
const ns = dp.namespacedSystem(NSN, { env: { XWHISK_PREWARM: 'nodejs:20=2,python:3=0' } });
const { sys, opts } = ns;

const step = (name, expr) => `
function main(p) {
  console.log('${name} ran');
  const n = typeof p.n === 'number' ? p.n : 0;
  return { n: ${expr}, trail: (p.trail || []).concat('${name}') };
}`;

test.before(async () => {
  const kind = 'nodejs:20';
  await putAction(sys, 'inc', { exec: { kind, code: step('inc', 'n + 1') } }, opts());
  await putAction(sys, 'dbl', { exec: { kind, code: step('dbl', 'n * 2') } }, opts());
  await putAction(sys, 'fail', { exec: { kind, code: 'function main(p) { return { error: "stop here", n: p.n } }' } }, opts());
  await putAction(sys, 'never', { exec: { kind, code: step('never', '-1') } }, opts());
  const seq = (components) => ({ exec: { kind: 'sequence', components } });
  await putAction(sys, 'seq', seq([`/${NSN}/inc`, `/${NSN}/dbl`, `/${NSN}/inc`]), opts());
  await putAction(sys, 'seqfail', seq([`/${NSN}/inc`, `/${NSN}/fail`, `/${NSN}/never`]), opts());
  await putAction(sys, 'outer', seq([`/${NSN}/inc`, `/${NSN}/seq`]), opts());
  // whisk.system publishes a package; this namespace binds it with a parameter
  await putEntity(sys, 'packages', 'mathlib', { publish: true, parameters: [{ key: 'n', value: 100 }] }, { auth: SYSTEM_AUTH });
  await putAction(sys, 'mathlib/addten', { exec: { kind, code: step('addten', 'n + 10') } }, { auth: SYSTEM_AUTH });
  await putEntity(sys, 'packages', 'mybind', { binding: { namespace: 'whisk.system', name: 'mathlib' }, parameters: [{ key: 'n', value: 5 }] }, opts());
  await putAction(sys, 'viabind', seq([`/${NSN}/mybind/addten`, `/${NSN}/dbl`]), opts());
  // Within the limit when it is written (2 atomic actions); 51 once 'grow' is updated to
  // 50 components: only the run-time count can stop it (PUT checks only what it stores).
  await putAction(sys, 'grow', seq([`/${NSN}/inc`]), opts());
  await putAction(sys, 'toolong', seq([`/${NSN}/grow`, `/${NSN}/inc`]), opts());
  await putAction(sys, 'grow', seq(Array.from({ length: 50 }, () => `/${NSN}/inc`)), opts());
});

// The sequence's record and each component's, checked against section 5.
async function checkSequence(rec, { name, components, topmost = true, cause }) {
  const show = JSON.stringify(rec).slice(0, 1500);
  assert.strictEqual(rec.name, name, show);
  assert.strictEqual(rec.namespace, NSN, show);
  assert.ok(dp.HEX32.test(rec.activationId), show);
  assert.strictEqual(ann(rec, 'kind'), 'sequence', `kind annotation: ${show}`);
  assert.strictEqual(ann(rec, 'path'), `${NSN}/${name}`, show);
  assert.strictEqual(ann(rec, 'topmost'), topmost, `topmost annotation: ${show}`);
  assert.strictEqual(typeof ann(rec, 'waitTime'), 'number', show);
  if (topmost) assert.ok(!('cause' in rec), `a topmost sequence has no cause: ${show}`);
  else {
    assert.strictEqual(rec.cause, cause, show);
    assert.strictEqual(ann(rec, 'causedBy'), 'sequence', show);
  }
  const limits = ann(rec, 'limits');
  assert.ok(limits && limits.concurrency === 1 && typeof limits.memory === 'number', `limits: ${show}`);
  assert.strictEqual(rec.logs.length, components.length, `logs are the component ids: ${show}`);
  let sum = 0;
  const recs = [];
  for (let i = 0; i < rec.logs.length; i++) {
    const id = rec.logs[i];
    assert.ok(dp.HEX32.test(id), `log entry ${i} is an activation id: ${show}`);
    const c = await waitRecord(sys, id, opts());
    assert.strictEqual(c.cause, rec.activationId, `component ${i} cause: ${JSON.stringify(c).slice(0, 600)}`);
    assert.strictEqual(ann(c, 'causedBy'), 'sequence', `component ${i} causedBy`);
    assert.strictEqual(c.name, components[i], `component ${i} in order`);
    sum += c.duration;
    recs.push(c);
  }
  assert.strictEqual(rec.duration, sum, `duration is the sum of the components' (${sum}): ${show}`);
  return recs;
}

test('a sequence runs its components in order, each result passed on', async () => {
  const r = await invoke(sys, 'seq', { n: 1 }, opts());
  assert.strictEqual(r.status, 200, r.text);
  dp.expectHeaderId(r, r.json.activationId);
  assert.deepStrictEqual(r.json.response.result, { n: 5, trail: ['inc', 'dbl', 'inc'] });
  assert.strictEqual(r.json.response.status, 'success');
  const comps = await checkSequence(r.json, { name: 'seq', components: ['inc', 'dbl', 'inc'] });
  for (const c of comps) checkRecord(c, { namespace: NSN, kind: 'nodejs:20' });
  assert.deepStrictEqual(comps.map((c) => c.response.result.n), [2, 4, 5]);
  const stored = await waitRecord(sys, r.json.activationId, opts());
  assert.deepStrictEqual(stored.logs, r.json.logs);
});

test('a sequence stops at the first error: 502, the failing component\'s response', async () => {
  const r = await invoke(sys, 'seqfail', { n: 1 }, opts());
  assert.strictEqual(r.status, 502, r.text);
  assert.strictEqual(r.json.response.status, 'application error');
  assert.strictEqual(r.json.response.result.error, 'stop here');
  await checkSequence(r.json, { name: 'seqfail', components: ['inc', 'fail'] });
  const never = await sys.request('GET', `${NS}/_/activations?name=never`, opts());
  assert.deepStrictEqual(never.json, [], 'the component after the error never ran');
});

test('an {error} in the initial payload does not stop the sequence', async () => {
  const res = await invokeOk(sys, 'seq', { n: 0, error: 'ignored' }, opts({ result: true }));
  assert.strictEqual(res.n, 3, JSON.stringify(res));
});

test('a nested sequence: its own record with cause and topmost false', async () => {
  const r = await invoke(sys, 'outer', { n: 0 }, opts());
  assert.strictEqual(r.status, 200, r.text);
  assert.deepStrictEqual(r.json.response.result, { n: 5, trail: ['inc', 'inc', 'dbl', 'inc'] });
  const [, inner] = await checkSequence(r.json, { name: 'outer', components: ['inc', 'seq'] });
  await checkSequence(inner, { name: 'seq', components: ['inc', 'dbl', 'inc'], topmost: false, cause: r.json.activationId });
});

test('a component through a binding of a published whisk.system package', async () => {
  const r = await invoke(sys, 'viabind', {}, opts());
  assert.strictEqual(r.status, 200, r.text);
  assert.deepStrictEqual(r.json.response.result, { n: 30, trail: ['addten', 'dbl'] }, 'binding parameter n=5 over the package\'s 100');
  const [viaBinding] = await checkSequence(r.json, { name: 'viabind', components: ['addten', 'dbl'] });
  assert.strictEqual(ann(viaBinding, 'path'), 'whisk.system/mathlib/addten', 'path is the real location');
  assert.strictEqual(ann(viaBinding, 'binding'), `${NSN}/mybind`, 'binding annotation');
  assert.strictEqual(viaBinding.namespace, NSN);
});

test('blocking with result=true, and non-blocking: 202 and the record later', async () => {
  const res = await invokeOk(sys, 'seq', { n: 2 }, opts({ result: true }));
  assert.deepStrictEqual(res, { n: 7, trail: ['inc', 'dbl', 'inc'] });
  const nb = await invoke(sys, 'seq', { n: 3 }, opts({ blocking: false }));
  assert.strictEqual(nb.status, 202, nb.text);
  dp.expectHeaderId(nb, nb.json.activationId);
  const rec = await waitRecord(sys, nb.json.activationId, opts());
  assert.deepStrictEqual(rec.response.result.n, 9);
  await checkSequence(rec, { name: 'seq', components: ['inc', 'dbl', 'inc'] });
});

test('a sequence that grew past 50 atomic actions stops at the 51st: Too many actions in the sequence.', async () => {
  const r = await invoke(sys, 'toolong', { n: 0 }, opts());
  assert.strictEqual(r.status, 502, r.text.slice(0, 1500));
  assert.strictEqual(r.json.response.status, 'application error');
  assert.deepStrictEqual(r.json.response.result, { error: 'Too many actions in the sequence.' });
  // the nested sequence ran its 50; the 51st atomic action was never started
  assert.strictEqual(r.json.logs.length, 1, JSON.stringify(r.json.logs));
  const grow = await waitRecord(sys, r.json.logs[0], opts());
  assert.strictEqual(grow.name, 'grow');
  assert.strictEqual(grow.logs.length, 50);
  assert.strictEqual(grow.response.result.n, 50);
});

test('npm client: a sequence invoked blocking', async () => {
  const ow = sys.client(ns.key);
  const rec = await ow.actions.invoke({ name: 'seq', params: { n: 10 }, blocking: true });
  assert.strictEqual(rec.response.success, true);
  assert.strictEqual(rec.response.result.n, 23);
  assert.ok(!hasAnn(rec, 'causedBy'));
});

run();
