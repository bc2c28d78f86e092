/* 05_adversarial.c - lecture section 5: adversarial noise.

   "Problem common to any discriminative method!" Szegedy et al. 2014 found that a change of
   the pixels too small to see moves a trained net to any class one likes. Goodfellow et al.
   2015 explained it by the net being too linear: within ||r||_inf <= eps the loss J rises
   most along sign(dJ/dx), so one gradient gives an adversarial image,
       FGSM:  x' = clamp(x + eps * sign(dJ(x, y)/dx), 0, 1).
   Repeating small such steps and projecting back onto the eps-ball (PGD, Kurakin et al.
   2017; Madry et al. 2018) is stronger still; Szegedy et al.'s own method minimises
   c ||r||_2 + J(x + r, target) with box-constrained L-BFGS and finds the smallest change
   that reaches a chosen class. And from noise alone, gradient ascent makes images the net
   is sure about (Nguyen et al. 2015). Everything is in pixel space: eps = 8/255 moves every
   pixel by at most 8 grey levels.

   Build and run (after 00_train):
       make build/05_adversarial && ./build/05_adversarial
       ./build/05_adversarial --n-test 1000 --n-pgd 200 --n-lbfgs 30   (README.md's figures: the
                          default run is short enough for CI; this one takes minutes)
       ./build/05_adversarial --data fashion --checkpoint out/00_train_fashion/alexnet_mini.cnnvis
       ./build/05_adversarial --second out/00_train_seed2/alexnet_mini.cnnvis   (transfer: train
                          the second net with ./build/00_train --seed 2 --out out/00_train_seed2)
   Output (in --out, default out/05_adversarial/):
       (every picture NAME.png also as NAME.ppm, or NAME.pgm if grey, beside it)
       fgsm.png, pgd.png, lbfgs.png   the slide, one row per image: original | perturbation
                          (amplified, blue -, red +) | adversarial, each with the net's class
                          and probability
       targeted.png       rows of images, columns of target classes: targeted PGD to each
       fooling.png        one image per class grown from noise to p >= 0.99
       curves.png         test accuracy and mean confidence against eps, FGSM and PGD
   Printed: the curves' figures, PGD's accuracy at eps (default 8/255), L-BFGS's success rate
   and mean ||r||_2 beside targeted FGSM's at the smallest eps that reaches the target, and
   the transfer rate to --second if it exists. With --strength 1, what PGD leaves at eps
   against PGD with ten times the steps and targeted PGD toward every class: if these leave
   about as many, the rest is the net's own robustness, not a weak attack.
   Exercises:
       1. On curves.png the confidence stays high while the accuracy falls to zero: what does
          this say about a net's probabilities as a measure of certainty?
       2. Compare the perturbations of fgsm.png and lbfgs.png. Which one follows the object?
       3. Run 05b_adversarial_training and compare its robust net's perturbations (run this
          example with --checkpoint on it): do they look more like the target class? */
#include "cnnvis.h" /* its implementation: examples/cnnvis.c, compiled once and linked */
#include "common.h"

#define MAX_CLASSES 16

/* The command line: each option's value, set to its default here. */
static struct {
    const char *out, *checkpoint, *data, *second;
    int steps, n_test, n_pgd, n_lbfgs, rows, strength, threads;
    float eps; /* in grey levels: eps = N/255 */
    uint64_t seed;
} opt = {.out = "out/05_adversarial", .checkpoint = "out/00_train/alexnet_mini.cnnvis", .data = "concepts",
         .second = "out/00_train_seed2/alexnet_mini.cnnvis", .steps = 20, .n_test = 500, .n_pgd = 50, .n_lbfgs = 5,
         .rows = 6, .eps = 8, .seed = 1};

