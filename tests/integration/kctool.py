#!/usr/bin/python3
"""kctool: Kafka and checking helpers for the kclassify integration tests.

Run with Debian's /usr/bin/python3 (python3-confluent-kafka, python3-avro).
It speaks the wire format independently of the C code: Avro binary in Schema
Registry framing (0x00, 4-byte big-endian schema id, body) with the schemas of
schemas/*.avsc.

Subcommands (see --help of each):
  dump            read a topic from the beginning, print one JSON line per record
  produce-raw     produce arbitrary bytes (--hex) or a JSONL spec of records
  encode-request  print the framed hex of a ClassificationRequest
  gen-queries     write request files and a labels TSV for a test
  gen-dlt-spec    write a mix of malformed and valid records (JSONL spec)
  check-results   assert on results against what was sent
  check-dlt       assert on dead letters against what was sent
  check-stats     assert on the LLM simulator's /stats JSON

Checks print a summary on stdout and every violation on stderr, and exit 1 on
any violation.
"""

import argparse
import datetime
import io
import json
import os
import random
import struct
import sys
import time
import urllib.request
import uuid

import avro.io
import avro.schema
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition

SRC = os.environ.get("KC_SRC") or os.path.normpath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
SCHEMA_FILES = {"request": "ClassificationRequest.avsc", "result": "ClassificationResult.avsc"}
SCHEMA_IDS = {"request": 1, "result": 2}
TAXONOMY = ("KNOWLEDGE_GRAPH", "REAL_TIME", "GENERAL")
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def die(msg, code=2):
    print("kctool: " + msg, file=sys.stderr)
    sys.exit(code)


# ----------------------------------------------------------------- avro

_schemas = {}


def schema(name):
    if name not in _schemas:
        with open(os.path.join(SRC, "schemas", SCHEMA_FILES[name])) as f:
            _schemas[name] = avro.schema.parse(f.read())
    return _schemas[name]


def micros(dt):
    """python-avro maps timestamp-micros to datetime; the wire value is integer micros."""
    td = dt - EPOCH
    return (td.days * 86400 + td.seconds) * 1000000 + td.microseconds


