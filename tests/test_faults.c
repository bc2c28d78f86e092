/* test_faults.c - what goes wrong on the way: a NaN in training, a write that stops
   part-way, an allocation that fails. The write and the allocator are replaced through the
   compile-time hooks CNNVIS_FWRITE and CNNVIS_MALLOC/CNNVIS_FREE, which is why these tests
   are a program of their own. Every failure must come back as a status with a message; the
   old file on disk stays byte for byte what it was, no path.tmp is left, nothing leaks
   (counted here, and by ASan in the sanitizer build). */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* --- The hooks ---------------------------------------------------------------------------- */

/* Bytes the next writes may still pass before the "disk" fills up; -1: no limit. */
static long fault_write_budget = -1;
static long fault_write_calls;

static size_t faulty_fwrite(const void *ptr, size_t size, size_t n, FILE *f)
{
    size_t want = size * n, give = want;
    fault_write_calls++;
    if (fault_write_budget >= 0) {
        if ((size_t)fault_write_budget < give) give = (size_t)fault_write_budget;
        fault_write_budget -= (long)give;
    }
    if (give && fwrite(ptr, 1, give, f) != give) return 0;
    return size ? give / size : 0;
}

/* The k-th allocation from now fails (1-based); 0: none. live counts blocks not yet freed. */
static long fault_alloc_at, fault_alloc_count, fault_alloc_live;

static void *faulty_malloc(size_t size)
{
    void *p;
    fault_alloc_count++;
    if (fault_alloc_at && fault_alloc_count == fault_alloc_at) return NULL;
    p = malloc(size);
    if (p) fault_alloc_live++;
    return p;
}

static void faulty_free(void *p)
{
    if (p) fault_alloc_live--;
    free(p);
}

#define CNNVIS_FWRITE(ptr, size, n, f) faulty_fwrite(ptr, size, n, f)
#define CNNVIS_MALLOC(sz) faulty_malloc(sz)
#define CNNVIS_FREE(p) faulty_free(p)
#define CNNVIS_IMPLEMENTATION
#include "cnnvis.h"
#include "minitest.h"
#include "expect.h"

static char dir[256];

static void path_in_dir(char *out, size_t size, const char *name) { snprintf(out, size, "%s/%s", dir, name); }

static unsigned char *read_all(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    unsigned char *buf;
    long n;
    *size = 0;
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = (unsigned char *)malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) free(buf), buf = NULL;
    fclose(f);
    *size = buf ? (size_t)n : 0;
    return buf;
}

static int file_exists(const char *path) { return access(path, F_OK) == 0; }

static void write_raw(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    if (f) fputs(text, f), fclose(f);
}

/* A small net: 1x8x8 -> 3 classes. */
static void small_desc(cnnvis_net_desc *d, int in_c)
{
    cnnvis_net_desc_init(d, in_c, 8, 8);
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
    small_desc(&d, 1);
    if (cnnvis_net_create(&net, &d) != CNNVIS_OK) printf("  small_net: %s\n", cnnvis_last_error());
    return net;
}

static void make_dataset(cnnvis_dataset *ds, int n, int c, int h, int w, int n_classes)
{
    int i;
    size_t j, count = (size_t)n * c * h * w;
    memset(ds, 0, sizeof *ds);
    ds->n = n, ds->c = c, ds->h = h, ds->w = w, ds->n_classes = n_classes, ds->owner = 1;
    ds->px = (unsigned char *)cnnvis__alloc(count ? count : 1);
    ds->labels = (int32_t *)cnnvis__alloc(sizeof(int32_t) * (size_t)(n ? n : 1));
    for (j = 0; j < count; j++) ds->px[j] = (unsigned char)(j * 13 % 251);
    for (i = 0; i < n; i++) ds->labels[i] = i % n_classes;
}

/* --- 1. Numeric faults in cnnvis_net_train --------------------------------------------- */

