#!/usr/bin/env bash
# Single-node Apache Kafka (KRaft, combined broker+controller) for local tests.
#
# Usage:
#   scripts/kafka-test-broker.sh start            start (or reuse) the broker; last stdout line = bootstrap
#   scripts/kafka-test-broker.sh stop [--clean]   SIGTERM, wait, SIGKILL; --clean deletes the state dir
#   scripts/kafka-test-broker.sh kill9            SIGKILL the broker, keep its state and KDC (crash tests)
#   scripts/kafka-test-broker.sh restart          (stop if running, then) start on the SAME ports and data
#   scripts/kafka-test-broker.sh status           exit 0 and print the bootstrap if running and answering
#   scripts/kafka-test-broker.sh topic NAME PARTITIONS
#   scripts/kafka-test-broker.sh perf ARGS...     org.apache.kafka.tools.ProducerPerformance ARGS...
#   scripts/kafka-test-broker.sh run-class CLASS ARGS...   any main class on the Kafka classpath
#   scripts/kafka-test-broker.sh fetch            only download the jars into the cache
#
# The broker jars come from Maven Central (via `mvn`) and are cached once under
#   ${ONFS_CACHE_DIR:-$HOME/.cache/onfs-push}/kafka-<version>/libs
# After `start`, <state dir>/env holds ONFS_KAFKA_BOOTSTRAP, ONFS_KAFKA_SASL_BOOTSTRAP,
# ONFS_KAFKA_LIBS, ONFS_KAFKA_PID and ONFS_KAFKA_STATE (sourceable by tests), and
# <state dir>/client-sasl.properties is a ready client config for the SASL_PLAINTEXT listener.
#
# TLS listeners (all on 127.0.0.1, certificates from a private CA the script makes once per
# state dir under <state dir>/tls with openssl and keytool):
#   ONFS_KAFKA_SSL_BOOTSTRAP       SSL, server certificate for 127.0.0.1 and localhost
#   ONFS_KAFKA_MTLS_BOOTSTRAP      SSL, a client certificate from the CA required
#   ONFS_KAFKA_SASL_SSL_BOOTSTRAP  SASL_SSL with PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512
#                                  (the SASL user below, SCRAM credentials added at format time)
#   ONFS_KAFKA_OTHER_NAME_BOOTSTRAP SSL whose certificate names another host (other.invalid)
#   ONFS_KAFKA_TLS_DIR             ca.pem, client-truststore.{jks,p12}, client-keystore.{jks,p12},
#                                  client.pem/client.key, other-ca.pem (a CA nobody uses)
#   ONFS_KAFKA_TLS_PASSWORD        the stores' password; JKS key entries use ONFS_KAFKA_TLS_KEY_PASSWORD
#
# A Kerberos listener, when MIT Kerberos' tools can be had (scripts/kerberos.sh unpacks Debian's
# krb5-kdc, krb5-admin-server and krb5-user into the cache; a KDC on 127.0.0.1 for the realm
# ONFS.TEST runs with the broker, its database, krb5.conf and keytabs under <state dir>/krb5):
#   ONFS_KAFKA_KERBEROS_BOOTSTRAP  SASL_PLAINTEXT with GSSAPI, service principal
#                                  kafka/127.0.0.1@ONFS.TEST (the host as clients write it)
#   ONFS_KAFKA_KERBEROS_PRINCIPAL  the client's principal (onfs@ONFS.TEST)
#   ONFS_KAFKA_KERBEROS_KEYTAB     its keytab; ONFS_KAFKA_KERBEROS_OTHER_KEYTAB holds another
#                                  principal's keys (other@ONFS.TEST), for wrong-credential tests
#   ONFS_KAFKA_KRB5_CONFIG         the krb5.conf clients need (as KRB5_CONFIG)
#   ONFS_KAFKA_KERBEROS_BIN        a folder with kinit, klist and kdestroy, for clients' PATH
#
# A listener for fault tests, reached through a TCP proxy the tests run (clients reconnect to the
# advertised address, so the broker advertises the proxy's port, not its own):
#   ONFS_KAFKA_PROXIED_LISTENER    PLAINTEXT, where the proxy forwards to
#   ONFS_KAFKA_PROXIED_BOOTSTRAP   the port the proxy listens on (nothing listens there until a
#                                  test starts its proxy), advertised by the listener above
#
# Environment:
#   ONFS_KAFKA_VERSION        Kafka version (default 3.9.1)
#   ONFS_CACHE_DIR            cache root (default $HOME/.cache/onfs-push)
#   ONFS_KAFKA_DIR            state dir (default /tmp/onfs-kafka-test)
#   ONFS_KAFKA_SASL_USER      SASL/PLAIN user (default onfs)
#   ONFS_KAFKA_SASL_PASSWORD  SASL/PLAIN password (default onfs-secret)
#   ONFS_KAFKA_AUTO_CREATE    auto.create.topics.enable (default true)
#   ONFS_KAFKA_TLS_PASSWORD   password of the generated key and trust stores (default onfs-store-secret)
#   ONFS_KAFKA_TLS_KEY_PASSWORD  password of the client key in client-keystore.jks (default onfs-key-secret)
#   ONFS_KAFKA_KERBEROS       auto (default: the Kerberos listener when scripts/kerberos.sh
#                             succeeds, else none), on (fail without it) or off
#   ONFS_KAFKA_EXTRA_CONFIG   extra server.properties lines, appended verbatim (newline separated)
#   ONFS_KAFKA_START_TIMEOUT  seconds to wait for "Kafka Server started" (default 90)
#   ONFS_KAFKA_STOP_TIMEOUT   seconds to wait after SIGTERM before SIGKILL (default 30)
#   JAVA                      java binary (default: $JAVA_HOME/bin/java, else java)
set -euo pipefail

