/* test_conv.c - nn.h convolution and pooling kernels (NCHW): Conv2d, MaxPool2d, AvgPool2d,
   global average pooling, BatchNorm2d, Dropout2d, and the GEMM paths a convolution runs on.

   Build and run from the repository root (fixtures are read from tests/fixtures/):
       gcc -std=c99 -O2 -Wall -Wextra -Wpedantic -Werror tests/test_conv.c -o /tmp/tc -lm && /tmp/tc
   An argument runs only the tests whose name contains it:  /tmp/tc maxpool

   What is checked, and against what
   - Parity: forward output and every gradient against the PyTorch fixtures
     tests/fixtures/{conv2d,maxpool2d,avgpool2d,gap,bn2d}_*.txt (written by
     tests/gen_conv_fixtures.py; its docstring lists the records of each family). Rule of
     PARITY.md, element by element:
         |got - want| <= rtol |want| + atol max_j |want_j|,   rtol = atol = 1e-5,
     and exact where the maths is exact: max pooling copies an input element (y), adds the
     same dy values in the same order (dx; both walk the outputs row by row) and picks the
     first maximum of the window (argmax), so y, dx and argmax must match bit for bit, ties
     and overlapping windows included. Every output goes into a NaN-filled buffer, so an
     element a kernel fails to write is a mismatch. For each family one line
         parity <family> worst_rel <value>
     reports the worst elementwise relative error |got-want| / |want| over want != 0 (a
     figure, not the pass criterion) and a note says where. Also: conv dw/db accumulate
     (backward into buffers holding known values c adds: dw - c matches), a second
     backward writes the same dx, backward with dx.data NULL (dw/db only) and with
     dw/db NULL (dx only) still match; BatchNorm2d through three training steps (running
     statistics after each) and eval, dgamma/dbeta accumulating. One written exception:
     with two values per channel (bn2d_2x3x1x1) dx is pure rounding residue on both
     sides, so nn.h and the fixture are each held to the exact value within a residue
     bound (bn2d_dx_residue).
   - BatchNorm2d's sums and conv's db in the order nn.h documents (8 float lanes per
     plane, their tree, planes in double), held bit for bit against that order written out
     here, on plane widths 1 to 63: so the SIMD build and the NN_NO_SIMD build agree.
   - Max pooling beyond the fixtures: NaN, -inf and all-negative inputs under padding by
     hand, and PyTorch's rule written out (first maximum, NaN wins) against the kernel on
     data full of ties, NaN and infinities, for every window kind (2x2 stride 2 without
     padding, windows inside the input, windows cut by padding) at widths below, at and
     around a vector of 8 outputs; y bit for bit, argmax exactly.
   - Conv2d against a plain seven-loop reference written here (double accumulation) on
     shapes the fixtures do not have: batch 1, C = 1, OC = 1, depthwise and channel
     multipliers, stride 3, padding larger than the kernel needs, dilation 3, a 1x1 input,
     a 1x1 output, 1x1 kernels with stride 3 or padding, planes over 256 outputs, and
     batches the kernels split into several chunks of samples (the last one partial);
     every case again with batch 1 through the same work buffer (sized for the whole
     batch). Same PARITY.md rule (family conv2d_loops).
   - Finite differences: for a fixed random r, L = sum(y * r) (in double) is evaluated at
     p + h and p - h for every entry p of an input or parameter; the centred difference
     must match the analytic gradient within |a - n| <= 1e-2 max(|a|, |n|) plus the
     float32 rounding noise of L (see gradcheck). Conv2d (dx, dw, db: a grouped, dilated,
     strided, padded, rectangular case, a 1x1 and a depthwise one), average pooling (both
     count_include_pad), global average pooling, BatchNorm2d (train and eval) and max
     pooling (inputs without ties; an entry whose perturbation moves an argmax is retried
     with h/5, then skipped).
   - GEMM at the shapes and transpositions a convolution uses ((0,0) forward, (0,1) weight
     gradient, (1,0) input gradient): nn_gemm_at at levels 0, 1 and 3 (a level this CPU
     lacks runs the best one below it) against nn_gemm_ref and the exact product, within
     the rigorous float summation bound (see test_gemm_conv_shapes); beta 0 (C not read:
     NaN there) and 1, contiguous and strided lda/ldb/ldc (padding left untouched); levels
     1 and 3 give the same bits.
   - Dropout2d: whole planes zeroed or scaled by 1/(1-p), the kept fraction within five
     binomial standard deviations of 1-p, the same seed gives the same mask, eval and p = 0
     are the identity, backward multiplies by the mask (train) or copies (eval).
   - nn_conv2d_out_size / nn_conv2d_work_floats / nn_conv2d_geom_make edge cases; sizes
     too large for the return type are 0, not wrapped.
   - Caller mistakes (shapes that do not fit the geometry, bad groups, rank 2 input, ...):
     the kernels must write nothing, also with -DNDEBUG. This needs NN_ASSERT to be a
     counter, which only a translation unit compiling the implementation itself can set;
     so test_conv_misuse exists only when NN_TEST_LINKED is not defined. There NN_ASSERT
     aborts as assert() would (with or without NDEBUG), except inside test_conv_misuse,
     where each mistake must trip it exactly once and return before writing.
   Everything is deterministic: data comes from nn_rng with fixed seeds. */
#include <stdio.h>
#include <stdlib.h>

#ifndef NN_TEST_LINKED /* built against a separately compiled implementation */
/* NN_ASSERT: an abort, as assert(), unless test_conv_misuse expects the kernels' checks to
   fire; then a counter. The same with or without NDEBUG. */
static long conv_asserts = 0;
static int conv_expect_asserts = 0;
static void conv_assert_hit(const char *what, const char *file, int line) {
    if (conv_expect_asserts) {
        conv_asserts++;
        return;
    }
    printf("%s:%d: NN_ASSERT(%s) failed\n", file, line, what);
    fflush(stdout);
    abort();
}
#define NN_ASSERT(c) ((c) ? (void)0 : conv_assert_hit(#c, __FILE__, __LINE__))
#define NN_IMPLEMENTATION
#endif
#include "../nn.h"
#include "fixture.h"
#include "test.h"
#include "check.h"

#include <float.h>
#include <limits.h>
#include <math.h>
#include <string.h>

#define LEN(a) ((int)(sizeof(a) / sizeof((a)[0])))
#define RTOL 1e-5
#define ATOL 1e-5
#define GEMM_U (1.0 / 16777216.0) /* u = 2^-24, the unit roundoff of float32 */


/* ======================================================================== */
/* random data and small helpers                                            */
/* ======================================================================== */

/* ======================================================================== */
/* fixtures and parity families                                             */
/* ======================================================================== */
static int fx_open(fx_file *f, const char *case_name) {
    char path[256];
    snprintf(path, sizeof path, "tests/fixtures/%s.txt", case_name);
    return CHECKF(fx_load(f, path) == 0, "cannot load fixture %s (run from the repository root)", path);
}

/* 1 when every listed tensor is present (a missing one fails the test). */
static int fx_require(const fx_file *f, const char *const *names, int n) {
    int i, ok = 1;
    for (i = 0; i < n; i++)
        if (!fx_get(f, names[i])) ok = CHECKF(0, "%s: no tensor '%s'", f->path, names[i]);
    return ok;
}

/* Data of a tensor known to be present (fx_require ran). */
static float *fxd(const fx_file *f, const char *name) { return fx_get(f, name)->data; }
static const fx_tensor *fxt(const fx_file *f, const char *name) { return fx_get(f, name); }
static int fx_int(const fx_file *f, const char *name) { return (int)fx_scalar(f, name); }

/* The reported figure: the worst |got - want| / |want| over every element of every tensor
   compared, where want != 0 (an exact zero has no relative error; the pass rule still
   covers it), and where it occurred. */
typedef struct family {
    const char *name;
    double worst;
    char where[512];
    int cases;
} family;

static family family_start(const char *name) {
    family f;
    memset(&f, 0, sizeof f);
    f.name = name;
    return f;
}

static void family_end(const family *fam) {
    CHECKF(fam->cases > 0, "parity %s: no case compared", fam->name);
    printf("parity %s worst_rel %.3g\n", fam->name, fam->worst);
    if (fam->worst > 0.0) TEST_NOTE("%s worst at %s", fam->name, fam->where);
    fflush(stdout);
}

static void family_track(family *fam, const char *label, const char *name, const float *got, const float *want,
                         int n) {
    double scale = 0.0;
    int i;
    for (i = 0; i < n; i++) scale = dmax(scale, fabs((double)want[i]));
    for (i = 0; i < n; i++) {
        double rel;
        if (want[i] == 0.0f) continue;
        rel = fabs((double)got[i] - (double)want[i]) / fabs((double)want[i]);
        if (!(rel <= fam->worst)) {
            fam->worst = rel;
            snprintf(fam->where, sizeof fam->where, "%.200s %.63s[%d]: got %.9g want %.9g (max|want| %.3g)", label,
                     name, i, got[i], want[i], scale);
        }
    }
}

/* n computed values against n wanted ones under the PARITY.md rule; label names the case. */
static int cmp_arr(family *fam, const char *label, const char *name, const float *got, const float *want, size_t n,
                   double rtol, double atol) {
    double worst = 0.0;
    int ok = fx_close(got, want, (int)n, rtol, atol, &worst);
    if (fam) family_track(fam, label, name, got, want, (int)n);
    return CHECKF(ok, "%s: '%s' differs (rtol %g, atol %g x max|want|; worst rel %.3g)", label, name, rtol, atol,
                  worst);
}

static const char *fx_base(const fx_file *f) {
    const char *base = strrchr(f->path, '/');
    return base ? base + 1 : f->path;
}

/* Compares n computed values with fixture tensor `name` under the PARITY.md rule. */
static int cmp(family *fam, const fx_file *f, const char *name, const float *got, size_t n, double rtol,
               double atol) {
    const fx_tensor *t = fx_get(f, name);
    if (!CHECKF(t != NULL, "%s: no tensor '%s'", f->path, name)) return 0;
    if (!CHECKF((size_t)t->size == n, "%s: '%s' has %d values, the test computed %lu", f->path, name, t->size,
                (unsigned long)n))
        return 0;
    return cmp_arr(fam, fx_base(f), name, got, t->data, n, rtol, atol);
}

/* Bit-for-bit equality with a fixture tensor (max pooling: copies and same-order sums). */
static int cmp_bits(family *fam, const fx_file *f, const char *name, const float *got, size_t n) {
    const fx_tensor *t = fx_get(f, name);
    size_t i;
    if (!CHECKF(t != NULL && (size_t)t->size == n, "%s: '%s' missing or of another size", f->path, name)) return 0;
    if (fam) family_track(fam, fx_base(f), name, got, t->data, (int)n);
    for (i = 0; i < n; i++)
        if (memcmp(&got[i], &t->data[i], sizeof(float)) != 0) break;
    return CHECKF(i == n, "%s: '%s' not bit-identical to PyTorch: [%lu] got %.9g want %.9g", f->path, name,
                  (unsigned long)i, i < n ? got[i] : 0.0, i < n ? t->data[i] : 0.0);
}


/* ======================================================================== */
/* geometry                                                                  */
/* ======================================================================== */
static nn_conv2d_geom geom(int kh, int kw, int sh, int sw, int ph, int pw, int dh, int dw, int groups) {
    nn_conv2d_geom g;
    g.kh = kh;
    g.kw = kw;
    g.sh = sh;
    g.sw = sw;
    g.ph = ph;
    g.pw = pw;
    g.dil_h = dh;
    g.dil_w = dw;
    g.groups = groups;
    return g;
}

/* The window of a fixture (conv: every scalar; pooling: dilation 1, groups 1). */
static nn_conv2d_geom geom_of(const fx_file *f, int conv) {
    return geom(fx_int(f, "kh"), fx_int(f, "kw"), fx_int(f, "sh"), fx_int(f, "sw"), fx_int(f, "ph"), fx_int(f, "pw"),
                conv ? fx_int(f, "dil_h") : 1, conv ? fx_int(f, "dil_w") : 1, conv ? fx_int(f, "groups") : 1);
}

static nn_tensor t4(float *data, const int *s) { return nn_tensor_4d(data, s[0], s[1], s[2], s[3]); }
static size_t prod4(const int *s) { return (size_t)s[0] * (size_t)s[1] * (size_t)s[2] * (size_t)s[3]; }

/* ======================================================================== */
/* conv2d: PyTorch parity                                                    */
/* ======================================================================== */
/* Values a buffer holds before an accumulating backward: multiples of 1/8 in [-0.5, 0.5]
   (exact in float; adding them costs at most an ulp of 0.5 + |dw|, far below the atol). */
static float accum_start(size_t i) { return 0.125f * (float)((int)(i % 9) - 4); }

