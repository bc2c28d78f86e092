/* test_saliency.c - section 3, "deconvolutional networks", and section 4, "saliency",
   against definitions computed here on their own:
     - the gradient saliency against central differences of the class score S_c;
     - the three ReLU rules on a net small enough to work out by hand, and their agreement
       where a net has no ReLU;
     - unpooling through the recorded switches, the deconvnet projection of a unit against
       cnnvis_net_backward run by hand, the receptive-field crop against the layer's geometry;
     - integrated gradients' completeness, Grad-CAM from the layer's activation and gradient,
       input invariance (Kindermans et al.), occlusion from occluded copies, SmoothGrad,
       Simonyan's map;
     - class models, activation maximisation and DeepDream raise their objectives;
     - t-SNE keeps separated clusters apart, the sanity check's layer re-randomisation;
     - the pictures exist, and bad arguments get a status and a message naming them.
   Images are pixels in [0, 1]; every net here normalises them with a mean and std that are
   not 0 and 1, so that a forgotten chain-rule factor 1/std shows. */
#include <stdlib.h>

#define CNNVIS_IMPLEMENTATION
#include "cnnvis.h"
#include "minitest.h"

/* --- Helpers ---------------------------------------------------------------------------- */

static const float test_mean[3] = {0.4f, 0.5f, 0.6f}, test_std[3] = {0.2f, 0.25f, 0.3f};

static void set_stats(cnnvis_net_desc *d)
{
    int ch;
    for (ch = 0; ch < 3; ch++) d->mean[ch] = test_mean[ch], d->std[ch] = test_std[ch];
}

static void fill_uniform(float *v, size_t n, cnnvis_rng *rng, float lo, float hi)
{
    size_t i;
    for (i = 0; i < n; i++) v[i] = lo + (hi - lo) * cnnvis__rng_uniform(rng);
}

static cnnvis_net *create_net(cnnvis_net_desc *d, int max_batch)
{
    cnnvis_net *net = NULL;
    d->max_batch = max_batch;
    d->n_threads = 2;
    d->seed = 7;
    if (cnnvis_net_create(&net, d) != CNNVIS_OK) printf("  create: %s\n", cnnvis_last_error());
    return net;
}

/* Creation leaves the biases 0; drawn ones put the ReLUs' kinks in different places. */
static void randomize_biases(cnnvis_net *net, cnnvis_rng *rng, float scale)
{
    int i;
    for (i = 0; i < net->n_layers; i++)
        if (net->layers[i].n_b) fill_uniform(net->layers[i].b, net->layers[i].n_b, rng, -scale, scale);
}

static int make_pixels(cnnvis_tensor *p, const cnnvis_net *net, cnnvis_rng *rng, float lo, float hi)
{
    if (cnnvis_tensor_create(p, 1, net->desc.in_c, net->desc.in_h, net->desc.in_w) != CNNVIS_OK) return 0;
    fill_uniform(p->data, cnnvis_tensor_count(p), rng, lo, hi);
    return 1;
}

static float std_of(const cnnvis_net *net, int ch) { return net->desc.std[ch < 3 ? ch : 2]; }
static float mean_of(const cnnvis_net *net, int ch) { return net->desc.mean[ch < 3 ? ch : 2]; }

static double max_abs(const float *v, size_t n)
{
    double m = 0;
    size_t i;
    for (i = 0; i < n; i++) m = fabs(v[i]) > m ? fabs(v[i]) : m;
    return m;
}

static double max_abs_diff(const float *a, const float *b, size_t n)
{
    double m = 0;
    size_t i;
    for (i = 0; i < n; i++) m = fabs((double)a[i] - b[i]) > m ? fabs((double)a[i] - b[i]) : m;
    return m;
}

/* t = v everywhere. */
static void tensor_fill(cnnvis_tensor *t, float v)
{
    size_t i, n = cnnvis_tensor_count(t);
    for (i = 0; i < n; i++) t->data[i] = v;
}

/* conv / ReLU / max-pool / (LRN) / conv / ReLU / (dropout) / fc on 3x8x8 pixels, 4 classes.
   The LRN is strong enough (alpha 0.5, k 1) to bend the gradient, unlike AlexNet's 1e-4. */
static cnnvis_net *mixed_net(int with_lrn, int with_dropout, int max_batch)
{
    cnnvis_net_desc d;
    cnnvis_net *net;
    cnnvis_rng rng;
    cnnvis_net_desc_init(&d, 3, 8, 8);
    set_stats(&d);
    cnnvis_net_desc_conv(&d, "conv1", 4, 3, 1, 1, 1);
    cnnvis_net_desc_relu(&d, "relu1");
    cnnvis_net_desc_maxpool(&d, "pool1", 2, 2, 0);
    if (with_lrn) cnnvis_net_desc_lrn(&d, "lrn1", 3, 0.5f, 0.75f, 1.0f);
    cnnvis_net_desc_conv(&d, "conv2", 6, 3, 1, 1, 1);
    cnnvis_net_desc_relu(&d, "relu2");
    if (with_dropout) cnnvis_net_desc_dropout(&d, "drop", 0.5f);
    cnnvis_net_desc_fc(&d, "fc", 4);
    net = create_net(&d, max_batch);
    if (net) {
        cnnvis__rng_seed(&rng, 3);
        randomize_biases(net, &rng, 0.1f);
    }
    return net;
}

/* Which smooth piece the net is on: every ReLU's on/off bit and every pool switch of image
   0 of the last forward pass (FNV-1a). Where it is the same at x - eps, x and x + eps, the
   central difference (all but surely) spans no kink. */
static uint64_t piece_of(const cnnvis_net *net)
{
    uint64_t h = 1469598103934665603ULL;
    int i;
    size_t q;
    for (i = 0; i < net->n_layers; i++) {
        const cnnvis_layer *L = &net->layers[i];
        size_t n = (size_t)L->out_c * L->out_h * L->out_w;
        if (L->desc.kind == CNNVIS_LAYER_RELU)
            for (q = 0; q < n; q++) h = (h ^ (uint64_t)(L->out.data[q] > 0)) * 1099511628211ULL;
        if (L->desc.kind == CNNVIS_LAYER_MAXPOOL)
            for (q = 0; q < n; q++) h = (h ^ (uint64_t)(uint32_t)L->switches[q]) * 1099511628211ULL;
    }
    return h;
}

/* Bilinear resizing at pixel centres (align_corners false), as cnnvis_resize documents:
   output d samples the input at s = (d + 0.5) * in / out - 0.5, clamped to [0, in - 1]. */
static void bilinear_coordinate(int d, int out, int in, int *lo, int *hi, float *t)
{
    float s = ((float)d + 0.5f) * (float)in / (float)out - 0.5f;
    if (s < 0) s = 0;
    if (s > (float)(in - 1)) s = (float)(in - 1);
    *lo = (int)s;
    *hi = *lo + 1 < in ? *lo + 1 : *lo;
    *t = s - (float)*lo;
}

static void upsample_bilinear(float *dst, int dw, int dh, const float *src, int w, int h)
{
    int x, y, xa, xb, ya, yb;
    float tx, ty;
    for (y = 0; y < dh; y++) {
        bilinear_coordinate(y, dh, h, &ya, &yb, &ty);
        for (x = 0; x < dw; x++) {
            float top, bottom;
            bilinear_coordinate(x, dw, w, &xa, &xb, &tx);
            top = src[ya * w + xa] * (1 - tx) + src[ya * w + xb] * tx;
            bottom = src[yb * w + xa] * (1 - tx) + src[yb * w + xb] * tx;
            dst[y * dw + x] = top * (1 - ty) + bottom * ty;
        }
    }
}

