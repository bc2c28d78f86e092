/* test_errors.c - misuse of the API returns a status and leaves a message naming the problem;
   nothing crashes, and a refused call changes nothing. */
#define _POSIX_C_SOURCE 200809L /* setenv, unsetenv, getpid */
#include <stdlib.h>
#include <unistd.h>
#include <limits.h>
#define CNNVIS_IMPLEMENTATION
#include "cnnvis.h"
#include "minitest.h"
#include "expect.h"

/* A small net: 1x8x8 -> 3 classes. */
static void small_desc(cnnvis_net_desc *d)
{
    cnnvis_net_desc_init(d, 1, 8, 8);
    cnnvis_net_desc_conv(d, "conv1", 4, 3, 1, 1, 1);
    cnnvis_net_desc_relu(d, "relu1");
    cnnvis_net_desc_maxpool(d, "pool1", 2, 2, 0);
    cnnvis_net_desc_conv(d, "conv2", 6, 3, 1, 1, 1);
    cnnvis_net_desc_relu(d, "relu2");
    cnnvis_net_desc_fc(d, "fc3", 3);
    d->max_batch = 8, d->n_threads = 1, d->seed = 5;
}

static cnnvis_net *small_net(void)
{
    cnnvis_net_desc d;
    cnnvis_net *net = NULL;
    small_desc(&d);
    if (cnnvis_net_create(&net, &d) != CNNVIS_OK) printf("  small_net: %s\n", cnnvis_last_error());
    return net;
}

/* A copy of every weight and bias, to show that a refused call changed nothing. */
static float *snapshot(const cnnvis_net *net, size_t *count)
{
    size_t n = 0, k = 0, j;
    int i;
    float *s;
    for (i = 0; i < net->n_layers; i++) n += net->layers[i].n_w + net->layers[i].n_b;
    s = (float *)malloc(sizeof(float) * (n ? n : 1));
    for (i = 0; i < net->n_layers; i++) {
        for (j = 0; j < net->layers[i].n_w; j++) s[k++] = net->layers[i].w[j];
        for (j = 0; j < net->layers[i].n_b; j++) s[k++] = net->layers[i].b[j];
    }
    *count = n;
    return s;
}

/* Same bits (NaN == NaN here). */
static int unchanged(const cnnvis_net *net, const float *s, size_t count)
{
    size_t n;
    float *now = snapshot(net, &n);
    int same = n == count && memcmp(now, s, sizeof(float) * n) == 0;
    free(now);
    return same;
}

static void fill_input(cnnvis_tensor *x)
{
    size_t i, n = cnnvis_tensor_count(x);
    for (i = 0; i < n; i++) x->data[i] = (float)((i * 37) % 17) / 17.0f - 0.5f;
}

/* --- cnnvis_net_create ------------------------------------------------------------------ */

static void test_create_args(void)
{
    cnnvis_net_desc d;
    cnnvis_net *net = (cnnvis_net *)&d; /* not NULL: must be set to NULL on failure */
    EXPECT(cnnvis_net_create(&net, NULL), CNNVIS_ERR_ARG, "NULL");
    CHECK(net == NULL, "*out not NULL after failure");
    small_desc(&d);
    EXPECT(cnnvis_net_create(NULL, &d), CNNVIS_ERR_ARG, "out");
    cnnvis_clear_error();
    CHECK(cnnvis_net_memory_size(NULL) == 0 && cnnvis_last_error()[0], "memory_size(NULL)");

    cnnvis_net_desc_init(&d, 1, 8, 8);
    net = (cnnvis_net *)&d;
    EXPECT(cnnvis_net_create(&net, &d), CNNVIS_ERR_ARG, "0 layers");
    CHECK(net == NULL, "*out not NULL after failure");

    small_desc(&d);
    d.in_c = 0;
    EXPECT(cnnvis_net_create(&net, &d), CNNVIS_ERR_ARG, "input shape");
    small_desc(&d);
    d.in_h = -3;
    EXPECT(cnnvis_net_create(&net, &d), CNNVIS_ERR_ARG, "input shape");
    small_desc(&d);
    d.n_layers = CNNVIS_MAX_LAYERS + 1; /* filled by hand, past the array's end */
    EXPECT(cnnvis_net_create(&net, &d), CNNVIS_ERR_ARG, "layers");
    small_desc(&d);
    d.n_layers = -1;
    EXPECT(cnnvis_net_create(&net, &d), CNNVIS_ERR_ARG, "layers");
    small_desc(&d);
    d.kernels = (cnnvis_kernels)17;
    EXPECT(cnnvis_net_create(&net, &d), CNNVIS_ERR_ARG, "kernels");
    small_desc(&d);
    d.std[1] = -1.0f;
    EXPECT(cnnvis_net_create(&net, &d), CNNVIS_ERR_ARG, "std");
    small_desc(&d);
    d.mean[0] = NAN;
    EXPECT(cnnvis_net_create(&net, &d), CNNVIS_ERR_ARG, "mean");
    CHECK(net == NULL, "*out not NULL after failure");
}

/* cnnvis_net_desc_preset: unknown names and missing sizes are refused */
static void test_preset_errors(void)
{
    cnnvis_net_desc d;
    EXPECT(cnnvis_net_desc_preset(&d, "alexnet_tiny", 1, 28, 28, 10), CNNVIS_ERR_ARG, "alexnet_tiny");
    EXPECT(cnnvis_net_desc_preset(&d, "", 1, 28, 28, 10), CNNVIS_ERR_ARG, "no preset");
    EXPECT(cnnvis_net_desc_preset(&d, "alexnet_mini", 0, 0, 0, 10), CNNVIS_ERR_ARG, "alexnet_mini");
    EXPECT(cnnvis_net_desc_preset(&d, "alexnet_mini", 1, 28, 0, 10), CNNVIS_ERR_ARG, "alexnet_mini");
    EXPECT(cnnvis_net_desc_preset(&d, "alexnet", -3, 0, 0, 10), CNNVIS_ERR_ARG, "negative");
    CHECK(cnnvis_net_desc_preset(&d, "alexnet_mini", 1, 28, 28, 10) == CNNVIS_OK && d.in_c == 1 && d.in_h == 28 &&
              d.in_w == 28 && d.n_layers > 0 && !d.error,
          "alexnet_mini: %s", cnnvis_last_error());
    CHECK(cnnvis_net_desc_preset(&d, "alexnet", 0, 0, 0, 10) == CNNVIS_OK && d.in_c == 3 && d.in_h == 224 && d.in_w == 224,
          "alexnet: %s (input %dx%dx%d)", cnnvis_last_error(), d.in_c, d.in_h, d.in_w);
    CHECK(cnnvis_net_desc_preset(&d, "alexnet_original", 0, 0, 0, 10) == CNNVIS_OK && d.in_c == 3 && d.in_h == 227 &&
              d.in_w == 227,
          "alexnet_original: %s (input %dx%dx%d)", cnnvis_last_error(), d.in_c, d.in_h, d.in_w);
}

static void test_create_too_many_layers(void)
{
    cnnvis_net_desc d;
    cnnvis_net *net = NULL;
    int i;
    cnnvis_net_desc_init(&d, 1, 8, 8);
    for (i = 0; i < CNNVIS_MAX_LAYERS + 1; i++) cnnvis_net_desc_relu(&d, NULL);
    CHECK(d.n_layers == CNNVIS_MAX_LAYERS, "n_layers %d after 65 builder calls", d.n_layers);
    CHECK(d.error != 0, "the builder did not record the error");
    EXPECT(cnnvis_net_create(&net, &d), CNNVIS_ERR_ARG, "more than 64 layers");
    CHECK(net == NULL, "net");
    /* exactly 64 is fine */
    cnnvis_net_desc_init(&d, 1, 8, 8);
    for (i = 0; i < CNNVIS_MAX_LAYERS; i++) cnnvis_net_desc_relu(&d, NULL);
    d.n_threads = 1;
    CHECK(cnnvis_net_create(&net, &d) == CNNVIS_OK, "64 layers: %s", cnnvis_last_error());
    if (net) CHECK(strcmp(net->layers[63].desc.name, "relu64") == 0, "default name \"%s\"", net->layers[63].desc.name);
    cnnvis_net_free(net);
}

