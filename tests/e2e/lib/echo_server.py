#!/usr/bin/env python3
"""Echo server for the e2e testbed's backends: TCP and UDP on one port (default
7). Every reply is "NAME DATA", so a client can tell which backend answered.
Standard library only; runs until killed.

    echo_server.py NAME [--port 7]
"""
import argparse
import socket
import socketserver


def main():
    p = argparse.ArgumentParser()
    p.add_argument("name")
    p.add_argument("--port", type=int, default=7)
    a = p.parse_args()
    tag = a.name.encode() + b" "

    class Tcp(socketserver.BaseRequestHandler):
        def handle(self):
            self.request.settimeout(120)
            try:
                while True:
                    data = self.request.recv(4096)
                    if not data:
                        return
                    self.request.sendall(tag + data)
            except OSError:
                return

    class Udp(socketserver.BaseRequestHandler):
        def handle(self):
            data, sock = self.request
            sock.sendto(tag + data, self.client_address)

    socketserver.ThreadingTCPServer.allow_reuse_address = True
    socketserver.ThreadingTCPServer.daemon_threads = True
    tcp = socketserver.ThreadingTCPServer(("0.0.0.0", a.port), Tcp)
    udp = socketserver.UDPServer(("0.0.0.0", a.port), Udp)
    import threading
    threading.Thread(target=udp.serve_forever, daemon=True).start()
    print(f"echo {a.name} listening on tcp/udp {a.port}", flush=True)
    tcp.serve_forever()


if __name__ == "__main__":
    main()
