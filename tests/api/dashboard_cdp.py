#!/usr/bin/python3
"""Drives Debian's headless Chromium through the DevTools Protocol (python3-websocket)
to check Fulcrum's dashboard: the page loads, shows the backends of the running
Fulcrum, and shows a change made through the API without being reloaded.

  dashboard_cdp.py --api http://127.0.0.1:8080 --vip 10.0.0.100 \
      --backends 10.0.0.11,10.0.0.12,10.0.0.13 --status up \
      --drain 10.0.0.12 --weight 10.0.0.13=5 [--traffic] [--screenshot out.png]

Exit status 0 when every check passed; each check prints "ok - ..." or
"not ok - ..." (TAP-like, as the e2e scripts do).
"""
import argparse
import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

import websocket

FAILED = 0


def ok(desc):
    print(f"ok - {desc}", flush=True)


def not_ok(desc, detail=""):
    global FAILED
    FAILED += 1
    print(f"not ok - {desc}", flush=True)
    for line in str(detail).splitlines():
        print(f"#   {line}", flush=True)


class Cdp:
    """One DevTools page session: call() waits for the answer to its id."""

    def __init__(self, ws_url):
        self.ws = websocket.create_connection(ws_url, timeout=15, suppress_origin=True)
        self.next_id = 0
        self.events = []

    def call(self, method, **params):
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == self.next_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            self.events.append(msg)

    def eval(self, expression):
        r = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in r:
            raise RuntimeError(f"{expression}: {r['exceptionDetails']}")
        return r["result"].get("value")


ROWS_JS = """JSON.stringify([...document.querySelectorAll('section.vip')].map(s => ({
  vip: s.dataset.vip,
  policy: (s.querySelector('.policy') || {}).textContent,
  rows: [...s.querySelectorAll('tr[data-backend]')].map(r => ({
    ip: r.dataset.backend, status: r.querySelector('.status').textContent, mode: r.querySelector('.mode').textContent,
    weight: r.querySelector('.weight').textContent, active: r.querySelector('.active').textContent,
    total: r.querySelector('.total').textContent, score: r.querySelector('.score').textContent}))})))"""


def page_state(cdp):
    return json.loads(cdp.eval(ROWS_JS))


def wait_for(cdp, pred, timeout):
    """Polls the page until pred(state) is true; returns (passed, last state)."""
    deadline = time.time() + timeout
    state = None
    while time.time() < deadline:
        state = page_state(cdp)
        if pred(state):
            return True, state
        time.sleep(0.2)
    return False, state


def api(base, method, path, body=None, token=None):
    req = urllib.request.Request(base + path, method=method,
                                 data=json.dumps(body).encode() if body is not None else None)
    if token:
        req.add_header("Authorization", "Bearer " + token)
    with urllib.request.urlopen(req, timeout=5) as r:
        return json.loads(r.read())


def start_chromium(binary, profile):
    args = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-dev-shm-usage", "--disable-extensions", "--no-first-run", "--no-default-browser-check",
            "--hide-scrollbars", "--mute-audio", "--remote-debugging-port=0", "--remote-allow-origins=*",
            f"--user-data-dir={profile}", "--window-size=1280,520", "about:blank"]
    log = open(os.path.join(profile, "..", "chromium.log"), "w")
    proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True)
    port_file = os.path.join(profile, "DevToolsActivePort")
    deadline = time.time() + 20
    while time.time() < deadline:
        if os.path.exists(port_file):
            lines = open(port_file).read().split()
            if lines:
                return proc, int(lines[0])
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    raise RuntimeError("chromium did not open its DevTools port")