static int fault_hits;
static const char *fault_save_path;
/* A per-epoch checkpoint, as a student would write it: save after every epoch. */
static int save_each_epoch(cnnvis_net *net, const cnnvis_train_stats *st, void *user)
{
    (void)user;
    if (st->end_of_epoch && cnnvis_net_save(fault_save_path, net) == CNNVIS_OK) fault_hits++;
    return 0;
}

static void train_desc(cnnvis_train_desc *t, int epochs, float lr)
{
    memset(t, 0, sizeof *t);
    t->epochs = epochs, t->batch = 4, t->lr = lr, t->progress = -1, t->warmup = -1, t->schedule = CNNVIS_LR_CONSTANT;
}

/* The pixels are bytes, so a non-finite training image comes from the normalisation: a std
   of 0 or a NaN mean set by hand in net->desc after create. */
static void test_train_bad_image(void)
{
    cnnvis_net *net = small_net();
    cnnvis_dataset ds;
    cnnvis_train_desc t;
    REQUIRE(net, "net");
    make_dataset(&ds, 12, 1, 8, 8, 3);
    train_desc(&t, 2, 0.01f);
    net->desc.std[0] = 0.0f;
    EXPECT(cnnvis_net_train(net, &ds, NULL, &t), CNNVIS_ERR_NUMERIC, "training image");
    CHECK(has(cnnvis_last_error(), "epoch 1 of 2") && has(cnnvis_last_error(), "step 0"), "message \"%s\" names epoch and step",
          cnnvis_last_error());
    CHECK(net->step == 0, "took %lld steps", net->step);
    net->desc.std[0] = 1.0f, net->desc.mean[0] = NAN;
    EXPECT(cnnvis_net_train(net, &ds, NULL, &t), CNNVIS_ERR_NUMERIC, "not finite once normalised");
    net->desc.mean[0] = 0.0f;
    CHECK(cnnvis_net_train(net, &ds, NULL, &t) == CNNVIS_OK, "repaired: %s", cnnvis_last_error());
    cnnvis_dataset_free(&ds);
    cnnvis_net_free(net);
}

static void test_train_bad_weight(void)
{
    static const char *layers[] = {"conv1", "conv2", "fc3"};
    size_t k;
    for (k = 0; k < 3; k++) {
        cnnvis_net *net = small_net();
        cnnvis_dataset ds;
        cnnvis_train_desc t;
        cnnvis_layer *L;
        REQUIRE(net, "net");
        make_dataset(&ds, 12, 1, 8, 8, 3);
        train_desc(&t, 3, 0.01f);
        REQUIRE(cnnvis_net_find(net, layers[k]) >= 0, "%s", layers[k]);
        L = &net->layers[cnnvis_net_find(net, layers[k])];
        L->w[1] = k == 1 ? INFINITY : NAN;
        EXPECT(cnnvis_net_train(net, &ds, NULL, &t), CNNVIS_ERR_NUMERIC, layers[k]);
        CHECK(has(cnnvis_last_error(), "epoch 1 of 3") && has(cnnvis_last_error(), "step 0") &&
                  has(cnnvis_last_error(), "non-finite weight"),
              "message \"%s\"", cnnvis_last_error());
        CHECK(net->step == 0, "%s: took %lld steps", layers[k], net->step);
        cnnvis_dataset_free(&ds);
        cnnvis_net_free(net);
    }
}

/* lr 1e6: the loss or the update blows up within a few steps. The per-epoch checkpoint
   written while the net was still good survives byte for byte. */
