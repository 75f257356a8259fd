# shellcheck shell=bash
# Helpers for test_dynamic.sh (source after testbed.sh and tb_init): one cgroup
# v1 per backend, fulcrum-agent in each backend namespace, bounded CPU burners,
# the controller's "metrics" log lines, and forged / replayed agent reports.
#
#   dyn_init                # EXIT trap (ours, then the library's), agent key
#   dyn_cg_setup QUOTA_US   # cgroups fulcrum-e2e-$TB_PREFIX-bN (cpu, cpuacct, memory)
#   dyn_cg_add b2 PID       # move a process into b2's cgroup
#   dyn_agents_start 0.5    # one agent per backend, measuring its cgroup
#   dyn_burner_start b2 40  # a busy loop in b2's namespace and cgroup, for at most 40 s
#   dyn_metric b2 cpu       # field of the latest "metrics" line of b2 since fulcrum_start
#
# Everything started here is recorded in $TB_RUN/pids (tb_down kills it) and
# stopped by pid; the cgroups are removed by the EXIT trap, after their
# processes have been moved back to the parent cgroup.

: "${FULCRUM_AGENT_BIN:=$(dirname "$FULCRUM_BIN")/fulcrum-agent}"
DYN_CTRLS=(cpu cpuacct memory)
declare -A DYN_CG_MNT=()    # controller -> mount point of its v1 hierarchy
DYN_CG_MODE=none            # v1 once dyn_cg_setup succeeded
DYN_CG_DIRS=()              # directories we created (removed at exit)
DYN_KEY=""
DYN_AGENT_HOSTS=()
DYN_BURNERS=()              # names in $TB_RUN/pids

dyn_cg_name() { echo "fulcrum-e2e-$TB_PREFIX-$1"; }

# Processes that must see /sys/fs/cgroup are started with
#   nsenter --net=/run/netns/NS -- CMD &
# and not with `ip netns exec` (tb_exec): that also unshares the mount
# namespace and mounts a fresh sysfs on /sys, which hides /sys/fs/cgroup (the
# agent then finds "no cgroup v1 mount", and a process cannot join a cgroup by
# writing its cgroup.procs). nsenter execs CMD in place, and it is written out
# at each `&` (not wrapped in a shell function, whose background subshell would
# stand between $! and CMD), so $! is CMD's pid.
dyn_netns() { echo "/run/netns/$(tb_ns "$1")"; }

# dyn_cg_mount CTRL: mount point of the cgroup v1 hierarchy holding CTRL
# (cpu and cpuacct may be one hierarchy, "cpu,cpuacct", or two).
dyn_cg_mount() {
  awk -v c="$1" '{
    for (i = 1; i <= NF; i++) if ($i == "-") break
    if ($(i + 1) != "cgroup" || $4 != "/") next
    n = split($(i + 3), o, ",")
    for (j = 1; j <= n; j++) if (o[j] == c) { print $5; exit }
  }' /proc/self/mountinfo
}

# Every directory of host H's cgroup, one per distinct hierarchy.
dyn_cg_dirs() {
  local h=$1 c
  for c in "${DYN_CTRLS[@]}"; do echo "${DYN_CG_MNT[$c]}/$(dyn_cg_name "$h")"; done | sort -u
}

# Remove one cgroup directory: its processes go back to the parent, then rmdir.
dyn__cg_remove_dir() {
  local d=$1 pid i
  [[ -d "$d" ]] || return 0
  for ((i = 0; i < 20; i++)); do
    while read -r pid; do
      [[ -n "$pid" ]] && echo "$pid" >"$(dirname "$d")/cgroup.procs" 2>/dev/null
    done <"$d/cgroup.procs"
    rmdir "$d" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "dynamic.sh: could not remove cgroup $d" >&2
  return 1
}

