/* test_filters.c - lecture section 1, "visualise filters": the filter statistics against
   their definitions (low-frequency structure by our own DFT, Pearson correlation by the
   textbook formula, L2 norms, dead filters on a probe batch), the filter montage pixel by
   pixel (symmetric mapping around mid-grey, per-filter and shared scale, nearest-neighbour
   zoom, colour conv1 tiles, slice grids for deeper layers, the documented layout), the
   training monitor hooked on cnnvis_net_train (snapshots, evolution picture, plot, TSV,
   frames), and misuse answered with a status and a message naming the argument. */
#define _POSIX_C_SOURCE 200809L /* mkdtemp, mkdir, rmdir, opendir */
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <dirent.h>
#include <unistd.h>
#define CNNVIS_IMPLEMENTATION
#include "cnnvis.h"
#include "minitest.h"

static int has(const char *haystack, const char *needle) { return strstr(haystack, needle) != NULL; }

static int close_to(double a, double b, double rel, double abs_tol) { return fabs(a - b) <= abs_tol + rel * fabs(b); }

static void fill_uniform(float *v, size_t n, cnnvis_rng *rng, float lo, float hi)
{
    size_t i;
    for (i = 0; i < n; i++) v[i] = lo + (hi - lo) * cnnvis__rng_uniform(rng);
}

/* One conv layer "conv1" of out_c filters K x K on a (in_c, size, size) input, a ReLU
   "relu1" and, if deeper_c > 0, a second conv "conv2" with deeper_c filters 3x3. */
static cnnvis_net *conv_net(int in_c, int size, int out_c, int K, int groups, int deeper_c)
{
    cnnvis_net_desc d;
    cnnvis_net *net = NULL;
    cnnvis_net_desc_init(&d, in_c, size, size);
    cnnvis_net_desc_conv(&d, "conv1", out_c, K, 1, K / 2, groups);
    cnnvis_net_desc_relu(&d, "relu1");
    if (deeper_c > 0) cnnvis_net_desc_conv(&d, "conv2", deeper_c, 3, 1, 1, 1);
    d.max_batch = 8, d.n_threads = 1, d.seed = 3;
    if (cnnvis_net_create(&net, &d) != CNNVIS_OK) printf("  conv_net: %s\n", cnnvis_last_error());
    return net;
}

/* --- Our own definitions ------------------------------------------------------------------ */

#define MAX_K 16

/* Share of a K x K slice's energy at spatial frequencies of at most max(1, K/4) cycles per
   kernel, by a separable DFT (rows, then columns) with signed frequencies in (-K/2, K/2]:
   written independently of the library's folded single-pass DFT. */
static double own_low_share(const float *w, int K, int *bins)
{
    static double rows_re[MAX_K][MAX_K], rows_im[MAX_K][MAX_K];
    double radius = K / 4.0 < 1 ? 1 : K / 4.0, low = 0, total = 0;
    int y, x, u, v;
    *bins = 0;
    for (y = 0; y < K; y++) /* y: kernel row; v: horizontal frequency */
        for (v = 0; v < K; v++) {
            rows_re[y][v] = rows_im[y][v] = 0;
            for (x = 0; x < K; x++) {
                double a = -2 * 3.141592653589793 * v * x / K;
                rows_re[y][v] += w[y * K + x] * cos(a), rows_im[y][v] += w[y * K + x] * sin(a);
            }
        }
    for (u = 0; u < K; u++) /* u: vertical frequency */
        for (v = 0; v < K; v++) {
            double re = 0, im = 0, e;
            int su = u <= K / 2 ? u : u - K, sv = v <= K / 2 ? v : v - K;
            for (y = 0; y < K; y++) {
                double a = -2 * 3.141592653589793 * u * y / K, c = cos(a), s = sin(a);
                re += rows_re[y][v] * c - rows_im[y][v] * s, im += rows_re[y][v] * s + rows_im[y][v] * c;
            }
            e = re * re + im * im;
            total += e;
            if (su * su + sv * sv <= radius * radius) low += e, (*bins)++;
        }
    return low / total;
}

/* Mean low-frequency share over every K x K slice of a conv layer. */
static double own_structure(const cnnvis_layer *L, int *bins)
{
    int K = L->desc.kernel, slices = (int)(L->n_w / ((size_t)K * K)), s;
    double sum = 0;
    for (s = 0; s < slices; s++) sum += own_low_share(L->w + (size_t)s * K * K, K, bins);
    return sum / slices;
}

/* Pearson's r by the textbook formula (n sum ab - sum a sum b) / sqrt(...). */
static double own_pearson(const float *a, const float *b, size_t n)
{
    double sa = 0, sb = 0, saa = 0, sbb = 0, sab = 0;
    size_t i;
    for (i = 0; i < n; i++) sa += a[i], sb += b[i], saa += (double)a[i] * a[i], sbb += (double)b[i] * b[i], sab += (double)a[i] * b[i];
    return (n * sab - sa * sb) / sqrt((n * saa - sa * sa) * (n * sbb - sb * sb));
}

static double own_mean_abs_corr(const cnnvis_layer *L)
{
    size_t per = L->n_w / (size_t)L->out_c;
    double sum = 0;
    int f, g, pairs = 0;
    for (f = 0; f < L->out_c; f++)
        for (g = f + 1; g < L->out_c; g++, pairs++) sum += fabs(own_pearson(L->w + f * per, L->w + g * per, per));
    return sum / pairs;
}

/* A Gabor filter: a cosine of wavelength `wavelength` pixels across orientation theta with
   phase phi, under a Gaussian of standard deviation sigma, centred on the kernel. */
static void gabor(float *w, int K, double theta, double phi, double wavelength, double sigma, double gain)
{
    int y, x;
    for (y = 0; y < K; y++)
        for (x = 0; x < K; x++) {
            double dy = y - (K - 1) / 2.0, dx = x - (K - 1) / 2.0, along = dx * cos(theta) + dy * sin(theta);
            w[y * K + x] = (float)(gain * exp(-(dx * dx + dy * dy) / (2 * sigma * sigma)) *
                                   cos(2 * 3.141592653589793 * along / wavelength + phi));
        }
}

/* --- 1. Structure and correlation -------------------------------------------------------- */

/* One slice at a time (one filter of one channel), for odd and even K: the library's
   share and white-noise share equal our DFT's. */
static void test_low_frequency_share_definition(void)
{
    static const int sizes[] = {3, 4, 5, 7, 8, 11};
    size_t si;
    cnnvis_rng rng;
    cnnvis__rng_seed(&rng, 11);
    for (si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
        int K = sizes[si], bins, kind;
        cnnvis_net *net = conv_net(1, 12, 1, K, 1, 0);
        cnnvis_filter_stats st;
        REQUIRE(net != NULL, "net");
        /* 0: noise; 1: a smooth ramp plus a little noise; 2: a checkerboard (all energy at Nyquist) */
        for (kind = 0; kind < 3; kind++) {
            float *w = net->layers[0].w;
            int y, x;
            double share;
            for (y = 0; y < K; y++)
                for (x = 0; x < K; x++)
                    w[y * K + x] = kind == 0   ? 2 * cnnvis__rng_uniform(&rng) - 1
                                   : kind == 1 ? (float)(y + 0.5 * x) / K + 0.1f * cnnvis__rng_uniform(&rng)
                                               : ((x + y) % 2 ? 1.0f : -1.0f);
            share = own_low_share(w, K, &bins);
            REQUIRE(cnnvis_filter_stats_compute(&st, net, "conv1", NULL) == CNNVIS_OK, "%s", cnnvis_last_error());
            CHECK(close_to(st.structure, share, 1e-4, 1e-6), "K %d kind %d: structure %.6f, our DFT %.6f", K, kind,
                  (double)st.structure, share);
            CHECK(close_to(st.structure_noise, (double)bins / (K * K), 1e-6, 0), "K %d: noise share %.6f, our %d/%d bins", K,
                  (double)st.structure_noise, bins, K * K);
            CHECK(bins >= 5, "K %d: only %d low bins (the DC and its 4 neighbours at least)", K, bins);
            /* a checkerboard with odd K still leaks (its period does not divide K); with even K it
               is pure Nyquist and has no low-frequency energy at all */
            if (kind == 2 && K % 2 == 0) CHECK(st.structure < 1e-6, "K %d: checkerboard has structure %g", K, (double)st.structure);
        }
        cnnvis_net_free(net);
    }
}

/* White noise against Gabors: structure near the noise share against clearly above it,
   mean |r| near 0 against exactly 1 for copies; both recomputed in full. */
