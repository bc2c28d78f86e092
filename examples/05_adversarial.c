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
#define MAX_EPS 16

/* A tensor view of images [i, i+n) of t. */
static cnnvis_tensor images_of(const cnnvis_tensor *t, int i, int n)
{
    cnnvis_tensor v = *t;
    v.n = n;
    v.data = t->data + (size_t)i * t->c * t->h * t->w;
    return v;
}

static void write_slide(cnnvis_net *net, const cnnvis_tensor *px, const cnnvis_tensor *adv, const char *title,
                        const char *out, const char *name)
{
    cnnvis_image im;
    ex_check(cnnvis_adversarial_image(&im, net, px, adv, 3, title), "cnnvis_adversarial_image");
    ex_write(&im, out, name);
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

static void write_montage(cnnvis_image *tiles, char (*captions)[64], int n, int cols, const char *title, const char *out,
                          const char *name)
{
    const char *caps[MAX_CLASSES * 8] = {0};
    cnnvis_montage_desc md;
    cnnvis_image im;
    int i;
    for (i = 0; i < n; i++) caps[i] = captions[i];
    memset(&md, 0, sizeof md);
    md.cols = cols, md.title = title, md.pad = 4;
    ex_check(cnnvis_montage(&im, tiles, n, caps, &md), "montage");
    ex_write(&im, out, name);
    cnnvis_image_free(&im);
    for (i = 0; i < n; i++) cnnvis_image_free(&tiles[i]);
}

static double l2_of(const float *a, const float *b, size_t n)
{
    double s = 0;
    size_t q;
    for (q = 0; q < n; q++) s += (double)(a[q] - b[q]) * (a[q] - b[q]);
    return sqrt(s);
}

int main(int argc, char **argv)
{
    const char *out = "out/05_adversarial", *checkpoint = "out/00_train/alexnet_mini.cnnvis", *data = "concepts";
    const char *second = "out/00_train_seed2/alexnet_mini.cnnvis";
    int threads = 0, n_test = 500, n_pgd = 50, n_lbfgs = 5, steps = 20, rows = 6, strength = 0;
    float eps_levels = 8;
    uint64_t seed = 1;
    ex_option opts[] = {
        {"checkpoint", EX_STRING, &checkpoint, 0, 0, "the trained net (out/00_train/alexnet_mini.cnnvis)"},
        {"data", EX_STRING, &data, 0, 0, "the images it was trained on: concepts, fashion, mnist or cifar10"},
        {"eps", EX_FLOAT, &eps_levels, 0.01, 255, "the budget in grey levels, eps = N/255 (8)"},
        {"steps", EX_INT, &steps, 1, 1000, "PGD's steps (20)"},
        {"n-test", EX_INT, &n_test, 10, 100000, "test images for the FGSM curve (500)"},
        {"n-pgd", EX_INT, &n_pgd, 10, 100000, "test images for the PGD curve and the transfer (50)"},
        {"n-lbfgs", EX_INT, &n_lbfgs, 1, 10000, "test images for L-BFGS (5)"},
        {"rows", EX_INT, &rows, 1, 8, "images on the slides (6)"},
        {"strength", EX_INT, &strength, 0, 1, "1: also PGD with 10x the steps, and toward every class (0)"},
        {"second", EX_STRING, &second, 0, 0, "a second trained net, for the transfer rate"},
        {"threads", EX_INT, &threads, 0, 256, "worker threads (0: all CPUs)"},
        {"seed", EX_U64, &seed, 0, 1e18, "the seed 00_train used: its test images are regenerated (1)"},
        {"out", EX_STRING, &out, 0, 0, "output folder (out/05_adversarial)"},
    };
    static const float grid[] = {0, 1, 2, 3, 4, 6, 8, 12, 16}; /* eps in grey levels for the curves */
    static const float fgsm_grid[] = {1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128};
    enum { N_GRID = sizeof grid / sizeof grid[0], N_FGSM = sizeof fgsm_grid / sizeof fgsm_grid[0] };
    cnnvis_net *net;
    cnnvis_dataset ds;
    cnnvis_tensor px, adv, one;
    cnnvis_attack_desc fgsm, pgd, lbfgs;
    cnnvis_image tiles[MAX_CLASSES * 8];
    char captions[MAX_CLASSES * 8][64], title[256];
    float eps[N_GRID], x_levels[N_GRID], acc[2][N_GRID], conf[2][N_GRID];
    int32_t *labels;
    size_t count;
    int i, k, c, K, n_show, monotone = 1, lbfgs_ok = 0, both = 0;
    double t0 = ex_seconds(), t, r_lbfgs = 0, r_fgsm = 0, r_lbfgs_both = 0;
    ex_parse(argc, argv, opts, (int)(sizeof opts / sizeof opts[0]),
             "usage: 05_adversarial [options]\nadversarial examples, robustness curves, transfer (lecture section 5)");
    if (ex_mkdirs(out) != 0) {
        fprintf(stderr, "05_adversarial: cannot create %s\n", out);
        return 1;
    }
    net = ex_load_net(checkpoint, threads);
    K = net->n_classes;
    if (K > MAX_CLASSES) {
        fprintf(stderr, "05_adversarial: at most %d classes\n", MAX_CLASSES);
        return 1;
    }
    memset(&ds, 0, sizeof ds);
    ex_probe_data(&ds, net, data, n_test, seed);
    n_test = ds.n, n_pgd = n_pgd < n_test ? n_pgd : n_test, n_lbfgs = n_lbfgs < n_test ? n_lbfgs : n_test;
    count = (size_t)ds.c * ds.h * ds.w;
    ex_check(cnnvis_tensor_create(&px, n_test, ds.c, ds.h, ds.w), "tensor");
    labels = (int32_t *)calloc((size_t)n_test, sizeof(int32_t));
    if (!labels) return 1;
    for (i = 0; i < n_test; i++) {
        size_t q;
        for (q = 0; q < count; q++) px.data[(size_t)i * count + q] = ds.px[(size_t)i * count + q] / 255.0f;
        labels[i] = ds.labels[i];
    }
    memset(&fgsm, 0, sizeof fgsm), memset(&pgd, 0, sizeof pgd), memset(&lbfgs, 0, sizeof lbfgs);
    fgsm.method = CNNVIS_ATTACK_FGSM, fgsm.eps = eps_levels / 255.0f;
    pgd = fgsm, pgd.method = CNNVIS_ATTACK_PGD, pgd.steps = steps, pgd.seed = seed;
    lbfgs.method = CNNVIS_ATTACK_LBFGS, lbfgs.targeted = 1, lbfgs.c_search = 6, lbfgs.lbfgs_iters = 30;

    /* The slides: FGSM and PGD at eps, L-BFGS to the next class. */
    n_show = rows < n_test ? rows : n_test;
    {
        cnnvis_tensor first = images_of(&px, 0, n_show), l_adv;
        ex_check(cnnvis_attack(&adv, NULL, NULL, net, &first, labels, &fgsm), "FGSM");
        snprintf(title, sizeof title, "FGSM: x + %g/255 sign(dJ/dx)", eps_levels);
        write_slide(net, &first, &adv, title, out, "fgsm.png");
        cnnvis_tensor_free(&adv);
        ex_check(cnnvis_attack(&adv, NULL, NULL, net, &first, labels, &pgd), "PGD");
        snprintf(title, sizeof title, "PGD: %d steps in ||r||_inf <= %g/255", steps, eps_levels);
        write_slide(net, &first, &adv, title, out, "pgd.png");
        cnnvis_tensor_free(&adv);
        ex_check(cnnvis_tensor_create(&l_adv, n_show, ds.c, ds.h, ds.w), "tensor");
        for (i = 0; i < n_show; i++) { /* each image to the class after its own */
            cnnvis_tensor im = images_of(&first, i, 1);
            lbfgs.target = (labels[i] + 1) % K;
            ex_check(cnnvis_attack(&adv, NULL, NULL, net, &im, labels + i, &lbfgs), "L-BFGS");
            memcpy(l_adv.data + i * count, adv.data, sizeof(float) * count);
            cnnvis_tensor_free(&adv);
        }
        write_slide(net, &first, &l_adv, "L-BFGS: min c|r|_2 + J(x+r, next class)", out, "lbfgs.png");
        cnnvis_tensor_free(&l_adv);
    }

    /* Targeted PGD: a few images to every class. */
    {
        int n_rows = n_show < 4 ? n_show : 4, n = 0;
        cnnvis_attack_desc to = pgd;
        to.targeted = 1;
        for (i = 0; i < n_rows; i++) {
            cnnvis_tensor im = images_of(&px, i, 1);
            captioned_tile(&tiles[n], captions[n], net, &im, 2), n++;
            for (c = 0; c < K; c++) {
                to.target = c;
                ex_check(cnnvis_attack(&adv, NULL, NULL, net, &im, labels + i, &to), "targeted PGD");
                captioned_tile(&tiles[n], captions[n], net, &adv, 2), n++;
                cnnvis_tensor_free(&adv);
            }
        }
        snprintf(title, sizeof title, "targeted PGD, %g/255: original, then each class as the target", eps_levels);
        write_montage(tiles, captions, n, K + 1, title, out, "targeted.png");
    }

    /* Fooling images from noise. */
    t = ex_seconds();
    for (c = 0; c < K; c++) {
        float p;
        int used;
        ex_check(cnnvis_fooling_image(&one, &p, &used, net, c, NULL), "cnnvis_fooling_image");
        captioned_tile(&tiles[c], captions[c], net, &one, 3);
        printf("fooling image for %-10s p %.4f after %d steps\n", cnnvis_net_class_name(net, c), p, used);
        cnnvis_tensor_free(&one);
    }
    write_montage(tiles, captions, K, K < 5 ? K : 5, "fooling images: noise, then sign steps up log p(c)", out, "fooling.png");
    printf("fooling images in %.1f s\n\n", ex_seconds() - t);

    /* Robustness curves. */
    for (k = 0; k < N_GRID; k++) eps[k] = grid[k] / 255.0f, x_levels[k] = grid[k];
    t = ex_seconds();
    ex_check(cnnvis_robustness_curve(acc[0], conf[0], net, &ds, n_test, &fgsm, eps, N_GRID, 1), "FGSM curve");
    printf("FGSM curve on %d images in %.1f s\n", n_test, ex_seconds() - t);
    t = ex_seconds();
    ex_check(cnnvis_robustness_curve(acc[1], conf[1], net, &ds, n_pgd, &pgd, eps, N_GRID, 1), "PGD curve");
    printf("PGD(%d) curve on %d images in %.1f s\n", steps, n_pgd, ex_seconds() - t);
    printf("%8s %10s %10s %10s %10s\n", "eps*255", "FGSM acc", "FGSM conf", "PGD acc", "PGD conf");
    for (k = 0; k < N_GRID; k++) {
        printf("%8g %9.1f%% %9.1f%% %9.1f%% %9.1f%%\n", grid[k], 100 * acc[0][k], 100 * conf[0][k], 100 * acc[1][k],
               100 * conf[1][k]);
        if (k && acc[0][k] > acc[0][k - 1]) monotone = 0;
    }
    printf("FGSM accuracy %s along eps\n", monotone ? "falls monotonically" : "does NOT fall monotonically");
    if (strength) { /* is what PGD leaves the net's own robustness, or a weak attack? */
        cnnvis_tensor some = images_of(&px, 0, n_pgd);
        cnnvis_attack_desc longer = pgd, toward = pgd;
        int32_t *pred = (int32_t *)calloc((size_t)n_pgd, sizeof(int32_t));
        int *fooled = (int *)calloc((size_t)n_pgd, sizeof(int)), right[3] = {0, 0, 0};
        if (!pred || !fooled) return 1;
        t = ex_seconds();
        ex_check(cnnvis_attack(&adv, pred, NULL, net, &some, labels, &pgd), "PGD");
        cnnvis_tensor_free(&adv);
        for (i = 0; i < n_pgd; i++) right[0] += pred[i] == labels[i], fooled[i] = pred[i] != labels[i];
        longer.steps = 10 * steps;
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
               "class in turn as well %.1f%% (%.1f s)\n", eps_levels, n_pgd, steps, 100.0 * right[0] / n_pgd, longer.steps,
               100.0 * right[1] / n_pgd, steps, 100.0 * right[2] / n_pgd, ex_seconds() - t);
        free(pred), free(fooled);
    }
    for (k = 0; k < N_GRID; k++)
        if (grid[k] == eps_levels) printf("PGD(%d) at eps %g/255: accuracy %.1f%% (clean %.1f%%)\n", steps, eps_levels,
                                          100 * acc[1][k], 100 * acc[1][0]);
    {
        cnnvis_series s[4];
        cnnvis_plot_desc pd;
        cnnvis_image im;
        const char *names[4] = {"FGSM accuracy", "PGD accuracy", "FGSM mean confidence", "PGD mean confidence"};
        memset(s, 0, sizeof s), memset(&pd, 0, sizeof pd);
        for (k = 0; k < 4; k++) s[k].name = names[k], s[k].x = x_levels, s[k].y = k < 2 ? acc[k] : conf[k - 2], s[k].n = N_GRID;
        snprintf(title, sizeof title, "robustness on %s: FGSM (%d images), PGD-%d (%d images)", data, n_test, steps, n_pgd);
        pd.title = title, pd.xlabel = "eps (grey levels, /255)", pd.ylabel = "accuracy, confidence";
        pd.series = s, pd.n_series = 4, pd.ymin = 0, pd.ymax = 1;
        ex_check(cnnvis_plot_lines(&im, &pd), "plot");
        ex_write(&im, out, "curves.png");
        cnnvis_image_free(&im);
    }

    /* L-BFGS against targeted FGSM: the size of the smallest change that reaches the next class. */
    t = ex_seconds();
    for (i = 0; i < n_lbfgs; i++) {
        cnnvis_tensor im = images_of(&px, i, 1);
        cnnvis_attack_desc to = fgsm;
        int32_t cls;
        double r_f = -1;
        lbfgs.target = to.target = (labels[i] + 1) % K, to.targeted = 1;
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
    printf("\nL-BFGS to the next class: %d of %d images (%.1f%%), mean ||r||_2 %.3f (%.1f s)\n", lbfgs_ok, n_lbfgs,
           100.0 * lbfgs_ok / n_lbfgs, lbfgs_ok ? r_lbfgs / lbfgs_ok : 0.0, ex_seconds() - t);
    printf("on the %d images where targeted FGSM also gets there (at its smallest eps of the grid): ||r||_2 L-BFGS %.3f, "
           "FGSM %.3f\n", both, both ? r_lbfgs_both / both : 0.0, both ? r_fgsm / both : 0.0);

    /* Transfer to a second net trained with another seed. */
    if (ex_file_exists(second)) {
        cnnvis_net *other = ex_load_net(second, threads);
        float rate, fooled;
        ex_check(cnnvis_transfer_rate(&rate, &fooled, net, other, &ds, n_pgd, &fgsm), "transfer");
        printf("\ntransfer to %s: FGSM %g/255 fools this net on %.1f%% of the images both classify right; %.1f%% of "
               "those fool the second net too\n", second, eps_levels, 100 * fooled, 100 * rate);
        ex_check(cnnvis_transfer_rate(&rate, &fooled, net, other, &ds, n_pgd, &pgd), "transfer");
        printf("   PGD(%d) %g/255: fools this net on %.1f%%; %.1f%% of those fool the second net too\n", steps, eps_levels,
               100 * fooled, 100 * rate);
        cnnvis_net_free(other);
    } else {
        printf("\n(no second net at %s: train one with ./build/00_train --seed 2 --out out/00_train_seed2 for the "
               "transfer rate)\n", second);
    }
    printf("total %.1f s\n", ex_seconds() - t0);
    free(labels);
    cnnvis_tensor_free(&px);
    cnnvis_dataset_free(&ds);
    cnnvis_net_free(net);
    return 0;
}
