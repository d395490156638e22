/**
 * kclassify-bench: open-loop load generator, embedded-stack runner,
 * validation levels and reports for kclassify.
 *
 *   kclassify-bench run -b BROKERS [--sim URL] [--metrics URL]... [load options]
 *   kclassify-bench stack [stack options] [load options] [--naive]
 *   kclassify-bench validate --level basic|standard|comprehensive|production
 *                   --target-ms N [stack options]
 *
 * Diagnostics go to stderr prefixed with "% "; the summary table to stdout.
 * Exit (kc_exit.h): 0 ok (validate: PASS), 1 requests lost / not answered
 * (validate: FAIL), 64 usage error, 69 the stack could not be started.
 */
#include "bench.h"

#include "kc_err.h"
#include "kc_time.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

volatile int bench_interrupted;

static void on_signal(int sig)
{
    (void)sig;
    bench_interrupted++;
}

typedef struct opts_s {
    const char *cmd;
    bench_load_t load;
    bench_stack_opts_t stack;
    bench_target_t tg;
    bench_report_opts_t ro;
    const char *level;
    double target_ms;
    char *metrics[BENCH_MAX_WORKERS];
    bool salt_set, linger_set, fetch_set, llm_profile_set;
    bool prewarm;
    int32_t naive_deadline_ms; /* deadline_ms of the naive run's requests */
    char cmdline[4096];
} opts_t;