# dyn_cg_setup QUOTA_US: one cgroup per backend with a CPU quota of QUOTA_US per
# 100 ms period and a 256 MiB memory limit. Returns 1 (DYN_CG_MODE stays none)
# when no cgroup v1 hierarchy has the cpu, cpuacct and memory controllers.
dyn_cg_setup() {
  local quota=$1 c h d
  for c in "${DYN_CTRLS[@]}"; do
    DYN_CG_MNT[$c]=$(dyn_cg_mount "$c")
    [[ -n "${DYN_CG_MNT[$c]}" && -w "${DYN_CG_MNT[$c]}/cgroup.procs" ]] || return 1
  done
  for h in "${TB_SERVERS[@]}"; do
    # Leftovers of an interrupted earlier run of this test (same names).
    while read -r d; do dyn__cg_remove_dir "$d"; done < <(dyn_cg_dirs "$h")
    while read -r d; do
      mkdir "$d" || return 1
      DYN_CG_DIRS+=("$d")
    done < <(dyn_cg_dirs "$h")
    d="${DYN_CG_MNT[cpu]}/$(dyn_cg_name "$h")"
    echo 100000 >"$d/cpu.cfs_period_us" || return 1
    echo "$quota" >"$d/cpu.cfs_quota_us" || return 1
    echo $((256 << 20)) >"${DYN_CG_MNT[memory]}/$(dyn_cg_name "$h")/memory.limit_in_bytes" || return 1
  done
  DYN_CG_MODE=v1
}

# dyn_cg_add HOST PID: move PID into HOST's cgroup (every controller).
dyn_cg_add() {
  local h=$1 pid=$2 d
  while read -r d; do echo "$pid" >"$d/cgroup.procs" || return 1; done < <(dyn_cg_dirs "$h")
}
# dyn_cg_has HOST PID: PID is in HOST's cpuacct cgroup (what the agent measures).
dyn_cg_has() {
  grep -qx "$2" "${DYN_CG_MNT[cpuacct]}/$(dyn_cg_name "$1")/cgroup.procs"
}

dyn_cg_teardown() {
  local d rc=0
  for d in "${DYN_CG_DIRS[@]}"; do dyn__cg_remove_dir "$d" || rc=1; done
  DYN_CG_DIRS=()
  return $rc
}

# dyn_server_pid HOST: pid of HOST's web server. testbed.sh records the pid of
# the background subshell around `tb_exec ... python3 -m http.server`; the
# server is that subshell's child (or the pid itself, were the subshell to exec).
dyn_server_pid() {
  local pid c kids=()
  pid=$(<"$TB_RUN/pids/http-$1.pid")
  if [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == python* ]]; then echo "$pid"; return 0; fi
  read -ra kids <"/proc/$pid/task/$pid/children" 2>/dev/null
  for c in "${kids[@]}"; do
    if [[ "$(cat "/proc/$c/comm" 2>/dev/null)" == python* ]]; then echo "$c"; return 0; fi
  done
  return 1
}

# ------------------------------------------------------------------ agents --

dyn_agents_start() {
  local interval=$1 h cg pid i
  for h in "${TB_SERVERS[@]}"; do
    if [[ "$DYN_CG_MODE" == v1 ]]; then cg="v1:/$(dyn_cg_name "$h")"; else cg=none; fi
    nsenter --net="$(dyn_netns "$h")" -- "$FULCRUM_AGENT_BIN" --vip "$TB_VIP" --key-file "$DYN_KEY" --interval "$interval" \
      --cgroup "$cg" --pid-file "$TB_RUN/agent-$h.pid" --log-level info \
      </dev/null >"$TB_RUN/agent-$h.log" 2>&1 &
    pid=$!
    tb__track "agent-$h" "$pid"
    DYN_AGENT_HOSTS+=("$h")
  done
  # The agent writes its pid file once its flags, key and cgroup are accepted.
  for h in "${TB_SERVERS[@]}"; do
    for ((i = 0; i < 50; i++)); do [[ -s "$TB_RUN/agent-$h.pid" ]] && break; sleep 0.1; done
    [[ -s "$TB_RUN/agent-$h.pid" ]] || { echo "agent in $h did not start:" >&2; cat "$TB_RUN/agent-$h.log" >&2; return 1; }
    [[ "$(<"$TB_RUN/agent-$h.pid")" == "$(<"$TB_RUN/pids/agent-$h.pid")" ]] ||
      { echo "agent in $h: pid file $(<"$TB_RUN/agent-$h.pid") is not the process we started ($(<"$TB_RUN/pids/agent-$h.pid"))" >&2; return 1; }
  done
}

