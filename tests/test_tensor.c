/* test_tensor.c - tensors (create, views, statistics, printing), the RNG (golden values
   for seed 42, ranges, rough uniformity and normality) and the error functions. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>

/* An allocator that can be told to fail: the library's CNNVIS_ERR_NOMEM paths without
   asking the OS for terabytes (which a sanitizer build would abort on). */
static size_t test_alloc_limit = (size_t)-1;
static void *test_malloc(size_t n) { return n > test_alloc_limit ? NULL : malloc(n); }
#define CNNVIS_MALLOC(sz) test_malloc(sz)
#define CNNVIS_FREE(p) free(p)

#define CNNVIS_IMPLEMENTATION
#include "cnnvis.h"
#include "minitest.h"


#include <pthread.h>
#include <unistd.h>

static int has(const char *haystack, const char *needle) { return strstr(haystack, needle) != NULL; }

static int is_zeroed(const cnnvis_tensor *t)
{
    return t->n == 0 && t->c == 0 && t->h == 0 && t->w == 0 && t->data == NULL && t->owner == 0;
}

static void test_create(void)
{
    cnnvis_tensor t;
    size_t i, zero = 0;
    REQUIRE(cnnvis_tensor_create(&t, 2, 3, 4, 5) == CNNVIS_OK, "%s", cnnvis_last_error());
    CHECK(t.n == 2 && t.c == 3 && t.h == 4 && t.w == 5, "shape (%d, %d, %d, %d)", t.n, t.c, t.h, t.w);
    CHECK(t.owner == 1, "owner %d", t.owner);
    CHECK(cnnvis_tensor_count(&t) == 120, "count %zu", cnnvis_tensor_count(&t));
    for (i = 0; i < 120; i++) zero += t.data[i] == 0.0f;
    CHECK(zero == 120, "only %zu of 120 elements are zero", zero);
    t.data[119] = 1.0f; /* the whole block is writable (ASan checks) */
    cnnvis_tensor_free(&t);
    CHECK(is_zeroed(&t), "free leaves the tensor zeroed");

    /* 1x1x1x1 is the smallest */
    REQUIRE(cnnvis_tensor_create(&t, 1, 1, 1, 1) == CNNVIS_OK, "%s", cnnvis_last_error());
    CHECK(cnnvis_tensor_count(&t) == 1, "count %zu", cnnvis_tensor_count(&t));
    cnnvis_tensor_free(&t);
}

static void test_create_invalid(void)
{
    static const int shapes[][4] = {{0, 1, 1, 1},  {1, 0, 1, 1},  {1, 1, 0, 1},  {1, 1, 1, 0},
                                    {-1, 1, 1, 1}, {1, -5, 1, 1}, {1, 1, -1, 1}, {1, 1, 1, -2147483647 - 1}};
    cnnvis_tensor t;
    size_t k;
    for (k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
        cnnvis_result r;
        memset(&t, 0x5a, sizeof t); /* garbage in: must come back zeroed */
        cnnvis_clear_error();
        r = cnnvis_tensor_create(&t, shapes[k][0], shapes[k][1], shapes[k][2], shapes[k][3]);
        CHECK(r == CNNVIS_ERR_ARG, "shape %zu: got %s", k, cnnvis_result_str(r));
        CHECK(is_zeroed(&t), "shape %zu: t not zeroed after failure", k);
        CHECK(has(cnnvis_last_error(), "size < 1"), "shape %zu: message \"%s\"", k, cnnvis_last_error());
    }
    /* sizes whose product overflows size_t: an error, not a crash or a tiny allocation */
    {
        static const int big[][4] = {{65536, 65536, 65536, 65536},
                                     {2147483647, 2147483647, 2147483647, 2147483647},
                                     {65536, 65536, 65536, 16384}, /* 2^62 floats: 2^64 bytes */
                                     {1, 2147483647, 2147483647, 2147483647}};
        for (k = 0; k < sizeof big / sizeof big[0]; k++) {
            cnnvis_result r;
            memset(&t, 0x5a, sizeof t);
            cnnvis_clear_error();
            r = cnnvis_tensor_create(&t, big[k][0], big[k][1], big[k][2], big[k][3]);
            CHECK(r == CNNVIS_ERR_ARG, "overflow shape %zu: got %s (%s)", k, cnnvis_result_str(r), cnnvis_last_error());
            CHECK(is_zeroed(&t), "overflow shape %zu: t not zeroed", k);
            CHECK(has(cnnvis_last_error(), "overflow"), "overflow shape %zu: message \"%s\"", k, cnnvis_last_error());
        }
    }
    /* an allocation failure: CNNVIS_ERR_NOMEM, t zeroed */
    {
        cnnvis_result r;
        test_alloc_limit = 1u << 20;
        memset(&t, 0x5a, sizeof t);
        cnnvis_clear_error();
        r = cnnvis_tensor_create(&t, 1, 1, 1024, 1024); /* 4 MiB > 1 MiB */
        test_alloc_limit = (size_t)-1;
        CHECK(r == CNNVIS_ERR_NOMEM, "got %s", cnnvis_result_str(r));
        CHECK(is_zeroed(&t), "t not zeroed after NOMEM");
        CHECK(has(cnnvis_last_error(), "out of memory"), "message \"%s\"", cnnvis_last_error());
    }
    cnnvis_clear_error();
    CHECK(cnnvis_tensor_create(NULL, 1, 1, 1, 1) == CNNVIS_ERR_ARG, "NULL t");
    CHECK(cnnvis_last_error()[0] != 0, "no message for NULL t");
}

