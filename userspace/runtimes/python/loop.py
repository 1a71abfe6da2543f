# SPDX-License-Identifier: Apache-2.0
"""The Python language loop of xwhisk-proxy (protocol: userspace/proxy/mode_loop.c).

It starts with the sandbox, before the action is known: /init only loads the code.
Semantics follow apache/openwhisk-runtime-python: the action is __main__.py (the
source, or the file of that name in a zip, with an optional virtualenv/), main is
looked up in it, an exception becomes {"error": str(e)} (an application error) with
its traceback in the logs, and a result that is neither a dict nor a list gets 502
"The action did not return a dictionary or array.". One activation at a time.

A streaming web action (annotation web-stream, an xwhisk extension: __OW_WEB_STREAM is
"true" at /init) has a WSGI callable main(environ, start_response), served on STREAM_PORT
beside the proxy, one thread per connection; the node splices each client's connection to
it (one request is one activation).

With --zygote it is a fork-server instead (userspace/sandbox/zygote.h): it imports
everything once, then forks a ready loop into each new sandbox it is handed.
"""
import importlib.util
import json
import os
import sys
import traceback

RESULT_FD = 3
STREAM_PORT = 8081
PER_RUN_ENV = ("__OW_ACTIVATION_ID", "__OW_TRANSACTION_ID", "__OW_DEADLINE")


class PerRunEnv:
    """The three __OW_* variables that take a new value at every run, set without a new
    setenv(3) string each time: glibc keeps every value setenv was ever given (91 MB per
    million assignments of os.environ, until a busy sandbox meets its memory limit). Each
    variable is one buffer of ours, handed to putenv(3) once (putenv keeps the pointer,
    copies nothing) and rewritten in place; os.environ's own dict is updated beside it.
    The C environment stays right, so child processes and getenv() see every run's value.
    A value too long for the buffer, or no libc to call, takes os.environ as before."""

    SIZE = 256

    def __init__(self):
        try:
            import ctypes
            self.ctypes = ctypes
            self.libc = ctypes.CDLL(None)
            self.libc.getenv.restype = ctypes.c_void_p
        except (ImportError, OSError, AttributeError):
            self.libc = None
        self.bufs = {}

    def set(self, key, value):
        data = ("%s=%s" % (key, value)).encode()
        if self.libc is None or len(data) >= self.SIZE or b"\0" in data:
            os.environ[key] = value
            return
        buf = self.bufs.get(key)
        if buf is None:
            buf = self.bufs[key] = self.ctypes.create_string_buffer(self.SIZE)
        buf.value = data
        # Ours unless something set the variable since (os.environ, a library): then again.
        if self.libc.getenv(key.encode()) != self.ctypes.addressof(buf) + len(key) + 1:
            if self.libc.putenv(buf) != 0:
                os.environ[key] = value
                return
        os.environ._data[os.environ.encodekey(key)] = os.environ.encodevalue(value)


per_run_env = PerRunEnv()
# Each sandbox imports its action once: a bytecode cache would only cost writes.
sys.dont_write_bytecode = True


def serve_stream(app):
    """Serves the WSGI callable app on STREAM_PORT from a thread of its own. wsgiref reads
    the body from the socket as the app asks for it and writes each piece the app yields
    as it comes: nothing is buffered whole. A request's end writes the sentinels that end
    its activation's logs."""
    import socketserver
    import threading
    from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

    class Handler(WSGIRequestHandler):
        def log_message(self, *args):
            pass

        def handle(self):
            try:
                super().handle()
            finally:
                # A connection that carried no request (a liveness probe) ends nothing.
                if getattr(self, "raw_requestline", b""):
                    sys.stdout.write("XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX\n")
                    sys.stderr.write("XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX\n")
                    sys.stdout.flush()
                    sys.stderr.flush()

    class Server(socketserver.ThreadingMixIn, WSGIServer):
        daemon_threads = True
        allow_reuse_address = True

    server = Server(("0.0.0.0", STREAM_PORT), Handler)
    server.set_app(app)
    threading.Thread(target=server.serve_forever, daemon=True).start()