def plain(v):
    if isinstance(v, datetime.datetime):
        return micros(v)
    if isinstance(v, dict):
        return {k: plain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [plain(x) for x in v]
    return v


def decode(name, value):
    """Framed bytes -> (schema id, dict). Raises ValueError on a bad frame."""
    if value is None or len(value) < 5:
        raise ValueError("value shorter than the 5-byte frame")
    if value[0] != 0:
        raise ValueError("magic byte is 0x%02x, not 0x00" % value[0])
    sid = struct.unpack(">I", value[1:5])[0]
    if sid != SCHEMA_IDS[name]:
        raise ValueError("schema id %d, expected %d" % (sid, SCHEMA_IDS[name]))
    buf = io.BytesIO(value[5:])
    rec = avro.io.DatumReader(schema(name)).read(avro.io.BinaryDecoder(buf))
    if buf.tell() != len(value) - 5:
        raise ValueError("%d trailing bytes" % (len(value) - 5 - buf.tell()))
    return sid, plain(rec)


def encode(name, rec, magic=0, sid=None):
    buf = io.BytesIO()
    buf.write(bytes([magic]))
    buf.write(struct.pack(">I", SCHEMA_IDS[name] if sid is None else sid))
    avro.io.DatumWriter(schema(name)).write(rec, avro.io.BinaryEncoder(buf))
    return buf.getvalue()


def request_record(request_id, query, **kw):
    rec = {
        "request_id": request_id,
        "query": query,
        "priority": kw.get("priority", "NORMAL"),
        "deadline_ms": kw.get("deadline_ms", 0),
        "created_at": datetime.datetime.now(datetime.timezone.utc),
        "reply_topic": kw.get("reply_topic"),
        "cache_policy": kw.get("cache_policy", "USE"),
        "context": kw.get("context", {}),
    }
    return rec


# ----------------------------------------------------------------- dump

def text(b):
    return None if b is None else b.decode("utf-8", errors="replace")


def record_json(msg, schema_name):
    val = msg.value()
    out = {}
    if schema_name != "none":
        try:
            sid, rec = decode(schema_name, val)
            out.update(rec)
            out["_schema_id"] = sid
        except Exception as e:  # noqa: BLE001 - any decode failure is reported, not fatal
            out["_decode_error"] = "%s: %s" % (type(e).__name__, e)
    if schema_name == "none" or "_decode_error" in out:
        out["_value_hex"] = None if val is None else val.hex()
    out["_key"] = text(msg.key())
    out["_headers"] = {k: text(v) for k, v in (msg.headers() or [])}
    out["_topic"] = msg.topic()
    out["_partition"] = msg.partition()
    out["_offset"] = msg.offset()
    return out


def cmd_dump(a):
    c = Consumer({"bootstrap.servers": a.bootstrap, "group.id": "kctool-" + uuid.uuid4().hex,
                  "enable.auto.commit": False, "enable.partition.eof": True,
                  "auto.offset.reset": "earliest", "isolation.level": "read_committed"})
    deadline = time.monotonic() + a.timeout
    md = c.list_topics(a.topic, timeout=10)
    tmd = md.topics.get(a.topic)
    if tmd is None or tmd.error is not None or not tmd.partitions:
        die("topic %s: %s" % (a.topic, tmd.error if tmd else "unknown"), 1)
    parts = sorted(tmd.partitions)
    c.assign([TopicPartition(a.topic, p, OFFSET_BEGINNING) for p in parts])
    count, ends, eof_at = 0, None, {}
    while time.monotonic() < deadline:
        if count >= a.expect and ends is None:
            # Enough records: read on to the current end of every partition,
            # so duplicates beyond the expected count are seen too.
            ends = {p: c.get_watermark_offsets(TopicPartition(a.topic, p), timeout=5)[1]
                    for p in parts}
        if ends is not None and all(eof_at.get(p, -1) >= ends[p] for p in parts):
            break
        msg = c.poll(0.2)
        if msg is None:
            continue
        if msg.error():
            if msg.error().code() == KafkaError._PARTITION_EOF:
                eof_at[msg.partition()] = msg.offset()
                continue
            die("consumer: %s" % msg.error(), 1)
        eof_at.pop(msg.partition(), None)
        print(json.dumps(record_json(msg, a.schema), sort_keys=True))
        count += 1
    c.close()
    sys.stdout.flush()
    if count < a.expect:
        die("%s: %d of %d expected records within %.0fs" % (a.topic, count, a.expect, a.timeout),
            3)
    if ends is not None and not all(eof_at.get(p, -1) >= ends[p] for p in parts):
        die("%s: did not reach the end of every partition within %.0fs" % (a.topic, a.timeout), 3)
    print("kctool dump: %d records from %s" % (count, a.topic), file=sys.stderr)


# ----------------------------------------------------------------- produce

def produce_records(bootstrap, topic, recs):
    """recs: dicts with hex (or None for a null value), optional key, headers, partition.
    Produced in order, one at a time, so the offsets follow the list order."""
    p = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 0})
    out = []
    for r in recs:
        rep = {}

        def dr(err, msg, rep=rep):
            rep["error"] = str(err) if err else None
            rep["partition"] = msg.partition()
            rep["offset"] = msg.offset()

        kw = {}
        if r.get("partition") is not None:
            kw["partition"] = r["partition"]
        value = None if r.get("hex") is None else bytes.fromhex(r["hex"])
        p.produce(topic, value=value, key=r.get("key"),
                  headers=list((r.get("headers") or {}).items()), on_delivery=dr, **kw)
        if p.flush(30) != 0 or rep.get("error") or "offset" not in rep:
            die("delivery of %s failed: %s" % (r.get("label", r.get("key")), rep.get("error")), 1)
        o = dict(r)
        o.update(topic=topic, partition=rep["partition"], offset=rep["offset"])
        out.append(o)
    return out


def cmd_produce_raw(a):
    if a.spec:
        with open(a.spec) as f:
            recs = [json.loads(line) for line in f if line.strip()]
    elif a.hex is not None:
        recs = [{"hex": a.hex, "key": a.key}]
    else:
        die("give --hex or --spec")
    for o in produce_records(a.bootstrap, a.topic, recs):
        print(json.dumps(o, sort_keys=True))


def cmd_encode_request(a):
    rec = request_record(a.request_id, a.query, deadline_ms=a.deadline_ms)
    if a.created_at_us is not None:
        rec["created_at"] = EPOCH + datetime.timedelta(microseconds=a.created_at_us)
    print(encode("request", rec, a.magic, a.schema_id).hex())


# ----------------------------------------------------------------- test data

