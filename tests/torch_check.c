/* torch_check.c - the cnnvis side of tests/torch.sh, which compares cnnvis.h with PyTorch
   on torchvision's AlexNet converted by tools/torch2cnnvis.py. Not a test_*.c: it needs
   files that tests/torch.sh makes with PyTorch.

   torch_check alexnet|compare CKPT PIXELS LOGITS GRAD CLASS
       CKPT is the converted net; PIXELS (C*H*W), LOGITS (n_classes) and GRAD (C*H*W) are
       little-endian float32 files: one image in [0, 1], PyTorch's scores S of it and
       PyTorch's dS_CLASS/dpixels through the same normalisation. Checks (alexnet only) that
       the layers are cnnvis_net_desc_preset "alexnet"'s, and that cnnvis_net_predict's
       scores and cnnvis_saliency(GRADIENT)'s attribution agree with them to 1e-4, relative
       to the largest magnitude: max |cnnvis - torch| / max |torch|.
   torch_check save-alexnet CKPT
       Writes cnnvis_net_desc_preset "alexnet" (1000 classes) with cnnvis's own
       initialisation (seed 8): the start of the round trip cnnvis -> torch -> cnnvis.
   torch_check attack CKPT DIR
       CKPT is a net trained on the 3x32x32 concept images (the one `make demo` trains).
       Attacks ATTACK_N held-out concept images with FGSM and PGD-20 at 8/255 (section 5)
       and writes what torch_check.py attack needs to repeat both in PyTorch: DIR/attack.f32,
       the images in [0, 1] (little-endian float32), and DIR/attack.txt, a line per image:
       its class, then the class FGSM's and PGD's image get from cnnvis. */
#define CNNVIS_IMPLEMENTATION
#include "cnnvis.h"
#include "minitest.h"

#include <stdlib.h>

#define TOLERANCE 1e-4

static const char *ckpt_path, *pixels_path, *logits_path, *grad_path;
static int cls;

/* n little-endian float32 from path into dst; 0 if the file does not hold exactly n. */
static int read_f32(const char *path, float *dst, size_t n)
{
    unsigned char b[4];
    size_t value; /* index of the number being read */
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    for (value = 0; value < n && fread(b, 1, 4, f) == 4; value++) {
        uint32_t bits = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
        memcpy(&dst[value], &bits, 4);
    }
    if (value == n && fgetc(f) != EOF) value = 0; /* longer than n numbers */
    fclose(f);
    return value == n;
}

/* max |a - b| / max |b| over n values, with both maxima reported. */
static double rel_diff(const float *a, const float *b, size_t n, double *max_abs_diff, double *max_ref)
{
    size_t value; /* index into a and b */
    *max_abs_diff = 0, *max_ref = 0;
    for (value = 0; value < n; value++) {
        double d = fabs((double)a[value] - (double)b[value]);
        if (!(d <= *max_abs_diff)) *max_abs_diff = d; /* a NaN wins */
        if (fabs((double)b[value]) > *max_ref) *max_ref = fabs((double)b[value]);
    }
    return *max_ref > 0 ? *max_abs_diff / *max_ref : *max_abs_diff;
}

static cnnvis_net *load(void)
{
    cnnvis_net_desc rt;
    cnnvis_net *net = NULL;
    memset(&rt, 0, sizeof rt);
    rt.max_batch = 1;
    if (cnnvis_net_load(&net, ckpt_path, &rt) != CNNVIS_OK) printf("  %s: %s\n", ckpt_path, cnnvis_last_error());
    return net;
}

/* The converter's layers are the preset's: names, kinds, geometry, normalisation. */
static void test_layers_are_the_preset(void)
{
    cnnvis_net_desc d;
    cnnvis_net *net = load();
    int layer, ch; /* layer index; input channel */
    REQUIRE(net, "the converted checkpoint loads");
    CHECK(cnnvis_net_desc_preset(&d, "alexnet", 0, 0, 0, net->n_classes) == CNNVIS_OK, "preset: %s", cnnvis_last_error());
    CHECK(net->n_layers == d.n_layers, "%d layers, the preset has %d", net->n_layers, d.n_layers);
    for (layer = 0; layer < net->n_layers && layer < d.n_layers; layer++) {
        const cnnvis_layer_desc *a = &net->layers[layer].desc, *b = &d.layers[layer];
        CHECK(strcmp(a->name, b->name) == 0 && a->kind == b->kind, "layer %d is %s (kind %d), the preset's %s (%d)", layer,
              a->name, (int)a->kind, b->name, (int)b->kind);
        CHECK(a->out_channels == b->out_channels && a->kernel == b->kernel && a->stride == b->stride &&
              a->pad == b->pad && a->p == b->p,
              "layer %s: out %d kernel %d stride %d pad %d p %g; the preset: %d %d %d %d %g", a->name, a->out_channels,
              a->kernel, a->stride, a->pad, a->p, b->out_channels, b->kernel, b->stride, b->pad, b->p);
    }
    for (ch = 0; ch < 3; ch++)
        CHECK(net->desc.mean[ch] == d.mean[ch] && net->desc.std[ch] == d.std[ch], "channel %d: mean %g std %g, ImageNet's %g %g",
              ch, net->desc.mean[ch], net->desc.std[ch], d.mean[ch], d.std[ch]);
    cnnvis_net_free(net);
}

