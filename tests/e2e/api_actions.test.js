// SPDX-License-Identifier: Apache-2.0
// Actions through the management API (openwhisk-api.md 1.2, 1.5, 3.2): create, update,
// get, delete, list; every exec kind; sequences; parameters, annotations and limits; and
// the checks of the npm client's own integration tests (actions.test.js, section 7).
'use strict';
const { systemPerFile, test, run, assert, expectError } = require('./lib/harness');
const { NS, expectStatus, expectClientError, stillServing, kv } = require('./lib/api');

const sys = systemPerFile();

const A = `${NS}/_/actions`;
const JS = 'function main(p) { return { greeting: "hello " + (p.name || "world") } }';
const nodeExec = (code = JS) => ({ kind: 'nodejs:20', code });
const put = (name, body, q = '') => sys.request('PUT', `${A}/${name}${q}`, { body });
const get = (name, q = '') => sys.request('GET', `${A}/${name}${q}`);

test('npm client: get and delete of a missing action are 404', async () => {
  const ow = sys.client();
  await expectClientError(ow.actions.get({ name: 'no-such-action' }), 404);
  await expectClientError(ow.actions.delete({ name: 'no-such-action' }), 404);
});

test('npm client: create, get, update with overwrite, get ?code=false, delete', async () => {
  const ow = sys.client();
  const created = await ow.actions.create({ name: 'cl_hello', action: JS });
  assert.strictEqual(created.exec.code, JS);
  assert.ok(created.exec.kind.startsWith('nodejs'), created.exec.kind);
  assert.strictEqual(created.exec.kind, 'nodejs:20', 'nodejs:default is resolved when stored');
  assert.strictEqual(created.version, '0.0.1');
  await expectClientError(ow.actions.create({ name: 'cl_hello', action: JS }), 409);

  const got = await ow.actions.get({ name: 'cl_hello' });
  assert.strictEqual(got.exec.code, JS);
  assert.strictEqual(got.namespace, 'guest');

  const updated = await ow.actions.update({ name: 'cl_hello', action: JS, params: { hello: 'world' } });
  assert.deepStrictEqual(updated.parameters, [{ key: 'hello', value: 'world' }]);
  assert.strictEqual(updated.version, '0.0.2');

  const nocode = await ow.actions.get({ name: 'cl_hello', code: false });
  assert.ok(!('code' in nocode.exec), JSON.stringify(nocode.exec));
  assert.strictEqual(nocode.exec.kind, 'nodejs:20');
  assert.strictEqual(nocode.exec.binary, false);

  const list = await ow.actions.list();
  assert.ok(list.some((a) => a.name === 'cl_hello'));
  for (const a of list) assert.strictEqual(a.namespace, 'guest');
  const explicit = await ow.actions.list({ namespace: 'guest' });
  assert.deepStrictEqual(explicit.map((a) => a.name), list.map((a) => a.name));

  const deleted = await ow.actions.delete({ name: 'cl_hello' });
  assert.strictEqual(deleted.name, 'cl_hello');
  await expectClientError(ow.actions.get({ name: 'cl_hello' }), 404);
});

test('npm client: a zip action (Buffer) is stored base64 with binary true', async () => {
  const ow = sys.client();
  const zip = Buffer.from('PK\u0003\u0004 pretend this is a zip archive of an action!!');
  const a = await ow.actions.create({ name: 'cl_zip', action: zip });
  assert.strictEqual(a.exec.code, zip.toString('base64'));
  assert.strictEqual(a.exec.binary, true);
  assert.strictEqual(a.exec.kind, 'nodejs:20');
});

test('npm client: a sequence keeps the components it was given', async () => {
  const ow = sys.client();
  await ow.actions.create({ name: 'cl_comp', action: JS });
  const seq = ['/guest/cl_comp'];
  const s = await ow.actions.create({ name: 'cl_seq', sequence: seq });
  assert.strictEqual(s.exec.kind, 'sequence');
  assert.deepStrictEqual(s.exec.components, seq);
  const got = await ow.actions.get({ name: 'cl_seq' });
  assert.deepStrictEqual(got.exec.components, seq);
});

