/* test_layers.c - each layer's behaviour against its definition, through the public net
   API: the three ReLU backward rules (lecture sections 3 and 4), max-pool values, switches
   and unpooling, LRN against PyTorch's LocalResponseNorm formula, softmax cross-entropy
   (also with saturated scores), the receptive fields the net reports, and bit-identical
   results for any number of threads. */
#define CNNVIS_IMPLEMENTATION
#include "cnnvis.h"
#include "minitest.h"
#include <stdlib.h>

static void fill_uniform(float *v, size_t n, cnnvis_rng *rng, float lo, float hi)
{
    size_t i;
    for (i = 0; i < n; i++) v[i] = lo + (hi - lo) * cnnvis__rng_uniform(rng);
}

static size_t layer_out_count(const cnnvis_layer *L) { return (size_t)L->out_c * L->out_h * L->out_w; }

/* Element (n, c, y, x) of a tensor. */
static float *at(const cnnvis_tensor *t, int n, int c, int y, int x)
{
    return t->data + (((size_t)n * t->c + c) * t->h + y) * t->w + x;
}

/* A net with one layer of the given kind on a (c, h, w) input. */
static cnnvis_net *one_layer_net(const cnnvis_layer_desc *layer, int c, int h, int w, int max_batch)
{
    cnnvis_net_desc d;
    cnnvis_net *net = NULL;
    cnnvis_result r;
    cnnvis_net_desc_init(&d, c, h, w);
    cnnvis_net_desc_add(&d, layer);
    d.max_batch = max_batch;
    r = cnnvis_net_create(&net, &d);
    if (r != CNNVIS_OK) printf("  create: %s\n", cnnvis_last_error());
    return net;
}

/* --- ReLU: forward and the three backward rules ---------------------------------------------- */

/* Two images of 3x3. Every pairing of H (the forward input) negative, zero, positive with
   R (the signal from above) negative, zero, positive, and the expected results worked
   out by hand from the rules:
     BACKPROP   dx = R * 1(H > 0)
     DECONVNET  dx = max(R, 0)
     GUIDED     dx = R * 1(H > 0) * 1(R > 0)                                          */
static void test_relu_rules(void)
{
    static const float H[18] = {-2, -2, -2, 0, 0, 0, 1.5f, 1.5f, 1.5f, /* image 0 */
                                0.5f, -0.5f, 0, 4, -4, 0.1f, 0, 7, -7}; /* image 1 */
    static const float R[18] = {-1, 0, 3, -1, 0, 3, -1, 0, 3, /* image 0 */
                                2, 2, 2, -3, -3, -3, 0, 0, 0};
    static const float fwd[18] = {0, 0, 0, 0, 0, 0, 1.5f, 1.5f, 1.5f, 0.5f, 0, 0, 4, 0, 0.1f, 0, 7, 0};
    static const float expect[3][18] = {
        {0, 0, 0, 0, 0, 0, -1, 0, 3, 2, 0, 0, -3, 0, -3, 0, 0, 0}, /* BACKPROP */
        {0, 0, 3, 0, 0, 3, 0, 0, 3, 2, 2, 2, 0, 0, 0, 0, 0, 0},    /* DECONVNET */
        {0, 0, 0, 0, 0, 0, 0, 0, 3, 2, 0, 0, 0, 0, 0, 0, 0, 0},    /* GUIDED */
    };
    static const char *names[3] = {"BACKPROP", "DECONVNET", "GUIDED"};
    cnnvis_layer_desc l;
    cnnvis_net *net;
    cnnvis_tensor x, dy;
    cnnvis_result r;
    int rule, j;
    memset(&l, 0, sizeof l);
    l.kind = CNNVIS_LAYER_RELU;
    net = one_layer_net(&l, 1, 3, 3, 2);
    REQUIRE(net != NULL, "net");
    x = cnnvis_tensor_wrap((float *)H, 2, 1, 3, 3);
    dy = cnnvis_tensor_wrap((float *)R, 2, 1, 3, 3);
    r = cnnvis_net_forward(net, &x);
    REQUIRE(r == CNNVIS_OK, "forward: %s", cnnvis_last_error());
    for (j = 0; j < 18; j++)
        CHECK(net->layers[0].out.data[j] == fwd[j], "forward [%d]: max(%g, 0) gave %g", j, (double)H[j],
              (double)net->layers[0].out.data[j]);
    for (rule = 0; rule < 3; rule++) {
        memset(net->dinput.data, 0x7f, sizeof(float) * 18); /* garbage: backward must overwrite it */
        r = cnnvis_net_backward(net, NULL, &dy, (cnnvis_relu_rule)rule, 0);
        REQUIRE(r == CNNVIS_OK, "backward: %s", cnnvis_last_error());
        for (j = 0; j < 18; j++)
            CHECK(net->dinput.data[j] == expect[rule][j], "%s [%d]: H = %g, R = %g: dx = %g, expected %g", names[rule], j,
                  (double)H[j], (double)R[j], (double)net->dinput.data[j], (double)expect[rule][j]);
    }
    cnnvis_net_free(net);
}

/* --- Max-pool: values, switches, unpooling ----------------------------------------------- */

/* The definition: the window of output (oy, ox) is rows oy*S - P ... + K - 1 and the same
   for columns; positions outside the input (padding) never win; the first maximum in
   row-major window order wins ties. Returns the index iy*W + ix. */
static int brute_argmax(const float *plane, int h, int w, int k, int s, int p, int oy, int ox)
{
    int ky, kx, best = -1;
    for (ky = 0; ky < k; ky++)
        for (kx = 0; kx < k; kx++) {
            int iy = oy * s - p + ky, ix = ox * s - p + kx;
            if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
            if (best < 0 || plane[iy * w + ix] > plane[best]) best = iy * w + ix;
        }
    return best;
}

