/* 01_filters.c - lecture section 1: visualise filters, and watch them during training.

   "conv1: 96 filters 11x11x3 - what do these filters detect?" Oriented edges (Gabor-like)
   and coloured blobs, on AlexNet; here on alexnet_mini trained on the built-in concept
   images. "Good training: learned filters should exhibit structure and are uncorrelated" -
   the monitor measures both, every epoch.

   Build and run:
       make build/01_filters && ./build/01_filters                  (trains, ~5 minutes)
       ./build/01_filters --checkpoint out/00_train/alexnet_mini.cnnvis   (pictures of a trained net only)
   Output (in --out, default out/01_filters/):
       conv1_filters.png, conv1_filters_per_filter.png   conv1's filters, one shared scale / each its own
       conv2_filters.png                                 conv2's filters as grids of their input slices
       evolution.png        conv1's first filters at every snapshot, random initialisation first
       monitor.png          correlation, structure, norm and dead filters of every conv layer over training
       monitor.tsv          the same numbers
       frames/              the whole conv1 montage at every snapshot
   Exercises:
       1. Compare evolution.png's first row (random weights) with its last. Which filters
          become colour blobs, which edges?
       2. Train with --lr 0.1: what happens to the dead-filter count and to the norms?
       3. Per-filter scaling makes weak filters visible: which filters hardly changed at all? */
#define CNNVIS_IMPLEMENTATION
#include "cnnvis.h"
#include "common.h"

int main(int argc, char **argv)
{
    const char *out = "out/01_filters", *checkpoint = NULL;
    int epochs = 8, threads = 0, n_train = 20000;
    float lr = 0.02f;
    uint64_t seed = 1;
    ex_option opts[] = {
        {"checkpoint", EX_STRING, &checkpoint, 0, 0, "draw the filters of this checkpoint instead of training"},
        {"epochs", EX_INT, &epochs, 1, 1000, "epochs of training (8)"},
        {"n-train", EX_INT, &n_train, 100, 1 << 26, "training images (20000)"},
        {"lr", EX_FLOAT, &lr, 1e-6, 10, "initial learning rate (0.02)"},
        {"threads", EX_INT, &threads, 0, 256, "worker threads (0: all CPUs)"},
        {"seed", EX_U64, &seed, 0, 1e18, "seed of the data and the weights (1)"},
        {"out", EX_STRING, &out, 0, 0, "output folder (out/01_filters)"},
    };
    cnnvis_net *net;
    cnnvis_image im;
    cnnvis_filters_desc fd;
    char frames[1024];
    ex_parse(argc, argv, opts, (int)(sizeof opts / sizeof opts[0]),
             "usage: 01_filters [options]\ndraws conv filters and how they evolve during training (lecture section 1)");
    if (ex_mkdirs(out) != 0) {
        fprintf(stderr, "01_filters: cannot create %s\n", out);
        return 1;
    }
    if (checkpoint) {
        cnnvis_net_desc rt;
        memset(&rt, 0, sizeof rt);
        rt.n_threads = threads;
        ex_check(cnnvis_net_load(checkpoint, &rt, &net), checkpoint);
    } else {
        cnnvis_dataset train, test;
        cnnvis_monitor mon;
        cnnvis_monitor_desc md;
        cnnvis_train_desc t;
        ex_make_concepts(&train, &test, n_train, seed);
        net = ex_alexnet_mini(&train, threads, seed);
        snprintf(frames, sizeof frames, "%s/frames", out);
        if (ex_mkdirs(frames) != 0) return 1;
        memset(&md, 0, sizeof md);
        md.probe = &test, md.frames_dir = frames; /* held-out images count the dead filters */
        ex_check(cnnvis_monitor_init(&mon, net, &md), "cnnvis_monitor_init");
        ex_check(cnnvis_monitor_snapshot(&mon, net, 0), "snapshot"); /* the random initialisation */
        memset(&t, 0, sizeof t);
        t.epochs = epochs, t.lr = lr, t.seed = seed, t.crop_pad = 2, t.flip = 1;
        t.callback = cnnvis_monitor_callback, t.user = &mon;
        ex_check(cnnvis_net_train(net, &train, &test, &t), "cnnvis_net_train");
        ex_check(cnnvis_monitor_evolution_image(&im, &mon), "evolution");
        ex_write(&im, out, "evolution.png");
        cnnvis_image_free(&im);
        ex_check(cnnvis_monitor_plot(&im, &mon), "monitor plot");
        ex_write(&im, out, "monitor.png");
        cnnvis_image_free(&im);
        snprintf(frames, sizeof frames, "%s/monitor.tsv", out);
        ex_check(cnnvis_monitor_write_tsv(&mon, frames), frames);
        printf("wrote %s\n", frames);
        {
            const cnnvis_filter_stats *first = &mon.stats[0], *last = &mon.stats[(size_t)(mon.n_snapshots - 1) * mon.n_conv];
            printf("conv1 before / after training: mean |correlation| %.3f / %.3f, low-frequency share %.3f / %.3f "
                   "(white noise %.3f), dead %d / %d\n", first->mean_abs_corr, last->mean_abs_corr, first->structure,
                   last->structure, first->structure_noise, first->dead, last->dead);
        }
        cnnvis_monitor_free(&mon);
        cnnvis_dataset_free(&train), cnnvis_dataset_free(&test);
    }
    memset(&fd, 0, sizeof fd);
    ex_check(cnnvis_filters_image(&im, net, "conv1", &fd), "conv1 filters");
    ex_write(&im, out, "conv1_filters.png");
    cnnvis_image_free(&im);
    fd.per_filter = 1;
    ex_check(cnnvis_filters_image(&im, net, "conv1", &fd), "conv1 filters");
    ex_write(&im, out, "conv1_filters_per_filter.png");
    cnnvis_image_free(&im);
    memset(&fd, 0, sizeof fd);
    fd.max_filters = 32;
    ex_check(cnnvis_filters_image(&im, net, "conv2", &fd), "conv2 filters");
    ex_write(&im, out, "conv2_filters.png");
    cnnvis_image_free(&im);
    cnnvis_net_free(net);
    return 0;
}
