/* 05b_adversarial_training.c - lecture section 5: adversarial training.

   Goodfellow et al. 2015 trained on a mix of clean and FGSM images and found the net more
   robust; Madry et al. 2018 framed it as a min-max problem, min_w E max_{||r|| <= eps}
   J(x + r, y; w), the inner max found by PGD. This example takes the net 00_train made and
   fine-tunes it with cnnvis_train_desc.adversarial set: in every batch, half the images are
   replaced by adversarial ones crafted against the net as it is at that step. The attack
   is one step of size 1.25 eps from a random point of the eps-ball ("FGSM with a random
   start", Wong et al. 2020), which costs one extra forward and backward pass per image and
   works about as well as multi-step PGD at this eps. Then both nets face the same attacks.

   Build and run (after 00_train):
       make build/05b_adversarial_training && ./build/05b_adversarial_training
                          (a short fine-tuning, one epoch on 5000 images; docs/results.md's
                          table comes from the full one, about a minute and a half:)
       ./build/05b_adversarial_training --epochs 2 --n-train 20000 --n-test 1000 --n-pgd 200
       ./build/05b_adversarial_training --data fashion --checkpoint out/00_train_fashion/alexnet_mini.cnnvis
   Output (in --out, default out/05b_adversarial_training/):
       (every picture NAME.png also as NAME.ppm, or NAME.pgm if grey, beside it)
       alexnet_mini_robust.cnnvis   the fine-tuned net
       curves.png         accuracy against eps under FGSM and PGD, plain net beside robust net
       pgd_plain.png, pgd_robust.png   the slide for each net: original | perturbation | PGD image
   Printed: the clean accuracy and the accuracy under FGSM and PGD(20) at each eps, of both.
   Exercises:
       1. How much clean accuracy does the robust net give up? (Tsipras et al. 2019 argue that
          some loss is unavoidable.)
       2. Compare pgd_plain.png and pgd_robust.png: whose perturbation looks like a shape?
       3. Train with --share 1 (only adversarial images) or with --steps 3 (PGD): what changes? */
#include "cnnvis.h" /* its implementation: examples/cnnvis.c, compiled once and linked */
#include "common.h"

/* The command line: each option's value, set to its default here. */
static struct {
    const char *out, *checkpoint, *data;
    int epochs, steps, n_train, n_test, n_pgd, pgd_steps, threads;
    float eps, lr, share; /* eps in grey levels: N/255 */
    uint64_t seed;
} opt = {.out = "out/05b_adversarial_training", .checkpoint = "out/00_train/alexnet_mini.cnnvis", .data = "concepts",
         .epochs = 1, .steps = 1, .n_train = 5000, .n_test = 500, .n_pgd = 50, .pgd_steps = 20, .eps = 8, .lr = 0.001f,
         .share = 0.5f, .seed = 1};

static const ex_option options[] = {
    {"checkpoint", EX_STRING, &opt.checkpoint, 0, 0, "the trained net (out/00_train/alexnet_mini.cnnvis)"},
    {"data", EX_STRING, &opt.data, 0, 0, "the images it was trained on: concepts, fashion or mnist"},
    {"eps", EX_FLOAT, &opt.eps, 0.01, 255, "the budget in grey levels, eps = N/255 (8)"},
    {"epochs", EX_INT, &opt.epochs, 1, 1000, "epochs of adversarial fine-tuning (1)"},
    {"lr", EX_FLOAT, &opt.lr, 1e-6, 1, "Adam's initial learning rate, cosine schedule (0.001)"},
    {"steps", EX_INT, &opt.steps, 1, 100, "attack steps in training (1: FGSM with a random start)"},
    {"share", EX_FLOAT, &opt.share, 0.01, 1, "share of each batch made adversarial (0.5)"},
    {"n-train", EX_INT, &opt.n_train, 100, 1000000, "concept training images (5000; 00_train used 24000)"},
    {"n-test", EX_INT, &opt.n_test, 10, 100000, "test images for the FGSM curves (500)"},
    {"n-pgd", EX_INT, &opt.n_pgd, 10, 100000, "test images for the PGD curves (50)"},
    {"pgd-steps", EX_INT, &opt.pgd_steps, 1, 1000, "PGD's steps in the evaluation (20)"},
    {"threads", EX_INT, &opt.threads, 0, 256, "worker threads (0: all CPUs)"},
    {"seed", EX_U64, &opt.seed, 0, 1e18, "the seed 00_train used (1)"},
    {"out", EX_STRING, &opt.out, 0, 0, "output folder (out/05b_adversarial_training)"},
};

