/* test_kernels.c - the fast kernels (AVX2+FMA on x86-64, NEON on arm64) against the scalar
   reference kernels, pass by pass, on many shapes: channel counts that are not multiples of
   8 or 16, odd sizes, strides 1-4, padding 0-5, 1x1 to 11x11 kernels, groups, batch 1 and
   more; then a whole network's forward and backward. Each layer's backward pass runs on a
   dense output gradient and on one with 85% zeros, as below a max-pool and ReLU; the input
   gradient is taken both with the parameter gradients (training) and without (a gradient
   map, where the fast path scatters a sparse dy's nonzero terms instead of the product).

   Tolerance. The fast kernels accumulate in another order and fuse multiply-adds, so they
   are not bit-identical to the reference. Each output must satisfy
       |fast - reference| <= 1e-5 * max|reference| + 1e-7,
   a bound relative to the magnitude of the output tensor (float32 rounding of a sum of a
   few thousand terms stays two orders of magnitude below it). Where this build or CPU has
   no fast kernels, the test says so and skips. */
#define CNNVIS_IMPLEMENTATION
#include "cnnvis.h"
#include "minitest.h"
#include <stdlib.h>

typedef struct worst {
    double ratio; /* worst |fast - ref| / tolerance seen */
} worst;

/* Compare two arrays under the documented tolerance; returns 1 if they agree. */
static int agree(const float *fast, const float *ref, size_t n, worst *w, const char *what)
{
    double top = 0, diff = 0;
    size_t i, at = 0;
    for (i = 0; i < n; i++) top = fabs(ref[i]) > top ? fabs(ref[i]) : top;
    for (i = 0; i < n; i++)
        if (fabs((double)fast[i] - ref[i]) > diff) diff = fabs((double)fast[i] - ref[i]), at = i;
    if (diff / (1e-5 * top + 1e-7) > w->ratio) w->ratio = diff / (1e-5 * top + 1e-7);
    if (diff > 1e-5 * top + 1e-7) {
        printf("  %s: element %zu differs by %.3g (fast %.9g, reference %.9g, max |reference| %.3g)\n", what, at, diff,
               (double)fast[at], (double)ref[at], top);
        return 0;
    }
    return 1;
}

static float *copy_of(const float *src, size_t n)
{
    float *dst = (float *)malloc(sizeof(float) * (n ? n : 1));
    memcpy(dst, src, sizeof(float) * n);
    return dst;
}

static int have_fast_kernels(void)
{
    cnnvis_net_desc d;
    cnnvis_net *net;
    int fast;
    cnnvis_net_desc_init(&d, 1, 4, 4);
    cnnvis_net_desc_fc(&d, "fc", 2);
    if (cnnvis_net_create(&net, &d) != CNNVIS_OK) return 0;
    fast = net->kernels != CNNVIS_KERNELS_REFERENCE;
    cnnvis_net_free(net);
    return fast;
}

/* dy: normal values, of which a share `zeros` set to 0 (the gradient below a max-pool). */
static void fill_dy(float *dy, size_t count, double zeros, cnnvis_rng *rng)
{
    size_t i;
    for (i = 0; i < count; i++) {
        dy[i] = cnnvis__rng_normal(rng);
        if (cnnvis__rng_uniform(rng) < zeros) dy[i] = 0.0f;
    }
}

/* How many (image, group) pairs of a conv's backward pass take the scatter of a sparse dy
   (cnnvis__conv_sparse_dx) rather than the product, for the dy in net's layer 0. */
static int scattered_pairs(cnnvis_net *net)
{
    cnnvis__conv_args a;
    cnnvis__conv_work f;
    int n, count = 0;
    if (net->layers[0].desc.kind != CNNVIS_LAYER_CONV || net->kernels == CNNVIS_KERNELS_REFERENCE) return 0;
    a = cnnvis__conv_args_of(net, 0);
    a.sparse_ok = 1;
    memset(&f, 0, sizeof f);
    f.a = &a, f.pl = cnnvis__conv_plan_of(&a.g, a.max_batch);
    for (f.group = 0; f.group < a.g.groups; f.group++)
        for (n = 0; n < a.g.n; n++) count += cnnvis__conv_sparse_wins(&f, n);
    return count;
}

/* One layer (conv or fc) on random data: forward, input gradient and parameter gradients
   with both kernel sets; dy has a share `zeros` of zeros. *scattered (may be NULL) gets
   scattered_pairs. */
