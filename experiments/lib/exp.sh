# shellcheck shell=bash
# The paper's testbed (section 4) on plain network namespaces, for
# experiments/run.sh. Source after tests/e2e/lib/testbed.sh and dynamic.sh and
# after tb_init + dyn_init: it reuses their bridge, namespaces, cgroups and
# agents, and adds what the experiment needs:
#
#   exp_cg_setup                    # cgroups fulcrum-e2e-$TB_PREFIX-bN (once)
#   exp_up "20 20 20" "0 50 80"     # bridge + hosts, CPU shares (% of one CPU)
#                                   # and link delays (ms) of b1 b2 b3, CPU-working
#                                   # web servers in the cgroups, netdelay
#   exp_fulcrum_up POLICY           # fulcrum + agents; waits for full metrics
#   exp_httperf CONNS RATE OUT      # httperf from c1 against the VIP
#   exp_server_counts               # "b1=N b2=N b3=N" requests served this run
#   exp_down                        # everything of this run stopped and removed
#   exp_relock                      # let other testbed users in between runs
#                                   # (and make our cgroups again)
#
# Everything started here is recorded in $TB_RUN/pids and stopped by pid.
#
# Environment:
#   NETDELAY_BIN       netdelay binary (default: beside $FULCRUM_BIN)
#   EXP_WORK           SHA-256 rounds of CPU work per request (web_server.py)
#   EXP_CFS_PERIOD_US  CFS period of the backends' quotas (default 10000)
#   EXP_DELAY_MODE     link: a link delay D adds D in each direction, 2D per
#                      round trip, as Mininet's TCLink(delay=D) (default);
#                      oneway: D per round trip
#   EXP_AGENT_INTERVAL fulcrum-agent report interval, s (default 1)
#   EXP_LOCK_WAIT      seconds to wait for the testbed lock between runs

EXP_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
: "${NETDELAY_BIN:=$(dirname "$FULCRUM_BIN")/netdelay}"
: "${EXP_WORK:=10000}"
: "${EXP_CFS_PERIOD_US:=10000}"
: "${EXP_DELAY_MODE:=link}"
: "${EXP_AGENT_INTERVAL:=1}"
: "${EXP_LOCK_WAIT:=900}"

# exp_cg_setup: the backends' cgroups (cpu, cpuacct, memory), created once.
exp_cg_setup() {
  dyn_cg_setup 100000 || { echo "exp: no writable cgroup v1 cpu/cpuacct/memory hierarchy" >&2; return 1; }
}

# exp_cg_share HOST PCT: HOST's CPU quota, PCT % of one CPU.
exp_cg_share() {
  local d
  d="${DYN_CG_MNT[cpu]}/$(dyn_cg_name "$1")"
  echo -1 >"$d/cpu.cfs_quota_us" || return 1 # lower the quota before the period
  echo "$EXP_CFS_PERIOD_US" >"$d/cpu.cfs_period_us" || return 1
  echo $((EXP_CFS_PERIOD_US * $2 / 100)) >"$d/cpu.cfs_quota_us" || return 1
}

# exp_hold_ms DELAY_MS: how long netdelay holds a server's ingress packets.
exp_hold_ms() {
  case "$EXP_DELAY_MODE" in
    link) echo $(($1 * 2)) ;;
    oneway) echo "$1" ;;
    *) echo "exp: EXP_DELAY_MODE must be link or oneway" >&2; return 1 ;;
  esac
}

# exp_web_start HOST: web_server.py in HOST's namespace and cgroup (one pid:
# nsenter execs sh, which joins the cgroup and execs python).
exp_web_start() {
  local h=$1 files=() d pid i
  while read -r d; do files+=("$d/cgroup.procs"); done < <(dyn_cg_dirs "$h")
  # shellcheck disable=SC2016 # expanded by that sh
  nsenter --net="$(dyn_netns "$h")" -- sh -c 'py=$1 srv=$2 name=$3 work=$4; shift 4
    for f; do echo $$ >"$f" || exit 1; done
    exec "$py" "$srv" "$name" --port 80 --work "$work"' web "$TB_PYTHON" "$EXP_DIR/web_server.py" "$h" "$EXP_WORK" "${files[@]}" \
    </dev/null >"$TB_RUN/web-$h.log" 2>"$TB_RUN/web-$h.err" &
  pid=$!
  tb__track "web-$h" "$pid"
  for ((i = 0; i < 100; i++)); do
    grep -q listening "$TB_RUN/web-$h.log" 2>/dev/null && return 0
    tb__alive "$pid" || break
    sleep 0.05
  done
  echo "exp: web server on $h did not start" >&2
  cat "$TB_RUN/web-$h.err" >&2
  return 1
}

