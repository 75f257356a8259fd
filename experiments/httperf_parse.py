#!/usr/bin/env python3
"""Turn one httperf run's output (with -v) into one JSON line for the report.

    httperf_parse.py OUTPUT_FILE [KEY=VALUE ...] >> results.jsonl

Fields taken from httperf: reply_ms ("Reply time [ms]: response", the
paper's response time), transfer_ms, connect_ms ("Connection time [ms]:
connect"), conn_avg_ms / conn_median_ms / conn_max_ms (connection lifetime),
p50_ms / p90_ms / p99_ms (from the 1 ms-bin connection-lifetime histogram that
-v prints; successful connections only), replies, errors (total),
client_timeouts, conn_rate (achieved), duration_s. KEY=VALUE pairs are added
as they are (numbers become numbers; "b1=3,b2=4" style values stay strings).
Standard library only.
"""
import json
import re
import sys


def num(s):
    try:
        return int(s)
    except ValueError:
        try:
            return float(s)
        except ValueError:
            return s


def percentile(hist, q):
    """hist: list of (upper-ms, count) in ascending order; q in 0..1."""
    total = sum(c for _, c in hist)
    if total == 0:
        return None
    want = q * total
    seen = 0
    for ms, c in hist:
        seen += c
        if seen >= want:
            return ms
    return hist[-1][0]


def parse(text):
    r = {}

    def grab(key, pattern, cast=float):
        m = re.search(pattern, text)
        r[key] = cast(m.group(1)) if m else None

    grab("reply_ms", r"Reply time \[ms\]: response ([0-9.]+)")
    grab("transfer_ms", r"Reply time \[ms\]: response [0-9.]+ transfer ([0-9.]+)")
    grab("connect_ms", r"Connection time \[ms\]: connect ([0-9.]+)")
    grab("conn_avg_ms", r"Connection time \[ms\]: min [0-9.]+ avg ([0-9.]+)")
    grab("conn_max_ms", r"Connection time \[ms\]: min [0-9.]+ avg [0-9.]+ max ([0-9.]+)")
    grab("conn_median_ms", r"Connection time \[ms\]: .* median ([0-9.]+)")
    grab("conn_rate", r"Connection rate: ([0-9.]+) conn/s")
    grab("duration_s", r"test-duration ([0-9.]+) s")
    grab("connections", r"Total: connections ([0-9]+)", int)
    grab("replies", r"Total: connections [0-9]+ requests [0-9]+ replies ([0-9]+)", int)
    grab("errors", r"Errors: total ([0-9]+)", int)
    grab("client_timeouts", r"Errors: total [0-9]+ client-timo ([0-9]+)", int)
    grab("status_2xx", r"2xx=([0-9]+)", int)
    hist = []
    # "Connection lifetime histogram (time in ms):", a ":" line, then one
    # "CENTRE COUNT" line per non-empty 1 ms bin (centre i + 0.5), until a blank line.
    part = text.split("Connection lifetime histogram (time in ms):", 1)
    if len(part) == 2:
        for line in part[1].splitlines()[1:]:
            f = line.split()
            if not f:
                if hist:
                    break
                continue
            if len(f) == 2 and re.fullmatch(r"[0-9.]+", f[0]) and f[1].isdigit():
                hist.append((float(f[0]) + 0.5, int(f[1])))  # the bin's upper edge
    hist.sort()
    r["p50_ms"] = percentile(hist, 0.50)
    r["p90_ms"] = percentile(hist, 0.90)
    r["p99_ms"] = percentile(hist, 0.99)
    r["hist_count"] = sum(c for _, c in hist)
    return r


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    with open(sys.argv[1], errors="replace") as f:
        text = f.read()
    rec = {}
    for kv in sys.argv[2:]:
        k, _, v = kv.partition("=")
        rec[k] = num(v)
    rec.update(parse(text))
    print(json.dumps(rec, sort_keys=True))


if __name__ == "__main__":
    main()
