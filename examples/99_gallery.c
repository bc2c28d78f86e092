/* 99_gallery.c - out/index.html: every picture the numbered examples wrote, in the order
   of the lecture, each with the question it answers and the function that drew it.

   `make demo` runs it last. It only reads the folders under --out (default out/) and
   writes one static page: plain HTML and CSS, no scripts, nothing fetched from the
   network, the images linked by relative paths, so the folder can be zipped and opened
   anywhere. A picture it has no caption for is still shown, under its file name. Under
   each caption, a "PPM" (or "PGM") link opens the same picture as the examples also wrote
   it beside the PNG (examples/common.h's ex_write), in the format netpbm tools read. */
#define _POSIX_C_SOURCE 200809L /* opendir */
#include <dirent.h>
#include <stdarg.h>

#include "cnnvis.h" /* its implementation: examples/cnnvis.c, compiled once and linked */
#include "common.h"

/* A picture an example writes: its folder, its file name (one '*' matches any part), the
   question of the lecture it answers, and what drew it. */
typedef struct picture {
    const char *folder, *pattern, *question, *how;
} picture;

static const picture pictures[] = {
    {"00_train", "samples.png", "What does the network learn from? The built-in concept images: an object, a colour and a texture in each, every pixel labelled.",
     "cnnvis_concepts_generate, cnnvis_montage"},
    {"00_train", "curve.png", "Does training work? Loss and test accuracy after each epoch.", "cnnvis_net_train, cnnvis_plot_lines"},
    {"00_train", "confusion.png", "Which classes does the trained network confuse?", "cnnvis_net_evaluate, cnnvis_plot_matrix"},

    {"01_filters", "conv1_filters.png", "What do the first layer's filters look like? (the slide \"conv1: 96 filters 11x11x3\"; zero weight is grey, one scale for all)",
     "cnnvis_filters_image"},
    {"01_filters", "conv1_filters_per_filter.png", "The same filters, each on its own scale: weak filters become visible too.", "cnnvis_filters_image"},
    {"01_filters", "conv2_filters.png", "Deeper filters: each one a grid of its input-channel slices, in grey.", "cnnvis_filters_image"},
    {"01_filters", "evolution.png", "How do the filters change during training? One row per epoch (Zeiler & Fergus showed epochs 1, 2, 5, 10, 20...).",
     "cnnvis_monitor_snapshot, cnnvis_monitor_evolution_image"},
    {"01_filters", "monitor.png", "Good training: do the learned filters get structure and stay uncorrelated? Curves per conv layer over training.",
     "cnnvis_filter_stats_compute, cnnvis_monitor_plot"},

    {"02a_activations", "input.png", "The image whose feature maps follow.", "cnnvis_dataset_pixels, cnnvis_tensor_to_image"},
    {"02a_activations", "maps_*.png", "What does each channel of this layer respond to in one image? Every feature map of the layer.",
     "cnnvis_net_forward, cnnvis_feature_maps_image"},
    {"02a_activations", "top9_*_images.png", "Which whole images make each unit fire most?", "cnnvis_topk_compute, cnnvis_topk_image"},
    {"02a_activations", "top9_*.png", "Top-9 patches: over the whole data set, the receptive-field patches where each unit fires most.",
     "cnnvis_topk_compute, cnnvis_topk_image"},
    {"02b_dissection", "detectors.png", "Network Dissection: how many units of each layer detect a concept, per category? (Bau et al. 2017, unique detectors)",
     "cnnvis_dissect, cnnvis_dissection_plot"},
    {"02b_dissection", "units_*.png", "What does a unit detect, and how well? Its top images with the region above T_k outlined, and its IoU.",
     "cnnvis_dissect, cnnvis_dissection_unit_image"},
    {"02b_dissection", "training.png", "Do concept detectors emerge during training? Dissection of the checkpoint of every epoch.",
     "cnnvis_dissect, cnnvis_plot_lines"},

    {"03_deconvnet", "projections.png", "Which pattern in the pixels caused this activation? Deconvnet projections: unpooling with switches, un-ReLU, transposed filters.",
     "cnnvis_deconv_project"},
    {"03_deconvnet", "top9_deconv_*.png", "The lecture's top-9 figure: each unit's top-9 patches beside their deconvnet projections.",
     "cnnvis_topk_deconv_image"},

    {"04a_saliency", "saliency.png", "Which pixels matter for the class? Gradient, deconvnet, guided backprop, Grad-CAM, guided Grad-CAM, SmoothGrad, integrated gradients, occlusion.",
     "cnnvis_saliency"},
    {"04a_saliency", "deconv_vs_saliency.png", "Deconvnet vs saliency vs guided backprop: the same backward pass with three ReLU rules.",
     "cnnvis_saliency (CNNVIS_SALIENCY_DECONVNET, _GRADIENT, _GUIDED)"},
    {"04b_class_models", "class_models.png", "What image does the network think is most of each class? argmax_I S_c(I) - lambda ||I||^2 by gradient ascent.",
     "cnnvis_class_model"},
    {"04b_class_models", "class_models_regularised.png", "The same with jitter, blur and clipping (Yosinski et al. 2015): more recognisable.",
     "cnnvis_class_model"},
    {"04b_class_models", "units_*.png", "What image excites a hidden unit most? Activation maximisation.", "cnnvis_class_model (layer and unit)"},
    {"04c_deepdream", "input.png", "The image DeepDream starts from.", "cnnvis_dataset_pixels, cnnvis_plane_resize, cnnvis_tensor_to_image"},
    {"04c_deepdream", "dreams.png", "DeepDream: amplify what a layer already sees, by gradient ascent on ||A_l||^2 / 2 over octaves.",
     "cnnvis_deepdream"},
    {"04c_deepdream", "dream_*.png", "One dream: a layer, or one of its channels.", "cnnvis_deepdream"},
    {"04d_sanity_checks", "cascade.png", "Sanity checks (Adebayo et al. 2018): do the maps change when the weights are randomised, from the top layer down?",
     "cnnvis_net_randomize_layer, cnnvis_saliency"},
    {"04d_sanity_checks", "spearman.png", "The same as numbers: rank correlation between each method's original and randomised maps.",
     "cnnvis_saliency_map, cnnvis_plot_lines"},
    {"04e_tsne", "tsne_classes.png", "Which images does the network find alike? t-SNE of the penultimate layer's codes, coloured by class.",
     "cnnvis_net_codes, cnnvis_tsne"},
    {"04e_tsne", "tsne_*.png", "The same map drawn with the images themselves.", "cnnvis_tsne_image"},

    {"05_adversarial", "fgsm.png", "Can an invisible change fool the network? Original | perturbation (amplified) | adversarial, by FGSM: x + eps sign(grad_x J).",
     "cnnvis_attack (CNNVIS_ATTACK_FGSM), cnnvis_adversarial_image"},
    {"05_adversarial", "pgd.png", "The same with projected gradient descent: many small steps inside the eps-ball.", "cnnvis_attack (CNNVIS_ATTACK_PGD)"},
    {"05_adversarial", "targeted.png", "Can any image be made any class? Targeted attacks over many images and classes.", "cnnvis_attack (targeted)"},
    {"05_adversarial", "lbfgs.png", "The smallest change that reaches a target class: Szegedy et al.'s box-constrained L-BFGS.",
     "cnnvis_attack (CNNVIS_ATTACK_LBFGS), cnnvis_adversarial_image"},
    {"05_adversarial", "fooling.png", "Images that mean nothing to us, classified with 99% confidence (Nguyen et al. 2015).", "cnnvis_fooling_image"},
    {"05_adversarial", "curves.png", "How fast does accuracy fall as the budget eps grows? Robustness curves for FGSM and PGD.",
     "cnnvis_robustness_curve, cnnvis_plot_lines"},
    {"05b_adversarial_training", "curves.png", "Does training on adversarial examples help? The plain and the adversarially trained network's curves.",
     "cnnvis_net_train (adversarial), cnnvis_robustness_curve"},
    {"05b_adversarial_training", "pgd_*.png", "PGD against the plain and the robust network.", "cnnvis_attack, cnnvis_adversarial_image"},
};

