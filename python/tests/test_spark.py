"""onfs_push.spark on a real local PySpark: differential against the original package, Kafka round
trips (native producer, push, Spark's sink), the original README's snippet, the tables flow."""

from __future__ import annotations

import collections
import json
import os
import re
import shutil
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

import onfs_push
from onfs_push import EncodeError, Plan, StoreError
from onfs_push.spark import OnlineFeatureStorePyClient, push, read_features

from conftest import case_dir, expected_messages, input_of, read_topic

ENCODE_CASES = [("all-types", 7, []), ("all-types-fgs", 3, ["fg_fp32", "fg_stringvector", "fg_int64", "fg_bool"])]
TOKEN = "test-token"
# The reference cases are the original's output: their vectors are ragged, which the online store
# would drop, so reproducing them byte for byte takes the check off.
KEEP = {"vector_fit": "keep"}


def rows_of(df):
    return [(bytes(r.value), r.intra_batch_id) for r in df.collect()]


def local_values(case: str, batch: int, fgs=()):
    plan = Plan.from_metadata_json((case_dir(case) / "metadata.json").read_text(), list(fgs))
    out = onfs_push.encode(pq.read_table(input_of(case)), plan, batch, **({} if case == "example" else KEEP))
    return out.column("value").to_pylist()


@pytest.mark.parametrize("case,batch,fgs", ENCODE_CASES)
def test_generate_is_byte_identical_to_the_original_package(spark, metadata_server, case, batch, fgs):
    from spark_feature_push_client import OnlineFeatureStorePyClient as Original

    server = metadata_server(case, token=TOKEN)
    ours = OnlineFeatureStorePyClient(server.url, "job", TOKEN, fgs)
    original = Original(server.url, "job", TOKEN, fgs)
    assert ours.get_features_details() == original.get_features_details()
    assert ours.get_offline_col_to_datatype_map() == original.get_offline_col_to_datatype_map()
    assert ours.fg_to_datatype_map == original.fg_to_datatype_map
    assert ours.onfs_fg_to_onfs_feat_map == original.onfs_fg_to_onfs_feat_map

    one = spark.read.parquet(str(case_dir(case) / "input.parquet")).coalesce(1).cache()
    three = one.repartition(3).cache()
    for df in (one, three):
        df.count()
        want = rows_of(original.generate_df_with_protobuf_messages(df, intra_batch_size=batch))
        got_df = ours.generate_df_with_protobuf_messages(df, intra_batch_size=batch, **KEEP)
        assert got_df.schema == original.generate_df_with_protobuf_messages(df, batch).schema
        got = rows_of(got_df)
        assert sorted(got) == sorted(want) and len(got) == len(want)
        if df is one:
            assert got == want
            assert [v.hex() for v, _ in got] == [e["value_hex"] for e in expected_messages(case)]
    assert one.rdd.getNumPartitions() == 1 and three.rdd.getNumPartitions() == 3


def test_native_write_round_trip(session, metadata_server, kafka_bootstrap, topic):
    server = metadata_server("all-types", token=TOKEN)
    client = OnlineFeatureStorePyClient(server.url, "job", TOKEN)
    name = topic(3)
    df = session.read.parquet(str(case_dir("all-types") / "input.parquet")).coalesce(1)
    proto_df = client.generate_df_with_protobuf_messages(df, intra_batch_size=7, **KEEP)
    report = client.write_protobuf_df_to_kafka(proto_df, kafka_bootstrap, name,
                                               {"kafka.acks": "all", "kafka.linger.ms": "2"},
                                               kafka_num_batches=2, engine="native")
    assert report["messages"] == 8 and report["delivered"] == 8 and report["failed"] == 0
    assert report["rows"] == 50 and report["delivered_rows"] == 50
    got = collections.Counter(v for v, _ in read_topic(session, kafka_bootstrap, name))
    assert got == collections.Counter(local_values("all-types", 7))


def test_push_round_trip_without_message_dataframe(session, metadata_server, kafka_bootstrap, topic):
    server = metadata_server("all-types", token=TOKEN)
    client = OnlineFeatureStorePyClient(server.url, "job", TOKEN)
    name = topic(2)
    df = session.read.parquet(str(case_dir("all-types") / "input.parquet")).coalesce(1)
    report = client.push(df, kafka_bootstrap, name, intra_batch_size=7, kafka_num_batches=3, **KEEP)
    assert report["delivered"] == 8 and report["failed"] == 0 and report["unsent"] == 0
    assert report["encoded_rows"] == 50 and report["delivered_rows"] == 50
    got = collections.Counter(v for v, _ in read_topic(session, kafka_bootstrap, name))
    assert got == collections.Counter(local_values("all-types", 7))


