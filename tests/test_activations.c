/* test_activations.c - section 2, "analyse activations", against definitions computed here
   on their own:
     - top-k: the ranking of every unit over a small data set, found by brute force from
       one forward pass per image and a sort with the documented tie rule (higher value,
       then earlier image, then earlier position), for conv, ReLU, pool and fc layers, k
       below and above the number of images, every batch size, both kernel sets;
     - receptive fields: the geometry cnnvis_topk reports against the set of input pixels
       whose perturbation reaches a unit, and cnnvis__topk_patch against that set;
     - dissection: each unit's threshold T_k against the order statistic of all its
       activations sorted here; the IoU table against masks upsampled and counted here on a
       hand-made data set; units planted by hand (a colour, a texture) get their concept;
     - bad arguments: a status, never a crash, and a message naming the argument;
     - the pictures and the table: what they must contain.
   Memory boundedness is measured elsewhere (tests/bench.c). */
#define _POSIX_C_SOURCE 200809L /* mkdtemp, rmdir, fork, waitpid */
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define CNNVIS_IMPLEMENTATION
#include "cnnvis.h"
#include "minitest.h"

/* --- Helpers ---------------------------------------------------------------------------- */

static int ident_char(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'; }

/* `word` as a word of the message: "dis" must not be found inside "cnnvis_dissection_plot",
   which every message of that function starts with. */
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

static void fill_uniform(float *v, size_t n, cnnvis_rng *rng, float lo, float hi)
{
    size_t i;
    for (i = 0; i < n; i++) v[i] = lo + (hi - lo) * cnnvis__rng_uniform(rng);
}

static cnnvis_net *create_net(cnnvis_net_desc *d, int max_batch, int n_threads)
{
    cnnvis_net *net = NULL;
    d->max_batch = max_batch;
    d->n_threads = n_threads;
    if (cnnvis_net_create(&net, d) != CNNVIS_OK) printf("  create: %s\n", cnnvis_last_error());
    return net;
}

/* A data set whose arrays the test owns (owner 0, released by dataset_release). */
static int dataset_alloc(cnnvis_dataset *ds, int n, int c, int h, int w, int n_categories)
{
    memset(ds, 0, sizeof *ds);
    ds->px = (unsigned char *)calloc((size_t)n * c * h * w, 1);
    ds->labels = (int32_t *)calloc((size_t)n, sizeof(int32_t));
    if (n_categories) ds->concepts = (unsigned char *)calloc((size_t)n * n_categories * h * w, 1);
    ds->n = n, ds->c = c, ds->h = h, ds->w = w, ds->n_classes = 1, ds->n_categories = n_categories;
    return ds->px && ds->labels && (!n_categories || ds->concepts);
}

static void dataset_release(cnnvis_dataset *ds)
{
    free(ds->px), free(ds->labels), free(ds->concepts), free(ds->concept_names);
    memset(ds, 0, sizeof *ds);
}

/* Random pixels; 128 is left out where a test must tell image pixels from the mid-grey
   padding of a patch. */
static void fill_pixels(unsigned char *px, size_t n, cnnvis_rng *rng, int avoid_128)
{
    size_t i;
    for (i = 0; i < n; i++) {
        px[i] = (unsigned char)cnnvis__rng_below(rng, 256);
        if (avoid_128 && px[i] == 128) px[i] = 129;
    }
}

/* Is `tile` pasted somewhere in `im`, pixel for pixel? A grey tile is compared as the grey
   RGB the montage draws it as. */
static int contains_tile(const cnnvis_image *im, const cnnvis_image *tile)
{
    int ox, oy, tx, ty, ch;
    for (oy = 0; oy + tile->h <= im->h; oy++)
        for (ox = 0; ox + tile->w <= im->w; ox++) {
            int ok = 1;
            for (ty = 0; ty < tile->h && ok; ty++)
                for (tx = 0; tx < tile->w && ok; tx++)
                    for (ch = 0; ch < 3 && ok; ch++)
                        ok = im->px[((size_t)(oy + ty) * im->w + ox + tx) * im->c + (im->c == 3 ? ch : 0)] ==
                             tile->px[((size_t)ty * tile->w + tx) * tile->c + (tile->c == 3 ? ch : 0)];
            if (ok) return 1;
        }
    return 0;
}

/* src magnified `zoom` times by repeating pixels (what a nearest-neighbour resize by an
   integer factor is). */
static int zoom_image(cnnvis_image *dst, const cnnvis_image *src, int zoom)
{
    int x, y, ch;
    if (cnnvis_image_create(dst, src->w * zoom, src->h * zoom, src->c) != CNNVIS_OK) return 0;
    for (y = 0; y < dst->h; y++)
        for (x = 0; x < dst->w; x++)
            for (ch = 0; ch < src->c; ch++)
                dst->px[((size_t)y * dst->w + x) * dst->c + ch] = src->px[((size_t)(y / zoom) * src->w + x / zoom) * src->c + ch];
    return 1;
}

/* Bilinear resizing as documented (cnnvis_resize: samples at pixel centres, align_corners
   false): output pixel d samples the input at s = (d + 0.5) * in / out - 0.5, clamped to
   [0, in - 1], between floor(s) and the next sample. Written out here in the same float
   operations, so that a mask "upsampled value > T" is decided bit for bit. */
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

/* Floats in ascending order, -0 before +0: the order under which "the (r+1)-th largest"
   is one bit pattern. */
static int float_ascending(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    if (x != y) return x < y ? -1 : 1;
    return (int)(signbit(y) != 0) - (int)(signbit(x) != 0);
}

static int same_bits(float a, float b) { return memcmp(&a, &b, sizeof a) == 0; }

/* --- 2a forward_until ------------------------------------------------------------------- */

/* Layers 0..last get the new input's outputs; the layers above keep the previous ones. */
static void test_forward_until(void)
{
    cnnvis_net_desc d;
    cnnvis_net *net, *ref;
    cnnvis_tensor a, b;
    cnnvis_rng rng;
    float *kept[8];
    int i, last = 2, bad_below = 0, bad_above = 0;
    cnnvis_net_desc_init(&d, 2, 9, 7);
    cnnvis_net_desc_conv(&d, "conv1", 3, 3, 1, 1, 1);
    cnnvis_net_desc_relu(&d, "relu1");
    cnnvis_net_desc_maxpool(&d, "pool1", 2, 2, 0);
    cnnvis_net_desc_conv(&d, "conv2", 2, 3, 1, 1, 1);
    cnnvis_net_desc_fc(&d, "fc1", 4);
    net = create_net(&d, 4, 2);
    ref = create_net(&d, 4, 2); /* same seed: the same weights */
    REQUIRE(net && ref, "nets");
    REQUIRE(cnnvis_tensor_create(&a, 3, 2, 9, 7) == CNNVIS_OK && cnnvis_tensor_create(&b, 3, 2, 9, 7) == CNNVIS_OK, "tensors");
    cnnvis__rng_seed(&rng, 1);
    fill_uniform(a.data, cnnvis_tensor_count(&a), &rng, -1, 1);
    fill_uniform(b.data, cnnvis_tensor_count(&b), &rng, -1, 1);
    REQUIRE(cnnvis_net_forward(net, &a) == CNNVIS_OK, "forward: %s", cnnvis_last_error());
    for (i = 0; i < net->n_layers; i++) {
        size_t n = (size_t)3 * net->layers[i].out_c * net->layers[i].out_h * net->layers[i].out_w;
        kept[i] = (float *)malloc(sizeof(float) * n);
        REQUIRE(kept[i], "out of memory");
        memcpy(kept[i], net->layers[i].out.data, sizeof(float) * n);
    }
    REQUIRE(cnnvis__net_forward_until(net, &b, last) == CNNVIS_OK, "forward_until: %s", cnnvis_last_error());
    REQUIRE(cnnvis_net_forward(ref, &b) == CNNVIS_OK, "forward: %s", cnnvis_last_error());
    for (i = 0; i < net->n_layers; i++) {
        size_t n = (size_t)3 * net->layers[i].out_c * net->layers[i].out_h * net->layers[i].out_w;
        if (i <= last) bad_below += memcmp(net->layers[i].out.data, ref->layers[i].out.data, sizeof(float) * n) != 0;
        else bad_above += memcmp(net->layers[i].out.data, kept[i], sizeof(float) * n) != 0;
        free(kept[i]);
    }
    CHECK(bad_below == 0, "%d layers up to %d differ from a full forward pass of the same input", bad_below, last);
    CHECK(bad_above == 0, "%d layers above %d did not keep their previous outputs", bad_above, last);
    CHECK(net->batch == 3, "batch %d after forward_until of 3 images", net->batch);
    cnnvis_tensor_free(&a), cnnvis_tensor_free(&b);
    cnnvis_net_free(net), cnnvis_net_free(ref);
}

/* --- 2a Top-k against brute force ------------------------------------------------------- */

static int hit_order(const void *pa, const void *pb)
{
    const cnnvis_topk_hit *a = (const cnnvis_topk_hit *)pa, *b = (const cnnvis_topk_hit *)pb;
    if (a->value != b->value) return a->value > b->value ? -1 : 1;
    if (a->image != b->image) return a->image < b->image ? -1 : 1;
    if (a->y != b->y) return a->y < b->y ? -1 : 1;
    return (a->x > b->x) - (a->x < b->x);
}

/* Every unit's hit in every image, one forward pass per image, each unit's list sorted best
   first: hits (out_c, n). A unit's hit in an image is its maximum over positions at the
   first position (row-major) that attains it. *pos_ties counts (image, unit) pairs whose
   maximum is attained more than once. */
static int brute_force_hits(cnnvis_net *net, const cnnvis_dataset *ds, int li, cnnvis_topk_hit *hits, int *pos_ties)
{
    const cnnvis_layer *L = &net->layers[li];
    int i, u, p, plane = L->out_h * L->out_w;
    for (i = 0; i < ds->n; i++) {
        cnnvis_tensor x = net->input;
        x.n = 1;
        if (cnnvis__dataset_batch(ds, i, 1, net, &x, NULL) != CNNVIS_OK || cnnvis__net_forward_until(net, &x, li) != CNNVIS_OK) {
            printf("  brute force: %s\n", cnnvis_last_error());
            return 0;
        }
        for (u = 0; u < L->out_c; u++) {
            const float *a = L->out.data + (size_t)u * plane;
            cnnvis_topk_hit *h = &hits[(size_t)u * ds->n + i];
            int best = 0, at_max = 0;
            for (p = 0; p < plane; p++)
                if (a[p] > a[best]) best = p;
            for (p = 0; p < plane; p++) at_max += a[p] == a[best];
            *pos_ties += at_max > 1;
            h->value = a[best], h->image = i, h->y = best / L->out_w, h->x = best % L->out_w;
        }
    }
    for (u = 0; u < L->out_c; u++) qsort(hits + (size_t)u * ds->n, (size_t)ds->n, sizeof *hits, hit_order);
    return 1;
}

/* 40 random images with ties planted: two constant images (every conv position inside the
   image sees the same window, so positions tie) and exact copies of earlier images (so
   images tie, and the earlier must win). k from 1 to more than the data set, batches that
   do and do not divide it, the net in training mode (top-k must use evaluation mode, and
   give the mode back). */
static void test_topk_brute_force(void)
{
    static const char *layers[] = {"conv1", "relu1", "pool1", "conv2", "relu2", "fc1"};
    static const int ks[] = {1, 5, 0, 40, 57}; /* 0: the default, 9 */
    static const int batches[] = {0, 7, 1};
    static const cnnvis_kernels kernels[] = {CNNVIS_KERNELS_REFERENCE, CNNVIS_KERNELS_AUTO};
    const int N = 40, H = 12, W = 12, C = 3;
    cnnvis_net_desc d;
    cnnvis_net *net;
    cnnvis_dataset ds;
    cnnvis_rng rng;
    cnnvis_topk_hit *brute;
    int kk, li_name, ki, bi, i, image_ties = 0, pos_ties = 0, computed = 0;
    cnnvis_net_desc_init(&d, C, H, W);
    cnnvis_net_desc_conv(&d, "conv1", 4, 3, 1, 1, 1);
    cnnvis_net_desc_relu(&d, "relu1");
    cnnvis_net_desc_maxpool(&d, "pool1", 2, 2, 0);
    cnnvis_net_desc_conv(&d, "conv2", 5, 3, 1, 0, 1);
    cnnvis_net_desc_relu(&d, "relu2");
    cnnvis_net_desc_dropout(&d, "drop", 0.5f);
    cnnvis_net_desc_fc(&d, "fc1", 6);
    net = create_net(&d, 16, 2);
    REQUIRE(net, "net");
    cnnvis__rng_seed(&rng, 11);
    for (i = 0; i < net->n_layers; i++)
        if (net->layers[i].n_w) {
            fill_uniform(net->layers[i].w, net->layers[i].n_w, &rng, -0.4f, 0.4f);
            fill_uniform(net->layers[i].b, net->layers[i].n_b, &rng, -0.3f, 0.2f);
        }
    REQUIRE(dataset_alloc(&ds, N, C, H, W, 0), "out of memory");
    fill_pixels(ds.px, (size_t)N * C * H * W, &rng, 0);
    memset(ds.px + (size_t)5 * C * H * W, 100, (size_t)C * H * W);
    for (i = 0; i < C * H * W; i++) ds.px[(size_t)11 * C * H * W + i] = (unsigned char)(i < H * W ? 30 : i < 2 * H * W ? 200 : 90);
    memcpy(ds.px + (size_t)20 * C * H * W, ds.px + (size_t)3 * C * H * W, (size_t)C * H * W);
    memcpy(ds.px + (size_t)33 * C * H * W, ds.px + (size_t)3 * C * H * W, (size_t)C * H * W);
    memcpy(ds.px + (size_t)39 * C * H * W, ds.px + (size_t)11 * C * H * W, (size_t)C * H * W);
    brute = (cnnvis_topk_hit *)malloc(sizeof *brute * 8 * N); /* no layer here has more than 8 units */
    REQUIRE(brute, "out of memory");
    for (ki = 0; ki < 2; ki++) {
        REQUIRE(cnnvis__net_set_kernels(net, kernels[ki]) == CNNVIS_OK, "kernels: %s", cnnvis_last_error());
        for (li_name = 0; li_name < (int)(sizeof layers / sizeof layers[0]); li_name++) {
            int li = cnnvis_net_find(net, layers[li_name]);
            const cnnvis_layer *L;
            REQUIRE(li >= 0, "layer %s", layers[li_name]);
            L = &net->layers[li];
            net->training = 0;
            REQUIRE(brute_force_hits(net, &ds, li, brute, &pos_ties), "brute force");
            if (ki == 0) {
                int u, r;
                for (u = 0; u < L->out_c; u++)
                    for (r = 1; r < N; r++) image_ties += brute[(size_t)u * N + r].value == brute[(size_t)u * N + r - 1].value;
            }
            for (kk = 0; kk < (int)(sizeof ks / sizeof ks[0]); kk++)
                for (bi = 0; bi < (int)(sizeof batches / sizeof batches[0]); bi++) {
                    cnnvis_topk_desc td;
                    cnnvis_topk t;
                    cnnvis_result r;
                    int u, rank, k = ks[kk] ? ks[kk] : 9, want = k < N ? k : N, bad = 0;
                    memset(&td, 0, sizeof td);
                    td.k = ks[kk], td.batch = batches[bi];
                    net->training = 1;
                    r = kk == 2 && bi == 0 ? cnnvis_topk_compute(&t, net, layers[li_name], &ds, NULL)
                                           : cnnvis_topk_compute(&t, net, layers[li_name], &ds, &td);
                    CHECK(net->training == 1, "%s: cnnvis_topk_compute did not give the training mode back", layers[li_name]);
                    net->training = 0;
                    REQUIRE(r == CNNVIS_OK, "%s k %d: %s", layers[li_name], k, cnnvis_last_error());
                    computed++;
                    CHECK(t.layer == li && t.n_units == L->out_c && t.k == k && strcmp(t.layer_name, layers[li_name]) == 0 &&
                              t.in_h == H && t.in_w == W,
                          "%s k %d: layer %d '%s', %d units, k %d, images %dx%d", layers[li_name], k, t.layer, t.layer_name,
                          t.n_units, t.k, t.in_h, t.in_w);
                    CHECK(t.rf_size == L->rf_size && t.rf_stride == L->rf_stride && t.rf_offset == L->rf_offset,
                          "%s: field %d/%d/%d, the layer's %d/%d/%d", layers[li_name], t.rf_size, t.rf_stride, t.rf_offset,
                          L->rf_size, L->rf_stride, L->rf_offset);
                    for (u = 0; u < t.n_units && u < L->out_c; u++) {
                        if (t.count[u] != want && bad++ < 3)
                            printf("  %s unit %d k %d: %d hits, expected %d\n", layers[li_name], u, k, t.count[u], want);
                        for (rank = 0; rank < want && rank < t.count[u]; rank++) {
                            const cnnvis_topk_hit *got = &t.hits[(size_t)u * t.k + rank], *exp = &brute[(size_t)u * N + rank];
                            if ((!same_bits(got->value, exp->value) || got->image != exp->image || got->y != exp->y ||
                                 got->x != exp->x) &&
                                bad++ < 3)
                                printf("  %s (%s kernels, k %d, batch %d) unit %d rank %d: %.9g image %d (%d, %d); brute "
                                       "force %.9g image %d (%d, %d)\n",
                                       layers[li_name], cnnvis__kernels_name(net->kernels), k, batches[bi], u, rank,
                                       (double)got->value, got->image, got->y, got->x, (double)exp->value, exp->image, exp->y,
                                       exp->x);
                        }
                    }
                    CHECK(bad == 0, "%s (%s kernels) k %d batch %d: %d hits differ from the brute-force ranking",
                          layers[li_name], cnnvis__kernels_name(net->kernels), k, batches[bi], bad);
                    cnnvis_topk_free(&t);
                    CHECK(t.hits == NULL && t.count == NULL, "cnnvis_topk_free left pointers");
                }
        }
    }
    /* the first units only */
    {
        cnnvis_topk_desc td;
        cnnvis_topk t;
        int li = cnnvis_net_find(net, "conv2"), u, rank, bad = 0;
        memset(&td, 0, sizeof td);
        td.k = 3, td.max_units = 2;
        REQUIRE(brute_force_hits(net, &ds, li, brute, &pos_ties), "brute force");
        REQUIRE(cnnvis_topk_compute(&t, net, "conv2", &ds, &td) == CNNVIS_OK, "%s", cnnvis_last_error());
        CHECK(t.n_units == 2, "max_units 2 gave %d units", t.n_units);
        for (u = 0; u < 2 && u < t.n_units; u++)
            for (rank = 0; rank < 3; rank++) {
                const cnnvis_topk_hit *got = &t.hits[(size_t)u * t.k + rank], *exp = &brute[(size_t)u * N + rank];
                bad += !same_bits(got->value, exp->value) || got->image != exp->image || got->y != exp->y || got->x != exp->x;
            }
        CHECK(bad == 0, "max_units 2: %d hits differ", bad);
        cnnvis_topk_free(&t);
    }
    /* the ties must really have been there for the tie rule to be tested */
    CHECK(image_ties > 0, "no two images tied: the tie rule was not exercised");
    CHECK(pos_ties > 0, "no maximum was attained twice in one map: the position rule was not exercised");
    printf("  %d top-k runs; %d tied neighbours in the rankings, %d maps with a tied maximum\n", computed, image_ties, pos_ties);
    free(brute);
    dataset_release(&ds);
    cnnvis_net_free(net);
}

/* --- 2a Receptive fields and patches by perturbing single pixels ----------------------- */

/* With positive weights, zero biases and a black input, every activation is 0; lighting one
   pixel makes exactly the units it is connected to positive: a conv sums positive terms,
   ReLU keeps them, a max-pool window with one positive value outputs it (and its -inf
   padding never wins). So "this pixel changes that unit" is "this pixel is connected to
   it", with no cancellation and nothing hidden by a max-pool. reach[li] is (out_h*out_w,
   H*W): 1 where the pixel reaches the unit at that position in any channel. */
static int compute_reach(cnnvis_net *net, unsigned char **reach)
{
    const int C = net->desc.in_c, H = net->desc.in_h, W = net->desc.in_w, B = net->desc.max_batch;
    cnnvis_tensor x;
    int begin, i, li;
    cnnvis_rng rng;
    cnnvis__rng_seed(&rng, 77);
    for (li = 0; li < net->n_layers; li++) {
        cnnvis_layer *L = &net->layers[li];
        if (L->n_w) {
            float fan_in = (float)L->n_w / (float)L->n_b;
            fill_uniform(L->w, L->n_w, &rng, 0.5f / fan_in, 1.0f / fan_in);
            memset(L->b, 0, sizeof(float) * L->n_b);
        }
        reach[li] = (unsigned char *)calloc((size_t)L->out_h * L->out_w * H * W, 1);
        if (!reach[li]) return 0;
    }
    if (cnnvis_tensor_create(&x, B, C, H, W) != CNNVIS_OK) return 0;
    for (begin = 0; begin < H * W; begin += B) {
        int count = H * W - begin < B ? H * W - begin : B;
        x.n = count;
        memset(x.data, 0, sizeof(float) * cnnvis_tensor_count(&x));
        for (i = 0; i < count; i++) /* one channel only: every channel is connected alike */
            x.data[(((size_t)i * C + (begin + i) % C) * H + (begin + i) / W) * W + (begin + i) % W] = 1.0f;
        if (cnnvis_net_forward(net, &x) != CNNVIS_OK) {
            printf("  forward: %s\n", cnnvis_last_error());
            x.n = B, cnnvis_tensor_free(&x);
            return 0;
        }
        for (li = 0; li < net->n_layers; li++) {
            const cnnvis_layer *L = &net->layers[li];
            int q, c, plane = L->out_h * L->out_w;
            for (i = 0; i < count; i++)
                for (q = 0; q < plane; q++)
                    for (c = 0; c < L->out_c; c++)
                        if (L->out.data[((size_t)i * L->out_c + c) * plane + q] > 0.0f) reach[li][(size_t)q * H * W + begin + i] = 1;
        }
    }
    x.n = B;
    cnnvis_tensor_free(&x);
    return 1;
}

/* The reported field of position (oy, ox) clipped to the image: rows *r0..*r1, columns
   *c0..*c1. */
static void reported_field(const cnnvis_topk *t, int oy, int ox, int *r0, int *r1, int *c0, int *c1)
{
    *r0 = t->rf_offset + oy * t->rf_stride, *c0 = t->rf_offset + ox * t->rf_stride;
    *r1 = *r0 + t->rf_size - 1, *c1 = *c0 + t->rf_size - 1;
    if (*r0 < 0) *r0 = 0;
    if (*c0 < 0) *c0 = 0;
    if (*r1 > t->in_h - 1) *r1 = t->in_h - 1;
    if (*c1 > t->in_w - 1) *c1 = t->in_w - 1;
}

/* exact 1: the set of reaching pixels must be the clipped field. exact 0: the field is a
   bounding box (with a kernel smaller than its stride the pixels skipped are inside the box
   yet reach nothing): the set must lie inside it, start where it starts, and end where it
   ends unless the image cut the field there (where an output size rounds down, the last rows
   reach no unit, as cnnvis_layer documents). Returns the number of positions that disagree. */
static int check_field(const cnnvis_net *net, const unsigned char *reach, const cnnvis_topk *t, const char *name, int exact)
{
    const cnnvis_layer *L = &net->layers[t->layer];
    const int H = t->in_h, W = t->in_w;
    int oy, ox, bad = 0;
    for (oy = 0; oy < L->out_h; oy++)
        for (ox = 0; ox < L->out_w; ox++) {
            const unsigned char *set = reach + ((size_t)oy * L->out_w + ox) * H * W;
            int r0, r1, c0, c1, py, px, outside = 0, missing = 0, min_y = H, max_y = -1, min_x = W, max_x = -1, ends_ok;
            int cut_y = t->rf_offset + oy * t->rf_stride + t->rf_size > H, cut_x = t->rf_offset + ox * t->rf_stride + t->rf_size > W;
            reported_field(t, oy, ox, &r0, &r1, &c0, &c1);
            for (py = 0; py < H; py++)
                for (px = 0; px < W; px++) {
                    int inside = py >= r0 && py <= r1 && px >= c0 && px <= c1;
                    if (set[py * W + px]) {
                        outside += !inside;
                        if (py < min_y) min_y = py;
                        if (py > max_y) max_y = py;
                        if (px < min_x) min_x = px;
                        if (px > max_x) max_x = px;
                    } else {
                        missing += inside;
                    }
                }
            ends_ok = exact ? max_y == r1 && max_x == c1 : (max_y == r1 || cut_y) && (max_x == c1 || cut_x);
            if (outside || (exact && missing) || min_y != r0 || min_x != c0 || !ends_ok) {
                if (bad++ < 3)
                    printf("  %s (%d, %d): reported rows %d..%d, columns %d..%d; the reaching pixels span rows %d..%d, "
                           "columns %d..%d (%d outside the field, %d inside that reach nothing)\n",
                           name, oy, ox, r0, r1, c0, c1, min_y, max_y, min_x, max_x, outside, missing);
            }
        }
    return bad;
}

/* The patch of hit (unit, rank): rf_size square, pixel (py, px) is image pixel (top + py,
   left + px) where that lies in the image and 128 elsewhere, and the image pixels it shows
   are exactly the pixels that reach the unit at the hit's position. A fully connected unit
   sees the whole image: its patch starts at (0, 0). *outside counts the padding pixels
   seen. Returns the number of disagreements. */
static int check_patch(const cnnvis_net *net, const unsigned char *reach, const cnnvis_topk *t, const cnnvis_dataset *ds,
                       int unit, int rank, int *outside)
{
    const cnnvis_layer *L = &net->layers[t->layer];
    const cnnvis_topk_hit *h = &t->hits[(size_t)unit * t->k + rank];
    const unsigned char *set = reach + ((size_t)h->y * L->out_w + h->x) * ds->h * ds->w;
    cnnvis_image patch;
    int top = t->rf_offset + h->y * t->rf_stride, left = t->rf_offset + h->x * t->rf_stride, py, px, ch, i, bad = 0;
    int shown_not_reaching = 0, reaching_not_shown = 0;
    unsigned char *shown = (unsigned char *)calloc((size_t)ds->h * ds->w, 1);
    if (L->desc.kind == CNNVIS_LAYER_FC) top = left = 0;
    if (!shown || cnnvis__topk_patch(&patch, t, ds, unit, rank) != CNNVIS_OK) {
        printf("  %s unit %d rank %d: %s\n", t->layer_name, unit, rank, cnnvis_last_error());
        free(shown);
        return 1;
    }
    if (patch.w != t->rf_size || patch.h != t->rf_size || patch.c != ds->c) {
        printf("  %s: patch %dx%dx%d, expected %dx%dx%d\n", t->layer_name, patch.w, patch.h, patch.c, t->rf_size, t->rf_size,
               ds->c);
        cnnvis_image_free(&patch), free(shown);
        return 1;
    }
    for (py = 0; py < patch.h; py++)
        for (px = 0; px < patch.w; px++) {
            int iy = top + py, ix = left + px, in = iy >= 0 && iy < ds->h && ix >= 0 && ix < ds->w;
            if (in) shown[iy * ds->w + ix] = 1;
            else (*outside)++;
            for (ch = 0; ch < ds->c; ch++) {
                int expect = in ? ds->px[(((size_t)h->image * ds->c + ch) * ds->h + iy) * ds->w + ix] : 128;
                int got = patch.px[((size_t)py * patch.w + px) * patch.c + ch];
                if (got != expect && bad++ < 3)
                    printf("  %s unit %d rank %d (image %d at (%d, %d)): patch pixel (%d, %d) channel %d is %d, expected %d "
                           "(image pixel (%d, %d))\n",
                           t->layer_name, unit, rank, h->image, h->y, h->x, py, px, ch, got, expect, iy, ix);
            }
        }
    for (i = 0; i < ds->h * ds->w; i++) shown_not_reaching += shown[i] && !set[i], reaching_not_shown += set[i] && !shown[i];
    if ((shown_not_reaching || reaching_not_shown) && bad++ < 3)
        printf("  %s unit %d rank %d at (%d, %d): the patch shows %d image pixels that do not reach the unit and leaves out %d "
               "that do\n",
               t->layer_name, unit, rank, h->y, h->x, shown_not_reaching, reaching_not_shown);
    cnnvis_image_free(&patch), free(shown);
    return bad;
}

/* conv(5x5, pad 2) -> ReLU -> pool(3x3, stride 2, pad 1) -> conv(3x3, pad 1) -> ReLU ->
   pool(2x2) -> fc on 3x24x28 (not square: rows and columns are not confused). No output size
   rounds a reachable row away, so the reported field must be exactly the reaching set.
   Worked out by hand: conv1 5/1/-2, pool1 7/2/-3, conv2 11/2/-5, pool2 13/4/-5, fc the
   whole image. */
static void test_receptive_field(void)
{
    static const struct {
        const char *name;
        int size, stride, offset;
    } expect[] = {{"conv1", 5, 1, -2}, {"relu1", 5, 1, -2}, {"pool1", 7, 2, -3}, {"conv2", 11, 2, -5},
                  {"relu2", 11, 2, -5}, {"pool2", 13, 4, -5}, {"fc", 28, 1, 0}};
    const int C = 3, H = 24, W = 28, N = 5;
    cnnvis_net_desc d;
    cnnvis_net *net;
    cnnvis_dataset ds;
    cnnvis_rng rng;
    unsigned char *reach[CNNVIS_MAX_LAYERS];
    int e, li, outside_border = 0;
    memset(reach, 0, sizeof reach);
    cnnvis_net_desc_init(&d, C, H, W);
    cnnvis_net_desc_conv(&d, "conv1", 2, 5, 1, 2, 1);
    cnnvis_net_desc_relu(&d, "relu1");
    cnnvis_net_desc_maxpool(&d, "pool1", 3, 2, 1);
    cnnvis_net_desc_conv(&d, "conv2", 2, 3, 1, 1, 1);
    cnnvis_net_desc_relu(&d, "relu2");
    cnnvis_net_desc_maxpool(&d, "pool2", 2, 2, 0);
    cnnvis_net_desc_fc(&d, "fc", 3);
    net = create_net(&d, 64, 2);
    REQUIRE(net, "net");
    REQUIRE(compute_reach(net, reach), "reach");
    REQUIRE(dataset_alloc(&ds, N, C, H, W, 0), "out of memory");
    cnnvis__rng_seed(&rng, 5);
    fill_pixels(ds.px, (size_t)N * C * H * W, &rng, 1);
    for (e = 0; e < (int)(sizeof expect / sizeof expect[0]); e++) {
        cnnvis_topk t;
        cnnvis_topk_desc td;
        int unit, rank, bad = 0, outside = 0;
        memset(&td, 0, sizeof td);
        td.k = 3;
        li = cnnvis_net_find(net, expect[e].name);
        REQUIRE(li >= 0, "%s", expect[e].name);
        REQUIRE(cnnvis_topk_compute(&t, net, expect[e].name, &ds, &td) == CNNVIS_OK, "%s", cnnvis_last_error());
        CHECK(t.rf_size == expect[e].size && t.rf_stride == expect[e].stride && t.rf_offset == expect[e].offset,
              "%s: field %d/%d/%d, worked out by hand %d/%d/%d", expect[e].name, t.rf_size, t.rf_stride, t.rf_offset,
              expect[e].size, expect[e].stride, expect[e].offset);
        CHECK(check_field(net, reach[li], &t, expect[e].name, 1) == 0, "%s: reported fields differ from the reaching pixels",
              expect[e].name);
        /* patches: the hits found, then hits placed by hand at the top-left border, inside,
           and at the bottom-right border */
        for (unit = 0; unit < t.n_units; unit++)
            for (rank = 0; rank < t.count[unit]; rank++) bad += check_patch(net, reach[li], &t, &ds, unit, rank, &outside);
        {
            const cnnvis_layer *L = &net->layers[li];
            cnnvis_topk_hit *h = t.hits; /* unit 0 */
            h[0].image = 1, h[0].y = 0, h[0].x = 0;
            h[1].image = 2, h[1].y = L->out_h / 2, h[1].x = L->out_w / 2;
            h[2].image = 4, h[2].y = L->out_h - 1, h[2].x = L->out_w - 1;
            REQUIRE(t.count[0] == 3, "unit 0 has %d hits", t.count[0]);
            for (rank = 0; rank < 3; rank++) {
                int before = outside;
                bad += check_patch(net, reach[li], &t, &ds, 0, rank, &outside);
                if (rank != 1 && L->desc.kind != CNNVIS_LAYER_FC) outside_border += outside > before;
                if (rank == 1 && t.rf_size < H)
                    CHECK(outside == before, "%s: the middle unit's patch shows padding", expect[e].name);
            }
        }
        CHECK(bad == 0, "%s: %d patch pixels differ", expect[e].name, bad);
        cnnvis_topk_free(&t);
    }
    CHECK(outside_border > 0, "no border patch showed padding: the mid-grey was not tested");
    for (li = 0; li < net->n_layers; li++) free(reach[li]);
    dataset_release(&ds);
    cnnvis_net_free(net);
}

/* A 1x1 conv with stride 2 sees every other pixel, and a 3x3 conv above it sees rows 2y-2,
   2y and 2y+2: the reported field is their bounding box, with the skipped rows inside it.
   20x20 rounds nothing away; 21x21 leaves the last row and column to no unit. */
static void test_receptive_field_gaps(void)
{
    int size;
    for (size = 20; size <= 21; size++) {
        static const char *names[] = {"c1", "c2", "p"};
        cnnvis_net_desc d;
        cnnvis_net *net;
        cnnvis_dataset ds;
        cnnvis_rng rng;
        unsigned char *reach[CNNVIS_MAX_LAYERS];
        int e, li;
        memset(reach, 0, sizeof reach);
        cnnvis_net_desc_init(&d, 1, size, size);
        cnnvis_net_desc_conv(&d, "c1", 1, 1, 2, 0, 1);
        cnnvis_net_desc_conv(&d, "c2", 1, 3, 1, 1, 1);
        cnnvis_net_desc_maxpool(&d, "p", 2, 2, 0);
        net = create_net(&d, 64, 2);
        REQUIRE(net, "net");
        REQUIRE(compute_reach(net, reach), "reach");
        REQUIRE(dataset_alloc(&ds, 2, 1, size, size, 0), "out of memory");
        cnnvis__rng_seed(&rng, 6);
        fill_pixels(ds.px, (size_t)2 * size * size, &rng, 1);
        for (e = 0; e < 3; e++) {
            cnnvis_topk t;
            li = cnnvis_net_find(net, names[e]);
            REQUIRE(cnnvis_topk_compute(&t, net, names[e], &ds, NULL) == CNNVIS_OK, "%s", cnnvis_last_error());
            CHECK(check_field(net, reach[li], &t, names[e], 0) == 0, "%dx%d %s: the reaching pixels are not inside the field "
                  "or do not touch its sides", size, size, names[e]);
            cnnvis_topk_free(&t);
        }
        for (li = 0; li < net->n_layers; li++) free(reach[li]);
        dataset_release(&ds);
        cnnvis_net_free(net);
    }
}

/* A flatten layer's units are the positions of the layer below: unit c*H*W + y*W + x sees the
   field of (y, x) of that layer. Its top-k hits are all at (0, 0) of its 1x1 map, so the
   field the top-k reports must contain every pixel that reaches any of its units, or the
   patches show the wrong place. With one conv channel, unit u is conv position u, whose
   reaching pixels compute_reach has found. */
static void test_flatten_patch(void)
{
    const int H = 6, W = 6;
    cnnvis_net_desc d;
    cnnvis_net *net;
    cnnvis_dataset ds;
    cnnvis_rng rng;
    cnnvis_topk t;
    cnnvis_topk_desc td;
    unsigned char *reach[CNNVIS_MAX_LAYERS];
    int li, unit, bad_units = 0;
    memset(reach, 0, sizeof reach);
    cnnvis_net_desc_init(&d, 1, H, W);
    cnnvis_net_desc_conv(&d, "conv", 1, 3, 1, 1, 1);
    cnnvis_net_desc_flatten(&d, "flat");
    net = create_net(&d, 64, 2);
    REQUIRE(net, "net");
    REQUIRE(compute_reach(net, reach), "reach");
    REQUIRE(dataset_alloc(&ds, 3, 1, H, W, 0), "out of memory");
    cnnvis__rng_seed(&rng, 8);
    fill_pixels(ds.px, (size_t)3 * H * W, &rng, 1);
    memset(&td, 0, sizeof td);
    td.k = 1;
    REQUIRE(cnnvis_topk_compute(&t, net, "flat", &ds, &td) == CNNVIS_OK, "%s", cnnvis_last_error());
    for (unit = 0; unit < t.n_units; unit++) {
        const unsigned char *own = reach[0] + (size_t)unit * H * W;
        int r0, r1, c0, c1, py, px, missed = 0;
        reported_field(&t, t.hits[(size_t)unit * t.k].y, t.hits[(size_t)unit * t.k].x, &r0, &r1, &c0, &c1);
        for (py = 0; py < H; py++)
            for (px = 0; px < W; px++) missed += own[py * W + px] && !(py >= r0 && py <= r1 && px >= c0 && px <= c1);
        if (missed && bad_units++ < 3)
            printf("  flat unit %d (conv position (%d, %d)): the reported field, rows %d..%d, columns %d..%d, leaves out %d "
                   "of the pixels that reach it\n",
                   unit, unit / W, unit % W, r0, r1, c0, c1, missed);
    }
    CHECK(bad_units == 0, "%d of %d flatten units: the reported field does not contain the pixels that reach the unit",
          bad_units, t.n_units);
    cnnvis_topk_free(&t);
    for (li = 0; li < net->n_layers; li++) free(reach[li]);
    dataset_release(&ds);
    cnnvis_net_free(net);
}

/* --- 2b Dissection: the threshold is an exact order statistic ---------------------------- */

/* Every activation of every unit over every position and image, collected here in the same
   batches and sorted. The documented T_k is exceeded by a share q of them: with r =
   floor(q N) for the quantile q the caller wrote (0.005 is five per thousand, whatever
   float 0.005f rounds to), T_k is the (r+1)-th largest value, so that exactly r exceed it
   unless values tie. q is given here as a fraction num/den so that r is exact. */
static void test_dissection_threshold(void)
{
    static const int q[][2] = {{5, 1000}, {1, 100}, {5, 100}, {1, 8}, {3, 10}, {7, 10}};
    static const char *const layers[] = {"conv2", "conv1", "relu1"}; /* the deepest first */
    const int N = 25, S = 16, BATCH = 7;
    cnnvis_net_desc d;
    cnnvis_net *net;
    cnnvis_dataset ds;
    cnnvis_concepts_desc cd;
    float *values[3];
    int counts[3], qi, l, zero_thresholds = 0;
    cnnvis_net_desc_init(&d, 3, S, S);
    cnnvis_net_desc_conv(&d, "conv1", 6, 3, 1, 1, 1);
    cnnvis_net_desc_relu(&d, "relu1");
    cnnvis_net_desc_maxpool(&d, "pool1", 2, 2, 0);
    cnnvis_net_desc_conv(&d, "conv2", 4, 3, 1, 1, 1);
    net = create_net(&d, 16, 3);
    REQUIRE(net, "net");
    memset(&cd, 0, sizeof cd);
    cd.n = N, cd.size = S, cd.seed = 3;
    REQUIRE(cnnvis_concepts_generate(&ds, &cd) == CNNVIS_OK, "%s", cnnvis_last_error());
    /* collect: values[l] is (units, N * plane) */
    for (l = 0; l < 3; l++) {
        const cnnvis_layer *L = &net->layers[cnnvis_net_find(net, layers[l])];
        int begin, i, u;
        size_t plane = (size_t)L->out_h * L->out_w;
        counts[l] = (int)(N * plane);
        values[l] = (float *)malloc(sizeof(float) * (size_t)L->out_c * counts[l]);
        REQUIRE(values[l], "out of memory");
        for (begin = 0; begin < N; begin += BATCH) {
            cnnvis_tensor x = net->input;
            x.n = N - begin < BATCH ? N - begin : BATCH;
            REQUIRE(cnnvis__dataset_batch(&ds, begin, x.n, net, &x, NULL) == CNNVIS_OK, "%s", cnnvis_last_error());
            REQUIRE(cnnvis_net_forward(net, &x) == CNNVIS_OK, "%s", cnnvis_last_error());
            for (i = 0; i < x.n; i++)
                for (u = 0; u < L->out_c; u++)
                    memcpy(values[l] + (size_t)u * counts[l] + (size_t)(begin + i) * plane,
                           L->out.data + ((size_t)i * L->out_c + u) * plane, sizeof(float) * plane);
        }
        for (u = 0; u < L->out_c; u++) qsort(values[l] + (size_t)u * counts[l], (size_t)counts[l], sizeof(float), float_ascending);
    }
    for (qi = 0; qi < (int)(sizeof q / sizeof q[0]); qi++) {
        cnnvis_dissection dis[3];
        cnnvis_dissect_desc dd;
        memset(&dd, 0, sizeof dd);
        dd.quantile = (float)q[qi][0] / (float)q[qi][1];
        dd.batch = BATCH;
        REQUIRE(cnnvis_dissect(dis, net, layers, 3, &ds, &dd) == CNNVIS_OK, "%s", cnnvis_last_error());
        for (l = 0; l < 3; l++) {
            const cnnvis_layer *L = &net->layers[cnnvis_net_find(net, layers[l])];
            long long r = (long long)counts[l] * q[qi][0] / q[qi][1];
            int u, bad = 0;
            CHECK(dis[l].n_units == L->out_c && strcmp(dis[l].layer_name, layers[l]) == 0 && dis[l].quantile == dd.quantile,
                  "%s: %d units, name '%s', quantile %g", layers[l], dis[l].n_units, dis[l].layer_name, (double)dis[l].quantile);
            for (u = 0; u < L->out_c && u < dis[l].n_units; u++) {
                const float *sorted = values[l] + (size_t)u * counts[l];
                float expect = sorted[counts[l] - 1 - r], got = dis[l].units[u].threshold;
                long long above = 0, j;
                for (j = 0; j < counts[l]; j++) above += float_ascending(&sorted[j], &got) > 0;
                zero_thresholds += expect == 0.0f;
                if (!same_bits(got, expect) && bad++ < 3)
                    printf("  %s unit %d, q = %d/%d of %d values: T = %.9g, %lld values above it; expected the %lld-th "
                           "largest %.9g\n",
                           layers[l], u, q[qi][0], q[qi][1], counts[l], (double)got, above, r + 1, (double)expect);
            }
            CHECK(bad == 0, "%s, quantile %d/%d: %d thresholds are not the exact order statistic", layers[l], q[qi][0],
                  q[qi][1], bad);
        }
        for (l = 0; l < 3; l++) cnnvis_dissection_free(&dis[l]);
    }
    CHECK(zero_thresholds > 0, "no threshold fell among the ReLU's zeros: ties were not exercised");
    for (l = 0; l < 3; l++) free(values[l]);
    cnnvis_dataset_free(&ds);
    cnnvis_net_free(net);
}

/* --- 2b Dissection: IoU counted by hand -------------------------------------------------- */

/* Three 4x8x8 images with two categories labelled per pixel: "shape" (blob, bar; some
   pixels unlabelled, some with an index past the category's concepts, which counts as
   unlabelled) and "tone" (dark, mid, light; the last image unlabelled). The net is one 2x2
   max-pool, so each unit's 4x4 map is the maximum of pixel/255 over its block. Channel 3 is
   flat: its mask is empty, every IoU 0, and its best concept must be the first. The
   threshold (quantile 1/4 of 48 values: the 13th largest) is taken from the values sorted
   here, the maps are upsampled to 8x8 as documented and thresholded with "> T", and every
   intersection, mask and concept area is counted over the data set. */
static void test_dissection_iou(void)
{
    static const char *names[5] = {"blob", "bar", "dark", "mid", "light"};
    const int N = 3, C = 4, H = 8, W = 8, OH = 4, OW = 4, CAT = 2, NC = 5;
    const int n_concepts[2] = {2, 3}, offset[2] = {0, 2};
    cnnvis_net_desc d;
    cnnvis_net *net;
    cnnvis_dataset ds;
    cnnvis_dissection dis;
    cnnvis_dissect_desc dd;
    const char *layer = "pool";
    float maps[3][4][16], up[64], lib_up[64];
    long long inter[4][5], mask_area[4], area[5];
    int i, c, y, x, u, k, plane_bad = 0;
    cnnvis_net_desc_init(&d, C, H, W);
    cnnvis_net_desc_maxpool(&d, "pool", 2, 2, 0);
    net = create_net(&d, 2, 2); /* batches of 2 and 1 */
    REQUIRE(net, "net");
    REQUIRE(dataset_alloc(&ds, N, C, H, W, CAT), "out of memory");
    ds.concept_names = (char *)calloc(NC, CNNVIS_NAME_LEN);
    REQUIRE(ds.concept_names, "out of memory");
    for (k = 0; k < NC; k++) strcpy(ds.concept_names + (size_t)k * CNNVIS_NAME_LEN, names[k]);
    strcpy(ds.category_names[0], "shape"), strcpy(ds.category_names[1], "tone");
    ds.n_concepts[0] = 2, ds.n_concepts[1] = 3;
    for (i = 0; i < N; i++)
        for (c = 0; c < C; c++)
            for (y = 0; y < H; y++)
                for (x = 0; x < W; x++) {
                    /* multiples of 15 (of 13 and 11 in channels 1 and 2, so that the units'
                       thresholds differ); channel 2 is bright on the blob (labelled below),
                       so that unit 2 detects it; image 2 repeats image 0's channel 1, so that
                       unit 1's maxima tie and the earlier image must come first */
                    int dy = y - 3 - i, dx = x - 4, v = (i * 37 + c * 53 + y * 11 + x * 29 + x * y * 7) % 18 * (15 - 2 * c);
                    if (c == 2) v = dy * dy + dx * dx <= 6 ? 200 + (x + y + i) % 4 * 15 : (x * 7 + y * 3 + i) % 9 * 15;
                    if (c == 3) v = 77;
                    if (i == 2 && c == 1) v = ds.px[((size_t)(0 * C + 1) * H + y) * W + x];
                    ds.px[(((size_t)i * C + c) * H + y) * W + x] = (unsigned char)v;
                }
    for (i = 0; i < N; i++)
        for (y = 0; y < H; y++)
            for (x = 0; x < W; x++) {
                unsigned char *shape = ds.concepts + (((size_t)i * CAT + 0) * H + y) * W + x;
                unsigned char *tone = ds.concepts + (((size_t)i * CAT + 1) * H + y) * W + x;
                int p = ds.px[(((size_t)i * C + 0) * H + y) * W + x];
                int dy = y - 3 - i, dx = x - 4;
                *shape = dy * dy + dx * dx <= 6 ? 0 : y == 1 || x == 6 ? 1 : (x + y + i) % 5 == 0 ? 9 : 255;
                *tone = i == 2 ? 255 : p < 80 ? 0 : p < 170 ? 1 : 2;
            }
    memset(&dd, 0, sizeof dd);
    dd.quantile = 0.25f, dd.iou_threshold = 0.3f;
    REQUIRE(cnnvis_dissect(&dis, net, &layer, 1, &ds, &dd) == CNNVIS_OK, "%s", cnnvis_last_error());
    REQUIRE(dis.n_units == 4 && dis.n_categories == 2 && dis.n_concepts == NC, "%d units, %d categories, %d concepts",
            dis.n_units, dis.n_categories, dis.n_concepts);
    CHECK(dis.offset[0] == 0 && dis.offset[1] == 2, "offsets %d, %d", dis.offset[0], dis.offset[1]);
    /* the maps, by hand: max of p * (1/255) over each 2x2 block (the input normalisation
       with mean 0 and std 1 is exactly that product) */
    for (i = 0; i < N; i++)
        for (c = 0; c < C; c++)
            for (y = 0; y < OH; y++)
                for (x = 0; x < OW; x++) {
                    float best = 0;
                    int by, bx;
                    for (by = 0; by < 2; by++)
                        for (bx = 0; bx < 2; bx++) {
                            float v = (float)ds.px[(((size_t)i * C + c) * H + 2 * y + by) * W + 2 * x + bx] * (1.0f / 255.0f);
                            best = v > best ? v : best;
                        }
                    maps[i][c][y * OW + x] = best;
                }
    memset(inter, 0, sizeof inter), memset(mask_area, 0, sizeof mask_area), memset(area, 0, sizeof area);
    for (i = 0; i < N; i++)
        for (k = 0; k < CAT; k++)
            for (y = 0; y < H * W; y++) {
                int label = ds.concepts[((size_t)i * CAT + k) * H * W + y];
                if (label < n_concepts[k]) area[offset[k] + label]++;
            }
    for (u = 0; u < C; u++) {
        float all[48], T;
        int top[8], n_top = 0, best = 0;
        for (i = 0; i < N; i++) memcpy(all + i * 16, maps[i][u], sizeof maps[i][u]);
        qsort(all, 48, sizeof(float), float_ascending);
        T = all[48 - 1 - 12];
        CHECK(same_bits(dis.units[u].threshold, T), "unit %d: T %.9g, expected the 13th largest of 48, %.9g", u,
              (double)dis.units[u].threshold, (double)T);
        for (i = 0; i < N; i++) {
            upsample_bilinear(up, W, H, maps[i][u], OW, OH);
            cnnvis_plane_resize(lib_up, W, H, maps[i][u], OW, OH, CNNVIS_RESIZE_BILINEAR);
            plane_bad += memcmp(up, lib_up, sizeof up) != 0;
            for (y = 0; y < H * W; y++) {
                if (!(up[y] > T)) continue;
                mask_area[u]++;
                for (k = 0; k < CAT; k++) {
                    int label = ds.concepts[((size_t)i * CAT + k) * H * W + y];
                    if (label < n_concepts[k]) inter[u][offset[k] + label]++;
                }
            }
        }
        for (k = 0; k < NC; k++) {
            long long uni = mask_area[u] + area[k] - inter[u][k];
            float iou = uni > 0 ? (float)((double)inter[u][k] / (double)uni) : 0.0f;
            CHECK(same_bits(dis.iou[(size_t)u * NC + k], iou), "unit %d concept %s: IoU %.9g, counted %lld / %lld = %.9g", u,
                  names[k], (double)dis.iou[(size_t)u * NC + k], inter[u][k], uni, (double)iou);
            if (iou > dis.iou[(size_t)u * NC + best]) best = k;
        }
        /* best concept, its category, detector */
        {
            int cat = best >= offset[1] ? 1 : 0;
            const cnnvis_dissect_unit *U = &dis.units[u];
            CHECK(U->category == cat && U->concept == best - offset[cat] && U->iou == dis.iou[(size_t)u * NC + best] &&
                      U->detector == (U->iou > 0.3f),
                  "unit %d: category %d concept %d IoU %g detector %d; expected %d, %d (%s), %g, %d", u, U->category, U->concept,
                  (double)U->iou, U->detector, cat, best - offset[cat], names[best], (double)dis.iou[(size_t)u * NC + best],
                  dis.iou[(size_t)u * NC + best] > 0.3f);
        }
        /* the top images: by the unit's maximum, ties to the earlier image, -1 beyond N */
        for (i = 0; i < N; i++) {
            float mi = 0;
            int j, at;
            for (j = 0; j < 16; j++) mi = maps[i][u][j] > mi ? maps[i][u][j] : mi;
            for (at = n_top; at > 0; at--) {
                float mp = 0;
                for (j = 0; j < 16; j++) mp = maps[top[at - 1]][u][j] > mp ? maps[top[at - 1]][u][j] : mp;
                if (!(mi > mp)) break;
                top[at] = top[at - 1];
            }
            top[at] = i, n_top++;
        }
        for (k = 0; k < 8; k++)
            CHECK(dis.units[u].top[k] == (k < N ? top[k] : -1), "unit %d: top[%d] is %d, expected %d", u, k, dis.units[u].top[k],
                  k < N ? top[k] : -1);
        printf("  unit %d: T = %.4f, mask %lld pixels, best %s IoU %.3f\n", u, (double)T, mask_area[u], names[best],
               (double)dis.iou[(size_t)u * NC + best]);
    }
    CHECK(plane_bad == 0, "%d maps: cnnvis_plane_resize differs from the documented bilinear formula", plane_bad);
    /* detectors and unique detectors per category, from the units' own fields; unit 2 was
       made to detect the blob, and the others are not detectors at 0.3 */
    CHECK(dis.units[2].detector && dis.units[2].category == 0 && dis.units[2].concept == 0 && !dis.units[0].detector &&
              !dis.units[1].detector && !dis.units[3].detector,
          "detectors: units 0..3: %d, %d, %d, %d; unit 2's best concept %d of category %d", dis.units[0].detector,
          dis.units[1].detector, dis.units[2].detector, dis.units[3].detector, dis.units[2].concept, dis.units[2].category);
    CHECK(mask_area[3] == 0 && dis.units[3].category == 0 && dis.units[3].concept == 0 && dis.units[3].iou == 0,
          "the flat unit: mask %lld pixels, category %d concept %d IoU %g; expected an empty mask and the first concept",
          mask_area[3], dis.units[3].category, dis.units[3].concept, (double)dis.units[3].iou);
    for (k = 0; k < CAT; k++) {
        int det = 0, uniq = 0, cc;
        for (cc = 0; cc < n_concepts[k]; cc++) {
            int found = 0;
            for (u = 0; u < C; u++)
                if (dis.units[u].detector && dis.units[u].category == k && dis.units[u].concept == cc) det++, found = 1;
            uniq += found;
        }
        CHECK(dis.detectors[k] == det && dis.unique[k] == uniq, "category %d: %d detectors, %d unique; expected %d, %d", k,
              dis.detectors[k], dis.unique[k], det, uniq);
    }
    cnnvis_dissection_free(&dis);
    CHECK(dis.units == NULL && dis.iou == NULL, "cnnvis_dissection_free left pointers");
    dataset_release(&ds);
    cnnvis_net_free(net);
}

/* --- 2b Dissection: planted units ----------------------------------------------------------- */

enum { COLOUR_BLUE = 1, COLOUR_GREEN = 4, COLOUR_RED = 8, TEXTURE_HSTRIPES = 1, TEXTURE_VSTRIPES = 2 };

/* Share of all pixels of ds whose label in category cat is concept. */
static double concept_share(const cnnvis_dataset *ds, int cat, int concept)
{
    size_t plane = (size_t)ds->h * ds->w, q;
    long long count = 0;
    int i;
    for (i = 0; i < ds->n; i++)
        for (q = 0; q < plane; q++) count += ds->concepts[((size_t)i * ds->n_categories + cat) * plane + q] == concept;
    return (double)count / ((double)ds->n * plane);
}

/* The colour net: one 3x3 conv (pad 1, so the map is the image's size and upsampling is the
   identity) whose three units are linear colour detectors averaged over 3x3 against the
   pixel noise. On the 11 colours' two shades (cnnvis_concepts_colour), red - 2 green - blue/2
   is at least 55 (of 255) on red and at most -24 on every other colour; -red + 1.5 green -
   blue at least 129 on green, at most 52 elsewhere; -red - green + 1.5 blue at least 182 on
   blue, at most 72 elsewhere. */
static cnnvis_net *colour_net(void)
{
    static const float coef[3][3] = {{1.0f, -2.0f, -0.5f}, {-1.0f, 1.5f, -1.0f}, {-1.0f, -1.0f, 1.5f}};
    cnnvis_net_desc d;
    cnnvis_net *net;
    int oc, ic, tap;
    cnnvis_net_desc_init(&d, 3, 32, 32);
    cnnvis_net_desc_conv(&d, "colour", 3, 3, 1, 1, 1);
    net = create_net(&d, 64, 2);
    if (!net) return NULL;
    for (oc = 0; oc < 3; oc++) {
        for (ic = 0; ic < 3; ic++)
            for (tap = 0; tap < 9; tap++) net->layers[0].w[(oc * 3 + ic) * 9 + tap] = coef[oc][ic] / 9.0f;
        net->layers[0].b[oc] = 0;
    }
    return net;
}

/* The texture net: stripes are rows (or columns) of two shades of a colour alternating every
   3 to 5 pixels. conv "edges" (2x2, no padding, so the image border makes no edge) computes
   the vertical difference dy and the horizontal dx of the pixels summed over RGB, as
   +dy, -dy, dy - c, -dy - c and the same for dx; after the ReLU,
   relu(v) - relu(v - c) is v clipped to [0, c], so the four channels give |dy| clipped at c.
   conv "stripes" (7x7, pad 3) averages clipped |dy| - clipped |dx| (unit 0: horizontal
   stripes) and its opposite (unit 1: vertical). Clipping at c = 0.15 (two standard deviations
   of the pixel noise's differences, below every colour's shade contrast) makes a stripe edge
   count as much as an object's outline: a 7-row window holds 1 to 2 stripe edges but one
   outline. Checker, diagonal stripes, dots and noise have as many vertical as horizontal
   edges and cancel. */
static cnnvis_net *texture_net(void)
{
    const float clip = 0.15f;
    cnnvis_net_desc d;
    cnnvis_net *net;
    cnnvis_layer *E, *S;
    int oc, ic, tap;
    cnnvis_net_desc_init(&d, 3, 32, 32);
    cnnvis_net_desc_conv(&d, "edges", 8, 2, 1, 0, 1);
    cnnvis_net_desc_relu(&d, "relu");
    cnnvis_net_desc_conv(&d, "stripes", 2, 7, 1, 3, 1);
    net = create_net(&d, 64, 2);
    if (!net) return NULL;
    E = &net->layers[0], S = &net->layers[2];
    memset(E->w, 0, sizeof(float) * E->n_w), memset(E->b, 0, sizeof(float) * E->n_b);
    for (oc = 0; oc < 8; oc++) {
        float sign = oc % 2 ? -1.0f : 1.0f;
        for (ic = 0; ic < 3; ic++) {
            float *w = E->w + (oc * 3 + ic) * 4; /* (ky, kx): 0 (0,0), 1 (0,1), 2 (1,0), 3 (1,1) */
            w[0] = -sign;
            if (oc < 4) w[2] = sign; /* dy = x(y+1, x) - x(y, x) */
            else w[1] = sign;        /* dx = x(y, x+1) - x(y, x) */
        }
        E->b[oc] = oc % 4 >= 2 ? -clip : 0.0f;
    }
    for (oc = 0; oc < 2; oc++)
        for (ic = 0; ic < 8; ic++) {
            float sign = (ic % 4 < 2 ? 1.0f : -1.0f) * (ic < 4 ? 1.0f : -1.0f) * (oc ? -1.0f : 1.0f);
            for (tap = 0; tap < 49; tap++) S->w[(oc * 8 + ic) * 49 + tap] = sign / 49.0f;
        }
    S->b[0] = S->b[1] = 0;
    return net;
}

/* Dissect one layer with the quantile set to the concept's share of the pixels, and check
   that `unit` is labelled with the concept with at least min_iou. The share matters: a mask
   covering a share q has IoU at most q / p against a concept covering p, so the default
   0.005 caps every IoU here near 0.05 (colours cover about 9% of the pixels, stripes 7%).
   At the default the unit must still get its label, with any IoU (min_iou 0). */
static void check_planted(cnnvis_net *net, const char *layer, int unit, const cnnvis_dataset *ds, int cat, int concept,
                          float min_iou)
{
    cnnvis_dissection dis;
    cnnvis_dissect_desc dd;
    const cnnvis_dissect_unit *U;
    double share = concept_share(ds, cat, concept);
    memset(&dd, 0, sizeof dd);
    dd.quantile = min_iou > 0 ? (float)share : 0.0f;
    REQUIRE(cnnvis_dissect(&dis, net, &layer, 1, ds, &dd) == CNNVIS_OK, "%s", cnnvis_last_error());
    U = &dis.units[unit];
    printf("  %s unit %d, quantile %.4f: %s (%s) IoU %.3f (planted %s, which covers %.1f%% of the pixels; its IoU %.3f)\n",
           layer, unit, (double)dis.quantile, cnnvis__dataset_concept_name(ds, U->category, U->concept),
           ds->category_names[U->category], (double)U->iou, cnnvis__dataset_concept_name(ds, cat, concept), 100 * share,
           (double)dis.iou[(size_t)unit * dis.n_concepts + dis.offset[cat] + concept]);
    CHECK(U->category == cat && U->concept == concept, "%s unit %d is labelled %s (%s), planted %s", layer, unit,
          cnnvis__dataset_concept_name(ds, U->category, U->concept), ds->category_names[U->category],
          cnnvis__dataset_concept_name(ds, cat, concept));
    CHECK(U->iou >= min_iou, "%s unit %d: IoU %.3f < %.2f", layer, unit, (double)U->iou, (double)min_iou);
    CHECK(U->detector == (U->iou > 0.04f), "%s unit %d: detector %d with IoU %.3f", layer, unit, U->detector, (double)U->iou);
    cnnvis_dissection_free(&dis);
}

static void test_planted_units(void)
{
    cnnvis_concepts_desc cd;
    cnnvis_dataset ds;
    cnnvis_net *net;
    memset(&cd, 0, sizeof cd);
    cd.n = 400, cd.size = 32, cd.seed = 2024;
    REQUIRE(cnnvis_concepts_generate(&ds, &cd) == CNNVIS_OK, "%s", cnnvis_last_error());
    net = colour_net();
    REQUIRE(net, "net");
    check_planted(net, "colour", 0, &ds, CNNVIS_CAT_COLOUR, COLOUR_RED, 0.5f);
    check_planted(net, "colour", 1, &ds, CNNVIS_CAT_COLOUR, COLOUR_GREEN, 0.5f);
    check_planted(net, "colour", 2, &ds, CNNVIS_CAT_COLOUR, COLOUR_BLUE, 0.5f);
    check_planted(net, "colour", 0, &ds, CNNVIS_CAT_COLOUR, COLOUR_RED, 0);
    cnnvis_net_free(net);
    /* Measured on this data set: 0.47 (hstripes) and 0.42 (vstripes) at their shares, 0.40
       at quantile 0.04, 0.05 at 0.005. The 7x7 window that makes the response steady also
       spills 3 pixels past a striped region and fades inside its border, and stripe regions
       are small (an object of radius 9 to 13 pixels, or the background around one). */
    net = texture_net();
    REQUIRE(net, "net");
    check_planted(net, "stripes", 0, &ds, CNNVIS_CAT_TEXTURE, TEXTURE_HSTRIPES, 0.3f);
    check_planted(net, "stripes", 1, &ds, CNNVIS_CAT_TEXTURE, TEXTURE_VSTRIPES, 0.3f);
    check_planted(net, "stripes", 0, &ds, CNNVIS_CAT_TEXTURE, TEXTURE_HSTRIPES, 0);
    cnnvis_net_free(net);
    cnnvis_dataset_free(&ds);
}

/* --- Bad arguments ---------------------------------------------------------------------------- */

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

/* In a child process: a call that may corrupt memory or trip the sanitizers must not take
   the other checks with it. The call must not need the thread pool: the child has only the
   thread that forked. The child exits 0 if the call returned CNNVIS_ERR_ARG with a
   message naming the argument, 3 if it returned something else; any other end is a crash
   (or a sanitizer stopping it). */
typedef cnnvis_result (*risky_fn)(void *);
static void expect_arg_error_isolated(risky_fn fn, void *arg, const char *call, const char *name)
{
    pid_t pid;
    int status = 0;
    fflush(stdout);
    pid = fork();
    if (pid < 0) {
        printf("  fork failed: %s not checked\n", call);
        return;
    }
    if (pid == 0) {
        cnnvis_result r = fn(arg);
        if (r != CNNVIS_ERR_ARG || !names_argument(cnnvis_last_error(), name)) {
            printf("  FAIL %s: returned %s (\"%s\"), expected CNNVIS_ERR_ARG naming %s\n", call, cnnvis_result_str(r),
                   cnnvis_last_error(), name);
            fflush(stdout);
            _exit(3);
        }
        _exit(0);
    }
    if (waitpid(pid, &status, 0) != pid) status = -1;
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s: %s", call,
          WIFEXITED(status) && WEXITSTATUS(status) == 3 ? "did not refuse it (see above)"
                                                         : "crashed or was stopped by a sanitizer (see above)");
}

