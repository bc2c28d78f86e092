/* test_idx.c - the IDX reader (MNIST / Fashion-MNIST) and the gzip inflater under it: IDX
   files built in memory, plain and gzip-wrapped; real gzip files with fixed and dynamic
   Huffman blocks; hand-made deflate streams for each error the inflater checks; truncated
   and randomly corrupted input; and Fashion-MNIST itself where Debian's package put it. */
#define _POSIX_C_SOURCE 200809L /* mkdir, mkdtemp, rmdir */
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/types.h>

/* The library's allocator, instrumented: remembers the largest request, so that the tests can
   show bad headers are refused before anything large is allocated. */
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


#include <unistd.h>

static int has(const char *haystack, const char *needle) { return strstr(haystack, needle) != NULL; }

/* --- Embedded gzip files -------------------------------------------------------------------
   Made with `gzip -9` (GNU gzip 1.12) from the text that make_text() writes (text.txt, 5121
   bytes: one dynamic-Huffman block with back-references) and from "hello, hello, hello:
   cnnvis!\n" (hello.txt: one fixed-Huffman block). Both carry the FNAME field. */

static const unsigned char text_gz[449] = {
    0x1f, 0x8b, 0x08, 0x08, 0x65, 0x55, 0x07, 0x6b, 0x02, 0x03, 0x74, 0x65, 0x78, 0x74, 0x2e, 0x74,
    0x78, 0x74, 0x00, 0xad, 0x96, 0x41, 0x4e, 0xc3, 0x30, 0x10, 0x45, 0xf7, 0x9c, 0xc2, 0x07, 0x60,
    0x61, 0x7b, 0x66, 0x9c, 0x84, 0xdb, 0x84, 0x34, 0x2d, 0x81, 0x34, 0x2e, 0x6d, 0x5a, 0x5a, 0x4e,
    0x4f, 0x0b, 0x0a, 0xb0, 0x80, 0xb1, 0xbe, 0x34, 0x6b, 0x47, 0x5f, 0x19, 0xbd, 0xb7, 0x78, 0xde,
    0xbb, 0x2e, 0x4f, 0xa7, 0x3c, 0x1e, 0xe7, 0x21, 0x4f, 0xae, 0x9d, 0x56, 0x6e, 0xb5, 0xcf, 0xbb,
    0x7c, 0x9c, 0xef, 0xdd, 0xd8, 0x5e, 0xfa, 0xbd, 0xf3, 0x0f, 0x6e, 0x7e, 0xea, 0xdd, 0xeb, 0x71,
    0xe8, 0x5e, 0xdc, 0xe3, 0x3e, 0xbf, 0x4d, 0x6e, 0x9d, 0xcf, 0xee, 0xf9, 0xb8, 0xdd, 0x1d, 0x5c,
    0x3e, 0x5d, 0xbf, 0xb8, 0x3d, 0x8f, 0xed, 0xfb, 0xc5, 0xad, 0xf2, 0xe6, 0xce, 0x07, 0xb7, 0xcb,
    0x79, 0x1c, 0xa6, 0xcd, 0xe7, 0xd8, 0x21, 0xaf, 0xe7, 0x6d, 0x7b, 0x5e, 0xc6, 0x02, 0x38, 0x16,
    0xdd, 0xbe, 0xef, 0xe6, 0x61, 0x3d, 0x5c, 0x5f, 0x6e, 0x73, 0xbf, 0xfe, 0x75, 0x99, 0x8c, 0xe0,
    0x24, 0x2d, 0x07, 0x7e, 0x1d, 0xdb, 0xdf, 0x26, 0xa7, 0xfe, 0xfb, 0x5c, 0x02, 0xe7, 0x78, 0x39,
    0xf1, 0xef, 0x39, 0x06, 0xe7, 0xe4, 0x67, 0xe2, 0xbf, 0x83, 0x51, 0x20, 0xc9, 0x1d, 0xda, 0x71,
    0xe8, 0xa7, 0xee, 0x62, 0x41, 0xa4, 0x2a, 0xf9, 0x82, 0xf2, 0xa8, 0x35, 0x5f, 0x50, 0x1a, 0x4d,
    0xd9, 0x17, 0x90, 0x48, 0xf0, 0xba, 0x2f, 0x20, 0x8d, 0x10, 0x74, 0x5f, 0x40, 0x1c, 0x21, 0x96,
    0x7d, 0x01, 0x81, 0x04, 0x52, 0x7d, 0x01, 0x89, 0x04, 0x2e, 0xf9, 0x82, 0xf2, 0x10, 0xcd, 0x17,
    0x94, 0x46, 0x2a, 0xfb, 0x82, 0x12, 0xa9, 0x74, 0x5f, 0x50, 0x1a, 0xb5, 0xee, 0x0b, 0x8a, 0xa3,
    0x29, 0xfb, 0x02, 0x02, 0x89, 0x5e, 0xf5, 0x05, 0x24, 0x12, 0x43, 0xc9, 0x17, 0x90, 0x47, 0x8c,
    0x9a, 0x2f, 0x20, 0x8d, 0x48, 0x65, 0x5f, 0x40, 0x22, 0x91, 0x75, 0x5f, 0x50, 0x1a, 0xa2, 0xfb,
    0x82, 0xe2, 0x48, 0x65, 0x5f, 0x50, 0x20, 0x95, 0xea, 0x0b, 0x4a, 0xa4, 0x2e, 0xf9, 0x82, 0xf2,
    0x68, 0x34, 0x5f, 0x40, 0x1a, 0xe4, 0xcb, 0xbe, 0x80, 0x44, 0x28, 0xe8, 0xbe, 0x80, 0x34, 0x28,
    0xea, 0xbe, 0x80, 0x38, 0x88, 0xca, 0xbe, 0x80, 0x40, 0x88, 0x55, 0x5f, 0x50, 0x22, 0x62, 0xdc,
    0xbb, 0x94, 0x0c, 0x7b, 0x97, 0x2a, 0xf3, 0xde, 0xa5, 0xda, 0xb4, 0x77, 0xa9, 0x31, 0xed, 0x5d,
    0xf6, 0xe6, 0xbd, 0xcb, 0xc1, 0xb2, 0x77, 0x39, 0x1a, 0xf7, 0x2e, 0x93, 0x61, 0xef, 0x32, 0x9b,
    0xf7, 0x2e, 0x8b, 0x69, 0xef, 0x72, 0x32, 0xed, 0x5d, 0xae, 0xcc, 0x7b, 0x97, 0x6b, 0xcb, 0xde,
    0xe5, 0xc6, 0xb8, 0x77, 0xc5, 0x1b, 0xf6, 0xae, 0x04, 0xf3, 0xde, 0x95, 0x68, 0xda, 0xbb, 0x42,
    0xa6, 0xbd, 0x2b, 0x6c, 0xde, 0xbb, 0x22, 0x96, 0xbd, 0x2b, 0xc9, 0xb8, 0x77, 0xa5, 0x32, 0xec,
    0x5d, 0xa9, 0xcd, 0x7b, 0x57, 0x1a, 0xd3, 0xde, 0x4d, 0xde, 0xb4, 0x77, 0x53, 0x30, 0xef, 0xdd,
    0x14, 0x2d, 0x7b, 0x37, 0x91, 0x71, 0xef, 0x7e, 0x00, 0x26, 0xb5, 0x73, 0xc2, 0x01, 0x14, 0x00,
    0x00,
};

