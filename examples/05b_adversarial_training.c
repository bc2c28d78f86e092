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
                          (a short fine-tuning, one epoch on 5000 images, for CI; README.md's
                          figures come from the full one, about ten minutes:)
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

int main(int argc, char **argv)
{
    const char *out = "out/05b_adversarial_training", *checkpoint = "out/00_train/alexnet_mini.cnnvis", *data = "concepts";
    int threads = 0, n_train = 5000, n_test = 500, n_pgd = 50, epochs = 1, steps = 1, pgd_steps = 20;
    float eps_levels = 8, lr = 0.005f, share = 0.5f;
    uint64_t seed = 1;
    ex_option opts[] = {
        {"checkpoint", EX_STRING, &checkpoint, 0, 0, "the trained net (out/00_train/alexnet_mini.cnnvis)"},
        {"data", EX_STRING, &data, 0, 0, "the images it was trained on: concepts, fashion or mnist"},
        {"eps", EX_FLOAT, &eps_levels, 0.01, 255, "the budget in grey levels, eps = N/255 (8)"},
        {"epochs", EX_INT, &epochs, 1, 1000, "epochs of adversarial fine-tuning (1)"},
        {"lr", EX_FLOAT, &lr, 1e-6, 1, "initial learning rate, cosine schedule (0.005)"},
        {"steps", EX_INT, &steps, 1, 100, "attack steps in training (1: FGSM with a random start)"},
        {"share", EX_FLOAT, &share, 0.01, 1, "share of each batch made adversarial (0.5)"},
        {"n-train", EX_INT, &n_train, 100, 1000000, "concept training images (5000; 00_train used 20000)"},
        {"n-test", EX_INT, &n_test, 10, 100000, "test images for the FGSM curves (500)"},
        {"n-pgd", EX_INT, &n_pgd, 10, 100000, "test images for the PGD curves (50)"},
        {"pgd-steps", EX_INT, &pgd_steps, 1, 1000, "PGD's steps in the evaluation (20)"},
        {"threads", EX_INT, &threads, 0, 256, "worker threads (0: all CPUs)"},
        {"seed", EX_U64, &seed, 0, 1e18, "the seed 00_train used (1)"},
        {"out", EX_STRING, &out, 0, 0, "output folder (out/05b_adversarial_training)"},
    };
    static const float grid[] = {0, 1, 2, 4, 6, 8, 12, 16};
    enum { N_GRID = sizeof grid / sizeof grid[0] };
    cnnvis_net *plain, *robust;
    cnnvis_dataset train, test;
    cnnvis_train_desc t;
    cnnvis_attack_desc attack;
    cnnvis_eval ev[2];
    float eps[N_GRID], x_levels[N_GRID], acc[2][2][16];
    char path[1024], title[256];
    int k, j;
    double t0 = ex_seconds();
    ex_parse(argc, argv, opts, (int)(sizeof opts / sizeof opts[0]),
             "usage: 05b_adversarial_training [options]\nadversarial training, robust vs plain (lecture section 5)");
    if (ex_mkdirs(out) != 0) {
        fprintf(stderr, "05b_adversarial_training: cannot create %s\n", out);
        return 1;
    }
    plain = ex_load_net(checkpoint, threads);
    robust = ex_load_net(checkpoint, threads);
    memset(&train, 0, sizeof train), memset(&test, 0, sizeof test);
    if (strcmp(data, "concepts") == 0) {
        ex_make_concepts(&train, NULL, n_train, seed);
    } else {
        cnnvis_dataset unused;
        if (ex_load_idx(strcmp(data, "fashion") == 0 ? "fashion-mnist" : "mnist", &train, &unused) != CNNVIS_OK) return 1;
        cnnvis_dataset_free(&unused);
        if (n_train < train.n) train.n = n_train;
    }
    ex_probe_data(&test, plain, data, n_test, seed);
    n_test = test.n;

    /* Fine-tune a copy of the net on clean and adversarial images. */
    memset(&attack, 0, sizeof attack);
    attack.method = CNNVIS_ATTACK_PGD, attack.eps = eps_levels / 255.0f, attack.steps = steps, attack.random_start = 1;
    attack.step = steps == 1 ? 1.25f * attack.eps : 2.5f * attack.eps / steps, attack.seed = seed;
    memset(&t, 0, sizeof t);
    t.epochs = epochs, t.lr = lr, t.seed = seed, t.warmup = -1, t.dropout_ramp = -1;
    t.crop_pad = train.h / 16, t.flip = strcmp(data, "mnist") != 0;
    t.adversarial = &attack, t.adversarial_share = share;
    printf("adversarial fine-tuning: %d epoch%s on %d images, %s of each batch attacked (%d step%s, eps %g/255)\n", epochs,
           epochs == 1 ? "" : "s",
           train.n, share >= 1 ? "all" : "a share", steps, steps > 1 ? "s" : "", eps_levels);
    ex_check(cnnvis_net_train(robust, &train, NULL, &t), "cnnvis_net_train");
    snprintf(path, sizeof path, "%s/alexnet_mini_robust.cnnvis", out);
    ex_check(cnnvis_net_save(path, robust), path);
    printf("saved %s (%.0f s)\n", path, ex_seconds() - t0);

    /* Both nets against the same attacks. */
    for (k = 0; k < N_GRID; k++) eps[k] = grid[k] / 255.0f, x_levels[k] = grid[k];
    ex_check(cnnvis_net_evaluate(&ev[0], plain, &test), "evaluate");
    ex_check(cnnvis_net_evaluate(&ev[1], robust, &test), "evaluate");
    curves(acc[0], plain, &test, n_test, n_pgd, eps, N_GRID, eps_levels, pgd_steps);
    curves(acc[1], robust, &test, n_test, n_pgd, eps, N_GRID, eps_levels, pgd_steps);
    printf("\nclean test accuracy: plain %.1f%%, robust %.1f%% (%d images)\n", 100 * ev[0].accuracy, 100 * ev[1].accuracy,
           n_test);
    printf("%8s %12s %12s %12s %12s\n", "eps*255", "plain FGSM", "robust FGSM", "plain PGD", "robust PGD");
    for (k = 0; k < N_GRID; k++)
        printf("%8g %11.1f%% %11.1f%% %11.1f%% %11.1f%%\n", grid[k], 100 * acc[0][0][k], 100 * acc[1][0][k],
               100 * acc[0][1][k], 100 * acc[1][1][k]);
    {
        cnnvis_series s[4];
        cnnvis_plot_desc pd;
        cnnvis_image im;
        const char *names[4] = {"plain, FGSM", "plain, PGD", "robust, FGSM", "robust, PGD"};
        memset(s, 0, sizeof s), memset(&pd, 0, sizeof pd);
        for (k = 0; k < 4; k++) s[k].name = names[k], s[k].x = x_levels, s[k].y = acc[k / 2][k % 2], s[k].n = N_GRID;
        snprintf(title, sizeof title, "%s: plain vs adversarially trained (FGSM %d images, PGD-%d %d)", data, n_test,
                 pgd_steps, n_pgd);
        pd.title = title, pd.xlabel = "eps (grey levels, /255)", pd.ylabel = "test accuracy";
        pd.series = s, pd.n_series = 4, pd.ymin = 0, pd.ymax = 1;
        ex_check(cnnvis_plot_lines(&im, &pd), "plot");
        ex_write(&im, out, "curves.png");
        cnnvis_image_free(&im);
    }
    for (j = 0; j < 2; j++) { /* the slide for each net */
        cnnvis_net *net = j ? robust : plain;
        cnnvis_tensor px, adv;
        cnnvis_attack_desc d;
        cnnvis_image im;
        size_t q, count = (size_t)test.c * test.h * test.w;
        int n = test.n < 4 ? test.n : 4;
        ex_check(cnnvis_tensor_create(&px, n, test.c, test.h, test.w), "tensor");
        for (q = 0; q < count * n; q++) px.data[q] = test.px[q] / 255.0f;
        memset(&d, 0, sizeof d);
        d.method = CNNVIS_ATTACK_PGD, d.eps = eps_levels / 255.0f, d.steps = pgd_steps;
        ex_check(cnnvis_attack(&adv, NULL, NULL, net, &px, test.labels, &d), "PGD");
        snprintf(title, sizeof title, "%s net, PGD-%d %g/255", j ? "robust" : "plain", pgd_steps, eps_levels);
        ex_check(cnnvis_adversarial_image(&im, net, &px, &adv, 3, title), "picture");
        ex_write(&im, out, j ? "pgd_robust.png" : "pgd_plain.png");
        cnnvis_image_free(&im), cnnvis_tensor_free(&adv), cnnvis_tensor_free(&px);
    }
    printf("total %.0f s\n", ex_seconds() - t0);
    cnnvis_eval_free(&ev[0]), cnnvis_eval_free(&ev[1]);
    cnnvis_dataset_free(&train), cnnvis_dataset_free(&test);
    cnnvis_net_free(plain), cnnvis_net_free(robust);
    return 0;
}
