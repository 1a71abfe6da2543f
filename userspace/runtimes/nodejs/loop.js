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
function evalSource(code, main, withUpgrade) {
    const module = { exports: {} };
    // A streaming action's upgrade() comes from the same evaluation as its main.
    const result = withUpgrade
        ? `[__xwhisk_main, (typeof upgrade === 'function' ? upgrade : undefined) ||
            module.exports.upgrade || exports.upgrade]`
        : '__xwhisk_main';
    const body = `${code}
        let __xwhisk_main;
        try {
            __xwhisk_main = ${main}
        } catch (e) {
            if (e.name === 'ReferenceError') {
                __xwhisk_main = module.exports.${main} || exports.${main}
            } else throw e
        }
        return ${result}`;
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

/*
 * A streaming web action (annotation web-stream, an xwhisk extension): main(req, res) is
 * a Node.js HTTP handler and upgrade(req, socket, head) takes Upgrade requests (a
 * WebSocket library's handleUpgrade), served on STREAM_PORT beside the proxy. The node
 * splices each client's connection to it; one request or WebSocket is one activation,
 * whose end the sentinels mark in the logs.
 */
const STREAM_PORT = 8081;

/* A zip's upgrade(), exported beside its main. */
function archiveUpgrade(dir, mainName) {
    const parts = splitMainHandler(mainName) || [];
    const mod = require(parts[0] !== undefined ? path.join(dir, parts[0]) : dir);
    return mod && mod.upgrade;
}

function sentinels() {
    process.stdout.write('XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX\n');
    process.stderr.write('XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX\n');
}

function streamFailed(res, error) {
    console.error(error);
    if (!res.headersSent) {
        res.writeHead(502, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ error: `An error has occurred: ${error}` }));
    } else {
        res.destroy();
    }
}

function serveStream(main, upgrade, ready) {
    const http = require('http');
    const server = http.createServer((req, res) => {
        process.env.__OW_ACTIVATION_ID = req.headers['x-ow-activation-id'] || '';
        res.once('close', sentinels);
        try {
            const r = main(req, res);
            if (r && typeof r.then === 'function') {
                r.catch((e) => streamFailed(res, e));
            }
        } catch (e) {
            streamFailed(res, e);
        }
    });
    server.on('upgrade', (req, socket, head) => {
        process.env.__OW_ACTIVATION_ID = req.headers['x-ow-activation-id'] || '';
        socket.once('close', sentinels);
        if (typeof upgrade !== 'function') {
            socket.end('HTTP/1.1 501 Not Implemented\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
            return;
        }
        try {
            upgrade(req, socket, head);
        } catch (e) {
            console.error(e);
            socket.destroy();
        }
    });
    // The node bounds a stream by the action's time limit; Node's own limits would cut
    // long uploads first.
    server.requestTimeout = 0;
    server.headersTimeout = 60000;
    server.keepAliveTimeout = 1000;
    server.once('error', (e) => ready(e));
    server.listen(STREAM_PORT, '0.0.0.0', () => ready());
}

function init(msg) {
    for (const [k, v] of Object.entries(msg.env || {})) {
        process.env[k] = v;
    }
    try {
        const stream = process.env.__OW_WEB_STREAM === 'true';
        let fn, upgrade;
        if (msg.binary) {
            fn = loadArchive(msg.dir, msg.main);
            upgrade = stream ? archiveUpgrade(msg.dir, msg.main) : undefined;
        } else if (stream) {
            [fn, upgrade] = evalSource(msg.code, msg.main, true);
        } else {
            fn = evalSource(msg.code, msg.main);
        }
        if (typeof fn !== 'function') {
            throw `Action entrypoint '${msg.main}' is not a function.`;
        }
        handler = fn;
        if (stream) {
            serveStream(fn, upgrade, (error) => {
                if (error) {
                    console.error('Error during initialization:', error);
                    answer({ error: `Initialization has failed due to: ${error}` });
                } else {
                    answer({ ok: true });
                }
            });
            return;
        }
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
    // Pipes are synchronous on Linux: nothing is pending once write() returned, and the
    // answer can go at once (the two empty writes below would cost two system calls).
    if (process.stdout.writableLength === 0 && process.stderr.writableLength === 0) {
        fs.writeSync(RESULT_FD, line + '\n');
        return;
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
    const settled = (r) => {
        if (r === undefined) {
            r = {};
        }
        if (typeof r !== 'object') {
            console.error(`Result must be of type object but has type "${typeof r}":`, r);
            reply(id, 502, { error: 'The action did not return a dictionary.' });
        } else {
            reply(id, 200, r);
        }
    };
    // A plain result is answered now; a promise (or any thenable) when it settles.
    if (result !== null && (typeof result === 'object' || typeof result === 'function') &&
        typeof result.then === 'function') {
        Promise.resolve(result).then(
            settled,
            (error) => settled(error ? { error: serializeError(error) } : { error: {} })
        );
    } else {
        settled(result);
    }
}

function onLine(line) {
    const msg = JSON.parse(line);
    if (msg.init) {
        init(msg.init);
    } else if (msg.run) {
        run(msg.id, msg.run);
    }
}

/* One message per line. Lines are cut from the raw bytes (a newline byte never occurs
 * inside a UTF-8 character), without readline's per-line machinery. */
let pending = [];
process.stdin.on('data', (chunk) => {
    let start = 0, nl;
    while ((nl = chunk.indexOf(10, start)) !== -1) {
        pending.push(chunk.subarray(start, nl));
        const line = pending.length === 1 ? pending[0].toString() : Buffer.concat(pending).toString();
        pending = [];
        start = nl + 1;
        onLine(line);
    }
    if (start < chunk.length) {
        pending.push(chunk.subarray(start));
    }
});
process.stdin.on('end', () => process.exit(0));
answer({ ok: true, concurrent: true });
