/* test_gallery.c - the page `make demo` ends with (examples/99_gallery.c), opened in a real
   headless browser: every image must load (naturalWidth > 0) and a screenshot must not be
   blank. Needs Debian's chromium (or $CHROMIUM); without it the tests skip, saying so.

   The page checked is made here from the committed pictures in docs/img, laid out in
   folders as the examples write them, so that the test does not need a trained network;
   if `make demo` has run, out/index.html is checked as well. A page with a missing picture
   must be caught, so that the check itself is known to work. */
#define _POSIX_C_SOURCE 200809L /* mkdtemp, popen */
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define CNNVIS_IMPLEMENTATION
#include "cnnvis.h"
#include "minitest.h"

/* docs/img picture -> where an example writes it */
static const char *const layout[][2] = {
    {"concepts_samples.png", "00_train/samples.png"},
    {"s1_conv1_filters.png", "01_filters/conv1_filters.png"},
    {"s1_evolution.png", "01_filters/evolution.png"},
    {"s2_maps_conv1.png", "02a_activations/maps_conv1.png"},
    {"s2_top9_conv5.png", "02a_activations/top9_conv5.png"},
    {"s2_detectors.png", "02b_dissection/detectors.png"},
    {"s3_projections.png", "03_deconvnet/projections.png"},
    {"s4_saliency.png", "04a_saliency/saliency.png"},
    {"s4_tsne.png", "04e_tsne/tsne_classes.png"},
    {"s4_deepdream.png", "09_extra/unknown_picture.png"}, /* a folder and a name the page has no caption for */
};

static char chromium[512];

static int find_chromium(void)
{
    static const char *const candidates[] = {"/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"};
    const char *env = getenv("CHROMIUM");
    size_t i;
    if (env && *env) {
        snprintf(chromium, sizeof chromium, "%s", env);
        return access(chromium, X_OK) == 0;
    }
    for (i = 0; i < sizeof candidates / sizeof candidates[0]; i++)
        if (access(candidates[i], X_OK) == 0) {
            snprintf(chromium, sizeof chromium, "%s", candidates[i]);
            return 1;
        }
    return 0;
}

/* The browser's flags: headless, no sandbox (CI runs as root), and a time bound. */
#define BROWSER "timeout 120 \"%s\" --headless=new --no-sandbox --disable-gpu --hide-scrollbars --no-first-run "

/* Opens page (an absolute path) in a frame of a checking page and reads what its script
   found: *images on the page and how many of them did not load. Returns 0 on success. */
static int browser_images(const char *dir, const char *page, int *images, int *broken)
{
    char check[1024], cmd[3072], line[4096];
    FILE *f;
    int found = 0;
    snprintf(check, sizeof check, "%s/check.html", dir);
    f = fopen(check, "w");
    if (!f) return -1;
    fprintf(f, "<!DOCTYPE html><html><head><meta charset=\"utf-8\"></head><body>\n"
               "<iframe id=\"f\" src=\"file://%s\" style=\"width:1200px;height:900px\"></iframe><pre id=\"r\">pending</pre>\n"
               "<script>document.getElementById('f').onload = function () {\n"
               "  var doc = this.contentDocument, n = 0, bad = 0, i;\n"
               "  if (doc) for (i = 0; i < doc.images.length; i++) { n++; if (!(doc.images[i].complete && doc.images[i].naturalWidth > 0)) bad++; }\n"
               "  document.getElementById('r').textContent = doc ? 'RESULT ' + n + ' ' + bad : 'RESULT -1 -1';\n"
               "};</script></body></html>\n",
            page);
    fclose(f);
    snprintf(cmd, sizeof cmd, BROWSER "--allow-file-access-from-files --virtual-time-budget=20000 --dump-dom \"file://%s\" 2>/dev/null",
             chromium, check);
    f = popen(cmd, "r");
    if (!f) return -1;
    while (fgets(line, sizeof line, f)) {
        const char *at = strstr(line, "RESULT ");
        if (at && sscanf(at, "RESULT %d %d", images, broken) == 2) found = 1;
    }
    pclose(f);
    return found ? 0 : -1;
}

