/* kclassify-cache: inspect and maintain the worker's LMDB (L2) cache. */
#include "kc_cache_json.h"
#include "kc_err.h"
#include "kc_exit.h"
#include "kc_lmdb.h"
#include "kc_normalize.h"
#include "kc_taxonomy.h"
#include "kc_time.h"
#include "kc_worker_conf.h"

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define IMPORT_BATCH 256
#define PURGE_STEP   1000

typedef struct opts_s {
    const char *conf_file;
    const char *path;
    size_t size_mb; /* 0: keep the database's size */
    const char *taxonomy;
    const char *model;
    int expired;
    const char *cmd;
    char **args;
    int nargs;
} opts_t;

static void usage(FILE *fp)
{
    fprintf(fp,
            "Usage: kclassify-cache -p DIR | -F FILE [options] COMMAND [ARG]\n"
            "       kclassify-cache [-F FILE] [-t FILE] [-m MODEL] key QUERY\n"
            "\n"
            "Inspects and maintains the worker's LMDB cache (cache.lmdb.path).\n"
            "\n"
            "Commands:\n"
            "  stats              entries, expired entries and sizes, as one JSON object\n"
            "  get QUERY          the cached answer for QUERY (normalized and keyed as the\n"
            "                     worker does) as JSON; exit 1 if none or expired\n"
            "  key QUERY          the cache key and normalized query the worker uses\n"
            "  purge [--expired]  delete every entry, or only the expired ones\n"
            "  export             every entry (expired ones too) as JSON lines on stdout:\n"
            "                     key, norm, category, confidence, reasoning, model,\n"
            "                     created_at, expires_at (microseconds since the epoch)\n"
            "  import             JSON lines in the export format from stdin; an entry\n"
            "                     the cache holds with a later created_at is kept\n"
            "\n"
            "Options:\n"
            "  -p, --path DIR       cache directory (required unless -F gives it)\n"
            "  -F FILE              the worker's properties file: cache.lmdb.path,\n"
            "                       cache.lmdb.size.mb, llm.model and taxonomy.file are read\n"
            "                       from it (options given here win); -c FILE is the same\n"
            "      --size-mb N      map size in MiB [cache.lmdb.size.mb with -F, else the\n"
            "                       database's own size, %d when new]\n"
            "  -t, --taxonomy FILE  taxonomy the worker uses, for the key [embedded default]\n"
            "  -m, --model NAME     llm.model the worker uses, for the key [gpt-4o-mini]\n"
            "      --expired        purge only expired entries\n"
            "  -h, --help           this help\n"
            "\n"
            "Exit status: 0 ok, 1 not found or failure, 64 usage or configuration error,\n"
            "69 the cache cannot be opened.\n",
            KC_LMDB_MAP_SIZE_MB_DEFAULT);
}

static int parse_size(const char *s, size_t *out)
{
    char *end;
    unsigned long long v = strtoull(s, &end, 10);

    if (!*s || *end || s[0] == '-' || v == 0 || v > (1ULL << 40)) {
        return -1;
    }
    *out = (size_t)v;
    return 0;
}

