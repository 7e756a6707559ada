/* test_plot.c - tests for examples/nn_plot.h (learning curves, x-y curves, confusion matrices).

   gcc -std=c99 -O2 -Wall -Wextra -Wpedantic -Werror tests/test_plot.c -o /tmp/tp -lm && /tmp/tp

   Also built as clang -std=c11, g++ -std=c++11 -x c++ and with clang -fsanitize=address,undefined.
   Pixels are checked on the raster (nn_plot_curves / nn_plot_confusion with their layout), files
   by decoding them back with stb_image. Scratch files go to /tmp, named after the process id so
   several builds can run at once; each test removes what it wrote, except two pictures kept to
   look at: /tmp/plot_lr_sweep.png and /tmp/plot_grad_flow.png (x-y curves, overwritten each run).
   `/tmp/tp confusion` runs only the tests whose name contains "confusion". */
#define _POSIX_C_SOURCE 200809L /* getpid */
#define NN_PLOT_IMPLEMENTATION
#include "../examples/nn_plot.h"
#include "test.h"

#if defined(__GNUC__) || defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wsign-compare"
#endif
#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_PNG
#include <stb/stb_image.h>
#if defined(__GNUC__) || defined(__clang__)
#pragma GCC diagnostic pop
#endif

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ------------------------------------------------------------------ helpers */

/* The series palette the header documents: matplotlib's tab10, in order. */
static const unsigned char tab10[10][3] = {
    {31, 119, 180}, {255, 127, 14},  {44, 160, 44},  {214, 39, 40},  {148, 103, 189},
    {140, 86, 75},  {227, 119, 194}, {188, 189, 34}, {23, 190, 207}, {127, 127, 127}};
static const unsigned char text_rgb[3] = {30, 30, 30};

typedef struct box {
    int x0, y0, x1, y1; /* half-open */
} box;

static box box_xywh(int x, int y, int w, int h) {
    box b;
    b.x0 = x;
    b.y0 = y;
    b.x1 = x + w;
    b.y1 = y + h;
    return b;
}

static const unsigned char *px(const nn_plot_image *img, int x, int y) {
    return img->rgb + ((size_t)y * (size_t)img->w + (size_t)x) * 3;
}

static int is_rgb(const unsigned char *p, const unsigned char *c) {
    return p[0] == c[0] && p[1] == c[1] && p[2] == c[2];
}

static int is_white(const unsigned char *p) { return p[0] == 255 && p[1] == 255 && p[2] == 255; }

static double luma(const unsigned char *p) { return 0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2]; }

/* b cut to the image: a wrong layout makes a test fail, never read outside the pixels. */
static box clip_img(const nn_plot_image *img, box b) {
    if (b.x0 < 0) b.x0 = 0;
    if (b.y0 < 0) b.y0 = 0;
    if (b.x1 > img->w) b.x1 = img->w;
    if (b.y1 > img->h) b.y1 = img->h;
    return b;
}

/* Pixels of exactly colour c inside b, skipping the rectangle `skip` (may be empty). */
static long count_rgb(const nn_plot_image *img, box b, const unsigned char *c, box skip) {
    long n = 0;
    int x, y;
    b = clip_img(img, b);
    for (y = b.y0; y < b.y1; y++)
        for (x = b.x0; x < b.x1; x++) {
            if (x >= skip.x0 && x < skip.x1 && y >= skip.y0 && y < skip.y1) continue;
            if (is_rgb(px(img, x, y), c)) n++;
        }
    return n;
}

static long count_nonwhite(const nn_plot_image *img, box b) {
    long n = 0;
    int x, y;
    b = clip_img(img, b);
    for (y = b.y0; y < b.y1; y++)
        for (x = b.x0; x < b.x1; x++)
            if (!is_white(px(img, x, y))) n++;
    return n;
}

/* Mean row of the pixels of colour c inside b (outside skip); -1 if there are none. */
static double mean_row(const nn_plot_image *img, box b, const unsigned char *c, box skip) {
    double sum = 0.0;
    long n = 0;
    int x, y;
    b = clip_img(img, b);
    for (y = b.y0; y < b.y1; y++)
        for (x = b.x0; x < b.x1; x++) {
            if (x >= skip.x0 && x < skip.x1 && y >= skip.y0 && y < skip.y1) continue;
            if (is_rgb(px(img, x, y), c)) {
                sum += y;
                n++;
            }
        }
    return n ? sum / (double)n : -1.0;
}

static int corners_white(const nn_plot_image *img) {
    return is_white(px(img, 0, 0)) && is_white(px(img, img->w - 1, 0)) &&
           is_white(px(img, 0, img->h - 1)) && is_white(px(img, img->w - 1, img->h - 1));
}

static nn_plot_series mk(const char *label, const float *y, int n, int right) {
    nn_plot_series s;
    s.label = label;
    s.y = y;
    s.n = n;
    s.right_axis = right;
    return s;
}

static void tmp_path(char *buf, size_t cap, const char *name) {
    snprintf(buf, cap, "/tmp/test_plot_%ld_%s.png", (long)getpid(), name);
}

static int file_exists(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    fclose(f);
    return 1;
}

static box legend_box(const nn_plot_layout *l) {
    return box_xywh(l->legend_x, l->legend_y, l->legend_w, l->legend_h);
}

static box plot_box(const nn_plot_layout *l) {
    return box_xywh(l->plot_x, l->plot_y, l->plot_w, l->plot_h);
}

/* ------------------------------------------------------------------ curves */

static void test_curves_png_roundtrip(void) {
    char path[256];
    float a[5] = {1.0f, 0.7f, 0.5f, 0.4f, 0.35f}, b[5] = {0.5f, 0.6f, 0.7f, 0.75f, 0.8f};
    nn_plot_series s[2];
    unsigned char *data;
    int w = 0, h = 0, n = 0;
    s[0] = mk("loss", a, 5, 0);
    s[1] = mk("accuracy", b, 5, 1);
    tmp_path(path, sizeof path, "curves");
    remove(path);
    CHECK_EQ_INT(nn_plot_curves_png(path, 640, 400, "run", "loss", "accuracy", s, 2), NN_PLOT_OK);
    data = stbi_load(path, &w, &h, &n, 3);
    if (CHECKF(data != NULL, "stb_image cannot decode %s", path)) {
        nn_plot_image img;
        CHECK_EQ_INT(w, 640);
        CHECK_EQ_INT(h, 400);
        img.rgb = data;
        img.w = w;
        img.h = h;
        CHECK(corners_white(&img));
        CHECK(count_rgb(&img, box_xywh(0, 0, w, h), tab10[0], box_xywh(0, 0, 0, 0)) > 100);
        CHECK(count_rgb(&img, box_xywh(0, 0, w, h), tab10[1], box_xywh(0, 0, 0, 0)) > 100);
        stbi_image_free(data);
    }
    remove(path);
}

/* An increasing series on the left axis and a decreasing one on the right: each colour is
   inside the plot area, the first rises left to right, the second falls. */
static void test_curves_colours_and_direction(void) {
    float up[20], down[20];
    nn_plot_series s[2];
    nn_plot_image img = {NULL, 700, 450};
    nn_plot_layout l;
    int i;
    for (i = 0; i < 20; i++) {
        up[i] = 0.1f * (float)i * (float)i;
        down[i] = 0.95f - 0.04f * (float)i;
    }
    s[0] = mk("rising", up, 20, 0);
    s[1] = mk("falling", down, 20, 1);
    if (!CHECK_EQ_INT(nn_plot_curves(&img, "directions", "value", "share", s, 2, &l), NN_PLOT_OK))
        return;
    CHECK_EQ_INT(l.w, 700);
    CHECK_EQ_INT(l.h, 450);
    CHECK(l.plot_x > 0 && l.plot_y > 0 && l.plot_x + l.plot_w < 700 && l.plot_y + l.plot_h < 450);
    CHECK(l.plot_w > 400 && l.plot_h > 250);
    {
        box plot = plot_box(&l), leg = legend_box(&l);
        int third = l.plot_w / 3;
        box left = box_xywh(l.plot_x, l.plot_y, third, l.plot_h);
        box right = box_xywh(l.plot_x + l.plot_w - third, l.plot_y, third, l.plot_h);
        double ul = mean_row(&img, left, tab10[0], leg), ur = mean_row(&img, right, tab10[0], leg);
        double dl = mean_row(&img, left, tab10[1], leg), dr = mean_row(&img, right, tab10[1], leg);
        CHECK(count_rgb(&img, plot, tab10[0], leg) > 200);
        CHECK(count_rgb(&img, plot, tab10[1], leg) > 100); /* dashed: fewer pixels */
        CHECKF(ul > 0 && ur > 0 && ur < ul - 50, "rising series: mean row left %.1f right %.1f", ul,
               ur);
        CHECKF(dl > 0 && dr > 0 && dr > dl + 50, "falling series: mean row left %.1f right %.1f",
               dl, dr);
        /* nothing of a series colour outside the plot area, except in the legend */
        CHECK_EQ_INT(count_rgb(&img, box_xywh(0, 0, 700, l.plot_y - 1), tab10[0], leg), 0);
        CHECK_EQ_INT(
            count_rgb(&img,
                      box_xywh(0, l.plot_y + l.plot_h + 1, 700, 450 - l.plot_y - l.plot_h - 1),
                      tab10[0], leg),
            0);
    }
    CHECK(corners_white(&img));
    nn_plot_image_free(&img);
    CHECK(img.rgb == NULL);
}

