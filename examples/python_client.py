#!/usr/bin/python3
"""A kclassify client in Python, written against the wire format only.

It uses nothing from kclassify but the Avro schemas in schemas/: the
confluent-kafka and avro packages (Debian: python3-confluent-kafka,
python3-avro) do the rest. It shows what any other language has to do:

  1. Encode a ClassificationRequest with Avro (schemas/ClassificationRequest.avsc)
     and frame it the Schema Registry way: byte 0x00, the schema id as a 4-byte
     big-endian integer (1 for requests), then the Avro binary body.
  2. Produce it to kclassify.requests. The key may be anything: the worker
     routes by the query, not the key (kclassify-produce uses the query hash
     so that duplicates share a partition; any key works).
  3. Read kclassify.replies. Each ClassificationResult (schema id 2) carries
     the request_id as its message key and in the kafka_correlationId header,
     which is how replies are matched to requests here.

Run:  /usr/bin/python3 examples/python_client.py -b 127.0.0.1:9092 ["a query" ...]

Exit status: 0 if every request got a well-formed result, 1 otherwise, 2 on
bad usage.
"""

import argparse
import datetime
import io
import os
import signal
import struct
import sys
import time
import uuid

import avro.io
import avro.schema
from confluent_kafka import Consumer, Producer, TopicPartition

SCHEMA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "schemas")
REQUEST_SCHEMA_ID = 1
RESULT_SCHEMA_ID = 2
CATEGORIES = {"KNOWLEDGE_GRAPH", "REAL_TIME", "GENERAL"}  # the default taxonomy
DEFAULT_QUERIES = [
    "Which enzymes convert tryptophan to kynurenine?",
    "Latest clinical trials of metabolomics-guided therapy in sepsis",
    "How should urine samples be stored before NMR analysis?",
    "Is TMAO associated with cardiovascular risk?",
    "what is metabolomics",
]

run = True


def on_signal(sig, frame):
    global run
    run = False


def load_schema(name):
    with open(os.path.join(SCHEMA_DIR, name)) as f:
        return avro.schema.parse(f.read())


def frame(schema, schema_id, record):
    """Schema Registry framing: 0x00, 4-byte big-endian schema id, Avro body."""
    buf = io.BytesIO()
    buf.write(struct.pack(">bI", 0, schema_id))
    avro.io.DatumWriter(schema).write(record, avro.io.BinaryEncoder(buf))
    return buf.getvalue()


def unframe(schema, expected_id, value):
    if value is None or len(value) < 5:
        raise ValueError("record shorter than the 5-byte frame")
    magic, schema_id = struct.unpack(">bI", value[:5])
    if magic != 0 or schema_id != expected_id:
        raise ValueError("frame magic %d schema id %d, expected 0/%d" % (magic, schema_id,
                                                                        expected_id))
    return avro.io.DatumReader(schema).read(avro.io.BinaryDecoder(io.BytesIO(value[5:])))


