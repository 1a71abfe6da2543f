// SPDX-License-Identifier: Apache-2.0
// What the API acknowledged survives a kill -9 of every process mid-stream.
'use strict';
const { systemPerFile, test, run, assert } = require('./lib/harness');

const sys = systemPerFile();

test('acknowledged writes survive SIGKILL of controller and node', async () => {
  const acked = [];
  let stop = false;
  // A writer goes on until the kill cuts it off; only acknowledged writes must survive.
  const writer = (async () => {
    for (let i = 0; !stop; i++) {
      try {
        const r = await sys.request('PUT', `/api/v1/namespaces/_/triggers/t${i}`, {
          body: { parameters: [{ key: 'i', value: i }] },
        });
        if (r.status !== 200) break;
        acked.push(i);
      } catch (e) {
        break;
      }
    }
  })();
  // Killed mid-stream, once a few writes were acknowledged (a slow disk's first fsyncs
  // must not leave nothing to check).
  for (const t0 = Date.now(); acked.length < 3 && Date.now() - t0 < 10000;) {
    await new Promise((r) => setTimeout(r, 20));
  }
  await sys.stop('SIGKILL');
  stop = true;
  await writer;
  assert.ok(acked.length > 0, 'some writes were acknowledged before the kill');
  await sys.start();
  for (const i of acked) {
    const r = await sys.request('GET', `/api/v1/namespaces/_/triggers/t${i}`);
    assert.strictEqual(r.status, 200, `trigger t${i} was acknowledged but is gone: ${r.text}`);
    assert.deepStrictEqual(r.json.parameters, [{ key: 'i', value: i }]);
  }
});

run();