static int parse_args(int argc, char **argv, opts_t *o)
{
    enum { OPT_SIZE = 256, OPT_EXPIRED };
    static const struct option longopts[] = {{"path", required_argument, NULL, 'p'},
                                             {"size-mb", required_argument, NULL, OPT_SIZE},
                                             {"taxonomy", required_argument, NULL, 't'},
                                             {"model", required_argument, NULL, 'm'},
                                             {"expired", no_argument, NULL, OPT_EXPIRED},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    int c;

    while ((c = getopt_long(argc, argv, "c:F:p:t:m:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
        case 'F':
            o->conf_file = optarg;
            break;
        case 'p':
            o->path = optarg;
            break;
        case OPT_SIZE:
            if (parse_size(optarg, &o->size_mb) != 0) {
                fprintf(stderr, "%% --size-mb: '%s' is not a size in MiB\n", optarg);
                return KC_EXIT_USAGE;
            }
            break;
        case 't':
            o->taxonomy = optarg;
            break;
        case 'm':
            o->model = optarg;
            break;
        case OPT_EXPIRED:
            o->expired = 1;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            return KC_EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "%% no command (see --help)\n");
        return KC_EXIT_USAGE;
    }
    o->cmd = argv[optind];
    o->args = argv + optind + 1;
    o->nargs = argc - optind - 1;
    return 0;
}

static char *dup_or_null(const char *s)
{
    return s && *s ? strdup(s) : NULL;
}

/* Fill what the command line left unset from the worker's file; the strings
 * are copied into *owned (freed by the caller). */
static int apply_conf_file(opts_t *o, char *owned[3])
{
    kc_worker_conf_t conf;
    char errstr[512];

    if (!o->conf_file) {
        return 0;
    }
    if (kc_worker_conf_init(&conf, errstr, sizeof(errstr)) != 0 ||
        kc_conf_parse_file(kc_worker_conf_props, &conf, &conf.kafka, o->conf_file, errstr,
                           sizeof(errstr)) != 0) {
        fprintf(stderr, "%% %s\n", errstr);
        kc_worker_conf_free(&conf);
        return KC_EXIT_USAGE;
    }
    if (!o->path && (owned[0] = dup_or_null(conf.cache_lmdb_path))) {
        o->path = owned[0];
    }
    if (!o->size_mb) {
        o->size_mb = (size_t)conf.cache_lmdb_size_mb;
    }
    if (!o->model && (owned[1] = dup_or_null(conf.llm_model))) {
        o->model = owned[1];
    }
    if (!o->taxonomy && (owned[2] = dup_or_null(conf.taxonomy_file))) {
        o->taxonomy = owned[2];
    }
    kc_worker_conf_free(&conf);
    return 0;
}

/* ------------------------------------------------------------------- stats */

typedef struct expired_s {
    int64_t now;
    uint64_t cnt;
} expired_t;

static int count_expired(void *opaque, const kc_key_t *key, const kc_cache_rec_t *rec)
{
    expired_t *ex = opaque;

    (void)key;
    ex->cnt += rec->expires_at <= ex->now;
    return 0;
}

static int cmd_stats(kc_lmdb_t *lm)
{
    kc_lmdb_stats_t st;
    expired_t expired = {kc_now_us(), 0};
    char errstr[512];

    if (kc_lmdb_stats(lm, &st, errstr, sizeof(errstr)) != 0 ||
        kc_lmdb_foreach(lm, count_expired, &expired, errstr, sizeof(errstr)) != 0) {
        fprintf(stderr, "%% %s\n", errstr);
        return 1;
    }
    printf("{\"entries\":%llu,\"expired\":%llu,\"map_size\":%llu,\"used_bytes\":%llu,"
           "\"page_size\":%u}\n",
           (unsigned long long)st.entries, (unsigned long long)expired.cnt,
           (unsigned long long)st.map_size, (unsigned long long)st.used_bytes, st.page_size);
    return 0;
}

/* --------------------------------------------------------------------- get */

/* The key exactly as the worker computes it: normalized query, seeded with
 * the taxonomy version and the model. */
static int query_key(const opts_t *o, const char *query, char **norm, size_t *norm_len,
                     kc_key_t *key)
{
    char errstr[512];
    kc_taxonomy_t *tx = o->taxonomy ? kc_taxonomy_load(o->taxonomy, errstr, sizeof(errstr))
                                    : kc_taxonomy_new_default();
    size_t len = strlen(query);

    if (!tx) {
        fprintf(stderr, "%% %s\n", o->taxonomy ? errstr : "out of memory");
        return 1;
    }
    if (!(*norm = malloc(len + 1)) || kc_query_normalize(query, len, *norm, norm_len) != 0 ||
        *norm_len == 0) {
        fprintf(stderr, "%% the query is %s\n", *norm ? "empty or not valid UTF-8" : "too big");
        kc_taxonomy_destroy(tx);
        return 1;
    }
    *key = kc_key_compute(*norm, *norm_len, kc_taxonomy_key_seed(tx, o->model));
    kc_taxonomy_destroy(tx);
    return 0;
}

static int print_entry(const kc_key_t *key, const kc_cache_rec_t *rec, kc_buf_t *line)
{
    char errstr[512], hex[KC_KEY_HEX_SIZE];

    kc_buf_reset(line);
    if (kc_cache_json_write(key, rec, line, errstr, sizeof(errstr)) != 0) {
        kc_key_hex(key, hex);
        fprintf(stderr, "%% entry %s: %s\n", hex, errstr);
        return 1;
    }
    kc_buf_puts(line, "\n");
    fwrite(line->data, 1, line->len, stdout);
    return 0;
}

static int cmd_key(const opts_t *o)
{
    char *norm = NULL, hex[KC_KEY_HEX_SIZE];
    size_t norm_len;
    kc_key_t key;
    int rc;

    if (o->nargs != 1) {
        fprintf(stderr, "%% key takes one QUERY argument (see --help)\n");
        return KC_EXIT_USAGE;
    }
    if ((rc = query_key(o, o->args[0], &norm, &norm_len, &key)) == 0) {
        kc_key_hex(&key, hex);
        printf("%s %s\n", hex, norm);
    }
    free(norm);
    return rc;
}

static int cmd_get(kc_lmdb_t *lm, const opts_t *o)
{
    char errstr[512], *norm = NULL;
    const char *cnorm;
    size_t norm_len;
    kc_key_t key;
    kc_cache_rec_t rec;
    kc_lmdb_stats_t st;
    kc_buf_t arena, line;
    int rc, hit;

    if (o->nargs != 1) {
        fprintf(stderr, "%% get takes one QUERY argument (see --help)\n");
        return KC_EXIT_USAGE;
    }
    if ((rc = query_key(o, o->args[0], &norm, &norm_len, &key)) != 0) {
        free(norm);
        return rc;
    }
    cnorm = norm;
    kc_buf_init(&arena);
    kc_buf_init(&line);
    rc = kc_lmdb_get_many(lm, &key, &cnorm, &norm_len, 1, kc_now_us(), &rec, &hit, &arena, errstr,
                          sizeof(errstr));
    if (rc) {
        fprintf(stderr, "%% %s\n", errstr);
        rc = 1;
    } else if (hit != 0) {
        kc_lmdb_stats(lm, &st, errstr, sizeof(errstr));
        fprintf(stderr, "%% not found%s\n", st.expired ? " (expired)" : "");
        rc = 1;
    } else {
        rc = print_entry(&key, &rec, &line);
    }
    kc_buf_free(&arena);
    kc_buf_free(&line);
    free(norm);
    return rc;
}

/* ------------------------------------------------------------------- purge */

static int cmd_purge(kc_lmdb_t *lm, const opts_t *o)
{
    char errstr[512];
    kc_lmdb_stats_t st;
    size_t purged = 0, total = 0;

    if (!o->expired) {
        if (kc_lmdb_clear(lm, &total, errstr, sizeof(errstr)) != 0) {
            fprintf(stderr, "%% %s\n", errstr);
            return 1;
        }
        fprintf(stderr, "%% purged all %zu entries\n", total);
        return 0;
    }
    if (kc_lmdb_stats(lm, &st, errstr, sizeof(errstr)) != 0) {
        fprintf(stderr, "%% %s\n", errstr);
        return 1;
    }
    /* Small steps, as the worker does, so a running worker is never blocked
     * for long; a step never examines an entry twice, so these cover all. */
    for (uint64_t steps = st.entries / PURGE_STEP + 1; steps > 0; steps--) {
        if (kc_lmdb_purge_step(lm, kc_now_us(), PURGE_STEP, &purged, errstr, sizeof(errstr))) {
            fprintf(stderr, "%% %s\n", errstr);
            return 1;
        }
        total += purged;
    }
    fprintf(stderr, "%% purged %zu expired entries\n", total);
    return 0;
}

/* ------------------------------------------------------------------ export */

typedef struct export_s {
    kc_buf_t line;
    size_t written, failed;
} export_t;

static int export_cb(void *opaque, const kc_key_t *key, const kc_cache_rec_t *rec)
{
    export_t *ex = opaque;

    if (print_entry(key, rec, &ex->line) != 0) {
        ex->failed++;
    } else {
        ex->written++;
    }
    return 0;
}

static int cmd_export(kc_lmdb_t *lm)
{
    export_t ex = {{NULL, 0, 0}, 0, 0};
    char errstr[512];
    int rc = kc_lmdb_foreach(lm, export_cb, &ex, errstr, sizeof(errstr));

    kc_buf_free(&ex.line);
    if (rc) {
        fprintf(stderr, "%% %s\n", errstr);
        return 1;
    }
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "%% writing to stdout failed\n");
        return 1;
    }
    fprintf(stderr, "%% exported %zu entries%s\n", ex.written, ex.failed ? ", some failed" : "");
    return ex.failed ? 1 : 0;
}

