/* test_tensor.c - tensors (create, views, element-wise ops, reductions), the RNG (golden
   values for seed 42, ranges, rough uniformity and normality) and the error functions. */
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
    CHECK(*cnnvis__tensor_at(&t, 0, 1, 2, 3) == 23.0f, "at(0,1,2,3) = %g", *cnnvis__tensor_at(&t, 0, 1, 2, 3));
    CHECK(cnnvis__tensor_at(&t, 0, 1, 0, 0) == data + 12, "at(0,1,0,0) pointer");
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

static void test_views(void)
{
    cnnvis_tensor t, v;
    int i;
    REQUIRE(cnnvis_tensor_create(&t, 3, 2, 4, 5) == CNNVIS_OK, "%s", cnnvis_last_error());
    for (i = 0; i < 120; i++) t.data[i] = (float)i;
    v = cnnvis__tensor_image(&t, 2);
    CHECK(v.data == t.data + 80 && v.n == 1 && v.c == 2 && v.h == 4 && v.w == 5 && v.owner == 0, "image 2 view");
    v = cnnvis__tensor_image(&t, 0);
    CHECK(v.data == t.data, "image 0 view");
    v = cnnvis__tensor_channel(&t, 1, 1);
    CHECK(v.data == t.data + 60 && v.n == 1 && v.c == 1 && v.h == 4 && v.w == 5 && v.owner == 0, "channel (1,1) view");
    CHECK(v.data[0] == 60.0f && v.data[19] == 79.0f, "channel (1,1) values");
    v = cnnvis__tensor_channel(&t, 2, 1);
    CHECK(v.data == t.data + 100, "channel (2,1) view");
    cnnvis__tensor_fill(&v, -1.0f); /* writes through the view */
    CHECK(t.data[99] == 99.0f && t.data[100] == -1.0f && t.data[119] == -1.0f, "fill through a view");
    {
        static const int bad_img[] = {-1, 3, 1000, -2147483647 - 1};
        static const int bad_ch[][2] = {{0, -1}, {0, 2}, {-1, 0}, {3, 0}};
        size_t k;
        for (k = 0; k < 4; k++) {
            cnnvis_clear_error();
            v = cnnvis__tensor_image(&t, bad_img[k]);
            CHECK(is_zeroed(&v), "image %d: not a zeroed tensor", bad_img[k]);
            CHECK(has(cnnvis_last_error(), "out of range"), "image %d: message \"%s\"", bad_img[k], cnnvis_last_error());
            cnnvis_clear_error();
            v = cnnvis__tensor_channel(&t, bad_ch[k][0], bad_ch[k][1]);
            CHECK(is_zeroed(&v), "channel (%d, %d): not zeroed", bad_ch[k][0], bad_ch[k][1]);
            CHECK(has(cnnvis_last_error(), "out of range"), "channel (%d, %d): message \"%s\"", bad_ch[k][0], bad_ch[k][1],
                  cnnvis_last_error());
        }
        cnnvis_clear_error();
        v = cnnvis__tensor_image(NULL, 0);
        CHECK(is_zeroed(&v) && cnnvis_last_error()[0], "image of NULL");
        cnnvis_clear_error();
        v = cnnvis__tensor_channel(NULL, 0, 0);
        CHECK(is_zeroed(&v) && cnnvis_last_error()[0], "channel of NULL");
    }
    cnnvis_tensor_free(&t);
}

