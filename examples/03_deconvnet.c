/* 03_deconvnet.c - lecture section 3: deconvolutional networks.

   "Project activations back to pixel space" (Zeiler & Fergus 2014): run an image forward,
   keep one unit's activation, set every other to zero, and go back down layer by layer -
   unpool through the max-pool switches recorded on the way up, un-ReLU (max(R, 0) on the
   signal), transposed convolution with the same filters. What arrives at the pixels is the
   pattern in the image that made the unit fire. First, for a few images, the strongest
   unit of every conv layer projected down: the whole image, and cut to the unit's
   receptive field beside the patch it sees. Then the paper's figure 2 for every conv
   layer: each unit's top-9 activations over held-out images, projected (left block) beside
   the image patches they come from (right block). Projections are drawn around mid-grey:
   grey is zero, brighter or more coloured than grey pushes the unit up, darker pulls it
   down.

   Build and run (after 00_train):
       make build/03_deconvnet && ./build/03_deconvnet
       ./build/03_deconvnet --image my_photo.png        (project your own image)
       ./build/03_deconvnet --checkpoint alexnet.cnnvis --image my_photo.png
                          (a 224x224 net: the photo resized to its input; projections.png only)
       ./build/03_deconvnet --units 64 --n-images 5000  (more units, more images to rank)
   Output (in --out, default out/03_deconvnet/):
       (every picture NAME.png also as NAME.ppm, or NAME.pgm if grey, beside it)
       top9_deconv_conv1.png ...   per unit: projections of its top-9 | their patches
       projections.png             one row per image: the image, then for each conv layer
                                   its strongest unit's projection (receptive field boxed in
                                   yellow, clipped to the image), the projection cut to the field,
                                   and the patch of the image in the field
   Exercises:
       1. In top9_deconv_conv1.png all nine projections of a unit are the same picture. Why?
          (What does a transposed convolution make of a single non-zero activation?) Compare
          them with 01_filters' conv1_filters.png.
       2. In projections.png the strongest conv1 unit often sits at the image's border. What
          does the zero padding look like to conv1, in pixels? (The net's input is normalised.)
       3. Do conv5's projections fill the object or trace its outline? Run --image on a photo of
          a ring or a star (or draw one): which parts of the shape survive the projection? */
#include "cnnvis.h" /* its implementation: examples/cnnvis.c, compiled once and linked */
#include "common.h"

#define MAX_CONV 16
#define MAX_SHOW 4 /* images in projections.png */
#define TILE 96    /* pixels a side of every tile in projections.png */

/* The command line: each option's value, set to its default here. */
static struct {
    const char *out, *checkpoint, *image;
    int n_images, units, threads;
    uint64_t seed;
} opt = {.out = "out/03_deconvnet", .checkpoint = "out/00_train/alexnet_mini.cnnvis", .n_images = 2000, .units = 16,
         .seed = 1};

static const ex_option options[] = {
    {"checkpoint", EX_STRING, &opt.checkpoint, 0, 0, "the trained net (out/00_train/alexnet_mini.cnnvis)"},
    {"n-images", EX_INT, &opt.n_images, 1, 1 << 24, "held-out concept images to rank for the top-9 (2000)"},
    {"units", EX_INT, &opt.units, 1, 4096, "units per top-9 picture (16)"},
    {"image", EX_STRING, &opt.image, 0, 0, "project this image (PNG, PPM, PGM) instead of held-out ones"},
    {"threads", EX_INT, &opt.threads, 0, 256, "worker threads (0: all CPUs)"},
    {"seed", EX_U64, &opt.seed, 0, 1e18, "the seed 00_train used: its held-out images are looked at (1)"},
    {"out", EX_STRING, &opt.out, 0, 0, "output folder (out/03_deconvnet)"},
};

/* A conv layer: its index, the index of the ReLU after it (whose output is the layer's
   activation), and its strongest unit on the image looked at, with that unit's activation. */
typedef struct conv_layer {
    int conv, act, unit;
    float best;
} conv_layer;

/* projections.png as it fills up: its tiles and their captions. */
typedef struct grid {
    cnnvis_image tiles[MAX_SHOW * (1 + 3 * MAX_CONV)];
    char captions[MAX_SHOW * (1 + 3 * MAX_CONV)][64];
    int n;
} grid;