static void conv_case(family *fam, const char *cname) {
    static const char *const need[] = {"kh", "kw", "sh", "sw", "ph", "pw", "dil_h", "dil_w", "groups", "has_bias",
                                       "x",  "w",  "y",  "dy", "dx", "dw"};
    static const char *const need_b[] = {"b", "db"};
    fx_file f;
    nn_conv2d_geom g;
    int has_bias, xs[4], ws[4], ys[4], OC, i;
    size_t nx, nw, ny, nwork, k;
    float *y, *dx, *dw, *db = NULL, *work, *dx2, *dw2, *db2 = NULL;
    nn_tensor X, W, B, DY, DB;
    if (!fx_open(&f, cname)) return;
    if (!fx_require(&f, need, LEN(need))) {
        fx_free(&f);
        return;
    }
    g = geom_of(&f, 1);
    has_bias = fx_int(&f, "has_bias");
    if (has_bias && !fx_require(&f, need_b, LEN(need_b))) {
        fx_free(&f);
        return;
    }
    for (i = 0; i < 4; i++) {
        xs[i] = fxt(&f, "x")->shape[i];
        ws[i] = fxt(&f, "w")->shape[i];
        ys[i] = fxt(&f, "y")->shape[i];
    }
    OC = ws[0];
    nx = prod4(xs);
    nw = prod4(ws);
    ny = prod4(ys);
    CHECKF(nn_conv2d_out_size(xs[2], g.kh, g.sh, g.ph, g.dil_h) == ys[2] &&
               nn_conv2d_out_size(xs[3], g.kw, g.sw, g.pw, g.dil_w) == ys[3],
           "%s: nn_conv2d_out_size disagrees with PyTorch's output %dx%d", cname, ys[2], ys[3]);
    nwork = nn_conv2d_work_floats(xs[0], xs[1], xs[2], xs[3], OC, &g);
    CHECKF(nwork > 0, "%s: no work size", cname);
    work = fnan(nwork); /* exactly the size asked for, NaN: a read before a write shows */
    X = t4(fxd(&f, "x"), xs);
    W = t4(fxd(&f, "w"), ws);
    B = has_bias ? nn_tensor_1d(fxd(&f, "b"), OC) : nn_tensor_none();
    DY = t4(fxd(&f, "dy"), ys);

    /* forward */
    y = fnan(ny);
    nn_conv2d_forward(t4(y, ys), X, W, B, &g, work);
    cmp(fam, &f, "y", y, ny, RTOL, ATOL);

    /* backward into fresh gradients: dx written, dw/db from zero */
    dx = fnan(nx);
    dw = fbuf(nw);
    if (has_bias) db = fbuf((size_t)OC);
    DB = has_bias ? nn_tensor_1d(db, OC) : nn_tensor_none();
    nn_conv2d_backward(t4(dx, xs), t4(dw, ws), DB, DY, X, W, &g, work);
    cmp(fam, &f, "dx", dx, nx, RTOL, ATOL);
    cmp(fam, &f, "dw", dw, nw, RTOL, ATOL);
    if (has_bias) cmp(fam, &f, "db", db, (size_t)OC, RTOL, ATOL);

    /* dw/db accumulate: start from known values c, compare dw - c; dx is written again,
       the same bits */
    dx2 = fnan(nx);
    dw2 = fbuf(nw);
    for (k = 0; k < nw; k++) dw2[k] = accum_start(k);
    if (has_bias) {
        db2 = fbuf((size_t)OC);
        for (k = 0; k < (size_t)OC; k++) db2[k] = accum_start(k + 3);
    }
    nn_conv2d_backward(t4(dx2, xs), t4(dw2, ws), has_bias ? nn_tensor_1d(db2, OC) : nn_tensor_none(), DY, X, W, &g,
                       work);
    CHECKF(memcmp(dx2, dx, nx * sizeof(float)) == 0, "%s: a second backward wrote another dx", cname);
    for (k = 0; k < nw; k++) dw2[k] -= accum_start(k);
    cmp(NULL, &f, "dw", dw2, nw, RTOL, ATOL);
    if (has_bias) {
        for (k = 0; k < (size_t)OC; k++) db2[k] -= accum_start(k + 3);
        cmp(NULL, &f, "db", db2, (size_t)OC, RTOL, ATOL);
    }

    /* dx.data NULL: dw and db only */
    dw2 = fbuf(nw);
    if (has_bias) db2 = fbuf((size_t)OC);
    nn_conv2d_backward(nn_tensor_none(), t4(dw2, ws), has_bias ? nn_tensor_1d(db2, OC) : nn_tensor_none(), DY, X, W,
                       &g, work);
    cmp(NULL, &f, "dw", dw2, nw, RTOL, ATOL);
    if (has_bias) cmp(NULL, &f, "db", db2, (size_t)OC, RTOL, ATOL);

    /* dw and db NULL: dx only */
    dx2 = fnan(nx);
    nn_conv2d_backward(t4(dx2, xs), nn_tensor_none(), nn_tensor_none(), DY, X, W, &g, work);
    cmp(NULL, &f, "dx", dx2, nx, RTOL, ATOL);

    fam->cases++;
    fx_free(&f);
}

static void test_conv2d_parity(void) {
    static const char *const cases[] = {
        "conv2d_3x5x7x9_oc4_k3_s1_p1",         "conv2d_3x5x7x9_oc6_k1_s1_p0",
        "conv2d_3x5x7x9_oc4_k5_s2_p2",         "conv2d_3x5x7x9_oc4_k3_s2_p1_d2",
        "conv2d_3x5x7x9_oc10_k3_s1_p1_g5",     "conv2d_3x5x7x9_oc5_k3_s1_p1_g5",
        "conv2d_1x1x7x9_oc1_k3_s1_p0",         "conv2d_2x3x17x17_oc8_k3_s1_p1_nobias",
        "conv2d_2x3x9x7_oc4_k3x5_s2x1_p1x2_d1x2", "conv2d_1x1x28x28_oc32_k3_s1_p1",
        "conv2d_1x32x14x14_oc64_k3_s1_p1",     "conv2d_1x3x1x1_oc4_k1_s1_p0",
        "conv2d_3x17x5x5_oc33_k3_s1_p0"};
    family fam = family_start("conv2d");
    int c;
    for (c = 0; c < LEN(cases); c++) conv_case(&fam, cases[c]);
    CHECKF(fam.cases == LEN(cases), "conv2d: %d of %d fixtures compared", fam.cases, LEN(cases));
    family_end(&fam);
    pool_release();
}

/* ======================================================================== */
/* pooling: PyTorch parity                                                   */
/* ======================================================================== */
static void test_maxpool2d_parity(void) {
    static const char *const cases[] = {"maxpool2d_3x5x7x9_k2_s2", "maxpool2d_3x5x7x9_k3_s2_p1",
                                        "maxpool2d_3x5x7x9_k3_s1_p1_ties", "maxpool2d_1x1x28x28_k2_s2",
                                        "maxpool2d_3x5x7x9_k3_s1_overlap"};
    static const char *const need[] = {"kh", "kw", "sh", "sw", "ph", "pw", "x", "y", "dy", "dx", "idx"};
    family fam = family_start("maxpool2d");
    int c;
    for (c = 0; c < LEN(cases); c++) {
        fx_file f;
        nn_conv2d_geom g;
        int xs[4], ys[4], i, *argmax, bad = 0, first = -1, shared = 0;
        size_t nx, ny, k;
        float *y, *dx;
        const float *idx;
        if (!fx_open(&f, cases[c])) continue;
        if (!fx_require(&f, need, LEN(need))) {
            fx_free(&f);
            continue;
        }
        g = geom_of(&f, 0);
        for (i = 0; i < 4; i++) {
            xs[i] = fxt(&f, "x")->shape[i];
            ys[i] = fxt(&f, "y")->shape[i];
        }
        nx = prod4(xs);
        ny = prod4(ys);
        y = fnan(ny);
        argmax = ibuf(ny);
        for (k = 0; k < ny; k++) argmax[k] = -7;
        nn_maxpool2d_forward(t4(y, ys), argmax, t4(fxd(&f, "x"), xs), &g);
        cmp_bits(&fam, &f, "y", y, ny);
        idx = fxd(&f, "idx");
        for (k = 0; k < ny; k++)
            if (argmax[k] != (int)idx[k]) {
                if (first < 0) first = (int)k;
                bad++;
            }
        CHECKF(bad == 0, "%s: %d argmax entries differ from PyTorch's indices (first [%d]: %d, want %d)", cases[c],
               bad, first, first >= 0 ? argmax[first] : 0, first >= 0 ? (int)idx[first] : 0);
        dx = fnan(nx);
        nn_maxpool2d_backward(t4(dx, xs), t4(fxd(&f, "dy"), ys), argmax);
        cmp_bits(&fam, &f, "dx", dx, nx);
        /* the overlap case must really have inputs that won several windows */
        for (k = 1; k < ny; k++) shared += argmax[k] == argmax[k - 1] && (k % (size_t)(ys[2] * ys[3])) != 0;
        if (strstr(cases[c], "overlap"))
            CHECKF(shared > 0, "%s: no input won two neighbouring windows: the case tests no accumulation", cases[c]);
        fam.cases++;
        fx_free(&f);
    }
    CHECKF(fam.cases == LEN(cases), "maxpool2d: %d of %d fixtures compared", fam.cases, LEN(cases));
    family_end(&fam);
    pool_release();
}

/* What no fixture holds: a NaN in the window wins (PyTorch's `val > max || isnan(val)`), a
   window of -inf yields -inf at its first element, and padding never wins, even over inputs
   that are all negative. */
static void test_maxpool2d_nan_inf_padding(void) {
    const float inf = (float)INFINITY;
    float x[12], y[6], dy[6], dx[12], x2[4] = {-3.0f, -2.0f, -4.0f, -5.0f}, y2[4], dx2[4];
    static const int want_am[6] = {1, 1, 2, 8, 5, 6}, want_am2[4] = {0, 1, 2, 3};
    nn_conv2d_geom g = geom(2, 2, 1, 1, 0, 0, 1, 1, 1);
    int am[6], am2[4], i, bad = 0;
    x[0] = 1.0f; x[1] = (float)NAN; x[2] = 3.0f; x[3] = 2.0f;
    x[4] = 0.0f; x[5] = 5.0f; x[6] = -inf; x[7] = -inf;
    x[8] = 7.0f; x[9] = -1.0f; x[10] = -inf; x[11] = -inf;
    for (i = 0; i < 6; i++) {
        y[i] = 99.0f;
        am[i] = -7;
        dy[i] = (float)(i + 1);
    }
    nn_maxpool2d_forward(nn_tensor_4d(y, 1, 1, 2, 3), am, nn_tensor_4d(x, 1, 1, 3, 4), &g);
    for (i = 0; i < 6; i++) bad += am[i] != want_am[i];
    CHECKF(bad == 0, "maxpool argmax %d %d %d %d %d %d, want 1 1 2 8 5 6", am[0], am[1], am[2], am[3], am[4], am[5]);
    CHECKF(y[0] != y[0] && y[1] != y[1], "maxpool: a NaN in the window did not win (y %g %g)", y[0], y[1]);
    CHECKF(y[2] == 3.0f && y[3] == 7.0f && y[4] == 5.0f && y[5] == -inf,
           "maxpool y %g %g %g %g, want 3 7 5 -inf", y[2], y[3], y[4], y[5]);
    for (i = 0; i < 12; i++) dx[i] = (float)NAN;
    nn_maxpool2d_backward(nn_tensor_4d(dx, 1, 1, 3, 4), nn_tensor_4d(dy, 1, 1, 2, 3), am);
    CHECKF(dx[1] == 3.0f && dx[2] == 3.0f && dx[8] == 4.0f && dx[5] == 5.0f && dx[6] == 6.0f && dx[0] == 0.0f &&
               dx[11] == 0.0f,
           "maxpool backward: dx %g %g %g %g %g", dx[1], dx[2], dx[8], dx[5], dx[6]);
    /* k 2 stride 2 padding 1 on a 2x2 plane of negatives: each window holds one real element */
    g = geom(2, 2, 2, 2, 1, 1, 1, 1, 1);
    for (i = 0; i < 4; i++) y2[i] = 99.0f;
    nn_maxpool2d_forward(nn_tensor_4d(y2, 1, 1, 2, 2), am2, nn_tensor_4d(x2, 1, 1, 2, 2), &g);
    CHECKF(memcmp(y2, x2, sizeof x2) == 0 && memcmp(am2, want_am2, sizeof am2) == 0,
           "maxpool with padding over negatives: y %g %g %g %g (want the inputs), argmax %d %d %d %d", y2[0], y2[1],
           y2[2], y2[3], am2[0], am2[1], am2[2], am2[3]);
    nn_maxpool2d_backward(nn_tensor_4d(dx2, 1, 1, 2, 2), nn_tensor_4d(dy, 1, 1, 2, 2), am2);
    CHECKF(memcmp(dx2, dy, sizeof dx2) == 0, "maxpool with padding: dx is not dy");
}

/* PyTorch's max pooling rule, written out: each window scanned row by row from its first
   element inside the input; v is taken when v > best or v is NaN. */
static void ref_maxpool(float *y, int *am, const float *x, int planes, int H, int W, int OH, int OW,
                        const nn_conv2d_geom *g) {
    int pl, oh, ow, ki, kj;
    for (pl = 0; pl < planes; pl++)
        for (oh = 0; oh < OH; oh++)
            for (ow = 0; ow < OW; ow++) {
                int bi = -1;
                float best = 0.0f;
                for (ki = 0; ki < g->kh; ki++)
                    for (kj = 0; kj < g->kw; kj++) {
                        int ih = oh * g->sh - g->ph + ki * g->dil_h, iw = ow * g->sw - g->pw + kj * g->dil_w;
                        float v;
                        if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                        v = x[(size_t)pl * H * W + (size_t)ih * W + iw];
                        if (bi < 0 || v > best || v != v) {
                            best = v;
                            bi = ih * W + iw;
                        }
                    }
                y[((size_t)pl * OH + oh) * OW + ow] = best;
                am[((size_t)pl * OH + oh) * OW + ow] = bi;
            }
}

/* Every window kind the kernel may treat apart (2x2 stride 2 without padding, whole
   windows inside, windows cut by padding), on widths below, at and around a vector of 8
   outputs, over data full of ties, NaN and infinities: y bit for bit and argmax as the
   reference. */
