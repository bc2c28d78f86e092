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
       ./build/04b_class_models --n-train 20000      (scores against all of 00_train's images, as in README.md)
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

/* What a class model reaches: its score S_c and p(c) as found, and once its pixels are
   clamped to [0, 1], the range a real image has. */
typedef struct model_result {
    float score, p, clamped_score, clamped_p;
} model_result;

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

static void write_grid(cnnvis_image *tiles, char (*captions)[64], int n, int cols, const char *title, const char *out,
                       const char *name)
{
    const char *caps[MAX_UNITS];
    cnnvis_montage_desc md;
    cnnvis_image im;
    int i;
    for (i = 0; i < n; i++) caps[i] = captions[i];
    memset(&md, 0, sizeof md);
    md.cols = cols, md.title = title, md.pad = 4;
    ex_check(cnnvis_montage(&im, tiles, n, caps, &md), "montage");
    ex_write(&im, out, name);
    cnnvis_image_free(&im);
    for (i = 0; i < n; i++) cnnvis_image_free(&tiles[i]);
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

int main(int argc, char **argv)
{
    const char *out = "out/04b_class_models", *checkpoint = "out/00_train/alexnet_mini.cnnvis";
    int threads = 0, steps = 200, jitter = 2, blur_every = 4, n_train = 5000, n_units = 10, zoom = 4;
    float lr = 0.1f, l2 = 0.01f, blur_sigma = 0.5f, clip_norm = 20, clip = 99;
    uint64_t seed = 1;
    ex_option opts[] = {
        {"checkpoint", EX_STRING, &checkpoint, 0, 0, "the trained net (out/00_train/alexnet_mini.cnnvis)"},
        {"steps", EX_INT, &steps, 1, 100000, "gradient ascent steps (200)"},
        {"lr", EX_FLOAT, &lr, 1e-6, 100, "step size, in units of the mean |gradient| (0.1)"},
        {"l2", EX_FLOAT, &l2, 0, 1000, "lambda of the L2 penalty (0.01)"},
        {"jitter", EX_INT, &jitter, 0, 16, "regularised: shift the image by up to N pixels each step (2)"},
        {"blur-every", EX_INT, &blur_every, 0, 1000, "regularised: Gaussian blur every N steps (4; 0: never)"},
        {"blur-sigma", EX_FLOAT, &blur_sigma, 0.01, 10, "regularised: the blur's sigma in pixels (0.5)"},
        {"clip-norm", EX_FLOAT, &clip_norm, 0, 99, "regularised: reset pixels below this percentile of norm (20)"},
        {"units", EX_INT, &n_units, 1, MAX_UNITS, "conv5 channels and fc7 neurons to maximise (10)"},
        {"n-train", EX_INT, &n_train, 10, 1000000, "training images to compare the scores with (5000; 00_train used 20000)"},
        {"clip", EX_FLOAT, &clip, 0, 99.99, "display: clip values beyond this percentile (99; 0: min-max)"},
        {"zoom", EX_INT, &zoom, 1, 16, "display: enlarge each image N times (4)"},
        {"threads", EX_INT, &threads, 0, 256, "worker threads (0: all CPUs)"},
        {"seed", EX_U64, &seed, 0, 1e18, "the seed 00_train used: its training images are regenerated (1)"},
        {"out", EX_STRING, &out, 0, 0, "output folder (out/04b_class_models)"},
    };
    static float conv_best[4096], fc_best[4096]; /* each unit's maximum over the training images */
    static int conv_class[4096], fc_class[4096];  /* the class of the image where it was reached */
    cnnvis_net *net;
    cnnvis_dataset train;
    cnnvis_tensor x, px;
    cnnvis_class_model_desc plain, reg, ud;
    cnnvis_image tiles[MAX_UNITS];
    char captions[MAX_UNITS][64], title[256], name[64];
    static model_result res[2][MAX_UNITS]; /* L2 only, regularised; per class */
    float *train_max, *scores, *probs;
    float lo[2] = {1e30f, 1e30f}, hi[2] = {-1e30f, -1e30f}; /* pixel range of the class models */
    int *train_arg, units[MAX_UNITS], conv = -1, fc = -1, last, n_classes, c, i, b, m, u, n, ok = 1, ok_clamped = 1;
    double t0 = ex_seconds(), t;
    ex_parse(argc, argv, opts, (int)(sizeof opts / sizeof opts[0]),
             "usage: 04b_class_models [options]\nclass models and activation maximisation (lecture section 4)");
    if (ex_mkdirs(out) != 0) {
        fprintf(stderr, "04b_class_models: cannot create %s\n", out);
        return 1;
    }
    net = ex_load_net(checkpoint, threads);
    last = net->n_layers - 1, n_classes = net->n_classes;
    for (i = 0; i < net->n_layers; i++) { /* the last conv layer, and the fc layer before the classifier */
        if (net->layers[i].desc.kind == CNNVIS_LAYER_CONV) conv = i;
        if (net->layers[i].desc.kind == CNNVIS_LAYER_FC && i < last) fc = i;
    }
    if (conv < 0 || fc < 0 || net->layers[conv].out_c > 4096 || net->layers[fc].out_c > 4096) {
        fprintf(stderr, "04b_class_models: the net needs a conv layer and two fc layers (at most 4096 units each)\n");
        return 1;
    }
    train_max = (float *)calloc((size_t)n_classes, sizeof(float));
    train_arg = (int *)calloc((size_t)n_classes, sizeof(int));
    scores = (float *)calloc((size_t)n_classes, sizeof(float));
    probs = (float *)calloc((size_t)n_classes, sizeof(float));
    if (!train_max || !train_arg || !scores || !probs) {
        fprintf(stderr, "04b_class_models: out of memory\n");
        return 1;
    }

    /* What real images reach: one pass over the training images, keeping every class
       score's maximum, and every conv5 channel's (at its centre, where the ascent puts its
       objective) and fc7 neuron's. */
    ex_make_concepts(&train, NULL, n_train, seed);
    if (train.c != net->desc.in_c || train.h != net->desc.in_h || train.w != net->desc.in_w) {
        fprintf(stderr, "04b_class_models: the net does not take %dx%dx%d concept images: was it trained on them?\n", train.c,
                train.h, train.w);
        return 1;
    }
    for (c = 0; c < n_classes; c++) train_max[c] = -1e30f, train_arg[c] = -1;
    for (u = 0; u < 4096; u++) conv_best[u] = fc_best[u] = -1e30f;
    for (b = 0; b < train.n; b += m) {
        const cnnvis_layer *C = &net->layers[conv], *F = &net->layers[fc];
        m = train.n - b < net->desc.max_batch ? train.n - b : net->desc.max_batch;
        ex_check(cnnvis_dataset_pixels(&x, NULL, &train, b, m), "cnnvis_dataset_pixels");
        ex_check(cnnvis_net_normalize(&x, net, &x), "cnnvis_net_normalize"); /* pixels -> the net's input, in place */
        ex_check(cnnvis_net_forward(net, &x), "forward");
        for (i = 0; i < m; i++) {
            const float *s = net->layers[last].out.data + (size_t)i * n_classes;
            for (c = 0; c < n_classes; c++)
                if (s[c] > train_max[c]) train_max[c] = s[c], train_arg[c] = b + i;
            for (u = 0; u < C->out_c; u++) {
                float v = C->out.data[(((size_t)i * C->out_c + u) * C->out_h + C->out_h / 2) * C->out_w + C->out_w / 2];
                if (v > conv_best[u]) conv_best[u] = v, conv_class[u] = train.labels[b + i];
            }
            for (u = 0; u < F->out_c; u++) {
                float v = F->out.data[(size_t)i * F->out_c + u];
                if (v > fc_best[u]) fc_best[u] = v, fc_class[u] = train.labels[b + i];
            }
        }
        cnnvis_tensor_free(&x);
    }
    printf("scored %d training images in %.1f s\n", train.n, ex_seconds() - t0);

    /* Class models: plain (L2 only), then with Yosinski et al.'s regularisers. */
    memset(&plain, 0, sizeof plain);
    plain.steps = steps, plain.lr = lr, plain.l2 = l2, plain.seed = seed;
    reg = plain;
    reg.jitter = jitter, reg.blur_every = blur_every, reg.blur_sigma = blur_sigma, reg.clip_norm = clip_norm;
    for (i = 0; i < 2; i++) {
        const cnnvis_class_model_desc *d = i == 0 ? &plain : &reg;
        t = ex_seconds();
        for (c = 0; c < n_classes && c < MAX_UNITS; c++) {
            model_result *r = &res[i][c];
            cnnvis_stats st;
            size_t q;
            ex_check(cnnvis_class_model(&px, &r->score, net, c, d), "cnnvis_class_model");
            ex_check(cnnvis_net_predict(scores, probs, NULL, net, &px), "cnnvis_net_predict");
            r->p = probs[c];
            tile_of(&tiles[c], &px, clip, zoom);
            snprintf(captions[c], sizeof captions[c], "%s\nS=%.0f p=%.3f", cnnvis_net_class_name(net, c), r->score, r->p);
            st = cnnvis_tensor_stats(&px);
            lo[i] = st.min < lo[i] ? st.min : lo[i], hi[i] = st.max > hi[i] ? st.max : hi[i];
            for (q = 0; q < cnnvis_tensor_count(&px); q++) /* would the pattern still work as a real image? */
                px.data[q] = px.data[q] < 0 ? 0 : px.data[q] > 1 ? 1 : px.data[q];
            ex_check(cnnvis_net_predict(scores, probs, NULL, net, &px), "cnnvis_net_predict");
            r->clamped_score = scores[c], r->clamped_p = probs[c];
            cnnvis_tensor_free(&px);
        }
        if (i == 0)
            snprintf(title, sizeof title, "class models: argmax S_c(I) - %g |I|^2, %d steps", l2, steps);
        else
            snprintf(title, sizeof title, "class models + jitter %d, blur %g every %d, clip norm < p%g", jitter, blur_sigma,
                     blur_every, clip_norm);
        write_grid(tiles, captions, c, 5, title, out, i == 0 ? "class_models.png" : "class_models_regularised.png");
        printf("%s class models in %.1f s\n", i == 0 ? "plain" : "regularised", ex_seconds() - t);
    }
    printf("\nscore S_c and p(c) of each class model, as found and with its pixels clamped to [0, 1]\n");
    printf("%-10s %-29s %-29s %s\n", "", "L2 only", "regularised", "training images");
    printf("%-10s %8s %6s %8s %6s  %8s %6s %8s %6s  %s\n", "class", "S_c", "p", "clamped", "p", "S_c", "p", "clamped", "p",
           "max S_c (image, its class)");
    for (c = 0; c < n_classes && c < MAX_UNITS; c++) {
        const model_result *a = &res[0][c], *r = &res[1][c];
        int pass = a->p >= 0.99f && a->score > train_max[c] && r->p >= 0.99f && r->score > train_max[c];
        ok &= pass;
        ok_clamped &= a->clamped_p >= 0.99f && a->clamped_score > train_max[c] && r->clamped_p >= 0.99f &&
                      r->clamped_score > train_max[c];
        printf("%-10s %8.1f %6.3f %8.1f %6.3f  %8.1f %6.3f %8.1f %6.3f  %7.1f (%d, %s)%s\n", cnnvis_net_class_name(net, c),
               a->score, a->p, a->clamped_score, a->clamped_p, r->score, r->p, r->clamped_score, r->clamped_p, train_max[c],
               train_arg[c], cnnvis_net_class_name(net, train.labels[train_arg[c]]), pass ? "" : "  <- below");
    }
    printf("pixels of the class models (a real image's are in [0, 1]): L2 only [%.1f, %.1f], regularised [%.1f, %.1f]\n",
           lo[0], hi[0], lo[1], hi[1]);
    printf("%s\n", ok ? "every class model reaches p >= 0.99 with a score above every training image's"
                      : "some class models stay below p 0.99 or below the training maximum");
    printf("%s\n\n", ok_clamped ? "... and still does with its pixels clamped to [0, 1]"
                                : "clamped to [0, 1], some fall below p 0.99 or below the training maximum");

    /* Activation maximisation: hidden units that respond strongly on the training images,
       one for each class their best images belong to. */
    for (i = 0; i < 2; i++) {
        const cnnvis_layer *L = &net->layers[i == 0 ? conv : fc];
        const float *best = i == 0 ? conv_best : fc_best;
        const int *best_class = i == 0 ? conv_class : fc_class;
        n = pick_units(units, best, best_class, L->out_c, n_units);
        ud = reg;
        ud.layer = L->desc.name;
        t = ex_seconds();
        printf("%s%s: activation reached (regularised ascent) vs the training images' maximum\n", L->desc.name,
               i == 0 ? " at the centre position" : "");
        for (u = 0; u < n; u++) {
            float v;
            ud.unit = units[u];
            ex_check(cnnvis_class_model(&px, &v, net, 0, &ud), "cnnvis_class_model");
            tile_of(&tiles[u], &px, clip, zoom);
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
                 L->desc.name, i == 0 ? " centre" : "");
        snprintf(name, sizeof name, "units_%s.png", L->desc.name);
        write_grid(tiles, captions, n, n < 5 ? n : 5, title, out, name);
    }
    printf("total %.1f s\n", ex_seconds() - t0);
    cnnvis_dataset_free(&train);
    free(train_max), free(train_arg), free(scores), free(probs);
    cnnvis_net_free(net);
    return 0;
}