static void test_elementwise(void)
{
    float a[6] = {1, -2, 3, -4, 5, -6}, b[6] = {0.5f, 0.25f, 2, 4, -1, 0}, c[6];
    float other[6] = {9, 9, 9, 9, 9, 9};
    cnnvis_tensor ta = cnnvis_tensor_wrap(a, 1, 1, 2, 3), tb = cnnvis_tensor_wrap(b, 1, 1, 2, 3);
    cnnvis_tensor tc = cnnvis_tensor_wrap(c, 1, 1, 2, 3), bad = cnnvis_tensor_wrap(other, 1, 1, 3, 2);
    cnnvis_tensor bad_n = cnnvis_tensor_wrap(other, 2, 1, 1, 3), null_data = cnnvis_tensor_wrap(NULL, 1, 1, 2, 3);
    cnnvis_result r;
    int i;

    CHECK(cnnvis__tensor_copy(&tc, &ta) == CNNVIS_OK, "copy");
    CHECK(memcmp(a, c, sizeof a) == 0, "copy values");
    CHECK(cnnvis__tensor_copy(&tc, &tc) == CNNVIS_OK && memcmp(a, c, sizeof a) == 0, "copy onto itself");

    CHECK(cnnvis__tensor_axpy(&tc, 2.0f, &tb) == CNNVIS_OK, "axpy");
    {
        float want[6] = {2, -1.5f, 7, 4, 3, -6};
        CHECK(memcmp(c, want, sizeof c) == 0, "axpy: %g %g %g %g %g %g", c[0], c[1], c[2], c[3], c[4], c[5]);
    }
    CHECK(cnnvis__tensor_mul(&tc, &tb) == CNNVIS_OK, "mul");
    {
        float want[6] = {1, -0.375f, 14, 16, -3, 0}; /* -6 * 0 is -0: compare with ==, not memcmp */
        CHECK(c[0] == want[0] && c[1] == want[1] && c[2] == want[2] && c[3] == want[3] && c[4] == want[4] && c[5] == want[5], "mul: %g %g %g %g %g %g", c[0], c[1], c[2], c[3], c[4], c[5]);
    }
    cnnvis__tensor_scale(&tc, -2.0f);
    CHECK(c[0] == -2 && c[2] == -28 && c[4] == 6, "scale");
    cnnvis__tensor_clamp(&tc, -3.0f, 0.5f);
    {
        float want[6] = {-2, 0.5f, -3, -3, 0.5f, 0};
        CHECK(c[0] == want[0] && c[1] == want[1] && c[2] == want[2] && c[3] == want[3] && c[4] == want[4] && c[5] == 0,
              "clamp: %g %g %g %g %g %g", c[0], c[1], c[2], c[3], c[4], c[5]);
    }
    cnnvis__tensor_fill(&tc, 7.0f);
    for (i = 0; i < 6; i++) CHECK(c[i] == 7.0f, "fill [%d] = %g", i, c[i]);

    /* shape mismatches and NULLs: CNNVIS_ERR_ARG, a message, the destination untouched */
    {
        const char *names[3] = {"copy", "axpy", "mul"};
        int op, which;
        for (op = 0; op < 3; op++)
            for (which = 0; which < 4; which++) {
                cnnvis_tensor *src = which == 0 ? &bad : which == 1 ? &bad_n : which == 2 ? &null_data : NULL;
                cnnvis_clear_error();
                r = op == 0 ? cnnvis__tensor_copy(&tc, src) : op == 1 ? cnnvis__tensor_axpy(&tc, 1.0f, src) : cnnvis__tensor_mul(&tc, src);
                CHECK(r == CNNVIS_ERR_ARG, "%s case %d: got %s", names[op], which, cnnvis_result_str(r));
                CHECK(has(cnnvis_last_error(), names[op]), "%s case %d: message \"%s\" should name the function", names[op],
                      which, cnnvis_last_error());
                if (which < 2)
                    CHECK(has(cnnvis_last_error(), "differ"), "%s case %d: message \"%s\"", names[op], which,
                          cnnvis_last_error());
                for (i = 0; i < 6; i++) CHECK(c[i] == 7.0f, "%s case %d changed the destination", names[op], which);
            }
        cnnvis_clear_error();
        CHECK(cnnvis__tensor_copy(NULL, &ta) == CNNVIS_ERR_ARG && cnnvis_last_error()[0], "copy to NULL");
        CHECK(cnnvis__tensor_copy(&bad, &ta) == CNNVIS_ERR_ARG, "copy 2x3 into 3x2");
        CHECK(other[0] == 9.0f, "copy into the wrong shape wrote");
    }
}

