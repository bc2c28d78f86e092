/* 04d_sanity_checks.c - lecture section 4: do saliency maps explain the network?

   "Which pixels matter for the class?" has many answers (gradient, guided backprop,
   Grad-CAM, SmoothGrad, integrated gradients), and they draw rather different pictures.
   Adebayo et al. 2018 ("Sanity checks for saliency maps") ask whether a method's map
   depends on what the net has learned at all: re-draw the weights of the layers as at
   initialisation, one at a time from the top (fc8, then fc7, ... down to conv1,
   cumulatively), and after each step compare every map with the trained net's by
   Spearman's rank correlation of their absolute values. A method whose map barely changes
   when the weights it is supposed to explain are gone is showing the image (its edges),
   not the model: the paper finds this for guided backpropagation, while the plain
   gradient's maps decorrelate as soon as the top layer is randomised.

   Build and run (after 00_train):
       make build/04d_sanity_checks && ./build/04d_sanity_checks
       ./build/04d_sanity_checks --n 20                (README.md's table: 20 images)
       ./build/04d_sanity_checks --n 50 --show 3       (more images; draw the grid for image 3)
       ./build/04d_sanity_checks --checkpoint alexnet.cnnvis --image my_photo.png
                          (one photo, resized to the net's input, for the class the net gives it)
   Output (in --out, default out/04d_sanity_checks/):
       (every picture NAME.png also as NAME.ppm, or NAME.pgm if grey, beside it)
       spearman.png     mean rank correlation with the trained net's maps, per method, against
                        the number of layers randomised (from the top)
       spearman.tsv     the same numbers, with their standard deviations over the images
       cascade.png      one image: rows = methods, columns = the randomisation steps, each map
                        captioned with its own rank correlation
   Exercises:
       1. Which method's maps survive the randomisation of fc8, fc7 and fc6, the whole
          classifier? What can such a map still be showing?
       2. Run with --independent: each layer is randomised alone (the rest trained), the
          paper's second test. Which layer matters most to each method?
       3. Grad-CAM looks at conv5's activations: why does its map keep (or lose) its shape
          once fc6 to fc8 are random? */
#include "cnnvis.h" /* its implementation: examples/cnnvis.c, compiled once and linked */
#include "common.h"

#define N_METHODS 5
#define MAX_STEPS (CNNVIS_MAX_LAYERS + 1)

/* The command line: each option's value, set to its default here. */
static struct {
    const char *out, *checkpoint, *image;
    int n, show, smooth_n, ig_steps, zoom, independent, threads;
    uint64_t seed;
} opt = {.out = "out/04d_sanity_checks", .checkpoint = "out/00_train/alexnet_mini.cnnvis", .n = 8, .seed = 1};

static const ex_option options[] = {
    {"checkpoint", EX_STRING, &opt.checkpoint, 0, 0, "the trained net (out/00_train/alexnet_mini.cnnvis)"},
    {"n", EX_INT, &opt.n, 1, 10000, "held-out images to average over (8)"},
    {"image", EX_STRING, &opt.image, 0, 0, "check the maps of this image (PNG, PPM, PGM) for the net's class instead"},
    {"show", EX_INT, &opt.show, 0, 9999, "which of them cascade.png shows (0)"},
    {"smooth-n", EX_INT, &opt.smooth_n, 0, 10000, "SmoothGrad's noisy copies (0: the library's 50)"},
    {"ig-steps", EX_INT, &opt.ig_steps, 0, 10000, "integrated gradients' steps (0: the library's 64)"},
    {"independent", EX_FLAG, &opt.independent, 0, 0, "randomise each layer alone instead of cumulatively"},
    {"zoom", EX_INT, &opt.zoom, 0, 16, "enlarge the maps in cascade.png N times (3; 1 from 128 pixels)"},
    {"threads", EX_INT, &opt.threads, 0, 256, "worker threads (0: all CPUs)"},
    {"seed", EX_U64, &opt.seed, 0, 1e18, "the seed 00_train used: its held-out images are looked at (1)"},
    {"out", EX_STRING, &opt.out, 0, 0, "output folder (out/04d_sanity_checks)"},
};