static void usage(FILE *fp)
{
    fprintf(
        fp,
        "Usage: kclassify-bench run -b BROKERS [--sim URL] [--metrics URL]... [load] [report]\n"
        "       kclassify-bench stack [stack] [load] [report] [--naive]\n"
        "       kclassify-bench validate --level LEVEL --target-ms N [stack] [report]\n"
        "\n"
        "Open-loop load generator: requests are sent on a schedule whatever the replies do,\n"
        "and latency is measured from each request's INTENDED send time to its reply, so a\n"
        "stall cannot hide (no coordinated omission). Replies are read from the reply topic,\n"
        "assigned at its high watermarks before the first send.\n"
        "\n"
        "Load:\n"
        "  --pattern P        constant|ramp|burst|spike|wave|random [constant]\n"
        "                     ramp: --rate to --peak over the run; burst: --peak for the first\n"
        "                     tenth of every --period, else --rate; spike: --peak from 40%% to\n"
        "                     50%% of the run; wave: sinusoid --rate..--peak with --period;\n"
        "                     random: a seeded level in --rate..--peak each --period, Poisson\n"
        "                     arrivals\n"
        "  --rate R           base requests/s [100]      --peak R     peak requests/s [= rate]\n"
        "  --duration S       seconds [10]               --period S   seconds [10]\n"
        "  --seed N           schedule and mix seed [1]  --count N    stop after N requests\n"
        "  --queries FILE     one query per line (sampled by --zipf, or in order)\n"
        "  --labelled FILE    CATEGORY<TAB>query lines: queries with expected categories\n"
        "  --distinct N       synthetic queries: N distinct ones (0 = every request new) [0]\n"
        "  --zipf S           zipf exponent over the distinct queries (0 = uniform) [0]\n"
        "  --repeat P         a share P of requests repeats an earlier query, the rest are new\n"
        "  --sequential       send the queries in order instead of sampling\n"
        "  --priority-mix L:N:H  weights of LOW:NORMAL:HIGH [0:1:0]\n"
        "  --deadline-ms N    deadline_ms of every request (0 = worker default) [0]\n"
        "  --salt N           makes synthetic queries unique [time-based]\n"
        "\n"
        "Target (run):\n"
        "  -b BROKERS         bootstrap servers     -t TOPIC   requests topic\n"
        "  --replies TOPIC    reply topic [kclassify.replies]\n"
        "  --sim URL          LLM simulator base (http://host:port) for /stats\n"
        "  --metrics URL      a worker's /metrics URL (repeatable)\n"
        "  --linger-ms N      producer linger [1]   --fetch-wait-ms N  reply fetch wait [5]\n"
        "  --drain-ms N       wait for replies after the last send [max(5000, 2 x deadline)]\n"
        "  --tick-us N        shortest sleep of the send loop: requests due within it go out\n"
        "                     together (fewer wake-ups; the lag counts in latency) [500]\n"
        "\n"
        "Stack (stack, validate): mock Kafka, redis-server, LLM simulator, workers, stopped\n"
        "at the end (only the processes the bench started):\n"
        "  --workers N        [1]      --partitions N   per topic [4]\n"
        "  --llm-profile NAME the LLM simulator's --profile [api]: fixed (a per-call\n"
        "                     lognormal latency), api (a hosted API: TTFT, per-token prefill\n"
        "                     and decode, knee, 64 concurrent, rpm/tpm limits), gpu (a local\n"
        "                     vLLM-like server); kclassify-llm-sim --help has the values\n"
        "  --llm-latency-ms M simulator --latency-ms (fixed: the median latency; api/gpu: an\n"
        "                     extra per-call overhead) [the profile's]\n"
        "  --llm-jitter S     simulator --jitter [the profile's]\n"
        "  --llm-max-concurrency N  simulator 429 limit, 0 = none [the profile's]\n"
        "  --llm-arg ARG      pass ARG to the simulator verbatim (repeatable), e.g.\n"
        "                     --llm-arg=--fail-500=0.15 or --llm-arg=--tpm=200000\n"
        "  --no-redis / --no-lmdb   leave the L3 / L2 cache out\n"
        "  --kafka mock|real  librdkafka's mock cluster [mock], or Apache Kafka 4.1.1 (KRaft,\n"
        "                     one node) through scripts/kafka.sh ($KC_KAFKA_SH overrides where)\n"
        "  -X KEY=VALUE       worker property (repeatable)   -c FILE  worker properties file\n"
        "  --passthrough      kclassify-passthrough in the workers' place: every request\n"
        "                     copied to the reply topic, no logic (the Kafka ceiling of the\n"
        "                     hit path; its kafka.* -X properties apply)\n"
        "  --prewarm          before the measured run, send every distinct query once (not\n"
        "                     measured) so the run starts with warm caches\n"
        "  --naive            also run the same load against naive workers (%s...) and\n"
        "                     print both side by side with ratios\n"
        "  --naive-deadline-ms N  deadline_ms the naive run's requests carry [120000]: a\n"
        "                     naive system waits for the LLM; give the optimized run's\n"
        "                     deadline (e.g. 2000) to keep our deadline fallback there too\n"
        "\n"
        "Report:\n"
        "  --out DIR          report directory [bench-report]   --name NAME  run name\n"
        "  --no-csv           no CSV of every request   --no-plots  no gnuplot plots\n"
        "  --target-ms N      latency target for the grade (A+..F) [0 = no grade]\n"
        "\n"
        "Validate levels (each a fixed sequence on one stack; see perf/RESULTS.md):\n"
        "  basic          functional (labelled set), cache effectiveness, consistency\n"
        "  standard       basic + concurrency burst + 30 s wave\n"
        "  comprehensive  standard + 120 s wave 250..1,500 req/s + ramp to 30,000 req/s (knee)\n"
        "  production     standard + 300 s wave 500..3,000 req/s + ramp to 60,000 req/s;\n"
        "                 every graded run must be B or better\n"
        "  validate defaults to --linger-ms 5, --fetch-wait-ms 20 and -X kafka.linger.ms=5\n"
        "  for the workers (fewer, bigger message sets for the mock cluster), and to the\n"
        "  LLM its levels were sized for: --llm-profile fixed --llm-latency-ms 300\n"
        "  --llm-max-concurrency 8; set them to override.\n"
        "  Verdict PASS (exit 0) when every check passes and every run grades C or\n"
        "  better (production: B); FAIL (exit 1) otherwise; exit 69 when it cannot run\n"
        "  (64: a usage error).\n",
        bench_naive_props[0]);
}

/* ------------------------------------------------------------------ parsing */

static int num(const char *s, double lo, double hi, double *out)
{
    char *end;

    errno = 0;
    *out = strtod(s, &end);
    if (errno || end == s || *end || !(*out >= lo && *out <= hi)) {
        fprintf(stderr, "%% invalid number '%s' (expected %g..%g)\n", s, lo, hi);
        return -1;
    }
    return 0;
}

static int prio_mix(const char *s, double w[3])
{
    if (sscanf(s, "%lf:%lf:%lf", &w[0], &w[1], &w[2]) != 3 || w[0] < 0 || w[1] < 0 || w[2] < 0 ||
        w[0] + w[1] + w[2] <= 0) {
        fprintf(stderr, "%% invalid --priority-mix '%s': expected L:N:H weights\n", s);
        return -1;
    }
    return 0;
}