def test_spark_sink_path_with_the_connector(session, metadata_server, kafka_bootstrap, topic):
    server = metadata_server("all-types-fgs", token=TOKEN)
    fgs = ENCODE_CASES[1][2]
    client = OnlineFeatureStorePyClient(server.url, "job", TOKEN, fgs)
    name = topic(1)
    df = session.read.parquet(str(case_dir("all-types-fgs") / "input.parquet")).coalesce(1)
    proto_df = client.generate_df_with_protobuf_messages(df, intra_batch_size=3, **KEEP)
    assert client.write_protobuf_df_to_kafka(proto_df, kafka_bootstrap, name, kafka_num_batches=2,
                                             engine="spark") is None
    got = collections.Counter(v for v, _ in read_topic(session, kafka_bootstrap, name))
    assert got == collections.Counter(local_values("all-types-fgs", 3, fgs))


def test_auto_engine_is_native_unless_an_option_only_spark_takes(session, metadata_server, kafka_bootstrap,
                                                                  topic, caplog):
    # The connector is on this session's classpath: the default engine still sends natively
    # (counts come back) when every option translates, and says so.
    server = metadata_server("all-types", token=TOKEN)
    client = OnlineFeatureStorePyClient(server.url, "job", TOKEN)
    df = session.read.parquet(str(case_dir("all-types") / "input.parquet")).coalesce(1)
    proto_df = client.generate_df_with_protobuf_messages(df, intra_batch_size=7, **KEEP)
    name = topic(1)
    with caplog.at_level("INFO", logger="onfs_push"):
        report = client.write_protobuf_df_to_kafka(proto_df, kafka_bootstrap, name, {"kafka.acks": "all"})
    assert report["delivered"] == 8 and report["delivered_rows"] == 50 and report["failed"] == 0
    assert "engine native" in caplog.text and "every option translates" in caplog.text
    got = collections.Counter(v for v, _ in read_topic(session, kafka_bootstrap, name))
    assert got == collections.Counter(local_values("all-types", 7))
    # An option only Spark's Kafka producer takes: Spark's sink, named in the log.
    caplog.clear()
    name = topic(1)
    options = {"kafka.partitioner.class": "org.apache.kafka.clients.producer.RoundRobinPartitioner"}
    with caplog.at_level("INFO", logger="onfs_push"):
        assert client.write_protobuf_df_to_kafka(proto_df, kafka_bootstrap, name, options) is None
    assert "engine spark" in caplog.text and "kafka.partitioner.class" in caplog.text
    got = collections.Counter(v for v, _ in read_topic(session, kafka_bootstrap, name))
    assert got == collections.Counter(local_values("all-types", 7))


def test_bad_data_fails_before_anything_is_sent(session, metadata_server, kafka_bootstrap, topic, tmp_path):
    import pyspark.sql.functions as F

    server = metadata_server("all-types", token=TOKEN)
    client = OnlineFeatureStorePyClient(server.url, "job", TOKEN)
    name = topic(1)
    df = session.read.parquet(str(case_dir("all-types") / "input.parquet")).coalesce(1)
    col = "all_types___fg_int8___f1"
    bad = df.withColumn(col, F.when(F.col("user_id") == F.lit(df.first().user_id), F.lit(1000))
                        .otherwise(F.col(col)).cast("int"))
    spool = tmp_path / "spool"
    with pytest.raises(EncodeError, match=rf'column "{col}" value 1000 .* outside DataTypeInt8'):
        client.push(bad, kafka_bootstrap, name, intra_batch_size=7, spool=str(spool))
    with pytest.raises(EncodeError, match=col):
        client.write_protobuf_df_to_kafka(client.generate_df_with_protobuf_messages(bad, 7), kafka_bootstrap,
                                          name, engine="native", spool=str(spool))
    assert read_topic(session, kafka_bootstrap, name) == []
    # The partition's spool, cut short by the error, is not left behind.
    assert spool_files(spool) == []
    with pytest.raises(EncodeError, match="is missing from the DataFrame"):
        client.generate_df_with_protobuf_messages(df.drop(col))