static void test_train_blow_up_keeps_checkpoint(void)
{
    cnnvis_net *net = small_net();
    cnnvis_dataset ds;
    cnnvis_train_desc t;
    char path[300], tmp[310];
    unsigned char *before, *after;
    size_t n_before, n_after;
    long long steps_ok;
    int i;
    REQUIRE(net, "net");
    make_dataset(&ds, 12, 1, 8, 8, 3);
    path_in_dir(path, sizeof path, "epoch.cnnvis");
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    fault_save_path = path, fault_hits = 0;
    train_desc(&t, 1, 0.01f);
    t.callback = save_each_epoch, t.callback_every = 0;
    REQUIRE(cnnvis_net_train(net, &ds, NULL, &t) == CNNVIS_OK, "a good epoch: %s", cnnvis_last_error());
    REQUIRE(fault_hits == 1, "saved %d times", fault_hits);
    before = read_all(path, &n_before);
    REQUIRE(before && n_before > 0, "checkpoint");
    steps_ok = net->step;

    train_desc(&t, 50, 1e6f);
    t.callback = save_each_epoch;
    EXPECT(cnnvis_net_train(net, &ds, NULL, &t), CNNVIS_ERR_NUMERIC, "cnnvis_net_train, epoch ");
    CHECK(has(cnnvis_last_error(), "step ") && (has(cnnvis_last_error(), "layer conv") || has(cnnvis_last_error(), "layer fc")),
          "message \"%s\" names the step and a layer", cnnvis_last_error());
    printf("  lr 1e6 stopped after %lld steps: %s\n", net->step - steps_ok, cnnvis_last_error());
    /* every weight the net holds now is finite: the bad step was refused before updating */
    for (i = 0; i < net->n_layers; i++) {
        const cnnvis_layer *L = &net->layers[i];
        CHECK(cnnvis__all_finite(L->w, L->n_w) && cnnvis__all_finite(L->b, L->n_b), "layer %s holds a non-finite weight",
              L->desc.name);
    }
    /* a weight made NaN by hand: the save is refused, the old checkpoint stays */
    net->layers[3].w[0] = NAN;
    EXPECT(cnnvis_net_save(path, net), CNNVIS_ERR_NUMERIC, "conv2");
    after = read_all(path, &n_after);
    CHECK(after && n_after == n_before && memcmp(before, after, n_before) == 0, "the last good checkpoint changed");
    CHECK(!file_exists(tmp), "%s left behind", tmp);
    net->layers[3].w[0] = 0;
    net->layers[5].b[2] = -INFINITY;
    EXPECT(cnnvis_net_save(path, net), CNNVIS_ERR_NUMERIC, "fc3");
    free(after);
    after = read_all(path, &n_after);
    CHECK(after && n_after == n_before && memcmp(before, after, n_before) == 0, "the last good checkpoint changed");
    free(before), free(after);
    remove(path);
    cnnvis_dataset_free(&ds);
    cnnvis_net_free(net);
}

/* An update that overflows (a momentum near FLT_MAX in conv2, as after a run of huge
   gradients): the step is refused before any weight or momentum moves. */
static void test_train_update_overflow(void)
{
    cnnvis_net *net = small_net(), *ref = small_net();
    cnnvis_dataset ds;
    cnnvis_train_desc t;
    int i;
    REQUIRE(net && ref, "net");
    make_dataset(&ds, 12, 1, 8, 8, 3);
    train_desc(&t, 2, 10.0f);
    t.momentum = 0.9f;
    net->layers[3].vw[7] = ref->layers[3].vw[7] = 3e38f;
    EXPECT(cnnvis_net_train(net, &ds, NULL, &t), CNNVIS_ERR_NUMERIC, "overflows");
    CHECK(has(cnnvis_last_error(), "epoch 1 of 2") && has(cnnvis_last_error(), "step 0") && has(cnnvis_last_error(), "layer conv2"),
          "message \"%s\"", cnnvis_last_error());
    CHECK(net->step == 0, "took %lld steps", net->step);
    for (i = 0; i < net->n_layers; i++)
        CHECK(memcmp(net->layers[i].w, ref->layers[i].w, sizeof(float) * net->layers[i].n_w) == 0 &&
                  memcmp(net->layers[i].b, ref->layers[i].b, sizeof(float) * net->layers[i].n_b) == 0 &&
                  memcmp(net->layers[i].vw, ref->layers[i].vw, sizeof(float) * net->layers[i].n_w) == 0,
              "layer %s changed by a refused step", net->layers[i].desc.name);
    cnnvis_dataset_free(&ds);
    cnnvis_net_free(net), cnnvis_net_free(ref);
}

