/* 02b_dissection.c - lecture section 2: analyse activations quantitatively.

   "Network Dissection" (Bau et al. 2017): label every pixel of a data set with concepts
   (objects, colours, textures), threshold each unit's activation map at its top quantile
   T_k, upsample it to the image, and measure how well the region above T_k matches each
   concept: IoU_{k,c} = |M_k n L_c| / |M_k u L_c| over the whole data set. A unit whose best
   IoU exceeds 0.04 is a detector of that concept. Counting detectors per layer answers the
   lecture's question: do more complex concepts emerge at later layers?

   Build and run (after 00_train):
       make build/02b_dissection && ./build/02b_dissection
       ./build/02b_dissection --quantile 0.005                (Bau et al.'s setting: see below)
       ./build/02b_dissection --epoch-images 2000     (each epoch on all 2000 images, as in docs/results.md)
       ./build/02b_dissection --list scenes.txt --concepts sky,road,car,...   (your own images)
   Output (in --out, default out/02b_dissection/):
       (every picture NAME.png also as NAME.ppm, or NAME.pgm if grey, beside it)
       dissection.tsv          every unit: layer, unit, best concept, category, IoU, T_k, detector
       detectors.png           unique detectors per category and layer (Bau et al., fig. 5)
       units_conv1.png ...     each layer's best detectors: top images, region above T_k outlined
       training.tsv, training.png   (when 00_train saved one checkpoint per epoch) detectors
                               per category after every epoch of training
   Why quantile 0.05 and not the paper's 0.005: a mask M covering a share q of all pixels has
   IoU at most q / p against a concept covering a share p. On 32x32 images a colour covers
   p ~ 10% of the pixels, so at q = 0.005 no unit can pass 0.04 however well it matches; on
   Broden's 112x112 scenes concepts are smaller. Objects here cover ~2% and pass either way.
   --list FILE: one "image label_map" pair of paths per line; label maps are 8-bit PGM or PNG
   with one concept index per pixel (255: unlabelled); --concepts names them in order.
   Exercises:
       1. Which layer has the most colour detectors, which the most object detectors?
       2. Dissect with --quantile 0.005 and 0.2. How do the counts change, and why?
       3. In units_conv5.png, does the outlined region cover the whole shape or a part of it? */
#include "cnnvis.h" /* its implementation: examples/cnnvis.c, compiled once and linked */
#include "common.h"

#define MAX_CONV 64
#define MAX_EPOCH_FILES 1000

/* The command line: each option's value, set to its default here. */
static struct {
    const char *out, *checkpoint, *list, *concepts, *epochs_dir, *image;
    int n_images, epoch_images, units, threads;
    float quantile, iou;
    uint64_t seed;
} opt = {.out = "out/02b_dissection", .checkpoint = "out/00_train/alexnet_mini.cnnvis", .n_images = 2000,
         .epoch_images = 500, .units = 4, .quantile = 0.05f, .iou = 0.04f, .seed = 1};

static const ex_option options[] = {
    {"checkpoint", EX_STRING, &opt.checkpoint, 0, 0, "the trained net (out/00_train/alexnet_mini.cnnvis)"},
    {"n-images", EX_INT, &opt.n_images, 1, 1 << 24, "built-in concept images to dissect on (2000)"},
    {"quantile", EX_FLOAT, &opt.quantile, 1e-6, 0.5, "share of activations above T_k (0.05; the paper: 0.005)"},
    {"iou", EX_FLOAT, &opt.iou, 1e-6, 1, "IoU above which a unit is a detector (0.04)"},
    {"units", EX_INT, &opt.units, 1, 16, "detectors drawn per layer (4)"},
    {"epochs-dir", EX_STRING, &opt.epochs_dir, 0, 0, "checkpoints epoch_NN.cnnvis to dissect (CHECKPOINT's folder/epochs)"},
    {"epoch-images", EX_INT, &opt.epoch_images, 1, 1 << 24, "the first N of the images for each epoch's dissection (500)"},
    {"list", EX_STRING, &opt.list, 0, 0, "your own images: a file of \"image label_map\" lines"},
    {"concepts", EX_STRING, &opt.concepts, 0, 0, "with --list: the label maps' concept names, comma-separated"},
    {"image", EX_STRING, &opt.image, 0, 0, "refused: dissection needs many images labelled per pixel (--list)"},
    {"threads", EX_INT, &opt.threads, 0, 256, "worker threads (0: all CPUs)"},
    {"seed", EX_U64, &opt.seed, 0, 1e18, "the seed 00_train used: its held-out images are dissected on (1)"},
    {"out", EX_STRING, &opt.out, 0, 0, "output folder (out/02b_dissection)"},
};