static void test_maxpool2d_ties_nan_widths(void) {
    static const int widths[] = {2, 3, 9, 15, 16, 17, 18, 33, 47};
    static const int heights[] = {2, 5};
    nn_conv2d_geom gs[4];
    nn_rng rng;
    int wi, hi, gi, cases = 0;
    gs[0] = geom(2, 2, 2, 2, 0, 0, 1, 1, 1);
    gs[1] = geom(2, 2, 2, 2, 1, 1, 1, 1, 1);
    gs[2] = geom(3, 3, 2, 2, 1, 1, 1, 1, 1);
    gs[3] = geom(2, 3, 1, 2, 1, 0, 2, 1, 1);
    nn_rng_seed(&rng, 91);
    for (wi = 0; wi < LEN(widths); wi++)
        for (hi = 0; hi < LEN(heights); hi++)
            for (gi = 0; gi < LEN(gs); gi++) {
                enum { PL = 3 };
                const nn_conv2d_geom *g = &gs[gi];
                int H = heights[hi], W = widths[wi], i, bad_am = 0, first = -1;
                int OH = nn_conv2d_out_size(H, g->kh, g->sh, g->ph, g->dil_h);
                int OW = nn_conv2d_out_size(W, g->kw, g->sw, g->pw, g->dil_w);
                size_t nx = (size_t)PL * H * W, ny = (size_t)PL * OH * OW;
                float *x, *y, *ry;
                int *am, *ram;
                if (OH < 1 || OW < 1) continue;
                x = fbuf(nx);
                y = fnan(ny);
                ry = fbuf(ny);
                am = ibuf(ny);
                ram = ibuf(ny);
                for (i = 0; i < (int)nx; i++) {
                    uint32_t u = nn_rng_below(&rng, 100);
                    x[i] = u < 6 ? (float)NAN
                           : u < 10 ? -(float)INFINITY
                           : u < 12 ? (float)INFINITY
                                    : (float)((int)nn_rng_below(&rng, 5) - 2); /* ties everywhere */
                }
                for (i = 0; i < (int)ny; i++) am[i] = -7;
                nn_maxpool2d_forward(nn_tensor_4d(y, 1, PL, OH, OW), am, nn_tensor_4d(x, 1, PL, H, W), g);
                ref_maxpool(ry, ram, x, PL, H, W, OH, OW, g);
                for (i = 0; i < (int)ny; i++)
                    if (am[i] != ram[i] || memcmp(&y[i], &ry[i], sizeof(float)) != 0) {
                        if (first < 0) first = i;
                        bad_am++;
                    }
                CHECKF(bad_am == 0,
                       "maxpool k%dx%d s%d p%d on %dx%d: %d outputs differ from the rule, first [%d]: y %g argmax %d, "
                       "want %g at %d",
                       g->kh, g->kw, g->sh, g->ph, H, W, bad_am, first, first >= 0 ? y[first] : 0.0,
                       first >= 0 ? am[first] : 0, first >= 0 ? ry[first] : 0.0, first >= 0 ? ram[first] : 0);
                cases++;
            }
    TEST_NOTE("maxpool rule: %d shape and window cases with ties, NaN and infinities", cases);
    pool_release();
}

static void test_avgpool2d_parity(void) {
    static const char *const cases[] = {"avgpool2d_3x5x7x9_k2_s2", "avgpool2d_3x5x7x9_k3_s2_p1",
                                        "avgpool2d_3x5x7x9_k3_s2_p1_excl_pad", "avgpool2d_3x5x7x9_k3_s1_p1"};
    static const char *const need[] = {"kh", "kw", "sh", "sw", "ph", "pw", "count_include_pad", "x", "y", "dy", "dx"};
    family fam = family_start("avgpool2d");
    int c;
    for (c = 0; c < LEN(cases); c++) {
        fx_file f;
        nn_conv2d_geom g;
        int xs[4], ys[4], i, inc;
        size_t nx, ny;
        float *y, *dx;
        if (!fx_open(&f, cases[c])) continue;
        if (!fx_require(&f, need, LEN(need))) {
            fx_free(&f);
            continue;
        }
        g = geom_of(&f, 0);
        inc = fx_int(&f, "count_include_pad");
        for (i = 0; i < 4; i++) {
            xs[i] = fxt(&f, "x")->shape[i];
            ys[i] = fxt(&f, "y")->shape[i];
        }
        nx = prod4(xs);
        ny = prod4(ys);
        y = fnan(ny);
        nn_avgpool2d_forward(t4(y, ys), t4(fxd(&f, "x"), xs), &g, inc);
        cmp(&fam, &f, "y", y, ny, RTOL, ATOL);
        dx = fnan(nx);
        nn_avgpool2d_backward(t4(dx, xs), t4(fxd(&f, "dy"), ys), &g, inc);
        cmp(&fam, &f, "dx", dx, nx, RTOL, ATOL);
        fam.cases++;
        fx_free(&f);
    }
    CHECKF(fam.cases == LEN(cases), "avgpool2d: %d of %d fixtures compared", fam.cases, LEN(cases));
    family_end(&fam);
    pool_release();
}

static void test_gap_parity(void) {
    static const char *const cases[] = {"gap_3x5x7x9", "gap_1x1x1x1"};
    static const char *const need[] = {"x", "y", "dy", "dx"};
    family fam = family_start("gap");
    int c;
    for (c = 0; c < LEN(cases); c++) {
        fx_file f;
        int xs[4], i;
        size_t nx, ny;
        float *y, *dx;
        if (!fx_open(&f, cases[c])) continue;
        if (!fx_require(&f, need, LEN(need))) {
            fx_free(&f);
            continue;
        }
        for (i = 0; i < 4; i++) xs[i] = fxt(&f, "x")->shape[i];
        nx = prod4(xs);
        ny = (size_t)xs[0] * xs[1];
        y = fnan(ny);
        nn_global_avgpool_forward(nn_tensor_2d(y, xs[0], xs[1]), t4(fxd(&f, "x"), xs));
        cmp(&fam, &f, "y", y, ny, RTOL, ATOL);
        dx = fnan(nx);
        nn_global_avgpool_backward(t4(dx, xs), nn_tensor_2d(fxd(&f, "dy"), xs[0], xs[1]));
        cmp(&fam, &f, "dx", dx, nx, RTOL, ATOL);
        if (nx == 1) /* a 1x1 plane: the mean is the value itself */
            CHECKF(y[0] == fxd(&f, "x")[0] && dx[0] == fxd(&f, "dy")[0], "%s: 1x1 plane not passed through", cases[c]);
        fam.cases++;
        fx_free(&f);
    }
    CHECKF(fam.cases == LEN(cases), "gap: %d of %d fixtures compared", fam.cases, LEN(cases));
    family_end(&fam);
    pool_release();
}

/* ======================================================================== */
/* BatchNorm2d: PyTorch parity                                               */
/* ======================================================================== */
static void bn2d_eval_part(family *fam, const fx_file *f, const char *cname, float *gamma, float *beta, float *rm,
                           float *rv, int C, float eps, float mom) {
    static const char *const need[] = {"xe", "dye", "ye", "dxe", "dgammae", "dbetae"};
    int xs[4], i;
    size_t n;
    float *y, *dx, *dg, *dbt, *sm = fnan((size_t)C), *sr = fnan((size_t)C), *rm0, *rv0;
    nn_tensor X, DY, G = nn_tensor_1d(gamma, C), Bt = nn_tensor_1d(beta, C);
    if (!fx_require(f, need, LEN(need))) return;
    for (i = 0; i < 4; i++) xs[i] = fxt(f, "xe")->shape[i];
    n = prod4(xs);
    X = t4(fxd(f, "xe"), xs);
    DY = t4(fxd(f, "dye"), xs);
    y = fnan(n);
    dx = fnan(n);
    dg = fbuf((size_t)C);
    dbt = fbuf((size_t)C);
    rm0 = fcopy(rm, (size_t)C);
    rv0 = fcopy(rv, (size_t)C);
    nn_batchnorm2d_forward(t4(y, xs), sm, sr, X, G, Bt, rm, rv, eps, mom, 0);
    cmp(fam, f, "ye", y, n, RTOL, ATOL);
    CHECKF(memcmp(rm, rm0, (size_t)C * sizeof(float)) == 0 && memcmp(rv, rv0, (size_t)C * sizeof(float)) == 0,
           "%s: eval forward changed the running statistics", cname);
    nn_batchnorm2d_backward(t4(dx, xs), nn_tensor_1d(dg, C), nn_tensor_1d(dbt, C), DY, X, G, sm, sr, 0);
    cmp(fam, f, "dxe", dx, n, RTOL, ATOL);
    cmp(fam, f, "dgammae", dg, (size_t)C, RTOL, ATOL);
    cmp(fam, f, "dbetae", dbt, (size_t)C, RTOL, ATOL);
}

/* With two values per channel (N*H*W = 2) the normalised inputs are x_hat = +-sqrt(var / (var + eps))
   and the exact dx is gamma rstd (dy_i - mean dy) eps / (var + eps): about eps/var (1e-5) of the
   terms a float32 evaluation subtracts (dy_i, mean dy, x_hat_i mean(dy x_hat)), so only their
   rounding residue is left. PyTorch's dx in bn2d_2x3x1x1 is 3% off the exact value (25% on its
   smallest element) and nn.h's likewise: neither can meet the 1e-5 rule. Both are held instead
   to the exact value (double, from the same float32 inputs) within
       R_i = 4 u |gamma| rstd (|dy_i| + |m1| + |x_hat_i m2| + rstd |mean| (|m2| + |x_hat_i m1|)),
   m1 = mean dy, m2 = mean(dy x_hat), u = 2^-24: four roundings of each term subtracted, and of
   the mean, which shifts every x_hat alike by up to u |mean| rstd. */
static void bn2d_dx_residue(const fx_file *f, const char *cname, const char *ndx, const int *xs, const float *x,
                            const float *dy, const float *gamma, float eps, const float *got) {
    int N = xs[0], C = xs[1], HW = xs[2] * xs[3], M = N * HW, c, n, i, bad_nn = 0, bad_fx = 0;
    const float *want = fxd(f, ndx);
    double worst_nn = 0.0, worst_fx = 0.0;
    for (c = 0; c < C; c++) {
        double mean = 0.0, var = 0.0, rstd, mdy = 0.0, mdyx = 0.0;
        for (n = 0; n < N; n++)
            for (i = 0; i < HW; i++) mean += x[((size_t)n * C + c) * HW + i];
        mean /= M;
        for (n = 0; n < N; n++)
            for (i = 0; i < HW; i++) {
                double d = x[((size_t)n * C + c) * HW + i] - mean;
                var += d * d;
            }
        var /= M;
        rstd = 1.0 / sqrt(var + (double)eps);
        for (n = 0; n < N; n++)
            for (i = 0; i < HW; i++) {
                size_t at = ((size_t)n * C + c) * HW + i;
                mdy += dy[at];
                mdyx += dy[at] * (x[at] - mean) * rstd;
            }
        mdy /= M;
        mdyx /= M;
        for (n = 0; n < N; n++)
            for (i = 0; i < HW; i++) {
                size_t at = ((size_t)n * C + c) * HW + i;
                double xh = (x[at] - mean) * rstd, exact = gamma[c] * rstd * (dy[at] - mdy - xh * mdyx);
                double r = 4.0 * GEMM_U * fabs((double)gamma[c]) * rstd *
                           (fabs((double)dy[at]) + fabs(mdy) + fabs(xh * mdyx) +
                            rstd * fabs(mean) * (fabs(mdyx) + fabs(xh * mdy)));
                worst_nn = dmax(worst_nn, fabs(got[at] - exact) / r);
                worst_fx = dmax(worst_fx, fabs(want[at] - exact) / r);
                bad_nn += !(fabs(got[at] - exact) <= r);
                bad_fx += !(fabs(want[at] - exact) <= r);
            }
    }
    CHECKF(bad_nn == 0, "%s: %s: %d elements beyond the rounding residue of the exact value (worst %.2f R)", cname,
           ndx, bad_nn, worst_nn);
    CHECKF(bad_fx == 0, "%s: fixture %s: %d elements beyond the rounding residue of the exact value (worst %.2f R)",
           cname, ndx, bad_fx, worst_fx);
    TEST_NOTE("%s %s: N*H*W = 2, dx is rounding residue: nn.h off the exact value by %.2f R at most, PyTorch by %.2f R",
              cname, ndx, worst_nn, worst_fx);
}