def dump(obj):
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class Loop:
    def __init__(self, out):
        self.out = out
        self.main = None

    def answer(self, msg):
        sys.stdout.flush()
        sys.stderr.flush()
        self.out.write(dump(msg) + b"\n")
        self.out.flush()

    def init(self, msg):
        for key, value in (msg.get("env") or {}).items():
            os.environ[key] = value
        folder = msg["dir"]
        entry = os.path.join(folder, "__main__.py")
        try:
            if not msg.get("binary"):
                with open(entry, "w", encoding="utf-8") as f:
                    f.write(msg["code"])
            elif not os.path.exists(entry) and os.path.exists(os.path.join(folder, "exec")):
                os.rename(os.path.join(folder, "exec"), entry)
            if not os.path.exists(entry):
                raise ImportError("Zip file does not include __main__.py")
            activate = os.path.join(folder, "virtualenv", "bin", "activate_this.py")
            if os.path.exists(activate):
                with open(activate) as f:
                    exec(compile(f.read(), activate, "exec"), {"__file__": activate})
            sys.path.insert(0, folder)
            os.chdir(folder)
            spec = importlib.util.spec_from_file_location("main__", entry)
            module = importlib.util.module_from_spec(spec)
            sys.modules["main__"] = module
            if msg.get("binary"):
                spec.loader.exec_module(module)
            else:
                # Compiled from the message, not read back; the file is for tracebacks.
                exec(compile(msg["code"], entry, "exec"), module.__dict__)
            main = getattr(module, msg.get("main") or "main", None)
            if not callable(main):
                raise AttributeError("Action entrypoint '%s' is not a function." % msg.get("main"))
            self.main = main
            if os.environ.get("__OW_WEB_STREAM") == "true":
                serve_stream(main)
            self.answer({"ok": True})
        except Exception as ex:
            traceback.print_exc(file=sys.stderr)
            reason = traceback.format_exception_only(type(ex), ex)[-1].strip()
            self.answer({"error": "Initialization has failed due to: " + reason})

    def run(self, rid, msg):
        for key, value in msg.items():
            if key != "value" and isinstance(value, str):
                name = "__OW_" + key.upper()
                if name in PER_RUN_ENV:
                    per_run_env.set(name, value)
                elif os.environ.get(name) != value:
                    os.environ[name] = value
        try:
            result = self.main(msg.get("value", {}))
        except Exception as ex:
            traceback.print_exc(file=sys.stderr)
            result = {"error": str(ex)}
        if not isinstance(result, (dict, list)):
            self.answer({"id": rid, "status": 502,
                         "body": {"error": "The action did not return a dictionary or array."}})
            return
        try:
            dump(result)
        except Exception as ex:
            self.answer({"id": rid, "status": 502,
                         "body": {"error": "An error has occurred: %s" % ex}})
            return
        self.answer({"id": rid, "status": 200, "body": result})

    def serve(self):
        # One write per line: timestamps stay true and stdout interleaves with stderr.
        sys.stdout.reconfigure(line_buffering=True)
        self.answer({"ok": True, "concurrent": False, "pid": os.getpid()})
        stdin = sys.stdin.buffer
        while True:
            line = stdin.readline()
            if not line:
                return
            msg = json.loads(line)
            if "init" in msg:
                self.init(msg["init"])
            elif "run" in msg:
                self.run(msg.get("id"), msg["run"])


def serve():
    Loop(os.fdopen(RESULT_FD, "wb", buffering=0)).serve()


# ---- the zygote ----

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
# The sandboxes' seccomp filter, from the manager (userspace/sandbox/syscall_filter.h).
SECCOMP_FD = 4


def warm_up():
    """Runs the paths every /init and /run take. Once in the zygote, so that what the
    first compile() sets up is made before forking and shared (a tenfold cheaper compile
    in every loop); then once in each loop, so that its copy-on-write faults are paid
    while the stem cell is made, not during a cold start."""
    scope = {}
    exec(compile("def main(a):\n    return {'a': a}\n", "<warm-up>", "exec"), scope)
    json.loads(dump(scope["main"]({"k": [1, "x", 2.5, None, True]})))


