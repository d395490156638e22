/* Shared main() body of the Check suites. */
#ifndef KC_CHECK_H
#define KC_CHECK_H

#include <check.h>
#include <stdlib.h>

/** Run a suite (forking per test, as Check does by default); exit status 0 if all passed. */
static inline int kc_check_run(Suite *s)
{
    SRunner *sr = srunner_create(s);
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

#endif
