#!/usr/bin/python3
"""Writes the seed corpora of the libFuzzer targets: tests/fuzz/corpus/<target>/.

Seeds are real encoded records and the tests/data fixtures, so the fuzzers
start from inputs that get deep into each parser:
  fuzz_avro_request / fuzz_avro_result  records encoded by kctool.py (Python's
      reference avro package), the tests/data/avro interop fixtures, and a few
      malformed frames (truncated, wrong magic, unknown schema id)
  fuzz_llm_response  every tests/data/llm body behind a first byte giving n = 3,
      and the lp_* (logprobs) bodies also with the KC_LLM_PARSE_LOGPROBS bit
  fuzz_llm_logprob   the message contents of the tests/data/llm bodies behind
      a first byte choosing the token cut and mode
  fuzz_cache_rec     cache records in the layout of libcore/cache/kc_cache_rec.h
  fuzz_conf          worker properties files
  fuzz_taxonomy      tests/data/taxonomy/*.json
  fuzz_normalize     queries from examples/queries.txt and awkward spellings
Deterministic; run from anywhere with Debian's /usr/bin/python3, then commit.
"""
import datetime
import glob
import hashlib
import json
import os
import shutil
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
os.environ.setdefault("KC_SRC", ROOT)
import kctool  # noqa: E402  (the integration tests' independent Avro encoder)