test('PUT creates an action with OpenWhisk\'s defaults', async () => {
  const before = Date.now();
  const body = expectStatus(await put('hello', { exec: nodeExec() }), 200);
  assert.strictEqual(body.namespace, 'guest');
  assert.strictEqual(body.name, 'hello');
  assert.deepStrictEqual(body.exec, { kind: 'nodejs:20', code: JS, binary: false });
  assert.deepStrictEqual(body.parameters, []);
  assert.deepStrictEqual(body.limits, { timeout: 60000, memory: 256, logs: 10, concurrency: 1 });
  assert.strictEqual(body.version, '0.0.1');
  assert.strictEqual(body.publish, false);
  assert.deepStrictEqual(body.annotations, [
    { key: 'provide-api-key', value: false },
    { key: 'exec', value: 'nodejs:20' },
  ]);
  assert.ok(body.updated >= before && body.updated <= Date.now() + 1000, `updated ${body.updated}`);
  const got = expectStatus(await get('hello'), 200);
  assert.deepStrictEqual(got, body);
});

test('PUT of an existing action without overwrite is 409', async () => {
  expectError(await put('hello', { exec: nodeExec() }), 409, 'resource already exists');
  expectError(await put('hello', { exec: nodeExec() }, '?overwrite=false'), 409);
});

test('PUT ?overwrite=true on a missing action creates it', async () => {
  const body = expectStatus(await put('fresh', { exec: nodeExec() }, '?overwrite=true'), 200);
  assert.strictEqual(body.version, '0.0.1');
  assert.strictEqual(kv(body.annotations, 'provide-api-key'), false);
});

test('update bumps the version, replaces parameters, merges annotations', async () => {
  const created = expectStatus(
    await put('upd', {
      exec: nodeExec(),
      parameters: [{ key: 'a', value: 1 }, { key: 'b', value: { x: [1, 2] } }],
      annotations: [{ key: 'keep', value: 'me' }, { key: 'change', value: 1 }],
      limits: { timeout: 1000 },
    }),
    200,
  );
  assert.strictEqual(created.version, '0.0.1');
  const u = expectStatus(
    await put('upd', { parameters: [{ key: 'c', value: 'new' }], annotations: [{ key: 'change', value: 2 }] }, '?overwrite=true'),
    200,
  );
  assert.strictEqual(u.version, '0.0.2');
  assert.deepStrictEqual(u.parameters, [{ key: 'c', value: 'new' }]);
  assert.strictEqual(kv(u.annotations, 'keep'), 'me');
  assert.strictEqual(kv(u.annotations, 'change'), 2);
  assert.strictEqual(kv(u.annotations, 'exec'), 'nodejs:20');
  assert.strictEqual(kv(u.annotations, 'provide-api-key'), false);
  assert.strictEqual(u.annotations.filter((x) => x.key === 'change').length, 1);
  assert.deepStrictEqual(u.exec, created.exec, 'exec kept when not given');
  assert.strictEqual(u.limits.timeout, 1000, 'limits kept when not given');
  assert.ok(u.updated >= created.updated);
  const u3 = expectStatus(await put('upd', {}, '?overwrite=true'), 200);
  assert.strictEqual(u3.version, '0.0.3');
  assert.deepStrictEqual(u3.parameters, [{ key: 'c', value: 'new' }], 'parameters kept when not given');
});

test('update with delAnnotations removes annotations before merging', async () => {
  const u = expectStatus(
    await put('upd', { delAnnotations: ['keep', 'change'], annotations: [{ key: 'added', value: true }] }, '?overwrite=true'),
    200,
  );
  assert.strictEqual(kv(u.annotations, 'keep'), undefined);
  assert.strictEqual(kv(u.annotations, 'change'), undefined);
  assert.strictEqual(kv(u.annotations, 'added'), true);
  assert.strictEqual(kv(u.annotations, 'exec'), 'nodejs:20', 'exec is set on every write');
});

test('a version given in the body is used', async () => {
  const u = expectStatus(await put('upd', { version: '1.2.3' }, '?overwrite=true'), 200);
  assert.strictEqual(u.version, '1.2.3');
  const n = expectStatus(await put('upd', {}, '?overwrite=true'), 200);
  assert.strictEqual(n.version, '1.2.4');
  expectError(await put('upd', { version: '0.0.0' }, '?overwrite=true'), 400);
  expectError(await put('upd', { version: 'one' }, '?overwrite=true'), 400);
});

