// SPDX-License-Identifier: Apache-2.0
// Invoking actions on the node (openwhisk-api.md 1.5, 3.5, 6): every kind (nodejs:20 and
// python:3 from source and zip, native action-loop scripts, blackbox dockerskeleton
// scripts); blocking, result-only and non-blocking invokes; application and developer
// errors; parameters, final, init parameters, __OW_* variables and the api key; the
// ?timeout query, oversized bodies, action time limits; x-openwhisk-activation-id.
'use strict';
const { test, run, assert, expectError, sleep } = require('./lib/harness');
const dp = require('./lib/dp');
const { ann, hasAnn, checkRecord, checkLogs, expectHeaderId, invoke, invokeOk, waitRecord, putAction, putEntity } = dp;

const NSN = 'dpinv';
const ns = dp.namespacedSystem(NSN, { env: { XWHISK_PREWARM: 'nodejs:20=2,python:3=1' } });
const { sys, opts } = ns;

const MULTI = `
let calls = 0;
function main(p) {
  calls++;
  console.log('multi stdout ' + calls);
  console.error('multi stderr ' + calls);
  switch (p.mode) {
    case 'app': return { error: 'application says no' };
    case 'reject': return Promise.reject(new Error('rejected on purpose'));
    case 'promise': return new Promise((r) => setTimeout(() => r({ promised: true, calls }), 50));
    case 'throw': throw new Error('thrown on purpose');
    case 'scalar': return 42;
    case 'array': return [1, 2, 3];
    case 'big': return { big: 'x'.repeat(p.n) };
  }
  return { params: p, calls };
}`;

const ENV_ECHO = `
function main(p) {
  const names = ['__OW_ACTIVATION_ID', '__OW_ACTION_NAME', '__OW_NAMESPACE', '__OW_ACTION_VERSION',
    '__OW_DEADLINE', '__OW_API_KEY', '__OW_TRANSACTION_ID', 'INIT_SECRET', 'INIT_NUM'];
  const env = {};
  for (const k of names) if (k in process.env) env[k] = process.env[k];
  return { params: p, env };
}`;

const SLOW = `
function main(p) {
  return new Promise((r) => setTimeout(() => r({ slept: p.ms || 0 }), p.ms || 0));
}`;

const PY = `import os, sys

def main(args):
    print("py stdout line")
    print("py stderr line", file=sys.stderr)
    if args.get("mode") == "throw":
        raise Exception("python raised on purpose")
    if args.get("mode") == "app":
        return {"error": "python app error"}
    names = ("__OW_ACTIVATION_ID", "__OW_ACTION_NAME", "__OW_NAMESPACE", "PY_INIT")
    env = {k: os.environ[k] for k in names if k in os.environ}
    return {"params": args, "env": env, "lang": "python"}
`;

// ActionLoop: one JSON line in on stdin (the whole /run body), the result line on fd 3.
const NATIVE = `#!/bin/sh
while IFS= read -r line; do
  echo "native stdout"
  echo "native stderr" >&2
  case "$line" in
    *'"mode":"app"'*) echo '{"error":"native app error"}' >&3 ;;
    *) echo "{\\"input\\":$line}" >&3 ;;
  esac
done
`;

// dockerskeleton: run once per activation, the arguments as a JSON string in argv[1],
// the last stdout line is the result.
const BLACKBOX = `#!/bin/sh
echo "blackbox stdout"
echo "blackbox stderr" >&2
case "$1" in
  *'"mode":"app"'*) echo '{"error":"blackbox app error"}'; exit 0 ;;
esac
echo "{\\"args\\":$1,\\"id\\":\\"$__OW_ACTIVATION_ID\\",\\"name\\":\\"$__OW_ACTION_NAME\\"}"
`;

const created = {};
async function ensure(name, body) {
  if (!created[name]) created[name] = await putAction(sys, name, body, opts());
  return created[name];
}
const multi = () => ensure('multi', { exec: { kind: 'nodejs:20', code: MULTI } });

// ---- nodejs ----