static void test_reductions(void)
{
    float a[6] = {1, -2, 3, -4, 5, -6}, b[6] = {0.5f, 0.25f, 2, 4, -1, 0};
    float big[6] = {1e8f, 1, 1, 1, 1, -1e8f};
    float nans[5], ties[5] = {1, 7, 3, 7, 7};
    cnnvis_tensor ta = cnnvis_tensor_wrap(a, 1, 1, 2, 3), tb = cnnvis_tensor_wrap(b, 1, 1, 2, 3);
    cnnvis_tensor other = cnnvis_tensor_wrap(b, 1, 1, 3, 2);
    float lo = 0, hi = 0;

    CHECK(cnnvis__tensor_sum(&ta) == -3.0, "sum %g", cnnvis__tensor_sum(&ta));
    CHECK(cnnvis__tensor_dot(&ta, &tb) == 0.5 - 0.5 + 6 - 16 - 5, "dot %g", cnnvis__tensor_dot(&ta, &tb));
    CHECK(cnnvis__tensor_dot(&ta, &other) == 0.0, "dot of different shapes must be 0, got %g", cnnvis__tensor_dot(&ta, &other));
    CHECK(fabs(cnnvis__tensor_norm2(&ta) - sqrt(91.0)) < 1e-12, "norm2 %.17g", cnnvis__tensor_norm2(&ta));
    /* accumulated in double: 1e8 + 4 ones - 1e8 is 4, not 0 as a float sum would give */
    {
        cnnvis_tensor t = cnnvis_tensor_wrap(big, 1, 1, 1, 6);
        CHECK(cnnvis__tensor_sum(&t) == 4.0, "sum in double: %g", cnnvis__tensor_sum(&t));
    }
    cnnvis__tensor_minmax(&ta, &lo, &hi);
    CHECK(lo == -6.0f && hi == 5.0f, "minmax %g %g", lo, hi);
    cnnvis__tensor_minmax(&ta, NULL, &hi); /* either pointer may be NULL */
    cnnvis__tensor_minmax(&ta, &lo, NULL);
    CHECK(cnnvis__tensor_argmax(&ta) == 4, "argmax %zu", cnnvis__tensor_argmax(&ta));
    {
        cnnvis_tensor t = cnnvis_tensor_wrap(ties, 1, 5, 1, 1);
        CHECK(cnnvis__tensor_argmax(&t) == 1, "argmax takes the first of ties, got %zu", cnnvis__tensor_argmax(&t));
    }
    /* NaN ignored by minmax */
    nans[0] = NAN, nans[1] = 2, nans[2] = NAN, nans[3] = -3, nans[4] = NAN;
    {
        cnnvis_tensor t = cnnvis_tensor_wrap(nans, 1, 1, 1, 5);
        cnnvis__tensor_minmax(&t, &lo, &hi);
        CHECK(lo == -3.0f && hi == 2.0f, "minmax with NaNs: %g %g", lo, hi);
        nans[1] = nans[3] = NAN;
        cnnvis__tensor_minmax(&t, &lo, &hi);
        CHECK(lo == 0.0f && hi == 0.0f, "minmax of all NaN: %g %g (documented: 0, 0)", lo, hi);
    }
    /* infinities are numbers */
    {
        float v[3] = {-INFINITY, 0, INFINITY};
        cnnvis_tensor t = cnnvis_tensor_wrap(v, 1, 1, 1, 3);
        cnnvis__tensor_minmax(&t, &lo, &hi);
        CHECK(isinf(lo) && lo < 0 && isinf(hi) && hi > 0, "minmax with infinities: %g %g", lo, hi);
        CHECK(cnnvis__tensor_argmax(&t) == 2, "argmax with +inf");
    }
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
    RUN(test_views);
    RUN(test_elementwise);
    RUN(test_reductions);
    RUN(test_rng_golden);
    RUN(test_rng_streams);
    RUN(test_rng_uniform);
    RUN(test_rng_below);
    RUN(test_rng_normal);
    RUN(test_result_str);
    RUN(test_last_error);
    return SUMMARY();
}
