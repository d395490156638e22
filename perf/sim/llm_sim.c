/*
 * kclassify-llm-sim: a SIMULATED OpenAI-compatible chat-completions server,
 * for tests and benchmarks only. It never runs a language model. Each query is
 * labelled from a labels file (exact match on the normalized query) or by the
 * libcore fallback classifier, and the answer goes back in the shape the
 * worker's client (libcore/llm/kc_llm_proto.h) expects. Calls are priced like a
 * real server's (time to first token, prefill, one decode step per output
 * token slowed by the other decoding calls; a prefix cache; rpm/tpm rate
 * limits), or by a plain per-call latency (the fixed profile). Concurrency
 * limits (429) and faults (500, hangs, fenced/shuffled/missing/invalid/garbage
 * content) are injected at configurable rates, reproducibly with --seed.
 * GET /stats reports what it saw, so tests can assert on LLM traffic.
 *
 * Files: see llm_sim.h.
 */
#include "llm_sim.h"

#include "kc_err.h"
#include "kc_exit.h"
#include "kc_time.h"

#include <getopt.h>
#include <microhttpd.h>
#include <signal.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* -------------------------------------------------------------- profiles */

/** Named defaults: what kind of server the simulator stands for. */
typedef struct sim_profile_s {
    const char *name;
    const char *what;
    double ttft_ms, jitter, prefill_ms_per_token, decode_ms_per_token;
    int knee, max_concurrency;
    int64_t rpm, tpm;
} sim_profile_t;

static const sim_profile_t profiles[] = {
    {"fixed", "per-call lognormal --latency-ms, no token cost, no rate limits", 0, 0.3, 0, 0, 0, 0,
     0, 0},
    {"api", "a hosted API", 300, 0.25, 0.02, 12, 32, 64, 10000, 10000000},
    {"gpu", "a local vLLM-like server", 60, 0.2, 0.05, 20, 32, 256, 0, 0},
};

#define PROFILE_CNT (sizeof(profiles) / sizeof(profiles[0]))

static const sim_profile_t *profile_find(const char *name)
{
    for (size_t i = 0; i < PROFILE_CNT; i++) {
        if (strcmp(profiles[i].name, name) == 0) {
            return &profiles[i];
        }
    }
    return NULL;
}

static void profile_apply(llm_sim_conf_t *conf, const sim_profile_t *p)
{
    conf->profile = p->name;
    conf->ttft_ms = p->ttft_ms;
    conf->jitter = p->jitter;
    conf->prefill_ms_per_token = p->prefill_ms_per_token;
    conf->decode_ms_per_token = p->decode_ms_per_token;
    conf->knee = p->knee;
    conf->max_concurrency = p->max_concurrency;
    conf->rpm = p->rpm;
    conf->tpm = p->tpm;
}

static const char *const logprobs_modes[LLM_SIM_LOGPROBS_CNT] = {"on", "ignore", "reject"};

const char *llm_sim_logprobs_mode_name(llm_sim_logprobs_mode_t mode)
{
    return mode < LLM_SIM_LOGPROBS_CNT ? logprobs_modes[mode] : "?";
}

/* ---------------------------------------------------------------- usage */

static void usage_profiles(FILE *fp)
{
    fprintf(fp, "Profiles (--profile NAME sets these defaults; an option given explicitly wins,\n"
                "wherever it stands on the command line):\n");
    for (size_t i = 0; i < PROFILE_CNT; i++) {
        const sim_profile_t *p = &profiles[i];
        fprintf(fp, "  %-6s %s%s\n", p->name, p->what, i == 0 ? " [default]" : "");
        if (p->ttft_ms > 0 || p->decode_ms_per_token > 0) {
            fprintf(fp,
                    "         --ttft-ms %g --jitter %g --prefill-ms-per-token %g\n"
                    "         --decode-ms-per-token %g --knee %d --max-concurrency %d",
                    p->ttft_ms, p->jitter, p->prefill_ms_per_token, p->decode_ms_per_token, p->knee,
                    p->max_concurrency);
            if (p->rpm || p->tpm) {
                fprintf(fp, " --rpm %lld --tpm %lld", (long long)p->rpm, (long long)p->tpm);
            }
            fprintf(fp, "\n");
        } else {
            fprintf(fp, "         --jitter %g; latency from --latency-ms and --per-query-ms\n",
                    p->jitter);
        }
    }
}