static void test_maxpool_switches(void)
{
    static const struct {
        int h, w, k, s, p;
    } cases[] = {
        {9, 11, 3, 2, 1}, /* overlapping, alexnet_mini's */
        {9, 11, 3, 2, 0}, /* overlapping, AlexNet's */
        {8, 7, 2, 2, 0},  {7, 9, 3, 1, 1}, {11, 10, 5, 3, 2}, {9, 9, 4, 2, 2},
        {8, 8, 3, 3, 1},  {6, 7, 2, 1, 0}, {5, 5, 1, 1, 0},
    };
    const int N = 2, C = 3;
    size_t ci;
    for (ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        const int H = cases[ci].h, W = cases[ci].w, K = cases[ci].k, S = cases[ci].s, P = cases[ci].p;
        cnnvis_layer_desc l;
        cnnvis_net *net;
        cnnvis_layer *L;
        cnnvis_tensor x, dy;
        cnnvis_rng rng;
        cnnvis_result r;
        int input_kind;
        memset(&l, 0, sizeof l);
        l.kind = CNNVIS_LAYER_MAXPOOL, l.kernel = K, l.stride = S, l.pad = P;
        net = one_layer_net(&l, C, H, W, N);
        REQUIRE(net != NULL, "net");
        L = &net->layers[0];
        CHECK(L->out_h == (H + 2 * P - K) / S + 1 && L->out_w == (W + 2 * P - K) / S + 1, "output %dx%d", L->out_h,
              L->out_w);
        r = cnnvis_tensor_create(&x, N, C, H, W);
        REQUIRE(r == CNNVIS_OK, "tensor");
        r = cnnvis_tensor_create(&dy, N, C, L->out_h, L->out_w);
        REQUIRE(r == CNNVIS_OK, "tensor");
        cnnvis__rng_seed(&rng, 100 + ci);
        /* 0: continuous values; 1: integers -3..0, so ties are common and every value is
           negative (zero padding would win there, -inf padding never does) */
        for (input_kind = 0; input_kind < 2; input_kind++) {
            int n, c, oy, ox, bad_y = 0, bad_sw = 0, bad_dx = 0, shared = 0;
            size_t j;
            float *expect_dx = (float *)calloc(cnnvis_tensor_count(&x), sizeof(float));
            int *hits = (int *)calloc(cnnvis_tensor_count(&x), sizeof(int));
            REQUIRE(expect_dx && hits, "out of memory");
            for (j = 0; j < cnnvis_tensor_count(&x); j++)
                x.data[j] = input_kind ? -(float)cnnvis__rng_below(&rng, 4) : 2.0f * cnnvis__rng_uniform(&rng) - 1.0f;
            /* integer gradients: every sum is exact, whatever its order */
            for (j = 0; j < cnnvis_tensor_count(&dy); j++) dy.data[j] = (float)cnnvis__rng_below(&rng, 7) - 3.0f;
            r = cnnvis_net_forward(net, &x);
            REQUIRE(r == CNNVIS_OK, "forward: %s", cnnvis_last_error());
            r = cnnvis_net_backward(net, NULL, &dy, CNNVIS_RELU_BACKPROP, 0);
            REQUIRE(r == CNNVIS_OK, "backward: %s", cnnvis_last_error());
            for (n = 0; n < N; n++)
                for (c = 0; c < C; c++) {
                    const float *plane = x.data + ((size_t)n * C + c) * H * W;
                    size_t base = ((size_t)n * C + c) * L->out_h * L->out_w;
                    for (oy = 0; oy < L->out_h; oy++)
                        for (ox = 0; ox < L->out_w; ox++) {
                            size_t o = base + (size_t)oy * L->out_w + ox;
                            int arg = brute_argmax(plane, H, W, K, S, P, oy, ox);
                            if (L->out.data[o] != plane[arg] && bad_y++ < 3)
                                printf("  k%d s%d p%d image %d ch %d out (%d, %d): %g, brute force %g\n", K, S, P, n, c, oy,
                                       ox, (double)L->out.data[o], (double)plane[arg]);
                            if (L->switches[o] != arg && bad_sw++ < 3)
                                printf("  k%d s%d p%d image %d ch %d out (%d, %d): switch %d, brute force %d\n", K, S, P, n,
                                       c, oy, ox, (int)L->switches[o], arg);
                            expect_dx[((size_t)n * C + c) * H * W + arg] += dy.data[o];
                            hits[((size_t)n * C + c) * H * W + arg]++;
                        }
                }
            for (j = 0; j < cnnvis_tensor_count(&x); j++) {
                bad_dx += net->dinput.data[j] != expect_dx[j];
                shared += hits[j] > 1;
            }
            CHECK(bad_y == 0, "k%d s%d p%d on %dx%d (%s input): %d outputs differ from the brute-force maximum", K, S, P, H,
                  W, input_kind ? "tied" : "random", bad_y);
            CHECK(bad_sw == 0, "k%d s%d p%d on %dx%d (%s input): %d switches differ from the brute-force argmax", K, S, P,
                  H, W, input_kind ? "tied" : "random", bad_sw);
            CHECK(bad_dx == 0, "k%d s%d p%d on %dx%d (%s input): unpooling: %d input gradients are not the sum of the "
                  "gradients whose switch points there", K, S, P, H, W, input_kind ? "tied" : "random", bad_dx);
            /* overlapping windows on tied inputs do pick the same position: the sum is tested */
            if (K > S && input_kind == 1)
                CHECK(shared > 0, "k%d s%d p%d: no input position was chosen by two windows", K, S, P);
            free(expect_dx);
            free(hits);
        }
        cnnvis_tensor_free(&x);
        cnnvis_tensor_free(&dy);
        cnnvis_net_free(net);
    }
}

/* --- LRN ----------------------------------------------------------------------------------- */

/* PyTorch's LocalResponseNorm, directly, in double:
     b_c = a_c / (k + alpha/size * sum over c' in [c - size/2, c + (size-1)/2] of a_c'^2)^beta
   (channels outside [0, C) count as 0). mirrored = 1 evaluates the window reflected,
   [c - (size-1)/2, c + size/2], to show that the test tells the two apart. */
static double lrn_ref(const float *x, int C, int hw, int c, int pix, int size, double alpha, double beta, double k,
                      int mirrored, double *base)
{
    int lo = mirrored ? c - (size - 1) / 2 : c - size / 2, hi = mirrored ? c + size / 2 : c + (size - 1) / 2, j;
    double sum = 0;
    for (j = lo; j <= hi; j++)
        if (j >= 0 && j < C) sum += (double)x[(size_t)j * hw + pix] * x[(size_t)j * hw + pix];
    *base = k + alpha / size * sum;
    return x[(size_t)c * hw + pix] / pow(*base, beta);
}

