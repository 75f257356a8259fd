#!/usr/bin/env bash
# Reproduce the RISTI paper's experiment (section 4, Tables 4 and 5, Graphs 1
# and 2) against Fulcrum, and compare every policy. One command, as root:
#
#   experiments/run.sh --quick              # a few minutes: 3 policies, 2 rates, 1 size
#   experiments/run.sh --full               # every policy x scenario x size x rate (see --plan)
#   experiments/run.sh --full --plan        # print the grid and its planned time, run nothing
#
# For each run, as the paper did, the testbed is rebuilt (bridge, namespaces,
# web servers in CPU-limited cgroups, link delays) and Fulcrum restarted; the
# agents report and the latency probes measure for a few seconds; then httperf
# opens CONNS connections at RATE per second from the client c1 to the VIP
# (one GET each, --timeout bounded). One JSON line per run goes to
# OUT/results.jsonl; at the end experiments/report.py writes OUT/report.md and
# OUT/img/*.png (matplotlib). Testbed: tests/e2e/lib/testbed.sh (namespaces,
# OVS userspace datapath) with experiments/lib/exp.sh; the Mininet variant of
# the same topology is experiments/lb_topology.py.
#
# Scenarios (CPU share of b1 b2 b3 in % of one CPU; link delay of b1 b2 b3):
#   ideal    20 20 20   0  0  0 ms    (paper, Table 4 / Graph 1)
#   delayed  20 20 20   0 50 80 ms    (paper, Table 5 / Graph 2)
#   hetero   10 20 40   0  0  0 ms    (ours: unequal servers)
# A link delay D is D each way (Mininet TCLink semantics, +2D per round trip)
# unless EXP_DELAY_MODE=oneway; see docs/EXPERIMENTS.md.
#
# Options:
#   --quick | --full         the grid (default --quick)
#   --out DIR                results directory (default /tmp/fulcrum-exp-DATE)
#   --policies a,b,...       override the grid's policies
#   --scenarios a,b,...      ideal, delayed, hetero
#   --sizes 100,200,...      total connections per run
#   --hetero-sizes 200,...   sizes for the hetero scenario (default: --full 200, else --sizes)
#   --rates 10,20,...        connections per second
#   --repeat N               runs per grid point (default 1)
#   --plan                   print the grid and the planned time, then exit
#   --no-report              skip report.py
# Environment: FULCRUM_BIN (default build/release/bin/fulcrum; fulcrum-agent
# and netdelay beside it), TB_PREFIX (default fxp), EXP_* (lib/exp.sh).
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/.." && pwd)
: "${TB_PREFIX:=fxp}"
export TB_PREFIX

mode=quick out="" policies="" scenarios="" sizes="" hsizes="" rates="" repeat=1 plan_only=0 report=1
while (($#)); do
  case "$1" in
    --quick) mode=quick ;;
    --full) mode=full ;;
    --out) out=$2; shift ;;
    --policies) policies=$2; shift ;;
    --scenarios) scenarios=$2; shift ;;
    --sizes) sizes=$2; shift ;;
    --hetero-sizes) hsizes=$2; shift ;;
    --rates) rates=$2; shift ;;
    --repeat) repeat=$2; shift ;;
    --plan) plan_only=1 ;;
    --no-report) report=0 ;;
    -h | --help) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

if [[ $mode == full ]]; then
  : "${policies:=round-robin,random,least-connections,combined-paper,combined}"
  : "${scenarios:=ideal,delayed,hetero}"
  : "${sizes:=100,200,300}"
  : "${hsizes:=200}"
  : "${rates:=20,50,100}"
else
  : "${policies:=round-robin,combined-paper,combined}"
  : "${scenarios:=ideal,delayed}"
  : "${sizes:=100}"
  : "${rates:=25,100}"
