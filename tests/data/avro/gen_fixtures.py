#!/usr/bin/python3
"""Writes the interop fixtures read by tests/check_avro.c.

Encoded with Python's reference `avro` package (python3-avro 1.11) so the C
codec is checked against an independent implementation. Each file is one
record in the Schema Registry framing: 0x00, big-endian schema id, body.
Run from anywhere: /usr/bin/python3 tests/data/avro/gen_fixtures.py
"""
import datetime
import io
import os
import struct

import avro.io
import avro.schema

HERE = os.path.dirname(os.path.abspath(__file__))
SCHEMAS = os.path.join(HERE, "..", "..", "..", "schemas")
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def ts(us):
    """timestamp-micros fields are datetimes in the Python avro API."""
    return EPOCH + datetime.timedelta(microseconds=us)


REQUEST = {
    "request_id": "req-0001",
    "query": "capital of France?\x00 \u00fcn\u00efc\u00f6de \u2713",
    "priority": "HIGH",
    "deadline_ms": 250,
    "created_at": ts(1700000000123456),
    "reply_topic": "replies.custom",
    "cache_policy": "REFRESH",
    "context": {"tenant": "acme", "lang": "fr"},
}

RESULT = {
    "request_id": "req-0001",
    "query_hash": "0123456789abcdef0123456789abcdef",
    "category": "geography",
    "confidence": 0.875,
    "reasoning": "capital city question",
    "status": "DEGRADED",
    "error": None,
    "source": "LLM",
    "coalesced": True,
    "model": "llama-3-8b",
    "batch_size": 16,
    "worker_id": "worker-7",
    "created_at": ts(1700000000123456),
    "consumed_at": ts(1700000000124456),
    "replied_at": ts(1700000000373456),
    "queue_us": 1000,
    "cache_us": -5,
    "llm_us": 240000,
    "total_us": 251000,
    "deadline_met": False,
}


def write(schema_file, schema_id, datum, out_name):
    with open(os.path.join(SCHEMAS, schema_file)) as f:
        schema = avro.schema.parse(f.read())
    body = io.BytesIO()
    avro.io.DatumWriter(schema).write(datum, avro.io.BinaryEncoder(body))
    with open(os.path.join(HERE, out_name), "wb") as f:
        f.write(b"\x00" + struct.pack(">I", schema_id) + body.getvalue())


write("ClassificationRequest.avsc", 1, REQUEST, "request_py.bin")
write("ClassificationResult.avsc", 2, RESULT, "result_py.bin")
