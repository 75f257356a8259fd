#!/usr/bin/python3
"""Checks an experiments/run.sh output directory: results.jsonl (every run ok,
numbers where there must be numbers), report.md (per scenario, the response
time, p99 and connect tables each have one row per size and rate, with a
number for every policy; the headline and per-server tables are there) and the
PNG plots (signature, IHDR size). Prints TAP-like lines; exit 1 on a failure.

    check_report.py OUT_DIR
"""
import json
import os
import re
import struct
import sys

fails = 0


def check(ok, what):
    global fails
    print(("ok - " if ok else "not ok - ") + what)
    if not ok:
        fails += 1
    return ok


def table_after(md, title):
    """Rows (lists of cells) of the first table after a line containing title."""
    i = md.find(title)
    if i < 0:
        return None, None
    lines = md[i:].splitlines()[1:]
    rows = [ln for ln in lines if ln.startswith("|")]
    start = next((k for k, ln in enumerate(lines) if ln.startswith("|")), None)
    if start is None:
        return None, None
    block = []
    for ln in lines[start:]:
        if not ln.startswith("|"):
            break
        block.append([c.strip() for c in ln.strip().strip("|").split("|")])
    del rows
    return block[0], block[2:]


def main():
    out = sys.argv[1]
    runs = [json.loads(l) for l in open(os.path.join(out, "results.jsonl")) if l.strip()]
    check(len(runs) > 0, f"results.jsonl has runs ({len(runs)})")
    for r in runs:
        tag = f"{r.get('scenario')} {r.get('policy')} {r.get('conns')}@{r.get('rate')}"
        good = r.get("ok") == 1 and all(isinstance(r.get(k), (int, float)) for k in
                                        ("reply_ms", "connect_ms", "p50_ms", "p99_ms", "replies", "errors"))
        good = good and sum(r.get(f"srv_b{i}", 0) for i in (1, 2, 3)) == r.get("replies")
        check(good, f"run {tag}: ok, numbers parse, served requests = httperf replies")
    md = open(os.path.join(out, "report.md")).read()
    scenarios = sorted({r["scenario"] for r in runs})
    policies = sorted({r["policy"] for r in runs})
    check("## Headline: combined against round-robin" in md, "report has the headline table")
    for s in scenarios:
        sec = md.split(f"## Scenario `{s}`", 1)
        if not check(len(sec) == 2, f"report has a section for scenario {s}"):
            continue
        body = sec[1].split("\n## ", 1)[0]
        grid = sorted({(r["conns"], r["rate"]) for r in runs if r["scenario"] == s})
        for title in ("Mean response time", "p99 of the connection time", "Mean connect time",
                      "Requests served per backend"):
            head, rows = table_after(body, title)
            if not check(head is not None, f"{s}: table '{title}'"):
                continue
            check(all(p in head for p in policies), f"{s}: '{title}' has a column per policy {policies}")
            keys = sorted((int(x[0]), int(x[1])) for x in rows if len(x) >= 2 and x[0].isdigit())
            check(keys == grid, f"{s}: '{title}' has a row per size and rate {grid}")
            for row in rows:
                cells = [row[head.index(p)] for p in policies if p in head and len(row) == len(head)]
                if title.startswith("Requests"):
                    good = all(re.fullmatch(r"\d+/\d+/\d+, \d+ \(\d+\)", c) for c in cells)
                else:
                    good = all(re.fullmatch(r"-?\d+(\.\d+)?", c) for c in cells)
                check(good and len(cells) == len(policies), f"{s}: '{title}' row {row[:2]}: a value per policy")
        for kind in ("response", "p99"):
            png = os.path.join(out, "img", f"{s}-{kind}.png")
            ok = os.path.exists(png) and os.path.getsize(png) > 1000
            if ok:
                data = open(png, "rb").read(24)
                ok = data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
                w, h = struct.unpack(">II", data[16:24]) if ok else (0, 0)
                ok = ok and w >= 300 and h >= 200
            check(ok, f"{s}: {os.path.basename(png)} is a PNG image")
            check(f"img/{s}-{kind}.png" in md, f"{s}: report links {s}-{kind}.png")
    print(f"# {fails} failed")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