/* The legend lists every series: its box lies in the plot area, holds text and each colour. */
static void test_curves_legend(void) {
    float a[10], b[10], c[10];
    nn_plot_series s[3];
    nn_plot_image img = {NULL, 640, 400};
    nn_plot_layout l;
    int i;
    for (i = 0; i < 10; i++) {
        a[i] = 2.0f - 0.1f * (float)i;
        b[i] = 2.2f - 0.08f * (float)i;
        c[i] = 0.5f + 0.04f * (float)i;
    }
    s[0] = mk("train loss", a, 10, 0);
    s[1] = mk("val loss", b, 10, 0);
    s[2] = mk("val accuracy", c, 10, 1);
    if (!CHECK_EQ_INT(nn_plot_curves(&img, "legend", "loss", "accuracy", s, 3, &l), NN_PLOT_OK))
        return;
    CHECK(l.legend_w > 40 && l.legend_h > 30);
    CHECK(l.legend_x >= l.plot_x && l.legend_y >= l.plot_y);
    CHECK(l.legend_x + l.legend_w <= l.plot_x + l.plot_w &&
          l.legend_y + l.legend_h <= l.plot_y + l.plot_h);
    {
        box leg = legend_box(&l), none = box_xywh(0, 0, 0, 0);
        int k;
        CHECKF(count_rgb(&img, leg, text_rgb, none) > 100, "legend text pixels: %ld",
               count_rgb(&img, leg, text_rgb, none));
        for (k = 0; k < 3; k++)
            CHECKF(count_rgb(&img, leg, tab10[k], none) > 10, "legend sample of series %d", k);
        /* the legend's own pixels sit in three rows, one per series, top to bottom */
        CHECK(mean_row(&img, leg, tab10[0], none) < mean_row(&img, leg, tab10[1], none));
        CHECK(mean_row(&img, leg, tab10[1], none) < mean_row(&img, leg, tab10[2], none));
    }
    nn_plot_image_free(&img);
}

/* A line from bottom-left to top-right leaves the top-left corner free: the legend goes there
   rather than over the curve. */
static void test_curves_legend_avoids_curve(void) {
    float y[30];
    nn_plot_series s[1];
    nn_plot_image img = {NULL, 640, 400};
    nn_plot_layout l;
    int i;
    for (i = 0; i < 30; i++) y[i] = (float)i;
    s[0] = mk("diagonal", y, 30, 0);
    if (!CHECK_EQ_INT(nn_plot_curves(&img, NULL, NULL, NULL, s, 1, &l), NN_PLOT_OK)) return;
    CHECKF(l.legend_x + l.legend_w / 2 < l.plot_x + l.plot_w / 2, "legend x %d", l.legend_x);
    CHECKF(l.legend_y + l.legend_h / 2 < l.plot_y + l.plot_h / 2, "legend y %d", l.legend_y);
    nn_plot_image_free(&img);
}

/* The right axis (ticks and labels) appears only when a series uses it. */
static void test_curves_right_axis_only_when_used(void) {
    float a[6] = {3, 2, 1.5f, 1.2f, 1.1f, 1.0f};
    nn_plot_series s[2];
    nn_plot_image img = {NULL, 600, 400};
    nn_plot_layout l;
    box right;
    s[0] = mk("loss", a, 6, 0);
    s[1] = mk("acc", a, 6, 1);
    if (!CHECK_EQ_INT(nn_plot_curves(&img, NULL, "loss", "acc", s, 1, &l), NN_PLOT_OK)) return;
    right = box_xywh(l.plot_x + l.plot_w + 2, l.plot_y, 600 - l.plot_x - l.plot_w - 2, l.plot_h);
    CHECK_EQ_INT(count_nonwhite(&img, right), 0);
    CHECK_EQ_INT(nn_plot_curves(&img, NULL, "loss", "acc", s, 2, &l), NN_PLOT_OK);
    right = box_xywh(l.plot_x + l.plot_w + 2, l.plot_y, 600 - l.plot_x - l.plot_w - 2, l.plot_h);
    CHECK(count_rgb(&img, right, text_rgb, box_xywh(0, 0, 0, 0)) > 50);
    nn_plot_image_free(&img);
}

/* NaN and Inf leave a gap: no line between the finite neighbours of the gap. */
static void test_curves_nan_gap(void) {
    float y[8] = {1, 2, 3, 0, 0, 0, 7, 8};
    nn_plot_series s[1];
    nn_plot_image img = {NULL, 640, 400};
    nn_plot_layout l;
    double x1, x2, gap_mid, seg_mid;
    box none = box_xywh(0, 0, 0, 0);
    y[3] = (float)NAN;
    y[4] = (float)INFINITY;
    y[5] = -(float)INFINITY;
    s[0] = mk("gappy", y, 8, 0);
    if (!CHECK_EQ_INT(nn_plot_curves(&img, NULL, NULL, NULL, s, 1, &l), NN_PLOT_OK)) return;
    /* x of epoch e is linear in e: find epoch 1 and 8 as the extreme columns of the colour */
    {
        int x, y0, lo = -1, hi = -1;
        for (x = l.plot_x; x < l.plot_x + l.plot_w; x++)
            for (y0 = l.plot_y; y0 < l.plot_y + l.plot_h; y0++) {
                if (x >= l.legend_x && x < l.legend_x + l.legend_w && y0 >= l.legend_y &&
                    y0 < l.legend_y + l.legend_h)
                    continue;
                if (is_rgb(px(&img, x, y0), tab10[0])) {
                    if (lo < 0) lo = x;
                    hi = x;
                }
            }
        if (!CHECK(lo >= 0 && hi > lo)) {
            nn_plot_image_free(&img);
            return;
        }
        x1 = lo;
        x2 = hi;
    }
    gap_mid = x1 + (x2 - x1) * (4.5 - 1.0) / 7.0; /* between epochs 4 and 6: nothing */
    seg_mid = x1 + (x2 - x1) * (1.5 - 1.0) / 7.0; /* between epochs 1 and 2: the line */
    CHECK_EQ_INT(
        count_rgb(&img, box_xywh((int)gap_mid - 10, l.plot_y, 20, l.plot_h), tab10[0], none), 0);
    CHECK(count_rgb(&img, box_xywh((int)seg_mid - 2, l.plot_y, 4, l.plot_h), tab10[0], none) > 0);
    nn_plot_image_free(&img);
}