def spool_files(folder: Path):
    return sorted(p.relative_to(folder) for p in folder.rglob("*") if p.is_file())


def test_the_check_pass_spools_and_the_sending_pass_sends_the_spools(session, metadata_server, kafka_bootstrap,
                                                                     topic, tmp_path):
    server = metadata_server("all-types", token=TOKEN)
    client = OnlineFeatureStorePyClient(server.url, "job", TOKEN)
    df = session.read.parquet(str(case_dir("all-types") / "input.parquet")).coalesce(1)
    expected = collections.Counter(local_values("all-types", 7))
    spool = tmp_path / "spool"
    # What a killed run left a day ago is swept; anything else there, and a recent run's, stays.
    for folder in ("onfs-push-run-left-a-day-ago", "onfs-push-run-recent", "not-a-run"):
        (spool / folder).mkdir(parents=True)
        (spool / folder / "part-00000-0.onfsmsg").write_bytes(b"ONFSMSG1")
    for folder in ("onfs-push-run-left-a-day-ago", "not-a-run"):
        os.utime(spool / folder, (time.time() - 25 * 3600,) * 2)
    # push: encoded once into the spool, sent from it in each of 3 rounds, removed after the last.
    name = topic(2)
    report = client.push(df, kafka_bootstrap, name, intra_batch_size=7, kafka_num_batches=3, spool=str(spool),
                         **KEEP)
    assert report["partitions_from_spool"] == 1 and report["delivered"] == 8 and report["encoded_rows"] == 50
    assert collections.Counter(v for v, _ in read_topic(session, kafka_bootstrap, name)) == expected
    assert sorted(p.name for p in spool.iterdir()) == ["not-a-run", "onfs-push-run-recent"]
    for folder in ("onfs-push-run-recent", "not-a-run"):
        shutil.rmtree(spool / folder)
    # The drop-in's native write of a message DataFrame made here: the same.
    name = topic(1)
    messages = client.generate_df_with_protobuf_messages(df, intra_batch_size=7, **KEEP)
    report = client.write_protobuf_df_to_kafka(messages, kafka_bootstrap, name, spool=str(spool))
    assert report["partitions_from_spool"] == 1 and report["delivered_rows"] == 50
    assert collections.Counter(v for v, _ in read_topic(session, kafka_bootstrap, name)) == expected
    assert spool_files(spool) == []
    # spool=False: the check encodes, the sending pass encodes again; the same messages.
    name = topic(1)
    report = client.push(df, kafka_bootstrap, name, intra_batch_size=7, spool=False, **KEEP)
    assert report["partitions_from_spool"] == 0 and report["delivered"] == 8
    assert collections.Counter(v for v, _ in read_topic(session, kafka_bootstrap, name)) == expected
    # A spool folder that cannot be made: the check pass says which and what to do; nothing sent.
    (tmp_path / "a-file").write_text("")
    name = topic(1)
    with pytest.raises(onfs_push.OnfsError, match=r"(?s)spool .*a-file/spool.*spool=False"):
        client.push(df, kafka_bootstrap, name, intra_batch_size=7, spool=str(tmp_path / "a-file" / "spool"), **KEEP)
    assert read_topic(session, kafka_bootstrap, name) == []
    with pytest.raises(onfs_push.UsageError, match="spool must be True, False or a folder"):
        client.push(df, kafka_bootstrap, name, spool="")


def test_a_partition_whose_spool_is_not_on_the_sending_host_is_encoded_again(spark, metadata_server,
                                                                              kafka_bootstrap, topic, tmp_path,
                                                                              monkeypatch):
    import onfs_push.spark as spark_api

    # What the driver learns from the check pass is changed before the sending pass: the spools
    # are said to be on another host, then on this host but gone. Each time every partition is
    # encoded again from its rows, and every row lands once.
    server = metadata_server("all-types", token=TOKEN)
    client = OnlineFeatureStorePyClient(server.url, "job", TOKEN)
    df = spark.read.parquet(str(case_dir("all-types") / "input.parquet")).coalesce(1)
    spooled_from = spark_api._spooled_from

    def elsewhere(rows):
        return {p: ("another-host.example", path, enc) for p, (_, path, enc) in spooled_from(rows).items()}

    def gone(rows):
        spooled = spooled_from(rows)
        for _, path, _ in spooled.values():
            Path(path).unlink()
        return spooled

    for change in (elsewhere, gone):
        monkeypatch.setattr(spark_api, "_spooled_from", change)
        name = topic(2)
        report = client.push(df, kafka_bootstrap, name, intra_batch_size=7, kafka_num_batches=2,
                             spool=str(tmp_path / change.__name__), **KEEP)
        assert report["partitions_from_spool"] == 0 and report["delivered"] == 8 and report["failed"] == 0
        assert report["encoded_rows"] == 50 and report["delivered_rows"] == 50
        got = collections.Counter(v for v, _ in read_topic(spark, kafka_bootstrap, name))
        assert got == collections.Counter(local_values("all-types", 7))


