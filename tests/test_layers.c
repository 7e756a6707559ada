/* test_layers.c - nn.h layers, activations, initializers and losses: PyTorch parity,
   finite-difference gradients, dropout and initializer statistics, model-level behaviour.

   Build and run from the repository root (fixtures are read from tests/fixtures/):
       gcc -std=c99 -O2 -Wall -Wextra -Wpedantic -Werror tests/test_layers.c -o /tmp/tl -lm && /tmp/tl
   An argument runs only the tests whose name contains it:  /tmp/tl batchnorm

   What is checked, and against what
   - Parity: forward output and every gradient against the PyTorch fixtures
     tests/fixtures/<case>.txt (written by tests/gen_fixtures.py; each file's comment header
     states the case's semantics). Rule of PARITY.md, element by element:
         |got - want| <= rtol |want| + atol max_j |want_j|,   rtol = atol = 1e-5,
     exact (rtol = atol = 0) where both sides do the same single float operation, and a
     written reason wherever a bound differs. For each fixture family one line
         parity <family> worst_rel <value>
     reports the worst elementwise relative error |got-want| / |want| over want != 0, and a
     note says where (a figure, not the pass criterion: it is large wherever the value is a
     sum that cancels to ~0 or a tail that underflows; both sides then carry rounding).
   - Finite differences: for a fixed random r, the scalar L = sum(y * r) (accumulated in
     double; for losses L is the loss itself) is evaluated at p + h and p - h for every
     entry p of every input and parameter; the centred difference must match the analytic
     gradient within a relative error |a - n| / max(|a|, |n|) <= 1e-2, plus an allowance
     for the float32 rounding noise of L (see gradcheck). Entries where both |a| and |n| are
     below 1e-4 count as agreeing, and entries whose perturbation crosses a kink (an
     activation's input changes sign, a maxout argmax changes, an input within h of a kink)
     are retried with h/5, then skipped; a check that compares under half its entries fails.
   - Dropout masks (rates, scaling, determinism), initializer statistics and gains, and
     whole models (training, train/eval determinism, summary, whole-model gradients).
   Everything is deterministic: data comes from nn_rng with fixed seeds. */
#ifndef NN_TEST_LINKED /* built against a separately compiled implementation */
#define NN_IMPLEMENTATION
#endif
#include "../nn.h"
#include "fixture.h"
#include "test.h"
#include "check.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LEN(a) ((int)(sizeof(a) / sizeof((a)[0])))
#define RTOL 1e-5
#define ATOL 1e-5


/* ======================================================================== */
/* random data and small helpers                                            */
/* ======================================================================== */
static int all_finite(const float *p, size_t n) {
    size_t i;
    for (i = 0; i < n; i++)
        if (!(p[i] == p[i]) || p[i] > FLT_MAX || p[i] < -FLT_MAX) return 0;
    return 1;
}

/* ======================================================================== */
/* fixtures and parity families                                             */
/* ======================================================================== */
static int fx_open(fx_file *f, const char *case_name) {
    char path[256];
    snprintf(path, sizeof path, "tests/fixtures/%s.txt", case_name);
    return CHECKF(fx_load(f, path) == 0, "cannot load fixture %s (run from the repository root)", path);
}

/* The tensor called name or NULL, without fx_get's message (for optional tensors). */
static const fx_tensor *fx_find(const fx_file *f, const char *name) {
    int i;
    for (i = 0; i < f->n; i++)
        if (strcmp(f->t[i].name, name) == 0) return &f->t[i];
    return NULL;
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
    CHECKF(fam->cases > 0, "parity %s: no fixture case compared", fam->name);
    printf("parity %s worst_rel %.3g\n", fam->name, fam->worst);
    if (fam->worst > 0.0) TEST_NOTE("%s worst at %s", fam->name, fam->where);
    fflush(stdout);
}

static void family_track(family *fam, const fx_file *f, const char *name, const float *got, const float *want,
                         int n) {
    double scale = 0.0;
    int i;
    for (i = 0; i < n; i++) scale = dmax(scale, fabs((double)want[i]));
    for (i = 0; i < n; i++) {
        double rel;
        if (want[i] == 0.0f) continue;
        rel = fabs((double)got[i] - (double)want[i]) / fabs((double)want[i]);
        if (!(rel <= fam->worst)) {
            const char *base = strrchr(f->path, '/');
            fam->worst = rel;
            snprintf(fam->where, sizeof fam->where, "%.200s %.63s[%d]: got %.9g want %.9g (max|want| %.3g)",
                     base ? base + 1 : f->path, name, i, got[i], want[i], scale);
        }
    }
}

/* Compares n computed values with fixture tensor `name` under the PARITY.md rule. */
static int cmp(family *fam, const fx_file *f, const char *name, const float *got, size_t n, double rtol,
               double atol) {
    const fx_tensor *t = fx_get(f, name);
    double worst = 0.0;
    int ok;
    if (!CHECKF(t != NULL, "%s: no tensor '%s'", f->path, name)) return 0;
    if (!CHECKF((size_t)t->size == n, "%s: '%s' has %d values, the test computed %lu", f->path, name, t->size,
                (unsigned long)n))
        return 0;
    ok = fx_close(got, t->data, t->size, rtol, atol, &worst);
    if (fam) family_track(fam, f, name, got, t->data, t->size);
    return CHECKF(ok, "%s: '%s' differs from PyTorch (rtol %g, atol %g x max|want|; worst rel %.3g)", f->path,
                  name, rtol, atol, worst);
}

/* A scalar result (a loss) against a rank-0 fixture value. */
static int cmp_scalar(family *fam, const fx_file *f, const char *name, float got, double rtol, double atol) {
    return cmp(fam, f, name, &got, 1, rtol, atol);
}


/* ======================================================================== */
/* activations                                                               */
/* ======================================================================== */
static const char *const act_shapes[] = {"1x1", "1x33", "3x17", "64x33"};

/* One activation family against every fixture shape (forward y, backward dx). */
static void act_family(const char *fname, nn_act act, double rtol, double atol) {
    family fam = family_start(fname);
    int s;
    for (s = 0; s < LEN(act_shapes); s++) {
        static const char *const need[] = {"x", "dy", "y", "dx"};
        char cname[64];
        fx_file f;
        const fx_tensor *tx;
        float alpha = 0.0f, *y, *dx, *alias;
        size_t n;
        nn_tensor X, Y, DY, DX;
        snprintf(cname, sizeof cname, "%s_%s", fname, act_shapes[s]);
        if (!fx_open(&f, cname)) continue;
        if (!fx_require(&f, need, LEN(need))) {
            fx_free(&f);
            continue;
        }
        if (act == NN_ACT_LEAKY_RELU || act == NN_ACT_ELU) alpha = fx_scalar(&f, "alpha");
        if (act == NN_ACT_SOFTPLUS) {
            /* nn.h implements PyTorch's defaults only: the fixture must use them. */
            CHECKF(fx_scalar(&f, "beta") == 1.0f && fx_scalar(&f, "threshold") == 20.0f,
                   "%s: softplus fixture is not beta=1 threshold=20", cname);
        }
        tx = fxt(&f, "x");
        n = (size_t)tx->size;
        X = nn_tensor_2d(fxd(&f, "x"), tx->shape[0], tx->shape[1]);
        DY = nn_tensor_2d(fxd(&f, "dy"), tx->shape[0], tx->shape[1]);
        y = fnan(n);
        dx = fnan(n);
        Y = nn_tensor_2d(y, tx->shape[0], tx->shape[1]);
        DX = nn_tensor_2d(dx, tx->shape[0], tx->shape[1]);
        nn_act_forward(act, alpha, Y, X);
        cmp(&fam, &f, "y", y, n, rtol, atol);
        nn_act_backward(act, alpha, DX, DY, X, Y);
        cmp(&fam, &f, "dx", dx, n, rtol, atol);
        if (n >= 17 && act != NN_ACT_SOFTMAX) {
            /* gen_fixtures.py puts ACT_SPECIAL (0, +-30, +-100, 20, 25, ...: 12 values) at
               the start of inputs of 17+ elements. y = 100 there sets max|want| and so an
               atol of 1e-3 for every other element; hold the random part to its own scale
               too. (Softmax rows mix both, so it keeps the whole-array rule only.) */
            enum { NSPECIAL = 12 };
            double w1 = 0.0, w2 = 0.0;
            int ok1 = fx_close(y + NSPECIAL, fxd(&f, "y") + NSPECIAL, (int)n - NSPECIAL, rtol, atol, &w1);
            int ok2 = fx_close(dx + NSPECIAL, fxd(&f, "dx") + NSPECIAL, (int)n - NSPECIAL, rtol, atol, &w2);
            CHECKF(ok1 && ok2, "%s: the non-special inputs differ on their own scale (y %s, dx %s)", cname,
                   ok1 ? "ok" : "off", ok2 ? "ok" : "off");
        }
        /* dx may alias dy: same bits as the separate buffer. */
        alias = fcopy(DY.data, n);
        nn_act_backward(act, alpha, nn_tensor_2d(alias, tx->shape[0], tx->shape[1]),
                        nn_tensor_2d(alias, tx->shape[0], tx->shape[1]), X, Y);
        CHECKF(memcmp(alias, dx, n * sizeof(float)) == 0, "%s: backward with dx aliasing dy differs", cname);
        if (act == NN_ACT_SOFTMAX) {
            /* softmax is over the last dim whatever the rank: (B,1,N) gives the same bits */
            float *y3 = fnan(n);
            nn_act_forward(act, 0.0f, nn_tensor_3d(y3, tx->shape[0], 1, tx->shape[1]),
                           nn_tensor_3d(X.data, tx->shape[0], 1, tx->shape[1]));
            CHECKF(memcmp(y3, y, n * sizeof(float)) == 0, "%s: rank-3 softmax differs from rank 2", cname);
        }
        fam.cases++;
        fx_free(&f);
    }
    family_end(&fam);
    pool_release();
}

/* LeakyReLU is one float multiply (alpha x, alpha dy) on both sides: bit-exact. */
static void test_leaky_relu_parity(void) { act_family("leaky_relu", NN_ACT_LEAKY_RELU, 0.0, 0.0); }
static void test_elu_parity(void) { act_family("elu", NN_ACT_ELU, RTOL, ATOL); }
static void test_gelu_parity(void) { act_family("gelu", NN_ACT_GELU, RTOL, ATOL); }
static void test_gelu_tanh_parity(void) { act_family("gelu_tanh", NN_ACT_GELU_TANH, RTOL, ATOL); }
static void test_silu_parity(void) { act_family("silu", NN_ACT_SILU, RTOL, ATOL); }
static void test_softplus_parity(void) { act_family("softplus", NN_ACT_SOFTPLUS, RTOL, ATOL); }
static void test_softmax_parity(void) { act_family("softmax", NN_ACT_SOFTMAX, RTOL, ATOL); }

/* Sigmoid (and the activations built on exp) stay finite for huge inputs. */
static void test_activation_extremes(void) {
    static const float xs[] = {-100.0f, 100.0f, -1000.0f, 1000.0f, -FLT_MAX, FLT_MAX, -88.8f, 88.8f, -104.0f};
    float x[LEN(xs)], y[LEN(xs)], dy[LEN(xs)], dx[LEN(xs)];
    int n = LEN(xs), i, a;
    nn_tensor X = nn_tensor_1d(x, n), Y = nn_tensor_1d(y, n), DY = nn_tensor_1d(dy, n), DX = nn_tensor_1d(dx, n);
    memcpy(x, xs, sizeof x);
    for (i = 0; i < n; i++) dy[i] = 1.0f;
    nn_sigmoid_forward(Y, X);
    CHECKF(all_finite(y, (size_t)n), "sigmoid of +-100 .. +-FLT_MAX is not finite");
    CHECKF(y[0] >= 0.0f && y[0] < 1e-40f, "sigmoid(-100) = %g, want ~3.7e-44", y[0]);
    CHECKF(y[1] == 1.0f, "sigmoid(100) = %.9g, want 1", y[1]);
    CHECKF(y[4] == 0.0f && y[5] == 1.0f, "sigmoid(-+FLT_MAX) = %g, %g", y[4], y[5]);
    nn_sigmoid_backward(DX, DY, Y);
    CHECKF(all_finite(dx, (size_t)n), "sigmoid backward at +-100 is not finite");
    /* Every other activation: finite forward and backward at the same points (softmax
       over a row holding all of them included). */
    for (a = 0; a < (int)NN_ACT_COUNT_; a++) {
        nn_act act = (nn_act)a;
        float alpha = act == NN_ACT_LEAKY_RELU ? 0.01f : (act == NN_ACT_ELU ? 1.0f : 0.0f);
        for (i = 0; i < n; i++) y[i] = dx[i] = (float)NAN;
        nn_act_forward(act, alpha, Y, X);
        nn_act_backward(act, alpha, DX, DY, X, Y);
        /* Only +-100 and +-1000 for all: at |x| > ~7e12 the tanh-GELU backward forms x^3 = inf
           and 0 * inf = NaN, exactly as PyTorch's kernel does (not a parity defect). */
        CHECKF(all_finite(y, 4) && all_finite(dx, 4), "%s at +-100/+-1000: y %g %g %g %g dx %g %g %g %g",
               nn_act_name(act), y[0], y[1], y[2], y[3], dx[0], dx[1], dx[2], dx[3]);
    }
}

