/* test_grad.c - gradient checks (STYLE.md section 12): every layer kind's backward pass,
   through the public net API, against central differences of a scalar loss; the
   end-to-end gradient of alexnet_mini's softmax cross-entropy; and a double-precision
   reference for the convolution's forward and backward passes.

   Every check runs twice: with the reference kernels and with the default ones (AUTO: the
   fast SIMD kernels where the CPU has them).

   THE LOSS. For a small net whose last layer gives `out`, L = sum(out * R) over the whole
   batch, for a fixed random R, so dL/d(out) = R is what cnnvis_net_backward is given. For
   alexnet_mini, L is the mean softmax cross-entropy; cnnvis_net_loss gives the analytic
   pass its gradient, and the differences use the same loss computed here in double from
   the scores (cnnvis_net_loss leaves a float in net->loss, whose rounding would swamp the
   differences; the two are checked to agree). L is always summed in double from the float
   outputs.

   CENTRAL DIFFERENCES. For one coordinate v (an input pixel, a weight or a bias):
       numeric = (L(v + eps) - L(v - eps)) / ((v + eps) - (v - eps))
   with v + eps and v - eps rounded to float first, so the denominator is the step really
   taken. ReLU and max-pool are piecewise linear, and a step that crosses a kink (a ReLU
   input changing sign, a max-pool switch moving) does not measure the derivative. Every
   perturbed forward pass is therefore compared with the unperturbed one (the sign of every
   ReLU input, every switch).

   Small nets (tight): eps = 1e-2 of the values' scale; if anything moved, the step is
   retried at eps/4, and the coordinate is skipped if it still moves (at most a quarter
   may be). Between kinks these nets are linear or smooth (LRN), so the quotient differs
   from the derivative only by the rounding of L (about 1e-7 of the outputs, divided by
   2 eps) and, for LRN, a truncation error of order eps^2. Tolerance:
       |a - n| <= 1e-3 * max(|a|, |n|) + 1e-3 * scale * (eps / step taken)
   where scale is the largest |analytic| over the whole gradient tensor: the rounding noise
   of L follows the size of the quantities involved, not of the one coordinate, so a
   coordinate whose gradient is nearly 0 gets an absolute floor set by the tensor, four
   times larger after a retry at eps/4.

   alexnet_mini (loose per coordinate, tight in aggregate): in float, eight layers deep,
   the rounding noise of L is about 1e-6, while one pixel moves L by |g| eps ~ 1e-4; a
   smaller eps drowns in that noise and a larger one crosses kinks (a conv1 weight feeds
   two thousand ReLUs). So the quotient is taken at eps = 1e-2 of the values' scale even
   when a few kinks moved (their error is a small share of a gradient summed over many
   units), and the tolerance is
       |a - n| <= 0.1 * (max(|a|, |n|) + scale)      for every coordinate, and
       median over the net of |a - n| / (max(|a|, |n|) + scale) <= 1e-2.
   Measured on 14 nets (2 shapes x 7 seeds, both kernels, 40 coordinates each): the
   largest per-coordinate ratio was 0.05 (half the bound) and the medians 2.5e-4 to 3e-3.
   A wiring mistake (a wrong buffer, batch offset, group or shape) gives errors of order 1
   and fails both; the small nets above pin each layer to 1e-3.

   Dropout in training mode draws its mask in the forward pass from net->rng; the mask is
   held fixed for the differences by restoring net->rng before every forward pass, so the
   same units are dropped. test_dropout also checks dx = dout * mask directly.

   Each check prints its worst ratio |a - n| / tolerance (<= 1 passes). GRAD_VERBOSE=1 in
   the environment prints every coordinate. Under -O0 fewer coordinates are sampled, so
   that the program stays under a minute and a half there. Where the default kernels are
   the reference ones (no SIMD in the build or the CPU) each net is checked once. Under an
   emulator (MINITEST_EMULATED, a hundred times slower) the two alexnet_mini checks run
   with SIMD kernels only (NEON on arm64; none on an x86-64 without AVX2): the reference
   kernels are the same code as in the native run, which checks them end to end. */
#define CNNVIS_IMPLEMENTATION
#include "cnnvis.h"
#include "minitest.h"
#include <stdlib.h>

#ifdef __OPTIMIZE__
#define SAMPLES 40     /* coordinates per tensor in the small nets (all if fewer) */
#define E2E_PIXELS 8   /* input pixels in the alexnet_mini checks */
#define E2E_WEIGHTS 3  /* weights per conv/fc layer in the alexnet_mini checks (and 1 bias) */
#else
#define SAMPLES 12
#define E2E_PIXELS 3
#define E2E_WEIGHTS 1
#endif

static int verbose; /* GRAD_VERBOSE set: print every coordinate */

static const cnnvis_kernels kernel_set[2] = {CNNVIS_KERNELS_REFERENCE, CNNVIS_KERNELS_AUTO};

static void fill_uniform(float *v, size_t n, cnnvis_rng *rng, float lo, float hi)
{
    size_t i;
    for (i = 0; i < n; i++) v[i] = lo + (hi - lo) * cnnvis__rng_uniform(rng);
}

static double max_abs(const float *v, size_t n)
{
    double m = 0;
    size_t i;
    for (i = 0; i < n; i++) m = fabs(v[i]) > m ? fabs(v[i]) : m;
    return m;
}

static size_t layer_out_count(const cnnvis_layer *L) { return (size_t)L->out_c * L->out_h * L->out_w; }
static size_t layer_in_count(const cnnvis_layer *L) { return (size_t)L->in_c * L->in_h * L->in_w; }

/* Weights U(-b, b) with b = sqrt(3 gain / fan_in), biases U(-bias, bias). Set by the test
   so that no check depends on the library's initialisation. */