static void bn2d_case(family *fam, const char *cname) {
    static const char *const need[] = {"eps", "momentum", "gamma", "beta", "running_mean0", "running_var0", "x1"};
    fx_file f;
    int C, step;
    float eps, mom, *gamma, *beta, *rm, *rv;
    if (!fx_open(&f, cname)) return;
    if (!fx_require(&f, need, LEN(need))) {
        fx_free(&f);
        return;
    }
    eps = fx_scalar(&f, "eps");
    mom = fx_scalar(&f, "momentum");
    C = fxt(&f, "gamma")->size;
    gamma = fcopy(fxd(&f, "gamma"), (size_t)C);
    beta = fcopy(fxd(&f, "beta"), (size_t)C);
    rm = fcopy(fxd(&f, "running_mean0"), (size_t)C);
    rv = fcopy(fxd(&f, "running_var0"), (size_t)C);
    for (step = 1; step <= 3; step++) {
        char nx[32], ndy[32], ny[32], ndx[32], ndg[32], ndb[32], nrm[32], nrv[32];
        const char *names[8];
        int xs[4], i;
        size_t n;
        float *y, *dx, *dg, *dbt, *sm = fnan((size_t)C), *sr = fnan((size_t)C);
        nn_tensor X, DY, G = nn_tensor_1d(gamma, C), Bt = nn_tensor_1d(beta, C);
        snprintf(nx, sizeof nx, "x%d", step);
        snprintf(ndy, sizeof ndy, "dy%d", step);
        snprintf(ny, sizeof ny, "y%d", step);
        snprintf(ndx, sizeof ndx, "dx%d", step);
        snprintf(ndg, sizeof ndg, "dgamma%d", step);
        snprintf(ndb, sizeof ndb, "dbeta%d", step);
        snprintf(nrm, sizeof nrm, "running_mean%d", step);
        snprintf(nrv, sizeof nrv, "running_var%d", step);
        names[0] = nx; names[1] = ndy; names[2] = ny; names[3] = ndx;
        names[4] = ndg; names[5] = ndb; names[6] = nrm; names[7] = nrv;
        if (!fx_require(&f, names, 8)) break;
        for (i = 0; i < 4; i++) xs[i] = fxt(&f, nx)->shape[i];
        n = prod4(xs);
        X = t4(fxd(&f, nx), xs);
        DY = t4(fxd(&f, ndy), xs);
        y = fnan(n);
        dx = fnan(n);
        dg = fbuf((size_t)C); /* zeroed every step: backward accumulates dgamma/dbeta */
        dbt = fbuf((size_t)C);
        nn_batchnorm2d_forward(t4(y, xs), sm, sr, X, G, Bt, rm, rv, eps, mom, 1);
        cmp(fam, &f, ny, y, n, RTOL, ATOL);
        cmp(fam, &f, nrm, rm, (size_t)C, RTOL, ATOL);
        cmp(fam, &f, nrv, rv, (size_t)C, RTOL, ATOL);
        nn_batchnorm2d_backward(t4(dx, xs), nn_tensor_1d(dg, C), nn_tensor_1d(dbt, C), DY, X, G, sm, sr, 1);
        if (n / (size_t)C == 2)
            bn2d_dx_residue(&f, cname, ndx, xs, fxd(&f, nx), fxd(&f, ndy), gamma, eps, dx);
        else
            cmp(fam, &f, ndx, dx, n, RTOL, ATOL);
        cmp(fam, &f, ndg, dg, (size_t)C, RTOL, ATOL);
        cmp(fam, &f, ndb, dbt, (size_t)C, RTOL, ATOL);
        if (step == 1) {
            /* dgamma/dbeta accumulate, dx is written: a second backward doubles the former
               (each is one float added to itself: exact) and leaves dx bit-identical */
            float *dx2 = fnan(n), *dg1 = fcopy(dg, (size_t)C), *db1 = fcopy(dbt, (size_t)C);
            int c, bad = 0;
            nn_batchnorm2d_backward(t4(dx2, xs), nn_tensor_1d(dg, C), nn_tensor_1d(dbt, C), DY, X, G, sm, sr, 1);
            for (c = 0; c < C; c++) bad += dg[c] != 2.0f * dg1[c] || dbt[c] != 2.0f * db1[c];
            CHECKF(bad == 0, "%s: a second backward does not accumulate dgamma/dbeta", cname);
            CHECKF(memcmp(dx2, dx, n * sizeof(float)) == 0, "%s: a second backward changed dx", cname);
        }
    }
    bn2d_eval_part(fam, &f, cname, gamma, beta, rm, rv, C, eps, mom);
    fam->cases++;
    fx_free(&f);
}

static void test_bn2d_parity(void) {
    static const char *const cases[] = {"bn2d_3x5x7x9", "bn2d_1x5x3x3", "bn2d_2x3x1x1", "bn2d_2x5x4x4_eps_mom"};
    family fam = family_start("bn2d");
    int c;
    for (c = 0; c < LEN(cases); c++) bn2d_case(&fam, cases[c]);
    CHECKF(fam.cases == LEN(cases), "bn2d: %d of %d fixtures compared", fam.cases, LEN(cases));
    family_end(&fam);
    pool_release();
}

/* ======================================================================== */
/* conv2d against a plain seven-loop reference                               */
/* ======================================================================== */
typedef struct conv_shape {
    int N, C, H, W, OC;
    int kh, kw, sh, sw, ph, pw, dh, dw, groups, bias;
    const char *what;
} conv_shape;

/* y = conv(x, w) + b, straight from the definition, in double */
static void ref_conv_forward(double *y, const float *x, const float *w, const float *b, const int *xs, int OC,
                             int OH, int OW, const nn_conv2d_geom *g) {
    int N = xs[0], C = xs[1], H = xs[2], W = xs[3], Cg = C / g->groups, OCg = OC / g->groups;
    int n, o, oh, ow, cc, ki, kj;
    for (n = 0; n < N; n++)
        for (o = 0; o < OC; o++)
            for (oh = 0; oh < OH; oh++)
                for (ow = 0; ow < OW; ow++) {
                    double s = b ? (double)b[o] : 0.0;
                    for (cc = 0; cc < Cg; cc++) {
                        int c = (o / OCg) * Cg + cc;
                        for (ki = 0; ki < g->kh; ki++)
                            for (kj = 0; kj < g->kw; kj++) {
                                int ih = oh * g->sh - g->ph + ki * g->dil_h, iw = ow * g->sw - g->pw + kj * g->dil_w;
                                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                                s += (double)w[((size_t)(o * Cg + cc) * g->kh + ki) * g->kw + kj] *
                                     (double)x[(((size_t)n * C + c) * H + ih) * W + iw];
                            }
                    }
                    y[(((size_t)n * OC + o) * OH + oh) * OW + ow] = s;
                }
}

/* the vector-Jacobian products of dy: dx, dw, db (all written), in double */
static void ref_conv_backward(double *dx, double *dw, double *db, const float *dy, const float *x, const float *w,
                              const int *xs, int OC, int OH, int OW, const nn_conv2d_geom *g) {
    int N = xs[0], C = xs[1], H = xs[2], W = xs[3], Cg = C / g->groups, OCg = OC / g->groups;
    int n, o, oh, ow, cc, ki, kj;
    memset(dx, 0, sizeof(double) * (size_t)N * C * H * W);
    memset(dw, 0, sizeof(double) * (size_t)OC * Cg * g->kh * g->kw);
    memset(db, 0, sizeof(double) * (size_t)OC);
    for (n = 0; n < N; n++)
        for (o = 0; o < OC; o++)
            for (oh = 0; oh < OH; oh++)
                for (ow = 0; ow < OW; ow++) {
                    double d = dy[(((size_t)n * OC + o) * OH + oh) * OW + ow];
                    db[o] += d;
                    for (cc = 0; cc < Cg; cc++) {
                        int c = (o / OCg) * Cg + cc;
                        for (ki = 0; ki < g->kh; ki++)
                            for (kj = 0; kj < g->kw; kj++) {
                                int ih = oh * g->sh - g->ph + ki * g->dil_h, iw = ow * g->sw - g->pw + kj * g->dil_w;
                                size_t wi = ((size_t)(o * Cg + cc) * g->kh + ki) * g->kw + kj;
                                size_t xi = (((size_t)n * C + c) * H + ih) * W + iw;
                                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                                dx[xi] += (double)w[wi] * d;
                                dw[wi] += (double)x[xi] * d;
                            }
                    }
                }
}

static float *to_float(const double *d, size_t n) {
    float *p = fbuf(n);
    size_t i;
    for (i = 0; i < n; i++) p[i] = (float)d[i];
    return p;
}

static void test_conv2d_vs_loops(void) {
    static const conv_shape S[] = {
        {1, 1, 5, 6, 1, 3, 3, 1, 1, 0, 0, 1, 1, 1, 1, "batch 1, C 1, OC 1, valid"},
        {2, 6, 9, 8, 6, 3, 3, 3, 3, 2, 2, 1, 1, 6, 1, "depthwise, stride 3, pad 2 with kernel 3"},
        {3, 3, 8, 10, 6, 3, 2, 3, 2, 1, 0, 1, 1, 3, 0, "channel multiplier 2 (groups = C, OC = 2C), no bias"},
        {2, 4, 11, 10, 3, 3, 3, 1, 1, 1, 1, 3, 3, 1, 1, "dilation 3"},
        {2, 4, 12, 13, 4, 2, 3, 1, 2, 0, 1, 3, 2, 2, 1, "dilation (3,2), groups 2, stride (1,2)"},
        {3, 5, 1, 1, 7, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, "1x1 input, k 3 pad 1 (1x1 output)"},
        {2, 3, 4, 5, 2, 4, 5, 1, 1, 0, 0, 1, 1, 1, 1, "kernel = input: 1x1 output"},
        {2, 3, 7, 8, 5, 1, 1, 3, 3, 0, 0, 1, 1, 1, 1, "1x1 kernel, stride 3"},
        {2, 4, 5, 6, 6, 1, 1, 1, 1, 1, 1, 1, 1, 2, 1, "1x1 kernel, pad 1, groups 2"},
        {1, 6, 4, 7, 9, 1, 1, 1, 1, 0, 0, 1, 1, 3, 1, "1x1 kernel, stride 1, no padding, groups 3"},
        {1, 2, 20, 17, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, "340 outputs a plane (weight-gradient K over 256)"},
        {2, 7, 13, 11, 5, 2, 3, 1, 2, 0, 1, 2, 1, 1, 1, "rectangular, dilation (2,1)"},
        {1, 1, 3, 3, 1, 3, 3, 2, 2, 4, 4, 1, 1, 1, 1, "pad 4 beyond a 3x3 input, stride 2"},
        {2, 31, 6, 5, 2, 3, 3, 1, 1, 1, 1, 1, 1, 1, 0, "K = 279 (over 256), no bias"},
        /* the implicit GEMM (8 or more output channels a group, stride 1) and dx as a
           convolution of dy with the flipped kernel (8 or more input channels a group) */
        {2, 9, 8, 11, 8, 3, 3, 1, 1, 1, 2, 2, 1, 1, 1, "implicit: dilation (2,1), pad (1,2), dx via dy"},
        {2, 8, 6, 7, 8, 3, 3, 1, 1, 3, 3, 1, 1, 1, 1, "implicit forward; pad 3 > k - 1: dx on im2col"},
        {2, 16, 5, 9, 16, 3, 3, 1, 1, 1, 1, 1, 1, 2, 1, "implicit, groups 2 of 8 in and 8 out"},
        {2, 16, 9, 7, 9, 4, 4, 1, 1, 0, 0, 1, 1, 1, 1, "K = 256 and the bias row: two K blocks"},
        {2, 12, 6, 8, 10, 5, 5, 1, 1, 2, 2, 1, 1, 1, 0, "K = 300 over two blocks, no bias"},
        {1, 8, 40, 9, 8, 9, 9, 1, 1, 0, 0, 1, 1, 1, 1, "9x9 kernel, one output column: 32 runs a tile"},
        {3, 8, 3, 70, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, "rows of 70 outputs: runs over 16 lanes"},
        /* a chunk of samples holds about 2^19 floats of im2col and output (P (K + OC/groups)
           each): these batches take several chunks, the last one partial */
        {9, 1, 64, 64, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, "9 samples of 64x64, several chunks"},
        {5, 4, 96, 96, 6, 3, 3, 1, 1, 1, 1, 1, 1, 2, 1, "5 samples of 96x96, groups 2, several chunks"}};
    family fam = family_start("conv2d_loops");
    int s;
    nn_rng rng;
    nn_rng_seed(&rng, 2024);
    for (s = 0; s < LEN(S); s++) {
        const conv_shape *c = &S[s];
        nn_conv2d_geom g = geom(c->kh, c->kw, c->sh, c->sw, c->ph, c->pw, c->dh, c->dw, c->groups);
        int OH = nn_conv2d_out_size(c->H, c->kh, c->sh, c->ph, c->dh);
        int OW = nn_conv2d_out_size(c->W, c->kw, c->sw, c->pw, c->dw);
        int xs[4], ws[4], ys[4];
        size_t nx, nw, ny;
        float *x, *w, *b = NULL, *dy, *y, *dx, *dw, *db = NULL, *work;
        double *ry, *rdx, *rdw, *rdb;
        char label[160];
        snprintf(label, sizeof label, "%dx%dx%dx%d oc%d k%dx%d s%dx%d p%dx%d d%dx%d g%d (%s)", c->N, c->C, c->H, c->W,
                 c->OC, c->kh, c->kw, c->sh, c->sw, c->ph, c->pw, c->dh, c->dw, c->groups, c->what);
        if (!CHECKF(OH > 0 && OW > 0, "%s: no output", label)) continue;
        xs[0] = c->N; xs[1] = c->C; xs[2] = c->H; xs[3] = c->W;
        ws[0] = c->OC; ws[1] = c->C / c->groups; ws[2] = c->kh; ws[3] = c->kw;
        ys[0] = c->N; ys[1] = c->OC; ys[2] = OH; ys[3] = OW;
        nx = prod4(xs);
        nw = prod4(ws);
        ny = prod4(ys);
        x = fbuf(nx);
        w = fbuf(nw);
        dy = fbuf(ny);
        fill_uniform(x, nx, &rng, -1.0f, 1.0f);
        fill_uniform(w, nw, &rng, -1.0f, 1.0f);
        fill_uniform(dy, ny, &rng, -1.0f, 1.0f);
        if (c->bias) {
            b = fbuf((size_t)c->OC);
            fill_uniform(b, (size_t)c->OC, &rng, -1.0f, 1.0f);
            db = fbuf((size_t)c->OC);
        }
        work = fnan(nn_conv2d_work_floats(c->N, c->C, c->H, c->W, c->OC, &g));
        {
            /* a figure: the work of N samples against that of one (under N: chunks) */
            double ratio = (double)nn_conv2d_work_floats(c->N, c->C, c->H, c->W, c->OC, &g) /
                           (double)nn_conv2d_work_floats(1, c->C, c->H, c->W, c->OC, &g);
            if (ratio < c->N) TEST_NOTE("%s: work for %d samples is %.2f times that for 1", label, c->N, ratio);
        }
        y = fnan(ny);
        dx = fnan(nx);
        dw = fbuf(nw);
        ry = dbuf(ny);
        rdx = dbuf(nx);
        rdw = dbuf(nw);
        rdb = dbuf((size_t)c->OC);
        nn_conv2d_forward(t4(y, ys), t4(x, xs), t4(w, ws), b ? nn_tensor_1d(b, c->OC) : nn_tensor_none(), &g, work);
        nn_conv2d_backward(t4(dx, xs), t4(dw, ws), db ? nn_tensor_1d(db, c->OC) : nn_tensor_none(), t4(dy, ys),
                           t4(x, xs), t4(w, ws), &g, work);
        ref_conv_forward(ry, x, w, b, xs, c->OC, OH, OW, &g);
        ref_conv_backward(rdx, rdw, rdb, dy, x, w, xs, c->OC, OH, OW, &g);
        cmp_arr(&fam, label, "y", y, to_float(ry, ny), ny, RTOL, ATOL);
        cmp_arr(&fam, label, "dx", dx, to_float(rdx, nx), nx, RTOL, ATOL);
        cmp_arr(&fam, label, "dw", dw, to_float(rdw, nw), nw, RTOL, ATOL);
        if (db) cmp_arr(&fam, label, "db", db, to_float(rdb, (size_t)c->OC), (size_t)c->OC, RTOL, ATOL);
        if (c->N > 1) {
            /* the first sample alone, through the same work buffer (sized for the whole batch) */
            int xs1[4], ys1[4];
            float *y1 = fnan(ny / (size_t)c->N), *dx1 = fnan(nx / (size_t)c->N);
            memcpy(xs1, xs, sizeof xs1);
            memcpy(ys1, ys, sizeof ys1);
            xs1[0] = ys1[0] = 1;
            nn_conv2d_forward(t4(y1, ys1), t4(x, xs1), t4(w, ws), b ? nn_tensor_1d(b, c->OC) : nn_tensor_none(), &g,
                              work);
            nn_conv2d_backward(t4(dx1, xs1), nn_tensor_none(), nn_tensor_none(), t4(dy, ys1), t4(x, xs1), t4(w, ws),
                               &g, work);
            cmp_arr(&fam, label, "y of sample 0 alone", y1, to_float(ry, ny / (size_t)c->N), ny / (size_t)c->N, RTOL,
                    ATOL);
            cmp_arr(&fam, label, "dx of sample 0 alone", dx1, to_float(rdx, nx / (size_t)c->N), nx / (size_t)c->N,
                    RTOL, ATOL);
        }
        fam.cases++;
    }
    family_end(&fam);
    pool_release();
}