fi
declare -A SHARES=([ideal]="20 20 20" [delayed]="20 20 20" [hetero]="10 20 40")
declare -A DELAYS=([ideal]="0 0 0" [delayed]="0 50 80" [hetero]="0 0 0")
IFS=, read -ra P <<<"$policies"
IFS=, read -ra S <<<"$scenarios"
IFS=, read -ra N <<<"$sizes"
IFS=, read -ra NH <<<"${hsizes:-$sizes}"
sizes_of() { if [[ $1 == hetero ]]; then echo "${NH[*]}"; else echo "${N[*]}"; fi; }
IFS=, read -ra R <<<"$rates"
for s in "${S[@]}"; do [[ -n "${SHARES[$s]:-}" ]] || { echo "run.sh: unknown scenario $s" >&2; exit 2; }; done

# Planned time: per run a fixed cost (testbed, Fulcrum, warm-up, teardown;
# measured ~11 s here) plus the load itself (CONNS / RATE) and its tail.
: "${EXP_RUN_OVERHEAD_S:=11}"
planned_s=0 nruns=0
for s in "${S[@]}"; do
  read -r t c < <(awk -v np="${#P[@]}" -v rep="$repeat" -v o="$EXP_RUN_OVERHEAD_S" -v sizes="$(sizes_of "$s")" -v rates="${R[*]}" 'BEGIN {
    n = split(sizes, a, " "); m = split(rates, b, " "); t = 0; runs = 0
    for (i = 1; i <= n; i++) for (j = 1; j <= m; j++) { t += o + a[i] / b[j] + 1; runs++ }
    printf "%d %d\n", t * np * rep, runs * np * rep }')
  planned_s=$((planned_s + t)) nruns=$((nruns + c))
done
echo "# plan ($mode): policies ${P[*]} | scenarios ${S[*]} | sizes ${N[*]} (hetero: ${NH[*]}) | rates ${R[*]} | repeat $repeat"
echo "# $nruns runs, planned $((planned_s / 60)) min $((planned_s % 60)) s (at ~${EXP_RUN_OVERHEAD_S} s fixed cost per run)"
((plan_only)) && exit 0

if [[ $(id -u) -ne 0 ]]; then echo "run.sh: run as root (namespaces, OVS, cgroups)" >&2; exit 1; fi
: "${out:=/tmp/fulcrum-exp-$(date +%Y%m%d-%H%M%S)}"
mkdir -p "$out/raw" || exit 1
out=$(cd "$out" && pwd)
: "${FULCRUM_SRC:=$SRC}"
export FULCRUM_SRC
# The watchdog covers the whole grid, with room for waiting on the lock.
: "${TB_TIMEOUT:=$((planned_s * 2 + 600))}"
export TB_TIMEOUT
# shellcheck source=../tests/e2e/lib/testbed.sh
source "$SRC/tests/e2e/lib/testbed.sh"
# shellcheck source=../tests/e2e/lib/dynamic.sh
source "$SRC/tests/e2e/lib/dynamic.sh"
# shellcheck source=lib/exp.sh
source "$HERE/lib/exp.sh"
for b in "$FULCRUM_BIN" "$FULCRUM_AGENT_BIN" "$NETDELAY_BIN"; do
  [[ -x "$b" ]] || { echo "run.sh: missing $b (build: cmake --preset release && cmake --build --preset release)" >&2; exit 1; }
done
command -v httperf >/dev/null || { echo "run.sh: httperf not installed (scripts/setup.sh)" >&2; exit 1; }

tb_init
dyn_init
exp_cg_setup || exit 1

{
  echo "date: $(date -Is)"
  echo "command: experiments/run.sh --$mode --policies $policies --scenarios $scenarios --sizes $sizes${hsizes:+ --hetero-sizes $hsizes} --rates $rates --repeat $repeat"
  echo "host: $(lscpu | sed -n 's/^Model name: *//p') x $(nproc) CPUs; $(free -g | awk '/Mem:/ {print $2}') GiB"
  echo "kernel: $(uname -sr)"
  echo "ovs: $(ovs-vswitchd --version | head -n 1)"
  echo "httperf: $(httperf --version 2>&1 | grep -v warning | head -n 1)"
  echo "python: $("$TB_PYTHON" --version 2>&1)"
  echo "fulcrum: $(git -C "$SRC" rev-parse --short HEAD 2>/dev/null)$(git -C "$SRC" diff --quiet HEAD -- src 2>/dev/null || echo ' (+ local changes in src/)')"
  echo "web work: $("$TB_PYTHON" "$HERE/web_server.py" --calibrate --work "$EXP_WORK")"
  echo "cfs period: $EXP_CFS_PERIOD_US us; delay mode: $EXP_DELAY_MODE; agent interval: $EXP_AGENT_INTERVAL s; httperf timeout: ${HTTPERF_TIMEOUT:-5} s"
  echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
} >"$out/machine.txt"
cat "$out/machine.txt" | sed 's/^/# /'