static void test_create_layer_errors(void)
{
    cnnvis_net_desc d;
    cnnvis_net *net = NULL;
    cnnvis_layer_desc l;

    /* unknown kinds */
    cnnvis_net_desc_init(&d, 1, 8, 8);
    memset(&l, 0, sizeof l);
    l.kind = (cnnvis_layer_kind)99;
    cnnvis_net_desc_add(&d, &l);
    EXPECT(cnnvis_net_create(&net, &d), CNNVIS_ERR_ARG, "unknown kind 99");
    d.layers[0].kind = CNNVIS_LAYER_NONE;
    EXPECT(cnnvis_net_create(&net, &d), CNNVIS_ERR_ARG, "unknown kind");
    d.layers[0].kind = CNNVIS_LAYER_KIND_COUNT;
    EXPECT(cnnvis_net_create(&net, &d), CNNVIS_ERR_ARG, "unknown kind");
    d.layers[0].kind = (cnnvis_layer_kind)-1;
    EXPECT(cnnvis_net_create(&net, &d), CNNVIS_ERR_ARG, "unknown kind");

    /* duplicate names */
    small_desc(&d);
    strcpy(d.layers[4].name, "conv1");
    EXPECT(cnnvis_net_create(&net, &d), CNNVIS_ERR_ARG, "name used twice");
    CHECK(has(cnnvis_last_error(), "conv1"), "message \"%s\" names the layer", cnnvis_last_error());
    /* a user name that collides with a default name */
    cnnvis_net_desc_init(&d, 1, 8, 8);
    cnnvis_net_desc_relu(&d, "relu2");
    cnnvis_net_desc_relu(&d, NULL); /* becomes relu2 */
    EXPECT(cnnvis_net_create(&net, &d), CNNVIS_ERR_ARG, "relu2");

    /* a name of 32 characters or more to a builder; 31 is fine */
    cnnvis_net_desc_init(&d, 1, 8, 8);
    cnnvis_net_desc_relu(&d, "a_name_of_exactly_thirty_two_ch"); /* 31 */
    d.n_threads = 1;
    CHECK(cnnvis_net_create(&net, &d) == CNNVIS_OK, "31 characters: %s", cnnvis_last_error());
    if (net) CHECK(strcmp(net->layers[0].desc.name, "a_name_of_exactly_thirty_two_ch") == 0, "name kept");
    cnnvis_net_free(net), net = NULL;
    cnnvis_net_desc_init(&d, 1, 8, 8);
    cnnvis_net_desc_relu(&d, "a_name_of_exactly_thirty_two_chr"); /* 32 */
    EXPECT(cnnvis_net_create(&net, &d), CNNVIS_ERR_ARG, "32 characters");
    /* a name with no terminating zero, added by hand */
    cnnvis_net_desc_init(&d, 1, 8, 8);
    memset(&l, 0, sizeof l);
    l.kind = CNNVIS_LAYER_RELU;
    memset(l.name, 'x', sizeof l.name);
    cnnvis_net_desc_add(&d, &l);
    EXPECT(cnnvis_net_create(&net, &d), CNNVIS_ERR_ARG, "zero-terminated");

    /* kernel larger than the padded input: the message names the layer */
    small_desc(&d);
    d.layers[3].kernel = 7; /* conv2 sees 4x4 padded to 6x6 */
    EXPECT(cnnvis_net_create(&net, &d), CNNVIS_ERR_ARG, "conv2");
    CHECK(has(cnnvis_last_error(), "larger than its padded input"), "message \"%s\"", cnnvis_last_error());
    small_desc(&d);
    d.layers[2].kernel = 9, d.layers[2].stride = 1; /* pool1 sees 8x8 */
    EXPECT(cnnvis_net_create(&net, &d), CNNVIS_ERR_ARG, "pool1");
    /* conv kernel, stride and pad limits */
    small_desc(&d);
    d.layers[0].kernel = 0;
    EXPECT(cnnvis_net_create(&net, &d), CNNVIS_ERR_ARG, "conv1");
    small_desc(&d);
    d.layers[0].pad = -1;
    EXPECT(cnnvis_net_create(&net, &d), CNNVIS_ERR_ARG, "conv1");
    small_desc(&d);
    d.layers[0].stride = -2;
    EXPECT(cnnvis_net_create(&net, &d), CNNVIS_ERR_ARG, "conv1");
    small_desc(&d);
    d.layers[0].out_channels = 0;
    EXPECT(cnnvis_net_create(&net, &d), CNNVIS_ERR_ARG, "conv1");
    small_desc(&d);
    d.layers[5].out_channels = -4;
    EXPECT(cnnvis_net_create(&net, &d), CNNVIS_ERR_ARG, "fc3");

    /* groups not dividing the channels: names the layer */
    small_desc(&d);
    d.layers[3].groups = 3; /* 4 input channels */
    EXPECT(cnnvis_net_create(&net, &d), CNNVIS_ERR_ARG, "conv2");
    CHECK(has(cnnvis_last_error(), "groups 3"), "message \"%s\"", cnnvis_last_error());
    small_desc(&d);
    d.layers[3].groups = 4; /* divides 4 inputs, not 6 outputs */
    EXPECT(cnnvis_net_create(&net, &d), CNNVIS_ERR_ARG, "conv2");
    small_desc(&d);
    d.layers[3].groups = -2;
    EXPECT(cnnvis_net_create(&net, &d), CNNVIS_ERR_ARG, "conv2");

    /* pool pad more than half the kernel */
    small_desc(&d);
    d.layers[2].kernel = 3, d.layers[2].pad = 2;
    EXPECT(cnnvis_net_create(&net, &d), CNNVIS_ERR_ARG, "pool pad 2");
    CHECK(has(cnnvis_last_error(), "pool1"), "message \"%s\" names the layer", cnnvis_last_error());

    /* dropout p outside (0, 1) (0 means the default 0.5) */
    {
        static const float ps[] = {1.0f, -0.1f, 1.5f, NAN, INFINITY};
        size_t k;
        for (k = 0; k < sizeof ps / sizeof ps[0]; k++) {
            cnnvis_net_desc_init(&d, 1, 8, 8);
            cnnvis_net_desc_dropout(&d, "drop", ps[k]);
            EXPECT(cnnvis_net_create(&net, &d), CNNVIS_ERR_ARG, "dropout probability");
            CHECK(has(cnnvis_last_error(), "drop"), "p = %g: message \"%s\"", ps[k], cnnvis_last_error());
            CHECK(net == NULL, "net");
        }
        cnnvis_net_desc_init(&d, 1, 8, 8);
        cnnvis_net_desc_dropout(&d, "drop", 0.0f);
        d.n_threads = 1;
        CHECK(cnnvis_net_create(&net, &d) == CNNVIS_OK, "p = 0 (default): %s", cnnvis_last_error());
        if (net) CHECK(net->layers[0].desc.p == 0.5f, "p = 0 resolves to %g, documented 0.5", net->layers[0].desc.p);
        cnnvis_net_free(net), net = NULL;
    }

    /* LRN: negative or non-finite parameters are refused; 0 means the documented default
       (size 5, alpha 1e-4, beta 0.75, k 2), so k = 0 gives k = 2 */
    {
        static const float ks[] = {-1.0f, NAN, INFINITY};
        size_t k;
        for (k = 0; k < sizeof ks / sizeof ks[0]; k++) {
            cnnvis_net_desc_init(&d, 8, 4, 4);
            cnnvis_net_desc_lrn(&d, "norm1", 5, 1e-4f, 0.75f, ks[k]);
            EXPECT(cnnvis_net_create(&net, &d), CNNVIS_ERR_ARG, "norm1");
        }
        cnnvis_net_desc_init(&d, 8, 4, 4);
        cnnvis_net_desc_lrn(&d, "norm1", -5, 1e-4f, 0.75f, 2.0f);
        EXPECT(cnnvis_net_create(&net, &d), CNNVIS_ERR_ARG, "LRN size -5");
        cnnvis_net_desc_init(&d, 8, 4, 4);
        cnnvis_net_desc_lrn(&d, "norm1", 5, -1e-4f, 0.75f, 2.0f);
        EXPECT(cnnvis_net_create(&net, &d), CNNVIS_ERR_ARG, "norm1");
        cnnvis_net_desc_init(&d, 8, 4, 4);
        cnnvis_net_desc_lrn(&d, "norm1", 5, 1e-4f, -0.75f, 2.0f);
        EXPECT(cnnvis_net_create(&net, &d), CNNVIS_ERR_ARG, "norm1");
        cnnvis_net_desc_init(&d, 8, 4, 4);
        cnnvis_net_desc_lrn(&d, "norm1", 0, 0.0f, 0.0f, 0.0f);
        d.n_threads = 1;
        CHECK(cnnvis_net_create(&net, &d) == CNNVIS_OK, "LRN zeros (defaults): %s", cnnvis_last_error());
        if (net) {
            const cnnvis_layer_desc *ld = &net->layers[0].desc;
            CHECK(ld->size == 5 && ld->alpha == 1e-4f && ld->beta == 0.75f && ld->k == 2.0f,
                  "LRN defaults: size %d alpha %g beta %g k %g", ld->size, ld->alpha, ld->beta, ld->k);
        }
        cnnvis_net_free(net), net = NULL;
    }

    /* fc with too many weights */
    cnnvis_net_desc_init(&d, 256, 256, 256);
    cnnvis_net_desc_fc(&d, "fc_huge", 1000);
    EXPECT(cnnvis_net_create(&net, &d), CNNVIS_ERR_ARG, "fc_huge");
    CHECK(net == NULL, "net");
}

static void test_create_runtime_limits(void)
{
    cnnvis_net_desc d;
    cnnvis_net *net = NULL;
    small_desc(&d);
    d.max_batch = -1;
    EXPECT(cnnvis_net_create(&net, &d), CNNVIS_ERR_ARG, "max_batch -1");
    small_desc(&d);
    d.max_batch = 100000;
    EXPECT(cnnvis_net_create(&net, &d), CNNVIS_ERR_ARG, "max_batch 100000");
    small_desc(&d);
    d.n_threads = -1;
    EXPECT(cnnvis_net_create(&net, &d), CNNVIS_ERR_ARG, "n_threads -1");
    small_desc(&d);
    d.n_threads = 10000;
    EXPECT(cnnvis_net_create(&net, &d), CNNVIS_ERR_ARG, "n_threads 10000");
    CHECK(net == NULL, "net");
    small_desc(&d);
    d.n_threads = 257; /* the documented maximum is 256 */
    EXPECT(cnnvis_net_create(&net, &d), CNNVIS_ERR_ARG, "n_threads 257 is not in 1..256");
    small_desc(&d);
    d.n_threads = INT_MIN;
    EXPECT(cnnvis_net_create(&net, &d), CNNVIS_ERR_ARG, "n_threads");
    CHECK(net == NULL, "net");
    /* max_batch 0 means 64 */
    small_desc(&d);
    d.max_batch = 0;
    CHECK(cnnvis_net_create(&net, &d) == CNNVIS_OK, "max_batch 0: %s", cnnvis_last_error());
    if (net) CHECK(net->desc.max_batch == 64, "max_batch 0 resolves to %d", net->desc.max_batch);
    cnnvis_net_free(net);
}

static void test_env_threads(void)
{
    static const char *bad[] = {"0", "abc", "100000", "10000", "257", "-1", "-2", "3x", " "};
    cnnvis_net_desc d;
    cnnvis_net *net = NULL;
    size_t k;
    small_desc(&d);
    for (k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        setenv("CNNVIS_THREADS", bad[k], 1);
        EXPECT(cnnvis_net_create(&net, &d), CNNVIS_ERR_ARG, "CNNVIS_THREADS");
        CHECK(has(cnnvis_last_error(), bad[k]), "message \"%s\" shows the value %s", cnnvis_last_error(), bad[k]);
        CHECK(net == NULL, "net with CNNVIS_THREADS=%s", bad[k]);
    }
    setenv("CNNVIS_THREADS", "3", 1);
    CHECK(cnnvis_net_create(&net, &d) == CNNVIS_OK, "CNNVIS_THREADS=3: %s", cnnvis_last_error());
#ifndef CNNVIS_NO_THREADS
    if (net) CHECK(net->n_threads == 3, "CNNVIS_THREADS=3 gave %d threads (desc asked 1)", net->n_threads);
#endif
    if (net) {
        cnnvis_tensor x;
        if (cnnvis_tensor_create(&x, 5, 1, 8, 8) == CNNVIS_OK) {
            fill_input(&x);
            CHECK(cnnvis_net_forward(net, &x) == CNNVIS_OK, "forward with 3 threads: %s", cnnvis_last_error());
            cnnvis_tensor_free(&x);
        }
    }
    cnnvis_net_free(net), net = NULL;
    /* empty means unset */
    setenv("CNNVIS_THREADS", "", 1);
    CHECK(cnnvis_net_create(&net, &d) == CNNVIS_OK, "CNNVIS_THREADS= (empty): %s", cnnvis_last_error());
    if (net) CHECK(net->n_threads == 1, "empty CNNVIS_THREADS gave %d threads", net->n_threads);
    cnnvis_net_free(net), net = NULL;
    unsetenv("CNNVIS_THREADS");

    setenv("CNNVIS_KERNELS", "fastest", 1);
    EXPECT(cnnvis_net_create(&net, &d), CNNVIS_ERR_ARG, "CNNVIS_KERNELS=fastest");
    CHECK(net == NULL, "net");
    setenv("CNNVIS_KERNELS", "reference", 1);
    CHECK(cnnvis_net_create(&net, &d) == CNNVIS_OK, "CNNVIS_KERNELS=reference: %s", cnnvis_last_error());
    if (net) CHECK(net->kernels == CNNVIS_KERNELS_REFERENCE, "kernels %s", cnnvis__kernels_name(net->kernels));
    cnnvis_net_free(net);
    unsetenv("CNNVIS_KERNELS");
}

