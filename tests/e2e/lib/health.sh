# shellcheck shell=bash
# Helpers for the health-check / failover / draining tests (test_health.sh)
# and scripts/measure-detection.sh. Source after testbed.sh.

# hl_start_web HOST [PORT] [NAME]: start a web server in HOST the way the
# testbed library does (python http.server on $TB_RUN/www-HOST), tracked as
# NAME (default http-HOST, replacing the pid the library recorded, so tb_down
# still stops it); waits until it answers on 127.0.0.1:PORT.
hl_start_web() {
  local h=$1 port=${2:-80} name=${3:-http-$1} dir pid i
  dir="$TB_RUN/www-$h"
  mkdir -p "$dir"
  [[ -f "$dir/whoami" ]] || printf '%s' "$h" >"$dir/whoami"
  # `ip netns exec` directly (not the tb_exec function, which would put a
  # subshell between $! and the server): $! is the server itself.
  ip netns exec "$(tb_ns "$h")" "$TB_PYTHON" -m http.server "$port" --bind 0.0.0.0 --directory "$dir" \
    </dev/null >>"$TB_RUN/$name.log" 2>&1 &
  pid=$!
  tb__track "$name" "$pid"
  for ((i = 0; i < 100; i++)); do
    [[ "$(tb_exec "$h" curl -s --noproxy '*' --max-time 1 "http://127.0.0.1:$port/whoami" 2>/dev/null)" == "$h" ]] && return 0
    tb__alive "$pid" || break
    sleep 0.1
  done
  echo "hl_start_web: web server $name on $h:$port does not answer" >&2
  return 1
}

# hl_web_pids HOST PORT: pids of the http.server processes on PORT inside
# HOST's namespace (ours: the namespace belongs to this run). The library's
# tracked pid is that of a subshell (tb_exec ... &), not of the server.
hl_web_pids() {
  local h=$1 port=$2 pid cmd
  for pid in $(ip netns pids "$(tb_ns "$h")" 2>/dev/null); do
    cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || continue
    [[ "$cmd" == *"-m http.server $port "* ]] && echo "$pid"
  done
}

# hl_stop_web HOST [PORT] [NAME]: kill HOST's web server on PORT (SIGKILL: a
# crash, the listening socket disappears at once) and wait until it is gone.
hl_stop_web() {
  local h=$1 port=${2:-80} name=${3:-http-$1} f pid i
  for pid in $(hl_web_pids "$h" "$port"); do kill -KILL "$pid" 2>/dev/null; done
  f="$TB_RUN/pids/$name.pid"
  if [[ -f "$f" ]]; then
    pid=$(<"$f")
    if tb__alive "$pid"; then kill -KILL "$pid" 2>/dev/null; fi
    wait "$pid" 2>/dev/null
    rm -f "$f"
  fi
  for ((i = 0; i < 50; i++)); do
    [[ -z "$(hl_web_pids "$h" "$port")" ]] && return 0
    sleep 0.05
  done
  echo "hl_stop_web: web server on $h:$port still running" >&2
  return 1
}

# Log positions: hl_mark prints the current line count of fulcrum.log;
# hl_count_since MARK TEXT counts lines after MARK containing TEXT;
# hl_wait_since MARK TEXT TIMEOUT waits for one.
hl_mark() { wc -l <"$TB_RUN/fulcrum.log"; }
hl_count_since() { tail -n "+$(($1 + 1))" "$TB_RUN/fulcrum.log" | grep -cF -- "$2"; }
hl_wait_since() {
  local mark=$1 text=$2 timeout=${3:-10} deadline
  deadline=$(($(date +%s%N) + timeout * 1000000000))
  while (($(date +%s%N) < deadline)); do
    (($(hl_count_since "$mark" "$text") >= 1)) && return 0
    sleep 0.05
  done
  return 1
}
# hl_line_since MARK TEXT: the first such line.
hl_line_since() { tail -n "+$(($1 + 1))" "$TB_RUN/fulcrum.log" | grep -F -m1 -- "$2"; }
# hl_log_epoch LINE: the log line's timestamp (local time) as seconds.nanos.
hl_log_epoch() { date -d "$(awk '{print $1}' <<<"$1" | tr T ' ')" +%s.%N; }

# hl_write_config FILE [key=value...]: one VIP 10.0.0.100:80/tcp round-robin
# with b1 b2 b3. Keys: interval timeout rise fall type port (health check),
# on_down, mode_b1 mode_b2 mode_b3 (active|drain), idle_timeout.
hl_write_config() {
  local file=$1 kv
  shift
  local -A o=([type]=tcp [interval]=0.5 [timeout]=0.4 [rise]=2 [fall]=2 [port]="" [on_down]=keep
    [mode_b1]=active [mode_b2]=active [mode_b3]=active [idle_timeout]=10 [default_health]=0)
  for kv in "$@"; do o[${kv%%=*}]=${kv#*=}; done
  local hc
  if [[ "${o[default_health]}" == 1 ]]; then
    hc="{type: ${o[type]}${o[port]:+, port: ${o[port]}}}"
  else
    hc="{type: ${o[type]}, interval: ${o[interval]}, timeout: ${o[timeout]}, rise: ${o[rise]}, fall: ${o[fall]}${o[port]:+, port: ${o[port]}}}"
  fi
  cat >"$file.tmp" <<EOF
log_level: debug
idle_timeout: ${o[idle_timeout]}
vips:
  - ip: $TB_VIP
    port: $TB_VIP_PORT
    protocol: tcp
    policy: round-robin
    on_down: ${o[on_down]}
    health_check: $hc
    backends:
      - {ip: 10.0.0.11, mode: ${o[mode_b1]}}
      - {ip: 10.0.0.12, mode: ${o[mode_b2]}}
      - {ip: 10.0.0.13, mode: ${o[mode_b3]}}
EOF
  mv "$file.tmp" "$file" # atomic: a SIGHUP never reads half a file
}

# hl_fulcrum_up CONFIG [ARGS...]: start fulcrum with CONFIG, wait for the
# switch and the three backends; bails on failure.
hl_fulcrum_up() {
  local cfg=$1
  shift
  fulcrum_start --config "$cfg" "$@" || tb_bail "fulcrum starts with $cfg"
  wait_switch_connected 20 || tb_bail "switch connects to fulcrum"
  wait_backends_learned 20 || tb_bail "fulcrum learns all three backends"
}

# hl_reload: SIGHUP fulcrum and wait for "configuration reloaded".
hl_reload() {
  local mark
  mark=$(hl_mark)
  kill -HUP "$TB_FULCRUM_PID" || return 1
  hl_wait_since "$mark" "configuration reloaded" 5
}

# hl_assigned_backend CLIENT_IP CLIENT_PORT: backend of that connection from
# the debug log ("connection assigned"), e.g. 10.0.0.12.
hl_assigned_backend() {
  grep -F "connection assigned vip=$TB_VIP client=$1:$2 " "$TB_RUN/fulcrum.log" | tail -n1 |
    grep -oE 'backend=10\.0\.0\.[0-9]+' | cut -d= -f2
}