/* A screenshot of page; the share of its pixels that differ from the page's background. */
static int browser_screenshot(const char *dir, const char *page, double *ink)
{
    char shot[1024], cmd[3072];
    cnnvis_image im;
    size_t i, n, differ = 0;
    snprintf(shot, sizeof shot, "%s/screenshot.png", dir);
    remove(shot);
    snprintf(cmd, sizeof cmd, BROWSER "--window-size=1280,1600 --screenshot=\"%s\" \"file://%s\" >/dev/null 2>&1", chromium, shot,
             page);
    if (system(cmd) != 0 || cnnvis_image_read(&im, shot) != CNNVIS_OK) return -1;
    n = (size_t)im.w * im.h;
    for (i = 0; i < n; i++) {
        const unsigned char *p = im.px + i * im.c;
        int c, far = 0;
        for (c = 0; c < im.c; c++) far |= abs((int)p[c] - 250) > 16; /* the page's background is #fafafa */
        differ += (size_t)far;
    }
    cnnvis_image_free(&im);
    *ink = (double)differ / (double)n;
    return 0;
}

static int copy_file(const char *from, const char *to)
{
    unsigned char *data = NULL;
    size_t size = 0;
    int ok = cnnvis__file_read(from, (size_t)64 << 20, &data, &size) == CNNVIS_OK && cnnvis__file_write(to, data, size) == CNNVIS_OK;
    cnnvis__free(data);
    return ok;
}

static int count_in_file(const char *path, const char *needle)
{
    unsigned char *data = NULL;
    size_t size = 0;
    int n = 0;
    const char *p;
    char *text;
    if (cnnvis__file_read(path, (size_t)64 << 20, &data, &size) != CNNVIS_OK) return -1;
    text = (char *)malloc(size + 1);
    if (text) {
        memcpy(text, data, size), text[size] = 0;
        for (p = text; (p = strstr(p, needle)) != NULL; p++) n++;
        free(text);
    }
    cnnvis__free(data);
    return n;
}

static void check_page(const char *dir, const char *page, int expect_images)
{
    int images = -1, broken = -1;
    double ink = 0;
    REQUIRE(browser_images(dir, page, &images, &broken) == 0, "%s: the browser printed no result", page);
    printf("  %s: %d images, %d did not load\n", page, images, broken);
    CHECK(images > 0 && (expect_images < 0 || images == expect_images), "%d images on the page, expected %d", images,
          expect_images);
    CHECK(broken == 0, "%d of %d images did not load", broken, images);
    REQUIRE(browser_screenshot(dir, page, &ink) == 0, "%s: no screenshot", page);
    printf("  screenshot: %.1f%% of the pixels differ from the background\n", 100 * ink);
    CHECK(ink > 0.05, "the screenshot is blank: %.2f%% of it differs from the background", 100 * ink);
}