/* ---- activation gradcheck ---- */
typedef struct act_ctx {
    nn_act act;
    float alpha;
    nn_tensor x, y;
    const float *r;
    size_t n;
} act_ctx;

static gc_out act_fwd(void *p) {
    act_ctx *c = (act_ctx *)p;
    nn_act_forward(c->act, c->alpha, c->y, c->x);
    return gc_make(c->y.data, c->r, c->n);
}

static void test_gradcheck_activations(void) {
    int a;
    for (a = 0; a < (int)NN_ACT_COUNT_; a++) {
        enum { B = 3, N = 17 };
        act_ctx c;
        nn_rng rng;
        float *x = fbuf(B * N), *y = fbuf(B * N), *r = fbuf(B * N), *dx = fbuf(B * N);
        unsigned char skip[B * N];
        const float h = 1e-2f;
        int i, kinked;
        char what[64];
        c.act = (nn_act)a;
        c.alpha = c.act == NN_ACT_LEAKY_RELU ? 0.1f : (c.act == NN_ACT_ELU ? 0.7f : 0.0f);
        nn_rng_seed(&rng, 100u + (unsigned)a);
        fill_uniform(x, B * N, &rng, -4.0f, 4.0f);
        fill_uniform(r, B * N, &rng, -1.0f, 1.0f);
        kinked = c.act == NN_ACT_RELU || c.act == NN_ACT_LEAKY_RELU || c.act == NN_ACT_ELU;
        for (i = 0; i < B * N; i++) skip[i] = (unsigned char)(kinked && fabsf(x[i]) < 2.0f * h);
        c.x = nn_tensor_2d(x, B, N);
        c.y = nn_tensor_2d(y, B, N);
        c.r = r;
        c.n = B * N;
        (void)act_fwd(&c);
        nn_act_backward(c.act, c.alpha, nn_tensor_2d(dx, B, N), nn_tensor_2d(r, B, N), c.x, c.y);
        snprintf(what, sizeof what, "act %s dx", nn_act_name(c.act));
        gradcheck(what, x, dx, B * N, h, act_fwd, NULL, &c, skip);
    }
    pool_release();
}

/* ======================================================================== */
/* maxout                                                                    */
/* ======================================================================== */
static void test_maxout_parity(void) {
    static const char *const cases[] = {"maxout_1x3x1x2", "maxout_3x17x5x3", "maxout_64x33x3x3"};
    static const char *const need[] = {"k", "x", "w", "b", "dy", "y", "dx", "dw", "db"};
    family fam = family_start("maxout");
    int c;
    for (c = 0; c < LEN(cases); c++) {
        fx_file f;
        int B, IN, OUTK, OUT, k;
        float *y, *z, *dz, *dx, *dw, *db;
        int *argmax;
        nn_tensor X, W, Bv, DY;
        if (!fx_open(&f, cases[c])) continue;
        if (!fx_require(&f, need, LEN(need))) {
            fx_free(&f);
            continue;
        }
        k = (int)fx_scalar(&f, "k");
        B = fxt(&f, "x")->shape[0];
        IN = fxt(&f, "x")->shape[1];
        OUTK = fxt(&f, "w")->shape[0];
        OUT = OUTK / k;
        X = nn_tensor_2d(fxd(&f, "x"), B, IN);
        W = nn_tensor_2d(fxd(&f, "w"), OUTK, IN);
        Bv = nn_tensor_1d(fxd(&f, "b"), OUTK);
        DY = nn_tensor_2d(fxd(&f, "dy"), B, OUT);
        y = fnan((size_t)B * OUT);
        z = fnan((size_t)B * OUTK);
        dz = fnan((size_t)B * OUTK);
        argmax = ibuf((size_t)B * OUT);
        dx = fnan((size_t)B * IN);
        dw = fbuf((size_t)OUTK * IN); /* zeroed: backward accumulates */
        db = fbuf((size_t)OUTK);
        nn_maxout_forward(nn_tensor_2d(y, B, OUT), nn_tensor_2d(z, B, OUTK), argmax, X, W, Bv, k);
        cmp(&fam, &f, "y", y, (size_t)B * OUT, RTOL, ATOL);
        nn_maxout_backward(nn_tensor_2d(dx, B, IN), nn_tensor_2d(dw, OUTK, IN), nn_tensor_1d(db, OUTK),
                           nn_tensor_2d(dz, B, OUTK), DY, X, W, argmax, k);
        cmp(&fam, &f, "dx", dx, (size_t)B * IN, RTOL, ATOL);
        cmp(&fam, &f, "dw", dw, (size_t)OUTK * IN, RTOL, ATOL);
        /* db sums dy over the rows whose argmax picked each piece: additions of the same
           values, but in a different order than torch's scatter; the rule applies. */
        cmp(&fam, &f, "db", db, (size_t)OUTK, RTOL, ATOL);
        {
            /* y is exactly z at the argmax, which is the first maximum */
            int i, o, j, bad = 0;
            for (i = 0; i < B; i++)
                for (o = 0; o < OUT; o++) {
                    int am = argmax[i * OUT + o];
                    const float *zr = z + (size_t)i * OUTK + (size_t)o * k;
                    if (am < 0 || am >= k || y[i * OUT + o] != zr[am]) bad++;
                    else
                        for (j = 0; j < k; j++)
                            if (zr[j] > zr[am] || (j < am && zr[j] == zr[am])) bad++;
                }
            CHECKF(bad == 0, "%s: %d maxout outputs are not the first maximum of z", cases[c], bad);
        }
        fam.cases++;
        fx_free(&f);
    }
    family_end(&fam);
    pool_release();
}

/* Ties: "first maximum wins" (as torch.max along a dim). Pieces 0 and 1 of every unit
   share their weights, so z ties exactly; piece 2 is lower. The first piece must be
   chosen and receive the whole gradient. */
static void test_maxout_ties(void) {
    enum { B = 3, IN = 4, OUT = 2, K = 3 };
    float x[B * IN], w[OUT * K * IN], b[OUT * K], y[B * OUT], z[B * OUT * K], dz[B * OUT * K], dy[B * OUT];
    float dx[B * IN], dw[OUT * K * IN], db[OUT * K];
    int argmax[B * OUT], i, o, j, bad = 0;
    nn_rng rng;
    nn_rng_seed(&rng, 5);
    fill_uniform(x, B * IN, &rng, -1.0f, 1.0f);
    fill_uniform(w, OUT * K * IN, &rng, -1.0f, 1.0f);
    fill_uniform(dy, B * OUT, &rng, 0.5f, 1.0f);
    for (o = 0; o < OUT; o++) {
        memcpy(w + (o * K + 1) * IN, w + (o * K) * IN, IN * sizeof(float));
        b[o * K] = b[o * K + 1] = 10.0f; /* pieces 0 and 1 well above piece 2 */
        b[o * K + 2] = -10.0f;
    }
    memset(dw, 0, sizeof dw);
    memset(db, 0, sizeof db);
    nn_maxout_forward(nn_tensor_2d(y, B, OUT), nn_tensor_2d(z, B, OUT * K), argmax, nn_tensor_2d(x, B, IN),
                      nn_tensor_2d(w, OUT * K, IN), nn_tensor_1d(b, OUT * K), K);
    for (i = 0; i < B * OUT; i++) bad += argmax[i] != 0;
    CHECKF(bad == 0, "maxout tie: %d argmax entries are not the first maximum", bad);
    nn_maxout_backward(nn_tensor_2d(dx, B, IN), nn_tensor_2d(dw, OUT * K, IN), nn_tensor_1d(db, OUT * K),
                       nn_tensor_2d(dz, B, OUT * K), nn_tensor_2d(dy, B, OUT), nn_tensor_2d(x, B, IN),
                       nn_tensor_2d(w, OUT * K, IN), argmax, K);
    bad = 0;
    for (o = 0; o < OUT; o++) {
        double want = 0.0;
        for (i = 0; i < B; i++) want += dy[i * OUT + o];
        bad += !(fabs(db[o * K] - want) <= 1e-6 * fabs(want)) || db[o * K + 1] != 0.0f || db[o * K + 2] != 0.0f;
        for (j = 0; j < IN; j++) bad += dw[(o * K + 1) * IN + j] != 0.0f || dw[(o * K + 2) * IN + j] != 0.0f;
    }
    CHECKF(bad == 0, "maxout tie: the gradient does not go to the first piece alone");
}

typedef struct maxout_ctx {
    nn_tensor x, w, b, y, z;
    int *argmax, k;
    const float *r;
} maxout_ctx;

static gc_out maxout_fwd(void *p) {
    maxout_ctx *c = (maxout_ctx *)p;
    nn_maxout_forward(c->y, c->z, c->argmax, c->x, c->w, c->b, c->k);
    return gc_make(c->y.data, c->r, nn_tensor_size(c->y));
}
static int maxout_sig(void *p, int *sig, int cap) {
    maxout_ctx *c = (maxout_ctx *)p;
    int n = (int)nn_tensor_size(c->y), i;
    for (i = 0; i < n && i < cap; i++) sig[i] = c->argmax[i];
    return n;
}

static void test_gradcheck_maxout(void) {
    enum { B = 4, IN = 6, OUT = 3, K = 3 };
    maxout_ctx c;
    nn_rng rng;
    float *x = fbuf(B * IN), *w = fbuf(OUT * K * IN), *b = fbuf(OUT * K), *y = fbuf(B * OUT), *z = fbuf(B * OUT * K);
    float *r = fbuf(B * OUT), *dx = fbuf(B * IN), *dw = fbuf(OUT * K * IN), *db = fbuf(OUT * K),
          *dz = fbuf(B * OUT * K);
    nn_rng_seed(&rng, 7);
    fill_uniform(x, B * IN, &rng, -1.5f, 1.5f);
    fill_uniform(w, OUT * K * IN, &rng, -1.0f, 1.0f);
    fill_uniform(b, OUT * K, &rng, -0.5f, 0.5f);
    fill_uniform(r, B * OUT, &rng, -1.0f, 1.0f);
    c.x = nn_tensor_2d(x, B, IN);
    c.w = nn_tensor_2d(w, OUT * K, IN);
    c.b = nn_tensor_1d(b, OUT * K);
    c.y = nn_tensor_2d(y, B, OUT);
    c.z = nn_tensor_2d(z, B, OUT * K);
    c.argmax = ibuf(B * OUT);
    c.k = K;
    c.r = r;
    (void)maxout_fwd(&c);
    nn_maxout_backward(nn_tensor_2d(dx, B, IN), nn_tensor_2d(dw, OUT * K, IN), nn_tensor_1d(db, OUT * K),
                       nn_tensor_2d(dz, B, OUT * K), nn_tensor_2d(r, B, OUT), c.x, c.w, c.argmax, K);
    gradcheck("maxout dx", x, dx, B * IN, 1e-2f, maxout_fwd, maxout_sig, &c, NULL);
    gradcheck("maxout dw", w, dw, OUT * K * IN, 1e-2f, maxout_fwd, maxout_sig, &c, NULL);
    gradcheck("maxout db", b, db, OUT * K, 1e-2f, maxout_fwd, maxout_sig, &c, NULL);
    pool_release();
}

