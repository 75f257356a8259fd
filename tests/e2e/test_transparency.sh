#!/usr/bin/env bash
# Transparency: a client only ever sees the VIP and the fake MAC, never a
# backend; a backend sees the real client IP, with the fake MAC as source.
#  - tcpdump in c1 during 20 GETs from c1: no frame shows a backend MAC
#    (00:00:00:00:00:1x) or IP (10.0.0.11-13) -- ARP included: fulcrum answers
#    a backend's ARP for a client itself; the VIP and fake MAC do show;
#    c1's ARP entry for the VIP is the fake MAC.
#  - tcpdump in b1 (during those and 10 GETs from c2): the TCP packets to port
#    80 come from the fake MAC and from the real client IPs (10.0.0.1 and
#    10.0.0.2), addressed to b1's own MAC and IP.
set -uo pipefail
source "$(dirname "$0")/lib/testbed.sh"
tb_init
tb_up || tb_bail "testbed up"
tb_fulcrum_up --policy round-robin

tb_capture_start c1 c1 || tb_bail "tcpdump starts in c1"
tb_capture_start b1 b1 || tb_bail "tcpdump starts in b1"
ok=0
n_b1=0
for ((i = 0; i < 20; i++)); do
  body=$(tb_get c1) && [[ "$body" =~ ^b[123]$ ]] && ok=$((ok + 1))
  [[ "$body" == b1 ]] && n_b1=$((n_b1 + 1))
done
ok2=0
for ((i = 0; i < 10; i++)); do # so that b1 also sees the other client
  body=$(tb_get c2) && [[ "$body" =~ ^b[123]$ ]] && ok2=$((ok2 + 1))
  [[ "$body" == b1 ]] && n_b1=$((n_b1 + 1))
done
tb_capture_stop c1
tb_capture_stop b1
tb_assert_eq "20/20 GETs from c1 through the VIP succeed" 20 "$ok"
tb_assert_eq "10/10 GETs from c2 through the VIP succeed" 10 "$ok2"

tcpdump -r "$TB_RUN/c1.pcap" -nn -e >"$TB_RUN/c1.txt" 2>/dev/null
tcpdump -r "$TB_RUN/b1.pcap" -nn -e >"$TB_RUN/b1.txt" 2>/dev/null
tb_log "c1 capture: $(wc -l <"$TB_RUN/c1.txt") frames; b1 capture: $(wc -l <"$TB_RUN/b1.txt") frames"

backend_mac='00:00:00:00:00:1[123]'
backend_ip='10\.0\.0\.1[123]([^0-9]|$)'
leaks=$(grep -E "$backend_mac|$backend_ip" "$TB_RUN/c1.txt" | head -n 8)
tb_assert_eq "c1 capture: no frame (IP or ARP) shows a backend MAC or IP" "" "$leaks"
grep -v 'ethertype ARP' "$TB_RUN/c1.txt" >"$TB_RUN/c1-ip.txt"
n_ip=$(wc -l <"$TB_RUN/c1-ip.txt")
if ((n_ip >= 20 * 5)); then tb_ok "c1 capture holds the 20 connections ($n_ip IP frames)"; else tb_fail "c1 capture holds the 20 connections" "only $n_ip IP frames"; fi
vip_fake=$(grep -cE "^[^ ]+ $TB_FAKE_MAC > 00:00:00:00:00:01, ethertype IPv4 .*: $TB_VIP\.80 > 10\.0\.0\.1\.[0-9]+:" "$TB_RUN/c1-ip.txt")
if ((vip_fake > 0)); then tb_ok "c1 capture: answers come from $TB_VIP:80 with src MAC $TB_FAKE_MAC ($vip_fake frames)"; else tb_fail "c1 capture: answers come from the VIP and the fake MAC" "$(head -n 5 "$TB_RUN/c1-ip.txt")"; fi
to_vip=$(grep -cE "^[^ ]+ 00:00:00:00:00:01 > $TB_FAKE_MAC, ethertype IPv4 .*: 10\.0\.0\.1\.[0-9]+ > $TB_VIP\.80:" "$TB_RUN/c1-ip.txt")
if ((to_vip > 0)); then tb_ok "c1 capture: requests go to $TB_VIP:80 at MAC $TB_FAKE_MAC ($to_vip frames)"; else tb_fail "c1 capture: requests go to the VIP's fake MAC"; fi
neigh=$(tb_exec c1 ip neigh show "$TB_VIP" | awk '{for (i = 1; i < NF; i++) if ($i == "lladdr") print $(i+1)}')
tb_assert_eq "c1's ARP cache: VIP is at the fake MAC" "$TB_FAKE_MAC" "$neigh"