enum {
    O_PATTERN = 256,
    O_RATE,
    O_PEAK,
    O_DURATION,
    O_PERIOD,
    O_SEED,
    O_COUNT,
    O_QUERIES,
    O_LABELLED,
    O_DISTINCT,
    O_ZIPF,
    O_REPEAT,
    O_SEQ,
    O_PRIO,
    O_DEADLINE,
    O_SALT,
    O_REPLIES,
    O_SIM,
    O_METRICS,
    O_LINGER,
    O_FETCH,
    O_DRAIN,
    O_WORKERS,
    O_PARTS,
    O_LLMLAT,
    O_LLMJIT,
    O_LLMCONC,
    O_NOREDIS,
    O_NOLMDB,
    O_NAIVE,
    O_OUT,
    O_NAME,
    O_NOCSV,
    O_NOPLOTS,
    O_TARGET,
    O_LEVEL,
    O_TICK,
    O_PREWARM,
    O_NAIVE_DL,
    O_LLMPROFILE,
    O_LLMARG,
    O_KAFKA,
    O_PASSTHROUGH
};

static const struct option longopts[] = {{"pattern", 1, 0, O_PATTERN},
                                         {"rate", 1, 0, O_RATE},
                                         {"peak", 1, 0, O_PEAK},
                                         {"duration", 1, 0, O_DURATION},
                                         {"period", 1, 0, O_PERIOD},
                                         {"seed", 1, 0, O_SEED},
                                         {"count", 1, 0, O_COUNT},
                                         {"queries", 1, 0, O_QUERIES},
                                         {"labelled", 1, 0, O_LABELLED},
                                         {"distinct", 1, 0, O_DISTINCT},
                                         {"zipf", 1, 0, O_ZIPF},
                                         {"repeat", 1, 0, O_REPEAT},
                                         {"sequential", 0, 0, O_SEQ},
                                         {"priority-mix", 1, 0, O_PRIO},
                                         {"deadline-ms", 1, 0, O_DEADLINE},
                                         {"salt", 1, 0, O_SALT},
                                         {"replies", 1, 0, O_REPLIES},
                                         {"sim", 1, 0, O_SIM},
                                         {"metrics", 1, 0, O_METRICS},
                                         {"linger-ms", 1, 0, O_LINGER},
                                         {"fetch-wait-ms", 1, 0, O_FETCH},
                                         {"drain-ms", 1, 0, O_DRAIN},
                                         {"workers", 1, 0, O_WORKERS},
                                         {"partitions", 1, 0, O_PARTS},
                                         {"llm-latency-ms", 1, 0, O_LLMLAT},
                                         {"llm-jitter", 1, 0, O_LLMJIT},
                                         {"llm-max-concurrency", 1, 0, O_LLMCONC},
                                         {"llm-profile", 1, 0, O_LLMPROFILE},
                                         {"llm-arg", 1, 0, O_LLMARG},
                                         {"kafka", 1, 0, O_KAFKA},
                                         {"passthrough", 0, 0, O_PASSTHROUGH},
                                         {"no-redis", 0, 0, O_NOREDIS},
                                         {"no-lmdb", 0, 0, O_NOLMDB},
                                         {"naive", 0, 0, O_NAIVE},
                                         {"out", 1, 0, O_OUT},
                                         {"name", 1, 0, O_NAME},
                                         {"no-csv", 0, 0, O_NOCSV},
                                         {"no-plots", 0, 0, O_NOPLOTS},
                                         {"target-ms", 1, 0, O_TARGET},
                                         {"level", 1, 0, O_LEVEL},
                                         {"tick-us", 1, 0, O_TICK},
                                         {"prewarm", 0, 0, O_PREWARM},
                                         {"naive-deadline-ms", 1, 0, O_NAIVE_DL},
                                         {"help", 0, 0, 'h'},
                                         {0, 0, 0, 0}};