static void randomize_params(cnnvis_net *net, cnnvis_rng *rng, double gain, float bias)
{
    int i;
    for (i = 0; i < net->n_layers; i++) {
        cnnvis_layer *L = &net->layers[i];
        if (L->n_w) {
            float b = (float)sqrt(3.0 * gain * (double)L->n_b / (double)L->n_w);
            fill_uniform(L->w, L->n_w, rng, -b, b);
            fill_uniform(L->b, L->n_b, rng, -bias, bias);
        }
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* --- The gradient-check context ---------------------------------------------------------- */

typedef struct gopts {
    int samples_x, samples_w, samples_b; /* coordinates per tensor */
    float eps_x;      /* step for input pixels */
    float eps_w_rel;  /* step for a weight or bias: this times the tensor's largest |value| */
    int e2e;          /* 0: small-net policy and tolerance; 1: alexnet_mini's (see the top) */
} gopts;

typedef struct gcheck {
    cnnvis_net *net;
    cnnvis_tensor *x;       /* the input batch, perturbed in place */
    const float *R;         /* sum(out * R) loss: (batch, last layer's output) */
    const int32_t *labels;  /* cross-entropy loss: (batch); NULL for sum(out * R) */
    cnnvis_rng rng0;        /* net->rng before the unperturbed pass (dropout masks) */
    unsigned char *kinks0, *kinks1;
    size_t kink_bytes;
    const gopts *o;
    const char *label;      /* case and kernels, for messages */
    int tried, checked, skipped, reported;
    double worst;           /* largest |a - n| / tolerance */
    double *ratios;         /* e2e: |a - n| / (max(|a|, |n|) + scale) of each coordinate */
    int n_ratios, cap_ratios;
} gcheck;

/* The bytes that must not change for a difference quotient to be a derivative: the sign
   of every ReLU input and every max-pool switch. */
static size_t kink_bytes_of(const cnnvis_net *net)
{
    size_t bytes = 0;
    int i;
    for (i = 0; i < net->n_layers; i++) {
        const cnnvis_layer *L = &net->layers[i];
        if (L->desc.kind == CNNVIS_LAYER_RELU) bytes += (size_t)net->batch * layer_in_count(L);
        if (L->desc.kind == CNNVIS_LAYER_MAXPOOL) bytes += (size_t)net->batch * layer_out_count(L) * sizeof(int32_t);
    }
    return bytes;
}

static void kinks_take(const cnnvis_net *net, unsigned char *dst)
{
    int i;
    size_t j;
    for (i = 0; i < net->n_layers; i++) {
        const cnnvis_layer *L = &net->layers[i];
        if (L->desc.kind == CNNVIS_LAYER_RELU) {
            const float *in = i ? net->layers[i - 1].out.data : net->input.data;
            size_t count = (size_t)net->batch * layer_in_count(L);
            for (j = 0; j < count; j++) *dst++ = in[j] > 0.0f;
        }
        if (L->desc.kind == CNNVIS_LAYER_MAXPOOL) {
            size_t bytes = (size_t)net->batch * layer_out_count(L) * sizeof(int32_t);
            memcpy(dst, L->switches, bytes);
            dst += bytes;
        }
    }
}

/* Mean softmax cross-entropy of the last layer's scores, in double. */
static double xent_of(const cnnvis_net *net, const int32_t *labels)
{
    const cnnvis_layer *L = &net->layers[net->n_layers - 1];
    int n, c, classes = (int)layer_out_count(L);
    double total = 0;
    for (n = 0; n < net->batch; n++) {
        const float *s = L->out.data + (size_t)n * classes;
        double m = s[0], sum = 0;
        for (c = 1; c < classes; c++) m = s[c] > m ? s[c] : m;
        for (c = 0; c < classes; c++) sum += exp((double)s[c] - m);
        total += m + log(sum) - s[labels[n]];
    }
    return total / net->batch;
}

static double objective_of(const gcheck *g)
{
    const cnnvis_layer *L = &g->net->layers[g->net->n_layers - 1];
    size_t j, count = (size_t)g->net->batch * layer_out_count(L);
    double sum = 0;
    if (g->labels) return xent_of(g->net, g->labels);
    for (j = 0; j < count; j++) sum += (double)L->out.data[j] * g->R[j];
    return sum;
}

/* L at the current parameters and input; returns how many kink bytes moved. */
static size_t loss_at(gcheck *g, double *loss)
{
    cnnvis_result r;
    size_t j, moved = 0;
    g->net->rng = g->rng0;
    r = cnnvis_net_forward(g->net, g->x);
    CHECK(r == CNNVIS_OK, "%s: forward failed: %s", g->label, cnnvis_last_error());
    *loss = objective_of(g);
    kinks_take(g->net, g->kinks1);
    for (j = 0; j < g->kink_bytes; j++) moved += g->kinks0[j] != g->kinks1[j];
    return moved;
}

/* Central difference of L in v[j]. Small nets: retried at eps/4 if a kink moves, 0 if it
   moves again. alexnet_mini: the first step is taken. *shrink is how many times smaller
   the step taken is than eps (1 or 4). */
static int numeric_at(gcheck *g, float *v, size_t j, float eps, double *num, size_t *moved, double *shrink)
{
    float orig = v[j];
    int attempt;
    *shrink = 1;
    for (attempt = 0; attempt < 2; attempt++, eps *= 0.25f, *shrink *= 4) {
        float plus = orig + eps, minus = orig - eps;
        double lp, lm;
        v[j] = plus;
        *moved = loss_at(g, &lp);
        v[j] = minus;
        *moved += loss_at(g, &lm);
        v[j] = orig;
        if (*moved == 0 || g->o->e2e) {
            *num = (lp - lm) / ((double)plus - (double)minus);
            return 1;
        }
    }
    return 0;
}

/* Compare the analytic gradient `grad` (n values) of the coordinates v (n values) with
   central differences at `samples` of them (all if n <= samples). Half the sampled
   coordinates are uniform; the other half prefer a gradient of at least 1% of the
   tensor's largest (up to 8 draws each), so that the checks are not mostly 0 against 0
   behind dead ReLUs, while a gradient wrongly 0 can still be drawn. */
static void check_tensor(gcheck *g, const char *what, const float *grad, float *v, size_t n, int samples, float eps,
                         cnnvis_rng *pick)
{
    double scale = max_abs(grad, n);
    size_t s, count = n <= (size_t)samples ? n : (size_t)samples;
    CHECK(scale > 0, "%s: %s: the analytic gradient is all zero", g->label, what);
    for (s = 0; s < count; s++) {
        size_t j = s, moved;
        double num, a, err, tol, ratio, shrink;
        int draw;
        if (n > (size_t)samples)
            for (draw = 0; draw < 8; draw++) {
                j = cnnvis__rng_below(pick, (uint32_t)n);
                if (s % 2 == 0 || fabs(grad[j]) >= 1e-2 * scale) break;
            }
        a = grad[j];
        g->tried++;
        if (!numeric_at(g, v, j, eps, &num, &moved, &shrink)) {
            g->skipped++;
            if (verbose) printf("    %s[%zu] analytic %.8g: skipped, kinks move even at eps/4\n", what, j, a);
            continue;
        }
        g->checked++;
        err = fabs(a - num);
        if (g->o->e2e) {
            ratio = err / ((fabs(a) > fabs(num) ? fabs(a) : fabs(num)) + scale);
            if (g->n_ratios < g->cap_ratios) g->ratios[g->n_ratios++] = ratio;
            tol = 0.1 * ((fabs(a) > fabs(num) ? fabs(a) : fabs(num)) + scale);
        } else {
            /* the rounding noise of the quotient grows as the step shrinks */
            tol = 1e-3 * (fabs(a) > fabs(num) ? fabs(a) : fabs(num)) + 1e-3 * scale * shrink;
        }
        if (err / tol > g->worst) g->worst = err / tol;
        if (verbose)
            printf("    %s[%zu] analytic %.8g numeric %.8g |a-n|/tol %.3f kinks moved %zu scale %.4g\n", what, j, a, num,
                   err / tol, moved, scale);
        if (err > tol) {
            if (g->reported++ < 5)
                CHECK(err <= tol, "%s: dL/d%s[%zu]: analytic %.8g, numeric %.8g (|diff| %.3g > tol %.3g)", g->label, what,
                      j, a, num, err, tol);
            else
                minitest_current_failed++;
        }
    }
}

/* Forward, backward from the last layer, then every gradient (input, then each layer's
   weights and biases) against central differences, once per kernel set. */
static void check_net(cnnvis_net *net, cnnvis_tensor *x, const float *R, const int32_t *labels, const char *name,
                      const gopts *o, uint64_t seed)
{
    int k, i, last = net->n_layers - 1;
    for (k = 0; k < 2; k++) {
        gcheck g;
        char label[160];
        cnnvis_rng pick;
        cnnvis_result r;
        memset(&g, 0, sizeof g);
        r = cnnvis__net_set_kernels(net, CNNVIS_KERNELS_AUTO);
        REQUIRE(r == CNNVIS_OK, "%s: set_kernels: %s", name, cnnvis_last_error());
        if (k == 0 && o->e2e && minitest_emulated()) {
            printf("  %-52s emulated: the reference kernels are checked end to end natively\n", name);
            continue;
        }
        if (k == 1 && net->kernels == CNNVIS_KERNELS_REFERENCE) {
            printf("  %-52s the default kernels are the reference ones here\n", name);
            break;
        }
        r = cnnvis__net_set_kernels(net, kernel_set[k]);
        REQUIRE(r == CNNVIS_OK, "%s: set_kernels: %s", name, cnnvis_last_error());
        snprintf(label, sizeof label, "%s [%s]", name, cnnvis__kernels_name(net->kernels));
        g.net = net, g.x = x, g.R = R, g.labels = labels, g.o = o, g.label = label;
        cnnvis__rng_seed(&pick, seed + 101);
        /* the unperturbed pass and the analytic gradients */
        g.rng0 = net->rng;
        r = cnnvis_net_forward(net, x);
        REQUIRE(r == CNNVIS_OK, "%s: forward: %s", label, cnnvis_last_error());
        cnnvis_net_zero_grad(net);
        if (labels) {
            float loss;
            r = cnnvis_net_loss(net, labels);
            REQUIRE(r == CNNVIS_OK, "%s: loss: %s", label, cnnvis_last_error());
            loss = net->loss;
            CHECK(fabs(loss - xent_of(net, labels)) <= 1e-6 * (1 + fabs(loss)), "%s: cnnvis_net_loss %.9g, direct %.9g",
                  label, loss, xent_of(net, labels));
            r = cnnvis__net_backward_from(net, last, NULL, CNNVIS_RELU_BACKPROP,
                                          CNNVIS_BACKWARD_KEEP | CNNVIS_BACKWARD_PARAMS);
        } else {
            cnnvis_tensor dout = cnnvis_tensor_wrap((float *)R, net->batch, net->layers[last].out_c,
                                                    net->layers[last].out_h, net->layers[last].out_w);
            r = cnnvis__net_backward_from(net, last, &dout, CNNVIS_RELU_BACKPROP, CNNVIS_BACKWARD_PARAMS);
        }
        REQUIRE(r == CNNVIS_OK, "%s: backward: %s", label, cnnvis_last_error());
        g.kink_bytes = kink_bytes_of(net);
        g.kinks0 = (unsigned char *)malloc(g.kink_bytes + 1);
        g.kinks1 = (unsigned char *)malloc(g.kink_bytes + 1);
        g.cap_ratios = 4096;
        g.ratios = (double *)malloc(sizeof(double) * (size_t)g.cap_ratios);
        REQUIRE(g.kinks0 && g.kinks1 && g.ratios, "out of memory");
        kinks_take(net, g.kinks0);
        /* The forward passes below do not touch dinput, dw or db, so the analytic gradients
           stay where backward left them. */
        check_tensor(&g, "input", net->dinput.data, x->data, cnnvis_tensor_count(x), o->samples_x, o->eps_x, &pick);
        for (i = 0; i < net->n_layers; i++) {
            cnnvis_layer *L = &net->layers[i];
            char what[64];
            double wmax = max_abs(L->w, L->n_w), bmax = max_abs(L->b, L->n_b);
            if (!L->n_w) continue;
            snprintf(what, sizeof what, "%s.w", L->desc.name);
            check_tensor(&g, what, L->dw, L->w, L->n_w, o->samples_w, (float)(o->eps_w_rel * wmax), &pick);
            snprintf(what, sizeof what, "%s.b", L->desc.name);
            check_tensor(&g, what, L->db, L->b, L->n_b, o->samples_b, (float)(o->eps_w_rel * (bmax > 0 ? bmax : 1.0)),
                         &pick);
        }
        CHECK(g.checked > 0 && g.skipped * 4 <= g.tried,
              "%s: %d of %d coordinates skipped at kinks (at most a quarter may be)", label, g.skipped, g.tried);
        /* A gradient map's pass, without parameter gradients, where the fast kernels scatter a
           mostly-zero dY (below a max-pool) instead of the product, must give the input
           gradient just checked, up to the rounding of another order of sums. */
        {
            size_t q, count = cnnvis_tensor_count(x);
            float *checked = (float *)malloc(sizeof(float) * count);
            double top = 0, diff = 0;
            REQUIRE(checked, "out of memory");
            memcpy(checked, net->dinput.data, sizeof(float) * count);
            net->rng = g.rng0;
            r = cnnvis_net_forward(net, x);
            REQUIRE(r == CNNVIS_OK, "%s: forward: %s", label, cnnvis_last_error());
            if (labels) {
                r = cnnvis_net_loss(net, labels);
                REQUIRE(r == CNNVIS_OK, "%s: loss: %s", label, cnnvis_last_error());
                r = cnnvis__net_backward_from(net, last, NULL, CNNVIS_RELU_BACKPROP, CNNVIS_BACKWARD_KEEP);
            } else {
                cnnvis_tensor dout = cnnvis_tensor_wrap((float *)R, net->batch, net->layers[last].out_c,
                                                        net->layers[last].out_h, net->layers[last].out_w);
                r = cnnvis__net_backward_from(net, last, &dout, CNNVIS_RELU_BACKPROP, 0);
            }
            REQUIRE(r == CNNVIS_OK, "%s: backward: %s", label, cnnvis_last_error());
            for (q = 0; q < count; q++) {
                top = fabs(checked[q]) > top ? fabs(checked[q]) : top;
                diff = fabs((double)net->dinput.data[q] - checked[q]) > diff ? fabs((double)net->dinput.data[q] - checked[q]) : diff;
            }
            CHECK(diff <= 1e-4 * top + 1e-7, "%s: the input gradient without parameter gradients differs by %.3g (max %.3g)",
                  label, diff, top);
            free(checked);
        }
        if (o->e2e && g.n_ratios > 0) {
            double median;
            qsort(g.ratios, (size_t)g.n_ratios, sizeof(double), cmp_double);
            median = g.ratios[g.n_ratios / 2];
            CHECK(median <= 1e-2, "%s: median |a - n| / (max(|a|, |n|) + scale) is %.3g over %d coordinates (> 1e-2)", label,
                  median, g.n_ratios);
            printf("  %-52s %4d checked, worst %.3f, median error %.1e\n", label, g.checked, g.worst, median);
        } else {
            printf("  %-52s %4d checked, %2d skipped at kinks, worst %.3f\n", label, g.checked, g.skipped, g.worst);
        }
        free(g.kinks0);
        free(g.kinks1);
        free(g.ratios);
    }
}

/* A small net from d: random parameters (unit gain), input U(-in_scale, in_scale),
   R U(-1, 1), steps of 1e-2 of the values' scale. */
static void grad_case(cnnvis_net_desc *d, const char *name, int batch, float in_scale, int training, uint64_t seed)
{
    cnnvis_net *net;
    cnnvis_tensor x;
    cnnvis_rng rng;
    cnnvis_result r;
    float *R;
    size_t out_count;
    gopts o;
    o.samples_x = o.samples_w = o.samples_b = SAMPLES;
    o.eps_x = 1e-2f * in_scale, o.eps_w_rel = 1e-2f, o.e2e = 0;
    d->max_batch = batch;
    d->seed = seed;
    r = cnnvis_net_create(&net, d);
    REQUIRE(r == CNNVIS_OK, "%s: create: %s", name, cnnvis_last_error());
    net->training = training;
    cnnvis__rng_seed(&rng, seed);
    randomize_params(net, &rng, 1.0, 0.5f);
    r = cnnvis_tensor_create(&x, batch, d->in_c, d->in_h, d->in_w);
    REQUIRE(r == CNNVIS_OK, "tensor");
    fill_uniform(x.data, cnnvis_tensor_count(&x), &rng, -in_scale, in_scale);
    out_count = (size_t)batch * layer_out_count(&net->layers[net->n_layers - 1]);
    R = (float *)malloc(out_count * sizeof(float));
    REQUIRE(R, "out of memory");
    fill_uniform(R, out_count, &rng, -1.0f, 1.0f);
    check_net(net, &x, R, NULL, name, &o, seed);
    free(R);
    cnnvis_tensor_free(&x);
    cnnvis_net_free(net);
}

/* --- Each layer kind ------------------------------------------------------------------- */

/* Convolution alone: odd sizes, strides 1-4, padding 0-5, groups 1-3, kernels 1x1 to 11x11,
   a stride larger than the kernel (input pixels no window sees), batches 2-3. */
static void test_conv(void)
{
    static const struct {
        int c, h, w, oc, k, s, p, groups, batch;
    } cases[] = {
        {3, 7, 9, 4, 3, 1, 1, 1, 2},    /* the common 3x3 "same" convolution */
        {5, 5, 6, 3, 1, 1, 0, 1, 3},    /* 1x1 */
        {2, 23, 19, 4, 11, 4, 2, 1, 2}, /* AlexNet's conv1 shape: 11x11 stride 4 */
        {4, 12, 13, 4, 11, 1, 5, 2, 2}, /* 11x11 "same", groups 2 */
        {4, 13, 11, 6, 5, 3, 0, 2, 2},  /* stride 3, groups 2 */
        {6, 9, 10, 6, 3, 2, 3, 3, 2},   /* groups 3, padding wider than the kernel */
        {1, 5, 5, 2, 7, 1, 5, 1, 2},    /* padding 5: border outputs see only zeros */
        {2, 11, 11, 3, 2, 3, 0, 1, 2},  /* stride 3 > kernel 2: gaps between windows */
        {3, 17, 15, 5, 4, 4, 1, 1, 2},  /* even kernel, stride 4 */
        {9, 7, 7, 6, 3, 1, 1, 3, 3},    /* groups 3, batch 3 */
    };
    size_t i;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cnnvis_net_desc d;
        char name[96];
        snprintf(name, sizeof name, "conv %dx%dx%d oc%d k%d s%d p%d g%d n%d", cases[i].c, cases[i].h, cases[i].w,
                 cases[i].oc, cases[i].k, cases[i].s, cases[i].p, cases[i].groups, cases[i].batch);
        cnnvis_net_desc_init(&d, cases[i].c, cases[i].h, cases[i].w);
        cnnvis_net_desc_conv(&d, "conv", cases[i].oc, cases[i].k, cases[i].s, cases[i].p, cases[i].groups);
        grad_case(&d, name, cases[i].batch, 1.0f, 0, 1000 + i);
    }
}

static void test_relu(void)
{
    cnnvis_net_desc d;
    cnnvis_net_desc_init(&d, 3, 5, 7);
    cnnvis_net_desc_relu(&d, "relu");
    grad_case(&d, "relu 3x5x7 n2", 2, 1.0f, 0, 2000);
    /* between two convolutions: its mask applies to the lower conv's gradients */
    cnnvis_net_desc_init(&d, 2, 9, 8);
    cnnvis_net_desc_conv(&d, "conv1", 4, 3, 1, 1, 1);
    cnnvis_net_desc_relu(&d, "relu1");
    cnnvis_net_desc_conv(&d, "conv2", 3, 3, 2, 0, 1);
    grad_case(&d, "conv-relu-conv n2", 2, 1.0f, 0, 2001);
}

/* Max-pooling alone on the input (every input gradient is a switch's), with kernel,
   stride and pad variations, then inside a small net. */
static void test_maxpool(void)
{
    static const struct {
        int c, h, w, k, s, p, batch;
    } cases[] = {
        {3, 9, 11, 3, 2, 1, 2}, /* alexnet_mini's overlapping pool */
        {2, 7, 7, 2, 2, 0, 2},  /* odd size: the last row and column are never pooled */
        {2, 6, 5, 3, 1, 0, 3},  /* stride 1 */
        {2, 11, 10, 5, 3, 2, 2},
        {1, 13, 9, 4, 4, 2, 2}, /* even kernel with padding */
        {2, 8, 8, 3, 3, 1, 2},
    };
    size_t i;
    cnnvis_net_desc d;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char name[96];
        snprintf(name, sizeof name, "maxpool %dx%dx%d k%d s%d p%d n%d", cases[i].c, cases[i].h, cases[i].w, cases[i].k,
                 cases[i].s, cases[i].p, cases[i].batch);
        cnnvis_net_desc_init(&d, cases[i].c, cases[i].h, cases[i].w);
        cnnvis_net_desc_maxpool(&d, "pool", cases[i].k, cases[i].s, cases[i].p);
        grad_case(&d, name, cases[i].batch, 1.0f, 0, 3000 + i);
    }
    cnnvis_net_desc_init(&d, 3, 15, 13);
    cnnvis_net_desc_conv(&d, "conv1", 5, 3, 1, 1, 1);
    cnnvis_net_desc_relu(&d, "relu1");
    cnnvis_net_desc_maxpool(&d, "pool1", 3, 2, 1);
    cnnvis_net_desc_conv(&d, "conv2", 6, 3, 1, 0, 1);
    cnnvis_net_desc_relu(&d, "relu2");
    cnnvis_net_desc_flatten(&d, "flat");
    cnnvis_net_desc_fc(&d, "fc", 4);
    grad_case(&d, "conv-relu-pool-conv-relu-flatten-fc n2", 2, 1.0f, 0, 3100);
}

