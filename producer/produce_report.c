/**
 * kclassify-produce: the progress bar (a terminal line on stderr, redrawn a
 * few times a second) and the final report and summary.
 */
#include "produce.h"

#include "kc_types.h"
#include "kc_time.h"

#include <inttypes.h>
#include <string.h>

#define BAR_WIDTH 24

/* ---------------------------------------------------------------------------
 * Statistics
 * ------------------------------------------------------------------------- */

int produce_stats_init(produce_stats_t *st)
{
    st->rtt = kc_hist_new();
    st->total = kc_hist_new();
    return st->rtt && st->total ? 0 : -1;
}

void produce_stats_free(produce_stats_t *st)
{
    kc_hist_destroy(st->rtt);
    kc_hist_destroy(st->total);
    st->rtt = st->total = NULL;
}

static void stats_category(produce_stats_t *st, const char *name)
{
    for (size_t i = 0; i < st->cat_cnt; i++) {
        if (strcmp(st->cat[i].name, name) == 0) {
            st->cat[i].n++;
            return;
        }
    }
    if (st->cat_cnt == MAX_CATEGORIES || strlen(name) >= sizeof(st->cat[0].name)) {
        st->cat_other++;
        return;
    }
    snprintf(st->cat[st->cat_cnt].name, sizeof(st->cat[0].name), "%s", name);
    st->cat[st->cat_cnt++].n = 1;
}

void produce_stats_add(produce_stats_t *st, const kc_result_t *res, int64_t rtt_us)
{
    stats_category(st, res->category ? res->category : "(none)");
    if ((unsigned)res->source < 6) {
        st->source[res->source]++;
    }
    if ((unsigned)res->status < 3) {
        st->status[res->status]++;
    }
    st->coalesced += res->coalesced;
    st->deadline_missed += !res->deadline_met;
    kc_hist_record(st->rtt, rtt_us);
    kc_hist_record(st->total, res->total_us);
}

/* ---------------------------------------------------------------------------
 * Progress
 * ------------------------------------------------------------------------- */

void produce_progress_clear(produce_t *pr)
{
    if (pr->progress_drawn) {
        fputs("\r\033[K", stderr);
        pr->progress_drawn = false;
    }
}

static void progress_eta(const produce_t *pr, double elapsed, uint64_t done, char *out, size_t size)
{
    double eta = -1;

    if (!pr->input_done && pr->in_size > 0 && pr->in_pos > 0) {
        eta = elapsed * (double)(pr->in_size - pr->in_pos) / (double)pr->in_pos;
    } else if (pr->input_done && pr->wait && done > 0) {
        eta = (double)pr->outstanding * elapsed / (double)done;
    }
    if (eta < 0) {
        snprintf(out, size, "?");
    } else {
        snprintf(out, size, "%.0fs", eta);
    }
}

static void progress_bar(const produce_t *pr, char *out, size_t size)
{
    double frac;
    int fill;

    if (pr->in_size <= 0) {
        out[0] = '\0';
        return;
    }
    frac = (double)pr->in_pos / (double)pr->in_size;
    if (pr->wait && pr->input_done && pr->tracked > 0) {
        frac = (double)(pr->tracked - pr->outstanding) / (double)pr->tracked;
    }
    fill = (int)(frac * BAR_WIDTH + 0.5);
    fill = fill < 0 ? 0 : (fill > BAR_WIDTH ? BAR_WIDTH : fill);
    snprintf(out, size, "[%.*s%.*s] %3.0f%% ", fill, "########################", BAR_WIDTH - fill,
             "........................", frac * 100);
}

void produce_progress_show(produce_t *pr)
{
    int64_t now = kc_mono_us();
    double elapsed = (double)(now - pr->start_us) / 1e6;
    char eta[32], bar[64];
    kc_client_stats_t cs;
    uint64_t done;

    if (!pr->progress || now - pr->last_progress_us < PROGRESS_EVERY_US) {
        return;
    }
    pr->last_progress_us = now;
    kc_client_stats(pr->cl, &cs);
    pthread_mutex_lock(&pr->lock);
    done = pr->wait ? pr->answered : cs.delivered;
    progress_bar(pr, bar, sizeof(bar));
    progress_eta(pr, elapsed, done, eta, sizeof(eta));
    fprintf(stderr, "\r\033[K%% %ssent %" PRIu64 ", %s %" PRIu64, bar, pr->sent,
            pr->wait ? "answered" : "delivered", done);
    if (pr->wait) {
        fprintf(stderr, ", in flight %" PRIu64, pr->outstanding);
    }
    fprintf(stderr, ", %.0f/s, ETA %s", elapsed > 0 ? (double)done / elapsed : 0.0, eta);
    pr->progress_drawn = true;
    if (!pr->stdout_tty) {
        fflush(stdout); /* results reach a pipe or file at least as often as the bar moves */
    }
    pthread_mutex_unlock(&pr->lock);
}

/* ---------------------------------------------------------------------------
 * Final report
 * ------------------------------------------------------------------------- */