dyn_agents_stop() {
  local h f
  for h in "${DYN_AGENT_HOSTS[@]}"; do
    f="$TB_RUN/pids/agent-$h.pid"
    [[ -f "$f" ]] || continue
    tb__kill "$(<"$f")" 3
    rm -f "$f"
  done
  DYN_AGENT_HOSTS=()
}

# ----------------------------------------------------------------- burners --

# dyn_burner_start HOST SECONDS: a shell busy loop in HOST's namespace and
# cgroup; timeout(1) ends it after SECONDS whatever happens to this script.
dyn_burner_start() {
  local h=$1 secs=$2 name pid files=() d
  while read -r d; do files+=("$d/cgroup.procs"); done < <(dyn_cg_dirs "$h")
  name="burn-$h-${#DYN_BURNERS[@]}"
  # nsenter execs sh, which joins the cgroup and execs timeout: one pid throughout.
  # shellcheck disable=SC2016 # expanded by that sh
  nsenter --net="$(dyn_netns "$h")" -- sh -c 'secs=$1; shift; for f; do echo $$ >"$f" || exit 1; done
    exec timeout "$secs" sh -c "while :; do :; done"' burner "$secs" "${files[@]}" \
    </dev/null >"$TB_RUN/$name.log" 2>&1 &
  pid=$!
  tb__track "$name" "$pid"
  DYN_BURNERS+=("$name")
}

dyn_burners_stop() {
  local n f
  for n in "${DYN_BURNERS[@]}"; do
    f="$TB_RUN/pids/$n.pid"
    [[ -f "$f" ]] || continue
    tb__kill "$(<"$f")" 3   # timeout(1) passes the TERM on to the loop
    rm -f "$f"
  done
  DYN_BURNERS=()
}

# ----------------------------------------------------------------- metrics --

# dyn_metrics_line HOST: the latest "metrics" line of HOST's backend since the
# last fulcrum_start (empty if none).
dyn_metrics_line() {
  tail -n "+$((TB_LOG_MARK + 1))" "$TB_RUN/fulcrum.log" |
    grep -F " metrics vip=$TB_VIP backend=${TB_IP[$1]} " | tail -n 1
}
# dyn_field LINE KEY: the value after " KEY=" (up to the next space), units stripped.
dyn_field() {
  sed -nE "s/.* $2=([^ ]*).*/\1/p" <<<"$1" | sed -E 's/(%|ms|kb\/s)$//'
}
# dyn_metric HOST KEY: dyn_field of HOST's latest metrics line.
dyn_metric() { dyn_field "$(dyn_metrics_line "$1")" "$2"; }
# dyn_metrics_table: the latest line of each backend, shortened, for notes.
dyn_metrics_table() {
  local h
  for h in "${TB_SERVERS[@]}"; do
    dyn_metrics_line "$h" | sed -E 's/.* metrics vip=[^ ]* (backend=[^ ]*) (.*) dpid=.*/\1 \2/'
  done
}
# dyn_lt A B: A < B (decimal numbers).
dyn_lt() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 < b + 0) }'; }
dyn_num() { [[ "$1" =~ ^[0-9]+(\.[0-9]+)?$ ]]; }

# --------------------------------------------------------------- captures --

