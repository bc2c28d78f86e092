/* test_images.c - images (section A4): PPM/PGM read and write in every format (P2, P3, P5, P6;
   maxval 255, 65535 and odd ones; via memory and via files), a catalogue of malformed PNM
   files (each refused with its code and a message, none read past its end), the PNG writer
   checked by an independent decoder written here (chunks, CRC-32, zlib header, stored and
   fixed-Huffman deflate blocks, Adler-32, the five row filters) and by the library's reader
   on flat, checkerboard, gradient, grainy, noisy, periodic and random pictures (sizes,
   matches split and at the window's edge, every filter chosen somewhere), the PNG reader
   on small embedded files made with Python's zlib (every filter type, palette, 16 bits,
   alpha) and on the real CamVid PNGs when present, malformed and randomly corrupted PNGs,
   atomic writing, resizing, cropping, cnnvis_image_to_pixels, and the drawing kit
   (tensor/plane to image, colormaps, montage, text, outline, overlay, plots, label maps). */
#define _POSIX_C_SOURCE 200809L /* mkdir, rmdir, opendir */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <dirent.h>

/* The library's allocator, instrumented: remembers the largest request, so that the tests can
   show that absurd headers are refused before anything large is allocated; and puts a
   16-byte canary after every block, checked when the library frees it, so that a write past
   the end of a buffer is a test failure in every build (not only an abort under ASan). */
#define GUARD 16
static size_t alloc_max_request, heap_overruns, heap_overrun_size;
static void *test_malloc(size_t n)
{
    unsigned char *p;
    if (n > alloc_max_request) alloc_max_request = n;
    p = (unsigned char *)malloc(n + 2 * GUARD);
    if (!p) return NULL;
    memcpy(p, &n, sizeof n);
    memset(p + GUARD + n, 0xa5, GUARD);
    return p + GUARD;
}
static void test_free(void *q)
{
    unsigned char *p = (unsigned char *)q - GUARD;
    size_t n, i;
    if (!q) return;
    memcpy(&n, p, sizeof n);
    for (i = 0; i < GUARD; i++)
        if (p[GUARD + n + i] != 0xa5) {
            heap_overruns++, heap_overrun_size = n;
            break;
        }
    free(p);
}
#define CNNVIS_MALLOC(sz) test_malloc(sz)
#define CNNVIS_FREE(p) test_free(p)

#define CNNVIS_IMPLEMENTATION
#include "cnnvis.h"
#include "minitest.h"

#include <unistd.h>

static int has(const char *haystack, const char *needle) { return strstr(haystack, needle) != NULL; }
static int has_message(void) { return cnnvis_last_error()[0] != 0; }

/* --- Temporary files: build/tmp-test_images/, removed at the end ------------------------ */

#define TMP_DIR "build/tmp-test_images"
static char tmp_made[64][256];
static int n_tmp_made;

static const char *tmp_path(const char *name)
{
    static char paths[8][256];
    static int next;
    char *p = paths[next++ % 8];
    int k;
    snprintf(p, 256, TMP_DIR "/%s", name);
    for (k = 0; k < n_tmp_made && strcmp(tmp_made[k], p) != 0; k++) continue;
    if (k == n_tmp_made && n_tmp_made < 64) strcpy(tmp_made[n_tmp_made++], p);
    return p;
}

static int file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static void tmp_cleanup(void)
{
    char name[300];
    int k;
    for (k = n_tmp_made - 1; k >= 0; k--) { /* remove() takes empty directories too */
        snprintf(name, sizeof name, "%s.tmp", tmp_made[k]);
        remove(name);
        remove(tmp_made[k]);
    }
    if (rmdir(TMP_DIR) != 0) printf("note: could not remove %s\n", TMP_DIR);
}

/* --- Deterministic random numbers (splitmix64) ------------------------------------------ */

static uint64_t t_rng_state = 1;
static uint32_t t_rand(void)
{
    uint64_t z = (t_rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return (uint32_t)((z ^ (z >> 31)) >> 32);
}

/* --- Images ------------------------------------------------------------------------------ */

/* A test pattern with every value class: 0, 255 and a spread in between. */
static int make_image(cnnvis_image *im, int w, int h, int c, unsigned seed)
{
    size_t i, n;
    if (cnnvis_image_create(im, w, h, c) != CNNVIS_OK) return 0;
    n = (size_t)w * h * c;
    for (i = 0; i < n; i++) im->px[i] = (unsigned char)((i * 37u + seed * 11u + (i * i >> 3)) & 255);
    im->px[0] = 0;
    im->px[n - 1] = 255;
    return 1;
}

static int same_image(const cnnvis_image *a, const cnnvis_image *b)
{
    return a->w == b->w && a->h == b->h && a->c == b->c && a->px && b->px &&
           memcmp(a->px, b->px, (size_t)a->w * a->h * a->c) == 0;
}

static unsigned char px_at(const cnnvis_image *im, int x, int y, int c) { return im->px[((size_t)y * im->w + x) * im->c + c]; }

static int is_zeroed(const cnnvis_image *im) { return im->px == NULL && im->w == 0 && im->h == 0 && im->c == 0; }

/* Read from an exactly sized heap copy, so that AddressSanitizer sees any read past the end. */
static cnnvis_result read_exact(cnnvis_image *im, const void *data, size_t size)
{
    unsigned char *copy = (unsigned char *)malloc(size ? size : 1);
    cnnvis_result r;
    if (!copy) return CNNVIS_ERR_NOMEM;
    if (size) memcpy(copy, data, size);
    memset(im, 0x5a, sizeof *im); /* garbage in: must come back zeroed on failure */
    cnnvis_clear_error();
    r = cnnvis__image_read_memory(im, copy, size);
    free(copy);
    return r;
}

/* --- An independent PNG toolkit: CRC-32, Adler-32, inflate, filters, chunks, stored zlib ---- */

static uint32_t t_crc_table[256];

static void t_crc_init(void)
{
    uint32_t n, c;
    int k;
    for (n = 0; n < 256; n++) {
        for (c = n, k = 0; k < 8; k++) c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
        t_crc_table[n] = c;
    }
}

static uint32_t t_crc(const unsigned char *p, size_t n)
{
    uint32_t c = 0xffffffffu;
    size_t i;
    for (i = 0; i < n; i++) c = t_crc_table[(c ^ p[i]) & 255] ^ (c >> 8);
    return c ^ 0xffffffffu;
}

static uint32_t t_adler(const unsigned char *p, size_t n)
{
    uint32_t a = 1, b = 0;
    size_t i;
    for (i = 0; i < n; i++) a = (a + p[i]) % 65521u, b = (b + a) % 65521u;
    return b << 16 | a;
}

static uint32_t t_be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static void t_put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24), p[1] = (unsigned char)(v >> 16), p[2] = (unsigned char)(v >> 8), p[3] = (unsigned char)v;
}

/* The Paeth predictor as the PNG specification (section 9.4) writes it. */
static int t_paeth(int a, int b, int c)
{
    int p = a + b - c, pa = abs(p - a), pb = abs(p - b), pc = abs(p - c);
    if (pa <= pb && pa <= pc) return a;
    return pb <= pc ? b : c;
}

/* Deflate (RFC 1951) as far as these tests need it: stored blocks (BTYPE 00, the streams
   built here) and blocks of the fixed Huffman codes (BTYPE 01, section 3.2.6, what the
   encoder writes), in any mix; a dynamic block (BTYPE 10) is refused. Bits are read least significant first, Huffman codes most significant first. */
typedef struct t_bits {
    const unsigned char *p;
    size_t n, at; /* at: bits consumed */
    int past_end;
} t_bits;

static unsigned t_bit(t_bits *b)
{
    unsigned v;
    if (b->at >= 8 * b->n) {
        b->past_end = 1;
        return 0;
    }
    v = (b->p[b->at >> 3] >> (b->at & 7)) & 1u;
    b->at++;
    return v;
}

static unsigned t_bits_get(t_bits *b, int k) /* k bits, the first read the least significant */
{
    unsigned v = 0;
    int i;
    for (i = 0; i < k; i++) v |= t_bit(b) << i;
    return v;
}

/* The fixed literal/length code: 7-bit codes 0000000-0010111 are symbols 256-279, 8-bit
   00110000-10111111 are 0-143 and 11000000-11000111 280-287, 9-bit 110010000-111111111
   144-255 (an 8-bit prefix of 11001000 or more always continues to 9 bits). */
static int t_fixed_litlen(t_bits *b)
{
    unsigned code = 0;
    int len;
    for (len = 1; len < 9; len++) {
        code = code << 1 | t_bit(b);
        if (len == 7 && code <= 0x17) return 256 + (int)code;
        if (len == 8 && code >= 0x30 && code <= 0xbf) return (int)code - 0x30;
        if (len == 8 && code >= 0xc0 && code <= 0xc7) return 280 + (int)code - 0xc0;
    }
    code = code << 1 | t_bit(b); /* 0x190..0x1ff */
    return 144 + (int)code - 0x190;
}

static const unsigned short t_len_base[29] = {3,  4,  5,  6,  7,  8,  9,  10, 11,  13,  15,  17,  19,  23, 27,
                                              31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258};
