#!/usr/bin/python3
"""checker: load generator and delivery checker for the kclassify fault tests.

Modelled on Kafka's own system tests (ProduceConsumeValidateTest): the
producer records every request id the broker acknowledged, the checker reads
the whole reply topic and compares. Run with Debian's /usr/bin/python3
(python3-confluent-kafka, python3-avro); Avro framing comes from
tests/integration/kctool.py so the wire format has one Python definition.

Subcommands:
  produce     send requests at a steady rate, write one JSON line per ACKED request
  check       read the reply topic, report lost / duplicated / late, assert
  committed   print the committed offsets of a consumer group (JSON)
  watch-commits  sample committed offsets until killed or --duration (JSONL)
  check-commits  assert that no sampled commit ran ahead of the answered requests

A check prints a summary on stdout, each violation on stderr, and exits 1 on
any violation.
"""

import argparse
import hashlib
import json
import os
import random
import signal
import sys
import time
import uuid

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import kctool  # noqa: E402  (after the path tweak)

GROUP = "kclassify-workers"


def die(msg, code=2):
    print("checker: " + msg, file=sys.stderr)
    sys.exit(code)


def now_us():
    return time.time_ns() // 1000


# ----------------------------------------------------------------- queries

def query_pool(distinct, seed, offset=0):
    """distinct realistic queries: kctool's hand-written ones, then its
    metabolite x disease templates, then those again about numbered cohorts;
    the first `offset` of that list are skipped, so phases of a test can use
    disjoint or overlapping sets."""
    base = [q for _, q in kctool.BASE_QUERIES]
    combos = [t.format(m=m, d=d) for t in kctool.TEMPLATES for m in kctool.METABOLITES
              for d in kctool.DISEASES]
    pool = base + combos
    k = 1
    while len(pool) < offset + distinct:
        pool += ["%s (cohort %d)" % (q, k) for q in combos]
        k += 1
    rng = random.Random(seed)
    pool = pool[offset:offset + max(distinct, 1)]
    rng.shuffle(pool)
    return pool


def query_sequence(count, distinct, unique, seed, offset=0):
    """count queries: with --unique every one differs; otherwise each of the
    distinct queries appears at least once and the rest repeat at random, so
    some requests coalesce or hit L1 and some need the LLM."""
    if unique:
        return query_pool(count, seed, offset)
    pool = query_pool(distinct, seed, offset)
    rng = random.Random(seed + 1)
    idx = list(range(len(pool))) + [rng.randrange(len(pool)) for _ in range(count - len(pool))]
    rng.shuffle(idx)
    return [pool[i] for i in idx[:count]]


# ----------------------------------------------------------------- produce

def cmd_produce(a):
    """Steady-rate producer. Each acknowledged request is written (id,
    partition, offset, created_at, deadline) as soon as its delivery report
    arrives, so a test can tail the file while the run goes on."""
    queries = query_sequence(a.count, a.distinct, a.unique, a.seed, a.query_offset)
    conf = {"bootstrap.servers": a.bootstrap, "enable.idempotence": True, "linger.ms": 5,
            "acks": "all", "message.timeout.ms": a.message_timeout_ms}
    p = Producer(conf)
    out = open(a.out, "w", buffering=1)
    stats = {"acked": 0, "failed": 0}
    stop = {"now": False}
    signal.signal(signal.SIGTERM, lambda *_: stop.update(now=True))

    def dr(err, msg, rec):
        if err:
            stats["failed"] += 1
            print("checker produce: %s not acknowledged: %s" % (rec["id"], err), file=sys.stderr)
            return
        stats["acked"] += 1
        rec.update(p=msg.partition(), o=msg.offset(), acked_at=now_us())
        out.write(json.dumps(rec, sort_keys=True) + "\n")

    t0 = time.monotonic()
    for n, q in enumerate(queries):
        if stop["now"]:
            break
        # Pace: request n goes at t0 + n / rate (poll() returns early when it
        # serves a delivery report, hence the loop).
        while True:
            ahead = t0 + n / a.rate - time.monotonic()
            if ahead <= 0:
                break
            p.poll(ahead)
        rid = "%s-%05d" % (a.id_prefix, n)
        rec = kctool.request_record(rid, q, deadline_ms=a.deadline_ms)
        created = kctool.micros(rec["created_at"])
        value = kctool.encode("request", rec)
        key = hashlib.sha1(" ".join(q.lower().split()).encode()).hexdigest()[:32]
        meta = {"id": rid, "c": created, "d": a.deadline_ms, "q": q}
        while True:
            try:
                p.produce(a.topic, value=value, key=key,
                          on_delivery=lambda err, msg, meta=meta: dr(err, msg, meta))
                break
            except BufferError:
                p.poll(0.05)
        p.poll(0)
    left = p.flush(a.flush_timeout)
    out.close()
    print("checker produce: %d sent, %d acked, %d failed, %d unresolved in %.1fs"
          % (n + 1 if queries else 0, stats["acked"], stats["failed"], left,
             time.monotonic() - t0), file=sys.stderr)
    sys.exit(0 if left == 0 else 1)