static int load_images(cnnvis_dataset *ds, const cnnvis_net *net);
static int conv_layers(cnnvis_net *net, conv_layer *layers);
static void load_image(grid *g, cnnvis_tensor *pixels, cnnvis_net *net, const cnnvis_dataset *ds, int s);
static void strongest_units(const cnnvis_net *net, conv_layer *layers, int n_conv);
static void add_projection(grid *g, const cnnvis_net *net, const conv_layer *L, const cnnvis_tensor *proj,
                           const cnnvis_tensor *pixels, int y, int x);
static void top9_figures(cnnvis_net *net, const cnnvis_dataset *ds, const conv_layer *layers, int n_conv);

int main(int argc, char **argv)
{
    static grid g;
    conv_layer layers[MAX_CONV];
    cnnvis_net *net;
    cnnvis_dataset ds;
    cnnvis_tensor pixels, proj;
    cnnvis_montage_desc md;
    int rank, n_conv, s, l, y, x;
    double t_all = ex_seconds();
    ex_parse(argc, argv, options, EX_COUNT(options),
             "usage: 03_deconvnet [options]\ndeconvnet projections of conv units (lecture section 3)");
    ex_out_dir(opt.out);
    net = ex_load_net(opt.checkpoint, opt.threads);
    rank = load_images(&ds, net); /* 0: a photo, no held-out images of its size to rank */
    n_conv = conv_layers(net, layers);

    /* Slide "3. Deconvolutional networks": what input pattern caused a given activation?
       Project it back to the pixels: unpooling, un-ReLU, transposed convolution. Here the
       strongest unit of every conv layer, for a few images (images 0..3 of a balanced set:
       four classes). */
    printf("strongest unit of each conv layer, projected down (unit, position, activation):\n");
    for (s = 0; s < (opt.image ? 1 : MAX_SHOW); s++) {
        load_image(&g, &pixels, net, &ds, s); /* its tile; the net's forward pass leaves every layer's output */
        strongest_units(net, layers, n_conv);
        for (l = 0; l < n_conv; l++) {
            ex_check(cnnvis_deconv_project(&proj, &y, &x, net, &pixels, net->layers[layers[l].act].desc.name, layers[l].unit,
                                           CNNVIS_PROJECT_UNIT_MAX), "cnnvis_deconv_project");
            add_projection(&g, net, &layers[l], &proj, &pixels, y, x); /* with its field | in its field | the patch */
            cnnvis_tensor_free(&proj);
        }
        printf("\n");
        cnnvis_tensor_free(&pixels);
    }
    memset(&md, 0, sizeof md);
    md.cols = 1 + 3 * n_conv, md.pad = 4;
    md.title = "deconvnet: the strongest unit of each conv layer projected to the pixels (grey = 0) | cut to its "
               "receptive field | the patch it sees";
    ex_write_montage(g.tiles, g.captions, g.n, &md, opt.out, "projections.png");

    /* Slides "Layer 1-2: Top-9 Patches" (and layers 3, 4-5): every unit's top-9 projected. */
    if (rank) top9_figures(net, &ds, layers, n_conv);
    cnnvis_dataset_free(&ds);
    cnnvis_net_free(net);
    printf("done in %.1f s\n", ex_seconds() - t_all);
    return 0;
}

/* The held-out concept images to rank for the top-9 (and to project, without --image).
   None for a photo whose net the built-in images do not fit (a 224x224 AlexNet): then its
   projections only, and 0 is returned. */
static int load_images(cnnvis_dataset *ds, const cnnvis_net *net)
{
    memset(ds, 0, sizeof *ds);
    if (opt.image && !ex_concepts_fit(net)) {
        printf("projections of %s only, no top-9: it ranks the built-in concept images, at most 3x128x128, and the net "
               "takes %dx%dx%d\n", opt.image, net->desc.in_c, net->desc.in_h, net->desc.in_w);
        return 0;
    }
    ex_probe_data(ds, net, "concepts", opt.n_images, opt.seed);
    return 1;
}

/* The net's conv layers (at most MAX_CONV) and the ReLU after each. Returns how many. */
static int conv_layers(cnnvis_net *net, conv_layer *layers)
{
    int i, n = 0;
    for (i = 0; i < net->n_layers && n < MAX_CONV; i++)
        if (net->layers[i].desc.kind == CNNVIS_LAYER_CONV) {
            layers[n].conv = i;
            layers[n].act = cnnvis_net_find(net, ex_activation_of(net, i)); /* the ReLU after it */
            n++;
        }
    return n;
}