static const cnnvis_saliency_method methods[N_METHODS] = {CNNVIS_SALIENCY_GRADIENT, CNNVIS_SALIENCY_GUIDED,
                                                          CNNVIS_SALIENCY_GRADCAM, CNNVIS_SALIENCY_SMOOTHGRAD,
                                                          CNNVIS_SALIENCY_INTEGRATED};

/* What the randomisation does to the maps. Step 0 is the trained net, step s > 0 has the
   weighted layer layers[s - 1] randomised (counted from the top: fc8, fc7, ... conv1). */
static struct {
    int n, n_steps, layers[CNNVIS_MAX_LAYERS]; /* images; steps; the weighted layers from the top */
    int photo_class;                           /* --image: the trained net's class for it */
    size_t plane;                              /* pixels of a map */
    float *trained;                            /* each image's map by each method on the trained net */
    float *rho;                                /* Spearman with the trained map: [step][method][image] */
    float *shown;                              /* the maps of image --show: [step][method] */
    float *now;                                /* the map being compared */
    float mean[N_METHODS][MAX_STEPS], sd[N_METHODS][MAX_STEPS], xs[MAX_STEPS];
    int constant[N_METHODS][MAX_STEPS]; /* maps with one value everywhere: no ranking */
    char step_names[MAX_STEPS][CNNVIS_NAME_LEN + 8];
} cas;

static void load_images(cnnvis_dataset *ds, cnnvis_tensor *px, cnnvis_net *net);
static void start_cascade(const cnnvis_net *net);
static int image_pixels(cnnvis_tensor *px, cnnvis_net *net, const cnnvis_dataset *ds, int i);
static void compare_map(const cnnvis_tensor *attribution, int step, int i, int m);
static void summarise_step(int step, double t_start);
static void write_plot(const cnnvis_net *net);
static void write_table(void);
static void write_cascade(cnnvis_net *net, const cnnvis_dataset *ds, const cnnvis_tensor *px);

int main(int argc, char **argv)
{
    cnnvis_net *net;
    cnnvis_dataset ds;
    cnnvis_tensor px, a; /* px: the pixels in [0, 1] of the image whose maps are made */
    cnnvis_saliency_desc sd;
    int step, i, m, cls;
    double t0 = ex_seconds(), ts;
    ex_parse(argc, argv, options, EX_COUNT(options),
             "usage: 04d_sanity_checks [options]\n"
             "cascading randomisation of the weights vs saliency maps (Adebayo et al. 2018)");
    ex_out_dir(opt.out);
    net = ex_load_net(opt.checkpoint, opt.threads);
    load_images(&ds, &px, net); /* held-out images; or --image, for the class the net gives it */
    start_cascade(net);

    /* Slide "Deconv net vs Saliency net", sanity-checked (Adebayo et al. 2018): does a map
       depend on what the net learned? Re-draw the weights layer by layer from the top, and
       compare each method's map with the trained net's (Spearman's rank correlation). */
    memset(&sd, 0, sizeof sd);
    sd.smooth_n = opt.smooth_n, sd.ig_steps = opt.ig_steps, sd.seed = opt.seed;
    ts = ex_seconds();
    for (step = 0; step < cas.n_steps; step++) {
        if (step > 0) { /* the next layer down: cumulative, or alone (--independent: the rest trained again) */
            const char *layer = net->layers[cas.layers[step - 1]].desc.name;
            if (opt.independent && step > 1) ex_check(cnnvis_net_load_weights(net, opt.checkpoint), opt.checkpoint);
            ex_check(cnnvis_net_randomize_layer(net, layer, opt.seed + 1000 + (uint64_t)cas.layers[step - 1]), layer);
        }
        for (i = 0; i < cas.n; i++) {
            cls = image_pixels(&px, net, &ds, i);
            for (m = 0; m < N_METHODS; m++) {
                ex_check(cnnvis_saliency(&a, net, &px, cls, methods[m], &sd), "cnnvis_saliency");
                compare_map(&a, step, i, m);
                cnnvis_tensor_free(&a);
            }
        }
        summarise_step(step, ts);
    }
    write_plot(net); /* spearman.png */

    write_table();                /* printed, and spearman.tsv */
    write_cascade(net, &ds, &px); /* cascade.png: one image's maps at every step */
    printf("total %.1f s\n", ex_seconds() - t0);
    free(cas.trained), free(cas.rho), free(cas.shown), free(cas.now);
    cnnvis_tensor_free(&px);
    cnnvis_dataset_free(&ds);
    cnnvis_net_free(net);
    return 0;
}

