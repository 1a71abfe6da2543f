// SPDX-License-Identifier: Apache-2.0
// The language loops' per-activation __OW_* variables (userspace/runtimes/nodejs/loop.js,
// overlayPerRunEnv; userspace/runtimes/python/loop.py, PerRunEnv): the action and its
// child processes see them, and a loop that ran many activations has not kept every value
// it was given (glibc's setenv keeps each one: about 300 MB per million activations
// before). Each loop alone, driven as xwhisk-proxy drives it (JSON lines on stdin,
// answers on fd 3): no system needed.
'use strict';
const { spawn } = require('child_process');
const path = require('path');
const { test, run, assert } = require('./lib/harness');

const RUNTIMES = path.join(__dirname, '../../userspace/runtimes');

const CODE = `
function main(p) {
  if (p.report) {
    global.gc();
    return {
      rss: process.memoryUsage().rss,
      id: process.env.__OW_ACTIVATION_ID,
      child: require('child_process').execSync('echo -n "$__OW_ACTIVATION_ID"').toString(),
      tid: process.env.__OW_TRANSACTION_ID,
      child_tid: require('child_process').execSync('echo -n "$__OW_TRANSACTION_ID"').toString(),
      coerced: (process.env.XW_NUMBER = 5, typeof process.env.XW_NUMBER),
    };
  }
  return {};
}`;

const PY_CODE = `
import gc, os, subprocess

def main(args):
    if args.get("report"):
        gc.collect()
        with open("/proc/self/status") as f:
            rss = next(int(l.split()[1]) for l in f if l.startswith("VmRSS")) * 1024
        os.environ["XW_NUMBER"] = "5"
        return {"rss": rss, "id": os.environ["__OW_ACTIVATION_ID"],
                "child": subprocess.run(["sh", "-c", 'printf %s "$__OW_ACTIVATION_ID"'],
                                        capture_output=True, text=True).stdout,
                "tid": os.environ["__OW_TRANSACTION_ID"],
                "child_tid": subprocess.run(["sh", "-c", 'printf %s "$__OW_TRANSACTION_ID"'],
                                            capture_output=True, text=True).stdout,
                "coerced": "string"}
    return {}
`;

function startLoop(argv) {
  const child = spawn(argv[0], argv.slice(1), { stdio: ['pipe', 'inherit', 'inherit', 'pipe'] });
  const waiters = [];
  let pending = '';
  child.stdio[3].setEncoding('utf8');
  child.stdio[3].on('data', (d) => {
    pending += d;
    let nl;
    while ((nl = pending.indexOf('\n')) !== -1) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      const w = waiters[0];
      if (w && w.test(JSON.parse(line))) waiters.shift();
    }
  });
  // Resolves with the first answer for which test(msg) is true; test counts the others.
  const until = (testFn) => new Promise((resolve) => {
    waiters.push({ test: (m) => { if (testFn(m)) { resolve(m); return true; } return false; } });
  });
  return { child, until };
}

async function manyRuns(argv, code, RUNS, maxGrowthMb) {
  const { child, until } = startLoop(argv);
  try {
    await until((m) => m.ok === true);
    child.stdin.write(JSON.stringify({ init: { main: 'main', binary: false, code, dir: '/tmp', env: {} } }) + '\n');
    await until((m) => m.ok === true || m.error !== undefined);
    const runLine = (id, value, tidLength = 32) => JSON.stringify({ id, run: {
      value, activation_id: `a${id}`.padEnd(32, '0'), transaction_id: `t${id}`.padEnd(tidLength, '0'),
      deadline: String(1700000000000 + id) } }) + '\n';
    child.stdin.write(runLine(1, { report: true }));
    const before = await until((m) => m.id === 1);
    assert.strictEqual(before.body.id, 'a1'.padEnd(32, '0'));
    assert.strictEqual(before.body.child, before.body.id, 'a child process sees the variable');
    assert.strictEqual(before.body.coerced, 'string', 'values are coerced to strings, as in the real process.env');
    let answered = 0;
    const done = until((m) => ++answered === RUNS);
    for (let i = 0; i < RUNS; i += 5000) {
      let chunk = '';
      for (let j = i; j < i + 5000; j++) chunk += runLine(j + 2, {});
      if (!child.stdin.write(chunk)) await new Promise((r) => child.stdin.once('drain', r));
    }
    await done;
    child.stdin.write(runLine(RUNS + 10, { report: true }));
    const after = await until((m) => m.id === RUNS + 10);
    assert.strictEqual(after.body.child, 'a'.concat(RUNS + 10).padEnd(32, '0'));
    // A value longer than Python's buffer (256 bytes) takes os.environ: still seen by all.
    child.stdin.write(runLine(RUNS + 11, { report: true }, 400));
    const long = await until((m) => m.id === RUNS + 11);
    assert.strictEqual(long.body.tid, 't'.concat(RUNS + 11).padEnd(400, '0'));
    assert.strictEqual(long.body.child_tid, long.body.tid);
    const grownMb = (after.body.rss - before.body.rss) / 1048576;
    // Kept by setenv: 3 values of about 100 bytes per run.
    assert.ok(grownMb < maxGrowthMb, `the loop grew by ${grownMb.toFixed(1)} MB over ${RUNS} runs`);
  } finally {
    child.kill();
  }
}

test('nodejs: __OW_* variables seen by the action and its children; 150,000 activations keep no trace in memory', async () => {
  // 43 MB before; 7-8 after (V8's heap)
  await manyRuns([process.execPath, '--expose-gc', path.join(RUNTIMES, 'nodejs/loop.js')], CODE, 150000, 20);
});

test('python: the same; 100,000 activations', async () => {
  // 27 MB before; under 1 after
  await manyRuns(['python3', path.join(RUNTIMES, 'python/loop.py')], PY_CODE, 100000, 8);
});

run();