/* The lecture's sections, by the first two characters of an example's folder. */
static const struct {
    const char *prefix, *title, *question;
} sections[] = {
    {"00", "0 Training", "The network every other section looks inside: alexnet_mini trained on the built-in concept images."},
    {"01", "1 Visualise filters", "What has the first layer learned, and is training going well?"},
    {"02", "2 Analyse activations", "What does each unit respond to, and which concepts do units detect?"},
    {"03", "3 Deconvolutional networks", "Which pixels made a unit fire? Project an activation back to pixel space."},
    {"04", "4 Saliency", "Which pixels matter for the decision, what does the network think a class looks like, and can the maps be trusted?"},
    {"05", "5 Adversarial examples", "A problem common to any discriminative method: tiny changes that fool the network."},
};

static int matches(const char *pattern, const char *name)
{
    const char *star = strchr(pattern, '*');
    size_t n = strlen(name), pre, post;
    if (!star) return strcmp(pattern, name) == 0;
    pre = (size_t)(star - pattern), post = strlen(star + 1);
    return n >= pre + post && strncmp(name, pattern, pre) == 0 && strcmp(name + n - post, star + 1) == 0;
}

static int has_suffix(const char *name, const char *suffix)
{
    size_t n = strlen(name), s = strlen(suffix);
    return n >= s && strcmp(name + n - s, suffix) == 0;
}

