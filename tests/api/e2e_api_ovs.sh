#!/usr/bin/env bash
# The REST API against a real Open vSwitch (OpenFlow $OF_VERSION): runtime
# changes take effect for the next connection, nothing is lost.
#  1. round-robin over b1,b2 (b3 not configured): 12 GETs -> 6/6; the API
#     and /metrics count them (decisions == connections made).
#  2. fulcrumctl drain b1: 12 GETs all reach b2; activate: b1 again.
#  3. fulcrumctl add b3: it is discovered (status up) and 12 GETs -> 4/4/4.
#  4. weight b2=3, policy weighted-round-robin: 15 GETs -> 3/9/3 exactly.
#  5. fulcrumctl remove b3: 9 GETs never reach b3.
#  6. SIGHUP during a rate-limited 1 MiB download: the download completes
#     intact, the switch session is the same one (no reconnect), per-backend
#     totals are kept, and the file's pool (b1,b2, round-robin) replaces the
#     API changes, as logged.
#  7. /metrics parses (prometheus_client); decisions_total and the decision
#     latency histogram's count equal the number of connections made.
#  8. SIGTERM: exit status 0 within 2 s, "shutting down" logged.
set -uo pipefail
: "${FULCRUM_SRC:=$(cd "$(dirname "$0")/../.." && pwd)}"
source "$FULCRUM_SRC/tests/e2e/lib/testbed.sh"
: "${FULCRUMCTL_BIN:=$(dirname "$FULCRUM_BIN")/fulcrumctl}"
TB_BACKENDS=10.0.0.11,10.0.0.12 # b3 is added through the API
tb_init
tb_up || tb_bail "testbed up"
API_PORT=$(tb_free_port)
API="http://127.0.0.1:$API_PORT"
ctl() { "$FULCRUMCTL_BIN" --api "$API" "$@"; }
# api_py PATH EXPR: evaluate a Python expression over the JSON at PATH (as j).
api_py() {
  curl -s --max-time 5 "$API$1" | "$TB_PYTHON" -c "import json,sys; j=json.load(sys.stdin); print($2)"
}
backend_status() { api_py /api/v1/vips/$TB_VIP/backends/$1 'j["status"]'; }
CONNECTIONS=0 # connections made through the VIP (each GET is one)
requests() { tb_run_requests "$1"; CONNECTIONS=$((CONNECTIONS + $1)); }

tb_fulcrum_up --policy round-robin --api-listen "127.0.0.1:$API_PORT"
tb_ok "switch up, b1 and b2 learned, API on $API"

# ---- 1. baseline
requests 12
tb_assert_eq "round-robin b1,b2: 12 GETs -> 6/6" "b1=6 b2=6 b3=0" "$(tb_counts_str)"
tb_assert_eq "API: per-backend totals" "6 6" "$(api_py /api/v1/vips/$TB_VIP 'j["backends"][0]["connections"]["total"], j["backends"][1]["connections"]["total"]')"
tb_assert_eq "API: backends up with a score" "up up True" \
  "$(api_py /api/v1/vips/$TB_VIP 'j["backends"][0]["status"], j["backends"][1]["status"], j["backends"][0]["score"] is not None')"
session0=$(api_py /api/v1/switches '[(s["dpid"], s["state"], s["connected_at"]) for s in j["switches"]]')
tb_log "switch session: $session0"

# ---- 2. drain / activate
t0=$(date +%s%N)
out=$(ctl drain "$TB_VIP" 10.0.0.11)
tb_log "fulcrumctl drain took $((($(date +%s%N) - t0) / 1000000)) ms: $out"
tb_assert_eq "fulcrumctl drain: b1 draining" draining "$(backend_status 10.0.0.11)"
requests 12
tb_assert_eq "drained b1 gets none of 12 new connections" "b1=0 b2=12 b3=0" "$(tb_counts_str)"
ctl activate "$TB_VIP" 10.0.0.11 >/dev/null
requests 12
tb_assert_eq "activated b1 is balanced again" "b1=6 b2=6 b3=0" "$(tb_counts_str)"