# exp_netdelay_start HOST DELAY_MS: netdelay on HOST's ingress (eth0).
exp_netdelay_start() {
  local h=$1 hold pid i
  hold=$(exp_hold_ms "$2") || return 1
  ip netns exec "$(tb_ns "$h")" "$NETDELAY_BIN" --delay-ms "$hold" --queue 0 --iface eth0 \
    --pid-file "$TB_RUN/netdelay-$h.pid" </dev/null >"$TB_RUN/netdelay-$h.log" 2>&1 &
  pid=$!
  tb__track "netdelay-$h" "$pid"
  for ((i = 0; i < 50; i++)); do
    [[ -s "$TB_RUN/netdelay-$h.pid" ]] && return 0
    tb__alive "$pid" || break
    sleep 0.05
  done
  echo "exp: netdelay on $h did not start" >&2
  cat "$TB_RUN/netdelay-$h.log" >&2
  return 1
}

# exp_up "S1 S2 S3" "D1 D2 D3": a fresh testbed for one run.
exp_up() {
  local shares delays i h
  read -ra shares <<<"$1"
  read -ra delays <<<"$2"
  tb_up >"$TB_RUN/tb_up.log" 2>&1 || { cat "$TB_RUN/tb_up.log" >&2; return 1; }
  # tb_up starts a static http.server on port 80 in every backend: replace it.
  for h in "${TB_SERVERS[@]}"; do
    tb__kill "$(<"$TB_RUN/pids/http-$h.pid")" 2
    rm -f "$TB_RUN/pids/http-$h.pid"
  done
  for i in 0 1 2; do
    h=${TB_SERVERS[$i]}
    exp_cg_share "$h" "${shares[$i]}" || return 1
    exp_web_start "$h" || return 1
    if ((${delays[$i]} > 0)); then exp_netdelay_start "$h" "${delays[$i]}" || return 1; fi
  done
}

# exp_metrics_ready: every backend up with cpu, mem, rtt and avail_bw known.
exp_metrics_ready() {
  local h l k
  for h in "${TB_SERVERS[@]}"; do
    l=$(dyn_metrics_line "$h")
    [[ "$l" == *" state=up "* ]] || return 1
    for k in cpu mem rtt avail_bw; do dyn_num "$(dyn_field "$l" "$k")" || return 1; done
  done
}

# exp_fulcrum_up POLICY [FLAGS...]: Fulcrum, agents, and a warm-up until every
# backend's metrics are complete, then WARMUP_S more seconds of reports and probes.
exp_fulcrum_up() {
  local policy=$1 i
  shift
  fulcrum_start --vip "$TB_VIP" --backends "$TB_BACKENDS" --policy "$policy" \
    --agent-key-file "$DYN_KEY" --metrics-log-interval 1 --log-level info "$@" || return 1
  wait_switch_connected 20 || { echo "exp: switch did not connect" >&2; return 1; }
  wait_backends_learned 20 || { echo "exp: backends not learned" >&2; return 1; }
  dyn_agents_start "$EXP_AGENT_INTERVAL" >"$TB_RUN/agents.log" 2>&1 || { cat "$TB_RUN/agents.log" >&2; return 1; }
  for ((i = 0; i < 150; i++)); do exp_metrics_ready && break; sleep 0.1; done
  exp_metrics_ready || { echo "exp: metrics incomplete after 15 s" >&2; dyn_metrics_table >&2; return 1; }
  sleep "${WARMUP_S:-2}"
}

# exp_httperf CONNS RATE OUT: httperf from c1 against the VIP, bounded by
# --timeout per connection and by timeout(1) overall. Output (with -v -v: the
# connection-lifetime histogram) in OUT.
exp_httperf() {
  local conns=$1 rate=$2 out=$3 bound
  bound=$(awk -v n="$conns" -v r="$rate" -v t="${HTTPERF_TIMEOUT:-5}" 'BEGIN { printf "%d", n / r + t + 15 }')
  tb_exec c1 timeout -k 2 "$bound" httperf --hog --server "$TB_VIP" --port 80 --uri / \
    --num-conns "$conns" --num-calls 1 --rate "$rate" --timeout "${HTTPERF_TIMEOUT:-5}" -v -v >"$out" 2>&1
}

# exp_server_counts: requests each backend's web server answered this run.
exp_server_counts() {
  local h out=()
  for h in "${TB_SERVERS[@]}"; do out+=("$h=$(grep -c "^$h GET " "$TB_RUN/web-$h.log" 2>/dev/null)"); done
  echo "${out[*]}"
}

exp_down() {
  dyn_agents_stop
  fulcrum_stop TERM
  TB_KEEP_OVS=1 tb_down # netdelay, web servers (pids/), bridge, namespaces; OVS stays for the next run
  rm -f "$TB_RUN"/web-*.log "$TB_RUN"/web-*.err "$TB_RUN"/netdelay-*.log
}

# exp_relock: release the testbed lock and take it again, so a test waiting for
# it runs between two of our runs instead of timing out.
# Whoever held the lock in between may have used our names (the same
# TB_PREFIX) and removed our cgroups at its exit, so they are made again.
exp_relock() {
  tb__kill "$TB_LOCK_PID" 1
  TB_LOCK_PID=""
  sleep 0.2
  TB_LOCK_WAIT=$EXP_LOCK_WAIT tb__lock || return 1
  DYN_CG_DIRS=()
  exp_cg_setup
}
