/* processing.guarantee=exactly_once: replies and consumed offsets in one
 * Kafka transaction per transaction.interval.ms.
 *
 * Replies complete out of order, so a committed offset alone cannot say which
 * replies a transaction holds: the offset is where the next owner starts
 * (every record below it answered) and its metadata names the records above
 * it answered already (kc_offmeta.h), which that owner skips. A transaction
 * that fails is aborted and every owned partition is rewound to its committed
 * offset: the work since is done again, its first replies were never visible
 * to read_committed consumers.
 *
 * The commit does not stop the loop: when it is due, new records are held,
 * the loop goes on until the brokers acknowledged the transaction's last
 * record (delivery reports mark requests done), then a thread sends the
 * offsets and commits while the loop goes on (LLM answers, caches, consuming)
 * and the held records wait for the next transaction. */
#include "kc_err.h"
#include "kc_log.h"
#include "kc_offmeta.h"
#include "kc_prom.h"
#include "kc_time.h"
#include "kc_worker_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Below the brokers' offset.metadata.max.bytes default (4096). */
#define TXN_META_MAX   4000
#define TXN_TIMEOUT_MS 10000 /* blocking calls of the loop's own thread */
/* Reading committed offsets waits for a dead owner's open transaction to
 * time out (transaction.timeout.ms, 10 s by default here): longer than that. */
#define TXN_COMMITTED_TIMEOUT_MS 25000
#define TXN_COMMIT_TRIES         50

typedef enum { TXN_OK, TXN_RETRY, TXN_ABORT, TXN_FATAL } txn_rc_t;

/* Classify a transactional API error (and free it); msg gets the text. */
static txn_rc_t txn_classify(rd_kafka_error_t *error, const char *what, char *msg, size_t size)
{
    txn_rc_t rc;

    if (!error) {
        return TXN_OK;
    }
    snprintf(msg, size, "%s: %s", what, rd_kafka_error_string(error));
    if (rd_kafka_error_is_fatal(error)) {
        rc = TXN_FATAL; /* fenced by a newer process with our worker.id, ... */
    } else if (rd_kafka_error_txn_requires_abort(error)) {
        rc = TXN_ABORT;
    } else if (rd_kafka_error_is_retriable(error)) {
        rc = TXN_RETRY;
    } else {
        rc = TXN_ABORT;
    }
    rd_kafka_error_destroy(error);
    return rc;
}

/* The loop thread's view of a result: logged, a fatal one stops the worker. */
static txn_rc_t txn_report(kc_worker_t *w, txn_rc_t rc, const char *msg)
{
    switch (rc) {
    case TXN_OK:
        break;
    case TXN_FATAL:
        kc_worker_fatal(w, msg);
        break;
    case TXN_RETRY:
        kc_log(KC_LOG_WARN, "transaction: %s (trying again)", msg);
        break;
    case TXN_ABORT:
        kc_log(KC_LOG_WARN, "transaction: %s (aborting it)", msg);
        break;
    }
    return rc;
}

static txn_rc_t txn_check(kc_worker_t *w, rd_kafka_error_t *error, const char *what)
{
    char msg[512];

    return txn_report(w, txn_classify(error, what, msg, sizeof(msg)), msg);
}

static void txn_begin(kc_worker_t *w)
{
    if (w->fatal || w->txn.open) {
        return;
    }
    if (txn_check(w, rd_kafka_begin_transaction(w->producer), "begin") == TXN_OK) {
        w->txn.open = true;
        w->txn.produced = false;
    }
}

