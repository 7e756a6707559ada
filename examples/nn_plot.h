/* nn_plot.h - v0.2.0 - learning curves, x-y curves and confusion matrices as PNG - MIT licence
   (end of file)

   An optional picture helper that lives with the examples, not part of nn.h:
   it does not include nn.h and uses none of its types. Plain float and int
   arrays go in; an RGB buffer or a PNG file comes out.

   HOW TO USE
     In exactly one C or C++ file of your project:
         #define NN_PLOT_IMPLEMENTATION
         #include "nn_plot.h"
     Everywhere else just #include "nn_plot.h". The implementation needs the
     stb headers from Debian's libstb-dev (<stb/stb_image_write.h> for PNG,
     <stb/stb_easy_font.h> for text) and libm:
         cc -O2 prog.c -lm

   A COMPLETE EXAMPLE
         float train[3] = {0.90f, 0.52f, 0.31f}, val[3] = {0.95f, 0.61f, 0.47f};
         float acc[3] = {0.71f, 0.80f, 0.86f};
         nn_plot_series s[3] = {{"train loss", train, 3, 0}, {"val loss", val, 3, 0},
                                {"val accuracy", acc, 3, 1}};
         int r = nn_plot_curves_png("curves.png", 800, 480, "MLP on Fashion-MNIST", "loss",
                                    "accuracy", s, 3);
         if (r != NN_PLOT_OK) fprintf(stderr, "plot: %s\n", nn_plot_result_string(r));

         int counts[2 * 2] = {50, 3,     row = true class, column = predicted class
                               7, 40};
         const char *names[2] = {"cat", "dog"};
         r = nn_plot_confusion_png("confusion.png", counts, 2, names, "test set");

         float lr[4] = {1e-5f, 1e-4f, 1e-3f, 1e-2f}, loss[4] = {2.30f, 2.21f, 1.10f, 9.5f};
         nn_plot_xy_series sweep[1] = {{"loss", lr, loss, 4}};
         r = nn_plot_xy_png("lr.png", 800, 480, "LR range test", "learning rate", "loss",
                            1, 0, sweep, 1, 1e-3);     log x, linear y, a mark at 1e-3

   CONFIGURATION (define before including the implementation)
     NN_PLOT_STATIC       every public function static            default: off (extern)
     NN_PLOTDEF           decoration of public functions          default: extern (static with
                                                                  NN_PLOT_STATIC)
     NN_PLOT_MALLOC(sz)   allocator for images and scratch,       default: malloc / free
     NN_PLOT_FREE(p)      both or none (stb_image_write's encoder keeps its own STBIW_MALLOC)
     NN_PLOT_NO_STB_WRITE_IMPLEMENTATION
                          you compile stb_image_write yourself elsewhere
                          (STB_IMAGE_WRITE_IMPLEMENTATION without STB_IMAGE_WRITE_STATIC).
                          Otherwise the implementation compiles a private static copy of it
                          (its stbi_write_* functions are then usable in that file; do not
                          compile stb_image_write a second time there), and
                          <stb/stb_image_write.h> must not have been included before it in
                          that file (an #error says so).

   CONVENTIONS
     - Images are 8-bit RGB, 3 bytes per pixel, rows top to bottom, no padding
       (stride 3*w). Each side is 64..8192 pixels.
     - nn_plot_image: set .w and .h; if .rgb is NULL the drawing function
       allocates w*h*3 bytes (release them with nn_plot_image_free), otherwise
       it draws into the caller's buffer, which must hold w*h*3 bytes. A
       confusion matrix chooses its own size: ask nn_plot_confusion_layout.
     - Series: y[i] is the value after epoch i+1 (x = 1..n). NaN and Inf are
       skipped and leave a gap in the line. Series on the right axis are drawn
       dashed so the eye can tell which axis a curve belongs to.
     - x-y series: point j is (x[j], y[j]), joined in the order given (x need
       not increase). A point with a NaN or Inf coordinate, or one <= 0 on a
       log axis, is skipped and leaves a gap. Log axes are log10.
     - Confusion counts: k*k ints, row-major, row = true class, column =
       predicted class. A cell's shade is count / (sum of its row), so rare
       classes stay readable; the colour bar shows that fraction.
     - Errors: every int-returning function gives NN_PLOT_OK (0) or a negative
       NN_PLOT_ERR_* (nn_plot_result_string names it). Invalid arguments are
       rejected before anything is allocated or a file is opened. Nothing is
       printed, exit() is never called, there are no mutable globals.
     - Text is stb_easy_font, its pixels doubled (cap height 14 px) when the
       image is at least 400 x 280, else 7 px: printable ASCII only (other
       bytes show as '?'); text too long for its place is cut and ends in "..".
     - Threads: no shared state; distinct images may be drawn from distinct
       threads.

   TABLE OF CONTENTS (implementation sections, search for "== n.")
     == 1. config, stb includes
     == 2. raster: boxes, fills, text, anti-aliased thick lines
     == 3. axes: nice ticks and their labels
     == 4. learning curves (and the frame, ticks, titles and legend x-y curves share)
     == 5. x-y curves: explicit x, log axes, a marked x
     == 6. confusion matrix
     == 7. PNG output, results
*/
#ifndef NN_PLOT_H
#define NN_PLOT_H

#define NN_PLOT_VERSION_MAJOR 0
#define NN_PLOT_VERSION_MINOR 2
#define NN_PLOT_VERSION_PATCH 0
#define NN_PLOT_VERSION_STRING "0.2.0"

#ifndef NN_PLOTDEF
#ifdef NN_PLOT_STATIC
#define NN_PLOTDEF static
#else
#define NN_PLOTDEF extern
#endif
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Results: 0 is success, errors are negative. */
enum nn_plot_result {
    NN_PLOT_OK = 0,
    NN_PLOT_ERR_ARG = -1, /* NULL where a pointer is required, size or count out of range */
    NN_PLOT_ERR_MEM = -2, /* an allocation failed */
    NN_PLOT_ERR_IO = -3   /* the file could not be opened or fully written */
};

/* One learning curve. */
typedef struct nn_plot_series {
    const char *label; /* legend text, e.g. "train loss"; NULL shows "series <i+1>" */
    const float *y;    /* n values, one per epoch (x = 1..n); NaN/Inf leave a gap */
    int n;             /* >= 0; y may be NULL when n is 0 */
    int right_axis;    /* 0: left y axis (e.g. loss), nonzero: right y axis (e.g. accuracy) */
} nn_plot_series;

/* An RGB image, 3*w*h bytes, caller-owned or allocated by a drawing function. */
typedef struct nn_plot_image {
    unsigned char *rgb; /* NULL: the drawing function allocates it (nn_plot_image_free) */
    int w, h;           /* size in pixels, 64..8192 */
} nn_plot_image;

/* Where things landed, in pixels (for tests, or to draw more on top). */
typedef struct nn_plot_layout {
    int w, h;           /* image size */
    int plot_x, plot_y; /* curves: data area; confusion: the k x k cell grid */
    int plot_w, plot_h;
    int cell;               /* confusion: side of one cell (grid lines included); curves: 0 */
    int legend_x, legend_y; /* curves: legend box, all 0 when there is none */
    int legend_w, legend_h;
    /* curves, x-y curves: the data values at the centres of the plot area's outer pixels:
       x_lo at column plot_x, x_hi at column plot_x + plot_w - 1, y_lo at row
       plot_y + plot_h - 1, y_hi at row plot_y (the left y axis). On a log axis they are the
       values themselves (not their logs), and a value maps through log10. Confusion: all 0. */
    double x_lo, x_hi, y_lo, y_hi;
} nn_plot_layout;

/* Learning curves into img (set img->w, img->h; img->rgb NULL allocates): white background,
   anti-aliased lines about 2.5 px thick with a dot per epoch (dots are left out when epochs are
   closer than 6 px), series i in colour i of matplotlib's tab10 (#1f77b4 blue, #ff7f0e orange,
   #2ca02c green, #d62728 red, #9467bd purple, #8c564b brown, #e377c2 pink, #bcbd22 olive,
   #17becf cyan, #7f7f7f grey, then again), x axis = epoch with integer ticks, left and right y axes
   with 1-2-5 ticks, axis titles, a title and a legend placed where it covers the fewest curve
   pixels. Any title may be NULL (not drawn). The right axis appears only when a series uses it.
   layout (may be NULL) receives where the plot area and legend are. */
NN_PLOTDEF int nn_plot_curves(nn_plot_image *img, const char *title, const char *left_axis_title,
                              const char *right_axis_title, const nn_plot_series *series,
                              int n_series, nn_plot_layout *layout);

/* nn_plot_curves into a width x height PNG file at path. */
NN_PLOTDEF int nn_plot_curves_png(const char *path, int width, int height, const char *title,
                                  const char *left_axis_title, const char *right_axis_title,
                                  const nn_plot_series *series, int n_series);

/* One curve over explicit x values, e.g. the loss against the learning rate of an LR range
   test, or one layer's gradient norm against the training step. */
typedef struct nn_plot_xy_series {
    const char *label;  /* legend text; NULL shows "series <i+1>" */
    const float *x, *y; /* n points (x[j], y[j]), x increasing or not; see CONVENTIONS for gaps */
    int n;              /* >= 0; x and y may be NULL when n is 0 */
} nn_plot_xy_series;

/* Curves over explicit x values into img (set img->w, img->h; img->rgb NULL allocates), drawn
   like nn_plot_curves (same colours, line width, legend placement; no right axis, no dots except
   for a point without a drawable neighbour). log_x / log_y nonzero draw that axis in log10:
   ticks at powers of ten labelled 1e-4, 1e-3, ... (1, 10, 100 written out), with 2 and 5
   between them when the range is under three decades and they fit, every 2nd, 5th, 10th... power
   when decades are too many for the space, and unlabelled marks at 2..9 when there is a tick
   per decade. A linear axis has 1-2-5 ticks. Ranges cover the drawable points with a 5% margin.
   mark_x: a dashed dark grey (#5a5a5a) vertical line at that x, its value printed above the plot
   area (e.g. "3.16e-3"), the x range widened to include it; NaN, Inf, beyond float range, or
   <= 0 on a log x axis: none. Titles may be NULL. layout (may be NULL) receives the plot area,
   legend and data ranges. Errors as nn_plot_curves: n_series < 0, series NULL with
   n_series > 0, a series with n < 0 or x or y NULL with n > 0 -> NN_PLOT_ERR_ARG, before
   anything is drawn. */
NN_PLOTDEF int nn_plot_xy(nn_plot_image *img, const char *title, const char *x_axis_title,
                          const char *y_axis_title, int log_x, int log_y,
                          const nn_plot_xy_series *series, int n_series, double mark_x,
                          nn_plot_layout *layout);

/* nn_plot_xy into a width x height PNG file at path. */
NN_PLOTDEF int nn_plot_xy_png(const char *path, int width, int height, const char *title,
                              const char *x_axis_title, const char *y_axis_title, int log_x,
                              int log_y, const nn_plot_xy_series *series, int n_series,
                              double mark_x);

/* The size and grid position nn_plot_confusion will use for these arguments, without drawing:
   cells are 44 px or wider (wide enough for the largest count) while k*cell <= 4096, smaller for
   large k (counts that no longer fit are left out). Checks the arguments like nn_plot_confusion. */
NN_PLOTDEF int nn_plot_confusion_layout(nn_plot_layout *layout, const int *counts, int k,
                                        const char *const *class_names, const char *title);

