#!/usr/bin/env bash
# delta-spark 4.0.0 for PySpark 4.0 (delta-spark_2.13 and delta-storage), fetched once from Maven
# Central into a cache outside the work tree and checked against Central's SHA-1. The last
# stdout line is a comma-separated list of the jars, for `spark.jars`. Used to write the Delta
# fixtures Spark writes (testdata/tools/make_type_widening.py).
#
#   testdata/tools/delta-jars.sh
#
# Environment:
#   ONFS_CACHE_DIR   cache root (default $HOME/.cache/onfs-push); the jars go to
#                    $ONFS_CACHE_DIR/delta-jars-4.0.0
set -euo pipefail
VERSION="4.0.0"
DIR="${ONFS_CACHE_DIR:-$HOME/.cache/onfs-push}/delta-jars-$VERSION"
CENTRAL="https://repo1.maven.org/maven2/io/delta"
mkdir -p "$DIR"
jars=()
for artifact in delta-spark_2.13 delta-storage; do
    jar="$DIR/$artifact-$VERSION.jar"
    if [ ! -s "$jar" ]; then
        url="$CENTRAL/$artifact/$VERSION/$artifact-$VERSION.jar"
        curl -fsSL -o "$jar.tmp" "$url"
        want="$(curl -fsSL "$url.sha1" | cut -c1-40)"
        got="$(sha1sum "$jar.tmp" | cut -c1-40)"
        [ "$want" = "$got" ] || { echo "delta-jars: $url: SHA-1 $got, expected $want" >&2; rm -f "$jar.tmp"; exit 1; }
        mv "$jar.tmp" "$jar"
    fi
    jars+=("$jar")
done
(IFS=,; echo "${jars[*]}")
