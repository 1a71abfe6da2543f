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

/*
 * Each run sets __OW_ACTIVATION_ID, __OW_TRANSACTION_ID and __OW_DEADLINE, as the
 * reference runtime does. Assigned to the real process.env, every new value is a
 * setenv(3), and glibc keeps every value ever set (its tree of known values, so that a
 * string it handed out is never freed): about 110 bytes per value and a slower setenv
 * with each run, 300 MB per million activations, until a busy sandbox meets its memory
 * limit. So those three live in an overlay: process.env becomes a view of the real
 * environment with the overlay on top. Child processes, which take process.env by
 * default, still get them; only native code calling getenv(), a Worker started without
 * env, and process.loadEnvFile do not see the three. Everything else, the init's
 * __OW_* variables included, is the real environment as before.
 */
const PER_RUN_ENV = new Set(['__OW_ACTIVATION_ID', '__OW_TRANSACTION_ID', '__OW_DEADLINE']);

function overlayPerRunEnv() {
    const real = process.env;
    const over = Object.create(null);
    const own = (k) => Object.prototype.hasOwnProperty.call(over, k);
    process.env = new Proxy(real, {
        get(target, k) {
            return own(k) ? over[k] : real[k];
        },
        set(target, k, v) {
            if (PER_RUN_ENV.has(k)) {
                over[k] = String(v); // as the real one coerces
            } else {
                real[k] = v;
            }
            return true;
        },
        has(target, k) {
            return own(k) || k in real;
        },
        deleteProperty(target, k) {
            delete over[k];
            return delete real[k];
        },
        ownKeys() {
            const keys = Reflect.ownKeys(real);
            for (const k of Object.keys(over)) {
                if (!keys.includes(k)) {
                    keys.push(k);
                }
            }
            return keys;
        },
        getOwnPropertyDescriptor(target, k) {
            if (own(k)) {
                return { value: over[k], writable: true, enumerable: true, configurable: true };
            }
            return Reflect.getOwnPropertyDescriptor(real, k);
        },
    });
}
overlayPerRunEnv();

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

const SENTINEL = 'XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX';

function sentinels() {
    process.stdout.write(SENTINEL + '\n');
    process.stderr.write(SENTINEL + '\n');
}

