/* test.h: a tiny test harness. Each test file defines tests with TEST(name) and lists them in main
 * with RUN(name); the summary line "N passed, N failed" ends the output; the exit code is non-zero
 * when anything failed. EXPECT records a failure and goes on; REQUIRE stops the current test. */
#ifndef PAWPIPE_TEST_H
#define PAWPIPE_TEST_H

#include <math.h>
#include <stdio.h>
#include <string.h>

static int t_failed_checks, t_passed, t_failed, t_skipped, t_cur_failed, t_cur_skipped;

#define TEST(name) static void test_##name(void)

#define EXPECT(cond)                                                                   \
    do {                                                                               \
        if (!(cond)) {                                                                 \
            fprintf(stderr, "  %s:%d: EXPECT failed: %s\n", __FILE__, __LINE__, #cond);\
            t_failed_checks++;                                                         \
            t_cur_failed = 1;                                                          \
        }                                                                              \
    } while (0)

#define REQUIRE(cond)                                                                  \
    do {                                                                               \
        if (!(cond)) {                                                                 \
            fprintf(stderr, "  %s:%d: REQUIRE failed: %s\n", __FILE__, __LINE__, #cond);\
            t_failed_checks++;                                                         \
            t_cur_failed = 1;                                                          \
            return;                                                                    \
        }                                                                              \
    } while (0)

/* |a - b| <= atol + rtol * |b| */
#define EXPECT_NEAR(a, b, atol, rtol)                                                  \
    do {                                                                               \
        double _a = (a), _b = (b);                                                     \
        if (!(fabs(_a - _b) <= (atol) + (rtol) * fabs(_b))) {                          \
            fprintf(stderr, "  %s:%d: EXPECT_NEAR failed: %s = %.9g, %s = %.9g\n",     \
                    __FILE__, __LINE__, #a, _a, #b, _b);                               \
            t_failed_checks++;                                                         \
            t_cur_failed = 1;                                                          \
        }                                                                              \
    } while (0)

/* Skip the current test with a reason (e.g. the real data set is absent). */
#define SKIP(...)                                                                      \
    do {                                                                               \
        fprintf(stderr, "  skipped: ");                                                \
        fprintf(stderr, __VA_ARGS__);                                                  \
        fprintf(stderr, "\n");                                                         \
        t_cur_skipped = 1;                                                             \
        return;                                                                        \
    } while (0)

#define RUN(name)                                                                      \
    do {                                                                               \
        t_cur_failed = t_cur_skipped = 0;                                              \
        fprintf(stderr, "[ RUN  ] %s\n", #name);                                       \
        test_##name();                                                                 \
        if (t_cur_failed) t_failed++;                                                  \
        else if (t_cur_skipped) t_skipped++;                                           \
        else t_passed++;                                                               \
        fprintf(stderr, "[ %s ] %s\n",                                                 \
                t_cur_failed ? "FAIL" : t_cur_skipped ? "SKIP" : " OK ", #name);       \
    } while (0)

/* Exit code 77 when everything was skipped: ctest reports the test as skipped (SKIP_RETURN_CODE). */
#define TEST_SUMMARY()                                                                 \
    (printf("%d passed, %d failed, %d skipped\n", t_passed, t_failed, t_skipped),      \
     t_failed ? 1 : (t_passed == 0 && t_skipped > 0) ? 77 : 0)

#endif
