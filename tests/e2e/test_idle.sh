#!/usr/bin/env bash
# A TCP connection that stays idle longer than --idle-timeout (its flow entries
# expire in the switch) keeps its backend when it speaks again: the controller
# must not hand the resumed connection to another backend (which would reset
# it). Uses the backends' echo servers (port 7) and --idle-timeout 2.
set -uo pipefail
source "$(dirname "$0")/lib/testbed.sh"
tb_init
tb_up || tb_bail "testbed up"
tb_start_echo_servers || tb_bail "echo servers start in the backends"
tb_fulcrum_up --policy round-robin --idle-timeout 2 --log-level debug

# c1 opens connection A and says "one"; c2 opens B meanwhile (moves the
# round-robin on); A is idle 6 s, then says "two" on the same socket.
tb_exec c1 "$TB_PYTHON" - "$TB_VIP" "$TB_RUN/a.ready" "$TB_RUN/a.go" >"$TB_RUN/a.txt" 2>&1 <<'PY' &
import os, socket, sys, time
vip, ready, go = sys.argv[1:4]
s = socket.create_connection((vip, 7), timeout=3)
s.sendall(b"one")
print("1", s.recv(100).decode(), flush=True)
print("port", s.getsockname()[1], flush=True)
open(ready, "w").close()
for _ in range(200):                       # wait (at most 20 s) for the go signal
    if os.path.exists(go):
        break
    time.sleep(0.1)
try:
    s.sendall(b"two")
    print("2", s.recv(100).decode() or "<closed>", flush=True)
except OSError as e:
    print("2", f"<{type(e).__name__}>", flush=True)
PY
a_pid=$!
tb__track conn-a "$a_pid"
for ((i = 0; i < 50; i++)); do [[ -e "$TB_RUN/a.ready" ]] && break; sleep 0.1; done
[[ -e "$TB_RUN/a.ready" ]] || tb_bail "connection A established and answered" "$(cat "$TB_RUN/a.txt")"
first=$(awk '$1 == "1" {print $2}' "$TB_RUN/a.txt")
port=$(awk '$1 == "port" {print $2}' "$TB_RUN/a.txt")
if [[ "$first" =~ ^b[123]$ ]]; then tb_ok "connection A (c1 port $port) answered by $first"; else tb_bail "connection A answered" "$(cat "$TB_RUN/a.txt")"; fi
b=$(tb_exec c2 "$TB_PYTHON" -c '
import socket, sys
s = socket.create_connection((sys.argv[1], 7), timeout=3); s.sendall(b"x"); print(s.recv(100).decode().split()[0])' "$TB_VIP" 2>&1)
tb_log "connection B (c2) answered by $b"
sleep 6
flows=$(ovs-ofctl -O "$TB_OF_PROTO" dump-flows "$TB_BR" | grep -c "tp_src=$port\b\|tp_dst=$port\b")
tb_log "flow entries for A's port after 6 s idle: $flows"
touch "$TB_RUN/a.go"
for ((i = 0; i < 50; i++)); do tb__alive "$a_pid" || break; sleep 0.1; done
second=$(awk '$1 == "2" {print $2}' "$TB_RUN/a.txt")
tb_assert_eq "idle connection A resumes on the same backend" "$first" "$second" || tb_note "client output:" "$(cat "$TB_RUN/a.txt")" "fulcrum log for port $port:" "$(grep -F ":$port " "$TB_RUN/fulcrum.log" | tail -n 5)"
tb_check "fulcrum still running" fulcrum_alive
tb_done
