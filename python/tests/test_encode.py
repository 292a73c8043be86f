"""The extension without Spark: plan, encode (pyarrow/pandas), default fill, errors, Kafka sink."""

from __future__ import annotations

import collections
import json
import pickle
import re
import struct
import zlib

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import onfs_push
from onfs_push import EncodeError, MetadataError, Plan, PlanError

from conftest import case_dir, expected_messages

ENCODE_CASES = [("all-types", 7, []), ("all-types-fgs", 3, ["fg_fp32", "fg_stringvector", "fg_int64", "fg_bool"])]


def metadata_text(case: str) -> str:
    return (case_dir(case) / "metadata.json").read_text()


@pytest.mark.parametrize("case,batch,fgs", ENCODE_CASES)
def test_encode_is_byte_identical_to_the_original(case, batch, fgs):
    plan = Plan.from_metadata_json(metadata_text(case), fgs)
    # The original's output: ragged vectors, sent as they are.
    out = onfs_push.encode(pq.read_table(case_dir(case) / "input.parquet"), plan, batch, vector_fit="keep")
    expected = expected_messages(case)
    assert out.schema == onfs_push.MESSAGE_SCHEMA
    assert out.column("intra_batch_id").to_pylist() == [e["intra_batch_id"] for e in expected]
    assert [v.hex() for v in out.column("value").to_pylist()] == [e["value_hex"] for e in expected]


def test_plan_view_matches_the_original():
    for case in ["all-types", "tables-pipeline"]:
        plan = Plan.from_metadata_json(metadata_text(case))
        expected = json.loads((case_dir(case) / "expected" / "plan.json").read_text())
        assert json.loads(plan.to_json()) == expected


def test_inputs_pandas_batches_and_streams_give_the_same_messages():
    table = pq.read_table(case_dir("all-types") / "input.parquet")
    meta = json.loads(metadata_text("all-types"))
    want = onfs_push.encode(table, meta, 7, vector_fit="keep")
    small = table.to_batches(max_chunksize=3)
    assert onfs_push.encode(small, meta, 7, vector_fit="keep").equals(want)
    assert onfs_push.encode(pa.RecordBatchReader.from_batches(table.schema, small), meta, 7,
                            vector_fit="keep").equals(want)
    scalar_cols = [c for c in table.column_names if "vector" not in c]
    pd_table = table.select(scalar_cols)
    meta_scalars = json.loads(metadata_text("all-types"))
    for entry in meta_scalars["data"]:
        for base in entry["base-path"]:
            base["data-paths"] = [p for p in base["data-paths"] if "Vector" not in p["data-type"]]
    from_arrow = onfs_push.encode(pd_table, meta_scalars, 5)
    from_pandas = onfs_push.encode(pd_table.to_pandas(), meta_scalars, 5)
    assert from_pandas.equals(from_arrow) and from_arrow.num_rows == 10


def test_plan_pickles_for_executors():
    plan = Plan.from_metadata_json(metadata_text("all-types-fgs"), ["fg_bool", "fg_int64"])
    again = pickle.loads(pickle.dumps(plan))
    assert again.to_json() == plan.to_json()
    assert again.fgs_to_consider == ["fg_bool", "fg_int64"]


def test_encoder_continues_across_batches_and_counts():
    table = pq.read_table(case_dir("all-types") / "input.parquet")
    enc = onfs_push.Encoder(Plan.from_metadata_json(metadata_text("all-types")), 7)
    ids = []
    for b in table.to_batches(max_chunksize=4):
        ids += enc.encode(b).column("intra_batch_id").to_pylist()
    ids += enc.finish().column("intra_batch_id").to_pylist()
    assert ids == list(range(8))
    assert enc.stats["rows"] == 50 and enc.stats["messages"] == 8


def test_errors_name_column_and_key():
    plan = Plan.from_metadata_json(metadata_text("all-types"))
    table = pq.read_table(case_dir("all-types") / "input.parquet")
    col = "all_types___fg_int8___f1"
    values = table.column(col).to_pylist()
    values[4] = 300
    bad = table.set_column(table.schema.get_field_index(col), col, pa.array(values, pa.int64()))
    with pytest.raises(EncodeError) as e:
        onfs_push.encode(bad, plan, 7)
    key = table.column("user_id")[4].as_py()
    assert f'column "{col}" value 300 for key user_id={key} is outside DataTypeInt8' in str(e.value)
    assert "allow_out_of_range=True" in str(e.value)
    assert len(onfs_push.encode(bad, plan, 7, allow_out_of_range=True, vector_fit="keep")) == 8
    values[4] = None
    nulls = table.set_column(table.schema.get_field_index(col), col, pa.array(values, pa.int64()))
    with pytest.raises(EncodeError, match="is null"):
        onfs_push.encode(nulls, plan, 7)
    with pytest.raises(ValueError, match="intra_batch_size"):
        onfs_push.encode(table, plan, 0)
    with pytest.raises(PlanError, match="nope"):
        Plan.from_metadata_json(metadata_text("all-types"), ["nope"])
    with pytest.raises(MetadataError, match=r"data\[0\]"):
        Plan.from_metadata_json('{"keys": {"u": ["id"]}, "data": [{"storage-provider": "TABLE"}]}')


