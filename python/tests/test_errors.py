"""The error hierarchy (`onfs_push.errors`): each class raised where it arises, from a Spark
executor where onfs-push runs the action, as itself with a message naming what is wrong."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import onfs_push
import onfs_push.spark as spark_mod
from onfs_push import errors
from onfs_push.spark import OnlineFeatureStorePyClient, push, read_features

from conftest import MetadataServer, case_dir, input_of, read_topic

TOKEN = "test-token"
KEEP = {"vector_fit": "keep"}
HIERARCHY = {
    "OnfsError": Exception,
    "MetadataError": errors.OnfsError,
    "PlanError": errors.OnfsError,
    "SourceError": errors.OnfsError,
    "EncodeError": errors.OnfsError,
    "StoreError": errors.EncodeError,
    "DeliveryError": errors.OnfsError,
    "KafkaError": errors.OnfsError,
    "UsageError": errors.OnfsError,
    "VerifyError": errors.OnfsError,
    "StoreReadError": errors.OnfsError,
    "StateError": errors.OnfsError,
}


def plan_of(case: str, fgs=()):
    return onfs_push.Plan.from_metadata_json((case_dir(case) / "metadata.json").read_text(), list(fgs))


def test_the_hierarchy_and_where_each_class_is_importable():
    from onfs_push import _onfs, sources

    assert sorted(errors.__all__) == sorted([*HIERARCHY, "error_class"])
    for name, base in HIERARCHY.items():
        cls = getattr(errors, name)
        assert cls.__bases__[0] is base, name
        assert getattr(onfs_push, name) is cls
        if hasattr(_onfs, name):
            assert getattr(_onfs, name) is cls
    for name in ("UsageError", "SourceError"):
        assert issubclass(getattr(errors, name), ValueError)
    assert sources.SourceError is errors.SourceError
    for name in ("DeliveryError", "EncodeError", "KafkaError", "MetadataError", "PlanError", "StoreError"):
        assert getattr(spark_mod, name) is getattr(errors, name)
    # Only classes of the hierarchy are carried by name from executors.
    assert errors.error_class("StoreError") is errors.StoreError
    assert errors.error_class("SourceError") is errors.SourceError
    assert errors.error_class("ZeroDivisionError") is errors.OnfsError
    assert errors.error_class("DeliveryError") is errors.OnfsError


def test_the_message_schema_is_declared_once():
    want = pa.schema([pa.field("value", pa.binary(), nullable=False),
                      pa.field("intra_batch_id", pa.int64(), nullable=False)])
    assert onfs_push.MESSAGE_SCHEMA == want and onfs_push._onfs.message_schema() == want
    out = onfs_push.encode(pq.read_table(input_of("example")), plan_of("example"), 20)
    assert out.schema == want
    from pyspark.sql.types import BinaryType, LongType, StructField, StructType

    assert spark_mod._message_struct() == StructType(
        [StructField("value", BinaryType(), False), StructField("intra_batch_id", LongType(), False)])


def test_input_columns_each_once():
    plan = plan_of("all-types")
    cols = plan.input_columns()
    assert cols[0] == "user_id" and len(cols) == len(set(cols))
    assert cols == onfs_push.Encoder(plan, vector_fit="keep").input_columns()
    groups = json.loads(plan.to_json())["feature_groups"]
    assert cols[1:] == list(dict.fromkeys(c for g in groups for c in g["columns"]))


# --- raised in Spark executors and raised again on the driver as themselves ---------------------


def test_encode_error_from_a_null_feature_in_push(session, kafka_bootstrap, topic):
    import pyspark.sql.functions as F

    plan = plan_of("all-types")
    name = topic(1)
    df = session.read.parquet(str(input_of("all-types"))).coalesce(1)
    col = "all_types___fg_int64___f1"
    bad = df.withColumn(col, F.when(F.col("user_id") == F.lit(df.first().user_id), F.lit(None))
                        .otherwise(F.col(col)))
    # The check pass, then (without it) the sending pass: each executor reports the error.
    for check_first in (True, False):
        with pytest.raises(errors.EncodeError) as e:
            push(bad, plan, kafka_bootstrap, name, intra_batch_size=7, check_first=check_first, **KEEP)
        assert type(e.value) is errors.EncodeError
        assert f'column "{col}" is null for key user_id=' in str(e.value)
        assert "Traceback" not in str(e.value) and "JVM" not in str(e.value)
        if check_first:
            assert read_topic(session, kafka_bootstrap, name) == []


def test_store_error_from_ragged_vectors(session, kafka_bootstrap, topic):
    plan = plan_of("all-types")
    client = OnlineFeatureStorePyClient.from_plan(plan)
    name = topic(1)
    df = session.read.parquet(str(input_of("all-types"))).coalesce(1)
    # Sending without the check pass: the executor's Pusher stops at the first row of another length.
    with pytest.raises(errors.StoreError) as e:
        push(df, plan, kafka_bootstrap, name, intra_batch_size=7, check_first=False)
    assert "vector feature fg_fp8e5m2vector.v1" in str(e.value)
    # Spark's own sink: the check pass raises it before the sink runs.
    with pytest.raises(errors.StoreError) as e:
        client.write_protobuf_df_to_kafka(client.generate_df_with_protobuf_messages(df, 7), kafka_bootstrap,
                                          name, engine="spark")
    assert "vector feature fg_fp8e5m2vector.v1" in str(e.value) and isinstance(e.value, errors.EncodeError)


def test_kafka_error_from_a_missing_topic_within_push(session, kafka_bootstrap):
    plan = plan_of("example")
    df = session.read.parquet(str(input_of("example"))).coalesce(1)
    # Checked on the driver first ...
    with pytest.raises(errors.KafkaError, match="no-such-topic-py"):
        push(df, plan, kafka_bootstrap, "no-such-topic-py", connect_timeout=10)
    # ... and in the executor, where push's sending pass connects (the topic gone since).
    fn = spark_mod._push_partitions(plan, kafka_bootstrap, "no-such-topic-py", {}, 20, False, None, 10.0, 0, 1,
                                    spark_mod._store_kw(None, "check", False))
    with pytest.raises(errors.KafkaError) as e:
        spark_mod._collect_reports(df.select(*plan.input_columns()), fn)
    assert type(e.value) is errors.KafkaError and '"no-such-topic-py" does not exist' in str(e.value)


def test_usage_error_for_bad_arguments(session, kafka_bootstrap, topic):
    plan = plan_of("example")
    client = OnlineFeatureStorePyClient.from_plan(plan)
    name = topic(1)
    df = session.read.parquet(str(input_of("example"))).coalesce(1)
    cases = [
        (lambda: push(df, plan, kafka_bootstrap, name, intra_batch_size=0), "intra_batch_size"),
        (lambda: push(df, plan, kafka_bootstrap, name, vector_fit="sideways"), "vector_fit"),
        (lambda: push(df, plan, kafka_bootstrap, name, {"kafka.no.such.option": "1"}), "kafka.no.such.option"),
        (lambda: client.write_protobuf_df_to_kafka(df, kafka_bootstrap, name, engine="jvm"), "engine"),
        (lambda: onfs_push.KafkaSink("", name), "kafka_bootstrap_servers"),
    ]
    for call, named in cases:
        with pytest.raises(errors.UsageError, match=named) as e:
            call()
        assert isinstance(e.value, ValueError)
    # In the executor: a "message DataFrame" without a value column, sent natively.
    with pytest.raises(errors.UsageError, match='no "value" column'):
        client.write_protobuf_df_to_kafka(df, kafka_bootstrap, name, engine="native", check_first=False)
    assert read_topic(session, kafka_bootstrap, name) == []


def test_source_error_for_a_missing_partition_column(spark, metadata_server):
    case = "tables-pipeline"
    server = metadata_server(case, token=TOKEN)
    client = OnlineFeatureStorePyClient(server.url, "job", TOKEN)
    tables = {p.name: str(p) for p in (case_dir(case) / "tables").iterdir()}
    with pytest.raises(errors.SourceError, match=r"source fs\.\w+: no partition column 'no_such_date'") as e:
        read_features(spark, client, tables=tables, partition_columns={"table": "no_such_date"})
    assert isinstance(e.value, ValueError)


def test_plan_error_for_an_unknown_feature_group(metadata_server):
    server = metadata_server("all-types", token=TOKEN)
    with pytest.raises(errors.PlanError, match="unknown feature group.* fg_nope; known groups: .*fg_int8"):
        OnlineFeatureStorePyClient(server.url, "job", TOKEN, ["fg_nope"])


def test_metadata_error_for_bad_metadata(spark):
    server = MetadataServer(b'{"keys": {"user": ["user_id"]}, "data": [', token=TOKEN)
    try:
        with pytest.raises(errors.MetadataError, match="not valid JSON"):
            OnlineFeatureStorePyClient(server.url, "job", TOKEN)
    finally:
        server.close()
    # A default that does not parse as its column's type, found before any executor runs.
    case = "tables-pipeline"
    text = (case_dir(case) / "metadata.json").read_text()
    meta = json.loads(text)
    meta["data"][0]["base-path"][0]["data-paths"][0]["default-value"] = "lots"
    client = OnlineFeatureStorePyClient.from_plan(onfs_push.Plan.from_metadata_json(json.dumps(meta)))
    tables = {p.name: str(p) for p in (case_dir(case) / "tables").iterdir()}
    with pytest.raises(errors.MetadataError, match=r'the default "lots" of feature column "\w*orders_30d"'):
        read_features(spark, client, tables=tables)


def test_delivery_error_carries_the_report():
    e = errors.DeliveryError({"messages": 5, "failed": 1, "failed_rows": 3, "unsent": 2, "unsent_rows": 4,
                              "first_error": "Broker: Message size too large"})
    assert isinstance(e, errors.OnfsError) and e.report["failed"] == 1
    assert "3 of 5 messages were not delivered (7 rows)" in str(e) and "Message size too large" in str(e)
