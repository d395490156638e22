/**
 * @file kc_llm_logprob.c
 * @brief Category probabilities from token logprobs: a scanner that finds
 * the category values in the raw JSON text, and a token stream that sums the
 * logprobs of the tokens deciding each of them.
 */
#include "kc_llm_logprob.h"
#include "kc_err.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* One result object with a string category value. */
typedef struct lp_entry_s {
    size_t elem;   /* index in the results array */
    size_t start;  /* first byte of the value */
    size_t decide; /* the deciding byte, start <= decide <= end */
    double sum;    /* logprobs of the tokens overlapping [start, decide] so far */
    bool done;     /* a token has covered the deciding byte */
    bool unknown;  /* one of those tokens had no logprob */
} lp_entry_t;

struct kc_llm_logprob_s {
    const char *content;
    size_t len;
    const char **names; /* the taxonomy's names, sorted */
    size_t *name_lens;
    size_t name_cnt;
    lp_entry_t *entries; /* in document order: start and decide increase */
    size_t cnt, cap;
    size_t elem_cnt; /* elements of the results array */
    /* token stream */
    size_t covered;   /* bytes reproduced */
    size_t tok_start; /* where the current token began */
    size_t next;      /* first entry not done */
    double pending;   /* logprobs of tokens without bytes, for the next token */
    bool pending_unknown;
    bool mismatch;
};

/* ------------------------------------------------------------------------
 * Deciding byte
 * ------------------------------------------------------------------------ */

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int names_init(kc_llm_logprob_t *lp, const kc_taxonomy_t *tx)
{
    lp->name_cnt = tx->category_cnt;
    lp->names = malloc((lp->name_cnt ? lp->name_cnt : 1) * sizeof(*lp->names));
    lp->name_lens = malloc((lp->name_cnt ? lp->name_cnt : 1) * sizeof(*lp->name_lens));
    if (!lp->names || !lp->name_lens) {
        return KC_ERR_NOMEM;
    }
    for (size_t i = 0; i < lp->name_cnt; i++) {
        lp->names[i] = tx->categories[i].name;
    }
    qsort(lp->names, lp->name_cnt, sizeof(*lp->names), name_cmp);
    for (size_t i = 0; i < lp->name_cnt; i++) {
        lp->name_lens[i] = strlen(lp->names[i]);
    }
    return 0;
}

/* Byte p of name i, -1 past its end: within a range of sorted names that
 * share a prefix of length p, this key is non-decreasing. */
static int name_key(const kc_llm_logprob_t *lp, size_t i, size_t p)
{
    return p < lp->name_lens[i] ? (unsigned char)lp->names[i][p] : -1;
}

