#!/usr/bin/env bash
# threads: 3 (per-switch sharding) against the real switch.
#  1. Fulcrum starts 3 event loops; the switch is handed to one; 30 GETs through
#     the VIP are spread exactly 10/10/10.
#  2. The switch reconnects (its controller target is pointed away and back):
#     the acceptor hands the new connection to another shard (fewest
#     connections, ties round-robin), which learns the backends again and
#     balances 30 more GETs 10/10/10.
#  3. The API answers from every shard: one switch up, connections assigned
#     summed over the shards (60).
#  4. SIGHUP reaches every shard (30 more GETs 10/10/10); SIGTERM exits 0.
set -uo pipefail
source "$(dirname "$0")/lib/testbed.sh"
tb_init
tb_up || tb_bail "testbed up"
api_port=$(tb_free_port)
tb_fulcrum_up --policy round-robin --threads 3 --log-level debug --api-listen "127.0.0.1:$api_port"
if wait_log "3 event-loop threads (shards)" 1 5; then tb_ok "3 event-loop threads started"; else tb_fail "3 event-loop threads started"; fi
first=$(grep -oE "connection [0-9]+ goes to shard [0-9]+" "$TB_RUN/fulcrum.log" | tail -n 1)
tb_log "switch connection: $first"

tb_run_requests 30
tb_assert_eq "first shard: 30/30 requests succeed" 30 "$REQ_OK" || tb_note "failed requests:" "$(tb_failed_requests)"
tb_assert_eq "first shard: each backend answers exactly 10" "b1=10 b2=10 b3=10" "$(tb_counts_str)"

# Reconnect: point the switch at a closed port, then back.
ctl_uuid=$(ovs-vsctl --timeout=5 get bridge "$TB_BR" controller | tr -d '[]')
ups=$(log_count "switch up dpid=$TB_DPID")
learned=$(log_count "backend learned vip=$TB_VIP backend=10.0.0.13 ")
ovs-vsctl --timeout=5 set controller "$ctl_uuid" target='"tcp:127.0.0.1:1"'
wait_log "switch down dpid=$TB_DPID" 1 10 || tb_fail "switch disconnects when its target moves"
ovs-vsctl --timeout=5 set controller "$ctl_uuid" "target=\"tcp:127.0.0.1:$TB_PORT\""
if wait_log "switch up dpid=$TB_DPID" $((ups + 1)) 20 &&
  wait_log "backend learned vip=$TB_VIP backend=10.0.0.13 " $((learned + 1)) 20; then
  tb_ok "switch reconnected and backends learned again"
else
  tb_bail "switch reconnects and backends are learned again"
fi
second=$(grep -oE "connection [0-9]+ goes to shard [0-9]+" "$TB_RUN/fulcrum.log" | tail -n 1)
tb_log "switch connection after the reconnect: $second"
if [[ -n "$first" && -n "$second" && "${first##* }" != "${second##* }" ]]; then
  tb_ok "the new connection went to another shard (${first##* } -> ${second##* })"
else
  tb_fail "the new connection went to another shard" "before: $first; after: $second"
fi
tb_run_requests 30
tb_assert_eq "second shard: 30/30 requests succeed" 30 "$REQ_OK" || tb_note "failed requests:" "$(tb_failed_requests)"
tb_assert_eq "second shard: each backend answers exactly 10" "b1=10 b2=10 b3=10" "$(tb_counts_str)"

status=$(curl -s --noproxy '*' --max-time 5 "http://127.0.0.1:$api_port/api/v1/status")
summary=$(python3 -c 'import json,sys; j=json.loads(sys.argv[1]); print(j["switches_up"], j["counters"]["connections_assigned"], len([s for s in j["switches"] if s["state"] == "up"]))' "$status" 2>&1)
tb_log "API status: switches_up, connections_assigned, sessions up = $summary"
read -r sw_up assigned sessions_up <<<"$summary"
tb_assert_eq "API: one switch up, one session up" "1 1" "$sw_up $sessions_up"
if [[ "$assigned" =~ ^[0-9]+$ ]] && ((assigned >= 60)); then
  tb_ok "API: connections assigned summed over the shards ($assigned >= 60)"
else
  tb_fail "API: connections assigned summed over the shards (>= 60)" "$summary"
fi

kill -HUP "$(fulcrum_pid)"
wait_log "SIGHUP: reloading configuration" 1 5 || tb_fail "SIGHUP logged"
tb_run_requests 30
tb_assert_eq "after SIGHUP: each backend answers exactly 10" "b1=10 b2=10 b3=10" "$(tb_counts_str)"
if tb__alive "$(fulcrum_pid)"; then tb_ok "fulcrum still running"; else tb_fail "fulcrum still running"; fi
fulcrum_stop TERM
tb_assert_eq "SIGTERM: exit status 0" 0 "$FULCRUM_EXIT"
tb_done
