/* 02a_activations.c - lecture section 2: analyse activations.

   "Pick a neuron, record it for many images, show the images with the highest
   activation." First the top-9 patches of every unit over held-out images: the receptive
   field of the unit's strongest position, cut from each of its nine best images (the
   lecture's "Top-9 patches" slides, from Zeiler & Fergus 2014, fig. 2). Then the feature
   maps of every conv layer for one image (what each channel responds to, where).

   Build and run (after 00_train):
       make build/02a_activations && ./build/02a_activations
       ./build/02a_activations --image my_photo.png          (feature maps of your own image)
       ./build/02a_activations --checkpoint alexnet.cnnvis --image my_photo.png
                          (a 224x224 net: the photo resized to its input; feature maps only,
                          the concept images being too small to rank for its top-k)
       ./build/02a_activations --checkpoint out/00_train/alexnet_mini.cnnvis --data concepts
   Output (in --out, default out/02a_activations/):
       (every picture NAME.png also as NAME.ppm, or NAME.pgm if grey, beside it)
       input.png                 the image the feature maps are of (enlarged)
       maps_conv1.png ...        every channel of each conv layer's activation (after its ReLU)
       top9_conv1.png ...        each unit's top-9 receptive-field patches, a 3x3 block per unit
       top9_conv5_images.png     conv5's top-9 as whole images (its fields cover most of them)
       top9_fc7.png              the same for the penultimate fully connected layer's neurons
   Exercises:
       1. conv1's patches are 5x5 pixels: what do its best units respond to? And conv5's,
          whose patches cover almost the whole image?
       2. Find a conv5 unit whose nine images all share a shape, and one whose images share a
          colour instead. Which kind is more common? (02b_dissection counts them.)
       3. Run with --image on a photo. Which conv1 maps light up on its edges? */
#include "cnnvis.h" /* its implementation: examples/cnnvis.c, compiled once and linked */
#include "common.h"

/* The command line: each option's value, set to its default here. */
static struct {
    const char *out, *checkpoint, *data, *image;
    int n_images, k, max_units, threads;
    uint64_t seed;
} opt = {.out = "out/02a_activations", .checkpoint = "out/00_train/alexnet_mini.cnnvis", .data = "concepts",
         .n_images = 2000, .k = 9, .max_units = 64, .seed = 1};

static const ex_option options[] = {
    {"checkpoint", EX_STRING, &opt.checkpoint, 0, 0, "the trained net (out/00_train/alexnet_mini.cnnvis)"},
    {"data", EX_STRING, &opt.data, 0, 0, "images to rank: concepts (default), fashion, mnist or cifar10"},
    {"n-images", EX_INT, &opt.n_images, 1, 1 << 24, "how many of them (2000)"},
    {"image", EX_STRING, &opt.image, 0, 0, "draw the feature maps of this image (PNG, PPM, PGM)"},
    {"k", EX_INT, &opt.k, 1, 100, "top images per unit (9)"},
    {"max-units", EX_INT, &opt.max_units, 1, 4096, "units per picture (64)"},
    {"threads", EX_INT, &opt.threads, 0, 256, "worker threads (0: all CPUs)"},
    {"seed", EX_U64, &opt.seed, 0, 1e18, "the seed 00_train used: its held-out images are looked at (1)"},
    {"out", EX_STRING, &opt.out, 0, 0, "output folder (out/02a_activations)"},
};

static int last_conv(const cnnvis_net *net);
static void write_whole_images(const cnnvis_topk *top, const cnnvis_dataset *ds, const char *name);
static void top_fc(cnnvis_net *net, const cnnvis_dataset *ds, const cnnvis_topk_desc *td);
static void feature_maps(cnnvis_net *net, const cnnvis_dataset *ds);