/* Confusion matrix into img: counts is k*k (row = true, column = predicted), 1 <= k <= 256, every
   count >= 0. Shade = count / row total (a row without samples gets the palest shade), the count
   printed in each cell (dark on light cells, light on dark), class names on both axes
   (class_names or any entry NULL -> "0", "1", ...), axis titles "true" and "predicted", a colour
   bar, title (may be NULL). If img->rgb is NULL it is allocated at the layout's size and
   img->w, img->h are set; otherwise img->w and img->h must equal that size (see
   nn_plot_confusion_layout). layout may be NULL. */
NN_PLOTDEF int nn_plot_confusion(nn_plot_image *img, const int *counts, int k,
                                 const char *const *class_names, const char *title,
                                 nn_plot_layout *layout);

/* nn_plot_confusion into a PNG file at path. */
NN_PLOTDEF int nn_plot_confusion_png(const char *path, const int *counts, int k,
                                     const char *const *class_names, const char *title);

/* Writes img as a PNG file; a partly written file is removed. */
NN_PLOTDEF int nn_plot_write_png(const char *path, const nn_plot_image *img);

/* Frees img->rgb allocated by a drawing function and sets it to NULL; accepts NULL. */
NN_PLOTDEF void nn_plot_image_free(nn_plot_image *img);

/* A short English description of a result code. */
NN_PLOTDEF const char *nn_plot_result_string(int result);

#ifdef __cplusplus
}
#endif
#endif /* NN_PLOT_H */

#ifdef NN_PLOT_IMPLEMENTATION
#ifndef NN_PLOT__IMPLEMENTATION_DONE
#define NN_PLOT__IMPLEMENTATION_DONE

/* == 1. config, stb includes ============================================== */

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(NN_PLOT_MALLOC) && defined(NN_PLOT_FREE)
#elif !defined(NN_PLOT_MALLOC) && !defined(NN_PLOT_FREE)
#define NN_PLOT_MALLOC(sz) malloc(sz)
#define NN_PLOT_FREE(p) free(p)
#else
#error "nn_plot.h: define both NN_PLOT_MALLOC and NN_PLOT_FREE, or neither"
#endif

/* Found outside a system directory, stb's headers trip -Wunused-function (static
   functions we do not call), -Wmissing-braces (stb_easy_font) and, in C++,
   -Wmissing-field-initializers (stb_image_write): silence those, only around them. */
#if defined(__GNUC__) || defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wmissing-braces"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#endif
#include <stb/stb_easy_font.h>
#ifdef NN_PLOT_NO_STB_WRITE_IMPLEMENTATION
#include <stb/stb_image_write.h>
#else
#ifdef INCLUDE_STB_IMAGE_WRITE_H
/* it would compile a second, non-static copy: include it after, or see the define below */
#error "nn_plot.h: stb_image_write.h included first; see NN_PLOT_NO_STB_WRITE_IMPLEMENTATION"
#endif
#ifndef STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_STATIC
#define NN_PLOT__UNDEF_STB_STATIC
#endif
#ifndef STB_IMAGE_WRITE_IMPLEMENTATION
#define STB_IMAGE_WRITE_IMPLEMENTATION
#define NN_PLOT__UNDEF_STB_IMPL
#endif
#include <stb/stb_image_write.h>
/* A later #include of stb_image_write.h in this file must not compile it again. */
#ifdef NN_PLOT__UNDEF_STB_IMPL
#undef STB_IMAGE_WRITE_IMPLEMENTATION
#undef NN_PLOT__UNDEF_STB_IMPL
#endif
#ifdef NN_PLOT__UNDEF_STB_STATIC
#undef STB_IMAGE_WRITE_STATIC
#undef NN_PLOT__UNDEF_STB_STATIC
#endif
#endif
#if defined(__GNUC__) || defined(__clang__)
#pragma GCC diagnostic pop
#endif

#define NN_PLOT__MIN_SIDE 64
#define NN_PLOT__MAX_SIDE 8192
#define NN_PLOT__MAX_K 256
#define NN_PLOT__GRID_MAX 4096 /* confusion: k*cell stays at or below this */
#define NN_PLOT__VB_BYTES 2048 /* stb_easy_font vertices for one glyph: at most 11 quads x 64 */
#define NN_PLOT__TEXT_MAX 128  /* longest label kept (bytes), before fitting to its place */

/* == 2. raster: boxes, fills, text, anti-aliased thick lines =============== */

typedef struct nn_plot__rgb {
    unsigned char r, g, b;
} nn_plot__rgb;

typedef struct nn_plot__box { /* half-open: [x0, x1) x [y0, y1) */
    int x0, y0, x1, y1;
} nn_plot__box;

typedef struct nn_plot__ctx {
    nn_plot_image *img;
    float *vb; /* NN_PLOT__VB_BYTES of glyph vertices (malloc'd: stb stores bytes in it) */
    unsigned char *mask; /* curves: line coverage over the plot area, 0..255 */
    nn_plot__box mbox;   /* the plot area the mask covers */
    nn_plot__box dirty;  /* part of the mask written since the last flush */
} nn_plot__ctx;

static nn_plot__rgb nn_plot__col(int r, int g, int b) {
    nn_plot__rgb c;
    c.r = (unsigned char)r;
    c.g = (unsigned char)g;
    c.b = (unsigned char)b;
    return c;
}

static nn_plot__box nn_plot__box_xywh(int x, int y, int w, int h) {
    nn_plot__box b;
    b.x0 = x;
    b.y0 = y;
    b.x1 = x + w;
    b.y1 = y + h;
    return b;
}

static nn_plot__box nn_plot__box_and(nn_plot__box a, nn_plot__box b) {
    nn_plot__box r;
    r.x0 = a.x0 > b.x0 ? a.x0 : b.x0;
    r.y0 = a.y0 > b.y0 ? a.y0 : b.y0;
    r.x1 = a.x1 < b.x1 ? a.x1 : b.x1;
    r.y1 = a.y1 < b.y1 ? a.y1 : b.y1;
    return r;
}

static nn_plot__box nn_plot__box_img(const nn_plot_image *img) {
    return nn_plot__box_xywh(0, 0, img->w, img->h);
}

/* Fills the rectangle, cut to clip and to the image. */
static void nn_plot__fill(nn_plot_image *img, nn_plot__box clip, int x, int y, int w, int h,
                          nn_plot__rgb c) {
    nn_plot__box r = nn_plot__box_and(nn_plot__box_and(nn_plot__box_xywh(x, y, w, h), clip),
                                      nn_plot__box_img(img));
    int i, j;
    for (j = r.y0; j < r.y1; j++) {
        unsigned char *p = img->rgb + ((size_t)j * (size_t)img->w + (size_t)r.x0) * 3;
        for (i = r.x0; i < r.x1; i++, p += 3) {
            p[0] = c.r;
            p[1] = c.g;
            p[2] = c.b;
        }
    }
}

/* Outline of a rectangle, 1 px, inside it. */
static void nn_plot__frame(nn_plot_image *img, nn_plot__box clip, int x, int y, int w, int h,
                           nn_plot__rgb c) {
    nn_plot__fill(img, clip, x, y, w, 1, c);
    nn_plot__fill(img, clip, x, y + h - 1, w, 1, c);
    nn_plot__fill(img, clip, x, y, 1, h, c);
    nn_plot__fill(img, clip, x + w - 1, y, 1, h, c);
}

/* stb_easy_font indexes a table with (ch - 32): anything outside 32..126 would read outside it. */
static char nn_plot__safe_char(char ch) {
    unsigned char u = (unsigned char)ch;
    return (u >= 32 && u <= 126) ? ch : '?';
}

/* Advance of one character at scale 1, in pixels. */
static int nn_plot__adv(char ch) {
    char one[2];
    one[0] = nn_plot__safe_char(ch);
    one[1] = 0;
    return stb_easy_font_width(one);
}

static int nn_plot__text_w(const char *s, int scale) {
    int w = 0;
    for (; *s; s++) w += nn_plot__adv(*s);
    return w * scale;
}

/* Copies src (NULL = "") into dst[cap] with unsafe bytes replaced; if it is wider than max_w
   pixels at this scale, keeps the longest prefix that fits with ".." after it (possibly
   nothing). Returns the width of dst in pixels. */
static int nn_plot__fit(char *dst, int cap, const char *src, int scale, int max_w) {
    int i, w = 0, dots = 2 * nn_plot__adv('.') * scale;
    const char *p = src ? src : "";
    size_t len = strlen(p);
    if (len < (size_t)cap) {
        for (i = 0; p[i]; i++) dst[i] = nn_plot__safe_char(p[i]);
        dst[i] = 0;
        w = nn_plot__text_w(dst, scale);
        if (w <= max_w) return w;
    }
    w = 0;
    for (i = 0; p[i] && i < cap - 3; i++) {
        int a = nn_plot__adv(p[i]) * scale;
        if (w + a + dots > max_w) break;
        dst[i] = nn_plot__safe_char(p[i]);
        w += a;
    }
    if (w + dots > max_w || cap < 3) {
        if (cap > 0) dst[0] = 0;
        return 0;
    }
    dst[i] = '.';
    dst[i + 1] = '.';
    dst[i + 2] = 0;
    return w + dots;
}

/* Draws s with its top-left corner at (x, y), glyph pixels scaled by scale (cap height 7*scale,
   descenders reach 9*scale). rot = 1 turns it 90 degrees counter-clockwise (reads bottom to top):
   then (x, y) is its bottom-left corner, the text occupying [x, x+9*scale) x [y-width, y). */
static void nn_plot__text(nn_plot__ctx *c, nn_plot__box clip, int x, int y, const char *s,
                          int scale, nn_plot__rgb col, int rot) {
    int pen = 0;
    for (; *s; s++) {
        char one[2];
        int q, nq;
        one[0] = nn_plot__safe_char(*s);
        one[1] = 0;
        nq = stb_easy_font_print((float)pen, 0.0f, one, NULL, c->vb, NN_PLOT__VB_BYTES);
        for (q = 0; q < nq; q++) {
            /* a quad: 4 vertices of {x, y, z, rgba}; corner 0 top-left, 2 bottom-right */
            const float *v = c->vb + 16 * q;
            int u0 = (int)floor(v[0]), v0 = (int)floor(v[1]);
            int u1 = (int)floor(v[8]), v1 = (int)floor(v[9]);
            if (!rot)
                nn_plot__fill(c->img, clip, x + u0 * scale, y + v0 * scale, (u1 - u0) * scale,
                              (v1 - v0) * scale, col);
            else
                nn_plot__fill(c->img, clip, x + v0 * scale, y - u1 * scale, (v1 - v0) * scale,
                              (u1 - u0) * scale, col);
        }
        pen += stb_easy_font_width(one);
    }
}

/* Adds a capsule (the segment a-b thickened to radius r, round ends) to the coverage mask,
   anti-aliased over one pixel; coverage combines by maximum so joints are not drawn twice. */
