/* 04b_class_models.c - lecture section 4: class models and activation maximisation.

   "Can we generate an image that outputs high score for dog?" The lecture's answer
   (Simonyan et al. 2014): start from the mean image and climb the class score by gradient
   ascent on the pixels, argmax_I S_c(I) - lambda ||I||^2, with the L2 penalty keeping the
   pixels from growing without bound. Plain ascent finds high-frequency patterns the net
   scores far above any real image; Yosinski et al. 2015's regularisers (jitter the image,
   blur it every few steps, reset pixels of small norm to the mean) make the picture more
   natural at some cost in score. The same ascent on a hidden unit instead of a class score
   (activation maximisation) shows what a conv5 channel (at its centre position) or an fc7
   neuron wants to see.
   Each class model is checked against the data: its score S_c is compared with the highest
   S_c over the training images (the first 5000 by default), and its softmax probability
   p(c) is printed - as found, and again with its pixels clamped to [0, 1], since the ascent
   is free to leave the range of a real image (and does, by far).

   Build and run (after 00_train):
       make build/04b_class_models && ./build/04b_class_models
       ./build/04b_class_models --steps 1000 --l2 0.001        (longer ascent, weaker penalty)
       ./build/04b_class_models --blur-every 2 --clip-norm 50   (stronger regularisers)
       ./build/04b_class_models --n-train 20000      (scores against 20000 of 00_train's images, as in README.md)
   Output (in --out, default out/04b_class_models/):
       (every picture NAME.png also as NAME.ppm, or NAME.pgm if grey, beside it)
       class_models.png              one image per class, L2 only: class, score S_c, p(c)
       class_models_regularised.png  the same with jitter, blur and norm clipping
       units_conv5.png               activation maximisation of conv5 channels that respond
                                     strongly on the training images, one for each class
                                     their best images belong to
       units_fc7.png                 the same for fc7 neurons
   Printed: every class model's score and p(c) beside the training images' highest score
   of that class, and every unit's activation beside its training maximum.
   Pixels are shown min-max mapped after clipping the 1% most extreme values (--clip 99;
   --clip 0: plain min-max): a class model's pixels run far outside [0, 1].
   Exercises:
       1. Compare a class model's score with the training maximum printed beside it. What
          does a score ten times higher than any real image's say about the net?
       2. Turn the regularisers off one at a time (--jitter 0, --blur-every 0, --clip-norm
          0). Which one changes the picture most, and which the score?
       3. Which conv5 channels' pictures look like parts of a shape, which like a colour or
          a texture? Compare with 02a_activations' top-9 patches of the same channels. */
#include "cnnvis.h" /* its implementation: examples/cnnvis.c, compiled once and linked */
#include "common.h"

#define MAX_UNITS 64

/* The command line: each option's value, set to its default here. */
static struct {
    const char *out, *checkpoint;
    int steps, jitter, blur_every, units, n_train, zoom, threads;
    float lr, l2, blur_sigma, clip_norm, clip;
    uint64_t seed;
} opt = {.out = "out/04b_class_models", .checkpoint = "out/00_train/alexnet_mini.cnnvis", .steps = 200, .jitter = 2,
         .blur_every = 4, .units = 10, .n_train = 5000, .zoom = 4, .lr = 0.1f, .l2 = 0.01f, .blur_sigma = 0.5f,
         .clip_norm = 20, .clip = 99, .seed = 1};

static const ex_option options[] = {
    {"checkpoint", EX_STRING, &opt.checkpoint, 0, 0, "the trained net (out/00_train/alexnet_mini.cnnvis)"},
    {"steps", EX_INT, &opt.steps, 1, 100000, "gradient ascent steps (200)"},
    {"lr", EX_FLOAT, &opt.lr, 1e-6, 100, "step size, in units of the mean |gradient| (0.1)"},
    {"l2", EX_FLOAT, &opt.l2, 0, 1000, "lambda of the L2 penalty (0.01)"},
    {"jitter", EX_INT, &opt.jitter, 0, 16, "regularised: shift the image by up to N pixels each step (2)"},
    {"blur-every", EX_INT, &opt.blur_every, 0, 1000, "regularised: Gaussian blur every N steps (4; 0: never)"},
    {"blur-sigma", EX_FLOAT, &opt.blur_sigma, 0.01, 10, "regularised: the blur's sigma in pixels (0.5)"},
    {"clip-norm", EX_FLOAT, &opt.clip_norm, 0, 99, "regularised: reset pixels below this percentile of norm (20)"},
    {"units", EX_INT, &opt.units, 1, MAX_UNITS, "conv5 channels and fc7 neurons to maximise (10)"},
    {"n-train", EX_INT, &opt.n_train, 10, 1000000, "training images to compare the scores with (5000; 00_train used 24000)"},
    {"clip", EX_FLOAT, &opt.clip, 0, 99.99, "display: clip values beyond this percentile (99; 0: min-max)"},
    {"zoom", EX_INT, &opt.zoom, 1, 16, "display: enlarge each image N times (4)"},
    {"threads", EX_INT, &opt.threads, 0, 256, "worker threads (0: all CPUs)"},
    {"seed", EX_U64, &opt.seed, 0, 1e18, "the seed 00_train used: its training images are regenerated (1)"},
    {"out", EX_STRING, &opt.out, 0, 0, "output folder (out/04b_class_models)"},
};

