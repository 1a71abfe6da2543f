// SPDX-License-Identifier: Apache-2.0
// Issue 11, item 1: a "\u0000" in a string of an entity (a parameter, an annotation, the
// code) is accepted as OpenWhisk accepts it, and round-trips: the entity can be read,
// listed (by its namespace, and by another namespace when its package is published),
// updated, invoked and deleted. Before the fix the store read such documents back
// without the flag they were parsed with: every later call on them was 500 (or 503).
'use strict';
const { test, run, assert } = require('./lib/harness');
const { NS, expectStatus } = require('./lib/api');
const dp = require('./lib/dp');

const ns = dp.namespacedSystem('nulns', { env: { XWHISK_PREWARM: 'nodejs:20=1' } });
const { sys, opts } = ns;

const NUL = 'a\u0000b';
// A NUL inside the code too (in a comment and a string literal): it must reach the runtime.
// The result names the characters it got.
const CODE = `// x\u0000y
function main(p) { return { got: Array.from(p.p).map((c) => c.charCodeAt(0)), lit: "q\u0000r".length } }`;
const codes = (s) => Array.from(s).map((c) => c.charCodeAt(0));
const kv = (arr, key) => (arr || []).find((x) => x.key === key);

test('an action with NUL in a parameter, an annotation and the code round-trips', async () => {
  const A = `${NS}/_/actions/nulact`;
  const body = {
    exec: { kind: 'nodejs:20', code: CODE },
    parameters: [{ key: 'p', value: NUL }],
    annotations: [{ key: 'note', value: NUL }],
  };
  expectStatus(await sys.request('PUT', A, opts({ body })), 200);
  const got = await sys.request('GET', A, opts());
  expectStatus(got, 200);
  assert.strictEqual(kv(got.json.parameters, 'p').value, NUL);
  assert.strictEqual(kv(got.json.annotations, 'note').value, NUL);
  assert.strictEqual(got.json.exec.code, CODE);

  const list = await sys.request('GET', `${NS}/_/actions`, opts());
  expectStatus(list, 200);
  assert.ok(list.json.find((a) => a.name === 'nulact'), 'listed');

  // invoked: the parameter and the code reach the runtime whole
  const r = await dp.invokeOk(sys, 'nulact', {}, opts({ result: true }));
  assert.deepStrictEqual(r, { got: codes(NUL), lit: 3 });
  // a NUL in the request body too
  const r2 = await dp.invokeOk(sys, 'nulact', { p: 'x\u0000\u0000' }, opts({ result: true }));
  assert.deepStrictEqual(r2, { got: codes('x\u0000\u0000'), lit: 3 });

  expectStatus(await sys.request('PUT', `${A}?overwrite=true`, opts({ body: { ...body, parameters: [{ key: 'p', value: 'ok' }] } })), 200);
  assert.deepStrictEqual(await dp.invokeOk(sys, 'nulact', {}, opts({ result: true })), { got: codes('ok'), lit: 3 });
  expectStatus(await sys.request('DELETE', A, opts()), 200);
  expectStatus(await sys.request('GET', A, opts()), 404);
});

test('a published package with NUL lists for its namespace and for others', async () => {
  const P = `${NS}/_/packages/nulpkg`;
  expectStatus(await sys.request('PUT', P, opts({ body: { publish: true, parameters: [{ key: 'p', value: NUL }] } })), 200);
  const got = await sys.request('GET', P, opts());
  expectStatus(got, 200);
  assert.strictEqual(kv(got.json.parameters, 'p').value, NUL);
  expectStatus(await sys.request('GET', `${NS}/_/packages`, opts()), 200);
  // another namespace (guest) lists nulns's published packages
  const other = await sys.request('GET', `${NS}/nulns/packages`);
  expectStatus(other, 200);
  assert.ok(other.json.find((p) => p.name === 'nulpkg'), 'published package listed for guest');
  // an action in it resolves with the package's parameter
  expectStatus(await sys.request('PUT', `${NS}/_/actions/nulpkg/inpkg`, opts({ body: { exec: { kind: 'nodejs:20', code: CODE } } })), 200);
  assert.deepStrictEqual(await dp.invokeOk(sys, 'nulpkg/inpkg', {}, opts({ result: true })), { got: codes(NUL), lit: 3 });
  expectStatus(await sys.request('DELETE', `${NS}/_/actions/nulpkg/inpkg`, opts()), 200);
  expectStatus(await sys.request('DELETE', P, opts()), 200);
});

test('triggers and rules with NUL read back', async () => {
  const T = `${NS}/_/triggers/nultrig`;
  expectStatus(await sys.request('PUT', T, opts({ body: { parameters: [{ key: 'p', value: NUL }], annotations: [{ key: 'a', value: NUL }] } })), 200);
  const got = await sys.request('GET', T, opts());
  expectStatus(got, 200);
  assert.strictEqual(kv(got.json.parameters, 'p').value, NUL);
  expectStatus(await sys.request('GET', `${NS}/_/triggers`, opts()), 200);
  expectStatus(await sys.request('DELETE', T, opts()), 200);
});

test('an action whose result holds a NUL: the answer and the stored record keep it', async () => {
  await dp.putAction(sys, 'nulresult', { exec: { kind: 'nodejs:20', code: 'function main() { return { s: "a\\u0000b" } }' } }, opts());
  const r = await dp.invoke(sys, 'nulresult', {}, opts());
  assert.strictEqual(r.status, 200, r.text);
  assert.deepStrictEqual(codes(r.json.response.result.s), codes(NUL));
  const rec = await dp.waitRecord(sys, r.json.activationId, opts());
  assert.deepStrictEqual(codes(rec.response.result.s), codes(NUL));
});

test('a web answer holding a NUL is kept by the node\'s cache and served again from it', async () => {
  const code = 'function main() { return { statusCode: 200, headers: { "Cache-Control": "max-age=60" }, body: { s: "a\\u0000b", r: Math.random() } } }';
  await dp.putAction(sys, 'nulweb', { exec: { kind: 'nodejs:20', code }, annotations: [{ key: 'web-export', value: true }] }, opts());
  const url = '/api/v1/web/nulns/default/nulweb.http';
  const first = await sys.request('GET', url, { auth: null });
  assert.strictEqual(first.status, 200, first.text);
  assert.deepStrictEqual(codes(first.json.s), codes(NUL));
  const again = await sys.request('GET', url, { auth: null });
  assert.ok(again.headers.age !== undefined, `a hit carries Age: ${JSON.stringify(again.headers)}`);
  assert.deepStrictEqual(again.json, first.json);
});

run();
