#!/usr/bin/env bash
# Dynamic balancing end to end (issue 3, item 6): real OVS, fulcrum-agent in
# each backend namespace measuring that backend's own cgroup, Fulcrum's ICMP
# latency probes and port statistics. Shows that reports, probes and port stats
# reach the scorer (the "metrics" log lines) and that loading one backend (b2)
# moves new connections away from it under --policy combined, while
# round-robin under the same load does not; forged and replayed reports are
# refused and never forwarded.
#
#  1. Each backend gets a cgroup v1 (cpu, cpuacct, memory) fulcrum-e2e-$TB_PREFIX-bN
#     with a quota of 0.3 CPU; its web server is moved into it; its agent
#     (--cgroup v1:/..., interval 0.5 s) reports that cgroup's CPU and memory.
#  2. The metrics lines show, for all three backends: state up, cpu/mem from
#     the agent, rtt from the probes, avail_bw from the port statistics.
#  3. Baseline: 60 new connections (distinct source ports) are spread over all
#     three. Two busy loops in b2's cgroup saturate its quota: b2 reports
#     ~100 % CPU, b1/b3 stay low, b2's score falls >= 20 points below the
#     others; 60 new connections then give b2 fewer than 20 %. After the
#     burners stop, b2 gets its share again.
#  4. Forged reports (wrong key) from a client and from b2, a replayed genuine
#     report of b2 (old and recent), and b2's report sent from b3 are refused
#     (debug log) and do not change b2's metrics; captures on all five hosts
#     show no report datagram ever reaching a host other than its sender.
#  5. With --policy combined-paper (argmax) and the same load b2 also gets
#     < 20 %. Negative control: restart with --policy round-robin, same load
#     on b2: exactly 20/20/20, so the shift is the scorer's doing.
set -uo pipefail
: "${TB_TIMEOUT:=120}" # watchdog; a passing run takes well under 90 s
source "$(dirname "$0")/lib/testbed.sh"
source "$(dirname "$0")/lib/dynamic.sh"
tb_init
dyn_init
N=60                # connections per measured run
QUOTA_US=30000      # 0.3 CPU per backend (per 100 ms period)
BURN_S=45           # hard bound of each burner's life

tb_up || tb_bail "testbed up"
if dyn_cg_setup "$QUOTA_US"; then
  tb_ok "cgroups $(dyn_cg_name 'b{1,2,3}') created (cpu ${DYN_CG_MNT[cpu]}, cpuacct ${DYN_CG_MNT[cpuacct]}, memory ${DYN_CG_MNT[memory]}), quota ${QUOTA_US} us / 100 ms"
  for h in "${TB_SERVERS[@]}"; do
    pid=$(dyn_server_pid "$h")
    if [[ -n "$pid" ]] && dyn_cg_add "$h" "$pid" && dyn_cg_has "$h" "$pid"; then
      tb_ok "web server of $h (pid $pid) is in $h's cgroup"
    else
      tb_fail "web server of $h (pid $pid) is in $h's cgroup"
    fi
  done
else
  dyn_cg_teardown
  tb_note "no writable cgroup v1 cpu/cpuacct/memory: agents measure the whole machine (--cgroup none);" \
    "the load part (3, 5) needs per-backend CPU and is skipped"
fi

# ---- 1/2: combined policy, agents, the measurements reach the scorer
tb_fulcrum_up --policy combined --agent-key-file "$DYN_KEY" --metrics-log-interval 1 --log-level debug
dyn_agents_start 0.5 || tb_bail "fulcrum-agent runs in b1, b2, b3"
tb_ok "fulcrum-agent runs in b1, b2, b3 (pids $(cat "$TB_RUN"/agent-b?.pid | paste -sd' '), interval 0.5 s, --cgroup ${DYN_CG_MODE})"

metrics_complete() { # every backend: up, cpu, mem, rtt and avail_bw known
  local h l
  for h in "${TB_SERVERS[@]}"; do
    l=$(dyn_metrics_line "$h")
    [[ "$l" == *" state=up "* ]] || return 1
    for k in cpu mem rtt avail_bw; do dyn_num "$(dyn_field "$l" "$k")" || return 1; done
  done
}
for ((i = 0; i < 100; i++)); do metrics_complete && break; sleep 0.1; done
tb_note "metrics after start:" "$(dyn_metrics_table)"
for h in "${TB_SERVERS[@]}"; do
  l=$(dyn_metrics_line "$h")
  if [[ "$l" == *" state=up "* ]]; then tb_ok "$h: state=up"; else tb_fail "$h: state=up" "$l"; fi
  cpu=$(dyn_field "$l" cpu) mem=$(dyn_field "$l" mem) rtt=$(dyn_field "$l" rtt) bw=$(dyn_field "$l" avail_bw)
  if dyn_num "$cpu" && dyn_num "$mem"; then tb_ok "$h: agent report accepted (cpu=$cpu% mem=$mem%)"; else tb_fail "$h: agent report accepted (cpu/mem not '-')" "$l"; fi
  if dyn_num "$rtt"; then tb_ok "$h: latency probes answered (rtt=${rtt}ms)"; else tb_fail "$h: latency probes answered (rtt not '-')" "$l"; fi
  # OVS reports the veth ports' speed (10 Gb/s), so no capacity_kbps is configured.
  if dyn_num "$bw"; then tb_ok "$h: port statistics give avail_bw=${bw}kb/s"; else tb_fail "$h: port statistics give avail_bw (not '-')" "$l"; fi