def test_default_fill_uses_the_metadata_defaults():
    plan = Plan.from_metadata_json(metadata_text("tables-pipeline"))
    view = json.loads(plan.to_json())
    cols = [c for g in view["feature_groups"] for c in g["columns"]]
    scalar = {"FP32": pa.float32(), "FP64": pa.float64(), "Int64": pa.int64(), "String": pa.string(),
              "Bool": pa.bool_()}

    def arrow_type(name):
        base = name[len("DataType"):]
        return pa.list_(scalar[base[:-len("Vector")]]) if base.endswith("Vector") else scalar[base]

    arrays = {c: pa.nulls(2, arrow_type(view["datatypes"][c])) for c in dict.fromkeys(cols)}
    batch = pa.record_batch({"user_id": pa.array([1, 2], pa.int64()), **arrays})
    filler = onfs_push._onfs.DefaultFill(plan)
    filled = filler.fill(batch)
    for c in arrays:
        assert filled.column(c).null_count == 0, c
    assert all(n == 2 for n in filler.filled.values())
    onfs_push.encode(filled, plan, 6)  # encodes: no null left


def test_fetch_sends_job_and_never_shows_the_token(metadata_server):
    server = metadata_server("all-types", token="s3cr3t-t0ken")
    plan = Plan.fetch(server.url, "job-1", "s3cr3t-t0ken")
    assert plan.entity_columns == ["user_id"]
    assert server.requests[-1] == {"jobId": ["job-1"], "jobToken": ["s3cr3t-t0ken"]}
    with pytest.raises(MetadataError) as e:
        Plan.fetch(server.url, "job-1", "wr0ng-t0ken", tries=1)
    assert "wr0ng-t0ken" not in str(e.value) and "401" in str(e.value)
    with pytest.raises(MetadataError) as e:
        Plan.fetch("http://127.0.0.1:9/x", "job-1", "s3cr3t-t0ken", tries=1, connect_timeout=1)
    assert "s3cr3t-t0ken" not in str(e.value)


def test_kafka_sink_counts_every_delivery(kafka_bootstrap, topic):
    name = topic(2)
    plan = Plan.from_metadata_json(metadata_text("all-types"))
    messages = onfs_push.encode(pq.read_table(case_dir("all-types") / "input.parquet"), plan, 7, vector_fit="keep")
    sink = onfs_push.KafkaSink(kafka_bootstrap, name, {"kafka.acks": "all", "kafka.linger.ms": "1"})
    for batch in messages.to_batches():
        sink.send(batch)
    report = sink.finish()
    assert report["messages"] == 8 and report["delivered"] == 8 and report["failed"] == 0
    assert report["rows"] == 50 and report["delivered_rows"] == 50
    assert sum(report["per_partition"].values()) == 8


def test_pusher_rounds_and_missing_topic(kafka_bootstrap, topic):
    name = topic(1)
    plan = Plan.from_metadata_json(metadata_text("all-types"))
    table = pq.read_table(case_dir("all-types") / "input.parquet")
    sent = collections.Counter()
    for i in range(3):
        p = onfs_push.Pusher(plan, kafka_bootstrap, name, intra_batch_size=7, round_index=i, rounds=3,
                             vector_fit="keep")
        for b in table.to_batches(max_chunksize=9):
            p.push(b)
        r = p.finish()
        assert r["failed"] == 0 and r["delivered"] == r["messages"]
        assert r["encode"]["rows"] == 50
        sent[i] = r["messages"]
    assert [sent[0], sent[1], sent[2]] == [3, 3, 2]
    with pytest.raises(onfs_push.KafkaError, match="does not exist"):
        onfs_push.KafkaSink(kafka_bootstrap, "no-such-topic-here", connect_timeout=10)
    # A wrong option is a usage error (a ValueError), not Kafka's.
    with pytest.raises(onfs_push.UsageError, match="kafka.no.such.option"):
        onfs_push.KafkaSink(kafka_bootstrap, name, {"kafka.no.such.option": "1"})


def read_spool(path):
    """The records of a spool file, parsed here from the documented framing (docs/message-files.md)."""
    data = path.read_bytes()
    assert data[:8] == b"ONFSMSG1"
    out, at = [], 8
    while at < len(data):
        value_len, crc, batch_id, rows, key_len = struct.unpack_from("<IIqIi", data, at)
        at += 24 + max(key_len, 0)
        value = data[at:at + value_len]
        at += value_len
        assert zlib.crc32(value) == crc and key_len == -1
        out.append((value, batch_id, rows))
    return out


