#!/usr/bin/env python3
"""Misbehaving OpenFlow "switches" for fulcrum's end-to-end robustness test.

Each scenario opens its own TCP connection to the controller, sends malformed
or abusive OpenFlow (byte layouts from the OpenFlow 1.0.0 and 1.3.x
specifications), then watches the controller's reaction for a few seconds and
prints one line:

    scenario NAME: sent ...; got N messages (types ...), errors [(type, code)...], closed=yes|no

Exit status: 0 when the reaction is the expected one for that scenario,
1 when it is not (e.g. the controller neither answered with OFPT_ERROR nor
closed the connection), 2 when the controller could not be reached at all.
Standard library only; every wait is bounded.

    bad_openflow.py --port PORT SCENARIO [--hold SECONDS]
    bad_openflow.py --list
"""
import argparse
import os
import signal
import socket
import struct
import sys
import threading
import time

# Message types common to 1.0 and 1.3
HELLO, ERROR, ECHO_REQUEST, ECHO_REPLY, FEATURES_REQUEST, FEATURES_REPLY = 0, 1, 2, 3, 5, 6
PACKET_IN, FLOW_REMOVED = 10, 11
V10, V13 = 0x01, 0x04
STOP = threading.Event()  # set by SIGTERM/SIGINT: end the current wait and report


def header(version, mtype, length, xid):
    # struct ofp_header { uint8 version; uint8 type; uint16 length; uint32 xid; }
    return struct.pack("!BBHI", version, mtype, length, xid)


def msg(version, mtype, body=b"", xid=0):
    return header(version, mtype, 8 + len(body), xid) + body


def hello13():
    # OFPHET_VERSIONBITMAP element: type 1, length 8, bitmap with 1.0 and 1.3.
    elem = struct.pack("!HHI", 1, 8, (1 << V10) | (1 << V13))
    return msg(V13, HELLO, elem, xid=1)


def hello10():
    return msg(V10, HELLO, xid=1)


def features_reply13(dpid, xid=0):
    # datapath_id, n_buffers, n_tables, auxiliary_id, pad[2], capabilities, reserved
    return msg(V13, FEATURES_REPLY, struct.pack("!QIBB2xII", dpid, 0, 254, 0, 0x4F, 0), xid)


def features_reply10(dpid, xid=0):
    # datapath_id, n_buffers, n_tables, pad[3], capabilities, actions, then ports
    # (one ofp_phy_port, 48 bytes: port_no, hw_addr, name[16], config, state,
    # curr, advertised, supported, peer).
    port = struct.pack("!H6s16sIIIIII", 1, bytes.fromhex("0000000000aa"), b"fake1".ljust(16, b"\0"),
                       0, 0, 0, 0, 0, 0)
    return msg(V10, FEATURES_REPLY, struct.pack("!QIB3xII", dpid, 0, 1, 0x87, 0xFFF) + port, xid)


def arp_request_frame():
    # Ethernet broadcast ARP who-has 10.0.0.100 tell 10.0.0.99 (42 bytes)
    eth = bytes.fromhex("ffffffffffff" "0000000000aa" "0806")
    arp = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, bytes.fromhex("0000000000aa"),
                      socket.inet_aton("10.0.0.99"), b"\0" * 6, socket.inet_aton("10.0.0.100"))
    return eth + arp


