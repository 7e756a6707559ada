/* optimizers.c - every nn.h optimizer on two 2-D loss surfaces, drawn as heatmaps.

   cc -O2 -o optimizers examples/optimizers.c -lm && ./optimizers

   What it teaches: nn_optim_step updates any float vector, not only a model's
   parameters. Here the "model" is one point (x, y) whose gradient is written
   by hand, so each optimizer's character shows as a path: SGD, SGD with
   momentum (PyTorch form), Nesterov, classic momentum, Adagrad, RMSprop, Adam,
   AdamW, Lookahead over Adam, and L-BFGS driven by a closure with a
   strong-Wolfe line search, all from the same start on
     z = sin(x^2+y^2) + (x^2+y^2) + 2 sin(3x) sin(3y)   (a bowl full of local minima)
     z = (1-x)^2 + 100 (y-x^2)^2                        (Rosenbrock's curved valley)
   It prints each optimizer's steps to converge (and gradient evaluations,
   which differ only for L-BFGS), final loss and final point, and writes
   optimizers_sin.png and optimizers_rosenbrock.png (into the directory argv[1]
   when given): a log-scaled heatmap with every path on it.
   What to look for: on the sin surface SGD, Adagrad and L-BFGS settle in the
   nearest local minimum; momentum (PyTorch form and Nesterov) carries over
   the ridge into a global one, classic momentum annealed up from 0.5 does
   not. Adam and AdamW at lr 0.2 jump out too but take thousands of steps to
   settle; Lookahead's pull-back keeps Adam in the local minimum, where it
   hovers like RMSprop, never settling at a constant lr. On Rosenbrock every
   method finds the valley at once and then crawls along it: the momentum
   methods, Adam and Lookahead(Adam) reach (1, 1), L-BFGS in a few dozen
   iterations; SGD, Adagrad and RMSprop are still crawling after 5000 steps,
   and AdamW's decoupled weight decay holds it short of (1, 1).
   The PNG writer is stb_image_write.h (Debian/Ubuntu: apt-get install libstb-dev). */
#define NN_IMPLEMENTATION
#include "../nn.h"

#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image_write.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

#define MAX_STEPS 5000 /* budget per optimizer */
#define N_METHODS 10
#define PLOT 800       /* the heatmap is PLOT x PLOT pixels */
#define PANEL 420      /* legend panel to its right */
#define IMG_W (PLOT + PANEL)
#define IMG_H PLOT
#define MAX_MINIMA 4

/* ---- the surfaces, with analytic gradients ------------------------------ */
static double sin_surface(double x, double y, double *gx, double *gy) {
    double r2 = x * x + y * y, c = cos(r2);
    *gx = 2.0 * x * c + 2.0 * x + 6.0 * cos(3.0 * x) * sin(3.0 * y);
    *gy = 2.0 * y * c + 2.0 * y + 6.0 * sin(3.0 * x) * cos(3.0 * y);
    return sin(r2) + r2 + 2.0 * sin(3.0 * x) * sin(3.0 * y);
}

static double rosenbrock(double x, double y, double *gx, double *gy) {
    double a = 1.0 - x, b = y - x * x;
    *gx = -2.0 * a - 400.0 * x * b;
    *gy = 200.0 * b;
    return a * a + 100.0 * b * b;
}

typedef struct surface {
    const char *name, *file, *formula;
    const char *legend[3];                  /* the formula in lines for the legend panel */
    double (*f)(double x, double y, double *gx, double *gy);
    double xmin, xmax, ymin, ymax;          /* what the heatmap shows */
    double log_floor;                       /* colour is log(z - best + log_floor) */
    float start[2];
    float lr[N_METHODS];                    /* each optimizer's learning rate here */
    double best;                            /* best known minimum, searched for below */
    double best_xy[MAX_MINIMA][2];          /* where it is */
    int n_best;
} surface;

/* ---- the optimizers ------------------------------------------------------ */
typedef struct method {
    const char *name;
    unsigned char rgb[3];
    nn_optim_kind kind;
    float momentum;
    int nesterov, classic, lookahead, lbfgs;
} method;