static void usage(FILE *fp)
{
    fprintf(fp,
            "Usage: kclassify-llm-sim [options]\n"
            "\n"
            "A SIMULATED OpenAI-compatible chat-completions server for kclassify tests and\n"
            "benchmarks. No language model is involved: queries are labelled from --labels\n"
            "(exact match on the normalized query) or by the libcore fallback classifier.\n"
            "Each result carries the fields the request's response_format schema lists\n"
            "(items.properties: id, category, confidence, reasoning); without a schema, all.\n"
            "\n"
            "Endpoints: POST /v1/chat/completions (also /chat/completions), GET /health,\n"
            "           GET /stats[?queries=1], POST /stats/reset\n"
            "\n"
            "Options (defaults in brackets; the token-cost ones come from --profile):\n"
            "  --profile NAME        fixed|api|gpu, see below [fixed]\n"
            "  --port N              listen port, 0 = pick a free one [8080]\n"
            "  --bind ADDR           loopback address to bind (127.0.0.0/8, ::1) [127.0.0.1]\n"
            "  --port-file PATH      write the bound port to PATH once listening [none]\n"
            "  --api-key KEY         require 'Authorization: Bearer KEY', else 401 [none]\n"
            "  --latency-ms MEDIAN   median of the lognormal per-call latency; with the token\n"
            "                        model an extra per-call overhead on top of it [0]\n"
            "  --jitter SIGMA        lognormal sigma of the latency and of the TTFT [0.3]\n"
            "  --per-query-ms X      extra latency per query in the call [0]\n"
            "  --ttft-ms MS          token model: median time to first token [0]\n"
            "  --prefill-ms-per-token MS  token model: per uncached prompt token [0]\n"
            "  --decode-ms-per-token MS   token model: per output token, one at a time [0]\n"
            "  --knee N              decoding calls a decode step serves at full speed;\n"
            "                        beyond, each step takes D/N times longer; 0 = never [0]\n"
            "  --max-concurrency N   calls in flight beyond N get 429 + Retry-After, 0 = no "
            "limit [0]\n"
            "  --rpm N               requests per minute (token bucket, starts full), 0 = off [0]\n"
            "  --tpm N               tokens per minute: prompt + max_tokens (else 40 per query)\n"
            "                        at admission, settled to the tokens used; 0 = off [0]\n"
            "  --logprobs MODE       on: return logprobs when asked; ignore: accept the\n"
            "                        parameter, return none; reject: 400 unsupported_parameter "
            "[on]\n"
            "  --fail-500 P          per-call probability of a 500 error [0]\n"
            "  --fail-429 P          per-call probability of a 429 (rate limited) whatever the\n"
            "                        concurrency; a call drawn for both 500 and 429 gets 500 [0]\n"
            "  --retry-after S       Retry-After seconds of the concurrency and injected 429s [1]\n"
            "  --hang P              per-call probability of sleeping --hang-ms first [0]\n"
            "  --hang-ms MS          how long a hang lasts [30000]\n"
            "  --drip-ms MS          send every 200 body slowly: 32 bytes, then MS of\n"
            "                        silence, and so on (a slow-drip server) [0]\n"
            "  --fenced P            per-call probability of ```json fences around content [0]\n"
            "  --shuffle P           per-call probability of shuffled result order [0]\n"
            "  --missing P           per-call probability of dropping one result [0]\n"
            "  --invalid-category P  per-result probability of category NOT_A_CATEGORY [0]\n"
            "  --invalid-one P       per-call probability that exactly one (random) result gets\n"
            "                        category NOT_A_CATEGORY [0]\n"
            "  --garbage P           per-call probability of non-JSON content [0]\n"
            "  --seed N              seed for latency and faults, reproducible for a given call\n"
            "                        order [time-based]\n"
            "  --labels FILE         TSV of CATEGORY<TAB>query, '#' comments [none]\n"
            "  --taxonomy FILE       taxonomy JSON [embedded default taxonomy]\n"
            "  --verbose             log every call on stderr\n"
            "  --help                this text\n"
            "\n");
    usage_profiles(fp);
    fprintf(
        fp,
        "\n"
        "Tokens (no real tokenizer; about 4 bytes per token): prompt tokens = sum over\n"
        "messages of ceil(content bytes / 4) + 4, plus ceil(bytes of the compact\n"
        "response_format JSON / 4). The answer is cut into consecutive 4-byte pieces,\n"
        "extended so a piece never splits a UTF-8 character: completion tokens = pieces,\n"
        "and logprobs have one entry per piece. max_tokens / max_completion_tokens cut the\n"
        "answer to that many pieces (finish_reason \"length\"). Prefix cache: the first\n"
        "system message + response_format; a prefix seen before (the last 256 kept)\n"
        "reports usage.prompt_tokens_details.cached_tokens = its tokens and costs no\n"
        "prefill.\n"
        "\n"
        "Latency of a 200 (sent whole at the end): per-query-ms x queries + (latency-ms +\n"
        "ttft-ms) x lognormal(jitter) + prefill-ms-per-token x uncached prompt tokens, then\n"
        "one decode step per output token, each decode-ms-per-token x max(1, D / knee)\n"
        "with D the calls decoding at that moment (re-read every few tokens). The token\n"
        "model is on when ttft, prefill or decode is non-zero; --latency-ms and\n"
        "--per-query-ms (0 unless given) then add to it. --hang adds --hang-ms.\n"
        "\n"
        "Logprobs: the piece holding a category value's first byte gets ln(confidence) of\n"
        "that query; its top_logprobs alternatives are the other categories written from\n"
        "the same byte. Other pieces get -0.0001 and one dummy alternative at -12.\n"
        "\n"
        "Rate limits (--rpm/--tpm): a short bucket gives 429 with Retry-After (seconds until\n"
        "enough refills) and type \"requests\" or \"tokens\"; every chat response then carries\n"
        "x-ratelimit-{limit,remaining,reset}-{requests,tokens} for the configured ones.\n"
        "Concurrency and injected 429s do not spend tokens.\n"
        "\n"
        "Prints LLM_SIM_PORT=<port> on stdout once listening; runs until SIGINT/SIGTERM.\n"
        "Hung calls are answered after --hang-ms but counted only in \"hangs\"; in /stats,\n"
        "calls = ok_calls + rejected_429 + errors_500 + hangs + bad_requests + unauthorized\n"
        "+ too_large, rejected_429 = the sum of rejected_429_by_kind, and\n"
        "queries/distinct_queries/per_query/*_tokens count 200 answers only. /stats also\n"
        "has the profile and its cost parameters, rate_limits (buckets now), truncated,\n"
        "logprobs (requests/answered/ignored/rejected), max_decoding_seen, and the time\n"
        "slept per phase: ttft_ms_total (to the first token, prefill excluded),\n"
        "prefill_ms_total, decode_ms_total over decode_tokens, decode_slowdown_mean (decode\n"
        "time / (decode-ms-per-token x tokens): how much the knee stretched it).\n");
}

