// SPDX-License-Identifier: Apache-2.0
// Packages and bindings (openwhisk-api.md 1.5, 1.8): create, update, get, list, delete,
// sharing across namespaces, bindings to whisk.system's published package and their
// errors, and the checks of the npm client's packages.test.js (section 7).
'use strict';
const { System, test, run, assert, expectError, SYSTEM_AUTH } = require('./lib/harness');
const { NS, expectStatus, expectClientError, stillServing, kv } = require('./lib/api');

const sys = new System();
const JS = 'function main(p) { return p }';
const sysReq = (m, p, body) => sys.request(m, p, { auth: SYSTEM_AUTH, body });

test.before(async () => {
  await sys.start();
  // whisk.system publishes utils (with an action) and keeps secret private
  expectStatus(
    await sysReq('PUT', `${NS}/_/packages/utils`, {
      publish: true,
      parameters: [{ key: 'a', value: 'pkg' }, { key: 'b', value: 'pkg' }],
    }),
    200,
  );
  expectStatus(
    await sysReq('PUT', `${NS}/_/actions/utils/echo`, {
      exec: { kind: 'nodejs:20', code: JS },
      parameters: [{ key: 'c', value: 'action' }],
    }),
    200,
  );
  expectStatus(
    await sysReq('PUT', `${NS}/_/actions/utils/feedme`, {
      exec: { kind: 'nodejs:20', code: JS },
      annotations: [{ key: 'feed', value: true }],
    }),
    200,
  );
  expectStatus(await sysReq('PUT', `${NS}/_/packages/secret`, {}), 200);
  expectStatus(await sysReq('PUT', `${NS}/_/actions/secret/hidden`, { exec: { kind: 'nodejs:20', code: JS } }), 200);
  expectStatus(await sysReq('PUT', `${NS}/_/packages/sysbinding`, { binding: { namespace: 'whisk.system', name: 'utils' }, publish: true }), 200);
});
test.after(async () => {
  await sys.stop();
  sys.cleanup();
});

const P = `${NS}/_/packages`;

test('npm client: list, missing package 404, create, update to 0.0.2, delete', async () => {
  const ow = sys.client();
  assert.ok(Array.isArray(await ow.packages.list()));
  await expectClientError(ow.packages.get({ name: 'no-such-package' }), 404);
  const p = await ow.packages.create({ name: 'cl_pkg' });
  assert.deepStrictEqual(p.annotations, []);
  assert.strictEqual(p.version, '0.0.1');
  await expectClientError(ow.packages.create({ name: 'cl_pkg' }), 409);
  const u = await ow.packages.update({ name: 'cl_pkg' });
  assert.strictEqual(u.version, '0.0.2');
  const got = await ow.packages.get({ name: 'cl_pkg' });
  assert.strictEqual(got.version, '0.0.2');
  const d = await ow.packages.delete({ name: 'cl_pkg' });
  assert.strictEqual(d.name, 'cl_pkg');
  await expectClientError(ow.packages.get({ name: 'cl_pkg' }), 404);
});

test('PUT creates a package; GET adds actions and feeds', async () => {
  const b = expectStatus(
    await sys.request('PUT', `${P}/mine`, { body: { parameters: [{ key: 'x', value: 1 }], annotations: [{ key: 'k', value: 'v' }] } }),
    200,
  );
  assert.strictEqual(b.namespace, 'guest');
  assert.strictEqual(b.name, 'mine');
  assert.deepStrictEqual(b.binding, {});
  assert.deepStrictEqual(b.parameters, [{ key: 'x', value: 1 }]);
  assert.deepStrictEqual(b.annotations, [{ key: 'k', value: 'v' }]);
  assert.strictEqual(b.version, '0.0.1');
  assert.strictEqual(b.publish, false);
  assert.strictEqual(typeof b.updated, 'number');
  expectStatus(await sys.request('PUT', `${NS}/_/actions/mine/one`, { body: { exec: { kind: 'nodejs:20', code: JS } } }), 200);
  const g = expectStatus(await sys.request('GET', `${P}/mine`), 200);
  assert.deepStrictEqual(g.actions.map((a) => a.name), ['one']);
  assert.deepStrictEqual(Object.keys(g.actions[0]).sort(), ['annotations', 'name', 'version']);
  assert.deepStrictEqual(g.feeds, []);
  const sysUtils = expectStatus(await sysReq('GET', `${NS}/_/packages/utils`), 200);
  assert.deepStrictEqual(sysUtils.actions.map((a) => a.name), ['echo']);
  assert.deepStrictEqual(sysUtils.feeds.map((a) => a.name), ['feedme'], 'actions with a feed annotation are feeds');
});

