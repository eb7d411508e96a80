"""Smoke tests: each real service answers the way the pipeline will use it."""

from __future__ import annotations

import io
import json
import uuid

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from skyrisk import contracts
from skyrisk.s3 import s3_client

pytestmark = pytest.mark.integration


def _admin(settings) -> AdminClient:
    return AdminClient({"bootstrap.servers": settings.kafka_bootstrap_servers})


def _fresh_topic(settings, partitions: int = 2) -> str:
    name = f"smoke-{uuid.uuid4().hex[:8]}"
    admin = _admin(settings)  # must outlive its futures
    for future in admin.create_topics([NewTopic(name, partitions, 1)]).values():
        future.result(timeout=30)
    return name


def _produce_json(settings, topic: str, records: list[dict], key_field: str) -> None:
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap_servers, "enable.idempotence": True})
    failures: list[str] = []
    for record in records:
        producer.produce(
            topic,
            key=str(record[key_field]).encode(),
            value=json.dumps(record).encode(),
            on_delivery=lambda err, _msg: failures.append(str(err)) if err else None,
        )
        producer.poll(0)
    assert producer.flush(30) == 0
    assert failures == []


def test_bootstrap_created_every_contract_topic_with_its_partitions(stack):
    topics = _admin(stack).list_topics(timeout=10).topics
    for spec in contracts.TOPICS:
        assert spec.name in topics, spec.name
        assert len(topics[spec.name].partitions) == spec.partitions, spec.name


def test_json_message_round_trips_through_the_broker(stack):
    topic = _fresh_topic(stack)
    sent = {"icao24": "3c6444", "latitude": 50.03, "on_ground": False}
    _produce_json(stack, topic, [sent], "icao24")
    consumer = Consumer({
        "bootstrap.servers": stack.kafka_bootstrap_servers,
        "group.id": f"smoke-{uuid.uuid4().hex[:6]}",
        "auto.offset.reset": "earliest",
    })
    consumer.subscribe([topic])
    try:
        message = None
        for _ in range(30):
            message = consumer.poll(1.0)
            if message is not None and not message.error():
                break
        assert message is not None and message.error() is None
        assert message.key() == b"3c6444"
        assert json.loads(message.value()) == sent
    finally:
        consumer.close()


def test_object_put_and_read_back_from_minio(stack):
    client = s3_client(stack)
    assert client.bucket_exists(stack.lake_bucket)
    name = f"smoke/{uuid.uuid4().hex}.json"
    body = json.dumps({"hello": "lake"}).encode()
    client.put_object(stack.lake_bucket, name, io.BytesIO(body), len(body), content_type="application/json")
    response = client.get_object(stack.lake_bucket, name)
    try:
        assert response.read() == body
    finally:
        response.close()
        response.release_conn()


def test_upsert_find_and_indexes_on_the_mongodb_server(mongo_db):
    collection = mongo_db[f"smoke_{uuid.uuid4().hex[:8]}"]
    collection.create_index([("callsign", 1)])
    collection.create_index([("icao24", 1), ("t", 1)], unique=True)
    for altitude in (1000.0, 2000.0):  # the second upsert updates the first document
        collection.update_one(
            {"_id": "3c6444"},
            {"$set": {"altitude": altitude}, "$setOnInsert": {"callsign": "DLH400"}},
            upsert=True,
        )
    docs = list(collection.find({"callsign": "DLH400"}))
    assert docs == [{"_id": "3c6444", "altitude": 2000.0, "callsign": "DLH400"}]
    index_keys = {tuple(ix["key"].items()) for ix in collection.list_indexes()}
    assert (("callsign", 1),) in index_keys
    assert (("icao24", 1), ("t", 1)) in index_keys


def test_bootstrap_created_collections_and_indexes(mongo_db):
    present = set(mongo_db.list_collection_names())
    assert set(contracts.COLLECTIONS) <= present
    live_indexes = {tuple(ix["key"].items()) for ix in mongo_db["flights_live"].list_indexes()}
    assert (("last_seen", 1),) in live_indexes


def test_structured_streaming_reads_kafka_and_writes_parquet_to_minio(stack, spark, tmp_path):
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    topic = _fresh_topic(stack, partitions=3)
    records = [{"id": i, "icao24": f"{i:06x}", "altitude": float(i * 10)} for i in range(500)]
    _produce_json(stack, topic, records, "icao24")

    schema = T.StructType([
        T.StructField("id", T.LongType()),
        T.StructField("icao24", T.StringType()),
        T.StructField("altitude", T.DoubleType()),
    ])
    target = f"{stack.lake_url}/smoke/{topic}"
    stream = (
        spark.readStream.format("kafka")
        .option("kafka.bootstrap.servers", stack.kafka_bootstrap_servers)
        .option("subscribe", topic)
        .option("startingOffsets", "earliest")
        .load()
        .select(F.from_json(F.col("value").cast("string"), schema).alias("r"))
        .select("r.*")
    )
    query = (
        stream.writeStream.format("parquet")
        .option("path", target)
        .option("checkpointLocation", str(tmp_path / "checkpoint"))
        .trigger(availableNow=True)
        .start()
    )
    query.awaitTermination(180)
    assert query.exception() is None

    written = spark.read.parquet(target)
    assert written.count() == len(records)
    assert written.select("id").distinct().count() == len(records)
    assert written.agg(F.sum("altitude")).first()[0] == sum(r["altitude"] for r in records)
