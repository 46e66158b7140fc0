/* test_common.c: common/ — Philox known answers, seed derivation, flag parsing, the error buffer,
 * --log-level, CPU time of named threads, mkdir -p. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/check.h"
#include "common/cli.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "common/proc.h"
#include "common/rng.h"
#include "common/timeutil.h"
#include "test.h"
#include "testlib.h"

TEST(philox_known_answers) {
    /* Known-answer vectors of Random123 (kat_vectors, philox4x32_10). */
    uint32_t o[4];
    philox4x32(0, 0, 0, o);
    EXPECT(o[0] == 0x6627e8d5u && o[1] == 0xe169c58du && o[2] == 0xbc57ac4cu && o[3] == 0x9b00dbd8u);
    philox4x32(~0ull, ~0ull, ~0ull, o);
    EXPECT(o[0] == 0x408f276du && o[1] == 0x41c83b0eu && o[2] == 0xa20bc7c6u && o[3] == 0x6d5451fdu);
    philox4x32(0x299f31d0a4093822ull, 0x0370734413198a2eull, 0x85a308d3243f6a88ull, o);
    EXPECT(o[0] == 0xd16cfe09u && o[1] == 0x94fdccebu && o[2] == 0x5001e420u && o[3] == 0x24126ea1u);
}

TEST(streams_are_pure_functions) {
    rng_t a, b;
    rng_init(&a, 42, 7);
    rng_init(&b, 42, 7);
    for (int i = 0; i < 1000; i++) EXPECT(rng_u32(&a) == rng_u32(&b));
    rng_init(&a, 42, 7);
    for (int i = 0; i < 37; i++) {
        float u = rng_uniform_f(&a);
        EXPECT(u == rng_uniform_at(42, 7, (uint64_t)i));
    }
    EXPECT(rng_derive3(1, 2, 3) != rng_derive3(1, 3, 2));
    EXPECT(rng_derive3(1, 2, 3) == rng_derive3(1, 2, 3));
}

TEST(uniform_moments) {
    rng_t r;
    rng_init(&r, 123, 0);
    double sum = 0, sum2 = 0, lo = 1e9, hi = -1e9;
    int n = 200000;
    for (int i = 0; i < n; i++) {
        double u = rng_uniform(&r, -40, 40);
        sum += u, sum2 += u * u;
        lo = u < lo ? u : lo, hi = u > hi ? u : hi;
    }
    double mean = sum / n, var = sum2 / n - mean * mean;
    EXPECT(fabs(mean) < 0.3);
    EXPECT(fabs(var - 80.0 * 80.0 / 12.0) < 10.0);
    EXPECT(lo >= -40 && hi < 40 && lo < -39.9 && hi > 39.9);
}

TEST(cli_flags_env_and_errors) {
    const char *ep = "default";
    int n = 3, flag = 0;
    double lr = 0.5;
    cli_opt_t opts[] = {
        {"endpoint", CLI_STR, &ep, "TEST_CLI_EP", "ENDPOINT", "where"},
        {"count", CLI_INT, &n, NULL, "N", "how many"},
        {"lr", CLI_F64, &lr, "TEST_CLI_LR", "X", "rate"},
        {"flag", CLI_BOOL, &flag, NULL, NULL, "a switch"},
    };
    setenv("TEST_CLI_EP", "from-env", 1);
    setenv("TEST_CLI_LR", "0.25", 1);
    char *argv1[] = {"prog", "--count", "9", "--flag", "--endpoint", "from-flag", NULL};
    EXPECT(cli_parse(6, argv1, opts, 4, "", "", NULL) == 0);
    EXPECT(strcmp(ep, "from-flag") == 0 && n == 9 && flag == 1 && lr == 0.25);

    char *argv2[] = {"prog", "--bogus", NULL};
    EXPECT(cli_parse(2, argv2, opts, 4, "", "", NULL) == -1);
    char *argv3[] = {"prog", "--count", "nine", NULL};
    EXPECT(cli_parse(3, argv3, opts, 4, "", "", NULL) == -1);
    char *argv4[] = {"prog", "stray", NULL};
    EXPECT(cli_parse(2, argv4, opts, 4, "", "", NULL) == -1);
    int first = 0;
    char *argv5[] = {"prog", "a.jpg", "--count", "2", "b.jpg", NULL};
    EXPECT(cli_parse(5, argv5, opts, 4, "", "", &first) == 0);
    EXPECT(n == 2 && first == 3);   /* getopt permutes: positionals end up after the flags */
    setenv("TEST_CLI_LR", "fast", 1);
    char *argv6[] = {"prog", NULL};
    EXPECT(cli_parse(1, argv6, opts, 4, "", "", NULL) == -1);
}

static int failing_step(int x) {
    CHECK(x > 0, "x is %d", x);
    return 0;
}
static int caller(int x) {
    TRY(failing_step(x));
    return 0;
}
static int unexplained(void) {
    CHECK(1 == 0);
    return 0;
}

