#!/usr/bin/env bash
# The dashboard with a bearer token, in headless Chromium, against a fulcrum
# with no switch (no root needed): opened as /#token=..., the page sends the
# token and shows the configured backends ("no-switch"), then follows a drain
# and a weight change made through the API.
set -uo pipefail
: "${FULCRUM_SRC:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${FULCRUM_BIN:=$FULCRUM_SRC/build/release/bin/fulcrum}"
PY=/usr/bin/python3
[[ -x $PY ]] || PY=python3
dir=$(mktemp -d /tmp/fulcrum-dash-token-XXXXXX)
pid=""
cleanup() {
  if [[ -n "$pid" ]]; then kill -TERM "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; fi
  rm -rf "$dir"
}
trap cleanup EXIT
free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
token=dash-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
printf '%s\n' "$token" >"$dir/token"
chmod 600 "$dir/token"
api_port=$(free_port)
"$FULCRUM_BIN" --listen "127.0.0.1:$(free_port)" --vip 10.0.0.100 --backends 10.0.0.11,10.0.0.12,10.0.0.13 \
  --api-listen "127.0.0.1:$api_port" --api-token-file "$dir/token" </dev/null >"$dir/fulcrum.log" 2>&1 &
pid=$!
for ((i = 0; i < 50; i++)); do grep -qs "API, /metrics and dashboard on" "$dir/fulcrum.log" && break; sleep 0.1; done
"$PY" "$FULCRUM_SRC/tests/api/dashboard_cdp.py" --api "http://127.0.0.1:$api_port" --token "$token" \
  --vip 10.0.0.100 --backends 10.0.0.11,10.0.0.12,10.0.0.13 --status no-switch \
  --drain 10.0.0.11 --weight 10.0.0.12=3
rc=$?
if ((rc != 0)); then echo "# fulcrum.log:"; sed 's/^/#   /' "$dir/fulcrum.log" | tail -n 20; fi
exit $rc
