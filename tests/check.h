/* check.h - helpers shared by the layer suites (C99, also valid C++11): a scratch pool
 * released after each test, random fills, and the centred finite-difference gradient
 * check with its noise allowance. Include after nn.h and test.h. */
#ifndef NN_TESTS_CHECK_H
#define NN_TESTS_CHECK_H

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__GNUC__) || defined(__clang__)
#define CK_FN static __attribute__((unused))
#else
#define CK_FN static
#endif

/* ======================================================================== */
/* scratch memory: every buffer a test takes is released when it ends       */
/* ======================================================================== */
#define POOL_MAX 2048
static void *pool_ptr[POOL_MAX];
static int pool_n = 0;

CK_FN void *pool_take(size_t bytes) {
    void *p;
    if (pool_n == POOL_MAX) {
        printf("tests: scratch pool full\n");
        fflush(stdout);
        abort();
    }
    p = calloc(bytes ? bytes : 1, 1);
    if (!p) {
        printf("tests: out of memory\n");
        fflush(stdout);
        abort();
    }
    pool_ptr[pool_n++] = p;
    return p;
}
CK_FN float *fbuf(size_t n) { return (float *)pool_take(n * sizeof(float)); }
CK_FN int *ibuf(size_t n) { return (int *)pool_take(n * sizeof(int)); }
CK_FN double *dbuf(size_t n) { return (double *)pool_take(n * sizeof(double)); }
CK_FN float *fcopy(const float *src, size_t n) {
    float *p = fbuf(n);
    memcpy(p, src, n * sizeof(float));
    return p;
}
CK_FN void fill_value(float *p, size_t n, float v) {
    size_t i;
    for (i = 0; i < n; i++) p[i] = v;
}
/* A buffer full of NaN: an output the library fails to write shows up as a mismatch. */
CK_FN float *fnan(size_t n) {
    float *p = fbuf(n);
    fill_value(p, n, (float)NAN);
    return p;
}
CK_FN void pool_release(void) {
    while (pool_n > 0) free(pool_ptr[--pool_n]);
}

CK_FN float urand(nn_rng *r, float lo, float hi) { return lo + (hi - lo) * nn_rng_uniform(r); }
CK_FN void fill_uniform(float *p, size_t n, nn_rng *r, float lo, float hi) {
    size_t i;
    for (i = 0; i < n; i++) p[i] = urand(r, lo, hi);
}
CK_FN double dot(const float *a, const float *b, size_t n) {
    double s = 0.0;
    size_t i;
    for (i = 0; i < n; i++) s += (double)a[i] * (double)b[i];
    return s;
}
CK_FN double dmax(double a, double b) { return a > b ? a : b; }

/* ======================================================================== */
/* finite-difference gradient check                                         */
/* ======================================================================== */
/* What a forward produced: L = sum_i y[i] r[i] (for a loss: y = &loss, r = &one). */
typedef struct gc_out {
    const float *y;
    const float *r;
    size_t n;
} gc_out;
typedef gc_out (*gc_fwd_fn)(void *ctx);                  /* forward at the current parameters */
typedef int (*gc_sig_fn)(void *ctx, int *sig, int cap); /* kink signature of the last forward */

#define GC_TOL 1e-2
#define GC_FLOOR 1e-4
#define GC_SIG_CAP 8192

CK_FN gc_out gc_make(const float *y, const float *r, size_t n) {
    gc_out o;
    o.y = y;
    o.r = r;
    o.n = n;
    return o;
}

/* Checks analytic[i] = dL/dparam[i] for i < n by centred differences with step h (float).
   The actual step is (float)(p+h) - (float)(p-h), not 2h. An entry passes when
       |a - n| <= GC_TOL max(|a|, |n|) + noise,
   noise = FLT_EPSILON sqrt(sum over changed outputs of (y+ r)^2 + (y- r)^2) / step:
   every float32 output carries a rounding error of about FLT_EPSILON |y|, independent
   between outputs and between the two evaluations, and only outputs that changed
   contribute. (An elementwise layer changes one output, so noise is ~1e-5 there; a whole
   model changes all of them.) Entries with |a| and |n| both below GC_FLOOR count as
   agreeing. skip[i] != 0 marks entries within h of a kink; sig (optional) describes the
   piecewise-linear branch the forward took: an entry whose +h or -h forward takes another
   branch is retried once with h/5, then skipped. */
