// SPDX-License-Identifier: Apache-2.0
// The management API's unauthenticated descriptions, its global behaviour (CORS,
// X-Request-ID, error codes), namespaces and limits (openwhisk-api.md 1.1, 1.3, 1.4).
'use strict';
const { systemPerFile, test, run, assert, expectError, SYSTEM_AUTH } = require('./lib/harness');
const { NS, expectStatus, stillServing } = require('./lib/api');

const sys = systemPerFile();

const TID = /^[A-Za-z0-9]{32}$/;
const CORS = {
  'access-control-allow-origin': '*',
  'access-control-allow-headers': 'Authorization, Origin, X-Requested-With, Content-Type, Accept, User-Agent',
  'access-control-allow-methods': 'GET, DELETE, POST, PUT, HEAD',
};

function expectCors(res) {
  for (const [h, v] of Object.entries(CORS)) assert.strictEqual(res.headers[h], v, `${h}: ${res.headers[h]}`);
}

test('GET / describes the controller with limits and runtimes', async () => {
  const r = await sys.request('GET', '/', { auth: null });
  const body = expectStatus(r, 200);
  assert.strictEqual(body.description, 'OpenWhisk');
  assert.deepStrictEqual(body.api_paths, ['/api/v1']);
  assert.strictEqual(typeof body.support.github, 'string');
  assert.strictEqual(typeof body.support.slack, 'string');
  const keys = [
    'actions_per_minute', 'triggers_per_minute', 'concurrent_actions', 'sequence_length',
    'default_min_action_duration', 'default_max_action_duration', 'default_min_action_memory',
    'default_max_action_memory', 'default_min_action_logs', 'default_max_action_logs',
    'min_action_duration', 'max_action_duration', 'min_action_memory', 'max_action_memory',
    'min_action_logs', 'max_action_logs',
  ];
  assert.deepStrictEqual(Object.keys(body.limits).sort(), keys.sort());
  assert.strictEqual(body.limits.actions_per_minute, 60);
  assert.strictEqual(body.limits.sequence_length, 50);
  assert.strictEqual(body.limits.max_action_duration, 300000);
  assert.strictEqual(body.limits.min_action_memory, 128 * 1024 * 1024, 'memory is in bytes');
  assert.strictEqual(body.limits.max_action_memory, 512 * 1024 * 1024);
  assert.strictEqual(body.limits.max_action_logs, 10 * 1024 * 1024);
  const node = body.runtimes.nodejs;
  assert.ok(Array.isArray(node) && node.some((k) => k.kind === 'nodejs:20' && k.default === true), JSON.stringify(node));
  assert.ok(body.runtimes.python.some((k) => k.kind === 'python:3'));
  assert.match(r.headers['x-request-id'], TID);
});

test('GET /api/v1 and /api/v1/ describe the API', async () => {
  for (const p of ['/api/v1', '/api/v1/']) {
    const body = expectStatus(await sys.request('GET', p, { auth: null }), 200);
    assert.strictEqual(body.description, 'OpenWhisk API', p);
    assert.strictEqual(body.api_version, '1.0.0');
    assert.strictEqual(body.api_version_path, 'v1');
    assert.ok('build' in body && 'buildno' in body, JSON.stringify(body));
    assert.deepStrictEqual(body.swagger_paths, { ui: '/docs', 'api-docs': '/api-docs' });
  }
});

test('GET /api/v1/api-docs serves a swagger document', async () => {
  const r = await sys.request('GET', '/api/v1/api-docs', { auth: null });
  const body = expectStatus(r, 200);
  assert.strictEqual(body.swagger, '2.0');
  assert.strictEqual(body.basePath, '/api/v1');
  assert.ok(body.paths['/namespaces/{namespace}/actions/{actionName}'], Object.keys(body.paths).join(','));
  expectCors(r);
});

test('GET /ping answers pong without credentials', async () => {
  const r = await sys.request('GET', '/ping', { auth: null });
  assert.strictEqual(r.status, 200);
  assert.strictEqual(r.text, 'pong');
  assert.match(r.headers['x-request-id'], TID);
});

test('CORS headers on /api/v1 responses, successes and errors alike', async () => {
  expectCors(await sys.request('GET', '/api/v1', { auth: null }));
  expectCors(await sys.request('GET', `${NS}`));
  expectCors(await sys.request('GET', `${NS}/_/actions/nope`));
  expectCors(await sys.request('GET', `${NS}/_/actions`, { auth: null }));
});

test('OPTIONS on /api/v1 paths answers 200 with CORS headers, no credentials needed', async () => {
  for (const p of ['/api/v1', `${NS}/_/actions`, `${NS}/guest/actions/pkg/act`, `${NS}/_/activations/x/logs`]) {
    const r = await sys.request('OPTIONS', p, {
      auth: null,
      headers: { Origin: 'http://example.com', 'Access-Control-Request-Method': 'PUT' },
    });
    assert.strictEqual(r.status, 200, `${p}: ${r.status} ${r.text}`);
    expectCors(r);
    assert.match(r.headers['x-request-id'], TID);
  }
});

