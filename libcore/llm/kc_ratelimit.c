/* Pacing LLM calls under a provider's rate limits (see kc_ratelimit.h). */
#include "kc_ratelimit.h"

#include "kc_err.h"

#include <stddef.h>
#include <string.h>
#include <strings.h>

#define NS_PER_S        1000000000LL
#define NS_PER_MS       1000000LL
#define US_PER_MS       1000LL
#define DURATION_MAX_NS ((int64_t)KC_RL_DURATION_MAX_MS * NS_PER_MS)
#define NUM_BIG         1000000000000000LL /* integer parts stop growing here */
#define WAIT_MAX_US     ((int64_t)KC_RL_RETRY_AFTER_MAX_MS * US_PER_MS)
#define WINDOW_US       (60LL * 1000000)
#define NEVER           INT64_MAX
/* Refills are done in doubles (rpm / 60e6 is not exact): a level this close
 * to what is needed is enough, so a wait never ends in a 1 us remainder. */
#define LEVEL_EPS 1e-9

/* ------------------------------------------------------------------------ */
/* Small overflow-safe helpers                                               */
/* ------------------------------------------------------------------------ */

static int64_t sat_add(int64_t a, int64_t b)
{
    if (b > 0 && a > INT64_MAX - b) {
        return INT64_MAX;
    }
    if (b < 0 && a < INT64_MIN - b) {
        return INT64_MIN;
    }
    return a + b;
}

static int64_t ceil_div(int64_t a, int64_t b)
{
    return a / b + (a % b != 0);
}

/* A wait in (fractional) microseconds as a whole number of them, rounded up
 * and cut to WAIT_MAX_US before the conversion can overflow. */
static int64_t wait_from_double(double us)
{
    int64_t w;

    if (!(us > 0)) { /* also NaN */
        return 0;
    }
    if (us >= (double)WAIT_MAX_US) {
        return WAIT_MAX_US;
    }
    w = (int64_t)us;
    return (double)w < us ? w + 1 : w;
}

