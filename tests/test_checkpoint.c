/* test_checkpoint.c - checkpoints: bit-exact round trips, loading weights into an existing
   net, atomic saving, and refusing every kind of corrupt file (with a message, *out NULL,
   and without crashing or overreading: run it under ASan). */
#define _POSIX_C_SOURCE 200809L /* mkdir, mkdtemp, rmdir */
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/types.h>

/* The library's allocator, instrumented: refuses anything above alloc_cap (so that a
   checkpoint which asks for gigabytes gets CNNVIS_ERR_NOMEM instead of the OS's OOM killer
   or ASan's allocation-size abort) and remembers the largest request. */
static size_t alloc_cap = (size_t)1 << 30, alloc_max_request;
static void *test_malloc(size_t n)
{
    if (n > alloc_max_request) alloc_max_request = n;
    return n > alloc_cap ? NULL : malloc(n);
}
#define CNNVIS_MALLOC(sz) test_malloc(sz)
#define CNNVIS_FREE(p) free(p)

#define CNNVIS_IMPLEMENTATION
#include "cnnvis.h"
#include "minitest.h"


#include <errno.h>
#include <unistd.h>

static int has(const char *haystack, const char *needle) { return strstr(haystack, needle) != NULL; }

/* --- A temporary directory ------------------------------------------------------------- */

static char tmp_dir[256];

static int make_tmp_dir(void)
{
    mkdir("build", 0777); /* may exist */
    strcpy(tmp_dir, "build/tmp-checkpoint-XXXXXX");
    if (mkdtemp(tmp_dir)) return 1;
    strcpy(tmp_dir, "/tmp/cnnvis-test-checkpoint-XXXXXX");
    return mkdtemp(tmp_dir) != NULL;
}

static const char *tmp_path(const char *name)
{
    static char paths[8][512];
    static int next;
    char *p = paths[next++ % 8];
    snprintf(p, 512, "%s/%s", tmp_dir, name);
    return p;
}

static int file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* --- Nets ------------------------------------------------------------------------------- */

static const char *const cifar_names[10] = {"airplane", "automobile", "bird", "cat", "deer",
                                            "dog",      "frog",       "horse", "ship", "truck"};

static void desc_mini(cnnvis_net_desc *d)
{
    cnnvis_net_desc_preset(d, "alexnet_mini", 3, 32, 32, 10);
    d->class_names = cifar_names;
    d->mean[0] = 0.4914f, d->mean[1] = 0.4822f, d->mean[2] = 0.4465f;
    d->std[0] = 0.2470f, d->std[1] = 0.2435f, d->std[2] = 0.2616f;
    d->max_batch = 4, d->n_threads = 1, d->seed = 11;
}

/* 63 characters: the longest class name a checkpoint holds */
#define NAME63 "a class name of sixty-three characters, the most there is room."
static const char *const small_names[5] = {"alpha", "", "na\xc3\xafve", NAME63, "epsilon"};

/* A small net with LRN, groups, dropout and flatten: 4x12x12 -> 5 classes. */
static void desc_small(cnnvis_net_desc *d)
{
    cnnvis_net_desc_init(d, 4, 12, 12);
    cnnvis_net_desc_conv(d, "conv1", 8, 3, 1, 1, 1);
    cnnvis_net_desc_relu(d, "relu1");
    cnnvis_net_desc_lrn(d, "norm1", 3, 1e-3f, 0.7f, 1.5f);
    cnnvis_net_desc_maxpool(d, "pool1", 3, 2, 1);
    cnnvis_net_desc_conv(d, "conv2", 8, 3, 1, 1, 2);
    cnnvis_net_desc_relu(d, "relu2");
    cnnvis_net_desc_lrn(d, NULL, 0, 0, 0, 0); /* defaults: lrn1 5 1e-4 0.75 2 */
    cnnvis_net_desc_dropout(d, "drop", 0.3f);
    cnnvis_net_desc_flatten(d, NULL);
    cnnvis_net_desc_fc(d, "fc", 5);
    d->class_names = small_names;
    d->mean[0] = 0.1f, d->mean[1] = 0.2f, d->mean[2] = 0.3f;
    d->std[0] = 0.5f, d->std[1] = 0.6f, d->std[2] = 0.7f;
    d->max_batch = 3, d->n_threads = 1, d->seed = 3;
}

static cnnvis_net *make(void (*desc)(cnnvis_net_desc *))
{
    cnnvis_net_desc d;
    cnnvis_net *net = NULL;
    desc(&d);
    if (cnnvis_net_create(&net, &d) != CNNVIS_OK) printf("  create: %s\n", cnnvis_last_error());
    return net;
}

/* Biases start at zero: give them values, so that the round trip shows them. */
static void randomise_biases(cnnvis_net *net, uint64_t seed)
{
    cnnvis_rng rng;
    int i;
    size_t j;
    cnnvis__rng_seed(&rng, seed);
    for (i = 0; i < net->n_layers; i++)
        for (j = 0; j < net->layers[i].n_b; j++) net->layers[i].b[j] = cnnvis__rng_normal(&rng) * 0.1f;
}

/* The runtime settings a loaded net should use: those of `like`. */
static cnnvis_net_desc runtime_of(const cnnvis_net *like)
{
    cnnvis_net_desc rt;
    memset(&rt, 0, sizeof rt);
    rt.max_batch = like->desc.max_batch, rt.n_threads = 1, rt.kernels = like->kernels, rt.seed = like->desc.seed;
    return rt;
}

/* Everything a checkpoint keeps, bit for bit. Returns the number of differences (printed). */
static int compare_nets(const cnnvis_net *a, const cnnvis_net *b)
{
    int i, diffs = 0;
#define DIFF(cond, ...)                      \
    do {                                     \
        if (cond) {                          \
            if (diffs < 10) {                \
                printf("    differ: ");      \
                printf(__VA_ARGS__);         \
                printf("\n");                \
            }                                \
            diffs++;                         \
        }                                    \
    } while (0)
    DIFF(a->desc.in_c != b->desc.in_c || a->desc.in_h != b->desc.in_h || a->desc.in_w != b->desc.in_w, "input shape");
    DIFF(a->n_layers != b->n_layers, "n_layers %d vs %d", a->n_layers, b->n_layers);
    DIFF(a->n_classes != b->n_classes, "n_classes %d vs %d", a->n_classes, b->n_classes);
    DIFF(memcmp(a->desc.mean, b->desc.mean, sizeof a->desc.mean) != 0, "mean");
    DIFF(memcmp(a->desc.std, b->desc.std, sizeof a->desc.std) != 0, "std");
    if (diffs) return diffs;
    for (i = 0; i < a->n_classes; i++)
        DIFF(strcmp(cnnvis_net_class_name(a, i), cnnvis_net_class_name(b, i)) != 0, "class %d: \"%s\" vs \"%s\"", i,
             cnnvis_net_class_name(a, i), cnnvis_net_class_name(b, i));
    for (i = 0; i < a->n_layers; i++) {
        const cnnvis_layer *la = &a->layers[i], *lb = &b->layers[i];
        const cnnvis_layer_desc *x = &la->desc, *y = &lb->desc;
        DIFF(x->kind != y->kind, "layer %d kind", i);
        DIFF(strcmp(x->name, y->name) != 0, "layer %d name \"%s\" vs \"%s\"", i, x->name, y->name);
        DIFF(x->out_channels != y->out_channels || x->kernel != y->kernel || x->stride != y->stride || x->pad != y->pad ||
                 x->groups != y->groups || x->size != y->size,
             "layer %d integer fields", i);
        DIFF(memcmp(&x->alpha, &y->alpha, 4) || memcmp(&x->beta, &y->beta, 4) || memcmp(&x->k, &y->k, 4) ||
                 memcmp(&x->p, &y->p, 4),
             "layer %d float fields", i);
        DIFF(la->out_c != lb->out_c || la->out_h != lb->out_h || la->out_w != lb->out_w, "layer %d output shape", i);
        DIFF(la->n_w != lb->n_w || la->n_b != lb->n_b, "layer %d counts", i);
        if (la->n_w == lb->n_w && la->n_w) DIFF(memcmp(la->w, lb->w, sizeof(float) * la->n_w) != 0, "layer %d (%s) weights", i, x->name);
        if (la->n_b == lb->n_b && la->n_b) DIFF(memcmp(la->b, lb->b, sizeof(float) * la->n_b) != 0, "layer %d (%s) biases", i, x->name);
    }
#undef DIFF
    return diffs;
}

