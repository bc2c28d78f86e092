/* 01_filters.c - lecture section 1: visualise filters, and watch them during training.

   "conv1: 96 filters 11x11x3 - what do these filters detect?" Oriented edges (Gabor-like)
   and coloured blobs, on AlexNet; here on alexnet_mini trained on the built-in concept
   images. "Good training: learned filters should exhibit structure and are uncorrelated" -
   the monitor measures both at every epoch.

   Build and run (after 00_train, which keeps a checkpoint per epoch):
       make build/01_filters && ./build/01_filters
       ./build/01_filters --train                  (train here with the monitor hooked on training:
                                                    about a minute; --every-steps 50 for finer curves)
   Without out/00_train/ it trains here too.
   Output (in --out, default out/01_filters/):
       (every picture NAME.png also as NAME.ppm, or NAME.pgm if grey, beside it)
       conv1_filters.png, conv1_filters_per_filter.png   conv1's filters, one shared scale / each its own
       conv2_filters.png                                 conv2's filters as grids of their input slices
       evolution.png        conv1's first filters at every snapshot, random initialisation first
       monitor.png          correlation, structure, norm and dead filters of every conv layer over training
       monitor.tsv          the same numbers
       frames/              the whole conv1 montage at every snapshot
   Exercises:
       1. Compare evolution.png's first row (random weights) with its last. Which filters
          become colour blobs, which edges?
       2. Train with --train --lr 0.005: what happens to the dead-filter count and to the norms?
       3. Per-filter scaling makes weak filters visible: which filters hardly changed at all? */
#include "cnnvis.h" /* its implementation: examples/cnnvis.c, compiled once and linked */
#include "common.h"

/* The command line: each option's value, set to its default here. */
static struct {
    const char *out, *checkpoint, *epochs_dir;
    int train, every_steps, epochs, n_train, threads;
    float lr;
    uint64_t seed;
} opt = {.out = "out/01_filters", .checkpoint = "out/00_train/alexnet_mini.cnnvis", .epochs = 3, .n_train = 24000,
         .lr = 0.001f, .seed = 1};

static const ex_option options[] = {
    {"checkpoint", EX_STRING, &opt.checkpoint, 0, 0, "the trained net (out/00_train/alexnet_mini.cnnvis)"},
    {"epochs-dir", EX_STRING, &opt.epochs_dir, 0, 0, "its checkpoints epoch_NN.cnnvis (CHECKPOINT's folder/epochs)"},
    {"train", EX_FLAG, &opt.train, 0, 0, "train here with the monitor hooked on training"},
    {"every-steps", EX_INT, &opt.every_steps, 0, 1 << 30, "with --train: a snapshot every n steps (0: every epoch)"},
    {"epochs", EX_INT, &opt.epochs, 1, 1000, "with --train: epochs of training (3)"},
    {"n-train", EX_INT, &opt.n_train, 100, 1 << 26, "with --train: training images (24000)"},
    {"lr", EX_FLOAT, &opt.lr, 1e-6, 10, "with --train: Adam's initial learning rate (0.001)"},
    {"threads", EX_INT, &opt.threads, 0, 256, "worker threads (0: all CPUs)"},
    {"seed", EX_U64, &opt.seed, 0, 1e18, "seed of the data and the weights (1)"},
    {"out", EX_STRING, &opt.out, 0, 0, "output folder (out/01_filters)"},
};

static cnnvis_net *train_with_monitor(const char *frames);
static void replay_monitor(const cnnvis_net *net, const char *frames);

