// SPDX-License-Identifier: Apache-2.0
// Activation records the node writes (openwhisk-api.md 1.9, 3.5): what a blocking invoke
// answers is what GET /activations/{id} later returns; list summaries carry statusCode;
// records belong to the invoking namespace even for another namespace's published action;
// logs limit 0 keeps no logs; and the node's and the controller's GET /metrics.
'use strict';
const { test, run, assert, SYSTEM_AUTH } = require('./lib/harness');
const { NS } = require('./lib/api');
const dp = require('./lib/dp');
const { ann, hasAnn, checkRecord, checkLogs, invoke, invokeOk, waitRecord, putAction, putEntity } = dp;

const NSN = 'dprec';
const ns = dp.namespacedSystem(NSN, { env: { XWHISK_PREWARM: 'nodejs:20=1,python:3=0' } });
const { sys, opts } = ns;

const CODE = `
function main(p) {
  console.log('line one');
  console.log('line two');
  if (p.fail === 'app') return { error: 'app' };
  if (p.fail === 'dev') throw new Error('dev');
  return { ok: true, p };
}`;

const seen = {}; // status -> activation id

test('the stored record equals the blocking answer (extended form)', async () => {
  await putAction(sys, 'rec', { exec: { kind: 'nodejs:20', code: CODE }, limits: { timeout: 5000, memory: 128 } }, opts());
  const answered = await invokeOk(sys, 'rec', { n: 1 }, opts());
  checkRecord(answered, { name: 'rec', namespace: NSN, path: `${NSN}/rec`, kind: 'nodejs:20' });
  assert.deepStrictEqual(ann(answered, 'limits'), { timeout: 5000, memory: 128, logs: 10, concurrency: 1 });
  const stored = await waitRecord(sys, answered.activationId, opts());
  const sortAnns = (r) => ({ ...r, annotations: [...r.annotations].sort((a, b) => a.key.localeCompare(b.key)) });
  assert.deepStrictEqual(sortAnns(stored), sortAnns(answered));
  seen.success = answered.activationId;
});

test('logs: both lines in order, timestamps non-decreasing', async () => {
  const rec = await invokeOk(sys, 'rec', {}, opts());
  const lines = checkLogs(rec.logs);
  assert.deepStrictEqual(lines.map((l) => l.text), ['line one', 'line two']);
  assert.ok(Date.parse(lines[0].time) <= Date.parse(lines[1].time));
  assert.ok(!hasAnn(rec, 'initTime'), 'warm');
});

// Issue 8: the logs come in the /run answer (X-Xwhisk-Logs): the manager thread cuts no
// segment from the sandbox's pipes for them (before, one per activation woke it).
test('logs in band: the manager thread reads no segment per warm activation', async () => {
  await invokeOk(sys, 'rec', {}, opts());
  const before = (await dp.metrics(sys.nodePort)).values;
  const N = 5;
  for (let i = 0; i < N; i++) {
    const rec = await invokeOk(sys, 'rec', { i }, opts());
    assert.deepStrictEqual(checkLogs(rec.logs).map((l) => l.text), ['line one', 'line two']);
  }
  const after = (await dp.metrics(sys.nodePort)).values;
  const d = (k) => after.get(`xwhisk_log_segments_total{path="${k}"}`) - before.get(`xwhisk_log_segments_total{path="${k}"}`);
  assert.strictEqual(d('inband'), N, 'every activation\'s logs in band');
  assert.strictEqual(d('pipe'), 0, 'no segment from the pipes');
});

test('records of errors: status and statusCode in summaries (0, 1, 2)', async () => {
  const app = await invoke(sys, 'rec', { fail: 'app' }, opts());
  assert.strictEqual(app.status, 502, app.text);
  seen.app = app.json.activationId;
  const dev = await invoke(sys, 'rec', { fail: 'dev' }, opts());
  assert.strictEqual(dev.status, 502, dev.text);
  assert.strictEqual(dev.json.response.status, 'action developer error');
  seen.dev = dev.json.activationId;
  for (const id of Object.values(seen)) await waitRecord(sys, id, opts());
  const list = await sys.request('GET', `${NS}/_/activations?name=rec&limit=200`, opts());
  assert.strictEqual(list.status, 200, list.text);
  const byId = Object.fromEntries(list.json.map((s) => [s.activationId, s]));
  const want = { success: 0, app: 1, dev: 2 };
  for (const [k, id] of Object.entries(seen)) {
    assert.ok(byId[id], `${k} activation ${id} listed: ${list.text.slice(0, 500)}`);
    assert.strictEqual(byId[id].statusCode, want[k], JSON.stringify(byId[id]));
    assert.strictEqual(byId[id].name, 'rec');
    assert.strictEqual(byId[id].namespace, NSN);
    assert.strictEqual(byId[id].duration, byId[id].end - byId[id].start);
  }
  const result = await sys.request('GET', `${NS}/_/activations/${seen.app}/result`, opts());
  // size: the length of what /run answered, {"error":"app"}
  assert.deepStrictEqual(result.json, { result: { error: 'app' }, size: 15, status: 'application error', success: false });
});

