/* test_adversarial.c - section 5, "adversarial noise", against definitions computed here:
     - every adversarial image is in [0, 1] and within its budget (L-inf or L2), for FGSM
       and PGD, with and without a random start, targeted or not;
     - FGSM moves each pixel by the sign of a central-difference gradient of the loss;
     - PGD with one step of size eps and no random start is FGSM;
     - no labels attacks the net's own classes;
     - the box-constrained L-BFGS core reaches the known minimiser of a convex quadratic
       on a box (some coordinates at a bound, some inside) and of an unbounded one;
     - targeted PGD and L-BFGS end at the target class; a fooling image reaches its
       confidence; the robustness curve, the transfer rate, adversarial training and the
       picture work on a tiny net;
     - bad arguments get a status and a message naming them.
   Images are pixels in [0, 1]; the nets normalise them with a mean and std that are not 0
   and 1, so that a forgotten chain-rule factor 1/std shows. */
#include <stdlib.h>

#define CNNVIS_IMPLEMENTATION
#include "cnnvis.h"
#include "minitest.h"

/* --- Helpers ---------------------------------------------------------------------------- */

static const float test_mean[3] = {0.4f, 0.5f, 0.6f}, test_std[3] = {0.2f, 0.25f, 0.3f};

static void fill_uniform(float *v, size_t n, cnnvis_rng *rng, float lo, float hi)
{
    size_t i;
    for (i = 0; i < n; i++) v[i] = lo + (hi - lo) * cnnvis__rng_uniform(rng);
}

/* A tiny conv net on 3x8x8 images with 4 classes and drawn biases; weights scaled by `gain`
   so that its scores spread enough for a confident answer. */
static cnnvis_net *tiny_net(int max_batch, uint64_t seed, float gain)
{
    cnnvis_net_desc d;
    cnnvis_net *net = NULL;
    cnnvis_rng rng;
    int ch, i;
    size_t j;
    cnnvis_net_desc_init(&d, 3, 8, 8);
    for (ch = 0; ch < 3; ch++) d.mean[ch] = test_mean[ch], d.std[ch] = test_std[ch];
    cnnvis_net_desc_conv(&d, "conv1", 4, 3, 1, 1, 1);
    cnnvis_net_desc_relu(&d, "relu1");
    cnnvis_net_desc_maxpool(&d, "pool1", 2, 2, 0);
    cnnvis_net_desc_fc(&d, "fc", 4);
    d.max_batch = max_batch, d.n_threads = 2, d.seed = seed;
    if (cnnvis_net_create(&net, &d) != CNNVIS_OK) {
        printf("  create: %s\n", cnnvis_last_error());
        return NULL;
    }
    cnnvis__rng_seed(&rng, seed + 1);
    for (i = 0; i < net->n_layers; i++) {
        cnnvis_layer *L = &net->layers[i];
        for (j = 0; j < L->n_w; j++) L->w[j] *= gain;
        if (L->n_b) fill_uniform(L->b, L->n_b, &rng, -0.1f, 0.1f);
    }
    return net;
}

/* n images of pixels, some pixels at 0 and 1 exactly (where the box binds). */
static int make_images(cnnvis_tensor *p, int n, cnnvis_rng *rng)
{
    size_t q;
    if (cnnvis_tensor_create(p, n, 3, 8, 8) != CNNVIS_OK) return 0;
    fill_uniform(p->data, cnnvis_tensor_count(p), rng, 0.0f, 1.0f);
    for (q = 0; q < cnnvis_tensor_count(p); q += 7) p->data[q] = (q / 7) % 2 ? 1.0f : 0.0f;
    return 1;
}

static int make_dataset(cnnvis_dataset *ds, int n, cnnvis_rng *rng)
{
    size_t i;
    memset(ds, 0, sizeof *ds);
    ds->px = (unsigned char *)calloc((size_t)n * 3 * 8 * 8 + 1, 1);
    ds->labels = (int32_t *)calloc((size_t)n + 1, sizeof(int32_t));
    if (!ds->px || !ds->labels) return 0;
    ds->n = n, ds->c = 3, ds->h = 8, ds->w = 8, ds->n_classes = 4;
    for (i = 0; i < (size_t)n * 3 * 8 * 8; i++) ds->px[i] = (unsigned char)cnnvis__rng_below(rng, 256);
    for (i = 0; i < (size_t)n; i++) ds->labels[i] = (int32_t)(i % 4);
    return 1;
}

static void dataset_release(cnnvis_dataset *ds)
{
    free(ds->px), free(ds->labels);
    memset(ds, 0, sizeof *ds);
}