static int ident_char(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'; }

/* `word` as a word of the message: "n" must not be found inside "cnnvis_tsne". */
static int has_word(const char *text, const char *word)
{
    size_t n = strlen(word);
    const char *p = text;
    while ((p = strstr(p, word)) != NULL) {
        if ((p == text || !ident_char(p[-1])) && !ident_char(p[n])) return 1;
        p++;
    }
    return 0;
}

/* Does the message name the argument: one of the words in names ("out|output")? */
static int names_argument(const char *msg, const char *names)
{
    char word[64];
    while (*names) {
        size_t n = strcspn(names, "|");
        snprintf(word, sizeof word, "%.*s", (int)n, names);
        if (has_word(msg, word)) return 1;
        names += n + (names[n] == '|');
    }
    return 0;
}

/* A call that must fail with CNNVIS_ERR_ARG and a message naming the argument. */
static void expect_arg_error(cnnvis_result r, const char *call, const char *names)
{
    const char *msg = cnnvis_last_error();
    CHECK(r == CNNVIS_ERR_ARG, "%s returned %s (%s)", call, cnnvis_result_str(r), msg);
    CHECK(r == CNNVIS_OK || names_argument(msg, names), "%s: the message \"%s\" does not name %s", call, msg, names);
    cnnvis_clear_error();
}

/* --- 4a The gradient against central differences ------------------------------------------- */

/* dS_c/dp for every pixel and class, against (S_c(p + eps) - S_c(p - eps)) / 2 eps from
   cnnvis_net_predict. Where the central difference straddles a ReLU kink or a switch change
   it measures another piece, so those pixels are only counted; on the others (found by the
   piece signature) the two must agree. The net is left in training mode with a dropout
   layer: the saliency must switch dropout off (a dropped unit would show as a mismatch). */
static void test_gradient_finite_differences(void)
{
    const float eps = 1e-2f;
    cnnvis_net *net = mixed_net(1, 1, 4);
    cnnvis_tensor p, probe, g[4];
    cnnvis_rng rng;
    float sp[4], sm[4];
    int cls, stable = 0, agree = 0, bad_stable = 0, trivial = 0, n_checks = 0;
    size_t q, count;
    uint64_t base_piece;
    REQUIRE(net, "net");
    cnnvis__rng_seed(&rng, 21);
    REQUIRE(make_pixels(&p, net, &rng, 0.1f, 0.9f) && make_pixels(&probe, net, &rng, 0, 1), "pixels");
    count = cnnvis_tensor_count(&p);
    net->training = 1;
    for (cls = 0; cls < 4; cls++) {
        REQUIRE(cnnvis_saliency(&g[cls], net, &p, cls, CNNVIS_SALIENCY_GRADIENT, NULL) == CNNVIS_OK, "%s", cnnvis_last_error());
        CHECK(g[cls].n == 1 && g[cls].c == 3 && g[cls].h == 8 && g[cls].w == 8, "shape (%d, %d, %d, %d)", g[cls].n, g[cls].c,
              g[cls].h, g[cls].w);
        trivial += max_abs(g[cls].data, count) < 1e-3;
    }
    CHECK(net->training == 1, "cnnvis_saliency did not give the training mode back");
    CHECK(trivial == 0, "%d classes have a gradient below 1e-3 everywhere: the test would prove nothing", trivial);
    REQUIRE(cnnvis_net_predict(NULL, NULL, NULL, net, &p) == CNNVIS_OK, "%s", cnnvis_last_error());
    base_piece = piece_of(net);
    for (q = 0; q < count; q++) {
        double step;
        int same;
        memcpy(probe.data, p.data, sizeof(float) * count);
        probe.data[q] = p.data[q] + eps;
        step = probe.data[q];
        REQUIRE(cnnvis_net_predict(sp, NULL, NULL, net, &probe) == CNNVIS_OK, "%s", cnnvis_last_error());
        same = piece_of(net) == base_piece;
        probe.data[q] = p.data[q] - eps;
        step -= probe.data[q]; /* the step the floats really took */
        REQUIRE(cnnvis_net_predict(sm, NULL, NULL, net, &probe) == CNNVIS_OK, "%s", cnnvis_last_error());
        same = same && piece_of(net) == base_piece;
        stable += same;
        for (cls = 0; cls < 4; cls++) {
            double fd = ((double)sp[cls] - sm[cls]) / step, an = g[cls].data[q];
            double tol = 2e-3 * max_abs(g[cls].data, count) + 1e-2 * fabs(an);
            int ok = fabs(fd - an) <= tol;
            n_checks++;
            agree += ok;
            if (same && !ok && bad_stable++ < 5)
                printf("  pixel %d class %d: gradient %.6g, central difference %.6g\n", (int)q, cls, an, fd);
        }
    }
    CHECK(stable >= (int)count / 2, "only %d of %d pixels have no kink within eps: too few to test", stable, (int)count);
    CHECK(bad_stable == 0, "%d (pixel, class) pairs without a kink disagree with the central difference", bad_stable);
    CHECK(agree >= n_checks * 9 / 10, "%d of %d (pixel, class) pairs agree, even counting kinks 90%% should", agree, n_checks);
    for (cls = 0; cls < 4; cls++) cnnvis_tensor_free(&g[cls]);
    cnnvis_tensor_free(&p), cnnvis_tensor_free(&probe);
    cnnvis_net_free(net);
}

/* --- 4a The three ReLU rules ------------------------------------------------------------------ */

/* pixels (0.9, 0.8, 0.1, 0.2) with mean 0.5 and std 0.5: x = (0.8, 0.6, -0.8, -0.6);
   fc1 = diag(2, 1, 3, 0.5), so the ReLU's input is h = (1.6, 0.6, -2.4, -0.3): units 0 and
   1 on, 2 and 3 off; fc2's row c is the signal R that class c sends down to the ReLU.
     gradient   W1^T (R * 1(h > 0))              / std
     deconvnet  W1^T max(R, 0)                   / std
     guided     W1^T (R * 1(h > 0) * 1(R > 0))   / std                                    */
static void test_relu_rules_by_hand(void)
{
    static const float w1_diag[4] = {2, 1, 3, 0.5f};
    static const float w2[2][4] = {{1, -2, 3, -4}, {-1, 1, -1, 1}};
    static const float px[4] = {0.9f, 0.8f, 0.1f, 0.2f};
    static const float want[2][3][4] = {
        /* class 0, R = (1, -2, 3, -4): on-units pass (1, -2); positive R is (1, 0, 3, 0) */
        {{4, -4, 0, 0}, {4, 0, 18, 0}, {4, 0, 0, 0}},
        /* class 1, R = (-1, 1, -1, 1): on-units pass (-1, 1); positive R is (0, 1, 0, 1) */
        {{-4, 2, 0, 0}, {0, 2, 0, 1}, {0, 2, 0, 0}}};
    static const float want_scores[2] = {0.4f, -1.0f}; /* R . relu(h) */
    static const cnnvis_saliency_method methods[3] = {CNNVIS_SALIENCY_GRADIENT, CNNVIS_SALIENCY_DECONVNET,
                                                      CNNVIS_SALIENCY_GUIDED};
    cnnvis_net_desc d;
    cnnvis_net *net;
    cnnvis_tensor p, a;
    float scores[2];
    int cls, m, i;
    cnnvis_net_desc_init(&d, 1, 1, 4);
    d.mean[0] = 0.5f, d.std[0] = 0.5f;
    cnnvis_net_desc_fc(&d, "fc1", 4);
    cnnvis_net_desc_relu(&d, "relu");
    cnnvis_net_desc_fc(&d, "fc2", 2);
    net = create_net(&d, 2);
    REQUIRE(net, "net");
    memset(net->layers[0].w, 0, sizeof(float) * 16);
    for (i = 0; i < 4; i++) net->layers[0].w[i * 4 + i] = w1_diag[i];
    memset(net->layers[0].b, 0, sizeof(float) * 4);
    memcpy(net->layers[2].w, w2, sizeof w2);
    memset(net->layers[2].b, 0, sizeof(float) * 2);
    REQUIRE(cnnvis_tensor_create(&p, 1, 1, 1, 4) == CNNVIS_OK, "tensor");
    memcpy(p.data, px, sizeof px);
    REQUIRE(cnnvis_net_predict(scores, NULL, NULL, net, &p) == CNNVIS_OK, "%s", cnnvis_last_error());
    CHECK(fabsf(scores[0] - want_scores[0]) < 1e-6f && fabsf(scores[1] - want_scores[1]) < 1e-6f,
          "scores (%g, %g), by hand (0.4, -1): the net is not the one worked out above", scores[0], scores[1]);
    for (cls = 0; cls < 2; cls++)
        for (m = 0; m < 3; m++) {
            REQUIRE(cnnvis_saliency(&a, net, &p, cls, methods[m], NULL) == CNNVIS_OK, "%s", cnnvis_last_error());
            CHECK(max_abs_diff(a.data, want[cls][m], 4) < 1e-6, "class %d, %s: (%g, %g, %g, %g), by hand (%g, %g, %g, %g)", cls,
                  cnnvis_saliency_name(methods[m]), a.data[0], a.data[1], a.data[2], a.data[3], want[cls][m][0],
                  want[cls][m][1], want[cls][m][2], want[cls][m][3]);
            cnnvis_tensor_free(&a);
        }
    /* grad*input: the pixels times the gradient, (0.9 * 4, 0.8 * -4, 0, 0) for class 0 */
    REQUIRE(cnnvis_saliency(&a, net, &p, 0, CNNVIS_SALIENCY_GRAD_X_INPUT, NULL) == CNNVIS_OK, "%s", cnnvis_last_error());
    {
        static const float gxi[4] = {3.6f, -3.2f, 0, 0};
        CHECK(max_abs_diff(a.data, gxi, 4) < 1e-5, "grad*input (%g, %g, %g, %g), by hand (3.6, -3.2, 0, 0)", a.data[0], a.data[1],
              a.data[2], a.data[3]);
    }
    cnnvis_tensor_free(&a);
    cnnvis_tensor_free(&p);
    cnnvis_net_free(net);
}

/* Without ReLUs and pooling, the net is linear: the three rules are the same pass, and the
   gradient is exact as a central difference of any size. With an LRN (and still no ReLU),
   guided is still the gradient, while the deconvnet passes LRN through unchanged: it is
   the gradient of the same net with the LRN taken out. */
static void test_rules_agree_without_relu(void)
{
    cnnvis_net_desc d, dl;
    cnnvis_net *net, *lrn, *plain;
    cnnvis_tensor p, probe, a[3];
    cnnvis_rng rng;
    int cls, m, same = 1, nonzero = 1, i;
    size_t count, q;
    double fd_err = 0, scale = 0;
    cnnvis_net_desc_init(&d, 3, 6, 6);
    set_stats(&d);
    cnnvis_net_desc_conv(&d, "conv1", 4, 3, 1, 1, 1);
    cnnvis_net_desc_conv(&d, "conv2", 3, 3, 2, 1, 1);
    cnnvis_net_desc_fc(&d, "fc", 3);
    net = create_net(&d, 2);
    REQUIRE(net, "net");
    cnnvis__rng_seed(&rng, 5);
    randomize_biases(net, &rng, 0.2f);
    REQUIRE(make_pixels(&p, net, &rng, 0, 1) && make_pixels(&probe, net, &rng, 0, 1), "pixels");
    count = cnnvis_tensor_count(&p);
    for (cls = 0; cls < 3; cls++) {
        for (m = 0; m < 3; m++)
            REQUIRE(cnnvis_saliency(&a[m], net, &p, cls, (cnnvis_saliency_method)m, NULL) == CNNVIS_OK, "%s",
                    cnnvis_last_error());
        same &= memcmp(a[0].data, a[1].data, sizeof(float) * count) == 0 &&
                memcmp(a[0].data, a[2].data, sizeof(float) * count) == 0;
        nonzero &= max_abs(a[0].data, count) > 1e-3;
        scale = max_abs(a[0].data, count) > scale ? max_abs(a[0].data, count) : scale;
        for (q = 0; q < count; q += 7) {
            float sp[3], sm[3];
            double step;
            memcpy(probe.data, p.data, sizeof(float) * count);
            probe.data[q] += 0.25f;
            step = probe.data[q];
            REQUIRE(cnnvis_net_predict(sp, NULL, NULL, net, &probe) == CNNVIS_OK, "%s", cnnvis_last_error());
            probe.data[q] -= 0.5f;
            step -= probe.data[q];
            REQUIRE(cnnvis_net_predict(sm, NULL, NULL, net, &probe) == CNNVIS_OK, "%s", cnnvis_last_error());
            step = fabs(((double)sp[cls] - sm[cls]) / step - a[0].data[q]);
            fd_err = step > fd_err ? step : fd_err;
        }
        for (m = 0; m < 3; m++) cnnvis_tensor_free(&a[m]);
    }
    CHECK(same, "gradient, deconvnet and guided differ on a net without ReLU");
    CHECK(nonzero, "a class has a zero gradient");
    CHECK(fd_err <= 1e-4 * scale, "the linear net's gradient is %g from its central difference (largest gradient %g)", fd_err,
          scale);

    /* the same weights with an LRN between the convolutions, and without it */
    cnnvis_net_desc_init(&dl, 3, 6, 6);
    set_stats(&dl);
    cnnvis_net_desc_conv(&dl, "conv1", 4, 3, 1, 1, 1);
    cnnvis_net_desc_lrn(&dl, "lrn", 3, 0.5f, 0.75f, 1.0f);
    cnnvis_net_desc_conv(&dl, "conv2", 3, 3, 2, 1, 1);
    cnnvis_net_desc_fc(&dl, "fc", 3);
    lrn = create_net(&dl, 2);
    plain = create_net(&d, 2);
    REQUIRE(lrn && plain, "nets");
    for (i = 0; i < 3; i++) {
        const cnnvis_layer *src = &net->layers[i];
        cnnvis_layer *dst = &lrn->layers[i == 0 ? 0 : i + 1];
        memcpy(dst->w, src->w, sizeof(float) * src->n_w), memcpy(dst->b, src->b, sizeof(float) * src->n_b);
        memcpy(plain->layers[i].w, src->w, sizeof(float) * src->n_w), memcpy(plain->layers[i].b, src->b, sizeof(float) * src->n_b);
    }
    for (m = 0; m < 3; m++)
        REQUIRE(cnnvis_saliency(&a[m], lrn, &p, 1, (cnnvis_saliency_method)m, NULL) == CNNVIS_OK, "%s", cnnvis_last_error());
    CHECK(memcmp(a[0].data, a[2].data, sizeof(float) * count) == 0, "with an LRN and no ReLU, guided differs from the gradient");
    CHECK(max_abs_diff(a[0].data, a[1].data, count) > 1e-3 * max_abs(a[0].data, count),
          "the deconvnet equals the gradient through a strong LRN: is the LRN passed through?");
    {
        cnnvis_tensor without;
        REQUIRE(cnnvis_saliency(&without, plain, &p, 1, CNNVIS_SALIENCY_GRADIENT, NULL) == CNNVIS_OK, "%s", cnnvis_last_error());
        CHECK(max_abs_diff(a[1].data, without.data, count) <= 1e-5 * max_abs(without.data, count),
              "the deconvnet through the LRN is %g from the gradient of the net without it",
              max_abs_diff(a[1].data, without.data, count));
        cnnvis_tensor_free(&without);
    }
    for (m = 0; m < 3; m++) cnnvis_tensor_free(&a[m]);
    cnnvis_tensor_free(&p), cnnvis_tensor_free(&probe);
    cnnvis_net_free(net), cnnvis_net_free(lrn), cnnvis_net_free(plain);
}

/* mixed_net(1, 0, 8) built with 1 and with 3 threads: the same maps, bit for bit (the
   header's promise), SmoothGrad's and integrated gradients' batches included. */
static void test_threads_identical(void)
{
    static const cnnvis_saliency_method methods[4] = {CNNVIS_SALIENCY_GRADIENT, CNNVIS_SALIENCY_GUIDED,
                                                      CNNVIS_SALIENCY_SMOOTHGRAD, CNNVIS_SALIENCY_INTEGRATED};
    cnnvis_net *net[2];
    cnnvis_tensor p, a[2];
    cnnvis_saliency_desc sd;
    cnnvis_rng rng;
    int t, m, differ = 0;
    for (t = 0; t < 2; t++) {
        cnnvis_net_desc d;
        cnnvis_rng brng;
        cnnvis_net_desc_init(&d, 3, 8, 8);
        set_stats(&d);
        cnnvis_net_desc_conv(&d, "conv1", 4, 3, 1, 1, 1);
        cnnvis_net_desc_relu(&d, "relu1");
        cnnvis_net_desc_maxpool(&d, "pool1", 2, 2, 0);
        cnnvis_net_desc_lrn(&d, "lrn1", 3, 0.5f, 0.75f, 1.0f);
        cnnvis_net_desc_conv(&d, "conv2", 6, 3, 1, 1, 1);
        cnnvis_net_desc_relu(&d, "relu2");
        cnnvis_net_desc_fc(&d, "fc", 4);
        d.max_batch = 8, d.n_threads = t ? 3 : 1, d.seed = 7;
        REQUIRE(cnnvis_net_create(&net[t], &d) == CNNVIS_OK, "%s", cnnvis_last_error());
        cnnvis__rng_seed(&brng, 3);
        randomize_biases(net[t], &brng, 0.1f);
    }
    cnnvis__rng_seed(&rng, 20);
    REQUIRE(make_pixels(&p, net[0], &rng, 0, 1), "pixels");
    memset(&sd, 0, sizeof sd);
    sd.smooth_n = 10, sd.ig_steps = 20;
    for (m = 0; m < 4; m++) {
        for (t = 0; t < 2; t++)
            REQUIRE(cnnvis_saliency(&a[t], net[t], &p, 1, methods[m], &sd) == CNNVIS_OK, "%s", cnnvis_last_error());
        differ += memcmp(a[0].data, a[1].data, sizeof(float) * cnnvis_tensor_count(&p)) != 0;
        cnnvis_tensor_free(&a[0]), cnnvis_tensor_free(&a[1]);
    }
    for (t = 0; t < 2; t++)
        REQUIRE(cnnvis_deconv_project(&a[t], NULL, NULL, net[t], &p, "relu2", 3, CNNVIS_PROJECT_MAP) == CNNVIS_OK, "%s",
                cnnvis_last_error());
    differ += memcmp(a[0].data, a[1].data, sizeof(float) * cnnvis_tensor_count(&p)) != 0;
    cnnvis_tensor_free(&a[0]), cnnvis_tensor_free(&a[1]);
    CHECK(differ == 0, "%d of 5 maps differ between 1 and 3 threads", differ);
    cnnvis_tensor_free(&p);
    cnnvis_net_free(net[0]), cnnvis_net_free(net[1]);
}

/* --- 3 Unpooling, projections, receptive fields --------------------------------------------- */

/* Max-pooling right above the pixels: a signal projected down lands exactly at each output's
   switch (divided by the channel's std), summed where overlapping windows chose the same
   pixel, and nowhere else. The switches themselves are checked against each window's
   argmax (first in row-major order) found here from the pixels. */
static void test_unpooling_switches(void)
{
    static const int kernels[2] = {2, 3}, strides[2] = {2, 2}, pads[2] = {0, 1}, sides[2] = {6, 7};
    static const cnnvis_relu_rule rules[3] = {CNNVIS_RELU_DECONVNET, CNNVIS_RELU_BACKPROP, CNNVIS_RELU_GUIDED};
    int cfg;
    for (cfg = 0; cfg < 2; cfg++) {
        const int K = kernels[cfg], S = strides[cfg], P = pads[cfg], side = sides[cfg];
        cnnvis_net_desc d;
        cnnvis_net *net;
        cnnvis_tensor p, signal, out, want;
        cnnvis_rng rng;
        const cnnvis_layer *L;
        int ch, oy, ox, iy, ix, r, bad_switch = 0, by = -2, bx = -2;
        size_t plane, oplane, o;
        cnnvis_net_desc_init(&d, 2, side, side);
        d.mean[0] = 0.3f, d.mean[1] = 0.6f, d.std[0] = 0.5f, d.std[1] = 2.0f;
        cnnvis_net_desc_maxpool(&d, "pool", K, S, P);
        cnnvis_net_desc_fc(&d, "fc", 3);
        net = create_net(&d, 2);
        REQUIRE(net, "net");
        L = &net->layers[0];
        plane = (size_t)side * side, oplane = (size_t)L->out_h * L->out_w;
        cnnvis__rng_seed(&rng, 40 + cfg);
        REQUIRE(make_pixels(&p, net, &rng, 0, 1), "pixels");
        REQUIRE(cnnvis_tensor_create(&signal, 1, 2, L->out_h, L->out_w) == CNNVIS_OK, "tensor");
        REQUIRE(cnnvis_tensor_create(&want, 1, 2, side, side) == CNNVIS_OK, "tensor");
        fill_uniform(signal.data, cnnvis_tensor_count(&signal), &rng, -1, 1);
        REQUIRE(cnnvis_net_predict(NULL, NULL, NULL, net, &p) == CNNVIS_OK, "%s", cnnvis_last_error());
        for (ch = 0; ch < 2; ch++)
            for (oy = 0; oy < L->out_h; oy++)
                for (ox = 0; ox < L->out_w; ox++) {
                    int best = -1;
                    for (iy = oy * S - P; iy < oy * S - P + K; iy++)
                        for (ix = ox * S - P; ix < ox * S - P + K; ix++)
                            if (iy >= 0 && iy < side && ix >= 0 && ix < side &&
                                (best < 0 || p.data[ch * plane + (size_t)iy * side + ix] > p.data[ch * plane + best]))
                                best = iy * side + ix;
                    o = ch * oplane + (size_t)oy * L->out_w + ox;
                    bad_switch += L->switches[o] != best;
                    want.data[ch * plane + (size_t)L->switches[o]] += signal.data[o] / std_of(net, ch);
                }
        CHECK(bad_switch == 0, "%dx%d/%d pad %d: %d switches are not their window's argmax", K, K, S, P, bad_switch);
        for (r = 0; r < 3; r++) {
            REQUIRE(cnnvis__project_signal(&out, net, 0, &signal, rules[r]) == CNNVIS_OK, "%s", cnnvis_last_error());
            CHECK(out.n == 1 && out.c == 2 && out.h == side && out.w == side, "projection (%d, %d, %d, %d)", out.n, out.c, out.h,
                  out.w);
            CHECK(max_abs_diff(out.data, want.data, 2 * plane) <= 1e-6,
                  "%dx%d/%d pad %d, rule %d: the projection is %g from the signal placed at the switches", K, K, S, P,
                  (int)rules[r], max_abs_diff(out.data, want.data, 2 * plane));
            cnnvis_tensor_free(&out);
        }

        /* the deconvnet projection of channel 1's strongest pooled value: one pixel */
        memset(want.data, 0, sizeof(float) * 2 * plane);
        {
            const float *pooled = L->out.data + oplane;
            size_t best = 0;
            for (o = 1; o < oplane; o++)
                if (pooled[o] > pooled[best]) best = o;
            want.data[plane + (size_t)L->switches[oplane + best]] = pooled[best] / std_of(net, 1);
            REQUIRE(cnnvis_deconv_project(&out, &by, &bx, net, &p, "pool", 1, CNNVIS_PROJECT_UNIT_MAX) == CNNVIS_OK, "%s",
                    cnnvis_last_error());
            CHECK(by == (int)(best / L->out_w) && bx == (int)(best % L->out_w), "kept (%d, %d), the strongest is at (%d, %d)", by,
                  bx, (int)(best / L->out_w), (int)(best % L->out_w));
            CHECK(max_abs_diff(out.data, want.data, 2 * plane) <= 1e-6, "the unit's projection is not one pixel at its switch");
            cnnvis_tensor_free(&out);
        }
        /* a constant image: every pooled value ties, and the first position is kept */
        tensor_fill(&p, 0.7f);
        REQUIRE(cnnvis_deconv_project(&out, &by, &bx, net, &p, "pool", 0, CNNVIS_PROJECT_UNIT_MAX) == CNNVIS_OK, "%s",
                cnnvis_last_error());
        CHECK(by == 0 && bx == 0, "with every value tied, (%d, %d) was kept instead of the first, (0, 0)", by, bx);
        cnnvis_tensor_free(&out);
        cnnvis_tensor_free(&p), cnnvis_tensor_free(&signal), cnnvis_tensor_free(&want);
        cnnvis_net_free(net);
    }
}

/* 3x10x10: conv1 3x3 pad 1, relu1, pool1 2x2, conv2 3x3 pad 1, relu2, fc. The receptive
   fields worked out by hand: conv1 3 / 1 / -1, pool1 4 / 2 / -1, conv2 and relu2 8 / 2 / -3. */
static cnnvis_net *deconv_net(void)
{
    cnnvis_net_desc d;
    cnnvis_net *net;
    cnnvis_rng rng;
    cnnvis_net_desc_init(&d, 3, 10, 10);
    set_stats(&d);
    cnnvis_net_desc_conv(&d, "conv1", 4, 3, 1, 1, 1);
    cnnvis_net_desc_relu(&d, "relu1");
    cnnvis_net_desc_maxpool(&d, "pool1", 2, 2, 0);
    cnnvis_net_desc_conv(&d, "conv2", 5, 3, 1, 1, 1);
    cnnvis_net_desc_relu(&d, "relu2");
    cnnvis_net_desc_fc(&d, "fc", 3);
    net = create_net(&d, 4);
    if (net) {
        cnnvis__rng_seed(&rng, 8);
        randomize_biases(net, &rng, 0.1f);
    }
    return net;
}

/* The deconvnet run by hand: forward the normalised pixels, put `signal` (the layer's shape)
   at layer li, cnnvis_net_backward with the deconvnet rule, divide by std per channel. */
static int deconv_by_hand(float *dst, cnnvis_net *net, const cnnvis_tensor *pixels, int li, const cnnvis_tensor *signal)
{
    cnnvis_tensor x;
    int ch;
    size_t plane = (size_t)net->desc.in_h * net->desc.in_w, q;
    if (cnnvis_tensor_create(&x, 1, pixels->c, pixels->h, pixels->w) != CNNVIS_OK) return 0;
    if (cnnvis_net_normalize(&x, net, pixels) != CNNVIS_OK || cnnvis_net_forward(net, &x) != CNNVIS_OK ||
        cnnvis_net_backward(net, net->layers[li].desc.name, signal, CNNVIS_RELU_DECONVNET, 0) != CNNVIS_OK) {
        printf("  by hand: %s\n", cnnvis_last_error());
        cnnvis_tensor_free(&x);
        return 0;
    }
    for (ch = 0; ch < pixels->c; ch++)
        for (q = 0; q < plane; q++) dst[ch * plane + q] = net->dinput.data[ch * plane + q] / std_of(net, ch);
    cnnvis_tensor_free(&x);
    return 1;
}

/* UNIT_MAX keeps each unit's strongest activation (its first argmax) and projects exactly
   what the deconvnet by hand projects from that one-hot signal; the projection stays inside
   the unit's receptive field. MAP projects the whole map. */
static void test_deconv_project(void)
{
    static const char *layers[2] = {"relu2", "conv2"};
    cnnvis_net *net = deconv_net();
    cnnvis_tensor p, out, signal;
    cnnvis_rng rng;
    float *want = NULL;
    int l, u, y, x, projected = 0;
    size_t count;
    REQUIRE(net, "net");
    cnnvis__rng_seed(&rng, 12);
    REQUIRE(make_pixels(&p, net, &rng, 0, 1), "pixels");
    count = cnnvis_tensor_count(&p);
    want = (float *)malloc(sizeof(float) * count);
    REQUIRE(want, "out of memory");
    for (l = 0; l < 2; l++) {
        int li = cnnvis_net_find(net, layers[l]);
        const cnnvis_layer *L = &net->layers[li];
        size_t plane = (size_t)L->out_h * L->out_w, q, best;
        REQUIRE(li >= 0, "layer %s", layers[l]);
        REQUIRE(cnnvis_tensor_create(&signal, 1, L->out_c, L->out_h, L->out_w) == CNNVIS_OK, "tensor");
        for (u = 0; u < L->out_c; u++) {
            float *map = (float *)malloc(sizeof(float) * plane);
            int inside = 1, ch, iy, ix;
            REQUIRE(map, "out of memory");
            REQUIRE(cnnvis_net_predict(NULL, NULL, NULL, net, &p) == CNNVIS_OK, "%s", cnnvis_last_error());
            memcpy(map, L->out.data + u * plane, sizeof(float) * plane);
            for (best = 0, q = 1; q < plane; q++)
                if (map[q] > map[best]) best = q;

            REQUIRE(cnnvis_deconv_project(&out, &y, &x, net, &p, layers[l], u, CNNVIS_PROJECT_UNIT_MAX) == CNNVIS_OK, "%s",
                    cnnvis_last_error());
            CHECK(y == (int)(best / L->out_w) && x == (int)(best % L->out_w), "%s unit %d: kept (%d, %d), the argmax is (%d, %d)",
                  layers[l], u, y, x, (int)(best / L->out_w), (int)(best % L->out_w));
            tensor_fill(&signal, 0);
            signal.data[u * plane + best] = map[best];
            REQUIRE(deconv_by_hand(want, net, &p, li, &signal), "by hand");
            CHECK(max_abs_diff(out.data, want, count) <= 1e-6 * (1 + max_abs(want, count)),
                  "%s unit %d: the projection is %g from the deconvnet run by hand", layers[l], u,
                  max_abs_diff(out.data, want, count));
            projected += max_abs(want, count) > 1e-4;
            for (ch = 0; ch < 3; ch++)
                for (iy = 0; iy < 10; iy++)
                    for (ix = 0; ix < 10; ix++) {
                        int top = L->rf_offset + y * L->rf_stride, left = L->rf_offset + x * L->rf_stride;
                        int in = iy >= top && iy < top + L->rf_size && ix >= left && ix < left + L->rf_size;
                        if (!in && out.data[((size_t)ch * 10 + iy) * 10 + ix] != 0) inside = 0;
                    }
            CHECK(inside, "%s unit %d: the projection reaches outside the unit's receptive field", layers[l], u);
            cnnvis_tensor_free(&out);

            REQUIRE(cnnvis_deconv_project(&out, &y, &x, net, &p, layers[l], u, CNNVIS_PROJECT_MAP) == CNNVIS_OK, "%s",
                    cnnvis_last_error());
            CHECK(y == -1 && x == -1, "MAP reported (%d, %d), expected (-1, -1)", y, x);
            tensor_fill(&signal, 0);
            memcpy(signal.data + u * plane, map, sizeof(float) * plane);
            REQUIRE(deconv_by_hand(want, net, &p, li, &signal), "by hand");
            CHECK(max_abs_diff(out.data, want, count) <= 1e-6 * (1 + max_abs(want, count)),
                  "%s unit %d, MAP: the projection is %g from the deconvnet run by hand", layers[l], u,
                  max_abs_diff(out.data, want, count));
            cnnvis_tensor_free(&out);
            free(map);
        }
        cnnvis_tensor_free(&signal);
    }
    CHECK(projected >= 3, "only %d projections are not zero: the test would prove little", projected);
    free(want);
    cnnvis_tensor_free(&p);
    cnnvis_net_free(net);
}

/* The crop is the layer's receptive field of (y, x) cut from the map, zero where the field
   hangs over the border: checked against the geometry worked out by hand and against the
   layer's own rf fields. */
static void test_rf_crop(void)
{
    static const struct {
        const char *layer;
        int size, stride, offset;
    } geometry[] = {{"conv1", 3, 1, -1}, {"pool1", 4, 2, -1}, {"conv2", 8, 2, -3}, {"relu2", 8, 2, -3}, {"fc", 10, 1, 0}};
    static const int positions[3][2] = {{0, 0}, {2, 3}, {4, 4}};
    cnnvis_net *net = deconv_net();
    cnnvis_tensor map, crop;
    cnnvis_rng rng;
    int g, k, ch, i, j;
    REQUIRE(net, "net");
    REQUIRE(cnnvis_tensor_create(&map, 1, 3, 10, 10) == CNNVIS_OK, "tensor");
    cnnvis__rng_seed(&rng, 13);
    fill_uniform(map.data, cnnvis_tensor_count(&map), &rng, 0.5f, 1.5f); /* never 0, so a zero means "outside" */
    for (g = 0; g < (int)(sizeof geometry / sizeof geometry[0]); g++) {
        int li = cnnvis_net_find(net, geometry[g].layer);
        const cnnvis_layer *L;
        REQUIRE(li >= 0, "layer %s", geometry[g].layer);
        L = &net->layers[li];
        CHECK(L->rf_size == geometry[g].size && L->rf_stride == geometry[g].stride && L->rf_offset == geometry[g].offset,
              "%s: field %d / %d / %d, by hand %d / %d / %d", geometry[g].layer, L->rf_size, L->rf_stride, L->rf_offset,
              geometry[g].size, geometry[g].stride, geometry[g].offset);
        for (k = 0; k < 3; k++) {
            int y = positions[k][0], x = positions[k][1], bad = 0, top, left;
            if (y >= L->out_h || x >= L->out_w) continue;
            REQUIRE(cnnvis_rf_crop(&crop, net, geometry[g].layer, &map, y, x) == CNNVIS_OK, "%s", cnnvis_last_error());
            CHECK(crop.n == 1 && crop.c == 3 && crop.h == geometry[g].size && crop.w == geometry[g].size,
                  "%s (%d, %d): crop (%d, %d, %d, %d)", geometry[g].layer, y, x, crop.n, crop.c, crop.h, crop.w);
            top = geometry[g].offset + y * geometry[g].stride, left = geometry[g].offset + x * geometry[g].stride;
            for (ch = 0; ch < 3 && crop.h == geometry[g].size; ch++)
                for (i = 0; i < crop.h; i++)
                    for (j = 0; j < crop.w; j++) {
                        int sy = top + i, sx = left + j;
                        float v = sy >= 0 && sy < 10 && sx >= 0 && sx < 10 ? map.data[((size_t)ch * 10 + sy) * 10 + sx] : 0.0f;
                        bad += crop.data[((size_t)ch * crop.h + i) * crop.w + j] != v;
                    }
            CHECK(bad == 0, "%s (%d, %d): %d values of the crop are not the field's", geometry[g].layer, y, x, bad);
            cnnvis_tensor_free(&crop);
        }
    }
    cnnvis_tensor_free(&map);
    cnnvis_net_free(net);
}

/* --- 4a Attribution methods -------------------------------------------------------------- */

/* Completeness (Sundararajan et al.): the attributions add up to S_c(x) - S_c(baseline),
   within 1% with 200 midpoint steps, from black and from another image; steps above
   max_batch (16) run in several batches. delta is S_c(x) - S_c(b) by cnnvis_net_predict. */
static void test_integrated_gradients(void)
{
    cnnvis_net *net = mixed_net(1, 0, 16);
    cnnvis_tensor p, b, black, out, via;
    cnnvis_rng rng;
    int base, cls;
    size_t count, q;
    REQUIRE(net, "net");
    cnnvis__rng_seed(&rng, 30);
    REQUIRE(make_pixels(&p, net, &rng, 0, 1) && make_pixels(&b, net, &rng, 0.3f, 0.7f), "pixels");
    REQUIRE(cnnvis_tensor_create(&black, 1, 3, 8, 8) == CNNVIS_OK, "tensor");
    count = cnnvis_tensor_count(&p);
    for (base = 0; base < 2; base++) {
        const cnnvis_tensor *baseline = base ? &b : NULL;
        float sx[4], sb[4];
        double best = -1, sum, delta, total = 0;
        int pick = 0;
        REQUIRE(cnnvis_net_predict(sx, NULL, NULL, net, &p) == CNNVIS_OK, "%s", cnnvis_last_error());
        REQUIRE(cnnvis_net_predict(sb, NULL, NULL, net, base ? &b : &black) == CNNVIS_OK, "%s", cnnvis_last_error());
        for (cls = 0; cls < 4; cls++) /* the class that changes most: 1% of it is a real bound */
            if (fabs((double)sx[cls] - sb[cls]) > best) best = fabs((double)sx[cls] - sb[cls]), pick = cls;
        CHECK(best > 0.1, "baseline %d: no class score changes by more than %g", base, best);
        REQUIRE(cnnvis__integrated_gradients(&out, net, &p, baseline, pick, 200, &sum, &delta) == CNNVIS_OK, "%s",
                cnnvis_last_error());
        for (q = 0; q < count; q++) total += out.data[q];
        CHECK(fabs(delta - ((double)sx[pick] - sb[pick])) <= 1e-5 * (1 + fabs(delta)),
              "baseline %d: delta %.7g, S_c(x) - S_c(b) from cnnvis_net_predict %.7g", base, delta, (double)sx[pick] - sb[pick]);
        CHECK(fabs(sum - total) <= 1e-5 * (1 + fabs(total)), "baseline %d: sum %.7g, the attributions add up to %.7g", base, sum,
              total);
        CHECK(fabs(sum - delta) <= 0.01 * fabs(delta), "baseline %d, class %d: attributions sum to %.6g, S_c(x) - S_c(b) = %.6g",
              base, pick, sum, delta);
        /* the same through cnnvis_saliency */
        {
            cnnvis_saliency_desc sd;
            memset(&sd, 0, sizeof sd);
            sd.ig_steps = 200, sd.ig_baseline = baseline;
            REQUIRE(cnnvis_saliency(&via, net, &p, pick, CNNVIS_SALIENCY_INTEGRATED, &sd) == CNNVIS_OK, "%s", cnnvis_last_error());
            CHECK(memcmp(via.data, out.data, sizeof(float) * count) == 0,
                  "baseline %d: cnnvis_saliency(INTEGRATED) differs from cnnvis__integrated_gradients", base);
            cnnvis_tensor_free(&via);
        }
        cnnvis_tensor_free(&out);
    }
    /* the midpoint rule spelled out: 3 steps from b are the gradients at b + (k + 1/2)/3 (x - b) */
    {
        cnnvis_tensor point, g;
        double scale;
        float *mine = (float *)calloc(count, sizeof(float));
        int k;
        REQUIRE(mine, "out of memory");
        REQUIRE(cnnvis_tensor_create(&point, 1, 3, 8, 8) == CNNVIS_OK, "tensor");
        for (k = 0; k < 3; k++) {
            float a = ((float)k + 0.5f) / 3.0f;
            for (q = 0; q < count; q++) point.data[q] = b.data[q] + a * (p.data[q] - b.data[q]);
            REQUIRE(cnnvis_saliency(&g, net, &point, 1, CNNVIS_SALIENCY_GRADIENT, NULL) == CNNVIS_OK, "%s", cnnvis_last_error());
            for (q = 0; q < count; q++) mine[q] += g.data[q];
            cnnvis_tensor_free(&g);
        }
        for (q = 0; q < count; q++) mine[q] *= (p.data[q] - b.data[q]) / 3.0f;
        REQUIRE(cnnvis__integrated_gradients(&out, net, &p, &b, 1, 3, NULL, NULL) == CNNVIS_OK, "%s", cnnvis_last_error());
        scale = max_abs(mine, count);
        CHECK(scale > 1e-3 && max_abs_diff(out.data, mine, count) <= 1e-5 * scale,
              "3 steps: %g from (x - b) times the mean gradient at the 3 midpoints (largest %g)",
              max_abs_diff(out.data, mine, count), scale);
        cnnvis_tensor_free(&out), cnnvis_tensor_free(&point);
        free(mine);
    }
    /* from the image itself: nothing to attribute */
    REQUIRE(cnnvis__integrated_gradients(&out, net, &p, &p, 0, 16, NULL, NULL) == CNNVIS_OK, "%s", cnnvis_last_error());
    CHECK(max_abs(out.data, count) == 0, "baseline = image: attributions up to %g", max_abs(out.data, count));
    cnnvis_tensor_free(&out);
    cnnvis_tensor_free(&p), cnnvis_tensor_free(&b), cnnvis_tensor_free(&black);
    cnnvis_net_free(net);
}

/* 3x12x12, so that the default Grad-CAM layer (relu2, after the last conv) is 6x6. */
static cnnvis_net *cam_net(void)
{
    cnnvis_net_desc d;
    cnnvis_net *net;
    cnnvis_rng rng;
    cnnvis_net_desc_init(&d, 3, 12, 12);
    set_stats(&d);
    cnnvis_net_desc_conv(&d, "conv1", 4, 3, 1, 1, 1);
    cnnvis_net_desc_relu(&d, "relu1");
    cnnvis_net_desc_maxpool(&d, "pool1", 2, 2, 0);
    cnnvis_net_desc_conv(&d, "conv2", 6, 3, 1, 1, 1);
    cnnvis_net_desc_relu(&d, "relu2");
    cnnvis_net_desc_fc(&d, "fc", 4);
    net = create_net(&d, 4);
    if (net) {
        cnnvis__rng_seed(&rng, 9);
        randomize_biases(net, &rng, 0.1f);
    }
    return net;
}

/* Grad-CAM from the layer's activation A and gradient G = dS_c/dA, taken here from a forward
   and a backward pass: ReLU(sum_k mean(G_k) A_k). Also *negative gets whether the sum was
   negative somewhere (so that the ReLU mattered). */
static int gradcam_by_hand(float *cam, cnnvis_net *net, const cnnvis_tensor *pixels, int cls, int li, int *negative)
{
    const cnnvis_layer *L = &net->layers[li];
    cnnvis_tensor x, onehot;
    size_t plane = (size_t)L->out_h * L->out_w, q;
    int k, ok;
    if (cnnvis_tensor_create(&x, 1, pixels->c, pixels->h, pixels->w) != CNNVIS_OK) return 0;
    if (cnnvis_tensor_create(&onehot, 1, net->n_classes, 1, 1) != CNNVIS_OK) {
        cnnvis_tensor_free(&x);
        return 0;
    }
    onehot.data[cls] = 1;
    ok = cnnvis_net_normalize(&x, net, pixels) == CNNVIS_OK && cnnvis_net_forward(net, &x) == CNNVIS_OK &&
         cnnvis_net_backward(net, NULL, &onehot, CNNVIS_RELU_BACKPROP, 0) == CNNVIS_OK;
    if (ok) {
        double *sum = (double *)calloc(plane, sizeof(double));
        if (!sum) ok = 0;
        for (k = 0; ok && k < L->out_c; k++) {
            double alpha = 0;
            for (q = 0; q < plane; q++) alpha += L->dout.data[k * plane + q];
            alpha /= (double)plane;
            for (q = 0; q < plane; q++) sum[q] += alpha * L->out.data[k * plane + q];
        }
        for (q = 0; ok && q < plane; q++) {
            *negative |= sum[q] < 0;
            cam[q] = sum[q] > 0 ? (float)sum[q] : 0.0f;
        }
        free(sum);
    }
    cnnvis_tensor_free(&x), cnnvis_tensor_free(&onehot);
    return ok;
}

static void test_gradcam(void)
{
    static const char *layers[3] = {NULL, "conv1", "pool1"}; /* NULL: the default, relu2 */
    cnnvis_net *net = cam_net();
    cnnvis_tensor p, cam, up, guided, gg;
    cnnvis_rng rng;
    float want[144], mine[144];
    int l, cls, positive = 0, negative = 0;
    REQUIRE(net, "net");
    cnnvis__rng_seed(&rng, 14);
    REQUIRE(make_pixels(&p, net, &rng, 0, 1), "pixels");
    for (l = 0; l < 3; l++) {
        int li = layers[l] ? cnnvis_net_find(net, layers[l]) : cnnvis_net_find(net, "relu2");
        const cnnvis_layer *L = &net->layers[li];
        size_t plane = (size_t)L->out_h * L->out_w;
        for (cls = 0; cls < 4; cls++) {
            REQUIRE(cnnvis__gradcam(&cam, net, &p, cls, layers[l]) == CNNVIS_OK, "%s", cnnvis_last_error());
            CHECK(cam.n == 1 && cam.c == 1 && cam.h == L->out_h && cam.w == L->out_w, "%s: cam (%d, %d, %d, %d), layer %dx%d",
                  L->desc.name, cam.n, cam.c, cam.h, cam.w, L->out_h, L->out_w);
            REQUIRE(cam.h == L->out_h && cam.w == L->out_w, "shape");
            REQUIRE(gradcam_by_hand(want, net, &p, cls, li, &negative), "by hand");
            {
                cnnvis_stats st = cnnvis_tensor_stats(&cam);
                float lo = st.min, hi = st.max;
                CHECK(lo >= 0, "%s class %d: Grad-CAM has %g < 0", L->desc.name, cls, lo);
                positive += hi > 0;
            }
            CHECK(max_abs_diff(cam.data, want, plane) <= 1e-5 * (1e-3 + max_abs(want, plane)),
                  "%s class %d: Grad-CAM is %g from ReLU(sum_k mean(dS/dA_k) A_k)", L->desc.name, cls,
                  max_abs_diff(cam.data, want, plane));
            cnnvis_tensor_free(&cam);
        }
    }
    CHECK(positive >= 6, "only %d of 12 maps are positive anywhere", positive);
    CHECK(negative, "the weighted sum is never negative: the ReLU was not tested");

    /* upsampled to the input for cnnvis_saliency, and multiplied into guided backprop */
    for (cls = 0; cls < 4; cls++) {
        float lo;
        size_t q;
        int ch, bad = 0;
        REQUIRE(cnnvis__gradcam(&cam, net, &p, cls, NULL) == CNNVIS_OK, "%s", cnnvis_last_error());
        REQUIRE(cnnvis_saliency(&up, net, &p, cls, CNNVIS_SALIENCY_GRADCAM, NULL) == CNNVIS_OK, "%s", cnnvis_last_error());
        CHECK(up.n == 1 && up.c == 1 && up.h == 12 && up.w == 12, "upsampled (%d, %d, %d, %d)", up.n, up.c, up.h, up.w);
        upsample_bilinear(mine, 12, 12, cam.data, cam.w, cam.h);
        CHECK(max_abs_diff(up.data, mine, 144) <= 1e-6 * (1 + max_abs(mine, 144)),
              "class %d: the upsampled map is %g from the layer's map resized bilinearly", cls, max_abs_diff(up.data, mine, 144));
        lo = cnnvis_tensor_stats(&up).min;
        CHECK(lo >= 0, "class %d: the upsampled Grad-CAM has %g < 0", cls, lo);
        REQUIRE(cnnvis_saliency(&guided, net, &p, cls, CNNVIS_SALIENCY_GUIDED, NULL) == CNNVIS_OK, "%s", cnnvis_last_error());
        REQUIRE(cnnvis_saliency(&gg, net, &p, cls, CNNVIS_SALIENCY_GUIDED_GRADCAM, NULL) == CNNVIS_OK, "%s", cnnvis_last_error());
        for (ch = 0; ch < 3; ch++)
            for (q = 0; q < 144; q++) {
                double v = (double)guided.data[ch * 144 + q] * mine[q];
                bad += fabs(gg.data[ch * 144 + q] - v) > 1e-6 * (1 + fabs(v));
            }
        CHECK(bad == 0, "class %d: %d values of guided Grad-CAM are not guided backprop times the upsampled map", cls, bad);
        cnnvis_tensor_free(&cam), cnnvis_tensor_free(&up), cnnvis_tensor_free(&guided), cnnvis_tensor_free(&gg);
    }
    cnnvis_tensor_free(&p);
    cnnvis_net_free(net);
}

/* Input invariance (Kindermans et al. 2017): net B sees the data shifted by s per channel,
   and its conv1 bias absorbs the shift (b' = b - sum W s / std; conv1 has no padding, which
   would see the unshifted zeros), so B(p + s) = A(p). The gradient of B at p + s is A's at
   p; grad*input is not invariant: it moves by s times the gradient. A net C whose mean is
   shifted instead needs no bias change and gives the same map. */
static void test_input_invariance(void)
{
    static const float shift[3] = {0.3f, -0.15f, 0.2f};
    cnnvis_net_desc d;
    cnnvis_net *a, *b, *c;
    cnnvis_tensor p, ps, ga, gb, gc, xa, xb;
    cnnvis_rng rng;
    float sa[3], sb[3], sc[3];
    int i, oc, ic, k, cls;
    size_t count, q;
    cnnvis_net_desc_init(&d, 3, 8, 8);
    set_stats(&d);
    cnnvis_net_desc_conv(&d, "conv1", 4, 3, 1, 0, 1);
    cnnvis_net_desc_relu(&d, "relu1");
    cnnvis_net_desc_maxpool(&d, "pool1", 2, 2, 0);
    cnnvis_net_desc_fc(&d, "fc", 3);
    a = create_net(&d, 2);
    b = create_net(&d, 2);
    for (i = 0; i < 3; i++) d.mean[i] += shift[i];
    c = create_net(&d, 2);
    REQUIRE(a && b && c, "nets");
    cnnvis__rng_seed(&rng, 15);
    randomize_biases(a, &rng, 0.2f);
    for (i = 0; i < a->n_layers; i++)
        if (a->layers[i].n_w) {
            memcpy(b->layers[i].w, a->layers[i].w, sizeof(float) * a->layers[i].n_w);
            memcpy(b->layers[i].b, a->layers[i].b, sizeof(float) * a->layers[i].n_b);
            memcpy(c->layers[i].w, a->layers[i].w, sizeof(float) * a->layers[i].n_w);
            memcpy(c->layers[i].b, a->layers[i].b, sizeof(float) * a->layers[i].n_b);
        }
    for (oc = 0; oc < 4; oc++) {
        double absorbed = 0;
        for (ic = 0; ic < 3; ic++)
            for (k = 0; k < 9; k++) absorbed += (double)a->layers[0].w[(oc * 3 + ic) * 9 + k] * shift[ic] / test_std[ic];
        b->layers[0].b[oc] = (float)(a->layers[0].b[oc] - absorbed);
    }
    REQUIRE(make_pixels(&p, a, &rng, 0.2f, 0.7f) && make_pixels(&ps, a, &rng, 0, 1), "pixels");
    count = cnnvis_tensor_count(&p);
    for (q = 0; q < count; q++) ps.data[q] = p.data[q] + shift[q / 64];
    REQUIRE(cnnvis_net_predict(sa, NULL, NULL, a, &p) == CNNVIS_OK && cnnvis_net_predict(sb, NULL, NULL, b, &ps) == CNNVIS_OK &&
                cnnvis_net_predict(sc, NULL, NULL, c, &ps) == CNNVIS_OK,
            "%s", cnnvis_last_error());
    for (cls = 0; cls < 3; cls++)
        CHECK(fabsf(sa[cls] - sb[cls]) <= 1e-4f * (1 + fabsf(sa[cls])),
              "class %d: A(p) = %g, B(p + s) = %g: the bias does not absorb s", cls, sa[cls], sb[cls]);
    for (cls = 0; cls < 3; cls++)
        CHECK(fabsf(sa[cls] - sc[cls]) <= 1e-5f * (1 + fabsf(sa[cls])), "class %d: A(p) = %g, the mean-shifted C(p + s) = %g", cls,
              sa[cls], sc[cls]);
    for (cls = 0; cls < 3; cls++) {
        double scale;
        REQUIRE(cnnvis_saliency(&ga, a, &p, cls, CNNVIS_SALIENCY_GRADIENT, NULL) == CNNVIS_OK &&
                    cnnvis_saliency(&gb, b, &ps, cls, CNNVIS_SALIENCY_GRADIENT, NULL) == CNNVIS_OK &&
                    cnnvis_saliency(&gc, c, &ps, cls, CNNVIS_SALIENCY_GRADIENT, NULL) == CNNVIS_OK,
                "%s", cnnvis_last_error());
        scale = max_abs(ga.data, count);
        CHECK(scale > 1e-3, "class %d: zero gradient", cls);
        CHECK(max_abs_diff(ga.data, gb.data, count) <= 1e-4 * scale, "class %d: B's gradient at p + s is %g from A's at p", cls,
              max_abs_diff(ga.data, gb.data, count));
        CHECK(max_abs_diff(ga.data, gc.data, count) <= 1e-5 * scale, "class %d: the mean-shifted net's gradient is %g from A's",
              cls, max_abs_diff(ga.data, gc.data, count));
        cnnvis_tensor_free(&ga), cnnvis_tensor_free(&gb), cnnvis_tensor_free(&gc);
        REQUIRE(cnnvis_saliency(&xa, a, &p, cls, CNNVIS_SALIENCY_GRAD_X_INPUT, NULL) == CNNVIS_OK &&
                    cnnvis_saliency(&xb, b, &ps, cls, CNNVIS_SALIENCY_GRAD_X_INPUT, NULL) == CNNVIS_OK &&
                    cnnvis_saliency(&ga, a, &p, cls, CNNVIS_SALIENCY_GRADIENT, NULL) == CNNVIS_OK,
                "%s", cnnvis_last_error());
        {
            int bad = 0;
            for (q = 0; q < count; q++) {
                double moved = (double)xa.data[q] + (double)shift[q / 64] * ga.data[q];
                bad += fabs(xb.data[q] - moved) > 1e-4 * (scale + 1e-3);
            }
            CHECK(bad == 0, "class %d: %d values of grad*input of B are not A's plus s times the gradient", cls, bad);
            CHECK(max_abs_diff(xa.data, xb.data, count) > 1e-3 * scale, "class %d: grad*input came out invariant", cls);
        }
        cnnvis_tensor_free(&xa), cnnvis_tensor_free(&xb), cnnvis_tensor_free(&ga);
    }
    cnnvis_tensor_free(&p), cnnvis_tensor_free(&ps);
    cnnvis_net_free(a), cnnvis_net_free(b), cnnvis_net_free(c);
}

/* 2x6x6: conv 3x3 pad 1, ReLU, fc of 3 classes. */
static cnnvis_net *small_net(void)
{
    cnnvis_net_desc d;
    cnnvis_net *net;
    cnnvis_rng rng;
    cnnvis_net_desc_init(&d, 2, 6, 6);
    d.mean[0] = 0.3f, d.mean[1] = 0.6f, d.std[0] = 0.5f, d.std[1] = 0.25f;
    cnnvis_net_desc_conv(&d, "conv", 3, 3, 1, 1, 1);
    cnnvis_net_desc_relu(&d, "relu");
    cnnvis_net_desc_fc(&d, "fc", 3);
    net = create_net(&d, 4);
    if (net) {
        cnnvis__rng_seed(&rng, 16);
        randomize_biases(net, &rng, 0.2f);
    }
    return net;
}

/* The occlusion map by its definition: a square of `value` at top-left (y0, x0) for every y0,
   x0 = 0, stride, 2 stride, ... inside the image (clipped at the border); each pixel gets the
   mean over the squares covering it of p_c(image) - p_c(occluded), 0 where none does. */
static int occlusion_by_hand(float *heat, cnnvis_net *net, const cnnvis_tensor *p, int cls, int size, int stride, float value)
{
    int C = p->c, H = p->h, W = p->w, y0, x0, ch, y, x;
    size_t plane = (size_t)H * W, q;
    float probs[8], base;
    double *sum = (double *)calloc(plane, sizeof(double));
    int *cover = (int *)calloc(plane, sizeof(int)), ok;
    cnnvis_tensor o;
    memset(&o, 0, sizeof o);
    ok = sum && cover && cnnvis_tensor_create(&o, 1, C, H, W) == CNNVIS_OK && cnnvis_net_predict(NULL, probs, NULL, net, p) == CNNVIS_OK;
    base = ok ? probs[cls] : 0.0f;
    for (y0 = 0; ok && y0 < H; y0 += stride)
        for (x0 = 0; ok && x0 < W; x0 += stride) {
            memcpy(o.data, p->data, sizeof(float) * cnnvis_tensor_count(p));
            for (ch = 0; ch < C; ch++)
                for (y = y0; y < y0 + size && y < H; y++)
                    for (x = x0; x < x0 + size && x < W; x++) o.data[ch * plane + (size_t)y * W + x] = value;
            ok = cnnvis_net_predict(NULL, probs, NULL, net, &o) == CNNVIS_OK;
            for (y = y0; ok && y < y0 + size && y < H; y++)
                for (x = x0; x < x0 + size && x < W; x++) sum[y * W + x] += (double)base - probs[cls], cover[y * W + x]++;
        }
    for (q = 0; ok && q < plane; q++) heat[q] = cover[q] ? (float)(sum[q] / cover[q]) : 0.0f;
    free(sum), free(cover);
    cnnvis_tensor_free(&o);
    return ok;
}

static void test_occlusion(void)
{
    static const struct {
        int size, stride;
        float value;
    } cases[] = {{2, 2, 0}, {3, 2, 0.25f}, {1, 2, 0.9f}, {6, 1, 0}, {4, 3, 0.1f}};
    cnnvis_net *net = small_net();
    cnnvis_tensor p, heat;
    cnnvis_saliency_desc sd;
    cnnvis_rng rng;
    float want[36];
    int k, cls, moved = 0;
    REQUIRE(net, "net");
    cnnvis__rng_seed(&rng, 17);
    REQUIRE(make_pixels(&p, net, &rng, 0, 1), "pixels");
    memset(&sd, 0, sizeof sd);
    sd.occlusion_size = -1;
    REQUIRE(cnnvis_saliency(&heat, net, &p, 1, CNNVIS_SALIENCY_OCCLUSION, &sd) == CNNVIS_OK, "%s", cnnvis_last_error());
    CHECK(heat.n == 1 && heat.c == 1 && heat.h == 6 && heat.w == 6, "heat (%d, %d, %d, %d)", heat.n, heat.c, heat.h, heat.w);
    CHECK(max_abs(heat.data, 36) == 0, "no square at all, yet the map reaches %g", max_abs(heat.data, 36));
    cnnvis_tensor_free(&heat);
    for (k = 0; k < (int)(sizeof cases / sizeof cases[0]); k++)
        for (cls = 0; cls < 3; cls++) {
            memset(&sd, 0, sizeof sd);
            sd.occlusion_size = cases[k].size, sd.occlusion_stride = cases[k].stride, sd.occlusion_value = cases[k].value;
            REQUIRE(cnnvis_saliency(&heat, net, &p, cls, CNNVIS_SALIENCY_OCCLUSION, &sd) == CNNVIS_OK, "%s", cnnvis_last_error());
            REQUIRE(occlusion_by_hand(want, net, &p, cls, cases[k].size, cases[k].stride, cases[k].value ? cases[k].value : 0.5f),
                    "by hand: %s", cnnvis_last_error());
            CHECK(heat.c == 1 && heat.h == 6 && heat.w == 6 && max_abs_diff(heat.data, want, 36) <= 1e-6,
                  "size %d stride %d value %g class %d: the map is %g from the mean drop over the covering squares", cases[k].size,
                  cases[k].stride, cases[k].value, cls, max_abs_diff(heat.data, want, 36));
            moved += max_abs(want, 36) > 1e-3;
            cnnvis_tensor_free(&heat);
        }
    /* the defaults on 6x6: a square of 6/4 = 1 pixel, moved by max(1, 1/2) = 1, of grey 0.5 */
    REQUIRE(cnnvis_saliency(&heat, net, &p, 2, CNNVIS_SALIENCY_OCCLUSION, NULL) == CNNVIS_OK, "%s", cnnvis_last_error());
    REQUIRE(occlusion_by_hand(want, net, &p, 2, 1, 1, 0.5f), "by hand: %s", cnnvis_last_error());
    CHECK(max_abs_diff(heat.data, want, 36) <= 1e-6, "defaults: the map is %g from a 1-pixel grey square at every pixel",
          max_abs_diff(heat.data, want, 36));
    cnnvis_tensor_free(&heat);
    CHECK(moved >= 10, "only %d maps have a drop above 1e-3: the test would prove little", moved);
    cnnvis_tensor_free(&p);
    cnnvis_net_free(net);
}

/* SmoothGrad: with noise of 1e-6 it is the gradient; the same seed gives the same map and
   another seed another one; on a linear net, whose gradient is the same everywhere, the
   mean over any number of copies is that gradient (a sum would be n times it). */
static void test_smoothgrad(void)
{
    cnnvis_net *net = mixed_net(1, 0, 8), *lin;
    cnnvis_net_desc d;
    cnnvis_tensor p, g, s1, s2, s3;
    cnnvis_saliency_desc sd;
    cnnvis_rng rng;
    size_t count;
    int n;
    REQUIRE(net, "net");
    cnnvis__rng_seed(&rng, 18);
    REQUIRE(make_pixels(&p, net, &rng, 0, 1), "pixels");
    count = cnnvis_tensor_count(&p);
    REQUIRE(cnnvis_saliency(&g, net, &p, 2, CNNVIS_SALIENCY_GRADIENT, NULL) == CNNVIS_OK, "%s", cnnvis_last_error());
    memset(&sd, 0, sizeof sd);
    sd.smooth_n = 20, sd.smooth_sigma = 1e-6f, sd.seed = 1;
    REQUIRE(cnnvis_saliency(&s1, net, &p, 2, CNNVIS_SALIENCY_SMOOTHGRAD, &sd) == CNNVIS_OK, "%s", cnnvis_last_error());
    CHECK(s1.n == 1 && s1.c == 3 && s1.h == 8 && s1.w == 8, "shape (%d, %d, %d, %d)", s1.n, s1.c, s1.h, s1.w);
    CHECK(max_abs_diff(s1.data, g.data, count) <= 1e-4 * max_abs(g.data, count),
          "sigma 1e-6: SmoothGrad is %g from the gradient (largest %g)", max_abs_diff(s1.data, g.data, count),
          max_abs(g.data, count));
    cnnvis_tensor_free(&s1);
    sd.smooth_n = 12, sd.smooth_sigma = 0.15f, sd.seed = 5;
    REQUIRE(cnnvis_saliency(&s1, net, &p, 2, CNNVIS_SALIENCY_SMOOTHGRAD, &sd) == CNNVIS_OK &&
                cnnvis_saliency(&s2, net, &p, 2, CNNVIS_SALIENCY_SMOOTHGRAD, &sd) == CNNVIS_OK,
            "%s", cnnvis_last_error());
    sd.seed = 6;
    REQUIRE(cnnvis_saliency(&s3, net, &p, 2, CNNVIS_SALIENCY_SMOOTHGRAD, &sd) == CNNVIS_OK, "%s", cnnvis_last_error());
    CHECK(memcmp(s1.data, s2.data, sizeof(float) * count) == 0, "the same seed gave two different maps");
    CHECK(memcmp(s1.data, s3.data, sizeof(float) * count) != 0, "seeds 5 and 6 gave the same map");
    CHECK(max_abs_diff(s1.data, g.data, count) > 1e-3 * max_abs(g.data, count), "sigma 0.15 gave the plain gradient: no noise?");
    cnnvis_tensor_free(&s1), cnnvis_tensor_free(&s2), cnnvis_tensor_free(&s3), cnnvis_tensor_free(&g);

    cnnvis_net_desc_init(&d, 3, 8, 8);
    set_stats(&d);
    cnnvis_net_desc_conv(&d, "conv1", 4, 3, 1, 1, 1);
    cnnvis_net_desc_fc(&d, "fc", 3);
    lin = create_net(&d, 8); /* max_batch 8: 5 and 13 copies do not fill whole batches */
    REQUIRE(lin, "net");
    REQUIRE(cnnvis_saliency(&g, lin, &p, 1, CNNVIS_SALIENCY_GRADIENT, NULL) == CNNVIS_OK, "%s", cnnvis_last_error());
    for (n = 1; n <= 13; n += 4) {
        sd.smooth_n = n, sd.smooth_sigma = 0.3f, sd.seed = 2;
        REQUIRE(cnnvis_saliency(&s1, lin, &p, 1, CNNVIS_SALIENCY_SMOOTHGRAD, &sd) == CNNVIS_OK, "%s", cnnvis_last_error());
        CHECK(max_abs_diff(s1.data, g.data, count) <= 1e-5 * max_abs(g.data, count),
              "linear net, %d copies: SmoothGrad is %g from the gradient (largest %g)", n, max_abs_diff(s1.data, g.data, count),
              max_abs(g.data, count));
        cnnvis_tensor_free(&s1);
    }
    cnnvis_tensor_free(&g), cnnvis_tensor_free(&p);
    cnnvis_net_free(net), cnnvis_net_free(lin);
}

/* Simonyan's map: the largest |value| over channels, on a tensor made here and on a real
   attribution. */
static void test_saliency_map(void)
{
    static const float a[3][6] = {{1, -5, 0.5f, 0, 2, -0.25f}, {-2, 4, 0.25f, -0.0f, -3, 0.5f}, {0.5f, 1, -0.75f, 0, 1, 0.125f}};
    static const float want[6] = {2, 5, 0.75f, 0, 3, 0.5f};
    cnnvis_tensor t, map, attr;
    cnnvis_net *net = mixed_net(0, 0, 2);
    cnnvis_rng rng;
    float real[64];
    int ch;
    size_t q;
    REQUIRE(net, "net");
    REQUIRE(cnnvis_tensor_create(&t, 1, 3, 2, 3) == CNNVIS_OK, "tensor");
    memcpy(t.data, a, sizeof a);
    REQUIRE(cnnvis_saliency_map(&map, &t) == CNNVIS_OK, "%s", cnnvis_last_error());
    CHECK(map.n == 1 && map.c == 1 && map.h == 2 && map.w == 3, "map (%d, %d, %d, %d)", map.n, map.c, map.h, map.w);
    CHECK(max_abs_diff(map.data, want, 6) == 0, "map (%g %g %g / %g %g %g), expected (2 5 0.75 / 0 3 0.5)", map.data[0],
          map.data[1], map.data[2], map.data[3], map.data[4], map.data[5]);
    cnnvis_tensor_free(&map), cnnvis_tensor_free(&t);

    cnnvis__rng_seed(&rng, 19);
    REQUIRE(make_pixels(&t, net, &rng, 0, 1), "pixels");
    REQUIRE(cnnvis_saliency(&attr, net, &t, 0, CNNVIS_SALIENCY_GRADIENT, NULL) == CNNVIS_OK, "%s", cnnvis_last_error());
    REQUIRE(cnnvis_saliency_map(&map, &attr) == CNNVIS_OK, "%s", cnnvis_last_error());
    for (q = 0; q < 64; q++)
        for (real[q] = 0, ch = 0; ch < 3; ch++)
            if (fabsf(attr.data[ch * 64 + q]) > real[q]) real[q] = fabsf(attr.data[ch * 64 + q]);
    CHECK(map.h == 8 && map.w == 8 && max_abs_diff(map.data, real, 64) == 0, "the map of a gradient is not max_c |g|");
    cnnvis_tensor_free(&map), cnnvis_tensor_free(&attr), cnnvis_tensor_free(&t);
    cnnvis_net_free(net);
}

/* --- 4b Class models, activation maximisation; 4c DeepDream --------------------------------- */

/* The mean image (every pixel its channel's mean: the zero input). */
static int mean_image(cnnvis_tensor *p, const cnnvis_net *net)
{
    int ch;
    size_t q, plane = (size_t)net->desc.in_h * net->desc.in_w;
    if (cnnvis_tensor_create(p, 1, net->desc.in_c, net->desc.in_h, net->desc.in_w) != CNNVIS_OK) return 0;
    for (ch = 0; ch < net->desc.in_c; ch++)
        for (q = 0; q < plane; q++) p->data[ch * plane + q] = mean_of(net, ch);
    return 1;
}

/* sum of |differences| of horizontal and vertical neighbours, over every channel */
static double total_variation(const cnnvis_tensor *t)
{
    double sum = 0;
    int ch, y, x;
    for (ch = 0; ch < t->c; ch++)
        for (y = 0; y < t->h; y++)
            for (x = 0; x < t->w; x++) {
                const float *v = t->data + ((size_t)ch * t->h + y) * t->w + x; /* image 0 */
                if (x + 1 < t->w) sum += fabs((double)v[1] - v[0]);
                if (y + 1 < t->h) sum += fabs((double)v[t->w] - v[0]);
            }
    return sum;
}

/* Gradient ascent raises S_c well above its value at the mean image (by more than 5, where
   the scores there are within a few tenths), and the score it reports is S_c of the pixels
   it returns. A hidden unit (channel 2 of conv2 at its centre) is raised the same way; the
   last layer as "layer" is the class model itself. Total variation and blurring make a
   smoother image. With clip_norm 50, the pixels whose norm is below the median are set to
   the mean image after every step, the last one included. */
static void test_class_model(void)
{
    cnnvis_net *net = mixed_net(0, 0, 2);
    cnnvis_class_model_desc cd;
    cnnvis_tensor mean, img, img2;
    float s_mean[4], s_img[4], score, score2;
    int cls, li;
    size_t centre;
    REQUIRE(net, "net");
    REQUIRE(mean_image(&mean, net), "tensor");
    REQUIRE(cnnvis_net_predict(s_mean, NULL, NULL, net, &mean) == CNNVIS_OK, "%s", cnnvis_last_error());
    for (cls = 0; cls < 4; cls += 3) {
        REQUIRE(cnnvis_class_model(&img, &score, net, cls, NULL) == CNNVIS_OK, "%s", cnnvis_last_error());
        CHECK(img.n == 1 && img.c == 3 && img.h == 8 && img.w == 8, "image (%d, %d, %d, %d)", img.n, img.c, img.h, img.w);
        REQUIRE(cnnvis_net_predict(s_img, NULL, NULL, net, &img) == CNNVIS_OK, "%s", cnnvis_last_error());
        CHECK(fabsf(score - s_img[cls]) <= 1e-4f * (1 + fabsf(score)), "class %d: reported %g, S_c of the returned pixels %g", cls,
              score, s_img[cls]);
        CHECK(score > s_mean[cls] + 5.0f, "class %d: S_c %g after ascent, %g at the mean image", cls, score, s_mean[cls]);
        cnnvis_tensor_free(&img);
    }

    /* a hidden unit */
    li = cnnvis_net_find(net, "conv2");
    REQUIRE(li >= 0, "conv2");
    centre = ((size_t)2 * net->layers[li].out_h + net->layers[li].out_h / 2) * net->layers[li].out_w + net->layers[li].out_w / 2;
    REQUIRE(cnnvis_net_predict(NULL, NULL, NULL, net, &mean) == CNNVIS_OK, "%s", cnnvis_last_error());
    {
        float before = net->layers[li].out.data[centre], after;
        memset(&cd, 0, sizeof cd);
        cd.layer = "conv2", cd.unit = 2, cd.steps = 100;
        REQUIRE(cnnvis_class_model(&img, &score, net, 0, &cd) == CNNVIS_OK, "%s", cnnvis_last_error());
        REQUIRE(cnnvis_net_predict(NULL, NULL, NULL, net, &img) == CNNVIS_OK, "%s", cnnvis_last_error());
        after = net->layers[li].out.data[centre];
        CHECK(fabsf(score - after) <= 1e-4f * (1 + fabsf(after)), "conv2 unit 2: reported %g, its activation at the pixels %g",
              score, after);
        CHECK(after > before + 5.0f, "conv2 unit 2: activation %g after ascent, %g at the mean image", after, before);
        cnnvis_tensor_free(&img);
    }
    /* the last layer as a layer: the same objective, the same seed, the same image */
    memset(&cd, 0, sizeof cd);
    cd.steps = 30;
    REQUIRE(cnnvis_class_model(&img, &score, net, 1, &cd) == CNNVIS_OK, "%s", cnnvis_last_error());
    cd.layer = "fc", cd.unit = 1;
    REQUIRE(cnnvis_class_model(&img2, &score2, net, 0, &cd) == CNNVIS_OK, "%s", cnnvis_last_error());
    CHECK(score == score2 && memcmp(img.data, img2.data, sizeof(float) * 192) == 0,
          "class 1 and layer fc unit 1 differ (scores %g, %g)", score, score2);
    /* the smoothing regularisers make a smoother image than plain ascent */
    {
        double plain, smooth;
        cnnvis_tensor_free(&img2);
        cd.layer = NULL, cd.steps = 100;
        REQUIRE(cnnvis_class_model(&img2, NULL, net, 1, &cd) == CNNVIS_OK, "%s", cnnvis_last_error());
        plain = total_variation(&img2);
        cnnvis_tensor_free(&img2);
        cd.tv = 0.5f;
        REQUIRE(cnnvis_class_model(&img2, NULL, net, 1, &cd) == CNNVIS_OK, "%s", cnnvis_last_error());
        smooth = total_variation(&img2);
        CHECK(smooth < plain / 2, "tv 0.5: total variation %g, without %g", smooth, plain);
        cnnvis_tensor_free(&img2);
        cd.tv = 0, cd.blur_every = 1, cd.blur_sigma = 1;
        REQUIRE(cnnvis_class_model(&img2, NULL, net, 1, &cd) == CNNVIS_OK, "%s", cnnvis_last_error());
        smooth = total_variation(&img2);
        CHECK(smooth < plain / 2, "blur every step: total variation %g, without %g", smooth, plain);
        cd.blur_every = 0;
    }
    cnnvis_tensor_free(&img), cnnvis_tensor_free(&img2);
    cd.layer = NULL, cd.clip_norm = 50;
    REQUIRE(cnnvis_class_model(&img, &score, net, 2, &cd) == CNNVIS_OK, "%s", cnnvis_last_error());
    {
        int at_mean = 0, q, ch;
        for (q = 0; q < 64; q++) {
            int all = 1;
            for (ch = 0; ch < 3; ch++) all &= img.data[ch * 64 + q] == mean.data[ch * 64 + q];
            at_mean += all;
        }
        CHECK(at_mean >= 26 && at_mean <= 38, "clip_norm 50: %d of 64 pixels are the mean image, about half should be", at_mean);
    }
    cnnvis_tensor_free(&img), cnnvis_tensor_free(&mean);
    cnnvis_net_free(net);
}

/* 1/2 ||A||^2 of relu2 (or of one of its channels) for an image of the net's size. */
static double dream_objective(cnnvis_net *net, const cnnvis_tensor *p, int channel)
{
    const cnnvis_layer *L = &net->layers[cnnvis_net_find(net, "relu2")];
    size_t plane = (size_t)L->out_h * L->out_w, q;
    double sum = 0;
    if (cnnvis_net_predict(NULL, NULL, NULL, net, p) != CNNVIS_OK) return -1;
    for (q = 0; q < plane * L->out_c; q++)
        if (channel < 0 || (int)(q / plane) == channel) sum += 0.5 * L->out.data[q] * L->out.data[q];
    return sum;
}

/* DeepDream raises its objective, keeps pixels in [0, 1], and takes images larger than the
   net's input (13x21 and 16x9 here: tiles that overlap) and of its size, but not smaller.
   At the net's size (one tile) the objective it reports before and after is 1/2 ||A||^2
   of the default layer (relu2) at the image, computed here. */
static void test_deepdream(void)
{
    static const int sizes[4][3] = {{13, 21, -1}, {8, 8, -1}, {8, 8, 3}, {16, 9, 3}}; /* h, w, channel (-1: all) */
    cnnvis_net *net = mixed_net(0, 0, 4);
    cnnvis_deepdream_desc dd;
    cnnvis_rng rng;
    int s;
    REQUIRE(net, "net");
    cnnvis__rng_seed(&rng, 22);
    for (s = 0; s < 4; s++) {
        cnnvis_tensor img, orig;
        double before = -1, after = -1;
        cnnvis_stats st;
        float lo, hi;
        REQUIRE(cnnvis_tensor_create(&img, 1, 3, sizes[s][0], sizes[s][1]) == CNNVIS_OK &&
                    cnnvis_tensor_create(&orig, 1, 3, sizes[s][0], sizes[s][1]) == CNNVIS_OK,
                "tensor");
        fill_uniform(img.data, cnnvis_tensor_count(&img), &rng, 0.2f, 0.8f);
        memcpy(orig.data, img.data, sizeof(float) * cnnvis_tensor_count(&img));
        memset(&dd, 0, sizeof dd);
        dd.octaves = 2, dd.steps = 8, dd.one_channel = sizes[s][2] >= 0, dd.channel = sizes[s][2];
        REQUIRE(cnnvis_deepdream(&img, &before, &after, net, &dd) == CNNVIS_OK, "%dx%d: %s", sizes[s][0], sizes[s][1],
                cnnvis_last_error());
        st = cnnvis_tensor_stats(&img);
        lo = st.min, hi = st.max;
        CHECK(lo >= 0 && hi <= 1, "%dx%d: pixels in [%g, %g]", sizes[s][0], sizes[s][1], lo, hi);
        CHECK(before > 0 && after > before, "%dx%d: objective %g before, %g after", sizes[s][0], sizes[s][1], before, after);
        CHECK(memcmp(img.data, orig.data, sizeof(float) * cnnvis_tensor_count(&img)) != 0, "%dx%d: the image did not change",
              sizes[s][0], sizes[s][1]);
        if (sizes[s][0] == 8 && sizes[s][1] == 8) {
            double want_before = dream_objective(net, &orig, sizes[s][2]), want_after = dream_objective(net, &img, sizes[s][2]);
            CHECK(fabs(before - want_before) <= 1e-5 * want_before && fabs(after - want_after) <= 1e-5 * want_after,
                  "channel %d: objective %g -> %g, 1/2 ||A||^2 of relu2 is %g -> %g", sizes[s][2], before, after, want_before,
                  want_after);
        }
        cnnvis_tensor_free(&img), cnnvis_tensor_free(&orig);
    }
    {
        cnnvis_tensor small;
        REQUIRE(cnnvis_tensor_create(&small, 1, 3, 7, 12) == CNNVIS_OK, "tensor");
        tensor_fill(&small, 0.5f);
        expect_arg_error(cnnvis_deepdream(&small, NULL, NULL, net, NULL), "deepdream(7x12 < 8x8)", "pixels");
        cnnvis_tensor_free(&small);
    }
    cnnvis_net_free(net);
}

/* --- 4 t-SNE, the sanity checks -------------------------------------------------------------- */

/* Three Gaussian clusters, 20 points each in 10-D, centres 10 apart: every point's nearest
   neighbour in the embedding is from its own cluster; the same seed gives the same map. */
static void test_tsne(void)
{
    enum { N = 60, DIM = 10 };
    float *x = (float *)malloc(sizeof(float) * N * DIM), y[2 * N], y2[2 * N], y3[2 * N];
    cnnvis_rng rng;
    int i, j, k, wrong = 0, finite = 1;
    REQUIRE(x, "out of memory");
    cnnvis__rng_seed(&rng, 23);
    for (i = 0; i < N; i++)
        for (k = 0; k < DIM; k++) x[i * DIM + k] = cnnvis__rng_normal(&rng) + (k == i % 3 ? 10.0f : 0.0f);
    REQUIRE(cnnvis_tsne(y, x, N, DIM, 10, 0, 4) == CNNVIS_OK, "%s", cnnvis_last_error());
    for (i = 0; i < N; i++) {
        int nearest = -1;
        double best = 1e300;
        finite &= isfinite(y[2 * i]) && isfinite(y[2 * i + 1]);
        for (j = 0; j < N; j++) {
            double dx = (double)y[2 * i] - y[2 * j], dy = (double)y[2 * i + 1] - y[2 * j + 1];
            if (j != i && dx * dx + dy * dy < best) best = dx * dx + dy * dy, nearest = j;
        }
        wrong += nearest % 3 != i % 3;
    }
    CHECK(finite, "the embedding is not finite");
    CHECK(wrong == 0, "%d of %d points have a nearest neighbour from another cluster", wrong, N);
    REQUIRE(cnnvis_tsne(y2, x, N, DIM, 10, 0, 4) == CNNVIS_OK && cnnvis_tsne(y3, x, N, DIM, 10, 0, 5) == CNNVIS_OK, "%s",
            cnnvis_last_error());
    CHECK(memcmp(y, y2, sizeof y) == 0, "the same seed gave two different embeddings");
    CHECK(memcmp(y, y3, sizeof y) != 0, "seeds 4 and 5 gave the same embedding");
    free(x);
}

/* Re-drawing a layer touches only that layer: its weights within the Kaiming bound
   sqrt(6 / fan_in), its biases 0; every other layer's weights and biases bit for bit as
   before. The same seed draws the same weights, another seed others. */
static void test_randomize_layer(void)
{
    cnnvis_net *a = mixed_net(0, 0, 2), *b = mixed_net(0, 0, 2);
    float *saved[8];
    int i, li, other_changed = 0, out_of_bound = 0;
    size_t j;
    double bound;
    REQUIRE(a && b, "nets");
    li = cnnvis_net_find(a, "conv2");
    REQUIRE(li >= 0, "conv2");
    for (i = 0; i < a->n_layers; i++) {
        const cnnvis_layer *L = &a->layers[i];
        saved[i] = (float *)malloc(sizeof(float) * (L->n_w + L->n_b + 1));
        REQUIRE(saved[i], "out of memory");
        memcpy(saved[i], L->w, sizeof(float) * L->n_w);
        memcpy(saved[i] + L->n_w, L->b, sizeof(float) * L->n_b);
    }
    REQUIRE(cnnvis_net_randomize_layer(a, "conv2", 99) == CNNVIS_OK, "%s", cnnvis_last_error());
    for (i = 0; i < a->n_layers; i++) {
        const cnnvis_layer *L = &a->layers[i];
        if (i == li) continue;
        other_changed += memcmp(saved[i], L->w, sizeof(float) * L->n_w) != 0 ||
                         memcmp(saved[i] + L->n_w, L->b, sizeof(float) * L->n_b) != 0;
    }
    CHECK(other_changed == 0, "%d other layers changed", other_changed);
    CHECK(memcmp(saved[li], a->layers[li].w, sizeof(float) * a->layers[li].n_w) != 0, "conv2's weights did not change");
    CHECK(max_abs(a->layers[li].b, a->layers[li].n_b) == 0, "conv2's biases are not 0");
    bound = sqrt(6.0 / (4 * 9));
    for (j = 0; j < a->layers[li].n_w; j++) out_of_bound += fabs(a->layers[li].w[j]) > bound;
    CHECK(out_of_bound == 0, "%d weights beyond the Kaiming bound %g", out_of_bound, bound);
    CHECK(max_abs(a->layers[li].w, a->layers[li].n_w) > bound / 2, "the weights reach only %g of the bound %g",
          max_abs(a->layers[li].w, a->layers[li].n_w), bound);
    REQUIRE(cnnvis_net_randomize_layer(b, "conv2", 99) == CNNVIS_OK, "%s", cnnvis_last_error());
    CHECK(memcmp(a->layers[li].w, b->layers[li].w, sizeof(float) * a->layers[li].n_w) == 0, "seed 99 twice drew different weights");
    REQUIRE(cnnvis_net_randomize_layer(b, "conv2", 100) == CNNVIS_OK, "%s", cnnvis_last_error());
    CHECK(memcmp(a->layers[li].w, b->layers[li].w, sizeof(float) * a->layers[li].n_w) != 0,
          "seeds 99 and 100 drew the same weights");
    for (i = 0; i < a->n_layers; i++) free(saved[i]);
    cnnvis_net_free(a), cnnvis_net_free(b);
}

/* --- The pictures ----------------------------------------------------------------------------- */

static int make_dataset(cnnvis_dataset *ds, int n, int c, int h, int w, cnnvis_rng *rng)
{
    size_t i;
    memset(ds, 0, sizeof *ds);
    ds->px = (unsigned char *)calloc((size_t)n * c * h * w, 1);
    ds->labels = (int32_t *)calloc((size_t)n, sizeof(int32_t));
    if (!ds->px || !ds->labels) return 0;
    ds->n = n, ds->c = c, ds->h = h, ds->w = w, ds->n_classes = 3;
    for (i = 0; i < (size_t)n * c * h * w; i++) ds->px[i] = (unsigned char)cnnvis__rng_below(rng, 256);
    for (i = 0; i < (size_t)n; i++) ds->labels[i] = (int32_t)(i % 3);
    return 1;
}

static void dataset_release(cnnvis_dataset *ds)
{
    free(ds->px), free(ds->labels);
    memset(ds, 0, sizeof *ds);
}

static int colours_in(const cnnvis_image *im)
{
    unsigned char seen[8][3];
    int n = 0, j;
    size_t q;
    for (q = 0; q < (size_t)im->w * im->h && n < 8; q++) {
        const unsigned char *px = im->px + q * im->c;
        for (j = 0; j < n && memcmp(seen[j], px, 3) != 0; j++) continue;
        if (j == n) memcpy(seen[n++], px, 3);
    }
    return n;
}

/* The deconvnet top-k figure of a small top-3 (of every unit, and of the first two only),
   and the t-SNE picture of 12 images: both are made, are RGB, and are not one flat colour;
   t-SNE's is size x size. */
static void test_pictures(void)
{
    cnnvis_net *net = mixed_net(0, 0, 4);
    cnnvis_dataset ds;
    cnnvis_topk t;
    cnnvis_topk_desc td;
    cnnvis_image im;
    cnnvis_rng rng;
    float y[24];
    int images[12], i;
    REQUIRE(net, "net");
    cnnvis__rng_seed(&rng, 24);
    REQUIRE(make_dataset(&ds, 12, 3, 8, 8, &rng), "out of memory");
    memset(&td, 0, sizeof td);
    td.k = 3;
    REQUIRE(cnnvis_topk_compute(&t, net, "relu2", &ds, &td) == CNNVIS_OK, "%s", cnnvis_last_error());
    REQUIRE(cnnvis_topk_deconv_image(&im, net, &t, &ds, 4) == CNNVIS_OK, "%s", cnnvis_last_error());
    CHECK(im.c == 3 && im.w > 0 && im.h > 0 && im.px && colours_in(&im) >= 3, "top-k deconv image %dx%dx%d with %d colours", im.w,
          im.h, im.c, im.px ? colours_in(&im) : 0);
    cnnvis_image_free(&im);
    cnnvis_topk_free(&t);
    /* a top-k of only some of the units (max_units) is a top-k of this net all the same */
    td.max_units = 2;
    REQUIRE(cnnvis_topk_compute(&t, net, "relu2", &ds, &td) == CNNVIS_OK, "%s", cnnvis_last_error());
    CHECK(cnnvis_topk_deconv_image(&im, net, &t, &ds, 0) == CNNVIS_OK, "top-k of 2 of relu2's 6 units refused: %s",
          cnnvis_last_error());
    cnnvis_image_free(&im);
    cnnvis_topk_free(&t);

    for (i = 0; i < 12; i++) images[i] = i, y[2 * i] = (float)(i % 4), y[2 * i + 1] = (float)(i / 4);
    REQUIRE(cnnvis_tsne_image(&im, y, 12, &ds, images, 200) == CNNVIS_OK, "%s", cnnvis_last_error());
    CHECK(im.w == 200 && im.h == 200 && im.c == 3 && colours_in(&im) >= 3, "t-SNE image %dx%dx%d with %d colours", im.w, im.h, im.c,
          colours_in(&im));
    cnnvis_image_free(&im);
    dataset_release(&ds);
    cnnvis_net_free(net);
}

/* Codes are the layer's outputs, one row per image, as a forward pass of that image gives. */
static void test_net_codes(void)
{
    cnnvis_net *net = mixed_net(0, 0, 2); /* max_batch 2: 5 images take three batches */
    cnnvis_dataset ds;
    cnnvis_rng rng;
    float *codes;
    int li, i, bad = 0;
    size_t units;
    REQUIRE(net, "net");
    cnnvis__rng_seed(&rng, 25);
    REQUIRE(make_dataset(&ds, 8, 3, 8, 8, &rng), "out of memory");
    li = cnnvis_net_find(net, "relu2");
    units = (size_t)net->layers[li].out_c * net->layers[li].out_h * net->layers[li].out_w;
    codes = (float *)malloc(sizeof(float) * units * 5);
    REQUIRE(codes, "out of memory");
    REQUIRE(cnnvis_net_codes(codes, net, "relu2", &ds, 2, 5) == CNNVIS_OK, "%s", cnnvis_last_error());
    for (i = 0; i < 5; i++) {
        cnnvis_tensor x;
        REQUIRE(cnnvis_tensor_create(&x, 1, 3, 8, 8) == CNNVIS_OK, "tensor");
        REQUIRE(cnnvis__dataset_batch(&ds, 2 + i, 1, net, &x, NULL) == CNNVIS_OK && cnnvis_net_forward(net, &x) == CNNVIS_OK, "%s",
                cnnvis_last_error());
        bad += memcmp(codes + i * units, net->layers[li].out.data, sizeof(float) * units) != 0;
        cnnvis_tensor_free(&x);
    }
    CHECK(bad == 0, "%d of 5 code rows differ from a forward pass of their image", bad);
    expect_arg_error(cnnvis_net_codes(codes, net, "relu2", &ds, 6, 3), "net_codes(images 6..8 of 8)", "images");
    free(codes);
    dataset_release(&ds);
    cnnvis_net_free(net);
}

/* --- Bad arguments: a status and a message naming the argument -------------------------------- */

static void test_bad_layer_name(void)
{
    cnnvis_net *net = mixed_net(0, 0, 2);
    cnnvis_tensor p, out, img;
    cnnvis_saliency_desc sd;
    cnnvis_class_model_desc cd;
    cnnvis_deepdream_desc dd;
    cnnvis_dataset ds;
    cnnvis_rng rng;
    float codes[64];
    REQUIRE(net, "net");
    cnnvis__rng_seed(&rng, 26);
    REQUIRE(make_pixels(&p, net, &rng, 0, 1) && make_pixels(&img, net, &rng, 0, 1), "pixels");
    REQUIRE(make_dataset(&ds, 2, 3, 8, 8, &rng), "out of memory");
    expect_arg_error(cnnvis_deconv_project(&out, NULL, NULL, net, &p, "conv9", 0, CNNVIS_PROJECT_UNIT_MAX),
                     "deconv_project(\"conv9\")", "layer|conv9");
    CHECK(out.data == NULL, "out is not zeroed after a failure");
    expect_arg_error(cnnvis_deconv_project(&out, NULL, NULL, net, &p, NULL, 0, CNNVIS_PROJECT_UNIT_MAX),
                     "deconv_project(layer NULL)", "layer");
    expect_arg_error(cnnvis__gradcam(&out, net, &p, 0, "conv9"), "gradcam(\"conv9\")", "layer|conv9");
    memset(&sd, 0, sizeof sd);
    sd.cam_layer = "conv9";
    expect_arg_error(cnnvis_saliency(&out, net, &p, 0, CNNVIS_SALIENCY_GRADCAM, &sd), "saliency(cam_layer \"conv9\")",
                     "layer|cam_layer|conv9");
    memset(&cd, 0, sizeof cd);
    cd.layer = "conv9";
    expect_arg_error(cnnvis_class_model(&out, NULL, net, 0, &cd), "class_model(layer \"conv9\")", "layer|conv9");
    memset(&dd, 0, sizeof dd);
    dd.layer = "conv9";
    expect_arg_error(cnnvis_deepdream(&img, NULL, NULL, net, &dd), "deepdream(layer \"conv9\")", "layer|conv9");
    expect_arg_error(cnnvis_net_codes(codes, net, "conv9", &ds, 0, 1), "net_codes(\"conv9\")", "layer|conv9");
    dataset_release(&ds);
    cnnvis_tensor_free(&p), cnnvis_tensor_free(&img);
    cnnvis_net_free(net);
}

static void test_bad_unit(void)
{
    cnnvis_net *net = mixed_net(0, 0, 2);
    cnnvis_tensor p, out, map;
    cnnvis_class_model_desc cd;
    cnnvis_rng rng;
    REQUIRE(net, "net");
    cnnvis__rng_seed(&rng, 27);
    REQUIRE(make_pixels(&p, net, &rng, 0, 1), "pixels");
    expect_arg_error(cnnvis_deconv_project(&out, NULL, NULL, net, &p, "conv2", 6, CNNVIS_PROJECT_UNIT_MAX),
                     "deconv_project(unit 6 of 6)", "unit");
    expect_arg_error(cnnvis_deconv_project(&out, NULL, NULL, net, &p, "conv2", -1, CNNVIS_PROJECT_MAP),
                     "deconv_project(unit -1)", "unit");
    expect_arg_error(cnnvis_deconv_project(&out, NULL, NULL, net, &p, "conv2", 0, (cnnvis_project_mode)7),
                     "deconv_project(mode 7)", "mode");
    memset(&cd, 0, sizeof cd);
    cd.layer = "conv2", cd.unit = 6;
    expect_arg_error(cnnvis_class_model(&out, NULL, net, 0, &cd), "class_model(unit 6 of 6)", "unit");
    cd.unit = -1;
    expect_arg_error(cnnvis_class_model(&out, NULL, net, 0, &cd), "class_model(unit -1)", "unit");
    REQUIRE(cnnvis_tensor_create(&map, 1, 3, 8, 8) == CNNVIS_OK, "tensor");
    expect_arg_error(cnnvis_rf_crop(&out, net, "conv2", &map, 4, 0), "rf_crop(y 4 of 4)", "y|position");
    expect_arg_error(cnnvis_rf_crop(&out, net, "conv2", &map, 0, -1), "rf_crop(x -1)", "x|position");
    expect_arg_error(cnnvis_rf_crop(&out, net, "conv9", &map, 0, 0), "rf_crop(layer \"conv9\")", "layer");
    expect_arg_error(cnnvis_net_randomize_layer(net, "conv9", 0), "randomize_layer(\"conv9\")", "layer");
    expect_arg_error(cnnvis_net_randomize_layer(net, "relu1", 0), "randomize_layer(relu1)", "layer|weights");
    cnnvis_tensor_free(&map), cnnvis_tensor_free(&p);
    cnnvis_net_free(net);
}

static void test_bad_class(void)
{
    static const int classes[2] = {-1, 4};
    cnnvis_net *net = mixed_net(0, 0, 2);
    cnnvis_tensor p, out;
    cnnvis_rng rng;
    int k;
    REQUIRE(net, "net");
    cnnvis__rng_seed(&rng, 28);
    REQUIRE(make_pixels(&p, net, &rng, 0, 1), "pixels");
    for (k = 0; k < 2; k++) {
        char call[64];
        int m;
        for (m = 0; m < CNNVIS_SALIENCY_COUNT; m++) {
            snprintf(call, sizeof call, "saliency(%s, class %d of 4)", cnnvis_saliency_name((cnnvis_saliency_method)m), classes[k]);
            expect_arg_error(cnnvis_saliency(&out, net, &p, classes[k], (cnnvis_saliency_method)m, NULL), call, "class");
        }
        expect_arg_error(cnnvis__gradcam(&out, net, &p, classes[k], NULL), "gradcam(bad class)", "class");
        expect_arg_error(cnnvis__integrated_gradients(&out, net, &p, NULL, classes[k], 4, NULL, NULL),
                         "integrated_gradients(bad class)", "class");
        expect_arg_error(cnnvis_class_model(&out, NULL, net, classes[k], NULL), "class_model(bad class)", "class");
    }
    expect_arg_error(cnnvis_saliency(&out, net, &p, 0, CNNVIS_SALIENCY_COUNT, NULL), "saliency(method COUNT)", "method");
    cnnvis_tensor_free(&p);
    cnnvis_net_free(net);
}

static void test_bad_pixels(void)
{
    static const int shapes[4][4] = {{1, 3, 9, 8}, {1, 3, 8, 7}, {1, 1, 8, 8}, {2, 3, 8, 8}};
    cnnvis_net *net = mixed_net(0, 0, 2);
    cnnvis_tensor good, bad, out;
    cnnvis_rng rng;
    float scores[8]; /* (2, 4) */
    int s;
    REQUIRE(net, "net");
    cnnvis__rng_seed(&rng, 29);
    REQUIRE(make_pixels(&good, net, &rng, 0, 1), "pixels");
    for (s = 0; s < 4; s++) {
        char what[32];
        REQUIRE(cnnvis_tensor_create(&bad, shapes[s][0], shapes[s][1], shapes[s][2], shapes[s][3]) == CNNVIS_OK, "tensor");
        tensor_fill(&bad, 0.5f);
        snprintf(what, sizeof what, "(%d, %d, %d, %d)", shapes[s][0], shapes[s][1], shapes[s][2], shapes[s][3]);
        expect_arg_error(cnnvis_saliency(&out, net, &bad, 0, CNNVIS_SALIENCY_GRADIENT, NULL), what, "pixels");
        if (shapes[s][0] == 1) expect_arg_error(cnnvis_net_predict(scores, NULL, NULL, net, &bad), what, "pixels");
        else /* cnnvis_net_predict takes any number of images now: (2, 3, 8, 8) is two good ones */
            CHECK(cnnvis_net_predict(scores, NULL, NULL, net, &bad) == CNNVIS_OK, "net_predict%s: %s", what, cnnvis_last_error());
        expect_arg_error(cnnvis_deconv_project(&out, NULL, NULL, net, &bad, "conv1", 0, CNNVIS_PROJECT_MAP), what, "pixels");
        expect_arg_error(cnnvis__gradcam(&out, net, &bad, 0, NULL), what, "pixels");
        expect_arg_error(cnnvis__integrated_gradients(&out, net, &bad, NULL, 0, 4, NULL, NULL), what, "pixels");
        expect_arg_error(cnnvis__integrated_gradients(&out, net, &good, &bad, 0, 4, NULL, NULL), what, "baseline");
        {
            cnnvis_saliency_desc sd;
            memset(&sd, 0, sizeof sd);
            sd.ig_baseline = &bad;
            expect_arg_error(cnnvis_saliency(&out, net, &good, 0, CNNVIS_SALIENCY_INTEGRATED, &sd), what, "baseline|ig_baseline");
        }
        if (shapes[s][1] != 3 || shapes[s][0] != 1) /* smaller sizes are the next case */
            expect_arg_error(cnnvis_deepdream(&bad, NULL, NULL, net, NULL), what, "pixels");
        cnnvis_tensor_free(&bad);
    }
    REQUIRE(cnnvis_tensor_create(&bad, 1, 3, 8, 7) == CNNVIS_OK, "tensor");
    expect_arg_error(cnnvis_deepdream(&bad, NULL, NULL, net, NULL), "deepdream(8x7 < 8x8)", "pixels");
    cnnvis_tensor_free(&bad), cnnvis_tensor_free(&good);
    cnnvis_net_free(net);
}

static void test_null_pointers(void)
{
    cnnvis_net *net = mixed_net(0, 0, 2);
    cnnvis_tensor p, out, signal;
    cnnvis_dataset ds;
    cnnvis_topk t;
    cnnvis_topk_desc td;
    cnnvis_image im;
    cnnvis_rng rng;
    float y[4] = {0, 0, 1, 1}, x[20];
    int images[2] = {0, 1};
    REQUIRE(net, "net");
    cnnvis__rng_seed(&rng, 30);
    REQUIRE(make_pixels(&p, net, &rng, 0, 1), "pixels");
    REQUIRE(make_dataset(&ds, 2, 3, 8, 8, &rng), "out of memory");
    fill_uniform(x, 20, &rng, 0, 1);
    expect_arg_error(cnnvis_saliency(NULL, net, &p, 0, CNNVIS_SALIENCY_GRADIENT, NULL), "saliency(out NULL)", "out");
    expect_arg_error(cnnvis_saliency(&out, NULL, &p, 0, CNNVIS_SALIENCY_GRADIENT, NULL), "saliency(net NULL)", "net");
    expect_arg_error(cnnvis_saliency(&out, net, NULL, 0, CNNVIS_SALIENCY_GRADIENT, NULL), "saliency(pixels NULL)", "pixels");
    expect_arg_error(cnnvis_net_predict(NULL, NULL, NULL, NULL, &p), "net_predict(net NULL)", "net");
    expect_arg_error(cnnvis_net_predict(NULL, NULL, NULL, net, NULL), "net_predict(pixels NULL)", "pixels");
    expect_arg_error(cnnvis_deconv_project(NULL, NULL, NULL, net, &p, "conv1", 0, CNNVIS_PROJECT_MAP), "deconv_project(out NULL)",
                     "out");
    expect_arg_error(cnnvis_deconv_project(&out, NULL, NULL, NULL, &p, "conv1", 0, CNNVIS_PROJECT_MAP), "deconv_project(net NULL)",
                     "net");
    expect_arg_error(cnnvis_deconv_project(&out, NULL, NULL, net, NULL, "conv1", 0, CNNVIS_PROJECT_MAP),
                     "deconv_project(pixels NULL)", "pixels");
    expect_arg_error(cnnvis__gradcam(NULL, net, &p, 0, NULL), "gradcam(cam NULL)", "cam");
    expect_arg_error(cnnvis__gradcam(&out, NULL, &p, 0, NULL), "gradcam(net NULL)", "net");
    expect_arg_error(cnnvis__gradcam(&out, net, NULL, 0, NULL), "gradcam(pixels NULL)", "pixels");
    expect_arg_error(cnnvis__integrated_gradients(NULL, net, &p, NULL, 0, 4, NULL, NULL), "integrated_gradients(out NULL)", "out");
    expect_arg_error(cnnvis__integrated_gradients(&out, NULL, &p, NULL, 0, 4, NULL, NULL), "integrated_gradients(net NULL)", "net");
    expect_arg_error(cnnvis__integrated_gradients(&out, net, NULL, NULL, 0, 4, NULL, NULL), "integrated_gradients(pixels NULL)",
                     "pixels");
    expect_arg_error(cnnvis_class_model(NULL, NULL, net, 0, NULL), "class_model(pixels NULL)", "pixels");
    expect_arg_error(cnnvis_class_model(&out, NULL, NULL, 0, NULL), "class_model(net NULL)", "net");
    expect_arg_error(cnnvis_deepdream(NULL, NULL, NULL, net, NULL), "deepdream(pixels NULL)", "pixels");
    expect_arg_error(cnnvis_deepdream(&p, NULL, NULL, NULL, NULL), "deepdream(net NULL)", "net");
    expect_arg_error(cnnvis_saliency_map(NULL, &p), "saliency_map(map NULL)", "map");
    expect_arg_error(cnnvis_saliency_map(&out, NULL), "saliency_map(attribution NULL)", "attribution");
    expect_arg_error(cnnvis_rf_crop(NULL, net, "conv1", &p, 0, 0), "rf_crop(out NULL)", "out");
    expect_arg_error(cnnvis_rf_crop(&out, NULL, "conv1", &p, 0, 0), "rf_crop(net NULL)", "net");
    expect_arg_error(cnnvis_rf_crop(&out, net, "conv1", NULL, 0, 0), "rf_crop(map NULL)", "map");
    expect_arg_error(cnnvis_tsne(NULL, x, 2, 10, 1, 10, 0), "tsne(y NULL)", "y");
    expect_arg_error(cnnvis_tsne(y, NULL, 2, 10, 1, 10, 0), "tsne(x NULL)", "x");
    expect_arg_error(cnnvis_tsne_image(NULL, y, 2, &ds, images, 100), "tsne_image(out NULL)", "out");
    expect_arg_error(cnnvis_tsne_image(&im, NULL, 2, &ds, images, 100), "tsne_image(y NULL)", "y");
    expect_arg_error(cnnvis_tsne_image(&im, y, 2, &ds, NULL, 100), "tsne_image(images NULL)", "images");
    expect_arg_error(cnnvis_tsne_image(&im, y, 2, NULL, images, 100), "tsne_image(ds NULL)", "ds|data");
    expect_arg_error(cnnvis_net_randomize_layer(NULL, "conv1", 0), "randomize_layer(net NULL)", "net");
    expect_arg_error(cnnvis_net_codes(NULL, net, "conv1", &ds, 0, 1), "net_codes(codes NULL)", "codes");
    expect_arg_error(cnnvis_topk_deconv_image(&im, net, NULL, &ds, 0), "topk_deconv_image(t NULL)", "t");
    memset(&td, 0, sizeof td);
    td.k = 1;
    REQUIRE(cnnvis_topk_compute(&t, net, "conv1", &ds, &td) == CNNVIS_OK, "%s", cnnvis_last_error());
    expect_arg_error(cnnvis_topk_deconv_image(NULL, net, &t, &ds, 0), "topk_deconv_image(out NULL)", "out");
    expect_arg_error(cnnvis_topk_deconv_image(&im, NULL, &t, &ds, 0), "topk_deconv_image(net NULL)", "net");
    expect_arg_error(cnnvis_topk_deconv_image(&im, net, &t, NULL, 0), "topk_deconv_image(ds NULL)", "ds|data");
    cnnvis_topk_free(&t);

    /* project_signal: signal NULL, a signal of the wrong shape */
    REQUIRE(cnnvis_net_predict(NULL, NULL, NULL, net, &p) == CNNVIS_OK, "%s", cnnvis_last_error());
    REQUIRE(cnnvis_tensor_create(&signal, 1, 4, 4, 4) == CNNVIS_OK, "tensor"); /* pool1 is (4, 4, 4); conv1 is (4, 8, 8) */
    expect_arg_error(cnnvis__project_signal(&out, net, 2, NULL, CNNVIS_RELU_DECONVNET), "project_signal(signal NULL)", "signal");
    expect_arg_error(cnnvis__project_signal(&out, net, 0, &signal, CNNVIS_RELU_DECONVNET),
                     "project_signal(signal of pool1's shape at conv1)", "signal");
    cnnvis_tensor_free(&signal);
    dataset_release(&ds);
    cnnvis_tensor_free(&p);
    cnnvis_net_free(net);
}

static void test_bad_occlusion_and_steps(void)
{
    cnnvis_net *net = mixed_net(0, 0, 2);
    cnnvis_tensor p, out;
    cnnvis_saliency_desc sd;
    cnnvis_class_model_desc cd;
    cnnvis_deepdream_desc dd;
    cnnvis_rng rng;
    REQUIRE(net, "net");
    cnnvis__rng_seed(&rng, 31);
    REQUIRE(make_pixels(&p, net, &rng, 0, 1), "pixels");
    memset(&sd, 0, sizeof sd);
    sd.occlusion_size = -2;
    expect_arg_error(cnnvis_saliency(&out, net, &p, 0, CNNVIS_SALIENCY_OCCLUSION, &sd), "occlusion_size -2", "occlusion_size");
    sd.occlusion_size = 9;
    expect_arg_error(cnnvis_saliency(&out, net, &p, 0, CNNVIS_SALIENCY_OCCLUSION, &sd), "occlusion_size 9 > 8", "occlusion_size");
    sd.occlusion_size = 2, sd.occlusion_stride = -1;
    expect_arg_error(cnnvis_saliency(&out, net, &p, 0, CNNVIS_SALIENCY_OCCLUSION, &sd), "occlusion_stride -1", "occlusion_stride");
    memset(&sd, 0, sizeof sd);
    sd.smooth_n = -3;
    expect_arg_error(cnnvis_saliency(&out, net, &p, 0, CNNVIS_SALIENCY_SMOOTHGRAD, &sd), "smooth_n -3", "smooth_n");
    sd.smooth_n = 0, sd.smooth_sigma = -0.1f;
    expect_arg_error(cnnvis_saliency(&out, net, &p, 0, CNNVIS_SALIENCY_SMOOTHGRAD, &sd), "smooth_sigma -0.1", "smooth_sigma");
    memset(&sd, 0, sizeof sd);
    sd.ig_steps = -1;
    expect_arg_error(cnnvis_saliency(&out, net, &p, 0, CNNVIS_SALIENCY_INTEGRATED, &sd), "ig_steps -1", "steps|ig_steps");
    expect_arg_error(cnnvis__integrated_gradients(&out, net, &p, NULL, 0, -1, NULL, NULL), "integrated_gradients(steps -1)",
                     "steps");
    expect_arg_error(cnnvis__integrated_gradients(&out, net, &p, NULL, 0, (1 << 20) + 1, NULL, NULL),
                     "integrated_gradients(steps 2^20 + 1)", "steps");
    memset(&cd, 0, sizeof cd);
    cd.steps = -5;
    expect_arg_error(cnnvis_class_model(&out, NULL, net, 0, &cd), "class_model(steps -5)", "steps");
    memset(&dd, 0, sizeof dd);
    dd.steps = -1;
    expect_arg_error(cnnvis_deepdream(&p, NULL, NULL, net, &dd), "deepdream(steps -1)", "steps");
    dd.steps = 0, dd.octaves = 65;
    expect_arg_error(cnnvis_deepdream(&p, NULL, NULL, net, &dd), "deepdream(octaves 65)", "octaves");
    cnnvis_tensor_free(&p);
    cnnvis_net_free(net);
}

static void test_bad_dream_channel(void)
{
    static const int channels[2] = {6, -1}; /* relu2, the default layer, has 6 */
    cnnvis_net *net = mixed_net(0, 0, 2);
    cnnvis_tensor p;
    cnnvis_deepdream_desc dd;
    cnnvis_rng rng;
    int k;
    REQUIRE(net, "net");
    cnnvis__rng_seed(&rng, 32);
    REQUIRE(make_pixels(&p, net, &rng, 0, 1), "pixels");
    for (k = 0; k < 2; k++) {
        memset(&dd, 0, sizeof dd);
        dd.one_channel = 1, dd.channel = channels[k];
        expect_arg_error(cnnvis_deepdream(&p, NULL, NULL, net, &dd), "deepdream(bad channel)", "channel");
        dd.layer = "conv1", dd.channel = channels[k] == 6 ? 4 : -1;
        expect_arg_error(cnnvis_deepdream(&p, NULL, NULL, net, &dd), "deepdream(conv1, bad channel)", "channel");
    }
    cnnvis_tensor_free(&p);
    cnnvis_net_free(net);
}

static void test_bad_tsne(void)
{
    float x[40], y[40];
    cnnvis_rng rng;
    cnnvis__rng_seed(&rng, 33);
    fill_uniform(x, 40, &rng, 0, 1);
    expect_arg_error(cnnvis_tsne(y, x, 1, 4, 1, 10, 0), "tsne(n 1)", "n");
    expect_arg_error(cnnvis_tsne(y, x, 0, 4, 1, 10, 0), "tsne(n 0)", "n");
    expect_arg_error(cnnvis_tsne(y, x, -3, 4, 1, 10, 0), "tsne(n -3)", "n");
    expect_arg_error(cnnvis_tsne(y, x, 10, 4, 10, 10, 0), "tsne(perplexity 10 = n)", "perplexity");
    expect_arg_error(cnnvis_tsne(y, x, 10, 4, 25, 10, 0), "tsne(perplexity 25 > n)", "perplexity");
    expect_arg_error(cnnvis_tsne(y, x, 10, 4, 0, 10, 0), "tsne(default perplexity 30 > n)", "perplexity");
    expect_arg_error(cnnvis_tsne(y, x, 10, 0, 3, 10, 0), "tsne(dim 0)", "dim");
    expect_arg_error(cnnvis_tsne(y, x, 10, 4, 3, -1, 0), "tsne(iterations -1)", "iterations");
}

int main(void)
{
    RUN(test_gradient_finite_differences);
    RUN(test_relu_rules_by_hand);
    RUN(test_rules_agree_without_relu);
    RUN(test_threads_identical);
    RUN(test_unpooling_switches);
    RUN(test_deconv_project);
    RUN(test_rf_crop);
    RUN(test_integrated_gradients);
    RUN(test_gradcam);
    RUN(test_input_invariance);
    RUN(test_occlusion);
    RUN(test_smoothgrad);
    RUN(test_saliency_map);
    RUN(test_class_model);
    RUN(test_deepdream);
    RUN(test_tsne);
    RUN(test_randomize_layer);
    RUN(test_pictures);
    RUN(test_net_codes);
    RUN(test_bad_layer_name);
    RUN(test_bad_unit);
    RUN(test_bad_class);
    RUN(test_bad_pixels);
    RUN(test_null_pointers);
    RUN(test_bad_occlusion_and_steps);
    RUN(test_bad_dream_channel);
    RUN(test_bad_tsne);
    return SUMMARY();
}