/* --------------------------------------------------------------- options */

enum {
    OPT_PORT = 256,
    OPT_BIND,
    OPT_PORT_FILE,
    OPT_API_KEY,
    OPT_LATENCY,
    OPT_JITTER,
    OPT_PER_QUERY,
    OPT_MAX_CONC,
    OPT_FAIL_500,
    OPT_FAIL_429,
    OPT_RETRY_AFTER,
    OPT_HANG,
    OPT_HANG_MS,
    OPT_DRIP_MS,
    OPT_FENCED,
    OPT_SHUFFLE,
    OPT_MISSING,
    OPT_INVALID,
    OPT_GARBAGE,
    OPT_INVALID_ONE,
    OPT_TTFT,
    OPT_PREFILL,
    OPT_DECODE,
    OPT_KNEE,
    OPT_RPM,
    OPT_TPM,
    OPT_SEED,
    OPT_LABELS,
    OPT_TAXONOMY,
    OPT_VERBOSE,
    OPT_PROFILE,
    OPT_LOGPROBS,
    OPT_HELP,
};

static const struct option long_opts[] = {
    {"port", required_argument, NULL, OPT_PORT},
    {"bind", required_argument, NULL, OPT_BIND},
    {"port-file", required_argument, NULL, OPT_PORT_FILE},
    {"api-key", required_argument, NULL, OPT_API_KEY},
    {"latency-ms", required_argument, NULL, OPT_LATENCY},
    {"jitter", required_argument, NULL, OPT_JITTER},
    {"per-query-ms", required_argument, NULL, OPT_PER_QUERY},
    {"max-concurrency", required_argument, NULL, OPT_MAX_CONC},
    {"fail-500", required_argument, NULL, OPT_FAIL_500},
    {"fail-429", required_argument, NULL, OPT_FAIL_429},
    {"retry-after", required_argument, NULL, OPT_RETRY_AFTER},
    {"hang", required_argument, NULL, OPT_HANG},
    {"hang-ms", required_argument, NULL, OPT_HANG_MS},
    {"drip-ms", required_argument, NULL, OPT_DRIP_MS},
    {"fenced", required_argument, NULL, OPT_FENCED},
    {"shuffle", required_argument, NULL, OPT_SHUFFLE},
    {"missing", required_argument, NULL, OPT_MISSING},
    {"invalid-category", required_argument, NULL, OPT_INVALID},
    {"garbage", required_argument, NULL, OPT_GARBAGE},
    {"invalid-one", required_argument, NULL, OPT_INVALID_ONE},
    {"ttft-ms", required_argument, NULL, OPT_TTFT},
    {"prefill-ms-per-token", required_argument, NULL, OPT_PREFILL},
    {"decode-ms-per-token", required_argument, NULL, OPT_DECODE},
    {"knee", required_argument, NULL, OPT_KNEE},
    {"rpm", required_argument, NULL, OPT_RPM},
    {"tpm", required_argument, NULL, OPT_TPM},
    {"profile", required_argument, NULL, OPT_PROFILE},
    {"logprobs", required_argument, NULL, OPT_LOGPROBS},
    {"seed", required_argument, NULL, OPT_SEED},
    {"labels", required_argument, NULL, OPT_LABELS},
    {"taxonomy", required_argument, NULL, OPT_TAXONOMY},
    {"verbose", no_argument, NULL, OPT_VERBOSE},
    {"help", no_argument, NULL, OPT_HELP},
    {NULL, 0, NULL, 0},
};

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%% kclassify-llm-sim: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(KC_EXIT_USAGE);
}

