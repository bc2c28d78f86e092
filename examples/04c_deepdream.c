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

static void add_tile(cnnvis_image *tiles, char (*captions)[64], int *n, const cnnvis_tensor *x, int zoom, const char *caption,
                     const char *out, const char *file)
{
    cnnvis_image im;
    cnnvis_map_desc as_is;
    /* pixels in [0, 1] shown as they are (a min-max mapping would stretch the input's
       contrast and not the dreams', which reach 0 and 1) */
    memset(&as_is, 0, sizeof as_is);
    as_is.mode = CNNVIS_MAP_PIXELS;
    ex_check(cnnvis_tensor_to_image(&im, x, 0, &as_is), "image");
    if (file) ex_write(&im, out, file);
    ex_check(cnnvis_image_resize(&tiles[*n], &im, im.w * zoom, im.h * zoom, CNNVIS_RESIZE_BILINEAR), "resize");
    snprintf(captions[*n], sizeof captions[0], "%s", caption);
    (*n)++;
    cnnvis_image_free(&im);
}

int main(int argc, char **argv)
{
    const char *out = "out/04c_deepdream", *checkpoint = "out/00_train/alexnet_mini.cnnvis", *image = NULL;
    int threads = 0, index = 0, size = 0, octaves = 4, steps = 10, n_channels = 4, zoom = 0, n_layers = 3;
    float octave_scale = 1.4f, step = 0.01f;
    uint64_t seed = 1;
    ex_option opts[] = {
        {"checkpoint", EX_STRING, &checkpoint, 0, 0, "the trained net (out/00_train/alexnet_mini.cnnvis)"},
        {"image", EX_STRING, &image, 0, 0, "dream on this image (PNG, PPM, PGM) instead of a concept image"},
        {"index", EX_INT, &index, 0, 100000, "which held-out concept image (0)"},
        {"size", EX_INT, &size, 8, 2048, "upscale it to N x N; --image: its shorter side to N (128, or the net's input if larger)"},
        {"layers", EX_INT, &n_layers, 1, 16, "dream at each of the last N conv layers (3: conv3, conv4, conv5)"},
        {"channels", EX_INT, &n_channels, 0, 16, "and at N single channels of the last conv layer (4)"},
        {"octaves", EX_INT, &octaves, 1, 64, "scales, each octave-scale times smaller (4)"},
        {"octave-scale", EX_FLOAT, &octave_scale, 1, 4, "size ratio of consecutive octaves (1.4)"},
        {"steps", EX_INT, &steps, 1, 100000, "ascent steps per octave (10)"},
        {"step", EX_FLOAT, &step, 1e-5, 9.99, "step size in pixels, per mean |gradient| (0.01)"},
        {"zoom", EX_INT, &zoom, 0, 8, "enlarge the pictures in dreams.png N times (2; 1 from 200 pixels)"},
        {"threads", EX_INT, &threads, 0, 256, "worker threads (0: all CPUs)"},
        {"seed", EX_U64, &seed, 0, 1e18, "the seed 00_train used: its held-out images are dreamed on (1)"},
        {"out", EX_STRING, &out, 0, 0, "output folder (out/04c_deepdream)"},
    };
    cnnvis_net *net;
    cnnvis_tensor input, x;
    cnnvis_deepdream_desc dd;
    cnnvis_image tiles[MAX_DREAMS];
    cnnvis_montage_desc md;
    cnnvis_image im;
    char captions[MAX_DREAMS][64], file[96], label[96];
    const char *caps[MAX_DREAMS] = {0};
    int conv[CNNVIS_MAX_LAYERS], n_conv = 0, channels[16], n_tiles = 0, i, k, cls, ok = 1;
    float p;
    double t0 = ex_seconds(), before, after, t;
    ex_parse(argc, argv, opts, (int)(sizeof opts / sizeof opts[0]),
             "usage: 04c_deepdream [options]\nDeepDream at the last conv layers and single channels (lecture section 4)");
    if (ex_mkdirs(out) != 0) {
        fprintf(stderr, "04c_deepdream: cannot create %s\n", out);
        return 1;
    }
    net = ex_load_net(checkpoint, threads);
    for (i = 0; i < net->n_layers; i++)
        if (net->layers[i].desc.kind == CNNVIS_LAYER_CONV) conv[n_conv++] = i;
    if (n_conv == 0) {
        fprintf(stderr, "04c_deepdream: the net has no conv layer\n");
        return 1;
    }
    if (n_layers > n_conv) n_layers = n_conv;
    if (size == 0) { /* 128, but never smaller than the net's input (224 for an ImageNet AlexNet) */
        size = net->desc.in_h > net->desc.in_w ? net->desc.in_h : net->desc.in_w;
        size = size > 128 ? size : 128;
    }
    if (image) read_image(&input, net, image, size);
    else concept_image(&input, net, index, size, seed);
    if (input.h < net->desc.in_h || input.w < net->desc.in_w) {
        fprintf(stderr, "04c_deepdream: the image is %dx%d, smaller than the net's input %dx%d: raise --size\n", input.w,
                input.h, net->desc.in_w, net->desc.in_h);
        return 2;
    }
    if (zoom == 0) zoom = input.w >= 200 && input.h >= 200 ? 1 : 2;
    cls = classify(net, &input, &p);
    snprintf(label, sizeof label, "input: %s %.2f", cnnvis_net_class_name(net, cls), p);
    add_tile(tiles, captions, &n_tiles, &input, zoom, label, out, "input.png");

    /* The last conv layer's channels this image excites most (energy of its ReLU output at
       the net's input size): amplifying them shows what the net already sees. */
    {
        const cnnvis_layer *L = &net->layers[cnnvis_net_find(net, ex_activation_of(net, conv[n_conv - 1]))];
        size_t plane = (size_t)L->out_h * L->out_w, q;
        float energy[4096];
        classify(net, &input, &p); /* the forward pass leaves every layer's output in place */
        if (n_channels > L->out_c) n_channels = L->out_c;
        for (k = 0; k < L->out_c && k < 4096; k++) {
            energy[k] = 0;
            for (q = 0; q < plane; q++) energy[k] += L->out.data[(size_t)k * plane + q] * L->out.data[(size_t)k * plane + q];
        }
        for (i = 0; i < n_channels; i++) { /* by repeated selection */
            int best = -1, j;
            for (k = 0; k < L->out_c && k < 4096; k++) {
                for (j = 0; j < i && channels[j] != k; j++) {
                }
                if (j == i && (best < 0 || energy[k] > energy[best])) best = k;
            }
            channels[i] = best;
        }
    }

    memset(&dd, 0, sizeof dd);
    dd.octaves = octaves, dd.octave_scale = octave_scale, dd.steps = steps, dd.step = step, dd.seed = seed;
    printf("\n%-16s %14s %14s %10s %8s  %s\n", "dreamed at", "objective", "after", "ratio", "time", "the net now sees");
    for (i = 0; i < n_layers + n_channels; i++) {
        int layer = i < n_layers ? conv[n_conv - n_layers + i] : conv[n_conv - 1];
        const char *name = net->layers[layer].desc.name;
        dd.layer = ex_activation_of(net, layer);
        dd.one_channel = i >= n_layers, dd.channel = i >= n_layers ? channels[i - n_layers] : 0;
        ex_check(cnnvis_tensor_create(&x, 1, input.c, input.h, input.w), "tensor");
        memcpy(x.data, input.data, sizeof(float) * cnnvis_tensor_count(&input));
        t = ex_seconds();
        ex_check(cnnvis_deepdream(&x, &before, &after, net, &dd), "cnnvis_deepdream");
        t = ex_seconds() - t;
        cls = classify(net, &x, &p);
        if (dd.one_channel) {
            snprintf(label, sizeof label, "%s ch %d", name, dd.channel);
            snprintf(file, sizeof file, "dream_%s_ch%d.png", name, dd.channel);
        } else {
            snprintf(label, sizeof label, "%s (all)", name);
            snprintf(file, sizeof file, "dream_%s.png", name);
        }
        printf("%-16s %14.1f %14.1f %9.1fx %7.1fs  %s %.2f\n", label, before, after, before > 0 ? after / before : 0.0, t,
               cnnvis_net_class_name(net, cls), p);
        ok &= before > 0 && after >= 10 * before;
        snprintf(label + strlen(label), sizeof label - strlen(label), ": x%.0f", before > 0 ? after / before : 0.0);
        add_tile(tiles, captions, &n_tiles, &x, zoom, label, out, file);
        cnnvis_tensor_free(&x);
    }
    printf("%s\n", ok ? "every dream raised its objective at least tenfold"
                      : "some dreams raised their objective less than tenfold");
    for (i = 0; i < n_tiles; i++) caps[i] = captions[i];
    memset(&md, 0, sizeof md);
    md.cols = n_tiles <= 4 ? n_tiles : 4, md.pad = 4, md.max_caption = 40;
    md.title = "DeepDream: gradient ascent on 1/2 |A_l|^2 (ratio: objective after / before)";
    ex_check(cnnvis_montage(&im, tiles, n_tiles, caps, &md), "montage");
    ex_write(&im, out, "dreams.png");
    cnnvis_image_free(&im);
    for (i = 0; i < n_tiles; i++) cnnvis_image_free(&tiles[i]);
    printf("total %.1f s\n", ex_seconds() - t0);
    cnnvis_tensor_free(&input);
    cnnvis_net_free(net);
    return 0;
}
