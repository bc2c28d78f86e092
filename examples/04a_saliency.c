/* 04a_saliency.c - lecture section 4a: saliency maps.

   "Which pixels matter for the class?" Simonyan et al. 2014: one backward pass of the
   unnormalised class score S_c down to the image gives dS_c/dI, and the map
   M(y, x) = max_channel |dS_c/dI(channel, y, x)|. The same pass with other ReLU rules gives
   the lecture's "Deconv net vs Saliency net" slide: the deconvnet passes max(R, 0) back
   whatever the forward input was, the gradient passes R where the input was positive,
   guided backpropagation (Springenberg et al. 2015) only where both are. Then what students
   reach for next: Grad-CAM, guided Grad-CAM, SmoothGrad, integrated gradients and occlusion.
   Finally the POINTING GAME (Zhang et al. 2016): does the map's maximum fall on the object?
   The built-in concept images know where their object is, pixel by pixel.

   Build and run (after 00_train):
       make build/04a_saliency && ./build/04a_saliency
       ./build/04a_saliency --image my_photo.png --n-pointing 0   (explain the net's top class of a photo)
       ./build/04a_saliency --n-pointing 500              (README.md's pointing game)
       ./build/04a_saliency --n-pointing 500 --pointing-full   (with the library's default
                                                            settings: slower)
   Output (in --out, default out/04a_saliency/):
       (every picture NAME.png also as NAME.ppm, or NAME.pgm if grey, beside it)
       saliency.png         one row per image: the image (true class, the net's class and its
                            probability) | gradient | deconvnet | guided | Grad-CAM | guided Grad-CAM |
                            SmoothGrad | IG | occlusion. Per-pixel methods as Simonyan's map
                            max_channel |A| (inferno, black = 0); Grad-CAM and occlusion as heat on the image
       deconv_vs_saliency.png   the slide: image | deconvnet | gradient | guided, signed, per
                            channel (grey = 0), for 4 images
       pointing.tsv         the pointing game: each method's hit rate (all images, those with a
                            distractor, and within --tolerance pixels) beside the centre baseline
   The pointing game: for each held-out image and its TRUE class, the method's map points at
   its maximum (where several pixels tie, as in occlusion's blocks, the tied pixel nearest
   their centroid); a hit is a pointed pixel labelled with the image's class shape (object
   concept 1 + class; 0 is background). A map flat everywhere points nowhere and misses. The
   centre baseline points at the centre pixel whatever the image: the objects here are large
   and often central, so a method has to beat it to show that it looks at the object. Images
   with a distractor (a smaller second shape) are the telling ones; a distractor of the
   class's own shape (one in ten) counts as the object. Zhang et al. forgive 15 pixels of 224;
   --tolerance (2, the same share of 32) does the same in a column of its own: gradients peak
   on edges, and half of an edge's pixels are background.
   SmoothGrad and integrated gradients cost 50 and 64 passes an image and occlusion 65: the
   pointing game uses 10 copies, 10 steps and occlusion squares moved by their whole side
   (16 placements) unless --pointing-full, and prints the time each method takes.
   Exercises:
       1. Which methods fall to the centre baseline's level on images with a distractor? Find
          the rows of saliency.png with a second shape: where does each method's maximum sit?
          Compare Grad-CAM (conv5's 8x8 resolution) with the gradient (every pixel).
       2. On deconv_vs_saliency.png the deconvnet's and guided backprop's pictures look sharper
          than the gradient's. Re-run with --checkpoint out/00_train/epochs/epoch_00.cnnvis
          (random weights): which of the three pictures still shows the shape? (Adebayo et al.
          2018: guided backprop hardly depends on the weights.)
       3. Run with --pointing-full and compare the hit rates of SmoothGrad, IG and occlusion:
          how many samples does the pointing game need? And with --tolerance 0 and 1? */
#include "cnnvis.h" /* its implementation: examples/cnnvis.c, compiled once and linked */
#include "common.h"

#define TILE 96      /* pixels a side of every tile */
#define MAX_ROWS 64  /* images in saliency.png */
#define N_SLIDE 4    /* images on the slide's picture */
#define N_POINTING 6 /* methods in the pointing game */

