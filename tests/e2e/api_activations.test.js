// SPDX-License-Identifier: Apache-2.0
// Activation records: stored by nodes through POST /internal/v1/activations, then read
// through /api/v1 (openwhisk-api.md 1.9, 3.4, 3.5) with plain HTTP and the npm client
// (the client's activations.test.js, section 7).
'use strict';
const { systemPerFile, test, run, assert, expectError, SYSTEM_AUTH } = require('./lib/harness');
const { metrics } = require('./lib/dp');
const { NS, expectStatus, expectClientError, stillServing, postActivations, postLines, activationRecord, newId } = require('./lib/api');

const sys = systemPerFile();

const ACT = `${NS}/_/activations`;
const T0 = Date.now() - 3600 * 1000;
// Records a node would ship: starts one second apart, oldest first.
const recs = {
  h1: activationRecord({ name: 'hello', start: T0 + 1000, duration: 12, result: { n: 1 } }),
  h2: activationRecord({ name: 'hello', start: T0 + 2000, duration: 7, result: { n: 2 } }),
  err: activationRecord({ name: 'failing', start: T0 + 3000, statusCode: 1, result: { error: 'boom' }, logs: [] }),
  dev: activationRecord({ name: 'crashing', start: T0 + 4000, statusCode: 2, result: { error: 'The action did not produce a valid response and exited unexpectedly.' } }),
  pkg: activationRecord({ name: 'act', path: 'guest/mypkg/act', start: T0 + 5000 }),
  bound: activationRecord({
    name: 'echo',
    start: T0 + 6000,
    annotations: [
      { key: 'path', value: 'whisk.system/utils/echo' },
      { key: 'binding', value: 'guest/mybind' },
    ],
  }),
  trig: activationRecord({
    name: 'mytrigger',
    start: T0 + 7000,
    end: 0,
    result: { payload: 1 },
    annotations: [],
    logs: ['{"statusCode":0,"success":true,"activationId":"0123456789abcdef0123456789abcdef","rule":"guest/r","action":"guest/hello"}'],
  }),
  h3: activationRecord({ name: 'hello', start: T0 + 8000, duration: 3, result: { n: 3 }, logs: ['l1', 'l2'] }),
};
const order = ['h3', 'trig', 'bound', 'pkg', 'dev', 'err', 'h2', 'h1']; // newest first
const other = activationRecord({ namespace: 'whisk.system', name: 'sysact', start: T0 + 9000 });

test('POST /internal/v1/activations without or with a wrong token is 401', async () => {
  expectError(await postActivations(sys, [recs.h1], { token: null }), 401);
  expectError(await postActivations(sys, [recs.h1], { token: 'x'.repeat(64) }), 401);
  expectError(await postActivations(sys, [recs.h1], { token: '' }), 401);
  expectError(await sys.request('GET', `${ACT}/${recs.h1.activationId}`), 404, 'The requested resource does not exist.');
});

test('a batch of records is stored', async () => {
  const body = expectStatus(await postActivations(sys, [...Object.values(recs), other]), 200);
  assert.strictEqual(body.stored, Object.keys(recs).length + 1);
  assert.deepStrictEqual(body.rejected, []);
  const count = expectStatus(await sys.request('GET', `${ACT}?count=true`), 200);
  assert.deepStrictEqual(count, { activations: Object.keys(recs).length });
});

test('resending the same batch stores no duplicates', async () => {
  expectStatus(await postActivations(sys, Object.values(recs)), 200);
  expectStatus(await postActivations(sys, [recs.h1, recs.h1]), 200);
  const list = expectStatus(await sys.request('GET', `${ACT}?limit=0`), 200);
  assert.deepStrictEqual(list.map((a) => a.activationId), order.map((k) => recs[k].activationId));
});