# ---- 3. add
ctl add "$TB_VIP" 10.0.0.13 >/dev/null || tb_fail "fulcrumctl add b3"
for ((i = 0; i < 100; i++)); do [[ "$(backend_status 10.0.0.13)" == up ]] && break; sleep 0.1; done
tb_assert_eq "added b3 is discovered and up" up "$(backend_status 10.0.0.13)"
requests 12
tb_assert_eq "12 GETs over b1,b2,b3 -> 4/4/4" "b1=4 b2=4 b3=4" "$(tb_counts_str)"

# ---- 4. weight + policy
ctl weight "$TB_VIP" 10.0.0.12 3 >/dev/null || tb_fail "fulcrumctl weight"
ctl policy "$TB_VIP" weighted-round-robin >/dev/null || tb_fail "fulcrumctl policy"
requests 15
tb_assert_eq "weighted-round-robin 1:3:1 -> 3/9/3" "b1=3 b2=9 b3=3" "$(tb_counts_str)"

# ---- 5. remove
ctl remove "$TB_VIP" 10.0.0.13 >/dev/null || tb_fail "fulcrumctl remove b3"
requests 9
if ((${REQ_COUNT[b3]:-0} == 0 && REQ_OK == 9)); then tb_ok "removed b3 gets none of 9 ($(tb_counts_str))"; else tb_fail "removed b3 gets no connection" "$(tb_counts_str), ok=$REQ_OK"; fi

# ---- 6. SIGHUP during a download
totals_before=$(api_py /api/v1/vips/$TB_VIP '[b["connections"]["total"] for b in j["backends"] if b["configured"]]')
accepted_before=$(api_py /api/v1/status 'j["controller"]["sessions_accepted"]')
for h in b1 b2 b3; do head -c 1048576 /dev/zero >"$TB_RUN/www-$h/1m"; done
tb_exec c1 curl -s --noproxy '*' --max-time 20 --limit-rate 400k -o /dev/null -w '%{size_download}' \
  "http://$TB_VIP/1m" >"$TB_RUN/download.txt" 2>&1 &
dl=$!
CONNECTIONS=$((CONNECTIONS + 1))
sleep 1
active_before=$(api_py /api/v1/status 'j["connections_active"]')
kill -HUP "$(fulcrum_pid)"
wait_log "configuration reloaded" 7 5 || true
if wait_log "SIGHUP: the configuration replaces 6 runtime change(s) made through the API" 1 5; then
  tb_ok "SIGHUP logs that it replaces the 6 API changes"
else
  tb_fail "SIGHUP logs the API changes it replaces" "$(grep -F SIGHUP "$TB_RUN/fulcrum.log" | tail -n 3)"
fi
active_after=$(api_py /api/v1/status 'j["connections_active"]')
tb_assert_eq "SIGHUP keeps connection state (active connections)" "$active_before" "$active_after"
wait "$dl"
tb_assert_eq "a download running across SIGHUP completes intact" 1048576 "$(cat "$TB_RUN/download.txt")"
tb_assert_eq "SIGHUP keeps the switch session (same connection, none accepted since)" \
  "$session0 $accepted_before" \
  "$(api_py /api/v1/switches '[(s["dpid"], s["state"], s["connected_at"]) for s in j["switches"]]') $(api_py /api/v1/status 'j["controller"]["sessions_accepted"]')"
totals_after=$(api_py /api/v1/vips/$TB_VIP '[b["connections"]["total"] for b in j["backends"] if b["configured"]]')
tb_log "b1,b2 totals before SIGHUP $totals_before, after $totals_after (the download is one more)"
if "$TB_PYTHON" -c "import sys; b=$totals_before; a=$totals_after; sys.exit(0 if len(a)==2 and a[0]>=b[0] and a[1]>=b[1] and sum(a)==sum(b)+1 else 1)"; then
  tb_ok "SIGHUP keeps per-backend totals"
else
  tb_fail "SIGHUP keeps per-backend totals" "before $totals_before after $totals_after"