/* What a class model reaches: its score S_c and p(c) as found, and once its pixels are
   clamped to [0, 1], the range a real image has. */
typedef struct model_result {
    float score, p, clamped_score, clamped_p;
} model_result;

/* The class models of one kind (L2 only, or regularised): each class's result, and the
   range of their pixels. */
typedef struct models {
    model_result res[MAX_UNITS];
    float lo, hi;
} models;

/* What the training images reach: each class score's maximum and the image reaching it;
   each unit's maximum (a conv channel at its centre position, where the ascent puts its
   objective) and the class of the image reaching it. */
typedef struct maxima {
    float *score;
    int *image;
    float conv[4096], fc[4096];
    int conv_class[4096], fc_class[4096];
} maxima;

static void find_layers(const cnnvis_net *net, int *conv, int *fc);
static void load_training_images(cnnvis_dataset *train, const cnnvis_net *net);
static void check_model(cnnvis_image *tile, char *caption, cnnvis_net *net, cnnvis_tensor *px, int c, float score,
                        models *m);
static void write_grid(cnnvis_image *tiles, char (*captions)[64], int n, int cols, const char *title, const char *name);
static void regularised_models(cnnvis_net *net, const cnnvis_class_model_desc *reg, models *m);
static void score_training_images(maxima *max, cnnvis_net *net, const cnnvis_dataset *train, int conv, int fc);
static void print_scores(cnnvis_net *net, const models *plain, const models *reg, const maxima *max,
                         const cnnvis_dataset *train);
static void unit_models(cnnvis_net *net, int layer, const cnnvis_class_model_desc *reg, const float *best,
                        const int *best_class);

int main(int argc, char **argv)
{
    static models plain_models, reg_models;
    static maxima max;
    cnnvis_net *net;
    cnnvis_dataset train;
    cnnvis_tensor px;
    cnnvis_class_model_desc plain, reg;
    cnnvis_image tiles[MAX_UNITS];
    char captions[MAX_UNITS][64], title[256];
    int conv, fc, c;
    double t0 = ex_seconds(), t;
    ex_parse(argc, argv, options, EX_COUNT(options),
             "usage: 04b_class_models [options]\nclass models and activation maximisation (lecture section 4)");
    ex_out_dir(opt.out);
    net = ex_load_net(opt.checkpoint, opt.threads);
    find_layers(net, &conv, &fc);      /* conv5 and fc7, for activation maximisation */
    load_training_images(&train, net); /* what the class models' scores are compared with */

    /* Slide "4. Generic class saliency maps": can we generate an image that outputs a high
       score for a class? argmax_I S_c(I) - lambda ||I||^2, by gradient ascent on the pixels
       from the mean image. */
    memset(&plain, 0, sizeof plain);
    plain.steps = opt.steps, plain.lr = opt.lr, plain.l2 = opt.l2, plain.seed = opt.seed;
    t = ex_seconds();
    for (c = 0; c < net->n_classes && c < MAX_UNITS; c++) {
        float score;
        ex_check(cnnvis_class_model(&px, &score, net, c, &plain), "cnnvis_class_model");
        check_model(&tiles[c], captions[c], net, &px, c, score, &plain_models); /* caption: S_c and p(c) */
        cnnvis_tensor_free(&px);
    }
    snprintf(title, sizeof title, "class models: argmax S_c(I) - %g |I|^2, %d steps", opt.l2, opt.steps);
    write_grid(tiles, captions, c, 5, title, "class_models.png");
    printf("plain class models in %.1f s\n", ex_seconds() - t);

    /* The same with Yosinski et al.'s regularisers; then checked against the training images. */
    reg = plain;
    reg.jitter = opt.jitter, reg.blur_every = opt.blur_every, reg.blur_sigma = opt.blur_sigma, reg.clip_norm = opt.clip_norm;
    regularised_models(net, &reg, &reg_models);
    score_training_images(&max, net, &train, conv, fc);
    print_scores(net, &plain_models, &reg_models, &max, &train);

    /* Activation maximisation: the same ascent on a hidden unit instead of a class score. */
    unit_models(net, conv, &reg, max.conv, max.conv_class);
    unit_models(net, fc, &reg, max.fc, max.fc_class);
    printf("total %.1f s\n", ex_seconds() - t0);
    cnnvis_dataset_free(&train);
    free(max.score), free(max.image);
    cnnvis_net_free(net);
    return 0;
}

