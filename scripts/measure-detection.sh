#!/usr/bin/env bash
# Failure-detection time of Fulcrum's health checking, measured on the e2e
# testbed (tests/e2e/lib/testbed.sh: OVS userspace bridge, namespaces).
#
# For each health setting (default: tcp, interval 2 s, timeout 1 s, rise 2,
# fall 3; fast: interval 0.5 s, timeout 0.4 s, rise 2, fall 2) and each
# failure scenario, TRIALS trials (default 5):
#   kill     the backend's web server is SIGKILLed (checks get RST)
#   linkdown the backend's switch port goes down (ip link set <veth> down)
#   silent   the backend stops answering IP (blackhole routes in its
#            namespace: checks time out, nothing is refused)
# detection time = timestamp of fulcrum's "backend down" log line minus the
# wall-clock time taken just before the failure was injected. After each
# trial the failure is undone and the script waits for "backend up", then a
# random pause (0..interval) so the failure lands at a random phase of the
# check cycle. Prints every trial and a median/max table (ms).
#
# Usage: sudo scripts/measure-detection.sh [TRIALS]
# Env: OF_VERSION (13), SETTINGS ("default fast"), SCENARIOS ("kill linkdown silent"),
#      FULCRUM_BIN, MEASURE_OUT (also write the table to this file).
# Bounded: every wait has a timeout; a watchdog stops the run after
# TB_TIMEOUT s (default 600).
set -uo pipefail
TRIALS=${1:-${TRIALS:-5}}
: "${SETTINGS:=default fast}"
: "${SCENARIOS:=kill linkdown silent}"
TB_TIMEOUT=${TB_TIMEOUT:-600}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
source "$ROOT/tests/e2e/lib/testbed.sh"
source "$ROOT/tests/e2e/lib/health.sh"
tb_init
tb_up || tb_bail "testbed up"

CFG=$TB_RUN/fulcrum.yaml
RESULTS=$TB_RUN/detection.txt # setting scenario trial ms
: >"$RESULTS"
TARGETS=(b1 b2 b3)
declare -A IP_OF=([b1]=10.0.0.11 [b2]=10.0.0.12 [b3]=10.0.0.13)

inject() { # SCENARIO HOST
  case $1 in
    kill) hl_stop_web "$2" ;;
    linkdown) ip link set "$(tb_if "$2")" down ;;
    silent)
      ip -n "$(tb_ns "$2")" route add blackhole 10.0.0.0/25
      ip -n "$(tb_ns "$2")" route add blackhole 10.0.0.128/25
      ;;
  esac
}
repair() { # SCENARIO HOST
  case $1 in
    kill) hl_start_web "$2" ;;
    linkdown) ip link set "$(tb_if "$2")" up ;;
    silent)
      ip -n "$(tb_ns "$2")" route del blackhole 10.0.0.0/25
      ip -n "$(tb_ns "$2")" route del blackhole 10.0.0.128/25
      ;;
  esac
}

for setting in $SETTINGS; do
  case $setting in
    default) hl_write_config "$CFG" default_health=1; interval=2 ;;
    fast) hl_write_config "$CFG" interval=0.5 timeout=0.4 rise=2 fall=2; interval=0.5 ;;
    *) echo "unknown setting $setting" >&2; exit 2 ;;
  esac
  hl_fulcrum_up "$CFG" --log-level info
  tb_log "setting $setting: $(grep -A1 health_check "$CFG" | head -n1 | sed 's/^ *//')"
  sleep 2
  for scenario in $SCENARIOS; do
    for ((t = 1; t <= TRIALS; t++)); do
      h=${TARGETS[$(((t - 1) % 3))]}
      ip=${IP_OF[$h]}
      mark=$(hl_mark)
      t0=$(date +%s.%N)
      inject "$scenario" "$h"
      if hl_wait_since "$mark" "backend down vip=$TB_VIP backend=$ip " 20; then
        line=$(hl_line_since "$mark" "backend down vip=$TB_VIP backend=$ip ")
        ms=$(awk -v a="$(hl_log_epoch "$line")" -v b="$t0" 'BEGIN { printf "%d", (a - b) * 1000 + 0.5 }')
        reason=$(grep -oE 'reason=[^=]*connections' <<<"$line" | sed 's/ connections$//')
        echo "$setting $scenario $t $ms" >>"$RESULTS"
        printf '# %-7s %-8s trial %d (%s): %5d ms  %s\n' "$setting" "$scenario" "$t" "$h" "$ms" "$reason"
      else
        echo "$setting $scenario $t timeout" >>"$RESULTS"
        printf '# %-7s %-8s trial %d (%s): no "backend down" within 20 s\n' "$setting" "$scenario" "$t" "$h"
      fi
      mark=$(hl_mark)
      repair "$scenario" "$h"
      hl_wait_since "$mark" "backend up vip=$TB_VIP backend=$ip " 30 ||
        tb_bail "$ip did not come back up within 30 s after repair ($scenario)"
      sleep "$(awk -v i="$interval" -v r="$RANDOM" 'BEGIN { printf "%.3f", 0.3 + i * r / 32768 }')"
    done
  done
  fulcrum_stop TERM
done

{
  echo "Failure detection time, ms ($TRIALS trials each; OpenFlow $TB_OF_DOTTED; $(nproc) CPUs; $(date -u +%F))"
  printf '%-8s %-9s %4s %8s %8s %8s\n' setting scenario n min median max
  for setting in $SETTINGS; do
    for scenario in $SCENARIOS; do
      awk -v s="$setting" -v c="$scenario" '$1 == s && $2 == c && $4 != "timeout" { print $4 }' "$RESULTS" | sort -n |
        awk -v s="$setting" -v c="$scenario" '{ v[NR] = $1 }
          END { if (NR == 0) { printf "%-8s %-9s %4d %8s %8s %8s\n", s, c, 0, "-", "-", "-"; exit }
                m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
                printf "%-8s %-9s %4d %8d %8d %8d\n", s, c, NR, v[1], m, v[NR] }'
    done
  done
  t=$(grep -c timeout "$RESULTS")
  ((t > 0)) && echo "($t trials saw no 'backend down' within 20 s)"
} | tee "${MEASURE_OUT:-/dev/null}"
tb_ok "measurement finished"
tb_done