/* The command line: each option's value, set to its default here. */
static struct {
    const char *checkpoint, *image, *out;
    int n_images, n_pointing, tolerance, pointing_full, threads;
    uint64_t seed;
} opt = {.checkpoint = "out/00_train/alexnet_mini.cnnvis", .out = "out/04a_saliency", .n_images = 8, .n_pointing = 100,
         .tolerance = 2, .seed = 1};

static const ex_option options[] = {
    {"checkpoint", EX_STRING, &opt.checkpoint, 0, 0, "the trained net (out/00_train/alexnet_mini.cnnvis)"},
    {"n-images", EX_INT, &opt.n_images, 1, MAX_ROWS, "held-out concept images in saliency.png (8)"},
    {"image", EX_STRING, &opt.image, 0, 0, "explain this image (PNG, PPM, PGM) instead"},
    {"n-pointing", EX_INT, &opt.n_pointing, 0, 1 << 20, "held-out images for the pointing game (100; 0: none)"},
    {"tolerance", EX_INT, &opt.tolerance, 0, 64, "pointing game: a hit may miss the object by this many pixels (2)"},
    {"pointing-full", EX_FLAG, &opt.pointing_full, 0, 0, "pointing game with the library's default settings (slow)"},
    {"threads", EX_INT, &opt.threads, 0, 256, "worker threads (0: all CPUs)"},
    {"seed", EX_U64, &opt.seed, 0, 1e18, "the seed 00_train used: its held-out images are looked at (1)"},
    {"out", EX_STRING, &opt.out, 0, 0, "output folder (out/04a_saliency)"},
};

/* The slide's three rules at a ReLU (H: its input on the way up, R: the signal coming down). */
static const cnnvis_saliency_method relu_rules[3] = {CNNVIS_SALIENCY_DECONVNET, CNNVIS_SALIENCY_GRADIENT,
                                                     CNNVIS_SALIENCY_GUIDED};
static const char *const relu_rule_captions[3] = {"deconvnet\nmax(R, 0)", "gradient\nR 1(H > 0)",
                                                  "guided\nR 1(H > 0) 1(R > 0)"};

static void load_images(cnnvis_dataset *ds, const cnnvis_net *net);
static int image_and_class(cnnvis_tensor *pixels, cnnvis_net *net, const cnnvis_dataset *ds, int i);
static cnnvis_image image_tile(const cnnvis_tensor *p);
static cnnvis_image mapped_tile(const cnnvis_tensor *t, const cnnvis_map_desc *m);
static void all_methods(cnnvis_net *net, const cnnvis_dataset *ds);
static void pointing_game(cnnvis_net *net, const cnnvis_dataset *ds);

int main(int argc, char **argv)
{
    cnnvis_net *net;
    cnnvis_dataset ds;
    cnnvis_tensor pixels, a;
    cnnvis_map_desc signed_map;
    cnnvis_montage_desc md;
    cnnvis_image tiles[N_SLIDE * 4];
    char captions[N_SLIDE * 4][64];
    int r, k, cls, n = 0;
    double t_all = ex_seconds();
    ex_parse(argc, argv, options, EX_COUNT(options),
             "usage: 04a_saliency [options]\nsaliency maps by nine methods and the pointing game (lecture section 4a)");
    ex_out_dir(opt.out);
    net = ex_load_net(opt.checkpoint, opt.threads);
    load_images(&ds, net); /* held-out concept images (none for --image alone) */

    /* Slide "Deconv net vs Saliency net": dS_c/dI, the class score's backward pass down to
       the pixels, by the three rules at the ReLUs; signed, per channel. */
    memset(&pixels, 0, sizeof pixels);
    memset(&signed_map, 0, sizeof signed_map);
    signed_map.mode = CNNVIS_MAP_SYMMETRIC, signed_map.clip_percentile = 99.5f; /* grey = 0 */
    for (r = 0; r < (opt.image ? 1 : ds.n < N_SLIDE ? ds.n : N_SLIDE); r++) {
        cls = image_and_class(&pixels, net, &ds, r); /* its true class; a photo: the net's */
        tiles[n] = image_tile(&pixels);
        snprintf(captions[n++], 64, "%s", cnnvis_net_class_name(net, cls));
        for (k = 0; k < 3; k++) {
            ex_check(cnnvis_saliency(&a, net, &pixels, cls, relu_rules[k], NULL), cnnvis_saliency_name(relu_rules[k]));
            tiles[n] = mapped_tile(&a, &signed_map);
            snprintf(captions[n++], 64, "%s", relu_rule_captions[k]);
            cnnvis_tensor_free(&a);
        }
    }
    memset(&md, 0, sizeof md);
    md.cols = 4, md.pad = 4;
    md.title = "Deconv net vs Saliency net: dS_c/dI by three ReLU rules,\nsigned per channel (grey = 0)";
    ex_write_montage(tiles, captions, n, &md, opt.out, "deconv_vs_saliency.png");

    /* What students reach for next, and a test of where the maps point. */
    all_methods(net, &ds);                           /* saliency.png */
    if (opt.n_pointing > 0) pointing_game(net, &ds); /* pointing.tsv */
    cnnvis_tensor_free(&pixels);
    cnnvis_dataset_free(&ds);
    cnnvis_net_free(net);
    printf("done in %.1f s\n", ex_seconds() - t_all);
    return 0;
}