test('provide-api-key given on create is kept; the exec annotation follows the kind', async () => {
  const body = expectStatus(
    await put('withkey', { exec: nodeExec(), annotations: [{ key: 'provide-api-key', value: true }, { key: 'exec', value: 'bogus' }] }),
    200,
  );
  assert.strictEqual(kv(body.annotations, 'provide-api-key'), true);
  assert.strictEqual(kv(body.annotations, 'exec'), 'nodejs:20');
  const u = expectStatus(await put('withkey', { exec: { kind: 'python:3', code: 'def main(a):\n  return a\n' } }, '?overwrite=true'), 200);
  assert.strictEqual(kv(u.annotations, 'exec'), 'python:3');
  assert.strictEqual(u.exec.kind, 'python:3');
});

test('parameters: init flag kept, duplicate keys collapse to the last', async () => {
  const body = expectStatus(
    await put('params', {
      exec: nodeExec(),
      parameters: [
        { key: 'secret', value: 's3', init: true },
        { key: 'plain', value: 'x', init: false },
        { key: 'dup', value: 1 },
        { key: 'dup', value: 2 },
        { key: 'nullish' },
      ],
    }),
    200,
  );
  assert.deepStrictEqual(kv(body.parameters, 'secret'), 's3');
  assert.strictEqual(body.parameters.find((p) => p.key === 'secret').init, true);
  assert.ok(!body.parameters.find((p) => p.key === 'plain').init);
  assert.strictEqual(body.parameters.filter((p) => p.key === 'dup').length, 1);
  assert.strictEqual(kv(body.parameters, 'dup'), 2);
  assert.strictEqual(kv(body.parameters, 'nullish'), null);
});

test('kinds: nodejs:default and python:default resolve to the concrete kind', async () => {
  let b = expectStatus(await put('k_node', { exec: { kind: 'nodejs:default', code: JS } }), 200);
  assert.strictEqual(b.exec.kind, 'nodejs:20');
  assert.strictEqual(kv(b.annotations, 'exec'), 'nodejs:20');
  b = expectStatus(await put('k_py', { exec: { kind: 'python:default', code: 'def main(a):\n  return a\n', main: 'main' } }), 200);
  assert.strictEqual(b.exec.kind, 'python:3');
  assert.strictEqual(b.exec.main, 'main');
  b = expectStatus(await put('k_py3', { exec: { kind: ' Python:3 ', code: 'def main(a):\n  return a\n' } }), 200);
  assert.strictEqual(b.exec.kind, 'python:3', 'kind is trimmed and lowercased');
});

test('kinds: blackbox needs an image, code is optional and never shown when absent', async () => {
  expectError(await put('k_bb', { exec: { kind: 'blackbox' } }), 400);
  let b = expectStatus(await put('k_bb', { exec: { kind: 'blackbox', image: 'openwhisk/dockerskeleton' } }), 200);
  assert.deepStrictEqual(b.exec, { kind: 'blackbox', image: 'openwhisk/dockerskeleton', binary: false });
  b = expectStatus(await put('k_bb2', { exec: { kind: 'blackbox', image: 'user/img:1', code: '' } }), 200);
  assert.ok(!('code' in b.exec), 'empty code is no code');
  const got = expectStatus(await get('k_bb2'), 200);
  assert.ok(!('code' in got.exec));
  const zip = Buffer.from('PK zip with an exec file inside').toString('base64');
  b = expectStatus(await put('k_bb3', { exec: { kind: 'blackbox', image: 'openwhisk/dockerskeleton', code: zip } }), 200);
  assert.strictEqual(b.exec.code, zip);
  assert.strictEqual(b.exec.binary, true);
  assert.strictEqual(kv(b.annotations, 'exec'), 'blackbox');
});

