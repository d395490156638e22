/**
 * kclassify-produce: reading input, sending through the client, and the
 * reply callbacks that print results (in input order with --ordered).
 *
 * Memory stays bounded whatever the input size: a line is read, sent and
 * forgotten; what is kept per request until its reply is the query text (to
 * print it) and, with --ordered, its rendered result until every earlier
 * result is printed. The send loop waits while --max-inflight of those exist.
 */
#include "produce.h"

#include "kc_err.h"
#include "kc_input.h"
#include "kc_kafka.h"
#include "kc_result_json.h"
#include "kc_time.h"

#include <errno.h>
#include <librdkafka/rdkafka.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define WAIT_SLICE_US 250000 /* condition waits wake this often for progress and ^C */

/* One tracked request, the callback's opaque. */
typedef struct item_s {
    produce_t *pr;
    uint64_t seq; /* --ordered */
    uint64_t lineno;
    size_t query_len;
    char query[];
} item_t;

/* A completed slot of the ordering buffer: line NULL = no result (failed). */
typedef struct out_s {
    uint64_t lineno;
    size_t len;
    char *line;
} out_t;

static void out_free(void *p)
{
    out_t *o = p;

    if (o) {
        free(o->line);
        free(o);
    }
}

/* ---------------------------------------------------------------------------
 * Reply callbacks (client thread)
 * ------------------------------------------------------------------------- */

static void on_event(kc_client_event_t ev, const char *msg, void *opaque)
{
    produce_t *pr = opaque;

    pthread_mutex_lock(&pr->lock);
    if (pr->events[ev]++ < MAX_REPORTED_ERRS) {
        produce_progress_clear(pr);
        fprintf(stderr, "%% %s\n", msg);
    }
    pthread_mutex_unlock(&pr->lock);
}

static void write_line(produce_t *pr, const char *line, size_t len)
{
    produce_progress_clear(pr);
    fwrite(line, 1, len, stdout);
    if (pr->stdout_tty) {
        fflush(stdout);
    }
}

/* Prints every result now in order; remembers how far the input is done.
 * After the first request without a result nothing more is printed, so the
 * output holds exactly the results of input lines 1..printed_lineno and
 * `--skip printed_lineno` appends the rest. */
static void order_drain(produce_t *pr)
{
    void *item;

    while (kc_order_pop(pr->order, &item)) {
        out_t *o = item;
        if (!o) {
            pr->gap = true;
            continue;
        }
        if (!o->line) {
            pr->gap = true;
        } else if (pr->gap) {
            pr->held_back++; /* printing it would make the output unresumable */
        } else {
            write_line(pr, o->line, o->len);
            pr->printed_lineno = o->lineno;
        }
        out_free(o);
    }
}

/* Under lock: the result as a JSON line in pr->line_out. */
static int render(produce_t *pr, const kc_result_t *res, const item_t *it)
{
    char errstr[256];

    kc_buf_reset(&pr->line_out);
    if (kc_result_json_write(res, it->query, it->query_len, &pr->line_out, errstr,
                             sizeof(errstr)) != 0 ||
        kc_buf_puts(&pr->line_out, "\n") != 0) {
        produce_progress_clear(pr);
        fprintf(stderr, "%% result %s: %s\n", res->request_id, errstr);
        return -1;
    }
    return 0;
}

static void deliver_ordered(produce_t *pr, const item_t *it, bool ok)
{
    out_t *o = calloc(1, sizeof(*o));

    if (o && ok && (o->line = malloc(pr->line_out.len))) {
        memcpy(o->line, pr->line_out.data, pr->line_out.len);
        o->len = pr->line_out.len;
    } else if (o && ok) {
        fprintf(stderr, "%% out of memory: line %" PRIu64 "'s result not printed\n", it->lineno);
    }
    if (!o) { /* out of memory: the slot must still be filled to keep going */
        fprintf(stderr, "%% out of memory at line %" PRIu64 "\n", it->lineno);
        kc_order_fill(pr->order, it->seq, NULL);
    } else {
        o->lineno = it->lineno;
        kc_order_fill(pr->order, it->seq, o);
    }
    order_drain(pr);
}

static void on_reply(int err, const char *errmsg, kc_result_t *res, int64_t rtt_us, void *opaque)
{
    item_t *it = opaque;
    produce_t *pr = it->pr;
    bool ok = false;

    (void)errmsg; /* timeouts and failures are summed up in the report */
    pthread_mutex_lock(&pr->lock);
    if (err == 0) {
        pr->answered++;
        produce_stats_add(&pr->stats, res, rtt_us);
        ok = render(pr, res, it) == 0;
    } else if (err == KC_ERR_KAFKA) {
        pr->undelivered++; /* the client reported the delivery failure */
    } else {
        pr->timed_out++;
    }
    if (pr->ordered) {
        deliver_ordered(pr, it, ok);
    } else if (ok) {
        write_line(pr, pr->line_out.data, pr->line_out.len);
    }
    pr->outstanding--;
    pthread_cond_broadcast(&pr->cond);
    pthread_mutex_unlock(&pr->lock);
    free(it);
}

