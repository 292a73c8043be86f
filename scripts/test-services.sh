#!/usr/bin/env bash
# Local services for the object-store and catalog tests, without Docker: moto (S3, from PyPI),
# Azurite (Azure Blob, from npm), fake-gcs-server (GCS, from the Go module proxy) and a standalone
# Hive Metastore 4.1.0 with embedded Derby (from Maven Central), each on a free 127.0.0.1 port.
#
# Usage:
#   scripts/test-services.sh start [NAME...]           install if missing, start (or reuse) the services
#                                                      (default: all); the last stdout line is the env file
#   scripts/test-services.sh stop [--clean] [NAME...]  SIGTERM, wait, SIGKILL; --clean also deletes their state
#   scripts/test-services.sh status [NAME...]          exit 0 only if every service answers (last line: env file)
#   scripts/test-services.sh fetch [NAME...]           only install into the cache
# NAMEs: moto (S3), azurite (Azure Blob), gcs (fake-gcs-server), hms (Hive Metastore).
#
# After `start`, <state dir>/env holds sourceable KEY=VALUE lines for every running service:
#   ONFS_S3_ENDPOINT=http://127.0.0.1:PORT     moto: path-style, plain HTTP, any key, secret and region
#   ONFS_AZURE_ENDPOINT=http://127.0.0.1:PORT  Azurite's blob endpoint (the account is the first path segment)
#   ONFS_AZURE_ACCOUNT, ONFS_AZURE_KEY         Azurite's well-known development account and its key
#   ONFS_GCS_ENDPOINT=http://127.0.0.1:PORT    fake-gcs-server, no authentication
#   ONFS_HMS_URI=thrift://127.0.0.1:PORT       Hive Metastore: binary protocol, buffered transport, no SASL
#   ONFS_HMS_WAREHOUSE=file:///...             the Metastore's warehouse directory
#   ONFS_TEST_BUCKET=onfs-test                 a bucket (container) of this name exists in every store
#   ONFS_MOTO_PID, ONFS_AZURITE_PID, ONFS_GCS_PID, ONFS_HMS_PID, ONFS_SERVICES_DIR
# Logs are <state dir>/NAME.log. The object stores keep their data in memory only; the Metastore's
# Derby database and warehouse live in <state dir>/hms and survive restarts (not `stop --clean`).
#
# Installs are cached once per machine under ${ONFS_CACHE_DIR:-$HOME/.cache/onfs-push}: venv-services
# (moto), azurite-VERSION, bin/fake-gcs-server-VERSION, hive-metastore-VERSION/libs.
#
# Environment:
#   ONFS_CACHE_DIR          cache root (default $HOME/.cache/onfs-push)
#   ONFS_SERVICES_DIR       state dir (default /tmp/onfs-services)
#   ONFS_SERVICES_TIMEOUT   seconds to wait for a service to answer (default 90)
#   JAVA                    java binary (default: $JAVA_HOME/bin/java, else java)
#   PYTHON                  python3 for moto's venv and the helpers (default python3)
set -euo pipefail