done
if [[ "$DYN_CG_MODE" == v1 ]]; then
  n=$(cat "$TB_RUN"/agent-b?.log | grep -c 'measuring cgroup v1')
  tb_assert_eq "all three agents measure their cgroup v1" 3 "$n" || tb_note "$(cat "$TB_RUN"/agent-b?.log)"
fi

# Record b2's genuine reports from here on (replayed in part 4).
dyn_capture_start b2-reports b2 udp dst port 7070 and src host "${TB_IP[b2]}" || tb_bail "capture of b2's reports"

# ---- 3: baseline
t0=$SECONDS
tb_run_requests "$N"
tb_log "combined, idle: $N requests in $((SECONDS - t0)) s: $(tb_counts_str)"
base_counts=$(tb_counts_str)
tb_assert_eq "combined, idle: $N/$N requests succeed" "$N" "$REQ_OK" || tb_note "$(tb_failed_requests)"
# Idle backends have service times and RTTs within combined's tie band (half a
# service time) of each other, so the choice is drawn among them: each backend
# gets at least 20 % (a third would be 20 of 60).
for h in "${TB_SERVERS[@]}"; do
  c=${REQ_COUNT[$h]:-0}
  if ((c * 5 >= N)); then tb_ok "combined, idle: $h gets >= 20 % ($c of $N)"; else tb_fail "combined, idle: $h gets >= 20 % of $N" "$base_counts"; fi
done

if [[ "$DYN_CG_MODE" == v1 ]]; then
  # ---- 3: load b2 (two busy loops: its 0.3-CPU quota is saturated)
  dyn_burner_start b2 "$BURN_S"
  dyn_burner_start b2 "$BURN_S"
  loaded=0
  for ((i = 0; i < 150; i++)); do # at most 15 s
    c2=$(dyn_metric b2 cpu) s1=$(dyn_metric b1 score) s2=$(dyn_metric b2 score) s3=$(dyn_metric b3 score)
    if dyn_num "$c2" && dyn_lt 80 "$c2" && dyn_lt "$s2" "$(awk -v a="$s1" -v b="$s3" 'BEGIN { m = a < b ? a : b; print m - 20 }')"; then
      loaded=1
      break
    fi
    sleep 0.1
  done
  tb_note "metrics with b2 loaded:" "$(dyn_metrics_table)"
  if ((loaded)); then
    tb_ok "b2 loaded: reports cpu=${c2}% and its score $s2 is >= 20 below b1 ($s1) and b3 ($s3) within $((i / 10)) s"
  else
    tb_fail "b2 loaded: reports cpu > 80 % and its score falls >= 20 below the others within 15 s" "$(dyn_metrics_table)"
  fi
  for h in b1 b3; do
    c=$(dyn_metric "$h" cpu)
    if dyn_num "$c" && dyn_lt "$c" 50; then tb_ok "$h's own report stays low while b2 burns (cpu=$c%)"; else tb_fail "$h's own report stays low while b2 burns (< 50 %)" "cpu=$c"; fi
  done

  t0=$SECONDS
  tb_run_requests "$N"
  tb_log "combined, b2 loaded: $N requests in $((SECONDS - t0)) s: $(tb_counts_str)"
  load_counts=$(tb_counts_str)
  tb_note "metrics after the loaded run:" "$(dyn_metrics_table)"
  tb_assert_eq "combined, b2 loaded: $N/$N requests succeed" "$N" "$REQ_OK" || tb_note "$(tb_failed_requests)"
  # combined estimates b2's time per request from its CPU (saturated by the
  # burners) over the connections it served: once b2 has taken 2 in a report
  # interval (0.5 s), its estimate is several times the others' and only
  # rises while it reports >= 95 % CPU, so these sequential GETs go to b1 and
  # b3. 20 % (12 of 60, against 33 % without the scorer) leaves room for the
  # first interval and a late report without letting an unchanged spread pass.
  c=${REQ_COUNT[b2]:-0}
  if ((c * 5 < N)); then tb_ok "combined, b2 loaded: b2 gets < 20 % of new connections ($load_counts)"; else tb_fail "combined, b2 loaded: b2 gets < 20 % of new connections" "$load_counts" "baseline was $base_counts"; fi
