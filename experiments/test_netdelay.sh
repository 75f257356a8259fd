#!/usr/bin/env bash
# netdelay check: two namespaces joined by a veth (no OVS), ping RTT without
# and with netdelay holding the second namespace's ingress for D ms. Passes if
# the median RTT rises by D within max(3 ms, 10 %), and if netdelay leaves on
# SIGTERM having removed its iptables rule. Needs root; ~10 s.
#   experiments/test_netdelay.sh [NETDELAY_BIN] [DELAY_MS]
set -uo pipefail
bin=${1:-${NETDELAY_BIN:-$(cd "$(dirname "$0")/.." && pwd)/build/release/bin/netdelay}}
d=${2:-50}
a=ndt-a-$$ b=ndt-b-$$ pid=""
cleanup() {
  [[ -n "$pid" ]] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  ip netns del "$a" 2>/dev/null; ip netns del "$b" 2>/dev/null
}
trap cleanup EXIT
[[ -x "$bin" ]] || { echo "not ok - netdelay binary at $bin"; exit 1; }
ip netns add "$a" && ip netns add "$b" || exit 1
ip -n "$a" link add eth0 type veth peer name eth0 netns "$b" || exit 1
for ns in "$a" "$b"; do
  ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
  ip netns exec "$ns" ethtool -K eth0 rx off tx off sg off tso off gso off gro off >/dev/null 2>&1
  ip -n "$ns" link set lo up; ip -n "$ns" link set eth0 up
done
ip -n "$a" addr add 192.0.2.1/24 dev eth0 && ip -n "$b" addr add 192.0.2.2/24 dev eth0 || exit 1
median_rtt() { # 20 pings, 50 ms apart, at most ~10 s
  ip netns exec "$a" timeout 10 ping -n -q -c 20 -i 0.05 -W 2 192.0.2.2 >/dev/null 2>&1 # warm ARP
  ip netns exec "$a" timeout 10 ping -n -c 20 -i 0.05 -W 2 192.0.2.2 2>/dev/null |
    sed -nE 's/.*time=([0-9.]+) ms/\1/p' | sort -n | awk '{v[NR] = $1} END { if (NR) print v[int((NR + 1) / 2)] }'
}
base=$(median_rtt)
ip netns exec "$b" "$bin" --delay-ms "$d" --queue 3 --iface eth0 </dev/null >/tmp/ndt-$$.log 2>&1 &
pid=$!
for ((i = 0; i < 50; i++)); do ip netns exec "$b" iptables -S INPUT 2>/dev/null | grep -q NFQUEUE && break; sleep 0.1; done
with=$(median_rtt)
kill -TERM "$pid"; wait "$pid"; rc=$?; pid=""
left=$(ip netns exec "$b" iptables -S INPUT | grep -c NFQUEUE)
echo "# median RTT without ${base} ms, with --delay-ms $d: ${with} ms"
sed 's/^/# /' /tmp/ndt-$$.log; rm -f /tmp/ndt-$$.log
fail=0
if awk -v b="$base" -v w="$with" -v d="$d" 'BEGIN { t = d * 0.1; if (t < 3) t = 3; x = w - b - d; exit !(b != "" && w != "" && x < t && -x < t) }'; then
  echo "ok - RTT rises by $d ms (+$(awk -v b="$base" -v w="$with" 'BEGIN { printf "%.2f", w - b }') ms)"
else
  echo "not ok - RTT rises by $d ms within max(3 ms, 10 %): without $base, with $with"; fail=1
fi
if ((rc == 0 && left == 0)); then echo "ok - netdelay exits 0 on SIGTERM and removes its rule"; else echo "not ok - netdelay exit $rc, rules left $left"; fail=1; fi
exit $fail