/* Options of the load; @returns 1 if c was not a load option, -1 on error. */
static int opt_load(opts_t *o, int c, const char *a)
{
    bench_load_t *ld = &o->load;
    double v;

    switch (c) {
    case O_PATTERN:
        if (bench_pattern_parse(a, &ld->pattern) != 0) {
            fprintf(stderr, "%% unknown --pattern '%s'\n", a);
            return -1;
        }
        return 0;
    case O_RATE:
        return num(a, 0, 1e7, &ld->rate);
    case O_PEAK:
        return num(a, 0, 1e7, &ld->peak);
    case O_DURATION:
        return num(a, 0.001, 86400, &ld->duration_s);
    case O_PERIOD:
        return num(a, 0.001, 86400, &ld->period_s);
    case O_SEED:
        return num(a, 0, 1e18, &v) ? -1 : (ld->seed = (uint64_t)v, 0);
    case O_COUNT:
        return num(a, 1, 1e9, &v) ? -1 : (ld->count = (uint64_t)v, 0);
    case O_QUERIES:
        ld->queries_file = a;
        ld->labelled = false;
        return 0;
    case O_LABELLED:
        ld->queries_file = a;
        ld->labelled = true;
        return 0;
    case O_DISTINCT:
        return num(a, 0, 1e9, &v) ? -1 : (ld->distinct = (uint64_t)v, 0);
    case O_ZIPF:
        return num(a, 0, 10, &ld->zipf);
    case O_REPEAT:
        return num(a, 0, 1, &ld->repeat);
    case O_SEQ:
        ld->sequential = true;
        return 0;
    case O_PRIO:
        return prio_mix(a, ld->prio);
    case O_DEADLINE:
        return num(a, 0, 3600000, &v) ? -1 : (ld->deadline_ms = (int32_t)v, 0);
    case O_SALT:
        o->salt_set = true;
        return num(a, 0, 1e18, &v) ? -1 : (ld->salt = (uint64_t)v, 0);
    default:
        return 1;
    }
}

/* The simulator is the authority on profiles; checking the name here turns a
 * typo into a usage error instead of a stack that does not start. */
static int llm_profile_check(const char *name)
{
    static const char *const known[] = {"fixed", "api", "gpu"};

    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
        if (strcmp(name, known[i]) == 0) {
            return 0;
        }
    }
    fprintf(stderr, "%% unknown --llm-profile '%s' (fixed, api, gpu)\n", name);
    return -1;
}

static int opt_stack(opts_t *o, int c, const char *a)
{
    bench_stack_opts_t *so = &o->stack;
    double v;

    switch (c) {
    case 'X':
        if (so->prop_cnt >= BENCH_MAX_PROPS || !strchr(a, '=')) {
            fprintf(stderr, "%% -X %s: expected KEY=VALUE (at most %d)\n", a, BENCH_MAX_PROPS);
            return -1;
        }
        so->props[so->prop_cnt++] = a;
        return 0;
    case 'c':
        so->worker_conf = a;
        return 0;
    case O_WORKERS:
        return num(a, 1, BENCH_MAX_WORKERS, &v) ? -1 : (so->workers = (int)v, 0);
    case O_PARTS:
        return num(a, 1, 1000, &v) ? -1 : (so->partitions = (int)v, 0);
    case O_KAFKA:
        if (strcmp(a, "mock") != 0 && strcmp(a, "real") != 0) {
            fprintf(stderr, "%% --kafka: mock or real, not %s\n", a);
            return -1;
        }
        so->real_kafka = strcmp(a, "real") == 0;
        return 0;
    case O_LLMLAT:
        return num(a, 0, 600000, &so->llm_latency_ms);
    case O_LLMJIT:
        return num(a, 0, 5, &so->llm_jitter);
    case O_LLMCONC:
        return num(a, 0, 100000, &v) ? -1 : (so->llm_max_concurrency = (int)v, 0);
    case O_LLMPROFILE:
        return llm_profile_check(a) ? -1 : (so->llm_profile = a, o->llm_profile_set = true, 0);
    case O_LLMARG:
        if (so->llm_arg_cnt >= BENCH_MAX_LLM_ARGS) {
            fprintf(stderr, "%% at most %d --llm-arg\n", BENCH_MAX_LLM_ARGS);
            return -1;
        }
        so->llm_args[so->llm_arg_cnt++] = a;
        return 0;
    case O_NOREDIS:
        so->redis = false;
        return 0;
    case O_NOLMDB:
        so->lmdb = false;
        return 0;
    case O_NAIVE:
        so->naive = true;
        return 0;
    case O_PASSTHROUGH:
        so->passthrough = true;
        return 0;
    case O_NAIVE_DL:
        return num(a, 1, 3600000, &v) ? -1 : (o->naive_deadline_ms = (int32_t)v, 0);
    default:
        return 1;
    }
}

