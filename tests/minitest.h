/* minitest.h - the test harness of cnnvis.h's tests (in the style of genann's minctest).

   CHECK(cond, fmt, ...)   one assertion: on failure prints file:line and the message
   RUN(fn)                 runs a test function, counting it passed if no CHECK failed
   SKIP(why)               inside a test: prints the reason, counts it skipped, returns
   SUMMARY()               prints "N passed, N failed" (and skipped) and returns the exit code

   Each test file is one program; `make test` runs them all and adds up their lines.
   MINITEST_ONLY="test_a test_b" in the environment runs only the tests named (to step
   through one in a debugger, or to give a slow tool such as ThreadSanitizer only the
   tests that matter to it). MINITEST_EMULATED=1 (set by `make test-arm64` and `make
   test-nehalem`) says the program runs under qemu-user, about a hundred times slower than
   natively: the heaviest checks then use smaller nets or fewer points (minitest_emulated).
   MINITEST_ASAN, MINITEST_TSAN and MINITEST_MSAN are defined in a build under that
   sanitizer, which slows the float loops several times and measures its own shadow memory
   in RSS: tests shrink their heaviest work, or skip a memory measurement, there. */
#ifndef MINITEST_H
#define MINITEST_H
#include <stdio.h>
#include <string.h>
#include <math.h>
#include <stdlib.h>

/* gcc says so with __SANITIZE_*__, clang with __has_feature (which gcc lacks before 14, so
   it must not appear in the same #if as defined()). */
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MINITEST_ASAN 1
#endif
#if __has_feature(thread_sanitizer)
#define MINITEST_TSAN 1
#endif
#if __has_feature(memory_sanitizer)
#define MINITEST_MSAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) && !defined(MINITEST_ASAN)
#define MINITEST_ASAN 1
#endif
#if defined(__SANITIZE_THREAD__) && !defined(MINITEST_TSAN)
#define MINITEST_TSAN 1
#endif

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

/* Whether MINITEST_ONLY is unset or lists `name` as a whole word. */
static int minitest_selected(const char *name)
{
    const char *only = getenv("MINITEST_ONLY"), *p;
    size_t n = strlen(name);
    if (!only || !*only) return 1;
    for (p = strstr(only, name); p; p = strstr(p + 1, name))
        if ((p == only || p[-1] == ' ' || p[-1] == ',') && (p[n] == 0 || p[n] == ' ' || p[n] == ',')) return 1;
    return 0;
}

/* Whether MINITEST_EMULATED is set to something other than 0. */
static inline int minitest_emulated(void)
{
    const char *e = getenv("MINITEST_EMULATED");
    return e && *e && strcmp(e, "0") != 0;
}

#define RUN(fn)                                                               \
    if (minitest_selected(#fn)) do {                                          \
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
