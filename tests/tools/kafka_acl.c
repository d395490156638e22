/*
 * kc-test-acl: grant ACLs on a test broker (the ACL test of
 * tests/integration/it_acl.sh). One ALLOW binding per argument:
 *
 *   kc-test-acl BOOTSTRAP PRINCIPAL TYPE:NAME[*]:OPERATION...
 *
 * TYPE is topic, group or cluster; a NAME ending in * is a prefix;
 * OPERATION is read, write, describe or idempotent_write. Debian's Python
 * client (1.7) has no CreateAcls; librdkafka 2.0 does.
 */
#include <librdkafka/rdkafka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int parse(const char *spec, const char *principal, rd_kafka_AclBinding_t **out)
{
    char type[16], name[256], op[32], err[256];
    rd_kafka_ResourceType_t rt;
    rd_kafka_AclOperation_t ao;
    rd_kafka_ResourcePatternType_t pt = RD_KAFKA_RESOURCE_PATTERN_LITERAL;
    size_t len;

    if (sscanf(spec, "%15[^:]:%255[^:]:%31s", type, name, op) != 3) {
        fprintf(stderr, "kc-test-acl: bad spec %s (TYPE:NAME:OPERATION)\n", spec);
        return -1;
    }
    rt = !strcmp(type, "topic")     ? RD_KAFKA_RESOURCE_TOPIC
         : !strcmp(type, "group")   ? RD_KAFKA_RESOURCE_GROUP
         : !strcmp(type, "cluster") ? RD_KAFKA_RESOURCE_BROKER
                                    : RD_KAFKA_RESOURCE_UNKNOWN;
    ao = !strcmp(op, "read")               ? RD_KAFKA_ACL_OPERATION_READ
         : !strcmp(op, "write")            ? RD_KAFKA_ACL_OPERATION_WRITE
         : !strcmp(op, "describe")         ? RD_KAFKA_ACL_OPERATION_DESCRIBE
         : !strcmp(op, "idempotent_write") ? RD_KAFKA_ACL_OPERATION_IDEMPOTENT_WRITE
                                           : RD_KAFKA_ACL_OPERATION_UNKNOWN;
    if ((len = strlen(name)) > 1 && name[len - 1] == '*') {
        name[len - 1] = '\0';
        pt = RD_KAFKA_RESOURCE_PATTERN_PREFIXED;
    }
    *out = rd_kafka_AclBinding_new(rt, rt == RD_KAFKA_RESOURCE_BROKER ? "kafka-cluster" : name, pt,
                                   principal, "*", ao, RD_KAFKA_ACL_PERMISSION_TYPE_ALLOW, err,
                                   sizeof(err));
    if (!*out) {
        fprintf(stderr, "kc-test-acl: %s: %s\n", spec, err);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    rd_kafka_AclBinding_t *acls[64];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_queue_t *q;
    rd_kafka_event_t *ev;
    rd_kafka_t *rk;
    char err[512];
    int n = 0, rc = 0;

    if (argc < 4 || argc - 3 > 64) {
        fprintf(stderr, "usage: kc-test-acl BOOTSTRAP PRINCIPAL TYPE:NAME[*]:OPERATION...\n");
        return 64;
    }
    for (int i = 3; i < argc; i++) {
        if (parse(argv[i], argv[2], &acls[n++]) != 0) {
            return 64;
        }
    }
    if (rd_kafka_conf_set(conf, "bootstrap.servers", argv[1], err, sizeof(err)) != 0 ||
        !(rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err)))) {
        fprintf(stderr, "kc-test-acl: %s\n", err);
        return 69;
    }
    q = rd_kafka_queue_new(rk);
    rd_kafka_CreateAcls(rk, acls, (size_t)n, NULL, q);
    ev = rd_kafka_queue_poll(q, 30000);
    if (!ev || rd_kafka_event_error(ev)) {
        fprintf(stderr, "kc-test-acl: %s\n", ev ? rd_kafka_event_error_string(ev) : "timed out");
        rc = 1;
    } else {
        size_t cnt;
        const rd_kafka_acl_result_t **res =
            rd_kafka_CreateAcls_result_acls(rd_kafka_event_CreateAcls_result(ev), &cnt);
        for (size_t i = 0; i < cnt; i++) {
            const rd_kafka_error_t *e = rd_kafka_acl_result_error(res[i]);
            if (e) {
                fprintf(stderr, "kc-test-acl: %s: %s\n", argv[3 + i], rd_kafka_error_string(e));
                rc = 1;
            }
        }
    }
    if (ev) {
        rd_kafka_event_destroy(ev);
    }
    for (int i = 0; i < n; i++) {
        rd_kafka_AclBinding_destroy(acls[i]);
    }
    rd_kafka_queue_destroy(q);
    rd_kafka_destroy(rk);
    return rc;
}