/* ======================================================================== */
/* batch norm                                                                */
/* ======================================================================== */
static void bn_eval_part(family *fam, const fx_file *f, const char *cname, float *gamma, float *beta, float *rm,
                         float *rv, int F, float eps, float mom) {
    static const char *const need[] = {"xe", "dye", "ye", "dxe", "dgammae", "dbetae"};
    int B;
    float *y, *dx, *dg, *dbt, *sm = fbuf((size_t)F), *sr = fbuf((size_t)F), *rm0, *rv0;
    nn_tensor X, DY, G = nn_tensor_1d(gamma, F), Bt = nn_tensor_1d(beta, F);
    if (!fx_require(f, need, LEN(need))) return;
    B = fxt(f, "xe")->shape[0];
    X = nn_tensor_2d(fxd(f, "xe"), B, F);
    DY = nn_tensor_2d(fxd(f, "dye"), B, F);
    y = fnan((size_t)B * F);
    dx = fnan((size_t)B * F);
    dg = fbuf((size_t)F);
    dbt = fbuf((size_t)F);
    rm0 = fcopy(rm, (size_t)F);
    rv0 = fcopy(rv, (size_t)F);
    nn_batchnorm_forward(nn_tensor_2d(y, B, F), sm, sr, X, G, Bt, rm, rv, eps, mom, 0);
    cmp(fam, f, "ye", y, (size_t)B * F, RTOL, ATOL);
    CHECKF(memcmp(rm, rm0, (size_t)F * sizeof(float)) == 0 && memcmp(rv, rv0, (size_t)F * sizeof(float)) == 0,
           "%s: eval forward changed the running statistics", cname);
    nn_batchnorm_backward(nn_tensor_2d(dx, B, F), nn_tensor_1d(dg, F), nn_tensor_1d(dbt, F), DY, X, G, sm, sr, 0);
    cmp(fam, f, "dxe", dx, (size_t)B * F, RTOL, ATOL);
    cmp(fam, f, "dgammae", dg, (size_t)F, RTOL, ATOL);
    cmp(fam, f, "dbetae", dbt, (size_t)F, RTOL, ATOL);
}

static void bn_case(family *fam, const char *cname) {
    static const char *const need[] = {"eps", "momentum", "gamma", "beta", "running_mean0", "running_var0"};
    fx_file f;
    int F, step;
    float eps, mom, *gamma, *beta, *rm, *rv;
    if (!fx_open(&f, cname)) return;
    if (!fx_require(&f, need, LEN(need))) {
        fx_free(&f);
        return;
    }
    eps = fx_scalar(&f, "eps");
    mom = fx_scalar(&f, "momentum");
    F = fxt(&f, "gamma")->size;
    gamma = fcopy(fxd(&f, "gamma"), (size_t)F);
    beta = fcopy(fxd(&f, "beta"), (size_t)F);
    rm = fcopy(fxd(&f, "running_mean0"), (size_t)F);
    rv = fcopy(fxd(&f, "running_var0"), (size_t)F);
    for (step = 1; step <= 3 && fx_find(&f, "x1"); step++) {
        char nx[32], ndy[32], ny[32], ndx[32], ndg[32], ndb[32], nrm[32], nrv[32];
        const char *names[8];
        int B;
        float *y, *dx, *dg, *dbt, *sm = fbuf((size_t)F), *sr = fbuf((size_t)F);
        nn_tensor X, DY, G = nn_tensor_1d(gamma, F), Bt = nn_tensor_1d(beta, F);
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
        B = fxt(&f, nx)->shape[0];
        X = nn_tensor_2d(fxd(&f, nx), B, F);
        DY = nn_tensor_2d(fxd(&f, ndy), B, F);
        y = fnan((size_t)B * F);
        dx = fnan((size_t)B * F);
        dg = fbuf((size_t)F); /* zeroed every step: backward accumulates dgamma/dbeta */
        dbt = fbuf((size_t)F);
        nn_batchnorm_forward(nn_tensor_2d(y, B, F), sm, sr, X, G, Bt, rm, rv, eps, mom, 1);
        cmp(fam, &f, ny, y, (size_t)B * F, RTOL, ATOL);
        cmp(fam, &f, nrm, rm, (size_t)F, RTOL, ATOL);
        cmp(fam, &f, nrv, rv, (size_t)F, RTOL, ATOL);
        nn_batchnorm_backward(nn_tensor_2d(dx, B, F), nn_tensor_1d(dg, F), nn_tensor_1d(dbt, F), DY, X, G, sm, sr,
                              1);
        cmp(fam, &f, ndx, dx, (size_t)B * F, RTOL, ATOL);
        cmp(fam, &f, ndg, dg, (size_t)F, RTOL, ATOL);
        cmp(fam, &f, ndb, dbt, (size_t)F, RTOL, ATOL);
        if (step == 1) {
            /* The contract: dgamma/dbeta accumulate, dx is written. A second backward
               doubles the former (x + x is exact) and leaves dx bit-identical. */
            float *dx2 = fnan((size_t)B * F), *dg1 = fcopy(dg, (size_t)F), *db1 = fcopy(dbt, (size_t)F);
            int i, bad = 0;
            nn_batchnorm_backward(nn_tensor_2d(dx2, B, F), nn_tensor_1d(dg, F), nn_tensor_1d(dbt, F), DY, X, G, sm,
                                  sr, 1);
            for (i = 0; i < F; i++) bad += dg[i] != 2.0f * dg1[i] || dbt[i] != 2.0f * db1[i];
            CHECKF(bad == 0, "%s: a second backward does not accumulate dgamma/dbeta", cname);
            CHECKF(memcmp(dx2, dx, (size_t)B * F * sizeof(float)) == 0, "%s: a second backward changed dx", cname);
        }
    }
    bn_eval_part(fam, &f, cname, gamma, beta, rm, rv, F, eps, mom);
    fam->cases++;
    fx_free(&f);
}

static void test_batchnorm_parity(void) {
    static const char *const cases[] = {"batchnorm_3x1",  "batchnorm_3x17",         "batchnorm_17x3",
                                        "batchnorm_64x17", "batchnorm_17x3_eps_mom", "batchnorm_eval_1x17"};
    family fam = family_start("batchnorm");
    int c;
    for (c = 0; c < LEN(cases); c++) bn_case(&fam, cases[c]);
    family_end(&fam);
    pool_release();
}

typedef struct bn_ctx {
    nn_tensor x, y, gamma, beta;
    float *sm, *sr, *rm, *rv, eps, mom;
    int train;
    const float *r;
} bn_ctx;

static gc_out bn_fwd(void *p) {
    bn_ctx *c = (bn_ctx *)p;
    nn_batchnorm_forward(c->y, c->sm, c->sr, c->x, c->gamma, c->beta, c->rm, c->rv, c->eps, c->mom, c->train);
    return gc_make(c->y.data, c->r, nn_tensor_size(c->y));
}

static void test_gradcheck_batchnorm(void) {
    int train;
    for (train = 1; train >= 0; train--) {
        enum { B = 5, F = 4 };
        bn_ctx c;
        nn_rng rng;
        float *x = fbuf(B * F), *y = fbuf(B * F), *g = fbuf(F), *bt = fbuf(F), *r = fbuf(B * F);
        float *dx = fbuf(B * F), *dg = fbuf(F), *db = fbuf(F);
        int i;
        nn_rng_seed(&rng, 11);
        for (i = 0; i < B * F; i++) x[i] = urand(&rng, -2.0f, 2.0f) * (1.0f + (float)(i % F)) + (float)(i % F);
        fill_uniform(g, F, &rng, 0.5f, 1.5f);
        fill_uniform(bt, F, &rng, -0.5f, 0.5f);
        fill_uniform(r, B * F, &rng, -1.0f, 1.0f);
        c.x = nn_tensor_2d(x, B, F);
        c.y = nn_tensor_2d(y, B, F);
        c.gamma = nn_tensor_1d(g, F);
        c.beta = nn_tensor_1d(bt, F);
        c.sm = fbuf(F);
        c.sr = fbuf(F);
        c.rm = fbuf(F);
        c.rv = fbuf(F);
        for (i = 0; i < F; i++) {
            c.rm[i] = urand(&rng, -1.0f, 1.0f);
            c.rv[i] = urand(&rng, 0.5f, 2.0f);
        }
        c.eps = 1e-5f;
        c.mom = 0.1f;
        c.train = train;
        c.r = r;
        (void)bn_fwd(&c);
        nn_batchnorm_backward(nn_tensor_2d(dx, B, F), nn_tensor_1d(dg, F), nn_tensor_1d(db, F),
                              nn_tensor_2d(r, B, F), c.x, c.gamma, c.sm, c.sr, train);
        gradcheck(train ? "batchnorm train dx" : "batchnorm eval dx", x, dx, B * F, 1e-2f, bn_fwd, NULL, &c, NULL);
        gradcheck(train ? "batchnorm train dgamma" : "batchnorm eval dgamma", g, dg, F, 1e-2f, bn_fwd, NULL, &c,
                  NULL);
        gradcheck(train ? "batchnorm train dbeta" : "batchnorm eval dbeta", bt, db, F, 1e-2f, bn_fwd, NULL, &c,
                  NULL);
    }
    pool_release();
}

/* ======================================================================== */
/* layer norm                                                                */
/* ======================================================================== */
static void test_layernorm_parity(void) {
    static const char *const cases[] = {"layernorm_1x1", "layernorm_1x3", "layernorm_3x17", "layernorm_64x33"};
    static const char *const need[] = {"eps", "gamma", "beta", "x", "dy", "y", "dx", "dgamma", "dbeta"};
    family fam = family_start("layernorm");
    int c;
    for (c = 0; c < LEN(cases); c++) {
        fx_file f;
        int B, F;
        float *y, *dx, *dg, *db, *sm, *sr;
        nn_tensor X, DY, G, Bt;
        if (!fx_open(&f, cases[c])) continue;
        if (!fx_require(&f, need, LEN(need))) {
            fx_free(&f);
            continue;
        }
        B = fxt(&f, "x")->shape[0];
        F = fxt(&f, "x")->shape[1];
        X = nn_tensor_2d(fxd(&f, "x"), B, F);
        DY = nn_tensor_2d(fxd(&f, "dy"), B, F);
        G = nn_tensor_1d(fxd(&f, "gamma"), F);
        Bt = nn_tensor_1d(fxd(&f, "beta"), F);
        y = fnan((size_t)B * F);
        dx = fnan((size_t)B * F);
        dg = fbuf((size_t)F);
        db = fbuf((size_t)F);
        sm = fbuf((size_t)B);
        sr = fbuf((size_t)B);
        nn_layernorm_forward(nn_tensor_2d(y, B, F), sm, sr, X, G, Bt, fx_scalar(&f, "eps"));
        cmp(&fam, &f, "y", y, (size_t)B * F, RTOL, ATOL);
        nn_layernorm_backward(nn_tensor_2d(dx, B, F), nn_tensor_1d(dg, F), nn_tensor_1d(db, F), DY, X, G, sm, sr);
        cmp(&fam, &f, "dx", dx, (size_t)B * F, RTOL, ATOL);
        cmp(&fam, &f, "dbeta", db, (size_t)F, RTOL, ATOL);
        if (F > 1) {
            cmp(&fam, &f, "dgamma", dg, (size_t)F, RTOL, ATOL);
        } else {
            /* F = 1: x - mean(x) is exactly 0, so x_hat = 0, y = beta, dx = 0 and
               dgamma = sum dy x_hat = 0 exactly. PyTorch's dgamma is not 0 but rounding
               residue: it forms x_hat as x*rstd - mean*rstd with rstd = 1/sqrt(eps) ~ 316,
               so its x_hat is off by up to an ulp of |x| rstd. Hold nn.h to the exact
               values and the fixture to that residue bound. */
            int i, bad = 0;
            const float *want = fxd(&f, "dgamma"), *dyv = fxd(&f, "dy");
            double resid = 0.0;
            for (i = 0; i < B; i++) {
                bad += y[i] != Bt.data[0] || dx[i] != 0.0f;
                resid += fabs((double)dyv[i]) * fabs((double)X.data[i]) * sr[i] * FLT_EPSILON;
            }
            CHECKF(bad == 0 && dg[0] == 0.0f, "%s: F = 1 must give y = beta, dx = 0, dgamma = 0 exactly (dgamma %g)",
                   cases[c], dg[0]);
            CHECKF(fabs(want[0]) <= resid, "%s: fixture dgamma %g is more than rounding residue (%g)", cases[c],
                   want[0], resid);
        }
        fam.cases++;
        fx_free(&f);
    }
    family_end(&fam);
    pool_release();
}

