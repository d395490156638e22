/* kclassify-bench stack: starts the embedded stack (mock Kafka, redis-server,
 * LLM simulator, N workers) as child processes, and stops exactly those. */
#define _GNU_SOURCE /* memmem */
#include "bench.h"

#include "kc_err.h"
#include "kc_time.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define START_TIMEOUT_US  (20 * 1000000LL)
#define ASSIGN_TIMEOUT_US (40 * 1000000LL)
#define STOP_TIMEOUT_US   (15 * 1000000LL)
#define MAX_ARGS          (2 * BENCH_MAX_PROPS + 48)

/* The naive system: no caches, no coalescing (in-worker or fleet-wide), one
 * query per LLM call; its long deadlines (--naive-deadline-ms) are not cut
 * to the worker's sla.deadline.max.ms. */
const char *const bench_naive_props[] = {
    "cache.l1.ttl.s=0",       "coalesce.inflight=false",     "cache.lmdb.path=",
    "cache.redis.url=",       "coalesce.redis.lease.ms=0",   "llm.batch.max=1",
    "cache.fallback.ttl.s=0", "sla.deadline.max.ms=3600000", NULL};

/* ------------------------------------------------------------------ helpers */

static int free_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

    if (fd < 0) {
        return -1;
    }
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &alen) == 0) {
        port = ntohs(a.sin_port);
    }
    close(fd);
    return port;
}

static bool tcp_open(int port)
{
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    bool ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;

    if (fd >= 0) {
        close(fd);
    }
    return ok;
}

/* A child that exited is reaped here and forgotten, so its pid (which the
 * kernel may give to another process) is never signalled later. */
static bool alive(bench_stack_t *st, pid_t pid)
{
    if (waitpid(pid, NULL, WNOHANG) == 0) {
        return true;
    }
    for (int i = 0; i < st->proc_cnt; i++) {
        if (st->procs[i].pid == pid) {
            st->procs[i].pid = -1;
        }
    }
    return false;
}

/* Whole file into buf (truncated), NUL-terminated; @returns bytes read or -1. */
static ssize_t slurp(const char *path, char *buf, size_t size)
{
    int fd = open(path, O_RDONLY);
    ssize_t n;

    if (fd < 0) {
        return -1;
    }
    n = read(fd, buf, size - 1);
    close(fd);
    buf[n > 0 ? n : 0] = '\0';
    return n;
}

static pid_t spawn(bench_stack_t *st, const char *name, char *const argv[], const char *log)
{
    pid_t pid = fork();

    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        prctl(PR_SET_PDEATHSIG, SIGTERM); /* never outlive the bench */
        if (fd >= 0) {
            dup2(fd, STDOUT_FILENO);
            dup2(fd, STDERR_FILENO);
            close(fd);
        }
        execvp(argv[0], argv);
        fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    if (pid > 0) {
        bench_proc_t *p = &st->procs[st->proc_cnt++];
        p->pid = pid;
        p->watch_only = false;
        snprintf(p->name, sizeof(p->name), "%s", name);
    }
    return pid;
}

/* ------------------------------------------------------------------ components */

static int start_mock(bench_stack_t *st, const bench_stack_opts_t *o, char *errstr,
                      size_t errstr_size)
{
    char bin[600], parts[16], bsfile[600], log[600];
    int64_t deadline = kc_mono_us() + START_TIMEOUT_US;
    pid_t pid;

    snprintf(bin, sizeof(bin), "%s/kclassify-kafka-mock", st->bindir);
    snprintf(parts, sizeof(parts), "%d", o->partitions);
    snprintf(bsfile, sizeof(bsfile), "%s/bootstrap", st->dir);
    snprintf(log, sizeof(log), "%s/mock.log", st->dir);
    unlink(bsfile);
    char *argv[] = {bin, "-p", parts, "--bootstrap-file", bsfile, NULL};
    if ((pid = spawn(st, "kafka-mock", argv, log)) < 0) {
        return kc_seterr(KC_ERR_IO, errstr, errstr_size, "fork: %s", strerror(errno));
    }
    while (slurp(bsfile, st->bootstrap, sizeof(st->bootstrap)) <= 0) {
        if (!alive(st, pid) || kc_mono_us() > deadline) {
            return kc_seterr(KC_ERR_IO, errstr, errstr_size, "kafka mock did not start (see %s)",
                             log);
        }
        usleep(50000);
    }
    st->bootstrap[strcspn(st->bootstrap, "\r\n")] = '\0';
    return 0;
}