static void nn_plot__capsule(nn_plot__ctx *c, float ax, float ay, float bx, float by, float r) {
    const nn_plot__box m = c->mbox;
    const int mw = m.x1 - m.x0;
    float vx = bx - ax, vy = by - ay, l2 = vx * vx + vy * vy, big = 1e6f, R = r + 1.0f;
    int x, y, ylo, yhi;
    /* coordinates come from finite data mapped into the plot, but stay defensive */
    if (!(fabsf(ax) < big && fabsf(ay) < big && fabsf(bx) < big && fabsf(by) < big)) return;
    ylo = (int)floor((ay < by ? ay : by) - R);
    yhi = (int)ceil((ay > by ? ay : by) + R);
    if (ylo < m.y0) ylo = m.y0;
    if (yhi > m.y1 - 1) yhi = m.y1 - 1;
    for (y = ylo; y <= yhi; y++) {
        float py = (float)y + 0.5f, xa, xb;
        int xlo, xhi;
        /* only x where the segment passes within R of this row can be covered */
        if (fabsf(vy) < 1e-3f) {
            xa = (ax < bx ? ax : bx) - R;
            xb = (ax > bx ? ax : bx) + R;
        } else {
            float t0 = (py - R - ay) / vy, t1 = (py + R - ay) / vy, t;
            if (t0 > t1) {
                t = t0;
                t0 = t1;
                t1 = t;
            }
            t0 = t0 < 0.0f ? 0.0f : (t0 > 1.0f ? 1.0f : t0);
            t1 = t1 < 0.0f ? 0.0f : (t1 > 1.0f ? 1.0f : t1);
            xa = ax + t0 * vx;
            xb = ax + t1 * vx;
            if (xa > xb) {
                t = xa;
                xa = xb;
                xb = t;
            }
            xa -= R;
            xb += R;
        }
        xlo = (int)floor(xa);
        xhi = (int)ceil(xb);
        if (xlo < m.x0) xlo = m.x0;
        if (xhi > m.x1 - 1) xhi = m.x1 - 1;
        for (x = xlo; x <= xhi; x++) {
            float px = (float)x + 0.5f, t = 0.0f, dx, dy, cov;
            unsigned char *p;
            if (l2 > 0.0f) {
                t = ((px - ax) * vx + (py - ay) * vy) / l2;
                t = t < 0.0f ? 0.0f : (t > 1.0f ? 1.0f : t);
            }
            dx = px - (ax + t * vx);
            dy = py - (ay + t * vy);
            cov = r + 0.5f - sqrtf(dx * dx + dy * dy);
            if (cov <= 0.0f) continue;
            if (cov > 1.0f) cov = 1.0f;
            p = c->mask + (size_t)(y - m.y0) * (size_t)mw + (size_t)(x - m.x0);
            if ((unsigned char)(cov * 255.0f + 0.5f) > *p)
                *p = (unsigned char)(cov * 255.0f + 0.5f);
        }
        if (xlo <= xhi) {
            if (xlo < c->dirty.x0) c->dirty.x0 = xlo;
            if (xhi + 1 > c->dirty.x1) c->dirty.x1 = xhi + 1;
            if (y < c->dirty.y0) c->dirty.y0 = y;
            if (y + 1 > c->dirty.y1) c->dirty.y1 = y + 1;
        }
    }
}

/* A segment drawn dashed (dash > 0: on dash, off gap) continuing the pattern at *phase. */
static void nn_plot__segment(nn_plot__ctx *c, float ax, float ay, float bx, float by, float r,
                             float dash, float gap, double *phase) {
    double dx = (double)bx - (double)ax, dy = (double)by - (double)ay,
           len = sqrt(dx * dx + dy * dy);
    double on = (double)dash, period = (double)dash + (double)gap, pos = 0.0;
    if (dash <= 0.0f || len <= 0.0) {
        nn_plot__capsule(c, ax, ay, bx, by, r);
        return;
    }
    while (pos < len) {
        double ph = fmod(*phase, period), step;
        if (ph < on) {
            double t0 = pos / len, t1;
            step = on - ph < len - pos ? on - ph : len - pos;
            t1 = (pos + step) / len;
            nn_plot__capsule(c, ax + (float)t0 * (bx - ax), ay + (float)t0 * (by - ay),
                             ax + (float)t1 * (bx - ax), ay + (float)t1 * (by - ay), r);
        } else {
            step = period - ph < len - pos ? period - ph : len - pos;
        }
        if (step < 1e-6) step = 1e-6; /* rounding must not stall the walk */
        pos += step;
        *phase += step;
    }
}

/* Blends colour col through the coverage mask onto the image and clears what was written. */
static void nn_plot__flush(nn_plot__ctx *c, nn_plot__rgb col) {
    const nn_plot__box m = c->mbox, d = c->dirty;
    const int mw = m.x1 - m.x0;
    int x, y;
    for (y = d.y0; y < d.y1; y++) {
        unsigned char *mp = c->mask + (size_t)(y - m.y0) * (size_t)mw + (size_t)(d.x0 - m.x0);
        unsigned char *p = c->img->rgb + ((size_t)y * (size_t)c->img->w + (size_t)d.x0) * 3;
        for (x = d.x0; x < d.x1; x++, mp++, p += 3) {
            int a = *mp;
            if (!a) continue;
            p[0] = (unsigned char)((p[0] * (255 - a) + col.r * a + 127) / 255);
            p[1] = (unsigned char)((p[1] * (255 - a) + col.g * a + 127) / 255);
            p[2] = (unsigned char)((p[2] * (255 - a) + col.b * a + 127) / 255);
            *mp = 0;
        }
    }
    c->dirty.x0 = c->dirty.y0 = 1 << 30;
    c->dirty.x1 = c->dirty.y1 = -(1 << 30);
}

static int nn_plot__image_ok(const nn_plot_image *img) {
    return img && img->w >= NN_PLOT__MIN_SIDE && img->w <= NN_PLOT__MAX_SIDE &&
           img->h >= NN_PLOT__MIN_SIDE && img->h <= NN_PLOT__MAX_SIDE;
}

/* Allocates img->rgb when it is NULL (*owned = 1) and the glyph scratch. */
static int nn_plot__begin(nn_plot__ctx *c, nn_plot_image *img, int *owned) {
    memset(c, 0, sizeof *c);
    c->img = img;
    c->dirty.x0 = c->dirty.y0 = 1 << 30; /* empty */
    c->dirty.x1 = c->dirty.y1 = -(1 << 30);
    *owned = 0;
    if (!img->rgb) {
        img->rgb = (unsigned char *)NN_PLOT_MALLOC((size_t)img->w * (size_t)img->h * 3);
        if (!img->rgb) return NN_PLOT_ERR_MEM;
        *owned = 1;
    }
    c->vb = (float *)NN_PLOT_MALLOC(NN_PLOT__VB_BYTES);
    if (!c->vb) {
        if (*owned) {
            NN_PLOT_FREE(img->rgb);
            img->rgb = NULL;
        }
        return NN_PLOT_ERR_MEM;
    }
    memset(img->rgb, 255, (size_t)img->w * (size_t)img->h * 3);
    return NN_PLOT_OK;
}

static void nn_plot__end(nn_plot__ctx *c) {
    NN_PLOT_FREE(c->vb);
    if (c->mask) NN_PLOT_FREE(c->mask);
    c->vb = NULL;
    c->mask = NULL;
}

/* == 3. axes: nice ticks and their labels ================================== */

#define NN_PLOT__MAX_TICKS 64

typedef struct nn_plot__axis {
    double lo, hi; /* the range the axis spans, in axis units: the value, or its log10 */
    double step;   /* linear: distance between ticks (1, 2 or 5 times a power of ten) */
    double first;  /* linear: index of the first tick: ticks are (first + i) * step */
    int n_ticks;
    int decimals; /* %.*f with this many decimals, or */
    int sig;      /* > 0: %.*g with this many significant digits (huge or tiny values);
                     log: 0 means every tick is 1, 2 or 5 times a power of ten (see tick_label) */
    int label_w;  /* widest tick label in pixels */
    int log;      /* log10 axis: the ticks are listed in lt (values, not logs) */
    int minor;    /* log axis with a tick per decade: unlabelled marks at 2..9 times each */
    double lt[NN_PLOT__MAX_TICKS];
} nn_plot__axis;

static int nn_plot__finite(float v) { return v - v == 0.0f; }

/* Whether v can be placed on the axis: finite, and positive on a log axis. */
static int nn_plot__usable(int log, float v) { return nn_plot__finite(v) && (!log || v > 0.0f); }

/* Axis units of a value (positive on a log axis). */
static double nn_plot__coord(const nn_plot__axis *a, double v) { return a->log ? log10(v) : v; }

/* %.*g without the exponent's '+' and leading zeros: 3.16e-05 -> 3.16e-5, 1e+06 -> 1e6. */
static void nn_plot__fmt_g(char *buf, int cap, double v, int sig) {
    char tmp[64];
    const char *p;
    int o = 0;
    if (cap < 1) return;
    snprintf(tmp, sizeof tmp, "%.*g", sig, v);
    for (p = tmp; *p && o < cap - 1; p++) {
        buf[o++] = *p;
        if (*p != 'e') continue;
        if (p[1] == '-' || p[1] == '+') {
            if (p[1] == '-' && o < cap - 1) buf[o++] = '-';
            p++;
        }
        while (p[1] == '0' && p[2]) p++;
    }
    buf[o] = 0;
}

/* Smallest 1-2-5 step that divides span into at most max_ticks intervals. */
static double nn_plot__nice_step(double span, int max_ticks) {
    double raw = span / (max_ticks > 1 ? max_ticks : 1), p = pow(10.0, floor(log10(raw)));
    if (p >= raw) return p;
    if (2.0 * p >= raw) return 2.0 * p;
    if (5.0 * p >= raw) return 5.0 * p;
    return 10.0 * p;
}

/* v to 3 significant digits: plain from 0.01 to 99999 ("0.25", "1500"), else "1.72e-3". */
static void nn_plot__fmt_num(char *buf, int cap, double v) {
    double a = fabs(v);
    char ms[16];
    int e;
    if (a == 0.0 || (a >= 0.01 && a < 1e5) || !(a - a == 0.0)) {
        nn_plot__fmt_g(buf, cap, v, 3);
        return;
    }
    e = (int)floor(log10(a));
    snprintf(ms, sizeof ms, "%.3g", v / pow(10.0, e));
    if (fabs(strtod(ms, NULL)) >= 10.0) { /* 9.996 rounded up */
        e++;
        snprintf(ms, sizeof ms, "%.3g", v / pow(10.0, e));
    }
    snprintf(buf, (size_t)cap, "%se%d", ms, e);
}

/* The value of tick i. */
static double nn_plot__tick(const nn_plot__axis *a, int i) {
    double v;
    if (a->log) return a->lt[i];
    v = (a->first + i) * a->step;
    return fabs(v) < a->step * 1e-6 ? 0.0 : v; /* no "-0" */
}

/* Log ticks m * 10^e (m = 1, 2, 5) read "2e-4", "1e-3", except "1" to "500" written out. */
static void nn_plot__tick_label(char *buf, int cap, const nn_plot__axis *a, double v) {
    if (a->log && a->sig <= 0) {
        int e = (int)floor(log10(v) + 1e-9), m = (int)floor(v / pow(10.0, e) + 0.5);
        if (e >= 0 && e <= 2)
            snprintf(buf, (size_t)cap, "%d", m * (e == 0 ? 1 : (e == 1 ? 10 : 100)));
        else
            snprintf(buf, (size_t)cap, "%de%d", m, e);
    } else if (a->sig > 0) {
        nn_plot__fmt_g(buf, cap, v, a->sig);
    } else {
        snprintf(buf, (size_t)cap, "%.*f", a->decimals, v);
    }
}

static void nn_plot__axis_label_w(nn_plot__axis *a, int scale) {
    char buf[64];
    int i, w;
    a->label_w = 0;
    for (i = 0; i < a->n_ticks; i++) {
        nn_plot__tick_label(buf, (int)sizeof buf, a, nn_plot__tick(a, i));
        w = nn_plot__text_w(buf, scale);
        if (w > a->label_w) a->label_w = w;
    }
}