typedef struct ln_ctx {
    nn_tensor x, y, gamma, beta;
    float *sm, *sr;
    const float *r;
} ln_ctx;

static gc_out ln_fwd(void *p) {
    ln_ctx *c = (ln_ctx *)p;
    nn_layernorm_forward(c->y, c->sm, c->sr, c->x, c->gamma, c->beta, 1e-5f);
    return gc_make(c->y.data, c->r, nn_tensor_size(c->y));
}

static void test_gradcheck_layernorm(void) {
    enum { B = 3, F = 7 };
    ln_ctx c;
    nn_rng rng;
    float *x = fbuf(B * F), *y = fbuf(B * F), *g = fbuf(F), *bt = fbuf(F), *r = fbuf(B * F);
    float *dx = fbuf(B * F), *dg = fbuf(F), *db = fbuf(F);
    nn_rng_seed(&rng, 13);
    fill_uniform(x, B * F, &rng, -2.0f, 3.0f);
    fill_uniform(g, F, &rng, 0.5f, 1.5f);
    fill_uniform(bt, F, &rng, -0.5f, 0.5f);
    fill_uniform(r, B * F, &rng, -1.0f, 1.0f);
    c.x = nn_tensor_2d(x, B, F);
    c.y = nn_tensor_2d(y, B, F);
    c.gamma = nn_tensor_1d(g, F);
    c.beta = nn_tensor_1d(bt, F);
    c.sm = fbuf(B);
    c.sr = fbuf(B);
    c.r = r;
    (void)ln_fwd(&c);
    nn_layernorm_backward(nn_tensor_2d(dx, B, F), nn_tensor_1d(dg, F), nn_tensor_1d(db, F), nn_tensor_2d(r, B, F),
                          c.x, c.gamma, c.sm, c.sr);
    gradcheck("layernorm dx", x, dx, B * F, 1e-2f, ln_fwd, NULL, &c, NULL);
    gradcheck("layernorm dgamma", g, dg, F, 1e-2f, ln_fwd, NULL, &c, NULL);
    gradcheck("layernorm dbeta", bt, db, F, 1e-2f, ln_fwd, NULL, &c, NULL);
    pool_release();
}

/* ======================================================================== */
/* weight-standardized dense                                                 */
/* ======================================================================== */
static void test_wsdense_parity(void) {
    static const char *const cases[] = {"wsdense_1x1x1", "wsdense_1x3x17", "wsdense_2x33x17", "wsdense_3x17x33",
                                        "wsdense_64x33x3"};
    static const char *const need[] = {"eps", "x", "w", "b", "w_hat", "dy", "y", "dx", "dw", "db"};
    family fam = family_start("wsdense");
    int c;
    for (c = 0; c < LEN(cases); c++) {
        fx_file f;
        int B, IN, OUT, o, i, bad = 0;
        float eps, *what, *rstd, *y, *dx, *dwh, *dw, *db;
        nn_tensor X, W, Bv, DY, WH;
        if (!fx_open(&f, cases[c])) continue;
        if (!fx_require(&f, need, LEN(need))) {
            fx_free(&f);
            continue;
        }
        eps = fx_scalar(&f, "eps");
        B = fxt(&f, "x")->shape[0];
        IN = fxt(&f, "x")->shape[1];
        OUT = fxt(&f, "w")->shape[0];
        X = nn_tensor_2d(fxd(&f, "x"), B, IN);
        W = nn_tensor_2d(fxd(&f, "w"), OUT, IN);
        Bv = nn_tensor_1d(fxd(&f, "b"), OUT);
        DY = nn_tensor_2d(fxd(&f, "dy"), B, OUT);
        what = fnan((size_t)OUT * IN);
        rstd = fnan((size_t)OUT);
        y = fnan((size_t)B * OUT);
        dx = fnan((size_t)B * IN);
        dwh = fbuf((size_t)OUT * IN); /* zeroed scratch: dense backward accumulates into it */
        dw = fbuf((size_t)OUT * IN);  /* zeroed: weight-std backward accumulates */
        db = fbuf((size_t)OUT);
        WH = nn_tensor_2d(what, OUT, IN);
        nn_weight_std_forward(WH, rstd, W, eps);
        cmp(&fam, &f, "w_hat", what, (size_t)OUT * IN, RTOL, ATOL);
        for (o = 0; o < OUT; o++) {
            /* rstd = 1/sqrt(var_biased + eps) of the row, recomputed in double */
            double s = 0.0, v = 0.0, want;
            for (i = 0; i < IN; i++) s += W.data[o * IN + i];
            s /= IN;
            for (i = 0; i < IN; i++) v += (W.data[o * IN + i] - s) * (W.data[o * IN + i] - s);
            want = 1.0 / sqrt(v / IN + eps);
            bad += !(fabs(rstd[o] - want) <= 1e-5 * want);
        }
        CHECKF(bad == 0, "%s: %d rows with rstd != 1/sqrt(var + eps)", cases[c], bad);
        nn_dense_forward(nn_tensor_2d(y, B, OUT), X, WH, Bv);
        cmp(&fam, &f, "y", y, (size_t)B * OUT, RTOL, ATOL);
        nn_dense_backward(nn_tensor_2d(dx, B, IN), nn_tensor_2d(dwh, OUT, IN), nn_tensor_1d(db, OUT), DY, X, WH);
        nn_weight_std_backward(nn_tensor_2d(dw, OUT, IN), nn_tensor_2d(dwh, OUT, IN), WH, rstd);
        cmp(&fam, &f, "dx", dx, (size_t)B * IN, RTOL, ATOL);
        cmp(&fam, &f, "dw", dw, (size_t)OUT * IN, RTOL, ATOL);
        cmp(&fam, &f, "db", db, (size_t)OUT, RTOL, ATOL);
        fam.cases++;
        fx_free(&f);
    }
    family_end(&fam);
    pool_release();
}

typedef struct ws_ctx {
    nn_tensor x, w, b, what, y;
    float *rstd;
    const float *r;
} ws_ctx;

static gc_out ws_fwd(void *p) {
    ws_ctx *c = (ws_ctx *)p;
    nn_weight_std_forward(c->what, c->rstd, c->w, 1e-5f);
    nn_dense_forward(c->y, c->x, c->what, c->b);
    return gc_make(c->y.data, c->r, nn_tensor_size(c->y));
}

static void test_gradcheck_wsdense(void) {
    enum { B = 3, IN = 5, OUT = 4 };
    ws_ctx c;
    nn_rng rng;
    float *x = fbuf(B * IN), *w = fbuf(OUT * IN), *b = fbuf(OUT), *y = fbuf(B * OUT), *r = fbuf(B * OUT);
    float *dx = fbuf(B * IN), *dwh = fbuf(OUT * IN), *dw = fbuf(OUT * IN), *db = fbuf(OUT);
    nn_rng_seed(&rng, 17);
    fill_uniform(x, B * IN, &rng, -1.5f, 1.5f);
    fill_uniform(w, OUT * IN, &rng, -1.0f, 1.0f);
    fill_uniform(b, OUT, &rng, -0.5f, 0.5f);
    fill_uniform(r, B * OUT, &rng, -1.0f, 1.0f);
    c.x = nn_tensor_2d(x, B, IN);
    c.w = nn_tensor_2d(w, OUT, IN);
    c.b = nn_tensor_1d(b, OUT);
    c.what = nn_tensor_2d(fbuf(OUT * IN), OUT, IN);
    c.y = nn_tensor_2d(y, B, OUT);
    c.rstd = fbuf(OUT);
    c.r = r;
    (void)ws_fwd(&c);
    nn_dense_backward(nn_tensor_2d(dx, B, IN), nn_tensor_2d(dwh, OUT, IN), nn_tensor_1d(db, OUT),
                      nn_tensor_2d(r, B, OUT), c.x, c.what);
    nn_weight_std_backward(nn_tensor_2d(dw, OUT, IN), nn_tensor_2d(dwh, OUT, IN), c.what, c.rstd);
    gradcheck("wsdense dx", x, dx, B * IN, 1e-2f, ws_fwd, NULL, &c, NULL);
    gradcheck("wsdense dw", w, dw, OUT * IN, 1e-2f, ws_fwd, NULL, &c, NULL);
    gradcheck("wsdense db", b, db, OUT, 1e-2f, ws_fwd, NULL, &c, NULL);
    pool_release();
}

/* ======================================================================== */
/* losses                                                                    */
/* ======================================================================== */
typedef enum loss_kind {
    LOSS_L1,
    LOSS_HUBER,
    LOSS_BCE,
    LOSS_BCE_LOGITS,
    LOSS_CE_WEIGHTED, /* labels + class weights */
    LOSS_CE_PROBS     /* probability targets, class weights optional */
} loss_kind;

typedef struct loss_args {
    loss_kind kind;
    nn_tensor pred, target; /* target: same shape as pred (not for CE labels) */
    const int *labels;
    const float *weight; /* class weights or NULL */
    float delta;
    float value, one; /* gradcheck: the last loss, and its weight 1 */
} loss_args;

static float loss_eval(const loss_args *a, nn_tensor dpred) {
    switch (a->kind) {
    case LOSS_L1: return nn_loss_l1(dpred, a->pred, a->target);
    case LOSS_HUBER: return nn_loss_huber(dpred, a->pred, a->target, a->delta);
    case LOSS_BCE: return nn_loss_bce(dpred, a->pred, a->target);
    case LOSS_BCE_LOGITS: return nn_loss_bce_logits(dpred, a->pred, a->target);
    case LOSS_CE_WEIGHTED: return nn_loss_cross_entropy_weighted(dpred, a->pred, a->labels, a->weight);
    case LOSS_CE_PROBS: return nn_loss_cross_entropy_probs(dpred, a->pred, a->target, a->weight);
    }
    return (float)NAN;
}

/* One loss family against its fixtures: the loss value and dpred. loss_rtol/grad_* are
   the bounds for the value and the gradient. */
static void loss_family(const char *fname, const char *const *cases, int n_cases, loss_kind kind, double grad_rtol,
                        double grad_atol) {
    static const char *const need[] = {"pred", "target", "loss", "dpred"};
    family fam = family_start(fname);
    int c;
    for (c = 0; c < n_cases; c++) {
        fx_file f;
        loss_args a;
        const fx_tensor *tp;
        int B, C, i;
        float *dpred, loss, loss2;
        if (!fx_open(&f, cases[c])) continue;
        if (!fx_require(&f, need, LEN(need))) {
            fx_free(&f);
            continue;
        }
        memset(&a, 0, sizeof a);
        tp = fxt(&f, "pred");
        B = tp->shape[0];
        C = tp->rank == 2 ? tp->shape[1] : 1;
        a.kind = kind;
        a.pred = nn_tensor_2d(tp->data, B, C);
        a.target = nn_tensor_2d(fxd(&f, "target"), B, C);
        if (kind == LOSS_HUBER) a.delta = fx_scalar(&f, "delta");
        if (fx_find(&f, "weight") && (kind == LOSS_CE_WEIGHTED || kind == LOSS_CE_PROBS)) a.weight = fxd(&f, "weight");
        if (kind == LOSS_CE_WEIGHTED) {
            /* labels are stored as floats in `target` (B values) */
            const fx_tensor *tt = fxt(&f, "target");
            int *labels = ibuf((size_t)B), bad = 0;
            CHECKF(tt->size == B, "%s: target has %d labels for %d rows", cases[c], tt->size, B);
            for (i = 0; i < B && i < tt->size; i++) {
                labels[i] = (int)tt->data[i];
                bad += (float)labels[i] != tt->data[i] || labels[i] < 0 || labels[i] >= C;
            }
            if (!CHECKF(bad == 0, "%s: labels are not integers in [0,%d)", cases[c], C)) {
                fx_free(&f);
                continue;
            }
            a.labels = labels;
            a.target = nn_tensor_2d(NULL, B, C); /* unused */
        }
        dpred = fnan((size_t)B * C);
        loss = loss_eval(&a, nn_tensor_2d(dpred, B, C));
        /* The loss is a mean accumulated in a different order: the general rule. */
        cmp_scalar(&fam, &f, "loss", loss, RTOL, ATOL);
        cmp(&fam, &f, "dpred", dpred, (size_t)B * C, grad_rtol, grad_atol);
        /* dpred.data == NULL: the same loss, no gradient written */
        loss2 = loss_eval(&a, nn_tensor_2d(NULL, B, C));
        CHECKF(loss2 == loss, "%s: loss without gradient %.9g != %.9g", cases[c], loss2, loss);
        fam.cases++;
        fx_free(&f);
    }
    family_end(&fam);
    pool_release();
}