# ----------------------------------------------------------------- read replies

def read_topic(bootstrap, topic, want_ids, timeout, settle):
    """Every reply on topic (decoded), reading until every id in want_ids has
    one (or timeout), then `settle` seconds more, then to the end of every
    partition, so late duplicates are seen too."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "checker-" + uuid.uuid4().hex,
                  "enable.auto.commit": False, "enable.partition.eof": True,
                  "auto.offset.reset": "earliest", "fetch.wait.max.ms": 10,
                  "isolation.level": "read_committed"})
    md = c.list_topics(topic, timeout=10)
    tmd = md.topics.get(topic)
    if tmd is None or tmd.error is not None or not tmd.partitions:
        die("topic %s: %s" % (topic, tmd.error if tmd else "unknown"), 1)
    parts = sorted(tmd.partitions)
    c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in parts])
    replies, bad = [], []
    missing = set(want_ids)
    deadline = time.monotonic() + timeout
    ends, eof_at, settle_until = None, {}, None
    while time.monotonic() < deadline:
        if not missing and settle_until is None:
            settle_until = time.monotonic() + settle
        if settle_until is not None and ends is None and time.monotonic() >= settle_until:
            ends = {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=5)[1]
                    for p in parts}
        if ends is not None and all(eof_at.get(p, -1) >= ends[p] for p in parts):
            break
        msgs = c.consume(500, 0.2)
        for m in msgs:
            if m.error():
                if m.error().code() == KafkaError._PARTITION_EOF:
                    eof_at[m.partition()] = m.offset()
                    continue
                die("consumer: %s" % m.error(), 1)
            eof_at.pop(m.partition(), None)
            r = kctool.record_json(m, "result")
            if "_decode_error" in r:
                bad.append(r)
                continue
            replies.append(r)
            missing.discard(r["request_id"])
    complete = ends is not None and all(eof_at.get(p, -1) >= ends[p] for p in parts)
    if not complete:
        report_positions(c, topic, parts, missing)
    c.close()
    return replies, bad, complete


def report_positions(c, topic, parts, missing):
    """Tell a reply that was never produced from one this reader did not reach:
    the position reached vs. the high watermark of every partition."""
    pos = {tp.partition: tp.offset for tp in c.position([TopicPartition(topic, p) for p in parts])}
    for p in parts:
        lo, hi = c.get_watermark_offsets(TopicPartition(topic, p), timeout=5)
        at = pos.get(p, -1)
        at_end = at >= hi or (at < 0 and lo == hi)  # negative: nothing read (empty)
        print("checker: %s[%d] read to %d of [%d, %d)%s" % (
            topic, p, at, lo, hi, "" if at_end else "  <- NOT AT END"), file=sys.stderr)
    print("checker: %d acknowledged id(s) without a reply after the read: %s" % (
        len(missing), " ".join(sorted(missing)[:20])), file=sys.stderr)


def load_acked(paths):
    acked = {}
    for path in paths:
        with open(path) as f:
            for line in f:
                if line.strip():
                    r = json.loads(line)
                    acked[r["id"]] = r
    return acked


def pct(sorted_vals, q):
    if not sorted_vals:
        return 0
    return sorted_vals[min(len(sorted_vals) - 1, int(q / 100.0 * len(sorted_vals)))]


# ----------------------------------------------------------------- check

def cmd_check(a):
    ck = kctool.Checker("check")
    acked = load_acked(a.acked)
    if not acked:
        die("no acknowledged requests in %s" % a.acked, 1)
    replies, bad, complete = read_topic(a.bootstrap, a.topic, set(acked), a.timeout, a.settle)
    for r in bad:
        ck.error("reply at %s[%d]@%d undecodable: %s"
                 % (r["_topic"], r["_partition"], r["_offset"], r["_decode_error"]))
    if not complete:
        ck.error("did not read the reply topic to its end within %.0fs" % a.timeout)

    by_id = {}
    foreign = 0
    for r in replies:
        if r["request_id"] not in acked:
            foreign += 1
            continue
        by_id.setdefault(r["request_id"], []).append(r)
        kctool.check_result_fields(ck, r, "reply %s" % r["request_id"])
        if r["_key"] != r["request_id"]:
            ck.error("reply %s: key %r is not the request id" % (r["request_id"], r["_key"]))

    lost = sorted(i for i in acked if i not in by_id)
    kill = kill_context(a, acked, by_id)
    dups = {i: rs for i, rs in by_id.items() if len(rs) > 1}
    dup_total = sum(len(rs) - 1 for rs in dups.values())

    # The first reply is the one a client acts on; a deadline is judged on it.
    late, lat, late_after_kill, timer_late = [], [], [], []
    late_dups = 0
    by_status, by_source = {}, {}
    for rid, rs in by_id.items():
        rs.sort(key=lambda r: r["replied_at"])
        first = rs[0]
        e = acked[rid]
        budget_us = (e["d"] or a.deadline_ms) * 1000
        took = first["replied_at"] - e["c"]
        lat.append(took)
        if took > budget_us and kill and kill_explains(kill, e):
            late_after_kill.append((rid, took))
        elif took > budget_us:
            late.append((rid, took))
            if len(late) <= 10:
                print("checker: late %s: %.1f ms after created (deadline %d ms): %s from %s by %s,"
                      " consumed after %.1f ms, cache_us %d, llm_us %d, error %r"
                      % (rid, took / 1000.0, budget_us // 1000, first["status"], first["source"],
                         first["worker_id"], (first["consumed_at"] - e["c"]) / 1000.0,
                         first["cache_us"], first["llm_us"], first["error"]), file=sys.stderr)
        late_dups += sum(1 for r in rs[1:] if r["replied_at"] - e["c"] > budget_us)
        if first["error"] == "deadline reached before the LLM answered":
            # How late the deadline timer fired: scheduling delay of the worker.
            timer_late.append(first["replied_at"] - (e["c"] + budget_us - a.margin_ms * 1000))
        by_status[first["status"]] = by_status.get(first["status"], 0) + 1
        by_source[first["source"]] = by_source.get(first["source"], 0) + 1
        if first["created_at"] != e["c"]:
            ck.error("reply %s: created_at %d, the request said %d"
                     % (rid, first["created_at"], e["c"]))
        if a.status and first["status"] not in a.status.split(","):
            ck.error("reply %s: status %s (error %r, source %s), expected %s"
                     % (rid, first["status"], first["error"], first["source"], a.status))
        if a.source and first["source"] not in a.source.split(","):
            ck.error("reply %s: source %s, expected %s" % (rid, first["source"], a.source))
    lat.sort()
    timer_late.sort()

    summary = {
        "acked": len(acked), "replies": sum(len(v) for v in by_id.values()),
        "lost": len(lost), "duplicated_requests": len(dups), "duplicate_replies": dup_total,
        "late": len(late), "late_duplicates": late_dups, "foreign_replies": foreign,
        "late_redelivered_after_kill": len(late_after_kill),
        "by_status": by_status, "by_source": by_source,
        "latency_ms": {"p50": pct(lat, 50) / 1000.0, "p99": pct(lat, 99) / 1000.0,
                       "max": (lat[-1] if lat else 0) / 1000.0},
        "deadline_timer_replies": len(timer_late),
        "deadline_timer_late_ms": {"p50": pct(timer_late, 50) / 1000.0,
                                   "p99": pct(timer_late, 99) / 1000.0,
                                   "max": (timer_late[-1] if timer_late else 0) / 1000.0},
        "max_over_deadline_ms": max([0] + [(t - (acked[i]["d"] or a.deadline_ms) * 1000) / 1000.0
                                           for i, t in late]),
    }
    for rid in lost[:5]:
        lost_context(acked, by_id, rid)
        request_at(a.bootstrap, a.requests_topic, acked[rid])
    if lost:
        ck.error("%d acknowledged request(s) have no reply, e.g. %s"
                 % (len(lost), ", ".join("%s (p%d@%d)" % (i, acked[i]["p"], acked[i]["o"])
                                         for i in lost[:8])))
    if late and not a.allow_late:
        ck.error("%d reply(ies) later than the deadline, worst %.1f ms over, e.g. %s"
                 % (len(late), summary["max_over_deadline_ms"],
                    ", ".join("%s %.0fms" % (i, t / 1000.0) for i, t in late[:5])))
    dup_check(ck, a, acked, dups, summary, kill)
    print("checker summary: " + json.dumps(summary, sort_keys=True))
    if a.summary_out:
        with open(a.summary_out, "w") as f:
            json.dump(summary, f, sort_keys=True)
    if a.replies_out:
        with open(a.replies_out, "w") as f:
            for rs in by_id.values():
                for r in rs:
                    f.write(json.dumps(r, sort_keys=True) + "\n")
    ck.finish()


def lost_context(acked, by_id, rid):
    """Who answered the neighbours of a lost request (same partition, offsets
    around it): points at the worker that skipped it."""
    e = acked[rid]
    near = sorted((x for x in acked.values() if x["p"] == e["p"] and abs(x["o"] - e["o"]) <= 3),
                  key=lambda x: x["o"])
    print("checker: lost %s (p%d@%d); its neighbours:" % (rid, e["p"], e["o"]), file=sys.stderr)
    for x in near:
        rs = by_id.get(x["id"], [])
        print("  @%d %s: %s" % (x["o"], x["id"], "; ".join(
            "%s %s/%s consumed +%.0f ms" % (r["worker_id"], r["status"], r["source"],
                                            (r["consumed_at"] - x["c"]) / 1000.0)
            for r in rs) or "NO REPLY"), file=sys.stderr)


def request_at(bootstrap, topic, e):
    """Is the lost request still in the requests topic where its ack said?
    Tells a broker that dropped it from a worker that skipped it."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "checker-" + uuid.uuid4().hex,
                  "enable.auto.commit": False, "fetch.wait.max.ms": 10})
    c.assign([TopicPartition(topic, e["p"], e["o"])])
    found = "not read within 10 s"
    end = time.monotonic() + 10
    while time.monotonic() < end:
        m = c.poll(0.2)
        if m is None:
            continue
        if m.error():
            found = "error %s" % m.error()
            break
        r = kctool.record_json(m, "request")
        found = "%s[%d]@%d holds request %s" % (topic, m.partition(), m.offset(),
                                              r.get("request_id", r.get("_decode_error")))
        break
    lo, hi = c.get_watermark_offsets(TopicPartition(topic, e["p"]), timeout=5)
    c.close()
    print("checker:   request %s: %s (partition range [%d, %d))" % (e["id"], found, lo, hi),
          file=sys.stderr)