fi

# ---- 4: forged, replayed and re-attributed reports
for h in "${TB_HOSTS[@]}"; do dyn_capture_start "fwd-$h" "$h" udp port 7070 || tb_bail "capture on $h"; done
dyn_capture_stop b2-reports
mark=$(wc -l <"$TB_RUN/fulcrum.log")
wrong_key=$(openssl rand -hex 32)
declare -A sent=()
sent[c1]=$(dyn_forge c1 "$wrong_key" "${TB_IP[c1]}" 0 2>&1)
sent[b2_forged]=$(dyn_forge b2 "$wrong_key" "${TB_IP[b2]}" 0 2>&1)
sent[b2_replay_old]=$(dyn_replay b2 "$TB_RUN/b2-reports.pcap" first 2>&1)
sent[b2_replay_new]=$(dyn_replay b2 "$TB_RUN/b2-reports.pcap" last 2>&1)
sent[b3_as_b2]=$(dyn_replay b3 "$TB_RUN/b2-reports.pcap" last 2>&1)
for k in c1 b2_forged b2_replay_old b2_replay_new b3_as_b2; do tb_note "$k: ${sent[$k]}"; done
sleep 2.5 # two metrics lines after the forgeries
dyn_capture_stop fwd-c1 fwd-c2 fwd-b1 fwd-b2 fwd-b3
after=$(tail -n "+$((mark + 1))" "$TB_RUN/fulcrum.log")
check_log() { # DESC PATTERN (extended regexp)
  if grep -qE -- "$2" <<<"$after"; then tb_ok "$1"; else tb_fail "$1" "no log line matching: $2" "$(grep -F 'agent report' <<<"$after" | head -n 5)"; fi
}
check_log "report from client c1 (wrong key) dropped: not a backend" \
  "agent report to vip=$TB_VIP from ${TB_IP[c1]}, not one of its backends: dropped"
check_log "forged report from b2 (wrong key, claims cpu 0) rejected: bad MAC" \
  "agent report from ${TB_IP[b2]} rejected: bad MAC"
# Its first captured report is a few seconds old: "replayed", or "stale" once
# older than max_age (5 s); either is a refusal.
old_age=$(sed -nE 's/.*age_ms=([0-9-]+).*/\1/p' <<<"${sent[b2_replay_old]}")
check_log "b2's first captured genuine report replayed (age ${old_age:-?} ms) rejected: replayed or stale" \
  "agent report from ${TB_IP[b2]} rejected: (replayed|stale)"
check_log "b2's latest captured genuine report replayed rejected: replayed" \
  "agent report from ${TB_IP[b2]} rejected: replayed"
check_log "b2's genuine report sent from b3 rejected: sender_ip is not the packet source" \
  "agent report from ${TB_IP[b3]} rejected: sender_ip is not the packet source"
if [[ "$DYN_CG_MODE" == v1 ]]; then
  # None of them was taken: b2's metrics lines after the forgeries still show it loaded.
  low=$(grep -F " metrics vip=$TB_VIP backend=${TB_IP[b2]} " <<<"$after" |
    sed -nE 's/.* cpu=([0-9.]+)%.*/\1/p' | awk '$1 < 80' | wc -l)
  nlines=$(grep -cF " metrics vip=$TB_VIP backend=${TB_IP[b2]} " <<<"$after")
  if ((nlines >= 2 && low == 0)); then tb_ok "b2's metrics after the forgeries still show its real load ($nlines lines, cpu >= 80 %)"; else tb_fail "b2's metrics after the forgeries still show its real load" "$nlines lines, $low below 80 %"; fi
fi
# No report datagram (forged, replayed or genuine) ever reached another host.
for h in "${TB_HOSTS[@]}"; do
  foreign=$(tcpdump -nn -r "$TB_RUN/fwd-$h.pcap" "not src host ${TB_IP[$h]}" 2>/dev/null | wc -l)
  tb_assert_eq "$h received no report datagram from another host" 0 "$foreign" ||
    tb_note "$(tcpdump -nn -r "$TB_RUN/fwd-$h.pcap" "not src host ${TB_IP[$h]}" 2>/dev/null | head -n 5)"
done
# ...while the captures did see the datagrams leave their senders.
own_c1=$(tcpdump -nn -r "$TB_RUN/fwd-c1.pcap" "src host ${TB_IP[c1]}" 2>/dev/null | wc -l)
own_b3=$(tcpdump -nn -r "$TB_RUN/fwd-b3.pcap" "src host ${TB_IP[b3]}" 2>/dev/null | wc -l)
tb_assert_eq "capture on c1 saw its forged datagram leave" 1 "$own_c1"
if ((own_b3 >= 2)); then tb_ok "capture on b3 saw its own reports and the re-sent b2 report leave ($own_b3)"; else tb_fail "capture on b3 saw datagrams leave" "$own_b3"; fi