test('nodejs: blocking invoke answers 200 with the full record (cold start has initTime)', async () => {
  await multi();
  const r = await invoke(sys, 'multi', { x: 1 }, opts());
  assert.strictEqual(r.status, 200, r.text);
  const rec = checkRecord(r.json, { name: 'multi', namespace: NSN, path: `${NSN}/multi`, kind: 'nodejs:20' });
  expectHeaderId(r, rec.activationId);
  assert.deepStrictEqual(rec.response.result, { params: { x: 1 }, calls: 1 });
  assert.strictEqual(typeof ann(rec, 'initTime'), 'number', `cold start: initTime annotation ${JSON.stringify(rec.annotations)}`);
  assert.ok(rec.duration >= ann(rec, 'initTime'), 'a cold activation starts with /init, so duration includes initTime');
  assert.strictEqual(ann(rec, 'timeout'), false);
  assert.deepStrictEqual(ann(rec, 'limits'), { timeout: 60000, memory: 256, logs: 10, concurrency: 1 });
  assert.strictEqual(rec.version, '0.0.1');
});

test('nodejs: the next invoke is warm (same sandbox, no initTime, waitTime present)', async () => {
  const rec = await invokeOk(sys, 'multi', { x: 2 }, opts());
  checkRecord(rec, { name: 'multi', namespace: NSN, kind: 'nodejs:20' });
  assert.strictEqual(rec.response.result.calls, 2, `the warm sandbox kept its state: ${JSON.stringify(rec.response.result)}`);
  assert.ok(!hasAnn(rec, 'initTime'), `warm: no initTime ${JSON.stringify(rec.annotations)}`);
  assert.strictEqual(typeof ann(rec, 'waitTime'), 'number');
});

test('nodejs: logs are "<RFC3339Nano> stdout|stderr: line" without sentinels', async () => {
  const rec = await invokeOk(sys, 'multi', {}, opts());
  const lines = checkLogs(rec.logs);
  const n = rec.response.result.calls;
  assert.ok(lines.some((l) => l.stream === 'stdout' && l.text === `multi stdout ${n}`), JSON.stringify(rec.logs));
  assert.ok(lines.some((l) => l.stream === 'stderr' && l.text === `multi stderr ${n}`), JSON.stringify(rec.logs));
  assert.strictEqual(lines.length, 2, `only this activation's lines: ${JSON.stringify(rec.logs)}`);
  for (const l of lines) assert.ok(Math.abs(Date.parse(l.time) - rec.start) < 60000, `timestamp ${l.time} near start`);
});

test('nodejs: ?result=true answers only the result', async () => {
  const r = await invoke(sys, 'multi', { y: 'z' }, opts({ result: true }));
  assert.strictEqual(r.status, 200, r.text);
  assert.deepStrictEqual(Object.keys(r.json).sort(), ['calls', 'params']);
  assert.deepStrictEqual(r.json.params, { y: 'z' });
  expectHeaderId(r);
});

test('nodejs: a promise resolves into the result', async () => {
  const rec = await invokeOk(sys, 'multi', { mode: 'promise' }, opts());
  assert.strictEqual(rec.response.result.promised, true, JSON.stringify(rec.response));
});

test('nodejs: an array result is answered alone, even without result=true', async () => {
  const r = await invoke(sys, 'multi', { mode: 'array' }, opts());
  assert.strictEqual(r.status, 200, r.text);
  assert.deepStrictEqual(r.json, [1, 2, 3]);
  const rec = await waitRecord(sys, expectHeaderId(r), opts());
  assert.deepStrictEqual(rec.response.result, [1, 2, 3]);
  assert.strictEqual(rec.response.status, 'success');
});

test('nodejs: non-blocking invoke is 202 {activationId}; the record appears later', async () => {
  const r = await invoke(sys, 'multi', { nb: true }, opts({ blocking: false }));
  assert.strictEqual(r.status, 202, r.text);
  assert.deepStrictEqual(Object.keys(r.json), ['activationId']);
  assert.ok(dp.HEX32.test(r.json.activationId), r.text);
  expectHeaderId(r, r.json.activationId);
  const rec = await waitRecord(sys, r.json.activationId, opts());
  checkRecord(rec, { name: 'multi', namespace: NSN, kind: 'nodejs:20' });
  assert.deepStrictEqual(rec.response.result.params, { nb: true });
});

