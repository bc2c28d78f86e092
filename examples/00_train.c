/* 00_train.c - train alexnet_mini and save the checkpoint every other example looks inside.

   Lecture: the "Recap: CNNs" slide - the black box we are about to open.
   Shows: an AlexNet-style net's layers, shapes and receptive fields; Adam driving the test
   accuracy up epoch by epoch (about a minute on two cores); what the built-in concept
   images look like.

   Build and run:
       make build/00_train && ./build/00_train                  (built-in concept images)
       ./build/00_train --data fashion                          (after `make data`)
       ./build/00_train --data cifar10                          (after `make cifar10`)
       ./build/00_train --data cifar10 --train-file DIR/data_batch_1.bin --test-file DIR/test_batch.bin
                                                                (one batch file, or a slice of one)
   Output (in --out, default out/00_train/):
       (every picture NAME.png also as NAME.ppm, or NAME.pgm if grey, beside it)
       alexnet_mini.cnnvis   the checkpoint (architecture, weights, class names, mean/std)
       curve.tsv, curve.png  loss and accuracy per epoch
       confusion.png         the test set's confusion matrix
       samples.png           (concept images) images beside their object, colour and texture labels
       epochs/epoch_NN.cnnvis  the net before training (00) and after every epoch
   Exercises:
       1. Train with --lr 0.01 and then 0.0001: which fails, and how does the curve show it?
       2. Train with --optimizer sgd --init1 1 (SGD with momentum from the usual start): how
          many epochs sit at chance, and what do 01_filters' conv1 filters look like after?
       3. Train twice with the same --seed, once with --threads 1 and once with --threads 2, and
          compare the checkpoints with cmp: why are they identical? */
#include "cnnvis.h" /* its implementation: examples/cnnvis.c, compiled once and linked */
#include "common.h"

/* The command line: each option's value, set to its default here. */
static struct {
    const char *data, *out, *checkpoint, *data_dir, *train_file, *test_file, *optimizer;
    int epochs, batch, n_train, threads;
    float lr, init1, weight_decay;
    uint64_t seed;
} opt = {.data = "concepts", .out = "out/00_train", .data_dir = "data/cifar10", .optimizer = "adam", .batch = 64,
         .init1 = 0.03f, .seed = 1};

#define MAX_EPOCHS 1000
static const ex_option options[] = {
    {"data", EX_STRING, &opt.data, 0, 0, "concepts (built in, default), fashion, mnist or cifar10"},
    {"epochs", EX_INT, &opt.epochs, 1, MAX_EPOCHS, "passes over the training set (concepts 3, others 10)"},
    {"batch", EX_INT, &opt.batch, 1, 1024, "images per training step (64)"},
    {"optimizer", EX_STRING, &opt.optimizer, 0, 0, "adam (default) or sgd (with momentum 0.9)"},
    {"lr", EX_FLOAT, &opt.lr, 1e-6, 10, "initial learning rate, cosine schedule (adam 0.001, sgd 0.02)"},
    {"weight-decay", EX_FLOAT, &opt.weight_decay, 0, 1, "L2 weight decay (adam 0; sgd 0 means 0.0005)"},
    {"init1", EX_FLOAT, &opt.init1, 1e-3, 10, "conv1's initial weights, times He et al.'s scale (0.03)"},
    {"n-train", EX_INT, &opt.n_train, 0, 1 << 30, "training images (concepts: 24000; others: all)"},
    {"data-dir", EX_STRING, &opt.data_dir, 0, 0, "where the CIFAR-10 .bin batches are (data/cifar10)"},
    {"train-file", EX_STRING, &opt.train_file, 0, 0, "cifar10: one training batch file instead of --data-dir's five"},
    {"test-file", EX_STRING, &opt.test_file, 0, 0, "cifar10: the test batch file instead of --data-dir's"},
    {"threads", EX_INT, &opt.threads, 0, 256, "worker threads (0: all CPUs)"},
    {"seed", EX_U64, &opt.seed, 0, 1e18, "seed of the data, weights, shuffling and dropout (1)"},
    {"out", EX_STRING, &opt.out, 0, 0, "output folder (out/00_train)"},
    {"checkpoint", EX_STRING, &opt.checkpoint, 0, 0, "where to save the net (OUT/alexnet_mini.cnnvis)"},
};

