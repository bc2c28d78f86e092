/* 04e_tsne.c - lecture section 4 (extra): the penultimate layer's codes as a map.

   The classifier fc8 only draws straight boundaries, so what fc7 makes of the images must
   already put each class in its own region. t-SNE (van der Maaten & Hinton 2008) lays the
   images out in 2-D keeping each one's nearest neighbours (in the 256 numbers of relu7)
   near it; drawing every image as a thumbnail at its place shows which images the net
   finds alike, and that shape, not colour or texture, decides it. The same map of the raw
   pixels, for comparison, sorts the images by colour instead.

   Build and run (after 00_train):
       make build/04e_tsne && ./build/04e_tsne
       ./build/04e_tsne --n 2000 --perplexity 50           (more points: O(n^2) time and memory)
       ./build/04e_tsne --layer relu5                      (conv5's codes: 64x8x8 numbers)
   Output (in --out, default out/04e_tsne/):
       (every picture NAME.png also as NAME.ppm, or NAME.pgm if grey, beside it)
       tsne_relu7.png       each image as a thumbnail at its t-SNE place, framed in its class's
                            colour (see the note on colours below)
       tsne_classes.png     the same places as dots, one colour per class, beside the map of
                            the raw pixels (--no-pixels leaves it out)
   Printed: the time of each stage, and how often an image's 10 nearest neighbours share its
   class, in the codes, on the map, and for the pixels.
   Colours: cnnvis_tsne_image frames with an 8-colour palette, so with 10 classes the
   frames of arrow and tee repeat circle's and square's; tsne_classes.png has all ten.
   Exercises:
       1. Which classes sit next to each other on the map? Are they the ones the confusion
          matrix of 00_train mixes up?
       2. Map the codes of relu5 or pool2 (--layer): from which layer on do the classes part?
       3. Run twice with --seed 1 and 2: what changes between the maps, what stays? */
#include "cnnvis.h" /* its implementation: examples/cnnvis.c, compiled once and linked */
#include "common.h"

#define KNN 10

/* The command line: each option's value, set to its default here. */
static struct {
    const char *out, *checkpoint, *layer, *image;
    int n, iterations, size, no_pixels, threads;
    float perplexity;
    uint64_t seed;
} opt = {.out = "out/04e_tsne", .checkpoint = "out/00_train/alexnet_mini.cnnvis", .n = 1000, .iterations = 1000,
         .size = 1024, .perplexity = 30, .seed = 1};

static const ex_option options[] = {
    {"checkpoint", EX_STRING, &opt.checkpoint, 0, 0, "the trained net (out/00_train/alexnet_mini.cnnvis)"},
    {"n", EX_INT, &opt.n, 10, 20000, "held-out images to map (1000; more than --perplexity)"},
    {"layer", EX_STRING, &opt.layer, 0, 0, "whose codes (the activation of the fc layer before the classifier: relu7)"},
    {"perplexity", EX_FLOAT, &opt.perplexity, 1, 1000, "t-SNE's effective number of neighbours (30)"},
    {"iterations", EX_INT, &opt.iterations, 1, 100000, "t-SNE's gradient steps (1000)"},
    {"size", EX_INT, &opt.size, 256, 8192, "side of the thumbnail map in pixels (1024)"},
    {"no-pixels", EX_FLAG, &opt.no_pixels, 0, 0, "skip the map of the raw pixels"},
    {"image", EX_STRING, &opt.image, 0, 0, "refused: t-SNE maps many labelled images, not one"},
    {"threads", EX_INT, &opt.threads, 0, 256, "worker threads (0: all CPUs)"},
    {"seed", EX_U64, &opt.seed, 0, 1e18, "the seed 00_train used (its held-out images are mapped) and t-SNE's (1)"},
    {"out", EX_STRING, &opt.out, 0, 0, "output folder (out/04e_tsne)"},
};

static int code_size(const cnnvis_net *net);
static void *alloc(size_t bytes);
static float *pixels_tsne(cnnvis_net *net, const cnnvis_dataset *ds);
static void neighbours(double *agree, const cnnvis_net *net, const cnnvis_dataset *ds, const float *codes, int dim,
                       const float *y, const float *y_px);
static void write_classes(const cnnvis_net *net, const cnnvis_dataset *ds, const float *y, const float *y_px,
                          const double *agree);