/* Degenerate but valid input draws without error, and something of each series shows. */
static void test_curves_degenerate(void) {
    float flat[6] = {0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f}, one[1] = {42.0f}, zeros[3] = {0, 0, 0};
    float nans[4], huge[4] = {-3.0e38f, 3.0e38f, 1.0e38f, -1.0e38f},
                   tiny[3] = {1e-30f, 2e-30f, 3e-30f};
    float near1[3] = {1.0f, 1.0000001f, 1.0f};
    nn_plot_series s[9];
    nn_plot_image img = {NULL, 640, 400};
    nn_plot_layout l;
    box none = box_xywh(0, 0, 0, 0);
    char long_label[400], medium[121];
    int i;
    for (i = 0; i < 4; i++) nans[i] = (float)NAN;
    for (i = 0; i < 120; i++) medium[i] = "Wide label, "[i % 12]; /* shorter than the copy limit */
    medium[120] = 0;
    memset(long_label, 'x', sizeof long_label - 1);
    long_label[sizeof long_label - 1] = 0;
    long_label[10] = (char)0xc3; /* UTF-8 and control bytes are drawn as '?' */
    long_label[11] = '\n';
    /* flat */
    s[0] = mk("flat", flat, 6, 0);
    CHECK_EQ_INT(nn_plot_curves(&img, "flat", "loss", NULL, s, 1, &l), NN_PLOT_OK);
    CHECK(count_rgb(&img, plot_box(&l), tab10[0], legend_box(&l)) > 200);
    /* a single point */
    s[0] = mk("one", one, 1, 0);
    CHECK_EQ_INT(nn_plot_curves(&img, "n = 1", "loss", NULL, s, 1, &l), NN_PLOT_OK);
    CHECK(count_rgb(&img, plot_box(&l), tab10[0], legend_box(&l)) > 5);
    /* all zero, all NaN, empty, huge, tiny, float-epsilon apart, NULL label, long label */
    s[0] = mk(NULL, zeros, 3, 0);
    s[1] = mk("nan", nans, 4, 0);
    s[2] = mk("empty", NULL, 0, 1);
    s[3] = mk("huge", huge, 4, 1);
    s[4] = mk(long_label, tiny, 3, 0);
    s[5] = mk(medium, near1, 3, 1);
    CHECK_EQ_INT(nn_plot_curves(&img, medium, long_label, medium, s, 6, &l), NN_PLOT_OK);
    CHECK(corners_white(&img));
    CHECK(count_rgb(&img, plot_box(&l), tab10[3], legend_box(&l)) > 50); /* huge is drawn */
    /* long text is cut: a margin of white stays at the left and right edges */
    CHECK_EQ_INT(count_nonwhite(&img, box_xywh(0, 0, 4, 400)), 0);
    CHECK_EQ_INT(count_nonwhite(&img, box_xywh(636, 0, 4, 400)), 0);
    CHECK(l.legend_w > 0 && l.legend_x >= l.plot_x &&
          l.legend_x + l.legend_w <= l.plot_x + l.plot_w);
    CHECK_EQ_INT(nn_plot_curves(&img, long_label, medium, long_label, s, 6, &l), NN_PLOT_OK);
    CHECK_EQ_INT(count_nonwhite(&img, box_xywh(0, 0, 4, 400)), 0);
    CHECK_EQ_INT(count_nonwhite(&img, box_xywh(636, 0, 4, 400)), 0);
    /* only right-axis series; only all-NaN series; none at all */
    s[0] = mk("right", flat, 6, 1);
    CHECK_EQ_INT(nn_plot_curves(&img, NULL, "l", "r", s, 1, &l), NN_PLOT_OK);
    CHECK(count_rgb(&img, plot_box(&l), tab10[0], legend_box(&l)) > 50);
    s[0] = mk("nan", nans, 4, 0);
    CHECK_EQ_INT(nn_plot_curves(&img, NULL, NULL, NULL, s, 1, &l), NN_PLOT_OK);
    CHECK_EQ_INT(count_rgb(&img, plot_box(&l), tab10[0], legend_box(&l)), 0);
    CHECK_EQ_INT(nn_plot_curves(&img, "empty", "loss", "acc", NULL, 0, &l), NN_PLOT_OK);
    CHECK(l.legend_w == 0 && l.legend_h == 0);
    CHECK(count_rgb(&img, box_xywh(0, 0, 640, 400), text_rgb, none) > 50); /* tick labels */
    nn_plot_image_free(&img);
    /* many series: the legend ends in "+N more" and stays inside the plot */
    {
        float v[40][5];
        nn_plot_series m[40];
        int j;
        for (i = 0; i < 40; i++) {
            for (j = 0; j < 5; j++) v[i][j] = (float)(i + j);
            m[i] = mk("series", v[i], 5, i % 2);
        }
        img.w = 400;
        img.h = 300;
        CHECK_EQ_INT(nn_plot_curves(&img, "many", "a", "b", m, 40, &l), NN_PLOT_OK);
        CHECK(l.legend_h > 0 && l.legend_y + l.legend_h <= l.plot_y + l.plot_h);
        nn_plot_image_free(&img);
    }
    /* the smallest and a long thin image */
    s[0] = mk("loss", flat, 6, 0);
    s[1] = mk("acc", one, 1, 1);
    img.w = 64;
    img.h = 64;
    CHECK_EQ_INT(nn_plot_curves(&img, "tiny", "loss", "acc", s, 2, &l), NN_PLOT_OK);
    CHECK(l.plot_w >= 32 && l.plot_h >= 32);
    CHECK(corners_white(&img));
    nn_plot_image_free(&img);
    img.w = 4000;
    img.h = 64;
    CHECK_EQ_INT(nn_plot_curves(&img, "wide", "loss", "acc", s, 2, &l), NN_PLOT_OK);
    CHECK(l.plot_x + l.plot_w <= 4000 && l.plot_h >= 32);
    nn_plot_image_free(&img);
    /* 1000 epochs: too dense for a dot per epoch, still a line */
    {
        static float big[1000];
        for (i = 0; i < 1000; i++) big[i] = 1.0f / (1.0f + (float)i);
        s[0] = mk("long", big, 1000, 0);
        img.w = 800;
        img.h = 400;
        CHECK_EQ_INT(nn_plot_curves(&img, NULL, NULL, NULL, s, 1, &l), NN_PLOT_OK);
        CHECK(count_rgb(&img, plot_box(&l), tab10[0], legend_box(&l)) > 300);
        nn_plot_image_free(&img);
    }
}

/* Invalid input: an error code, no file, the caller's buffer untouched. */
static void test_curves_invalid(void) {
    char path[256];
    float y[3] = {1, 2, 3};
    nn_plot_series s[2];
    nn_plot_image img;
    unsigned char buf[64 * 64 * 3];
    size_t i;
    int untouched = 1;
    s[0] = mk("a", y, 3, 0);
    s[1] = mk("b", y, 3, 1);
    tmp_path(path, sizeof path, "invalid");
    remove(path);
    CHECK_EQ_INT(nn_plot_curves_png(NULL, 640, 400, "t", "l", "r", s, 2), NN_PLOT_ERR_ARG);
    CHECK_EQ_INT(nn_plot_curves_png(path, 63, 400, "t", "l", "r", s, 2), NN_PLOT_ERR_ARG);
    CHECK_EQ_INT(nn_plot_curves_png(path, 640, 63, "t", "l", "r", s, 2), NN_PLOT_ERR_ARG);
    CHECK_EQ_INT(nn_plot_curves_png(path, 8193, 400, "t", "l", "r", s, 2), NN_PLOT_ERR_ARG);
    CHECK_EQ_INT(nn_plot_curves_png(path, 640, 8193, "t", "l", "r", s, 2), NN_PLOT_ERR_ARG);
    CHECK_EQ_INT(nn_plot_curves_png(path, -640, 400, "t", "l", "r", s, 2), NN_PLOT_ERR_ARG);
    CHECK_EQ_INT(nn_plot_curves_png(path, 640, 400, "t", "l", "r", s, -1), NN_PLOT_ERR_ARG);
    CHECK_EQ_INT(nn_plot_curves_png(path, 640, 400, "t", "l", "r", NULL, 2), NN_PLOT_ERR_ARG);
    s[1].n = -1;
    CHECK_EQ_INT(nn_plot_curves_png(path, 640, 400, "t", "l", "r", s, 2), NN_PLOT_ERR_ARG);
    s[1].n = 3;
    s[1].y = NULL;
    CHECK_EQ_INT(nn_plot_curves_png(path, 640, 400, "t", "l", "r", s, 2), NN_PLOT_ERR_ARG);
    CHECK(!file_exists(path));
    /* the raster entry point */
    CHECK_EQ_INT(nn_plot_curves(NULL, "t", "l", "r", s, 1, NULL), NN_PLOT_ERR_ARG);
    memset(buf, 7, sizeof buf);
    img.rgb = buf;
    img.w = 64;
    img.h = 64;
    CHECK_EQ_INT(nn_plot_curves(&img, "t", "l", "r", s, 2, NULL), NN_PLOT_ERR_ARG);
    img.w = 32;
    CHECK_EQ_INT(nn_plot_curves(&img, "t", "l", "r", s, 1, NULL), NN_PLOT_ERR_ARG);
    for (i = 0; i < sizeof buf; i++)
        if (buf[i] != 7) untouched = 0;
    CHECK(untouched);
    CHECK(img.rgb == buf);
    img.rgb = NULL;
    img.w = 0;
    img.h = 0;
    CHECK_EQ_INT(nn_plot_curves(&img, "t", "l", "r", s, 1, NULL), NN_PLOT_ERR_ARG);
    CHECK(img.rgb == NULL);
}