static void test_structure_and_correlation(void)
{
    const int F = 24, K = 7, C = 3, per = C * K * K;
    cnnvis_net *net = conv_net(C, 16, F, K, 1, 0);
    cnnvis_layer *L;
    cnnvis_filter_stats noise, gab, copies;
    cnnvis_rng rng;
    int f, c, bins;
    double own;
    REQUIRE(net != NULL, "net");
    L = &net->layers[0];
    REQUIRE(L->n_w == (size_t)F * per, "conv1 has %zu weights", L->n_w);

    cnnvis__rng_seed(&rng, 2024);
    fill_uniform(L->w, L->n_w, &rng, -1, 1);
    REQUIRE(cnnvis_filter_stats_compute(&noise, net, "conv1", NULL) == CNNVIS_OK, "%s", cnnvis_last_error());
    own = own_structure(L, &bins);
    CHECK(close_to(noise.structure, own, 1e-4, 1e-6), "noise: structure %.6f, our DFT %.6f", (double)noise.structure, own);
    CHECK(close_to(noise.structure_noise, 9.0 / 49, 1e-6, 0) && bins == 9, "7x7: noise share %.6f (%d bins), expected 9/49",
          (double)noise.structure_noise, bins);
    CHECK(fabs(noise.structure - noise.structure_noise) < 0.04, "noise: structure %.4f, white-noise share %.4f",
          (double)noise.structure, (double)noise.structure_noise);
    own = own_mean_abs_corr(L);
    CHECK(close_to(noise.mean_abs_corr, own, 1e-4, 1e-6), "noise: mean |r| %.6f, textbook formula %.6f",
          (double)noise.mean_abs_corr, own);
    CHECK(noise.mean_abs_corr > 0 && noise.mean_abs_corr < 3.0 / sqrt((double)per), "noise: mean |r| %.4f, bound 3/sqrt(%d) = %.4f",
          (double)noise.mean_abs_corr, per, 3.0 / sqrt((double)per));
    CHECK(noise.n_filters == F && noise.layer == 0, "n_filters %d, layer %d", noise.n_filters, noise.layer);

    /* 8 orientations x 3 phases, one cycle across the kernel; colour-opponent channels */
    for (f = 0; f < F; f++)
        for (c = 0; c < C; c++)
            gabor(L->w + (size_t)f * per + (size_t)c * K * K, K, (f % 8) * 3.141592653589793 / 8, (f / 8) * 3.141592653589793 / 3,
                  K, K / 4.0, c == 0 ? 1.0 : c == 1 ? 0.5 : -0.8);
    REQUIRE(cnnvis_filter_stats_compute(&gab, net, "conv1", NULL) == CNNVIS_OK, "%s", cnnvis_last_error());
    own = own_structure(L, &bins);
    CHECK(close_to(gab.structure, own, 1e-4, 1e-6), "Gabor: structure %.6f, our DFT %.6f", (double)gab.structure, own);
    CHECK(gab.structure > 3 * gab.structure_noise && gab.structure > noise.structure + 0.3,
          "Gabor structure %.4f is not clearly above noise (%.4f; white-noise share %.4f)", (double)gab.structure,
          (double)noise.structure, (double)gab.structure_noise);
    own = own_mean_abs_corr(L);
    CHECK(close_to(gab.mean_abs_corr, own, 1e-4, 1e-6), "Gabor: mean |r| %.6f, textbook formula %.6f", (double)gab.mean_abs_corr, own);

    /* a*base + b with a of either sign: Pearson's |r| is 1 only if the filters are centred */
    fill_uniform(L->w, (size_t)per, &rng, -1, 1);
    for (f = 1; f < F; f++) {
        float a = (f % 2 ? -1.0f : 1.0f) * (0.25f + 0.1f * f), b = 0.05f * (float)(f - 12);
        for (c = 0; c < per; c++) L->w[(size_t)f * per + c] = a * L->w[c] + b;
    }
    REQUIRE(cnnvis_filter_stats_compute(&copies, net, "conv1", NULL) == CNNVIS_OK, "%s", cnnvis_last_error());
    CHECK(fabs(copies.mean_abs_corr - 1) < 1e-5, "scaled, shifted and negated copies: mean |r| %.7f", (double)copies.mean_abs_corr);
    for (f = 1; f < F; f++) memcpy(L->w + (size_t)f * per, L->w, sizeof(float) * per);
    REQUIRE(cnnvis_filter_stats_compute(&copies, net, "conv1", NULL) == CNNVIS_OK, "%s", cnnvis_last_error());
    CHECK(fabs(copies.mean_abs_corr - 1) < 1e-5, "identical copies: mean |r| %.7f", (double)copies.mean_abs_corr);
    cnnvis_net_free(net);
}

/* Two filters, one a noisy version of the other: the only pair's |r| is strictly between
   0 and 1 and equals the textbook formula; negating one filter leaves it unchanged. */
static void test_one_pair_correlation(void)
{
    cnnvis_net *net = conv_net(2, 8, 2, 5, 1, 0);
    cnnvis_filter_stats st;
    cnnvis_rng rng;
    size_t per, k;
    double r;
    REQUIRE(net != NULL, "net");
    per = net->layers[0].n_w / 2;
    cnnvis__rng_seed(&rng, 5);
    fill_uniform(net->layers[0].w, per, &rng, -1, 1);
    for (k = 0; k < per; k++) net->layers[0].w[per + k] = 0.3f + net->layers[0].w[k] + 0.8f * (2 * cnnvis__rng_uniform(&rng) - 1);
    r = own_pearson(net->layers[0].w, net->layers[0].w + per, per);
    REQUIRE(cnnvis_filter_stats_compute(&st, net, "conv1", NULL) == CNNVIS_OK, "%s", cnnvis_last_error());
    CHECK(r > 0.3 && r < 0.95, "the test's pair should be partly correlated: r = %g", r);
    CHECK(close_to(st.mean_abs_corr, fabs(r), 1e-5, 1e-7), "mean |r| %.7f, textbook r %.7f", (double)st.mean_abs_corr, r);
    for (k = 0; k < per; k++) net->layers[0].w[per + k] = -net->layers[0].w[per + k];
    REQUIRE(cnnvis_filter_stats_compute(&st, net, "conv1", NULL) == CNNVIS_OK, "%s", cnnvis_last_error());
    CHECK(close_to(st.mean_abs_corr, fabs(r), 1e-5, 1e-7), "negated: mean |r| %.7f, textbook |r| %.7f", (double)st.mean_abs_corr,
          fabs(r));
    cnnvis_net_free(net);
}

/* --- 2. Norms and dead filters ----------------------------------------------------------- */

/* Grouped conv (4 input channels, 2 groups): a filter is its IC/G x K x K weights. */
static void test_norms(void)
{
    cnnvis_net *net = conv_net(4, 6, 6, 3, 2, 0);
    cnnvis_layer *L;
    cnnvis_filter_stats st;
    cnnvis_rng rng;
    size_t per, k;
    double lo = 1e300, hi = 0, sum = 0;
    int f;
    REQUIRE(net != NULL, "net");
    L = &net->layers[0];
    per = L->n_w / 6;
    REQUIRE(per == 2 * 9, "grouped conv: %zu weights per filter", per);
    cnnvis__rng_seed(&rng, 8);
    for (f = 0; f < 6; f++) {
        double ss = 0;
        fill_uniform(L->w + f * per, per, &rng, -0.3f * (f + 1), 0.3f * (f + 1)); /* norms spread apart */
        for (k = 0; k < per; k++) ss += (double)L->w[f * per + k] * L->w[f * per + k];
        lo = sqrt(ss) < lo ? sqrt(ss) : lo, hi = sqrt(ss) > hi ? sqrt(ss) : hi, sum += sqrt(ss);
    }
    for (f = 0; f < 6; f++) L->b[f] = 100.0f; /* biases are not part of a filter's norm */
    REQUIRE(cnnvis_filter_stats_compute(&st, net, "conv1", NULL) == CNNVIS_OK, "%s", cnnvis_last_error());
    CHECK(close_to(st.min_norm, lo, 1e-5, 0), "min norm %.7g, direct %.7g", (double)st.min_norm, lo);
    CHECK(close_to(st.max_norm, hi, 1e-5, 0), "max norm %.7g, direct %.7g", (double)st.max_norm, hi);
    CHECK(close_to(st.mean_norm, sum / 6, 1e-5, 0), "mean norm %.7g, direct %.7g", (double)st.mean_norm, sum / 6);
    CHECK(st.dead == -1, "no probe: dead %d, expected -1", st.dead);
    cnnvis_net_free(net);
}

/* Four 3x3 filters (pad 1) on five 6x6 probe images with values in [-1, 0.4]:
     0  random weights, bias +0.5               alive
     1  random weights, bias -1000              dead
     2  all zero, bias 0: output exactly 0      dead (never > 0)
     3  centre tap 1, bias -0.5: positive only where the input exceeds 0.5, which is the
        last pixel of the last image alone      alive; dead without that pixel          */