int main(int argc, char **argv)
{
    cnnvis_net *net;
    cnnvis_dataset ds;
    cnnvis_image im;
    char name[96];
    float *codes, *y, *y_px = NULL;
    int *images, dim, i;
    double t0 = ex_seconds(), t, agree[2]; /* of the codes' map, of the pixels' map */
    ex_parse(argc, argv, options, EX_COUNT(options),
             "usage: 04e_tsne [options]\nt-SNE map of the penultimate layer's codes (lecture section 4)");
    if (opt.image) {
        fprintf(stderr, "04e_tsne: --image: t-SNE places many images with known classes by how alike the net finds them, "
                "and one photo makes no map: run it on a net trained on the built-in concept images (--checkpoint)\n");
        return 2;
    }
    ex_out_dir(opt.out);
    net = ex_load_net(opt.checkpoint, opt.threads);
    dim = code_size(net); /* of --layer, by default relu7 */
    ex_probe_data(&ds, net, "concepts", opt.n, opt.seed);
    codes = (float *)alloc(sizeof(float) * opt.n * dim), y = (float *)alloc(sizeof(float) * 2 * opt.n);
    images = (int *)alloc(sizeof(int) * opt.n); /* which image is drawn at each place: all, in order */
    for (i = 0; i < opt.n; i++) images[i] = i;

    /* No slide of its own (section 4, extra): each image's code at the penultimate layer,
       laid out in 2-D by t-SNE so that near neighbours stay near, and drawn at its place. */
    t = ex_seconds();
    ex_check(cnnvis_net_codes(codes, net, opt.layer, &ds, 0, opt.n), "cnnvis_net_codes");
    printf("codes of %d held-out images at %s (%d numbers each) in %.1f s\n", opt.n, opt.layer, dim, ex_seconds() - t);
    t = ex_seconds();
    ex_check(cnnvis_tsne(y, codes, opt.n, dim, opt.perplexity, opt.iterations, opt.seed), "cnnvis_tsne");
    printf("t-SNE (perplexity %g, %d iterations) in %.1f s\n", opt.perplexity, opt.iterations, ex_seconds() - t);
    t = ex_seconds();
    ex_check(cnnvis_tsne_image(&im, y, opt.n, &ds, images, opt.size), "cnnvis_tsne_image");
    snprintf(name, sizeof name, "tsne_%s.png", opt.layer);
    ex_write(&im, opt.out, name);
    cnnvis_image_free(&im);
    printf("thumbnail map in %.1f s\n", ex_seconds() - t);

    /* Does the map sort by class? Nearest neighbours, and the raw pixels' map beside it. */
    if (!opt.no_pixels) y_px = pixels_tsne(net, &ds);
    neighbours(agree, net, &ds, codes, dim, y, y_px);
    write_classes(net, &ds, y, y_px, agree); /* tsne_classes.png */
    printf("total %.1f s\n", ex_seconds() - t0);
    free(codes), free(y), free(images), free(y_px);
    cnnvis_dataset_free(&ds);
    cnnvis_net_free(net);
    return 0;
}

/* The number of numbers in a code of --layer (by default the fc layer before the
   classifier, after its ReLU: relu7). The map is of the built-in concept images, so the
   net must take them. */
static int code_size(const cnnvis_net *net)
{
    int i, li, fc = -1;
    if (!opt.layer) {
        for (i = 0; i < net->n_layers - 1; i++)
            if (net->layers[i].desc.kind == CNNVIS_LAYER_FC) fc = i;
        if (fc < 0) {
            fprintf(stderr, "04e_tsne: the net has no fc layer before its classifier: pass --layer\n");
            exit(1);
        }
        opt.layer = ex_activation_of(net, fc);
    }
    if ((li = cnnvis_net_find(net, opt.layer)) < 0) {
        fprintf(stderr, "--layer %s: %s\n", opt.layer, cnnvis_last_error());
        exit(2);
    }
    if (!ex_concepts_fit(net)) {
        fprintf(stderr, "04e_tsne: the net takes %dx%dx%d images; the map is of the built-in concept images (at most "
                "3x128x128) and their classes: pass --checkpoint of a net trained on them (./build/00_train)\n",
                net->desc.in_c, net->desc.in_h, net->desc.in_w);
        exit(1);
    }
    return net->layers[li].out_c * net->layers[li].out_h * net->layers[li].out_w;
}

static void *alloc(size_t bytes)
{
    void *p = malloc(bytes);
    if (!p) {
        fprintf(stderr, "04e_tsne: out of memory\n");
        exit(1);
    }
    return p;
}

