// SPDX-License-Identifier: Apache-2.0
// What the node itself refuses on an invoke or a fire (not forwarded to the controller):
// missing, malformed and unknown credentials, bodies that are not JSON, illegal names,
// a full queue; each with OpenWhisk's status and body, the request id echoed as "code".
'use strict';
const { test, run, assert, expectError } = require('./lib/harness');
const dp = require('./lib/dp');
const { putAction } = dp;

// One worker and a queue of one activation per action: a third one waiting is refused.
const NSN = 'dperr';
const ns = dp.namespacedSystem(NSN, { env: { XWHISK_PREWARM: '', XWHISK_WORKERS: '1', XWHISK_QUEUE_MAX: '1' } });
const { sys, opts } = ns;
const A = '/api/v1/namespaces/_/actions';

test.before(async () => {
  await putAction(sys, 'echo', { exec: { kind: 'nodejs:20', code: 'function main(p) { return p }' } }, opts());
});

const withId = (o) => ({ ...o, headers: { ...(o.headers || {}), 'X-Request-ID': 'my-request-1' } });
function expectEcho(r, status, text) {
  expectError(r, status, text);
  assert.strictEqual(r.headers['x-request-id'], 'my-request-1');
  assert.strictEqual(r.json.code, 'my-request-1');
}

test('credentials: none, malformed, unknown are 401, echoing the request id', async () => {
  expectEcho(await sys.request('POST', `${A}/echo`, withId({ auth: null, body: {} })), 401,
    'The resource requires authentication, which was not supplied with the request');
  expectEcho(await sys.request('POST', `${A}/echo`, withId({ auth: null, body: {}, headers: { Authorization: 'Basic !!!' } })),
    401, 'The supplied authentication is invalid');
  const unknown = '11111111-2222-4333-8444-555555555555:' + 'k'.repeat(64);
  expectEcho(await sys.request('POST', `${A}/echo`, withId({ auth: unknown, body: {} })), 401,
    'The supplied authentication is invalid');
  expectEcho(await sys.request('POST', '/api/v1/namespaces/_/triggers/t', withId({ auth: unknown, body: {} })), 401,
    'The supplied authentication is invalid');
  // Credentials first, as OpenWhisk: a body is read only for a caller they admit.
  const bad = { raw: '{"a":', headers: { 'Content-Type': 'application/json' } };
  expectEcho(await sys.request('POST', `${A}/echo`, withId({ auth: unknown, ...bad })), 401,
    'The supplied authentication is invalid');
  expectEcho(await sys.request('POST', `${A}/echo?timeout=0`, withId({ auth: unknown, body: {} })), 401,
    'The supplied authentication is invalid');
  const r = await sys.request('POST', `${A}/echo`, withId(opts(bad)));
  assert.strictEqual(r.status, 400, r.text);
});

test('a body that is not JSON is 415; an illegal name is 400', async () => {
  const r = await sys.request('POST', `${A}/echo`, withId(opts({ raw: 'a=1', headers: { 'Content-Type': 'text/plain' } })));
  assert.strictEqual(r.status, 415, r.text);
  assert.strictEqual(r.json.code, 'my-request-1');
  expectEcho(await sys.request('POST', `${A}/bad$name`, withId(opts({ body: {} }))), 400,
    'The name of the entity contains illegal characters.');
  expectEcho(await sys.request('POST', '/api/v1/namespaces/bad$ns/actions/echo', withId(opts({ body: {} }))), 400,
    'The namespace contains illegal characters.');
});

test('a full queue is 429 with Retry-After; the queued ones still run; a refused one leaves no record', async () => {
  // /init takes seconds: while it runs, one activation waits and the next is refused
  const code = 'const t0 = Date.now(); while (Date.now() - t0 < 4000); function main(p) { return p }';
  await putAction(sys, 'slowinit', { exec: { kind: 'nodejs:20', code } }, opts());
  const path = `${A}/slowinit?blocking=true&result=true`;
  const first = sys.request('POST', path, opts({ body: { n: 1 } }));
  await dp.eventually(async () => (await dp.metrics(sys.nodePort)).values.get('xwhisk_queue_depth') === 1,
    { timeoutMs: 3000, everyMs: 50, what: 'the first activation waiting' });
  const refused = await sys.request('POST', path, opts({ body: { n: 2 } }));
  expectError(refused, 429, 'Too many requests are waiting for this action; try again later.');
  assert.strictEqual(refused.headers['retry-after'], '1');
  const async = await sys.request('POST', `${A}/slowinit`, opts({ body: { n: 3 } }));
  expectError(async, 429, 'Too many requests are waiting for this action; try again later.');
  const done = await first;
  assert.strictEqual(done.status, 200, done.text);
  assert.deepStrictEqual(done.json, { n: 1 });
  // Nothing may stand for the refused ones, not even after a restart (when activations
  // accepted but never recorded get an "interrupted" record).
  await sys.restart();
  await dp.eventually(async () => (await dp.metrics(sys.nodePort)).values.get('xwhisk_spool_backlog_bytes') === 0,
    { timeoutMs: 15000, what: 'the spool shipped' });
  const list = await sys.request('GET', '/api/v1/namespaces/_/activations?name=slowinit', opts());
  assert.strictEqual(list.status, 200, list.text);
  assert.strictEqual(list.json.length, 1, JSON.stringify(list.json));
});

test('a failed /init keeps what the runtime printed in the record\'s logs (a syntax error)', async () => {
  await putAction(sys, 'broken', { exec: { kind: 'python:3', code: 'def main(args):\n    return {\n' } }, opts());
  const r = await sys.request('POST', `${A}/broken?blocking=true`, opts({ body: {} }));
  assert.strictEqual(r.status, 502, r.text);
  assert.strictEqual(r.json.response.status, 'action developer error', r.text);
  assert.ok(r.json.logs.some((l) => /stderr: .*SyntaxError/.test(l)), `logs: ${JSON.stringify(r.json.logs)} ${JSON.stringify(r.json.response)}`);
});

test('a blackbox image this platform cannot run: a developer error naming the image', async () => {
  await putAction(sys, 'unknownimage', { exec: { kind: 'blackbox', image: 'example/not-a-runtime:1' } }, opts());
  const r = await sys.request('POST', `${A}/unknownimage?blocking=true`, opts({ body: {} }));
  assert.strictEqual(r.status, 502, r.text);
  assert.strictEqual(r.json.response.status, 'action developer error', r.text);
  assert.strictEqual(r.json.response.result.error, "Failed to pull container image 'example/not-a-runtime:1'.");
});

test('the dockerskeleton without code answers its stub, as OpenWhisk\'s image does', async () => {
  await putAction(sys, 'skeleton', { exec: { kind: 'blackbox', image: 'openwhisk/dockerskeleton' } }, opts());
  const r = await sys.request('POST', `${A}/skeleton?blocking=true&result=true`, opts({ body: {} }));
  assert.strictEqual(r.status, 502, r.text);
  assert.deepStrictEqual(r.json, { error: 'This is a stub action. Replace it with custom logic.' });
});

run();