/* The message is for the user: what failed and why, no source locations; the statements and
 * file:line go to the trail (shown at --log-level debug). */
TEST(check_keeps_locations_out_of_the_message) {
    err_clear();
    EXPECT(caller(1) == 0);
    EXPECT(caller(-3) == -1);
    EXPECT(strcmp(err_msg(), "x is -3") == 0);
    const char *t = err_trail();
    EXPECT(strstr(t, "common/test_common.c:") == NULL && strstr(t, "tests/test_common.c:") != NULL);
    EXPECT(strstr(t, "check failed: x > 0") != NULL && strstr(t, "failing_step(x)") != NULL);
    err_prepend("while testing");
    EXPECT(strcmp(err_msg(), "while testing: x is -3") == 0);
    EXPECT(unexplained() == -1 && strcmp(err_msg(), CHECK_UNEXPLAINED) == 0);
    EXPECT(strstr(err_trail(), "check failed: 1 == 0") != NULL);
    err_set("%s, again", err_msg());   /* an argument that points into the buffer itself */
    EXPECT(strcmp(err_msg(), CHECK_UNEXPLAINED ", again") == 0 && err_trail()[0] == '\0');
    err_clear();
    EXPECT(strcmp(err_msg(), "unknown error") == 0);
}

/* log_setup: a known level (any case) is taken, an unknown one refused for main() to exit 2. */
TEST(log_setup_refuses_unknown_levels) {
    EXPECT(log_setup("test_common", "warn") == 0);
    EXPECT(log_setup("test_common", "DEBUG") == 0);
    EXPECT(log_setup("test_common", NULL) == 0);   /* PAWPIPE_LOG_LEVEL, else info */
    EXPECT(log_setup("test_common", "loud") == -1);
    EXPECT(log_setup("test_common", "") == -1);
}

/* A thread named "pawspin" that burns about 60 ms of CPU, then waits (its count no longer moving)
 * until told to end. */
static volatile int g_spun, g_end;

static void *spin_main(void *arg) {
    (void)arg;
    pthread_setname_np(pthread_self(), "pawspin");
    double t0 = cpu_thread_ms();
    volatile unsigned long x = 0;
    while (cpu_thread_ms() - t0 < 60.0) x++;
    g_spun = 1;
    while (!g_end) sleep_ms(1);
    return NULL;
}

/* proc_threads_cpu_ms counts the named thread's CPU time and nothing for a name no thread has. */
TEST(cpu_time_of_named_threads) {
    pthread_t th;
    REQUIRE(pthread_create(&th, NULL, spin_main, NULL) == 0);
    while (!g_spun) sleep_ms(1);
    double ms = proc_threads_cpu_ms("pawspin");
    g_end = 1;
    pthread_join(th, NULL);
    fprintf(stderr, "  pawspin: %.1f ms of CPU\n", ms);
    EXPECT(ms >= 55.0 && ms < 5000.0);
    EXPECT(proc_threads_cpu_ms("no-such-thread") == 0.0);
    EXPECT(cpu_process_ms() >= ms);
}

static int is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* mkdir_p makes every missing level, takes an existing folder, refuses a file in the way. */
TEST(mkdir_p_makes_parents) {
    char root[256], deep[400], file[400], under_file[500];
    REQUIRE(tl_tmpdir(root, sizeof root, "common") == 0);
    snprintf(deep, sizeof deep, "%s/a/b/c/", root);
    EXPECT(mkdir_p(deep) == 0 && is_dir(deep));
    EXPECT(mkdir_p(deep) == 0);                       /* already there */
    snprintf(file, sizeof file, "%s/a/f", root);
    REQUIRE(tl_write_text(file, "") == 0);
    EXPECT(mkdir_p(file) == -1 && strstr(err_msg(), "not a directory"));
    snprintf(under_file, sizeof under_file, "%s/g", file);
    EXPECT(mkdir_p(under_file) == -1 && strstr(err_msg(), "cannot create"));
    EXPECT(mkdir_p("") == -1);
    unlink(file);
    static const char *levels[] = {"a/b/c", "a/b", "a"};
    for (int i = 0; i < 3; i++) {
        snprintf(deep, sizeof deep, "%s/%s", root, levels[i]);
        EXPECT(rmdir(deep) == 0);
    }
    EXPECT(rmdir(root) == 0);
}

int main(void) {
    RUN(philox_known_answers);
    RUN(streams_are_pure_functions);
    RUN(uniform_moments);
    RUN(cli_flags_env_and_errors);
    RUN(check_keeps_locations_out_of_the_message);
    RUN(log_setup_refuses_unknown_levels);
    RUN(cpu_time_of_named_threads);
    RUN(mkdir_p_makes_parents);
    return TEST_SUMMARY();
}
