#!/usr/bin/env bash
# Fulcrum demo: build fulcrum, start a small virtual network, balance HTTP.
#
#   sudo scripts/demo.sh [--policy round-robin|random] [--of-version 10|13] [--no-build] [--requests N]
#
# What it does, step by step:
#   1. installs the Debian packages (scripts/setup.sh) and builds the release preset;
#   2. builds a testbed: an Open vSwitch bridge and five network namespaces
#        clients  c1 10.0.0.1   c2 10.0.0.2
#        backends b1 10.0.0.11  b2 10.0.0.12  b3 10.0.0.13  (each runs a Python web server)
#   3. starts fulcrum as the bridge's OpenFlow controller with the virtual IP
#      10.0.0.100 in front of the three backends;
#   4. sends HTTP requests from the clients to http://10.0.0.100/whoami: each
#      backend answers with its own name, so you see who served each request;
#   5. pings the virtual IP, then removes everything it created.
# Needs root (namespaces, Open vSwitch). Nothing leaves this machine: all
# traffic stays inside the namespaces, and the controller listens on 127.0.0.1.
set -uo pipefail

policy=round-robin
of_version=13
build=1
requests=12
usage() { sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
while (($#)); do
  case $1 in
    --policy) policy=${2:?--policy needs a value}; shift 2 ;;
    --policy=*) policy=${1#*=}; shift ;;
    --of-version) of_version=${2:?--of-version needs 10 or 13}; shift 2 ;;
    --no-build) build=0; shift ;;
    --requests) requests=${2:?--requests needs a number}; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "demo.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
if [[ ! "$requests" =~ ^[0-9]+$ ]] || ((requests < 1 || requests > 1000)); then
  echo "demo.sh: --requests must be between 1 and 1000" >&2
  exit 2
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "demo.sh: run as root (it creates network namespaces and an Open vSwitch bridge)" >&2
  exit 1
fi

src=$(cd "$(dirname "$0")/.." && pwd)
cd "$src" || exit 1
step() { printf '\n== %s\n' "$*"; }

if ((build)); then
  step "Installing packages (scripts/setup.sh)"
  bash scripts/setup.sh || exit 1
  step "Building fulcrum (cmake --preset release)"
  { cmake --preset release && cmake --build --preset release; } || { echo "demo.sh: build failed" >&2; exit 1; }
fi

export TB_PREFIX=flcdemo OF_VERSION=$of_version FULCRUM_SRC=$src
export FULCRUM_BIN=${FULCRUM_BIN:-$src/build/release/bin/fulcrum}
export TB_TIMEOUT=$((120 + requests))
source "$src/tests/e2e/lib/testbed.sh" || exit 1
tb_init # tears everything down when this script exits, even on failure

step "Starting the testbed: bridge $TB_BR (OpenFlow $TB_OF_DOTTED), hosts c1 c2 b1 b2 b3"
tb_up || tb_bail "testbed up"

step "Starting fulcrum: VIP $TB_VIP:$TB_VIP_PORT -> backends $TB_BACKENDS, policy $policy"
echo "   $FULCRUM_BIN --listen 127.0.0.1:$TB_PORT --vip $TB_VIP --backends $TB_BACKENDS --policy $policy"
fulcrum_start --vip "$TB_VIP" --backends "$TB_BACKENDS" --policy "$policy" ||
  tb_bail "fulcrum starts" "$(tail -n 20 "$TB_RUN/fulcrum.log")"
wait_switch_connected 20 || tb_bail "the switch connects to fulcrum"
echo "   switch connected"
wait_backends_learned 20 || tb_bail "fulcrum finds the three backends"
grep -F "backend learned" "$TB_RUN/fulcrum.log" | sed -E 's/.*(backend learned.*)/   \1/'

step "Sending $requests HTTP requests to http://$TB_VIP/whoami"
declare -A served=()
failed=0
for ((i = 0; i < requests; i++)); do
  client=${TB_CLIENTS[$((i % 2))]}
  if answer=$(tb_get "$client") && [[ -n "$answer" ]]; then
    echo "   $client -> VIP $TB_VIP:$TB_VIP_PORT answered by $answer"
    served[$answer]=$((${served[$answer]:-0} + 1))
  else
    echo "   $client -> VIP $TB_VIP:$TB_VIP_PORT FAILED"
    failed=$((failed + 1))
  fi
done
echo "   summary: b1=${served[b1]:-0} b2=${served[b2]:-0} b3=${served[b3]:-0} failed=$failed"

step "Pinging the VIP from c1 (fulcrum answers for it)"
tb_exec c1 ping -n -c 3 -i 0.3 -W 2 "$TB_VIP" | sed 's/^/   /'
ping_rc=${PIPESTATUS[0]}

step "Done: removing the testbed"
if ((failed > 0 || ping_rc != 0)); then
  echo "demo: some requests or pings failed; fulcrum's log:"
  tail -n 30 "$TB_RUN/fulcrum.log" | sed 's/^/   /'
  exit 1
fi
echo "demo: all $requests requests were answered through the VIP $TB_VIP"
exit 0