/* Softmax cross-entropy with scores at the edge of float: the log-sum-exp keeps the loss and
   dL/dS finite and exact. The net is one flatten layer, whose output is its input. */
static void xent_check(const char *what, const float *s, int label, double expect_loss, const double *expect_grad)
{
    cnnvis_net_desc d;
    cnnvis_net *net = NULL;
    cnnvis_tensor x;
    float loss = -1;
    int c;
    cnnvis_net_desc_init(&d, 4, 1, 1);
    cnnvis_net_desc_flatten(&d, "flat");
    d.max_batch = 1, d.n_threads = 1;
    REQUIRE(cnnvis_net_create(&net, &d) == CNNVIS_OK, "%s", cnnvis_last_error());
    x = cnnvis_tensor_wrap((float *)s, 1, 4, 1, 1);
    REQUIRE(cnnvis_net_forward(net, &x) == CNNVIS_OK, "%s", cnnvis_last_error());
    REQUIRE(cnnvis_net_loss(net, &label) == CNNVIS_OK, "%s", cnnvis_last_error());
    loss = net->loss;
    CHECK(isfinite(loss) && fabs(loss - expect_loss) <= 1e-6 * fabs(expect_loss) + 1e-6, "%s: loss %.9g, expected %.9g", what,
          (double)loss, expect_loss);
    for (c = 0; c < 4; c++) {
        float g = net->layers[0].dout.data[c];
        CHECK(isfinite(g) && fabs(g - expect_grad[c]) <= 1e-6, "%s: dL/dS[%d] = %.9g, expected %.9g", what, c, (double)g,
              expect_grad[c]);
    }
    REQUIRE(cnnvis_net_backward(net, "flat", NULL, CNNVIS_RELU_BACKPROP, CNNVIS_BACKWARD_KEEP) == CNNVIS_OK, "%s", cnnvis_last_error());
    for (c = 0; c < 4; c++) CHECK(isfinite(net->dinput.data[c]), "%s: dL/dI[%d] = %g", what, c, (double)net->dinput.data[c]);
    cnnvis_net_free(net);
}

static void test_softmax_saturated(void)
{
    static const float s30[4] = {1e30f, -1e30f, 0.0f, 5.0f}, s38[4] = {1e38f, -1e38f, 0.0f, -1e38f},
                       tie38[4] = {1e38f, 1e38f, -1e38f, 0.0f}, max[4] = {3e38f, 3e38f, 3e38f, 3e38f};
    static const double g_win[4] = {0, 0, 0, 0}, g_lose30[4] = {1, -1, 0, 0}, g_tie[4] = {0.5, -0.5, 0, 0},
                        g_tie_lose[4] = {0.5, 0.5, -1, 0}, g_even[4] = {-0.75, 0.25, 0.25, 0.25};
    /* -log p = log sum exp(s - m) + (m - s_label), exactly, where it is a float */
    xent_check("+1e30 is the label", s30, 0, 0.0, g_win);
    xent_check("-1e30 is the label", s30, 1, 2e30, g_lose30);
    xent_check("+1e38 is the label", s38, 0, 0.0, g_win);
    xent_check("-1e38 is the label (loss 2e38)", s38, 1, 2e38, g_lose30);
    xent_check("two tied at 1e38", tie38, 1, log(2.0), g_tie);
    xent_check("two tied at 1e38, label at -1e38", tie38, 2, 2e38, g_tie_lose);
    xent_check("all at 3e38", max, 0, log(4.0), g_even);
}

/* --- 2. Writes that fail part-way ---------------------------------------------------------- */

typedef cnnvis_result (*writer_fn)(const char *path, const void *ctx);

/* Runs `write` with the disk full after N bytes, for N from 0 to the file's size (in about
   100 steps, plus the edges of every piece file_write writes): each time CNNVIS_ERR_IO, a
   message, the old file untouched, no path.tmp; finally with room enough it succeeds. */