/* The cross-entropy J(x, label) of one image of pixels, through the public API. */
static double loss_of(cnnvis_net *net, const float *pixels, int label)
{
    cnnvis_tensor x;
    float probs[4];
    x.n = 1, x.c = 3, x.h = 8, x.w = 8, x.data = (float *)pixels;
    cnnvis_net_predict(NULL, probs, NULL, net, &x);
    return -log((double)probs[label]);
}

/* The message of the last failure names `what`. */
static int names(const char *what)
{
    if (strstr(cnnvis_last_error(), what)) return 1;
    printf("  message '%s' does not name '%s'\n", cnnvis_last_error(), what);
    return 0;
}

/* --- Budgets ------------------------------------------------------------------------------ */

static void test_budget_and_box(void)
{
    cnnvis_net *net = tiny_net(4, 5, 1.0f);
    cnnvis_tensor px, adv;
    cnnvis_rng rng;
    int32_t labels[6] = {0, 1, 2, 3, 0, 1};
    int method, norm, start, targeted, i;
    REQUIRE(net, "net");
    cnnvis__rng_seed(&rng, 11);
    REQUIRE(make_images(&px, 6, &rng), "images");
    for (method = CNNVIS_ATTACK_FGSM; method <= CNNVIS_ATTACK_PGD; method++)
        for (norm = CNNVIS_NORM_LINF; norm <= CNNVIS_NORM_L2; norm++)
            for (start = 0; start < 2; start++)
                for (targeted = 0; targeted < 2; targeted++) {
                    cnnvis_attack_desc d;
                    float eps = norm == CNNVIS_NORM_LINF ? 0.05f : 0.7f;
                    memset(&d, 0, sizeof d);
                    d.method = (cnnvis_attack_method)method, d.norm = (cnnvis_norm)norm, d.eps = eps;
                    d.steps = 7, d.random_start = start, d.targeted = targeted, d.target = 2, d.seed = 9;
                    REQUIRE(cnnvis_attack(&adv, NULL, NULL, net, &px, labels, &d) == CNNVIS_OK, "%s", cnnvis_last_error());
                    for (i = 0; i < px.n; i++) {
                        const float *p = px.data + (size_t)i * 192, *a = adv.data + (size_t)i * 192;
                        double linf = 0, l2 = 0;
                        int q, in_box = 1;
                        for (q = 0; q < 192; q++) {
                            double r = (double)a[q] - p[q];
                            in_box &= a[q] >= 0.0f && a[q] <= 1.0f;
                            linf = fabs(r) > linf ? fabs(r) : linf, l2 += r * r;
                        }
                        l2 = sqrt(l2);
                        CHECK(in_box, "method %d norm %d start %d targeted %d image %d leaves [0, 1]", method, norm, start,
                              targeted, i);
                        /* float rounding of x + eps and of the rescaling: a few ulps */
                        if (norm == CNNVIS_NORM_LINF) CHECK(linf <= eps * (1 + 1e-6), "image %d: |r|_inf %.9g > eps %.9g", i, linf, eps);
                        else CHECK(l2 <= eps * (1 + 1e-6), "image %d: |r|_2 %.9g > eps %.9g", i, l2, eps);
                        if (method == CNNVIS_ATTACK_FGSM && norm == CNNVIS_NORM_LINF)
                            CHECK(linf > 0.99 * eps, "image %d: FGSM moved by %g, not eps", i, linf);
                    }
                    cnnvis_tensor_free(&adv);
                }
    cnnvis_tensor_free(&px);
    cnnvis_net_free(net);
}

