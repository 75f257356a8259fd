# Shared by the benchmark scripts (sourced): the controller they started,
# stopped by pid, and loopback port helpers.
# shellcheck shell=bash
ctl_pid=""

stop_ctl() {
  if [[ -n $ctl_pid ]] && kill -0 "$ctl_pid" 2>/dev/null; then
    kill "$ctl_pid" 2>/dev/null || true
    wait "$ctl_pid" 2>/dev/null || true
  fi
  ctl_pid=""
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'; }
wait_port() {
  for _ in $(seq 1 100); do
    python3 -c "import socket; socket.create_connection(('127.0.0.1', $1), 0.2).close()" 2>/dev/null && return 0
    sleep 0.05
  done
  return 1
}