test('logs past limits.logs are cut, with OpenWhisk\'s message last', async () => {
  const code = 'function main(p) { const l = "y".repeat(1000); for (let i = 0; i < p.n; i++) console.log(l); return {} }';
  await putAction(sys, 'chatty', { exec: { kind: 'nodejs:20', code }, limits: { logs: 1 } }, opts());
  const rec = await invokeOk(sys, 'chatty', { n: 3000 }, opts());
  // A line like every other: OpenWhisk's timestamp, stderr, the note.
  assert.match(rec.logs[rec.logs.length - 1],
    /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z +stderr: Logs were truncated because the total bytes size exceeds the limit of 1048576 bytes\.$/);
  const kept = rec.logs.slice(0, -1);
  assert.ok(kept.length > 900 && kept.length < 1048, `${kept.length} lines kept`);
  assert.ok(kept.every((l) => l.endsWith('stdout: ' + 'y'.repeat(1000))));
  // the next activation's logs are its own again
  const next = await invokeOk(sys, 'chatty', { n: 2 }, opts());
  assert.strictEqual(next.logs.length, 2);
});

test('limits.logs 0: no logs are kept', async () => {
  await putAction(sys, 'nologs', { exec: { kind: 'nodejs:20', code: CODE }, limits: { logs: 0 } }, opts());
  const rec = await invokeOk(sys, 'nologs', {}, opts());
  assert.deepStrictEqual(rec.logs, []);
  assert.strictEqual(ann(rec, 'limits').logs, 0);
});

test("another namespace's published action: the record is the caller's, path shows the owner", async () => {
  await putEntity(sys, 'packages', 'shared', { publish: true }, { auth: SYSTEM_AUTH });
  await putAction(sys, 'shared/hello', { exec: { kind: 'nodejs:20', code: CODE } }, { auth: SYSTEM_AUTH });
  const r = await sys.request('POST', `${NS}/whisk.system/actions/shared/hello?blocking=true`, { auth: ns.key, body: { who: 'me' } });
  assert.strictEqual(r.status, 200, r.text);
  const rec = checkRecord(r.json, { name: 'hello', namespace: NSN, path: 'whisk.system/shared/hello' });
  await waitRecord(sys, rec.activationId, opts());
  const sysView = await sys.request('GET', `${NS}/_/activations/${rec.activationId}`, { auth: SYSTEM_AUTH });
  assert.strictEqual(sysView.status, 404, 'not in the owner\'s activations');
});

test('GET /metrics on the node: Prometheus text with the data-plane series', async () => {
  const before = await dp.metrics(sys.nodePort);
  await invokeOk(sys, 'rec', {}, opts());
  const { text, values, headers } = await dp.metrics(sys.nodePort);
  assert.ok(/^text\/plain/.test(headers['content-type']), headers['content-type']);
  for (const name of [
    'xwhisk_invocations_total',
    'xwhisk_cold_starts_total',
    'xwhisk_throttled_total',
    'xwhisk_queue_depth',
    'xwhisk_warm_sandboxes',
    'xwhisk_activation_duration_seconds_sum',
    'xwhisk_activation_duration_seconds_count',
  ]) {
    assert.ok(values.has(name), `${name} in\n${text}`);
    assert.ok(new RegExp(`^# TYPE ${name.replace(/_(sum|count)$/, '')} `, 'm').test(text), `TYPE line for ${name}`);
  }
  assert.ok(/^# TYPE xwhisk_activation_duration_seconds histogram$/m.test(text));
  const buckets = [...values.entries()].filter(([k]) => k.startsWith('xwhisk_activation_duration_seconds_bucket{'));
  assert.ok(buckets.length >= 5, 'histogram buckets');
  assert.ok(buckets.some(([k]) => k.includes('le="+Inf"')), 'an +Inf bucket');
  for (let i = 1; i < buckets.length; i++) assert.ok(buckets[i][1] >= buckets[i - 1][1], 'buckets are cumulative');
  assert.strictEqual(values.get('xwhisk_activation_duration_seconds_bucket{le="+Inf"}'), values.get('xwhisk_activation_duration_seconds_count'));
  assert.ok(values.get('xwhisk_invocations_total') > before.values.get('xwhisk_invocations_total'), 'invocations counted');
  assert.ok(values.get('xwhisk_invocations_total') >= 6);
  assert.ok(values.get('xwhisk_cold_starts_total') >= 2, 'rec and nologs started cold');
  assert.ok(values.get('xwhisk_warm_sandboxes') >= 1, 'warm sandboxes');
  assert.strictEqual(values.get('xwhisk_queue_depth'), 0, 'nothing waits now');
});

test('GET /metrics on the controller: xwhisk_controller_requests_total', async () => {
  const { text, values } = await dp.metrics(sys.controllerPort);
  const series = [...values.keys()].filter((k) => k.startsWith('xwhisk_controller_requests_total'));
  assert.ok(series.length > 0, text.slice(0, 1000));
  assert.ok(series.reduce((n, k) => n + values.get(k), 0) > 0, 'requests counted');
});

run();
