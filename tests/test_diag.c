/* test_diag.c - the diagnostics of section 17: the public gradient check (models of every
   layer kind, a function of one's own, a wrong backward caught and named, the model left
   as it was), the input gradient, and curvature (Hessian-vector products, the full
   Hessian, the top eigenvalue, Hutchinson's trace) where the answer is known: least
   squares, whose Hessian is (2 / (B O)) X^T X per output, and two-class logistic
   regression, whose Hessian is [[A, -A], [-A, A]] with A = X^T diag(p (1 - p)) X / B.

   Built by `make test` in every configuration of the matrix. */
#ifndef NN_TEST_LINKED
#define NN_IMPLEMENTATION
#endif
#include "../nn.h"
#include "test.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static float *falloc(size_t n) {
    float *p = (float *)calloc(n ? n : 1, sizeof(float));
    if (!p) {
        fprintf(stderr, "test: out of memory\n");
        exit(2);
    }
    return p;
}

static void fill(nn_rng *r, float *p, size_t n, float scale) {
    size_t i;
    for (i = 0; i < n; i++) p[i] = scale * (2.0f * nn_rng_uniform(r) - 1.0f);
}

/* A model in its own heap arena with room for scratch besides. */
typedef struct held {
    nn_model m;
    nn_arena a;
    nn_arena scratch;
} held;

static int held_make(held *h, int inputs, int max_batch, const nn_layer_desc *ls, int n, uint64_t seed) {
    nn_model_desc d;
    memset(h, 0, sizeof *h);
    memset(&d, 0, sizeof d);
    d.inputs = inputs; d.max_batch = max_batch; d.layers = ls; d.n_layers = n; d.seed = seed;
    if (nn_arena_init_heap(&h->a, nn_model_arena_bytes(&d)) != NN_OK) return 0;
    if (nn_model_init(&h->m, &h->a, &d) != NN_OK) return 0;
    return nn_arena_init_heap(&h->scratch, (size_t)8 << 20) == NN_OK;
}

static void held_free(held *h) {
    nn_arena_deinit(&h->a);
    nn_arena_deinit(&h->scratch);
}

/* ------------------------------------------------------------------ gradient check */

static void check_model(const char *what, const nn_layer_desc *ls, int n, int inputs, int outputs, int B,
                        int classify, nn_mode mode) {
    held h;
    nn_rng r;
    float *x = falloc((size_t)B * inputs), *t = falloc((size_t)B * outputs);
    int *labels = (int *)calloc((size_t)B, sizeof(int)), i;
    nn_batch b;
    nn_gradcheck_desc d = nn_gradcheck_desc_default();
    nn_gradcheck_result res;
    nn_result rc;
    if (!labels || !held_make(&h, inputs, B, ls, n, 42)) {
        CHECKF(0, "%s: set-up failed", what);
        return;
    }
    nn_model_set_mode(&h.m, mode);
    nn_rng_seed(&r, 7);
    fill(&r, x, (size_t)B * inputs, 1.0f);
    fill(&r, t, (size_t)B * outputs, 1.0f);
    for (i = 0; i < B; i++) labels[i] = (int)nn_rng_below(&r, (uint32_t)outputs);
    b.x = nn_tensor_2d(x, B, inputs);
    b.labels = classify ? labels : NULL;
    b.targets = classify ? NULL : t;
    rc = nn_gradcheck_model(&h.m, b, &d, &h.scratch, &res);
    CHECKF(rc == NN_OK, "%s: %s (%s)", what, nn_result_string(rc), res.error);
    CHECKF(res.checked > 0 && res.failed == 0, "%s: %ld of %ld failed", what, res.failed, res.checked);
    CHECKF(res.max_rel < 5e-2, "%s: worst relative error %g", what, res.max_rel);
    CHECK(strcmp(res.runs[res.n_runs - 1].name, "input") == 0);
    CHECK(h.scratch.used == 0); /* the scratch was given back */
    TEST_NOTE("%s: %ld elements, worst relative error %.2g", what, res.checked, res.max_rel);
    held_free(&h);
    free(x); free(t); free(labels);
}

static void test_gradcheck_mlp_smooth(void) {
    nn_layer_desc ls[3];
    ls[0] = nn_dense(17, NN_ACT_TANH);
    ls[1] = nn_dense(9, NN_ACT_GELU);
    ls[2] = nn_dense(4, NN_ACT_IDENTITY);
    check_model("tanh-gelu MLP, cross-entropy, batch 3", ls, 3, 5, 4, 3, 1, NN_MODE_TRAIN);
    check_model("same, batch 1", ls, 3, 5, 4, 1, 1, NN_MODE_TRAIN);
    check_model("same, MSE", ls, 3, 5, 4, 3, 0, NN_MODE_TRAIN);
}

static void test_gradcheck_norms_dropout(void) {
    nn_layer_desc ls[8];
    ls[0] = nn_dense(33, NN_ACT_IDENTITY);
    ls[1] = nn_batchnorm();
    ls[2] = nn_activation(NN_ACT_SILU);
    ls[3] = nn_dropout(0.3f); /* the same mask in every evaluation */
    ls[4] = nn_dense(7, NN_ACT_SIGMOID);
    ls[5] = nn_layernorm();
    ls[6] = nn_activation(NN_ACT_SOFTPLUS);
    ls[7] = nn_dense(3, NN_ACT_IDENTITY);
    check_model("batch norm, SiLU, dropout, layer norm (train)", ls, 8, 6, 3, 17, 1, NN_MODE_TRAIN);
    check_model("same (eval), batch 1", ls, 8, 6, 3, 1, 0, NN_MODE_EVAL);
}

static void test_gradcheck_maxout_weight_std(void) {
    nn_layer_desc ls[3];
    ls[0] = nn_maxout(6, 3, NN_ACT_IDENTITY);
    ls[1] = nn_dense(5, NN_ACT_ELU);
    ls[1].weight_std = 1;
    ls[2] = nn_dense(2, NN_ACT_IDENTITY);
    check_model("maxout, weight-standardized ELU dense", ls, 3, 4, 2, 3, 1, NN_MODE_TRAIN);
}

/* The model is left as it was: parameters, running statistics and the dropout stream bit
   for bit; m->grads hold the analytic gradient (the same as one backward). */
static void test_gradcheck_leaves_model(void) {
    nn_layer_desc ls[4];
    held h;
    nn_rng r;
    float x[4 * 6], *p0, *b0, *g;
    int labels[4] = {0, 2, 1, 2};
    nn_rng rng0;
    nn_batch b;
    nn_gradcheck_desc d = nn_gradcheck_desc_default();
    nn_gradcheck_result res;
    ls[0] = nn_dense(8, NN_ACT_TANH);
    ls[1] = nn_batchnorm();
    ls[2] = nn_dropout(0.5f);
    ls[3] = nn_dense(3, NN_ACT_IDENTITY);
    CHECK(held_make(&h, 6, 4, ls, 4, 9));
    nn_rng_seed(&r, 1);
    fill(&r, x, sizeof x / sizeof x[0], 1.0f);
    p0 = falloc(h.m.n_params); b0 = falloc(h.m.n_buffers); g = falloc(h.m.n_params);
    memcpy(p0, h.m.params, sizeof(float) * h.m.n_params);
    memcpy(b0, h.m.buffers, sizeof(float) * h.m.n_buffers);
    rng0 = h.m.rng;
    b.x = nn_tensor_2d(x, 4, 6);
    b.labels = labels;
    b.targets = NULL;
    d.max_per_run = 5;
    CHECK_EQ_INT(nn_gradcheck_model(&h.m, b, &d, &h.scratch, &res), NN_OK);
    CHECK(memcmp(p0, h.m.params, sizeof(float) * h.m.n_params) == 0);
    CHECK(memcmp(b0, h.m.buffers, sizeof(float) * h.m.n_buffers) == 0);
    CHECK(memcmp(&rng0, &h.m.rng, sizeof rng0) == 0);
    memcpy(g, h.m.grads, sizeof(float) * h.m.n_params);
    nn_model_loss(&h.m, b, 1); /* the same step by hand: same mask, same gradient */
    CHECK(memcmp(g, h.m.grads, sizeof(float) * h.m.n_params) == 0);
    {
        int i, capped = 1;
        for (i = 0; i < res.n_runs; i++) capped &= res.runs[i].checked <= 5;
        CHECK(capped);
    }
    free(p0); free(b0); free(g);
    held_free(&h);
}

/* A layer of one's own through nn_gradcheck_fn: a dense layer's weight gradient with the
   loss sum(y * r). Right, it passes; with dW off by 2% in one element, or scaled by 1.05,
   the check fails and names the element. */