static const char *const l1_cases[] = {"l1_1x1", "l1_1x33", "l1_3x17", "l1_64x10"};
static const char *const huber_cases[] = {"huber_d07_1x1", "huber_d07_1x33", "huber_d07_3x17", "huber_d07_64x10",
                                          "huber_d10_1x1", "huber_d10_1x33", "huber_d10_3x17", "huber_d10_64x10"};
static const char *const bce_cases[] = {"bce_1x1", "bce_1x33", "bce_3x17", "bce_64x10"};
static const char *const bce_edge_cases[] = {"bce_edge_1x6"};
static const char *const bce_logits_cases[] = {"bce_logits_1x1", "bce_logits_1x33", "bce_logits_3x17",
                                               "bce_logits_64x10"};
static const char *const ce_w_cases[] = {"ce_labels_weighted_1x1", "ce_labels_weighted_1x33",
                                         "ce_labels_weighted_3x17", "ce_labels_weighted_64x10"};
static const char *const ce_probs_cases[] = {"ce_probs_1x1", "ce_probs_1x33", "ce_probs_3x17", "ce_probs_64x10"};
static const char *const ce_onehot_cases[] = {"ce_probs_onehot_3x17", "ce_probs_onehot_64x10"};
static const char *const ce_probs_w_cases[] = {"ce_probs_weighted_1x1", "ce_probs_weighted_1x33",
                                               "ce_probs_weighted_3x17", "ce_probs_weighted_64x10"};

/* L1's gradient is sign(d) * (1/n) on both sides (torch: mean backward 1/n, times sgn):
   one rounding of the same quotient, so exact. */
static void test_l1_parity(void) { loss_family("l1", l1_cases, LEN(l1_cases), LOSS_L1, 0.0, 0.0); }
static void test_huber_parity(void) { loss_family("huber", huber_cases, LEN(huber_cases), LOSS_HUBER, RTOL, ATOL); }
static void test_bce_parity(void) { loss_family("bce", bce_cases, LEN(bce_cases), LOSS_BCE, RTOL, ATOL); }
/* bce_edge: p in {0,1}. Where p != t the gradient is (p-t)/max(p(1-p), 1e-12)/n, about
   +-1.7e11 and +-8.3e10, next to exact zeros where p == t. The array-scaled atol of the
   general rule would be 1e-5 * 1.7e11 = 1.7e6 and hide any error in the smaller entries
   (a zero computed as 1e5 would pass), so every element is held to its own value:
   rtol 1e-5, atol 0 (the zeros must come out exactly zero). */
static void test_bce_edge_parity(void) {
    loss_family("bce_edge", bce_edge_cases, LEN(bce_edge_cases), LOSS_BCE, RTOL, 0.0);
}
static void test_bce_logits_parity(void) {
    loss_family("bce_logits", bce_logits_cases, LEN(bce_logits_cases), LOSS_BCE_LOGITS, RTOL, ATOL);
}
static void test_ce_labels_weighted_parity(void) {
    loss_family("ce_labels_weighted", ce_w_cases, LEN(ce_w_cases), LOSS_CE_WEIGHTED, RTOL, ATOL);
}
static void test_ce_probs_parity(void) {
    loss_family("ce_probs", ce_probs_cases, LEN(ce_probs_cases), LOSS_CE_PROBS, RTOL, ATOL);
}
static void test_ce_probs_onehot_parity(void) {
    loss_family("ce_probs_onehot", ce_onehot_cases, LEN(ce_onehot_cases), LOSS_CE_PROBS, RTOL, ATOL);
}
static void test_ce_probs_weighted_parity(void) {
    loss_family("ce_probs_weighted", ce_probs_w_cases, LEN(ce_probs_w_cases), LOSS_CE_PROBS, RTOL, ATOL);
}

/* ---- loss gradcheck: L is the loss itself ---- */
static gc_out loss_fwd(void *p) {
    loss_args *a = (loss_args *)p;
    a->value = loss_eval(a, nn_tensor_2d(NULL, 1, 1));
    a->one = 1.0f;
    return gc_make(&a->value, &a->one, 1);
}

static void loss_gradcheck(const char *what, loss_args *a, float h, const unsigned char *skip) {
    size_t n = nn_tensor_size(a->pred);
    float *d = fbuf(n);
    (void)loss_eval(a, nn_tensor_2d(d, a->pred.shape[0], a->pred.shape[1]));
    gradcheck(what, a->pred.data, d, (int)n, h, loss_fwd, NULL, a, skip);
}

static void test_gradcheck_losses(void) {
    enum { B = 3, C = 5, N = B * C };
    nn_rng rng;
    loss_args a;
    float *pred = fbuf(N), *target = fbuf(N), *weight = fbuf(C);
    int *labels = ibuf(B), i;
    unsigned char skip[N];
    nn_rng_seed(&rng, 19);

    /* L1 away from ties (the kink at pred == target) */
    memset(&a, 0, sizeof a);
    a.kind = LOSS_L1;
    a.pred = nn_tensor_2d(pred, B, C);
    a.target = nn_tensor_2d(target, B, C);
    for (i = 0; i < N; i++) {
        target[i] = urand(&rng, -1.0f, 1.0f);
        pred[i] = target[i] + (i % 2 ? 1.0f : -1.0f) * urand(&rng, 0.1f, 1.0f);
    }
    loss_gradcheck("l1 dpred", &a, 1e-2f, NULL);

    /* Huber: both branches, nothing within h of |d| = delta (the second-derivative kink) */
    a.kind = LOSS_HUBER;
    a.delta = 0.7f;
    for (i = 0; i < N; i++) {
        target[i] = urand(&rng, -1.0f, 1.0f);
        pred[i] = target[i] + urand(&rng, -2.0f, 2.0f);
        skip[i] = (unsigned char)(fabsf(fabsf(pred[i] - target[i]) - a.delta) < 0.02f);
    }
    loss_gradcheck("huber dpred", &a, 1e-2f, skip);

    /* BCE on probabilities in [0.1, 0.9], hard and soft targets at least 0.1 away */
    a.kind = LOSS_BCE;
    for (i = 0; i < N; i++) {
        pred[i] = urand(&rng, 0.1f, 0.9f);
        target[i] = i % 3 == 0 ? 0.0f : (i % 3 == 1 ? 1.0f : 0.3f);
        if (fabsf(pred[i] - target[i]) < 0.1f) pred[i] = target[i] + 0.2f;
    }
    loss_gradcheck("bce dprob", &a, 1e-3f, NULL);

    /* BCE on logits, sigmoid(z) at least 0.05 from the target */
    a.kind = LOSS_BCE_LOGITS;
    for (i = 0; i < N; i++) {
        float s;
        do {
            pred[i] = urand(&rng, -4.0f, 4.0f);
            target[i] = i % 2 ? urand(&rng, 0.0f, 1.0f) : (float)(i % 4 == 0);
            s = 1.0f / (1.0f + expf(-pred[i]));
        } while (fabsf(s - target[i]) < 0.05f);
    }
    loss_gradcheck("bce_logits dlogits", &a, 1e-2f, NULL);

    /* weighted CE with labels */
    a.kind = LOSS_CE_WEIGHTED;
    fill_uniform(pred, N, &rng, -1.5f, 1.5f);
    fill_uniform(weight, C, &rng, 0.2f, 2.0f);
    for (i = 0; i < B; i++) labels[i] = (int)nn_rng_below(&rng, C);
    a.labels = labels;
    a.weight = weight;
    loss_gradcheck("ce weighted dlogits", &a, 1e-2f, NULL);

    /* CE with soft probability targets, with and without class weights */
    a.kind = LOSS_CE_PROBS;
    fill_uniform(pred, N, &rng, -1.5f, 1.5f);
    for (i = 0; i < B; i++) {
        float s = 0.0f;
        int j;
        for (j = 0; j < C; j++) s += target[i * C + j] = urand(&rng, 0.05f, 1.0f);
        for (j = 0; j < C; j++) target[i * C + j] /= s;
    }
    a.weight = NULL;
    loss_gradcheck("ce probs dlogits", &a, 1e-2f, NULL);
    a.weight = weight;
    loss_gradcheck("ce probs weighted dlogits", &a, 1e-2f, NULL);
    pool_release();
}

/* ======================================================================== */
/* dropout                                                                   */
/* ======================================================================== */
static void test_dropout_mask(void) {
    static const float ps[] = {0.1f, 0.5f, 0.9f};
    enum { N = 100000 };
    nn_rng rng;
    float *x = fbuf(N), *y = fbuf(N), *mask = fbuf(N), *y2 = fbuf(N), *mask2 = fbuf(N), *dy = fbuf(N),
          *dx = fbuf(N);
    int pi, i;
    nn_tensor X = nn_tensor_1d(x, N), Y = nn_tensor_1d(y, N), DY = nn_tensor_1d(dy, N), DX = nn_tensor_1d(dx, N);
    nn_rng_seed(&rng, 23);
    for (i = 0; i < N; i++) {
        x[i] = urand(&rng, -3.0f, 3.0f);
        if (x[i] == 0.0f) x[i] = 1.0f; /* kept vs dropped must be visible in y */
        dy[i] = urand(&rng, -1.0f, 1.0f);
    }
    for (pi = 0; pi < LEN(ps); pi++) {
        float p = ps[pi], scale = 1.0f / (1.0f - p);
        long kept = 0, bad_value = 0, bad_mask = 0, bad_back = 0, differ = 0;
        double rate, worst_rel = 0.0;
        nn_rng_seed(&rng, 1234);
        nn_dropout_forward(Y, mask, X, p, 1, &rng);
        for (i = 0; i < N; i++) {
            if (mask[i] == 0.0f) {
                bad_value += y[i] != 0.0f;
            } else {
                double want = (double)x[i] / (1.0 - (double)p), rel = fabs((double)y[i] - want) / fabs(want);
                kept++;
                bad_mask += mask[i] != scale;
                /* Inverted dropout as PyTorch computes it: y = x * (1/(1-p)) in float, so
                   the kept values equal x/(1-p) up to those two roundings (<= 2^-23). */
                bad_value += y[i] != x[i] * scale || !(rel <= 2.4e-7);
                if (rel > worst_rel) worst_rel = rel;
            }
        }
        rate = (double)kept / N;
        CHECKF(fabs(rate - (1.0 - p)) <= 0.01, "p=%g: keep rate %.4f, want %.2f +- 0.01", p, rate, 1.0 - p);
        CHECKF(bad_mask == 0, "p=%g: %ld mask entries are neither 0 nor 1/(1-p)", p, bad_mask);
        CHECKF(bad_value == 0, "p=%g: %ld outputs are neither 0 nor x/(1-p) (worst rel %.3g)", p, bad_value,
               worst_rel);
        /* backward: the same mask */
        for (i = 0; i < N; i++) dx[i] = (float)NAN;
        nn_dropout_backward(DX, DY, mask, 1);
        for (i = 0; i < N; i++) bad_back += dx[i] != dy[i] * mask[i] || ((mask[i] == 0.0f) != (y[i] == 0.0f));
        CHECKF(bad_back == 0, "p=%g: %ld backward entries differ from dy * mask", p, bad_back);
        /* same seed, same mask; another seed, another mask */
        nn_rng_seed(&rng, 1234);
        nn_dropout_forward(nn_tensor_1d(y2, N), mask2, X, p, 1, &rng);
        CHECKF(memcmp(mask, mask2, N * sizeof(float)) == 0 && memcmp(y, y2, N * sizeof(float)) == 0,
               "p=%g: the same seed gave a different mask", p);
        nn_rng_seed(&rng, 1235);
        nn_dropout_forward(nn_tensor_1d(y2, N), mask2, X, p, 1, &rng);
        for (i = 0; i < N; i++) differ += (mask[i] == 0.0f) != (mask2[i] == 0.0f);
        /* two independent masks disagree on a fraction 2p(1-p) of the entries */
        CHECKF(fabs((double)differ / N - 2.0 * p * (1.0 - p)) <= 0.01,
               "p=%g: masks of seeds 1234 and 1235 differ on %ld of %d entries", p, differ, (int)N);
        /* eval: exactly the identity, the gradient too */
        nn_dropout_forward(nn_tensor_1d(y2, N), mask2, X, p, 0, &rng);
        CHECKF(memcmp(y2, x, N * sizeof(float)) == 0, "p=%g: eval dropout is not the identity", p);
        for (i = 0; i < N; i++) dx[i] = (float)NAN;
        nn_dropout_backward(DX, DY, mask, 0);
        CHECKF(memcmp(dx, dy, N * sizeof(float)) == 0, "p=%g: eval dropout backward is not the identity", p);
    }
    {
        /* identity bit for bit: -0, NaN, infinities, subnormals; with and without mask, in place */
        float v[6], w[6], m[6];
        nn_rng r2;
        v[0] = -0.0f;
        v[1] = (float)NAN;
        v[2] = (float)INFINITY;
        v[3] = -FLT_MIN / 8.0f;
        v[4] = 1.0f / 3.0f;
        v[5] = -FLT_MAX;
        nn_rng_seed(&r2, 1);
        nn_dropout_forward(nn_tensor_1d(w, 6), m, nn_tensor_1d(v, 6), 0.5f, 0, &r2);
        CHECKF(memcmp(w, v, sizeof v) == 0, "eval dropout changed -0/NaN/inf/subnormal bits");
        nn_dropout_forward(nn_tensor_1d(w, 6), NULL, nn_tensor_1d(v, 6), 0.5f, 0, &r2);
        CHECKF(memcmp(w, v, sizeof v) == 0, "eval dropout without a mask is not the identity");
        memcpy(w, v, sizeof v);
        nn_dropout_forward(nn_tensor_1d(w, 6), m, nn_tensor_1d(w, 6), 0.5f, 0, &r2);
        CHECKF(memcmp(w, v, sizeof v) == 0, "in-place eval dropout is not the identity");
        /* p = 0 in training keeps everything */
        nn_dropout_forward(nn_tensor_1d(w, 6), m, nn_tensor_1d(v, 6), 0.0f, 1, &r2);
        CHECKF(memcmp(w, v, sizeof v) == 0, "dropout with p = 0 is not the identity");
    }
    pool_release();
}