static int opt_other(opts_t *o, int c, const char *a)
{
    double v;

    switch (c) {
    case 'b':
        o->tg.brokers = a;
        return 0;
    case 't':
        o->tg.topic_requests = a;
        return 0;
    case O_REPLIES:
        o->tg.topic_replies = a;
        return 0;
    case O_SIM:
        o->tg.sim_base = a;
        return 0;
    case O_METRICS:
        if (o->tg.metrics_cnt >= BENCH_MAX_WORKERS) {
            fprintf(stderr, "%% at most %d --metrics\n", BENCH_MAX_WORKERS);
            return -1;
        }
        o->metrics[o->tg.metrics_cnt++] = (char *)a;
        return 0;
    case O_LINGER:
        o->linger_set = true;
        return num(a, 0, 1000, &v) ? -1 : (o->tg.linger_ms = (int)v, 0);
    case O_FETCH:
        o->fetch_set = true;
        return num(a, 0, 1000, &v) ? -1 : (o->tg.fetch_wait_ms = (int)v, 0);
    case O_DRAIN:
        return num(a, 0, 3600000, &v) ? -1 : (o->tg.drain_ms = (int64_t)v, 0);
    case O_OUT:
        o->ro.dir = a;
        return 0;
    case O_NAME:
        o->load.name = a;
        return 0;
    case O_NOCSV:
        o->ro.csv = false;
        return 0;
    case O_NOPLOTS:
        o->ro.plots = false;
        return 0;
    case O_TARGET:
        return num(a, 0, 3600000, &o->target_ms);
    case O_LEVEL:
        o->level = a;
        return 0;
    case O_PREWARM:
        o->prewarm = true;
        return 0;
    case O_TICK:
        return num(a, 0, 100000, &v) ? -1 : (o->tg.tick_us = (int64_t)v, 0);
    default:
        return 1;
    }
}

static void defaults(opts_t *o)
{
    o->load = (bench_load_t){.name = NULL,
                             .pattern = BENCH_CONSTANT,
                             .rate = 100,
                             .peak = -1,
                             .duration_s = 10,
                             .period_s = 10,
                             .seed = 1,
                             .repeat = -1,
                             .prio = {0, 1, 0}};
    o->stack = (bench_stack_opts_t){.workers = 1,
                                    .partitions = 4,
                                    .llm_profile = "api",
                                    .llm_latency_ms = -1,
                                    .llm_jitter = -1,
                                    .llm_max_concurrency = -1,
                                    .redis = true,
                                    .lmdb = true,
                                    .fetch_wait_ms = 5};
    o->tg = (bench_target_t){.topic_requests = "kclassify.requests",
                             .topic_replies = "kclassify.replies",
                             .linger_ms = 1,
                             .fetch_wait_ms = 5,
                             .drain_ms = -1,
                             .tick_us = 500};
    o->ro = (bench_report_opts_t){.dir = "bench-report", .csv = true, .plots = true};
    o->naive_deadline_ms = 120000;
}

static void cmdline_join(opts_t *o, int argc, char **argv)
{
    size_t len = 0;

    for (int i = 0; i < argc && len < sizeof(o->cmdline) - 1; i++) {
        len += (size_t)snprintf(o->cmdline + len, sizeof(o->cmdline) - len, "%s%s", i ? " " : "",
                                i ? argv[i] : "kclassify-bench");
    }
    o->ro.cmdline = o->cmdline;
}

/* @returns 0, -1 after --help, or BENCH_EXIT_USAGE. */
static int parse_args(opts_t *o, int argc, char **argv)
{
    int c;

    defaults(o);
    cmdline_join(o, argc, argv);
    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? BENCH_EXIT_USAGE : -1;
    }
    o->cmd = argv[1];
    if (strcmp(o->cmd, "run") && strcmp(o->cmd, "stack") && strcmp(o->cmd, "validate")) {
        fprintf(stderr, "%% unknown command '%s' (run, stack, validate)\n", o->cmd);
        return BENCH_EXIT_USAGE;
    }
    optind = 2;
    while ((c = getopt_long(argc, argv, "b:t:X:c:h", longopts, NULL)) != -1) {
        if (c == 'h') {
            usage(stdout);
            return -1;
        }
        if (c == '?' || opt_load(o, c, optarg) < 0 || opt_stack(o, c, optarg) < 0 ||
            opt_other(o, c, optarg) < 0) {
            return BENCH_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "%% unexpected argument '%s'\n", argv[optind]);
        return BENCH_EXIT_USAGE;
    }
    if (o->stack.passthrough && (o->stack.naive || strcmp(o->cmd, "stack") != 0)) {
        fprintf(stderr, "%% --passthrough: stack only, and without --naive (it copies requests)\n");
        return BENCH_EXIT_USAGE;
    }
    return 0;
}