static const ex_option options[] = {
    {"checkpoint", EX_STRING, &opt.checkpoint, 0, 0, "the trained net (out/00_train/alexnet_mini.cnnvis)"},
    {"data", EX_STRING, &opt.data, 0, 0, "the images it was trained on: concepts, fashion, mnist or cifar10"},
    {"eps", EX_FLOAT, &opt.eps, 0.01, 255, "the budget in grey levels, eps = N/255 (8)"},
    {"steps", EX_INT, &opt.steps, 1, 1000, "PGD's steps (20)"},
    {"n-test", EX_INT, &opt.n_test, 10, 100000, "test images for the FGSM curve (500)"},
    {"n-pgd", EX_INT, &opt.n_pgd, 10, 100000, "test images for the PGD curve and the transfer (50)"},
    {"n-lbfgs", EX_INT, &opt.n_lbfgs, 1, 10000, "test images for L-BFGS (5)"},
    {"rows", EX_INT, &opt.rows, 1, 8, "images on the slides (6)"},
    {"strength", EX_INT, &opt.strength, 0, 1, "1: also PGD with 10x the steps, and toward every class (0)"},
    {"second", EX_STRING, &opt.second, 0, 0, "a second trained net, for the transfer rate"},
    {"threads", EX_INT, &opt.threads, 0, 256, "worker threads (0: all CPUs)"},
    {"seed", EX_U64, &opt.seed, 0, 1e18, "the seed 00_train used: its test images are regenerated (1)"},
    {"out", EX_STRING, &opt.out, 0, 0, "output folder (out/05_adversarial)"},
};

static int32_t *load_images(cnnvis_dataset *ds, cnnvis_tensor *px, const cnnvis_net *net);
static cnnvis_tensor images_of(const cnnvis_tensor *t, int i, int n);
static void write_slide(cnnvis_net *net, const cnnvis_tensor *px, const cnnvis_tensor *adv, const char *title,
                        const char *name);
static void lbfgs_slide(cnnvis_net *net, const cnnvis_tensor *first, const int32_t *labels);
static void targeted(cnnvis_net *net, const cnnvis_tensor *px, const int32_t *labels, const cnnvis_attack_desc *pgd);
static void fooling(cnnvis_net *net);
static void robustness(cnnvis_net *net, const cnnvis_dataset *ds, const cnnvis_tensor *px, const int32_t *labels,
                       const cnnvis_attack_desc *fgsm, const cnnvis_attack_desc *pgd);
static void lbfgs_vs_fgsm(cnnvis_net *net, const cnnvis_tensor *px, const int32_t *labels, const cnnvis_attack_desc *fgsm);
static void transfer(cnnvis_net *net, const cnnvis_dataset *ds, const cnnvis_attack_desc *fgsm,
                     const cnnvis_attack_desc *pgd);

