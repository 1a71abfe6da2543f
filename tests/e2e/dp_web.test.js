// SPDX-License-Identifier: Apache-2.0
// Web actions on the node (openwhisk-api.md 1.10): the extensions (.json, .text, .html,
// .http with statusCode/headers/body, base64 bodies of binary types, 204 for no body; no
// extension means .http); what the action sees (__ow_method, __ow_headers, __ow_path,
// __ow_query, __ow_body) in normal and raw-http modes; JSON and form bodies merged; query
// parameters as strings; not exported -> 404; require-whisk-auth (true, or a secret in
// X-Require-Whisk-Auth); OPTIONS and CORS; x-openwhisk-activation-id; the default package
// and a named one; errors mapped to 400.
'use strict';
const { test, run, assert, request } = require('./lib/harness');
const dp = require('./lib/dp');
const { putAction, putEntity, waitRecord } = dp;

const NSN = 'dpweb';
const ns = dp.namespacedSystem(NSN, { env: { XWHISK_PREWARM: 'nodejs:20=2,python:3=0' } });
const { sys, opts } = ns;
const WEB = `/api/v1/web/${NSN}`;
// Web requests carry no credentials unless asked.
const web = (method, p, o = {}) => request(sys.nodePort, method, `${WEB}/${p}`, { auth: null, ...o });

const PNG = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0xff, 0x10, 0x80];

const CODE = `
function main(p) {
  switch (p.mode) {
    case 'http': return { statusCode: 201, headers: { 'X-Custom': 'yes', 'X-Num': 7, 'Content-Type': 'application/json' }, body: { got: p.x } };
    case 'strstatus': return { statusCode: '202', body: 'accepted' };
    case 'html': return { body: '<html><body>hi</body></html>' };
    case 'htmlfield': return { html: '<p>field</p>' };
    case 'text': return { text: 'plain words' };
    case 'png': return { headers: { 'Content-Type': 'image/png' }, body: Buffer.from(${JSON.stringify(PNG)}).toString('base64') };
    case 'empty': return {};
    case 'emptybody': return { statusCode: 200, headers: { 'X-Empty': '1' }, body: '' };
    case 'jsonbody': return { body: { a: [1, 2] } };
    case 'apperr': return { error: { statusCode: 418, body: 'teapot' } };
    case 'throw': throw new Error('web boom');
    case 'badstatus': return { statusCode: 'abc' };
    case 'badheaders': return { headers: 'nope', body: 'x' };
  }
  return p;
}`;

test.before(async () => {
  const exec = { kind: 'nodejs:20', code: CODE };
  const webExport = { key: 'web-export', value: true };
  await putAction(sys, 'w', { exec, annotations: [webExport], parameters: [{ key: 'def', value: 'ault' }] }, opts());
  await putAction(sys, 'raw', { exec, annotations: [webExport, { key: 'raw-http', value: true }] }, opts());
  await putAction(sys, 'hidden', { exec }, opts());
  await putAction(sys, 'authd', { exec, annotations: [webExport, { key: 'require-whisk-auth', value: true }] }, opts());
  await putAction(sys, 'secret', { exec, annotations: [webExport, { key: 'require-whisk-auth', value: 'let-me-in' }] }, opts());
  await putAction(sys, 'custom', {
    exec: { kind: 'nodejs:20', code: 'function main(p) { return { statusCode: 200, headers: { "Access-Control-Allow-Origin": "https://example.com", "X-Method": p.__ow_method }, body: "" } }' },
    annotations: [webExport, { key: 'web-custom-options', value: true }],
  }, opts());
  await putEntity(sys, 'packages', 'site', {}, opts());
  await putAction(sys, 'site/page', { exec, annotations: [webExport] }, opts());
});

function expectActivationHeader(r) {
  const id = r.headers['x-openwhisk-activation-id'];
  assert.ok(id && dp.HEX32.test(id), `x-openwhisk-activation-id on a web response: ${JSON.stringify(r.headers)}`);
  return id;
}

test('.json: the result as JSON; query parameters as strings; __ow_method/__ow_headers/__ow_path', async () => {
  const r = await web('GET', 'default/w.json?a=1&b=x&mode=', { headers: { 'X-Test-Header': 'Hello' } });
  assert.strictEqual(r.status, 200, r.text);
  assert.ok(/^application\/json/.test(r.headers['content-type']), r.headers['content-type']);
  expectActivationHeader(r);
  const p = r.json;
  assert.strictEqual(p.a, '1', 'query values are strings');
  assert.strictEqual(p.b, 'x');
  assert.strictEqual(p.def, 'ault', 'action parameters are there');
  assert.strictEqual(p.__ow_method, 'get');
  assert.strictEqual(p.__ow_path, '');
  assert.strictEqual(p.__ow_headers['x-test-header'], 'Hello', JSON.stringify(p.__ow_headers));
  assert.ok(!('__ow_user' in p), 'no __ow_user without credentials');
  assert.ok(!('__ow_query' in p) && !('__ow_body' in p), 'no raw fields in normal mode');
});