test('nodejs: {error} result is an application error: 502 with the record', async () => {
  const r = await invoke(sys, 'multi', { mode: 'app' }, opts());
  assert.strictEqual(r.status, 502, r.text);
  const rec = checkRecord(r.json, { name: 'multi', namespace: NSN, status: 'application error' });
  expectHeaderId(r, rec.activationId);
  assert.deepStrictEqual(rec.response.result, { error: 'application says no' });
  const ro = await invoke(sys, 'multi', { mode: 'app' }, opts({ result: true }));
  assert.strictEqual(ro.status, 502, ro.text);
  assert.deepStrictEqual(ro.json, { error: 'application says no' });
});

test('nodejs: a rejected promise is an application error', async () => {
  const r = await invoke(sys, 'multi', { mode: 'reject' }, opts());
  assert.strictEqual(r.status, 502, r.text);
  checkRecord(r.json, { status: 'application error', namespace: NSN });
  assert.ok(r.json.response.result.error !== undefined, r.text);
});

test('npm client: invoke blocking, result, non-blocking; activations get/logs/result', async () => {
  const ow = sys.client(ns.key);
  const rec = await ow.actions.invoke({ name: 'multi', params: { c: 1 }, blocking: true });
  assert.strictEqual(rec.response.success, true);
  assert.deepStrictEqual(rec.response.result.params, { c: 1 });
  const res = await ow.actions.invoke({ name: 'multi', params: { c: 2 }, blocking: true, result: true });
  assert.deepStrictEqual(res.params, { c: 2 });
  const nb = await ow.actions.invoke({ name: 'multi', params: { c: 3 } });
  assert.ok(dp.HEX32.test(nb.activationId), JSON.stringify(nb));
  await waitRecord(sys, nb.activationId, opts());
  const got = await ow.activations.get({ activationId: nb.activationId });
  assert.strictEqual(got.activationId, nb.activationId);
  assert.deepStrictEqual(got.response.result.params, { c: 3 });
  const logs = await ow.activations.logs({ activationId: nb.activationId });
  assert.deepStrictEqual(logs, { logs: got.logs });
  const result = await ow.activations.result({ activationId: nb.activationId });
  assert.deepStrictEqual(result.result, got.response.result);
  assert.strictEqual(result.status, 'success');
  assert.strictEqual(result.success, true);
  // the client turns the 502 of an application error into an error carrying the record
  let err;
  try {
    await ow.actions.invoke({ name: 'multi', params: { mode: 'app' }, blocking: true });
  } catch (e) {
    err = e;
  }
  assert.ok(err, 'a 502 rejects');
  assert.strictEqual(err.statusCode, 502);
  assert.ok(String(err.message).includes('application says no'), err.message);
});

test('nodejs: a thrown exception is a developer error (502); the action still works after', async () => {
  const r = await invoke(sys, 'multi', { mode: 'throw' }, opts());
  assert.strictEqual(r.status, 502, r.text);
  const rec = checkRecord(r.json, { name: 'multi', namespace: NSN, status: 'action developer error' });
  expectHeaderId(r, rec.activationId);
  assert.strictEqual(typeof rec.response.result.error, 'string', r.text);
  // (a bounded wait: a hang here shows as 202 after 10 s, not after a minute)
  const after = await invokeOk(sys, 'multi', { again: 1 }, opts({ timeout: '10000' }));
  assert.deepStrictEqual(after.response.result.params, { again: 1 });
});

test('nodejs: returning a non-object is a developer error (502)', async () => {
  const r = await invoke(sys, 'multi', { mode: 'scalar' }, opts());
  assert.strictEqual(r.status, 502, r.text);
  checkRecord(r.json, { status: 'action developer error', namespace: NSN });
  assert.strictEqual(typeof r.json.response.result.error, 'string', r.text);
  await invokeOk(sys, 'multi', {}, opts({ timeout: '10000' }));
});

