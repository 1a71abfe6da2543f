// SPDX-License-Identifier: Apache-2.0
/*
 * The Node.js language loop of xwhisk-proxy (protocol: userspace/proxy/mode_loop.c).
 * It starts with the sandbox, before the action is known: /init only loads the code.
 * Semantics follow apache/openwhisk-runtime-nodejs: source code is evaluated and its
 * main found globally or in module.exports; a zip is required through package.json or
 * index.js; a rejected promise is an application error; a thrown exception is a
 * developer error (502) that stops the runtime; a result that is not an object gets
 * 502 "The action did not return a dictionary.". Runs may overlap (concurrency > 1).
 *
 * No 'use strict' here: actions may be sloppy-mode code.
 */
const fs = require('fs');
const path = require('path');
const readline = require('readline');

const RESULT_FD = 3;
let handler;

function answer(msg) {
    fs.writeSync(RESULT_FD, JSON.stringify(msg) + '\n');
}

/* As serialize-error does: own properties of an Error, name/message/stack first. */
function serializeError(e) {
    if (!(e instanceof Error)) {
        return e;
    }
    const out = { name: e.name, message: e.message, stack: e.stack };
    for (const key of Object.getOwnPropertyNames(e)) {
        const v = e[key];
        if (typeof v !== 'function') {
            out[key] = v instanceof Error ? serializeError(v) : v;
        }
    }
    return out;
}

/* "main" -> [undefined, "main"]; "file.fn" -> ["file", "fn"]. */
function splitMainHandler(main) {
    const m = main.match(/^([^.]+)$|^([^.]+)\.(.+)$/);
    return m ? [m[2], m[3] || m[1]] : undefined;
}

/*
 * As the reference runtime's eval, but in a scope of its own: the action sees module,
 * exports and require (and the globals), not this loop's variables, so a main
 * exported under a name this file happens to use still resolves to the action's.
 */
function evalSource(code, main) {
    const module = { exports: {} };
    const body = `${code}
        try {
            return ${main}
        } catch (e) {
            if (e.name === 'ReferenceError') {
                return module.exports.${main} || exports.${main}
            } else throw e
        }`;
    const fn = new Function('module', 'exports', 'require', '__filename', '__dirname', body);
    return fn(module, module.exports, require, __filename, __dirname);
}

function loadArchive(dir, mainName) {
    const parts = splitMainHandler(mainName);
    if (parts === undefined) {
        throw 'Name of main function is not valid.';
    }
    const [index, main] = parts;
    process.chdir(dir);
    if (index === undefined && !fs.existsSync('package.json') && !fs.existsSync('index.js')) {
        throw 'Zipped actions must contain either package.json or index.js at the root.';
    }
    const mod = require(index !== undefined ? path.join(dir, index) : dir);
    return main.split('.').reduce((o, k) => (o === undefined ? o : o[k]), mod);
}

function init(msg) {
    for (const [k, v] of Object.entries(msg.env || {})) {
        process.env[k] = v;
    }
    try {
        const fn = msg.binary ? loadArchive(msg.dir, msg.main) : evalSource(msg.code, msg.main);
        if (typeof fn !== 'function') {
            throw `Action entrypoint '${msg.main}' is not a function.`;
        }
        handler = fn;
        answer({ ok: true });
    } catch (error) {
        console.error('Error during initialization:', error);
        answer({ error: `Initialization has failed due to: ${error && error.stack ? String(error.stack) : error}` });
    }
}

/*
 * The answer goes once what the action logged is out: Node.js writes to a full pipe
 * later, and the proxy's end-of-activation sentinels, written when the answer comes,
 * would otherwise overtake those lines (and they would land in the next activation).
 */
function reply(id, status, body, stop) {
    let line;
    try {
        line = JSON.stringify({ id, status, body, stop });
    } catch (e) {
        line = JSON.stringify({ id, status: 502, body: { error: `An error has occurred: ${e}` } });
    }
    let pending = 2;
    const flushed = () => {
        if (--pending === 0) {
            fs.writeSync(RESULT_FD, line + '\n');
        }
    };
    process.stdout.write('', flushed);
    process.stderr.write('', flushed);
}

function run(id, msg) {
    // Per-activation fields become __OW_* variables (with concurrency, the last one wins).
    for (const [k, v] of Object.entries(msg)) {
        if (typeof v === 'string' && k !== 'value') {
            process.env['__OW_' + k.toUpperCase()] = v;
        }
    }
    let result;
    try {
        result = handler(msg.value);
    } catch (error) {
        console.error(error);
        reply(id, 502, { error: `An error has occurred: ${error}` }, true);
        return;
    }
    Promise.resolve(result).then(
        (r) => (r === undefined ? {} : r),
        (error) => (error ? { error: serializeError(error) } : { error: {} })
    ).then((r) => {
        if (typeof r !== 'object') {
            console.error(`Result must be of type object but has type "${typeof r}":`, r);
            reply(id, 502, { error: 'The action did not return a dictionary.' });
        } else {
            reply(id, 200, r);
        }
    });
}

const input = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
input.on('line', (line) => {
    const msg = JSON.parse(line);
    if (msg.init) {
        init(msg.init);
    } else if (msg.run) {
        run(msg.id, msg.run);
    }
});
input.on('close', () => process.exit(0));
answer({ ok: true, concurrent: true });
