/* test_image.c - tests for nn.h's image section: decoding PNG, JPEG, BMP and TGA held in
   memory into planar (CHW) bytes, gray and RGB, at the source size (exact pixels for the
   lossless formats, PNG variants included) and resized; hostile input (every truncation,
   a header claiming 100000 x 100000 pixels, a PNG whose data inflates far past its
   header, the stb_image 2.27 JPEG and BMP holes tests/fuzz_image.c found, refused and
   unknown formats, empty input); files; the sample images of examples/images/; and
   image-folder data sets (class order, hidden entries, corrupt files, a pipe, a broken
   link, an empty class, the skipped list and its bound, limits).

   The section exists only when stb_image.h and stb_image_resize.h are included before
   nn.h, so this file compiles nn.h's implementation itself, after the implementations of
   stb_image, stb_image_resize and stb_image_write (Debian: apt-get install libstb-dev).
   Test images are written with stb_image_write or, for the PNG variants it cannot
   write (interlaced, palette, 16-bit, crafted headers), chunk by chunk here.

   Build and run from the repository root (it writes and removes build/test_image_*):
       gcc -std=c99 -O2 -Wall -Wextra -Wpedantic -Werror tests/test_image.c -o build/test_image -lm
       build/test_image
   `build/test_image folder` runs only the tests whose name contains "folder".
   Also builds with clang -std=c11, g++ -std=c++11 -x c++ and -fsanitize=address,undefined.
   The stb headers need no warning pragmas: they come from a system include directory.
   Under clang, UBSan is kept out of stb_image_write only (see below); stb_image and
   stb_image_resize, which nn.h calls, stay sanitized.

   stb_image's allocations go through counting hooks (STBI_MALLOC/STBI_REALLOC) so that a
   test can show that a crafted file never makes stb_image ask for a large block. */
#if (defined(__unix__) || defined(__APPLE__)) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L /* getpid, mkdir, mkfifo, symlink */
#endif
#ifdef NN_TEST_LINKED
#error "test_image.c compiles nn.h's implementation itself (it needs stb_image first): build it as one translation unit"
#endif
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* the largest single block stb_image asked for since the last reset */
static size_t stb_largest = 0;
static void *stb_malloc(size_t n) {
    if (n > stb_largest) stb_largest = n;
    return malloc(n);
}
static void *stb_realloc(void *p, size_t n) {
    if (n > stb_largest) stb_largest = n;
    return realloc(p, n);
}
#define STBI_MALLOC(n) stb_malloc(n)
#define STBI_REALLOC(p, n) stb_realloc(p, n)
#define STBI_FREE(p) free(p)

#define STB_IMAGE_IMPLEMENTATION
#include <stb/stb_image.h>
#define STB_IMAGE_RESIZE_IMPLEMENTATION
#include <stb/stb_image_resize.h>
/* stb_image_write (a tool of these tests, not under test) shifts negative and overflowing
   ints in its JPEG writer: keep UBSan out of it, and only of it. */
#if defined(__clang__)
#pragma clang attribute push(__attribute__((no_sanitize("undefined"))), apply_to = function)
#endif
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image_write.h>
#if defined(__clang__)
#pragma clang attribute pop
#endif

#define NN_IMPLEMENTATION
#include "../nn.h"
#include "test.h"

#define TI_MIN(a, b) ((a) < (b) ? (a) : (b))
#define TI_MAX(a, b) ((a) > (b) ? (a) : (b))

#if defined(__unix__) || defined(__APPLE__)
#define TI_POSIX 1
#include <sys/stat.h>
#include <unistd.h>
#else
#define TI_POSIX 0
#endif

/* ------------------------------------------------------------ helpers */

/* A growing byte buffer (the stb_image_write callback's target). */
typedef struct membuf {
    unsigned char *p;
    size_t n, cap;
} membuf;

static void mb_put(membuf *m, const void *data, size_t n) {
    if (m->n + n > m->cap) {
        size_t cap = (m->cap ? m->cap * 2 : 1024);
        unsigned char *q;
        while (cap < m->n + n) cap *= 2;
        q = (unsigned char *)realloc(m->p, cap);
        if (!q) {
            printf("out of memory in a test helper\n");
            exit(1);
        }
        m->p = q;
        m->cap = cap;
    }
    memcpy(m->p + m->n, data, n);
    m->n += n;
}
static void mb_write(void *ctx, void *data, int size) { mb_put((membuf *)ctx, data, (size_t)size); }
static void mb_free(membuf *m) {
    free(m->p);
    memset(m, 0, sizeof *m);
}

/* Encodes w x h pixels of comp channels (interleaved) as fmt: 'P' PNG, 'B' BMP,
   'T' TGA (run-length), 't' TGA (plain), 'J' JPEG (quality 95). */
static membuf encode(char fmt, int w, int h, int comp, const unsigned char *px) {
    membuf m;
    int ok = 0;
    memset(&m, 0, sizeof m);
    switch (fmt) {
    case 'P': ok = stbi_write_png_to_func(mb_write, &m, w, h, comp, px, w * comp); break;
    case 'B': ok = stbi_write_bmp_to_func(mb_write, &m, w, h, comp, px); break;
    case 'T':
    case 't':
        stbi_write_tga_with_rle = fmt == 'T';
        ok = stbi_write_tga_to_func(mb_write, &m, w, h, comp, px);
        stbi_write_tga_with_rle = 1;
        break;
    case 'J': ok = stbi_write_jpg_to_func(mb_write, &m, w, h, comp, px, 95); break;
    default: break;
    }
    if (!ok || !m.n) {
        printf("stb_image_write failed (%c)\n", fmt);
        exit(1);
    }
    return m;
}

/* A PNG built chunk by chunk: IHDR, an optional PLTE, the zlib-compressed raw data cut
   into IDAT chunks of at most idat_max bytes, IEND. CRCs are right (nn_crc32). */
static void png_chunk(membuf *m, const char *type, const unsigned char *data, size_t n) {
    unsigned char b[4];
    uint32_t crc;
    b[0] = (unsigned char)(n >> 24), b[1] = (unsigned char)(n >> 16), b[2] = (unsigned char)(n >> 8), b[3] = (unsigned char)n;
    mb_put(m, b, 4);
    mb_put(m, type, 4);
    if (n) mb_put(m, data, n);
    crc = nn_crc32(nn_crc32(0, type, 4), data, n);
    b[0] = (unsigned char)(crc >> 24), b[1] = (unsigned char)(crc >> 16), b[2] = (unsigned char)(crc >> 8), b[3] = (unsigned char)crc;
    mb_put(m, b, 4);
}
static membuf png_build(uint32_t w, uint32_t h, int depth, int color, int interlace, const unsigned char *plte,
                        int plte_n, const unsigned char *raw, size_t raw_len, size_t idat_max) {
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A};
    unsigned char ihdr[13];
    membuf m;
    unsigned char *z;
    int zlen = 0;
    size_t at;
    memset(&m, 0, sizeof m);
    mb_put(&m, sig, 8);
    ihdr[0] = (unsigned char)(w >> 24), ihdr[1] = (unsigned char)(w >> 16), ihdr[2] = (unsigned char)(w >> 8), ihdr[3] = (unsigned char)w;
    ihdr[4] = (unsigned char)(h >> 24), ihdr[5] = (unsigned char)(h >> 16), ihdr[6] = (unsigned char)(h >> 8), ihdr[7] = (unsigned char)h;
    ihdr[8] = (unsigned char)depth, ihdr[9] = (unsigned char)color, ihdr[10] = 0, ihdr[11] = 0, ihdr[12] = (unsigned char)interlace;
    png_chunk(&m, "IHDR", ihdr, 13);
    if (plte) png_chunk(&m, "PLTE", plte, (size_t)plte_n * 3);
    z = stbi_zlib_compress((unsigned char *)raw, (int)raw_len, &zlen, 8);
    if (!z) {
        printf("stbi_zlib_compress failed\n");
        exit(1);
    }
    for (at = 0; at < (size_t)zlen; at += idat_max)
        png_chunk(&m, "IDAT", z + at, TI_MIN(idat_max, (size_t)zlen - at));
    free(z);
    png_chunk(&m, "IEND", NULL, 0);
    return m;
}