def kill_context(a, acked, by_id):
    """With --killed-worker: the killed worker's partitions (those it answered
    any request of; the group was stable before the load began) and the
    committed offsets read right after the kill."""
    if a.killed_worker is None:
        return None
    with open(a.committed_at_kill) as f:
        committed = {int(k): v for k, v in json.load(f).items()}
    parts = {acked[rid]["p"] for rid, rs in by_id.items()
             if any(r["worker_id"] == a.killed_worker for r in rs)}
    return {"committed": committed, "parts": parts}


def kill_explains(kill, e):
    """Was this request uncommitted work of the killed worker when it died
    (so the group had to redeliver it after detecting the death)?"""
    return e["p"] in kill["parts"] and e["o"] >= kill["committed"].get(e["p"], -1)


def dup_check(ck, a, acked, dups, summary, kill):
    """Duplicates are allowed only where at-least-once explains them: with
    --killed-worker, a request the killed worker had answered but not yet
    committed (its partition was the killed worker's, its offset at or past
    the committed offset read right after the kill)."""
    if not dups:
        return
    if kill is None:
        if not a.allow_duplicates:
            ck.error("%d duplicated request(s), e.g. %s"
                     % (len(dups), sorted(dups)[:5]))
        return
    explained, unexplained = 0, []
    for rid, rs in sorted(dups.items()):
        e = acked[rid]
        workers = [r["worker_id"] for r in rs]
        if a.killed_worker in workers and kill_explains(kill, e):
            explained += 1
        else:
            unexplained.append("%s p%d@%d (committed at kill %s) answered by %s"
                               % (rid, e["p"], e["o"], kill["committed"].get(e["p"]), workers))
    summary["duplicates_from_killed_worker"] = explained
    summary["duplicates_unexplained"] = len(unexplained)
    if unexplained and not a.allow_duplicates:
        ck.error("%d duplicated request(s) that were not in flight in the killed worker %s: %s"
                 % (len(unexplained), a.killed_worker, "; ".join(unexplained[:6])))
    elif unexplained:
        print("checker: %d duplicate(s) not explained by the kill (allowed): %s"
              % (len(unexplained), "; ".join(unexplained[:6])), file=sys.stderr)