/* A caller-owned buffer is drawn into in place. */
static void test_curves_caller_buffer(void) {
    static unsigned char buf[200 * 120 * 3];
    float y[4] = {4, 3, 2, 1};
    nn_plot_series s[1];
    nn_plot_image img;
    nn_plot_layout l;
    memset(buf, 0, sizeof buf);
    s[0] = mk("loss", y, 4, 0);
    img.rgb = buf;
    img.w = 200;
    img.h = 120;
    CHECK_EQ_INT(nn_plot_curves(&img, "mine", "loss", NULL, s, 1, &l), NN_PLOT_OK);
    CHECK(img.rgb == buf);
    CHECK(corners_white(&img));
    CHECK(count_rgb(&img, plot_box(&l), tab10[0], legend_box(&l)) > 20);
    CHECK_EQ_INT(nn_plot_write_png(NULL, &img), NN_PLOT_ERR_ARG);
}

/* ------------------------------------------------------------------ x-y curves */

static const unsigned char axis_rgb[3] = {70, 70, 70}, mark_rgb[3] = {90, 90, 90};

static nn_plot_xy_series mkxy(const char *label, const float *x, const float *y, int n) {
    nn_plot_xy_series s;
    s.label = label;
    s.x = x;
    s.y = y;
    s.n = n;
    return s;
}

/* Pixel column / row of a value, from the data ranges in the layout (log10 when log); a wrong
   range (NaN, far outside) gives -1000, outside every image. */
static double axis_frac(double v, double lo, double hi, int log) {
    double f = log ? (log10(v) - log10(lo)) / (log10(hi) - log10(lo)) : (v - lo) / (hi - lo);
    return f > -10.0 && f < 10.0 ? f : -1e6;
}
static int col_of(const nn_plot_layout *l, double x, int log) {
    double c = l->plot_x + 0.5 + axis_frac(x, l->x_lo, l->x_hi, log) * (l->plot_w - 1);
    return c > -1000.0 ? (int)floor(c) : -1000;
}
static int row_of(const nn_plot_layout *l, double y, int log) {
    double r = l->plot_y + 0.5 + (1.0 - axis_frac(y, l->y_lo, l->y_hi, log)) * (l->plot_h - 1);
    return r > -1000.0 ? (int)floor(r) : -1000;
}

/* Whether colour c is within d pixels of (x, y). */
static int near_rgb(const nn_plot_image *img, int x, int y, int d, const unsigned char *c) {
    return count_rgb(img, box_xywh(x - d, y - d, 2 * d + 1, 2 * d + 1), c, box_xywh(0, 0, 0, 0)) >
           0;
}

/* n values from 10^e0 to 10^e1, evenly spaced in log10. */
static void logspace(float *v, int n, double e0, double e1) {
    int i;
    for (i = 0; i < n; i++) v[i] = (float)pow(10.0, e0 + (e1 - e0) * i / (n - 1));
}

/* A log x axis over 1e-6..1: the major ticks (5 px) sit exactly at the seven powers of ten,
   each with a label under it; the minor ticks (3 px) at 2..9 times them reach only 3 px. */
static void test_xy_log_x_ticks(void) {
    float x[61], y[61];
    nn_plot_xy_series s[1];
    nn_plot_image img = {NULL, 800, 480};
    nn_plot_layout l;
    int i, e, found[8], n_found = 0, ok = 1;
    logspace(x, 61, -6.0, 0.0);
    for (i = 0; i < 61; i++) y[i] = 2.0f - 0.02f * (float)i;
    s[0] = mkxy("loss", x, y, 61);
    if (!CHECK_EQ_INT(nn_plot_xy(&img, "ticks", "lr", "loss", 1, 0, s, 1, NAN, &l), NN_PLOT_OK))
        return;
    CHECKF(l.x_lo < 1e-6 && l.x_lo > 1e-7 && l.x_hi > 1.0 && l.x_hi < 10.0, "x range %g..%g",
           l.x_lo, l.x_hi);
    {
        int yrow = l.plot_y + l.plot_h + 4; /* only major ticks reach this far */
        for (i = l.plot_x - 1; i <= l.plot_x + l.plot_w; i++)
            if (is_rgb(px(&img, i, yrow), axis_rgb)) {
                if (n_found < 8) found[n_found] = i;
                n_found++;
            }
    }
    if (CHECKF(n_found == 7, "%d major x ticks, want 7", n_found)) {
        for (e = -6; e <= 0; e++) {
            int want = col_of(&l, pow(10.0, e), 1);
            if (found[e + 6] != want) {
                ok = 0;
                TEST_NOTE("tick 1e%d at column %d, want %d", e, found[e + 6], want);
            }
            /* its label: text under the tick */
            if (count_rgb(&img, box_xywh(want - 20, l.plot_y + l.plot_h + 6, 40, 24), text_rgb,
                          box_xywh(0, 0, 0, 0)) < 10) {
                ok = 0;
                TEST_NOTE("no label under 1e%d", e);
            }
        }
        CHECK(ok);
    }
    /* minor ticks: 5e-3 has a short mark, no long one */
    {
        int m = col_of(&l, 5e-3, 1), y0 = l.plot_y + l.plot_h;
        box none = box_xywh(0, 0, 0, 0);
        CHECK_EQ_INT(count_rgb(&img, box_xywh(m, y0 + 2, 1, 1), axis_rgb, none), 1);
        CHECK_EQ_INT(count_rgb(&img, box_xywh(m, y0 + 4, 1, 1), axis_rgb, none), 0);
    }
    nn_plot_image_free(&img);
}

/* y = 10 sqrt(x) is a straight line in log-log space: the curve passes through the pixels the
   log mapping predicts, and x = 1e-3 (the middle decade) lands at mid height. */
static void test_xy_log_log_line(void) {
    float x[200], y[200];
    nn_plot_xy_series s[1];
    nn_plot_image img = {NULL, 700, 450};
    nn_plot_layout l;
    int i, ok = 1;
    const double probe[6] = {3e-6, 1e-5, 1e-4, 1e-3, 3e-2, 0.5};
    logspace(x, 200, -6.0, 0.0);
    for (i = 0; i < 200; i++) y[i] = 10.0f * sqrtf(x[i]);
    s[0] = mkxy("sqrt", x, y, 200);
    if (!CHECK_EQ_INT(nn_plot_xy(&img, NULL, "x", "y", 1, 1, s, 1, NAN, &l), NN_PLOT_OK)) return;
    CHECKF(l.y_lo < 1e-2 && l.y_hi > 10.0, "y range %g..%g", l.y_lo, l.y_hi);
    for (i = 0; i < 6; i++) {
        int cx = col_of(&l, probe[i], 1), cy = row_of(&l, 10.0 * sqrt(probe[i]), 1);
        if (cx >= l.legend_x && cx < l.legend_x + l.legend_w && cy >= l.legend_y &&
            cy < l.legend_y + l.legend_h)
            continue;
        if (!near_rgb(&img, cx, cy, 1, tab10[0])) {
            ok = 0;
            TEST_NOTE("x = %g: no curve at (%d, %d)", probe[i], cx, cy);
        }
    }
    CHECK(ok);
    CHECK_NEAR(row_of(&l, 10.0 * sqrt(1e-3), 1), l.plot_y + l.plot_h / 2.0, 3.0);
    /* the same data on linear axes bends: at x = 1e-3 the curve is near the bottom left */
    CHECK_EQ_INT(nn_plot_xy(&img, NULL, "x", "y", 0, 0, s, 1, NAN, &l), NN_PLOT_OK);
    CHECK(near_rgb(&img, col_of(&l, 1e-3, 0), row_of(&l, 10.0 * sqrt(1e-3), 0), 1, tab10[0]));
    CHECK(row_of(&l, 10.0 * sqrt(1e-3), 0) > l.plot_y + l.plot_h * 3 / 4);
    nn_plot_image_free(&img);
}

/* The mark: a dashed line in the column of mark_x (log or linear x), its value above the plot;
   none for NaN; a mark outside the data widens the range. */
