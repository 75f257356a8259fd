#!/usr/bin/env bash
# UDP through the VIP: every datagram from a new socket (new source port) is a
# new "connection"; round-robin spreads 30 of them 10/10/10 over the backends'
# echo servers (port 7), and every reply comes back from VIP:7, never from a
# backend address.
set -uo pipefail
source "$(dirname "$0")/lib/testbed.sh"
tb_init
tb_up || tb_bail "testbed up"
tb_start_echo_servers || tb_bail "echo servers start in the backends"
tb_fulcrum_up --policy round-robin

udp_burst() { # HOST N: N datagrams, one socket each; prints "SRCIP SRCPORT REPLY" or "timeout"
  tb_exec "$1" "$TB_PYTHON" - "$TB_VIP" "$2" "$1" <<'PY'
import socket, sys
vip, n, me = sys.argv[1], int(sys.argv[2]), sys.argv[3]
for i in range(n):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(2)
    s.sendto(f"{me}-{i}".encode(), (vip, 7))
    try:
        data, addr = s.recvfrom(2048)
        print(addr[0], addr[1], data.decode(errors="replace"))
    except socket.timeout:
        print("timeout")
    s.close()
PY
}
: >"$TB_RUN/udp.txt"
for ((r = 0; r < 5; r++)); do # c1 and c2 take turns, 3 datagrams each
  udp_burst c1 3 >>"$TB_RUN/udp.txt"
  udp_burst c2 3 >>"$TB_RUN/udp.txt"
done
n_ok=$(grep -cE "^$TB_VIP 7 b[123] c[12]-[0-9]+$" "$TB_RUN/udp.txt")
tb_assert_eq "30/30 UDP datagrams answered from $TB_VIP:7" 30 "$n_ok" || tb_note "replies:" "$(grep -vE "^$TB_VIP 7 " "$TB_RUN/udp.txt" | head -n 10)"
counts=$(for b in b1 b2 b3; do printf '%s=%s ' "$b" "$(grep -cE "^$TB_VIP 7 $b " "$TB_RUN/udp.txt")"; done)
tb_assert_eq "UDP round-robin: each backend answers exactly 10" "b1=10 b2=10 b3=10" "${counts% }"
leak=$(grep -E "^10\.0\.0\.1[123] " "$TB_RUN/udp.txt" | head -n 3)
tb_assert_eq "no UDP reply comes from a backend address" "" "$leak"
tb_check "fulcrum still running" fulcrum_alive
tb_done