static double pct_of(uint64_t n, uint64_t total)
{
    return total ? 100.0 * (double)n / (double)total : 0.0;
}

static void summary_counts(const produce_t *pr)
{
    const produce_stats_t *st = &pr->stats;
    uint64_t n = pr->answered;

    fprintf(stderr, "%%   categories:");
    for (size_t i = 0; i < st->cat_cnt; i++) {
        fprintf(stderr, " %s %" PRIu64 " (%.1f%%)", st->cat[i].name, st->cat[i].n,
                pct_of(st->cat[i].n, n));
    }
    if (st->cat_other) {
        fprintf(stderr, " other %" PRIu64, st->cat_other);
    }
    fprintf(stderr, "\n%%   sources:");
    for (int s = 0; s < 6; s++) {
        if (st->source[s]) {
            fprintf(stderr, " %s %" PRIu64 " (%.1f%%)", kc_source_name((kc_source_t)s),
                    st->source[s], pct_of(st->source[s], n));
        }
    }
    fprintf(stderr, "\n%%   status:");
    for (int s = 0; s < 3; s++) {
        fprintf(stderr, " %s %" PRIu64, kc_status_name((kc_status_t)s), st->status[s]);
    }
    fprintf(stderr, "; coalesced %" PRIu64 "; deadline missed %" PRIu64 "\n", st->coalesced,
            st->deadline_missed);
}

static void summary_latency(const char *what, const kc_hist_t *h)
{
    fprintf(stderr, "%%   latency %s ms: p50 %.1f  p95 %.1f  p99 %.1f  max %.1f\n", what,
            (double)kc_hist_percentile(h, 50) / 1000, (double)kc_hist_percentile(h, 95) / 1000,
            (double)kc_hist_percentile(h, 99) / 1000, (double)kc_hist_max(h) / 1000);
}

static void summary(const produce_t *pr)
{
    double elapsed = (double)(kc_mono_us() - pr->start_us) / 1e6;

    if (pr->answered == 0) {
        return;
    }
    fprintf(stderr, "%% summary: %" PRIu64 " results in %.1f s (%.0f/s)\n", pr->answered, elapsed,
            elapsed > 0 ? (double)pr->answered / elapsed : 0.0);
    summary_counts(pr);
    summary_latency("(send to reply, here)", pr->stats.rtt);
    summary_latency("(worker total_us)", pr->stats.total);
}

static int report_wait(produce_t *pr)
{
    const kc_client_stats_t *cs = &pr->final;
    uint64_t unanswered = pr->timed_out;
    int rc = 0;

    if (cs->duplicates || cs->foreign || cs->bad_replies) {
        fprintf(stderr,
                "%% ignored replies: %" PRIu64 " duplicate, %" PRIu64 " for other clients, %" PRIu64
                " undecodable\n",
                cs->duplicates, cs->foreign, cs->bad_replies);
    }
    if (unanswered > 0) {
        fprintf(stderr, "%% %" PRIu64 " of %" PRIu64 " request(s) not answered %s\n", unanswered,
                pr->tracked - pr->undelivered,
                produce_run_flag ? "within --timeout-ms after the last send" : "(interrupted)");
        rc = EXIT_RUNTIME;
    }
    if (pr->held_back) {
        fprintf(stderr,
                "%% %" PRIu64 " result(s) after the first unanswered request not printed "
                "(--ordered)\n",
                pr->held_back);
    }
    if (pr->ordered && (unanswered > 0 || !produce_run_flag || pr->gave_up || pr->gap)) {
        fprintf(stderr,
                "%% the results of input lines 1..%" PRIu64 " were printed, in order: resume "
                "with --skip %" PRIu64 "\n",
                pr->printed_lineno, pr->printed_lineno);
    }
    summary(pr);
    fprintf(stderr, "%% %" PRIu64 " answered of %" PRIu64 " sent to %s\n", pr->answered, pr->sent,
            pr->conf.topic_requests);
    return rc;
}

int produce_report(produce_t *pr)
{
    const kc_client_stats_t *cs = &pr->final;
    int rc = 0;

    produce_progress_clear(pr);
    if (!produce_run_flag) {
        fprintf(stderr, "%% interrupted after %" PRIu64 " input line(s)\n", pr->lineno);
        rc = EXIT_RUNTIME;
    }
    if (pr->rejected) {
        fprintf(stderr, "%% %" PRIu64 " input line(s) rejected\n", pr->rejected);
        rc = EXIT_RUNTIME;
    }
    if (cs->delivery_failed) {
        fprintf(stderr, "%% %" PRIu64 " of %" PRIu64 " request(s) failed delivery\n",
                cs->delivery_failed, pr->sent);
        rc = EXIT_RUNTIME;
    }
    if (!pr->wait) {
        fprintf(stderr, "%% sent %" PRIu64 " requests to %s\n", cs->delivered,
                pr->conf.topic_requests);
        return rc;
    }
    return report_wait(pr) ? EXIT_RUNTIME : rc;
}