static int check_layer(const cnnvis_layer_desc *l, int n, int c, int h, int w, int threads, double zeros, cnnvis_rng *rng,
                       worst *wr, const char *name, int *scattered)
{
    cnnvis_net_desc d;
    cnnvis_net *net;
    cnnvis_tensor x, dy;
    cnnvis_layer *L;
    float *ref[5];
    size_t counts[5], i;
    int ok = 1, q;
    cnnvis_net_desc_init(&d, c, h, w);
    cnnvis_net_desc_add(&d, l);
    d.max_batch = n, d.n_threads = threads;
    if (cnnvis_net_create(&net, &d) != CNNVIS_OK) {
        printf("  %s: %s\n", name, cnnvis_last_error());
        return 0;
    }
    L = &net->layers[0];
    for (i = 0; i < L->n_w; i++) L->w[i] = cnnvis__rng_normal(rng);
    for (i = 0; i < L->n_b; i++) L->b[i] = cnnvis__rng_normal(rng);
    cnnvis_tensor_create(&x, n, c, h, w);
    cnnvis_tensor_create(&dy, n, L->out_c, L->out_h, L->out_w);
    for (i = 0; i < cnnvis_tensor_count(&x); i++) x.data[i] = cnnvis__rng_normal(rng);
    fill_dy(dy.data, cnnvis_tensor_count(&dy), zeros, rng);
    counts[0] = cnnvis_tensor_count(&dy), counts[1] = counts[2] = cnnvis_tensor_count(&x), counts[3] = L->n_w;
    counts[4] = L->n_b;
    for (q = 0; q < 2; q++) {
        const float *got[5];
        float *dx_params;
        cnnvis__net_set_kernels(net, q == 0 ? CNNVIS_KERNELS_REFERENCE : CNNVIS_KERNELS_AUTO);
        cnnvis_net_forward(net, &x);
        cnnvis_net_zero_grad(net);
        /* with the parameter gradients, as in training (the product), then without, as for a
           gradient map (where a sparse dy takes the scatter) */
        cnnvis_net_backward(net, NULL, &dy, CNNVIS_RELU_BACKPROP, CNNVIS_BACKWARD_PARAMS);
        dx_params = copy_of(net->dinput.data, counts[1]);
        cnnvis_net_backward(net, NULL, &dy, CNNVIS_RELU_BACKPROP, 0);
        if (q == 1 && scattered) *scattered = scattered_pairs(net);
        got[0] = L->out.data, got[1] = dx_params, got[2] = net->dinput.data, got[3] = L->dw, got[4] = L->db;
        for (i = 0; i < 5; i++) {
            static const char *pass[5] = {"forward", "backward data (training)", "backward data (gradient map)",
                                          "backward weights", "backward bias"};
            char what[256];
            if (q == 0) {
                ref[i] = copy_of(got[i], counts[i]);
                continue;
            }
            snprintf(what, sizeof what, "%s, %s%s", name, pass[i], zeros > 0 ? " (sparse dy)" : "");
            ok &= agree(got[i], ref[i], counts[i], wr, what);
            free(ref[i]);
        }
        free(dx_params);
    }
    cnnvis_tensor_free(&x), cnnvis_tensor_free(&dy);
    cnnvis_net_free(net);
    return ok;
}