if [[ "$DYN_CG_MODE" == v1 ]]; then
  # ---- 3: recovery: the burners stop; b2 reports itself idle with no connection
  # from us, so combined drops its saturated estimate and assumes it as fast as
  # the others again
  dyn_burners_stop
  rec=0
  for ((i = 0; i < 100; i++)); do # at most 10 s
    c2=$(dyn_metric b2 cpu)
    if dyn_num "$c2" && dyn_lt "$c2" 30; then rec=1; break; fi
    sleep 0.1
  done
  if ((rec)); then tb_ok "b2's burners stopped: it reports cpu=${c2}%"; else tb_fail "b2's burners stopped: it reports cpu < 30 % within 10 s" "$(dyn_metrics_table)"; fi
  t0=$SECONDS
  tb_run_requests "$N"
  tb_log "combined, b2 unloaded again: $N requests in $((SECONDS - t0)) s: $(tb_counts_str)"
  rec_counts=$(tb_counts_str)
  tb_assert_eq "combined, b2 unloaded again: $N/$N requests succeed" "$N" "$REQ_OK" || tb_note "$(tb_failed_requests)"
  c=${REQ_COUNT[b2]:-0}
  if ((c * 5 >= N)); then tb_ok "combined, b2 unloaded again: b2 gets >= 20 % again ($rec_counts)"; else tb_fail "combined, b2 unloaded again: b2 gets >= 20 %" "$rec_counts"; fi

  # ---- the paper's policy (argmax of the score) under the same load
  fulcrum_stop TERM
  tb_fulcrum_up --policy combined-paper --agent-key-file "$DYN_KEY" --metrics-log-interval 1 --log-level info
  dyn_burner_start b2 "$BURN_S"
  dyn_burner_start b2 "$BURN_S"
  wait_b2_loaded() { # POLICY: after a restart, b2's reports show the load again
    local i c2=""
    for ((i = 0; i < 150; i++)); do
      c2=$(dyn_metric b2 cpu)
      if dyn_num "$c2" && dyn_lt 80 "$c2" && dyn_num "$(dyn_metric b1 cpu)" && dyn_num "$(dyn_metric b3 cpu)"; then
        tb_ok "$1 run: b2 reports its load (cpu=${c2}%)"
        return 0
      fi
      sleep 0.1
    done
    tb_fail "$1 run: b2 reports cpu > 80 % within 15 s" "$(dyn_metrics_table)"
  }
  wait_b2_loaded combined-paper
  t0=$SECONDS
  tb_run_requests "$N"
  tb_log "combined-paper, b2 loaded: $N requests in $((SECONDS - t0)) s: $(tb_counts_str)"
  paper_counts=$(tb_counts_str)
  tb_assert_eq "combined-paper, b2 loaded: $N/$N requests succeed" "$N" "$REQ_OK" || tb_note "$(tb_failed_requests)"
  # argmax: b2 (>= 30 points behind) is never the best score.
  c=${REQ_COUNT[b2]:-0}
  if ((c * 5 < N)); then tb_ok "combined-paper, b2 loaded: b2 gets < 20 % ($paper_counts)"; else tb_fail "combined-paper, b2 loaded: b2 gets < 20 %" "$paper_counts"; fi

  # ---- 5: negative control: round-robin under the same load
  fulcrum_stop TERM
  tb_fulcrum_up --policy round-robin --agent-key-file "$DYN_KEY" --metrics-log-interval 1 --log-level info
  wait_b2_loaded round-robin
  t0=$SECONDS
  tb_run_requests "$N"
  tb_log "round-robin, b2 loaded: $N requests in $((SECONDS - t0)) s: $(tb_counts_str)"
  rr_counts=$(tb_counts_str)
  tb_assert_eq "round-robin, b2 loaded: $N/$N requests succeed" "$N" "$REQ_OK" || tb_note "$(tb_failed_requests)"
  tb_assert_eq "round-robin, b2 loaded: b2 gets exactly 1/3 (the testbed does not steer)" \
    "b1=$((N / 3)) b2=$((N / 3)) b3=$((N / 3))" "$rr_counts"
  dyn_burners_stop
  tb_log "spreads: combined idle $base_counts | combined b2 loaded $load_counts | combined b2 unloaded $rec_counts | combined-paper b2 loaded $paper_counts | round-robin b2 loaded $rr_counts"
fi

dyn_agents_stop
tb_check "fulcrum still running" fulcrum_alive
tb_done