test('update bumps the version and replaces parameters and annotations given', async () => {
  const u = expectStatus(
    await sys.request('PUT', `${P}/mine?overwrite=true`, { body: { parameters: [{ key: 'y', value: 2 }], publish: true } }),
    200,
  );
  assert.strictEqual(u.version, '0.0.2');
  assert.deepStrictEqual(u.parameters, [{ key: 'y', value: 2 }]);
  assert.strictEqual(u.publish, true);
  assert.deepStrictEqual(u.annotations, [{ key: 'k', value: 'v' }], 'annotations kept when not given');
  expectError(await sys.request('PUT', `${P}/mine`, { body: {} }), 409, 'resource already exists');
});

test('the package name "default" is reserved', async () => {
  expectError(await sys.request('PUT', `${P}/default`, { body: {} }), 400, "Package name 'default' is reserved.");
});

test('list: summaries with binding false or {namespace, name}', async () => {
  expectStatus(await sys.request('PUT', `${P}/bound`, { body: { binding: { namespace: 'whisk.system', name: 'utils' } } }), 200);
  const list = expectStatus(await sys.request('GET', P), 200);
  const mine = list.find((p) => p.name === 'mine');
  assert.deepStrictEqual(Object.keys(mine).sort(), ['annotations', 'binding', 'name', 'namespace', 'publish', 'updated', 'version']);
  assert.strictEqual(mine.binding, false);
  assert.deepStrictEqual(list.find((p) => p.name === 'bound').binding, { namespace: 'whisk.system', name: 'utils' });
  assert.deepStrictEqual(expectStatus(await sys.request('GET', `${P}?count=true`), 200), { packages: list.length });
  assert.strictEqual(expectStatus(await sys.request('GET', `${P}?limit=1`), 200).length, 1);
  for (let i = 1; i < list.length; i++) assert.ok(list[i - 1].updated >= list[i].updated, 'newest first');
});

test('a binding to a published package of another namespace merges parameters (binding wins)', async () => {
  const b = expectStatus(
    await sys.request('PUT', `${P}/myutils`, {
      body: { binding: { namespace: 'whisk.system', name: 'utils' }, parameters: [{ key: 'b', value: 'binding' }] },
    }),
    200,
  );
  assert.deepStrictEqual(b.binding, { namespace: 'whisk.system', name: 'utils' });
  assert.deepStrictEqual(kv(b.annotations, 'binding'), { namespace: 'whisk.system', name: 'utils' });
  const g = expectStatus(await sys.request('GET', `${P}/myutils`), 200);
  assert.strictEqual(g.namespace, 'guest');
  assert.strictEqual(g.name, 'myutils');
  assert.deepStrictEqual(g.binding, { namespace: 'whisk.system', name: 'utils' });
  const params = Object.fromEntries(g.parameters.map((p) => [p.key, p.value]));
  assert.deepStrictEqual(params, { a: 'pkg', b: 'binding' });
  assert.deepStrictEqual(g.actions.map((a) => a.name), ['echo'], 'the referenced package\'s actions');
});

test('actions are reachable through the binding with parameters package < binding < action', async () => {
  const a = expectStatus(await sys.request('GET', `${NS}/_/actions/myutils/echo`), 200);
  assert.strictEqual(a.name, 'echo');
  assert.strictEqual(a.namespace, 'whisk.system/utils');
  const params = Object.fromEntries(a.parameters.map((p) => [p.key, p.value]));
  assert.deepStrictEqual(params, { a: 'pkg', b: 'binding', c: 'action' });
  const list = expectStatus(await sys.request('GET', `${NS}/_/actions/myutils/`), 200);
  assert.ok(list.some((x) => x.name === 'echo' && x.namespace === 'whisk.system/utils'), JSON.stringify(list));
  expectError(await sys.request('GET', `${NS}/_/actions/myutils/nope`), 404);
  const ow = sys.client();
  const viaClient = await ow.actions.get({ name: 'myutils/echo' });
  assert.strictEqual(viaClient.name, 'echo');
});

