# shellcheck shell=bash
# Fulcrum end-to-end testbed: one Open vSwitch userspace bridge, five hosts in
# network namespaces, real HTTP servers on the backends, and helpers to run the
# fulcrum controller against it. Source this file; do not execute it.
#
#   source "$(dirname "$0")/lib/testbed.sh"
#   tb_init                 # run dir, EXIT trap (diagnostics + teardown), watchdog
#   tb_up                   # OVS, bridge, namespaces, web servers
#   fulcrum_start --vip "$TB_VIP" --backends "$TB_BACKENDS" --policy round-robin
#   wait_switch_connected 20 && wait_backends_learned 20
#   ...assertions with tb_ok / tb_fail / tb_check / tb_assert_eq...
#   tb_done                 # prints "N passed, M failed", exits non-zero on failure
#
# Topology (all hosts in 10.0.0.0/24, MACs fixed so tests can grep for them):
#
#   host  namespace      IP          MAC                 OVS port (ofport_request)
#   c1    $TB_PREFIX-c1  10.0.0.1    00:00:00:00:00:01    1
#   c2    $TB_PREFIX-c2  10.0.0.2    00:00:00:00:00:02    2
#   b1    $TB_PREFIX-b1  10.0.0.11   00:00:00:00:00:11   11
#   b2    $TB_PREFIX-b2  10.0.0.12   00:00:00:00:00:12   12
#   b3    $TB_PREFIX-b3  10.0.0.13   00:00:00:00:00:13   13
#
# The OVS port number equals the host number (c1=1, b1=11, ...). Inside each
# namespace the interface is "eth0"; its host-side peer is named like the
# namespace ("$TB_PREFIX-c1"). The bridge is "$TB_PREFIX-br": datapath netdev,
# fail_mode secure, in-band off, datapath id 0000000000000001, one controller
# tcp:127.0.0.1:$TB_PORT (out-of-band, max_backoff 1 s). No host interface,
# the bridge's own internal port included, gets an address or a route.
#
# Environment:
#   TB_PREFIX     name prefix (default flc; at most 12 characters)
#   OF_VERSION    10 or 13 (default 13): the bridge's only OpenFlow version
#   TB_PORT       controller TCP port on 127.0.0.1 (default: a free one)
#   FULCRUM_SRC   source tree (default: two levels above this file)
#   FULCRUM_BIN   controller binary (default $FULCRUM_SRC/build/release/bin/fulcrum)
#   TB_TIMEOUT    watchdog seconds for the whole test script (default 150)
#   TB_KEEP_OVS=1 leave Open vSwitch running even if this script started it
#   TB_KEEP_RUN=1 keep the run directory ($TB_RUN) after a passing run

TB_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${TB_PREFIX:=flc}"
: "${OF_VERSION:=13}"
: "${FULCRUM_SRC:=$(cd "$TB_LIB_DIR/../../.." && pwd)}"
: "${FULCRUM_BIN:=$FULCRUM_SRC/build/release/bin/fulcrum}"
: "${TB_TIMEOUT:=150}"
if [[ -x /usr/bin/python3 ]]; then : "${TB_PYTHON:=/usr/bin/python3}"; else : "${TB_PYTHON:=python3}"; fi

TB_VIP=10.0.0.100
TB_VIP_PORT=80
TB_FAKE_MAC=02:00:00:00:00:fe
TB_BACKENDS=10.0.0.11,10.0.0.12,10.0.0.13
TB_DPID=0000000000000001
TB_BR="${TB_PREFIX}-br"
TB_HOSTS=(c1 c2 b1 b2 b3)
TB_CLIENTS=(c1 c2)
TB_SERVERS=(b1 b2 b3)
declare -A TB_IP=([c1]=10.0.0.1 [c2]=10.0.0.2 [b1]=10.0.0.11 [b2]=10.0.0.12 [b3]=10.0.0.13)
declare -A TB_MAC=([c1]=00:00:00:00:00:01 [c2]=00:00:00:00:00:02
                   [b1]=00:00:00:00:00:11 [b2]=00:00:00:00:00:12 [b3]=00:00:00:00:00:13)