# Realistic clinical-metabolomics questions (the hand labels are what a human
# would say; the tests relabel them so that they differ from the fallback).
BASE_QUERIES = [
    ("KNOWLEDGE_GRAPH", "Which enzymes convert phenylalanine to tyrosine?"),
    ("KNOWLEDGE_GRAPH", "What pathways link trimethylamine N-oxide to atherosclerosis?"),
    ("KNOWLEDGE_GRAPH", "Which genes regulate bile acid synthesis in the liver?"),
    ("KNOWLEDGE_GRAPH", "Is elevated 2-hydroxyglutarate associated with IDH1 mutations in glioma?"),
    ("KNOWLEDGE_GRAPH", "What metabolites are biomarkers of early chronic kidney disease?"),
    ("KNOWLEDGE_GRAPH", "How is kynurenine linked to depression and inflammation?"),
    ("KNOWLEDGE_GRAPH", "Which drugs inhibit HMG-CoA reductase and lower LDL cholesterol?"),
    ("KNOWLEDGE_GRAPH", "What is the relationship between ceramides and insulin resistance?"),
    ("KNOWLEDGE_GRAPH", "Which gut bacteria produce short-chain fatty acids from dietary fiber?"),
    ("KNOWLEDGE_GRAPH", "What disease is caused by a deficiency of phenylalanine hydroxylase?"),
    ("KNOWLEDGE_GRAPH", "How does metformin affect the TCA cycle and lactate levels?"),
    ("KNOWLEDGE_GRAPH", "Which metabolites accumulate in maple syrup urine disease?"),
    ("KNOWLEDGE_GRAPH", "What is the role of succinate in hypoxia-inducible factor signaling?"),
    ("KNOWLEDGE_GRAPH", "Are branched-chain amino acids associated with type 2 diabetes risk?"),
    ("KNOWLEDGE_GRAPH", "Which transporters move lactate across the plasma membrane?"),
    ("KNOWLEDGE_GRAPH", "How do statins influence coenzyme Q10 biosynthesis?"),
    ("KNOWLEDGE_GRAPH", "What is the link between homocysteine and cardiovascular disease?"),
    ("REAL_TIME", "What are the latest clinical trials of metabolomics in sepsis?"),
    ("REAL_TIME", "Any new FDA approvals for metabolic disease drugs this year?"),
    ("REAL_TIME", "Recent publications on lipidomics in Alzheimer's disease 2024"),
    ("REAL_TIME", "Which metabolomics conferences are happening next month?"),
    ("REAL_TIME", "Current recruiting trials for phenylketonuria gene therapy"),
    ("REAL_TIME", "What did the newest guideline update say about newborn screening panels?"),
    ("REAL_TIME", "Latest news on GLP-1 agonists and metabolomic profiling"),
    ("REAL_TIME", "Has a new mass spectrometer been launched by Thermo in 2025?"),
    ("REAL_TIME", "What are this year's breakthroughs in single-cell metabolomics?"),
    ("REAL_TIME", "Recently published studies on the gut microbiome and TMAO in 2024"),
    ("REAL_TIME", "Are there ongoing trials of ketogenic diets for epilepsy right now?"),
    ("REAL_TIME", "What is the current status of the Human Metabolome Database release?"),
    ("REAL_TIME", "Latest preprints on metabolomics of long COVID"),
    ("REAL_TIME", "New regulatory guidance on clinical mass spectrometry assays announced today"),
    ("REAL_TIME", "What happened at the Metabolomics Society meeting this week?"),
    ("REAL_TIME", "Upcoming webinars on untargeted metabolomics data sharing"),
    ("GENERAL", "What is metabolomics?"),
    ("GENERAL", "How do I normalize LC-MS peak intensities across batches?"),
    ("GENERAL", "What is the difference between targeted and untargeted metabolomics?"),
    ("GENERAL", "How should plasma samples be stored before metabolite extraction?"),
    ("GENERAL", "Explain PLS-DA in simple terms"),
    ("GENERAL", "Which software tools are used for peak picking in GC-MS data?"),
    ("GENERAL", "How do you calculate fold change and p-values for a volcano plot?"),
    ("GENERAL", "What is an internal standard in mass spectrometry?"),
    ("GENERAL", "Best practices for quality control samples in a metabolomics run"),
    ("GENERAL", "What does NMR measure in a urine sample?"),
    ("GENERAL", "How to correct batch effects in large cohort metabolomics studies"),
    ("GENERAL", "Define the term metabolite"),
    ("GENERAL", "What is the purpose of derivatization before GC-MS?"),
    ("GENERAL", "Step by step protocol for methanol extraction of serum metabolites"),
    ("GENERAL", "How many replicates do I need for a pilot metabolomics study?"),
    ("GENERAL", "What is the dynamic range of a triple quadrupole instrument?"),
    ("GENERAL", "Which python packages handle mzML files?"),
]

TEMPLATES = [
    "Which pathways connect {m} to {d}?",
    "Is {m} a biomarker of {d}?",
    "Latest studies on {m} in {d}",
    "How do I quantify {m} in patients with {d}?",
    "What enzymes metabolize {m} in {d}?",
]
METABOLITES = ["citrate", "lactate", "glutamine", "kynurenine", "taurine", "carnitine", "betaine",
               "urate", "sphingosine-1-phosphate", "hippurate", "creatinine", "choline"]
DISEASES = ["type 2 diabetes", "heart failure", "NAFLD", "colorectal cancer", "sepsis",
            "multiple sclerosis", "preeclampsia"]


