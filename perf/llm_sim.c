/*
 * kclassify-llm-sim: a SIMULATED OpenAI-compatible chat-completions server,
 * for tests and benchmarks only. It never runs a language model. Each query is
 * labelled from a labels file (exact match on the normalized query) or by the
 * libcore fallback classifier, and the answer goes back in the shape the
 * worker's client (libcore/kc_llm_proto.h) expects. Latency, concurrency
 * limits (429) and faults (500, hangs, fenced/shuffled/missing/invalid/garbage
 * content) are injected at configurable rates, reproducibly with --seed.
 * GET /stats reports what it saw, so tests can assert on LLM traffic.
 *
 * Files: see llm_sim.h.
 */
#include "llm_sim.h"

#include "kc_err.h"

#include <getopt.h>
#include <microhttpd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---------------------------------------------------------------- usage */

static void usage(FILE *fp)
{
    fprintf(fp,
            "Usage: kclassify-llm-sim [options]\n"
            "\n"
            "A SIMULATED OpenAI-compatible chat-completions server for kclassify tests and\n"
            "benchmarks. No language model is involved: queries are labelled from --labels\n"
            "(exact match on the normalized query) or by the libcore fallback classifier.\n"
            "\n"
            "Endpoints: POST /v1/chat/completions (also /chat/completions), GET /health,\n"
            "           GET /stats[?queries=1], POST /stats/reset\n"
            "\n"
            "Options (defaults in brackets):\n"
            "  --port N              listen port, 0 = pick a free one [8080]\n"
            "  --bind ADDR           loopback address to bind (127.0.0.0/8, ::1) [127.0.0.1]\n"
            "  --port-file PATH      write the bound port to PATH once listening [none]\n"
            "  --api-key KEY         require 'Authorization: Bearer KEY', else 401 [none]\n"
            "  --latency-ms MEDIAN   median of the lognormal per-call latency [0]\n"
            "  --jitter SIGMA        lognormal sigma of the latency [0.3]\n"
            "  --per-query-ms X      extra latency per query in the call [0]\n"
            "  --max-concurrency N   calls in flight beyond N get 429 + Retry-After, 0 = no "
            "limit [0]\n"
            "  --fail-500 P          per-call probability of a 500 error [0]\n"
            "  --fail-429 P          per-call probability of a 429 (rate limited) whatever the\n"
            "                        concurrency; a call drawn for both 500 and 429 gets 500 [0]\n"
            "  --retry-after S       Retry-After seconds of every 429 [1]\n"
            "  --hang P              per-call probability of sleeping --hang-ms first [0]\n"
            "  --hang-ms MS          how long a hang lasts [30000]\n"
            "  --drip-ms MS          send every 200 body slowly: 32 bytes, then MS of\n"
            "                        silence, and so on (a slow-drip server) [0]\n"
            "  --fenced P            per-call probability of ```json fences around content [0]\n"
            "  --shuffle P           per-call probability of shuffled result order [0]\n"
            "  --missing P           per-call probability of dropping one result [0]\n"
            "  --invalid-category P  per-result probability of category NOT_A_CATEGORY [0]\n"
            "  --garbage P           per-call probability of non-JSON content [0]\n"
            "  --seed N              seed for latency and faults, reproducible for a given call\n"
            "                        order [time-based]\n"
            "  --labels FILE         TSV of CATEGORY<TAB>query, '#' comments [none]\n"
            "  --taxonomy FILE       taxonomy JSON [embedded default taxonomy]\n"
            "  --verbose             log every call on stderr\n"
            "  --help                this text\n"
            "\n"
            "Prints LLM_SIM_PORT=<port> on stdout once listening; runs until SIGINT/SIGTERM.\n"
            "Hung calls are answered after --hang-ms but counted only in \"hangs\"; in /stats,\n"
            "calls = ok_calls + rejected_429 + errors_500 + hangs + bad_requests + unauthorized\n"
            "+ too_large, and queries/distinct_queries/per_query count 200 answers only.\n");
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
    OPT_SEED,
    OPT_LABELS,
    OPT_TAXONOMY,
    OPT_VERBOSE,
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
    exit(2);
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
    case OPT_FAIL_500:
        conf->fail_500 = opt_double(name, arg, 0, 1);
        break;
    case OPT_FAIL_429:
        conf->fail_429 = opt_double(name, arg, 0, 1);
        break;
    case OPT_RETRY_AFTER:
        conf->retry_after_s = (int)opt_int(name, arg, 0, 3600);
        break;
    case OPT_HANG:
        conf->hang = opt_double(name, arg, 0, 1);
        break;
    case OPT_HANG_MS:
        conf->hang_ms = opt_double(name, arg, 0, 3.6e6);
        break;
    case OPT_DRIP_MS:
        conf->drip_ms = opt_double(name, arg, 0, 60000);
        break;
    case OPT_FENCED:
        conf->fenced = opt_double(name, arg, 0, 1);
        break;
    case OPT_SHUFFLE:
        conf->shuffle = opt_double(name, arg, 0, 1);
        break;
    case OPT_MISSING:
        conf->missing = opt_double(name, arg, 0, 1);
        break;
    case OPT_INVALID:
        conf->invalid_category = opt_double(name, arg, 0, 1);
        break;
    case OPT_GARBAGE:
        conf->garbage = opt_double(name, arg, 0, 1);
        break;
    case OPT_SEED:
        conf->seed = (uint64_t)opt_int(name, arg, 0, INT64_MAX);
        conf->seed_set = true;
        break;
    default:
        return false;
    }
    return true;
}

static void parse_args(llm_sim_conf_t *conf, int argc, char **argv)
{
    *conf = (llm_sim_conf_t){
        .port = 8080, .bind = "127.0.0.1", .jitter = 0.3, .hang_ms = 30000, .retry_after_s = 1};
    int opt;
    while ((opt = getopt_long(argc, argv, "", long_opts, NULL)) != -1) {
        if (opt >= OPT_PORT && parse_number_opt(conf, opt, optarg)) {
            continue;
        }
        switch (opt) {
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
            exit(2);
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
        die("%s", errstr);
    }
    int port = llm_sim_http_port(daemon);
    if (sim.conf.port_file) {
        write_port_file(sim.conf.port_file, port);
    }
    printf("LLM_SIM_PORT=%d\n", port);
    fflush(stdout);
    if (sim.conf.verbose) {
        fprintf(stderr, "%% simulator listening on %s:%d, taxonomy %s, %zu labels\n", sim.conf.bind,
                port, sim.tx->name ? sim.tx->name : "?", sim.labels.cnt);
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
    llm_sim_stats_destroy(&sim.stats);
    llm_sim_map_clear(&sim.labels);
    kc_taxonomy_destroy(sim.tx);
    return 0;
}