/* FGSM moves pixel q by eps * sign(dJ/dx_q): compare with central differences of J. */
static void test_fgsm_sign_of_finite_differences(void)
{
    cnnvis_net *net = tiny_net(1, 21, 1.0f);
    cnnvis_tensor px, adv;
    cnnvis_attack_desc d;
    cnnvis_rng rng;
    int32_t label = 1;
    double fd[192], biggest = 0;
    int q, checked = 0, agree = 0;
    const double h = 1e-3;
    REQUIRE(net, "net");
    cnnvis__rng_seed(&rng, 4);
    REQUIRE(cnnvis_tensor_create(&px, 1, 3, 8, 8) == CNNVIS_OK, "px");
    fill_uniform(px.data, 192, &rng, 0.2f, 0.8f); /* away from the box's walls */
    for (q = 0; q < 192; q++) {
        float keep = px.data[q];
        double up, down;
        px.data[q] = keep + (float)h, up = loss_of(net, px.data, label);
        px.data[q] = keep - (float)h, down = loss_of(net, px.data, label);
        px.data[q] = keep;
        fd[q] = (up - down) / (2 * h);
        biggest = fabs(fd[q]) > biggest ? fabs(fd[q]) : biggest;
    }
    REQUIRE(biggest > 1e-3, "the loss does not depend on the pixels (max |dJ/dx| %g)", biggest);
    memset(&d, 0, sizeof d);
    d.method = CNNVIS_ATTACK_FGSM, d.eps = 0.01f;
    REQUIRE(cnnvis_attack(&adv, NULL, NULL, net, &px, &label, &d) == CNNVIS_OK, "%s", cnnvis_last_error());
    for (q = 0; q < 192; q++) {
        double step = (double)adv.data[q] - px.data[q];
        if (fabs(fd[q]) < 1e-2 * biggest) continue; /* too small for a finite difference to sign */
        checked++;
        agree += (step > 0) == (fd[q] > 0) && fabs(fabs(step) - 0.01) < 1e-6;
    }
    CHECK(checked > 50, "only %d pixels with a clear gradient", checked);
    CHECK(agree == checked, "%d of %d pixels moved by eps * sign(dJ/dx)", agree, checked);
    /* targeted: the step descends J(x, target) instead */
    cnnvis_tensor_free(&adv);
    d.targeted = 1, d.target = label;
    REQUIRE(cnnvis_attack(&adv, NULL, NULL, net, &px, &label, &d) == CNNVIS_OK, "%s", cnnvis_last_error());
    for (q = 0, agree = 0; q < 192; q++)
        if (fabs(fd[q]) >= 1e-2 * biggest) agree += ((double)adv.data[q] - px.data[q] < 0) == (fd[q] > 0);
    CHECK(agree == checked, "targeted: %d of %d pixels moved against the gradient", agree, checked);
    CHECK(loss_of(net, adv.data, label) < loss_of(net, px.data, label), "targeted FGSM did not lower J(x, target)");
    cnnvis_tensor_free(&adv), cnnvis_tensor_free(&px);
    cnnvis_net_free(net);
}

static void test_pgd_one_step_is_fgsm(void)
{
    cnnvis_net *net = tiny_net(4, 8, 1.0f);
    cnnvis_tensor px, a, b;
    cnnvis_rng rng;
    int32_t labels[5] = {3, 2, 1, 0, 3};
    int norm, targeted;
    REQUIRE(net, "net");
    cnnvis__rng_seed(&rng, 12);
    REQUIRE(make_images(&px, 5, &rng), "images");
    for (norm = CNNVIS_NORM_LINF; norm <= CNNVIS_NORM_L2; norm++)
        for (targeted = 0; targeted < 2; targeted++) {
            cnnvis_attack_desc d;
            memset(&d, 0, sizeof d);
            d.norm = (cnnvis_norm)norm, d.eps = norm == CNNVIS_NORM_LINF ? 0.03f : 0.5f, d.targeted = targeted, d.target = 1;
            d.method = CNNVIS_ATTACK_FGSM;
            REQUIRE(cnnvis_attack(&a, NULL, NULL, net, &px, labels, &d) == CNNVIS_OK, "%s", cnnvis_last_error());
            d.method = CNNVIS_ATTACK_PGD, d.steps = 1, d.step = d.eps, d.random_start = 0;
            REQUIRE(cnnvis_attack(&b, NULL, NULL, net, &px, labels, &d) == CNNVIS_OK, "%s", cnnvis_last_error());
            CHECK(memcmp(a.data, b.data, sizeof(float) * cnnvis_tensor_count(&a)) == 0,
                  "norm %d targeted %d: one PGD step differs from FGSM", norm, targeted);
            cnnvis_tensor_free(&a), cnnvis_tensor_free(&b);
        }
    cnnvis_tensor_free(&px);
    cnnvis_net_free(net);
}

/* labels NULL attacks each image's own class as the net gives it: the same images, bit for
   bit, as with those classes passed (FGSM and PGD find them in their first forward pass;
   PGD with a random start classifies first, as its first pass is not at the image). 7
   images on a net of max_batch 4: two batches. */