/* A tensor image (1, C, h, w) as a TILE x TILE picture, blocky so that pixels stay pixels
   (or averaged down, when larger than TILE):
   through the map m, or (m NULL) as pixels in [0, 1] just as they are, clamped - a min-max
   map would stretch an image's contrast. */
static cnnvis_image tile_of(const cnnvis_tensor *t, const cnnvis_map_desc *m)
{
    cnnvis_image im, big;
    cnnvis_map_desc as_is;
    memset(&as_is, 0, sizeof as_is);
    as_is.mode = CNNVIS_MAP_PIXELS;
    ex_check(cnnvis_tensor_to_image(&im, t, 0, m ? m : &as_is), "tensor to image");
    ex_check(cnnvis_image_resize(&big, &im, TILE, TILE, im.w > TILE || im.h > TILE ? CNNVIS_RESIZE_AREA : CNNVIS_RESIZE_NEAREST),
             "resize"); /* a 224x224 photo is shrunk, averaging */
    cnnvis_image_free(&im);
    return big;
}

/* The receptive field of unit position (y, x) of layer `li` as a box on a TILE-sized tile
   of the whole image, clipped to the image (deep fields reach beyond it into the padding). */
static void draw_field(cnnvis_image *tile, const cnnvis_net *net, int li, int y, int x)
{
    static const unsigned char yellow[3] = {255, 220, 0};
    const cnnvis_layer *L = &net->layers[li];
    int top = L->rf_offset + y * L->rf_stride, left = L->rf_offset + x * L->rf_stride, size = L->rf_size;
    double zoom_x = (double)TILE / net->desc.in_w, zoom_y = (double)TILE / net->desc.in_h; /* below 1 for a photo */
    int x0 = (int)floor(left * zoom_x) - 1, y0 = (int)floor(top * zoom_y) - 1;
    int x1 = (int)ceil((left + size) * zoom_x), y1 = (int)ceil((top + size) * zoom_y);
    x0 = x0 < 0 ? 0 : x0, y0 = y0 < 0 ? 0 : y0;
    x1 = x1 > tile->w - 1 ? tile->w - 1 : x1, y1 = y1 > tile->h - 1 ? tile->h - 1 : y1;
    cnnvis_image_line(tile, x0, y0, x1, y0, yellow);
    cnnvis_image_line(tile, x1, y0, x1, y1, yellow);
    cnnvis_image_line(tile, x1, y1, x0, y1, yellow);
    cnnvis_image_line(tile, x0, y1, x0, y0, yellow);
}

static void add_tile(grid *g, cnnvis_image tile, const char *caption)
{
    g->tiles[g->n] = tile;
    snprintf(g->captions[g->n++], 64, "%s", caption);
}

/* Held-out image s (or --image) as pixels, and its tile captioned with its class and the
   net's answer. Predicting runs every layer on it and leaves their outputs in place. */
static void load_image(grid *g, cnnvis_tensor *pixels, cnnvis_net *net, const cnnvis_dataset *ds, int s)
{
    char caption[64];
    float p;
    int pred;
    if (opt.image) ex_image_pixels(pixels, net, opt.image);
    else ex_check(cnnvis_dataset_pixels(pixels, NULL, ds, s, 1), "cnnvis_dataset_pixels");
    pred = ex_top_class(net, pixels, &p);
    if (opt.image) snprintf(caption, sizeof caption, "net: %s\n%.0f%%", cnnvis_net_class_name(net, pred), 100 * p);
    else
        snprintf(caption, sizeof caption, "%s\nnet: %s %.0f%%", cnnvis_net_class_name(net, ds->labels[s]),
                 cnnvis_net_class_name(net, pred), 100 * p);
    add_tile(g, tile_of(pixels, NULL), caption);
    printf("  image %d (%s):", s, opt.image ? opt.image : cnnvis_net_class_name(net, ds->labels[s]));
}

/* The strongest unit of each layer on the image the net last ran on: the channel with the
   largest activation anywhere in its map (chosen for all layers before any projection,
   which re-runs the layers below the one projected). */