static void test_free_and_wrap(void)
{
    cnnvis_tensor t, z;
    float data[24];
    int i;
    memset(&z, 0, sizeof z);
    cnnvis_tensor_free(NULL); /* fine */
    cnnvis_tensor_free(&z);   /* fine */
    cnnvis_tensor_free(&z);   /* twice too */
    CHECK(is_zeroed(&z), "zeroed stays zeroed");
    for (i = 0; i < 24; i++) data[i] = (float)i;
    t = cnnvis_tensor_wrap(data, 1, 2, 3, 4);
    CHECK(t.data == data && t.n == 1 && t.c == 2 && t.h == 3 && t.w == 4 && t.owner == 0, "wrap fields");
    CHECK(cnnvis_tensor_count(&t) == 24, "count %zu", cnnvis_tensor_count(&t));
    cnnvis_tensor_free(&t); /* a view: forgets, must not free the stack array (ASan would say) */
    CHECK(is_zeroed(&t), "freed view zeroed");
    CHECK(data[5] == 5.0f, "view's data untouched");
    CHECK(cnnvis_tensor_count(NULL) == 0, "count(NULL)");
    {
        cnnvis_tensor a = cnnvis_tensor_wrap(data, 1, 2, 3, 4), b = cnnvis_tensor_wrap(data, 1, 2, 4, 3);
        CHECK(cnnvis__tensor_same_shape(&a, &a), "same shape with itself");
        CHECK(!cnnvis__tensor_same_shape(&a, &b), "2x3x4 vs 2x4x3");
        CHECK(!cnnvis__tensor_same_shape(&a, NULL) && !cnnvis__tensor_same_shape(NULL, &a), "NULL never the same shape");
    }
}

static void test_reductions(void)
{
    float a[6] = {1, -2, 3, -4, 5, -6};
    float nans[5];
    cnnvis_tensor ta = cnnvis_tensor_wrap(a, 1, 1, 2, 3);
    cnnvis_stats st;

    st = cnnvis_tensor_stats(&ta);
    CHECK(st.min == -6.0f && st.max == 5.0f, "minmax %g %g", st.min, st.max);
    /* NaN ignored by minmax */
    nans[0] = NAN, nans[1] = 2, nans[2] = NAN, nans[3] = -3, nans[4] = NAN;
    {
        cnnvis_tensor t = cnnvis_tensor_wrap(nans, 1, 1, 1, 5);
        st = cnnvis_tensor_stats(&t);
        CHECK(st.min == -3.0f && st.max == 2.0f, "minmax with NaNs: %g %g", st.min, st.max);
        nans[1] = nans[3] = NAN;
        st = cnnvis_tensor_stats(&t);
        CHECK(st.min == 0.0f && st.max == 0.0f, "minmax of all NaN: %g %g (documented: 0, 0)", st.min, st.max);
    }
    /* infinities are numbers */
    {
        float v[3] = {-INFINITY, 0, INFINITY};
        cnnvis_tensor t = cnnvis_tensor_wrap(v, 1, 1, 1, 3);
        st = cnnvis_tensor_stats(&t);
        CHECK(isinf(st.min) && st.min < 0 && isinf(st.max) && st.max > 0, "minmax with infinities: %g %g", st.min,
              st.max);
    }
}

