#!/usr/bin/env python3
"""Record what a real Open vSwitch sends to an OpenFlow controller.

Regenerates tests/golden/openflow/ovs-captures/*.hex, decoded by
tests/unit/openflow/ovs_capture_test.cpp. Needs root and a running OVS
(ovs-vsctl show). Creates, and removes afterwards, only things named ofcap-*:
bridge ofcap-br0 (datapath_type=netdev), veth ofcap-v0/ofcap-v1, netns
ofcap-ns. No address is assigned to any interface (IPv6 is disabled on the
veth ends so the kernel does not add link-local ones).

For each of OpenFlow 1.0 and 1.3 it runs a throwaway controller on a free
127.0.0.1 port that does the hello exchange, asks for features, port
descriptions, port and flow stats, sends Fulcrum's load-balancer flow-mod
(from the golden files) plus a bad one, then provokes port-status (veth
added/removed), packet-in (a TCP SYN sent from the namespace) and
flow-removed (ovs-ofctl del-flows), saving the first frame of each kind.

Usage: sudo python3 capture_ovs.py
"""
import os
import socket
import struct
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "ovs-captures")
BR, V0, V1, NS = "ofcap-br0", "ofcap-v0", "ofcap-v1", "ofcap-ns"

# A TCP SYN 02:00:00:00:00:01 10.0.0.1:50001 -> 02:00:00:00:00:fe 10.0.0.254:80
# (source port 50001: Fulcrum's flow-mod, installed first, matches 50000).
SYN = bytes.fromhex(
    "0200000000fe0200000000010800"
    "450000280001000040060000" "0a0000010a0000fe"
    "c351005000000001000000005002ffff00000000")

NAMES10 = {0: "hello", 1: "error", 2: "echo-request", 3: "echo-reply", 6: "features-reply",
           8: "get-config-reply", 10: "packet-in", 11: "flow-removed", 12: "port-status", 17: "stats-reply",
           19: "barrier-reply"}
NAMES13 = {0: "hello", 1: "error", 2: "echo-request", 3: "echo-reply", 6: "features-reply",
           8: "get-config-reply", 10: "packet-in", 11: "flow-removed", 12: "port-status", 19: "multipart-reply",
           21: "barrier-reply", 25: "role-reply"}


def sh(*args, check=True):
    return subprocess.run(list(args), check=check, capture_output=True, text=True)


def golden_hex(name):
    with open(os.path.join(HERE, name + ".txt")) as f:
        for line in f:
            if line.startswith("hex: "):
                return bytes.fromhex(line[5:].strip())
    raise SystemExit("no hex in " + name)


def msg(version, mtype, xid, body=b""):
    return struct.pack("!BBHI", version, mtype, 8 + len(body), xid) + body


class Conn:
    def __init__(self, sock):
        self.sock = sock
        self.frames = []
        self.lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        buf = b""
        while True:
            try:
                data = self.sock.recv(65536)
            except OSError:
                return
            if not data:
                return
            buf += data
            while len(buf) >= 8:
                length = struct.unpack("!H", buf[2:4])[0]
                if length < 8 or len(buf) < length:
                    break
                with self.lock:
                    self.frames.append(buf[:length])
                buf = buf[length:]

    def send(self, b):
        self.sock.sendall(b)

    def wait(self, pred, timeout=10.0):
        end = time.time() + timeout
        while time.time() < end:
            with self.lock:
                for f in self.frames:
                    if pred(f):
                        return f
            time.sleep(0.05)
        return None


def save(tag, name, frame, note):
    if frame is None:
        print("NOT CAPTURED:", tag, name, file=sys.stderr)
        return
    path = os.path.join(OUT, "%s-%s.hex" % (tag, name))
    with open(path, "w") as f:
        f.write("# %s\n# Captured from Open vSwitch %s by tests/golden/openflow/capture_ovs.py.\n" % (note, ovs_version()))
        for i in range(0, len(frame), 32):
            f.write(frame[i:i + 32].hex() + "\n")
    print("saved", path, len(frame), "bytes")


def ovs_version():
    return sh("ovs-vsctl", "--version").stdout.split("\n")[0].split()[-1]


def cleanup():
    sh("ovs-vsctl", "--if-exists", "del-br", BR, check=False)
    sh("ip", "link", "del", V0, check=False)
    sh("ip", "netns", "del", NS, check=False)


