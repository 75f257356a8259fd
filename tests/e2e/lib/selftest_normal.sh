#!/usr/bin/env bash
# Self-test of the testbed without any controller: one OpenFlow "actions=NORMAL"
# flow makes the fail_mode=secure bridge a plain learning switch. Checks ping
# between namespaces, HTTP to every backend (small and 100 KiB: TCP checksums
# and offloads), then tears down. Usage: [OF_VERSION=10|13] bash selftest_normal.sh
set -uo pipefail
TB_PREFIX=${TB_PREFIX:-flcself}
source "$(dirname "$0")/testbed.sh"
tb_init
tb_up || tb_bail "testbed up"
tb_check "NORMAL flow added" ovs-ofctl -O "$TB_OF_PROTO" add-flow "$TB_BR" actions=NORMAL

tb_check "ping c1 -> c2" tb_exec c1 ping -c 2 -W 2 -i 0.2 10.0.0.2
tb_check "ping c1 -> b1" tb_exec c1 ping -c 2 -W 2 -i 0.2 10.0.0.11
tb_check "ping b2 -> c2" tb_exec b2 ping -c 2 -W 2 -i 0.2 10.0.0.2
for b in b1 b2 b3; do
  for c in c1 c2; do
    body=$(tb_exec "$c" curl -s --noproxy '*' --max-time 5 "http://${TB_IP[$b]}/whoami")
    tb_assert_eq "$c GET http://${TB_IP[$b]}/whoami" "$b" "$body"
  done
  t0=$(date +%s%N)
  size=$(tb_exec c1 curl -s --noproxy '*' --max-time 5 -o /dev/null -w '%{size_download}' "http://${TB_IP[$b]}/100k")
  ms=$((($(date +%s%N) - t0) / 1000000))
  tb_assert_eq "c1 GET 100 KiB from $b (${ms} ms)" 102400 "$size"
  if ((ms < 1000)); then tb_ok "100 KiB from $b under 1 s"; else tb_fail "100 KiB from $b under 1 s" "took $ms ms"; fi
done
# Fixed MACs are what the hosts see.
mac=$(tb_exec c1 ip neigh show 10.0.0.11 | awk '{print $5}')
tb_assert_eq "c1 sees b1 at its fixed MAC" 00:00:00:00:00:11 "$mac"
# No IPv6 and no address on host-side interfaces.
addrs=$(ip -o addr show dev "$(tb_if c1)"; ip -o addr show dev "$TB_BR" 2>/dev/null)
tb_assert_eq "no address on host-side veth nor bridge port" "" "$addrs"
tb_done
