/* test_special.c - NaN, infinities, -0 and denormals through every activation and loss,
   forward and backward, against PyTorch 1.13 (fixtures tests/fixtures/special_*.txt,
   written by tests/gen_fixtures.py).

   A NaN input must come out as NaN wherever PyTorch gives NaN (a NaN that turns into a
   plausible number hides a broken run), infinities must keep their sign, and tiny
   values must not be lost. The rule per element, want being PyTorch's value:
     NaN        got is NaN
     +-inf      got is the same infinity
     +-0        |got| <= 1e-38 (a denormal where PyTorch flushed is not a fault), and for
                the exact kernels (ReLU, LeakyReLU) the same sign of zero
     otherwise  |got - want| <= rtol |want| + 1e-38
   rtol is 0 (bit for bit) for ReLU and LeakyReLU, 1e-5 elsewhere (PARITY.md), 1e-4 for
   GELU (erf): its vector approximation's documented error between -3 and -1 is 5.2e-5.
   The make matrix builds this suite with the AVX2 kernels and with NN_NO_SIMD, so both
   paths meet every case. */
#ifndef NN_TEST_LINKED /* built against a separately compiled implementation */
#define NN_IMPLEMENTATION
#endif
#include "../nn.h"
#include "fixture.h"
#include "test.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#ifndef FIXTURE_DIR
#define FIXTURE_DIR "tests/fixtures/"
#endif

static int open_case(fx_file *f, const char *name) {
    char path[512];
    snprintf(path, sizeof path, "%s%s.txt", FIXTURE_DIR, name);
    if (fx_load(f, path) != 0) {
        CHECKF(0, "cannot read fixture %s (run tests/gen_fixtures.py)", path);
        return 0;
    }
    return 1;
}

static const fx_tensor *need(const fx_file *f, const char *name) {
    const fx_tensor *t = fx_get(f, name);
    CHECKF(t != NULL, "%s: no record '%s'", f->path, name);
    return t;
}

/* Where nn.h is knowingly not PyTorch's bits, with the reason:
   - sigmoid and SiLU at x <= -88.8: PyTorch computes 1/(1 + e^-x) with e^-x overflowing
     to inf and returns 0; nn.h returns the true, denormal value (3.7e-44 at -100). The
     forward values agree under the zero rule; only an infinite upstream gradient tells
     them apart there (PyTorch inf * 0 = NaN, nn.h inf * 3.7e-44 = inf), so a NaN from
     PyTorch may be an infinity from nn.h at such an x.
   - ELU: PyTorch 1.13 computes e^x - 1, which cancels to 0 for |x| below 6e-8
     (elu(-1e-30) = 0); nn.h keeps expm1's value (-1e-30). The difference is below one
     ulp of 1 (6e-8) times alpha, allowed as an absolute slack. */
static float x_of = 0.0f; /* the input of the element being compared, for the first rule */
static int sigmoid_tail_rule = 0;
static double abs_slack = 0.0;

/* Counts mismatches under the rule above; prints the first few. xs (may be NULL) are
   the inputs element by element. */
static int special_cmp(const char *what, const float *got, const float *want, int n, double rtol, int exact_zero,
                       const float *xs) {
    int i, bad = 0;
    for (i = 0; i < n; i++) {
        float g = got[i], w = want[i];
        int ok;
        x_of = xs ? xs[i] : 0.0f;
        if (isnan(w) && sigmoid_tail_rule && x_of <= -88.8f && isinf(g)) ok = 1;
        else if (isnan(w)) ok = isnan(g);
        else if (isinf(w)) ok = g == w;
        else if (w == 0.0f) ok = fabs((double)g) <= 1e-38 + abs_slack && (!exact_zero || signbit(g) == signbit(w));
        else if (rtol == 0.0) ok = g == w;
        else ok = fabs((double)g - w) <= rtol * fabs((double)w) + 1e-38 + abs_slack;
        if (!ok && ++bad <= 4) printf("  %s[%d]: got %.9g, PyTorch %.9g\n", what, i, (double)g, (double)w);
    }
    return bad == 0;
}