declare -A TB_OFPORT=([c1]=1 [c2]=2 [b1]=11 [b2]=12 [b3]=13)
declare -A TB_NAME_OF_IP=([10.0.0.1]=c1 [10.0.0.2]=c2 [10.0.0.11]=b1 [10.0.0.12]=b2 [10.0.0.13]=b3)

case "$OF_VERSION" in
  10) TB_OF_PROTO=OpenFlow10; TB_OF_DOTTED=1.0 ;;
  13) TB_OF_PROTO=OpenFlow13; TB_OF_DOTTED=1.3 ;;
  *) echo "testbed.sh: OF_VERSION must be 10 or 13, got '$OF_VERSION'" >&2; return 1 2>/dev/null || exit 1 ;;
esac
if ((${#TB_PREFIX} > 12)); then
  echo "testbed.sh: TB_PREFIX '$TB_PREFIX' is longer than 12 characters (interface names max 15)" >&2
  return 1 2>/dev/null || exit 1
fi

TB_PASS=0
TB_FAIL=0
TB_STARTED_OVS=0
TB_RUN=""
TB_WATCHDOG_PID=""
TB_FULCRUM_PID=""
TB_LOG_MARK=0
TB_T0=$SECONDS

tb_log() { echo "# $*"; }
tb_ns() { echo "${TB_PREFIX}-$1"; }       # namespace of host c1/b2/...
tb_if() { echo "${TB_PREFIX}-$1"; }       # host-side veth of host c1/b2/...
# Run a command inside a host's namespace: tb_exec c1 ping -c1 10.0.0.2
tb_exec() { local h=$1; shift; ip netns exec "$(tb_ns "$h")" "$@"; }
# Background processes are started with `ip netns exec` directly, not through
# tb_exec: `tb_exec ... &` forks a subshell, and $! would be the subshell's pid
# (a TERM to it orphans the real process; SIGINT is ignored by it).

# ---------------------------------------------------------------- reporting --

tb_ok() { TB_PASS=$((TB_PASS + 1)); echo "ok - $*"; }
# tb_fail DESC [DETAIL...]: one failed assertion; details printed as comments.
tb_fail() {
  TB_FAIL=$((TB_FAIL + 1))
  echo "not ok - $1"
  shift
  local d
  for d in "$@"; do printf '%s\n' "$d" | sed 's/^/#   /'; done
}
# tb_note LINE...: diagnostic comment lines (no verdict).
tb_note() { local d; for d in "$@"; do printf '%s\n' "$d" | sed 's/^/#   /'; done; }
# tb_check DESC CMD...: passes if CMD exits 0 (its output is shown on failure).
tb_check() {
  local desc=$1 out rc
  shift
  out=$("$@" 2>&1)
  rc=$?
  if ((rc == 0)); then tb_ok "$desc"; else tb_fail "$desc" "command: $* (exit $rc)" "$(tail -n 15 <<<"$out")"; fi
  return $rc
}
tb_assert_eq() {
  local desc=$1 want=$2 got=$3
  if [[ "$want" == "$got" ]]; then tb_ok "$desc"; return 0; fi
  tb_fail "$desc" "expected: $want" "got:      $got"
  return 1
}
# tb_bail DESC [DETAIL...]: a failure the test cannot go on after; exits.
tb_bail() { tb_fail "$@"; echo "Bail out! $1"; exit 1; }
# tb_done: closing line and exit status (the EXIT trap tears down).
tb_done() {
  echo "# $(basename "$0") OF_VERSION=$OF_VERSION took $((SECONDS - TB_T0)) s"
  echo "$TB_PASS passed, $TB_FAIL failed"
  if ((TB_FAIL > 0)); then exit 1; fi
  exit 0
}

tb_dump_diagnostics() {
  echo "# ---- diagnostics (run dir $TB_RUN) ----"
  if [[ -n "$TB_RUN" && -f "$TB_RUN/fulcrum.log" ]]; then
    echo "# tail of fulcrum.log:"
    tail -n 60 "$TB_RUN/fulcrum.log" | sed 's/^/#   /'
  fi
  if ovs-vsctl --timeout=5 br-exists "$TB_BR" 2>/dev/null; then
    echo "# ovs-ofctl -O $TB_OF_PROTO dump-flows $TB_BR:"
    timeout 10 ovs-ofctl -O "$TB_OF_PROTO" dump-flows "$TB_BR" 2>&1 | head -n 80 | sed 's/^/#   /'
    echo "# controller:"
    timeout 10 ovs-vsctl --timeout=5 list controller 2>&1 | grep -E '^(target|is_connected|status|role)' | sed 's/^/#   /'
  fi
}

# ------------------------------------------------------------- processes --

# Remember a pid we started (tb_down kills it).
tb__track() { echo "$2" >"$TB_RUN/pids/$1.pid"; }
tb__alive() { # pid alive and not a zombie
  local pid=$1 st
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 1
  st=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) || return 1
  [[ "$st" != Z ]]
}
# tb__kill PID [SECONDS]: TERM, wait, then KILL; only our own pids are passed.
tb__kill() {
  local pid=$1 t=${2:-5} i
  tb__alive "$pid" || return 0
  kill -TERM "$pid" 2>/dev/null
  for ((i = 0; i < t * 10; i++)); do tb__alive "$pid" || break; sleep 0.1; done
  if tb__alive "$pid"; then kill -KILL "$pid" 2>/dev/null; sleep 0.1; fi
  wait "$pid" 2>/dev/null
  return 0
}
tb_free_port() {
  "$TB_PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# ------------------------------------------------------------------- init --

tb_init() {
  TB_RUN=$(mktemp -d /tmp/fulcrum-e2e-XXXXXX) || { echo "mktemp failed" >&2; exit 1; }
  mkdir -p "$TB_RUN/pids"
  trap 'tb__on_exit' EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  tb__lock || exit 1
  # Watchdog: a single bash process that TERMs this script after TB_TIMEOUT s.
  bash -c 'trap "kill \$s 2>/dev/null; exit 0" TERM; sleep "$1" & s=$!; wait $s && { echo "# watchdog: $1 s elapsed, stopping test" >&2; kill -TERM "$2"; }' \
    _ "$TB_TIMEOUT" "$$" </dev/null >/dev/null 2>&1 &
  TB_WATCHDOG_PID=$!
  tb_log "run dir $TB_RUN, prefix $TB_PREFIX, OpenFlow $TB_OF_DOTTED, fulcrum $FULCRUM_BIN"
}

# One testbed at a time on this machine: test runs share Open vSwitch and, by
# default, the same names; ctest's RESOURCE_LOCK does not reach across two
# ctest processes (or a ctest and a demo). The lock is held by a small helper
# process (flock -o: none of our children inherit it) that lets go when this
# script ends, even by SIGKILL.
: "${TB_LOCK_FILE:=/run/lock/fulcrum-e2e.lock}"
: "${TB_LOCK_WAIT:=120}"
TB_LOCK_PID=""
tb__lock() {
  local i
  mkdir -p "$(dirname "$TB_LOCK_FILE")"
  flock -o -w "$TB_LOCK_WAIT" "$TB_LOCK_FILE" \
    sh -c 'echo locked; exec tail --pid="$1" -f /dev/null' _ "$$" \
    </dev/null >"$TB_RUN/lock.status" 2>&1 &
  TB_LOCK_PID=$!
  for ((i = 0; i < (TB_LOCK_WAIT + 5) * 10; i++)); do
    grep -q locked "$TB_RUN/lock.status" 2>/dev/null && return 0
    if ! tb__alive "$TB_LOCK_PID"; then break; fi
    ((i == 10)) && tb_log "waiting up to $TB_LOCK_WAIT s for another testbed run to finish ($TB_LOCK_FILE)"
    sleep 0.1
  done
  echo "testbed: could not take $TB_LOCK_FILE within $TB_LOCK_WAIT s: another run holds it" >&2
  TB_LOCK_PID=""
  return 1
}

tb__on_exit() {
  local rc=$?
  trap - EXIT INT TERM
  if [[ -z "$TB_LOCK_PID" ]]; then
    # Never got the lock: the names in use belong to another run; touch nothing.
    echo "# run dir kept: $TB_RUN"
    exit "$((rc == 0 ? 1 : rc))"
  fi
  if ((rc != 0 || TB_FAIL > 0)); then tb_dump_diagnostics; fi
  tb_down
  if [[ -n "$TB_WATCHDOG_PID" ]]; then tb__kill "$TB_WATCHDOG_PID" 2; fi
  if [[ -n "$TB_LOCK_PID" ]]; then tb__kill "$TB_LOCK_PID" 2; fi
  if ((rc == 0 && TB_FAIL == 0)) && [[ "${TB_KEEP_RUN:-0}" != 1 && -n "$TB_RUN" ]]; then
    rm -rf "$TB_RUN"
  elif [[ -n "$TB_RUN" ]]; then
    echo "# run dir kept: $TB_RUN"
  fi
  if ((rc == 0 && TB_FAIL > 0)); then rc=1; fi
  exit "$rc"
}

# -------------------------------------------------------------------- OVS --

tb_ensure_ovs() {
  if ovs-vsctl --timeout=5 show >/dev/null 2>&1; then return 0; fi
  tb_log "starting Open vSwitch (ovs-ctl start)"
  if ! /usr/share/openvswitch/scripts/ovs-ctl start --system-id=random </dev/null >"$TB_RUN/ovs-ctl.log" 2>&1; then
    cat "$TB_RUN/ovs-ctl.log" >&2
    return 1
  fi
  TB_STARTED_OVS=1
  ovs-vsctl --timeout=10 show >/dev/null
}

tb_stop_ovs_if_started() {
  if ((TB_STARTED_OVS == 1)) && [[ "${TB_KEEP_OVS:-0}" != 1 ]]; then
    # Another bridge there means someone else uses this OVS now: leave it.
    if [[ -z "$(ovs-vsctl --timeout=5 list-br 2>/dev/null)" ]]; then
      /usr/share/openvswitch/scripts/ovs-ctl stop </dev/null >>"$TB_RUN/ovs-ctl.log" 2>&1
    else
      tb_log "Open vSwitch left running: other bridges exist"
    fi
    TB_STARTED_OVS=0
  fi
}

# Remove our own leftovers (by name) from an earlier, interrupted run.
tb__remove_leftovers() {
  local h ns pid
  if ovs-vsctl --timeout=5 br-exists "$TB_BR" 2>/dev/null; then
    ovs-vsctl --timeout=10 --if-exists del-br "$TB_BR"
  fi
  for h in "${TB_HOSTS[@]}"; do
    ns=$(tb_ns "$h")
    if ip netns list | awk '{print $1}' | grep -qx "$ns"; then
      # Processes left inside a namespace of ours were started by an earlier run of ours.
      for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
      ip netns del "$ns"
    fi
    ip link del "$(tb_if "$h")" 2>/dev/null
  done
  return 0
}

tb__add_host() {
  local h=$1 ns hif
  ns=$(tb_ns "$h")
  hif=$(tb_if "$h")
  ip netns add "$ns" || return 1
  ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 || return 1
  ip link add "$hif" type veth peer name eth0 netns "$ns" || return 1
  sysctl -qw "net.ipv6.conf.$hif.disable_ipv6=1" || return 1
  ip netns exec "$ns" sysctl -qw net.ipv6.conf.eth0.disable_ipv6=1 net.ipv6.conf.lo.disable_ipv6=1 || return 1
  ip -n "$ns" link set eth0 address "${TB_MAC[$h]}" || return 1
  ethtool -K "$hif" rx off tx off sg off tso off gso off gro off >/dev/null 2>&1 || return 1
  ip netns exec "$ns" ethtool -K eth0 rx off tx off sg off tso off gso off gro off >/dev/null 2>&1 || return 1
  ip -n "$ns" addr add "${TB_IP[$h]}/24" dev eth0 || return 1
  ip -n "$ns" link set lo up || return 1
  ip -n "$ns" link set eth0 up || return 1
  ip link set "$hif" up || return 1
  ovs-vsctl --timeout=10 add-port "$TB_BR" "$hif" -- set interface "$hif" "ofport_request=${TB_OFPORT[$h]}" || return 1
}

# tb_up: bridge + hosts + web servers. Sets TB_PORT if unset.
tb_up() {
  [[ -n "$TB_RUN" ]] || { echo "tb_up: call tb_init first" >&2; return 1; }
  tb_ensure_ovs || { echo "tb_up: Open vSwitch not available" >&2; return 1; }
  tb__remove_leftovers
  : "${TB_PORT:=$(tb_free_port)}"
  ovs-vsctl --timeout=10 \
    -- add-br "$TB_BR" \
    -- set bridge "$TB_BR" datapath_type=netdev fail_mode=secure "protocols=$TB_OF_PROTO" \
         other-config:disable-in-band=true "other-config:datapath-id=$TB_DPID" \
    -- --id=@c create controller "target=\"tcp:127.0.0.1:$TB_PORT\"" \
         connection-mode=out-of-band max_backoff=1000 inactivity_probe=5000 \
    -- set bridge "$TB_BR" controller=@c >/dev/null || return 1
  # The bridge's internal port: no IPv6 (hence no link-local address), no IPv4 address.
  if [[ -e "/proc/sys/net/ipv6/conf/$TB_BR/disable_ipv6" ]]; then
    sysctl -qw "net.ipv6.conf.$TB_BR.disable_ipv6=1"
  fi
  local h
  for h in "${TB_HOSTS[@]}"; do
    tb__add_host "$h" || { echo "tb_up: adding host $h failed" >&2; return 1; }
  done
  for h in "${TB_HOSTS[@]}"; do
    local got
    got=$(ovs-vsctl --timeout=5 get interface "$(tb_if "$h")" ofport)
    [[ "$got" == "${TB_OFPORT[$h]}" ]] || { echo "tb_up: $h got OpenFlow port $got, wanted ${TB_OFPORT[$h]}" >&2; return 1; }
  done
  tb_start_web_servers || return 1
  tb_log "testbed up: bridge $TB_BR ($TB_OF_PROTO), controller tcp:127.0.0.1:$TB_PORT"
}

tb_start_web_servers() {
  local h dir pid i got
  for h in "${TB_SERVERS[@]}"; do
    dir="$TB_RUN/www-$h"
    mkdir -p "$dir"
    printf '%s' "$h" >"$dir/whoami"
    head -c 102400 /dev/zero | tr '\0' 'x' >"$dir/100k"
    ip netns exec "$(tb_ns "$h")" "$TB_PYTHON" -m http.server 80 --bind 0.0.0.0 --directory "$dir" \
      </dev/null >"$TB_RUN/http-$h.log" 2>&1 &
    pid=$!
    tb__track "http-$h" "$pid"
  done
  for h in "${TB_SERVERS[@]}"; do
    got=""
    for ((i = 0; i < 100; i++)); do
      got=$(tb_exec "$h" curl -s --max-time 1 "http://127.0.0.1/whoami" 2>/dev/null)
      [[ "$got" == "$h" ]] && break
      sleep 0.1
    done
    [[ "$got" == "$h" ]] || { echo "tb_up: web server on $h does not answer" >&2; cat "$TB_RUN/http-$h.log" >&2; return 1; }
  done
}

# tb_start_echo_servers: lib/echo_server.py (TCP+UDP port 7, replies "bX DATA")
# in every backend; waits until each answers locally.
tb_start_echo_servers() {
  local h pid i got
  for h in "${TB_SERVERS[@]}"; do
    ip netns exec "$(tb_ns "$h")" "$TB_PYTHON" "$TB_LIB_DIR/echo_server.py" "$h" </dev/null >"$TB_RUN/echo-$h.log" 2>&1 &
    pid=$!
    tb__track "echo-$h" "$pid"
  done
  for h in "${TB_SERVERS[@]}"; do
    for ((i = 0; i < 50; i++)); do
      grep -q listening "$TB_RUN/echo-$h.log" 2>/dev/null && break
      sleep 0.1
    done
    grep -q listening "$TB_RUN/echo-$h.log" || { echo "echo server on $h did not start" >&2; cat "$TB_RUN/echo-$h.log" >&2; return 1; }
  done
}

tb_down() {
  local f pid h ns
  fulcrum_stop TERM >/dev/null 2>&1
  if [[ -n "$TB_RUN" && -d "$TB_RUN/pids" ]]; then
    for f in "$TB_RUN"/pids/*.pid; do
      [[ -e "$f" ]] || continue
      pid=$(<"$f")
      tb__kill "$pid" 3
      rm -f "$f"
    done
  fi
  if ovs-vsctl --timeout=5 show >/dev/null 2>&1; then
    ovs-vsctl --timeout=10 --if-exists del-br "$TB_BR"
  fi
  for h in "${TB_HOSTS[@]}"; do
    ns=$(tb_ns "$h")
    if ip netns list | awk '{print $1}' | grep -qx "$ns"; then
      for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
      ip netns del "$ns"
    fi
    ip link del "$(tb_if "$h")" 2>/dev/null
  done
  [[ -n "$TB_RUN" ]] && tb_stop_ovs_if_started
  return 0
}

# ---------------------------------------------------------------- fulcrum --

# fulcrum_start ARGS...: start $FULCRUM_BIN --listen 127.0.0.1:$TB_PORT ARGS...,
# appending to $TB_RUN/fulcrum.log; waits for its "listening on" line.
fulcrum_start() {
  [[ -x "$FULCRUM_BIN" ]] || { echo "fulcrum_start: no binary at $FULCRUM_BIN" >&2; return 1; }
  local log="$TB_RUN/fulcrum.log"
  touch "$log"
  TB_LOG_MARK=$(wc -l <"$log")
  echo "==== fulcrum_start $(date +%T.%N): --listen 127.0.0.1:$TB_PORT $* ====" >>"$log"
  TB_LOG_MARK=$((TB_LOG_MARK + 1))
  "$FULCRUM_BIN" --listen "127.0.0.1:$TB_PORT" "$@" </dev/null >>"$log" 2>&1 &
  TB_FULCRUM_PID=$!
  echo "$TB_FULCRUM_PID" >"$TB_RUN/fulcrum.pid"
  if ! wait_log "listening on 127.0.0.1:$TB_PORT" 1 10; then
    echo "fulcrum_start: no 'listening on 127.0.0.1:$TB_PORT' within 10 s" >&2
    return 1
  fi
}

fulcrum_alive() { tb__alive "$TB_FULCRUM_PID"; }
fulcrum_pid() { echo "$TB_FULCRUM_PID"; }

# fulcrum_stop [SIGNAL]: default TERM (then KILL after 5 s); KILL kills at once.
# Sets FULCRUM_EXIT to the exit status.
fulcrum_stop() {
  local sig=${1:-TERM} pid=$TB_FULCRUM_PID i
  FULCRUM_EXIT=""
  [[ -n "$pid" ]] || return 0
  if tb__alive "$pid"; then
    kill -"$sig" "$pid" 2>/dev/null
    for ((i = 0; i < 50; i++)); do tb__alive "$pid" || break; sleep 0.1; done
    if tb__alive "$pid"; then
      echo "fulcrum_stop: pid $pid ignored SIG$sig for 5 s, sending KILL" >&2
      kill -KILL "$pid" 2>/dev/null
    fi
  fi
  wait "$pid" 2>/dev/null
  FULCRUM_EXIT=$?
  TB_FULCRUM_PID=""
  rm -f "$TB_RUN/fulcrum.pid"
  return 0
}

# wait_log TEXT COUNT TIMEOUT: wait until fulcrum.log holds at least COUNT lines
# containing TEXT (fixed string) since the last fulcrum_start.
wait_log() {
  local text=$1 count=${2:-1} timeout=${3:-10} deadline n
  deadline=$((SECONDS + timeout))
  while :; do
    n=$(log_count "$text")
    ((n >= count)) && return 0
    ((SECONDS >= deadline)) && return 1
    sleep 0.1
  done
}
# log_count TEXT: lines containing TEXT since the last fulcrum_start.
log_count() {
  tail -n "+$((TB_LOG_MARK + 1))" "$TB_RUN/fulcrum.log" 2>/dev/null | grep -cF -- "$1"
}

# wait_switch_connected [TIMEOUT]: fulcrum logged "switch up dpid=... version=..."
# for our bridge since its last start. (OVS's controller is_connected column is
# refreshed only every few seconds, so it is not polled here; see tb_switch_connected.)
wait_switch_connected() {
  wait_log "switch up dpid=$TB_DPID version=$TB_OF_DOTTED" 1 "${1:-20}"
}
# tb_switch_connected: OVS's own view (may lag a few seconds behind).
tb_switch_connected() {
  local c
  c=$(ovs-vsctl --timeout=5 get controller "$(ovs-vsctl --timeout=5 get bridge "$TB_BR" controller | tr -d '[]')" is_connected 2>/dev/null)
  [[ "$c" == true ]]
}

wait_backends_learned() {
  local timeout=${1:-20} deadline ip ok
  deadline=$((SECONDS + timeout))
  while :; do
    ok=1
    for ip in ${TB_BACKENDS//,/ }; do
      (($(log_count "backend learned vip=$TB_VIP backend=$ip ") >= 1)) || { ok=0; break; }
    done
    ((ok == 1)) && return 0
    ((SECONDS >= deadline)) && return 1
    sleep 0.2
  done
}

# Start fulcrum and wait for the switch and all three backends; bails on failure.
tb_fulcrum_up() {
  fulcrum_start --vip "$TB_VIP" --backends "$TB_BACKENDS" "$@" || tb_bail "fulcrum starts and listens" "args: $*"
  wait_switch_connected 20 || tb_bail "switch connects to fulcrum (switch up dpid=$TB_DPID version=$TB_OF_DOTTED)"
  wait_backends_learned 20 || tb_bail "fulcrum learns all three backends" "$(grep -F 'backend learned' "$TB_RUN/fulcrum.log" | tail -n 5)"
}

# ---------------------------------------------------------------- traffic --

# tb_get HOST [PATH] [LOCAL_PORT]: one HTTP GET to the VIP from HOST over a new
# connection (from LOCAL_PORT if given); prints the body, exit status is curl's.
tb_get() {
  local h=$1 path=${2:-/whoami} lport=${3:-}
  tb_exec "$h" curl -s --noproxy '*' --connect-timeout 3 --max-time 5 ${lport:+--local-port "$lport"} \
    -o - "http://$TB_VIP:$TB_VIP_PORT$path"
}

# Client source ports for tb_run_requests/tb_run_parallel_requests: every
# request of a test run gets its own, so no two connections share a 5-tuple.
# (With ephemeral ports the kernel may reuse a port while the switch still
# holds the old connection's flow entries; the switch then forwards the new
# connection to the old backend without asking the controller, and exact
# round-robin counts would be off by that reuse, not by a controller fault.)
TB_LPORT=20000

# tb_run_requests N [PATH]: N GETs of /whoami alternating c1, c2; one line per
# request into $TB_RUN/requests.txt: "client status body". Sets REQ_OK,
# REQ_FAILED and the associative array REQ_COUNT (body -> count).
declare -A REQ_COUNT=()
tb_run_requests() {
  local n=$1 i h body rc
  REQ_OK=0
  REQ_FAILED=0
  REQ_COUNT=()
  : >"$TB_RUN/requests.txt"
  for ((i = 0; i < n; i++)); do
    h=${TB_CLIENTS[$((i % 2))]}
    body=$(tb_get "$h" /whoami "$TB_LPORT")
    rc=$?
    TB_LPORT=$((TB_LPORT + 1))
    echo "$h $rc ${body:-<empty>}" >>"$TB_RUN/requests.txt"
    if ((rc == 0)) && [[ "$body" =~ ^b[123]$ ]]; then
      REQ_OK=$((REQ_OK + 1))
      REQ_COUNT[$body]=$((${REQ_COUNT[$body]:-0} + 1))
    else
      REQ_FAILED=$((REQ_FAILED + 1))
    fi
  done
}
# tb_run_parallel_requests LOOPS N: LOOPS concurrent loops (alternately from c1
# and c2) of N GETs each; same outputs as tb_run_requests.
tb_run_parallel_requests() {
  local loops=$1 n=$2 k pids=() h line
  for ((k = 0; k < loops; k++)); do
    h=${TB_CLIENTS[$((k % 2))]}
    (
      for ((i = 0; i < n; i++)); do
        body=$(tb_get "$h" /whoami $((TB_LPORT + k * n + i)))
        echo "$h $? ${body:-<empty>}"
      done >"$TB_RUN/par-$k.txt"
    ) &
    pids+=($!)
  done
  wait "${pids[@]}"
  TB_LPORT=$((TB_LPORT + loops * n))
  REQ_OK=0
  REQ_FAILED=0
  REQ_COUNT=()
  cat "$TB_RUN"/par-*.txt >"$TB_RUN/requests.txt"
  while read -r h rc body; do
    if [[ "$rc" == 0 && "$body" =~ ^b[123]$ ]]; then
      REQ_OK=$((REQ_OK + 1))
      REQ_COUNT[$body]=$((${REQ_COUNT[$body]:-0} + 1))
    else
      REQ_FAILED=$((REQ_FAILED + 1))
    fi
  done <"$TB_RUN/requests.txt"
  rm -f "$TB_RUN"/par-*.txt
}
tb_counts_str() { echo "b1=${REQ_COUNT[b1]:-0} b2=${REQ_COUNT[b2]:-0} b3=${REQ_COUNT[b3]:-0}"; }
tb_failed_requests() { awk '$2 != 0 || $3 !~ /^b[123]$/' "$TB_RUN/requests.txt" | head -n 10; }

# tb_capture_start NAME HOST [PCAP-FILTER...]: tcpdump on HOST's eth0 into
# $TB_RUN/NAME.pcap (at most TB_CAP_SECS s and TB_CAP_PACKETS packets: 60 and
# 20000 unless the caller sets them); waits until it listens.
# --immediate-mode: without it libpcap's TPACKET_V3 ring hands frames over
# only when a block fills or its 1 s timer retires it, and frames still in the
# open block are lost on SIGINT (a fast machine finished the GETs and stopped
# the capture inside that second: 0 frames).
tb_capture_start() {
  local name=$1 h=$2 pid i
  shift 2
  ip netns exec "$(tb_ns "$h")" timeout "${TB_CAP_SECS:-60}" tcpdump -i eth0 -nn -U --immediate-mode -Z root -c "${TB_CAP_PACKETS:-20000}" -w "$TB_RUN/$name.pcap" "$@" \
    </dev/null >"$TB_RUN/$name.tcpdump.log" 2>&1 &
  pid=$!
  tb__track "cap-$name" "$pid"
  for ((i = 0; i < 50; i++)); do
    grep -q "listening on" "$TB_RUN/$name.tcpdump.log" 2>/dev/null && return 0
    tb__alive "$pid" || break
    sleep 0.1
  done
  cat "$TB_RUN/$name.tcpdump.log" >&2
  return 1
}
# tb_capture_stop NAME: stop it (SIGINT flushes) and wait for it.
tb_capture_stop() {
  local name=$1 f pid i
  f="$TB_RUN/pids/cap-$name.pid"
  [[ -f "$f" ]] || return 0
  pid=$(<"$f")
  sleep 0.3 # let the last frames of the traffic reach the capture
  kill -INT "$pid" 2>/dev/null
  for ((i = 0; i < 30; i++)); do tb__alive "$pid" || break; sleep 0.1; done
  tb__kill "$pid" 2
  rm -f "$f"
}
