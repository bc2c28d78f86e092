/* minitest.h - the test harness of cnnvis.h's tests (in the style of genann's minctest).

   CHECK(cond, fmt, ...)   one assertion: on failure prints file:line and the message
   RUN(fn)                 runs a test function, counting it passed if no CHECK failed
   SKIP(why)               inside a test: prints the reason, counts it skipped, returns
   SUMMARY()               prints "N passed, N failed" (and skipped) and returns the exit code

   Each test file is one program; `make test` runs them all and adds up their lines. */
#ifndef MINITEST_H
#define MINITEST_H
#include <stdio.h>
#include <string.h>
#include <math.h>

static int minitest_passed, minitest_failed, minitest_skipped, minitest_current_failed, minitest_current_skipped;

#define CHECK(cond, ...)                                                      \
    do {                                                                      \
        if (!(cond)) {                                                        \
            printf("  FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);          \
            printf(__VA_ARGS__);                                              \
            printf("\n");                                                     \
            minitest_current_failed++;                                        \
        }                                                                     \
    } while (0)

/* Stop the current test (e.g. after a failed setup). cond is evaluated once. */
#define REQUIRE(cond, ...)                                                    \
    do {                                                                      \
        if (!(cond)) {                                                        \
            printf("  FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);          \
            printf(__VA_ARGS__);                                              \
            printf("\n");                                                     \
            minitest_current_failed++;                                        \
            return;                                                           \
        }                                                                     \
    } while (0)

#define SKIP(...)                                                             \
    do {                                                                      \
        printf("  SKIP: ");                                                   \
        printf(__VA_ARGS__);                                                  \
        printf("\n");                                                         \
        minitest_current_skipped = 1;                                         \
        return;                                                               \
    } while (0)

#define RUN(fn)                                                               \
    do {                                                                      \
        minitest_current_failed = 0, minitest_current_skipped = 0;            \
        printf("%s\n", #fn);                                                  \
        fflush(stdout);                                                       \
        fn();                                                                 \
        if (minitest_current_failed) minitest_failed++;                       \
        else if (minitest_current_skipped) minitest_skipped++;                \
        else minitest_passed++;                                               \
        fflush(stdout);                                                       \
    } while (0)

#define SUMMARY()                                                             \
    (printf("%d passed, %d failed, %d skipped\n", minitest_passed, minitest_failed, minitest_skipped), \
     minitest_failed ? 1 : 0)

#endif