static void random_input(cnnvis_tensor *x, uint64_t seed)
{
    cnnvis_rng rng;
    size_t i, n = cnnvis_tensor_count(x);
    cnnvis__rng_seed(&rng, seed);
    for (i = 0; i < n; i++) x->data[i] = cnnvis__rng_normal(&rng);
}

/* Every layer's output for the same input is bit-identical. */
static int same_forward(cnnvis_net *a, cnnvis_net *b)
{
    cnnvis_tensor x;
    int i, same = 1;
    if (cnnvis_tensor_create(&x, a->desc.max_batch, a->desc.in_c, a->desc.in_h, a->desc.in_w) != CNNVIS_OK) return 0;
    random_input(&x, 77);
    if (cnnvis_net_forward(a, &x) != CNNVIS_OK || cnnvis_net_forward(b, &x) != CNNVIS_OK) same = 0;
    for (i = 0; same && i < a->n_layers; i++)
        if (memcmp(a->layers[i].out.data, b->layers[i].out.data, sizeof(float) * cnnvis_tensor_count(&a->layers[i].out)) != 0) {
            printf("    layer %d (%s): outputs differ\n", i, a->layers[i].desc.name);
            same = 0;
        }
    cnnvis_tensor_free(&x);
    return same;
}

/* Save to a file and read its bytes back. */
static unsigned char *save_bytes(const cnnvis_net *net, const char *name, size_t *size)
{
    unsigned char *buf = NULL;
    *size = 0;
    if (cnnvis_net_save(tmp_path(name), net) != CNNVIS_OK) {
        printf("  save: %s\n", cnnvis_last_error());
        return NULL;
    }
    if (cnnvis__file_read(tmp_path(name), (size_t)1 << 30, &buf, size) != CNNVIS_OK) printf("  read: %s\n", cnnvis_last_error());
    return buf;
}

/* --- Little-endian fields of the format --------------------------------------------------- */

static uint32_t rd32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void wr32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v, p[1] = (unsigned char)(v >> 8), p[2] = (unsigned char)(v >> 16), p[3] = (unsigned char)(v >> 24);
}

static void fix_crc(unsigned char *buf, size_t size) { wr32(buf + size - 4, cnnvis__crc32(0, buf, size - 4)); }

#define HDR 56   /* magic, version, in_c, in_h, in_w, n_layers, n_classes, mean, std */
#define LAYER 84 /* kind, name[32], 6 ints, 4 floats, n_w, n_b */
enum { L_KIND = 0, L_NAME = 4, L_OUTC = 36, L_KERNEL = 40, L_STRIDE = 44, L_PAD = 48, L_GROUPS = 52, L_SIZE = 56,
       L_ALPHA = 60, L_BETA = 64, L_K = 68, L_P = 72, L_NW = 76, L_NB = 80 };

/* Offset of layer i's record (i == n_layers: where the class names start). */
static size_t layer_at(const unsigned char *buf, int i)
{
    size_t off = HDR;
    int j;
    for (j = 0; j < i; j++) off += LAYER + 4 * ((size_t)rd32(buf + off + L_NW) + rd32(buf + off + L_NB));
    return off;
}

static unsigned char *dup_bytes(const unsigned char *src, size_t size)
{
    unsigned char *p = (unsigned char *)malloc(size ? size : 1);
    if (size) memcpy(p, src, size);
    return p;
}

/* Load `size` bytes (copied to a block of exactly that size, so ASan sees any overread) and
   expect refusal with `code`, a message containing `word` (or `word2` if not NULL), *out NULL. */
static int refused(const unsigned char *data, size_t size, const cnnvis_net_desc *rt, cnnvis_result code, const char *word,
                   const char *word2, const char *what)
{
    unsigned char *copy = dup_bytes(data, size);
    cnnvis_net *out = (cnnvis_net *)copy; /* not NULL: must come back NULL */
    cnnvis_result r;
    int ok = 1;
    cnnvis_clear_error();
    r = cnnvis__net_load_memory(&out, copy, size, rt);
    if (r != code) {
        printf("  %s: got %s, expected %s (%s)\n", what, cnnvis_result_str(r), cnnvis_result_str(code), cnnvis_last_error());
        ok = 0;
    }
    if (out != NULL) {
        printf("  %s: *out is not NULL\n", what);
        if (r == CNNVIS_OK) cnnvis_net_free(out);
        ok = 0;
    }
    if (!has(cnnvis_last_error(), word) && !(word2 && has(cnnvis_last_error(), word2))) {
        printf("  %s: message \"%s\" lacks \"%s\"%s%s\n", what, cnnvis_last_error(), word, word2 ? " or " : "",
               word2 ? word2 : "");
        ok = 0;
    }
    free(copy);
    return ok;
}

/* --- Round trips ------------------------------------------------------------------------- */

static void round_trip(void (*desc)(cnnvis_net_desc *), const char *name)
{
    cnnvis_net *a = make(desc), *b = NULL, *c = NULL;
    cnnvis_net_desc rt;
    unsigned char *buf;
    size_t size;
    char tmp[600];
    REQUIRE(a, "create");
    randomise_biases(a, 5);
    rt = runtime_of(a);
    REQUIRE(cnnvis_net_save(tmp_path(name), a) == CNNVIS_OK, "save: %s", cnnvis_last_error());
    snprintf(tmp, sizeof tmp, "%s.tmp", tmp_path(name));
    CHECK(!file_exists(tmp), "%s remains after a successful save", tmp);

    /* from the file */
    CHECK(cnnvis_net_load(&b, tmp_path(name), &rt) == CNNVIS_OK, "load: %s", cnnvis_last_error());
    if (b) {
        CHECK(compare_nets(a, b) == 0, "%s: the loaded net differs", name);
        CHECK(b->kernels == a->kernels && b->desc.max_batch == a->desc.max_batch, "runtime settings not applied");
        CHECK(same_forward(a, b), "%s: forward outputs differ after load", name);
    }
    /* from memory, with default runtime settings */
    buf = save_bytes(a, name, &size);
    REQUIRE(buf, "bytes");
    CHECK(cnnvis__net_load_memory(&c, buf, size, NULL) == CNNVIS_OK, "load_memory: %s", cnnvis_last_error());
    if (c) {
        CHECK(compare_nets(a, c) == 0, "%s: the net loaded from memory differs", name);
        CHECK(c->desc.max_batch == 64, "runtime NULL: max_batch %d, expected the default 64", c->desc.max_batch);
        CHECK(c->training == 0 && c->batch == 0 && c->step == 0, "a loaded net starts fresh");
    }
    /* saving the loaded net gives the same bytes */
    if (b) {
        size_t size2;
        unsigned char *buf2 = save_bytes(b, "resaved", &size2);
        CHECK(buf2 && size2 == size && memcmp(buf, buf2, size) == 0, "%s: save(load(save(net))) differs from save(net)", name);
        cnnvis__free(buf2);
        remove(tmp_path("resaved"));
    }
    cnnvis__free(buf);
    cnnvis_net_free(a), cnnvis_net_free(b), cnnvis_net_free(c);
    remove(tmp_path(name));
}

