/**
 * @file produce.h
 * @brief kclassify-produce internals, shared by producer/produce_*.c.
 *
 * Threads: the main thread reads input and sends; the client's background
 * thread runs the reply callbacks, which print results. Everything below
 * "shared" is guarded by `lock`; the rest belongs to the main thread.
 */
#ifndef PRODUCE_H
#define PRODUCE_H

#include "kc_buf.h"
#include "kc_client_parts.h"
#include "kc_conf.h"
#include "kc_exit.h"
#include "kc_hist.h"
#include "kc_producer_conf.h"

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#define EXIT_RUNTIME      KC_EXIT_FAILURE
#define EXIT_USAGE        KC_EXIT_USAGE
#define HELP_SHOWN        -1     /* internal: --help printed, exit 0 */
#define MAX_REPORTED_ERRS 10     /* per kind; the rest are only counted */
#define PROGRESS_EVERY_US 250000 /* ~4 refreshes per second */
#define MAX_CATEGORIES    32     /* counted by name in the summary; more go to "other" */

extern volatile sig_atomic_t produce_run_flag;

/** Result statistics for the summary. */
typedef struct produce_stats_s {
    struct {
        char name[64];
        uint64_t n;
    } cat[MAX_CATEGORIES];
    size_t cat_cnt;
    uint64_t cat_other;
    uint64_t source[6]; /* by kc_source_t */
    uint64_t status[3]; /* by kc_status_t */
    uint64_t coalesced, deadline_missed;
    kc_hist_t *rtt;   /* send to reply, measured here */
    kc_hist_t *total; /* the worker's total_us */
} produce_stats_t;

typedef struct produce_s {
    /* options */
    kc_producer_conf_t conf;
    kc_conf_kv_list_t kafka;
    const char *conf_file;
    const char *input_name;
    bool wait, ordered, progress;
    int64_t timeout_ms;
    uint64_t skip;
    uint64_t max_inflight;

    /* main thread */
    kc_client_t *cl;
    FILE *in;
    uint64_t lineno, rejected, sent, tracked, untracked, repeats;
    bool input_done, gave_up;
    off_t in_size, in_pos;
    int64_t start_us, last_send_us, last_progress_us;
    kc_client_stats_t final; /* the client's counters, taken before it is destroyed */

    /* shared with the reply callbacks */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    kc_order_t *order;    /* --ordered */
    kc_buf_t line_out;    /* rendering buffer */
    uint64_t outstanding; /* tracked requests not completed */
    uint64_t answered, timed_out, undelivered;
    uint64_t printed_lineno; /* --ordered: every result up to this input line printed */
    bool gap;                /* --ordered: a request before the next one has no result */
    uint64_t held_back;      /* --ordered: results after the gap, not printed */
    bool progress_drawn;
    bool stdout_tty;
    uint64_t events[3]; /* per kc_client_event_t, for MAX_REPORTED_ERRS */
    produce_stats_t stats;
} produce_t;

/* produce_main.c */
int produce_configure(int argc, char **argv, produce_t *pr);

/* produce_run.c */
int produce_setup(produce_t *pr);
int produce_input(produce_t *pr);
void produce_finish(produce_t *pr);
void produce_teardown(produce_t *pr);

/* produce_report.c */
int produce_stats_init(produce_stats_t *st);
void produce_stats_free(produce_stats_t *st);
void produce_stats_add(produce_stats_t *st, const kc_result_t *res, int64_t rtt_us);
void produce_progress_clear(produce_t *pr); /* under lock */
void produce_progress_show(produce_t *pr);  /* takes lock */
int produce_report(produce_t *pr);

#endif