static const method methods[N_METHODS] = {
    {"SGD", {255, 255, 255}, NN_OPTIM_SGD, 0.0f, 0, 0, 0, 0},
    {"SGD+momentum", {230, 25, 75}, NN_OPTIM_SGD, 0.9f, 0, 0, 0, 0},
    {"Nesterov", {245, 130, 48}, NN_OPTIM_SGD, 0.9f, 1, 0, 0, 0},
    {"classic momentum", {250, 190, 212}, NN_OPTIM_SGD, 0.9f, 0, 1, 0, 0},
    {"Adagrad", {70, 240, 240}, NN_OPTIM_ADAGRAD, 0.0f, 0, 0, 0, 0},
    {"RMSprop", {210, 245, 60}, NN_OPTIM_RMSPROP, 0.0f, 0, 0, 0, 0},
    {"Adam", {255, 225, 25}, NN_OPTIM_ADAM, 0.0f, 0, 0, 0, 0},
    {"AdamW", {240, 50, 230}, NN_OPTIM_ADAMW, 0.0f, 0, 0, 0, 0},
    {"Lookahead(Adam)", {145, 150, 255}, NN_OPTIM_ADAM, 0.0f, 0, 0, 1, 0},
    {"L-BFGS", {170, 110, 40}, NN_OPTIM_SGD, 0.0f, 0, 0, 0, 1}, /* kind unused: nn_lbfgs */
};

typedef struct run {
    float path[MAX_STEPS + 1][2]; /* the start, then the point after each step */
    long evals[MAX_STEPS + 1];    /* gradient evaluations so far */
    int converged;                /* first step from which it stays converged, or -1 */
} run;

static run runs[N_METHODS];

static double grad_norm(const surface *s, const float *p, double *z) {
    double gx, gy;
    *z = s->f(p[0], p[1], &gx, &gy);
    return sqrt(gx * gx + gy * gy);
}

/* Converged: a stationary point (|grad| < 1e-3, possibly a local minimum) or
   within 1e-4 of the best known minimum. NaN is never converged. */
static int is_converged(const surface *s, const float *p) {
    double z, g = grad_norm(s, p, &z);
    return g < 1e-3 || z - s->best < 1e-4;
}

/* The closure L-BFGS calls: the loss at x and its gradient. */
static float closure(const float *x, float *grad, size_t n, void *user) {
    const surface *s = (const surface *)user;
    double gx, gy, z = s->f(x[0], x[1], &gx, &gy);
    (void)n;
    grad[0] = (float)gx;
    grad[1] = (float)gy;
    return (float)z;
}

static int run_method(const surface *s, int m, run *r) {
    static unsigned char mem[16 * 1024]; /* optimizer state for 2 parameters, with room */
    const method *me = &methods[m];
    nn_arena arena;
    float xy[2];
    int t, last_bad = -1;

    nn_arena_init(&arena, mem, sizeof mem);
    xy[0] = s->start[0];
    xy[1] = s->start[1];
    r->path[0][0] = xy[0];
    r->path[0][1] = xy[1];
    r->evals[0] = 0;
    if (me->lbfgs) {
        /* One nn_lbfgs_step with max_iter = 1 is one L-BFGS iteration (the
           history carries over between calls), so the path has a point per
           iteration; the line search's trial points are not drawn. evals
           counts every closure call, line search included, and each call of
           nn_lbfgs_step first evaluates its starting point again: one more
           per iteration than a single call with a large max_iter makes. */
        nn_lbfgs_desc ld;
        nn_lbfgs lb;
        ld = nn_lbfgs_desc_default();
        ld.lr = s->lr[m]; ld.max_iter = 1; ld.strong_wolfe = 1;
        if (nn_lbfgs_init(&lb, &arena, &ld, 2) != NN_OK) return 0;
        for (t = 1; t <= MAX_STEPS; t++) {
            nn_lbfgs_step(&lb, xy, closure, (void *)s);
            r->path[t][0] = xy[0];
            r->path[t][1] = xy[1];
            r->evals[t] = lb.func_evals;
        }
    } else {
        nn_optim_desc od;
        nn_optim opt;
        od = nn_optim_desc_default(me->kind);
        od.lr = s->lr[m];
        od.momentum = me->momentum;
        od.nesterov = me->nesterov;
        od.classic_momentum = me->classic;
        if (me->lookahead) { od.lookahead_k = 5; od.lookahead_alpha = 0.5f; }
        if (nn_optim_init(&opt, &arena, &od, 2) != NN_OK) return 0;
        for (t = 1; t <= MAX_STEPS; t++) {
            float grad[2];
            closure(xy, grad, 2, (void *)s);
            /* With a constant lr and momentum, classic momentum (v = mu v - lr g;
               w += v) moves exactly like the PyTorch form (v = mu v + g;
               w -= lr v). It differs once either changes: here momentum is
               annealed from 0.5 to 0.9 over the first 100 steps, the recipe
               that goes with it. */
            if (me->classic) opt.d.momentum = nn_momentum_anneal(0.5f, 0.9f, t - 1, 100);
            nn_optim_step(&opt, xy, grad, 2);
            r->path[t][0] = xy[0];
            r->path[t][1] = xy[1];
            r->evals[t] = t;
        }
    }
    for (t = 0; t <= MAX_STEPS; t++)
        if (!is_converged(s, r->path[t])) last_bad = t;
    r->converged = last_bad < MAX_STEPS ? last_bad + 1 : -1;
    return 1;
}