README_SNIPPET = Path(__file__).with_name("original_readme_quick_start.py").read_text()


def test_the_original_readme_snippet_runs_with_only_the_import_changed(session, metadata_server, kafka_bootstrap,
                                                                      topic):
    # The example's data (one length per vector feature): the snippet's defaults check the store's rules.
    server = metadata_server("example", token="your-auth-token")
    name = topic(1)
    code = README_SNIPPET.replace("from spark_feature_push_client import OnlineFeatureStorePyClient",
                                  "from onfs_push.spark import OnlineFeatureStorePyClient")
    assert code != README_SNIPPET
    # Only the endpoints of the example are pointed at the test services.
    code = (code.replace('"https://api.example.com/metadata"', repr(server.url))
                .replace('"localhost:9092"', repr(kafka_bootstrap))
                .replace('"features.user_features"', repr(name)))
    df = session.read.parquet(str(input_of("example"))).coalesce(1)
    scope = {"your_spark_df": df}
    exec(compile(code, "README quick start", "exec"), scope)
    assert len(scope["feature_details"]) == 3
    got = collections.Counter(v for v, _ in read_topic(session, kafka_bootstrap, name))
    assert got == collections.Counter(local_values("example", 20)) and sum(got.values()) == 50


def decoded_rows(values):
    from bharatml_commons.proto.persist.persist_pb2 import Query

    rows, schemas = collections.Counter(), set()
    for v in values:
        q = Query()
        q.ParseFromString(v)
        schemas.add((q.entity_label, tuple(q.keys_schema),
                     tuple((g.label, tuple(g.feature_labels)) for g in q.feature_group_schema)))
        for d in q.data:
            rows[(tuple(d.key_values), tuple(f.SerializeToString() for f in d.feature_values))] += 1
    return rows, schemas


def test_read_features_runs_the_original_flow(session, metadata_server):
    case = "tables-pipeline"
    server = metadata_server(case, token=TOKEN)
    client = OnlineFeatureStorePyClient(server.url, "job", TOKEN)
    tables = {p.name: str(p) for p in (case_dir(case) / "tables").iterdir()}
    df = read_features(session, client, tables=tables)
    values = rows_of(client.generate_df_with_protobuf_messages(df, intra_batch_size=6, **KEEP))
    expected = [bytes.fromhex(e["value_hex"]) for e in expected_messages(case)]
    assert decoded_rows([v for v, _ in values]) == decoded_rows(expected)
    from bharatml_commons.proto.persist.persist_pb2 import Query

    assert all(len(Query.FromString(v).data) <= 6 for v, _ in values)


def test_client_never_shows_the_token(metadata_server):
    server = metadata_server("all-types", token="Sup3rS3cret")
    client = OnlineFeatureStorePyClient(server.url, "job", "Sup3rS3cret")
    assert "Sup3rS3cret" not in repr(client)
    with pytest.raises(onfs_push.MetadataError) as e:
        OnlineFeatureStorePyClient(server.url, "job", "Wr0ngS3cret")
    assert "Wr0ngS3cret" not in str(e.value) and re.search(r"HTTP 401", str(e.value))


# --- Spark Connect ----------------------------------------------------------------------------

@pytest.mark.connect
@pytest.mark.parametrize("case,batch,fgs", ENCODE_CASES)
def test_connect_generate_is_byte_identical_to_the_original(connect, metadata_server, case, batch, fgs):
    server = metadata_server(case, token=TOKEN)
    client = OnlineFeatureStorePyClient(server.url, "job", TOKEN, fgs)
    df = connect.read.parquet(str(case_dir(case) / "input.parquet")).coalesce(1)
    got = rows_of(client.generate_df_with_protobuf_messages(df, intra_batch_size=batch, **KEEP))
    assert [v.hex() for v, _ in got] == [e["value_hex"] for e in expected_messages(case)]
    assert [i for _, i in got] == [e["intra_batch_id"] for e in expected_messages(case)]