CACHE_ROOT="${ONFS_CACHE_DIR:-$HOME/.cache/onfs-push}"
STATE="${ONFS_SERVICES_DIR:-/tmp/onfs-services}"
# Absolute: the services run from inside the state dir.
[[ "$CACHE_ROOT" == /* ]] || CACHE_ROOT="$PWD/$CACHE_ROOT"
[[ "$STATE" == /* ]] || STATE="$PWD/$STATE"
TIMEOUT="${ONFS_SERVICES_TIMEOUT:-90}"
PY="${PYTHON:-python3}"
if [[ -n "${JAVA:-}" ]]; then
    JAVA_BIN="$JAVA"
elif [[ -n "${JAVA_HOME:-}" && -x "${JAVA_HOME}/bin/java" ]]; then
    JAVA_BIN="$JAVA_HOME/bin/java"
else
    JAVA_BIN="java"
fi
ALL_SERVICES=(moto azurite gcs hms)
BUCKET="onfs-test"
# Azurite's published development account and key (documented by Microsoft; not a secret).
AZ_ACCOUNT="devstoreaccount1"
AZ_KEY="Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

MOTO_VERSION="5.2.5"
VENV="$CACHE_ROOT/venv-services"
# 3.36 and newer want Node 22.
AZURITE_VERSION="3.35.0"
AZURITE_HOME="$CACHE_ROOT/azurite-$AZURITE_VERSION"
AZURITE_BIN="$AZURITE_HOME/node_modules/.bin/azurite-blob"
# Builds with Go >= 1.23 (the newest, v1.56, needs Go 1.26).
FAKE_GCS_VERSION="v1.52.2"
FAKE_GCS_BIN="$CACHE_ROOT/bin/fake-gcs-server-$FAKE_GCS_VERSION"
HMS_VERSION="4.1.0"
HADOOP_VERSION="3.4.1"
HMS_HOME="$CACHE_ROOT/hive-metastore-$HMS_VERSION"
HMS_LIBS="$HMS_HOME/libs"
DEP_PLUGIN="org.apache.maven.plugins:maven-dependency-plugin:3.8.1"

log() { printf 'test-services: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
usage() {
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0" >&2
    exit 2
}
need() { command -v "$1" >/dev/null 2>&1 || die "'$1' not found in PATH${2:+ ($2)}"; }

# moto_server and what it needs for S3, every package pinned (moto[server] would add ~35 packages
# for other AWS services).
moto_requirements() {
    cat <<EOF
moto[s3]==$MOTO_VERSION
flask==3.1.3
flask-cors==6.0.5
blinker==1.9.0
boto3==1.44.5
botocore==1.44.5
certifi==2026.10.18
cffi==2.1.1
charset-normalizer==3.5.2
click==8.5.1
cryptography==50.0.2
idna==3.20
itsdangerous==2.2.0
jinja2==3.1.6
jmespath==1.1.0
markupsafe==3.0.4
py-partiql-parser==0.6.3
pycparser==3.12
python-dateutil==2.9.0.post0
pyyaml==6.0.3
requests==2.34.2
responses==0.26.3
s3transfer==0.19.3
six==1.17.0
urllib3==2.8.0
werkzeug==3.1.9
xmltodict==1.0.4
EOF
}

# --- locking -------------------------------------------------------------------
# take_lock FD FILE SECONDS: an exclusive flock on FILE held through fd FD (released on exit).
take_lock() {
    command -v flock >/dev/null 2>&1 || return 0
    mkdir -p "$(dirname "$2")"
    eval "exec $1>\"\$2\""
    flock -w "$3" "$1" || die "timed out after ${3}s waiting for lock $2"
}
drop_lock() { eval "exec $1>&-"; }

# --- install (each under its own cache lock, so parallel runs share one install) ---
moto_stamp() {
    { moto_requirements; "$VENV/bin/python" -c 'import sys; print(sys.version)' 2>/dev/null || true; } \
        | sha256sum | cut -d' ' -f1
}
installed_moto() { [[ -x "$VENV/bin/moto_server" && "$(cat "$VENV/.onfs-stamp" 2>/dev/null)" == "$(moto_stamp)" ]]; }
install_moto() {
    installed_moto && return 0
    take_lock 7 "$VENV.lock" 900
    installed_moto && { drop_lock 7; return 0; }
    need "$PY"
    "$PY" -c 'import venv, ensurepip' >/dev/null 2>&1 || die "$PY cannot create venvs (install python3-venv)"
    log "moto: installing moto $MOTO_VERSION into $VENV (one-time)"
    local reqs="$CACHE_ROOT/venv-services.requirements.txt" ilog="$CACHE_ROOT/venv-services.install.log"
    moto_requirements >"$reqs"
    if ! { "$PY" -m venv --clear "$VENV" \
        && "$VENV/bin/python" -m pip install --disable-pip-version-check -q -r "$reqs" \
        && "$VENV/bin/python" -m pip check --disable-pip-version-check; } >"$ilog" 2>&1; then
        tail -n 30 "$ilog" >&2 || true
        die "moto: install failed (full log: $ilog)"
    fi
    moto_stamp >"$VENV/.onfs-stamp"
    drop_lock 7
}

installed_azurite() { [[ -f "$AZURITE_HOME/.complete" && -x "$AZURITE_BIN" ]]; }
install_azurite() {
    installed_azurite && return 0
    take_lock 7 "$AZURITE_HOME.lock" 900
    installed_azurite && { drop_lock 7; return 0; }
    need node "Azurite needs Node.js"
    # An install made without the completion marker is adopted if it reports the right version.
    if [[ -x "$AZURITE_BIN" ]] && [[ "$("$AZURITE_BIN" --version 2>/dev/null)" == "$AZURITE_VERSION" ]]; then
        touch "$AZURITE_HOME/.complete"
        drop_lock 7
        return 0
    fi
    need npm "Azurite is installed with npm"
    log "azurite: installing azurite $AZURITE_VERSION into $AZURITE_HOME (one-time)"
    local tmp="$AZURITE_HOME.tmp.$$" ilog="$AZURITE_HOME.install.log"
    rm -rf "$tmp"
    mkdir -p "$tmp"
    if ! npm install --prefix "$tmp" --no-audit --no-fund --no-update-notifier --loglevel=error \
        "azurite@$AZURITE_VERSION" >"$ilog" 2>&1; then
        tail -n 30 "$ilog" >&2 || true
        rm -rf "$tmp"
        die "azurite: npm install failed (full log: $ilog)"
    fi
    [[ -x "$tmp/node_modules/.bin/azurite-blob" ]] || die "azurite: npm succeeded but azurite-blob is missing"
    rm -rf "$AZURITE_HOME"
    mv "$tmp" "$AZURITE_HOME"
    touch "$AZURITE_HOME/.complete"
    drop_lock 7
}

installed_gcs() { [[ -x "$FAKE_GCS_BIN" ]]; }
install_gcs() {
    installed_gcs && return 0
    take_lock 7 "$FAKE_GCS_BIN.lock" 900
    installed_gcs && { drop_lock 7; return 0; }
    need go "fake-gcs-server is built with 'go install'"
    log "gcs: building fake-gcs-server $FAKE_GCS_VERSION into $FAKE_GCS_BIN (one-time)"
    local tmp ilog="$FAKE_GCS_BIN.install.log"
    tmp="$(mktemp -d "$CACHE_ROOT/bin/.gobin.XXXXXX")"
    if ! GOBIN="$tmp" CGO_ENABLED=0 go install -trimpath -ldflags='-s -w' \
        "github.com/fsouza/fake-gcs-server@$FAKE_GCS_VERSION" >"$ilog" 2>&1; then
        tail -n 30 "$ilog" >&2 || true
        rm -rf "$tmp"
        die "gcs: go install failed (full log: $ilog)"
    fi
    mv -f "$tmp/fake-gcs-server" "$FAKE_GCS_BIN"
    rm -rf "$tmp"
    drop_lock 7
}

# The Metastore server of Hive 4.1.0 is not published on its own (hive-standalone-metastore-server
# stops at 4.0.1 on Maven Central), but hive-exec 4.1.0 bundles it (with Thrift, JDO's API and a
# relocated Guava/Jackson/HikariCP): that jar alone, plus what the server needs besides.
write_hms_pom() {
    cat >"$1" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<!-- generated by onfs-push scripts/test-services.sh; only used to fetch jars -->
<project xmlns="http://maven.apache.org/POM/4.0.0"
         xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
         xsi:schemaLocation="http://maven.apache.org/POM/4.0.0 https://maven.apache.org/xsd/maven-4.0.0.xsd">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.onfs-push</groupId>
  <artifactId>hive-metastore-libs</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <properties>
    <hadoop.version>$HADOOP_VERSION</hadoop.version>
    <jetty.version>9.4.57.v20241219</jetty.version>
    <log4j.version>2.24.3</log4j.version>
  </properties>
  <dependencies>
    <dependency>
      <groupId>org.apache.hive</groupId><artifactId>hive-exec</artifactId><version>$HMS_VERSION</version>
      <exclusions><exclusion><groupId>*</groupId><artifactId>*</artifactId></exclusion></exclusions>
    </dependency>
    <dependency><groupId>org.datanucleus</groupId><artifactId>datanucleus-api-jdo</artifactId><version>6.0.3</version></dependency>
    <dependency><groupId>org.datanucleus</groupId><artifactId>datanucleus-core</artifactId><version>6.0.10</version></dependency>
    <dependency><groupId>org.datanucleus</groupId><artifactId>datanucleus-rdbms</artifactId><version>6.0.10</version></dependency>
    <dependency><groupId>org.apache.derby</groupId><artifactId>derby</artifactId><version>10.14.2.0</version></dependency>
    <dependency><groupId>org.apache.commons</groupId><artifactId>commons-dbcp2</artifactId><version>2.12.0</version></dependency>
    <dependency><groupId>org.antlr</groupId><artifactId>antlr4-runtime</artifactId><version>4.9.3</version></dependency>
    <dependency><groupId>com.github.ben-manes.caffeine</groupId><artifactId>caffeine</artifactId><version>2.8.4</version></dependency>
    <dependency><groupId>org.eclipse.jetty</groupId><artifactId>jetty-server</artifactId><version>\${jetty.version}</version></dependency>
    <dependency><groupId>org.eclipse.jetty</groupId><artifactId>jetty-servlet</artifactId><version>\${jetty.version}</version></dependency>
    <dependency>
      <groupId>org.apache.hadoop</groupId><artifactId>hadoop-common</artifactId><version>\${hadoop.version}</version>
      <exclusions>
        <exclusion><groupId>org.apache.zookeeper</groupId><artifactId>*</artifactId></exclusion>
        <exclusion><groupId>org.apache.curator</groupId><artifactId>*</artifactId></exclusion>
        <exclusion><groupId>org.eclipse.jetty</groupId><artifactId>*</artifactId></exclusion>
        <exclusion><groupId>com.sun.jersey</groupId><artifactId>*</artifactId></exclusion>
        <exclusion><groupId>com.github.pjfanning</groupId><artifactId>*</artifactId></exclusion>
        <exclusion><groupId>org.apache.kerby</groupId><artifactId>*</artifactId></exclusion>
        <exclusion><groupId>org.slf4j</groupId><artifactId>slf4j-reload4j</artifactId></exclusion>
        <exclusion><groupId>ch.qos.reload4j</groupId><artifactId>reload4j</artifactId></exclusion>
        <exclusion><groupId>com.jcraft</groupId><artifactId>jsch</artifactId></exclusion>
        <exclusion><groupId>org.apache.avro</groupId><artifactId>avro</artifactId></exclusion>
        <exclusion><groupId>javax.servlet.jsp</groupId><artifactId>*</artifactId></exclusion>
      </exclusions>
    </dependency>
    <!-- hadoop-hdfs for org.apache.hadoop.hdfs.protocol.SnapshotException (Warehouse.mkdirs) -->
    <dependency>
      <groupId>org.apache.hadoop</groupId><artifactId>hadoop-hdfs</artifactId><version>\${hadoop.version}</version>
      <exclusions><exclusion><groupId>*</groupId><artifactId>*</artifactId></exclusion></exclusions>
    </dependency>
    <dependency>
      <groupId>org.apache.hadoop</groupId><artifactId>hadoop-hdfs-client</artifactId><version>\${hadoop.version}</version>
      <exclusions><exclusion><groupId>*</groupId><artifactId>*</artifactId></exclusion></exclusions>
    </dependency>
    <dependency>
      <groupId>org.apache.hadoop</groupId><artifactId>hadoop-mapreduce-client-core</artifactId><version>\${hadoop.version}</version>
      <exclusions><exclusion><groupId>*</groupId><artifactId>*</artifactId></exclusion></exclusions>
    </dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId><version>\${log4j.version}</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId><version>\${log4j.version}</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-1.2-api</artifactId><version>\${log4j.version}</version></dependency>
  </dependencies>
</project>
EOF
}
installed_hms() { [[ -f "$HMS_HOME/.libs-complete" && -d "$HMS_LIBS" ]]; }
install_hms() {
    installed_hms && return 0
    take_lock 7 "$HMS_HOME.lock" 900
    installed_hms && { drop_lock 7; return 0; }
    need mvn "the Hive Metastore's jars are fetched with Maven"
    log "hms: fetching Hive Metastore $HMS_VERSION jars from Maven Central into $HMS_LIBS (one-time)"
    mkdir -p "$HMS_HOME"
    local pom="$HMS_HOME/pom.xml" tmp="$HMS_HOME/libs.tmp.$$" ilog="$HMS_HOME/mvn.log"
    write_hms_pom "$pom"
    rm -rf "$tmp" "$HMS_LIBS"
    if ! mvn -B -q -f "$pom" "$DEP_PLUGIN:copy-dependencies" \
        -DincludeScope=runtime -DoutputDirectory="$tmp" >"$ilog" 2>&1; then
        tail -n 30 "$ilog" >&2 || true
        rm -rf "$tmp"
        die "hms: mvn failed to fetch the Hive Metastore (full log: $ilog)"
    fi
    [[ -f "$tmp/hive-exec-$HMS_VERSION.jar" ]] || die "hms: mvn succeeded but hive-exec-$HMS_VERSION.jar is missing"
    mv "$tmp" "$HMS_LIBS"
    touch "$HMS_HOME/.libs-complete"
    drop_lock 7
}

# Installs what NAMEs need; several missing ones are installed in parallel.
install_services() {
    local s missing=() pids=() failed=() i
    for s in "$@"; do
        "installed_$s" || missing+=("$s")
    done
    ((${#missing[@]} > 0)) || return 0
    mkdir -p "$CACHE_ROOT/bin"
    if ((${#missing[@]} == 1)); then
        "install_${missing[0]}"
        return 0
    fi
    for s in "${missing[@]}"; do
        ("install_$s") &
        pids+=("$!")
    done
    for i in "${!pids[@]}"; do
        wait "${pids[$i]}" || failed+=("${missing[$i]}")
    done
    ((${#failed[@]} == 0)) || die "installing ${failed[*]} failed (see above)"
}

# --- helpers ---------------------------------------------------------------------
# shellcheck disable=SC2016 # $1 expands in the inner bash
port_open() { timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"' _ "$1" >/dev/null 2>&1; }

free_port() {
    "$PY" -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# HTTP status of GET $1 ("000" when nothing answers).
http_status() { curl -s -o /dev/null -w '%{http_code}' --max-time "${2:-3}" "$1" 2>/dev/null || true; }

# One Thrift call (get_all_databases, binary protocol, buffered transport): 0 if the Metastore
# answers with a reply.
hms_ping() {
    "$PY" - "$1" "${2:-5}" <<'PY' >/dev/null 2>&1
import socket, struct, sys
port, timeout = int(sys.argv[1]), float(sys.argv[2])
name = b"get_all_databases"
msg = struct.pack(">Ii", 0x80010001, len(name)) + name + struct.pack(">i", 1) + b"\x00"
with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
    s.sendall(msg)
    s.shutdown(socket.SHUT_WR)  # the server ends the connection quietly after its reply
    reply = b""
    while chunk := s.recv(65536):
        reply += chunk
version, n = struct.unpack(">Ii", reply[:8])
sys.exit(0 if version == 0x80010002 and reply[8:8 + n] == name else 1)  # a REPLY to our call
PY
}

# Creates the container $2 on Azurite at $1 (SharedKey-signed; "already exists" is fine).
azure_create_container() {
    "$PY" - "$1" "$AZ_ACCOUNT" "$AZ_KEY" "$2" <<'PY'
import base64, hashlib, hmac, sys, urllib.error, urllib.request
from email.utils import formatdate
endpoint, account, key, container = sys.argv[1:]
date, version = formatdate(usegmt=True), "2021-08-06"
# String to sign: verb, 11 empty standard headers (Content-Length 0 is signed as empty), the
# x-ms-* headers, then the canonical resource.
to_sign = ("PUT\n" + "\n" * 11 + f"x-ms-date:{date}\nx-ms-version:{version}\n"
           f"/{account}/{account}/{container}\nrestype:container")
sig = base64.b64encode(hmac.new(base64.b64decode(key), to_sign.encode(), hashlib.sha256).digest()).decode()
req = urllib.request.Request(
    f"{endpoint}/{account}/{container}?restype=container", method="PUT",
    headers={"x-ms-date": date, "x-ms-version": version, "Content-Length": "0",
             "Authorization": f"SharedKey {account}:{sig}"})
try:
    urllib.request.urlopen(req, timeout=10).close()
except urllib.error.HTTPError as e:
    if e.code != 409:  # 409: the container exists
        sys.exit(f"HTTP {e.code}: {e.read()[:300]!r}")
PY
}

# --- per-service knowledge ------------------------------------------------------------
pidfile() { printf '%s/%s.pid' "$STATE" "$1"; }
portfile() { printf '%s/%s.port' "$STATE" "$1"; }
logfile() { printf '%s/%s.log' "$STATE" "$1"; }
read_pid() { if [[ -f "$(pidfile "$1")" ]]; then tr -dc '0-9' <"$(pidfile "$1")"; fi; }
read_port() { if [[ -f "$(portfile "$1")" ]]; then tr -dc '0-9' <"$(portfile "$1")"; fi; }

label() {
    case "$1" in
        moto) echo "moto (S3)" ;;
        azurite) echo "Azurite (Azure Blob)" ;;
        gcs) echo "fake-gcs-server (GCS)" ;;
        hms) echo "Hive Metastore" ;;
    esac
}

endpoint() {
    case "$1" in
        hms) echo "thrift://127.0.0.1:$2" ;;
        *) echo "http://127.0.0.1:$2" ;;
    esac
}

# cmd_kind NAME PORT: what the command line of service NAME on PORT contains, whatever its
# version; cmd_current NAME: what it contains when it runs the current install.
cmd_kind() {
    case "$1" in
        moto) echo "moto_server -H 127.0.0.1 -p $2 " ;;
        azurite) echo "azurite-blob --blobHost 127.0.0.1 --blobPort $2 " ;;
        gcs) echo " -port $2 " ;;
        hms) echo "org.apache.hadoop.hive.metastore.HiveMetaStore -p $2 " ;;
    esac
}
cmd_current() {
    case "$1" in
        moto) echo "$VENV/bin/moto_server " ;;
        azurite) echo "$AZURITE_BIN " ;;
        gcs) echo "$FAKE_GCS_BIN " ;;
        hms) echo "$STATE/hms/conf:$HMS_LIBS/* " ;;
    esac
}

cmdline_of() { { tr '\0' ' ' <"/proc/$1/cmdline"; } 2>/dev/null || true; }

# 0 if pid $1 runs (a zombie, left where nothing reaps orphans, does not count).
alive() {
    kill -0 "$1" 2>/dev/null || return 1
    [[ -r "/proc/$1/stat" ]] || return 0
    local stat
    stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
    stat="${stat##*) }"
    [[ "${stat:0:1}" != Z ]]
}

# 0 if pid $2 is service $1 on port $3 started from this state dir (any version);
# with $4 = current, also running the current install.
is_ours() {
    local svc="$1" pid="$2" port="$3" want="${4:-any}" cmd
    [[ -n "$pid" && -n "$port" ]] || return 1
    alive "$pid" || return 1
    [[ -r "/proc/$pid/cmdline" ]] || return 0
    cmd="$(cmdline_of "$pid")"
    [[ "$cmd" == *"$(cmd_kind "$svc" "$port")"* ]] || return 1
    [[ "$svc" != gcs || "$cmd" == *fake-gcs-server* ]] || return 1
    [[ "$want" != current || "$cmd" == *"$(cmd_current "$svc")"* ]]
}

# 0 if the service on port $2 answers.
answers() {
    local svc="$1" port="$2" code
    case "$svc" in
        moto) [[ "$(http_status "http://127.0.0.1:$port/")" == 200 ]] ;;
        azurite)
            code="$(http_status "http://127.0.0.1:$port/$AZ_ACCOUNT?comp=list")"
            [[ "$code" != 000 ]]
            ;;
        gcs) [[ "$(http_status "http://127.0.0.1:$port/storage/v1/b")" == 200 ]] ;;
        hms) port_open "$port" && hms_ping "$port" 10 ;;
    esac
}

create_bucket() {
    local svc="$1" port="$2" out
    case "$svc" in
        moto)
            # us-east-1 answers 200 for a bucket that exists and is ours.
            out="$(curl -s -S --max-time 10 -o /dev/null -w '%{http_code}' -X PUT "http://127.0.0.1:$port/$BUCKET" 2>&1)" || true
            [[ "$out" == 200 ]] || { log "moto: creating bucket $BUCKET answered '$out'"; return 1; }
            ;;
        azurite)
            azure_create_container "http://127.0.0.1:$port" "$BUCKET" >&2 || { log "azurite: creating container $BUCKET failed"; return 1; }
            ;;
        gcs)
            out="$(curl -s -S --max-time 10 -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
                -d "{\"name\":\"$BUCKET\"}" "http://127.0.0.1:$port/storage/v1/b" 2>&1)" || true
            [[ "$out" == 200 || "$out" == 409 ]] || { log "gcs: creating bucket $BUCKET answered '$out'"; return 1; }
            ;;
        hms) ;;
    esac
}

write_hms_conf() {
    local conf="$STATE/hms/conf"
    mkdir -p "$conf" "$STATE/hms/warehouse"
    cat >"$conf/metastore-site.xml" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<!-- generated by scripts/test-services.sh; rewritten on every start -->
<configuration>
  <property><name>javax.jdo.option.ConnectionURL</name><value>jdbc:derby:;databaseName=$STATE/hms/metastore_db;create=true</value></property>
  <property><name>javax.jdo.option.ConnectionDriverName</name><value>org.apache.derby.jdbc.EmbeddedDriver</value></property>
  <property><name>datanucleus.schema.autoCreateAll</name><value>true</value></property>
  <property><name>metastore.schema.verification</name><value>false</value></property>
  <property><name>metastore.schema.verification.record.version</name><value>true</value></property>
  <property><name>metastore.warehouse.dir</name><value>file://$STATE/hms/warehouse</value></property>
  <property><name>metastore.warehouse.external.dir</name><value>file://$STATE/hms/warehouse</value></property>
  <property><name>metastore.thrift.bind.host</name><value>127.0.0.1</value></property>
  <!-- No housekeeping/compaction leader: those tasks need the ACID tables, which only the
       schema scripts create (DataNucleus's autoCreateAll does not). -->
  <property><name>metastore.housekeeping.leader.election</name><value>host</value></property>
  <property><name>metastore.housekeeping.leader.hostname</name><value>no-leader.invalid</value></property>
  <!-- Synchronous logging (asynchronous needs the LMAX disruptor jar). -->
  <property><name>metastore.async.log.enabled</name><value>false</value></property>
</configuration>
EOF
    # Found on the classpath by the Metastore; WARN and up, plus its own startup lines.
    cat >"$conf/metastore-log4j2.properties" <<'EOF'
status = error
name = onfs-test-hms
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{ISO8601} %-5p [%t] %c{2}: %m%n
rootLogger.level = WARN
rootLogger.appenderRef.console.ref = console
logger.hms.name = org.apache.hadoop.hive.metastore.HiveMetaStore
logger.hms.level = INFO
# hive-exec has no Iceberg REST catalog to start (and none is wanted).
logger.hms.filter.catalog.type = RegexFilter
logger.hms.filter.catalog.regex = Unable to start the Catalog server.*
logger.hms.filter.catalog.onMatch = DENY
logger.hms.filter.catalog.onMismatch = NEUTRAL
logger.audit.name = org.apache.hadoop.hive.metastore.HiveMetaStore.audit
logger.audit.level = WARN
logger.dn.name = DataNucleus
logger.dn.level = ERROR
logger.native.name = org.apache.hadoop.util.NativeCodeLoader
logger.native.level = ERROR
EOF
}

# Starts service $1 on port $2 in its own session (survives this script); prints its pid.
launch() {
    local svc="$1" port="$2" lf
    lf="$(logfile "$svc")"
    if [[ -f "$lf" ]]; then mv -f "$lf" "$lf.prev"; fi
    case "$svc" in
        moto)
            (cd "$STATE" && exec setsid nohup "$VENV/bin/moto_server" -H 127.0.0.1 -p "$port") \
                </dev/null >"$lf" 2>&1 7>&- 8>&- &
            ;;
        azurite)
            # --inMemoryPersistence excludes --location; nothing is written to disk.
            (cd "$STATE" && exec setsid nohup "$AZURITE_BIN" --blobHost 127.0.0.1 --blobPort "$port" \
                --inMemoryPersistence --skipApiVersionCheck --loose --disableTelemetry --silent) \
                </dev/null >"$lf" 2>&1 7>&- 8>&- &
            ;;
        gcs)
            (cd "$STATE" && exec setsid nohup "$FAKE_GCS_BIN" -scheme http -host 127.0.0.1 -port "$port" \
                -backend memory -public-host "127.0.0.1:$port" -log-level warn) \
                </dev/null >"$lf" 2>&1 7>&- 8>&- &
            ;;
        hms)
            # A Derby database made by another Metastore version is test state: start afresh.
            if [[ -d "$STATE/hms/metastore_db" && "$(cat "$STATE/hms/version" 2>/dev/null)" != "$HMS_VERSION" ]]; then
                log "hms: removing the Derby database and warehouse of another Metastore version"
                rm -rf "$STATE/hms/metastore_db" "$STATE/hms/warehouse"
            fi
            write_hms_conf
            echo "$HMS_VERSION" >"$STATE/hms/version"
            # C1 only and the serial collector: the Metastore answers ~25% sooner and its load is light.
            (cd "$STATE/hms" && exec setsid nohup "$JAVA_BIN" -Xmx512m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
                -Djava.awt.headless=true -Djava.net.preferIPv4Stack=true \
                --add-opens=java.base/java.lang=ALL-UNNAMED --add-opens=java.base/java.util=ALL-UNNAMED \
                --add-opens=java.base/java.net=ALL-UNNAMED --add-opens=java.base/java.lang.reflect=ALL-UNNAMED \
                --add-opens=java.base/java.io=ALL-UNNAMED --add-opens=java.base/sun.nio.ch=ALL-UNNAMED \
                -Dderby.system.home="$STATE/hms" -Dderby.stream.error.file="$STATE/hms/derby.log" \
                -cp "$STATE/hms/conf:$HMS_LIBS/*" org.apache.hadoop.hive.metastore.HiveMetaStore -p "$port") \
                </dev/null >"$lf" 2>&1 7>&- 8>&- &
            ;;
    esac
    echo "$!"
}

# Reports why service $1 failed, with its log's last lines.
report_failure() {
    local svc="$1" why="$2" lf
    lf="$(logfile "$svc")"
    log "error: $(label "$svc") $why; log: $lf; its last lines:"
    if [[ -s "$lf" ]]; then
        tail -n 25 "$lf" | sed 's/^/    /' >&2 || true
    else
        log "    (the log is empty)"
    fi
}

# SIGTERM the service's process group, wait, then SIGKILL.
terminate() {
    local pid="$1" deadline=$((SECONDS + 20))
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    while alive "$pid" && ((SECONDS < deadline)); do sleep 0.1; done
    if alive "$pid"; then
        log "pid $pid did not exit within 20s of SIGTERM; sending SIGKILL"
        kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
        deadline=$((SECONDS + 10))
        while alive "$pid" && ((SECONDS < deadline)); do sleep 0.1; done
    fi
}

write_env() {
    local svc pid port tmp="$STATE/env.tmp.$$" any=0
    {
        for svc in "${ALL_SERVICES[@]}"; do
            pid="$(read_pid "$svc")"
            port="$(read_port "$svc")"
            is_ours "$svc" "$pid" "$port" || continue
            any=1
            case "$svc" in
                moto) echo "ONFS_S3_ENDPOINT=http://127.0.0.1:$port" ;;
                azurite) printf '%s\n' "ONFS_AZURE_ENDPOINT=http://127.0.0.1:$port" \
                    "ONFS_AZURE_ACCOUNT=$AZ_ACCOUNT" "ONFS_AZURE_KEY=$AZ_KEY" ;;
                gcs) echo "ONFS_GCS_ENDPOINT=http://127.0.0.1:$port" ;;
                hms) printf '%s\n' "ONFS_HMS_URI=thrift://127.0.0.1:$port" \
                    "ONFS_HMS_WAREHOUSE=file://$STATE/hms/warehouse" ;;
            esac
            echo "ONFS_${svc^^}_PID=$pid"
        done
        echo "ONFS_TEST_BUCKET=$BUCKET"
        echo "ONFS_SERVICES_DIR=$STATE"
    } >"$tmp"
    if ((any)); then
        mv -f "$tmp" "$STATE/env"
    else
        rm -f "$tmp" "$STATE/env"
    fi
}

# Seconds (one decimal) since $1 (microseconds, from EPOCHREALTIME).
elapsed() {
    local us=$((${EPOCHREALTIME/./} - $1))
    printf '%d.%d' $((us / 1000000)) $((us % 1000000 / 100000))
}

# --- commands ----------------------------------------------------------------------------
# Expands and checks NAMEs into the global SERVICES (default: all).
SERVICES=()
parse_names() {
    local n s x seen
    SERVICES=()
    (($# > 0)) || { SERVICES=("${ALL_SERVICES[@]}"); return 0; }
    for n in "$@"; do
        case "$n" in
            moto | s3) s=moto ;;
            azurite | azure) s=azurite ;;
            gcs | fake-gcs-server) s=gcs ;;
            hms | hive | hive-metastore) s=hms ;;
            *) log "error: unknown service '$n' (moto, azurite, gcs, hms)"; exit 2 ;;
        esac
        seen=0
        for x in "${SERVICES[@]}"; do
            if [[ "$x" == "$s" ]]; then seen=1; fi
        done
        ((seen)) || SERVICES+=("$s")
    done
}

do_start() {
    parse_names "$@"
    need curl
    need "$PY"
    local svc
    for svc in "${SERVICES[@]}"; do
        [[ "$svc" != hms ]] || need "$JAVA_BIN" "the Hive Metastore runs on Java 17+"
    done
    install_services "${SERVICES[@]}"
    take_lock 8 "$STATE/.lock" $((2 * TIMEOUT + 120))

    local -A pid=() port=() attempt=() t0=()
    local pending=() failed=() p old
    for svc in "${SERVICES[@]}"; do
        p="$(read_pid "$svc")"
        old="$(read_port "$svc")"
        if is_ours "$svc" "$p" "$old" current && answers "$svc" "$old"; then
            pid[$svc]="$p" port[$svc]="$old"
            log "$svc: reusing $(label "$svc") at $(endpoint "$svc" "$old") (pid $p)"
            continue
        fi
        if is_ours "$svc" "$p" "$old"; then
            log "$svc: stopping the previous $(label "$svc") (pid $p): not answering or an older install"
            terminate "$p"
        fi
        rm -f "$(pidfile "$svc")"
        # The previous port if it is still free (stable endpoints across restarts), else a new one.
        if [[ -z "$old" ]] || port_open "$old"; then old="$(free_port)"; fi
        port[$svc]="$old"
        echo "$old" >"$(portfile "$svc")"
        pid[$svc]="$(launch "$svc" "$old")"
        echo "${pid[$svc]}" >"$(pidfile "$svc")"
        attempt[$svc]=1
        t0[$svc]="${EPOCHREALTIME/./}"
        pending+=("$svc")
        log "$svc: starting $(label "$svc") at $(endpoint "$svc" "$old") (pid ${pid[$svc]}, log $(logfile "$svc"))"
    done

    # Wait for the started ones together; a port lost to another process is retried on a new one.
    local deadline=$((SECONDS + TIMEOUT)) left
    while ((${#pending[@]} > 0)); do
        left=()
        for svc in "${pending[@]}"; do
            if answers "$svc" "${port[$svc]}"; then
                log "$svc: ready after $(elapsed "${t0[$svc]}")s"
                continue
            fi
            if ! alive "${pid[$svc]}"; then
                if ((attempt[$svc] < 3)) && grep -qiE 'address already in use|EADDRINUSE|BindException' "$(logfile "$svc")" 2>/dev/null; then
                    attempt[$svc]=$((attempt[$svc] + 1))
                    port[$svc]="$(free_port)"
                    echo "${port[$svc]}" >"$(portfile "$svc")"
                    log "$svc: port taken meanwhile; retrying on ${port[$svc]}"
                    pid[$svc]="$(launch "$svc" "${port[$svc]}")"
                    echo "${pid[$svc]}" >"$(pidfile "$svc")"
                    left+=("$svc")
                    continue
                fi
                report_failure "$svc" "exited during startup"
                rm -f "$(pidfile "$svc")"
                failed+=("$svc")
                continue
            fi
            if ((SECONDS >= deadline)); then
                report_failure "$svc" "did not answer at $(endpoint "$svc" "${port[$svc]}") within ${TIMEOUT}s"
                terminate "${pid[$svc]}"
                rm -f "$(pidfile "$svc")"
                failed+=("$svc")
                continue
            fi
            left+=("$svc")
        done
        pending=("${left[@]+"${left[@]}"}")
        ((${#pending[@]} == 0)) || sleep 0.2
    done

    for svc in "${SERVICES[@]}"; do
        if [[ " ${failed[*]-} " == *" $svc "* ]]; then continue; fi
        if ! create_bucket "$svc" "${port[$svc]}"; then
            report_failure "$svc" "is up but the bucket $BUCKET could not be created"
            failed+=("$svc")
        fi
    done

    write_env
    if ((${#failed[@]} > 0)); then
        die "failed to start: ${failed[*]} (the others are running; env in $STATE/env)"
    fi
    echo "$STATE/env"
}

do_stop() {
    local clean=0 arg names=() svc p
    for arg in "$@"; do
        case "$arg" in
            --clean) clean=1 ;;
            -*) die "stop: unknown option '$arg'" ;;
            *) names+=("$arg") ;;
        esac
    done
    parse_names "${names[@]+"${names[@]}"}"
    [[ -d "$STATE" ]] || { log "nothing in $STATE"; return 0; }
    take_lock 8 "$STATE/.lock" $((2 * TIMEOUT + 120))
    for svc in "${SERVICES[@]}"; do
        p="$(read_pid "$svc")"
        if is_ours "$svc" "$p" "$(read_port "$svc")"; then
            log "$svc: stopping $(label "$svc") (pid $p)"
            terminate "$p"
        fi
        rm -f "$(pidfile "$svc")"
    done
    write_env
    ((clean)) || return 0
    case "$STATE" in
        "" | / | "$HOME" | "$HOME/") die "refusing to delete state dir '$STATE'" ;;
    esac
    if ((${#SERVICES[@]} == ${#ALL_SERVICES[@]})); then
        log "deleting $STATE"
        rm -rf "$STATE"
    else
        for svc in "${SERVICES[@]}"; do
            rm -rf "$(pidfile "$svc")" "$(portfile "$svc")" "$(logfile "$svc")" "$(logfile "$svc").prev"
            [[ "$svc" != hms ]] || rm -rf "$STATE/hms"
        done
    fi
}

do_status() {
    parse_names "$@"
    local svc p port bad=0
    for svc in "${SERVICES[@]}"; do
        p="$(read_pid "$svc")"
        port="$(read_port "$svc")"
        if is_ours "$svc" "$p" "$port" && answers "$svc" "$port"; then
            log "$svc: running at $(endpoint "$svc" "$port") (pid $p)"
        elif is_ours "$svc" "$p" "$port"; then
            log "$svc: running (pid $p) but not answering at $(endpoint "$svc" "$port"); log: $(logfile "$svc")"
            bad=1
        else
            log "$svc: not running"
            bad=1
        fi
    done
    ((bad == 0)) || return 1
    [[ -f "$STATE/env" ]] && echo "$STATE/env"
    return 0
}

main() {
    (($# >= 1)) || usage
    local cmd="$1"
    shift
    case "$cmd" in
        start) do_start "$@" ;;
        stop) do_stop "$@" ;;
        status) do_status "$@" ;;
        fetch) parse_names "$@"; install_services "${SERVICES[@]}"; echo "$CACHE_ROOT" ;;
        -h | --help | help) usage ;;
        *) log "unknown command '$cmd'"; usage ;;
    esac
}

main "$@"