/* The raw scanlines (filter 0) of samples (spp per pixel, values within depth bits),
   Adam7-interlaced or not; returns their length. raw must be large enough. */
static size_t png_raw(unsigned char *raw, const int *samples, int w, int h, int spp, int depth, int interlace) {
    static const int x0[7] = {0, 4, 0, 2, 0, 1, 0}, y0[7] = {0, 0, 4, 0, 2, 0, 1};
    static const int dx[7] = {8, 8, 4, 4, 2, 2, 1}, dy[7] = {8, 8, 8, 4, 4, 2, 2};
    int pass, n_pass = interlace ? 7 : 1, x, y, s;
    size_t n = 0;
    for (pass = 0; pass < n_pass; pass++) {
        int xs = interlace ? x0[pass] : 0, ys = interlace ? y0[pass] : 0;
        int xd = interlace ? dx[pass] : 1, yd = interlace ? dy[pass] : 1;
        if (xs >= w) continue; /* an empty pass has no rows at all */
        for (y = ys; y < h; y += yd) {
            int bit = 0;
            raw[n++] = 0;
            for (x = xs; x < w; x += xd) {
                for (s = 0; s < spp; s++) {
                    int v = samples[(y * w + x) * spp + s];
                    if (depth == 16) {
                        raw[n++] = (unsigned char)(v >> 8);
                        raw[n++] = (unsigned char)v;
                    } else if (depth == 8) {
                        raw[n++] = (unsigned char)v;
                    } else {
                        if (bit == 0) raw[n++] = 0;
                        raw[n - 1] |= (unsigned char)(v << (8 - depth - bit));
                        bit = (bit + depth) % 8;
                    }
                }
            }
        }
    }
    return n;
}

static size_t img_bytes(const nn_image_desc *d) {
    return d->width > 0 && d->height > 0 && d->channels > 0 ? (size_t)d->width * (size_t)d->height * (size_t)d->channels
                                                            : 16;
}

/* nn_image_decode on a copy of exactly len bytes (ASan sees any read past it), into a
   buffer with 32 canary bytes after it. Checks: the canary intact; on an error a
   message and dst untouched. On success the image goes to out (may be NULL). */
static nn_result decode(unsigned char *out, const nn_image_desc *d, const void *buf, size_t len, char *err_out) {
    size_t nb = img_bytes(d), i;
    unsigned char *copy = (unsigned char *)malloc(len ? len : 1), *dst = (unsigned char *)malloc(nb + 32);
    char err[NN_ERROR_MAX];
    nn_result r;
    int canary_ok = 1, untouched = 1;
    if (!copy || !dst) {
        printf("out of memory in a test helper\n");
        exit(1);
    }
    if (len) memcpy(copy, buf, len);
    memset(dst, 0xA5, nb + 32);
    err[0] = 0;
    r = nn_image_decode(dst, d, copy, len, err);
    for (i = nb; i < nb + 32; i++) canary_ok &= dst[i] == 0xA5;
    CHECKF(canary_ok, "nn_image_decode wrote past the end of dst");
    if (r != NN_OK) {
        for (i = 0; i < nb; i++) untouched &= dst[i] == 0xA5;
        CHECKF(untouched, "dst changed by a failed decode (%s)", err);
        CHECKF(err[0] != 0, "failed decode (%d) without a message", (int)r);
    } else if (out) {
        memcpy(out, dst, nb);
    }
    if (err_out) memcpy(err_out, err, NN_ERROR_MAX);
    free(copy);
    free(dst);
    return r;
}

/* A w x h test pattern of comp channels, every value distinct enough to tell apart. */
static void pattern(unsigned char *px, int w, int h, int comp, int seed) {
    int x, y, c;
    for (y = 0; y < h; y++)
        for (x = 0; x < w; x++)
            for (c = 0; c < comp; c++) px[(y * w + x) * comp + c] = (unsigned char)(17 * x + 61 * y + 83 * c + 29 * seed + 5);
}

/* What stb_image makes of interleaved src (sc channels) as C channels, planar (CHW). */
static void expect_chw(unsigned char *dst, const unsigned char *src, int w, int h, int sc, int C) {
    int i, c, n = w * h;
    for (i = 0; i < n; i++) {
        const unsigned char *s = src + (size_t)i * (size_t)sc;
        int r = s[0], g = sc >= 3 ? s[1] : s[0], b = sc >= 3 ? s[2] : s[0];
        if (C == 1) dst[i] = sc >= 3 ? (unsigned char)((r * 77 + g * 150 + b * 29) >> 8) : s[0];
        else
            for (c = 0; c < 3; c++) dst[c * n + i] = (unsigned char)(c == 0 ? r : c == 1 ? g : b);
    }
}

static int count_diff(const unsigned char *a, const unsigned char *b, size_t n) {
    size_t i;
    int k = 0;
    for (i = 0; i < n; i++) k += a[i] != b[i];
    return k;
}

/* ------------------------------------------------------------ descriptions */

