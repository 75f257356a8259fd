#!/usr/bin/python3
"""Markdown tables and PNG plots from experiments/run.sh's results.jsonl.

    report.py --results OUT/results.jsonl [--machine OUT/machine.txt] --out OUT
    report.py ... --insert-into docs/EXPERIMENTS.md --img-dir docs/img/experiments

Writes OUT/report.md (tables in the form of the paper's Tables 4 and 5: mean
response time per connection rate and policy, and its percentage decrease
against round-robin; then p99, connect time, errors and requests per server)
and OUT/img/<scenario>-response.png and <scenario>-p99.png (one panel per
total of connections, one line per policy, as the paper's Graphs 1 and 2).
With --insert-into, the report body replaces the text between the markers
<!-- results:begin --> and <!-- results:end --> of that file, and the plots
go to --img-dir (linked relative to the file). Python 3 standard library and
Debian's python3-matplotlib only.

"Response time" is httperf's "Reply time [ms]: response" (request sent to
first byte of the reply), averaged over the run, as the paper reports it.
Percentage decrease = (RR - X) / RR * 100: positive means X is faster.
"""
import argparse
import collections
import json
import os
import statistics
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

POLICY_ORDER = ["round-robin", "random", "least-connections", "weighted-round-robin", "power-of-two",
                "source-hash", "combined-paper", "combined"]
COLOURS = {"round-robin": "tab:blue", "random": "tab:gray", "least-connections": "tab:green",
           "weighted-round-robin": "tab:olive", "power-of-two": "tab:purple", "source-hash": "tab:brown",
           "combined-paper": "tab:red", "combined": "tab:orange"}
SCENARIO_TEXT = {
    "ideal": "ideal links, equal CPU shares (paper, Table 4 / Graph 1)",
    "delayed": "50 ms and 80 ms on the links of b2 and b3, equal CPU shares (paper, Table 5 / Graph 2)",
    "hetero": "ideal links, unequal CPU shares (ours)",
}
SCENARIO_ORDER = ["ideal", "delayed", "hetero"]
BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"


def load(path):
    runs = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line:
                runs.append(json.loads(line))
    return runs


def mean_of(values):
    values = [v for v in values if isinstance(v, (int, float))]
    return statistics.fmean(values) if values else None


def fmt(v, digits=1):
    return "–" if v is None else f"{v:.{digits}f}"


def pct(rr, x):
    if rr is None or x is None or rr == 0:
        return None
    return (rr - x) / rr * 100.0


def fmt_pct(v):
    return "–" if v is None else f"{v:+.1f} %"


class Grid:
    """Mean of each field over the repeats of one (scenario, conns, rate, policy)."""

    def __init__(self, runs):
        self.cells = collections.defaultdict(list)
        for r in runs:
            self.cells[(r.get("scenario"), r.get("conns"), r.get("rate"), r.get("policy"))].append(r)
        self.scenarios = [s for s in SCENARIO_ORDER if any(k[0] == s for k in self.cells)]
        self.scenarios += sorted({k[0] for k in self.cells} - set(self.scenarios) - {None})
        known = {k[3] for k in self.cells}
        self.policies = [p for p in POLICY_ORDER if p in known] + sorted(known - set(POLICY_ORDER) - {None})

    def sizes(self, s):
        return sorted({k[1] for k in self.cells if k[0] == s})

    def rates(self, s, n):
        return sorted({k[2] for k in self.cells if k[0] == s and k[1] == n})

    def runs(self, s, n, r, p):
        return self.cells.get((s, n, r, p), [])

    def get(self, s, n, r, p, field):
        return mean_of([x.get(field) for x in self.runs(s, n, r, p) if x.get("ok")])


def table(grid, s, field, title, with_pct, digits=1):
    pols = grid.policies
    out = [f"**{title}**", ""]
    head = ["conns", "rate/s"] + pols
    if with_pct:
        head += [f"{p} vs RR" for p in pols if p != "round-robin"]
    out.append("| " + " | ".join(head) + " |")
    out.append("|" + "|".join(["---:"] * len(head)) + "|")
    for n in grid.sizes(s):
        for r in grid.rates(s, n):
            vals = {p: grid.get(s, n, r, p, field) for p in pols}
            row = [str(n), str(r)] + [fmt(vals[p], digits) for p in pols]
            if with_pct:
                row += [fmt_pct(pct(vals.get("round-robin"), vals[p])) for p in pols if p != "round-robin"]
            out.append("| " + " | ".join(row) + " |")
    out.append("")
    return out


def counts_table(grid, s):
    out = ["**Requests served per backend (b1 / b2 / b3), httperf errors (client timeouts)**", ""]
    head = ["conns", "rate/s"] + grid.policies
    out.append("| " + " | ".join(head) + " |")
    out.append("|" + "|".join(["---:", "---:"] + [":---:"] * len(grid.policies)) + "|")
    for n in grid.sizes(s):
        for r in grid.rates(s, n):
            row = [str(n), str(r)]
            for p in grid.policies:
                rs = [x for x in grid.runs(s, n, r, p) if x.get("ok")]
                if not rs:
                    row.append("failed" if grid.runs(s, n, r, p) else "–")
                    continue
                b = [round(mean_of([x.get(f"srv_b{i}") for x in rs]) or 0) for i in (1, 2, 3)]
                e = round(mean_of([x.get("errors") for x in rs]) or 0)
                t = round(mean_of([x.get("client_timeouts") for x in rs]) or 0)
                row.append(f"{b[0]}/{b[1]}/{b[2]}, {e} ({t})")
            out.append("| " + " | ".join(row) + " |")
    out.append("")
    return out