/* Listed shapes: the awkward cases by name. */
static void test_conv_shapes(void)
{
    static const struct {
        int n, c, h, w, oc, k, s, p, g;
    } shapes[] = {
        {1, 3, 32, 32, 64, 5, 1, 2, 1},   {2, 3, 35, 33, 17, 11, 4, 0, 1}, {1, 1, 7, 9, 5, 3, 2, 1, 1},
        {3, 13, 9, 11, 19, 1, 1, 0, 1},   {2, 6, 12, 10, 9, 3, 1, 1, 3},   {2, 8, 15, 15, 16, 5, 3, 2, 2},
        {1, 4, 5, 5, 7, 5, 1, 5, 1},      {2, 5, 1, 1, 3, 1, 1, 0, 1},     {1, 2, 1, 3, 4, 5, 1, 2, 2},
        {5, 17, 6, 7, 23, 3, 4, 3, 1},    {64, 7, 8, 8, 33, 3, 1, 1, 1},   {1, 96, 13, 13, 64, 3, 1, 1, 2},
        {1, 3, 227, 227, 8, 11, 4, 0, 1}, {2, 9, 4, 31, 5, 2, 1, 0, 1},    {1, 24, 6, 6, 48, 3, 2, 0, 4},
        /* rows long enough for the scatter of a sparse dy: alexnet_mini's conv2 and conv3
           (and the 5x5 conv2 and 96-channel conv3 it had before), stride 2 with padding and
           groups; one image on 2 threads splits its rows */
        {2, 32, 16, 16, 64, 3, 1, 1, 1}, {1, 64, 8, 8, 64, 3, 1, 1, 1},
        {2, 32, 16, 16, 64, 5, 1, 2, 1}, {1, 64, 8, 8, 96, 3, 1, 1, 1},   {3, 24, 11, 9, 20, 7, 2, 3, 2},
        {1, 40, 10, 10, 16, 3, 2, 1, 1},
    };
    cnnvis_rng rng;
    worst wr = {0};
    size_t i;
    int scattered_shapes = 0;
    if (!have_fast_kernels()) SKIP("this build or CPU has no AVX2 or NEON kernels: nothing to compare");
    cnnvis__rng_seed(&rng, 1);
    for (i = 0; i < 2 * sizeof shapes / sizeof shapes[0]; i++) {
        size_t s = i / 2;
        double zeros = i % 2 ? 0.85 : 0.0;
        cnnvis_layer_desc l;
        char name[160];
        memset(&l, 0, sizeof l);
        l.kind = CNNVIS_LAYER_CONV, l.out_channels = shapes[s].oc, l.kernel = shapes[s].k, l.stride = shapes[s].s;
        l.pad = shapes[s].p, l.groups = shapes[s].g;
        snprintf(name, sizeof name, "conv %dx%dx%dx%d -> %d, %dx%d stride %d pad %d groups %d", shapes[s].n, shapes[s].c,
                 shapes[s].h, shapes[s].w, shapes[s].oc, shapes[s].k, shapes[s].k, shapes[s].s, shapes[s].p, shapes[s].g);
        int scattered = 0;
        CHECK(check_layer(&l, shapes[s].n, shapes[s].c, shapes[s].h, shapes[s].w, 1 + (int)(s % 3), zeros, &rng, &wr, name,
                          &scattered),
              "%s%s: the fast kernels disagree with the reference", name, zeros > 0 ? " (sparse dy)" : "");
        CHECK(zeros > 0 || scattered == 0, "%s: a dense dy took the scatter", name);
        scattered_shapes += scattered > 0;
    }
    /* the five shapes above with rows of 64 floats or more (the 96-channel one and the last four) */
    CHECK(scattered_shapes >= 5, "only %d shapes took the scatter of a sparse dy", scattered_shapes);
    printf("  %zu shapes, dense and sparse dy (%d took the scatter); worst difference %.3f of the tolerance\n",
           sizeof shapes / sizeof shapes[0], scattered_shapes, wr.ratio);
}

/* Random shapes over the whole range of the parameters. */
static void test_conv_random(void)
{
    cnnvis_rng rng;
    worst wr = {0};
    int t, tried = 0, failed = 0, scattered_shapes = 0;
    if (!have_fast_kernels()) SKIP("this build or CPU has no AVX2 or NEON kernels: nothing to compare");
    cnnvis__rng_seed(&rng, 2);
    for (t = 0; t < 150; t++) {
        cnnvis_layer_desc l;
        char name[160];
        int k = 1 + (int)cnnvis__rng_below(&rng, 11), s = 1 + (int)cnnvis__rng_below(&rng, 4), p = (int)cnnvis__rng_below(&rng, 6);
        int g = 1 + (int)cnnvis__rng_below(&rng, 3), c = g * (1 + (int)cnnvis__rng_below(&rng, 9));
        int oc = g * (1 + (int)cnnvis__rng_below(&rng, 20)), h = 1 + (int)cnnvis__rng_below(&rng, 20);
        int w = 1 + (int)cnnvis__rng_below(&rng, 20), n = 1 + (int)cnnvis__rng_below(&rng, 5);
        if (k > h + 2 * p || k > w + 2 * p) continue;
        if (t % 2) c *= 4; /* the sparse-dy trials: more channels, so that some rows are long enough to scatter */
        memset(&l, 0, sizeof l);
        l.kind = CNNVIS_LAYER_CONV, l.out_channels = oc, l.kernel = k, l.stride = s, l.pad = p, l.groups = g;
        snprintf(name, sizeof name, "conv %dx%dx%dx%d -> %d, k%d s%d p%d g%d", n, c, h, w, oc, k, s, p, g);
        tried++;
        {
            int scattered = 0;
            failed += !check_layer(&l, n, c, h, w, 1 + t % 3, t % 2 ? 0.85 : 0.0, &rng, &wr, name, &scattered);
            scattered_shapes += scattered > 0;
        }
    }
    CHECK(failed == 0, "%d of %d random convolutions disagree", failed, tried);
    CHECK(scattered_shapes > 0, "no random convolution took the scatter of a sparse dy");
    printf("  %d random convolutions, every other one with sparse dy (%d took the scatter); worst difference %.3f of the "
           "tolerance\n", tried, scattered_shapes, wr.ratio);
}