static void strongest_units(const cnnvis_net *net, conv_layer *layers, int n_conv)
{
    int l, ch;
    for (l = 0; l < n_conv; l++) {
        const cnnvis_layer *A = &net->layers[layers[l].act];
        size_t plane = (size_t)A->out_h * A->out_w, q;
        layers[l].best = -1e30f, layers[l].unit = 0;
        for (ch = 0; ch < A->out_c; ch++)
            for (q = 0; q < plane; q++)
                if (A->out.data[(size_t)ch * plane + q] > layers[l].best)
                    layers[l].best = A->out.data[(size_t)ch * plane + q], layers[l].unit = ch;
    }
}

/* A unit's projection (its strongest position (y, x)) as three tiles: the whole image with
   the receptive field boxed, the projection cut to the field, and the image's patch there. */
static void add_projection(grid *g, const cnnvis_net *net, const conv_layer *L, const cnnvis_tensor *proj,
                           const cnnvis_tensor *pixels, int y, int x)
{
    const cnnvis_layer *A = &net->layers[L->act];
    const char *conv = net->layers[L->conv].desc.name;
    cnnvis_map_desc signed_map;
    cnnvis_tensor crop, shifted;
    char caption[64];
    size_t q;
    printf("  %s u%d (%d,%d) %.2f", conv, L->unit, y, x, L->best);
    memset(&signed_map, 0, sizeof signed_map);
    signed_map.mode = CNNVIS_MAP_SYMMETRIC; /* zero is grey; each tile its own scale, */
    signed_map.clip_percentile = 99.5f;     /* set by all but its 0.5% largest |values| */
    /* whole image, with the field boxed */
    snprintf(caption, sizeof caption, "%s\nunit %d", conv, L->unit);
    add_tile(g, tile_of(proj, &signed_map), caption);
    draw_field(&g->tiles[g->n - 1], net, L->act, y, x);
    /* cut to the receptive field */
    ex_check(cnnvis_rf_crop(&crop, net, A->desc.name, proj, y, x), "cnnvis_rf_crop");
    snprintf(caption, sizeof caption, "field\n%dx%d", A->rf_size, A->rf_size);
    add_tile(g, tile_of(&crop, &signed_map), caption);
    cnnvis_tensor_free(&crop);
    /* the patch the unit sees: cropped around 0.5 so that the padding it sees is grey */
    ex_check(cnnvis_tensor_create(&shifted, 1, pixels->c, pixels->h, pixels->w), "tensor");
    for (q = 0; q < cnnvis_tensor_count(pixels); q++) shifted.data[q] = pixels->data[q] - 0.5f;
    ex_check(cnnvis_rf_crop(&crop, net, A->desc.name, &shifted, y, x), "cnnvis_rf_crop");
    for (q = 0; q < cnnvis_tensor_count(&crop); q++) crop.data[q] += 0.5f;
    add_tile(g, tile_of(&crop, NULL), "patch");
    cnnvis_tensor_free(&crop);
    cnnvis_tensor_free(&shifted);
}

/* Zeiler & Fergus's figure 2: every conv layer's top-9 over the held-out images, projected
   (left block) beside the patches they come from (right block), as top9_deconv_LAYER.png. */
static void top9_figures(cnnvis_net *net, const cnnvis_dataset *ds, const conv_layer *layers, int n_conv)
{
    cnnvis_topk top;
    cnnvis_topk_desc td;
    cnnvis_image im;
    char name[64];
    int l;
    printf("\n");
    memset(&td, 0, sizeof td);
    td.k = 9; /* every unit: cnnvis_topk_deconv_image refuses a top-k of fewer units than the layer has */
    for (l = 0; l < n_conv; l++) {
        const char *layer = net->layers[layers[l].conv].desc.name;
        double t0 = ex_seconds();
        ex_check(cnnvis_topk_compute(&top, net, ex_activation_of(net, layers[l].conv), ds, &td), "cnnvis_topk_compute");
        ex_check(cnnvis_topk_deconv_image(&im, net, &top, ds, opt.units), "cnnvis_topk_deconv_image");
        printf("%s: top-9 of %d units over %d images, projected, in %.2f s (receptive field %dx%d)\n", layer,
               opt.units < top.n_units ? opt.units : top.n_units, ds->n, ex_seconds() - t0, top.rf_size, top.rf_size);
        snprintf(name, sizeof name, "top9_deconv_%s.png", layer);
        ex_write(&im, opt.out, name);
        cnnvis_image_free(&im);
        cnnvis_topk_free(&top);
    }
}