typedef struct dissect_call {
    cnnvis_net *net;
    const cnnvis_dataset *ds;
} dissect_call;

static cnnvis_result dissect_once(void *p)
{
    dissect_call *a = (dissect_call *)p;
    static const char *const layers[] = {"conv1"};
    cnnvis_dissection dis[1];
    cnnvis_result r = cnnvis_dissect(dis, a->net, layers, 1, a->ds, NULL);
    if (r == CNNVIS_OK) cnnvis_dissection_free(&dis[0]);
    return r;
}

typedef struct plot_call {
    const cnnvis_dissection *dis;
    const cnnvis_dataset *ds;
} plot_call;

static cnnvis_result plot_once(void *p)
{
    plot_call *a = (plot_call *)p;
    cnnvis_image im;
    cnnvis_result r = cnnvis_dissection_plot(&im, a->dis, 1, a->ds);
    if (r == CNNVIS_OK) cnnvis_image_free(&im);
    return r;
}

static void test_bad_arguments(void)
{
    static const char *const conv1[] = {"conv1"}, *const nope[] = {"conv9"}, *const two[] = {"conv1", "conv9"};
    cnnvis_net_desc d;
    cnnvis_net *net;
    cnnvis_concepts_desc cd;
    cnnvis_dataset ds, big, grey, empty, unlabelled, many, none;
    cnnvis_topk t;
    cnnvis_topk_desc td;
    cnnvis_dissection dis[2];
    cnnvis_dissect_desc dd;
    cnnvis_maps_desc md;
    cnnvis_image im;
    cnnvis_tensor x;
    dissect_call dc;
    cnnvis_net_desc_init(&d, 3, 16, 16);
    cnnvis_net_desc_conv(&d, "conv1", 4, 3, 1, 1, 1);
    cnnvis_net_desc_relu(&d, "relu1");
    cnnvis_net_desc_fc(&d, "fc1", 3);
    net = create_net(&d, 8, 2);
    REQUIRE(net, "net");
    memset(&cd, 0, sizeof cd);
    cd.n = 4, cd.size = 16, cd.seed = 1;
    REQUIRE(cnnvis_concepts_generate(&ds, &cd) == CNNVIS_OK, "%s", cnnvis_last_error());
    cd.size = 20;
    REQUIRE(cnnvis_concepts_generate(&big, &cd) == CNNVIS_OK, "%s", cnnvis_last_error());
    REQUIRE(dataset_alloc(&grey, 4, 1, 16, 16, 0), "out of memory");
    REQUIRE(dataset_alloc(&unlabelled, 4, 3, 16, 16, 0), "out of memory");
    empty = ds, empty.n = 0, empty.owner = 0;

    /* top-k */
    memset(&td, 0, sizeof td);
    expect_arg_error(cnnvis_topk_compute(&t, net, "conv9", &ds, NULL), "topk_compute(layer \"conv9\")", "conv9");
    CHECK(t.hits == NULL && t.count == NULL, "a failed topk_compute left pointers");
    expect_arg_error(cnnvis_topk_compute(&t, net, NULL, &ds, NULL), "topk_compute(layer NULL)", "name");
    expect_arg_error(cnnvis_topk_compute(NULL, net, "conv1", &ds, NULL), "topk_compute(t NULL)", "t");
    expect_arg_error(cnnvis_topk_compute(&t, NULL, "conv1", &ds, NULL), "topk_compute(net NULL)", "net");
    expect_arg_error(cnnvis_topk_compute(&t, net, "conv1", NULL, NULL), "topk_compute(ds NULL)", "ds|data set");
    expect_arg_error(cnnvis_topk_compute(&t, net, "conv1", &big, NULL), "topk_compute(20x20 images)", "ds|data set");
    expect_arg_error(cnnvis_topk_compute(&t, net, "conv1", &grey, NULL), "topk_compute(grey images)", "ds|data set");
    expect_arg_error(cnnvis_topk_compute(&t, net, "conv1", &empty, NULL), "topk_compute(no images)", "images");
    td.k = -1;
    expect_arg_error(cnnvis_topk_compute(&t, net, "conv1", &ds, &td), "topk_compute(k -1)", "k");
    td.k = 1025;
    expect_arg_error(cnnvis_topk_compute(&t, net, "conv1", &ds, &td), "topk_compute(k 1025)", "k");
    td.k = 3, td.max_units = -1;
    expect_arg_error(cnnvis_topk_compute(&t, net, "conv1", &ds, &td), "topk_compute(max_units -1)", "max_units");
    td.max_units = 0, td.batch = 9;
    expect_arg_error(cnnvis_topk_compute(&t, net, "conv1", &ds, &td), "topk_compute(batch 9 > max_batch 8)", "batch");
    td.batch = -1;
    expect_arg_error(cnnvis_topk_compute(&t, net, "conv1", &ds, &td), "topk_compute(batch -1)", "batch");
    td.batch = 0;
    REQUIRE(cnnvis_topk_compute(&t, net, "conv1", &ds, &td) == CNNVIS_OK, "%s", cnnvis_last_error());
    expect_arg_error(cnnvis__topk_patch(&im, &t, &ds, 4, 0), "topk_patch(unit 4 of 4)", "unit");
    CHECK(im.px == NULL, "a failed topk_patch left an image");
    expect_arg_error(cnnvis__topk_patch(&im, &t, &ds, -1, 0), "topk_patch(unit -1)", "unit");
    expect_arg_error(cnnvis__topk_patch(&im, &t, &ds, 0, 3), "topk_patch(rank 3 of 3)", "rank");
    expect_arg_error(cnnvis__topk_patch(&im, &t, &ds, 0, -1), "topk_patch(rank -1)", "rank");
    expect_arg_error(cnnvis__topk_patch(NULL, &t, &ds, 0, 0), "topk_patch(patch NULL)", "patch");
    expect_arg_error(cnnvis__topk_patch(&im, NULL, &ds, 0, 0), "topk_patch(t NULL)", "t|top-k");
    expect_arg_error(cnnvis__topk_patch(&im, &t, NULL, 0, 0), "topk_patch(ds NULL)", "ds|data set");
    expect_arg_error(cnnvis__topk_patch(&im, &t, &big, 0, 0), "topk_patch(another data set)", "ds|data set");
    expect_arg_error(cnnvis_topk_image(NULL, &t, &ds, 0, 1), "topk_image(out NULL)", "out");
    expect_arg_error(cnnvis_topk_image(&im, NULL, &ds, 0, 1), "topk_image(t NULL)", "t|top-k");
    expect_arg_error(cnnvis_topk_image(&im, &t, &ds, -1, 1), "topk_image(max_units -1)", "max_units");
    expect_arg_error(cnnvis_topk_image(&im, &t, NULL, 0, 1), "topk_image(ds NULL)", "ds|data set");
    cnnvis_topk_free(&t);

    /* forward_until and feature maps (the last forward pass holds 4 images) */
    REQUIRE(cnnvis_tensor_create(&x, 4, 3, 16, 16) == CNNVIS_OK, "tensor");
    expect_arg_error(cnnvis__net_forward_until(net, &x, 3), "forward_until(layer 3 of 3)", "layer");
    expect_arg_error(cnnvis__net_forward_until(net, NULL, 1), "forward_until(x NULL)", "input");
    x.w = 15;
    expect_arg_error(cnnvis__net_forward_until(net, &x, 1), "forward_until(15 columns)", "input");
    x.w = 16, x.c = 1;
    expect_arg_error(cnnvis__net_forward_until(net, &x, 1), "forward_until(1 channel)", "input");
    x.c = 3;
    REQUIRE(cnnvis__net_forward_until(net, &x, 1) == CNNVIS_OK, "%s", cnnvis_last_error());
    memset(&md, 0, sizeof md);
    expect_arg_error(cnnvis_feature_maps_image(&im, net, "conv1", 4, NULL), "feature_maps_image(image 4 of 4)", "image");
    CHECK(im.px == NULL, "a failed feature_maps_image left an image");
    expect_arg_error(cnnvis_feature_maps_image(&im, net, "conv1", -1, NULL), "feature_maps_image(image -1)", "image");
    expect_arg_error(cnnvis_feature_maps_image(&im, net, "conv9", 0, NULL), "feature_maps_image(layer \"conv9\")", "conv9");
    expect_arg_error(cnnvis_feature_maps_image(NULL, net, "conv1", 0, NULL), "feature_maps_image(out NULL)", "out");
    expect_arg_error(cnnvis_feature_maps_image(&im, NULL, "conv1", 0, NULL), "feature_maps_image(net NULL)", "net");
    md.zoom = 65;
    expect_arg_error(cnnvis_feature_maps_image(&im, net, "conv1", 0, &md), "feature_maps_image(zoom 65)", "zoom");
    md.zoom = 0, md.max_maps = -1;
    expect_arg_error(cnnvis_feature_maps_image(&im, net, "conv1", 0, &md), "feature_maps_image(max_maps -1)", "max_maps");
    cnnvis_tensor_free(&x);

    /* dissection */
    memset(&dd, 0, sizeof dd);
    expect_arg_error(cnnvis_dissect(dis, net, nope, 1, &ds, NULL), "dissect(layer \"conv9\")", "conv9");
    expect_arg_error(cnnvis_dissect(dis, net, two, 2, &ds, NULL), "dissect(layers conv1, conv9)", "conv9");
    CHECK(dis[0].units == NULL && dis[1].units == NULL, "a failed dissect left units");
    expect_arg_error(cnnvis_dissect(dis, net, conv1, 0, &ds, NULL), "dissect(0 layers)", "layers");
    expect_arg_error(cnnvis_dissect(NULL, net, conv1, 1, &ds, NULL), "dissect(out NULL)", "out|output");
    expect_arg_error(cnnvis_dissect(dis, net, NULL, 1, &ds, NULL), "dissect(layers NULL)", "layers");
    expect_arg_error(cnnvis_dissect(dis, NULL, conv1, 1, &ds, NULL), "dissect(net NULL)", "net");
    expect_arg_error(cnnvis_dissect(dis, net, conv1, 1, NULL, NULL), "dissect(ds NULL)", "ds|data set");
    expect_arg_error(cnnvis_dissect(dis, net, conv1, 1, &big, NULL), "dissect(20x20 images)", "ds|data set");
    expect_arg_error(cnnvis_dissect(dis, net, conv1, 1, &empty, NULL), "dissect(no images)", "images");
    expect_arg_error(cnnvis_dissect(dis, net, conv1, 1, &unlabelled, NULL), "dissect(no concept labels)", "labels");
    dd.quantile = 1.0f;
    expect_arg_error(cnnvis_dissect(dis, net, conv1, 1, &ds, &dd), "dissect(quantile 1)", "quantile");
    dd.quantile = -0.1f;
    expect_arg_error(cnnvis_dissect(dis, net, conv1, 1, &ds, &dd), "dissect(quantile -0.1)", "quantile");
    dd.quantile = (float)NAN;
    expect_arg_error(cnnvis_dissect(dis, net, conv1, 1, &ds, &dd), "dissect(quantile NaN)", "quantile");
    dd.quantile = 0, dd.iou_threshold = 1.5f;
    expect_arg_error(cnnvis_dissect(dis, net, conv1, 1, &ds, &dd), "dissect(IoU threshold 1.5)", "IoU");
    dd.iou_threshold = 0, dd.batch = 9;
    expect_arg_error(cnnvis_dissect(dis, net, conv1, 1, &ds, &dd), "dissect(batch 9 > max_batch 8)", "batch");
    /* a category without concepts: nothing to measure, an argument error, not out of memory */
    none = ds, none.owner = 0, none.n_categories = 1, none.n_concepts[0] = 0;
    expect_arg_error(cnnvis_dissect(dis, net, conv1, 1, &none, NULL), "dissect(a category with 0 concepts)", "concepts");
    /* more categories than CNNVIS_MAX_CATEGORIES: the arrays indexed by category hold 8 */
    REQUIRE(dataset_alloc(&many, 4, 3, 16, 16, CNNVIS_MAX_CATEGORIES + 1), "out of memory");
    many.n_concepts[0] = 2;
    d.n_threads = 1;
    REQUIRE(cnnvis_net_create(&dc.net, &d) == CNNVIS_OK, "%s", cnnvis_last_error());
    dc.ds = &many;
    expect_arg_error_isolated(dissect_once, &dc, "dissect(9 categories)", "categories|n_categories");
    cnnvis_net_free(dc.net);

    REQUIRE(cnnvis_dissect(dis, net, conv1, 1, &ds, NULL) == CNNVIS_OK, "%s", cnnvis_last_error());
    expect_arg_error(cnnvis_dissection_unit_image(&im, net, dis, &ds, 4), "dissection_unit_image(unit 4 of 4)", "unit");
    CHECK(im.px == NULL, "a failed dissection_unit_image left an image");
    expect_arg_error(cnnvis_dissection_unit_image(&im, net, dis, &ds, -1), "dissection_unit_image(unit -1)", "unit");
    expect_arg_error(cnnvis_dissection_unit_image(NULL, net, dis, &ds, 0), "dissection_unit_image(out NULL)", "out");
    expect_arg_error(cnnvis_dissection_unit_image(&im, NULL, dis, &ds, 0), "dissection_unit_image(net NULL)", "net");
    expect_arg_error(cnnvis_dissection_unit_image(&im, net, NULL, &ds, 0), "dissection_unit_image(dis NULL)", "dis|dissection");
    expect_arg_error(cnnvis_dissection_unit_image(&im, net, dis, NULL, 0), "dissection_unit_image(ds NULL)", "ds|data set");
    expect_arg_error(cnnvis_dissection_unit_image(&im, net, dis, &big, 0), "dissection_unit_image(20x20 images)", "ds|data set");
    expect_arg_error(cnnvis_dissection_plot(NULL, dis, 1, &ds), "dissection_plot(out NULL)", "out");
    expect_arg_error(cnnvis_dissection_plot(&im, NULL, 1, &ds), "dissection_plot(dis NULL)", "dis|dissection");
    expect_arg_error(cnnvis_dissection_plot(&im, dis, 1, NULL), "dissection_plot(ds NULL)", "ds|data set");
    expect_arg_error(cnnvis_dissection_plot(&im, dis, 0, &ds), "dissection_plot(0 layers)", "layers");
    expect_arg_error(cnnvis_dissection_write_tsv("never-written.tsv", NULL, 1, &ds), "dissection_write_tsv(dis NULL)", "dis|dissection");
    expect_arg_error(cnnvis_dissection_write_tsv("never-written.tsv", dis, 1, NULL), "dissection_write_tsv(ds NULL)", "ds|data set");
    expect_arg_error(cnnvis_dissection_write_tsv(NULL, dis, 1, &ds), "dissection_write_tsv(path NULL)", "path");
    expect_arg_error(cnnvis_dissection_write_tsv("never-written.tsv", dis, 0, &ds), "dissection_write_tsv(0 layers)",
                     "n_layers");
    {
        plot_call pc;
        pc.dis = dis, pc.ds = &many;
        expect_arg_error_isolated(plot_once, &pc, "dissection_plot(9 categories)", "categories|n_categories");
    }
    cnnvis_dissection_free(&dis[0]);

    dataset_release(&many), dataset_release(&grey), dataset_release(&unlabelled);
    cnnvis_dataset_free(&big), cnnvis_dataset_free(&ds);
    cnnvis_net_free(net);
}