/* The images: --image, one photo resized to the net's input and explained for the class
   the trained net gives it; or --n held-out images, each for its true class. */
static void load_images(cnnvis_dataset *ds, cnnvis_tensor *px, cnnvis_net *net)
{
    float p;
    memset(ds, 0, sizeof *ds);
    memset(px, 0, sizeof *px);
    if (opt.image) {
        ex_image_pixels(px, net, opt.image);
        cas.photo_class = ex_top_class(net, px, &p);
        printf("%s: the trained net says %s (%.1f%%); its maps are for that class\n", opt.image,
               cnnvis_net_class_name(net, cas.photo_class), 100 * p);
        cas.n = 1, opt.show = 0;
    } else {
        ex_probe_data(ds, net, "concepts", opt.n, opt.seed);
        cas.n = ds->n;
    }
    if (opt.show >= cas.n) {
        fprintf(stderr, "--show %d: only %d images (raise --n)\n", opt.show, cas.n);
        exit(2);
    }
}

/* The steps (the trained net, then one per weighted layer from the top) and their names,
   and room for the maps. */
static void start_cascade(const cnnvis_net *net)
{
    int i, n_weighted = 0, step;
    for (i = net->n_layers - 1; i >= 0; i--) /* weighted layers from the top: fc8, fc7, ... conv1 */
        if (net->layers[i].n_w) cas.layers[n_weighted++] = i;
    cas.n_steps = n_weighted + 1;
    snprintf(cas.step_names[0], sizeof cas.step_names[0], "trained");
    for (step = 1; step < cas.n_steps; step++)
        snprintf(cas.step_names[step], sizeof cas.step_names[0], "%s%s", opt.independent || step == 1 ? "" : "+",
                 net->layers[cas.layers[step - 1]].desc.name);
    cas.plane = (size_t)net->desc.in_h * net->desc.in_w;
    cas.trained = (float *)malloc(sizeof(float) * cas.plane * N_METHODS * cas.n);
    cas.rho = (float *)malloc(sizeof(float) * N_METHODS * cas.n * cas.n_steps);
    cas.shown = (float *)malloc(sizeof(float) * cas.plane * N_METHODS * cas.n_steps);
    cas.now = (float *)malloc(sizeof(float) * cas.plane);
    if (!cas.trained || !cas.rho || !cas.shown || !cas.now) {
        fprintf(stderr, "04d_sanity_checks: out of memory\n");
        exit(1);
    }
    if (opt.zoom == 0) opt.zoom = net->desc.in_w >= 128 ? 1 : 3;
}

/* Image i's pixels in [0, 1] into px (a photo's are there already), and the class to explain. */
static int image_pixels(cnnvis_tensor *px, cnnvis_net *net, const cnnvis_dataset *ds, int i)
{
    if (opt.image) return cas.photo_class;
    cnnvis_tensor_free(px);
    ex_check(cnnvis_dataset_pixels(px, NULL, ds, i, 1), "cnnvis_dataset_pixels");
    /* normalised and back, as when README.md's table was made: the round trip moves some
       pixel values by a float rounding, and with them the maps' last digits */
    ex_check(cnnvis_net_normalize(px, net, px), "cnnvis_net_normalize");
    ex_check(cnnvis_net_denormalize(px, net, px), "cnnvis_net_denormalize");
    return ds->labels[i];
}

/* For Spearman's rank correlation: values sorted with where they came from. */
typedef struct ranked {
    float v;
    size_t i;
} ranked;

static int by_value(const void *a, const void *b)
{
    float x = ((const ranked *)a)->v, y = ((const ranked *)b)->v;
    return x < y ? -1 : x > y;
}