/* What training reports after every epoch: kept for curve.png, written to curve.tsv. */
typedef struct history {
    int n;
    float epoch[MAX_EPOCHS], train_loss[MAX_EPOCHS], train_acc[MAX_EPOCHS], test_loss[MAX_EPOCHS], test_acc[MAX_EPOCHS];
    FILE *tsv;
    char epochs_dir[1024]; /* a checkpoint after every epoch goes here (02b dissects them) */
} history;

static void load_data(cnnvis_dataset *train, cnnvis_dataset *test);
static void write_samples(const cnnvis_dataset *ds, const char *path);
static cnnvis_net *create_net(const cnnvis_dataset *train);
static void start_history(history *h, const cnnvis_net *net);
static int on_epoch(cnnvis_net *net, const cnnvis_train_stats *s, void *user);
static void write_curves(const history *h, const char *path);
static void evaluate(cnnvis_net *net, const cnnvis_dataset *test);

int main(int argc, char **argv)
{
    static history hist;
    cnnvis_dataset train, test, part;
    cnnvis_net *net;
    cnnvis_train_desc t;
    char path[1100];
    double t0 = ex_seconds();
    int concepts;
    ex_parse(argc, argv, options, EX_COUNT(options),
             "usage: 00_train [options]\ntrains alexnet_mini and saves a checkpoint, a training curve and a confusion matrix");
    ex_out_dir(opt.out);
    concepts = strcmp(opt.data, "concepts") == 0;
    load_data(&train, &test); /* and samples.png of the concept images */
    part = train;             /* the first --n-train of them */
    if (opt.n_train > 0 && opt.n_train < train.n) ex_check(cnnvis_dataset_slice(&part, &train, 0, opt.n_train), "slice");
    printf("data: %s, %d training and %d test images of %dx%dx%d (%.1fs to load)\n", opt.data, part.n, test.n, train.c,
           train.h, train.w, ex_seconds() - t0);
    net = create_net(&part);

    /* Slide "Recap: Convolutional Neural Networks (CNNs)": the black box the lecture opens,
       trained here by Adam (Kingma & Ba 2015; --optimizer sgd: SGD with momentum), the
       learning rate on a cosine; curve.png shows the loss and accuracy per epoch. */
    memset(&t, 0, sizeof t);
    t.optimizer = strcmp(opt.optimizer, "sgd") == 0 ? CNNVIS_OPTIM_SGD : CNNVIS_OPTIM_ADAM;
    t.epochs = opt.epochs, t.batch = opt.batch, t.seed = opt.seed;
    t.lr = opt.lr, t.weight_decay = opt.weight_decay; /* 0: the optimizer's default */
    if (!opt.lr && t.optimizer == CNNVIS_OPTIM_SGD) t.lr = 0.02f;
    /* Random crops and flips for photos; the concept images already place, turn and colour
       their shapes at random, and flipping them only slowed training down. */
    t.crop_pad = concepts ? 0 : train.h / 16;
    t.flip = !concepts && strcmp(opt.data, "mnist") != 0; /* and a mirrored 2 is no 2 */
    t.callback = on_epoch, t.user = &hist;   /* after each epoch: curve.tsv and epochs/epoch_NN.cnnvis */
    start_history(&hist, net);
    ex_check(cnnvis_net_train(net, &part, &test, &t), "cnnvis_net_train");
    if (hist.tsv) fclose(hist.tsv);
    printf("trained in %.0f s\n", ex_seconds() - t0);
    snprintf(path, sizeof path, "%s/curve.png", opt.out);
    write_curves(&hist, path);

    evaluate(net, &test); /* printed per class, and confusion.png */
    snprintf(path, sizeof path, "%s/alexnet_mini.cnnvis", opt.out);
    if (!opt.checkpoint) opt.checkpoint = path; /* the checkpoint the other examples look at */
    ex_check(cnnvis_net_save(opt.checkpoint, net), "cnnvis_net_save");
    printf("saved %s%s\n", opt.checkpoint,
           concepts ? " (and samples.png, curve.png, confusion.png)" : "");
    cnnvis_net_free(net);
    cnnvis_dataset_free(&train);
    cnnvis_dataset_free(&test);
    return 0;
}