/* LRN alone on the input. With alpha 0.1 and inputs up to 3 the cross-channel term is a
   sizeable part of the gradient; with alpha 1e-4 (AlexNet's) the layer is nearly k^-beta
   times the identity. Size 4 has an asymmetric window; 3 channels with size 5 clip it at
   both ends. */
static void test_lrn(void)
{
    static const struct {
        int c, size;
        float alpha, scale;
    } cases[] = {
        {7, 5, 1e-4f, 1.0f}, {7, 5, 0.1f, 3.0f}, {7, 3, 1e-4f, 1.0f},
        {7, 3, 0.1f, 3.0f},  {6, 4, 0.1f, 3.0f}, {3, 5, 0.1f, 3.0f},
    };
    size_t i;
    cnnvis_net_desc d;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char name[96];
        snprintf(name, sizeof name, "lrn c%d size %d alpha %g beta 0.75 k 2 n2", cases[i].c, cases[i].size,
                 (double)cases[i].alpha);
        cnnvis_net_desc_init(&d, cases[i].c, 3, 5);
        cnnvis_net_desc_lrn(&d, "lrn", cases[i].size, cases[i].alpha, 0.75f, 2.0f);
        grad_case(&d, name, 2, cases[i].scale, 0, 4000 + i);
    }
    /* AlexNet's first block (conv 11x11 stride 4, ReLU, LRN, overlapping pool), then a
       grouped conv, LRN with a large alpha, pool, dropout in training mode and fc */
    cnnvis_net_desc_init(&d, 3, 27, 27);
    cnnvis_net_desc_conv(&d, "conv1", 8, 11, 4, 2, 1);
    cnnvis_net_desc_relu(&d, "relu1");
    cnnvis_net_desc_lrn(&d, "norm1", 5, 1e-4f, 0.75f, 2.0f);
    cnnvis_net_desc_maxpool(&d, "pool1", 3, 2, 0);
    cnnvis_net_desc_conv(&d, "conv2", 8, 3, 1, 1, 2);
    cnnvis_net_desc_relu(&d, "relu2");
    cnnvis_net_desc_lrn(&d, "norm2", 3, 0.1f, 0.75f, 2.0f);
    cnnvis_net_desc_maxpool(&d, "pool2", 2, 1, 0);
    cnnvis_net_desc_dropout(&d, "drop", 0.5f);
    cnnvis_net_desc_fc(&d, "fc", 5);
    grad_case(&d, "conv-relu-lrn-pool-conv(g2)-relu-lrn-pool-drop-fc n2", 2, 1.0f, 1, 4100);
}