test('X-Request-ID is generated (32 alphanumerics) on every response', async () => {
  const seen = new Set();
  const reqs = [
    ['GET', '/', null],
    ['GET', '/ping', null],
    ['GET', '/api/v1', null],
    ['GET', `${NS}`, undefined],
    ['GET', `${NS}/_/actions/missing`, undefined],
    ['GET', `${NS}`, null],
    ['GET', '/nowhere', null],
  ];
  for (const [m, p, auth] of reqs) {
    const r = await sys.request(m, p, auth === null ? { auth: null } : {});
    assert.match(r.headers['x-request-id'] || '', TID, `${m} ${p}`);
    seen.add(r.headers['x-request-id']);
  }
  assert.strictEqual(seen.size, reqs.length, 'each request gets its own id');
});

test('X-Request-ID given by the client is reused, sid_ ids are not', async () => {
  const mine = 'my-request-1234';
  let r = await sys.request('GET', `${NS}`, { headers: { 'X-Request-ID': mine } });
  assert.strictEqual(r.headers['x-request-id'], mine);
  r = await sys.request('GET', `${NS}/_/actions/missing`, { headers: { 'X-Request-ID': mine } });
  expectError(r, 404);
  assert.strictEqual(r.json.code, mine);
  r = await sys.request('GET', `${NS}`, { headers: { 'X-Request-ID': 'sid_invoker0' } });
  assert.match(r.headers['x-request-id'], TID);
  // any printable id is reused, and the error code follows it
  for (const id of ['with spaces inside', 'q"uo\\te', 'x'.repeat(64)]) {
    r = await sys.request('PUT', `${NS}/_/actions/bad$name`, { headers: { 'X-Request-ID': id }, body: {} });
    expectError(r, 400);
    assert.strictEqual(r.headers['x-request-id'], id);
    assert.strictEqual(r.json.code, id);
  }
});

test('the error "code" equals the X-Request-ID header', async () => {
  const cases = [
    [sys.request('GET', `${NS}`, { auth: null }), 401],
    [sys.request('GET', `${NS}/_/actions/missing`), 404],
    [sys.request('GET', `${NS}/_/actions?limit=x`), 400],
    [sys.request('GET', `${NS}/whisk.system/actions`), 403],
    [sys.request('POST', `${NS}/_/packages/p`), 405],
    [sys.request('GET', '/api/v1/nothing-here'), 404],
  ];
  for (const [p, status] of cases) {
    const r = await p;
    expectError(r, status);
    assert.match(r.json.code, TID);
    assert.strictEqual(r.json.code, r.headers['x-request-id']);
    assert.match(r.headers['content-type'], /^application\/json/);
  }
});

test('GET /namespaces lists the caller\'s namespace', async () => {
  let r = await sys.request('GET', `${NS}`);
  assert.deepStrictEqual(expectStatus(r, 200), ['guest']);
  r = await sys.request('GET', `${NS}`, { auth: SYSTEM_AUTH });
  assert.deepStrictEqual(expectStatus(r, 200), ['whisk.system']);
  assert.deepStrictEqual(await sys.client().namespaces.list(), ['guest']);
  assert.deepStrictEqual(await sys.client(SYSTEM_AUTH).namespaces.list(), ['whisk.system']);
});

test('namespaces.get of the npm client lists the four collections', async () => {
  const ns = await sys.client().namespaces.get();
  assert.deepStrictEqual(Object.keys(ns).sort(), ['actions', 'packages', 'rules', 'triggers']);
  for (const k of Object.keys(ns)) assert.ok(Array.isArray(ns[k]), k);
});

test('GET /namespaces/_/limits shows the defaults', async () => {
  const want = {
    invocationsPerMinute: 60,
    concurrentInvocations: 30,
    firesPerMinute: 60,
    minActionMemory: 128,
    maxActionMemory: 512,
    minActionLogs: 0,
    maxActionLogs: 10,
    minActionTimeout: 100,
    maxActionTimeout: 300000,
    minActionConcurrency: 1,
    maxActionConcurrency: 500, // xwhisk: concurrent activations per sandbox
    maxParameterSize: '1 MB',
    maxActionInstances: 30,
  };
  assert.deepStrictEqual(expectStatus(await sys.request('GET', `${NS}/_/limits`), 200), want);
  assert.deepStrictEqual(expectStatus(await sys.request('GET', `${NS}/guest/limits`), 200), want);
});

test('limits: another namespace is 403, a sub-path is 400, only GET is routed', async () => {
  expectError(await sys.request('GET', `${NS}/whisk.system/limits`), 403);
  expectError(await sys.request('GET', `${NS}/_/limits/x`), 400);
  expectError(await sys.request('PUT', `${NS}/_/limits`, { body: {} }), 405);
  await stillServing(sys);
});

test('an override set with xwhisk-admin shows up in GET /limits', async () => {
  sys.admin('limits', 'set', 'guest', '--invocationsPerMinute', '321', '--firesPerMinute', '7');
  try {
    const body = expectStatus(await sys.request('GET', `${NS}/_/limits`), 200);
    assert.strictEqual(body.invocationsPerMinute, 321);
    assert.strictEqual(body.firesPerMinute, 7);
    assert.strictEqual(body.concurrentInvocations, 30);
  } finally {
    sys.admin('limits', 'delete', 'guest');
  }
  const body = expectStatus(await sys.request('GET', `${NS}/_/limits`), 200);
  assert.strictEqual(body.invocationsPerMinute, 60);
});

run();