# ---- b1's side
# Frames from the VIP itself (fake MAC) are the controller's own packets, e.g.
# health probes; they are counted, not client traffic. Client connections must
# arrive with the real client IP: as many distinct client ports as answers b1 gave.
grep -E "ethertype IPv4 .*: 10\.0\.0\.[0-9]+\.[0-9]+ > 10\.0\.0\.11\.80:" "$TB_RUN/b1.txt" |
  grep -vE ": $TB_VIP\.[0-9]+ > " >"$TB_RUN/b1-in.txt"
n_in=$(wc -l <"$TB_RUN/b1-in.txt")
if ((n_in > 0)); then tb_ok "b1 capture: $n_in client TCP frames to 10.0.0.11:80"; else tb_fail "b1 capture: client TCP frames to 10.0.0.11:80" "$(head -n 5 "$TB_RUN/b1.txt")"; fi
bad_in=$(grep -vE "^[^ ]+ $TB_FAKE_MAC > 00:00:00:00:00:11, ethertype IPv4 .*: 10\.0\.0\.[12]\.[0-9]+ > 10\.0\.0\.11\.80:" "$TB_RUN/b1-in.txt" | head -n 5)
tb_assert_eq "b1 capture: every client frame to port 80 is fake MAC -> b1 MAC, real client IP -> 10.0.0.11" "" "$bad_in"
clients=$(grep -oE ": 10\.0\.0\.[12]\.[0-9]+ > 10\.0\.0\.11\.80:" "$TB_RUN/b1-in.txt" | grep -oE "10\.0\.0\.[12]\." | sort -u | tr -d '\n')
tb_assert_eq "b1 capture: both real client IPs appear as sources" "10.0.0.1.10.0.0.2." "$clients"
conns=$(grep -oE ": 10\.0\.0\.[12]\.[0-9]+ > 10\.0\.0\.11\.80: Flags \[S\]," "$TB_RUN/b1-in.txt" | sort -u | wc -l)
tb_assert_eq "b1 capture: one client connection (SYN from a real client IP) per answer from b1" "$n_b1" "$conns"
from_vip=$(grep -E "ethertype IPv4 .*: $TB_VIP\.[0-9]+ > 10\.0\.0\.11\." "$TB_RUN/b1.txt")
bad_vip=$(grep -vE "^[^ ]+ $TB_FAKE_MAC > " <<<"$from_vip" | grep . | head -n 3)
tb_assert_eq "b1 capture: frames from the VIP come only from the fake MAC (controller's own)" "" "$bad_vip"
[[ -n "$from_vip" ]] && tb_log "b1 capture: $(grep -c . <<<"$from_vip") frames from $TB_VIP itself (controller probes), e.g.: $(head -n 1 <<<"$from_vip" | cut -d' ' -f2-)"
out=$(grep -cE "^[^ ]+ 00:00:00:00:00:11 > [0-9a-f:]+, ethertype IPv4 .*: 10\.0\.0\.11\.80 > 10\.0\.0\.1\.[0-9]+:" "$TB_RUN/b1.txt")
if ((out > 0)); then tb_ok "b1 capture: b1 answers the real client 10.0.0.1 from 10.0.0.11 ($out frames)"; else tb_fail "b1 capture: b1 answers the real client"; fi
tb_done