OUT = os.path.join(HERE, "corpus")
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def write(target, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    name = hashlib.sha1(data).hexdigest()[:16]
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def ts(us):
    return EPOCH + datetime.timedelta(microseconds=us)


def fixture(rel):
    with open(os.path.join(ROOT, "tests", "data", rel), "rb") as f:
        return f.read()


def malformed(framed):
    yield framed[: len(framed) // 2]                    # truncated body
    yield framed[:5]                                    # frame only
    yield b"\x05" + framed[1:]                          # wrong magic
    yield framed[:1] + struct.pack(">I", 7) + framed[5:]  # unknown schema id
    yield framed + b"\x00"                              # trailing byte


def avro_request_seeds():
    recs = [
        kctool.request_record("r-1", "What is metabolomics?"),
        kctool.request_record("r-2", "Latest 2025 FDA approvals?", priority="HIGH",
                              deadline_ms=250, reply_topic="replies.custom",
                              cache_policy="REFRESH", context={"tenant": "acme", "lang": "fr"}),
        kctool.request_record("r-3", "", priority="LOW", cache_policy="BYPASS"),
        kctool.request_record("r-4", "caf\u00e9 \u2713 \x00 nul\tand\x01ctl"),
    ]
    out = [kctool.encode("request", r) for r in recs]
    out.append(fixture("avro/request_py.bin"))
    out.extend(malformed(out[1]))
    return out


def result_record(**kw):
    rec = {
        "request_id": "r-1", "query_hash": "0123456789abcdef0123456789abcdef",
        "category": "KNOWLEDGE_GRAPH", "confidence": 0.9, "reasoning": "a known pathway",
        "status": "OK", "error": None, "source": "LLM", "coalesced": False,
        "model": "gpt-4o-mini", "batch_size": 16, "worker_id": "w1",
        "created_at": ts(1700000000000000), "consumed_at": ts(1700000000001000),
        "replied_at": ts(1700000000300000), "queue_us": 1000, "cache_us": 20,
        "llm_us": 290000, "total_us": 300000, "deadline_met": True,
    }
    rec.update(kw)
    return rec


def avro_result_seeds():
    out = [kctool.encode("result", result_record()),
           kctool.encode("result", result_record(status="ERROR", error="query is empty",
                                                 source="NONE", reasoning=None, model=None,
                                                 confidence=0.0, category="GENERAL")),
           kctool.encode("result", result_record(status="DEGRADED", source="FALLBACK",
                                                 coalesced=True, deadline_met=False)),
           fixture("avro/result_py.bin")]
    out.extend(malformed(out[0]))
    return out


def cache_rec(norm, category, conf, reasoning, model, created=1700000000000000,
              ttl=3600 * 10**6):
    flags = (1 if reasoning is not None else 0) | (2 if model is not None else 0)
    b = struct.pack(">BBfqq", 1, flags, conf, created, created + ttl)

    def s(x):
        x = (x or "").encode()
        return struct.pack(">I", len(x)) + x
    return b + s(norm) + s(category) + s(reasoning) + s(model)


def cache_rec_seeds():
    full = cache_rec("what is metabolomics", "GENERAL", 0.75, "asks for a definition",
                     "gpt-4o-mini")
    return [full,
            cache_rec("latest 2025 trials", "REAL_TIME", 0.9, None, None),
            cache_rec("", "KNOWLEDGE_GRAPH", 1.0, "", ""),
            full[:30], full + b"x", b"\x02" + full[1:]]


def llm_files():
    return sorted(glob.glob(os.path.join(ROOT, "tests", "data", "llm", "*")))


def llm_seeds():
    out = [b"\x02" + open(p, "rb").read() for p in llm_files()]
    # 0x80: parse with KC_LLM_PARSE_LOGPROBS
    out += [b"\x82" + open(p, "rb").read() for p in llm_files()
            if os.path.basename(p).startswith("lp_")]
    return out


def logprob_seeds():
    out = []
    for p in llm_files():
        try:
            content = json.load(open(p, "rb"))["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            continue
        if isinstance(content, str):
            out.append(bytes([len(out) % 256]) + content.encode())
    return out


CONFS = [
    "# worker\ntopic.requests=kclassify.requests\nllm.url=http://127.0.0.1:8080/v1\n"
    "llm.batch.max=16\nllm.inflight.max = 8\nquery.max.bytes=4096\n",
    "kafka.bootstrap.servers=broker1:9092,broker2:9092\nkafka.security.protocol=SASL_SSL\n"
    "kafka.sasl.mechanisms=PLAIN\n  # indented comment\n\ncache.l1.ttl.s=0\n",
    "cache.lmdb.path=/var/lib/kclassify\ncache.redis.url=redis://:pw@127.0.0.1:6379/0\n"
    "coalesce.redis.lease.ms=3000\nlog.format=json\nworker.id=w-7\n",
    "llm.batch.max=0\n",
    "llm.timeout.ms=abc\n",
    "no.such.key=1\n",
    "sla.deadline.ms=9223372036854775807\n",
    "llm.url\n",
    "=value\n",
    "batch.linger.ms=\t 5 \r\n",
]


def taxonomy_seeds():
    return [open(p, "rb").read()
            for p in sorted(glob.glob(os.path.join(ROOT, "tests", "data", "taxonomy", "*.json")))]


def normalize_seeds():
    with open(os.path.join(ROOT, "examples", "queries.txt"), "rb") as f:
        lines = [line.rstrip(b"\n") for line in f if line.strip()][:12]
    return lines + [b"  Mixed\tCASE  query ?!. ", "caf\u00e9 \u00fcber \u2713".encode(),
                    b"\xc3\x28 invalid", b"\xed\xa0\x80 surrogate", b"\xf0\x9f\x98\x80 emoji?",
                    b"nul\x00inside", b"", b"?!.", b"year 2024 trial", b"\xe0\x80\xaf overlong"]


def main():
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    for d in avro_request_seeds():
        write("fuzz_avro_request", d)
    for d in avro_result_seeds():
        write("fuzz_avro_result", d)
    for d in cache_rec_seeds():
        write("fuzz_cache_rec", d)
    for d in llm_seeds():
        write("fuzz_llm_response", d)
    for d in logprob_seeds():
        write("fuzz_llm_logprob", d)
    for c in CONFS:
        write("fuzz_conf", c.encode())
    for d in taxonomy_seeds():
        write("fuzz_taxonomy", d)
    for d in normalize_seeds():
        write("fuzz_normalize", d)
    for t in sorted(os.listdir(OUT)):
        files = os.listdir(os.path.join(OUT, t))
        size = sum(os.path.getsize(os.path.join(OUT, t, f)) for f in files)
        print("%-20s %3d seeds, %6d bytes" % (t, len(files), size))


if __name__ == "__main__":
    main()
