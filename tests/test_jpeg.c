/* test_jpeg.c - the JPEG reader (part B3): pixels against Debian's libjpeg-turbo-progs
   (cjpeg makes the files, djpeg decodes the reference; skipped without them or without the
   CamVid photos in ../shared/real-data), the Exif orientations, the float reference IDCT
   against the default integer one, the decode time of a 12-megapixel photo, and bad files
   (truncated, bad Huffman tables, huge sizes, 0x0, CMYK, arithmetic coding, 12 bits, missing
   restart markers, random corruption): each refused with a message, nothing read out of
   bounds (run it under -fsanitize=address,undefined too). */
#define _POSIX_C_SOURCE 200809L /* mkdir, popen */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

/* The library's allocator, counting the largest request: absurd headers must be refused
   before anything image-sized is allocated. */
static size_t alloc_max_request;
static void *test_malloc(size_t n)
{
    if (n > alloc_max_request) alloc_max_request = n;
    return malloc(n);
}
#define CNNVIS_MALLOC(sz) test_malloc(sz)
#define CNNVIS_FREE(p) free(p)

#define CNNVIS_IMPLEMENTATION
#include "cnnvis.h"
#include "minitest.h"

#define TMP_DIR "build/tmp-test_jpeg"
#define CAMVID "../shared/real-data/camvid-subset"

static int file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static int has_tool(const char *name)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "command -v %s >/dev/null 2>&1", name);
    return system(cmd) == 0;
}

static int run(const char *cmd)
{
    int status = system(cmd);
    if (status != 0) printf("  command failed (%d): %s\n", status, cmd);
    return status == 0;
}

/* Read from an exactly sized heap copy, so that AddressSanitizer sees any read past the end. */
static cnnvis_result decode(cnnvis_image *im, const unsigned char *data, size_t size)
{
    unsigned char *copy = (unsigned char *)malloc(size ? size : 1);
    cnnvis_result r;
    if (!copy) return CNNVIS_ERR_NOMEM;
    if (size) memcpy(copy, data, size);
    cnnvis_clear_error();
    r = cnnvis__image_read_memory(im, copy, size);
    free(copy);
    return r;
}

static int load(const char *path, unsigned char **data, size_t *size)
{
    return cnnvis__file_read(path, (size_t)1 << 30, data, size) == CNNVIS_OK;
}

/* The largest |a - b| over two images of one shape (-1 if the shapes differ), and how many
   samples differ. */
static int max_diff(const cnnvis_image *a, const cnnvis_image *b, long *n_differ)
{
    size_t i, n = (size_t)a->w * a->h * a->c;
    int worst = 0;
    *n_differ = 0;
    if (a->w != b->w || a->h != b->h || a->c != b->c) return -1;
    for (i = 0; i < n; i++) {
        int d = abs((int)a->px[i] - (int)b->px[i]);
        if (d) (*n_differ)++;
        if (d > worst) worst = d;
    }
    return worst;
}

/* Offset of the first marker `marker` found by walking the segments (-1 if none). */
static long find_marker(const unsigned char *d, size_t size, int marker)
{
    size_t p = 2;
    while (p + 4 <= size && d[p] == 0xff) {
        if (d[p + 1] == marker) return (long)p;
        if (d[p + 1] == 0xda) return -1; /* stop at the first scan */
        p += 2 + ((size_t)d[p + 2] << 8 | d[p + 3]);
    }
    return -1;
}

/* --- Against djpeg: the CamVid photos in every mode ---------------------------------------- */