static void test_lrn_forward(void)
{
    static const struct {
        int size;
        float alpha;
    } cases[] = {{5, 1e-4f}, {5, 0.1f}, {4, 1e-4f}, {4, 0.1f}, {3, 0.1f}, {1, 0.1f}, {9, 0.1f}};
    const int N = 2, C = 7, H = 3, W = 5, HW = H * W;
    size_t ci;
    for (ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        const int size = cases[ci].size;
        const double alpha = cases[ci].alpha, beta = 0.75, k = 2;
        cnnvis_layer_desc l;
        cnnvis_net *net;
        cnnvis_tensor x;
        cnnvis_rng rng;
        cnnvis_result r;
        int n, c, pix, bad = 0, bad_s = 0, mirror_differs = 0;
        double worst = 0;
        memset(&l, 0, sizeof l);
        l.kind = CNNVIS_LAYER_LRN, l.size = size, l.alpha = cases[ci].alpha, l.beta = 0.75f, l.k = 2.0f;
        net = one_layer_net(&l, C, H, W, N);
        REQUIRE(net != NULL, "net");
        r = cnnvis_tensor_create(&x, N, C, H, W);
        REQUIRE(r == CNNVIS_OK, "tensor");
        cnnvis__rng_seed(&rng, 200 + ci);
        fill_uniform(x.data, cnnvis_tensor_count(&x), &rng, -3.0f, 3.0f);
        r = cnnvis_net_forward(net, &x);
        REQUIRE(r == CNNVIS_OK, "forward: %s", cnnvis_last_error());
        for (n = 0; n < N; n++)
            for (c = 0; c < C; c++)
                for (pix = 0; pix < HW; pix++) {
                    const float *img = x.data + (size_t)n * C * HW;
                    size_t at = ((size_t)n * C + c) * HW + pix;
                    double base, base_m, ref = lrn_ref(img, C, HW, c, pix, size, alpha, beta, k, 0, &base);
                    double mirror = lrn_ref(img, C, HW, c, pix, size, alpha, beta, k, 1, &base_m);
                    double got = net->layers[0].out.data[at], err = fabs(got - ref) / (fabs(ref) + 1e-30);
                    worst = err > worst ? err : worst;
                    bad += !(err <= 1e-5);
                    bad_s += !(fabs(net->layers[0].aux[at] - base) <= 1e-6 * base);
                    mirror_differs += fabs(mirror - ref) > 1e-3 * fabs(ref);
                }
        CHECK(bad == 0, "LRN size %d alpha %g: %d of %d outputs off PyTorch's formula by more than 1e-5 (worst %.3g)", size,
              alpha, bad, N * C * HW, worst);
        CHECK(bad_s == 0, "LRN size %d alpha %g: %d values of aux differ from s = k + alpha/size * sum a^2", size, alpha,
              bad_s);
        /* with an even size and a large alpha, the window's side matters: the data can tell */
        if (size % 2 == 0 && alpha > 0.01)
            CHECK(mirror_differs > 0, "LRN size %d: the reflected window gives the same outputs; the test is blind", size);
        printf("  LRN size %d alpha %g beta 0.75 k 2: worst relative error %.2e\n", size, alpha, worst);
        cnnvis_tensor_free(&x);
        cnnvis_net_free(net);
    }
}

/* Backward: with DECONVNET the signal passes unchanged (Zeiler & Fergus do not invert the
   normalisation); with BACKPROP and GUIDED, the true gradient, here against its formula
   in double:
     dx_i = dy_i s_i^-beta - (2 alpha beta / size) x_i sum over the c whose window holds i of
            dy_c x_c s_c^(-beta-1)
   compared relative to the sum of its terms' magnitudes (1e-5). */
static void test_lrn_backward(void)
{
    static const int sizes[3] = {5, 4, 3};
    const int N = 2, C = 6, H = 2, W = 3, HW = H * W;
    const double alpha = 0.1, beta = 0.75, k = 2;
    int si;
    for (si = 0; si < 3; si++) {
        const int size = sizes[si];
        cnnvis_layer_desc l;
        cnnvis_net *net;
        cnnvis_tensor x, dy;
        cnnvis_rng rng;
        cnnvis_result r;
        float *backprop;
        size_t count = (size_t)N * C * HW;
        int n, i, c, pix, bad = 0, same_as_dy = 0;
        double worst = 0;
        memset(&l, 0, sizeof l);
        l.kind = CNNVIS_LAYER_LRN, l.size = size, l.alpha = (float)alpha, l.beta = (float)beta, l.k = (float)k;
        net = one_layer_net(&l, C, H, W, N);
        REQUIRE(net != NULL, "net");
        r = cnnvis_tensor_create(&x, N, C, H, W);
        REQUIRE(r == CNNVIS_OK, "tensor");
        r = cnnvis_tensor_create(&dy, N, C, H, W);
        REQUIRE(r == CNNVIS_OK, "tensor");
        backprop = (float *)malloc(count * sizeof(float));
        REQUIRE(backprop, "out of memory");
        cnnvis__rng_seed(&rng, 300 + si);
        fill_uniform(x.data, count, &rng, -3.0f, 3.0f);
        fill_uniform(dy.data, count, &rng, -1.0f, 1.0f);
        r = cnnvis_net_forward(net, &x);
        REQUIRE(r == CNNVIS_OK, "forward: %s", cnnvis_last_error());

        r = cnnvis_net_backward(net, NULL, &dy, CNNVIS_RELU_DECONVNET, 0);
        REQUIRE(r == CNNVIS_OK, "backward: %s", cnnvis_last_error());
        CHECK(memcmp(net->dinput.data, dy.data, count * sizeof(float)) == 0,
              "LRN size %d, DECONVNET: the signal did not pass through unchanged", size);

        r = cnnvis_net_backward(net, NULL, &dy, CNNVIS_RELU_BACKPROP, 0);
        REQUIRE(r == CNNVIS_OK, "backward: %s", cnnvis_last_error());
        memcpy(backprop, net->dinput.data, count * sizeof(float));
        for (n = 0; n < N; n++)
            for (i = 0; i < C; i++)
                for (pix = 0; pix < HW; pix++) {
                    const float *xi = x.data + (size_t)n * C * HW, *dyi = dy.data + (size_t)n * C * HW;
                    size_t at = ((size_t)n * C + i) * HW + pix;
                    double s_i, s_c, ref, mag, term;
                    lrn_ref(xi, C, HW, i, pix, size, alpha, beta, k, 0, &s_i);
                    ref = dyi[(size_t)i * HW + pix] * pow(s_i, -beta), mag = fabs(ref);
                    for (c = 0; c < C; c++) {
                        if (!(c - size / 2 <= i && i <= c + (size - 1) / 2)) continue; /* window of c holds i */
                        lrn_ref(xi, C, HW, c, pix, size, alpha, beta, k, 0, &s_c);
                        term = 2 * alpha * beta / size * xi[(size_t)i * HW + pix] * dyi[(size_t)c * HW + pix] *
                               xi[(size_t)c * HW + pix] * pow(s_c, -beta - 1);
                        ref -= term, mag += fabs(term);
                    }
                    term = fabs(backprop[at] - ref) / mag;
                    worst = term > worst ? term : worst;
                    bad += !(term <= 1e-5);
                    same_as_dy += backprop[at] == dy.data[at];
                }
        CHECK(bad == 0, "LRN size %d, BACKPROP: %d input gradients off the formula by more than 1e-5 (worst %.3g)", size,
              bad, worst);
        CHECK(same_as_dy < (int)count / 2, "LRN size %d, BACKPROP: the gradient is mostly the signal itself", size);

        r = cnnvis_net_backward(net, NULL, &dy, CNNVIS_RELU_GUIDED, 0);
        REQUIRE(r == CNNVIS_OK, "backward: %s", cnnvis_last_error());
        CHECK(memcmp(net->dinput.data, backprop, count * sizeof(float)) == 0,
              "LRN size %d: GUIDED differs from BACKPROP (LRN has no ReLU rule)", size);
        printf("  LRN size %d alpha 0.1 backward: worst relative error %.2e\n", size, worst);
        free(backprop);
        cnnvis_tensor_free(&x);
        cnnvis_tensor_free(&dy);
        cnnvis_net_free(net);
    }
}

