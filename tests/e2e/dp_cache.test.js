// SPDX-License-Identifier: Apache-2.0
// Response caching controlled by the action (issue 14, an xwhisk extension; API.md
// "Response caching"): an invoke's result with __ow_cache {ttl} answers the same merged
// parameters from the node until the ttl passes (the OAuth example: same token a hit,
// another token a miss), stripped of __ow_cache; every hit has a record annotated cached;
// non-blocking invokes and Cache-Control: no-cache are never answered from it; an update of
// the action's package empties it. Web actions: max-age, no-store, private, Vary, Age,
// ETag revalidation (304). A namespace over its share cannot push out another's entries.
'use strict';
const { test, run, assert, sleep, request } = require('./lib/harness');
const dp = require('./lib/dp');
const { ann, putAction, putEntity, invoke, invokeOk, waitRecord } = dp;

const NSN = 'dpcache';
const OTHER = 'dpcache2';
// Small enough that the flood below must evict, large enough for every other test.
const CACHE_BYTES = 65536;
const ns = dp.namespacedSystem(NSN, {
  env: { XWHISK_PREWARM: 'nodejs:20=2,python:3=0', XWHISK_CACHE_BYTES: String(CACHE_BYTES) },
});
const { sys, opts } = ns;
const WEB = `/api/v1/web/${NSN}`;
const web = (p, headers = {}) => request(sys.nodePort, 'GET', `${WEB}/${p}`, { auth: null, headers });

// Each sandbox counts its runs: an answer from the cache repeats the count it was made with.
const OAUTH = `
let runs = 0;
const me = Math.random().toString(36).slice(2);
function main(p) {
  runs++;
  return { valid: p.token === 'good', token: p.token, runs, me, pad: 'x'.repeat(p.pad || 0), __ow_cache: { ttl: p.ttl || 3 } };
}`;

const PAGE = `
let runs = 0;
function main(p) {
  runs++;
  const body = 'run ' + runs + ' ' + Math.random();
  switch (p.mode) {
    case 'maxage': return { headers: { 'Cache-Control': 'max-age=60' }, body };
    case 'nostore': return { headers: { 'Cache-Control': 'no-store, max-age=60' }, body };
    case 'private': return { headers: { 'Cache-Control': 'private, max-age=60' }, body };
    case 'vary': return { headers: { 'Cache-Control': 'max-age=60', Vary: 'Accept-Language' }, body: body + ' ' + (p.__ow_headers['accept-language'] || '') };
    case 'etag': return { headers: { 'Cache-Control': 'max-age=60', ETag: '"v1"' }, body };
    case 'short': return { headers: { 'Cache-Control': 'max-age=1' }, body };
  }
  return { body };
}`;

let otherKey;

test.before(async () => {
  const exec = { kind: 'nodejs:20', code: OAUTH };
  await putAction(sys, 'oauth', { exec }, opts());
  await putEntity(sys, 'packages', 'pk', { parameters: [{ key: 'fixed', value: 1 }] }, opts());
  await putAction(sys, 'pk/check', { exec }, opts());
  await putAction(sys, 'page', { exec: { kind: 'nodejs:20', code: PAGE }, annotations: [{ key: 'web-export', value: true }] }, opts());
  otherKey = dp.createNamespace(sys, OTHER, dp.HIGH_LIMITS);
  await putAction(sys, 'flood', { exec }, { auth: otherKey });
});

async function cacheMetrics() {
  const m = (await dp.metrics(sys.nodePort)).values;
  const get = (k) => m.get(k) || 0;
  return {
    hits: get('xwhisk_cache_hits_total'),
    misses: get('xwhisk_cache_misses_total'),
    evictions: get('xwhisk_cache_evictions_total'),
    bytes: get('xwhisk_cache_bytes'),
  };
}

test('OAuth example: same token answered from the cache until the ttl passes; another token runs', async () => {
  const before = await cacheMetrics();
  const first = await invokeOk(sys, 'oauth', { token: 'good', ttl: 3 }, opts({ result: true }));
  assert.strictEqual(first.valid, true);
  assert.ok(!('__ow_cache' in first), `__ow_cache is stripped: ${JSON.stringify(first)}`);
  const again = await invokeOk(sys, 'oauth', { token: 'good', ttl: 3 }, opts({ result: true }));
  assert.deepStrictEqual(again, first, 'a hit repeats the first answer (no second run)');
  const third = await invokeOk(sys, 'oauth', { ttl: 3, token: 'good' }, opts({ result: true }));
  assert.deepStrictEqual(third, first, 'parameter order does not matter');
  const other = await invokeOk(sys, 'oauth', { token: 'bad', ttl: 3 }, opts({ result: true }));
  assert.strictEqual(other.valid, false);
  assert.ok(other.runs !== first.runs || other.me !== first.me, 'another token is a run of its own');
  const after = await cacheMetrics();
  assert.ok(after.hits >= before.hits + 2, `hits counted: ${JSON.stringify({ before, after })}`);
  await sleep(3300);
  const expired = await invokeOk(sys, 'oauth', { token: 'good', ttl: 3 }, opts({ result: true }));
  assert.ok(expired.runs !== first.runs || expired.me !== first.me, 'after the ttl the action runs again');
});