/* The training and test images of --data (any --epochs not given: 3 for the concept
   images, 10 for the others). */
static void load_data(cnnvis_dataset *train, cnnvis_dataset *test)
{
    char path[1100];
    int i;
    if (strcmp(opt.optimizer, "adam") != 0 && strcmp(opt.optimizer, "sgd") != 0) {
        fprintf(stderr, "00_train: --optimizer %s: expected adam or sgd\n", opt.optimizer);
        exit(2);
    }
    if (strcmp(opt.data, "concepts") == 0) {
        ex_make_concepts(train, test, opt.n_train ? opt.n_train : 24000, opt.seed);
        if (!opt.epochs) opt.epochs = 3;
        snprintf(path, sizeof path, "%s/samples.png", opt.out);
        write_samples(train, path);
    } else if (strcmp(opt.data, "fashion") == 0 || strcmp(opt.data, "mnist") == 0) {
        if (ex_load_idx(strcmp(opt.data, "fashion") == 0 ? "fashion-mnist" : "mnist", train, test) != CNNVIS_OK) exit(1);
        train->class_names = NULL; /* create_net names the classes */
    } else if (strcmp(opt.data, "cifar10") == 0) {
        char files[6][512];
        const char *paths[5];
        int n_files = opt.train_file ? 1 : 5;
        for (i = 0; i < 5; i++) snprintf(files[i], 512, "%s/data_batch_%d.bin", opt.data_dir, i + 1), paths[i] = files[i];
        snprintf(files[5], 512, "%s/test_batch.bin", opt.data_dir);
        if (opt.train_file) paths[0] = opt.train_file;
        if (!ex_file_exists(paths[0])) {
            fprintf(stderr, "00_train: %s not found: run `make cifar10` (needs internet), or pass --data-dir or --train-file\n",
                    paths[0]);
            exit(1);
        }
        ex_check(cnnvis_cifar10_load(train, paths, n_files), "cnnvis_cifar10_load");
        paths[0] = opt.test_file ? opt.test_file : files[5];
        ex_check(cnnvis_cifar10_load(test, paths, 1), "cnnvis_cifar10_load");
    } else {
        fprintf(stderr, "00_train: --data %s: expected concepts, fashion, mnist or cifar10\n", opt.data);
        exit(2);
    }
    if (!opt.epochs) opt.epochs = 10;
}

/* alexnet_mini for the training images: their shape, their pixels' mean and standard
   deviation as its input normalisation, their class names (Fashion-MNIST's and MNIST's
   from the tables here). Prints its summary. */
static cnnvis_net *create_net(const cnnvis_dataset *train)
{
    static const char *fashion_names[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                            "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
    static const char *digit_names[10] = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};
    cnnvis_net_desc d;
    cnnvis_net *net;
    const char *names[10];
    char summary[8192];
    int i;
    ex_check(cnnvis_net_desc_preset(&d, "alexnet_mini", train->c, train->h, train->w, 10), "cnnvis_net_desc_preset");
    d.n_threads = opt.threads, d.seed = opt.seed;
    /* conv1 starts small (--init1, 0.03): its filters then show what training wrote into them,
       not their random start, and become slide 1's blobs and edges (README, section 1). */
    d.layers[0].init_scale = opt.init1;
    for (i = 0; i < 10; i++) {
        if (train->class_names) names[i] = train->class_names + (size_t)i * CNNVIS_CLASS_LEN;
        else names[i] = strcmp(opt.data, "fashion") == 0 ? fashion_names[i] : digit_names[i];
    }
    d.class_names = names;
    ex_pixel_stats(train, d.mean, d.std);
    ex_check(cnnvis_net_create(&net, &d), "cnnvis_net_create");
    cnnvis_net_summary(summary, sizeof summary, net);
    printf("%s\n", summary);
    return net;
}