/* ======================================================================== */
/* finite differences                                                        */
/* ======================================================================== */
typedef struct conv_ctx {
    nn_tensor x, w, b, y;
    nn_conv2d_geom g;
    float *work;
    const float *r;
} conv_ctx;

static gc_out conv_fwd(void *p) {
    conv_ctx *c = (conv_ctx *)p;
    nn_conv2d_forward(c->y, c->x, c->w, c->b, &c->g, c->work);
    return gc_make(c->y.data, c->r, nn_tensor_size(c->y));
}

static void conv_gradcheck(const char *name, int N, int C, int H, int W, int OC, nn_conv2d_geom g, unsigned seed) {
    conv_ctx c;
    nn_rng rng;
    int OH = nn_conv2d_out_size(H, g.kh, g.sh, g.ph, g.dil_h), OW = nn_conv2d_out_size(W, g.kw, g.sw, g.pw, g.dil_w);
    int Cg = C / g.groups;
    size_t nx = (size_t)N * C * H * W, nw = (size_t)OC * Cg * g.kh * g.kw, ny = (size_t)N * OC * OH * OW;
    float *x = fbuf(nx), *w = fbuf(nw), *b = fbuf((size_t)OC), *r = fbuf(ny);
    float *dx = fnan(nx), *dw = fbuf(nw), *db = fbuf((size_t)OC);
    char what[96];
    if (!CHECKF(OH > 0 && OW > 0, "%s: no output", name)) return;
    nn_rng_seed(&rng, seed);
    fill_uniform(x, nx, &rng, -1.5f, 1.5f);
    fill_uniform(w, nw, &rng, -1.0f, 1.0f);
    fill_uniform(b, (size_t)OC, &rng, -0.5f, 0.5f);
    fill_uniform(r, ny, &rng, -1.0f, 1.0f);
    c.x = nn_tensor_4d(x, N, C, H, W);
    c.w = nn_tensor_4d(w, OC, Cg, g.kh, g.kw);
    c.b = nn_tensor_1d(b, OC);
    c.y = nn_tensor_4d(fbuf(ny), N, OC, OH, OW);
    c.g = g;
    c.work = fnan(nn_conv2d_work_floats(N, C, H, W, OC, &g));
    c.r = r;
    (void)conv_fwd(&c);
    nn_conv2d_backward(nn_tensor_4d(dx, N, C, H, W), nn_tensor_4d(dw, OC, Cg, g.kh, g.kw), nn_tensor_1d(db, OC),
                       nn_tensor_4d(r, N, OC, OH, OW), c.x, c.w, &g, c.work);
    snprintf(what, sizeof what, "%s dx", name);
    gradcheck(what, x, dx, (int)nx, 1e-2f, conv_fwd, NULL, &c, NULL);
    snprintf(what, sizeof what, "%s dw", name);
    gradcheck(what, w, dw, (int)nw, 1e-2f, conv_fwd, NULL, &c, NULL);
    snprintf(what, sizeof what, "%s db", name);
    gradcheck(what, b, db, OC, 1e-2f, conv_fwd, NULL, &c, NULL);
}

static void test_gradcheck_conv2d(void) {
    /* grouped (2), dilated (2,3), strided (2,1), padded (1,2), rectangular kernel 3x2 */
    conv_gradcheck("conv grouped", 2, 4, 7, 8, 6, geom(3, 2, 2, 1, 1, 2, 2, 3, 2), 31);
    /* 1x1, stride 1, no padding */
    conv_gradcheck("conv 1x1", 2, 3, 4, 5, 4, geom(1, 1, 1, 1, 0, 0, 1, 1, 1), 32);
    /* depthwise, stride 3, padding 2 */
    conv_gradcheck("conv depthwise", 1, 3, 7, 6, 3, geom(3, 3, 3, 3, 2, 2, 1, 1, 3), 33);
    pool_release();
}

typedef struct pool_ctx {
    nn_tensor x, y;
    nn_conv2d_geom g;
    int include, *argmax;
    const float *r;
} pool_ctx;

static gc_out avg_fwd(void *p) {
    pool_ctx *c = (pool_ctx *)p;
    nn_avgpool2d_forward(c->y, c->x, &c->g, c->include);
    return gc_make(c->y.data, c->r, nn_tensor_size(c->y));
}
static gc_out gap_fwd(void *p) {
    pool_ctx *c = (pool_ctx *)p;
    nn_global_avgpool_forward(c->y, c->x);
    return gc_make(c->y.data, c->r, nn_tensor_size(c->y));
}
static gc_out max_fwd(void *p) {
    pool_ctx *c = (pool_ctx *)p;
    nn_maxpool2d_forward(c->y, c->argmax, c->x, &c->g);
    return gc_make(c->y.data, c->r, nn_tensor_size(c->y));
}
static int max_sig(void *p, int *sig, int cap) {
    pool_ctx *c = (pool_ctx *)p;
    int n = (int)nn_tensor_size(c->y), i;
    for (i = 0; i < n && i < cap; i++) sig[i] = c->argmax[i];
    return n;
}

static void test_gradcheck_pooling(void) {
    enum { N = 2, C = 3, H = 6, W = 7 };
    nn_rng rng;
    pool_ctx c;
    float *x = fbuf(N * C * H * W), *dx, *r;
    int inc, OH, OW, i;
    nn_rng_seed(&rng, 41);
    fill_uniform(x, N * C * H * W, &rng, -2.0f, 2.0f);
    c.x = nn_tensor_4d(x, N, C, H, W);
    c.argmax = NULL;
    /* average pooling, k 3 stride 2 pad 1 (border windows differ between the two rules) */
    c.g = geom(3, 3, 2, 2, 1, 1, 1, 1, 1);
    OH = nn_conv2d_out_size(H, 3, 2, 1, 1);
    OW = nn_conv2d_out_size(W, 3, 2, 1, 1);
    for (inc = 1; inc >= 0; inc--) {
        r = fbuf((size_t)N * C * OH * OW);
        fill_uniform(r, (size_t)N * C * OH * OW, &rng, -1.0f, 1.0f);
        c.y = nn_tensor_4d(fbuf((size_t)N * C * OH * OW), N, C, OH, OW);
        c.include = inc;
        c.r = r;
        dx = fnan(N * C * H * W);
        nn_avgpool2d_backward(nn_tensor_4d(dx, N, C, H, W), nn_tensor_4d(r, N, C, OH, OW), &c.g, inc);
        gradcheck(inc ? "avgpool count_include_pad 1 dx" : "avgpool count_include_pad 0 dx", x, dx, N * C * H * W,
                  1e-2f, avg_fwd, NULL, &c, NULL);
    }
    /* global average pooling */
    r = fbuf(N * C);
    fill_uniform(r, N * C, &rng, -1.0f, 1.0f);
    c.y = nn_tensor_2d(fbuf(N * C), N, C);
    c.r = r;
    dx = fnan(N * C * H * W);
    nn_global_avgpool_backward(nn_tensor_4d(dx, N, C, H, W), nn_tensor_2d(r, N, C));
    gradcheck("global avgpool dx", x, dx, N * C * H * W, 1e-2f, gap_fwd, NULL, &c, NULL);
    /* max pooling, k 3 stride 2 pad 1 (overlapping windows): inputs spaced >= 0.05 apart
       (a shuffled ramp), so no window has a tie and h = 1e-2 never swaps a maximum */
    {
        int *perm = ibuf(N * C * H * W);
        for (i = 0; i < N * C * H * W; i++) perm[i] = i;
        nn_rng_shuffle(&rng, perm, N * C * H * W);
        for (i = 0; i < N * C * H * W; i++) x[i] = -6.0f + 0.05f * (float)perm[i];
    }
    r = fbuf((size_t)N * C * OH * OW);
    fill_uniform(r, (size_t)N * C * OH * OW, &rng, -1.0f, 1.0f);
    c.y = nn_tensor_4d(fbuf((size_t)N * C * OH * OW), N, C, OH, OW);
    c.argmax = ibuf((size_t)N * C * OH * OW);
    c.r = r;
    (void)max_fwd(&c);
    dx = fnan(N * C * H * W);
    nn_maxpool2d_backward(nn_tensor_4d(dx, N, C, H, W), nn_tensor_4d(r, N, C, OH, OW), c.argmax);
    gradcheck("maxpool dx", x, dx, N * C * H * W, 1e-2f, max_fwd, max_sig, &c, NULL);
    pool_release();
}

typedef struct bn2d_ctx {
    nn_tensor x, y, gamma, beta;
    float *sm, *sr, *rm, *rv;
    int train;
    const float *r;
} bn2d_ctx;

static gc_out bn2d_fwd(void *p) {
    bn2d_ctx *c = (bn2d_ctx *)p;
    nn_batchnorm2d_forward(c->y, c->sm, c->sr, c->x, c->gamma, c->beta, c->rm, c->rv, 1e-5f, 0.1f, c->train);
    return gc_make(c->y.data, c->r, nn_tensor_size(c->y));
}

static void test_gradcheck_bn2d(void) {
    int train;
    for (train = 1; train >= 0; train--) {
        enum { N = 2, C = 3, H = 3, W = 2, HW = H * W, NE = N * C * H * W };
        bn2d_ctx c;
        nn_rng rng;
        float *x = fbuf(NE), *g = fbuf(C), *bt = fbuf(C), *r = fbuf(NE), *dx = fnan(NE), *dg = fbuf(C),
              *db = fbuf(C);
        int i;
        nn_rng_seed(&rng, 51);
        for (i = 0; i < NE; i++) {
            int ch = (i / HW) % C;
            x[i] = urand(&rng, -2.0f, 2.0f) * (1.0f + (float)ch) + (float)ch;
        }
        fill_uniform(g, C, &rng, 0.5f, 1.5f);
        fill_uniform(bt, C, &rng, -0.5f, 0.5f);
        fill_uniform(r, NE, &rng, -1.0f, 1.0f);
        c.x = nn_tensor_4d(x, N, C, H, W);
        c.y = nn_tensor_4d(fbuf(NE), N, C, H, W);
        c.gamma = nn_tensor_1d(g, C);
        c.beta = nn_tensor_1d(bt, C);
        c.sm = fbuf(C);
        c.sr = fbuf(C);
        c.rm = fbuf(C);
        c.rv = fbuf(C);
        for (i = 0; i < C; i++) {
            c.rm[i] = urand(&rng, -1.0f, 1.0f);
            c.rv[i] = urand(&rng, 0.5f, 2.0f);
        }
        c.train = train;
        c.r = r;
        (void)bn2d_fwd(&c);
        nn_batchnorm2d_backward(nn_tensor_4d(dx, N, C, H, W), nn_tensor_1d(dg, C), nn_tensor_1d(db, C),
                                nn_tensor_4d(r, N, C, H, W), c.x, c.gamma, c.sm, c.sr, train);
        gradcheck(train ? "bn2d train dx" : "bn2d eval dx", x, dx, NE, 1e-2f, bn2d_fwd, NULL, &c, NULL);
        gradcheck(train ? "bn2d train dgamma" : "bn2d eval dgamma", g, dg, C, 1e-2f, bn2d_fwd, NULL, &c, NULL);
        gradcheck(train ? "bn2d train dbeta" : "bn2d eval dbeta", bt, db, C, 1e-2f, bn2d_fwd, NULL, &c, NULL);
    }
    pool_release();
}

/* ======================================================================== */
/* BatchNorm2d and conv db: the documented summation order on every path     */
/* ======================================================================== */
/* One plane in the order nn.h documents: 8 float lanes, their tree, the tail. */
static double lanes8(const float *p, int n, float mean, int sq, const float *g, float rstd) {
    float l[8] = {0, 0, 0, 0, 0, 0, 0, 0}, t = 0.0f;
    int i, k;
    for (i = 0; i + 8 <= n; i += 8)
        for (k = 0; k < 8; k++) {
            float v = g ? g[i + k] * ((p[i + k] - mean) * rstd) : sq ? (p[i + k] - mean) * (p[i + k] - mean) : p[i + k];
            l[k] += v;
        }
    for (; i < n; i++) t += g ? g[i] * ((p[i] - mean) * rstd) : sq ? (p[i] - mean) * (p[i] - mean) : p[i];
    return (double)(((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]))) + (double)t;
}

/* The SIMD kernels and the plain loops must give the same bits: each build
   (SIMD or NN_NO_SIMD) is held to the same written-out order, plane widths
   below, at and around multiples of 8. */
