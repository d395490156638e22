/*
 * kclassify-llm-sim: the logprobs of an answer, in OpenAI's format. No I/O.
 * Part of a SIMULATOR for tests and benchmarks; see llm_sim.h.
 *
 * A real model's confidence in a category shows in the probability of the
 * token that decides it: the first token of the category value. So that
 * piece gets ln(confidence) and its alternatives are the other categories
 * starting at the same place; every other token (braces, ids, keys) is near
 * certain. A client that reads the deciding token's probability gets back
 * exactly the confidence the simulator chose for the query.
 */
#include "llm_sim.h"

#include <math.h>
#include <string.h>

#define LOGPROB_SURE  (-0.0001) /* a token the model had no doubt about */
#define LOGPROB_DUMMY (-12.0)   /* the runner-up of such a token */
#define MASS_MIN      1e-6      /* keeps ln() finite if a confidence reaches 1 */

static json_t *byte_array(const char *s, size_t len)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < len; i++) {
        json_array_append_new(arr, json_integer((unsigned char)s[i]));
    }
    return arr;
}

static json_t *top_entry(const char *tok, size_t len, double logprob)
{
    return json_pack("{s:s%, s:f, s:o}", "token", tok, len, "logprob", logprob, "bytes",
                     byte_array(tok, len));
}

/* Length of s cut to at most max bytes without splitting a UTF-8 character. */
static size_t utf8_cut(const char *s, size_t len, size_t max)
{
    if (len <= max) {
        return len;
    }
    while (max > 0 && ((unsigned char)s[max] & 0xC0) == 0x80) {
        max--;
    }
    return max;
}

/* The deciding piece with each other name written from the value's start
 * (`":"K` -> `":"R`); duplicates of the chosen piece or of each other dropped. */
static json_t *category_alternatives(const char *piece, size_t len, size_t off, json_t *names)
{
    json_t *alts = json_array(), *name;
    char buf[256];
    size_t i;
    if (!alts || off >= len || len > sizeof(buf)) {
        return alts;
    }
    memcpy(buf, piece, off);
    json_array_foreach(names, i, name)
    {
        const char *nm = json_string_value(name);
        size_t nlen = nm ? utf8_cut(nm, json_string_length(name), len - off) : 0;
        memcpy(buf + off, nm ? nm : "", nlen);
        json_t *alt = json_stringn(buf, off + nlen);
        bool dup = nlen == 0 || (off + nlen == len && memcmp(buf, piece, len) == 0);
        for (size_t k = 0; !dup && k < json_array_size(alts); k++) {
            dup = json_equal(json_array_get(alts, k), alt);
        }
        if (!dup) {
            json_array_append(alts, alt);
        }
        json_decref(alt);
    }
    return alts;
}

/* top_logprobs of a deciding piece: the chosen one, then the others sharing 1 - confidence. */
static json_t *category_top(const char *piece, size_t len, size_t off, double confidence,
                            json_t *names, int top_k)
{
    json_t *top = json_array();
    if (!top || top_k <= 0) {
        return top;
    }
    json_array_append_new(top, top_entry(piece, len, log(confidence)));
    json_t *alts = category_alternatives(piece, len, off, names), *alt;
    size_t m = json_array_size(alts), i;
    double mass = fmax(1.0 - confidence, MASS_MIN) / (double)(m ? m : 1);
    json_array_foreach(alts, i, alt)
    {
        if ((int)json_array_size(top) >= top_k) {
            break;
        }
        json_array_append_new(
            top, top_entry(json_string_value(alt), json_string_length(alt), log(mass)));
    }
    json_decref(alts);
    return top;
}

static json_t *plain_top(const char *piece, size_t len, int top_k)
{
    json_t *top = json_array();
    if (!top || top_k <= 0) {
        return top;
    }
    json_array_append_new(top, top_entry(piece, len, LOGPROB_SURE));
    if (top_k > 1) {
        const char *dummy = len == 1 && piece[0] == ' ' ? "\t" : " ";
        json_array_append_new(top, top_entry(dummy, 1, LOGPROB_DUMMY));
    }
    return top;
}

json_t *llm_sim_logprobs_build(const llm_sim_answer_t *ans, json_t *names, int top_k)
{
    json_t *content = json_array();
    size_t mark = 0;
    if (!content) {
        return NULL;
    }
    for (size_t at = 0, end; at < ans->len; at = end) {
        end = llm_sim_piece_end(ans->content, ans->len, at);
        const char *piece = ans->content + at;
        size_t len = end - at;
        json_t *top;
        double logprob = LOGPROB_SURE;
        while (mark < ans->mark_cnt && ans->marks[mark].offset < at) {
            mark++; /* a mark inside a piece already written: cannot happen, be safe */
        }
        if (mark < ans->mark_cnt && ans->marks[mark].offset < end) {
            double conf = fmin(ans->marks[mark].confidence, 1.0 - MASS_MIN);
            logprob = log(conf);
            top = category_top(piece, len, ans->marks[mark].offset - at, conf, names, top_k);
            mark++;
        } else {
            top = plain_top(piece, len, top_k);
        }
        if (json_array_append_new(
                content, json_pack("{s:s%, s:f, s:o, s:o}", "token", piece, len, "logprob", logprob,
                                   "bytes", byte_array(piece, len), "top_logprobs", top))) {
            json_decref(content);
            return NULL;
        }
    }
    return json_pack("{s:o}", "content", content);
}