/* curve.tsv's header, and epochs/epoch_00.cnnvis: the random initialisation. */
static void start_history(history *h, const cnnvis_net *net)
{
    char path[1100];
    snprintf(path, sizeof path, "%s/curve.tsv", opt.out);
    h->tsv = fopen(path, "w");
    if (h->tsv) fprintf(h->tsv, "epoch\ttrain_loss\ttrain_acc\ttest_loss\ttest_acc\tseconds\n");
    snprintf(h->epochs_dir, sizeof h->epochs_dir, "%s/epochs", opt.out);
    if (ex_mkdirs(h->epochs_dir) != 0) h->epochs_dir[0] = 0;
    else {
        snprintf(path, sizeof path, "%s/epoch_00.cnnvis", h->epochs_dir);
        ex_check(cnnvis_net_save(path, net), path);
    }
}

/* The training callback: after every epoch a line printed, the numbers kept for curve.png
   and added to curve.tsv, and the net saved as epochs/epoch_NN.cnnvis. */
static int on_epoch(cnnvis_net *net, const cnnvis_train_stats *s, void *user)
{
    history *h = (history *)user;
    if (!s->end_of_epoch || h->n >= MAX_EPOCHS) return 0;
    printf("epoch %2d/%d  lr %.4f  train loss %.4f acc %.2f%%  test loss %.4f acc %.2f%%  %.0f img/s  %.0fs\n", s->epoch,
           s->epochs, s->lr, s->train_loss, 100 * s->train_acc, s->test_loss, 100 * s->test_acc, s->images_per_s, s->seconds);
    fflush(stdout);
    h->epoch[h->n] = (float)s->epoch, h->train_loss[h->n] = s->train_loss, h->train_acc[h->n] = s->train_acc;
    h->test_loss[h->n] = s->test_loss, h->test_acc[h->n] = s->test_acc;
    h->n++;
    if (h->epochs_dir[0]) {
        char path[1100];
        snprintf(path, sizeof path, "%s/epoch_%02d.cnnvis", h->epochs_dir, s->epoch);
        if (cnnvis_net_save(path, net) != CNNVIS_OK) fprintf(stderr, "%s\n", cnnvis_last_error());
    }
    if (h->tsv) {
        fprintf(h->tsv, "%d\t%.5f\t%.5f\t%.5f\t%.5f\t%.1f\n", s->epoch, s->train_loss, s->train_acc, s->test_loss, s->test_acc,
                s->seconds);
        fflush(h->tsv);
    }
    return 0;
}

/* samples.png: concept images beside their three label maps (object, colour, texture). */
static void write_samples(const cnnvis_dataset *ds, const char *path)
{
    cnnvis_image tiles[48];
    char captions[48][32];
    const char *cap[48] = {0}; /* (gcc 12 at -O2 cannot see that the loop fills the first n) */
    int i, k, n = 0;
    cnnvis_montage_desc md;
    cnnvis_image out, im;
    for (i = 0; i < 12 && i < ds->n; i++) {
        size_t plane = (size_t)ds->h * ds->w, p;
        ex_dataset_image(&im, ds, i);
        ex_check(cnnvis_image_resize(&tiles[n], &im, 2 * ds->w, 2 * ds->h, CNNVIS_RESIZE_NEAREST), "resize");
        cnnvis_image_free(&im);
        snprintf(captions[n], 32, "%s", ds->class_names + (size_t)ds->labels[i] * CNNVIS_CLASS_LEN), n++;
        for (k = 0; k < 3; k++) {
            const unsigned char *labels = ds->concepts + ((size_t)i * ds->n_categories + k) * plane;
            if (k == CNNVIS_CAT_COLOUR) {
                ex_check(cnnvis_image_create(&im, ds->w, ds->h, 3), "image");
                for (p = 0; p < plane; p++) cnnvis_concepts_colour(im.px + 3 * p, labels[p], 0);
            } else {
                ex_check(cnnvis_labels_to_image(&im, labels, ds->w, ds->h), "labels");
            }
            ex_check(cnnvis_image_resize(&tiles[n], &im, 2 * ds->w, 2 * ds->h, CNNVIS_RESIZE_NEAREST), "resize");
            cnnvis_image_free(&im);
            /* the concept under the object's centre is not known here: name the category */
            snprintf(captions[n], 32, "%s", ds->category_names[k]), n++;
        }
    }
    for (i = 0; i < n; i++) cap[i] = captions[i];
    memset(&md, 0, sizeof md);
    md.cols = 8, md.title = "built-in concept images: image | object | colour | texture labels";
    ex_check(cnnvis_montage(&out, tiles, n, cap, &md), "montage");
    ex_write_file(&out, path); /* and its .ppm */
    cnnvis_image_free(&out);
    for (i = 0; i < n; i++) cnnvis_image_free(&tiles[i]);
}