test('a hit has its own record: annotated cached, no logs, the lookup\'s duration', async () => {
  const miss = await invokeOk(sys, 'oauth', { token: 'rec', ttl: 30 }, opts());
  assert.ok(!ann(miss, 'cached'), 'a run is not annotated cached');
  assert.ok(!('__ow_cache' in miss.response.result), 'stripped from the record too');
  const hit = await invokeOk(sys, 'oauth', { token: 'rec', ttl: 30 }, opts());
  dp.checkRecord(hit, { name: 'oauth', namespace: NSN, path: `${NSN}/oauth` });
  assert.notStrictEqual(hit.activationId, miss.activationId);
  assert.strictEqual(ann(hit, 'cached'), true);
  assert.deepStrictEqual(hit.logs, []);
  assert.ok(hit.duration < 100, `duration of the lookup: ${hit.duration}`);
  assert.deepStrictEqual(hit.response.result, miss.response.result);
  const stored = await waitRecord(sys, hit.activationId, opts());
  assert.strictEqual(ann(stored, 'cached'), true, 'the shipped record is annotated cached');
  const storedMiss = await waitRecord(sys, miss.activationId, opts());
  assert.ok(!('__ow_cache' in storedMiss.response.result));
});

test('non-blocking invokes and Cache-Control: no-cache are not answered from the cache', async () => {
  const first = await invokeOk(sys, 'oauth', { token: 'nb', ttl: 30 }, opts({ result: true }));
  const nb = await invoke(sys, 'oauth', { token: 'nb', ttl: 30 }, opts({ blocking: false }));
  assert.strictEqual(nb.status, 202, nb.text);
  const rec = await waitRecord(sys, nb.json.activationId, opts());
  assert.ok(!ann(rec, 'cached'), 'a non-blocking invoke runs');
  const bypass = await invoke(sys, 'oauth', { token: 'nb', ttl: 30 }, opts({ result: true, headers: { 'Cache-Control': 'no-cache' } }));
  assert.strictEqual(bypass.status, 200, bypass.text);
  assert.ok(bypass.json.runs !== first.runs || bypass.json.me !== first.me, 'no-cache runs the action');
  // The bypass refreshed the entry: the next ordinary invoke gets the bypass's answer.
  const next = await invokeOk(sys, 'oauth', { token: 'nb', ttl: 30 }, opts({ result: true }));
  assert.deepStrictEqual(next, bypass.json);
});

test('an update of the action\'s package empties its entries at once', async () => {
  const a = await invokeOk(sys, 'pk/check', { token: 'a', ttl: 60 }, opts({ result: true }));
  assert.deepStrictEqual(await invokeOk(sys, 'pk/check', { token: 'a', ttl: 60 }, opts({ result: true })), a);
  // Same revision and parameters after the update: only the invalidation can drop a's entry.
  await putEntity(sys, 'packages', 'pk', { parameters: [{ key: 'fixed', value: 1 }], annotations: [{ key: 'touched', value: true }] }, opts());
  // The controller's event for the update comes after the node's own drop and may empty
  // an entry made in between once more: caching works again once it has passed.
  let b;
  await dp.eventually(async () => {
    b = await invokeOk(sys, 'pk/check', { token: 'b', ttl: 60 }, opts({ result: true }));
    const again = await invokeOk(sys, 'pk/check', { token: 'b', ttl: 60 }, opts({ result: true }));
    return JSON.stringify(again) === JSON.stringify(b);
  }, { what: 'cached again after the update' });
  const a2 = await invokeOk(sys, 'pk/check', { token: 'a', ttl: 60 }, opts({ result: true }));
  assert.ok(a2.runs !== a.runs || a2.me !== a.me, `the entry made before the update is gone: ${JSON.stringify({ a, a2 })}`);
  // And an update of the action itself.
  await putAction(sys, 'pk/check', { exec: { kind: 'nodejs:20', code: OAUTH } }, opts());
  const updated = await invokeOk(sys, 'pk/check', { token: 'b', ttl: 60 }, opts({ result: true }));
  assert.ok(updated.runs !== b.runs || updated.me !== b.me, 'a miss after the action\'s update');
});