static const unsigned char hello_gz[49] = {
    0x1f, 0x8b, 0x08, 0x08, 0x65, 0x55, 0x07, 0x6b, 0x02, 0x03, 0x68, 0x65, 0x6c, 0x6c, 0x6f, 0x2e,
    0x74, 0x78, 0x74, 0x00, 0xcb, 0x48, 0xcd, 0xc9, 0xc9, 0xd7, 0x51, 0xc8, 0x40, 0xa2, 0xac, 0x14,
    0x92, 0xf3, 0xf2, 0xca, 0x32, 0x8b, 0x15, 0xb9, 0x00, 0x1b, 0xda, 0x79, 0x1e, 0x1d, 0x00, 0x00,
    0x00,
};
static const char hello_txt[] = "hello, hello, hello: cnnvis!\n";

/* The text inside text_gz. */
static size_t make_text(char *buf, size_t cap)
{
    static const char *const words[7] = {"convolution", "pooling", "rectifier", "dropout", "softmax", "deconvnet", "saliency"};
    size_t len = 0;
    int i;
    for (i = 0; i < 64; i++)
        len += (size_t)snprintf(buf + len, cap - len, "%02d %s and %s, layer %d: the quick brown fox jumps over the lazy dog\n",
                                i, words[i % 7], words[(i * i + 3) % 7], i % 5);
    return len;
}

/* --- Building files in memory ---------------------------------------------------------------- */

typedef struct bytes {
    unsigned char *p;
    size_t n, cap;
} bytes;

static void put(bytes *b, const void *src, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = (unsigned char *)realloc(b->p, b->cap);
    }
    if (n) memcpy(b->p + b->n, src, n);
    b->n += n;
}
static void put8(bytes *b, unsigned v)
{
    unsigned char c = (unsigned char)v;
    put(b, &c, 1);
}
static void put_be32(bytes *b, uint32_t v)
{
    put8(b, v >> 24), put8(b, (v >> 16) & 0xff), put8(b, (v >> 8) & 0xff), put8(b, v & 0xff);
}
static void put_le16(bytes *b, unsigned v) { put8(b, v & 0xff), put8(b, (v >> 8) & 0xff); }
static void put_le32(bytes *b, uint32_t v) { put_le16(b, v & 0xffff), put_le16(b, v >> 16); }

static unsigned char pixel(size_t i) { return (unsigned char)(i * 7 + i / 13); }

/* An IDX image file with a given header (the pixels follow as many as the header says, up to
   max_px) and an IDX label file. */
static bytes idx_images(uint32_t magic, uint32_t n, uint32_t rows, uint32_t cols, size_t max_px)
{
    bytes b = {NULL, 0, 0};
    size_t i, count = (size_t)n * rows * cols;
    put_be32(&b, magic), put_be32(&b, n), put_be32(&b, rows), put_be32(&b, cols);
    if (count > max_px) count = max_px;
    for (i = 0; i < count; i++) put8(&b, pixel(i));
    return b;
}

static bytes idx_labels(uint32_t magic, uint32_t n, const unsigned char *labels, size_t count)
{
    bytes b = {NULL, 0, 0};
    put_be32(&b, magic), put_be32(&b, n);
    put(&b, labels, count);
    return b;
}

static void gzip_header(bytes *b)
{
    static const unsigned char h[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff}; /* no flags, mtime 0, OS unknown */
    put(b, h, 10);
}

/* gzip with deflate stored blocks of at most 65535 bytes (RFC 1951 3.2.4). */
static bytes gzip_stored(const unsigned char *data, size_t n)
{
    bytes b = {NULL, 0, 0};
    size_t at = 0;
    gzip_header(&b);
    do {
        size_t len = n - at > 65535 ? 65535 : n - at;
        put8(&b, at + len == n ? 1 : 0); /* BFINAL, BTYPE 00, then the rest of the byte skipped */
        put_le16(&b, (unsigned)len), put_le16(&b, (unsigned)(~len & 0xffff));
        put(&b, len ? data + at : data, len); /* data may be NULL when n is 0 */
        at += len;
    } while (at < n);
    put_le32(&b, cnnvis__crc32(0, data, n)), put_le32(&b, (uint32_t)n);
    return b;
}

/* A deflate bit stream: values LSB first, Huffman codes MSB first (RFC 1951 3.1.1). */
typedef struct bitw {
    bytes b;
    unsigned acc;
    int nbits;
} bitw;

static void bits(bitw *w, unsigned v, int n)
{
    int i;
    for (i = 0; i < n; i++) {
        w->acc |= ((v >> i) & 1u) << w->nbits;
        if (++w->nbits == 8) put8(&w->b, w->acc), w->acc = 0, w->nbits = 0;
    }
}
static void huff(bitw *w, unsigned code, int len)
{
    int i;
    for (i = len - 1; i >= 0; i--) bits(w, (code >> i) & 1u, 1);
}
static void align(bitw *w)
{
    if (w->nbits) put8(&w->b, w->acc), w->acc = 0, w->nbits = 0;
}
/* A literal/length symbol of the fixed code (RFC 1951 3.2.6); distances are 5-bit codes. */
static void fixed_sym(bitw *w, int sym)
{
    if (sym < 144) huff(w, 0x30u + (unsigned)sym, 8);
    else if (sym < 256) huff(w, 0x190u + (unsigned)(sym - 144), 9);
    else if (sym < 280) huff(w, (unsigned)(sym - 256), 7);
    else huff(w, 0xc0u + (unsigned)(sym - 280), 8);
}

/* Wrap a raw deflate stream in a gzip member whose trailer describes `plain`. */
static bytes gzip_wrap(bitw *w, const void *plain, size_t plain_n)
{
    bytes b = {NULL, 0, 0};
    align(w);
    gzip_header(&b);
    put(&b, w->b.p, w->b.n);
    put_le32(&b, cnnvis__crc32(0, plain, plain_n)), put_le32(&b, (uint32_t)plain_n);
    free(w->b.p);
    memset(w, 0, sizeof *w);
    return b;
}

static unsigned char *dup_bytes(const void *src, size_t n)
{
    unsigned char *p = (unsigned char *)malloc(n ? n : 1);
    if (n) memcpy(p, src, n);
    return p;
}

/* cnnvis__gunzip on an exact-size copy (ASan sees overreads). */
static cnnvis_result gunzip(const void *in, size_t n, size_t max_out, unsigned char **out, size_t *out_size)
{
    unsigned char *copy = dup_bytes(in, n);
    cnnvis_result r;
    *out = (unsigned char *)copy, *out_size = 12345; /* must be reset */
    cnnvis_clear_error();
    r = cnnvis__gunzip(out, out_size, copy, n, max_out);
    free(copy);
    return r;
}

/* Expect gunzip to refuse with FORMAT, *out NULL, *out_size 0 and `word` in the message. */
static int gunzip_refused(const void *in, size_t n, size_t max_out, const char *word, const char *what)
{
    unsigned char *out;
    size_t out_size;
    cnnvis_result r = gunzip(in, n, max_out, &out, &out_size);
    int ok = r == CNNVIS_ERR_FORMAT && out == NULL && out_size == 0 && has(cnnvis_last_error(), word);
    if (!ok) printf("  %s: %s, out %p, size %zu, message \"%s\" (expected \"%s\")\n", what, cnnvis_result_str(r), (void *)out,
                    out_size, cnnvis_last_error(), word);
    if (r == CNNVIS_OK) cnnvis__free(out);
    return ok;
}

static int ds_zeroed(const cnnvis_dataset *ds)
{
    return ds->n == 0 && ds->c == 0 && ds->h == 0 && ds->w == 0 && ds->px == NULL && ds->labels == NULL && ds->owner == 0;
}