int main(int argc, char **argv)
{
    cnnvis_net *net;
    cnnvis_dataset ds;
    cnnvis_topk top;
    cnnvis_topk_desc td;
    cnnvis_image im;
    char name[64];
    int rank, i;
    double t0;
    ex_parse(argc, argv, options, EX_COUNT(options),
             "usage: 02a_activations [options]\ndraws feature maps and every unit's top-k patches (lecture section 2)");
    ex_out_dir(opt.out);
    net = ex_load_net(opt.checkpoint, opt.threads);
    /* a photo for a net the built-in images do not fit (a 224x224 AlexNet): its feature maps
       only, as there is no data set of its size to rank for the top-k */
    rank = !opt.image || strcmp(opt.data, "concepts") != 0 || ex_concepts_fit(net);
    memset(&ds, 0, sizeof ds);
    if (rank) ex_probe_data(&ds, net, opt.data, opt.n_images, opt.seed);

    /* Slide "2. Analyze activations": pick a neuron (a unit: a channel of a conv layer),
       record it for many images, show the images where it is highest - here the patch of
       its receptive field at its strongest position. The data set is streamed once per
       layer, keeping a k-entry heap per unit. */
    memset(&td, 0, sizeof td);
    td.k = opt.k;
    for (i = 0; rank && i < net->n_layers; i++) {
        if (net->layers[i].desc.kind != CNNVIS_LAYER_CONV) continue;
        t0 = ex_seconds();
        ex_check(cnnvis_topk_compute(&top, net, ex_activation_of(net, i), &ds, &td), "cnnvis_topk_compute");
        printf("%s: top-%d of %d units over %d images in %.2f s (receptive field %dx%d)\n", net->layers[i].desc.name,
               opt.k, top.n_units, ds.n, ex_seconds() - t0, top.rf_size, top.rf_size);
        ex_check(cnnvis_topk_image(&im, &top, &ds, opt.max_units, 1), "cnnvis_topk_image");
        snprintf(name, sizeof name, "top9_%s.png", net->layers[i].desc.name);
        ex_write(&im, opt.out, name);
        cnnvis_image_free(&im);
        if (i == last_conv(net)) { /* conv5's fields cover most of the image: whole images too */
            snprintf(name, sizeof name, "top9_%s_images.png", net->layers[i].desc.name);
            write_whole_images(&top, &ds, name);
        }
        cnnvis_topk_free(&top);
    }
    if (rank) top_fc(net, &ds, &td); /* the same for the neurons of fc7 */

    /* Slide "What is inside the black box (filters and feature maps)?": one image's maps. */
    feature_maps(net, &ds);
    if (!rank)
        printf("feature maps only, no top-k: it ranks a data set of the net's input size, %dx%dx%d, and the --data "
               "sets are at most 3x128x128\n", net->desc.in_c, net->desc.in_h, net->desc.in_w);
    cnnvis_dataset_free(&ds);
    cnnvis_net_free(net);
    return 0;
}

/* The index of the net's last conv layer (-1 if none). */
static int last_conv(const cnnvis_net *net)
{
    int i, last = -1;
    for (i = 0; i < net->n_layers; i++)
        if (net->layers[i].desc.kind == CNNVIS_LAYER_CONV) last = i;
    return last;
}

/* A layer's top-k as whole images rather than patches, written as OUT/name. */
static void write_whole_images(const cnnvis_topk *top, const cnnvis_dataset *ds, const char *name)
{
    cnnvis_image im;
    ex_check(cnnvis_topk_image(&im, top, ds, opt.max_units, 0), "cnnvis_topk_image");
    ex_write(&im, opt.out, name);
    cnnvis_image_free(&im);
}

/* The penultimate fully connected layer: its neurons see the whole image. */
static void top_fc(cnnvis_net *net, const cnnvis_dataset *ds, const cnnvis_topk_desc *td)
{
    cnnvis_topk top;
    char name[64];
    int i = net->n_layers - 2;
    while (i >= 0 && net->layers[i].desc.kind != CNNVIS_LAYER_FC) i--;
    if (i < 0) return;
    ex_check(cnnvis_topk_compute(&top, net, ex_activation_of(net, i), ds, td), "cnnvis_topk_compute");
    snprintf(name, sizeof name, "top9_%s.png", net->layers[i].desc.name);
    write_whole_images(&top, ds, name);
    cnnvis_topk_free(&top);
}

/* Feature maps: one forward pass of one image (--image, or the first held-out image), then
   every channel of every conv layer's activation (after its ReLU), and the image itself as
   input.png, enlarged to about 128 pixels wide or more. */
static void feature_maps(cnnvis_net *net, const cnnvis_dataset *ds)
{
    cnnvis_tensor x;
    cnnvis_map_desc as_is;
    cnnvis_image im, big;
    char name[64];
    int i, zoom = net->desc.in_w >= 128 ? 1 : 128 / net->desc.in_w;
    if (opt.image) ex_image_pixels(&x, net, opt.image); /* what the net sees of it: the centre crop at its input size */
    else ex_check(cnnvis_dataset_pixels(&x, NULL, ds, 0, 1), "image 0");
    memset(&as_is, 0, sizeof as_is);
    as_is.mode = CNNVIS_MAP_PIXELS; /* pixels in [0, 1] shown as they are */
    ex_check(cnnvis_tensor_to_image(&im, &x, 0, &as_is), "input");
    ex_check(cnnvis_net_normalize(&x, net, &x), "cnnvis_net_normalize"); /* pixels -> the net's input, in place */
    ex_check(cnnvis_image_resize(&big, &im, im.w * zoom, im.h * zoom, CNNVIS_RESIZE_NEAREST), "resize");
    ex_write(&big, opt.out, "input.png");
    cnnvis_image_free(&big), cnnvis_image_free(&im);
    ex_check(cnnvis_net_forward(net, &x), "forward");
    for (i = 0; i < net->n_layers; i++) {
        if (net->layers[i].desc.kind != CNNVIS_LAYER_CONV) continue;
        ex_check(cnnvis_feature_maps_image(&im, net, ex_activation_of(net, i), 0, NULL), "feature maps");
        snprintf(name, sizeof name, "maps_%s.png", net->layers[i].desc.name);
        ex_write(&im, opt.out, name);
        cnnvis_image_free(&im);
    }
    cnnvis_tensor_free(&x);
}