test('malformed records are rejected without losing the good ones of the batch', async () => {
  const good1 = activationRecord({ name: 'batchy', start: T0 - 5000 });
  const good2 = activationRecord({ name: 'batchy', start: T0 - 4000 });
  const bad = [
    { ...activationRecord(), activationId: 'XYZ' },
    { ...activationRecord(), activationId: newId().toUpperCase() },
    { ...activationRecord(), response: { statusCode: 7, result: {} } },
    { ...activationRecord(), response: undefined },
    { ...activationRecord(), start: 'yesterday' },
    { ...activationRecord(), name: undefined },
    { ...activationRecord(), logs: 'not an array' },
    'a string',
  ];
  const batch = [good1, ...bad, good2];
  const body = expectStatus(await postActivations(sys, batch), 200);
  assert.strictEqual(body.stored, 2);
  assert.deepStrictEqual(body.rejected.map((r) => r.index), bad.map((_, i) => i + 1));
  for (const r of body.rejected) assert.strictEqual(typeof r.error, 'string');
  const list = expectStatus(await sys.request('GET', `${ACT}?name=batchy`), 200);
  assert.deepStrictEqual(list.map((a) => a.activationId), [good2.activationId, good1.activationId]);
});

test('a malformed batch is 400 and the controller keeps serving', async () => {
  expectError(await postActivations(sys, null, { body: { activations: 'nope' } }), 400);
  expectError(await postActivations(sys, null, { body: {} }), 400);
  expectError(await postActivations(sys, null, { raw: '{"activations": [' }), 400, 'The request content was malformed');
  // at most 1000 records a batch, none stored from a bigger one
  const many = Array.from({ length: 1001 }, () => activationRecord({ name: 'toomany' }));
  expectError(await postActivations(sys, many), 400, 'at most 1000 records');
  const listed = expectStatus(await sys.request('GET', `${ACT}?name=toomany`), 200);
  assert.deepStrictEqual(listed, []);
  await stillServing(sys);
});

test('records as JSON lines (as nodes ship them) read back as records of the old body do', async () => {
  const base = { name: 'lines', start: T0 - 7000, duration: 9, result: { s: 'a\u0000b', n: [1, 2.5] } };
  const asLine = { ...activationRecord(base), cause: newId() };
  const asDoc = { ...asLine, activationId: newId(), start: asLine.start - 1 };
  // spaces and key order of the line are the node's; what is read is the same record
  const line = JSON.stringify(asLine, null, 1).replace(/\n/g, ' ');
  let body = expectStatus(await postLines(sys, [line]), 200);
  assert.deepStrictEqual(body, { stored: 1, rejected: [] });
  expectStatus(await postActivations(sys, [asDoc]), 200);
  const a = expectStatus(await sys.request('GET', `${ACT}/${asLine.activationId}`), 200);
  const b = expectStatus(await sys.request('GET', `${ACT}/${asDoc.activationId}`), 200);
  assert.strictEqual(a.response.result.s, 'a\u0000b');
  assert.deepStrictEqual({ ...a, activationId: 0, start: 0, end: 0 }, { ...b, activationId: 0, start: 0, end: 0 });
  const list = expectStatus(await sys.request('GET', `${ACT}?name=lines`), 200);
  assert.strictEqual(list.length, 2);
  assert.deepStrictEqual({ ...list[0], activationId: 0, start: 0, end: 0 }, { ...list[1], activationId: 0, start: 0, end: 0 });
  assert.strictEqual(list[0].statusCode, 0);
  assert.strictEqual(list[0].cause, asLine.cause);
  // resent after a crash: stored once
  body = expectStatus(await postLines(sys, [asLine, asLine]), 200);
  assert.deepStrictEqual(expectStatus(await sys.request('GET', `${ACT}?name=lines&count=true`), 200), { activations: 2 });
});

test('a bad line among JSON lines is refused alone; blank lines are no records', async () => {
  const good1 = activationRecord({ name: 'linesbad', start: T0 - 6000 });
  const good2 = activationRecord({ name: 'linesbad', start: T0 - 5500 });
  const rejected = async () => (await metrics(sys.controllerPort)).values.get('xwhisk_controller_activations_rejected_total');
  const rejected0 = await rejected();
  const body = expectStatus(await postLines(sys, [good1, '{"activationId": "cut', '', { ...activationRecord(), start: 'soon' }, '  ', good2]), 200);
  assert.strictEqual(body.stored, 2);
  assert.deepStrictEqual(body.rejected.map((r) => r.index), [1, 2]);
  for (const r of body.rejected) assert.strictEqual(typeof r.error, 'string');
  const list = expectStatus(await sys.request('GET', `${ACT}?name=linesbad`), 200);
  assert.deepStrictEqual(list.map((a) => a.activationId), [good2.activationId, good1.activationId]);
  assert.strictEqual(await rejected(), rejected0 + 2);
});