static void load_images(cnnvis_dataset *ds, const cnnvis_net *net);
static int conv_layers(const cnnvis_net *net, const char **layers);
static void print_table(const cnnvis_dissection *dis, int n, const cnnvis_dataset *ds);
static void write_units(cnnvis_net *net, const cnnvis_dissection *dis, const cnnvis_dataset *ds, int count, const char *out);
static void dissect_epochs(const char **layers, int n_conv, const cnnvis_dataset *ds, const cnnvis_dissect_desc *dd);

int main(int argc, char **argv)
{
    const char *layers[MAX_CONV];
    cnnvis_dissection dis[MAX_CONV];
    cnnvis_dissect_desc dd;
    cnnvis_dataset ds;
    cnnvis_net *net;
    cnnvis_image im;
    char path[1100];
    int n_conv, l;
    double t0;
    ex_parse(argc, argv, options, EX_COUNT(options),
             "usage: 02b_dissection [options]\nNetwork Dissection of every conv layer (lecture section 2)");
    if (opt.image) {
        fprintf(stderr, "02b_dissection: --image: dissection scores each unit against concepts labelled on every pixel of "
                "many images, not one photo: pass --list FILE (\"image label_map\" lines) and --concepts NAMES\n");
        return 2;
    }
    ex_out_dir(opt.out);
    net = ex_load_net(opt.checkpoint, opt.threads);
    load_images(&ds, net); /* every pixel labelled with its concepts: the held-out concept images, or --list */
    n_conv = conv_layers(net, layers);

    /* Slide "2. Analyze activations quantitatively": threshold each unit's activation map at
       T_k (its top --quantile over the data set), upscale it to the image, and measure its
       overlap with every concept's pixels, IoU = |A n B| / |A u B|. */
    memset(&dd, 0, sizeof dd);
    dd.quantile = opt.quantile, dd.iou_threshold = opt.iou;
    t0 = ex_seconds();
    ex_check(cnnvis_dissect(dis, net, layers, n_conv, &ds, &dd), "cnnvis_dissect");
    printf("dissected %d conv layers on %d images in %.1f s (quantile %g, IoU > %g)\n", n_conv, ds.n, ex_seconds() - t0,
           opt.quantile, opt.iou);
    print_table(dis, n_conv, &ds);
    ex_check(cnnvis_dissection_plot(&im, dis, n_conv, &ds), "plot");
    ex_write(&im, opt.out, "detectors.png");
    cnnvis_image_free(&im);
    snprintf(path, sizeof path, "%s/dissection.tsv", opt.out);
    ex_check(cnnvis_dissection_write_tsv(path, dis, n_conv, &ds), path);
    printf("wrote %s\n", path);
    for (l = 0; l < n_conv; l++) write_units(net, &dis[l], &ds, opt.units, opt.out); /* units_conv1.png ... */
    for (l = 0; l < n_conv; l++) cnnvis_dissection_free(&dis[l]);
    cnnvis_net_free(net);

    /* Do detectors emerge in training? The same after every epoch, if 00_train kept them. */
    if (!opt.list) dissect_epochs(layers, n_conv, &ds, &dd);
    cnnvis_dataset_free(&ds);
    return 0;
}