/* scripts/kafka.sh: $KC_KAFKA_SH, else next to the build tree's bin/. */
static void kafka_sh(const bench_stack_t *st, char *out, size_t size)
{
    const char *env = getenv("KC_KAFKA_SH");

    if (env && *env) {
        snprintf(out, size, "%s", env);
    } else {
        snprintf(out, size, "%s/../../scripts/kafka.sh", st->bindir);
    }
}

/* Run scripts/kafka.sh with args; its output to DIR/kafka.log. */
static int kafka_sh_run(const bench_stack_t *st, const char *args)
{
    char sh[700], cmd[4096];

    kafka_sh(st, sh, sizeof(sh));
    if (snprintf(cmd, sizeof(cmd), "'%s' %s >>'%s/kafka.log' 2>&1", sh, args, st->dir) >=
        (int)sizeof(cmd)) {
        return -1; /* a path too long for the command line */
    }
    return system(cmd);
}

/* The broker's JVM, for its CPU time in the reports (kafka.sh stops it). */
static void watch_broker(bench_stack_t *st)
{
    char path[700], pid[32];
    bench_proc_t *p = &st->procs[st->proc_cnt];

    snprintf(path, sizeof(path), "%s/node1/pid", st->kafka_dir);
    if (slurp(path, pid, sizeof(pid)) > 0 && atoi(pid) > 0) {
        p->pid = (pid_t)atoi(pid);
        p->watch_only = true;
        snprintf(p->name, sizeof(p->name), "kafka");
        st->proc_cnt++;
    }
}

static int start_real_kafka(bench_stack_t *st, const bench_stack_opts_t *o, char *errstr,
                            size_t errstr_size)
{
    char args[1600], bsfile[700];

    snprintf(st->kafka_dir, sizeof(st->kafka_dir), "%s/kafka", st->dir);
    snprintf(args, sizeof(args), "start single '%s'", st->kafka_dir);
    if (kafka_sh_run(st, args) != 0) {
        st->kafka_dir[0] = '\0';
        return kc_seterr(KC_ERR_IO, errstr, errstr_size,
                         "Apache Kafka did not start (see %s/kafka.log)", st->dir);
    }
    snprintf(args, sizeof(args),
             "topics '%s' kclassify.requests:%d kclassify.replies:%d kclassify.requests.DLT:%d "
             "kclassify.alerts:1",
             st->kafka_dir, o->partitions, o->partitions, o->partitions);
    snprintf(bsfile, sizeof(bsfile), "%s/bootstrap", st->kafka_dir);
    if (kafka_sh_run(st, args) != 0 || slurp(bsfile, st->bootstrap, sizeof(st->bootstrap)) <= 0) {
        return kc_seterr(KC_ERR_IO, errstr, errstr_size,
                         "creating the topics failed (see %s/kafka.log)", st->dir);
    }
    st->bootstrap[strcspn(st->bootstrap, "\r\n")] = '\0';
    watch_broker(st);
    return 0;
}

static int start_redis(bench_stack_t *st, char *errstr, size_t errstr_size)
{
    char port[16], log[600];
    int p = free_port();
    int64_t deadline = kc_mono_us() + START_TIMEOUT_US;
    pid_t pid;

    snprintf(port, sizeof(port), "%d", p);
    snprintf(log, sizeof(log), "%s/redis.log", st->dir);
    char *argv[] = {"redis-server", "--port", port,    "--bind", "127.0.0.1", "--save", "",
                    "--appendonly", "no",     "--dir", st->dir,  NULL};
    if (p < 0 || (pid = spawn(st, "redis-server", argv, log)) < 0) {
        return kc_seterr(KC_ERR_IO, errstr, errstr_size, "cannot start redis-server");
    }
    while (!tcp_open(p)) {
        if (!alive(st, pid) || kc_mono_us() > deadline) {
            return kc_seterr(KC_ERR_IO, errstr, errstr_size, "redis-server did not start (see %s)",
                             log);
        }
        usleep(50000);
    }
    snprintf(st->redis_url, sizeof(st->redis_url), "redis://127.0.0.1:%d/0", p);
    return 0;
}