t_start=$SECONDS
k=0
for s in "${S[@]}"; do
  for n in $(sizes_of "$s"); do
    for r in "${R[@]}"; do
      for ((rep = 1; rep <= repeat; rep++)); do
        for p in "${P[@]}"; do
          k=$((k + 1))
          ((k > 1)) && { exp_relock || { echo "run.sh: lost the testbed lock" >&2; exit 1; }; }
          tag="$s-$p-n$n-r$r-$rep"
          t0=$SECONDS
          ok=1 why=""
          # This run's part of Fulcrum's log (the log is appended run after run).
          mark=0
          [[ -f "$TB_RUN/fulcrum.log" ]] && mark=$(wc -l <"$TB_RUN/fulcrum.log")
          exp_up "${SHARES[$s]}" "${DELAYS[$s]}" 2>"$out/raw/$tag.err" || { ok=0; why=testbed; }
          ((ok)) && { exp_fulcrum_up "$p" 2>>"$out/raw/$tag.err" || { ok=0; why=fulcrum; }; }
          if ((ok)); then
            dyn_metrics_table >"$out/raw/$tag.metrics-before"
            exp_httperf "$n" "$r" "$out/raw/$tag.httperf" || { ok=0; why=httperf; }
            dyn_metrics_table >"$out/raw/$tag.metrics-after"
          fi
          counts=$(exp_server_counts)
          tail -n "+$((mark + 1))" "$TB_RUN/fulcrum.log" 2>/dev/null | grep -E ' (metrics|backend (down|up)|no backend)' >"$out/raw/$tag.fulcrum"
          exp_down
          "$TB_PYTHON" "$HERE/httperf_parse.py" "$out/raw/$tag.httperf" scenario="$s" policy="$p" conns="$n" rate="$r" \
            rep="$rep" ok="$ok" failure="$why" ${counts//b/srv_b} shares="${SHARES[$s]// /\/}" delays="${DELAYS[$s]// /\/}" \
            >>"$out/results.jsonl" 2>>"$out/raw/$tag.err" || echo "{\"scenario\": \"$s\", \"policy\": \"$p\", \"conns\": $n, \"rate\": $r, \"ok\": 0}" >>"$out/results.jsonl"
          line=$(tail -n 1 "$out/results.jsonl")
          printf '# [%d/%d] %-8s %-18s n=%-3s r=%-3s %3ds  %s\n' "$k" "$nruns" "$s" "$p" "$n" "$r" $((SECONDS - t0)) \
            "$("$TB_PYTHON" -c 'import json,sys; d=json.loads(sys.argv[1]); print("reply=%sms connect=%sms p99=%sms errors=%s %s %s" % (d.get("reply_ms"), d.get("connect_ms"), d.get("p99_ms"), d.get("errors"), sys.argv[2], ("FAILED " + str(d.get("failure"))) if not d.get("ok") else ""))' "$line" "$counts")"
        done
      done
    done
  done
done
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$out/machine.txt"
echo "wall time: $((SECONDS - t_start)) s for $k runs" >>"$out/machine.txt"
echo "# done: $k runs in $((SECONDS - t_start)) s; results $out/results.jsonl"
if ((report)); then
  "$TB_PYTHON" "$HERE/report.py" --results "$out/results.jsonl" --machine "$out/machine.txt" --out "$out" ||
    { echo "run.sh: report.py failed" >&2; exit 1; }
  echo "# report: $out/report.md, plots: $out/img/"
fi
tb_done