static void test_xy_mark_line(void) {
    float x[50], y[50];
    nn_plot_xy_series s[1];
    nn_plot_image img = {NULL, 640, 400};
    nn_plot_layout l;
    box none = box_xywh(0, 0, 0, 0);
    int i, col;
    logspace(x, 50, -6.0, 0.0);
    for (i = 0; i < 50; i++) y[i] = (float)i;
    s[0] = mkxy("up", x, y, 50);
    if (!CHECK_EQ_INT(nn_plot_xy(&img, "mark", "lr", "loss", 1, 0, s, 1, 1e-3, &l), NN_PLOT_OK))
        return;
    col = col_of(&l, 1e-3, 1);
    CHECKF(count_rgb(&img, box_xywh(col, l.plot_y, 1, l.plot_h), mark_rgb, none) > l.plot_h / 3,
           "mark column %d: %ld pixels", col,
           count_rgb(&img, box_xywh(col, l.plot_y, 1, l.plot_h), mark_rgb, none));
    CHECK_EQ_INT(count_rgb(&img, box_xywh(col - 6, l.plot_y, 4, l.plot_h), mark_rgb, none), 0);
    CHECK_EQ_INT(count_rgb(&img, box_xywh(col + 3, l.plot_y, 4, l.plot_h), mark_rgb, none), 0);
    /* its label, above the plot area */
    CHECK(count_rgb(&img, box_xywh(col - 40, 0, 80, l.plot_y - 1), mark_rgb, none) > 10);
    /* linear x: 0.25 of 0..1 */
    for (i = 0; i < 50; i++) x[i] = (float)i / 49.0f;
    CHECK_EQ_INT(nn_plot_xy(&img, NULL, NULL, NULL, 0, 0, s, 1, 0.25, &l), NN_PLOT_OK);
    col = col_of(&l, 0.25, 0);
    CHECK(count_rgb(&img, box_xywh(col, l.plot_y, 1, l.plot_h), mark_rgb, none) > l.plot_h / 3);
    CHECK_EQ_INT(count_rgb(&img, box_xywh(col - 6, l.plot_y, 4, l.plot_h), mark_rgb, none), 0);
    /* no mark: NaN, Inf, or <= 0 on a log axis (and no row kept for its label) */
    i = l.plot_y;
    CHECK_EQ_INT(nn_plot_xy(&img, NULL, NULL, NULL, 0, 0, s, 1, NAN, &l), NN_PLOT_OK);
    CHECK_EQ_INT(count_rgb(&img, box_xywh(0, 0, 640, 400), mark_rgb, none), 0);
    CHECKF(l.plot_y < i, "plot top %d without a mark, %d with one", l.plot_y, i);
    CHECK_EQ_INT(nn_plot_xy(&img, NULL, NULL, NULL, 0, 0, s, 1, INFINITY, &l), NN_PLOT_OK);
    CHECK_EQ_INT(count_rgb(&img, box_xywh(0, 0, 640, 400), mark_rgb, none), 0);
    logspace(x, 50, -6.0, 0.0);
    CHECK_EQ_INT(nn_plot_xy(&img, NULL, NULL, NULL, 1, 0, s, 1, -1e-3, &l), NN_PLOT_OK);
    CHECK_EQ_INT(count_rgb(&img, box_xywh(0, 0, 640, 400), mark_rgb, none), 0);
    /* a mark left of the data: the range reaches it */
    CHECK_EQ_INT(nn_plot_xy(&img, NULL, NULL, NULL, 1, 0, s, 1, 1e-8, &l), NN_PLOT_OK);
    CHECKF(l.x_lo <= 1e-8, "x_lo %g", l.x_lo);
    col = col_of(&l, 1e-8, 1);
    CHECK(col >= l.plot_x && col < l.plot_x + l.plot_w);
    CHECK(count_rgb(&img, box_xywh(col, l.plot_y, 1, l.plot_h), mark_rgb, none) > l.plot_h / 3);
    nn_plot_image_free(&img);
}

/* NaN, Inf, 0 and negative values on a log axis leave a gap: nothing between the neighbours of
   the gap, and no line dropping to the bottom of the plot. */
static void test_xy_log_gaps(void) {
    float x[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9}, y[9] = {10, 20, -1, 0, 0, 0, 40, 50, 60};
    nn_plot_xy_series s[1];
    nn_plot_image img = {NULL, 640, 400};
    nn_plot_layout l;
    int a, b;
    y[4] = (float)NAN;
    y[5] = (float)INFINITY;
    s[0] = mkxy("gappy", x, y, 9);
    if (!CHECK_EQ_INT(nn_plot_xy(&img, NULL, "step", "norm", 0, 1, s, 1, NAN, &l), NN_PLOT_OK))
        return;
    a = col_of(&l, 2.0, 0) + 6;
    b = col_of(&l, 7.0, 0) - 6;
    CHECK(b > a + 50);
    CHECKF(count_rgb(&img, box_xywh(a, l.plot_y, b - a, l.plot_h), tab10[0], legend_box(&l)) == 0,
           "%ld curve pixels in the gap",
           count_rgb(&img, box_xywh(a, l.plot_y, b - a, l.plot_h), tab10[0], legend_box(&l)));
    a = row_of(&l, 10.0, 1) + 5; /* below the smallest usable value (10): nothing */
    CHECK(a < l.plot_y + l.plot_h - 5);
    CHECK_EQ_INT(count_rgb(&img, box_xywh(l.plot_x, a, l.plot_w, l.plot_y + l.plot_h - a),
                           tab10[0], legend_box(&l)),
                 0);
    /* 10 -> 20 is straight in log y: at x = 1.5 it passes sqrt(10 * 20) */
    CHECK(near_rgb(&img, col_of(&l, 1.5, 0), row_of(&l, sqrt(200.0), 1), 1, tab10[0]));
    CHECK(near_rgb(&img, col_of(&l, 8.0, 0), row_of(&l, 50.0, 1), 2, tab10[0]));
    /* the range comes from the usable values only: 10..60 with a 5% margin in decades */
    CHECKF(l.y_lo > 5.0 && l.y_hi < 100.0, "y range %g..%g", l.y_lo, l.y_hi);
    /* the same on the x axis: x <= 0 or NaN on a log x axis is skipped */
    {
        float gx[6] = {1e-4f, 1e-3f, 0.0f, -1.0f, 1e-1f, 1.0f}, gy[6] = {1, 2, 3, 4, 5, 6};
        gx[3] = (float)NAN;
        s[0] = mkxy("gappy x", gx, gy, 6);
        CHECK_EQ_INT(nn_plot_xy(&img, NULL, NULL, NULL, 1, 0, s, 1, NAN, &l), NN_PLOT_OK);
        a = col_of(&l, 1e-3, 1) + 6;
        b = col_of(&l, 1e-1, 1) - 6;
        CHECK_EQ_INT(count_rgb(&img, box_xywh(a, l.plot_y, b - a, l.plot_h), tab10[0],
                               legend_box(&l)),
                     0);
        CHECK(near_rgb(&img, col_of(&l, 0.3, 1), row_of(&l, 5.5, 0), 2, tab10[0]));
    }
    nn_plot_image_free(&img);
}

/* Invalid input: an error code, no file, the caller's buffer untouched. */
static void test_xy_invalid(void) {
    char path[256];
    float x[3] = {1, 2, 3}, y[3] = {1, 2, 3};
    nn_plot_xy_series s[2];
    nn_plot_image img;
    unsigned char buf[64 * 64 * 3];
    size_t i;
    int untouched = 1;
    s[0] = mkxy("a", x, y, 3);
    s[1] = mkxy("b", x, y, 3);
    tmp_path(path, sizeof path, "xy_invalid");
    remove(path);
    CHECK_EQ_INT(nn_plot_xy_png(NULL, 640, 400, "t", "x", "y", 1, 1, s, 2, 2.0), NN_PLOT_ERR_ARG);
    CHECK_EQ_INT(nn_plot_xy_png(path, 63, 400, "t", "x", "y", 1, 1, s, 2, 2.0), NN_PLOT_ERR_ARG);
    CHECK_EQ_INT(nn_plot_xy_png(path, 640, 8193, "t", "x", "y", 1, 1, s, 2, 2.0),
                 NN_PLOT_ERR_ARG);
    CHECK_EQ_INT(nn_plot_xy_png(path, -640, 400, "t", "x", "y", 1, 1, s, 2, 2.0),
                 NN_PLOT_ERR_ARG);
    CHECK_EQ_INT(nn_plot_xy_png(path, 640, 400, "t", "x", "y", 1, 1, s, -1, 2.0),
                 NN_PLOT_ERR_ARG);
    CHECK_EQ_INT(nn_plot_xy_png(path, 640, 400, "t", "x", "y", 1, 1, NULL, 2, 2.0),
                 NN_PLOT_ERR_ARG);
    s[1].n = -1;
    CHECK_EQ_INT(nn_plot_xy_png(path, 640, 400, "t", "x", "y", 1, 1, s, 2, 2.0), NN_PLOT_ERR_ARG);
    s[1].n = 3;
    s[1].x = NULL;
    CHECK_EQ_INT(nn_plot_xy_png(path, 640, 400, "t", "x", "y", 1, 1, s, 2, 2.0), NN_PLOT_ERR_ARG);
    s[1].x = x;
    s[1].y = NULL;
    CHECK_EQ_INT(nn_plot_xy_png(path, 640, 400, "t", "x", "y", 1, 1, s, 2, 2.0), NN_PLOT_ERR_ARG);
    CHECK(!file_exists(path));
    CHECK_EQ_INT(nn_plot_xy_png("/nonexistent-dir-nn-plot/x.png", 100, 100, NULL, NULL, NULL, 0,
                                0, s, 1, NAN),
                 NN_PLOT_ERR_IO);
    /* the raster entry point */
    CHECK_EQ_INT(nn_plot_xy(NULL, "t", "x", "y", 0, 0, s, 1, NAN, NULL), NN_PLOT_ERR_ARG);
    memset(buf, 7, sizeof buf);
    img.rgb = buf;
    img.w = 64;
    img.h = 64;
    CHECK_EQ_INT(nn_plot_xy(&img, "t", "x", "y", 0, 0, s, 2, NAN, NULL), NN_PLOT_ERR_ARG);
    img.w = 32;
    CHECK_EQ_INT(nn_plot_xy(&img, "t", "x", "y", 0, 0, s, 1, NAN, NULL), NN_PLOT_ERR_ARG);
    for (i = 0; i < sizeof buf; i++)
        if (buf[i] != 7) untouched = 0;
    CHECK(untouched);
    CHECK(img.rgb == buf);
    /* the same buffer at its real size is drawn into */
    img.w = 64;
    CHECK_EQ_INT(nn_plot_xy(&img, "t", "x", "y", 1, 1, s, 1, 2.0, NULL), NN_PLOT_OK);
    CHECK(img.rgb == buf && corners_white(&img));
}