/* ------------------------------------------------------------------ import */

typedef struct import_s {
    kc_key_t keys[IMPORT_BATCH];
    kc_cache_rec_t recs[IMPORT_BATCH];
    kc_buf_t stores[IMPORT_BATCH];
    size_t n;
    size_t imported, kept, rejected;
} import_t;

static int import_flush(kc_lmdb_t *lm, import_t *im)
{
    char errstr[512];
    size_t written = 0;

    if (im->n == 0) {
        return 0;
    }
    if (kc_lmdb_import(lm, im->keys, im->recs, im->n, &written, errstr, sizeof(errstr)) != 0) {
        fprintf(stderr, "%% %s\n", errstr);
        return 1;
    }
    im->imported += written;
    im->kept += im->n - written;
    im->n = 0;
    return 0;
}

static bool blank(const char *s, size_t len)
{
    while (len > 0 &&
           (s[len - 1] == '\n' || s[len - 1] == '\r' || s[len - 1] == ' ' || s[len - 1] == '\t')) {
        len--;
    }
    return len == 0;
}

static int import_lines(kc_lmdb_t *lm, import_t *im)
{
    char *text = NULL, errstr[512];
    size_t cap = 0;
    ssize_t len;
    long lineno = 0;
    int rc = 0;

    while (rc == 0 && (len = getline(&text, &cap, stdin)) >= 0) {
        lineno++;
        if (blank(text, (size_t)len)) {
            continue;
        }
        if (kc_cache_json_parse(text, (size_t)len, &im->keys[im->n], &im->recs[im->n],
                                &im->stores[im->n], errstr, sizeof(errstr)) != 0) {
            fprintf(stderr, "%% line %ld: %s\n", lineno, errstr);
            im->rejected++;
            continue;
        }
        if (++im->n == IMPORT_BATCH) {
            rc = import_flush(lm, im);
        }
    }
    free(text);
    if (rc == 0 && ferror(stdin)) {
        fprintf(stderr, "%% reading stdin failed\n");
        rc = 1;
    }
    return rc ? rc : import_flush(lm, im);
}

