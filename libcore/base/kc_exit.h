/*
 * kclassify - exit statuses, the same for every program (man pages, EXIT
 * STATUS). libcore itself never exits: the mains map its KC_ERR_* codes to
 * these. The sysexits(3) values let supervisors tell "fix the configuration"
 * from "try again later".
 */
#ifndef KC_EXIT_H
#define KC_EXIT_H

#define KC_EXIT_OK           0  /**< done; kclassify-sla --once: SLA met */
#define KC_EXIT_FAILURE      1  /**< runtime failure (kclassify-cache: key not found) */
#define KC_EXIT_NONCOMPLIANT 2  /**< kclassify-sla --once: SLA not met */
#define KC_EXIT_USAGE        64 /**< bad option, argument or configuration: do not restart */
#define KC_EXIT_UNAVAILABLE  69 /**< a required service (Kafka, LMDB, port) unavailable at start */
#define KC_EXIT_TEMPFAIL     75 /**< gave up waiting on a service that may come back: retry later */

#endif