static void test_bn2d_sum_order(void) {
    static const int hw[][2] = {{1, 1}, {1, 7}, {2, 4}, {3, 3}, {1, 17}, {5, 7}, {8, 8}, {7, 9}};
    int s;
    for (s = 0; s < (int)(sizeof hw / sizeof hw[0]); s++) {
        enum { N = 3, C = 2 };
        int H = hw[s][0], W = hw[s][1], HW = H * W, NE = N * C * H * W, c, n, i, bad = 0;
        float *x = fbuf((size_t)NE), *dy = fbuf((size_t)NE), *y = fnan((size_t)NE), *dx = fnan((size_t)NE);
        float *g = fbuf(C), *bt = fbuf(C), *sm = fbuf(C), *sr = fbuf(C), *rm = fbuf(C), *rv = fbuf(C);
        float *dg = fbuf(C), *dbt = fbuf(C), *cdb = fbuf(C), *w = fbuf(C * C), *cw = fbuf(C * C);
        nn_conv2d_geom g1 = geom(1, 1, 1, 1, 0, 0, 1, 1, 1);
        nn_tensor none;
        nn_rng rng;
        memset(&none, 0, sizeof none);
        nn_rng_seed(&rng, 900 + (unsigned)s);
        fill_uniform(x, (size_t)NE, &rng, -3.0f, 5.0f);
        fill_uniform(dy, (size_t)NE, &rng, -1.0f, 1.0f);
        fill_uniform(g, C, &rng, 0.5f, 1.5f);
        fill_uniform(bt, C, &rng, -0.5f, 0.5f);
        fill_value(rv, C, 1.0f);
        nn_batchnorm2d_forward(nn_tensor_4d(y, N, C, H, W), sm, sr, nn_tensor_4d(x, N, C, H, W), nn_tensor_1d(g, C),
                               nn_tensor_1d(bt, C), rm, rv, 1e-5f, 0.1f, 1);
        nn_batchnorm2d_backward(nn_tensor_4d(dx, N, C, H, W), nn_tensor_1d(dg, C), nn_tensor_1d(dbt, C),
                                nn_tensor_4d(dy, N, C, H, W), nn_tensor_4d(x, N, C, H, W), nn_tensor_1d(g, C), sm, sr, 1);
        /* conv db: a 1x1 conv from C to C channels, dy as its output gradient */
        nn_conv2d_backward(none, nn_tensor_4d(cw, C, C, 1, 1), nn_tensor_1d(cdb, C), nn_tensor_4d(dy, N, C, H, W),
                           nn_tensor_4d(x, N, C, H, W), nn_tensor_4d(w, C, C, 1, 1), &g1,
                           fbuf(nn_conv2d_work_floats(N, C, H, W, C, &g1)));
        for (c = 0; c < C; c++) {
            double m = 0.0, v = 0.0, sg = 0.0, sgx = 0.0;
            float mean, rstd, a, sh, mg, mgx, k;
            size_t M = (size_t)N * HW;
            for (n = 0; n < N; n++) m += lanes8(x + ((size_t)n * C + c) * HW, HW, 0.0f, 0, NULL, 0.0f);
            mean = (float)(m / (double)M);
            for (n = 0; n < N; n++) v += lanes8(x + ((size_t)n * C + c) * HW, HW, mean, 1, NULL, 0.0f);
            rstd = (float)(1.0 / sqrt(v / (double)M + 1e-5f));
            a = rstd * g[c];
            sh = bt[c] - mean * a;
            for (n = 0; n < N; n++) {
                const float *xp = x + ((size_t)n * C + c) * HW, *gp = dy + ((size_t)n * C + c) * HW;
                sg += lanes8(gp, HW, 0.0f, 0, NULL, 0.0f);
                sgx += lanes8(xp, HW, mean, 0, gp, rstd);
            }
            bad += sm[c] != mean || sr[c] != rstd || dbt[c] != (float)sg || dg[c] != (float)sgx || cdb[c] != (float)sg;
            mg = (float)(sg / (double)M);
            mgx = (float)(sgx / (double)M);
            k = g[c] * rstd;
            for (n = 0; n < N; n++)
                for (i = 0; i < HW; i++) {
                    size_t e = ((size_t)n * C + c) * HW + (size_t)i;
                    bad += y[e] != x[e] * a + sh || dx[e] != k * (dy[e] - mg - (x[e] - mean) * rstd * mgx);
                }
        }
        CHECKF(bad == 0, "bn2d/conv db %dx%d: %d values off the documented summation order", H, W, bad);
    }
    TEST_NOTE("bn2d and conv db: the documented lane order, bit for bit, on this build's path (%s)", nn_simd_name());
    pool_release();
}

/* ======================================================================== */
/* GEMM at convolution shapes, every level                                   */
/* ======================================================================== */
/* Tolerance (as test_core's GEMM tests). Every float summation order of K products is
   within gamma_K = K u / (1 - K u) of the exact sum relative to sum_k |a_k b_k| (u = 2^-24);
   alpha and beta add a few roundings. So each element of each level, and of nn_gemm_ref,
   must lie within
       1e-5 |exact| + 2 (K + 4) u mag,    mag = |alpha| sum_k |a_ik b_kj| + |beta c_ij|
   of the exact (double) result, and a level within that plus 1e-5 |exact| of the reference.
   The bound is rigorous, so no seed can make it flaky; a wrong index, a lost term or a
   stale C is off by O(mag). */
#define GEMM_SENTINEL 12345.0f

static void test_gemm_conv_shapes(void) {
    /* (M, N, K) of convolutions: 1->32 on 28x28 (k3), 32->64 on 14x14 (K = 288 > 256),
       odd sizes, 1x1x1, small row counts (the row kernel), and a chunk of two 48x48
       images side by side (6 outputs and 2 inputs per group, k3) */
    static const int T[][3] = {{32, 784, 9}, {64, 196, 288}, {5, 63, 45}, {1, 1, 1},
                               {33, 9, 153}, {4, 35, 75},    {6, 4608, 18}};
    static const int TR[3][2] = {{0, 0}, {0, 1}, {1, 0}}; /* forward, weight gradient, input gradient */
    static const int levels[] = {0, 1, 3};
    static const float betas[] = {0.0f, 1.0f};
    nn_rng rng;
    int s, t, bi, pad, li, cases = 0, same13 = 0;
    double worst = 0.0;
    nn_rng_seed(&rng, 61);
    for (s = 0; s < LEN(T); s++)
        for (t = 0; t < 3; t++)
            for (bi = 0; bi < 2; bi++)
                for (pad = 0; pad <= 5; pad += 5) {
                    int M = T[s][0], N = T[s][1], K = T[s][2], ta = TR[t][0], tb = TR[t][1];
                    int rowsA = ta ? K : M, colsA = ta ? M : K, rowsB = tb ? N : K, colsB = tb ? K : N;
                    int lda = colsA + pad, ldb = colsB + (pad ? pad + 2 : 0), ldc = N + (pad ? pad + 1 : 0);
                    float beta = betas[bi], qnan = (float)NAN;
                    float *A = fbuf((size_t)rowsA * lda), *B = fbuf((size_t)rowsB * ldb);
                    float *C0 = fbuf((size_t)M * ldc), *Cr = fbuf((size_t)M * ldc), *C1 = NULL;
                    double *exact = dbuf((size_t)M * N), *mag = dbuf((size_t)M * N);
                    int i, j, k, bad_ref = 0, bad_pad = 0;
                    for (i = 0; i < rowsA; i++)
                        for (j = 0; j < lda; j++) A[(size_t)i * lda + j] = j < colsA ? urand(&rng, -1, 1) : qnan;
                    for (i = 0; i < rowsB; i++)
                        for (j = 0; j < ldb; j++) B[(size_t)i * ldb + j] = j < colsB ? urand(&rng, -1, 1) : qnan;
                    for (i = 0; i < M; i++)
                        for (j = 0; j < ldc; j++)
                            C0[(size_t)i * ldc + j] = j >= N ? GEMM_SENTINEL : beta == 0.0f ? qnan : urand(&rng, -1, 1);
                    for (i = 0; i < M; i++)
                        for (j = 0; j < N; j++) {
                            double e = 0.0, m = 0.0, c0 = beta != 0.0f ? (double)C0[(size_t)i * ldc + j] : 0.0;
                            for (k = 0; k < K; k++) {
                                double a = ta ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k];
                                double b = tb ? B[(size_t)j * ldb + k] : B[(size_t)k * ldb + j];
                                e += a * b;
                                m += fabs(a * b);
                            }
                            exact[(size_t)i * N + j] = e + beta * c0;
                            mag[(size_t)i * N + j] = m + fabs(beta * c0);
                        }
                    memcpy(Cr, C0, sizeof(float) * (size_t)M * ldc);
                    nn_gemm_ref(ta, tb, M, N, K, 1.0f, A, lda, B, ldb, beta, Cr, ldc);
                    for (i = 0; i < M; i++)
                        for (j = 0; j < N; j++) {
                            double e = exact[(size_t)i * N + j], tol = 1e-5 * fabs(e) + 2.0 * (K + 4) * GEMM_U *
                                                                                             mag[(size_t)i * N + j];
                            bad_ref += !(fabs(Cr[(size_t)i * ldc + j] - e) <= tol);
                        }
                    CHECKF(bad_ref == 0, "gemm_ref M=%d N=%d K=%d ta=%d tb=%d beta=%g pad=%d: %d elements off", M, N, K,
                           ta, tb, beta, pad, bad_ref);
                    for (li = 0; li < LEN(levels); li++) {
                        float *C = fbuf((size_t)M * ldc);
                        int bad = 0, bi_ = -1, bj = -1;
                        memcpy(C, C0, sizeof(float) * (size_t)M * ldc);
                        nn_gemm_at(levels[li], ta, tb, M, N, K, 1.0f, A, lda, B, ldb, beta, C, ldc);
                        for (i = 0; i < M; i++)
                            for (j = 0; j < ldc; j++) {
                                size_t at = (size_t)i * ldc + j;
                                double e, tol, d;
                                if (j >= N) {
                                    bad_pad += C[at] != GEMM_SENTINEL;
                                    continue;
                                }
                                e = exact[(size_t)i * N + j];
                                tol = 1e-5 * fabs(e) + 2.0 * (K + 4) * GEMM_U * mag[(size_t)i * N + j];
                                d = fabs((double)C[at] - Cr[at]);
                                if (tol > 0.0 && d / tol > worst) worst = d / tol;
                                if (!(fabs(C[at] - e) <= tol && d <= tol + 1e-5 * fabs(e))) {
                                    if (bad++ == 0) bi_ = i, bj = j;
                                }
                            }
                        CHECKF(bad == 0,
                               "gemm_at(%d) M=%d N=%d K=%d ta=%d tb=%d beta=%g pad=%d: %d elements off, "
                               "first C[%d][%d] got %.9g ref %.9g",
                               levels[li], M, N, K, ta, tb, beta, pad, bad, bi_, bj,
                               bad ? C[(size_t)bi_ * ldc + bj] : 0.0, bad ? Cr[(size_t)bi_ * ldc + bj] : 0.0);
                        cases++;
                        if (levels[li] == 1) C1 = C;
                        if (levels[li] == 3 && C1) {
                            /* the AVX-512 kernels do the AVX2 kernels' FMAs in the same order */
                            int eq = memcmp(C1, C, sizeof(float) * (size_t)M * ldc) == 0;
                            same13 += eq;
                            CHECKF(eq, "gemm levels 1 and 3 differ: M=%d N=%d K=%d ta=%d tb=%d beta=%g pad=%d", M, N, K,
                                   ta, tb, beta, pad);
                        }
                    }
                    CHECKF(bad_pad == 0, "gemm M=%d N=%d K=%d ta=%d tb=%d pad=%d: %d padding elements of C written", M,
                           N, K, ta, tb, pad, bad_pad);
                    pool_release();
                }
    TEST_NOTE("gemm conv shapes: %d level runs, worst |level - ref| = %.3f of the bound 2(K+4)u mag; levels 1 and 3 "
              "bit-identical in %d of %d; this CPU: %s (level %d)",
              cases, worst, same13, cases / 3, nn_simd_name(), nn_simd_level());
}