test('web: max-age keeps the response; a hit has Age and a record annotated cached', async () => {
  const a = await web('default/page.http?mode=maxage');
  assert.strictEqual(a.status, 200, a.text);
  assert.strictEqual(a.headers.age, undefined, 'a run has no Age');
  const b = await web('default/page.http?mode=maxage');
  assert.strictEqual(b.status, 200, b.text);
  assert.strictEqual(b.text, a.text, 'the same response');
  assert.strictEqual(b.headers['cache-control'], 'max-age=60');
  assert.ok(/^\d+$/.test(b.headers.age || ''), `Age on a hit: ${JSON.stringify(b.headers)}`);
  const id = b.headers['x-openwhisk-activation-id'];
  assert.ok(id && id !== a.headers['x-openwhisk-activation-id']);
  const rec = await waitRecord(sys, id, opts());
  assert.strictEqual(ann(rec, 'cached'), true);
  // Another query is another resource; no-cache from the client runs the action.
  const q = await web('default/page.http?mode=maxage&x=1');
  assert.notStrictEqual(q.text, a.text);
  const fresh = await web('default/page.http?mode=maxage', { 'Cache-Control': 'no-cache' });
  assert.notStrictEqual(fresh.text, a.text);
});

test('web: no-store and private are never kept; max-age=1 expires', async () => {
  for (const mode of ['nostore', 'private']) {
    const a = await web(`default/page.http?mode=${mode}`);
    const b = await web(`default/page.http?mode=${mode}`);
    assert.strictEqual(a.status, 200, a.text);
    assert.notStrictEqual(b.text, a.text, `${mode}: not served from the cache`);
  }
  const s1 = await web('default/page.http?mode=short');
  assert.strictEqual((await web('default/page.http?mode=short')).text, s1.text);
  await sleep(1200);
  assert.notStrictEqual((await web('default/page.http?mode=short')).text, s1.text);
});

test('web: Vary keeps one response per value of the named request headers', async () => {
  const en = await web('default/page.http?mode=vary', { 'Accept-Language': 'en' });
  assert.strictEqual(en.status, 200, en.text);
  assert.ok(en.text.endsWith(' en'), en.text);
  const fr = await web('default/page.http?mode=vary', { 'Accept-Language': 'fr' });
  assert.ok(fr.text.endsWith(' fr'), fr.text);
  assert.strictEqual((await web('default/page.http?mode=vary', { 'Accept-Language': 'en' })).text, en.text);
  assert.strictEqual((await web('default/page.http?mode=vary', { 'Accept-Language': 'fr' })).text, fr.text);
});

test('web: ETag revalidation answers 304 without a body', async () => {
  const a = await web('default/page.http?mode=etag');
  assert.strictEqual(a.status, 200, a.text);
  assert.strictEqual(a.headers.etag, '"v1"');
  const nm = await web('default/page.http?mode=etag', { 'If-None-Match': '"v1"' });
  assert.strictEqual(nm.status, 304, nm.text);
  assert.strictEqual(nm.text, '');
  assert.strictEqual(nm.headers.etag, '"v1"');
  const weak = await web('default/page.http?mode=etag', { 'If-None-Match': 'W/"v0", W/"v1"' });
  assert.strictEqual(weak.status, 304);
  const changed = await web('default/page.http?mode=etag', { 'If-None-Match': '"v0"' });
  assert.strictEqual(changed.status, 200);
  assert.strictEqual(changed.text, a.text, 'still the cached response');
});

test('a namespace over its share cannot push out another namespace\'s entries', async () => {
  const pad = 3000; // about 3 KB an entry: the flood is far larger than the cache
  const mine = [];
  for (const t of ['keep1', 'keep2']) mine.push(await invokeOk(sys, 'oauth', { token: t, ttl: 120, pad }, opts({ result: true })));
  const before = await cacheMetrics();
  for (let i = 0; i < 40; i++) await invokeOk(sys, 'flood', { token: `f${i}`, ttl: 120, pad }, { auth: otherKey, result: true });
  const after = await cacheMetrics();
  assert.ok(after.evictions > before.evictions, `the flood evicted: ${JSON.stringify({ before, after })}`);
  assert.ok(after.bytes <= CACHE_BYTES, `bounded: ${after.bytes}`);
  for (const [i, t] of ['keep1', 'keep2'].entries()) {
    const again = await invokeOk(sys, 'oauth', { token: t, ttl: 120, pad }, opts({ result: true }));
    assert.deepStrictEqual(again, mine[i], `${t} is still cached`);
  }
  // The flood's own first entries went.
  const f0 = await invokeOk(sys, 'flood', { token: 'f0', ttl: 120, pad }, { auth: otherKey });
  assert.ok(!ann(f0, 'cached'), 'the flooding namespace paid with its own entries');
});

run();