/* --- Using a net ------------------------------------------------------------------------ */

static void test_find(void)
{
    cnnvis_net *net = small_net();
    REQUIRE(net, "net");
    CHECK(cnnvis_net_find(net, "conv2") == 3, "find conv2");
    cnnvis_clear_error();
    CHECK(cnnvis_net_find(net, "conv9") == -1, "find conv9");
    CHECK(has(cnnvis_last_error(), "conv9"), "message \"%s\" names the layer asked for", cnnvis_last_error());
    cnnvis_clear_error();
    CHECK(cnnvis_net_find(net, "") == -1 && cnnvis_last_error()[0], "find \"\"");
    cnnvis_clear_error();
    CHECK(cnnvis_net_find(net, NULL) == -1 && cnnvis_last_error()[0], "find NULL");
    cnnvis_clear_error();
    CHECK(cnnvis_net_find(NULL, "conv1") == -1 && cnnvis_last_error()[0], "find in NULL net");
    cnnvis_clear_error();
    CHECK(cnnvis_net_find(net, "nope") == -1 && has(cnnvis_last_error(), "nope"), "layer nope");
    CHECK(cnnvis_net_find(net, "fc3") == 5, "layer fc3");
    CHECK(strcmp(cnnvis_net_class_name(net, 3), "?") == 0 && strcmp(cnnvis_net_class_name(net, -1), "?") == 0 &&
              strcmp(cnnvis_net_class_name(NULL, 0), "?") == 0,
          "class name out of range");
    CHECK(strcmp(cnnvis_net_class_name(net, 2), "2") == 0, "default class name \"%s\"", cnnvis_net_class_name(net, 2));
    cnnvis_net_free(net);
    cnnvis_net_free(NULL); /* fine */
}

static void test_forward_errors(void)
{
    cnnvis_net *net = small_net();
    cnnvis_tensor x, other;
    float buf[10 * 8 * 8];
    REQUIRE(net, "net");
    REQUIRE(cnnvis_tensor_create(&x, 2, 1, 8, 8) == CNNVIS_OK, "x");
    fill_input(&x);
    CHECK(cnnvis_net_forward(net, &x) == CNNVIS_OK, "forward: %s", cnnvis_last_error());
    CHECK(net->batch == 2, "batch %d", net->batch);

    EXPECT(cnnvis_net_forward(NULL, &x), CNNVIS_ERR_ARG, "net");
    EXPECT(cnnvis_net_forward(net, NULL), CNNVIS_ERR_ARG, "input");
    other = cnnvis_tensor_wrap(NULL, 1, 1, 8, 8);
    EXPECT(cnnvis_net_forward(net, &other), CNNVIS_ERR_ARG, "NULL");
    memset(buf, 0, sizeof buf);
    other = cnnvis_tensor_wrap(buf, 1, 3, 8, 8); /* wrong channel count */
    EXPECT(cnnvis_net_forward(net, &other), CNNVIS_ERR_ARG, "3x8x8");
    other = cnnvis_tensor_wrap(buf, 1, 1, 8, 7); /* wrong size */
    EXPECT(cnnvis_net_forward(net, &other), CNNVIS_ERR_ARG, "1x8x7");
    other = cnnvis_tensor_wrap(buf, 1, 1, 16, 4); /* same count, wrong shape */
    EXPECT(cnnvis_net_forward(net, &other), CNNVIS_ERR_ARG, "1x16x4");
    other = cnnvis_tensor_wrap(buf, 0, 1, 8, 8); /* batch 0 */
    EXPECT(cnnvis_net_forward(net, &other), CNNVIS_ERR_ARG, "batch of 0");
    other = cnnvis_tensor_wrap(buf, -1, 1, 8, 8);
    EXPECT(cnnvis_net_forward(net, &other), CNNVIS_ERR_ARG, "batch of -1");
    other = cnnvis_tensor_wrap(buf, 9, 1, 8, 8); /* max_batch is 8 */
    EXPECT(cnnvis_net_forward(net, &other), CNNVIS_ERR_ARG, "max_batch");
    CHECK(net->batch == 2, "a refused forward changed net->batch to %d", net->batch);

    /* normalize / denormalize with the wrong shape */
    other = cnnvis_tensor_wrap(buf, 1, 1, 8, 7);
    EXPECT(cnnvis_net_normalize(&other, net, &other), CNNVIS_ERR_ARG, "the net takes");
    EXPECT(cnnvis_net_denormalize(&other, net, &other), CNNVIS_ERR_ARG, "the net takes");
    EXPECT(cnnvis_net_normalize(&x, NULL, &x), CNNVIS_ERR_ARG, "NULL");
    other = cnnvis_tensor_wrap(buf, 1, 1, 8, 8);
    EXPECT(cnnvis_net_normalize(&other, net, &x), CNNVIS_ERR_ARG, "differ");
    cnnvis_tensor_free(&x);
    cnnvis_net_free(net);
}

static void test_loss_errors(void)
{
    cnnvis_net *net = small_net();
    cnnvis_tensor x;
    int32_t labels[2] = {0, 2}, bad[2] = {0, 3}, neg[2] = {-1, 0};
    REQUIRE(net, "net");
    net->loss = -1;
    EXPECT(cnnvis_net_loss(net, labels), CNNVIS_ERR_ARG, "no forward pass");
    REQUIRE(cnnvis_tensor_create(&x, 2, 1, 8, 8) == CNNVIS_OK, "x");
    fill_input(&x);
    REQUIRE(cnnvis_net_forward(net, &x) == CNNVIS_OK, "forward: %s", cnnvis_last_error());
    EXPECT(cnnvis_net_loss(net, bad), CNNVIS_ERR_ARG, "label 3 of image 1");
    EXPECT(cnnvis_net_loss(net, neg), CNNVIS_ERR_ARG, "label -1 of image 0");
    EXPECT(cnnvis_net_loss(net, NULL), CNNVIS_ERR_ARG, "labels");
    EXPECT(cnnvis_net_loss(NULL, labels), CNNVIS_ERR_ARG, "net");
    CHECK(net->loss == -1, "a refused loss wrote net->loss");
    CHECK(cnnvis_net_loss(net, labels) == CNNVIS_OK && isfinite(net->loss) && net->loss > 0, "loss %g", net->loss);
    cnnvis_tensor_free(&x);
    cnnvis_net_free(net);
}

static void test_backward_errors(void)
{
    cnnvis_net *net = small_net();
    cnnvis_tensor x, g, wrong;
    REQUIRE(net, "net");
    REQUIRE(cnnvis_tensor_create(&g, 2, 3, 1, 1) == CNNVIS_OK, "g");
    g.data[0] = 1;
    EXPECT(cnnvis_net_backward(net, "fc3", &g, CNNVIS_RELU_BACKPROP, 0), CNNVIS_ERR_ARG, "no forward pass");
    REQUIRE(cnnvis_tensor_create(&x, 2, 1, 8, 8) == CNNVIS_OK, "x");
    fill_input(&x);
    REQUIRE(cnnvis_net_forward(net, &x) == CNNVIS_OK, "forward: %s", cnnvis_last_error());
    /* layers by index: the private variant the library's own passes call */
    EXPECT(cnnvis__net_backward_from(net, 6, &g, CNNVIS_RELU_BACKPROP, 0), CNNVIS_ERR_ARG, "layer index 6");
    EXPECT(cnnvis__net_backward_from(net, -1, &g, CNNVIS_RELU_BACKPROP, 0), CNNVIS_ERR_ARG, "layer index -1");
    /* by name: an unknown name is refused, naming it */
    EXPECT(cnnvis_net_backward(net, "fc9", &g, CNNVIS_RELU_BACKPROP, 0), CNNVIS_ERR_ARG, "fc9");
    EXPECT(cnnvis_net_backward(net, "fc3", &g, (cnnvis_relu_rule)3, 0), CNNVIS_ERR_ARG, "ReLU rule 3");
    EXPECT(cnnvis_net_backward(net, NULL, &g, (cnnvis_relu_rule)-1, 0), CNNVIS_ERR_ARG, "ReLU rule -1");
    EXPECT(cnnvis_net_backward(net, "fc3", NULL, CNNVIS_RELU_BACKPROP, 0), CNNVIS_ERR_ARG, "dout");
    EXPECT(cnnvis_net_backward(NULL, "fc3", &g, CNNVIS_RELU_BACKPROP, 0), CNNVIS_ERR_ARG, "net");
    /* wrong dout shapes: other batch, other layer's shape; the message names the layer */
    REQUIRE(cnnvis_tensor_create(&wrong, 1, 3, 1, 1) == CNNVIS_OK, "wrong");
    EXPECT(cnnvis_net_backward(net, NULL, &wrong, CNNVIS_RELU_BACKPROP, 0), CNNVIS_ERR_ARG, "fc3");
    cnnvis_tensor_free(&wrong);
    REQUIRE(cnnvis_tensor_create(&wrong, 2, 4, 8, 8) == CNNVIS_OK, "wrong");
    EXPECT(cnnvis_net_backward(net, "conv2", &wrong, CNNVIS_RELU_BACKPROP, 0), CNNVIS_ERR_ARG, "conv2");
    CHECK(cnnvis_net_backward(net, "relu1", &wrong, CNNVIS_RELU_GUIDED, 0) == CNNVIS_OK, "relu1 takes (2,4,8,8): %s",
          cnnvis_last_error());
    cnnvis_tensor_free(&wrong);
    /* KEEP with a NULL dout is fine */
    CHECK(cnnvis_net_backward(net, "fc3", NULL, CNNVIS_RELU_DECONVNET, CNNVIS_BACKWARD_KEEP) == CNNVIS_OK, "KEEP: %s",
          cnnvis_last_error());
    CHECK(cnnvis_net_backward(net, NULL, &g, CNNVIS_RELU_BACKPROP, CNNVIS_BACKWARD_PARAMS) == CNNVIS_OK, "backward: %s",
          cnnvis_last_error());
    /* cnnvis_grad_check: an unknown layer, an unknown rule, images of the wrong shape */
    {
        cnnvis_grad_report gr;
        float buf[3 * 8 * 8] = {0};
        cnnvis_tensor other = cnnvis_tensor_wrap(buf, 1, 3, 8, 8);
        EXPECT(cnnvis_grad_check(&gr, net, "conv9", &x, CNNVIS_RELU_BACKPROP), CNNVIS_ERR_ARG, "conv9");
        EXPECT(cnnvis_grad_check(&gr, net, "conv1", &x, (cnnvis_relu_rule)3), CNNVIS_ERR_ARG, "ReLU rule 3");
        EXPECT(cnnvis_grad_check(&gr, net, "conv1", &other, CNNVIS_RELU_BACKPROP), CNNVIS_ERR_ARG, "cnnvis_grad_check");
        CHECK(cnnvis_grad_check(&gr, net, "conv1", &x, CNNVIS_RELU_BACKPROP) == CNNVIS_OK && gr.checked > 0,
              "grad_check: %s", cnnvis_last_error());
    }
    cnnvis_tensor_free(&x), cnnvis_tensor_free(&g);
    cnnvis_net_free(net);
}