/* --- The pictures and the table -------------------------------------------------------------- */

/* Feature maps: a 1x1 conv gives channel 0 = pixel/255 and channel 1 = 1 - pixel/255 on an
   image that holds 0 and 255, so under each channel's own min-max the maps are the image and
   its negative, to the grey level; zoomed 3 times, each must appear in the montage. With
   max_maps 1 only the first may. */
static void test_feature_maps_image(void)
{
    const int H = 6, W = 5;
    cnnvis_net_desc d;
    cnnvis_net *net;
    cnnvis_dataset ds;
    cnnvis_rng rng;
    cnnvis_maps_desc md;
    cnnvis_image out, small[2], tile[2];
    cnnvis_tensor x;
    int c, q, shared;
    cnnvis_net_desc_init(&d, 1, H, W);
    cnnvis_net_desc_conv(&d, "id", 2, 1, 1, 0, 1);
    net = create_net(&d, 4, 1);
    REQUIRE(net, "net");
    net->layers[0].w[0] = 1, net->layers[0].w[1] = -1, net->layers[0].b[0] = 0, net->layers[0].b[1] = 1;
    REQUIRE(dataset_alloc(&ds, 2, 1, H, W, 0), "out of memory");
    cnnvis__rng_seed(&rng, 9);
    fill_pixels(ds.px, (size_t)2 * H * W, &rng, 0);
    ds.px[H * W + 3] = 0, ds.px[H * W + 17] = 255; /* image 1 spans the whole range */
    x = net->input, x.n = 2;
    REQUIRE(cnnvis__dataset_batch(&ds, 0, 2, net, &x, NULL) == CNNVIS_OK, "%s", cnnvis_last_error());
    REQUIRE(cnnvis_net_forward(net, &x) == CNNVIS_OK, "%s", cnnvis_last_error());
    for (c = 0; c < 2; c++) {
        REQUIRE(cnnvis_image_create(&small[c], W, H, 1) == CNNVIS_OK, "image");
        for (q = 0; q < H * W; q++) small[c].px[q] = (unsigned char)(c ? 255 - ds.px[H * W + q] : ds.px[H * W + q]);
        REQUIRE(zoom_image(&tile[c], &small[c], 3), "zoom");
    }
    for (shared = 0; shared < 2; shared++) {
        memset(&md, 0, sizeof md);
        md.zoom = 3, md.shared = shared;
        REQUIRE(cnnvis_feature_maps_image(&out, net, "id", 1, &md) == CNNVIS_OK, "%s", cnnvis_last_error());
        CHECK(out.c == 3 && out.w >= 2 * W * 3 && out.h >= H * 3, "montage %dx%dx%d", out.w, out.h, out.c);
        CHECK(contains_tile(&out, &tile[0]), "shared %d: channel 0 (the image) is not in the montage", shared);
        CHECK(contains_tile(&out, &tile[1]), "shared %d: channel 1 (its negative) is not in the montage", shared);
        cnnvis_image_free(&out);
    }
    memset(&md, 0, sizeof md);
    md.zoom = 3, md.max_maps = 1;
    REQUIRE(cnnvis_feature_maps_image(&out, net, "id", 1, &md) == CNNVIS_OK, "%s", cnnvis_last_error());
    CHECK(contains_tile(&out, &tile[0]) && !contains_tile(&out, &tile[1]), "max_maps 1: channel 0 %s, channel 1 %s",
          contains_tile(&out, &tile[0]) ? "shown" : "missing", contains_tile(&out, &tile[1]) ? "shown" : "absent");
    cnnvis_image_free(&out);
    /* image 0 of the pass is another picture */
    REQUIRE(cnnvis_feature_maps_image(&out, net, "id", 0, &md) == CNNVIS_OK, "%s", cnnvis_last_error());
    CHECK(!contains_tile(&out, &tile[0]), "image 0's montage shows image 1's map");
    cnnvis_image_free(&out);
    for (c = 0; c < 2; c++) cnnvis_image_free(&small[c]), cnnvis_image_free(&tile[c]);
    dataset_release(&ds);
    cnnvis_net_free(net);
}

