#!/usr/bin/env bash
# Installs a Prometheus server and promtool for the tests, idempotently, outside the work tree:
# Debian's `prometheus` package, downloaded and unpacked (not installed, so no service is
# started) into ${ONFS_CACHE_DIR:-$HOME/.cache/onfs-push}/prometheus-<version>/.
# The last stdout line is the folder holding the `prometheus` and `promtool` binaries.
set -euo pipefail
CACHE_ROOT="${ONFS_CACHE_DIR:-$HOME/.cache/onfs-push}"
mkdir -p "$CACHE_ROOT"
exec 9>"$CACHE_ROOT/prometheus.lock"
flock 9
version="$(apt-cache policy prometheus 2>/dev/null | awk '/Candidate:/ {print $2}')"
if [[ -z "$version" || "$version" == "(none)" ]]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  version="$(apt-cache policy prometheus | awk '/Candidate:/ {print $2}')"
fi
dir="$CACHE_ROOT/prometheus-${version//[:+~]/_}"
if [[ ! -x "$dir/usr/bin/prometheus" || ! -x "$dir/usr/bin/promtool" ]]; then
  tmp="$(mktemp -d)"
  chmod 755 "$tmp" # apt downloads as its own user
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && apt-get download -q "prometheus=$version" >&2)
  rm -rf "$dir.partial"
  dpkg -x "$tmp"/prometheus_*.deb "$dir.partial"
  rm -rf "$dir"
  mv "$dir.partial" "$dir"
  echo "prometheus: unpacked $version into $dir" >&2
fi
echo "$dir/usr/bin"