test('kinds: native takes a script or a base64 zip (binary true)', async () => {
  const script = '#!/bin/sh\necho \'{"ok":true}\'\n';
  let b = expectStatus(await put('k_native', { exec: { kind: 'native', code: script } }), 200);
  assert.strictEqual(b.exec.kind, 'native');
  assert.strictEqual(b.exec.binary, false);
  const zip = Buffer.from('PK\u0003\u0004 a zip holding exec').toString('base64');
  b = expectStatus(await put('k_native_zip', { exec: { kind: 'native', code: zip } }), 200);
  assert.strictEqual(b.exec.binary, true);
  b = expectStatus(await put('k_native_zip2', { exec: { kind: 'native', code: `\n ${zip} \n` } }), 200);
  assert.strictEqual(b.exec.binary, true, 'the base64 check trims the code');
});

test('binary is computed from the code, not taken from the request', async () => {
  let b = expectStatus(await put('k_bin1', { exec: { kind: 'nodejs:20', code: JS, binary: true } }), 200);
  assert.strictEqual(b.exec.binary, false);
  b = expectStatus(await put('k_bin2', { exec: { kind: 'nodejs:20', code: 'QUJDRA==', binary: false } }), 200);
  assert.strictEqual(b.exec.binary, true);
});

test('an empty code string is accepted (client-js routes test)', async () => {
  const b = expectStatus(await put('k_empty', { exec: { kind: 'nodejs:default', code: '' } }), 200);
  assert.strictEqual(b.exec.code, '');
  assert.strictEqual(b.exec.binary, false);
});

test('an unknown kind is 400 with the valid values', async () => {
  const r = await put('k_bad', { exec: { kind: 'cobol:85', code: 'x' } });
  expectError(r, 400, "The specified runtime 'cobol:85' is not supported by this platform. Valid values are: ");
  assert.ok(r.json.error.includes('nodejs:20'), r.json.error);
  expectError(await put('k_bad', { exec: { kind: 'fortran:default', code: 'x' } }), 400, 'is not supported by this platform');
  expectError(await put('k_bad', { exec: { code: 'x' } }), 400);
  expectError(await get('k_bad'), 404);
});

test('create without exec is 400 "exec undefined"', async () => {
  expectError(await put('noexec', {}), 400, 'exec undefined');
  expectError(await put('noexec', { parameters: [] }, '?overwrite=true'), 400, 'exec undefined');
});

test('sequences: components resolved with explicit namespaces, parameters name them', async () => {
  expectStatus(await put('s_a', { exec: nodeExec() }), 200);
  expectStatus(await put('s_b', { exec: nodeExec() }), 200);
  const b = expectStatus(
    await put('seq1', { exec: { kind: 'sequence', components: ['/_/s_a', 'guest/s_b', '/guest/s_a'] }, parameters: [{ key: 'dropped', value: 1 }] }),
    200,
  );
  assert.deepStrictEqual(b.exec, { kind: 'sequence', components: ['/guest/s_a', '/guest/s_b', '/guest/s_a'] });
  assert.deepStrictEqual(b.parameters, [{ key: '_actions', value: ['/guest/s_a', '/guest/s_b', '/guest/s_a'] }]);
  assert.strictEqual(kv(b.annotations, 'exec'), 'sequence');
  const got = expectStatus(await get('seq1', '?code=false'), 200);
  assert.deepStrictEqual(got.exec.components, b.exec.components, 'code=false keeps components');
});

test('sequences: turning a sequence into a code action drops its _actions parameter', async () => {
  expectStatus(await put('s_conv', { exec: { kind: 'sequence', components: ['/_/s_a'] } }), 200);
  let b = expectStatus(await put('s_conv', { parameters: [{ key: 'ignored', value: 1 }] }, '?overwrite=true'), 200);
  assert.deepStrictEqual(b.parameters, [{ key: '_actions', value: ['/guest/s_a'] }], 'a sequence keeps its parameters');
  assert.strictEqual(b.version, '0.0.2');
  b = expectStatus(await put('s_conv', { exec: nodeExec() }, '?overwrite=true'), 200);
  assert.deepStrictEqual(b.parameters, []);
  assert.strictEqual(kv(b.annotations, 'exec'), 'nodejs:20');
  b = expectStatus(await put('s_conv', { exec: { kind: 'sequence', components: ['/_/s_b'] }, parameters: [{ key: 'x', value: 1 }] }, '?overwrite=true'), 200);
  assert.deepStrictEqual(b.parameters, [{ key: '_actions', value: ['/guest/s_b'] }]);
  assert.strictEqual(kv(b.annotations, 'exec'), 'sequence');
});