def run(version):
    v13 = version == 4
    tag = "of13" if v13 else "of10"
    proto = "OpenFlow13" if v13 else "OpenFlow10"
    names = NAMES13 if v13 else NAMES10
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    srv.settimeout(20)
    port = srv.getsockname()[1]
    sh("ovs-vsctl", "add-br", BR, "--", "set", "bridge", BR, "datapath_type=netdev", "protocols=" + proto,
       "fail_mode=secure", "--", "set-controller", BR, "tcp:127.0.0.1:%d" % port)
    sock, _ = srv.accept()
    srv.close()
    c = Conn(sock)
    typ = lambda t, xid=None: (lambda f: f[1] == t and (xid is None or struct.unpack("!I", f[4:8])[0] == xid))

    hello = c.wait(typ(0))
    save(tag, "hello", hello, "The switch's hello (%s-only bridge)." % proto)
    c.send(msg(version, 0, 1, struct.pack("!HHI", 1, 8, 1 << version)))
    c.send(msg(version, 5, 2))  # features request
    save(tag, "features-reply", c.wait(typ(6, 2)), "Features reply to xid 2.")
    c.send(msg(version, 9, 3, struct.pack("!HH", 0, 0xffff)))  # set-config
    c.send(msg(version, 7, 4))  # get-config request
    save(tag, "get-config-reply", c.wait(typ(8, 4)), "Get-config reply after set-config miss_send_len=0xffff.")
    # Fulcrum's load-balancer flow-mod, then a table-miss entry to the controller.
    c.send(golden_hex(tag + "-flow-mod"))
    sh("ovs-ofctl", "-O", proto, "add-flow", BR, "priority=0,actions=CONTROLLER:65535")
    barrier_req, barrier_rep = (20, 21) if v13 else (18, 19)
    c.send(msg(version, barrier_req, 5))
    save(tag, "barrier-reply", c.wait(typ(barrier_rep, 5)), "Barrier reply to xid 5.")
    if v13:
        c.send(msg(version, 18, 6, struct.pack("!HH4x", 13, 0)))  # port desc
        save(tag, "port-desc-reply", c.wait(typ(19, 6)), "OFPMP_PORT_DESC reply to xid 6.")
        c.send(msg(version, 18, 7, struct.pack("!HH4xI4x", 4, 0, 0xffffffff)))
        save(tag, "port-stats-reply", c.wait(typ(19, 7)), "OFPMP_PORT_STATS reply (all ports) to xid 7.")
        c.send(msg(version, 18, 8, struct.pack("!HH4xB3xII4xQQ", 1, 0, 0xff, 0xffffffff, 0xffffffff, 0, 0)
                   + struct.pack("!HH4x", 1, 4)))
        save(tag, "flow-stats-reply", c.wait(typ(19, 8)), "OFPMP_FLOW reply (all flows) to xid 8.")
        c.send(msg(version, 24, 9, struct.pack("!I4xQ", 2, 7)))  # role request: master, generation 7
        save(tag, "role-reply", c.wait(typ(25, 9)), "Role reply to a master request, generation_id 7 (xid 9).")
    else:
        c.send(msg(version, 16, 7, struct.pack("!HHH6x", 4, 0, 0xffff)))
        save(tag, "port-stats-reply", c.wait(typ(17, 7)), "OFPST_PORT reply (all ports) to xid 7.")
        wildcard_all = struct.pack("!I", 0x3fffff) + bytes(36)
        c.send(msg(version, 16, 8, struct.pack("!HH", 1, 0) + wildcard_all + struct.pack("!BxH", 0xff, 0xffff)))
        save(tag, "flow-stats-reply", c.wait(typ(17, 8)), "OFPST_FLOW reply (all flows) to xid 8.")
    c.send(msg(version, 2, 10, b"fulcrum"))
    save(tag, "echo-reply", c.wait(typ(3, 10)), "Echo reply to an echo request with payload 'fulcrum' (xid 10).")
    bad = bytearray(golden_hex(tag + "-flow-mod"))
    bad[4:8] = struct.pack("!I", 11)
    if v13:
        bad[25] = 9  # command
    else:
        bad[57] = 9
    c.send(bytes(bad))
    save(tag, "error", c.wait(typ(1, 11)), "Error for a flow-mod with command 9 (xid 11).")

    # Port added, packet in from it, port deleted.
    sh("ip", "netns", "add", NS)
    sh("ip", "link", "add", V0, "type", "veth", "peer", "name", V1)
    sh("ip", "link", "set", V1, "netns", NS)
    sh("sysctl", "-qw", "net.ipv6.conf.%s.disable_ipv6=1" % V0)
    sh("ip", "netns", "exec", NS, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1")
    sh("ip", "link", "set", V0, "up")
    sh("ip", "netns", "exec", NS, "ip", "link", "set", V1, "up")
    sh("ovs-vsctl", "add-port", BR, V0)
    save(tag, "port-status-add", c.wait(lambda f: f[1] == 12 and f[8] == 0), "Port-status ADD for veth %s." % V0)
    sender = ("import socket,time\ns=socket.socket(socket.AF_PACKET,socket.SOCK_RAW)\ns.bind(('%s',0))\n"
              "for _ in range(20):\n s.send(bytes.fromhex('%s'))\n time.sleep(0.2)\n" % (V1, SYN.hex()))
    proc = subprocess.Popen(["ip", "netns", "exec", NS, "python3", "-c", sender])
    pin = c.wait(lambda f: f[1] == 10 and SYN[:12] in f, timeout=10)
    proc.wait()
    save(tag, "packet-in", pin, "Packet-in (table-miss to CONTROLLER:65535) of a TCP SYN sent into %s." % V0)
    sh("ovs-vsctl", "del-port", BR, V0)
    save(tag, "port-status-delete", c.wait(lambda f: f[1] == 12 and f[8] == 1), "Port-status DELETE for %s." % V0)
    sh("ovs-ofctl", "-O", proto, "del-flows", BR, "tcp")
    save(tag, "flow-removed", c.wait(typ(11)), "Flow-removed (reason delete) of Fulcrum's flow-mod (send_flow_rem).")

    with c.lock:
        seen = [names.get(f[1], str(f[1])) + ("(%d)" % f[8] if f[1] == 12 else "") for f in c.frames]
    print(tag, "frames seen:", ", ".join(seen))
    sock.close()
    cleanup()


def main():
    if sh("ovs-vsctl", "show", check=False).returncode != 0:
        raise SystemExit("Open vSwitch is not running (try /usr/share/openvswitch/scripts/ovs-ctl start)")
    os.makedirs(OUT, exist_ok=True)
    cleanup()
    try:
        run(1)
        run(4)
    finally:
        cleanup()


if __name__ == "__main__":
    main()