/* --- Softmax cross-entropy ----------------------------------------------------------------- */

/* The scores are set directly: the net is one flatten layer on (C, 1, 1) inputs, whose
   output is its input. */
static void xent_case(const char *what, const float *scores, const int32_t *labels, int N, int C, const double *expect_loss)
{
    cnnvis_layer_desc l;
    cnnvis_net *net;
    cnnvis_tensor x;
    cnnvis_result r;
    cnnvis_layer *L;
    float loss;
    double mean = 0;
    int n, c;
    memset(&l, 0, sizeof l);
    l.kind = CNNVIS_LAYER_FLATTEN;
    net = one_layer_net(&l, C, 1, 1, N);
    REQUIRE(net != NULL, "net");
    REQUIRE(net->n_classes == C, "%d classes", net->n_classes);
    L = &net->layers[0];
    x = cnnvis_tensor_wrap((float *)scores, N, C, 1, 1);
    r = cnnvis_net_forward(net, &x);
    REQUIRE(r == CNNVIS_OK, "forward: %s", cnnvis_last_error());
    r = cnnvis_net_loss(net, labels);
    REQUIRE(r == CNNVIS_OK, "loss: %s", cnnvis_last_error());
    loss = net->loss;
    for (n = 0; n < N; n++) {
        const float *s = scores + (size_t)n * C, *p = net->probs.data + (size_t)n * C;
        double m = s[0], z = 0, sum_p = 0;
        for (c = 1; c < C; c++) m = s[c] > m ? s[c] : m;
        for (c = 0; c < C; c++) z += exp((double)s[c] - m);
        for (c = 0; c < C; c++) {
            double p_ref = exp((double)s[c] - m) / z, g_ref = (p_ref - (c == labels[n])) / N;
            sum_p += p[c];
            CHECK(isfinite(p[c]) && fabs(p[c] - p_ref) <= 1e-6 * p_ref + 1e-30, "%s: image %d: p[%d] = %.9g, expected %.9g",
                  what, n, c, (double)p[c], p_ref);
            CHECK(isfinite(L->dout.data[(size_t)n * C + c]) && fabs(L->dout.data[(size_t)n * C + c] - g_ref) <= 1e-7,
                  "%s: image %d: dloss/dscore[%d] = %.9g, expected (p - onehot)/N = %.9g", what, n, c,
                  (double)L->dout.data[(size_t)n * C + c], g_ref);
        }
        CHECK(fabs(sum_p - 1) <= 1e-6, "%s: image %d: the probabilities sum to %.9g", what, n, sum_p);
        /* -log p[label] = log z + (m - s[label]): finite, and exact where m + log z would round
           the log away (two scores tied at 1e30 give log 2, not 0) */
        mean += (log(z) + (m - s[labels[n]])) / N;
    }
    CHECK(isfinite(loss) && fabs(loss - mean) <= 1e-6 * fabs(mean) + 1e-7, "%s: loss %.9g, expected mean -log p[label] %.9g",
          what, (double)loss, mean);
    if (expect_loss)
        CHECK(fabs(loss - *expect_loss) <= 1e-6 * fabs(*expect_loss) + 1e-7, "%s: loss %.9g, expected %.9g", what,
              (double)loss, *expect_loss);
    /* and on down: flatten passes it unchanged to the input */
    r = cnnvis_net_backward(net, NULL, NULL, CNNVIS_RELU_BACKPROP, CNNVIS_BACKWARD_KEEP);
    REQUIRE(r == CNNVIS_OK, "backward: %s", cnnvis_last_error());
    CHECK(memcmp(net->dinput.data, L->dout.data, sizeof(float) * (size_t)N * C) == 0,
          "%s: flatten's backward changed the gradient", what);
    cnnvis_net_free(net);
}