/* cnnvis__idx_load_memory on exact-size copies. */
static cnnvis_result idx_load(cnnvis_dataset *ds, const void *im, size_t im_n, const void *lb, size_t lb_n)
{
    unsigned char *a = dup_bytes(im, im_n), *b = dup_bytes(lb, lb_n);
    cnnvis_result r;
    memset(ds, 0x5a, sizeof *ds); /* garbage in: must come back zeroed on failure */
    cnnvis_clear_error();
    r = cnnvis__idx_load_memory(ds, a, im_n, b, lb_n);
    free(a), free(b);
    return r;
}

/* Expect refusal (FORMAT), a zeroed data set, `word` (or `word2`) in the message, and nothing
   large allocated. */
static int idx_refused(const bytes *im, const bytes *lb, const char *word, const char *word2, const char *what)
{
    cnnvis_dataset ds;
    cnnvis_result r;
    int ok;
    alloc_max_request = 0;
    r = idx_load(&ds, im->p, im->n, lb->p, lb->n);
    ok = r == CNNVIS_ERR_FORMAT && ds_zeroed(&ds) && (has(cnnvis_last_error(), word) || (word2 && has(cnnvis_last_error(), word2)));
    if (!ok) printf("  %s: %s, message \"%s\" (expected \"%s\"%s%s)\n", what, cnnvis_result_str(r), cnnvis_last_error(), word,
                    word2 ? " or " : "", word2 ? word2 : "");
    if (alloc_max_request > (1u << 20) + im->n + lb->n) {
        printf("  %s: allocated %zu bytes before refusing\n", what, alloc_max_request);
        ok = 0;
    }
    if (r == CNNVIS_OK) cnnvis_dataset_free(&ds);
    return ok;
}

/* --- IDX ------------------------------------------------------------------------------------- */

static const unsigned char labels7[7] = {0, 3, 1, 2, 3, 0, 1};

static void test_idx_plain(void)
{
    bytes im = idx_images(0x803, 7, 5, 3, (size_t)-1), lb = idx_labels(0x801, 7, labels7, 7);
    cnnvis_dataset ds;
    size_t i;
    int bad = 0;
    REQUIRE(idx_load(&ds, im.p, im.n, lb.p, lb.n) == CNNVIS_OK, "%s", cnnvis_last_error());
    CHECK(ds.n == 7 && ds.c == 1 && ds.h == 5 && ds.w == 3, "shape %d x %d x %d x %d", ds.n, ds.c, ds.h, ds.w);
    CHECK(ds.owner == 1 && ds.class_names == NULL, "owner %d, class names %p", ds.owner, (void *)ds.class_names);
    CHECK(ds.n_classes == 10, "n_classes %d (labels up to 3: at least 10)", ds.n_classes);
    for (i = 0; i < 105; i++) bad += ds.px[i] != pixel(i);
    CHECK(bad == 0, "%d pixels differ", bad);
    for (i = 0; i < 7; i++) CHECK(ds.labels[i] == labels7[i], "label %zu: %d", i, (int)ds.labels[i]);
    cnnvis_dataset_free(&ds);
    CHECK(ds_zeroed(&ds), "free zeroes");
    /* labels above 9 raise n_classes; 254 is the largest */
    {
        unsigned char l[3] = {12, 0, 5};
        bytes im3 = idx_images(0x803, 3, 2, 2, (size_t)-1), lb3 = idx_labels(0x801, 3, l, 3);
        REQUIRE(idx_load(&ds, im3.p, im3.n, lb3.p, lb3.n) == CNNVIS_OK, "%s", cnnvis_last_error());
        CHECK(ds.n_classes == 13, "n_classes %d with a label 12", ds.n_classes);
        cnnvis_dataset_free(&ds);
        l[1] = 254;
        free(lb3.p), lb3 = idx_labels(0x801, 3, l, 3);
        REQUIRE(idx_load(&ds, im3.p, im3.n, lb3.p, lb3.n) == CNNVIS_OK, "%s", cnnvis_last_error());
        CHECK(ds.n_classes == 255 && ds.labels[1] == 254, "n_classes %d with a label 254", ds.n_classes);
        cnnvis_dataset_free(&ds);
        free(im3.p), free(lb3.p);
    }
    /* one image of 4096 x 4096 is the largest shape, and 1 x 1 the smallest */
    {
        bytes big = idx_images(0x803, 1, 4096, 4096, (size_t)-1), lb1 = idx_labels(0x801, 1, labels7 + 1, 1);
        REQUIRE(idx_load(&ds, big.p, big.n, lb1.p, lb1.n) == CNNVIS_OK, "4096x4096: %s", cnnvis_last_error());
        CHECK(ds.h == 4096 && ds.w == 4096 && ds.px[4096 * 4096 - 1] == pixel(4096 * 4096 - 1), "4096x4096 pixels");
        cnnvis_dataset_free(&ds);
        free(big.p);
        big = idx_images(0x803, 1, 1, 1, (size_t)-1);
        REQUIRE(idx_load(&ds, big.p, big.n, lb1.p, lb1.n) == CNNVIS_OK, "1x1: %s", cnnvis_last_error());
        CHECK(ds.h == 1 && ds.w == 1 && ds.px[0] == pixel(0) && ds.labels[0] == 3, "1x1");
        cnnvis_dataset_free(&ds);
        free(big.p), free(lb1.p);
    }
    free(im.p), free(lb.p);
}

static void test_idx_gzip_stored(void)
{
    /* 90 images of 28x28: 70576 bytes, two stored blocks */
    unsigned char l[90];
    bytes im, lb, im_gz, lb_gz;
    cnnvis_dataset plain, gz, mixed;
    int i;
    for (i = 0; i < 90; i++) l[i] = (unsigned char)(i * 7 % 10);
    im = idx_images(0x803, 90, 28, 28, (size_t)-1), lb = idx_labels(0x801, 90, l, 90);
    im_gz = gzip_stored(im.p, im.n), lb_gz = gzip_stored(lb.p, lb.n);
    CHECK(im_gz.n == 10 + 2 * 5 + im.n + 8, "two stored blocks: %zu bytes", im_gz.n);
    REQUIRE(idx_load(&plain, im.p, im.n, lb.p, lb.n) == CNNVIS_OK, "plain: %s", cnnvis_last_error());
    REQUIRE(idx_load(&gz, im_gz.p, im_gz.n, lb_gz.p, lb_gz.n) == CNNVIS_OK, "gzip: %s", cnnvis_last_error());
    REQUIRE(idx_load(&mixed, im_gz.p, im_gz.n, lb.p, lb.n) == CNNVIS_OK, "gzip + plain: %s", cnnvis_last_error());
    CHECK(gz.n == plain.n && gz.h == plain.h && gz.w == plain.w && gz.n_classes == plain.n_classes, "shapes");
    CHECK(memcmp(gz.px, plain.px, 90 * 784) == 0 && memcmp(gz.labels, plain.labels, 90 * 4) == 0, "gzip: other data");
    CHECK(memcmp(mixed.px, plain.px, 90 * 784) == 0 && memcmp(mixed.labels, plain.labels, 90 * 4) == 0, "mixed: other data");
    cnnvis_dataset_free(&plain), cnnvis_dataset_free(&gz), cnnvis_dataset_free(&mixed);
    /* gunzip directly, and the max_out limit at the exact size */
    {
        unsigned char *out;
        size_t out_size;
        CHECK(gunzip(im_gz.p, im_gz.n, im.n, &out, &out_size) == CNNVIS_OK, "max_out = size: %s", cnnvis_last_error());
        if (out) CHECK(out_size == im.n && memcmp(out, im.p, im.n) == 0, "gunzip of stored blocks");
        cnnvis__free(out);
        CHECK(gunzip_refused(im_gz.p, im_gz.n, im.n - 1, "larger than allowed", "max_out = size - 1"), "max_out");
    }
    /* an empty member */
    {
        bytes e = gzip_stored(NULL, 0);
        unsigned char *out;
        size_t out_size;
        CHECK(gunzip(e.p, e.n, 0, &out, &out_size) == CNNVIS_OK && out_size == 0, "empty member: %s", cnnvis_last_error());
        cnnvis__free(out);
        free(e.p);
    }
    /* corrupt trailers */
    {
        size_t n = im_gz.n;
        im_gz.p[n - 8] ^= 1; /* CRC */
        CHECK(idx_refused(&im_gz, &lb, "CRC", NULL, "gzip CRC"), "bad CRC");
        im_gz.p[n - 8] ^= 1, im_gz.p[n - 4] ^= 1; /* ISIZE */
        CHECK(idx_refused(&im_gz, &lb, "length", NULL, "gzip ISIZE"), "bad ISIZE");
        im_gz.p[n - 4] ^= 1;
        lb_gz.p[lb_gz.n - 1] = 0x80; /* ISIZE 2^31 + ... */
        CHECK(idx_refused(&im, &lb_gz, "IDX labels", NULL, "labels gzip ISIZE"), "labels: bad ISIZE");
        /* a stored block whose NLEN does not match */
        lb_gz.p[lb_gz.n - 1] = 0;
        lb_gz.p[13] ^= 0x40;
        CHECK(idx_refused(&im, &lb_gz, "length check", NULL, "stored NLEN"), "stored NLEN");
    }
    free(im.p), free(lb.p), free(im_gz.p), free(lb_gz.p);
}