/* Degenerate but valid input draws without error. */
static void test_xy_degenerate(void) {
    float one_x[1] = {1e-3f}, one_y[1] = {0.5f}, flat[4] = {2, 2, 2, 2}, fx[4] = {1, 2, 3, 4};
    float wide_x[3] = {1e-40f, 1.0f, 1e38f}, wide_y[3] = {1e-30f, 1.0f, 3e38f};
    float back_x[5] = {5, 1, 4, 2, 3}, near_x[4] = {3.0f, 3.3f, 3.6f, 4.0f};
    float nans[4];
    nn_plot_xy_series s[4];
    nn_plot_image img = {NULL, 640, 400};
    nn_plot_layout l;
    box none = box_xywh(0, 0, 0, 0);
    int i, lx, ly;
    for (i = 0; i < 4; i++) nans[i] = (float)NAN;
    /* no series at all, on every kind of axis */
    for (lx = 0; lx < 2; lx++)
        for (ly = 0; ly < 2; ly++) {
            CHECK_EQ_INT(nn_plot_xy(&img, "empty", "x", "y", lx, ly, NULL, 0, NAN, &l), NN_PLOT_OK);
            CHECK(l.legend_w == 0 && l.x_lo < l.x_hi && l.y_lo < l.y_hi);
            CHECK(count_rgb(&img, box_xywh(0, 0, 640, 400), text_rgb, none) > 50);
        }
    /* one point: a dot; all NaN: nothing; flat on log axes; empty series with NULL arrays */
    s[0] = mkxy("one", one_x, one_y, 1);
    s[1] = mkxy("nan", fx, nans, 4);
    s[2] = mkxy("flat", fx, flat, 4);
    s[3] = mkxy(NULL, NULL, NULL, 0);
    CHECK_EQ_INT(nn_plot_xy(&img, "odd", "x", "y", 1, 1, s, 4, NAN, &l), NN_PLOT_OK);
    CHECK(count_rgb(&img, plot_box(&l), tab10[0], legend_box(&l)) > 5);
    CHECK_EQ_INT(count_rgb(&img, plot_box(&l), tab10[1], legend_box(&l)), 0);
    CHECK(count_rgb(&img, plot_box(&l), tab10[2], legend_box(&l)) > 100);
    /* 78 decades on both axes; x going back and forth; a range inside one decade */
    s[0] = mkxy("wide", wide_x, wide_y, 3);
    s[1] = mkxy("back", back_x, fx + 0, 4);
    s[2] = mkxy("near", near_x, fx, 4);
    CHECK_EQ_INT(nn_plot_xy(&img, "wide", "x", "y", 1, 1, s, 1, 1e20, &l), NN_PLOT_OK);
    CHECK(count_rgb(&img, plot_box(&l), tab10[0], legend_box(&l)) > 100);
    CHECK(corners_white(&img));
    CHECK_EQ_INT(nn_plot_xy(&img, "back", "x", "y", 0, 0, s + 1, 1, 2.5, &l), NN_PLOT_OK);
    CHECK(count_rgb(&img, plot_box(&l), tab10[0], legend_box(&l)) > 100);
    CHECK_EQ_INT(nn_plot_xy(&img, "near", "x", "y", 1, 1, s + 2, 1, 3.5, &l), NN_PLOT_OK);
    CHECK(count_rgb(&img, plot_box(&l), tab10[0], legend_box(&l)) > 100);
    {
        int yrow = l.plot_y + l.plot_h + 4, n = 0;
        for (i = l.plot_x; i < l.plot_x + l.plot_w; i++)
            if (is_rgb(px(&img, i, yrow), axis_rgb)) n++;
        CHECKF(n >= 2, "%d x ticks inside one decade", n);
    }
    nn_plot_image_free(&img);
    /* the smallest image, and a long thin one */
    s[0] = mkxy("wide", wide_x, wide_y, 3);
    img.w = 64;
    img.h = 64;
    CHECK_EQ_INT(nn_plot_xy(&img, "tiny", "x", "y", 1, 1, s, 3, 1e-3, &l), NN_PLOT_OK);
    CHECK(l.plot_w >= 32 && l.plot_h >= 32 && corners_white(&img));
    nn_plot_image_free(&img);
    img.w = 4000;
    img.h = 64;
    CHECK_EQ_INT(nn_plot_xy(&img, "thin", "x", "y", 1, 0, s, 3, 1e-3, &l), NN_PLOT_OK);
    CHECK(l.plot_x + l.plot_w <= 4000 && l.plot_h >= 32);
    nn_plot_image_free(&img);
}

/* Loss against learning rate, the LR range test's picture: flat, falling, then exploding (the
   last steps diverge to Inf, a gap), a mark at the suggested rate. Kept as
   /tmp/plot_lr_sweep.png to look at. */
static void test_xy_lr_sweep_png(void) {
    const char *path = "/tmp/plot_lr_sweep.png";
    float lr[120], loss[120], smooth[120];
    double best = 0.0, steepest = 0.0;
    nn_plot_xy_series s[2];
    unsigned char *data;
    unsigned int rng = 12345u;
    int i, w = 0, h = 0, n = 0;
    logspace(lr, 120, -7.0, 1.0);
    for (i = 0; i < 120; i++) {
        double l10 = log10(lr[i]), fall = 1.0 / (1.0 + exp(-(l10 + 3.0) * 3.0)); /* 0 -> 1 */
        double blow = l10 > -1.2 ? exp((l10 + 1.2) * 2.2) - 1.0 : 0.0, noise;
        rng = rng * 1664525u + 1013904223u;
        noise = ((rng >> 8) / 16777216.0 - 0.5) * 0.08;
        loss[i] = (float)(2.30 - 1.75 * fall + blow + noise);
        if (loss[i] > 7.0f) loss[i] = (float)INFINITY; /* diverged: the sweep stops */
    }
    for (i = 0; i < 120; i++) { /* smoothed as an LR finder reports it, and its steepest fall */
        smooth[i] = i ? 0.8f * smooth[i - 1] + 0.2f * loss[i] : loss[i];
        if (!(smooth[i] - smooth[i] == 0.0f)) smooth[i] = loss[i];
        if (i && smooth[i] - smooth[i - 1] < steepest) {
            steepest = smooth[i] - smooth[i - 1];
            best = lr[i];
        }
    }
    s[0] = mkxy("loss", lr, loss, 120);
    s[1] = mkxy("smoothed", lr, smooth, 120);
    CHECK(best > 1e-4 && best < 1e-1);
    if (!CHECK_EQ_INT(nn_plot_xy_png(path, 800, 480, "LR range test", "learning rate", "loss", 1,
                                     0, s, 2, best),
                      NN_PLOT_OK))
        return;
    data = stbi_load(path, &w, &h, &n, 3);
    if (CHECKF(data != NULL, "stb_image cannot decode %s", path)) {
        nn_plot_image img;
        box all = box_xywh(0, 0, 800, 480), none = box_xywh(0, 0, 0, 0);
        CHECK(w == 800 && h == 480);
        img.rgb = data;
        img.w = w;
        img.h = h;
        CHECK(corners_white(&img));
        CHECK(count_rgb(&img, all, tab10[0], none) > 300);
        CHECK(count_rgb(&img, all, tab10[1], none) > 300);
        CHECK(count_rgb(&img, all, mark_rgb, none) > 100);
        stbi_image_free(data);
    }
}