static int cmd_import(kc_lmdb_t *lm)
{
    import_t *im = calloc(1, sizeof(*im));
    int rc;

    if (!im) {
        fprintf(stderr, "%% out of memory\n");
        return 1;
    }
    rc = import_lines(lm, im);
    fprintf(stderr,
            "%% imported %zu entries, kept %zu newer ones already cached, %zu lines "
            "rejected\n",
            im->imported, im->kept, im->rejected);
    for (size_t i = 0; i < IMPORT_BATCH; i++) {
        kc_buf_free(&im->stores[i]);
    }
    rc = rc ? rc : im->rejected ? 1 : 0;
    free(im);
    return rc;
}

/* -------------------------------------------------------------------- main */

static bool known_cmd(const opts_t *o)
{
    static const char *const cmds[] = {"stats", "get", "key", "purge", "export", "import"};

    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
        if (strcmp(o->cmd, cmds[i]) == 0) {
            return true;
        }
    }
    return false;
}

static int run(kc_lmdb_t *lm, const opts_t *o)
{
    if (strcmp(o->cmd, "get") == 0) {
        return cmd_get(lm, o);
    }
    if (o->nargs > 0) {
        fprintf(stderr, "%% %s takes no argument, got '%s'\n", o->cmd, o->args[0]);
        return KC_EXIT_USAGE;
    }
    if (strcmp(o->cmd, "stats") == 0) {
        return cmd_stats(lm);
    } else if (strcmp(o->cmd, "purge") == 0) {
        return cmd_purge(lm, o);
    } else if (strcmp(o->cmd, "export") == 0) {
        return cmd_export(lm);
    }
    return cmd_import(lm);
}

int main(int argc, char **argv)
{
    opts_t o = {0};
    char errstr[512], *owned[3] = {NULL, NULL, NULL};
    struct stat sb;
    kc_lmdb_t *lm;
    int rc;

    if ((rc = parse_args(argc, argv, &o)) != 0 || (rc = apply_conf_file(&o, owned)) != 0) {
        goto done;
    }
    if (!o.model) {
        o.model = "gpt-4o-mini"; /* llm.model's default */
    }
    rc = KC_EXIT_USAGE;
    if (!known_cmd(&o)) {
        fprintf(stderr, "%% unknown command '%s' (see --help)\n", o.cmd);
    } else if (strcmp(o.cmd, "key") == 0) {
        rc = cmd_key(&o); /* needs no cache */
    } else if (o.expired && strcmp(o.cmd, "purge") != 0) {
        fprintf(stderr, "%% --expired goes with purge\n");
    } else if (!o.path) {
        fprintf(stderr, "%% no cache directory: use -p DIR, or -F FILE with cache.lmdb.path\n");
    } else if (strcmp(o.cmd, "import") != 0 && stat(o.path, &sb) != 0) {
        /* Only import may create a cache; the others would make an empty one. */
        fprintf(stderr, "%% no cache at %s\n", o.path);
        rc = 1;
    } else if (!(lm = kc_lmdb_new(o.path, o.size_mb, errstr, sizeof(errstr)))) {
        fprintf(stderr, "%% %s\n", errstr);
        rc = KC_EXIT_UNAVAILABLE;
    } else {
        rc = run(lm, &o);
        kc_lmdb_destroy(lm); /* syncs */
    }
done:
    for (int i = 0; i < 3; i++) {
        free(owned[i]);
    }
    return rc;
}