/* The last conv layer, and the fc layer before the classifier: the units maximised. */
static void find_layers(const cnnvis_net *net, int *conv, int *fc)
{
    int i;
    *conv = *fc = -1;
    for (i = 0; i < net->n_layers; i++) {
        if (net->layers[i].desc.kind == CNNVIS_LAYER_CONV) *conv = i;
        if (net->layers[i].desc.kind == CNNVIS_LAYER_FC && i < net->n_layers - 1) *fc = i;
    }
    if (*conv < 0 || *fc < 0 || net->layers[*conv].out_c > 4096 || net->layers[*fc].out_c > 4096) {
        fprintf(stderr, "04b_class_models: the net needs a conv layer and two fc layers (at most 4096 units each)\n");
        exit(1);
    }
}

/* The first --n-train of 00_train's training images, made again from its seed. */
static void load_training_images(cnnvis_dataset *train, const cnnvis_net *net)
{
    ex_make_concepts(train, NULL, opt.n_train, opt.seed);
    if (train->c != net->desc.in_c || train->h != net->desc.in_h || train->w != net->desc.in_w) {
        fprintf(stderr, "04b_class_models: the net does not take %dx%dx%d concept images: was it trained on them?\n",
                train->c, train->h, train->w);
        exit(1);
    }
}

/* A tensor of pixels as a captioned tile: min-max mapped (after clipping), enlarged. */
static void tile_of(cnnvis_image *tile, const cnnvis_tensor *px, float clip, int zoom)
{
    cnnvis_map_desc md;
    cnnvis_image im;
    memset(&md, 0, sizeof md);
    md.mode = CNNVIS_MAP_MINMAX, md.clip_percentile = clip;
    ex_check(cnnvis_tensor_to_image(&im, px, 0, &md), "cnnvis_tensor_to_image");
    ex_check(cnnvis_image_resize(tile, &im, im.w * zoom, im.h * zoom, CNNVIS_RESIZE_NEAREST), "resize");
    cnnvis_image_free(&im);
}

/* n units to show, by their maximum over the training images (best), spread over the
   classes: each pick is the strongest unit whose best image is of a class not picked yet
   (once every class has one, simply the strongest left). Returns how many. */
static int pick_units(int *units, const float *best, const int *best_class, int count, int n)
{
    int k, u, i;
    for (k = 0; k < n && k < count; k++) {
        int pass;
        units[k] = -1;
        for (pass = 0; pass < 2 && units[k] < 0; pass++)
            for (u = 0; u < count; u++) {
                int taken = 0, class_seen = 0;
                for (i = 0; i < k; i++) taken |= units[i] == u, class_seen |= best_class[units[i]] == best_class[u];
                if (taken || (pass == 0 && class_seen)) continue;
                if (units[k] < 0 || best[u] > best[units[k]]) units[k] = u;
            }
    }
    return k;
}

/* A class model found for class c, its score S_c: its tile and caption, and the net's p(c)
   for it - as found, and again with its pixels clamped to [0, 1] (which changes px). The
   range of the models' pixels is kept in m. */
static void check_model(cnnvis_image *tile, char *caption, cnnvis_net *net, cnnvis_tensor *px, int c, float score,
                        models *m)
{
    model_result *r = &m->res[c];
    float *scores = (float *)calloc((size_t)net->n_classes, sizeof(float));
    float *probs = (float *)calloc((size_t)net->n_classes, sizeof(float));
    cnnvis_stats st;
    size_t q;
    if (!scores || !probs) {
        fprintf(stderr, "04b_class_models: out of memory\n");
        exit(1);
    }
    r->score = score;
    ex_check(cnnvis_net_predict(scores, probs, NULL, net, px), "cnnvis_net_predict");
    r->p = probs[c];
    tile_of(tile, px, opt.clip, opt.zoom);
    snprintf(caption, 64, "%s\nS=%.0f p=%.3f", cnnvis_net_class_name(net, c), r->score, r->p);
    st = cnnvis_tensor_stats(px);
    if (c == 0) m->lo = st.min, m->hi = st.max; /* the models come class by class, from 0 */
    m->lo = st.min < m->lo ? st.min : m->lo, m->hi = st.max > m->hi ? st.max : m->hi;
    for (q = 0; q < cnnvis_tensor_count(px); q++) /* would the pattern still work as a real image? */
        px->data[q] = px->data[q] < 0 ? 0 : px->data[q] > 1 ? 1 : px->data[q];
    ex_check(cnnvis_net_predict(scores, probs, NULL, net, px), "cnnvis_net_predict");
    r->clamped_score = scores[c], r->clamped_p = probs[c];
    free(scores), free(probs);
}