def test_a_spool_holds_the_messages_and_is_sent_by_round(kafka_bootstrap, topic, tmp_path):
    name = topic(1)
    plan = Plan.from_metadata_json(metadata_text("all-types"))
    table = pq.read_table(case_dir("all-types") / "input.parquet")
    path = tmp_path / "run" / "part-00000-0.onfsmsg"
    spooler = onfs_push.Spooler(plan, str(path), {"kafka.acks": "all"}, 7, vector_fit="keep")
    for b in table.to_batches(max_chunksize=9):
        spooler.encode(b)
        assert not path.exists() and path.with_name(path.name + ".part").exists()
    stats = spooler.finish()
    assert stats["rows"] == 50 and stats["messages"] == 8 and stats["spool"] == str(path)
    assert stats["spooled_bytes"] == path.stat().st_size and not path.with_name(path.name + ".part").exists()
    expected = onfs_push.encode(table, plan, 7, vector_fit="keep")
    assert [(v, i) for v, i, _ in read_spool(path)] == list(zip(expected.column("value").to_pylist(),
                                                               expected.column("intra_batch_id").to_pylist()))
    assert sum(r for _, _, r in read_spool(path)) == 50
    # Sent round by round, as a Pusher sends: every message once.
    queued = []
    for i in range(3):
        sink = onfs_push.KafkaSink(kafka_bootstrap, name, {"kafka.acks": "all"})
        queued.append(sink.send_spool(str(path), i, 3))
        r = sink.finish()
        assert r["delivered"] == r["messages"] == queued[-1] and r["failed"] == 0
    assert queued == [3, 3, 2]
    # A damaged spool is refused, naming the file and the ways round it.
    data = bytearray(path.read_bytes())
    data[40] ^= 0xFF
    path.write_bytes(bytes(data))
    sink = onfs_push.KafkaSink(kafka_bootstrap, name)
    with pytest.raises(onfs_push.OnfsError, match=rf"(?s)spool {re.escape(str(path))}: .*checksum.*spool=False"):
        sink.send_spool(str(path))
    sink.finish()
    # A spooler dropped before it finished leaves no file behind.
    other = tmp_path / "run" / "part-00001-0.onfsmsg"
    spooler = onfs_push.Spooler(plan, str(other), None, 7, vector_fit="keep")
    spooler.encode(table.to_batches()[0])
    del spooler
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == [path.name]


def test_sasl_password_never_in_errors(kafka_bootstrap, topic):
    import os

    sasl = os.environ["ONFS_KAFKA_SASL_BOOTSTRAP"]
    opts = {"kafka.security.protocol": "SASL_PLAINTEXT", "kafka.sasl.mechanism": "PLAIN",
            "kafka.sasl.jaas.config": 'org.apache.kafka.common.security.plain.PlainLoginModule required '
                                      'username="onfs" password="Wr0ngPassw0rd";'}
    with pytest.raises(onfs_push.KafkaError) as e:
        onfs_push.KafkaSink(sasl, topic(1), opts, connect_timeout=5)
    assert "Wr0ngPassw0rd" not in str(e.value)


# --- the online store's rules -------------------------------------------------------------------

VECTOR_GROUPS = ["fg_fp8e5m2vector", "fg_fp8e4m3vector", "fg_fp16vector", "fg_fp32vector", "fg_fp64vector",
                 "fg_int8vector", "fg_int16vector", "fg_int32vector", "fg_int64vector", "fg_uint8vector",
                 "fg_uint16vector", "fg_uint32vector", "fg_uint64vector", "fg_stringvector", "fg_boolvector"]


def test_ragged_vectors_raise_store_error_naming_each_feature():
    table = pq.read_table(case_dir("all-types") / "input.parquet")
    with pytest.raises(onfs_push.StoreError) as e:
        onfs_push.encode(table, metadata_text("all-types"), 7)
    text = str(e.value)
    for g in VECTOR_GROUPS:
        assert f"{g}.v1 (column" in text, g
    assert "length 0 in 10 rows (e.g. user_id=0" in text
    assert "vector_lengths={'GROUP.FEATURE': N}" in text
    assert isinstance(e.value, EncodeError)