int main(int argc, char **argv)
{
    cnnvis_net *net;
    cnnvis_dataset ds;
    cnnvis_tensor px, first, adv; /* px: the test images' pixels in [0, 1] */
    cnnvis_attack_desc fgsm, pgd;
    int32_t *labels;
    char title[256];
    double t0 = ex_seconds();
    ex_parse(argc, argv, options, EX_COUNT(options),
             "usage: 05_adversarial [options]\nadversarial examples, robustness curves, transfer (lecture section 5)");
    ex_out_dir(opt.out);
    net = ex_load_net(opt.checkpoint, opt.threads);
    labels = load_images(&ds, &px, net); /* --n-test test images */

    /* Slide "Adversarial Examples": a change of the pixels too small to see moves the net to
       another class. FGSM, x' = clamp(x + eps sign(dJ(x, y)/dx), 0, 1), and PGD, small such
       steps projected back onto the eps-ball, on the first --rows test images. */
    memset(&fgsm, 0, sizeof fgsm);
    fgsm.method = CNNVIS_ATTACK_FGSM, fgsm.eps = opt.eps / 255.0f;
    pgd = fgsm, pgd.method = CNNVIS_ATTACK_PGD, pgd.steps = opt.steps, pgd.seed = opt.seed;
    first = images_of(&px, 0, opt.rows < opt.n_test ? opt.rows : opt.n_test);
    ex_check(cnnvis_attack(&adv, NULL, NULL, net, &first, labels, &fgsm), "FGSM");
    snprintf(title, sizeof title, "FGSM: x + %g/255 sign(dJ/dx)", opt.eps);
    write_slide(net, &first, &adv, title, "fgsm.png");
    cnnvis_tensor_free(&adv);
    ex_check(cnnvis_attack(&adv, NULL, NULL, net, &first, labels, &pgd), "PGD");
    snprintf(title, sizeof title, "PGD: %d steps in ||r||_inf <= %g/255", opt.steps, opt.eps);
    write_slide(net, &first, &adv, title, "pgd.png");
    cnnvis_tensor_free(&adv);

    /* Szegedy et al.'s own attack, targets, images from noise, robustness and transfer. */
    lbfgs_slide(net, &first, labels);              /* lbfgs.png */
    targeted(net, &px, labels, &pgd);              /* targeted.png */
    fooling(net);                                  /* fooling.png */
    robustness(net, &ds, &px, labels, &fgsm, &pgd); /* curves.png */
    lbfgs_vs_fgsm(net, &px, labels, &fgsm);
    transfer(net, &ds, &fgsm, &pgd);
    printf("total %.1f s\n", ex_seconds() - t0);
    free(labels);
    cnnvis_tensor_free(&px);
    cnnvis_dataset_free(&ds);
    cnnvis_net_free(net);
    return 0;
}

/* The first --n-test test images of --data as pixels (n, C, H, W) in [0, 1], and their
   labels (returned). --n-pgd and --n-lbfgs are cut to the images there are. */
static int32_t *load_images(cnnvis_dataset *ds, cnnvis_tensor *px, const cnnvis_net *net)
{
    size_t count, q;
    int32_t *labels;
    int i;
    if (net->n_classes > MAX_CLASSES) {
        fprintf(stderr, "05_adversarial: at most %d classes\n", MAX_CLASSES);
        exit(1);
    }
    memset(ds, 0, sizeof *ds);
    ex_probe_data(ds, net, opt.data, opt.n_test, opt.seed);
    opt.n_test = ds->n, opt.n_pgd = opt.n_pgd < opt.n_test ? opt.n_pgd : opt.n_test;
    opt.n_lbfgs = opt.n_lbfgs < opt.n_test ? opt.n_lbfgs : opt.n_test;
    count = (size_t)ds->c * ds->h * ds->w;
    ex_check(cnnvis_tensor_create(px, opt.n_test, ds->c, ds->h, ds->w), "tensor");
    labels = (int32_t *)calloc((size_t)opt.n_test, sizeof(int32_t));
    if (!labels) exit(1);
    for (i = 0; i < opt.n_test; i++) {
        for (q = 0; q < count; q++) px->data[(size_t)i * count + q] = ds->px[(size_t)i * count + q] / 255.0f;
        labels[i] = ds->labels[i];
    }
    return labels;
}

/* A tensor view of images [i, i+n) of t. */
static cnnvis_tensor images_of(const cnnvis_tensor *t, int i, int n)
{
    cnnvis_tensor v = *t;
    v.n = n;
    v.data = t->data + (size_t)i * t->c * t->h * t->w;
    return v;
}

/* The slide's picture, one row per image: original | perturbation (amplified, blue -, red +)
   | adversarial, each with the net's class and probability. */
static void write_slide(cnnvis_net *net, const cnnvis_tensor *px, const cnnvis_tensor *adv, const char *title,
                        const char *name)
{
    cnnvis_image im;
    ex_check(cnnvis_adversarial_image(&im, net, px, adv, 3, title), "cnnvis_adversarial_image");
    ex_write(&im, opt.out, name);
    cnnvis_image_free(&im);
}