static void write_faults(const char *what, const char *name, writer_fn write, const void *ctx)
{
    char path[300], tmp[310];
    static const char old_text[] = "the old file: it must survive every failed write\n";
    unsigned char *good, *now;
    size_t size, n_now, step, n;
    int failures = 0, bad = 0;
    path_in_dir(path, sizeof path, name);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    fault_write_budget = -1;
    REQUIRE(write(path, ctx) == CNNVIS_OK, "%s: %s", what, cnnvis_last_error());
    good = read_all(path, &size);
    REQUIRE(good && size > 0, "%s: nothing written", what);
    write_raw(path, old_text);
    step = size / 97 + 1;
    for (n = 0; n < size; n = n + step < size ? n + step : (n + 1 < size ? size - 1 : size)) {
        cnnvis_result r;
        fault_write_budget = (long)n, fault_write_calls = 0;
        cnnvis_clear_error();
        r = write(path, ctx);
        fault_write_budget = -1;
        failures++;
        if (r != CNNVIS_ERR_IO || !has(cnnvis_last_error(), "write failed")) {
            CHECK(0, "%s: disk full after %zu of %zu bytes: %s (%s)", what, n, size, cnnvis_result_str(r), cnnvis_last_error());
            bad++;
        }
        now = read_all(path, &n_now);
        if (!now || n_now != strlen(old_text) || memcmp(now, old_text, n_now) != 0) {
            CHECK(0, "%s: disk full after %zu bytes: the old file changed", what, n);
            bad++;
        }
        free(now);
        if (file_exists(tmp)) {
            CHECK(0, "%s: disk full after %zu bytes: %s left behind", what, n, tmp);
            bad++;
            remove(tmp);
        }
        if (bad > 3) break;
        if (n == size - 1) break;
    }
    CHECK(write(path, ctx) == CNNVIS_OK, "%s: %s", what, cnnvis_last_error());
    now = read_all(path, &n_now);
    CHECK(now && n_now == size && memcmp(now, good, size) == 0, "%s: the file written after the faults differs", what);
    printf("  %s: %zu bytes, %d failed writes tried\n", what, size, failures);
    free(now), free(good);
    remove(path);
}

static cnnvis_result write_checkpoint(const char *path, const void *ctx) { return cnnvis_net_save(path, (const cnnvis_net *)ctx); }
static cnnvis_result write_image(const char *path, const void *ctx) { return cnnvis_image_write(path, (const cnnvis_image *)ctx); }
static cnnvis_result write_monitor(const char *path, const void *ctx)
{
    return cnnvis_monitor_write_tsv(path, (const cnnvis_monitor *)ctx);
}
typedef struct dissection_ctx {
    const cnnvis_dissection *dis;
    const cnnvis_dataset *ds;
} dissection_ctx;
static cnnvis_result write_dissection(const char *path, const void *ctx)
{
    const dissection_ctx *c = (const dissection_ctx *)ctx;
    return cnnvis_dissection_write_tsv(path, c->dis, 1, c->ds);
}
static cnnvis_result write_bytes(const char *path, const void *ctx)
{
    return cnnvis__file_write(path, ctx, 3 * ((size_t)1 << 16) + 123); /* more than one piece */
}

static void fill_image(cnnvis_image *im)
{
    size_t i, n = (size_t)im->w * im->h * im->c;
    for (i = 0; i < n; i++) im->px[i] = (unsigned char)(i * 7 + i / 13);
}