static void test_dead_filters(void)
{
    cnnvis_net *net = conv_net(1, 6, 4, 3, 1, 0);
    cnnvis_layer *L;
    cnnvis_filter_stats st;
    cnnvis_tensor probe;
    cnnvis_rng rng;
    REQUIRE(net != NULL, "net");
    L = &net->layers[0];
    cnnvis__rng_seed(&rng, 21);
    fill_uniform(L->w, 9, &rng, -1, 1);
    fill_uniform(L->w + 9, 9, &rng, -1, 1);
    memset(L->w + 18, 0, sizeof(float) * 18);
    L->w[27 + 4] = 1;
    L->b[0] = 0.5f, L->b[1] = -1000, L->b[2] = 0, L->b[3] = -0.5f;
    REQUIRE(cnnvis_tensor_create(&probe, 5, 1, 6, 6) == CNNVIS_OK, "tensor");
    fill_uniform(probe.data, cnnvis_tensor_count(&probe), &rng, -1, 0.4f);
    probe.data[cnnvis_tensor_count(&probe) - 1] = 0.9f;
    REQUIRE(cnnvis_filter_stats_compute(&st, net, "conv1", &probe) == CNNVIS_OK, "%s", cnnvis_last_error());
    CHECK(st.dead == 2, "dead %d, expected 2 (filters 1 and 2)", st.dead);
    probe.data[cnnvis_tensor_count(&probe) - 1] = 0.1f;
    REQUIRE(cnnvis_filter_stats_compute(&st, net, "conv1", &probe) == CNNVIS_OK, "%s", cnnvis_last_error());
    CHECK(st.dead == 3, "without the one bright pixel: dead %d, expected 3 (filter 3 too)", st.dead);
    /* every filter alive */
    L->b[1] = 1000, L->b[2] = 0.01f;
    probe.data[cnnvis_tensor_count(&probe) - 1] = 0.9f;
    REQUIRE(cnnvis_filter_stats_compute(&st, net, "conv1", &probe) == CNNVIS_OK, "%s", cnnvis_last_error());
    CHECK(st.dead == 0, "all alive: dead %d", st.dead);
    cnnvis_tensor_free(&probe);
    cnnvis_net_free(net);
}

/* --- 3. The montage ------------------------------------------------------------------------ */

/* The montage's layout (cnnvis_montage_desc: pad 2 around and between cells) under a title
   of one 8-pixel text line, with the pad and 2 pixels below it. */
#define PAD 2
#define TITLE_H (8 + PAD + 2)

/* The symmetric mapping: 0 -> 128, +scale -> 255, -scale -> 0; a zero scale is mid-grey. */
static int expect_px(float w, float scale)
{
    double v = scale > 0 ? 0.5 + 0.5 * w / scale : 0.5;
    v = v < 0 ? 0 : v > 1 ? 1 : v;
    return (int)(255 * v + 0.5);
}

static const unsigned char *px_at(const cnnvis_image *im, int x, int y) { return im->px + ((size_t)y * im->w + x) * im->c; }

/* The documented layout of a montage of rows x cols cells of `cell` pixels under a title:
   the grid starts at the top left; the picture is exactly as tall as the grid and at least as
   wide (a long title widens it); to the right of the grid there is only background (grey
   32). Prints what differs. */
static int layout_ok(const cnnvis_image *im, int cols, int rows, int cell)
{
    int grid_w = cols * (cell + PAD) + PAD, grid_h = TITLE_H + rows * (cell + PAD) + PAD, x, y, stray = 0;
    if (im->c != 3 || im->h != grid_h || im->w < grid_w) {
        printf("  montage %dx%dx%d, expected %d high and at least %d wide (%dx%d cells of %d)\n", im->w, im->h, im->c, grid_h,
               grid_w, cols, rows, cell);
        return 0;
    }
    for (y = TITLE_H; y < im->h; y++)
        for (x = grid_w; x < im->w; x++) stray += memcmp(px_at(im, x, y), "\x20\x20\x20", 3) != 0;
    if (stray) printf("  %d pixels right of the grid are not background\n", stray);
    return stray == 0;
}

static float max_abs(const float *w, size_t n)
{
    float m = 0;
    size_t k;
    for (k = 0; k < n; k++) m = fabsf(w[k]) > m ? fabsf(w[k]) : m;
    return m;
}

/* Compares tile `f` (filter f, in a grid of `cols` cells of `cell` pixels) pixel by pixel:
   channel ch of slice `slice` (grid cell gy, gx inside the tile) at (y, x) is weight
   (y / zoom, x / zoom) of that slice. Returns the number of mismatches (> 1 grey level). */
static int compare_slice(const cnnvis_image *im, int f, int cols, int cell, int gy, int gx, int ch, const float *w, int K,
                         int zoom, float scale, int *extreme_hits)
{
    int x0 = PAD + (f % cols) * (cell + PAD) + gx * (K * zoom + 1), y0 = TITLE_H + PAD + (f / cols) * (cell + PAD) + gy * (K * zoom + 1);
    int y, x, bad = 0;
    for (y = 0; y < K * zoom; y++)
        for (x = 0; x < K * zoom; x++) {
            int got = px_at(im, x0 + x, y0 + y)[ch], want = expect_px(w[(y / zoom) * K + x / zoom], scale);
            if (abs(got - want) > 1 && bad++ < 3)
                printf("  tile %d slice (%d, %d) ch %d pixel (%d, %d): %d, expected %d\n", f, gy, gx, ch, x, y, got, want);
            if (got == 255 || got == 0) ++*extreme_hits;
        }
    return bad;
}

/* conv1 on grey images, 4 filters 3x3, zoom 4, 2 columns:
     0  random in [-0.8, 0.8] with +0.8 somewhere and exactly 0 in the centre
     1  filter 0 / 2
     2  all negative, down to -0.3
     3  all zero                                                                       */
static void set_grey_filters(cnnvis_layer *L, cnnvis_rng *rng)
{
    int k;
    fill_uniform(L->w, 9, rng, -0.79f, 0.79f);
    L->w[0] = 0.8f, L->w[4] = 0;
    for (k = 0; k < 9; k++) L->w[9 + k] = 0.5f * L->w[k];
    fill_uniform(L->w + 18, 9, rng, -0.29f, -0.01f);
    L->w[18 + 7] = -0.3f;
    memset(L->w + 27, 0, sizeof(float) * 9);
}

static void test_filters_image_grey(void)
{
    const int K = 3, zoom = 4, cols = 2, cell = K * zoom;
    cnnvis_net *net = conv_net(1, 8, 4, K, 1, 0);
    cnnvis_filters_desc fd;
    cnnvis_image im;
    cnnvis_rng rng;
    int per_filter, f, x, y;
    REQUIRE(net != NULL, "net");
    cnnvis__rng_seed(&rng, 9);
    set_grey_filters(&net->layers[0], &rng);
    for (per_filter = 0; per_filter < 2; per_filter++) {
        int bad = 0, grey_bad = 0;
        memset(&fd, 0, sizeof fd);
        fd.zoom = zoom, fd.cols = cols, fd.per_filter = per_filter;
        REQUIRE(cnnvis_filters_image(&im, net, "conv1", &fd) == CNNVIS_OK, "%s", cnnvis_last_error());
        if (!layout_ok(&im, cols, 2, cell)) {
            CHECK(0, "grey montage layout");
            cnnvis_image_free(&im);
            continue;
        }
        for (f = 0; f < 4; f++) {
            const float *w = net->layers[0].w + 9 * f;
            float scale = per_filter ? max_abs(w, 9) : max_abs(net->layers[0].w, 36);
            int hits = 0, x0 = PAD + (f % cols) * (cell + PAD), y0 = TITLE_H + PAD + (f / cols) * (cell + PAD);
            bad += compare_slice(&im, f, cols, cell, 0, 0, 0, w, K, zoom, scale, &hits);
            for (y = 0; y < cell; y++)
                for (x = 0; x < cell; x++) {
                    const unsigned char *p = px_at(&im, x0 + x, y0 + y);
                    grey_bad += p[0] != p[1] || p[1] != p[2];
                }
            /* the centre block: weight exactly 0 (filters 0, 1, 3) is mid-grey */
            if (f != 2) CHECK(px_at(&im, x0 + zoom + 1, y0 + zoom + 2)[0] == 128, "%s scale: tile %d: zero weight drawn as %d",
                              per_filter ? "per-filter" : "shared", f, px_at(&im, x0 + zoom + 1, y0 + zoom + 2)[0]);
            /* the top-left block holds filter f's largest weight: per filter it is white for 0 and
               1, with one scale only for filter 0 (filter 1 = half of it: 3/4 of the way) */
            if (f == 0 || (f == 1 && per_filter)) CHECK(px_at(&im, x0, y0)[0] == 255, "tile %d: max |w| drawn as %d", f, px_at(&im, x0, y0)[0]);
            if (f == 1 && !per_filter) CHECK(abs(px_at(&im, x0, y0)[0] - 191) <= 1, "shared: half the max drawn as %d", px_at(&im, x0, y0)[0]);
            if (f == 2) { /* its most negative weight, -0.3, is weight 7: row 2, column 1 */
                int got = px_at(&im, x0 + zoom, y0 + 2 * zoom)[0], want = per_filter ? 0 : expect_px(-0.3f, 0.8f);
                CHECK(got == want, "%s scale: tile 2's most negative weight drawn as %d, expected %d",
                      per_filter ? "per-filter" : "shared", got, want);
            }
            if (f == 3) CHECK(hits == 0, "the zero filter has %d black or white pixels", hits);
        }
        CHECK(bad == 0, "%s scale: pixels differ from 0.5 + 0.5 w / scale", per_filter ? "per-filter" : "shared");
        CHECK(grey_bad == 0, "%d pixels of grey tiles have R, G, B unequal", grey_bad);
        /* nearest neighbour: every zoom x zoom block of tile 0 is one value */
        {
            int by, bx, uneven = 0;
            for (by = 0; by < K; by++)
                for (bx = 0; bx < K; bx++)
                    for (y = 0; y < zoom; y++)
                        for (x = 0; x < zoom; x++)
                            uneven += px_at(&im, PAD + bx * zoom + x, TITLE_H + PAD + by * zoom + y)[0] !=
                                      px_at(&im, PAD + bx * zoom, TITLE_H + PAD + by * zoom)[0];
            CHECK(uneven == 0, "%d pixels differ from their block's top-left pixel", uneven);
        }
        cnnvis_image_free(&im);
    }
    cnnvis_net_free(net);
}