static void test_softmax_xent(void)
{
    static const float ordinary[3 * 5] = {0.5f, -1.25f, 2.0f, 0.0f, 0.75f, /**/ -3.0f, 1.0f, 1.0f, 0.5f, -0.5f,
                                          10.0f, 9.5f, -2.0f, 0.0f, 3.0f};
    static const int32_t ordinary_labels[3] = {2, 4, 1};
    /* saturated: a label at -1000 against 1000 (loss 2000), at 1000 (loss ~0), and scores
       of +-1e30 (loss 2e30, still a float); exp of any of them would overflow or vanish */
    static const float saturated[3 * 5] = {1000.0f, -1000.0f, 0.0f, 0.0f, 0.0f, /**/ 1000.0f, -1000.0f, 0.0f, 0.0f, 0.0f,
                                           1e30f, -1e30f, 0.0f, 5.0f, -1e30f};
    static const int32_t saturated_labels[3] = {1, 0, 1};
    static const float equal[2 * 5] = {7, 7, 7, 7, 7, -1000, -1000, -1000, -1000, -1000};
    static const int32_t equal_labels[2] = {0, 3};
    double saturated_loss = (2000.0 + 0.0 + 2e30) / 3, equal_loss = log(5.0);
    cnnvis_layer_desc l;
    cnnvis_net *net;
    cnnvis_tensor x;
    cnnvis_result r;
    int32_t bad_labels[2] = {0, 5};

    xent_case("ordinary scores", ordinary, ordinary_labels, 3, 5, NULL);
    xent_case("saturated scores", saturated, saturated_labels, 3, 5, &saturated_loss);
    xent_case("equal scores", equal, equal_labels, 2, 5, &equal_loss);

    /* a label outside [0, classes) is refused */
    memset(&l, 0, sizeof l);
    l.kind = CNNVIS_LAYER_FLATTEN;
    net = one_layer_net(&l, 5, 1, 1, 2);
    REQUIRE(net != NULL, "net");
    x = cnnvis_tensor_wrap((float *)equal, 2, 5, 1, 1);
    r = cnnvis_net_forward(net, &x);
    REQUIRE(r == CNNVIS_OK, "forward: %s", cnnvis_last_error());
    r = cnnvis_net_loss(net, bad_labels);
    CHECK(r == CNNVIS_ERR_ARG, "label 5 of 5 classes: %s", cnnvis_result_str(r));
    bad_labels[1] = -1;
    r = cnnvis_net_loss(net, bad_labels);
    CHECK(r == CNNVIS_ERR_ARG, "label -1: %s", cnnvis_result_str(r));
    cnnvis_net_free(net);
}

/* Two scores tied at 1e30: each class has probability 1/2. In double, 1e30 + log(2) is
   1e30, so probabilities taken as exp(s - lse) with lse = max + log(sum) come out 1 and 1;
   exp(s - max) / sum gives 1/2 and 1/2 at any magnitude. */
static void test_softmax_huge_ties(void)
{
    static const float tied[5] = {1e30f, -1e30f, 0.0f, 1e30f, -1e30f};
    static const int32_t label[1] = {3}, label_low[1] = {1};
    double loss = 2e30; /* -log p[1] = 1e30 + log 2 - (-1e30), which is 2e30 in double */
    xent_case("two scores tied at 1e30", tied, label, 1, 5, NULL);
    xent_case("two scores tied at 1e30, label at -1e30", tied, label_low, 1, 5, &loss);
}

/* --- Receptive fields ----------------------------------------------------------------------- */

/* Which input pixels a unit depends on, found by experiment: with positive weights, zero
   biases and an all-zero input, every activation is 0; lighting up input pixels makes
   exactly the units that depend on one of them positive (conv sums of positive terms,
   ReLU and LRN keep the sign, a max-pool window with one positive value outputs it).
   Lighting one whole input row at a time gives each unit's set of rows, one whole column
   at a time its set of columns (all probes in one batch). For every unit of every conv,
   ReLU, LRN, pool, dropout and fc layer (first and last channel) this is compared with:

   1. the exact field, by walking the unit's interval of positions down the layers: a
      window [a, b] at a layer's output covers [a*S - P, b*S - P + K - 1] of its input,
      clipped to the input's size (strides never exceed kernels here, so it stays one
      interval); a fully connected layer covers all of its input;
   2. the reported field, rows rf_offset + y*rf_stride ... + rf_size - 1 clipped to the
      image: it must start where the exact field starts and end no earlier. It is the
      standard span, which can end later: where a layer's output size (H + 2P - K)/S + 1
      rounds down, its last input rows reach no unit at all, yet the span of the units
      above still counts them. For alexnet_mini nothing is rounded away, and there the
      reported field must be the exact one.

   A few single pixels then check that the field is the product of its rows and columns:
   the corners of the exact field of unit (0, 0) and of a middle unit of each conv and
   pool layer light the unit, the pixels just outside do not. */
static int clip_range(int *lo, int *hi, int limit)
{
    if (*lo < 0) *lo = 0;
    if (*hi > limit - 1) *hi = limit - 1;
    return *lo <= *hi;
}

static int reported_range(const cnnvis_layer *L, int y, int limit, int *lo, int *hi)
{
    *lo = L->rf_offset + y * L->rf_stride;
    *hi = *lo + L->rf_size - 1;
    return clip_range(lo, hi, limit);
}

/* dim 0: rows, 1: columns. */
static int exact_range(const cnnvis_net *net, int layer, int y, int dim, int *lo, int *hi)
{
    int j;
    *lo = *hi = y;
    for (j = layer; j >= 0; j--) {
        const cnnvis_layer *L = &net->layers[j];
        if (L->desc.kind == CNNVIS_LAYER_FC) { /* sees every position of its input */
            *lo = 0, *hi = (dim ? L->in_w : L->in_h) - 1;
            continue;
        }
        if (L->desc.kind != CNNVIS_LAYER_CONV && L->desc.kind != CNNVIS_LAYER_MAXPOOL) continue;
        *lo = *lo * L->desc.stride - L->desc.pad;
        *hi = *hi * L->desc.stride - L->desc.pad + L->desc.kernel - 1;
        if (!clip_range(lo, hi, dim ? L->in_w : L->in_h)) return 0;
    }
    return 1;
}

static int spatial_kind(cnnvis_layer_kind kind)
{
    return kind == CNNVIS_LAYER_CONV || kind == CNNVIS_LAYER_RELU || kind == CNNVIS_LAYER_MAXPOOL ||
           kind == CNNVIS_LAYER_LRN || kind == CNNVIS_LAYER_DROPOUT || kind == CNNVIS_LAYER_FC;
}