static int by_name(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

/* The sorted names of dir's folders, or of its PNG files; NULL if none. */
static char **list_dir(const char *dir, int folders, int *n)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char **names = NULL;
    int cap = 0;
    *n = 0;
    if (!d) return NULL;
    while ((e = readdir(d)) != NULL) {
        char path[1024];
        struct stat st;
        if (e->d_name[0] == '.') continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (stat(path, &st) != 0 || (folders ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode) || !has_suffix(e->d_name, ".png")))
            continue;
        if (*n == cap) {
            char **grown = (char **)realloc(names, sizeof *names * (size_t)(cap = cap ? 2 * cap : 32));
            if (!grown) break;
            names = grown;
        }
        names[*n] = strdup(e->d_name);
        if (names[*n]) (*n)++;
    }
    closedir(d);
    if (*n) qsort(names, (size_t)*n, sizeof *names, by_name);
    return names;
}

/* The page grows in memory and is written in one go (a temporary file, then a rename). */
typedef struct page {
    char *text;
    size_t len, cap;
} page;

static void put(page *p, const char *fmt, ...)
{
    va_list ap;
    int n;
    for (;;) {
        size_t room = p->cap - p->len;
        va_start(ap, fmt);
        n = vsnprintf(p->text ? p->text + p->len : NULL, p->text ? room : 0, fmt, ap);
        va_end(ap);
        if (n < 0) return;
        if (p->text && (size_t)n < room) {
            p->len += (size_t)n;
            return;
        }
        p->cap = 2 * (p->cap + (size_t)n + 1024);
        p->text = (char *)realloc(p->text, p->cap);
        if (!p->text) {
            fprintf(stderr, "99_gallery: out of memory\n");
            exit(1);
        }
    }
}

/* Write the page at path: to path.tmp first, then renamed over path, so that a failed write
   never leaves half a page. Exits with a message on failure. */
static void write_page(const page *p, const char *path)
{
    char tmp[1100];
    FILE *f;
    int ok;
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    f = fopen(tmp, "wb");
    if (!f) {
        fprintf(stderr, "99_gallery: cannot open %s: %s\n", tmp, strerror(errno));
        exit(1);
    }
    ok = fwrite(p->text, 1, p->len, f) == p->len;
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        fprintf(stderr, "99_gallery: cannot write %s: %s\n", path, strerror(errno));
        remove(tmp);
        exit(1);
    }
}

/* text with &, < and > escaped */
static void put_text(page *p, const char *text)
{
    for (; *text; text++) {
        if (*text == '&') put(p, "&amp;");
        else if (*text == '<') put(p, "&lt;");
        else if (*text == '>') put(p, "&gt;");
        else put(p, "%c", *text);
    }
}

/* A picture, its caption, and a link to the same picture as PPM or PGM when the example
   wrote one beside the PNG (dir is the folder on disk, folder the page's relative one). */
static void put_figure(page *p, const char *dir, const char *folder, const char *file, const picture *pic)
{
    static const char *const pnm[2] = {".ppm", ".pgm"};
    char path[1024], stem[1024], other[2048];
    int k;
    snprintf(path, sizeof path, "%s/%s", folder, file);
    snprintf(stem, sizeof stem, "%.*s", (int)(strlen(file) - 4), file); /* file ends in .png */
    put(p, "<figure><a href=\"%s\"><img src=\"%s\" alt=\"", path, path);
    put_text(p, file);
    put(p, "\"></a><figcaption><b>%s/%s</b><br>", folder, file);
    put_text(p, pic ? pic->question : "(no caption for this picture)");
    if (pic) {
        put(p, "<br><span class=\"how\">drawn by ");
        put_text(p, pic->how);
        put(p, "</span>");
    }
    for (k = 0; k < 2; k++) {
        snprintf(other, sizeof other, "%s/%s%s", dir, stem, pnm[k]);
        if (!ex_file_exists(other)) continue;
        put(p, "<br><a class=\"pnm\" href=\"%s/%s%s\">%s</a>", folder, stem, pnm[k], k == 0 ? "PPM" : "PGM");
    }
    put(p, "</figcaption></figure>\n");
}

/* The section a folder belongs to (by its first two characters), or N_SECTIONS if none. */
#define N_SECTIONS ((int)(sizeof sections / sizeof sections[0]))
static int section_of(const char *folder)
{
    int k;
    for (k = 0; k < N_SECTIONS; k++)
        if (strncmp(folder, sections[k].prefix, 2) == 0) break;
    return k;
}