/* The best known minimum: every local minimum of a coarse grid over the view,
   polished by gradient descent with backtracking in double precision. The
   lowest value is the best; every point that reaches it is kept (the sin
   surface has two, mirror images through the origin). */
static void find_minima(surface *s) {
    const int n = 100;
    int i, j, di, dj, k;
    s->best = HUGE_VAL;
    s->n_best = 0;
    for (j = 1; j < n - 1; j++)
        for (i = 1; i < n - 1; i++) {
            double x = s->xmin + i * (s->xmax - s->xmin) / (n - 1), y = s->ymin + j * (s->ymax - s->ymin) / (n - 1);
            double gx, gy, z = s->f(x, y, &gx, &gy), step = 1e-3;
            int lowest = 1;
            for (dj = -1; dj <= 1; dj++)
                for (di = -1; di <= 1; di++)
                    if ((di || dj) && s->f(x + di * (s->xmax - s->xmin) / (n - 1),
                                           y + dj * (s->ymax - s->ymin) / (n - 1), &gx, &gy) < z)
                        lowest = 0;
            if (!lowest) continue;
            for (k = 0; k < 20000; k++) {
                double nx, ny, nz, hx, hy;
                z = s->f(x, y, &gx, &gy);
                for (step *= 2.0;; step *= 0.5) { /* halve until the loss drops enough */
                    nx = x - step * gx;
                    ny = y - step * gy;
                    nz = s->f(nx, ny, &hx, &hy);
                    if (nz <= z - 0.5 * step * (gx * gx + gy * gy) || step < 1e-12) break;
                }
                x = nx;
                y = ny;
            }
            z = s->f(x, y, &gx, &gy);
            if (z < s->best - 1e-9) {
                s->best = z;
                s->n_best = 0;
            }
            if (z < s->best + 1e-9 && s->n_best < MAX_MINIMA) {
                for (k = 0; k < s->n_best; k++)
                    if (fabs(s->best_xy[k][0] - x) + fabs(s->best_xy[k][1] - y) < 1e-3) break;
                if (k == s->n_best) {
                    s->best_xy[k][0] = x;
                    s->best_xy[k][1] = y;
                    s->n_best++;
                }
            }
        }
}

/* ---- drawing ---------------------------------------------------------------- */
static unsigned char img[IMG_H][IMG_W][3];

static void put(int x, int y, const unsigned char *c) {
    if (x < 0 || y < 0 || x >= IMG_W || y >= IMG_H) return;
    img[y][x][0] = c[0];
    img[y][x][1] = c[1];
    img[y][x][2] = c[2];
}

static void fill_rect(int x, int y, int w, int h, const unsigned char *c) {
    int i, j;
    for (j = y; j < y + h; j++)
        for (i = x; i < x + w; i++) put(i, j, c);
}

static void disc(double cx, double cy, double r, const unsigned char *c) {
    int i, j;
    if (!(cx > -r && cx < IMG_W + r && cy > -r && cy < IMG_H + r)) return; /* off the image, or NaN */
    for (j = (int)floor(cy - r); j <= (int)ceil(cy + r); j++)
        for (i = (int)floor(cx - r); i <= (int)ceil(cx + r); i++)
            if ((i + 0.5 - cx) * (i + 0.5 - cx) + (j + 0.5 - cy) * (j + 0.5 - cy) <= r * r) put(i, j, c);
}

static const unsigned char black[3] = {0, 0, 0}, white[3] = {255, 255, 255};
static const unsigned char panel[3] = {24, 24, 30}, grey[3] = {170, 170, 180};

static void ring(double cx, double cy) { /* the start marker */
    disc(cx, cy, 8.0, black);
    disc(cx, cy, 6.0, white);
    disc(cx, cy, 3.0, black);
}