test('a published package\'s actions are readable from another namespace', async () => {
  const a = expectStatus(await sys.request('GET', `${NS}/whisk.system/actions/utils/echo`), 200);
  assert.strictEqual(a.namespace, 'whisk.system/utils');
  const p = expectStatus(await sys.request('GET', `${NS}/whisk.system/packages/utils`), 200);
  assert.strictEqual(p.publish, true);
  const list = expectStatus(await sys.request('GET', `${NS}/whisk.system/actions/utils/`), 200);
  assert.deepStrictEqual(list.map((x) => x.name).sort(), ['echo', 'feedme']);
});

test('sequences and rules may use a published package\'s actions, directly or through a binding', async () => {
  const ow = sys.client();
  const seq = ['/whisk.system/utils/echo'];
  const s = await ow.actions.create({ name: 'echoseq', sequence: seq });
  assert.strictEqual(s.exec.kind, 'sequence');
  assert.deepStrictEqual(s.exec.components, seq);
  const b = expectStatus(
    await sys.request('PUT', `${NS}/_/actions/bindseq`, { body: { exec: { kind: 'sequence', components: ['/_/myutils/echo', '/whisk.system/utils/echo'] } } }),
    200,
  );
  assert.deepStrictEqual(b.exec.components, ['/guest/myutils/echo', '/whisk.system/utils/echo']);
  expectError(
    await sys.request('PUT', `${NS}/_/actions/secretseq`, { body: { exec: { kind: 'sequence', components: ['/whisk.system/secret/hidden'] } } }),
    403,
  );
  await ow.triggers.create({ name: 'echotrigger' });
  const r = await ow.rules.create({ name: 'echorule', action: '/whisk.system/utils/echo', trigger: '/guest/echotrigger' });
  assert.deepStrictEqual(r.action, { path: 'whisk.system/utils', name: 'echo' });
  assert.strictEqual(r.status, 'active');
  const r2 = expectStatus(await sys.request('PUT', `${NS}/_/rules/bindrule`, { body: { trigger: '/_/echotrigger', action: '/_/myutils/echo' } }), 200);
  assert.deepStrictEqual(r2.action, { path: 'guest/myutils', name: 'echo' });
  expectError(
    await sys.request('PUT', `${NS}/_/rules/secretrule`, { body: { trigger: '/_/echotrigger', action: '/whisk.system/secret/hidden' } }),
    403,
  );
});

test('another namespace\'s private package, its actions and bindings are 403', async () => {
  expectError(await sys.request('GET', `${NS}/whisk.system/packages/secret`), 403);
  expectError(await sys.request('GET', `${NS}/whisk.system/actions/secret/hidden`), 403);
  expectError(await sys.request('GET', `${NS}/whisk.system/actions/secret/`), 403);
  expectError(await sys.request('GET', `${NS}/whisk.system/packages/sysbinding`), 403, 'not authorized');
  expectError(
    await sys.request('PUT', `${P}/tosecret`, { body: { binding: { namespace: 'whisk.system', name: 'secret' } } }),
    403,
  );
  expectError(await sys.request('PUT', `${NS}/whisk.system/packages/mine`, { body: {} }), 403);
  expectError(await sys.request('DELETE', `${NS}/whisk.system/packages/utils`), 403);
  expectError(await sys.request('PUT', `${NS}/whisk.system/actions/utils/x`, { body: { exec: { kind: 'nodejs:20', code: JS } } }), 403);
  expectError(await sys.request('DELETE', `${NS}/whisk.system/actions/utils/echo`), 403);
  expectError(await sys.request('GET', `${NS}/whisk.system/actions/utils/echo`, { auth: null }), 401);
});

test('another namespace\'s missing packages are 403, not 404: nothing is revealed', async () => {
  expectError(await sys.request('GET', `${NS}/whisk.system/packages/nothere`), 403);
  expectError(await sys.request('GET', `${NS}/whisk.system/actions/nothere/x`), 403);
  expectError(await sys.request('GET', `${NS}/whisk.system/actions/nothere/`), 403);
  expectError(
    await sys.request('PUT', `${NS}/_/actions/seqnothere`, { body: { exec: { kind: 'sequence', components: ['/whisk.system/nothere/x'] } } }),
    403,
  );
  // in one's own namespace they are 404, and a published package's missing action is 404
  expectError(await sys.request('GET', `${P}/nothere`), 404);
  expectError(await sys.request('GET', `${NS}/_/actions/nothere/x`), 404);
  expectError(await sys.request('GET', `${NS}/whisk.system/actions/utils/nothere`), 404);
  // a name of another collection used as a package
  expectStatus(await sys.request('PUT', `${NS}/_/triggers/trigpkg`, { body: {} }), 200);
  expectError(await sys.request('GET', `${NS}/_/actions/trigpkg/x`), 409, 'Resource by this name exists but is not in this collection.');
  expectError(await sys.request('GET', `${NS}/_/actions/trigpkg/`), 409);
});

