/*
 * kclassify - the SLA monitor (kclassify-sla's loop), as a library.
 */
#ifndef KC_SLA_MONITOR_H
#define KC_SLA_MONITOR_H

#include "kc_sla_conf.h"
#include "kc_sla_rules.h"

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

/** kc_sla_monitor_run() with once: the traffic read broke the SLA. */
#define KC_SLA_NONCOMPLIANT 1

/** Where reports (text or JSON lines) go; the program prints them. */
typedef void(kc_sla_output_cb_t)(void *opaque, const char *text, size_t len);

typedef struct kc_sla_monitor_opts_s {
    bool once;                     /**< read the topic up to its end, then give the verdict */
    bool from_beginning;           /**< every partition from its first retained offset */
    bool json;                     /**< reports as JSON lines instead of text */
    kc_sla_output_cb_t *output_cb; /**< NULL: reports are dropped */
    void *opaque;
} kc_sla_monitor_opts_t;

typedef struct kc_sla_monitor_s kc_sla_monitor_t;

/**
 * @brief A monitor with its Kafka clients, webhook and HTTP endpoint started.
 *        Takes over *conf (zeroed here; freed by kc_sla_monitor_destroy(),
 *        also on failure). @returns NULL with *rcp (a KC_ERR_* code, e.g.
 *        KC_ERR_CONFIG) and errstr on failure.
 */
kc_sla_monitor_t *kc_sla_monitor_new(kc_sla_conf_t *conf, const kc_sla_rules_conf_t *rules_conf,
                                     const kc_sla_monitor_opts_t *opts, int *rcp, char *errstr,
                                     size_t errstr_size);

/**
 * @brief Run until *run becomes 0 (live; a signal handler clears it), or with
 *        once until the end of the topic as it was at start, then report the
 *        verdict. @returns 0 (compliant, or a live run), KC_SLA_NONCOMPLIANT,
 *        or a KC_ERR_* code (KC_ERR_TIMEOUT: no progress for 30 s;
 *        KC_ERR_STATE: stopped before the end).
 */
int kc_sla_monitor_run(kc_sla_monitor_t *mon, volatile sig_atomic_t *run);

/** @brief Close the clients (bounded), flush alerts, free everything. NULL-safe. */
void kc_sla_monitor_destroy(kc_sla_monitor_t *mon);

#endif
