#!/usr/bin/env python3
"""Backend web server for the experiments: every GET does a fixed amount of CPU
work (a chain of SHA-256 hashes, --work rounds) and returns a small HTML page
naming the server, so the server's CPU share decides how fast it answers, as in
the paper, whose servers were CPU-limited. One access-log line per request on
stdout ("NAME GET /path HTTP/1.0 status"), which the runner counts. Standard library
only; runs until SIGTERM.

    web_server.py NAME [--port 80] [--work 20000]
    web_server.py --calibrate [--work 20000]   # prints CPU ms per request here
"""
import argparse
import hashlib
import http.server
import signal
import socketserver
import sys
import time


def work(rounds):
    h = b"fulcrum"
    for _ in range(rounds):
        h = hashlib.sha256(h).digest()
    return h.hex()[:16]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("name", nargs="?", default="srv")
    p.add_argument("--port", type=int, default=80)
    p.add_argument("--work", type=int, default=20000, help="SHA-256 rounds per request")
    p.add_argument("--calibrate", action="store_true")
    a = p.parse_args()
    if a.calibrate:
        n = 20
        t0 = time.process_time()
        for _ in range(n):
            work(a.work)
        print("%.2f ms of CPU per request (work=%d)" % ((time.process_time() - t0) * 1000 / n, a.work))
        return
    name = a.name
    rounds = a.work

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def do_GET(self):
            digest = work(rounds)
            body = ("<html><body><h1>%s</h1><p>%s</p>%s</body></html>\n"
                    % (name, digest, "x" * 512)).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("X-Server", name)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, fmt, *args):
            pass

        def log_request(self, code="-", size="-"):
            sys.stdout.write("%s %s %s\n" % (name, self.requestline, code))
            sys.stdout.flush()

    class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
        daemon_threads = True
        allow_reuse_address = True
        request_queue_size = 1024

    srv = Server(("0.0.0.0", a.port), Handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print("%s listening on %d (work=%d)" % (name, a.port, rounds), flush=True)
    try:
        srv.serve_forever()
    finally:
        srv.server_close()


if __name__ == "__main__":
    main()