int kc_worker_txn_start(kc_worker_t *w, char *errstr, size_t errstr_size)
{
    rd_kafka_error_t *error = rd_kafka_init_transactions(w->producer, 30000);

    if (error) {
        kc_seterr(KC_ERR_KAFKA, errstr, errstr_size, "init_transactions: %s",
                  rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
        return KC_ERR_KAFKA;
    }
    txn_begin(w);
    if (!w->txn.open) {
        return kc_seterr(KC_ERR_KAFKA, errstr, errstr_size, "cannot begin a transaction");
    }
    w->txn.state = KC_TXS_OPEN;
    w->txn.next_at = kc_w_mono(w) + w->conf.transaction_interval_ms * 1000;
    return 0;
}

/* ------------------------------------------------------------- positions */

static void skip_clear(kc_part_t *part)
{
    free(part->skip);
    part->skip = NULL;
    part->skip_cnt = part->skip_at = 0;
}

void kc_worker_txn_part_reset(kc_part_t *part)
{
    skip_clear(part);
    free(part->c_meta);
    part->c_meta = NULL;
    part->c_meta_len = 0;
    part->c_pos = part->txn_pos = part->first_off = -1;
}

/* Remember what is committed for a partition: offset (-1 none) and metadata. */
static void committed_set(kc_part_t *part, int64_t offset, const void *meta, size_t len)
{
    free(part->c_meta);
    part->c_meta = NULL;
    part->c_meta_len = 0;
    part->c_pos = offset >= 0 ? offset : -1;
    if (meta && len > 0 && (part->c_meta = malloc(len))) {
        memcpy(part->c_meta, meta, len);
        part->c_meta_len = len;
    }
}

/* Commit succeeded: what it committed is where the next abort rewinds to. */
static void committed_keep(kc_worker_t *w, const rd_kafka_topic_partition_list_t *offsets)
{
    for (int i = 0; i < offsets->cnt; i++) {
        const rd_kafka_topic_partition_t *e = &offsets->elems[i];
        kc_part_t *part = kc_worker_part(w, e->partition);
        if (part) {
            committed_set(part, e->offset, e->metadata, e->metadata_size);
        }
    }
}

/* Start a partition from what is committed: its position and the records
 * above it answered already. */
static void part_start(kc_part_t *part, int32_t partition)
{
    long n;

    skip_clear(part);
    part->txn_pos = part->c_pos;
    if (part->c_pos < 0 || !part->c_meta) {
        return;
    }
    n = kc_offmeta_decode(part->c_pos, part->c_meta, part->c_meta_len, 1u << 20, &part->skip);
    if (n < 0) {
        kc_log(KC_LOG_ERROR, "partition %d: committed metadata not understood (%s)", (int)partition,
               kc_strerror((int)n));
        return;
    }
    part->skip_cnt = (size_t)n;
    if (n > 0) {
        kc_log(KC_LOG_INFO,
               "partition %d: from offset %lld, %ld record(s) above it answered already",
               (int)partition, (long long)part->c_pos, n);
    }
}

/* A new assignment: read the group's committed offsets. Without them the
 * records answered above them would be answered again: a failed read stops
 * the worker (the next process reads them again). */
void kc_worker_txn_assigned(kc_worker_t *w, const rd_kafka_topic_partition_list_t *parts)
{
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_copy(parts);
    rd_kafka_resp_err_t err = rd_kafka_committed(w->consumer, list, TXN_COMMITTED_TIMEOUT_MS);

    for (int i = 0; i < list->cnt && !err; i++) {
        err = list->elems[i].err;
    }
    if (err) {
        kc_log(KC_LOG_ERROR, "reading committed offsets: %s", rd_kafka_err2str(err));
        kc_worker_fatal(w, "cannot read the committed offsets of an assignment");
    }
    for (int i = 0; i < list->cnt && !err; i++) {
        rd_kafka_topic_partition_t *e = &list->elems[i];
        kc_part_t *part = kc_worker_part(w, e->partition);
        if (part) {
            committed_set(part, e->offset, e->metadata, e->metadata_size);
            part_start(part, e->partition);
        }
    }
    rd_kafka_topic_partition_list_destroy(list);
}

bool kc_worker_txn_skip(kc_worker_t *w, const kc_wmsg_t *rec)
{
    kc_part_t *part = kc_worker_part(w, rec->partition);

    if (!part || !part->assigned) {
        return false;
    }
    if (part->first_off < 0 || rec->offset < part->first_off) {
        part->first_off = rec->offset;
    }
    /* A partition's records come in offset order: a cursor walks the list. */
    while (part->skip_at < part->skip_cnt && part->skip[part->skip_at] < rec->offset) {
        part->skip_at++;
    }
    if (part->skip_at == part->skip_cnt || part->skip[part->skip_at] != rec->offset) {
        return false;
    }
    part->skip_at++;
    /* Answered in a committed transaction: done, without a second reply. */
    int rc = kc_wm_track(part->wm, rec->offset);
    if ((rc == 0 || rc == KC_WM_OUT_OF_ORDER) && kc_wm_done(part->wm, rec->offset) == 0) {
        part->dirty = true;
    }
    w->txn.skipped++;
    kc_log(KC_LOG_DEBUG, "offset %lld on partition %d answered already: skipped",
           (long long)rec->offset, (int)rec->partition);
    return true;
}

bool kc_worker_txn_stale(kc_worker_t *w, kc_wreq_t *wr)
{
    kc_part_t *part;

    if (!w->txn.on) {
        return false;
    }
    part = kc_worker_part(w, wr->partition);
    if (part && part->assigned && part->gen == wr->gen) {
        return false;
    }
    /* Consumed before a rewind or a revoke: the partition's owner answers it
     * from the committed offset. */
    w->txn.stale++;
    kc_worker_wreq_free(w, wr);
    return true;
}

/* ------------------------------------------------------------- refusals */

static kc_txn_refusal_t *refusal_find(kc_wtxn_t *t, const kc_wreq_t *wr)
{
    size_t n = t->refused_cnt < KC_TXN_REFUSALS ? t->refused_cnt : KC_TXN_REFUSALS;

    for (size_t i = 0; i < n; i++) {
        if (t->refused[i].partition == wr->partition && t->refused[i].offset == wr->offset) {
            return &t->refused[i];
        }
    }
    return NULL;
}

void kc_worker_txn_refusal(kc_worker_t *w, const kc_wreq_t *wr, int err, bool dlt)
{
    kc_txn_refusal_t *r = refusal_find(&w->txn, wr);

    if (!r) {
        /* A ring: the oldest refusal makes room. */
        r = &w->txn.refused[w->txn.refused_cnt % KC_TXN_REFUSALS];
        w->txn.refused_cnt++;
        r->attempts = r->dlt_attempts = 0;
    }
    if (dlt) {
        r->dlt_attempts++;
    } else {
        r->attempts++;
    }
    r->partition = wr->partition;
    r->offset = wr->offset;
    r->err = err;
}

const kc_txn_refusal_t *kc_worker_txn_refused(kc_worker_t *w, const kc_wreq_t *wr)
{
    return w->txn.on ? refusal_find(&w->txn, wr) : NULL;
}

/* ------------------------------------------------------------- held records */

int kc_worker_txn_hold(kc_worker_t *w, const kc_wmsg_t *m, kc_wreq_t *wr)
{
    kc_wtxn_t *t = &w->txn;
    kc_txn_held_t *h;

    if (t->held_cnt == t->held_cap) {
        size_t cap = t->held_cap ? t->held_cap * 2 : 256;
        kc_txn_held_t *p = realloc(t->held, cap * sizeof(*p));
        if (!p) {
            return RD_KAFKA_RESP_ERR__QUEUE_FULL;
        }
        t->held = p;
        t->held_cap = cap;
    }
    h = &t->held[t->held_cnt];
    memset(h, 0, sizeof(*h));
    h->topic = strdup(m->topic);
    h->key = m->key_len ? malloc(m->key_len) : NULL;
    h->value = m->len ? malloc(m->len) : NULL;
    if (!h->topic || (m->key_len && !h->key) || (m->len && !h->value)) {
        free(h->topic);
        free(h->key);
        free(h->value);
        return RD_KAFKA_RESP_ERR__QUEUE_FULL;
    }
    if (m->key_len) {
        memcpy(h->key, m->key, m->key_len);
    }
    if (m->len) {
        memcpy(h->value, m->value, m->len);
    }
    h->key_len = m->key_len;
    h->len = m->len;
    h->hdrs = m->hdrs;
    h->wr = wr;
    t->held_cnt++;
    t->produced = true;
    return 0;
}

static void held_clear(kc_txn_held_t *h)
{
    free(h->topic);
    free(h->key);
    free(h->value);
    if (h->hdrs) {
        rd_kafka_headers_destroy(h->hdrs);
    }
}

/* Produce what waited into the open transaction (a record of a partition
 * rewound or revoked meanwhile is dropped). */
static void held_release(kc_worker_t *w)
{
    kc_wtxn_t *t = &w->txn;
    size_t n = t->held_cnt;
    kc_txn_held_t *held = t->held;

    t->held = NULL;
    t->held_cnt = t->held_cap = 0;
    for (size_t i = 0; i < n; i++) {
        kc_txn_held_t *h = &held[i];
        kc_wmsg_t m = {h->topic, -1, -1, h->key, h->key_len, h->value, h->len, h->hdrs};
        bool drop = w->destroying || !t->open; /* uncommitted: answered by the next owner */
        int err;
        if (drop || kc_worker_txn_stale(w, h->wr)) {
            if (drop) {
                kc_worker_wreq_free(w, h->wr);
            }
            held_clear(h);
            continue;
        }
        err = w->io.produce(w->io.opaque, &m, h->wr);
        t->produced = t->produced || err == 0;
        if (err == 0) {
            h->hdrs = NULL; /* the producer's now */
        } else {
            kc_worker_produce_error(w, h->wr, &m, err);
        }
        held_clear(h);
    }
    free(held);
}

/* ------------------------------------------------------------- commit */

/* The answered records above pos: the watermark's and those carried from the
 * last owner and not consumed again yet, merged in order. */
static size_t done_above(const kc_part_t *part, int64_t pos, int64_t **out)
{
    size_t nw = kc_wm_done_list(part->wm, NULL, 0), n = 0, i = 0, j = 0;
    int64_t *wm_done = malloc((nw + 1) * sizeof(int64_t));
    int64_t *all = malloc((nw + part->skip_cnt + 1) * sizeof(int64_t));

    if (!wm_done || !all) {
        free(wm_done);
        free(all);
        *out = NULL;
        return SIZE_MAX;
    }
    kc_wm_done_list(part->wm, wm_done, nw);
    while (i < nw || j < part->skip_cnt) {
        int64_t v = j == part->skip_cnt || (i < nw && wm_done[i] < part->skip[j]) ? wm_done[i++]
                                                                                  : part->skip[j++];
        if (v >= pos && (n == 0 || all[n - 1] != v)) {
            all[n++] = v;
        }
    }
    free(wm_done);
    *out = all;
    return n;
}

/* The metadata of a commit at pos: the done offsets above it, as many as fit
 * (the lowest first). A list cut short is counted: the records it leaves out
 * are answered again only if another worker takes the partition over before
 * the gaps below them fill. Postponing the commit instead could outlast
 * transaction.timeout.ms, and the broker would abort everything. */
static long meta_encode(kc_worker_t *w, int64_t pos, const int64_t *done, size_t n, char *meta,
                        size_t size)
{
    size_t used;
    long len = kc_offmeta_encode_fit(pos, done, n, meta, size, &used);

    if (len >= 0 && used < n) {
        w->txn.truncated++;
    }
    return len;
}

/* The offsets to commit: every owned partition with a position. NULL when
 * memory runs out (commit later). */
static rd_kafka_topic_partition_list_t *txn_offsets(kc_worker_t *w)
{
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(4);
    char meta[TXN_META_MAX];

    for (size_t i = 0; i < w->part_cnt; i++) {
        kc_part_t *part = &w->parts[i];
        rd_kafka_topic_partition_t *e;
        int64_t off, pos, *done;
        size_t n;
        long len;
        if (!part->assigned) {
            continue;
        }
        if ((off = kc_wm_committable(part->wm)) >= 0) {
            part->txn_pos = off;
        }
        part->dirty = false;
        pos = part->txn_pos >= 0 ? part->txn_pos : kc_wm_first_pending(part->wm);
        if (pos < 0) {
            continue; /* nothing consumed, nothing committed */
        }
        n = done_above(part, pos, &done);
        len = n == SIZE_MAX ? -1 : meta_encode(w, pos, done, n, meta, sizeof(meta));
        free(done);
        if (len < 0) {
            part->dirty = true; /* try again next time */
            rd_kafka_topic_partition_list_destroy(list);
            return NULL;
        }
        e = rd_kafka_topic_partition_list_add(list, w->conf.topic_requests, (int32_t)i);
        e->offset = pos;
        if (len > 0 && !(e->metadata = malloc((size_t)len))) {
            part->dirty = true;
            rd_kafka_topic_partition_list_destroy(list);
            return NULL;
        }
        if (len > 0) {
            memcpy(e->metadata, meta, (size_t)len);
            e->metadata_size = (size_t)len;
        }
    }
    return list;
}

/* Send the offsets, commit and begin the next transaction: the blocking part,
 * run by the transaction thread. Logs nothing and touches only the producer:
 * the result is for the loop. */
static txn_rc_t txn_finish(rd_kafka_t *producer, rd_kafka_topic_partition_list_t *offsets,
                           rd_kafka_consumer_group_metadata_t *cgmd, char *msg, size_t size)
{
    txn_rc_t rc = TXN_OK;
    int tries = 0;

    if (offsets->cnt > 0) {
        do {
            rc = txn_classify(rd_kafka_send_offsets_to_transaction(producer, offsets, cgmd, -1),
                              "send offsets", msg, size);
        } while (rc == TXN_RETRY && ++tries < 3);
        if (rc != TXN_OK) {
            /* Committing without them would show replies whose offsets
             * stay behind: a new owner answers those again. */
            return rc == TXN_RETRY ? TXN_ABORT : rc;
        }
    }
    /* A retriable commit error leaves the outcome open: librdkafka wants the
     * commit called again, never an abort. Still open after that: stop the
     * process (the next one with this worker.id fences whatever it was). */
    for (tries = 0; tries < TXN_COMMIT_TRIES; tries++) {
        rc = txn_classify(rd_kafka_commit_transaction(producer, -1), "commit", msg, size);
        if (rc != TXN_RETRY) {
            return rc;
        }
        usleep(100 * 1000);
    }
    return TXN_FATAL;
}

/* Abort: the purged records' delivery reports must be served meanwhile (by
 * the loop: this runs in the transaction thread). */
static txn_rc_t txn_abort(rd_kafka_t *producer, char *msg, size_t size)
{
    txn_rc_t rc;
    int tries = 0;

    do {
        rc = txn_classify(rd_kafka_abort_transaction(producer, -1), "abort", msg, size);
    } while (rc == TXN_RETRY && ++tries < 3);
    return rc;
}

static void *txn_thread(void *arg)
{
    kc_worker_t *w = arg;
    kc_wtxn_t *t = &w->txn;
    ssize_t r;

    t->thr_rc = t->thr_abort
                    ? txn_abort(w->producer, t->thr_msg, sizeof(t->thr_msg))
                    : txn_finish(w->producer, t->offsets, t->cgmd, t->thr_msg, sizeof(t->thr_msg));
    atomic_store(&t->thr_done, true);
    r = write(w->wake_pipe[1], "t", 1);
    (void)r;
    return NULL;
}

/* Every owned partition starts again from its committed offset: what was
 * consumed since is stale (its replies, held or not, are dropped). */
static void txn_rewind(kc_worker_t *w)
{
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(4);
    rd_kafka_error_t *error;

    for (size_t i = 0; i < w->part_cnt; i++) {
        kc_part_t *part = &w->parts[i];
        if (part->assigned && part->first_off >= 0) {
            part->gen++;
            part->dirty = false;
            kc_wm_reset(part->wm);
            part_start(part, (int32_t)i);
            /* Nothing committed yet: back to where this assignment started
             * (a seek to the stored offset would not move the fetcher). */
            rd_kafka_topic_partition_list_add(list, w->conf.topic_requests, (int32_t)i)->offset =
                part->c_pos >= 0 ? part->c_pos : part->first_off;
        }
    }
    kc_log(KC_LOG_WARN,
           "transaction aborted: %d partition(s) consumed again from their committed offsets",
           list->cnt);
    if (list->cnt > 0 && (error = rd_kafka_seek_partitions(w->consumer, list, TXN_TIMEOUT_MS))) {
        kc_log(KC_LOG_ERROR, "seek after abort: %s", rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
        kc_worker_fatal(w, "cannot rewind the consumer after an aborted transaction");
    }
    rd_kafka_topic_partition_list_destroy(list);
}

/* The commit finished: account for it. */
static void commit_done(kc_worker_t *w, txn_rc_t rc, const char *msg)
{
    kc_wtxn_t *t = &w->txn;
    double ms = (double)(kc_mono_us() - t->commit_t0) / 1000.0;

    if (rc == TXN_OK) {
        committed_keep(w, t->offsets);
    }
    rd_kafka_topic_partition_list_destroy(t->offsets);
    rd_kafka_consumer_group_metadata_destroy(t->cgmd);
    t->offsets = NULL;
    t->cgmd = NULL;
    t->state = KC_TXS_OPEN;
    if (txn_report(w, rc, msg) == TXN_OK) {
        t->commits++;
        t->commit_ms_sum += ms;
        t->commit_ms_max = ms > t->commit_ms_max ? ms : t->commit_ms_max;
        t->open = false;
        txn_begin(w);
        if (!t->open) {
            kc_worker_fatal(w, "cannot begin a transaction after a commit");
        }
        return;
    }
    t->abort = rc != TXN_FATAL; /* aborted next */
}

/* The abort finished: rewind (unless the worker is stopping) and begin. */
static void abort_done(kc_worker_t *w, txn_rc_t rc, const char *msg, bool final)
{
    kc_wtxn_t *t = &w->txn;

    t->state = KC_TXS_OPEN;
    t->open = false;
    t->abort = false;
    if (!final || t->produced) {
        t->aborts++; /* not the empty one begun after the last commit */
    }
    if (txn_report(w, rc, msg) == TXN_RETRY) {
        kc_worker_fatal(w, "the transaction could not be aborted");
    }
    if (final || w->fatal) {
        return;
    }
    txn_rewind(w);
    txn_begin(w);
    if (!t->open) {
        kc_worker_fatal(w, "cannot begin a transaction after an abort");
    }
}

/* Run the commit (or the abort) in the transaction thread. false: no thread. */
static bool thread_start(kc_worker_t *w, bool abort)
{
    kc_wtxn_t *t = &w->txn;

    t->thr_abort = abort;
    t->state = abort ? KC_TXS_ABORT : KC_TXS_COMMIT;
    atomic_store(&t->thr_done, false);
    if (pthread_create(&t->thr, NULL, txn_thread, w) != 0) {
        kc_log(KC_LOG_WARN, "cannot start the transaction thread: the loop waits");
        txn_thread(w);
        return false;
    }
    t->thr_running = true;
    return true;
}

/* The thread finished: join it and take its result. */
static void thread_done(kc_worker_t *w, bool final)
{
    kc_wtxn_t *t = &w->txn;

    if (t->thr_running) {
        pthread_join(t->thr, NULL);
        t->thr_running = false;
    }
    if (t->state == KC_TXS_COMMIT) {
        commit_done(w, (txn_rc_t)t->thr_rc, t->thr_msg);
    } else if (t->state == KC_TXS_ABORT) {
        abort_done(w, (txn_rc_t)t->thr_rc, t->thr_msg, final);
    }
}

/* Wait for the thread, serving the delivery reports it may wait for. */
static void thread_wait(kc_worker_t *w, bool final)
{
    while (w->txn.thr_running && !atomic_load(&w->txn.thr_done)) {
        kc_worker_producer_serve(w, 10);
    }
    thread_done(w, final);
}

static bool txn_idle(const kc_worker_t *w)
{
    if (w->txn.produced) {
        return false;
    }
    for (size_t i = 0; i < w->part_cnt; i++) {
        if (w->parts[i].assigned && w->parts[i].dirty) {
            return false;
        }
    }
    return true;
}

/* Start the commit of what the drain left: every record acknowledged. */
static void commit_start(kc_worker_t *w, rd_kafka_topic_partition_list_t *list)
{
    kc_wtxn_t *t = &w->txn;

    t->offsets = list;
    t->cgmd = rd_kafka_consumer_group_metadata(w->consumer);
    t->commit_t0 = kc_mono_us();
    thread_start(w, false);
}

void kc_worker_txn_tick(kc_worker_t *w)
{
    kc_wtxn_t *t = &w->txn;
    rd_kafka_topic_partition_list_t *list;

    if (!t->on || w->fatal) {
        return;
    }
    if (t->state == KC_TXS_COMMIT || t->state == KC_TXS_ABORT) {
        if (t->thr_running && !atomic_load(&t->thr_done)) {
            return;
        }
        thread_done(w, false);
        if (!t->abort) {
            held_release(w); /* into the new transaction, or dropped if stale */
        }
    }
    if (t->abort) {
        if (t->open && !w->fatal) {
            thread_start(w, true); /* new records are held meanwhile */
        } else {
            abort_done(w, TXN_OK, "", false);
            held_release(w);
        }
        return;
    }
    if (t->state == KC_TXS_OPEN) {
        if (kc_w_mono(w) < t->next_at || !t->open) {
            return;
        }
        t->next_at = kc_w_mono(w) + w->conf.transaction_interval_ms * 1000;
        if (txn_idle(w)) {
            return;
        }
        t->state = KC_TXS_DRAIN;
    }
    /* Draining: the loop serves the delivery reports until none is due. */
    if (rd_kafka_outq_len(w->producer) > 0) {
        return;
    }
    if (!(list = txn_offsets(w))) {
        t->postponed++; /* out of memory: the transaction goes on */
        t->state = KC_TXS_OPEN;
        held_release(w);
        return;
    }
    commit_start(w, list);
}

/* Commit now, waiting (a revoke, the shutdown), or abort if it cannot be. */
static void txn_commit_now(kc_worker_t *w, bool final)
{
    kc_wtxn_t *t = &w->txn;
    int64_t end = kc_mono_us() + TXN_TIMEOUT_MS * 1000LL;
    rd_kafka_topic_partition_list_t *list = NULL;

    thread_wait(w, final);
    if (w->fatal) {
        return;
    }
    if (t->open && !t->abort && !txn_idle(w)) {
        t->state = KC_TXS_DRAIN; /* what replies now is held */
        while (rd_kafka_outq_len(w->producer) > 0 && kc_mono_us() < end && !t->abort) {
            kc_worker_producer_serve(w, 10);
        }
        if (!t->abort && rd_kafka_outq_len(w->producer) == 0 && (list = txn_offsets(w))) {
            commit_start(w, list);
            thread_wait(w, final);
        } else {
            t->abort = true; /* cannot say what it holds: let it go */
        }
    }
    if (t->abort && t->open && !w->fatal) {
        thread_start(w, true);
        thread_wait(w, final);
    }
    t->state = KC_TXS_OPEN;
    if (!final) {
        txn_begin(w);
    }
}

/* Before the partitions go: what was held stays held until they are gone
 * (kc_worker_txn_release), or a revoked partition's replies would land in
 * the next transaction after its offsets were committed without them. */
void kc_worker_txn_revoked(kc_worker_t *w)
{
    txn_commit_now(w, w->stop != 0);
}

void kc_worker_txn_release(kc_worker_t *w)
{
    if (w->txn.on && w->txn.state == KC_TXS_OPEN) {
        held_release(w);
    }
}

void kc_worker_txn_end(kc_worker_t *w)
{
    kc_wtxn_t *t = &w->txn;

    if (!t->on) {
        return;
    }
    txn_commit_now(w, true);
    if (t->open && !w->fatal) {
        /* Begun after the last commit: nothing of it becomes visible. */
        thread_start(w, true);
        thread_wait(w, true);
    }
}

void kc_worker_txn_free(kc_worker_t *w)
{
    kc_wtxn_t *t = &w->txn;

    while (t->thr_running && !atomic_load(&t->thr_done)) {
        kc_worker_producer_serve(w, 10); /* the commit may wait for its reports */
    }
    if (t->thr_running) {
        pthread_join(t->thr, NULL);
        t->thr_running = false;
    }
    if (t->offsets) {
        rd_kafka_topic_partition_list_destroy(t->offsets);
        t->offsets = NULL;
    }
    if (t->cgmd) {
        rd_kafka_consumer_group_metadata_destroy(t->cgmd);
        t->cgmd = NULL;
    }
    for (size_t i = 0; i < t->held_cnt; i++) {
        kc_worker_wreq_free(w, t->held[i].wr); /* never produced: uncommitted */
        held_clear(&t->held[i]);
    }
    free(t->held);
    t->held = NULL;
    t->held_cnt = t->held_cap = 0;
    for (size_t i = 0; i < w->part_cnt; i++) {
        skip_clear(&w->parts[i]);
    }
}

void kc_worker_txn_render(kc_worker_t *w, kc_buf_t *b)
{
    const kc_wtxn_t *t = &w->txn;

    kc_prom_counter(b, "kclassify_txn_commits_total",
                    "exactly_once: transactions committed (replies and offsets).", NULL,
                    (double)t->commits);
    kc_prom_counter(b, "kclassify_txn_aborts_total",
                    "exactly_once: transactions aborted; their partitions were consumed again "
                    "from the committed offsets.",
                    NULL, (double)t->aborts);
    kc_prom_counter(b, "kclassify_txn_postponed_total",
                    "exactly_once: commits put off for want of memory.", NULL,
                    (double)t->postponed);
    kc_prom_counter(b, "kclassify_txn_metadata_truncated_total",
                    "exactly_once: commits whose list of answered records above the offset was cut "
                    "to fit the metadata (those may be answered again after a takeover).",
                    NULL, (double)t->truncated);
    kc_prom_counter(b, "kclassify_txn_skipped_records_total",
                    "exactly_once: records consumed again that a committed transaction had "
                    "answered (not answered twice).",
                    NULL, (double)t->skipped);
    kc_prom_counter(b, "kclassify_txn_stale_replies_total",
                    "exactly_once: replies dropped because their partition was rewound or "
                    "revoked since their request was consumed.",
                    NULL, (double)t->stale);
    kc_prom_counter(b, "kclassify_txn_commit_seconds_total",
                    "exactly_once: time the worker's loop spent flushing and committing.", NULL,
                    t->commit_ms_sum / 1000.0);
    kc_prom_gauge(b, "kclassify_txn_commit_seconds_max", "exactly_once: longest commit.", NULL,
                  t->commit_ms_max / 1000.0);
}