static void test_jpeg_against_djpeg(void)
{
    static const char *const modes[] = {
        "-quality 95 -sample 1x1", "-quality 75 -sample 1x1", "-quality 50 -sample 1x1",
        "-quality 95 -sample 2x1", "-quality 75 -sample 2x1", "-quality 50 -sample 2x1",
        "-quality 95 -sample 2x2", "-quality 75 -sample 2x2", "-quality 30 -sample 2x2",
        "-quality 75 -sample 1x2", "-quality 75 -sample 4x1", "-quality 75 -sample 3x2",
        "-quality 90 -progressive -sample 1x1", "-quality 75 -progressive -sample 2x2",
        "-quality 60 -progressive -sample 2x1", "-quality 75 -restart 1 -sample 2x2",
        "-quality 75 -restart 3B -sample 1x1", "-quality 80 -progressive -restart 2 -sample 2x2",
        "-quality 85 -grayscale", "-quality 85 -grayscale -progressive -restart 5",
        "-quality 100 -sample 1x1", "-quality 100 -sample 2x2 -progressive",
    };
    static const char *const photos[] = {"0001TP_008550.png", "0001TP_010350.png", "Seq05VD_f00240.png", "Seq05VD_f05040.png"};
    char cmd[512], path[256];
    int m, k, worst = 0, files = 0, worst_mode = 0;
    long differ_total = 0, samples = 0;
    if (!has_tool("cjpeg") || !has_tool("djpeg")) SKIP("cjpeg/djpeg not on PATH (Debian: libjpeg-turbo-progs)");
    if (!file_exists(CAMVID "/images")) SKIP("%s not found (real-data folder absent; run from the repository root)", CAMVID);
    for (k = 0; k < (int)(sizeof photos / sizeof photos[0]); k++) {
        cnnvis_image src;
        snprintf(path, sizeof path, CAMVID "/images/%s", photos[k]);
        if (!file_exists(path)) continue; /* the subset may hold other frames: take what is there */
        REQUIRE(cnnvis_image_read(&src, path) == CNNVIS_OK, "%s", cnnvis_last_error());
        REQUIRE(cnnvis_image_write(TMP_DIR "/src.ppm", &src) == CNNVIS_OK, "%s", cnnvis_last_error());
        cnnvis_image_free(&src);
        for (m = 0; m < (int)(sizeof modes / sizeof modes[0]); m++) {
            cnnvis_image mine, ref;
            unsigned char *data;
            size_t size;
            long differ;
            int d;
            snprintf(cmd, sizeof cmd, "cjpeg %s -outfile " TMP_DIR "/t.jpg " TMP_DIR "/src.ppm && djpeg -outfile "
                     TMP_DIR "/ref.pnm " TMP_DIR "/t.jpg", modes[m]);
            REQUIRE(run(cmd), "%s", cmd);
            REQUIRE(load(TMP_DIR "/t.jpg", &data, &size), "%s", cnnvis_last_error());
            CHECK(decode(&mine, data, size) == CNNVIS_OK, "%s, %s: %s", photos[k], modes[m], cnnvis_last_error());
            free(data);
            REQUIRE(cnnvis_image_read(&ref, TMP_DIR "/ref.pnm") == CNNVIS_OK, "%s", cnnvis_last_error());
            d = max_diff(&mine, &ref, &differ);
            CHECK(d >= 0 && d <= 2, "%s, %s: differs from djpeg by %d levels (%ld samples differ)", photos[k], modes[m], d,
                  differ);
            if (strstr(modes[m], "grayscale") && strstr(modes[m], "quality 100")) CHECK(d == 0, "grey q100 not exact");
            if (d > worst) worst = d, worst_mode = m;
            differ_total += differ, samples += (long)ref.w * ref.h * ref.c, files++;
            cnnvis_image_free(&mine), cnnvis_image_free(&ref);
        }
    }
    if (!files) SKIP("none of the chosen CamVid photos is present");
    printf("  %d files (%d photos x %d modes): worst difference from djpeg %d levels (%s), %ld of %ld samples differ\n",
           files, files / (int)(sizeof modes / sizeof modes[0]), (int)(sizeof modes / sizeof modes[0]), worst,
           modes[worst_mode], differ_total, samples);
    CHECK(worst <= 2, "worst difference %d", worst);
}

/* A greyscale photo at quality 100 with the quantisation all ones: the lossless-equivalent
   case. The pixels must equal djpeg's exactly. */
static void test_jpeg_grey_exact(void)
{
    cnnvis_image src, grey, mine, ref;
    unsigned char *data;
    size_t size, i;
    long differ;
    int d;
    if (!has_tool("cjpeg") || !has_tool("djpeg")) SKIP("cjpeg/djpeg not on PATH (Debian: libjpeg-turbo-progs)");
    if (!file_exists(CAMVID "/images/0001TP_008550.png")) SKIP("%s not found", CAMVID);
    REQUIRE(cnnvis_image_read(&src, CAMVID "/images/0001TP_008550.png") == CNNVIS_OK, "%s", cnnvis_last_error());
    REQUIRE(cnnvis_image_create(&grey, src.w, src.h, 1) == CNNVIS_OK, "%s", cnnvis_last_error());
    for (i = 0; i < (size_t)src.w * src.h; i++) grey.px[i] = src.px[3 * i + 1];
    REQUIRE(cnnvis_image_write(TMP_DIR "/grey.pgm", &grey) == CNNVIS_OK, "%s", cnnvis_last_error());
    REQUIRE(run("cjpeg -quality 100 -outfile " TMP_DIR "/grey.jpg " TMP_DIR "/grey.pgm && djpeg -outfile " TMP_DIR
                "/grey_ref.pgm " TMP_DIR "/grey.jpg"), "cjpeg/djpeg");
    REQUIRE(load(TMP_DIR "/grey.jpg", &data, &size), "%s", cnnvis_last_error());
    REQUIRE(decode(&mine, data, size) == CNNVIS_OK, "%s", cnnvis_last_error());
    free(data);
    REQUIRE(cnnvis_image_read(&ref, TMP_DIR "/grey_ref.pgm") == CNNVIS_OK, "%s", cnnvis_last_error());
    d = max_diff(&mine, &ref, &differ);
    CHECK(d == 0, "grey quality 100: %ld samples differ from djpeg, by up to %d", differ, d);
    d = max_diff(&mine, &grey, &differ);
    printf("  grey quality 100: equal to djpeg's; from the original, up to %d levels (%ld of %d samples differ)\n", d,
           differ, grey.w * grey.h);
    cnnvis_image_free(&src), cnnvis_image_free(&grey), cnnvis_image_free(&mine), cnnvis_image_free(&ref);
}

