/* 04c_deepdream.c - lecture section 4: image and generic class saliency (DeepDream).

   Class models start from the mean image and climb a class score; DeepDream starts from a
   real image and climbs a layer's own activation: gradient ascent on 1/2 ||A_l(I)||^2, so
   whatever the layer already sees in the image is amplified until it is plainly visible.
   Dreaming is done at several scales (octaves, coarse to fine), and an image larger than
   the net's input is processed in input-sized tiles, rolled by a random offset at every
   step so that the seams move. Low layers amplify strokes and textures, higher layers
   parts of shapes; one conv5 channel alone draws only its own pattern.

   Build and run (after 00_train):
       make build/04c_deepdream && ./build/04c_deepdream
       ./build/04c_deepdream --index 7 --size 192           (another held-out image, larger)
       ./build/04c_deepdream --image my_photo.png --size 256
       ./build/04c_deepdream --checkpoint alexnet.cnnvis --image my_photo.png   (a 224x224 net:
                          the photo's shorter side resized to 224; add --size for larger)
   Output (in --out, default out/04c_deepdream/):
       (every picture NAME.png also as NAME.ppm, or NAME.pgm if grey, beside it)
       input.png                 the image dreamed on (a held-out concept image, upscaled)
       dream_conv3.png ...       dreamed at conv3, conv4, conv5 (the ReLU after each), all channels
       dream_conv5_chN.png       dreamed at conv5's channel N alone (the channels the image
                                 excites most)
       dreams.png                all of them side by side, captioned with the objective's ratio
   The objective, 1/2 ||A_l||^2 summed over the tiles, is printed before and after.
   Exercises:
       1. Dream at conv3 and at conv5 on the same image: which one adds strokes, which adds
          shapes? Compare with 04b_class_models' conv5 units.
       2. Set --octaves 1: what do the octaves contribute to the picture?
       3. Dream on a photo with --image. Which of the ten shapes appear in it? */
#include "cnnvis.h" /* its implementation: examples/cnnvis.c, compiled once and linked */
#include "common.h"

#define MAX_DREAMS 40 /* the input, 16 layers, 16 channels */

/* The command line: each option's value, set to its default here. */
static struct {
    const char *out, *checkpoint, *image;
    int index, size, layers, channels, octaves, steps, zoom, threads;
    float octave_scale, step;
    uint64_t seed;
} opt = {.out = "out/04c_deepdream", .checkpoint = "out/00_train/alexnet_mini.cnnvis", .layers = 3, .channels = 4,
         .octaves = 4, .steps = 10, .octave_scale = 1.4f, .step = 0.01f, .seed = 1};

static const ex_option options[] = {
    {"checkpoint", EX_STRING, &opt.checkpoint, 0, 0, "the trained net (out/00_train/alexnet_mini.cnnvis)"},
    {"image", EX_STRING, &opt.image, 0, 0, "dream on this image (PNG, PPM, PGM) instead of a concept image"},
    {"index", EX_INT, &opt.index, 0, 100000, "which held-out concept image (0)"},
    {"size", EX_INT, &opt.size, 8, 2048, "upscale it to N x N; --image: its shorter side to N (128, or the net's input if larger)"},
    {"layers", EX_INT, &opt.layers, 1, 16, "dream at each of the last N conv layers (3: conv3, conv4, conv5)"},
    {"channels", EX_INT, &opt.channels, 0, 16, "and at N single channels of the last conv layer (4)"},
    {"octaves", EX_INT, &opt.octaves, 1, 64, "scales, each octave-scale times smaller (4)"},
    {"octave-scale", EX_FLOAT, &opt.octave_scale, 1, 4, "size ratio of consecutive octaves (1.4)"},
    {"steps", EX_INT, &opt.steps, 1, 100000, "ascent steps per octave (10)"},
    {"step", EX_FLOAT, &opt.step, 1e-5, 9.99, "step size in pixels, per mean |gradient| (0.01)"},
    {"zoom", EX_INT, &opt.zoom, 0, 8, "enlarge the pictures in dreams.png N times (2; 1 from 200 pixels)"},
    {"threads", EX_INT, &opt.threads, 0, 256, "worker threads (0: all CPUs)"},
    {"seed", EX_U64, &opt.seed, 0, 1e18, "the seed 00_train used: its held-out images are dreamed on (1)"},
    {"out", EX_STRING, &opt.out, 0, 0, "output folder (out/04c_deepdream)"},
};

