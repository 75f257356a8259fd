#!/usr/bin/env bash
# Smoke test of fulcrum-bench against fulcrum (ctest label "bench"): starts
# fulcrum on a free loopback port, runs the bench for 1 s in throughput mode
# (OpenFlow 1.3) and 1 s in latency mode (OpenFlow 1.0), and checks from the
# JSON that decisions were made, no OpenFlow error or lost decision occurred
# and round-robin spread the connections evenly (within the window). No
# timing assertion.
#
# usage: bench/smoke.sh FULCRUM_BINARY FULCRUM_BENCH_BINARY
set -euo pipefail

fulcrum=${1:?usage: smoke.sh FULCRUM FULCRUM_BENCH}
bench=${2:?usage: smoke.sh FULCRUM FULCRUM_BENCH}
work=$(mktemp -d)
fulcrum_pid=""

cleanup() {
  if [[ -n $fulcrum_pid ]] && kill -0 "$fulcrum_pid" 2>/dev/null; then
    kill "$fulcrum_pid" 2>/dev/null || true
    wait "$fulcrum_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
"$fulcrum" --listen "127.0.0.1:$port" --vip 10.0.0.100 --backends 10.0.0.11,10.0.0.12,10.0.0.13 \
  --policy round-robin --idle-timeout 60 --log-level warn >"$work/fulcrum.log" 2>&1 &
fulcrum_pid=$!

# Wait until it listens.
for _ in $(seq 1 100); do
  if python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', $port), 0.2).close()" 2>/dev/null; then
    break
  fi
  sleep 0.05
done

run() {  # name, extra flags...
  local name=$1
  shift
  echo "== $name"
  timeout 60 "$bench" --controller "127.0.0.1:$port" --duration 1 --warmup 0.2 --echo-samples 100 \
    --controller-pid "$fulcrum_pid" --json "$work/$name.json" "$@"
  python3 - "$work/$name.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
window = r["params"]["window"]
problems = []
if r["setup"]["switches_up"] < 1:
    problems.append("no switch completed the handshake")
if r["decisions"] <= 0:
    problems.append("no decisions")
if r["errors"]["count"] != 0:
    problems.append(f"{r['errors']['count']} OpenFlow errors: {r['errors']['first']}")
if r["timeouts"] != 0:
    problems.append(f"{r['timeouts']} decisions never answered")
if r["setup"]["vip_arp"] != "reply":
    problems.append(f"the VIP's ARP got no reply ({r['setup']['vip_arp']})")
counts = [r["spread"][b] for b in r["params"]["backends"]]
if sum(counts) != r["decisions"]:
    problems.append(f"spread {counts} does not add up to {r['decisions']} decisions")
if max(counts) - min(counts) > window:
    problems.append(f"round-robin spread uneven beyond the window ({window}): {counts}")
for p in problems:
    print("FAIL:", p)
sys.exit(1 if problems else 0)
PY
}

run throughput_of13 --mode throughput --of-version 1.3
run latency_of10 --mode latency --of-version 1.0 --dpid-base 2
echo "bench smoke: OK"