/* The default zoom makes a filter about 32 pixels across (3x3 grey: 30), the default
   columns about square. */
static void test_filters_image_defaults(void)
{
    cnnvis_net *net = conv_net(1, 8, 4, 3, 1, 0);
    cnnvis_image im;
    int side;
    REQUIRE(net != NULL, "net");
    REQUIRE(cnnvis_filters_image(&im, net, "conv1", NULL) == CNNVIS_OK, "%s", cnnvis_last_error());
    side = (im.h - TITLE_H - PAD) / 2 - PAD; /* 4 filters: 2 rows of 2 */
    CHECK(layout_ok(&im, 2, 2, side), "default montage %dx%d", im.w, im.h);
    CHECK(side % 3 == 0 && side >= 24 && side <= 32, "default tile %d pixels for a 3x3 filter", side);
    cnnvis_image_free(&im);
    cnnvis_net_free(net);
}

/* conv1 on RGB images: one colour tile per filter, channel c of the pixel = input channel c. */
static void test_filters_image_colour(void)
{
    const int K = 5, zoom = 3, cols = 2, cell = K * zoom;
    cnnvis_net *net = conv_net(3, 8, 2, K, 1, 0);
    cnnvis_layer *L;
    cnnvis_filters_desc fd;
    cnnvis_image im;
    cnnvis_rng rng;
    int per_filter, f, c, k;
    REQUIRE(net != NULL, "net");
    L = &net->layers[0];
    cnnvis__rng_seed(&rng, 4);
    /* filter 0: red positive, green zero, blue negative; filter 1: noise, three times larger */
    for (k = 0; k < K * K; k++) L->w[k] = 0.1f + 0.02f * k, L->w[25 + k] = 0, L->w[50 + k] = -(0.1f + 0.02f * k);
    fill_uniform(L->w + 75, 75, &rng, -1.5f, 1.5f);
    for (per_filter = 0; per_filter < 2; per_filter++) {
        int bad = 0, hits = 0;
        memset(&fd, 0, sizeof fd);
        fd.zoom = zoom, fd.cols = cols, fd.per_filter = per_filter;
        REQUIRE(cnnvis_filters_image(&im, net, "conv1", &fd) == CNNVIS_OK, "%s", cnnvis_last_error());
        if (layout_ok(&im, cols, 1, cell)) {
            for (f = 0; f < 2; f++) {
                float scale = per_filter ? max_abs(L->w + 75 * f, 75) : max_abs(L->w, 150);
                for (c = 0; c < 3; c++) bad += compare_slice(&im, f, cols, cell, 0, 0, c, L->w + 75 * f + 25 * c, K, zoom, scale, &hits);
            }
            /* the bottom-right block of filter 0: red bright, green mid-grey, blue dark */
            {
                const unsigned char *p = px_at(&im, PAD + cell - 1, TITLE_H + PAD + cell - 1);
                CHECK(p[1] == 128 && p[0] > 140 && p[2] < 116, "filter 0's last pixel (%d, %d, %d)", p[0], p[1], p[2]);
                if (per_filter) CHECK(p[0] == 255 && p[2] == 0, "per-filter: filter 0's extremes (%d, %d, %d)", p[0], p[1], p[2]);
            }
        } else
            CHECK(0, "colour montage layout");
        CHECK(bad == 0, "%s scale: colour pixels differ from 0.5 + 0.5 w / scale", per_filter ? "per-filter" : "shared");
        cnnvis_image_free(&im);
    }
    cnnvis_net_free(net);
}

/* conv2 with 5 input channels: each filter a 3x3 grid (ceil(sqrt(5))) of grey slices with 1
   pixel between slices; max_slices 4 makes it 2x2; max_filters limits the tiles. */
static void test_filters_image_deeper(void)
{
    const int K = 3, zoom = 2, IC = 5, OC = 3;
    cnnvis_net *net = conv_net(1, 8, IC, 3, 1, OC);
    cnnvis_layer *L;
    cnnvis_filters_desc fd;
    cnnvis_image im;
    cnnvis_rng rng;
    int grid, f, c, x, y;
    REQUIRE(net != NULL, "net");
    L = &net->layers[2];
    REQUIRE(L->desc.kind == CNNVIS_LAYER_CONV && L->in_c == IC && L->out_c == OC, "conv2");
    cnnvis__rng_seed(&rng, 77);
    fill_uniform(L->w, L->n_w, &rng, -1, 1);
    for (grid = 3; grid >= 2; grid--) {
        int side = grid * K * zoom + grid - 1, slices = grid == 3 ? IC : 4, bad = 0, hits = 0, grey_bad = 0;
        memset(&fd, 0, sizeof fd);
        fd.zoom = zoom, fd.cols = OC, fd.max_slices = grid == 3 ? 0 : 4;
        REQUIRE(cnnvis_filters_image(&im, net, "conv2", &fd) == CNNVIS_OK, "%s", cnnvis_last_error());
        CHECK(layout_ok(&im, OC, 1, side), "%d slices: tiles of %d pixels expected", slices, side);
        if (layout_ok(&im, OC, 1, side)) {
            for (f = 0; f < OC; f++) {
                for (c = 0; c < slices; c++)
                    bad += compare_slice(&im, f, OC, side, c / grid, c % grid, 0, L->w + ((size_t)f * IC + c) * K * K, K, zoom,
                                         max_abs(L->w, L->n_w), &hits);
                for (y = 0; y < side; y++)
                    for (x = 0; x < side; x++) {
                        const unsigned char *p = px_at(&im, PAD + f * (side + PAD) + x, TITLE_H + PAD + y);
                        grey_bad += p[0] != p[1] || p[1] != p[2];
                    }
            }
            /* the pixel between slices 0 and 1 belongs to neither */
            CHECK(px_at(&im, PAD + K * zoom, TITLE_H + PAD)[0] != px_at(&im, PAD + K * zoom - 1, TITLE_H + PAD)[0] ||
                      px_at(&im, PAD + K * zoom, TITLE_H + PAD)[0] != px_at(&im, PAD + K * zoom + 1, TITLE_H + PAD)[0],
                  "no gap between slices");
        }
        CHECK(bad == 0, "%d slices: pixels differ from the weights", slices);
        CHECK(grey_bad == 0, "%d slices: %d pixels of the slice grids are not grey", slices, grey_bad);
        cnnvis_image_free(&im);
    }
    /* max_filters 2: two tiles, side by side (default columns: ceil(sqrt(2)) = 2) */
    memset(&fd, 0, sizeof fd);
    fd.zoom = zoom, fd.max_filters = 2;
    REQUIRE(cnnvis_filters_image(&im, net, "conv2", &fd) == CNNVIS_OK, "%s", cnnvis_last_error());
    CHECK(layout_ok(&im, 2, 1, 3 * K * zoom + 2), "max_filters 2: %dx%d", im.w, im.h);
    cnnvis_image_free(&im);
    cnnvis_net_free(net);
}

/* "Zero means default: one scale for the whole layer": drawing only the first filters
   (max_filters) must not change how they are drawn. Filter 0's largest weight is a
   quarter of the layer's (filter 1's). */