@pytest.mark.connect
def test_the_original_fails_on_connect_where_ours_runs(connect, metadata_server):
    from spark_feature_push_client import OnlineFeatureStorePyClient as Original

    server = metadata_server("all-types", token=TOKEN)
    df = connect.read.parquet(str(case_dir("all-types") / "input.parquet"))
    with pytest.raises(Exception, match="rdd"):
        Original(server.url, "job", TOKEN).generate_df_with_protobuf_messages(df, 7).collect()


FALLBACK_SCRIPT = """
import json, sys
from pyspark.sql import SparkSession
from onfs_push.spark import OnlineFeatureStorePyClient
url, bootstrap, topic, data = sys.argv[1:5]
spark = SparkSession.builder.master("local[2]").config("spark.ui.enabled", "false").getOrCreate()
client = OnlineFeatureStorePyClient(url, "job", "test-token")
proto_df = client.generate_df_with_protobuf_messages(spark.read.parquet(data).coalesce(1), 7, vector_fit="keep")
print(json.dumps(client.write_protobuf_df_to_kafka(proto_df, bootstrap, topic)))
"""


def test_auto_engine_without_the_connector_uses_the_native_producer(spark, metadata_server, kafka_bootstrap,
                                                                     topic, tmp_path):
    import subprocess
    import sys

    server = metadata_server("all-types", token=TOKEN)
    name = topic(1)
    script = tmp_path / "fallback.py"
    script.write_text(FALLBACK_SCRIPT)
    out = subprocess.run([sys.executable, str(script), server.url, kafka_bootstrap, name,
                          str(case_dir("all-types") / "input.parquet")], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["delivered"] == 8 and report["delivered_rows"] == 50
    got = collections.Counter(v for v, _ in read_topic(spark, kafka_bootstrap, name))
    assert got == collections.Counter(local_values("all-types", 7))


# --- the online store's rules -------------------------------------------------------------------


def test_ragged_vectors_raise_store_error_from_the_executor(session, metadata_server, kafka_bootstrap, topic):
    server = metadata_server("all-types", token=TOKEN)
    client = OnlineFeatureStorePyClient(server.url, "job", TOKEN)
    name = topic(1)
    df = session.read.parquet(str(input_of("all-types"))).coalesce(1)
    # Raised inside the executor that encodes, and raised again on the driver as itself.
    with pytest.raises(StoreError) as e:
        client.write_protobuf_df_to_kafka(client.generate_df_with_protobuf_messages(df, intra_batch_size=7),
                                          kafka_bootstrap, name, engine="native")
    assert read_topic(session, kafka_bootstrap, name) == []
    # Messages leave as they are made: the first row of another length stops the partition.
    text = str(e.value)
    assert "vector feature fg_fp8e5m2vector.v1" in text and "has 1 elements for key user_id=7919" in text
    assert "the rows before it have length 0" in text and "vector_fit=" in text
    assert isinstance(e.value, EncodeError)


def test_push_checks_vector_lengths_across_partitions_before_sending(session, metadata_server,
                                                                      kafka_bootstrap, topic):
    import pyspark.sql.functions as F

    server = metadata_server("example", token=TOKEN)
    client = OnlineFeatureStorePyClient(server.url, "job", TOKEN)
    name = topic(1)
    tags = "features___user_tags___tags"
    df = session.read.parquet(str(input_of("example"))).repartition(2)
    # Each partition is of one length, but the two partitions differ: 3 and 2 tags.
    ragged = df.withColumn(tags, F.when(F.spark_partition_id() == 1, F.slice(tags, 1, 2)).otherwise(F.col(tags)))
    with pytest.raises(StoreError, match=r"(?s)(?=.*length 3 in \d+ rows)(?=.*length 2 in \d+ rows)user_tags\.tags"):
        client.push(ragged, kafka_bootstrap, name, intra_batch_size=20)
    assert read_topic(session, kafka_bootstrap, name) == []
    # Declared and padded: every row goes, each with 3 tags.
    report = client.push(ragged, kafka_bootstrap, name, intra_batch_size=20,
                         vector_lengths={"user_tags.tags": 3}, vector_fit="pad")
    assert report["delivered_rows"] == 1000 and report["failed"] == 0