/* The simulator's argv: the profile, only the settings given explicitly (the
 * rest are the profile's), then --llm-arg verbatim, so those win. */
static void sim_argv(const bench_stack_opts_t *o, char **argv, char store[][64], char *bin,
                     char *pfile)
{
    int n = 0, s = 0;
#define ARG(...) (snprintf(store[s], sizeof(store[s]), __VA_ARGS__), argv[n++] = store[s++])
    argv[n++] = bin;
    ARG("--port");
    ARG("0");
    argv[n++] = "--port-file";
    argv[n++] = pfile;
    ARG("--profile");
    ARG("%s", o->llm_profile);
    if (o->llm_latency_ms >= 0) {
        ARG("--latency-ms");
        ARG("%g", o->llm_latency_ms);
    }
    if (o->llm_jitter >= 0) {
        ARG("--jitter");
        ARG("%g", o->llm_jitter);
    }
    if (o->llm_max_concurrency >= 0) {
        ARG("--max-concurrency");
        ARG("%d", o->llm_max_concurrency);
    }
    ARG("--seed");
    ARG("1");
#undef ARG
    if (o->llm_labels) {
        argv[n++] = "--labels";
        argv[n++] = (char *)o->llm_labels;
    }
    for (int k = 0; k < o->llm_arg_cnt; k++) {
        argv[n++] = (char *)o->llm_args[k];
    }
    argv[n] = NULL;
}

static int start_sim(bench_stack_t *st, const bench_stack_opts_t *o, char *errstr,
                     size_t errstr_size)
{
    char bin[600], pfile[600], log[600], port[32], store[16][64];
    int64_t deadline = kc_mono_us() + START_TIMEOUT_US;
    char *argv[24 + BENCH_MAX_LLM_ARGS];
    pid_t pid;

    snprintf(bin, sizeof(bin), "%s/kclassify-llm-sim", st->bindir);
    snprintf(pfile, sizeof(pfile), "%s/sim.port", st->dir);
    snprintf(log, sizeof(log), "%s/llm-sim.log", st->dir);
    unlink(pfile);
    sim_argv(o, argv, store, bin, pfile);
    if ((pid = spawn(st, "llm-sim", argv, log)) < 0) {
        return kc_seterr(KC_ERR_IO, errstr, errstr_size, "fork: %s", strerror(errno));
    }
    while (slurp(pfile, port, sizeof(port)) <= 0) {
        if (!alive(st, pid) || kc_mono_us() > deadline) {
            return kc_seterr(KC_ERR_IO, errstr, errstr_size, "LLM simulator did not start (see %s)",
                             log);
        }
        usleep(50000);
    }
    snprintf(st->sim_base, sizeof(st->sim_base), "http://127.0.0.1:%d", atoi(port));
    return 0;
}

#define ARG(...) (snprintf(store[s], sizeof(store[s]), __VA_ARGS__), argv[n++] = store[s++])

/* argv of worker i: our defaults, then the caller's -X, then (naive) the
 * naive set. --passthrough: kclassify-passthrough with the same Kafka
 * settings (it reads -X as the worker reads kafka.*) and no others. */
static void worker_argv(bench_stack_t *st, const bench_stack_opts_t *o, int i, char **argv,
                        char store[][640])
{
    bool pt = o->passthrough, worker = !pt;
    const char *kp = pt ? "" : "kafka.";
    int n = 0, s = 0;

    ARG("%s/%s", st->bindir, pt ? "kclassify-passthrough" : "kclassify-worker");
    ARG("-b");
    ARG("%s", st->bootstrap);
    if (worker && o->worker_conf) {
        ARG("-c");
        ARG("%s", o->worker_conf);
    }
    ARG("-X");
    ARG("%ssession.timeout.ms=6000", kp);
    ARG("-X");
    ARG("%sheartbeat.interval.ms=500", kp);
    ARG("-X");
    ARG("%sfetch.wait.max.ms=%d", kp, o->fetch_wait_ms);
    if (worker) {
        ARG("-X");
        ARG("llm.url=%s/v1", st->sim_base);
        ARG("-X");
        ARG("worker.id=bench-w%d", i);
        ARG("-X");
        ARG("metrics.port=%d", free_port());
    }
    if (worker && st->redis_url[0]) {
        ARG("-X");
        ARG("cache.redis.url=%s", st->redis_url);
    }
    if (worker && o->lmdb) {
        ARG("-X");
        ARG("cache.lmdb.path=%s/lmdb-w%d", st->dir, i);
    }
    for (int k = 0; k < o->prop_cnt; k++) {
        if (worker || strncmp(o->props[k], "kafka.", 6) == 0) {
            ARG("-X");
            ARG("%s", o->props[k] + (pt ? 6 : 0));
        }
    }
    for (int k = 0; worker && o->naive && bench_naive_props[k]; k++) {
        ARG("-X");
        ARG("%s", bench_naive_props[k]);
    }
    argv[n] = NULL;
}
#undef ARG