static void test_filters_image_shared_scale_is_the_layers(void)
{
    cnnvis_net *net = conv_net(1, 8, 2, 3, 1, 0);
    cnnvis_filters_desc fd;
    cnnvis_image all, first;
    int k, y, x, differ = 0;
    REQUIRE(net != NULL, "net");
    for (k = 0; k < 9; k++) net->layers[0].w[k] = 0.2f * (float)(k - 4) / 4, net->layers[0].w[9 + k] = 0.8f * (float)(4 - k) / 4;
    memset(&fd, 0, sizeof fd);
    fd.zoom = 4, fd.cols = 1;
    REQUIRE(cnnvis_filters_image(&all, net, "conv1", &fd) == CNNVIS_OK, "%s", cnnvis_last_error());
    fd.max_filters = 1;
    REQUIRE(cnnvis_filters_image(&first, net, "conv1", &fd) == CNNVIS_OK, "%s", cnnvis_last_error());
    for (y = 0; y < 12; y++)
        for (x = 0; x < 12; x++) differ += px_at(&all, PAD + x, TITLE_H + PAD + y)[0] != px_at(&first, PAD + x, TITLE_H + PAD + y)[0];
    CHECK(differ == 0, "filter 0 is drawn differently with max_filters 1 (%d of 144 pixels; its largest weight %d, with "
          "the whole layer's scale %d)", differ, px_at(&first, PAD + 11, TITLE_H + PAD + 11)[0], px_at(&all, PAD + 11, TITLE_H + PAD + 11)[0]);
    cnnvis_image_free(&all);
    cnnvis_image_free(&first);
    cnnvis_net_free(net);
}

/* --- 4. The training monitor --------------------------------------------------------------- */

/* Grey 8x8 images whose class is the brightest quadrant (as in test_train.c). */
static void make_quadrants(cnnvis_dataset *ds, int n, uint64_t seed)
{
    const int h = 8, w = 8;
    cnnvis_rng rng;
    int i, y, x;
    cnnvis__rng_seed(&rng, seed);
    memset(ds, 0, sizeof *ds);
    ds->n = n, ds->c = 1, ds->h = h, ds->w = w, ds->n_classes = 4, ds->owner = 1;
    ds->px = (unsigned char *)malloc((size_t)n * h * w);
    ds->labels = (int32_t *)malloc(sizeof(int32_t) * n);
    for (i = 0; i < n; i++) {
        int label = (int)cnnvis__rng_below(&rng, 4);
        ds->labels[i] = label;
        for (y = 0; y < h; y++)
            for (x = 0; x < w; x++) {
                int quadrant = (y >= h / 2) * 2 + (x >= w / 2);
                ds->px[((size_t)i * h + y) * w + x] = (unsigned char)((int)cnnvis__rng_below(&rng, 120) + (quadrant == label ? 120 : 0));
            }
    }
}

static cnnvis_net *monitor_net(uint64_t seed)
{
    cnnvis_net_desc d;
    cnnvis_net *net = NULL;
    cnnvis_net_desc_init(&d, 1, 8, 8);
    cnnvis_net_desc_conv(&d, "conv1", 4, 3, 1, 1, 1);
    cnnvis_net_desc_relu(&d, "relu1");
    cnnvis_net_desc_maxpool(&d, "pool1", 2, 2, 0);
    cnnvis_net_desc_conv(&d, "conv2", 6, 3, 1, 1, 1);
    cnnvis_net_desc_relu(&d, "relu2");
    cnnvis_net_desc_fc(&d, "fc3", 4);
    d.max_batch = 16, d.n_threads = 1, d.seed = seed;
    d.mean[0] = 0.4f, d.std[0] = 0.25f;
    if (cnnvis_net_create(&net, &d) != CNNVIS_OK) printf("  monitor_net: %s\n", cnnvis_last_error());
    return net;
}

static void train_desc(cnnvis_train_desc *t, int epochs, cnnvis_monitor *m, int callback_every)
{
    memset(t, 0, sizeof *t);
    t->epochs = epochs, t->batch = 8, t->lr = 0.05f, t->seed = 3, t->progress = -1;
    t->callback = cnnvis_monitor_callback, t->user = m, t->callback_every = callback_every;
}

static char tmp_dir[64];

static int make_tmp_dir(void)
{
    strcpy(tmp_dir, "/tmp/cnnvis-test-filters-XXXXXX");
    return mkdtemp(tmp_dir) != NULL;
}

/* Removes the files in dir (not recursively) and dir itself; returns how many files there were. */
static int remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[512];
    int files = 0;
    if (!d) return -1;
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (remove(path) == 0) files++;
    }
    closedir(d);
    rmdir(dir);
    return files;
}

static int same_stats(const cnnvis_filter_stats *a, const cnnvis_filter_stats *b)
{
    return a->layer == b->layer && a->n_filters == b->n_filters && a->mean_abs_corr == b->mean_abs_corr &&
           a->structure == b->structure && a->structure_noise == b->structure_noise && a->mean_norm == b->mean_norm &&
           a->min_norm == b->min_norm && a->max_norm == b->max_norm && a->dead == b->dead;
}

/* Pixels where strip s, with its left edge at x0, differs from row s of the evolution image
   (rows of row_h pixels below the title, one strip each). */
static int strip_differs(const cnnvis_image *ev, const cnnvis_image *strip, int s, int x0, int row_h)
{
    int x, y, differ = 0;
    for (y = 0; y < strip->h; y++)
        for (x = 0; x < strip->w; x++)
            differ += memcmp(px_at(ev, x0 + x, TITLE_H + PAD + s * row_h + y), px_at(strip, x, y), 3) != 0;
    return differ;
}

/* Checks the TSV at path: a header, then one row per snapshot and conv layer in order,
   each with the monitor's numbers. */
static void check_tsv(const cnnvis_monitor *m, const char *path)
{
    FILE *f = fopen(path, "r");
    char line[1024];
    int row = 0, bad = 0;
    if (!f) {
        CHECK(0, "cannot open the TSV");
        return;
    }
    CHECK(fgets(line, sizeof line, f) && !strncmp(line, "epoch\tstep\tlayer\t", 17), "header: %s", line);
    while (fgets(line, sizeof line, f)) {
        double epoch, corr, structure, noise, mean, lo, hi;
        long long step;
        char name[64];
        int filters, dead, s = row / (m->n_conv ? m->n_conv : 1), i = row % (m->n_conv ? m->n_conv : 1);
        int fields = sscanf(line, "%lf\t%lld\t%63[^\t]\t%d\t%lf\t%lf\t%lf\t%lf\t%lf\t%lf\t%d", &epoch, &step, name, &filters, &corr,
                            &structure, &noise, &mean, &lo, &hi, &dead);
        row++;
        if (s >= m->n_snapshots) continue;
        {
            const cnnvis_filter_stats *st = &m->stats[(size_t)s * m->n_conv + i];
            int ok = fields == 11 && close_to(epoch, m->epochs[s], 1e-5, 0) && step == m->steps[s] && !strcmp(name, m->conv_names[i]) &&
                     filters == st->n_filters && close_to(corr, st->mean_abs_corr, 0, 6e-6) &&
                     close_to(structure, st->structure, 0, 6e-6) && close_to(noise, st->structure_noise, 0, 6e-6) &&
                     close_to(mean, st->mean_norm, 1e-5, 6e-6) && close_to(lo, st->min_norm, 1e-5, 6e-6) &&
                     close_to(hi, st->max_norm, 1e-5, 6e-6) && dead == st->dead;
            line[strcspn(line, "\n")] = 0;
            if (!ok && bad++ < 3) printf("  TSV row %d (snapshot %d, %s): %s\n", row, s, m->conv_names[i], line);
        }
    }
    fclose(f);
    CHECK(row == m->n_snapshots * m->n_conv, "TSV: %d rows, expected %d snapshots x %d conv layers", row, m->n_snapshots, m->n_conv);
    CHECK(bad == 0, "TSV: %d rows differ from the monitor's statistics", bad);
}

/* A snapshot of the random initialisation, then one per epoch from the callback, with a
   probe set and frames written. */