def headline(grid):
    out = ["## Headline: combined against round-robin", "",
           "| scenario | rates | mean response RR → combined (ms) | decrease | p99 RR → combined (ms) | p99 decrease |",
           "|---|---|---|---|---|---|"]
    for s in grid.scenarios:
        for n in grid.sizes(s):
            for r in grid.rates(s, n):
                rr, c = grid.get(s, n, r, "round-robin", "reply_ms"), grid.get(s, n, r, "combined", "reply_ms")
                rp, cp = grid.get(s, n, r, "round-robin", "p99_ms"), grid.get(s, n, r, "combined", "p99_ms")
                if rr is None and c is None:
                    continue
                out.append(f"| {s} | {n} conns @ {r}/s | {fmt(rr)} → {fmt(c)} | {fmt_pct(pct(rr, c))} "
                           f"| {fmt(rp, 0)} → {fmt(cp, 0)} | {fmt_pct(pct(rp, cp))} |")
    out.append("")
    return out


def plot(grid, s, field, ylabel, path):
    sizes = grid.sizes(s)
    fig, axes = plt.subplots(1, len(sizes), figsize=(4.2 * len(sizes), 3.6), squeeze=False, sharey=False)
    for ax, n in zip(axes[0], sizes):
        rates = grid.rates(s, n)
        for p in grid.policies:
            ys = [grid.get(s, n, r, p, field) for r in rates]
            pts = [(r, y) for r, y in zip(rates, ys) if y is not None]
            if not pts:
                continue
            # The paper's colours: round-robin blue, combined criteria orange.
            style = dict(marker="o", linewidth=2.4 if p == "combined" else 1.4, color=COLOURS.get(p))
            ax.plot([x for x, _ in pts], [y for _, y in pts], label=p, **style)
        ax.set_title(f"{n} connections")
        ax.set_xlabel("connections per second")
        ax.set_ylabel(ylabel)
        ax.set_ylim(bottom=0)
        ax.grid(True, alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.suptitle(f"{s}: {SCENARIO_TEXT.get(s, s)}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def build(grid, runs, machine, img_rel):
    out = []
    if machine:
        out += ["## Machine and command", "", "```", machine.strip(), "```", ""]
    failed = [r for r in runs if not r.get("ok")]
    out += [f"{len(runs)} runs, {len(failed)} failed.", ""]
    out += headline(grid)
    for s in grid.scenarios:
        out += [f"## Scenario `{s}`: {SCENARIO_TEXT.get(s, s)}", ""]
        ex = next((r for r in runs if r.get("scenario") == s), {})
        out += [f"CPU shares b1/b2/b3: {ex.get('shares', '?')} % of one CPU; link delays: {ex.get('delays', '?')} ms.", ""]
        out += table(grid, s, "reply_ms", "Mean response time (ms) and its decrease against round-robin", True)
        out += [f"![{s}: mean response time]({img_rel}/{s}-response.png)", ""]
        out += table(grid, s, "p99_ms", "p99 of the connection time (ms; connect + request + reply), and its decrease",
                     True, 0)
        out += [f"![{s}: p99 connection time]({img_rel}/{s}-p99.png)", ""]
        out += table(grid, s, "connect_ms", "Mean connect time (ms)", False)
        out += counts_table(grid, s)
    if failed:
        out += ["## Failed runs", ""]
        for r in failed:
            out.append(f"- {r.get('scenario')} {r.get('policy')} {r.get('conns')} conns @ {r.get('rate')}/s: "
                       f"{r.get('failure') or 'no httperf summary'}")
        out.append("")
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--results", required=True)
    ap.add_argument("--machine")
    ap.add_argument("--out", help="directory for report.md and img/")
    ap.add_argument("--insert-into", help="Markdown file whose results markers get the report")
    ap.add_argument("--img-dir", help="where the plots go with --insert-into")
    a = ap.parse_args()
    runs = load(a.results)
    if not runs:
        sys.exit("report.py: no runs in " + a.results)
    grid = Grid(runs)
    machine = open(a.machine).read() if a.machine and os.path.exists(a.machine) else ""
    targets = []
    if a.out:
        os.makedirs(os.path.join(a.out, "img"), exist_ok=True)
        targets.append((os.path.join(a.out, "report.md"), os.path.join(a.out, "img"), "img", False))
    if a.insert_into:
        img_dir = a.img_dir or os.path.join(os.path.dirname(a.insert_into), "img", "experiments")
        os.makedirs(img_dir, exist_ok=True)
        rel = os.path.relpath(img_dir, os.path.dirname(os.path.abspath(a.insert_into)) or ".")
        targets.append((a.insert_into, img_dir, rel, True))
    if not targets:
        sys.exit("report.py: give --out and/or --insert-into")
    for md, img_dir, rel, insert in targets:
        for s in grid.scenarios:
            plot(grid, s, "reply_ms", "mean response time (ms)", os.path.join(img_dir, f"{s}-response.png"))
            plot(grid, s, "p99_ms", "p99 connection time (ms)", os.path.join(img_dir, f"{s}-p99.png"))
        body = build(grid, runs, machine, rel)
        if insert:
            text = open(md).read()
            if BEGIN not in text or END not in text:
                sys.exit(f"report.py: {md} has no {BEGIN} ... {END} markers")
            head, rest = text.split(BEGIN, 1)
            _, tail = rest.split(END, 1)
            text = head + BEGIN + "\n" + "\n".join(body) + "\n" + END + tail
        else:
            text = "# Fulcrum: the paper's experiment, rerun\n\n" + "\n".join(body) + "\n"
        with open(md, "w") as f:
            f.write(text)
        print(f"report.py: wrote {md} and {len(grid.scenarios) * 2} plots in {img_dir}")


if __name__ == "__main__":
    main()