static const char *metrics_port_of(char **argv)
{
    for (int k = 0; argv[k]; k++) {
        if (strncmp(argv[k], "metrics.port=", 13) == 0) {
            return argv[k] + 13;
        }
    }
    return "0";
}

static int wait_assigned(bench_stack_t *st, int i, pid_t pid, char *errstr, size_t errstr_size)
{
    static char buf[1 << 16];
    char log[600];
    int64_t deadline = kc_mono_us() + ASSIGN_TIMEOUT_US;

    snprintf(log, sizeof(log), "%s/worker-%d.log", st->dir, i);
    for (;;) {
        ssize_t n = slurp(log, buf, sizeof(buf));
        const char *a = n > 0 ? strstr(buf, "assigned ") : NULL;
        while (a && !(a[9] >= '1' && a[9] <= '9')) {
            a = strstr(a + 9, "assigned ");
        }
        if (a) {
            return 0;
        }
        if (!alive(st, pid) || kc_mono_us() > deadline) {
            return kc_seterr(KC_ERR_IO, errstr, errstr_size, "worker %d got no partitions (see %s)",
                             i, log);
        }
        usleep(100000);
    }
}

static int start_workers(bench_stack_t *st, const bench_stack_opts_t *o, char *errstr,
                         size_t errstr_size)
{
    static char store[MAX_ARGS][640];
    char *argv[MAX_ARGS + 1], log[600], url[128];
    pid_t pids[BENCH_MAX_WORKERS];

    st->passthrough = o->passthrough;
    for (int i = 0; i < o->workers; i++) {
        worker_argv(st, o, i, argv, store);
        snprintf(log, sizeof(log), "%s/worker-%d.log", st->dir, i);
        snprintf(url, sizeof(url), "http://127.0.0.1:%s/metrics", metrics_port_of(argv));
        if ((!o->passthrough && !(st->metrics_urls[i] = strdup(url))) || /* no /metrics */
            (pids[i] = spawn(st, "worker", argv, log)) < 0) {
            return kc_seterr(KC_ERR_IO, errstr, errstr_size, "cannot start worker %d", i);
        }
        snprintf(st->procs[st->proc_cnt - 1].name, sizeof(st->procs[0].name), "%s-%d",
                 o->passthrough ? "passthrough" : "worker", i);
        st->worker_cnt = i + 1;
    }
    for (int i = 0; i < o->workers; i++) {
        int rc = wait_assigned(st, i, pids[i], errstr, errstr_size);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

static int bindir_find(bench_stack_t *st, char *errstr, size_t errstr_size)
{
    char exe[512];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

    if (n <= 0) {
        return kc_seterr(KC_ERR_IO, errstr, errstr_size, "/proc/self/exe: %s", strerror(errno));
    }
    exe[n] = '\0';
    snprintf(st->bindir, sizeof(st->bindir), "%s", dirname(exe));
    return 0;
}

int bench_stack_start(bench_stack_t *st, const bench_stack_opts_t *o, const char *dir, char *errstr,
                      size_t errstr_size)
{
    int rc;

    memset(st, 0, sizeof(*st));
    snprintf(st->dir, sizeof(st->dir), "%s", dir);
    if (o->workers < 1 || o->workers > BENCH_MAX_WORKERS) {
        return kc_seterr(KC_ERR_INVALID, errstr, errstr_size, "--workers must be 1..%d",
                         BENCH_MAX_WORKERS);
    }
    if ((rc = bench_mkdirs(dir)) != 0) {
        return kc_seterr(KC_ERR_IO, errstr, errstr_size, "mkdir %s: %s", dir, strerror(errno));
    }
    if ((rc = bindir_find(st, errstr, errstr_size)) != 0 ||
        (rc = (o->real_kafka ? start_real_kafka : start_mock)(st, o, errstr, errstr_size)) != 0 ||
        (o->redis && !o->naive && (rc = start_redis(st, errstr, errstr_size)) != 0) ||
        (rc = start_sim(st, o, errstr, errstr_size)) != 0 ||
        (rc = start_workers(st, o, errstr, errstr_size)) != 0) {
        return rc;
    }
    return 0;
}

/* Reverse order: workers finish their in-flight work while Kafka and the LLM still answer. */
void bench_stack_stop(bench_stack_t *st)
{
    for (int i = st->proc_cnt - 1; i >= 0; i--) {
        pid_t pid = st->procs[i].pid;
        int64_t deadline = kc_mono_us() + STOP_TIMEOUT_US;
        if (pid <= 0 || st->procs[i].watch_only) {
            continue; /* already reaped, or not ours */
        }
        kill(pid, SIGTERM);
        while (waitpid(pid, NULL, WNOHANG) == 0) {
            if (kc_mono_us() > deadline) {
                fprintf(stderr, "%% %s (pid %d) ignored SIGTERM for 15 s: SIGKILL\n",
                        st->procs[i].name, (int)pid);
                kill(pid, SIGKILL);
                waitpid(pid, NULL, 0);
                break;
            }
            usleep(20000);
        }
    }
    st->proc_cnt = 0;
    if (st->kafka_dir[0]) { /* last, after the workers committed */
        char args[700];
        snprintf(args, sizeof(args), "kill '%s'", st->kafka_dir);
        kafka_sh_run(st, args);
        st->kafka_dir[0] = '\0';
    }
    for (int i = 0; i < st->worker_cnt; i++) {
        free(st->metrics_urls[i]);
        st->metrics_urls[i] = NULL;
    }
    st->worker_cnt = 0;
}

/* Probe requests answered by the fallback (consumed during the group join,
 * after their deadline) leave cache-filling LLM calls behind: wait until no
 * worker has LLM work left (at most 20 s), so they do not count in the run.
 * Also after a prewarm. */
void bench_wait_llm_idle(const bench_target_t *tg)
{
    int64_t deadline = kc_mono_us() + 20 * 1000000LL;

    while (kc_mono_us() < deadline && !bench_interrupted) {
        double busy = 0;
        for (size_t i = 0; i < tg->metrics_cnt; i++) {
            char errstr[128], *body = NULL;
            if (bench_http_get(tg->metrics_urls[i], &body, errstr, sizeof(errstr)) != 0) {
                busy += 1;
                continue;
            }
            busy += bench_prom_value(body, "kclassify_llm_inflight", NULL) +
                    bench_prom_value(body, "kclassify_llm_queue_length", NULL);
            free(body);
        }
        if (busy == 0) {
            return;
        }
        usleep(100000);
    }
    fprintf(stderr, "%% probe: the workers' LLM work did not settle within 20 s\n");
}

/* The stack is ready when a few probe requests come back (every worker has joined). */
int bench_stack_probe(bench_target_t *tg, int partitions)
{
    bench_load_t probe = {.name = "probe",
                          .rate = 200,
                          .peak = 200,
                          .duration_s = 60,
                          .count = (uint64_t)(partitions * 2 > 32 ? partitions * 2 : 32),
                          .seed = 7,
                          .repeat = -1,
                          .prio = {0, 1, 0},
                          .salt = (uint64_t)kc_now_us() ^ 0x5eed};
    bench_result_t res;
    bench_summary_t sm;
    char errstr[512];
    int64_t drain = tg->drain_ms;

    tg->drain_ms = 15000;
    for (int attempt = 0; attempt < 3 && !bench_interrupted; attempt++) {
        int rc = bench_run(tg, &probe, &res, errstr, sizeof(errstr));
        if (rc == 0) {
            bench_summarize(&res, 0, &sm);
        }
        bench_result_free(&res);
        if (rc != 0) {
            fprintf(stderr, "%% probe: %s\n", errstr);
        } else if (sm.lost == 0 && sm.failed == 0) {
            tg->drain_ms = drain;
            bench_wait_llm_idle(tg);
            return 0;
        } else {
            fprintf(stderr, "%% probe: %llu of %llu unanswered; trying again\n",
                    (unsigned long long)sm.lost, (unsigned long long)sm.sent);
        }
    }
    tg->drain_ms = drain;
    return -1;
}