static void test_own_labels(void)
{
    cnnvis_net *net = tiny_net(4, 8, 3.0f);
    cnnvis_tensor px, a, b;
    cnnvis_rng rng;
    int32_t own[7];
    int method, start;
    REQUIRE(net, "net");
    cnnvis__rng_seed(&rng, 14);
    REQUIRE(make_images(&px, 7, &rng), "images");
    REQUIRE(cnnvis_net_predict(NULL, NULL, own, net, &px) == CNNVIS_OK, "%s", cnnvis_last_error());
    for (method = CNNVIS_ATTACK_FGSM; method <= CNNVIS_ATTACK_PGD; method++)
        for (start = 0; start < 2; start++) {
            cnnvis_attack_desc d;
            memset(&d, 0, sizeof d);
            d.method = (cnnvis_attack_method)method, d.eps = 0.05f, d.steps = 3, d.random_start = start, d.seed = 5;
            REQUIRE(cnnvis_attack(&a, NULL, NULL, net, &px, NULL, &d) == CNNVIS_OK, "%s", cnnvis_last_error());
            REQUIRE(cnnvis_attack(&b, NULL, NULL, net, &px, own, &d) == CNNVIS_OK, "%s", cnnvis_last_error());
            CHECK(memcmp(a.data, b.data, sizeof(float) * cnnvis_tensor_count(&a)) == 0,
                  "method %d random start %d: no labels differs from the net's own classes", method, start);
            cnnvis_tensor_free(&a), cnnvis_tensor_free(&b);
        }
    cnnvis_tensor_free(&px);
    cnnvis_net_free(net);
}

/* --- The L-BFGS core ---------------------------------------------------------------------- */

#define QN 8
typedef struct quadratic {
    double A[QN][QN], b[QN];
    int evaluations;
} quadratic;

/* f(x) = 1/2 x'Ax - b'x, gradient Ax - b */
static double quadratic_f(const float *x, float *grad, int n, void *user)
{
    quadratic *Q = (quadratic *)user;
    double f = 0;
    int i, j;
    Q->evaluations++;
    for (i = 0; i < n; i++) {
        double ax = 0;
        for (j = 0; j < n; j++) ax += Q->A[i][j] * x[j];
        grad[i] = (float)(ax - Q->b[i]);
        f += 0.5 * x[i] * ax - Q->b[i] * x[i];
    }
    return f;
}

/* A = B'B + I (convex, condition ~ 10-50). The box [0, 1]^n's minimiser x* is chosen
   first: coordinates 0-2 at the lower bound with gradient +0.5, 3-4 at the upper bound with
   gradient -0.5, the rest inside with gradient 0 (the KKT conditions), and b = Ax* - g*. A
   strictly convex f has no other minimiser on the box. */
static void test_lbfgs_box_quadratic(void)
{
    static const double star[QN] = {0, 0, 0, 1, 1, 0.3, 0.55, 0.8};
    static const double g_star[QN] = {0.5, 0.5, 0.5, -0.5, -0.5, 0, 0, 0};
    quadratic Q;
    cnnvis_rng rng;
    double B[QN][QN], fx;
    float x[QN], lower[QN], upper[QN];
    int i, j, k, iters;
    memset(&Q, 0, sizeof Q);
    cnnvis__rng_seed(&rng, 31);
    for (i = 0; i < QN; i++)
        for (j = 0; j < QN; j++) B[i][j] = 2.0 * cnnvis__rng_uniform(&rng) - 1.0;
    for (i = 0; i < QN; i++)
        for (j = 0; j < QN; j++) {
            for (k = 0; k < QN; k++) Q.A[i][j] += B[k][i] * B[k][j];
            Q.A[i][j] += i == j ? 1.0 : 0.0;
        }
    for (i = 0; i < QN; i++) {
        double ax = 0;
        for (j = 0; j < QN; j++) ax += Q.A[i][j] * star[j];
        Q.b[i] = ax - g_star[i];
        x[i] = 0.5f, lower[i] = 0.0f, upper[i] = 1.0f;
    }
    REQUIRE(cnnvis__lbfgs_box(x, QN, lower, upper, quadratic_f, &Q, NULL, &fx, &iters) == CNNVIS_OK, "%s",
            cnnvis_last_error());
    for (i = 0; i < QN; i++) CHECK(fabs(x[i] - star[i]) < 1e-4, "x[%d] = %.6f, the minimiser has %.6f", i, x[i], star[i]);
    CHECK(iters < 100, "took %d iterations", iters);
    printf("  box quadratic: %d iterations, %d evaluations\n", iters, Q.evaluations);
    /* unbounded: the minimiser of the same f is A^-1 b; check Ax = b instead */
    for (i = 0; i < QN; i++) x[i] = 0;
    REQUIRE(cnnvis__lbfgs_box(x, QN, NULL, NULL, quadratic_f, &Q, NULL, &fx, &iters) == CNNVIS_OK, "%s", cnnvis_last_error());
    for (i = 0; i < QN; i++) {
        double ax = 0;
        for (j = 0; j < QN; j++) ax += Q.A[i][j] * x[j];
        CHECK(fabs(ax - Q.b[i]) < 1e-4, "unbounded: (Ax - b)[%d] = %g", i, ax - Q.b[i]);
    }
}

/* --- Targeted attacks, fooling images, curves, transfer, training, the picture ------------- */