/* Four layers' gradient norms over 200 steps on a log y axis, spanning four decades. Kept as
   /tmp/plot_grad_flow.png to look at. */
static void test_xy_grad_flow_png(void) {
    const char *path = "/tmp/plot_grad_flow.png";
    static float step[200], g[4][200];
    const char *names[4] = {"dense 1", "dense 2", "dense 3", "output"};
    nn_plot_xy_series s[4];
    unsigned char *data;
    unsigned int rng = 777u;
    int i, k, w = 0, h = 0, n = 0;
    for (i = 0; i < 200; i++) step[i] = (float)(i + 1);
    for (k = 0; k < 4; k++) {
        for (i = 0; i < 200; i++) {
            double base = pow(10.0, -4.0 + k) * (0.15 + 0.85 * exp(-i / 60.0)), noise;
            rng = rng * 1664525u + 1013904223u;
            noise = (rng >> 8) / 16777216.0; /* 0..1: spiky, multiplicative */
            g[k][i] = (float)(base * (0.6 + 0.8 * noise));
        }
        s[k] = mkxy(names[k], step, g[k], 200);
    }
    if (!CHECK_EQ_INT(nn_plot_xy_png(path, 800, 480, "gradient norm per layer", "step",
                                     "gradient L2 norm", 0, 1, s, 4, NAN),
                      NN_PLOT_OK))
        return;
    data = stbi_load(path, &w, &h, &n, 3);
    if (CHECKF(data != NULL, "stb_image cannot decode %s", path)) {
        nn_plot_image img;
        box all = box_xywh(0, 0, 800, 480), none = box_xywh(0, 0, 0, 0);
        CHECK(w == 800 && h == 480);
        img.rgb = data;
        img.w = w;
        img.h = h;
        CHECK(corners_white(&img));
        for (k = 0; k < 4; k++)
            CHECKF(count_rgb(&img, all, tab10[k], none) > 300, "layer %d", k);
        stbi_image_free(data);
    }
}

/* ------------------------------------------------------------------ confusion */

static const unsigned char *cell_px(const nn_plot_image *img, const nn_plot_layout *l, int row,
                                    int col) {
    /* 2 px in from the cell's top-left corner: the fill, away from the centred count */
    return px(img, l->plot_x + col * l->cell + 2, l->plot_y + row * l->cell + 2);
}

static void test_confusion_diagonal_darker(void) {
    /* class 3 is rare (10 samples): normalised by row it is as dark as the others */
    int counts[4 * 4] = {900, 30, 20, 50, 40, 800, 100, 60, 10, 20, 950, 20, 1, 1, 0, 8};
    const char *names[4] = {"cat", "dog", "bird", "fish"};
    nn_plot_image img = {NULL, 0, 0};
    nn_plot_layout l, pre;
    int i, j, ok = 1;
    CHECK_EQ_INT(nn_plot_confusion_layout(&pre, counts, 4, names, "pets"), NN_PLOT_OK);
    if (!CHECK_EQ_INT(nn_plot_confusion(&img, counts, 4, names, "pets", &l), NN_PLOT_OK)) return;
    CHECK_EQ_INT(img.w, pre.w);
    CHECK_EQ_INT(img.h, pre.h);
    CHECK_EQ_INT(l.plot_x, pre.plot_x);
    CHECK_EQ_INT(l.cell, pre.cell);
    CHECK(l.cell >= 40);
    CHECK_EQ_INT(l.plot_w, 4 * l.cell);
    CHECK(l.plot_x + l.plot_w < img.w && l.plot_y + l.plot_h < img.h);
    for (i = 0; i < 4; i++)
        for (j = 0; j < 4; j++) {
            double d = luma(cell_px(&img, &l, i, i)), o = luma(cell_px(&img, &l, i, j));
            if (i != j && !(d < o - 50.0)) {
                ok = 0;
                TEST_NOTE("row %d: diagonal luma %.0f, cell %d luma %.0f", i, d, j, o);
            }
        }
    CHECK(ok);
    /* the rare class's diagonal (8 of 10) is as dark as class 1's (800 of 1000) */
    CHECK_NEAR(luma(cell_px(&img, &l, 3, 3)), luma(cell_px(&img, &l, 1, 1)), 3.0);
    CHECK(corners_white(&img));
    nn_plot_image_free(&img);
}

/* The count is printed in every cell: light text on dark cells, dark text on light cells. */
static void test_confusion_count_text(void) {
    int counts[3 * 3] = {95, 3, 2, 4, 90, 6, 1, 9, 90};
    nn_plot_image img = {NULL, 0, 0};
    nn_plot_layout l;
    int i, j, ok = 1;
    if (!CHECK_EQ_INT(nn_plot_confusion(&img, counts, 3, NULL, NULL, &l), NN_PLOT_OK)) return;
    for (i = 0; i < 3; i++)
        for (j = 0; j < 3; j++) {
            const unsigned char *fill = cell_px(&img, &l, i, j);
            box cb = box_xywh(l.plot_x + j * l.cell, l.plot_y + i * l.cell, l.cell - 1, l.cell - 1);
            long text = 0;
            double tl = 0.0;
            int x, y;
            for (y = cb.y0; y < cb.y1; y++)
                for (x = cb.x0; x < cb.x1; x++)
                    if (!is_rgb(px(&img, x, y), fill)) {
                        text++;
                        tl += luma(px(&img, x, y));
                    }
            if (text < 10) {
                ok = 0;
                TEST_NOTE("cell (%d,%d): %ld text pixels", i, j, text);
                continue;
            }
            tl /= (double)text;
            if (luma(fill) < 128.0 ? tl < 200.0 : tl > 100.0) {
                ok = 0;
                TEST_NOTE("cell (%d,%d): fill luma %.0f, text luma %.0f", i, j, luma(fill), tl);
            }
        }
    CHECK(ok);
    /* two digits draw more ink than one: "95" against "3" */
    {
        const unsigned char *f0 = cell_px(&img, &l, 0, 0), *f1 = cell_px(&img, &l, 0, 1);
        long n0 = 0, n1 = 0;
        int x, y;
        for (y = 0; y < l.cell - 1; y++)
            for (x = 0; x < l.cell - 1; x++) {
                if (!is_rgb(px(&img, l.plot_x + x, l.plot_y + y), f0)) n0++;
                if (!is_rgb(px(&img, l.plot_x + l.cell + x, l.plot_y + y), f1)) n1++;
            }
        CHECKF(n0 > n1, "ink of \"95\" %ld vs \"3\" %ld", n0, n1);
    }
    /* class names are drawn left of the grid and under it */
    CHECK(count_nonwhite(&img, box_xywh(0, l.plot_y, l.plot_x - 6, l.plot_h)) > 30);
    CHECK(count_nonwhite(&img, box_xywh(l.plot_x, l.plot_y + l.plot_h + 6, l.plot_w,
                                        img.h - l.plot_y - l.plot_h - 6)) > 30);
    nn_plot_image_free(&img);
}

static void test_confusion_png_roundtrip(void) {
    char path[256];
    int counts[2 * 2] = {50, 3, 7, 40};
    const char *names[2] = {"cat", "dog"};
    nn_plot_layout l;
    unsigned char *data;
    int w = 0, h = 0, n = 0;
    tmp_path(path, sizeof path, "confusion");
    remove(path);
    CHECK_EQ_INT(nn_plot_confusion_layout(&l, counts, 2, names, "test set"), NN_PLOT_OK);
    CHECK_EQ_INT(nn_plot_confusion_png(path, counts, 2, names, "test set"), NN_PLOT_OK);
    data = stbi_load(path, &w, &h, &n, 3);
    if (CHECKF(data != NULL, "stb_image cannot decode %s", path)) {
        nn_plot_image img;
        CHECK_EQ_INT(w, l.w);
        CHECK_EQ_INT(h, l.h);
        img.rgb = data;
        img.w = w;
        img.h = h;
        CHECK(corners_white(&img));
        CHECK(luma(cell_px(&img, &l, 0, 0)) < luma(cell_px(&img, &l, 0, 1)) - 50.0);
        stbi_image_free(data);
    }
    remove(path);
}