typedef struct dense_case {
    int B, IN, OUT, wrong; /* 0 right, 1 one element off, 2 all scaled */
    const float *x, *rr;
    float *y, *dx, *db;
} dense_case;

static double dense_objective(void *user, const float *w, float *grad) {
    dense_case *c = (dense_case *)user;
    double s = 0.0;
    int i;
    nn_dense_forward(nn_tensor_2d(c->y, c->B, c->OUT), nn_tensor_2d((float *)(uintptr_t)c->x, c->B, c->IN),
                     nn_tensor_2d((float *)(uintptr_t)w, c->OUT, c->IN), nn_tensor_1d(NULL, 0));
    for (i = 0; i < c->B * c->OUT; i++) s += (double)c->y[i] * c->rr[i];
    if (grad) {
        memset(grad, 0, sizeof(float) * (size_t)c->OUT * c->IN);
        nn_dense_backward(nn_tensor_2d(NULL, c->B, c->IN), nn_tensor_2d(grad, c->OUT, c->IN), nn_tensor_1d(NULL, 0),
                          nn_tensor_2d((float *)(uintptr_t)c->rr, c->B, c->OUT),
                          nn_tensor_2d((float *)(uintptr_t)c->x, c->B, c->IN),
                          nn_tensor_2d((float *)(uintptr_t)w, c->OUT, c->IN));
        if (c->wrong == 1) grad[7] *= 1.02f;
        if (c->wrong == 2)
            for (i = 0; i < c->OUT * c->IN; i++) grad[i] *= 1.05f;
    }
    return s;
}

static void test_gradcheck_fn_catches_wrong_backward(void) {
    enum { B = 3, IN = 17, OUT = 5 };
    float x[B * IN], rr[B * OUT], y[B * OUT], w[OUT * IN], g[OUT * IN];
    dense_case c;
    nn_rng r;
    nn_gradcheck_desc d = nn_gradcheck_desc_default();
    nn_gradcheck_result res;
    nn_rng_seed(&r, 3);
    fill(&r, x, B * IN, 1.0f);
    fill(&r, rr, B * OUT, 1.0f);
    fill(&r, w, OUT * IN, 0.5f);
    memset(&c, 0, sizeof c);
    c.B = B; c.IN = IN; c.OUT = OUT; c.x = x; c.rr = rr; c.y = y;
    CHECK_EQ_INT(nn_gradcheck_fn(dense_objective, &c, w, g, OUT * IN, &d, &res), NN_OK);
    CHECK(res.failed == 0 && res.checked == OUT * IN && res.n_runs == 1);
    TEST_NOTE("dense dW, right: worst relative error %.2g", res.max_rel);
    c.wrong = 1;
    CHECK_EQ_INT(nn_gradcheck_fn(dense_objective, &c, w, g, OUT * IN, &d, &res), NN_ERR_CHECK_FAILED);
    CHECK(res.failed == 1 && res.worst[0].index == 7 && strcmp(res.worst[0].run, "x") == 0);
    CHECK(strstr(res.error, "x[7]") != NULL);
    c.wrong = 2;
    CHECK_EQ_INT(nn_gradcheck_fn(dense_objective, &c, w, g, OUT * IN, &d, &res), NN_ERR_CHECK_FAILED);
    CHECK(res.failed > OUT * IN / 2);
    CHECK(res.max_rel > 0.04 && res.max_rel < 0.06);
    /* x comes back bit for bit */
    {
        float w0[OUT * IN];
        nn_rng_seed(&r, 3);
        fill(&r, x, B * IN, 1.0f);
        fill(&r, rr, B * OUT, 1.0f);
        fill(&r, w0, OUT * IN, 0.5f);
        CHECK(memcmp(w0, w, sizeof w) == 0);
    }
}

static double nan_objective(void *user, const float *x, float *g) {
    (void)user;
    if (g) g[0] = NAN, g[1] = 2.0f * x[1];
    return (double)x[0] * x[0] + (double)x[1] * x[1];
}