/* ======================================================================== */
/* Dropout2d                                                                 */
/* ======================================================================== */
static void test_dropout2d(void) {
    static const float ps[] = {0.2f, 0.5f, 0.9f};
    enum { N = 4000, C = 5, H = 2, W = 3, HW = H * W, PL = N * C, NE = PL * HW };
    nn_rng rng;
    float *x = fbuf(NE), *dy = fbuf(NE), *y = fbuf(NE), *y2 = fbuf(NE), *dx = fbuf(NE), *mask = fbuf(PL),
          *mask2 = fbuf(PL);
    nn_tensor X = nn_tensor_4d(x, N, C, H, W), DY = nn_tensor_4d(dy, N, C, H, W);
    nn_tensor Y = nn_tensor_4d(y, N, C, H, W), Y2 = nn_tensor_4d(y2, N, C, H, W), DX = nn_tensor_4d(dx, N, C, H, W);
    int pi, pl, i;
    nn_rng_seed(&rng, 71);
    for (i = 0; i < NE; i++) {
        x[i] = urand(&rng, -3.0f, 3.0f);
        if (x[i] == 0.0f) x[i] = 1.0f; /* kept vs dropped must be visible in y */
        dy[i] = urand(&rng, -1.0f, 1.0f);
    }
    for (pi = 0; pi < LEN(ps); pi++) {
        float p = ps[pi], scale = 1.0f / (1.0f - p);
        long kept = 0, bad_plane = 0, bad_back = 0, differ = 0, bad_eval = 0;
        double mean = (double)PL * (1.0 - p), sd = sqrt((double)PL * p * (1.0 - p));
        fill_value(y, NE, (float)NAN);
        fill_value(mask, PL, (float)NAN);
        nn_rng_seed(&rng, 1234);
        nn_dropout2d_forward(Y, mask, X, p, 1, &rng);
        for (pl = 0; pl < PL; pl++) {
            const float *xp = x + (size_t)pl * HW, *yp = y + (size_t)pl * HW;
            int bad = 0;
            if (mask[pl] == 0.0f) {
                for (i = 0; i < HW; i++) bad += yp[i] != 0.0f;
            } else {
                kept++;
                bad += mask[pl] != scale;
                for (i = 0; i < HW; i++) {
                    /* inverted dropout as PyTorch: x * (1/(1-p)), within two roundings of x/(1-p) */
                    double want = (double)xp[i] / (1.0 - (double)p);
                    bad += yp[i] != xp[i] * scale || !(fabs(yp[i] - want) <= 2.4e-7 * fabs(want));
                }
            }
            bad_plane += bad != 0;
        }
        CHECKF(bad_plane == 0, "p=%g: %ld planes neither all zero nor all x/(1-p) with mask 1/(1-p)", p, bad_plane);
        CHECKF(fabs((double)kept - mean) <= 5.0 * sd, "p=%g: %ld of %d planes kept, want %.0f +- %.0f (5 sigma)", p,
               kept, (int)PL, mean, 5.0 * sd);
        /* backward in train: dy times the plane's mask */
        fill_value(dx, NE, (float)NAN);
        nn_dropout2d_backward(DX, DY, mask, 1);
        for (i = 0; i < NE; i++) bad_back += dx[i] != dy[i] * mask[i / HW];
        CHECKF(bad_back == 0, "p=%g: %ld backward entries differ from dy * mask", p, bad_back);
        /* same seed, same mask; another seed, another one */
        nn_rng_seed(&rng, 1234);
        nn_dropout2d_forward(Y2, mask2, X, p, 1, &rng);
        CHECKF(memcmp(mask, mask2, PL * sizeof(float)) == 0 && memcmp(y, y2, NE * sizeof(float)) == 0,
               "p=%g: the same seed gave another mask", p);
        nn_rng_seed(&rng, 1235);
        nn_dropout2d_forward(Y2, mask2, X, p, 1, &rng);
        for (pl = 0; pl < PL; pl++) differ += (mask[pl] == 0.0f) != (mask2[pl] == 0.0f);
        /* two independent masks disagree on 2p(1-p) of the planes */
        CHECKF(fabs((double)differ - 2.0 * PL * p * (1.0 - p)) <= 5.0 * sqrt(2.0 * PL * p * (1.0 - p)),
               "p=%g: masks of seeds 1234 and 1235 differ on %ld of %d planes", p, differ, (int)PL);
        /* eval: a copy, mask 1; backward in eval is the identity whatever the mask holds */
        fill_value(y2, NE, (float)NAN);
        fill_value(mask2, PL, (float)NAN);
        nn_dropout2d_forward(Y2, mask2, X, p, 0, &rng);
        CHECKF(memcmp(y2, x, NE * sizeof(float)) == 0, "p=%g: eval dropout2d is not a copy", p);
        for (pl = 0; pl < PL; pl++) bad_eval += mask2[pl] != 1.0f;
        CHECKF(bad_eval == 0, "p=%g: eval left %ld mask entries other than 1", p, bad_eval);
        fill_value(dx, NE, (float)NAN);
        nn_dropout2d_backward(DX, DY, mask, 0);
        CHECKF(memcmp(dx, dy, NE * sizeof(float)) == 0, "p=%g: eval dropout2d backward is not the identity", p);
    }
    {
        /* p = 0 in training: the identity, mask 1, backward the identity */
        long bad = 0;
        fill_value(y, NE, (float)NAN);
        fill_value(mask, PL, (float)NAN);
        nn_rng_seed(&rng, 7);
        nn_dropout2d_forward(Y, mask, X, 0.0f, 1, &rng);
        CHECKF(memcmp(y, x, NE * sizeof(float)) == 0, "dropout2d with p = 0 in training is not the identity");
        for (pl = 0; pl < PL; pl++) bad += mask[pl] != 1.0f;
        CHECKF(bad == 0, "dropout2d with p = 0: %ld mask entries other than 1", bad);
        fill_value(dx, NE, (float)NAN);
        nn_dropout2d_backward(DX, DY, mask, 1);
        CHECKF(memcmp(dx, dy, NE * sizeof(float)) == 0, "dropout2d with p = 0: backward is not the identity");
    }
    pool_release();
}

/* ======================================================================== */
/* geometry helpers                                                          */
/* ======================================================================== */
static void test_conv2d_out_size(void) {
    nn_conv2d_geom g = nn_conv2d_geom_make(5, 2, 1), bad;
    CHECK(g.kh == 5 && g.kw == 5 && g.sh == 2 && g.sw == 2 && g.ph == 1 && g.pw == 1 && g.dil_h == 1 &&
          g.dil_w == 1 && g.groups == 1);
    /* floor((in + 2 pad - dil (k - 1) - 1) / stride) + 1 */
    CHECK_EQ_INT(nn_conv2d_out_size(7, 3, 1, 0, 1), 5);
    CHECK_EQ_INT(nn_conv2d_out_size(7, 3, 1, 1, 1), 7);
    CHECK_EQ_INT(nn_conv2d_out_size(7, 3, 2, 1, 1), 4);
    CHECK_EQ_INT(nn_conv2d_out_size(9, 3, 2, 1, 2), 4); /* extent 5 */
    CHECK_EQ_INT(nn_conv2d_out_size(7, 2, 2, 0, 1), 3); /* floor mode: the last row unused */
    CHECK_EQ_INT(nn_conv2d_out_size(11, 3, 3, 1, 3), 3);
    CHECK_EQ_INT(nn_conv2d_out_size(5, 1, 10, 0, 1), 1);  /* stride beyond the input: one window */
    CHECK_EQ_INT(nn_conv2d_out_size(1, 3, 1, 1, 1), 1);   /* 1x1 input, 'same' padding */
    CHECK_EQ_INT(nn_conv2d_out_size(3, 3, 2, 4, 1), 5);   /* padding beyond the kernel */
    CHECK_EQ_INT(nn_conv2d_out_size(28, 1, 1, 0, 1), 28); /* 1x1 kernel */
    /* no window fits: 0 */
    CHECK_EQ_INT(nn_conv2d_out_size(2, 3, 1, 0, 1), 0);
    CHECK_EQ_INT(nn_conv2d_out_size(4, 3, 1, 0, 2), 0); /* extent 5 > 4 */
    CHECK_EQ_INT(nn_conv2d_out_size(5, 3, 1, 0, 2), 1); /* extent 5 = 5 */
    CHECK_EQ_INT(nn_conv2d_out_size(1, 4, 1, 1, 1), 0); /* 1 + 2 < 4 */
    /* arguments out of range: 0 */
    CHECK_EQ_INT(nn_conv2d_out_size(0, 1, 1, 0, 1), 0);
    CHECK_EQ_INT(nn_conv2d_out_size(-3, 1, 1, 0, 1), 0);
    CHECK_EQ_INT(nn_conv2d_out_size(7, 0, 1, 0, 1), 0);
    CHECK_EQ_INT(nn_conv2d_out_size(7, 3, 0, 0, 1), 0);
    CHECK_EQ_INT(nn_conv2d_out_size(7, 3, 1, -1, 1), 0);
    CHECK_EQ_INT(nn_conv2d_out_size(7, 3, 1, 0, 0), 0);
    /* large arguments, the result in range */
    CHECK_EQ_INT(nn_conv2d_out_size(INT_MAX, 1, 1, 0, 1), INT_MAX);
    CHECK_EQ_INT(nn_conv2d_out_size(INT_MAX, 3, 2, 0, 1), INT_MAX / 2);
    CHECK_EQ_INT(nn_conv2d_out_size(100, 3, 1, 0, INT_MAX), 0);
    CHECK_EQ_INT(nn_conv2d_out_size(100, INT_MAX, 1, 0, 1), 0);

    /* work floats: at least one sample's im2col, (C/groups) kh kw OH OW; as much or more
       for a larger batch; 0 on a bad geometry or shape */
    g = geom(3, 5, 1, 1, 1, 2, 1, 1, 1); /* on 7x9: 7x9 out */
    CHECK(nn_conv2d_work_floats(1, 4, 7, 9, 6, &g) >= (size_t)4 * 3 * 5 * 7 * 9);
    CHECK(nn_conv2d_work_floats(5, 4, 7, 9, 6, &g) >= nn_conv2d_work_floats(1, 4, 7, 9, 6, &g));
    CHECK(nn_conv2d_work_floats(64, 4, 7, 9, 6, &g) >= nn_conv2d_work_floats(5, 4, 7, 9, 6, &g));
    g.groups = 2;
    CHECK(nn_conv2d_work_floats(1, 4, 7, 9, 6, &g) >= (size_t)2 * 3 * 5 * 7 * 9);
    g.groups = 3;
    CHECK(nn_conv2d_work_floats(1, 4, 7, 9, 6, &g) == 0); /* 3 does not divide C = 4 */
    g.groups = 4;
    CHECK(nn_conv2d_work_floats(1, 4, 7, 9, 6, &g) == 0); /* 4 does not divide OC = 6 */
    g.groups = 1;
    CHECK(nn_conv2d_work_floats(0, 4, 7, 9, 6, &g) == 0);
    CHECK(nn_conv2d_work_floats(1, 0, 7, 9, 6, &g) == 0);
    CHECK(nn_conv2d_work_floats(1, 4, 0, 9, 6, &g) == 0);
    CHECK(nn_conv2d_work_floats(1, 4, 7, -1, 6, &g) == 0);
    CHECK(nn_conv2d_work_floats(1, 4, 7, 9, 0, &g) == 0);
    CHECK(nn_conv2d_work_floats(1, 4, 7, 9, 6, NULL) == 0);
    g.ph = 0;
    CHECK(nn_conv2d_work_floats(1, 4, 2, 9, 6, &g) == 0); /* no 3-row window fits 2 rows */
    g.ph = 1;
    bad = g;
    bad.kh = 0;
    CHECK(nn_conv2d_work_floats(1, 4, 7, 9, 6, &bad) == 0);
    bad = g;
    bad.sw = 0;
    CHECK(nn_conv2d_work_floats(1, 4, 7, 9, 6, &bad) == 0);
    bad = g;
    bad.ph = -1;
    CHECK(nn_conv2d_work_floats(1, 4, 7, 9, 6, &bad) == 0);
    bad = g;
    bad.dil_w = 0;
    CHECK(nn_conv2d_work_floats(1, 4, 7, 9, 6, &bad) == 0);
    bad = g;
    bad.groups = 0;
    CHECK(nn_conv2d_work_floats(1, 4, 7, 9, 6, &bad) == 0);
}

/* Sizes whose true value does not fit the return type are out of range: 0, never a
   wrapped number (a caller sizing buffers from it would get a negative or a small size). */
static void test_conv2d_sizes_overflow(void) {
    nn_conv2d_geom g = nn_conv2d_geom_make(3, 1, 1);
    int o1 = nn_conv2d_out_size(INT_MAX, 1, 1, 1, 1), o2 = nn_conv2d_out_size(INT_MAX, 3, 1, INT_MAX, 1);
    size_t w1 = nn_conv2d_work_floats(1, INT_MAX, INT_MAX, INT_MAX, INT_MAX, &g);
    CHECKF(o1 == 0, "nn_conv2d_out_size(INT_MAX, k 1, s 1, pad 1) = %d: the size INT_MAX + 2 wrapped, want 0", o1);
    CHECKF(o2 == 0, "nn_conv2d_out_size(INT_MAX, k 3, s 1, pad INT_MAX) = %d: about 3 INT_MAX wrapped, want 0", o2);
    /* one sample's im2col alone, 9 INT_MAX^3 floats, exceeds any size_t of 64 bits or fewer */
    CHECKF(w1 == 0, "nn_conv2d_work_floats(1, INT_MAX, INT_MAX, INT_MAX, INT_MAX, k 3) = %lu: wrapped, want 0",
           (unsigned long)w1);
}

/* ======================================================================== */
/* caller mistakes, with and without NDEBUG                                   */
/* ======================================================================== */
#ifndef NN_TEST_LINKED
#define SENTINEL 12345.0f

static int all_equal(const float *p, size_t n, float v) {
    size_t i;
    for (i = 0; i < n; i++)
        if (!(p[i] == v)) return 0;
    return 1;
}

/* Runs one mistaken call: it must trip NN_ASSERT exactly once and leave the output
   buffers (filled with SENTINEL before the call) as they were. */
#define MISUSE(what, call, b1, n1, b2, n2, b3, n3)                                                                \
    do {                                                                                                          \
        long before_ = conv_asserts;                                                                              \
        fill_value(b1, n1, SENTINEL);                                                                             \
        fill_value(b2, n2, SENTINEL);                                                                             \
        fill_value(b3, n3, SENTINEL);                                                                             \
        call;                                                                                                     \
        CHECKF(conv_asserts == before_ + 1, "%s: NN_ASSERT tripped %ld times, want 1", what, conv_asserts - before_); \
        CHECKF(all_equal(b1, n1, SENTINEL) && all_equal(b2, n2, SENTINEL) && all_equal(b3, n3, SENTINEL),         \
               "%s: the refused call wrote its output", what);                                                   \
    } while (0)