test('listing another namespace\'s packages shows only the published ones, no bindings', async () => {
  const list = expectStatus(await sys.request('GET', `${NS}/whisk.system/packages`), 200);
  assert.deepStrictEqual(list.map((p) => p.name), ['utils']);
  const own = expectStatus(await sysReq('GET', `${NS}/_/packages`), 200);
  assert.deepStrictEqual(own.map((p) => p.name).sort(), ['secret', 'sysbinding', 'utils']);
  assert.deepStrictEqual(expectStatus(await sys.request('GET', `${NS}/whisk.system/packages?count=true`), 200), { packages: 1 });
});

test('binding errors: to a binding, to a missing package, to a non-package, package -> binding', async () => {
  expectError(
    await sys.request('PUT', `${P}/b2b`, { body: { binding: { namespace: 'guest', name: 'myutils' } } }),
    400,
    'Cannot bind to another package binding.',
  );
  expectError(
    await sys.request('PUT', `${P}/b2missing`, { body: { binding: { namespace: 'guest', name: 'nothere' } } }),
    400,
    'Binding references a package that does not exist.',
  );
  expectStatus(await sys.request('PUT', `${NS}/_/triggers/atrigger`, { body: {} }), 200);
  expectError(
    await sys.request('PUT', `${P}/b2trigger`, { body: { binding: { namespace: '_', name: 'atrigger' } } }),
    409,
    'Cannot bind to a resource that is not a package.',
  );
  // in another namespace READ on the referenced package fails first, telling nothing
  for (const name of ['sysbinding', 'nothere', 'secret']) {
    expectError(
      await sys.request('PUT', `${P}/b2other`, { body: { binding: { namespace: 'whisk.system', name } } }),
      403,
      'not authorized',
    );
  }
  expectError(
    await sys.request('PUT', `${P}/mine?overwrite=true`, { body: { binding: { namespace: 'whisk.system', name: 'utils' } } }),
    409,
    'Resource is a package and cannot be converted into a binding.',
  );
  expectError(await sys.request('PUT', `${P}/b2self`, { body: { binding: { namespace: '_', name: 'b2self' } } }), 422);
  for (const n of ['b2b', 'b2missing', 'b2trigger', 'b2self', 'b2other']) expectError(await sys.request('GET', `${P}/${n}`), 404);
  assert.deepStrictEqual(expectStatus(await sys.request('GET', `${P}/mine`), 200).binding, {});
  await stillServing(sys);
});

test('a binding with _ as namespace resolves to the caller\'s namespace', async () => {
  const b = expectStatus(await sys.request('PUT', `${P}/selfbind`, { body: { binding: { namespace: '_', name: 'mine' } } }), 200);
  assert.deepStrictEqual(b.binding, { namespace: 'guest', name: 'mine' });
  const a = expectStatus(await sys.request('GET', `${NS}/_/actions/selfbind/one`), 200);
  assert.strictEqual(a.namespace, 'guest/mine');
});

test('the binding annotation is always the controller\'s', async () => {
  let b = expectStatus(await sys.request('PUT', `${P}/fakebinding`, { body: { annotations: [{ key: 'binding', value: 'lies' }, { key: 'x', value: 1 }] } }), 200);
  assert.deepStrictEqual(b.annotations, [{ key: 'x', value: 1 }]);
  assert.deepStrictEqual(b.binding, {});
  b = expectStatus(
    await sys.request('PUT', `${P}/realbinding`, {
      body: { binding: { namespace: 'whisk.system', name: 'utils' }, annotations: [{ key: 'binding', value: 'lies' }] },
    }),
    200,
  );
  assert.deepStrictEqual(b.annotations, [{ key: 'binding', value: { namespace: 'whisk.system', name: 'utils' } }]);
  const list = expectStatus(await sys.request('GET', P), 200);
  assert.deepStrictEqual(list.find((p) => p.name === 'realbinding').annotations, b.annotations);
});