/* Ticks for the data range [lo, hi] (finite, lo <= hi): a flat range gets a non-zero span,
   the range gets a 5% margin so points do not sit on the frame, and ticks fall on multiples of
   a 1-2-5 step inside it. */
static void nn_plot__axis_make(nn_plot__axis *a, double lo, double hi, int max_ticks, int scale) {
    double mag = fabs(lo) > fabs(hi) ? fabs(lo) : fabs(hi), maxabs;
    int i;
    a->log = a->minor = 0;
    if (max_ticks > NN_PLOT__MAX_TICKS) max_ticks = NN_PLOT__MAX_TICKS;
    if (hi - lo <= mag * 1e-5) { /* flat, or closer than float data can resolve */
        double mid = 0.5 * (lo + hi), half = mag > 0.0 ? mag * 0.1 : 1.0;
        lo = mid - half;
        hi = mid + half;
    } else {
        double pad = 0.05 * (hi - lo);
        lo -= pad;
        hi += pad;
    }
    a->lo = lo;
    a->hi = hi;
    a->step = nn_plot__nice_step(hi - lo, max_ticks);
    a->first = ceil(lo / a->step - 1e-9);
    a->n_ticks = 0;
    while (a->n_ticks < 64 && (a->first + a->n_ticks) * a->step <= hi + a->step * 1e-9)
        a->n_ticks++;
    maxabs = 0.0;
    for (i = 0; i < a->n_ticks; i++)
        if (fabs(nn_plot__tick(a, i)) > maxabs) maxabs = fabs(nn_plot__tick(a, i));
    a->sig = 0;
    a->decimals = 0;
    if (maxabs >= 1e6 || a->step < 1e-4) {
        int sig =
            (int)floor(log10(maxabs > a->step ? maxabs : a->step)) - (int)floor(log10(a->step)) + 1;
        a->sig = sig < 1 ? 1 : (sig > 9 ? 9 : sig);
    } else if (a->step < 1.0) {
        a->decimals = (int)ceil(-log10(a->step) - 1e-9);
    }
    nn_plot__axis_label_w(a, scale);
}

/* A log10 axis over positive data [lo, hi] (lo <= hi): the range in decades gets a 5% margin
   (a flat one becomes one decade). Ticks, the first choice that gives two or more:
   1, 2, 5 times powers of ten when the range is under three decades and they number at most
   max_ticks; every k-th power of ten (k = 1, 2, 5, 10, ...: the smallest giving at most
   max_ticks); linear 1-2-5 steps in value (a range too short to hold two of the above). */
static void nn_plot__axis_make_log(nn_plot__axis *a, double lo, double hi, int max_ticks,
                                   int scale) {
    static const int ms[3] = {1, 2, 5};
    double l0, l1;
    int n = 0, i, e;
    if (!(lo > 0.0 && lo <= hi && hi < 1e300)) lo = 1.0, hi = 10.0; /* callers pass data > 0 */
    l0 = log10(lo);
    l1 = log10(hi);
    if (max_ticks > NN_PLOT__MAX_TICKS) max_ticks = NN_PLOT__MAX_TICKS;
    if (max_ticks < 2) max_ticks = 2;
    if (l1 - l0 < 1e-6) {
        l0 -= 0.5;
        l1 += 0.5;
    } else {
        double pad = 0.05 * (l1 - l0);
        l0 -= pad;
        l1 += pad;
    }
    a->lo = l0;
    a->hi = l1;
    a->log = 1;
    a->minor = 0;
    a->sig = 0;
    a->decimals = 0;
    a->step = a->first = 0.0;
    if (l1 - l0 < 3.0) {
        for (e = (int)floor(l0); e <= (int)ceil(l1); e++)
            for (i = 0; i < 3; i++) {
                double v = ms[i] * pow(10.0, e), c = log10(v);
                if (c >= l0 - 1e-9 && c <= l1 + 1e-9 && n < NN_PLOT__MAX_TICKS) a->lt[n++] = v;
            }
        if (n > max_ticks) n = 0;
    }
    if (n < 2) {
        double k = 1.0, d0, d1;
        n = 0;
        for (;;) { /* k: 1, 2, 5, 10, 20, ... decades between ticks */
            d0 = ceil(l0 / k - 1e-9);
            d1 = floor(l1 / k + 1e-9);
            if (d1 - d0 + 1 <= max_ticks || k > 1e4) break;
            k = nn_plot__nice_step(k * 1.5, 1);
        }
        for (; d0 <= d1 && n < max_ticks; d0 += 1.0) a->lt[n++] = pow(10.0, d0 * k);
        a->minor = k == 1.0;
    }
    if (n < 2) { /* inside one decade: plain steps, printed with enough digits */
        double vlo = pow(10.0, l0), vhi = pow(10.0, l1), step = nn_plot__nice_step(vhi - vlo, 4);
        double f = ceil(vlo / step - 1e-9);
        int sig;
        n = 0;
        for (; f * step <= vhi * (1.0 + 1e-9) && n < NN_PLOT__MAX_TICKS; f += 1.0)
            if (f * step > 0.0) a->lt[n++] = f * step;
        sig = (int)floor(log10(vhi)) - (int)floor(log10(step)) + 1;
        a->sig = sig < 1 ? 1 : (sig > 9 ? 9 : sig);
        a->minor = 0;
    }
    a->n_ticks = n;
    nn_plot__axis_label_w(a, scale);
}

/* Whether neighbouring tick labels of a, spread over len pixels, come closer than 5*scale
   pixels: side by side (a horizontal axis) or stacked (vertical, labels 7*scale high). */
static int nn_plot__axis_crowded(const nn_plot__axis *a, int len, int scale, int vertical) {
    char buf[64];
    double prev = 0.0;
    int i, w, prev_w = 0;
    for (i = 0; i < a->n_ticks; i++) {
        double p = (nn_plot__coord(a, nn_plot__tick(a, i)) - a->lo) / (a->hi - a->lo) * (len - 1);
        nn_plot__tick_label(buf, (int)sizeof buf, a, nn_plot__tick(a, i));
        w = vertical ? 7 * scale : nn_plot__text_w(buf, scale);
        if (i > 0 && fabs(p - prev) < 0.5 * (w + prev_w) + 5 * scale) return 1;
        prev = p;
        prev_w = w;
    }
    return 0;
}

/* A linear or log axis for data [lo, hi] with as many ticks as fit, up to max_ticks, without
   labels touching along len pixels. */
static void nn_plot__axis_fit(nn_plot__axis *a, double lo, double hi, int log, int len,
                              int scale, int vertical, int max_ticks) {
    for (;;) {
        if (log)
            nn_plot__axis_make_log(a, lo, hi, max_ticks, scale);
        else
            nn_plot__axis_make(a, lo, hi, max_ticks, scale);
        if (max_ticks <= 2 || !nn_plot__axis_crowded(a, len, scale, vertical)) return;
        max_ticks--;
    }
}

/* == 4. learning curves ===================================================== */

/* tab10: distinct, colour-blind-friendlier than pure RGB, and none equals a chrome colour. */
static nn_plot__rgb nn_plot__series_col(int i) {
    static const unsigned char pal[10][3] = {
        {31, 119, 180}, {255, 127, 14},  {44, 160, 44},  {214, 39, 40},  {148, 103, 189},
        {140, 86, 75},  {227, 119, 194}, {188, 189, 34}, {23, 190, 207}, {127, 127, 127}};
    return nn_plot__col(pal[i % 10][0], pal[i % 10][1], pal[i % 10][2]);
}

#define NN_PLOT__BG nn_plot__col(255, 255, 255)
#define NN_PLOT__GRID nn_plot__col(232, 232, 232)
#define NN_PLOT__AXIS nn_plot__col(70, 70, 70)
#define NN_PLOT__TEXT nn_plot__col(30, 30, 30)

typedef struct nn_plot__curves_lay {
    int s;  /* text scale */
    int th; /* text cap height */
    int show_title, show_axis_titles, show_labels;
    int has_left, has_right; /* some series uses this axis */
    int show_left_labels;    /* the left axis has series, or no axis has */
    int dots;                /* epochs far enough apart for a dot each */
    nn_plot__axis y[2];      /* left, right */
    double xlo, xhi;         /* x range in axis units (log10 of x on a log x axis) */
    int xstep, nmax;         /* curves: epochs between x ticks, longest series */
    int xy;                  /* x-y curves: the x axis is x (else epochs 1..nmax) */
    int log_y;               /* x-y curves: the left y axis is log10 */
    int mark_row;            /* x-y curves: a row above the plot area for the mark's label */
    nn_plot__axis x;         /* x-y curves: the x axis */
    int px, py, pw, ph;      /* plot area */
} nn_plot__curves_lay;

static int nn_plot__curves_check(const nn_plot_series *series, int n_series) {
    int i;
    if (n_series < 0 || (n_series > 0 && !series)) return NN_PLOT_ERR_ARG;
    for (i = 0; i < n_series; i++)
        if (series[i].n < 0 || (series[i].n > 0 && !series[i].y)) return NN_PLOT_ERR_ARG;
    return NN_PLOT_OK;
}

/* Range of the finite values of the series on one axis; 0 if there are none. */
static int nn_plot__data_range(const nn_plot_series *s, int n_series, int right, double *lo,
                               double *hi) {
    int i, j, any = 0;
    for (i = 0; i < n_series; i++) {
        if ((s[i].right_axis != 0) != right) continue;
        for (j = 0; j < s[i].n; j++) {
            double v = s[i].y[j];
            if (!nn_plot__finite(s[i].y[j])) continue;
            if (!any || v < *lo) *lo = v;
            if (!any || v > *hi) *hi = v;
            any = 1;
        }
    }
    return any;
}

/* Pixel column (continuous: column c spans [c, c+1)) of x in axis units. */
static double nn_plot__xpix(const nn_plot__curves_lay *L, double x) {
    return L->px + 0.5 + (x - L->xlo) / (L->xhi - L->xlo) * (L->pw - 1);
}

/* Pixel column of an x value: an epoch, or on x-y curves a value of the x axis. */
static double nn_plot__xpix_v(const nn_plot__curves_lay *L, double v) {
    return nn_plot__xpix(L, L->xy ? nn_plot__coord(&L->x, v) : v);
}

/* Pixel row of y in the axis units of a. */
static double nn_plot__ypix_c(const nn_plot__curves_lay *L, const nn_plot__axis *a, double c) {
    return L->py + 0.5 + (a->hi - c) / (a->hi - a->lo) * (L->ph - 1);
}

static double nn_plot__ypix(const nn_plot__curves_lay *L, const nn_plot__axis *a, double v) {
    return nn_plot__ypix_c(L, a, nn_plot__coord(a, v));
}

/* Margins from the outside in; on small images details are dropped (axis titles, then the
   title, then tick labels) until the plot area is at least 32 px each way. Needs s, th,
   has_left, has_right, xy, log_y, mark_row and the data range of each y axis. */
