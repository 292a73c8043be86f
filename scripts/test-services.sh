#!/usr/bin/env bash
# Local services for the tests: moto (S3, from PyPI), Azurite (Azure Blob, from npm),
# fake-gcs-server (GCS, from the Go module proxy) and a standalone Hive Metastore with embedded Derby (Maven Central), installed once into a cache
# outside the work tree and started on free 127.0.0.1 ports.
#
# Usage:
#   scripts/test-services.sh start    start (or reuse) all; the last stdout line is the env file
#   scripts/test-services.sh stop [--clean]
#   scripts/test-services.sh status   exit 0 if all answer
#
# After `start`, <state dir>/env holds ONFS_S3_ENDPOINT, ONFS_AZURE_ENDPOINT, ONFS_AZURE_ACCOUNT,
# ONFS_AZURE_KEY, ONFS_GCS_ENDPOINT, ONFS_TEST_BUCKET (a bucket or container of that name exists
# in each store) and ONFS_HMS_URI (thrift://127.0.0.1:PORT).
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
FAKE_GCS_VERSION="v1.52.2"
FAKE_GCS="$CACHE_ROOT/bin/fake-gcs-server-$FAKE_GCS_VERSION"
# Hive 3.1.3: the newest standalone metastore server on Maven Central as reached from here
# (4.1.0's server jar is not there); it serves get_table_req like Hive 4.
HMS_VERSION="3.1.3"
HADOOP_VERSION="3.3.6"
HMS_HOME="$CACHE_ROOT/hive-metastore-$HMS_VERSION"
JAVA_BIN="${JAVA:-java}"
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
    if [[ ! -x "$FAKE_GCS" ]]; then
        log "building fake-gcs-server $FAKE_GCS_VERSION (go install)"
        command -v go >/dev/null || die "go not found (needed to build fake-gcs-server)"
        local gobin; gobin="$(mktemp -d "$CACHE_ROOT/.gobin.XXXXXX")"
        GOBIN="$gobin" go install "github.com/fsouza/fake-gcs-server@$FAKE_GCS_VERSION" >&2
        mkdir -p "$CACHE_ROOT/bin"
        mv "$gobin/fake-gcs-server" "$FAKE_GCS"
        rm -rf "$gobin"
    fi
    if [[ ! -f "$HMS_HOME/.complete" ]]; then
        log "fetching Hive Metastore $HMS_VERSION into $HMS_HOME"
        mkdir -p "$HMS_HOME"
        local tmp; tmp="$(mktemp -d "$HMS_HOME/.fetch.XXXXXX")"
        cat >"$tmp/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>onfs-push</groupId><artifactId>hive-metastore</artifactId><version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.hive</groupId><artifactId>hive-standalone-metastore</artifactId><version>$HMS_VERSION</version></dependency>
    <dependency><groupId>org.apache.hadoop</groupId><artifactId>hadoop-common</artifactId><version>$HADOOP_VERSION</version></dependency>
    <dependency><groupId>org.apache.hadoop</groupId><artifactId>hadoop-hdfs-client</artifactId><version>$HADOOP_VERSION</version></dependency>
    <dependency><groupId>org.apache.hadoop</groupId><artifactId>hadoop-mapreduce-client-core</artifactId><version>$HADOOP_VERSION</version></dependency>
    <dependency><groupId>org.apache.derby</groupId><artifactId>derby</artifactId><version>10.14.2.0</version></dependency>
  </dependencies>
</project>
POM
        if ! mvn -B -q -f "$tmp/pom.xml" org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies \
            -DincludeScope=runtime -DoutputDirectory="$tmp/libs" >"$tmp/mvn.log" 2>&1; then
            tail -n 20 "$tmp/mvn.log" >&2
            die "mvn failed to fetch the Hive Metastore (log: $tmp/mvn.log)"
        fi
        rm -rf "$HMS_HOME/libs"
        mv "$tmp/libs" "$HMS_HOME/libs"
        rm -rf "$tmp"
        touch "$HMS_HOME/.complete"
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

start_gcs() {
    if alive "$STATE/gcs.pid" && [[ -f "$STATE/gcs.port" ]] && answers "http://127.0.0.1:$(cat "$STATE/gcs.port")/storage/v1/b"; then
        return
    fi
    local port; port="$(free_port)"
    setsid "$FAKE_GCS" -scheme http -host 127.0.0.1 -port "$port" -backend memory \
        -public-host "127.0.0.1:$port" -log-level error >"$STATE/gcs.log" 2>&1 </dev/null 8>&- &
    echo $! >"$STATE/gcs.pid"
    echo "$port" >"$STATE/gcs.port"
    wait_for fake-gcs-server "http://127.0.0.1:$port/storage/v1/b" "$STATE/gcs.pid" "$STATE/gcs.log"
    curl -s -f -X POST -H 'Content-Type: application/json' -d "{\"name\":\"$BUCKET\"}" \
        "http://127.0.0.1:$port/storage/v1/b" >/dev/null || die "cannot create bucket $BUCKET on fake-gcs-server"
}