/* dreams.png as it fills up: its tiles and their captions. */
typedef struct grid {
    cnnvis_image tiles[MAX_DREAMS];
    char captions[MAX_DREAMS][64];
    int n;
} grid;

static int conv_layers(const cnnvis_net *net, int *conv);
static void load_input(grid *g, cnnvis_tensor *input, cnnvis_net *net);
static void strongest_channels(int *channels, cnnvis_net *net, const cnnvis_tensor *input, int conv);
static int report_dream(grid *g, cnnvis_net *net, const cnnvis_tensor *x, const cnnvis_deepdream_desc *dd, int layer,
                        double before, double after, double seconds);

int main(int argc, char **argv)
{
    static grid g;
    cnnvis_net *net;
    cnnvis_tensor input, x;
    cnnvis_deepdream_desc dd;
    cnnvis_montage_desc md;
    int conv[CNNVIS_MAX_LAYERS], channels[16], n_conv, i, ok = 1;
    double t0 = ex_seconds(), before, after, t;
    ex_parse(argc, argv, options, EX_COUNT(options),
             "usage: 04c_deepdream [options]\nDeepDream at the last conv layers and single channels (lecture section 4)");
    ex_out_dir(opt.out);
    net = ex_load_net(opt.checkpoint, opt.threads);
    n_conv = conv_layers(net, conv);
    load_input(&g, &input, net); /* the image to dream on, at --size: input.png */
    strongest_channels(channels, net, &input, conv[n_conv - 1]);

    /* Slide "4. Image and generic class saliency (Deep dream)": gradient ascent from a real
       image on a layer's own activation, 1/2 ||A_l(I)||^2, so that whatever the layer sees
       in it is amplified: at each of the last --layers conv layers, then at single channels. */
    memset(&dd, 0, sizeof dd);
    dd.octaves = opt.octaves, dd.octave_scale = opt.octave_scale; /* coarse to fine */
    dd.steps = opt.steps, dd.step = opt.step, dd.seed = opt.seed;
    printf("\n%-16s %14s %14s %10s %8s  %s\n", "dreamed at", "objective", "after", "ratio", "time", "the net now sees");
    for (i = 0; i < opt.layers + opt.channels; i++) {
        int layer = i < opt.layers ? conv[n_conv - opt.layers + i] : conv[n_conv - 1];
        dd.layer = ex_activation_of(net, layer);
        dd.one_channel = i >= opt.layers, dd.channel = i >= opt.layers ? channels[i - opt.layers] : 0;
        ex_check(cnnvis_tensor_create(&x, 1, input.c, input.h, input.w), "tensor");
        memcpy(x.data, input.data, sizeof(float) * cnnvis_tensor_count(&input)); /* each dream from the same image */
        t = ex_seconds();
        ex_check(cnnvis_deepdream(&x, &before, &after, net, &dd), "cnnvis_deepdream");
        ok &= report_dream(&g, net, &x, &dd, layer, before, after, ex_seconds() - t); /* and dream_LAYER.png */
        cnnvis_tensor_free(&x);
    }
    printf("%s\n", ok ? "every dream raised its objective at least tenfold"
                      : "some dreams raised their objective less than tenfold");
    memset(&md, 0, sizeof md);
    md.cols = g.n <= 4 ? g.n : 4, md.pad = 4, md.max_caption = 40;
    md.title = "DeepDream: gradient ascent on 1/2 |A_l|^2 (ratio: objective after / before)";
    ex_write_montage(g.tiles, g.captions, g.n, &md, opt.out, "dreams.png");
    printf("total %.1f s\n", ex_seconds() - t0);
    cnnvis_tensor_free(&input);
    cnnvis_net_free(net);
    return 0;
}

/* The indices of the net's conv layers (it needs one); --layers is cut to their number. */
static int conv_layers(const cnnvis_net *net, int *conv)
{
    int i, n = 0;
    for (i = 0; i < net->n_layers; i++)
        if (net->layers[i].desc.kind == CNNVIS_LAYER_CONV) conv[n++] = i;
    if (n == 0) {
        fprintf(stderr, "04c_deepdream: the net has no conv layer\n");
        exit(1);
    }
    if (opt.layers > n) opt.layers = n;
    return n;
}