static void nn_plot__frame_layout(nn_plot__curves_lay *L, int w, int h, const char *title,
                                  const char *lt, const char *rt, const double *lo,
                                  const double *hi) {
    int level, i, s = L->s;
    L->show_left_labels = L->has_left || !L->has_right;
    for (level = 0; level < 4; level++) {
        int m = 6 * s, gap = 4 * s, tick = 5, th = L->th, top, bottom, left, right, max_ticks;
        L->show_axis_titles = level < 1;
        L->show_title = title && title[0] && level < 2;
        L->show_labels = level < 3;
        top = L->show_title ? m + th + 3 * gap : m + (L->show_labels ? th / 2 : 0);
        if (L->mark_row && L->show_labels) top += th + gap;
        bottom = tick + m;
        if (L->show_labels) bottom += gap + th;
        if (L->show_axis_titles) bottom += 2 * gap + th;
        L->ph = h - top - bottom;
        /* 1-2-5 steps can land on as few as max_ticks / 2.5 ticks: ask for many */
        max_ticks = (int)(L->ph / (2.5 * th));
        max_ticks = max_ticks < 3 ? 3 : (max_ticks > 10 ? 10 : max_ticks);
        for (i = 0; i < 2; i++) {
            if (L->xy) /* uneven log ticks: check that labels keep apart */
                nn_plot__axis_fit(&L->y[i], lo[i], hi[i], i == 0 && L->log_y, L->ph, s, 1,
                                  max_ticks);
            else
                nn_plot__axis_make(&L->y[i], lo[i], hi[i], max_ticks, s);
        }
        left = m + tick;
        if (L->show_labels && L->show_left_labels) left += gap + L->y[0].label_w;
        if (L->show_axis_titles && lt && lt[0] && L->show_left_labels) left += th + 2 * gap;
        if (L->has_right) {
            right = m + tick;
            if (L->show_labels) right += gap + L->y[1].label_w;
            if (L->show_axis_titles && rt && rt[0]) right += th + 2 * gap;
        } else {
            right = L->show_labels ? 3 * m : m; /* room for half of the last x label */
        }
        L->px = left;
        L->py = top;
        L->pw = w - left - right;
        if (L->pw >= 32 && L->ph >= 32) break;
    }
    if (L->pw < 8) L->pw = 8; /* cannot happen for w, h >= 64; keeps the maths finite */
    if (L->ph < 8) L->ph = 8;
}

static void nn_plot__curves_layout(nn_plot__curves_lay *L, int w, int h, const char *title,
                                   const char *lt, const char *rt, const nn_plot_series *series,
                                   int n_series) {
    int i, s;
    double lo[2] = {0.0, 0.0}, hi[2] = {1.0, 1.0};
    int any[2];
    memset(L, 0, sizeof *L);
    s = L->s = (w >= 400 && h >= 280) ? 2 : 1;
    L->th = 7 * s;
    for (i = 0; i < n_series; i++) {
        if (series[i].right_axis)
            L->has_right = 1;
        else
            L->has_left = 1;
        if (series[i].n > L->nmax) L->nmax = series[i].n;
    }
    any[0] = nn_plot__data_range(series, n_series, 0, &lo[0], &hi[0]);
    any[1] = nn_plot__data_range(series, n_series, 1, &lo[1], &hi[1]);
    for (i = 0; i < 2; i++)
        if (!any[i]) {
            lo[i] = 0.0;
            hi[i] = 1.0;
        }
    {
        int n = L->nmax > 1 ? L->nmax : 1;
        double pad = n > 1 ? 0.03 * (n - 1) : 0.5;
        if (pad < 0.3) pad = 0.3;
        L->xlo = 1.0 - pad;
        L->xhi = n + pad;
    }
    nn_plot__frame_layout(L, w, h, title, lt, rt, lo, hi);
    L->dots = (L->pw - 1) / (L->xhi - L->xlo) >= 6.0;
    /* x ticks: integer 1-2-5 steps far enough apart for the widest label */
    {
        char buf[16];
        int lw, need;
        double px_per = (L->pw - 1) / (L->xhi - L->xlo);
        snprintf(buf, sizeof buf, "%d", L->nmax > 1 ? L->nmax : 1);
        lw = nn_plot__text_w(buf, s);
        need = lw + 8 * s;
        L->xstep = 1;
        while (L->xstep < 1000000000 && L->xstep * px_per < need) {
            int d = L->xstep;
            while (d >= 10) d /= 10;
            L->xstep = d == 2 ? L->xstep / 2 * 5 : L->xstep * 2; /* 1 -> 2 -> 5 -> 10 */
        }
    }
}

/* Draws n points into the mask as a line (dashed when dash > 0) and flushes it in col: point j
   is (x[j], y[j]), or (j + 1, y[j]) when x is NULL. A point with a coordinate its axis cannot
   show (nn_plot__usable) leaves a gap. A dot marks every point when L->dots, and otherwise a
   point with no drawable neighbour, which would be invisible without it. */
static void nn_plot__draw_line(nn_plot__ctx *c, const nn_plot__curves_lay *L,
                               const nn_plot__axis *ya, const float *x, const float *y, int n,
                               float dash, nn_plot__rgb col) {
    float r = L->s == 2 ? 1.35f : 0.9f, rdot = L->s == 2 ? 3.2f : 2.2f, gap = 4.0f * L->s;
    double phase = 0.0;
    float prevx = 0.0f, prevy = 0.0f;
    int j, prev_ok = 0, xlog = L->xy && L->x.log;
    for (j = 0; j < n; j++) {
        float px, py;
        int next_ok;
        if (!nn_plot__usable(ya->log, y[j]) || (x && !nn_plot__usable(xlog, x[j]))) {
            prev_ok = 0;
            continue;
        }
        px = (float)(x ? nn_plot__xpix_v(L, x[j]) : nn_plot__xpix(L, j + 1.0));
        py = (float)nn_plot__ypix(L, ya, y[j]);
        if (prev_ok)
            nn_plot__segment(c, prevx, prevy, px, py, r, dash, gap, &phase);
        else
            phase = 0.0;
        next_ok = j + 1 < n && nn_plot__usable(ya->log, y[j + 1]) &&
                  (!x || nn_plot__usable(xlog, x[j + 1]));
        if (L->dots || (!prev_ok && !next_ok)) nn_plot__capsule(c, px, py, px, py, rdot);
        prevx = px;
        prevy = py;
        prev_ok = 1;
    }
    nn_plot__flush(c, col);
}

/* Draws one learning curve (dashed on the right axis). */
static void nn_plot__draw_series(nn_plot__ctx *c, const nn_plot__curves_lay *L,
                                 const nn_plot_series *se, nn_plot__rgb col) {
    nn_plot__draw_line(c, L, &L->y[se->right_axis ? 1 : 0], NULL, se->y, se->n,
                       se->right_axis ? 7.0f * L->s : 0.0f, col);
}

/* Pixels inside b that hold something other than background or grid. */
static long nn_plot__busy(const nn_plot_image *img, nn_plot__box b) {
    long n = 0;
    int x, y;
    b = nn_plot__box_and(b, nn_plot__box_img(img));
    for (y = b.y0; y < b.y1; y++)
        for (x = b.x0; x < b.x1; x++) {
            const unsigned char *p = img->rgb + ((size_t)y * (size_t)img->w + (size_t)x) * 3;
            if (!(p[0] == p[1] && p[1] == p[2] && (p[0] == 255 || p[0] == 232))) n++;
        }
    return n;
}

/* Legend text of entry i of learning curves (series) or x-y curves (xy), one of them NULL. */
static void nn_plot__legend_label(char *buf, const nn_plot_series *series,
                                  const nn_plot_xy_series *xy, int i, int s, int max_w) {
    char name[32];
    const char *label = series ? series[i].label : xy[i].label;
    if (!label) {
        snprintf(name, sizeof name, "series %d", i + 1);
        label = name;
    }
    nn_plot__fit(buf, NN_PLOT__TEXT_MAX, label, s, max_w);
}

/* The legend of learning curves (series) or x-y curves (xy; the other NULL), placed where it
   covers the fewest curve pixels. Returns how many it covers (0 without a legend); with draw 0
   only that, and *height (may be NULL) receives the legend's height (0 without one). */
static long nn_plot__legend(nn_plot__ctx *c, const nn_plot__curves_lay *L,
                            const nn_plot_series *series, const nn_plot_xy_series *xy,
                            int n_series, nn_plot_layout *out, int draw, int *height) {
    int s = L->s, pad = 4 * s, row = 11 * s, sample = 16 * s, gap = 4 * s, inset = 6 * s;
    int i, rows, max_rows, shown, lw = 0, bw, bh, best = -1, bx = 0, by = 0;
    int max_label = L->pw * 6 / 10 - 2 * pad - sample - gap;
    long best_busy = 0;
    char buf[NN_PLOT__TEXT_MAX + 8];
    nn_plot__box plot = nn_plot__box_xywh(L->px, L->py, L->pw, L->ph);
    if (height) *height = 0;
    if (n_series <= 0) return 0;
    max_rows = (L->ph - 2 * inset - 2 * pad) / row;
    if (max_rows < 1 || max_label < 6 * s) return 0;
    shown = n_series <= max_rows ? n_series : max_rows - 1; /* last row: "+N more" */
    rows = shown < n_series ? shown + 1 : shown;
    for (i = 0; i < n_series; i++) {
        int w;
        if (i >= shown)
            snprintf(buf, sizeof buf, "+%d more", n_series - shown);
        else
            nn_plot__legend_label(buf, series, xy, i, s, max_label);
        w = nn_plot__text_w(buf, s);
        if (w > lw) lw = w;
        if (i >= shown) break;
    }
    bw = pad + sample + gap + lw + pad;
    bh = 2 * pad + rows * row - 2 * s;
    /* candidates in order of preference; the one covering fewest curve pixels wins */
    for (i = 0; i < 9; i++) {
        static const int cx[9] = {2, 0, 2, 0, 2, 0, 1, 1, 1}, cy[9] = {0, 0, 2, 2, 1, 1, 0, 2, 1};
        int x = cx[i] == 0   ? L->px + inset
                : cx[i] == 1 ? L->px + (L->pw - bw) / 2
                             : L->px + L->pw - inset - bw;
        int y = cy[i] == 0   ? L->py + inset
                : cy[i] == 1 ? L->py + (L->ph - bh) / 2
                             : L->py + L->ph - inset - bh;
        long busy = nn_plot__busy(c->img, nn_plot__box_xywh(x - 2, y - 2, bw + 4, bh + 4));
        if (best < 0 || busy < best_busy) {
            best = i;
            best_busy = busy;
            bx = x;
            by = y;
        }
    }
    if (height) *height = bh;
    if (!draw) return best_busy;
    nn_plot__fill(c->img, plot, bx, by, bw, bh, NN_PLOT__BG);
    nn_plot__frame(c->img, plot, bx, by, bw, bh, nn_plot__col(200, 200, 200));
    for (i = 0; i < rows; i++) {
        int ty = by + pad + i * row, cy = ty + L->th / 2;
        nn_plot__box clip = nn_plot__box_and(plot, nn_plot__box_xywh(bx, by, bw, bh));
        if (i < shown) {
            nn_plot__rgb col = nn_plot__series_col(i);
            double phase = 0.0;
            float r = s == 2 ? 1.35f : 0.9f;
            int dashed = series && series[i].right_axis;
            nn_plot__segment(c, (float)(bx + pad), (float)cy + 0.5f, (float)(bx + pad + sample),
                             (float)cy + 0.5f, r, dashed ? 7.0f * s : 0.0f, 4.0f * s, &phase);
            if (L->dots)
                nn_plot__capsule(c, bx + pad + sample * 0.5f, (float)cy + 0.5f,
                                 bx + pad + sample * 0.5f, (float)cy + 0.5f, s == 2 ? 3.2f : 2.2f);
            nn_plot__flush(c, col);
            nn_plot__legend_label(buf, series, xy, i, s, max_label);
        } else {
            snprintf(buf, sizeof buf, "+%d more", n_series - shown);
        }
        nn_plot__text(c, clip, bx + pad + sample + gap, ty, buf, s, NN_PLOT__TEXT, 0);
    }
    if (out) {
        out->legend_x = bx;
        out->legend_y = by;
        out->legend_w = bw;
        out->legend_h = bh;
    }
    return best_busy;
}