def test_declared_lengths_pad_and_truncate():
    from bharatml_commons.proto.persist.persist_pb2 import Query

    table = pq.read_table(case_dir("all-types") / "input.parquet")
    lengths = {f"{g}.v1": 3 for g in VECTOR_GROUPS}
    # The "[]" defaults are of another length: refused before any row is read.
    with pytest.raises(onfs_push.StoreError, match=r'the default "\[\]" of vector feature fg_fp8e5m2vector.v1'):
        onfs_push.encode(table, metadata_text("all-types"), 7, vector_lengths=lengths)
    with pytest.raises(onfs_push.StoreError, match="has 1 elements for key user_id=7919, but its declared length is 0"):
        onfs_push.encode(table, metadata_text("all-types"), 7, vector_lengths={f"{g}.v1": 0 for g in VECTOR_GROUPS})
    out = onfs_push.encode(table, metadata_text("all-types"), 7, vector_lengths=lengths, vector_fit="pad-truncate")
    sizes = collections.Counter()
    for v in out.column("value").to_pylist():
        for d in Query.FromString(v).data:
            for fv in d.feature_values[15:]:
                vec = fv.values.vector[0].values
                sizes[sum(len(getattr(vec, f)) for f in ("fp32_values", "fp64_values", "int32_values", "int64_values",
                                                          "uint32_values", "uint64_values", "string_values",
                                                          "bool_values"))] += 1
    assert sizes == {3: 50 * 15}
    enc = onfs_push.Encoder(Plan.from_metadata_json(metadata_text("all-types")), 7, vector_lengths=lengths,
                            vector_fit="pad-truncate")
    for b in table.to_batches():
        enc.encode(b)
    enc.finish()
    fitted = enc.stats["vectors_fitted"]["fg_fp32vector.v1"]
    assert fitted == {"length": 3, "padded_rows": 30, "truncated_rows": 10}
    with pytest.raises(onfs_push.StoreError, match="not a vector feature"):
        onfs_push.encode(table, metadata_text("all-types"), 7, vector_lengths={"fg_fp32.f1": 3})
    with pytest.raises(ValueError, match="pad-truncate"):
        onfs_push.encode(table, metadata_text("all-types"), 7, vector_fit="fit")


def test_bool_vectors_warn_and_strict_store_refuses():
    table = pq.read_table(case_dir("all-types") / "input.parquet")
    with pytest.warns(UserWarning, match="fg_boolvector.v1"):
        onfs_push.encode(table, metadata_text("all-types"), 7, vector_fit="keep")
    with pytest.raises(onfs_push.StoreError, match="fg_boolvector.v1"):
        onfs_push.encode(table, metadata_text("all-types"), 7, vector_fit="keep", strict_store=True)


def test_the_example_follows_the_store_rules():
    from conftest import input_of

    plan = Plan.from_metadata_json((case_dir("example") / "metadata.json").read_text())
    out = onfs_push.encode(pq.read_table(input_of("example")), plan, 20)
    assert out.num_rows == 50


def test_check_vector_tallies_merges_encoders():
    plan = Plan.from_metadata_json((case_dir("example") / "metadata.json").read_text())
    from conftest import input_of

    table = pq.read_table(input_of("example"))
    tags = "features___user_tags___tags"
    short = table.set_column(table.schema.get_field_index(tags), tags,
                             pa.array([t[:2] for t in table.column(tags).to_pylist()], pa.list_(pa.string())))
    tallies = []
    for part in (table.slice(0, 10), short.slice(10, 10)):
        enc = onfs_push.Encoder(plan, 20)
        for b in part.to_batches():
            enc.encode(b)
        enc.finish()
        enc.check_vector_lengths()  # each alone is of one length
        tallies.append(enc.vector_tallies)
    with pytest.raises(onfs_push.StoreError, match=r"(?s)(?=.*length 3 in 10 rows)(?=.*length 2 in 10 rows)user_tags\.tags"):
        onfs_push.check_vector_tallies(tallies)


def test_partition_order_is_the_command_lines_whatever_the_listing_order():
    import itertools

    from onfs_push._onfs import newest_partition, partitions_in_range

    for values, newest in [(["10", "9", "5x"], "9"), (["9", "10", "2"], "10"), (["nan", "inf", "7"], "nan"),
                           (["2026-10-31", "2026-11-02", "2026-10-30"], "2026-11-02")]:
        for p in itertools.permutations(values):
            assert newest_partition(list(p)) == newest, p
    assert partitions_in_range(["9", "10", "2", "30"], "2", "10") == ["2", "9", "10"]
    assert newest_partition([]) is None


def test_type_stubs_name_what_the_extension_has():
    import ast
    import pathlib

    from onfs_push import _onfs

    stub = pathlib.Path(onfs_push.__file__).with_name("_onfs.pyi")
    tree = ast.parse(stub.read_text())
    names = {n.name for n in tree.body if isinstance(n, (ast.ClassDef, ast.FunctionDef))}
    public = {n for n in dir(_onfs) if not n.startswith("_")}
    assert names == public
    for cls in (n for n in tree.body if isinstance(n, ast.ClassDef)):
        for member in cls.body:
            if isinstance(member, ast.FunctionDef) and not member.name.startswith("__"):
                assert hasattr(getattr(_onfs, cls.name), member.name), (cls.name, member.name)