/* Dropout in training mode: the gradients through it by differences (mask held fixed);
   then directly: the mask is 0 or 1/(1-p), forward is x * mask, backward dout * mask; in
   evaluation mode both are the identity. */
static void test_dropout(void)
{
    cnnvis_net_desc d;
    cnnvis_net *net;
    cnnvis_tensor x, dy;
    cnnvis_rng rng;
    cnnvis_layer *L;
    size_t j, count, zeros, bad_mask, bad_fwd, bad_bwd;
    int mode;
    cnnvis_result r;
    const float keep = 1.0f / (1.0f - 0.5f);

    cnnvis_net_desc_init(&d, 3, 6, 5);
    cnnvis_net_desc_conv(&d, "conv", 4, 3, 1, 1, 1);
    cnnvis_net_desc_dropout(&d, "drop", 0.3f);
    cnnvis_net_desc_fc(&d, "fc", 5);
    grad_case(&d, "conv-dropout(0.3, training)-fc n3", 3, 1.0f, 1, 5000);

    cnnvis_net_desc_init(&d, 4, 9, 7);
    cnnvis_net_desc_dropout(&d, "drop", 0.5f);
    d.max_batch = 3;
    d.seed = 5001;
    r = cnnvis_net_create(&net, &d);
    REQUIRE(r == CNNVIS_OK, "create: %s", cnnvis_last_error());
    L = &net->layers[0];
    count = 3 * layer_out_count(L);
    r = cnnvis_tensor_create(&x, 3, 4, 9, 7);
    REQUIRE(r == CNNVIS_OK, "tensor");
    r = cnnvis_tensor_create(&dy, 3, 4, 9, 7);
    REQUIRE(r == CNNVIS_OK, "tensor");
    cnnvis__rng_seed(&rng, 5002);
    fill_uniform(x.data, count, &rng, -1.0f, 1.0f);
    fill_uniform(dy.data, count, &rng, -1.0f, 1.0f);
    for (mode = 1; mode >= 0; mode--) {
        net->training = mode;
        r = cnnvis_net_forward(net, &x);
        REQUIRE(r == CNNVIS_OK, "forward: %s", cnnvis_last_error());
        r = cnnvis_net_backward(net, "drop", &dy, CNNVIS_RELU_BACKPROP, 0);
        REQUIRE(r == CNNVIS_OK, "backward: %s", cnnvis_last_error());
        zeros = bad_mask = bad_fwd = bad_bwd = 0;
        for (j = 0; j < count; j++) {
            float m = L->aux[j];
            zeros += m == 0.0f;
            bad_mask += mode ? !(m == 0.0f || m == keep) : m != 1.0f;
            bad_fwd += L->out.data[j] != x.data[j] * m;
            bad_bwd += net->dinput.data[j] != dy.data[j] * m;
        }
        CHECK(bad_mask == 0, "training %d: %zu mask values are not %s", mode, bad_mask, mode ? "0 or 1/(1-p)" : "1");
        CHECK(bad_fwd == 0, "training %d: %zu outputs differ from x * mask", mode, bad_fwd);
        CHECK(bad_bwd == 0, "training %d: %zu input gradients differ from dout * mask", mode, bad_bwd);
        if (mode) {
            /* 756 draws with p = 0.5: 378 +- 14 expected; +-80 is more than 5 sigma */
            CHECK(zeros > count / 2 - 80 && zeros < count / 2 + 80, "%zu of %zu units dropped with p = 0.5", zeros, count);
        } else {
            CHECK(memcmp(L->out.data, x.data, count * sizeof(float)) == 0, "evaluation: dropout is not the identity");
            CHECK(memcmp(net->dinput.data, dy.data, count * sizeof(float)) == 0,
                  "evaluation: dropout's backward is not the identity");
        }
    }
    cnnvis_tensor_free(&x);
    cnnvis_tensor_free(&dy);
    cnnvis_net_free(net);
}

