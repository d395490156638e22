/**
 * @file kc_fallback.c
 * @brief Keyword/pattern scorer over the taxonomy's cues.
 *
 * Runs when the LLM cannot answer, so it must never fail and never allocate:
 * all state lives on the stack, bounded by KC_TAXONOMY_MAX_CATEGORIES.
 */
#define _GNU_SOURCE /* memmem */
#include "kc_fallback.h"

#include <stdbool.h>
#include <string.h>

/* Weights: a multi-word phrase is much stronger evidence than one word, and
 * an explicit recent year is about as strong as a two-word phrase. */
#define W_WORD                  2
#define W_YEAR                  3
#define W_PHRASE_PER_EXTRA_WORD 1
#define W_PHRASE_MAX            4

#define YEAR_MIN 1900
#define YEAR_MAX 2099

static const char R_NONE[] = "fallback: no cue matched, default category";
static const char R_TIE[] = "fallback: tied cue scores, earlier category";
static const char R_TEMPORAL[] = "fallback: temporal cue";
static const char R_PHRASE[] = "fallback: phrase cue";
static const char R_KEYWORD[] = "fallback: keyword cue";

typedef struct {
    int score;
    bool year, phrase;
} cat_score_t;

/* Bytes >= 0x80 count as word characters so that a cue never matches inside
 * a word with accented letters. */
static bool is_word(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c >= 0x80;
}

static bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

/* Cut at the last non-word byte within the limit, so a word truncated by the
 * cap cannot match a shorter cue. */
static size_t scan_len(const char *s, size_t len)
{
    size_t n = len;

    if (n <= KC_FALLBACK_SCAN_MAX) {
        return n;
    }
    n = KC_FALLBACK_SCAN_MAX;
    while (n > 0 && is_word((unsigned char)s[n])) {
        n--;
    }
    return n;
}

/* The largest standalone year (a word of exactly four digits in
 * YEAR_MIN..YEAR_MAX), or 0. */
static int max_year(const char *s, size_t len)
{
    int best = 0;
    size_t i = 0;

    while (i < len) {
        size_t start = i;
        bool digits = true;
        int v = 0;

        while (i < len && is_word((unsigned char)s[i])) {
            digits = digits && is_digit((unsigned char)s[i]);
            if (digits && i - start < 4) {
                v = v * 10 + (s[i] - '0');
            }
            i++;
        }
        if (i == start) {
            i++; /* a separator */
        } else if (digits && i - start == 4 && v >= YEAR_MIN && v <= YEAR_MAX && v > best) {
            best = v;
        }
    }
    return best;
}

/* Does cue[0..clen) occur in s at word boundaries? A prefix cue only needs
 * the boundary in front. */
static bool cue_occurs(const char *s, size_t len, const char *cue, size_t clen, bool prefix)
{
    const char *p = s;
    const char *end = s + len;

    while ((size_t)(end - p) >= clen) {
        const char *hit = memmem(p, (size_t)(end - p), cue, clen);
        if (!hit) {
            return false;
        }
        bool left = hit == s || !is_word((unsigned char)hit[-1]) || !is_word((unsigned char)cue[0]);
        bool right = prefix || hit + clen == end || !is_word((unsigned char)hit[clen]) ||
                     !is_word((unsigned char)cue[clen - 1]);
        if (left && right) {
            return true;
        }
        p = hit + 1;
    }
    return false;
}

static int phrase_weight(const char *cue, size_t clen)
{
    int words = 1;

    for (size_t i = 0; i < clen; i++) {
        words += cue[i] == ' ';
    }
    if (words == 1) {
        return W_WORD;
    }
    words = W_WORD + (words - 1) * W_PHRASE_PER_EXTRA_WORD;
    return words > W_PHRASE_MAX ? W_PHRASE_MAX : words;
}

static void category_score(const kc_category_t *cat, const char *s, size_t len, int year,
                           cat_score_t *cs)
{
    for (size_t i = 0; i < cat->cue_cnt; i++) {
        const char *cue = cat->cues[i];
        size_t clen = strlen(cue);
        bool prefix;

        if (cue[0] == '@') {
            /* "@year>=NNNN", validated by the taxonomy. */
            int n = (cue[7] - '0') * 1000 + (cue[8] - '0') * 100 + (cue[9] - '0') * 10 +
                    (cue[10] - '0');
            if (year >= n) {
                cs->score += W_YEAR;
                cs->year = true;
            }
            continue;
        }
        prefix = cue[clen - 1] == '*';
        clen -= prefix;
        if (cue_occurs(s, len, cue, clen, prefix)) {
            int w = phrase_weight(cue, clen);
            cs->score += w;
            cs->phrase |= w > W_WORD;
        }
    }
}

static float confidence_of(int margin)
{
    /* Grows with the lead over the runner-up, saturating below 0.69. */
    float c = 0.40f + 0.29f * (float)margin / (float)(margin + 4);
    return c > 0.69f ? 0.69f : c;
}

void kc_fallback_classify(const kc_taxonomy_t *tx, const char *norm, size_t len,
                          kc_fallback_result_t *out)
{
    cat_score_t cs[KC_TAXONOMY_MAX_CATEGORIES];
    size_t n = tx->category_cnt < KC_TAXONOMY_MAX_CATEGORIES ? tx->category_cnt
                                                             : KC_TAXONOMY_MAX_CATEGORIES;
    size_t best = 0;
    int second = 0;
    int year;

    if (!norm || len == 0) {
        norm = "";
        len = 0;
    }
    len = scan_len(norm, len);
    year = max_year(norm, len);
    memset(cs, 0, sizeof(cs));
    for (size_t i = 0; i < n; i++) {
        category_score(&tx->categories[i], norm, len, year, &cs[i]);
        if (cs[i].score > cs[best].score) {
            second = cs[best].score;
            best = i;
        } else if (i != best && cs[i].score > second) {
            second = cs[i].score;
        }
    }
    if (cs[best].score == 0) {
        out->category = (int)tx->default_category;
        out->confidence = 0.30f;
        out->reasoning = R_NONE;
        return;
    }
    out->category = (int)best;
    if (cs[best].score == second) {
        out->confidence = 0.35f;
        out->reasoning = R_TIE;
        return;
    }
    out->confidence = confidence_of(cs[best].score - second);
    out->reasoning = cs[best].year ? R_TEMPORAL : cs[best].phrase ? R_PHRASE : R_KEYWORD;
}