static double dmin(double a, double b)
{
    return a < b ? a : b;
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static void trim(const char **s, size_t *len)
{
    const char *p = *s, *end = *s + *len;

    while (p < end && is_blank(*p)) {
        p++;
    }
    while (end > p && is_blank(end[-1])) {
        end--;
    }
    *s = p;
    *len = (size_t)(end - p);
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* ------------------------------------------------------------------------ */
/* Numbers and durations                                                    */
/* ------------------------------------------------------------------------ */

/* A decimal "12", "1.5", ".5", "5." with no sign: the integer part (stops
 * growing at NUM_BIG, flagged `big`) and the fraction in nanoseconds of a
 * unit (the first nine digits; any non-zero digit after them adds 1, so
 * rounding up stays rounding up). */
typedef struct num_s {
    int64_t ip, frac9;
    bool big;
} num_t;

static const char *num_parse(const char *p, const char *end, num_t *n)
{
    int digits = 0, fd = 0;
    bool sticky = false;

    n->ip = n->frac9 = 0;
    n->big = false;
    for (; p < end && is_digit(*p); p++, digits++) {
        if (n->ip >= NUM_BIG) {
            n->big = true;
        } else {
            n->ip = n->ip * 10 + (*p - '0');
        }
    }
    if (p < end && *p == '.') {
        for (p++; p < end && is_digit(*p); p++, digits++) {
            if (fd < 9) {
                n->frac9 = n->frac9 * 10 + (*p - '0');
                fd++;
            } else if (*p != '0') {
                sticky = true;
            }
        }
    }
    if (digits == 0) {
        return NULL;
    }
    for (; fd < 9; fd++) {
        n->frac9 *= 10;
    }
    n->frac9 += sticky;
    return p;
}

/* Units of a Go-style duration, longest spelling first where one is a
 * prefix of another ("ms" before "m"). */
static const struct {
    const char *name;
    size_t len;
    int64_t ns;
} units[] = {
    {"ms", 2, NS_PER_MS},    {"us", 2, 1000},    {"\xc2\xb5s", 3, 1000}, /* µs, micro sign */
    {"\xce\xbcs", 3, 1000},  {"ns", 2, 1},       {"h", 1, 3600 * NS_PER_S},
    {"m", 1, 60 * NS_PER_S}, {"s", 1, NS_PER_S},
};

static int64_t unit_parse(const char **p, const char *end)
{
    size_t left = (size_t)(end - *p);

    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (left >= units[i].len && memcmp(*p, units[i].name, units[i].len) == 0) {
            *p += units[i].len;
            return units[i].ns;
        }
    }
    return 0;
}

/* n units in nanoseconds, or -1 when more than a day. */
static int64_t component_ns(const num_t *n, int64_t unit_ns)
{
    int64_t ns;

    if (n->big || n->ip > DURATION_MAX_NS / unit_ns) {
        return -1;
    }
    ns = n->ip * unit_ns;
    if (unit_ns >= NS_PER_S) { /* h, m, s: whole multiples of a second */
        ns += n->frac9 * (unit_ns / NS_PER_S);
    } else { /* ms, us, ns: whole fractions of a second */
        ns += ceil_div(n->frac9, NS_PER_S / unit_ns);
    }
    return ns;
}

int kc_rl_duration_parse(const char *s, size_t len, int64_t *ms)
{
    const char *p, *end;
    int64_t total = 0, prev_unit = INT64_MAX;

    if (!s) {
        return KC_ERR_INVALID;
    }
    trim(&s, &len);
    p = s;
    end = s + len;
    if (p == end) {
        return KC_ERR_INVALID;
    }
    while (p < end) {
        num_t n;
        int64_t unit, ns;

        if (!(p = num_parse(p, end, &n))) {
            return KC_ERR_INVALID;
        }
        if (p == end && prev_unit == INT64_MAX) {
            unit = NS_PER_S; /* a bare number: seconds */
        } else if ((unit = unit_parse(&p, end)) == 0 || unit >= prev_unit) {
            return KC_ERR_INVALID; /* no unit, unknown unit, or not largest first */
        }
        if ((ns = component_ns(&n, unit)) < 0 || (total += ns) > DURATION_MAX_NS) {
            return KC_ERR_INVALID;
        }
        prev_unit = unit;
    }
    *ms = ceil_div(total, NS_PER_MS);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Retry-After                                                              */
/* ------------------------------------------------------------------------ */

static int two_digits(const char *p)
{
    return is_digit(p[0]) && is_digit(p[1]) ? (p[0] - '0') * 10 + (p[1] - '0') : -1;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
 * days_from_civil): no time zone, no locale, no 32-bit time_t. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    int64_t era, yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int days_in_month(int y, int m)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);

    return m == 2 && leap ? 29 : days[m - 1];
}

/* IMF-fixdate "Sun, 06 Nov 1994 08:49:37 GMT" in seconds since the epoch,
 * or false. The day name is checked for spelling, not against the date. */
static bool http_date_parse(const char *s, size_t len, int64_t *secs)
{
    static const char wdays[] = "SunMonTueWedThuFriSat";
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    int day, mon = 0, y_hi, y_lo, hh, mm, ss;
    bool wday_ok = false;

    if (len != 29 || s[3] != ',' || s[4] != ' ' || s[7] != ' ' || s[11] != ' ' || s[16] != ' ' ||
        s[19] != ':' || s[22] != ':' || s[25] != ' ' || strncasecmp(s + 26, "GMT", 3) != 0) {
        return false;
    }
    for (int i = 0; i < 7; i++) {
        wday_ok = wday_ok || strncasecmp(s, wdays + 3 * i, 3) == 0;
    }
    for (int i = 0; i < 12 && !mon; i++) {
        mon = strncasecmp(s + 8, months + 3 * i, 3) == 0 ? i + 1 : 0;
    }
    day = two_digits(s + 5);
    y_hi = two_digits(s + 12);
    y_lo = two_digits(s + 14);
    hh = two_digits(s + 17);
    mm = two_digits(s + 20);
    ss = two_digits(s + 23);
    if (!wday_ok || !mon || y_hi < 0 || y_lo < 0 || hh < 0 || hh > 23 || mm < 0 || mm > 59 ||
        ss < 0 || ss > 60 || day < 1 || day > days_in_month(y_hi * 100 + y_lo, mon)) {
        return false;
    }
    *secs = days_from_civil(y_hi * 100 + y_lo, mon, day) * 86400 + hh * 3600 + mm * 60 + ss;
    return true;
}