static void test_monitor_epochs(void)
{
    const int epochs = 3, steps_per_epoch = 4;
    cnnvis_dataset train, probe;
    cnnvis_net *net;
    cnnvis_monitor m;
    cnnvis_monitor_desc md;
    cnnvis_train_desc t;
    cnnvis_image ev, plot, frame, expect;
    char frames[128], path[256];
    int s, i, S;
    REQUIRE(make_tmp_dir(), "cannot make a temporary directory");
    snprintf(frames, sizeof frames, "%s/frames", tmp_dir);
    if (mkdir(frames, 0777) != 0) {
        rmdir(tmp_dir);
        REQUIRE(0, "cannot make %s", frames);
    }
    make_quadrants(&train, 8 * steps_per_epoch, 1);
    make_quadrants(&probe, 12, 2);
    net = monitor_net(7);
    if (!net) {
        cnnvis_dataset_free(&train), cnnvis_dataset_free(&probe), remove_dir(frames), rmdir(tmp_dir);
        REQUIRE(0, "net");
    }
    memset(&md, 0, sizeof md);
    md.probe = &probe, md.frames_dir = frames;
    CHECK(cnnvis_monitor_init(&m, net, &md) == CNNVIS_OK, "%s", cnnvis_last_error());
    CHECK(m.n_conv == 2 && m.conv[0] == 0 && m.conv[1] == 3 && !strcmp(m.conv_names[1], "conv2"), "conv layers followed: %d", m.n_conv);
    CHECK(m.montage_layer == 0 && m.probe.n == 12, "montage layer %d, probe %d images", m.montage_layer, m.probe.n);
    CHECK(cnnvis_monitor_snapshot(&m, net, 0) == CNNVIS_OK, "%s", cnnvis_last_error());
    train_desc(&t, epochs, &m, 0);
    CHECK(cnnvis_net_train(net, &train, NULL, &t) == CNNVIS_OK, "%s", cnnvis_last_error());
    S = m.n_snapshots;
    CHECK(S == 1 + epochs && net->step == epochs * steps_per_epoch, "%d snapshots after %d epochs (step %lld)", S, epochs, net->step);
    for (s = 0; s < S && S == 1 + epochs; s++)
        CHECK(m.epochs[s] == (float)s && m.steps[s] == (long long)s * steps_per_epoch, "snapshot %d: epoch %g step %lld", s,
              (double)m.epochs[s], m.steps[s]);

    /* the last snapshot is the final weights' statistics; the first is not */
    for (i = 0; i < m.n_conv && S > 1; i++) {
        cnnvis_filter_stats now;
        const cnnvis_filter_stats *last = &m.stats[(size_t)(S - 1) * m.n_conv + i], *first = &m.stats[i];
        CHECK(cnnvis_filter_stats_compute(&now, net, m.conv_names[i], &m.probe) == CNNVIS_OK, "%s", cnnvis_last_error());
        CHECK(same_stats(last, &now), "%s: the last snapshot (corr %g, structure %g, norm %g, dead %d) is not the final weights' "
              "(corr %g, structure %g, norm %g, dead %d)", m.conv_names[i], (double)last->mean_abs_corr, (double)last->structure,
              (double)last->mean_norm, last->dead, (double)now.mean_abs_corr, (double)now.structure, (double)now.mean_norm, now.dead);
        CHECK(first->mean_norm != last->mean_norm, "%s: the norms did not change in training", m.conv_names[i]);
        CHECK(last->dead >= 0 && last->dead <= last->n_filters, "%s: dead %d with a probe", m.conv_names[i], last->dead);
    }

    /* evolution: one row per snapshot, each row that snapshot's strip, under a one-line caption */
    if (cnnvis_monitor_evolution_image(&ev, &m) == CNNVIS_OK && S > 0) {
        /* a row: the strip, its caption (one 8-pixel line and 2 pixels) and the pad */
        int strip_w = m.strips[0].w, row_h = m.strips[0].h + (8 + 2) + PAD, x0 = -1, x;
        CHECK(ev.h == TITLE_H + S * row_h + PAD, "evolution image %dx%d: height for %d rows of %d is %d", ev.w, ev.h, S, row_h,
              TITLE_H + S * row_h + PAD);
        /* the strip is centred in a cell as wide as the widest caption: find it in row 0 */
        for (x = PAD; x + strip_w <= ev.w && x0 < 0 && ev.h == TITLE_H + S * row_h + PAD; x++)
            if (!strip_differs(&ev, &m.strips[0], 0, x, row_h)) x0 = x;
        CHECK(x0 >= 0, "the first snapshot's strip is not in the first row");
        for (s = 1; s < S && x0 >= 0; s++)
            CHECK(!strip_differs(&ev, &m.strips[s], s, x0, row_h), "row %d of the evolution image is not snapshot %d's strip", s, s);
        /* the last strip is the final conv1 filters: the same pixels as the montage at zoom 24/3 */
        {
            cnnvis_filters_desc fd;
            cnnvis_image now;
            const int cell = 3 * 8;
            memset(&fd, 0, sizeof fd);
            fd.zoom = 8, fd.cols = 4;
            if (cnnvis_filters_image(&now, net, "conv1", &fd) == CNNVIS_OK) {
                int f, y, differ = 0;
                const cnnvis_image *strip = &m.strips[S - 1];
                CHECK(strip->w == 4 * (cell + 1) + 1 && strip->h == cell + 2, "strip %dx%d: 4 tiles of %d, 1 pixel apart", strip->w,
                      strip->h, cell);
                for (f = 0; f < 4 && strip->w == 4 * (cell + 1) + 1 && strip->h == cell + 2; f++)
                    for (y = 0; y < cell; y++)
                        differ += memcmp(px_at(strip, 1 + f * (cell + 1), 1 + y), px_at(&now, PAD + f * (cell + PAD), TITLE_H + PAD + y),
                                         3 * (size_t)cell) != 0;
                CHECK(differ == 0, "%d rows of the last strip's tiles differ from the final filters", differ);
                cnnvis_image_free(&now);
            } else
                CHECK(0, "%s", cnnvis_last_error());
        }
        CHECK(m.strips[0].w == m.strips[S - 1].w && memcmp(m.strips[0].px, m.strips[S - 1].px, (size_t)m.strips[0].w * m.strips[0].h * 3),
              "the first and last strips are identical: the filters did not move");
        cnnvis_image_free(&ev);
    } else
        CHECK(0, "evolution image: %s", cnnvis_last_error());

    CHECK(cnnvis_monitor_plot(&plot, &m) == CNNVIS_OK, "%s", cnnvis_last_error());
    CHECK(plot.px && plot.c == 3 && plot.w >= 2 * 420 && plot.h >= 2 * 280, "plot %dx%dx%d: four plots, two a row", plot.w, plot.h, plot.c);
    cnnvis_image_free(&plot);

    snprintf(path, sizeof path, "%s/monitor.tsv", tmp_dir);
    CHECK(cnnvis_monitor_write_tsv(path, &m) == CNNVIS_OK, "%s", cnnvis_last_error());
    check_tsv(&m, path);
    remove(path);

    /* frames: one conv1 montage per snapshot, named by step; the last is today's montage */
    for (s = 0; s < S; s++) {
        snprintf(path, sizeof path, "%s/conv1_step%06lld.png", frames, m.steps[s]);
        CHECK(cnnvis_image_read(&frame, path) == CNNVIS_OK, "frame of snapshot %d: %s", s, cnnvis_last_error());
        if (s == S - 1 && frame.px && cnnvis_filters_image(&expect, net, "conv1", NULL) == CNNVIS_OK) {
            CHECK(frame.w == expect.w && frame.h == expect.h && frame.c == 3 && !memcmp(frame.px, expect.px, (size_t)frame.w * frame.h * 3),
                  "the last frame is not the final conv1 montage");
            cnnvis_image_free(&expect);
        }
        cnnvis_image_free(&frame);
    }
    CHECK(remove_dir(frames) == S, "the frames folder holds other files than one frame per snapshot");
    rmdir(tmp_dir);
    {
        struct stat sb;
        CHECK(stat(tmp_dir, &sb) != 0, "the temporary directory is left behind");
    }
    cnnvis_monitor_free(&m);
    cnnvis_monitor_free(&m); /* freeing twice is harmless: free zeroes the monitor */
    cnnvis_net_free(net);
    cnnvis_dataset_free(&train), cnnvis_dataset_free(&probe);
}

/* every_steps: a snapshot every n steps (not at the end of the epochs), epochs as fractions;
   max_snapshots: later snapshots are skipped and training goes on. */
