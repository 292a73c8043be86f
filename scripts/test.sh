#!/usr/bin/env bash
# Runs every check and test of onfs-push: formatting, clippy, then all tests against a real
# Kafka broker (started here from Maven Central jars, stopped at the end): the Rust workspace,
# then the Python package on a real local PySpark.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/onfs-push/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

scripts/setup.sh

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
# With the service tests (compiled only with onfs-cli's service-tests feature) and without.
cargo clippy --workspace --all-targets --locked --features onfs-cli/service-tests -- -D warnings
cargo clippy -p onfs-cli --all-targets --locked -- -D warnings

echo "== test broker"
export ONFS_KAFKA_DIR="${ONFS_KAFKA_DIR:-$(mktemp -d /tmp/onfs-kafka-ci.XXXXXX)}"
ONFS_KAFKA_AUTO_CREATE=false scripts/kafka-test-broker.sh start | tail -n 1
cleanup() { scripts/kafka-test-broker.sh stop --clean >/dev/null 2>&1 || true; }
trap cleanup EXIT
# Every listener's address, the TLS stores and their passwords, for the tests.
set -a
# shellcheck disable=SC1091
source "$ONFS_KAFKA_DIR/env"
set +a

echo "== object store emulators (moto, Azurite)"
export ONFS_SERVICES_DIR="${ONFS_SERVICES_DIR:-$(mktemp -d /tmp/onfs-services-ci.XXXXXX)}"
scripts/test-services.sh start >/dev/null
cleanup() {
    scripts/kafka-test-broker.sh stop --clean >/dev/null 2>&1 || true
    scripts/test-services.sh stop --clean >/dev/null 2>&1 || true
}

echo "== cargo test"
# Every test, those that need the services above included.
cargo test --workspace --locked --features onfs-cli/service-tests
echo "== python package (onfs_push) and its tests on PySpark, classic and Spark Connect"
py="$(scripts/python-env.sh | tail -n 1)"
export PATH="$(dirname "$py"):$PATH"
python -m pip install -q --no-build-isolation --force-reinstall --no-deps ./python
# A process holds one kind of Spark session: the Spark Connect tests run on their own. Run from
# the repository root with `pytest` (not `python -m pytest`, not from python/): the driver and
# Spark's Python workers import the installed package, not the source folder.
pytest -q -c python/pytest.ini -m "not connect"
pytest -q -c python/pytest.ini -m connect

echo "== benchmarks build"
cargo bench -p onfs-core --locked --no-run