/* x tick i: its value (an epoch, or a value of the x-y curves' x axis); 0 past the last. */
static int nn_plot__xtick(const nn_plot__curves_lay *L, int i, double *v) {
    if (L->xy) {
        if (i >= L->x.n_ticks) return 0;
        *v = nn_plot__tick(&L->x, i);
        return 1;
    }
    *v = (i + 1.0) * L->xstep; /* multiples of xstep from 1 on (xlo < 1 always) */
    return *v <= L->xhi;
}

/* Plot area, the mask over it and a white image; on failure nothing is left allocated. */
static int nn_plot__plot_begin(nn_plot__ctx *c, nn_plot_image *img, const nn_plot__curves_lay *L,
                               int owned) {
    c->mbox = nn_plot__box_xywh(L->px, L->py, L->pw, L->ph);
    c->mask = (unsigned char *)NN_PLOT_MALLOC((size_t)L->pw * (size_t)L->ph);
    if (!c->mask) {
        nn_plot__end(c);
        if (owned) {
            NN_PLOT_FREE(img->rgb);
            img->rgb = NULL;
        }
        return NN_PLOT_ERR_MEM;
    }
    memset(c->mask, 0, (size_t)L->pw * (size_t)L->ph);
    return NN_PLOT_OK;
}

/* Grid under everything: y lines from the axis that has labels, x lines at the x ticks. */
static void nn_plot__grid(nn_plot__ctx *c, const nn_plot__curves_lay *L) {
    const nn_plot__axis *ga = &L->y[L->show_left_labels ? 0 : 1];
    nn_plot__box plot = nn_plot__box_xywh(L->px, L->py, L->pw, L->ph);
    double v;
    int i;
    for (i = 0; i < ga->n_ticks; i++) {
        int y = (int)floor(nn_plot__ypix(L, ga, nn_plot__tick(ga, i)));
        nn_plot__fill(c->img, plot, L->px, y, L->pw, 1, NN_PLOT__GRID);
    }
    for (i = 0; nn_plot__xtick(L, i, &v); i++)
        nn_plot__fill(c->img, plot, (int)floor(nn_plot__xpix_v(L, v)), L->py, 1, L->ph,
                      NN_PLOT__GRID);
}

/* Unlabelled 3 px marks at 2..9 times each power of ten of a log axis with a tick per decade. */
static void nn_plot__minor_ticks(nn_plot__ctx *c, const nn_plot__curves_lay *L,
                                 const nn_plot__axis *a, int is_x) {
    nn_plot__box all = nn_plot__box_img(c->img);
    int e, m;
    if (!a->log || !a->minor) return;
    for (e = (int)floor(a->lo); e <= (int)ceil(a->hi); e++)
        for (m = 2; m <= 9; m++) {
            double u = e + log10((double)m);
            if (u < a->lo || u > a->hi) continue;
            if (is_x)
                nn_plot__fill(c->img, all, (int)floor(nn_plot__xpix(L, u)), L->py + L->ph + 1, 1,
                              3, NN_PLOT__AXIS);
            else
                nn_plot__fill(c->img, all, L->px - 4, (int)floor(nn_plot__ypix_c(L, a, u)), 3, 1,
                              NN_PLOT__AXIS);
        }
}

/* Frame, ticks and their labels, axis titles and title over the drawn curves; fills layout's
   plot area and data ranges (legend fields zero). */
static void nn_plot__axes(nn_plot__ctx *c, const nn_plot__curves_lay *L, const char *title,
                          const char *x_title, const char *lt, const char *rt,
                          nn_plot_layout *layout) {
    nn_plot_image *img = c->img;
    nn_plot__box all = nn_plot__box_img(img);
    char buf[NN_PLOT__TEXT_MAX + 8];
    int i, r, s = L->s, tick = 5, gap = 4 * s;
    double xv;
    nn_plot__frame(img, all, L->px - 1, L->py - 1, L->pw + 2, L->ph + 2, NN_PLOT__AXIS);
    /* y ticks and labels: left, then right */
    for (r = 0; r < 2; r++) {
        const nn_plot__axis *a = &L->y[r];
        if (r == 0 ? !L->show_left_labels : !L->has_right) continue;
        if (r == 0) nn_plot__minor_ticks(c, L, a, 0);
        for (i = 0; i < a->n_ticks; i++) {
            int y = (int)floor(nn_plot__ypix(L, a, nn_plot__tick(a, i)));
            int x = r == 0 ? L->px - 1 - tick : L->px + L->pw + 1;
            nn_plot__fill(img, all, x, y, tick, 1, NN_PLOT__AXIS);
            if (!L->show_labels) continue;
            nn_plot__tick_label(buf, (int)sizeof buf, a, nn_plot__tick(a, i));
            if (r == 0)
                nn_plot__text(c, all, x - gap - nn_plot__text_w(buf, s), y - L->th / 2, buf, s,
                              NN_PLOT__TEXT, 0);
            else
                nn_plot__text(c, all, x + tick + gap, y - L->th / 2, buf, s, NN_PLOT__TEXT, 0);
        }
    }
    /* x ticks and labels */
    if (L->xy) nn_plot__minor_ticks(c, L, &L->x, 1);
    for (i = 0; nn_plot__xtick(L, i, &xv); i++) {
        int x = (int)floor(nn_plot__xpix_v(L, xv));
        nn_plot__fill(img, all, x, L->py + L->ph + 1, 1, tick, NN_PLOT__AXIS);
        if (!L->show_labels) continue;
        if (L->xy)
            nn_plot__tick_label(buf, (int)sizeof buf, &L->x, xv);
        else
            snprintf(buf, sizeof buf, "%.0f", xv);
        nn_plot__text(c, all, x - nn_plot__text_w(buf, s) / 2 + s / 2,
                      L->py + L->ph + 1 + tick + gap, buf, s, NN_PLOT__TEXT, 0);
    }
    /* axis titles: x under the labels, y titles turned to read bottom to top */
    if (L->show_axis_titles) {
        int w, y = L->py + L->ph + 1 + tick + gap + L->th + 2 * gap;
        if (x_title && x_title[0]) {
            w = nn_plot__fit(buf, NN_PLOT__TEXT_MAX, x_title, s, L->pw);
            nn_plot__text(c, all, L->px + (L->pw - w) / 2, y, buf, s, NN_PLOT__TEXT, 0);
        }
        if (lt && lt[0] && L->show_left_labels) {
            w = nn_plot__fit(buf, NN_PLOT__TEXT_MAX, lt, s, L->ph);
            nn_plot__text(c, all, 6 * s, L->py + (L->ph + w) / 2, buf, s, NN_PLOT__TEXT, 1);
        }
        if (rt && rt[0] && L->has_right) {
            w = nn_plot__fit(buf, NN_PLOT__TEXT_MAX, rt, s, L->ph);
            nn_plot__text(c, all, img->w - 6 * s - L->th, L->py + (L->ph + w) / 2, buf, s,
                          NN_PLOT__TEXT, 1);
        }
    }
    if (L->show_title) {
        int w = nn_plot__fit(buf, NN_PLOT__TEXT_MAX, title, s, img->w - 12 * s), x;
        x = L->px + (L->pw - w) / 2; /* centred on the plot, kept inside the image */
        if (x + w > img->w - 6 * s) x = img->w - 6 * s - w;
        if (x < 6 * s) x = 6 * s;
        nn_plot__text(c, all, x, 6 * s + gap, buf, s, nn_plot__col(0, 0, 0), 0);
        nn_plot__text(c, all, x + 1, 6 * s + gap, buf, s, nn_plot__col(0, 0, 0), 0); /* bold */
    }
    if (layout) {
        const nn_plot__axis *ya = &L->y[0];
        memset(layout, 0, sizeof *layout);
        layout->w = img->w;
        layout->h = img->h;
        layout->plot_x = L->px;
        layout->plot_y = L->py;
        layout->plot_w = L->pw;
        layout->plot_h = L->ph;
        layout->x_lo = L->xy && L->x.log ? pow(10.0, L->xlo) : L->xlo;
        layout->x_hi = L->xy && L->x.log ? pow(10.0, L->xhi) : L->xhi;
        layout->y_lo = ya->log ? pow(10.0, ya->lo) : ya->lo;
        layout->y_hi = ya->log ? pow(10.0, ya->hi) : ya->hi;
    }
}

NN_PLOTDEF int nn_plot_curves(nn_plot_image *img, const char *title, const char *left_axis_title,
                              const char *right_axis_title, const nn_plot_series *series,
                              int n_series, nn_plot_layout *layout) {
    nn_plot__ctx c;
    nn_plot__curves_lay L;
    int owned, r, i;
    if (!nn_plot__image_ok(img)) return NN_PLOT_ERR_ARG;
    r = nn_plot__curves_check(series, n_series);
    if (r) return r;
    r = nn_plot__begin(&c, img, &owned);
    if (r) return r;
    nn_plot__curves_layout(&L, img->w, img->h, title, left_axis_title, right_axis_title, series,
                           n_series);
    r = nn_plot__plot_begin(&c, img, &L, owned);
    if (r) return r;
    nn_plot__grid(&c, &L);
    for (i = 0; i < n_series; i++) nn_plot__draw_series(&c, &L, &series[i], nn_plot__series_col(i));
    nn_plot__axes(&c, &L, title, "epoch", left_axis_title, right_axis_title, layout);
    nn_plot__legend(&c, &L, series, NULL, n_series, layout, 1, NULL);
    nn_plot__end(&c);
    return NN_PLOT_OK;
}

NN_PLOTDEF int nn_plot_curves_png(const char *path, int width, int height, const char *title,
                                  const char *left_axis_title, const char *right_axis_title,
                                  const nn_plot_series *series, int n_series) {
    nn_plot_image img;
    int r;
    img.rgb = NULL;
    img.w = width;
    img.h = height;
    if (!path || !nn_plot__image_ok(&img)) return NN_PLOT_ERR_ARG;
    r = nn_plot_curves(&img, title, left_axis_title, right_axis_title, series, n_series, NULL);
    if (r) return r;
    r = nn_plot_write_png(path, &img);
    nn_plot_image_free(&img);
    return r;
}

/* == 5. x-y curves: explicit x, log axes, a marked x ======================== */

#define NN_PLOT__MARK nn_plot__col(90, 90, 90)

static int nn_plot__xy_check(const nn_plot_xy_series *series, int n_series) {
    int i;
    if (n_series < 0 || (n_series > 0 && !series)) return NN_PLOT_ERR_ARG;
    for (i = 0; i < n_series; i++)
        if (series[i].n < 0 || (series[i].n > 0 && (!series[i].x || !series[i].y)))
            return NN_PLOT_ERR_ARG;
    return NN_PLOT_OK;
}