/* How often the KNN nearest neighbours of a point (squared Euclidean, dim numbers each)
   have its label: the mean over points and neighbours. O(n^2 dim). */
static double knn_agreement(const float *x, int n, int dim, const int32_t *labels)
{
    double *dist = (double *)malloc(sizeof(double) * n), total = 0;
    int i, j, k, d;
    if (!dist) return -1;
    for (i = 0; i < n; i++) {
        int best[KNN], n_best = 0, same = 0;
        for (j = 0; j < n; j++) {
            double s = 0;
            for (d = 0; d < dim; d++) {
                double t = (double)x[(size_t)i * dim + d] - x[(size_t)j * dim + d];
                s += t * t;
            }
            dist[j] = s;
        }
        for (j = 0; j < n; j++) { /* keep the KNN smallest in best[], sorted by insertion */
            if (j == i || (n_best == KNN && dist[j] >= dist[best[KNN - 1]])) continue;
            k = n_best < KNN ? n_best++ : KNN - 1;
            while (k > 0 && dist[best[k - 1]] > dist[j]) best[k] = best[k - 1], k--;
            best[k] = j;
        }
        for (k = 0; k < n_best; k++) same += labels[best[k]] == labels[i];
        total += n_best ? (double)same / n_best : 0;
    }
    free(dist);
    return total / n;
}

/* Each image's most frequent colour concept (the background's, as a rule), or -1 if the
   data set labels no colours. */
static void dominant_colours(int32_t *colour, const cnnvis_dataset *ds)
{
    size_t plane = (size_t)ds->h * ds->w, q;
    int i, k;
    for (i = 0; i < ds->n; i++) {
        int count[256] = {0}, best = -1;
        if (ds->n_categories <= CNNVIS_CAT_COLOUR || !ds->concepts) {
            colour[i] = -1;
            continue;
        }
        for (q = 0; q < plane; q++) count[ds->concepts[((size_t)i * ds->n_categories + CNNVIS_CAT_COLOUR) * plane + q]]++;
        for (k = 0; k < 255; k++)
            if (count[k] > 0 && (best < 0 || count[k] > count[best])) best = k;
        colour[i] = best;
    }
}

/* The 2-D points as dots of their class's colour on a size x size panel, with a legend. The
   colours are the drawing kit's categorical palette (cnnvis_labels_to_image's). */
static void scatter(cnnvis_image *im, const float *y, int n, const cnnvis_dataset *ds, const cnnvis_net *net, int size)
{
    static const unsigned char white[3] = {255, 255, 255}, black[3] = {0, 0, 0};
    unsigned char idx[256];
    cnnvis_image pal;
    float lo[2] = {1e30f, 1e30f}, hi[2] = {-1e30f, -1e30f};
    int i, k, c, n_classes = net->n_classes < 10 ? net->n_classes : 10, margin = 8, legend_w = 90;
    for (c = 0; c < n_classes; c++) idx[c] = (unsigned char)c;
    ex_check(cnnvis_labels_to_image(&pal, idx, n_classes, 1), "palette");
    for (i = 0; i < n; i++)
        for (k = 0; k < 2; k++) {
            lo[k] = y[2 * i + k] < lo[k] ? y[2 * i + k] : lo[k];
            hi[k] = y[2 * i + k] > hi[k] ? y[2 * i + k] : hi[k];
        }
    ex_check(cnnvis_image_create(im, size + legend_w, size, 3), "image");
    cnnvis_image_fill(im, 0, 0, im->w, im->h, white);
    for (i = 0; i < n; i++) {
        int px = margin + (int)((y[2 * i] - lo[0]) / (hi[0] > lo[0] ? hi[0] - lo[0] : 1) * (size - 2 * margin));
        int py = margin + (int)((y[2 * i + 1] - lo[1]) / (hi[1] > lo[1] ? hi[1] - lo[1] : 1) * (size - 2 * margin));
        c = ds->labels[i];
        if (c >= 0 && c < n_classes) cnnvis_image_fill(im, px - 2, py - 2, 5, 5, pal.px + 3 * c);
        else cnnvis_image_fill(im, px - 1, py - 1, 3, 3, black);
    }
    for (c = 0; c < n_classes; c++) {
        cnnvis_image_fill(im, size + 6, 10 + 14 * c, 9, 9, pal.px + 3 * c);
        cnnvis_image_text(im, size + 20, 11 + 14 * c, cnnvis_net_class_name(net, c), black, 1);
    }
    cnnvis_image_free(&pal);
}