static void cross(double cx, double cy, int arm) { /* the best known minimum */
    int x = (int)floor(cx), y = (int)floor(cy);
    if (!(cx > -arm && cx < IMG_W + arm && cy > -arm && cy < IMG_H + arm)) return;
    fill_rect(x - arm - 1, y - 2, 2 * arm + 3, 5, black);
    fill_rect(x - 2, y - arm - 1, 5, 2 * arm + 3, black);
    fill_rect(x - arm, y - 1, 2 * arm + 1, 3, white);
    fill_rect(x - 1, y - arm, 3, 2 * arm + 1, white);
}

/* A line `width` pixels wide, clipped to the plot (Liang-Barsky) first so a
   path that flies off to 1e30 costs nothing. */
static void line(double x0, double y0, double x1, double y1, double width, const unsigned char *c) {
    double t0 = 0.0, t1 = 1.0, dx = x1 - x0, dy = y1 - y0, p[4], q[4], len;
    int k, n;
    if (!(x0 == x0 && y0 == y0 && x1 == x1 && y1 == y1)) return; /* NaN */
    p[0] = -dx; q[0] = x0 + 8.0;
    p[1] = dx;  q[1] = PLOT + 8.0 - x0;
    p[2] = -dy; q[2] = y0 + 8.0;
    p[3] = dy;  q[3] = PLOT + 8.0 - y0;
    for (k = 0; k < 4; k++) {
        if (p[k] == 0.0) {
            if (q[k] < 0.0) return;
        } else {
            double r = q[k] / p[k];
            if (p[k] < 0.0) { if (r > t1) return; if (r > t0) t0 = r; }
            else { if (r < t0) return; if (r < t1) t1 = r; }
        }
    }
    x1 = x0 + t1 * dx; y1 = y0 + t1 * dy;
    x0 = x0 + t0 * dx; y0 = y0 + t0 * dy;
    len = sqrt((x1 - x0) * (x1 - x0) + (y1 - y0) * (y1 - y0));
    n = (int)(len * 2.0) + 1;
    for (k = 0; k <= n; k++) {
        double t = (double)k / n;
        disc(x0 + t * (x1 - x0), y0 + t * (y1 - y0), width / 2.0, c);
    }
}

/* Viridis-like: nine stops of matplotlib's viridis, linearly interpolated. */
static void colormap(double t, unsigned char *c) {
    static const unsigned char stops[9][3] = {{68, 1, 84},    {71, 44, 122},  {59, 81, 139},
                                              {44, 113, 142}, {33, 144, 141}, {39, 173, 129},
                                              {92, 200, 99},  {170, 220, 50}, {253, 231, 37}};
    int i, k;
    double f;
    t = t < 0.0 ? 0.0 : t > 1.0 ? 1.0 : t;
    i = (int)(t * 8.0);
    if (i > 7) i = 7;
    f = t * 8.0 - i;
    for (k = 0; k < 3; k++) c[k] = (unsigned char)(stops[i][k] + f * (stops[i + 1][k] - stops[i][k]) + 0.5);
}

/* A 5x7 bitmap font (letters, digits, a little punctuation) for the legend:
   one byte per row, bit 4 is the leftmost pixel. Anything else draws as a space. */
