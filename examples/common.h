/* common.h - what the numbered examples share: command-line options, finding the data sets,
   loading the net and the images, output folders, writing pictures. Include it after cnnvis.h.

   Every example takes --help, --checkpoint, --image, --out, --threads and --seed (those it
   uses), plus its own options, as `--name value` or `--name=value`. An unknown option, a
   missing value or a number out of range prints one line and exits with status 2. Each
   example keeps its options in a struct `opt` holding the defaults and a table `options`
   above main, which ex_parse fills in. */
#ifndef CNNVIS_EXAMPLES_COMMON_H
#define CNNVIS_EXAMPLES_COMMON_H

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/types.h>

typedef enum ex_kind { EX_INT, EX_FLOAT, EX_STRING, EX_U64, EX_FLAG } ex_kind;

/* One option: --name, its kind, where its value goes, its allowed range (numbers) and help. */
typedef struct ex_option {
    const char *name;
    ex_kind kind;
    void *value; /* int*, float*, const char**, uint64_t* or int* (flag: set to 1) */
    double lo, hi;
    const char *help;
} ex_option;

/* ex_parse_args' way out on a bad argument: the message into err, and -1. */
#define EX_FAIL(...)                          \
    do {                                      \
        snprintf(err, err_size, __VA_ARGS__); \
        return -1;                            \
    } while (0)

/* Parse argv against opts. Returns 0 to go on, 1 if --help was asked for, -1 on an error
   (then err holds one line). Prints nothing. */
static inline int ex_parse_args(int argc, char **argv, const ex_option *opts, int n_opts, char *err, size_t err_size)
{
    int i, k;
    for (i = 1; i < argc; i++) {
        const char *arg = argv[i], *eq, *value = NULL;
        size_t len;
        const ex_option *o = NULL;
        char *end;
        double v;
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) return 1;
        if (strncmp(arg, "--", 2) != 0) EX_FAIL("unexpected argument '%.200s' (options start with --; see --help)", arg);
        arg += 2;
        eq = strchr(arg, '=');
        len = eq ? (size_t)(eq - arg) : strlen(arg);
        for (k = 0; k < n_opts; k++)
            if (strlen(opts[k].name) == len && strncmp(opts[k].name, arg, len) == 0) o = &opts[k];
        if (!o) EX_FAIL("unknown option --%.*s (see --help)", (int)(len > 200 ? 200 : len), arg);
        if (o->kind == EX_FLAG) {
            if (eq) EX_FAIL("option --%s takes no value", o->name);
            *(int *)o->value = 1;
            continue;
        }
        if (eq) value = eq + 1;
        else if (i + 1 < argc) value = argv[++i];
        else EX_FAIL("option --%s needs a value", o->name);
        if (o->kind == EX_STRING) {
            if (!*value) EX_FAIL("option --%s needs a non-empty value", o->name);
            *(const char **)o->value = value;
            continue;
        }
        errno = 0;
        v = strtod(value, &end);
        if (!*value || *end || errno == ERANGE || v != v) EX_FAIL("option --%s: '%.100s' is not a number", o->name, value);
        if (v < o->lo || v > o->hi) EX_FAIL("option --%s: %.100s is not in [%g, %g]", o->name, value, o->lo, o->hi);
        if (o->kind == EX_U64 && !(v < 18446744073709551616.0)) /* 2^64: a table's upper bound may round to it */
            EX_FAIL("option --%s: %.100s does not fit in 64 bits", o->name, value);
        if ((o->kind == EX_INT || o->kind == EX_U64) && v != floor(v))
            EX_FAIL("option --%s: %.100s is not a whole number", o->name, value);
        if (o->kind == EX_INT) *(int *)o->value = (int)v;
        else if (o->kind == EX_U64) *(uint64_t *)o->value = (uint64_t)v;
        else *(float *)o->value = (float)v;
    }
    return 0;
}
#undef EX_FAIL

/* The number of entries of an array (an option table). */
#define EX_COUNT(array) ((int)(sizeof(array) / sizeof((array)[0])))

/* Parse or exit: --help prints the usage and the options and exits 0, an error prints one
   line and exits 2. */