/* cnnvis_tensor_stats: range without NaN, mean of the finite values (in double), exact zeros
   (-0 too), non-finite values; all NaN and NULL. */
static void test_stats(void)
{
    float mixed[9] = {1, -2, 0, 0, 3, 0, 0, 0, 0};
    float big[6] = {1e8f, 1, 1, 1, 1, -1e8f};
    float nans[4];
    cnnvis_tensor t;
    cnnvis_stats st;
    mixed[3] = NAN, mixed[5] = INFINITY, mixed[6] = -0.0f, mixed[7] = -INFINITY, mixed[8] = 0.5f;
    t = cnnvis_tensor_wrap(mixed, 1, 1, 3, 3);
    st = cnnvis_tensor_stats(&t);
    CHECK(st.count == 9, "count %zu", st.count);
    CHECK(isinf(st.min) && st.min < 0 && isinf(st.max) && st.max > 0, "min %g max %g: NaN ignored, infinities count",
          st.min, st.max);
    CHECK(st.mean == 2.5 / 6, "mean %.17g of the 6 finite values, expected 2.5/6", st.mean);
    CHECK(st.zeros == 2, "zeros %zu (0 and -0)", st.zeros);
    CHECK(st.nonfinite == 3, "nonfinite %zu (NaN, +inf, -inf)", st.nonfinite);
    /* the same without the infinities: the range of the finite values */
    mixed[5] = 4, mixed[7] = -5;
    st = cnnvis_tensor_stats(&t);
    CHECK(st.min == -5.0f && st.max == 4.0f, "min %g max %g", st.min, st.max);
    CHECK(st.mean == 1.5 / 8 && st.nonfinite == 1 && st.zeros == 2, "mean %.17g nonfinite %zu zeros %zu", st.mean,
          st.nonfinite, st.zeros);
    /* the mean is accumulated in double: 1e8 + 4 ones - 1e8 is 4, not 0 as a float sum gives */
    t = cnnvis_tensor_wrap(big, 1, 1, 1, 6);
    st = cnnvis_tensor_stats(&t);
    CHECK(st.mean == 4.0 / 6, "mean %.17g, expected 4/6", st.mean);
    CHECK(st.min == -1e8f && st.max == 1e8f && st.zeros == 0 && st.nonfinite == 0, "big: %g %g %zu %zu", st.min, st.max,
          st.zeros, st.nonfinite);
    /* all NaN: min = max = 0 (documented), mean 0 (no finite value), every value non-finite */
    nans[0] = nans[1] = nans[2] = nans[3] = NAN;
    t = cnnvis_tensor_wrap(nans, 2, 1, 2, 1);
    st = cnnvis_tensor_stats(&t);
    CHECK(st.min == 0.0f && st.max == 0.0f && st.mean == 0.0, "all NaN: min %g max %g mean %g", st.min, st.max,
          st.mean);
    CHECK(st.count == 4 && st.zeros == 0 && st.nonfinite == 4, "all NaN: count %zu zeros %zu nonfinite %zu", st.count,
          st.zeros, st.nonfinite);
    /* NULL: all zero */
    st = cnnvis_tensor_stats(NULL);
    CHECK(st.min == 0.0f && st.max == 0.0f && st.mean == 0.0 && st.count == 0 && st.zeros == 0 && st.nonfinite == 0,
          "NULL: min %g max %g mean %g count %zu zeros %zu nonfinite %zu", st.min, st.max, st.mean, st.count, st.zeros,
          st.nonfinite);
}

/* What fn(arg) prints on stdout, in buf (zero-terminated). */
static size_t capture_stdout(void (*fn)(const void *), const void *arg, char *buf, size_t size)
{
    FILE *tmp = tmpfile();
    int saved;
    size_t got;
    buf[0] = 0;
    if (!tmp) return 0;
    fflush(stdout);
    saved = dup(fileno(stdout));
    if (saved < 0 || dup2(fileno(tmp), fileno(stdout)) < 0) {
        fclose(tmp);
        return 0;
    }
    fn(arg);
    fflush(stdout);
    dup2(saved, fileno(stdout));
    close(saved);
    rewind(tmp);
    got = fread(buf, 1, size - 1, tmp);
    buf[got] = 0;
    fclose(tmp);
    return got;
}