static void test_image_desc(void) {
    nn_image_desc d = nn_image_desc_default(28, 24, 3), bad;
    unsigned char px[4 * 4 * 3], out[16];
    membuf png;
    char err[NN_ERROR_MAX];
    CHECK(d.width == 28 && d.height == 24 && d.channels == 3);
    CHECK_EQ_INT(d.max_source_pixels, 1 << 24);
    CHECK(d.max_file_bytes == (size_t)64 << 20);
    CHECK_EQ_INT(d.max_images, 1 << 20);
    CHECK(d.tag == NN_DESC_TAG);
    pattern(px, 4, 4, 3, 0);
    png = encode('P', 4, 4, 3, px);
    bad = nn_image_desc_default(4, 4, 2);
    if (CHECK_EQ_INT(decode(NULL, &bad, png.p, png.n, err), NN_ERR_INVALID_ARGUMENT))
        CHECKF(strstr(err, "channels = 2") != NULL, "message: %s", err);
    bad = nn_image_desc_default(0, 4, 1);
    if (CHECK_EQ_INT(decode(NULL, &bad, png.p, png.n, err), NN_ERR_INVALID_ARGUMENT))
        CHECKF(strstr(err, "0 x 4") != NULL, "message: %s", err);
    bad = nn_image_desc_default(4, 4, 1);
    bad.tag = 0;
    if (CHECK_EQ_INT(decode(NULL, &bad, png.p, png.n, err), NN_ERR_INVALID_ARGUMENT))
        CHECKF(strstr(err, "nn_image_desc_default") != NULL, "message: %s", err);
    bad = nn_image_desc_default(4, 4, 1);
    bad.max_source_pixels = 0;
    CHECK_EQ_INT(decode(NULL, &bad, png.p, png.n, err), NN_ERR_INVALID_ARGUMENT);
    bad = nn_image_desc_default(65536, 65536, 1);
    if (CHECK_EQ_INT(nn_image_decode(out, &bad, png.p, png.n, err), NN_ERR_TOO_LARGE))
        CHECKF(strstr(err, "INT_MAX") != NULL, "message: %s", err);
    CHECK_EQ_INT(nn_image_decode(out, NULL, png.p, png.n, err), NN_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(nn_image_decode(NULL, &d, png.p, png.n, err), NN_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(nn_image_decode(out, &d, NULL, 10, NULL), NN_ERR_INVALID_ARGUMENT); /* err may be NULL */
    mb_free(&png);
}

/* ------------------------------------------------------------ exact decoding */

/* One lossless format: RGB, gray and (PNG, TGA) RGBA sources, each decoded to RGB and to
   gray at the source size, compared byte for byte with what stb_image's conversion
   gives, laid out CHW. */
static void exact_format(char fmt) {
    static const int comps[3] = {3, 1, 4};
    int ci, C, w = 5, h = 3;
    for (ci = 0; ci < 3; ci++) {
        int sc = comps[ci];
        unsigned char px[5 * 3 * 4], want[5 * 3 * 3], got[5 * 3 * 3];
        membuf m;
        if (sc == 4 && fmt == 'B') continue; /* stb_image_write's BMP has no alpha */
        pattern(px, w, h, sc, ci);
        m = encode(fmt, w, h, sc, px);
        for (C = 1; C <= 3; C += 2) {
            nn_image_desc d = nn_image_desc_default(w, h, C);
            char err[NN_ERROR_MAX];
            nn_result r = decode(got, &d, m.p, m.n, err);
            if (!CHECKF(r == NN_OK, "%c, %d channels to %d: %d %s", fmt, sc, C, (int)r, err)) continue;
            expect_chw(want, px, w, h, sc, C);
            CHECKF(count_diff(got, want, (size_t)(w * h * C)) == 0, "%c, %d channels to %d: %d bytes differ", fmt, sc, C,
                   count_diff(got, want, (size_t)(w * h * C)));
        }
        mb_free(&m);
    }
}
static void test_image_png_exact(void) { exact_format('P'); }
static void test_image_bmp_exact(void) { exact_format('B'); }
static void test_image_tga_exact(void) {
    exact_format('T');
    exact_format('t');
}

/* CHW spelled out on one pixel: RGB (10, 20, 30) at x = 1, y = 0 of a 2 x 1 image. */
static void test_image_chw_order(void) {
    unsigned char px[6] = {1, 2, 3, 10, 20, 30}, got[6];
    membuf m = encode('P', 2, 1, 3, px);
    nn_image_desc d = nn_image_desc_default(2, 1, 3);
    if (CHECK_EQ_INT(decode(got, &d, m.p, m.n, NULL), NN_OK)) {
        CHECK(got[0] == 1 && got[1] == 10);  /* R plane */
        CHECK(got[2] == 2 && got[3] == 20);  /* G plane */
        CHECK(got[4] == 3 && got[5] == 30);  /* B plane */
    }
    mb_free(&m);
}

/* PNG forms stb_image_write does not write: interlaced (Adam7) 8-bit gray, 16-bit RGB,
   4-bit palette interlaced, data cut into many IDAT chunks, a little more data than the
   header needs (stb_image and libpng accept it), too little data (refused). */
static void test_image_png_variants(void) {
    int s[7 * 5 * 3], x, i;
    unsigned char raw[1024], got[7 * 5 * 3], want[7 * 5 * 3];
    unsigned char plte[16 * 3];
    size_t n;
    membuf m;
    char err[NN_ERROR_MAX];
    nn_image_desc d;
    /* Adam7, 8-bit gray, 5 x 3: every pass shape, one empty */
    for (i = 0; i < 15; i++) s[i] = (i * 37 + 11) & 255;
    n = png_raw(raw, s, 5, 3, 1, 8, 1);
    CHECK_EQ_INT(n, 22); /* 2 + 2 + 0 + 2 + 4 + 6 + 6 */
    m = png_build(5, 3, 8, 0, 1, NULL, 0, raw, n, 1 << 20);
    d = nn_image_desc_default(5, 3, 1);
    if (CHECKF(decode(got, &d, m.p, m.n, err) == NN_OK, "interlaced gray: %s", err)) {
        for (i = 0; i < 15; i++) want[i] = (unsigned char)s[i];
        CHECK(count_diff(got, want, 15) == 0);
    }
    mb_free(&m);
    /* 16-bit RGB 3 x 2: stb_image keeps the high byte */
    for (i = 0; i < 18; i++) s[i] = (i * 4099 + 1234) & 65535;
    n = png_raw(raw, s, 3, 2, 3, 16, 0);
    m = png_build(3, 2, 16, 2, 0, NULL, 0, raw, n, 1 << 20);
    d = nn_image_desc_default(3, 2, 3);
    if (CHECKF(decode(got, &d, m.p, m.n, err) == NN_OK, "16-bit RGB: %s", err)) {
        unsigned char hi[18];
        for (i = 0; i < 18; i++) hi[i] = (unsigned char)(s[i] >> 8);
        expect_chw(want, hi, 3, 2, 3, 3);
        CHECK(count_diff(got, want, 18) == 0);
    }
    mb_free(&m);
    /* 4-bit palette, Adam7, 7 x 5, in IDAT chunks of 7 bytes */
    for (i = 0; i < 16 * 3; i++) plte[i] = (unsigned char)(i * 5 + 3);
    for (i = 0; i < 35; i++) s[i] = (i * 7 + 3) % 16;
    n = png_raw(raw, s, 7, 5, 1, 4, 1);
    m = png_build(7, 5, 4, 3, 1, plte, 16, raw, n, 7);
    d = nn_image_desc_default(7, 5, 3);
    if (CHECKF(decode(got, &d, m.p, m.n, err) == NN_OK, "palette: %s", err)) {
        unsigned char rgb[35 * 3];
        for (i = 0; i < 35; i++)
            for (x = 0; x < 3; x++) rgb[i * 3 + x] = plte[s[i] * 3 + x];
        expect_chw(want, rgb, 7, 5, 3, 3);
        CHECK(count_diff(got, want, 105) == 0);
    }
    mb_free(&m);
    /* 8-bit gray 4 x 2 plus 3 bytes the header does not need: decoded as stb_image does */
    for (i = 0; i < 8; i++) s[i] = i * 30;
    n = png_raw(raw, s, 4, 2, 1, 8, 0);
    raw[n] = raw[n + 1] = raw[n + 2] = 7;
    m = png_build(4, 2, 8, 0, 0, NULL, 0, raw, n + 3, 1 << 20);
    d = nn_image_desc_default(4, 2, 1);
    if (CHECKF(decode(got, &d, m.p, m.n, err) == NN_OK, "extra data: %s", err))
        for (i = 0; i < 8; i++) CHECK_EQ_INT(got[i], s[i]);
    mb_free(&m);
    /* one byte short */
    m = png_build(4, 2, 8, 0, 0, NULL, 0, raw, n - 1, 1 << 20);
    if (CHECK_EQ_INT(decode(got, &d, m.p, m.n, err), NN_ERR_CORRUPT))
        CHECKF(strstr(err, "PNG: cannot decode") != NULL, "message: %s", err);
    mb_free(&m);
}

/* JPEG is lossy: a flat colour comes back within a few levels, and a bright top over a
   dark bottom stays that way round. */
static void test_image_jpeg(void) {
    unsigned char px[16 * 16 * 3], got[16 * 16 * 3];
    static const int col[3] = {200, 40, 90};
    int i, c, worst = 0;
    membuf m;
    nn_image_desc d = nn_image_desc_default(16, 16, 3);
    char err[NN_ERROR_MAX];
    for (i = 0; i < 256; i++)
        for (c = 0; c < 3; c++) px[i * 3 + c] = (unsigned char)col[c];
    m = encode('J', 16, 16, 3, px);
    if (CHECKF(decode(got, &d, m.p, m.n, err) == NN_OK, "%s", err)) {
        for (c = 0; c < 3; c++)
            for (i = 0; i < 256; i++) worst = TI_MAX(worst, abs((int)got[c * 256 + i] - col[c]));
        CHECKF(worst <= 4, "flat colour off by %d", worst);
    }
    d.channels = 1;
    if (CHECKF(decode(got, &d, m.p, m.n, err) == NN_OK, "%s", err)) {
        int y = (col[0] * 77 + col[1] * 150 + col[2] * 29) >> 8;
        for (worst = 0, i = 0; i < 256; i++) worst = TI_MAX(worst, abs((int)got[i] - y));
        CHECKF(worst <= 4, "gray off by %d", worst);
    }
    mb_free(&m);
    for (i = 0; i < 256; i++)
        for (c = 0; c < 3; c++) px[i * 3 + c] = (unsigned char)(i < 128 ? 230 : 20);
    m = encode('J', 16, 16, 3, px);
    if (CHECKF(decode(got, &d, m.p, m.n, err) == NN_OK, "%s", err)) {
        CHECK(got[0] > 200 && got[16 * 7 + 15] > 200); /* top rows */
        CHECK(got[16 * 8] < 50 && got[255] < 50);      /* bottom rows */
    }
    mb_free(&m);
}

/* A JPEG whose Huffman table counts 272 codes: this stb_image writes past its table's
   arrays while reading it (already in stbi_info_from_memory); nn.h refuses it first.
   (The sanitizer builds would report the write if stb_image ever saw it.) */
static void test_image_jpeg_huffman_overflow(void) {
    unsigned char b[320];
    size_t n = 0;
    int i;
    nn_image_desc d = nn_image_desc_default(8, 8, 1);
    char err[NN_ERROR_MAX];
    b[n++] = 0xFF, b[n++] = 0xD8;                                  /* SOI */
    b[n++] = 0xFF, b[n++] = 0xC4, b[n++] = 0x01, b[n++] = 0x23;    /* DHT, 291 bytes */
    b[n++] = 0x00;                                                 /* DC table 0 */
    for (i = 0; i < 16; i++) b[n++] = 17;                          /* 16 x 17 = 272 codes */
    for (i = 0; i < 272; i++) b[n++] = 0;
    b[n++] = 0xFF, b[n++] = 0xD9;                                  /* EOI */
    if (CHECK_EQ_INT(decode(NULL, &d, b, n, err), NN_ERR_CORRUPT))
        CHECKF(strstr(err, "Huffman table of 272 codes") != NULL, "message: %s", err);
    /* 256 codes is legal: stb_image reads it and fails later (no frame) */
    b[7 + 15] = 1; /* counts now 15 x 17 + 1 = 256 */
    CHECK_EQ_INT(decode(NULL, &d, b, n, err), NN_ERR_CORRUPT);
    CHECKF(strstr(err, "Huffman") == NULL, "message: %s", err);
}

/* A copy of JPEG file m without its marker segments of kind `marker` before the first
   scan (SOS). */
static membuf jpeg_drop(const membuf *m, unsigned char marker) {
    membuf o;
    size_t pos = 2;
    memset(&o, 0, sizeof o);
    mb_put(&o, m->p, 2); /* SOI */
    while (pos + 4 <= m->n && m->p[pos] == 0xFF && m->p[pos + 1] != 0xDA) {
        size_t seg = 2 + ((size_t)m->p[pos + 2] << 8 | m->p[pos + 3]);
        if (m->p[pos + 1] != marker) mb_put(&o, m->p + pos, seg);
        pos += seg;
    }
    mb_put(&o, m->p + pos, m->n - pos);
    return o;
}

/* A scan that uses a Huffman or quantization table no DHT or DQT defined: this stb_image
   decodes it from uninitialized memory (out-of-bounds reads, pixels that change from run
   to run); nn.h refuses it. */
static void test_image_jpeg_undefined_tables(void) {
    unsigned char px[16 * 16 * 3];
    nn_image_desc d = nn_image_desc_default(16, 16, 3);
    membuf m, cut;
    char err[NN_ERROR_MAX];
    pattern(px, 16, 16, 3, 9);
    m = encode('J', 16, 16, 3, px);
    CHECK_EQ_INT(decode(NULL, &d, m.p, m.n, err), NN_OK);
    cut = jpeg_drop(&m, 0xC4);
    CHECK(cut.n < m.n);
    if (CHECK_EQ_INT(decode(NULL, &d, cut.p, cut.n, err), NN_ERR_CORRUPT))
        CHECKF(strstr(err, "Huffman table no DHT defined") != NULL, "message: %s", err);
    mb_free(&cut);
    cut = jpeg_drop(&m, 0xDB);
    CHECK(cut.n < m.n);
    if (CHECK_EQ_INT(decode(NULL, &d, cut.p, cut.n, err), NN_ERR_CORRUPT))
        CHECKF(strstr(err, "which no DQT defined") != NULL, "message: %s", err);
    mb_free(&cut);
    mb_free(&m);
}

/* A 16 x 16 JPEG whose frame header is changed to say 4096 x 4096: this stb_image decodes
   the missing scan data as zeros (a 16-megapixel image out of a few hundred bytes);
   refused as cut short, before stb_image allocates for it. */
static void test_image_jpeg_short_scan(void) {
    unsigned char px[16 * 16 * 3];
    nn_image_desc d = nn_image_desc_default(16, 16, 3);
    membuf m;
    size_t i;
    char err[NN_ERROR_MAX];
    pattern(px, 16, 16, 3, 11);
    m = encode('J', 16, 16, 3, px);
    for (i = 2; i + 9 < m.n && !(m.p[i] == 0xFF && m.p[i + 1] == 0xC0); i++) {}
    if (!CHECK(i + 9 < m.n)) return;
    m.p[i + 5] = 0x10, m.p[i + 6] = 0x00, m.p[i + 7] = 0x10, m.p[i + 8] = 0x00; /* 4096 x 4096 */
    stb_largest = 0;
    if (CHECK_EQ_INT(decode(NULL, &d, m.p, m.n, err), NN_ERR_TRUNCATED)) {
        CHECKF(strstr(err, "for 4096 x 4096 pixels, which take at least 65536") != NULL, "message: %s", err);
        CHECKF(stb_largest < 65536, "stb_image asked for %lu bytes", (unsigned long)stb_largest);
    }
    mb_free(&m);
}

/* ------------------------------------------------------------ resizing */

static void test_image_resize_constant(void) {
    static const int sizes[4][2] = {{3, 2}, {16, 11}, {1, 1}, {7, 13}};
    unsigned char px[7 * 5 * 3], got[16 * 13 * 3];
    int k, i, c;
    membuf gray, rgb;
    for (i = 0; i < 35; i++) {
        px[i * 3] = 10;
        px[i * 3 + 1] = 150;
        px[i * 3 + 2] = 250;
    }
    rgb = encode('P', 7, 5, 3, px);
    memset(px, 123, sizeof px);
    gray = encode('P', 7, 5, 1, px);
    for (k = 0; k < 4; k++) {
        int w = sizes[k][0], h = sizes[k][1], n = w * h, bad = 0;
        nn_image_desc d = nn_image_desc_default(w, h, 1);
        if (CHECK_EQ_INT(decode(got, &d, gray.p, gray.n, NULL), NN_OK)) {
            for (i = 0; i < n; i++) bad += got[i] != 123;
            CHECKF(bad == 0, "7 x 5 constant 123 to %d x %d: %d pixels changed", w, h, bad);
        }
        d.channels = 3;
        if (CHECK_EQ_INT(decode(got, &d, rgb.p, rgb.n, NULL), NN_OK)) {
            for (bad = 0, c = 0; c < 3; c++)
                for (i = 0; i < n; i++) bad += got[c * n + i] != (c == 0 ? 10 : c == 1 ? 150 : 250);
            CHECKF(bad == 0, "RGB constant to %d x %d: %d values changed", w, h, bad);
        }
    }
    mb_free(&gray);
    mb_free(&rgb);
}

/* Left half dark, right half bright (gray), and left red / right blue (RGB): shrunk and
   enlarged, every left pixel stays below every right one, the outer columns keep their
   values, and the planes keep their colours. */
static void test_image_resize_halves(void) {
    static const int sizes[3][2] = {{4, 2}, {16, 8}, {2, 7}};
    unsigned char g[8 * 4], px[8 * 4 * 3], got[16 * 8 * 3];
    int k, x, y, i;
    membuf mg, mc;
    for (y = 0; y < 4; y++)
        for (x = 0; x < 8; x++) {
            g[y * 8 + x] = (unsigned char)(x < 4 ? 20 : 230);
            px[(y * 8 + x) * 3] = (unsigned char)(x < 4 ? 255 : 0);
            px[(y * 8 + x) * 3 + 1] = 0;
            px[(y * 8 + x) * 3 + 2] = (unsigned char)(x < 4 ? 0 : 255);
        }
    mg = encode('P', 8, 4, 1, g);
    mc = encode('P', 8, 4, 3, px);
    for (k = 0; k < 3; k++) {
        int w = sizes[k][0], h = sizes[k][1], n = w * h;
        nn_image_desc d = nn_image_desc_default(w, h, 1);
        if (CHECK_EQ_INT(decode(got, &d, mg.p, mg.n, NULL), NN_OK)) {
            int max_left = 0, min_right = 255;
            for (y = 0; y < h; y++)
                for (x = 0; x < w; x++) {
                    int v = got[y * w + x];
                    if (x < w / 2) max_left = TI_MAX(max_left, v);
                    else min_right = TI_MIN(min_right, v);
                }
            CHECKF(max_left < min_right, "%d x %d: left up to %d, right from %d", w, h, max_left, min_right);
            for (y = 0; y < h && w >= 4; y++) { /* (shrunk 4 times, the halves blend) */
                CHECKF(abs(got[y * w] - 20) <= 3, "%d x %d: left edge %d", w, h, got[y * w]);
                CHECKF(abs(got[y * w + w - 1] - 230) <= 3, "%d x %d: right edge %d", w, h, got[y * w + w - 1]);
            }
        }
        d.channels = 3;
        if (CHECK_EQ_INT(decode(got, &d, mc.p, mc.n, NULL), NN_OK)) {
            for (i = 0; i < n; i++) {
                int left = i % w < w / 2;
                int r = got[i], gg = got[n + i], b = got[2 * n + i];
                CHECKF(left ? r > b : b > r, "%d x %d pixel %d: R %d B %d", w, h, i, r, b);
                CHECK(gg <= 3);
            }
        }
    }
    mb_free(&mg);
    mb_free(&mc);
}

/* ------------------------------------------------------------ hostile input */

/* Every proper prefix of a small file of each format fails (stb_image alone decodes a
   cut-short BMP or TGA, and a PNG without its last bytes), with dst untouched. */
static void test_image_truncated(void) {
    static const char fmts[5] = {'P', 'B', 'T', 't', 'J'};
    unsigned char px[8 * 6 * 3];
    int f;
    pattern(px, 8, 6, 3, 1);
    for (f = 0; f < 5; f++) {
        membuf m = encode(fmts[f], 8, 6, 3, px);
        nn_image_desc d = nn_image_desc_default(8, 6, 3);
        size_t k;
        int ok = 0;
        char err[NN_ERROR_MAX];
        CHECKF(decode(NULL, &d, m.p, m.n, err) == NN_OK, "%c whole: %s", fmts[f], err);
        for (k = 0; k < m.n; k++) {
            nn_result r = decode(NULL, &d, m.p, k, err);
            ok += r == NN_OK;
            if (r == NN_OK) CHECKF(0, "%c cut to %lu of %lu bytes decoded", fmts[f], (unsigned long)k, (unsigned long)m.n);
        }
        CHECKF(ok == 0, "%c: %d prefixes decoded", fmts[f], ok);
        /* the error names the format and says why */
        if (CHECK(decode(NULL, &d, m.p, m.n - 1, err) != NN_OK)) TEST_NOTE("%c cut by one byte: %s", fmts[f], err);
        mb_free(&m);
    }
}

/* A 102-byte BMP whose header claims 4 x 3211268 pixels and a compression field that is
   negative as an int: stb_image reads it as uncompressed and fills 12.8 million pixels with
   zeros (tests/fuzz_image.c found a 71-byte one: seconds of work, 270 MB); refused as cut
   short before stb_image decodes. */
static void test_image_bmp_garbage_header(void) {
    unsigned char px[4 * 4 * 3];
    membuf m;
    nn_image_desc d = nn_image_desc_default(4, 4, 1);
    char err[NN_ERROR_MAX];
    pattern(px, 4, 4, 3, 10);
    m = encode('B', 4, 4, 3, px);
    CHECK_EQ_INT(decode(NULL, &d, m.p, m.n, err), NN_OK);
    m.p[22] = 0x04, m.p[23] = 0x00, m.p[24] = 0x31, m.p[25] = 0x00; /* height 3211268 */
    m.p[30] = 0x6E, m.p[31] = 0x49, m.p[32] = 0x02, m.p[33] = 0xDD; /* compression 0xDD02496E */
    stb_largest = 0;
    if (CHECK_EQ_INT(decode(NULL, &d, m.p, m.n, err), NN_ERR_TRUNCATED)) {
        CHECKF(strstr(err, "BMP: cut short") && strstr(err, "4 x 3211268"), "message: %s", err);
        CHECKF(stb_largest < 65536, "stb_image asked for %lu bytes", (unsigned long)stb_largest);
    }
    mb_free(&m);
    /* 4 bits per pixel and pixel data "at byte 0": stb_image computes a negative palette
       size, skips to the end and reads zeros (also found by the fuzzer) */
    m = encode('B', 4, 4, 3, px);
    m.p[10] = m.p[11] = m.p[12] = m.p[13] = 0; /* offset */
    m.p[28] = 4;                                /* bits per pixel */
    if (CHECK_EQ_INT(decode(NULL, &d, m.p, m.n, err), NN_ERR_CORRUPT))
        CHECKF(strstr(err, "BMP: pixel data at byte 0, inside its 54-byte header") != NULL, "message: %s", err);
    mb_free(&m);
}

/* A PNG header claiming 100000 x 100000 pixels is refused from its header: stb_image
   never allocates for it. The limit is inclusive. */
static void test_image_huge_header(void) {
    unsigned char raw[64] = {0}, px[64];
    membuf m = png_build(100000, 100000, 8, 0, 0, NULL, 0, raw, sizeof raw, 1 << 20);
    nn_image_desc d = nn_image_desc_default(28, 28, 1);
    char err[NN_ERROR_MAX];
    stb_largest = 0;
    if (CHECK_EQ_INT(decode(NULL, &d, m.p, m.n, err), NN_ERR_TOO_LARGE)) {
        CHECKF(strstr(err, "100000 x 100000") && strstr(err, "max_source_pixels"), "message: %s", err);
        CHECKF(stb_largest < 65536, "stb_image asked for %lu bytes", (unsigned long)stb_largest);
    }
    mb_free(&m);
    /* 5000 x 5000: within stb_image's own limit, over max_source_pixels (1 << 24) */
    m = png_build(5000, 5000, 8, 0, 0, NULL, 0, raw, sizeof raw, 1 << 20);
    stb_largest = 0;
    if (CHECK_EQ_INT(decode(NULL, &d, m.p, m.n, err), NN_ERR_TOO_LARGE)) {
        CHECKF(strstr(err, "5000 x 5000 = 25000000 pixels") && strstr(err, "max_source_pixels (16777216)"), "message: %s",
               err);
        CHECKF(stb_largest < 65536, "stb_image asked for %lu bytes", (unsigned long)stb_largest);
    }
    mb_free(&m);
    pattern(px, 8, 8, 1, 2);
    m = encode('P', 8, 8, 1, px);
    d.max_source_pixels = 63;
    CHECK_EQ_INT(decode(NULL, &d, m.p, m.n, NULL), NN_ERR_TOO_LARGE);
    d.max_source_pixels = 64;
    CHECK_EQ_INT(decode(NULL, &d, m.p, m.n, NULL), NN_OK);
    mb_free(&m);
}

/* A 1 x 1 PNG whose data inflates to 8 MiB (stb_image alone would allocate and fill it):
   refused after inflating a few bytes, stb_image never allocates for it. */
static void test_image_png_bomb(void) {
    size_t n = (size_t)8 << 20;
    unsigned char *zeros = (unsigned char *)calloc(n, 1);
    membuf m;
    nn_image_desc d = nn_image_desc_default(1, 1, 1);
    char err[NN_ERROR_MAX];
    if (!CHECK(zeros != NULL)) return;
    m = png_build(1, 1, 8, 0, 0, NULL, 0, zeros, n, 1 << 20);
    free(zeros);
    CHECKF(m.n < n / 100, "the bomb is %lu bytes", (unsigned long)m.n);
    stb_largest = 0;
    if (CHECK_EQ_INT(decode(NULL, &d, m.p, m.n, err), NN_ERR_CORRUPT)) {
        CHECKF(strstr(err, "inflating past") != NULL, "message: %s", err);
        CHECKF(stb_largest < 65536, "stb_image asked for %lu bytes", (unsigned long)stb_largest);
    }
    mb_free(&m);
}

static void test_image_refused(void) {
    static const struct {
        const char *bytes;
        size_t len;
        nn_result want;
        const char *msg;
    } cases[] = {
        {"GIF89a\x01\x00\x01\x00\x00\x00\x00;", 14, NN_ERR_UNSUPPORTED, "GIF image: not supported"},
        {"GIF87a\x01\x00\x01\x00\x00\x00\x00;", 14, NN_ERR_UNSUPPORTED, "GIF"},
        {"8BPS\x00\x01\x00\x00\x00\x00\x00\x00\x00\x03", 14, NN_ERR_UNSUPPORTED, "PSD"},
        {"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y 1 +X 1\n\x01\x01\x01\x80", 46, NN_ERR_UNSUPPORTED, "HDR"},
        {"P6\n1 1\n255\n\x01\x02\x03", 14, NN_ERR_UNSUPPORTED, "PNM"},
        {"P5\n1 1\n255\n\x01", 12, NN_ERR_UNSUPPORTED, "PNM"},
        {"\x53\x80\xF6\x34 softimage", 14, NN_ERR_UNSUPPORTED, "PIC"},
        {"hello, world", 12, NN_ERR_BAD_MAGIC, "not a PNG, JPEG, BMP or TGA file (starts 68 65 6c 6c)"},
        {"\x00\x00\x00\x00", 4, NN_ERR_BAD_MAGIC, "not a PNG"},
        {"\x89PNG", 4, NN_ERR_TRUNCATED, "PNG: cut short"},
        {"\xFF\xD8\xFF\xE0 cut", 8, NN_ERR_CORRUPT, "JPEG: cannot read its header"},
        {"BM", 2, NN_ERR_CORRUPT, "BMP"},
        {"", 0, NN_ERR_TRUNCATED, "empty input"},
    };
    nn_image_desc d = nn_image_desc_default(4, 4, 1);
    unsigned char px[64];
    membuf m;
    size_t i;
    char err[NN_ERROR_MAX];
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        nn_result r = decode(NULL, &d, cases[i].bytes, cases[i].len, err);
        if (CHECKF(r == cases[i].want, "case %lu: got %d, want %d (%s)", (unsigned long)i, (int)r, (int)cases[i].want, err))
            CHECKF(strstr(err, cases[i].msg) != NULL, "case %lu: message \"%s\" lacks \"%s\"", (unsigned long)i, err,
                   cases[i].msg);
    }
    /* max_file_bytes, inclusive */
    pattern(px, 4, 4, 1, 3);
    m = encode('P', 4, 4, 1, px);
    d.max_file_bytes = m.n - 1;
    if (CHECK_EQ_INT(decode(NULL, &d, m.p, m.n, err), NN_ERR_TOO_LARGE))
        CHECKF(strstr(err, "max_file_bytes") != NULL, "message: %s", err);
    d.max_file_bytes = m.n;
    CHECK_EQ_INT(decode(NULL, &d, m.p, m.n, err), NN_OK);
    mb_free(&m);
}

/* ------------------------------------------------------------ files and folders */

#if TI_POSIX && !defined(NN_NO_STDIO)
static void write_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    CHECKF(f != NULL, "cannot create %s", path);
    if (!f) return;
    CHECKF(fwrite(data, 1, n, f) == n, "cannot write %s", path);
    fclose(f);
}