static void test_targeted_reach_target(void)
{
    cnnvis_net *net = tiny_net(4, 14, 3.0f);
    cnnvis_tensor px, adv;
    cnnvis_rng rng;
    int32_t labels[3] = {0, 1, 2}, predicted[3];
    int target, i;
    REQUIRE(net, "net");
    cnnvis__rng_seed(&rng, 2);
    REQUIRE(make_images(&px, 3, &rng), "images");
    for (target = 0; target < 4; target++) {
        cnnvis_attack_desc d;
        memset(&d, 0, sizeof d);
        d.method = CNNVIS_ATTACK_PGD, d.eps = 0.5f, d.steps = 40, d.step = 0.02f, d.targeted = 1, d.target = target;
        REQUIRE(cnnvis_attack(&adv, predicted, NULL, net, &px, labels, &d) == CNNVIS_OK, "%s", cnnvis_last_error());
        for (i = 0; i < 3; i++) CHECK(predicted[i] == target, "PGD image %d ends at class %d, not %d", i, predicted[i], target);
        cnnvis_tensor_free(&adv);
        d.method = CNNVIS_ATTACK_LBFGS, d.c_search = 4, d.lbfgs_iters = 30;
        REQUIRE(cnnvis_attack(&adv, predicted, NULL, net, &px, labels, &d) == CNNVIS_OK, "%s", cnnvis_last_error());
        for (i = 0; i < 3; i++) {
            size_t q;
            int in_box = 1;
            CHECK(predicted[i] == target, "L-BFGS image %d ends at class %d, not %d", i, predicted[i], target);
            for (q = 0; q < 192; q++) in_box &= adv.data[i * 192 + q] >= 0.0f && adv.data[i * 192 + q] <= 1.0f;
            CHECK(in_box, "L-BFGS image %d leaves [0, 1]", i);
        }
        cnnvis_tensor_free(&adv);
    }
    cnnvis_tensor_free(&px);
    cnnvis_net_free(net);
}

static void test_fooling_image(void)
{
    cnnvis_net *net = tiny_net(1, 17, 3.0f);
    cnnvis_tensor px;
    cnnvis_fooling_desc d;
    float p, probs[4];
    int steps, cls;
    size_t q;
    REQUIRE(net, "net");
    memset(&d, 0, sizeof d);
    d.step = 0.02f;
    for (cls = 0; cls < 4; cls++) {
        REQUIRE(cnnvis_fooling_image(&px, &p, &steps, net, cls, &d) == CNNVIS_OK, "%s", cnnvis_last_error());
        CHECK(p >= 0.99f, "class %d: p %.4f after %d steps", cls, p, steps);
        cnnvis_net_predict(NULL, probs, NULL, net, &px);
        CHECK(fabsf(probs[cls] - p) < 1e-5f, "class %d: reported p %g, the net says %g", cls, p, probs[cls]);
        for (q = 0; q < cnnvis_tensor_count(&px); q++) CHECK(px.data[q] >= 0 && px.data[q] <= 1, "pixel %d", (int)q);
        cnnvis_tensor_free(&px);
    }
    cnnvis_net_free(net);
}

static void test_curve_and_transfer(void)
{
    cnnvis_net *net = tiny_net(4, 23, 3.0f);
    cnnvis_dataset ds;
    cnnvis_attack_desc d;
    cnnvis_rng rng;
    cnnvis_eval ev;
    float eps[3] = {0, 0.05f, 0.5f}, acc[3], conf[3], rate, fooled;
    REQUIRE(net, "net");
    cnnvis__rng_seed(&rng, 5);
    REQUIRE(make_dataset(&ds, 10, &rng), "data set");
    memset(&d, 0, sizeof d);
    d.method = CNNVIS_ATTACK_PGD, d.steps = 10;
    REQUIRE(cnnvis_robustness_curve(acc, conf, net, &ds, 0, &d, eps, 3, 0) == CNNVIS_OK, "%s", cnnvis_last_error());
    REQUIRE(cnnvis_net_evaluate(&ev, net, &ds) == CNNVIS_OK, "%s", cnnvis_last_error());
    CHECK(fabsf(acc[0] - ev.accuracy) < 1e-6f, "eps 0: accuracy %g, evaluate says %g", acc[0], ev.accuracy);
    CHECK(acc[2] == 0.0f, "PGD with eps 0.5 left accuracy %g", acc[2]);
    CHECK(conf[0] > 0.25f && conf[0] <= 1.0f, "mean confidence %g", conf[0]);
    cnnvis_eval_free(&ev);
    { /* the FGSM curve (one gradient per batch for all eps) against cnnvis_attack at one eps */
        cnnvis_tensor px, adv;
        int32_t predicted[10];
        int i, correct = 0;
        d.method = CNNVIS_ATTACK_FGSM;
        REQUIRE(cnnvis_robustness_curve(acc, NULL, net, &ds, 0, &d, eps, 3, 0) == CNNVIS_OK, "%s", cnnvis_last_error());
        REQUIRE(cnnvis_tensor_create(&px, 10, 3, 8, 8) == CNNVIS_OK, "px");
        for (i = 0; i < 10 * 192; i++) px.data[i] = ds.px[i] / 255.0f;
        d.eps = eps[1];
        REQUIRE(cnnvis_attack(&adv, predicted, NULL, net, &px, ds.labels, &d) == CNNVIS_OK, "%s", cnnvis_last_error());
        for (i = 0; i < 10; i++) correct += predicted[i] == ds.labels[i];
        CHECK(fabsf(acc[1] - correct / 10.0f) < 1e-6f, "FGSM curve %g, cnnvis_attack %g", acc[1], correct / 10.0f);
        cnnvis_tensor_free(&px), cnnvis_tensor_free(&adv);
        d.method = CNNVIS_ATTACK_PGD;
    }
    /* a net's adversarial images always transfer to the same net */
    d.eps = 0.5f;
    REQUIRE(cnnvis_transfer_rate(&rate, &fooled, net, net, &ds, 0, &d) == CNNVIS_OK, "%s", cnnvis_last_error());
    CHECK(fooled > 0, "nothing fooled the source");
    CHECK(rate == 1.0f, "transfer to itself %g", rate);
    dataset_release(&ds);
    cnnvis_net_free(net);
}