static void test_gallery_page(void)
{
    const char *build = getenv("BUILD") ? getenv("BUILD") : "build";
    char dir[] = "/tmp/cnnvis_gallery_XXXXXX", tool[512], cmd[2048], page[1024], bad[1024];
    size_t i;
    int made = 0;
    FILE *f;
    if (!find_chromium()) SKIP("no chromium to open the page in (Debian: apt-get install chromium; or set CHROMIUM)");
    snprintf(tool, sizeof tool, "%s/99_gallery", build);
    if (access(tool, X_OK) != 0) SKIP("%s is not built (make all)", tool);
    REQUIRE(mkdtemp(dir), "mkdtemp");
    for (i = 0; i < sizeof layout / sizeof layout[0]; i++) {
        char from[1024], to[1024], folder[1024];
        snprintf(from, sizeof from, "docs/img/%s", layout[i][0]);
        snprintf(to, sizeof to, "%s/%s", dir, layout[i][1]);
        snprintf(folder, sizeof folder, "%s/%.*s", dir, (int)(strchr(layout[i][1], '/') - layout[i][1]), layout[i][1]);
        mkdir(folder, 0755);
        if (copy_file(from, to)) made++;
        else printf("  could not copy %s: %s\n", from, cnnvis_last_error());
    }
    CHECK(made == (int)(sizeof layout / sizeof layout[0]), "%d of %d pictures copied", made, (int)(sizeof layout / sizeof layout[0]));
    { /* the examples write a PPM (or PGM) beside each PNG; the page links it under the caption */
        cnnvis_image im;
        char ppm[1024];
        snprintf(ppm, sizeof ppm, "%s/01_filters/conv1_filters.ppm", dir);
        CHECK(cnnvis_image_read(&im, "docs/img/s1_conv1_filters.png") == CNNVIS_OK && cnnvis_image_write(ppm, &im) == CNNVIS_OK,
              "could not write %s: %s", ppm, cnnvis_last_error());
        cnnvis_image_free(&im);
    }
    snprintf(cmd, sizeof cmd, "\"%s\" --out \"%s\" >/dev/null", tool, dir);
    REQUIRE(system(cmd) == 0, "%s failed", cmd);
    snprintf(page, sizeof page, "%s/index.html", dir);
    CHECK(count_in_file(page, "<img ") == made, "the page shows %d pictures, %d were there", count_in_file(page, "<img "), made);
    CHECK(count_in_file(page, "drawn by cnnvis_dissect") == 1 && count_in_file(page, "no caption for this picture") == 1,
          "captions: the dissection picture's or the uncaptioned picture's is missing");
    CHECK(count_in_file(page, "<a class=\"pnm\" href=\"01_filters/conv1_filters.ppm\">PPM</a>") == 1 &&
              count_in_file(page, "class=\"pnm\"") == 1,
          "the page should link the one PPM there is (01_filters/conv1_filters.ppm), and only it");
    CHECK(count_in_file(page, "<script") == 0 && count_in_file(page, "http") == 0, "the page has a script or a network address");
    check_page(dir, page, made);
    /* the check must catch a picture that does not load */
    snprintf(bad, sizeof bad, "%s/bad.html", dir);
    f = fopen(bad, "w");
    REQUIRE(f, "cannot write %s", bad);
    fprintf(f, "<!DOCTYPE html><html><body><img src=\"01_filters/conv1_filters.png\"><img src=\"no_such.png\"></body></html>\n");
    fclose(f);
    {
        int images = -1, broken = -1;
        CHECK(browser_images(dir, bad, &images, &broken) == 0 && images == 2 && broken == 1,
              "a page with a missing picture: %d images, %d broken (expected 2 and 1)", images, broken);
    }
    snprintf(cmd, sizeof cmd, "rm -rf \"%s\"", dir);
    if (system(cmd) != 0) printf("  could not remove %s\n", dir);
}

/* The demo's own page, if `make demo` has run here. */
static void test_demo_page(void)
{
    char dir[] = "/tmp/cnnvis_gallery_XXXXXX", cwd[1024], page[2048], cmd[1100];
    if (!find_chromium()) SKIP("no chromium to open the page in (Debian: apt-get install chromium; or set CHROMIUM)");
    if (access("out/index.html", R_OK) != 0) SKIP("out/index.html is not there: `make demo` writes it");
    REQUIRE(getcwd(cwd, sizeof cwd) && mkdtemp(dir), "getcwd, mkdtemp");
    snprintf(page, sizeof page, "%s/out/index.html", cwd);
    check_page(dir, page, -1);
    snprintf(cmd, sizeof cmd, "rm -rf \"%s\"", dir);
    if (system(cmd) != 0) printf("  could not remove %s\n", dir);
}

int main(void)
{
    RUN(test_gallery_page);
    RUN(test_demo_page);
    return SUMMARY();
}
