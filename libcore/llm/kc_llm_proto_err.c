/**
 * @file kc_llm_proto_err.c
 * @brief kc_llm_error_names_param() (declared in kc_llm_proto.h): reading
 * the HTTP error bodies of OpenAI-compatible servers.
 *
 * The shapes seen in the wild:
 *   OpenAI, llama.cpp  {"error":{"message":"...","type":"...","param":"logprobs","code":...}}
 *   vLLM               {"object":"error","message":"...","type":"...","param":null,"code":400}
 *   some proxies       {"error":"..."} or {"message":"..."}
 *   FastAPI servers    {"detail":"..."} or {"detail":[{"loc":["body","logprobs"],"msg":"..."}]}
 *   anything else      a text body, read as the message
 */
#include "kc_llm_proto.h"
#include "kc_normalize.h"

#include <jansson.h>
#include <stdbool.h>
#include <string.h>

/* Only the start of a body that is not JSON is read as its message. */
#define ERR_TEXT_MAX 4096

typedef struct err_info_s {
    const char *msg;
    size_t msg_len;
    bool named; /* a "param" (or a pydantic "loc" element) equals the parameter */
} err_info_t;

static bool str_is(json_t *v, const char *s)
{
    return json_is_string(v) && json_string_length(v) == strlen(s) &&
           memcmp(json_string_value(v), s, json_string_length(v)) == 0;
}

static void msg_take(err_info_t *ei, json_t *v)
{
    if (!ei->msg && json_is_string(v)) {
        ei->msg = json_string_value(v);
        ei->msg_len = json_string_length(v);
    }
}

/* FastAPI/pydantic validation errors: [{"loc":["body","logprobs"],"msg":"..."},...]. */
static void detail_read(json_t *detail, const char *param, err_info_t *ei)
{
    size_t i, j;
    json_t *d, *loc;

    msg_take(ei, detail);
    json_array_foreach(detail, i, d)
    {
        msg_take(ei, json_object_get(d, "msg"));
        json_array_foreach(json_object_get(d, "loc"), j, loc)
        {
            ei->named |= str_is(loc, param);
        }
    }
}

static void json_read(json_t *root, const char *param, err_info_t *ei)
{
    json_t *err = json_object_get(root, "error");

    if (json_is_object(err)) {
        msg_take(ei, json_object_get(err, "message"));
        ei->named |= str_is(json_object_get(err, "param"), param);
    }
    msg_take(ei, err);
    msg_take(ei, json_object_get(root, "message"));
    ei->named |= str_is(json_object_get(root, "param"), param);
    detail_read(json_object_get(root, "detail"), param, ei);
}

static bool is_word(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

static unsigned char lower(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c - 'A' + 'a') : c;
}

/* Does s contain word as a whole word, ASCII case-insensitively? */
static bool mentions(const char *s, size_t len, const char *word)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t wlen = strlen(word);

    for (size_t i = 0; wlen > 0 && i + wlen <= len; i++) {
        size_t k = 0;
        while (k < wlen && lower(u[i + k]) == lower((unsigned char)word[k])) {
            k++;
        }
        if (k == wlen && (i == 0 || !is_word(u[i - 1])) &&
            (i + wlen == len || !is_word(u[i + wlen]))) {
            return true;
        }
    }
    return false;
}

/* Copy for logs: control characters become spaces, invalid UTF-8 '?', cut
 * on a character boundary. */
static void msg_sanitize(const char *s, size_t len, char *out, size_t size)
{
    size_t o = 0;

    for (size_t i = 0; i < len;) {
        unsigned char c = (unsigned char)s[i];
        size_t seq = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
        if (seq > len - i || (seq > 1 && !kc_utf8_valid(s + i, seq))) {
            seq = 0; /* one invalid byte */
        }
        if (o + (seq ? seq : 1) >= size) {
            break;
        }
        if (seq == 0 || (seq == 1 && (c < 0x20 || c == 0x7F))) {
            out[o++] = seq ? ' ' : '?';
            i++;
            continue;
        }
        memcpy(out + o, s + i, seq);
        o += seq;
        i += seq;
    }
    out[o] = '\0';
}

bool kc_llm_error_names_param(const char *body, size_t len, const char *param, char *msg,
                              size_t msg_size)
{
    err_info_t ei = {NULL, 0, false};
    json_t *root = NULL;
    bool named;

    if (msg && msg_size > 0) {
        msg[0] = '\0';
    }
    if (!body || len == 0 || len > KC_LLM_BODY_MAX) {
        return false;
    }
    param = param ? param : "";
    root = json_loadb(body, len, JSON_ALLOW_NUL, NULL);
    if (json_is_object(root)) {
        json_read(root, param, &ei);
    } else if (!root) {
        ei.msg = body;
        ei.msg_len = len < ERR_TEXT_MAX ? len : ERR_TEXT_MAX;
    }
    named = param[0] != '\0' && (ei.named || (ei.msg && mentions(ei.msg, ei.msg_len, param)));
    if (msg && msg_size > 0 && ei.msg) {
        msg_sanitize(ei.msg, ei.msg_len, msg, msg_size);
    }
    json_decref(root);
    return named;
}