/* Scores and the saliency gradient against PyTorch's. */
static void test_agreement(void)
{
    cnnvis_net *net = load();
    cnnvis_tensor pixels, attribution;
    float *scores = NULL, *torch_scores = NULL, *torch_grad = NULL;
    size_t n_pixels;
    double rel, diff, ref;
    REQUIRE(net, "the converted checkpoint loads");
    n_pixels = (size_t)net->desc.in_c * net->desc.in_h * net->desc.in_w;
    memset(&attribution, 0, sizeof attribution);
    if (cnnvis_tensor_create(&pixels, 1, net->desc.in_c, net->desc.in_h, net->desc.in_w) != CNNVIS_OK) {
        cnnvis_net_free(net);
        REQUIRE(0, "out of memory");
    }
    scores = (float *)malloc(sizeof(float) * (size_t)net->n_classes);
    torch_scores = (float *)malloc(sizeof(float) * (size_t)net->n_classes);
    torch_grad = (float *)malloc(sizeof(float) * n_pixels);
    if (!scores || !torch_scores || !torch_grad) {
        CHECK(0, "out of memory");
    } else if (!read_f32(pixels_path, pixels.data, n_pixels) || !read_f32(logits_path, torch_scores, (size_t)net->n_classes) ||
               !read_f32(grad_path, torch_grad, n_pixels)) {
        CHECK(0, "%s, %s, %s: expected %zu, %d and %zu float32", pixels_path, logits_path, grad_path, n_pixels,
              net->n_classes, n_pixels);
    } else if (cls < 0 || cls >= net->n_classes) {
        CHECK(0, "class %d of %d", cls, net->n_classes);
    } else {
        cnnvis_result r = cnnvis_net_predict(scores, NULL, NULL, net, &pixels);
        CHECK(r == CNNVIS_OK, "cnnvis_net_predict: %s", cnnvis_last_error());
        rel = rel_diff(scores, torch_scores, (size_t)net->n_classes, &diff, &ref);
        printf("  logits (%d): max |cnnvis - torch| %.3g, max |torch| %.3g, relative %.3g (tolerance %g)\n",
               net->n_classes, diff, ref, rel, TOLERANCE);
        CHECK(r == CNNVIS_OK && rel <= TOLERANCE && ref > 0, "logits differ by %.3g relative", rel);
        r = cnnvis_saliency(&attribution, net, &pixels, cls, CNNVIS_SALIENCY_GRADIENT, NULL);
        CHECK(r == CNNVIS_OK, "cnnvis_saliency: %s", cnnvis_last_error());
        if (r == CNNVIS_OK) {
            rel = rel_diff(attribution.data, torch_grad, n_pixels, &diff, &ref);
            printf("  dS_%d/dpixels (%zu): max |cnnvis - torch| %.3g, max |torch| %.3g, relative %.3g (tolerance %g)\n",
                   cls, n_pixels, diff, ref, rel, TOLERANCE);
            CHECK(rel <= TOLERANCE && ref > 0, "input gradients differ by %.3g relative", rel);
        }
    }
    free(scores), free(torch_scores), free(torch_grad);
    cnnvis_tensor_free(&attribution);
    cnnvis_tensor_free(&pixels);
    cnnvis_net_free(net);
}

/* Section 5's attacks on held-out images, for torch_check.py to repeat (the comparison is
   made there). */
#define ATTACK_N 200
static const char *attack_dir;

static int write_f32(const char *path, const float *src, size_t n)
{
    unsigned char b[4];
    size_t value; /* index of the number being written */
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    for (value = 0; value < n; value++) {
        uint32_t bits;
        memcpy(&bits, &src[value], 4);
        b[0] = (unsigned char)bits, b[1] = (unsigned char)(bits >> 8), b[2] = (unsigned char)(bits >> 16),
        b[3] = (unsigned char)(bits >> 24);
        if (fwrite(b, 1, 4, f) != 4) break;
    }
    return fclose(f) == 0 && value == n;
}