/* Pixels (1, C, H, W) as a zoomed tile captioned with the net's class and probability. */
static void captioned_tile(cnnvis_image *tile, char *caption, cnnvis_net *net, const cnnvis_tensor *px, int zoom)
{
    cnnvis_image im;
    cnnvis_map_desc md;
    int32_t cls;
    float probs[MAX_CLASSES]; /* main() checks that the net has at most MAX_CLASSES */
    memset(&md, 0, sizeof md);
    md.mode = CNNVIS_MAP_PIXELS;
    ex_check(cnnvis_tensor_to_image(&im, px, 0, &md), "image");
    ex_check(cnnvis_image_resize(tile, &im, im.w * zoom, im.h * zoom, CNNVIS_RESIZE_NEAREST), "resize");
    cnnvis_image_free(&im);
    ex_check(cnnvis_net_predict(NULL, probs, &cls, net, px), "cnnvis_net_predict");
    snprintf(caption, 64, "%s %.1f%%", cnnvis_net_class_name(net, cls), 100.0 * probs[cls]);
}

static void write_montage(cnnvis_image *tiles, char (*captions)[64], int n, int cols, const char *title, const char *name)
{
    cnnvis_montage_desc md;
    memset(&md, 0, sizeof md);
    md.cols = cols, md.title = title, md.pad = 4;
    ex_write_montage(tiles, captions, n, &md, opt.out, name);
}

static double l2_of(const float *a, const float *b, size_t n)
{
    double s = 0;
    size_t q;
    for (q = 0; q < n; q++) s += (double)(a[q] - b[q]) * (a[q] - b[q]);
    return sqrt(s);
}

/* Box-constrained L-BFGS (Szegedy et al. 2014): min c ||r||_2 + J(x + r, target), each image
   to the class after its own. */
static cnnvis_attack_desc lbfgs_desc(void)
{
    cnnvis_attack_desc d;
    memset(&d, 0, sizeof d);
    d.method = CNNVIS_ATTACK_LBFGS, d.targeted = 1, d.c_search = 6, d.lbfgs_iters = 30;
    return d;
}

/* lbfgs.png: the slide for L-BFGS, each image to the next class. */
static void lbfgs_slide(cnnvis_net *net, const cnnvis_tensor *first, const int32_t *labels)
{
    cnnvis_attack_desc lbfgs = lbfgs_desc();
    cnnvis_tensor l_adv, adv;
    size_t count = (size_t)first->c * first->h * first->w;
    int i;
    ex_check(cnnvis_tensor_create(&l_adv, first->n, first->c, first->h, first->w), "tensor");
    for (i = 0; i < first->n; i++) {
        cnnvis_tensor im = images_of(first, i, 1);
        lbfgs.target = (labels[i] + 1) % net->n_classes;
        ex_check(cnnvis_attack(&adv, NULL, NULL, net, &im, labels + i, &lbfgs), "L-BFGS");
        memcpy(l_adv.data + i * count, adv.data, sizeof(float) * count);
        cnnvis_tensor_free(&adv);
    }
    write_slide(net, first, &l_adv, "L-BFGS: min c|r|_2 + J(x+r, next class)", "lbfgs.png");
    cnnvis_tensor_free(&l_adv);
}

/* targeted.png: targeted PGD, a few images to every class. */
static void targeted(cnnvis_net *net, const cnnvis_tensor *px, const int32_t *labels, const cnnvis_attack_desc *pgd)
{
    static cnnvis_image tiles[MAX_CLASSES * 8];
    static char captions[MAX_CLASSES * 8][64];
    const int K = net->n_classes, shown = opt.rows < opt.n_test ? opt.rows : opt.n_test, n_rows = shown < 4 ? shown : 4;
    cnnvis_attack_desc to = *pgd;
    cnnvis_tensor adv;
    char title[256];
    int i, c, n = 0;
    to.targeted = 1;
    for (i = 0; i < n_rows; i++) {
        cnnvis_tensor im = images_of(px, i, 1);
        captioned_tile(&tiles[n], captions[n], net, &im, 2), n++;
        for (c = 0; c < K; c++) {
            to.target = c;
            ex_check(cnnvis_attack(&adv, NULL, NULL, net, &im, labels + i, &to), "targeted PGD");
            captioned_tile(&tiles[n], captions[n], net, &adv, 2), n++;
            cnnvis_tensor_free(&adv);
        }
    }
    snprintf(title, sizeof title, "targeted PGD, %g/255: original, then each class as the target", opt.eps);
    write_montage(tiles, captions, n, K + 1, title, "targeted.png");
}