static void test_kernels_errors(void)
{
    cnnvis_net *net = small_net();
    cnnvis_kernels before;
    REQUIRE(net, "net");
    before = net->kernels;
#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__)
    EXPECT(cnnvis__net_set_kernels(net, CNNVIS_KERNELS_NEON), CNNVIS_ERR_UNSUPPORTED, "NEON");
#elif defined(__aarch64__)
    EXPECT(cnnvis__net_set_kernels(net, CNNVIS_KERNELS_AVX2), CNNVIS_ERR_UNSUPPORTED, "AVX2");
#endif
    CHECK(net->kernels == before, "a refused set_kernels changed the kernels to %s", cnnvis__kernels_name(net->kernels));
    EXPECT(cnnvis__net_set_kernels(net, (cnnvis_kernels)42), CNNVIS_ERR_ARG, "unknown kernels 42");
    EXPECT(cnnvis__net_set_kernels(NULL, CNNVIS_KERNELS_AUTO), CNNVIS_ERR_ARG, "NULL");
    CHECK(net->kernels == before, "kernels changed");
    CHECK(cnnvis__net_set_kernels(net, CNNVIS_KERNELS_REFERENCE) == CNNVIS_OK && net->kernels == CNNVIS_KERNELS_REFERENCE,
          "reference kernels");
    CHECK(cnnvis__net_set_kernels(net, CNNVIS_KERNELS_AUTO) == CNNVIS_OK && net->kernels != CNNVIS_KERNELS_AUTO,
          "AUTO resolves to real kernels");
    CHECK(strcmp(cnnvis__kernels_name((cnnvis_kernels)42), "?") == 0, "name of unknown kernels");
    cnnvis_net_free(net);
}

/* --- Data sets, training, evaluation ------------------------------------------------------ */

static void make_dataset(cnnvis_dataset *ds, int n, int c, int h, int w, int n_classes)
{
    int i;
    size_t j, count = (size_t)n * c * h * w;
    memset(ds, 0, sizeof *ds);
    ds->n = n, ds->c = c, ds->h = h, ds->w = w, ds->n_classes = n_classes, ds->owner = 1;
    ds->px = (unsigned char *)malloc(count ? count : 1);
    ds->labels = (int32_t *)malloc(sizeof(int32_t) * (size_t)(n ? n : 1));
    for (j = 0; j < count; j++) ds->px[j] = (unsigned char)(j * 13 % 251);
    for (i = 0; i < n; i++) ds->labels[i] = i % n_classes;
}

static void test_dataset_errors(void)
{
    cnnvis_net *net = small_net();
    cnnvis_dataset ds, view;
    cnnvis_tensor x;
    int32_t labels[4];
    REQUIRE(net, "net");
    make_dataset(&ds, 10, 1, 8, 8, 3);
    CHECK(cnnvis_dataset_slice(&view, &ds, 2, 8) == CNNVIS_OK && view.n == 8 && view.labels == ds.labels + 2 &&
              view.px == ds.px + 2 * 64 && view.owner == 0,
          "slice [2, 10)");
    EXPECT(cnnvis_dataset_slice(&view, &ds, 3, 8), CNNVIS_ERR_ARG, "[3, 11)");
    EXPECT(cnnvis_dataset_slice(&view, &ds, -1, 2), CNNVIS_ERR_ARG, "not within the 10 images");
    EXPECT(cnnvis_dataset_slice(&view, &ds, 0, 0), CNNVIS_ERR_ARG, "not within");
    EXPECT(cnnvis_dataset_slice(&view, &ds, 10, 1), CNNVIS_ERR_ARG, "not within");
    EXPECT(cnnvis_dataset_slice(&view, &ds, 0, -5), CNNVIS_ERR_ARG, "not within");
    EXPECT(cnnvis_dataset_slice(NULL, &ds, 0, 1), CNNVIS_ERR_ARG, "NULL");
    EXPECT(cnnvis_dataset_slice(&view, NULL, 0, 1), CNNVIS_ERR_ARG, "NULL");
    CHECK(view.n == 8, "a refused slice changed the view");

    REQUIRE(cnnvis_tensor_create(&x, 4, 1, 8, 8) == CNNVIS_OK, "x");
    CHECK(cnnvis__dataset_batch(&ds, 6, 4, net, &x, labels) == CNNVIS_OK, "batch [6, 10): %s", cnnvis_last_error());
    CHECK(labels[0] == 0 && labels[3] == 0, "labels %d %d", labels[0], labels[3]);
    EXPECT(cnnvis__dataset_batch(&ds, 7, 4, net, &x, labels), CNNVIS_ERR_ARG, "[7, 11)");
    EXPECT(cnnvis__dataset_batch(&ds, -1, 4, net, &x, labels), CNNVIS_ERR_ARG, "not within");
    EXPECT(cnnvis__dataset_batch(&ds, 0, 3, net, &x, labels), CNNVIS_ERR_ARG, "x is (4, 1, 8, 8)");
    EXPECT(cnnvis__dataset_batch(&ds, 0, 4, NULL, &x, labels), CNNVIS_ERR_ARG, "NULL");
    EXPECT(cnnvis__dataset_batch(&ds, 0, 4, net, NULL, labels), CNNVIS_ERR_ARG, "NULL");
    EXPECT(cnnvis__dataset_batch(NULL, 0, 4, net, &x, labels), CNNVIS_ERR_ARG, "NULL or empty");
    cnnvis_tensor_free(&x);
    /* the public way to the same images: cnnvis_dataset_pixels */
    labels[0] = labels[3] = -1;
    CHECK(cnnvis_dataset_pixels(&x, labels, &ds, 6, 4) == CNNVIS_OK && x.n == 4 && x.c == 1 && x.h == 8 && x.w == 8,
          "pixels [6, 10): %s", cnnvis_last_error());
    CHECK(labels[0] == 0 && labels[3] == 0, "labels %d %d", labels[0], labels[3]);
    cnnvis_tensor_free(&x);
    EXPECT(cnnvis_dataset_pixels(&x, labels, &ds, 7, 4), CNNVIS_ERR_ARG, "[7, 11)");
    CHECK(x.data == NULL, "a refused dataset_pixels left a tensor");
    EXPECT(cnnvis_dataset_pixels(&x, labels, &ds, -1, 4), CNNVIS_ERR_ARG, "not in");
    EXPECT(cnnvis_dataset_pixels(&x, labels, &ds, 0, 0), CNNVIS_ERR_ARG, "not in");
    EXPECT(cnnvis_dataset_pixels(&x, NULL, &ds, 10, 1), CNNVIS_ERR_ARG, "not in");
    EXPECT(cnnvis_dataset_pixels(NULL, labels, &ds, 0, 4), CNNVIS_ERR_ARG, "NULL");
    EXPECT(cnnvis_dataset_pixels(&x, labels, NULL, 0, 4), CNNVIS_ERR_ARG, "NULL or empty");
    cnnvis_dataset_free(&ds);
    cnnvis_dataset_free(&ds); /* zeroed: fine */
    cnnvis_dataset_free(NULL);
    cnnvis_net_free(net);
}

/* Ranges near INT_MAX are refused without overflowing int (UBSan checks; run last, since a
   build with -fno-sanitize-recover stops at the first finding). */
static void test_dataset_range_overflow(void)
{
    cnnvis_net *net = small_net();
    cnnvis_dataset ds, view;
    cnnvis_tensor x;
    REQUIRE(net, "net");
    make_dataset(&ds, 10, 1, 8, 8, 3);
    REQUIRE(cnnvis_tensor_create(&x, 4, 1, 8, 8) == CNNVIS_OK, "x");
    EXPECT(cnnvis_dataset_slice(&view, &ds, INT_MAX, 1), CNNVIS_ERR_ARG, "not within");
    EXPECT(cnnvis_dataset_slice(&view, &ds, 1, INT_MAX), CNNVIS_ERR_ARG, "not within");
    EXPECT(cnnvis__dataset_batch(&ds, INT_MAX, 4, net, &x, NULL), CNNVIS_ERR_ARG, "not within");
    EXPECT(cnnvis__dataset_batch(&ds, 2, INT_MAX, net, &x, NULL), CNNVIS_ERR_ARG, "not within");
    cnnvis_tensor_free(&x);
    EXPECT(cnnvis_dataset_pixels(&x, NULL, &ds, INT_MAX, 4), CNNVIS_ERR_ARG, "not in");
    EXPECT(cnnvis_dataset_pixels(&x, NULL, &ds, 2, INT_MAX), CNNVIS_ERR_ARG, "not in");
    cnnvis_dataset_free(&ds);
    cnnvis_net_free(net);
}

static float seen_lr;
static int stop_at_once(cnnvis_net *net, const cnnvis_train_stats *st, void *user)
{
    (void)net, (void)user;
    seen_lr = st->lr;
    return 1;
}

