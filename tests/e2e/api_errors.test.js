// SPDX-License-Identifier: Apache-2.0
// Bad input and access errors (openwhisk-api.md 1.1, 1.2, 1.11, 2): each is answered
// with OpenWhisk's status and {"error","code"} body, and the server keeps serving after
// every one. Also names: unique per namespace across the four collections, and valid.
'use strict';
const { System, test, run, assert, expectError, GUEST_AUTH, SYSTEM_AUTH } = require('./lib/harness');
const { NS, expectStatus, stillServing, rawExchange, parseRaw } = require('./lib/api');

const sys = new System();
test.before(async () => {
  await sys.start();
  expectStatus(await sys.request('PUT', `${NS}/whisk.system/actions/sysaction`, { auth: SYSTEM_AUTH, body: { exec } }), 200);
  expectStatus(await sys.request('PUT', `${NS}/whisk.system/triggers/systrigger`, { auth: SYSTEM_AUTH, body: {} }), 200);
});
test.after(async () => {
  await sys.stop();
  sys.cleanup();
});

const A = `${NS}/_/actions`;
const exec = { kind: 'nodejs:20', code: 'function main(p) { return p }' };
const MB = 1024 * 1024;

test('names are unique per namespace across actions, packages, triggers and rules', async () => {
  expectStatus(await sys.request('PUT', `${A}/shared`, { body: { exec } }), 200);
  expectStatus(await sys.request('PUT', `${NS}/_/triggers/trig`, { body: {} }), 200);
  expectStatus(await sys.request('PUT', `${NS}/_/packages/pack`, { body: {} }), 200);
  expectStatus(await sys.request('PUT', `${NS}/_/rules/rul`, { body: { trigger: '/_/trig', action: '/_/shared' } }), 200);
  const msg = 'Resource by this name exists but is not in this collection.';
  const taken = { shared: 'actions', trig: 'triggers', pack: 'packages', rul: 'rules' };
  for (const [name, owner] of Object.entries(taken)) {
    for (const coll of ['actions', 'triggers', 'packages', 'rules']) {
      if (coll === owner) continue;
      const p = `${NS}/_/${coll}/${name}`;
      expectError(await sys.request('GET', p), 409, msg);
      expectError(await sys.request('DELETE', p), 409, msg);
      const body = coll === 'actions' ? { exec } : coll === 'rules' ? { trigger: '/_/trig', action: '/_/shared' } : {};
      expectError(await sys.request('PUT', p, { body }), 409, msg);
      expectError(await sys.request('PUT', `${p}?overwrite=true`, { body }), 409, msg);
    }
  }
  // the owners are untouched
  for (const [name, owner] of Object.entries(taken)) expectStatus(await sys.request('GET', `${NS}/_/${owner}/${name}`), 200);
  await stillServing(sys);
});

test('a name in a package is distinct from the same name at the root', async () => {
  expectStatus(await sys.request('PUT', `${A}/pack/trig`, { body: { exec } }), 200);
  expectStatus(await sys.request('GET', `${NS}/_/triggers/trig`), 200);
});

test('illegal names are 400 "The name of the entity contains illegal characters."', async () => {
  const msg = 'The name of the entity contains illegal characters.';
  for (const bad of ['bad$name', '-lead', 'a%2Fb', 'quote%22s', 'trailing%20', '%20lead', 'sem;colon', 'sl%5Cash', 'uml%C3%A4ut']) {
    expectError(await sys.request('PUT', `${A}/${bad}`, { body: { exec } }), 400, msg);
    expectError(await sys.request('PUT', `${NS}/_/triggers/${bad}`, { body: {} }), 400, msg);
  }
  expectError(await sys.request('GET', `${A}/bad$name`), 400, msg);
  expectError(await sys.request('PUT', `${NS}/_/packages/p$k`, { body: {} }), 400, msg);
  expectError(await sys.request('PUT', `${NS}/_/rules/r$`, { body: {} }), 400, msg);
  expectError(await sys.request('PUT', `${A}/pa$k/act`, { body: { exec } }), 400, msg);
  // allowed: inner spaces, @ . & - and a leading underscore or digit
  for (const good of ['a%20b', 'x@y.z&w-v', '_under', '9lives', 'a-']) expectStatus(await sys.request('PUT', `${A}/${good}`, { body: { exec } }), 200);
  await stillServing(sys);
});