test('more than 1000 JSON lines are 400, none stored', async () => {
  const many = Array.from({ length: 1001 }, () => activationRecord({ name: 'toomanylines' }));
  expectError(await postLines(sys, many), 400, 'at most 1000 records');
  assert.deepStrictEqual(expectStatus(await sys.request('GET', `${ACT}?name=toomanylines`), 200), []);
  await stillServing(sys);
});

test('list: summaries with statusCode, newest first, trigger records without end', async () => {
  const list = expectStatus(await sys.request('GET', `${ACT}?since=${T0}`), 200);
  assert.deepStrictEqual(list.map((a) => a.activationId), order.map((k) => recs[k].activationId));
  const h1 = list.find((a) => a.activationId === recs.h1.activationId);
  assert.deepStrictEqual(Object.keys(h1).sort(), [
    'activationId', 'annotations', 'duration', 'end', 'name', 'namespace', 'publish', 'start', 'statusCode', 'version',
  ]);
  assert.strictEqual(h1.statusCode, 0);
  assert.strictEqual(h1.duration, 12);
  assert.strictEqual(h1.namespace, 'guest');
  assert.strictEqual(list.find((a) => a.activationId === recs.err.activationId).statusCode, 1);
  const trig = list.find((a) => a.activationId === recs.trig.activationId);
  for (const k of ['end', 'duration', 'statusCode']) assert.ok(!(k in trig), `trigger summary has no ${k}`);
  for (const a of list) assert.ok(!('response' in a) && !('logs' in a), 'summaries, not records');
});

test('list: name filter with simple and package names; 3 segments are 400', async () => {
  const byName = async (n) => expectStatus(await sys.request('GET', `${ACT}?name=${encodeURIComponent(n)}`), 200).map((a) => a.activationId);
  assert.deepStrictEqual(await byName('hello'), ['h3', 'h2', 'h1'].map((k) => recs[k].activationId));
  assert.deepStrictEqual(await byName('mypkg/act'), [recs.pkg.activationId]);
  assert.deepStrictEqual(await byName('act'), []);
  assert.deepStrictEqual(await byName('mybind/echo'), [recs.bound.activationId], 'the binding names the package');
  assert.deepStrictEqual(await byName('mytrigger'), [recs.trig.activationId]);
  assert.deepStrictEqual(await byName('nothing'), []);
  expectError(
    await sys.request('GET', `${ACT}?name=a/b/c`),
    400,
    "Parameter may be a 'simple' name or 'package-name/simple' name: a/b/c",
  );
  const cnt = expectStatus(await sys.request('GET', `${ACT}?name=hello&count=true`), 200);
  assert.deepStrictEqual(cnt, { activations: 3 });
});

test('list: since and upto are inclusive bounds on start (epoch ms)', async () => {
  const ids = async (q) => expectStatus(await sys.request('GET', `${ACT}?${q}`), 200).map((a) => a.activationId);
  assert.deepStrictEqual(await ids(`since=${T0 + 2000}&upto=${T0 + 4000}`), ['dev', 'err', 'h2'].map((k) => recs[k].activationId));
  assert.deepStrictEqual(await ids(`since=${T0 + 7500}`), [recs.h3.activationId]);
  assert.deepStrictEqual(await ids(`upto=${T0 + 1000}&since=${T0}`), [recs.h1.activationId]);
  assert.deepStrictEqual(await ids(`since=${T0 + 9000}`), []);
  expectError(await sys.request('GET', `${ACT}?since=yesterday`), 400, 'Parameter is not a valid value for epoch seconds: yesterday');
  expectError(await sys.request('GET', `${ACT}?upto=x1`), 400, 'Parameter is not a valid value for epoch seconds: x1');
});

test('list: skip and limit; bad values are 400', async () => {
  const ids = async (q) => expectStatus(await sys.request('GET', `${ACT}?since=${T0}&${q}`), 200).map((a) => a.activationId);
  assert.deepStrictEqual(await ids('limit=2'), order.slice(0, 2).map((k) => recs[k].activationId));
  assert.deepStrictEqual(await ids('skip=3&limit=2'), order.slice(3, 5).map((k) => recs[k].activationId));
  assert.deepStrictEqual(await ids('skip=7'), [recs.h1.activationId]);
  assert.deepStrictEqual(await ids('limit=0'), order.map((k) => recs[k].activationId));
  expectError(await sys.request('GET', `${ACT}?limit=201`), 400, "The value '201' is not in the range of 0 to 200 for activations.");
  expectError(await sys.request('GET', `${ACT}?skip=-2`), 400, "The value '-2' is not greater than or equal to 0 for activations.");
});