/* The same t-SNE of the images themselves, normalised as the net sees them: the 2-D places. */
static float *pixels_tsne(cnnvis_net *net, const cnnvis_dataset *ds)
{
    const int dim_px = ds->c * ds->h * ds->w;
    float *y_px = (float *)alloc(sizeof(float) * 2 * opt.n);
    cnnvis_tensor x;
    double t;
    ex_check(cnnvis_dataset_pixels(&x, NULL, ds, 0, opt.n), "cnnvis_dataset_pixels");
    ex_check(cnnvis_net_normalize(&x, net, &x), "cnnvis_net_normalize"); /* in place */
    t = ex_seconds();
    ex_check(cnnvis_tsne(y_px, x.data, opt.n, dim_px, opt.perplexity, opt.iterations, opt.seed), "cnnvis_tsne");
    printf("t-SNE of the raw pixels (%d numbers each) in %.1f s\n", dim_px, ex_seconds() - t);
    cnnvis_tensor_free(&x);
    return y_px;
}

/* How often an image's KNN nearest neighbours share its class: in the codes, on their map,
   and on the pixels' map (y_px NULL: none); then how often they share its main colour.
   agree[0] gets the codes' map's share, agree[1] the pixels' map's. */
static void neighbours(double *agree, const cnnvis_net *net, const cnnvis_dataset *ds, const float *codes, int dim,
                       const float *y, const float *y_px)
{
    const int n = opt.n;
    double agree_codes = knn_agreement(codes, n, dim, ds->labels);
    agree[0] = knn_agreement(y, n, 2, ds->labels), agree[1] = 0;
    printf("\nshare of each image's %d nearest neighbours of its own class:\n", KNN);
    printf("  %-24s %.3f\n", opt.layer, agree_codes);
    printf("  %-24s %.3f\n", "its t-SNE map", agree[0]);
    if (y_px) {
        agree[1] = knn_agreement(y_px, n, 2, ds->labels);
        printf("  %-24s %.3f\n", "the raw pixels' map", agree[1]);
    }
    printf("  %-24s %.3f\n", "(chance)", 1.0 / net->n_classes);
    if (y_px && ds->concepts) { /* what the pixels' map sorts by instead */
        int32_t *colour = (int32_t *)malloc(sizeof(int32_t) * (size_t)n);
        if (colour) {
            dominant_colours(colour, ds);
            printf("... and of its main colour (the background's, mostly):\n");
            printf("  %-24s %.3f\n", "its t-SNE map", knn_agreement(y, n, 2, colour));
            printf("  %-24s %.3f\n", "the raw pixels' map", knn_agreement(y_px, n, 2, colour));
            free(colour);
        }
    }
}

/* tsne_classes.png: the codes' map as dots of their class's colour, beside the pixels'
   map (y_px NULL: alone). */
static void write_classes(const cnnvis_net *net, const cnnvis_dataset *ds, const float *y, const float *y_px,
                          const double *agree)
{
    cnnvis_image im, panels[2];
    cnnvis_montage_desc md;
    char caption[2][96], title[96];
    const char *caps[2];
    scatter(&panels[0], y, opt.n, ds, net, 480);
    snprintf(caption[0], sizeof caption[0], "%s codes: %.0f%% of 10-NN same class", opt.layer, 100 * agree[0]);
    caps[0] = caption[0];
    if (y_px) {
        scatter(&panels[1], y_px, opt.n, ds, net, 480);
        snprintf(caption[1], sizeof caption[1], "raw pixels: %.0f%% of 10-NN same class", 100 * agree[1]);
        caps[1] = caption[1];
    }
    memset(&md, 0, sizeof md);
    md.cols = 2, md.pad = 6, md.max_caption = 60, md.bg_grey = 255;
    snprintf(title, sizeof title, "t-SNE of %d held-out concept images, coloured by class", opt.n);
    md.title = title;
    ex_check(cnnvis_montage(&im, panels, y_px ? 2 : 1, caps, &md), "montage");
    ex_write(&im, opt.out, "tsne_classes.png");
    cnnvis_image_free(&im);
    cnnvis_image_free(&panels[0]);
    if (y_px) cnnvis_image_free(&panels[1]);
}