port_open() { (echo >"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start_hms() {
    if alive "$STATE/hms.pid" && [[ -f "$STATE/hms.port" ]] && port_open "$(cat "$STATE/hms.port")"; then
        return
    fi
    local port; port="$(free_port)"
    mkdir -p "$STATE/hms/conf" "$STATE/hms/warehouse"
    cat >"$STATE/hms/conf/metastore-site.xml" <<XML
<configuration>
  <property><name>javax.jdo.option.ConnectionURL</name><value>jdbc:derby:;databaseName=$STATE/hms/metastore_db;create=true</value></property>
  <property><name>javax.jdo.option.ConnectionDriverName</name><value>org.apache.derby.jdbc.EmbeddedDriver</value></property>
  <property><name>datanucleus.schema.autoCreateAll</name><value>true</value></property>
  <property><name>metastore.schema.verification</name><value>false</value></property>
  <property><name>metastore.warehouse.dir</name><value>file://$STATE/hms/warehouse</value></property>
  <property><name>metastore.expression.proxy</name><value>org.apache.hadoop.hive.metastore.DefaultPartitionExpressionProxy</value></property>
  <property><name>metastore.task.threads.always</name><value>org.apache.hadoop.hive.metastore.events.EventCleanerTask</value></property>
</configuration>
XML
    setsid "$JAVA_BIN" -Xmx512m \
        --add-opens java.base/java.lang=ALL-UNNAMED --add-opens java.base/java.util=ALL-UNNAMED \
        --add-opens java.base/java.net=ALL-UNNAMED --add-opens java.base/java.lang.reflect=ALL-UNNAMED \
        --add-opens java.base/java.io=ALL-UNNAMED --add-opens java.base/sun.nio.ch=ALL-UNNAMED \
        -Dderby.system.home="$STATE/hms" -Dmetastore.conf.dir="$STATE/hms/conf" \
        -cp "$STATE/hms/conf:$HMS_HOME/libs/*" org.apache.hadoop.hive.metastore.HiveMetaStore -p "$port" \
        >"$STATE/hms.log" 2>&1 </dev/null 8>&- &
    echo $! >"$STATE/hms.pid"
    echo "$port" >"$STATE/hms.port"
    for _ in $(seq 1 240); do
        port_open "$port" && return 0
        alive "$STATE/hms.pid" || { grep -m 5 -E "Exception|Error" "$STATE/hms.log" >&2 || true; die "the Hive Metastore exited (log: $STATE/hms.log)"; }
        sleep 0.5
    done
    die "the Hive Metastore did not listen on $port within 120s (log: $STATE/hms.log)"
}

write_env() {
    cat >"$STATE/env" <<ENV
ONFS_S3_ENDPOINT=http://127.0.0.1:$(cat "$STATE/moto.port")
ONFS_AZURE_ENDPOINT=http://127.0.0.1:$(cat "$STATE/azurite.port")
ONFS_AZURE_ACCOUNT=$AZ_ACCOUNT
ONFS_AZURE_KEY=$AZ_KEY
ONFS_GCS_ENDPOINT=http://127.0.0.1:$(cat "$STATE/gcs.port")
ONFS_TEST_BUCKET=$BUCKET
ONFS_HMS_URI=thrift://127.0.0.1:$(cat "$STATE/hms.port")
ENV
}

stop() {
    for s in moto azurite gcs hms; do
        if alive "$STATE/$s.pid"; then
            kill -- "-$(cat "$STATE/$s.pid")" 2>/dev/null || kill "$(cat "$STATE/$s.pid")" 2>/dev/null || true
        fi
        rm -f "$STATE/$s.pid"
    done
}

case "${1:-}" in
    start) install; start_moto; start_azurite; start_gcs; start_hms; write_env; echo "$STATE/env" ;;
    stop) stop; [[ "${2:-}" == "--clean" ]] && rm -rf "$STATE"; true ;;
    status)
        alive "$STATE/moto.pid" && alive "$STATE/azurite.pid" && answers "http://127.0.0.1:$(cat "$STATE/moto.port")" \
            && answers "http://127.0.0.1:$(cat "$STATE/azurite.port")" && alive "$STATE/hms.pid" \
            && answers "http://127.0.0.1:$(cat "$STATE/gcs.port")/storage/v1/b" \
            && port_open "$(cat "$STATE/hms.port")" ;;
    *) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