test('nodejs: a zip action (npm client, Buffer) returns its input', async () => {
  const ow = sys.client(ns.key);
  const archive = dp.zip({
    'package.json': JSON.stringify({ name: 'zipped', main: 'index.js' }),
    'index.js': 'exports.main = (p) => ({ zipped: true, input: p });\n',
  });
  const a = await ow.actions.create({ name: 'zipjs', action: archive });
  assert.strictEqual(a.exec.binary, true);
  const rec = await ow.actions.invoke({ name: 'zipjs', params: { hello: 'world' }, blocking: true });
  assert.deepStrictEqual(rec.response.result, { zipped: true, input: { hello: 'world' } });
});

// ---- parameters ----

test('parameters: action defaults are merged under the request body', async () => {
  await putAction(sys, 'withkey', {
    exec: { kind: 'nodejs:20', code: ENV_ECHO },
    parameters: [{ key: 'a', value: 1 }, { key: 'b', value: 2 }],
    annotations: [{ key: 'provide-api-key', value: true }],
  }, opts());
  const rec = await invokeOk(sys, 'withkey', { b: 3, c: 4 }, opts());
  assert.deepStrictEqual(rec.response.result.params, { a: 1, b: 3, c: 4 });
});

test('an update or a delete made through the node is seen by the very next invoke', async () => {
  // The node's action cache is dropped by the controller's events too, but those may come
  // after the answer: a client must not run the revision it has just replaced.
  const ECHO = 'function main(p) { return p; }';
  for (let v = 1; v <= 4; v++) {
    await putAction(sys, 'ryw', { exec: { kind: 'nodejs:20', code: ECHO }, parameters: [{ key: 'v', value: v }] }, opts());
    const rec = await invokeOk(sys, 'ryw', {}, opts());
    assert.strictEqual(rec.response.result.v, v, `revision ${v} runs`);
  }
  await putEntity(sys, 'packages', 'rywpkg', { parameters: [{ key: 'p', value: 1 }] }, opts());
  await putAction(sys, 'rywpkg/echo', { exec: { kind: 'nodejs:20', code: ECHO } }, opts());
  assert.strictEqual((await invokeOk(sys, 'rywpkg/echo', {}, opts())).response.result.p, 1);
  await putEntity(sys, 'packages', 'rywpkg', { parameters: [{ key: 'p', value: 2 }] }, opts());
  assert.strictEqual((await invokeOk(sys, 'rywpkg/echo', {}, opts())).response.result.p, 2, 'the package\'s new parameters');
  const del = await sys.request('DELETE', '/api/v1/namespaces/_/actions/ryw', opts());
  assert.strictEqual(del.status, 200);
  const gone = await invoke(sys, 'ryw', {}, opts());
  assert.strictEqual(gone.status, 404, gone.text);
});

test('api key: provide-api-key true gives __OW_API_KEY (the caller\'s key)', async () => {
  const rec = await invokeOk(sys, 'withkey', {}, opts());
  assert.strictEqual(rec.response.result.env.__OW_API_KEY, ns.key);
});

test('final: a body key overriding a defined parameter is 400; init params are env vars only', async () => {
  const a = await putAction(sys, 'envecho', {
    exec: { kind: 'nodejs:20', code: ENV_ECHO },
    parameters: [
      { key: 'a', value: 1 },
      { key: 'INIT_SECRET', value: 's3cr3t', init: true },
      { key: 'INIT_NUM', value: 7, init: true },
    ],
    annotations: [{ key: 'final', value: true }],
  }, opts());
  expectError(await invoke(sys, 'envecho', { a: 2 }, opts()), 400, dp.FINAL_MSG);
  const r = await invoke(sys, 'envecho', { c: 3 }, opts());
  assert.strictEqual(r.status, 200, r.text);
  const { params, env } = r.json.response.result;
  assert.deepStrictEqual(params, { a: 1, c: 3 }, 'init parameters are not in the arguments');
  assert.strictEqual(env.INIT_SECRET, 's3cr3t');
  assert.strictEqual(env.INIT_NUM, '7', 'init values are strings');
  // __OW_* variables of this activation
  assert.strictEqual(env.__OW_ACTIVATION_ID, r.json.activationId);
  assert.strictEqual(env.__OW_ACTION_NAME, `/${NSN}/envecho`);
  assert.strictEqual(env.__OW_NAMESPACE, NSN);
  assert.strictEqual(env.__OW_ACTION_VERSION, a.version);
  assert.ok(/^\d+$/.test(env.__OW_DEADLINE) && Number(env.__OW_DEADLINE) > r.json.start, `deadline ${env.__OW_DEADLINE}`);
  assert.ok(!('__OW_API_KEY' in env), 'no api key without provide-api-key (new actions get false)');
  // and again, warm: __OW_ACTIVATION_ID follows the activation
  const r2 = await invokeOk(sys, 'envecho', {}, opts());
  assert.strictEqual(r2.response.result.env.__OW_ACTIVATION_ID, r2.activationId);
});