# dyn_capture_start NAME HOST PCAP-FILTER...: tb_capture_start with tighter
# bounds (40 s, 5000 packets); dyn_capture_stop stops several at once.
dyn_capture_start() { TB_CAP_SECS=40 TB_CAP_PACKETS=5000 tb_capture_start "$@"; }
# dyn_capture_stop NAME...: TERM (timeout passes it on; tcpdump writes out and exits).
dyn_capture_stop() {
  local name f
  sleep 0.3 # let the last frames reach the captures
  for name; do
    f="$TB_RUN/pids/cap-$name.pid"
    [[ -f "$f" ]] && kill -TERM "$(<"$f")" 2>/dev/null
  done
  for name; do
    f="$TB_RUN/pids/cap-$name.pid"
    [[ -f "$f" ]] || continue
    tb__kill "$(<"$f")" 3
    rm -f "$f"
  done
}

# ------------------------------------------------------- forged reports --

# Python helper run inside a namespace:
#   forge VIP PORT KEYHEX SENDER_IP CPU   a well-formed v1 report signed with KEYHEX
#   replay VIP PORT PCAP first|last       re-send a captured report byte for byte
# Prints what it sent (seq, age of the timestamp) on stdout.
DYN_REPORT_PY='
import hashlib, hmac, socket, struct, sys, time
mode, vip, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
now = int(time.time() * 1000)
if mode == "forge":
    key, sender, cpu = bytes.fromhex(sys.argv[4]), sys.argv[5], int(sys.argv[6])
    body = b"FLCR" + struct.pack("!BBHQQHHIII", 1, 1, 0, (now << 20) | 1, now, cpu * 100, 0, 0, 500, 0)
    body += socket.inet_aton(sender)
    payload = body + hmac.new(key, body, hashlib.sha256).digest()
else:
    data = open(sys.argv[4], "rb").read()
    e = "<" if data[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    link = struct.unpack(e + "I", data[20:24])[0]
    off, found = 24, []
    while off + 16 <= len(data):
        incl = struct.unpack(e + "I", data[off + 8:off + 12])[0]
        pkt = data[off + 16:off + 16 + incl]
        off += 16 + incl
        l3 = pkt[14:] if link == 1 else pkt[16:]
        udp = l3[(l3[0] & 15) * 4:]
        if len(udp) == 8 + 76 and udp[8:12] == b"FLCR":
            found.append(udp[8:])
    if not found:
        sys.exit("no report in " + sys.argv[4])
    payload = found[0] if sys.argv[5] == "first" else found[-1]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.sendto(payload, (vip, port))
seq, ts = struct.unpack("!QQ", payload[8:24])
print("sent %d bytes seq=%d age_ms=%d sender=%s" % (len(payload), seq, now - ts, socket.inet_ntoa(payload[40:44])))
'
# dyn_forge HOST KEYHEX SENDER_IP CPU
dyn_forge() { tb_exec "$1" "$TB_PYTHON" -c "$DYN_REPORT_PY" forge "$TB_VIP" 7070 "$2" "$3" "$4"; }
# dyn_replay HOST PCAP first|last
dyn_replay() { tb_exec "$1" "$TB_PYTHON" -c "$DYN_REPORT_PY" replay "$TB_VIP" 7070 "$2" "$3"; }

# ------------------------------------------------------------------- init --

dyn__on_exit() {
  local rc=$?
  dyn_agents_stop
  dyn_burners_stop
  dyn_cg_teardown
  (exit "$rc")
  tb__on_exit # the library's: diagnostics, tb_down (web servers etc.), lock; exits
}

dyn_init() {
  trap 'dyn__on_exit' EXIT
  [[ -x "$FULCRUM_AGENT_BIN" ]] || tb_bail "fulcrum-agent binary at $FULCRUM_AGENT_BIN"
  DYN_KEY="$TB_RUN/agent.key"
  (umask 077 && openssl rand -hex 32 >"$DYN_KEY") || tb_bail "agent key created"
}