static const struct glyph { char c; unsigned char rows[7]; } font[] = {
    {'A',{0x0E,0x11,0x11,0x1F,0x11,0x11,0x11}},{'B',{0x1E,0x11,0x11,0x1E,0x11,0x11,0x1E}},{'C',{0x0E,0x11,0x10,0x10,0x10,0x11,0x0E}},
    {'D',{0x1C,0x12,0x11,0x11,0x11,0x12,0x1C}},{'E',{0x1F,0x10,0x10,0x1E,0x10,0x10,0x1F}},{'F',{0x1F,0x10,0x10,0x1E,0x10,0x10,0x10}},
    {'G',{0x0E,0x11,0x10,0x17,0x11,0x11,0x0F}},{'H',{0x11,0x11,0x11,0x1F,0x11,0x11,0x11}},{'I',{0x0E,0x04,0x04,0x04,0x04,0x04,0x0E}},
    {'J',{0x07,0x02,0x02,0x02,0x02,0x12,0x0C}},{'K',{0x11,0x12,0x14,0x18,0x14,0x12,0x11}},{'L',{0x10,0x10,0x10,0x10,0x10,0x10,0x1F}},
    {'M',{0x11,0x1B,0x15,0x15,0x11,0x11,0x11}},{'N',{0x11,0x11,0x19,0x15,0x13,0x11,0x11}},{'O',{0x0E,0x11,0x11,0x11,0x11,0x11,0x0E}},
    {'P',{0x1E,0x11,0x11,0x1E,0x10,0x10,0x10}},{'Q',{0x0E,0x11,0x11,0x11,0x15,0x12,0x0D}},{'R',{0x1E,0x11,0x11,0x1E,0x14,0x12,0x11}},
    {'S',{0x0F,0x10,0x10,0x0E,0x01,0x01,0x1E}},{'T',{0x1F,0x04,0x04,0x04,0x04,0x04,0x04}},{'U',{0x11,0x11,0x11,0x11,0x11,0x11,0x0E}},
    {'V',{0x11,0x11,0x11,0x11,0x11,0x0A,0x04}},{'W',{0x11,0x11,0x11,0x15,0x15,0x15,0x0A}},{'X',{0x11,0x11,0x0A,0x04,0x0A,0x11,0x11}},
    {'Y',{0x11,0x11,0x0A,0x04,0x04,0x04,0x04}},{'Z',{0x1F,0x01,0x02,0x04,0x08,0x10,0x1F}},{'a',{0x00,0x00,0x0E,0x01,0x0F,0x11,0x0F}},
    {'b',{0x10,0x10,0x16,0x19,0x11,0x11,0x1E}},{'c',{0x00,0x00,0x0E,0x10,0x10,0x11,0x0E}},{'d',{0x01,0x01,0x0D,0x13,0x11,0x11,0x0F}},
    {'e',{0x00,0x00,0x0E,0x11,0x1F,0x10,0x0E}},{'f',{0x06,0x09,0x08,0x1C,0x08,0x08,0x08}},{'g',{0x00,0x00,0x0F,0x11,0x0F,0x01,0x0E}},
    {'h',{0x10,0x10,0x16,0x19,0x11,0x11,0x11}},{'i',{0x04,0x00,0x0C,0x04,0x04,0x04,0x0E}},{'j',{0x02,0x00,0x06,0x02,0x02,0x12,0x0C}},
    {'k',{0x10,0x10,0x12,0x14,0x18,0x14,0x12}},{'l',{0x0C,0x04,0x04,0x04,0x04,0x04,0x0E}},{'m',{0x00,0x00,0x1A,0x15,0x15,0x11,0x11}},
    {'n',{0x00,0x00,0x16,0x19,0x11,0x11,0x11}},{'o',{0x00,0x00,0x0E,0x11,0x11,0x11,0x0E}},{'p',{0x00,0x00,0x1E,0x11,0x1E,0x10,0x10}},
    {'q',{0x00,0x00,0x0D,0x13,0x0F,0x01,0x01}},{'r',{0x00,0x00,0x16,0x19,0x10,0x10,0x10}},{'s',{0x00,0x00,0x0E,0x10,0x0E,0x01,0x1E}},
    {'t',{0x08,0x08,0x1C,0x08,0x08,0x09,0x06}},{'u',{0x00,0x00,0x11,0x11,0x11,0x13,0x0D}},{'v',{0x00,0x00,0x11,0x11,0x11,0x0A,0x04}},
    {'w',{0x00,0x00,0x11,0x11,0x15,0x15,0x0A}},{'x',{0x00,0x00,0x11,0x0A,0x04,0x0A,0x11}},{'y',{0x00,0x00,0x11,0x11,0x0F,0x01,0x0E}},
    {'z',{0x00,0x00,0x1F,0x02,0x04,0x08,0x1F}},{'0',{0x0E,0x11,0x13,0x15,0x19,0x11,0x0E}},{'1',{0x04,0x0C,0x04,0x04,0x04,0x04,0x0E}},
    {'2',{0x0E,0x11,0x01,0x02,0x04,0x08,0x1F}},{'3',{0x1F,0x02,0x04,0x02,0x01,0x11,0x0E}},{'4',{0x02,0x06,0x0A,0x12,0x1F,0x02,0x02}},
    {'5',{0x1F,0x10,0x1E,0x01,0x01,0x11,0x0E}},{'6',{0x06,0x08,0x10,0x1E,0x11,0x11,0x0E}},{'7',{0x1F,0x01,0x02,0x04,0x08,0x08,0x08}},
    {'8',{0x0E,0x11,0x11,0x0E,0x11,0x11,0x0E}},{'9',{0x0E,0x11,0x11,0x0F,0x01,0x02,0x0C}},{'.',{0x00,0x00,0x00,0x00,0x00,0x0C,0x0C}},
    {',',{0x00,0x00,0x00,0x00,0x0C,0x04,0x08}},{':',{0x00,0x0C,0x0C,0x00,0x0C,0x0C,0x00}},{'+',{0x00,0x04,0x04,0x1F,0x04,0x04,0x00}},
    {'-',{0x00,0x00,0x00,0x1F,0x00,0x00,0x00}},{'=',{0x00,0x00,0x1F,0x00,0x1F,0x00,0x00}},{'(',{0x02,0x04,0x08,0x08,0x08,0x04,0x02}},
    {')',{0x08,0x04,0x02,0x02,0x02,0x04,0x08}},{'^',{0x04,0x0A,0x11,0x00,0x00,0x00,0x00}},{'*',{0x00,0x04,0x15,0x0E,0x15,0x04,0x00}},
    {'/',{0x00,0x01,0x02,0x04,0x08,0x10,0x00}},{'<',{0x02,0x04,0x08,0x10,0x08,0x04,0x02}},{'>',{0x08,0x04,0x02,0x01,0x02,0x04,0x08}},
    {'_',{0x00,0x00,0x00,0x00,0x00,0x00,0x1F}},
};