int main(int argc, char **argv)
{
    cnnvis_net *net;
    cnnvis_image im;
    cnnvis_filters_desc fd;
    char frames[1100];
    ex_parse(argc, argv, options, EX_COUNT(options),
             "usage: 01_filters [options]\ndraws conv filters and how they evolve during training (lecture section 1)");
    snprintf(frames, sizeof frames, "%s/frames", opt.out);
    ex_out_dir(frames); /* and --out itself */
    if (!opt.train && !ex_file_exists(opt.checkpoint)) {
        printf("%s not found: training here (./build/00_train would keep it for the other examples)\n", opt.checkpoint);
        opt.train = 1;
    }
    if (opt.train) net = train_with_monitor(frames); /* and the monitor's pictures */
    else net = ex_load_net(opt.checkpoint, opt.threads);

    /* Slide "1. Visualize filters" ("conv1: 96 filters 11x11x3" on AlexNet): each filter of
       the first layer as a small colour image; zero weight is grey, one scale for all. */
    memset(&fd, 0, sizeof fd);
    ex_check(cnnvis_filters_image(&im, net, "conv1", &fd), "conv1 filters");
    ex_write(&im, opt.out, "conv1_filters.png");
    cnnvis_image_free(&im);
    fd.per_filter = 1; /* each filter on its own scale: weak filters become visible too */
    ex_check(cnnvis_filters_image(&im, net, "conv1", &fd), "conv1 filters");
    ex_write(&im, opt.out, "conv1_filters_per_filter.png");
    cnnvis_image_free(&im);
    memset(&fd, 0, sizeof fd);
    fd.max_filters = 32; /* deeper filters: each a grid of its input-channel slices, in grey */
    ex_check(cnnvis_filters_image(&im, net, "conv2", &fd), "conv2 filters");
    ex_write(&im, opt.out, "conv2_filters.png");
    cnnvis_image_free(&im);

    /* Slide "Monitoring filters during training": replayed over 00_train's checkpoints
       (with --train it watched the training itself, above). */
    if (!opt.train) replay_monitor(net, frames);
    cnnvis_net_free(net);
    return 0;
}

/* alexnet_mini for a data set's images, normalised for its pixels, classes named after it. */
static cnnvis_net *alexnet_mini(const cnnvis_dataset *ds, int threads, uint64_t seed)
{
    cnnvis_net_desc d;
    cnnvis_net *net;
    const char *names[1024];
    int i;
    ex_check(cnnvis_net_desc_preset(&d, "alexnet_mini", ds->c, ds->h, ds->w, ds->n_classes), "cnnvis_net_desc_preset");
    d.n_threads = threads, d.seed = seed;
    d.layers[0].init_scale = 0.03f; /* as 00_train: conv1 starts small, so it shows what it learned */
    for (i = 0; i < ds->n_classes && i < 1024 && ds->class_names; i++)
        names[i] = ds->class_names + (size_t)i * CNNVIS_CLASS_LEN;
    d.class_names = ds->class_names ? names : NULL;
    ex_pixel_stats(ds, d.mean, d.std);
    ex_check(cnnvis_net_create(&net, &d), "cnnvis_net_create");
    return net;
}

/* The monitor's pictures and table, once it holds its snapshots. */
static void write_monitor(cnnvis_monitor *mon, const char *out)
{
    cnnvis_image im;
    char path[1100];
    const cnnvis_filter_stats *first = &mon->stats[0], *last = &mon->stats[(size_t)(mon->n_snapshots - 1) * mon->n_conv];
    ex_check(cnnvis_monitor_evolution_image(&im, mon), "evolution");
    ex_write(&im, out, "evolution.png");
    cnnvis_image_free(&im);
    ex_check(cnnvis_monitor_plot(&im, mon), "monitor plot");
    ex_write(&im, out, "monitor.png");
    cnnvis_image_free(&im);
    snprintf(path, sizeof path, "%s/monitor.tsv", out);
    ex_check(cnnvis_monitor_write_tsv(path, mon), path);
    printf("wrote %s\n", path);
    printf("conv1 first / last snapshot: mean |correlation| %.3f / %.3f, low-frequency share %.3f / %.3f "
           "(white noise %.3f), dead %d / %d\n", first->mean_abs_corr, last->mean_abs_corr, first->structure,
           last->structure, first->structure_noise, first->dead, last->dead);
}