/* The top of the page: title, style, and (while make demo runs) a note and a reload. */
static void put_head(page *p, const char *running)
{
    put(p, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n");
    if (*running) put(p, "<meta http-equiv=\"refresh\" content=\"10\">\n"); /* the demo adds pictures meanwhile */
    put(p, "<title>cnnvis.h: inside a convolutional network</title>\n"
           "<style>\n"
           "body{font-family:sans-serif;max-width:72em;margin:1em auto;padding:0 1em;color:#222;background:#fafafa}\n"
           "h1{margin-bottom:0}h2{border-bottom:2px solid #888;margin-top:2em}\n"
           "p.question{font-style:italic;color:#444}\n"
           "figure{display:inline-block;vertical-align:top;margin:0.5em;padding:0.5em;background:#fff;border:1px solid #ddd;max-width:100%%}\n"
           "figure img{max-width:100%%;image-rendering:pixelated;display:block}\n"
           "figcaption{font-size:0.9em;max-width:40em}\n"
           "span.how{font-family:monospace;color:#555}\n"
           "a.pnm{font-size:0.85em}\n"
           "</style></head><body>\n"
           "<h1>Inside a convolutional network</h1>\n"
           "<p>Every picture below was drawn by the numbered examples (<code>make demo</code>) from the network they trained, "
           "in the order of the lecture's sections. Click a picture for its full size; the PPM or PGM link under it "
           "opens the same picture in the netpbm format.</p>\n");
    if (*running) put(p, "<p><b>make demo is still running (%s): this page reloads itself every 10 seconds.</b></p>\n", running);
}

/* One example's folder of section s: the section's heading first if *shown is 0, then the
   captioned pictures in the table's order, then any others by name. Returns how many. */
static int put_folder(page *p, const char *out_dir, const char *folder, int s, int *shown)
{
    char dir[1024], **files;
    int n_files, i, k, n = 0;
    snprintf(dir, sizeof dir, "%s/%s", out_dir, folder);
    files = list_dir(dir, 0, &n_files);
    if (!n_files) return 0;
    if (!(*shown)++) {
        put(p, "<h2>%s</h2>\n", s < N_SECTIONS ? sections[s].title : "More");
        if (s < N_SECTIONS) {
            put(p, "<p class=\"question\">");
            put_text(p, sections[s].question);
            put(p, "</p>\n");
        }
    }
    put(p, "<h3>%s</h3>\n", folder);
    for (k = 0; k < (int)(sizeof pictures / sizeof pictures[0]); k++) {
        if (strcmp(pictures[k].folder, folder) != 0) continue;
        for (i = 0; i < n_files; i++) {
            int first = k, j;
            if (!files[i] || !matches(pictures[k].pattern, files[i])) continue;
            for (j = 0; j < k; j++) /* an earlier, more specific pattern took it */
                if (strcmp(pictures[j].folder, folder) == 0 && matches(pictures[j].pattern, files[i])) first = j;
            if (first != k) continue;
            put_figure(p, dir, folder, files[i], &pictures[k]);
            free(files[i]), files[i] = NULL, n++;
        }
    }
    for (i = 0; i < n_files; i++)
        if (files[i]) put_figure(p, dir, folder, files[i], NULL), free(files[i]), n++;
    free(files);
    return n;
}

/* The command line: each option's value, set to its default here. */
static struct {
    const char *out, *running;
} opt = {.out = "out", .running = ""};

static const ex_option options[] = {
    {"out", EX_STRING, &opt.out, 0, 0, "the folder the examples wrote into; the page goes there as index.html"},
    {"running", EX_STRING, &opt.running, 0, 0, "make demo is still running this (the page says so and reloads itself)"},
};

int main(int argc, char **argv)
{
    page p = {NULL, 0, 0};
    char **folders, path[1024];
    int n_folders, s, f, total = 0;
    ex_parse(argc, argv, options, EX_COUNT(options),
             "99_gallery: write OUT/index.html showing every picture the numbered examples wrote, in the lecture's order.");
    folders = list_dir(opt.out, 1, &n_folders);
    put_head(&p, opt.running);
    for (s = 0; s <= N_SECTIONS; s++) { /* the lecture's sections, then (s == N_SECTIONS) folders of none, "More" */
        int shown = 0;
        for (f = 0; f < n_folders; f++)
            if (section_of(folders[f]) == s) total += put_folder(&p, opt.out, folders[f], s, &shown);
    }
    if (!total) put(&p, "<p>No pictures yet: run <code>make demo</code>.</p>\n");
    put(&p, "</body></html>\n");
    snprintf(path, sizeof path, "%s/index.html", opt.out);
    write_page(&p, path);
    printf("wrote %s (%d pictures)\n", path, total);
    for (f = 0; f < n_folders; f++) free(folders[f]);
    free(folders), free(p.text);
    return 0;
}