static inline void ex_parse(int argc, char **argv, const ex_option *opts, int n_opts, const char *usage)
{
    char err[512];
    int r = ex_parse_args(argc, argv, opts, n_opts, err, sizeof err), k;
    if (r == 1) {
        printf("%s\n\noptions:\n", usage);
        for (k = 0; k < n_opts; k++) {
            const char *arg = opts[k].kind == EX_FLAG ? "" : opts[k].kind == EX_STRING ? " TEXT" : " N";
            printf("  --%s%-*s %s\n", opts[k].name, (int)(22 - strlen(opts[k].name)), arg, opts[k].help);
        }
        printf("  --help%-18s this text\n", "");
        exit(0);
    }
    if (r < 0) {
        fprintf(stderr, "%s: %s\n", argv[0], err);
        exit(2);
    }
}

/* Print the library's last error and exit 1 if r is not CNNVIS_OK. */
static inline void ex_check(cnnvis_result r, const char *what)
{
    if (r != CNNVIS_OK) {
        fprintf(stderr, "%s: %s: %s\n", what, cnnvis_result_str(r), cnnvis_last_error());
        exit(1);
    }
}

/* mkdir -p */
static inline int ex_mkdirs(const char *path)
{
    char buf[1024];
    size_t i, len = strlen(path);
    if (len >= sizeof buf) return -1;
    memcpy(buf, path, len + 1);
    for (i = 1; i <= len; i++)
        if (buf[i] == '/' || buf[i] == 0) {
            char c = buf[i];
            buf[i] = 0;
            if (mkdir(buf, 0777) != 0 && errno != EEXIST) return -1;
            buf[i] = c;
        }
    return 0;
}

/* The output folder: made (as mkdir -p), or the program exits with status 1. */
static inline void ex_out_dir(const char *dir)
{
    if (ex_mkdirs(dir) != 0) {
        fprintf(stderr, "cannot create the folder %s\n", dir);
        exit(1);
    }
}

static inline double ex_seconds(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + 1e-6 * (double)tv.tv_usec;
}

static inline int ex_file_exists(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f) fclose(f);
    return f != NULL;
}

/* Fashion-MNIST or MNIST from data/<name>/ or Debian's /usr/share/datasets/<name>/, .gz or
   not. When neither is there it prints where to get them and returns CNNVIS_ERR_IO. */
static inline cnnvis_result ex_load_idx(const char *name, cnnvis_dataset *train, cnnvis_dataset *test)
{
    static const char *dirs[] = {"data", "../data", "/usr/share/datasets"};
    static const char *suffix[] = {".gz", ""};
    char im[512], lb[512];
    int d, s;
    for (d = 0; d < 3; d++)
        for (s = 0; s < 2; s++) {
            snprintf(im, sizeof im, "%s/%s/train-images-idx3-ubyte%s", dirs[d], name, suffix[s]);
            snprintf(lb, sizeof lb, "%s/%s/train-labels-idx1-ubyte%s", dirs[d], name, suffix[s]);
            if (!ex_file_exists(im)) continue;
            if (cnnvis_idx_load(train, im, lb) != CNNVIS_OK) return CNNVIS_ERR_FORMAT;
            snprintf(im, sizeof im, "%s/%s/t10k-images-idx3-ubyte%s", dirs[d], name, suffix[s]);
            snprintf(lb, sizeof lb, "%s/%s/t10k-labels-idx1-ubyte%s", dirs[d], name, suffix[s]);
            if (cnnvis_idx_load(test, im, lb) != CNNVIS_OK) {
                cnnvis_dataset_free(train);
                return CNNVIS_ERR_FORMAT;
            }
            return CNNVIS_OK;
        }
    fprintf(stderr, "%s not found in data/%s/ or /usr/share/datasets/%s/: run `make data`\n", name, name, name);
    return CNNVIS_ERR_IO;
}

/* The built-in concept images: n_train for training (seed) and 2000 for testing (another
   seed, so that the test images are new to the net). */
static inline void ex_make_concepts(cnnvis_dataset *train, cnnvis_dataset *test, int n_train, uint64_t seed)
{
    cnnvis_concepts_desc cd;
    memset(&cd, 0, sizeof cd);
    cd.n = n_train, cd.seed = seed;
    ex_check(cnnvis_concepts_generate(train, &cd), "cnnvis_concepts_generate");
    if (test) {
        cd.n = 2000, cd.seed = seed + 1000003;
        ex_check(cnnvis_concepts_generate(test, &cd), "cnnvis_concepts_generate");
    }
}

/* Per-channel mean and standard deviation of a data set's pixels in [0, 1]: the net's
   input normalisation. */