// ---- query and body checks ----

test('?timeout: bad values are 400, 60000 is fine', async () => {
  // the last: a number that fits, but past the 63 bytes the node reads of a value
  for (const t of ['0', '60001', 'abc', '-1', '1.5', '', '0'.repeat(60) + '1000'])
    expectError(await invoke(sys, 'multi', {}, opts({ timeout: t })), 400, dp.TIMEOUT_MSG);
  await invokeOk(sys, 'multi', {}, opts({ timeout: '60000' }));
  // read into a bounded buffer, yet a zero-padded number is still a number
  await invokeOk(sys, 'multi', {}, opts({ timeout: '0'.repeat(40) + '60000' }));
});

test('a body over 1 MB is 413 "Request larger than allowed"', async () => {
  const raw = JSON.stringify({ big: 'x'.repeat(1100000) });
  const r = await invoke(sys, 'multi', undefined, opts({ raw, headers: { 'Content-Type': 'application/json' } }));
  expectError(r, 413, `Request larger than allowed: ${raw.length} > 1048576 bytes.`);
  const ok = JSON.stringify({ big: 'x'.repeat(900000) });
  const r2 = await invoke(sys, 'multi', undefined, opts({ raw: ok, headers: { 'Content-Type': 'application/json' } }));
  assert.strictEqual(r2.status, 200, r2.text.slice(0, 300));
  // the same limit on a trigger fire and a web action
  const headers = { 'Content-Type': 'application/json' };
  expectError(await sys.request('POST', `/api/v1/namespaces/_/triggers/any`, opts({ raw, headers })), 413,
    `Request larger than allowed: ${raw.length} > 1048576 bytes.`);
  const web = await sys.request('POST', `/api/v1/web/${NSN}/default/multi.json`, { raw, headers });
  assert.strictEqual(web.status, 413, web.text.slice(0, 300));
  assert.ok(web.text.includes(`Request larger than allowed: ${raw.length} > 1048576 bytes.`), web.text);
});

test('a result over 1 MB is cut: an application error naming both lengths; size is the full length', async () => {
  const full = 1100000 + '{"big":""}'.length;
  const r = await invoke(sys, 'multi', { mode: 'big', n: 1100000 }, opts());
  assert.strictEqual(r.status, 502, r.text.slice(0, 300));
  const msg = r.json.response.result.error;
  const head = `The action produced a response that exceeded the allowed length: ${full} > 1048576 bytes. The truncated response was: {"big":"xxx`;
  assert.ok(msg.startsWith(head), msg.slice(0, 200));
  assert.strictEqual(msg.length, head.length - '{"big":"xxx'.length + 1048576);
  assert.strictEqual(r.json.response.status, 'application error');
  assert.strictEqual(r.json.response.size, full);
  await invokeOk(sys, 'multi', {}, opts());
});

test('a missing action is 404; a non-object body is 400', async () => {
  expectError(await invoke(sys, 'no-such-action', {}, opts()), 404);
  expectError(await invoke(sys, 'multi', undefined, opts({ raw: '[1,2]', headers: { 'Content-Type': 'application/json' } })), 400);
});

// ---- time limits ----