static void write_curves(const history *h, const char *path)
{
    cnnvis_series s[4];
    cnnvis_plot_desc d;
    cnnvis_image loss_img, acc_img, both[2];
    cnnvis_montage_desc md;
    cnnvis_image out;
    memset(s, 0, sizeof s);
    memset(&d, 0, sizeof d);
    s[0].name = "train loss", s[0].x = h->epoch, s[0].y = h->train_loss, s[0].n = h->n;
    s[1].name = "test loss", s[1].x = h->epoch, s[1].y = h->test_loss, s[1].n = h->n;
    s[2].name = "train accuracy", s[2].x = h->epoch, s[2].y = h->train_acc, s[2].n = h->n;
    s[3].name = "test accuracy", s[3].x = h->epoch, s[3].y = h->test_acc, s[3].n = h->n;
    d.w = 480, d.h = 320, d.xlabel = "epoch";
    d.series = s, d.n_series = 2, d.title = "cross-entropy loss";
    ex_check(cnnvis_plot_lines(&loss_img, &d), "plot");
    d.series = s + 2, d.title = "accuracy";
    ex_check(cnnvis_plot_lines(&acc_img, &d), "plot");
    both[0] = loss_img, both[1] = acc_img;
    memset(&md, 0, sizeof md);
    md.cols = 2, md.bg_grey = 255;
    ex_check(cnnvis_montage(&out, both, 2, NULL, &md), "montage");
    ex_write_file(&out, path); /* and its .ppm */
    cnnvis_image_free(&out), cnnvis_image_free(&loss_img), cnnvis_image_free(&acc_img);
}

static void write_confusion(const cnnvis_eval *ev, const cnnvis_net *net, const char *path)
{
    float *rates = (float *)malloc(sizeof(float) * ev->n_classes * ev->n_classes);
    const char *names[1000];
    int r, c;
    cnnvis_image out;
    if (!rates) {
        fprintf(stderr, "00_train: out of memory for the confusion matrix\n");
        exit(1);
    }
    for (r = 0; r < ev->n_classes && r < 1000; r++) {
        int total = 0;
        names[r] = cnnvis_net_class_name(net, r);
        for (c = 0; c < ev->n_classes; c++) total += ev->confusion[r * ev->n_classes + c];
        for (c = 0; c < ev->n_classes; c++) rates[r * ev->n_classes + c] = total ? 100.0f * ev->confusion[r * ev->n_classes + c] / total : 0;
    }
    ex_check(cnnvis_plot_matrix(&out, rates, ev->n_classes, ev->n_classes, names, names,
                                "confusion (% of each true class; rows true, columns predicted)", 0), "matrix");
    ex_write_file(&out, path); /* and its .ppm */
    cnnvis_image_free(&out);
    free(rates);
}

/* The trained net on the test images: accuracy per class and the confusion matrix, printed,
   and the matrix as confusion.png. */
static void evaluate(cnnvis_net *net, const cnnvis_dataset *test)
{
    cnnvis_eval ev;
    char path[1100];
    int c, i;
    ex_check(cnnvis_net_evaluate(&ev, net, test), "cnnvis_net_evaluate");
    printf("\ntest accuracy %.2f%% (loss %.4f)\nper class:\n", 100 * ev.accuracy, ev.loss);
    for (c = 0; c < ev.n_classes; c++) printf("  %-12s %6.2f%%\n", cnnvis_net_class_name(net, c), 100 * ev.class_acc[c]);
    printf("confusion (rows: true class, columns: predicted):\n");
    for (c = 0; c < ev.n_classes; c++) {
        printf("  %-12s", cnnvis_net_class_name(net, c));
        for (i = 0; i < ev.n_classes; i++) printf(" %5d", (int)ev.confusion[c * ev.n_classes + i]);
        printf("\n");
    }
    snprintf(path, sizeof path, "%s/confusion.png", opt.out);
    write_confusion(&ev, net, path);
    cnnvis_eval_free(&ev);
}