static void rf_check(cnnvis_net_desc *d, const char *name, int reported_is_exact)
{
    cnnvis_net *net;
    cnnvis_tensor x;
    cnnvis_rng rng;
    cnnvis_result r;
    const int C = d->in_c, H = d->in_h, W = d->in_w, B = H + W;
    int i, probe, bad = 0, bad_reported = 0, units = 0, shorter = 0;
    d->max_batch = B;
    r = cnnvis_net_create(&net, d);
    REQUIRE(r == CNNVIS_OK, "%s: create: %s", name, cnnvis_last_error());
    cnnvis__rng_seed(&rng, 400);
    for (i = 0; i < net->n_layers; i++) {
        cnnvis_layer *L = &net->layers[i];
        if (L->n_w) {
            /* U(0.5, 1) / fan_in: positive, and no activation grows past the input's 1 */
            float fan_in = (float)L->n_w / (float)L->n_b;
            fill_uniform(L->w, L->n_w, &rng, 0.5f / fan_in, 1.0f / fan_in);
            memset(L->b, 0, sizeof(float) * L->n_b);
        }
    }
    net->training = 0;
    /* images 0..H-1 light row `probe`, images H..H+W-1 light column `probe - H` */
    r = cnnvis_tensor_create(&x, B, C, H, W);
    REQUIRE(r == CNNVIS_OK, "tensor");
    for (probe = 0; probe < B; probe++) {
        int c, y, xx;
        for (c = 0; c < C; c++)
            for (y = 0; y < H; y++)
                for (xx = 0; xx < W; xx++)
                    *at(&x, probe, c, y, xx) = (float)(probe < H ? y == probe : xx == probe - H);
    }
    r = cnnvis_net_forward(net, &x);
    REQUIRE(r == CNNVIS_OK, "%s: forward: %s", name, cnnvis_last_error());
    for (i = 0; i < net->n_layers; i++) {
        const cnnvis_layer *L = &net->layers[i];
        int oy, ox, chan, step = L->out_c > 1 ? L->out_c - 1 : 1;
        if (!spatial_kind(L->desc.kind)) continue;
        for (oy = 0; oy < L->out_h; oy++)
            for (ox = 0; ox < L->out_w; ox++) {
                int ylo, yhi, xlo, xhi, rylo, ryhi, rxlo, rxhi;
                int has_y = exact_range(net, i, oy, 0, &ylo, &yhi), has_x = exact_range(net, i, ox, 1, &xlo, &xhi);
                int rep_y = reported_range(L, oy, H, &rylo, &ryhi), rep_x = reported_range(L, ox, W, &rxlo, &rxhi);
                for (chan = 0; chan < L->out_c; chan += step) {
                    units++;
                    for (probe = 0; probe < B; probe++) {
                        int lit = *at(&L->out, probe, chan, oy, ox) > 0.0f;
                        int expect = probe < H ? has_x && has_y && probe >= ylo && probe <= yhi
                                               : has_y && has_x && probe - H >= xlo && probe - H <= xhi;
                        if (lit != expect && bad++ < 5)
                            printf("  %s: %s unit (%d, %d, %d): %s %d %s it, the exact field says it %s\n", name,
                                   L->desc.name, chan, oy, ox, probe < H ? "row" : "column", probe < H ? probe : probe - H,
                                   lit ? "reaches" : "does not reach", expect ? "should" : "should not");
                    }
                }
                if (has_y && has_x) {
                    int ok = rep_y && rep_x && rylo == ylo && rxlo == xlo && ryhi >= yhi && rxhi >= xhi;
                    if (reported_is_exact) ok = ok && ryhi == yhi && rxhi == xhi;
                    shorter += ok && (ryhi > yhi || rxhi > xhi);
                    if (!ok && bad_reported++ < 5)
                        printf("  %s: %s unit (%d, %d): reported field rows %d..%d, columns %d..%d (size %d stride %d "
                               "offset %d); exact rows %d..%d, columns %d..%d\n",
                               name, L->desc.name, oy, ox, rylo, ryhi, rxlo, rxhi, L->rf_size, L->rf_stride, L->rf_offset,
                               ylo, yhi, xlo, xhi);
                }
            }
    }
    CHECK(bad == 0, "%s: %d (unit, row or column) pairs: the output disagrees with the exact field", name, bad);
    CHECK(bad_reported == 0, "%s: %d units: rf_size/rf_stride/rf_offset disagree with the exact field", name,
          bad_reported);

    /* single pixels: corners of the exact field of unit (0, 0) and a middle unit */
    {
        cnnvis_tensor one;
        int corner_bad = 0, checks = 0;
        r = cnnvis_tensor_create(&one, 1, C, H, W);
        REQUIRE(r == CNNVIS_OK, "tensor");
        for (i = 0; i < net->n_layers; i++) {
            const cnnvis_layer *L = &net->layers[i];
            int u;
            if (L->desc.kind != CNNVIS_LAYER_CONV && L->desc.kind != CNNVIS_LAYER_MAXPOOL) continue;
            for (u = 0; u < 2; u++) {
                int oy = u ? L->out_h / 2 : 0, ox = u ? L->out_w / 2 : 0, ylo, yhi, xlo, xhi, corner;
                if (!exact_range(net, i, oy, 0, &ylo, &yhi) || !exact_range(net, i, ox, 1, &xlo, &xhi)) continue;
                /* the four corners inside, then one step outside each side (if in the image) */
                for (corner = 0; corner < 8; corner++) {
                    int py, px, expect = corner < 4, c, lit;
                    if (corner < 4) py = corner & 1 ? yhi : ylo, px = corner & 2 ? xhi : xlo;
                    else if (corner == 4) py = ylo - 1, px = xlo;
                    else if (corner == 5) py = yhi + 1, px = xlo;
                    else if (corner == 6) py = ylo, px = xlo - 1;
                    else py = ylo, px = xhi + 1;
                    if (py < 0 || py >= H || px < 0 || px >= W) continue;
                    memset(one.data, 0, sizeof(float) * cnnvis_tensor_count(&one));
                    for (c = 0; c < C; c++) *at(&one, 0, c, py, px) = 1.0f;
                    r = cnnvis_net_forward(net, &one);
                    REQUIRE(r == CNNVIS_OK, "forward: %s", cnnvis_last_error());
                    lit = *at(&L->out, 0, 0, oy, ox) > 0.0f;
                    checks++;
                    if (lit != expect && corner_bad++ < 5)
                        printf("  %s: %s unit (%d, %d): pixel (%d, %d) %s it, expected %s\n", name, L->desc.name, oy, ox, py,
                               px, lit ? "reaches" : "does not reach", expect ? "in" : "out");
                }
            }
        }
        CHECK(corner_bad == 0 && checks > 0, "%s: %d of %d single-pixel checks disagree with the exact fields", name,
              corner_bad, checks);
        cnnvis_tensor_free(&one);
    }
    printf("  %s: %d units checked; %d whose reported field runs past the rows they can see\n", name, units, shorter);
    cnnvis_tensor_free(&x);
    cnnvis_net_free(net);
}