class Conn:
    """One TCP connection with a background reader that parses OpenFlow frames."""

    def __init__(self, port, timeout=3.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.settimeout(0.2)
        self.msgs = []          # (version, type, length, xid, body)
        self.closed = False
        self.close_reason = ""
        self.buf = b""
        self.lock = threading.Lock()
        self.stop = False
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        while not self.stop:
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError as e:
                self.closed, self.close_reason = True, f"{type(e).__name__}"
                return
            if not data:
                self.closed, self.close_reason = True, "eof"
                return
            self.buf += data
            while len(self.buf) >= 8:
                v, t, ln, xid = struct.unpack("!BBHI", self.buf[:8])
                if ln < 8:
                    self.closed, self.close_reason = True, f"controller sent bad length {ln}"
                    return
                if len(self.buf) < ln:
                    break
                with self.lock:
                    self.msgs.append((v, t, ln, xid, self.buf[8:ln]))
                self.buf = self.buf[ln:]

    def send(self, data):
        try:
            self.sock.sendall(data)
            return True
        except OSError:
            self.closed = True
            return False

    def wait(self, seconds, until=None):
        """Wait up to `seconds` for the connection to close or until(self) is true."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not STOP.is_set():
            if self.closed or (until is not None and until(self)):
                return
            time.sleep(0.02)

    def first(self, mtype, timeout):
        """Wait for the first message of a type; returns it or None."""
        def seen(c):
            with c.lock:
                return any(m[1] == mtype for m in c.msgs)
        self.wait(timeout, seen)
        with self.lock:
            for m in self.msgs:
                if m[1] == mtype:
                    return m
        return None

    def errors(self):
        with self.lock:
            return [struct.unpack("!HH", m[4][:4]) if len(m[4]) >= 4 else ("short", len(m[4]))
                    for m in self.msgs if m[1] == ERROR]

    def summary(self):
        with self.lock:
            types = sorted({m[1] for m in self.msgs})
            versions = sorted({m[0] for m in self.msgs if m[1] != HELLO})
            n = len(self.msgs)
        return (f"got {n} messages (types {types}, versions after hello {versions}), errors {self.errors()}, "
                f"closed={'yes (' + self.close_reason + ')' if self.closed else 'no'}")

    def close(self):
        self.stop = True
        try:
            self.sock.close()
        except OSError:
            pass
        self.reader.join(1)


def handshake(c, version):
    """Send our hello (and wait for the controller's hello); answer the
    features request as a switch would."""
    c.send(hello13() if version == V13 else hello10())
    c.first(HELLO, 3)


def answer_features(c, version, dpid):
    req = c.first(FEATURES_REQUEST, 3)
    xid = req[3] if req else 0
    c.send(features_reply13(dpid, xid) if version == V13 else features_reply10(dpid, xid))
    # Give the controller time to send its set-up messages.
    c.wait(0.5)


# ----------------------------------------------------------------- scenarios --
# Each returns (description of what was sent, expectation); expectation is
# "error_or_close" (OFPT_ERROR received or connection closed) or "any".

def sc_garbage(c, a):
    # "GE" reads as version 0x47, type 0x45; "T " as a length of 21536 that
    # never comes: a framer may wait for it, so allow for a handshake timeout.
    t0 = time.monotonic()
    c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" + os.urandom(200))
    c.wait(15, lambda c: c.errors())
    a.extra = f"reaction after {time.monotonic() - t0:.1f} s"
    return "HTTP request + 200 random bytes", "error_or_close"


def sc_short_length(c, a):
    c.send(header(V13, HELLO, 4, 7))  # length 4 < sizeof(ofp_header)
    c.wait(3, lambda c: c.errors())
    return "hello header with length 4", "error_or_close"


def sc_zero_length(c, a):
    c.send(header(V13, HELLO, 0, 7) * 4)  # length 0: a parser that never advances loops forever
    c.wait(3, lambda c: c.errors())
    return "four hello headers with length 0", "error_or_close"


def sc_zero_length_after_hello(c, a):
    handshake(c, a.version)
    c.send(header(a.version, ECHO_REQUEST, 0, 9))
    c.wait(3, lambda c: c.errors())
    return "valid hello, then echo request with length 0", "error_or_close"


def sc_announce_then_close(c, a):
    c.send(header(V13, HELLO, 65535, 7) + b"\0" * 100)
    c.wait(0.5)
    return "header announcing 65535 bytes, 100 sent, then closed", "any"


def sc_unknown_type(c, a):
    handshake(c, a.version)
    c.send(msg(a.version, 200, b"\xab" * 8, xid=0x1234))
    c.wait(3, lambda c: c.errors())
    return f"valid hello (v{a.version}), then message type 200", "error_or_close"


def sc_version_mismatch(c, a):
    handshake(c, V13)
    c.send(msg(V10, ECHO_REQUEST, b"", xid=0x55))  # 1.0 message on a 1.3 connection
    c.wait(3, lambda c: c.errors())
    return "1.3 hello, then a version-1.0 echo request", "error_or_close"


def sc_bad_hello_version(c, a):
    # Header version 1.3 but a version bitmap with only 1.1 and 1.2: no common
    # version under any reading of the spec: OFPET_HELLO_FAILED and close.
    elem = struct.pack("!HHI", 1, 8, (1 << 2) | (1 << 3))
    c.send(msg(0x03, HELLO, elem, xid=3))
    c.wait(3, lambda c: c.errors())
    return "hello with header version 0x03 and bitmap {1.1, 1.2}", "error_or_close"


def sc_hello_v11_nobitmap(c, a):
    # Version 0x02 (1.1), no bitmap. The 1.3 spec says: negotiated = min(sent,
    # received) = 0x02, unsupported -> HELLO_FAILED. Open vSwitch instead reads
    # a bitmap-less hello as "every version up to 0x02" and settles on 1.0.
    # Either is accepted here; the line reports which one fulcrum chose.
    c.send(msg(0x02, HELLO, b"", xid=3))
    c.wait(2, lambda c: c.errors())
    return "hello for version 0x02 (1.1), no bitmap", "any"


def sc_oxm_zero_length(c, a):
    handshake(c, V13)
    answer_features(c, V13, 0x00000000DEADBE01)
    # ofp_match: type OFPMT_OXM (1), length 8 = 4 + one OXM header whose
    # payload length is 0 (OXM_OF_IN_PORT needs 4): class 0x8000, field 0, len 0.
    match = struct.pack("!HH", 1, 8) + struct.pack("!HBB", 0x8000, 0 << 1, 0)
    frame = arp_request_frame()
    # buffer_id, total_len, reason, table_id, cookie, match, pad[2], data
    body = struct.pack("!IHBBQ", 0xFFFFFFFF, len(frame), 0, 0, 0) + match + b"\0\0" + frame
    c.send(msg(V13, PACKET_IN, body, xid=0))
    c.wait(3, lambda c: c.errors())
    return "1.3 hello + features reply, packet-in whose OXM in_port has length 0", "error_or_close"


def sc_oxm_overrun(c, a):
    handshake(c, V13)
    answer_features(c, V13, 0x00000000DEADBE02)
    # OXM header claims 255 payload bytes inside an 8-byte match.
    match = struct.pack("!HH", 1, 8) + struct.pack("!HBB", 0x8000, 0 << 1, 255)
    frame = arp_request_frame()
    body = struct.pack("!IHBBQ", 0xFFFFFFFF, len(frame), 0, 0, 0) + match + b"\0\0" + frame
    c.send(msg(V13, PACKET_IN, body, xid=0))
    c.wait(3, lambda c: c.errors())
    return "1.3 packet-in whose OXM field claims 255 bytes in an 8-byte match", "error_or_close"


def sc_match_length_overrun(c, a):
    handshake(c, V13)
    answer_features(c, V13, 0x00000000DEADBE03)
    # ofp_match.length 4000 in a 60-byte message.
    match = struct.pack("!HH", 1, 4000) + struct.pack("!HBBI", 0x8000, 0 << 1, 4, 1)
    body = struct.pack("!IHBBQ", 0xFFFFFFFF, 0, 0, 0, 0) + match + b"\0\0"
    c.send(msg(V13, PACKET_IN, body, xid=0))
    c.wait(3, lambda c: c.errors())
    return "1.3 packet-in whose ofp_match.length is 4000", "error_or_close"


def sc_flow_removed_truncated(c, a):
    handshake(c, a.version)
    answer_features(c, a.version, 0x00000000DEADBE04)
    # ofp_flow_removed is 56+ bytes (1.3) / 88 bytes (1.0); send 20 with a consistent header.
    c.send(msg(a.version, FLOW_REMOVED, b"\x01" * 12, xid=0))
    c.wait(3, lambda c: c.errors())
    return f"v{a.version} hello + features reply, flow-removed of 20 bytes", "error_or_close"


def sc_packet_in_truncated(c, a):
    handshake(c, a.version)
    answer_features(c, a.version, 0x00000000DEADBE05)
    c.send(msg(a.version, PACKET_IN, b"\xff\xff\xff\xff", xid=0))  # 12 bytes, body needs 10+/24+
    c.wait(3, lambda c: c.errors())
    return f"v{a.version} hello + features reply, packet-in of 12 bytes", "error_or_close"


def sc_echo_flood(c, a):
    handshake(c, a.version)
    n = 10000
    payload = b"".join(msg(a.version, ECHO_REQUEST, b"", xid=0x10000 + i) for i in range(n))
    t0 = time.monotonic()
    c.send(payload)

    def replies(c):
        with c.lock:
            return sum(1 for m in c.msgs if m[1] == ECHO_REPLY)
    c.wait(15, lambda c: replies(c) >= n)
    dt = time.monotonic() - t0
    with c.lock:
        xids = {m[3] for m in c.msgs if m[1] == ECHO_REPLY}
    got = len(xids & set(range(0x10000, 0x10000 + n)))
    a.extra = f"{got}/{n} echo replies with matching xid in {dt:.2f} s"
    a.flood_ok = got == n
    return f"valid hello, then {n} echo requests in one burst", "echo_all"


def sc_idle(c, a):
    c.wait(a.hold)
    return f"nothing for {a.hold} s", "any"


def sc_partial_hold(c, a):
    c.send(header(V13, HELLO, 65535, 7) + b"\0" * 10)
    c.wait(a.hold)
    return f"header announcing 65535 bytes, 10 sent, then held open {a.hold} s", "any"


SCENARIOS = {
    "garbage": sc_garbage,
    "short_length": sc_short_length,
    "zero_length": sc_zero_length,
    "zero_length_after_hello": sc_zero_length_after_hello,
    "announce_then_close": sc_announce_then_close,
    "unknown_type": sc_unknown_type,
    "version_mismatch": sc_version_mismatch,
    "bad_hello_version": sc_bad_hello_version,
    "hello_v11_nobitmap": sc_hello_v11_nobitmap,
    "oxm_zero_length": sc_oxm_zero_length,
    "oxm_overrun": sc_oxm_overrun,
    "match_length_overrun": sc_match_length_overrun,
    "flow_removed_truncated": sc_flow_removed_truncated,
    "packet_in_truncated": sc_packet_in_truncated,
    "echo_flood": sc_echo_flood,
    "idle": sc_idle,
    "partial_hold": sc_partial_hold,
}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--port", type=int)
    p.add_argument("--version", type=int, choices=[10, 13], default=13,
                   help="OpenFlow version for scenarios that do not fix one")
    p.add_argument("--hold", type=float, default=20.0, help="seconds for idle/partial_hold (max 60)")
    p.add_argument("--list", action="store_true")
    p.add_argument("scenario", nargs="?")
    a = p.parse_args()
    if a.list:
        print("\n".join(SCENARIOS))
        return 0
    if a.scenario not in SCENARIOS or a.port is None:
        p.error("need --port and a scenario (see --list)")
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: STOP.set())
    a.version = V13 if a.version == 13 else V10
    a.hold = min(a.hold, 60.0)
    a.extra = ""
    a.flood_ok = False
    try:
        c = Conn(a.port)
    except OSError as e:
        print(f"scenario {a.scenario}: cannot connect to 127.0.0.1:{a.port}: {e}")
        return 2
    try:
        sent, expect = SCENARIOS[a.scenario](c, a)
        summary = c.summary()
        # Judge before closing our end (closing makes the reader see a close).
        ok = {"any": True,
              "error_or_close": bool(c.errors()) or c.closed,
              "echo_all": a.flood_ok}[expect]
    finally:
        c.close()
    extra = f"; {a.extra}" if a.extra else ""
    print(f"scenario {a.scenario}: sent {sent}; {summary}{extra}; expected {expect}: {'yes' if ok else 'NO'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