/* rank[i] = the rank 1..n of v[i]; a run of equal values gets the mean of its ranks. */
static void ranks(double *rank, const float *v, size_t n, ranked *sorted)
{
    size_t i, j, k;
    for (i = 0; i < n; i++) sorted[i].v = v[i], sorted[i].i = i;
    qsort(sorted, n, sizeof *sorted, by_value);
    for (i = 0; i < n; i = j) {
        for (j = i + 1; j < n && sorted[j].v == sorted[i].v; j++) {
        }
        for (k = i; k < j; k++) rank[sorted[k].i] = (double)(i + j + 1) / 2.0; /* mean of ranks i+1 .. j */
    }
}

/* Spearman's rank correlation of a and b (Spearman 1904): Pearson's correlation of their
   ranks, +1 when b orders the n positions as a does. 0 if either is constant. */
static double spearman(const float *a, const float *b, size_t n)
{
    double *ra, *rb, ma = 0, mb = 0, sab = 0, saa = 0, sbb = 0;
    ranked *sorted;
    size_t i;
    if (n < 2) return 0;
    ra = (double *)malloc(sizeof(double) * n), rb = (double *)malloc(sizeof(double) * n);
    sorted = (ranked *)malloc(sizeof(ranked) * n);
    if (!ra || !rb || !sorted) {
        fprintf(stderr, "04d_sanity_checks: out of memory\n");
        exit(1);
    }
    ranks(ra, a, n, sorted), ranks(rb, b, n, sorted);
    for (i = 0; i < n; i++) ma += ra[i], mb += rb[i];
    ma /= (double)n, mb /= (double)n;
    for (i = 0; i < n; i++)
        sab += (ra[i] - ma) * (rb[i] - mb), saa += (ra[i] - ma) * (ra[i] - ma), sbb += (rb[i] - mb) * (rb[i] - mb);
    free(ra), free(rb), free(sorted);
    return saa > 0 && sbb > 0 ? sab / sqrt(saa * sbb) : 0;
}

/* Method m's attribution of image i at a step, as its map |attribution| (max over channels
   for per-pixel methods; Grad-CAM is one channel already): kept at step 0, compared with the
   trained one by Spearman at the others; counted if constant; kept for cascade.png if i is
   --show. */
static void compare_map(const cnnvis_tensor *attribution, int step, int i, int m)
{
    float *trained = cas.trained + ((size_t)i * N_METHODS + m) * cas.plane, *now = step == 0 ? trained : cas.now;
    cnnvis_tensor map;
    size_t q;
    int flat = 1;
    ex_check(cnnvis_saliency_map(&map, attribution), "cnnvis_saliency_map");
    for (q = 0; q < cas.plane; q++) now[q] = map.data[q]; /* already |.| */
    cnnvis_tensor_free(&map);
    cas.rho[((size_t)step * N_METHODS + m) * cas.n + i] = step == 0 ? 1.0f : (float)spearman(trained, now, cas.plane);
    for (q = 1; q < cas.plane; q++) flat &= now[q] == now[0];
    cas.constant[m][step] += flat;
    if (i == opt.show) memcpy(cas.shown + ((size_t)step * N_METHODS + m) * cas.plane, now, sizeof(float) * cas.plane);
}

/* Each method's mean rank correlation over the images at a step, and its spread. After step
   0, which began at t_start, prints how long a step takes. */
static void summarise_step(int step, double t_start)
{
    int m, i, n = cas.n;
    for (m = 0; m < N_METHODS; m++) {
        double s = 0, s2 = 0;
        for (i = 0; i < n; i++) {
            double r = cas.rho[((size_t)step * N_METHODS + m) * n + i];
            s += r, s2 += r * r;
        }
        cas.mean[m][step] = (float)(s / n);
        cas.sd[m][step] = (float)sqrt(s2 / n - (s / n) * (s / n) > 0 ? s2 / n - (s / n) * (s / n) : 0);
    }
    cas.xs[step] = (float)step;
    if (step == 0)
        printf("maps of %d %s by %d methods in %.1f s per step\n", n, opt.image ? "image" : "held-out images", N_METHODS,
               ex_seconds() - t_start);
}