static void test_monitor_steps_and_limit(void)
{
    cnnvis_dataset train;
    cnnvis_net *net;
    cnnvis_monitor m;
    cnnvis_monitor_desc md;
    cnnvis_train_desc t;
    cnnvis_image plot;
    make_quadrants(&train, 32, 4);
    net = monitor_net(8);
    if (!net) cnnvis_dataset_free(&train);
    REQUIRE(net != NULL, "net");
    memset(&md, 0, sizeof md);
    md.every_steps = 2, md.layer = "conv2", md.strip_filters = 5;
    REQUIRE(cnnvis_monitor_init(&m, net, &md) == CNNVIS_OK, "%s", cnnvis_last_error());
    CHECK(m.montage_layer == 3, "montage layer %d, expected conv2 (3)", m.montage_layer);
    train_desc(&t, 2, &m, 1);
    CHECK(cnnvis_net_train(net, &train, NULL, &t) == CNNVIS_OK, "%s", cnnvis_last_error());
    /* steps 4 and 8 end the epochs too: one snapshot each, not two */
    CHECK(m.n_snapshots == 4, "every 2 of 8 steps: %d snapshots", m.n_snapshots);
    if (m.n_snapshots == 4) {
        int s;
        for (s = 0; s < 4; s++)
            CHECK(m.steps[s] == 2 * (s + 1) && fabsf(m.epochs[s] - 0.5f * (float)(s + 1)) < 1e-6f, "snapshot %d: step %lld, epoch %g",
                  s, m.steps[s], (double)m.epochs[s]);
        CHECK(m.stats[0].dead == -1, "no probe: dead %d", m.stats[0].dead);
        /* conv2's montage: 5 tiles of slice grids (4 input channels: 2x2, zoom 24/3 = 8) */
        CHECK(m.strips[0].w > 5 * 2 * 3 * 8 && m.strips[0].h > 2 * 3 * 8, "conv2 strip %dx%d", m.strips[0].w, m.strips[0].h);
    }
    CHECK(cnnvis_monitor_plot(&plot, &m) == CNNVIS_OK && plot.px, "plot without a probe: %s", cnnvis_last_error());
    cnnvis_image_free(&plot);
    cnnvis_monitor_free(&m);

    md.every_steps = 0, md.max_snapshots = 1;
    REQUIRE(cnnvis_monitor_init(&m, net, &md) == CNNVIS_OK, "%s", cnnvis_last_error());
    train_desc(&t, 3, &m, 0);
    CHECK(cnnvis_net_train(net, &train, NULL, &t) == CNNVIS_OK, "%s", cnnvis_last_error());
    CHECK(m.n_snapshots == 1 && net->step == 8 + 12, "max_snapshots 1: %d snapshots, training reached step %lld of 20",
          m.n_snapshots, net->step);
    CHECK(cnnvis_monitor_snapshot(&m, net, 9) == CNNVIS_ERR_ARG && has(cnnvis_last_error(), "max_snapshots"),
          "a snapshot beyond max_snapshots: %s", cnnvis_last_error());
    cnnvis_monitor_free(&m);
    cnnvis_net_free(net);
    cnnvis_dataset_free(&train);
}

/* A snapshot that fails (frames into a folder that does not exist) stops training with the
   reason in cnnvis_last_error(). */
static void test_monitor_failure_stops_training(void)
{
    cnnvis_dataset train;
    cnnvis_net *net;
    cnnvis_monitor m;
    cnnvis_monitor_desc md;
    cnnvis_train_desc t;
    make_quadrants(&train, 32, 5);
    net = monitor_net(9);
    if (!net) cnnvis_dataset_free(&train);
    REQUIRE(net != NULL, "net");
    memset(&md, 0, sizeof md);
    md.frames_dir = "no-such-folder-of-cnnvis-tests/frames";
    REQUIRE(cnnvis_monitor_init(&m, net, &md) == CNNVIS_OK, "%s", cnnvis_last_error());
    train_desc(&t, 3, &m, 0);
    cnnvis_clear_error();
    CHECK(cnnvis_net_train(net, &train, NULL, &t) == CNNVIS_OK, "%s", cnnvis_last_error());
    CHECK(net->step == 4 && m.n_snapshots == 0, "training went on to step %lld (%d snapshots)", net->step, m.n_snapshots);
    CHECK(has(cnnvis_last_error(), "no-such-folder-of-cnnvis-tests"), "message: \"%s\"", cnnvis_last_error());
    cnnvis_monitor_free(&m);
    cnnvis_net_free(net);
    cnnvis_dataset_free(&train);
}

/* "One row per snapshot and conv layer" whatever the numbers: norms of 1e30 print as long
   decimals (%.5f), and long layer names. */
static void test_monitor_tsv_large_values(void)
{
    cnnvis_net_desc d;
    cnnvis_net *net = NULL;
    cnnvis_monitor m;
    char path[256];
    size_t k;
    int s;
    static const char *names[2] = {"a_conv_layer_with_a_long_name_1", "a_conv_layer_with_a_long_name_2"};
    cnnvis_net_desc_init(&d, 1, 8, 8);
    cnnvis_net_desc_conv(&d, names[0], 2, 3, 1, 1, 1);
    cnnvis_net_desc_conv(&d, names[1], 2, 3, 1, 1, 1);
    d.n_threads = 1;
    REQUIRE(cnnvis_net_create(&net, &d) == CNNVIS_OK, "%s", cnnvis_last_error());
    for (k = 0; k < net->layers[0].n_w; k++) net->layers[0].w[k] *= 1e30f;
    for (k = 0; k < net->layers[1].n_w; k++) net->layers[1].w[k] *= 1e30f;
    if (!make_tmp_dir()) {
        cnnvis_net_free(net);
        REQUIRE(0, "cannot make a temporary directory");
    }
    if (cnnvis_monitor_init(&m, net, NULL) != CNNVIS_OK) {
        cnnvis_net_free(net), rmdir(tmp_dir);
        REQUIRE(0, "%s", cnnvis_last_error());
    }
    for (s = 0; s < 12; s++) CHECK(cnnvis_monitor_snapshot(&m, net, 1234.125f + s) == CNNVIS_OK, "%s", cnnvis_last_error());
    snprintf(path, sizeof path, "%s/large.tsv", tmp_dir);
    CHECK(cnnvis_monitor_write_tsv(path, &m) == CNNVIS_OK, "%s", cnnvis_last_error());
    check_tsv(&m, path);
    remove(path);
    rmdir(tmp_dir);
    cnnvis_monitor_free(&m);
    cnnvis_net_free(net);
}

/* --- 5. Misuse ----------------------------------------------------------------------------- */