/* Range of the x (which 0) or y (which 1) coordinates of the drawable points; 0 if none. */
static int nn_plot__xy_range(const nn_plot_xy_series *s, int n_series, int log_x, int log_y,
                             int which, double *lo, double *hi) {
    int i, j, any = 0;
    for (i = 0; i < n_series; i++)
        for (j = 0; j < s[i].n; j++) {
            double v = which ? s[i].y[j] : s[i].x[j];
            if (!nn_plot__usable(log_x, s[i].x[j]) || !nn_plot__usable(log_y, s[i].y[j]))
                continue;
            if (!any || v < *lo) *lo = v;
            if (!any || v > *hi) *hi = v;
            any = 1;
        }
    return any;
}

/* Whether mark_x is drawn: finite, and positive on a log axis. */
static int nn_plot__mark_ok(double mark_x, int log_x) {
    return mark_x - mark_x == 0.0 && fabs(mark_x) <= 3.4e38 && (!log_x || mark_x > 0.0);
}

/* head: the fraction of the plot height to keep free above the data (room for the legend). */
static void nn_plot__xy_layout(nn_plot__curves_lay *L, int w, int h, const char *title,
                               const char *yt, int log_x, int log_y,
                               const nn_plot_xy_series *series, int n_series, double mark_x,
                               double head) {
    double lo[2] = {1.0, 0.0}, hi[2] = {10.0, 1.0}, xlo = 1.0, xhi = 10.0;
    int s, has_mark = nn_plot__mark_ok(mark_x, log_x);
    memset(L, 0, sizeof *L);
    s = L->s = (w >= 400 && h >= 280) ? 2 : 1;
    L->th = 7 * s;
    L->xy = 1;
    L->log_y = log_y != 0;
    L->has_left = 1;
    L->mark_row = has_mark;
    if (!nn_plot__xy_range(series, n_series, log_x, log_y, 1, &lo[0], &hi[0]) && !log_y) {
        lo[0] = 0.0; /* no data: 0..1, or 1..10 on a log axis */
        hi[0] = 1.0;
    }
    if (head > 0.0 && head < 0.6) {
        /* the axis pads 5% of its span at each end: a span S' = S / (1.05 - 1.1 head) leaves
           the data's top at least head * height below the top */
        double c0 = log_y ? log10(lo[0]) : lo[0], c1 = log_y ? log10(hi[0]) : hi[0];
        double span = (c1 - c0) / (1.05 - 1.1 * head);
        if (c1 > c0) hi[0] = log_y ? pow(10.0, c0 + span) : c0 + span;
    }
    if (!nn_plot__xy_range(series, n_series, log_x, log_y, 0, &xlo, &xhi)) {
        if (has_mark) {
            xlo = xhi = mark_x;
        } else if (!log_x) {
            xlo = 0.0;
            xhi = 1.0;
        }
    } else if (has_mark) {
        if (mark_x < xlo) xlo = mark_x;
        if (mark_x > xhi) xhi = mark_x;
    }
    nn_plot__frame_layout(L, w, h, title, yt, NULL, lo, hi);
    /* x ticks: as many as fit side by side; the last label may need the plot a little narrower */
    {
        int i, need, max_ticks = L->pw / (25 * s);
        char buf[64];
        for (i = 0; i < 2; i++) {
            double last;
            max_ticks = max_ticks < 2 ? 2 : (max_ticks > 12 ? 12 : max_ticks);
            nn_plot__axis_fit(&L->x, xlo, xhi, log_x, L->pw, s, 0, max_ticks);
            L->xlo = L->x.lo;
            L->xhi = L->x.hi;
            if (!L->show_labels || L->x.n_ticks < 1 || i == 1) break;
            last = nn_plot__tick(&L->x, L->x.n_ticks - 1);
            nn_plot__tick_label(buf, (int)sizeof buf, &L->x, last);
            need = (int)ceil(nn_plot__xpix_v(L, last)) + nn_plot__text_w(buf, s) / 2 + 6 * s - w;
            if (need <= 0 || L->pw - need < 32) break;
            L->pw -= need;
        }
    }
}

/* The dashed mark line (before the curves, which cross over it) and its label above the plot. */
static void nn_plot__mark(nn_plot__ctx *c, const nn_plot__curves_lay *L, double mark_x) {
    nn_plot__box plot = nn_plot__box_xywh(L->px, L->py, L->pw, L->ph);
    char buf[64];
    int s = L->s, y, w, x, tx;
    double xp = nn_plot__xpix_v(L, mark_x);
    x = (int)floor(xp - 0.5 * (s - 1)); /* s px wide, centred on xp */
    for (y = L->py; y < L->py + L->ph; y += 10 * s)
        nn_plot__fill(c->img, plot, x, y, s, 6 * s, NN_PLOT__MARK);
    if (!L->show_labels) return;
    nn_plot__fmt_num(buf, (int)sizeof buf, mark_x);
    w = nn_plot__text_w(buf, s);
    tx = (int)floor(xp) - w / 2 + s / 2;
    if (tx + w > L->px + L->pw) tx = L->px + L->pw - w;
    if (tx < L->px) tx = L->px;
    nn_plot__text(c, nn_plot__box_img(c->img), tx, L->py - 1 - 4 * s / 2 - L->th, buf, s,
                  NN_PLOT__MARK, 0);
}

NN_PLOTDEF int nn_plot_xy(nn_plot_image *img, const char *title, const char *x_axis_title,
                          const char *y_axis_title, int log_x, int log_y,
                          const nn_plot_xy_series *series, int n_series, double mark_x,
                          nn_plot_layout *layout) {
    nn_plot__ctx c;
    nn_plot__curves_lay L;
    int owned, r, i, pass, leg_h = 0;
    double head = 0.0;
    if (!nn_plot__image_ok(img)) return NN_PLOT_ERR_ARG;
    r = nn_plot__xy_check(series, n_series);
    if (r) return r;
    r = nn_plot__begin(&c, img, &owned);
    if (r) return r;
    /* pass 1 draws the curves; if every place for the legend would cover some, pass 2 draws
       them again under headroom as tall as the legend (top corners then free) */
    for (pass = 0; pass < 2; pass++) {
        nn_plot__xy_layout(&L, img->w, img->h, title, y_axis_title, log_x, log_y, series,
                           n_series, mark_x, head);
        r = nn_plot__plot_begin(&c, img, &L, owned);
        if (r) return r;
        nn_plot__grid(&c, &L);
        if (nn_plot__mark_ok(mark_x, log_x)) nn_plot__mark(&c, &L, mark_x);
        for (i = 0; i < n_series; i++)
            nn_plot__draw_line(&c, &L, &L.y[0], series[i].x, series[i].y, series[i].n, 0.0f,
                               nn_plot__series_col(i));
        if (pass || nn_plot__legend(&c, &L, NULL, series, n_series, NULL, 0, &leg_h) == 0) break;
        head = (leg_h + 12.0 * L.s + 4.0) / L.ph; /* the legend, its inset, a little air */
        if (head >= 0.6) break; /* the data would be squeezed too much: the legend covers some */
        NN_PLOT_FREE(c.mask);
        c.mask = NULL;
        memset(img->rgb, 255, (size_t)img->w * (size_t)img->h * 3);
    }
    nn_plot__axes(&c, &L, title, x_axis_title, y_axis_title, NULL, layout);
    nn_plot__legend(&c, &L, NULL, series, n_series, layout, 1, NULL);
    nn_plot__end(&c);
    return NN_PLOT_OK;
}

NN_PLOTDEF int nn_plot_xy_png(const char *path, int width, int height, const char *title,
                              const char *x_axis_title, const char *y_axis_title, int log_x,
                              int log_y, const nn_plot_xy_series *series, int n_series,
                              double mark_x) {
    nn_plot_image img;
    int r;
    img.rgb = NULL;
    img.w = width;
    img.h = height;
    if (!path || !nn_plot__image_ok(&img)) return NN_PLOT_ERR_ARG;
    r = nn_plot_xy(&img, title, x_axis_title, y_axis_title, log_x, log_y, series, n_series,
                   mark_x, NULL);
    if (r) return r;
    r = nn_plot_write_png(path, &img);
    nn_plot_image_free(&img);
    return r;
}

/* == 6. confusion matrix ===================================================== */

typedef struct nn_plot__conf_lay {
    int s, th, gap;   /* label text scale, its cap height, spacing */
    int count_scale;  /* scale of the counts in the cells; 0: they do not fit */
    int cell, grid;   /* cell side (its last row and column are a white seam), k * cell */
    int gx, gy;       /* grid origin */
    int true_x;       /* left edge of the rotated "true" title */
    int rotate_cols;  /* column names read bottom to top */
    int name_max;     /* widest class name allowed, pixels */
    int col_h;        /* height of the column-name band */
    int bar_x, bar_w; /* colour bar */
    int w, h;         /* image */
} nn_plot__conf_lay;

static int nn_plot__conf_check(const int *counts, int k) {
    int i;
    if (!counts || k < 1 || k > NN_PLOT__MAX_K) return NN_PLOT_ERR_ARG;
    for (i = 0; i < k * k; i++)
        if (counts[i] < 0) return NN_PLOT_ERR_ARG;
    return NN_PLOT_OK;
}

static int nn_plot__class_name(char *buf, int cap, const char *const *names, int i, int scale,
                               int max_w) {
    char num[16];
    const char *src = names ? names[i] : NULL;
    if (!src) {
        snprintf(num, sizeof num, "%d", i);
        src = num;
    }
    return nn_plot__fit(buf, cap, src, scale, max_w);
}

static void nn_plot__conf_layout(nn_plot__conf_lay *L, const int *counts, int k,
                                 const char *const *names, const char *title) {
    int i, maxc = 0, digits = 1, m = 10, rw = 0, content_w, title_w = 0, tw_max;
    char buf[NN_PLOT__TEXT_MAX + 8];
    memset(L, 0, sizeof *L);
    for (i = 0; i < k * k; i++)
        if (counts[i] > maxc) maxc = counts[i];
    for (i = maxc; i >= 10; i /= 10) digits++;
    /* cells: 44 px or room for the largest count at scale 2 (scale 1 past 10 digits... of 84 px),
       shrunk for large k so the grid stays within NN_PLOT__GRID_MAX */
    L->cell = 12 * digits + 12 > 44 ? 12 * digits + 12 : 44;
    if (L->cell > 84) L->cell = 6 * digits + 12 > 44 ? 6 * digits + 12 : 44;
    if (k * L->cell > NN_PLOT__GRID_MAX) L->cell = NN_PLOT__GRID_MAX / k;
    L->grid = k * L->cell;
    L->count_scale = 12 * digits + 8 <= L->cell ? 2 : (6 * digits + 4 <= L->cell ? 1 : 0);
    L->s = L->cell >= 24 ? 2 : 1;
    L->th = 7 * L->s;
    L->gap = 4 * L->s;
    L->name_max = 16 * 6 * L->s; /* about 16 characters */
    for (i = 0; i < k; i++) {
        int w = nn_plot__class_name(buf, NN_PLOT__TEXT_MAX, names, i, L->s, L->name_max);
        if (w > rw) rw = w;
    }
    L->rotate_cols = rw > L->cell - 4;
    L->col_h = L->rotate_cols ? rw : L->th;
    L->bar_w = 12 * L->s;
    /* left to right: "true", row names, ticks, grid, colour bar, its ticks and labels */
    content_w = L->th + 2 * L->gap + rw + L->gap + 5 + L->grid + 4 * L->gap + L->bar_w + 5 +
                L->gap + nn_plot__text_w("100%", L->s);
    if (title && title[0]) title_w = nn_plot__fit(buf, NN_PLOT__TEXT_MAX, title, 2, 4096);
    L->w = content_w + 2 * m;
    tw_max = L->w > 1024 ? L->w : 1024; /* a long title widens the image up to here, then is cut */
    if (title_w + 2 * m > L->w) L->w = title_w + 2 * m < tw_max ? title_w + 2 * m : tw_max;
    if (L->w < NN_PLOT__MIN_SIDE) L->w = NN_PLOT__MIN_SIDE;
    L->true_x = (L->w - content_w) / 2;
    L->gx = L->true_x + L->th + 2 * L->gap + rw + L->gap + 5;
    L->gy = m + (title && title[0] ? 14 + 8 : 0) + L->th;
    L->bar_x = L->gx + L->grid + 4 * L->gap;
    L->h = L->gy + L->grid + 5 + L->gap + L->col_h + 2 * L->gap + L->th + m;
    if (L->h < NN_PLOT__MIN_SIDE) L->h = NN_PLOT__MIN_SIDE;
}