static void test_image_load_file(void) {
    char path[256], err[NN_ERROR_MAX];
    unsigned char px[6 * 4 * 3], got[6 * 4 * 3], want[6 * 4 * 3];
    membuf m;
    nn_image_desc d = nn_image_desc_default(6, 4, 3);
    snprintf(path, sizeof path, "build/test_image_%ld.png", (long)getpid());
    pattern(px, 6, 4, 3, 4);
    m = encode('P', 6, 4, 3, px);
    write_file(path, m.p, m.n);
    if (CHECKF(nn_image_load(got, &d, path, err) == NN_OK, "%s", err)) {
        expect_chw(want, px, 6, 4, 3, 3);
        CHECK(count_diff(got, want, sizeof want) == 0);
    }
    d.max_file_bytes = m.n - 1;
    if (CHECK_EQ_INT(nn_image_load(got, &d, path, err), NN_ERR_TOO_LARGE))
        CHECKF(strstr(err, path) && strstr(err, "larger than max_file_bytes"), "message: %s", err);
    d.max_file_bytes = m.n;
    CHECK_EQ_INT(nn_image_load(got, &d, path, err), NN_OK);
    CHECK(remove(path) == 0);
    if (CHECK_EQ_INT(nn_image_load(got, &d, path, err), NN_ERR_IO))
        CHECKF(strstr(err, path) && strstr(err, "no such file or directory"), "message: %s", err);
    if (CHECK_EQ_INT(nn_image_load(got, &d, "build", err), NN_ERR_IO))
        CHECKF(strstr(err, "is a directory") != NULL, "message: %s", err);
    /* a decode error names the file */
    write_file(path, "not an image", 12);
    if (CHECK_EQ_INT(nn_image_load(got, &d, path, err), NN_ERR_BAD_MAGIC))
        CHECKF(strstr(err, path) && strstr(err, "not a PNG"), "message: %s", err);
    CHECK(remove(path) == 0);
    CHECK_EQ_INT(nn_image_load(got, &d, NULL, err), NN_ERR_INVALID_ARGUMENT);
    mb_free(&m);
}