/* ---------------------------------------------------------------------------
 * Window: how far sending may run ahead of the replies
 * ------------------------------------------------------------------------- */

static bool window_full(const produce_t *pr)
{
    uint64_t held = pr->ordered ? kc_order_held(pr->order) : pr->outstanding;

    return held >= pr->max_inflight;
}

static void cond_wait_slice(produce_t *pr, int64_t until_mono_us)
{
    int64_t now = kc_mono_us(), wake = now + WAIT_SLICE_US;
    struct timespec ts;

    if (until_mono_us < wake) {
        wake = until_mono_us;
    }
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += (wake - now) / 1000000;
    ts.tv_nsec += ((wake - now) % 1000000) * 1000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    pthread_cond_timedwait(&pr->cond, &pr->lock, &ts);
}

/* Waits for a free place. Gives up --timeout-ms after the last send, as the
 * wait after the input does: nothing came back for that long. */
static int window_wait(produce_t *pr)
{
    int rc = 0;

    pthread_mutex_lock(&pr->lock);
    while (produce_run_flag && window_full(pr)) {
        int64_t deadline = pr->last_send_us + pr->timeout_ms * 1000;
        if (kc_mono_us() >= deadline) {
            pr->gave_up = true;
            rc = -1;
            break;
        }
        cond_wait_slice(pr, deadline);
        pthread_mutex_unlock(&pr->lock);
        produce_progress_show(pr);
        pthread_mutex_lock(&pr->lock);
    }
    pthread_mutex_unlock(&pr->lock);
    return produce_run_flag ? rc : -1;
}

/* ---------------------------------------------------------------------------
 * Sending
 * ------------------------------------------------------------------------- */

static int send_tracked(produce_t *pr, const kc_request_t *req)
{
    item_t *it = malloc(sizeof(*it) + req->query_len + 1);
    char errstr[512];
    int rc;

    if (!it) {
        fprintf(stderr, "%% out of memory\n");
        return -1;
    }
    it->pr = pr;
    it->lineno = pr->lineno;
    it->query_len = req->query_len;
    memcpy(it->query, req->query, req->query_len + 1);
    if (req->request_id && kc_client_is_pending(pr->cl, req->request_id)) {
        fprintf(stderr, "%% line %" PRIu64 ": request_id %s repeats an earlier line\n", pr->lineno,
                req->request_id);
    }
    pthread_mutex_lock(&pr->lock);
    if (pr->ordered) {
        kc_order_reserve(pr->order, &it->seq); /* window_wait() made room */
    }
    pr->outstanding++;
    pthread_mutex_unlock(&pr->lock);
    /* timeout 0: the --timeout-ms rule (after the last send) is applied here */
    rc = kc_client_classify_async(pr->cl, req, 0, on_reply, it, errstr, sizeof(errstr));
    if (rc != 0) {
        fprintf(stderr, "%% line %" PRIu64 ": %s\n", pr->lineno, errstr);
        pthread_mutex_lock(&pr->lock);
        pr->outstanding--;
        if (pr->ordered) {
            deliver_ordered(pr, it, false);
        }
        pthread_mutex_unlock(&pr->lock);
        free(it);
        return -1;
    }
    pr->tracked++;
    return 0;
}

static int send_untracked(produce_t *pr, const kc_request_t *req)
{
    char errstr[512];

    if (kc_client_send(pr->cl, req, errstr, sizeof(errstr)) != 0) {
        fprintf(stderr, "%% line %" PRIu64 ": %s\n", pr->lineno, errstr);
        return -1;
    }
    return 0;
}

/* With --wait, a request is tracked unless its replies go elsewhere. */
static int request_send(produce_t *pr, const kc_request_t *req)
{
    bool track = pr->wait;
    int rc;

    if (track && req->reply_topic && strcmp(req->reply_topic, pr->conf.topic_replies) != 0) {
        if (pr->untracked++ == 0) {
            fprintf(stderr, "%% line %" PRIu64 ": reply_topic %s is not %s: not waiting for it\n",
                    pr->lineno, req->reply_topic, pr->conf.topic_replies);
        }
        track = false;
    }
    if (track && window_wait(pr) != 0) {
        return -1;
    }
    rc = track ? send_tracked(pr, req) : send_untracked(pr, req);
    if (rc == 0) {
        pr->sent++;
        pr->last_send_us = kc_mono_us();
    }
    return rc;
}

/* @returns 0 when the line was sent or skipped, -1 on a fatal error. */
static int line_handle(produce_t *pr, const char *line, size_t len)
{
    kc_request_t req;
    char errstr[512];
    int rc = kc_input_parse_line(line, len, &req, errstr, sizeof(errstr));

    if (rc == KC_ERR_NOTFOUND) {
        return 0;
    }
    if (rc == KC_ERR_INVALID) {
        if (pr->rejected++ < MAX_REPORTED_ERRS) {
            pthread_mutex_lock(&pr->lock);
            produce_progress_clear(pr);
            fprintf(stderr, "%% %s:%" PRIu64 ": %s\n", pr->input_name, pr->lineno, errstr);
            pthread_mutex_unlock(&pr->lock);
        }
        return 0;
    }
    if (rc == 0) {
        rc = request_send(pr, &req);
    }
    kc_request_clear(&req);
    return rc == 0 ? 0 : -1;
}