static void print_macro(const void *arg)
{
    cnnvis_tensor t = *(const cnnvis_tensor *)arg;
    CNNVIS_PRINT(t);
}
static void print_all(const void *arg) { cnnvis_tensor_print((const cnnvis_tensor *)arg, "grad", 20); }
static void print_default(const void *arg) { cnnvis_tensor_print((const cnnvis_tensor *)arg, "x", 0); }

/* cnnvis_tensor_print: the documented two lines, name, shape, statistics, the first values. */
static void test_print(void)
{
    float v[10] = {0.5f, -1, 0, 2, 0, 0.25f, 4, -3, 0, 1};
    cnnvis_tensor t = cnnvis_tensor_wrap(v, 1, 2, 1, 5);
    char out[512];
    static const char *macro = "t (1, 2, 1, 5): min -3 max 4 mean 0.375, zeros 3 of 10, nonfinite 0\n"
                               "  [0.5 -1 0 2 0 0.25 4 -3 ...]\n";
    static const char *all = "grad (1, 2, 1, 5): min -3 max 4 mean 0.375, zeros 3 of 10, nonfinite 0\n"
                             "  [0.5 -1 0 2 0 0.25 4 -3 0 1]\n";
    static const char *dflt = "x (1, 2, 1, 5): min -3 max 4 mean 0.375, zeros 3 of 10, nonfinite 0\n"
                              "  [0.5 -1 0 2 0 0.25 4 -3 ...]\n";
    capture_stdout(print_macro, &t, out, sizeof out);
    CHECK(strcmp(out, macro) == 0, "CNNVIS_PRINT(t) printed\n%s-- expected\n%s", out, macro);
    capture_stdout(print_all, &t, out, sizeof out);
    CHECK(strcmp(out, all) == 0, "print with 20 values printed\n%s-- expected\n%s", out, all);
    capture_stdout(print_default, &t, out, sizeof out);
    CHECK(strcmp(out, dflt) == 0, "print with max_values 0 (8) printed\n%s-- expected\n%s", out, dflt);
}

/* --- RNG ------------------------------------------------------------------------------ */

static void test_rng_golden(void)
{
    /* Computed by this implementation and checked against an independent Python transcription
       of splitmix64 + xoshiro256** and of the polar method (with math.log). */
    static const uint64_t u64[4] = {0x15780b2e0c2ec716ULL, 0x6104d9866d113a7eULL, 0xae17533239e499a1ULL,
                                    0xecb8ad4703b360a1ULL};
    static const float uni[4] = {0x1.5780bp-4f, 0x1.841364p-2f, 0x1.5c2ea6p-1f, 0x1.d9715ap-1f};
    static const float nrm[4] = {-0x1.73d2fep-1f, 0x1.c5e22p-3f, 0x1.db514cp-2f, 0x1.79eb7cp+0f};
    static const uint32_t below[4] = {718, 782, 210, 959};
    cnnvis_rng rng;
    int i;
    cnnvis__rng_seed(&rng, 42);
    for (i = 0; i < 4; i++) {
        uint64_t v = cnnvis__rng_u64(&rng);
        CHECK(v == u64[i], "u64 #%d: 0x%016llx, expected 0x%016llx", i, (unsigned long long)v, (unsigned long long)u64[i]);
    }
    cnnvis__rng_seed(&rng, 42);
    for (i = 0; i < 4; i++) {
        float v = cnnvis__rng_uniform(&rng);
        CHECK(v == uni[i], "uniform #%d: %a (%.9g), expected %a", i, v, v, uni[i]);
    }
    cnnvis__rng_seed(&rng, 42);
    for (i = 0; i < 4; i++) {
        float v = cnnvis__rng_normal(&rng);
        CHECK(v == nrm[i], "normal #%d: %a (%.9g), expected %a", i, v, v, nrm[i]);
    }
    cnnvis__rng_seed(&rng, 42);
    for (i = 0; i < 4; i++) {
        uint32_t v = cnnvis__rng_below(&rng, 1000);
        CHECK(v == below[i], "below(1000) #%d: %u, expected %u", i, v, below[i]);
    }
}

