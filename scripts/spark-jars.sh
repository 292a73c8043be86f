#!/usr/bin/env bash
# Spark's Kafka connector for PySpark 4.0.1 (spark-sql-kafka-0-10 and its runtime dependencies
# that PySpark does not ship), fetched once from Maven Central into a cache outside the work tree.
# The last stdout line is a comma-separated list of the jars, for `spark.jars`.
#
#   scripts/spark-jars.sh
set -euo pipefail
SPARK_VERSION="4.0.1"
CACHE_ROOT="${ONFS_CACHE_DIR:-$HOME/.cache/onfs-push}"
DIR="$CACHE_ROOT/spark-jars-$SPARK_VERSION"
MARKER="$DIR/.complete"
# Maven Central as reached from here has no 4.0.1 jar of the token provider; the 4.0.0 one is
# used (same API), overridable.
TOKEN_PROVIDER_VERSION="${ONFS_SPARK_TOKEN_PROVIDER_VERSION:-4.0.0}"
DEP_PLUGIN="org.apache.maven.plugins:maven-dependency-plugin:3.8.1"

if [[ ! -f "$MARKER" ]]; then
    command -v mvn >/dev/null || { echo "spark-jars: mvn not found (scripts/setup.sh installs it)" >&2; exit 1; }
    mkdir -p "$DIR"
    tmp="$(mktemp -d "$DIR/.fetch.XXXXXX")"
    # Only what PySpark's own jars/ lacks: the connector, its token provider, kafka-clients and
    # commons-pool2 (everything else it depends on is already on Spark's classpath).
    cat >"$tmp/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>onfs-push</groupId><artifactId>spark-kafka-jars</artifactId><version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.spark</groupId><artifactId>spark-sql-kafka-0-10_2.13</artifactId>
      <version>$SPARK_VERSION</version>
      <exclusions><exclusion><groupId>*</groupId><artifactId>*</artifactId></exclusion></exclusions>
    </dependency>
    <dependency>
      <groupId>org.apache.spark</groupId><artifactId>spark-token-provider-kafka-0-10_2.13</artifactId>
      <version>$TOKEN_PROVIDER_VERSION</version>
      <exclusions><exclusion><groupId>*</groupId><artifactId>*</artifactId></exclusion></exclusions>
    </dependency>
    <dependency>
      <groupId>org.apache.kafka</groupId><artifactId>kafka-clients</artifactId><version>3.9.1</version>
      <exclusions><exclusion><groupId>*</groupId><artifactId>*</artifactId></exclusion></exclusions>
    </dependency>
    <dependency>
      <groupId>org.apache.commons</groupId><artifactId>commons-pool2</artifactId><version>2.12.0</version>
      <exclusions><exclusion><groupId>*</groupId><artifactId>*</artifactId></exclusion></exclusions>
    </dependency>
  </dependencies>
</project>
POM
    if ! mvn -B -q -f "$tmp/pom.xml" "$DEP_PLUGIN:copy-dependencies" -DincludeScope=runtime \
        -DoutputDirectory="$tmp/jars" >"$tmp/mvn.log" 2>&1; then
        tail -n 30 "$tmp/mvn.log" >&2
        echo "spark-jars: mvn failed to fetch the Kafka connector (log: $tmp/mvn.log)" >&2
        exit 1
    fi
    rm -f "$DIR"/*.jar
    mv "$tmp"/jars/*.jar "$DIR"/
    rm -rf "$tmp"
    touch "$MARKER"
fi
ls "$DIR"/*.jar | paste -sd, -