/* The monitor's settings: held-out images to count dead filters on, where the conv1 montage
   of every snapshot goes, and how often to take one in training (0: every epoch). */
static void monitor_desc(cnnvis_monitor_desc *md, cnnvis_dataset *probe, const char *frames)
{
    memset(md, 0, sizeof *md);
    md->probe = probe, md->frames_dir = frames, md->every_steps = opt.every_steps;
}

/* --train (or no checkpoint): alexnet_mini trained here on the concept images, the monitor
   taking a snapshot of the random initialisation and then after every epoch (or every
   --every-steps steps) through the training callback. */
static cnnvis_net *train_with_monitor(const char *frames)
{
    cnnvis_dataset train_set, probe;
    cnnvis_train_desc t;
    cnnvis_monitor mon;
    cnnvis_monitor_desc md;
    cnnvis_net *net;
    ex_make_concepts(&train_set, &probe, opt.n_train, opt.seed);
    net = alexnet_mini(&train_set, opt.threads, opt.seed);
    monitor_desc(&md, &probe, frames);
    ex_check(cnnvis_monitor_init(&mon, net, &md), "cnnvis_monitor_init");
    ex_check(cnnvis_monitor_snapshot(&mon, net, 0), "snapshot"); /* the random initialisation */
    memset(&t, 0, sizeof t);
    t.optimizer = CNNVIS_OPTIM_ADAM, t.epochs = opt.epochs, t.lr = opt.lr, t.seed = opt.seed; /* as 00_train */
    t.callback = cnnvis_monitor_callback, t.user = &mon;
    ex_check(cnnvis_net_train(net, &train_set, &probe, &t), "cnnvis_net_train");
    write_monitor(&mon, opt.out);
    cnnvis_monitor_free(&mon);
    cnnvis_dataset_free(&train_set);
    cnnvis_dataset_free(&probe);
    return net;
}

/* The monitor replayed over the checkpoints 00_train kept (--epochs-dir, by default the
   folder epochs beside --checkpoint), one snapshot each. */
static void replay_monitor(const cnnvis_net *net, const char *frames)
{
    cnnvis_dataset probe;
    cnnvis_monitor mon;
    cnnvis_monitor_desc md;
    char dir[1100];
    const char *epochs_dir = opt.epochs_dir;
    int e, snapshots = 0;
    if (!epochs_dir) {
        const char *slash = strrchr(opt.checkpoint, '/');
        snprintf(dir, sizeof dir, "%.*s%sepochs", slash ? (int)(slash - opt.checkpoint) : 0, opt.checkpoint,
                 slash ? "/" : "");
        epochs_dir = dir;
    }
    memset(&probe, 0, sizeof probe);
    monitor_desc(&md, &probe, frames);
    for (e = 0; e < 1000; e++) {
        char ck[1200];
        cnnvis_net *at;
        snprintf(ck, sizeof ck, "%s/epoch_%02d.cnnvis", epochs_dir, e);
        if (!ex_file_exists(ck)) continue;
        if (snapshots == 0) { /* held-out images only when there is something to replay (none for 224x224 nets) */
            ex_probe_data(&probe, net, "concepts", 2000, opt.seed);
            ex_check(cnnvis_monitor_init(&mon, net, &md), "cnnvis_monitor_init");
        }
        at = ex_load_net(ck, opt.threads);
        ex_check(cnnvis_monitor_snapshot(&mon, at, (float)e), ck);
        cnnvis_net_free(at);
        snapshots++;
    }
    if (snapshots) {
        write_monitor(&mon, opt.out);
        cnnvis_monitor_free(&mon);
    } else {
        printf("no %s/epoch_NN.cnnvis (00_train writes them): no evolution or monitor pictures\n", epochs_dir);
    }
    cnnvis_dataset_free(&probe);
}