static void test_fc_flatten(void)
{
    cnnvis_net_desc d;
    cnnvis_net_desc_init(&d, 3, 4, 5);
    cnnvis_net_desc_fc(&d, "fc", 7); /* fc flattens its (3, 4, 5) input itself */
    grad_case(&d, "fc on 3x4x5 n3", 3, 1.0f, 0, 6000);
    cnnvis_net_desc_init(&d, 2, 3, 3);
    cnnvis_net_desc_flatten(&d, "flat");
    cnnvis_net_desc_fc(&d, "fc1", 9);
    cnnvis_net_desc_relu(&d, "relu");
    cnnvis_net_desc_fc(&d, "fc2", 4);
    grad_case(&d, "flatten-fc-relu-fc n2", 2, 1.0f, 0, 6001);
    cnnvis_net_desc_init(&d, 3, 5, 3);
    cnnvis_net_desc_conv(&d, "conv", 2, 3, 2, 1, 1);
    cnnvis_net_desc_flatten(&d, "flat"); /* flatten as the last layer */
    grad_case(&d, "conv-flatten n2", 2, 1.0f, 0, 6002);
}

/* --- The convolution in double precision ------------------------------------------------- */

/* Forward, dx, dw and db of one conv layer against plain loops in double. Each value is
   compared relative to the sum of the magnitudes of its terms (what float rounding of a
   sum is proportional to): |net - ref| <= 1e-5 * (sum |term|). */