static void test_idx_bad_headers(void)
{
    bytes im = idx_images(0x803, 7, 5, 3, (size_t)-1), lb = idx_labels(0x801, 7, labels7, 7), x, y;
    /* wrong magics */
    x = idx_images(0x802, 7, 5, 3, (size_t)-1);
    CHECK(idx_refused(&x, &lb, "magic", NULL, "images magic 0x802"), "images magic");
    free(x.p), x = idx_images(0x03080000u, 7, 5, 3, (size_t)-1); /* little-endian */
    CHECK(idx_refused(&x, &lb, "magic", NULL, "images magic little-endian"), "images magic LE");
    free(x.p), x = idx_images(0, 7, 5, 3, (size_t)-1);
    CHECK(idx_refused(&x, &lb, "magic", NULL, "images magic 0"), "images magic 0");
    free(x.p), x = idx_images(0x0d03, 7, 5, 3, (size_t)-1); /* float pixels */
    CHECK(idx_refused(&x, &lb, "magic", NULL, "images of floats"), "images of floats");
    free(x.p);
    y = idx_labels(0x800, 7, labels7, 7);
    CHECK(idx_refused(&im, &y, "magic", NULL, "labels magic 0x800"), "labels magic");
    free(y.p);
    /* swapped files: the messages say so */
    CHECK(idx_refused(&lb, &im, "this is a label file", NULL, "swapped"), "swapped");
    CHECK(idx_refused(&im, &im, "this is an image file", NULL, "images twice"), "images twice");
    /* counts that disagree */
    y = idx_labels(0x801, 6, labels7, 6);
    CHECK(idx_refused(&im, &y, "7 images but 6 labels", NULL, "6 labels"), "6 labels");
    free(y.p), y = idx_labels(0x801, 8, labels7, 7);
    CHECK(idx_refused(&im, &y, "7 images but 8 labels", NULL, "8 labels"), "8 labels");
    free(y.p);
    /* a label above 254 */
    {
        unsigned char l[7];
        memcpy(l, labels7, 7), l[4] = 255;
        y = idx_labels(0x801, 7, l, 7);
        CHECK(idx_refused(&im, &y, "254", NULL, "label 255"), "label 255");
        CHECK(has(cnnvis_last_error(), "image 4"), "message \"%s\" names the image", cnnvis_last_error());
        free(y.p);
    }
    /* zero and too large dimensions, and products past 2^28 pixels (each with labels that
       agree, so that only the size check can refuse) */
    {
        static const struct {
            uint32_t n, rows, cols;
            const char *what;
        } cases[] = {{0, 5, 3, "n 0"},
                     {7, 0, 3, "rows 0"},
                     {7, 5, 0, "cols 0"},
                     {7, 4097, 3, "rows 4097"},
                     {7, 5, 4097, "cols 4097"},
                     {1, 65536, 65536, "65536 x 65536"},
                     {1, 0xffffffffu, 0xffffffffu, "2^32-1 x 2^32-1"},
                     {0x80000000u, 1, 1, "n 2^31"},
                     {0xffffffffu, 1, 1, "n 2^32-1"},
                     {0xffffffffu, 4096, 4096, "2^32-1 of 4096 x 4096"},
                     {65536, 4096, 4096, "2^16 of 4096 x 4096"},
                     {(1u << 28) + 1, 1, 1, "2^28 + 1 pixels"},
                     {17, 4096, 4096, "17 of 4096 x 4096"},
                     {0x10000001u, 16, 16, "n*rows*cols = 2^36 + 256, 256 mod 2^32"}};
        size_t k;
        for (k = 0; k < sizeof cases / sizeof cases[0]; k++) {
            x = idx_images(0x803, cases[k].n, cases[k].rows, cases[k].cols, 64);
            y = idx_labels(0x801, cases[k].n, labels7, 7);
            CHECK(idx_refused(&x, &y, "at most 4096x4096", NULL, cases[k].what), "%s", cases[k].what);
            free(x.p), free(y.p);
        }
        /* 2^28 pixels passes the size check; the file is then too short, and nothing big is
           allocated before that is found */
        x = idx_images(0x803, 1u << 28, 1, 1, 64);
        y = idx_labels(0x801, 1u << 28, labels7, 7);
        CHECK(idx_refused(&x, &y, "truncated", NULL, "2^28 images of 1x1, 64 bytes"), "2^28");
        free(x.p), free(y.p);
    }
    free(im.p), free(lb.p);
}

/* Every length short of the whole file: refused. */
static void test_idx_truncated(void)
{
    bytes im = idx_images(0x803, 7, 5, 3, (size_t)-1), lb = idx_labels(0x801, 7, labels7, 7);
    bytes im_gz = gzip_stored(im.p, im.n), cut;
    size_t len;
    int bad = 0;
    for (len = 0; len < im.n && bad < 5; len++) {
        char what[128];
        cut.p = im.p, cut.n = len;
        snprintf(what, sizeof what, "images cut to %zu of %zu bytes", len, im.n);
        bad += !idx_refused(&cut, &lb, len < 16 ? "magic" : "truncated", "truncated", what);
    }
    for (len = 0; len < lb.n && bad < 5; len++) {
        char what[128];
        cut.p = lb.p, cut.n = len;
        snprintf(what, sizeof what, "labels cut to %zu of %zu bytes", len, lb.n);
        bad += !idx_refused(&im, &cut, len < 8 ? "magic" : "truncated", "truncated", what);
    }
    /* gzip-compressed images cut short: refused by the gzip layer, saying which file */
    for (len = 0; len < im_gz.n && bad < 5; len++) {
        char what[128];
        cut.p = im_gz.p, cut.n = len;
        snprintf(what, sizeof what, "gzip images cut to %zu of %zu bytes", len, im_gz.n);
        bad += !idx_refused(&cut, &lb, len < 2 ? "magic" : "IDX images: gzip", NULL, what);
    }
    CHECK(bad == 0, "%d truncated files not refused as expected", bad);
    free(im.p), free(lb.p), free(im_gz.p);
}

