// SPDX-License-Identifier: Apache-2.0
// A burst on a concurrency-1 action with no warm sandbox: at most XWHISK_PARALLEL_STARTS
// of its sandboxes start at once (a start is CPU work; more at once than CPUs slows them
// all), the rest as those finish, and every invoke of the burst is served. With the limit
// off (0) the same burst starts several at once: what shows that the sampling below sees
// parallel starts when there are some.
'use strict';
const { System, test, run, assert, sleep } = require('./lib/harness');
const dp = require('./lib/dp');

const BURST = 4;
const SLEEPER = 'function main(p) { return new Promise((r) => setTimeout(() => r({ ok: true }), p.ms)); }';

// The most sandboxes seen starting at once while the burst of BURST invokes ran.
async function burstPeak(parallelStarts) {
  const sys = new System({ env: { XWHISK_PARALLEL_STARTS: String(parallelStarts), XWHISK_PREWARM: 'nodejs:20=0,python:3=0' } });
  await sys.start();
  try {
    await dp.putAction(sys, 'slow', { exec: { kind: 'nodejs:20', code: SLEEPER }, limits: { concurrency: 1 } });
    let peak = 0;
    let done = false;
    const sampler = (async () => {
      while (!done) {
        const m = (await dp.metrics(sys.nodePort)).values;
        peak = Math.max(peak, m.get('xwhisk_starting_sandboxes') || 0);
        await sleep(1);
      }
    })();
    // Runs much longer than a start: queueing behind a busy sandbox never pays here, so
    // every invoke of the burst needs a sandbox of its own.
    const rs = await Promise.all(Array.from({ length: BURST }, () => dp.invoke(sys, 'slow', { ms: 3000 })));
    done = true;
    await sampler;
    const bad = rs.filter((r) => r.status !== 200).map((r) => `${r.status} ${r.text.slice(0, 200)}`);
    assert.deepStrictEqual(bad, [], `${bad.length} of ${BURST} invokes failed`);
    const m = (await dp.metrics(sys.nodePort)).values;
    assert.strictEqual(m.get('xwhisk_warm_sandboxes'), BURST, 'one sandbox per concurrent invoke');
    return peak;
  } finally {
    await dp.teardown(sys);
  }
}

test('XWHISK_PARALLEL_STARTS=1: one sandbox of the action starts at a time, the burst is served', async () => {
  assert.strictEqual(await burstPeak(1), 1);
});

test('XWHISK_PARALLEL_STARTS=0: the same burst starts several at once', async () => {
  assert.ok((await burstPeak(0)) > 1, 'no parallel start seen without the limit');
});

run();