test('.json: the extra path is __ow_path; the activation is recorded for the owner', async () => {
  const r = await web('GET', 'default/w.json/some/extra/path');
  assert.strictEqual(r.status, 200, r.text);
  assert.strictEqual(r.json.__ow_path, '/some/extra/path');
  const rec = await waitRecord(sys, expectActivationHeader(r), opts());
  assert.strictEqual(rec.name, 'w');
  assert.strictEqual(rec.namespace, NSN);
});

test('POST: a JSON body is merged; a form body is merged as strings', async () => {
  const j = await web('POST', 'default/w.json?q=1', { body: { c: 3, nested: { d: true } } });
  assert.strictEqual(j.status, 200, j.text);
  assert.strictEqual(j.json.c, 3);
  assert.deepStrictEqual(j.json.nested, { d: true });
  assert.strictEqual(j.json.q, '1');
  assert.strictEqual(j.json.__ow_method, 'post');
  assert.ok(/^application\/json/.test(j.json.__ow_headers['content-type']));
  const f = await web('POST', 'default/w.json', {
    raw: 'e=five&f=a%20b',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
  });
  assert.strictEqual(f.status, 200, f.text);
  assert.strictEqual(f.json.e, 'five');
  assert.strictEqual(f.json.f, 'a b');
});

test('other bodies go to __ow_body: text as is, binary as base64', async () => {
  const t = await web('PUT', 'default/w.json', { raw: 'just text', headers: { 'Content-Type': 'text/plain' } });
  assert.strictEqual(t.status, 200, t.text);
  assert.strictEqual(t.json.__ow_body, 'just text');
  assert.strictEqual(t.json.__ow_method, 'put');
  const bin = Buffer.from([0, 1, 2, 250, 251]);
  const b = await web('POST', 'default/w.json', { raw: bin, headers: { 'Content-Type': 'application/octet-stream' } });
  assert.strictEqual(b.status, 200, b.text);
  assert.strictEqual(b.json.__ow_body, bin.toString('base64'));
});

test('query or body keys in the __ow_ space are refused (400)', async () => {
  const r = await web('GET', 'default/w.json?__ow_method=evil');
  assert.strictEqual(r.status, 400, r.text);
});

test('raw-http: __ow_query is the query string, __ow_body the body (base64 for JSON)', async () => {
  const body = JSON.stringify({ k: 'v' });
  const r = await web('POST', 'default/raw.json?a=1&b=2', { raw: body, headers: { 'Content-Type': 'application/json' } });
  assert.strictEqual(r.status, 200, r.text);
  assert.strictEqual(r.json.__ow_query, 'a=1&b=2');
  assert.strictEqual(r.json.__ow_body, Buffer.from(body).toString('base64'));
  assert.ok(!('a' in r.json) && !('k' in r.json), 'nothing merged in raw mode');
  assert.strictEqual(r.json.__ow_method, 'post');
  const t = await web('POST', 'default/raw.json', { raw: 'plain', headers: { 'Content-Type': 'text/plain' } });
  assert.strictEqual(t.json.__ow_body, 'plain');
  const none = await web('GET', 'default/raw.json');
  assert.strictEqual(none.json.__ow_body, '');
  assert.strictEqual(none.json.__ow_query, '');
});

test('.http: statusCode, headers and a JSON body', async () => {
  const r = await web('GET', 'default/w.http?mode=http&x=42');
  assert.strictEqual(r.status, 201, r.text);
  assert.strictEqual(r.headers['x-custom'], 'yes');
  assert.strictEqual(r.headers['x-num'], '7');
  assert.ok(/^application\/json/.test(r.headers['content-type']));
  assert.deepStrictEqual(r.json, { got: '42' });
  expectActivationHeader(r);
});

test('no extension is .http; a string statusCode is accepted; string bodies are text/html', async () => {
  const r = await web('GET', 'default/w?mode=strstatus');
  assert.strictEqual(r.status, 202, r.text);
  assert.strictEqual(r.text, 'accepted');
  assert.ok(/^text\/html/.test(r.headers['content-type']), r.headers['content-type']);
  const j = await web('GET', 'default/w?mode=jsonbody');
  assert.strictEqual(j.status, 200);
  assert.ok(/^application\/json/.test(j.headers['content-type']));
  assert.deepStrictEqual(j.json, { a: [1, 2] });
});

test('.http: a base64 body with a binary content type is decoded', async () => {
  const r = await new Promise((resolve, reject) => {
    const http = require('http');
    http.get({ host: '127.0.0.1', port: sys.nodePort, path: `${WEB}/default/w.http?mode=png` }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
    }).on('error', reject);
  });
  assert.strictEqual(r.status, 200);
  assert.strictEqual(r.headers['content-type'], 'image/png');
  assert.deepStrictEqual([...r.body], PNG);
});