CK_FN void gradcheck(const char *what, float *param, const float *analytic, int n, float h, gc_fwd_fn fwd,
                      gc_sig_fn sig, void *ctx, const unsigned char *skip) {
    int i, checked = 0, small = 0, kinks = 0, failed = 0, noisy = 0, ns = 0;
    double worst = 0.0;
    int *s0 = NULL, *s1 = NULL;
    gc_out o = fwd(ctx);
    float *yp = fbuf(o.n);
    if (sig) {
        s0 = ibuf(GC_SIG_CAP);
        s1 = ibuf(GC_SIG_CAP);
        ns = sig(ctx, s0, GC_SIG_CAP);
        CHECKF(ns < GC_SIG_CAP, "gradcheck %s: kink signature too long", what);
    }
    for (i = 0; i < n; i++) {
        float v = param[i], xp = 0.0f, xm = 0.0f, step = h;
        double lp = 0.0, lm = 0.0, num, a = analytic[i], rel, noise = 0.0, diff;
        size_t j;
        int crossed = 1, attempt;
        if (skip && skip[i]) {
            kinks++;
            continue;
        }
        for (attempt = 0; attempt < (sig ? 2 : 1) && crossed; attempt++, step = h / 5.0f) {
            crossed = 0;
            param[i] = v + step;
            xp = param[i];
            o = fwd(ctx);
            lp = dot(o.y, o.r, o.n);
            memcpy(yp, o.y, o.n * sizeof(float));
            if (sig) crossed |= sig(ctx, s1, GC_SIG_CAP) != ns || memcmp(s0, s1, (size_t)ns * sizeof(int)) != 0;
            param[i] = v - step;
            xm = param[i];
            o = fwd(ctx);
            lm = dot(o.y, o.r, o.n);
            if (sig) crossed |= sig(ctx, s1, GC_SIG_CAP) != ns || memcmp(s0, s1, (size_t)ns * sizeof(int)) != 0;
            param[i] = v;
        }
        if (crossed) {
            kinks++;
            continue;
        }
        for (j = 0; j < o.n; j++)
            if (yp[j] != o.y[j]) {
                double up = (double)yp[j] * o.r[j], um = (double)o.y[j] * o.r[j];
                noise += up * up + um * um;
            }
        noise = FLT_EPSILON * sqrt(noise) / ((double)xp - (double)xm);
        num = (lp - lm) / ((double)xp - (double)xm);
        if (fabs(a) < GC_FLOOR && fabs(num) < GC_FLOOR) {
            small++;
            continue;
        }
        diff = fabs(a - num);
        rel = diff / dmax(fabs(a), fabs(num));
        checked++;
        if (!(rel <= worst)) worst = rel;
        if (!(diff <= GC_TOL * dmax(fabs(a), fabs(num)) + noise)) {
            if (failed < 3)
                printf("  gradcheck %s[%d]: analytic %.7g numeric %.7g rel %.3g (noise %.2g)\n", what, i, a, num, rel,
                       noise);
            failed++;
        } else if (rel > GC_TOL) {
            noisy++;
        }
    }
    (void)fwd(ctx); /* leave the context in its centre state */
    CHECKF(failed == 0, "gradcheck %s: %d of %d entries off by more than %g (worst rel %.3g)", what, failed,
           checked, GC_TOL, worst);
    /* A check that skipped most entries proves little. */
    CHECKF(checked > 0 && checked + small >= (n + 1) / 2,
           "gradcheck %s: only %d of %d entries compared (%d tiny, %d at a kink)", what, checked, n, small, kinks);
    TEST_NOTE("gradcheck %-28s %4d/%4d compared, %3d tiny, %3d at kinks, worst rel %.2e%s", what, checked, n, small,
              kinks, worst, noisy ? " (within the rounding noise)" : "");
}

#endif /* NN_TESTS_CHECK_H */