static void text(int x, int y, const char *s, int scale, const unsigned char *c) {
    int k, r, b;
    for (; *s; s++, x += 6 * scale)
        for (k = 0; k < (int)(sizeof font / sizeof font[0]); k++) {
            if (font[k].c != *s) continue;
            for (r = 0; r < 7; r++)
                for (b = 0; b < 5; b++)
                    if (font[k].rows[r] & (0x10 >> b)) fill_rect(x + b * scale, y + r * scale, scale, scale, c);
            break;
        }
}

static void text_right(int right, int y, const char *s, int scale, const unsigned char *c) {
    text(right - (6 * (int)strlen(s) - 1) * scale, y, s, scale, c);
}

/* %.4g, but a value that is zero up to rounding prints as 0 */
static const char *number(char *buf, double v) {
    sprintf(buf, "%.4g", fabs(v) < 1e-9 ? 0.0 : v);
    return buf;
}

static double to_px(const surface *s, double x) { return (x - s->xmin) / (s->xmax - s->xmin) * PLOT; }
static double to_py(const surface *s, double y) { return (s->ymax - y) / (s->ymax - s->ymin) * PLOT; }

/* Where each optimizer ended: a dot in its colour. Optimizers that ended on
   the same spot share one bigger dot, cut into a wedge each, drawn last. */
static void end_markers(const surface *s) {
    int group_of[N_METHODS], members[N_METHODS], pass, m, k, n, i, j;
    for (m = 0; m < N_METHODS; m++) { /* group with the first earlier optimizer within 4 px */
        double cx = to_px(s, runs[m].path[MAX_STEPS][0]), cy = to_py(s, runs[m].path[MAX_STEPS][1]);
        group_of[m] = m;
        for (k = 0; k < m; k++) {
            double dx = to_px(s, runs[k].path[MAX_STEPS][0]) - cx, dy = to_py(s, runs[k].path[MAX_STEPS][1]) - cy;
            if (group_of[k] == k && dx * dx + dy * dy < 16.0) {
                group_of[m] = k;
                break;
            }
        }
    }
    for (pass = 0; pass < 2; pass++)
        for (m = 0; m < N_METHODS; m++) {
            double cx = to_px(s, runs[m].path[MAX_STEPS][0]), cy = to_py(s, runs[m].path[MAX_STEPS][1]), r;
            if (group_of[m] != m) continue;
            for (n = 0, k = m; k < N_METHODS; k++)
                if (group_of[k] == m) members[n++] = k;
            if ((n > 1) != pass) continue;
            r = n > 1 ? 9.0 : 4.5;
            disc(cx, cy, r + 1.5, black);
            if (!(cx > -r && cx < PLOT + r && cy > -r && cy < PLOT + r)) continue; /* off the plot, or NaN */
            for (j = (int)floor(cy - r); j <= (int)ceil(cy + r); j++)
                for (i = (int)floor(cx - r); i <= (int)ceil(cx + r); i++) {
                    double dx = i + 0.5 - cx, dy = j + 0.5 - cy;
                    int w = (int)((atan2(dy, dx) / (2.0 * 3.14159265358979) + 0.5) * n) % n; /* its wedge */
                    if (dx * dx + dy * dy <= r * r) put(i, j, methods[members[w]].rgb);
                }
        }
}