static const char *opt_name(int val)
{
    for (const struct option *o = long_opts; o->name; o++) {
        if (o->val == val) {
            return o->name;
        }
    }
    return "?";
}

static double opt_double(const char *name, const char *arg, double min, double max)
{
    char *end;
    double v = strtod(arg, &end);
    if (end == arg || *end != '\0' || !(v >= min && v <= max)) {
        die("--%s: bad value \"%s\"", name, arg);
    }
    return v;
}

static long long opt_int(const char *name, const char *arg, long long min, long long max)
{
    char *end;
    long long v = strtoll(arg, &end, 10);
    if (end == arg || *end != '\0' || v < min || v > max) {
        die("--%s: bad value \"%s\"", name, arg);
    }
    return v;
}

/* Per-call and per-result probabilities; false for other options. */
static bool parse_fault_opt(llm_sim_conf_t *conf, int opt, const char *arg)
{
    static const struct {
        int opt;
        size_t off;
    } rates[] = {
        {OPT_FAIL_500, offsetof(llm_sim_conf_t, fail_500)},
        {OPT_FAIL_429, offsetof(llm_sim_conf_t, fail_429)},
        {OPT_HANG, offsetof(llm_sim_conf_t, hang)},
        {OPT_FENCED, offsetof(llm_sim_conf_t, fenced)},
        {OPT_SHUFFLE, offsetof(llm_sim_conf_t, shuffle)},
        {OPT_MISSING, offsetof(llm_sim_conf_t, missing)},
        {OPT_INVALID, offsetof(llm_sim_conf_t, invalid_category)},
        {OPT_INVALID_ONE, offsetof(llm_sim_conf_t, invalid_one)},
        {OPT_GARBAGE, offsetof(llm_sim_conf_t, garbage)},
    };
    for (size_t i = 0; i < sizeof(rates) / sizeof(rates[0]); i++) {
        if (rates[i].opt == opt) {
            *(double *)((char *)conf + rates[i].off) = opt_double(opt_name(opt), arg, 0, 1);
            return true;
        }
    }
    return false;
}