static void test_write_faults(void)
{
    cnnvis_net *net = small_net();
    cnnvis_image rgb, grey, big;
    unsigned char *bytes;
    size_t i;
    REQUIRE(net, "net");
    write_faults("checkpoint", "net.cnnvis", write_checkpoint, net);
    REQUIRE(cnnvis_image_create(&rgb, 13, 9, 3) == CNNVIS_OK, "image");
    REQUIRE(cnnvis_image_create(&grey, 11, 7, 1) == CNNVIS_OK, "image");
    REQUIRE(cnnvis_image_create(&big, 300, 200, 3) == CNNVIS_OK, "image");
    fill_image(&rgb), fill_image(&grey), fill_image(&big);
    write_faults("PPM", "a.ppm", write_image, &rgb);
    write_faults("PGM", "a.pgm", write_image, &grey);
    write_faults("PNG (RGB)", "a.png", write_image, &rgb);
    write_faults("PNG (grey)", "g.png", write_image, &grey);
    write_faults("PNG of 180 kB (several pieces)", "big.png", write_image, &big);
    bytes = (unsigned char *)malloc(3 * ((size_t)1 << 16) + 123);
    REQUIRE(bytes, "malloc");
    for (i = 0; i < 3 * ((size_t)1 << 16) + 123; i++) bytes[i] = (unsigned char)(i * 31);
    write_faults("cnnvis__file_write of 196731 bytes", "raw.bin", write_bytes, bytes);
    free(bytes);
    cnnvis_image_free(&rgb), cnnvis_image_free(&grey), cnnvis_image_free(&big);
    cnnvis_net_free(net);
}

static void test_write_faults_reports(void)
{
    cnnvis_net_desc d;
    cnnvis_net *net = NULL;
    cnnvis_monitor m;
    cnnvis_monitor_desc md;
    cnnvis_dataset concepts;
    cnnvis_concepts_desc cd;
    cnnvis_dissection dis;
    dissection_ctx ctx;
    const char *layer = "conv1";
    small_desc(&d, 3);
    d.in_h = d.in_w = 16, d.layers[5].out_channels = 10; /* the concept images: 3x16x16, 10 classes */
    REQUIRE(cnnvis_net_create(&net, &d) == CNNVIS_OK, "%s", cnnvis_last_error());
    memset(&md, 0, sizeof md);
    REQUIRE(cnnvis_monitor_init(&m, net, &md) == CNNVIS_OK, "monitor: %s", cnnvis_last_error());
    REQUIRE(cnnvis_monitor_snapshot(&m, net, 0) == CNNVIS_OK, "%s", cnnvis_last_error());
    REQUIRE(cnnvis_monitor_snapshot(&m, net, 1) == CNNVIS_OK, "%s", cnnvis_last_error());
    write_faults("monitor TSV", "monitor.tsv", write_monitor, &m);
    cnnvis_monitor_free(&m);

    memset(&cd, 0, sizeof cd);
    cd.n = 10, cd.size = 16, cd.seed = 1;
    REQUIRE(cnnvis_concepts_generate(&concepts, &cd) == CNNVIS_OK, "%s", cnnvis_last_error());
    REQUIRE(cnnvis_dissect(&dis, net, &layer, 1, &concepts, NULL) == CNNVIS_OK, "%s", cnnvis_last_error());
    ctx.dis = &dis, ctx.ds = &concepts;
    write_faults("dissection TSV", "dissection.tsv", write_dissection, &ctx);
    cnnvis_dissection_free(&dis);
    cnnvis_dataset_free(&concepts);
    cnnvis_net_free(net);
}

/* --- 3. Allocations that fail ------------------------------------------------------------- */

typedef cnnvis_result (*alloc_fn)(void *ctx);

/* Counts the allocations `call` makes, then runs it again with the k-th failing, for every
   k: each time `code` (CNNVIS_ERR_NOMEM) with a message, and every block given back. */