int kc_rl_retry_after_parse(const char *s, size_t len, int64_t now_wall_s, int64_t *ms)
{
    const int64_t max_s = KC_RL_RETRY_AFTER_MAX_MS / 1000;
    bool negative = false;
    int64_t date;
    num_t n;

    if (!s) {
        return KC_ERR_INVALID;
    }
    trim(&s, &len);
    if (http_date_parse(s, len, &date)) {
        /* date lies within years 0000-9999, so date - max_s cannot overflow */
        *ms = date <= now_wall_s          ? 0
              : now_wall_s < date - max_s ? KC_RL_RETRY_AFTER_MAX_MS
                                          : (date - now_wall_s) * 1000;
        return 0;
    }
    if (len > 0 && s[0] == '-') {
        negative = true;
        s++;
        len--;
    }
    if (len == 0 || num_parse(s, s + len, &n) != s + len) {
        return KC_ERR_INVALID;
    }
    if (negative) {
        *ms = 0;
    } else if (n.big || n.ip >= max_s) {
        *ms = KC_RL_RETRY_AFTER_MAX_MS;
    } else {
        *ms = n.ip * 1000 + ceil_div(n.frac9, NS_PER_MS);
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* x-ratelimit-* headers                                                    */
/* ------------------------------------------------------------------------ */

void kc_rl_headers_init(kc_rl_headers_t *h)
{
    h->limit_requests = h->remaining_requests = h->reset_requests_ms = -1;
    h->limit_tokens = h->remaining_tokens = h->reset_tokens_ms = -1;
}

bool kc_rl_headers_any(const kc_rl_headers_t *h)
{
    return h->limit_requests >= 0 || h->remaining_requests >= 0 || h->reset_requests_ms >= 0 ||
           h->limit_tokens >= 0 || h->remaining_tokens >= 0 || h->reset_tokens_ms >= 0;
}

/* A count: digits only, saturating at INT64_MAX. */
static bool count_parse(const char *s, size_t len, int64_t *v)
{
    int64_t x = 0;

    if (len == 0) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        if (!is_digit(s[i])) {
            return false;
        }
        x = x > (INT64_MAX - (s[i] - '0')) / 10 ? INT64_MAX : x * 10 + (s[i] - '0');
    }
    *v = x;
    return true;
}

static const struct {
    const char *name;
    size_t off;
    bool duration;
} rl_fields[] = {
    {"x-ratelimit-limit-requests", offsetof(kc_rl_headers_t, limit_requests), false},
    {"x-ratelimit-remaining-requests", offsetof(kc_rl_headers_t, remaining_requests), false},
    {"x-ratelimit-reset-requests", offsetof(kc_rl_headers_t, reset_requests_ms), true},
    {"x-ratelimit-limit-tokens", offsetof(kc_rl_headers_t, limit_tokens), false},
    {"x-ratelimit-remaining-tokens", offsetof(kc_rl_headers_t, remaining_tokens), false},
    {"x-ratelimit-reset-tokens", offsetof(kc_rl_headers_t, reset_tokens_ms), true},
};

bool kc_rl_header_line(kc_rl_headers_t *h, const char *line, size_t len)
{
    const char *colon, *v;
    size_t name_len, vlen;
    int64_t x;

    if (!h || !line || !(colon = memchr(line, ':', len))) {
        return false;
    }
    name_len = (size_t)(colon - line);
    v = colon + 1;
    vlen = len - name_len - 1;
    trim(&v, &vlen);
    for (size_t i = 0; i < sizeof(rl_fields) / sizeof(rl_fields[0]); i++) {
        if (strlen(rl_fields[i].name) != name_len ||
            strncasecmp(line, rl_fields[i].name, name_len) != 0) {
            continue;
        }
        if (rl_fields[i].duration ? kc_rl_duration_parse(v, vlen, &x) != 0
                                  : !count_parse(v, vlen, &x)) {
            return false;
        }
        *(int64_t *)(void *)((char *)h + rl_fields[i].off) = x;
        return true;
    }
    return false;
}

bool kc_rl_is_quota_429(const kc_rl_headers_t *h)
{
    /* Only a remaining count of 0 says the quota is used up. Without one
     * (a gateway's concurrency cap, a busy server) pausing every new call for
     * a second on each 429 would stop the worker; the limiter backs off. */
    return h->remaining_requests == 0 || h->remaining_tokens == 0;
}

/* ------------------------------------------------------------------------ */
/* Configured budgets: token buckets                                         */
/* ------------------------------------------------------------------------ */

static double elapsed_us(int64_t from, int64_t now)
{
    return now > from ? (double)now - (double)from : 0;
}

static void bucket_init(kc_rl_dim_t *d, int64_t per_min, double min_cap, int64_t now)
{
    d->per_us = per_min > 0 ? (double)per_min / (double)WINDOW_US : 0;
    d->cap = per_min > 0 ? (double)per_min / 60.0 : 0;
    if (d->cap < min_cap) {
        d->cap = min_cap;
    }
    d->level = d->cap; /* start full */
    d->at = now;
}

/* The level at now in a bucket that holds at most cap. */
static double bucket_level(const kc_rl_dim_t *d, int64_t now, double cap)
{
    double level = d->level + elapsed_us(d->at, now) * d->per_us;

    return level < cap ? level : cap;
}

static int64_t bucket_wait(const kc_rl_dim_t *d, int64_t now, double need)
{
    double cap = d->cap > need ? d->cap : need, level;

    if (d->per_us <= 0) {
        return 0;
    }
    level = bucket_level(d, now, cap);
    return level + LEVEL_EPS >= need ? 0 : wait_from_double((need - level) / d->per_us);
}

/* Take (or, with a negative n, give back) n. Debt is kept to one bucket so a
 * call started without waiting, or an estimate far too low, delays the next
 * ones by at most a refill. */
static void bucket_take(kc_rl_dim_t *d, int64_t now, double n)
{
    double cap = d->cap > n ? d->cap : n;

    if (d->per_us <= 0) {
        return;
    }
    d->level = bucket_level(d, now, cap) - n;
    if (d->level > d->cap) {
        d->level = d->cap;
    } else if (d->level < -d->cap) {
        d->level = -d->cap;
    }
    if (now > d->at) {
        d->at = now;
    }
}

/* ------------------------------------------------------------------------ */
/* The provider's view                                                      */
/* ------------------------------------------------------------------------ */

static void srv_advance(kc_rl_dim_t *d, int64_t now);

/* A response's view of the provider's budget. Several responses complete in
 * one loop pass, in no particular order, and each was written when the
 * server had seen fewer of our calls than we have started since: a header
 * may lower the view (our count of the calls started since is only an
 * estimate) but never raise it; the view refills on its own, at limit/60 s
 * or at the reset time. */
static void srv_update(kc_rl_dim_t *d, int64_t now, int64_t limit, int64_t remaining,
                       int64_t reset_ms)
{
    if (remaining < 0) {
        return; /* no view in this response: keep advancing the last one */
    }
    if (d->srv_known) {
        srv_advance(d, now);
        if (!d->srv_known || (double)remaining < d->srv_remaining) {
            goto take; /* lower: the server knows better */
        }
        if (limit > 0) {
            d->srv_limit = limit;
        }
        return;
    }
take:
    d->srv_known = true;
    d->srv_limit = limit > 0 ? limit : -1;
    d->srv_remaining = (double)remaining;
    d->srv_at = now;
    if (reset_ms >= 0) {
        if (reset_ms > KC_RL_DURATION_MAX_MS) {
            reset_ms = KC_RL_DURATION_MAX_MS;
        }
        d->srv_full_at = sat_add(now, reset_ms * US_PER_MS);
    } else {
        /* Without a reset time, a limit refills it; without either, assume
         * the per-minute window providers use. */
        d->srv_full_at = d->srv_limit > 0 ? NEVER : sat_add(now, WINDOW_US);
    }
}

/* Move the view to now: refill at limit/60 s, full at the reset time. */
static void srv_advance(kc_rl_dim_t *d, int64_t now)
{
    double limit = (double)d->srv_limit;

    if (!d->srv_known) {
        return;
    }
    if (now >= d->srv_full_at) {
        if (d->srv_limit < 0) {
            d->srv_known = false; /* full again, size unknown: no constraint */
            return;
        }
        d->srv_remaining = limit;
        d->srv_full_at = NEVER;
    } else if (d->srv_limit > 0) {
        d->srv_remaining =
            dmin(limit, d->srv_remaining + elapsed_us(d->srv_at, now) * limit / (double)WINDOW_US);
    }
    if (now > d->srv_at) {
        d->srv_at = now;
    }
}

static int64_t srv_wait(kc_rl_dim_t *d, int64_t now, double need)
{
    double wait = (double)NEVER, limit = (double)d->srv_limit;

    srv_advance(d, now);
    if (!d->srv_known) {
        return 0;
    }
    if (d->srv_limit > 0) {
        need = dmin(need, limit); /* a call above the whole limit would wait forever */
    }
    if (d->srv_remaining + LEVEL_EPS >= need) {
        return 0;
    }
    if (d->srv_limit > 0) {
        wait = (need - d->srv_remaining) / (limit / (double)WINDOW_US);
    }
    if (d->srv_full_at != NEVER) {
        wait = dmin(wait, (double)d->srv_full_at - (double)now);
    }
    return wait_from_double(wait);
}

static void srv_take(kc_rl_dim_t *d, int64_t now, double n)
{
    srv_advance(d, now);
    if (!d->srv_known) {
        return;
    }
    d->srv_remaining -= n;
    if (d->srv_limit > 0 && d->srv_remaining < -(double)d->srv_limit) {
        d->srv_remaining = -(double)d->srv_limit;
    }
}

/* ------------------------------------------------------------------------ */
/* The pacer                                                                */
/* ------------------------------------------------------------------------ */

static void dim_init(kc_rl_dim_t *d, int64_t per_min, double min_cap, int64_t now)
{
    memset(d, 0, sizeof(*d));
    bucket_init(d, per_min, min_cap, now);
    d->srv_known = false;
    d->srv_limit = -1;
    d->srv_at = now;
    d->srv_full_at = NEVER;
}

void kc_rl_init(kc_rl_t *rl, int64_t rpm, int64_t tpm, int64_t now)
{
    memset(rl, 0, sizeof(*rl));
    dim_init(&rl->req, rpm, 1, now);
    dim_init(&rl->tok, tpm, 0, now);
}

static int64_t imax(int64_t a, int64_t b)
{
    return a > b ? a : b;
}

int64_t kc_rl_wait_us(kc_rl_t *rl, int64_t now, int64_t est_tokens)
{
    double tokens = est_tokens > 0 ? (double)est_tokens : 0;
    int64_t wait = rl->paused_until > now ? rl->paused_until - now : 0;

    wait = imax(wait, bucket_wait(&rl->req, now, 1));
    wait = imax(wait, bucket_wait(&rl->tok, now, tokens));
    wait = imax(wait, srv_wait(&rl->req, now, 1));
    wait = imax(wait, srv_wait(&rl->tok, now, tokens));
    if (wait > WAIT_MAX_US) {
        wait = WAIT_MAX_US;
    }
    if (wait > 0) {
        rl->waiting = true;
    }
    return wait;
}

void kc_rl_start(kc_rl_t *rl, int64_t now, int64_t est_tokens)
{
    double tokens = est_tokens > 0 ? (double)est_tokens : 0;

    bucket_take(&rl->req, now, 1);
    bucket_take(&rl->tok, now, tokens);
    srv_take(&rl->req, now, 1);
    srv_take(&rl->tok, now, tokens);
    if (rl->waiting) {
        rl->waits++;
        rl->waiting = false;
    }
}

void kc_rl_finish(kc_rl_t *rl, int64_t now, int64_t est_tokens, int64_t actual_tokens)
{
    double est = est_tokens > 0 ? (double)est_tokens : 0;

    if (actual_tokens < 0) {
        return;
    }
    bucket_take(&rl->tok, now, (double)actual_tokens - est);
}

void kc_rl_headers(kc_rl_t *rl, int64_t now, const kc_rl_headers_t *h)
{
    srv_update(&rl->req, now, h->limit_requests, h->remaining_requests, h->reset_requests_ms);
    srv_update(&rl->tok, now, h->limit_tokens, h->remaining_tokens, h->reset_tokens_ms);
}

void kc_rl_pause(kc_rl_t *rl, int64_t now, int64_t retry_after_ms)
{
    int64_t until;

    if (retry_after_ms <= 0) {
        return;
    }
    if (retry_after_ms > KC_RL_RETRY_AFTER_MAX_MS) {
        retry_after_ms = KC_RL_RETRY_AFTER_MAX_MS;
    }
    until = sat_add(now, retry_after_ms * US_PER_MS);
    if (until > rl->paused_until) {
        rl->paused_until = until;
        rl->pauses++;
    }
}