/* The tree of test_image_folder, created in this order (not the sorted one):
     zebra/b.png  zebra/a.bmp  zebra/.hidden.png  zebra/notes.txt  zebra/sub/
     zebra/pipe (a FIFO: must be skipped, never opened)
     Mango/ (empty)
     apple/c.tga  apple/d_corrupt.png (cut short)  apple/broken.png (a dangling link)
     README.txt (a plain file in root: ignored)  .cache/x.png (hidden class: ignored)
   strcmp order of the classes: Mango (0), apple (1), zebra (2). */
typedef struct tree {
    char root[128];
    unsigned char img_b[6 * 4 * 3], img_a[6 * 4 * 3], img_c[6 * 4 * 3]; /* the three good images' pixels */
} tree;

static const char *tree_files[] = {"zebra/b.png", "zebra/a.bmp",   "zebra/.hidden.png", "zebra/notes.txt",
                                   "zebra/pipe",  "apple/c.tga",   "apple/d_corrupt.png", "apple/broken.png",
                                   "README.txt",  ".cache/x.png"};
static const char *tree_dirs[] = {"zebra/sub", "zebra", "Mango", "apple", ".cache"}; /* removal order */

static void tree_path(char *out, size_t cap, const tree *t, const char *rel) { snprintf(out, cap, "%s/%s", t->root, rel); }