static void test_round_trip_mini(void) { round_trip(desc_mini, "mini.cnnvis"); }
static void test_round_trip_small(void) { round_trip(desc_small, "small.cnnvis"); }

/* The bytes of each float are kept, whatever they are: -0, denormals, infinities, NaN payloads. */
/* Every finite float keeps its bits: -0, the smallest denormal, FLT_MAX, -FLT_MIN. An
   infinity or a NaN is refused by the save (CNNVIS_ERR_NUMERIC naming the layer, nothing
   written): a net that went bad must not replace a good checkpoint. */
static void test_round_trip_special_floats(void)
{
    cnnvis_net *a = make(desc_small), *b = NULL;
    cnnvis_net_desc rt;
    float nan_payload;
    uint32_t bits = 0x7fc12345u;
    REQUIRE(a, "create");
    memcpy(&nan_payload, &bits, 4);
    a->layers[0].w[0] = -0.0f;
    a->layers[0].w[1] = 1e-45f;
    a->layers[0].w[2] = FLT_MAX;
    a->layers[0].w[3] = -FLT_MAX;
    a->layers[0].b[7] = -FLT_MIN;
    a->layers[9].b[4] = 1e-40f;
    rt = runtime_of(a);
    REQUIRE(cnnvis_net_save(tmp_path("special.cnnvis"), a) == CNNVIS_OK, "save: %s", cnnvis_last_error());
    REQUIRE(cnnvis_net_load(&b, tmp_path("special.cnnvis"), &rt) == CNNVIS_OK, "load: %s", cnnvis_last_error());
    CHECK(compare_nets(a, b) == 0, "special floats changed");
    cnnvis_net_free(b), b = NULL;
    remove(tmp_path("special.cnnvis"));

    a->layers[0].w[3] = -INFINITY;
    cnnvis_clear_error();
    CHECK(cnnvis_net_save(tmp_path("special.cnnvis"), a) == CNNVIS_ERR_NUMERIC && has(cnnvis_last_error(), "conv1"),
          "-inf in conv1: %s", cnnvis_last_error());
    a->layers[0].w[3] = 0, a->layers[9].b[4] = nan_payload;
    cnnvis_clear_error();
    CHECK(cnnvis_net_save(tmp_path("special.cnnvis"), a) == CNNVIS_ERR_NUMERIC &&
              has(cnnvis_last_error(), a->layers[9].desc.name),
          "NaN in %s: %s", a->layers[9].desc.name, cnnvis_last_error());
    CHECK(!file_exists(tmp_path("special.cnnvis")) && !file_exists(tmp_path("special.cnnvis.tmp")), "a refused save wrote a file");
    cnnvis_net_free(a);
}

static void test_load_weights(void)
{
    cnnvis_net_desc d;
    cnnvis_net *a = make(desc_mini), *b = NULL, *other = NULL;
    float *before;
    int i;
    const char *path = tmp_path("weights.cnnvis");
    REQUIRE(a, "create");
    randomise_biases(a, 9);
    REQUIRE(cnnvis_net_save(path, a) == CNNVIS_OK, "save: %s", cnnvis_last_error());

    /* same architecture, other seed, other layer names, other mean: only the weights come */
    desc_mini(&d);
    d.seed = 999;
    for (i = 0; i < d.n_layers; i++) snprintf(d.layers[i].name, sizeof d.layers[i].name, "L%d", i);
    d.mean[0] = 0.75f;
    REQUIRE(cnnvis_net_create(&b, &d) == CNNVIS_OK, "create: %s", cnnvis_last_error());
    CHECK(memcmp(a->layers[0].w, b->layers[0].w, 4 * a->layers[0].n_w) != 0, "seeds 11 and 999 gave the same weights");
    CHECK(cnnvis_net_load_weights(b, path) == CNNVIS_OK, "load_weights: %s", cnnvis_last_error());
    for (i = 0; i < a->n_layers; i++) {
        const cnnvis_layer *la = &a->layers[i], *lb = &b->layers[i];
        if (la->n_w) CHECK(memcmp(la->w, lb->w, 4 * la->n_w) == 0, "layer %d weights not loaded", i);
        if (la->n_b) CHECK(memcmp(la->b, lb->b, 4 * la->n_b) == 0, "layer %d biases not loaded", i);
    }
    CHECK(strcmp(b->layers[0].desc.name, "L0") == 0, "load_weights renamed the layers");
    CHECK(b->desc.mean[0] == 0.75f, "load_weights changed the mean to %g", b->desc.mean[0]);

    /* a different architecture: refused, weights untouched */
    {
        struct {
            const char *what, *word;
            int in_c, n_classes, layer, out_channels;
        } cases[] = {{"1 input channel", "1x32x32", 1, 10, -1, 0},
                     {"7 classes", "7", 3, 7, -1, 0},
                     {"conv3 with 128 filters", "conv3", 3, 10, 6, 128},
                     {"fc6 with 200 outputs", "fc6", 3, 10, 14, 200}};
        size_t k;
        for (k = 0; k < sizeof cases / sizeof cases[0]; k++) {
            cnnvis_result r;
            size_t n_w;
            cnnvis_net_desc_preset(&d, "alexnet_mini", cases[k].in_c, 32, 32, cases[k].n_classes);
            d.max_batch = 2, d.n_threads = 1;
            if (cases[k].layer >= 0) d.layers[cases[k].layer].out_channels = cases[k].out_channels;
            REQUIRE(cnnvis_net_create(&other, &d) == CNNVIS_OK, "create: %s", cnnvis_last_error());
            n_w = other->layers[0].n_w;
            before = (float *)malloc(4 * n_w);
            memcpy(before, other->layers[0].w, 4 * n_w);
            cnnvis_clear_error();
            r = cnnvis_net_load_weights(other, path);
            CHECK(r == CNNVIS_ERR_FORMAT, "%s: got %s", cases[k].what, cnnvis_result_str(r));
            CHECK(has(cnnvis_last_error(), cases[k].word), "%s: message \"%s\" lacks \"%s\"", cases[k].what,
                  cnnvis_last_error(), cases[k].word);
            CHECK(memcmp(before, other->layers[0].w, 4 * n_w) == 0, "%s: a refused load changed the weights", cases[k].what);
            free(before);
            cnnvis_net_free(other), other = NULL;
        }
    }
    /* a small net's checkpoint into alexnet_mini */
    {
        cnnvis_net *s = make(desc_small);
        REQUIRE(s, "create");
        REQUIRE(cnnvis_net_save(tmp_path("s.cnnvis"), s) == CNNVIS_OK, "save");
        cnnvis_clear_error();
        CHECK(cnnvis_net_load_weights(b, tmp_path("s.cnnvis")) == CNNVIS_ERR_FORMAT && cnnvis_last_error()[0],
              "small into mini: %s", cnnvis_last_error());
        cnnvis_net_free(s);
        remove(tmp_path("s.cnnvis"));
    }
    cnnvis_clear_error();
    CHECK(cnnvis_net_load_weights(NULL, path) == CNNVIS_ERR_ARG && cnnvis_last_error()[0], "NULL net");
    cnnvis_clear_error();
    CHECK(cnnvis_net_load_weights(b, tmp_path("does-not-exist")) == CNNVIS_ERR_IO && has(cnnvis_last_error(), "does-not-exist"),
          "missing file: %s", cnnvis_last_error());
    cnnvis_net_free(a), cnnvis_net_free(b);
    remove(path);
}