static void test_fc_shapes(void)
{
    static const struct {
        int n, c, h, w, out;
    } shapes[] = {{1, 1, 1, 1, 1}, {1, 7, 3, 3, 17}, {3, 64, 4, 4, 256}, {64, 256, 1, 1, 10}, {5, 9216, 1, 1, 33}, {17, 30, 1, 1, 61},
                  {1, 1030, 1, 1, 13}, {2, 100, 1, 1, 300}, {4, 64, 4, 4, 256}, {1, 5, 1, 1, 9}};
    cnnvis_rng rng;
    worst wr = {0};
    size_t i;
    if (!have_fast_kernels()) SKIP("this build or CPU has no AVX2 or NEON kernels: nothing to compare");
    cnnvis__rng_seed(&rng, 3);
    for (i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        cnnvis_layer_desc l;
        char name[128];
        memset(&l, 0, sizeof l);
        l.kind = CNNVIS_LAYER_FC, l.out_channels = shapes[i].out;
        snprintf(name, sizeof name, "fc %dx%dx%dx%d -> %d", shapes[i].n, shapes[i].c, shapes[i].h, shapes[i].w, shapes[i].out);
        CHECK(check_layer(&l, shapes[i].n, shapes[i].c, shapes[i].h, shapes[i].w, 1 + (int)(i % 3), 0.0, &rng, &wr, name, NULL),
              "%s: the fast kernels disagree with the reference", name);
    }
    printf("  %zu shapes; worst difference %.3f of the tolerance\n", sizeof shapes / sizeof shapes[0], wr.ratio);
}

/* One layer: each of nb images alone must give the same bits as in the batch of nb, forward
   and backward to the input. The dy of images 1 and 3 mod 4 are 85% zeros, and image 2 mod
   4 has zeros in its first half of channels only (with 2 groups: a sparse group beside a
   dense one), so a batch mixes the scatter and the product. Returns the images that differ. */
static int alone_vs_batch(const cnnvis_layer_desc *l, int c, int h, int w, int threads, int nb, cnnvis_rng *rng)
{
    cnnvis_net_desc d;
    cnnvis_net *net;
    cnnvis_tensor x, dy, x1, dy1;
    cnnvis_layer *L;
    float *y_batch, *dx_batch;
    size_t i, in, out;
    int n, bad = 0;
    cnnvis_net_desc_init(&d, c, h, w);
    cnnvis_net_desc_add(&d, l);
    d.max_batch = nb, d.n_threads = threads;
    if (cnnvis_net_create(&net, &d) != CNNVIS_OK) return nb;
    L = &net->layers[0];
    in = (size_t)c * h * w, out = (size_t)L->out_c * L->out_h * L->out_w;
    for (i = 0; i < L->n_w; i++) L->w[i] = cnnvis__rng_normal(rng);
    for (i = 0; i < L->n_b; i++) L->b[i] = cnnvis__rng_normal(rng);
    cnnvis_tensor_create(&x, nb, c, h, w);
    cnnvis_tensor_create(&dy, nb, L->out_c, L->out_h, L->out_w);
    for (i = 0; i < cnnvis_tensor_count(&x); i++) x.data[i] = cnnvis__rng_normal(rng);
    for (n = 0; n < nb; n++) {
        size_t half = out / L->out_c * (size_t)(L->out_c / 2); /* the first half of the channels */
        fill_dy(dy.data + n * out, out, n % 2 ? 0.85 : 0.0, rng);
        if (n % 4 == 2) fill_dy(dy.data + n * out, half, 0.85, rng);
    }
    cnnvis_net_forward(net, &x);
    cnnvis_net_backward(net, NULL, &dy, CNNVIS_RELU_BACKPROP, 0);
    y_batch = copy_of(L->out.data, nb * out);
    dx_batch = copy_of(net->dinput.data, nb * in);
    for (n = 0; n < nb; n++) {
        x1 = cnnvis_tensor_wrap(x.data + n * in, 1, c, h, w);
        dy1 = cnnvis_tensor_wrap(dy.data + n * out, 1, L->out_c, L->out_h, L->out_w);
        cnnvis_net_forward(net, &x1);
        cnnvis_net_backward(net, NULL, &dy1, CNNVIS_RELU_BACKPROP, 0);
        bad += memcmp(L->out.data, y_batch + n * out, sizeof(float) * out) != 0 ||
               memcmp(net->dinput.data, dx_batch + n * in, sizeof(float) * in) != 0;
    }
    free(y_batch), free(dx_batch);
    cnnvis_tensor_free(&x), cnnvis_tensor_free(&dy);
    cnnvis_net_free(net);
    return bad;
}