/* The held-out concept images the pictures and the pointing game look at: as many as the
   larger of the two needs. None for --image alone; and no pointing game for a photo when
   the net's input is too large for the concept images (a 224x224 AlexNet). */
static void load_images(cnnvis_dataset *ds, const cnnvis_net *net)
{
    if (opt.image && opt.n_pointing > 0 && !ex_concepts_fit(net)) {
        printf("no pointing game: it needs the built-in concept images (their objects' masks), at most 3x128x128, and "
               "the net takes %dx%dx%d\n", net->desc.in_c, net->desc.in_h, net->desc.in_w);
        opt.n_pointing = 0;
    }
    memset(ds, 0, sizeof *ds);
    if (!opt.image || opt.n_pointing > 0)
        ex_probe_data(ds, net, "concepts", opt.n_pointing > opt.n_images ? opt.n_pointing : opt.n_images, opt.seed);
}

/* Image i of the held-out images as pixels (1, C, H, W) in [0, 1], into pixels (made anew),
   and the class to explain: its true class. With --image: the photo and the net's class. */
static int image_and_class(cnnvis_tensor *pixels, cnnvis_net *net, const cnnvis_dataset *ds, int i)
{
    cnnvis_tensor_free(pixels);
    if (opt.image) {
        ex_image_pixels(pixels, net, opt.image);
        return ex_top_class(net, pixels, NULL);
    }
    ex_check(cnnvis_dataset_pixels(pixels, NULL, ds, i, 1), "cnnvis_dataset_pixels");
    return ds->labels[i];
}

/* Pixels (1, C, H, W) in [0, 1] as a TILE x TILE image, blocky, values as they are. */
static cnnvis_image image_tile(const cnnvis_tensor *p)
{
    cnnvis_map_desc as_is;
    memset(&as_is, 0, sizeof as_is);
    as_is.mode = CNNVIS_MAP_PIXELS;
    return mapped_tile(p, &as_is);
}

/* A tensor (1, C, H, W) through a mapping, as a TILE x TILE image. */
static cnnvis_image mapped_tile(const cnnvis_tensor *t, const cnnvis_map_desc *m)
{
    cnnvis_image im, big;
    ex_check(cnnvis_tensor_to_image(&im, t, 0, m), "tensor to image");
    ex_check(cnnvis_image_resize(&big, &im, TILE, TILE, CNNVIS_RESIZE_NEAREST), "resize");
    cnnvis_image_free(&im);
    return big;
}

/* A one-channel heat map (1, 1, H, W), its positive part scaled to [0, 1] by its maximum,
   smoothly upsampled and blended onto the image tile. */
static cnnvis_image heat_tile(const cnnvis_image *image, const cnnvis_tensor *heat)
{
    cnnvis_image out;
    size_t n = (size_t)TILE * TILE, q;
    float *up = (float *)malloc(sizeof(float) * n), hi = cnnvis_tensor_stats(heat).max;
    if (!up) {
        fprintf(stderr, "04a_saliency: out of memory\n");
        exit(1);
    }
    cnnvis_plane_resize(up, TILE, TILE, heat->data, heat->w, heat->h, CNNVIS_RESIZE_BILINEAR);
    for (q = 0; q < n; q++) up[q] = hi > 0 && up[q] > 0 ? up[q] / hi : 0.0f; /* a negative drop: no evidence */
    ex_check(cnnvis_image_overlay(&out, image, up, 0.6f, CNNVIS_CMAP_INFERNO), "overlay");
    free(up);
    return out;
}

