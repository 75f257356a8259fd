#!/usr/bin/env bash
# Robustness: while fulcrum serves the real switch, other TCP connections to
# its OpenFlow port send malformed or abusive OpenFlow (lib/bad_openflow.py).
# After each one fulcrum must still run; where the input is malformed it must
# answer OFPT_ERROR and/or close that connection. An idle connection and one
# stuck in the middle of a message are held open the whole time. At the end
# the real switch is still connected (no "switch down") and 10 GETs through
# the VIP succeed.
set -uo pipefail
source "$(dirname "$0")/lib/testbed.sh"
tb_init
tb_up || tb_bail "testbed up"
tb_fulcrum_up --policy round-robin
BAD="$TB_PYTHON $TB_LIB_DIR/bad_openflow.py --port $TB_PORT --version $OF_VERSION"

# Connections held open during everything below (bounded by --hold).
for s in idle partial_hold; do
  $BAD --hold 40 "$s" </dev/null >"$TB_RUN/bad-$s.out" 2>&1 &
  tb__track "bad-$s" $!
done
sleep 0.5

scenarios=(garbage short_length zero_length zero_length_after_hello announce_then_close
  unknown_type version_mismatch bad_hello_version hello_v11_nobitmap oxm_zero_length oxm_overrun
  match_length_overrun flow_removed_truncated packet_in_truncated echo_flood)
for s in "${scenarios[@]}"; do
  out=$(timeout 30 $BAD "$s" 2>&1)
  rc=$?
  echo "# $out"
  case $rc in
    0) tb_ok "$s: expected reaction" ;;
    1) tb_fail "$s: expected reaction (OFPT_ERROR and/or close; for echo_flood every echo answered)" "$out" ;;
    *) tb_fail "$s: bad_openflow.py ran (exit $rc)" "$out" ;;
  esac
  if fulcrum_alive; then tb_ok "$s: fulcrum still running"; else tb_bail "$s: fulcrum still running" "$(tail -n 20 "$TB_RUN/fulcrum.log")"; fi
done

# The held connections must not block anyone: the switch still works now.
tb_run_requests 10
tb_assert_eq "10/10 GETs through the VIP succeed with idle/partial connections open" 10 "$REQ_OK" || tb_note "failed requests (client, curl exit, body):" "$(tb_failed_requests)"
tb_assert_eq "real switch never went down" 0 "$(log_count "switch down dpid=$TB_DPID")"
# A new, well-behaved connection is still accepted and greeted with a hello.
hello=$("$TB_PYTHON" - "$TB_PORT" <<'PY'
import socket, struct, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=3)
s.settimeout(3)
try:
    h = s.recv(8)
    print("hello" if len(h) >= 2 and h[1] == 0 else "other:" + h.hex())
except OSError as e:
    print("none:" + type(e).__name__)
PY
)
tb_assert_eq "a new connection still gets OFPT_HELLO" hello "$hello"
for s in idle partial_hold; do
  tb__kill "$(<"$TB_RUN/pids/bad-$s.pid")" 2
  rm -f "$TB_RUN/pids/bad-$s.pid"
  [[ -s "$TB_RUN/bad-$s.out" ]] && echo "# $(<"$TB_RUN/bad-$s.out")"
done
tb_check "fulcrum still running at the end" fulcrum_alive
tb_done
