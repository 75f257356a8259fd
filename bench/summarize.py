#!/usr/bin/env python3
"""Markdown table of fulcrum-bench JSON results (one file per run).

usage: bench/summarize.py RESULT.json... (or a directory of them)
"""
import json
import os
import sys


def load(paths):
    files = []
    for p in paths:
        if os.path.isdir(p):
            files += sorted(os.path.join(p, f) for f in os.listdir(p) if f.endswith(".json"))
        else:
            files.append(p)
    return [(os.path.basename(f)[:-5], json.load(open(f))) for f in files]


def us(ns):
    return "-" if ns is None else f"{ns / 1000:.1f}"


def main():
    runs = load(sys.argv[1:])
    print("| run | OF | sw | window | decisions/s mean (min/med/max) | latency µs p50 / p99 / p99.9 "
          "| echo µs p50 / p99 | flow-mod + packet-out per decision | spread | errors | ctl CPU % | ctl µs/decision "
          "| bench CPU % | bench µs/decision | load |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name, r in runs:
        p = r["params"]
        d = r["decisions_per_s"]
        lat = r["latency_ns"]
        echo = r["setup"]["echo_rtt_ns"]
        m = r["messages_per_decision"]
        cpu = r["cpu"]
        spread = "/".join(str(v) for k, v in r["spread"].items() if v or k in p["backends"])
        print(f"| {name} | {r['params']['negotiated_version']} | {p['switches']} | {p['window']} "
              f"| {d['mean']:,.0f} ({d['min']:,}/{d['median']:,}/{d['max']:,}) "
              f"| {us(lat.get('p50'))} / {us(lat.get('p99'))} / {us(lat.get('p999'))} "
              f"| {us(echo.get('p50'))} / {us(echo.get('p99'))} "
              f"| {m['flow_mod']:.2f} + {m['packet_out']:.2f} | {spread} | {r['errors']['count']} "
              f"| {100 * cpu.get('controller_util', 0):.0f} | {cpu.get('controller_us_per_decision', 0):.2f} "
              f"| {100 * cpu['bench_util']:.0f} | {cpu['bench_us_per_decision']:.2f} "
              f"| {r.get('loadavg_1m_after', '-')} |")
    for name, r in runs:
        rss = r.get("controller_rss_kb")
        if rss and name.startswith("memory"):
            print(f"\n{name}: RSS {rss['after_setup']} kB -> {rss['after_load']} kB over "
                  f"{r['totals']['decisions_including_warmup']:,} connections = {rss['bytes_per_decision']:.0f} bytes each")


if __name__ == "__main__":
    main()