static inline void ex_pixel_stats(const cnnvis_dataset *ds, float *mean, float *std)
{
    int ch, i;
    size_t plane = (size_t)ds->h * ds->w, p;
    for (ch = 0; ch < ds->c && ch < 3; ch++) {
        double s = 0, s2 = 0, n = 0;
        for (i = 0; i < ds->n; i++) {
            const unsigned char *px = ds->px + ((size_t)i * ds->c + ch) * plane;
            for (p = 0; p < plane; p++) s += px[p], s2 += (double)px[p] * px[p];
            n += (double)plane;
        }
        mean[ch] = (float)(s / n / 255.0);
        std[ch] = (float)(sqrt(s2 / n - (s / n) * (s / n)) / 255.0);
        if (std[ch] < 1e-3f) std[ch] = 1;
    }
}

/* The checkpoint 00_train wrote (or any other), or a message saying how to get one. */
static inline cnnvis_net *ex_load_net(const char *checkpoint, int threads)
{
    cnnvis_net_desc rt;
    cnnvis_net *net;
    if (!ex_file_exists(checkpoint)) {
        fprintf(stderr, "%s not found: train a net first with ./build/00_train (or `make demo`), or pass --checkpoint\n",
                checkpoint);
        exit(1);
    }
    memset(&rt, 0, sizeof rt);
    rt.n_threads = threads;
    ex_check(cnnvis_net_load(&net, checkpoint, &rt), checkpoint);
    return net;
}

/* Can the built-in concept images be made at the net's input size? They come in colour,
   square, 16 to 128 pixels a side (a 224x224 ImageNet net needs photos: --image). */
static inline int ex_concepts_fit(const cnnvis_net *net)
{
    return net->desc.in_c == 3 && net->desc.in_h == net->desc.in_w && net->desc.in_h >= 16 && net->desc.in_h <= 128;
}

/* Images to look at the net with, never seen in training: the built-in concept images of
   00_train's test set (seed + 1000003), or the test set of Fashion-MNIST, MNIST or CIFAR-10. */
static inline void ex_probe_data(cnnvis_dataset *ds, const cnnvis_net *net, const char *data, int n, uint64_t seed)
{
    cnnvis_dataset all;
    memset(&all, 0, sizeof all);
    if (strcmp(data, "concepts") == 0) {
        cnnvis_concepts_desc cd;
        if (!ex_concepts_fit(net)) {
            fprintf(stderr, "the net takes %dx%dx%d images, but the built-in concept images are 3x16x16 to 3x128x128 "
                    "(and the other --data sets 28x28 or 32x32): use a net trained on them, or --image PHOTO if the "
                    "example takes one\n", net->desc.in_c, net->desc.in_h, net->desc.in_w);
            exit(1);
        }
        memset(&cd, 0, sizeof cd);
        cd.n = n, cd.size = net->desc.in_h, cd.seed = seed + 1000003;
        ex_check(cnnvis_concepts_generate(ds, &cd), "cnnvis_concepts_generate");
    } else if (strcmp(data, "fashion") == 0 || strcmp(data, "mnist") == 0) {
        cnnvis_dataset train;
        if (ex_load_idx(strcmp(data, "fashion") == 0 ? "fashion-mnist" : "mnist", &train, &all) != CNNVIS_OK) exit(1);
        cnnvis_dataset_free(&train);
    } else if (strcmp(data, "cifar10") == 0) {
        const char *path = "data/cifar10/test_batch.bin";
        if (!ex_file_exists(path)) {
            fprintf(stderr, "%s not found: run `make cifar10` (needs internet)\n", path);
            exit(1);
        }
        ex_check(cnnvis_cifar10_load(&all, &path, 1), path);
    } else {
        fprintf(stderr, "--data %s: expected concepts, fashion, mnist or cifar10\n", data);
        exit(2);
    }
    if (all.n > 0) { /* keep the first n images, as an owning copy: free `all` but not them */
        if (n < all.n) all.n = n;
        *ds = all;
    }
    if (ds->c != net->desc.in_c || ds->h != net->desc.in_h || ds->w != net->desc.in_w) {
        fprintf(stderr, "--data %s gives %dx%dx%d images but the net takes %dx%dx%d: pass the data it was trained on\n",
                data, ds->c, ds->h, ds->w, net->desc.in_c, net->desc.in_h, net->desc.in_w);
        exit(1);
    }
}

/* A photo as pixels (1, C, H, W) in [0, 1] at the net's input size: what the net sees of it
   (the shorter side resized, the centre cropped). pixels is created here. */