test('a 257-character name is 400 "Name segement longer than allowed: 257 > 256."', async () => {
  const long = 'x'.repeat(257);
  expectError(await sys.request('PUT', `${A}/${long}`, { body: { exec } }), 400, 'Name segement longer than allowed: 257 > 256.');
  expectError(await sys.request('PUT', `${NS}/_/packages/${long}`, { body: {} }), 400, 'Name segement longer than allowed: 257 > 256.');
  expectError(await sys.request('GET', `${NS}/_/triggers/${long}`), 400, 'Name segement longer than allowed: 257 > 256.');
  await stillServing(sys);
});

test('a bad namespace is 400 "The namespace contains illegal characters."', async () => {
  expectError(await sys.request('GET', `${NS}/bad$ns/actions`), 400, 'The namespace contains illegal characters.');
  expectError(await sys.request('PUT', `${NS}/-x/triggers/t`, { body: {} }), 400, 'The namespace contains illegal characters.');
  // an escaped slash is still not one namespace
  expectError(await sys.request('GET', `${NS}/guest%2Fx/actions`), 400, 'The namespace contains illegal characters.');
  await stillServing(sys);
});

test('a path segment with an escaped NUL is 400, not a shorter name', async () => {
  expectError(await sys.request('PUT', `${NS}/_/actions/foo%00bar`, { body: { exec: { kind: 'nodejs:20', code: 'x' } } }),
    400, 'The request path is malformed.');
  expectError(await sys.request('POST', `${NS}/_/actions/foo%00bar`, { body: {} }), 400, 'The request path is malformed.');
  expectError(await sys.request('GET', `${NS}/_/actions/foo`), 404);
  await stillServing(sys);
});

test('malformed JSON is 400 "The request content was malformed:"', async () => {
  for (const raw of ['{"exec": ', '{exec: 1}', 'nul', '{"a":1}}', '\u0000']) {
    const r = await sys.request('PUT', `${A}/malformed`, { raw, headers: { 'Content-Type': 'application/json' } });
    expectError(r, 400, 'The request content was malformed:');
    assert.strictEqual(r.json.code, r.headers['x-request-id']);
  }
  expectError(await sys.request('GET', `${A}/malformed`), 404);
  await stillServing(sys);
});

test('a JSON body that is not an object is 400', async () => {
  for (const raw of ['[]', '[{"exec":{}}]', '"string"', '42', 'true', 'null']) {
    const r = await sys.request('PUT', `${A}/notobj`, { raw, headers: { 'Content-Type': 'application/json' } });
    expectError(r, 400, 'The request content was malformed');
  }
  expectError(await sys.request('PUT', `${NS}/_/triggers/notobj`, { raw: '[1]', headers: { 'Content-Type': 'application/json' } }), 400);
  expectError(await sys.request('POST', `${NS}/_/rules/rul`, { raw: '["active"]', headers: { 'Content-Type': 'application/json' } }), 400);
  await stillServing(sys);
});

test('wrong field types are 400', async () => {
  const bodies = [
    { exec: { kind: 'nodejs:20', code: 42 } },
    { exec: { kind: 'nodejs:20', code: { text: 'x' } } },
    { exec: 'nodejs' },
    { exec: { kind: 7, code: 'x' } },
    { exec: { kind: 'nodejs:20', code: 'x', main: 3 } },
    { exec: { kind: 'sequence', components: 'a,b' } },
    { exec: { kind: 'sequence', components: [1] } },
    { exec: { kind: 'sequence', components: ['justname'] } },
    { exec, parameters: { key: 'a', value: 1 } },
    { exec, parameters: 'a=1' },
    { exec, parameters: [{ value: 1 }] },
    { exec, parameters: [{ key: 1, value: 1 }] },
    { exec, parameters: ['a'] },
    { exec, annotations: {} },
    { exec, limits: { memory: '256' } },
    { exec, limits: 'none' },
    { exec, publish: 'yes' },
    { exec, version: 1 },
    { exec, delAnnotations: 'exec' },
  ];
  for (const body of bodies) {
    const r = await sys.request('PUT', `${A}/types`, { body });
    assert.strictEqual(r.status, 400, `${JSON.stringify(body)}: ${r.status} ${r.text}`);
    expectError(r, 400);
  }
  expectError(await sys.request('PUT', `${NS}/_/triggers/types`, { body: { parameters: 5 } }), 400);
  expectError(await sys.request('PUT', `${NS}/_/packages/types`, { body: { parameters: {} } }), 400);
  expectError(await sys.request('PUT', `${NS}/_/packages/types`, { body: { binding: 'whisk.system/utils' } }), 400);
  expectError(await sys.request('PUT', `${NS}/_/rules/types`, { body: { trigger: 5, action: '/_/shared' } }), 400);
  expectError(await sys.request('GET', `${A}/types`), 404);
  await stillServing(sys);
});