/* A file cut inside its fixed-size header, with its magic intact, is truncated, not "wrong
   magic" / "not a gzip file (no 1f 8b magic)". */
static void test_header_truncation_messages(void)
{
    bytes im = idx_images(0x803, 7, 5, 3, (size_t)-1), lb = idx_labels(0x801, 7, labels7, 7), cut;
    size_t len;
    int bad = 0;
    for (len = 4; len < 16; len++) {
        cut.p = im.p, cut.n = len;
        if (!idx_refused(&cut, &lb, "truncated", NULL, "IDX images cut inside the header")) bad++;
    }
    for (len = 4; len < 8; len++) {
        cut.p = lb.p, cut.n = len;
        if (!idx_refused(&im, &cut, "truncated", NULL, "IDX labels cut inside the header")) bad++;
    }
    for (len = 2; len < 18; len++)
        if (!gunzip_refused(hello_gz, len, 1 << 20, "truncated", "gzip cut inside its first 18 bytes")) bad++;
    CHECK(bad == 0, "%d files cut inside their header were not reported as truncated", bad);
    free(im.p), free(lb.p);
}

static void test_idx_files(void)
{
    char dir[64], p_im[96], p_lb[96], p_gz[96];
    bytes im = idx_images(0x803, 7, 5, 3, (size_t)-1), lb = idx_labels(0x801, 7, labels7, 7), gz = gzip_stored(im.p, im.n);
    cnnvis_dataset ds;
    cnnvis_result r;
    mkdir("build", 0777);
    strcpy(dir, "build/tmp-idx-XXXXXX");
    if (!mkdtemp(dir)) {
        strcpy(dir, "/tmp/cnnvis-test-idx-XXXXXX");
        REQUIRE(mkdtemp(dir), "cannot make a temporary directory");
    }
    snprintf(p_im, sizeof p_im, "%s/images", dir);
    snprintf(p_lb, sizeof p_lb, "%s/labels", dir);
    snprintf(p_gz, sizeof p_gz, "%s/images.gz", dir);
    CHECK(cnnvis__file_write(p_im, im.p, im.n) == CNNVIS_OK && cnnvis__file_write(p_lb, lb.p, lb.n) == CNNVIS_OK &&
              cnnvis__file_write(p_gz, gz.p, gz.n) == CNNVIS_OK,
          "write: %s", cnnvis_last_error());
    r = cnnvis_idx_load(&ds, p_im, p_lb);
    CHECK(r == CNNVIS_OK && ds.n == 7 && ds.px[104] == pixel(104) && ds.labels[6] == 1, "load files: %s", cnnvis_last_error());
    cnnvis_dataset_free(&ds);
    r = cnnvis_idx_load(&ds, p_gz, p_lb);
    CHECK(r == CNNVIS_OK && ds.n == 7 && ds.px[104] == pixel(104), "load .gz file: %s", cnnvis_last_error());
    cnnvis_dataset_free(&ds);
    memset(&ds, 0x5a, sizeof ds);
    cnnvis_clear_error();
    r = cnnvis_idx_load(&ds, p_im, "build/no-such-labels-file");
    CHECK(r == CNNVIS_ERR_IO && ds_zeroed(&ds) && has(cnnvis_last_error(), "no-such-labels-file"), "missing file: %s (%s)",
          cnnvis_result_str(r), cnnvis_last_error());
    cnnvis_clear_error();
    r = cnnvis_idx_load(&ds, NULL, p_lb);
    CHECK(r == CNNVIS_ERR_ARG && cnnvis_last_error()[0], "NULL path: %s", cnnvis_result_str(r));
    cnnvis_clear_error();
    CHECK(cnnvis_idx_load(NULL, p_im, p_lb) != CNNVIS_OK && cnnvis_last_error()[0], "NULL ds");
    cnnvis_clear_error();
    CHECK(cnnvis__idx_load_memory(NULL, im.p, im.n, lb.p, lb.n) == CNNVIS_ERR_ARG, "NULL ds");
    cnnvis_clear_error();
    CHECK(cnnvis__idx_load_memory(&ds, NULL, 0, lb.p, lb.n) == CNNVIS_ERR_ARG && ds_zeroed(&ds), "NULL images");
    remove(p_im), remove(p_lb), remove(p_gz);
    rmdir(dir);
    free(im.p), free(lb.p), free(gz.p);
}

/* --- gzip / inflate ---------------------------------------------------------------------------- */

static void test_gunzip_real(void)
{
    static char text[8192];
    size_t text_n = make_text(text, sizeof text), hdr;
    unsigned char *out;
    size_t out_size;
    REQUIRE(text_n == 5121, "the text recipe gives %zu bytes, the embedded file has 5121", text_n);
    /* what the embedded files exercise: after the header and FNAME, a dynamic (2) and a fixed (1) block */
    hdr = 10 + strlen((const char *)text_gz + 10) + 1;
    CHECK((text_gz[3] & 8) && ((text_gz[hdr] >> 1) & 3) == 2, "text_gz starts with a dynamic block");
    hdr = 10 + strlen((const char *)hello_gz + 10) + 1;
    CHECK((hello_gz[3] & 8) && ((hello_gz[hdr] >> 1) & 3) == 1, "hello_gz starts with a fixed block");

    CHECK(gunzip(text_gz, sizeof text_gz, 1 << 20, &out, &out_size) == CNNVIS_OK, "text: %s", cnnvis_last_error());
    CHECK(out && out_size == text_n && memcmp(out, text, text_n) == 0, "text differs (%zu bytes)", out_size);
    cnnvis__free(out);
    CHECK(gunzip(hello_gz, sizeof hello_gz, 1 << 20, &out, &out_size) == CNNVIS_OK, "hello: %s", cnnvis_last_error());
    CHECK(out && out_size == strlen(hello_txt) && memcmp(out, hello_txt, out_size) == 0, "hello differs");
    cnnvis__free(out);

    /* max_out: exactly the size is fine, one byte less is refused */
    CHECK(gunzip(text_gz, sizeof text_gz, text_n, &out, &out_size) == CNNVIS_OK && out_size == text_n, "max_out = size: %s",
          cnnvis_last_error());
    cnnvis__free(out);
    CHECK(gunzip_refused(text_gz, sizeof text_gz, text_n - 1, "larger than allowed", "max_out = size - 1"), "max_out");
    CHECK(gunzip_refused(text_gz, sizeof text_gz, 100, "larger than allowed", "max_out = 100"), "max_out 100");
    CHECK(gunzip_refused(hello_gz, sizeof hello_gz, 0, "larger than allowed", "max_out = 0"), "max_out 0");

    /* trailers: CRC and ISIZE */
    {
        unsigned char bad[sizeof text_gz];
        memcpy(bad, text_gz, sizeof bad), bad[sizeof bad - 6] ^= 0x10;
        CHECK(gunzip_refused(bad, sizeof bad, 1 << 20, "CRC", "bad CRC"), "bad CRC");
        memcpy(bad, text_gz, sizeof bad), bad[sizeof bad - 4] ^= 0x01;
        CHECK(gunzip_refused(bad, sizeof bad, 1 << 20, "length", "bad ISIZE"), "bad ISIZE");
        memcpy(bad, text_gz, sizeof bad), bad[2] = 7;
        CHECK(gunzip_refused(bad, sizeof bad, 1 << 20, "compression method 7", "method 7"), "method 7");
        memcpy(bad, text_gz, sizeof bad), bad[1] = 0x8c;
        CHECK(gunzip_refused(bad, sizeof bad, 1 << 20, "magic", "magic"), "magic");
        memcpy(bad, text_gz, sizeof bad), memset(bad + 10, 'x', sizeof bad - 10); /* FNAME never ends */
        CHECK(gunzip_refused(bad, sizeof bad, 1 << 20, "truncated header", "unterminated FNAME"), "FNAME");
    }
    /* trailing bytes after the member: its trailer is no longer at the end */
    {
        unsigned char longer[sizeof text_gz + 3];
        memcpy(longer, text_gz, sizeof text_gz), memset(longer + sizeof text_gz, 0, 3);
        CHECK(gunzip_refused(longer, sizeof longer, 1 << 20, "CRC", "3 trailing bytes"), "trailing bytes");
    }
    cnnvis_clear_error();
    CHECK(cnnvis__gunzip(NULL, &out_size, text_gz, sizeof text_gz, 1 << 20) == CNNVIS_ERR_ARG, "NULL out");
    CHECK(cnnvis__gunzip(&out, &out_size, NULL, 10, 1 << 20) == CNNVIS_ERR_ARG && out == NULL, "NULL in");
}

