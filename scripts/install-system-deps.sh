#!/usr/bin/env bash
# Installs the Debian packages the test suite and benchmarks use: real Kafka clients
# (kcat), a Redis server (benchmark peer), Prometheus/promtool, Alertmanager/amtool and
# Chromium (headless tests of the status page).
# Idempotent: skips everything when the tools are already present.
set -euo pipefail

packages=(kcat redis-server prometheus prometheus-alertmanager chromium)
binaries=(kcat redis-server promtool amtool chromium)

missing=0
for b in "${binaries[@]}"; do
  command -v "$b" >/dev/null 2>&1 || missing=1
done
if [ "$missing" = 0 ]; then
  exit 0
fi

SUDO=""
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "install-system-deps: need root or sudo to install: ${packages[*]}" >&2
    exit 1
  fi
fi

retry() {
  local n=0
  until "$@"; do
    n=$((n + 1))
    if [ "$n" -ge 5 ]; then return 1; fi
    echo "install-system-deps: '$*' failed (dpkg lock?), retrying in $((n * 3))s" >&2
    sleep $((n * 3))
  done
}

retry $SUDO apt-get update -q
retry $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${packages[@]}"
