#!/usr/bin/env bash
# Installs what building and testing onfs-push needs, idempotently: system packages (C toolchain
# for librdkafka, OpenSSL, zlib and Cyrus SASL headers, the SASL GSSAPI (Kerberos) plugin, Java
# and Maven for the test broker) and the Rust components. Safe to run again; does nothing when
# everything is there. (The test KDC's own tools are unpacked by scripts/kerberos.sh, not here.)
set -euo pipefail

need_pkgs=()
for pkg in build-essential pkg-config libssl-dev zlib1g-dev libsasl2-dev libsasl2-modules-gssapi-mit python3 openjdk-17-jre-headless maven curl openssl; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need_pkgs+=("$pkg")
done
# A JDK from elsewhere (e.g. Temurin) is as good as Debian's.
if command -v java >/dev/null 2>&1; then
  need_pkgs=("${need_pkgs[@]/openjdk-17-jre-headless}")
fi
if command -v mvn >/dev/null 2>&1; then
  need_pkgs=("${need_pkgs[@]/maven}")
fi
# The test services: npm (Azurite), go (fake-gcs-server), Python venvs (moto, PySpark).
command -v npm >/dev/null 2>&1 || need_pkgs+=(nodejs npm)
command -v go >/dev/null 2>&1 || need_pkgs+=(golang-go)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need_pkgs+=(python3-venv)
pkgs=()
for p in "${need_pkgs[@]}"; do [ -n "$p" ] && pkgs+=("$p"); done
if [ ${#pkgs[@]} -gt 0 ]; then
  echo "setup: installing ${pkgs[*]}" >&2
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${pkgs[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "setup: cargo is missing; install Rust (rustup) first" >&2
  exit 1
fi
if command -v rustup >/dev/null 2>&1; then
  for c in rustfmt clippy; do
    rustup component list --installed 2>/dev/null | grep -q "^$c" || rustup component add "$c" >&2
  done
fi