KAFKA_VERSION="${ONFS_KAFKA_VERSION:-3.9.1}"
SLF4J_VERSION="1.7.36"
DEP_PLUGIN="org.apache.maven.plugins:maven-dependency-plugin:3.8.1"
CACHE_ROOT="${ONFS_CACHE_DIR:-$HOME/.cache/onfs-push}"
KAFKA_HOME="$CACHE_ROOT/kafka-$KAFKA_VERSION"
LIBS="$KAFKA_HOME/libs"
LIBS_MARKER="$KAFKA_HOME/.libs-complete"
STATE="${ONFS_KAFKA_DIR:-/tmp/onfs-kafka-test}"
SASL_USER="${ONFS_KAFKA_SASL_USER:-onfs}"
SASL_PASSWORD="${ONFS_KAFKA_SASL_PASSWORD:-onfs-secret}"
AUTO_CREATE="${ONFS_KAFKA_AUTO_CREATE:-true}"
TLS_PASSWORD="${ONFS_KAFKA_TLS_PASSWORD:-onfs-store-secret}"
TLS_KEY_PASSWORD="${ONFS_KAFKA_TLS_KEY_PASSWORD:-onfs-key-secret}"
START_TIMEOUT="${ONFS_KAFKA_START_TIMEOUT:-90}"
STOP_TIMEOUT="${ONFS_KAFKA_STOP_TIMEOUT:-30}"
KERBEROS="${ONFS_KAFKA_KERBEROS:-auto}"
if [[ -n "${JAVA:-}" ]]; then
    JAVA_BIN="$JAVA"
elif [[ -n "${JAVA_HOME:-}" && -x "${JAVA_HOME}/bin/java" ]]; then
    JAVA_BIN="$JAVA_HOME/bin/java"
else
    JAVA_BIN="java"
fi

PROPS="$STATE/server.properties"
PIDFILE="$STATE/kafka.pid"
PORTSFILE="$STATE/ports"
CLUSTER_ID_FILE="$STATE/cluster-id"
LOGFILE="$STATE/kafka.log"
ENVFILE="$STATE/env"
SERVER_LOG4J="$STATE/log4j.properties"
TOOLS_LOG4J="$KAFKA_HOME/tools-log4j.properties"
CLIENT_SASL_PROPS="$STATE/client-sasl.properties"
TLS="$STATE/tls"
TLS_MARKER="$TLS/.complete"
KRB="$STATE/krb5"
KRB_MARKER="$KRB/.complete"
KRB_REALM="ONFS.TEST"
KDC_PIDFILE="$KRB/kdc.pid"
KDC_LOG="$KRB/kdc.log"
# The folder of the Kerberos tools' wrappers (scripts/kerberos.sh), empty when Kerberos is off.
KRB_BIN=""

# Every port the broker listens on, in the ports file's order.
PORT_NAMES=(PORT SASL_PORT CONTROLLER_PORT SSL_PORT MTLS_PORT SASL_SSL_PORT OTHER_NAME_PORT KERBEROS_PORT KDC_PORT PROXIED_PORT PROXY_PORT)
PORT=""
SASL_PORT=""
CONTROLLER_PORT=""
SSL_PORT=""
MTLS_PORT=""
SASL_SSL_PORT=""
OTHER_NAME_PORT=""
KERBEROS_PORT=""
KDC_PORT=""
PROXIED_PORT=""
PROXY_PORT=""