function streamFailed(res, error) {
    console.error(error);
    if (!res.headersSent) {
        const [status, json] = errorAnswer(error);
        res.writeHead(status, { 'Content-Type': 'application/json' });
        res.end(json);
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

/*
 * Runs straight to the loop (docs/SANDBOXES.md, "Runs straight to the loop"). When the
 * proxy's /init asked for logs in band, the loop serves /run itself on run_port, so a
 * warm run crosses one process instead of two, and keeps what the action writes through
 * process.stdout and process.stderr (console.* included) as xwhisk-proxy's capture does
 * (userspace/proxy/capture.h): stamped when written, held while a run is in flight, cut
 * at the limit, answered in band (lib/actlogs.h) when a run ends; nobody holding them,
 * they go on to the pipes, and so does whatever bypasses Node's streams (a child process
 * sharing our stdout). Lines a timed-out run wrote go out before its deadline, as the
 * proxy's do, so the node finds them in the sandbox's pipes.
 */
const MAX_LINE = 16384; // lib/logpipe.h: longer lines go in pieces
const SPILL_MS = 50;
const STOPPED_MSG = 'System not ready, status is stopped.';

// Wall-clock nanoseconds that never go back between two lines.
const CLOCK_BASE = BigInt(Date.now()) * 1000000n - process.hrtime.bigint();

function stamp(stream, text) {
    const ns = CLOCK_BASE + process.hrtime.bigint();
    const iso = new Date(Number(ns / 1000000n)).toISOString(); // 2026-12-04T05:00:00.123Z
    const frac = String(ns % 1000000000n).padStart(9, '0');
    // "%-30s %s: %s" as OpenWhisk's: the stamp is 30 characters wide already.
    return `${iso.slice(0, 19)}.${frac}Z ${stream === 2 ? 'stderr' : 'stdout'}: ${text}`;
}

const capture = {
    keep: 10 << 20,
    holders: new Set(), // the init and the runs holding the lines now
    unarmed: false,     // one of them has a deadline and no spill timer yet
    lines: [],
    bytes: 0,
    partial: { 1: '', 2: '' },
    decoders: {}, // a character split between two byte writes stays one character
    writers: {},

    start(limit) {
        const { StringDecoder } = require('string_decoder');
        this.decoders[1] = new StringDecoder('utf8');
        this.decoders[2] = new StringDecoder('utf8');
        this.hook(process.stdout, 1);
        this.hook(process.stderr, 2);
        this.hookFs();
        // The loop ending (process.exit, an uncaught exception) takes no held line with it:
        // they go to the pipes, where the node looks for a run that got no answer.
        process.on('exit', () => {
            this.flushPartial();
            this.holders.clear();
            this.passHeld();
        });
        this.init = this.hold(limit, 0);
    },
    decode(fd, chunk, encoding) {
        if (typeof chunk === 'string') {
            return encoding && encoding !== 'utf8' && encoding !== 'utf-8'
                ? this.decoders[fd].write(Buffer.from(chunk, encoding)) : chunk;
        }
        return this.decoders[fd].write(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    },
    hook(stream, fd) {
        const write = stream.write.bind(stream);
        this.writers[fd] = write;
        stream.write = (chunk, encoding, cb) => {
            if (typeof encoding === 'function') {
                cb = encoding;
                encoding = undefined;
            }
            this.text(fd, this.decode(fd, chunk, encoding));
            if (cb) {
                process.nextTick(cb);
            }
            return true;
        };
    },
    /*
     * Loggers that write to the descriptors themselves (pino's sonic-boom:
     * fs.write(1, ...), fs.writeSync(1, ...)) are caught too. Still not: a child process
     * sharing the loop's stdout, a native addon; their bytes reach the pipes.
     */
    hookFs() {
        const fs = require('fs');
        const { write, writeSync } = fs;
        // The bytes a call writes: (fd, buffer[, offset[, length]] | [, options]) or
        // (fd, string[, position[, encoding]]).
        const taken = (fd, data, a, b) => {
            if (typeof data === 'string') {
                this.text(fd, this.decode(fd, data, typeof b === 'string' ? b : undefined));
                return Buffer.byteLength(data, typeof b === 'string' ? b : 'utf8');
            }
            const opts = a !== null && typeof a === 'object' ? a : {};
            const offset = typeof a === 'number' ? a : opts.offset || 0;
            const length = typeof b === 'number' ? b : opts.length !== undefined ? opts.length
                : data.byteLength - offset;
            this.text(fd, this.decode(fd, new Uint8Array(data.buffer, data.byteOffset + offset, length)));
            return length;
        };
        fs.writeSync = function (fd, data, a, b) {
            if (fd !== 1 && fd !== 2) {
                return writeSync.apply(this, arguments);
            }
            return taken(fd, data, a, b);
        };
        fs.write = function (fd, data, ...args) {
            if (fd !== 1 && fd !== 2 || typeof args[args.length - 1] !== 'function') {
                return write.apply(this, arguments);
            }
            const cb = args.pop();
            const n = taken(fd, data, args[0], args[1]);
            process.nextTick(() => cb(null, n, data));
        };
    },
    text(fd, text) {
        let start = 0, nl;
        while ((nl = text.indexOf('\n', start)) !== -1) {
            let whole = this.partial[fd] + text.slice(start, nl);
            for (; whole.length > MAX_LINE; whole = whole.slice(MAX_LINE)) {
                this.line(fd, whole.slice(0, MAX_LINE));
            }
            this.line(fd, whole);
            this.partial[fd] = '';
            start = nl + 1;
        }
        this.partial[fd] += text.slice(start);
        while (this.partial[fd].length >= MAX_LINE) {
            this.line(fd, this.partial[fd].slice(0, MAX_LINE));
            this.partial[fd] = this.partial[fd].slice(MAX_LINE);
        }
    },
    line(fd, text) {
        if (!this.holders.size) {
            this.passHeld();
            this.writers[fd](text + '\n');
        } else if (text !== SENTINEL && this.keep && this.bytes <= this.keep) {
            if (this.unarmed) {
                this.armSpills();
            }
            const l = stamp(fd, text);
            this.bytes += Buffer.byteLength(l);
            this.lines.push(l);
        }
    },
    flushPartial() {
        for (const fd of [1, 2]) {
            if (this.partial[fd]) {
                const text = this.partial[fd];
                this.partial[fd] = '';
                this.line(fd, text);
            }
        }
    },
    // Unstamped, as the proxy passes them: whoever reads the pipes stamps them.
    passHeld() {
        for (const l of this.lines) {
            this.writers[l[34] === 'e' ? 2 : 1](l.slice(39) + '\n'); // "stdout" or "stderr" at 31
        }
        this.lines = [];
        this.bytes = 0;
    },
    /*
     * A run holds the lines until it answers, or until SPILL_MS before its deadline, when
     * they go on to the pipes (a run the node gives up on leaves them there). Its timer is
     * set by the first line it holds: most runs write nothing and need none.
     */
    hold(limit, deadline) {
        const held = { deadline, timer: undefined, spilled: false };
        this.keep = limit;
        this.holders.add(held);
        this.unarmed ||= deadline > 0;
        if (this.unarmed && this.lines.length) {
            this.armSpills(); // (the init's, say: they would stay held past its deadline)
        }
        return held;
    },
    armSpills() {
        for (const held of this.holders) {
            const due = held.deadline - Date.now() - SPILL_MS;
            // (no deadline, or one past what a timer takes: 2^31 ms would fire at once)
            if (held.timer === undefined && held.deadline > 0 && due < 0x7fffffff) {
                held.timer = setTimeout(() => this.spill(held), Math.max(0, due));
            }
        }
        this.unarmed = false;
    },
    spill(held) {
        held.spilled = true;
        this.release(held);
        if (!this.holders.size) {
            this.passHeld();
        }
    },
    release(held) {
        clearTimeout(held.timer);
        this.holders.delete(held);
    },
    // A failed init's lines go to the proxy, which answers them in band; a good one's
    // join the first run's.
    initDone(ok) {
        this.flushPartial();
        if (!ok) {
            this.passHeld();
        }
        this.release(this.init);
    },
    // The held lines, cut at limit with OpenWhisk's note, as the text of an answer.
    take(limit) {
        this.flushPartial();
        let lines = this.lines, total = 0;
        this.lines = [];
        this.bytes = 0;
        if (limit <= 0) {
            return '';
        }
        for (let i = 0; i < lines.length; i++) {
            total += Buffer.byteLength(lines[i]);
            if (total > limit) {
                lines = lines.slice(0, i);
                lines.push(stamp(2, `Logs were truncated because the total bytes size exceeds the limit of ${limit} bytes.`));
                break;
            }
        }
        return lines.length ? lines.join('\n') + '\n' : '';
    },
    // A run that did not take its lines in band (spilled, or never asked): out on the
    // pipes with the sentinels, as any OpenWhisk runtime ends an activation.
    endOnPipes() {
        this.flushPartial();
        this.passHeld();
        this.writers[1](SENTINEL + '\n');
        this.writers[2](SENTINEL + '\n');
    },
};

/* The answer: logs (in band, when the run asked for them) before the body's JSON text. */
function send(res, status, body, logs, extra) {
    let text;
    try {
        text = logs === undefined ? body : logs + body;
    } catch (e) { // past what a string may hold: the result goes, its logs with it
        [status, text] = errorAnswer(e);
        logs = logs === undefined ? undefined : '';
    }
    const headers = { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) };
    if (logs !== undefined) {
        headers['X-Xwhisk-Logs'] = Buffer.byteLength(logs);
    }
    res.writeHead(status, Object.assign(headers, extra));
    res.end(text);
}

/* A /run body as the proxy accepts it: an object whose value is a dictionary or an
 * array (none is {}); otherwise why not. */
function runMessage(chunks) {
    let msg;
    try {
        msg = JSON.parse(chunks.length === 1 ? chunks[0].toString() : Buffer.concat(chunks).toString());
    } catch (e) {
        return 'Bad request.';
    }
    if (msg === null || typeof msg !== 'object' || Array.isArray(msg)) {
        return 'Bad request.';
    }
    if (msg.value === undefined || msg.value === null) {
        msg.value = {};
    } else if (typeof msg.value !== 'object') {
        return 'The action did not receive a dictionary or array as an argument.';
    }
    return msg;
}

function serveRuns(port, concurrency, ready) {
    const http = require('http');
    const allowed = concurrency > 1 ? concurrency : 1;
    let inflight = 0, stopped = false;

    const server = http.createServer((req, res) => {
        res.sendDate = false;
        const limitHeader = req.headers['x-xwhisk-logs'];
        const limit = limitHeader !== undefined && /^[0-9]+$/.test(limitHeader) ? Number(limitHeader) : -1;
        // Refused before anything ran: its logs are the next run's.
        const refuse = (status, error, extra) =>
            send(res, status, JSON.stringify({ error }), limit >= 0 ? '' : undefined, extra);
        if (req.method !== 'POST' || req.url !== '/run') {
            req.resume();
            return refuse(500, 'Bad request.');
        }
        const chunks = [];
        req.on('data', (c) => chunks.push(c));
        // Judged once whole, in the order xwhisk-proxy's handle_run judges a run: a request
        // whose body never comes whole holds no room.
        req.on('end', () => {
            if (stopped) {
                return refuse(403, STOPPED_MSG);
            }
            if (inflight >= allowed) {
                return refuse(429, `Too many concurrent requests in flight (count: ${inflight}, allowed: ${allowed}).`,
                    { 'Retry-After': '1' });
            }
            const msg = runMessage(chunks);
            if (typeof msg === 'string') {
                return refuse(400, msg);
            }
            inflight++;
            const held = limit >= 0 ? capture.hold(limit, Number(msg.deadline)) : undefined;
            runAction(msg, (status, json, stop) => {
                stopped ||= stop;
                inflight--;
                if (held && !held.spilled) {
                    const logs = capture.take(limit); // still held: an unfinished line is its
                    capture.release(held);
                    send(res, status, json, logs);
                } else {
                    capture.endOnPipes();
                    send(res, status, json);
                }
            });
        });
    });
    // The node keeps its connections open between runs and bounds a run itself.
    server.keepAliveTimeout = 0;
    server.requestTimeout = 0;
    server.headersTimeout = 0;
    const failed = (e) => ready(e);
    server.once('error', failed);
    server.listen(port, '0.0.0.0', () => {
        server.off('error', failed);
        server.on('error', (e) => console.error('xwhisk: the run server:', e.message));
        ready();
    });
}

function init(msg) {
    for (const [k, v] of Object.entries(msg.env || {})) {
        process.env[k] = v;
    }
    const direct = msg.run_port > 0 && process.env.__OW_WEB_STREAM !== 'true';
    if (direct) {
        capture.start(msg.logs);
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
        if (direct) {
            serveRuns(msg.run_port, msg.concurrency, (error) => {
                // Without it, runs keep coming through the proxy, which works as before.
                if (error) {
                    console.error('xwhisk: no run server, runs go through the proxy:', error.message);
                }
                capture.initDone(true);
                answer(error ? { ok: true } : { ok: true, run_port: msg.run_port });
            });
            return;
        }
        answer({ ok: true });
    } catch (error) {
        console.error('Error during initialization:', error);
        if (direct) {
            capture.initDone(false);
        }
        answer({ error: `Initialization has failed due to: ${error && error.stack ? String(error.stack) : error}` });
    }
}

/*
 * The answer goes once what the action logged is out: Node.js writes to a full pipe
 * later, and the proxy's end-of-activation sentinels, written when the answer comes,
 * would otherwise overtake those lines (and they would land in the next activation).
 */
function reply(id, status, json, stop) {
    const line = `{"id":${id},"status":${status},"body":${json}${stop ? ',"stop":true' : ''}}`;
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

const owEnv = new Map(); // field -> the value its __OW_ variable holds

/* An error answer (502) and its JSON text. */
function errorAnswer(e) {
    return [502, JSON.stringify({ error: `An error has occurred: ${e}` })];
}

/* One activation, however it came: answer(status, json, stop) once it has an answer, json
 * the body's text (a result JSON cannot hold is a 502). */
function runAction(msg, answer) {
    const done = (status, body, stop) => {
        let json;
        try {
            json = JSON.stringify(body);
        } catch (e) {
            [status, json] = errorAnswer(e);
        }
        answer(status, json, stop === true);
    };
    // Per-activation fields become __OW_* variables (with concurrency, the last one wins);
    // only those that changed are set again (each is a setenv).
    for (const k in msg) {
        const v = msg[k];
        if (typeof v === 'string' && k !== 'value' && owEnv.get(k) !== v) {
            owEnv.set(k, v);
            process.env['__OW_' + k.toUpperCase()] = v;
        }
    }
    let result;
    try {
        result = handler(msg.value);
    } catch (error) {
        console.error(error);
        done(502, { error: `An error has occurred: ${error}` }, true);
        return;
    }
    const settled = (r) => {
        if (r === undefined) {
            r = {};
        }
        if (typeof r !== 'object') {
            console.error(`Result must be of type object but has type "${typeof r}":`, r);
            done(502, { error: 'The action did not return a dictionary.' });
        } else {
            done(200, r);
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
        runAction(msg.run, (status, body, stop) => reply(msg.id, status, body, stop));
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