# ----------------------------------------------------------------- committed offsets

def committed_offsets(c, topic, parts):
    tps = c.committed([TopicPartition(topic, p) for p in parts], timeout=10)
    return {tp.partition: tp.offset for tp in tps}


def group_client(bootstrap, group):
    # committed() sends an OffsetFetch for the group without joining it.
    return Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                     "enable.auto.commit": False})


def topic_parts(c, topic):
    md = c.list_topics(topic, timeout=10)
    return sorted(md.topics[topic].partitions)


def cmd_committed(a):
    c = group_client(a.bootstrap, a.group)
    off = committed_offsets(c, a.topic, topic_parts(c, a.topic))
    c.close()
    print(json.dumps({str(p): o for p, o in off.items()}, sort_keys=True))


def cmd_watch_commits(a):
    """Sample the group's committed offsets every --interval-ms; one JSON line
    per sample: {"t": wall-clock us after the fetch returned, "off": {...}}."""
    c = group_client(a.bootstrap, a.group)
    parts = topic_parts(c, a.topic)
    stop = {"now": False}
    signal.signal(signal.SIGTERM, lambda *_: stop.update(now=True))
    end = time.monotonic() + a.duration
    with open(a.out, "w", buffering=1) as f:
        while not stop["now"] and time.monotonic() < end:
            try:
                off = committed_offsets(c, a.topic, parts)
            except Exception as e:  # noqa: BLE001 - a failed sample is skipped, not fatal
                print("checker watch-commits: %s" % e, file=sys.stderr)
                time.sleep(a.interval_ms / 1000.0)
                continue
            f.write(json.dumps({"t": now_us(), "off": {str(p): o for p, o in off.items()}}) + "\n")
            time.sleep(a.interval_ms / 1000.0)
    c.close()