static const unsigned char t_len_extra[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
static const unsigned short t_dist_base[30] = {1,   2,   3,   4,    5,    7,    9,    13,   17,   25,   33,    49,    65,    97,    129,
                                               193, 257, 385, 513,  769,  1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577};
static const unsigned char t_dist_extra[30] = {0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13};

/* What the independent decoder saw in a PNG: the blocks, the matches, the row filters. */
typedef struct t_png_info {
    int stored_blocks, fixed_blocks;
    unsigned zlib_header;   /* its two bytes, e.g. 0x7801 */
    size_t zlib_bytes;      /* the zlib stream's length, header and Adler-32 included */
    long literals, matches; /* in the fixed blocks */
    long len258;            /* matches of the longest length, 258 */
    int max_len, max_dist;  /* the longest match and the farthest */
    long filters[5];        /* rows by filter type: none, sub, up, average, Paeth */
} t_png_info;

/* Inflates the deflate data d (n bytes) into out, which must come out exactly cap bytes long;
   window is the farthest a match may reach back (the zlib header's). *used gets the bytes
   read (the last one maybe in part). Returns NULL or what is wrong. */
static const char *t_inflate(const unsigned char *d, size_t n, unsigned char *out, size_t cap, size_t window, size_t *used,
                             t_png_info *info)
{
    t_bits b;
    size_t len = 0;
    int final = 0;
    b.p = d, b.n = n, b.at = 0, b.past_end = 0;
    while (!final) {
        unsigned type;
        final = (int)t_bit(&b);
        type = t_bits_get(&b, 2);
        if (b.past_end) return "truncated deflate block header";
        if (type == 0) {
            size_t at, stored, nstored;
            b.at = (b.at + 7) & ~(size_t)7; /* the rest of the byte is skipped */
            at = b.at / 8;
            if (at > n || n - at < 4) return "truncated stored block header";
            stored = d[at] | (size_t)d[at + 1] << 8, nstored = d[at + 2] | (size_t)d[at + 3] << 8;
            if (stored != (~nstored & 0xffffu)) return "stored block: LEN != ~NLEN";
            if (stored > n - at - 4) return "stored block past the end";
            if (stored > cap - len) return "more pixel data than the size needs";
            memcpy(out + len, d + at + 4, stored), len += stored;
            b.at = 8 * (at + 4 + stored);
            info->stored_blocks++;
        } else if (type == 1) {
            for (;;) {
                int sym = t_fixed_litlen(&b), dcode = 0, k;
                size_t length, dist, j;
                if (b.past_end) return "fixed block: truncated";
                if (sym < 256) {
                    if (len == cap) return "more pixel data than the size needs";
                    out[len++] = (unsigned char)sym, info->literals++;
                    continue;
                }
                if (sym == 256) break; /* end of block */
                if (sym > 285) return "fixed block: length symbol 286 or 287";
                length = t_len_base[sym - 257] + t_bits_get(&b, t_len_extra[sym - 257]);
                for (k = 0; k < 5; k++) dcode = dcode << 1 | (int)t_bit(&b); /* 5 bits, most significant first */
                if (dcode > 29) return "fixed block: distance symbol 30 or 31";
                dist = t_dist_base[dcode] + t_bits_get(&b, t_dist_extra[dcode]);
                if (b.past_end) return "fixed block: truncated match";
                if (dist > len) return "a match reaching back before the start of the data";
                if (dist > window) return "a match reaching back farther than the zlib window";
                if (length > cap - len) return "more pixel data than the size needs";
                for (j = 0; j < length; j++, len++) out[len] = out[len - dist]; /* byte by byte: it may overlap itself */
                info->matches++;
                if (length == 258) info->len258++;
                if ((int)length > info->max_len) info->max_len = (int)length;
                if ((int)dist > info->max_dist) info->max_dist = (int)dist;
            }
            info->fixed_blocks++;
        } else {
            return type == 2 ? "a dynamic Huffman block (the encoder writes none)" : "block type 3 (reserved)";
        }
    }
    if (len != cap) return "less pixel data than the size needs";
    *used = (b.at + 7) / 8;
    return NULL;
}

/* Decode a PNG as cnnvis__png_encode promises to write it: 8-bit grey or RGB, not interlaced,
   only IHDR, IDAT and IEND chunks, one zlib stream of deflate blocks (the encoder's one
   fixed-Huffman block; stored ones too), each row with one of the five filters. Checks every chunk's CRC, the zlib header,
   that no match reaches back past the zlib window or the start, that the data is exactly
   the size's, the Adler-32 right after the last block and nothing after IEND. Returns NULL
   or what is wrong; on success *im holds the pixels and *info (if not NULL) what was seen. */
static const char *t_png_decode(const unsigned char *d, size_t n, cnnvis_image *im, t_png_info *info)
{
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    unsigned char *z = NULL, *raw = NULL;
    size_t z_len = 0, used = 0, expected = 0, row, x, at = 8;
    uint32_t w = 0, h = 0, y;
    int c = 0, seen_ihdr = 0, seen_iend = 0;
    const char *why = NULL;
    t_png_info scratch;
    if (!info) info = &scratch;
    memset(info, 0, sizeof *info);
    memset(im, 0, sizeof *im);
    if (n < 8 || memcmp(d, sig, 8) != 0) return "no PNG signature";
    while (!seen_iend) {
        uint32_t len;
        const unsigned char *type;
        if (n - at < 12) { why = "truncated chunk"; goto done; }
        len = t_be32(d + at), type = d + at + 4;
        if (len > n - at - 12) { why = "chunk longer than the file"; goto done; }
        if (t_crc(type, (size_t)len + 4) != t_be32(d + at + 8 + len)) { why = "chunk CRC mismatch"; goto done; }
        if (!seen_ihdr) {
            if (memcmp(type, "IHDR", 4) != 0 || len != 13) { why = "first chunk is not a 13-byte IHDR"; goto done; }
            w = t_be32(type + 4), h = t_be32(type + 8);
            if (type[12] != 8 || (type[13] != 0 && type[13] != 2) || type[14] || type[15] || type[16]) {
                why = "IHDR is not 8-bit grey/RGB, deflate, filter 0, no interlace";
                goto done;
            }
            if (w < 1 || h < 1) { why = "zero size"; goto done; }
            c = type[13] == 2 ? 3 : 1;
            seen_ihdr = 1;
        } else if (memcmp(type, "IDAT", 4) == 0) {
            unsigned char *grown = (unsigned char *)realloc(z, z_len + len + 1);
            if (!grown) { why = "out of memory"; goto done; }
            z = grown;
            memcpy(z + z_len, type + 4, len), z_len += len;
        } else if (memcmp(type, "IEND", 4) == 0) {
            if (len != 0) { why = "IEND with data"; goto done; }
            seen_iend = 1;
        } else {
            why = "a chunk the encoder should not write";
            goto done;
        }
        at += 12 + (size_t)len;
    }
    if (at != n) { why = "bytes after IEND"; goto done; }
    if (z_len < 2 + 4) { why = "no zlib stream"; goto done; }
    if ((z[0] & 15) != 8 || (z[0] >> 4) > 7 || ((unsigned)z[0] * 256 + z[1]) % 31 != 0 || (z[1] & 32)) {
        why = "bad zlib header";
        goto done;
    }
    info->zlib_header = (unsigned)z[0] << 8 | z[1], info->zlib_bytes = z_len;
    row = (size_t)w * c;
    expected = (size_t)h * (row + 1);
    raw = (unsigned char *)malloc(expected);
    if (!raw) { why = "out of memory"; goto done; }
    why = t_inflate(z + 2, z_len - 2, raw, expected, (size_t)1 << (8 + (z[0] >> 4)), &used, info);
    if (why) goto done;
    if (z_len - 2 - used != 4) { why = "not exactly an Adler-32 after the last block"; goto done; }
    if (t_be32(z + 2 + used) != t_adler(raw, expected)) { why = "Adler-32 mismatch"; goto done; }
    if (cnnvis_image_create(im, (int)w, (int)h, c) != CNNVIS_OK) { why = "cannot create the image"; goto done; }
    for (y = 0; y < h; y++) { /* undo the filters (PNG specification, section 9.2) */
        const unsigned char *f = raw + y * (row + 1) + 1;
        unsigned char *cur = im->px + y * row, *up = y ? cur - row : NULL;
        int type = f[-1];
        if (type > 4) {
            cnnvis_image_free(im);
            why = "a row filter type above 4";
            goto done;
        }
        info->filters[type]++;
        for (x = 0; x < row; x++) {
            int a = x >= (size_t)c ? cur[x - c] : 0, b = up ? up[x] : 0, cc = up && x >= (size_t)c ? up[x - c] : 0;
            int pred = type == 1 ? a : type == 2 ? b : type == 3 ? (a + b) / 2 : type == 4 ? t_paeth(a, b, cc) : 0;
            cur[x] = (unsigned char)(f[x] + pred);
        }
    }
done:
    free(z), free(raw);
    return why;
}

/* PNG chunks, to take apart a valid file and build variants with correct CRCs. */
typedef struct t_chunk {
    char type[5];
    unsigned char *data;
    uint32_t len;
} t_chunk;

#define T_MAX_CHUNKS 16

static int t_chunks_parse(const unsigned char *png, size_t n, t_chunk *ch)
{
    size_t at = 8;
    int k = 0;
    while (at + 12 <= n && k < T_MAX_CHUNKS) {
        uint32_t len = t_be32(png + at);
        memcpy(ch[k].type, png + at + 4, 4), ch[k].type[4] = 0;
        ch[k].len = len;
        ch[k].data = (unsigned char *)malloc(len ? len : 1);
        if (len) memcpy(ch[k].data, png + at + 8, len);
        k++;
        at += 12 + (size_t)len;
    }
    return k;
}

static void t_chunks_free(t_chunk *ch, int n)
{
    int k;
    for (k = 0; k < n; k++) free(ch[k].data);
}

/* signature + chunks, every CRC computed here */
static unsigned char *t_chunks_build(const t_chunk *ch, int n, size_t *size)
{
    size_t total = 8, at = 8;
    unsigned char *out;
    int k;
    for (k = 0; k < n; k++) total += 12 + (size_t)ch[k].len;
    out = (unsigned char *)malloc(total);
    if (!out) return NULL;
    memcpy(out, "\x89PNG\r\n\x1a\n", 8);
    for (k = 0; k < n; k++) {
        t_put_be32(out + at, ch[k].len);
        memcpy(out + at + 4, ch[k].type, 4);
        if (ch[k].len) memcpy(out + at + 8, ch[k].data, ch[k].len);
        t_put_be32(out + at + 8 + ch[k].len, t_crc(out + at + 4, (size_t)ch[k].len + 4));
        at += 12 + (size_t)ch[k].len;
    }
    *size = total;
    return out;
}

/* A zlib stream of stored blocks holding raw (n bytes), with its Adler-32. */
static unsigned char *t_zlib_stored(const unsigned char *raw, size_t n, uint32_t *out_len)
{
    size_t blocks = n ? (n + 65534) / 65535 : 1, total = 2 + 5 * blocks + n + 4, at = 2, left = n, b;
    unsigned char *z = (unsigned char *)malloc(total);
    if (!z) return NULL;
    z[0] = 0x78, z[1] = 0x01;
    for (b = 0; b < blocks; b++) {
        size_t len = left < 65535 ? left : 65535;
        z[at] = (unsigned char)(b + 1 == blocks);
        z[at + 1] = (unsigned char)len, z[at + 2] = (unsigned char)(len >> 8);
        z[at + 3] = (unsigned char)~len, z[at + 4] = (unsigned char)(~len >> 8);
        if (len) memcpy(z + at + 5, raw + (n - left), len);
        at += 5 + len, left -= len;
    }
    t_put_be32(z + at, t_adler(raw, n));
    *out_len = (uint32_t)total;
    return z;
}

/* A PNG from an IHDR's fields and raw (filtered) scanlines; plte may be NULL. */
static unsigned char *t_png_make(uint32_t w, uint32_t h, int depth, int ctype, int interlace, const unsigned char *raw,
                                 size_t raw_len, const unsigned char *plte, uint32_t plte_len, size_t *size)
{
    t_chunk ch[4];
    unsigned char ihdr[13], *out;
    int n = 0;
    t_put_be32(ihdr, w), t_put_be32(ihdr + 4, h);
    ihdr[8] = (unsigned char)depth, ihdr[9] = (unsigned char)ctype, ihdr[10] = 0, ihdr[11] = 0, ihdr[12] = (unsigned char)interlace;
    memcpy(ch[n].type, "IHDR", 5), ch[n].data = ihdr, ch[n].len = 13, n++;
    if (plte) memcpy(ch[n].type, "PLTE", 5), ch[n].data = (unsigned char *)plte, ch[n].len = plte_len, n++;
    memcpy(ch[n].type, "IDAT", 5), ch[n].data = t_zlib_stored(raw, raw_len, &ch[n].len), n++;
    memcpy(ch[n].type, "IEND", 5), ch[n].data = NULL, ch[n].len = 0, n++;
    out = ch[n - 2].data ? t_chunks_build(ch, n, size) : NULL;
    free(ch[n - 2].data);
    return out;
}

/* --- Embedded PNGs ----------------------------------------------------------------------
   Made with Python 3 and its zlib (1.2.13) at level 9 by the script below; row y uses PNG
   filter y % 5 (none, Sub, Up, Average, Paeth, written out in the script). grey8's zlib
   stream is one dynamic-Huffman block, the others fixed-Huffman blocks; palette has a tEXt
   chunk and its zlib stream split over three IDAT chunks. The recipes (check_embedded
   recomputes them):
     grey8    64x64 grey 8-bit         v = (x*y) & 255
     rgb8     11x7  RGB 8-bit          v[c] = (x*7 + y*3 + c*50) & 255
     palette  10x6  palette of 16      index (x + 2y) % 16; entry k = (16k, 255-16k, 37k & 255)
     grey16   9x5   grey 16-bit        v = ((x*7+y*3) & 255) << 8 | ((x*13+y*5) & 255)
     rgba8    7x6   RGBA 8-bit         RGB as rgb8, alpha (x*y*17) & 255 (dropped on reading)
     ga8      6x5   grey+alpha 8-bit   v = (x*7+y*3) & 255, alpha 255 - ((x*11) & 255)
     rgb16    5x4   RGB 16-bit         v[c] = ((x*7+y*3+c*50) & 255) << 8 | ((x*29+y*3+c) & 255)
   16-bit samples read as round(v * 255 / 65535).

   import struct, zlib
   def chunk(t, data):
       return struct.pack(">I", len(data)) + t + data + struct.pack(">I", zlib.crc32(t + data) & 0xffffffff)
   def paeth(a, b, c):
       p = a + b - c; pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
       return a if pa <= pb and pa <= pc else (b if pb <= pc else c)
   def filtered(rows, bpp):
       out, prev = bytearray(), bytes(len(rows[0]))
       for y, row in enumerate(rows):
           ft = y % 5
           out.append(ft)
           for x in range(len(row)):
               a = row[x - bpp] if x >= bpp else 0
               b = prev[x]
               c = prev[x - bpp] if x >= bpp else 0
               out.append((row[x] - [0, a, b, (a + b) // 2, paeth(a, b, c)][ft]) & 255)
           prev = row
       return bytes(out)
   def png(w, h, ctype, depth, rows, bpp, palette=None, idat_parts=1, text=False):
       z = zlib.compress(filtered(rows, bpp), 9)
       s = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, ctype, 0, 0, 0))
       if palette: s += chunk(b"PLTE", bytes(v for rgb in palette for v in rgb))
       if text: s += chunk(b"tEXt", b"Comment\x00cnnvis test")
       cut = [len(z) * k // idat_parts for k in range(idat_parts + 1)]
       for k in range(idat_parts): s += chunk(b"IDAT", z[cut[k]:cut[k + 1]])
       return s + chunk(b"IEND", b"")
   grey8 = png(64, 64, 0, 8, [bytes((x*y)&255 for x in range(64)) for y in range(64)], 1)
   rgb8 = png(11, 7, 2, 8, [bytes((x*7+y*3+c*50)&255 for x in range(11) for c in range(3)) for y in range(7)], 3)
   pal = [(k*16, 255-k*16, (k*37)&255) for k in range(16)]
   palette = png(10, 6, 3, 8, [bytes((x+2*y)%16 for x in range(10)) for y in range(6)], 1, pal, 3, True)
   def g16(x, y): return ((x*7+y*3)&255)<<8 | ((x*13+y*5)&255)
   grey16 = png(9, 5, 0, 16, [b"".join(struct.pack(">H", g16(x, y)) for x in range(9)) for y in range(5)], 2)
   rgba8 = png(7, 6, 6, 8, [bytes(v for x in range(7) for v in [(x*7+y*3)&255, (x*7+y*3+50)&255,
                                                               (x*7+y*3+100)&255, (x*y*17)&255]) for y in range(6)], 4)
   ga8 = png(6, 5, 4, 8, [bytes(v for x in range(6) for v in [(x*7+y*3)&255, 255-((x*11)&255)]) for y in range(5)], 2)
   def c16(x, y, c): return ((x*7+y*3+c*50)&255)<<8 | ((x*29+y*3+c)&255)
   rgb16 = png(5, 4, 2, 16, [b"".join(struct.pack(">H", c16(x, y, c)) for x in range(5) for c in range(3))
                             for y in range(4)], 6)
*/


/* --- PNM: round trips ---------------------------------------------------------------------- */

/* Largest error |read - original| allowed after writing with maxval m and reading back:
   writing rounds p*m/255 (error <= 1/2 of a level of m, i.e. 127.5/m in 0..255 units),
   reading rounds again (+1/2). Exact (0) for m >= 255. */
static int pnm_tolerance(int m) { return (int)floor(127.5 / m + 0.5); }

/* The header fields and the sample values of an encoded PNM, parsed here (the encoder writes
   no comments). Returns 0 if the layout is wrong. */
static int parse_pnm(const unsigned char *buf, size_t size, int *kind, unsigned *w, unsigned *h, unsigned *maxval,
                     unsigned *samples, size_t count)
{
    char *text = (char *)malloc(size + 1), *p, *end;
    size_t i, at;
    int ok = 0;
    if (!text) return 0;
    memcpy(text, buf, size), text[size] = 0;
    if (size < 3 || text[0] != 'P' || text[1] < '2' || text[1] > '6') goto done;
    *kind = text[1] - '0';
    p = text + 2;
    *w = (unsigned)strtoul(p, &end, 10);
    if (end == p) goto done;
    p = end, *h = (unsigned)strtoul(p, &end, 10);
    if (end == p) goto done;
    p = end, *maxval = (unsigned)strtoul(p, &end, 10);
    if (end == p || *end != '\n') goto done;
    if (*kind == 2 || *kind == 3) {
        p = end;
        for (i = 0; i < count; i++) {
            samples[i] = (unsigned)strtoul(p, &end, 10);
            if (end == p) goto done;
            p = end;
        }
        while (*p == ' ' || *p == '\n') p++;
        ok = (size_t)(p - text) == size; /* nothing but whitespace after the samples */
    } else {
        size_t bps = *maxval > 255 ? 2 : 1;
        at = (size_t)(end - text) + 1; /* exactly one whitespace before the raster */
        if (size - at != count * bps) goto done;
        for (i = 0; i < count; i++, at += bps) samples[i] = bps == 2 ? (unsigned)buf[at] << 8 | buf[at + 1] : buf[at];
        ok = 1;
    }
done:
    free(text);
    return ok;
}

static void test_pnm_round_trip_memory(void)
{
    static const int sizes[][2] = {{1, 1}, {7, 3}, {33, 17}};
    static const int maxvals[] = {255, 65535, 1000, 100, 2};
    int c, ascii, m, s, cases = 0;
    for (c = 1; c <= 3; c += 2)
        for (ascii = 0; ascii <= 1; ascii++)
            for (m = 0; m < (int)(sizeof maxvals / sizeof maxvals[0]); m++)
                for (s = 0; s < 3; s++) {
                    cnnvis_image im, back;
                    unsigned char *buf = NULL;
                    size_t size = 0, i, count, bad_sample = 0, bad_scale = 0, worst = 0;
                    unsigned w = 0, h = 0, maxval = 0, *samples;
                    int kind = 0, M = maxvals[m], want_kind = c == 3 ? (ascii ? 3 : 6) : (ascii ? 2 : 5);
                    cnnvis_result r;
                    REQUIRE(make_image(&im, sizes[s][0], sizes[s][1], c, (unsigned)(s + 7 * m)), "%s", cnnvis_last_error());
                    count = (size_t)im.w * im.h * c;
                    r = cnnvis__pnm_encode(&im, ascii, M, &buf, &size);
                    REQUIRE(r == CNNVIS_OK, "encode c %d ascii %d maxval %d: %s", c, ascii, M, cnnvis_last_error());
                    samples = (unsigned *)malloc(sizeof(unsigned) * count);
                    REQUIRE(samples, "malloc");
                    CHECK(parse_pnm(buf, size, &kind, &w, &h, &maxval, samples, count),
                          "c %d ascii %d maxval %d %dx%d: the encoded file's layout is wrong", c, ascii, M, im.w, im.h);
                    CHECK(kind == want_kind && w == (unsigned)im.w && h == (unsigned)im.h && maxval == (unsigned)M,
                          "header P%d %u %u %u, expected P%d %d %d %d", kind, w, h, maxval, want_kind, im.w, im.h, M);
                    /* the written samples are round(p * maxval / 255) (no ties: 2*p*M is never an odd multiple of 255) */
                    for (i = 0; i < count; i++)
                        if (samples[i] != (unsigned)floor(im.px[i] * (double)M / 255.0 + 0.5)) bad_sample++;
                    CHECK(bad_sample == 0, "c %d ascii %d maxval %d: %zu samples not round(p*maxval/255)", c, ascii, M, bad_sample);
                    r = read_exact(&back, buf, size);
                    REQUIRE(r == CNNVIS_OK, "decode c %d ascii %d maxval %d: %s", c, ascii, M, cnnvis_last_error());
                    CHECK(back.w == im.w && back.h == im.h && back.c == c, "decoded %dx%dx%d", back.w, back.h, back.c);
                    if (back.w == im.w && back.h == im.h && back.c == c)
                        for (i = 0; i < count; i++) {
                            size_t d = (size_t)abs((int)back.px[i] - (int)im.px[i]);
                            /* reading scales back with rounding: round(sample * 255 / maxval) */
                            if (back.px[i] != (unsigned char)floor(samples[i] * 255.0 / M + 0.5)) bad_scale++;
                            worst = d > worst ? d : worst;
                        }
                    CHECK(bad_scale == 0, "c %d ascii %d maxval %d: %zu pixels not round(sample*255/maxval)", c, ascii, M, bad_scale);
                    CHECK(worst <= (size_t)pnm_tolerance(M), "c %d ascii %d maxval %d %dx%d: error %zu > %d", c, ascii, M, im.w,
                          im.h, worst, pnm_tolerance(M));
                    if (M == 255 || M == 65535 || M == 1000) CHECK(same_image(&im, &back), "maxval %d must round-trip exactly", M);
                    free(samples);
                    cnnvis__free(buf);
                    CHECK(heap_overruns == 0, "c %d ascii %d maxval %d %dx%d: the encoder wrote past the end of its %zu-byte buffer",
                          c, ascii, M, im.w, im.h, heap_overrun_size);
                    heap_overruns = 0;
                    cnnvis_image_free(&im), cnnvis_image_free(&back);
                    cases++;
                }
    CHECK(cases == 60, "%d cases", cases);
}

static void test_pnm_round_trip_files(void)
{
    static const char *const names[] = {"a.pgm", "b.ppm", "c.pnm", "d.PPM"};
    static const int sizes[][2] = {{1, 1}, {7, 3}, {33, 17}};
    int c, s, k;
    for (c = 1; c <= 3; c += 2)
        for (s = 0; s < 3; s++)
            for (k = 0; k < 4; k++) {
                cnnvis_image im, back;
                unsigned char *bytes = NULL;
                size_t size = 0;
                const char *path = tmp_path(names[k]);
                REQUIRE(make_image(&im, sizes[s][0], sizes[s][1], c, (unsigned)(k + 3 * s)), "%s", cnnvis_last_error());
                REQUIRE(cnnvis_image_write(path, &im) == CNNVIS_OK, "write %s: %s", path, cnnvis_last_error());
                CHECK(!file_exists(tmp_path("a.pgm.tmp")) && !file_exists(tmp_path("b.ppm.tmp")), "a .tmp file was left behind");
                REQUIRE(cnnvis__file_read(path, 1 << 20, &bytes, &size) == CNNVIS_OK, "%s", cnnvis_last_error());
                /* by extension: binary, maxval 255, P5 for grey and P6 for RGB whatever the name */
                CHECK(size >= 2 && bytes[0] == 'P' && bytes[1] == (c == 3 ? '6' : '5'), "%s starts with %.2s", names[k], (const char *)bytes);
                CHECK(size == (size_t)im.w * im.h * c + (size_t)snprintf(NULL, 0, "P6\n%d %d\n255\n", im.w, im.h),
                      "%s: %zu bytes", names[k], size);
                cnnvis__free(bytes);
                memset(&back, 0x5a, sizeof back);
                REQUIRE(cnnvis_image_read(&back, path) == CNNVIS_OK, "read %s: %s", path, cnnvis_last_error());
                CHECK(same_image(&im, &back), "%s %dx%dx%d: file round trip differs", names[k], im.w, im.h, c);
                cnnvis_image_free(&im), cnnvis_image_free(&back);
                remove(path);
            }
}

/* --- PNM: what must be accepted ----------------------------------------------------------- */

typedef struct pnm_case {
    const char *data;
    size_t size;
    int w, h, c;
    const char *px; /* the expected pixels (w*h*c bytes) */
    const char *what;
} pnm_case;

#define LIT(s) s, sizeof(s) - 1

static void test_pnm_accepted(void)
{
    static const pnm_case cases[] = {
        {LIT("P6#c\n2 2#c\n255#c\n\1\2\3\4\5\6\7\10\11\12\13\14"), 2, 2, 3, "\1\2\3\4\5\6\7\10\11\12\13\14",
         "comments ending every header line, right after each field"},
        {LIT("P5 #a\n#b\n 2 #c\n #d\n 1#e\n#f\n255\n\x40\xc0"), 2, 1, 1, "\x40\xc0", "comments between every header field"},
        {LIT("P5#comment right after the magic\n2 1\n255\n\x11\x22"), 2, 1, 1, "\x11\x22", "a comment right after the magic"},
        {LIT("P5\r\n2 1\r\n255\n\x11\x22"), 2, 1, 1, "\x11\x22", "CR/LF line endings in the header"},
        {LIT("P5\r\n#c\r\n2\r\n1\r\n#d\r\n255\n\x11\x22"), 2, 1, 1, "\x11\x22", "CR/LF lines and CR/LF comments"},
        {LIT("P2\r\n2 1\r\n255\r\n10\r\n20\r\n"), 2, 1, 1, "\x0a\x14", "ascii with CR/LF everywhere"},
        {LIT("P3\n#c\n1 1 255 7 #between samples\n 8\t\v\f9"), 1, 1, 3, "\7\10\11", "ascii: comments and odd whitespace among samples"},
        {LIT("P5\n1 1\n255\n\n"), 1, 1, 1, "\n", "single-whitespace rule: the raster byte is '\\n' (10)"},
        {LIT("P5 1 1 255  "), 1, 1, 1, " ", "single-whitespace rule: the raster byte is ' ' (32)"},
        {LIT("P6\n1 1\n255\n\t\n\r"), 1, 1, 3, "\t\n\r", "single-whitespace rule: raster bytes 9, 10, 13"},
        {LIT("P5\n1 1\n255#comment after maxval\n\7"), 1, 1, 1, "\7", "a comment between maxval and the raster"},
        {LIT("P5\n2 1\n255\n\x11\x22trailing garbage"), 2, 1, 1, "\x11\x22", "trailing garbage after the raster"},
        {LIT("P5\n1 1\n255\n\x33P5\n1 1\n255\n\x44"), 1, 1, 1, "\x33", "a second image after the first"},
        {LIT("P2\n3 1\n255\n0 128 255 999 junk"), 3, 1, 1, "\0\x80\xff", "ascii: trailing junk after the samples"},
        {LIT("P5\n2 1\n1\n\0\1"), 2, 1, 1, "\0\xff", "maxval 1"},
        {LIT("P5\n2 1\n65535\n\x00\x00\xff\xff"), 2, 1, 1, "\0\xff", "maxval 65535, binary big-endian"},
        {LIT("P5\n2 1\n65535\n\x80\x00\x00\x80"), 2, 1, 1, "\x80\0", "maxval 65535: 32768 -> 128, 128 -> 0 (rounded)"},
        {LIT("P2\n2 1\n1000\n500 999\n"), 2, 1, 1, "\x80\xff", "maxval 1000: 500 -> 128 (127.5 rounded up), 999 -> 255"},
        {LIT("P5\n2 1\n00255\n\1\2"), 2, 1, 1, "\1\2", "leading zeros in maxval"},
    };
    size_t k;
    for (k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        cnnvis_image im;
        cnnvis_result r = read_exact(&im, cases[k].data, cases[k].size);
        CHECK(r == CNNVIS_OK, "%s: %s (%s)", cases[k].what, cnnvis_result_str(r), cnnvis_last_error());
        if (r != CNNVIS_OK) continue;
        CHECK(im.w == cases[k].w && im.h == cases[k].h && im.c == cases[k].c, "%s: %dx%dx%d", cases[k].what, im.w, im.h, im.c);
        if (im.w == cases[k].w && im.h == cases[k].h && im.c == cases[k].c) {
            size_t i, n = (size_t)im.w * im.h * im.c;
            for (i = 0; i < n; i++)
                CHECK(im.px[i] == (unsigned char)cases[k].px[i], "%s: sample %zu is %d, expected %d", cases[k].what, i, im.px[i],
                      (unsigned char)cases[k].px[i]);
        }
        cnnvis_image_free(&im);
    }
}

/* --- PNM: what must be refused ------------------------------------------------------------ */

typedef struct bad_case {
    const char *data;
    size_t size;
    cnnvis_result code;
    const char *what;
} bad_case;

static void check_refused(const void *data, size_t size, cnnvis_result code, const char *what)
{
    cnnvis_image im;
    cnnvis_result r = read_exact(&im, data, size);
    CHECK(r == code, "%s: got %s, expected %s (%s)", what, cnnvis_result_str(r), cnnvis_result_str(code), cnnvis_last_error());
    CHECK(has_message(), "%s: no message", what);
    CHECK(is_zeroed(&im), "%s: the image is not zeroed after the failure", what);
    if (r == CNNVIS_OK) cnnvis_image_free(&im);
}

static void test_pnm_refused(void)
{
    static const bad_case cases[] = {
        {LIT(""), CNNVIS_ERR_FORMAT, "empty"},
        {LIT("P"), CNNVIS_ERR_FORMAT, "\"P\" alone"},
        {LIT("P7\n1 1\n255\n\0"), CNNVIS_ERR_FORMAT, "magic P7 (PAM)"},
        {LIT("Q6\n1 1\n255\n\0\0\0"), CNNVIS_ERR_FORMAT, "magic Q6"},
        {LIT("P0\n1 1\n255\n\0"), CNNVIS_ERR_FORMAT, "magic P0"},
        {LIT("p6\n1 1\n255\n\0\0\0"), CNNVIS_ERR_FORMAT, "lower-case magic"},
        {LIT("P1\n2 2\n0 1\n1 0\n"), CNNVIS_ERR_UNSUPPORTED, "P1 bitmap"},
        {LIT("P4\n8 1\n\xff"), CNNVIS_ERR_UNSUPPORTED, "P4 bitmap"},
        {LIT("P51 1\n255\n\0"), CNNVIS_ERR_FORMAT, "no whitespace after the magic"},
        {LIT("P5\nx 2\n255\n\1\2\3\4"), CNNVIS_ERR_FORMAT, "width not a number"},
        {LIT("P5\n2 y\n255\n\1\2\3\4"), CNNVIS_ERR_FORMAT, "height not a number"},
        {LIT("P5\n2 2\nabc\n\1\2\3\4"), CNNVIS_ERR_FORMAT, "maxval not a number"},
        {LIT("P5\n2 2\n25x\1\2\3\4"), CNNVIS_ERR_FORMAT, "maxval followed by a letter"},
        {LIT("P5\n+2 2\n255\n\1\2\3\4"), CNNVIS_ERR_FORMAT, "width with a plus sign"},
        {LIT("P5\n-3 2\n255\n\1\2\3\4\5\6"), CNNVIS_ERR_FORMAT, "negative width"},
        {LIT("P5\n2 -3\n255\n\1\2\3\4\5\6"), CNNVIS_ERR_FORMAT, "negative height"},
        {LIT("P5\n2 2\n-255\n\1\2\3\4"), CNNVIS_ERR_FORMAT, "negative maxval"},
        {LIT("P5\n2 2\n0\n\0\0\0\0"), CNNVIS_ERR_FORMAT, "maxval 0"},
        {LIT("P5\n2 2\n65536\n\0\0\0\0\0\0\0\0"), CNNVIS_ERR_FORMAT, "maxval 65536"},
        {LIT("P5\n2 2\n4294967296\n\0\0\0\0\0\0\0\0"), CNNVIS_ERR_FORMAT, "maxval 2^32 (would wrap to 0)"},
        {LIT("P5\n0 2\n255\n"), CNNVIS_ERR_FORMAT, "width 0"},
        {LIT("P5\n2 0\n255\n"), CNNVIS_ERR_FORMAT, "height 0"},
        {LIT("P2\n0 0\n255\n"), CNNVIS_ERR_FORMAT, "ascii 0x0"},
        {LIT("P5\n16385 1\n255\n\0"), CNNVIS_ERR_FORMAT, "width 16385 (over the side limit)"},
        {LIT("P5\n100000 100000\n255\n\0"), CNNVIS_ERR_FORMAT, "100000 x 100000"},
        {LIT("P6\n99999999999999999999999 1\n255\n\0"), CNNVIS_ERR_FORMAT, "a width that overflows 64 bits"},
        {LIT("P5\n16384 16384\n255\n\0"), CNNVIS_ERR_FORMAT, "16384 x 16384 (2^28 pixels)"},
        {LIT("P5\n8193 8192\n255\n\0"), CNNVIS_ERR_FORMAT, "8193 x 8192 (just over 2^26 pixels)"},
        {LIT("P3\n16384 16384\n255\n1 2 3"), CNNVIS_ERR_FORMAT, "ascii 16384 x 16384"},
        {LIT("P5\n2 1\n100\n\x32\x65"), CNNVIS_ERR_FORMAT, "binary sample 101 above maxval 100"},
        {LIT("P5\n1 1\n1000\n\x03\xe9"), CNNVIS_ERR_FORMAT, "16-bit sample 1001 above maxval 1000"},
        {LIT("P6\n1 1\n65534\n\0\0\0\0\xff\xff"), CNNVIS_ERR_FORMAT, "16-bit sample 65535 above maxval 65534"},
        {LIT("P2\n2 1\n100\n50 101\n"), CNNVIS_ERR_FORMAT, "ascii sample 101 above maxval 100"},
        {LIT("P3\n1 1\n65535\n1 2 70000\n"), CNNVIS_ERR_FORMAT, "ascii sample 70000 above 65535"},
        {LIT("P3\n1 1\n65535\n1 2 99999999999999999999999\n"), CNNVIS_ERR_FORMAT, "ascii sample overflowing 64 bits"},
        {LIT("P2\n2 1\n255\n1 x\n"), CNNVIS_ERR_FORMAT, "ascii sample not a number"},
        {LIT("P2\n2 1\n255\n1 -2\n"), CNNVIS_ERR_FORMAT, "ascii sample negative"},
        {LIT("P2\n2 1\n255\n1.5 2\n"), CNNVIS_ERR_FORMAT, "ascii sample with a decimal point"},
        {LIT("P2\n2 1\n255\n1\n"), CNNVIS_ERR_FORMAT, "ascii raster one sample short"},
        {LIT("P2\n2 1\n255\n1 #2\n"), CNNVIS_ERR_FORMAT, "ascii raster whose last sample is in a comment"},
        {LIT("P5\n2 1\n255"), CNNVIS_ERR_FORMAT, "binary: nothing after maxval"},
        {LIT("P5\n2 1\n255#comment to the end"), CNNVIS_ERR_FORMAT, "binary: a comment running to the end"},
        {LIT("P6\n2 1\n255\n\1\2\3\4\5"), CNNVIS_ERR_FORMAT, "binary raster one byte short"},
        {LIT("P5\n2 1\n65535\n\0\1\0"), CNNVIS_ERR_FORMAT, "16-bit raster one byte short"},
        {LIT("P5\n2 1\n"), CNNVIS_ERR_FORMAT, "no maxval"},
        {LIT("P5\n2"), CNNVIS_ERR_FORMAT, "no height"},
        {LIT("\xff\xd8\xff\xe0"), CNNVIS_ERR_FORMAT, "a JPEG cut after its first marker (tests/test_jpeg.c has the rest)"},
        {LIT("GIF89a"), CNNVIS_ERR_FORMAT, "a GIF"},
    };
    size_t k;
    for (k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        alloc_max_request = 0;
        check_refused(cases[k].data, cases[k].size, cases[k].code, cases[k].what);
        /* refused from the header alone: nothing image-sized was allocated */
        CHECK(alloc_max_request < 4096, "%s: %zu bytes were allocated before refusing", cases[k].what, alloc_max_request);
    }
    {
        cnnvis_image im;
        cnnvis_result r;
        memset(&im, 0x5a, sizeof im);
        cnnvis_clear_error();
        r = cnnvis__image_read_memory(&im, NULL, 10);
        CHECK(r == CNNVIS_ERR_ARG && has_message() && is_zeroed(&im), "NULL data: %s", cnnvis_result_str(r));
        cnnvis_clear_error();
        r = cnnvis__image_read_memory(NULL, "P5 1 1 255 x", 12);
        CHECK(r == CNNVIS_ERR_ARG && has_message(), "NULL image: %s", cnnvis_result_str(r));
        cnnvis_clear_error();
        r = cnnvis_image_read(&im, tmp_path("does-not-exist.ppm"));
        CHECK(r == CNNVIS_ERR_IO && has_message() && is_zeroed(&im), "missing file: %s", cnnvis_result_str(r));
        cnnvis_clear_error();
        r = cnnvis_image_read(&im, TMP_DIR);
        CHECK(r == CNNVIS_ERR_IO && has_message() && is_zeroed(&im), "a directory: %s", cnnvis_result_str(r));
        cnnvis_clear_error();
        r = cnnvis_image_read(&im, NULL);
        CHECK(r == CNNVIS_ERR_ARG && has_message(), "NULL path: %s", cnnvis_result_str(r));
    }
}

/* Every proper prefix of a valid file is refused (binary files: all of them; ascii: every
   prefix that ends before the last sample begins). */
static void test_pnm_truncated(void)
{
    static const char p6[] = "P6 # a comment\n5 3\n255\n"
                             "\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10\x11\x12\x13\x14\x15\x16"
                             "\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f\x20\x21\x22\x23\x24\x25\x26\x27\x28\x29\x2a\x2b\x2c";
    static const char p5_16[] = "P5\n3 2\n65535\n\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b";
    static const char p3[] = "P3\n2 2\n255\n0 10 200 255 7 8 9 10 11 12 13 140\n";
    const struct {
        const char *data;
        size_t size, refuse_below; /* prefixes shorter than this must be refused */
    } files[] = {{p6, sizeof p6 - 1, sizeof p6 - 1}, {p5_16, sizeof p5_16 - 1, sizeof p5_16 - 1}, {p3, sizeof p3 - 1, 0}};
    size_t f, len;
    for (f = 0; f < 3; f++) { /* the whole files are valid */
        cnnvis_image im;
        cnnvis_result r = read_exact(&im, files[f].data, files[f].size);
        CHECK(r == CNNVIS_OK, "file %zu: %s", f, cnnvis_last_error());
        if (r == CNNVIS_OK) cnnvis_image_free(&im);
    }
    for (f = 0; f < 3; f++) {
        size_t limit = files[f].refuse_below ? files[f].refuse_below : (size_t)(strstr(p3, "140\n") - p3) + 1;
        size_t refused = 0;
        for (len = 0; len < limit; len++) {
            cnnvis_image im;
            cnnvis_result r = read_exact(&im, files[f].data, len);
            if (r != CNNVIS_OK && has_message() && is_zeroed(&im)) refused++;
            else CHECK(0, "file %zu cut to %zu of %zu bytes: %s, message \"%s\"", f, len, files[f].size, cnnvis_result_str(r),
                       cnnvis_last_error());
            if (r == CNNVIS_OK) cnnvis_image_free(&im);
        }
        CHECK(refused == limit, "file %zu: %zu of %zu prefixes refused", f, refused, limit);
    }
}

/* A P2 header may ask for up to 2^26 pixels before the samples are read; the reader then fails
   cleanly when they are missing (this allocates the image: 64 MB here). */
static void test_pnm_ascii_large_header(void)
{
    static const char p2[] = "P2\n8192 8192\n255\n1 2 3\n";
    cnnvis_image im;
    cnnvis_result r = read_exact(&im, p2, sizeof p2 - 1);
    CHECK(r == CNNVIS_ERR_FORMAT && has_message() && is_zeroed(&im), "8192x8192 ascii with 3 samples: %s", cnnvis_result_str(r));
}

/* --- PNG: the writer, checked by the independent decoder above ----------------------------- */

/* Pictures that take the encoder down each of its paths. */
enum { T_PATTERN, T_FLAT, T_CHECKER, T_VGRAD, T_HGRAD, T_GRAIN, T_NOISE, T_PERIOD, T_RUNS, T_KINDS };
static const char *const t_kind_name[T_KINDS] = {"pattern",    "flat",  "checkerboard", "vertical gradient", "horizontal gradient",
                                                 "grain", "noise", "periodic rows", "runs"};

/* A picture of kind (a and b its parameters: see the cases in test_png_encode) */
static int make_case(cnnvis_image *im, int kind, int w, int h, int c, int a, int b)
{
    size_t row = (size_t)w * c, i;
    int x, y, ch;
    if (kind == T_PATTERN) return make_image(im, w, h, c, (unsigned)a);
    if (cnnvis_image_create(im, w, h, c) != CNNVIS_OK) return 0;
    for (y = 0; y < h; y++)
        for (x = 0; x < w; x++)
            for (ch = 0; ch < c; ch++) {
                unsigned char *p = im->px + (size_t)y * row + (size_t)x * c + ch;
                switch (kind) {
                case T_FLAT: *p = (unsigned char)a; break;
                case T_CHECKER: /* squares of side a, two colours */
                    *p = (unsigned char)(((x / a + y / a) & 1) ? 200 - 70 * ch : 30 + 90 * ch);
                    break;
                case T_VGRAD: *p = (unsigned char)(y * 255 / (h > 1 ? h - 1 : 1) + 60 * ch); break;
                case T_HGRAD: *p = (unsigned char)(x * 255 / (w > 1 ? w - 1 : 1) + 60 * ch); break;
                case T_GRAIN: /* a gentle diagonal gradient with film grain: the average predicts it best */
                    *p = (unsigned char)(60 + (x + y) * 100 / (w + h) + 30 * ch + (int)(t_rand() % 13));
                    break;
                default: *p = (unsigned char)t_rand(); break; /* noise; T_PERIOD and T_RUNS: overwritten below */
                }
            }
    if (kind == T_PERIOD) /* rows of noise repeated every a rows; if b != a, the lower half (other noise) every b rows */
        for (y = 0; y < h; y++) {
            int lower = a != b && y >= h / 2, start = lower ? h / 2 : 0, period = lower ? b : a;
            if (y - period >= start) memcpy(im->px + (size_t)y * row, im->px + (size_t)(y - period) * row, row);
        }
    if (kind == T_RUNS) /* runs of 1 to 1200 pixels of one colour, across the rows */
        for (i = 0; i < (size_t)w * h;) {
            size_t len = 1 + t_rand() % 1200, k;
            unsigned char colour[3];
            colour[0] = (unsigned char)t_rand(), colour[1] = (unsigned char)t_rand(), colour[2] = (unsigned char)t_rand();
            for (k = 0; k < len && i < (size_t)w * h; k++, i++) memcpy(im->px + i * c, colour, (size_t)c);
        }
    return 1;
}

/* Each picture encoded, then decoded by the independent decoder and by the library's reader,
   both of which must give its pixels back. Sizes: a flat picture under 1% of its pixel
   bytes, noise at most 1.13 times them + 100 (a fixed-code literal takes 8 or 9 bits),
   nothing more than 1.13 times its filtered bytes + 100. Every filter but none must be
   chosen somewhere (the encoder picks per row the one with the smallest sum of |signed
   byte|): a vertical gradient wants Paeth, a horizontal one up, grain average, the first
   row sub. Matches: runs longer than 258 bytes split, rows repeated 15 rows of 2101 bytes
   (31515) back found, and 32 rows of 1024 (exactly the 32768-byte window) too, while rows
   repeated 16 rows (33616 bytes) back cannot be, nor 33 rows of 993 (32769 bytes: a window
   one byte too long would write a distance the fixed code cannot hold). */
static void test_png_encode(void)
{
    static const struct {
        int kind, w, h, c, a, b;
    } fixed_cases[] = {
        {T_PATTERN, 1, 1, 1, 0, 0},     {T_PATTERN, 7, 3, 1, 1, 0},     {T_PATTERN, 33, 17, 1, 2, 0}, {T_PATTERN, 254, 257, 1, 3, 0},
        {T_PATTERN, 255, 256, 1, 4, 0}, {T_PATTERN, 300, 250, 1, 5, 0}, {T_PATTERN, 1, 1, 3, 6, 0},  {T_PATTERN, 7, 3, 3, 7, 0},
        {T_PATTERN, 33, 17, 3, 8, 0},   {T_PATTERN, 200, 150, 3, 9, 0}, {T_FLAT, 640, 480, 3, 77, 0}, {T_FLAT, 2000, 100, 1, 0, 0},
        {T_CHECKER, 256, 192, 3, 8, 0}, {T_CHECKER, 101, 60, 1, 1, 0},  {T_VGRAD, 300, 200, 1, 0, 0}, {T_VGRAD, 120, 256, 3, 0, 0},
        {T_HGRAD, 256, 100, 3, 0, 0},   {T_HGRAD, 500, 40, 1, 0, 0},    {T_GRAIN, 200, 150, 3, 0, 0}, {T_NOISE, 256, 256, 3, 0, 0},
        {T_NOISE, 300, 100, 1, 0, 0},   {T_PERIOD, 700, 300, 3, 15, 16}, {T_PERIOD, 1023, 100, 1, 32, 32},
        {T_PERIOD, 992, 100, 1, 33, 33},
        {T_RUNS, 1500, 60, 3, 0, 0}};
    enum { N_FIXED = sizeof fixed_cases / sizeof fixed_cases[0], N_RANDOM = 8 };
    long filter_rows[5] = {0, 0, 0, 0, 0};
    char filter_where[5][400];
    int k, f;
    memset(filter_where, 0, sizeof filter_where);
    t_rng_state = 2024;
    for (k = 0; k < N_FIXED + N_RANDOM; k++) {
        cnnvis_image im, mine, back;
        t_png_info info;
        unsigned char *png = NULL;
        size_t size = 0, pixels, filtered;
        const char *why;
        char name[64];
        int kind, w, h, c, a, b;
        if (k < N_FIXED) {
            kind = fixed_cases[k].kind, w = fixed_cases[k].w, h = fixed_cases[k].h, c = fixed_cases[k].c;
            a = fixed_cases[k].a, b = fixed_cases[k].b;
            snprintf(name, sizeof name, "%s", t_kind_name[kind]);
        } else { /* random sizes and kinds (not periodic rows: they need their sizes) */
            static const int kinds[] = {T_PATTERN, T_FLAT, T_CHECKER, T_VGRAD, T_HGRAD, T_GRAIN, T_NOISE, T_RUNS};
            kind = kinds[t_rand() % 8], w = 1 + (int)(t_rand() % 400), h = 1 + (int)(t_rand() % 150), c = t_rand() % 2 ? 3 : 1;
            a = kind == T_FLAT ? (int)(t_rand() % 256) : kind == T_CHECKER ? 1 + (int)(t_rand() % 16) : (int)(t_rand() % 100);
            b = 0;
            snprintf(name, sizeof name, "random %d (%s)", k - N_FIXED + 1, t_kind_name[kind]);
        }
        REQUIRE(make_case(&im, kind, w, h, c, a, b), "%s: %s", name, cnnvis_last_error());
        pixels = (size_t)w * h * c, filtered = (size_t)h * ((size_t)w * c + 1);
        REQUIRE(cnnvis__png_encode(&im, &png, &size) == CNNVIS_OK, "%s %dx%dx%d: encode: %s", name, w, h, c, cnnvis_last_error());
        why = t_png_decode(png, size, &mine, &info);
        CHECK(why == NULL, "%s %dx%dx%d: the independent decoder says: %s", name, w, h, c, why);
        CHECK(why != NULL || same_image(&im, &mine), "%s %dx%dx%d: the independent decoder reads other pixels", name, w, h, c);
        CHECK(why != NULL || info.zlib_header == 0x7801, "%s: zlib header %04x", name, info.zlib_header);
        CHECK(read_exact(&back, png, size) == CNNVIS_OK, "%s %dx%dx%d: library decode: %s", name, w, h, c, cnnvis_last_error());
        CHECK(same_image(&im, &back), "%s %dx%dx%d: library round trip differs", name, w, h, c);
        CHECK(size <= filtered + filtered / 100 * 13 + 100, "%s %dx%dx%d: %zu bytes for %zu filtered bytes", name, w, h, c, size,
              filtered);
        if (kind == T_FLAT && k < N_FIXED)
            CHECK(size * 100 < pixels, "%s %dx%dx%d: %zu bytes, not under 1%% of its %zu", name, w, h, c, size, pixels);
        if (kind == T_NOISE)
            CHECK(size <= pixels + pixels / 100 * 13 + 100, "%s %dx%dx%d: %zu bytes for %zu", name, w, h, c, size, pixels);
        if (kind == T_RUNS && k < N_FIXED)
            CHECK(info.len258 > 0 && info.max_len == 258, "%s: %ld matches of 258 bytes, the longest %d", name, info.len258,
                  info.max_len);
        if (kind == T_PERIOD) {
            int reach = a * (w * c + 1); /* the distance of the repeated rows in the filtered bytes */
            if (reach <= 32768) {
                CHECK(info.max_dist >= reach, "%s %dx%dx%d: farthest match %d bytes back, rows repeat %d back", name, w, h, c,
                      info.max_dist, reach);
                /* all but the first a + 1 rows come out as matches (1023x100: about 36% of the pixel bytes); with the lower
                   half's rows out of reach (700x300), the upper half only: about 60% */
                CHECK(size < pixels / 100 * (a == b ? 45 : 65), "%s %dx%dx%d: %zu bytes of %zu", name, w, h, c, size, pixels);
            } else { /* one byte out of the window: noise that nothing within reach repeats */
                CHECK(size > pixels, "%s %dx%dx%d: %zu bytes of %zu", name, w, h, c, size, pixels);
            }
        }
        if (!why) {
            printf("  %-28s %4dx%-4d x%d %7zu -> %6zu bytes (%6.2f%%); rows by filter %ld/%ld/%ld/%ld/%ld; %ld matches "
                   "(%ld of 258), farthest %d\n",
                   name, w, h, c, pixels, size, 100.0 * (double)size / (double)pixels, info.filters[0], info.filters[1],
                   info.filters[2], info.filters[3], info.filters[4], info.matches, info.len258, info.max_dist);
            for (f = 0; f < 5; f++)
                if (info.filters[f]) {
                    size_t used = strlen(filter_where[f]);
                    filter_rows[f] += info.filters[f];
                    if (!has(filter_where[f], t_kind_name[kind]) && used + strlen(t_kind_name[kind]) + 3 < sizeof filter_where[f])
                        snprintf(filter_where[f] + used, sizeof filter_where[f] - used, "%s%s", used ? ", " : "", t_kind_name[kind]);
                }
        }
        cnnvis__free(png);
        cnnvis_image_free(&im), cnnvis_image_free(&mine), cnnvis_image_free(&back);
    }
    for (f = 0; f < 5; f++) {
        static const char *const filter_name[5] = {"none", "sub", "up", "average", "Paeth"};
        printf("  filter %d (%s): %ld rows, in %s\n", f, filter_name[f], filter_rows[f], f && !filter_rows[f] ? "NONE" : filter_where[f]);
        if (f) CHECK(filter_rows[f] > 0, "the encoder never chose filter %d (%s)", f, filter_name[f]);
    }
    { /* a stream of both kinds of block: an empty stored block (not the last) put before the
         encoder's fixed-Huffman block; both decoders must read it the same */
        cnnvis_image im, mine, back;
        t_png_info info;
        t_chunk ch[T_MAX_CHUNKS];
        unsigned char *png = NULL, *mixed, *z;
        size_t size = 0;
        int n;
        const char *why;
        REQUIRE(make_case(&im, T_CHECKER, 40, 30, 3, 4, 0), "%s", cnnvis_last_error());
        REQUIRE(cnnvis__png_encode(&im, &png, &size) == CNNVIS_OK, "%s", cnnvis_last_error());
        n = t_chunks_parse(png, size, ch);
        REQUIRE(n == 3 && strcmp(ch[1].type, "IDAT") == 0, "%d chunks", n);
        z = (unsigned char *)malloc(ch[1].len + 5);
        REQUIRE(z, "malloc");
        memcpy(z, ch[1].data, 2), memcpy(z + 2, "\x00\x00\x00\xff\xff", 5), memcpy(z + 7, ch[1].data + 2, ch[1].len - 2);
        free(ch[1].data), ch[1].data = z, ch[1].len += 5;
        mixed = t_chunks_build(ch, n, &size);
        REQUIRE(mixed, "malloc");
        why = t_png_decode(mixed, size, &mine, &info);
        CHECK(why == NULL && same_image(&im, &mine), "stored + fixed: the independent decoder: %s", why ? why : "other pixels");
        CHECK(info.stored_blocks == 1 && info.fixed_blocks == 1, "stored + fixed: %d stored, %d fixed blocks seen", info.stored_blocks,
              info.fixed_blocks);
        CHECK(read_exact(&back, mixed, size) == CNNVIS_OK && same_image(&im, &back), "stored + fixed: the library: %s",
              cnnvis_last_error());
        free(mixed), t_chunks_free(ch, n), cnnvis__free(png);
        cnnvis_image_free(&im), cnnvis_image_free(&mine), cnnvis_image_free(&back);
    }
    {
        cnnvis_image bad;
        unsigned char *png = (unsigned char *)"untouched";
        size_t size = 7;
        memset(&bad, 0, sizeof bad);
        bad.w = 2, bad.h = 2, bad.c = 2, bad.px = (unsigned char *)"abcdefgh";
        cnnvis_clear_error();
        CHECK(cnnvis__png_encode(&bad, &png, &size) == CNNVIS_ERR_ARG && has_message(), "2 channels accepted");
        CHECK(png == NULL && size == 0, "outputs not cleared on failure");
        CHECK(cnnvis__png_encode(NULL, &png, &size) == CNNVIS_ERR_ARG, "NULL image accepted");
        bad.c = 1, bad.px = NULL;
        CHECK(cnnvis__png_encode(&bad, &png, &size) == CNNVIS_ERR_ARG, "NULL pixels accepted");
        CHECK(cnnvis__pnm_encode(&bad, 0, 255, &png, &size) == CNNVIS_ERR_ARG, "pnm: NULL pixels accepted");
        bad.px = (unsigned char *)"abcd";
        CHECK(cnnvis__pnm_encode(&bad, 0, 65536, &png, &size) == CNNVIS_ERR_ARG, "pnm: maxval 65536 accepted");
        CHECK(cnnvis__pnm_encode(&bad, 0, -1, &png, &size) == CNNVIS_ERR_ARG, "pnm: maxval -1 accepted");
    }
}

/* ASCII PNM of samples that all have five digits: every sample is "65535" and its separator
   (6 bytes), so the output is as long as the encoder's worst case. */
static void test_pnm_encode_worst_case(void)
{
    cnnvis_image im, back;
    unsigned char *buf = NULL;
    size_t size = 0, i;
    int c;
    heap_overruns = 0;
    for (c = 1; c <= 3; c += 2) {
        REQUIRE(cnnvis_image_create(&im, 5, 4, c) == CNNVIS_OK, "%s", cnnvis_last_error());
        for (i = 0; i < (size_t)5 * 4 * c; i++) im.px[i] = 255;
        REQUIRE(cnnvis__pnm_encode(&im, 1, 65535, &buf, &size) == CNNVIS_OK, "%s", cnnvis_last_error());
        CHECK(size == (size_t)snprintf(NULL, 0, "P2\n5 4\n65535\n") + (size_t)5 * 4 * c * 6, "%zu bytes", size);
        CHECK(read_exact(&back, buf, size) == CNNVIS_OK && same_image(&im, &back), "round trip: %s", cnnvis_last_error());
        cnnvis__free(buf);
        CHECK(heap_overruns == 0, "ascii maxval 65535, %d channel(s): the encoder wrote past the end of its %zu-byte buffer", c,
              heap_overrun_size);
        heap_overruns = 0;
        cnnvis_image_free(&im), cnnvis_image_free(&back);
    }
}

/* Every block the library freed during the run still had its canary. */
static void test_no_heap_overruns(void)
{
    CHECK(heap_overruns == 0, "%zu library buffers were written past their end (the last of %zu bytes)", heap_overruns,
          heap_overrun_size);
}

/* --- PNG: files from elsewhere ------------------------------------------------------------- */

static const unsigned char png_grey8[1549] = {
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x40, 0x00, 0x00, 0x00, 0x40, 0x08, 0x00, 0x00, 0x00, 0x00, 0x8f, 0x02, 0x2e,
    0x02, 0x00, 0x00, 0x05, 0xd4, 0x49, 0x44, 0x41, 0x54, 0x78, 0xda, 0xad, 0x96, 0x0d, 0x4c, 0x13,
    0x57, 0x00, 0xc7, 0xdf, 0x41, 0x81, 0xf2, 0x55, 0x3e, 0x5a, 0xa0, 0x94, 0x16, 0x6a, 0x81, 0xb6,
    0x94, 0x2b, 0x94, 0x02, 0xa5, 0xf4, 0x5a, 0x60, 0x19, 0x23, 0x88, 0xc4, 0x30, 0x87, 0xb3, 0x23,
    0x0e, 0x18, 0x43, 0x57, 0x23, 0x33, 0x0c, 0x19, 0x36, 0x8b, 0x1a, 0x3f, 0x2a, 0xa8, 0x21, 0x5b,
    0x45, 0xa8, 0xf8, 0x81, 0xeb, 0xa0, 0x7c, 0x88, 0x8e, 0x0f, 0x6d, 0x0c, 0x2e, 0x84, 0x31, 0x34,
    0x19, 0x2a, 0x4e, 0x24, 0xce, 0x91, 0xd8, 0x68, 0x31, 0xc6, 0x30, 0x46, 0xb0, 0xcb, 0x60, 0x3a,
    0x86, 0xba, 0x5e, 0xdb, 0xb3, 0x80, 0x05, 0x97, 0x5c, 0x7f, 0xc9, 0xbd, 0xf7, 0xae, 0x97, 0x5c,
    0xfe, 0xf9, 0xe5, 0xff, 0xae, 0x0f, 0x00, 0x9c, 0x40, 0x00, 0xc2, 0x87, 0x0b, 0x80, 0x5c, 0x5c,
    0x09, 0x6e, 0xee, 0x1e, 0x44, 0x4f, 0x2f, 0x6f, 0x1f, 0x5f, 0x92, 0x9f, 0x7f, 0x40, 0x20, 0x99,
    0x12, 0x14, 0x1c, 0x42, 0x0d, 0xa5, 0x85, 0xd1, 0x19, 0xe1, 0x11, 0xcc, 0x35, 0xac, 0xc8, 0xa8,
    0x68, 0x36, 0x87, 0x1b, 0xc3, 0x8b, 0x85, 0xf9, 0x71, 0xf1, 0x82, 0x04, 0x61, 0x62, 0x52, 0xb2,
    0x28, 0x45, 0x9c, 0x2a, 0x41, 0xa4, 0xb2, 0xb4, 0x74, 0x57, 0xe0, 0xe2, 0xea, 0x4a, 0x20, 0xb8,
    0xb9, 0xb9, 0xbb, 0x7b, 0x78, 0x10, 0x89, 0x9e, 0x9e, 0x5e, 0x5e, 0xde, 0xde, 0x3e, 0x3e, 0xbe,
    0xbe, 0x24, 0x92, 0x9f, 0x9f, 0xbf, 0x7f, 0x40, 0x40, 0x60, 0x20, 0x99, 0x4c, 0xa1, 0x04, 0x05,
    0x05, 0x07, 0x87, 0x84, 0x50, 0xa9, 0xa1, 0xa1, 0x34, 0x5a, 0x58, 0x18, 0x9d, 0xce, 0x60, 0x84,
    0x87, 0x47, 0x44, 0x30, 0x99, 0x6b, 0xd6, 0x10, 0x2c, 0x09, 0x70, 0x00, 0x80, 0x9b, 0x97, 0x1f,
    0x25, 0x34, 0x3c, 0x92, 0xcb, 0x17, 0xa6, 0x48, 0xdf, 0xc9, 0x5a, 0x97, 0xb7, 0xb1, 0xa0, 0xa8,
    0x74, 0xdb, 0x8e, 0x9d, 0xca, 0x3d, 0x07, 0x6a, 0x6a, 0x8f, 0x69, 0x4e, 0x6b, 0x5b, 0x3b, 0xbb,
    0xf5, 0x57, 0x06, 0xae, 0x0e, 0xdf, 0x1a, 0xfb, 0xcd, 0x30, 0xf1, 0xe4, 0x0f, 0xd3, 0xdc, 0xfc,
    0x2b, 0x82, 0x27, 0x89, 0x4c, 0x65, 0xb0, 0x38, 0x70, 0x82, 0x08, 0x81, 0x80, 0x3b, 0x3e, 0x9c,
    0x20, 0xf1, 0x6d, 0xfe, 0x1a, 0x1a, 0x34, 0x1a, 0xc7, 0xfe, 0x58, 0xac, 0xc8, 0xc8, 0x28, 0x82,
    0x3d, 0x81, 0x63, 0x98, 0x9e, 0xab, 0x03, 0x80, 0x17, 0x25, 0x9c, 0x2b, 0x94, 0x66, 0xe5, 0x15,
    0x94, 0xee, 0x50, 0x1e, 0xa8, 0xd5, 0x68, 0x3b, 0xf5, 0x03, 0xc3, 0x63, 0x86, 0x27, 0xa6, 0x79,
    0x02, 0x89, 0xca, 0x82, 0x45, 0x19, 0x39, 0xf9, 0x85, 0x8a, 0x8a, 0xdd, 0xd5, 0xea, 0x53, 0xba,
    0xae, 0xbe, 0xa1, 0x91, 0x7b, 0xc6, 0xa9, 0xd9, 0x97, 0xc4, 0x40, 0x3a, 0x5b, 0x20, 0xc9, 0x5c,
    0x2f, 0x2f, 0x29, 0xab, 0x82, 0x80, 0x37, 0x3e, 0x9c, 0x20, 0xd1, 0x91, 0xbf, 0x63, 0x0e, 0xfa,
    0x77, 0xfa, 0xcc, 0x72, 0x7f, 0x51, 0xd1, 0xad, 0x6d, 0x6d, 0x84, 0x65, 0x09, 0x2c, 0x50, 0x48,
    0x6f, 0xc2, 0x75, 0xf0, 0x9b, 0xd4, 0x7c, 0x01, 0xe0, 0x17, 0xce, 0x97, 0xae, 0x2b, 0xd8, 0xa6,
    0xac, 0xd1, 0xb4, 0xea, 0xaf, 0x8e, 0x4d, 0x98, 0x5e, 0x91, 0x18, 0x30, 0x92, 0xf3, 0x91, 0x62,
    0x57, 0x75, 0x83, 0xee, 0xd2, 0xd0, 0x1d, 0xe3, 0xd3, 0x97, 0xbe, 0xf4, 0x58, 0xc9, 0x5a, 0xf9,
    0x67, 0x55, 0x87, 0xea, 0x5b, 0x2e, 0xfe, 0x34, 0xfa, 0x70, 0xe6, 0x85, 0x4f, 0x18, 0x2f, 0x35,
    0x7b, 0xd3, 0xd6, 0x2f, 0x55, 0xc7, 0x9b, 0x7b, 0x21, 0xe0, 0x8f, 0x0f, 0x27, 0x48, 0x5c, 0x75,
    0xff, 0x36, 0x2e, 0xe9, 0xdf, 0xb7, 0x5a, 0xbb, 0xbf, 0x68, 0x76, 0x5b, 0x7b, 0x3b, 0x97, 0x1b,
    0xb3, 0x5c, 0x22, 0x19, 0x4d, 0xf0, 0x1a, 0x06, 0x79, 0x31, 0xb1, 0x4b, 0xee, 0x52, 0xad, 0x13,
    0x00, 0x14, 0xae, 0x34, 0xaf, 0x54, 0x59, 0xab, 0xd5, 0x0f, 0x1b, 0x4c, 0x04, 0x2a, 0x9c, 0x91,
    0xaf, 0xd8, 0xad, 0xd6, 0xf5, 0x8d, 0x18, 0x67, 0x89, 0x74, 0x41, 0xa6, 0xbc, 0x6c, 0x5f, 0x7d,
    0x47, 0xff, 0xe8, 0xe3, 0xe7, 0x3e, 0xcc, 0xa4, 0xec, 0xcd, 0xe5, 0xaa, 0xc6, 0x0b, 0x83, 0x77,
    0x27, 0x17, 0xfc, 0xa3, 0xc4, 0xb9, 0xc5, 0x95, 0x87, 0xcf, 0xf4, 0x5c, 0x1b, 0x9f, 0x86, 0x40,
    0x10, 0x3e, 0x9c, 0x20, 0x71, 0x91, 0xbf, 0xba, 0xb7, 0x7c, 0xff, 0x58, 0xac, 0x16, 0xab, 0x3f,
    0x36, 0x87, 0xc3, 0xed, 0x38, 0x17, 0xc3, 0xe3, 0xc5, 0xc6, 0x2e, 0x91, 0x48, 0xb5, 0x27, 0xa0,
    0xda, 0x61, 0xd9, 0x97, 0x7c, 0xfb, 0x52, 0x6c, 0x9b, 0x01, 0x08, 0x15, 0xae, 0x2b, 0xdd, 0xa3,
    0xe9, 0x1e, 0x9e, 0x98, 0x27, 0xc3, 0xef, 0x15, 0xee, 0x52, 0x9f, 0x1b, 0xba, 0x3f, 0xeb, 0xcb,
    0x4e, 0x97, 0x7f, 0x71, 0xb4, 0xa5, 0xff, 0xd7, 0x19, 0x0f, 0x66, 0xea, 0x86, 0xed, 0xaa, 0xa6,
    0xcb, 0xb7, 0x27, 0x21, 0x5a, 0x62, 0xee, 0x96, 0xbd, 0x27, 0x7a, 0xae, 0x3f, 0xfa, 0x97, 0xc2,
    0xcf, 0x2a, 0x52, 0x1e, 0xeb, 0xbc, 0x6a, 0x98, 0x23, 0x71, 0x20, 0x40, 0xc3, 0x87, 0x13, 0x24,
    0xbe, 0xee, 0xdf, 0x71, 0xcc, 0x5f, 0xe3, 0x4a, 0xdf, 0x3f, 0xb3, 0xbf, 0x36, 0xd4, 0x1f, 0x37,
    0x26, 0x86, 0xd7, 0x19, 0x1b, 0x0b, 0xc3, 0x7c, 0x7e, 0xdc, 0x22, 0x89, 0x0c, 0x2c, 0x01, 0x03,
    0x4b, 0xc0, 0xc0, 0x88, 0xc6, 0x16, 0x71, 0xd8, 0x22, 0x05, 0x5b, 0x00, 0x10, 0x2e, 0x2d, 0x50,
    0x6a, 0xf4, 0x63, 0x26, 0x12, 0x9c, 0xa3, 0xa8, 0xd6, 0x0d, 0x19, 0x5f, 0xd2, 0x25, 0xf2, 0xaa,
    0xfa, 0x8b, 0xa3, 0x33, 0x3e, 0xbc, 0xec, 0xad, 0xaa, 0xe6, 0xc1, 0x07, 0x0b, 0x34, 0xf1, 0x87,
    0x95, 0x75, 0x3d, 0xbf, 0x4c, 0x7b, 0x71, 0xb3, 0x4a, 0x0f, 0x68, 0x07, 0x0c, 0xf3, 0x54, 0x51,
    0x7e, 0x85, 0xba, 0x6b, 0x64, 0x8a, 0xc8, 0xce, 0x2c, 0x81, 0x40, 0x04, 0x3e, 0x9c, 0x20, 0x11,
    0xfb, 0xff, 0xb0, 0xf5, 0xef, 0xa4, 0xcd, 0x5f, 0x93, 0xcd, 0xdf, 0x77, 0xf6, 0xfd, 0x8b, 0xf9,
    0xe3, 0xd9, 0xfc, 0xc5, 0xc5, 0xc7, 0x0b, 0x04, 0x84, 0x95, 0x12, 0xb0, 0x6c, 0x09, 0x58, 0xe6,
    0x17, 0x98, 0xe1, 0xb0, 0xac, 0xc4, 0xdb, 0xe6, 0x14, 0xdb, 0x9c, 0x0e, 0x40, 0x64, 0xd6, 0xb6,
    0xda, 0xee, 0xb1, 0x39, 0x2a, 0x52, 0xb8, 0x5f, 0xf7, 0xf3, 0x94, 0xaf, 0xe0, 0x83, 0xaa, 0x93,
    0xfd, 0x0f, 0x5d, 0xa2, 0xb3, 0xb7, 0x7f, 0xdd, 0x7b, 0xf7, 0x19, 0x4d, 0x56, 0x7c, 0xb0, 0xed,
    0xfa, 0xb4, 0x9f, 0x70, 0xa3, 0xf2, 0xf4, 0xc0, 0x04, 0x81, 0x93, 0xf3, 0xb9, 0xfa, 0xd2, 0xbd,
    0x7f, 0xe8, 0xe9, 0x25, 0x87, 0x3a, 0x6e, 0xce, 0x04, 0x24, 0x6d, 0xfa, 0xaa, 0x09, 0x02, 0x51,
    0xf8, 0x70, 0x82, 0x44, 0x6b, 0xff, 0x4e, 0x58, 0xf7, 0xef, 0x29, 0x6b, 0xff, 0xce, 0x2e, 0xeb,
    0xdf, 0x9b, 0xfe, 0xba, 0xcd, 0xfe, 0x12, 0x12, 0x84, 0x17, 0x13, 0x1d, 0x4b, 0xe4, 0x2c, 0x4e,
    0xc0, 0xb1, 0x24, 0xe0, 0xc4, 0x70, 0x2c, 0x08, 0x2c, 0xa3, 0xc8, 0x7a, 0x23, 0xe3, 0x70, 0x00,
    0xe0, 0xe6, 0x29, 0xb5, 0xc3, 0x26, 0x6a, 0x86, 0x42, 0xdd, 0x67, 0x24, 0x0a, 0xe4, 0xfb, 0x3a,
    0x46, 0x9f, 0x33, 0xb3, 0xcb, 0x1b, 0x07, 0x27, 0xfd, 0xc5, 0xc5, 0x87, 0x7b, 0xc6, 0xdf, 0xf6,
    0x1c, 0x02, 0x31, 0xf8, 0x70, 0x82, 0xc4, 0xe0, 0x55, 0xce, 0x2f, 0x2b, 0xf6, 0xcf, 0xec, 0x4f,
    0x98, 0x98, 0x98, 0x94, 0x94, 0x9c, 0x4c, 0xf8, 0x3f, 0x09, 0x60, 0x4b, 0x02, 0xd8, 0xfc, 0x02,
    0x18, 0x16, 0xa0, 0x03, 0x2c, 0xb2, 0x8c, 0x52, 0xf3, 0x05, 0x00, 0xbf, 0xa0, 0x46, 0x3f, 0x41,
    0x42, 0x14, 0x0d, 0x43, 0x4f, 0xe9, 0x6b, 0xab, 0x5a, 0x46, 0x5f, 0xf0, 0x36, 0xa9, 0x7a, 0x1f,
    0x78, 0x8b, 0xb7, 0xd4, 0xfd, 0x38, 0x1d, 0x9a, 0xb5, 0x53, 0x7b, 0x6b, 0x9e, 0x93, 0xbf, 0xbf,
    0xeb, 0x3e, 0x31, 0xb9, 0xe4, 0x9b, 0xfe, 0xdf, 0x83, 0xdf, 0x2d, 0x6f, 0xba, 0xf1, 0x2c, 0xea,
    0xfd, 0xbd, 0xe7, 0xc7, 0xdd, 0x84, 0x45, 0xb5, 0x57, 0x9e, 0x90, 0x21, 0x10, 0x87, 0x0f, 0x27,
    0x48, 0xb4, 0x9e, 0x5f, 0x96, 0xf5, 0xaf, 0x65, 0x65, 0x7f, 0xbd, 0xaf, 0xfd, 0x89, 0x44, 0x29,
    0x29, 0xe2, 0x15, 0x24, 0x26, 0x2c, 0x4b, 0x90, 0x80, 0x26, 0x48, 0xb0, 0x26, 0x40, 0x11, 0xa1,
    0x03, 0x82, 0x0e, 0x00, 0x08, 0x4b, 0x35, 0xc3, 0xf3, 0x70, 0xa1, 0x7a, 0x68, 0x96, 0x2d, 0x3f,
    0xda, 0x3f, 0xc3, 0xdc, 0xa0, 0xba, 0x3c, 0x49, 0xcb, 0xdd, 0xdb, 0xf3, 0x88, 0x92, 0xa5, 0xec,
    0x34, 0x90, 0x32, 0x2a, 0x74, 0xf7, 0x88, 0x92, 0xb2, 0xb3, 0xa3, 0x2e, 0x49, 0x5b, 0x1b, 0x6f,
    0x2c, 0xc4, 0x15, 0xd7, 0x5d, 0xfb, 0x9b, 0x5b, 0x50, 0x3b, 0x60, 0x62, 0xe5, 0x57, 0xf7, 0x4d,
    0xd1, 0xd7, 0x43, 0x20, 0x11, 0x1f, 0x4e, 0x90, 0x88, 0xf6, 0xaf, 0x09, 0xed, 0x9f, 0xe5, 0xfc,
    0xd2, 0x8c, 0xf6, 0xaf, 0x15, 0xf5, 0xd7, 0xbe, 0x5a, 0xff, 0x2c, 0xfe, 0xfa, 0x52, 0x53, 0x25,
    0x12, 0x87, 0x12, 0x45, 0x68, 0x02, 0xd1, 0x92, 0x04, 0x22, 0x34, 0x81, 0x08, 0x4d, 0x20, 0xb2,
    0x24, 0x30, 0x23, 0x41, 0x07, 0xf3, 0x37, 0x31, 0x65, 0x47, 0xab, 0x81, 0x9c, 0xb3, 0xbf, 0xef,
    0x29, 0xfb, 0xe3, 0xfa, 0x9b, 0x2e, 0xa9, 0xe5, 0xed, 0x0f, 0x82, 0x72, 0x0f, 0xfe, 0xf0, 0x27,
    0xb7, 0x48, 0x73, 0x8b, 0x80, 0x54, 0x9c, 0x33, 0x86, 0xac, 0x3f, 0xd4, 0xff, 0x17, 0xef, 0x93,
    0xc6, 0xdb, 0xee, 0xb2, 0xca, 0xf3, 0x8f, 0x42, 0xf3, 0x6a, 0x06, 0xe6, 0xe0, 0x4f, 0x4f, 0xdd,
    0x21, 0xa6, 0x57, 0x7d, 0xff, 0x38, 0x6c, 0xc3, 0x11, 0x08, 0x88, 0xf1, 0xe1, 0x04, 0x89, 0x98,
    0xbf, 0x66, 0x74, 0xff, 0xea, 0xd0, 0xf3, 0x1f, 0xda, 0x3f, 0xf4, 0xfc, 0x72, 0x1e, 0xf3, 0xd7,
    0x8d, 0xf9, 0xd3, 0x63, 0xfe, 0xc4, 0xa8, 0x3f, 0x04, 0x91, 0x4a, 0x65, 0x2b, 0x6d, 0x67, 0x64,
    0x71, 0x02, 0x04, 0x4b, 0x80, 0x98, 0x13, 0x20, 0x58, 0x02, 0xc4, 0x4c, 0x1a, 0x02, 0x80, 0x54,
    0xa9, 0x37, 0xc1, 0x0a, 0x9d, 0x91, 0x2e, 0xaf, 0x1f, 0xf5, 0xc9, 0x56, 0x0d, 0x2e, 0x88, 0x2b,
    0x7b, 0xa6, 0xb9, 0xa5, 0x5a, 0x03, 0x35, 0x5f, 0x3d, 0x42, 0xcc, 0xdc, 0xd7, 0xff, 0x3c, 0xa9,
    0xfc, 0xc2, 0x64, 0x54, 0xf1, 0x99, 0x71, 0x4a, 0x5e, 0xed, 0x30, 0x21, 0x63, 0x77, 0xdf, 0xac,
    0xa0, 0xac, 0xe3, 0x31, 0x73, 0x73, 0xe3, 0x5d, 0xff, 0xdc, 0xc3, 0xd7, 0x20, 0x20, 0xc3, 0x87,
    0x13, 0x24, 0x62, 0xfd, 0xc3, 0xfc, 0x75, 0xd8, 0xce, 0x2f, 0x17, 0xcc, 0xfe, 0xba, 0x1c, 0xf4,
    0xcf, 0xee, 0x4f, 0x96, 0x96, 0x96, 0x9e, 0xfe, 0x1f, 0x04, 0x65, 0x01, 0xce, 0x6f, 0x71, 0x31,
    0x30, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
};
static const unsigned char png_rgb8[160] = {
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x0b, 0x00, 0x00, 0x00, 0x07, 0x08, 0x02, 0x00, 0x00, 0x00, 0x51, 0x0c, 0x20,
    0x0a, 0x00, 0x00, 0x00, 0x67, 0x49, 0x44, 0x41, 0x54, 0x78, 0xda, 0x63, 0x60, 0x30, 0x4a, 0x61,
    0xb7, 0xcc, 0xe6, 0x73, 0x28, 0x12, 0x75, 0xaf, 0x94, 0xf1, 0x6b, 0x50, 0x0e, 0x6d, 0xd7, 0x8a,
    0xe9, 0x33, 0x4c, 0x9e, 0x6a, 0x91, 0x35, 0xc7, 0xbe, 0x70, 0xb1, 0x5b, 0xc5, 0x2a, 0x46, 0x66,
    0xd3, 0x74, 0x76, 0xbc, 0x80, 0x89, 0x99, 0x20, 0x60, 0x93, 0xb7, 0x60, 0xc5, 0x0b, 0x58, 0x08,
    0x1a, 0xc1, 0xc0, 0xef, 0x58, 0x2c, 0xe6, 0x51, 0x25, 0xeb, 0xdf, 0xa8, 0x12, 0xd6, 0xa1, 0x1d,
    0xdb, 0x6f, 0x94, 0x32, 0xcd, 0x32, 0x7b, 0xae, 0x43, 0xd1, 0x12, 0xf7, 0xca, 0xd5, 0x7e, 0x0d,
    0x9b, 0x42, 0xdb, 0x77, 0x32, 0x0a, 0xb9, 0x94, 0xe1, 0x77, 0x29, 0x00, 0xdb, 0xc3, 0x1c, 0xad,
    0xc8, 0xdd, 0x1d, 0x74, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
};
static const unsigned char png_palette[216] = {
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x0a, 0x00, 0x00, 0x00, 0x06, 0x08, 0x03, 0x00, 0x00, 0x00, 0xcd, 0x2e, 0xff,
    0xf4, 0x00, 0x00, 0x00, 0x30, 0x50, 0x4c, 0x54, 0x45, 0x00, 0xff, 0x00, 0x10, 0xef, 0x25, 0x20,
    0xdf, 0x4a, 0x30, 0xcf, 0x6f, 0x40, 0xbf, 0x94, 0x50, 0xaf, 0xb9, 0x60, 0x9f, 0xde, 0x70, 0x8f,
    0x03, 0x80, 0x7f, 0x28, 0x90, 0x6f, 0x4d, 0xa0, 0x5f, 0x72, 0xb0, 0x4f, 0x97, 0xc0, 0x3f, 0xbc,
    0xd0, 0x2f, 0xe1, 0xe0, 0x1f, 0x06, 0xf0, 0x0f, 0x2b, 0x06, 0xc2, 0xf3, 0x38, 0x00, 0x00, 0x00,
    0x13, 0x74, 0x45, 0x58, 0x74, 0x43, 0x6f, 0x6d, 0x6d, 0x65, 0x6e, 0x74, 0x00, 0x63, 0x6e, 0x6e,
    0x76, 0x69, 0x73, 0x20, 0x74, 0x65, 0x73, 0x74, 0x5f, 0x52, 0xd0, 0x00, 0x00, 0x00, 0x00, 0x0e,
    0x49, 0x44, 0x41, 0x54, 0x78, 0xda, 0x63, 0x60, 0x60, 0x64, 0x62, 0x66, 0x61, 0x65, 0x63, 0xe7,
    0xe0, 0x64, 0x63, 0x9c, 0x14, 0x54, 0x00, 0x00, 0x00, 0x0f, 0x49, 0x44, 0x41, 0x54, 0x64, 0x62,
    0x84, 0x01, 0x26, 0x04, 0x60, 0x66, 0x81, 0x33, 0x59, 0x60, 0x0a, 0x3e, 0x32, 0x6b, 0x63, 0x91,
    0xe3, 0x00, 0x00, 0x00, 0x0f, 0x49, 0x44, 0x41, 0x54, 0x32, 0x70, 0x71, 0xf3, 0xf0, 0xf2, 0xf1,
    0x83, 0x34, 0x03, 0x00, 0x22, 0x7e, 0x01, 0xb9, 0x00, 0xd8, 0x8a, 0x09, 0x00, 0x00, 0x00, 0x00,
    0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
};
static const unsigned char png_grey16[104] = {
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x09, 0x00, 0x00, 0x00, 0x05, 0x10, 0x00, 0x00, 0x00, 0x00, 0xe2, 0xa8, 0x45,
    0xf4, 0x00, 0x00, 0x00, 0x2f, 0x49, 0x44, 0x41, 0x54, 0x78, 0xda, 0x63, 0x60, 0x60, 0x60, 0xe7,
    0xe5, 0x93, 0x12, 0x55, 0x97, 0x31, 0x51, 0x76, 0xd4, 0xf2, 0x33, 0x8c, 0xb6, 0xc8, 0x60, 0x64,
    0x66, 0x65, 0xe7, 0x45, 0x85, 0x4c, 0xcc, 0xac, 0x18, 0x90, 0x8d, 0x8b, 0x95, 0x13, 0x15, 0xb2,
    0x60, 0xaa, 0x02, 0x00, 0x31, 0xf5, 0x04, 0x93, 0xa0, 0x16, 0x9e, 0x29, 0x00, 0x00, 0x00, 0x00,
    0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
};
static const unsigned char png_rgba8[181] = {
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x07, 0x00, 0x00, 0x00, 0x06, 0x08, 0x06, 0x00, 0x00, 0x00, 0x0f, 0x0e, 0x84,
    0x76, 0x00, 0x00, 0x00, 0x7c, 0x49, 0x44, 0x41, 0x54, 0x78, 0xda, 0x63, 0x60, 0x30, 0x4a, 0x61,
    0x60, 0xb7, 0xcc, 0x66, 0xe0, 0x73, 0x28, 0x62, 0x10, 0x75, 0xaf, 0x64, 0x90, 0xf1, 0x6b, 0x60,
    0x50, 0x0e, 0x6d, 0x67, 0xd0, 0x8a, 0xe9, 0x63, 0x60, 0x64, 0x36, 0x4d, 0x67, 0x60, 0x67, 0x67,
    0x17, 0xc4, 0x86, 0x99, 0x98, 0x99, 0x99, 0x19, 0x80, 0x58, 0x10, 0x88, 0x95, 0x80, 0xd8, 0x18,
    0x88, 0x5d, 0x80, 0x38, 0x14, 0x88, 0xd3, 0x98, 0xd9, 0xe4, 0x2d, 0x18, 0x58, 0x59, 0x59, 0x95,
    0x80, 0x58, 0x1b, 0x88, 0x8d, 0x81, 0xd8, 0x06, 0x88, 0x5d, 0x80, 0xd8, 0x97, 0x05, 0x87, 0x4e,
    0x10, 0x4e, 0x63, 0xe0, 0x77, 0x2c, 0x66, 0x10, 0xf3, 0xa8, 0x0a, 0x95, 0xf5, 0x6f, 0x5c, 0xa5,
    0x12, 0xd6, 0xf1, 0x5f, 0x3b, 0xb6, 0x3f, 0xc4, 0x28, 0x65, 0xda, 0x4a, 0xcb, 0xec, 0xb9, 0xff,
    0x00, 0x53, 0x24, 0x17, 0xa3, 0x66, 0xf1, 0xa8, 0x60, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e,
    0x44, 0xae, 0x42, 0x60, 0x82,
};
static const unsigned char png_ga8[98] = {
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x06, 0x00, 0x00, 0x00, 0x05, 0x08, 0x04, 0x00, 0x00, 0x00, 0xcc, 0x51, 0x55,
    0x6d, 0x00, 0x00, 0x00, 0x29, 0x49, 0x44, 0x41, 0x54, 0x78, 0xda, 0x63, 0x60, 0xf8, 0xcf, 0xfe,
    0x85, 0xef, 0xa5, 0xe8, 0x3d, 0x99, 0xcb, 0xca, 0x27, 0x18, 0x99, 0xff, 0xb3, 0x7f, 0x85, 0x41,
    0x26, 0x66, 0x06, 0x24, 0xc8, 0xd6, 0xc0, 0xfa, 0x1b, 0x06, 0x59, 0x90, 0x65, 0x00, 0xc3, 0xfd,
    0x11, 0x61, 0xd8, 0x8d, 0xfc, 0xce, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42,
    0x60, 0x82,
};
static const unsigned char png_rgb16[120] = {
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00, 0x04, 0x10, 0x02, 0x00, 0x00, 0x00, 0x99, 0xc1, 0xbe,
    0x54, 0x00, 0x00, 0x00, 0x3f, 0x49, 0x44, 0x41, 0x54, 0x78, 0xda, 0x63, 0x60, 0x60, 0x30, 0x62,
    0x4c, 0x61, 0x62, 0x97, 0xb5, 0x94, 0xcb, 0x96, 0xe7, 0xb3, 0x72, 0xb0, 0x2e, 0xb2, 0x11, 0x0d,
    0x77, 0x8f, 0xa8, 0x8c, 0x94, 0x29, 0xf1, 0x2b, 0x6d, 0x28, 0x63, 0x64, 0x66, 0x36, 0x65, 0x49,
    0x67, 0x65, 0x97, 0xc5, 0x0e, 0x99, 0x98, 0xf1, 0x03, 0x36, 0x36, 0x79, 0x76, 0x0b, 0x76, 0x56,
    0x01, 0xec, 0x10, 0x00, 0xd3, 0x70, 0x0b, 0x5e, 0x42, 0xa2, 0x1a, 0x72, 0x00, 0x00, 0x00, 0x00,
    0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
};

static int embedded_expected(int which, int x, int y, int c)
{
    switch (which) {
    case 0: return (x * y) & 255;
    case 1: return (x * 7 + y * 3 + c * 50) & 255;
    case 2: {
        int k = (x + 2 * y) % 16;
        return c == 0 ? k * 16 : c == 1 ? 255 - k * 16 : (k * 37) & 255;
    }
    case 3: return (int)floor((((x * 7 + y * 3) & 255) << 8 | ((x * 13 + y * 5) & 255)) * 255.0 / 65535.0 + 0.5);
    case 4: return (x * 7 + y * 3 + c * 50) & 255;
    case 5: return (x * 7 + y * 3) & 255;
    default: return (int)floor((((x * 7 + y * 3 + c * 50) & 255) << 8 | ((x * 29 + y * 3 + c) & 255)) * 255.0 / 65535.0 + 0.5);
    }
}

static const struct {
    const unsigned char *data;
    size_t size;
    int w, h, c;
    const char *name;
} embedded[7] = {{png_grey8, sizeof png_grey8, 64, 64, 1, "grey8"},      {png_rgb8, sizeof png_rgb8, 11, 7, 3, "rgb8"},
                 {png_palette, sizeof png_palette, 10, 6, 3, "palette"}, {png_grey16, sizeof png_grey16, 9, 5, 1, "grey16"},
                 {png_rgba8, sizeof png_rgba8, 7, 6, 3, "rgba8"},        {png_ga8, sizeof png_ga8, 6, 5, 1, "ga8"},
                 {png_rgb16, sizeof png_rgb16, 5, 4, 3, "rgb16"}};

static void test_png_embedded(void)
{
    int k;
    for (k = 0; k < 7; k++) {
        cnnvis_image im;
        int x, y, c, wrong = 0;
        cnnvis_result r = read_exact(&im, embedded[k].data, embedded[k].size);
        CHECK(r == CNNVIS_OK, "%s: %s", embedded[k].name, cnnvis_last_error());
        if (r != CNNVIS_OK) continue;
        CHECK(im.w == embedded[k].w && im.h == embedded[k].h && im.c == embedded[k].c, "%s: %dx%dx%d", embedded[k].name, im.w,
              im.h, im.c);
        if (im.w == embedded[k].w && im.h == embedded[k].h && im.c == embedded[k].c)
            for (y = 0; y < im.h; y++)
                for (x = 0; x < im.w; x++)
                    for (c = 0; c < im.c; c++) {
                        int got = im.px[((size_t)y * im.w + x) * im.c + c], want = embedded_expected(k, x, y, c);
                        if (got != want && wrong++ < 3)
                            CHECK(0, "%s: (%d, %d) channel %d is %d, expected %d (row filter %d)", embedded[k].name, x, y, c, got,
                                  want, y % 5);
                    }
        CHECK(wrong == 0, "%s: %d samples wrong", embedded[k].name, wrong);
        cnnvis_image_free(&im);
    }
    { /* the independent decoder on zlib's own fixed-Huffman stream (rgb8, all five filters),
         so that it is not only checked against the encoder it checks */
        cnnvis_image im;
        t_png_info info;
        const char *why = t_png_decode(png_rgb8, sizeof png_rgb8, &im, &info);
        int x, y, c, wrong = 0;
        CHECK(why == NULL && im.w == 11 && im.h == 7 && im.c == 3, "rgb8: the independent decoder: %s", why ? why : "size");
        if (!why && im.w == 11 && im.h == 7 && im.c == 3)
            for (y = 0; y < im.h; y++)
                for (x = 0; x < im.w; x++)
                    for (c = 0; c < 3; c++) wrong += px_at(&im, x, y, c) != embedded_expected(1, x, y, c);
        CHECK(wrong == 0, "rgb8: the independent decoder got %d samples wrong", wrong);
        CHECK(info.fixed_blocks == 1 && info.stored_blocks == 0 && info.matches > 0, "rgb8: %d fixed blocks, %ld matches",
              info.fixed_blocks, info.matches);
        CHECK(info.filters[0] == 2 && info.filters[1] == 2 && info.filters[2] == 1 && info.filters[3] == 1 && info.filters[4] == 1,
              "rgb8: rows by filter %ld %ld %ld %ld %ld", info.filters[0], info.filters[1], info.filters[2], info.filters[3],
              info.filters[4]);
        cnnvis_image_free(&im);
        why = t_png_decode(png_grey8, sizeof png_grey8, &im, &info);
        CHECK(why != NULL && has(why, "dynamic") && is_zeroed(&im), "grey8 (a dynamic block): %s", why ? why : "decoded");
    }
}

/* Every filter type on random rows, filtered here by the PNG specification (section 9), for
   each colour type and depth the reader takes: the reader must undo them exactly. Small
   sample ranges make the Paeth predictor's ties (pa == pb, pb == pc) frequent. The 8-bit
   grey and RGB files also go through the independent decoder (its stored-block path and
   its filters). */

static void test_png_filters_random(void)
{
    static const struct {
        int ctype, depth, channels_in, out_c;
    } kinds[] = {{0, 8, 1, 1}, {2, 8, 3, 3}, {3, 8, 1, 3}, {4, 8, 2, 1}, {6, 8, 4, 3}, {0, 16, 1, 1}, {2, 16, 3, 3},
                 {4, 16, 2, 1}, {6, 16, 4, 3}};
    unsigned char plte[3 * 256];
    size_t k;
    int i;
    t_rng_state = 777;
    for (i = 0; i < 3 * 256; i++) plte[i] = (unsigned char)t_rand();
    for (k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        int range;
        for (range = 0; range < 2; range++) {
            enum { W = 13, H = 11 };
            int bpp = kinds[k].channels_in * kinds[k].depth / 8, row = W * bpp, x, y, wrong = 0;
            unsigned char *img = (unsigned char *)malloc((size_t)H * row), *raw = (unsigned char *)malloc((size_t)H * (row + 1)), *png;
            size_t size;
            cnnvis_image im;
            REQUIRE(img && raw, "malloc");
            for (i = 0; i < H * row; i++) img[i] = (unsigned char)(range ? t_rand() : t_rand() % 3); /* 0..2: many ties */
            if (kinds[k].ctype == 3)
                for (i = 0; i < H * row; i++) img[i] = (unsigned char)(img[i] % 200);
            for (y = 0; y < H; y++) {
                int f = (y + (int)k + range) % 5;
                const unsigned char *cur = img + (size_t)y * row, *prev = y ? cur - row : NULL;
                raw[(size_t)y * (row + 1)] = (unsigned char)f;
                for (x = 0; x < row; x++) {
                    int a = x >= bpp ? cur[x - bpp] : 0, b = prev ? prev[x] : 0, c = prev && x >= bpp ? prev[x - bpp] : 0;
                    int pred = f == 1 ? a : f == 2 ? b : f == 3 ? (a + b) / 2 : f == 4 ? t_paeth(a, b, c) : 0;
                    raw[(size_t)y * (row + 1) + 1 + x] = (unsigned char)(cur[x] - pred);
                }
            }
            png = t_png_make(W, H, kinds[k].depth, kinds[k].ctype, 0, raw, (size_t)H * (row + 1), kinds[k].ctype == 3 ? plte : NULL,
                             200 * 3, &size);
            REQUIRE(png, "malloc");
            if (kinds[k].depth == 8 && (kinds[k].ctype == 0 || kinds[k].ctype == 2)) {
                t_png_info info;
                const char *why = t_png_decode(png, size, &im, &info);
                CHECK(why == NULL && im.w == W && im.h == H && memcmp(im.px, img, (size_t)H * row) == 0,
                      "colour type %d range %d: the independent decoder: %s", kinds[k].ctype, range, why ? why : "other pixels");
                CHECK(info.stored_blocks == 1 && info.fixed_blocks == 0, "colour type %d: %d stored, %d fixed blocks seen",
                      kinds[k].ctype, info.stored_blocks, info.fixed_blocks);
                for (y = 0; y < 5; y++)
                    CHECK(info.filters[y] == (H - 1 - (y - (int)k - range + 10) % 5) / 5 + 1, "colour type %d: %ld rows of filter %d",
                          kinds[k].ctype, info.filters[y], y);
                cnnvis_image_free(&im);
            }
            if (read_exact(&im, png, size) != CNNVIS_OK) {
                CHECK(0, "colour type %d depth %d: %s", kinds[k].ctype, kinds[k].depth, cnnvis_last_error());
            } else {
                CHECK(im.w == W && im.h == H && im.c == kinds[k].out_c, "colour type %d depth %d: %dx%dx%d", kinds[k].ctype,
                      kinds[k].depth, im.w, im.h, im.c);
                if (im.w == W && im.h == H && im.c == kinds[k].out_c)
                    for (y = 0; y < H; y++)
                        for (x = 0; x < W; x++) {
                            int ch;
                            for (ch = 0; ch < im.c; ch++) {
                                const unsigned char *s = img + (size_t)y * row + (size_t)x * bpp;
                                int want;
                                if (kinds[k].ctype == 3) want = plte[3 * s[0] + ch];
                                else if (kinds[k].depth == 8) want = s[ch];
                                else want = (int)floor((s[2 * ch] << 8 | s[2 * ch + 1]) * 255.0 / 65535.0 + 0.5);
                                if (px_at(&im, x, y, ch) != want && wrong++ < 2)
                                    CHECK(0, "colour type %d depth %d range %d: (%d, %d) channel %d is %d, expected %d (filter %d)",
                                          kinds[k].ctype, kinds[k].depth, range, x, y, ch, px_at(&im, x, y, ch), want,
                                          (y + (int)k + range) % 5);
                            }
                        }
                CHECK(wrong == 0, "colour type %d depth %d range %d: %d samples wrong", kinds[k].ctype, kinds[k].depth, range, wrong);
                cnnvis_image_free(&im);
            }
            free(png), free(img), free(raw);
        }
    }
}

static void test_png_files(void)
{
    cnnvis_image im, back, mine;
    unsigned char *bytes = NULL;
    size_t size = 0;
    int c;
    const char *why;
    for (c = 1; c <= 3; c += 2) {
        const char *path = tmp_path(c == 1 ? "grey.png" : "rgb.PNG");
        REQUIRE(make_image(&im, 45, 31, c, 5), "%s", cnnvis_last_error());
        REQUIRE(cnnvis_image_write(path, &im) == CNNVIS_OK, "%s", cnnvis_last_error());
        REQUIRE(cnnvis__file_read(path, 1 << 20, &bytes, &size) == CNNVIS_OK, "%s", cnnvis_last_error());
        why = t_png_decode(bytes, size, &mine, NULL);
        CHECK(why == NULL && same_image(&im, &mine), "%s: %s", path, why ? why : "pixels differ");
        memset(&back, 0x5a, sizeof back);
        CHECK(cnnvis_image_read(&back, path) == CNNVIS_OK && same_image(&im, &back), "%s: %s", path, cnnvis_last_error());
        cnnvis__free(bytes);
        cnnvis_image_free(&im), cnnvis_image_free(&back), cnnvis_image_free(&mine);
        remove(path);
    }
}

#define CAMVID "../shared/real-data/camvid-subset"

static void test_png_camvid(void)
{
    static const long want[12] = {735596, 1069926, 49876, 1077288, 356835, 423908, 39231, 48789, 170708, 24998, 5310, 144735};
    long counts[256];
    cnnvis_image im;
    DIR *dir;
    struct dirent *e;
    int files = 0, k, lo = 255, hi = 0;
    size_t i;
    if (!file_exists(CAMVID "/labels")) SKIP("%s not found (real-data folder absent; run from the repository root)", CAMVID);
    REQUIRE(cnnvis_image_read(&im, CAMVID "/images/0001TP_008550.png") == CNNVIS_OK, "%s", cnnvis_last_error());
    CHECK(im.w == 480 && im.h == 360 && im.c == 3, "image: %dx%dx%d", im.w, im.h, im.c);
    for (i = 0; i < (size_t)im.w * im.h * im.c; i++) lo = im.px[i] < lo ? im.px[i] : lo, hi = im.px[i] > hi ? im.px[i] : hi;
    CHECK(lo < 20 && hi > 230, "a street scene has dark and bright pixels: range %d..%d", lo, hi);
    cnnvis_image_free(&im);
    REQUIRE(cnnvis_image_read(&im, CAMVID "/labels/0001TP_008550.png") == CNNVIS_OK, "%s", cnnvis_last_error());
    CHECK(im.w == 480 && im.h == 360 && im.c == 1, "label map: %dx%dx%d", im.w, im.h, im.c);
    for (hi = 0, i = 0; i < (size_t)im.w * im.h * im.c; i++) hi = im.px[i] > hi ? im.px[i] : hi;
    CHECK(hi <= 11 && hi >= 5, "label values up to %d (classes 0..11)", hi);
    cnnvis_image_free(&im);

    memset(counts, 0, sizeof counts);
    dir = opendir(CAMVID "/labels");
    REQUIRE(dir, "cannot list %s/labels", CAMVID);
    while ((e = readdir(dir)) != NULL) {
        char path[512];
        size_t len = strlen(e->d_name);
        if (len < 5 || strcmp(e->d_name + len - 4, ".png") != 0) continue;
        snprintf(path, sizeof path, CAMVID "/labels/%s", e->d_name);
        if (cnnvis_image_read(&im, path) != CNNVIS_OK) {
            CHECK(0, "%s: %s", path, cnnvis_last_error());
            continue;
        }
        CHECK(im.w == 480 && im.h == 360 && im.c == 1, "%s: %dx%dx%d", path, im.w, im.h, im.c);
        for (i = 0; i < (size_t)im.w * im.h * im.c; i++) counts[im.px[i]]++;
        cnnvis_image_free(&im);
        files++;
    }
    closedir(dir);
    CHECK(files == 24, "%d label maps", files);
    for (k = 0; k < 12; k++) CHECK(counts[k] == want[k], "class %d: %ld pixels, README says %ld", k, counts[k], want[k]);
    for (k = 12; k < 256; k++) CHECK(counts[k] == 0, "value %d appears %ld times", k, counts[k]);
}

/* --- PNG: what must be refused ---------------------------------------------------------- */

static void check_png_refused(const unsigned char *data, size_t size, cnnvis_result code, const char *what, const char *msg_part)
{
    check_refused(data, size, code, what);
    if (msg_part) CHECK(has(cnnvis_last_error(), msg_part), "%s: message \"%s\" lacks \"%s\"", what, cnnvis_last_error(), msg_part);
}

/* A variant of one of the embedded files: chunk `k` (its type, data, length) changed by `edit`. */
static void test_png_refused_headers(void)
{
    unsigned char raw[3 * (1 + 4 * 3)], plte[6] = {0, 0, 0, 255, 255, 255}, *png;
    size_t size, i;
    cnnvis_image im;
    struct {
        uint32_t w, h;
        int depth, ctype, interlace;
        cnnvis_result code;
        const char *what, *msg;
    } ihdr[] = {
        {4, 3, 8, 2, 0, CNNVIS_OK, "the valid base case", NULL},
        {0, 3, 8, 2, 0, CNNVIS_ERR_FORMAT, "width 0", "size"},
        {4, 0, 8, 2, 0, CNNVIS_ERR_FORMAT, "height 0", "size"},
        {100000, 3, 8, 2, 0, CNNVIS_ERR_FORMAT, "width 100000", "size"},
        {3, 100000, 8, 2, 0, CNNVIS_ERR_FORMAT, "height 100000", "size"},
        {16384, 16384, 8, 2, 0, CNNVIS_ERR_FORMAT, "16384 x 16384 (2^28 pixels)", "size"},
        {0x80000000u, 1, 8, 2, 0, CNNVIS_ERR_FORMAT, "width 2^31", "size"},
        {0xffffffffu, 0xffffffffu, 8, 2, 0, CNNVIS_ERR_FORMAT, "width and height 2^32-1", "size"},
        {4, 3, 4, 0, 0, CNNVIS_ERR_UNSUPPORTED, "grey, bit depth 4", "bit depth"},
        {4, 3, 1, 0, 0, CNNVIS_ERR_UNSUPPORTED, "grey, bit depth 1", "bit depth"},
        {4, 3, 16, 3, 0, CNNVIS_ERR_UNSUPPORTED, "palette, bit depth 16", "bit depth"},
        {4, 3, 4, 3, 0, CNNVIS_ERR_UNSUPPORTED, "palette, bit depth 4", "bit depth"},
        {4, 3, 7, 2, 0, CNNVIS_ERR_UNSUPPORTED, "bit depth 7", "bit depth"},
        {4, 3, 8, 1, 0, CNNVIS_ERR_UNSUPPORTED, "colour type 1", "colour type"},
        {4, 3, 8, 5, 0, CNNVIS_ERR_UNSUPPORTED, "colour type 5", "colour type"},
        {4, 3, 8, 7, 0, CNNVIS_ERR_UNSUPPORTED, "colour type 7", "colour type"},
        {4, 3, 8, 2, 1, CNNVIS_ERR_UNSUPPORTED, "interlaced (Adam7)", "interlaced"},
    };
    for (i = 0; i < sizeof raw; i++) raw[i] = (unsigned char)(i % 13 == 0 ? 0 : i * 7); /* 3 rows of 4 RGB, filter 0 */
    for (i = 0; i < sizeof ihdr / sizeof ihdr[0]; i++) {
        png = t_png_make(ihdr[i].w, ihdr[i].h, ihdr[i].depth, ihdr[i].ctype, ihdr[i].interlace, raw, sizeof raw, NULL, 0, &size);
        REQUIRE(png, "malloc");
        alloc_max_request = 0;
        if (ihdr[i].code == CNNVIS_OK) {
            CHECK(read_exact(&im, png, size) == CNNVIS_OK, "%s: %s", ihdr[i].what, cnnvis_last_error());
            cnnvis_image_free(&im);
        } else {
            check_png_refused(png, size, ihdr[i].code, ihdr[i].what, ihdr[i].msg);
            CHECK(alloc_max_request < 4096, "%s: %zu bytes allocated before refusing", ihdr[i].what, alloc_max_request);
        }
        free(png);
    }
    /* IHDR's compression and filter methods: only 0 exists */
    {
        t_chunk ch[T_MAX_CHUNKS];
        int n;
        png = t_png_make(4, 3, 8, 2, 0, raw, sizeof raw, NULL, 0, &size);
        REQUIRE(png, "malloc");
        n = t_chunks_parse(png, size, ch);
        free(png);
        REQUIRE(n == 3 && strcmp(ch[0].type, "IHDR") == 0, "%d chunks", n);
        ch[0].data[10] = 1;
        png = t_chunks_build(ch, n, &size);
        check_png_refused(png, size, CNNVIS_ERR_FORMAT, "compression method 1", "compression");
        free(png);
        ch[0].data[10] = 0, ch[0].data[11] = 1;
        png = t_chunks_build(ch, n, &size);
        check_png_refused(png, size, CNNVIS_ERR_FORMAT, "filter method 1", "filter");
        free(png);
        ch[0].data[11] = 0, ch[0].len = 12;
        png = t_chunks_build(ch, n, &size);
        check_png_refused(png, size, CNNVIS_ERR_FORMAT, "IHDR of 12 bytes", "IHDR");
        free(png);
        ch[0].len = 13;
        t_chunks_free(ch, n);
    }
    /* palettes */
    for (i = 0; i < 3; i++) raw[i * 5] = 0, raw[i * 5 + 1] = 0, raw[i * 5 + 2] = 1, raw[i * 5 + 3] = 1, raw[i * 5 + 4] = (unsigned char)(i == 2 ? 2 : 0);
    png = t_png_make(4, 3, 8, 3, 0, raw, 15, plte, 6, &size);
    check_png_refused(png, size, CNNVIS_ERR_FORMAT, "palette index 2 of a 2-entry palette", "palette");
    free(png);
    raw[14] = 1;
    png = t_png_make(4, 3, 8, 3, 0, raw, 15, plte, 6, &size);
    CHECK(read_exact(&im, png, size) == CNNVIS_OK && im.c == 3 && im.px[0] == 0 && im.px[6] == 255, "2-entry palette: %s",
          cnnvis_last_error());
    cnnvis_image_free(&im);
    free(png);
    png = t_png_make(4, 3, 8, 3, 0, raw, 15, NULL, 0, &size);
    check_png_refused(png, size, CNNVIS_ERR_FORMAT, "a palette image without PLTE", "palette");
    free(png);
    png = t_png_make(4, 3, 8, 3, 0, raw, 15, plte, 5, &size);
    check_png_refused(png, size, CNNVIS_ERR_FORMAT, "PLTE of 5 bytes", "palette");
    free(png);
    {
        unsigned char big[771];
        memset(big, 7, sizeof big);
        png = t_png_make(4, 3, 8, 3, 0, raw, 15, big, 771, &size);
        check_png_refused(png, size, CNNVIS_ERR_FORMAT, "PLTE of 257 entries", "palette");
        free(png);
    }
}

static void test_png_refused_structure(void)
{
    t_chunk ch[T_MAX_CHUNKS], saved;
    unsigned char *png, *copy;
    size_t size, k, at;
    int n, j;
    cnnvis_image im;
    /* signature: each of its 8 bytes */
    for (k = 0; k < 8; k++) {
        char what[64];
        copy = (unsigned char *)malloc(sizeof png_rgb8);
        REQUIRE(copy, "malloc");
        memcpy(copy, png_rgb8, sizeof png_rgb8);
        copy[k] ^= 0x20;
        snprintf(what, sizeof what, "signature byte %zu changed", k);
        check_png_refused(copy, sizeof png_rgb8, CNNVIS_ERR_FORMAT, what, NULL);
        free(copy);
    }
    /* a CRC changed, in each chunk of the palette file (IHDR, PLTE, tEXt, 3 x IDAT, IEND) */
    for (at = 8, j = 0; at + 12 <= sizeof png_palette; j++) {
        uint32_t len = t_be32(png_palette + at);
        char what[64];
        copy = (unsigned char *)malloc(sizeof png_palette);
        REQUIRE(copy, "malloc");
        memcpy(copy, png_palette, sizeof png_palette);
        copy[at + 8 + len + 3] ^= 1;
        snprintf(what, sizeof what, "CRC of chunk %d (%.4s) changed", j, (const char *)png_palette + at + 4);
        check_png_refused(copy, sizeof png_palette, CNNVIS_ERR_FORMAT, what, "CRC");
        copy[at + 8 + len + 3] ^= 1, copy[at + 8 + (len ? len / 2 : 0)] ^= (len ? 0x10 : 0); /* a data byte */
        if (len) check_png_refused(copy, sizeof png_palette, CNNVIS_ERR_FORMAT, "a data byte changed under its CRC", "CRC");
        free(copy);
        at += 12 + len;
    }
    CHECK(j == 7, "the palette file has %d chunks, expected 7", j);

    n = t_chunks_parse(png_palette, sizeof png_palette, ch);
    REQUIRE(n == 7, "%d chunks", n);
    /* the file as rebuilt here is still valid */
    png = t_chunks_build(ch, n, &size);
    CHECK(size == sizeof png_palette && memcmp(png, png_palette, size) == 0, "rebuilding the palette file changes it");
    free(png);
    /* an unknown critical chunk before IDAT; the same as an ancillary chunk is skipped */
    saved = ch[2];
    memcpy(ch[2].type, "CRIT", 5);
    png = t_chunks_build(ch, n, &size);
    check_png_refused(png, size, CNNVIS_ERR_UNSUPPORTED, "unknown critical chunk CRIT", "CRIT");
    free(png);
    memcpy(ch[2].type, "crIT", 5);
    png = t_chunks_build(ch, n, &size);
    CHECK(read_exact(&im, png, size) == CNNVIS_OK, "unknown ancillary chunk crIT: %s", cnnvis_last_error());
    cnnvis_image_free(&im);
    free(png);
    ch[2] = saved;
    /* IHDR not first */
    saved = ch[0], ch[0] = ch[1], ch[1] = saved;
    png = t_chunks_build(ch, n, &size);
    check_png_refused(png, size, CNNVIS_ERR_FORMAT, "PLTE before IHDR", "IHDR");
    free(png);
    saved = ch[0], ch[0] = ch[1], ch[1] = saved;
    /* two IHDRs */
    {
        t_chunk two[T_MAX_CHUNKS];
        memcpy(two, ch, sizeof(t_chunk) * (size_t)n);
        memmove(two + 1, two, sizeof(t_chunk) * (size_t)n);
        png = t_chunks_build(two, n + 1, &size);
        check_png_refused(png, size, CNNVIS_ERR_FORMAT, "two IHDR chunks", "IHDR");
        free(png);
        /* no IDAT at all: IHDR, PLTE, tEXt, IEND */
        two[0] = ch[0], two[1] = ch[1], two[2] = ch[2], two[3] = ch[6];
        png = t_chunks_build(two, 4, &size);
        check_png_refused(png, size, CNNVIS_ERR_FORMAT, "no IDAT", "IDAT");
        free(png);
        /* no IEND */
        png = t_chunks_build(ch, n - 1, &size);
        check_png_refused(png, size, CNNVIS_ERR_FORMAT, "no IEND", NULL);
        free(png);
        /* the middle IDAT dropped: the zlib stream is cut */
        memcpy(two, ch, sizeof(t_chunk) * (size_t)n);
        memmove(two + 4, two + 5, sizeof(t_chunk) * (size_t)(n - 5));
        png = t_chunks_build(two, n - 1, &size);
        check_png_refused(png, size, CNNVIS_ERR_FORMAT, "the middle IDAT dropped", NULL);
        free(png);
        /* chunks after IEND are ignored */
        memcpy(two, ch, sizeof(t_chunk) * (size_t)n);
        two[n] = ch[2];
        png = t_chunks_build(two, n + 1, &size);
        CHECK(read_exact(&im, png, size) == CNNVIS_OK, "a chunk after IEND: %s", cnnvis_last_error());
        cnnvis_image_free(&im);
        free(png);
    }
    t_chunks_free(ch, n);
}

/* zlib-level damage, on PNGs built here from stored blocks (so the Adler-32 can be made right
   or wrong on purpose). */
static void test_png_refused_zlib(void)
{
    enum { W = 5, H = 4 };
    unsigned char raw[H * (W + 1)], *png;
    t_chunk ch[T_MAX_CHUNKS];
    size_t size, i;
    int n;
    cnnvis_image im;
    for (i = 0; i < sizeof raw; i++) raw[i] = (unsigned char)(i % (W + 1) == 0 ? 0 : 3 * i);
    png = t_png_make(W, H, 8, 0, 0, raw, sizeof raw, NULL, 0, &size);
    REQUIRE(png, "malloc");
    CHECK(read_exact(&im, png, size) == CNNVIS_OK && im.w == W && im.px[1] == 6, "base case: %s", cnnvis_last_error());
    cnnvis_image_free(&im);
    n = t_chunks_parse(png, size, ch);
    free(png);
    REQUIRE(n == 3 && strcmp(ch[1].type, "IDAT") == 0, "%d chunks", n);
    {
        unsigned char *z = ch[1].data;
        uint32_t zl = ch[1].len;
        struct {
            size_t at;
            unsigned char xor_with;
            const char *what, *msg;
        } edits[] = {
            {2, 0x06, "block type 3", NULL},
            {3, 0x01, "stored LEN != ~NLEN", NULL},
            {5, 0xff, "stored NLEN changed", NULL},
            {zl - 1, 0x01, "Adler-32 changed", "Adler"},
            {zl - 4, 0x80, "Adler-32 high byte changed", "Adler"},
            {8, 0x10, "a pixel byte changed (Adler no longer matches)", "Adler"},
        };
        for (i = 0; i < sizeof edits / sizeof edits[0]; i++) {
            z[edits[i].at] ^= edits[i].xor_with;
            png = t_chunks_build(ch, n, &size);
            check_png_refused(png, size, CNNVIS_ERR_FORMAT, edits[i].what, edits[i].msg);
            free(png);
            z[edits[i].at] ^= edits[i].xor_with;
        }
        /* zlib header: each case with a valid FCHECK, so that only the named field is wrong */
        {
            static const struct {
                unsigned char cmf, flg_bits;
                const char *what;
            } hdr[] = {{0x79, 0x00, "zlib method 9"}, {0x77, 0x00, "zlib method 7"}, {0x88, 0x00, "zlib window 2^16 (CINFO 8)"},
                       {0x78, 0x20, "zlib FDICT set"}};
            for (i = 0; i < sizeof hdr / sizeof hdr[0]; i++) {
                z[0] = hdr[i].cmf, z[1] = hdr[i].flg_bits;
                while ((z[0] * 256u + z[1]) % 31) z[1]++;
                png = t_chunks_build(ch, n, &size);
                check_png_refused(png, size, CNNVIS_ERR_FORMAT, hdr[i].what, "zlib");
                free(png);
            }
            z[0] = 0x78, z[1] = 0x01;
            z[1] ^= 1; /* FCHECK wrong */
            png = t_chunks_build(ch, n, &size);
            check_png_refused(png, size, CNNVIS_ERR_FORMAT, "zlib FCHECK wrong", "zlib");
            free(png);
            z[1] ^= 1;
            /* other valid headers are accepted: window 2^8 .. 2^15, any FLEVEL */
            z[0] = 0x08, z[1] = 0xc0;
            while ((z[0] * 256u + z[1]) % 31) z[1]++;
            png = t_chunks_build(ch, n, &size);
            CHECK(read_exact(&im, png, size) == CNNVIS_OK, "zlib CINFO 0, FLEVEL 3: %s", cnnvis_last_error());
            cnnvis_image_free(&im);
            free(png);
            z[0] = 0x78, z[1] = 0x01;
        }
        /* the Adler-32 missing (IDAT cut by 4 bytes) */
        ch[1].len = zl - 4;
        png = t_chunks_build(ch, n, &size);
        check_png_refused(png, size, CNNVIS_ERR_FORMAT, "no Adler-32", "Adler");
        free(png);
        ch[1].len = zl;
    }
    t_chunks_free(ch, n);
    /* more or fewer pixel bytes than the size needs */
    png = t_png_make(W, H + 1, 8, 0, 0, raw, sizeof raw, NULL, 0, &size);
    check_png_refused(png, size, CNNVIS_ERR_FORMAT, "one row less data than IHDR says", NULL);
    free(png);
    png = t_png_make(W, H - 1, 8, 0, 0, raw, sizeof raw, NULL, 0, &size);
    check_png_refused(png, size, CNNVIS_ERR_FORMAT, "one row more data than IHDR says", NULL);
    free(png);
    png = t_png_make(W, H, 8, 0, 0, raw, sizeof raw - 1, NULL, 0, &size);
    check_png_refused(png, size, CNNVIS_ERR_FORMAT, "one byte less data", NULL);
    free(png);
    /* an unknown row filter (5), with everything else right */
    raw[2 * (W + 1)] = 5;
    png = t_png_make(W, H, 8, 0, 0, raw, sizeof raw, NULL, 0, &size);
    check_png_refused(png, size, CNNVIS_ERR_FORMAT, "row filter 5", "filter");
    free(png);
    raw[2 * (W + 1)] = 255;
    png = t_png_make(W, H, 8, 0, 0, raw, sizeof raw, NULL, 0, &size);
    check_png_refused(png, size, CNNVIS_ERR_FORMAT, "row filter 255", "filter");
    free(png);
    /* filters 1..4 on stored data, undone by the reader: Sub of a constant step */
    for (i = 0; i < sizeof raw; i++) raw[i] = (unsigned char)(i % (W + 1) == 0 ? 1 : 10);
    png = t_png_make(W, H, 8, 0, 0, raw, sizeof raw, NULL, 0, &size);
    CHECK(read_exact(&im, png, size) == CNNVIS_OK && im.px[0] == 10 && im.px[4] == 50 && im.px[W * H - 1] == 50,
          "Sub filter on every row: %s", cnnvis_last_error());
    cnnvis_image_free(&im);
    free(png);
}

static void test_png_truncated(void)
{
    cnnvis_image im;
    unsigned char *enc = NULL;
    size_t size = 0, len;
    int f;
    REQUIRE(make_image(&im, 7, 3, 3, 1), "%s", cnnvis_last_error());
    REQUIRE(cnnvis__png_encode(&im, &enc, &size) == CNNVIS_OK, "%s", cnnvis_last_error());
    cnnvis_image_free(&im);
    for (f = 0; f < 4; f++) {
        const unsigned char *data = f == 0 ? enc : f == 1 ? png_palette : f == 2 ? png_grey8 : png_rgb16;
        size_t n = f == 0 ? size : f == 1 ? sizeof png_palette : f == 2 ? sizeof png_grey8 : sizeof png_rgb16, refused = 0;
        for (len = 0; len < n; len++) {
            cnnvis_result r = read_exact(&im, data, len);
            if (r != CNNVIS_OK && has_message() && is_zeroed(&im)) refused++;
            else CHECK(0, "file %d cut to %zu of %zu bytes: %s \"%s\"", f, len, n, cnnvis_result_str(r), cnnvis_last_error());
            if (r == CNNVIS_OK) cnnvis_image_free(&im);
        }
        CHECK(refused == n, "file %d: %zu of %zu prefixes refused", f, refused, n);
    }
    cnnvis__free(enc);
}

/* Random damage to the compressed pixel data (the IDAT's CRC made right again, so that the
   inflater sees it): 2000 fixed-seed mutations of the dynamic-Huffman file (grey8), the
   fixed-Huffman one from Python's zlib (rgb8) and one from the encoder (fixed-Huffman too). None may crash or read out of bounds; each is either refused with a message
   or decoded to an image of the declared size. */
static void test_png_fuzz(void)
{
    cnnvis_image base;
    unsigned char *enc = NULL;
    size_t enc_size = 0;
    int trial, refused = 0, decoded = 0, bad_outcome = 0;
    REQUIRE(make_image(&base, 9, 6, 1, 3), "%s", cnnvis_last_error());
    REQUIRE(cnnvis__png_encode(&base, &enc, &enc_size) == CNNVIS_OK, "%s", cnnvis_last_error());
    t_rng_state = 20240601;
    for (trial = 0; trial < 2000; trial++) {
        t_chunk ch[T_MAX_CHUNKS];
        const unsigned char *src = trial % 3 == 0 ? png_grey8 : trial % 3 == 1 ? png_rgb8 : enc;
        size_t src_size = trial % 3 == 0 ? sizeof png_grey8 : trial % 3 == 1 ? sizeof png_rgb8 : enc_size, size;
        int n = t_chunks_parse(src, src_size, ch), idat = 1, flips = 1 + (int)(t_rand() % 4), k, w = (int)t_be32(ch[0].data),
            h = (int)t_be32(ch[0].data + 4);
        unsigned char *png;
        cnnvis_image im;
        cnnvis_result r;
        for (k = 0; k < flips; k++) {
            uint32_t at = t_rand() % ch[idat].len;
            switch (t_rand() % 3) {
            case 0: ch[idat].data[at] ^= (unsigned char)(1u << (t_rand() % 8)); break;
            case 1: ch[idat].data[at] = (unsigned char)t_rand(); break;
            default: ch[idat].len = at + 1; /* cut the stream short */
            }
        }
        png = t_chunks_build(ch, n, &size);
        r = read_exact(&im, png, size);
        if (r == CNNVIS_OK) {
            decoded++;
            if (im.w != w || im.h != h) bad_outcome++;
            cnnvis_image_free(&im);
        } else {
            refused++;
            if (r != CNNVIS_ERR_FORMAT || !has_message() || !is_zeroed(&im)) {
                if (bad_outcome++ < 3) CHECK(0, "trial %d: %s \"%s\"", trial, cnnvis_result_str(r), cnnvis_last_error());
            }
        }
        free(png);
        t_chunks_free(ch, n);
    }
    CHECK(bad_outcome == 0, "%d mutations gave a wrong outcome", bad_outcome);
    CHECK(refused + decoded == 2000 && refused > 1800, "%d refused, %d decoded", refused, decoded);
    printf("  2000 mutations: %d refused, %d decoded (a change the checks cannot see)\n", refused, decoded);
    cnnvis__free(enc);
    cnnvis_image_free(&base);
}

/* --- Writing: by extension, atomically --------------------------------------------------- */

static void test_image_write(void)
{
    cnnvis_image a, b, back, bad;
    const char *path = tmp_path("atomic.png");
    char tmp[300];
    static const char *const refused[] = {"x.bmp", "x.jpg", "noext", "x.png.txt", "x.", ".png.", "x.pn"};
    size_t k;
    REQUIRE(make_image(&a, 12, 9, 3, 1), "%s", cnnvis_last_error());
    REQUIRE(make_image(&b, 5, 5, 1, 2), "%s", cnnvis_last_error());
    for (k = 0; k < sizeof refused / sizeof refused[0]; k++) {
        const char *p = tmp_path(refused[k]);
        cnnvis_clear_error();
        CHECK(cnnvis_image_write(p, &a) == CNNVIS_ERR_ARG && has_message(), "%s: accepted", refused[k]);
        CHECK(!file_exists(p), "%s: a file was written", refused[k]);
        snprintf(tmp, sizeof tmp, "%s.tmp", p);
        CHECK(!file_exists(tmp), "%s: a .tmp file was written", refused[k]);
    }
    cnnvis_clear_error();
    CHECK(cnnvis_image_write(NULL, &a) == CNNVIS_ERR_ARG && has_message(), "NULL path accepted");
    /* into a directory that does not exist */
    cnnvis_clear_error();
    CHECK(cnnvis_image_write(TMP_DIR "/no-such-dir/x.png", &a) == CNNVIS_ERR_IO && has_message(), "missing directory: %s",
          cnnvis_last_error());
    CHECK(!file_exists(TMP_DIR "/no-such-dir/x.png") && !file_exists(TMP_DIR "/no-such-dir"), "missing directory: a file exists");
    /* atomic: A is written; a failing write of B to the same path leaves A */
    REQUIRE(cnnvis_image_write(path, &a) == CNNVIS_OK, "%s", cnnvis_last_error());
    memset(&bad, 0, sizeof bad);
    bad.w = 5, bad.h = 5, bad.c = 2, bad.px = b.px;
    cnnvis_clear_error();
    CHECK(cnnvis_image_write(path, &bad) == CNNVIS_ERR_ARG && has_message(), "an image with 2 channels was written");
    CHECK(cnnvis_image_read(&back, path) == CNNVIS_OK && same_image(&a, &back), "A changed after a refused write");
    cnnvis_image_free(&back);
    /* the temporary file cannot be created (a directory has its name): A stays */
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    REQUIRE(mkdir(tmp, 0777) == 0, "mkdir %s", tmp);
    cnnvis_clear_error();
    CHECK(cnnvis_image_write(path, &b) == CNNVIS_ERR_IO && has_message(), "write with path.tmp a directory: %s", cnnvis_last_error());
    CHECK(cnnvis_image_read(&back, path) == CNNVIS_OK && same_image(&a, &back), "A changed after a failed write");
    cnnvis_image_free(&back);
    rmdir(tmp);
    /* the rename fails (the destination is a non-empty directory): no .tmp is left */
    {
        const char *dir = tmp_path("dir.ppm"), *inner = tmp_path("dir.ppm/keep");
        FILE *f;
        REQUIRE(mkdir(dir, 0777) == 0, "mkdir %s", dir);
        f = fopen(inner, "wb");
        REQUIRE(f, "cannot create %s", inner);
        fclose(f);
        cnnvis_clear_error();
        CHECK(cnnvis_image_write(dir, &b) == CNNVIS_ERR_IO && has_message(), "write over a directory: %s", cnnvis_last_error());
        snprintf(tmp, sizeof tmp, "%s.tmp", dir);
        CHECK(!file_exists(tmp), "a failed rename left %s", tmp);
        remove(inner), rmdir(dir);
    }
    /* a successful write replaces A with B */
    CHECK(cnnvis_image_write(path, &b) == CNNVIS_OK, "%s", cnnvis_last_error());
    CHECK(cnnvis_image_read(&back, path) == CNNVIS_OK && same_image(&b, &back), "B not written");
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    CHECK(!file_exists(tmp), "%s left behind", tmp);
    cnnvis_image_free(&back);
    remove(path);
    cnnvis_image_free(&a), cnnvis_image_free(&b);
}

/* --- Resizing and cropping ---------------------------------------------------------------- */


static void test_resize_nearest_area(void)
{
    cnnvis_image src, dst;
    int x, y, c, wrong = 0;
    /* NEAREST 2x2 -> 4x4 repeats each pixel in a 2x2 block */
    REQUIRE(make_image(&src, 2, 2, 3, 4), "%s", cnnvis_last_error());
    REQUIRE(cnnvis_image_resize(&dst, &src, 4, 4, CNNVIS_RESIZE_NEAREST) == CNNVIS_OK, "%s", cnnvis_last_error());
    CHECK(dst.w == 4 && dst.h == 4 && dst.c == 3, "%dx%dx%d", dst.w, dst.h, dst.c);
    for (y = 0; y < 4; y++)
        for (x = 0; x < 4; x++)
            for (c = 0; c < 3; c++) wrong += px_at(&dst, x, y, c) != px_at(&src, x / 2, y / 2, c);
    CHECK(wrong == 0, "NEAREST 2x2 -> 4x4: %d samples are not the repeated source", wrong);
    cnnvis_image_free(&dst);
    cnnvis_image_free(&src);
    /* NEAREST shrinking takes the source pixel under each output pixel's centre (the centre
       rule of the bilinear mode): 4 -> 2 takes 1 and 3, 3 -> 2 takes 0 and 2, 5 -> 3 takes 0, 2, 4 */
    {
        static const int cases[][5] = {{4, 2, 1, 3, -1}, {3, 2, 0, 2, -1}, {5, 3, 0, 2, 4}};
        int k;
        for (k = 0; k < 3; k++) {
            REQUIRE(cnnvis_image_create(&src, cases[k][0], 1, 1) == CNNVIS_OK, "%s", cnnvis_last_error());
            for (x = 0; x < cases[k][0]; x++) src.px[x] = (unsigned char)(10 * x);
            REQUIRE(cnnvis_image_resize(&dst, &src, cases[k][1], 1, CNNVIS_RESIZE_NEAREST) == CNNVIS_OK, "%s", cnnvis_last_error());
            for (x = 0; x < cases[k][1]; x++)
                CHECK(dst.px[x] == 10 * cases[k][2 + x], "NEAREST %d -> %d: output %d is source %d, expected %d", cases[k][0],
                      cases[k][1], x, dst.px[x] / 10, cases[k][2 + x]);
            cnnvis_image_free(&dst), cnnvis_image_free(&src);
        }
    }

    /* AREA 4x4 -> 2x2 averages 2x2 blocks exactly (rounded half up) */
    REQUIRE(make_image(&src, 4, 4, 1, 9), "%s", cnnvis_last_error());
    src.px[0] = 1, src.px[1] = 2, src.px[4] = 2, src.px[5] = 2; /* block (0,0): mean 1.75 -> 2 */
    src.px[2] = 10, src.px[3] = 11, src.px[6] = 10, src.px[7] = 11; /* block (1,0): mean 10.5 -> 11 */
    REQUIRE(cnnvis_image_resize(&dst, &src, 2, 2, CNNVIS_RESIZE_AREA) == CNNVIS_OK, "%s", cnnvis_last_error());
    for (wrong = 0, y = 0; y < 2; y++)
        for (x = 0; x < 2; x++) {
            int sum = px_at(&src, 2 * x, 2 * y, 0) + px_at(&src, 2 * x + 1, 2 * y, 0) + px_at(&src, 2 * x, 2 * y + 1, 0) +
                      px_at(&src, 2 * x + 1, 2 * y + 1, 0);
            if (px_at(&dst, x, y, 0) != (sum + 2) / 4) {
                CHECK(0, "AREA (%d, %d): %d, expected %d (sum %d)", x, y, px_at(&dst, x, y, 0), (sum + 2) / 4, sum);
                wrong++;
            }
        }
    CHECK(px_at(&dst, 0, 0, 0) == 2 && px_at(&dst, 1, 0, 0) == 11, "AREA means 1.75 and 10.5: %d %d", px_at(&dst, 0, 0, 0),
          px_at(&dst, 1, 0, 0));
    cnnvis_image_free(&dst);
    /* AREA 3x1 -> 2x1: output pixel 0 covers [0, 1.5): (a + b/2) / 1.5 */
    cnnvis_image_free(&src);
    REQUIRE(cnnvis_image_create(&src, 3, 1, 1) == CNNVIS_OK, "%s", cnnvis_last_error());
    src.px[0] = 30, src.px[1] = 90, src.px[2] = 200;
    REQUIRE(cnnvis_image_resize(&dst, &src, 2, 1, CNNVIS_RESIZE_AREA) == CNNVIS_OK, "%s", cnnvis_last_error());
    CHECK(dst.px[0] == 50 && dst.px[1] == 163, "AREA 3 -> 2: %d %d, expected 50 (=(30+45)/1.5) and 163 (=(45+200)/1.5)",
          dst.px[0], dst.px[1]);
    cnnvis_image_free(&dst);
    cnnvis_image_free(&src);
}

static void test_resize_bilinear(void)
{
    cnnvis_image src, dst;
    float ramp[5] = {0, 50, 100, 150, 250}, out[12];
    int x, c, wrong = 0;
    /* a constant image stays constant, in every mode and size */
    REQUIRE(cnnvis_image_create(&src, 7, 5, 3) == CNNVIS_OK, "%s", cnnvis_last_error());
    memset(src.px, 173, (size_t)7 * 5 * 3);
    for (c = 0; c < 3; c++) {
        static const int sizes[][2] = {{13, 11}, {3, 2}, {1, 1}, {7, 5}, {29, 1}};
        int s;
        for (s = 0; s < 5; s++) {
            size_t i;
            REQUIRE(cnnvis_image_resize(&dst, &src, sizes[s][0], sizes[s][1], (cnnvis_resize)c) == CNNVIS_OK, "%s", cnnvis_last_error());
            for (i = 0; i < (size_t)dst.w * dst.h * 3; i++) wrong += dst.px[i] != 173;
            cnnvis_image_free(&dst);
        }
    }
    CHECK(wrong == 0, "a constant image changed in %d samples", wrong);
    cnnvis_image_free(&src);

    /* [0, 100] 2 -> 4, align_corners = false (PyTorch, OpenCV): 0, 25, 75, 100 */
    REQUIRE(cnnvis_image_create(&src, 2, 1, 1) == CNNVIS_OK, "%s", cnnvis_last_error());
    src.px[0] = 0, src.px[1] = 100;
    REQUIRE(cnnvis_image_resize(&dst, &src, 4, 1, CNNVIS_RESIZE_BILINEAR) == CNNVIS_OK, "%s", cnnvis_last_error());
    CHECK(dst.px[0] == 0 && dst.px[1] == 25 && dst.px[2] == 75 && dst.px[3] == 100, "2 -> 4: %d %d %d %d", dst.px[0], dst.px[1],
          dst.px[2], dst.px[3]);
    cnnvis_image_free(&dst);
    /* the same along y */
    src.w = 1, src.h = 2;
    REQUIRE(cnnvis_image_resize(&dst, &src, 1, 4, CNNVIS_RESIZE_BILINEAR) == CNNVIS_OK, "%s", cnnvis_last_error());
    CHECK(dst.px[0] == 0 && dst.px[1] == 25 && dst.px[2] == 75 && dst.px[3] == 100, "along y: %d %d %d %d", dst.px[0], dst.px[1],
          dst.px[2], dst.px[3]);
    cnnvis_image_free(&dst);
    cnnvis_image_free(&src);

    /* a 1-D ramp 5 -> 12 against the formula s = (d + 0.5) * 5 / 12 - 0.5, clamped to [0, 4] */
    cnnvis_plane_resize(out, 12, 1, ramp, 5, 1, CNNVIS_RESIZE_BILINEAR);
    REQUIRE(cnnvis_image_create(&src, 5, 1, 1) == CNNVIS_OK, "%s", cnnvis_last_error());
    for (x = 0; x < 5; x++) src.px[x] = (unsigned char)ramp[x];
    REQUIRE(cnnvis_image_resize(&dst, &src, 12, 1, CNNVIS_RESIZE_BILINEAR) == CNNVIS_OK, "%s", cnnvis_last_error());
    for (x = 0; x < 12; x++) {
        double s = (x + 0.5) * 5.0 / 12.0 - 0.5, t, want;
        int i0;
        s = s < 0 ? 0 : s > 4 ? 4 : s;
        i0 = (int)s, t = s - i0;
        want = ramp[i0] * (1 - t) + ramp[i0 + 1 < 5 ? i0 + 1 : i0] * t;
        CHECK(fabs(out[x] - want) < 1e-3, "plane ramp x %d: %g, expected %g", x, out[x], want);
        CHECK(abs((int)dst.px[x] - (int)floor(want + 0.5)) <= 0 || fabs(want - floor(want) - 0.5) < 1e-3,
              "image ramp x %d: %d, expected %g", x, dst.px[x], want);
    }
    cnnvis_image_free(&dst);
    cnnvis_image_free(&src);
}

/* cnnvis_plane_resize is the image arithmetic on floats: rounding it gives the image result. */
static void test_plane_resize_matches(void)
{
    static const int sizes[][2] = {{13, 9}, {5, 4}, {40, 3}, {1, 1}, {8, 6}};
    cnnvis_image src, dst;
    int mode, s, c, wrong = 0;
    REQUIRE(make_image(&src, 8, 6, 3, 12), "%s", cnnvis_last_error());
    for (mode = 0; mode < 3; mode++)
        for (s = 0; s < 5; s++) {
            int dw = sizes[s][0], dh = sizes[s][1];
            float *plane = (float *)malloc(sizeof(float) * 8 * 6), *out = (float *)malloc(sizeof(float) * (size_t)dw * dh);
            REQUIRE(plane && out, "malloc");
            REQUIRE(cnnvis_image_resize(&dst, &src, dw, dh, (cnnvis_resize)mode) == CNNVIS_OK, "%s", cnnvis_last_error());
            for (c = 0; c < 3; c++) {
                int i;
                for (i = 0; i < 8 * 6; i++) plane[i] = src.px[i * 3 + c];
                cnnvis_plane_resize(out, dw, dh, plane, 8, 6, (cnnvis_resize)mode);
                for (i = 0; i < dw * dh; i++) {
                    float v = out[i];
                    int want = (int)(v < 0 ? 0 : v > 255 ? 255 : v + 0.5f);
                    if (dst.px[i * 3 + c] != want && wrong++ < 3)
                        CHECK(0, "mode %d %dx%d channel %d pixel %d: image %d, plane %g", mode, dw, dh, c, i, dst.px[i * 3 + c], v);
                }
            }
            cnnvis_image_free(&dst);
            free(plane), free(out);
        }
    CHECK(wrong == 0, "%d samples differ between plane and image resizing", wrong);
    cnnvis_image_free(&src);
}

static void test_resize_crop_invalid(void)
{
    cnnvis_image src, dst, bad;
    static const int crops[][4] = {{-1, 0, 2, 2}, {0, -1, 2, 2}, {0, 0, 0, 2}, {0, 0, 2, 0}, {6, 0, 4, 2},
                                   {0, 4, 2, 3}, {9, 0, 1, 1}, {0, 0, 10, 6}, {0, 0, -3, 2}};
    size_t k;
    int y;
    REQUIRE(make_image(&src, 9, 6, 3, 2), "%s", cnnvis_last_error());
    for (k = 0; k < sizeof crops / sizeof crops[0]; k++) {
        memset(&dst, 0x5a, sizeof dst);
        cnnvis_clear_error();
        CHECK(cnnvis__image_crop(&dst, &src, crops[k][0], crops[k][1], crops[k][2], crops[k][3]) == CNNVIS_ERR_ARG && has_message(),
              "crop %d,%d %dx%d of 9x6 accepted", crops[k][0], crops[k][1], crops[k][2], crops[k][3]);
    }
    /* a crop that touches the far corner */
    REQUIRE(cnnvis__image_crop(&dst, &src, 5, 2, 4, 4) == CNNVIS_OK, "%s", cnnvis_last_error());
    CHECK(dst.w == 4 && dst.h == 4 && dst.c == 3, "%dx%dx%d", dst.w, dst.h, dst.c);
    for (y = 0; y < 4; y++)
        CHECK(memcmp(dst.px + (size_t)y * 4 * 3, src.px + ((size_t)(y + 2) * 9 + 5) * 3, 4 * 3) == 0, "crop row %d differs", y);
    cnnvis_image_free(&dst);
    REQUIRE(cnnvis__image_crop(&dst, &src, 0, 0, 9, 6) == CNNVIS_OK, "%s", cnnvis_last_error());
    CHECK(same_image(&dst, &src), "the whole-image crop differs");
    cnnvis_image_free(&dst);
    /* resize: bad arguments */
    cnnvis_clear_error();
    CHECK(cnnvis_image_resize(&dst, &src, 0, 4, CNNVIS_RESIZE_AREA) == CNNVIS_ERR_ARG && has_message(), "width 0 accepted");
    CHECK(cnnvis_image_resize(&dst, &src, 4, -1, CNNVIS_RESIZE_AREA) == CNNVIS_ERR_ARG, "height -1 accepted");
    CHECK(cnnvis_image_resize(&dst, &src, 4, 4, (cnnvis_resize)3) == CNNVIS_ERR_ARG, "mode 3 accepted");
    CHECK(cnnvis_image_resize(&dst, &src, 16385, 1, CNNVIS_RESIZE_AREA) == CNNVIS_ERR_ARG, "width 16385 accepted");
    CHECK(cnnvis_image_resize(NULL, &src, 4, 4, CNNVIS_RESIZE_AREA) == CNNVIS_ERR_ARG, "NULL dst accepted");
    CHECK(cnnvis_image_resize(&dst, NULL, 4, 4, CNNVIS_RESIZE_AREA) == CNNVIS_ERR_ARG, "NULL src accepted");
    memset(&bad, 0, sizeof bad);
    bad.w = 2, bad.h = 2, bad.c = 4, bad.px = src.px;
    CHECK(cnnvis_image_resize(&dst, &bad, 4, 4, CNNVIS_RESIZE_AREA) == CNNVIS_ERR_ARG, "4 channels accepted");
    CHECK(cnnvis__image_crop(&dst, &bad, 0, 0, 1, 1) == CNNVIS_ERR_ARG, "crop of 4 channels accepted");
    /* image_create */
    CHECK(cnnvis_image_create(&dst, 3, 3, 2) == CNNVIS_ERR_ARG && is_zeroed(&dst), "2 channels created");
    CHECK(cnnvis_image_create(&dst, 8193, 8192, 1) == CNNVIS_ERR_ARG && is_zeroed(&dst), "over 2^26 pixels created");
    CHECK(cnnvis_image_create(&dst, 16384, 1, 3) == CNNVIS_OK && dst.px[16384 * 3 - 1] == 0, "16384 x 1 refused");
    cnnvis_image_free(&dst);
    CHECK(is_zeroed(&dst), "free leaves the image zeroed");
    cnnvis_image_free(&dst); /* twice is harmless */
    cnnvis_image_free(NULL);
    cnnvis_image_free(&src);
}

/* --- Photos as network input --------------------------------------------------------------- */

static cnnvis_net *make_net(int in_c)
{
    cnnvis_net_desc d;
    cnnvis_net *net = NULL;
    cnnvis_net_desc_preset(&d, "alexnet_mini", in_c, 32, 32, 10);
    d.max_batch = 2, d.n_threads = 1;
    d.mean[0] = 0.4f, d.mean[1] = 0.5f, d.mean[2] = 0.6f;
    d.std[0] = 0.2f, d.std[1] = 0.25f, d.std[2] = 0.3f;
    return cnnvis_net_create(&net, &d) == CNNVIS_OK ? net : NULL;
}

/* What cnnvis_image_to_pixels then cnnvis_net_normalize document, computed here: scale so the shorter side fits
   (area down, bilinear up), centre crop, grey<->RGB, /255, (p - mean) / std. */
static void manual_input(const cnnvis_image *im, int C, const float *mean, const float *std, float *out)
{
    double scale = fmax(32.0 / im->w, 32.0 / im->h);
    int rw = (int)floor(im->w * scale + 0.5), rh = (int)floor(im->h * scale + 0.5), ch, x, y;
    cnnvis_image r;
    rw = rw < 32 ? 32 : rw, rh = rh < 32 ? 32 : rh;
    if (cnnvis_image_resize(&r, im, rw, rh, scale < 1 ? CNNVIS_RESIZE_AREA : CNNVIS_RESIZE_BILINEAR) != CNNVIS_OK) return;
    for (ch = 0; ch < C; ch++)
        for (y = 0; y < 32; y++)
            for (x = 0; x < 32; x++) {
                const unsigned char *s = r.px + ((size_t)(y + (rh - 32) / 2) * rw + x + (rw - 32) / 2) * r.c;
                float v = r.c == C ? s[ch] : C == 1 ? 0.299f * s[0] + 0.587f * s[1] + 0.114f * s[2] : s[0];
                out[(ch * 32 + y) * 32 + x] = (v / 255.0f - mean[ch]) / std[ch];
            }
    cnnvis_image_free(&r);
}

static void test_image_to_pixels(void)
{
    static const float mean[3] = {0.4f, 0.5f, 0.6f}, std[3] = {0.2f, 0.25f, 0.3f};
    cnnvis_net *net3 = make_net(3), *net1 = make_net(1);
    cnnvis_tensor x3, x1;
    float want[3 * 32 * 32];
    static const int shapes[][3] = {{64, 48, 3}, {64, 48, 1}, {20, 10, 3}, {32, 32, 3}, {31, 77, 1}, {1, 1, 3}};
    size_t s, i;
    REQUIRE(net3 && net1, "net: %s", cnnvis_last_error());
    for (s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        cnnvis_image im;
        float worst3 = 0, worst1 = 0;
        REQUIRE(make_image(&im, shapes[s][0], shapes[s][1], shapes[s][2], (unsigned)s), "%s", cnnvis_last_error());
        /* pixels (1, C, 32, 32) in [0, 1], then normalised for the net (in place) */
        REQUIRE(cnnvis_image_to_pixels(&x3, &im, 3, 32, 32) == CNNVIS_OK, "%s", cnnvis_last_error());
        CHECK(x3.n == 1 && x3.c == 3 && x3.h == 32 && x3.w == 32 && x3.owner, "pixels are (%d, %d, %d, %d)", x3.n, x3.c, x3.h,
              x3.w);
        REQUIRE(cnnvis_net_normalize(&x3, net3, &x3) == CNNVIS_OK, "%s", cnnvis_last_error());
        manual_input(&im, 3, mean, std, want);
        for (i = 0; i < 3 * 32 * 32; i++) worst3 = fmaxf(worst3, fabsf(x3.data[i] - want[i]));
        CHECK(worst3 < 1e-5f, "%dx%dx%d into 3x32x32: max difference %g from resize+crop+normalise", im.w, im.h, im.c, worst3);
        REQUIRE(cnnvis_image_to_pixels(&x1, &im, 1, 32, 32) == CNNVIS_OK, "%s", cnnvis_last_error());
        CHECK(x1.n == 1 && x1.c == 1 && x1.h == 32 && x1.w == 32, "pixels are (%d, %d, %d, %d)", x1.n, x1.c, x1.h, x1.w);
        REQUIRE(cnnvis_net_normalize(&x1, net1, &x1) == CNNVIS_OK, "%s", cnnvis_last_error());
        manual_input(&im, 1, mean, std, want);
        for (i = 0; i < 32 * 32; i++) worst1 = fmaxf(worst1, fabsf(x1.data[i] - want[i]));
        CHECK(worst1 < 1e-5f, "%dx%dx%d into 1x32x32: max difference %g", im.w, im.h, im.c, worst1);
        if (im.c == 1) { /* grey into RGB: the three channels hold the same pixel */
            size_t bad = 0;
            for (i = 0; i < 32 * 32; i++) {
                float p0 = x3.data[i] * std[0] + mean[0], p1 = x3.data[1024 + i] * std[1] + mean[1],
                      p2 = x3.data[2048 + i] * std[2] + mean[2];
                bad += fabsf(p0 - p1) > 1e-5f || fabsf(p0 - p2) > 1e-5f;
            }
            CHECK(bad == 0, "grey into RGB: %zu pixels differ between channels", bad);
        }
        cnnvis_tensor_free(&x3), cnnvis_tensor_free(&x1);
        cnnvis_image_free(&im);
    }
    /* RGB into grey: 0.299 R + 0.587 G + 0.114 B, on a pure colour */
    {
        cnnvis_image im;
        REQUIRE(cnnvis_image_create(&im, 32, 32, 3) == CNNVIS_OK, "%s", cnnvis_last_error());
        for (i = 0; i < 32 * 32; i++) im.px[3 * i] = 200, im.px[3 * i + 1] = 100, im.px[3 * i + 2] = 50;
        REQUIRE(cnnvis_image_to_pixels(&x1, &im, 1, 32, 32) == CNNVIS_OK, "%s", cnnvis_last_error());
        REQUIRE(cnnvis_net_normalize(&x1, net1, &x1) == CNNVIS_OK, "%s", cnnvis_last_error());
        CHECK(fabsf(x1.data[500] - ((0.299f * 200 + 0.587f * 100 + 0.114f * 50) / 255.0f - 0.4f) / 0.2f) < 1e-5f,
              "luma: %g", x1.data[500]);
        /* bad arguments */
        REQUIRE(cnnvis_image_to_pixels(&x3, &im, 3, 32, 32) == CNNVIS_OK, "%s", cnnvis_last_error());
        cnnvis_clear_error();
        CHECK(cnnvis_net_normalize(&x3, net1, &x3) == CNNVIS_ERR_ARG && has_message(),
              "3-channel pixels for a 1-channel net accepted");
        cnnvis_tensor_free(&x3), cnnvis_tensor_free(&x1);
        cnnvis_clear_error();
        CHECK(cnnvis_image_to_pixels(&x1, &im, 2, 32, 32) == CNNVIS_ERR_UNSUPPORTED && has_message() && x1.data == NULL,
              "2 channels accepted");
        CHECK(cnnvis_image_to_pixels(&x1, &im, 1, 0, 32) == CNNVIS_ERR_ARG && x1.data == NULL, "height 0 accepted");
        CHECK(cnnvis_image_to_pixels(&x1, &im, 1, 32, -1) == CNNVIS_ERR_ARG && x1.data == NULL, "width -1 accepted");
        CHECK(cnnvis_net_normalize(&x1, NULL, &x1) == CNNVIS_ERR_ARG, "NULL net accepted");
        CHECK(cnnvis_image_to_pixels(&x1, NULL, 1, 32, 32) == CNNVIS_ERR_ARG && x1.data == NULL, "NULL image accepted");
        CHECK(cnnvis_image_to_pixels(NULL, &im, 1, 32, 32) == CNNVIS_ERR_ARG, "NULL pixels accepted");
        cnnvis_image_free(&im);
    }
    cnnvis_net_free(net3), cnnvis_net_free(net1);
}

static void test_dataset_image(void)
{
    cnnvis_dataset ds;
    cnnvis_image im;
    unsigned char px[2 * 3 * 2 * 2];
    int32_t labels[2] = {0, 1};
    size_t i;
    memset(&ds, 0, sizeof ds);
    for (i = 0; i < sizeof px; i++) px[i] = (unsigned char)(i * 10);
    ds.n = 2, ds.c = 3, ds.h = 2, ds.w = 2, ds.px = px, ds.labels = labels, ds.n_classes = 2;
    REQUIRE(cnnvis__dataset_image(&im, &ds, 1) == CNNVIS_OK, "%s", cnnvis_last_error());
    CHECK(im.w == 2 && im.h == 2 && im.c == 3, "%dx%dx%d", im.w, im.h, im.c);
    /* image 1, (C,H,W) -> (H,W,C): pixel (1,0) channel 2 is px[((1*3+2)*2+0)*2+1] */
    CHECK(px_at(&im, 1, 0, 2) == px[((1 * 3 + 2) * 2 + 0) * 2 + 1] && px_at(&im, 0, 1, 0) == px[((1 * 3 + 0) * 2 + 1) * 2 + 0],
          "planar to interleaved is wrong");
    cnnvis_image_free(&im);
    cnnvis_clear_error();
    CHECK(cnnvis__dataset_image(&im, &ds, 2) == CNNVIS_ERR_ARG && has_message(), "image 2 of 2 accepted");
    CHECK(cnnvis__dataset_image(&im, NULL, 0) == CNNVIS_ERR_ARG, "NULL data set accepted");
    /* the public way to the same bytes: cnnvis_dataset_pixels, then cnnvis_tensor_to_image in PIXELS mode */
    {
        cnnvis_image ref, pub;
        cnnvis_tensor p;
        cnnvis_map_desc m;
        memset(&m, 0, sizeof m);
        m.mode = CNNVIS_MAP_PIXELS;
        REQUIRE(cnnvis__dataset_image(&ref, &ds, 1) == CNNVIS_OK, "%s", cnnvis_last_error());
        REQUIRE(cnnvis_dataset_pixels(&p, NULL, &ds, 1, 1) == CNNVIS_OK, "%s", cnnvis_last_error());
        REQUIRE(cnnvis_tensor_to_image(&pub, &p, 0, &m) == CNNVIS_OK, "%s", cnnvis_last_error());
        CHECK(pub.w == ref.w && pub.h == ref.h && pub.c == ref.c && memcmp(pub.px, ref.px, (size_t)ref.w * ref.h * ref.c) == 0,
              "dataset_pixels + tensor_to_image differs from the data set's bytes");
        cnnvis_image_free(&ref), cnnvis_image_free(&pub), cnnvis_tensor_free(&p);
    }
}

/* --- The drawing kit ---------------------------------------------------------------------- */

static void test_colormaps(void)
{
    unsigned char rgb[3];
    static const struct {
        cnnvis_colormap cmap;
        float v;
        unsigned char want[3];
    } cases[] = {
        {CNNVIS_CMAP_VIRIDIS, 0, {68, 1, 84}},       {CNNVIS_CMAP_VIRIDIS, 1, {253, 231, 37}},
        {CNNVIS_CMAP_VIRIDIS, -3, {68, 1, 84}},      {CNNVIS_CMAP_VIRIDIS, 7, {253, 231, 37}},
        {CNNVIS_CMAP_INFERNO, 0, {0, 0, 4}},         {CNNVIS_CMAP_INFERNO, 1, {252, 255, 164}},
        {CNNVIS_CMAP_DIVERGING, 0.5f, {221, 221, 221}}, {CNNVIS_CMAP_DIVERGING, 0, {59, 76, 192}},
        {CNNVIS_CMAP_DIVERGING, 1, {180, 4, 38}},    {CNNVIS_CMAP_GREY, 0.5f, {128, 128, 128}},
        {CNNVIS_CMAP_GREY, 0, {0, 0, 0}},            {CNNVIS_CMAP_GREY, 1, {255, 255, 255}},
        {CNNVIS_CMAP_GREY, 0.25f, {64, 64, 64}},
    };
    size_t k;
    int i, prev = -1, monotone = 1;
    for (k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        cnnvis__colormap_rgb(cases[k].cmap, cases[k].v, rgb);
        CHECK(rgb[0] == cases[k].want[0] && rgb[1] == cases[k].want[1] && rgb[2] == cases[k].want[2],
              "colormap %d at %g: (%d, %d, %d), expected (%d, %d, %d)", (int)cases[k].cmap, cases[k].v, rgb[0], rgb[1], rgb[2],
              cases[k].want[0], cases[k].want[1], cases[k].want[2]);
    }
    cnnvis__colormap_rgb(CNNVIS_CMAP_VIRIDIS, (float)NAN, rgb);
    CHECK(rgb[0] == 68 && rgb[1] == 1 && rgb[2] == 84, "NaN is not the bottom of the map: (%d, %d, %d)", rgb[0], rgb[1], rgb[2]);
    /* viridis' green rises monotonically */
    for (i = 0; i <= 100; i++) {
        cnnvis__colormap_rgb(CNNVIS_CMAP_VIRIDIS, i / 100.0f, rgb);
        if (rgb[1] < prev) monotone = 0;
        prev = rgb[1];
    }
    CHECK(monotone, "viridis' green channel is not monotone");
}

static cnnvis_result to_image(cnnvis_image *im, const float *v, int n, int c, int h, int w, int i, cnnvis_map_mode mode, float clip,
                              cnnvis_colormap cmap)
{
    cnnvis_tensor t;
    cnnvis_map_desc m;
    cnnvis_result r;
    memset(&t, 0, sizeof t);
    t.n = n, t.c = c, t.h = h, t.w = w, t.data = (float *)v;
    memset(&m, 0, sizeof m);
    m.mode = mode, m.clip_percentile = clip, m.cmap = cmap;
    cnnvis_clear_error();
    r = cnnvis_tensor_to_image(im, &t, i, &m);
    return r;
}

static void test_tensor_to_image(void)
{
    float v[2 * 20], big[1000], rgbv[3 * 4], flat[6];
    cnnvis_image im;
    int k, wrong = 0;
    /* MINMAX: image 1 of two; min -> 0, max -> 255, linear in between */
    for (k = 0; k < 40; k++) v[k] = k < 20 ? 1000.0f : -3.0f + (float)(k - 20) * 0.5f; /* -3 .. 6.5 */
    REQUIRE(to_image(&im, v, 2, 1, 4, 5, 1, CNNVIS_MAP_MINMAX, 0, CNNVIS_CMAP_GREY) == CNNVIS_OK, "%s", cnnvis_last_error());
    CHECK(im.w == 5 && im.h == 4 && im.c == 1, "%dx%dx%d", im.w, im.h, im.c);
    CHECK(im.px[0] == 0 && im.px[19] == 255, "min -> %d, max -> %d", im.px[0], im.px[19]);
    for (k = 0; k < 20; k++) wrong += abs(im.px[k] - (int)floor(k / 19.0 * 255 + 0.5)) > 1;
    CHECK(wrong == 0, "MINMAX is not linear in %d pixels", wrong);
    cnnvis_image_free(&im);
    /* NULL desc means the defaults: MINMAX, GREY */
    {
        cnnvis_tensor t;
        memset(&t, 0, sizeof t);
        t.n = 2, t.c = 1, t.h = 4, t.w = 5, t.data = v;
        REQUIRE(cnnvis_tensor_to_image(&im, &t, 1, NULL) == CNNVIS_OK, "%s", cnnvis_last_error());
        CHECK(im.c == 1 && im.px[0] == 0 && im.px[19] == 255, "NULL desc: %d %d", im.px[0], im.px[19]);
        cnnvis_image_free(&im);
    }
    /* SYMMETRIC: zero is mid-grey, -max -> 0, +max -> 255 */
    {
        float s[5] = {-2, -1, 0, 0.5f, 2};
        REQUIRE(to_image(&im, s, 1, 1, 1, 5, 0, CNNVIS_MAP_SYMMETRIC, 0, CNNVIS_CMAP_GREY) == CNNVIS_OK, "%s", cnnvis_last_error());
        CHECK(im.px[0] == 0 && im.px[4] == 255, "-max -> %d, max -> %d", im.px[0], im.px[4]);
        CHECK(abs(im.px[2] - 128) <= 1, "0 -> %d, expected mid-grey", im.px[2]);
        CHECK(abs(im.px[1] - 64) <= 1 && abs(im.px[3] - 159) <= 1, "-1 -> %d (64), 0.5 -> %d (159)", im.px[1], im.px[3]);
        cnnvis_image_free(&im);
        s[4] = 1; /* not symmetric data: max |v| = 2 from the negative side; +1 -> 191 */
        REQUIRE(to_image(&im, s, 1, 1, 1, 5, 0, CNNVIS_MAP_SYMMETRIC, 0, CNNVIS_CMAP_GREY) == CNNVIS_OK, "%s", cnnvis_last_error());
        CHECK(im.px[0] == 0 && abs(im.px[2] - 128) <= 1 && abs(im.px[4] - 191) <= 1, "asymmetric data: %d %d %d", im.px[0], im.px[2],
              im.px[4]);
        cnnvis_image_free(&im);
    }
    /* CHANNEL: each channel's own range; MINMAX: one range for all */
    for (k = 0; k < 4; k++) rgbv[k] = (float)k / 3.0f, rgbv[4 + k] = 100.0f + 100.0f * (float)k / 3.0f, rgbv[8 + k] = -5.0f + (float)k / 3.0f;
    REQUIRE(to_image(&im, rgbv, 1, 3, 2, 2, 0, CNNVIS_MAP_CHANNEL, 0, CNNVIS_CMAP_GREY) == CNNVIS_OK, "%s", cnnvis_last_error());
    CHECK(im.c == 3, "3 channels give %d", im.c);
    for (k = 0; k < 3; k++)
        CHECK(im.px[k] == 0 && im.px[9 + k] == 255 && abs(im.px[3 + k] - 85) <= 1, "CHANNEL channel %d: %d %d %d", k, im.px[k],
              im.px[3 + k], im.px[9 + k]);
    cnnvis_image_free(&im);
    REQUIRE(to_image(&im, rgbv, 1, 3, 2, 2, 0, CNNVIS_MAP_MINMAX, 0, CNNVIS_CMAP_GREY) == CNNVIS_OK, "%s", cnnvis_last_error());
    CHECK(im.px[2] == 0 && im.px[9 + 1] == 255 && im.px[0] > 5 && im.px[9 + 2] < 10, "MINMAX over channels: %d %d %d %d", im.px[2],
          im.px[10], im.px[0], im.px[11]);
    cnnvis_image_free(&im);
    /* a constant tensor: 128 everywhere in the min-max modes (no division by zero); under
       SYMMETRIC a constant c != 0 is max |v|, so it maps to 255 */
    for (k = 0; k < 6; k++) flat[k] = 0.75f;
    for (k = 0; k < 2; k++) {
        int i;
        REQUIRE(to_image(&im, flat, 1, 1, 2, 3, 0, (cnnvis_map_mode)k, 0, CNNVIS_CMAP_GREY) == CNNVIS_OK, "%s", cnnvis_last_error());
        for (i = 0; i < 6; i++) CHECK(im.px[i] == 128, "constant, mode %d: pixel %d is %d", k, i, im.px[i]);
        cnnvis_image_free(&im);
    }
    REQUIRE(to_image(&im, flat, 1, 1, 2, 3, 0, CNNVIS_MAP_SYMMETRIC, 0, CNNVIS_CMAP_GREY) == CNNVIS_OK, "%s", cnnvis_last_error());
    CHECK(im.px[0] == 255 && im.px[5] == 255, "constant 0.75, SYMMETRIC: %d", im.px[0]);
    cnnvis_image_free(&im);
    REQUIRE(to_image(&im, flat, 1, 3, 1, 2, 0, CNNVIS_MAP_CHANNEL, 0, CNNVIS_CMAP_GREY) == CNNVIS_OK, "%s", cnnvis_last_error());
    CHECK(im.c == 3 && im.px[0] == 128 && im.px[5] == 128, "constant RGB, CHANNEL: %d", im.px[0]);
    cnnvis_image_free(&im);
    for (k = 0; k < 6; k++) flat[k] = 0;
    REQUIRE(to_image(&im, flat, 1, 1, 2, 3, 0, CNNVIS_MAP_SYMMETRIC, 0, CNNVIS_CMAP_GREY) == CNNVIS_OK, "%s", cnnvis_last_error());
    CHECK(im.px[0] == 128 && im.px[5] == 128, "all zero, SYMMETRIC: %d", im.px[0]);
    cnnvis_image_free(&im);
    /* clip_percentile 99: one huge value no longer washes out the rest */
    for (k = 0; k < 1000; k++) big[k] = (float)k / 1000.0f;
    big[999] = 1e6f;
    REQUIRE(to_image(&im, big, 1, 1, 40, 25, 0, CNNVIS_MAP_MINMAX, 0, CNNVIS_CMAP_GREY) == CNNVIS_OK, "%s", cnnvis_last_error());
    CHECK(im.px[500] == 0, "without clipping the outlier squashes the median to %d", im.px[500]);
    cnnvis_image_free(&im);
    REQUIRE(to_image(&im, big, 1, 1, 40, 25, 0, CNNVIS_MAP_MINMAX, 99, CNNVIS_CMAP_GREY) == CNNVIS_OK, "%s", cnnvis_last_error());
    CHECK(abs(im.px[500] - 128) <= 4, "clip 99: the median maps to %d, expected about 128", im.px[500]);
    CHECK(im.px[999] == 255 && im.px[0] == 0 && im.px[995] == 255, "clip 99: ends %d %d %d", im.px[0], im.px[995], im.px[999]);
    cnnvis_image_free(&im);
    for (k = 0; k < 1000; k++) big[k] = (k % 2 ? -1.0f : 1.0f) * (float)k / 1000.0f;
    big[998] = -1e6f;
    REQUIRE(to_image(&im, big, 1, 1, 40, 25, 0, CNNVIS_MAP_SYMMETRIC, 99, CNNVIS_CMAP_GREY) == CNNVIS_OK, "%s", cnnvis_last_error());
    CHECK(im.px[998] == 0 && abs(im.px[500] - (128 + 64)) <= 4 && abs(im.px[0] - 128) <= 1, "SYMMETRIC clip 99: %d %d %d", im.px[998],
          im.px[500], im.px[0]);
    cnnvis_image_free(&im);
    /* NaN does not poison the range (min and max come from the other values); the NaN pixel
       gets some value (converting NaN to a byte is undefined behaviour: UBSan's
       float-cast-overflow check, in clang's -fsanitize=undefined, reports it) */
    {
        float nan4[4] = {0, (float)NAN, 1, 2};
        REQUIRE(to_image(&im, nan4, 1, 1, 1, 4, 0, CNNVIS_MAP_MINMAX, 0, CNNVIS_CMAP_GREY) == CNNVIS_OK, "%s", cnnvis_last_error());
        CHECK(im.px[0] == 0 && im.px[2] == 128 && im.px[3] == 255, "with a NaN: %d %d %d", im.px[0], im.px[2], im.px[3]);
        cnnvis_image_free(&im);
        REQUIRE(to_image(&im, nan4, 1, 1, 1, 4, 0, CNNVIS_MAP_MINMAX, 99, CNNVIS_CMAP_VIRIDIS) == CNNVIS_OK, "%s", cnnvis_last_error());
        CHECK(im.px[0] == 68 && im.px[9] == 253, "with a NaN, clipped, viridis: %d %d", im.px[0], im.px[9]);
        cnnvis_image_free(&im);
    }
    /* one channel through a colormap: RGB */
    for (k = 0; k < 20; k++) v[20 + k] = (float)k;
    REQUIRE(to_image(&im, v, 2, 1, 4, 5, 1, CNNVIS_MAP_MINMAX, 0, CNNVIS_CMAP_VIRIDIS) == CNNVIS_OK, "%s", cnnvis_last_error());
    CHECK(im.c == 3 && im.px[0] == 68 && im.px[1] == 1 && im.px[2] == 84 && im.px[57] == 253 && im.px[58] == 231 && im.px[59] == 37,
          "viridis ends: (%d,%d,%d) (%d,%d,%d)", im.px[0], im.px[1], im.px[2], im.px[57], im.px[58], im.px[59]);
    cnnvis_image_free(&im);
    /* refused */
    {
        static const struct {
            int mode, cmap;
            float clip;
        } bad[] = {{4, 0, 0}, {-1, 0, 0}, {0, 4, 0}, {0, -1, 0}, {0, 0, 50}, {0, 0, 100}, {0, 0, 20}, {0, 0, 150}, {0, 0, -99}};
        size_t b;
        for (b = 0; b < sizeof bad / sizeof bad[0]; b++) {
            memset(&im, 0x5a, sizeof im);
            CHECK(to_image(&im, v, 2, 1, 4, 5, 0, (cnnvis_map_mode)bad[b].mode, bad[b].clip, (cnnvis_colormap)bad[b].cmap) ==
                          CNNVIS_ERR_ARG && has_message(),
                  "mode %d cmap %d clip %g accepted", bad[b].mode, bad[b].cmap, bad[b].clip);
        }
        CHECK(to_image(&im, v, 2, 1, 4, 5, 0, CNNVIS_MAP_MINMAX, (float)NAN, CNNVIS_CMAP_GREY) == CNNVIS_ERR_ARG, "clip NaN accepted");
        CHECK(to_image(&im, v, 1, 2, 4, 5, 0, CNNVIS_MAP_MINMAX, 0, CNNVIS_CMAP_GREY) == CNNVIS_ERR_ARG && has_message(),
              "2 channels accepted");
        CHECK(to_image(&im, v, 2, 1, 4, 5, 2, CNNVIS_MAP_MINMAX, 0, CNNVIS_CMAP_GREY) == CNNVIS_ERR_ARG, "image 2 of 2 accepted");
        CHECK(to_image(&im, v, 2, 1, 4, 5, -1, CNNVIS_MAP_MINMAX, 0, CNNVIS_CMAP_GREY) == CNNVIS_ERR_ARG, "image -1 accepted");
        CHECK(to_image(&im, NULL, 2, 1, 4, 5, 0, CNNVIS_MAP_MINMAX, 0, CNNVIS_CMAP_GREY) == CNNVIS_ERR_ARG, "NULL data accepted");
        CHECK(cnnvis_tensor_to_image(&im, NULL, 0, NULL) == CNNVIS_ERR_ARG, "NULL tensor accepted");
    }
    /* the plane version: the same mapping */
    {
        cnnvis_map_desc m;
        memset(&m, 0, sizeof m);
        REQUIRE(cnnvis__plane_to_image(&im, v + 20, 5, 4, &m) == CNNVIS_OK, "%s", cnnvis_last_error());
        CHECK(im.w == 5 && im.h == 4 && im.c == 1 && im.px[0] == 0 && im.px[19] == 255, "plane: %dx%dx%d %d %d", im.w, im.h, im.c,
              im.px[0], im.px[19]);
        cnnvis_image_free(&im);
        m.cmap = CNNVIS_CMAP_INFERNO;
        REQUIRE(cnnvis__plane_to_image(&im, v + 20, 5, 4, &m) == CNNVIS_OK, "%s", cnnvis_last_error());
        CHECK(im.c == 3 && im.px[0] == 0 && im.px[2] == 4, "plane through inferno");
        cnnvis_image_free(&im);
        cnnvis_clear_error();
        CHECK(cnnvis__plane_to_image(&im, v, 0, 4, &m) == CNNVIS_ERR_ARG && has_message(), "width 0 accepted");
        CHECK(cnnvis__plane_to_image(&im, NULL, 5, 4, &m) == CNNVIS_ERR_ARG, "NULL plane accepted");
    }
}

static int count_colour(const cnnvis_image *im, int x0, int y0, int x1, int y1, const unsigned char rgb[3])
{
    int x, y, n = 0;
    for (y = y0 < 0 ? 0 : y0; y < y1 && y < im->h; y++)
        for (x = x0 < 0 ? 0 : x0; x < x1 && x < im->w; x++) {
            const unsigned char *p = im->px + ((size_t)y * im->w + x) * im->c;
            n += im->c == 3 ? p[0] == rgb[0] && p[1] == rgb[1] && p[2] == rgb[2] : p[0] == rgb[0];
        }
    return n;
}

static void test_montage(void)
{
    cnnvis_image tiles[6], out;
    cnnvis_montage_desc d;
    static const char *const captions[6] = {"ab", "c", NULL, "d", "e", "f"};
    int i, x, y, wrong;
    for (i = 0; i < 5; i++) {
        REQUIRE(cnnvis_image_create(&tiles[i], 4, 3, 3) == CNNVIS_OK, "%s", cnnvis_last_error());
        for (y = 0; y < 3; y++)
            for (x = 0; x < 4; x++) {
                unsigned char *p = tiles[i].px + ((size_t)y * 4 + x) * 3;
                p[0] = (unsigned char)(100 + i), p[1] = (unsigned char)(10 * x), p[2] = (unsigned char)(10 * y);
            }
    }
    /* 5 tiles, 3 columns, pad 2: (3 * (4 + 2) + 2) x (2 * (3 + 2) + 2) */
    memset(&d, 0, sizeof d);
    d.cols = 3;
    REQUIRE(cnnvis_montage(&out, tiles, 5, NULL, &d) == CNNVIS_OK, "%s", cnnvis_last_error());
    CHECK(out.w == 20 && out.h == 12 && out.c == 3, "%dx%dx%d, expected 20x12x3", out.w, out.h, out.c);
    for (wrong = 0, i = 0; i < 5; i++)
        for (y = 0; y < 3; y++)
            for (x = 0; x < 4; x++) {
                int ox = 2 + (i % 3) * 6 + x, oy = 2 + (i / 3) * 5 + y;
                wrong += memcmp(out.px + ((size_t)oy * out.w + ox) * 3, tiles[i].px + ((size_t)y * 4 + x) * 3, 3) != 0;
            }
    CHECK(wrong == 0, "%d tile pixels are not where the layout puts them", wrong);
    CHECK(out.px[0] == 32 && out.px[1] == 32 && out.px[2] == 32, "background %d, expected 32", out.px[0]);
    CHECK(px_at(&out, 14, 9, 0) == 32, "the empty sixth cell is not background");
    cnnvis_image_free(&out);
    /* defaults: cols ceil(sqrt(5)) = 3, same size */
    REQUIRE(cnnvis_montage(&out, tiles, 5, NULL, NULL) == CNNVIS_OK, "%s", cnnvis_last_error());
    CHECK(out.w == 20 && out.h == 12, "defaults: %dx%d", out.w, out.h);
    cnnvis_image_free(&out);
    /* cols larger than n: one row of n */
    d.cols = 9, d.pad = 1;
    REQUIRE(cnnvis_montage(&out, tiles, 2, NULL, &d) == CNNVIS_OK, "%s", cnnvis_last_error());
    CHECK(out.w == 2 * (4 + 1) + 1 && out.h == 3 + 2, "cols > n: %dx%d", out.w, out.h);
    cnnvis_image_free(&out);
    /* captions: cell width max(4, text width of "ab" = 11), caption height 8 + 2 */
    d.cols = 3, d.pad = 2;
    REQUIRE(cnnvis_montage(&out, tiles, 5, captions, &d) == CNNVIS_OK, "%s", cnnvis_last_error());
    CHECK(out.w == 3 * (11 + 2) + 2 && out.h == 2 * (3 + 10 + 2) + 2, "captions: %dx%d, expected 41x32", out.w, out.h);
    for (wrong = 0, i = 0; i < 5; i++)
        for (y = 0; y < 3; y++)
            for (x = 0; x < 4; x++) {
                int ox = 2 + (i % 3) * 13 + (11 - 4) / 2 + x, oy = 2 + (i / 3) * 15 + y;
                wrong += memcmp(out.px + ((size_t)oy * out.w + ox) * 3, tiles[i].px + ((size_t)y * 4 + x) * 3, 3) != 0;
            }
    CHECK(wrong == 0, "captions: %d tile pixels misplaced", wrong);
    {
        unsigned char fg[3] = {235, 235, 235};
        CHECK(count_colour(&out, 2, 2 + 3 + 1, 2 + 11, 2 + 3 + 10, fg) > 5, "caption \"ab\" not drawn under tile 0");
        CHECK(count_colour(&out, 2 + 2 * 13, 2 + 3 + 1, 2 + 2 * 13 + 11, 2 + 3 + 10, fg) == 0, "tile 2 has no caption, yet text is there");
    }
    cnnvis_image_free(&out);
    /* a title adds lines * 8 + pad + 2 at the top; max_caption cuts; bg_grey -1 is black */
    d.title = "T", d.max_caption = 1, d.bg_grey = -1;
    REQUIRE(cnnvis_montage(&out, tiles, 5, captions, &d) == CNNVIS_OK, "%s", cnnvis_last_error());
    CHECK(out.w == 3 * (5 + 2) + 2 && out.h == 12 + 2 * (3 + 10 + 2) + 2, "title + max_caption 1: %dx%d, expected 23x44", out.w, out.h);
    CHECK(out.px[(size_t)(out.h - 1) * out.w * 3] == 0, "bg_grey -1 is not black");
    cnnvis_image_free(&out);
    /* tiles of different sizes are centred; a grey tile becomes RGB */
    REQUIRE(cnnvis_image_create(&tiles[5], 2, 1, 1) == CNNVIS_OK, "%s", cnnvis_last_error());
    tiles[5].px[0] = 77, tiles[5].px[1] = 99;
    memset(&d, 0, sizeof d);
    d.cols = 2, d.bg_grey = 200;
    REQUIRE(cnnvis_montage(&out, tiles + 4, 2, NULL, &d) == CNNVIS_OK, "%s", cnnvis_last_error());
    CHECK(out.w == 2 * 6 + 2 && out.h == 3 + 4, "mixed sizes: %dx%d", out.w, out.h);
    /* tile 5 (2x1) centred in the 4x3 cell at (8, 2): at (8 + 1, 2 + 1) */
    CHECK(px_at(&out, 9, 3, 0) == 77 && px_at(&out, 9, 3, 1) == 77 && px_at(&out, 9, 3, 2) == 77 && px_at(&out, 10, 3, 0) == 99,
          "grey tile: (%d, %d, %d) %d", px_at(&out, 9, 3, 0), px_at(&out, 9, 3, 1), px_at(&out, 9, 3, 2), px_at(&out, 10, 3, 0));
    CHECK(px_at(&out, 8, 2, 0) == 200, "bg_grey 200: %d", px_at(&out, 8, 2, 0));
    cnnvis_image_free(&out);
    /* refused */
    cnnvis_clear_error();
    CHECK(cnnvis_montage(&out, tiles, 0, NULL, NULL) == CNNVIS_ERR_ARG && has_message() && is_zeroed(&out), "n 0 accepted");
    CHECK(cnnvis_montage(&out, NULL, 3, NULL, NULL) == CNNVIS_ERR_ARG, "NULL tiles accepted");
    CHECK(cnnvis_montage(NULL, tiles, 3, NULL, NULL) == CNNVIS_ERR_ARG, "NULL out accepted");
    d.cols = -1;
    CHECK(cnnvis_montage(&out, tiles, 3, NULL, &d) == CNNVIS_ERR_ARG, "cols -1 accepted");
    d.cols = 0, d.pad = 300;
    CHECK(cnnvis_montage(&out, tiles, 3, NULL, &d) == CNNVIS_ERR_ARG, "pad 300 accepted");
    d.pad = 0, d.text_scale = 17;
    CHECK(cnnvis_montage(&out, tiles, 3, NULL, &d) == CNNVIS_ERR_ARG, "text scale 17 accepted");
    {
        cnnvis_image two[2];
        two[0] = tiles[0];
        memset(&two[1], 0, sizeof two[1]);
        CHECK(cnnvis_montage(&out, two, 2, NULL, NULL) == CNNVIS_ERR_ARG && is_zeroed(&out), "an empty tile accepted");
    }
    for (i = 0; i < 6; i++) cnnvis_image_free(&tiles[i]);
}

static void test_text(void)
{
    cnnvis_image im;
    static const unsigned char white[3] = {255, 255, 255}, red[3] = {255, 0, 0};
    int x, y, outside = 0, inside;
    CHECK(cnnvis__text_width("abc", 1) == 17, "width of \"abc\": %d", cnnvis__text_width("abc", 1));
    CHECK(cnnvis__text_width("abc", 2) == 34, "at scale 2: %d", cnnvis__text_width("abc", 2));
    CHECK(cnnvis__text_width("ab\nabcd\nx", 1) == 23, "longest line: %d", cnnvis__text_width("ab\nabcd\nx", 1));
    CHECK(cnnvis__text_width("", 1) == 0 && cnnvis__text_width(NULL, 1) == 0, "empty text has a width");
    CHECK(cnnvis__text_width("a", 0) == 5, "scale 0 is 1: %d", cnnvis__text_width("a", 0));
    REQUIRE(cnnvis_image_create(&im, 30, 12, 3) == CNNVIS_OK, "%s", cnnvis_last_error());
    cnnvis_image_text(&im, 2, 3, "abc", white, 1);
    inside = count_colour(&im, 2, 3, 2 + 17, 3 + 7, white);
    for (y = 0; y < im.h; y++)
        for (x = 0; x < im.w; x++)
            if ((x < 2 || x >= 19 || y < 3 || y >= 10) && px_at(&im, x, y, 0)) outside++;
    CHECK(inside > 15, "only %d pixels of \"abc\" drawn", inside);
    CHECK(outside == 0, "%d pixels drawn outside the 17x7 box", outside);
    /* 'l' of the font: column 1 of rows 0..5, then (2,6),(3,6): the exact glyph */
    memset(im.px, 0, (size_t)30 * 12 * 3);
    cnnvis_image_text(&im, 0, 0, "l", red, 1);
    CHECK(px_at(&im, 1, 0, 0) == 255 && px_at(&im, 1, 5, 0) == 255 && px_at(&im, 2, 6, 0) == 255 && px_at(&im, 0, 0, 0) == 0 &&
              px_at(&im, 1, 0, 1) == 0,
          "glyph 'l' is not the font's");
    /* clipped at every border, no crash (ASan) */
    cnnvis_image_text(&im, -7, -5, "clip\nme", white, 3);
    cnnvis_image_text(&im, 25, 8, "clip\nme", white, 2);
    memset(im.px, 0, (size_t)30 * 12 * 3);
    cnnvis_image_text(&im, 0, 0, "\x01\x7f\xff", white, 1); /* drawn as '?' */
    CHECK(count_colour(&im, 0, 0, 5, 7, white) > 0, "an unprintable character draws nothing");
    cnnvis_image_text(NULL, 0, 0, "x", white, 1);
    cnnvis_image_text(&im, 0, 0, NULL, white, 1);
    cnnvis_image_free(&im);
    /* on a grey image: luma of the colour */
    REQUIRE(cnnvis_image_create(&im, 10, 8, 1) == CNNVIS_OK, "%s", cnnvis_last_error());
    cnnvis_image_text(&im, 0, 0, "|", white, 1);
    CHECK(px_at(&im, 2, 0, 0) == 255, "white on grey: %d", px_at(&im, 2, 0, 0));
    cnnvis_image_free(&im);
}

static void test_outline_overlay(void)
{
    cnnvis_image im, dst;
    unsigned char mask[10 * 10];
    static const unsigned char green[3] = {0, 255, 0};
    float heat[10 * 10];
    int x, y, wrong = 0;
    REQUIRE(cnnvis_image_create(&im, 10, 10, 3) == CNNVIS_OK, "%s", cnnvis_last_error());
    for (x = 0; x < 300; x += 3) im.px[x] = 10, im.px[x + 1] = 20, im.px[x + 2] = 30;
    memset(mask, 0, sizeof mask);
    for (y = 2; y <= 7; y++)
        for (x = 2; x <= 7; x++) mask[y * 10 + x] = 1;
    REQUIRE(cnnvis__image_outline(&im, mask, green) == CNNVIS_OK, "%s", cnnvis_last_error());
    for (y = 0; y < 10; y++)
        for (x = 0; x < 10; x++) {
            int in = x >= 2 && x <= 7 && y >= 2 && y <= 7, edge = in && (x == 2 || x == 7 || y == 2 || y == 7);
            int is_green = px_at(&im, x, y, 0) == 0 && px_at(&im, x, y, 1) == 255 && px_at(&im, x, y, 2) == 0;
            int untouched = px_at(&im, x, y, 0) == 10 && px_at(&im, x, y, 1) == 20 && px_at(&im, x, y, 2) == 30;
            if (edge ? !is_green : !untouched) {
                if (wrong++ < 3) CHECK(0, "outline at (%d, %d): %s", x, y, edge ? "not drawn" : "changed");
            }
        }
    CHECK(wrong == 0, "%d outline pixels wrong", wrong);
    /* a mask touching the image border: the border pixels are boundary */
    memset(mask, 1, sizeof mask);
    REQUIRE(cnnvis__image_outline(&im, mask, green) == CNNVIS_OK, "%s", cnnvis_last_error());
    CHECK(px_at(&im, 0, 5, 1) == 255 && px_at(&im, 9, 9, 1) == 255 && px_at(&im, 5, 5, 1) == 20, "full mask outline");
    cnnvis_clear_error();
    CHECK(cnnvis__image_outline(&im, NULL, green) == CNNVIS_ERR_ARG && has_message(), "NULL mask accepted");
    CHECK(cnnvis__image_outline(NULL, mask, green) == CNNVIS_ERR_ARG, "NULL image accepted");

    /* overlay: alpha 0 is the image, alpha 1 the colormap */
    for (x = 0; x < 100; x++) heat[x] = (float)x / 99.0f;
    heat[0] = -2, heat[99] = 5; /* clamped */
    REQUIRE(cnnvis_image_overlay(&dst, &im, heat, 0, CNNVIS_CMAP_VIRIDIS) == CNNVIS_OK, "%s", cnnvis_last_error());
    CHECK(same_image(&dst, &im), "alpha 0 is not the image");
    cnnvis_image_free(&dst);
    REQUIRE(cnnvis_image_overlay(&dst, &im, heat, 1, CNNVIS_CMAP_VIRIDIS) == CNNVIS_OK, "%s", cnnvis_last_error());
    for (wrong = 0, x = 0; x < 100; x++) {
        unsigned char rgb[3];
        cnnvis__colormap_rgb(CNNVIS_CMAP_VIRIDIS, heat[x], rgb);
        wrong += memcmp(dst.px + 3 * x, rgb, 3) != 0;
    }
    CHECK(wrong == 0, "alpha 1: %d pixels are not the colormap", wrong);
    CHECK(dst.px[0] == 68 && dst.px[297] == 253, "clamped heat: %d %d", dst.px[0], dst.px[297]);
    cnnvis_image_free(&dst);
    /* alpha 0.5: the blend rounded to nearest (halves up) */
    REQUIRE(cnnvis_image_overlay(&dst, &im, heat, 0.5f, CNNVIS_CMAP_GREY) == CNNVIS_OK, "%s", cnnvis_last_error());
    for (wrong = 0, x = 0; x < 100; x++) {
        unsigned char rgb[3];
        int ch;
        cnnvis__colormap_rgb(CNNVIS_CMAP_GREY, heat[x], rgb);
        for (ch = 0; ch < 3; ch++)
            if (dst.px[3 * x + ch] != (int)floor(0.5 * im.px[3 * x + ch] + 0.5 * rgb[ch] + 0.5) && wrong++ < 2)
                CHECK(0, "alpha 0.5, pixel %d channel %d: %d, expected %g rounded", x, ch, dst.px[3 * x + ch],
                      0.5 * im.px[3 * x + ch] + 0.5 * rgb[ch]);
    }
    CHECK(wrong == 0, "alpha 0.5: %d samples are not the rounded blend", wrong);
    cnnvis_image_free(&dst);
    /* a grey image gives an RGB result */
    cnnvis_image_free(&im);
    REQUIRE(make_image(&im, 10, 10, 1, 3), "%s", cnnvis_last_error());
    REQUIRE(cnnvis_image_overlay(&dst, &im, heat, 0, CNNVIS_CMAP_INFERNO) == CNNVIS_OK, "%s", cnnvis_last_error());
    CHECK(dst.c == 3 && dst.px[3 * 7] == im.px[7] && dst.px[3 * 7 + 2] == im.px[7], "grey + alpha 0");
    cnnvis_image_free(&dst);
    cnnvis_clear_error();
    CHECK(cnnvis_image_overlay(&dst, &im, heat, -0.1f, CNNVIS_CMAP_GREY) == CNNVIS_ERR_ARG && has_message(), "alpha -0.1 accepted");
    CHECK(cnnvis_image_overlay(&dst, &im, heat, 1.1f, CNNVIS_CMAP_GREY) == CNNVIS_ERR_ARG, "alpha 1.1 accepted");
    CHECK(cnnvis_image_overlay(&dst, &im, heat, (float)NAN, CNNVIS_CMAP_GREY) == CNNVIS_ERR_ARG, "alpha NaN accepted");
    CHECK(cnnvis_image_overlay(&dst, &im, NULL, 0.5f, CNNVIS_CMAP_GREY) == CNNVIS_ERR_ARG, "NULL heat accepted");
    cnnvis_image_free(&im);
}

static void test_plots(void)
{
    static const float ys[6] = {1, 3, 2, 5, 4, 4.5f}, xs[6] = {0, 1, 2, 4, 8, 9}, ys2[3] = {2, -1, 3};
    static const char *const cats[3] = {"a", "bb", "c"};
    static const unsigned char col[3] = {200, 0, 100}, col2[3] = {0, 150, 90};
    cnnvis_series s[2];
    cnnvis_plot_desc d;
    cnnvis_image out;
    memset(s, 0, sizeof s);
    s[0].y = ys, s[0].n = 6, memcpy(s[0].rgb, col, 3); /* no name: no legend, so the colour is the data's */
    s[1].y = ys2, s[1].n = 3, s[1].x = xs, memcpy(s[1].rgb, col2, 3);
    memset(&d, 0, sizeof d);
    d.w = 300, d.h = 200, d.series = s, d.n_series = 2, d.title = "loss", d.xlabel = "epoch", d.ylabel = "value";
    REQUIRE(cnnvis_plot_lines(&out, &d) == CNNVIS_OK, "%s", cnnvis_last_error());
    CHECK(out.w == 300 && out.h == 200 && out.c == 3, "lines: %dx%dx%d", out.w, out.h, out.c);
    CHECK(count_colour(&out, 64, 28, 300 - 16, 200 - 44, col) > 50, "series 1's colour is not in the plot area (%d pixels)",
          count_colour(&out, 64, 28, 300 - 16, 200 - 44, col));
    CHECK(count_colour(&out, 64, 28, 300 - 16, 200 - 44, col2) > 20, "series 2's colour is not in the plot area");
    CHECK(count_colour(&out, 0, 0, 60, 200, col) == 0, "series colour left of the plot area");
    cnnvis_image_free(&out);
    /* defaults: 640 x 400, palette colour when rgb is zero */
    memset(&d, 0, sizeof d);
    memset(s[0].rgb, 0, 3);
    d.series = s, d.n_series = 1;
    REQUIRE(cnnvis_plot_lines(&out, &d) == CNNVIS_OK, "%s", cnnvis_last_error());
    {
        static const unsigned char tab_blue[3] = {31, 119, 180};
        CHECK(out.w == 640 && out.h == 400, "default size %dx%d", out.w, out.h);
        CHECK(count_colour(&out, 64, 12, 640 - 16, 400 - 30, tab_blue) > 50, "default palette colour not drawn");
    }
    cnnvis_image_free(&out);
    memcpy(s[0].rgb, col, 3);
    /* bars */
    memset(&d, 0, sizeof d);
    d.w = 320, d.h = 240, d.series = s, d.n_series = 1, d.categories = cats, d.n_categories = 3;
    REQUIRE(cnnvis__plot_bars(&out, &d) == CNNVIS_OK, "%s", cnnvis_last_error());
    CHECK(out.w == 320 && out.h == 240, "bars: %dx%d", out.w, out.h);
    CHECK(count_colour(&out, 64, 12, 320 - 16, 240 - 30, col) > 500, "bars not drawn (%d pixels)",
          count_colour(&out, 64, 12, 320 - 16, 240 - 30, col));
    cnnvis_image_free(&out);
    d.series = s + 1; /* negative values */
    REQUIRE(cnnvis__plot_bars(&out, &d) == CNNVIS_OK, "%s", cnnvis_last_error());
    CHECK(count_colour(&out, 64, 12, 320 - 16, 240 - 30, col2) > 300, "bars with a negative value not drawn");
    cnnvis_image_free(&out);
    /* refused: empty series, too few values, no categories, odd sizes */
    memset(&d, 0, sizeof d);
    cnnvis_clear_error();
    CHECK(cnnvis_plot_lines(&out, &d) == CNNVIS_ERR_ARG && has_message() && is_zeroed(&out), "no series accepted");
    d.series = s, d.n_series = 0;
    CHECK(cnnvis_plot_lines(&out, &d) == CNNVIS_ERR_ARG, "n_series 0 accepted");
    d.n_series = 1, s[0].n = 0;
    CHECK(cnnvis_plot_lines(&out, &d) == CNNVIS_ERR_ARG, "a series of 0 points accepted");
    s[0].n = 6, s[0].y = NULL;
    CHECK(cnnvis_plot_lines(&out, &d) == CNNVIS_ERR_ARG, "a series without y accepted");
    s[0].y = ys;
    CHECK(cnnvis_plot_lines(NULL, &d) == CNNVIS_ERR_ARG, "NULL out accepted");
    CHECK(cnnvis_plot_lines(&out, NULL) == CNNVIS_ERR_ARG, "NULL desc accepted");
    d.w = 100;
    CHECK(cnnvis_plot_lines(&out, &d) == CNNVIS_ERR_ARG && is_zeroed(&out), "width 100 accepted");
    d.w = 0, d.h = 9000;
    CHECK(cnnvis_plot_lines(&out, &d) == CNNVIS_ERR_ARG, "height 9000 accepted");
    d.h = 0;
    CHECK(cnnvis__plot_bars(&out, &d) == CNNVIS_ERR_ARG, "bars without categories accepted");
    d.categories = cats, d.n_categories = 3, s[0].n = 2;
    CHECK(cnnvis__plot_bars(&out, &d) == CNNVIS_ERR_ARG, "bars: 2 values for 3 categories accepted");
    s[0].n = 6;
    d.n_series = 0;
    CHECK(cnnvis__plot_bars(&out, &d) == CNNVIS_ERR_ARG, "bars: no series accepted");
    /* a single point and NaN values do not break the axes */
    {
        float one = 7, with_nan[4] = {1, (float)NAN, 3, (float)INFINITY};
        s[0].y = &one, s[0].n = 1;
        d.n_series = 1, d.w = 200, d.h = 150;
        REQUIRE(cnnvis_plot_lines(&out, &d) == CNNVIS_OK, "one point: %s", cnnvis_last_error());
        CHECK(count_colour(&out, 64, 12, 200 - 16, 150 - 30, col) > 10, "the single point is not drawn");
        cnnvis_image_free(&out);
        s[0].y = with_nan, s[0].n = 4;
        REQUIRE(cnnvis_plot_lines(&out, &d) == CNNVIS_OK, "NaN: %s", cnnvis_last_error());
        cnnvis_image_free(&out);
        s[0].y = ys, s[0].n = 6;
    }
}

static void test_plot_matrix_labels(void)
{
    static const float values[6] = {0, 1, 2, 3, 4, 10};
    static const char *const rows[2] = {"cat", "dog"}, *const cols[3] = {"a", "b", NULL};
    static const unsigned char top_colour[3] = {253, 231, 37}, zero_colour[3] = {68, 1, 84};
    cnnvis_image out;
    unsigned char labels[6] = {0, 1, 11, 12, 255, 5};
    REQUIRE(cnnvis_plot_matrix(&out, values, 2, 3, rows, cols, "confusion", 1) == CNNVIS_OK, "%s", cnnvis_last_error());
    CHECK(out.c == 3 && out.w >= 3 * 18 + cnnvis__text_width("dog", 1) && out.h >= 2 * 18 + 16, "matrix: %dx%d", out.w, out.h);
    CHECK(count_colour(&out, 0, 0, out.w, out.h, top_colour) > 100, "the largest value's cell is not viridis(1)");
    CHECK(count_colour(&out, 0, 0, out.w, out.h, zero_colour) > 100, "the zero cell is not viridis(0)");
    cnnvis_image_free(&out);
    REQUIRE(cnnvis_plot_matrix(&out, values, 1, 1, NULL, NULL, NULL, 0) == CNNVIS_OK, "%s", cnnvis_last_error());
    CHECK(out.w == 8 + 18 + 4 && out.h == 4 + 18 + 4, "1x1 matrix without names: %dx%d", out.w, out.h);
    cnnvis_image_free(&out);
    cnnvis_clear_error();
    CHECK(cnnvis_plot_matrix(&out, values, 0, 3, NULL, NULL, NULL, 1) == CNNVIS_ERR_ARG && has_message(), "0 rows accepted");
    CHECK(cnnvis_plot_matrix(&out, values, 2, 3, NULL, NULL, NULL, 7) == CNNVIS_ERR_ARG, "7 decimals accepted");
    CHECK(cnnvis_plot_matrix(&out, NULL, 2, 3, NULL, NULL, NULL, 1) == CNNVIS_ERR_ARG, "NULL values accepted");
    CHECK(cnnvis_plot_matrix(&out, values, 1001, 1, NULL, NULL, NULL, 1) == CNNVIS_ERR_ARG, "1001 rows accepted");

    /* label maps: colour k of a 12-colour palette, repeating; 255 black */
    REQUIRE(cnnvis_labels_to_image(&out, labels, 3, 2) == CNNVIS_OK, "%s", cnnvis_last_error());
    CHECK(out.w == 3 && out.h == 2 && out.c == 3, "labels: %dx%dx%d", out.w, out.h, out.c);
    CHECK(out.px[0] == 31 && out.px[1] == 119 && out.px[2] == 180, "label 0: (%d, %d, %d)", out.px[0], out.px[1], out.px[2]);
    CHECK(memcmp(out.px, out.px + 9, 3) == 0, "label 12 is not label 0's colour");
    CHECK(out.px[12] == 0 && out.px[13] == 0 && out.px[14] == 0, "255 is not black");
    CHECK(memcmp(out.px, out.px + 3, 3) != 0 && memcmp(out.px + 3, out.px + 6, 3) != 0 && memcmp(out.px + 15, out.px, 3) != 0,
          "labels 0, 1, 11, 5 do not all differ");
    cnnvis_image_free(&out);
    {
        unsigned char all[12];
        int a, b, same = 0;
        for (a = 0; a < 12; a++) all[a] = (unsigned char)a;
        REQUIRE(cnnvis_labels_to_image(&out, all, 12, 1) == CNNVIS_OK, "%s", cnnvis_last_error());
        for (a = 0; a < 12; a++)
            for (b = a + 1; b < 12; b++) same += memcmp(out.px + 3 * a, out.px + 3 * b, 3) == 0;
        CHECK(same == 0, "%d pairs of the 12 label colours are equal", same);
        cnnvis_image_free(&out);
    }
    cnnvis_clear_error();
    CHECK(cnnvis_labels_to_image(&out, NULL, 3, 2) == CNNVIS_ERR_ARG && has_message(), "NULL labels accepted");
    CHECK(cnnvis_labels_to_image(&out, labels, 0, 2) == CNNVIS_ERR_ARG, "width 0 accepted");
}

static void test_fill_line_paste(void)
{
    cnnvis_image im, src;
    static const unsigned char c1[3] = {1, 2, 3};
    REQUIRE(cnnvis_image_create(&im, 8, 6, 3) == CNNVIS_OK, "%s", cnnvis_last_error());
    cnnvis_image_fill(&im, -2, -2, 4, 3, c1); /* clipped: (0..1, 0) */
    CHECK(count_colour(&im, 0, 0, 8, 6, c1) == 2, "clipped fill: %d pixels", count_colour(&im, 0, 0, 8, 6, c1));
    cnnvis_image_line(&im, 0, 5, 7, 5, c1);
    CHECK(count_colour(&im, 0, 5, 8, 6, c1) == 8, "horizontal line");
    cnnvis_image_line(&im, -100, -100, 100, 100, c1); /* mostly outside: clipped */
    CHECK(px_at(&im, 3, 3, 0) == 1 && px_at(&im, 4, 3, 0) == 0, "diagonal line");
    REQUIRE(make_image(&src, 3, 2, 1, 1), "%s", cnnvis_last_error());
    cnnvis__image_paste(&im, &src, 6, 4); /* clipped on the right */
    CHECK(px_at(&im, 6, 4, 0) == src.px[0] && px_at(&im, 6, 4, 2) == src.px[0] && px_at(&im, 7, 5, 1) == src.px[4], "paste");
    cnnvis_image_free(&src), cnnvis_image_free(&im);
}

/* Pixels mode shows [0, 1] as it is (a dream or an adversarial image is not stretched), and
   a data set's image comes back as those pixels. */
static void test_pixels_mode(void)
{
    float v[4] = {-1.0f, 0.25f, 1.0f, 2.0f};
    cnnvis_tensor t = cnnvis_tensor_wrap(v, 1, 1, 2, 2), p;
    cnnvis_map_desc m;
    cnnvis_image im;
    cnnvis_dataset ds;
    cnnvis_concepts_desc cd;
    size_t k;
    int same = 1;
    memset(&m, 0, sizeof m);
    m.mode = CNNVIS_MAP_PIXELS;
    REQUIRE(cnnvis_tensor_to_image(&im, &t, 0, &m) == CNNVIS_OK, "%s", cnnvis_last_error());
    CHECK(im.px[0] == 0 && im.px[1] == 64 && im.px[2] == 255 && im.px[3] == 255, "pixels %d %d %d %d", im.px[0], im.px[1],
          im.px[2], im.px[3]);
    cnnvis_image_free(&im);
    memset(&cd, 0, sizeof cd);
    cd.n = 3, cd.seed = 5;
    REQUIRE(cnnvis_concepts_generate(&ds, &cd) == CNNVIS_OK, "%s", cnnvis_last_error());
    REQUIRE(cnnvis_dataset_pixels(&p, NULL, &ds, 2, 1) == CNNVIS_OK, "%s", cnnvis_last_error());
    for (k = 0; k < cnnvis_tensor_count(&p); k++) same &= p.data[k] == ds.px[2 * cnnvis_tensor_count(&p) + k] * (1.0f / 255.0f);
    CHECK(same && p.n == 1 && p.c == 3 && p.h == ds.h, "cnnvis_dataset_pixels differs from the bytes * (1 / 255)");
    cnnvis_tensor_free(&p);
    CHECK(cnnvis_dataset_pixels(&p, NULL, &ds, 3, 1) == CNNVIS_ERR_ARG && strstr(cnnvis_last_error(), "[3, 4)"), "index 3 of 3 accepted");
    cnnvis_dataset_free(&ds);
}

int main(void)
{
    int result;
    t_crc_init();
    mkdir("build", 0777); /* may exist */
    mkdir(TMP_DIR, 0777);
    RUN(test_pnm_round_trip_memory);
    RUN(test_pnm_round_trip_files);
    RUN(test_pnm_accepted);
    RUN(test_pnm_refused);
    RUN(test_pnm_truncated);
    RUN(test_pnm_ascii_large_header);
    RUN(test_pnm_encode_worst_case);
    RUN(test_png_encode);
    RUN(test_png_embedded);
    RUN(test_png_filters_random);
    RUN(test_png_files);
    RUN(test_png_camvid);
    RUN(test_png_refused_headers);
    RUN(test_png_refused_structure);
    RUN(test_png_refused_zlib);
    RUN(test_png_truncated);
    RUN(test_png_fuzz);
    RUN(test_image_write);
    RUN(test_resize_nearest_area);
    RUN(test_resize_bilinear);
    RUN(test_plane_resize_matches);
    RUN(test_resize_crop_invalid);
    RUN(test_image_to_pixels);
    RUN(test_dataset_image);
    RUN(test_colormaps);
    RUN(test_tensor_to_image);
    RUN(test_pixels_mode);
    RUN(test_montage);
    RUN(test_text);
    RUN(test_outline_overlay);
    RUN(test_plots);
    RUN(test_plot_matrix_labels);
    RUN(test_fill_line_paste);
    RUN(test_no_heap_overruns);
    result = SUMMARY();
    tmp_cleanup();
    return result;
}
