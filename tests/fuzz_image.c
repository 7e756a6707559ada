/* fuzz_image.c - libFuzzer target for nn.h's image decoder (nn_image_decode, which runs
   stb_image and stb_image_resize on hostile bytes).

   Each input is decoded under three descriptions: gray 28 x 28, RGB 32 x 32, and gray
   8 x 8 with max_source_pixels = 64 (most headers refused before decoding). After every
   call:
     success  nothing written past dst: 64 canary bytes after it are intact;
     failure  an error code and a message, dst byte for byte as before.
   The input is copied into a block of exactly its size, so ASan sees any read past its
   end. The image section exists only with stb_image first, so this file compiles the
   stb implementations and nn.h's implementation itself (one translation unit).

   Build and run (Debian's clang needs libclang-rt-14-dev for -fsanitize=fuzzer):
       clang -g -O1 -fsanitize=fuzzer,address,undefined tests/fuzz_image.c -o build/fuzz_image -lm
       mkdir -p build/corpus_image_work
       build/fuzz_image -max_total_time=60 build/corpus_image_work tests/corpus_image
   -DFUZZ_STANDALONE gives a main that replays files through the same checks:
       clang -g -O1 -fsanitize=address,undefined -DFUZZ_STANDALONE tests/fuzz_image.c -o build/fuzz_image_replay -lm
       build/fuzz_image_replay tests/corpus_image/[a-z]*
   and, with --write-corpus DIR, writes the seeds of tests/corpus_image, all made here
   with stb_image_write or byte by byte, each under 2 KB: tiny PNG (gray, RGB, RGBA,
   16-bit, 4-bit palette interlaced), BMP, TGA (plain and run-length) and JPEG files that
   decode; a GIF that must be refused; and the findings of this fuzzer against stb_image
   2.27, each refused before stb_image reads it (a JPEG Huffman table of 272 codes, a JPEG
   without Huffman tables, a JPEG frame far larger than its scan data, a BMP with a
   negative compression field, a BMP whose pixel data starts inside its header):
       build/fuzz_image_replay --write-corpus tests/corpus_image */
#ifdef NN_TEST_LINKED
#error "fuzz_image.c compiles nn.h's implementation itself (it needs stb_image first): build it as one translation unit"
#endif
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STB_IMAGE_IMPLEMENTATION
#include <stb/stb_image.h>
#define STB_IMAGE_RESIZE_IMPLEMENTATION
#include <stb/stb_image_resize.h>
#ifdef FUZZ_STANDALONE
/* the seed writer only; its JPEG writer shifts negative ints: no UBSan there */
#if defined(__clang__)
#pragma clang attribute push(__attribute__((no_sanitize("undefined"))), apply_to = function)
#endif
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image_write.h>
#if defined(__clang__)
#pragma clang attribute pop
#endif
#endif

#define NN_IMPLEMENTATION
#include "../nn.h"

#define FZ_CHECK(c)                                                                \
    do {                                                                           \
        if (!(c)) {                                                                \
            fprintf(stderr, "fuzz_image.c:%d: check failed: %s\n", __LINE__, #c); \
            abort();                                                               \
        }                                                                          \
    } while (0)

#define FZ_CANARY 64

static int fz_decoded = 0; /* successful decodes, for the replay's report */

static void fz_one(const unsigned char *p, size_t n, int variant) {
    nn_image_desc d = variant == 0 ? nn_image_desc_default(28, 28, 1)
                    : variant == 1 ? nn_image_desc_default(32, 32, 3)
                                   : nn_image_desc_default(8, 8, 1);
    size_t nb, i;
    unsigned char *dst;
    char err[NN_ERROR_MAX];
    nn_result r;
    if (variant == 2) d.max_source_pixels = 64;
    nb = (size_t)d.channels * (size_t)d.height * (size_t)d.width;
    dst = (unsigned char *)malloc(nb + FZ_CANARY);
    FZ_CHECK(dst != NULL);
    memset(dst, 0xA5, nb + FZ_CANARY);
    err[0] = 0;
    r = nn_image_decode(dst, &d, p, n, err);
    for (i = nb; i < nb + FZ_CANARY; i++) FZ_CHECK(dst[i] == 0xA5);
    fz_decoded += r == NN_OK;
    if (r != NN_OK) {
        FZ_CHECK(r < 0 && err[0] != 0 && memchr(err, 0, sizeof err) != NULL);
        for (i = 0; i < nb; i++) FZ_CHECK(dst[i] == 0xA5);
    }
    free(dst);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    unsigned char *p = (unsigned char *)malloc(size ? size : 1);
    int v;
    if (!p) return 0;
    if (size) memcpy(p, data, size);
    for (v = 0; v < 3; v++) fz_one(p, size, v);
    free(p);
    return 0;
}

#ifdef FUZZ_STANDALONE
/* ---- seed writer ---- */
typedef struct fz_buf {
    unsigned char b[4096];
    size_t n;
} fz_buf;

static void fz_put(fz_buf *m, const void *d, size_t n) {
    FZ_CHECK(m->n + n <= sizeof m->b);
    memcpy(m->b + m->n, d, n);
    m->n += n;
}
static void fz_write_cb(void *ctx, void *d, int n) { fz_put((fz_buf *)ctx, d, (size_t)n); }

static void fz_be32(unsigned char *b, uint32_t v) {
    b[0] = (unsigned char)(v >> 24), b[1] = (unsigned char)(v >> 16), b[2] = (unsigned char)(v >> 8), b[3] = (unsigned char)v;
}
static void fz_chunk(fz_buf *m, const char *type, const unsigned char *d, size_t n) {
    unsigned char b[4];
    fz_be32(b, (uint32_t)n);
    fz_put(m, b, 4);
    fz_put(m, type, 4);
    if (n) fz_put(m, d, n);
    fz_be32(b, nn_crc32(nn_crc32(0, type, 4), d, n));
    fz_put(m, b, 4);
}
/* A PNG of raw (already filtered and interlaced as the header says) scanlines. */
static void fz_png(fz_buf *m, uint32_t w, uint32_t h, int depth, int color, int interlace, const unsigned char *plte,
                   int plte_n, const unsigned char *raw, int raw_len) {
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A};
    unsigned char ihdr[13] = {0};
    int zlen = 0;
    unsigned char *z = stbi_zlib_compress((unsigned char *)raw, raw_len, &zlen, 8);
    FZ_CHECK(z != NULL);
    fz_put(m, sig, 8);
    fz_be32(ihdr, w);
    fz_be32(ihdr + 4, h);
    ihdr[8] = (unsigned char)depth, ihdr[9] = (unsigned char)color, ihdr[12] = (unsigned char)interlace;
    fz_chunk(m, "IHDR", ihdr, 13);
    if (plte) fz_chunk(m, "PLTE", plte, (size_t)plte_n * 3);
    fz_chunk(m, "IDAT", z, (size_t)zlen);
    free(z);
    fz_chunk(m, "IEND", NULL, 0);
}

