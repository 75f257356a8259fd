#!/usr/bin/env bash
# The dashboard in Debian's headless Chromium (DevTools Protocol from Python,
# tests/api/dashboard_cdp.py) against Fulcrum serving a real Open vSwitch:
# with connections flowing from c1 and c2 (weighted-round-robin), the page
# shows the three learned backends up, then shows b2 draining and b3 at
# weight 5 after those changes are made through the API, without a reload,
# and its chart has per-backend rates. The screenshot is kept in the run dir
# ($TB_RUN/dashboard.png), and copied to $FULCRUM_SCREENSHOT when set
# (docs/img/dashboard.png comes from such a run, with DASHBOARD_BEFORE=20
# DASHBOARD_SETTLE=30: the page watched before and after the change).
set -uo pipefail
: "${FULCRUM_SRC:=$(cd "$(dirname "$0")/../.." && pwd)}"
source "$FULCRUM_SRC/tests/e2e/lib/testbed.sh"
CHROMIUM=$(command -v chromium || true)
[[ -n "$CHROMIUM" ]] || { echo "e2e_dashboard: chromium not installed (scripts/setup.sh installs it)" >&2; exit 1; }
TB_KEEP_RUN=${TB_KEEP_RUN:-0}
tb_init
tb_up || tb_bail "testbed up"
API_PORT=$(tb_free_port)
tb_fulcrum_up --policy weighted-round-robin --api-listen "127.0.0.1:$API_PORT"
tb_ok "switch up, three backends learned, API on 127.0.0.1:$API_PORT"

# Connections from both clients, about ten a second each, until the end.
for c in c1 c2; do
  ip netns exec "$(tb_ns "$c")" bash -c \
    "while :; do curl -s --noproxy '*' -o /dev/null --max-time 2 http://$TB_VIP/whoami; sleep 0.1; done" \
    </dev/null >/dev/null 2>&1 &
  tb__track "traffic-$c" "$!"
done

out=$("$TB_PYTHON" "$FULCRUM_SRC/tests/api/dashboard_cdp.py" --api "http://127.0.0.1:$API_PORT" \
  --vip "$TB_VIP" --backends "$TB_BACKENDS" --status up --drain 10.0.0.12 --weight 10.0.0.13=5 \
  --traffic --before "${DASHBOARD_BEFORE:-0}" --settle "${DASHBOARD_SETTLE:-2}" --chromium "$CHROMIUM" --screenshot "$TB_RUN/dashboard.png" 2>&1)
rc=$?
# Fold the browser's TAP lines into this script's count.
while IFS= read -r line; do
  case "$line" in
    "ok - "*) tb_ok "${line#ok - }" ;;
    "not ok - "*) tb_fail "${line#not ok - }" ;;
    *) echo "$line" ;;
  esac
done <<<"$out"
((rc == 0)) || tb_fail "dashboard_cdp.py exit status 0" "exit $rc"
if [[ -n "${FULCRUM_SCREENSHOT:-}" && -s "$TB_RUN/dashboard.png" ]]; then
  cp "$TB_RUN/dashboard.png" "$FULCRUM_SCREENSHOT" && tb_log "screenshot copied to $FULCRUM_SCREENSHOT"
fi
tb_check "fulcrum still running" fulcrum_alive
tb_done