test('exec code over 48 MB is 413', async () => {
  const code = 'x'.repeat(48 * MB + 1);
  const r = await sys.request('PUT', `${A}/huge`, { body: { exec: { kind: 'nodejs:20', code } } });
  expectError(r, 413, `exec larger than allowed: ${48 * MB + 1} > ${48 * MB} bytes.`);
  expectError(await sys.request('GET', `${A}/huge`), 404);
  await stillServing(sys);
});

test('parameters or annotations over 1 MB are 413', async () => {
  const big = 'p'.repeat(MB);
  let r = await sys.request('PUT', `${A}/bigparams`, { body: { exec, parameters: [{ key: 'k', value: big }] } });
  expectError(r, 413, 'parameters larger than allowed:');
  assert.match(r.json.error, /parameters larger than allowed: \d+ > 1048576 bytes\./);
  r = await sys.request('PUT', `${A}/bigparams`, { body: { exec, annotations: [{ key: 'k', value: big }] } });
  expectError(r, 413, 'annotations larger than allowed:');
  r = await sys.request('PUT', `${NS}/_/triggers/bigparams`, { body: { parameters: [{ key: 'k', value: big }] } });
  expectError(r, 413, 'parameters larger than allowed:');
  r = await sys.request('PUT', `${NS}/_/packages/bigparams`, { body: { parameters: [{ key: 'k', value: big }] } });
  expectError(r, 413, 'parameters larger than allowed:');
  // just under the limit is fine
  const ok = 'p'.repeat(MB - 100);
  expectStatus(await sys.request('PUT', `${A}/bigparams`, { body: { exec, parameters: [{ key: 'k', value: ok }] } }), 200);
  await stillServing(sys);
});

test('a body over the server\'s cap is 413 without being read', async () => {
  const auth = Buffer.from(GUEST_AUTH).toString('base64');
  const head =
    `PUT ${A}/overcap HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic ${auth}\r\n` +
    `Content-Type: application/json\r\nContent-Length: ${200 * MB}\r\n\r\n{"exec":`;
  const r = parseRaw(await rawExchange(sys.nodePort, head));
  expectError(r, 413);
  assert.ok(r.headers['x-request-id'], 'X-Request-ID on the 413');
  assert.strictEqual(r.json.code, r.headers['x-request-id']);
  // the controller's own cap, for requests that reach it directly
  const c = parseRaw(await rawExchange(sys.controllerPort, head));
  expectError(c, 413, 'Request larger than allowed:');
  await stillServing(sys);
});

test('binary:true with code that is not base64 is stored with binary computed (false)', async () => {
  const b = expectStatus(await sys.request('PUT', `${A}/notb64`, { body: { exec: { kind: 'nodejs:20', code: 'not base64 !!', binary: true } } }), 200);
  assert.strictEqual(b.exec.binary, false);
  await stillServing(sys);
});

test('unknown kinds are 400', async () => {
  for (const kind of ['java:8', 'nodejs:6', 'blackboxx', '', 'sequence:default']) {
    const r = await sys.request('PUT', `${A}/kinds`, { body: { exec: { kind, code: 'x' } } });
    expectError(r, 400);
  }
  expectError(await sys.request('PUT', `${A}/kinds`, { body: { exec: { kind: 'ruby:default', code: 'x' } } }), 400, "The specified runtime 'ruby:default' is not supported");
  await stillServing(sys);
});

test('no Authorization header is 401 with the Basic challenge', async () => {
  for (const [m, p] of [['GET', `${NS}`], ['GET', `${A}`], ['PUT', `${A}/x`], ['GET', `${NS}/_/activations`], ['GET', `${NS}/_/limits`]]) {
    const r = await sys.request(m, p, { auth: null, body: m === 'PUT' ? { exec } : undefined });
    expectError(r, 401, 'The resource requires authentication, which was not supplied with the request');
    assert.strictEqual(r.headers['www-authenticate'], 'Basic realm="OpenWhisk secure realm"');
  }
  await stillServing(sys);
});