static void test_adversarial_training(void)
{
    cnnvis_net *a = tiny_net(8, 3, 1.0f), *b = tiny_net(8, 3, 1.0f);
    cnnvis_dataset ds;
    cnnvis_train_desc t;
    cnnvis_attack_desc d;
    cnnvis_rng rng;
    int i, differ = 0;
    REQUIRE(a && b, "nets");
    cnnvis__rng_seed(&rng, 6);
    REQUIRE(make_dataset(&ds, 16, &rng), "data set");
    memset(&t, 0, sizeof t);
    t.epochs = 1, t.batch = 8, t.progress = -1;
    REQUIRE(cnnvis_net_train(a, &ds, NULL, &t) == CNNVIS_OK, "%s", cnnvis_last_error());
    memset(&d, 0, sizeof d);
    d.method = CNNVIS_ATTACK_PGD, d.steps = 3, d.random_start = 1;
    t.adversarial = &d;
    REQUIRE(cnnvis_net_train(b, &ds, NULL, &t) == CNNVIS_OK, "%s", cnnvis_last_error());
    for (i = 0; i < a->n_layers; i++)
        if (a->layers[i].n_w) differ |= memcmp(a->layers[i].w, b->layers[i].w, sizeof(float) * a->layers[i].n_w) != 0;
    CHECK(differ, "adversarial training changed nothing");
    dataset_release(&ds);
    cnnvis_net_free(a), cnnvis_net_free(b);
}

static void test_picture(void)
{
    cnnvis_net *net = tiny_net(4, 2, 1.0f);
    cnnvis_tensor px, adv;
    cnnvis_image im;
    cnnvis_rng rng;
    cnnvis_attack_desc d;
    REQUIRE(net, "net");
    cnnvis__rng_seed(&rng, 3);
    REQUIRE(make_images(&px, 2, &rng), "images");
    memset(&d, 0, sizeof d);
    REQUIRE(cnnvis_attack(&adv, NULL, NULL, net, &px, NULL, &d) == CNNVIS_OK, "%s", cnnvis_last_error());
    REQUIRE(cnnvis_adversarial_image(&im, net, &px, &adv, 4, "FGSM") == CNNVIS_OK, "%s", cnnvis_last_error());
    CHECK(im.c == 3 && im.w >= 3 * 32 && im.h >= 2 * 32, "picture %dx%dx%d", im.w, im.h, im.c);
    cnnvis_image_free(&im), cnnvis_tensor_free(&adv), cnnvis_tensor_free(&px);
    cnnvis_net_free(net);
}

/* --- Bad arguments -------------------------------------------------------------------------- */

static cnnvis_result attack_with(cnnvis_net *net, const cnnvis_tensor *px, const int32_t *labels, const cnnvis_attack_desc *d)
{
    cnnvis_tensor adv;
    cnnvis_result r = cnnvis_attack(&adv, NULL, NULL, net, px, labels, d);
    if (r == CNNVIS_OK) cnnvis_tensor_free(&adv);
    return r;
}