static void test_receptive_field(void)
{
    cnnvis_net_desc d;
    cnnvis_net_desc_preset(&d, "alexnet_mini", 1, 28, 28, 10);
    rf_check(&d, "alexnet_mini 1x28x28", 1);
    /* the same layers on three channels: left out under an emulator, where its 64 probe
       images through the net take a minute */
    if (!minitest_emulated()) {
        cnnvis_net_desc_preset(&d, "alexnet_mini", 3, 32, 32, 10);
        rf_check(&d, "alexnet_mini 3x32x32", 1);
    }
    /* AlexNet's geometry on a small input: 11x11 stride 4, pools without padding, groups;
       conv1's last column (input columns 50..58) is never pooled */
    cnnvis_net_desc_init(&d, 2, 67, 59);
    cnnvis_net_desc_conv(&d, "conv1", 4, 11, 4, 2, 1);
    cnnvis_net_desc_relu(&d, "relu1");
    cnnvis_net_desc_lrn(&d, "norm1", 5, 1e-4f, 0.75f, 2.0f);
    cnnvis_net_desc_maxpool(&d, "pool1", 3, 2, 0);
    cnnvis_net_desc_conv(&d, "conv2", 4, 5, 1, 2, 2);
    cnnvis_net_desc_relu(&d, "relu2");
    cnnvis_net_desc_maxpool(&d, "pool2", 2, 2, 1);
    cnnvis_net_desc_conv(&d, "conv3", 2, 3, 1, 1, 1);
    rf_check(&d, "11x11/4 conv, LRN, pools, groups on 2x67x59", 0);
}

/* --- Thread count ---------------------------------------------------------------------------- */

/* One net built three times with n_threads 1, 2, 3 (same seed, so the same weights): after
   forward, loss and backward with parameters, every buffer must be bit-identical
   (memcmp): outputs, gradients, switches, LRN bases and dropout masks, dinput, dw, db,
   probabilities and the loss. Training mode covers dropout; both kernel sets (one where the
   default kernels are the reference ones). */
static int same_bytes(const void *a, const void *b, size_t bytes, const char *what, const char *ctx)
{
    if (bytes == 0 || memcmp(a, b, bytes) == 0) return 1;
    printf("  %s: %s differs\n", ctx, what);
    return 0;
}

/* Batches: fewer images than threads (the images are split within) and at least as many
   (split between); -O0 builds and ThreadSanitizer use fewer and smaller ones to stay fast. */
#if defined(__OPTIMIZE__) && !defined(MINITEST_TSAN)
#define THREADS_FAST_BUILD 1
#else
#define THREADS_FAST_BUILD 0
#endif
#define THREADS_BATCHES_MAX 3
static int threads_batches = 3, batches[THREADS_BATCHES_MAX] = {1, 2, 5}, threads_size = 32;

/* The smaller configuration for -O0, ThreadSanitizer and emulators. */
static void threads_choose_sizes(void)
{
    if (THREADS_FAST_BUILD && !minitest_emulated()) return;
    threads_batches = 2, batches[0] = 1, batches[1] = 3, threads_size = 16;
}