static void test_conv_misuse(void) {
    enum { N = 2, C = 4, H = 5, W = 6, OC = 6, BIG = 2 * 8 * 6 * 7 };
    nn_conv2d_geom g = geom(3, 3, 1, 1, 1, 1, 1, 1, 1), gb;
    float *x = fbuf(BIG), *w = fbuf(BIG), *b = fbuf(OC), *y = fbuf(BIG), *dy = fbuf(BIG), *dx = fbuf(BIG);
    float *dw = fbuf(BIG), *db = fbuf(16), *work = fbuf(nn_conv2d_work_floats(N, C, H, W, OC, &g)), *sm = fbuf(16),
          *sr = fbuf(16), *rm = fbuf(16), *rv = fbuf(16), *mask = fbuf(BIG), *gam = fbuf(16), *bet = fbuf(16),
          *ones = fbuf(BIG);
    int *argmax = ibuf(BIG), i;
    nn_tensor X = nn_tensor_4d(x, N, C, H, W), Wt = nn_tensor_4d(w, OC, C, 3, 3), Bv = nn_tensor_1d(b, OC);
    nn_tensor Y = nn_tensor_4d(y, N, OC, H, W), DY = nn_tensor_4d(dy, N, OC, H, W);
    nn_tensor DX = nn_tensor_4d(dx, N, C, H, W), DW = nn_tensor_4d(dw, OC, C, 3, 3), DB = nn_tensor_1d(db, OC);
    nn_rng rng;
    nn_rng_seed(&rng, 81);
    fill_uniform(x, BIG, &rng, -1.0f, 1.0f);
    fill_uniform(w, BIG, &rng, -1.0f, 1.0f);
    fill_uniform(dy, BIG, &rng, -1.0f, 1.0f);
    fill_value(gam, 16, 1.0f);
    conv_expect_asserts = 1;

    /* conv2d forward */
    MISUSE("conv wrong OH", nn_conv2d_forward(nn_tensor_4d(y, N, OC, H - 1, W), X, Wt, Bv, &g, work), y, BIG, dx, 0,
           dw, 0);
    MISUSE("conv wrong OW", nn_conv2d_forward(nn_tensor_4d(y, N, OC, H, W + 1), X, Wt, Bv, &g, work), y, BIG, dx, 0,
           dw, 0);
    MISUSE("conv wrong batch", nn_conv2d_forward(nn_tensor_4d(y, 1, OC, H, W), X, Wt, Bv, &g, work), y, BIG, dx, 0,
           dw, 0);
    MISUSE("conv wrong OC", nn_conv2d_forward(nn_tensor_4d(y, N, OC - 1, H, W), X, Wt, Bv, &g, work), y, BIG, dx, 0,
           dw, 0);
    gb = g;
    gb.groups = 2; /* w (OC, C, 3, 3) but groups 2 needs (OC, C/2, 3, 3) */
    MISUSE("conv wrong groups", nn_conv2d_forward(Y, X, Wt, Bv, &gb, work), y, BIG, dx, 0, dw, 0);
    gb.groups = 3; /* C = 4 is not a multiple of 3 (OC = 6 is) */
    MISUSE("conv C not divisible by groups",
           nn_conv2d_forward(Y, X, nn_tensor_4d(w, OC, C / 3, 3, 3), Bv, &gb, work), y, BIG, dx, 0, dw, 0);
    gb.groups = 4; /* C = 4 is, OC = 6 is not */
    MISUSE("conv OC not divisible by groups", nn_conv2d_forward(Y, X, nn_tensor_4d(w, OC, 1, 3, 3), Bv, &gb, work),
           y, BIG, dx, 0, dw, 0);
    MISUSE("conv rank 2 input", nn_conv2d_forward(Y, nn_tensor_2d(x, N, C * H * W), Wt, Bv, &g, work), y, BIG, dx, 0,
           dw, 0);
    MISUSE("conv kernel 3x2 weight for a 3x3 window",
           nn_conv2d_forward(Y, X, nn_tensor_4d(w, OC, C, 3, 2), Bv, &g, work), y, BIG, dx, 0, dw, 0);
    MISUSE("conv bias of 5 for 6 channels", nn_conv2d_forward(Y, X, Wt, nn_tensor_1d(b, OC - 1), &g, work), y, BIG, dx,
           0, dw, 0);
    MISUSE("conv no work buffer", nn_conv2d_forward(Y, X, Wt, Bv, &g, NULL), y, BIG, dx, 0, dw, 0);
    gb = g;
    gb.sh = 0;
    MISUSE("conv stride 0", nn_conv2d_forward(Y, X, Wt, Bv, &gb, work), y, BIG, dx, 0, dw, 0);
    MISUSE("conv NULL geometry", nn_conv2d_forward(Y, X, Wt, Bv, NULL, work), y, BIG, dx, 0, dw, 0);

    /* conv2d backward: dx, dw, db all untouched */
    MISUSE("conv backward wrong OH in dy",
           nn_conv2d_backward(DX, DW, DB, nn_tensor_4d(dy, N, OC, H + 1, W), X, Wt, &g, work), dx, BIG, dw, BIG, db,
           OC);
    MISUSE("conv backward dx of another size",
           nn_conv2d_backward(nn_tensor_4d(dx, N, C, H, W - 1), DW, DB, DY, X, Wt, &g, work), dx, BIG, dw, BIG, db, OC);
    MISUSE("conv backward dw of another size",
           nn_conv2d_backward(DX, nn_tensor_4d(dw, OC, C, 3, 2), DB, DY, X, Wt, &g, work), dx, BIG, dw, BIG, db, OC);
    MISUSE("conv backward db of another size",
           nn_conv2d_backward(DX, DW, nn_tensor_1d(db, OC + 1), DY, X, Wt, &g, work), dx, BIG, dw, BIG, db, OC + 1);
    gb = g;
    gb.groups = 2;
    MISUSE("conv backward wrong groups", nn_conv2d_backward(DX, DW, DB, DY, X, Wt, &gb, work), dx, BIG, dw, BIG, db,
           OC);
    MISUSE("conv backward rank 2 input",
           nn_conv2d_backward(DX, DW, DB, DY, nn_tensor_2d(x, N, C * H * W), Wt, &g, work), dx, BIG, dw, BIG, db, OC);
    MISUSE("conv backward no work buffer", nn_conv2d_backward(DX, DW, DB, DY, X, Wt, &g, NULL), dx, BIG, dw, BIG, db,
           OC);

    /* max pooling: k 2 s 2 on 5x6 -> 2x3 */
    gb = geom(2, 2, 2, 2, 0, 0, 1, 1, 1);
    for (i = 0; i < BIG; i++) argmax[i] = 777;
    MISUSE("maxpool wrong OH", nn_maxpool2d_forward(nn_tensor_4d(y, N, C, 3, 3), argmax, X, &gb), y, BIG, dx, 0, dw, 0);
    gb.ph = 2; /* padding over half the kernel */
    MISUSE("maxpool padding 2 with kernel 2", nn_maxpool2d_forward(nn_tensor_4d(y, N, C, 4, 5), argmax, X, &gb), y,
           BIG, dx, 0, dw, 0);
    gb.ph = 0;
    gb.groups = 2;
    MISUSE("maxpool groups 2", nn_maxpool2d_forward(nn_tensor_4d(y, N, C, 2, 3), argmax, X, &gb), y, BIG, dx, 0, dw, 0);
    gb.groups = 1;
    MISUSE("maxpool NULL argmax", nn_maxpool2d_forward(nn_tensor_4d(y, N, C, 2, 3), NULL, X, &gb), y, BIG, dx, 0, dw,
           0);
    MISUSE("maxpool other channel count", nn_maxpool2d_forward(nn_tensor_4d(y, N, C + 1, 2, 3), argmax, X, &gb), y,
           BIG, dx, 0, dw, 0);
    MISUSE("maxpool rank 3 input",
           nn_maxpool2d_forward(nn_tensor_4d(y, N, C, 2, 3), argmax, nn_tensor_3d(x, N * C, H, W), &gb), y, BIG, dx, 0,
           dw, 0);
    {
        int bad = 0;
        for (i = 0; i < BIG; i++) bad += argmax[i] != 777;
        CHECKF(bad == 0, "refused max pooling wrote %d argmax entries", bad);
    }
    for (i = 0; i < N * C * 2 * 3; i++) argmax[i] = 0;
    MISUSE("maxpool backward other batch",
           nn_maxpool2d_backward(nn_tensor_4d(dx, N + 1, C, H, W), nn_tensor_4d(dy, N, C, 2, 3), argmax), dx, BIG, dw,
           0, db, 0);
    MISUSE("maxpool backward NULL argmax",
           nn_maxpool2d_backward(nn_tensor_4d(dx, N, C, H, W), nn_tensor_4d(dy, N, C, 2, 3), NULL), dx, BIG, dw, 0, db,
           0);

    /* average pooling */
    gb = geom(2, 2, 2, 2, 0, 0, 2, 2, 1); /* dilation: not a PyTorch AvgPool2d */
    MISUSE("avgpool dilation 2", nn_avgpool2d_forward(nn_tensor_4d(y, N, C, 2, 2), X, &gb, 1), y, BIG, dx, 0, dw, 0);
    gb.dil_h = gb.dil_w = 1;
    MISUSE("avgpool wrong OW", nn_avgpool2d_forward(nn_tensor_4d(y, N, C, 2, 4), X, &gb, 1), y, BIG, dx, 0, dw, 0);
    MISUSE("avgpool backward wrong OH",
           nn_avgpool2d_backward(nn_tensor_4d(dx, N, C, H, W), nn_tensor_4d(dy, N, C, 1, 3), &gb, 0), dx, BIG, dw, 0,
           db, 0);

    /* global average pooling */
    MISUSE("gap y of another size", nn_global_avgpool_forward(nn_tensor_2d(y, N, C + 1), X), y, BIG, dx, 0, dw, 0);
    MISUSE("gap rank 2 input", nn_global_avgpool_forward(nn_tensor_2d(y, N, C), nn_tensor_2d(x, N * C, H * W)), y, BIG,
           dx, 0, dw, 0);
    MISUSE("gap backward rank 2 dx",
           nn_global_avgpool_backward(nn_tensor_2d(dx, N * C, H * W), nn_tensor_2d(dy, N, C)), dx, BIG, dw, 0, db, 0);

    /* BatchNorm2d: one value per channel cannot train; running statistics untouched too */
    MISUSE("bn2d train on N*H*W = 1",
           nn_batchnorm2d_forward(nn_tensor_4d(y, 1, C, 1, 1), sm, sr, nn_tensor_4d(x, 1, C, 1, 1),
                                  nn_tensor_1d(gam, C), nn_tensor_1d(bet, C), rm, rv, 1e-5f, 0.1f, 1),
           y, BIG, rm, 16, rv, 16);
    MISUSE("bn2d gamma of another size",
           nn_batchnorm2d_forward(nn_tensor_4d(y, N, C, H, W), sm, sr, X, nn_tensor_1d(gam, C + 1),
                                  nn_tensor_1d(bet, C), rm, rv, 1e-5f, 0.1f, 1),
           y, BIG, rm, 16, sm, 16);
    MISUSE("bn2d rank 2 input",
           nn_batchnorm2d_forward(nn_tensor_2d(y, N, C * H * W), sm, sr, nn_tensor_2d(x, N, C * H * W),
                                  nn_tensor_1d(gam, C), nn_tensor_1d(bet, C), rm, rv, 1e-5f, 0.1f, 1),
           y, BIG, rm, 16, rv, 16);
    fill_value(sm, 16, 0.0f);
    fill_value(sr, 16, 1.0f);
    MISUSE("bn2d backward dy of another shape",
           nn_batchnorm2d_backward(nn_tensor_4d(dx, N, C, H, W), nn_tensor_1d(db, C), nn_tensor_1d(db + C, C),
                                   nn_tensor_4d(dy, N, C, W, H), X, nn_tensor_1d(gam, C), sm, sr, 1),
           dx, BIG, db, 2 * C, dw, 0);

    /* Dropout2d */
    MISUSE("dropout2d p = 1", nn_dropout2d_forward(nn_tensor_4d(y, N, C, H, W), mask, X, 1.0f, 1, &rng), y, BIG, mask,
           BIG, dw, 0);
    MISUSE("dropout2d training without an rng",
           nn_dropout2d_forward(nn_tensor_4d(y, N, C, H, W), mask, X, 0.5f, 1, NULL), y, BIG, mask, BIG, dw, 0);
    MISUSE("dropout2d NULL mask", nn_dropout2d_forward(nn_tensor_4d(y, N, C, H, W), NULL, X, 0.5f, 1, &rng), y, BIG,
           mask, BIG, dw, 0);
    MISUSE("dropout2d y of another size", nn_dropout2d_forward(nn_tensor_4d(y, N, C, H, W + 1), mask, X, 0.5f, 1, &rng),
           y, BIG, mask, BIG, dw, 0);
    fill_value(ones, BIG, 1.0f);
    MISUSE("dropout2d backward rank 2",
           nn_dropout2d_backward(nn_tensor_2d(dx, N * C, H * W), nn_tensor_2d(dy, N * C, H * W), ones, 1), dx, BIG, dw,
           0, db, 0);

    conv_expect_asserts = 0;
    /* and the same buffers, rightly shaped, are accepted (no NN_ASSERT: it would abort) */
    fill_value(y, BIG, SENTINEL);
    nn_conv2d_forward(Y, X, Wt, Bv, &g, work);
    CHECKF(!all_equal(y, (size_t)N * OC * H * W, SENTINEL) && y[(size_t)N * OC * H * W] == SENTINEL,
           "the well-shaped conv after the refused ones did not write exactly y");
    pool_release();
}
#endif /* NN_TEST_LINKED */

/* ======================================================================== */
static const test_case tests[] = {
    TEST(test_conv2d_parity),
    TEST(test_maxpool2d_parity),
    TEST(test_maxpool2d_nan_inf_padding),
    TEST(test_maxpool2d_ties_nan_widths),
    TEST(test_avgpool2d_parity),
    TEST(test_gap_parity),
    TEST(test_bn2d_parity),
    TEST(test_conv2d_vs_loops),
    TEST(test_gradcheck_conv2d),
    TEST(test_gradcheck_pooling),
    TEST(test_gradcheck_bn2d),
    TEST(test_bn2d_sum_order),
    TEST(test_gemm_conv_shapes),
    TEST(test_dropout2d),
    TEST(test_conv2d_out_size),
    TEST(test_conv2d_sizes_overflow),
#ifndef NN_TEST_LINKED
    TEST(test_conv_misuse),
#endif
};

int main(int argc, char **argv) { return TEST_MAIN(argc, argv, tests); }
