#!/usr/bin/env bash
# ICMP: fulcrum answers ping to the VIP (from the VIP's address), and forwards
# everything else as a learning switch so hosts can ping each other.
set -uo pipefail
source "$(dirname "$0")/lib/testbed.sh"
tb_init
tb_up || tb_bail "testbed up"
tb_fulcrum_up --policy round-robin

# ping_ok DESC HOST DST: 3 echo requests, all answered, by DST itself.
ping_ok() {
  local desc=$1 h=$2 dst=$3 out rc recv
  out=$(tb_exec "$h" ping -n -c 3 -i 0.2 -W 2 -w 10 "$dst" 2>&1)
  rc=$?
  recv=$(sed -nE 's/.* ([0-9]+) received.*/\1/p' <<<"$out")
  if ((rc == 0)) && [[ "$recv" == 3 ]]; then
    if grep -qE "bytes from $dst:" <<<"$out" && ! grep -E "bytes from " <<<"$out" | grep -vqE "bytes from $dst:"; then
      tb_ok "$desc (3/3 replies from $dst)"
    else
      tb_fail "$desc: replies come from $dst" "$out"
    fi
  else
    tb_fail "$desc (3/3 replies)" "$out"
  fi
}

ping_ok "ping c1 -> VIP" c1 "$TB_VIP"
ping_ok "ping c2 -> VIP" c2 "$TB_VIP"
ping_ok "ping c1 -> c2" c1 10.0.0.2
ping_ok "ping c1 -> b1" c1 10.0.0.11
ping_ok "ping b2 -> c2" b2 10.0.0.2
ping_ok "ping b3 -> b1" b3 10.0.0.11
neigh=$(tb_exec c2 ip neigh show "$TB_VIP" | awk '{for (i = 1; i < NF; i++) if ($i == "lladdr") print $(i+1)}')
tb_assert_eq "c2's ARP cache: VIP is at the fake MAC" "$TB_FAKE_MAC" "$neigh"
neigh=$(tb_exec c1 ip neigh show 10.0.0.11 | awk '{for (i = 1; i < NF; i++) if ($i == "lladdr") print $(i+1)}')
tb_assert_eq "c1's ARP cache: b1 at its own MAC (plain switching)" 00:00:00:00:00:11 "$neigh"
# Ping and HTTP together: the VIP still serves TCP after ICMP.
body=$(tb_get c1)
if [[ "$body" =~ ^b[123]$ ]]; then tb_ok "GET through the VIP after pings (answered by $body)"; else tb_fail "GET through the VIP after pings" "body: '$body'"; fi
tb_check "fulcrum still running" fulcrum_alive
tb_done