static void test_confusion_degenerate(void) {
    nn_plot_image img = {NULL, 0, 0};
    nn_plot_layout l;
    const char *names[3] = {"a class name far too long to fit next to a small grid", NULL,
                            "\x01\xff"};
    int one[1] = {7}, zero_row[3 * 3] = {5, 1, 0, 0, 0, 0, 2, 2, 9};
    int huge[2 * 2] = {INT_MAX, INT_MAX, INT_MAX, 0}, all_zero[2 * 2] = {0, 0, 0, 0};
    /* k = 1 */
    CHECK_EQ_INT(nn_plot_confusion(&img, one, 1, NULL, "k = 1", &l), NN_PLOT_OK);
    CHECK(l.cell >= 40 && img.w >= 64 && img.h >= 64);
    CHECK(luma(cell_px(&img, &l, 0, 0)) < 100.0); /* 7 of 7: darkest */
    nn_plot_image_free(&img);
    /* a row with no samples stays white-ish and does not divide by zero */
    CHECK_EQ_INT(nn_plot_confusion(&img, zero_row, 3, names, NULL, &l), NN_PLOT_OK);
    CHECK(luma(cell_px(&img, &l, 1, 1)) > 240.0);
    CHECK(luma(cell_px(&img, &l, 0, 0)) < luma(cell_px(&img, &l, 0, 1)));
    CHECK(corners_white(&img));
    nn_plot_image_free(&img);
    /* huge counts: row totals beyond INT_MAX */
    CHECK_EQ_INT(nn_plot_confusion(&img, huge, 2, NULL, "huge", &l), NN_PLOT_OK);
    CHECK_NEAR(luma(cell_px(&img, &l, 0, 0)), luma(cell_px(&img, &l, 0, 1)), 1.0); /* 50% each */
    CHECK(luma(cell_px(&img, &l, 1, 0)) < luma(cell_px(&img, &l, 1, 1)));
    nn_plot_image_free(&img);
    CHECK_EQ_INT(nn_plot_confusion(&img, all_zero, 2, NULL, "", &l), NN_PLOT_OK);
    nn_plot_image_free(&img);
    /* the largest k: cells shrink so the image stays a sane size */
    {
        static int big[256 * 256];
        int i;
        for (i = 0; i < 256 * 256; i++) big[i] = (i / 256 == i % 256) ? 100 : (i % 7 == 0);
        CHECK_EQ_INT(nn_plot_confusion_layout(&l, big, 256, NULL, NULL), NN_PLOT_OK);
        CHECK(l.w <= 8192 && l.h <= 8192 && l.cell >= 8);
        CHECK_EQ_INT(nn_plot_confusion(&img, big, 256, NULL, NULL, &l), NN_PLOT_OK);
        CHECK(luma(cell_px(&img, &l, 255, 255)) < luma(cell_px(&img, &l, 255, 254)) - 50.0);
        nn_plot_image_free(&img);
    }
}

static void test_confusion_invalid(void) {
    char path[256];
    int counts[4] = {1, 2, 3, 4}, neg[4] = {1, -2, 3, 4};
    nn_plot_image img;
    nn_plot_layout l;
    unsigned char buf[64 * 64 * 3];
    tmp_path(path, sizeof path, "confusion_invalid");
    remove(path);
    CHECK_EQ_INT(nn_plot_confusion_png(NULL, counts, 2, NULL, "t"), NN_PLOT_ERR_ARG);
    CHECK_EQ_INT(nn_plot_confusion_png(path, NULL, 2, NULL, "t"), NN_PLOT_ERR_ARG);
    CHECK_EQ_INT(nn_plot_confusion_png(path, counts, 0, NULL, "t"), NN_PLOT_ERR_ARG);
    CHECK_EQ_INT(nn_plot_confusion_png(path, counts, -3, NULL, "t"), NN_PLOT_ERR_ARG);
    {
        static int big[257 * 257]; /* valid counts: only k is wrong */
        CHECK_EQ_INT(nn_plot_confusion_png(path, big, 257, NULL, "t"), NN_PLOT_ERR_ARG);
    }
    CHECK_EQ_INT(nn_plot_confusion_png(path, neg, 2, NULL, "t"), NN_PLOT_ERR_ARG);
    CHECK(!file_exists(path));
    CHECK_EQ_INT(nn_plot_confusion_layout(NULL, counts, 2, NULL, NULL), NN_PLOT_ERR_ARG);
    CHECK_EQ_INT(nn_plot_confusion_layout(&l, neg, 2, NULL, NULL), NN_PLOT_ERR_ARG);
    CHECK_EQ_INT(nn_plot_confusion(NULL, counts, 2, NULL, NULL, NULL), NN_PLOT_ERR_ARG);
    /* a caller buffer of another size than the layout's */
    memset(buf, 7, sizeof buf);
    img.rgb = buf;
    img.w = 64;
    img.h = 64;
    CHECK_EQ_INT(nn_plot_confusion(&img, counts, 2, NULL, NULL, NULL), NN_PLOT_ERR_ARG);
    CHECK(buf[0] == 7 && buf[sizeof buf - 1] == 7 && img.w == 64 && img.h == 64);
}

/* A caller buffer of exactly the layout's size is drawn into. */
static void test_confusion_caller_buffer(void) {
    int counts[4] = {9, 1, 2, 8};
    nn_plot_layout l;
    nn_plot_image img;
    unsigned char *buf;
    if (!CHECK_EQ_INT(nn_plot_confusion_layout(&l, counts, 2, NULL, "mine"), NN_PLOT_OK)) return;
    buf = (unsigned char *)malloc((size_t)l.w * (size_t)l.h * 3);
    if (!CHECK(buf != NULL)) return;
    img.rgb = buf;
    img.w = l.w;
    img.h = l.h;
    CHECK_EQ_INT(nn_plot_confusion(&img, counts, 2, NULL, "mine", NULL), NN_PLOT_OK);
    CHECK(img.rgb == buf);
    CHECK(corners_white(&img));
    CHECK(luma(cell_px(&img, &l, 0, 0)) < luma(cell_px(&img, &l, 0, 1)));
    free(buf);
}

/* ------------------------------------------------------------------ files, results */

static void test_write_errors(void) {
    float y[2] = {1, 2};
    nn_plot_series s[1];
    nn_plot_image img = {NULL, 64, 64};
    s[0] = mk("a", y, 2, 0);
    CHECK_EQ_INT(
        nn_plot_curves_png("/nonexistent-dir-nn-plot/x.png", 100, 100, NULL, NULL, NULL, s, 1),
        NN_PLOT_ERR_IO);
    CHECK_EQ_INT(nn_plot_write_png("/tmp/never.png", &img), NN_PLOT_ERR_ARG); /* rgb NULL */
    CHECK_EQ_INT(nn_plot_write_png("/tmp/never.png", NULL), NN_PLOT_ERR_ARG);
    nn_plot_image_free(NULL);
    nn_plot_image_free(&img);
    CHECK(img.rgb == NULL);
}

static void test_result_strings(void) {
    const char *ok = nn_plot_result_string(NN_PLOT_OK),
               *arg = nn_plot_result_string(NN_PLOT_ERR_ARG);
    const char *mem = nn_plot_result_string(NN_PLOT_ERR_MEM),
               *io = nn_plot_result_string(NN_PLOT_ERR_IO);
    CHECK(ok && arg && mem && io && nn_plot_result_string(12345));
    CHECK(strcmp(ok, arg) && strcmp(arg, mem) && strcmp(mem, io) && strcmp(ok, io));
    CHECK(strcmp(nn_plot_result_string(12345), ok) != 0);
}

static const test_case tests[] = {
    TEST(test_curves_png_roundtrip),
    TEST(test_curves_colours_and_direction),
    TEST(test_curves_legend),
    TEST(test_curves_legend_avoids_curve),
    TEST(test_curves_right_axis_only_when_used),
    TEST(test_curves_nan_gap),
    TEST(test_curves_degenerate),
    TEST(test_curves_invalid),
    TEST(test_curves_caller_buffer),
    TEST(test_xy_log_x_ticks),
    TEST(test_xy_log_log_line),
    TEST(test_xy_mark_line),
    TEST(test_xy_log_gaps),
    TEST(test_xy_invalid),
    TEST(test_xy_degenerate),
    TEST(test_xy_lr_sweep_png),
    TEST(test_xy_grad_flow_png),
    TEST(test_confusion_diagonal_darker),
    TEST(test_confusion_count_text),
    TEST(test_confusion_png_roundtrip),
    TEST(test_confusion_degenerate),
    TEST(test_confusion_invalid),
    TEST(test_confusion_caller_buffer),
    TEST(test_write_errors),
    TEST(test_result_strings),
};

int main(int argc, char **argv) { return TEST_MAIN(argc, argv, tests); }