test('sequences: nested sequences and packaged components are accepted', async () => {
  expectStatus(await sys.request('PUT', `${NS}/_/packages/seqpkg`, { body: {} }), 200);
  expectStatus(await put('seqpkg/inner', { exec: nodeExec() }), 200);
  const b = expectStatus(await put('seq2', { exec: { kind: 'sequence', components: ['/_/seq1', '/_/seqpkg/inner'] } }), 200);
  assert.deepStrictEqual(b.exec.components, ['/guest/seq1', '/guest/seqpkg/inner']);
});

test('sequences: errors with OpenWhisk\'s messages', async () => {
  expectError(await put('s_bad', { exec: { kind: 'sequence', components: [] } }), 400, 'No component specified for the sequence.');
  const many = Array.from({ length: 51 }, () => '/guest/s_a');
  expectError(await put('s_bad', { exec: { kind: 'sequence', components: many } }), 400, 'Too many actions in the sequence.');
  const fifty = Array.from({ length: 50 }, () => '/guest/s_a');
  expectStatus(await put('s_fifty', { exec: { kind: 'sequence', components: fifty } }), 200);
  // 50 atomic actions twice over, once nested sequences are expanded
  expectError(
    await put('s_bad', { exec: { kind: 'sequence', components: ['/guest/s_fifty', '/guest/s_a'] } }),
    400,
    'Too many actions in the sequence.',
  );
  expectError(await put('s_bad', { exec: { kind: 'sequence', components: ['/guest/nope'] } }), 400, 'Sequence component does not exist.');
  expectError(await put('s_bad', { exec: { kind: 'sequence', components: ['/guest/seqpkg/nope'] } }), 400, 'Sequence component does not exist.');
  expectError(await put('s_self', { exec: { kind: 'sequence', components: ['/guest/s_self'] } }), 400, 'Sequence may not refer to itself.');
  // a cycle through a nested sequence, made by turning s_a into a sequence over seq1
  expectError(
    await put('s_a', { exec: { kind: 'sequence', components: ['/guest/seq1'] } }, '?overwrite=true'),
    400,
    'Sequence may not refer to itself.',
  );
  expectError(await get('s_bad'), 404);
  expectError(await get('s_self'), 404);
  await stillServing(sys);
});

test('limits: partial limits merge with the defaults; bounds are inclusive', async () => {
  let b = expectStatus(await put('l_ok', { exec: nodeExec(), limits: { memory: 128 } }), 200);
  assert.deepStrictEqual(b.limits, { timeout: 60000, memory: 128, logs: 10, concurrency: 1 });
  b = expectStatus(
    await put('l_max', { exec: nodeExec(), limits: { timeout: 300000, memory: 512, logs: 0, concurrency: 500 } }),
    200,
  );
  assert.deepStrictEqual(b.limits, { timeout: 300000, memory: 512, logs: 0, concurrency: 500 });
  b = expectStatus(await put('l_min', { exec: nodeExec(), limits: { timeout: 100, memory: 128, logs: 10, concurrency: 1 } }), 200);
  assert.strictEqual(b.limits.timeout, 100);
  b = expectStatus(await put('l_ok', { limits: { timeout: 5000 } }, '?overwrite=true'), 200);
  assert.deepStrictEqual(b.limits, { timeout: 5000, memory: 128, logs: 10, concurrency: 1 }, 'update keeps other limits');
  b = expectStatus(await put('l_inst', { exec: nodeExec(), limits: { instances: 3 } }), 200);
  assert.strictEqual(b.limits.instances, 3);
  assert.ok(!('instances' in expectStatus(await get('l_ok'), 200).limits), 'instances only when set');
});