/* ------------------------------------------------------------------ running */

/* validate runs minutes of load through the mock cluster, whose fetch cost
 * grows with the message sets it keeps: bigger producer batches and fewer
 * fetches keep it from saturating (perf/RESULTS.md, "the mock cluster"). */
static void validate_defaults(opts_t *o)
{
    bool worker_linger = false;

    if (!o->linger_set) {
        o->tg.linger_ms = 5;
    }
    if (!o->fetch_set) {
        o->tg.fetch_wait_ms = 20;
    }
    for (int k = 0; k < o->stack.prop_cnt; k++) {
        worker_linger |= strncmp(o->stack.props[k], "kafka.linger.ms=", 16) == 0;
    }
    if (!worker_linger && o->stack.prop_cnt < BENCH_MAX_PROPS) {
        o->stack.props[o->stack.prop_cnt++] = "kafka.linger.ms=5";
    }
    /* The levels' rates and targets were sized against this LLM: keep their meaning. */
    if (!o->llm_profile_set) {
        o->stack.llm_profile = "fixed";
        o->stack.llm_latency_ms = o->stack.llm_latency_ms < 0 ? 300 : o->stack.llm_latency_ms;
        o->stack.llm_max_concurrency =
            o->stack.llm_max_concurrency < 0 ? 8 : o->stack.llm_max_concurrency;
    }
}

static int finish_defaults(opts_t *o)
{
    char errstr[256];

    if (strcmp(o->cmd, "validate") == 0) {
        validate_defaults(o);
    }
    if (o->load.peak < 0) {
        o->load.peak = o->load.rate;
    }
    if (!o->salt_set) {
        o->load.salt = (uint64_t)kc_now_us();
    }
    if (o->tg.drain_ms < 0) {
        int64_t d = o->load.deadline_ms > 0 ? o->load.deadline_ms : 2000;
        o->tg.drain_ms = 2 * d > 5000 ? 2 * d : 5000;
    }
    o->stack.fetch_wait_ms = o->tg.fetch_wait_ms;
    if (!(o->tg.tx = kc_taxonomy_new_default())) {
        fprintf(stderr, "%% out of memory\n");
        return BENCH_EXIT_USAGE;
    }
    o->tg.key_seed = kc_taxonomy_key_seed(o->tg.tx, "gpt-4o-mini");
    (void)errstr;
    return 0;
}

static void target_from_stack(bench_target_t *tg, const bench_stack_t *st)
{
    tg->brokers = st->bootstrap;
    tg->sim_base = st->sim_base;
    tg->metrics_urls = (char **)st->metrics_urls;
    tg->metrics_cnt = st->passthrough ? 0 : (size_t)st->worker_cnt; /* no /metrics */
    tg->stack = st;
}

/* CPU seconds of every process the bench started (and the broker), over the run. */
static void procs_print(FILE *fp, const bench_result_t *res, const bench_target_t *tg)
{
    if (!tg->stack || tg->stack->proc_cnt == 0) {
        return;
    }
    fprintf(fp, "   cpu s     ");
    for (int i = 0; i < tg->stack->proc_cnt; i++) {
        if (res->proc_cpu0[i] >= 0 && res->proc_cpu1[i] >= 0) {
            fprintf(fp, " %s %.2f", tg->stack->procs[i].name,
                    res->proc_cpu1[i] - res->proc_cpu0[i]);
        }
    }
    fprintf(fp, "  kclassify-bench %.2f\n", res->bench_cpu_s);
}

/* One measured run, its report and its console summary. */
static int run_one(opts_t *o, const bench_load_t *ld, const char *dir, bench_summary_t *sm)
{
    bench_result_t res;
    bench_report_opts_t ro = o->ro;
    char errstr[512];
    int rc;

    ro.dir = dir;
    if ((rc = bench_run(&o->tg, ld, &res, errstr, sizeof(errstr))) != 0) {
        fprintf(stderr, "%% %s: %s\n", ld->name, errstr);
        bench_result_free(&res);
        return BENCH_EXIT_USAGE;
    }
    bench_summarize(&res, o->target_ms, sm);
    bench_summary_print(stdout, ld->name, sm);
    procs_print(stdout, &res, &o->tg);
    if (bench_report_write(&ro, &res, sm, &o->tg, errstr, sizeof(errstr)) != 0) {
        fprintf(stderr, "%% report: %s\n", errstr);
    } else {
        printf("   report     %s/index.html\n", dir);
    }
    fflush(stdout);
    bench_result_free(&res);
    return sm->lost || sm->failed ? BENCH_EXIT_FAIL : 0;
}

