/* Unit tests for the LLM call pacer: header parsing, token buckets, the
 * provider's view, Retry-After pauses and 429 classification. */
#include "kc_ratelimit.h"

#include "kc_check.h"
#include "kc_err.h"

#include <check.h>
#include <string.h>

#define MS  1000LL
#define SEC 1000000LL

/* A wait within 1 us of want (refills are done in doubles). */
#define ck_assert_wait(got, want, ...)                                                             \
    ck_assert_msg((got) >= (want)-1 && (got) <= (want) + 1, __VA_ARGS__)

static int dur(const char *s, int64_t *ms)
{
    return kc_rl_duration_parse(s, strlen(s), ms);
}

static int ra(const char *s, int64_t now_wall_s, int64_t *ms)
{
    return kc_rl_retry_after_parse(s, strlen(s), now_wall_s, ms);
}

static bool line(kc_rl_headers_t *h, const char *s)
{
    return kc_rl_header_line(h, s, strlen(s));
}

/* ------------------------------------------------------------------------ */
/* Duration                                                                 */
/* ------------------------------------------------------------------------ */

START_TEST(test_duration_valid)
{
    static const struct {
        const char *s;
        int64_t ms;
    } cases[] = {
        {"1s", 1000},
        {"20ms", 20},
        {"6m0s", 360000},
        {"1m30.5s", 90500},
        {"2h3m", 7380000},
        {"0.5s", 500},
        {"17ms", 17},
        {"0s", 0},
        {"30", 30000},
        {"1.5", 1500},
        {" 7.66s\r\n", 7660},
        {"59.832s", 59832},
        {"0.0001s", 1},          /* rounded up */
        {"1.0001ms", 2},         /* rounded up */
        {"1.0000000001s", 1001}, /* a digit past nanoseconds still rounds up */
        {"500us", 1},
        {"500\xc2\xb5s", 1}, /* µs */
        {"1ns", 1},
        {"1h1m1s1ms", 3661001},
        {".5s", 500},
        {"24h", 86400000},
        {"000000000000000000000000000001s", 1000},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int64_t ms = -1;
        int rc = dur(cases[i].s, &ms);

        ck_assert_msg(rc == 0, "'%s' must parse, got %s", cases[i].s, kc_strerror(rc));
        ck_assert_msg(ms == cases[i].ms, "'%s': %lld ms, want %lld", cases[i].s, (long long)ms,
                      (long long)cases[i].ms);
    }
}
END_TEST

START_TEST(test_duration_invalid)
{
    static const char *const bad[] = {
        "",
        " ",
        "s",
        "ms",
        ".s",
        "-1s",
        "+1s",
        "1x",
        "1s junk",
        "1 s",
        "1s1s",
        "1s1m",
        "1m30", /* a unit, then a number without one */
        "1.2.3s",
        "1e3s",
        "0x10",
        "abc",
        "1S",
        "1d",
        "24h0.001s", /* over a day */
        "25h",
        "1441m",
        "99999999999999999999s",
        "99999999999999999999999999999999ns",
        "9223372036854775807h",
        "1.5.s",
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int64_t ms = 42;
        int rc = dur(bad[i], &ms);

        ck_assert_msg(rc == KC_ERR_INVALID, "'%s' must be invalid, got rc %d ms %lld", bad[i], rc,
                      (long long)ms);
        ck_assert_msg(ms == 42, "'%s': *ms written on failure", bad[i]);
    }
}
END_TEST