/* Your own images: "image label" pairs, one per line, and comma-separated concept names. */
static void load_list(cnnvis_dataset *ds, const cnnvis_net *net, const char *list, const char *concepts)
{
    static char lines[4096][2][512];
    static char names[256][CNNVIS_NAME_LEN];
    const char *img[4096], *lab[4096], *nm[256];
    char line[1100];
    int n = 0, k = 0;
    const char *p = concepts;
    FILE *f = fopen(list, "r");
    if (!f) {
        fprintf(stderr, "--list %s: cannot open\n", list);
        exit(1);
    }
    while (n < 4096 && fgets(line, sizeof line, f))
        if (sscanf(line, "%511s %511s", lines[n][0], lines[n][1]) == 2) img[n] = lines[n][0], lab[n] = lines[n][1], n++;
    fclose(f);
    while (p && *p && k < 256) {
        size_t len = strcspn(p, ",");
        snprintf(names[k], sizeof names[k], "%.*s", (int)(len < CNNVIS_NAME_LEN ? len : CNNVIS_NAME_LEN - 1), p);
        nm[k] = names[k], k++;
        p += len + (p[len] == ',');
    }
    if (k == 0) {
        fprintf(stderr, "--list needs --concepts: the names of the label maps' indices 0, 1, ... in order\n");
        exit(2);
    }
    ex_check(cnnvis_dataset_from_files(ds, img, lab, n, net->desc.in_w, net->desc.in_h, "object", nm, k), list);
}

/* The images to dissect on: --list FILE, or the held-out concept images (which need a net
   of their size). */
static void load_images(cnnvis_dataset *ds, const cnnvis_net *net)
{
    if (opt.list) load_list(ds, net, opt.list, opt.concepts);
    else if (!ex_concepts_fit(net)) {
        fprintf(stderr, "02b_dissection: the net takes %dx%dx%d images and the built-in concept images (labelled per pixel) "
                "are at most 3x128x128: pass --list FILE (\"image label_map\" lines) and --concepts NAMES\n",
                net->desc.in_c, net->desc.in_h, net->desc.in_w);
        exit(1);
    } else
        ex_probe_data(ds, net, "concepts", opt.n_images, opt.seed);
}

/* The names of the net's conv layers, copied (the net is freed and others loaded, whose
   layers have the same names). Returns how many. */
static int conv_layers(const cnnvis_net *net, const char **layers)
{
    static char names[MAX_CONV][CNNVIS_NAME_LEN];
    int i, n = 0;
    for (i = 0; i < net->n_layers && n < MAX_CONV; i++)
        if (net->layers[i].desc.kind == CNNVIS_LAYER_CONV) {
            snprintf(names[n], CNNVIS_NAME_LEN, "%s", net->layers[i].desc.name);
            layers[n] = names[n], n++;
        }
    return n;
}

/* The best detectors of one layer (highest IoU first), each unit's picture stacked. */
static void write_units(cnnvis_net *net, const cnnvis_dissection *dis, const cnnvis_dataset *ds, int count,
                        const char *out)
{
    cnnvis_image tiles[16], im;
    cnnvis_montage_desc md;
    char name[128];
    int best[16], n, u, i;
    for (n = 0; n < count; n++) { /* the count units of highest IoU, by repeated selection */
        best[n] = -1;
        for (u = 0; u < dis->n_units; u++) {
            for (i = 0; i < n && best[i] != u; i++) {
            }
            if (i == n && dis->units[u].iou > 0 && (best[n] < 0 || dis->units[u].iou > dis->units[best[n]].iou)) best[n] = u;
        }
        if (best[n] < 0) break;
    }
    for (i = 0; i < n; i++) ex_check(cnnvis_dissection_unit_image(&tiles[i], net, dis, ds, best[i]), "unit image");
    if (n == 0) return;
    memset(&md, 0, sizeof md);
    md.cols = 1;
    ex_check(cnnvis_montage(&im, tiles, n, NULL, &md), "montage");
    snprintf(name, sizeof name, "units_%s.png", dis->layer_name);
    ex_write(&im, out, name);
    cnnvis_image_free(&im);
    for (i = 0; i < n; i++) cnnvis_image_free(&tiles[i]);
}

static void print_table(const cnnvis_dissection *dis, int n, const cnnvis_dataset *ds)
{
    int l, c;
    printf("\n%-8s %6s", "layer", "units");
    for (c = 0; c < ds->n_categories; c++) printf(" %16s", ds->category_names[c]);
    printf("   (detectors / unique concepts)\n");
    for (l = 0; l < n; l++) {
        printf("%-8s %6d", dis[l].layer_name, dis[l].n_units);
        for (c = 0; c < ds->n_categories; c++) printf(" %10d / %3d", dis[l].detectors[c], dis[l].unique[c]);
        printf("\n");
    }
}

