#!/usr/bin/python3
"""cache_tool: request generation, a foreign producer and result checks for
the cache-level tests (it_cache_*.sh) and perf/cache_bench.sh.

Run with Debian's /usr/bin/python3 (python3-confluent-kafka, python3-avro).
The wire format comes from kctool.py (same directory): Avro binary in Schema
Registry framing, independent of the C code.

Subcommands:
  gen            write a kclassify-produce JSONL input (request_id, query,
                 optional cache_policy) over N distinct queries
  run-foreign    produce a JSONL input as a FOREIGN producer would (random
                 keys, so duplicates spread over partitions and workers) and
                 collect every reply from the reply topic
  check          assert on results: exactly one per request, status and
                 source sets, exact or minimum counts per source
  levels         per-source median/p99 of cache_us and total_us (benchmark)

Checks print a summary on stdout and violations on stderr, exit 1 on any.
"""

import argparse
import collections
import json
import os
import random
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kctool  # noqa: E402  (the shared wire-format helpers)
from confluent_kafka import Consumer, Producer, TopicPartition  # noqa: E402

TAXONOMY = kctool.TAXONOMY


def die(msg, code=2):
    print("cache_tool: " + msg, file=sys.stderr)
    sys.exit(code)


def load_jsonl(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


# ----------------------------------------------------------------- queries

def distinct_queries(n, pad=0):
    """n distinct realistic queries; beyond kctool's set, numbered cohorts.
    pad > 0 appends filler words up to about pad bytes (long queries)."""
    # kctool's realistic queries, then its generated ones: a prefix of one
    # list, so that --distinct 40 and --distinct 70 share their first 40.
    base = [q for _, q in kctool.BASE_QUERIES] + kctool.distinct_queries(420)
    out = base[:n]
    i = 0
    while len(out) < n:
        out.append("%s (cohort %d)" % (base[i % len(base)].rstrip("?"), len(out)))
        i += 1
    if pad > 0:
        rng = random.Random(12345)
        words = ["plasma", "serum", "urine", "NMR", "LC-MS", "cohort", "pathway", "flux",
                 "isotope", "tracer", "biomarker", "lipidomics", "enzyme", "assay"]
        padded = []
        for k, q in enumerate(out):
            s = "%s #%d" % (q, k)
            while len(s) < pad:
                s += " " + rng.choice(words)
            padded.append(s)
        out = padded
    return out


def zipf_indices(rng, n, count, s):
    """count draws from ranks 1..n with P(k) proportional to 1/k^s."""
    weights = [1.0 / (k ** s) for k in range(1, n + 1)]
    return rng.choices(range(n), weights=weights, k=count)


def cmd_gen(a):
    rng = random.Random(a.seed)
    qs = distinct_queries(a.distinct, a.pad)
    if a.zipf:
        idx = zipf_indices(rng, len(qs), a.count, a.zipf)
    else:
        # Each distinct query at least once (when count allows), the rest at random.
        idx = list(range(min(len(qs), a.count)))
        idx += [rng.randrange(len(qs)) for _ in range(a.count - len(idx))]
        rng.shuffle(idx)
    with open(a.out, "w") as f:
        for n, i in enumerate(idx):
            rec = {"request_id": "%s-%05d" % (a.id_prefix, n), "query": qs[i]}
            if a.policy:
                rec["cache_policy"] = a.policy
            if a.deadline_ms:
                rec["deadline_ms"] = a.deadline_ms
            f.write(json.dumps(rec) + "\n")
    print("cache_tool gen: %d requests over %d distinct queries -> %s"
          % (len(idx), len(set(idx)), a.out), file=sys.stderr)


# ----------------------------------------------------------------- foreign producer

def reply_consumer(bootstrap, topic):
    """Assigned at the current end of every partition before anything is sent,
    so no reply can be missed and earlier rounds are not read."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "cache-tool-" + uuid.uuid4().hex,
                  "enable.auto.commit": False})
    md = c.list_topics(topic, timeout=10)
    tmd = md.topics.get(topic)
    if tmd is None or tmd.error is not None or not tmd.partitions:
        die("reply topic %s: %s" % (topic, tmd.error if tmd else "unknown"), 1)
    parts = []
    for p in sorted(tmd.partitions):
        _, high = c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
        parts.append(TopicPartition(topic, p, high))
    c.assign(parts)
    return c


def produce_foreign(bootstrap, topic, reqs, seed, rate=0):
    rng = random.Random(seed)
    t0 = time.monotonic()
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5})
    failures = []

    parts = collections.Counter()

    def on_delivery(err, msg):
        if err:
            failures.append(str(err))
        else:
            parts[msg.partition()] += 1

    for n, r in enumerate(reqs):
        if rate > 0:  # paced: request n leaves at t0 + n / rate
            delay = t0 + n / rate - time.monotonic()
            if delay > 0:
                p.poll(0)
                time.sleep(delay)
        rec = kctool.request_record(r["request_id"], r["query"],
                                    cache_policy=r.get("cache_policy", "USE"),
                                    deadline_ms=r.get("deadline_ms", 0))
        # A key unrelated to the query: duplicates land anywhere.
        key = "foreign-%016x" % rng.getrandbits(64)
        while True:
            try:
                p.produce(topic, key=key, value=kctool.encode("request", rec),
                          on_delivery=on_delivery)
                break
            except BufferError:
                p.poll(0.05)
        p.poll(0)
    if p.flush(60) != 0 or failures:
        die("delivery failed: %s" % (failures[:3] or "flush timed out"), 1)
    return parts


def cmd_run_foreign(a):
    reqs = load_jsonl(a.input)
    want = {r["request_id"] for r in reqs}
    c = reply_consumer(a.bootstrap, a.replies_topic)
    t0 = time.monotonic()
    parts = produce_foreign(a.bootstrap, a.requests_topic, reqs, a.seed, a.rate)
    print("cache_tool run-foreign: produced %d requests with random keys in %.1fs, by partition %s"
          % (len(reqs), time.monotonic() - t0, dict(sorted(parts.items()))), file=sys.stderr)
    seen = collections.Counter()
    deadline = time.monotonic() + a.timeout
    grace_end = None
    with open(a.out, "w") as out:
        while time.monotonic() < deadline:
            if grace_end is None and want <= set(seen):
                grace_end = time.monotonic() + a.grace  # read on for late duplicates
            if grace_end is not None and time.monotonic() >= grace_end:
                break
            msg = c.poll(0.2)
            if msg is None or msg.error():
                continue
            try:
                _, res = kctool.decode("result", msg.value())
            except ValueError as e:
                die("undecodable reply at %d@%d: %s" % (msg.partition(), msg.offset(), e), 1)
            rid = res["request_id"]
            if rid not in want:
                continue
            seen[rid] += 1
            res["_key"] = kctool.text(msg.key())
            res["_headers"] = {k: kctool.text(v) for k, v in (msg.headers() or [])}
            out.write(json.dumps(res, sort_keys=True) + "\n")
    c.close()
    missing = len(want - set(seen))
    print("cache_tool run-foreign: %d replies for %d of %d requests in %.1fs, %d missing"
          % (sum(seen.values()), len(seen), len(want), time.monotonic() - t0, missing),
          file=sys.stderr)
    sys.exit(1 if missing else 0)


# ----------------------------------------------------------------- checks

def check_fields(errs, r, where):
    for f in ("request_id", "query_hash", "category", "confidence", "status", "source",
              "coalesced", "worker_id", "cache_us", "total_us"):
        if f not in r:
            errs.append("%s: field %s missing" % (where, f))
            return
    if r["category"] not in TAXONOMY:
        errs.append("%s: category %r not in the taxonomy" % (where, r["category"]))
    if not 0.0 <= r["confidence"] <= 1.0:
        errs.append("%s: confidence %r outside [0,1]" % (where, r["confidence"]))
    if r["status"] == "OK" and r.get("error") is not None:
        errs.append("%s: status OK with error %r" % (where, r["error"]))
    if r["source"] == "L1" and r["coalesced"]:
        errs.append("%s: an L1 hit marked coalesced" % where)
    if r["cache_us"] < 0 or r["total_us"] < 0:
        errs.append("%s: negative cache_us/total_us" % where)
    if "_key" in r and r["_key"] != r["request_id"]:
        errs.append("%s: reply key %r is not the request id" % (where, r["_key"]))


def count_spec(specs):
    out = {}
    for s in specs:
        k, v = s.split("=", 1)
        out[k] = int(v)
    return out


def cmd_check(a):
    reqs = load_jsonl(a.input)
    by_id = {r["request_id"]: r for r in reqs}
    if len(by_id) != len(reqs):
        die("request ids repeat in %s" % a.input)
    errs = []
    got = collections.defaultdict(list)
    for path in a.results:
        for r in load_jsonl(path):
            got[r.get("request_id")].append(r)
    statuses = set(a.status.split(","))
    sources = set(a.source.split(","))
    by_source = collections.Counter()
    by_status = collections.Counter()
    coalesced = collections.Counter()
    dups = 0
    for rid, req in by_id.items():
        rs = got.get(rid, [])
        if not rs:
            errs.append("request %s (%r) got no reply" % (rid, req["query"][:60]))
            continue
        if len(rs) > 1:
            dups += len(rs) - 1
            if not a.allow_duplicates:
                errs.append("request %s got %d replies" % (rid, len(rs)))
        r = rs[0]
        check_fields(errs, r, "result %s" % rid)
        if "query" in r and r["query"] is not None and r["query"] != req["query"]:
            errs.append("result %s: query %r, sent %r" % (rid, r["query"], req["query"]))
        by_source[r["source"]] += 1
        by_status[r["status"]] += 1
        coalesced[r["source"]] += bool(r["coalesced"])
        if r["status"] not in statuses:
            errs.append("result %s: status %s (error %r), expected one of %s"
                        % (rid, r["status"], r.get("error"), sorted(statuses)))
        if r["source"] not in sources:
            errs.append("result %s (%r): source %s, expected one of %s"
                        % (rid, req["query"][:60], r["source"], sorted(sources)))
    for rid in got:
        if rid not in by_id and not a.ignore_foreign:
            errs.append("reply for unknown request id %r" % rid)
    for src, n in count_spec(a.eq).items():
        if by_source.get(src, 0) != n:
            errs.append("%d replies with source %s, expected exactly %d"
                        % (by_source.get(src, 0), src, n))
    first = collections.Counter(src for src in by_source.elements())
    first.subtract(coalesced)
    for src, n in count_spec(a.first).items():
        if first.get(src, 0) != n:
            errs.append("%d non-coalesced replies with source %s, expected exactly %d"
                        % (first.get(src, 0), src, n))
    for src, n in count_spec(a.min).items():
        if by_source.get(src, 0) < n:
            errs.append("%d replies with source %s, expected at least %d"
                        % (by_source.get(src, 0), src, n))
    print("results: %d of %d requests answered, %d duplicate(s); by source %s; by status %s; "
          "coalesced by source %s" % (sum(1 for k in by_id if got.get(k)), len(by_id), dups,
                                      dict(sorted(by_source.items())),
                                      dict(sorted(by_status.items())),
                                      dict(sorted((k, v) for k, v in coalesced.items() if v))))
    if errs:
        for e in errs[:40]:
            print("VIOLATION [check]: " + e, file=sys.stderr)
        if len(errs) > 40:
            print("... and %d more" % (len(errs) - 40), file=sys.stderr)
        sys.exit(1)
    print("cache_tool check: all checks passed")


# ----------------------------------------------------------------- levels

def pct(sorted_vals, p):
    """Nearest-rank percentile."""
    if not sorted_vals:
        return None
    k = max(0, min(len(sorted_vals) - 1, int(-(-p * len(sorted_vals) // 100)) - 1))
    return sorted_vals[k]


def cmd_levels(a):
    rows = collections.defaultdict(lambda: {"cache_us": [], "total_us": []})
    for path in a.results:
        for r in load_jsonl(path):
            # A coalesced reply waited for another lookup: it measures that
            # lookup, not a hit at its level.
            if r["coalesced"] and not a.include_coalesced:
                continue
            rows[r["source"]]["cache_us"].append(r["cache_us"])
            rows[r["source"]]["total_us"].append(r["total_us"])
    out = {}
    for src, v in rows.items():
        c, t = sorted(v["cache_us"]), sorted(v["total_us"])
        out[src] = {"count": len(c), "cache_us_p50": pct(c, 50), "cache_us_p99": pct(c, 99),
                    "total_us_p50": pct(t, 50), "total_us_p99": pct(t, 99)}
    json.dump(out, sys.stdout, sort_keys=True)
    print()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)

    p = sub.add_parser("gen", help="write a request JSONL file")
    p.add_argument("--out", required=True)
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--distinct", type=int, required=True)
    p.add_argument("--id-prefix", default="c")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--policy", choices=["USE", "REFRESH", "BYPASS"])
    p.add_argument("--deadline-ms", type=int, default=0)
    p.add_argument("--pad", type=int, default=0, help="make queries about this many bytes long")
    p.add_argument("--zipf", type=float, default=0, help="Zipf exponent s (0 = uniform)")
    p.set_defaults(fn=cmd_gen)

    p = sub.add_parser("run-foreign", help="produce with random keys, collect the replies")
    p.add_argument("--bootstrap", required=True)
    p.add_argument("--input", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--requests-topic", default="kclassify.requests")
    p.add_argument("--replies-topic", default="kclassify.replies")
    p.add_argument("--timeout", type=float, default=60)
    p.add_argument("--grace", type=float, default=1.0, help="read on this long for duplicates")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--rate", type=float, default=0, help="requests per second (0 = burst)")
    p.set_defaults(fn=cmd_run_foreign)

    p = sub.add_parser("check", help="assert on results")
    p.add_argument("--input", required=True, help="the request JSONL that was sent")
    p.add_argument("--results", action="append", required=True)
    p.add_argument("--status", default="OK")
    p.add_argument("--source", default="L1,LMDB,REDIS,LLM")
    p.add_argument("--eq", action="append", default=[], metavar="SOURCE=N")
    p.add_argument("--min", action="append", default=[], metavar="SOURCE=N")
    p.add_argument("--first", action="append", default=[], metavar="SOURCE=N",
                   help="exact count of non-coalesced replies from SOURCE")
    p.add_argument("--allow-duplicates", action="store_true")
    p.add_argument("--ignore-foreign", action="store_true")
    p.set_defaults(fn=cmd_check)

    p = sub.add_parser("levels", help="latency per source")
    p.add_argument("--results", action="append", required=True)
    p.add_argument("--include-coalesced", action="store_true")
    p.set_defaults(fn=cmd_levels)

    a = ap.parse_args()
    a.fn(a)


if __name__ == "__main__":
    main()