static void tree_make(tree *t) {
    static const char *mk[] = {"zebra", "zebra/sub", "Mango", "apple", ".cache"};
    char p[256];
    membuf m;
    size_t i;
    snprintf(t->root, sizeof t->root, "build/test_image_folder_%ld", (long)getpid());
    CHECKF(mkdir(t->root, 0777) == 0, "mkdir %s", t->root);
    for (i = 0; i < sizeof mk / sizeof mk[0]; i++) {
        tree_path(p, sizeof p, t, mk[i]);
        CHECKF(mkdir(p, 0777) == 0, "mkdir %s", p);
    }
    pattern(t->img_b, 6, 4, 3, 5);
    pattern(t->img_a, 6, 4, 3, 6);
    pattern(t->img_c, 6, 4, 3, 7);
    m = encode('P', 6, 4, 3, t->img_b);
    tree_path(p, sizeof p, t, "zebra/b.png");
    write_file(p, m.p, m.n);
    tree_path(p, sizeof p, t, "zebra/.hidden.png");
    write_file(p, m.p, m.n);
    tree_path(p, sizeof p, t, ".cache/x.png");
    write_file(p, m.p, m.n);
    tree_path(p, sizeof p, t, "apple/d_corrupt.png");
    write_file(p, m.p, m.n / 2);
    mb_free(&m);
    m = encode('B', 6, 4, 3, t->img_a);
    tree_path(p, sizeof p, t, "zebra/a.bmp");
    write_file(p, m.p, m.n);
    mb_free(&m);
    m = encode('T', 6, 4, 3, t->img_c);
    tree_path(p, sizeof p, t, "apple/c.tga");
    write_file(p, m.p, m.n);
    mb_free(&m);
    tree_path(p, sizeof p, t, "zebra/notes.txt");
    write_file(p, "labels are folder names\n", 24);
    tree_path(p, sizeof p, t, "README.txt");
    write_file(p, "test tree\n", 10);
    tree_path(p, sizeof p, t, "zebra/pipe");
    CHECKF(mkfifo(p, 0666) == 0, "mkfifo %s", p);
    tree_path(p, sizeof p, t, "apple/broken.png");
    CHECKF(symlink("nowhere.png", p) == 0, "symlink %s", p);
}

