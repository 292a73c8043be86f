"""`onfs_push.verify` and `client.verify` against a gRPC server of this test's own that speaks the
store's published retrieval proto (`bharatml_commons.proto.retrieve`), holding what a test put in."""

from __future__ import annotations

import struct
from concurrent import futures

import grpc
import pyarrow.parquet as pq
import pytest

import onfs_push
from onfs_push import Plan
from onfs_push.spark import OnlineFeatureStorePyClient

from conftest import case_dir, input_of

CALLER, TOKEN = "py-verify", "py-t0ken-s3cret"


class Store:
    """The store's retrieval API over what the test put: `(key, group, feature) -> bytes`; keys
    never put come back with the `defaults`, as the real store answers."""

    def __init__(self):
        from bharatml_commons.proto.retrieve import retrieve_pb2 as pb
        from bharatml_commons.proto.retrieve import retrieve_pb2_grpc as rpc

        self.values, self.defaults, self.reads = {}, {}, 0
        store = self

        class Servicer(rpc.FeatureServiceServicer):
            def RetrieveFeatures(self, request, context):
                store.reads += 1
                md = dict(context.invocation_metadata())
                if md.get("online-feature-store-caller-id") != CALLER or \
                        md.get("online-feature-store-auth-token") != TOKEN:
                    context.abort(grpc.StatusCode.UNAUTHENTICATED, "invalid caller id or auth token")
                schemas, idx = [], 0
                for g in request.feature_groups:
                    features = []
                    for f in g.feature_labels:
                        features.append(pb.Feature(label=f, column_idx=idx))
                        idx += 1
                    schemas.append(pb.FeatureSchema(feature_group_label=g.label, features=features))
                rows = []
                for k in request.keys:
                    key = "|".join(k.cols)
                    cols = [store.values.get((key, g.label, f), store.defaults.get((g.label, f), b""))
                            for g in request.feature_groups for f in g.feature_labels]
                    rows.append(pb.Row(keys=list(k.cols), columns=cols))
                return pb.Result(entity_label=request.entity_label, keys_schema=list(request.keys_schema),
                                 feature_schemas=schemas, rows=rows)

        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        rpc.add_FeatureServiceServicer_to_server(Servicer(), self.server)
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()
        self.address = f"127.0.0.1:{self.port}"

    def consume(self, value: bytes, plan_view: dict):
        """What the store's consumer writes for one message, in the stored layout (the example's
        types: FP32, String, Int64, Bool, FP32 vectors and string vectors)."""
        from bharatml_commons.proto.persist.persist_pb2 import Query

        types = {g["label"]: g["data_type"] for g in plan_view["feature_groups"]}
        q = Query.FromString(value)
        for d in q.data:
            key = "|".join(d.key_values)
            for schema, fv in zip(q.feature_group_schema, d.feature_values):
                t, v = types[schema.label], fv.values
                for i, f in enumerate(schema.feature_labels):
                    self.values[(key, schema.label, f)] = stored(t, v, i)

    def set_defaults(self, plan_view: dict):
        """The example's metadata defaults in the stored layout, as the store's feature-meta holds them."""
        by_type = {"DataTypeFP32": struct.pack("<f", 0.0), "DataTypeInt64": struct.pack("<q", 0),
                   "DataTypeString": b"unknown", "DataTypeBool": b"\x00",
                   "DataTypeFP32Vector": struct.pack("<f", 0.0) * 32,
                   "DataTypeStringVector": struct.pack("<HHH", 7, 7, 7) + b"unknown" * 3}
        for g in plan_view["feature_groups"]:
            for f in g["features"]:
                self.defaults[(g["label"], f)] = by_type[g["data_type"]]

    def close(self):
        self.server.stop(None)


def stored(data_type: str, v, i: int) -> bytes:
    if data_type == "DataTypeFP32":
        return struct.pack("<f", v.fp32_values[i])
    if data_type == "DataTypeInt64":
        return struct.pack("<q", v.int64_values[i])
    if data_type == "DataTypeString":
        return v.string_values[i].encode()
    if data_type == "DataTypeBool":
        return bytes([v.bool_values[i]])
    vec = v.vector[i].values
    if data_type == "DataTypeFP32Vector":
        return b"".join(struct.pack("<f", x) for x in vec.fp32_values)
    if data_type == "DataTypeStringVector":
        items = [s.encode() for s in vec.string_values]
        return b"".join(struct.pack("<H", len(s)) for s in items) + b"".join(items)
    raise AssertionError(data_type)


@pytest.fixture
def example():
    import json

    plan = Plan.from_metadata_json((case_dir("example") / "metadata.json").read_text())
    messages = onfs_push.encode(pq.read_table(input_of("example")), plan, 20)
    store = Store()
    yield plan, json.loads(plan.to_json()), messages, store
    store.close()


def test_everything_sent_reads_back(example):
    plan, view, messages, store = example
    for v in messages.column("value").to_pylist():
        store.consume(v, view)
    report = onfs_push.verify(messages, plan, store.address, CALLER, caller_token=TOKEN, sample=None, wait=0)
    t = report["totals"]
    assert t["checked"] == 1000 * 6 and t["matches"] + t["indistinguishable"] == t["checked"]
    assert {g["group"] for g in report["groups"]} == {"user_fp32", "user_str", "user_i64", "user_bool", "user_emb",
                                                      "user_tags"}


def test_a_lost_message_raises_verify_error_with_the_defaults(example, monkeypatch):
    plan, view, messages, store = example
    values = messages.column("value").to_pylist()
    for v in values[1:]:  # the first message was dropped by the store
        store.consume(v, view)
    store.set_defaults(view)
    monkeypatch.setenv("ONFS_CALLER_TOKEN", TOKEN)
    with pytest.raises(onfs_push.VerifyError) as e:
        onfs_push.verify(values, plan, store.address, CALLER, sample=None, wait=0)
    assert e.value.report["totals"]["defaults"] > 0
    assert "came back as the defaults" in str(e.value)


def test_a_wrong_token_is_refused_without_showing_it(example):
    plan, _, messages, store = example
    with pytest.raises(onfs_push.StoreReadError) as e:
        onfs_push.verify(messages, plan, store.address, CALLER, caller_token="Wr0ng-t0ken", wait=0)
    assert "Wr0ng-t0ken" not in str(e.value)
    with pytest.raises(onfs_push.StoreReadError, match="127.0.0.1:9"):
        onfs_push.verify(messages, plan, "127.0.0.1:9", CALLER, caller_token=TOKEN, wait=0, connect_timeout=2)


def test_client_verify_reads_the_message_dataframe(spark, example, metadata_server):
    _, view, messages, store = example
    for v in messages.column("value").to_pylist():
        store.consume(v, view)
    server = metadata_server("example", token="t")
    client = OnlineFeatureStorePyClient(server.url, "job", "t")
    df = spark.read.parquet(str(input_of("example"))).repartition(3)
    proto_df = client.generate_df_with_protobuf_messages(df, intra_batch_size=20)
    report = client.verify(proto_df, store.address, CALLER, caller_token=TOKEN, sample=50, wait=0)
    assert report["totals"]["checked"] == 50 * 6 and report["totals"]["differs"] == 0