/* The optional header fields: FEXTRA, FNAME, FCOMMENT, FHCRC. */
static void test_gzip_header_fields(void)
{
    bytes b = {NULL, 0, 0};
    static const unsigned char data[5] = {'c', 'n', 'n', 'v', 's'};
    unsigned char *out;
    size_t out_size, at_flags;
    put8(&b, 0x1f), put8(&b, 0x8b), put8(&b, 8);
    at_flags = b.n;
    put8(&b, 2 | 4 | 8 | 16), put_le32(&b, 0), put8(&b, 2), put8(&b, 3);
    put_le16(&b, 6), put(&b, "ab\2\0xy", 6); /* FEXTRA: a subfield "ab" of 2 bytes */
    put(&b, "name.idx", 9);                  /* FNAME */
    put(&b, "a comment", 10);                /* FCOMMENT */
    put_le16(&b, 0xbeef);                    /* FHCRC (not checked) */
    put8(&b, 1), put_le16(&b, 5), put_le16(&b, (unsigned)~5u & 0xffff), put(&b, data, 5);
    put_le32(&b, cnnvis__crc32(0, data, 5)), put_le32(&b, 5);
    CHECK(gunzip(b.p, b.n, 100, &out, &out_size) == CNNVIS_OK, "all header fields: %s", cnnvis_last_error());
    CHECK(out && out_size == 5 && memcmp(out, data, 5) == 0, "data");
    cnnvis__free(out);
    /* FEXTRA longer than the file */
    b.p[10] = 0xff, b.p[11] = 0x7f; /* XLEN */
    CHECK(gunzip_refused(b.p, b.n, 100, "truncated header", "FEXTRA too long"), "FEXTRA");
    b.p[10] = 6, b.p[11] = 0;
    /* FCOMMENT flag without one: "name.idx" is read as the comment, the rest misparsed */
    b.p[at_flags] = 16;
    CHECK(gunzip_refused(b.p, b.n, 100, "gzip", "FCOMMENT flag only"), "flags");
    free(b.p);
}

static bytes deflate_ok_abc(void)
{
    bitw w;
    memset(&w, 0, sizeof w);
    bits(&w, 1, 1), bits(&w, 1, 2); /* final, fixed */
    fixed_sym(&w, 'a'), fixed_sym(&w, 'b'), fixed_sym(&w, 'c');
    fixed_sym(&w, 260), bits(&w, 2, 0), huff(&w, 2, 5); /* length 6, distance 3 */
    fixed_sym(&w, 256);
    return gzip_wrap(&w, "abcabcabc", 9);
}