static void test_train_errors(void)
{
    cnnvis_net *net = small_net();
    cnnvis_dataset ds, empty, wrong_shape, bad_labels;
    cnnvis_train_desc t;
    float *before;
    size_t count;
    REQUIRE(net, "net");
    make_dataset(&ds, 8, 1, 8, 8, 3);
    memset(&t, 0, sizeof t);
    t.epochs = 1, t.batch = 8, t.progress = -1;
    before = snapshot(net, &count);

    memset(&empty, 0, sizeof empty);
    EXPECT(cnnvis_net_train(net, &empty, NULL, &t), CNNVIS_ERR_ARG, "NULL or empty");
    make_dataset(&empty, 0, 1, 8, 8, 3);
    EXPECT(cnnvis_net_train(net, &empty, NULL, &t), CNNVIS_ERR_ARG, "no images");
    EXPECT(cnnvis_net_train(net, NULL, NULL, &t), CNNVIS_ERR_ARG, "NULL");
    EXPECT(cnnvis_net_train(net, &ds, NULL, NULL), CNNVIS_ERR_ARG, "desc");
    EXPECT(cnnvis_net_train(NULL, &ds, NULL, &t), CNNVIS_ERR_ARG, "net");
    make_dataset(&wrong_shape, 8, 1, 10, 10, 3);
    EXPECT(cnnvis_net_train(net, &wrong_shape, NULL, &t), CNNVIS_ERR_ARG, "1x10x10");
    EXPECT(cnnvis_net_train(net, &ds, &wrong_shape, &t), CNNVIS_ERR_ARG, "test set");
    make_dataset(&bad_labels, 8, 1, 8, 8, 3);
    bad_labels.labels[5] = 3;
    EXPECT(cnnvis_net_train(net, &bad_labels, NULL, &t), CNNVIS_ERR_ARG, "label 3 of training image 5");
    bad_labels.labels[5] = -1;
    EXPECT(cnnvis_net_train(net, &bad_labels, NULL, &t), CNNVIS_ERR_ARG, "label -1 of training image 5");

    t.batch = 9; /* max_batch 8 */
    EXPECT(cnnvis_net_train(net, &ds, NULL, &t), CNNVIS_ERR_ARG, "batch 9");
    t.batch = -1;
    EXPECT(cnnvis_net_train(net, &ds, NULL, &t), CNNVIS_ERR_ARG, "batch -1");
    t.batch = 8;
    t.lr = NAN;
    EXPECT(cnnvis_net_train(net, &ds, NULL, &t), CNNVIS_ERR_ARG, "lr");
    t.lr = -0.1f;
    EXPECT(cnnvis_net_train(net, &ds, NULL, &t), CNNVIS_ERR_ARG, "lr");
    t.lr = INFINITY;
    EXPECT(cnnvis_net_train(net, &ds, NULL, &t), CNNVIS_ERR_ARG, "lr");
    t.lr = 0.01f, t.momentum = 1.0f;
    EXPECT(cnnvis_net_train(net, &ds, NULL, &t), CNNVIS_ERR_ARG, "momentum");
    t.momentum = 0, t.weight_decay = -1;
    EXPECT(cnnvis_net_train(net, &ds, NULL, &t), CNNVIS_ERR_ARG, "weight decay");
    t.weight_decay = 0, t.epochs = -3;
    EXPECT(cnnvis_net_train(net, &ds, NULL, &t), CNNVIS_ERR_ARG, "epochs -3");
    t.epochs = 1, t.schedule = (cnnvis_lr_schedule)9;
    EXPECT(cnnvis_net_train(net, &ds, NULL, &t), CNNVIS_ERR_ARG, "schedule 9");
    t.schedule = CNNVIS_LR_COSINE, t.crop_pad = -1;
    EXPECT(cnnvis_net_train(net, &ds, NULL, &t), CNNVIS_ERR_ARG, "crop_pad -1");
    t.crop_pad = 0, t.warmup = -2;
    EXPECT(cnnvis_net_train(net, &ds, NULL, &t), CNNVIS_ERR_ARG, "warmup -2");
    t.warmup = 0;
    CHECK(unchanged(net, before, count), "a refused cnnvis_net_train changed the weights");
    CHECK(net->step == 0, "a refused cnnvis_net_train took %lld steps", net->step);

    /* lr 0 is the documented default 0.01: one step (no warm-up with 1 step), cosine at 0 */
    t.lr = 0, t.callback = stop_at_once, t.callback_every = 1;
    seen_lr = -1;
    CHECK(cnnvis_net_train(net, &ds, NULL, &t) == CNNVIS_OK, "lr 0: %s", cnnvis_last_error());
    CHECK(fabsf(seen_lr - 0.01f) < 1e-7f, "lr 0 trained with lr %g, documented default 0.01", seen_lr);
    CHECK(net->step == 1, "steps %lld", net->step);

    free(before);
    cnnvis_dataset_free(&ds), cnnvis_dataset_free(&empty), cnnvis_dataset_free(&wrong_shape);
    cnnvis_dataset_free(&bad_labels);
    cnnvis_net_free(net);
}

static void test_train_step_numeric(void)
{
    cnnvis_net *net = small_net();
    cnnvis_tensor x;
    int32_t labels[4] = {0, 1, 2, 0};
    float *before;
    size_t count;
    REQUIRE(net, "net");
    REQUIRE(cnnvis_tensor_create(&x, 4, 1, 8, 8) == CNNVIS_OK, "x");
    fill_input(&x);
    /* one good step first, so that the momentum buffers are not zero */
    CHECK(cnnvis_net_train_step(net, &x, labels, 0.01f, 0.9f, 5e-4f) == CNNVIS_OK, "step: %s", cnnvis_last_error());
    CHECK(isfinite(net->loss), "loss %g", net->loss);

    /* NaN in image 2 of the input: NUMERIC naming the image, weights unchanged */
    before = snapshot(net, &count);
    x.data[2 * 64 + 17] = NAN;
    EXPECT(cnnvis_net_train_step(net, &x, labels, 0.01f, 0.9f, 5e-4f), CNNVIS_ERR_NUMERIC, "image 2");
    CHECK(unchanged(net, before, count), "a NaN input changed the weights");
    CHECK(net->step == 1, "step %lld", net->step);
    x.data[2 * 64 + 17] = INFINITY;
    EXPECT(cnnvis_net_train_step(net, &x, labels, 0.01f, 0.9f, 5e-4f), CNNVIS_ERR_NUMERIC, "image 2");
    x.data[2 * 64 + 17] = 0.25f;
    free(before);

    /* non-finite hyper-parameters and bad labels */
    EXPECT(cnnvis_net_train_step(net, &x, labels, NAN, 0.9f, 5e-4f), CNNVIS_ERR_ARG, "lr");
    EXPECT(cnnvis_net_train_step(net, &x, labels, 0.01f, INFINITY, 5e-4f), CNNVIS_ERR_ARG, "momentum");
    EXPECT(cnnvis_net_train_step(net, &x, NULL, 0.01f, 0.9f, 5e-4f), CNNVIS_ERR_ARG, "NULL");
    {
        int32_t bad[4] = {0, 1, 7, 0};
        before = snapshot(net, &count);
        EXPECT(cnnvis_net_train_step(net, &x, bad, 0.01f, 0.9f, 5e-4f), CNNVIS_ERR_ARG, "label 7 of image 2");
        CHECK(unchanged(net, before, count), "bad labels changed the weights");
        free(before);
    }

    /* a NaN weight planted in conv2: NUMERIC whose message names conv2, no weight updated */
    {
        int i_conv2 = cnnvis_net_find(net, "conv2");
        cnnvis_layer *conv2;
        REQUIRE(i_conv2 >= 0, "conv2");
        conv2 = &net->layers[i_conv2];
        conv2->w[5] = NAN;
        before = snapshot(net, &count);
        EXPECT(cnnvis_net_train_step(net, &x, labels, 0.01f, 0.9f, 5e-4f), CNNVIS_ERR_NUMERIC, "conv2");
        CHECK(unchanged(net, before, count), "a NaN weight in conv2: the step updated the weights");
        free(before);
        conv2->w[5] = 0.01f, conv2->vw[5] = 0; /* the momentum too, should the step have run */
    }
    /* the same in conv1: its ReLU turns the NaN outputs into zeros, so neither the loss nor
       (training skips dL/d(input)) any gradient shows it; the step must still refuse */
    {
        int i_conv1 = cnnvis_net_find(net, "conv1");
        cnnvis_layer *conv1;
        REQUIRE(i_conv1 >= 0, "conv1");
        conv1 = &net->layers[i_conv1];
        conv1->w[5] = NAN;
        before = snapshot(net, &count);
        EXPECT(cnnvis_net_train_step(net, &x, labels, 0.01f, 0.9f, 5e-4f), CNNVIS_ERR_NUMERIC, "conv1");
        CHECK(unchanged(net, before, count), "a NaN weight in conv1: the step updated the weights");
        free(before);
        conv1->w[5] = 0.01f, conv1->vw[5] = 0;
    }
    /* the same in the last layer, where the NaN reaches the loss */
    {
        int i_fc3 = cnnvis_net_find(net, "fc3");
        cnnvis_layer *fc3;
        REQUIRE(i_fc3 >= 0, "fc3");
        fc3 = &net->layers[i_fc3];
        fc3->b[1] = NAN;
        before = snapshot(net, &count);
        EXPECT(cnnvis_net_train_step(net, &x, labels, 0.01f, 0.9f, 5e-4f), CNNVIS_ERR_NUMERIC, "fc3");
        CHECK(unchanged(net, before, count), "a NaN bias in fc3: the step updated the weights");
        free(before);
    }
    cnnvis_tensor_free(&x);
    cnnvis_net_free(net);
}

static void test_evaluate_errors(void)
{
    cnnvis_net *net = small_net();
    cnnvis_dataset ds;
    cnnvis_eval ev;
    REQUIRE(net, "net");
    make_dataset(&ds, 11, 1, 8, 8, 3);
    EXPECT(cnnvis_net_evaluate(NULL, net, &ds), CNNVIS_ERR_ARG, "ev");
    memset(&ev, 0x5a, sizeof ev);
    EXPECT(cnnvis_net_evaluate(&ev, NULL, &ds), CNNVIS_ERR_ARG, "net");
    CHECK(ev.class_acc == NULL && ev.confusion == NULL, "ev not zeroed after failure");
    EXPECT(cnnvis_net_evaluate(&ev, net, NULL), CNNVIS_ERR_ARG, "NULL or empty");
    CHECK(ev.class_acc == NULL && ev.confusion == NULL, "ev not zeroed after failure");
    ds.labels[9] = 5; /* out of range: caught when its batch is scored */
    EXPECT(cnnvis_net_evaluate(&ev, net, &ds), CNNVIS_ERR_ARG, "label 5");
    CHECK(ev.class_acc == NULL && ev.confusion == NULL, "ev not freed after failure");
    ds.labels[9] = 0;
    CHECK(cnnvis_net_evaluate(&ev, net, &ds) == CNNVIS_OK, "evaluate: %s", cnnvis_last_error());
    {
        int i, total = 0;
        for (i = 0; i < 9; i++) total += ev.confusion[i];
        CHECK(ev.n == 11 && ev.n_classes == 3 && total == 11, "n %d, %d classes, confusion total %d", ev.n, ev.n_classes,
              total);
    }
    cnnvis_eval_free(&ev);
    cnnvis_eval_free(&ev);
    cnnvis_eval_free(NULL);
    cnnvis_dataset_free(&ds);
    cnnvis_net_free(net);
}

/* --- cnnvis_net_init_preallocated --------------------------------------------------------- */

