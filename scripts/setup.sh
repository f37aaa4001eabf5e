#!/usr/bin/env bash
# Installs every Debian 12 package that vigil's build, run and tests need.
# Idempotent: when everything is present it only checks and returns.
set -euo pipefail

packages=(
  # build
  cmake make g++ pkg-config ccache clang-14 libfuzzer-14-dev libclang-rt-14-dev clang-format-14
  # libraries
  libboost-dev libssl-dev zlib1g-dev libspdlog-dev libfmt-dev libyaml-cpp-dev nlohmann-json3-dev
  libre2-dev libcli11-dev libprotobuf-dev protobuf-compiler libsnappy-dev prometheus-cpp-dev libxxhash-dev openssl
  librocksdb-dev libzstd-dev librdkafka-dev libgtest-dev libgmock-dev libbenchmark-dev
  # test peers and tools
  prometheus prometheus-alertmanager prometheus-node-exporter kcat curl ca-certificates python3 tmux
  # the web UI's browser tests
  chromium
  # benchmark peers
  rsyslog rsyslog-kafka
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed'; then
    missing+=("$p")
  fi
done

# npm packages, with the machine's Node.js and npm, at the versions of each package-lock.json:
# the web UI's (web/, then built into web/dist, which the build compiles in) and the manifests'
# validator's (tests/deploy).
npm_deps() {
  local root dir
  root="$(cd "$(dirname "$0")/.." && pwd)"
  command -v npm >/dev/null || { echo "setup: npm (with Node.js) is needed for web/ and tests/deploy" >&2; exit 1; }
  for dir in "$root/web" "$root/tests/deploy"; do
    if [[ ! -d $dir/node_modules ]] || [[ $dir/package-lock.json -nt $dir/node_modules ]]; then
      echo "setup: npm ci in ${dir#"$root"/}"
      (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
      touch "$dir/node_modules"
    fi
  done
  if [[ ! -f $root/web/dist/index.html ]] ||
     [[ -n $(find "$root/web/src" "$root/web/build.mjs" "$root/dashboards" -newer "$root/web/dist/index.html" 2>/dev/null) ]]; then
    node "$root/web/build.mjs"
  fi
}

if ((${#missing[@]} == 0)); then
  npm_deps
  exit 0
fi

echo "setup: installing ${#missing[@]} Debian packages: ${missing[*]}"
sudo=""
if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
# Packaged daemons (prometheus, alertmanager, node-exporter) must not start on install:
# they would take the ports vigil and its tests use.
policy_added=0
if [[ ! -e /usr/sbin/policy-rc.d ]]; then
  printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
  $sudo chmod +x /usr/sbin/policy-rc.d
  policy_added=1
fi
trap '[[ $policy_added == 1 ]] && $sudo rm -f /usr/sbin/policy-rc.d' EXIT
$sudo apt-get update -qq
$sudo apt-get install -y --no-install-recommends "${missing[@]}"
npm_deps