/* spearman.png: one line per method; the x axis counts the layers randomised. */
static void write_plot(const cnnvis_net *net)
{
    cnnvis_series series[N_METHODS];
    cnnvis_plot_desc pd;
    cnnvis_image im;
    char xlabel[512];
    int m, step, k;
    memset(series, 0, sizeof series);
    for (m = 0; m < N_METHODS; m++)
        series[m].name = cnnvis_saliency_name(methods[m]), series[m].x = cas.xs, series[m].y = cas.mean[m],
        series[m].n = cas.n_steps;
    k = snprintf(xlabel, sizeof xlabel, "%s:", opt.independent ? "layer randomised" : "layers randomised");
    for (step = 1; step < cas.n_steps && k < (int)sizeof xlabel - 40; step++)
        k += snprintf(xlabel + k, sizeof xlabel - k, " %d %s", step, net->layers[cas.layers[step - 1]].desc.name);
    memset(&pd, 0, sizeof pd);
    pd.w = 720, pd.h = 420, pd.ymin = -0.2f, pd.ymax = 1.05f;
    pd.title = opt.independent ? "sanity check: one layer randomised at a time (Adebayo et al. 2018)"
                               : "sanity check: cascading randomisation from the top (Adebayo et al. 2018)";
    pd.xlabel = xlabel, pd.ylabel = "mean Spearman of |map|";
    pd.series = series, pd.n_series = N_METHODS;
    ex_check(cnnvis_plot_lines(&im, &pd), "plot");
    ex_write(&im, opt.out, "spearman.png");
    cnnvis_image_free(&im);
}

/* The table: mean Spearman over the images, a row per step, printed and as spearman.tsv;
   and the count of constant maps of the methods that made any. */
static void write_table(void)
{
    char path[1100];
    FILE *tsv;
    int m, step, n = cas.n;
    printf("\nmean Spearman rank correlation of |map| with the trained net's (%d image%s), %s\n", n, n == 1 ? "" : "s",
           opt.independent ? "each layer randomised alone" : "layers randomised cumulatively from the top");
    printf("%-10s", "randomised");
    for (m = 0; m < N_METHODS; m++) printf(" %11s", cnnvis_saliency_name(methods[m]));
    printf("\n");
    for (step = 0; step < cas.n_steps; step++) {
        printf("%-10s", cas.step_names[step]);
        for (m = 0; m < N_METHODS; m++) printf(" %11.3f", cas.mean[m][step]);
        printf("\n");
    }
    for (m = 0; m < N_METHODS; m++) {
        int any = 0;
        for (step = 0; step < cas.n_steps; step++) any |= cas.constant[m][step] > 0;
        if (!any) continue;
        printf("%s maps that are constant (all zero: no ranking, Spearman counted as 0):", cnnvis_saliency_name(methods[m]));
        for (step = 0; step < cas.n_steps; step++)
            printf(" %s %d/%d%s", cas.step_names[step], cas.constant[m][step], n, step + 1 < cas.n_steps ? "," : "\n");
    }
    snprintf(path, sizeof path, "%s/spearman.tsv", opt.out);
    tsv = fopen(path, "w");
    if (!tsv) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(1);
    }
    fprintf(tsv, "step\trandomised\tmethod\tmean_spearman\tsd\n");
    for (step = 0; step < cas.n_steps; step++)
        for (m = 0; m < N_METHODS; m++)
            fprintf(tsv, "%d\t%s\t%s\t%.5f\t%.5f\n", step, cas.step_names[step], cnnvis_saliency_name(methods[m]),
                    cas.mean[m][step], cas.sd[m][step]);
    fclose(tsv);
    printf("wrote %s\n", path);
}

/* A map as an inferno heatmap, min-max after clipping its top 1%. A constant map (Grad-CAM
   once every channel's weighted sum is negative: ReLU leaves zeros) is drawn black, not
   in the mid-colour the library gives a range of zero width. Returns 1 if constant. */