def stop_chromium(proc):
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)  # its own session: the browser and its helpers
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--api", required=True)
    ap.add_argument("--token")
    ap.add_argument("--vip", required=True, help="VIP name as the API shows it")
    ap.add_argument("--backends", required=True, help="comma-separated backend IPs the page must show")
    ap.add_argument("--status", default="up", help="status every backend must show at first")
    ap.add_argument("--drain", required=True, help="backend to drain through the API")
    ap.add_argument("--weight", required=True, help="IP=N: weight to set through the API")
    ap.add_argument("--traffic", action="store_true", help="connections are being made: the chart must have data")
    ap.add_argument("--before", type=float, default=0, help="seconds to watch the page before the change")
    ap.add_argument("--settle", type=float, default=0, help="seconds to wait before the screenshot")
    ap.add_argument("--screenshot")
    ap.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    a = ap.parse_args()
    want = a.backends.split(",")
    wip, wval = a.weight.split("=")
    url = a.api + "/" + (f"#token={a.token}" if a.token else "")

    tmp = tempfile.mkdtemp(prefix="fulcrum-cdp-")
    profile = os.path.join(tmp, "profile")
    os.mkdir(profile)
    proc = None
    try:
        t0 = time.time()
        proc, port = start_chromium(a.chromium, profile)
        targets = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=5).read())
        page = next(t for t in targets if t["type"] == "page")
        cdp = Cdp(page["webSocketDebuggerUrl"])
        cdp.call("Page.enable")
        cdp.call("Runtime.enable")
        cdp.call("Emulation.setDeviceMetricsOverride", width=1280, height=520, deviceScaleFactor=1, mobile=False)
        cdp.call("Page.navigate", url=url)
        print(f"# chromium up and page requested in {time.time() - t0:.1f} s", flush=True)

        def shows_backends(state):
            vip = next((v for v in state if v["vip"] == a.vip), None)
            return vip is not None and [r["ip"] for r in vip["rows"]] == want and all(
                r["status"] == a.status for r in vip["rows"])

        passed, state = wait_for(cdp, shows_backends, 15)
        if passed:
            ok(f"the page shows VIP {a.vip} with backends {a.backends}, all {a.status}")
        else:
            not_ok("the page shows the running Fulcrum's backends", json.dumps(state))
        title = cdp.eval("document.title")
        ok("page title is Fulcrum") if title == "Fulcrum" else not_ok("page title", title)
        cdp.eval("window.__notReloaded = 42")
        time.sleep(a.before)
        updates0 = int(cdp.eval("document.body.dataset.updates || '0'"))

        # A change through the API; the page must follow without a reload.
        api(a.api, "POST", f"/api/v1/vips/{a.vip}/backends/{a.drain}/drain", None, a.token)
        api(a.api, "PATCH", f"/api/v1/vips/{a.vip}/backends/{wip}", {"weight": int(wval)}, a.token)
        t_change = time.time()

        def shows_change(state):
            vip = next((v for v in state if v["vip"] == a.vip), None)
            rows = {r["ip"]: r for r in vip["rows"]} if vip else {}
            # Without a switch the status stays "no-switch"; the mode shows the drain.
            drained = a.status != "up" or (a.drain in rows and rows[a.drain]["status"] == "draining")
            return (drained and a.drain in rows and rows[a.drain]["mode"] == "drain"
                    and wip in rows and rows[wip]["weight"] == wval)

        passed, state = wait_for(cdp, shows_change, 5)
        if passed:
            ok(f"the page shows {a.drain} drained and {wip} weight {wval} "
               f"{time.time() - t_change:.1f} s after the API change")
        else:
            not_ok("the page shows the API change", json.dumps(state))
        if cdp.eval("window.__notReloaded") == 42 and int(cdp.eval("document.body.dataset.updates")) > updates0:
            ok("the page updated itself (no reload)")
        else:
            not_ok("the page updated itself without a reload")
        err = cdp.eval("document.getElementById('error').textContent")
        ok("no error shown on the page") if err == "" else not_ok("no error shown on the page", err)

        if a.traffic:
            chart_js = (f"(() => {{ const h = window.fulcrumHistory[{json.dumps(a.vip)}]; if (!h) return 0;"
                        " return Object.values(h.series).filter(s => s.some(v => v > 0)).length; })()")
            deadline = time.time() + 8
            n = 0
            while time.time() < deadline:
                n = cdp.eval(chart_js)
                if n >= 2:
                    break
                time.sleep(0.5)
            if n >= 2:
                ok(f"the chart has new-connection rates for {n} backends")
            else:
                not_ok("the chart has data for at least two backends", f"backends with data: {n}")
            if a.settle > 0:
                time.sleep(a.settle)
            passed, state = wait_for(cdp, lambda s: True, 1)
            vip = next((v for v in state if v["vip"] == a.vip), None)
            print("# page rows: " + json.dumps(vip["rows"] if vip else state), flush=True)

        if a.screenshot:
            png = base64.b64decode(cdp.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)["data"])
            with open(a.screenshot, "wb") as f:
                f.write(png)
            if png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10000:
                ok(f"screenshot {a.screenshot} ({len(png)} bytes)")
            else:
                not_ok("screenshot is a PNG", f"{len(png)} bytes")
        exceptions = [e for e in cdp.events if e.get("method") == "Runtime.exceptionThrown"]
        if exceptions:
            not_ok("no JavaScript exception", json.dumps(exceptions[:2]))
        else:
            ok("no JavaScript exception")
    except Exception as e:  # a harness failure is a failed test, with its reason
        not_ok("dashboard test ran", repr(e))
    finally:
        if proc is not None:
            stop_chromium(proc)
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"# dashboard_cdp: {FAILED} failed", flush=True)
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