/* ======================================================================== */
/* initializers                                                              */
/* ======================================================================== */
static void test_init_gain(void) {
    /* torch.nn.init.calculate_gain values */
    CHECK_CLOSE(nn_init_gain(NN_ACT_RELU, 0.0f), sqrt(2.0), 1e-6, 0.0);
    CHECK_CLOSE(nn_init_gain(NN_ACT_TANH, 0.0f), 5.0 / 3.0, 1e-6, 0.0);
    CHECK_CLOSE(nn_init_gain(NN_ACT_LEAKY_RELU, 0.2f), sqrt(2.0 / 1.04), 1e-6, 0.0);
    CHECK_CLOSE(nn_init_gain(NN_ACT_LEAKY_RELU, 0.01f), sqrt(2.0 / (1.0 + 0.01 * 0.01)), 1e-6, 0.0);
    CHECK_CLOSE(nn_init_gain(NN_ACT_SIGMOID, 0.0f), 1.0, 1e-6, 0.0);
    CHECK_CLOSE(nn_init_gain(NN_ACT_IDENTITY, 0.0f), 1.0, 1e-6, 0.0);
}

typedef struct init_case {
    nn_init scheme;
    const char *name;
    int uniform;     /* 1: U(-a, a) */
    int use_fan_out; /* KAIMING */
    nn_act gain_of;  /* the gain passed in */
} init_case;

static void test_init_fill(void) {
    enum { FO = 256, FI = 512, N = FO * FI };
    static const init_case cases[] = {
        {NN_INIT_DEFAULT, "default", 1, 0, NN_ACT_IDENTITY},
        {NN_INIT_SMALL_RANDOM, "small_random", 0, 0, NN_ACT_IDENTITY},
        {NN_INIT_CALIBRATED, "calibrated", 0, 0, NN_ACT_IDENTITY},
        {NN_INIT_XAVIER_UNIFORM, "xavier_uniform", 1, 0, NN_ACT_TANH},
        {NN_INIT_XAVIER_NORMAL, "xavier_normal", 0, 0, NN_ACT_TANH},
        {NN_INIT_KAIMING_UNIFORM, "kaiming_uniform", 1, 0, NN_ACT_RELU},
        {NN_INIT_KAIMING_UNIFORM, "kaiming_uniform fan_out", 1, 1, NN_ACT_RELU},
        {NN_INIT_KAIMING_NORMAL, "kaiming_normal", 0, 0, NN_ACT_RELU},
        {NN_INIT_KAIMING_NORMAL, "kaiming_normal fan_out", 0, 1, NN_ACT_LEAKY_RELU},
        {NN_INIT_LECUN_UNIFORM, "lecun_uniform", 1, 0, NN_ACT_IDENTITY},
        {NN_INIT_LECUN_NORMAL, "lecun_normal", 0, 0, NN_ACT_IDENTITY},
    };
    float *w = fbuf(N);
    int c, i;
    for (c = 0; c < LEN(cases); c++) {
        const init_case *ic = &cases[c];
        float gain = nn_init_gain(ic->gain_of, 0.2f);
        double fan = ic->use_fan_out ? FO : FI, sd = 0.0, a = 0.0, s = 0.0, s2 = 0.0, mean, std, mx = 0.0;
        long beyond2 = 0;
        nn_rng rng;
        /* the documented scale of each scheme */
        switch (ic->scheme) {
        case NN_INIT_DEFAULT: a = 1.0 / sqrt((double)FI); break;
        case NN_INIT_SMALL_RANDOM: sd = 0.01; break;
        case NN_INIT_CALIBRATED: sd = 1.0 / sqrt((double)FI); break;
        case NN_INIT_XAVIER_UNIFORM: a = gain * sqrt(6.0 / (FI + FO)); break;
        case NN_INIT_XAVIER_NORMAL: sd = gain * sqrt(2.0 / (FI + FO)); break;
        case NN_INIT_KAIMING_UNIFORM: a = gain * sqrt(3.0 / fan); break;
        case NN_INIT_KAIMING_NORMAL: sd = gain / sqrt(fan); break;
        case NN_INIT_LECUN_UNIFORM: a = sqrt(3.0 / FI); break;
        case NN_INIT_LECUN_NORMAL: sd = 1.0 / sqrt((double)FI); break;
        default: break;
        }
        if (ic->uniform) sd = a / sqrt(3.0);
        nn_rng_seed(&rng, 29u + (unsigned)c);
        nn_init_fill(w, FO, FI, ic->scheme, gain, 0.0f, ic->use_fan_out, &rng);
        for (i = 0; i < N; i++) {
            s += w[i];
            s2 += (double)w[i] * w[i];
            if (fabs(w[i]) > mx) mx = fabs(w[i]);
            beyond2 += fabs(w[i]) > 2.0 * sd;
        }
        mean = s / N;
        std = sqrt(s2 / N - mean * mean);
        /* the standard error of the mean is sd/362: 0.02 sd is over 7 of them */
        CHECKF(fabs(mean) <= 0.02 * sd, "%s: mean %.3g, want 0 (sd %.3g)", ic->name, mean, sd);
        CHECKF(fabs(std / sd - 1.0) <= 0.03, "%s: std %.5g, want %.5g within 3%%", ic->name, std, sd);
        if (ic->uniform) {
            CHECKF(mx <= a && mx >= 0.99 * a, "%s: max |w| %.6g, want within the bound %.6g and near it", ic->name,
                   mx, a);
            CHECKF(beyond2 == 0, "%s: %ld values beyond 2 sd, impossible for U(-a,a)", ic->name, beyond2);
        } else {
            /* a normal puts 4.55% beyond 2 sd (a uniform of the same sd puts none) */
            CHECKF(fabs((double)beyond2 / N - 0.0455) <= 0.005, "%s: %.4f of values beyond 2 sd, want 0.0455",
                   ic->name, (double)beyond2 / N);
        }
    }
    {
        nn_rng rng;
        int bad = 0;
        nn_rng_seed(&rng, 31);
        nn_init_fill(w, FO, FI, NN_INIT_ZEROS, 1.0f, 3.5f, 0, &rng);
        for (i = 0; i < N; i++) bad += w[i] != 0.0f;
        CHECKF(bad == 0, "zeros: %d values are not 0", bad);
        bad = 0;
        nn_init_fill(w, FO, FI, NN_INIT_CONSTANT, 1.0f, 0.375f, 0, &rng);
        for (i = 0; i < N; i++) bad += w[i] != 0.375f;
        CHECKF(bad == 0, "constant 0.375: %d values differ", bad);
        bad = 0;
        nn_init_fill(w, FO, FI, NN_INIT_CONSTANT, 1.0f, -2.0f, 0, &rng);
        for (i = 0; i < N; i++) bad += w[i] != -2.0f;
        CHECKF(bad == 0, "constant -2: %d values differ", bad);
    }
    pool_release();
}

static void test_model_init_kaiming(void) {
    nn_layer_desc ld[1];
    nn_model_desc md;
    nn_model m;
    nn_arena arena;
    size_t bytes, i, n, zero = 0;
    double s2 = 0.0, sd;
    ld[0] = nn_dense(256, NN_ACT_RELU); /* init_gain = nn_init_gain(ReLU) = sqrt(2) */
    ld[0].init = NN_INIT_KAIMING_NORMAL;
    memset(&md, 0, sizeof md);
    md.inputs = 512;
    md.max_batch = 1;
    md.layers = ld;
    md.n_layers = 1;
    md.seed = 37;
    bytes = nn_model_arena_bytes(&md);
    if (!CHECK(bytes > 0)) return;
    if (!CHECK(nn_arena_init_heap(&arena, bytes) == NN_OK)) return;
    if (CHECK(nn_model_init(&m, &arena, &md) == NN_OK)) {
        const nn_layer *dl = &m.layers[0];
        CHECK_EQ_INT(dl->kind, NN_LAYER_DENSE);
        if (CHECK(dl->b.data != NULL)) {
            n = nn_tensor_size(dl->b);
            for (i = 0; i < n; i++) zero += dl->b.data[i] == 0.0f;
            CHECKF(zero == n, "KAIMING_NORMAL dense: %lu of %lu biases are not zero", (unsigned long)(n - zero),
                   (unsigned long)n);
        }
        n = nn_tensor_size(dl->w);
        for (i = 0; i < n; i++) s2 += (double)dl->w.data[i] * dl->w.data[i];
        sd = sqrt(2.0) / sqrt(512.0); /* gain of the layer's ReLU / sqrt(fan_in) */
        CHECKF(fabs(sqrt(s2 / (double)n) / sd - 1.0) <= 0.03, "KAIMING_NORMAL dense: weight rms %.5g, want %.5g",
               sqrt(s2 / (double)n), sd);
    }
    nn_arena_deinit(&arena);
}