test('.http: no body is 204 (or the given status with an empty entity)', async () => {
  const r = await web('GET', 'default/w.http?mode=empty');
  assert.strictEqual(r.status, 204, r.text);
  assert.strictEqual(r.text, '');
  const e = await web('GET', 'default/w.http?mode=emptybody');
  assert.strictEqual(e.status, 200, e.text);
  assert.strictEqual(e.text, '');
  assert.strictEqual(e.headers['x-empty'], '1');
});

test('.http: a bad statusCode or headers is 400 "Response is not valid \'message/http\'."', async () => {
  for (const mode of ['badstatus', 'badheaders']) {
    const r = await web('GET', `default/w.http?mode=${mode}`);
    assert.strictEqual(r.status, 400, `${mode}: ${r.status} ${r.text}`);
    assert.strictEqual(r.json.error, "Response is not valid 'message/http'.");
  }
});

test('.html and .text: body or the html/text field', async () => {
  const h = await web('GET', 'default/w.html?mode=html');
  assert.strictEqual(h.status, 200, h.text);
  assert.ok(/^text\/html/.test(h.headers['content-type']), h.headers['content-type']);
  assert.strictEqual(h.text, '<html><body>hi</body></html>');
  const hf = await web('GET', 'default/w.html?mode=htmlfield');
  assert.strictEqual(hf.text, '<p>field</p>');
  const t = await web('GET', 'default/w.text?mode=text');
  assert.strictEqual(t.status, 200, t.text);
  assert.ok(/^text\/plain/.test(t.headers['content-type']), t.headers['content-type']);
  assert.strictEqual(t.text, 'plain words');
  const bad = await web('GET', 'default/w.html?mode=text');
  assert.strictEqual(bad.status, 400, bad.text);
});

test('.json of a non-object is 400; errors map to 400 or the error value', async () => {
  const app = await web('GET', 'default/w.http?mode=apperr');
  assert.strictEqual(app.status, 418, `an application error's value is the response: ${app.status} ${app.text}`);
  assert.strictEqual(app.text, 'teapot');
  const boom = await web('GET', 'default/w.json?mode=throw');
  assert.strictEqual(boom.status, 400, boom.text);
  assert.strictEqual(boom.json.error, 'There was an error processing your request.');
  expectActivationHeader(boom);
});

test('an action without web-export is 404, and so is a missing one', async () => {
  for (const p of ['default/hidden.json', 'default/nothere.json', 'nopkg/w.json']) {
    const r = await web('GET', p);
    assert.strictEqual(r.status, 404, `${p}: ${r.status} ${r.text}`);
  }
});

test('a named package: /web/ns/pkg/action', async () => {
  const r = await web('GET', 'site/page.json?z=1');
  assert.strictEqual(r.status, 200, r.text);
  assert.strictEqual(r.json.z, '1');
});

test('require-whisk-auth true: 401 without credentials, 200 with (and __ow_user)', async () => {
  const no = await web('GET', 'default/authd.json');
  assert.strictEqual(no.status, 401, no.text);
  const bad = await web('GET', 'default/authd.json', { auth: `${ns.key.split(':')[0]}:${'x'.repeat(64)}` });
  assert.strictEqual(bad.status, 401, bad.text);
  const yes = await web('GET', 'default/authd.json', { auth: ns.key });
  assert.strictEqual(yes.status, 200, yes.text);
  assert.strictEqual(yes.json.__ow_user, NSN);
});

test('require-whisk-auth "secret": X-Require-Whisk-Auth must match', async () => {
  assert.strictEqual((await web('GET', 'default/secret.json')).status, 401);
  assert.strictEqual((await web('GET', 'default/secret.json', { headers: { 'X-Require-Whisk-Auth': 'wrong' } })).status, 401);
  const ok = await web('GET', 'default/secret.json', { headers: { 'X-Require-Whisk-Auth': 'let-me-in' } });
  assert.strictEqual(ok.status, 200, ok.text);
});

test('OPTIONS is answered with CORS; other responses carry CORS too', async () => {
  const r = await web('OPTIONS', 'default/w.json', {
    headers: { Origin: 'https://x.example', 'Access-Control-Request-Headers': 'X-Foo, Content-Type', 'Access-Control-Request-Method': 'POST' },
  });
  assert.strictEqual(r.status, 200, r.text);
  assert.strictEqual(r.headers['access-control-allow-origin'], '*');
  assert.strictEqual(r.headers['access-control-allow-methods'], 'OPTIONS, GET, DELETE, POST, PUT, HEAD, PATCH');
  assert.strictEqual(r.headers['access-control-allow-headers'], 'X-Foo, Content-Type');
  const g = await web('GET', 'default/w.json');
  assert.strictEqual(g.headers['access-control-allow-origin'], '*');
});

test('web-custom-options: OPTIONS goes to the action', async () => {
  const r = await web('OPTIONS', 'default/custom.http');
  assert.strictEqual(r.status, 200, r.text);
  assert.strictEqual(r.headers['access-control-allow-origin'], 'https://example.com');
  assert.strictEqual(r.headers['x-method'], 'options');
  expectActivationHeader(r);
});

run();