/* Up to a few images the fast fc kernels read W in place (matrix-vector products) instead of
   running the GEMM, and the convolutions read their weights in place instead of packing
   them; both are meant to do the same arithmetic, so an image gets the same bits alone as
   in a batch of 8 (which takes the packed GEMM). Top-k relies on this. */
static void test_small_batch_bits(void)
{
    static const struct {
        int in, out;
    } fc[] = {{1, 1}, {7, 17}, {1024, 256}, {1030, 13}, {100, 300}, {600, 9}, {64, 64}, {257, 8}};
    static const struct {
        int c, h, w, oc, k, s, p, g;
    } conv[] = {{3, 32, 32, 32, 5, 1, 2, 1}, {32, 16, 16, 64, 5, 1, 2, 1}, {64, 8, 8, 96, 3, 1, 1, 1},
                {7, 9, 11, 13, 3, 2, 1, 1},  {6, 12, 10, 9, 3, 1, 1, 3},   {5, 6, 7, 23, 1, 1, 0, 1},
                {2, 1, 3, 4, 5, 1, 2, 2},    {96, 13, 13, 20, 3, 1, 1, 2}};
    cnnvis_rng rng;
    size_t s;
    if (!have_fast_kernels()) SKIP("this build or CPU has no AVX2 or NEON kernels: nothing to compare");
    cnnvis__rng_seed(&rng, 5);
    for (s = 0; s < sizeof fc / sizeof fc[0]; s++) {
        cnnvis_layer_desc l;
        int bad;
        memset(&l, 0, sizeof l);
        l.kind = CNNVIS_LAYER_FC, l.out_channels = fc[s].out;
        bad = alone_vs_batch(&l, fc[s].in, 1, 1, 1 + (int)(s % 2), 8, &rng);
        CHECK(bad == 0, "fc %d -> %d: %d of 8 images differ alone from in a batch", fc[s].in, fc[s].out, bad);
    }
    for (s = 0; s < sizeof conv / sizeof conv[0]; s++) {
        cnnvis_layer_desc l;
        int bad;
        memset(&l, 0, sizeof l);
        l.kind = CNNVIS_LAYER_CONV, l.out_channels = conv[s].oc, l.kernel = conv[s].k, l.stride = conv[s].s;
        l.pad = conv[s].p, l.groups = conv[s].g;
        bad = alone_vs_batch(&l, conv[s].c, conv[s].h, conv[s].w, 1 + (int)(s % 2), 8, &rng);
        CHECK(bad == 0, "conv %dx%dx%d -> %d k%d s%d p%d g%d: %d of 8 images differ alone from in a batch", conv[s].c,
              conv[s].h, conv[s].w, conv[s].oc, conv[s].k, conv[s].s, conv[s].p, conv[s].g, bad);
        /* fewer images than threads: each image's rows split among the threads, scattered or
           not, and the product of the others run image by image */
        bad = alone_vs_batch(&l, conv[s].c, conv[s].h, conv[s].w, 3, 3, &rng);
        CHECK(bad == 0, "conv %dx%dx%d -> %d k%d s%d p%d g%d, 3 threads: %d of 3 images differ alone from in a batch",
              conv[s].c, conv[s].h, conv[s].w, conv[s].oc, conv[s].k, conv[s].s, conv[s].p, conv[s].g, bad);
    }
    printf("  %zu fc and %zu conv shapes, 8 images each (and 3 images on 3 threads for the convs)\n",
           sizeof fc / sizeof fc[0], sizeof conv / sizeof conv[0]);
}

/* At stride 1 with OW a multiple of 8 the forward pass reads B in the padded image instead
   of im2col's copy (cnnvis__conv_implicit); it is meant to do the product's arithmetic in
   the product's order, so both must give the same bits: with the weights in place (batch
   up to 4) and packed (batch 8), on one thread and with one image split over 3. */