static void render(const surface *s) {
    static float level[PLOT][PLOT];
    double zmax = -HUGE_VAL, lo, hi, gx, gy;
    char buf[64];
    int i, j, k, m, x, y, right;

    /* log-scaled height above the best known minimum, with a contour line
       wherever the colour crosses one of 16 bands */
    for (j = 0; j < PLOT; j++)
        for (i = 0; i < PLOT; i++) {
            double px = s->xmin + (i + 0.5) * (s->xmax - s->xmin) / PLOT;
            double py = s->ymax - (j + 0.5) * (s->ymax - s->ymin) / PLOT;
            double z = s->f(px, py, &gx, &gy);
            level[j][i] = (float)z;
            if (z > zmax) zmax = z;
        }
    lo = log(s->log_floor);
    hi = log(zmax - s->best + s->log_floor);
    for (j = 0; j < PLOT; j++)
        for (i = 0; i < PLOT; i++)
            level[j][i] = (float)((log(level[j][i] - s->best + s->log_floor) - lo) / (hi - lo));
    for (j = 0; j < PLOT; j++)
        for (i = 0; i < PLOT; i++) {
            unsigned char c[3];
            int band = (int)(level[j][i] * 16.0f);
            int edge = (i + 1 < PLOT && (int)(level[j][i + 1] * 16.0f) != band) ||
                       (j + 1 < PLOT && (int)(level[j + 1][i] * 16.0f) != band);
            colormap(level[j][i], c);
            for (k = 0; k < 3; k++) c[k] = (unsigned char)(c[k] * (edge ? 0.55 : 0.85)); /* dimmed: paths pop */
            put(i, j, c);
        }

    /* paths: a black casing under every path first, so each colour reads on any background */
    for (k = 0; k < 2; k++)
        for (m = 0; m < N_METHODS; m++) {
            const run *r = &runs[m];
            for (i = 1; i <= MAX_STEPS; i++)
                line(to_px(s, r->path[i - 1][0]), to_py(s, r->path[i - 1][1]), to_px(s, r->path[i][0]),
                     to_py(s, r->path[i][1]), k == 0 ? 4.0 : 2.0, k == 0 ? black : methods[m].rgb);
        }
    for (m = 0; m < s->n_best; m++) cross(to_px(s, s->best_xy[m][0]), to_py(s, s->best_xy[m][1]), 14);
    end_markers(s);
    ring(to_px(s, s->start[0]), to_py(s, s->start[1]));

    /* the legend panel, drawn last: it also covers whatever spilled over the edge */
    fill_rect(PLOT, 0, PANEL, IMG_H, panel);
    x = PLOT + 16;
    right = IMG_W - 16;
    y = 16;
    text(x, y, s->name, 3, white);
    y += 34;
    for (k = 0; k < 3 && s->legend[k]; k++, y += 20) text(x, y, s->legend[k], 2, grey);
    y += 6;
    sprintf(buf, "x %g to %g, y %g to %g", s->xmin, s->xmax, s->ymin, s->ymax);
    text(x, y, buf, 2, grey);
    y += 26;
    for (k = x; k < right; k++) { /* colour bar */
        unsigned char c[3];
        colormap((double)(k - x) / (right - 1 - x), c);
        fill_rect(k, y, 1, 14, c);
    }
    y += 20;
    text(x, y, number(buf, s->best), 2, grey);
    text((x + right) / 2 - 9 * 6, y, "log scale", 2, grey);
    text_right(right, y, number(buf, zmax), 2, grey);
    y += 36;
    for (m = 0; m < N_METHODS; m++, y += 42) {
        const run *r = &runs[m];
        double z;
        fill_rect(x, y + 3, 28, 8, black);
        fill_rect(x + 1, y + 5, 26, 4, methods[m].rgb);
        text(x + 38, y, methods[m].name, 2, white);
        grad_norm(s, r->path[MAX_STEPS], &z);
        sprintf(buf, "z %.3g", z);
        text_right(right, y, buf, 2, white);
        if (methods[m].lbfgs) sprintf(buf, "lr %g, strong Wolfe", s->lr[m]);
        else sprintf(buf, "lr %g", s->lr[m]);
        text(x + 38, y + 18, buf, 2, grey);
        if (r->converged >= 0) sprintf(buf, "%d steps", r->converged);
        else strcpy(buf, "not converged");
        text_right(right, y + 18, buf, 2, grey);
    }
    y = IMG_H - 30; /* what the markers mean */
    ring(x + 8, y + 7);
    text(x + 24, y, "start", 2, grey);
    cross(x + 112, y + 7, 7);
    text(x + 128, y, "best", 2, grey);
    disc(x + 200, y + 7, 6.0, black);
    disc(x + 200, y + 7, 4.5, grey);
    text(x + 214, y, "end", 2, grey);
}