static float *fdup(const float *p, int n) {
    float *q = (float *)malloc(sizeof(float) * (size_t)(n ? n : 1));
    if (q) memcpy(q, p, sizeof(float) * (size_t)n);
    return q;
}

/* One activation fixture: forward and backward on x/dy, then on x2/dy2 (the same
   inputs meeting a NaN, +inf and -inf upstream gradient). */
static void act_case(const char *name, nn_act act, double rtol, int exact_zero) {
    static const char *const sets[2][4] = {{"x", "dy", "y", "dx"}, {"x2", "dy2", "y2", "dx2"}};
    fx_file f;
    int s;
    float alpha = 0.0f;
    if (!open_case(&f, name)) return;
    if (fx_get(&f, "alpha")) alpha = fx_scalar(&f, "alpha");
    else if (act == NN_ACT_LEAKY_RELU) alpha = 0.01f;
    else if (act == NN_ACT_ELU) alpha = 1.0f;
    for (s = 0; s < 2; s++) {
        const fx_tensor *x = fx_get(&f, sets[s][0]), *dy = fx_get(&f, sets[s][1]);
        const fx_tensor *y = fx_get(&f, sets[s][2]), *dx = fx_get(&f, sets[s][3]);
        float *gy, *gdx;
        int n, rows, cols;
        char what[96];
        if (!x || !dy || !y || !dx) {
            CHECKF(s == 1, "%s: records %s..%s missing", name, sets[s][0], sets[s][3]);
            continue;
        }
        n = x->size;
        rows = x->rank == 2 ? x->shape[0] : 1;
        cols = n / rows;
        gy = fdup(y->data, n);
        gdx = fdup(dx->data, n);
        {
            int i;
            for (i = 0; i < n; i++) gy[i] = gdx[i] = 42.0f; /* overwritten or it shows */
        }
        nn_act_forward(act, alpha, nn_tensor_2d(gy, rows, cols), nn_tensor_2d(x->data, rows, cols));
        nn_act_backward(act, alpha, nn_tensor_2d(gdx, rows, cols), nn_tensor_2d(dy->data, rows, cols),
                        nn_tensor_2d(x->data, rows, cols), nn_tensor_2d(gy, rows, cols));
        snprintf(what, sizeof what, "%s %s", name, sets[s][2]);
        CHECKF(special_cmp(what, gy, y->data, n, rtol, exact_zero, x->data), "%s: forward differs from PyTorch", what);
        snprintf(what, sizeof what, "%s %s", name, sets[s][3]);
        CHECKF(special_cmp(what, gdx, dx->data, n, rtol, exact_zero, x->data), "%s: backward differs from PyTorch", what);
        free(gy);
        free(gdx);
    }
    fx_free(&f);
}

static void test_special_relu(void) { act_case("special_relu", NN_ACT_RELU, 0.0, 1); }
static void test_special_leaky_relu(void) {
    act_case("special_leaky_relu_s001", NN_ACT_LEAKY_RELU, 0.0, 1);
    act_case("special_leaky_relu_s02", NN_ACT_LEAKY_RELU, 0.0, 1);
}
static void test_special_sigmoid(void) {
    sigmoid_tail_rule = 1;
    act_case("special_sigmoid", NN_ACT_SIGMOID, 1e-5, 0);
    sigmoid_tail_rule = 0;
}
static void test_special_tanh(void) { act_case("special_tanh", NN_ACT_TANH, 1e-5, 0); }
static void test_special_elu(void) {
    abs_slack = 6e-8;
    act_case("special_elu_a10", NN_ACT_ELU, 1e-5, 0);
    abs_slack = 3e-8; /* alpha 0.5 */
    act_case("special_elu_a05", NN_ACT_ELU, 1e-5, 0);
    abs_slack = 0.0;
}
static void test_special_gelu(void) { act_case("special_gelu", NN_ACT_GELU, 1e-4, 0); }
static void test_special_gelu_tanh(void) { act_case("special_gelu_tanh", NN_ACT_GELU_TANH, 1e-5, 0); }
static void test_special_silu(void) {
    sigmoid_tail_rule = 1;
    act_case("special_silu", NN_ACT_SILU, 1e-5, 0);
    sigmoid_tail_rule = 0;
}
static void test_special_softplus(void) { act_case("special_softplus", NN_ACT_SOFTPLUS, 1e-5, 0); }
static void test_special_softmax(void) { act_case("special_softmax", NN_ACT_SOFTMAX, 1e-5, 0); }