static void test_implicit_bits(void)
{
    static const struct {
        int n, c, h, w, oc, k, p, g;
    } shapes[] = {{1, 3, 32, 32, 32, 5, 2, 1}, {1, 32, 16, 16, 64, 5, 2, 1}, {2, 64, 8, 8, 96, 3, 1, 1},
                  {8, 96, 8, 8, 64, 3, 1, 1},  {1, 6, 12, 14, 9, 3, 2, 3},  {3, 5, 8, 24, 7, 1, 0, 1},
                  {8, 4, 5, 10, 14, 3, 0, 2},  {1, 300, 6, 8, 7, 3, 1, 1},  {1, 2, 1, 4, 4, 5, 4, 2}};
    cnnvis_rng rng;
    size_t s;
    int bad = 0, threads;
    if (!have_fast_kernels()) SKIP("this build or CPU has no AVX2 or NEON kernels: nothing to compare");
    cnnvis__rng_seed(&rng, 8);
    for (s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (threads = 1; threads <= 3; threads += 2) {
            cnnvis_net_desc d;
            cnnvis_net *net;
            cnnvis_layer *L;
            cnnvis_tensor x;
            cnnvis__conv_args a;
            float *implicit;
            size_t i, out;
            cnnvis_net_desc_init(&d, shapes[s].c, shapes[s].h, shapes[s].w);
            cnnvis_net_desc_conv(&d, "conv", shapes[s].oc, shapes[s].k, 1, shapes[s].p, shapes[s].g);
            d.max_batch = shapes[s].n, d.n_threads = threads;
            REQUIRE(cnnvis_net_create(&net, &d) == CNNVIS_OK, "%s", cnnvis_last_error());
            L = &net->layers[0];
            for (i = 0; i < L->n_w; i++) L->w[i] = cnnvis__rng_normal(&rng);
            for (i = 0; i < L->n_b; i++) L->b[i] = cnnvis__rng_normal(&rng);
            cnnvis_tensor_create(&x, shapes[s].n, shapes[s].c, shapes[s].h, shapes[s].w);
            for (i = 0; i < cnnvis_tensor_count(&x); i++) x.data[i] = cnnvis__rng_normal(&rng);
            cnnvis_net_forward(net, &x);
            a = cnnvis__conv_args_of(net, 0);
            CHECK(cnnvis__conv_implicit_applies(&a.g), "shape %zu: the implicit forward does not apply", s);
            out = cnnvis_tensor_count(&L->out);
            implicit = copy_of(L->out.data, out);
            memset(L->out.data, 0, sizeof(float) * out);
            a.im2col_only = 1;
            cnnvis__conv2d_forward_simd(&a, net->kernels);
            if (memcmp(implicit, L->out.data, sizeof(float) * out) != 0) {
                printf("  %dx%dx%dx%d -> %d, %dx%d pad %d groups %d, %d threads: the implicit forward differs from im2col's\n",
                       shapes[s].n, shapes[s].c, shapes[s].h, shapes[s].w, shapes[s].oc, shapes[s].k, shapes[s].k,
                       shapes[s].p, shapes[s].g, threads);
                bad++;
            }
            free(implicit);
            cnnvis_tensor_free(&x);
            cnnvis_net_free(net);
        }
    CHECK(bad == 0, "%d of %zu cases differ", bad, 2 * sizeof shapes / sizeof shapes[0]);
    printf("  %zu shapes on 1 and 3 threads compared bit for bit\n", sizeof shapes / sizeof shapes[0]);
}

/* Max-pooling: the SIMD versions take several windows of a row at once and must give the
   reference's maxima and switches bit for bit, on ties (the first one wins), NaN (C's >
   never takes it, but a window's first value may be one), -inf, and windows clipped by
   padding on every side. */
static void test_maxpool_bits(void)
{
    static const struct {
        int c, h, w, k, s, p;
    } shapes[] = {{32, 32, 32, 3, 2, 1}, {64, 16, 16, 3, 2, 1}, {64, 8, 8, 3, 2, 1}, {3, 13, 13, 3, 2, 0},
                  {2, 27, 27, 3, 2, 0},  {5, 9, 23, 2, 2, 0},   {4, 7, 19, 3, 1, 1}, {3, 5, 40, 5, 1, 2},
                  {2, 6, 37, 4, 2, 2},   {3, 11, 11, 3, 3, 1},  {1, 1, 1, 1, 1, 0},  {2, 3, 70, 9, 2, 4},
                  {1, 4, 64, 1, 2, 0},   {2, 5, 9, 5, 2, 2},    {1, 3, 130, 57, 2, 28}};
    static const float values[6] = {0.0f, 1.0f, -1.0f, 0.5f, -INFINITY, NAN};
    cnnvis_rng rng;
    cnnvis__range_fn fast;
    cnnvis_net_desc d;
    cnnvis_net *net;
    size_t s;
    int bad = 0;
    if (!have_fast_kernels()) SKIP("this build or CPU has no AVX2 or NEON kernels: nothing to compare");
    cnnvis_net_desc_init(&d, 1, 4, 4);
    cnnvis_net_desc_fc(&d, "fc", 2);
    REQUIRE(cnnvis_net_create(&net, &d) == CNNVIS_OK, "%s", cnnvis_last_error());
    fast = cnnvis__maxpool_forward_select(net->kernels);
    cnnvis_net_free(net);
    REQUIRE(fast != cnnvis__maxpool_forward__reference, "no SIMD max-pool with these kernels");
    cnnvis__rng_seed(&rng, 12);
    for (s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int trial;
        for (trial = 0; trial < 3; trial++) {
            cnnvis__maxpool_args a;
            size_t in, out, i;
            float *x, *y_ref, *y_fast;
            int32_t *sw_ref, *sw_fast;
            memset(&a, 0, sizeof a);
            a.c = shapes[s].c, a.ih = shapes[s].h, a.iw = shapes[s].w, a.k = shapes[s].k, a.s = shapes[s].s, a.p = shapes[s].p;
            a.oh = (a.ih + 2 * a.p - a.k) / a.s + 1, a.ow = (a.iw + 2 * a.p - a.k) / a.s + 1;
            in = (size_t)a.c * a.ih * a.iw, out = (size_t)a.c * a.oh * a.ow;
            x = (float *)malloc(sizeof(float) * in);
            y_ref = (float *)malloc(sizeof(float) * out), y_fast = (float *)malloc(sizeof(float) * out);
            sw_ref = (int32_t *)malloc(sizeof(int32_t) * out), sw_fast = (int32_t *)malloc(sizeof(int32_t) * out);
            /* trial 0: distinct values; 1: few values, many ties; 2: ties with -inf and NaN */
            for (i = 0; i < in; i++)
                x[i] = trial == 0 ? cnnvis__rng_normal(&rng) : values[cnnvis__rng_below(&rng, trial == 1 ? 4 : 6)];
            a.x = x, a.y = y_ref, a.switches = sw_ref;
            cnnvis__maxpool_forward__reference(&a, 0, a.c);
            a.y = y_fast, a.switches = sw_fast;
            fast(&a, 0, a.c);
            if (memcmp(y_ref, y_fast, sizeof(float) * out) != 0 || memcmp(sw_ref, sw_fast, sizeof(int32_t) * out) != 0) {
                printf("  %dx%dx%d, %dx%d stride %d pad %d, trial %d: the SIMD pool differs\n", a.c, a.ih, a.iw, a.k, a.k,
                       a.s, a.p, trial);
                bad++;
            }
            free(x), free(y_ref), free(y_fast), free(sw_ref), free(sw_fast);
        }
    }
    CHECK(bad == 0, "%d of %zu cases differ", bad, 3 * sizeof shapes / sizeof shapes[0]);
    printf("  %zu shapes x 3 kinds of data compared bit for bit\n", sizeof shapes / sizeof shapes[0]);
}

/* col2im's row addition: the SIMD versions add lane by lane, the same bits as the loop. */
static void test_add_row(void)
{
    float dst[64], ref[64], src[64];
    cnnvis_rng rng;
    cnnvis__add_row_fn fast;
    int n, off, i, bad = 0;
    cnnvis_net_desc d;
    cnnvis_net *net;
    if (!have_fast_kernels()) SKIP("this build or CPU has no AVX2 or NEON kernels: nothing to compare");
    cnnvis_net_desc_init(&d, 1, 4, 4);
    cnnvis_net_desc_fc(&d, "fc", 2);
    REQUIRE(cnnvis_net_create(&net, &d) == CNNVIS_OK, "%s", cnnvis_last_error());
    fast = cnnvis__add_row_select(net->kernels);
    cnnvis_net_free(net);
    cnnvis__rng_seed(&rng, 6);
    for (n = 0; n <= 40; n++)
        for (off = 0; off < 3; off++) {
            for (i = 0; i < 64; i++) dst[i] = ref[i] = cnnvis__rng_normal(&rng), src[i] = cnnvis__rng_normal(&rng);
            fast(dst + off, src + off, n);
            cnnvis__add_row__reference(ref + off, src + off, n);
            bad += memcmp(dst, ref, sizeof dst) != 0;
        }
    CHECK(bad == 0, "%d of 123 rows differ from the reference", bad);
}

/* A whole net: forward outputs and the gradients of every layer. ReLU and max-pool decide
   by comparisons, so an output a hair from a kink may route the gradient differently; the
   inputs are smooth and the check is on the outputs and the parameter gradients, which
   tolerate a rare switch better than the raw input gradient, and allows at most 1 in 1000
   elements of any tensor to differ more. */
static void test_whole_net(void)
{
    cnnvis_net_desc d;
    cnnvis_net *net;
    cnnvis_tensor x, g;
    cnnvis_rng rng;
    float *ref_out[CNNVIS_MAX_LAYERS], *ref_dw[CNNVIS_MAX_LAYERS];
    int i, q, bad = 0;
    if (!have_fast_kernels()) SKIP("this build or CPU has no AVX2 or NEON kernels: nothing to compare");
    cnnvis_net_desc_preset(&d, "alexnet_mini", 3, 32, 32, 10);
    d.max_batch = 4, d.seed = 9;
    REQUIRE(cnnvis_net_create(&net, &d) == CNNVIS_OK, "%s", cnnvis_last_error());
    cnnvis__rng_seed(&rng, 4);
    cnnvis_tensor_create(&x, 4, 3, 32, 32);
    cnnvis_tensor_create(&g, 4, 10, 1, 1);
    for (i = 0; i < (int)cnnvis_tensor_count(&x); i++) x.data[i] = cnnvis__rng_normal(&rng);
    for (i = 0; i < 40; i++) g.data[i] = cnnvis__rng_normal(&rng);
    for (q = 0; q < 2; q++) {
        cnnvis__net_set_kernels(net, q == 0 ? CNNVIS_KERNELS_REFERENCE : CNNVIS_KERNELS_AUTO);
        cnnvis_net_forward(net, &x);
        cnnvis_net_zero_grad(net);
        cnnvis_net_backward(net, NULL, &g, CNNVIS_RELU_BACKPROP, CNNVIS_BACKWARD_PARAMS);
        for (i = 0; i < net->n_layers; i++) {
            cnnvis_layer *L = &net->layers[i];
            size_t n = cnnvis_tensor_count(&L->out), e, off = 0;
            if (q == 0) {
                ref_out[i] = copy_of(L->out.data, n);
                ref_dw[i] = copy_of(L->dw, L->n_w);
                continue;
            }
            {
                double top = 0;
                for (e = 0; e < n; e++) top = fabs(ref_out[i][e]) > top ? fabs(ref_out[i][e]) : top;
                for (e = 0; e < n; e++) off += fabs((double)L->out.data[e] - ref_out[i][e]) > 1e-5 * top + 1e-7;
                if (off * 1000 > n) bad++, printf("  %s output: %zu of %zu elements differ\n", L->desc.name, off, n);
            }
            if (L->n_w) {
                double top = 0;
                for (e = 0, off = 0; e < L->n_w; e++) top = fabs(ref_dw[i][e]) > top ? fabs(ref_dw[i][e]) : top;
                for (e = 0; e < L->n_w; e++) off += fabs((double)L->dw[e] - ref_dw[i][e]) > 1e-3 * top + 1e-7;
                if (off * 1000 > L->n_w) bad++, printf("  %s weight gradient: %zu of %zu elements differ\n", L->desc.name, off, L->n_w);
            }
            free(ref_out[i]), free(ref_dw[i]);
        }
    }
    CHECK(bad == 0, "%d tensors of alexnet_mini disagree between the kernel sets", bad);
    cnnvis_tensor_free(&x), cnnvis_tensor_free(&g);
    cnnvis_net_free(net);
}

int main(void)
{
    printf("fast kernels here: %s\n", have_fast_kernels() ? "yes" : "no (reference only)");
    RUN(test_conv_shapes);
    RUN(test_conv_random);
    RUN(test_fc_shapes);
    RUN(test_small_batch_bits);
    RUN(test_implicit_bits);
    RUN(test_maxpool_bits);
    RUN(test_add_row);
    RUN(test_whole_net);
    return SUMMARY();
}