/* The token model and the rate limits; false for other options. */
static bool parse_cost_opt(llm_sim_conf_t *conf, int opt, const char *arg)
{
    const char *name = opt_name(opt);
    switch (opt) {
    case OPT_TTFT:
        conf->ttft_ms = opt_double(name, arg, 0, 3.6e6);
        break;
    case OPT_PREFILL:
        conf->prefill_ms_per_token = opt_double(name, arg, 0, 60000);
        break;
    case OPT_DECODE:
        conf->decode_ms_per_token = opt_double(name, arg, 0, 60000);
        break;
    case OPT_KNEE:
        conf->knee = (int)opt_int(name, arg, 0, 1000000);
        break;
    case OPT_RPM:
        conf->rpm = opt_int(name, arg, 0, INT64_C(1) << 40);
        break;
    case OPT_TPM:
        conf->tpm = opt_int(name, arg, 0, INT64_C(1) << 40);
        break;
    default:
        return false;
    }
    return true;
}

/* Returns false for options that are not numbers, so the caller handles them. */
static bool parse_number_opt(llm_sim_conf_t *conf, int opt, const char *arg)
{
    const char *name = opt_name(opt);
    switch (opt) {
    case OPT_PORT:
        conf->port = (int)opt_int(name, arg, 0, 65535);
        break;
    case OPT_LATENCY:
        conf->latency_ms = opt_double(name, arg, 0, 3.6e6);
        break;
    case OPT_JITTER:
        conf->jitter = opt_double(name, arg, 0, 10);
        break;
    case OPT_PER_QUERY:
        conf->per_query_ms = opt_double(name, arg, 0, 3.6e6);
        break;
    case OPT_MAX_CONC:
        conf->max_concurrency = (int)opt_int(name, arg, 0, 1000000);
        break;
    case OPT_RETRY_AFTER:
        conf->retry_after_s = (int)opt_int(name, arg, 0, 3600);
        break;
    case OPT_HANG_MS:
        conf->hang_ms = opt_double(name, arg, 0, 3.6e6);
        break;
    case OPT_DRIP_MS:
        conf->drip_ms = opt_double(name, arg, 0, 60000);
        break;
    case OPT_SEED:
        conf->seed = (uint64_t)opt_int(name, arg, 0, INT64_MAX);
        conf->seed_set = true;
        break;
    default:
        return parse_fault_opt(conf, opt, arg) || parse_cost_opt(conf, opt, arg);
    }
    return true;
}

static llm_sim_logprobs_mode_t logprobs_mode_parse(const char *arg)
{
    for (int i = 0; i < LLM_SIM_LOGPROBS_CNT; i++) {
        if (strcmp(arg, logprobs_modes[i]) == 0) {
            return (llm_sim_logprobs_mode_t)i;
        }
    }
    die("--logprobs: \"%s\" is not on, ignore or reject", arg);
}

/* The profile first, whatever its place on the command line, so that every
 * option given explicitly overrides it. */
static const sim_profile_t *profile_prescan(int argc, char **argv)
{
    const char *name = "fixed";
    int opt;
    opterr = 0; /* the real pass reports errors */
    while ((opt = getopt_long(argc, argv, "", long_opts, NULL)) != -1) {
        if (opt == OPT_PROFILE) {
            name = optarg;
        }
    }
    opterr = 1;
    optind = 0; /* glibc: start over, fully re-initialized */
    const sim_profile_t *p = profile_find(name);
    if (!p) {
        die("--profile: unknown profile \"%s\" (fixed, api, gpu)", name);
    }
    return p;
}