/* --- Saving ------------------------------------------------------------------------------ */

static void test_save_atomic(void)
{
    cnnvis_net *net = make(desc_small);
    char path[600], tmp[700];
    cnnvis_result r;
    unsigned char *old = NULL, *now = NULL;
    size_t old_size = 0, now_size = 0;
    REQUIRE(net, "create");
    /* a directory that does not exist: IO, and nothing is left behind */
    snprintf(path, sizeof path, "%s", tmp_path("no-such-dir/net.cnnvis"));
    cnnvis_clear_error();
    r = cnnvis_net_save(path, net);
    CHECK(r == CNNVIS_ERR_IO, "save into a missing directory: %s", cnnvis_result_str(r));
    CHECK(cnnvis_last_error()[0] != 0, "no message");
    CHECK(!file_exists(path) && !file_exists(tmp_path("no-such-dir")), "something was created");

    /* an existing checkpoint survives a failed save: make path.tmp a directory */
    snprintf(path, sizeof path, "%s", tmp_path("keep.cnnvis"));
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    REQUIRE(cnnvis_net_save(path, net) == CNNVIS_OK, "save: %s", cnnvis_last_error());
    CHECK(!file_exists(tmp), "%s remains after a successful save", tmp);
    REQUIRE(cnnvis__file_read(path, 1 << 24, &old, &old_size) == CNNVIS_OK, "read");
    REQUIRE(mkdir(tmp, 0777) == 0, "mkdir %s", tmp);
    net->layers[0].w[0] += 1.0f;
    cnnvis_clear_error();
    r = cnnvis_net_save(path, net);
    CHECK(r == CNNVIS_ERR_IO, "save with %s blocked: %s", tmp, cnnvis_result_str(r));
    CHECK(cnnvis_last_error()[0] != 0, "no message");
    REQUIRE(cnnvis__file_read(path, 1 << 24, &now, &now_size) == CNNVIS_OK, "read");
    CHECK(now_size == old_size && memcmp(old, now, old_size) == 0, "a failed save changed the existing file");
    rmdir(tmp);
    cnnvis__free(now), now = NULL;
    /* and a successful save replaces it */
    REQUIRE(cnnvis_net_save(path, net) == CNNVIS_OK, "save: %s", cnnvis_last_error());
    CHECK(!file_exists(tmp), "%s remains", tmp);
    REQUIRE(cnnvis__file_read(path, 1 << 24, &now, &now_size) == CNNVIS_OK, "read");
    CHECK(now_size == old_size && memcmp(old, now, old_size) != 0, "the new save did not replace the file");

    /* saving over a directory: IO, the directory stays, no .tmp left */
    REQUIRE(mkdir(tmp_path("a-dir"), 0777) == 0, "mkdir");
    cnnvis_clear_error();
    r = cnnvis_net_save(tmp_path("a-dir"), net);
    CHECK(r == CNNVIS_ERR_IO && cnnvis_last_error()[0], "save over a directory: %s", cnnvis_result_str(r));
    snprintf(tmp, sizeof tmp, "%s.tmp", tmp_path("a-dir"));
    CHECK(!file_exists(tmp), "%s remains", tmp);
    rmdir(tmp_path("a-dir"));

    cnnvis_clear_error();
    CHECK(cnnvis_net_save(path, NULL) == CNNVIS_ERR_ARG && cnnvis_last_error()[0], "save NULL net");
    cnnvis_clear_error();
    CHECK(cnnvis_net_save(NULL, net) == CNNVIS_ERR_ARG && cnnvis_last_error()[0], "save to NULL");
    cnnvis__free(old), cnnvis__free(now);
    remove(path);
    cnnvis_net_free(net);
}

/* --- Refusing corrupt files ----------------------------------------------------------------- */

static void test_bad_paths(void)
{
    cnnvis_net *out = (cnnvis_net *)&out;
    cnnvis_result r;
    cnnvis_clear_error();
    r = cnnvis_net_load(&out, tmp_path("nonexistent.cnnvis"), NULL);
    CHECK(r == CNNVIS_ERR_IO, "nonexistent file: %s", cnnvis_result_str(r));
    CHECK(out == NULL, "*out not NULL");
    CHECK(has(cnnvis_last_error(), "nonexistent.cnnvis"), "message \"%s\" names the file", cnnvis_last_error());
    CHECK(has(cnnvis_last_error(), "cannot open"), "message \"%s\"", cnnvis_last_error());

    out = (cnnvis_net *)&out;
    cnnvis_clear_error();
    r = cnnvis_net_load(&out, tmp_dir, NULL);
    CHECK(r == CNNVIS_ERR_IO, "a directory: got %s, expected CNNVIS_ERR_IO (%s)", cnnvis_result_str(r), cnnvis_last_error());
    CHECK(out == NULL, "*out not NULL");
    CHECK(cnnvis_last_error()[0] != 0, "no message");

    out = (cnnvis_net *)&out;
    cnnvis_clear_error();
    r = cnnvis_net_load(&out, NULL, NULL);
    CHECK(r == CNNVIS_ERR_ARG && out == NULL && cnnvis_last_error()[0], "NULL path: %s", cnnvis_result_str(r));
    cnnvis_clear_error();
    CHECK(cnnvis_net_load(NULL, tmp_path("x"), NULL) != CNNVIS_OK && cnnvis_last_error()[0], "NULL out");
    cnnvis_clear_error();
    CHECK(cnnvis__net_load_memory(&out, NULL, 100, NULL) == CNNVIS_ERR_ARG && out == NULL, "NULL data");
    cnnvis_clear_error();
    CHECK(cnnvis__net_load_memory(NULL, "CNNVISck", 8, NULL) == CNNVIS_ERR_ARG, "NULL out");

    /* an empty file and a file that is not a checkpoint, through the file path */
    {
        FILE *f = fopen(tmp_path("empty"), "wb");
        if (f) fclose(f);
        out = (cnnvis_net *)&out;
        cnnvis_clear_error();
        r = cnnvis_net_load(&out, tmp_path("empty"), NULL);
        CHECK(r == CNNVIS_ERR_FORMAT && out == NULL, "empty file: %s (%s)", cnnvis_result_str(r), cnnvis_last_error());
        f = fopen(tmp_path("text"), "wb");
        if (f) fputs("P2\n# not a checkpoint at all, but long enough to have a header and a CRC....\n", f), fclose(f);
        out = (cnnvis_net *)&out;
        cnnvis_clear_error();
        r = cnnvis_net_load(&out, tmp_path("text"), NULL);
        CHECK(r == CNNVIS_ERR_FORMAT && out == NULL && has(cnnvis_last_error(), "magic"), "text file: %s (%s)",
              cnnvis_result_str(r), cnnvis_last_error());
        remove(tmp_path("empty")), remove(tmp_path("text"));
    }
}