static inline void ex_image_pixels(cnnvis_tensor *pixels, const cnnvis_net *net, const char *path)
{
    cnnvis_image im;
    ex_check(cnnvis_image_read(&im, path), path);
    ex_check(cnnvis_image_to_pixels(pixels, &im, net->desc.in_c, net->desc.in_h, net->desc.in_w), path);
    cnnvis_image_free(&im);
}

/* Image i of a data set as an 8-bit image to draw (grey or RGB, as the data set): its
   pixels in [0, 1], shown as they are. im is created here. */
static inline void ex_dataset_image(cnnvis_image *im, const cnnvis_dataset *ds, int i)
{
    cnnvis_tensor pixels;
    cnnvis_map_desc as_is;
    memset(&as_is, 0, sizeof as_is);
    as_is.mode = CNNVIS_MAP_PIXELS;
    ex_check(cnnvis_dataset_pixels(&pixels, NULL, ds, i, 1), "cnnvis_dataset_pixels");
    ex_check(cnnvis_tensor_to_image(im, &pixels, 0, &as_is), "cnnvis_tensor_to_image");
    cnnvis_tensor_free(&pixels);
}

/* The net's answer for one image of pixels (1, C, H, W): its top class (the first of equal
   probabilities), and that class's probability in *p (p may be NULL). */
static inline int ex_top_class(cnnvis_net *net, const cnnvis_tensor *pixels, float *p)
{
    float probs[1024];
    int c, best = 0;
    ex_check(cnnvis_net_predict(NULL, probs, NULL, net, pixels), "cnnvis_net_predict");
    for (c = 1; c < net->n_classes && c < 1024; c++)
        if (probs[c] > probs[best]) best = c;
    if (p) *p = probs[best];
    return best;
}

/* The layer whose output is a conv layer's activation: the ReLU right after it, if any. */
static inline const char *ex_activation_of(const cnnvis_net *net, int conv)
{
    if (conv + 1 < net->n_layers && net->layers[conv + 1].desc.kind == CNNVIS_LAYER_RELU)
        return net->layers[conv + 1].desc.name;
    return net->layers[conv].desc.name;
}

/* Write an image to path (cnnvis_image_write picks the format from the ending) and, for a
   .png, the same picture beside it as .ppm (colour) or .pgm (grey): the PNG is for browsers
   and the gallery, the PPM/PGM for any netpbm tool and for reading back with a few lines of
   C. Exits with the library's message if either fails. Returns the PPM/PGM's ending, or
   NULL if only path was written. */
static inline const char *ex_write_file(const cnnvis_image *im, const char *path)
{
    char pnm[1024];
    size_t len = strlen(path);
    ex_check(cnnvis_image_write(path, im), path);
    if (len < 4 || strcmp(path + len - 4, ".png") != 0 || len >= sizeof pnm) return NULL;
    memcpy(pnm, path, len - 4);
    snprintf(pnm + len - 4, sizeof pnm - (len - 4), "%s", im->c == 1 ? ".pgm" : ".ppm");
    ex_check(cnnvis_image_write(pnm, im), pnm);
    return im->c == 1 ? ".pgm" : ".ppm";
}

/* Write an image as dir/name (and its PPM/PGM, see ex_write_file) and say so. */
static inline void ex_write(const cnnvis_image *im, const char *dir, const char *name)
{
    char path[1024];
    const char *pnm;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    pnm = ex_write_file(im, path);
    printf("wrote %s%s%s (%dx%d)\n", path, pnm ? " and " : "", pnm ? pnm : "", im->w, im->h);
}

/* n tiles, captions[i] under tile i (captions NULL: none), as one picture laid out by md
   (columns, title, ...), written as dir/name by ex_write. The tiles are freed. */
static inline void ex_write_montage(cnnvis_image *tiles, char (*captions)[64], int n, const cnnvis_montage_desc *md,
                                    const char *dir, const char *name)
{
    const char **caps = (const char **)calloc((size_t)n + 1, sizeof *caps);
    cnnvis_image im;
    int i;
    if (!caps) {
        fprintf(stderr, "%s: out of memory\n", name);
        exit(1);
    }
    for (i = 0; i < n && captions; i++) caps[i] = captions[i];
    ex_check(cnnvis_montage(&im, tiles, n, captions ? caps : NULL, md), "cnnvis_montage");
    ex_write(&im, dir, name);
    cnnvis_image_free(&im);
    for (i = 0; i < n; i++) cnnvis_image_free(&tiles[i]);
    free(caps);
}

#endif
