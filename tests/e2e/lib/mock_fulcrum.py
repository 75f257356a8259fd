#!/usr/bin/env python3
"""A tiny stand-in for the fulcrum binary, used only to check the e2e test
scripts themselves (FULCRUM_BIN=tests/e2e/lib/mock_fulcrum.py). Same command
line and log lines as fulcrum's contract; OpenFlow 1.0 and 1.3; no flow entries
besides a table-miss: every packet goes through the controller as a packet-out
(slow, but simple and exact). Standard library only. Not a load balancer to
use for anything else.
"""
import argparse
import random
import signal
import socket
import struct
import sys
import threading
import time

V10, V13 = 1, 4


def log(msg):
    sys.stderr.write(time.strftime("%H:%M:%S ") + msg + "\n")
    sys.stderr.flush()


def mac_s(b):
    return ":".join(f"{x:02x}" for x in b)


def mac_b(s):
    return bytes.fromhex(s.replace(":", ""))


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


class Switch:
    def __init__(self, sock, args):
        self.sock, self.a = sock, args
        self.version = V13
        self.dpid = None
        self.macs = {}        # mac -> port
        self.backends = {}    # ip -> (mac, port)
        self.conns = {}       # (proto, client ip, client port) -> backend ip
        self.client_mac = {}  # client ip -> mac
        self.rr = 0
        self.rng = random.Random(args.seed)
        self.xid = 100
        self.lock = threading.Lock()

    # -- wire
    def send(self, mtype, body=b"", version=None, xid=None):
        v = version or self.version
        if xid is None:
            self.xid += 1
            xid = self.xid
        with self.lock:
            self.sock.sendall(struct.pack("!BBHI", v, mtype, 8 + len(body), xid) + body)

    def recv_exact(self, n):
        b = b""
        while len(b) < n:
            d = self.sock.recv(n - len(b))
            if not d:
                raise ConnectionError("eof")
            b += d
        return b

    def port_enc(self, p):
        return p if self.version == V13 else (p & 0xFFFF if p < 0xFFFFFF00 else (p & 0xFFFF) | 0xFF00)

    def packet_out(self, in_port, actions, data):
        if self.version == V13:
            acts = b""
            for a in actions:
                if a[0] == "out":
                    acts += struct.pack("!HHIH6x", 0, 16, a[1], 0xFFFF)
                else:
                    field = {"eth_dst": 3, "eth_src": 4, "ip_src": 11, "ip_dst": 12}[a[0]]
                    val = mac_b(a[1]) if a[0].startswith("eth") else socket.inet_aton(a[1])
                    oxm = struct.pack("!HBB", 0x8000, field << 1, len(val)) + val
                    ln = (4 + len(oxm) + 7) // 8 * 8
                    acts += struct.pack("!HH", 25, ln) + oxm + b"\0" * (ln - 4 - len(oxm))
            body = struct.pack("!IIH6x", 0xFFFFFFFF, in_port, len(acts)) + acts + data
            self.send(13, body)
        else:
            acts = b""
            for a in actions:
                if a[0] == "out":
                    acts += struct.pack("!HHHH", 0, 8, self.port_enc(a[1]), 0xFFFF)
                elif a[0] in ("eth_src", "eth_dst"):
                    acts += struct.pack("!HH6s6x", 4 if a[0] == "eth_src" else 5, 16, mac_b(a[1]))
                else:
                    acts += struct.pack("!HH4s", 6 if a[0] == "ip_src" else 7, 8, socket.inet_aton(a[1]))
            body = struct.pack("!IHH", 0xFFFFFFFF, self.port_enc(in_port), len(acts)) + acts + data
            self.send(13, body)

    # -- session
    def run(self):
        self.send(0, struct.pack("!HHI", 1, 8, (1 << V10) | (1 << V13)), version=V13)
        while True:
            hdr = self.recv_exact(8)
            v, t, ln, xid = struct.unpack("!BBHI", hdr)
            if ln < 8:
                raise ConnectionError("bad length")
            body = self.recv_exact(ln - 8)
            if t == 0:
                self.version = V13 if v >= V13 else V10
                self.send(5)
            elif t == 2:
                self.send(3, body, xid=xid)
            elif t == 6:
                self.dpid = struct.unpack("!Q", body[:8])[0]
                self.setup()
            elif t == 10:
                self.packet_in(body)
            elif t not in (1, 3, 11, 12, 17, 19, 21):
                self.send(1, struct.pack("!HH", 1, 1) + (hdr + body)[:64], xid=xid)

    def setup(self):
        if self.version == V13:
            # delete all, then table-miss -> controller
            self.send(14, struct.pack("!QQBBHHHIIIH2x", 0, 0, 0xFF, 3, 0, 0, 0, 0xFFFFFFFF, 0xFFFFFFFF,
                                      0xFFFFFFFF, 0) + struct.pack("!HH4x", 1, 4))
            inst = struct.pack("!HH4x", 4, 24) + struct.pack("!HHIH6x", 0, 16, 0xFFFFFFFD, 0xFFFF)
            self.send(14, struct.pack("!QQBBHHHIIIH2x", 0, 0, 0, 0, 0, 0, 0, 0xFFFFFFFF, 0xFFFFFFFF,
                                      0xFFFFFFFF, 0) + struct.pack("!HH4x", 1, 4) + inst)
        else:
            self.send(14, struct.pack("!I", 0x3FFFFF) + b"\0" * 36 + struct.pack("!QHHHHIHH", 0, 3, 0, 0, 0, 0xFFFFFFFF, 0xFFFF, 0))
        log(f"switch up dpid={self.dpid:016x} version={'1.3' if self.version == V13 else '1.0'}")
        threading.Thread(target=self.arp_backends, daemon=True).start()

    def arp_backends(self):
        for _ in range(20):
            for ip in self.a.backends:
                if ip in self.backends:
                    continue
                arp = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, mac_b(self.a.fake_mac),
                                  socket.inet_aton(self.a.vip), b"\0" * 6, socket.inet_aton(ip))
                try:
                    self.packet_out(0xFFFFFFFD, [("out", 0xFFFFFFFB)], mac_b("ff:ff:ff:ff:ff:ff") + mac_b(self.a.fake_mac) + b"\x08\x06" + arp)
                except OSError:
                    return
            if len(self.backends) == len(self.a.backends):
                return
            time.sleep(0.5)

    def packet_in(self, body):
        if self.version == V13:
            _, total, reason, table, cookie = struct.unpack("!IHBBQ", body[:16])
            mtype, mlen = struct.unpack("!HH", body[16:20])
            in_port = None
            off = 20
            while off + 4 <= 16 + mlen:
                cls, fh, fl = struct.unpack("!HBB", body[off:off + 4])
                if cls == 0x8000 and fh >> 1 == 0 and fl == 4:
                    in_port = struct.unpack("!I", body[off + 4:off + 8])[0]
                off += 4 + fl
            data = body[16 + (mlen + 7) // 8 * 8 + 2:]
        else:
            _, total, in_port, reason = struct.unpack("!IHHB", body[:9])
            data = body[10:]
        if in_port is None or len(data) < 14:
            return
        dst, src, et = data[:6], data[6:12], struct.unpack("!H", data[12:14])[0]
        self.macs[src] = in_port
        vip = socket.inet_aton(self.a.vip)
        if et == 0x0806 and len(data) >= 42:
            op = struct.unpack("!H", data[20:22])[0]
            sha, spa, tpa = data[22:28], data[28:32], data[38:42]
            if op == 1 and tpa == vip:
                fake = mac_b(self.a.fake_mac)
                arp = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 2, fake, vip, sha, spa)
                self.packet_out(0xFFFFFFFD, [("out", in_port)], sha + fake + b"\x08\x06" + arp)
                return
            if op == 1 and socket.inet_ntoa(spa) in self.backends and socket.inet_ntoa(tpa) in self.client_mac:
                # a backend asking for a client: answer with the fake MAC (the client never sees it)
                fake = mac_b(self.a.fake_mac)
                arp = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 2, fake, tpa, sha, spa)
                self.packet_out(0xFFFFFFFD, [("out", in_port)], sha + fake + b"\x08\x06" + arp)
                return
            if op == 2 and tpa == vip:
                ip = socket.inet_ntoa(spa)
                if ip in self.a.backends and ip not in self.backends:
                    self.backends[ip] = (mac_s(sha), in_port)
                    log(f"backend learned vip={self.a.vip} backend={ip} mac={mac_s(sha)} port={in_port}")
                return
        if et == 0x0800 and len(data) >= 34:
            ihl = (data[14] & 15) * 4
            proto = data[23]
            sip, dip = data[26:30], data[30:34]
            l4 = data[14 + ihl:]
            if dip == vip and proto == 1 and len(l4) >= 8 and l4[0] == 8:
                ip = bytearray(data[14:14 + ihl])
                ip[12:16], ip[16:20] = dip, sip
                icmp = bytearray(l4)
                icmp[0] = 0
                icmp[2:4] = b"\0\0"
                icmp[2:4] = struct.pack("!H", csum(bytes(icmp)))
                self.packet_out(0xFFFFFFFD, [("out", in_port)], src + mac_b(self.a.fake_mac) + b"\x08\x00" + bytes(ip) + bytes(icmp))
                return
            if dip == vip and proto in (6, 17) and len(l4) >= 4:
                sport = struct.unpack("!H", l4[:2])[0]
                key = (proto, socket.inet_ntoa(sip), sport)
                be = self.conns.get(key)
                if be is None:
                    ready = [b for b in self.a.backends if b in self.backends]
                    if not ready:
                        return
                    if self.a.policy == "random":
                        be = self.rng.choice(ready)
                    else:
                        be = ready[self.rr % len(ready)]
                        self.rr += 1
                    self.conns[key] = be
                    self.client_mac[key[1]] = src
                    if self.a.log_level == "debug":
                        log(f"connection assigned vip={self.a.vip} client={key[1]}:{sport} proto={'tcp' if proto == 6 else 'udp'} backend={be}")
                bmac, bport = self.backends[be]
                self.packet_out(in_port, [("eth_src", self.a.fake_mac), ("eth_dst", bmac), ("ip_dst", be), ("out", bport)], data)
                return
            sips = socket.inet_ntoa(sip)
            if sips in self.backends and proto in (6, 17) and len(l4) >= 4:
                sport, dport = struct.unpack("!HH", l4[:4])
                key = (proto, socket.inet_ntoa(dip), dport)
                if self.conns.get(key) == sips and sport == self.a.vip_port:
                    cmac = self.client_mac.get(key[1])
                    out = self.macs.get(cmac)
                    if out is not None:
                        self.packet_out(in_port, [("eth_src", self.a.fake_mac), ("eth_dst", mac_s(cmac)), ("ip_src", self.a.vip), ("out", out)], data)
                    return
        out = self.macs.get(dst)
        self.packet_out(in_port, [("out", out if out is not None else 0xFFFFFFFB)], data)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--listen", required=True)
    p.add_argument("--vip", required=True)
    p.add_argument("--backends", required=True)
    p.add_argument("--policy", default="round-robin")
    p.add_argument("--vip-port", type=int, default=80)
    p.add_argument("--fake-mac", default="02:00:00:00:00:fe")
    p.add_argument("--idle-timeout", type=int, default=10)
    p.add_argument("--log-level", default="info")
    p.add_argument("--of-versions", default="1.0,1.3")
    p.add_argument("--no-learning-switch", action="store_true")
    p.add_argument("--pid-file")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--config")
    a = p.parse_args()
    a.backends = a.backends.split(",")
    host, port = a.listen.rsplit(":", 1)
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((host, int(port)))
    srv.listen(16)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    log(f"listening on {host}:{port}")
    while True:
        c, _ = srv.accept()
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def serve(c=c):
            sw = Switch(c, a)
            try:
                sw.run()
            except Exception as e:  # noqa: BLE001 - a mock: log and drop the connection
                if sw.dpid is not None:
                    log(f"switch down dpid={sw.dpid:016x} ({e})")
            finally:
                c.close()
        threading.Thread(target=serve, daemon=True).start()


if __name__ == "__main__":
    main()