test('updating a binding keeps it a binding and bumps the version', async () => {
  const u = expectStatus(
    await sys.request('PUT', `${P}/myutils?overwrite=true`, { body: { parameters: [{ key: 'b', value: 'again' }] } }),
    200,
  );
  assert.strictEqual(u.version, '0.0.2');
  assert.deepStrictEqual(u.binding, { namespace: 'whisk.system', name: 'utils' });
  const a = expectStatus(await sys.request('GET', `${NS}/_/actions/myutils/echo`), 200);
  assert.strictEqual(kv(a.parameters, 'b'), 'again');
});

test('PUT and DELETE of an action through a binding are 400', async () => {
  expectError(
    await sys.request('PUT', `${NS}/_/actions/myutils/newone`, { body: { exec: { kind: 'nodejs:20', code: JS } } }),
    400,
    'Operation not permitted on package binding.',
  );
  expectError(await sys.request('DELETE', `${NS}/_/actions/myutils/echo`), 400, 'Operation not permitted on package binding.');
  expectStatus(await sysReq('GET', `${NS}/_/actions/utils/echo`), 200);
});

test('when the bound package is unpublished, the binding no longer reaches it', async () => {
  expectStatus(await sysReq('PUT', `${NS}/_/packages/utils?overwrite=true`, { publish: false }), 200);
  try {
    expectError(await sys.request('GET', `${P}/myutils`), 403);
    expectError(await sys.request('GET', `${NS}/_/actions/myutils/echo`), 403);
    expectError(await sys.request('GET', `${NS}/_/actions/myutils/`), 403);
    expectError(await sys.request('GET', `${NS}/whisk.system/actions/utils/echo`), 403);
    assert.deepStrictEqual(expectStatus(await sys.request('GET', `${NS}/whisk.system/packages`), 200), []);
  } finally {
    expectStatus(await sysReq('PUT', `${NS}/_/packages/utils?overwrite=true`, { publish: true }), 200);
  }
  expectStatus(await sys.request('GET', `${NS}/_/actions/myutils/echo`), 200);
});

test('DELETE of a non-empty package is 409 unless force=true, which deletes its actions', async () => {
  expectStatus(await sys.request('PUT', `${NS}/_/actions/mine/two`, { body: { exec: { kind: 'nodejs:20', code: JS } } }), 200);
  expectError(
    await sys.request('DELETE', `${P}/mine`),
    409,
    'Package not empty (contains 2 entities). Set force param or delete package contents.',
  );
  expectStatus(await sys.request('DELETE', `${NS}/_/actions/mine/two`), 200);
  expectError(await sys.request('DELETE', `${P}/mine`), 409, 'Package not empty (contains 1 entity).');
  expectStatus(await sys.request('PUT', `${NS}/_/actions/mine/two`, { body: { exec: { kind: 'nodejs:20', code: JS } } }), 200);
  const d = expectStatus(await sys.request('DELETE', `${P}/mine?force=true`), 200);
  assert.strictEqual(d.name, 'mine');
  expectError(await sys.request('GET', `${P}/mine`), 404);
  expectError(await sys.request('GET', `${NS}/_/actions/mine/one`), 404);
  const all = expectStatus(await sys.request('GET', `${NS}/_/actions?limit=0`), 200);
  assert.ok(!all.some((a) => a.namespace === 'guest/mine'), 'the package\'s actions are gone');
});

test('deleting a binding always succeeds and leaves the bound package alone', async () => {
  const d = expectStatus(await sys.request('DELETE', `${P}/myutils`), 200);
  assert.deepStrictEqual(d.binding, { namespace: 'whisk.system', name: 'utils' });
  expectError(await sys.request('GET', `${P}/myutils`), 404);
  expectStatus(await sysReq('GET', `${NS}/_/actions/utils/echo`), 200);
});

test('POST on a package is 405; a missing package is 404 for GET and DELETE', async () => {
  expectError(await sys.request('POST', `${P}/bound`, { body: {} }), 405);
  expectError(await sys.request('GET', `${P}/missing`), 404);
  expectError(await sys.request('DELETE', `${P}/missing`), 404);
  await stillServing(sys);
});

run();
