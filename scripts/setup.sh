#!/usr/bin/env bash
# Installs every build, test and demo dependency from Debian's apt.
# Idempotent; needs root. Set FULCRUM_SKIP_APT=1 to skip (packages already there).
set -euo pipefail
if [[ "${FULCRUM_SKIP_APT:-0}" == 1 ]]; then exit 0; fi
if [[ $(id -u) -ne 0 ]]; then
  echo "setup.sh: run as root (apt-get install)" >&2
  exit 1
fi
packages=(
  # build
  build-essential cmake ninja-build clang clang-format libclang-rt-14-dev pkg-config
  # libraries
  libasio-dev libyaml-cpp-dev nlohmann-json3-dev libcli11-dev libspdlog-dev libfmt-dev libssl-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  # testbed and oracles
  openvswitch-switch iproute2 ethtool iputils-ping tcpdump tshark procps
  python3 curl httperf wrk
  # API, dashboard tests: HTTP server/client library, /metrics parser, headless browser over DevTools
  libcpp-httplib-dev python3-prometheus-client python3-websocket chromium
  # experiments (experiments/: netdelay's NFQUEUE, iptables in the namespaces, plots);
  # the Mininet variant also needs `apt-get install mininet` (not needed by CI)
  iptables libnetfilter-queue-dev python3-matplotlib
)
export DEBIAN_FRONTEND=noninteractive
# tshark asks whether non-root users may capture; answer no without a prompt.
echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup.sh: installing ${missing[*]}"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