/* Hand-made deflate streams: what is valid decodes, each error is caught with its message. */
static void test_inflate_handmade(void)
{
    bitw w;
    bytes b;
    unsigned char *out;
    size_t out_size;
    memset(&w, 0, sizeof w);

    b = deflate_ok_abc();
    CHECK(gunzip(b.p, b.n, 100, &out, &out_size) == CNNVIS_OK && out_size == 9 && memcmp(out, "abcabcabc", 9) == 0,
          "fixed block with a back-reference: %s", cnnvis_last_error());
    cnnvis__free(out), free(b.p);

    /* an overlapping copy (distance 1, length 258 + 10) */
    {
        unsigned char want[269];
        memset(want, 'z', sizeof want);
        bits(&w, 1, 1), bits(&w, 1, 2);
        fixed_sym(&w, 'z');
        fixed_sym(&w, 285), huff(&w, 0, 5);               /* 258, distance 1 */
        fixed_sym(&w, 264), huff(&w, 0, 5);               /* 10 */
        fixed_sym(&w, 256);
        b = gzip_wrap(&w, want, sizeof want);
        CHECK(gunzip(b.p, b.n, 1000, &out, &out_size) == CNNVIS_OK && out_size == 269 && memcmp(out, want, 269) == 0,
              "overlapping copy: %s", cnnvis_last_error());
        cnnvis__free(out), free(b.p);
    }
    /* a fixed block, then a stored block that starts in the middle of a byte, then a last
       fixed block using a distance that reaches into the stored data */
    bits(&w, 0, 1), bits(&w, 1, 2), fixed_sym(&w, 'x'), fixed_sym(&w, 256);
    bits(&w, 0, 1), bits(&w, 0, 2), align(&w);
    put_le16(&w.b, 2), put_le16(&w.b, (unsigned)~2u & 0xffff), put(&w.b, "yz", 2);
    bits(&w, 1, 1), bits(&w, 1, 2), fixed_sym(&w, 257), huff(&w, 2, 5), fixed_sym(&w, 256); /* length 3, distance 3 */
    b = gzip_wrap(&w, "xyzxyz", 6);
    CHECK(gunzip(b.p, b.n, 100, &out, &out_size) == CNNVIS_OK && out_size == 6 && memcmp(out, "xyzxyz", 6) == 0,
          "fixed + stored + fixed: %s", cnnvis_last_error());
    cnnvis__free(out), free(b.p);

    /* errors */
#define REFUSE(word, what)                                                  \
    do {                                                                    \
        b = gzip_wrap(&w, "", 0);                                           \
        CHECK(gunzip_refused(b.p, b.n, 1 << 16, word, what), "%s", what);   \
        free(b.p);                                                          \
    } while (0)
    bits(&w, 1, 1), bits(&w, 1, 2), fixed_sym(&w, 'a'), fixed_sym(&w, 'b'), fixed_sym(&w, 'c');
    fixed_sym(&w, 257), huff(&w, 3, 5), fixed_sym(&w, 256); /* distance 4 after 3 bytes */
    REFUSE("distance reaches before the start", "distance too far");
    bits(&w, 1, 1), bits(&w, 1, 2), fixed_sym(&w, 257), huff(&w, 0, 5), fixed_sym(&w, 256); /* distance 1 at the start */
    REFUSE("distance reaches before the start", "distance 1 at the start");
    bits(&w, 1, 1), bits(&w, 1, 2), fixed_sym(&w, 'a'), fixed_sym(&w, 286);
    REFUSE("invalid length code", "length symbol 286");
    bits(&w, 1, 1), bits(&w, 1, 2), fixed_sym(&w, 'a'), fixed_sym(&w, 287);
    REFUSE("invalid length code", "length symbol 287");
    /* distance codes 30 and 31 are not in the fixed code the inflater builds (30 codes of 5
       bits), so they fail as an invalid Huffman code once more bits follow */
    bits(&w, 1, 1), bits(&w, 1, 2), fixed_sym(&w, 'a'), fixed_sym(&w, 257), huff(&w, 30, 5), align(&w);
    put_le32(&w.b, 0);
    REFUSE("invalid", "distance code 30");
    bits(&w, 1, 1), bits(&w, 1, 2), fixed_sym(&w, 'a'), fixed_sym(&w, 257), huff(&w, 31, 5), align(&w);
    put_le32(&w.b, 0xffffffffu);
    REFUSE("invalid", "distance code 31");
    bits(&w, 1, 1), bits(&w, 3, 2);
    REFUSE("invalid block type", "block type 3");
    bits(&w, 1, 1), bits(&w, 0, 2), align(&w), put_le16(&w.b, 5), put_le16(&w.b, 0), put(&w.b, "12345", 5);
    REFUSE("length check", "stored LEN/NLEN");
    bits(&w, 1, 1), bits(&w, 0, 2), align(&w), put_le16(&w.b, 500), put_le16(&w.b, (unsigned)~500u & 0xffff);
    REFUSE("truncated stored block", "stored block longer than the data");
    bits(&w, 0, 1), bits(&w, 1, 2), fixed_sym(&w, 'a'), fixed_sym(&w, 256); /* no final block */
    REFUSE("truncated", "no final block");

    /* dynamic blocks: HLIT 257, HDIST 1, code-length code lengths in the order 16 17 18 0 ... */
    bits(&w, 1, 1), bits(&w, 2, 2), bits(&w, 0, 5), bits(&w, 0, 5), bits(&w, 0, 4);
    bits(&w, 1, 3), bits(&w, 0, 3), bits(&w, 0, 3), bits(&w, 1, 3); /* 16: 1 bit, 0: 1 bit */
    huff(&w, 1, 1);                                                  /* 16 first */
    REFUSE("repeat with no previous length", "repeat first");
    bits(&w, 1, 1), bits(&w, 2, 2), bits(&w, 0, 5), bits(&w, 0, 5), bits(&w, 0, 4);
    bits(&w, 0, 3), bits(&w, 0, 3), bits(&w, 1, 3), bits(&w, 1, 3); /* 18: 1 bit, 0: 1 bit */
    huff(&w, 1, 1), bits(&w, 127, 7), huff(&w, 1, 1), bits(&w, 109, 7); /* 138 + 120 zeros */
    REFUSE("no end-of-block code", "all lengths zero");
    bits(&w, 1, 1), bits(&w, 2, 2), bits(&w, 0, 5), bits(&w, 0, 5), bits(&w, 0, 4);
    bits(&w, 0, 3), bits(&w, 0, 3), bits(&w, 1, 3), bits(&w, 1, 3);
    huff(&w, 1, 1), bits(&w, 127, 7), huff(&w, 1, 1), bits(&w, 127, 7); /* 276 > 258 */
    REFUSE("too many code lengths", "276 lengths for 258");
    bits(&w, 1, 1), bits(&w, 2, 2), bits(&w, 0, 5), bits(&w, 0, 5), bits(&w, 0, 4);
    bits(&w, 1, 3), bits(&w, 1, 3), bits(&w, 1, 3), bits(&w, 0, 3); /* three 1-bit codes */
    REFUSE("bad code-length code", "over-subscribed code-length code");
    bits(&w, 1, 1), bits(&w, 2, 2), bits(&w, 30, 5), bits(&w, 0, 5), bits(&w, 0, 4);
    REFUSE("bad dynamic block counts", "HLIT 287");
    bits(&w, 1, 1), bits(&w, 2, 2), bits(&w, 0, 5), bits(&w, 31, 5), bits(&w, 0, 4);
    REFUSE("bad dynamic block counts", "HDIST 32");
    /* literal/length code over-subscribed: 258 lengths of 1. HCLEN 14 reaches symbol 1 (the
       18th entry of the order) */
    {
        int i;
        bits(&w, 1, 1), bits(&w, 2, 2), bits(&w, 0, 5), bits(&w, 0, 5), bits(&w, 14, 4);
        for (i = 0; i < 18; i++) bits(&w, i == 0 || i == 17 ? 1 : 0, 3); /* 16 and 1: one bit each */
        huff(&w, 0, 1);                                                    /* a 1 */
        for (i = 0; i < 42; i++) huff(&w, 1, 1), bits(&w, 3, 2);           /* repeat it 6 times: 253 */
        for (i = 0; i < 5; i++) huff(&w, 0, 1);                            /* 258 */
        REFUSE("over-subscribed", "258 one-bit codes");
    }
#undef REFUSE
    /* a small stream that expands a lot: max_out stops it */
    {
        int i;
        bits(&w, 1, 1), bits(&w, 1, 2), fixed_sym(&w, 'a');
        for (i = 0; i < 5000; i++) fixed_sym(&w, 285), huff(&w, 0, 5); /* 8 KB that make 1.29 MB */
        fixed_sym(&w, 256);
        b = gzip_wrap(&w, "", 0);
        CHECK(b.n < 8200, "the bomb is %zu bytes", b.n);
        CHECK(gunzip_refused(b.p, b.n, 1 << 20, "larger than allowed", "1.29 MB with max_out 1 MB"), "bomb");
        free(b.p);
    }
}

/* Every prefix of the embedded files is refused. */
static void test_gzip_truncated(void)
{
    const unsigned char *files[2] = {text_gz, hello_gz};
    size_t sizes[2] = {sizeof text_gz, sizeof hello_gz}, len;
    int f, bad = 0;
    for (f = 0; f < 2; f++)
        for (len = 0; len < sizes[f]; len++) {
            char what[128];
            snprintf(what, sizeof what, "%s cut to %zu of %zu bytes", f ? "hello_gz" : "text_gz", len, sizes[f]);
            if (!gunzip_refused(files[f], len, 1 << 20, len < 18 ? "gzip" : "truncated", what) && ++bad >= 10) break;
        }
    CHECK(bad == 0, "%d truncated gzip files not refused as expected", bad);
}

/* 2000 random corruptions of the dynamic-Huffman file (500 of the fixed one): each either
   decodes to exactly the original (the change was in a field the CRC does not cover, such
   as MTIME) or is refused cleanly. */