test('blocking invoke outliving ?timeout answers 202 {activationId}; the record comes later', async () => {
  await putAction(sys, 'slow', { exec: { kind: 'nodejs:20', code: SLOW }, limits: { timeout: 1500 } }, opts());
  await putAction(sys, 'slower', { exec: { kind: 'nodejs:20', code: SLOW }, limits: { timeout: 6000 } }, opts());
  await invokeOk(sys, 'slower', {}, opts()); // warm it
  const t0 = Date.now();
  const r = await invoke(sys, 'slower', { ms: 4000 }, opts({ timeout: '200' }));
  const took = Date.now() - t0;
  assert.strictEqual(r.status, 202, r.text);
  assert.ok(took < 3000, `answered after the wait (${took} ms), not after the action`);
  assert.deepStrictEqual(Object.keys(r.json), ['activationId']);
  expectHeaderId(r, r.json.activationId);
  const rec = await waitRecord(sys, r.json.activationId, opts());
  assert.deepStrictEqual(rec.response.result, { slept: 4000 });
});

test('an action past its time limit: developer error, timeout annotation; the next invoke works', async () => {
  const t0 = Date.now();
  const r = await invoke(sys, 'slow', { ms: 4000 }, opts());
  const took = Date.now() - t0;
  assert.strictEqual(r.status, 502, r.text);
  const rec = checkRecord(r.json, { name: 'slow', namespace: NSN, status: 'action developer error' });
  assert.deepStrictEqual(rec.response.result, { error: 'The action exceeded its time limits of 1500 milliseconds.' });
  assert.strictEqual(ann(rec, 'timeout'), true);
  assert.ok(took >= 1400 && took < 3900, `stopped at the limit: ${took} ms`);
  const next = await invokeOk(sys, 'slow', { ms: 10 }, opts({ timeout: '10000' }));
  assert.deepStrictEqual(next.response.result, { slept: 10 });
});

// ---- python ----

test('python:3: source action, logs, init parameters and __OW_* variables', async () => {
  await putAction(sys, 'py', {
    exec: { kind: 'python:3', code: PY },
    parameters: [{ key: 'p', value: 'default' }, { key: 'PY_INIT', value: 'from-init', init: true }],
  }, opts());
  const r = await invoke(sys, 'py', { q: 1 }, opts());
  assert.strictEqual(r.status, 200, r.text);
  const rec = checkRecord(r.json, { name: 'py', namespace: NSN, path: `${NSN}/py`, kind: 'python:3' });
  expectHeaderId(r, rec.activationId);
  const res = rec.response.result;
  assert.deepStrictEqual(res.params, { p: 'default', q: 1 });
  assert.strictEqual(res.env.PY_INIT, 'from-init');
  assert.strictEqual(res.env.__OW_ACTIVATION_ID, rec.activationId);
  assert.strictEqual(res.env.__OW_ACTION_NAME, `/${NSN}/py`);
  assert.strictEqual(res.env.__OW_NAMESPACE, NSN);
  const lines = checkLogs(rec.logs);
  assert.ok(lines.some((l) => l.stream === 'stdout' && l.text === 'py stdout line'), JSON.stringify(rec.logs));
  assert.ok(lines.some((l) => l.stream === 'stderr' && l.text === 'py stderr line'), JSON.stringify(rec.logs));
  assert.strictEqual(typeof ann(rec, 'initTime'), 'number');
});

test('python:3: {error} and an exception are application errors (502)', async () => {
  const app = await invoke(sys, 'py', { mode: 'app' }, opts());
  assert.strictEqual(app.status, 502, app.text);
  checkRecord(app.json, { status: 'application error', namespace: NSN });
  assert.deepStrictEqual(app.json.response.result, { error: 'python app error' });
  // OpenWhisk's python launcher catches the exception, prints the traceback to stderr and
  // answers {"error": str(exception)}.
  const boom = await invoke(sys, 'py', { mode: 'throw' }, opts());
  assert.strictEqual(boom.status, 502, boom.text);
  checkRecord(boom.json, { status: 'application error', namespace: NSN });
  assert.deepStrictEqual(boom.json.response.result, { error: 'python raised on purpose' });
  assert.ok(checkLogs(boom.json.logs).some((l) => l.stream === 'stderr' && /Traceback/.test(l.text)), JSON.stringify(boom.json.logs));
  const ok = await invokeOk(sys, 'py', {}, opts({ timeout: '10000' }));
  assert.strictEqual(ok.response.result.lang, 'python');
});

