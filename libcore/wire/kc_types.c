#include "kc_types.h"
#include "kc_err.h"

#include <stdlib.h>
#include <string.h>

static const char *prio_names[] = {"LOW", "NORMAL", "HIGH"};
static const char *policy_names[] = {"USE", "REFRESH", "BYPASS"};
static const char *status_names[] = {"OK", "DEGRADED", "ERROR"};
static const char *source_names[] = {"L1", "LMDB", "REDIS", "LLM", "FALLBACK", "NONE"};

#define KC_NAME_OF(arr, v) ((unsigned)(v) < sizeof(arr) / sizeof(arr[0]) ? arr[(unsigned)(v)] : "?")

const char *kc_priority_name(kc_priority_t p)
{
    return KC_NAME_OF(prio_names, p);
}

const char *kc_cache_policy_name(kc_cache_policy_t p)
{
    return KC_NAME_OF(policy_names, p);
}

const char *kc_status_name(kc_status_t s)
{
    return KC_NAME_OF(status_names, s);
}

const char *kc_source_name(kc_source_t s)
{
    return KC_NAME_OF(source_names, s);
}

static int name_index(const char *const *names, int cnt, const char *s)
{
    for (int i = 0; i < cnt; i++) {
        if (strcmp(names[i], s) == 0) {
            return i;
        }
    }
    return -1;
}

int kc_priority_parse(const char *s, kc_priority_t *out)
{
    int i = name_index(prio_names, 3, s);
    if (i < 0) {
        return KC_ERR_INVALID;
    }
    *out = (kc_priority_t)i;
    return 0;
}

int kc_cache_policy_parse(const char *s, kc_cache_policy_t *out)
{
    int i = name_index(policy_names, 3, s);
    if (i < 0) {
        return KC_ERR_INVALID;
    }
    *out = (kc_cache_policy_t)i;
    return 0;
}

void kc_request_clear(kc_request_t *req)
{
    if (!req) {
        return;
    }
    free(req->request_id);
    free(req->query);
    free(req->reply_topic);
    for (size_t i = 0; i < req->context_cnt; i++) {
        free(req->context[i].key);
        free(req->context[i].value);
    }
    free(req->context);
    memset(req, 0, sizeof(*req));
}

void kc_result_clear(kc_result_t *res)
{
    if (!res) {
        return;
    }
    free(res->request_id);
    free(res->query_hash);
    free(res->category);
    free(res->reasoning);
    free(res->error);
    free(res->model);
    free(res->worker_id);
    memset(res, 0, sizeof(*res));
}
