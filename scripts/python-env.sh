#!/usr/bin/env bash
# The Python environment of the tests and benchmarks: a venv outside the work tree with the
# pinned packages of scripts/python-requirements.txt (PySpark 4.0.1, Spark Connect's client,
# pytest, maturin, and the original client for the differential tests). Idempotent: does nothing
# (a few ms) when the requirements, pip's pin and the base Python have not changed since the last
# successful install. The last stdout line is the venv's python.
#
#   scripts/python-env.sh
#
# Environment:
#   ONFS_CACHE_DIR   cache root (default $HOME/.cache/onfs-push); the venv is $ONFS_CACHE_DIR/venv
#   ONFS_VENV        the venv's directory (overrides the above)
#   PYTHON           base interpreter, 3.11 or newer (default python3 from PATH)
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE_ROOT="${ONFS_CACHE_DIR:-$HOME/.cache/onfs-push}"
VENV="${ONFS_VENV:-$CACHE_ROOT/venv}"
REQS="scripts/python-requirements.txt"
PYTHON="${PYTHON:-python3}"
PIP_VERSION="26.3"
stamp="$VENV/.requirements.sha256"

log() { printf 'python-env: %s\n' "$*" >&2; }

# What the stamp records: the requirements, pip's pin and the base interpreter's version.
want_stamp() {
    { cat "$REQS"; echo "pip==$PIP_VERSION"; "$VENV/bin/python" -c 'import sys; print(sys.version)'; } \
        | sha256sum | cut -d' ' -f1
}

# Fast path: no lock, no pip.
if [[ -x "$VENV/bin/python" && -f "$stamp" ]] && [[ "$(cat "$stamp")" == "$(want_stamp 2>/dev/null)" ]]; then
    echo "$VENV/bin/python"
    exit 0
fi

command -v "$PYTHON" >/dev/null 2>&1 || { log "error: '$PYTHON' not found in PATH"; exit 1; }
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || { log "error: $("$PYTHON" --version 2>&1) is too old: pandas 3 and numpy 2.4 need Python 3.11 or newer"; exit 1; }

mkdir -p "$(dirname "$VENV")"
if command -v flock >/dev/null 2>&1; then
    exec 9>"$VENV.lock"
    flock -w 900 9 || { log "error: timed out waiting for $VENV.lock"; exit 1; }
fi

# A venv whose interpreter is gone or broken (base Python removed or upgraded) is rebuilt.
if [[ -e "$VENV" ]] && ! "$VENV/bin/python" -c '' >/dev/null 2>&1; then
    log "recreating broken venv $VENV"
    "$PYTHON" -m venv --clear "$VENV"
elif [[ ! -x "$VENV/bin/python" ]]; then
    log "creating $VENV"
    "$PYTHON" -m venv "$VENV"
fi

want="$(want_stamp)"
if [[ "$(cat "$stamp" 2>/dev/null)" != "$want" ]]; then
    log "installing $REQS into $VENV"
    rm -f "$stamp"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check "pip==$PIP_VERSION" >&2
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$REQS" >&2
    "$VENV/bin/python" -m pip check >&2
    echo "$want" >"$stamp"
fi
echo "$VENV/bin/python"