static void test_corrupt_header(void)
{
    cnnvis_net *net = make(desc_small);
    cnnvis_net_desc rt;
    unsigned char *good, *buf;
    size_t size;
    REQUIRE(net, "create");
    rt = runtime_of(net);
    good = save_bytes(net, "hdr.cnnvis", &size);
    REQUIRE(good, "bytes");
    buf = (unsigned char *)malloc(size);
    CHECK(rd32(good + 8) == 1 && rd32(good + 24) == 10 && rd32(good + 28) == 5, "header fields where expected");

#define RESET() memcpy(buf, good, size)
    /* wrong magic */
    RESET(), buf[0] = 'X';
    CHECK(refused(buf, size, &rt, CNNVIS_ERR_FORMAT, "magic", NULL, "wrong magic"), "wrong magic");
    RESET(), buf[7] = 'K', fix_crc(buf, size);
    CHECK(refused(buf, size, &rt, CNNVIS_ERR_FORMAT, "magic", NULL, "wrong magic (CRC fixed)"), "wrong magic, CRC fixed");
    memset(buf, 0, size);
    CHECK(refused(buf, size, &rt, CNNVIS_ERR_FORMAT, "magic", NULL, "all zeros"), "all zeros");
    /* wrong version, CRC fixed so that only the version refuses */
    RESET(), wr32(buf + 8, 2), fix_crc(buf, size);
    CHECK(refused(buf, size, &rt, CNNVIS_ERR_FORMAT, "version", NULL, "version 2"), "version 2");
    RESET(), wr32(buf + 8, 0), fix_crc(buf, size);
    CHECK(refused(buf, size, &rt, CNNVIS_ERR_FORMAT, "version", NULL, "version 0"), "version 0");
    RESET(), wr32(buf + 8, 0x01000000u), fix_crc(buf, size); /* big-endian 1 */
    CHECK(refused(buf, size, &rt, CNNVIS_ERR_FORMAT, "version", NULL, "version big-endian"), "version big-endian");

    /* CRC mismatches: a weight byte, a class name byte, a mean, the stored CRC itself */
    RESET(), buf[layer_at(good, 0) + LAYER + 3] ^= 0x01;
    CHECK(refused(buf, size, &rt, CNNVIS_ERR_FORMAT, "CRC", NULL, "weight byte flipped"), "weight byte flipped");
    RESET(), buf[layer_at(good, 4) + LAYER + 4 * 17 + 2] ^= 0x80;
    CHECK(refused(buf, size, &rt, CNNVIS_ERR_FORMAT, "CRC", NULL, "conv2 weight flipped"), "conv2 weight flipped");
    RESET(), buf[size - 6] ^= 0x20; /* in the last class name */
    CHECK(refused(buf, size, &rt, CNNVIS_ERR_FORMAT, "CRC", NULL, "class name flipped"), "class name flipped");
    RESET(), buf[33] ^= 0x01; /* mean[0] */
    CHECK(refused(buf, size, &rt, CNNVIS_ERR_FORMAT, "CRC", NULL, "mean flipped"), "mean flipped");
    RESET(), buf[size - 1] ^= 0x01;
    CHECK(refused(buf, size, &rt, CNNVIS_ERR_FORMAT, "CRC", NULL, "stored CRC flipped"), "stored CRC flipped");

    /* absurd sizes, CRC fixed: only the size checks can refuse */
    {
        static const struct {
            size_t offset;
            uint32_t value;
            const char *word, *what;
        } cases[] = {{24, 65, "layers", "n_layers 65"},
                     {24, 1000000, "layers", "n_layers 10^6"},
                     {24, 0xffffffffu, "layers", "n_layers 2^32-1"},
                     {24, 0x80000000u, "layers", "n_layers 2^31"},
                     {24, 0, "layers", "n_layers 0"},
                     {28, 0xffffffffu, "classes", "n_classes 2^32-1"},
                     {28, 0x80000000u, "classes", "n_classes 2^31"},
                     {28, (1u << 24) + 1, "classes", "n_classes 2^24+1"},
                     {28, 0, "classes", "n_classes 0"},
                     {12, 65537, "input shape", "in_c 65537"},
                     {12, 0xffffffffu, "input shape", "in_c 2^32-1"},
                     {16, 0x10000000u, "input shape", "in_h 2^28"},
                     {16, 0x80000000u, "input shape", "in_h 2^31"},
                     {20, 65537, "input shape", "in_w 65537"},
                     {20, 0xffffffffu, "input shape", "in_w 2^32-1"}};
        size_t k;
        for (k = 0; k < sizeof cases / sizeof cases[0]; k++) {
            RESET(), wr32(buf + cases[k].offset, cases[k].value), fix_crc(buf, size);
            CHECK(refused(buf, size, &rt, CNNVIS_ERR_FORMAT, cases[k].word, NULL, cases[k].what), "%s", cases[k].what);
        }
    }
    /* n_classes 2^24 passes the size check but the names are not there */
    RESET(), wr32(buf + 28, 1u << 24), fix_crc(buf, size);
    CHECK(refused(buf, size, &rt, CNNVIS_ERR_FORMAT, "truncated", NULL, "n_classes 2^24"), "n_classes 2^24");
    /* zero input sizes: refused as an invalid architecture */
    RESET(), wr32(buf + 16, 0), fix_crc(buf, size);
    CHECK(refused(buf, size, &rt, CNNVIS_ERR_FORMAT, "input shape", NULL, "in_h 0"), "in_h 0");
    free(buf);
    cnnvis__free(good);
    cnnvis_net_free(net);
    remove(tmp_path("hdr.cnnvis"));
}

