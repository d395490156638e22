/* Cache warming: resolve the queries of cache.warm.file through the normal
 * path (L1, LMDB, Redis, lease, LLM) at start-up, rate-limited, before the
 * worker starts consuming. */
#include "kc_err.h"
#include "kc_log.h"
#include "kc_time.h"
#include "kc_worker_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int kc_worker_warm_start(kc_worker_t *w, char *errstr, size_t errstr_size)
{
    if (!*w->conf.cache_warm_file) {
        return 0;
    }
    if (!(w->warm_fp = fopen(w->conf.cache_warm_file, "r"))) {
        return kc_seterr(KC_ERR_IO, errstr, errstr_size, "cannot read %s: %s",
                         w->conf.cache_warm_file, strerror(errno));
    }
    w->warm_t0 = kc_w_mono(w);
    w->warm_started = 0;
    kc_log(KC_LOG_INFO, "warming caches from %s at up to %lld queries/s", w->conf.cache_warm_file,
           (long long)w->conf.cache_warm_rate);
    return 0;
}

/* One query: a lookup with no waiters, which only fills the caches. */
static void warm_query(kc_worker_t *w, const char *line, size_t len)
{
    kc_answer_t ans;
    size_t norm_len;
    kc_key_t key;
    kc_lookup_t *lk;

    if (len + 1 > w->normbuf_size) {
        char *p = realloc(w->normbuf, len + 1);
        if (!p) {
            return;
        }
        w->normbuf = p;
        w->normbuf_size = len + 1;
    }
    if (len > (size_t)w->conf.query_max_bytes ||
        kc_query_normalize(line, len, w->normbuf, &norm_len) != 0 || norm_len == 0) {
        return;
    }
    key = kc_key_compute(w->normbuf, norm_len, w->key_seed);
    if ((w->l1 && kc_l1_get(w->l1, &key, w->normbuf, norm_len, kc_w_mono(w), &ans) == 0) ||
        kc_keymap_get(w->inflight, &key)) {
        return;
    }
    if (!(lk = kc_worker_lookup_new(&key, w->normbuf, norm_len, line, len))) {
        return;
    }
    lk->write_cache = true;
    if (kc_keymap_put(w->inflight, &key, lk) != 0) {
        kc_worker_lookup_free(lk);
        return;
    }
    if (!kc_worker_cache_enabled(w)) {
        kc_worker_llmq_push(w, lk);
    } else if (kc_worker_cache_stage_add(w, lk) != 0) {
        kc_worker_lookup_finish(w, lk, NULL);
    }
    w->warm_started++;
}

/* Start the queries the rate allows by now. @returns true while warming is
 * not finished (lines left or lookups still running). */
bool kc_worker_warm_step(kc_worker_t *w)
{
    int64_t allowed = (kc_w_mono(w) - w->warm_t0) * w->conf.cache_warm_rate / 1000000 + 1;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;

    while (w->warm_fp && w->warm_started < allowed) {
        if ((len = getline(&line, &cap, w->warm_fp)) < 0) {
            fclose(w->warm_fp);
            w->warm_fp = NULL;
            break;
        }
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) {
            len--;
        }
        warm_query(w, line, (size_t)len);
    }
    free(line);
    if (kc_worker_cache_enabled(w)) {
        kc_worker_cache_stage(w);
    }
    if (!w->warm_fp && kc_keymap_count(w->inflight) == 0) {
        kc_log(KC_LOG_INFO, "cache warm-up done: %lld queries looked up",
               (long long)w->warm_started);
        return false;
    }
    return true;
}