/* The top-k montage: with patches, each shown unit's best patch, magnified as the image
   promises (24 / rf_size times, at least 1), is in it and the patches of units past
   max_units are not; without patches, each shown unit's best whole image is in it, and an
   image no shown unit ranks is not. */
static void test_topk_image(void)
{
    const int N = 12, H = 12, W = 12;
    cnnvis_net_desc d;
    cnnvis_net *net;
    cnnvis_dataset ds;
    cnnvis_rng rng;
    cnnvis_topk t;
    cnnvis_topk_desc td;
    int patches, u;
    cnnvis_net_desc_init(&d, 3, H, W);
    cnnvis_net_desc_conv(&d, "conv1", 4, 3, 1, 1, 1);
    net = create_net(&d, 8, 2);
    REQUIRE(net, "net");
    REQUIRE(dataset_alloc(&ds, N, 3, H, W, 0), "out of memory");
    cnnvis__rng_seed(&rng, 10);
    fill_pixels(ds.px, (size_t)N * 3 * H * W, &rng, 0);
    memset(&td, 0, sizeof td);
    td.k = 4;
    REQUIRE(cnnvis_topk_compute(&t, net, "conv1", &ds, &td) == CNNVIS_OK, "%s", cnnvis_last_error());
    for (patches = 0; patches < 2; patches++) {
        cnnvis_image out;
        int zoom = patches ? 24 / t.rf_size : 24 / H;
        if (zoom < 1) zoom = 1;
        REQUIRE(cnnvis_topk_image(&out, &t, &ds, 3, patches) == CNNVIS_OK, "%s", cnnvis_last_error());
        CHECK(out.w > 0 && out.h > 0 && out.c == 3 && out.px, "top-k image %dx%dx%d", out.w, out.h, out.c);
        for (u = 0; u < t.n_units; u++) {
            cnnvis_image raw, tile;
            int shown;
            if (patches) REQUIRE(cnnvis__topk_patch(&raw, &t, &ds, u, 0) == CNNVIS_OK, "%s", cnnvis_last_error());
            else REQUIRE(cnnvis__dataset_image(&raw, &ds, t.hits[(size_t)u * t.k].image) == CNNVIS_OK, "%s", cnnvis_last_error());
            REQUIRE(zoom_image(&tile, &raw, zoom), "zoom");
            shown = contains_tile(&out, &tile);
            if (u < 3 || patches) {
                CHECK(shown == (u < 3), "%s of unit %d %s (max_units 3)", patches ? "best patch" : "best image", u,
                      shown ? "shown" : "missing");
            } else {
                int image = t.hits[(size_t)u * t.k].image, ranked = 0, v, r;
                for (v = 0; v < 3; v++)
                    for (r = 0; r < t.count[v]; r++) ranked += t.hits[(size_t)v * t.k + r].image == image;
                CHECK(ranked || !shown, "image %d, which no shown unit ranks, is shown", image);
            }
            cnnvis_image_free(&raw), cnnvis_image_free(&tile);
        }
        cnnvis_image_free(&out);
    }
    cnnvis_topk_free(&t);
    dataset_release(&ds);
    cnnvis_net_free(net);
}