static void test_preallocated(void)
{
    cnnvis_net_desc d;
    cnnvis_net net, *ref = NULL;
    cnnvis_tensor x;
    size_t size;
    unsigned char *mem;
    int i;
    small_desc(&d);
    size = cnnvis_net_memory_size(&d);
    REQUIRE(size > 0, "memory_size: %s", cnnvis_last_error());
    mem = (unsigned char *)malloc(size + 1);
    REQUIRE(mem, "malloc");
    /* an odd address: the net aligns what it needs within the size it asked for */
    CHECK(cnnvis_net_init_preallocated(&net, &d, mem + 1, size) == CNNVIS_OK, "preallocated: %s", cnnvis_last_error());
    CHECK(net.arena_owned == 0, "arena_owned %d", net.arena_owned);
    for (i = 0; i < net.n_layers; i++) {
        const cnnvis_layer *L = &net.layers[i];
        CHECK((unsigned char *)L->out.data >= mem + 1 && (unsigned char *)L->out.data < mem + 1 + size, "layer %d out", i);
        CHECK((uintptr_t)L->out.data % 64 == 0, "layer %d output not 64-byte aligned", i);
    }
    /* same weights as cnnvis_net_create with the same seed, and a forward pass works */
    REQUIRE(cnnvis_net_create(&ref, &d) == CNNVIS_OK, "create: %s", cnnvis_last_error());
    for (i = 0; i < net.n_layers; i++)
        if (net.layers[i].n_w)
            CHECK(memcmp(net.layers[i].w, ref->layers[i].w, sizeof(float) * net.layers[i].n_w) == 0, "layer %d weights", i);
    REQUIRE(cnnvis_tensor_create(&x, 3, 1, 8, 8) == CNNVIS_OK, "x");
    fill_input(&x);
    CHECK(cnnvis_net_forward(&net, &x) == CNNVIS_OK, "forward: %s", cnnvis_last_error());
    CHECK(cnnvis_net_forward(ref, &x) == CNNVIS_OK, "forward: %s", cnnvis_last_error());
    CHECK(memcmp(net.layers[5].out.data, ref->layers[5].out.data, sizeof(float) * 9) == 0, "scores differ");
    cnnvis_net_free(&net); /* frees only the pool */
    cnnvis_net_free(ref);
    cnnvis_tensor_free(&x);

    /* too small, NULL memory, NULL net, invalid desc */
    EXPECT(cnnvis_net_init_preallocated(&net, &d, mem, size - 1), CNNVIS_ERR_ARG, "bytes given");
    EXPECT(cnnvis_net_init_preallocated(&net, &d, mem, 0), CNNVIS_ERR_ARG, "bytes given");
    EXPECT(cnnvis_net_init_preallocated(&net, &d, NULL, size), CNNVIS_ERR_ARG, "bytes given");
    EXPECT(cnnvis_net_init_preallocated(NULL, &d, mem, size), CNNVIS_ERR_ARG, "NULL");
    d.layers[3].groups = 3;
    EXPECT(cnnvis_net_init_preallocated(&net, &d, mem, size), CNNVIS_ERR_ARG, "conv2");
    cnnvis_clear_error();
    CHECK(cnnvis_net_memory_size(&d) == 0 && has(cnnvis_last_error(), "conv2"), "memory_size of an invalid desc");
    free(mem);
}

/* --- Every public function with each pointer argument NULL ------------------------------ */

/* Each call gets CNNVIS_ERR_ARG and a message (never a crash); the message names the
   function or the argument. */