test('python:3: a zip action with __main__.py', async () => {
  const archive = dp.zip({ '__main__.py': 'def main(args):\n    return {"zipped": True, "input": args}\n' });
  await putAction(sys, 'pyzip', { exec: { kind: 'python:3', code: archive.toString('base64'), binary: true } }, opts());
  const rec = await invokeOk(sys, 'pyzip', { k: 'v' }, opts());
  assert.deepStrictEqual(rec.response.result, { zipped: true, input: { k: 'v' } });
});

// ---- native (action loop) ----

test('native: the loop gets the /run body on stdin and answers on fd 3', async () => {
  const a = await putAction(sys, 'nat', { exec: { kind: 'native', code: NATIVE }, parameters: [{ key: 'd', value: 1 }] }, opts());
  const r = await invoke(sys, 'nat', { e: 'two' }, opts());
  assert.strictEqual(r.status, 200, r.text);
  const rec = checkRecord(r.json, { name: 'nat', namespace: NSN, path: `${NSN}/nat`, kind: 'native' });
  expectHeaderId(r, rec.activationId);
  const input = rec.response.result.input;
  assert.deepStrictEqual(input.value, { d: 1, e: 'two' });
  assert.strictEqual(input.activation_id, rec.activationId);
  assert.strictEqual(input.action_name, `/${NSN}/nat`);
  assert.strictEqual(input.namespace, NSN);
  assert.strictEqual(input.action_version, a.version);
  assert.strictEqual(typeof input.deadline, 'string', 'deadline is a string in /run');
  assert.ok(!('api_key' in input), 'no api_key without provide-api-key');
  const lines = checkLogs(rec.logs);
  assert.deepStrictEqual(lines.map((l) => `${l.stream}: ${l.text}`).sort(), ['stderr: native stderr', 'stdout: native stdout']);
  const warm = await invokeOk(sys, 'nat', {}, opts());
  assert.ok(!hasAnn(warm, 'initTime'), 'the loop process serves the next activation');
  const app = await invoke(sys, 'nat', { mode: 'app' }, opts());
  assert.strictEqual(app.status, 502, app.text);
  assert.deepStrictEqual(app.json.response.result, { error: 'native app error' });
  assert.strictEqual(app.json.response.status, 'application error');
});

// ---- blackbox (dockerskeleton) ----

test('blackbox dockerskeleton: argv[1] is the arguments, the last stdout line the result', async () => {
  await putAction(sys, 'bb', {
    exec: { kind: 'blackbox', image: 'openwhisk/dockerskeleton', code: BLACKBOX },
    parameters: [{ key: 'f', value: true }],
  }, opts());
  const r = await invoke(sys, 'bb', { g: [1, 2] }, opts());
  assert.strictEqual(r.status, 200, r.text);
  const rec = checkRecord(r.json, { name: 'bb', namespace: NSN, path: `${NSN}/bb`, kind: 'blackbox' });
  expectHeaderId(r, rec.activationId);
  assert.deepStrictEqual(rec.response.result, { args: { f: true, g: [1, 2] }, id: rec.activationId, name: `/${NSN}/bb` });
  const lines = checkLogs(rec.logs);
  assert.ok(lines.some((l) => l.stream === 'stdout' && l.text === 'blackbox stdout'), JSON.stringify(rec.logs));
  assert.ok(lines.some((l) => l.stream === 'stderr' && l.text === 'blackbox stderr'), JSON.stringify(rec.logs));
  const nb = await invoke(sys, 'bb', { mode: 'app' }, opts({ blocking: false }));
  assert.strictEqual(nb.status, 202, nb.text);
  const app = await waitRecord(sys, nb.json.activationId, opts());
  assert.strictEqual(app.response.status, 'application error', JSON.stringify(app.response));
  assert.deepStrictEqual(app.response.result, { error: 'blackbox app error' });
});

run();