def cmd_check_commits(a):
    """A committed offset c on partition p promises that every request below c
    was answered. Check each sample against the replies: every acked request
    at an offset below c must have a reply replied before the sample was
    taken, and committed offsets never go backwards (a commit by a former
    owner of a revoked partition would show up as either)."""
    ck = kctool.Checker("check-commits")
    acked = load_acked(a.acked)
    first_reply = {}
    with open(a.replies) as f:
        for line in f:
            r = json.loads(line)
            t = first_reply.get(r["request_id"])
            if t is None or r["replied_at"] < t:
                first_reply[r["request_id"]] = r["replied_at"]
    by_part = {}
    for e in acked.values():
        by_part.setdefault(e["p"], []).append(e)
    for lst in by_part.values():
        lst.sort(key=lambda e: e["o"])
    samples = [json.loads(line) for line in open(a.samples) if line.strip()]
    last = {}
    checked = 0
    for s in samples:
        for ps, off in s["off"].items():
            p = int(ps)
            if off < 0:
                continue
            if off < last.get(p, -1):
                ck.error("partition %d: committed offset went back from %d to %d"
                         % (p, last[p], off))
            last[p] = max(off, last.get(p, -1))
            for e in by_part.get(p, []):
                if e["o"] >= off:
                    break
                checked += 1
                rt = first_reply.get(e["id"])
                if rt is None or rt > s["t"]:
                    ck.error("partition %d committed at %d, but request %s (offset %d) %s"
                             % (p, off, e["id"], e["o"],
                                "was never answered" if rt is None else
                                "was answered only %.0f ms after that commit was seen"
                                % ((rt - s["t"]) / 1000.0)))
    print("check-commits: %d samples, %d (sample, request) pairs checked, final %s"
          % (len(samples), checked, json.dumps({str(k): v for k, v in sorted(last.items())})))
    ck.finish()


