# SPDX-License-Identifier: Apache-2.0
"""The well-behaved side of tests/netns/guard_flood.sh (and its tiny TCP server).

  guard_client.py serve ADDR PORT             answers "ok\\n" to each line, holds connections
  guard_client.py probe HOST PORT N GAP TMO   N connections, GAP s apart, each must answer
                                              within TMO s; prints "ok=X fail=Y"
  guard_client.py hold HOST PORT K SECONDS    opens K connections and holds them; prints
                                              "held=X" once they are up
"""
import socket
import socketserver
import sys
import time


def connect(host, port, timeout):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect((host, port))
    return s


def ask(host, port, timeout):
    try:
        with connect(host, port, timeout) as s:
            s.sendall(b"hi\n")
            return s.recv(16) == b"ok\n"
    except OSError:
        return False


class Handler(socketserver.StreamRequestHandler):
    def handle(self):
        for _ in self.rfile:
            self.wfile.write(b"ok\n")


class Server(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024


def main():
    cmd = sys.argv[1]
    if cmd == "serve":
        addr, port = sys.argv[2], int(sys.argv[3])
        if ":" in addr:
            Server.address_family = socket.AF_INET6
        with Server((addr, port), Handler) as srv:
            srv.serve_forever()
    elif cmd == "probe":
        host, port, n = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
        gap, tmo = float(sys.argv[5]), float(sys.argv[6])
        ok = 0
        for _ in range(n):
            ok += ask(host, port, tmo)
            time.sleep(gap)
        print(f"ok={ok} fail={n - ok}", flush=True)
    elif cmd == "hold":
        host, port, k, secs = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
        held = []
        for _ in range(k):
            try:
                s = connect(host, port, 2)
                s.sendall(b"hi\n")
                if s.recv(16) == b"ok\n":
                    held.append(s)
            except OSError:
                pass
        print(f"held={len(held)}", flush=True)
        time.sleep(secs)
    else:
        sys.exit(2)


if __name__ == "__main__":
    main()