test('list: docs=true gives full records in extended form; count+docs is 400', async () => {
  const list = expectStatus(await sys.request('GET', `${ACT}?docs=true&since=${T0}&limit=3`), 200);
  assert.deepStrictEqual(list.map((a) => a.activationId), order.slice(0, 3).map((k) => recs[k].activationId));
  const h3 = list[0];
  assert.deepStrictEqual(h3.response, { result: { n: 3 }, status: 'success', success: true });
  assert.deepStrictEqual(h3.logs, ['l1', 'l2']);
  assert.ok(!('end' in list[1]) && !('duration' in list[1]), 'trigger record without end');
  expectError(await sys.request('GET', `${ACT}?docs=true&count=true`), 400, "The parameter 'docs' is not permitted with 'count'.");
});

test('get: the extended record (status and success, no statusCode)', async () => {
  const r = recs.h1;
  const body = expectStatus(await sys.request('GET', `${ACT}/${r.activationId}`), 200);
  assert.strictEqual(body.activationId, r.activationId);
  assert.strictEqual(body.namespace, 'guest');
  assert.strictEqual(body.name, 'hello');
  assert.strictEqual(body.subject, 'guest');
  assert.strictEqual(body.start, r.start);
  assert.strictEqual(body.end, r.end);
  assert.strictEqual(body.duration, 12);
  assert.strictEqual(body.version, '0.0.1');
  assert.strictEqual(body.publish, false);
  assert.deepStrictEqual(body.annotations, r.annotations);
  assert.deepStrictEqual(body.logs, r.logs);
  assert.deepStrictEqual(body.response, { result: { n: 1 }, status: 'success', success: true });
  const e = expectStatus(await sys.request('GET', `${ACT}/${recs.err.activationId}`), 200);
  assert.deepStrictEqual(e.response, { result: { error: 'boom' }, status: 'application error', success: false });
  const d = expectStatus(await sys.request('GET', `${NS}/guest/activations/${recs.dev.activationId}`), 200);
  assert.strictEqual(d.response.status, 'action developer error');
  assert.strictEqual(d.response.success, false);
});

test('get: a record with end 0 has no end and no duration', async () => {
  const body = expectStatus(await sys.request('GET', `${ACT}/${recs.trig.activationId}`), 200);
  assert.ok(!('end' in body), JSON.stringify(body));
  assert.ok(!('duration' in body));
  assert.deepStrictEqual(body.response, { result: { payload: 1 }, status: 'success', success: true });
  assert.deepStrictEqual(body.annotations, []);
  assert.strictEqual(typeof body.logs[0], 'string');
});

test('get: a record stored without duration gets end - start', async () => {
  const rec = activationRecord({ name: 'nodur', start: T0 - 9000, duration: 40 });
  delete rec.duration;
  expectStatus(await postActivations(sys, [rec]), 200);
  const body = expectStatus(await sys.request('GET', `${ACT}/${rec.activationId}`), 200);
  assert.strictEqual(body.duration, 40);
});

test('/result and /logs', async () => {
  let body = expectStatus(await sys.request('GET', `${ACT}/${recs.h3.activationId}/result`), 200);
  assert.deepStrictEqual(body, { result: { n: 3 }, status: 'success', success: true });
  body = expectStatus(await sys.request('GET', `${ACT}/${recs.err.activationId}/result`), 200);
  assert.deepStrictEqual(body, { result: { error: 'boom' }, status: 'application error', success: false });
  body = expectStatus(await sys.request('GET', `${ACT}/${recs.h3.activationId}/logs`), 200);
  assert.deepStrictEqual(body, { logs: ['l1', 'l2'] });
  body = expectStatus(await sys.request('GET', `${ACT}/${recs.err.activationId}/logs`), 200);
  assert.deepStrictEqual(body, { logs: [] });
  expectError(await sys.request('GET', `${ACT}/${recs.h3.activationId}/other`), 404);
});

