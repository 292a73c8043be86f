#!/usr/bin/env bash
# The Python environment of the tests and benchmarks: a venv outside the work tree with the
# pinned packages of scripts/python-requirements.txt (PySpark 4.0.1, Spark Connect's client,
# pytest, maturin, and the original client for the differential tests). Idempotent: does nothing
# when the requirements have not changed. The last stdout line is the venv's python.
#
#   scripts/python-env.sh
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE_ROOT="${ONFS_CACHE_DIR:-$HOME/.cache/onfs-push}"
VENV="${ONFS_VENV:-$CACHE_ROOT/venv}"
REQS="scripts/python-requirements.txt"
PYTHON="${PYTHON:-python3}"
stamp="$VENV/.requirements.sha256"
want="$(sha256sum "$REQS" | cut -d' ' -f1)"
if [[ ! -x "$VENV/bin/python" ]]; then
    echo "python-env: creating $VENV" >&2
    "$PYTHON" -m venv "$VENV"
fi
if [[ "$(cat "$stamp" 2>/dev/null)" != "$want" ]]; then
    echo "python-env: installing $REQS" >&2
    "$VENV/bin/python" -m pip install -q --upgrade pip >&2
    "$VENV/bin/python" -m pip install -q -r "$REQS" >&2
    echo "$want" >"$stamp"
fi
echo "$VENV/bin/python"