log() { printf 'kafka-test-broker: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

usage() {
    sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

need() { command -v "$1" >/dev/null 2>&1 || die "'$1' not found in PATH"; }

# --- locking -----------------------------------------------------------------
# Serialises concurrent invocations (e.g. parallel tests all calling `start`).
# The lock fd is closed for the broker process so it never holds the lock.
lock_state() {
    mkdir -p "$STATE"
    if command -v flock >/dev/null 2>&1; then
        exec 8>"$STATE/.lock"
        flock -w $((START_TIMEOUT + STOP_TIMEOUT + 60)) 8 || die "timed out waiting for lock $STATE/.lock"
    fi
}

lock_cache() {
    mkdir -p "$KAFKA_HOME"
    if command -v flock >/dev/null 2>&1; then
        exec 7>"$KAFKA_HOME/.lock"
        flock -w 900 7 || die "timed out waiting for lock $KAFKA_HOME/.lock"
    fi
}

# --- jars --------------------------------------------------------------------
write_tools_log4j() {
    [[ -f "$TOOLS_LOG4J" ]] && return 0
    local tmp="$TOOLS_LOG4J.tmp.$$"
    cat >"$tmp" <<'EOF'
log4j.rootLogger=WARN, stderr
log4j.appender.stderr=org.apache.log4j.ConsoleAppender
log4j.appender.stderr.layout=org.apache.log4j.PatternLayout
log4j.appender.stderr.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.appender.stderr.Target=System.err
EOF
    mv -f "$tmp" "$TOOLS_LOG4J"
}

ensure_libs() {
    if [[ -f "$LIBS_MARKER" && -d "$LIBS" ]]; then
        write_tools_log4j
        return 0
    fi
    lock_cache
    if [[ -f "$LIBS_MARKER" && -d "$LIBS" ]]; then
        write_tools_log4j
        return 0
    fi
    need mvn
    log "fetching Kafka $KAFKA_VERSION jars from Maven Central into $LIBS (one-time)"
    local pom="$KAFKA_HOME/pom.xml"
    cat >"$pom" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<!-- generated by onfs-push scripts/kafka-test-broker.sh; only used to fetch jars -->
<project xmlns="http://maven.apache.org/POM/4.0.0"
         xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
         xsi:schemaLocation="http://maven.apache.org/POM/4.0.0 https://maven.apache.org/xsd/maven-4.0.0.xsd">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.onfs-push</groupId>
  <artifactId>kafka-test-broker-libs</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_2.13</artifactId>
      <version>$KAFKA_VERSION</version>
    </dependency>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka-tools</artifactId>
      <version>$KAFKA_VERSION</version>
    </dependency>
    <dependency>
      <groupId>org.slf4j</groupId>
      <artifactId>slf4j-reload4j</artifactId>
      <version>$SLF4J_VERSION</version>
    </dependency>
  </dependencies>
</project>
EOF
    local tmp="$KAFKA_HOME/libs.tmp.$$"
    local mvnlog="$KAFKA_HOME/mvn.log"
    rm -rf "$tmp" "$LIBS"
    if ! mvn -B -q -f "$pom" "$DEP_PLUGIN:copy-dependencies" \
        -DincludeScope=runtime -DoutputDirectory="$tmp" >"$mvnlog" 2>&1; then
        tail -n 40 "$mvnlog" >&2 || true
        rm -rf "$tmp"
        die "mvn failed to fetch Kafka $KAFKA_VERSION (full log: $mvnlog)"
    fi
    compgen -G "$tmp/kafka_2.13-$KAFKA_VERSION.jar" >/dev/null \
        || die "mvn succeeded but $tmp/kafka_2.13-$KAFKA_VERSION.jar is missing"
    mv "$tmp" "$LIBS"
    touch "$LIBS_MARKER"
    log "fetched $(find "$LIBS" -name '*.jar' | wc -l) jars"
    write_tools_log4j
}

# Runs a main class on the Kafka classpath (client tools: small heap, WARN logs to stderr).
run_class() {
    need "$JAVA_BIN"
    "$JAVA_BIN" -Xmx512M -cp "$LIBS/*" -Dlog4j.configuration="file:$TOOLS_LOG4J" "$@"
}

# --- certificates ----------------------------------------------------------------
# keytool from the same Java as the broker.
keytool_bin() {
    local dir
    dir="$(dirname "$(command -v "$JAVA_BIN")")"
    if [[ -x "$dir/keytool" ]]; then printf '%s' "$dir/keytool"; else printf 'keytool'; fi
}

# An EC P-256 key in $1 and a certificate in $2 for subject $3, signed by the CA in ca.pem/ca.key
# (or self-signed as a CA when $4 is "ca"), with the extension lines $5. Runs in the TLS work dir.
make_cert() {
    local key="$1" cert="$2" subject="$3" kind="$4" ext="$5"
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$key" 2>/dev/null
    printf '[ext]\n%s\n' "$ext" >"$cert.ext"
    if [[ "$kind" == ca ]]; then
        openssl req -x509 -new -key "$key" -subj "$subject" -days 3650 -sha256 \
            -config "$cert.ext" -extensions ext -out "$cert"
    else
        openssl req -new -key "$key" -subj "$subject" -config "$cert.ext" -out "$cert.csr"
        openssl x509 -req -in "$cert.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 3650 \
            -sha256 -extfile "$cert.ext" -extensions ext -out "$cert" 2>/dev/null
        rm -f "$cert.csr"
    fi
    rm -f "$cert.ext"
}

# The private CA and every store, once per state dir: the broker's keystores (PKCS12, made by
# openssl) and truststore (PKCS12, keytool: Java trusts only certificates keytool marks), and the
# clients' stores in each form the tests use. Built in a scratch dir, moved in place when whole.
ensure_certs() {
    [[ -f "$TLS_MARKER" ]] && return 0
    need openssl
    local keytool started=$SECONDS work="$STATE/tls.tmp.$$"
    keytool="$(keytool_bin)"
    need "$keytool"
    rm -rf "$work" "$TLS"
    mkdir -p "$work"
    (
        cd "$work"
        umask 077
        local ca_ext server_ext client_ext pass="pass:$TLS_PASSWORD"
        ca_ext=$'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n[req]\ndistinguished_name=dn\n[dn]'
        server_ext=$'basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n[req]\ndistinguished_name=dn\n[dn]'
        client_ext=$'basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n[req]\ndistinguished_name=dn\n[dn]'
        make_cert other-ca.key other-ca.pem "/CN=onfs-test-other-ca" ca "$ca_ext"
        make_cert ca.key ca.pem "/CN=onfs-test-ca" ca "$ca_ext"
        make_cert server.key server.pem "/CN=127.0.0.1" leaf "$server_ext"
        make_cert other-name.key other-name.pem "/CN=other.invalid" leaf \
            "${server_ext/IP:127.0.0.1,DNS:localhost/DNS:other.invalid}"
        make_cert client.key client.pem "/CN=onfs-client" leaf "$client_ext"
        openssl pkcs12 -export -name broker -in server.pem -inkey server.key -certfile ca.pem \
            -passout "$pass" -out server-keystore.p12
        openssl pkcs12 -export -name broker -in other-name.pem -inkey other-name.key \
            -certfile ca.pem -passout "$pass" -out other-name-keystore.p12
        openssl pkcs12 -export -name client -in client.pem -inkey client.key -certfile ca.pem \
            -passout "$pass" -out client-keystore.p12
        # The three keytool runs are JVM starts: in parallel.
        local pids=()
        "$keytool" -importcert -noprompt -alias onfs-test-ca -file ca.pem -storetype PKCS12 \
            -keystore truststore.p12 -storepass "$TLS_PASSWORD" >keytool-1.log 2>&1 &
        pids+=($!)
        "$keytool" -importcert -noprompt -alias onfs-test-ca -file ca.pem -storetype JKS \
            -keystore truststore.jks -storepass "$TLS_PASSWORD" >keytool-2.log 2>&1 &
        pids+=($!)
        "$keytool" -importkeystore -noprompt -srckeystore client-keystore.p12 -srcstoretype PKCS12 \
            -srcstorepass "$TLS_PASSWORD" -srcalias client -destkeystore client-keystore.jks \
            -deststoretype JKS -deststorepass "$TLS_PASSWORD" -destalias client \
            -destkeypass "$TLS_KEY_PASSWORD" >keytool-3.log 2>&1 &
        pids+=($!)
        local p ok=1
        for p in "${pids[@]}"; do wait "$p" || ok=0; done
        if ((!ok)); then
            cat keytool-*.log >&2
            exit 1
        fi
        rm -f keytool-*.log ./*.srl
        cp truststore.p12 client-truststore.p12
        mv truststore.jks client-truststore.jks
    ) || { rm -rf "$work"; die "making the test certificates failed"; }
    touch "$work/.complete"
    mv "$work" "$TLS"
    log "made the test CA and stores in $TLS in $((SECONDS - started))s"
}

# --- Kerberos ------------------------------------------------------------------------
# Sets KRB_BIN to the Kerberos tools' folder; 1 (and KRB_BIN empty) when Kerberos is off, or the
# tools cannot be had and ONFS_KAFKA_KERBEROS is not "on".
kerberos_tools() {
    KRB_BIN=""
    case "$KERBEROS" in
        off | 0 | false) return 1 ;;
        on | 1 | true | auto) ;;
        *) die "ONFS_KAFKA_KERBEROS must be auto, on or off, not '$KERBEROS'" ;;
    esac
    local out
    if out="$("$(dirname "${BASH_SOURCE[0]}")/kerberos.sh" 2>>"$STATE/kerberos-tools.log")" \
        && [[ -x "$(tail -n 1 <<<"$out")/krb5kdc" ]]; then
        KRB_BIN="$(tail -n 1 <<<"$out")"
        return 0
    fi
    [[ "$KERBEROS" == auto ]] || die "scripts/kerberos.sh failed (log: $STATE/kerberos-tools.log)"
    log "no Kerberos listener: scripts/kerberos.sh could not unpack MIT Kerberos (log: $STATE/kerberos-tools.log)"
    return 1
}

# Runs a Kerberos tool on the test realm's configuration.
krb() {
    local tool="$1"
    shift
    KRB5_CONFIG="$KRB/krb5.conf" KRB5_KDC_PROFILE="$KRB/kdc.conf" "$KRB_BIN/$tool" "$@"
}

# The clients' krb5.conf and the KDC's kdc.conf, for the KDC's current port (every start). No DNS,
# no reverse lookups: a service's host is the name the client connects to (127.0.0.1).
write_krb5_configs() {
    mkdir -p "$KRB"
    # The unpacked database module (the tools look in /usr/lib/... otherwise).
    local modules
    modules="$(find "$KRB_BIN/../root/usr/lib" -path '*/krb5/plugins/kdb/db2.so' | head -n 1)"
    [[ -n "$modules" ]] || die "no db2.so under $KRB_BIN/../root: rerun scripts/kerberos.sh"
    modules="$(cd "$(dirname "$modules")" && pwd)"
    cat >"$KRB/krb5.conf.tmp" <<KRB5
# generated by scripts/kafka-test-broker.sh -- rewritten on every start
[libdefaults]
    default_realm = $KRB_REALM
    dns_lookup_realm = false
    dns_lookup_kdc = false
    dns_canonicalize_hostname = false
    rdns = false
    udp_preference_limit = 1
    ticket_lifetime = 1h
    renew_lifetime = 1d
[realms]
    $KRB_REALM = {
        kdc = 127.0.0.1:$KDC_PORT
    }
[domain_realm]
    127.0.0.1 = $KRB_REALM
    localhost = $KRB_REALM
KRB5
    mv -f "$KRB/krb5.conf.tmp" "$KRB/krb5.conf"
    cat >"$KRB/kdc.conf.tmp" <<KDC
# generated by scripts/kafka-test-broker.sh -- rewritten on every start
[kdcdefaults]
    kdc_listen = 127.0.0.1:$KDC_PORT
    kdc_tcp_listen = 127.0.0.1:$KDC_PORT
[realms]
    $KRB_REALM = {
        database_name = $KRB/principal
        key_stash_file = $KRB/stash
        acl_file = $KRB/kadm5.acl
        max_life = 1d
        max_renewable_life = 7d
        supported_enctypes = aes256-cts-hmac-sha1-96:normal aes128-cts-hmac-sha1-96:normal
    }
[dbmodules]
    db_module_dir = $modules
[logging]
    kdc = FILE:$KDC_LOG
    admin_server = FILE:$KRB/kadmin.log
    default = FILE:$KRB/krb5lib.log
KDC
    mv -f "$KRB/kdc.conf.tmp" "$KRB/kdc.conf"
}

# The realm's database and keytabs, once per state dir: the broker's service principal, the
# client's principal and another one (whose keytab is a wrong credential for the client).
ensure_kdc_db() {
    [[ -f "$KRB_MARKER" ]] && return 0
    local started=$SECONDS master
    rm -f "$KRB"/principal* "$KRB/stash" "$KRB"/*.keytab
    : >"$KRB/kadm5.acl"
    # The database's master key: random, kept only in the stash file.
    master="$(head -c 24 /dev/urandom | base64 | tr -d '\n')"
    (
        umask 077
        krb kdb5_util create -s -r "$KRB_REALM" -P "$master" >"$KRB/setup.log" 2>&1 || exit 1
        local p
        # kadmin.local exits 0 whatever its query did: the keytabs are checked below.
        for p in "kafka/127.0.0.1" onfs other; do
            krb kadmin.local -r "$KRB_REALM" -q "addprinc -randkey $p@$KRB_REALM" \
                >>"$KRB/setup.log" 2>&1 || exit 1
            krb kadmin.local -r "$KRB_REALM" -q "ktadd -k $KRB/${p%%/*}.keytab $p@$KRB_REALM" \
                >>"$KRB/setup.log" 2>&1 || exit 1
        done
    ) || { tail -n 20 "$KRB/setup.log" >&2; die "making the Kerberos realm failed (log: $KRB/setup.log)"; }
    [[ -s "$KRB/kafka.keytab" && -s "$KRB/onfs.keytab" && -s "$KRB/other.keytab" ]] \
        || die "the Kerberos keytabs are missing (log: $KRB/setup.log)"
    touch "$KRB_MARKER"
    log "made the Kerberos realm $KRB_REALM and its keytabs in $KRB in $((SECONDS - started))s"
}

# The pid of this state dir's KDC, if it runs.
kdc_pid() {
    local pid=""
    [[ -f "$KDC_PIDFILE" ]] && pid="$(tr -dc '0-9' <"$KDC_PIDFILE")"
    [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 1
    if [[ -r "/proc/$pid/environ" ]]; then
        tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null \
            | grep -qxF "KRB5_KDC_PROFILE=$KRB/kdc.conf" || return 1
    fi
    printf '%s' "$pid"
}

stop_kdc() {
    local pid
    if pid="$(kdc_pid)"; then
        kill -TERM "$pid" 2>/dev/null || true
        local deadline=$((SECONDS + 10))
        while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
        log "KDC stopped (pid $pid)"
    fi
    rm -f "$KDC_PIDFILE"
}

# Starts the KDC (the ports known) unless it runs, and waits until it answers.
start_kdc() {
    kdc_pid >/dev/null && return 0
    write_krb5_configs
    ensure_kdc_db
    setsid nohup env KRB5_CONFIG="$KRB/krb5.conf" KRB5_KDC_PROFILE="$KRB/kdc.conf" \
        "$KRB_BIN/krb5kdc" -n -r "$KRB_REALM" </dev/null >>"$KDC_LOG" 2>&1 7>&- 8>&- &
    local pid=$! deadline=$((SECONDS + 15))
    echo "$pid" >"$KDC_PIDFILE"
    until port_open "$KDC_PORT"; do
        if ! kill -0 "$pid" 2>/dev/null || ((SECONDS >= deadline)); then
            tail -n 20 "$KDC_LOG" >&2 || true
            die "the KDC did not start on 127.0.0.1:$KDC_PORT (log: $KDC_LOG)"
        fi
        sleep 0.1
    done
    log "KDC for $KRB_REALM on 127.0.0.1:$KDC_PORT (pid $pid)"
}

# --- state helpers -------------------------------------------------------------
read_ports() {
    local k v name
    for name in "${PORT_NAMES[@]}"; do printf -v "$name" '%s' ""; done
    [[ -f "$PORTSFILE" ]] || return 1
    while IFS='=' read -r k v; do
        for name in "${PORT_NAMES[@]}"; do
            [[ "$k" == "$name" ]] && printf -v "$name" '%s' "$v"
        done
    done <"$PORTSFILE"
    for name in "${PORT_NAMES[@]}"; do
        [[ -n "${!name}" ]] || return 1
    done
}

# 0 if something accepts TCP connections on 127.0.0.1:$1.
port_open() {
    timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"' _ "$1" >/dev/null 2>&1
}

pick_ports() {
    local out n=${#PORT_NAMES[@]}
    if command -v python3 >/dev/null 2>&1; then
        out="$(python3 - "$n" <<'EOF'
import random, socket, sys
socks = []
for _ in range(int(sys.argv[1]) - 1):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    socks.append(s)
# The last, the fault proxy's port, stays unlistened between tests: below the ephemeral range,
# so no outgoing connection takes it as its local port meanwhile.
try:
    low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
except OSError:
    low = 32768
while True:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", random.randrange(10000, max(low, 10001))))
        socks.append(s)
        break
    except OSError:
        s.close()
print(" ".join(str(s.getsockname()[1]) for s in socks))
for s in socks:
    s.close()
EOF
)"
    else
        local p ports=()
        while ((${#ports[@]} < n)); do
            p=$((20000 + RANDOM % 30000))
            if ! port_open "$p" && [[ " ${ports[*]:-} " != *" $p "* ]]; then
                ports+=("$p")
            fi
        done
        out="${ports[*]}"
    fi
    read -r "${PORT_NAMES[@]}" <<<"$out"
    local name
    : >"$PORTSFILE.tmp"
    for name in "${PORT_NAMES[@]}"; do
        [[ -n "${!name}" ]] || die "could not pick free ports"
        printf '%s=%s\n' "$name" "${!name}" >>"$PORTSFILE.tmp"
    done
    mv -f "$PORTSFILE.tmp" "$PORTSFILE"
}

ports_free() {
    local name
    for name in "${PORT_NAMES[@]}"; do
        # The proxy's port is the tests' (a proxy may listen there while the broker restarts).
        [[ "$name" == PROXY_PORT ]] && continue
        ! port_open "${!name}" || return 1
    done
}

all_ports() {
    local name out=""
    for name in "${PORT_NAMES[@]}"; do out+="${out:+/}${!name}"; done
    printf '%s' "$out"
}

read_pid() {
    local pid=""
    [[ -f "$PIDFILE" ]] && pid="$(tr -dc '0-9' <"$PIDFILE")"
    printf '%s' "$pid"
}

# 0 if $1 is a live kafka.Kafka process started from this state dir.
is_our_broker() {
    local pid="$1"
    [[ -n "$pid" ]] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    if [[ -r "/proc/$pid/cmdline" ]]; then
        local cmd
        cmd="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)"
        [[ "$cmd" == *kafka.Kafka*"$PROPS"* ]] || return 1
    fi
    return 0
}

running_pid() {
    local pid
    pid="$(read_pid)"
    if is_our_broker "$pid"; then
        printf '%s' "$pid"
        return 0
    fi
    return 1
}

cluster_id() {
    if [[ ! -s "$CLUSTER_ID_FILE" ]]; then
        # Kafka cluster ids are 16 random bytes, base64url without padding (22 chars). One in 64
        # starts with '-', which the storage tool would read as an option: such a first
        # character (any of the 64 encodes the top 6 bits) is replaced by a letter.
        head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n' | sed 's/^-/A/' >"$CLUSTER_ID_FILE"
    fi
    sed 's/^-/A/' "$CLUSTER_ID_FILE"
}

# Escapes a value for use inside a double-quoted JAAS option.
jaas_quote() {
    local s="$1"
    s="${s//\\/\\\\}"
    s="${s//\"/\\\"}"
    printf '%s' "$s"
}

write_configs() {
    mkdir -p "$STATE/data"
    local user pass jaas_server jaas_client
    user="$(jaas_quote "$SASL_USER")"
    pass="$(jaas_quote "$SASL_PASSWORD")"
    jaas_server="org.apache.kafka.common.security.plain.PlainLoginModule required user_${user}=\"${pass}\";"
    jaas_client="org.apache.kafka.common.security.plain.PlainLoginModule required username=\"${user}\" password=\"${pass}\";"
    # Backslashes are escape characters in .properties files.
    jaas_server="${jaas_server//\\/\\\\}"
    jaas_client="${jaas_client//\\/\\\\}"
    local client_listeners="PLAINTEXT://127.0.0.1:$PORT,SASL_PLAINTEXT://127.0.0.1:$SASL_PORT"
    client_listeners+=",SSL://127.0.0.1:$SSL_PORT,MTLS://127.0.0.1:$MTLS_PORT"
    client_listeners+=",SASL_SSL://127.0.0.1:$SASL_SSL_PORT,OTHER_NAME://127.0.0.1:$OTHER_NAME_PORT"
    local kerberos_props=""
    if [[ -n "$KRB_BIN" ]]; then
        client_listeners+=",KERBEROS://127.0.0.1:$KERBEROS_PORT"
        kerberos_props="listener.name.kerberos.sasl.enabled.mechanisms=GSSAPI
listener.name.kerberos.gssapi.sasl.jaas.config=com.sun.security.auth.module.Krb5LoginModule required useKeyTab=true storeKey=true keyTab=\"$KRB/kafka.keytab\" principal=\"kafka/127.0.0.1@$KRB_REALM\";
sasl.kerberos.service.name=kafka"
    fi
    # The proxied listener advertises the fault proxy's port, not the one it listens on.
    local listeners="$client_listeners,PROXIED://127.0.0.1:$PROXIED_PORT"
    local advertised="$client_listeners,PROXIED://127.0.0.1:$PROXY_PORT"

    cat >"$PROPS.tmp" <<EOF
# generated by scripts/kafka-test-broker.sh -- rewritten on every start
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$CONTROLLER_PORT
listeners=$listeners,CONTROLLER://127.0.0.1:$CONTROLLER_PORT
advertised.listeners=$advertised
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,SSL:SSL,MTLS:SSL,SASL_SSL:SASL_SSL,OTHER_NAME:SSL,KERBEROS:SASL_PLAINTEXT,PROXIED:PLAINTEXT
sasl.enabled.mechanisms=PLAIN
listener.name.sasl_plaintext.sasl.enabled.mechanisms=PLAIN
listener.name.sasl_plaintext.plain.sasl.jaas.config=$jaas_server
listener.name.sasl_ssl.sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512
listener.name.sasl_ssl.plain.sasl.jaas.config=$jaas_server
listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
$kerberos_props
ssl.keystore.type=PKCS12
ssl.keystore.location=$TLS/server-keystore.p12
ssl.keystore.password=$TLS_PASSWORD
ssl.key.password=$TLS_PASSWORD
ssl.truststore.type=PKCS12
ssl.truststore.location=$TLS/truststore.p12
ssl.truststore.password=$TLS_PASSWORD
ssl.client.auth=none
listener.name.mtls.ssl.client.auth=required
listener.name.other_name.ssl.keystore.type=PKCS12
listener.name.other_name.ssl.keystore.location=$TLS/other-name-keystore.p12
listener.name.other_name.ssl.keystore.password=$TLS_PASSWORD
listener.name.other_name.ssl.key.password=$TLS_PASSWORD
log.dirs=$STATE/data
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=$AUTO_CREATE
delete.topic.enable=true
# After a kill -9 the controller refuses to register the restarted broker until the
# old incarnation's session expires (default 9 s, plus retry backoff): keep it short.
broker.heartbeat.interval.ms=500
broker.session.timeout.ms=3000
EOF
    if [[ -n "${ONFS_KAFKA_EXTRA_CONFIG:-}" ]]; then
        printf '# ONFS_KAFKA_EXTRA_CONFIG\n%s\n' "$ONFS_KAFKA_EXTRA_CONFIG" >>"$PROPS.tmp"
    fi
    mv -f "$PROPS.tmp" "$PROPS"

    cat >"$CLIENT_SASL_PROPS" <<EOF
security.protocol=SASL_PLAINTEXT
sasl.mechanism=PLAIN
sasl.jaas.config=$jaas_client
EOF

    cat >"$SERVER_LOG4J" <<'EOF'
log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.org.apache.kafka=INFO
log4j.logger.kafka=INFO
log4j.logger.kafka.request.logger=WARN
log4j.logger.state.change.logger=WARN
log4j.logger.kafka.log.LogCleaner=WARN
log4j.logger.org.apache.kafka.controller=INFO
EOF
}

write_env() {
    local pid="$1"
    cat >"$ENVFILE.tmp" <<EOF
ONFS_KAFKA_BOOTSTRAP=127.0.0.1:$PORT
ONFS_KAFKA_SASL_BOOTSTRAP=127.0.0.1:$SASL_PORT
ONFS_KAFKA_SSL_BOOTSTRAP=127.0.0.1:$SSL_PORT
ONFS_KAFKA_MTLS_BOOTSTRAP=127.0.0.1:$MTLS_PORT
ONFS_KAFKA_SASL_SSL_BOOTSTRAP=127.0.0.1:$SASL_SSL_PORT
ONFS_KAFKA_OTHER_NAME_BOOTSTRAP=127.0.0.1:$OTHER_NAME_PORT
ONFS_KAFKA_PROXIED_LISTENER=127.0.0.1:$PROXIED_PORT
ONFS_KAFKA_PROXIED_BOOTSTRAP=127.0.0.1:$PROXY_PORT
ONFS_KAFKA_TLS_DIR=$TLS
ONFS_KAFKA_TLS_PASSWORD=$TLS_PASSWORD
ONFS_KAFKA_TLS_KEY_PASSWORD=$TLS_KEY_PASSWORD
ONFS_KAFKA_LIBS=$LIBS
ONFS_KAFKA_PID=$pid
ONFS_KAFKA_STATE=$STATE
EOF
    if [[ -n "$KRB_BIN" ]]; then
        cat >>"$ENVFILE.tmp" <<EOF
ONFS_KAFKA_KERBEROS_BOOTSTRAP=127.0.0.1:$KERBEROS_PORT
ONFS_KAFKA_KERBEROS_PRINCIPAL=onfs@$KRB_REALM
ONFS_KAFKA_KERBEROS_KEYTAB=$KRB/onfs.keytab
ONFS_KAFKA_KERBEROS_OTHER_KEYTAB=$KRB/other.keytab
ONFS_KAFKA_KRB5_CONFIG=$KRB/krb5.conf
ONFS_KAFKA_KERBEROS_BIN=$KRB_BIN
EOF
    fi
    mv -f "$ENVFILE.tmp" "$ENVFILE"
}

listeners_open() {
    local name
    for name in "${PORT_NAMES[@]}"; do
        # The controller answers late; nothing listens on the proxy's port but a test's proxy;
        # the KDC is up before the broker starts; no Kerberos listener without Kerberos.
        case "$name" in
            CONTROLLER_PORT | PROXY_PORT | KDC_PORT) continue ;;
            KERBEROS_PORT) [[ -n "$KRB_BIN" ]] || continue ;;
        esac
        port_open "${!name}" || return 1
    done
}

# Waits until the broker logs that it started and its listener accepts connections.
wait_ready() {
    local pid="$1" deadline=$((SECONDS + START_TIMEOUT))
    while ((SECONDS < deadline)); do
        if ! kill -0 "$pid" 2>/dev/null; then
            log "broker (pid $pid) exited during startup; last log lines from $LOGFILE:"
            tail -n 60 "$LOGFILE" >&2 || true
            exit 1
        fi
        if grep -q 'Kafka Server started' "$LOGFILE" 2>/dev/null && listeners_open; then
            return 0
        fi
        sleep 0.25
    done
    log "broker (pid $pid) did not start within ${START_TIMEOUT}s; last log lines from $LOGFILE:"
    tail -n 60 "$LOGFILE" >&2 || true
    exit 1
}

# --- commands ------------------------------------------------------------------
# $1 = "any" (reuse previous ports if free, else pick new) or "same" (must reuse them)
do_start() {
    local mode="$1" pid
    lock_state
    ensure_libs
    need "$JAVA_BIN"

    if pid="$(running_pid)"; then
        read_ports || die "broker pid $pid is running but $PORTSFILE is missing or broken"
        # Its Kerberos listener, if it was started with one, needs the KDC.
        if grep -q '^listeners=.*KERBEROS://' "$PROPS" 2>/dev/null; then
            kerberos_tools || die "the broker has a Kerberos listener, but Kerberos is off or its tools are missing"
            start_kdc
        fi
        wait_ready "$pid"
        write_env "$pid"
        log "broker already running (pid $pid)"
        echo "127.0.0.1:$PORT"
        return 0
    fi
    rm -f "$PIDFILE"
    # A KDC left by a killed broker: its port is checked like the others below.
    stop_kdc

    if read_ports; then
        if ! ports_free; then
            if [[ "$mode" == same ]]; then
                die "ports $(all_ports) from $PORTSFILE are in use by another process"
            fi
            log "previous ports $(all_ports) are busy; picking new ones"
            pick_ports
        fi
    else
        [[ "$mode" == same ]] && die "no previous state in $STATE (run 'start' first)"
        pick_ports
    fi

    ensure_certs
    if kerberos_tools; then
        start_kdc
    fi
    write_configs
    local cid
    cid="$(cluster_id)"
    if [[ ! -f "$STATE/data/meta.properties" ]]; then
        log "formatting storage in $STATE/data (cluster id $cid)"
    fi
    if ! "$JAVA_BIN" -Xmx256M -cp "$LIBS/*" -Dlog4j.configuration="file:$TOOLS_LOG4J" \
        kafka.tools.StorageTool format --cluster-id="$cid" -c "$PROPS" --ignore-formatted \
        --add-scram "SCRAM-SHA-256=[name=$SASL_USER,password=$SASL_PASSWORD]" \
        --add-scram "SCRAM-SHA-512=[name=$SASL_USER,password=$SASL_PASSWORD]" \
        >"$STATE/format.log" 2>&1; then
        cat "$STATE/format.log" >&2
        die "kafka storage format failed"
    fi

    [[ -f "$LOGFILE" ]] && mv -f "$LOGFILE" "$LOGFILE.prev"
    log "starting Kafka $KAFKA_VERSION: PLAINTEXT 127.0.0.1:$PORT, SASL_PLAINTEXT 127.0.0.1:$SASL_PORT, SSL 127.0.0.1:$SSL_PORT, mutual TLS 127.0.0.1:$MTLS_PORT, SASL_SSL 127.0.0.1:$SASL_SSL_PORT, SSL (other name) 127.0.0.1:$OTHER_NAME_PORT,${KRB_BIN:+ Kerberos 127.0.0.1:$KERBEROS_PORT,} proxied 127.0.0.1:$PROXIED_PORT (advertised as 127.0.0.1:$PROXY_PORT), controller 127.0.0.1:$CONTROLLER_PORT (state $STATE)"
    # setsid: own session, so the broker survives this script and its terminal;
    # 7>&- 8>&-: do not leak the lock fds into the long-running broker.
    setsid nohup "$JAVA_BIN" -Xmx1G -Xms512M -server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
        -Djava.awt.headless=true \
        ${KRB_BIN:+"-Djava.security.krb5.conf=$KRB/krb5.conf"} \
        -Dlog4j.configuration="file:$SERVER_LOG4J" \
        -cp "$LIBS/*" kafka.Kafka "$PROPS" \
        </dev/null >"$LOGFILE" 2>&1 7>&- 8>&- &
    pid=$!
    echo "$pid" >"$PIDFILE"
    wait_ready "$pid"
    write_env "$pid"
    log "broker started (pid $pid); env in $ENVFILE"
    echo "127.0.0.1:$PORT"
}

do_stop() {
    local clean=0 arg pid
    for arg in "$@"; do
        case "$arg" in
            --clean) clean=1 ;;
            *) die "stop: unknown argument '$arg'" ;;
        esac
    done
    lock_state
    if pid="$(running_pid)"; then
        log "stopping broker (pid $pid)"
        kill -TERM "$pid" 2>/dev/null || true
        local deadline=$((SECONDS + STOP_TIMEOUT))
        while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do
            sleep 0.2
        done
        if kill -0 "$pid" 2>/dev/null; then
            log "broker did not exit within ${STOP_TIMEOUT}s after SIGTERM; sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
            while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
        fi
        log "broker stopped"
    else
        log "no broker running for $STATE"
    fi
    stop_kdc
    rm -f "$PIDFILE" "$ENVFILE"
    if ((clean)); then
        case "$STATE" in
            "" | / | "$HOME" | "$HOME/") die "refusing to delete state dir '$STATE'" ;;
        esac
        log "deleting $STATE"
        rm -rf "$STATE"
    fi
}

do_kill9() {
    local pid
    lock_state
    if pid="$(running_pid)"; then
        log "SIGKILL broker (pid $pid)"
        kill -KILL "$pid" 2>/dev/null || true
        while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
    else
        log "no broker running for $STATE"
    fi
    rm -f "$PIDFILE" "$ENVFILE"
}

do_restart() {
    if running_pid >/dev/null; then
        do_stop
    fi
    do_start same
}

do_status() {
    local pid
    if pid="$(running_pid)" && read_ports && port_open "$PORT"; then
        log "running (pid $pid)"
        echo "127.0.0.1:$PORT"
        return 0
    fi
    log "not running"
    return 1
}

bootstrap_or_die() {
    running_pid >/dev/null || die "no broker running for $STATE (run 'start' first)"
    read_ports || die "$PORTSFILE missing"
    printf '127.0.0.1:%s' "$PORT"
}

do_topic() {
    (($# == 2)) || die "usage: topic NAME PARTITIONS"
    local name="$1" parts="$2" bs
    [[ "$parts" =~ ^[0-9]+$ ]] || die "PARTITIONS must be a number, got '$parts'"
    bs="$(bootstrap_or_die)"
    ensure_libs
    run_class org.apache.kafka.tools.TopicCommand --bootstrap-server "$bs" \
        --create --if-not-exists --topic "$name" --partitions "$parts" --replication-factor 1
}

main() {
    (($# >= 1)) || usage
    local cmd="$1"
    shift
    case "$cmd" in
        start) (($# == 0)) || die "start takes no arguments"; do_start any ;;
        stop) do_stop "$@" ;;
        kill9) do_kill9 ;;
        restart) do_restart ;;
        status) do_status ;;
        topic) do_topic "$@" ;;
        perf) ensure_libs; run_class org.apache.kafka.tools.ProducerPerformance "$@" ;;
        run-class) (($# >= 1)) || die "usage: run-class CLASS ARGS..."; ensure_libs; run_class "$@" ;;
        fetch) ensure_libs; echo "$LIBS" ;;
        -h | --help | help) usage ;;
        *) log "unknown command '$cmd'"; usage ;;
    esac
}

main "$@"