fi
tb_assert_eq "after SIGHUP: the file's pool and policy" "['10.0.0.11', '10.0.0.12'] round-robin [1, 1]" \
  "$(api_py /api/v1/vips/$TB_VIP '[b["ip"] for b in j["backends"] if b["configured"]], j["policy"], [b["weight"] for b in j["backends"] if b["configured"]]')"
requests 6
tb_assert_eq "after SIGHUP: 6 GETs -> 3/3" "b1=3 b2=3 b3=0" "$(tb_counts_str)"

# ---- 7. metrics
curl -s --max-time 5 "$API/metrics" >"$TB_RUN/metrics.txt"
if out=$("$TB_PYTHON" - "$TB_RUN/metrics.txt" "$CONNECTIONS" <<'EOF' 2>&1
import sys
from prometheus_client.parser import text_string_to_metric_families
text = open(sys.argv[1]).read()
want = int(sys.argv[2])
fam = {f.name: f for f in text_string_to_metric_families(text)}
def one(name, **labels):
    got = [s.value for s in fam[name].samples if all(s.labels.get(k) == v for k, v in labels.items())]
    assert len(got) == 1, (name, labels, got)
    return got[0]
decisions = one("fulcrum_decisions")
assert decisions == want, f"decisions_total {decisions} != {want} connections made"
hist = {s.name: s for s in fam["fulcrum_decision_latency_seconds"].samples if not s.name.endswith("_bucket")}
assert hist["fulcrum_decision_latency_seconds_count"].value == want, hist
assert one("fulcrum_packet_ins") >= want
assert one("fulcrum_flow_mods") >= 2 * want, "two entries per connection"
assert one("fulcrum_switches_up") == 1
sess = [s for s in fam["fulcrum_switch_session"].samples]
assert len(sess) == 1 and sess[0].labels["state"] == "up" and sess[0].labels["dpid"] == "0000000000000001", sess
b1 = one("fulcrum_backend_connections", vip="10.0.0.100", backend="10.0.0.11")
b2 = one("fulcrum_backend_connections", vip="10.0.0.100", backend="10.0.0.12")
assert one("fulcrum_backend_up", backend="10.0.0.11") == 1
assert one("fulcrum_backend_status", backend="10.0.0.12", status="up") == 1
assert 0 <= one("fulcrum_backend_score", backend="10.0.0.11") <= 100
assert one("fulcrum_backend_normalised", backend="10.0.0.11", metric="latency") > 0, "ICMP probes measured an RTT"
assert one("fulcrum_backend_metric", backend="10.0.0.11", metric="rtt_ms") > 0
assert one("fulcrum_health_checks") > 0
buckets = [(s.labels["le"], s.value) for s in fam["fulcrum_decision_latency_seconds"].samples if s.name.endswith("_bucket")]
print(f"decisions {decisions:.0f}, b1 total {b1:.0f}, b2 total {b2:.0f}; decision latency buckets (le s, cumulative): {buckets}")
print("mean decision latency %.1f us" % (1e6 * hist["fulcrum_decision_latency_seconds_sum"].value / want))
EOF
); then
  tb_ok "/metrics parses; decisions_total = decision histogram count = $CONNECTIONS connections"
  tb_note "$out"
else
  tb_fail "/metrics parses with the expected values" "$out"
fi

# ---- 8. SIGTERM
t0=$(date +%s%N)
fulcrum_stop TERM
ms=$((($(date +%s%N) - t0) / 1000000))
tb_assert_eq "SIGTERM: exit status 0" 0 "$FULCRUM_EXIT"
if ((ms < 2000)); then tb_ok "SIGTERM: stopped in $ms ms"; else tb_fail "SIGTERM: stopped within 2 s" "took $ms ms"; fi
tb_check "SIGTERM: 'shutting down' and 'API stopped' logged" \
  bash -c "grep -q 'signal 15 received, shutting down' '$TB_RUN/fulcrum.log' && grep -q 'API stopped' '$TB_RUN/fulcrum.log'"
tb_done
