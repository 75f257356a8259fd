#!/usr/bin/env bash
# Controller restart: balancing works; fulcrum is SIGKILLed; a new fulcrum on
# the same port gets the switch back (OVS reconnects, max_backoff 1 s), learns
# the backends again, and 30 new connections are spread exactly evenly again.
set -uo pipefail
source "$(dirname "$0")/lib/testbed.sh"
tb_init
tb_up || tb_bail "testbed up"
tb_fulcrum_up --policy round-robin

tb_run_requests 30
tb_assert_eq "before restart: 30/30 requests succeed" 30 "$REQ_OK" || tb_note "failed requests (client, curl exit, body):" "$(tb_failed_requests)"
tb_assert_eq "before restart: each backend answers exactly 10" "b1=10 b2=10 b3=10" "$(tb_counts_str)"

old_pid=$(fulcrum_pid)
fulcrum_stop KILL
if tb__alive "$old_pid"; then tb_fail "fulcrum killed"; else tb_ok "fulcrum (pid $old_pid) killed with SIGKILL"; fi

t0=$SECONDS
tb_fulcrum_up --policy round-robin
tb_ok "new fulcrum on port $TB_PORT: switch up and backends learned again after $((SECONDS - t0)) s"

tb_run_requests 30
tb_assert_eq "after restart: 30/30 requests succeed" 30 "$REQ_OK" || tb_note "failed requests (client, curl exit, body):" "$(tb_failed_requests)"
tb_assert_eq "after restart: each backend answers exactly 10" "b1=10 b2=10 b3=10" "$(tb_counts_str)"
tb_check "fulcrum still running" fulcrum_alive
tb_done