test('a wrong key or unknown uuid is 401 "The supplied authentication is invalid"', async () => {
  const [uuid, key] = GUEST_AUTH.split(':');
  const wrongKey = `${uuid}:${key.slice(0, -1)}${key.endsWith('P') ? 'Q' : 'P'}`;
  const unknown = `00000000-0000-4000-8000-000000000000:${key}`;
  for (const auth of [wrongKey, unknown, `${uuid}:short`, `${uuid}:${key}x`, SYSTEM_AUTH.split(':')[0] + ':' + key]) {
    const r = await sys.request('GET', `${NS}`, { auth });
    expectError(r, 401, 'The supplied authentication is invalid');
    assert.strictEqual(r.headers['www-authenticate'], 'Basic realm="OpenWhisk secure realm"');
  }
  await stillServing(sys);
});

test('a malformed Authorization header is 401', async () => {
  const headers = [
    'Basic',
    'Basic ',
    'Basic !!!not-base64!!!',
    `Basic ${Buffer.from('no-colon-here').toString('base64')}`,
    `Bearer ${GUEST_AUTH}`,
    GUEST_AUTH,
    `Basic ${Buffer.from(':').toString('base64')}`,
    `Basic ${Buffer.from('a\u0000b:' + 'k'.repeat(64)).toString('base64')}`,
    `Basic ${'QUFB'.repeat(400)}`,
  ];
  for (const h of headers) {
    const r = await sys.request('GET', `${NS}`, { auth: null, headers: { Authorization: h } });
    expectError(r, 401);
  }
  await stillServing(sys);
});

test('another namespace\'s entities are 403', async () => {
  const msgPart = 'The supplied authentication is not authorized to access';
  expectError(await sys.request('GET', `${NS}/whisk.system/actions`), 403, msgPart);
  expectError(await sys.request('GET', `${NS}/whisk.system/actions/sysaction`), 403, msgPart);
  expectError(await sys.request('PUT', `${NS}/whisk.system/actions/sysaction?overwrite=true`, { body: { exec } }), 403);
  expectError(await sys.request('DELETE', `${NS}/whisk.system/actions/sysaction`), 403);
  expectError(await sys.request('GET', `${NS}/whisk.system/triggers/systrigger`), 403);
  expectError(await sys.request('DELETE', `${NS}/whisk.system/triggers/systrigger`), 403);
  expectError(await sys.request('GET', `${NS}/nobody/actions/x`), 403);
  expectError(
    await sys.request('PUT', `${A}/seqother`, { body: { exec: { kind: 'sequence', components: ['/whisk.system/sysaction'] } } }),
    403,
  );
  expectError(
    await sys.request('PUT', `${NS}/_/rules/other`, { body: { trigger: '/whisk.system/systrigger', action: '/_/shared' } }),
    403,
  );
  expectError(
    await sys.request('PUT', `${NS}/_/rules/other`, { body: { trigger: '/_/trig', action: '/whisk.system/sysaction' } }),
    403,
  );
  // still there for their owner
  expectStatus(await sys.request('GET', `${NS}/_/actions/sysaction`, { auth: SYSTEM_AUTH }), 200);
  await stillServing(sys);
});

test('a non-JSON Content-Type with a body is 415', async () => {
  for (const ct of ['text/plain', 'application/x-www-form-urlencoded', 'application/xml']) {
    const r = await sys.request('PUT', `${A}/ctype`, { raw: JSON.stringify({ exec }), headers: { 'Content-Type': ct } });
    expectError(r, 415);
  }
  // charset parameters and +json types are fine
  expectStatus(
    await sys.request('PUT', `${A}/ctype`, { raw: JSON.stringify({ exec }), headers: { 'Content-Type': 'application/json; charset=utf-8' } }),
    200,
  );
  await stillServing(sys);
});

test('unknown routes are 404', async () => {
  for (const p of ['/api/v2', '/api/v1/nothing', `${NS}/_/nothing`, `${NS}/_`, `${A}/a/b/c`, '/apis/v1', '/api/v1x']) {
    expectError(await sys.request('GET', p), 404, 'The requested resource could not be found.');
  }
  expectError(await sys.request('GET', '/nowhere', { auth: null }), 404);
  await stillServing(sys);
});

test('methods that are not routed are 405', async () => {
  expectError(await sys.request('POST', `${NS}/_/packages/pack`, { body: {} }), 405);
  expectError(await sys.request('PUT', `${A}`, { body: {} }), 405);
  expectError(await sys.request('DELETE', `${NS}`), 405);
  expectError(await sys.request('POST', `${NS}/_/activations`, { body: {} }), 405);
  expectError(await sys.request('PATCH', `${A}/shared`, { body: {} }), 405);
  expectError(await sys.request('PUT', `${NS}/_/limits`, { body: {} }), 405);
  await stillServing(sys);
});

run();