/* ---------------------------------------------------------------------------
 * Phases
 * ------------------------------------------------------------------------- */

static int input_open(produce_t *pr)
{
    struct stat st;

    pr->in = strcmp(pr->input_name, "-") == 0 ? stdin : fopen(pr->input_name, "r");
    if (!pr->in) {
        fprintf(stderr, "%% %s: %s\n", pr->input_name, strerror(errno));
        return -1;
    }
    if (fstat(fileno(pr->in), &st) == 0 && S_ISREG(st.st_mode)) {
        pr->in_size = st.st_size;
    }
    if (strcmp(pr->input_name, "-") == 0) {
        pr->input_name = "stdin";
    }
    return 0;
}

/* A bad kafka.* property is a usage error, as before the client library:
 * try them on throwaway configurations of both client types first. */
static int kafka_props_check(const produce_t *pr)
{
    char errstr[512];

    for (int role = KC_KAFKA_PRODUCER; role <= KC_KAFKA_CONSUMER; role++) {
        rd_kafka_conf_t *conf =
            kc_kafka_conf_new((kc_kafka_role_t)role, NULL, &pr->kafka, errstr, sizeof(errstr));
        if (!conf) {
            fprintf(stderr, "%% %s\n", errstr);
            return -1;
        }
        rd_kafka_conf_destroy(conf);
    }
    return 0;
}

int produce_setup(produce_t *pr)
{
    kc_client_opts_t opts = {.send_only = !pr->wait, .on_event = on_event, .event_opaque = pr};
    pthread_condattr_t ca;
    char errstr[512];

    pthread_mutex_init(&pr->lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&pr->cond, &ca);
    pthread_condattr_destroy(&ca);
    kc_buf_init(&pr->line_out);
    pr->stdout_tty = isatty(STDOUT_FILENO);
    if (produce_stats_init(&pr->stats) != 0 ||
        (pr->ordered && !(pr->order = kc_order_new(pr->max_inflight)))) {
        fprintf(stderr, "%% out of memory\n");
        return EXIT_RUNTIME;
    }
    if (kafka_props_check(pr) != 0 || input_open(pr) != 0) {
        return EXIT_USAGE;
    }
    if (!(pr->cl = kc_client_new(&pr->conf, &pr->kafka, &opts, errstr, sizeof(errstr)))) {
        fprintf(stderr, "%% %s\n", errstr);
        return EXIT_RUNTIME;
    }
    pr->start_us = pr->last_progress_us = pr->last_send_us = kc_mono_us();
    return 0;
}

int produce_input(produce_t *pr)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int rc = 0;

    while (produce_run_flag && (len = getline(&line, &cap, pr->in)) != -1) {
        pr->lineno++;
        pr->in_pos += len;
        if (pr->lineno <= pr->skip) {
            continue;
        }
        if ((rc = line_handle(pr, line, (size_t)len)) != 0) {
            break;
        }
        produce_progress_show(pr);
    }
    /* The signal handler is installed without SA_RESTART, so ^C also ends a blocked read. */
    if (rc == 0 && ferror(pr->in) && !(errno == EINTR && !produce_run_flag)) {
        fprintf(stderr, "%% reading %s: %s\n", pr->input_name, strerror(errno));
        rc = -1;
    }
    free(line);
    pr->input_done = true;
    return rc;
}

/* Flush the producer, wait for replies, then destroy the client: that fails
 * what is still outstanding, which lets --ordered print what it holds. */
void produce_finish(produce_t *pr)
{
    int64_t deadline;

    while (kc_client_flush(pr->cl, 250) == KC_ERR_TIMEOUT && produce_run_flag) {
        produce_progress_show(pr);
    }
    deadline = pr->last_send_us + pr->timeout_ms * 1000;
    pthread_mutex_lock(&pr->lock);
    while (produce_run_flag && !pr->gave_up && pr->outstanding > 0 && kc_mono_us() < deadline) {
        cond_wait_slice(pr, deadline);
        pthread_mutex_unlock(&pr->lock);
        produce_progress_show(pr);
        pthread_mutex_lock(&pr->lock);
    }
    pthread_mutex_unlock(&pr->lock);
    kc_client_stats(pr->cl, &pr->final);
    kc_client_destroy(pr->cl); /* flushes what an interruption left queued (at most 5 s) */
    pr->cl = NULL;
    fflush(stdout);
}

void produce_teardown(produce_t *pr)
{
    kc_client_destroy(pr->cl);
    if (pr->in && pr->in != stdin) {
        fclose(pr->in);
    }
    kc_order_destroy(pr->order, out_free);
    produce_stats_free(&pr->stats);
    kc_buf_free(&pr->line_out);
    kc_conf_free(kc_producer_conf_props, &pr->conf);
    kc_conf_kv_free(&pr->kafka);
}