static void test_corrupt_layers(void)
{
    cnnvis_net *net = make(desc_small);
    cnnvis_net_desc rt;
    unsigned char *good, *buf;
    size_t size, conv1, conv2, norm1, fc, names;
    REQUIRE(net, "create");
    rt = runtime_of(net);
    good = save_bytes(net, "layers.cnnvis", &size);
    REQUIRE(good, "bytes");
    buf = (unsigned char *)malloc(size + 300);
    conv1 = layer_at(good, 0), norm1 = layer_at(good, 2), conv2 = layer_at(good, 4), fc = layer_at(good, 9);
    names = layer_at(good, 10);
    CHECK(strcmp((const char *)good + conv2 + L_NAME, "conv2") == 0 && rd32(good + conv2 + L_GROUPS) == 2, "conv2's record");
    CHECK(names + 1 + 5 + 1 + 0 + 1 + 6 + 1 + 63 + 1 + 7 + 4 == size, "class names where expected");

    /* huge weight and bias counts */
    {
        static const struct {
            int field;
            uint32_t value;
            const char *what;
        } cases[] = {{L_NW, 0xffffffffu, "conv1 n_weights 2^32-1"},
                     {L_NW, 0x40000000u, "conv1 n_weights 2^30"},
                     {L_NW, 0x80000000u, "conv1 n_weights 2^31"},
                     {L_NB, 0xffffffffu, "conv1 n_biases 2^32-1"},
                     {L_NB, 0x3fffffffu, "conv1 n_biases 2^30-1"}};
        size_t k;
        for (k = 0; k < sizeof cases / sizeof cases[0]; k++) {
            RESET(), wr32(buf + conv1 + cases[k].field, cases[k].value), fix_crc(buf, size);
            CHECK(refused(buf, size, &rt, CNNVIS_ERR_FORMAT, "weights", NULL, cases[k].what), "%s", cases[k].what);
        }
        RESET(), wr32(buf + fc + L_NW, 0xfffffff0u), fix_crc(buf, size);
        CHECK(refused(buf, size, &rt, CNNVIS_ERR_FORMAT, "weights", NULL, "fc n_weights"), "fc n_weights");
    }
    /* the weights do not fit the architecture: the counts in the file still add up, so only
       the comparison with the architecture can refuse */
    RESET(), wr32(buf + conv1 + L_KERNEL, 5), fix_crc(buf, size);
    CHECK(refused(buf, size, &rt, CNNVIS_ERR_FORMAT, "weights", NULL, "conv1 kernel 3 -> 5"), "conv1 kernel 5");
    RESET(), wr32(buf + conv2 + L_GROUPS, 1), fix_crc(buf, size);
    CHECK(refused(buf, size, &rt, CNNVIS_ERR_FORMAT, "conv2", NULL, "conv2 groups 2 -> 1"), "conv2 groups 1");
    RESET(), wr32(buf + conv2 + L_OUTC, 16), fix_crc(buf, size);
    CHECK(refused(buf, size, &rt, CNNVIS_ERR_FORMAT, "conv2", NULL, "conv2 16 filters"), "conv2 16 filters");
    RESET(), wr32(buf + conv1 + L_PAD, 0), fix_crc(buf, size); /* shapes change below; fc's count no longer fits */
    CHECK(refused(buf, size, &rt, CNNVIS_ERR_FORMAT, "fc", NULL, "conv1 pad 0"), "conv1 pad 0");
    RESET(), wr32(buf + conv1 + L_KIND, CNNVIS_LAYER_FC), fix_crc(buf, size);
    CHECK(refused(buf, size, &rt, CNNVIS_ERR_FORMAT, "conv1", NULL, "conv1 kind fc"), "conv1 kind fc");
    RESET(), wr32(buf + 12, 3), fix_crc(buf, size); /* 3 input channels */
    CHECK(refused(buf, size, &rt, CNNVIS_ERR_FORMAT, "weights", "input", "in_c 4 -> 3"), "in_c 3");
    RESET(), wr32(buf + 16, 13), fix_crc(buf, size); /* 13 rows: fc's count no longer fits */
    CHECK(refused(buf, size, &rt, CNNVIS_ERR_FORMAT, "fc", NULL, "in_h 12 -> 13"), "in_h 13");
    RESET(), wr32(buf + fc + L_OUTC, 6), fix_crc(buf, size);
    CHECK(refused(buf, size, &rt, CNNVIS_ERR_FORMAT, "classes", "weights", "fc 6 outputs"), "fc 6 outputs");
    /* an invalid architecture with consistent counts */
    RESET(), wr32(buf + conv1 + L_KERNEL, 0), fix_crc(buf, size);
    CHECK(refused(buf, size, &rt, CNNVIS_ERR_FORMAT, "conv1", NULL, "conv1 kernel 0"), "conv1 kernel 0");
    RESET(), wr32(buf + norm1 + L_K, 0xffc00000u), fix_crc(buf, size); /* k = NaN */
    CHECK(refused(buf, size, &rt, CNNVIS_ERR_FORMAT, "norm1", NULL, "LRN k NaN"), "LRN k NaN");
    RESET(), wr32(buf + conv1 + L_STRIDE, 0x80000000u), fix_crc(buf, size);
    CHECK(refused(buf, size, &rt, CNNVIS_ERR_FORMAT, "conv1", NULL, "conv1 stride -2^31"), "conv1 stride");
    RESET(), wr32(buf + conv2 + L_GROUPS, 0xffffffffu), fix_crc(buf, size);
    CHECK(refused(buf, size, &rt, CNNVIS_ERR_FORMAT, "conv2", NULL, "conv2 groups -1"), "conv2 groups -1");
    /* unknown kinds */
    RESET(), wr32(buf + norm1 + L_KIND, 0), fix_crc(buf, size);
    CHECK(refused(buf, size, &rt, CNNVIS_ERR_FORMAT, "kind", NULL, "kind 0"), "kind 0");
    RESET(), wr32(buf + norm1 + L_KIND, 99), fix_crc(buf, size);
    CHECK(refused(buf, size, &rt, CNNVIS_ERR_FORMAT, "kind", NULL, "kind 99"), "kind 99");
    RESET(), wr32(buf + norm1 + L_KIND, 0x80000002u), fix_crc(buf, size);
    CHECK(refused(buf, size, &rt, CNNVIS_ERR_FORMAT, "kind", NULL, "kind 2^31+2"), "kind 2^31+2");
    /* a layer name without its terminating zero; a duplicate name */
    RESET(), memset(buf + norm1 + L_NAME, 'n', 32), fix_crc(buf, size);
    CHECK(refused(buf, size, &rt, CNNVIS_ERR_FORMAT, "zero-terminated", NULL, "unterminated name"), "unterminated name");
    RESET(), memcpy(buf + conv2 + L_NAME, "conv1", 6), fix_crc(buf, size);
    CHECK(refused(buf, size, &rt, CNNVIS_ERR_FORMAT, "conv1", NULL, "duplicate name"), "duplicate name");

    /* trailing garbage, with and without a matching CRC */
    memcpy(buf, good, size), memset(buf + size, 0xab, 5);
    CHECK(refused(buf, size + 5, &rt, CNNVIS_ERR_FORMAT, "unexpected bytes", NULL, "5 bytes of trailing garbage"), "garbage");
    memcpy(buf, good, size), memset(buf + size, 0, 4), fix_crc(buf, size + 4);
    CHECK(refused(buf, size + 4, &rt, CNNVIS_ERR_FORMAT, "unexpected bytes", NULL, "4 bytes, CRC fixed"), "garbage, CRC");
    memcpy(buf, good, size), memcpy(buf + size, good, 100);
    CHECK(refused(buf, size + 100, &rt, CNNVIS_ERR_FORMAT, "unexpected bytes", NULL, "100 bytes appended"), "100 bytes");

    /* a class name of 64 bytes (and 255): longer than the 63 a name may have */
    {
        size_t k;
        static const unsigned lens[] = {64, 100, 255};
        for (k = 0; k < 3; k++) {
            size_t n = 0, rest = size - 4 - (names + 1 + 5);
            memcpy(buf, good, names), n = names;
            buf[n++] = (unsigned char)lens[k];
            memset(buf + n, 'A', lens[k]), n += lens[k];
            memcpy(buf + n, good + names + 1 + 5, rest), n += rest; /* the other 4 names */
            n += 4, fix_crc(buf, n);
            CHECK(refused(buf, n, &rt, CNNVIS_ERR_FORMAT, "at most 63", NULL, "long class name"), "class name length %u",
                  lens[k]);
        }
    }
    /* a class name length that runs past the end */
    RESET(), buf[size - 4 - 8] = 60, fix_crc(buf, size); /* "epsilon"'s length byte */
    CHECK(refused(buf, size, &rt, CNNVIS_ERR_FORMAT, "truncated", NULL, "class name past the end"), "name past the end");
    /* the last class name one byte shorter, CRC fixed: one byte is left over */
    RESET(), buf[size - 4 - 8] = 6, fix_crc(buf, size);
    CHECK(refused(buf, size, &rt, CNNVIS_ERR_FORMAT, "unexpected bytes", NULL, "class name 1 byte short"), "short name");
#undef RESET
    free(buf);
    cnnvis__free(good);
    cnnvis_net_free(net);
    remove(tmp_path("layers.cnnvis"));
}

