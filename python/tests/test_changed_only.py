"""Changed-only pushes from Spark over the push ledger the command line keeps (`state=`,
`changed_only=True`): exactly the groups that changed are sent, the ledger is committed only after
delivery, and a job moves between the command line and Spark without a full push. Against the real
broker, the real command-line binary and a real local PySpark."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Dict, Optional

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from onfs_push import EncodeError, Plan, PushState, StateError, UsageError, ledger_side
from onfs_push.spark import push

from conftest import read_topic

ROOT = Path(__file__).resolve().parents[2]

# Two groups of one entity: `orders` (Int64) and `profile` (String).
META = json.dumps({"keys": {"user": ["user_id"]}, "data": [{"storage-provider": "TABLE", "base-path": [
    {"source-base-path": "db.users", "data-paths": [
        {"entity-label": "user", "feature-group-label": "orders", "feature-label": "n", "source-data-column": "n",
         "default-value": "0", "data-type": "DataTypeInt64"},
        {"entity-label": "user", "feature-group-label": "profile", "feature-label": "segment",
         "source-data-column": "segment", "default-value": "none", "data-type": "DataTypeString"}]}]}]})


def base_rows():
    return [(i, i * 10, "a" if i % 2 == 0 else "b") for i in range(10)]


def counts(new=0, changed=0, unchanged=0, refreshed=0):
    return {"new": new, "changed": changed, "unchanged": unchanged, "refreshed": refreshed}


@pytest.fixture(scope="module")
def onfs_push_bin() -> str:
    """The command line, as `cargo test` built it (built here when it is missing)."""
    target = Path(os.environ.get("CARGO_TARGET_DIR") or ROOT / "target")
    binary = target / "debug" / "onfs-push"
    if not binary.is_file():
        subprocess.run(["cargo", "build", "-q", "-p", "onfs-cli"], cwd=ROOT, check=True)
    return str(binary)


class Job:
    """A job of the two groups: its metadata file (the command line's job name), the table's
    partitions, the ledger's folder."""

    def __init__(self, tmp: Path, spark, bootstrap: str, binary: str, state: Optional[str] = None,
                 storage: Optional[Dict[str, str]] = None):
        self.tmp, self.spark, self.bootstrap, self.binary = tmp, spark, bootstrap, binary
        self.meta = tmp / "metadata.json"
        self.meta.write_text(META)
        self.plan = Plan.from_metadata_json(META)
        self.state = state or str(tmp / "state")
        self.storage = storage or {}
        self.days = 0

    @property
    def name(self) -> str:
        return str(self.meta)

    def cli(self, rows, topic: str) -> dict:
        """The command line's changed-only run over a new newest partition holding `rows`."""
        run, report = self.cli_run(rows, topic)
        assert run.returncode == 0, run.stderr
        return report

    def cli_run(self, rows, topic: str):
        """`cli`, whatever its outcome: the finished process and the job's report (None
        without one)."""
        self.days += 1
        day = self.tmp / "users" / f"process_date=2026-11-{self.days:02d}"
        day.mkdir(parents=True)
        ids, n, seg = zip(*rows)
        pq.write_table(pa.table({"user_id": pa.array(ids, pa.int64()), "n": pa.array(n, pa.int64()),
                                 "segment": pa.array(seg, pa.string())}), day / "part-0.parquet")
        report = self.tmp / f"report-{self.days}.json"
        options = [a for k, v in self.storage.items() for a in ("--storage-option", f"{k}={v}")]
        run = subprocess.run([self.binary, "run", "--metadata-file", self.name, "--table",
                              f"db.users={self.tmp / 'users'}", "--state", self.state, *options, "--changed-only",
                              "--batch-size", "4", "--kafka-brokers", self.bootstrap, "--topic", topic, "--report",
                              str(report)], capture_output=True, text=True)
        return run, json.loads(report.read_text())["jobs"][0] if run.returncode == 0 else None

    def df(self, rows, partitions: int = 2):
        columns = self.plan.input_columns()
        return self.spark.createDataFrame(rows, f"{columns[0]} long, {columns[1]} long, {columns[2]} string") \
            .repartition(partitions)

    def unordered_df(self, rows, partitions: int):
        """`df(rows)` whose rows come in another order at each read (as a shuffle's output on a
        cluster does): each batch's rows are permuted at random when read."""

        def permuted(batches):
            import random

            for batch in batches:
                order = list(range(batch.num_rows))
                random.shuffle(order)
                yield batch.take(pa.array(order, pa.int64()))

        df = self.df(rows, partitions)
        return df.mapInArrow(permuted, df.schema)

    def spark_push(self, rows, topic: str, partitions: int = 2, unordered: bool = False, **kw) -> dict:
        df = self.unordered_df(rows, partitions) if unordered else self.df(rows, partitions)
        return push(df, self.plan, self.bootstrap, topic, intra_batch_size=4, state=self.state,
                    job=self.name, changed_only=True, storage_options=self.storage or None, **kw)

    def head(self) -> bytes:
        (job_dir,) = [p for p in Path(self.state).iterdir() if p.is_dir()]
        return (job_dir / "HEAD.json").read_bytes()


def sent(spark, bootstrap: str, topic: str):
    """Each row sent to `topic`: key -> {group: value}; a key sent twice fails."""
    from bharatml_commons.proto.persist.persist_pb2 import Query

    rows = {}
    for value, _ in read_topic(spark, bootstrap, topic):
        q = Query.FromString(value)
        for d in q.data:
            groups = {}
            for schema, values in zip(q.feature_group_schema, d.feature_values):
                v = values.values
                groups[schema.label] = str(v.int64_values[0]) if len(v.int64_values) else v.string_values[0]
            key = int(d.key_values[0])
            assert key not in rows, f"key {key} sent twice"
            rows[key] = groups
    return rows


@pytest.fixture
def job(session, kafka_bootstrap, tmp_path, onfs_push_bin):
    """On a classic session and on Spark Connect."""
    return Job(tmp_path, session, kafka_bootstrap, onfs_push_bin)


def test_only_the_groups_that_changed_are_sent_and_the_ledger_follows(job, kafka_bootstrap, topic):
    spark = job.spark
    first = topic()
    report = job.spark_push(base_rows(), first)
    assert report["delivered_rows"] == 10 and report["unchanged_rows"] == 0
    assert report["changed_only"] == {"orders": counts(new=10), "profile": counts(new=10)}
    assert sent(spark, kafka_bootstrap, first) == {i: {"orders": str(i * 10), "profile": "a" if i % 2 == 0 else "b"}
                                                   for i in range(10)}
    # The same data: nothing is sent.
    again = topic()
    report = job.spark_push(base_rows(), again)
    assert report["messages"] == 0 and report["unchanged_rows"] == 10
    assert report["changed_only"] == {"orders": counts(unchanged=10), "profile": counts(unchanged=10)}
    assert sent(spark, kafka_bootstrap, again) == {}
    # One feature of 3 entities, the other group of 2 more: exactly those groups of those entities.
    rows = [(i, n + 1 if i in (1, 2, 3) else n, "z" if i in (7, 8) else s) for i, n, s in base_rows()]
    changes = topic()
    report = job.spark_push(rows, changes)
    assert report["changed_only"] == {"orders": counts(changed=3, unchanged=7),
                                      "profile": counts(changed=2, unchanged=8)}
    assert sent(spark, kafka_bootstrap, changes) == {1: {"orders": "11"}, 2: {"orders": "21"}, 3: {"orders": "31"},
                                                     7: {"profile": "z"}, 8: {"profile": "z"}}
    # A refresh interval that has passed sends every group again, counted as refreshed.
    refreshed = topic()
    report = job.spark_push(rows, refreshed, refresh_after=0)
    assert report["changed_only"]["orders"] == counts(refreshed=10)
    assert len(sent(spark, kafka_bootstrap, refreshed)) == 10


def moves_between_the_command_line_and_spark(job, kafka_bootstrap, topic):
    """Runs of the command line and of Spark on one ledger, in turn: each sends only what the
    other had not. Returns the rows last pushed."""
    spark = job.spark
    # The command line pushes everything; Spark, on the same rows, sends nothing.
    first = job.cli(base_rows(), topic())
    assert first["changed_only"]["orders"]["new"] == 10
    nothing = topic()
    report = job.spark_push(base_rows(), nothing)
    assert report["messages"] == 0 and report["changed_only"]["profile"] == counts(unchanged=10)
    # Spark sends a change; the command line, on the same rows, then sends nothing.
    rows = [(i, n + 5 if i == 4 else n, s) for i, n, s in base_rows()]
    change = topic()
    job.spark_push(rows, change)
    assert sent(spark, kafka_bootstrap, change) == {4: {"orders": "45"}}
    after = topic()
    report = job.cli(rows, after)
    assert report["changed_only"]["orders"] == counts(unchanged=10)
    assert sent(spark, kafka_bootstrap, after) == {}
    # And the reverse: the command line's change is not sent again by Spark.
    rows = [(i, n, "q" if i == 9 else s) for i, n, s in rows]
    cli_change = topic()
    job.cli(rows, cli_change)
    assert sent(spark, kafka_bootstrap, cli_change) == {9: {"profile": "q"}}
    return rows


def test_a_job_moves_between_the_command_line_and_spark_without_a_full_push(job, kafka_bootstrap, topic):
    spark = job.spark
    rows = moves_between_the_command_line_and_spark(job, kafka_bootstrap, topic)
    # One key of ten: recorded as a change file, which Spark, reading the ledger's file, needs
    # written into the ledger first.
    assert len(json.loads(job.head()).get("changes", [])) == 1
    last = topic()
    report = job.spark_push(rows, last)
    assert report["messages"] == 0 and sent(spark, kafka_bootstrap, last) == {}
    assert "changes" not in json.loads(job.head())


def test_a_failed_push_leaves_the_ledger_and_gives_the_job_back(job, kafka_bootstrap, topic):
    spark = job.spark
    job.spark_push(base_rows(), topic())
    before = job.head()
    # A null feature fails the check pass after the job's lock was taken.
    rows = [(i, None if i == 3 else n, s) for i, n, s in base_rows()]
    broken = topic()
    with pytest.raises(EncodeError, match="is null for key user_id=3"):
        job.spark_push(rows, broken)
    assert job.head() == before
    assert sent(spark, kafka_bootstrap, broken) == {}
    # The job was given back, and the next run compares with the ledger as it was.
    report = job.spark_push(base_rows(), topic())
    assert report["messages"] == 0


def test_a_second_run_of_the_job_fails_at_once_naming_the_first(job, topic):
    holder = PushState.open(job.state, job.name, job.plan)
    try:
        with pytest.raises(StateError, match="is being pushed by another run"):
            job.spark_push(base_rows(), topic())
    finally:
        holder.release()
    assert job.spark_push(base_rows(), topic())["delivered_rows"] == 10


def test_bad_ledger_arguments_are_usage_errors(job, topic):
    name = topic()
    with pytest.raises(UsageError, match="needs state="):
        push(job.df(base_rows()), job.plan, job.bootstrap, name, changed_only=True)
    with pytest.raises(UsageError, match="needs job="):
        push(job.df(base_rows()), job.plan, job.bootstrap, name, changed_only=True, state=job.state)
    with pytest.raises(UsageError, match="not a duration"):
        job.spark_push(base_rows(), name, refresh_after="7 weeks")
    assert not Path(job.state).exists() or not any(Path(job.state).iterdir())


@pytest.mark.parametrize("how", [dict(spool=False), dict(check_first=False)], ids=["encode-twice", "no-check"])
def test_every_changed_row_lands_once_when_each_pass_encodes_again(job, kafka_bootstrap, topic, how):
    """Rounds (`kafka_num_batches`) each take every n-th message of their own pass over the
    joined rows: the passes must agree on the rows' order, or rows are sent twice or never,
    although the source gives its rows in another order at each read."""
    spark = job.spark
    rows = [(i, i * 10, "a" if i % 3 else "b") for i in range(600)]
    first = topic()
    report = job.spark_push(rows, first, partitions=4, kafka_num_batches=3, unordered=True, **how)
    assert report["delivered_rows"] == 600
    assert set(sent(spark, kafka_bootstrap, first)) == set(range(600))
    changed = [(i, n + 1 if i % 7 == 0 else n, s) for i, n, s in rows]
    second = topic()
    report = job.spark_push(changed, second, partitions=4, kafka_num_batches=3, unordered=True, **how)
    assert report["changed_only"]["orders"] == counts(changed=86, unchanged=514)
    assert sent(spark, kafka_bootstrap, second) == {i: {"orders": str(i * 10 + 1)} for i in range(0, 600, 7)}
    # The ledger holds every send: the same rows again send nothing.
    assert job.spark_push(changed, topic(), partitions=4, **how)["messages"] == 0


def test_a_relative_state_folder_is_the_same_ledger_as_its_absolute_path(job, kafka_bootstrap, topic, monkeypatch):
    monkeypatch.chdir(job.tmp)
    relative = push(job.df(base_rows()), job.plan, job.bootstrap, topic(), intra_batch_size=4, state="state",
                    job=job.name, changed_only=True)
    assert relative["changed_only"]["orders"] == counts(new=10)
    # Executors are given the folder as an absolute file:// URL.
    held = PushState.open("state", job.name, job.plan)
    try:
        assert held.location == Path(job.state).resolve().as_uri() + "/"
    finally:
        held.release()
    # The command line and Spark's executors find it under the absolute path.
    report = job.spark_push(base_rows(), topic())
    assert report["messages"] == 0 and report["unchanged_rows"] == 10


def test_a_local_state_folder_is_refused_on_a_cluster():
    """Spark's master is not local: executors on other hosts cannot share a local folder. (No
    cluster runs here; the session's settings are the only input of the rule.)"""
    from onfs_push.spark import _check_state_reachable

    class Conf:
        def __init__(self, master):
            self.master = master

        def get(self, key, default=None):
            assert key == "spark.master"
            return self.master

    class Session:
        def __init__(self, master):
            self.conf = Conf(master)

    with pytest.raises(UsageError, match="local folder, but Spark's master is yarn"):
        _check_state_reachable(Session("yarn"), "state")
    for fine in ("s3a://bucket/state", "file:///shared/state"):
        _check_state_reachable(Session("yarn"), fine)
    _check_state_reachable(Session("local[2]"), "/tmp/x/state")


@pytest.mark.parametrize("store", ["s3", "az"])
def test_the_ledger_on_an_object_store_is_shared_by_the_command_line_and_spark(
        session, kafka_bootstrap, tmp_path, onfs_push_bin, object_stores, topic, store):
    """The ledger on moto (S3) and Azurite, given to both by URL and storage options only: the
    executors read the ledger's file and write their sends through them (the session's own file
    systems know neither store), the driver compacts and commits through them, and the job's lock
    there stops a second run of either."""
    env = object_stores
    secret = "moto-secret-0000" if store == "s3" else env["ONFS_AZURE_KEY"]
    if store == "s3":
        storage = {"aws_endpoint": env["ONFS_S3_ENDPOINT"], "aws_allow_http": "true", "aws_region": "us-east-1",
                   "aws_access_key_id": "test-key", "aws_secret_access_key": secret}
    else:
        storage = {"azure_storage_endpoint": f"{env['ONFS_AZURE_ENDPOINT']}/{env['ONFS_AZURE_ACCOUNT']}",
                   "azure_allow_http": "true", "azure_storage_account_name": env["ONFS_AZURE_ACCOUNT"],
                   "azure_storage_account_key": secret}
    state = f"{store}://{env['ONFS_TEST_BUCKET']}/py-ledger-{tmp_path.name}-{os.getpid()}"
    job = Job(tmp_path, session, kafka_bootstrap, onfs_push_bin, state=state, storage=storage)
    spark = job.spark
    rows = moves_between_the_command_line_and_spark(job, kafka_bootstrap, topic)
    # The command line's last change is a change file beside the ledger, compacted by Spark's
    # driver on the store before the executors read the ledger: Spark sends only its own change.
    rows = [(i, n + 1 if i in (0, 1) else n, s) for i, n, s in rows]
    last = topic()
    report = job.spark_push(rows, last)
    assert report["changed_only"]["orders"] == counts(changed=2, unchanged=8)
    assert sent(spark, kafka_bootstrap, last) == {0: {"orders": "1"}, 1: {"orders": "11"}}
    # Another run holds the job: both fail at once naming it, and no secret is shown.
    holder = PushState.open(state, job.name, job.plan, storage)
    try:
        run, _ = job.cli_run(rows, topic())
        assert run.returncode == 1 and "being pushed by another run" in run.stderr, run.stderr
        assert holder.run_id in run.stderr, run.stderr
        with pytest.raises(StateError, match="being pushed by another run") as e:
            job.spark_push(rows, topic())
        for text in (run.stdout, run.stderr, str(e.value)):
            assert secret not in text
        # An executor's read of the ledger's file through the store: a wrong path or credential
        # is the store's error naming the file, without the secret.
        path, _ = holder.ledger_file
        tries = [("no-such-job/ledger.parquet", storage)]
        if store == "az":  # (moto takes any credential)
            tries.append((path, dict(storage, azure_storage_account_key="bm8tc3VjaC1rZXk=")))
        for where, options in tries:
            with pytest.raises(StateError) as e:
                ledger_side(state, where, 0, job.plan, options)
            assert where.split("/")[-1] in str(e.value) and "not a ledger" not in str(e.value), str(e.value)
            assert secret not in str(e.value)
        assert sum(b.num_rows for b in ledger_side(state, path, 0, job.plan, storage)) == 10
    finally:
        holder.release()
    assert job.spark_push(rows, topic())["messages"] == 0