test('limits: violations are 400 with OpenWhisk\'s messages', async () => {
  const cases = [
    [{ timeout: 99 }, 'duration 99 milliseconds below allowed threshold of 100 milliseconds'],
    [{ timeout: 300001 }, 'duration 300001 milliseconds exceeds allowed threshold of 300000 milliseconds'],
    [{ memory: 127 }, 'memory 127 MB below allowed threshold of 128 MB'],
    [{ memory: 1024 }, 'memory 1024 MB exceeds allowed threshold of 512 MB'],
    [{ logs: 20 }, 'log 20 MB exceeds allowed threshold of 10 MB'],
    [{ concurrency: 0 }, 'concurrency 0 below allowed threshold of 1'],
    [{ concurrency: 501 }, 'concurrency 501 exceeds allowed threshold of 500'],
    [{ instances: 31 }, 'Max action instance concurrency must not exceed your namespace concurrency of 30.'],
  ];
  for (const [limits, msg] of cases) expectError(await put('l_bad', { exec: nodeExec(), limits }), 400, msg);
  expectError(await put('l_bad', { exec: nodeExec(), limits: { memory: 'lots' } }), 400);
  expectError(await put('l_bad', { exec: nodeExec(), limits: { timeout: 1000.5 } }), 400);
  expectError(await put('l_ok', { limits: { memory: 2048 } }, '?overwrite=true'), 400, 'memory 2048 MB exceeds');
  expectError(await get('l_bad'), 404);
  assert.strictEqual(expectStatus(await get('l_ok'), 200).limits.memory, 128, 'a failed update changes nothing');
});

test('GET ?code=false omits the code, ?code=true keeps it', async () => {
  let b = expectStatus(await get('hello', '?code=false'), 200);
  assert.deepStrictEqual(b.exec, { kind: 'nodejs:20', binary: false });
  b = expectStatus(await get('hello', '?code=true'), 200);
  assert.strictEqual(b.exec.code, JS);
  b = expectStatus(await get('k_py', '?code=false'), 200);
  assert.deepStrictEqual(b.exec, { kind: 'python:3', binary: false, main: 'main' });
});

test('actions in packages: create, get with package parameters merged, list under the package', async () => {
  expectStatus(
    await sys.request('PUT', `${NS}/_/packages/pk`, { body: { parameters: [{ key: 'p', value: 'pkg' }, { key: 'shared', value: 'pkg' }] } }),
    200,
  );
  const b = expectStatus(await put('pk/act', { exec: nodeExec(), parameters: [{ key: 'shared', value: 'action' }] }), 200);
  assert.strictEqual(b.namespace, 'guest/pk');
  assert.deepStrictEqual(b.parameters, [{ key: 'shared', value: 'action' }], 'PUT returns the stored parameters');
  const got = expectStatus(await get('pk/act'), 200);
  assert.strictEqual(got.namespace, 'guest/pk');
  assert.deepStrictEqual(
    got.parameters.sort((x, y) => x.key.localeCompare(y.key)),
    [{ key: 'p', value: 'pkg' }, { key: 'shared', value: 'action' }],
  );
  const inPkg = expectStatus(await sys.request('GET', `${A}/pk/`), 200);
  assert.deepStrictEqual(inPkg.map((a) => a.name), ['act']);
  assert.strictEqual(inPkg[0].namespace, 'guest/pk');
  expectError(await put('nopkg/act', { exec: nodeExec() }), 404);
  expectError(await get('nopkg/act'), 404);
  expectError(await sys.request('GET', `${A}/nopkg/`), 404);
});

test('list: summaries, newest first, packaged actions at the root with namespace ns/pkg', async () => {
  const list = expectStatus(await sys.request('GET', A), 200);
  assert.ok(list.length > 0 && list.length <= 30, `default limit 30, got ${list.length}`);
  for (const a of list) {
    assert.deepStrictEqual(Object.keys(a).sort(), ['annotations', 'exec', 'limits', 'name', 'namespace', 'publish', 'updated', 'version']);
    assert.deepStrictEqual(Object.keys(a.exec), ['binary']);
  }
  for (let i = 1; i < list.length; i++) assert.ok(list[i - 1].updated >= list[i].updated, 'newest first');
  const all = expectStatus(await sys.request('GET', `${A}?limit=0`), 200);
  const pk = all.find((a) => a.name === 'act');
  assert.ok(pk, 'packaged action listed at the root');
  assert.strictEqual(pk.namespace, 'guest/pk');
  assert.ok(all.find((a) => a.name === 'inner' && a.namespace === 'guest/seqpkg'));
  assert.ok(all.find((a) => a.name === 'cl_zip').exec.binary);
});