/* Truncated at lengths from 0 up: always refused with "truncated" (or, shorter than the
   8-byte magic, "magic"). */
static int check_truncations(const unsigned char *good, size_t size, const cnnvis_net_desc *rt, const size_t *lengths,
                             size_t n_lengths, const char *name)
{
    size_t k, bad = 0;
    for (k = 0; k < n_lengths; k++) {
        size_t len = lengths[k];
        char what[96];
        snprintf(what, sizeof what, "%s truncated to %zu of %zu bytes", name, len, size);
        if (!refused(good, len, rt, CNNVIS_ERR_FORMAT, "truncated", len < 8 ? "magic" : NULL, what) && ++bad >= 10) break;
    }
    return (int)bad;
}

static void test_truncated_small(void)
{
    cnnvis_net *net = make(desc_small);
    cnnvis_net_desc rt;
    unsigned char *good;
    size_t size, *lengths, k;
    REQUIRE(net, "create");
    rt = runtime_of(net);
    good = save_bytes(net, "trunc.cnnvis", &size);
    REQUIRE(good, "bytes");
    lengths = (size_t *)malloc(sizeof(size_t) * size);
    for (k = 0; k < size; k++) lengths[k] = k; /* every length */
    CHECK(check_truncations(good, size, &rt, lengths, size, "small") == 0, "a truncated checkpoint was not refused");
    free(lengths);
    cnnvis__free(good);
    cnnvis_net_free(net);
    remove(tmp_path("trunc.cnnvis"));
}

static void test_truncated_mini(void)
{
    cnnvis_net *net = make(desc_mini);
    cnnvis_net_desc rt;
    unsigned char *good;
    size_t size, lengths[1000], n = 0, k, stride;
    int i, d;
    REQUIRE(net, "create");
    rt = runtime_of(net);
    good = save_bytes(net, "trunc-mini.cnnvis", &size);
    REQUIRE(good, "bytes");
    for (k = 0; k <= 200; k++) lengths[n++] = k;
    stride = size / 150 + 1;
    for (k = 201; k < size; k += stride) lengths[n++] = k; /* a stride through the whole file */
    for (i = 1; i <= net->n_layers; i++)                  /* around every layer record */
        for (d = -3; d <= 3; d++) {
            size_t at = layer_at(good, i);
            at = d < 0 ? at - (size_t)-d : at + (size_t)d;
            if (at < size && n < 900) lengths[n++] = at;
        }
    for (k = size - 100; k < size; k++) lengths[n++] = k; /* through the class names and CRC */
    CHECK(check_truncations(good, size, &rt, lengths, n, "alexnet_mini") == 0, "a truncated checkpoint was not refused");
    cnnvis__free(good);
    cnnvis_net_free(net);
    remove(tmp_path("trunc-mini.cnnvis"));
}

/* A checkpoint that passes every check of the file itself (CRC fixed) but describes a net of
   tens of gigabytes whose weight counts do not match the file: refused, and refused before
   anything that large is allocated (the counts in the file can be checked against the
   architecture's first). */
static void test_validates_before_allocating(void)
{
    cnnvis_net *net = make(desc_mini);
    cnnvis_net_desc rt;
    unsigned char *good, *buf;
    size_t size, fc6, needed;
    REQUIRE(net, "create");
    rt = runtime_of(net);
    rt.max_batch = 1;
    {
        cnnvis_net_desc d;
        desc_mini(&d);
        d.max_batch = 1;
        needed = cnnvis_net_memory_size(&d);
    }
    good = save_bytes(net, "alloc.cnnvis", &size);
    REQUIRE(good, "bytes");
    buf = (unsigned char *)malloc(size);
    fc6 = layer_at(good, 14);
    REQUIRE(strcmp((const char *)good + fc6 + L_NAME, "fc6") == 0, "fc6's record");

    memcpy(buf, good, size), wr32(buf + fc6 + L_OUTC, 1u << 21), fix_crc(buf, size); /* 2^31 weights */
    alloc_max_request = 0;
    CHECK(refused(buf, size, &rt, CNNVIS_ERR_FORMAT, "fc6", "memory", "fc6 with 2^21 outputs"), "fc6 2^21");
    CHECK(alloc_max_request <= 4 * needed, "fc6 with 2^21 outputs: the loader asked for %zu bytes (%.1f GB) before "
          "refusing; the real net needs %zu", alloc_max_request, alloc_max_request / 1e9, needed);

    memcpy(buf, good, size), wr32(buf + 16, 2048), wr32(buf + 20, 2048), fix_crc(buf, size); /* 3x2048x2048 input */
    alloc_max_request = 0;
    CHECK(refused(buf, size, &rt, CNNVIS_ERR_FORMAT, "weights", "memory", "2048x2048 input"), "2048x2048");
    CHECK(alloc_max_request <= 4 * needed, "a 2048x2048 input: the loader asked for %zu bytes (%.1f GB) before refusing; "
          "the real net needs %zu", alloc_max_request, alloc_max_request / 1e9, needed);
    free(buf);
    cnnvis__free(good);
    cnnvis_net_free(net);
    remove(tmp_path("alloc.cnnvis"));
}

/* A good checkpoint that cannot be loaded for reasons outside the file keeps the code of
   that reason: a bad runtime description is CNNVIS_ERR_ARG, an allocation failure
   CNNVIS_ERR_NOMEM (not CNNVIS_ERR_FORMAT, which says the file is malformed). */
static void test_load_error_codes(void)
{
    cnnvis_net *net = make(desc_small), *out = NULL;
    cnnvis_net_desc rt, d;
    unsigned char *good;
    size_t size, needed;
    cnnvis_result r;
    REQUIRE(net, "create");
    good = save_bytes(net, "codes.cnnvis", &size);
    REQUIRE(good, "bytes");
    rt = runtime_of(net);
    rt.max_batch = -1;
    cnnvis_clear_error();
    r = cnnvis__net_load_memory(&out, good, size, &rt);
    CHECK(r == CNNVIS_ERR_ARG && out == NULL, "runtime max_batch -1: %s (%s)", cnnvis_result_str(r), cnnvis_last_error());
    CHECK(has(cnnvis_last_error(), "max_batch"), "message \"%s\"", cnnvis_last_error());
    rt = runtime_of(net);
    rt.n_threads = 100000;
    cnnvis_clear_error();
    r = cnnvis__net_load_memory(&out, good, size, &rt);
    CHECK(r == CNNVIS_ERR_ARG && out == NULL, "runtime n_threads 100000: %s (%s)", cnnvis_result_str(r), cnnvis_last_error());

    rt = runtime_of(net);
    desc_small(&d);
    d.max_batch = rt.max_batch;
    needed = cnnvis_net_memory_size(&d);
    if (needed > sizeof(cnnvis__ckpt) + 1 && needed > sizeof(cnnvis_net) + 1) {
        alloc_cap = needed - 1; /* everything but the arena fits */
        cnnvis_clear_error();
        r = cnnvis__net_load_memory(&out, good, size, &rt);
        alloc_cap = (size_t)1 << 30;
        CHECK(r == CNNVIS_ERR_NOMEM && out == NULL, "out of memory: %s (%s)", cnnvis_result_str(r), cnnvis_last_error());
    }
    cnnvis__free(good);
    cnnvis_net_free(net);
    remove(tmp_path("codes.cnnvis"));
}

