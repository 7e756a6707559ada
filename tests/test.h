/* test.h - minimal test harness for the nn.h tests (C99, also valid C++11).

   Write test functions that use the CHECK macros, list them in a table and
   hand the table to test_main:

       static void test_add(void) { CHECK(1 + 1 == 2); CHECK_NEAR(0.1 + 0.2, 0.3, 1e-12); }
       static const test_case tests[] = { TEST(test_add) };
       int main(int argc, char **argv) { return TEST_MAIN(argc, argv, tests); }

   Rules:
     - A test function fails if any check inside it failed, and also if it
       performed no check at all (a test that cannot fail proves nothing).
     - argv[1], if given, runs only the tests whose name contains it.
     - Failures print file:line and the failed expression or message; only the
       first TEST_MAX_REPORTS per test are printed, every one is counted.
     - The last line printed is exactly "N passed, N failed" (test functions),
       and the exit code is non-zero when a test failed or none matched.
     - TEST_NOTE(...) prints an informational line (e.g. a measured error).
   Everything goes to stdout, flushed, so logs keep their order. */
#ifndef NN_TESTS_TEST_H
#define NN_TESTS_TEST_H

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#if defined(__GNUC__) || defined(__clang__)
#define TEST__FN static __attribute__((unused))
#define TEST__PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define TEST__FN static
#define TEST__PRINTF(a, b)
#endif

#ifndef TEST_MAX_REPORTS
#define TEST_MAX_REPORTS 8
#endif

typedef void (*test_fn)(void);
typedef struct test_case {
    const char *name;
    test_fn fn;
} test_case;

#define TEST(fn) { #fn, fn }
#define TEST_MAIN(argc, argv, table) \
    test_main((argc), (argv), (table), (int)(sizeof(table) / sizeof((table)[0])))

/* State of the test being run (one copy per program: include test.h in one file). */
static const char *test__name = "";
static long test__checks = 0;
static long test__failures = 0;

TEST__FN void test__vreport(const char *file, int line, const char *fmt, va_list ap) {
    test__failures++;
    if (test__failures <= TEST_MAX_REPORTS) {
        printf("  %s:%d: %s: ", file, line, test__name);
        vprintf(fmt, ap);
        printf("\n");
    } else if (test__failures == TEST_MAX_REPORTS + 1) {
        printf("  %s: further failures not shown\n", test__name);
    }
    fflush(stdout);
}

/* Records one check; on failure prints the printf-style message. Returns ok. */
TEST__FN int test_checkf(int ok, const char *file, int line, const char *fmt, ...)
    TEST__PRINTF(4, 5);
TEST__FN int test_checkf(int ok, const char *file, int line, const char *fmt, ...) {
    test__checks++;
    if (!ok) {
        va_list ap;
        va_start(ap, fmt);
        test__vreport(file, line, fmt, ap);
        va_end(ap);
    }
    return ok;
}

/* |got - want| <= atol + rtol * |want| (NaN never passes; equal values, infinities included, do). */
TEST__FN int test_check_close(double got, double want, double rtol, double atol, const char *file,
                              int line, const char *expr) {
    double d = fabs(got - want);
    int ok = got == want || d <= atol + rtol * fabs(want);
    return test_checkf(ok, file, line, "%s: got %.9g, want %.9g (|diff| %.3g > tol %.3g)", expr, got,
                       want, d, atol + rtol * fabs(want));
}

TEST__FN int test_check_eq(long a, long b, const char *file, int line, const char *ea, const char *eb) {
    return test_checkf(a == b, file, line, "%s == %s failed: %ld vs %ld", ea, eb, a, b);
}

TEST__FN void test_note(const char *fmt, ...) TEST__PRINTF(1, 2);
TEST__FN void test_note(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    printf("  note: ");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    fflush(stdout);
}

#define CHECK(cond) test_checkf((cond) != 0, __FILE__, __LINE__, "CHECK(%s) failed", #cond)
/* CHECKF(cond, fmt, ...): CHECK with a printf-style message. */
#define CHECKF(cond, ...) test_checkf((cond) != 0, __FILE__, __LINE__, __VA_ARGS__)
/* CHECK_EQ_INT(a, b): integer equality, each side evaluated exactly once. */
#define CHECK_EQ_INT(a, b) test_check_eq((long)(a), (long)(b), __FILE__, __LINE__, #a, #b)
#define CHECK_CLOSE(got, want, rtol, atol) \
    test_check_close((double)(got), (double)(want), (rtol), (atol), __FILE__, __LINE__, #got)
#define CHECK_NEAR(got, want, atol) CHECK_CLOSE(got, want, 0.0, atol)
#define TEST_NOTE test_note

TEST__FN int test_main(int argc, char **argv, const test_case *tests, int n) {
    const char *filter = argc > 1 ? argv[1] : NULL;
    int i, passed = 0, failed = 0, ran = 0;
    for (i = 0; i < n; i++) {
        clock_t t0;
        double ms;
        if (filter && !strstr(tests[i].name, filter)) continue;
        ran++;
        test__name = tests[i].name;
        test__checks = 0;
        test__failures = 0;
        t0 = clock();
        tests[i].fn();
        ms = 1000.0 * (double)(clock() - t0) / CLOCKS_PER_SEC;
        if (test__checks == 0) {
            printf("  %s: no checks performed\n", test__name);
            test__failures = 1;
        }
        if (test__failures) {
            failed++;
            printf("FAIL %s (%ld of %ld checks failed)\n", test__name, test__failures, test__checks);
        } else {
            passed++;
            printf("ok   %s (%ld checks, %.0f ms)\n", test__name, test__checks, ms);
        }
        fflush(stdout);
    }
    if (filter && ran == 0) printf("no test name contains \"%s\"\n", filter);
    printf("%d passed, %d failed\n", passed, failed);
    fflush(stdout);
    return (failed || ran == 0) ? 1 : 0;
}

#endif /* NN_TESTS_TEST_H */