/* ------------------------------------------------------------------ losses */

typedef enum loss_kind { L_MSE, L_L1, L_HUBER, L_BCE, L_BCE_LOGITS, L_CE, L_CE_PROBS } loss_kind;

static void loss_case(const char *name, loss_kind kind) {
    fx_file f;
    const fx_tensor *pred, *target, *loss, *dpred;
    float *got_d, got_loss = 0.0f;
    int n, rows, cols, i;
    char what[96];
    if (!open_case(&f, name)) return;
    pred = need(&f, "pred");
    target = need(&f, "target");
    loss = need(&f, "loss");
    dpred = need(&f, "dpred");
    if (!pred || !target || !loss || !dpred) {
        fx_free(&f);
        return;
    }
    n = pred->size;
    rows = pred->rank == 2 ? pred->shape[0] : 1;
    cols = n / rows;
    got_d = fdup(dpred->data, n);
    for (i = 0; i < n; i++) got_d[i] = 42.0f;
    {
        nn_tensor P = nn_tensor_2d(pred->data, rows, cols), D = nn_tensor_2d(got_d, rows, cols);
        nn_tensor T = nn_tensor_2d(target->data, rows, target->size / rows);
        switch (kind) {
        case L_MSE: got_loss = nn_loss_mse(D, P, T); break;
        case L_L1: got_loss = nn_loss_l1(D, P, T); break;
        case L_HUBER: got_loss = nn_loss_huber(D, P, T, fx_scalar(&f, "delta")); break;
        case L_BCE: got_loss = nn_loss_bce(D, P, T); break;
        case L_BCE_LOGITS: got_loss = nn_loss_bce_logits(D, P, T); break;
        case L_CE_PROBS: got_loss = nn_loss_cross_entropy_probs(D, P, T, NULL); break;
        case L_CE: {
            int labels[64], b;
            CHECK(target->size == rows && rows <= 64);
            for (b = 0; b < rows && b < 64; b++) labels[b] = (int)target->data[b];
            got_loss = nn_loss_cross_entropy(D, P, labels);
            break;
        }
        }
    }
    snprintf(what, sizeof what, "%s loss", name);
    CHECKF(special_cmp(what, &got_loss, loss->data, 1, 1e-5, 0, NULL), "%s: loss differs from PyTorch", name);
    snprintf(what, sizeof what, "%s dpred", name);
    CHECKF(special_cmp(what, got_d, dpred->data, n, 1e-5, 0, NULL), "%s: gradient differs from PyTorch", name);
    free(got_d);
    fx_free(&f);
}