static void test_bad_class(void)
{
    cnnvis_net *net = tiny_net(2, 1, 1.0f);
    cnnvis_tensor px, out;
    cnnvis_attack_desc d;
    cnnvis_rng rng;
    int32_t bad_label = 4;
    REQUIRE(net, "net");
    cnnvis__rng_seed(&rng, 1);
    REQUIRE(make_images(&px, 1, &rng), "images");
    memset(&d, 0, sizeof d);
    d.targeted = 1, d.target = 4;
    CHECK(attack_with(net, &px, NULL, &d) == CNNVIS_ERR_ARG && names("target"), "target 4 of 4 classes");
    d.target = -1;
    CHECK(attack_with(net, &px, NULL, &d) == CNNVIS_ERR_ARG && names("target"), "target -1");
    d.targeted = 0;
    CHECK(attack_with(net, &px, &bad_label, &d) == CNNVIS_ERR_ARG && names("label"), "label 4");
    CHECK(cnnvis_fooling_image(&out, NULL, NULL, net, 7, NULL) == CNNVIS_ERR_ARG && names("class"), "fooling class 7");
    cnnvis_tensor_free(&px);
    cnnvis_net_free(net);
}

static void test_bad_budget(void)
{
    cnnvis_net *net = tiny_net(2, 1, 1.0f);
    cnnvis_tensor px;
    cnnvis_attack_desc d;
    cnnvis_rng rng;
    cnnvis_dataset ds;
    float eps[2] = {0, -0.1f};
    REQUIRE(net, "net");
    cnnvis__rng_seed(&rng, 1);
    REQUIRE(make_images(&px, 1, &rng), "images");
    REQUIRE(make_dataset(&ds, 4, &rng), "data set");
    memset(&d, 0, sizeof d);
    d.eps = -0.1f;
    CHECK(attack_with(net, &px, NULL, &d) == CNNVIS_ERR_ARG && names("eps"), "eps -0.1");
    d.eps = 0, d.method = CNNVIS_ATTACK_PGD, d.steps = -1;
    CHECK(attack_with(net, &px, NULL, &d) == CNNVIS_ERR_ARG && names("steps"), "steps -1");
    d.steps = 0, d.step = -1;
    CHECK(attack_with(net, &px, NULL, &d) == CNNVIS_ERR_ARG && names("step"), "step -1");
    d.step = 0, d.method = CNNVIS_ATTACK_LBFGS;
    CHECK(attack_with(net, &px, NULL, &d) == CNNVIS_ERR_ARG && names("targeted"), "L-BFGS without a target");
    d.targeted = 1, d.c_search = -2;
    CHECK(attack_with(net, &px, NULL, &d) == CNNVIS_ERR_ARG && names("c_search"), "c_search -2");
    d.c_search = 0, d.method = (cnnvis_attack_method)9;
    CHECK(attack_with(net, &px, NULL, &d) == CNNVIS_ERR_ARG && names("method"), "method 9");
    memset(&d, 0, sizeof d);
    CHECK(cnnvis_robustness_curve(NULL, NULL, net, &ds, 0, &d, eps, 0, 0) == CNNVIS_ERR_ARG && names("n_eps"), "n_eps 0");
    CHECK(cnnvis_robustness_curve(NULL, NULL, net, &ds, 0, &d, eps, 2, 0) == CNNVIS_ERR_ARG && names("eps[1]"), "eps[1] < 0");
    CHECK(cnnvis_robustness_curve(NULL, NULL, net, &ds, -3, &d, eps, 1, 0) == CNNVIS_ERR_ARG && names("n_images"),
          "n_images -3");
    dataset_release(&ds);
    cnnvis_tensor_free(&px);
    cnnvis_net_free(net);
}

static void test_bad_image(void)
{
    cnnvis_net *net = tiny_net(2, 1, 1.0f);
    cnnvis_tensor grey, big, out_of_range, adv;
    cnnvis_image im;
    REQUIRE(net, "net");
    REQUIRE(cnnvis_tensor_create(&grey, 1, 1, 8, 8) == CNNVIS_OK, "grey");
    REQUIRE(cnnvis_tensor_create(&big, 1, 3, 9, 8) == CNNVIS_OK, "big");
    REQUIRE(cnnvis_tensor_create(&out_of_range, 1, 3, 8, 8) == CNNVIS_OK, "range");
    out_of_range.data[5] = 1.5f;
    CHECK(attack_with(net, &grey, NULL, NULL) == CNNVIS_ERR_ARG && names("pixels"), "one channel for three");
    CHECK(attack_with(net, &big, NULL, NULL) == CNNVIS_ERR_ARG && names("pixels"), "9x8 for 8x8");
    CHECK(attack_with(net, &out_of_range, NULL, NULL) == CNNVIS_ERR_ARG && names("[0, 1]"), "a pixel 1.5");
    CHECK(cnnvis_net_predict(NULL, NULL, NULL, net, &big) == CNNVIS_ERR_ARG && names("pixels"), "predict 9x8");
    out_of_range.data[5] = 0.5f;
    REQUIRE(cnnvis_attack(&adv, NULL, NULL, net, &out_of_range, NULL, NULL) == CNNVIS_OK, "%s", cnnvis_last_error());
    CHECK(cnnvis_adversarial_image(&im, net, &out_of_range, &grey, 0, NULL) == CNNVIS_ERR_ARG && names("adv"), "adv grey");
    cnnvis_tensor_free(&adv);
    cnnvis_tensor_free(&grey), cnnvis_tensor_free(&big), cnnvis_tensor_free(&out_of_range);
    cnnvis_net_free(net);
}