static int fz_save(const char *dir, const char *name, const fz_buf *m) {
    char path[1024];
    FILE *f;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    f = fopen(path, "wb");
    if (!f || fwrite(m->b, 1, m->n, f) != m->n || fclose(f) != 0) {
        fprintf(stderr, "cannot write %s\n", path);
        return 1;
    }
    FZ_CHECK(m->n < 2048);
    printf("wrote %s (%lu bytes)\n", path, (unsigned long)m->n);
    return 0;
}

static int fz_write_corpus(const char *dir) {
    unsigned char px[8 * 8 * 4], raw[256], plte[16 * 3];
    fz_buf m;
    int i, bad = 0, n;
    for (i = 0; i < (int)sizeof px; i++) px[i] = (unsigned char)(i * 37 + (i >> 3) * 11);
    for (i = 0; i < 16 * 3; i++) plte[i] = (unsigned char)(i * 5);
#define FZ_SEED(name, call)      \
    do {                         \
        m.n = 0;                 \
        FZ_CHECK(call);          \
        bad += fz_save(dir, name, &m); \
    } while (0)
    FZ_SEED("gray_4x4.png", stbi_write_png_to_func(fz_write_cb, &m, 4, 4, 1, px, 4));
    FZ_SEED("rgb_5x3.png", stbi_write_png_to_func(fz_write_cb, &m, 5, 3, 3, px, 15));
    FZ_SEED("rgba_3x3.png", stbi_write_png_to_func(fz_write_cb, &m, 3, 3, 4, px, 12));
    FZ_SEED("rgb_4x4.bmp", stbi_write_bmp_to_func(fz_write_cb, &m, 4, 4, 3, px));
    stbi_write_tga_with_rle = 0;
    FZ_SEED("rgb_4x3.tga", stbi_write_tga_to_func(fz_write_cb, &m, 4, 3, 3, px));
    FZ_SEED("gray_4x4.tga", stbi_write_tga_to_func(fz_write_cb, &m, 4, 4, 1, px));
    stbi_write_tga_with_rle = 1;
    FZ_SEED("rgba_rle_4x4.tga", stbi_write_tga_to_func(fz_write_cb, &m, 4, 4, 4, px));
    FZ_SEED("rgb_8x8.jpg", stbi_write_jpg_to_func(fz_write_cb, &m, 8, 8, 3, px, 50));
    FZ_SEED("gray_8x8.jpg", stbi_write_jpg_to_func(fz_write_cb, &m, 8, 8, 1, px, 50));
    /* 4-bit palette, Adam7 interlaced, 3 x 3: passes 1, 4, 5, 6, 7 hold its pixels */
    n = 0;
    raw[n++] = 0, raw[n++] = 0x10;                     /* pass 1: (0,0) */
    raw[n++] = 0, raw[n++] = 0x20;                     /* pass 4: (2,0) */
    raw[n++] = 0, raw[n++] = 0x34;                     /* pass 5: (0,2) (2,2) */
    raw[n++] = 0, raw[n++] = 0x50;                     /* pass 6: (1,0) */
    raw[n++] = 0, raw[n++] = 0x60;                     /* pass 6: (1,2) */
    raw[n++] = 0, raw[n++] = 0x78, raw[n++] = 0x90;    /* pass 7: row 1 */
    m.n = 0;
    fz_png(&m, 3, 3, 4, 3, 1, plte, 16, raw, n);
    bad += fz_save(dir, "palette_adam7_3x3.png", &m);
    /* 16-bit gray 2 x 2 */
    n = 0;
    for (i = 0; i < 2; i++) {
        raw[n++] = 0;
        raw[n++] = (unsigned char)(0x12 + i), raw[n++] = 0x34, raw[n++] = (unsigned char)(0xAB - i), raw[n++] = 0xCD;
    }
    m.n = 0;
    fz_png(&m, 2, 2, 16, 0, 0, NULL, 0, raw, n);
    bad += fz_save(dir, "gray16_2x2.png", &m);
    /* a JPEG Huffman table of 16 x 17 = 272 codes: this stb_image writes past its arrays
       on it (found by this fuzzer); nn.h refuses it before stb_image reads it */
    m.n = 0;
    fz_put(&m, "\xFF\xD8\xFF\xC4\x01\x23\x00", 7);
    for (i = 0; i < 16; i++) fz_put(&m, "\x11", 1);
    for (i = 0; i < 272; i++) fz_put(&m, "\x00", 1);
    fz_put(&m, "\xFF\xD9", 2);
    bad += fz_save(dir, "jpeg_huffman_272.jpg", &m);
    /* a 4 x 4 BMP saying 4 x 3211268 pixels, compression 0xDD02496E (a negative int):
       stb_image would fill 12.8 million pixels with zeros (found by this fuzzer) */
    m.n = 0;
    FZ_CHECK(stbi_write_bmp_to_func(fz_write_cb, &m, 4, 4, 3, px));
    m.b[22] = 0x04, m.b[23] = 0x00, m.b[24] = 0x31, m.b[25] = 0x00;
    m.b[30] = 0x6E, m.b[31] = 0x49, m.b[32] = 0x02, m.b[33] = 0xDD;
    bad += fz_save(dir, "bmp_garbage_compression.bmp", &m);
    /* a 4 x 4 BMP of 4 bits per pixel whose pixel data is "at byte 0": stb_image would
       skip to the end and read zeros (found by this fuzzer) */
    m.n = 0;
    FZ_CHECK(stbi_write_bmp_to_func(fz_write_cb, &m, 4, 4, 3, px));
    m.b[10] = m.b[11] = m.b[12] = m.b[13] = 0;
    m.b[28] = 4;
    bad += fz_save(dir, "bmp_offset_zero.bmp", &m);
    /* an 8 x 8 JPEG saying 4096 x 4096: stb_image would decode the missing data as zeros */
    m.n = 0;
    FZ_CHECK(stbi_write_jpg_to_func(fz_write_cb, &m, 8, 8, 1, px, 50));
    for (i = 2; i + 9 < (int)m.n && !(m.b[i] == 0xFF && m.b[i + 1] == 0xC0); i++) {}
    FZ_CHECK(i + 9 < (int)m.n);
    m.b[i + 5] = 0x10, m.b[i + 6] = 0x00, m.b[i + 7] = 0x10, m.b[i + 8] = 0x00;
    bad += fz_save(dir, "jpeg_short_scan.jpg", &m);
    /* the same JPEG (8 x 8 again) without its DHT segments: stb_image would decode with
       uninitialized Huffman tables (found by this fuzzer) */
    m.b[i + 5] = 0x00, m.b[i + 6] = 0x08, m.b[i + 7] = 0x00, m.b[i + 8] = 0x08;
    {
        fz_buf o;
        size_t pos = 2;
        o.n = 0;
        fz_put(&o, m.b, 2);
        while (pos + 4 <= m.n && m.b[pos] == 0xFF && m.b[pos + 1] != 0xDA) {
            size_t seg = 2 + ((size_t)m.b[pos + 2] << 8 | m.b[pos + 3]);
            if (m.b[pos + 1] != 0xC4) fz_put(&o, m.b + pos, seg);
            pos += seg;
        }
        fz_put(&o, m.b + pos, m.n - pos);
        bad += fz_save(dir, "jpeg_no_huffman_tables.jpg", &o);
    }
    /* refused: a GIF */
    m.n = 0;
    fz_put(&m, "GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;", 35);
    bad += fz_save(dir, "refused.gif", &m);
#undef FZ_SEED
    return bad ? 1 : 0;
}

static void fz_replay_before(void) { fz_decoded = 0; }
static void fz_replay_after(const char *path) { printf("ok %s (decoded under %d of 3 descriptions)\n", path, fz_decoded); }
#include "fuzz_replay.h"
int main(int argc, char **argv) {
    if (argc == 3 && !strcmp(argv[1], "--write-corpus")) return fz_write_corpus(argv[2]);
    return fz_replay(argc, argv, fz_replay_before, fz_replay_after);
}
#endif