def variant(q, rng):
    """A spelling of q that normalizes to the same key: case, whitespace, trailing '?'."""
    words = q.rstrip("?").split(" ")
    case = rng.choice(["same", "lower", "upper", "title"])
    if case == "lower":
        words = [w.lower() for w in words]
    elif case == "upper":
        words = [w.upper() for w in words]
    elif case == "title":
        words = [w[:1].upper() + w[1:] for w in words]
    sep = [rng.choice([" ", " ", "  ", "\t", " \t "]) for _ in words[1:]]
    s = words[0] + "".join(x + w for x, w in zip(sep, words[1:]))
    s = rng.choice(["", "", "  ", "\t"]) + s + rng.choice(["", "?", "?", " ?", "??", "? "])
    return s


def fallback_labels(sim_url, queries):
    """Ask an LLM simulator started WITHOUT --labels: its answers are the fallback's."""
    body = {"model": "kctool", "messages": [
        {"role": "system", "content": "classify"},
        {"role": "user", "content": json.dumps(
            {"queries": [{"id": "q%d" % i, "text": q} for i, q in enumerate(queries)]})}]}
    req = urllib.request.Request(sim_url.rstrip("/") + "/chat/completions",
                                 data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        resp = json.load(r)
    content = json.loads(resp["choices"][0]["message"]["content"])
    cats = {x["id"]: x["category"] for x in content["results"]}
    return [cats["q%d" % i] for i in range(len(queries))]


def distinct_queries(n):
    if n <= len(BASE_QUERIES):
        return [q for _, q in BASE_QUERIES[:n]]
    combos = [t.format(m=m, d=d) for t in TEMPLATES for m in METABOLITES for d in DISEASES]
    if n > len(combos):
        die("at most %d distinct generated queries" % len(combos))
    return combos[:n]


def cmd_gen_queries(a):
    """Writes PREFIX.jsonl (kclassify-produce input: request_id + query) and
    PREFIX.expect.jsonl (request_id, base query index, label)."""
    rng = random.Random(a.seed)
    base = distinct_queries(a.distinct)
    labels = None
    if a.fallback_url:
        fb = fallback_labels(a.fallback_url, base)
        # Every label differs from the fallback's answer: a matching category
        # can only have come from the labels file, i.e. through the LLM path.
        labels = [TAXONOMY[(TAXONOMY.index(c) + 1) % len(TAXONOMY)] for c in fb]
        with open(a.labels_out, "w") as f:
            f.write("# generated by kctool gen-queries: labels chosen to differ from the fallback\n")
            for lab, q in zip(labels, base):
                f.write("%s\t%s\n" % (lab, q))
    # Each distinct query at least once, the rest at random, shuffled.
    idx = list(range(len(base))) + [rng.randrange(len(base)) for _ in range(a.count - len(base))]
    rng.shuffle(idx)
    with open(a.prefix + ".jsonl", "w") as fin, open(a.prefix + ".expect.jsonl", "w") as fex:
        for n, i in enumerate(idx):
            rid = "%s-%04d" % (a.id_prefix, n)
            q = base[i] if a.exact else variant(base[i], rng)
            fin.write(json.dumps({"request_id": rid, "query": q}) + "\n")
            fex.write(json.dumps({"request_id": rid, "query": q, "base": i,
                                  "label": labels[i] if labels else None}) + "\n")
    print("kctool gen-queries: %d requests over %d distinct queries -> %s.jsonl"
          % (len(idx), len(base), a.prefix), file=sys.stderr)


def cmd_gen_dlt_spec(a):
    """A JSONL spec for produce-raw: malformed records interleaved with valid requests."""
    rng = random.Random(a.seed)

    def req(rid, q):
        return encode("request", request_record(rid, q))

    good = encode("request", request_record("dlt-template", "What is metabolomics?"))
    body = good[5:]
    bad = [
        ("wrong-magic", bytes([0x01]) + good[1:]),
        ("unknown-schema-id", bytes([0, 0, 0, 0, 7]) + body),
        ("result-schema-id", bytes([0, 0, 0, 0, 2]) + body),
        ("truncated", good[:len(good) // 2]),
        ("frame-only", good[:5]),
        ("random-bytes", bytes([0xde, 0xad]) + rng.randbytes(40)),
        ("empty", b""),
        ("null-value", None),  # a tombstone
        ("corrupt-body", good[:5] + bytes([0x7f] * 3) + rng.randbytes(20)),
        ("trailing-garbage", good + b"\x00\x01\x02"),
    ]
    valid_queries = [q for _, q in BASE_QUERIES]
    out = []
    n = 0
    for label, value in bad:
        for _ in range(2):
            rid = "dlt-ok-%02d" % n
            out.append({"label": "valid", "request_id": rid, "key": "k-" + rid,
                        "hex": req(rid, valid_queries[n % len(valid_queries)]).hex()})
            n += 1
        out.append({"label": label, "key": "bad-%s" % label,
                    "hex": None if value is None else value.hex(), "headers": {"x-test": label}})
    # Decodable but invalid: answered with an ERROR reply, not dead-lettered.
    out.append({"label": "invalid-utf8", "request_id": "dlt-utf8", "key": "k-utf8",
                "hex": (good[:5] + _request_body_raw("dlt-utf8", b"caf\xc3(")).hex()})
    with open(a.out, "w") as f:
        for o in out:
            f.write(json.dumps(o) + "\n")


def cmd_gen_poison_spec(a):
    """Poison requests (unusable reply topic or request_id, undecodable) between
    valid ones, for produce-raw --spec on a one-partition topic. "expect" says
    what each must get: "ok" (a reply on kclassify.replies), "error:TEXT" (an
    ERROR reply on kclassify.replies whose error holds TEXT, under the id the
    worker shows) or "dlt"."""
    out = []
    n = [0]

    def good(count):
        for _ in range(count):
            rid = "poison-ok-%03d" % n[0]
            q = "%s (variant %d)" % (BASE_QUERIES[n[0] % len(BASE_QUERIES)][1], n[0])
            out.append({"label": "valid", "request_id": rid, "expect": "ok", "key": "k-" + rid,
                        "hex": encode("request", request_record(rid, q)).hex()})
            n[0] += 1

    def poison(label, rid, expect, shown_id=None, headers=None, **kw):
        rec = request_record(rid, "What is metabolomics?", **kw)
        out.append({"label": label, "request_id": shown_id or rid, "expect": expect,
                    "key": "k-" + label, "headers": headers or {},
                    "hex": encode("request", rec).hex()})

    good(10)
    poison("reply-topic-600", "p-long-topic", "error:not a valid Kafka topic name (600 bytes)",
           reply_topic="t" * 600)
    good(1)
    poison("reply-topic-alerts", "p-alerts", "error:not in topic.replies.allowed",
           reply_topic="kclassify.alerts")
    good(1)
    poison("request-id-350k", "i" * (350 * 1024), "error:longer than 256",
           shown_id="i" * 256)
    good(1)
    poison("request-id-control", "p-ctl\x01\x1b[31m", "error:control character",
           shown_id="p-ctl??[31m")
    good(1)
    poison("reply-header-requests", "p-hdr", "error:not in topic.replies.allowed",
           headers={"kafka_replyTopic": "kclassify.requests"})
    good(1)
    out.append({"label": "undecodable", "request_id": None, "expect": "dlt", "key": "k-garbage",
                "hex": "00deadbeef"})
    good(40)
    with open(a.out, "w") as f:
        for o in out:
            f.write(json.dumps(o) + "\n")


def _request_body_raw(rid, query_bytes):
    """Avro body of a request whose query holds arbitrary bytes (python-avro only writes str)."""
    def zz(n):
        n = (n << 1) ^ (n >> 63)
        b = bytearray()
        while n & ~0x7f:
            b.append((n & 0x7f) | 0x80)
            n >>= 7
        b.append(n)
        return bytes(b)

    def s(b):
        return zz(len(b)) + b
    now = micros(datetime.datetime.now(datetime.timezone.utc))
    # request_id, query, priority NORMAL(1), deadline 0, created_at, reply_topic null
    # (union branch 0), cache_policy USE(0), empty context map (block count 0)
    return (s(rid.encode()) + s(query_bytes) + zz(1) + zz(0) + zz(now) + zz(0) + zz(0) + zz(0))


# ----------------------------------------------------------------- checks

class Checker:
    def __init__(self, name):
        self.name = name
        self.errors = []

    def error(self, msg):
        self.errors.append(msg)

    def finish(self):
        if self.errors:
            for e in self.errors[:40]:
                print("VIOLATION [%s]: %s" % (self.name, e), file=sys.stderr)
            if len(self.errors) > 40:
                print("... and %d more violations" % (len(self.errors) - 40), file=sys.stderr)
            print("kctool %s: FAILED with %d violation(s)" % (self.name, len(self.errors)),
                  file=sys.stderr)
            sys.exit(1)
        print("kctool %s: all checks passed" % self.name)


def load_jsonl(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


RESULT_FIELDS = ["request_id", "query_hash", "category", "confidence", "reasoning", "status",
                 "error", "source", "coalesced", "model", "batch_size", "worker_id", "created_at",
                 "consumed_at", "replied_at", "queue_us", "cache_us", "llm_us", "total_us",
                 "deadline_met"]


def check_result_fields(ck, r, where):
    for f in RESULT_FIELDS:
        if f not in r:
            ck.error("%s: field %s missing" % (where, f))
            return
    if r["category"] not in TAXONOMY:
        ck.error("%s: category %r is not in the taxonomy" % (where, r["category"]))
    if not (0.0 <= r["confidence"] <= 1.0):
        ck.error("%s: confidence %r outside [0,1]" % (where, r["confidence"]))
    if len(r["query_hash"] or "") != 32 and r["status"] != "ERROR":
        ck.error("%s: query_hash %r is not 32 hex digits" % (where, r["query_hash"]))
    if not r["worker_id"]:
        ck.error("%s: empty worker_id" % where)
    if not (r["created_at"] <= r["consumed_at"] + 1000 and r["consumed_at"] <= r["replied_at"]):
        ck.error("%s: timestamps out of order: created %d consumed %d replied %d"
                 % (where, r["created_at"], r["consumed_at"], r["replied_at"]))
    for f in ("queue_us", "cache_us", "llm_us", "total_us"):
        if r[f] < 0:
            ck.error("%s: %s is negative (%d)" % (where, f, r[f]))
    if r["status"] == "OK" and r["error"] is not None:
        ck.error("%s: status OK with error %r" % (where, r["error"]))
    if r["status"] != "OK" and not r["error"]:
        ck.error("%s: status %s without an error text" % (where, r["status"]))
    if r["source"] == "LLM" and r["batch_size"] < 1:
        ck.error("%s: source LLM with batch_size %d" % (where, r["batch_size"]))
    if r["coalesced"] and r["source"] not in ("LLM", "FALLBACK", "LMDB", "REDIS"):
        ck.error("%s: coalesced but source %s" % (where, r["source"]))


def cmd_check_results(a):
    ck = Checker("check-results")
    expect = load_jsonl(a.expect)
    exp = {e["request_id"]: e for e in expect}
    if len(exp) != len(expect):
        die("request ids repeat in %s" % a.expect)
    statuses = set(a.status.split(","))
    sources = set(a.source.split(","))
    results = {}
    if a.results:
        for r in load_jsonl(a.results):
            rid = r.get("request_id")
            if rid in results:
                ck.error("request %s printed twice by kclassify-produce" % rid)
            results[rid] = r
    dump_cnt = {}
    if a.replies_dump:
        for r in load_jsonl(a.replies_dump):
            if "_decode_error" in r:
                ck.error("reply at %s[%d]@%d undecodable: %s"
                         % (r["_topic"], r["_partition"], r["_offset"], r["_decode_error"]))
                continue
            rid = r["request_id"]
            if rid not in exp:
                if not a.ignore_foreign:
                    ck.error("reply for unknown request id %r" % rid)
                continue
            dump_cnt[rid] = dump_cnt.get(rid, 0) + 1
            if r["_key"] != rid:
                ck.error("reply %s: message key %r is not the request id" % (rid, r["_key"]))
            if r["_headers"].get("kafka_correlationId") != rid:
                ck.error("reply %s: kafka_correlationId header %r"
                         % (rid, r["_headers"].get("kafka_correlationId")))
            check_result_fields(ck, r, "reply %s (dump)" % rid)
            if a.results is None:
                results.setdefault(rid, r)
        dups = {k: v for k, v in dump_cnt.items() if v > 1}
        missing = [k for k in exp if k not in dump_cnt]
        if missing:
            ck.error("%d request(s) have no reply on the topic, e.g. %s"
                     % (len(missing), missing[:5]))
        dup_total = sum(v - 1 for v in dups.values())
        print("replies on the topic: %d for %d requests, %d duplicate(s) over %d request(s)"
              % (sum(dump_cnt.values()), len(exp), dup_total, len(dups)))
        if dups and not a.allow_duplicates:
            ck.error("%d duplicate reply(ies), e.g. %s" % (dup_total, sorted(dups.items())[:5]))
    keys = {}
    if a.requests_dump:
        for r in load_jsonl(a.requests_dump):
            if r.get("request_id") in exp:
                keys[r["request_id"]] = r["_key"]
        if len(keys) != len(exp):
            ck.error("only %d of %d requests found on the request topic" % (len(keys), len(exp)))

    by = {"source": {}, "status": {}, "coalesced": 0}
    first_llm = {}  # base query -> non-coalesced LLM answers
    for rid, e in exp.items():
        r = results.get(rid)
        if r is None:
            ck.error("request %s (%r) got no result" % (rid, e["query"]))
            continue
        check_result_fields(ck, r, "result %s" % rid)
        if "query" in r and r["query"] is not None and r["query"] != e["query"]:
            ck.error("result %s: query %r, sent %r" % (rid, r["query"], e["query"]))
        by["source"][r["source"]] = by["source"].get(r["source"], 0) + 1
        by["status"][r["status"]] = by["status"].get(r["status"], 0) + 1
        by["coalesced"] += bool(r["coalesced"])
        if r["status"] not in statuses:
            ck.error("result %s: status %s (error %r), expected one of %s"
                     % (rid, r["status"], r["error"], sorted(statuses)))
        if r["source"] not in sources:
            ck.error("result %s: source %s, expected one of %s" % (rid, r["source"], sorted(sources)))
        if r["status"] == "DEGRADED" and r["source"] != "FALLBACK":
            ck.error("result %s: DEGRADED from source %s" % (rid, r["source"]))
        if r["source"] == "FALLBACK" and r["status"] != "DEGRADED":
            ck.error("result %s: fallback answer with status %s" % (rid, r["status"]))
        # Only answers that came through the LLM path (directly or cached) carry
        # the simulator's labels; a fallback answer is checked above.
        if (a.check_labels and e.get("label") and r["source"] in ("LLM", "L1") and
                r["category"] != e["label"]):
            ck.error("result %s (%r): category %s, the labels file says %s (source %s)"
                     % (rid, e["query"], r["category"], e["label"], r["source"]))
        if keys.get(rid) is not None and keys[rid] != r["query_hash"]:
            ck.error("result %s: query_hash %s differs from the request key %s"
                     % (rid, r["query_hash"], keys[rid]))
        if r["source"] == "LLM" and not r["coalesced"]:
            first_llm[e["base"]] = first_llm.get(e["base"], 0) + 1
        if r["source"] == "L1" and r["coalesced"]:
            ck.error("result %s: an L1 hit marked coalesced" % rid)
    # All spellings of one query must share one cache key.
    hashes = {}
    for rid, e in exp.items():
        if rid in results:
            hashes.setdefault(e["base"], set()).add(results[rid]["query_hash"])
    for b, hs in hashes.items():
        if len(hs) != 1:
            ck.error("spellings of query #%d got %d different query_hash values" % (b, len(hs)))
    if a.llm_lookups is not None:
        n = sum(first_llm.values())
        if n != a.llm_lookups:
            ck.error("%d non-coalesced LLM answers, expected exactly %d (one per distinct query)"
                     % (n, a.llm_lookups))
        over = {b: v for b, v in first_llm.items() if v > 1}
        if over:
            ck.error("queries answered by more than one LLM lookup: %s" % over)
    print("results: %d of %d; by source %s; by status %s; coalesced %d"
          % (sum(1 for k in exp if k in results), len(exp), by["source"], by["status"],
             by["coalesced"]))
    ck.finish()


def cmd_check_stats(a):
    ck = Checker("check-stats")
    with open(a.stats) as f:
        st = json.load(f)
    shown = {k: st.get(k) for k in ("calls", "ok_calls", "queries", "distinct_queries",
                                    "max_query_repeats", "errors_500", "bad_requests",
                                    "rejected_429")}
    shown["injected"] = st.get("injected")
    print("simulator stats: %s" % json.dumps(shown, sort_keys=True))
    for spec, op in [(x, "==") for x in a.eq] + [(x, "<=") for x in a.max] + \
            [(x, ">=") for x in a.min]:
        k, v = spec.split("=", 1)
        cur = st
        for part in k.split("."):
            cur = cur.get(part) if isinstance(cur, dict) else None
        v = int(v)
        ok = cur is not None and ((op == "==" and cur == v) or (op == "<=" and cur <= v) or
                                  (op == ">=" and cur >= v))
        if not ok:
            ck.error("simulator stats: %s is %r, expected %s %d" % (k, cur, op, v))
    ck.finish()


def cmd_check_dlt(a):
    ck = Checker("check-dlt")
    sent = load_jsonl(a.sent)
    bad = [s for s in sent if s["label"] not in ("valid", "invalid-utf8")]
    dlt = load_jsonl(a.dlt_dump)
    by_src = {}
    for d in dlt:
        h = d["_headers"]
        for name in ("kclassify.error", "kclassify.source.topic", "kclassify.source.partition",
                     "kclassify.source.offset"):
            if name not in h:
                ck.error("DLT record %d@%d: header %s missing (headers %s)"
                         % (d["_partition"], d["_offset"], name, sorted(h)))
        try:
            src = (h.get("kclassify.source.topic"), int(h.get("kclassify.source.partition")),
                   int(h.get("kclassify.source.offset")))
        except (TypeError, ValueError):
            ck.error("DLT record %d@%d: unparsable source headers %s"
                     % (d["_partition"], d["_offset"], h))
            continue
        if src in by_src:
            ck.error("source record %s dead-lettered twice" % (src,))
        by_src[src] = d
    for s in bad:
        src = (s["topic"], s["partition"], s["offset"])
        d = by_src.pop(src, None)
        if d is None:
            ck.error("malformed record %s (%s[%d]@%d) is not on the DLT"
                     % (s["label"], s["topic"], s["partition"], s["offset"]))
            continue
        # librdkafka hands a zero-length value over as NULL: "" and null are one thing here.
        if (d["_value_hex"] or "") != (s["hex"] or ""):
            ck.error("%s: DLT value %r differs from the original %r"
                     % (s["label"], d["_value_hex"], s["hex"]))
        if d["_key"] != s["key"]:
            ck.error("%s: DLT key %r differs from the original %r" % (s["label"], d["_key"], s["key"]))
        if not d["_headers"].get("kclassify.error"):
            ck.error("%s: empty kclassify.error header" % s["label"])
        print("  DLT %-18s <- %s[%d]@%-3d error: %s" % (s["label"], s["topic"], s["partition"],
                                                       s["offset"],
                                                       d["_headers"].get("kclassify.error")))
    for src in by_src:
        ck.error("unexpected DLT record for source %s" % (src,))
    ck.finish()


# ----------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)

    p = sub.add_parser("dump", help="read a topic from the beginning as JSONL")
    p.add_argument("--bootstrap", required=True)
    p.add_argument("--topic", required=True)
    p.add_argument("--expect", type=int, default=0,
                   help="wait for at least N records, then read to the end of every partition")
    p.add_argument("--timeout", type=float, default=30)
    p.add_argument("--schema", choices=["result", "request", "none"], default="result")
    p.set_defaults(fn=cmd_dump)

    p = sub.add_parser("produce-raw", help="produce raw bytes")
    p.add_argument("--bootstrap", required=True)
    p.add_argument("--topic", required=True)
    p.add_argument("--hex")
    p.add_argument("--key")
    p.add_argument("--spec", help="JSONL: {hex|null, key, headers, label, ...} per record")
    p.set_defaults(fn=cmd_produce_raw)

    p = sub.add_parser("encode-request", help="framed hex of a request")
    p.add_argument("--request-id", required=True)
    p.add_argument("--query", required=True)
    p.add_argument("--magic", type=int, default=0)
    p.add_argument("--schema-id", type=int, default=1)
    p.add_argument("--deadline-ms", type=int, default=0,
                   help="deadline_ms (Avro int: at most 2147483647) [0 = worker default]")
    p.add_argument("--created-at-us", type=int,
                   help="created_at, wall-clock microseconds since the epoch [now]")
    p.set_defaults(fn=cmd_encode_request)

    p = sub.add_parser("gen-queries", help="generate request input and expectations")
    p.add_argument("--prefix", required=True)
    p.add_argument("--id-prefix", default="req")
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--distinct", type=int, required=True)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--exact", action="store_true", help="no spelling variants")
    p.add_argument("--fallback-url", help="LLM simulator without labels (base URL .../v1)")
    p.add_argument("--labels-out", help="labels TSV to write (with --fallback-url)")
    p.set_defaults(fn=cmd_gen_queries)

    p = sub.add_parser("gen-dlt-spec", help="malformed + valid records for produce-raw --spec")
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=int, default=7)
    p.set_defaults(fn=cmd_gen_dlt_spec)

    p = sub.add_parser("gen-poison-spec", help="poison + valid records for produce-raw --spec")
    p.add_argument("--out", required=True)
    p.set_defaults(fn=cmd_gen_poison_spec)

    p = sub.add_parser("check-results", help="assert on results")
    p.add_argument("--expect", required=True, help="gen-queries .expect.jsonl")
    p.add_argument("--results", help="kclassify-produce --wait output")
    p.add_argument("--replies-dump", help="dump of the reply topic")
    p.add_argument("--requests-dump", help="dump of the request topic (--schema request)")
    p.add_argument("--status", default="OK")
    p.add_argument("--source", default="LLM,L1")
    p.add_argument("--check-labels", action="store_true")
    p.add_argument("--llm-lookups", type=int)
    p.add_argument("--allow-duplicates", action="store_true")
    p.add_argument("--ignore-foreign", action="store_true",
                   help="ignore replies to requests not in --expect (earlier rounds)")
    p.set_defaults(fn=cmd_check_results)

    p = sub.add_parser("check-stats", help="assert on simulator /stats")
    p.add_argument("--stats", required=True)
    p.add_argument("--eq", action="append", default=[], metavar="KEY=N")
    p.add_argument("--max", action="append", default=[], metavar="KEY=N")
    p.add_argument("--min", action="append", default=[], metavar="KEY=N")
    p.set_defaults(fn=cmd_check_stats)

    p = sub.add_parser("check-dlt", help="assert on dead letters")
    p.add_argument("--sent", required=True, help="produce-raw --spec output")
    p.add_argument("--dlt-dump", required=True)
    p.set_defaults(fn=cmd_check_dlt)

    a = ap.parse_args()
    a.fn(a)


if __name__ == "__main__":
    main()