static void test_rng_streams(void)
{
    cnnvis_rng a, b;
    int i, same = 0, differ = 0;
    cnnvis__rng_seed(&a, 12345), cnnvis__rng_seed(&b, 12345);
    for (i = 0; i < 1000; i++) same += cnnvis__rng_u64(&a) == cnnvis__rng_u64(&b);
    CHECK(same == 1000, "same seed: only %d of 1000 values equal", same);
    cnnvis__rng_seed(&a, 0), cnnvis__rng_seed(&b, 1);
    for (i = 0; i < 1000; i++) differ += cnnvis__rng_u64(&a) != cnnvis__rng_u64(&b);
    CHECK(differ == 1000, "seeds 0 and 1: %d of 1000 values differ", differ);
    /* seed 0 is a seed like any other: not a stuck all-zero state */
    cnnvis__rng_seed(&a, 0);
    CHECK(cnnvis__rng_u64(&a) != 0 || cnnvis__rng_u64(&a) != 0, "seed 0 gives zeros");
}

static void test_rng_uniform(void)
{
    cnnvis_rng rng;
    int i, bins[10] = {0}, out = 0;
    float lo = 1, hi = 0;
    double chi2 = 0;
    cnnvis__rng_seed(&rng, 7);
    for (i = 0; i < 100000; i++) {
        float u = cnnvis__rng_uniform(&rng);
        if (!(u >= 0.0f && u < 1.0f)) out++;
        else bins[(int)(u * 10)]++;
        lo = u < lo ? u : lo, hi = u > hi ? u : hi;
    }
    CHECK(out == 0, "%d uniforms outside [0, 1)", out);
    CHECK(lo < 1e-4f && hi > 1 - 1e-4f, "range [%g, %g] does not cover [0, 1)", lo, hi);
    for (i = 0; i < 10; i++) chi2 += (bins[i] - 10000.0) * (bins[i] - 10000.0) / 10000.0;
    /* 9 degrees of freedom: P(chi2 > 40) is about 1e-5 */
    CHECK(chi2 < 40, "uniform chi-square %g over 10 bins", chi2);
}

static void test_rng_below(void)
{
    static const uint32_t ns[] = {1, 2, 3, 7, 10, 1000, 0x80000001u, 0xfffffffbu};
    cnnvis_rng rng;
    size_t k;
    int i;
    cnnvis__rng_seed(&rng, 99);
    CHECK(cnnvis__rng_below(&rng, 0) == 0, "below(0) must be 0");
    for (k = 0; k < sizeof ns / sizeof ns[0]; k++) {
        int out = 0;
        for (i = 0; i < 10000; i++) out += cnnvis__rng_below(&rng, ns[k]) >= ns[k];
        CHECK(out == 0, "below(%u): %d values out of range", ns[k], out);
    }
    /* roughly uniform over 7 values (not a power of 2) */
    {
        int bins[7] = {0};
        double chi2 = 0;
        for (i = 0; i < 100000; i++) bins[cnnvis__rng_below(&rng, 7)]++;
        for (i = 0; i < 7; i++) chi2 += (bins[i] - 100000.0 / 7) * (bins[i] - 100000.0 / 7) / (100000.0 / 7);
        CHECK(chi2 < 35, "below(7) chi-square %g (6 dof)", chi2); /* P(> 35) ~ 5e-6 */
    }
    /* above 2^31 the rejection matters: a modulo-biased generator would put 2/3 of the draws
       of below(3 * 2^30) into the lower half */
    {
        int low = 0;
        for (i = 0; i < 100000; i++) low += cnnvis__rng_below(&rng, 3u << 30) < (3u << 29);
        CHECK(low > 49000 && low < 51000, "below(3*2^30): %d of 100000 in the lower half", low);
    }
}

static void test_rng_normal(void)
{
    cnnvis_rng rng;
    int i, bad = 0, tail = 0;
    double sum = 0, sum2 = 0, mean, var;
    cnnvis__rng_seed(&rng, 2024);
    for (i = 0; i < 100000; i++) {
        float v = cnnvis__rng_normal(&rng);
        if (!isfinite(v)) bad++;
        sum += v, sum2 += (double)v * v;
        tail += fabsf(v) > 1.959964f;
    }
    mean = sum / 100000, var = sum2 / 100000 - mean * mean;
    CHECK(bad == 0, "%d non-finite normals", bad);
    CHECK(fabs(mean) < 0.015, "mean %g (standard error 0.003)", mean);
    CHECK(fabs(var - 1) < 0.03, "variance %g", var);
    CHECK(tail > 4500 && tail < 5500, "%d of 100000 beyond +-1.96 (expected 5000)", tail);
}