static void tree_remove(const tree *t) {
    char p[256];
    size_t i;
    int bad = 0;
    for (i = 0; i < sizeof tree_files / sizeof tree_files[0]; i++) {
        tree_path(p, sizeof p, t, tree_files[i]);
        bad += remove(p) != 0;
    }
    for (i = 0; i < sizeof tree_dirs / sizeof tree_dirs[0]; i++) {
        tree_path(p, sizeof p, t, tree_dirs[i]);
        bad += remove(p) != 0;
    }
    bad += remove(t->root) != 0;
    CHECKF(bad == 0, "%d entries of %s not removed", bad, t->root);
}

/* The bytes of a folder struct other than .error, for "unchanged on error". */
static int folder_same(const nn_image_folder *a, const nn_image_folder *b) {
    return memcmp(a, b, offsetof(nn_image_folder, error)) == 0;
}

static void test_image_folder(void) {
    tree t;
    nn_image_folder f;
    nn_image_desc d = nn_image_desc_default(6, 4, 3);
    unsigned char want[6 * 4 * 3];
    const char *s, *line[6];
    int i;
    tree_make(&t);
    memset(&f, 0, sizeof f);
    if (CHECKF(nn_image_folder_load(&f, &d, t.root) == NN_OK, "%s", f.error)) {
        CHECK(f.error[0] == 0);
        CHECK_EQ_INT(f.n, 3);
        CHECK_EQ_INT(f.n_classes, 3);
        CHECK(f.width == 6 && f.height == 4 && f.channels == 3);
        CHECK(f.class_names && !strcmp(f.class_names[0], "Mango") && !strcmp(f.class_names[1], "apple") &&
              !strcmp(f.class_names[2], "zebra"));
        /* apple/c.tga, zebra/a.bmp, zebra/b.png */
        CHECK(f.labels && f.labels[0] == 1 && f.labels[1] == 2 && f.labels[2] == 2);
        expect_chw(want, t.img_c, 6, 4, 3, 3);
        CHECK(count_diff(f.pixels, want, sizeof want) == 0);
        expect_chw(want, t.img_a, 6, 4, 3, 3);
        CHECK(count_diff(f.pixels + sizeof want, want, sizeof want) == 0);
        expect_chw(want, t.img_b, 6, 4, 3, 3);
        CHECK(count_diff(f.pixels + 2 * sizeof want, want, sizeof want) == 0);
        CHECK_EQ_INT(f.n_skipped, 5);
        /* one line each, in class then file order */
        line[0] = "Mango/: no usable image (label 0 kept)\n";
        line[1] = "apple/broken.png: cannot be examined";
        line[2] = "apple/d_corrupt.png: PNG: cut short";
        line[3] = "zebra/notes.txt: image: not a PNG, JPEG, BMP or TGA file";
        line[4] = "zebra/pipe: not a regular file\n";
        line[5] = "zebra/sub: a folder";
        s = f.skipped;
        for (i = 0; i < 6 && s; i++) {
            CHECKF(!strncmp(s, line[i], strlen(line[i])), "line %d: \"%.80s\", want \"%s\"", i, s, line[i]);
            s = strchr(s, '\n');
            if (s) s++;
        }
        CHECKF(s && *s == 0, "skipped text: \"%s\"", f.skipped ? f.skipped : "(null)");
        CHECK(strstr(f.skipped, "hidden") == NULL && strstr(f.skipped, "README") == NULL);
        TEST_NOTE("skipped:\n%s", f.skipped);
        /* the same at another size and in gray: pixels equal nn_image_decode's */
        nn_image_folder_free(&f);
        CHECK(f.owned == NULL && f.pixels == NULL && f.n == 0);
        nn_image_folder_free(&f); /* twice is harmless */
        nn_image_folder_free(NULL);
    }
    d = nn_image_desc_default(3, 5, 1);
    if (CHECKF(nn_image_folder_load(&f, &d, t.root) == NN_OK, "%s", f.error)) {
        char p[256];
        void *raw = NULL;
        size_t len = 0;
        unsigned char one[15];
        tree_path(p, sizeof p, &t, "zebra/a.bmp");
        if (CHECK(nn_read_file(&raw, &len, p, 1 << 20) == NN_OK)) {
            CHECK_EQ_INT(decode(one, &d, raw, len, NULL), NN_OK);
            CHECK(f.n == 3 && memcmp(f.pixels + 15, one, 15) == 0);
            nn_free(raw);
        }
        nn_image_folder_free(&f);
    }
    /* a trailing slash on root changes nothing */
    {
        char root[160];
        snprintf(root, sizeof root, "%s/", t.root);
        if (CHECKF(nn_image_folder_load(&f, &d, root) == NN_OK, "%s", f.error)) {
            CHECK(f.n == 3 && f.n_classes == 3);
            nn_image_folder_free(&f);
        }
    }
    tree_remove(&t);
}

