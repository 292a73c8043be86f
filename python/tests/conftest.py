"""Shared fixtures: the reference cases, a real metadata HTTP server, the test Kafka broker (the
project's script), and local Spark sessions (classic and Spark Connect) with the Kafka connector."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

REPO = Path(__file__).resolve().parents[2]
CASES = REPO / "testdata" / "reference"
SCRIPTS = REPO / "scripts"


EXAMPLE = REPO / "examples" / "user-features"


def case_dir(name: str) -> Path:
    """A reference case (the original's output), or "example" for examples/user-features, whose
    data follows the online store's rules (one length per vector feature)."""
    return EXAMPLE if name == "example" else CASES / name


def input_of(name: str) -> Path:
    return case_dir(name) / ("features.parquet" if name == "example" else "input.parquet")


def expected_messages(name: str):
    with open(case_dir(name) / "expected" / "messages.jsonl") as f:
        return [json.loads(line) for line in f]


class MetadataServer:
    """Answers `POST ?jobId=&jobToken=` with a case's metadata.json, as the metadata service does."""

    def __init__(self, body: bytes, status: int = 200, token: str = "test-token"):
        self.body, self.status, self.token, self.requests = body, status, token, []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                query = parse_qs(urlparse(self.path).query)
                outer.requests.append(query)
                ok = query.get("jobToken") == [outer.token]
                status = outer.status if ok else 401
                body = outer.body if status == 200 else json.dumps(
                    {"error": f"bad token {query.get('jobToken')}"}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/api/v1/orion/get-source-mapping"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def metadata_server():
    servers = []

    def start(case: str, **kw) -> MetadataServer:
        s = MetadataServer((case_dir(case) / "metadata.json").read_bytes(), **kw)
        servers.append(s)
        return s

    yield start
    for s in servers:
        s.close()


# --- Kafka ------------------------------------------------------------------------------------

def _broker_script(*args: str) -> str:
    out = subprocess.run(["bash", str(SCRIPTS / "kafka-test-broker.sh"), *args], check=True,
                         capture_output=True, text=True, env={**os.environ, "ONFS_KAFKA_AUTO_CREATE": "false"})
    return out.stdout.strip().splitlines()[-1] if out.stdout.strip() else ""


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    """The broker `scripts/test.sh` started, or one started here (and left for the next run);
    its SASL listener's address goes to `ONFS_KAFKA_SASL_BOOTSTRAP`."""
    if not os.environ.get("ONFS_KAFKA_BOOTSTRAP"):
        _broker_script("start")
        state = Path(os.environ.get("ONFS_KAFKA_DIR", "/tmp/onfs-kafka-test"))
        for line in (state / "env").read_text().splitlines():
            key, _, value = line.partition("=")
            if key in ("ONFS_KAFKA_BOOTSTRAP", "ONFS_KAFKA_SASL_BOOTSTRAP"):
                os.environ[key] = value.strip('"')
    return os.environ["ONFS_KAFKA_BOOTSTRAP"]


@pytest.fixture
def topic(kafka_bootstrap):
    def make(partitions: int = 1) -> str:
        name = f"py-{uuid.uuid4().hex[:12]}"
        _broker_script("topic", name, str(partitions))
        return name

    return make


# --- Object store emulators ------------------------------------------------------------------

@pytest.fixture(scope="session")
def object_stores() -> dict:
    """moto (S3) and Azurite, as `scripts/test.sh` started them (or started here, and left for
    the next run): the KEY=VALUE lines of their env file (`ONFS_S3_ENDPOINT` ...)."""
    out = subprocess.run(["bash", str(SCRIPTS / "test-services.sh"), "start", "moto", "azurite"], check=True,
                         capture_output=True, text=True)
    env_file = Path(out.stdout.strip().splitlines()[-1])
    return dict(line.split("=", 1) for line in env_file.read_text().splitlines() if "=" in line)


# --- Spark ------------------------------------------------------------------------------------

def _spark_jars() -> str:
    out = subprocess.run(["bash", str(SCRIPTS / "spark-jars.sh")], check=True, capture_output=True, text=True)
    return out.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="session")
def kafka_jars() -> str:
    return _spark_jars()


def _common_env():
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")


@pytest.fixture(scope="session")
def spark(kafka_jars):
    """A classic local[2] session with Spark's Kafka connector on the classpath."""
    _common_env()
    from pyspark.sql import SparkSession

    session = (SparkSession.builder.master("local[2]").appName("onfs-push-tests")
               .config("spark.jars", kafka_jars)
               .config("spark.sql.shuffle.partitions", "2")
               .config("spark.ui.enabled", "false")
               .config("spark.driver.memory", "1g")
               .getOrCreate())
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def connect(kafka_jars):
    """A local Spark Connect session (`remote("local[2]")`), with the Kafka connector. A process
    holds either a classic session or a Connect one: these tests run in their own pytest run
    (`-m connect`, as scripts/test.sh does)."""
    _common_env()
    from pyspark import SparkContext
    from pyspark.sql import SparkSession

    if SparkContext._active_spark_context is not None:
        pytest.fail("a classic Spark session is running in this process; run the Spark Connect tests "
                    "on their own: pytest -m connect")
    session = (SparkSession.builder.remote("local[2]").config("spark.jars", kafka_jars)
               .config("spark.sql.shuffle.partitions", "2").getOrCreate())
    yield session
    session.stop()


@pytest.fixture(params=["classic", pytest.param("connect", marks=pytest.mark.connect)])
def session(request):
    """Each test that takes it runs on a classic session and on Spark Connect."""
    return request.getfixturevalue("spark" if request.param == "classic" else "connect")


def read_topic(spark, kafka_bootstrap: str, topic: str):
    """Every record of a topic, read back with Spark's Kafka source: [(value bytes, partition)]."""
    rows = (spark.read.format("kafka").option("kafka.bootstrap.servers", kafka_bootstrap)
            .option("subscribe", topic).option("startingOffsets", "earliest")
            .option("endingOffsets", "latest").load().select("value", "partition").collect())
    return [(bytes(r.value), r.partition) for r in rows]


def wait_for(predicate, timeout: float = 30.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False