/* --- The two IDCTs --------------------------------------------------------------------------- */

static uint64_t rng_state = 7;
static uint32_t rng(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return (uint32_t)((z ^ (z >> 31)) >> 32);
}

static void test_jpeg_idct_reference(void)
{
    float cosine[8][8];
    uint16_t quant[64];
    short coef[64];
    unsigned char a[64], b[64];
    int x, u, trial, k, worst = 0;
    long differ = 0;
    for (x = 0; x < 8; x++)
        for (u = 0; u < 8; u++) cosine[x][u] = (float)((u ? 0.5 : 0.5 / sqrt(2.0)) * cos((2 * x + 1) * u * 3.14159265358979323846 / 16));
    for (k = 0; k < 64; k++) quant[k] = 1;
    for (trial = 0; trial < 20000; trial++) {
        int spread = trial % 4 == 0 ? 1024 : trial % 4 == 1 ? 256 : trial % 4 == 2 ? 64 : 8;
        for (k = 0; k < 64; k++) coef[k] = (short)((int)(rng() % (2u * spread + 1)) - spread) / (1 + k / 4);
        coef[0] = (short)((int)(rng() % 2048) - 1024);
        cnnvis__jpeg_idct(a, 8, coef, quant);
        cnnvis__jpeg_idct__reference(b, 8, coef, quant, (const float (*)[8])cosine);
        for (k = 0; k < 64; k++) {
            int d = abs(a[k] - b[k]);
            if (d) differ++;
            if (d > worst) worst = d;
        }
    }
    printf("  20000 random blocks: the float IDCT differs from libjpeg's integer one by at most %d (%ld of %d samples)\n",
           worst, differ, 20000 * 64);
    CHECK(worst <= 1, "float and integer IDCT differ by %d", worst);
}

/* --- Exif orientation -------------------------------------------------------------------------- */

/* What each orientation asks for, built from two operations: mirror left-right and turn 90
   degrees clockwise (Exif: 2 mirror, 3 turn 180, 4 mirror top-bottom, 5 mirror then turn 270,
   6 turn 90, 7 mirror then turn 90, 8 turn 270). */
static void mirror(cnnvis_image *im)
{
    int x, y, c;
    for (y = 0; y < im->h; y++)
        for (x = 0; x < im->w / 2; x++)
            for (c = 0; c < im->c; c++) {
                unsigned char *l = im->px + ((size_t)y * im->w + x) * im->c + c, *r = im->px + ((size_t)y * im->w + im->w - 1 - x) * im->c + c;
                unsigned char t = *l;
                *l = *r, *r = t;
            }
}
static void turn_cw(cnnvis_image *im)
{
    cnnvis_image out;
    int x, y;
    if (cnnvis_image_create(&out, im->h, im->w, im->c) != CNNVIS_OK) return;
    for (y = 0; y < im->h; y++)
        for (x = 0; x < im->w; x++) /* stored (x, y) goes to (h-1-y, x) */
            memcpy(out.px + ((size_t)x * out.w + (im->h - 1 - y)) * im->c, im->px + ((size_t)y * im->w + x) * im->c, (size_t)im->c);
    cnnvis_image_free(im);
    *im = out;
}