static void load_images(cnnvis_dataset *train, cnnvis_dataset *test, const cnnvis_net *net);
static void compare(cnnvis_net *plain, cnnvis_net *robust, const cnnvis_dataset *test);
static void pgd_slide(cnnvis_net *net, const cnnvis_dataset *test, const char *which);

int main(int argc, char **argv)
{
    cnnvis_net *plain, *robust;
    cnnvis_dataset train, test;
    cnnvis_train_desc t;
    cnnvis_attack_desc attack;
    char path[1100];
    double t0 = ex_seconds();
    ex_parse(argc, argv, options, EX_COUNT(options),
             "usage: 05b_adversarial_training [options]\nadversarial training, robust vs plain (lecture section 5)");
    ex_out_dir(opt.out);
    plain = ex_load_net(opt.checkpoint, opt.threads);
    robust = ex_load_net(opt.checkpoint, opt.threads); /* the copy fine-tuned */
    load_images(&train, &test, plain);

    /* Slide "Adversarial Examples", and the defence: fine-tune on them. In every batch a
       share of the images is replaced by adversarial ones crafted against the net as it is
       at that step: one step of 1.25 eps from a random point of the eps-ball (Wong et al.). */
    memset(&attack, 0, sizeof attack);
    attack.method = CNNVIS_ATTACK_PGD, attack.eps = opt.eps / 255.0f, attack.steps = opt.steps, attack.random_start = 1;
    attack.step = opt.steps == 1 ? 1.25f * attack.eps : 2.5f * attack.eps / opt.steps, attack.seed = opt.seed;
    memset(&t, 0, sizeof t);
    t.optimizer = CNNVIS_OPTIM_ADAM; /* as 00_train */
    t.epochs = opt.epochs, t.lr = opt.lr, t.seed = opt.seed, t.warmup = -1, t.dropout_ramp = -1;
    t.crop_pad = strcmp(opt.data, "concepts") ? train.h / 16 : 0, t.flip = strcmp(opt.data, "fashion") == 0;
    t.adversarial = &attack, t.adversarial_share = opt.share;
    printf("adversarial fine-tuning: %d epoch%s on %d images, %s of each batch attacked (%d step%s, eps %g/255)\n",
           opt.epochs, opt.epochs == 1 ? "" : "s", train.n, opt.share >= 1 ? "all" : "a share", opt.steps,
           opt.steps > 1 ? "s" : "", opt.eps);
    ex_check(cnnvis_net_train(robust, &train, NULL, &t), "cnnvis_net_train");
    snprintf(path, sizeof path, "%s/alexnet_mini_robust.cnnvis", opt.out);
    ex_check(cnnvis_net_save(path, robust), path);
    printf("saved %s (%.0f s)\n", path, ex_seconds() - t0);

    /* Both nets against the same attacks. */
    compare(plain, robust, &test);     /* printed, and curves.png */
    pgd_slide(plain, &test, "plain");   /* pgd_plain.png */
    pgd_slide(robust, &test, "robust"); /* pgd_robust.png */
    printf("total %.0f s\n", ex_seconds() - t0);
    cnnvis_dataset_free(&train), cnnvis_dataset_free(&test);
    cnnvis_net_free(plain), cnnvis_net_free(robust);
    return 0;
}

/* The first --n-train training images of --data (the concept images made again from 00_train's
   seed), and --n-test of its test images. */
static void load_images(cnnvis_dataset *train, cnnvis_dataset *test, const cnnvis_net *net)
{
    memset(train, 0, sizeof *train), memset(test, 0, sizeof *test);
    if (strcmp(opt.data, "concepts") == 0) {
        ex_make_concepts(train, NULL, opt.n_train, opt.seed);
    } else {
        cnnvis_dataset unused;
        if (ex_load_idx(strcmp(opt.data, "fashion") == 0 ? "fashion-mnist" : "mnist", train, &unused) != CNNVIS_OK) exit(1);
        cnnvis_dataset_free(&unused);
        if (opt.n_train < train->n) train->n = opt.n_train;
    }
    ex_probe_data(test, net, opt.data, opt.n_test, opt.seed);
    opt.n_test = test->n;
}

/* The accuracy of a net against eps: FGSM on n_test images (acc[0]), PGD on n_pgd (acc[1]). */
static void curves(float acc[2][16], cnnvis_net *net, const cnnvis_dataset *test, int n_test, int n_pgd, const float *eps,
                   int n_eps, float eps_levels, int pgd_steps)
{
    cnnvis_attack_desc d;
    memset(&d, 0, sizeof d);
    d.method = CNNVIS_ATTACK_FGSM, d.eps = eps_levels / 255.0f;
    ex_check(cnnvis_robustness_curve(acc[0], NULL, net, test, n_test, &d, eps, n_eps, 1), "FGSM curve");
    d.method = CNNVIS_ATTACK_PGD, d.steps = pgd_steps;
    ex_check(cnnvis_robustness_curve(acc[1], NULL, net, test, n_pgd, &d, eps, n_eps, 1), "PGD curve");
}

