/* A minimal test harness: CHECK records a failure and continues; RUN runs one test function and
 * counts it passed when none of its checks failed; check_summary() prints "N passed, N failed". */
#ifndef LOOM_TESTS_CHECK_H
#define LOOM_TESTS_CHECK_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static int check_failures_in_test, check_passed, check_failed;

#define CHECK(cond)                                                                                                    \
    do {                                                                                                               \
        if (!(cond)) {                                                                                                 \
            fprintf(stderr, "  %s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);                                 \
            check_failures_in_test++;                                                                                  \
        }                                                                                                              \
    } while (0)

#define CHECK_MSG(cond, ...)                                                                                           \
    do {                                                                                                               \
        if (!(cond)) {                                                                                                 \
            fprintf(stderr, "  %s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond);                                 \
            fprintf(stderr, __VA_ARGS__);                                                                              \
            fputc('\n', stderr);                                                                                       \
            check_failures_in_test++;                                                                                  \
        }                                                                                                              \
    } while (0)

#define CHECK_NEAR(a, b, tol) CHECK_MSG(fabs((double)(a) - (double)(b)) <= (tol), "%g vs %g", (double)(a), (double)(b))

#define RUN(fn)                                                                                                        \
    do {                                                                                                               \
        check_failures_in_test = 0;                                                                                    \
        fn();                                                                                                          \
        if (check_failures_in_test) {                                                                                  \
            check_failed++;                                                                                            \
            printf("FAIL %s\n", #fn);                                                                                  \
        } else {                                                                                                       \
            check_passed++;                                                                                            \
            printf("PASS %s\n", #fn);                                                                                  \
        }                                                                                                              \
        fflush(stdout);                                                                                                \
    } while (0)

static inline int check_summary(void) {
    printf("%d passed, %d failed\n", check_passed, check_failed);
    return check_failed ? 1 : 0;
}

/* Path of a shared asset: $LOOM_SHARED or ../shared relative to the project root (the cwd of tests). */
static inline const char *check_shared_dir(void) {
    const char *s = getenv("LOOM_SHARED");
    return s ? s : "../shared";
}

#endif