/* Expect code `code` with a message containing `word`. */
#define EXPECT(call, code, word)                                                                                   \
    do {                                                                                                           \
        cnnvis_result r_;                                                                                          \
        cnnvis_clear_error();                                                                                      \
        r_ = (call);                                                                                               \
        CHECK(r_ == (code), "%s: got %s, expected %s (%s)", #call, cnnvis_result_str(r_), #code, cnnvis_last_error()); \
        CHECK(has(cnnvis_last_error(), word), "%s: message \"%s\" lacks \"%s\"", #call, cnnvis_last_error(), word); \
    } while (0)

static void test_bad_arguments(void)
{
    cnnvis_net *net = conv_net(1, 8, 4, 3, 1, 3), *fc_only = NULL;
    cnnvis_net_desc d;
    cnnvis_filters_desc fd;
    cnnvis_filter_stats st;
    cnnvis_monitor m;
    cnnvis_monitor_desc md;
    cnnvis_image im;
    cnnvis_tensor wrong, too_many;
    cnnvis_dataset probe;
    REQUIRE(net != NULL, "net");
    cnnvis_net_desc_init(&d, 1, 4, 4);
    cnnvis_net_desc_fc(&d, "fc1", 2);
    d.n_threads = 1;
    REQUIRE(cnnvis_net_create(&fc_only, &d) == CNNVIS_OK, "%s", cnnvis_last_error());

    EXPECT(cnnvis_filters_image(NULL, net, "conv1", NULL), CNNVIS_ERR_ARG, "out");
    EXPECT(cnnvis_filters_image(&im, NULL, "conv1", NULL), CNNVIS_ERR_ARG, "net");
    CHECK(im.px == NULL, "a refused call leaves out empty");
    EXPECT(cnnvis_filters_image(&im, net, "conv9", NULL), CNNVIS_ERR_ARG, "conv9");
    EXPECT(cnnvis_filters_image(&im, net, "relu1", NULL), CNNVIS_ERR_ARG, "relu1");
    CHECK(has(cnnvis_last_error(), "not a convolution"), "relu1: \"%s\"", cnnvis_last_error());
    EXPECT(cnnvis_filters_image(&im, fc_only, "fc1", NULL), CNNVIS_ERR_ARG, "fc1");
    memset(&fd, 0, sizeof fd);
    fd.zoom = -1;
    EXPECT(cnnvis_filters_image(&im, net, "conv1", &fd), CNNVIS_ERR_ARG, "zoom");
    fd.zoom = 65;
    EXPECT(cnnvis_filters_image(&im, net, "conv1", &fd), CNNVIS_ERR_ARG, "zoom");
    fd.zoom = 0, fd.cols = -2;
    EXPECT(cnnvis_filters_image(&im, net, "conv1", &fd), CNNVIS_ERR_ARG, "cols");
    fd.cols = 0, fd.max_filters = -1;
    EXPECT(cnnvis_filters_image(&im, net, "conv1", &fd), CNNVIS_ERR_ARG, "max_filters");
    fd.max_filters = 0, fd.max_slices = -1;
    EXPECT(cnnvis_filters_image(&im, net, "conv2", &fd), CNNVIS_ERR_ARG, "max_slices");

    EXPECT(cnnvis_filter_stats_compute(NULL, net, "conv1", NULL), CNNVIS_ERR_ARG, "NULL st");
    EXPECT(cnnvis_filter_stats_compute(&st, NULL, "conv1", NULL), CNNVIS_ERR_ARG, "NULL net");
    EXPECT(cnnvis__filter_stats_at(&st, net, -1, NULL), CNNVIS_ERR_ARG, "layer -1");
    EXPECT(cnnvis_filter_stats_compute(&st, net, "relu1", NULL), CNNVIS_ERR_ARG, "not a convolution");
    EXPECT(cnnvis__filter_stats_at(&st, net, net->n_layers, NULL), CNNVIS_ERR_ARG, "layer 3");
    EXPECT(cnnvis_filter_stats_compute(&st, fc_only, "fc1", NULL), CNNVIS_ERR_ARG, "not a convolution");
    REQUIRE(cnnvis_tensor_create(&wrong, 2, 1, 7, 8) == CNNVIS_OK && cnnvis_tensor_create(&too_many, 9, 1, 8, 8) == CNNVIS_OK, "tensors");
    cnnvis_clear_error();
    CHECK(cnnvis_filter_stats_compute(&st, net, "conv1", &wrong) == CNNVIS_ERR_ARG && cnnvis_last_error()[0], "probe of 7x8 images: %s",
          cnnvis_last_error());
    cnnvis_clear_error();
    CHECK(cnnvis_filter_stats_compute(&st, net, "conv1", &too_many) == CNNVIS_ERR_ARG && cnnvis_last_error()[0],
          "probe of 9 images (max_batch 8): %s", cnnvis_last_error());
    cnnvis_tensor_free(&wrong), cnnvis_tensor_free(&too_many);

    memset(&md, 0, sizeof md);
    EXPECT(cnnvis_monitor_init(NULL, net, &md), CNNVIS_ERR_ARG, "m is NULL");
    EXPECT(cnnvis_monitor_init(&m, NULL, &md), CNNVIS_ERR_ARG, "net");
    cnnvis_monitor_free(&m);
    EXPECT(cnnvis_monitor_init(&m, fc_only, &md), CNNVIS_ERR_ARG, "convolution");
    cnnvis_monitor_free(&m);
    md.layer = "conv9";
    EXPECT(cnnvis_monitor_init(&m, net, &md), CNNVIS_ERR_ARG, "conv9");
    cnnvis_monitor_free(&m);
    md.layer = "relu1";
    EXPECT(cnnvis_monitor_init(&m, net, &md), CNNVIS_ERR_ARG, "relu1");
    cnnvis_monitor_free(&m);
    md.layer = NULL, md.every_steps = -1;
    EXPECT(cnnvis_monitor_init(&m, net, &md), CNNVIS_ERR_ARG, "every_steps");
    cnnvis_monitor_free(&m);
    md.every_steps = 0, md.max_snapshots = -3;
    EXPECT(cnnvis_monitor_init(&m, net, &md), CNNVIS_ERR_ARG, "max_snapshots");
    cnnvis_monitor_free(&m);
    md.max_snapshots = 0, md.strip_filters = -1;
    EXPECT(cnnvis_monitor_init(&m, net, &md), CNNVIS_ERR_ARG, "strip_filters");
    cnnvis_monitor_free(&m);
    md.strip_filters = 0, md.probe_n = -1;
    EXPECT(cnnvis_monitor_init(&m, net, &md), CNNVIS_ERR_ARG, "probe_n");
    cnnvis_monitor_free(&m);
    md.probe_n = 0;
    make_quadrants(&probe, 4, 6); /* 8x8 images: the net takes 8x8, fc_only 4x4 */
    md.probe = &probe;
    EXPECT(cnnvis_monitor_init(&m, fc_only, &md), CNNVIS_ERR_ARG, "convolution");
    cnnvis_monitor_free(&m);
    {
        cnnvis_net *small = conv_net(1, 6, 2, 3, 1, 0);
        if (small) {
            EXPECT(cnnvis_monitor_init(&m, small, &md), CNNVIS_ERR_ARG, "probe");
            cnnvis_monitor_free(&m);
            cnnvis_net_free(small);
        }
    }

    /* a monitor that never took a snapshot */
    md.probe = NULL;
    REQUIRE(cnnvis_monitor_init(&m, net, &md) == CNNVIS_OK, "%s", cnnvis_last_error());
    EXPECT(cnnvis_monitor_evolution_image(NULL, &m), CNNVIS_ERR_ARG, "out");
    EXPECT(cnnvis_monitor_evolution_image(&im, &m), CNNVIS_ERR_ARG, "snapshot");
    EXPECT(cnnvis_monitor_evolution_image(&im, NULL), CNNVIS_ERR_ARG, "m is NULL");
    EXPECT(cnnvis_monitor_plot(NULL, &m), CNNVIS_ERR_ARG, "out");
    EXPECT(cnnvis_monitor_plot(&im, &m), CNNVIS_ERR_ARG, "snapshot");
    EXPECT(cnnvis_monitor_snapshot(NULL, net, 0), CNNVIS_ERR_ARG, "monitor");
    EXPECT(cnnvis_monitor_snapshot(&m, NULL, 0), CNNVIS_ERR_ARG, "NULL");
    EXPECT(cnnvis_monitor_write_tsv("no-such-folder-of-cnnvis-tests/monitor.tsv", &m), CNNVIS_ERR_IO, "no-such-folder-of-cnnvis-tests");
    CHECK(cnnvis_monitor_callback(net, NULL, &m) != 0, "callback without stats must stop training");
    CHECK(m.n_snapshots == 0, "refused calls took %d snapshots", m.n_snapshots);
    cnnvis_monitor_free(&m);
    {
        cnnvis_monitor blank;
        memset(&blank, 0, sizeof blank);
        EXPECT(cnnvis_monitor_snapshot(&blank, net, 0), CNNVIS_ERR_ARG, "uninitialised");
    }
    cnnvis_dataset_free(&probe);
    cnnvis_net_free(fc_only);
    cnnvis_net_free(net);
}

/* The messages name the argument at fault (lecture code is debugged from these). */
static void test_messages_name_the_argument(void)
{
    cnnvis_net *net = conv_net(1, 8, 4, 3, 1, 0);
    cnnvis_monitor m;
    cnnvis_image im;
    REQUIRE(net != NULL, "net");
    EXPECT(cnnvis_filters_image(&im, net, NULL, NULL), CNNVIS_ERR_ARG, "layer");
    REQUIRE(cnnvis_monitor_init(&m, net, NULL) == CNNVIS_OK, "%s", cnnvis_last_error());
    EXPECT(cnnvis_monitor_write_tsv(NULL, &m), CNNVIS_ERR_ARG, "path");
    EXPECT(cnnvis_monitor_write_tsv("x.tsv", NULL), CNNVIS_ERR_ARG, "m is NULL");
    cnnvis_monitor_free(&m);
    cnnvis_net_free(net);
}

/* probe_n larger than the probe set: the documented default is min(64, max_batch,
   probe->n), so either it is clamped to the set (the code's CNNVIS__MIN(count, ds->n)
   intends that) or refused with a message naming probe_n. */
static void test_monitor_probe_n_beyond_the_set(void)
{
    cnnvis_net *net = monitor_net(10);
    cnnvis_dataset probe;
    cnnvis_monitor m;
    cnnvis_monitor_desc md;
    cnnvis_result r;
    REQUIRE(net != NULL, "net");
    make_quadrants(&probe, 5, 12);
    memset(&md, 0, sizeof md);
    md.probe = &probe, md.probe_n = 8;
    cnnvis_clear_error();
    r = cnnvis_monitor_init(&m, net, &md);
    CHECK((r == CNNVIS_OK && m.probe.n == 5) || (r == CNNVIS_ERR_ARG && has(cnnvis_last_error(), "probe_n")),
          "probe_n 8 of 5 images: %s, probe of %d images, message \"%s\"", cnnvis_result_str(r), m.probe.n, cnnvis_last_error());
    if (r == CNNVIS_OK) {
        CHECK(cnnvis_monitor_snapshot(&m, net, 0) == CNNVIS_OK && m.stats[0].dead >= 0, "snapshot with the probe: %s",
              cnnvis_last_error());
        cnnvis_monitor_free(&m);
    }
    cnnvis_dataset_free(&probe);
    cnnvis_net_free(net);
}

int main(void)
{
    RUN(test_low_frequency_share_definition);
    RUN(test_structure_and_correlation);
    RUN(test_one_pair_correlation);
    RUN(test_norms);
    RUN(test_dead_filters);
    RUN(test_filters_image_grey);
    RUN(test_filters_image_defaults);
    RUN(test_filters_image_colour);
    RUN(test_filters_image_deeper);
    RUN(test_filters_image_shared_scale_is_the_layers);
    RUN(test_monitor_epochs);
    RUN(test_monitor_steps_and_limit);
    RUN(test_monitor_failure_stops_training);
    RUN(test_monitor_tsv_large_values);
    RUN(test_bad_arguments);
    RUN(test_messages_name_the_argument);
    RUN(test_monitor_probe_n_beyond_the_set);
    return SUMMARY();
}