static int sweep_cases;
#define NULL_ARG(call)                                                                             \
    do {                                                                                           \
        cnnvis_result r_;                                                                          \
        cnnvis_clear_error();                                                                      \
        r_ = (call);                                                                               \
        sweep_cases++;                                                                             \
        CHECK(r_ == CNNVIS_ERR_ARG && cnnvis_last_error()[0], "%s: %s (%s)", #call, cnnvis_result_str(r_), \
              cnnvis_last_error());                                                                \
        CHECK(has(cnnvis_last_error(), "NULL") || has(cnnvis_last_error(), "null"),               \
              "%s: message \"%s\" does not say what is NULL", #call, cnnvis_last_error());         \
    } while (0)

static double sweep_objective(const float *x, float *grad, int n, void *user)
{
    (void)x, (void)grad, (void)n, (void)user;
    return 0;
}

static char sweep_path[64];

static void test_null_sweep(void)
{
    cnnvis_net *net = small_net();
    cnnvis_tensor x, t, px;
    cnnvis_image im, out, tiles[2];
    cnnvis_dataset ds, ds2;
    cnnvis_net_desc d;
    cnnvis_layer_desc ld;
    cnnvis_eval ev;
    cnnvis_filter_stats fst;
    cnnvis_monitor m;
    cnnvis_monitor_desc md;
    cnnvis_topk tk;
    cnnvis_dissection dis;
    cnnvis_plot_desc pd;
    cnnvis_attack_desc ad;
    cnnvis_net *made = NULL;
    unsigned char *bytes = NULL, mask[64], rgb[3] = {1, 2, 3}, labels8[64];
    size_t n_bytes = 0;
    int32_t labels[2] = {0, 1}, pred[2];
    float scores[3], probs[3], values[4] = {1, 2, 3, 4}, conf[2], acc[2], eps[2] = {0, 0.1f}, rate, fooled, p;
    float lo[2] = {0, 0}, hi[2] = {1, 1}, xv[2] = {0.5f, 0.5f}, codes[64], y2[8];
    double fx, sum, delta, before, after;
    int iters, yy, xx, steps;
    const char *layer = "conv1", *path = sweep_path; /* written first: each call must fail on NULL, not on the file */
    const char *const paths[1] = {path};
    REQUIRE(net, "net");
    /* one name per process: the -O0 builds of gcc and clang run this at the same time in CI */
    snprintf(sweep_path, sizeof sweep_path, "/tmp/cnnvis_null_sweep_%ld.ppm", (long)getpid());
    REQUIRE(cnnvis_tensor_create(&x, 2, 1, 8, 8) == CNNVIS_OK, "x");
    REQUIRE(cnnvis_tensor_create(&px, 1, 1, 8, 8) == CNNVIS_OK, "px");
    REQUIRE(cnnvis_image_create(&im, 8, 8, 3) == CNNVIS_OK, "im");
    fill_input(&x), fill_input(&px);
    {
        size_t k_;
        for (k_ = 0; k_ < cnnvis_tensor_count(&px); k_++) /* pixels */
            px.data[k_] = px.data[k_] < 0 ? 0 : px.data[k_] > 1 ? 1 : px.data[k_];
    }
    tiles[0] = im, tiles[1] = im;
    make_dataset(&ds, 4, 1, 8, 8, 3);
    memset(&d, 0, sizeof d), memset(&ld, 0, sizeof ld), memset(&md, 0, sizeof md), memset(&pd, 0, sizeof pd);
    memset(&ad, 0, sizeof ad), memset(&tk, 0, sizeof tk), memset(&dis, 0, sizeof dis), memset(&m, 0, sizeof m);
    memset(mask, 1, sizeof mask), memset(labels8, 0, sizeof labels8);
    ld.kind = CNNVIS_LAYER_RELU;
    REQUIRE(cnnvis_image_write(path, &im) == CNNVIS_OK, "%s", cnnvis_last_error());

    /* A1 tensors */
    NULL_ARG(cnnvis_tensor_create(NULL, 1, 1, 1, 1));
    /* functions without a status: NULL is a no-op or a neutral value */
    cnnvis_tensor_free(NULL);
    CHECK(cnnvis_tensor_count(NULL) == 0 && !cnnvis__tensor_same_shape(NULL, &x) && !cnnvis__tensor_same_shape(&x, NULL),
          "count/same_shape of NULL");
    {
        cnnvis_stats st = cnnvis_tensor_stats(NULL);
        CHECK(st.min == 0 && st.max == 0 && st.mean == 0 && st.count == 0 && st.zeros == 0 && st.nonfinite == 0,
              "stats(NULL): min %g max %g mean %g count %zu zeros %zu nonfinite %zu", st.min, st.max, st.mean, st.count,
              st.zeros, st.nonfinite);
        cnnvis_tensor_print(NULL, "null_tensor", 0);
        cnnvis_tensor_print(NULL, NULL, 4);
        cnnvis_tensor_print(&px, NULL, 0);
    }
    cnnvis__rng_seed(NULL, 1);
    CHECK(cnnvis__rng_u64(NULL) == 0 && cnnvis__rng_below(NULL, 5) == 0 && cnnvis__rng_uniform(NULL) == 0 && cnnvis__rng_normal(NULL) == 0,
          "rng NULL");

    /* A3 the net */
    cnnvis_net_desc_init(NULL, 1, 8, 8);
    cnnvis_net_desc_conv(NULL, "c", 1, 1, 1, 0, 1);
    cnnvis_net_desc_relu(NULL, "r");
    cnnvis_net_desc_maxpool(NULL, "p", 2, 2, 0);
    cnnvis_net_desc_lrn(NULL, "n", 5, 1e-4f, 0.75f, 2);
    cnnvis_net_desc_dropout(NULL, "d", 0.5f);
    cnnvis_net_desc_fc(NULL, "f", 3);
    cnnvis_net_desc_flatten(NULL, "f");
    cnnvis_net_desc_add(NULL, &ld);
    cnnvis_net_desc_init(&d, 1, 8, 8);
    cnnvis_net_desc_add(&d, NULL);
    CHECK(d.n_layers == 0 && d.error, "desc_add(&d, NULL): %d layers, error %d", d.n_layers, d.error);
    NULL_ARG(cnnvis_net_desc_preset(NULL, "alexnet_mini", 1, 28, 28, 10));
    NULL_ARG(cnnvis_net_desc_preset(NULL, "alexnet", 0, 0, 0, 10));
    NULL_ARG(cnnvis_net_desc_preset(NULL, "alexnet_original", 0, 0, 0, 10));
    NULL_ARG(cnnvis_net_desc_preset(&d, NULL, 1, 28, 28, 10));
    NULL_ARG(cnnvis_net_create(&made, NULL));
    {
        static cnnvis_net scratch; /* an out-parameter: init_preallocated overwrites it */
        NULL_ARG(cnnvis_net_init_preallocated(&scratch, NULL, bytes, 100));
    }
    CHECK(cnnvis_net_find(NULL, "conv1") == -1 && cnnvis_net_find(net, NULL) == -1, "find(NULL)");
    CHECK(cnnvis_net_summary(NULL, 0, NULL) <= 0, "summary(NULL)");
    CHECK(cnnvis_net_summary(NULL, 0, net) >= 0, "summary(net, NULL, 0) measures");
    cnnvis_net_zero_grad(NULL);
    NULL_ARG(cnnvis_net_normalize(NULL, net, &x));
    NULL_ARG(cnnvis_net_normalize(&x, net, NULL));
    NULL_ARG(cnnvis_net_denormalize(&x, NULL, &x));
    NULL_ARG(cnnvis_net_denormalize(NULL, net, &x));
    NULL_ARG(cnnvis_net_denormalize(&x, net, NULL));
    NULL_ARG(cnnvis_net_train_step(NULL, &x, labels, 0.01f, 0, 0));
    NULL_ARG(cnnvis_net_train_step(net, NULL, labels, 0.01f, 0, 0));
    NULL_ARG(cnnvis_net_save(path, NULL));
    NULL_ARG(cnnvis_net_save(NULL, net));
    NULL_ARG(cnnvis_net_load(&made, NULL, NULL));
    NULL_ARG(cnnvis_net_load(NULL, path, NULL));
    NULL_ARG(cnnvis__net_load_memory(&made, NULL, 100, NULL));
    NULL_ARG(cnnvis__net_load_memory(NULL, mask, sizeof mask, NULL));
    NULL_ARG(cnnvis_net_load_weights(NULL, path));
    NULL_ARG(cnnvis_net_load_weights(net, NULL));
    CHECK(cnnvis__crc32(7, NULL, 0) == 7 && cnnvis__crc32(7, NULL, 10) == 7, "crc32 of NULL");
    NULL_ARG(cnnvis__net_forward_until(NULL, &x, 0));
    NULL_ARG(cnnvis__net_forward_until(net, NULL, 0));
    {
        cnnvis_grad_report gr;
        NULL_ARG(cnnvis_grad_check(NULL, net, layer, &x, CNNVIS_RELU_BACKPROP));
        NULL_ARG(cnnvis_grad_check(&gr, NULL, layer, &x, CNNVIS_RELU_BACKPROP));
        NULL_ARG(cnnvis_grad_check(&gr, net, NULL, &x, CNNVIS_RELU_BACKPROP));
        NULL_ARG(cnnvis_grad_check(&gr, net, layer, NULL, CNNVIS_RELU_BACKPROP));
    }

    /* A4 data and images */
    NULL_ARG(cnnvis_idx_load(NULL, path, path));
    NULL_ARG(cnnvis_idx_load(&ds2, NULL, path));
    NULL_ARG(cnnvis_idx_load(&ds2, path, NULL));
    NULL_ARG(cnnvis__idx_load_memory(NULL, mask, 64, mask, 64));
    NULL_ARG(cnnvis__idx_load_memory(&ds2, NULL, 64, mask, 64));
    NULL_ARG(cnnvis__idx_load_memory(&ds2, mask, 64, NULL, 64));
    NULL_ARG(cnnvis__gunzip(NULL, &n_bytes, mask, 64, 100));
    NULL_ARG(cnnvis__gunzip(&bytes, NULL, mask, 64, 100));
    NULL_ARG(cnnvis__gunzip(&bytes, &n_bytes, NULL, 64, 100));
    NULL_ARG(cnnvis__file_read(NULL, 100, &bytes, &n_bytes));
    NULL_ARG(cnnvis__file_read(path, 100, NULL, &n_bytes));
    NULL_ARG(cnnvis__file_read(path, 100, &bytes, NULL));
    NULL_ARG(cnnvis__file_write(NULL, mask, 4));
    NULL_ARG(cnnvis__file_write(path, NULL, 4));
    cnnvis__free(NULL);
    NULL_ARG(cnnvis_image_create(NULL, 4, 4, 3));
    cnnvis_image_free(NULL);
    NULL_ARG(cnnvis_image_read(NULL, path));
    NULL_ARG(cnnvis_image_read(&out, NULL));
    NULL_ARG(cnnvis__image_read_memory(NULL, mask, 64));
    NULL_ARG(cnnvis__image_read_memory(&out, NULL, 64));
    NULL_ARG(cnnvis__pnm_encode(NULL, 0, 255, &bytes, &n_bytes));
    NULL_ARG(cnnvis__pnm_encode(&im, 0, 255, NULL, &n_bytes));
    NULL_ARG(cnnvis__pnm_encode(&im, 0, 255, &bytes, NULL));
    NULL_ARG(cnnvis__png_encode(NULL, &bytes, &n_bytes));
    NULL_ARG(cnnvis__png_encode(&im, NULL, &n_bytes));
    NULL_ARG(cnnvis__png_encode(&im, &bytes, NULL));
    NULL_ARG(cnnvis_image_write(path, NULL));
    NULL_ARG(cnnvis_image_write(NULL, &im));
    NULL_ARG(cnnvis_image_resize(NULL, &im, 4, 4, CNNVIS_RESIZE_BILINEAR));
    NULL_ARG(cnnvis_image_resize(&out, NULL, 4, 4, CNNVIS_RESIZE_BILINEAR));
    cnnvis_plane_resize(NULL, 4, 4, values, 2, 2, CNNVIS_RESIZE_BILINEAR);
    cnnvis_plane_resize(values, 2, 2, NULL, 2, 2, CNNVIS_RESIZE_BILINEAR);
    NULL_ARG(cnnvis__image_crop(NULL, &im, 0, 0, 2, 2));
    NULL_ARG(cnnvis__image_crop(&out, NULL, 0, 0, 2, 2));
    NULL_ARG(cnnvis_image_to_pixels(NULL, &im, 1, 8, 8));
    NULL_ARG(cnnvis_image_to_pixels(&t, NULL, 1, 8, 8));
    NULL_ARG(cnnvis__dataset_image(NULL, &ds, 0));
    NULL_ARG(cnnvis__dataset_image(&out, NULL, 0));
    cnnvis__colormap_rgb(CNNVIS_CMAP_GREY, 0.5f, NULL);
    NULL_ARG(cnnvis_tensor_to_image(NULL, &x, 0, NULL));
    NULL_ARG(cnnvis_tensor_to_image(&out, NULL, 0, NULL));
    NULL_ARG(cnnvis__plane_to_image(NULL, values, 2, 2, NULL));
    NULL_ARG(cnnvis__plane_to_image(&out, NULL, 2, 2, NULL));
    NULL_ARG(cnnvis_montage(NULL, tiles, 2, NULL, NULL));
    NULL_ARG(cnnvis_montage(&out, NULL, 2, NULL, NULL));
    NULL_ARG(cnnvis_image_overlay(NULL, &im, codes, 0.5f, CNNVIS_CMAP_GREY));
    NULL_ARG(cnnvis_image_overlay(&out, NULL, codes, 0.5f, CNNVIS_CMAP_GREY));
    NULL_ARG(cnnvis_image_overlay(&out, &im, NULL, 0.5f, CNNVIS_CMAP_GREY));
    NULL_ARG(cnnvis__image_outline(NULL, mask, rgb));
    NULL_ARG(cnnvis__image_outline(&im, NULL, rgb));
    NULL_ARG(cnnvis__image_outline(&im, mask, NULL));
    cnnvis_image_text(NULL, 0, 0, "a", rgb, 1);
    cnnvis_image_text(&im, 0, 0, NULL, rgb, 1);
    cnnvis_image_text(&im, 0, 0, "a", NULL, 1);
    CHECK(cnnvis__text_width(NULL, 1) == 0, "text_width(NULL)");
    cnnvis_image_fill(NULL, 0, 0, 2, 2, rgb);
    cnnvis_image_fill(&im, 0, 0, 2, 2, NULL);
    cnnvis_image_line(NULL, 0, 0, 2, 2, rgb);
    cnnvis_image_line(&im, 0, 0, 2, 2, NULL);
    cnnvis__image_paste(NULL, &im, 0, 0);
    cnnvis__image_paste(&im, NULL, 0, 0);
    NULL_ARG(cnnvis_plot_lines(NULL, &pd));
    NULL_ARG(cnnvis_plot_lines(&out, NULL));
    NULL_ARG(cnnvis__plot_bars(NULL, &pd));
    NULL_ARG(cnnvis__plot_bars(&out, NULL));
    NULL_ARG(cnnvis_plot_matrix(NULL, values, 2, 2, NULL, NULL, NULL, 1));
    NULL_ARG(cnnvis_plot_matrix(&out, NULL, 2, 2, NULL, NULL, NULL, 1));
    NULL_ARG(cnnvis_labels_to_image(NULL, labels8, 8, 8));
    NULL_ARG(cnnvis_labels_to_image(&out, NULL, 8, 8));
    NULL_ARG(cnnvis_concepts_generate(NULL, NULL));
    CHECK(strcmp(cnnvis__dataset_concept_name(NULL, 0, 0), "?") == 0, "concept name of NULL");
    cnnvis_concepts_colour(NULL, 0, 0);
    NULL_ARG(cnnvis_cifar10_load(NULL, paths, 1));
    NULL_ARG(cnnvis_cifar10_load(&ds2, NULL, 1));
    NULL_ARG(cnnvis__cifar10_load_memory(NULL, mask, 64));
    NULL_ARG(cnnvis__cifar10_load_memory(&ds2, NULL, 3073));
    NULL_ARG(cnnvis_dataset_from_files(NULL, paths, NULL, 1, 8, 8, NULL, NULL, 0));
    NULL_ARG(cnnvis_dataset_from_files(&ds2, NULL, NULL, 1, 8, 8, NULL, NULL, 0));
    NULL_ARG(cnnvis_dataset_pixels(NULL, NULL, &ds, 0, 1));
    NULL_ARG(cnnvis_dataset_pixels(&t, NULL, NULL, 0, 1));

    /* 1 filters */
    NULL_ARG(cnnvis_filters_image(NULL, net, layer, NULL));
    NULL_ARG(cnnvis_filters_image(&out, NULL, layer, NULL));
    NULL_ARG(cnnvis_filter_stats_compute(NULL, net, layer, NULL));
    NULL_ARG(cnnvis_filter_stats_compute(&fst, NULL, layer, NULL));
    NULL_ARG(cnnvis_filter_stats_compute(&fst, net, NULL, NULL));
    NULL_ARG(cnnvis_monitor_init(NULL, net, &md));
    NULL_ARG(cnnvis_monitor_init(&m, NULL, &md));
    NULL_ARG(cnnvis_monitor_snapshot(NULL, net, 0));
    NULL_ARG(cnnvis_monitor_snapshot(&m, NULL, 0));
    CHECK(cnnvis_monitor_callback(NULL, NULL, NULL) != 0, "monitor_callback(NULL) asks training to stop");
    NULL_ARG(cnnvis_monitor_evolution_image(NULL, &m));
    NULL_ARG(cnnvis_monitor_evolution_image(&out, NULL));
    NULL_ARG(cnnvis_monitor_plot(NULL, &m));
    NULL_ARG(cnnvis_monitor_plot(&out, NULL));
    NULL_ARG(cnnvis_monitor_write_tsv(path, NULL));
    NULL_ARG(cnnvis_monitor_write_tsv(NULL, &m));
    cnnvis_monitor_free(NULL);

    /* 2 activations */
    NULL_ARG(cnnvis_feature_maps_image(NULL, net, layer, 0, NULL));
    NULL_ARG(cnnvis_feature_maps_image(&out, NULL, layer, 0, NULL));
    NULL_ARG(cnnvis_feature_maps_image(&out, net, NULL, 0, NULL));
    NULL_ARG(cnnvis_topk_compute(NULL, net, layer, &ds, NULL));
    NULL_ARG(cnnvis_topk_compute(&tk, NULL, layer, &ds, NULL));
    NULL_ARG(cnnvis_topk_compute(&tk, net, NULL, &ds, NULL));
    NULL_ARG(cnnvis_topk_compute(&tk, net, layer, NULL, NULL));
    cnnvis_topk_free(NULL);
    NULL_ARG(cnnvis__topk_patch(NULL, &tk, &ds, 0, 0));
    NULL_ARG(cnnvis__topk_patch(&out, NULL, &ds, 0, 0));
    NULL_ARG(cnnvis__topk_patch(&out, &tk, NULL, 0, 0));
    NULL_ARG(cnnvis_topk_image(NULL, &tk, &ds, 1, 0));
    NULL_ARG(cnnvis_topk_image(&out, NULL, &ds, 1, 0));
    NULL_ARG(cnnvis_topk_image(&out, &tk, NULL, 1, 0));
    NULL_ARG(cnnvis_dissect(NULL, net, &layer, 1, &ds, NULL));
    NULL_ARG(cnnvis_dissect(&dis, NULL, &layer, 1, &ds, NULL));
    NULL_ARG(cnnvis_dissect(&dis, net, NULL, 1, &ds, NULL));
    NULL_ARG(cnnvis_dissect(&dis, net, &layer, 1, NULL, NULL));
    cnnvis_dissection_free(NULL);
    NULL_ARG(cnnvis_dissection_write_tsv(path, NULL, 1, &ds));
    NULL_ARG(cnnvis_dissection_write_tsv(path, &dis, 1, NULL));
    NULL_ARG(cnnvis_dissection_write_tsv(NULL, &dis, 1, &ds));
    NULL_ARG(cnnvis_dissection_plot(NULL, &dis, 1, &ds));
    NULL_ARG(cnnvis_dissection_plot(&out, NULL, 1, &ds));
    NULL_ARG(cnnvis_dissection_plot(&out, &dis, 1, NULL));
    NULL_ARG(cnnvis_dissection_unit_image(NULL, net, &dis, &ds, 0));
    NULL_ARG(cnnvis_dissection_unit_image(&out, NULL, &dis, &ds, 0));
    NULL_ARG(cnnvis_dissection_unit_image(&out, net, NULL, &ds, 0));
    NULL_ARG(cnnvis_dissection_unit_image(&out, net, &dis, NULL, 0));

    /* 3 deconvnet */
    NULL_ARG(cnnvis_deconv_project(NULL, &yy, &xx, net, &px, layer, 0, CNNVIS_PROJECT_MAP));
    NULL_ARG(cnnvis_deconv_project(&t, &yy, &xx, NULL, &px, layer, 0, CNNVIS_PROJECT_MAP));
    NULL_ARG(cnnvis_deconv_project(&t, &yy, &xx, net, NULL, layer, 0, CNNVIS_PROJECT_MAP));
    NULL_ARG(cnnvis_deconv_project(&t, &yy, &xx, net, &px, NULL, 0, CNNVIS_PROJECT_MAP));
    /* private since 0.2: out and net are no longer checked (its callers are internal) */
    NULL_ARG(cnnvis__project_signal(&t, net, 3, NULL, CNNVIS_RELU_DECONVNET));
    NULL_ARG(cnnvis_rf_crop(NULL, net, "conv2", &px, 0, 0));
    NULL_ARG(cnnvis_rf_crop(&t, NULL, "conv2", &px, 0, 0));
    NULL_ARG(cnnvis_rf_crop(&t, net, NULL, &px, 0, 0));
    NULL_ARG(cnnvis_rf_crop(&t, net, "conv2", NULL, 0, 0));
    NULL_ARG(cnnvis_topk_deconv_image(NULL, net, &tk, &ds, 1));
    NULL_ARG(cnnvis_topk_deconv_image(&out, NULL, &tk, &ds, 1));
    NULL_ARG(cnnvis_topk_deconv_image(&out, net, NULL, &ds, 1));
    NULL_ARG(cnnvis_topk_deconv_image(&out, net, &tk, NULL, 1));

    /* 4 saliency */
    NULL_ARG(cnnvis_net_predict(scores, probs, NULL, NULL, &px));
    NULL_ARG(cnnvis_net_predict(scores, probs, NULL, net, NULL));
    NULL_ARG(cnnvis_saliency(NULL, net, &px, 0, CNNVIS_SALIENCY_GRADIENT, NULL));
    NULL_ARG(cnnvis_saliency(&t, NULL, &px, 0, CNNVIS_SALIENCY_GRADIENT, NULL));
    NULL_ARG(cnnvis_saliency(&t, net, NULL, 0, CNNVIS_SALIENCY_GRADIENT, NULL));
    NULL_ARG(cnnvis_saliency_map(NULL, &px));
    NULL_ARG(cnnvis_saliency_map(&t, NULL));
    NULL_ARG(cnnvis__gradcam(NULL, net, &px, 0, NULL));
    NULL_ARG(cnnvis__gradcam(&t, NULL, &px, 0, NULL));
    NULL_ARG(cnnvis__gradcam(&t, net, NULL, 0, NULL));
    NULL_ARG(cnnvis__integrated_gradients(NULL, net, &px, NULL, 0, 4, &sum, &delta));
    NULL_ARG(cnnvis__integrated_gradients(&t, NULL, &px, NULL, 0, 4, &sum, &delta));
    NULL_ARG(cnnvis__integrated_gradients(&t, net, NULL, NULL, 0, 4, &sum, &delta));
    NULL_ARG(cnnvis_class_model(NULL, &p, net, 0, NULL));
    NULL_ARG(cnnvis_class_model(&t, &p, NULL, 0, NULL));
    NULL_ARG(cnnvis_deepdream(NULL, &before, &after, net, NULL));
    NULL_ARG(cnnvis_deepdream(&t, &before, &after, NULL, NULL));
    NULL_ARG(cnnvis_net_codes(NULL, net, "fc3", &ds, 0, 1));
    NULL_ARG(cnnvis_net_codes(codes, NULL, "fc3", &ds, 0, 1));
    NULL_ARG(cnnvis_net_codes(codes, net, NULL, &ds, 0, 1));
    NULL_ARG(cnnvis_net_codes(codes, net, "fc3", NULL, 0, 1));
    NULL_ARG(cnnvis_tsne(NULL, values, 2, 2, 1, 10, 1));
    NULL_ARG(cnnvis_tsne(y2, NULL, 2, 2, 1, 10, 1));
    NULL_ARG(cnnvis_tsne_image(NULL, y2, 2, &ds, NULL, 64));
    NULL_ARG(cnnvis_tsne_image(&out, NULL, 2, &ds, NULL, 64));
    NULL_ARG(cnnvis_tsne_image(&out, y2, 2, NULL, NULL, 64));
    NULL_ARG(cnnvis_net_randomize_layer(NULL, layer, 1));
    NULL_ARG(cnnvis_net_randomize_layer(net, NULL, 1));
    CHECK(strcmp(cnnvis_saliency_name(CNNVIS_SALIENCY_COUNT), "?") == 0 && strcmp(cnnvis_saliency_name((cnnvis_saliency_method)-1), "?") == 0,
          "saliency_name out of range");

    /* 5 adversarial */
    NULL_ARG(cnnvis_attack(NULL, pred, conf, net, &px, labels, &ad));
    NULL_ARG(cnnvis_attack(&t, pred, conf, NULL, &px, labels, &ad));
    NULL_ARG(cnnvis_attack(&t, pred, conf, net, NULL, labels, &ad));
    /* labels NULL is documented: the net's own predictions are used */
    NULL_ARG(cnnvis__predict(NULL, NULL, pred, conf, NULL, &px));
    NULL_ARG(cnnvis__predict(NULL, NULL, pred, conf, net, NULL));
    NULL_ARG(cnnvis__lbfgs_box(NULL, 2, lo, hi, sweep_objective, NULL, NULL, &fx, &iters));
    NULL_ARG(cnnvis__lbfgs_box(xv, 2, lo, hi, NULL, NULL, NULL, &fx, &iters));
    NULL_ARG(cnnvis_fooling_image(NULL, &p, &steps, net, 0, NULL));
    NULL_ARG(cnnvis_fooling_image(&t, &p, &steps, NULL, 0, NULL));
    NULL_ARG(cnnvis_robustness_curve(acc, conf, NULL, &ds, 2, &ad, eps, 2, -1));
    NULL_ARG(cnnvis_robustness_curve(acc, conf, net, NULL, 2, &ad, eps, 2, -1));
    NULL_ARG(cnnvis_robustness_curve(acc, conf, net, &ds, 2, &ad, NULL, 2, -1));
    NULL_ARG(cnnvis_transfer_rate(&rate, &fooled, NULL, net, &ds, 2, &ad));
    NULL_ARG(cnnvis_transfer_rate(&rate, &fooled, net, NULL, &ds, 2, &ad));
    NULL_ARG(cnnvis_transfer_rate(&rate, &fooled, net, net, NULL, 2, &ad));
    NULL_ARG(cnnvis_adversarial_image(NULL, net, &px, &px, 1, NULL));
    NULL_ARG(cnnvis_adversarial_image(&out, NULL, &px, &px, 1, NULL));
    NULL_ARG(cnnvis_adversarial_image(&out, net, NULL, &px, 1, NULL));
    NULL_ARG(cnnvis_adversarial_image(&out, net, &px, NULL, 1, NULL));
    printf("  %d calls with a NULL argument\n", sweep_cases);

    (void)ev;
    remove(path);
    cnnvis_tensor_free(&x), cnnvis_tensor_free(&px);
    cnnvis_image_free(&im);
    cnnvis_dataset_free(&ds);
    cnnvis_net_free(net);
}

int main(void)
{
    unsetenv("CNNVIS_THREADS");
    unsetenv("CNNVIS_KERNELS");
    RUN(test_create_args);
    RUN(test_preset_errors);
    RUN(test_create_too_many_layers);
    RUN(test_create_layer_errors);
    RUN(test_create_runtime_limits);
    RUN(test_env_threads);
    RUN(test_find);
    RUN(test_forward_errors);
    RUN(test_loss_errors);
    RUN(test_backward_errors);
    RUN(test_kernels_errors);
    RUN(test_dataset_errors);
    RUN(test_train_errors);
    RUN(test_train_step_numeric);
    RUN(test_evaluate_errors);
    RUN(test_preallocated);
    RUN(test_null_sweep);
    RUN(test_dataset_range_overflow);
    return SUMMARY();
}