/* Detectors per category in all conv layers after every epoch of training, dissected on the
   first --epoch-images images (nine dissections cost more than one): training.tsv and
   training.png, when 00_train kept a checkpoint per epoch. */
static void dissect_epochs(const char **layers, int n_conv, const cnnvis_dataset *ds, const cnnvis_dissect_desc *dd)
{
    static float counts[CNNVIS_MAX_CATEGORIES][MAX_EPOCH_FILES], xs[MAX_EPOCH_FILES];
    cnnvis_dissection dis[MAX_CONV];
    cnnvis_series series[CNNVIS_MAX_CATEGORIES];
    cnnvis_plot_desc pd;
    cnnvis_dataset first;
    cnnvis_image im;
    char path[1100], dir[1100];
    const char *epochs_dir = opt.epochs_dir;
    FILE *tsv = NULL;
    int e, c, l, n_points = 0;
    if (!epochs_dir) { /* CHECKPOINT's folder/epochs */
        const char *slash = strrchr(opt.checkpoint, '/');
        snprintf(dir, sizeof dir, "%.*s%sepochs", slash ? (int)(slash - opt.checkpoint) : 0, opt.checkpoint,
                 slash ? "/" : "");
        epochs_dir = dir;
    }
    snprintf(path, sizeof path, "%s/training.tsv", opt.out);
    ex_check(cnnvis_dataset_slice(&first, ds, 0, opt.epoch_images < ds->n ? opt.epoch_images : ds->n), "slice");
    for (e = 0; e < MAX_EPOCH_FILES; e++) {
        char ck[1200];
        cnnvis_net *net;
        snprintf(ck, sizeof ck, "%s/epoch_%02d.cnnvis", epochs_dir, e);
        if (!ex_file_exists(ck)) continue;
        net = ex_load_net(ck, opt.threads);
        ex_check(cnnvis_dissect(dis, net, layers, n_conv, &first, dd), "cnnvis_dissect");
        if (!tsv) {
            tsv = fopen(path, "w");
            if (!tsv) {
                fprintf(stderr, "cannot write %s\n", path);
                exit(1);
            }
            fprintf(tsv, "epoch\tlayer\tcategory\tdetectors\tunique\n");
            printf("\ndetectors (all conv layers, on %d images) after each epoch of training:\n", first.n);
        }
        xs[n_points] = (float)e;
        printf("epoch %2d:", e);
        for (c = 0; c < ds->n_categories; c++) {
            int total = 0;
            for (l = 0; l < n_conv; l++) {
                total += dis[l].detectors[c];
                fprintf(tsv, "%d\t%s\t%s\t%d\t%d\n", e, dis[l].layer_name, ds->category_names[c], dis[l].detectors[c],
                        dis[l].unique[c]);
            }
            counts[c][n_points] = (float)total;
            printf("  %s %d", ds->category_names[c], total);
        }
        printf("\n");
        n_points++;
        for (l = 0; l < n_conv; l++) cnnvis_dissection_free(&dis[l]);
        cnnvis_net_free(net);
    }
    if (!tsv) {
        printf("(no %s/epoch_NN.cnnvis: 00_train writes them; the detectors-during-training plot is skipped)\n", epochs_dir);
        return;
    }
    fclose(tsv);
    printf("wrote %s\n", path);
    memset(series, 0, sizeof series);
    for (c = 0; c < ds->n_categories; c++)
        series[c].name = ds->category_names[c], series[c].x = xs, series[c].y = counts[c], series[c].n = n_points;
    memset(&pd, 0, sizeof pd);
    pd.title = "detectors in all conv layers during training", pd.xlabel = "epoch", pd.ylabel = "detectors";
    pd.series = series, pd.n_series = ds->n_categories;
    ex_check(cnnvis_plot_lines(&im, &pd), "plot");
    ex_write(&im, opt.out, "training.png");
    cnnvis_image_free(&im);
}