/* Learning rates, found by trying round values on each surface. The four SGD
   variants share one, so momentum is the only difference between them, and
   the three Adam variants share one. On Rosenbrock SGD diverges from 0.005
   up, and at 0.001 the momentum methods already zig-zag down the steep valley
   wall (Nesterov widest); on the sin surface Adam needs 0.2 to jump out of the
   first local minimum it meets. L-BFGS takes lr 1 and lets the line search
   choose the step. */
static surface surfaces[2] = {
    {"sin surface", "optimizers_sin.png", "z = sin(x^2+y^2) + (x^2+y^2) + 2 sin(3x) sin(3y)",
     {"z = sin(x^2+y^2)", "  + (x^2+y^2)", "  + 2 sin(3x) sin(3y)"},
     sin_surface, -1.5, 3.0, -1.5, 3.0, 0.05, {2.2f, 1.7f},
     /* SGD  +mom   Nest.  class. Adagr. RMSp.  Adam  AdamW Lookah. L-BFGS */
     {0.01f, 0.01f, 0.01f, 0.01f, 0.5f, 0.01f, 0.2f, 0.2f, 0.2f, 1.0f}, 0.0, {{0.0, 0.0}}, 0},
    {"Rosenbrock", "optimizers_rosenbrock.png", "z = (1-x)^2 + 100 (y-x^2)^2",
     {"z = (1-x)^2", "  + 100 (y-x^2)^2", NULL},
     rosenbrock, -2.0, 2.0, -1.0, 3.0, 1e-3, {-1.5f, 2.0f},
     {0.001f, 0.001f, 0.001f, 0.001f, 0.5f, 0.001f, 0.02f, 0.02f, 0.02f, 1.0f}, 0.0, {{0.0, 0.0}}, 0},
};

/* Runs every optimizer on s, prints the table, writes the picture into dir. */
static int race(surface *s, const char *dir) {
    char path[1024];
    int m;
    find_minima(s);
    printf("%s: %s, start (%g, %g)\n", s->name, s->formula, s->start[0], s->start[1]);
    printf("best known minimum z = %.6f at (%.4f, %.4f)", s->best, s->best_xy[0][0], s->best_xy[0][1]);
    for (m = 1; m < s->n_best; m++) printf(" and (%.4f, %.4f)", s->best_xy[m][0], s->best_xy[m][1]);
    printf("\nconverged: from this step on |grad| < 1e-3 (maybe a local minimum) or z within 1e-4 of the best;"
           " budget %d steps\n", MAX_STEPS);
    printf("  %-17s %8s %6s %6s %12s   %s\n", "optimizer", "lr", "steps", "evals", "final z", "final point");
    for (m = 0; m < N_METHODS; m++) {
        run *r = &runs[m];
        const float *e;
        double z;
        char lr[16], steps[16], evals[16];
        if (!run_method(s, m, r)) {
            fprintf(stderr, "%s: set-up failed\n", methods[m].name);
            return 0;
        }
        e = r->path[MAX_STEPS];
        grad_norm(s, e, &z);
        sprintf(lr, "%g", s->lr[m]);
        if (r->converged >= 0) {
            sprintf(steps, "%d", r->converged);
            sprintf(evals, "%ld", r->evals[r->converged]);
        } else {
            strcpy(steps, "-");
            strcpy(evals, "-");
        }
        printf("  %-17s %8s %6s %6s %12.6g   (%.4f, %.4f)\n", methods[m].name, lr, steps, evals, z, e[0], e[1]);
    }
    render(s);
    snprintf(path, sizeof path, "%s/%s", dir, s->file);
    if (!stbi_write_png(path, IMG_W, IMG_H, 3, img, IMG_W * 3)) {
        fprintf(stderr, "could not write %s\n", path);
        return 0;
    }
    printf("wrote %s\n\n", path);
    return 1;
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : ".";
    const char *why = argc > 2 ? "too many arguments" : !*dir ? "output-dir is empty"
                      : dir[0] == '-' ? "unknown option" : NULL;
    if (why) {
        fprintf(stderr, "optimizers: %s\nusage: optimizers [output-dir]   (default: the current directory)\n", why);
        return 2;
    }
    return race(&surfaces[0], dir) && race(&surfaces[1], dir) ? 0 : 1;
}
