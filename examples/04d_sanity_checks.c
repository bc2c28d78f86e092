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
       ./build/04d_sanity_checks --n 20                (README.md's table: 20 images, ~1 minute)
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

static const cnnvis_saliency_method methods[N_METHODS] = {CNNVIS_SALIENCY_GRADIENT, CNNVIS_SALIENCY_GUIDED,
                                                          CNNVIS_SALIENCY_GRADCAM, CNNVIS_SALIENCY_SMOOTHGRAD,
                                                          CNNVIS_SALIENCY_INTEGRATED};

/* A method's map for one image: |attribution| (max over channels for per-pixel methods;
   Grad-CAM is one channel already), (H * W) floats into map. */
static void saliency_map(float *map, cnnvis_net *net, const cnnvis_tensor *pixels, int cls, cnnvis_saliency_method m,
                         const cnnvis_saliency_desc *sd)
{
    cnnvis_tensor a, s;
    size_t q, plane = (size_t)pixels->h * pixels->w;
    ex_check(cnnvis_saliency(&a, net, pixels, cls, m, sd), "cnnvis_saliency");
    ex_check(cnnvis_saliency_map(&s, &a), "cnnvis_saliency_map");
    for (q = 0; q < plane; q++) map[q] = s.data[q]; /* already |.| */
    cnnvis_tensor_free(&a), cnnvis_tensor_free(&s);
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

int main(int argc, char **argv)
{
    const char *out = "out/04d_sanity_checks", *checkpoint = "out/00_train/alexnet_mini.cnnvis", *image = NULL;
    int threads = 0, n_images = 8, show = 0, smooth_n = 0, ig_steps = 0, zoom = 0, independent = 0;
    uint64_t seed = 1;
    ex_option opts[] = {
        {"checkpoint", EX_STRING, &checkpoint, 0, 0, "the trained net (out/00_train/alexnet_mini.cnnvis)"},
        {"n", EX_INT, &n_images, 1, 10000, "held-out images to average over (8)"},
        {"image", EX_STRING, &image, 0, 0, "check the maps of this image (PNG, PPM, PGM) for the net's class instead"},
        {"show", EX_INT, &show, 0, 9999, "which of them cascade.png shows (0)"},
        {"smooth-n", EX_INT, &smooth_n, 0, 10000, "SmoothGrad's noisy copies (0: the library's 50)"},
        {"ig-steps", EX_INT, &ig_steps, 0, 10000, "integrated gradients' steps (0: the library's 64)"},
        {"independent", EX_FLAG, &independent, 0, 0, "randomise each layer alone instead of cumulatively"},
        {"zoom", EX_INT, &zoom, 0, 16, "enlarge the maps in cascade.png N times (3; 1 from 128 pixels)"},
        {"threads", EX_INT, &threads, 0, 256, "worker threads (0: all CPUs)"},
        {"seed", EX_U64, &seed, 0, 1e18, "the seed 00_train used: its held-out images are looked at (1)"},
        {"out", EX_STRING, &out, 0, 0, "output folder (out/04d_sanity_checks)"},
    };
    static float mean[N_METHODS][MAX_STEPS], sd[N_METHODS][MAX_STEPS], xs[MAX_STEPS];
    static int constant[N_METHODS][MAX_STEPS]; /* maps with one value everywhere: no ranking */
    static char step_names[MAX_STEPS][CNNVIS_NAME_LEN + 8];
    cnnvis_net *net;
    cnnvis_dataset ds;
    cnnvis_tensor px; /* the pixels in [0, 1] of the image whose maps are made */
    cnnvis_saliency_desc sdesc;
    cnnvis_image *tiles, im;
    cnnvis_series series[N_METHODS];
    cnnvis_plot_desc pd;
    cnnvis_montage_desc md;
    char (*captions)[48], path[1024], xlabel[512];
    const char **caps;
    float *original, *map, *rho, *shown;
    int weighted[CNNVIS_MAX_LAYERS], n_weighted = 0, n_steps, step, i, m, k, cols, n, photo_class = 0;
    size_t plane;
    double t0 = ex_seconds();
    FILE *tsv;
    ex_parse(argc, argv, opts, (int)(sizeof opts / sizeof opts[0]),
             "usage: 04d_sanity_checks [options]\n"
             "cascading randomisation of the weights vs saliency maps (Adebayo et al. 2018)");
    if (ex_mkdirs(out) != 0) {
        fprintf(stderr, "04d_sanity_checks: cannot create %s\n", out);
        return 1;
    }
    net = ex_load_net(checkpoint, threads);
    memset(&ds, 0, sizeof ds);
    memset(&px, 0, sizeof px);
    if (image) { /* one photo, resized to the net's input, explained for the class the trained net gives it */
        float probs[1024];
        ex_image_pixels(&px, net, image);
        ex_check(cnnvis_net_predict(NULL, probs, NULL, net, &px), "cnnvis_net_predict");
        for (k = 1; k < net->n_classes && k < 1024; k++)
            if (probs[k] > probs[photo_class]) photo_class = k;
        printf("%s: the trained net says %s (%.1f%%); its maps are for that class\n", image,
               cnnvis_net_class_name(net, photo_class), 100 * probs[photo_class]);
        n = 1, show = 0;
    } else {
        ex_probe_data(&ds, net, "concepts", n_images, seed);
        n = ds.n;
    }
    if (show >= n) {
        fprintf(stderr, "--show %d: only %d images (raise --n)\n", show, n);
        return 2;
    }
    if (zoom == 0) zoom = net->desc.in_w >= 128 ? 1 : 3;
    for (i = net->n_layers - 1; i >= 0; i--) /* weighted layers from the top: fc8, fc7, ... conv1 */
        if (net->layers[i].n_w) weighted[n_weighted++] = i;
    n_steps = n_weighted + 1; /* step 0: the trained net */
    plane = (size_t)net->desc.in_h * net->desc.in_w;
    original = (float *)malloc(sizeof(float) * plane * N_METHODS * n);
    map = (float *)malloc(sizeof(float) * plane);
    rho = (float *)malloc(sizeof(float) * N_METHODS * n * n_steps);
    shown = (float *)malloc(sizeof(float) * plane * N_METHODS * n_steps);
    tiles = (cnnvis_image *)calloc((size_t)N_METHODS * (n_steps + 1), sizeof *tiles);
    captions = (char(*)[48])calloc((size_t)N_METHODS * (n_steps + 1), sizeof *captions);
    caps = (const char **)calloc((size_t)N_METHODS * (n_steps + 1), sizeof *caps);
    if (!original || !map || !rho || !shown || !tiles || !captions || !caps) {
        fprintf(stderr, "04d_sanity_checks: out of memory\n");
        return 1;
    }
    memset(&sdesc, 0, sizeof sdesc);
    sdesc.smooth_n = smooth_n, sdesc.ig_steps = ig_steps, sdesc.seed = seed;

    for (step = 0; step < n_steps; step++) {
        double ts = ex_seconds();
        if (step > 0) { /* randomise the next layer down (cumulative), or only this one (independent) */
            int layer = weighted[step - 1];
            if (independent && step > 1) ex_check(cnnvis_net_load_weights(net, checkpoint), checkpoint);
            ex_check(cnnvis_net_randomize_layer(net, net->layers[layer].desc.name, seed + 1000 + (uint64_t)layer),
                     "cnnvis_net_randomize_layer");
            snprintf(step_names[step], sizeof step_names[0], "%s%s", independent || step == 1 ? "" : "+",
                     net->layers[layer].desc.name);
        } else
            snprintf(step_names[step], sizeof step_names[0], "trained");
        for (i = 0; i < n; i++) {
            int label = image ? photo_class : ds.labels[i];
            if (!image) { /* image i's pixels in [0, 1] (a photo's are in px already) */
                cnnvis_tensor_free(&px);
                ex_check(cnnvis_dataset_pixels(&px, NULL, &ds, i, 1), "cnnvis_dataset_pixels");
                /* normalised and back, as when README.md's table was made: the round trip moves
                   some pixel values by a float rounding, and with them the maps' last digits */
                ex_check(cnnvis_net_normalize(&px, net, &px), "cnnvis_net_normalize");
                ex_check(cnnvis_net_denormalize(&px, net, &px), "cnnvis_net_denormalize");
            }
            for (m = 0; m < N_METHODS; m++) {
                float *orig = original + ((size_t)i * N_METHODS + m) * plane;
                float *now = step == 0 ? orig : map;
                size_t q;
                int flat = 1;
                saliency_map(now, net, &px, label, methods[m], &sdesc);
                rho[((size_t)step * N_METHODS + m) * n + i] =
                    step == 0 ? 1.0f : (float)spearman(orig, map, plane);
                for (q = 1; q < plane; q++) flat &= now[q] == now[0];
                constant[m][step] += flat;
                if (i == show) memcpy(shown + ((size_t)step * N_METHODS + m) * plane, now, sizeof(float) * plane);
            }
        }
        for (m = 0; m < N_METHODS; m++) {
            double s = 0, s2 = 0;
            for (i = 0; i < n; i++) {
                double r = rho[((size_t)step * N_METHODS + m) * n + i];
                s += r, s2 += r * r;
            }
            mean[m][step] = (float)(s / n);
            sd[m][step] = (float)sqrt(s2 / n - (s / n) * (s / n) > 0 ? s2 / n - (s / n) * (s / n) : 0);
        }
        xs[step] = (float)step;
        if (step == 0)
            printf("maps of %d %s by %d methods in %.1f s per step\n", n, image ? "image" : "held-out images", N_METHODS,
                   ex_seconds() - ts);
    }

    /* The table: mean Spearman over the images, a row per step. */
    printf("\nmean Spearman rank correlation of |map| with the trained net's (%d image%s), %s\n", n, n == 1 ? "" : "s",
           independent ? "each layer randomised alone" : "layers randomised cumulatively from the top");
    printf("%-10s", "randomised");
    for (m = 0; m < N_METHODS; m++) printf(" %11s", cnnvis_saliency_name(methods[m]));
    printf("\n");
    for (step = 0; step < n_steps; step++) {
        printf("%-10s", step_names[step]);
        for (m = 0; m < N_METHODS; m++) printf(" %11.3f", mean[m][step]);
        printf("\n");
    }
    for (m = 0; m < N_METHODS; m++) {
        int any = 0;
        for (step = 0; step < n_steps; step++) any |= constant[m][step] > 0;
        if (!any) continue;
        printf("%s maps that are constant (all zero: no ranking, Spearman counted as 0):", cnnvis_saliency_name(methods[m]));
        for (step = 0; step < n_steps; step++)
            printf(" %s %d/%d%s", step_names[step], constant[m][step], n, step + 1 < n_steps ? "," : "\n");
    }
    snprintf(path, sizeof path, "%s/spearman.tsv", out);
    tsv = fopen(path, "w");
    if (!tsv) {
        fprintf(stderr, "cannot write %s\n", path);
        return 1;
    }
    fprintf(tsv, "step\trandomised\tmethod\tmean_spearman\tsd\n");
    for (step = 0; step < n_steps; step++)
        for (m = 0; m < N_METHODS; m++)
            fprintf(tsv, "%d\t%s\t%s\t%.5f\t%.5f\n", step, step_names[step], cnnvis_saliency_name(methods[m]), mean[m][step],
                    sd[m][step]);
    fclose(tsv);
    printf("wrote %s\n", path);

    /* The plot: one line per method; the x axis counts the layers randomised. */
    memset(series, 0, sizeof series);
    for (m = 0; m < N_METHODS; m++)
        series[m].name = cnnvis_saliency_name(methods[m]), series[m].x = xs, series[m].y = mean[m], series[m].n = n_steps;
    k = snprintf(xlabel, sizeof xlabel, "%s:", independent ? "layer randomised" : "layers randomised");
    for (step = 1; step < n_steps && k < (int)sizeof xlabel - 40; step++)
        k += snprintf(xlabel + k, sizeof xlabel - k, " %d %s", step, net->layers[weighted[step - 1]].desc.name);
    memset(&pd, 0, sizeof pd);
    pd.w = 720, pd.h = 420, pd.ymin = -0.2f, pd.ymax = 1.05f;
    pd.title = independent ? "sanity check: one layer randomised at a time (Adebayo et al. 2018)"
                           : "sanity check: cascading randomisation from the top (Adebayo et al. 2018)";
    pd.xlabel = xlabel, pd.ylabel = "mean Spearman of |map|";
    pd.series = series, pd.n_series = N_METHODS;
    ex_check(cnnvis_plot_lines(&im, &pd), "plot");
    ex_write(&im, out, "spearman.png");
    cnnvis_image_free(&im);

    /* The cascade for one image: the image, then each step's map; a row per method. */
    cols = n_steps + 1;
    for (m = 0; m < N_METHODS; m++) {
        cnnvis_image small;
        if (image) {
            cnnvis_map_desc as_is;
            memset(&as_is, 0, sizeof as_is);
            as_is.mode = CNNVIS_MAP_PIXELS; /* pixels in [0, 1] as they are */
            ex_check(cnnvis_tensor_to_image(&small, &px, 0, &as_is), "image");
        } else
            ex_dataset_image(&small, &ds, show);
        ex_check(cnnvis_image_resize(&tiles[m * cols], &small, small.w * zoom, small.h * zoom, CNNVIS_RESIZE_NEAREST),
                 "resize");
        cnnvis_image_free(&small);
        snprintf(captions[m * cols], sizeof captions[0], "%s", cnnvis_saliency_name(methods[m]));
        for (step = 0; step < n_steps; step++) {
            int empty = map_tile(&tiles[m * cols + 1 + step], shown + ((size_t)step * N_METHODS + m) * plane,
                                 net->desc.in_w, net->desc.in_h, zoom);
            if (step == 0) snprintf(captions[m * cols + 1 + step], sizeof captions[0], "trained");
            else if (empty) snprintf(captions[m * cols + 1 + step], sizeof captions[0], "%.30s empty", step_names[step]);
            else
                snprintf(captions[m * cols + 1 + step], sizeof captions[0], "%.30s %.2f", step_names[step],
                         rho[((size_t)step * N_METHODS + m) * n + show]);
        }
    }
    for (i = 0; i < N_METHODS * cols; i++) caps[i] = captions[i];
    memset(&md, 0, sizeof md);
    md.cols = cols, md.pad = 3;
    if (image)
        snprintf(xlabel, sizeof xlabel, "%.200s (the net's class %s): |map| after each randomisation step, with its Spearman "
                 "to the trained map", image, cnnvis_net_class_name(net, photo_class));
    else
        snprintf(xlabel, sizeof xlabel,
                 "held-out image %d (%s): |map| after each randomisation step, with its Spearman to the trained map", show,
                 cnnvis_net_class_name(net, ds.labels[show]));
    md.title = xlabel;
    ex_check(cnnvis_montage(&im, tiles, N_METHODS * cols, caps, &md), "montage");
    ex_write(&im, out, "cascade.png");
    cnnvis_image_free(&im);
    for (i = 0; i < N_METHODS * cols; i++) cnnvis_image_free(&tiles[i]);
    printf("total %.1f s\n", ex_seconds() - t0);
    free(original), free(map), free(rho), free(shown), free(tiles), free(captions), free(caps);
    cnnvis_tensor_free(&px);
    cnnvis_dataset_free(&ds);
    cnnvis_net_free(net);
    return 0;
}