/* matplotlib's "Blues" (ColorBrewer), white to dark blue, interpolated. */
static nn_plot__rgb nn_plot__blues(double t) {
    static const unsigned char st[9][3] = {{247, 251, 255}, {222, 235, 247}, {198, 219, 239},
                                           {158, 202, 225}, {107, 174, 214}, {66, 146, 198},
                                           {33, 113, 181},  {8, 81, 156},    {8, 48, 107}};
    double u;
    int i;
    if (!(t > 0.0)) t = 0.0;
    if (t > 1.0) t = 1.0;
    u = t * 8.0;
    i = (int)u;
    if (i > 7) i = 7;
    u -= i;
    return nn_plot__col((int)(st[i][0] + u * (st[i + 1][0] - st[i][0]) + 0.5),
                        (int)(st[i][1] + u * (st[i + 1][1] - st[i][1]) + 0.5),
                        (int)(st[i][2] + u * (st[i + 1][2] - st[i][2]) + 0.5));
}

static void nn_plot__conf_out(nn_plot_layout *out, const nn_plot__conf_lay *L) {
    memset(out, 0, sizeof *out);
    out->w = L->w;
    out->h = L->h;
    out->plot_x = L->gx;
    out->plot_y = L->gy;
    out->plot_w = L->grid;
    out->plot_h = L->grid;
    out->cell = L->cell;
}

NN_PLOTDEF int nn_plot_confusion_layout(nn_plot_layout *layout, const int *counts, int k,
                                        const char *const *class_names, const char *title) {
    nn_plot__conf_lay L;
    int r = nn_plot__conf_check(counts, k);
    if (r) return r;
    if (!layout) return NN_PLOT_ERR_ARG;
    nn_plot__conf_layout(&L, counts, k, class_names, title);
    nn_plot__conf_out(layout, &L);
    return NN_PLOT_OK;
}

NN_PLOTDEF int nn_plot_confusion(nn_plot_image *img, const int *counts, int k,
                                 const char *const *class_names, const char *title,
                                 nn_plot_layout *layout) {
    nn_plot__ctx c;
    nn_plot__conf_lay L;
    nn_plot__box all;
    char buf[NN_PLOT__TEXT_MAX + 8];
    int r, owned, i, j, s, th, gap, cell, w, cs;
    if (!img) return NN_PLOT_ERR_ARG;
    r = nn_plot__conf_check(counts, k);
    if (r) return r;
    nn_plot__conf_layout(&L, counts, k, class_names, title);
    if (img->rgb && (img->w != L.w || img->h != L.h)) return NN_PLOT_ERR_ARG;
    img->w = L.w;
    img->h = L.h;
    if (!nn_plot__image_ok(img)) return NN_PLOT_ERR_ARG; /* cannot happen: the grid is capped */
    r = nn_plot__begin(&c, img, &owned);
    if (r) return r;
    all = nn_plot__box_img(img);
    s = L.s;
    th = L.th;
    gap = L.gap;
    cell = L.cell;
    cs = L.count_scale;
    for (i = 0; i < k; i++) {
        double total = 0.0; /* double: a row of 256 large ints overflows int */
        for (j = 0; j < k; j++) total += counts[i * k + j];
        for (j = 0; j < k; j++) {
            int v = counts[i * k + j], x = L.gx + j * cell, y = L.gy + i * cell;
            int inner = cell >= 12 ? cell - 1 : cell; /* 1 px white seams unless cells are tiny */
            nn_plot__rgb col = nn_plot__blues(total > 0.0 ? v / total : 0.0), tc;
            nn_plot__fill(img, all, x, y, inner, inner, col);
            if (!cs) continue;
            if (0.299 * col.r + 0.587 * col.g + 0.114 * col.b < 150.0)
                tc = nn_plot__col(255, 255, 255);
            else
                tc = v ? NN_PLOT__TEXT : nn_plot__col(160, 160, 160); /* zeros recede */
            snprintf(buf, sizeof buf, "%d", v);
            nn_plot__text(&c, nn_plot__box_xywh(x, y, inner, inner),
                          x + (inner - nn_plot__text_w(buf, cs) + cs) / 2,
                          y + (inner - 7 * cs + 1) / 2, buf, cs, tc, 0);
        }
    }
    nn_plot__frame(img, all, L.gx - 1, L.gy - 1, L.grid + 1, L.grid + 1, NN_PLOT__AXIS);
    /* class names: rows right-aligned left of the grid, columns under it */
    for (i = 0; i < k; i++) {
        int mid = L.gy + i * cell + (cell - 1) / 2;
        w = nn_plot__class_name(buf, NN_PLOT__TEXT_MAX, class_names, i, s, L.name_max);
        nn_plot__fill(img, all, L.gx - 5, mid, 4, 1, NN_PLOT__AXIS);
        if (cell >= th + 2) /* else names would overlap; the tick marks remain */
            nn_plot__text(&c, all, L.gx - 5 - gap - w, mid - th / 2, buf, s, NN_PLOT__TEXT, 0);
        mid = L.gx + i * cell + (cell - 1) / 2;
        nn_plot__fill(img, all, mid, L.gy + L.grid, 1, 4, NN_PLOT__AXIS);
        if (cell < th + 2) continue;
        if (L.rotate_cols)
            nn_plot__text(&c, all, mid - th / 2, L.gy + L.grid + 5 + gap + w, buf, s, NN_PLOT__TEXT,
                          1);
        else
            nn_plot__text(&c, all, mid - (w - s) / 2, L.gy + L.grid + 5 + gap, buf, s,
                          NN_PLOT__TEXT, 0);
    }
    /* axis titles: "predicted" under the column names, "true" turned, left of the row names */
    w = nn_plot__text_w("predicted", s);
    nn_plot__text(&c, all, L.gx + (L.grid - w) / 2, L.gy + L.grid + 5 + gap + L.col_h + 2 * gap,
                  "predicted", s, NN_PLOT__TEXT, 0);
    w = nn_plot__text_w("true", s);
    nn_plot__text(&c, all, L.true_x, L.gy + (L.grid + w) / 2, "true", s, NN_PLOT__TEXT, 1);
    /* colour bar: the row fraction, 100% at the top */
    for (j = 0; j < L.grid; j++)
        nn_plot__fill(img, all, L.bar_x, L.gy + j, L.bar_w, 1,
                      nn_plot__blues(1.0 - (j + 0.5) / L.grid));
    nn_plot__frame(img, all, L.bar_x - 1, L.gy - 1, L.bar_w + 2, L.grid + 1, NN_PLOT__AXIS);
    {
        int n_lab = L.grid >= 8 * th ? 5 : (L.grid >= 4 * th ? 3 : 2);
        for (i = 0; i < n_lab; i++) {
            int pct = 100 * i / (n_lab - 1), y = L.gy + (int)((L.grid - 1) * (1.0 - pct / 100.0));
            snprintf(buf, sizeof buf, "%d%%", pct);
            nn_plot__fill(img, all, L.bar_x + L.bar_w + 1, y, 4, 1, NN_PLOT__AXIS);
            nn_plot__text(&c, all, L.bar_x + L.bar_w + 5 + gap, y - th / 2, buf, s, NN_PLOT__TEXT,
                          0);
        }
    }
    if (title && title[0]) {
        w = nn_plot__fit(buf, NN_PLOT__TEXT_MAX, title, 2, img->w - 20);
        nn_plot__text(&c, all, (img->w - w) / 2, 10, buf, 2, nn_plot__col(0, 0, 0), 0);
        nn_plot__text(&c, all, (img->w - w) / 2 + 1, 10, buf, 2, nn_plot__col(0, 0, 0), 0);
    }
    nn_plot__end(&c);
    if (layout) nn_plot__conf_out(layout, &L);
    return NN_PLOT_OK;
}

NN_PLOTDEF int nn_plot_confusion_png(const char *path, const int *counts, int k,
                                     const char *const *class_names, const char *title) {
    nn_plot_image img;
    int r;
    if (!path) return NN_PLOT_ERR_ARG;
    img.rgb = NULL;
    img.w = img.h = 0;
    r = nn_plot_confusion(&img, counts, k, class_names, title, NULL);
    if (r) return r;
    r = nn_plot_write_png(path, &img);
    nn_plot_image_free(&img);
    return r;
}

/* == 7. PNG output, results ================================================= */

typedef struct nn_plot__file {
    FILE *f;
    int failed;
} nn_plot__file;

static void nn_plot__write(void *ctx, void *data, int size) {
    nn_plot__file *w = (nn_plot__file *)ctx;
    if (!w->failed && size > 0 && fwrite(data, 1, (size_t)size, w->f) != (size_t)size)
        w->failed = 1;
}

NN_PLOTDEF int nn_plot_write_png(const char *path, const nn_plot_image *img) {
    nn_plot__file out;
    int ok;
    if (!path || !nn_plot__image_ok(img) || !img->rgb) return NN_PLOT_ERR_ARG;
    out.f = fopen(path, "wb");
    out.failed = 0;
    if (!out.f) return NN_PLOT_ERR_IO;
    /* through a callback, so a short write (disk full) is seen, not just a failed fopen */
    ok = stbi_write_png_to_func(nn_plot__write, &out, img->w, img->h, 3, img->rgb, img->w * 3);
    if (fclose(out.f) != 0) out.failed = 1;
    if (!ok || out.failed) {
        remove(path);
        return ok ? NN_PLOT_ERR_IO : NN_PLOT_ERR_MEM; /* stb fails only when its malloc does */
    }
    return NN_PLOT_OK;
}

NN_PLOTDEF void nn_plot_image_free(nn_plot_image *img) {
    if (!img) return;
    if (img->rgb) NN_PLOT_FREE(img->rgb);
    img->rgb = NULL;
}

NN_PLOTDEF const char *nn_plot_result_string(int result) {
    switch (result) {
    case NN_PLOT_OK: return "ok";
    case NN_PLOT_ERR_ARG: return "invalid argument (NULL pointer, size or count out of range)";
    case NN_PLOT_ERR_MEM: return "out of memory";
    case NN_PLOT_ERR_IO: return "cannot write the file";
    default: return "unknown nn_plot result";
    }
}

#endif /* NN_PLOT__IMPLEMENTATION_DONE */
#endif /* NN_PLOT_IMPLEMENTATION */

/*
------------------------------------------------------------------------------
MIT License

Copyright (c) 2026 the nn.h authors

Permission is hereby granted, free of charge, to any person obtaining a copy of
this software and associated documentation files (the "Software"), to deal in
the Software without restriction, including without limitation the rights to
use, copy, modify, merge, publish, distribute, sublicense, and/or sell copies
of the Software, and to permit persons to whom the Software is furnished to do
so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
------------------------------------------------------------------------------
*/