static void test_conv_double(void)
{
    static const struct {
        int c, h, w, oc, k, s, p, groups, batch;
    } cases[] = {
        {3, 9, 11, 4, 3, 2, 1, 1, 2},
        {6, 8, 7, 9, 1, 1, 0, 3, 3},
        {4, 13, 13, 6, 11, 4, 5, 2, 2},
        {2, 10, 9, 4, 5, 3, 4, 2, 2},
    };
    size_t ci;
    for (ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        const int C = cases[ci].c, H = cases[ci].h, W = cases[ci].w, OC = cases[ci].oc, K = cases[ci].k;
        const int S = cases[ci].s, P = cases[ci].p, G = cases[ci].groups, N = cases[ci].batch;
        const int ICg = C / G, OCg = OC / G;
        cnnvis_net_desc d;
        cnnvis_net *net;
        cnnvis_layer *L;
        cnnvis_tensor x, R;
        cnnvis_rng rng;
        double *y_ref, *y_mag, *dx_ref, *dx_mag, *dw_ref, *dw_mag, *db_ref, *db_mag;
        int OH, OW, k, n, oc, icg, ky, kx, oy, ox;
        cnnvis_result r;
        size_t nx, ny, nw;
        cnnvis_net_desc_init(&d, C, H, W);
        cnnvis_net_desc_conv(&d, "conv", OC, K, S, P, G);
        d.max_batch = N;
        r = cnnvis_net_create(&net, &d);
        REQUIRE(r == CNNVIS_OK, "create: %s", cnnvis_last_error());
        L = &net->layers[0];
        OH = L->out_h, OW = L->out_w;
        nx = (size_t)N * C * H * W, ny = (size_t)N * OC * OH * OW, nw = L->n_w;
        cnnvis__rng_seed(&rng, 8000 + ci);
        randomize_params(net, &rng, 1.0, 0.5f);
        r = cnnvis_tensor_create(&x, N, C, H, W);
        REQUIRE(r == CNNVIS_OK, "tensor");
        r = cnnvis_tensor_create(&R, N, OC, OH, OW);
        REQUIRE(r == CNNVIS_OK, "tensor");
        fill_uniform(x.data, nx, &rng, -1.0f, 1.0f);
        fill_uniform(R.data, ny, &rng, -1.0f, 1.0f);
        y_ref = (double *)calloc(ny, sizeof(double)), y_mag = (double *)calloc(ny, sizeof(double));
        dx_ref = (double *)calloc(nx, sizeof(double)), dx_mag = (double *)calloc(nx, sizeof(double));
        dw_ref = (double *)calloc(nw, sizeof(double)), dw_mag = (double *)calloc(nw, sizeof(double));
        db_ref = (double *)calloc((size_t)OC, sizeof(double)), db_mag = (double *)calloc((size_t)OC, sizeof(double));
        REQUIRE(y_ref && y_mag && dx_ref && dx_mag && dw_ref && dw_mag && db_ref && db_mag, "out of memory");
        /* the definitions, term by term */
        for (n = 0; n < N; n++)               /* image */
            for (oc = 0; oc < OC; oc++)       /* output channel */
                for (oy = 0; oy < OH; oy++)   /* output row */
                    for (ox = 0; ox < OW; ox++) { /* output column */
                        size_t yi = (((size_t)n * OC + oc) * OH + oy) * OW + ox;
                        double rv = R.data[yi];
                        y_ref[yi] = L->b[oc], y_mag[yi] = fabs(L->b[oc]);
                        db_ref[oc] += rv, db_mag[oc] += fabs(rv);
                        for (icg = 0; icg < ICg; icg++) { /* input channel within the group */
                            int ic = oc / OCg * ICg + icg;
                            for (ky = 0; ky < K; ky++)
                                for (kx = 0; kx < K; kx++) {
                                    int iy = oy * S - P + ky, ix = ox * S - P + kx;
                                    size_t wi = (((size_t)oc * ICg + icg) * K + ky) * K + kx, xi;
                                    double wv = L->w[wi], xv;
                                    if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                                    xi = (((size_t)n * C + ic) * H + iy) * W + ix;
                                    xv = x.data[xi];
                                    y_ref[yi] += wv * xv, y_mag[yi] += fabs(wv * xv);
                                    dx_ref[xi] += wv * rv, dx_mag[xi] += fabs(wv * rv);
                                    dw_ref[wi] += xv * rv, dw_mag[wi] += fabs(xv * rv);
                                }
                        }
                    }
        for (k = 0; k < 2; k++) {
            size_t j, bad_y = 0, bad_dx = 0, bad_dw = 0, bad_db = 0;
            double worst = 0;
            r = cnnvis__net_set_kernels(net, kernel_set[k]);
            REQUIRE(r == CNNVIS_OK, "set_kernels: %s", cnnvis_last_error());
            r = cnnvis_net_forward(net, &x);
            REQUIRE(r == CNNVIS_OK, "forward: %s", cnnvis_last_error());
            cnnvis_net_zero_grad(net);
            r = cnnvis_net_backward(net, "conv", &R, CNNVIS_RELU_BACKPROP, CNNVIS_BACKWARD_PARAMS);
            REQUIRE(r == CNNVIS_OK,
                    "backward: %s", cnnvis_last_error());
#define REL_ERR(got, ref, mag) (fabs((double)(got) - (ref)) / ((mag) > 0 ? (mag) : 1e-30))
            for (j = 0; j < ny; j++) {
                double e = REL_ERR(L->out.data[j], y_ref[j], y_mag[j]);
                bad_y += !(e <= 1e-5), worst = e > worst ? e : worst;
            }
            for (j = 0; j < nx; j++) {
                double e = REL_ERR(net->dinput.data[j], dx_ref[j], dx_mag[j]);
                /* a pixel no window sees has dx exactly 0 */
                if (dx_mag[j] == 0) e = net->dinput.data[j] == 0.0f ? 0 : 1;
                bad_dx += !(e <= 1e-5), worst = e > worst ? e : worst;
            }
            for (j = 0; j < nw; j++) {
                double e = REL_ERR(L->dw[j], dw_ref[j], dw_mag[j]);
                bad_dw += !(e <= 1e-5), worst = e > worst ? e : worst;
            }
            for (j = 0; j < (size_t)OC; j++) {
                double e = REL_ERR(L->db[j], db_ref[j], db_mag[j]);
                bad_db += !(e <= 1e-5), worst = e > worst ? e : worst;
            }
#undef REL_ERR
            CHECK(bad_y + bad_dx + bad_dw + bad_db == 0,
                  "conv %dx%dx%d oc%d k%d s%d p%d g%d n%d [%s]: %zu outputs, %zu dx, %zu dw, %zu db off the double "
                  "reference by more than 1e-5 (worst %.3g)",
                  C, H, W, OC, K, S, P, G, N, cnnvis__kernels_name(net->kernels), bad_y, bad_dx, bad_dw, bad_db, worst);
            printf("  conv %dx%dx%d oc%d k%d s%d p%d g%d n%d [%s]: worst relative error %.2e\n", C, H, W, OC, K, S, P, G, N,
                   cnnvis__kernels_name(net->kernels), worst);
        }
        free(y_ref), free(y_mag), free(dx_ref), free(dx_mag), free(dw_ref), free(dw_mag), free(db_ref), free(db_mag);
        cnnvis_tensor_free(&x);
        cnnvis_tensor_free(&R);
        cnnvis_net_free(net);
    }
}