def load_seccomp(ctypes):
    """The manager's compiled filter as a struct sock_fprog for prctl. Without it the
    zygote stops: a loop must never run an action unfiltered."""
    prog = os.pread(SECCOMP_FD, os.fstat(SECCOMP_FD).st_size, 0)
    os.close(SECCOMP_FD)
    if not prog or len(prog) % 8:
        raise ValueError("bad seccomp filter (%d bytes)" % len(prog))

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    insns = ctypes.create_string_buffer(prog, len(prog))
    fprog = SockFprog(len(prog) // 8, ctypes.addressof(insns))
    fprog.insns = insns  # kept alive with it
    return fprog


def zygote_child(libc, req, fds, fprog):
    """In the new sandbox's PID namespace: finish entering it, drop everything, serve."""
    import ctypes
    import signal

    setns, prctl = libc.setns, libc.prctl
    pidfd, loop_in, loop_out, out, err = fds
    try:
        # Out of the node's process group: a kill of that group must not reach sandboxes.
        os.setsid()
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        for path in req["cgroups"]:
            with open(path, "w") as f:
                f.write("0")
        if setns(pidfd, CLONE_NEWNET | CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS):
            raise OSError(ctypes.get_errno(), "setns")
        os.chdir("/")
        os.dup2(loop_in, 0)
        os.dup2(out, 1)
        os.dup2(err, 2)
        os.dup2(loop_out, RESULT_FD)
        os.closerange(RESULT_FD + 1, 1 << 20)
        # The bounding set is already empty (the zygote's); the uid change clears the rest.
        os.setgroups([])
        os.setresgid(req["gid"], req["gid"], req["gid"])
        os.setresuid(req["uid"], req["uid"], req["uid"])
        if prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0):
            raise OSError(ctypes.get_errno(), "no_new_privs")
        # Last, as the sandbox's init does before it execs: the action's code runs under it.
        if prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0):
            raise OSError(ctypes.get_errno(), "seccomp")
        os.umask(0o022)
        os.environ.clear()
        os.environ.update(req["env"])
        warm_up()
        serve()
    except BaseException as ex:  # noqa: B902 - nothing may escape a forked child
        # Before the dup2s this is the node's stderr: one line, no traceback, and none
        # for a sandbox destroyed before its loop could enter it.
        if not isinstance(ex, ProcessLookupError):
            sys.stderr.write("xwhisk zygote: cannot start a loop in the sandbox: %r\n" % ex)
        os._exit(1)
    os._exit(0)


def zygote():
    import ctypes
    import gc
    import signal
    import socket

    libc = ctypes.CDLL(None, use_errno=True)
    try:
        fprog = load_seccomp(ctypes)
    except (OSError, ValueError) as ex:
        sys.stderr.write("xwhisk zygote: no seccomp filter on fd %d: %r\n" % (SECCOMP_FD, ex))
        os._exit(1)
    # Looked up once here rather than in every child.
    libc.setns, libc.prctl  # noqa: B018
    # Emptied once here, inherited by every loop: no capability can come back through
    # exec. The zygote keeps its own effective ones (setns needs them).
    with open("/proc/sys/kernel/cap_last_cap") as f:
        for cap in range(int(f.read()) + 1):
            libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)
    own_pidns = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
    ctl = socket.socket(fileno=3)

    def reap(signum, frame):
        # A loop's zombie would keep its sandbox's init from ever being reaped.
        try:
            while os.waitpid(-1, os.WNOHANG)[0] > 0:
                pass
        except ChildProcessError:
            pass

    signal.signal(signal.SIGCHLD, reap)
    warm_up()
    # What exists now is shared with every loop: keep the collector from touching (and
    # so copying) it in each of them.
    gc.collect()
    gc.freeze()
    ctl.send(b'{"ready":true}')
    while True:
        msg, fds, _, _ = socket.recv_fds(ctl, 1 << 16, 8)
        if not msg:
            os._exit(0)
        try:
            req = json.loads(msg)
            if len(fds) != 5:
                raise ValueError("expected 5 fds, got %d" % len(fds))
            if libc.setns(fds[0], CLONE_NEWPID):
                raise OSError(ctypes.get_errno(), "setns pid")
            try:
                pid = os.fork()
                if pid == 0:
                    zygote_child(libc, req, fds, fprog)
            finally:
                if libc.setns(own_pidns, CLONE_NEWPID):
                    os._exit(1)  # forking into the wrong namespace from now on
            ctl.send(dump({"ok": True, "pid": pid}))
        except Exception as ex:
            ctl.send(dump({"error": str(ex)}))
        finally:
            for fd in fds:
                os.close(fd)


if __name__ == "__main__":
    if "--zygote" in sys.argv[1:]:
        zygote()
    else:
        serve()