static void test_jpeg_exif_orientation(void)
{
    cnnvis_image pattern, plain;
    unsigned char *data = NULL, *with = NULL;
    size_t size = 0;
    int o, order, x, y;
    if (!has_tool("cjpeg")) SKIP("cjpeg not on PATH (Debian: libjpeg-turbo-progs)");
    REQUIRE(cnnvis_image_create(&pattern, 40, 24, 3) == CNNVIS_OK, "%s", cnnvis_last_error());
    for (y = 0; y < 24; y++)
        for (x = 0; x < 40; x++) { /* a gradient that tells every corner apart */
            pattern.px[(y * 40 + x) * 3] = (unsigned char)(x * 6), pattern.px[(y * 40 + x) * 3 + 1] = (unsigned char)(y * 10);
            pattern.px[(y * 40 + x) * 3 + 2] = 128;
        }
    REQUIRE(cnnvis_image_write(TMP_DIR "/pattern.ppm", &pattern) == CNNVIS_OK, "%s", cnnvis_last_error());
    REQUIRE(run("cjpeg -quality 95 -outfile " TMP_DIR "/pattern.jpg " TMP_DIR "/pattern.ppm"), "cjpeg");
    REQUIRE(load(TMP_DIR "/pattern.jpg", &data, &size), "%s", cnnvis_last_error());
    REQUIRE(decode(&plain, data, size) == CNNVIS_OK, "%s", cnnvis_last_error());
    with = (unsigned char *)malloc(size + 64);
    REQUIRE(with != NULL, "malloc");
    for (order = 0; order < 2; order++)
        for (o = 1; o <= 8; o++) {
            /* APP1: "Exif\0\0", TIFF header, IFD0 with two entries (a dummy tag, then 0x0112) */
            static const unsigned char le[] = {'I', 'I', 42, 0, 8, 0, 0, 0, 2, 0, 0x0f, 0x01, 2, 0, 1, 0, 0, 0, 'x', 0, 0, 0,
                                               0x12, 0x01, 3, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
            static const unsigned char be[] = {'M', 'M', 0, 42, 0, 0, 0, 8, 0, 2, 0x01, 0x0f, 0, 2, 0, 0, 0, 1, 'x', 0, 0, 0,
                                               0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0};
            unsigned char tiff[sizeof le];
            size_t n = 2 + 6 + sizeof tiff;
            cnnvis_image got, want;
            memcpy(tiff, order ? be : le, sizeof tiff);
            if (order) tiff[31] = (unsigned char)o; else tiff[30] = (unsigned char)o;
            with[0] = 0xff, with[1] = 0xd8, with[2] = 0xff, with[3] = 0xe1, with[4] = (unsigned char)(n >> 8), with[5] = (unsigned char)n;
            memcpy(with + 6, "Exif\0\0", 6);
            memcpy(with + 12, tiff, sizeof tiff);
            memcpy(with + 12 + sizeof tiff, data + 2, size - 2);
            REQUIRE(decode(&got, with, size + 10 + sizeof tiff) == CNNVIS_OK, "orientation %d: %s", o, cnnvis_last_error());
            REQUIRE(cnnvis_image_create(&want, plain.w, plain.h, 3) == CNNVIS_OK, "create");
            memcpy(want.px, plain.px, (size_t)plain.w * plain.h * 3);
            if (o == 2 || o == 4 || o == 5 || o == 7) mirror(&want);
            if (o == 3 || o == 4) turn_cw(&want), turn_cw(&want);
            if (o == 5 || o == 8) turn_cw(&want), turn_cw(&want), turn_cw(&want);
            if (o == 6 || o == 7) turn_cw(&want);
            CHECK(got.w == want.w && got.h == want.h && memcmp(got.px, want.px, (size_t)got.w * got.h * 3) == 0,
                  "orientation %d (%s): %dx%d, the picture differs from what Exif asks", o, order ? "MM" : "II", got.w, got.h);
            if (o == 6) /* turned clockwise: the stored bottom-left corner is now top-left */
                CHECK(got.px[0] == plain.px[(size_t)(plain.h - 1) * plain.w * 3], "orientation 6: top-left");
            cnnvis_image_free(&got), cnnvis_image_free(&want);
        }
    free(with), free(data);
    cnnvis_image_free(&pattern), cnnvis_image_free(&plain);
}

/* --- Speed ----------------------------------------------------------------------------------------- */

static void test_jpeg_large(void)
{
    cnnvis_image src, big, mine;
    unsigned char *data;
    size_t size;
    int x, y;
    clock_t t0;
    double seconds;
    if (!has_tool("cjpeg")) SKIP("cjpeg not on PATH");
    if (!file_exists(CAMVID "/images/0001TP_008550.png")) SKIP("%s not found", CAMVID);
#if defined(MINITEST_ASAN) || defined(MINITEST_TSAN)
    SKIP("a timing: not under a sanitizer");
#endif
    REQUIRE(cnnvis_image_read(&src, CAMVID "/images/0001TP_008550.png") == CNNVIS_OK, "%s", cnnvis_last_error());
    REQUIRE(cnnvis_image_create(&big, 4000, 3000, 3) == CNNVIS_OK, "%s", cnnvis_last_error());
    for (y = 0; y < 3000; y++) /* the photo tiled, mirrored every other time so that the seams are smooth */
        for (x = 0; x < 4000; x++) {
            int sx = x / src.w % 2 ? src.w - 1 - x % src.w : x % src.w, sy = y / src.h % 2 ? src.h - 1 - y % src.h : y % src.h;
            memcpy(big.px + ((size_t)y * 4000 + x) * 3, src.px + ((size_t)sy * src.w + sx) * 3, 3);
        }
    REQUIRE(cnnvis_image_write(TMP_DIR "/big.ppm", &big) == CNNVIS_OK, "%s", cnnvis_last_error());
    REQUIRE(run("cjpeg -quality 90 -sample 2x2 -outfile " TMP_DIR "/big.jpg " TMP_DIR "/big.ppm"), "cjpeg");
    REQUIRE(load(TMP_DIR "/big.jpg", &data, &size), "%s", cnnvis_last_error());
    t0 = clock();
    CHECK(cnnvis__image_read_memory(&mine, data, size) == CNNVIS_OK, "%s", cnnvis_last_error());
    seconds = (double)(clock() - t0) / CLOCKS_PER_SEC;
    printf("  4000x3000 (12 Mpixel) baseline 4:2:0 quality 90, %zu bytes: decoded in %.2f s\n", size, seconds);
    CHECK(seconds < 20, "%.1f s", seconds);
    cnnvis_image_free(&mine);
    free(data);
    remove(TMP_DIR "/big.ppm"), remove(TMP_DIR "/big.jpg");
    cnnvis_image_free(&src), cnnvis_image_free(&big);
}

/* --- Bad files ------------------------------------------------------------------------------------ */

/* A small real JPEG to break: made by cjpeg when it is there, else a minimal 8x8 grey
   baseline file written here (DC table with one code, AC table with EOB only). */
static const unsigned char tiny_grey[] = {
    0xff, 0xd8,
    0xff, 0xdb, 0, 67, 0x00, /* DQT table 0: all ones */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    0xff, 0xc0, 0, 11, 8, 0, 8, 0, 8, 1, 1, 0x11, 0,                            /* SOF0 8x8, one component */
    0xff, 0xc4, 0, 20, 0x00, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* DC table 0: one code "0" -> 0 */
    0xff, 0xc4, 0, 20, 0x10, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* AC table 0: one code "0" -> EOB */
    0xff, 0xda, 0, 8, 1, 1, 0x00, 0, 63, 0,
    0x3f,                                                                       /* "00" + padding ones */
    0xff, 0xd9};

static void expect_refused(const unsigned char *data, size_t size, cnnvis_result code, const char *needle, const char *what)
{
    cnnvis_image im;
    cnnvis_result r;
    alloc_max_request = 0;
    r = decode(&im, data, size);
    CHECK(r == code, "%s: %s (expected %s): %s", what, cnnvis_result_str(r), cnnvis_result_str(code), cnnvis_last_error());
    CHECK(strstr(cnnvis_last_error(), needle) != NULL, "%s: message \"%s\" lacks \"%s\"", what, cnnvis_last_error(), needle);
    CHECK(im.px == NULL && im.w == 0, "%s: the image is not left empty", what);
    if (r == CNNVIS_OK) cnnvis_image_free(&im);
}

static void test_jpeg_tiny(void)
{
    cnnvis_image im;
    int k;
    REQUIRE(decode(&im, tiny_grey, sizeof tiny_grey) == CNNVIS_OK, "%s", cnnvis_last_error());
    CHECK(im.w == 8 && im.h == 8 && im.c == 1, "%dx%dx%d", im.w, im.h, im.c);
    for (k = 0; k < 64; k++) CHECK(im.px[k] == 128, "pixel %d is %d (a zero block is mid-grey)", k, im.px[k]);
    cnnvis_image_free(&im);
}

static void test_jpeg_truncated(void)
{
    size_t cut;
    int refused = 0;
    unsigned char buf[sizeof tiny_grey];
    for (cut = 0; cut < sizeof tiny_grey; cut++) {
        cnnvis_image im;
        cnnvis_result r = decode(&im, tiny_grey, cut);
        CHECK(r != CNNVIS_OK && cnnvis_last_error()[0], "tiny file cut at %zu of %zu bytes: %s", cut, sizeof tiny_grey,
              cnnvis_result_str(r));
        if (r == CNNVIS_OK) cnnvis_image_free(&im);
        else refused++;
    }
    memcpy(buf, tiny_grey, sizeof buf);
    expect_refused(buf, sizeof buf - 2, CNNVIS_ERR_FORMAT, "before the EOI", "no EOI");
    expect_refused(buf, sizeof buf - 3, CNNVIS_ERR_FORMAT, "truncated", "the scan's data cut");
    if (has_tool("cjpeg") && file_exists(CAMVID "/images/0001TP_008550.png")) { /* a real progressive photo cut everywhere */
        cnnvis_image src;
        unsigned char *data;
        size_t size, step;
        REQUIRE(cnnvis_image_read(&src, CAMVID "/images/0001TP_008550.png") == CNNVIS_OK, "%s", cnnvis_last_error());
        REQUIRE(cnnvis_image_write(TMP_DIR "/cut.ppm", &src) == CNNVIS_OK, "%s", cnnvis_last_error());
        cnnvis_image_free(&src);
        REQUIRE(run("cjpeg -quality 60 -progressive -restart 4 -outfile " TMP_DIR "/cut.jpg " TMP_DIR "/cut.ppm"), "cjpeg");
        REQUIRE(load(TMP_DIR "/cut.jpg", &data, &size), "%s", cnnvis_last_error());
        step = size / 97 + 1;
        for (cut = 0; cut + 1 < size; cut += step) {
            cnnvis_image im;
            cnnvis_result r = decode(&im, data, cut);
            CHECK(r != CNNVIS_OK && cnnvis_last_error()[0], "photo cut at %zu of %zu bytes was accepted", cut, size);
            if (r == CNNVIS_OK) cnnvis_image_free(&im);
        }
        free(data);
    }
    CHECK(refused == (int)sizeof tiny_grey, "%d refused", refused);
}

static void test_jpeg_bad_huffman(void)
{
    unsigned char buf[sizeof tiny_grey];
    long dht;
    memcpy(buf, tiny_grey, sizeof buf);
    dht = find_marker(buf, sizeof buf, 0xc4);
    REQUIRE(dht > 0, "no DHT");
    buf[dht + 5] = 3; /* three codes of length 1: more than the code space holds */
    expect_refused(buf, sizeof buf, CNNVIS_ERR_FORMAT, "bad Huffman table", "three 1-bit codes");
    memcpy(buf, tiny_grey, sizeof buf);
    buf[dht + 5] = 2; /* two 1-bit codes: the second is all ones */
    expect_refused(buf, sizeof buf, CNNVIS_ERR_FORMAT, "bad Huffman table", "an all-ones code");
    memcpy(buf, tiny_grey, sizeof buf);
    buf[dht + 5] = 200; /* more symbols than the segment holds */
    expect_refused(buf, sizeof buf, CNNVIS_ERR_FORMAT, "bad Huffman table", "200 codes in 1 byte");
    memcpy(buf, tiny_grey, sizeof buf);
    buf[dht + 4] = 0x05; /* DC table 5 */
    expect_refused(buf, sizeof buf, CNNVIS_ERR_FORMAT, "DHT class 0, table 5", "table id 5");
    memcpy(buf, tiny_grey, sizeof buf);
    buf[sizeof buf - 3] = 0xbf; /* the data: "1" is no code of the one-code DC table */
    expect_refused(buf, sizeof buf, CNNVIS_ERR_FORMAT, "bad Huffman code", "a bit string that is no code");
    memcpy(buf, tiny_grey, sizeof buf);
    buf[sizeof buf - 7] = 0x11; /* the scan asks for tables 1/1, never defined */
    expect_refused(buf, sizeof buf, CNNVIS_ERR_FORMAT, "DC Huffman table 1, which is not defined", "undefined table");
}

static void test_jpeg_bad_sizes(void)
{
    unsigned char buf[sizeof tiny_grey];
    long sof;
    memcpy(buf, tiny_grey, sizeof buf);
    sof = find_marker(buf, sizeof buf, 0xc0);
    REQUIRE(sof > 0, "no SOF");
    buf[sof + 5] = 0xff, buf[sof + 6] = 0xff, buf[sof + 7] = 0xff, buf[sof + 8] = 0xff; /* 65535 x 65535 */
    expect_refused(buf, sizeof buf, CNNVIS_ERR_FORMAT, "SOF0 size 65535x65535", "huge");
    CHECK(alloc_max_request < 4096, "huge: %zu bytes allocated before refusing", alloc_max_request);
    buf[sof + 5] = 0x20, buf[sof + 6] = 0x00, buf[sof + 7] = 0x40, buf[sof + 8] = 0x00; /* 16384 x 8192: too many pixels */
    expect_refused(buf, sizeof buf, CNNVIS_ERR_FORMAT, "at most", "16384x8192");
    CHECK(alloc_max_request < 4096, "16384x8192: %zu bytes allocated before refusing", alloc_max_request);
    buf[sof + 5] = 0, buf[sof + 6] = 0, buf[sof + 7] = 0, buf[sof + 8] = 0;
    expect_refused(buf, sizeof buf, CNNVIS_ERR_UNSUPPORTED, "SOF0 height 0", "0x0");
    buf[sof + 5] = 0, buf[sof + 6] = 8;
    expect_refused(buf, sizeof buf, CNNVIS_ERR_FORMAT, "SOF0 width 0", "8x0");
    memcpy(buf, tiny_grey, sizeof buf);
    buf[sof + 4] = 12;
    expect_refused(buf, sizeof buf, CNNVIS_ERR_UNSUPPORTED, "precision 12", "12-bit");
    memcpy(buf, tiny_grey, sizeof buf);
    buf[sof + 11] = 0x51; /* sampling 5x1 */
    expect_refused(buf, sizeof buf, CNNVIS_ERR_FORMAT, "sampling factors 5x1", "sampling 5x1");
}

static void test_jpeg_unsupported(void)
{
    /* CMYK: an Adobe APP14 segment (transform 0) and a 4-component SOF0 */
    static const unsigned char cmyk[] = {0xff, 0xd8, 0xff, 0xee, 0, 14, 'A', 'd', 'o', 'b', 'e', 0, 100, 0, 0, 0, 0, 0,
                                         0xff, 0xc0, 0, 20, 8, 0, 8, 0, 8, 4, 1, 0x11, 0, 2, 0x11, 0, 3, 0x11, 0, 4, 0x11, 0,
                                         0xff, 0xd9};
    static const unsigned char ycck[] = {0xff, 0xd8, 0xff, 0xee, 0, 14, 'A', 'd', 'o', 'b', 'e', 0, 100, 0, 0, 0, 0, 2,
                                         0xff, 0xc0, 0, 20, 8, 0, 8, 0, 8, 4, 1, 0x11, 0, 2, 0x11, 0, 3, 0x11, 0, 4, 0x11, 0,
                                         0xff, 0xd9};
    unsigned char buf[sizeof tiny_grey];
    long sof;
    expect_refused(cmyk, sizeof cmyk, CNNVIS_ERR_UNSUPPORTED, "CMYK (4 components, Adobe transform 0) is not supported", "CMYK");
    expect_refused(ycck, sizeof ycck, CNNVIS_ERR_UNSUPPORTED, "YCCK (4 components, Adobe transform 2)", "YCCK");
    memcpy(buf, tiny_grey, sizeof buf);
    sof = find_marker(buf, sizeof buf, 0xc0);
    REQUIRE(sof > 0, "no SOF");
    buf[sof + 1] = 0xc9;
    expect_refused(buf, sizeof buf, CNNVIS_ERR_UNSUPPORTED, "arithmetic coding (SOF9) is not supported", "arithmetic");
    buf[sof + 1] = 0xca;
    expect_refused(buf, sizeof buf, CNNVIS_ERR_UNSUPPORTED, "arithmetic coding (SOF10)", "progressive arithmetic");
    buf[sof + 1] = 0xc3;
    expect_refused(buf, sizeof buf, CNNVIS_ERR_UNSUPPORTED, "lossless", "lossless");
    if (has_tool("cjpeg") && has_tool("djpeg")) { /* a real arithmetic file, if this cjpeg makes one */
        unsigned char *data;
        size_t size;
        FILE *f = fopen(TMP_DIR "/ari.pgm", "wb");
        int k;
        REQUIRE(f != NULL, "fopen");
        fprintf(f, "P5\n16 16\n255\n");
        for (k = 0; k < 256; k++) fputc(k, f);
        fclose(f);
        if (system("cjpeg -arithmetic -outfile " TMP_DIR "/ari.jpg " TMP_DIR "/ari.pgm 2>/dev/null") == 0 &&
            load(TMP_DIR "/ari.jpg", &data, &size)) {
            expect_refused(data, size, CNNVIS_ERR_UNSUPPORTED, "arithmetic coding (SOF9)", "cjpeg -arithmetic");
            free(data);
        }
    }
}

static void test_jpeg_restart_missing(void)
{
    unsigned char *data;
    size_t size, k;
    int removed = 0;
    cnnvis_image src;
    if (!has_tool("cjpeg")) SKIP("cjpeg not on PATH");
    if (!file_exists(CAMVID "/images/0001TP_008550.png")) SKIP("%s not found", CAMVID);
    REQUIRE(cnnvis_image_read(&src, CAMVID "/images/0001TP_008550.png") == CNNVIS_OK, "%s", cnnvis_last_error());
    REQUIRE(cnnvis_image_write(TMP_DIR "/rst.ppm", &src) == CNNVIS_OK, "%s", cnnvis_last_error());
    cnnvis_image_free(&src);
    REQUIRE(run("cjpeg -quality 75 -restart 2 -outfile " TMP_DIR "/rst.jpg " TMP_DIR "/rst.ppm"), "cjpeg");
    REQUIRE(load(TMP_DIR "/rst.jpg", &data, &size), "%s", cnnvis_last_error());
    for (k = size / 2; k + 1 < size; k++)
        if (data[k] == 0xff && data[k + 1] >= 0xd0 && data[k + 1] <= 0xd7) { /* RSTm -> RST(m+1): out of order */
            data[k + 1] = (unsigned char)(0xd0 + (data[k + 1] - 0xd0 + 1) % 8);
            removed = 1;
            break;
        }
    REQUIRE(removed, "no restart marker found");
    expect_refused(data, size, CNNVIS_ERR_FORMAT, "expected the marker RST", "restart marker out of order");
    free(data);
}

/* Random corruption of real files: every outcome is fine but a crash, a sanitizer report, or
   a failure without a message. */
static void test_jpeg_corrupt(void)
{
    static const char *const modes[] = {"-sample 2x2", "-progressive -sample 2x1", "-progressive -grayscale", "-restart 1"};
    int m, trial, accepted = 0, refused = 0;
    cnnvis_image src, small;
    if (!has_tool("cjpeg")) SKIP("cjpeg not on PATH");
    if (!file_exists(CAMVID "/images/0001TP_008550.png")) SKIP("%s not found", CAMVID);
    REQUIRE(cnnvis_image_read(&src, CAMVID "/images/0001TP_008550.png") == CNNVIS_OK, "%s", cnnvis_last_error());
    REQUIRE(cnnvis_image_resize(&small, &src, 97, 71, CNNVIS_RESIZE_AREA) == CNNVIS_OK, "%s", cnnvis_last_error());
    REQUIRE(cnnvis_image_write(TMP_DIR "/c.ppm", &small) == CNNVIS_OK, "%s", cnnvis_last_error());
    cnnvis_image_free(&src), cnnvis_image_free(&small);
    for (m = 0; m < 4; m++) {
        char cmd[256];
        unsigned char *data;
        size_t size;
        snprintf(cmd, sizeof cmd, "cjpeg -quality 70 %s -outfile " TMP_DIR "/c.jpg " TMP_DIR "/c.ppm", modes[m]);
        REQUIRE(run(cmd), "%s", cmd);
        REQUIRE(load(TMP_DIR "/c.jpg", &data, &size), "%s", cnnvis_last_error());
        for (trial = 0; trial < 150; trial++) {
            unsigned char *copy = (unsigned char *)malloc(size);
            int flips = 1 + (int)(rng() % 4), f;
            cnnvis_image im;
            cnnvis_result r;
            REQUIRE(copy != NULL, "malloc");
            memcpy(copy, data, size);
            for (f = 0; f < flips; f++) copy[2 + rng() % (size - 2)] ^= (unsigned char)(1 + rng() % 255);
            r = decode(&im, copy, size);
            if (r == CNNVIS_OK) {
                accepted++, cnnvis_image_free(&im);
            } else {
                refused++;
                CHECK(cnnvis_last_error()[0], "refused without a message");
            }
            free(copy);
        }
        free(data);
    }
    printf("  600 corrupted files: %d decoded (to some picture), %d refused with a message\n", accepted, refused);
}

int main(void)
{
    int result;
    mkdir("build", 0777); /* may exist */
    mkdir(TMP_DIR, 0777);
    RUN(test_jpeg_tiny);
    RUN(test_jpeg_against_djpeg);
    RUN(test_jpeg_grey_exact);
    RUN(test_jpeg_idct_reference);
    RUN(test_jpeg_exif_orientation);
    RUN(test_jpeg_large);
    RUN(test_jpeg_truncated);
    RUN(test_jpeg_bad_huffman);
    RUN(test_jpeg_bad_sizes);
    RUN(test_jpeg_unsupported);
    RUN(test_jpeg_restart_missing);
    RUN(test_jpeg_corrupt);
    result = SUMMARY();
    if (system("rm -rf " TMP_DIR) != 0) printf("note: could not remove %s\n", TMP_DIR);
    return result;
}