/* --- End to end: alexnet_mini's softmax cross-entropy -------------------------------------- */

static void e2e_case(int c, int h, int w, uint64_t seed)
{
    cnnvis_net_desc d;
    cnnvis_net *net;
    cnnvis_tensor x;
    cnnvis_rng rng;
    char name[64];
    int32_t labels[2] = {3, 7};
    cnnvis_result r;
    gopts o;
    o.samples_x = E2E_PIXELS, o.samples_w = E2E_WEIGHTS, o.samples_b = 1;
    o.eps_x = 1e-2f, o.eps_w_rel = 1e-2f, o.e2e = 1;
    cnnvis_net_desc_preset(&d, "alexnet_mini", c, h, w, 10);
    d.max_batch = 2;
    d.seed = seed;
    r = cnnvis_net_create(&net, &d);
    REQUIRE(r == CNNVIS_OK, "create: %s", cnnvis_last_error());
    net->training = 0; /* evaluation: dropout is the identity */
    /* He's gain 2 keeps the activations' scale through the ReLUs, so that a pixel's effect
       on the loss stays well above the loss's rounding noise */
    cnnvis__rng_seed(&rng, seed);
    randomize_params(net, &rng, 2.0, 0.1f);
    r = cnnvis_tensor_create(&x, 2, c, h, w);
    REQUIRE(r == CNNVIS_OK, "tensor");
    fill_uniform(x.data, cnnvis_tensor_count(&x), &rng, -1.0f, 1.0f);
    snprintf(name, sizeof name, "alexnet_mini %dx%dx%d cross-entropy n2", c, h, w);
    check_net(net, &x, NULL, labels, name, &o, seed);
    cnnvis_tensor_free(&x);
    cnnvis_net_free(net);
}

static void test_alexnet_mini_3x32x32(void) { e2e_case(3, 32, 32, 7000); }
static void test_alexnet_mini_1x28x28(void) { e2e_case(1, 28, 28, 7001); }