/* First index in [lo, hi) whose key at p is >= c (or > c when after). */
static size_t key_bound(const kc_llm_logprob_t *lp, size_t lo, size_t hi, size_t p, int c,
                        bool after)
{
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int k = name_key(lp, mid, p);
        if (k < c || (after && k == c)) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

/* Offset within the value of its deciding byte: names sharing the prefix
 * read so far form a range of the sorted list, narrowed by binary search on
 * each byte, so a value costs O(min(len, longest name) * log names). */
static size_t decide_offset(const kc_llm_logprob_t *lp, const char *v, size_t len)
{
    size_t lo = 0, hi = lp->name_cnt;

    for (size_t p = 0; p < len; p++) {
        int c = (unsigned char)v[p];
        size_t nlo = key_bound(lp, lo, hi, p, c, false);
        hi = key_bound(lp, nlo, hi, p, c, true);
        lo = nlo;
        if (hi - lo == 1) {
            return p;
        }
        if (hi == lo) {
            break; /* no name has this prefix */
        }
    }
    return len;
}

/* ------------------------------------------------------------------------
 * Scanner
 * ------------------------------------------------------------------------ */

enum { KEY_OTHER, KEY_RESULTS, KEY_CATEGORY };
enum { V_OBJ, V_ARR, V_STR, V_LIT };

/* Containers deeper than 3 (top object, results array, result object) are
 * only counted: their contents never matter. */
typedef struct scan_s {
    kc_llm_logprob_t *lp;
    const char *text;
    size_t base; /* offset of text in the content */
    size_t depth;
    bool is_obj[4], want_key[4];
    int key[4];
    bool results2;  /* the depth-2 container is the results array */
    bool elem3;     /* the depth-3 container is an object element of it */
    bool has_entry; /* the current element has an entry (the last one) */
    bool have_results;
    size_t elem;
} scan_t;

/* Index of the closing quote of the string opening at i, or len. */
static size_t string_end(const char *s, size_t len, size_t i)
{
    for (i++; i < len; i++) {
        if (s[i] == '\\') {
            i++;
        } else if (s[i] == '"') {
            return i;
        }
    }
    return len;
}

static int hex_val(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* Does the raw JSON string body s equal the ASCII word after unescaping? */
static bool key_is(const char *s, size_t len, const char *word)
{
    static const char esc_from[] = "\"\\/bfnrt", esc_to[] = "\"\\/\b\f\n\r\t";
    size_t i = 0;

    for (; *word; word++) {
        int c;
        if (i >= len) {
            return false;
        }
        if (s[i] != '\\') {
            c = (unsigned char)s[i++];
        } else if (i + 1 < len && s[i + 1] == 'u') {
            c = 0;
            for (size_t k = i + 2; k < i + 6; k++) {
                int h = k < len ? hex_val(s[k]) : -1;
                if (h < 0) {
                    return false;
                }
                c = c * 16 + h;
            }
            i += 6;
        } else {
            const char *e = i + 1 < len && s[i + 1] ? strchr(esc_from, s[i + 1]) : NULL;
            if (!e) {
                return false;
            }
            c = (unsigned char)esc_to[e - esc_from];
            i += 2;
        }
        if (c != (unsigned char)*word) {
            return false;
        }
    }
    return i == len;
}

static int entry_set(scan_t *sc, size_t vs, size_t ve)
{
    kc_llm_logprob_t *lp = sc->lp;
    lp_entry_t *e;

    if (!sc->has_entry) {
        if (lp->cnt == lp->cap) {
            size_t cap = lp->cap ? 2 * lp->cap : 16;
            lp_entry_t *n = realloc(lp->entries, cap * sizeof(*n));
            if (!n) {
                return KC_ERR_NOMEM;
            }
            lp->entries = n;
            lp->cap = cap;
        }
        lp->cnt++;
        sc->has_entry = true;
    }
    e = &lp->entries[lp->cnt - 1];
    memset(e, 0, sizeof(*e));
    e->elem = sc->elem;
    e->start = sc->base + vs;
    e->decide = e->start + decide_offset(lp, sc->text + vs, ve - vs);
    return 0;
}

/* A value of the given kind begins at the current depth; [vs, ve) is a
 * string's body. */
static int value_start(scan_t *sc, int kind, size_t vs, size_t ve)
{
    kc_llm_logprob_t *lp = sc->lp;

    if (sc->depth == 0) {
        return kind == V_OBJ ? 0 : KC_ERR_DECODE;
    }
    if (sc->depth == 1 && sc->key[1] == KEY_RESULTS) {
        /* A repeated "results" replaces the earlier one, as in jansson. */
        lp->cnt = 0;
        lp->elem_cnt = 0;
        sc->have_results = kind == V_ARR;
    } else if (sc->depth == 2 && sc->results2) {
        sc->elem = lp->elem_cnt++;
        sc->has_entry = false;
    } else if (sc->depth == 3 && sc->elem3 && sc->key[3] == KEY_CATEGORY) {
        if (kind == V_STR) {
            return entry_set(sc, vs, ve);
        }
        if (sc->has_entry) {
            lp->cnt--; /* a later non-string category replaces the string */
            sc->has_entry = false;
        }
    }
    return 0;
}

static void container_push(scan_t *sc, int kind)
{
    size_t d = ++sc->depth;

    if (d > 3) {
        return;
    }
    sc->is_obj[d] = kind == V_OBJ;
    sc->want_key[d] = kind == V_OBJ;
    sc->key[d] = KEY_OTHER;
    if (d == 2) {
        sc->results2 = sc->key[1] == KEY_RESULTS && kind == V_ARR;
    } else if (d == 3) {
        sc->elem3 = sc->results2 && kind == V_OBJ;
    }
}

static int scan_string(scan_t *sc, size_t len, size_t *i)
{
    size_t end = string_end(sc->text, len, *i);
    size_t d = sc->depth;

    if (end >= len) {
        return KC_ERR_DECODE;
    }
    if ((d == 1 || d == 3) && sc->is_obj[d] && sc->want_key[d]) {
        const char *k = sc->text + *i + 1;
        size_t klen = end - *i - 1;
        sc->key[d] = key_is(k, klen, "results")    ? KEY_RESULTS
                     : key_is(k, klen, "category") ? KEY_CATEGORY
                                                   : KEY_OTHER;
        *i = end;
        return 0;
    }
    size_t vs = *i + 1;
    *i = end;
    return value_start(sc, V_STR, vs, end);
}

/* One structural byte (or the first byte of a literal). */
static int scan_byte(scan_t *sc, char c, bool *literal)
{
    size_t d = sc->depth;
    bool lit = !(c == '{' || c == '[' || c == '}' || c == ']' || c == ':' || c == ',');
    int rc = 0;

    if (lit) {
        if (!*literal) {
            rc = value_start(sc, V_LIT, 0, 0);
        }
        *literal = true;
        return rc;
    }
    *literal = false;
    if (c == '{' || c == '[') {
        rc = value_start(sc, c == '{' ? V_OBJ : V_ARR, 0, 0);
        container_push(sc, c == '{' ? V_OBJ : V_ARR);
    } else if (c == '}' || c == ']') {
        rc = d == 0 ? KC_ERR_DECODE : 0;
        sc->depth = d ? d - 1 : 0;
    } else if (d >= 1 && d <= 3) {
        sc->want_key[d] = c == ',' && sc->is_obj[d];
    }
    return rc;
}

/* Walk the first JSON value of text. jansson has accepted it already, so
 * this only needs to follow valid JSON; on anything else it stops with
 * KC_ERR_DECODE rather than guess. */
static int scan(kc_llm_logprob_t *lp, const char *text, size_t len, size_t base)
{
    scan_t sc = {.lp = lp, .text = text, .base = base};
    bool literal = false;
    int rc = 0;

    for (size_t i = 0; rc == 0 && i < len; i++) {
        char c = text[i];
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
            literal = false;
            continue;
        }
        if (c == '"') {
            literal = false;
            rc = scan_string(&sc, len, &i);
        } else {
            rc = scan_byte(&sc, c, &literal);
        }
        if (rc == 0 && sc.depth == 0 && !literal) {
            return sc.have_results ? 0 : KC_ERR_DECODE;
        }
    }
    return rc ? rc : KC_ERR_DECODE;
}

/* ------------------------------------------------------------------------
 * Lifecycle
 * ------------------------------------------------------------------------ */

int kc_llm_logprob_new(kc_llm_logprob_t **lpp, const kc_taxonomy_t *tx, const char *content,
                       size_t len, size_t json_off, size_t json_len)
{
    kc_llm_logprob_t *lp;
    int rc;

    if (!lpp) {
        return KC_ERR_INVALID;
    }
    *lpp = NULL;
    if (!tx || (!content && len > 0) || json_off > len || json_len > len - json_off) {
        return KC_ERR_INVALID;
    }
    if (!(lp = calloc(1, sizeof(*lp)))) {
        return KC_ERR_NOMEM;
    }
    lp->content = content ? content : "";
    lp->len = len;
    rc = names_init(lp, tx);
    if (rc == 0) {
        rc = scan(lp, lp->content + json_off, json_len, json_off);
    }
    if (rc != 0) {
        kc_llm_logprob_destroy(lp);
        return rc;
    }
    *lpp = lp;
    return 0;
}

void kc_llm_logprob_destroy(kc_llm_logprob_t *lp)
{
    if (!lp) {
        return;
    }
    free(lp->names);
    free(lp->name_lens);
    free(lp->entries);
    free(lp);
}

size_t kc_llm_logprob_result_cnt(const kc_llm_logprob_t *lp)
{
    return lp->elem_cnt;
}

size_t kc_llm_logprob_covered(const kc_llm_logprob_t *lp)
{
    return lp->covered;
}

/* ------------------------------------------------------------------------
 * Token stream
 * ------------------------------------------------------------------------ */

int kc_llm_logprob_feed(kc_llm_logprob_t *lp, const void *bytes, size_t len)
{
    if (lp->mismatch) {
        return KC_ERR_DECODE;
    }
    if (len == 0) {
        return 0;
    }
    if (!bytes || len > lp->len - lp->covered ||
        memcmp(lp->content + lp->covered, bytes, len) != 0) {
        lp->mismatch = true;
        return KC_ERR_DECODE;
    }
    lp->covered += len;
    return 0;
}

static void entry_add(lp_entry_t *e, double logprob, bool unknown)
{
    e->unknown |= unknown;
    if (!unknown) {
        e->sum += logprob;
    }
}

/* Token [s, e): it overlaps every entry not yet done whose start < e. The
 * entries' [start, decide] ranges are disjoint and in order, so all but the
 * last of those are finished by this token. */
static void token_apply(kc_llm_logprob_t *lp, size_t s, size_t e, double logprob, bool unknown)
{
    while (lp->next < lp->cnt && lp->entries[lp->next].decide < e) {
        lp_entry_t *en = &lp->entries[lp->next++];
        if (en->decide >= s) {
            entry_add(en, logprob, unknown);
        }
        en->done = true;
    }
    if (lp->next < lp->cnt && lp->entries[lp->next].start < e) {
        entry_add(&lp->entries[lp->next], logprob, unknown);
    }
}

int kc_llm_logprob_token_end(kc_llm_logprob_t *lp, double logprob)
{
    bool unknown = isnan(logprob);

    if (lp->mismatch) {
        return KC_ERR_DECODE;
    }
    if (!unknown && logprob > 0.0) {
        logprob = 0.0;
    }
    if (lp->covered == lp->tok_start) {
        /* No bytes: it belongs with the token generated next. */
        lp->pending_unknown |= unknown;
        lp->pending += unknown ? 0.0 : logprob;
        return 0;
    }
    unknown |= lp->pending_unknown;
    token_apply(lp, lp->tok_start, lp->covered, unknown ? 0.0 : logprob + lp->pending, unknown);
    lp->pending = 0.0;
    lp->pending_unknown = false;
    lp->tok_start = lp->covered;
    return 0;
}

int kc_llm_logprob_token(kc_llm_logprob_t *lp, const void *bytes, size_t len, double logprob)
{
    int rc = kc_llm_logprob_feed(lp, bytes, len);
    return rc ? rc : kc_llm_logprob_token_end(lp, logprob);
}

int kc_llm_logprob_get(const kc_llm_logprob_t *lp, size_t i, float *p)
{
    size_t lo = 0, hi = lp->cnt;
    double v;

    if (lp->mismatch) {
        return KC_ERR_STATE;
    }
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (lp->entries[mid].elem < i) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    if (lo == lp->cnt || lp->entries[lo].elem != i || !lp->entries[lo].done ||
        lp->entries[lo].unknown) {
        return KC_ERR_NOTFOUND;
    }
    v = exp(lp->entries[lo].sum);
    *p = v > 1.0 ? 1.0f : v > 0.0 ? (float)v : 0.0f;
    return 0;
}