static void write_grid(cnnvis_image *tiles, char (*captions)[64], int n, int cols, const char *title, const char *name)
{
    cnnvis_montage_desc md;
    memset(&md, 0, sizeof md);
    md.cols = cols, md.title = title, md.pad = 4;
    ex_write_montage(tiles, captions, n, &md, opt.out, name);
}

/* class_models_regularised.png: the class models again, with jitter, blur and norm clipping
   (Yosinski et al. 2015): more natural pictures at some cost in score. */
static void regularised_models(cnnvis_net *net, const cnnvis_class_model_desc *reg, models *m)
{
    cnnvis_image tiles[MAX_UNITS];
    char captions[MAX_UNITS][64], title[256];
    cnnvis_tensor px;
    double t = ex_seconds();
    int c;
    for (c = 0; c < net->n_classes && c < MAX_UNITS; c++) {
        float score;
        ex_check(cnnvis_class_model(&px, &score, net, c, reg), "cnnvis_class_model");
        check_model(&tiles[c], captions[c], net, &px, c, score, m);
        cnnvis_tensor_free(&px);
    }
    snprintf(title, sizeof title, "class models + jitter %d, blur %g every %d, clip norm < p%g", opt.jitter, opt.blur_sigma,
             opt.blur_every, opt.clip_norm);
    write_grid(tiles, captions, c, 5, title, "class_models_regularised.png");
    printf("regularised class models in %.1f s\n", ex_seconds() - t);
}

/* What real images reach: one pass over the training images, keeping every class score's
   maximum, and every conv5 channel's (at its centre) and fc7 neuron's. */
static void score_training_images(maxima *max, cnnvis_net *net, const cnnvis_dataset *train, int conv, int fc)
{
    const int last = net->n_layers - 1, n_classes = net->n_classes;
    const cnnvis_layer *C = &net->layers[conv], *F = &net->layers[fc];
    cnnvis_tensor x;
    double t0 = ex_seconds();
    int b, m, i, c, u;
    max->score = (float *)calloc((size_t)n_classes, sizeof(float));
    max->image = (int *)calloc((size_t)n_classes, sizeof(int));
    if (!max->score || !max->image) {
        fprintf(stderr, "04b_class_models: out of memory\n");
        exit(1);
    }
    for (c = 0; c < n_classes; c++) max->score[c] = -1e30f, max->image[c] = -1;
    for (u = 0; u < 4096; u++) max->conv[u] = max->fc[u] = -1e30f;
    for (b = 0; b < train->n; b += m) {
        m = train->n - b < net->desc.max_batch ? train->n - b : net->desc.max_batch;
        ex_check(cnnvis_dataset_pixels(&x, NULL, train, b, m), "cnnvis_dataset_pixels");
        ex_check(cnnvis_net_normalize(&x, net, &x), "cnnvis_net_normalize"); /* pixels -> the net's input, in place */
        ex_check(cnnvis_net_forward(net, &x), "forward");
        for (i = 0; i < m; i++) {
            const float *s = net->layers[last].out.data + (size_t)i * n_classes;
            for (c = 0; c < n_classes; c++)
                if (s[c] > max->score[c]) max->score[c] = s[c], max->image[c] = b + i;
            for (u = 0; u < C->out_c; u++) {
                float v = C->out.data[(((size_t)i * C->out_c + u) * C->out_h + C->out_h / 2) * C->out_w + C->out_w / 2];
                if (v > max->conv[u]) max->conv[u] = v, max->conv_class[u] = train->labels[b + i];
            }
            for (u = 0; u < F->out_c; u++) {
                float v = F->out.data[(size_t)i * F->out_c + u];
                if (v > max->fc[u]) max->fc[u] = v, max->fc_class[u] = train->labels[b + i];
            }
        }
        cnnvis_tensor_free(&x);
    }
    printf("scored %d training images in %.1f s\n", train->n, ex_seconds() - t0);
}