static void threads_case(cnnvis_net_desc *d, const char *name)
{
    cnnvis_net *nets[3];
    cnnvis_tensor x;
    cnnvis_rng rng;
    cnnvis_result r;
    int t, k, bi, i, mode, n_sets;
    int32_t labels[8];
    d->max_batch = batches[threads_batches - 1];
    d->seed = 77;
    for (t = 0; t < 3; t++) {
        d->n_threads = t + 1;
        r = cnnvis_net_create(&nets[t], d);
        REQUIRE(r == CNNVIS_OK, "%s: create: %s", name, cnnvis_last_error());
        if (nets[t]->n_threads != t + 1) {
            int got = nets[t]->n_threads;
            for (i = 0; i <= t; i++) cnnvis_net_free(nets[i]);
            SKIP("%s: asked for %d threads, got %d (is CNNVIS_THREADS set?)", name, t + 1, got);
        }
    }
    r = cnnvis_tensor_create(&x, d->max_batch, d->in_c, d->in_h, d->in_w);
    REQUIRE(r == CNNVIS_OK, "tensor");
    cnnvis__rng_seed(&rng, 500);
    fill_uniform(x.data, cnnvis_tensor_count(&x), &rng, -1.0f, 1.0f);
    for (i = 0; i < d->max_batch; i++) labels[i] = (int32_t)cnnvis__rng_below(&rng, (uint32_t)nets[0]->n_classes);
    for (i = 0; i < nets[0]->n_layers; i++)
        CHECK(nets[0]->layers[i].n_w == 0 ||
                  (memcmp(nets[0]->layers[i].w, nets[1]->layers[i].w, sizeof(float) * nets[0]->layers[i].n_w) == 0 &&
                   memcmp(nets[0]->layers[i].w, nets[2]->layers[i].w, sizeof(float) * nets[0]->layers[i].n_w) == 0),
              "%s: layer %s: the initial weights depend on the thread count", name, nets[0]->layers[i].desc.name);
    /* where the default kernels are the reference ones, the second set would repeat the first */
    r = cnnvis__net_set_kernels(nets[0], CNNVIS_KERNELS_AUTO);
    REQUIRE(r == CNNVIS_OK, "set_kernels: %s", cnnvis_last_error());
    n_sets = nets[0]->kernels == CNNVIS_KERNELS_REFERENCE ? 1 : 2;
    for (k = 0; k < n_sets; k++)
        for (mode = 0; mode < 2; mode++)
            for (bi = 0; bi < threads_batches; bi++) {
                int N = batches[bi], ok = 1;
                char ctx[160];
                cnnvis_tensor xb = cnnvis_tensor_wrap(x.data, N, d->in_c, d->in_h, d->in_w);
                for (t = 0; t < 3; t++) {
                    cnnvis_net *net = nets[t];
                    r = cnnvis__net_set_kernels(net, k ? CNNVIS_KERNELS_AUTO : CNNVIS_KERNELS_REFERENCE);
                    REQUIRE(r == CNNVIS_OK, "set_kernels: %s", cnnvis_last_error());
                    net->training = mode;
                    cnnvis__rng_seed(&net->rng, 1234 + (uint64_t)bi); /* the same dropout masks */
                    r = cnnvis_net_forward(net, &xb);
                    REQUIRE(r == CNNVIS_OK, "forward: %s", cnnvis_last_error());
                    r = cnnvis_net_loss(net, labels);
                    REQUIRE(r == CNNVIS_OK, "loss: %s", cnnvis_last_error());
                    cnnvis_net_zero_grad(net);
                    r = cnnvis_net_backward(net, NULL, NULL, CNNVIS_RELU_BACKPROP,
                                            CNNVIS_BACKWARD_KEEP | CNNVIS_BACKWARD_PARAMS);
                    REQUIRE(r == CNNVIS_OK, "backward: %s", cnnvis_last_error());
                }
                for (t = 1; t < 3; t++) {
                    const cnnvis_net *a = nets[0], *b = nets[t];
                    size_t in_bytes = sizeof(float) * (size_t)N * d->in_c * d->in_h * d->in_w;
                    snprintf(ctx, sizeof ctx, "%s [%s, %s, batch %d]: %d threads vs 1", name,
                             cnnvis__kernels_name(a->kernels), mode ? "training" : "evaluation", N, t + 1);
                    ok &= same_bytes(&a->loss, &b->loss, sizeof a->loss, "the loss", ctx);
                    ok &= same_bytes(a->probs.data, b->probs.data, sizeof(float) * (size_t)N * a->n_classes, "probs", ctx);
                    ok &= same_bytes(a->dinput.data, b->dinput.data, in_bytes, "dinput", ctx);
                    for (i = 0; i < a->n_layers; i++) {
                        const cnnvis_layer *la = &a->layers[i], *lb = &b->layers[i];
                        size_t out_bytes = sizeof(float) * (size_t)N * layer_out_count(la);
                        char what[64];
                        snprintf(what, sizeof what, "%s.out", la->desc.name);
                        ok &= same_bytes(la->out.data, lb->out.data, out_bytes, what, ctx);
                        snprintf(what, sizeof what, "%s.dout", la->desc.name);
                        ok &= same_bytes(la->dout.data, lb->dout.data, out_bytes, what, ctx);
                        snprintf(what, sizeof what, "%s.dw", la->desc.name);
                        ok &= same_bytes(la->dw, lb->dw, sizeof(float) * la->n_w, what, ctx);
                        snprintf(what, sizeof what, "%s.db", la->desc.name);
                        ok &= same_bytes(la->db, lb->db, sizeof(float) * la->n_b, what, ctx);
                        if (la->switches) {
                            snprintf(what, sizeof what, "%s.switches", la->desc.name);
                            ok &= same_bytes(la->switches, lb->switches, sizeof(int32_t) * (size_t)N * layer_out_count(la),
                                             what, ctx);
                        }
                        if (la->aux) {
                            snprintf(what, sizeof what, "%s.aux", la->desc.name);
                            ok &= same_bytes(la->aux, lb->aux, out_bytes, what, ctx);
                        }
                    }
                }
                CHECK(ok, "%s [%s, %s, batch %d]: results depend on the number of threads", name,
                      cnnvis__kernels_name(nets[0]->kernels), mode ? "training" : "evaluation", N);
            }
    printf("  %s: 1, 2, 3 threads x %d kernel set%s x evaluation/training x batches of up to %d compared\n", name,
           n_sets, n_sets > 1 ? "s" : "", batches[threads_batches - 1]);
    cnnvis_tensor_free(&x);
    for (t = 0; t < 3; t++) cnnvis_net_free(nets[t]);
}

static void test_threads(void)
{
    cnnvis_net_desc d;
    threads_choose_sizes();
    cnnvis_net_desc_preset(&d, "alexnet_mini", 3, threads_size, threads_size, 10);
    threads_case(&d, "alexnet_mini");
    /* the layers alexnet_mini lacks: LRN, groups, 11x11 stride 4, odd sizes */
    cnnvis_net_desc_init(&d, 3, 39, 37);
    cnnvis_net_desc_conv(&d, "conv1", 12, 11, 4, 2, 1);
    cnnvis_net_desc_relu(&d, "relu1");
    cnnvis_net_desc_lrn(&d, "norm1", 5, 1e-4f, 0.75f, 2.0f);
    cnnvis_net_desc_maxpool(&d, "pool1", 3, 2, 0);
    cnnvis_net_desc_conv(&d, "conv2", 18, 3, 1, 1, 3);
    cnnvis_net_desc_relu(&d, "relu2");
    cnnvis_net_desc_lrn(&d, "norm2", 4, 0.1f, 0.75f, 2.0f);
    cnnvis_net_desc_dropout(&d, "drop", 0.5f);
    cnnvis_net_desc_flatten(&d, "flat");
    cnnvis_net_desc_fc(&d, "fc", 7);
    threads_case(&d, "conv11/4-relu-lrn-pool-conv(g3)-relu-lrn-drop-flatten-fc");
}

int main(void)
{
    RUN(test_relu_rules);
    RUN(test_maxpool_switches);
    RUN(test_lrn_forward);
    RUN(test_lrn_backward);
    RUN(test_softmax_xent);
    RUN(test_softmax_huge_ties);
    RUN(test_receptive_field);
    RUN(test_threads);
    return SUMMARY();
}