/* fooling.png: from noise, sign steps up log p(c) until the net is sure (Nguyen et al. 2015). */
static void fooling(cnnvis_net *net)
{
    cnnvis_image tiles[MAX_CLASSES];
    char captions[MAX_CLASSES][64];
    const int K = net->n_classes;
    cnnvis_tensor one;
    double t = ex_seconds();
    int c;
    for (c = 0; c < K; c++) {
        float p;
        int used;
        ex_check(cnnvis_fooling_image(&one, &p, &used, net, c, NULL), "cnnvis_fooling_image");
        captioned_tile(&tiles[c], captions[c], net, &one, 3);
        printf("fooling image for %-10s p %.4f after %d steps\n", cnnvis_net_class_name(net, c), p, used);
        cnnvis_tensor_free(&one);
    }
    write_montage(tiles, captions, K, K < 5 ? K : 5, "fooling images: noise, then sign steps up log p(c)", "fooling.png");
    printf("fooling images in %.1f s\n\n", ex_seconds() - t);
}

/* --strength 1: is what PGD leaves the net's own robustness, or a weak attack? PGD against
   PGD with ten times the steps and targeted PGD toward every class. */
static void stronger_attacks(cnnvis_net *net, const cnnvis_tensor *px, const int32_t *labels, const cnnvis_attack_desc *pgd)
{
    const int n_pgd = opt.n_pgd, K = net->n_classes;
    cnnvis_tensor some = images_of(px, 0, n_pgd), adv;
    cnnvis_attack_desc longer = *pgd, toward = *pgd;
    int32_t *pred = (int32_t *)calloc((size_t)n_pgd, sizeof(int32_t));
    int *fooled = (int *)calloc((size_t)n_pgd, sizeof(int)), right[3] = {0, 0, 0}, i, c;
    double t = ex_seconds();
    if (!pred || !fooled) exit(1);
    ex_check(cnnvis_attack(&adv, pred, NULL, net, &some, labels, pgd), "PGD");
    cnnvis_tensor_free(&adv);
    for (i = 0; i < n_pgd; i++) right[0] += pred[i] == labels[i], fooled[i] = pred[i] != labels[i];
    longer.steps = 10 * opt.steps;
    ex_check(cnnvis_attack(&adv, pred, NULL, net, &some, labels, &longer), "PGD");
    cnnvis_tensor_free(&adv);
    for (i = 0; i < n_pgd; i++) right[1] += pred[i] == labels[i], fooled[i] |= pred[i] != labels[i];
    toward.targeted = 1; /* an image counts as fooled if any target, or the attacks above, fooled it */
    for (c = 0; c < K; c++) {
        toward.target = c;
        ex_check(cnnvis_attack(&adv, pred, NULL, net, &some, labels, &toward), "targeted PGD");
        cnnvis_tensor_free(&adv);
        for (i = 0; i < n_pgd; i++) fooled[i] |= pred[i] != labels[i];
    }
    for (i = 0; i < n_pgd; i++) right[2] += !fooled[i];
    printf("PGD at eps %g/255 on %d images: %d steps leave %.1f%%, %d steps %.1f%%, and with %d steps toward each "
           "class in turn as well %.1f%% (%.1f s)\n", opt.eps, n_pgd, opt.steps, 100.0 * right[0] / n_pgd, longer.steps,
           100.0 * right[1] / n_pgd, opt.steps, 100.0 * right[2] / n_pgd, ex_seconds() - t);
    free(pred), free(fooled);
}