/* An image file as pixels in [0, 1] (1, C, h, w) with its shorter side `size` (area when
   shrinking, bilinear when growing); grey and RGB converted to the net's channels. */
static void read_image(cnnvis_tensor *x, const cnnvis_net *net, const char *path, int size)
{
    cnnvis_image im, resized;
    int w, h, ch, y, xx, C = net->desc.in_c;
    ex_check(cnnvis_image_read(&im, path), path);
    if (im.w <= im.h) w = size, h = (int)((double)im.h * size / im.w + 0.5);
    else h = size, w = (int)((double)im.w * size / im.h + 0.5);
    if ((long long)w * h > 4096 * 4096) {
        fprintf(stderr, "--image %s: %dx%d at --size %d is too large\n", path, im.w, im.h, size);
        exit(2);
    }
    ex_check(cnnvis_image_resize(&resized, &im, w, h, w < im.w ? CNNVIS_RESIZE_AREA : CNNVIS_RESIZE_BILINEAR), "resize");
    ex_check(cnnvis_tensor_create(x, 1, C, h, w), "tensor");
    for (ch = 0; ch < C; ch++)
        for (y = 0; y < h; y++)
            for (xx = 0; xx < w; xx++) {
                const unsigned char *p = resized.px + ((size_t)y * w + xx) * resized.c;
                float v = resized.c == 1 ? p[0] : C == 1 ? (p[0] + p[1] + p[2]) / 3.0f : p[ch < 3 ? ch : 2];
                x->data[((size_t)ch * h + y) * w + xx] = v / 255.0f; /* (0, ch, y, xx) */
            }
    cnnvis_image_free(&im), cnnvis_image_free(&resized);
}

/* A held-out concept image upscaled to size x size, bilinear per channel. */
static void concept_image(cnnvis_tensor *x, const cnnvis_net *net, int index, int size, uint64_t seed)
{
    cnnvis_dataset ds;
    cnnvis_tensor small;
    int ch;
    ex_probe_data(&ds, net, "concepts", index + 1, seed);
    ex_check(cnnvis_dataset_pixels(&small, NULL, &ds, index, 1), "cnnvis_dataset_pixels");
    ex_check(cnnvis_tensor_create(x, 1, ds.c, size, size), "tensor");
    for (ch = 0; ch < ds.c; ch++)
        cnnvis_plane_resize(x->data + (size_t)ch * size * size, size, size, small.data + (size_t)ch * ds.h * ds.w, ds.w, ds.h,
                            CNNVIS_RESIZE_BILINEAR);
    printf("held-out concept image %d: a %s\n", index, cnnvis_net_class_name(net, ds.labels[index]));
    cnnvis_tensor_free(&small);
    cnnvis_dataset_free(&ds);
}

/* What the net makes of the whole image, shrunk to its input size: the top class and p. */
static int classify(cnnvis_net *net, const cnnvis_tensor *x, float *p)
{
    cnnvis_tensor small;
    float probs[1024];
    int ch, best = 0, c;
    ex_check(cnnvis_tensor_create(&small, 1, x->c, net->desc.in_h, net->desc.in_w), "tensor");
    for (ch = 0; ch < x->c; ch++)
        cnnvis_plane_resize(small.data + (size_t)ch * small.h * small.w, small.w, small.h,
                            x->data + (size_t)ch * x->h * x->w, x->w, x->h, CNNVIS_RESIZE_AREA);
    ex_check(cnnvis_net_predict(NULL, probs, NULL, net, &small), "cnnvis_net_predict");
    for (c = 1; c < net->n_classes && c < 1024; c++)
        if (probs[c] > probs[best]) best = c;
    *p = probs[best];
    cnnvis_tensor_free(&small);
    return best;
}

/* Pixels x in [0, 1] as a tile of dreams.png, enlarged --zoom times, and as the file
   OUT/file (file NULL: none). */
static void add_tile(grid *g, const cnnvis_tensor *x, const char *caption, const char *file)
{
    cnnvis_image im;
    cnnvis_map_desc as_is;
    /* pixels in [0, 1] shown as they are (a min-max mapping would stretch the input's
       contrast and not the dreams', which reach 0 and 1) */
    memset(&as_is, 0, sizeof as_is);
    as_is.mode = CNNVIS_MAP_PIXELS;
    ex_check(cnnvis_tensor_to_image(&im, x, 0, &as_is), "image");
    if (file) ex_write(&im, opt.out, file);
    ex_check(cnnvis_image_resize(&g->tiles[g->n], &im, im.w * opt.zoom, im.h * opt.zoom, CNNVIS_RESIZE_BILINEAR), "resize");
    snprintf(g->captions[g->n], sizeof g->captions[0], "%s", caption);
    g->n++;
    cnnvis_image_free(&im);
}

