#!/usr/bin/python3
"""The REST API, /metrics and fulcrumctl against a running fulcrum process.

No switch is connected: the configured backends show as not learned. Every
endpoint and every error path goes over real HTTP (urllib); /metrics must
parse with prometheus_client's parser; fulcrumctl's tables, --json and exit
codes; the token; SIGHUP replacing runtime changes; SIGTERM exiting 0 promptly.

  FULCRUM_BIN=build/release/bin/fulcrum FULCRUMCTL_BIN=build/release/bin/fulcrumctl \
    python3 tests/api/api_server_test.py
"""
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(os.path.dirname(HERE))
BIN = os.environ.get("FULCRUM_BIN", os.path.join(SRC, "build/release/bin/fulcrum"))
CTL = os.environ.get("FULCRUMCTL_BIN", os.path.join(os.path.dirname(BIN), "fulcrumctl"))
TOKEN = "test-token-0123456789abcdef"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Fulcrum:
    """A fulcrum process with its log in a temporary directory."""

    def __init__(self, tmp, extra_args=(), config=None):
        self.tmp = tmp
        self.of_port = free_port()
        self.api_port = free_port()
        self.log_path = os.path.join(tmp, f"fulcrum-{self.api_port}.log")
        args = [BIN, "--listen", f"127.0.0.1:{self.of_port}", "--api-listen", f"127.0.0.1:{self.api_port}"]
        if config:
            args += ["--config", config]
        else:
            args += ["--vip", "10.0.0.100", "--backends", "10.0.0.11,10.0.0.12,10.0.0.13"]
        args += list(extra_args)
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.base = f"http://127.0.0.1:{self.api_port}"
        deadline = time.time() + 10
        while time.time() < deadline:
            if "API, /metrics and dashboard on" in self.log_text():
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError("fulcrum did not start its API:\n" + self.log_text())

    def log_text(self):
        with open(self.log_path) as f:
            return f.read()

    def wait_log(self, text, timeout=5):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if text in self.log_text():
                return True
            time.sleep(0.05)
        return False

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode


