#!/usr/bin/env bash
# `cmake --install` into a temporary prefix: the binaries, the sample
# configuration, the docs and a systemd unit with that prefix's paths; the
# unit passes `systemd-analyze verify` (where systemd-analyze exists); the
# installed fulcrum starts with the installed configuration, serves its API
# and stops cleanly on SIGTERM.
#   install_test.sh BUILD_DIR
set -uo pipefail
build=${1:?usage: install_test.sh BUILD_DIR}
pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok - $*"; }
not_ok() { fail=$((fail + 1)); echo "not ok - $1"; shift; for d in "$@"; do printf '%s\n' "$d" | sed 's/^/#   /'; done; }
prefix=$(mktemp -d /tmp/fulcrum-install-XXXXXX)
pid=""
cleanup() {
  [[ -n "$pid" ]] && kill -KILL "$pid" 2>/dev/null
  rm -rf "$prefix"
}
trap cleanup EXIT

if out=$(cmake --install "$build" --prefix "$prefix" 2>&1); then ok "cmake --install --prefix $prefix"; else not_ok "cmake --install" "$out"; fi
for f in bin/fulcrum bin/fulcrum-agent bin/fulcrumctl bin/fulcrum-bench; do
  if [[ -x "$prefix/$f" ]]; then ok "$f installed, executable"; else not_ok "$f installed, executable"; fi
done
for f in etc/fulcrum/fulcrum.yaml lib/systemd/system/fulcrum.service share/doc/fulcrum/README.md share/doc/fulcrum/API.md; do
  if [[ -s "$prefix/$f" ]]; then ok "$f installed"; else not_ok "$f installed"; fi
done
unit="$prefix/lib/systemd/system/fulcrum.service"
want="ExecStart=$prefix/bin/fulcrum --config $prefix/etc/fulcrum/fulcrum.yaml"
if grep -qxF "$want" "$unit"; then ok "unit runs the installed binary with the installed config"; else not_ok "unit ExecStart" "want: $want" "$(grep ExecStart "$unit")"; fi
if grep -qxF 'ExecReload=/bin/kill -HUP $MAINPID' "$unit" && grep -qxF 'Restart=on-failure' "$unit"; then
  ok "unit: reload sends SIGHUP, restart on failure"
else
  not_ok "unit: ExecReload and Restart"
fi
if grep -q '@[A-Z]*@' "$unit"; then not_ok "unit has no unsubstituted @VARS@" "$(grep '@' "$unit")"; else ok "unit fully substituted"; fi
if command -v systemd-analyze >/dev/null; then
  # verify also loads the units the file names (network-online.target...).
  if out=$(SYSTEMD_LOG_LEVEL=warning systemd-analyze verify "$unit" 2>&1) && ! grep -qi "fulcrum.service" <<<"$out"; then
    ok "systemd-analyze verify fulcrum.service"
  else
    not_ok "systemd-analyze verify fulcrum.service" "$out"
  fi
else
  echo "# systemd-analyze not found: unit not verified"
fi

# The installed binary with the installed configuration (its switch and API
# ports moved to free ones, as flags override the file).
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
of_port=$(free_port)
api_port=$(free_port)
log="$prefix/fulcrum.log"
"$prefix/bin/fulcrum" --config "$prefix/etc/fulcrum/fulcrum.yaml" --listen "127.0.0.1:$of_port" \
  --api-listen "127.0.0.1:$api_port" </dev/null >"$log" 2>&1 &
pid=$!
for ((i = 0; i < 50; i++)); do grep -qs "API, /metrics and dashboard on" "$log" && break; sleep 0.1; done
if out=$("$prefix/bin/fulcrumctl" --api "http://127.0.0.1:$api_port" vips 2>&1) && grep -q "web *10.0.0.100" <<<"$out"; then
  ok "installed fulcrum serves the installed config's VIP (fulcrumctl vips)"
else
  not_ok "installed fulcrum serves its API" "$out" "$(cat "$log")"
fi
t0=$(date +%s%N)
kill -TERM "$pid"
wait "$pid"
rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
pid=""
if ((rc == 0 && ms < 2000)) && grep -q "signal 15 received, shutting down" "$log"; then
  ok "SIGTERM: exit 0 in $ms ms, shutdown logged"
else
  not_ok "SIGTERM: exit 0 within 2 s, shutdown logged" "exit $rc after $ms ms" "$(tail -n 5 "$log")"
fi
echo "$pass passed, $fail failed"
((fail == 0))