/* saliency.png: every method on each image, for its true class (the net's for --image).
   Per-pixel methods as Simonyan's map max_channel |A| (inferno, black = 0); Grad-CAM and
   occlusion, coarse, as heat on the image. Prints each method's time per image. */
static void all_methods(cnnvis_net *net, const cnnvis_dataset *ds)
{
    static const cnnvis_saliency_method methods[] = {
        CNNVIS_SALIENCY_GRADIENT, CNNVIS_SALIENCY_DECONVNET,      CNNVIS_SALIENCY_GUIDED,     CNNVIS_SALIENCY_GRADCAM,
        CNNVIS_SALIENCY_GUIDED_GRADCAM, CNNVIS_SALIENCY_SMOOTHGRAD, CNNVIS_SALIENCY_INTEGRATED, CNNVIS_SALIENCY_OCCLUSION};
    static const char *names[] = {"gradient", "deconvnet", "guided", "Grad-CAM", "guided Grad-CAM", "SmoothGrad", "IG",
                                  "occlusion"};
    enum { N = (int)(sizeof methods / sizeof methods[0]) };
    const int n_rows = opt.image ? 1 : opt.n_images;
    cnnvis_image *tiles = (cnnvis_image *)calloc((size_t)n_rows * (1 + N), sizeof *tiles);
    char(*captions)[64] = (char(*)[64])calloc((size_t)n_rows * (1 + N), sizeof *captions);
    cnnvis_tensor pixels, a, map;
    cnnvis_map_desc heat;
    cnnvis_montage_desc md;
    double ms[N];
    int r, k, n = 0;
    if (!tiles || !captions) {
        fprintf(stderr, "04a_saliency: out of memory\n");
        exit(1);
    }
    memset(&pixels, 0, sizeof pixels);
    memset(ms, 0, sizeof ms);
    memset(&heat, 0, sizeof heat);
    heat.mode = CNNVIS_MAP_MINMAX, heat.cmap = CNNVIS_CMAP_INFERNO; /* max |A|: 0 black, the maximum light yellow */
    heat.clip_percentile = 99.5f; /* so that one extreme pixel does not make the rest black */
    for (r = 0; r < n_rows; r++) {
        float p;
        int cls = image_and_class(&pixels, net, ds, r), pred = ex_top_class(net, &pixels, &p);
        cnnvis_image base = image_tile(&pixels);
        tiles[n] = base;
        if (opt.image) snprintf(captions[n++], 64, "net: %s\np = %.2f", cnnvis_net_class_name(net, pred), p);
        else
            snprintf(captions[n++], 64, "true: %s\nnet: %s %.2f", cnnvis_net_class_name(net, cls),
                     cnnvis_net_class_name(net, pred), p);
        for (k = 0; k < N; k++) {
            double t0 = ex_seconds();
            ex_check(cnnvis_saliency(&a, net, &pixels, cls, methods[k], NULL), cnnvis_saliency_name(methods[k]));
            ms[k] += 1000 * (ex_seconds() - t0);
            if (r == 0 && k == 0) cnnvis_tensor_print(&a, "gradient of the first image", 6); /* CNNVIS_PRINT(a) in your code */
            if (a.c == 1) tiles[n] = heat_tile(&base, &a); /* Grad-CAM, occlusion: coarse, so on the image */
            else {
                ex_check(cnnvis_saliency_map(&map, &a), "cnnvis_saliency_map");
                tiles[n] = mapped_tile(&map, &heat);
                cnnvis_tensor_free(&map);
            }
            snprintf(captions[n++], 64, "%s", names[k]);
            cnnvis_tensor_free(&a);
        }
    }
    memset(&md, 0, sizeof md);
    md.cols = 1 + N, md.pad = 4;
    md.title = opt.image ? "saliency of the net's class: max over channels of |attribution| (inferno) or heat on the image"
                         : "saliency of the true class: max over channels of |attribution| (inferno) or heat on the image";
    ex_write_montage(tiles, captions, n, &md, opt.out, "saliency.png");
    printf("time per image (library defaults):");
    for (k = 0; k < N; k++) printf(" %s %.1f ms%s", names[k], ms[k] / n_rows, k + 1 < N ? "," : "\n");
    cnnvis_tensor_free(&pixels);
    free(tiles), free(captions);
}