START_TEST(test_duration_len)
{
    int64_t ms = 0;

    ck_assert_msg(kc_rl_duration_parse("20msXX", 4, &ms) == 0 && ms == 20,
                  "only len bytes are read: got %lld", (long long)ms);
    ck_assert_msg(kc_rl_duration_parse("1m30s", 2, &ms) == 0 && ms == 60000,
                  "'1m' of '1m30s': got %lld", (long long)ms);
    ck_assert_msg(kc_rl_duration_parse(NULL, 0, &ms) == KC_ERR_INVALID, "NULL is invalid");
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Retry-After                                                              */
/* ------------------------------------------------------------------------ */

#define RFC_EXAMPLE_S 784111777LL /* Sun, 06 Nov 1994 08:49:37 GMT */

START_TEST(test_retry_after_delta)
{
    static const struct {
        const char *s;
        int64_t ms;
    } cases[] = {
        {"1", 1000},
        {"0", 0},
        {"1.5", 1500},
        {" 2 \r\n", 2000},
        {"0.0001", 1}, /* rounded up */
        {"59", 59000},
        {"60", KC_RL_RETRY_AFTER_MAX_MS},
        {"120", KC_RL_RETRY_AFTER_MAX_MS},
        {"99999999999999999999", KC_RL_RETRY_AFTER_MAX_MS},
        {"9223372036854775807.999", KC_RL_RETRY_AFTER_MAX_MS},
        {"-5", 0},
        {"-99999999999999999999", 0},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int64_t ms = -1;
        int rc = ra(cases[i].s, RFC_EXAMPLE_S, &ms);

        ck_assert_msg(rc == 0, "'%s' must parse, got %s", cases[i].s, kc_strerror(rc));
        ck_assert_msg(ms == cases[i].ms, "'%s': %lld ms, want %lld", cases[i].s, (long long)ms,
                      (long long)cases[i].ms);
    }
}
END_TEST

START_TEST(test_retry_after_invalid)
{
    static const char *const bad[] = {
        "",
        "  ",
        "-",
        "abc",
        "1s",
        "1.2.3",
        "+1",
        "1 2",
        "0x10",
        "1e3",
        "Sun, 06 Nov 1994 08:49:37 GMTX", /* trailing junk */
        "Sun, 06 Nov 1994 08:49:37 UTC",  /* only GMT */
        "Sun, 31 Feb 1994 08:49:37 GMT",  /* no such day */
        "Sun, 29 Feb 1900 08:49:37 GMT",  /* 1900 was no leap year */
        "Sun, 06 Foo 1994 08:49:37 GMT",  /* no such month */
        "Xyz, 06 Nov 1994 08:49:37 GMT",  /* no such weekday */
        "Sun, 06 Nov 1994 24:00:00 GMT",  /* hour 24 */
        "Sun, 06 Nov 1994 08:60:00 GMT",  /* minute 60 */
        "Sun, 6 Nov 1994 08:49:37 GMT",   /* day needs two digits */
        "Sunday, 06-Nov-94 08:49:37 GMT", /* RFC 850: obsolete, not accepted */
        "Sun Nov  6 08:49:37 1994",       /* asctime: obsolete, not accepted */
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int64_t ms = 42;
        int rc = ra(bad[i], RFC_EXAMPLE_S, &ms);

        ck_assert_msg(rc == KC_ERR_INVALID, "'%s' must be invalid, got rc %d ms %lld", bad[i], rc,
                      (long long)ms);
    }
    ck_assert(kc_rl_retry_after_parse(NULL, 0, 0, &(int64_t){0}) == KC_ERR_INVALID);
}
END_TEST

START_TEST(test_retry_after_date)
{
    int64_t ms = -1;
    int rc;

    rc = ra("Sun, 06 Nov 1994 08:50:07 GMT", RFC_EXAMPLE_S, &ms);
    ck_assert_msg(rc == 0 && ms == 30000, "30 s ahead: rc %d ms %lld", rc, (long long)ms);
    rc = ra("Sun, 06 Nov 1994 08:49:37 GMT", RFC_EXAMPLE_S, &ms);
    ck_assert_msg(rc == 0 && ms == 0, "now: rc %d ms %lld", rc, (long long)ms);
    rc = ra("Sun, 06 Nov 1994 08:49:37 GMT", RFC_EXAMPLE_S + 3600, &ms);
    ck_assert_msg(rc == 0 && ms == 0, "an hour in the past gives 0: rc %d ms %lld", rc,
                  (long long)ms);
    rc = ra("Sun, 06 Nov 1994 08:59:37 GMT", RFC_EXAMPLE_S, &ms);
    ck_assert_msg(rc == 0 && ms == KC_RL_RETRY_AFTER_MAX_MS, "10 min ahead is capped: %lld",
                  (long long)ms);
    rc = ra("Thu, 29 Feb 2024 12:00:10 GMT", 1709208000, &ms);
    ck_assert_msg(rc == 0 && ms == 10000, "leap day: rc %d ms %lld", rc, (long long)ms);
    rc = ra("  sun, 06 nov 1994 08:49:38 gmt\r\n", RFC_EXAMPLE_S, &ms);
    ck_assert_msg(rc == 0 && ms == 1000, "any case, blanks around: rc %d ms %lld", rc,
                  (long long)ms);
    /* Extreme clocks must neither overflow nor wrap. */
    rc = ra("Fri, 31 Dec 9999 23:59:59 GMT", INT64_MIN, &ms);
    ck_assert_msg(rc == 0 && ms == KC_RL_RETRY_AFTER_MAX_MS, "now = INT64_MIN: %lld",
                  (long long)ms);
    rc = ra("Mon, 01 Jan 0001 00:00:00 GMT", INT64_MAX, &ms);
    ck_assert_msg(rc == 0 && ms == 0, "now = INT64_MAX: %lld", (long long)ms);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Header lines                                                             */
/* ------------------------------------------------------------------------ */

START_TEST(test_header_lines)
{
    kc_rl_headers_t h;

    kc_rl_headers_init(&h);
    ck_assert_msg(!kc_rl_headers_any(&h), "init: every field absent");
    ck_assert(line(&h, "x-ratelimit-remaining-requests: 59\r\n"));
    ck_assert_msg(h.remaining_requests == 59, "remaining-requests %lld",
                  (long long)h.remaining_requests);
    ck_assert_msg(kc_rl_headers_any(&h), "one field present");
    ck_assert(line(&h, "X-RateLimit-Limit-Tokens:   150000  \r\n"));
    ck_assert_msg(h.limit_tokens == 150000, "any case, blanks: %lld", (long long)h.limit_tokens);
    ck_assert(line(&h, "X-RATELIMIT-LIMIT-REQUESTS:\t60\t\r\n"));
    ck_assert_msg(h.limit_requests == 60, "tabs: %lld", (long long)h.limit_requests);
    ck_assert(line(&h, "x-ratelimit-remaining-tokens:149984"));
    ck_assert_msg(h.remaining_tokens == 149984, "no space, no CRLF: %lld",
                  (long long)h.remaining_tokens);
    ck_assert(line(&h, "x-ratelimit-reset-tokens: 6m0s\r\n"));
    ck_assert_msg(h.reset_tokens_ms == 360000, "reset-tokens %lld", (long long)h.reset_tokens_ms);
    ck_assert(line(&h, "x-ratelimit-reset-requests: 1s\n"));
    ck_assert_msg(h.reset_requests_ms == 1000, "reset-requests %lld",
                  (long long)h.reset_requests_ms);
}
END_TEST

START_TEST(test_header_junk)
{
    static const char *const junk[] = {
        "x-ratelimit-remaining-tokens: lots\r\n",
        "x-ratelimit-remaining-tokens: -5\r\n",
        "x-ratelimit-remaining-tokens: +5\r\n",
        "x-ratelimit-remaining-tokens: 5x\r\n",
        "x-ratelimit-remaining-tokens: 1.5\r\n",
        "x-ratelimit-remaining-tokens: 5 5\r\n",
        "x-ratelimit-remaining-tokens: \r\n",
        "x-ratelimit-remaining-tokens:\r\n",
        "x-ratelimit-reset-tokens: soon\r\n",
        "x-ratelimit-reset-tokens: -1s\r\n",
        "x-ratelimit-reset-tokens: 30d\r\n",
        "x-ratelimit-remaining-tokens 5\r\n",    /* no colon */
        "x-ratelimit-remaining-tokens : 5\r\n",  /* blank before the colon */
        " x-ratelimit-remaining-tokens: 5\r\n",  /* continuation line */
        "x-ratelimit-remaining-tokens-x: 5\r\n", /* longer name */
        "x-ratelimit-remaining-token: 5\r\n",    /* shorter name */
        "content-type: application/json\r\n",
        "HTTP/1.1 429 Too Many Requests\r\n",
        "retry-after: 1\r\n",
        "\r\n",
        "",
    };
    kc_rl_headers_t h;

    for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
        kc_rl_headers_init(&h);
        ck_assert_msg(!line(&h, junk[i]), "'%s' must not be understood", junk[i]);
        ck_assert_msg(!kc_rl_headers_any(&h), "'%s' must leave every field absent", junk[i]);
    }
    /* junk after a good value leaves the good value */
    kc_rl_headers_init(&h);
    ck_assert(line(&h, "x-ratelimit-remaining-tokens: 7\r\n"));
    ck_assert(!line(&h, "x-ratelimit-remaining-tokens: seven\r\n"));
    ck_assert_msg(h.remaining_tokens == 7, "a junk value kept %lld", (long long)h.remaining_tokens);
    ck_assert(!kc_rl_header_line(&h, NULL, 0));
}
END_TEST

START_TEST(test_header_huge)
{
    static const char buf[] = "x-ratelimit-remaining-requests: 59999";
    kc_rl_headers_t h;

    kc_rl_headers_init(&h);
    ck_assert(line(&h, "x-ratelimit-remaining-tokens: 9000000000000000000\r\n"));
    ck_assert_msg(h.remaining_tokens == 9000000000000000000LL, "9e18 fits: %lld",
                  (long long)h.remaining_tokens);
    ck_assert(line(&h, "x-ratelimit-limit-tokens: 99999999999999999999999999\r\n"));
    ck_assert_msg(h.limit_tokens == INT64_MAX, "saturates: %lld", (long long)h.limit_tokens);
    ck_assert(line(&h, "x-ratelimit-limit-requests: 9223372036854775808\r\n"));
    ck_assert_msg(h.limit_requests == INT64_MAX, "INT64_MAX + 1 saturates: %lld",
                  (long long)h.limit_requests);
    ck_assert(kc_rl_header_line(&h, buf, sizeof(buf) - 1 - 3));
    ck_assert_msg(h.remaining_requests == 59, "only len bytes are read: %lld",
                  (long long)h.remaining_requests);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Configured budgets                                                       */
/* ------------------------------------------------------------------------ */

START_TEST(test_bucket_rpm)
{
    kc_rl_t rl;
    int64_t w;

    kc_rl_init(&rl, 120, 0, 0);
    for (int i = 0; i < 2; i++) {
        w = kc_rl_wait_us(&rl, 0, 100);
        ck_assert_msg(w == 0, "rpm=120: call %d must go at once, waits %lld us", i, (long long)w);
        kc_rl_start(&rl, 0, 100);
    }
    w = kc_rl_wait_us(&rl, 0, 100);
    ck_assert_wait(w, 500 * MS, "rpm=120: the third call waits 500 ms, got %lld us", (long long)w);
    w = kc_rl_wait_us(&rl, 200 * MS, 100);
    ck_assert_wait(w, 300 * MS, "200 ms later: 300 ms left, got %lld us", (long long)w);
    w = kc_rl_wait_us(&rl, 500 * MS, 100);
    ck_assert_msg(w == 0, "after 500 ms the third goes, waits %lld us", (long long)w);
    kc_rl_start(&rl, 500 * MS, 100);
    ck_assert_msg(rl.waits == 1, "one admission waited (asked twice), counted %llu",
                  (unsigned long long)rl.waits);
    w = kc_rl_wait_us(&rl, 500 * MS, 100);
    ck_assert_wait(w, 500 * MS, "then one every 500 ms, got %lld us", (long long)w);
    /* idle for a minute: the bucket holds one second's worth, not 120 */
    for (int i = 0; i < 2; i++) {
        ck_assert(kc_rl_wait_us(&rl, 60 * SEC, 100) == 0);
        kc_rl_start(&rl, 60 * SEC, 100);
    }
    w = kc_rl_wait_us(&rl, 60 * SEC, 100);
    ck_assert_msg(w > 0, "after an idle minute, still only 2 at once");
}
END_TEST

START_TEST(test_bucket_low_rpm)
{
    kc_rl_t rl;
    int64_t w;

    kc_rl_init(&rl, 30, 0, 0);
    ck_assert_msg(kc_rl_wait_us(&rl, 0, 0) == 0, "rpm=30 holds at least one request");
    kc_rl_start(&rl, 0, 0);
    w = kc_rl_wait_us(&rl, 0, 0);
    ck_assert_wait(w, 2 * SEC, "rpm=30: one call every 2 s, got %lld us", (long long)w);
}
END_TEST

START_TEST(test_bucket_tpm)
{
    kc_rl_t rl;
    int64_t w;

    kc_rl_init(&rl, 0, 60000, 0); /* 1000 tokens/s, holds 1000 */
    ck_assert(kc_rl_wait_us(&rl, 0, 400) == 0);
    kc_rl_start(&rl, 0, 400);
    ck_assert(kc_rl_wait_us(&rl, 0, 400) == 0);
    kc_rl_start(&rl, 0, 400);
    w = kc_rl_wait_us(&rl, 0, 400);
    ck_assert_wait(w, 200 * MS, "200 tokens left, 400 needed: 200 ms, got %lld us", (long long)w);
    ck_assert_msg(kc_rl_wait_us(&rl, 0, 200) == 0, "a call of 200 fits now");
    /* A finished call that used less than its estimate gives the rest back. */
    kc_rl_finish(&rl, 0, 400, 100);
    ck_assert_msg(kc_rl_wait_us(&rl, 0, 500) == 0, "300 returned: 500 fit now");
    kc_rl_finish(&rl, 0, 400, -1);
    ck_assert_msg(kc_rl_wait_us(&rl, 0, 500) == 0, "unknown usage changes nothing");
    kc_rl_start(&rl, 0, 500);
    /* One that used more than estimated takes the rest. */
    kc_rl_finish(&rl, 0, 500, 700);
    w = kc_rl_wait_us(&rl, 0, 1);
    ck_assert_wait(w, 201 * MS, "200 tokens in debt: 1 token takes 201 ms, got %lld", (long long)w);
}
END_TEST

/* A call larger than the bucket (one second's tokens) still goes once the
 * bucket has filled up to its size. */
START_TEST(test_bucket_big_call)
{
    kc_rl_t rl;
    int64_t w;

    kc_rl_init(&rl, 0, 6000, 0); /* 100 tokens/s, holds 100 */
    w = kc_rl_wait_us(&rl, 0, 250);
    ck_assert_wait(w, 1500 * MS, "250 tokens, 100 in the bucket: 1.5 s, got %lld us", (long long)w);
    ck_assert_msg(kc_rl_wait_us(&rl, 1500 * MS, 250) == 0, "the big call goes after 1.5 s");
    kc_rl_start(&rl, 1500 * MS, 250);
    w = kc_rl_wait_us(&rl, 1500 * MS, 250);
    ck_assert_wait(w, 2500 * MS, "the next big call waits for 250 tokens: 2.5 s, got %lld",
                   (long long)w);
    w = kc_rl_wait_us(&rl, 1500 * MS, 50);
    ck_assert_wait(w, 500 * MS, "a small call waits for its own 50 tokens, got %lld", (long long)w);
    /* Larger than a whole minute: the wait is reported in steps, never overflows. */
    w = kc_rl_wait_us(&rl, 1500 * MS, INT64_MAX);
    ck_assert_msg(w == KC_RL_RETRY_AFTER_MAX_MS * MS, "huge call: %lld", (long long)w);
}
END_TEST

START_TEST(test_unknown_budgets)
{
    kc_rl_t rl;

    kc_rl_init(&rl, 0, 0, 0);
    for (int i = 0; i < 10000; i++) {
        int64_t w = kc_rl_wait_us(&rl, i, 1000000);

        ck_assert_msg(w == 0, "rpm=tpm=0, no headers: call %d waits %lld us", i, (long long)w);
        kc_rl_start(&rl, i, 1000000);
        kc_rl_finish(&rl, i, 1000000, 2000000);
    }
    ck_assert_msg(kc_rl_wait_us(&rl, 0, INT64_MAX) == 0, "not even for a huge call");
    ck_assert_msg(rl.waits == 0, "waits %llu", (unsigned long long)rl.waits);
}
END_TEST

START_TEST(test_bucket_extremes)
{
    kc_rl_t rl;
    int64_t w;

    kc_rl_init(&rl, INT64_MAX, INT64_MAX, INT64_MAX - SEC);
    for (int i = 0; i < 100; i++) {
        w = kc_rl_wait_us(&rl, INT64_MAX - SEC + i, INT64_MAX);
        ck_assert_msg(w >= 0 && w <= KC_RL_RETRY_AFTER_MAX_MS * MS, "huge budgets: %lld",
                      (long long)w);
        kc_rl_start(&rl, INT64_MAX - SEC + i, INT64_MAX);
    }
    kc_rl_init(&rl, 1, 1, 0);
    kc_rl_start(&rl, 0, INT64_MAX);
    kc_rl_finish(&rl, 0, INT64_MAX, INT64_MAX);
    w = kc_rl_wait_us(&rl, 0, INT64_MAX);
    ck_assert_msg(w == KC_RL_RETRY_AFTER_MAX_MS * MS, "tiny budgets, huge calls: %lld",
                  (long long)w);
    w = kc_rl_wait_us(&rl, INT64_MAX, 1);
    ck_assert_msg(w == 0, "after forever, debt is gone: %lld", (long long)w);
    kc_rl_init(&rl, -5, -5, 0);
    ck_assert_msg(kc_rl_wait_us(&rl, 0, -7) == 0, "negative budgets mean unknown");
    kc_rl_start(&rl, 0, -7);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* The provider's view from headers                                         */
/* ------------------------------------------------------------------------ */

START_TEST(test_headers_exhausted)
{
    kc_rl_headers_t h;
    kc_rl_t rl;
    int64_t w;

    /* With a limit: one request refills in 60 s / limit. */
    kc_rl_init(&rl, 0, 0, 0);
    kc_rl_headers_init(&h);
    h.limit_requests = 60;
    h.remaining_requests = 0;
    h.reset_requests_ms = 2000;
    kc_rl_headers(&rl, 0, &h);
    w = kc_rl_wait_us(&rl, 0, 0);
    ck_assert_wait(w, 1 * SEC, "limit 60, remaining 0: one request back in 1 s, got %lld",
                   (long long)w);
    ck_assert(kc_rl_wait_us(&rl, 1 * SEC, 0) == 0);
    kc_rl_start(&rl, 1 * SEC, 0);
    w = kc_rl_wait_us(&rl, 1 * SEC, 0);
    ck_assert_msg(w > 0 && w <= 1 * SEC, "the refilled request is used: wait %lld", (long long)w);
    ck_assert_msg(kc_rl_wait_us(&rl, 2 * SEC, 0) == 0, "full at the reset time");

    /* Without a limit: nothing until the reset time, then no constraint. */
    kc_rl_init(&rl, 0, 0, 0);
    kc_rl_headers_init(&h);
    h.remaining_requests = 0;
    h.reset_requests_ms = 2000;
    kc_rl_headers(&rl, 0, &h);
    w = kc_rl_wait_us(&rl, 0, 0);
    ck_assert_wait(w, 2 * SEC, "no limit, remaining 0, reset 2s: 2 s, got %lld", (long long)w);
    w = kc_rl_wait_us(&rl, 1500 * MS, 0);
    ck_assert_wait(w, 500 * MS, "1.5 s later: 0.5 s, got %lld", (long long)w);
    for (int i = 0; i < 100; i++) {
        ck_assert_msg(kc_rl_wait_us(&rl, 2 * SEC, 0) == 0, "after the reset, call %d goes", i);
        kc_rl_start(&rl, 2 * SEC, 0);
    }

    /* Remaining alone: the per-minute window is assumed. */
    kc_rl_init(&rl, 0, 0, 0);
    kc_rl_headers_init(&h);
    h.remaining_requests = 0;
    kc_rl_headers(&rl, 0, &h);
    w = kc_rl_wait_us(&rl, 0, 0);
    ck_assert_wait(w, 60 * SEC, "remaining 0 alone: a minute, got %lld", (long long)w);
}
END_TEST

START_TEST(test_headers_remaining)
{
    kc_rl_headers_t h;
    kc_rl_t rl;
    int64_t w;

    kc_rl_init(&rl, 0, 0, 0);
    kc_rl_headers_init(&h);
    h.limit_requests = 60;
    h.remaining_requests = 5;
    h.reset_requests_ms = 55000;
    kc_rl_headers(&rl, 0, &h);
    for (int i = 0; i < 5; i++) {
        w = kc_rl_wait_us(&rl, 0, 0);
        ck_assert_msg(w == 0, "remaining 5: start %d waits %lld us", i, (long long)w);
        kc_rl_start(&rl, 0, 0);
    }
    w = kc_rl_wait_us(&rl, 0, 0);
    ck_assert_wait(w, 1 * SEC, "the sixth waits for one request at 1/s, got %lld", (long long)w);

    /* A response without rate-limit headers keeps the view. */
    kc_rl_headers_init(&h);
    kc_rl_headers(&rl, 0, &h);
    w = kc_rl_wait_us(&rl, 0, 0);
    ck_assert_wait(w, 1 * SEC, "headers absent: view kept, got %lld", (long long)w);

    /* Responses finish out of order: one written before our last starts
     * (remaining 3) must not raise the view, or calls go into an empty
     * budget; one that says less lowers it. */
    h.limit_requests = 60;
    h.remaining_requests = 3;
    kc_rl_headers(&rl, 0, &h);
    w = kc_rl_wait_us(&rl, 0, 0);
    ck_assert_wait(w, 1 * SEC, "an older, higher remaining must not raise the view, got %lld",
                   (long long)w);
    kc_rl_t fresh;
    kc_rl_init(&fresh, 0, 0, 0);
    h.remaining_requests = 10;
    kc_rl_headers(&fresh, 0, &h);
    h.remaining_requests = 0;
    kc_rl_headers(&fresh, 0, &h);
    w = kc_rl_wait_us(&fresh, 0, 0);
    ck_assert_wait(w, 1 * SEC, "a lower remaining lowers the view, got %lld", (long long)w);
    /* and the view refills with time at limit/60 s */
    ck_assert_msg(kc_rl_wait_us(&fresh, 2 * SEC, 0) == 0, "refilled after 2 s");
}
END_TEST

START_TEST(test_headers_tokens)
{
    kc_rl_headers_t h;
    kc_rl_t rl;
    int64_t w;

    kc_rl_init(&rl, 0, 0, 0);
    kc_rl_headers_init(&h);
    h.limit_tokens = 60000; /* 1000 tokens/s */
    h.remaining_tokens = 1000;
    h.reset_tokens_ms = 59000;
    kc_rl_headers(&rl, 0, &h);
    ck_assert(kc_rl_wait_us(&rl, 0, 800) == 0);
    kc_rl_start(&rl, 0, 800);
    w = kc_rl_wait_us(&rl, 0, 800);
    ck_assert_wait(w, 600 * MS, "200 left, 800 needed at 1000/s: 600 ms, got %lld", (long long)w);
    w = kc_rl_wait_us(&rl, 0, 10000000);
    ck_assert_wait(w, 59 * SEC, "a call above the whole limit waits for the reset (59 s), got %lld",
                   (long long)w);
}
END_TEST

START_TEST(test_headers_huge)
{
    kc_rl_headers_t h;
    kc_rl_t rl;
    int64_t w;

    kc_rl_init(&rl, 0, 0, 0);
    kc_rl_headers_init(&h);
    h.limit_requests = h.limit_tokens = INT64_MAX;
    h.remaining_requests = h.remaining_tokens = 9000000000000000000LL;
    h.reset_requests_ms = h.reset_tokens_ms = INT64_MAX;
    kc_rl_headers(&rl, INT64_MAX - 10, &h);
    for (int i = 0; i < 10; i++) {
        w = kc_rl_wait_us(&rl, INT64_MAX - 10 + i, 1000);
        ck_assert_msg(w == 0, "remaining 9e18: never waits, got %lld", (long long)w);
        kc_rl_start(&rl, INT64_MAX - 10 + i, 1000);
    }
    h.limit_requests = h.limit_tokens = 1;
    h.remaining_requests = h.remaining_tokens = 0;
    kc_rl_headers(&rl, 0, &h);
    w = kc_rl_wait_us(&rl, 0, INT64_MAX);
    ck_assert_msg(w == KC_RL_RETRY_AFTER_MAX_MS * MS, "limit 1, remaining 0: capped, got %lld",
                  (long long)w);
    kc_rl_start(&rl, 0, INT64_MAX);
    w = kc_rl_wait_us(&rl, 0, 1);
    ck_assert_msg(w == KC_RL_RETRY_AFTER_MAX_MS * MS, "debt is bounded, got %lld", (long long)w);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Retry-After pause                                                        */
/* ------------------------------------------------------------------------ */

START_TEST(test_pause)
{
    kc_rl_t rl;
    int64_t w;

    kc_rl_init(&rl, 0, 0, 0);
    kc_rl_pause(&rl, 0, 1000);
    w = kc_rl_wait_us(&rl, 0, 0);
    ck_assert_msg(w == 1 * SEC, "Retry-After 1 s pauses 1 s, got %lld", (long long)w);
    kc_rl_pause(&rl, 100 * MS, 500);
    w = kc_rl_wait_us(&rl, 100 * MS, 0);
    ck_assert_msg(w == 900 * MS, "a later 0.5 s does not shorten it: %lld", (long long)w);
    ck_assert_msg(rl.pauses == 1, "the shorter one paused nothing: pauses %llu",
                  (unsigned long long)rl.pauses);
    ck_assert_msg(kc_rl_wait_us(&rl, 1 * SEC, 0) == 0, "over after 1 s");
    kc_rl_pause(&rl, 2 * SEC, 3600 * 1000);
    w = kc_rl_wait_us(&rl, 2 * SEC, 0);
    ck_assert_msg(w == 60 * SEC, "3600 s is capped at 60 s, got %lld", (long long)w);
    ck_assert_msg(rl.pauses == 2, "pauses %llu", (unsigned long long)rl.pauses);
    kc_rl_pause(&rl, 3 * SEC, 0);
    kc_rl_pause(&rl, 3 * SEC, -5);
    ck_assert_msg(rl.pauses == 2 && kc_rl_wait_us(&rl, 3 * SEC, 0) == 59 * SEC,
                  "0 and negative Retry-After change nothing");
    kc_rl_pause(&rl, INT64_MAX - 5, INT64_MAX);
    ck_assert_msg(rl.paused_until == INT64_MAX, "no overflow near the end of time: %lld",
                  (long long)rl.paused_until);
}
END_TEST

START_TEST(test_pause_strictest_wins)
{
    kc_rl_t rl;
    int64_t w;

    kc_rl_init(&rl, 120, 0, 0);
    kc_rl_start(&rl, 0, 0);
    kc_rl_start(&rl, 0, 0);
    kc_rl_pause(&rl, 0, 200);
    w = kc_rl_wait_us(&rl, 0, 0);
    ck_assert_wait(w, 500 * MS, "bucket 500 ms beats pause 200 ms, got %lld", (long long)w);
    kc_rl_pause(&rl, 0, 2000);
    w = kc_rl_wait_us(&rl, 0, 0);
    ck_assert_msg(w == 2 * SEC, "pause 2 s beats bucket 500 ms, got %lld", (long long)w);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Quota or transient 429                                                   */
/* ------------------------------------------------------------------------ */

START_TEST(test_quota_429)
{
    kc_rl_headers_t h;

    kc_rl_headers_init(&h);
    ck_assert_msg(!kc_rl_is_quota_429(&h),
                  "no rate-limit headers: an overload (a cap, a busy server), not a quota");
    h.remaining_requests = 5;
    h.remaining_tokens = 1000;
    ck_assert_msg(!kc_rl_is_quota_429(&h), "budget left: transient overload");
    h.remaining_requests = 0;
    ck_assert_msg(kc_rl_is_quota_429(&h), "no requests left: quota");
    h.remaining_requests = 5;
    h.remaining_tokens = 0;
    ck_assert_msg(kc_rl_is_quota_429(&h), "no tokens left: quota");
    kc_rl_headers_init(&h);
    h.remaining_tokens = 9000000000000000000LL;
    ck_assert_msg(!kc_rl_is_quota_429(&h), "only remaining tokens, plenty: transient");
    kc_rl_headers_init(&h);
    h.limit_requests = 60;
    h.reset_requests_ms = 1000;
    ck_assert_msg(!kc_rl_is_quota_429(&h),
                  "limits without a remaining count do not say the budget is used up");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("ratelimit");
    TCase *tc = tcase_create("duration");

    tcase_add_test(tc, test_duration_valid);
    tcase_add_test(tc, test_duration_invalid);
    tcase_add_test(tc, test_duration_len);
    suite_add_tcase(s, tc);
    tc = tcase_create("retry_after");
    tcase_add_test(tc, test_retry_after_delta);
    tcase_add_test(tc, test_retry_after_invalid);
    tcase_add_test(tc, test_retry_after_date);
    suite_add_tcase(s, tc);
    tc = tcase_create("header_line");
    tcase_add_test(tc, test_header_lines);
    tcase_add_test(tc, test_header_junk);
    tcase_add_test(tc, test_header_huge);
    suite_add_tcase(s, tc);
    tc = tcase_create("bucket");
    tcase_add_test(tc, test_bucket_rpm);
    tcase_add_test(tc, test_bucket_low_rpm);
    tcase_add_test(tc, test_bucket_tpm);
    tcase_add_test(tc, test_bucket_big_call);
    tcase_add_test(tc, test_unknown_budgets);
    tcase_add_test(tc, test_bucket_extremes);
    suite_add_tcase(s, tc);
    tc = tcase_create("provider_view");
    tcase_add_test(tc, test_headers_exhausted);
    tcase_add_test(tc, test_headers_remaining);
    tcase_add_test(tc, test_headers_tokens);
    tcase_add_test(tc, test_headers_huge);
    suite_add_tcase(s, tc);
    tc = tcase_create("pause");
    tcase_add_test(tc, test_pause);
    tcase_add_test(tc, test_pause_strictest_wins);
    suite_add_tcase(s, tc);
    tc = tcase_create("quota_429");
    tcase_add_test(tc, test_quota_429);
    suite_add_tcase(s, tc);
    return kc_check_run(s);
}