def reply_consumer(bootstrap, topic):
    """Assigned (no group join) at the end of every partition, before anything is
    sent, so that no reply can be missed. The group id is required by the client
    but is never joined or committed to."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "py-client-" + uuid.uuid4().hex,
                  "enable.auto.commit": False})
    md = c.list_topics(topic, timeout=10)
    if topic not in md.topics or md.topics[topic].error is not None:
        raise RuntimeError("reply topic %s: %s" % (topic, md.topics.get(topic)))
    parts = []
    for p in md.topics[topic].partitions:
        _, high = c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
        parts.append(TopicPartition(topic, p, high))
    c.assign(parts)
    return c


def send_requests(bootstrap, topic, schema, queries):
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    failures = []

    def on_delivery(err, msg):
        if err:
            failures.append(str(err))

    sent = {}
    for q in queries:
        rid = str(uuid.uuid4())
        req = {
            "request_id": rid,
            "query": q,
            "priority": "NORMAL",
            "deadline_ms": 0,  # the worker's default budget
            "created_at": datetime.datetime.now(datetime.timezone.utc),
            "reply_topic": None,  # the worker's default reply topic
            "cache_policy": "USE",
            "context": {"client": "examples/python_client.py"},
        }
        # Any key will do; this one is neither the request id nor the query hash.
        key = "py-client-%d" % len(sent)
        p.produce(topic, key=key, value=frame(schema, REQUEST_SCHEMA_ID, req),
                  on_delivery=on_delivery)
        sent[rid] = q
    if p.flush(30) != 0 or failures:
        raise RuntimeError("delivery failed: %s" % (failures or "flush timed out"))
    return sent


def check_result(res, rid):
    """@returns a list of problems with one result."""
    bad = []
    if res["request_id"] != rid:
        bad.append("request_id %r in the body, %r in the header" % (res["request_id"], rid))
    if res["category"] not in CATEGORIES:
        bad.append("category %r is not in the taxonomy" % res["category"])
    if not 0.0 <= res["confidence"] <= 1.0:
        bad.append("confidence %r outside [0,1]" % res["confidence"])
    if res["status"] not in ("OK", "DEGRADED"):
        bad.append("status %s (error %r)" % (res["status"], res["error"]))
    if len(res["query_hash"]) != 32:
        bad.append("query_hash %r is not 32 hex digits" % res["query_hash"])
    if not isinstance(res["replied_at"], datetime.datetime):
        bad.append("replied_at is not a timestamp")
    if res["total_us"] < 0:
        bad.append("negative total_us")
    return bad


def collect_replies(consumer, schema, sent, timeout_s):
    results, problems = {}, []
    deadline = time.monotonic() + timeout_s
    while run and len(results) < len(sent) and time.monotonic() < deadline:
        msg = consumer.poll(0.2)
        if msg is None:
            continue
        if msg.error():
            problems.append("consumer: %s" % msg.error())
            continue
        headers = dict(msg.headers() or [])
        rid = headers.get("kafka_correlationId", b"").decode("utf-8", "replace")
        if rid not in sent:
            continue  # someone else's reply
        try:
            res = unframe(schema, RESULT_SCHEMA_ID, msg.value())
        except Exception as e:  # noqa: BLE001 - report any decode failure
            problems.append("%s: undecodable result: %s" % (rid, e))
            continue
        if rid in results:
            problems.append("%s: answered twice" % rid)
        problems += ["%s: %s" % (rid, b) for b in check_result(res, rid)]
        results[rid] = res
    for rid, q in sent.items():
        if rid not in results:
            problems.append("%s (%r): no result within %.0fs" % (rid, q, timeout_s))
    return results, problems


def print_table(sent, results):
    print("%-8s  %-15s  %-8s  %-8s  %5s  %8s  %s" % ("request", "category", "status", "source",
                                                   "conf", "total_ms", "query"))
    for rid, q in sent.items():
        r = results.get(rid)
        if r is None:
            print("%-8s  %-15s  %-8s  %-8s  %5s  %8s  %s" % (rid[:8], "-", "MISSING", "-", "-", "-",
                                                           q))
            continue
        print("%-8s  %-15s  %-8s  %-8s  %5.2f  %8.1f  %s"
              % (rid[:8], r["category"], r["status"], r["source"], r["confidence"],
                 r["total_us"] / 1000.0, q))


def main():
    ap = argparse.ArgumentParser(description="Send queries to kclassify and print the answers.")
    ap.add_argument("-b", "--bootstrap", required=True, help="Kafka bootstrap servers")
    ap.add_argument("--requests-topic", default="kclassify.requests")
    ap.add_argument("--replies-topic", default="kclassify.replies")
    ap.add_argument("--timeout", type=float, default=30, help="seconds to wait for the replies")
    ap.add_argument("queries", nargs="*", help="queries to classify (default: a few examples)")
    a = ap.parse_args()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    req_schema = load_schema("ClassificationRequest.avsc")
    res_schema = load_schema("ClassificationResult.avsc")

    consumer = reply_consumer(a.bootstrap, a.replies_topic)
    try:
        sent = send_requests(a.bootstrap, a.requests_topic, req_schema,
                             a.queries or DEFAULT_QUERIES)
        results, problems = collect_replies(consumer, res_schema, sent, a.timeout)
    finally:
        consumer.close()

    print_table(sent, results)
    for p in problems:
        print("PROBLEM: " + p, file=sys.stderr)
    print("%d of %d requests answered, %d problem(s)" % (len(results), len(sent), len(problems)))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
