// SPDX-License-Identifier: Apache-2.0
// Issue 8, logs in band: a sandbox whose server is not an xwhisk-proxy (an operator's own
// implementation of a kind, as an OpenWhisk runtime image in a pod would be) ignores the
// X-Xwhisk-Logs request header and writes the sentinels; its activations' logs still come,
// through the manager's pipes (xwhisk_log_segments_total{path="pipe"}).
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { test, run, assert } = require('./lib/harness');
const dp = require('./lib/dp');
const { checkLogs, invokeOk, putAction } = dp;

// A few lines of Node.js speaking /init and /run on port 8080, no xwhisk-proxy.
const FOREIGN_SERVER = `
const http = require('http'); let fn;
http.createServer((req, res) => { let body = '';
  req.on('data', (d) => body += d); req.on('end', () => {
    const msg = JSON.parse(body || '{}'); let out = { ok: true };
    if (req.url === '/init') fn = eval(msg.value.code);
    else { out = fn(msg.value); console.log('foreign says', msg.value.i);
      console.log('XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX');
      console.error('XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX'); }
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify(out)); }); }).listen(8080);`;

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xwhisk-foreign-'));
const manifest = path.join(dir, 'runtimes.json');
fs.writeFileSync(manifest, JSON.stringify({
  runtimes: {
    foreign: [{
      kind: 'foreign:1', default: true, deprecated: false, attached: false, requireMain: false,
      image: { prefix: 'example', name: 'foreign', tag: '1' },
      sandbox: { command: ['node', '-e', FOREIGN_SERVER], memory: 128 },
    }],
  },
}));

const NSN = 'dplogfb';
const ns = dp.namespacedSystem(NSN, { env: { XWHISK_RUNTIMES: manifest, XWHISK_PREWARM: '' } });
const { sys, opts } = ns;

test.after(() => fs.rmSync(dir, { recursive: true, force: true }));

test('a foreign server: logs through the pipes, none in band', async () => {
  await putAction(sys, 'foreign', { exec: { kind: 'foreign:1', code: '(a) => ({ i: a.i })' } }, opts());
  await invokeOk(sys, 'foreign', { i: 0 }, opts());
  const before = (await dp.metrics(sys.nodePort)).values;
  const N = 3;
  for (let i = 1; i <= N; i++) {
    const rec = await invokeOk(sys, 'foreign', { i }, opts());
    assert.deepStrictEqual(rec.response.result, { i });
    assert.deepStrictEqual(checkLogs(rec.logs).map((l) => `${l.stream} ${l.text}`), [`stdout foreign says ${i}`]);
  }
  const after = (await dp.metrics(sys.nodePort)).values;
  const d = (k) => after.get(`xwhisk_log_segments_total{path="${k}"}`) - before.get(`xwhisk_log_segments_total{path="${k}"}`);
  assert.strictEqual(d('pipe'), N);
  assert.strictEqual(d('inband'), 0);
});

run();