/* The image to dream on: --image with its shorter side --size, or held-out concept image
   --index upscaled to --size (default 128, never smaller than the net's input: 224 for an
   ImageNet AlexNet). Written as input.png, the first tile, captioned with the net's class. */
static void load_input(grid *g, cnnvis_tensor *input, cnnvis_net *net)
{
    char label[96];
    float p;
    int cls;
    if (opt.size == 0) {
        opt.size = net->desc.in_h > net->desc.in_w ? net->desc.in_h : net->desc.in_w;
        opt.size = opt.size > 128 ? opt.size : 128;
    }
    if (opt.image) read_image(input, net, opt.image, opt.size);
    else concept_image(input, net, opt.index, opt.size, opt.seed);
    if (input->h < net->desc.in_h || input->w < net->desc.in_w) {
        fprintf(stderr, "04c_deepdream: the image is %dx%d, smaller than the net's input %dx%d: raise --size\n", input->w,
                input->h, net->desc.in_w, net->desc.in_h);
        exit(2);
    }
    if (opt.zoom == 0) opt.zoom = input->w >= 200 && input->h >= 200 ? 1 : 2;
    cls = classify(net, input, &p);
    snprintf(label, sizeof label, "input: %s %.2f", cnnvis_net_class_name(net, cls), p);
    add_tile(g, input, label, "input.png");
}

/* The --channels channels of the last conv layer (index conv) this image excites most:
   energy of its ReLU output at the net's input size. Amplifying them shows what the net
   already sees. --channels is cut to the layer's number of channels. */
static void strongest_channels(int *channels, cnnvis_net *net, const cnnvis_tensor *input, int conv)
{
    const cnnvis_layer *L = &net->layers[cnnvis_net_find(net, ex_activation_of(net, conv))];
    size_t plane = (size_t)L->out_h * L->out_w, q;
    float energy[4096], p;
    int i, j, k;
    classify(net, input, &p); /* the forward pass leaves every layer's output in place */
    if (opt.channels > L->out_c) opt.channels = L->out_c;
    for (k = 0; k < L->out_c && k < 4096; k++) {
        energy[k] = 0;
        for (q = 0; q < plane; q++) energy[k] += L->out.data[(size_t)k * plane + q] * L->out.data[(size_t)k * plane + q];
    }
    for (i = 0; i < opt.channels; i++) { /* by repeated selection */
        int best = -1;
        for (k = 0; k < L->out_c && k < 4096; k++) {
            for (j = 0; j < i && channels[j] != k; j++) {
            }
            if (j == i && (best < 0 || energy[k] > energy[best])) best = k;
        }
        channels[i] = best;
    }
}

/* A dream x made at conv layer `layer` (dd: all its channels or one): a row of the table
   (its objective before and after, and what the net makes of it), dream_LAYER.png or
   dream_LAYER_chN.png, and its tile. Returns 1 if the objective rose at least tenfold. */
static int report_dream(grid *g, cnnvis_net *net, const cnnvis_tensor *x, const cnnvis_deepdream_desc *dd, int layer,
                        double before, double after, double seconds)
{
    const char *name = net->layers[layer].desc.name;
    char label[96], file[96];
    float p;
    int cls = classify(net, x, &p);
    if (dd->one_channel) {
        snprintf(label, sizeof label, "%s ch %d", name, dd->channel);
        snprintf(file, sizeof file, "dream_%s_ch%d.png", name, dd->channel);
    } else {
        snprintf(label, sizeof label, "%s (all)", name);
        snprintf(file, sizeof file, "dream_%s.png", name);
    }
    printf("%-16s %14.1f %14.1f %9.1fx %7.1fs  %s %.2f\n", label, before, after, before > 0 ? after / before : 0.0, seconds,
           cnnvis_net_class_name(net, cls), p);
    snprintf(label + strlen(label), sizeof label - strlen(label), ": x%.0f", before > 0 ? after / before : 0.0);
    add_tile(g, x, label, file);
    return before > 0 && after >= 10 * before;
}