/* Every distinct query of the load once, in order, unmeasured: the caches are warm. */
static int prewarm(opts_t *o, const bench_load_t *ld)
{
    bench_load_t w = *ld;
    bench_result_t res;
    bench_summary_t sm;
    char errstr[512];
    int rc;

    if (!ld->queries_file && ld->distinct == 0) {
        return 0; /* every request is new: nothing to warm */
    }
    w.name = "prewarm";
    w.pattern = BENCH_CONSTANT;
    w.rate = w.peak = 2000;
    w.duration_s = 3600;
    w.sequential = true;
    w.repeat = -1;
    w.count = ld->distinct;
    /* Long enough for the LLM to answer every one (not the fallback): the
     * caches are warm with LLM answers, whatever the measured deadline. */
    w.deadline_ms = 60000;
    if (ld->queries_file) {
        bench_queries_t qs;
        if (bench_queries_load(ld, o->tg.tx, &qs, errstr, sizeof(errstr)) != 0) {
            fprintf(stderr, "%% prewarm: %s\n", errstr);
            return -1;
        }
        w.count = qs.cnt;
        bench_queries_free(&qs);
    }
    if ((rc = bench_run(&o->tg, &w, &res, errstr, sizeof(errstr))) != 0) {
        fprintf(stderr, "%% prewarm: %s\n", errstr);
    } else {
        bench_summarize(&res, 0, &sm);
        fprintf(stderr, "%% prewarm: %llu queries sent, %llu answered in %.1f s\n",
                (unsigned long long)sm.sent, (unsigned long long)sm.answered, res.wall_s);
        bench_wait_llm_idle(&o->tg);
    }
    bench_result_free(&res);
    return rc;
}

/* Starts a stack, probes it, runs the load, stops the stack. */
static int stack_run(opts_t *o, const bench_load_t *ld, const char *dir, bench_summary_t *sm)
{
    bench_stack_t st;
    char errstr[512], sdir[1100];
    int rc;

    snprintf(sdir, sizeof(sdir), "%s/stack", dir);
    o->ro.stack = &o->stack;
    fprintf(stderr,
            "%% %s: starting the stack (%d worker(s), %d partitions, LLM profile %s%s), logs in "
            "%s\n",
            ld->name, o->stack.workers, o->stack.partitions, o->stack.llm_profile,
            o->stack.naive ? ", naive" : "", sdir);
    if (bench_stack_start(&st, &o->stack, sdir, errstr, sizeof(errstr)) != 0) {
        fprintf(stderr, "%% stack: %s\n", errstr);
        bench_stack_stop(&st);
        return BENCH_EXIT_STACK;
    }
    target_from_stack(&o->tg, &st);
    if (bench_stack_probe(&o->tg, o->stack.partitions) != 0) {
        fprintf(stderr, "%% stack: probe requests were not answered (logs in %s)\n", sdir);
        rc = BENCH_EXIT_STACK;
    } else if (o->prewarm && prewarm(o, ld) != 0) {
        rc = BENCH_EXIT_STACK;
    } else {
        rc = run_one(o, ld, dir, sm);
    }
    bench_stack_stop(&st);
    return rc;
}

static double ratio(double a, double b)
{
    return b > 0 ? a / b : NAN;
}