# ----------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)

    p = sub.add_parser("produce", help="steady-rate producer; acked requests as JSONL")
    p.add_argument("--bootstrap", required=True)
    p.add_argument("--topic", default="kclassify.requests")
    p.add_argument("--out", required=True)
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--rate", type=float, required=True, help="requests per second")
    p.add_argument("--distinct", type=int, default=100)
    p.add_argument("--unique", action="store_true", help="every query different")
    p.add_argument("--query-offset", type=int, default=0,
                   help="skip this many queries of the pool (disjoint sets per phase)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--id-prefix", default="ft")
    p.add_argument("--deadline-ms", type=int, default=0, help="0 = the worker's sla.deadline.ms")
    p.add_argument("--message-timeout-ms", type=int, default=120000)
    p.add_argument("--flush-timeout", type=float, default=120)
    p.set_defaults(fn=cmd_produce)

    p = sub.add_parser("check", help="lost / duplicated / late against the acked requests")
    p.add_argument("--bootstrap", required=True)
    p.add_argument("--topic", default="kclassify.replies")
    p.add_argument("--requests-topic", default="kclassify.requests")
    p.add_argument("--acked", action="append", required=True)
    p.add_argument("--deadline-ms", type=int, default=2000,
                   help="deadline of requests sent with deadline 0 (the worker's sla.deadline.ms)")
    p.add_argument("--margin-ms", type=int, default=100,
                   help="the workers' sla.deadline.margin.ms (for the timer lateness figures)")
    p.add_argument("--timeout", type=float, default=60)
    p.add_argument("--settle", type=float, default=1.0,
                   help="seconds to keep reading after the last missing reply arrived")
    p.add_argument("--allow-late", action="store_true", help="report late replies, do not fail")
    p.add_argument("--allow-duplicates", action="store_true")
    p.add_argument("--killed-worker", help="worker id whose uncommitted work may be redone")
    p.add_argument("--committed-at-kill", help="committed offsets JSON read right after the kill")
    p.add_argument("--status", help="comma list: allowed status of each first reply")
    p.add_argument("--source", help="comma list: allowed source of each first reply")
    p.add_argument("--summary-out")
    p.add_argument("--replies-out", help="write every reply to acked requests as JSONL")
    p.set_defaults(fn=cmd_check)

    p = sub.add_parser("committed", help="committed offsets of a group")
    p.add_argument("--bootstrap", required=True)
    p.add_argument("--topic", default="kclassify.requests")
    p.add_argument("--group", default=GROUP)
    p.set_defaults(fn=cmd_committed)

    p = sub.add_parser("watch-commits", help="sample committed offsets as JSONL")
    p.add_argument("--bootstrap", required=True)
    p.add_argument("--topic", default="kclassify.requests")
    p.add_argument("--group", default=GROUP)
    p.add_argument("--out", required=True)
    p.add_argument("--interval-ms", type=int, default=100)
    p.add_argument("--duration", type=float, default=120)
    p.set_defaults(fn=cmd_watch_commits)

    p = sub.add_parser("check-commits", help="no commit ahead of the answers")
    p.add_argument("--acked", action="append", required=True)
    p.add_argument("--replies", required=True, help="check --replies-out file")
    p.add_argument("--samples", required=True, help="watch-commits output")
    p.set_defaults(fn=cmd_check_commits)

    a = ap.parse_args()
    if getattr(a, "killed_worker", None) and not a.committed_at_kill:
        die("--killed-worker needs --committed-at-kill")
    a.fn(a)


if __name__ == "__main__":
    main()