/* The pointing game's counts, per method and for the centre baseline (the last entry). */
typedef struct pointing {
    int hits[N_POINTING + 1], near_hits[N_POINTING + 1], distractor_hits[N_POINTING + 1], flat[N_POINTING + 1];
    int n_distractor; /* images with a second shape of another class */
    double ms[N_POINTING + 1];
} pointing;

static const cnnvis_saliency_method pointing_methods[N_POINTING] = {
    CNNVIS_SALIENCY_GRADIENT, CNNVIS_SALIENCY_GUIDED,     CNNVIS_SALIENCY_GRADCAM,
    CNNVIS_SALIENCY_OCCLUSION, CNNVIS_SALIENCY_SMOOTHGRAD, CNNVIS_SALIENCY_INTEGRATED};

/* Where a map points: its maximum; where several pixels tie (occlusion's blocks, a flat
   Grad-CAM corner), the tied pixel nearest their centroid. -1 if the map is flat. */
static int point_at(const cnnvis_tensor *map)
{
    size_t n = cnnvis_tensor_count(map), q;
    cnnvis_stats st = cnnvis_tensor_stats(map);
    float hi = st.max;
    double sy = 0, sx = 0, count = 0, best_d = 1e30;
    int best = -1;
    if (!(st.max > st.min)) return -1;
    for (q = 0; q < n; q++)
        if (map->data[q] == hi) sy += (double)(q / map->w), sx += (double)(q % map->w), count++;
    sy /= count, sx /= count;
    for (q = 0; q < n; q++)
        if (map->data[q] == hi) {
            double dy = (double)(q / map->w) - sy, dx = (double)(q % map->w) - sx;
            if (dy * dy + dx * dx < best_d) best_d = dy * dy + dx * dx, best = (int)q;
        }
    return best;
}

/* The map a method points with: Simonyan's max_channel |A| for per-pixel attributions, the
   method's own one-channel map for Grad-CAM and occlusion. *ms accumulates the time. */
static void method_map(cnnvis_tensor *map, cnnvis_net *net, const cnnvis_tensor *pixels, int cls, cnnvis_saliency_method m,
                       const cnnvis_saliency_desc *sd, double *ms)
{
    cnnvis_tensor a;
    double t0 = ex_seconds();
    ex_check(cnnvis_saliency(&a, net, pixels, cls, m, sd), cnnvis_saliency_name(m));
    if (a.c == 1) *map = a;
    else {
        ex_check(cnnvis_saliency_map(map, &a), "cnnvis_saliency_map");
        cnnvis_tensor_free(&a);
    }
    *ms += 1000 * (ex_seconds() - t0);
}

/* near[p] = 1 where a pixel of the object (label 1 + cls) lies within `tolerance` pixels of
   p (Zhang et al. allow 15 of 224). */
static void near_object(unsigned char *near, const unsigned char *object, int cls, int H, int W, int tolerance)
{
    int q, dy, dx;
    for (q = 0; q < H * W; q++) {
        int y = q / W, x = q % W;
        near[q] = 0;
        for (dy = -tolerance; dy <= tolerance && !near[q]; dy++)
            for (dx = -tolerance; dx <= tolerance; dx++)
                if (dy * dy + dx * dx <= tolerance * tolerance && y + dy >= 0 && y + dy < H && x + dx >= 0 && x + dx < W &&
                    object[(y + dy) * W + x + dx] == 1 + cls) {
                    near[q] = 1;
                    break;
                }
    }
}