/* Robustness curves: test accuracy and mean confidence against eps under FGSM (--n-test
   images) and PGD (--n-pgd), printed and as curves.png. */
static void robustness(cnnvis_net *net, const cnnvis_dataset *ds, const cnnvis_tensor *px, const int32_t *labels,
                       const cnnvis_attack_desc *fgsm, const cnnvis_attack_desc *pgd)
{
    static const float grid[] = {0, 1, 2, 3, 4, 6, 8, 12, 16}; /* eps in grey levels */
    enum { N_GRID = sizeof grid / sizeof grid[0] };
    const char *names[4] = {"FGSM accuracy", "PGD accuracy", "FGSM mean confidence", "PGD mean confidence"};
    float eps[N_GRID], x_levels[N_GRID], acc[2][N_GRID], conf[2][N_GRID];
    cnnvis_series s[4];
    cnnvis_plot_desc pd;
    cnnvis_image im;
    char title[256];
    double t;
    int k, monotone = 1;
    for (k = 0; k < N_GRID; k++) eps[k] = grid[k] / 255.0f, x_levels[k] = grid[k];
    t = ex_seconds();
    ex_check(cnnvis_robustness_curve(acc[0], conf[0], net, ds, opt.n_test, fgsm, eps, N_GRID, 1), "FGSM curve");
    printf("FGSM curve on %d images in %.1f s\n", opt.n_test, ex_seconds() - t);
    t = ex_seconds();
    ex_check(cnnvis_robustness_curve(acc[1], conf[1], net, ds, opt.n_pgd, pgd, eps, N_GRID, 1), "PGD curve");
    printf("PGD(%d) curve on %d images in %.1f s\n", opt.steps, opt.n_pgd, ex_seconds() - t);
    printf("%8s %10s %10s %10s %10s\n", "eps*255", "FGSM acc", "FGSM conf", "PGD acc", "PGD conf");
    for (k = 0; k < N_GRID; k++) {
        printf("%8g %9.1f%% %9.1f%% %9.1f%% %9.1f%%\n", grid[k], 100 * acc[0][k], 100 * conf[0][k], 100 * acc[1][k],
               100 * conf[1][k]);
        if (k && acc[0][k] > acc[0][k - 1]) monotone = 0;
    }
    printf("FGSM accuracy %s along eps\n", monotone ? "falls monotonically" : "does NOT fall monotonically");
    if (opt.strength) stronger_attacks(net, px, labels, pgd);
    for (k = 0; k < N_GRID; k++)
        if (grid[k] == opt.eps) printf("PGD(%d) at eps %g/255: accuracy %.1f%% (clean %.1f%%)\n", opt.steps, opt.eps,
                                       100 * acc[1][k], 100 * acc[1][0]);
    memset(s, 0, sizeof s), memset(&pd, 0, sizeof pd);
    for (k = 0; k < 4; k++) s[k].name = names[k], s[k].x = x_levels, s[k].y = k < 2 ? acc[k] : conf[k - 2], s[k].n = N_GRID;
    snprintf(title, sizeof title, "robustness on %s: FGSM (%d images), PGD-%d (%d images)", opt.data, opt.n_test, opt.steps,
             opt.n_pgd);
    pd.title = title, pd.xlabel = "eps (grey levels, /255)", pd.ylabel = "accuracy, confidence";
    pd.series = s, pd.n_series = 4, pd.ymin = 0, pd.ymax = 1;
    ex_check(cnnvis_plot_lines(&im, &pd), "plot");
    ex_write(&im, opt.out, "curves.png");
    cnnvis_image_free(&im);
}

/* L-BFGS against targeted FGSM: the size ||r||_2 of the smallest change that reaches the
   next class, FGSM at the smallest eps of its grid that gets there. */