static void test_image_folder_errors(void) {
    tree t;
    nn_image_folder f, before;
    nn_image_desc d = nn_image_desc_default(6, 4, 3);
    char p[256];
    tree_make(&t);
    memset(&f, 0x5A, sizeof f); /* a caller's old contents: kept on every error */
    f.error[0] = 0;
    before = f;
    /* max_images counts every entry of the class folders (8 here), images or not */
    d.max_images = 7;
    if (CHECK_EQ_INT(nn_image_folder_load(&f, &d, t.root), NN_ERR_TOO_LARGE))
        CHECKF(strstr(f.error, "max_images (7)") != NULL, "message: %s", f.error);
    CHECK(folder_same(&f, &before));
    d.max_images = 8;
    if (CHECKF(nn_image_folder_load(&f, &d, t.root) == NN_OK, "%s", f.error)) nn_image_folder_free(&f);
    memset(&f, 0x5A, sizeof f);
    d.max_images = 1 << 20;
    /* root missing, root a file */
    tree_path(p, sizeof p, &t, "missing");
    if (CHECK_EQ_INT(nn_image_folder_load(&f, &d, p), NN_ERR_IO))
        CHECKF(strstr(f.error, "cannot list") && strstr(f.error, "missing") && strstr(f.error, "no such file or directory"),
               "message: %s", f.error);
    CHECK(folder_same(&f, &before));
    tree_path(p, sizeof p, &t, "README.txt");
    if (CHECK_EQ_INT(nn_image_folder_load(&f, &d, p), NN_ERR_IO))
        CHECKF(strstr(f.error, "not a directory") != NULL, "message: %s", f.error);
    /* no class folder: zebra/sub is empty; no usable image: Mango */
    tree_path(p, sizeof p, &t, "zebra/sub");
    if (CHECK_EQ_INT(nn_image_folder_load(&f, &d, p), NN_ERR_CORRUPT))
        CHECKF(strstr(f.error, "no class folder") != NULL, "message: %s", f.error);
    tree_path(p, sizeof p, &t, "zebra");
    if (CHECK_EQ_INT(nn_image_folder_load(&f, &d, p), NN_ERR_CORRUPT))
        CHECKF(strstr(f.error, "no usable image") && strstr(f.error, "sub/: no usable image"), "message: %s", f.error);
    CHECK(folder_same(&f, &before));
    /* bad arguments */
    d.tag = 0;
    CHECK_EQ_INT(nn_image_folder_load(&f, &d, t.root), NN_ERR_INVALID_ARGUMENT);
    d = nn_image_desc_default(6, 4, 3);
    CHECK_EQ_INT(nn_image_folder_load(&f, &d, NULL), NN_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(nn_image_folder_load(&f, &d, ""), NN_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(nn_image_folder_load(NULL, &d, t.root), NN_ERR_INVALID_ARGUMENT);
    {
        char *longroot = (char *)malloc(5000);
        if (CHECK(longroot != NULL)) {
            memset(longroot, 'a', 4999);
            longroot[4999] = 0;
            if (CHECK_EQ_INT(nn_image_folder_load(&f, &d, longroot), NN_ERR_INVALID_ARGUMENT))
                CHECKF(strstr(f.error, "4999 bytes") != NULL, "message: %s", f.error);
            free(longroot);
        }
    }
    CHECK(folder_same(&f, &before));
    tree_remove(&t);
}

/* 300 files with 200-byte names that are not images: every one counted, the text cut
   after 64 KiB with a last line "...". */
static void test_image_folder_skipped_bound(void) {
    char root[128], p[512], name[256];
    nn_image_folder f;
    nn_image_desc d = nn_image_desc_default(4, 4, 1);
    unsigned char px[16];
    membuf m;
    int i, bad = 0;
    snprintf(root, sizeof root, "build/test_image_bound_%ld", (long)getpid());
    CHECK(mkdir(root, 0777) == 0);
    snprintf(p, sizeof p, "%s/bad", root);
    CHECK(mkdir(p, 0777) == 0);
    snprintf(p, sizeof p, "%s/good", root);
    CHECK(mkdir(p, 0777) == 0);
    pattern(px, 4, 4, 1, 8);
    m = encode('P', 4, 4, 1, px);
    snprintf(p, sizeof p, "%s/good/1.png", root);
    write_file(p, m.p, m.n);
    mb_free(&m);
    memset(name, 'x', 200);
    name[200] = 0;
    for (i = 0; i < 300; i++) {
        snprintf(p, sizeof p, "%s/bad/%03d%s", root, i, name);
        write_file(p, "not an image", 12);
    }
    memset(&f, 0, sizeof f);
    if (CHECKF(nn_image_folder_load(&f, &d, root) == NN_OK, "%s", f.error)) {
        size_t n = strlen(f.skipped);
        CHECK_EQ_INT(f.n, 1);
        CHECK_EQ_INT(f.n_skipped, 300);
        CHECKF(n < 65536 && n > 60000, "skipped text of %lu bytes", (unsigned long)n);
        CHECK(n >= 4 && !strcmp(f.skipped + n - 4, "...\n"));
        CHECK(!strncmp(f.skipped, "bad/000xxx", 10)); /* sorted */
        nn_image_folder_free(&f);
    }
    for (i = 0; i < 300; i++) {
        snprintf(p, sizeof p, "%s/bad/%03d%s", root, i, name);
        bad += remove(p) != 0;
    }
    snprintf(p, sizeof p, "%s/good/1.png", root);
    bad += remove(p) != 0;
    snprintf(p, sizeof p, "%s/good", root);
    bad += remove(p) != 0;
    snprintf(p, sizeof p, "%s/bad", root);
    bad += remove(p) != 0;
    bad += remove(root) != 0;
    CHECKF(bad == 0, "%d entries of %s not removed", bad, root);
}
/* nn.h brings no decompressor: stb_image's, for the IDX file below. */
static nn_result ti_inflate(void *dst, size_t dst_len, const void *src, size_t src_len) {
    int n;
    if (dst_len > INT_MAX || src_len > INT_MAX) return NN_ERR_TOO_LARGE;
    n = stbi_zlib_decode_noheader_buffer((char *)dst, (int)dst_len, (const char *)src, (int)src_len);
    return n == (int)dst_len ? NN_OK : NN_ERR_CORRUPT;
}

/* examples/images/ (tools/make_sample_pngs.py): each PNG holds exactly its Fashion-MNIST
   test image, compared with Debian's IDX file when it is installed. */
static void test_image_samples(void) {
    static const char *names[10] = {"0_tshirt", "1_trouser", "2_pullover", "3_dress", "4_coat",
                                    "5_sandal", "6_shirt", "7_sneaker", "8_bag", "9_ankle_boot"};
    static const int index[10] = {19, 2, 1, 13, 6, 8, 4, 9, 18, 0}; /* test-set indices (README.md) */
    nn_image_desc d = nn_image_desc_default(28, 28, 1);
    nn_idx idx;
    unsigned char got[28 * 28];
    char path[128], err[NN_ERROR_MAX];
    int i, have;
    memset(&idx, 0, sizeof idx); /* a failed load leaves it as it was */
    have = nn_idx_load(&idx, "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz", ti_inflate) == NN_OK;
    if (have) have = CHECK(idx.rank == 3 && idx.dims[0] == 10000 && idx.dims[1] == 28 && idx.dims[2] == 28);
    else TEST_NOTE("dataset-fashion-mnist not installed: sample pixels not compared with it");
    for (i = 0; i < 10; i++) {
        snprintf(path, sizeof path, "examples/images/%s.png", names[i]);
        if (!CHECKF(nn_image_load(got, &d, path, err) == NN_OK, "%s", err)) continue;
        if (have) CHECKF(memcmp(got, idx.data + (size_t)index[i] * 784, 784) == 0, "%s differs from test image %d", path,
                         index[i]);
    }
    nn_idx_free(&idx);
}
#elif !defined(NN_NO_STDIO)
static void test_image_folder(void) {
    nn_image_folder f;
    nn_image_desc d = nn_image_desc_default(6, 4, 3);
    CHECK_EQ_INT(nn_image_folder_load(&f, &d, "."), NN_ERR_UNSUPPORTED);
}
#endif

static const test_case tests[] = {
    TEST(test_image_desc),
    TEST(test_image_png_exact),
    TEST(test_image_bmp_exact),
    TEST(test_image_tga_exact),
    TEST(test_image_chw_order),
    TEST(test_image_png_variants),
    TEST(test_image_jpeg),
    TEST(test_image_jpeg_huffman_overflow),
    TEST(test_image_jpeg_undefined_tables),
    TEST(test_image_jpeg_short_scan),
    TEST(test_image_resize_constant),
    TEST(test_image_resize_halves),
    TEST(test_image_truncated),
    TEST(test_image_bmp_garbage_header),
    TEST(test_image_huge_header),
    TEST(test_image_png_bomb),
    TEST(test_image_refused),
#if TI_POSIX && !defined(NN_NO_STDIO)
    TEST(test_image_load_file),
    TEST(test_image_samples),
    TEST(test_image_folder),
    TEST(test_image_folder_errors),
    TEST(test_image_folder_skipped_bound),
#elif !defined(NN_NO_STDIO)
    TEST(test_image_folder),
#endif
};

int main(int argc, char **argv) { return TEST_MAIN(argc, argv, tests); }