/* Clean accuracy and the accuracy under FGSM and PGD at each eps, of both nets: printed,
   and as curves.png. */
static void compare(cnnvis_net *plain, cnnvis_net *robust, const cnnvis_dataset *test)
{
    static const float grid[] = {0, 1, 2, 4, 6, 8, 12, 16};
    enum { N_GRID = sizeof grid / sizeof grid[0] };
    const char *names[4] = {"plain, FGSM", "plain, PGD", "robust, FGSM", "robust, PGD"};
    float eps[N_GRID], x_levels[N_GRID], acc[2][2][16];
    cnnvis_eval ev[2];
    cnnvis_series s[4];
    cnnvis_plot_desc pd;
    cnnvis_image im;
    char title[256];
    int k;
    for (k = 0; k < N_GRID; k++) eps[k] = grid[k] / 255.0f, x_levels[k] = grid[k];
    ex_check(cnnvis_net_evaluate(&ev[0], plain, test), "evaluate");
    ex_check(cnnvis_net_evaluate(&ev[1], robust, test), "evaluate");
    curves(acc[0], plain, test, opt.n_test, opt.n_pgd, eps, N_GRID, opt.eps, opt.pgd_steps);
    curves(acc[1], robust, test, opt.n_test, opt.n_pgd, eps, N_GRID, opt.eps, opt.pgd_steps);
    printf("\nclean test accuracy: plain %.1f%%, robust %.1f%% (%d images)\n", 100 * ev[0].accuracy, 100 * ev[1].accuracy,
           opt.n_test);
    printf("%8s %12s %12s %12s %12s\n", "eps*255", "plain FGSM", "robust FGSM", "plain PGD", "robust PGD");
    for (k = 0; k < N_GRID; k++)
        printf("%8g %11.1f%% %11.1f%% %11.1f%% %11.1f%%\n", grid[k], 100 * acc[0][0][k], 100 * acc[1][0][k],
               100 * acc[0][1][k], 100 * acc[1][1][k]);
    memset(s, 0, sizeof s), memset(&pd, 0, sizeof pd);
    for (k = 0; k < 4; k++) s[k].name = names[k], s[k].x = x_levels, s[k].y = acc[k / 2][k % 2], s[k].n = N_GRID;
    snprintf(title, sizeof title, "%s: plain vs adversarially trained (FGSM %d images, PGD-%d %d)", opt.data, opt.n_test,
             opt.pgd_steps, opt.n_pgd);
    pd.title = title, pd.xlabel = "eps (grey levels, /255)", pd.ylabel = "test accuracy";
    pd.series = s, pd.n_series = 4, pd.ymin = 0, pd.ymax = 1;
    ex_check(cnnvis_plot_lines(&im, &pd), "plot");
    ex_write(&im, opt.out, "curves.png");
    cnnvis_image_free(&im);
    cnnvis_eval_free(&ev[0]), cnnvis_eval_free(&ev[1]);
}

/* The slide for one net (which: "plain" or "robust"): the first four test images, original |
   perturbation | PGD image, as pgd_WHICH.png. */
static void pgd_slide(cnnvis_net *net, const cnnvis_dataset *test, const char *which)
{
    cnnvis_tensor px, adv;
    cnnvis_attack_desc d;
    cnnvis_image im;
    char title[256], name[64];
    size_t q, count = (size_t)test->c * test->h * test->w;
    int n = test->n < 4 ? test->n : 4;
    ex_check(cnnvis_tensor_create(&px, n, test->c, test->h, test->w), "tensor");
    for (q = 0; q < count * n; q++) px.data[q] = test->px[q] / 255.0f;
    memset(&d, 0, sizeof d);
    d.method = CNNVIS_ATTACK_PGD, d.eps = opt.eps / 255.0f, d.steps = opt.pgd_steps;
    ex_check(cnnvis_attack(&adv, NULL, NULL, net, &px, test->labels, &d), "PGD");
    snprintf(title, sizeof title, "%s net, PGD-%d %g/255", which, opt.pgd_steps, opt.eps);
    ex_check(cnnvis_adversarial_image(&im, net, &px, &adv, 3, title), "picture");
    snprintf(name, sizeof name, "pgd_%s.png", which);
    ex_write(&im, opt.out, name);
    cnnvis_image_free(&im), cnnvis_tensor_free(&adv), cnnvis_tensor_free(&px);
}