static void naive_compare(const char *dir, const bench_summary_t *opt, const bench_summary_t *nv)
{
    char path[1100];
    json_t *j;

    printf("\n== optimized vs naive (same load, same seed)\n"
           "   %-22s %14s %14s %10s\n",
           "", "optimized", "naive", "naive/opt");
#define ROW(label, f)                                                                              \
    printf("   %-22s %14.2f %14.2f %10.2f\n", label, opt->f, nv->f, ratio(nv->f, opt->f))
    ROW("LLM calls", llm_calls);
    ROW("LLM queries", llm_queries);
    ROW("latency mean ms", mean_ms);
    ROW("latency p50 ms", p50_ms);
    ROW("latency p95 ms", p95_ms);
    ROW("latency p99 ms", p99_ms);
    ROW("achieved req/s", achieved_rps);
    ROW("degraded rate", degraded_rate);
    ROW("worker CPU s", worker_cpu_s);
#undef ROW
    j = json_pack("{s:{s:f,s:f,s:f,s:f},s:{s:f,s:f,s:f,s:f},s:{s:f,s:f,s:f}}", "optimized",
                  "llm_calls", opt->llm_calls, "p95_ms", opt->p95_ms, "p99_ms", opt->p99_ms,
                  "degraded_rate", opt->degraded_rate, "naive", "llm_calls", nv->llm_calls,
                  "p95_ms", nv->p95_ms, "p99_ms", nv->p99_ms, "degraded_rate", nv->degraded_rate,
                  "ratio_naive_over_optimized", "llm_calls", ratio(nv->llm_calls, opt->llm_calls),
                  "p95", ratio(nv->p95_ms, opt->p95_ms), "p99", ratio(nv->p99_ms, opt->p99_ms));
    snprintf(path, sizeof(path), "%s/comparison.json", dir);
    if (j) {
        json_dump_file(j, path, JSON_INDENT(2) | JSON_REAL_PRECISION(6));
    }
    json_decref(j);
}

static int cmd_stack(opts_t *o)
{
    bench_summary_t sm[2];
    char d[2][1100];
    char *names[2] = {"optimized", "naive"};
    int rc;

    if (!o->stack.naive) {
        return stack_run(o, &o->load, o->ro.dir, &sm[0]);
    }
    /* the same load, seed and salt against both systems, each on a fresh stack */
    bench_load_t ld = o->load;
    snprintf(d[0], sizeof(d[0]), "%s/optimized", o->ro.dir);
    snprintf(d[1], sizeof(d[1]), "%s/naive", o->ro.dir);
    o->stack.naive = false;
    ld.name = "optimized";
    if ((rc = stack_run(o, &ld, d[0], &sm[0])) == BENCH_EXIT_STACK || bench_interrupted) {
        return rc ? rc : BENCH_EXIT_FAIL;
    }
    /* A naive system has no deadline fallback: its requests wait for the LLM
     * (up to --naive-deadline-ms), and the bench waits for their replies. */
    o->stack.naive = true;
    ld.name = "naive";
    ld.deadline_ms = o->naive_deadline_ms;
    if (o->tg.drain_ms < ld.deadline_ms + 5000) {
        o->tg.drain_ms = ld.deadline_ms + 5000;
    }
    int rc2 = stack_run(o, &ld, d[1], &sm[1]);
    if (rc2 == BENCH_EXIT_STACK) {
        return rc2;
    }
    naive_compare(o->ro.dir, &sm[0], &sm[1]);
    bench_report_index(o->ro.dir, "kclassify-bench: optimized vs naive", names, sm, 2,
                       "<p>Same load and seed; see comparison.json for the ratios.</p>");
    return rc ? rc : rc2 ? BENCH_EXIT_FAIL : 0;
}

static int cmd_run(opts_t *o)
{
    bench_summary_t sm;

    if (!o->tg.brokers) {
        fprintf(stderr, "%% run: -b BROKERS is required\n");
        return BENCH_EXIT_USAGE;
    }
    o->tg.metrics_urls = o->metrics;
    return run_one(o, &o->load, o->ro.dir, &sm);
}

int main(int argc, char **argv)
{
    static opts_t o;
    struct sigaction sa = {.sa_handler = on_signal};
    int rc = parse_args(&o, argc, argv);

    if (rc != 0) {
        return rc < 0 ? 0 : rc;
    }
    if ((rc = finish_defaults(&o)) != 0) {
        return rc;
    }
    if (!o.load.name) {
        o.load.name = bench_pattern_name(o.load.pattern);
    }
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (strcmp(o.cmd, "run") == 0) {
        rc = cmd_run(&o);
    } else if (strcmp(o.cmd, "stack") == 0) {
        rc = cmd_stack(&o);
    } else {
        if (!o.level || o.target_ms <= 0) {
            fprintf(stderr, "%% validate needs --level and --target-ms\n");
            rc = BENCH_EXIT_USAGE;
        } else {
            rc = bench_validate(o.level, o.target_ms, &o.stack, &o.tg, &o.ro);
        }
    }
    kc_taxonomy_destroy(o.tg.tx);
    return rc;
}