static void alloc_faults(const char *what, alloc_fn call, void *ctx, cnnvis_result code)
{
    long total, k, live0 = fault_alloc_live;
    int bad = 0;
    fault_alloc_at = 0, fault_alloc_count = 0;
    REQUIRE(call(ctx) == CNNVIS_OK, "%s: %s", what, cnnvis_last_error());
    total = fault_alloc_count;
    CHECK(fault_alloc_live == live0, "%s: %ld blocks not freed by a call that succeeded", what, fault_alloc_live - live0);
    REQUIRE(total > 0, "%s: allocates nothing", what);
    for (k = 1; k <= total && bad < 4; k++) {
        cnnvis_result r;
        fault_alloc_at = k, fault_alloc_count = 0;
        cnnvis_clear_error();
        r = call(ctx);
        fault_alloc_at = 0;
        if (r != code || !cnnvis_last_error()[0]) {
            CHECK(0, "%s: allocation %ld of %ld failing: %s (%s)", what, k, total, cnnvis_result_str(r), cnnvis_last_error());
            bad++;
        }
        if (fault_alloc_live != live0) {
            CHECK(0, "%s: allocation %ld of %ld failing: %ld blocks leaked", what, k, total, fault_alloc_live - live0);
            bad++;
            fault_alloc_live = live0;
        }
    }
    printf("  %s: %ld allocations, each made to fail in turn\n", what, total);
}

static cnnvis_result do_create(void *ctx)
{
    cnnvis_net *net = NULL;
    cnnvis_result r = cnnvis_net_create(&net, (const cnnvis_net_desc *)ctx);
    if (r == CNNVIS_OK && !net) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "test: no net");
    if (r != CNNVIS_OK && net) r = CNNVIS__FAIL(CNNVIS_ERR_ARG, "test: *out set after a failure");
    cnnvis_net_free(net);
    return r;
}

typedef struct save_ctx {
    cnnvis_net *net;
    char path[300];
} save_ctx;

static cnnvis_result do_save(void *ctx)
{
    save_ctx *s = (save_ctx *)ctx;
    return cnnvis_net_save(s->path, s->net);
}

static cnnvis_result do_load(void *ctx)
{
    save_ctx *s = (save_ctx *)ctx;
    cnnvis_net *net = NULL;
    cnnvis_net_desc rt;
    cnnvis_result r;
    memset(&rt, 0, sizeof rt);
    rt.n_threads = 1;
    r = cnnvis_net_load(&net, s->path, &rt);
    if (r != CNNVIS_OK && net) r = CNNVIS__FAIL(CNNVIS_ERR_ARG, "test: *out set after a failure");
    cnnvis_net_free(net);
    return r;
}

static cnnvis_result do_load_weights(void *ctx)
{
    save_ctx *s = (save_ctx *)ctx;
    return cnnvis_net_load_weights(s->net, s->path);
}

static cnnvis_result do_image_read(void *ctx)
{
    cnnvis_image im;
    cnnvis_result r = cnnvis_image_read(&im, (const char *)ctx);
    if (r == CNNVIS_OK) cnnvis_image_free(&im);
    else if (im.px) r = CNNVIS__FAIL(CNNVIS_ERR_ARG, "test: pixels left after a failure");
    return r;
}

typedef struct image_ctx {
    const cnnvis_image *im;
    char path[300];
} image_ctx;

static cnnvis_result do_image_write(void *ctx)
{
    image_ctx *c = (image_ctx *)ctx;
    return cnnvis_image_write(c->path, c->im);
}

typedef struct saliency_ctx {
    cnnvis_net *net;
    cnnvis_tensor pixels;
    cnnvis_saliency_method method;
} saliency_ctx;

static cnnvis_result do_saliency(void *ctx)
{
    saliency_ctx *c = (saliency_ctx *)ctx;
    cnnvis_tensor out;
    cnnvis_saliency_desc sd;
    cnnvis_result r;
    memset(&sd, 0, sizeof sd);
    sd.smooth_n = 3, sd.ig_steps = 3;
    r = cnnvis_saliency(&out, c->net, &c->pixels, 1, c->method, &sd);
    if (r == CNNVIS_OK) cnnvis_tensor_free(&out);
    else if (out.data) r = CNNVIS__FAIL(CNNVIS_ERR_ARG, "test: out left allocated after a failure");
    return r;
}