/* --- Errors --------------------------------------------------------------------------- */

static void test_result_str(void)
{
    static const struct {
        cnnvis_result r;
        const char *s;
    } codes[] = {{CNNVIS_OK, "CNNVIS_OK"},
                 {CNNVIS_ERR_ARG, "CNNVIS_ERR_ARG"},
                 {CNNVIS_ERR_NOMEM, "CNNVIS_ERR_NOMEM"},
                 {CNNVIS_ERR_IO, "CNNVIS_ERR_IO"},
                 {CNNVIS_ERR_FORMAT, "CNNVIS_ERR_FORMAT"},
                 {CNNVIS_ERR_UNSUPPORTED, "CNNVIS_ERR_UNSUPPORTED"},
                 {CNNVIS_ERR_NUMERIC, "CNNVIS_ERR_NUMERIC"}};
    size_t k;
    for (k = 0; k < sizeof codes / sizeof codes[0]; k++)
        CHECK(strcmp(cnnvis_result_str(codes[k].r), codes[k].s) == 0, "%d -> \"%s\"", (int)codes[k].r,
              cnnvis_result_str(codes[k].r));
    CHECK(cnnvis_result_str((cnnvis_result)-99) != NULL && cnnvis_result_str((cnnvis_result)-99)[0], "unknown code: NULL or empty");
    CHECK(cnnvis_result_str((cnnvis_result)7) != NULL, "unknown code 7");
    CHECK(CNNVIS_OK == 0 && CNNVIS_ERR_ARG < 0 && CNNVIS_ERR_NUMERIC < 0, "OK is 0, failures negative");
}

#ifndef CNNVIS_NO_THREADS
static void *other_thread_fails(void *arg)
{
    cnnvis_tensor t;
    (void)arg;
    cnnvis_tensor_create(&t, 0, 1, 1, 1);
    return NULL;
}
#endif

static void test_last_error(void)
{
    cnnvis_tensor t;
    const char *msg;
    cnnvis_clear_error();
    CHECK(strcmp(cnnvis_last_error(), "") == 0, "after clear: \"%s\"", cnnvis_last_error());
    CHECK(cnnvis_tensor_create(&t, 2, 0, 3, 4) == CNNVIS_ERR_ARG, "create with c = 0");
    msg = cnnvis_last_error();
    CHECK(msg != NULL && msg[0], "no message");
    CHECK(has(msg, "cnnvis_tensor_create") && has(msg, "(2, 0, 3, 4)"), "message names the function and shape: \"%s\"", msg);
    CHECK(has(msg, "cnnvis.h:"), "message carries file:line: \"%s\"", msg);
    /* a success does not clear it */
    CHECK(cnnvis_tensor_create(&t, 1, 1, 1, 1) == CNNVIS_OK, "create");
    cnnvis_tensor_free(&t);
    CHECK(has(cnnvis_last_error(), "(2, 0, 3, 4)"), "a success changed the message: \"%s\"", cnnvis_last_error());
    /* per thread: a failure on another thread leaves this thread's message alone */
#ifndef CNNVIS_NO_THREADS
    {
        pthread_t th;
        if (pthread_create(&th, NULL, other_thread_fails, NULL) == 0) {
            pthread_join(th, NULL);
            CHECK(has(cnnvis_last_error(), "(2, 0, 3, 4)"), "another thread's failure replaced this thread's message: \"%s\"",
                  cnnvis_last_error());
        }
    }
#endif
    cnnvis_clear_error();
    CHECK(cnnvis_last_error()[0] == 0, "clear_error");
}

int main(void)
{
    RUN(test_create);
    RUN(test_create_invalid);
    RUN(test_free_and_wrap);
    RUN(test_reductions);
    RUN(test_stats);
    RUN(test_print);
    RUN(test_rng_golden);
    RUN(test_rng_streams);
    RUN(test_rng_uniform);
    RUN(test_rng_below);
    RUN(test_rng_normal);
    RUN(test_result_str);
    RUN(test_last_error);
    return SUMMARY();
}