static void test_special_loss_mse(void) {
    loss_case("special_loss_mse_pred_nan", L_MSE);
    loss_case("special_loss_mse_target_nan", L_MSE);
    loss_case("special_loss_mse_pred_inf", L_MSE);
    loss_case("special_loss_mse_target_inf", L_MSE);
}
static void test_special_loss_l1(void) {
    loss_case("special_loss_l1_pred_nan", L_L1);
    loss_case("special_loss_l1_target_nan", L_L1);
    loss_case("special_loss_l1_pred_inf", L_L1);
    loss_case("special_loss_l1_target_inf", L_L1);
}
static void test_special_loss_huber(void) {
    static const char *const v[] = {"pred_nan", "target_nan", "pred_inf", "target_inf"};
    int i;
    char name[96];
    for (i = 0; i < 4; i++) {
        snprintf(name, sizeof name, "special_loss_huber_d10_%s", v[i]);
        loss_case(name, L_HUBER);
        snprintf(name, sizeof name, "special_loss_huber_d05_%s", v[i]);
        loss_case(name, L_HUBER);
    }
}
static void test_special_loss_bce(void) {
    loss_case("special_loss_bce_edge", L_BCE);
    loss_case("special_loss_bce_target_nan", L_BCE);
}
static void test_special_loss_bce_logits(void) {
    loss_case("special_loss_bce_logits_pred_inf", L_BCE_LOGITS);
    loss_case("special_loss_bce_logits_pred_huge", L_BCE_LOGITS);
    loss_case("special_loss_bce_logits_pred_nan", L_BCE_LOGITS);
    loss_case("special_loss_bce_logits_target_nan", L_BCE_LOGITS);
}
static void test_special_loss_cross_entropy(void) {
    loss_case("special_loss_ce_labels_pred_nan", L_CE);
    loss_case("special_loss_ce_labels_neginf", L_CE);
    loss_case("special_loss_ce_labels_neginf_label", L_CE);
    loss_case("special_loss_ce_labels_posinf", L_CE);
    loss_case("special_loss_ce_labels_huge", L_CE);
    loss_case("special_loss_ce_probs_pred_nan", L_CE_PROBS);
    loss_case("special_loss_ce_probs_target_nan", L_CE_PROBS);
    loss_case("special_loss_ce_probs_neginf", L_CE_PROBS);
    loss_case("special_loss_ce_probs_posinf", L_CE_PROBS);
}

/* A NaN input reaches the loss of a whole model as NaN (the XOR example trained to a
   plausible 0.25 when the vector sigmoid turned NaN into 1). */
static void test_special_nan_through_model(void) {
    nn_layer_desc ls[2];
    nn_model_desc md;
    nn_model m;
    nn_arena a;
    float x[4 * 2] = {0, 0, 0, 1, 1, 0, 1, 1}, t[4] = {0, 1, 1, 0}, loss;
    nn_tensor y;
    ls[0] = nn_dense(8, NN_ACT_TANH);
    ls[1] = nn_dense(1, NN_ACT_SIGMOID);
    memset(&md, 0, sizeof md);
    md.inputs = 2;
    md.max_batch = 4;
    md.layers = ls;
    md.n_layers = 2;
    md.seed = 1;
    CHECK_EQ_INT(nn_arena_init_heap(&a, nn_model_arena_bytes(&md)), NN_OK);
    CHECK_EQ_INT(nn_model_init(&m, &a, &md), NN_OK);
    x[3] = (float)NAN;
    y = nn_model_forward(&m, nn_tensor_2d(x, 4, 2));
    CHECK(y.data && isnan(y.data[1]) && !isnan(y.data[0]) && !isnan(y.data[2]));
    loss = nn_loss_mse(nn_model_output_grad(&m), y, nn_tensor_2d(t, 4, 1));
    CHECK(isnan(loss));
    nn_arena_deinit(&a);
}

static const test_case tests[] = {
    TEST(test_special_relu),
    TEST(test_special_leaky_relu),
    TEST(test_special_sigmoid),
    TEST(test_special_tanh),
    TEST(test_special_elu),
    TEST(test_special_gelu),
    TEST(test_special_gelu_tanh),
    TEST(test_special_silu),
    TEST(test_special_softplus),
    TEST(test_special_softmax),
    TEST(test_special_loss_mse),
    TEST(test_special_loss_l1),
    TEST(test_special_loss_huber),
    TEST(test_special_loss_bce),
    TEST(test_special_loss_bce_logits),
    TEST(test_special_loss_cross_entropy),
    TEST(test_special_nan_through_model),
};

int main(int argc, char **argv) { return TEST_MAIN(argc, argv, tests); }