static void test_gzip_fuzz(void)
{
    static char text[8192];
    size_t text_n = make_text(text, sizeof text);
    cnnvis_rng rng;
    int iter, k, ok = 0, bad = 0;
    cnnvis__rng_seed(&rng, 31337);
    for (iter = 0; iter < 2500; iter++) {
        int hello = iter >= 2000;
        const unsigned char *src = hello ? hello_gz : text_gz;
        size_t n = hello ? sizeof hello_gz : sizeof text_gz, n_out;
        unsigned char buf[sizeof text_gz + 16], *out;
        int n_mut = 1 + (int)cnnvis__rng_below(&rng, 6);
        cnnvis_result r;
        memcpy(buf, src, n);
        for (k = 0; k < n_mut; k++) {
            size_t at = cnnvis__rng_below(&rng, (uint32_t)n);
            uint32_t how = cnnvis__rng_below(&rng, 3);
            if (how == 0) buf[at] ^= (unsigned char)(1u << cnnvis__rng_below(&rng, 8));
            else if (how == 1) buf[at] = (unsigned char)cnnvis__rng_below(&rng, 256);
            else buf[at] = (unsigned char)~buf[at];
        }
        if (cnnvis__rng_below(&rng, 10) == 0) n = 1 + cnnvis__rng_below(&rng, (uint32_t)n);
        r = gunzip(buf, n, 65536, &out, &n_out);
        if (r == CNNVIS_OK) {
            ok++;
            if (!(hello ? n_out == strlen(hello_txt) && memcmp(out, hello_txt, n_out) == 0
                        : n_out == text_n && memcmp(out, text, text_n) == 0)) {
                if (bad++ < 5) printf("  iteration %d: decoded to %zu other bytes\n", iter, n_out);
            }
            cnnvis__free(out);
        } else if (r != CNNVIS_ERR_FORMAT || out != NULL || n_out != 0 || !cnnvis_last_error()[0]) {
            if (bad++ < 5) printf("  iteration %d: %s, out %p, message \"%s\"\n", iter, cnnvis_result_str(r), (void *)out,
                                  cnnvis_last_error());
        }
    }
    printf("  %d of 2500 corrupted gzip files decoded (to the original)\n", ok);
    CHECK(bad == 0, "%d corrupted gzip files not handled cleanly", bad);
    CHECK(ok < 600, "%d decoded: the mutations should mostly hit", ok);
}

/* 1000 random corruptions of an IDX pair, plain (mostly in the headers) and gzip-wrapped. */
static void test_idx_fuzz(void)
{
    bytes im = idx_images(0x803, 7, 5, 3, (size_t)-1), lb = idx_labels(0x801, 7, labels7, 7);
    bytes im_gz = gzip_stored(im.p, im.n);
    cnnvis_rng rng;
    int iter, k, ok = 0, bad = 0;
    cnnvis__rng_seed(&rng, 4242);
    for (iter = 0; iter < 1000; iter++) {
        int gz = iter % 3 == 2, which = (int)cnnvis__rng_below(&rng, 2);
        bytes a, b;
        cnnvis_dataset ds;
        cnnvis_result r;
        a.p = dup_bytes(gz ? im_gz.p : im.p, gz ? im_gz.n : im.n), a.n = gz ? im_gz.n : im.n;
        b.p = dup_bytes(lb.p, lb.n), b.n = lb.n;
        for (k = 0; k < 1 + (int)cnnvis__rng_below(&rng, 4); k++) {
            bytes *t = which ? &b : &a;
            size_t at = cnnvis__rng_below(&rng, 2) ? cnnvis__rng_below(&rng, 16) % t->n : cnnvis__rng_below(&rng, (uint32_t)t->n);
            t->p[at] = (unsigned char)cnnvis__rng_below(&rng, 256);
        }
        alloc_max_request = 0;
        r = idx_load(&ds, a.p, a.n, b.p, b.n);
        if (r == CNNVIS_OK) {
            ok++;
            if (ds.n < 1 || ds.h < 1 || ds.w < 1 || (size_t)ds.n * ds.h * ds.w + 16 > (gz ? im.n : a.n) || ds.n_classes < 10) {
                if (bad++ < 5) printf("  iteration %d: loaded an inconsistent data set\n", iter);
            }
            cnnvis_dataset_free(&ds);
        } else if (r != CNNVIS_ERR_FORMAT || !ds_zeroed(&ds) || !cnnvis_last_error()[0] || alloc_max_request > (1u << 20)) {
            if (bad++ < 5) printf("  iteration %d: %s, message \"%s\", %zu bytes allocated\n", iter, cnnvis_result_str(r),
                                  cnnvis_last_error(), alloc_max_request);
        }
        free(a.p), free(b.p);
    }
    printf("  %d of 1000 corrupted IDX pairs loaded\n", ok);
    CHECK(bad == 0, "%d corrupted IDX pairs not handled cleanly", bad);
    free(im.p), free(lb.p), free(im_gz.p);
}

/* --- Fashion-MNIST ------------------------------------------------------------------------------- */

static void check_fashion(const char *dir, const char *prefix, int n, const int first[10], uint32_t px_crc,
                          uint32_t label_crc)
{
    char p_im[512], p_lb[512];
    cnnvis_dataset ds;
    cnnvis_result r;
    int i, counts[10] = {0}, out_of_range = 0;
    snprintf(p_im, sizeof p_im, "%s/%s-images-idx3-ubyte.gz", dir, prefix);
    snprintf(p_lb, sizeof p_lb, "%s/%s-labels-idx1-ubyte.gz", dir, prefix);
    r = cnnvis_idx_load(&ds, p_im, p_lb);
    REQUIRE(r == CNNVIS_OK, "%s: %s", prefix, cnnvis_last_error());
    CHECK(ds.n == n && ds.c == 1 && ds.h == 28 && ds.w == 28 && ds.n_classes == 10, "%s: %d x %d x %d x %d, %d classes", prefix,
          ds.n, ds.c, ds.h, ds.w, ds.n_classes);
    if (ds.n == n) {
        for (i = 0; i < n; i++) {
            if (ds.labels[i] < 0 || ds.labels[i] > 9) out_of_range++;
            else counts[ds.labels[i]]++;
        }
        CHECK(out_of_range == 0, "%s: %d labels outside 0..9", prefix, out_of_range);
        for (i = 0; i < 10; i++) CHECK(counts[i] == n / 10, "%s: class %d has %d images, expected %d", prefix, i, counts[i], n / 10);
        for (i = 0; i < 10; i++) CHECK(ds.labels[i] == first[i], "%s: label %d is %d, expected %d", prefix, i, (int)ds.labels[i], first[i]);
        /* CRC-32 of all pixels and of all labels, from Python's zlib over the decompressed files */
        CHECK(cnnvis__crc32(0, ds.px, (size_t)n * 784) == px_crc, "%s: pixel CRC %08x, expected %08x", prefix,
              cnnvis__crc32(0, ds.px, (size_t)n * 784), px_crc);
        {
            unsigned char *l = (unsigned char *)malloc((size_t)n);
            for (i = 0; i < n; i++) l[i] = (unsigned char)ds.labels[i];
            CHECK(cnnvis__crc32(0, l, (size_t)n) == label_crc, "%s: label CRC", prefix);
            free(l);
        }
    }
    cnnvis_dataset_free(&ds);
}

static void test_fashion_mnist(void)
{
    static const char *dir = "/usr/share/datasets/fashion-mnist";
    static const int train_first[10] = {9, 0, 0, 3, 0, 2, 7, 2, 5, 5}, test_first[10] = {9, 2, 1, 1, 6, 1, 4, 6, 5, 7};
    char probe[512];
    FILE *f;
    snprintf(probe, sizeof probe, "%s/train-images-idx3-ubyte.gz", dir);
    f = fopen(probe, "rb");
    if (!f) SKIP("%s not found (Debian package dataset-fashion-mnist; `make data`)", probe);
    fclose(f);
    check_fashion(dir, "train", 60000, train_first, 0xae65dccdu, 0x2ed6e46au);
    check_fashion(dir, "t10k", 10000, test_first, 0x12728439u, 0x242bc73fu);
}

int main(void)
{
    RUN(test_idx_plain);
    RUN(test_idx_gzip_stored);
    RUN(test_idx_bad_headers);
    RUN(test_idx_truncated);
    RUN(test_header_truncation_messages);
    RUN(test_idx_files);
    RUN(test_gunzip_real);
    RUN(test_gzip_header_fields);
    RUN(test_inflate_handmade);
    RUN(test_gzip_truncated);
    RUN(test_gzip_fuzz);
    RUN(test_idx_fuzz);
    RUN(test_fashion_mnist);
    return SUMMARY();
}