def request(base, method, path, body=None, token=None, raw=None, headers=None):
    """(status, headers, parsed JSON or text) of one request."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(base + path, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token is not None:
        req.add_header("Authorization", "Bearer " + token)
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            status, hdrs, text = r.status, r.headers, r.read().decode()
    except urllib.error.HTTPError as e:
        status, hdrs, text = e.code, e.headers, e.read().decode()
    if hdrs.get("Content-Type", "").startswith("application/json"):
        return status, hdrs, json.loads(text)
    return status, hdrs, text


def ctl(base, *args, token_file=None):
    cmd = [CTL, "--api", base] + (["--token-file", token_file] if token_file else []) + list(args)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=10)


class ApiServerTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmpdir = tempfile.TemporaryDirectory(prefix="fulcrum-api-test-")
        cls.tmp = cls.tmpdir.name
        cls.f = Fulcrum(cls.tmp)
        cls.base = cls.f.base

    @classmethod
    def tearDownClass(cls):
        cls.f.stop()
        cls.tmpdir.cleanup()

    def call(self, method, path, body=None, **kw):
        return request(self.base, method, path, body, **kw)

    def assertError(self, method, path, body, status, needle, **kw):
        got, hdrs, j = self.call(method, path, body, **kw)
        self.assertEqual(got, status, f"{method} {path} {body}: {j}")
        self.assertIsInstance(j, dict, f"{method} {path}: error body is not JSON: {j!r}")
        self.assertIn(needle, j["error"])
        self.assertEqual(j["status"], status)
        return hdrs

    # ---- reads

    def test_status(self):
        status, _, j = self.call("GET", "/api/v1/status")
        self.assertEqual(status, 200)
        self.assertEqual(j["version"], "0.1.0")
        self.assertEqual(j["switches_up"], 0)
        self.assertEqual(j["vips"], 1)
        self.assertGreaterEqual(j["uptime_s"], 0)
        self.assertEqual(j["switches"], [])
        self.assertIn("flow_mods_out", j["controller"])

    def test_vips_and_backends_unlearned(self):
        status, _, j = self.call("GET", "/api/v1/vips")
        self.assertEqual(status, 200)
        vip = j["vips"][0]
        self.assertEqual(vip["name"], "10.0.0.100")
        self.assertEqual(vip["policy"], "round-robin")
        ips = [b["ip"] for b in vip["backends"]]
        self.assertEqual(ips[:3], ["10.0.0.11", "10.0.0.12", "10.0.0.13"])
        for b in vip["backends"]:
            self.assertEqual(b["status"], "no-switch")
            self.assertIsNone(b["score"])
        status, _, one = self.call("GET", "/api/v1/vips/10.0.0.100")
        self.assertEqual(status, 200)
        self.assertEqual(one["ip"], "10.0.0.100")
        status, _, bs = self.call("GET", "/api/v1/vips/10.0.0.100/backends")
        self.assertEqual(status, 200)
        self.assertEqual(bs["vip"], "10.0.0.100")
        status, _, b = self.call("GET", "/api/v1/vips/10.0.0.100/backends/10.0.0.12")
        self.assertEqual((status, b["ip"], b["weight"]), (200, "10.0.0.12", 1))
        status, _, sw = self.call("GET", "/api/v1/switches")
        self.assertEqual((status, sw), (200, {"switches": []}))

    def test_dashboard_page(self):
        for path in ("/", "/dashboard"):
            status, hdrs, text = self.call("GET", path)
            self.assertEqual(status, 200)
            self.assertTrue(hdrs["Content-Type"].startswith("text/html"))
            self.assertIn("<title>Fulcrum</title>", text)

    # ---- changes (each undone, so the tests do not depend on their order)

    def test_weight_drain_activate(self):
        p = "/api/v1/vips/10.0.0.100/backends/10.0.0.12"
        status, _, b = self.call("PATCH", p, {"weight": 4})
        self.assertEqual((status, b["weight"]), (200, 4))
        status, _, b = self.call("POST", p + "/drain")
        self.assertEqual((status, b["mode"], b["weight"]), (200, "drain", 4))
        status, _, b = self.call("POST", p + "/activate", raw=b"{}")
        self.assertEqual((status, b["mode"]), (200, "active"))
        status, _, b = self.call("PATCH", p, {"weight": 1, "mode": "active"})
        self.assertEqual((status, b["weight"]), (200, 1))
        self.assertTrue(self.f.wait_log("api: PATCH /api/v1/vips/10.0.0.100/backends/10.0.0.12"))

    def test_add_remove(self):
        status, _, b = self.call("POST", "/api/v1/vips/10.0.0.100/backends", {"ip": "10.0.0.14", "weight": 2,
                                                                               "mode": "drain"})
        self.assertEqual((status, b["ip"], b["weight"], b["mode"]), (201, "10.0.0.14", 2, "drain"))
        _, _, vip = self.call("GET", "/api/v1/vips/10.0.0.100")
        self.assertIn("10.0.0.14", [x["ip"] for x in vip["backends"]])
        status, _, r = self.call("DELETE", "/api/v1/vips/10.0.0.100/backends/10.0.0.14")
        self.assertEqual((status, r["removed"]), (200, "10.0.0.14"))
        _, _, vip = self.call("GET", "/api/v1/vips/10.0.0.100")
        self.assertNotIn("10.0.0.14", [x["ip"] for x in vip["backends"]])

    def test_policy(self):
        status, _, v = self.call("PATCH", "/api/v1/vips/10.0.0.100", {"policy": "source-hash"})
        self.assertEqual((status, v["policy"]), (200, "source-hash"))
        status, _, v = self.call("PATCH", "/api/v1/vips/10.0.0.100", {"policy": "round-robin"})
        self.assertEqual((status, v["policy"]), (200, "round-robin"))

    # ---- every error path

    def test_unknown_routes_and_methods(self):
        self.assertError("GET", "/api/v1/nothing", None, 404, "no such endpoint")
        self.assertError("GET", "/nothing", None, 404, "no such endpoint")
        self.assertError("GET", "/api/v1/vips/10.0.0.100/pools", None, 404, "no such endpoint")
        hdrs = self.assertError("DELETE", "/api/v1/vips", None, 405, "not allowed")
        self.assertEqual(hdrs["Allow"], "GET")
        hdrs = self.assertError("PUT", "/api/v1/vips/10.0.0.100/backends/10.0.0.11", {}, 405, "not allowed")
        self.assertEqual(hdrs["Allow"], "GET, PATCH, DELETE")
        self.assertError("POST", "/api/v1/switches", {}, 405, "not allowed")
        self.assertError("GET", "/api/v1/vips/10.0.0.100/backends/10.0.0.11/drain", None, 405, "not allowed")
        self.assertError("POST", "/metrics", {}, 405, "not allowed")

    def test_unknown_vip_and_backend(self):
        self.assertError("GET", "/api/v1/vips/10.9.9.9", None, 404, "no VIP '10.9.9.9'")
        self.assertError("POST", "/api/v1/vips/nope/backends", {"ip": "10.0.0.20"}, 404, "no VIP 'nope'")
        self.assertError("GET", "/api/v1/vips/10.0.0.100/backends/10.0.0.99", None, 404, "not in the pool")
        self.assertError("POST", "/api/v1/vips/10.0.0.100/backends/10.0.0.99/drain", None, 404, "not in the pool")
        self.assertError("DELETE", "/api/v1/vips/10.0.0.100/backends/10.0.0.99", None, 404, "not in the pool")

    def test_bad_input(self):
        p = "/api/v1/vips/10.0.0.100/backends/10.0.0.11"
        self.assertError("PATCH", p, None, 400, "got nothing", raw=b"")
        self.assertError("PATCH", p, None, 400, "not valid JSON", raw=b"{\"weight\": 2")
        self.assertError("PATCH", p, None, 400, "expected a JSON object", raw=b"42")
        self.assertError("PATCH", p, {"weight": 0}, 400, "weight: must be an integer between 1 and 1000000")
        self.assertError("PATCH", p, {"weight": "heavy"}, 400, "weight: must be")
        self.assertError("PATCH", p, {"weight": 2.5}, 400, "weight: must be")
        self.assertError("PATCH", p, {"mode": "sleep"}, 400, "mode: expected")
        self.assertError("PATCH", p, {"colour": "red"}, 400, "unknown field 'colour'")
        self.assertError("GET", "/api/v1/vips/10.0.0.100/backends/10.0.0.300", None, 400, "not an IPv4 address")
        self.assertError("POST", "/api/v1/vips/10.0.0.100/backends", {"ip": "banana"}, 400,
                         "ip: not an IPv4 address")
        self.assertError("POST", "/api/v1/vips/10.0.0.100/backends", {"ip": "10.0.0.11"}, 409, "already in the pool")
        self.assertError("PATCH", "/api/v1/vips/10.0.0.100", {"policy": "best"}, 400, "policy: unknown policy")
        # Over the 64 KiB body limit: cpp-httplib's own 413, with a JSON body too.
        self.assertError("POST", "/api/v1/vips/10.0.0.100/backends", None, 413, "larger than 64 KiB",
                         raw=b"x" * (70 * 1024))
        _, _, b = self.call("GET", p)
        self.assertEqual((b["weight"], b["mode"]), (1, "active"), "a refused change must change nothing")

    def test_malformed_http(self):
        # Not HTTP at all: a 400 with a JSON body, and the server goes on.
        with socket.create_connection(("127.0.0.1", self.f.api_port), timeout=5) as s:
            s.sendall(b"HELLO THERE\r\n\r\n")
            data = b""
            while True:  # headers and body may come in separate segments
                head, sep, body = data.partition(b"\r\n\r\n")
                length = [int(v) for k, v in (h.split(b":", 1) for h in head.split(b"\r\n")[1:] if b":" in h)
                          if k.strip().lower() == b"content-length"]
                if sep and length and len(body) >= length[0]:
                    break
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
            reply = data.decode(errors="replace")
        self.assertTrue(reply.startswith("HTTP/1.1 400"), reply)
        self.assertIn('"error": "malformed HTTP request"', reply)
        self.assertEqual(self.call("GET", "/api/v1/status")[0], 200)

    # ---- metrics

    def test_metrics_parse_and_hold_the_expected_families(self):
        status, hdrs, text = self.call("GET", "/metrics")
        self.assertEqual(status, 200)
        self.assertTrue(hdrs["Content-Type"].startswith("text/plain; version=0.0.4"))
        families = {f.name: f for f in text_string_to_metric_families(text)}
        for name, kind in [("fulcrum_packet_ins", "counter"), ("fulcrum_decisions", "counter"),
                           ("fulcrum_flow_mods", "counter"), ("fulcrum_openflow_errors", "counter"),
                           ("fulcrum_switches_up", "gauge"), ("fulcrum_switch_session", "gauge"),
                           ("fulcrum_vip_connections_active", "gauge"), ("fulcrum_vip_connections", "counter"),
                           ("fulcrum_backend_connections_active", "gauge"), ("fulcrum_backend_connections", "counter"), ("fulcrum_agent_reports_rejected", "counter"),
                           ("fulcrum_decision_latency_seconds", "histogram"),
                           ("fulcrum_packet_in_latency_seconds", "histogram"),
                           ("fulcrum_api_requests", "counter")]:
            self.assertIn(name, families)
            self.assertEqual(families[name].type, kind, name)
        reasons = {s.labels["reason"] for s in families["fulcrum_agent_reports_rejected"].samples}
        self.assertEqual(reasons, {"malformed", "bad_mac", "replayed", "stale", "not_backend"})
        buckets = [s for s in families["fulcrum_decision_latency_seconds"].samples if s.name.endswith("_bucket")]
        self.assertEqual(buckets[-1].labels["le"], "+Inf")
        self.assertEqual([float(b.labels["le"]) for b in buckets[:3]], [1e-6, 2e-6, 5e-6])
        vip = [s for s in families["fulcrum_vip_connections_active"].samples]
        self.assertEqual([(s.labels["vip"], s.value) for s in vip], [("10.0.0.100", 0.0)])
        self.assertEqual(families["fulcrum_switches_up"].samples[0].value, 0)

    def test_metrics_parser_rejects_malformed_text(self):
        # The check above means something only if the parser fails on bad text.
        with self.assertRaises(Exception):
            list(text_string_to_metric_families('fulcrum_x{a="1} 3\n'))
        with self.assertRaises(Exception):
            list(text_string_to_metric_families("fulcrum_x one\n"))

    # ---- fulcrumctl

    def test_fulcrumctl(self):
        r = ctl(self.base, "backends")
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.splitlines()
        self.assertEqual(lines[0].split(), ["VIP", "BACKEND", "STATUS", "MODE", "WEIGHT", "ACTIVE", "TOTAL", "SCORE",
                                            "CPU%", "MEM%", "RTT_MS"])
        self.assertEqual(lines[1].split()[:5], ["10.0.0.100", "10.0.0.11", "no-switch", "active", "1"])
        r = ctl(self.base, "--json", "backends", "10.0.0.100")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout)["ip"], "10.0.0.100")
        r = ctl(self.base, "weight", "10.0.0.100", "10.0.0.13", "7")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("10.0.0.13 status=no-switch mode=active weight=7", r.stdout)
        r = ctl(self.base, "drain", "10.0.0.100", "10.0.0.13")
        self.assertIn("mode=drain", r.stdout)
        r = ctl(self.base, "activate", "10.0.0.100", "10.0.0.13")
        self.assertIn("mode=active", r.stdout)
        r = ctl(self.base, "add", "10.0.0.100", "10.0.0.15", "--weight", "3", "--drain")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("10.0.0.15 status=no-switch mode=drain weight=3", r.stdout)
        r = ctl(self.base, "remove", "10.0.0.100", "10.0.0.15")
        self.assertEqual((r.returncode, r.stdout.strip()), (0, "removed 10.0.0.15 from 10.0.0.100"))
        r = ctl(self.base, "weight", "10.0.0.100", "10.0.0.13", "1")
        self.assertEqual(r.returncode, 0)
        r = ctl(self.base, "policy", "10.0.0.100", "round-robin")
        self.assertEqual((r.returncode, r.stdout.strip()), (0, "10.0.0.100 policy=round-robin"))
        r = ctl(self.base, "status")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("0 switch(es), 1 VIP(s), 3 backend(s)", r.stdout)
        r = ctl(self.base, "vips")
        self.assertIn("round-robin", r.stdout)
        r = ctl(self.base, "switches")
        self.assertEqual(r.stdout.split(), ["DPID", "PEER", "OF", "STATE", "CONNECTIONS", "CONNECTED"])
        # Errors: the server's message and exit 1; unreachable API: exit 3; usage: exit 2 (CLI11: 105/106/109).
        r = ctl(self.base, "weight", "10.0.0.100", "10.0.0.13", "0")
        self.assertEqual(r.returncode, 1)
        self.assertIn("weight: must be an integer between 1 and 1000000, got 0 (HTTP 400)", r.stderr)
        r = ctl(self.base, "drain", "10.0.0.100", "10.0.0.99")
        self.assertEqual(r.returncode, 1)
        self.assertIn("not in the pool of VIP 10.0.0.100 (HTTP 404)", r.stderr)
        r = ctl(f"http://127.0.0.1:{free_port()}", "status")
        self.assertEqual(r.returncode, 3)
        self.assertIn("cannot reach the API", r.stderr)
        r = ctl(self.base, "frobnicate")
        self.assertNotEqual(r.returncode, 0)
        env = dict(os.environ, FULCRUM_API=self.base)
        r = subprocess.run([CTL, "vips"], capture_output=True, text=True, env=env, timeout=10)
        self.assertEqual(r.returncode, 0, r.stderr)


class TokenTest(unittest.TestCase):
    """A fulcrum whose API needs a bearer token."""

    @classmethod
    def setUpClass(cls):
        cls.tmpdir = tempfile.TemporaryDirectory(prefix="fulcrum-api-token-")
        cls.token_file = os.path.join(cls.tmpdir.name, "token")
        with open(cls.token_file, "w") as f:
            f.write(TOKEN + "\n")
        os.chmod(cls.token_file, 0o600)
        cls.f = Fulcrum(cls.tmpdir.name, ["--api-token-file", cls.token_file])

    @classmethod
    def tearDownClass(cls):
        cls.f.stop()
        cls.tmpdir.cleanup()

    def test_missing_and_wrong_token(self):
        for path in ("/api/v1/status", "/api/v1/vips", "/metrics"):
            status, hdrs, j = request(self.f.base, "GET", path)
            self.assertEqual(status, 401, path)
            self.assertIn("missing bearer token", j["error"])
            self.assertTrue(hdrs["WWW-Authenticate"].startswith("Bearer"))
            status, _, j = request(self.f.base, "GET", path, token="wrong-token-0123456789abcdef")
            self.assertEqual(status, 401)
            self.assertEqual(j["error"], "invalid bearer token")
            status, _, j = request(self.f.base, "GET", path, headers={"Authorization": "Basic " + TOKEN})
            self.assertEqual(status, 401)
            status, _, _ = request(self.f.base, "GET", path, token=TOKEN)
            self.assertEqual(status, 200, path)
        status, _, _ = request(self.f.base, "POST", "/api/v1/vips/10.0.0.100/backends/10.0.0.11/drain",
                               token="nope-nope-nope-nope")
        self.assertEqual(status, 401)
        _, _, b = request(self.f.base, "GET", "/api/v1/vips/10.0.0.100/backends/10.0.0.11", token=TOKEN)
        self.assertEqual(b["mode"], "active")
        status, _, _ = request(self.f.base, "GET", "/")
        self.assertEqual(status, 200)  # the page itself; it sends the token from #token=...

    def test_fulcrumctl_token_file(self):
        r = ctl(self.f.base, "backends")
        self.assertEqual(r.returncode, 1)
        self.assertIn("missing bearer token", r.stderr)
        r = ctl(self.f.base, "backends", token_file=self.token_file)
        self.assertEqual(r.returncode, 0, r.stderr)


class LifecycleTest(unittest.TestCase):
    """Start-up refusal, SIGHUP replacing runtime changes, SIGTERM."""

    def setUp(self):
        self.tmpdir = tempfile.TemporaryDirectory(prefix="fulcrum-api-life-")
        self.tmp = self.tmpdir.name

    def tearDown(self):
        self.tmpdir.cleanup()

    def test_non_loopback_without_token_is_refused(self):
        r = subprocess.run([BIN, "--vip", "10.0.0.100", "--backends", "10.0.0.11", "--api-listen",
                            f"0.0.0.0:{free_port()}"], capture_output=True, text=True, timeout=10)
        self.assertEqual(r.returncode, 2)
        self.assertIn("configuration error: api.token_file: required when the API listens on a non-loopback "
                      "address", r.stderr)

    def test_busy_port_is_a_startup_error(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen()
        try:
            r = subprocess.run([BIN, "--listen", f"127.0.0.1:{free_port()}", "--vip", "10.0.0.100", "--backends",
                                "10.0.0.11", "--api-listen", f"127.0.0.1:{s.getsockname()[1]}"],
                               capture_output=True, text=True, timeout=10)
        finally:
            s.close()
        self.assertEqual(r.returncode, 1)
        self.assertIn("api.listen: cannot bind", r.stderr)

    def test_sighup_replaces_runtime_changes_and_sigterm_exits_cleanly(self):
        cfg = os.path.join(self.tmp, "fulcrum.yaml")
        with open(cfg, "w") as f:
            f.write("vips:\n  - name: web\n    ip: 10.0.0.100\n    policy: random\n"
                    "    backends: [10.0.0.11, {ip: 10.0.0.12, weight: 2}]\n")
        f = Fulcrum(self.tmp, config=cfg)
        try:
            p = "/api/v1/vips/web/backends/10.0.0.12"
            self.assertEqual(request(f.base, "PATCH", p, {"weight": 9})[0], 200)
            self.assertEqual(request(f.base, "POST", "/api/v1/vips/web/backends", {"ip": "10.0.0.13"})[0], 201)
            self.assertEqual(request(f.base, "GET", "/api/v1/status")[2]["api"]["changes_since_reload"], 2)
            f.proc.send_signal(signal.SIGHUP)
            self.assertTrue(f.wait_log("runtime change(s) made through the API"), f.log_text())
            deadline = time.time() + 5
            while f.log_text().count("configuration reloaded") < 3 and time.time() < deadline:
                time.sleep(0.05)
            self.assertIn("SIGHUP: the configuration replaces 2 runtime change(s) made through the API",
                          f.log_text())
            _, _, vip = request(f.base, "GET", "/api/v1/vips/web")
            self.assertEqual([(b["ip"], b["weight"]) for b in vip["backends"]], [("10.0.0.11", 1), ("10.0.0.12", 2)])
            self.assertEqual(vip["policy"], "random")
            self.assertEqual(request(f.base, "GET", "/api/v1/status")[2]["api"]["changes_since_reload"], 0)
            t0 = time.monotonic()
            f.proc.send_signal(signal.SIGTERM)
            rc = f.proc.wait(5)
            took = time.monotonic() - t0
        finally:
            f.stop()
        self.assertEqual(rc, 0)
        self.assertLess(took, 2.0, "SIGTERM took too long")
        log = f.log_text()
        self.assertIn("signal 15 received, shutting down", log)
        self.assertIn("API stopped", log)
        self.assertIn("stopped: ", log)


if __name__ == "__main__":
    unittest.main(verbosity=2)