/* The table: each class model's score and p(c), as found and clamped, beside the highest
   score of that class over the training images; and whether every model beats it. */
static void print_scores(cnnvis_net *net, const models *plain, const models *reg, const maxima *max,
                         const cnnvis_dataset *train)
{
    int c, ok = 1, ok_clamped = 1;
    printf("\nscore S_c and p(c) of each class model, as found and with its pixels clamped to [0, 1]\n");
    printf("%-10s %-29s %-29s %s\n", "", "L2 only", "regularised", "training images");
    printf("%-10s %8s %6s %8s %6s  %8s %6s %8s %6s  %s\n", "class", "S_c", "p", "clamped", "p", "S_c", "p", "clamped", "p",
           "max S_c (image, its class)");
    for (c = 0; c < net->n_classes && c < MAX_UNITS; c++) {
        const model_result *a = &plain->res[c], *r = &reg->res[c];
        const float train_max = max->score[c];
        int pass = a->p >= 0.99f && a->score > train_max && r->p >= 0.99f && r->score > train_max;
        ok &= pass;
        ok_clamped &= a->clamped_p >= 0.99f && a->clamped_score > train_max && r->clamped_p >= 0.99f &&
                      r->clamped_score > train_max;
        printf("%-10s %8.1f %6.3f %8.1f %6.3f  %8.1f %6.3f %8.1f %6.3f  %7.1f (%d, %s)%s\n", cnnvis_net_class_name(net, c),
               a->score, a->p, a->clamped_score, a->clamped_p, r->score, r->p, r->clamped_score, r->clamped_p, train_max,
               max->image[c], cnnvis_net_class_name(net, train->labels[max->image[c]]), pass ? "" : "  <- below");
    }
    printf("pixels of the class models (a real image's are in [0, 1]): L2 only [%.1f, %.1f], regularised [%.1f, %.1f]\n",
           plain->lo, plain->hi, reg->lo, reg->hi);
    printf("%s\n", ok ? "every class model reaches p >= 0.99 with a score above every training image's"
                      : "some class models stay below p 0.99 or below the training maximum");
    printf("%s\n\n", ok_clamped ? "... and still does with its pixels clamped to [0, 1]"
                                : "clamped to [0, 1], some fall below p 0.99 or below the training maximum");
}

/* units_LAYER.png: activation maximisation (regularised ascent) of hidden units that
   respond strongly on the training images, one for each class their best images belong
   to, each beside its maximum over the training images. */
static void unit_models(cnnvis_net *net, int layer, const cnnvis_class_model_desc *reg, const float *best,
                        const int *best_class)
{
    const cnnvis_layer *L = &net->layers[layer];
    const int is_conv = L->desc.kind == CNNVIS_LAYER_CONV;
    cnnvis_class_model_desc ud = *reg;
    cnnvis_image tiles[MAX_UNITS];
    char captions[MAX_UNITS][64], title[256], name[64];
    cnnvis_tensor px;
    int units[MAX_UNITS], n = pick_units(units, best, best_class, L->out_c, opt.units), u;
    double t = ex_seconds();
    ud.layer = L->desc.name;
    printf("%s%s: activation reached (regularised ascent) vs the training images' maximum\n", L->desc.name,
           is_conv ? " at the centre position" : "");
    for (u = 0; u < n; u++) {
        float v;
        ud.unit = units[u];
        ex_check(cnnvis_class_model(&px, &v, net, 0, &ud), "cnnvis_class_model");
        tile_of(&tiles[u], &px, opt.clip, opt.zoom);
        snprintf(captions[u], sizeof captions[u], "unit %d (%s)\n%.0f, max %.0f", units[u],
                 cnnvis_net_class_name(net, best_class[units[u]]), v, best[units[u]]);
        printf("  unit %3d: %7.1f   training max %6.1f (best image: %s)\n", units[u], v, best[units[u]],
               cnnvis_net_class_name(net, best_class[units[u]]));
        cnnvis_tensor_free(&px);
    }
    printf("  (%.1f s)\n", ex_seconds() - t);
    snprintf(title, sizeof title,
             "%s%s: activation maximisation (regularised)\nunit (class of its best training image)\n"
             "activation reached, max over the training images",
             L->desc.name, is_conv ? " centre" : "");
    snprintf(name, sizeof name, "units_%s.png", L->desc.name);
    write_grid(tiles, captions, n, n < 5 ? n : 5, title, name);
}
