#!/usr/bin/env bash
# threads=1 vs threads=N (per-switch sharding, docs/PERFORMANCE.md section
# "Sharding"): OF1.3, round-robin, SWITCHES emulated switches, neither
# process pinned (a sharded controller needs more than one core). One JSON
# file per run into OUT_DIR. Wrap it in the measurement lock on a shared
# machine:  flock /run/lock/fulcrum-measure.lock bench/threads.sh BIN_DIR OUT_DIR
#
# usage: bench/threads.sh BIN_DIR OUT_DIR
#   env: THREADS="1 2" BENCH_THREADS="1 2" SWITCHES=2 REPS=2 DURATION=5
set -euo pipefail

bin=${1:?usage: threads.sh BIN_DIR OUT_DIR}
out=${2:?usage: threads.sh BIN_DIR OUT_DIR}
mkdir -p "$out"
ctl_pid=""
stop_ctl() {
  if [[ -n $ctl_pid ]] && kill -0 "$ctl_pid" 2>/dev/null; then
    kill -INT "$ctl_pid" 2>/dev/null || true
    wait "$ctl_pid" 2>/dev/null || true
  fi
  ctl_pid=""
}
trap stop_ctl EXIT

for rep in $(seq 1 "${REPS:-2}"); do
  for bt in ${BENCH_THREADS:-1 2}; do
    for t in ${THREADS:-1 2}; do
      port=$((16000 + RANDOM % 2000))
      "$bin/fulcrum" --listen 127.0.0.1:$port --vip 10.0.0.100 --backends 10.0.0.11,10.0.0.12,10.0.0.13 \
        --policy round-robin --log-level warn --idle-timeout 600 --seed 42 --threads "$t" &
      ctl_pid=$!
      sleep 0.5
      echo "run $rep: controller --threads $t, bench --threads $bt, load average $(cut -d' ' -f1 /proc/loadavg)"
      "$bin/fulcrum-bench" --controller 127.0.0.1:$port --of-version 1.3 --mode throughput --window 256 \
        --duration "${DURATION:-5}" --warmup 1 --switches "${SWITCHES:-2}" --threads "$bt" \
        --controller-pid "$ctl_pid" --quiet --json "$out/threads-r${rep}-b${bt}-t${t}.json"
      stop_ctl
    done
  done
done

python3 - "$out" <<'PY'
import json, pathlib, sys
print("| run | bench threads | controller threads | decisions/s | controller CPU | ctl µs CPU / decision | bench CPU | bench µs / decision |")
print("|---|---|---|---|---|---|---|---|")
for f in sorted(pathlib.Path(sys.argv[1]).glob("threads-r*-b*-t*.json")):
    d = json.loads(f.read_text())
    c = d["cpu"]
    run, b, t = f.stem.split("-")[1:]
    print(f"| {run[1:]} | {b[1:]} | {t[1:]} | {d['decisions_per_s']['mean']:,.0f} | {c['controller_util']*100:.0f} % "
          f"| {c['controller_us_per_decision']:.2f} | {c['bench_util']*100:.0f} % | {c['bench_us_per_decision']:.2f} |")
PY