/* ======================================================================== */
/* descriptions: PyTorch's defaults from the constructors, then literal     */
/* ======================================================================== */
/* Each constructor stamps the tag and PyTorch's defaults, and only those. */
static void test_layer_desc_defaults(void) {
    nn_layer_desc l;
    int k;
    for (k = 1; k < (int)NN_LAYER_KIND_COUNT_; k++) {
        l = nn_layer_desc_default((nn_layer_kind)k);
        CHECKF(l.tag == NN_DESC_TAG && (int)l.kind == k, "kind %d: tag %#x", k, (unsigned)l.tag);
        CHECK(l.units == 0 && l.act == NN_ACT_IDENTITY && l.no_bias == 0 && l.weight_std == 0 &&
              l.init == NN_INIT_DEFAULT && l.init_value == 0.0f && l.init_fan_out == 0);
    }
    l = nn_dense(7, NN_ACT_RELU);
    CHECK(l.kind == NN_LAYER_DENSE && l.units == 7 && l.act == NN_ACT_RELU && l.alpha == 0.0f);
    CHECK(l.init_gain == nn_init_gain(NN_ACT_RELU, 0.0f) && l.eps == 1e-5f); /* eps: for weight_std */
    CHECK(l.p == 0.0f && l.momentum == 0.0f && l.k == 0 && l.tag == NN_DESC_TAG);
    l = nn_dense(3, NN_ACT_LEAKY_RELU); /* torch's negative_slope 0.01, and the gain of that slope */
    CHECK(l.alpha == 0.01f && l.init_gain == nn_init_gain(NN_ACT_LEAKY_RELU, 0.01f));
    l = nn_dense(3, NN_ACT_ELU);
    CHECK(l.alpha == 1.0f && l.init_gain == nn_init_gain(NN_ACT_ELU, 1.0f));
    l = nn_dense(3, NN_ACT_TANH);
    CHECK_CLOSE(l.init_gain, 5.0 / 3.0, 1e-6, 0.0);
    l = nn_dense(3, NN_ACT_IDENTITY);
    CHECK(l.init_gain == 1.0f && l.alpha == 0.0f);
    l = nn_maxout(4, 3, NN_ACT_TANH);
    CHECK(l.kind == NN_LAYER_MAXOUT && l.units == 4 && l.k == 3 && l.init_gain == nn_init_gain(NN_ACT_TANH, 0.0f));
    CHECK(nn_layer_desc_default(NN_LAYER_MAXOUT).k == 2 && nn_layer_desc_default(NN_LAYER_MAXOUT).init_gain == 1.0f);
    CHECK(nn_activation(NN_ACT_LEAKY_RELU).alpha == 0.01f && nn_activation(NN_ACT_ELU).alpha == 1.0f);
    CHECK(nn_activation(NN_ACT_GELU).alpha == 0.0f && nn_activation(NN_ACT_GELU).kind == NN_LAYER_ACT);
    CHECK(nn_dropout(0.3f).p == 0.3f && nn_dropout(0.0f).p == 0.0f);
    CHECK(nn_layer_desc_default(NN_LAYER_DROPOUT).p == 0.5f); /* torch.nn.Dropout() */
    l = nn_batchnorm();
    CHECK(l.kind == NN_LAYER_BATCHNORM && l.eps == 1e-5f && l.momentum == 0.1f && l.p == 0.0f);
    l = nn_layernorm();
    CHECK(l.kind == NN_LAYER_LAYERNORM && l.eps == 1e-5f && l.momentum == 0.0f);
    CHECK(nn_flatten().kind == NN_LAYER_FLATTEN && nn_flatten().tag == NN_DESC_TAG);
}

/* A heap arena sized for the model; 0 on failure (with a check failed). */
static int lit_model(nn_model *m, nn_arena *a, const nn_layer_desc *ls, int n, int inputs, int max_batch) {
    nn_model_desc md;
    memset(&md, 0, sizeof md);
    md.inputs = inputs;
    md.max_batch = max_batch;
    md.layers = ls;
    md.n_layers = n;
    md.seed = 61;
    if (!CHECK(nn_arena_init_heap(a, nn_model_arena_bytes(&md)) == NN_OK)) return 0;
    if (!CHECKF(nn_model_init(m, a, &md) == NN_OK, "init: %s", m->error)) {
        nn_arena_deinit(a);
        return 0;
    }
    return 1;
}

/* Dropout p = 0 is the identity in training (forward and backward), not p = 0.5. */
static void test_model_dropout_p_zero(void) {
    enum { B = 4, IN = 5 };
    float x[B * IN], dy[B * 3], y_train[B * 3], g_train[64];
    int pz, i;
    nn_rng rng;
    nn_rng_seed(&rng, 67);
    fill_uniform(x, B * IN, &rng, -1.0f, 1.0f);
    fill_uniform(dy, B * 3, &rng, -1.0f, 1.0f);
    for (pz = 0; pz < 2; pz++) {
        nn_layer_desc ls[3];
        nn_model m;
        nn_arena a;
        nn_tensor y;
        int same_y, same_g;
        ls[0] = nn_dense(6, NN_ACT_TANH);
        ls[1] = nn_dropout(pz ? 0.0f : 0.5f);
        ls[2] = nn_dense(3, NN_ACT_IDENTITY);
        if (!lit_model(&m, &a, ls, 3, IN, B)) return;
        if (!CHECK(m.n_params <= 64)) { nn_arena_deinit(&a); return; }
        CHECK(m.mode == NN_MODE_TRAIN);
        y = nn_model_forward(&m, nn_tensor_2d(x, B, IN));
        memcpy(y_train, y.data, sizeof y_train);
        nn_model_zero_grad(&m);
        CHECK_EQ_INT(nn_model_backward(&m, nn_tensor_2d(dy, B, 3)), NN_OK);
        memcpy(g_train, m.grads, m.n_params * sizeof(float));
        nn_model_set_mode(&m, NN_MODE_EVAL);
        y = nn_model_forward(&m, nn_tensor_2d(x, B, IN));
        nn_model_zero_grad(&m);
        CHECK_EQ_INT(nn_model_backward(&m, nn_tensor_2d(dy, B, 3)), NN_OK);
        same_y = memcmp(y_train, y.data, sizeof y_train) == 0;
        same_g = memcmp(g_train, m.grads, m.n_params * sizeof(float)) == 0;
        for (i = 0; i < m.n_layers; i++)
            if (m.layers[i].kind == NN_LAYER_DROPOUT) CHECK(m.layers[i].p == (pz ? 0.0f : 0.5f));
        if (pz) {
            CHECKF(same_y && same_g, "dropout p = 0 in training is not the identity (outputs %s, gradients %s)",
                   same_y ? "same" : "differ", same_g ? "same" : "differ");
        } else {
            CHECKF(!same_y, "dropout p = 0.5 in training left every output as in eval"); /* the test can fail */
        }
        nn_arena_deinit(&a);
    }
}

/* BatchNorm momentum 0 keeps the running statistics where they started (torch:
   running = (1 - momentum) running + momentum batch); the default 0.1 moves them. */
static void test_model_batchnorm_momentum_zero(void) {
    enum { B = 6, IN = 3, F = 4 };
    float x[B * IN];
    int mz, step, i, l;
    nn_rng rng;
    for (mz = 0; mz < 2; mz++) {
        nn_layer_desc ls[2];
        nn_model m;
        nn_arena a;
        const nn_layer *bn = NULL;
        long moved = 0;
        ls[0] = nn_dense(F, NN_ACT_IDENTITY);
        ls[1] = nn_batchnorm();
        if (mz) ls[1].momentum = 0.0f;
        if (!lit_model(&m, &a, ls, 2, IN, B)) return;
        for (l = 0; l < m.n_layers; l++)
            if (m.layers[l].kind == NN_LAYER_BATCHNORM) bn = &m.layers[l];
        if (!CHECK(bn != NULL && bn->running_mean && bn->running_var)) { nn_arena_deinit(&a); return; }
        CHECK(bn->momentum == (mz ? 0.0f : 0.1f) && bn->eps == 1e-5f);
        nn_rng_seed(&rng, 71);
        for (step = 0; step < 3; step++) {
            fill_uniform(x, B * IN, &rng, -2.0f, 3.0f);
            CHECK(nn_model_forward(&m, nn_tensor_2d(x, B, IN)).data != NULL);
        }
        for (i = 0; i < F; i++) moved += bn->running_mean[i] != 0.0f || bn->running_var[i] != 1.0f;
        if (mz)
            CHECKF(moved == 0, "momentum 0: %ld running statistics moved", moved);
        else
            CHECKF(moved == F, "momentum 0.1: only %ld of %d running statistics moved", moved, (int)F);
        nn_arena_deinit(&a);
    }
}

/* alpha and init_gain are literal too: LeakyReLU slope 0 is ReLU, gain 0 gives zeros. */
static void test_model_literal_alpha_gain(void) {
    float x[4] = {-1.0f, -2.0f, 3.0f, 0.5f};
    nn_layer_desc ls[1];
    nn_model m;
    nn_arena a;
    nn_tensor y;
    size_t i;
    ls[0] = nn_activation(NN_ACT_LEAKY_RELU);
    if (lit_model(&m, &a, ls, 1, 4, 1)) {
        y = nn_model_forward(&m, nn_tensor_2d(x, 1, 4));
        CHECK(y.data && y.data[0] == -0.01f && y.data[1] == -0.02f && y.data[3] == 0.5f); /* default 0.01 */
        nn_arena_deinit(&a);
    }
    ls[0].alpha = 0.0f;
    if (lit_model(&m, &a, ls, 1, 4, 1)) {
        y = nn_model_forward(&m, nn_tensor_2d(x, 1, 4));
        CHECK(y.data && y.data[0] == 0.0f && y.data[1] == 0.0f && y.data[2] == 3.0f && y.data[3] == 0.5f);
        nn_arena_deinit(&a);
    }
    ls[0] = nn_dense(5, NN_ACT_RELU);
    ls[0].init = NN_INIT_XAVIER_UNIFORM;
    ls[0].init_gain = 0.0f; /* torch.nn.init.xavier_uniform_(w, gain=0): zeros */
    if (lit_model(&m, &a, ls, 1, 4, 1)) {
        long nonzero = 0;
        for (i = 0; i < m.n_params; i++) nonzero += m.params[i] != 0.0f;
        CHECKF(nonzero == 0, "init_gain 0: %ld parameters are not zero", nonzero);
        nn_arena_deinit(&a);
    }
}

/* ======================================================================== */
/* model level                                                               */
/* ======================================================================== */
/* Three Gaussian blobs in the plane, one per class. */
static void make_blobs(float *x, int *labels, int n, nn_rng *rng) {
    int i;
    for (i = 0; i < n; i++) {
        int c = i % 3;
        double ang = 2.0943951023931953 * c; /* 120 degrees apart */
        float u = nn_rng_normal(rng), v = nn_rng_normal(rng);
        labels[i] = c;
        x[2 * i + 0] = (float)(2.0 * cos(ang)) + 0.6f * u;
        x[2 * i + 1] = (float)(2.0 * sin(ang)) + 0.6f * v;
    }
}

