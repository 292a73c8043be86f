#!/usr/bin/env bash
# Regenerates the repository's generated fixtures in place, then shows what changed (git status).
#
#   testdata/tools/regenerate.sh [--reference DIR]
#
# - examples/user-features: the sample job (metadata + Parquet rows), from onfs_core::sample.
# - testdata/delta/user_scores: the Delta table of the Delta source tests (testdata/tools/make_delta.py,
#   run in the project's Python environment; deltalake is installed there on first use).
# - testdata/delta/user_visits (+ .expected.json): a Delta table with type widening (INT widened to
#   BIGINT) as Spark 4.0 with delta-spark 4.0 writes it, and its rows as Spark reads them
#   (testdata/tools/make_type_widening.py; the jars from Maven Central, testdata/tools/delta-jars.sh).
# - testdata/reference/<case> (with --reference DIR): the original client's answers, copied from DIR/<case>
#   (a folder of cases the original client was run on: metadata.json, input.parquet or tables/, expected/).
#   Cases that share inputs keep them once: all-types-fgs links to all-types' input and metadata.
set -euo pipefail
cd "$(dirname "$0")/../.."

reference=""
while [ $# -gt 0 ]; do
    case "$1" in
        --reference) reference="${2:?--reference needs a folder}"; shift 2 ;;
        -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
done

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/onfs-push/target}"

echo "== examples/user-features"
cargo run -q --locked -p onfs-file --example make_sample -- examples/user-features

echo "== testdata/delta/user_scores"
py="$(scripts/python-env.sh | tail -n 1)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
# deltalake is needed here only, not by the tests: installed on first use.
"$py" -c "import deltalake" 2>/dev/null || "$py" -m pip install -q "deltalake>=0.25,<2"
"$py" testdata/tools/make_delta.py "$tmp/user_scores"
rm -rf testdata/delta/user_scores
mv "$tmp/user_scores" testdata/delta/user_scores

echo "== testdata/delta/user_visits"
jars="$(testdata/tools/delta-jars.sh | tail -n 1)"
"$py" testdata/tools/make_type_widening.py "$tmp/user_visits" "$tmp/user_visits.expected.json" "$jars"
# Hadoop's checksum files of each file and the empty staging folder are not part of the table.
find "$tmp/user_visits" -name '.*.crc' -delete
rm -rf "$tmp/user_visits/_delta_log/_staged_commits"
rm -rf testdata/delta/user_visits
mv "$tmp/user_visits" testdata/delta/user_visits
mv "$tmp/user_visits.expected.json" testdata/delta/user_visits.expected.json

if [ -n "$reference" ]; then
    for case in all-types all-types-fgs tables-pipeline; do
        echo "== testdata/reference/$case (from $reference/$case)"
        [ -d "$reference/$case/expected" ] || { echo "$reference/$case/expected: missing" >&2; exit 1; }
        rm -rf "testdata/reference/$case"
        mkdir -p "testdata/reference/$case"
        cp -R "$reference/$case/." "testdata/reference/$case/"
    done
    for f in input.parquet metadata.json; do
        if cmp -s "testdata/reference/all-types/$f" "testdata/reference/all-types-fgs/$f"; then
            ln -sf "../all-types/$f" "testdata/reference/all-types-fgs/$f"
        fi
    done
fi

git status --short -- examples testdata