static void test_attack(void)
{
    cnnvis_concepts_desc cd;
    cnnvis_dataset ds;
    cnnvis_attack_desc fgsm, pgd;
    cnnvis_tensor pixels, adv;
    cnnvis_net *net = NULL;
    int32_t pred[2][ATTACK_N];
    int image, right[2] = {0, 0};
    size_t count = 3 * 32 * 32, q;
    char path[4096];
    FILE *f;
    REQUIRE(cnnvis_net_load(&net, ckpt_path, NULL) == CNNVIS_OK, "%s: %s", ckpt_path, cnnvis_last_error());
    if (net->desc.in_c != 3 || net->desc.in_h != 32 || net->desc.in_w != 32 || net->n_classes != 10) {
        cnnvis_net_free(net);
        REQUIRE(0, "%s is not a net of the 3x32x32 concept images' 10 classes", ckpt_path);
    }
    memset(&cd, 0, sizeof cd);
    cd.n = ATTACK_N, cd.seed = 1 + 7000003; /* test_train's held-out images: no training run uses this seed */
    memset(&adv, 0, sizeof adv);
    if (cnnvis_concepts_generate(&ds, &cd) != CNNVIS_OK || cnnvis_tensor_create(&pixels, ATTACK_N, 3, 32, 32) != CNNVIS_OK) {
        cnnvis_net_free(net);
        REQUIRE(0, "%s", cnnvis_last_error());
    }
    for (q = 0; q < count * ATTACK_N; q++) pixels.data[q] = ds.px[q] * (1.0f / 255.0f);
    memset(&fgsm, 0, sizeof fgsm);
    fgsm.eps = 8.0f / 255.0f;
    pgd = fgsm, pgd.method = CNNVIS_ATTACK_PGD, pgd.steps = 20; /* step 2.5 eps / 20, no random start */
    CHECK(cnnvis_attack(&adv, pred[0], NULL, net, &pixels, ds.labels, &fgsm) == CNNVIS_OK, "FGSM: %s", cnnvis_last_error());
    cnnvis_tensor_free(&adv);
    CHECK(cnnvis_attack(&adv, pred[1], NULL, net, &pixels, ds.labels, &pgd) == CNNVIS_OK, "PGD: %s", cnnvis_last_error());
    snprintf(path, sizeof path, "%s/attack.f32", attack_dir);
    CHECK(write_f32(path, pixels.data, count * ATTACK_N), "cannot write %s", path);
    snprintf(path, sizeof path, "%s/attack.txt", attack_dir);
    f = fopen(path, "w");
    for (image = 0; f && image < ATTACK_N; image++) {
        fprintf(f, "%d %d %d\n", (int)ds.labels[image], (int)pred[0][image], (int)pred[1][image]);
        right[0] += pred[0][image] == ds.labels[image], right[1] += pred[1][image] == ds.labels[image];
    }
    CHECK(f && fclose(f) == 0, "cannot write %s", path);
    printf("  cnnvis at 8/255 on %d held-out concept images: FGSM leaves %d right, PGD-20 %d\n", ATTACK_N, right[0],
           right[1]);
    cnnvis_tensor_free(&adv), cnnvis_tensor_free(&pixels);
    cnnvis_dataset_free(&ds);
    cnnvis_net_free(net);
}

static void test_save_alexnet(void)
{
    cnnvis_net_desc d;
    cnnvis_net *net = NULL;
    REQUIRE(cnnvis_net_desc_preset(&d, "alexnet", 0, 0, 0, 1000) == CNNVIS_OK, "preset: %s", cnnvis_last_error());
    d.max_batch = 1, d.seed = 8;
    REQUIRE(cnnvis_net_create(&net, &d) == CNNVIS_OK, "cnnvis_net_create: %s", cnnvis_last_error());
    CHECK(cnnvis_net_save(ckpt_path, net) == CNNVIS_OK, "cnnvis_net_save: %s", cnnvis_last_error());
    cnnvis_net_free(net);
}

int main(int argc, char **argv)
{
    if (argc == 7 && (strcmp(argv[1], "alexnet") == 0 || strcmp(argv[1], "compare") == 0)) {
        ckpt_path = argv[2], pixels_path = argv[3], logits_path = argv[4], grad_path = argv[5], cls = atoi(argv[6]);
        if (strcmp(argv[1], "alexnet") == 0) RUN(test_layers_are_the_preset);
        RUN(test_agreement);
    } else if (argc == 3 && strcmp(argv[1], "save-alexnet") == 0) {
        ckpt_path = argv[2];
        RUN(test_save_alexnet);
    } else if (argc == 4 && strcmp(argv[1], "attack") == 0) {
        ckpt_path = argv[2], attack_dir = argv[3];
        RUN(test_attack);
    } else {
        fprintf(stderr, "usage: %s alexnet|compare CKPT PIXELS LOGITS GRAD CLASS | save-alexnet CKPT | attack CKPT DIR\n", argv[0]);
        return 2;
    }
    return SUMMARY();
}
