#!/usr/bin/env bash
# Local object store emulators for the tests: moto (S3, from PyPI) and Azurite (Azure Blob, from
# npm), installed once into a cache outside the work tree and started on free 127.0.0.1 ports.
#
# Usage:
#   scripts/test-services.sh start    start (or reuse) both; the last stdout line is the env file
#   scripts/test-services.sh stop [--clean]
#   scripts/test-services.sh status   exit 0 if both answer
#
# After `start`, <state dir>/env holds ONFS_S3_ENDPOINT, ONFS_AZURE_ENDPOINT, ONFS_AZURE_ACCOUNT,
# ONFS_AZURE_KEY and ONFS_TEST_BUCKET (a bucket and a container of that name exist).
#
# Environment: ONFS_CACHE_DIR (default $HOME/.cache/onfs-push), ONFS_SERVICES_DIR (state, default
# /tmp/onfs-services).
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE_ROOT="${ONFS_CACHE_DIR:-$HOME/.cache/onfs-push}"
STATE="${ONFS_SERVICES_DIR:-/tmp/onfs-services}"
MOTO_VERSION="5.1.22"
AZURITE_VERSION="3.35.0"
VENV="$CACHE_ROOT/venv-services"
AZURITE_HOME="$CACHE_ROOT/azurite-$AZURITE_VERSION"
BUCKET="onfs-test"
# Azurite's published development account (not a secret).
AZ_ACCOUNT="devstoreaccount1"
AZ_KEY="Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

log() { printf 'test-services: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

mkdir -p "$STATE"
exec 8>"$STATE/.lock"
flock -w 300 8 || die "timed out waiting for $STATE/.lock"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
answers() { curl -s -o /dev/null --max-time 2 "$1"; }
alive() { [[ -f "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

install() {
    mkdir -p "$CACHE_ROOT"
    if [[ ! -x "$VENV/bin/moto_server" ]]; then
        log "installing moto $MOTO_VERSION into $VENV"
        python3 -m venv "$VENV"
        "$VENV/bin/python" -m pip install -q "moto[server]==$MOTO_VERSION" >&2
    fi
    if [[ ! -x "$AZURITE_HOME/node_modules/.bin/azurite-blob" ]]; then
        log "installing azurite $AZURITE_VERSION into $AZURITE_HOME"
        mkdir -p "$AZURITE_HOME"
        npm install --silent --no-audit --no-fund --prefix "$AZURITE_HOME" "azurite@$AZURITE_VERSION" >&2
    fi
}

wait_for() { # NAME URL PIDFILE LOG
    for _ in $(seq 1 120); do
        answers "$2" && return 0
        alive "$3" || { tail -n 20 "$4" >&2; die "$1 exited (log: $4)"; }
        sleep 0.5
    done
    tail -n 20 "$4" >&2
    die "$1 did not answer at $2 within 60s (log: $4)"
}

start_moto() {
    if alive "$STATE/moto.pid" && [[ -f "$STATE/moto.port" ]] && answers "http://127.0.0.1:$(cat "$STATE/moto.port")"; then
        return
    fi
    local port; port="$(free_port)"
    setsid "$VENV/bin/moto_server" -H 127.0.0.1 -p "$port" >"$STATE/moto.log" 2>&1 </dev/null 8>&- &
    echo $! >"$STATE/moto.pid"
    echo "$port" >"$STATE/moto.port"
    wait_for moto "http://127.0.0.1:$port" "$STATE/moto.pid" "$STATE/moto.log"
    curl -s -f -X PUT "http://127.0.0.1:$port/$BUCKET" >/dev/null || die "cannot create bucket $BUCKET on moto"
}

start_azurite() {
    if alive "$STATE/azurite.pid" && [[ -f "$STATE/azurite.port" ]] && answers "http://127.0.0.1:$(cat "$STATE/azurite.port")"; then
        return
    fi
    local port; port="$(free_port)"
    setsid "$AZURITE_HOME/node_modules/.bin/azurite-blob" --blobHost 127.0.0.1 --blobPort "$port" \
        --inMemoryPersistence --skipApiVersionCheck --loose \
        >"$STATE/azurite.log" 2>&1 </dev/null 8>&- &
    echo $! >"$STATE/azurite.pid"
    echo "$port" >"$STATE/azurite.port"
    wait_for azurite "http://127.0.0.1:$port/$AZ_ACCOUNT?comp=list" "$STATE/azurite.pid" "$STATE/azurite.log"
    # Create the container with a SharedKey-signed request (the account key is Azurite's own).
    python3 - "$port" "$AZ_ACCOUNT" "$AZ_KEY" "$BUCKET" <<'PY' || die "cannot create container on Azurite"
import base64, hashlib, hmac, sys, urllib.request
from email.utils import formatdate
port, account, key, container = sys.argv[1:]
date = formatdate(usegmt=True)
version = "2021-08-06"
canon_headers = f"x-ms-date:{date}\nx-ms-version:{version}\n"
canon_resource = f"/{account}/{account}/{container}\nrestype:container"
to_sign = "PUT\n\n\n\n\n\n\n\n\n\n\n\n" + canon_headers + canon_resource
sig = base64.b64encode(hmac.new(base64.b64decode(key), to_sign.encode(), hashlib.sha256).digest()).decode()
req = urllib.request.Request(f"http://127.0.0.1:{port}/{account}/{container}?restype=container", method="PUT",
                             headers={"x-ms-date": date, "x-ms-version": version,
                                      "Authorization": f"SharedKey {account}:{sig}", "Content-Length": "0"})
try:
    urllib.request.urlopen(req)
except urllib.error.HTTPError as e:
    if e.code != 409:  # already there
        raise
PY
}

write_env() {
    cat >"$STATE/env" <<ENV
ONFS_S3_ENDPOINT=http://127.0.0.1:$(cat "$STATE/moto.port")
ONFS_AZURE_ENDPOINT=http://127.0.0.1:$(cat "$STATE/azurite.port")
ONFS_AZURE_ACCOUNT=$AZ_ACCOUNT
ONFS_AZURE_KEY=$AZ_KEY
ONFS_TEST_BUCKET=$BUCKET
ENV
}

stop() {
    for s in moto azurite; do
        if alive "$STATE/$s.pid"; then
            kill -- "-$(cat "$STATE/$s.pid")" 2>/dev/null || kill "$(cat "$STATE/$s.pid")" 2>/dev/null || true
        fi
        rm -f "$STATE/$s.pid"
    done
}

case "${1:-}" in
    start) install; start_moto; start_azurite; write_env; echo "$STATE/env" ;;
    stop) stop; [[ "${2:-}" == "--clean" ]] && rm -rf "$STATE"; true ;;
    status)
        alive "$STATE/moto.pid" && alive "$STATE/azurite.pid" && answers "http://127.0.0.1:$(cat "$STATE/moto.port")" \
            && answers "http://127.0.0.1:$(cat "$STATE/azurite.port")" ;;
    *) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