test('bad ids are 400 with OpenWhisk\'s texts; unknown ids 404', async () => {
  expectError(await sys.request('GET', `${ACT}/abc`), 400, 'Activation id length is 3 but must be 32.');
  expectError(await sys.request('GET', `${ACT}/${'a'.repeat(33)}`), 400, 'Activation id length is 33 but must be 32.');
  expectError(await sys.request('GET', `${ACT}/${'g'.repeat(32)}`), 400, 'The activation id is not valid.');
  expectError(await sys.request('GET', `${ACT}/${'A'.repeat(32)}`), 400, 'The activation id is not valid.');
  expectError(await sys.request('GET', `${ACT}/abc/logs`), 400, 'Activation id length is 3 but must be 32.');
  expectError(await sys.request('GET', `${ACT}/${'z'.repeat(32)}/result`), 400, 'The activation id is not valid.');
  const unknown = newId();
  expectError(await sys.request('GET', `${ACT}/${unknown}`), 404, 'The requested resource does not exist.');
  expectError(await sys.request('GET', `${ACT}/${unknown}/result`), 404);
  expectError(await sys.request('GET', `${ACT}/${unknown}/logs`), 404);
  await stillServing(sys);
});

test('records are per namespace: another namespace\'s are neither listed nor readable', async () => {
  expectError(await sys.request('GET', `${ACT}/${other.activationId}`), 404);
  expectError(await sys.request('GET', `${NS}/whisk.system/activations`), 403);
  expectError(await sys.request('GET', `${NS}/whisk.system/activations/${other.activationId}`), 403);
  const mine = expectStatus(await sys.request('GET', `${ACT}`, { auth: SYSTEM_AUTH }), 200);
  assert.deepStrictEqual(mine.map((a) => a.activationId), [other.activationId]);
  const got = expectStatus(await sys.request('GET', `${ACT}/${other.activationId}`, { auth: SYSTEM_AUTH }), 200);
  assert.strictEqual(got.name, 'sysact');
});

test('only GET is routed on activations', async () => {
  expectError(await sys.request('POST', ACT, { body: {} }), 405);
  expectError(await sys.request('DELETE', `${ACT}/${recs.h1.activationId}`), 405);
  expectError(await sys.request('GET', ACT, { auth: null }), 401);
});

test('npm client: list (all in the namespace), then get, logs and result of each', async () => {
  const ow = sys.client();
  const list = await ow.activations.list({ limit: 200 });
  assert.ok(list.length >= Object.keys(recs).length, `${list.length}`);
  for (const a of list) {
    assert.strictEqual(a.namespace, 'guest');
    const got = await ow.activations.get({ activationId: a.activationId });
    assert.strictEqual(got.activationId, a.activationId);
    const logs = await ow.activations.logs({ activationId: a.activationId });
    assert.ok(Array.isArray(logs.logs));
    const result = await ow.activations.result({ activationId: a.activationId });
    assert.ok('result' in result && 'success' in result && 'status' in result, JSON.stringify(result));
  }
});

test('npm client: list filters and get by name', async () => {
  const ow = sys.client();
  const hello = await ow.activations.list({ name: 'hello' });
  assert.deepStrictEqual(hello.map((a) => a.activationId), ['h3', 'h2', 'h1'].map((k) => recs[k].activationId));
  const page = await ow.activations.list({ since: T0, limit: 2, skip: 1 });
  assert.deepStrictEqual(page.map((a) => a.activationId), order.slice(1, 3).map((k) => recs[k].activationId));
  const docs = await ow.activations.list({ name: 'hello', docs: true, limit: 1 });
  assert.deepStrictEqual(docs[0].response.result, { n: 3 });
  assert.deepStrictEqual(await ow.activations.list({ name: 'hello', count: true }), { activations: 3 });
  const got = await ow.activations.get(recs.h2.activationId);
  assert.deepStrictEqual(got.response.result, { n: 2 });
  const res = await ow.activations.result({ name: recs.err.activationId });
  assert.strictEqual(res.success, false);
  await expectClientError(ow.activations.get(newId()), 404);
  await expectClientError(ow.activations.get('nothex'), 400, 'Activation id length is 6 but must be 32.');
});

run();