static void test_alloc_faults(void)
{
    cnnvis_net_desc d;
    save_ctx s;
    image_ctx ic;
    saliency_ctx sc;
    cnnvis_image rgb, grey;
    char ppm[300], pgm[300], png[300];
    int m;

    small_desc(&d, 1);
    alloc_faults("cnnvis_net_create", do_create, &d, CNNVIS_ERR_NOMEM);
#ifndef CNNVIS_NO_THREADS
    d.n_threads = 3;
    alloc_faults("cnnvis_net_create (3 threads)", do_create, &d, CNNVIS_ERR_NOMEM);
    d.n_threads = 1;
#endif

    s.net = small_net();
    REQUIRE(s.net, "net");
    path_in_dir(s.path, sizeof s.path, "alloc.cnnvis");
    alloc_faults("cnnvis_net_save", do_save, &s, CNNVIS_ERR_NOMEM);
    alloc_faults("cnnvis_net_load", do_load, &s, CNNVIS_ERR_NOMEM);
    alloc_faults("cnnvis_net_load_weights", do_load_weights, &s, CNNVIS_ERR_NOMEM);
    remove(s.path);

    REQUIRE(cnnvis_image_create(&rgb, 13, 9, 3) == CNNVIS_OK, "image");
    REQUIRE(cnnvis_image_create(&grey, 11, 7, 1) == CNNVIS_OK, "image");
    fill_image(&rgb), fill_image(&grey);
    path_in_dir(ppm, sizeof ppm, "alloc.ppm"), path_in_dir(pgm, sizeof pgm, "alloc.pgm"), path_in_dir(png, sizeof png, "alloc.png");
    ic.im = &rgb;
    strcpy(ic.path, ppm);
    alloc_faults("cnnvis_image_write (PPM)", do_image_write, &ic, CNNVIS_ERR_NOMEM);
    strcpy(ic.path, png);
    alloc_faults("cnnvis_image_write (PNG)", do_image_write, &ic, CNNVIS_ERR_NOMEM);
    ic.im = &grey;
    strcpy(ic.path, pgm);
    alloc_faults("cnnvis_image_write (PGM)", do_image_write, &ic, CNNVIS_ERR_NOMEM);
    alloc_faults("cnnvis_image_read (PPM)", do_image_read, ppm, CNNVIS_ERR_NOMEM);
    alloc_faults("cnnvis_image_read (PGM)", do_image_read, pgm, CNNVIS_ERR_NOMEM);
    alloc_faults("cnnvis_image_read (PNG)", do_image_read, png, CNNVIS_ERR_NOMEM);
    remove(ppm), remove(pgm), remove(png);
    cnnvis_image_free(&rgb), cnnvis_image_free(&grey);

    sc.net = s.net;
    REQUIRE(cnnvis_tensor_create(&sc.pixels, 1, 1, 8, 8) == CNNVIS_OK, "pixels");
    for (m = 0; m < 64; m++) sc.pixels.data[m] = (float)((m * 5) % 11) / 11.0f;
    for (m = 0; m < CNNVIS_SALIENCY_COUNT; m++) {
        char what[80];
        snprintf(what, sizeof what, "cnnvis_saliency (%s)", cnnvis_saliency_name((cnnvis_saliency_method)m));
        sc.method = (cnnvis_saliency_method)m;
        alloc_faults(what, do_saliency, &sc, CNNVIS_ERR_NOMEM);
    }
    cnnvis_tensor_free(&sc.pixels);
    cnnvis_net_free(s.net);
}

int main(void)
{
    char tmpl[] = "/tmp/cnnvis_faults_XXXXXX";
    int failed;
    unsetenv("CNNVIS_THREADS");
    unsetenv("CNNVIS_KERNELS");
    if (!mkdtemp(tmpl)) {
        printf("cannot make a temporary directory\n");
        return 1;
    }
    snprintf(dir, sizeof dir, "%s", tmpl);
    RUN(test_train_bad_image);
    RUN(test_train_bad_weight);
    RUN(test_train_blow_up_keeps_checkpoint);
    RUN(test_train_update_overflow);
    RUN(test_softmax_saturated);
    RUN(test_write_faults);
    RUN(test_write_faults_reports);
    RUN(test_alloc_faults);
    failed = SUMMARY();
    rmdir(dir);
    return failed;
}