static void test_model_robustnn(void) {
    enum { NS = 300, MB = 32, EPOCHS = 25 };
    nn_layer_desc ld[9];
    nn_model_desc md;
    nn_optim_desc od;
    nn_model m;
    nn_optim opt;
    nn_arena arena;
    nn_rng rng;
    float *xs = fbuf(NS * 2), *xb = fbuf(MB * 2), *out1 = fbuf(MB * 3), *out2 = fbuf(MB * 3);
    int *ys = ibuf(NS), *yb = ibuf(MB), *idx = ibuf(NS), i, e, l, correct = 0;
    double first = 0.0, last = 0.0, eval_before = 0.0, eval_after = 0.0;
    char summary[4096];
    size_t mbytes, obytes;
    for (l = 0; l < 2; l++) {
        ld[4 * l + 0] = nn_dense(32, NN_ACT_IDENTITY);
        ld[4 * l + 1] = nn_batchnorm();
        ld[4 * l + 2] = nn_activation(NN_ACT_RELU);
        ld[4 * l + 3] = nn_dropout(0.2f);
    }
    ld[8] = nn_dense(3, NN_ACT_IDENTITY);
    memset(&md, 0, sizeof md);
    md.inputs = 2;
    md.max_batch = MB;
    md.layers = ld;
    md.n_layers = 9;
    md.seed = 41;
    od = nn_optim_desc_default(NN_OPTIM_SGD);
    od.lr = 0.05f;
    od.momentum = 0.9f;
    mbytes = nn_model_arena_bytes(&md);
    if (!CHECK(mbytes > 0)) return;
    if (!CHECK(nn_arena_init_heap(&arena, mbytes + nn_optim_arena_bytes(&od, nn_model_param_count(&md))) == NN_OK))
        return;
    if (!CHECK(nn_model_init(&m, &arena, &md) == NN_OK)) {
        nn_arena_deinit(&arena);
        return;
    }
    CHECKF(m.arena_bytes == mbytes, "model took %lu arena bytes, nn_model_arena_bytes said %lu",
           (unsigned long)m.arena_bytes, (unsigned long)mbytes);
    obytes = nn_optim_arena_bytes(&od, m.n_params);
    if (!CHECK(obytes > 0 && nn_optim_init(&opt, &arena, &od, m.n_params) == NN_OK)) {
        nn_arena_deinit(&arena);
        return;
    }
    CHECK(m.mode == NN_MODE_TRAIN);
    nn_model_summary(&m, summary, sizeof summary);
    CHECKF(strstr(summary, "TRAIN") != NULL && strstr(summary, "EVAL") == NULL, "summary in TRAIN mode:\n%s",
           summary);
    CHECKF(strstr(summary, "dense") && strstr(summary, "batchnorm") && strstr(summary, "relu") &&
               strstr(summary, "dropout"),
           "summary does not name the layers:\n%s", summary);

    nn_rng_seed(&rng, 43);
    make_blobs(xs, ys, NS, &rng);
    for (i = 0; i < NS; i++) idx[i] = i;

    /* eval-mode loss of the untrained model over the whole set */
    nn_model_set_mode(&m, NN_MODE_EVAL);
    for (i = 0; i < NS; i += MB) {
        int B = NS - i < MB ? NS - i : MB;
        nn_tensor y = nn_model_forward(&m, nn_tensor_2d(xs + 2 * i, B, 2));
        eval_before += nn_loss_cross_entropy(nn_tensor_2d(NULL, B, 3), y, ys + i) * B;
    }
    eval_before /= NS;
    nn_model_set_mode(&m, NN_MODE_TRAIN);

    for (e = 0; e < EPOCHS; e++) {
        double total = 0.0;
        int seen = 0;
        nn_rng_shuffle(&rng, idx, NS);
        for (i = 0; i + 1 < NS; i += MB) { /* batch norm needs B > 1 */
            int B = NS - i < MB ? NS - i : MB, j;
            nn_tensor y, dy;
            float loss;
            for (j = 0; j < B; j++) {
                xb[2 * j] = xs[2 * idx[i + j]];
                xb[2 * j + 1] = xs[2 * idx[i + j] + 1];
                yb[j] = ys[idx[i + j]];
            }
            y = nn_model_forward(&m, nn_tensor_2d(xb, B, 2));
            dy = nn_model_output_grad(&m);
            loss = nn_loss_cross_entropy(dy, y, yb);
            nn_model_zero_grad(&m);
            nn_model_backward(&m, dy);
            nn_optim_step(&opt, m.params, m.grads, m.n_params);
            total += (double)loss * B;
            seen += B;
        }
        if (e == 0) first = total / seen;
        last = total / seen;
    }
    CHECKF(last < 0.5 * first, "training loss went from %.4f (epoch 1) to %.4f (epoch %d): no clear decrease", first,
           last, (int)EPOCHS);

    nn_model_set_mode(&m, NN_MODE_EVAL);
    for (i = 0; i < NS; i += MB) {
        int B = NS - i < MB ? NS - i : MB, j, c;
        nn_tensor y = nn_model_forward(&m, nn_tensor_2d(xs + 2 * i, B, 2));
        eval_after += nn_loss_cross_entropy(nn_tensor_2d(NULL, B, 3), y, ys + i) * B;
        for (j = 0; j < B; j++) {
            int best = 0;
            for (c = 1; c < 3; c++)
                if (y.data[j * 3 + c] > y.data[j * 3 + best]) best = c;
            correct += best == ys[i + j];
        }
    }
    eval_after /= NS;
    CHECKF(eval_after < 0.5 * eval_before, "eval loss %.4f before training, %.4f after", eval_before, eval_after);
    CHECKF(correct >= (int)(0.9 * NS), "eval accuracy %d / %d", correct, (int)NS);
    TEST_NOTE("RobustNN: train loss %.4f -> %.4f, eval loss %.4f -> %.4f, accuracy %d/%d", first, last, eval_before,
              eval_after, correct, (int)NS);

    /* EVAL: deterministic, bit for bit */
    {
        nn_tensor xin = nn_tensor_2d(xs, MB, 2), y;
        y = nn_model_forward(&m, xin);
        memcpy(out1, y.data, sizeof(float) * MB * 3);
        y = nn_model_forward(&m, xin);
        memcpy(out2, y.data, sizeof(float) * MB * 3);
        CHECKF(memcmp(out1, out2, sizeof(float) * MB * 3) == 0, "two EVAL forwards of the same batch differ");
        nn_model_summary(&m, summary, sizeof summary);
        CHECKF(strstr(summary, "EVAL") != NULL && strstr(summary, "TRAIN") == NULL, "summary in EVAL mode:\n%s",
               summary);
        CHECKF(strstr(summary, "dense") && strstr(summary, "batchnorm") && strstr(summary, "relu") &&
                   strstr(summary, "dropout"),
               "summary does not name the layers:\n%s", summary);
        /* TRAIN: dropout draws a new mask on every forward */
        nn_model_set_mode(&m, NN_MODE_TRAIN);
        y = nn_model_forward(&m, xin);
        memcpy(out1, y.data, sizeof(float) * MB * 3);
        y = nn_model_forward(&m, xin);
        memcpy(out2, y.data, sizeof(float) * MB * 3);
        CHECKF(memcmp(out1, out2, sizeof(float) * MB * 3) != 0, "two TRAIN forwards are identical despite dropout");
    }
    {
        /* the summary's size contract: always NUL-terminated, returns the length needed */
        char small[16];
        size_t need = nn_model_summary(&m, summary, sizeof summary);
        CHECKF(need == strlen(summary), "summary returned %lu for a %lu-char text", (unsigned long)need,
               (unsigned long)strlen(summary));
        memset(small, 'x', sizeof small);
        CHECK(nn_model_summary(&m, small, sizeof small) == need);
        CHECK(memchr(small, '\0', sizeof small) != NULL && strncmp(small, summary, sizeof small - 1) == 0);
    }
    nn_arena_deinit(&arena);
    pool_release();
}

/* ---- whole-model gradient check ---- */
typedef struct model_ctx {
    nn_model *m;
    nn_tensor x;
    const float *r;
} model_ctx;

static gc_out model_fwd(void *p) {
    model_ctx *c = (model_ctx *)p;
    nn_tensor y = nn_model_forward(c->m, c->x);
    return gc_make(y.data, c->r, nn_tensor_size(y));
}

/* Which side of each kink the last forward was on: the sign of the input of every
   ReLU/LeakyReLU/ELU layer and every maxout argmax. */
static int model_sig(void *p, int *sig, int cap) {
    model_ctx *c = (model_ctx *)p;
    const nn_model *m = c->m;
    int l, i, n = 0, B = m->batch;
    for (l = 0; l < m->n_layers; l++) {
        const nn_layer *ly = &m->layers[l];
        if (ly->kind == NN_LAYER_ACT &&
            (ly->act == NN_ACT_RELU || ly->act == NN_ACT_LEAKY_RELU || ly->act == NN_ACT_ELU)) {
            const float *in = l ? m->layers[l - 1].y.data : m->x.data;
            for (i = 0; i < B * ly->in; i++)
                if (n < cap) sig[n++] = in[i] > 0.0f;
        } else if (ly->kind == NN_LAYER_MAXOUT) {
            for (i = 0; i < B * ly->out; i++)
                if (n < cap) sig[n++] = ly->argmax[i];
        }
    }
    return n;
}

static void test_model_gradcheck(void) {
    enum { B = 6, C = 2, H = 3, W = 3, NL = 8 };
    nn_layer_desc ld[NL];
    nn_model_desc md;
    nn_model m;
    nn_arena arena;
    nn_rng rng;
    model_ctx c;
    float *x = fbuf(B * C * H * W), *r, *grad;
    int mode, i;
    char summary[4096];
    ld[0] = nn_flatten(); /* (B,C,H,W) -> (B, C*H*W) */
    ld[1] = nn_dense(12, NN_ACT_LEAKY_RELU);
    ld[1].weight_std = 1;
    ld[1].alpha = 0.2f;
    ld[1].init_gain = nn_init_gain(NN_ACT_LEAKY_RELU, 0.2f); /* the gain follows the slope */
    ld[2] = nn_batchnorm();
    ld[3] = nn_maxout(8, 3, NN_ACT_ELU);
    ld[3].alpha = 0.7f;
    ld[3].init_gain = nn_init_gain(NN_ACT_ELU, 0.7f);
    ld[4] = nn_layernorm();
    ld[5] = nn_dense(6, NN_ACT_GELU);
    ld[6] = nn_dense(5, NN_ACT_SILU);
    ld[6].no_bias = 1;
    ld[7] = nn_dense(3, NN_ACT_IDENTITY);
    memset(&md, 0, sizeof md);
    md.inputs = C * H * W;
    md.max_batch = B;
    md.layers = ld;
    md.n_layers = NL;
    md.seed = 47;
    if (!CHECK(nn_arena_init_heap(&arena, nn_model_arena_bytes(&md)) == NN_OK)) return;
    if (!CHECK(nn_model_init(&m, &arena, &md) == NN_OK)) {
        nn_arena_deinit(&arena);
        return;
    }
    nn_model_summary(&m, summary, sizeof summary);
    CHECKF(strstr(summary, "flatten") && strstr(summary, "ws") && strstr(summary, "maxout") &&
               strstr(summary, "layernorm") && strstr(summary, "leaky_relu") && strstr(summary, "elu") &&
               strstr(summary, "gelu") && strstr(summary, "silu"),
           "summary does not name every layer:\n%s", summary);
    nn_rng_seed(&rng, 53);
    fill_uniform(x, B * C * H * W, &rng, -2.0f, 2.0f);
    r = fbuf(B * 3);
    grad = fbuf(m.n_params);
    fill_uniform(r, B * 3, &rng, -1.0f, 1.0f);
    /* randomize the normalization parameters away from 1/0 so their gradients mean something */
    for (i = 0; i < m.n_layers; i++) {
        nn_layer *ly = &m.layers[i];
        if (ly->kind == NN_LAYER_BATCHNORM || ly->kind == NN_LAYER_LAYERNORM) {
            fill_uniform(ly->w.data, nn_tensor_size(ly->w), &rng, 0.6f, 1.4f);
            fill_uniform(ly->b.data, nn_tensor_size(ly->b), &rng, -0.3f, 0.3f);
        }
    }
    c.m = &m;
    c.x = nn_tensor_4d(x, B, C, H, W);
    c.r = r;
    for (mode = 0; mode < 2; mode++) {
        /* TRAIN: batch norm on batch statistics (deterministic given the batch, no dropout
           here). EVAL: batch norm on the running statistics the TRAIN forwards left. */
        nn_tensor y, dy;
        nn_model_set_mode(&m, mode ? NN_MODE_EVAL : NN_MODE_TRAIN);
        y = nn_model_forward(&m, c.x);
        CHECK(y.shape[0] == B && nn_tensor_row_size(y) == 3);
        dy = nn_model_output_grad(&m);
        memcpy(dy.data, r, sizeof(float) * B * 3);
        nn_model_zero_grad(&m);
        nn_model_backward(&m, dy);
        memcpy(grad, m.grads, sizeof(float) * m.n_params);
        for (i = 0; i < m.n_param_list; i++) {
            const nn_param *p = &m.param_list[i];
            char what[64];
            snprintf(what, sizeof what, "model %s %s", mode ? "eval" : "train", p->name);
            gradcheck(what, p->data, grad + (p->grad - m.grads), (int)p->size, 5e-3f, model_fwd, model_sig, &c,
                      NULL);
        }
    }
    nn_arena_deinit(&arena);
    pool_release();
}

/* ======================================================================== */
static const test_case tests[] = {
    TEST(test_leaky_relu_parity),
    TEST(test_elu_parity),
    TEST(test_gelu_parity),
    TEST(test_gelu_tanh_parity),
    TEST(test_silu_parity),
    TEST(test_softplus_parity),
    TEST(test_softmax_parity),
    TEST(test_activation_extremes),
    TEST(test_gradcheck_activations),
    TEST(test_maxout_parity),
    TEST(test_maxout_ties),
    TEST(test_gradcheck_maxout),
    TEST(test_batchnorm_parity),
    TEST(test_gradcheck_batchnorm),
    TEST(test_layernorm_parity),
    TEST(test_gradcheck_layernorm),
    TEST(test_wsdense_parity),
    TEST(test_gradcheck_wsdense),
    TEST(test_l1_parity),
    TEST(test_huber_parity),
    TEST(test_bce_parity),
    TEST(test_bce_edge_parity),
    TEST(test_bce_logits_parity),
    TEST(test_ce_labels_weighted_parity),
    TEST(test_ce_probs_parity),
    TEST(test_ce_probs_onehot_parity),
    TEST(test_ce_probs_weighted_parity),
    TEST(test_gradcheck_losses),
    TEST(test_dropout_mask),
    TEST(test_init_gain),
    TEST(test_init_fill),
    TEST(test_model_init_kaiming),
    TEST(test_layer_desc_defaults),
    TEST(test_model_dropout_p_zero),
    TEST(test_model_batchnorm_momentum_zero),
    TEST(test_model_literal_alpha_gain),
    TEST(test_model_robustnn),
    TEST(test_model_gradcheck),
};

int main(int argc, char **argv) { return TEST_MAIN(argc, argv, tests); }