static int map_tile(cnnvis_image *tile, float *map, int w, int h, int zoom)
{
    cnnvis_map_desc md;
    cnnvis_image im;
    cnnvis_tensor t = cnnvis_tensor_wrap(map, 1, 1, h, w), zeros;
    int constant = 1;
    size_t q;
    for (q = 1; q < (size_t)w * h; q++) constant &= map[q] == map[0];
    memset(&md, 0, sizeof md);
    md.mode = CNNVIS_MAP_MINMAX, md.clip_percentile = 99, md.cmap = CNNVIS_CMAP_INFERNO;
    if (constant) { /* zeros shown as they are: the colour map's first colour everywhere */
        md.mode = CNNVIS_MAP_PIXELS, md.clip_percentile = 0;
        ex_check(cnnvis_tensor_create(&zeros, 1, 1, h, w), "tensor");
        ex_check(cnnvis_tensor_to_image(&im, &zeros, 0, &md), "cnnvis_tensor_to_image");
        cnnvis_tensor_free(&zeros);
    } else
        ex_check(cnnvis_tensor_to_image(&im, &t, 0, &md), "cnnvis_tensor_to_image");
    ex_check(cnnvis_image_resize(tile, &im, w * zoom, h * zoom, CNNVIS_RESIZE_NEAREST), "resize");
    cnnvis_image_free(&im);
    return constant;
}

/* cascade.png for image --show: a row per method, the image and then each step's map,
   captioned with its rank correlation with the trained map. */
static void write_cascade(cnnvis_net *net, const cnnvis_dataset *ds, const cnnvis_tensor *px)
{
    const int cols = cas.n_steps + 1, n_tiles = N_METHODS * cols;
    cnnvis_image *tiles = (cnnvis_image *)calloc((size_t)n_tiles, sizeof *tiles);
    char(*captions)[64] = (char(*)[64])calloc((size_t)n_tiles, sizeof *captions);
    char title[512];
    cnnvis_montage_desc md;
    int m, step;
    if (!tiles || !captions) {
        fprintf(stderr, "04d_sanity_checks: out of memory\n");
        exit(1);
    }
    for (m = 0; m < N_METHODS; m++) {
        cnnvis_image small;
        if (opt.image) {
            cnnvis_map_desc as_is;
            memset(&as_is, 0, sizeof as_is);
            as_is.mode = CNNVIS_MAP_PIXELS; /* pixels in [0, 1] as they are */
            ex_check(cnnvis_tensor_to_image(&small, px, 0, &as_is), "image");
        } else
            ex_dataset_image(&small, ds, opt.show);
        ex_check(cnnvis_image_resize(&tiles[m * cols], &small, small.w * opt.zoom, small.h * opt.zoom, CNNVIS_RESIZE_NEAREST),
                 "resize");
        cnnvis_image_free(&small);
        snprintf(captions[m * cols], sizeof captions[0], "%s", cnnvis_saliency_name(methods[m]));
        for (step = 0; step < cas.n_steps; step++) {
            char *caption = captions[m * cols + 1 + step];
            int empty = map_tile(&tiles[m * cols + 1 + step], cas.shown + ((size_t)step * N_METHODS + m) * cas.plane,
                                 net->desc.in_w, net->desc.in_h, opt.zoom);
            if (step == 0) snprintf(caption, sizeof captions[0], "trained");
            else if (empty) snprintf(caption, sizeof captions[0], "%.30s empty", cas.step_names[step]);
            else
                snprintf(caption, sizeof captions[0], "%.30s %.2f", cas.step_names[step],
                         cas.rho[((size_t)step * N_METHODS + m) * cas.n + opt.show]);
        }
    }
    memset(&md, 0, sizeof md);
    md.cols = cols, md.pad = 3;
    if (opt.image)
        snprintf(title, sizeof title, "%.200s (the net's class %s): |map| after each randomisation step, with its Spearman "
                 "to the trained map", opt.image, cnnvis_net_class_name(net, cas.photo_class));
    else
        snprintf(title, sizeof title,
                 "held-out image %d (%s): |map| after each randomisation step, with its Spearman to the trained map",
                 opt.show, cnnvis_net_class_name(net, ds->labels[opt.show]));
    md.title = title;
    ex_write_montage(tiles, captions, n_tiles, &md, opt.out, "cascade.png");
    free(tiles), free(captions);
}