static void test_bad_dataset(void)
{
    cnnvis_net *net = tiny_net(2, 1, 1.0f);
    cnnvis_dataset ds;
    cnnvis_rng rng;
    float eps = 0.1f, rate;
    REQUIRE(net, "net");
    cnnvis__rng_seed(&rng, 1);
    REQUIRE(make_dataset(&ds, 4, &rng), "data set");
    ds.n = 0;
    CHECK(cnnvis_robustness_curve(NULL, NULL, net, &ds, 0, NULL, &eps, 1, 0) == CNNVIS_ERR_ARG && names("no images"),
          "curve on no images");
    CHECK(cnnvis_transfer_rate(&rate, NULL, net, net, &ds, 0, NULL) == CNNVIS_ERR_ARG && names("no images"),
          "transfer on no images");
    ds.n = 4, ds.c = 1;
    CHECK(cnnvis_robustness_curve(NULL, NULL, net, &ds, 0, NULL, &eps, 1, 0) == CNNVIS_ERR_ARG && names("images are"),
          "grey data set for a colour net");
    ds.c = 3;
    dataset_release(&ds);
    cnnvis_net_free(net);
}

static void test_bad_lbfgs_and_training(void)
{
    cnnvis_net *net = tiny_net(4, 1, 1.0f);
    quadratic Q;
    cnnvis_dataset ds;
    cnnvis_train_desc t;
    cnnvis_attack_desc d;
    cnnvis_rng rng;
    float x[2] = {0, 0}, lo[2] = {1, 0}, hi[2] = {0, 1};
    REQUIRE(net, "net");
    memset(&Q, 0, sizeof Q);
    CHECK(cnnvis__lbfgs_box(x, 0, NULL, NULL, quadratic_f, &Q, NULL, NULL, NULL) == CNNVIS_ERR_ARG && names("n 0"), "n 0");
    CHECK(cnnvis__lbfgs_box(x, 2, NULL, NULL, NULL, &Q, NULL, NULL, NULL) == CNNVIS_ERR_ARG && names("objective"), "f NULL");
    CHECK(cnnvis__lbfgs_box(x, 2, lo, hi, quadratic_f, &Q, NULL, NULL, NULL) == CNNVIS_ERR_ARG && names("lower[0]"),
          "lower > upper");
    cnnvis__rng_seed(&rng, 1);
    REQUIRE(make_dataset(&ds, 4, &rng), "data set");
    memset(&t, 0, sizeof t), memset(&d, 0, sizeof d);
    t.epochs = 1, t.batch = 4, t.progress = -1, t.adversarial = &d;
    d.method = CNNVIS_ATTACK_LBFGS, d.targeted = 1;
    CHECK(cnnvis_net_train(net, &ds, NULL, &t) == CNNVIS_ERR_ARG && names("L-BFGS"), "training with L-BFGS");
    d.method = CNNVIS_ATTACK_FGSM, t.adversarial_share = 2;
    CHECK(cnnvis_net_train(net, &ds, NULL, &t) == CNNVIS_ERR_ARG && names("adversarial_share"), "share 2");
    dataset_release(&ds);
    cnnvis_net_free(net);
}

int main(void)
{
    RUN(test_budget_and_box);
    RUN(test_fgsm_sign_of_finite_differences);
    RUN(test_pgd_one_step_is_fgsm);
    RUN(test_own_labels);
    RUN(test_lbfgs_box_quadratic);
    RUN(test_targeted_reach_target);
    RUN(test_fooling_image);
    RUN(test_curve_and_transfer);
    RUN(test_adversarial_training);
    RUN(test_picture);
    RUN(test_bad_class);
    RUN(test_bad_budget);
    RUN(test_bad_image);
    RUN(test_bad_dataset);
    RUN(test_bad_lbfgs_and_training);
    return SUMMARY();
}
