#!/usr/bin/env bash
# Balancing through the VIP with real HTTP servers.
#  1. round-robin: 30 GETs of /whoami (new connection each, alternating c1/c2)
#     all succeed and each backend answers exactly 10.
#  2. random (fixed seed): 300 GETs all succeed and the per-backend counts pass
#     a chi-square goodness-of-fit test against uniform (2 dof, reject > 13.82,
#     i.e. p = 0.001).
#  Also: 200 GETs from 4 concurrent loops all succeed and round-robin stays
#  within 1 of even; a 100 KiB GET through the VIP from each client takes < 2 s.
set -uo pipefail
source "$(dirname "$0")/lib/testbed.sh"
tb_init
tb_up || tb_bail "testbed up"

# ---- round-robin
tb_fulcrum_up --policy round-robin --log-level debug
tb_ok "switch up (OpenFlow $TB_OF_DOTTED) and three backends learned"
t0=$SECONDS
tb_run_requests 30
tb_log "round-robin: 30 requests in $((SECONDS - t0)) s: $(tb_counts_str)"
tb_assert_eq "round-robin: 30/30 requests through the VIP succeed" 30 "$REQ_OK" || tb_note "failed requests (client, curl exit, body):" "$(tb_failed_requests)"
tb_assert_eq "round-robin: each backend answers exactly 10" "b1=10 b2=10 b3=10" "$(tb_counts_str)"
# Debug log: one "connection assigned" per connection (the contract's log line).
assigned=$(tail -n "+$((TB_LOG_MARK + 1))" "$TB_RUN/fulcrum.log" |
  grep -oE "connection assigned vip=$TB_VIP client=10\.0\.0\.[12]:[0-9]+ proto=tcp backend=10\.0\.0\.1[123]" |
  awk '{print $4}' | sort -u | wc -l)
tb_assert_eq "debug log: 30 distinct client connections assigned" 30 "$assigned"

# Concurrency: 4 loops at once (several packet-ins per connection are likely):
# 200 connections, all served, round-robin still within 1 of even (67/67/66).
t0=$SECONDS
tb_run_parallel_requests 4 50
tb_log "round-robin, 4 parallel loops: 200 requests in $((SECONDS - t0)) s: $(tb_counts_str)"
tb_assert_eq "round-robin parallel: 200/200 requests succeed" 200 "$REQ_OK" || tb_note "failed requests (client, curl exit, body):" "$(tb_failed_requests)"
spread=$(printf '%s\n' "${REQ_COUNT[b1]:-0}" "${REQ_COUNT[b2]:-0}" "${REQ_COUNT[b3]:-0}" | sort -n | sed -n '1p;$p' | paste -sd' ' | awk '{print $2 - $1}')
if ((spread <= 1)); then tb_ok "round-robin parallel: counts within 1 ($(tb_counts_str))"; else tb_fail "round-robin parallel: counts within 1" "$(tb_counts_str)"; fi

# Bulk data through the rewritten path (checksums after set-field, offloads off).
for c in c1 c2; do
  t0=$(date +%s%N)
  size=$(tb_exec "$c" curl -s --noproxy '*' --max-time 5 -o /dev/null -w '%{size_download}' "http://$TB_VIP/100k")
  ms=$((($(date +%s%N) - t0) / 1000000))
  if [[ "$size" == 102400 ]] && ((ms < 2000)); then tb_ok "$c: 100 KiB through the VIP in $ms ms"; else tb_fail "$c: 100 KiB through the VIP in < 2 s" "got ${size:-nothing} bytes in $ms ms"; fi
done

# ---- random, fixed seed
fulcrum_stop TERM
tb_log "fulcrum exit status after SIGTERM: $FULCRUM_EXIT"
tb_fulcrum_up --policy random --seed 4242 --log-level info
t0=$SECONDS
tb_run_requests 300
tb_log "random: 300 requests in $((SECONDS - t0)) s: $(tb_counts_str)"
tb_assert_eq "random: 300/300 requests through the VIP succeed" 300 "$REQ_OK" || tb_note "failed requests (client, curl exit, body):" "$(tb_failed_requests)"
chi2=$(awk -v a="${REQ_COUNT[b1]:-0}" -v b="${REQ_COUNT[b2]:-0}" -v c="${REQ_COUNT[b3]:-0}" \
  'BEGIN { e = (a + b + c) / 3; if (e == 0) { print 9999; exit } printf "%.3f", ((a-e)^2 + (b-e)^2 + (c-e)^2) / e }')
if awk -v x="$chi2" 'BEGIN { exit !(x <= 13.82) }'; then
  tb_ok "random: chi-square $chi2 <= 13.82 ($(tb_counts_str))"
else
  tb_fail "random: chi-square $chi2 <= 13.82" "$(tb_counts_str)"
fi
for b in b1 b2 b3; do
  if ((${REQ_COUNT[$b]:-0} > 0)); then tb_ok "random: $b got requests"; else tb_fail "random: $b got requests"; fi
done
tb_check "fulcrum still running" fulcrum_alive
tb_done