static void parse_args(llm_sim_conf_t *conf, int argc, char **argv)
{
    *conf = (llm_sim_conf_t){
        .port = 8080, .bind = "127.0.0.1", .jitter = 0.3, .hang_ms = 30000, .retry_after_s = 1};
    profile_apply(conf, profile_prescan(argc, argv));
    int opt;
    while ((opt = getopt_long(argc, argv, "", long_opts, NULL)) != -1) {
        if (opt >= OPT_PORT && parse_number_opt(conf, opt, optarg)) {
            continue;
        }
        switch (opt) {
        case OPT_PROFILE:
            break; /* applied by profile_prescan() */
        case OPT_LOGPROBS:
            conf->logprobs = logprobs_mode_parse(optarg);
            break;
        case OPT_BIND:
            conf->bind = optarg;
            break;
        case OPT_PORT_FILE:
            conf->port_file = optarg;
            break;
        case OPT_API_KEY:
            conf->api_key = optarg;
            break;
        case OPT_LABELS:
            conf->labels = optarg;
            break;
        case OPT_TAXONOMY:
            conf->taxonomy = optarg;
            break;
        case OPT_VERBOSE:
            conf->verbose = true;
            break;
        case OPT_HELP:
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            exit(KC_EXIT_USAGE);
        }
    }
    if (optind < argc) {
        die("unexpected argument \"%s\"", argv[optind]);
    }
    if (!conf->seed_set) {
        conf->seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    }
}

/* ----------------------------------------------------------------- setup */

static void load_data(llm_sim_t *sim)
{
    char errstr[512];
    if (sim->conf.taxonomy) {
        sim->tx = kc_taxonomy_load(sim->conf.taxonomy, errstr, sizeof(errstr));
        if (!sim->tx) {
            die("--taxonomy: %s", errstr);
        }
    } else if (!(sim->tx = kc_taxonomy_new_default())) {
        die("out of memory");
    }
    if (sim->conf.labels &&
        llm_sim_labels_load(sim->conf.labels, sim->tx, &sim->labels, errstr, sizeof(errstr))) {
        die("--labels: %s", errstr);
    }
}

/* Written to a temporary name first, so a polling script never reads half a file. */
static void write_port_file(const char *path, int port)
{
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid());
    FILE *fp = fopen(tmp, "w");
    if (!fp || fprintf(fp, "%d\n", port) < 0 || fclose(fp) != 0 || rename(tmp, path) != 0) {
        die("--port-file %s: cannot write", path);
    }
}

int main(int argc, char **argv)
{
    static llm_sim_t sim; /* static: shared with every connection thread */
    char errstr[512];
    parse_args(&sim.conf, argc, argv);
    llm_sim_map_init(&sim.labels);
    load_data(&sim);
    llm_sim_stats_init(&sim.stats);
    llm_sim_prefix_cache_init(&sim.prefixes);
    llm_sim_limits_init(&sim.limits, sim.conf.rpm, sim.conf.tpm, kc_mono_us());

    /* Block the stop signals before MHD starts its threads, so that only
     * sigwait() below ever sees them. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct MHD_Daemon *daemon = llm_sim_http_start(&sim, errstr, sizeof(errstr));
    if (!daemon) {
        fprintf(stderr, "%% kclassify-llm-sim: %s\n", errstr);
        exit(KC_EXIT_UNAVAILABLE);
    }
    int port = llm_sim_http_port(daemon);
    if (sim.conf.port_file) {
        write_port_file(sim.conf.port_file, port);
    }
    printf("LLM_SIM_PORT=%d\n", port);
    fflush(stdout);
    if (sim.conf.verbose) {
        fprintf(stderr, "%% simulator listening on %s:%d, profile %s, taxonomy %s, %zu labels\n",
                sim.conf.bind, port, sim.conf.profile, sim.tx->name ? sim.tx->name : "?",
                sim.labels.cnt);
    }

    siginfo_t si;
    while (sigwaitinfo(&stop, &si) < 0) {
        /* EINTR: keep waiting */
    }
    /* Always logged: on a shared machine, who sent the signal matters. */
    fprintf(stderr, "%% kclassify-llm-sim stopping: signal %d from pid %d\n", si.si_signo,
            (int)si.si_pid);
    atomic_store(&sim.stopping, true); /* cut short sleeping handlers */
    MHD_stop_daemon(daemon);
    llm_sim_limits_destroy(&sim.limits);
    llm_sim_prefix_cache_destroy(&sim.prefixes);
    llm_sim_stats_destroy(&sim.stats);
    llm_sim_map_clear(&sim.labels);
    kc_taxonomy_destroy(sim.tx);
    return 0;
}
