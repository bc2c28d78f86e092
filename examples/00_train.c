/* 00_train.c - train alexnet_mini and save a checkpoint (the network every other example
   looks inside).

   Lecture: the "Recap: CNNs" slide - what is inside the black box we are about to open.
   Shows: the layers of an AlexNet-style net, their shapes and receptive fields, and SGD
   with momentum driving the test accuracy up epoch by epoch.

   Build and run:
       make build/00_train && ./build/00_train --data fashion
   Output (in --out, default out/00_train/):
       alexnet_mini.cnnvis   the checkpoint (architecture, weights, class names, mean/std)
       curve.tsv             loss and accuracy per epoch
   Exercises:
       1. Train with --lr 0.1 and then 0.001: which fails, and how does the curve show it?
       2. Remove the dropout layers from cnnvis_net_desc_alexnet_mini (cnnvis.h): does the
          gap between training and test accuracy grow?
       3. Train twice with the same --seed and compare the checkpoints with cmp: why are they
          identical even with --threads 1 and --threads 2? */
#define CNNVIS_IMPLEMENTATION
#include "cnnvis.h"
#include "common.h"

static const char *fashion_names[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                        "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
static const char *digit_names[10] = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};

typedef struct epoch_log {
    FILE *tsv;
} epoch_log;

static int on_epoch(cnnvis_net *net, const cnnvis_train_stats *s, void *user)
{
    epoch_log *log = (epoch_log *)user;
    (void)net;
    if (!s->end_of_epoch) return 0;
    printf("epoch %2d/%d  lr %.4f  train loss %.4f acc %.2f%%  test loss %.4f acc %.2f%%  %.0f img/s  %.0fs\n", s->epoch,
           s->epochs, s->lr, s->train_loss, 100 * s->train_acc, s->test_loss, 100 * s->test_acc, s->images_per_s, s->seconds);
    fflush(stdout);
    if (log->tsv) {
        fprintf(log->tsv, "%d\t%.5f\t%.5f\t%.5f\t%.5f\t%.1f\n", s->epoch, s->train_loss, s->train_acc, s->test_loss,
                s->test_acc, s->seconds);
        fflush(log->tsv);
    }
    return 0;
}

int main(int argc, char **argv)
{
    const char *data = "fashion", *out = "out/00_train", *checkpoint = NULL;
    int epochs = 10, threads = 0, n_train = 0, batch = 64, i, c;
    float lr = 0.02f;
    uint64_t seed = 1;
    ex_option opts[] = {
        {"data", EX_STRING, &data, 0, 0, "fashion (default) or mnist"},
        {"epochs", EX_INT, &epochs, 1, 1000, "passes over the training set (10)"},
        {"batch", EX_INT, &batch, 1, 1024, "images per SGD step (64)"},
        {"lr", EX_FLOAT, &lr, 1e-6, 10, "initial learning rate, cosine schedule (0.02)"},
        {"n-train", EX_INT, &n_train, 0, 1 << 30, "use only the first N training images (0: all)"},
        {"threads", EX_INT, &threads, 0, 256, "worker threads (0: all CPUs)"},
        {"seed", EX_U64, &seed, 0, 1e18, "seed of the weights, shuffling and dropout (1)"},
        {"out", EX_STRING, &out, 0, 0, "output folder (out/00_train)"},
        {"checkpoint", EX_STRING, &checkpoint, 0, 0, "where to save the net (OUT/alexnet_mini.cnnvis)"},
    };
    char path[1024], summary[8192];
    cnnvis_dataset train, test, part;
    cnnvis_net_desc d;
    cnnvis_net *net;
    cnnvis_train_desc t;
    cnnvis_eval ev;
    epoch_log log;
    const char **names;
    ex_parse(argc, argv, opts, (int)(sizeof opts / sizeof opts[0]),
             "usage: 00_train [options]\ntrains alexnet_mini on Fashion-MNIST or MNIST and saves a checkpoint");
    if (strcmp(data, "fashion") == 0) names = fashion_names;
    else if (strcmp(data, "mnist") == 0) names = digit_names;
    else {
        fprintf(stderr, "00_train: --data %s: expected fashion or mnist\n", data);
        return 2;
    }
    if (ex_load_idx(strcmp(data, "fashion") == 0 ? "fashion-mnist" : "mnist", &train, &test) != CNNVIS_OK) return 1;
    if (n_train > 0 && n_train < train.n) {
        ex_check(cnnvis_dataset_slice(&part, &train, 0, n_train), "slice");
    } else {
        part = train;
    }

    cnnvis_net_desc_alexnet_mini(&d, 1, 28, 28, 10);
    d.n_threads = threads, d.seed = seed, d.class_names = names;
    d.mean[0] = 0.2860f, d.std[0] = 0.3530f; /* Fashion-MNIST's pixel statistics */
    if (strcmp(data, "mnist") == 0) d.mean[0] = 0.1307f, d.std[0] = 0.3081f;
    ex_check(cnnvis_net_create(&d, &net), "cnnvis_net_create");
    cnnvis_net_summary(net, summary, sizeof summary);
    printf("%s\ntraining on %d images, testing on %d\n", summary, part.n, test.n);

    if (ex_mkdirs(out) != 0) {
        fprintf(stderr, "00_train: cannot create %s\n", out);
        return 1;
    }
    snprintf(path, sizeof path, "%s/curve.tsv", out);
    log.tsv = fopen(path, "w");
    if (log.tsv) fprintf(log.tsv, "epoch\ttrain_loss\ttrain_acc\ttest_loss\ttest_acc\tseconds\n");
    memset(&t, 0, sizeof t);
    t.epochs = epochs, t.batch = batch, t.lr = lr, t.seed = seed;
    t.crop_pad = 2, t.flip = strcmp(data, "fashion") == 0; /* no flips for digits: a mirrored 2 is no 2 */
    t.callback = on_epoch, t.user = &log;
    ex_check(cnnvis_net_train(net, &part, &test, &t), "cnnvis_net_train");
    if (log.tsv) fclose(log.tsv);

    ex_check(cnnvis_net_evaluate(net, &test, &ev), "cnnvis_net_evaluate");
    printf("\ntest accuracy %.2f%% (loss %.4f)\nper class:\n", 100 * ev.accuracy, ev.loss);
    for (c = 0; c < ev.n_classes; c++) printf("  %-12s %6.2f%%\n", cnnvis_net_class_name(net, c), 100 * ev.class_acc[c]);
    printf("confusion (rows: true class, columns: predicted):\n");
    for (c = 0; c < ev.n_classes; c++) {
        printf("  %-12s", cnnvis_net_class_name(net, c));
        for (i = 0; i < ev.n_classes; i++) printf(" %5d", (int)ev.confusion[c * ev.n_classes + i]);
        printf("\n");
    }
    cnnvis_eval_free(&ev);

    if (!checkpoint) {
        snprintf(path, sizeof path, "%s/alexnet_mini.cnnvis", out);
        checkpoint = path;
    }
    ex_check(cnnvis_net_save(net, checkpoint), "cnnvis_net_save");
    printf("saved %s\n", checkpoint);
    cnnvis_net_free(net);
    cnnvis_dataset_free(&train);
    cnnvis_dataset_free(&test);
    return 0;
}