test('list: skip, limit, count', async () => {
  for (let i = 0; i < 12; i++) expectStatus(await put(`filler${i}`, { exec: nodeExec('x') }), 200);
  const all = expectStatus(await sys.request('GET', `${A}?limit=0`), 200);
  assert.ok(all.length > 30, `limit=0 is the maximum (200), got ${all.length}`);
  const count = expectStatus(await sys.request('GET', `${A}?count=true`), 200);
  assert.deepStrictEqual(count, { actions: all.length });
  const page = expectStatus(await sys.request('GET', `${A}?limit=3&skip=2`), 200);
  assert.deepStrictEqual(page.map((a) => a.name), all.slice(2, 5).map((a) => a.name));
  const tail = expectStatus(await sys.request('GET', `${A}?skip=${all.length - 1}&limit=200`), 200);
  assert.strictEqual(tail.length, 1);
  assert.deepStrictEqual(expectStatus(await sys.request('GET', `${A}?skip=100000`), 200), []);
  const pkgCount = expectStatus(await sys.request('GET', `${A}/pk/?count=true`), 200);
  assert.deepStrictEqual(pkgCount, { actions: 1 });
  const ow = sys.client();
  assert.strictEqual((await ow.actions.list({ limit: 2 })).length, 2);
  assert.deepStrictEqual(await ow.actions.list({ count: true }), { actions: all.length });
});

test('list: bad limit and skip values are 400 with OpenWhisk\'s texts', async () => {
  expectError(await sys.request('GET', `${A}?limit=201`), 400, "The value '201' is not in the range of 0 to 200 for actions.");
  expectError(await sys.request('GET', `${A}?limit=-1`), 400, "The value '-1' is not in the range of 0 to 200 for actions.");
  expectError(await sys.request('GET', `${A}?skip=-1`), 400, "The value '-1' is not greater than or equal to 0 for actions.");
  expectError(await sys.request('GET', `${A}?limit=ten`), 400, "The value 'ten' is not an integer for actions.");
  expectError(await sys.request('GET', `${A}?skip=1.5`), 400, "The value '1.5' is not an integer for actions.");
  expectError(await sys.request('GET', `${NS}/_/triggers?limit=500`), 400, 'for triggers.');
  expectError(await sys.request('GET', `${NS}/_/rules?skip=x`), 400, "The value 'x' is not an integer for rules.");
  expectError(await sys.request('GET', `${NS}/_/packages?limit=999`), 400, 'for packages.');
  await stillServing(sys);
});

test('DELETE returns the deleted action; a second DELETE is 404', async () => {
  const before = expectStatus(await get('fresh'), 200);
  const del = expectStatus(await sys.request('DELETE', `${A}/fresh`), 200);
  assert.deepStrictEqual(del, before);
  expectError(await sys.request('DELETE', `${A}/fresh`), 404, 'The requested resource does not exist.');
  expectError(await get('fresh'), 404, 'The requested resource does not exist.');
  const d = expectStatus(await sys.request('DELETE', `${A}/pk/act`), 200);
  assert.strictEqual(d.namespace, 'guest/pk');
  assert.deepStrictEqual(expectStatus(await sys.request('GET', `${A}/pk/`), 200), []);
});

test('the explicit namespace works like _', async () => {
  const b = expectStatus(await sys.request('GET', `${NS}/guest/actions/hello`), 200);
  assert.strictEqual(b.name, 'hello');
  expectStatus(await sys.request('PUT', `${NS}/guest/actions/explicit`, { body: { exec: nodeExec() } }), 200);
  expectStatus(await sys.request('DELETE', `${NS}/guest/actions/explicit`), 200);
});

test('names with spaces and the 256-character maximum are accepted', async () => {
  const b = expectStatus(await put('my%20action', { exec: nodeExec() }), 200);
  assert.strictEqual(b.name, 'my action');
  expectStatus(await get('my%20action'), 200);
  const long = 'n'.repeat(256);
  expectStatus(await put(long, { exec: nodeExec() }), 200);
  expectStatus(await sys.request('DELETE', `${A}/${long}`), 200);
});

run();