static void test_gradcheck_bad_arguments_and_nan(void) {
    float x[2] = {0.5f, -1.0f}, g[2];
    nn_gradcheck_desc d = nn_gradcheck_desc_default(), zero;
    nn_gradcheck_result res;
    memset(&zero, 0, sizeof zero);
    CHECK_EQ_INT(nn_gradcheck_fn(nan_objective, NULL, x, g, 2, &d, &res), NN_ERR_CHECK_FAILED);
    CHECK(res.worst[0].index == 0);
    CHECK_EQ_INT(nn_gradcheck_fn(nan_objective, NULL, x, g, 2, &zero, &res), NN_ERR_INVALID_ARGUMENT);
    CHECK(strstr(res.error, "nn_gradcheck_desc_default") != NULL);
    d.step = 0.0;
    CHECK_EQ_INT(nn_gradcheck_fn(nan_objective, NULL, x, g, 2, &d, &res), NN_ERR_INVALID_ARGUMENT);
    d = nn_gradcheck_desc_default();
    CHECK_EQ_INT(nn_gradcheck_fn(NULL, NULL, x, g, 2, &d, &res), NN_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(nn_gradcheck_fn(nan_objective, NULL, x, g, 0, &d, &res), NN_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(nn_gradcheck_fn(nan_objective, NULL, x, g, 2, &d, NULL), NN_ERR_INVALID_ARGUMENT);
    {
        /* a model's batch: too many rows, a label out of range, no model: refused, nothing written */
        nn_layer_desc ls[1];
        held h;
        float xb[8 * 5];
        int lab[8] = {0, 1, 2, 7, 0, 0, 0, 0};
        nn_batch b;
        nn_gradcheck_result r;
        ls[0] = nn_dense(3, NN_ACT_IDENTITY);
        memset(xb, 0, sizeof xb);
        CHECK(held_make(&h, 5, 4, ls, 1, 1));
        b.x = nn_tensor_2d(xb, 8, 5); b.labels = lab; b.targets = NULL;
        CHECK_EQ_INT(nn_gradcheck_model(&h.m, b, &d, &h.scratch, &r), NN_ERR_SHAPE_MISMATCH);
        b.x = nn_tensor_2d(xb, 4, 5);
        CHECK_EQ_INT(nn_gradcheck_model(&h.m, b, &d, &h.scratch, &r), NN_ERR_INVALID_ARGUMENT);
        CHECK(strstr(r.error, "label 7") != NULL);
        CHECK_EQ_INT(nn_gradcheck_model(NULL, b, &d, &h.scratch, &r), NN_ERR_INVALID_ARGUMENT);
        CHECK(h.scratch.used == 0);
        held_free(&h);
    }
}

/* d loss / d x through m->input_grad: against centred differences, and through a model
   that starts with flatten. */
static void test_input_grad(void) {
    nn_layer_desc ls[3];
    held h;
    float x[2 * 4], gx[2 * 4], gx2[2 * 4];
    int labels[2] = {1, 0}, i;
    nn_batch b;
    nn_rng r;
    ls[0] = nn_flatten();
    ls[1] = nn_dense(3, NN_ACT_TANH);
    ls[2] = nn_dense(2, NN_ACT_IDENTITY);
    CHECK(held_make(&h, 4, 2, ls, 3, 5));
    nn_rng_seed(&r, 2);
    fill(&r, x, 8, 1.0f);
    b.x = nn_tensor_2d(x, 2, 4);
    b.labels = labels;
    b.targets = NULL;
    h.m.input_grad = gx;
    nn_model_loss(&h.m, b, 1);
    for (i = 0; i < 8; i++) {
        float s = x[i];
        double fp, fm;
        x[i] = s + 1e-3f; fp = nn_model_loss(&h.m, b, 0);
        x[i] = s - 1e-3f; fm = nn_model_loss(&h.m, b, 0);
        x[i] = s;
        gx2[i] = (float)((fp - fm) / ((double)(s + 1e-3f) - (double)(s - 1e-3f)));
        CHECKF(fabs(gx[i] - gx2[i]) < 1e-3 * (1.0 + fabs(gx2[i])), "x[%d]: %g vs %g", i, gx[i], gx2[i]);
    }
    held_free(&h);
}

/* ------------------------------------------------------------------ curvature */

/* Least squares: one dense layer (OUT x IN and bias), MSE over B rows. */
static void least_squares_hessian(const float *x, int B, int IN, int OUT, double *H) {
    int n = OUT * IN + OUT, o, i, j, b;
    memset(H, 0, sizeof(double) * (size_t)n * n);
    for (o = 0; o < OUT; o++)
        for (i = 0; i <= IN; i++)
            for (j = 0; j <= IN; j++) {
                double s = 0.0;
                int pi = i < IN ? o * IN + i : OUT * IN + o, pj = j < IN ? o * IN + j : OUT * IN + o;
                for (b = 0; b < B; b++) s += (i < IN ? x[b * IN + i] : 1.0) * (j < IN ? x[b * IN + j] : 1.0);
                H[(size_t)pi * n + pj] = 2.0 * s / ((double)B * OUT);
            }
}

static double power_top(const double *H, int n) {
    double *v = (double *)calloc((size_t)n, sizeof(double)), *w = (double *)calloc((size_t)n, sizeof(double)), lam = 0;
    int it, i, j;
    for (i = 0; i < n; i++) v[i] = 1.0 / sqrt((double)n) * (1.0 + 0.01 * i);
    for (it = 0; it < 5000; it++) {
        double nv = 0.0, d = 0.0;
        for (i = 0; i < n; i++) {
            w[i] = 0.0;
            for (j = 0; j < n; j++) w[i] += H[(size_t)i * n + j] * v[j];
        }
        for (i = 0; i < n; i++) { d += v[i] * w[i]; nv += w[i] * w[i]; }
        nv = sqrt(nv);
        for (i = 0; i < n; i++) v[i] = w[i] / nv;
        lam = d;
    }
    free(v); free(w);
    return lam;
}

static void test_hessian_least_squares(void) {
    enum { B = 9, IN = 5, OUT = 2, N = OUT * IN + OUT };
    nn_layer_desc ls[1];
    held h;
    float x[B * IN], t[B * OUT], *H = falloc(N * N), v[N], hv[N], vec[N];
    double *Hx = (double *)calloc(N * N, sizeof(double)), worst = 0.0, big = 0.0, asym = -1, lam = 0, tr = 0, se = 0,
           tr_exact = 0.0, lam_exact;
    nn_batch b;
    nn_rng r;
    int i, j, iters = 0;
    ls[0] = nn_dense(OUT, NN_ACT_IDENTITY);
    CHECK(held_make(&h, IN, B, ls, 1, 3));
    CHECK(h.m.n_params == N);
    nn_rng_seed(&r, 4);
    fill(&r, x, B * IN, 1.0f);
    fill(&r, t, B * OUT, 1.0f);
    b.x = nn_tensor_2d(x, B, IN);
    b.labels = NULL;
    b.targets = t;
    least_squares_hessian(x, B, IN, OUT, Hx);
    CHECK_EQ_INT(nn_hessian_full(&h.m, b, H, 0.0f, &h.scratch, &asym), NN_OK);
    for (i = 0; i < N * N; i++) {
        if (fabs(Hx[i]) > big) big = fabs(Hx[i]);
        if (fabs(H[i] - Hx[i]) > worst) worst = fabs(H[i] - Hx[i]);
    }
    CHECKF(worst <= 1e-4 * big, "full Hessian: max error %g of max %g", worst, big);
    CHECK(asym >= 0.0 && asym < 1e-4);
    TEST_NOTE("least squares, full Hessian: max error %.2g of its largest entry %.3g (asymmetry %.2g)",
              worst / big, big, asym);
    fill(&r, v, N, 1.0f);
    CHECK_EQ_INT(nn_hessian_vector(&h.m, b, v, hv, 0.0f, &h.scratch), NN_OK);
    worst = 0.0;
    for (i = 0; i < N; i++) {
        double e = 0.0;
        for (j = 0; j < N; j++) e += Hx[(size_t)i * N + j] * v[j];
        if (fabs(e - hv[i]) > worst) worst = fabs(e - hv[i]);
    }
    CHECKF(worst <= 1e-4 * big * N, "Hv: max error %g", worst);
    lam_exact = power_top(Hx, N);
    CHECK_EQ_INT(nn_hessian_top_eigen(&h.m, b, 500, 1e-9, 1, 0.0f, &h.scratch, &lam, vec, &iters), NN_OK);
    CHECKF(fabs(lam - lam_exact) <= 1e-3 * lam_exact, "top eigenvalue %g, exact %g", lam, lam_exact);
    TEST_NOTE("least squares: top eigenvalue %.6g (exact %.6g) after %d products", lam, lam_exact, iters);
    for (i = 0; i < N; i++) tr_exact += Hx[(size_t)i * N + i];
    CHECK_EQ_INT(nn_hessian_trace(&h.m, b, 400, 2, 0.0f, &h.scratch, &tr, &se), NN_OK);
    CHECKF(fabs(tr - tr_exact) <= 4.0 * se + 1e-3 * tr_exact && se > 0.0, "trace %g +- %g, exact %g", tr, se,
           tr_exact);
    TEST_NOTE("least squares: Hutchinson trace %.4g +- %.2g (400 samples), exact %.4g", tr, se, tr_exact);
    CHECK(h.scratch.used == 0);
    free(H); free(Hx);
    held_free(&h);
}

/* Two-class logistic regression (softmax over 2 logits, cross-entropy): with p the
   probability of class 1, the Hessian in (w_0, w_1) (bias as a column of ones) is
   [[A, -A], [-A, A]], A = X^T diag(p (1 - p)) X / B. */
static void test_hessian_logistic(void) {
    enum { B = 23, IN = 3, N = 2 * IN + 2 };
    nn_layer_desc ls[1];
    held h;
    float x[B * IN], H[N * N];
    double A[(IN + 1) * (IN + 1)], worst = 0.0, big = 0.0, asym = -1;
    int labels[B], i, j, k;
    nn_batch b;
    nn_rng r;
    ls[0] = nn_dense(2, NN_ACT_IDENTITY);
    CHECK(held_make(&h, IN, B, ls, 1, 8));
    nn_rng_seed(&r, 6);
    fill(&r, x, B * IN, 2.0f);
    for (i = 0; i < B; i++) labels[i] = (int)nn_rng_below(&r, 2);
    b.x = nn_tensor_2d(x, B, IN);
    b.labels = labels;
    b.targets = NULL;
    memset(A, 0, sizeof A);
    for (k = 0; k < B; k++) {
        double z[2], p;
        for (j = 0; j < 2; j++) {
            z[j] = h.m.params[2 * IN + j];
            for (i = 0; i < IN; i++) z[j] += (double)h.m.params[j * IN + i] * x[k * IN + i];
        }
        p = 1.0 / (1.0 + exp(z[0] - z[1]));
        for (i = 0; i <= IN; i++)
            for (j = 0; j <= IN; j++)
                A[i * (IN + 1) + j] += p * (1.0 - p) * (i < IN ? x[k * IN + i] : 1.0) * (j < IN ? x[k * IN + j] : 1.0) / B;
    }
    CHECK_EQ_INT(nn_hessian_full(&h.m, b, H, 0.0f, &h.scratch, &asym), NN_OK);
    for (i = 0; i < N; i++)
        for (j = 0; j < N; j++) {
            /* parameter p: weight row c, column f, or bias c */
            int ci = i < 2 * IN ? i / IN : i - 2 * IN, fi = i < 2 * IN ? i % IN : IN;
            int cj = j < 2 * IN ? j / IN : j - 2 * IN, fj = j < 2 * IN ? j % IN : IN;
            double want = (ci == cj ? 1.0 : -1.0) * A[fi * (IN + 1) + fj];
            if (fabs(want) > big) big = fabs(want);
            if (fabs(want - H[i * N + j]) > worst) worst = fabs(want - H[i * N + j]);
        }
    CHECKF(worst <= 2e-3 * big, "logistic Hessian: max error %g of max %g", worst, big);
    TEST_NOTE("logistic regression, full Hessian by differences of gradients: max error %.2g of its largest "
              "entry (step 1e-2; O(step^2) truncation)", worst / big);
    held_free(&h);
}

static void test_hessian_bad_arguments(void) {
    nn_layer_desc ls[1];
    held h;
    float x[4], v[3] = {1, 2, 3}, hv[3];
    nn_batch b;
    double lam;
    ls[0] = nn_dense(1, NN_ACT_IDENTITY);
    CHECK(held_make(&h, 2, 2, ls, 1, 1));
    memset(x, 0, sizeof x);
    b.x = nn_tensor_2d(x, 2, 2);
    b.labels = NULL;
    b.targets = NULL;
    CHECK_EQ_INT(nn_hessian_vector(&h.m, b, v, hv, 0.0f, &h.scratch), NN_ERR_INVALID_ARGUMENT);
    b.targets = x;
    b.x = nn_tensor_2d(x, 2, 3);
    CHECK_EQ_INT(nn_hessian_vector(&h.m, b, v, hv, 0.0f, &h.scratch), NN_ERR_SHAPE_MISMATCH);
    b.x = nn_tensor_2d(x, 2, 2);
    CHECK_EQ_INT(nn_hessian_vector(&h.m, b, NULL, hv, 0.0f, &h.scratch), NN_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(nn_hessian_top_eigen(&h.m, b, 0, 0.0, 1, 0.0f, &h.scratch, &lam, NULL, NULL), NN_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(nn_hessian_vector(&h.m, b, v, hv, 0.0f, NULL), NN_ERR_INVALID_ARGUMENT);
    held_free(&h);
}


/* ------------------------------------------------------------------ training statistics */

/* Dead ReLU units, saturated sigmoids, output moments, norms and the update ratio, each
   against a hand computation on a model whose weights are set to make them known. */
static void test_layer_stats(void) {
    enum { B = 5, IN = 3, H = 8 };
    nn_layer_desc ls[4];
    held h;
    float x[B * IN], *before;
    int labels[B] = {0, 1, 0, 1, 1}, n, l, i;
    nn_layer_stats st[8];
    nn_batch b;
    nn_rng r;
    nn_optim o;
    nn_optim_desc od = nn_optim_desc_default(NN_OPTIM_SGD);
    nn_arena oa;
    ls[0] = nn_dense(H, NN_ACT_RELU);    /* internal: dense 0, relu 1 */
    ls[1] = nn_dense(H, NN_ACT_SIGMOID); /* dense 2, sigmoid 3 */
    ls[2] = nn_dense(2, NN_ACT_IDENTITY);
    CHECK(held_make(&h, IN, B, ls, 3, 11));
    CHECK_EQ_INT(h.m.n_layers, 5);
    nn_rng_seed(&r, 12);
    fill(&r, x, B * IN, 1.0f);
    /* units 0..2 of the first layer dead: a bias no input can overcome */
    for (i = 0; i < H; i++) h.m.layers[0].b.data[i] = i < 3 ? -100.0f : 100.0f; /* the others alive */
    /* the sigmoid layer saturated in units 0..3 */
    for (i = 0; i < H * H; i++) h.m.layers[2].w.data[i] = 0.0f;
    for (i = 0; i < H; i++) h.m.layers[2].b.data[i] = i < 4 ? (i % 2 ? 20.0f : -20.0f) : 0.0f; /* others 0.5 */
    b.x = nn_tensor_2d(x, B, IN);
    b.labels = labels;
    b.targets = NULL;
    CHECK_EQ_INT(nn_model_layer_stats(&h.m, NULL, st, 8), 0); /* no forward yet */
    nn_model_loss(&h.m, b, 1);
    n = nn_model_layer_stats(&h.m, NULL, st, 8);
    CHECK_EQ_INT(n, 5);
    CHECK(st[1].kind == NN_LAYER_ACT && st[1].act == NN_ACT_RELU);
    CHECKF(fabs(st[1].dead_fraction - 3.0 / H) < 1e-6, "dead %g", st[1].dead_fraction);
    CHECK(st[3].act == NN_ACT_SIGMOID);
    CHECKF(fabs(st[3].saturated_fraction - 0.5) < 1e-6, "saturated %g", st[3].saturated_fraction);
    CHECK(st[0].dead_fraction == -1.0f && st[0].saturated_fraction == -1.0f && st[0].update_ratio == -1.0f);
    for (l = 0; l < n; l++) {
        const float *y = h.m.layers[l].y.data;
        double s = 0.0, q = 0.0, mean;
        int k, m = B * h.m.layers[l].out;
        for (k = 0; k < m; k++) s += y[k];
        mean = s / m;
        for (k = 0; k < m; k++) q += (y[k] - mean) * (y[k] - mean);
        CHECKF(fabs(st[l].out_mean - mean) <= 1e-5 * (1 + fabs(mean)), "layer %d mean", l);
        CHECKF(fabs(st[l].out_std - sqrt(q / m)) <= 1e-5 * (1 + sqrt(q / m)), "layer %d std", l);
        if (h.m.layers[l].kind == NN_LAYER_DENSE) {
            double g = 0.0, w = 0.0;
            int nw = (int)nn_tensor_size(h.m.layers[l].w);
            for (k = 0; k < nw; k++) {
                g += (double)h.m.layers[l].dw.data[k] * h.m.layers[l].dw.data[k];
                w += (double)h.m.layers[l].w.data[k] * h.m.layers[l].w.data[k];
            }
            CHECKF(fabs(st[l].grad_norm - sqrt(g)) <= 1e-5 * (1 + sqrt(g)), "layer %d grad norm", l);
            CHECKF(fabs(st[l].weight_norm - sqrt(w)) <= 1e-5 * (1 + sqrt(w)), "layer %d weight norm", l);
        }
    }
    /* one SGD step: the update ratio is lr |dw| / |w| */
    od.lr = 0.1f;
    CHECK_EQ_INT(nn_arena_init_heap(&oa, nn_optim_arena_bytes(&od, h.m.n_params)), NN_OK);
    CHECK_EQ_INT(nn_optim_init(&o, &oa, &od, h.m.n_params), NN_OK);
    before = falloc(h.m.n_params);
    memcpy(before, h.m.params, sizeof(float) * h.m.n_params);
    nn_optim_step(&o, h.m.params, h.m.grads, h.m.n_params);
    nn_model_layer_stats(&h.m, before, st, 8);
    {
        const float *w0 = before + (h.m.layers[4].w.data - h.m.params);
        double w2 = 0.0, want;
        int k;
        for (k = 0; k < 2 * H; k++) w2 += (double)w0[k] * w0[k];
        want = 0.1 * st[4].grad_norm / sqrt(w2);
        CHECKF(fabs(st[4].update_ratio - want) < 1e-4 * want, "update ratio %g vs %g", st[4].update_ratio, want);
    }
    CHECK(st[1].update_ratio == -1.0f); /* an activation has no weight */
    CHECK_EQ_INT(nn_model_layer_stats(&h.m, NULL, st, 2), 5); /* cap respected, count returned */
    free(before);
    nn_arena_deinit(&oa);
    held_free(&h);
}

/* ------------------------------------------------------------------ LR range test */

/* Two Gaussian blobs, 3 features; an MLP with Adam. */
typedef struct blobs {
    float x[400 * 3];
    int y[400];
    nn_data d;
} blobs;

static void blobs_make(blobs *s) {
    nn_rng r;
    int i, j;
    nn_rng_seed(&r, 21);
    for (i = 0; i < 400; i++) {
        s->y[i] = i % 2;
        for (j = 0; j < 3; j++) s->x[i * 3 + j] = nn_rng_normal(&r) + (s->y[i] ? 1.5f : -1.5f);
    }
    memset(&s->d, 0, sizeof s->d);
    s->d.n = 400; s->d.features = 3; s->d.x = s->x; s->d.labels = s->y;
}

static void test_lr_find(void) {
    static blobs s;
    nn_layer_desc ls[2];
    held h;
    nn_optim o;
    nn_optim_desc od = nn_optim_desc_default(NN_OPTIM_ADAM);
    nn_arena oa;
    nn_lr_find_desc d = nn_lr_find_desc_default(), zero;
    static nn_lr_find_result r1, r2;
    float *p0, *m0;
    int k, falls = 0;
    blobs_make(&s);
    ls[0] = nn_dense(16, NN_ACT_TANH);
    ls[1] = nn_dense(2, NN_ACT_IDENTITY);
    CHECK(held_make(&h, 3, 64, ls, 2, 4));
    CHECK_EQ_INT(nn_arena_init_heap(&oa, nn_optim_arena_bytes(&od, h.m.n_params)), NN_OK);
    CHECK_EQ_INT(nn_optim_init(&o, &oa, &od, h.m.n_params), NN_OK);
    /* a few real steps first, so that there are moments to put back */
    {
        nn_batch b;
        b.x = nn_tensor_2d(s.x, 64, 3);
        b.labels = s.y;
        b.targets = NULL;
        for (k = 0; k < 3; k++) {
            nn_model_loss(&h.m, b, 1);
            nn_optim_step(&o, h.m.params, h.m.grads, h.m.n_params);
        }
    }
    p0 = falloc(h.m.n_params); m0 = falloc(h.m.n_params);
    memcpy(p0, h.m.params, sizeof(float) * h.m.n_params);
    memcpy(m0, o.s0, sizeof(float) * h.m.n_params);
    d.lr_min = 1e-5;
    d.lr_max = 100.0;
    d.steps = 120;
    d.batch = 32;
    CHECK_EQ_INT(nn_lr_find(&h.m, &o, &h.scratch, &s.d, &d, &r1), NN_OK);
    CHECK(r1.n >= 20 && r1.n <= 120);
    CHECK(r1.suggested > 1e-4 && r1.suggested < 10.0);
    CHECK(r1.min_lr >= r1.suggested);
    for (k = 1; k < r1.n; k++) falls += r1.smoothed[k] < r1.smoothed[k - 1];
    CHECK(falls > r1.n / 4);
    TEST_NOTE("blobs, Adam: %d points, %s, suggested lr %.3g, minimum at %.3g", r1.n,
              r1.diverged ? "stopped on divergence" : "ran every step", r1.suggested, r1.min_lr);
    /* everything put back; the same result again */
    CHECK(memcmp(p0, h.m.params, sizeof(float) * h.m.n_params) == 0);
    CHECK(memcmp(m0, o.s0, sizeof(float) * h.m.n_params) == 0);
    CHECK(o.step == 3 && o.d.lr == od.lr);
    CHECK(h.scratch.used == 0);
    CHECK_EQ_INT(nn_lr_find(&h.m, &o, &h.scratch, &s.d, &d, &r2), NN_OK);
    CHECK(r2.n == r1.n && memcmp(r1.smoothed, r2.smoothed, sizeof(float) * (size_t)r1.n) == 0 &&
          r1.suggested == r2.suggested);
    /* refused */
    memset(&zero, 0, sizeof zero);
    CHECK_EQ_INT(nn_lr_find(&h.m, &o, &h.scratch, &s.d, &zero, &r2), NN_ERR_INVALID_ARGUMENT);
    d.steps = NN_LR_FIND_MAX + 1;
    CHECK_EQ_INT(nn_lr_find(&h.m, &o, &h.scratch, &s.d, &d, &r2), NN_ERR_INVALID_ARGUMENT);
    d.steps = 50;
    d.batch = 65; /* above max_batch */
    CHECK_EQ_INT(nn_lr_find(&h.m, &o, &h.scratch, &s.d, &d, &r2), NN_ERR_INVALID_ARGUMENT);
    free(p0); free(m0);
    nn_arena_deinit(&oa);
    held_free(&h);
}


/* ------------------------------------------------------------------ hyperparameter search */

typedef struct hp_log {
    int calls;
    double nan_every; /* score NaN for trial ids divisible by this (0: never) */
} hp_log;

/* A known landscape: lr best at 10^-2.5, width at 64, choice 1, dropout 0 */
static double hp_bowl(void *user, const nn_hp_trial *t) {
    hp_log *lg = (hp_log *)user;
    double s, l = t->x[0] > 0.0 ? log10(t->x[0]) + 2.5 : 10.0;
    lg->calls++;
    if (lg->nan_every > 0 && t->id % (int)lg->nan_every == 0) return NAN;
    s = l * l + (t->x[1] - 64.0) * (t->x[1] - 64.0) / 1000.0 + (t->choice[2] != 1) + t->x[3] * t->x[3];
    return s + 1.0 / t->budget; /* more budget, a truer score */
}

static int hp_space(nn_hp_dim *dims) {
    static const double opt[3] = {0, 1, 2};
    static const char *const names[3] = {"sgd", "adam", "adamw"};
    dims[0] = nn_hp_log_uniform("lr", 1e-5, 1.0, 0.0);
    dims[1] = nn_hp_int("width", 8, 128);
    dims[2] = nn_hp_choice("optimizer", 3, opt, names);
    dims[3] = nn_hp_uniform("dropout", 0.0, 0.5);
    return 4;
}

static void test_hp_grid(void) {
    nn_hp_dim dims[4];
    nn_hp_search_desc d = nn_hp_search_desc_default(NN_HP_GRID);
    nn_hp_trial t[100];
    nn_hp_result res;
    hp_log lg = {0, 0};
    int i, seen_zero = 0, seen[3] = {0, 0, 0};
    dims[0] = nn_hp_uniform("a", 0.0, 1.0);
    dims[1] = nn_hp_log_uniform("wd", 1e-3, 1e-1, 0.5); /* 0, 1e-3, 1e-2, 1e-1 */
    dims[2] = nn_hp_int("w", 1, 4);                      /* 1, 3, 4 */
    dims[3] = nn_hp_int("one", 7, 7);
    CHECK_EQ_INT(nn_hp_search_count(dims, 4, &d), 3 * 4 * 3 * 1);
    CHECK_EQ_INT(nn_hp_search(dims, 4, &d, hp_bowl, &lg, t, 100, &res), NN_OK);
    CHECK_EQ_INT(res.n_trials, 36);
    CHECK_EQ_INT(lg.calls, 36);
    for (i = 0; i < 36; i++) {
        double a = t[i].x[0], wd = t[i].x[1], w = t[i].x[2];
        CHECK(a == 0.0 || a == 0.5 || a == 1.0);
        CHECK(wd == 0.0 || fabs(wd - 1e-3) < 1e-15 || fabs(wd - 1e-2) < 1e-14 || fabs(wd - 1e-1) < 1e-13);
        CHECK(w == 1.0 || w == 3.0 || w == 4.0);
        CHECK(t[i].x[3] == 7.0 && t[i].id == i);
        seen_zero += wd == 0.0;
        seen[(int)w == 1 ? 0 : (int)w == 3 ? 1 : 2]++;
    }
    CHECK_EQ_INT(seen_zero, 9);
    CHECK(seen[0] == 12 && seen[1] == 12 && seen[2] == 12);
    CHECK(t[0].x[0] == 0.0 && t[0].x[1] == 0.0 && t[0].x[2] == 1.0 && t[1].x[2] == 3.0); /* last dim fastest */
    for (i = 0; i < 36; i++) CHECK(t[res.best].score <= t[i].score);
}

static void test_hp_random_reproducible(void) {
    nn_hp_dim dims[5];
    nn_hp_search_desc d = nn_hp_search_desc_default(NN_HP_RANDOM);
    static nn_hp_trial t1[400], t2[400];
    nn_hp_result r1, r2;
    hp_log lg = {0, 0};
    int i, zeros = 0, below = 0, ch[3] = {0, 0, 0};
    hp_space(dims);
    dims[4] = nn_hp_log_uniform("wd", 1e-6, 1e-2, 0.25);
    d.trials = 400;
    CHECK_EQ_INT(nn_hp_search(dims, 5, &d, hp_bowl, &lg, t1, 400, &r1), NN_OK);
    CHECK_EQ_INT(nn_hp_search(dims, 5, &d, hp_bowl, &lg, t2, 400, &r2), NN_OK);
    CHECK(memcmp(t1, t2, sizeof t1) == 0 && r1.best == r2.best);
    for (i = 0; i < 400; i++) {
        CHECK(t1[i].x[0] >= 1e-5 && t1[i].x[0] <= 1.0);
        CHECK(t1[i].x[1] >= 8 && t1[i].x[1] <= 128 && t1[i].x[1] == floor(t1[i].x[1]));
        CHECK(t1[i].choice[2] >= 0 && t1[i].choice[2] < 3 && t1[i].x[2] == t1[i].choice[2]);
        CHECK(t1[i].x[3] >= 0.0 && t1[i].x[3] <= 0.5 && t1[i].choice[3] == -1);
        below += t1[i].x[0] < 10e-3 * 0.316; /* below the geometric middle 10^-2.5 */
        zeros += t1[i].x[4] == 0.0;
        ch[t1[i].choice[2]]++;
    }
    CHECKF(below > 150 && below < 250, "log-uniform: %d of 400 below the middle", below);
    CHECKF(zeros > 70 && zeros < 130, "zero_p 0.25: %d zeros of 400", zeros);
    CHECK(ch[0] > 100 && ch[1] > 100 && ch[2] > 100);
    d.seed = 2;
    CHECK_EQ_INT(nn_hp_search(dims, 5, &d, hp_bowl, &lg, t2, 400, &r2), NN_OK);
    CHECK(memcmp(t1, t2, sizeof t1) != 0);
}

static double mean_score(const nn_hp_trial *t, int a, int b) {
    double s = 0.0;
    int i;
    for (i = a; i < b; i++) s += t[i].score;
    return s / (b - a);
}

static void test_hp_coarse_to_fine_and_tpe(void) {
    nn_hp_dim dims[4];
    nn_hp_search_desc d = nn_hp_search_desc_default(NN_HP_COARSE_TO_FINE);
    static nn_hp_trial t[200];
    nn_hp_result res;
    hp_log lg = {0, 0};
    double spread[3] = {0, 0, 0}, rnd_best;
    int r, i;
    hp_space(dims);
    d.trials = 30;
    d.rounds = 3;
    CHECK_EQ_INT(nn_hp_search_count(dims, 4, &d), 90);
    CHECK_EQ_INT(nn_hp_search(dims, 4, &d, hp_bowl, &lg, t, 200, &res), NN_OK);
    for (r = 0; r < 3; r++) {
        double lo = 1e9, hi = -1e9;
        for (i = r * 30; i < (r + 1) * 30; i++) {
            CHECK(t[i].rung == r);
            lo = fmin(lo, log10(t[i].x[0]));
            hi = fmax(hi, log10(t[i].x[0]));
        }
        spread[r] = hi - lo;
    }
    CHECKF(spread[2] < 0.6 * spread[0], "coarse to fine: lr spread %g then %g then %g decades", spread[0], spread[1],
           spread[2]);
    CHECK(mean_score(t, 60, 90) < 0.6 * mean_score(t, 0, 30));
    TEST_NOTE("coarse to fine: lr spread %.2f, %.2f, %.2f decades; mean score %.3g -> %.3g; best %.3g", spread[0],
              spread[1], spread[2], mean_score(t, 0, 30), mean_score(t, 60, 90), t[res.best].score);
    /* TPE against random search with the same number of trials and seed */
    d = nn_hp_search_desc_default(NN_HP_RANDOM);
    d.trials = 80;
    CHECK_EQ_INT(nn_hp_search(dims, 4, &d, hp_bowl, &lg, t, 200, &res), NN_OK);
    rnd_best = t[res.best].score;
    d = nn_hp_search_desc_default(NN_HP_TPE);
    d.trials = 80;
    CHECK_EQ_INT(nn_hp_search(dims, 4, &d, hp_bowl, &lg, t, 200, &res), NN_OK);
    CHECK(mean_score(t, 50, 80) < 0.5 * mean_score(t, 0, 10));
    CHECK(t[res.best].score <= rnd_best);
    TEST_NOTE("TPE, 80 trials: mean score %.3g in the 10 random ones, %.3g in the last 30; best %.3g (random search "
              "%.3g)", mean_score(t, 0, 10), mean_score(t, 50, 80), t[res.best].score, rnd_best);
}

static void test_hp_halving(void) {
    nn_hp_dim dims[4];
    nn_hp_search_desc d = nn_hp_search_desc_default(NN_HP_HALVING);
    nn_hp_trial t[64];
    nn_hp_result res;
    hp_log lg = {0, 0};
    int i, j, starts[5] = {0, 27, 36, 39, 40};
    hp_space(dims);
    CHECK_EQ_INT(nn_hp_search_count(dims, 4, &d), 40); /* 27 + 9 + 3 + 1 */
    CHECK_EQ_INT(nn_hp_search(dims, 4, &d, hp_bowl, &lg, t, 64, &res), NN_OK);
    CHECK_EQ_INT(res.n_trials, 40);
    for (i = 0; i < 4; i++)
        for (j = starts[i]; j < starts[i + 1]; j++) {
            CHECK(t[j].rung == i && t[j].budget == pow(3.0, i));
            if (i > 0) {
                /* a survivor: its configuration's score on the rung below beats every dropped one */
                int k, prev = -1;
                for (k = starts[i - 1]; k < starts[i]; k++)
                    if (t[k].config == t[j].config) prev = k;
                CHECK(prev >= 0);
                if (prev >= 0)
                    for (k = starts[i - 1]; k < starts[i]; k++) {
                        int kept = 0, q;
                        for (q = starts[i]; q < starts[i + 1]; q++) kept |= t[q].config == t[k].config;
                        if (!kept) CHECK(t[prev].score <= t[k].score);
                    }
                CHECK(memcmp(t[j].x, t[prev].x, sizeof t[j].x) == 0);
            }
        }
    CHECK_EQ_INT(res.best, 39);
}

static void test_hp_nan_and_bad_arguments(void) {
    nn_hp_dim dims[4], bad;
    nn_hp_search_desc d = nn_hp_search_desc_default(NN_HP_RANDOM), zero;
    nn_hp_trial t[40];
    nn_hp_result res;
    hp_log lg = {0, 3};
    int i;
    hp_space(dims);
    d.trials = 30;
    CHECK_EQ_INT(nn_hp_search(dims, 4, &d, hp_bowl, &lg, t, 40, &res), NN_OK);
    CHECK(res.best % 3 != 0);
    for (i = 0; i < 30; i++) CHECK(i % 3 != 0 || t[i].score != t[i].score);
    lg.nan_every = 1;
    CHECK_EQ_INT(nn_hp_search(dims, 4, &d, hp_bowl, &lg, t, 40, &res), NN_ERR_NONFINITE);
    CHECK(res.best == -1);
    lg.nan_every = 0;
    CHECK_EQ_INT(nn_hp_search(dims, 4, &d, hp_bowl, &lg, t, 29, &res), NN_ERR_INVALID_ARGUMENT);
    memset(&zero, 0, sizeof zero);
    CHECK_EQ_INT(nn_hp_search(dims, 4, &zero, hp_bowl, &lg, t, 40, &res), NN_ERR_INVALID_ARGUMENT);
    CHECK(strstr(res.error, "nn_hp_search_desc_default") != NULL);
    bad = nn_hp_log_uniform("lr", 0.0, 1.0, 0.0);
    CHECK_EQ_INT(nn_hp_search(&bad, 1, &d, hp_bowl, &lg, t, 40, &res), NN_ERR_INVALID_ARGUMENT);
    CHECK(strstr(res.error, "lr") != NULL);
    bad = nn_hp_int("w", 5, 2);
    CHECK_EQ_INT(nn_hp_search(&bad, 1, &d, hp_bowl, &lg, t, 40, &res), NN_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(nn_hp_search(dims, 0, &d, hp_bowl, &lg, t, 40, &res), NN_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(nn_hp_search(dims, 4, &d, NULL, &lg, t, 40, &res), NN_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(nn_hp_search_count(dims, 4, &zero), 0);
}

#ifndef NN_NO_STDIO
static void test_hp_csv(void) {
    nn_hp_dim dims[4];
    nn_hp_search_desc d = nn_hp_search_desc_default(NN_HP_RANDOM);
    nn_hp_trial t[3];
    nn_hp_result res;
    hp_log lg = {0, 0};
    char line[256];
    FILE *f = tmpfile();
    int lines = 0;
    hp_space(dims);
    d.trials = 3;
    CHECK(f != NULL);
    if (!f) return;
    CHECK_EQ_INT(nn_hp_search(dims, 4, &d, hp_bowl, &lg, t, 3, &res), NN_OK);
    CHECK_EQ_INT(nn_hp_trials_csv(dims, 4, t, 3, f), NN_OK);
    rewind(f);
    while (fgets(line, sizeof line, f)) {
        if (lines == 0) CHECK(strcmp(line, "id,config,rung,budget,lr,width,optimizer,dropout,score\n") == 0);
        else CHECK(strstr(line, ",sgd,") || strstr(line, ",adam,") || strstr(line, ",adamw,"));
        lines++;
    }
    CHECK_EQ_INT(lines, 4);
    fclose(f);
}
#endif


/* ------------------------------------------------------------------ the course's forms */

static void optim_make(nn_optim *o, nn_arena *a, nn_optim_desc *od, size_t n) {
    memset(a, 0, sizeof *a);
    CHECK_EQ_INT(nn_arena_init_heap(a, nn_optim_arena_bytes(od, n) + 64), NN_OK);
    CHECK_EQ_INT(nn_optim_init(o, a, od, n), NN_OK);
}

/* v = mu v + (1 - mu) g from v = 0; w -= lr v: five steps against the formula, bit for bit */
static void test_course_momentum_ema(void) {
    float w[3] = {1.0f, -2.0f, 0.5f}, g[3], hw[3], hv[3] = {0, 0, 0};
    nn_optim o;
    nn_arena a;
    nn_optim_desc od = nn_optim_desc_default(NN_OPTIM_SGD);
    int t, i;
    od.lr = 0.1f; od.momentum = 0.9f; od.momentum_ema = 1;
    optim_make(&o, &a, &od, 3);
    memcpy(hw, w, sizeof w);
    for (t = 0; t < 5; t++) {
        for (i = 0; i < 3; i++) g[i] = 2.0f * w[i] + (float)i; /* any gradient */
        for (i = 0; i < 3; i++) {
            float gi = 2.0f * hw[i] + (float)i;
            hv[i] = 0.9f * hv[i] + (1.0f - 0.9f) * gi;
            hw[i] -= 0.1f * hv[i];
        }
        nn_optim_step(&o, w, g, 3);
    }
    CHECK(memcmp(w, hw, sizeof w) == 0);
    nn_arena_deinit(&a);
    /* torch's dampening 0.9 is the same average but starts at v_1 = g, not (1 - mu) g */
    {
        float wt[3] = {1.0f, -2.0f, 0.5f}, we[3] = {1.0f, -2.0f, 0.5f}, gt[3] = {1, 1, 1}, ge[3] = {1, 1, 1};
        nn_optim ot;
        nn_arena at;
        od.momentum_ema = 0; od.dampening = 0.9f;
        optim_make(&ot, &at, &od, 3);
        od.momentum_ema = 1; od.dampening = 0.0f;
        optim_make(&o, &a, &od, 3);
        nn_optim_step(&ot, wt, gt, 3);
        nn_optim_step(&o, we, ge, 3);
        CHECK(wt[0] == 1.0f - 0.1f * 1.0f && we[0] == 1.0f - 0.1f * ((1.0f - 0.9f) * 1.0f));
        nn_arena_deinit(&at);
        nn_arena_deinit(&a);
    }
    od.momentum_ema = 1; od.kind = NN_OPTIM_ADAM;
    CHECK(nn_optim_arena_bytes(&od, 3) == 0); /* momentum_ema is SGD's */
    od.kind = NN_OPTIM_SGD; od.classic_momentum = 1;
    CHECK(nn_optim_arena_bytes(&od, 3) == 0);
}

/* RMSprop with eps inside the square root, plain and centered, against the formula */
static void test_course_rmsprop_eps_inside(void) {
    int centered;
    for (centered = 0; centered < 2; centered++) {
        float w[2] = {0.3f, -0.7f}, hw[2], s[2] = {0, 0}, ga[2] = {0, 0}, g[2];
        nn_optim o;
        nn_arena a;
        nn_optim_desc od = nn_optim_desc_default(NN_OPTIM_RMSPROP);
        int t, i;
        od.lr = 0.01f; od.eps = 1e-4f; od.eps_inside_sqrt = 1; od.centered = centered;
        optim_make(&o, &a, &od, 2);
        memcpy(hw, w, sizeof w);
        for (t = 0; t < 4; t++) {
            for (i = 0; i < 2; i++) {
                float gi = 3.0f * hw[i] - 0.1f, den;
                g[i] = 3.0f * w[i] - 0.1f;
                s[i] = 0.99f * s[i] + (1.0f - 0.99f) * gi * gi;
                ga[i] = 0.99f * ga[i] + (1.0f - 0.99f) * gi;
                den = centered ? sqrtf(s[i] - ga[i] * ga[i] + 1e-4f) : sqrtf(s[i] + 1e-4f);
                hw[i] -= 0.01f * (gi / den);
            }
            nn_optim_step(&o, w, g, 2);
        }
        CHECKF(memcmp(w, hw, sizeof w) == 0, "centered %d: %.9g %.9g vs %.9g %.9g", centered, w[0], w[1], hw[0], hw[1]);
        nn_arena_deinit(&a);
    }
}

/* L1 as soft-thresholding: small weights land on exactly 0 and stay there; the
   subgradient form leaves them jittering around 0 instead */
static void test_course_l1_proximal(void) {
    float w[4] = {0.05f, -0.3f, 2.0f, -0.01f}, w2[4], g[4] = {0, 0, 0, 0};
    nn_optim o, o2;
    nn_arena a, a2;
    nn_optim_desc od = nn_optim_desc_default(NN_OPTIM_SGD);
    int t, zeros = 0, zeros2 = 0, i;
    memcpy(w2, w, sizeof w);
    od.lr = 0.1f; od.l1 = 1.0f; od.l1_proximal = 1;
    optim_make(&o, &a, &od, 4);
    od.l1_proximal = 0;
    optim_make(&o2, &a2, &od, 4);
    for (t = 0; t < 10; t++) {
        memset(g, 0, sizeof g);
        nn_optim_step(&o, w, g, 4);
        memset(g, 0, sizeof g);
        nn_optim_step(&o2, w2, g, 4);
    }
    for (i = 0; i < 4; i++) {
        zeros += w[i] == 0.0f;
        zeros2 += w2[i] == 0.0f;
    }
    CHECK(w[0] == 0.0f && w[1] == 0.0f && w[3] == 0.0f);
    CHECKF(fabsf(w[2] - 1.0f) < 1e-5f, "2.0 after 10 steps of 0.1: %g", w[2]);
    CHECK(zeros == 3 && zeros2 < 3);
    TEST_NOTE("L1, 10 SGD steps on a zero gradient: %d of 4 weights exactly 0 proximal, %d by subgradient", zeros,
              zeros2);
    nn_arena_deinit(&a);
    nn_arena_deinit(&a2);
}

/* Vanilla dropout: the same draws as inverted dropout, unscaled in training, scaled by
   (1 - p) in eval; the model's gradient through it checks out; files keep it (LAYX, a
   required section) and a model without it refuses such a file. */
static void test_course_vanilla_dropout(void) {
    enum { N = 1000 };
    static float x[N], y[N], y2[N], mask[N], mask2[N], dx[N];
    nn_rng r1, r2;
    int i, kept = 0;
    nn_layer_desc ls[3], plain[3];
    held h, h2;
    unsigned char *buf;
    size_t len = 0, cap = 1 << 16;
    for (i = 0; i < N; i++) x[i] = (float)(i % 7) - 3.0f;
    nn_rng_seed(&r1, 5);
    nn_rng_seed(&r2, 5);
    nn_dropout_vanilla_forward(nn_tensor_1d(y, N), mask, nn_tensor_1d(x, N), 0.3f, 1, &r1);
    nn_dropout_forward(nn_tensor_1d(y2, N), mask2, nn_tensor_1d(x, N), 0.3f, 1, &r2);
    for (i = 0; i < N; i++) {
        CHECK((mask[i] == 0.0f) == (mask2[i] == 0.0f));
        CHECK(y[i] == x[i] * mask[i] && (mask[i] == 0.0f || mask[i] == 1.0f));
        kept += mask[i] != 0.0f;
    }
    CHECK(kept > 600 && kept < 800);
    nn_dropout_vanilla_backward(nn_tensor_1d(dx, N), nn_tensor_1d(x, N), mask);
    for (i = 0; i < N; i++) CHECK(dx[i] == x[i] * mask[i]);
    nn_dropout_vanilla_forward(nn_tensor_1d(y, N), mask, nn_tensor_1d(x, N), 0.3f, 0, NULL);
    for (i = 0; i < N; i++) CHECK(y[i] == x[i] * 0.7f);
    /* in a model: gradient check, then a file round trip */
    ls[0] = nn_dense(6, NN_ACT_TANH);
    ls[1] = nn_dropout(0.4f);
    ls[1].vanilla = 1;
    ls[2] = nn_dense(3, NN_ACT_IDENTITY);
    check_model("vanilla dropout (train)", ls, 3, 4, 3, 5, 1, NN_MODE_TRAIN);
    check_model("vanilla dropout (eval)", ls, 3, 4, 3, 5, 1, NN_MODE_EVAL);
    CHECK(held_make(&h, 4, 5, ls, 3, 1));
    buf = (unsigned char *)malloc(cap);
    CHECK_EQ_INT(nn_model_save_to_memory(&h.m, NULL, buf, cap, &len), NN_OK);
    {
        /* LAYX is there and flagged required */
        size_t pos = 24;
        int found = 0;
        while (pos + 16 <= len) {
            uint32_t slen = (uint32_t)buf[pos + 8] | (uint32_t)buf[pos + 9] << 8 | (uint32_t)buf[pos + 10] << 16 |
                            (uint32_t)buf[pos + 11] << 24;
            if (memcmp(buf + pos, "LAYX", 4) == 0) found = buf[pos + 4] & 1;
            pos += 16 + slen + 4;
        }
        CHECK(found);
    }
    {
        nn_model m2;
        nn_arena a2;
        CHECK_EQ_INT(nn_arena_init_heap(&a2, 1 << 20), NN_OK);
        CHECK_EQ_INT(nn_model_init_from_memory(&m2, &a2, buf, len), NN_OK);
        CHECK(m2.descs[1].vanilla == 1 && m2.layers[2].vanilla == 1);
        nn_arena_deinit(&a2);
    }
    plain[0] = ls[0]; plain[1] = nn_dropout(0.4f); plain[2] = ls[2];
    CHECK(held_make(&h2, 4, 5, plain, 3, 1));
    CHECK_EQ_INT(nn_model_load_from_memory(&h2.m, NULL, buf, len), NN_ERR_SHAPE_MISMATCH);
    /* refused on a layer that is not dropout */
    ls[0].vanilla = 1;
    {
        nn_model_desc md;
        memset(&md, 0, sizeof md);
        md.inputs = 4; md.max_batch = 5; md.layers = ls; md.n_layers = 3; md.seed = 1;
        CHECK(nn_model_arena_bytes(&md) == 0);
    }
    free(buf);
    held_free(&h);
    held_free(&h2);
}

/* The optimizer's flags survive a checkpoint (OPTX, required) */
static void test_course_flags_in_checkpoint(void) {
    nn_layer_desc ls[1];
    held h;
    nn_optim o, o2;
    nn_arena a, a2;
    nn_optim_desc od = nn_optim_desc_default(NN_OPTIM_SGD);
    nn_train_state st;
    unsigned char *buf = (unsigned char *)malloc(1 << 16);
    size_t len = 0;
    ls[0] = nn_dense(2, NN_ACT_IDENTITY);
    CHECK(held_make(&h, 3, 2, ls, 1, 1));
    od.momentum = 0.5f; od.momentum_ema = 1; od.l1 = 0.01f; od.l1_proximal = 1;
    optim_make(&o, &a, &od, h.m.n_params);
    memset(&st, 0, sizeof st);
    st.optim = &o;
    CHECK_EQ_INT(nn_model_save_to_memory(&h.m, &st, buf, 1 << 16, &len), NN_OK);
    od.momentum_ema = 0; od.l1_proximal = 0;
    optim_make(&o2, &a2, &od, h.m.n_params);
    st.optim = &o2;
    CHECK_EQ_INT(nn_model_load_from_memory(&h.m, &st, buf, len), NN_OK);
    CHECK(o2.d.momentum_ema == 1 && o2.d.l1_proximal == 1 && o2.d.eps_inside_sqrt == 0);
    free(buf);
    nn_arena_deinit(&a);
    nn_arena_deinit(&a2);
    held_free(&h);
}


/* ------------------------------------------------------------------ review findings */

static double big_objective(void *user, const float *x, float *g) {
    (void)user;
    if (g) g[0] = 2.0f * x[0], g[1] = 1.0f;
    return (double)x[0] * x[0] + (double)x[1];
}

/* A coordinate of 1e6 is 0.06 float steps of the default 1e-2 wide: the step widens
   rather than dividing 0 by 0. */
static void test_gradcheck_large_coordinate(void) {
    float x[2] = {0.5f, 1e6f}, g[2];
    nn_gradcheck_desc d = nn_gradcheck_desc_default();
    nn_gradcheck_result r;
    CHECK_EQ_INT(nn_gradcheck_fn(big_objective, NULL, x, g, 2, &d, &r), NN_OK);
    CHECK(x[1] == 1e6f);
}

static double hp_nan_but_one(void *user, const nn_hp_trial *t) {
    (void)user;
    return t->config == 1 ? 1.0 / t->budget : NAN;
}

/* Halving with one scored configuration among nine: each configuration at most once per
   rung, the scored one first. */
static void test_hp_halving_nan_configs(void) {
    nn_hp_dim dims[4];
    nn_hp_search_desc d = nn_hp_search_desc_default(NN_HP_HALVING);
    nn_hp_trial t[32];
    nn_hp_result res;
    int i, j;
    hp_space(dims);
    d.trials = 9;
    CHECK_EQ_INT(nn_hp_search(dims, 4, &d, hp_nan_but_one, NULL, t, 32, &res), NN_OK);
    CHECK_EQ_INT(res.n_trials, 9 + 3 + 1);
    for (i = 9; i < res.n_trials; i++)
        for (j = i + 1; j < res.n_trials; j++) CHECK(t[i].rung != t[j].rung || t[i].config != t[j].config);
    CHECK(t[9].config == 1 && t[12].config == 1 && t[res.best].config == 1);
    {
        double v[NN_HP_MAX_CHOICES + 1];
        nn_hp_dim many;
        for (i = 0; i <= NN_HP_MAX_CHOICES; i++) v[i] = i;
        many = nn_hp_choice("too many", NN_HP_MAX_CHOICES + 1, v, NULL);
        CHECK_EQ_INT(nn_hp_search(&many, 1, &d, hp_nan_but_one, NULL, t, 32, &res), NN_ERR_INVALID_ARGUMENT);
    }
}

/* nn_lr_find puts the mode back, refuses a prep of another width, a label out of range
   and batch norm on batches of one. */
static void test_lr_find_refusals(void) {
    static blobs s;
    nn_layer_desc ls[3];
    held h;
    nn_optim o;
    nn_optim_desc od = nn_optim_desc_default(NN_OPTIM_SGD);
    nn_arena oa, pa;
    nn_lr_find_desc d = nn_lr_find_desc_default();
    static nn_lr_find_result r;
    nn_prep prep;
    blobs_make(&s);
    ls[0] = nn_dense(8, NN_ACT_IDENTITY);
    ls[1] = nn_batchnorm();
    ls[2] = nn_dense(2, NN_ACT_IDENTITY);
    CHECK(held_make(&h, 3, 64, ls, 3, 4));
    CHECK_EQ_INT(nn_arena_init_heap(&oa, nn_optim_arena_bytes(&od, h.m.n_params)), NN_OK);
    CHECK_EQ_INT(nn_optim_init(&o, &oa, &od, h.m.n_params), NN_OK);
    d.steps = 20;
    d.batch = 16;
    nn_model_set_mode(&h.m, NN_MODE_EVAL);
    CHECK_EQ_INT(nn_lr_find(&h.m, &o, &h.scratch, &s.d, &d, &r), NN_OK);
    CHECK(h.m.mode == NN_MODE_EVAL);
    d.batch = 1;
    CHECK_EQ_INT(nn_lr_find(&h.m, &o, &h.scratch, &s.d, &d, &r), NN_ERR_INVALID_ARGUMENT);
    d.batch = 16;
    CHECK_EQ_INT(nn_arena_init_heap(&pa, nn_prep_arena_bytes(5, 0)), NN_OK);
    memset(&prep, 0, sizeof prep);
    CHECK_EQ_INT(nn_prep_init(&prep, &pa, 5, 0), NN_OK);
    d.prep = &prep;
    CHECK_EQ_INT(nn_lr_find(&h.m, &o, &h.scratch, &s.d, &d, &r), NN_ERR_SHAPE_MISMATCH);
    d.prep = NULL;
    s.y[5] = 7; /* a label the model has no output for */
    CHECK_EQ_INT(nn_lr_find(&h.m, &o, &h.scratch, &s.d, &d, &r), NN_ERR_INVALID_ARGUMENT);
    CHECK(strstr(r.error, "label") != NULL);
    CHECK(h.m.mode == NN_MODE_EVAL && h.scratch.used == 0);
    nn_arena_deinit(&pa);
    nn_arena_deinit(&oa);
    held_free(&h);
}

static const test_case tests[] = {
    TEST(test_gradcheck_mlp_smooth),
    TEST(test_gradcheck_norms_dropout),
    TEST(test_gradcheck_maxout_weight_std),
    TEST(test_gradcheck_leaves_model),
    TEST(test_gradcheck_fn_catches_wrong_backward),
    TEST(test_gradcheck_bad_arguments_and_nan),
    TEST(test_input_grad),
    TEST(test_hessian_least_squares),
    TEST(test_hessian_logistic),
    TEST(test_hessian_bad_arguments),
    TEST(test_layer_stats),
    TEST(test_lr_find),
    TEST(test_course_momentum_ema),
    TEST(test_course_rmsprop_eps_inside),
    TEST(test_course_l1_proximal),
    TEST(test_course_vanilla_dropout),
    TEST(test_course_flags_in_checkpoint),
    TEST(test_gradcheck_large_coordinate),
    TEST(test_hp_halving_nan_configs),
    TEST(test_lr_find_refusals),
    TEST(test_hp_grid),
    TEST(test_hp_random_reproducible),
    TEST(test_hp_coarse_to_fine_and_tpe),
    TEST(test_hp_halving),
    TEST(test_hp_nan_and_bad_arguments),
#ifndef NN_NO_STDIO
    TEST(test_hp_csv),
#endif
};

int main(int argc, char **argv) { return TEST_MAIN(argc, argv, tests); }