static void lbfgs_vs_fgsm(cnnvis_net *net, const cnnvis_tensor *px, const int32_t *labels, const cnnvis_attack_desc *fgsm)
{
    static const float fgsm_grid[] = {1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128};
    enum { N_FGSM = sizeof fgsm_grid / sizeof fgsm_grid[0] };
    const size_t count = (size_t)px->c * px->h * px->w;
    cnnvis_attack_desc lbfgs = lbfgs_desc();
    cnnvis_tensor adv;
    double t = ex_seconds(), r_lbfgs = 0, r_fgsm = 0, r_lbfgs_both = 0;
    int i, k, lbfgs_ok = 0, both = 0;
    for (i = 0; i < opt.n_lbfgs; i++) {
        cnnvis_tensor im = images_of(px, i, 1);
        cnnvis_attack_desc to = *fgsm;
        int32_t cls;
        double r_f = -1;
        lbfgs.target = to.target = (labels[i] + 1) % net->n_classes, to.targeted = 1;
        ex_check(cnnvis_attack(&adv, &cls, NULL, net, &im, labels + i, &lbfgs), "L-BFGS");
        if (cls == lbfgs.target) lbfgs_ok++, r_lbfgs += l2_of(adv.data, im.data, count);
        for (k = 0; k < N_FGSM && r_f < 0; k++) {
            cnnvis_tensor f_adv;
            int32_t f_cls;
            to.eps = fgsm_grid[k] / 255.0f;
            ex_check(cnnvis_attack(&f_adv, &f_cls, NULL, net, &im, labels + i, &to), "targeted FGSM");
            if (f_cls == to.target) r_f = l2_of(f_adv.data, im.data, count);
            cnnvis_tensor_free(&f_adv);
        }
        if (cls == lbfgs.target && r_f >= 0) both++, r_fgsm += r_f, r_lbfgs_both += l2_of(adv.data, im.data, count);
        cnnvis_tensor_free(&adv);
    }
    printf("\nL-BFGS to the next class: %d of %d images (%.1f%%), mean ||r||_2 %.3f (%.1f s)\n", lbfgs_ok, opt.n_lbfgs,
           100.0 * lbfgs_ok / opt.n_lbfgs, lbfgs_ok ? r_lbfgs / lbfgs_ok : 0.0, ex_seconds() - t);
    printf("on the %d images where targeted FGSM also gets there (at its smallest eps of the grid): ||r||_2 L-BFGS %.3f, "
           "FGSM %.3f\n", both, both ? r_lbfgs_both / both : 0.0, both ? r_fgsm / both : 0.0);
}

/* Transfer to --second, a net trained with another seed: of the images an attack on this
   net fools it on, how many fool the second net too? */
static void transfer(cnnvis_net *net, const cnnvis_dataset *ds, const cnnvis_attack_desc *fgsm,
                     const cnnvis_attack_desc *pgd)
{
    cnnvis_net *other;
    float rate, fooled;
    if (!ex_file_exists(opt.second)) {
        printf("\n(no second net at %s: train one with ./build/00_train --seed 2 --out out/00_train_seed2 for the "
               "transfer rate)\n", opt.second);
        return;
    }
    other = ex_load_net(opt.second, opt.threads);
    ex_check(cnnvis_transfer_rate(&rate, &fooled, net, other, ds, opt.n_pgd, fgsm), "transfer");
    printf("\ntransfer to %s: FGSM %g/255 fools this net on %.1f%% of the images both classify right; %.1f%% of "
           "those fool the second net too\n", opt.second, opt.eps, 100 * fooled, 100 * rate);
    ex_check(cnnvis_transfer_rate(&rate, &fooled, net, other, ds, opt.n_pgd, pgd), "transfer");
    printf("   PGD(%d) %g/255: fools this net on %.1f%%; %.1f%% of those fool the second net too\n", opt.steps, opt.eps,
           100 * fooled, 100 * rate);
    cnnvis_net_free(other);
}