/* --- cnnvis_grad_check: the library's own check of one layer ---------------------------------

   On a small net with the layers whose backward pass matters (conv, ReLU, LRN, max-pool,
   fc), random parameters (He's gain 2, biases U(-0.5, 0.5)) and a random batch of 2 images
   (fixed seeds), each layer checked with BACKPROP must pass: coordinates compared, and
   worst (|a - n| / (max(|a|, |n|) + 1e-3 scale) over up to 32 coordinates of the layer's
   input, weights and biases, steps of 1e-2 of each tensor's scale) below GRAD_CHECK_BOUND.
   Measured on 100 seeds of this net (9000-9099), reference and AVX2 kernels: the largest
   worst was 5.6e-3 for conv1, 6.7e-4 for norm1, 2.0e-2 for fc, and exactly 0 for relu1 and
   pool1 (piecewise linear: between kinks the quotient is exact). fc's figure is float
   rounding, not a wrong gradient: a weight whose gradient nearly cancels between the two
   images (a = 5e-4 against scale 1.3) is compared at the floor 1e-3 scale = 1.3e-3, while
   one ulp of an output |y| ~ 3 (2.4e-7) over the step 2h ~ 3e-3 is already 8e-5. The bound
   0.05 is 2.5 times the largest of those 200 runs and 8 times below the smallest figure of a
   wrong rule (0.42, below).
   With DECONVNET the ReLU passes max(R, 0) and LRN passes R unchanged: neither is the
   gradient, so the check must fail with worst of order 1 (> 0.1): a ReLU coordinate whose
   input and signal differ in sign gives a = 0 against n = R or the other way round (ratio
   1; measured at least 0.997); LRN, whose slope is about k^-beta = 0.59, gives a ratio near
   0.4 (measured at least 0.417). GUIDED on the ReLU zeroes the negative signal where the
   input is positive: it fails the same way (at least 0.997). */
#define GRAD_CHECK_BOUND 0.05

static void grad_check_net(cnnvis_net **out, cnnvis_tensor *x, uint64_t seed)
{
    cnnvis_net_desc d;
    cnnvis_rng rng;
    *out = NULL;
    cnnvis_net_desc_init(&d, 3, 15, 13);
    cnnvis_net_desc_conv(&d, "conv1", 6, 3, 1, 1, 1);
    cnnvis_net_desc_relu(&d, "relu1");
    cnnvis_net_desc_lrn(&d, "norm1", 5, 0.1f, 0.75f, 2.0f);
    cnnvis_net_desc_maxpool(&d, "pool1", 3, 2, 0);
    cnnvis_net_desc_fc(&d, "fc", 5);
    d.max_batch = 2, d.seed = seed;
    if (cnnvis_net_create(out, &d) != CNNVIS_OK) return;
    cnnvis__rng_seed(&rng, seed);
    randomize_params(*out, &rng, 2.0, 0.5f);
    if (cnnvis_tensor_create(x, 2, 3, 15, 13) != CNNVIS_OK) {
        cnnvis_net_free(*out), *out = NULL;
        return;
    }
    fill_uniform(x->data, cnnvis_tensor_count(x), &rng, -1.0f, 1.0f);
}

static void test_grad_check(void)
{
    static const char *layers[5] = {"conv1", "relu1", "norm1", "pool1", "fc"};
    static const struct {
        const char *layer;
        cnnvis_relu_rule rule;
        const char *name;
    } wrong[3] = {{"relu1", CNNVIS_RELU_DECONVNET, "DECONVNET"},
                  {"norm1", CNNVIS_RELU_DECONVNET, "DECONVNET"},
                  {"relu1", CNNVIS_RELU_GUIDED, "GUIDED"}};
    cnnvis_net *net;
    cnnvis_tensor x;
    int k, i;
    grad_check_net(&net, &x, 9000);
    REQUIRE(net != NULL, "create: %s", cnnvis_last_error());
    for (k = 0; k < 2; k++) {
        cnnvis_grad_report rep;
        cnnvis_result r;
        r = cnnvis__net_set_kernels(net, CNNVIS_KERNELS_AUTO);
        REQUIRE(r == CNNVIS_OK, "set_kernels: %s", cnnvis_last_error());
        if (k == 1 && net->kernels == CNNVIS_KERNELS_REFERENCE) {
            printf("  the default kernels are the reference ones here\n");
            break;
        }
        r = cnnvis__net_set_kernels(net, kernel_set[k]);
        REQUIRE(r == CNNVIS_OK, "set_kernels: %s", cnnvis_last_error());
        for (i = 0; i < 5; i++) {
            r = cnnvis_grad_check(&rep, net, layers[i], &x, CNNVIS_RELU_BACKPROP);
            CHECK(r == CNNVIS_OK, "%s: %s", layers[i], cnnvis_last_error());
            CHECK(rep.checked > 0, "%s [%s]: no coordinate compared (%d skipped)", layers[i],
                  cnnvis__kernels_name(net->kernels), rep.skipped);
            CHECK(rep.worst < GRAD_CHECK_BOUND, "%s [%s], BACKPROP: worst %.3g at %s > %g", layers[i],
                  cnnvis__kernels_name(net->kernels), rep.worst, rep.worst_at, GRAD_CHECK_BOUND);
            printf("  %-6s [%s] BACKPROP:  worst %.2e at %-9s %3d checked, %2d skipped at kinks\n", layers[i],
                   cnnvis__kernels_name(net->kernels), rep.worst, rep.worst_at, rep.checked, rep.skipped);
        }
        for (i = 0; i < 3; i++) {
            r = cnnvis_grad_check(&rep, net, wrong[i].layer, &x, wrong[i].rule);
            CHECK(r == CNNVIS_OK, "%s: %s", wrong[i].layer, cnnvis_last_error());
            CHECK(rep.checked > 0, "%s [%s], %s: no coordinate compared", wrong[i].layer,
                  cnnvis__kernels_name(net->kernels), wrong[i].name);
            CHECK(rep.worst > 0.1, "%s [%s], %s: worst %.3g: the check did not see that this is not the gradient",
                  wrong[i].layer, cnnvis__kernels_name(net->kernels), wrong[i].name, rep.worst);
            printf("  %-6s [%s] %-9s: worst %.2e at %-9s %3d checked, %2d skipped (must fail)\n", wrong[i].layer,
                   cnnvis__kernels_name(net->kernels), wrong[i].name, rep.worst, rep.worst_at, rep.checked,
                   rep.skipped);
        }
    }
    cnnvis_tensor_free(&x);
    cnnvis_net_free(net);
}

int main(void)
{
    verbose = getenv("GRAD_VERBOSE") != NULL;
    RUN(test_conv);
    RUN(test_relu);
    RUN(test_maxpool);
    RUN(test_lrn);
    RUN(test_dropout);
    RUN(test_fc_flatten);
    RUN(test_conv_double);
    RUN(test_grad_check);
    RUN(test_alexnet_mini_3x32x32);
    RUN(test_alexnet_mini_1x28x28);
    return SUMMARY();
}