static char tmp_dir[64];

static int make_tmp_dir(void)
{
    mkdir("build", 0777); /* may exist */
    strcpy(tmp_dir, "build/tmp-activations-XXXXXX");
    if (mkdtemp(tmp_dir)) return 1;
    strcpy(tmp_dir, "tmp-activations-XXXXXX");
    return mkdtemp(tmp_dir) != NULL;
}

/* The dissection's outputs on the planted colour net: the unit picture holds each of the
   unit's top images magnified with the region above T_k outlined in yellow (computed here:
   the map upsampled to the magnified size, "> T", pixels inside with a 4-neighbour outside);
   the bar chart is a picture with several colours; the TSV has a header and one row per
   unit of every layer, each row matching the dissection. */
static void test_dissection_outputs(void)
{
    static const unsigned char yellow[3] = {255, 230, 0};
    static const char *const layers[] = {"colour", "relu"};
    cnnvis_concepts_desc cd;
    cnnvis_dataset ds;
    cnnvis_net_desc d;
    cnnvis_net *net;
    cnnvis_dissection dis[2];
    cnnvis_dissect_desc dd;
    cnnvis_image out;
    int u, i, zoom, S = 32;
    memset(&cd, 0, sizeof cd);
    cd.n = 60, cd.size = S, cd.seed = 99;
    REQUIRE(cnnvis_concepts_generate(&ds, &cd) == CNNVIS_OK, "%s", cnnvis_last_error());
    {
        cnnvis_net *colour = colour_net();
        REQUIRE(colour, "net");
        cnnvis_net_desc_init(&d, 3, S, S);
        cnnvis_net_desc_conv(&d, "colour", 3, 3, 1, 1, 1);
        cnnvis_net_desc_relu(&d, "relu");
        net = create_net(&d, 16, 2);
        REQUIRE(net, "net");
        memcpy(net->layers[0].w, colour->layers[0].w, sizeof(float) * colour->layers[0].n_w);
        memset(net->layers[0].b, 0, sizeof(float) * net->layers[0].n_b);
        cnnvis_net_free(colour);
    }
    memset(&dd, 0, sizeof dd);
    dd.quantile = 0.05f;
    REQUIRE(cnnvis_dissect(dis, net, layers, 2, &ds, &dd) == CNNVIS_OK, "%s", cnnvis_last_error());

    /* the unit picture of each colour unit */
    zoom = 96 / S;
    for (u = 0; u < 3; u++) {
        const cnnvis_dissect_unit *U = &dis[0].units[u];
        int found = 0, n_top = 0;
        REQUIRE(cnnvis_dissection_unit_image(&out, net, &dis[0], &ds, u) == CNNVIS_OK, "%s", cnnvis_last_error());
        CHECK(out.c == 3 && out.w > 0 && out.h > 0, "unit image %dx%dx%d", out.w, out.h, out.c);
        for (i = 0; i < 8 && U->top[i] >= 0; i++) {
            cnnvis_image raw, tile;
            cnnvis_tensor x = net->input;
            float *map = (float *)malloc(sizeof(float) * S * S), *up = (float *)malloc(sizeof(float) * S * S * zoom * zoom);
            unsigned char *mask = (unsigned char *)malloc((size_t)S * S * zoom * zoom);
            int Z = S * zoom, px, py, outlined = 0;
            REQUIRE(map && up && mask, "out of memory");
            n_top++;
            x.n = 1;
            REQUIRE(cnnvis__dataset_batch(&ds, U->top[i], 1, net, &x, NULL) == CNNVIS_OK, "%s", cnnvis_last_error());
            REQUIRE(cnnvis_net_forward(net, &x) == CNNVIS_OK, "%s", cnnvis_last_error());
            memcpy(map, net->layers[0].out.data + (size_t)u * S * S, sizeof(float) * S * S);
            upsample_bilinear(up, Z, Z, map, S, S);
            for (py = 0; py < Z * Z; py++) mask[py] = up[py] > U->threshold;
            REQUIRE(cnnvis__dataset_image(&raw, &ds, U->top[i]) == CNNVIS_OK, "%s", cnnvis_last_error());
            REQUIRE(zoom_image(&tile, &raw, zoom), "zoom");
            for (py = 0; py < Z; py++)
                for (px = 0; px < Z; px++) {
                    const unsigned char *m = mask + py * Z + px;
                    if (*m && (px == 0 || py == 0 || px == Z - 1 || py == Z - 1 || !m[-1] || !m[1] || !m[-Z] || !m[Z])) {
                        memcpy(tile.px + ((size_t)py * Z + px) * 3, yellow, 3);
                        outlined++;
                    }
                }
            found += contains_tile(&out, &tile);
            CHECK(outlined > 0, "unit %d: top image %d has no region above T_k", u, U->top[i]);
            cnnvis_image_free(&raw), cnnvis_image_free(&tile);
            free(map), free(up), free(mask);
        }
        CHECK(n_top == 8 && found == n_top, "unit %d: %d of its %d top images (of 8 expected) found with their outlines", u, found,
              n_top);
        cnnvis_image_free(&out);
    }

    /* the bar chart */
    REQUIRE(cnnvis_dissection_plot(&out, dis, 2, &ds) == CNNVIS_OK, "%s", cnnvis_last_error());
    {
        int colours = 0, q, j;
        unsigned char seen[16][3];
        for (q = 0; q < out.w * out.h && colours < 16; q++) {
            const unsigned char *p = out.px + (size_t)q * out.c;
            for (j = 0; j < colours && memcmp(seen[j], p, 3) != 0; j++) continue;
            if (j == colours) memcpy(seen[colours++], p, 3);
        }
        CHECK(out.c == 3 && out.w == 640 && out.h == 400, "plot %dx%dx%d, expected the default 640x400 RGB", out.w, out.h, out.c);
        CHECK(colours >= 4, "the plot has %d colours", colours);
    }
    cnnvis_image_free(&out);

    /* the table */
    if (!make_tmp_dir()) {
        printf("  no temporary directory: the TSV is not checked\n");
    } else {
        char path[128], header[128];
        unsigned char *text = NULL;
        size_t size = 0;
        int rows = 0, l, bad = 0;
        snprintf(path, sizeof path, "%s/dissection.tsv", tmp_dir);
        REQUIRE(cnnvis_dissection_write_tsv(path, dis, 2, &ds) == CNNVIS_OK, "%s", cnnvis_last_error());
        REQUIRE(cnnvis__file_read(path, 1 << 20, &text, &size) == CNNVIS_OK, "%s", cnnvis_last_error());
        {
            char *line = (char *)text, *next;
            char *buf = (char *)malloc(size + 1);
            REQUIRE(buf, "out of memory");
            memcpy(buf, text, size), buf[size] = 0;
            line = buf;
            next = strchr(line, '\n');
            REQUIRE(next, "no line in the TSV");
            *next = 0;
            snprintf(header, sizeof header, "%s", line);
            CHECK(strcmp(header, "layer\tunit\tconcept\tcategory\tiou\tthreshold\tdetector") == 0, "header \"%s\"", header);
            line = next + 1;
            for (l = 0; l < 2; l++)
                for (u = 0; u < dis[l].n_units; u++) {
                    const cnnvis_dissect_unit *U = &dis[l].units[u];
                    char layer[64], concept[64], category[64];
                    int unit, detector, fields;
                    double iou, threshold;
                    next = strchr(line, '\n');
                    if (!next) {
                        bad++;
                        break;
                    }
                    *next = 0;
                    fields = sscanf(line, "%63[^\t]\t%d\t%63[^\t]\t%63[^\t]\t%lf\t%lf\t%d", layer, &unit, concept, category, &iou,
                                    &threshold, &detector);
                    rows++;
                    if ((fields != 7 || strcmp(layer, dis[l].layer_name) != 0 || unit != u ||
                         strcmp(concept, cnnvis__dataset_concept_name(&ds, U->category, U->concept)) != 0 ||
                         strcmp(category, ds.category_names[U->category]) != 0 || fabs(iou - U->iou) > 5.1e-5 ||
                         fabs(threshold - U->threshold) > 1e-5 * fabs((double)U->threshold) + 1e-30 ||
                         detector != U->detector) &&
                        bad++ < 3)
                        printf("  TSV row \"%s\" does not match %s unit %d: %s (%s) IoU %g T %g detector %d\n", line,
                               dis[l].layer_name, u, cnnvis__dataset_concept_name(&ds, U->category, U->concept),
                               ds.category_names[U->category], (double)U->iou, (double)U->threshold, U->detector);
                    line = next + 1;
                }
            CHECK(bad == 0 && rows == dis[0].n_units + dis[1].n_units && *line == 0,
                  "%d rows for %d units, %d differ, %s after them", rows, dis[0].n_units + dis[1].n_units, bad,
                  *line ? "text" : "nothing");
            free(buf);
        }
        cnnvis__free(text);
        remove(path);
        rmdir(tmp_dir);
    }
    for (i = 0; i < 2; i++) cnnvis_dissection_free(&dis[i]);
    cnnvis_dataset_free(&ds);
    cnnvis_net_free(net);
}

int main(void)
{
    RUN(test_forward_until);
    RUN(test_topk_brute_force);
    RUN(test_receptive_field);
    RUN(test_receptive_field_gaps);
    RUN(test_flatten_patch);
    RUN(test_dissection_threshold);
    RUN(test_dissection_iou);
    RUN(test_planted_units);
    RUN(test_bad_arguments);
    RUN(test_feature_maps_image);
    RUN(test_topk_image);
    RUN(test_dissection_outputs);
    return SUMMARY();
}