/* --- Fuzzing ------------------------------------------------------------------------------ */

/* A net loaded from a mutated file must be usable: run a forward pass. */
static int usable(cnnvis_net *net)
{
    cnnvis_tensor x;
    cnnvis_result r;
    if (cnnvis_tensor_create(&x, 1, net->desc.in_c, net->desc.in_h, net->desc.in_w) != CNNVIS_OK) return 0;
    random_input(&x, 5);
    r = cnnvis_net_forward(net, &x);
    cnnvis_tensor_free(&x);
    return r == CNNVIS_OK;
}

/* 2000 random corruptions of 1 to 8 bytes (sometimes also a cut or an extension). With
   fixcrc, the CRC is recomputed so that the checks behind it (sizes, architecture, weight
   counts, class names) see the damage; mutations then favour the non-weight bytes. */
static void fuzz(int fixcrc, uint64_t seed)
{
    cnnvis_net *net = make(desc_small);
    cnnvis_net_desc rt;
    cnnvis_rng rng;
    unsigned char *good, *buf;
    size_t size, names;
    int iter, loaded = 0, bad = 0, k;
    REQUIRE(net, "create");
    rt = runtime_of(net);
    rt.max_batch = 1;
    good = save_bytes(net, "fuzz.cnnvis", &size);
    REQUIRE(good, "bytes");
    names = layer_at(good, net->n_layers);
    cnnvis__rng_seed(&rng, seed);
    alloc_cap = (size_t)64 << 20; /* a mutated size field may ask for gigabytes */
    for (iter = 0; iter < 2000; iter++) {
        size_t n = size, cut;
        int n_mut = 1 + (int)cnnvis__rng_below(&rng, 8);
        cnnvis_net *out = (cnnvis_net *)&out;
        cnnvis_result r;
        buf = (unsigned char *)malloc(size + 16);
        memcpy(buf, good, size);
        for (k = 0; k < n_mut; k++) {
            size_t at;
            uint32_t how = cnnvis__rng_below(&rng, 4);
            if (fixcrc && cnnvis__rng_below(&rng, 4) != 0) { /* a header, layer record or class name byte */
                uint32_t region = cnnvis__rng_below(&rng, (uint32_t)net->n_layers + 2);
                if (region == 0) at = cnnvis__rng_below(&rng, HDR);
                else if (region <= (uint32_t)net->n_layers) at = layer_at(good, (int)region - 1) + cnnvis__rng_below(&rng, LAYER);
                else at = names + cnnvis__rng_below(&rng, (uint32_t)(size - 4 - names));
            } else {
                at = cnnvis__rng_below(&rng, (uint32_t)size);
            }
            if (how == 0) buf[at] ^= (unsigned char)(1u << cnnvis__rng_below(&rng, 8)); /* one bit */
            else if (how == 1) buf[at] = (unsigned char)cnnvis__rng_below(&rng, 256);  /* any byte */
            else if (how == 2) buf[at] = (unsigned char)(cnnvis__rng_below(&rng, 2) ? 0xff : 0x00);
            else buf[at] = (unsigned char)(buf[at] + 1);
        }
        cut = cnnvis__rng_below(&rng, 16);
        if (cut == 0) n = cnnvis__rng_below(&rng, (uint32_t)size);         /* cut short */
        else if (cut == 1) memset(buf + size, 0x5a, 16), n = size + 1 + cnnvis__rng_below(&rng, 16); /* extended */
        if (n == size && memcmp(buf, good, size) == 0) { /* the mutations undid each other */
            free(buf);
            continue;
        }
        if (fixcrc && n >= 64) fix_crc(buf, n);
        {
            unsigned char *exact = dup_bytes(buf, n); /* exactly n bytes: ASan sees overreads */
            cnnvis_clear_error();
            r = cnnvis__net_load_memory(&out, exact, n, &rt);
            free(exact);
        }
        if (r == CNNVIS_OK) {
            loaded++;
            if (!out || !usable(out)) {
                if (bad++ < 5) printf("  iteration %d: loaded, but not usable: %s\n", iter, cnnvis_last_error());
            }
            cnnvis_net_free(out);
        } else if (out != NULL || !cnnvis_last_error()[0] || (r != CNNVIS_ERR_FORMAT && r != CNNVIS_ERR_NOMEM)) {
            if (bad++ < 5)
                printf("  iteration %d: %s, out %p, message \"%s\"\n", iter, cnnvis_result_str(r), (void *)out,
                       cnnvis_last_error());
        }
        free(buf);
    }
    alloc_cap = (size_t)1 << 30;
    printf("  %d of 2000 mutated checkpoints loaded (%s)\n", loaded, fixcrc ? "CRC fixed" : "CRC not fixed");
    CHECK(bad == 0, "%d mutated checkpoints were not handled cleanly", bad);
    if (!fixcrc) CHECK(loaded == 0, "%d corrupt checkpoints passed the CRC", loaded);
    else CHECK(loaded > 100 && loaded < 1900, "CRC fixed: %d loaded (the mutations should mostly hit checks)", loaded);
    cnnvis__free(good);
    cnnvis_net_free(net);
    remove(tmp_path("fuzz.cnnvis"));
}

static void test_fuzz_raw(void) { fuzz(0, 1234); }
static void test_fuzz_crc_fixed(void) { fuzz(1, 5678); }

/* What a test that stopped early may have left in the temporary directory. */
static void remove_leftovers(void)
{
    static const char *const files[] = {"mini.cnnvis", "small.cnnvis",  "resaved",           "special.cnnvis",
                                        "weights.cnnvis", "s.cnnvis",   "keep.cnnvis",       "hdr.cnnvis",
                                        "layers.cnnvis", "trunc.cnnvis", "trunc-mini.cnnvis", "alloc.cnnvis",
                                        "fuzz.cnnvis", "empty",         "text",              "a-dir",
                                        "codes.cnnvis"};
    size_t k;
    for (k = 0; k < sizeof files / sizeof files[0]; k++) {
        char tmp[600];
        snprintf(tmp, sizeof tmp, "%s.tmp", tmp_path(files[k]));
        remove(tmp_path(files[k])), remove(tmp); /* remove() takes empty directories too */
    }
}

int main(void)
{
    int result;
    unsetenv("CNNVIS_THREADS");
    if (!make_tmp_dir()) {
        printf("cannot make a temporary directory\n");
        return 1;
    }
    RUN(test_round_trip_mini);
    RUN(test_round_trip_small);
    RUN(test_round_trip_special_floats);
    RUN(test_load_weights);
    RUN(test_save_atomic);
    RUN(test_bad_paths);
    RUN(test_corrupt_header);
    RUN(test_corrupt_layers);
    RUN(test_truncated_small);
    RUN(test_truncated_mini);
    RUN(test_validates_before_allocating);
    RUN(test_load_error_codes);
    RUN(test_fuzz_raw);
    RUN(test_fuzz_crc_fixed);
    result = SUMMARY();
    remove_leftovers();
    if (rmdir(tmp_dir) != 0) printf("note: could not remove %s (%s)\n", tmp_dir, strerror(errno));
    return result;
}