/* The table: printed, and written as pointing.tsv. */
static void write_pointing(const pointing *pg)
{
    char path[1100];
    FILE *tsv;
    int m, n = opt.n_pointing;
    snprintf(path, sizeof path, "%s/pointing.tsv", opt.out);
    tsv = fopen(path, "w");
    if (!tsv) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(1);
    }
    fprintf(tsv, "method\timages\thits\thit_rate\tdistractor_images\tdistractor_hits\tdistractor_hit_rate\t"
                 "tolerance_px\thits_within_tolerance\thit_rate_within_tolerance\tflat_maps\tms_per_image\n");
    printf("\n%-12s %9s %16s %12s %6s %11s\n", "", "hit rate", "hit rate", "hit rate", "flat", "");
    printf("%-12s %9s %16s %7s%2d px %6s %11s\n", "method", "exact", "with distractor", "within", opt.tolerance, "maps",
           "ms / image");
    for (m = 0; m <= N_POINTING; m++) {
        const char *name = m < N_POINTING ? cnnvis_saliency_name(pointing_methods[m]) : "centre";
        double rate = (double)pg->hits[m] / n, near_rate = (double)pg->near_hits[m] / n;
        double drate = pg->n_distractor ? (double)pg->distractor_hits[m] / pg->n_distractor : 0;
        printf("%-12s %8.1f%% %15.1f%% %11.1f%% %6d %11.1f\n", name, 100 * rate, 100 * drate, 100 * near_rate, pg->flat[m],
               pg->ms[m] / n);
        fprintf(tsv, "%s\t%d\t%d\t%.4f\t%d\t%d\t%.4f\t%d\t%d\t%.4f\t%d\t%.2f\n", name, n, pg->hits[m], rate,
                pg->n_distractor, pg->distractor_hits[m], drate, opt.tolerance, pg->near_hits[m], near_rate, pg->flat[m],
                pg->ms[m] / n);
    }
    printf("(%d of the %d images have a distractor of another shape)\n", pg->n_distractor, n);
    if (fclose(tsv) != 0) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(1);
    }
    printf("wrote %s\n", path);
}

/* The pointing game (Zhang et al. 2016) on the held-out images, for their true class: does
   each method's map peak on the object? The centre pixel is the baseline to beat. */
static void pointing_game(cnnvis_net *net, const cnnvis_dataset *ds)
{
    const int H = net->desc.in_h, W = net->desc.in_w, plane = H * W, centre = H / 2 * W + W / 2;
    cnnvis_saliency_desc quick;
    cnnvis_tensor pixels, map;
    pointing pg;
    unsigned char *near = (unsigned char *)malloc((size_t)plane);
    int i, m, q;
    if (!near) {
        fprintf(stderr, "04a_saliency: out of memory\n");
        exit(1);
    }
    memset(&pg, 0, sizeof pg);
    memset(&pixels, 0, sizeof pixels);
    memset(&quick, 0, sizeof quick); /* the library's defaults with --pointing-full */
    if (!opt.pointing_full) { /* occlusion's default square is a quarter of the side: move it by its whole side */
        int side = (H < W ? H : W) / 4;
        quick.smooth_n = 10, quick.ig_steps = 10, quick.occlusion_stride = side > 1 ? side : 1;
        printf("\npointing game on %d held-out images (true class; SmoothGrad %d copies, IG %d steps, occlusion stride %d;"
               " --pointing-full for the defaults)...\n", opt.n_pointing, quick.smooth_n, quick.ig_steps, quick.occlusion_stride);
    } else
        printf("\npointing game on %d held-out images (true class; library defaults)...\n", opt.n_pointing);
    for (i = 0; i < opt.n_pointing; i++) {
        const unsigned char *object = ds->concepts + (size_t)i * ds->n_categories * plane + (size_t)CNNVIS_CAT_OBJECT * plane;
        int cls = ds->labels[i], distractor = 0;
        for (q = 0; q < plane; q++) distractor |= object[q] != 0 && object[q] != 1 + cls;
        pg.n_distractor += distractor;
        near_object(near, object, cls, H, W, opt.tolerance);
        cnnvis_tensor_free(&pixels);
        ex_check(cnnvis_dataset_pixels(&pixels, NULL, ds, i, 1), "cnnvis_dataset_pixels");
        for (m = 0; m <= N_POINTING; m++) {
            int at = centre; /* the baseline */
            if (m < N_POINTING) {
                method_map(&map, net, &pixels, cls, pointing_methods[m], &quick, &pg.ms[m]);
                at = point_at(&map);
                cnnvis_tensor_free(&map);
            }
            pg.flat[m] += at < 0;
            pg.hits[m] += at >= 0 && object[at] == 1 + cls;
            pg.near_hits[m] += at >= 0 && near[at];
            pg.distractor_hits[m] += at >= 0 && object[at] == 1 + cls && distractor;
        }
    }
    free(near);
    cnnvis_tensor_free(&pixels);
    write_pointing(&pg);
}
