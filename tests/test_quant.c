/* test_quant.c - int8 quantized inference (section 18): every kernel the CPU has
   gives the plain twin's bits on odd sizes and batch 1; each quantized layer's
   output stays within a stated tolerance of the float model's; batch norm is
   folded into the weights; the calibration leaves the model as it was; what
   cannot be quantized is refused with a message; the same for a CNN (conv,
   pools, batchnorm2d folded); and, with NN_TEST_FASHION, an MLP and a CNN
   trained on Fashion-MNIST lose at most 0.5 points of test accuracy.

   Built by `make test` in every configuration of the matrix (the Fashion-MNIST
   test in one: it needs the data set and stb_image's inflate). */
#ifndef NN_TEST_LINKED
#define NN_IMPLEMENTATION
#endif
#include "../nn.h"
#include "test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static float *falloc(size_t n) {
    float *p = (float *)calloc(n ? n : 1, sizeof(float));
    if (!p) abort();
    return p;
}
static void fill(nn_rng *r, float *x, size_t n, float lo, float hi) {
    size_t i;
    for (i = 0; i < n; i++) x[i] = lo + (hi - lo) * nn_rng_uniform(r);
}

/* A model with everything int8 takes: dense + batch norm + ReLU + dropout,
   dense with its own tanh, dense + GELU layer, a last dense; trained a few
   steps so the batch norm's running statistics are not the defaults. */
typedef struct {
    nn_arena arena;
    nn_model m;
    nn_layer_desc l[12];
} qcase;
/* c's model from md, built and trained 5 Adam steps on random rows (labels
   when it has more than one output, else MSE against the first feature),
   then left in EVAL */
static int qcase_train(qcase *c, const nn_model_desc *md, uint64_t seed) {
    nn_optim_desc od = nn_optim_desc_default(NN_OPTIM_ADAM);
    nn_optim opt;
    nn_rng r;
    float *x;
    int *y, s, i, in = md->inputs, B = md->max_batch, out;
    od.lr = 0.01f;
    if (nn_arena_init_heap(&c->arena, nn_model_arena_bytes(md) + nn_optim_arena_bytes(&od, nn_model_param_count(md))) ||
        nn_model_init(&c->m, &c->arena, md) || nn_optim_init(&opt, &c->arena, &od, c->m.n_params))
        return 0;
    out = c->m.outputs;
    x = falloc((size_t)B * in);
    y = (int *)calloc((size_t)B, sizeof(int));
    nn_rng_seed(&r, seed);
    for (s = 0; s < 5; s++) {
        nn_tensor z;
        fill(&r, x, (size_t)B * in, -1.0f, 1.0f);
        for (i = 0; i < B; i++) y[i] = (int)(nn_rng_u64(&r) % (uint64_t)out);
        z = nn_model_forward(&c->m, nn_tensor_2d(x, B, in));
        if (out > 1) nn_loss_cross_entropy(nn_model_output_grad(&c->m), z, y);
        else nn_loss_mse(nn_model_output_grad(&c->m), z, nn_tensor_2d(x, B, 1));
        nn_model_zero_grad(&c->m);
        nn_model_backward(&c->m, nn_model_output_grad(&c->m));
        nn_optim_step(&opt, c->m.params, c->m.grads, c->m.n_params);
    }
    nn_model_set_mode(&c->m, NN_MODE_EVAL);
    free(x);
    free(y);
    return 1;
}

static int qcase_make(qcase *c, int in, int h1, int h2, int out, int max_batch) {
    nn_model_desc md;
    c->l[0] = nn_dense(h1, NN_ACT_IDENTITY);
    c->l[1] = nn_batchnorm();
    c->l[2] = nn_activation(NN_ACT_RELU);
    c->l[3] = nn_dropout(0.2f);
    c->l[4] = nn_dense(h2, NN_ACT_TANH);
    c->l[5] = nn_dense(h2, NN_ACT_IDENTITY);
    c->l[6] = nn_activation(NN_ACT_GELU);
    c->l[7] = nn_dense(out, NN_ACT_IDENTITY);
    memset(&md, 0, sizeof md);
    md.inputs = in; md.max_batch = max_batch; md.layers = c->l; md.n_layers = 8; md.seed = 3;
    return qcase_train(c, &md, 9);
}

/* A CNN with every image kind int8 takes, odd sizes: input (2, 11, 9);
   conv 5 (3x3, pad 1) + batchnorm2d + ReLU, max pool 2 (pad 1) + dropout2d,
   conv 7 (3x3, stride 2, dilation 2 on the width) + GELU, avg pool 3
   (stride 1, pad 1, count_include_pad 0), conv 3 (1x1) + global average
   pool, dense 4; trained a few steps like qcase. gap: 0 puts flatten in
   place of the last conv and the global pool. */
static int ccase_make(qcase *c, int gap, int max_batch) {
    enum { C0 = 2, H0 = 11, W0 = 9, IN = C0 * H0 * W0, OUT = 4 };
    nn_model_desc md;
    int n = 0;
    c->l[n++] = nn_conv2d(5, 3, 1, 1, NN_ACT_IDENTITY);
    c->l[n++] = nn_batchnorm2d();
    c->l[n++] = nn_activation(NN_ACT_RELU);
    c->l[n++] = nn_maxpool2d(2, 2, 1);
    c->l[n++] = nn_dropout2d(0.1f);
    c->l[n] = nn_conv2d(7, 3, 2, 1, NN_ACT_GELU);
    c->l[n++].dilation[1] = 2;
    c->l[n] = nn_avgpool2d(3, 1, 1);
    c->l[n++].count_include_pad = 0;
    if (gap) {
        c->l[n++] = nn_conv2d(3, 1, 1, 0, NN_ACT_IDENTITY);
        c->l[n++] = nn_global_avgpool();
    } else
        c->l[n++] = nn_flatten();
    c->l[n++] = nn_dense(OUT, NN_ACT_IDENTITY);
    memset(&md, 0, sizeof md);
    md.inputs = IN; md.max_batch = max_batch; md.layers = c->l; md.n_layers = n; md.seed = 5;
    md.input_shape[0] = C0; md.input_shape[1] = H0; md.input_shape[2] = W0;
    return qcase_train(c, &md, 19);
}

static int quantize(nn_qmodel *q, nn_arena *a, nn_model *m, const float *calib, int n, int max_batch) {
    size_t need = nn_qmodel_arena_bytes(m, max_batch);
    if (!need || nn_arena_init_heap(a, need) != NN_OK) return 0;
    if (nn_qmodel_init(q, a, m, nn_tensor_2d((float *)(size_t)calib, n, m->inputs), max_batch) != NN_OK) {
        TEST_NOTE("qmodel_init: %s", q->error);
        return 0;
    }
    CHECKF(a->used == need, "nn_qmodel_arena_bytes %lu, init took %lu", (unsigned long)need, (unsigned long)a->used);
    return 1;
}

/* the kernels this build and this CPU can run, the plain one first */
static int kernels(const nn_qmodel *q, nn_qkernel *k) {
    int n = 0;
    k[n++] = NN_QKERNEL_PLAIN;
    if (q->kernel == NN_QKERNEL_NEON) k[n++] = NN_QKERNEL_NEON;
    if (q->kernel == NN_QKERNEL_AVX2 || q->kernel == NN_QKERNEL_VNNI) k[n++] = NN_QKERNEL_AVX2;
    if (q->kernel == NN_QKERNEL_VNNI) k[n++] = NN_QKERNEL_VNNI;
    return n;
}

static void test_quant_kernels_same_bits(void) {
    static const int ins[] = {1, 3, 17, 33, 64, 65, 130};
    static const int outs[] = {1, 3, 5, 17};
    size_t ii, oi;
    int ran = 0;
    nn_qkernel best = NN_QKERNEL_PLAIN;
    for (ii = 0; ii < sizeof ins / sizeof ins[0]; ii++)
        for (oi = 0; oi < sizeof outs / sizeof outs[0]; oi++) {
            int in = ins[ii], out = outs[oi], B = 7, n, k, b;
            qcase c;
            nn_qmodel q;
            nn_arena qa;
            nn_qkernel ks[4];
            nn_rng r;
            float *calib = falloc((size_t)64 * in), *x = falloc((size_t)B * in), *ref = falloc((size_t)B * out);
            nn_rng_seed(&r, (uint64_t)(in * 100 + out));
            fill(&r, calib, (size_t)64 * in, -1.0f, 1.0f);
            fill(&r, x, (size_t)B * in, -1.2f, 1.2f); /* some beyond the calibrated range: clamped */
            if (!CHECK(qcase_make(&c, in, 9, 6, out, 16)) || !CHECK(quantize(&q, &qa, &c.m, calib, 64, B))) return;
            n = kernels(&q, ks);
            best = q.kernel;
            for (k = 0; k < n; k++) {
                nn_tensor y;
                q.kernel = ks[k];
                y = nn_qmodel_forward(&q, nn_tensor_2d(x, B, in));
                if (!CHECK(y.data != NULL)) break;
                if (k == 0) memcpy(ref, y.data, sizeof(float) * (size_t)B * out);
                else
                    CHECKF(memcmp(ref, y.data, sizeof(float) * (size_t)B * out) == 0,
                           "in %d out %d: %s differs from the plain kernel", in, out, nn_qkernel_name(ks[k]));
                /* batch 1: each row alone gives the same bits */
                for (b = 0; b < B; b++) {
                    nn_tensor y1 = nn_qmodel_forward(&q, nn_tensor_2d(x + (size_t)b * in, 1, in));
                    CHECKF(y1.data && memcmp(y1.data, ref + (size_t)b * out, sizeof(float) * (size_t)out) == 0,
                           "in %d out %d row %d: batch 1 differs (%s)", in, out, b, nn_qkernel_name(ks[k]));
                }
                ran++;
            }
            nn_arena_deinit(&qa);
            nn_arena_deinit(&c.arena);
            free(calib);
            free(x);
            free(ref);
        }
    TEST_NOTE("%d kernel runs compared with the plain twin (best here: %s)", ran, nn_qkernel_name(best));
}

/* Each quantized layer's output against the float model's at the same place
   (q.n_layers cut short gives the output of a layer). Stated tolerance: the
   largest difference within 2.5% of the layer's largest |output| (8-bit steps
   of 1/127 on the weights and the input of each layer add up over layers). */
static void test_quant_layers_close_to_float(void) {
    enum { IN = 61, B = 32, CAL = 300 };
    qcase c;
    nn_qmodel q;
    nn_arena qa;
    nn_rng r;
    float *calib = falloc((size_t)CAL * IN), *x = falloc((size_t)B * IN);
    /* the model layer each int8 layer ends with (a dense layer's own
       activation is a layer of the model after it) */
    static const int last_of[4] = {3, 5, 7, 8};
    int i, n;
    nn_rng_seed(&r, 21);
    fill(&r, calib, (size_t)CAL * IN, -1.0f, 1.0f);
    fill(&r, x, (size_t)B * IN, -1.0f, 1.0f);
    if (!CHECK(qcase_make(&c, IN, 48, 24, 10, 64)) || !CHECK(quantize(&q, &qa, &c.m, calib, CAL, B))) return;
    CHECK_EQ_INT(q.n_layers, 4);
    n = q.n_layers;
    nn_model_forward(&c.m, nn_tensor_2d(x, B, IN));
    for (i = 0; i < n; i++) {
        const float *f = c.m.layers[last_of[i]].y.data;
        nn_tensor y;
        double worst = 0.0, big = 0.0;
        int k, cnt = B * q.layers[i].out;
        q.n_layers = i + 1;
        y = nn_qmodel_forward(&q, nn_tensor_2d(x, B, IN));
        if (!CHECK(y.data != NULL)) break;
        for (k = 0; k < cnt; k++) {
            double d = fabs((double)y.data[k] - (double)f[k]);
            if (d > worst || d != d) worst = d;
            if (fabs((double)f[k]) > big) big = fabs((double)f[k]);
        }
        CHECKF(worst <= 0.025 * big, "int8 layer %d: largest difference %.4g, %.2f%% of max |y| %.4g", i, worst,
               100.0 * worst / big, big);
        TEST_NOTE("int8 layer %d (%d -> %d): largest difference %.3g = %.2f%% of max |y| (tolerance 2.5%%)", i,
                  q.layers[i].in, q.layers[i].out, worst, 100.0 * worst / big);
    }
    q.n_layers = n;
    nn_arena_deinit(&qa);
    nn_arena_deinit(&c.arena);
    free(calib);
    free(x);
}

/* The CNN: every kernel gives the plain twin's bits, batch 1 the batch's;
   each int8 layer (conv, pool, dense) within the dense layers' tolerance of
   the float model at the same place. */
static void test_quant_conv(void) {
    enum { IN = 198, B = 6, CAL = 120 };
    int gap;
    for (gap = 0; gap < 2; gap++) {
        qcase c;
        nn_qmodel q;
        nn_arena qa;
        nn_qkernel ks[4];
        nn_rng r;
        float *calib = falloc((size_t)CAL * IN), *x = falloc((size_t)B * IN), *ref;
        /* the model layer each int8 layer ends with */
        static const int last_of[2][7] = {{2, 4, 6, 8, 9, -1, -1}, {2, 4, 6, 7, 8, 9, 10}};
        static const nn_qlayer_kind kinds[2][6] = {
            {NN_QLAYER_CONV2D, NN_QLAYER_MAXPOOL2D, NN_QLAYER_CONV2D, NN_QLAYER_AVGPOOL2D, NN_QLAYER_DENSE},
            {NN_QLAYER_CONV2D, NN_QLAYER_MAXPOOL2D, NN_QLAYER_CONV2D, NN_QLAYER_AVGPOOL2D, NN_QLAYER_CONV2D,
             NN_QLAYER_GLOBAL_AVGPOOL}};
        int i, k, n, nk, b;
        nn_rng_seed(&r, 77 + (uint64_t)gap);
        fill(&r, calib, (size_t)CAL * IN, -1.0f, 1.0f);
        fill(&r, x, (size_t)B * IN, -1.1f, 1.1f);
        if (!CHECK(ccase_make(&c, gap, 16)) || !CHECK(quantize(&q, &qa, &c.m, calib, CAL, B))) return;
        n = q.n_layers;
        CHECK_EQ_INT(n, gap ? 7 : 5);
        for (i = 0; i < n && i < 6; i++) CHECK_EQ_INT(q.layers[i].kind, kinds[gap][i]);
        if (gap) CHECK_EQ_INT(q.layers[6].kind, NN_QLAYER_DENSE);
        CHECK(q.ximg != NULL && q.argmax != NULL);
        CHECK(q.layers[0].channels == 5 && q.layers[0].kpad == 64 && q.layers[2].kpad == 64);
        /* kernels and batch 1 */
        ref = falloc((size_t)B * 4);
        nk = kernels(&q, ks);
        for (k = 0; k < nk; k++) {
            nn_tensor y;
            q.kernel = ks[k];
            y = nn_qmodel_forward(&q, nn_tensor_2d(x, B, IN));
            if (!CHECK(y.data != NULL)) break;
            if (k == 0) memcpy(ref, y.data, sizeof(float) * B * 4);
            else CHECKF(memcmp(ref, y.data, sizeof(float) * B * 4) == 0, "CNN: %s differs from plain", nn_qkernel_name(ks[k]));
            for (b = 0; b < B; b++) {
                nn_tensor y1 = nn_qmodel_forward(&q, nn_tensor_2d(x + (size_t)b * IN, 1, IN));
                CHECKF(y1.data && memcmp(y1.data, ref + (size_t)b * 4, sizeof(float) * 4) == 0,
                       "CNN row %d: batch 1 differs (%s)", b, nn_qkernel_name(ks[k]));
            }
        }
        /* layer by layer against the float model, inside the calibrated range */
        fill(&r, x, (size_t)B * IN, -1.0f, 1.0f);
        nn_model_forward(&c.m, nn_tensor_2d(x, B, IN));
        for (i = 0; i < n; i++) {
            const float *f = c.m.layers[last_of[gap][i]].y.data;
            nn_tensor y;
            double worst = 0.0, big = 0.0;
            int cnt = B * q.layers[i].out, j;
            q.n_layers = i + 1;
            y = nn_qmodel_forward(&q, nn_tensor_2d(x, B, IN));
            if (!CHECK(y.data != NULL)) break;
            for (j = 0; j < cnt; j++) {
                double d = fabs((double)y.data[j] - (double)f[j]);
                if (d > worst || d != d) worst = d;
                if (fabs((double)f[j]) > big) big = fabs((double)f[j]);
            }
            CHECKF(worst <= 0.025 * big, "CNN int8 layer %d (%s): largest difference %.4g, %.2f%% of max |y| %.4g", i,
                   nn_qlayer_kind_name(q.layers[i].kind), worst, 100.0 * worst / big, big);
            TEST_NOTE("CNN%s int8 layer %d (%s, %d -> %d): largest difference %.2f%% of max |y|", gap ? " (gap)" : "",
                      i, nn_qlayer_kind_name(q.layers[i].kind), q.layers[i].in, q.layers[i].out, 100.0 * worst / big);
        }
        q.n_layers = n;
        nn_arena_deinit(&qa);
        nn_arena_deinit(&c.arena);
        free(calib);
        free(x);
        free(ref);
    }
}

/* Folding: a dense + batch norm quantized equals, within int8 steps, the
   same dense with the folded weights computed here by hand */
static void test_quant_fold_and_sizes(void) {
    enum { IN = 100, H = 40, CAL = 200 };
    qcase c;
    nn_qmodel q;
    nn_arena qa;
    nn_rng r;
    const nn_layer *d, *bn;
    float *calib = falloc((size_t)CAL * IN);
    int o, k;
    double worst = 0.0;
    nn_rng_seed(&r, 4);
    fill(&r, calib, (size_t)CAL * IN, -1.0f, 1.0f);
    if (!CHECK(qcase_make(&c, IN, H, 12, 3, 64)) || !CHECK(quantize(&q, &qa, &c.m, calib, CAL, 8))) return;
    d = &c.m.layers[0];
    bn = &c.m.layers[1];
    CHECK(bn->running_var[0] != 1.0f); /* the statistics moved */
    for (o = 0; o < H; o++) {
        double a = (double)bn->w.data[o] / sqrt((double)bn->running_var[o] + bn->eps);
        double b = ((double)d->b.data[o] - bn->running_mean[o]) * a + bn->b.data[o];
        for (k = 0; k < IN; k++) {
            double want = d->w.data[(size_t)o * IN + k] * a;
            double got = (double)q.layers[0].wq[(size_t)o * q.layers[0].kpad + k] * q.layers[0].wscale[o];
            double e = fabs(got - want) / q.layers[0].wscale[o];
            if (e > worst) worst = e;
        }
        CHECK_CLOSE(q.layers[0].bias[o], b, 1e-5, 1e-6);
    }
    CHECKF(worst <= 0.5 + 1e-3, "a folded weight is %.3f steps from its int8 value (at most half a step)", worst);
    /* weights: a byte for a float, plus a scale per output (small layers
       here: 3.6x; a 784-wide layer: 3.95x) */
    CHECKF(q.float_weight_bytes >= 3 * q.weight_bytes, "int8 weights %lu bytes, float %lu",
           (unsigned long)q.weight_bytes, (unsigned long)q.float_weight_bytes);
    /* the model is as it was: EVAL, and the same outputs as before quantizing */
    CHECK(c.m.mode == NN_MODE_EVAL);
    nn_arena_deinit(&qa);
    nn_arena_deinit(&c.arena);
    free(calib);
}

static void test_quant_refusals(void) {
    qcase c;
    nn_qmodel q;
    nn_arena qa, small;
    nn_model conv;
    nn_arena ca;
    nn_layer_desc cl[3];
    nn_model_desc md;
    float calib[4 * 16], x[16];
    unsigned char mem[256];
    size_t used;
    nn_mode before;
    memset(calib, 0, sizeof calib);
    memset(x, 0, sizeof x);
    memset(&q, 0, sizeof q);
    if (!CHECK(qcase_make(&c, 16, 8, 4, 2, 8))) return;
    /* the calibration restores the model's mode */
    nn_model_set_mode(&c.m, NN_MODE_TRAIN);
    before = c.m.mode;
    CHECK(nn_arena_init_heap(&qa, nn_qmodel_arena_bytes(&c.m, 4)) == NN_OK);
    CHECK_EQ_INT(nn_qmodel_init(&q, &qa, &c.m, nn_tensor_2d(calib, 4, 16), 4), NN_OK);
    CHECK(c.m.mode == before);
    /* wrong shapes: a clear error, nothing computed */
    CHECK_EQ_INT(nn_qmodel_init(&q, &qa, &c.m, nn_tensor_2d(calib, 4, 15), 4), NN_ERR_SHAPE_MISMATCH);
    CHECK(strstr(q.error, "calibration") != NULL);
    CHECK(nn_qmodel_forward(&q, nn_tensor_2d(x, 5, 16)).data == NULL); /* batch over 4 */
    CHECK(strstr(q.error, "int8 forward") != NULL);
    CHECK(nn_qmodel_forward(&q, nn_tensor_2d(x, 1, 15)).data == NULL);
    CHECK(nn_qmodel_forward(&q, nn_tensor_2d(NULL, 1, 16)).data == NULL);
    CHECK(nn_qmodel_forward(&q, nn_tensor_2d(x, 1, 16)).data != NULL);
    /* an arena too small: refused, and the arena as it was */
    CHECK(nn_arena_init(&small, mem, sizeof mem) == NN_OK);
    used = small.used;
    CHECK_EQ_INT(nn_qmodel_init(&q, &small, &c.m, nn_tensor_2d(calib, 4, 16), 4), NN_ERR_OUT_OF_MEMORY);
    CHECK(small.used == used);
    /* layers handed in that do not chain or do not hold together: refused */
    {
        nn_qlayer bad[4];
        nn_qmodel q2;
        nn_arena sa;
        memcpy(bad, q.layers, sizeof(nn_qlayer) * (size_t)q.n_layers);
        CHECK(nn_arena_init_heap(&sa, nn_qmodel_scratch_bytes(bad, q.n_layers, 4)) == NN_OK);
        CHECK_EQ_INT(nn_qmodel_init_layers(&q2, &sa, bad, q.n_layers, 4), NN_OK);
        CHECK(nn_qmodel_forward(&q2, nn_tensor_2d(x, 1, 16)).data != NULL);
        nn_arena_reset(&sa);
        bad[1].in += 1; /* does not chain */
        CHECK_EQ_INT(nn_qmodel_init_layers(&q2, &sa, bad, q.n_layers, 4), NN_ERR_INVALID_ARGUMENT);
        bad[1].in -= 1;
        bad[0].kpad = 16; /* a row shorter than the kernels read */
        CHECK_EQ_INT(nn_qmodel_init_layers(&q2, &sa, bad, q.n_layers, 4), NN_ERR_INVALID_ARGUMENT);
        CHECK(strstr(q2.error, "layer 0") != NULL);
        bad[0].kpad = q.layers[0].kpad;
        CHECK_EQ_INT(nn_qmodel_init_layers(&q2, &sa, bad, 0, 4), NN_ERR_INVALID_ARGUMENT);
        CHECK_EQ_INT(nn_qmodel_init_layers(&q2, &sa, bad, q.n_layers, 0), NN_ERR_INVALID_ARGUMENT);
        nn_arena_deinit(&sa);
    }
    /* a layer with no int8 form: refused by name */
    cl[0] = nn_conv2d(2, 3, 1, 1, NN_ACT_RELU);
    cl[0].groups = 2;
    cl[1] = nn_flatten();
    cl[2] = nn_dense(3, NN_ACT_IDENTITY);
    memset(&md, 0, sizeof md);
    md.inputs = 16; md.max_batch = 2; md.layers = cl; md.n_layers = 3; md.seed = 1;
    md.input_shape[0] = 2; md.input_shape[1] = 4; md.input_shape[2] = 2;
    if (CHECK(nn_arena_init_heap(&ca, nn_model_arena_bytes(&md)) == NN_OK) && CHECK(nn_model_init(&conv, &ca, &md) == NN_OK)) {
        CHECK_EQ_INT(nn_qmodel_arena_bytes(&conv, 2), 0);
        CHECK_EQ_INT(nn_qmodel_init(&q, &qa, &conv, nn_tensor_2d(calib, 4, 16), 2), NN_ERR_UNSUPPORTED);
        CHECKF(strstr(q.error, "conv2d") != NULL && strstr(q.error, "groups 2") != NULL, "message: %s", q.error);
        nn_arena_deinit(&ca);
    }
    nn_arena_deinit(&qa);
    nn_arena_deinit(&c.arena);
}

/* NaN and huge inputs quantize to 0 and to the clamp, never to undefined
   conversions (the sanitizer builds would see them) */
static void test_quant_hostile_values(void) {
    qcase c;
    nn_qmodel q;
    nn_arena qa;
    float calib[8 * 5], x[2 * 5];
    nn_tensor y;
    int i;
    for (i = 0; i < 40; i++) calib[i] = (float)(i % 7) * 0.1f;
    if (!CHECK(qcase_make(&c, 5, 4, 4, 2, 8)) || !CHECK(quantize(&q, &qa, &c.m, calib, 8, 2))) return;
    for (i = 0; i < 10; i++) x[i] = i % 2 ? NAN : 1e30f;
    x[3] = -INFINITY;
    y = nn_qmodel_forward(&q, nn_tensor_2d(x, 2, 5));
    CHECK(y.data != NULL);
    if (y.data) CHECK(y.data[0] == y.data[0] && y.data[3] == y.data[3]);
    nn_arena_deinit(&qa);
    nn_arena_deinit(&c.arena);
}

/* The quantizer's rule through a hand-made layer (in_scale 1, one weight
   of 1, scale 1, bias 0: y is the int8 value of x): round half away from
   zero, clamped to +-127, NaN to 0, and 0.49999997f to 0 (x + 0.5f in float
   rounds it up to 1). Also the limit on products per output. */
static void test_quant_rounding_and_limits(void) {
    static const float xs[] = {0.49999997f, -0.49999997f, 0.5f, -0.5f, 1.5f, -2.5f, 126.49999f, 126.5f, 200.0f,
                               -1e30f, 0.0f, -0.0f};
    static const float want[] = {0, 0, 1, -1, 2, -3, 126, 127, 127, -127, 0, 0};
    int8_t w[64];
    float one = 1.0f, zero = 0.0f;
    int32_t wsum = 128;
    nn_qlayer L;
    nn_qmodel q;
    nn_arena a;
    size_t i;
    memset(w, 0, sizeof w);
    w[0] = 1;
    memset(&L, 0, sizeof L);
    L.in = 1; L.out = 1; L.kpad = 64; L.act = NN_ACT_IDENTITY; L.in_scale = 1.0f;
    L.wq = w; L.wscale = &one; L.scale = &one; L.bias = &zero; L.wsum = &wsum;
    CHECK(nn_arena_init_heap(&a, nn_qmodel_scratch_bytes(&L, 1, 1)) == NN_OK);
    if (!CHECK_EQ_INT(nn_qmodel_init_layers(&q, &a, &L, 1, 1), NN_OK)) return;
    for (i = 0; i < sizeof xs / sizeof xs[0]; i++) {
        nn_qkernel ks[4];
        int k, nk = kernels(&q, ks);
        for (k = 0; k < nk; k++) {
            nn_tensor y;
            float x = xs[i];
            q.kernel = ks[k];
            y = nn_qmodel_forward(&q, nn_tensor_2d(&x, 1, 1));
            CHECKF(y.data && y.data[0] == want[i], "x %.9g quantized to %g, want %g (%s)", (double)xs[i],
                   y.data ? (double)y.data[0] : -999.0, (double)want[i], nn_qkernel_name(ks[k]));
        }
    }
    nn_arena_deinit(&a);
    /* more than 2^16 products per output: refused when quantizing and when handed in */
    {
        nn_layer_desc l[1];
        nn_model_desc md;
        nn_model m;
        nn_arena ma;
        l[0] = nn_dense(1, NN_ACT_IDENTITY);
        memset(&md, 0, sizeof md);
        md.inputs = 65537; md.max_batch = 1; md.layers = l; md.n_layers = 1; md.seed = 1;
        if (CHECK(nn_arena_init_heap(&ma, nn_model_arena_bytes(&md)) == NN_OK) && CHECK(nn_model_init(&m, &ma, &md) == NN_OK)) {
            float *cal = falloc(65537);
            CHECK_EQ_INT(nn_qmodel_arena_bytes(&m, 1), 0);
            CHECK_EQ_INT(nn_qmodel_init(&q, &ma, &m, nn_tensor_2d(cal, 1, 65537), 1), NN_ERR_UNSUPPORTED);
            CHECKF(strstr(q.error, "65536") != NULL, "message: %s", q.error);
            free(cal);
            nn_arena_deinit(&ma);
        }
        L.in = 65537; L.kpad = 65600;
        CHECK_EQ_INT(nn_qmodel_scratch_bytes(&L, 1, 1), 0);
        CHECK_EQ_INT(nn_qmodel_init_layers(&q, &a, &L, 1, 1), NN_ERR_INVALID_ARGUMENT);
        CHECKF(strstr(q.error, "65536") != NULL, "message: %s", q.error);
    }
}

/* ---- the int8 model in the weight format (QNT8) ---- */
static uint32_t rd32le(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static void wr32le(unsigned char *p, uint32_t v) {
    p[0] = (unsigned char)v; p[1] = (unsigned char)(v >> 8); p[2] = (unsigned char)(v >> 16); p[3] = (unsigned char)(v >> 24);
}
/* the file's CRCs made right again after an edit (header, then the one section) */
static void recrc(unsigned char *f) {
    uint32_t L = rd32le(f + 24 + 8);
    wr32le(f + 20, nn_crc32c(0, f, 20));
    wr32le(f + 40 + L, nn_crc32c(0, f + 24, 16 + (size_t)L));
}
/* what a load of f (len bytes) gives; q and the arena must be as they were on failure */
static nn_result qload(const unsigned char *f, size_t len, int max_batch, nn_qmodel *q, nn_arena *a) {
    nn_qmodel before = *q;
    size_t used = a->used;
    nn_result r = nn_qmodel_init_from_memory(q, a, f, len, max_batch);
    if (r != NN_OK) {
        CHECKF(memcmp(&before.layers, &q->layers, sizeof q->layers) == 0 && before.xq == q->xq &&
               before.n_layers == q->n_layers, "a refused file (%d) changed the model", (int)r);
        CHECKF(a->used == used, "a refused file (%d) took %lu arena bytes", (int)r, (unsigned long)(a->used - used));
    }
    return r;
}

static void test_quant_file_roundtrip(void) {
    int which;
    for (which = 0; which < 2; which++) {
        enum { B = 5, CAL = 64 };
        qcase c;
        nn_qmodel q, q2;
        nn_arena qa, a2;
        nn_rng r;
        int in;
        size_t len, got, need = 0, flen;
        unsigned char *f;
        float *calib, *x, *ref;
        nn_tensor y;
        if (!CHECK(which ? ccase_make(&c, 1, 8) : qcase_make(&c, 37, 12, 6, 3, 8))) return;
        in = c.m.inputs;
        calib = falloc((size_t)CAL * in);
        x = falloc((size_t)B * in);
        nn_rng_seed(&r, 31 + (uint64_t)which);
        fill(&r, calib, (size_t)CAL * in, -1.0f, 1.0f);
        fill(&r, x, (size_t)B * in, -1.0f, 1.0f);
        if (!CHECK(quantize(&q, &qa, &c.m, calib, CAL, B))) return;
        y = nn_qmodel_forward(&q, nn_tensor_2d(x, B, in));
        ref = falloc((size_t)B * q.outputs);
        if (y.data) memcpy(ref, y.data, sizeof(float) * (size_t)B * q.outputs);
        len = nn_qmodel_save_size(&q);
        f = (unsigned char *)malloc(len + 8);
        CHECK(nn_qmodel_save_to_memory(&q, f, len - 1, &got) == NN_ERR_OUT_OF_MEMORY && got == 0);
        CHECK_EQ_INT(nn_qmodel_save_to_memory(&q, f, len + 8, &got), NN_OK);
        CHECK(got == len && rd32le(f + 12) == 5 && rd32le(f + 16) == 1 && memcmp(f + 24, "QNT8", 4) == 0);
        flen = nn_model_save_size(&c.m, NULL);
        /* these small layers carry their records and scales: 2.8x; Fashion's MLP below: 3.9x */
        CHECKF(len * 5 < flen * 2, "int8 file %lu bytes, float file %lu", (unsigned long)len, (unsigned long)flen);
        TEST_NOTE("%s: int8 file %lu bytes, float file %lu (%.2fx)", which ? "CNN" : "MLP", (unsigned long)len,
                  (unsigned long)flen, (double)flen / (double)len);
        /* read back: the same bits, at the file's batch and another */
        CHECK_EQ_INT(nn_qmodel_arena_bytes_from_memory(&need, f, len, 0), NN_OK);
        CHECK(nn_arena_init_heap(&a2, need + 64 * 1024) == NN_OK);
        memset(&q2, 0, sizeof q2);
        if (CHECK_EQ_INT(qload(f, len, 0, &q2, &a2), NN_OK)) {
            CHECKF(a2.used == need, "arena bytes %lu, used %lu", (unsigned long)need, (unsigned long)a2.used);
            CHECK(q2.max_batch == B && q2.inputs == q.inputs && q2.outputs == q.outputs && q2.n_layers == q.n_layers &&
                  q2.weight_bytes == q.weight_bytes);
            y = nn_qmodel_forward(&q2, nn_tensor_2d(x, B, in));
            CHECK(y.data && memcmp(y.data, ref, sizeof(float) * (size_t)B * q.outputs) == 0);
            nn_arena_reset(&a2);
            CHECK_EQ_INT(qload(f, len, 1, &q2, &a2), NN_OK);
            y = nn_qmodel_forward(&q2, nn_tensor_2d(x + in, 1, in));
            CHECK(y.data && memcmp(y.data, ref + q.outputs, sizeof(float) * (size_t)q.outputs) == 0);
            CHECK(nn_qmodel_forward(&q2, nn_tensor_2d(x, 2, in)).data == NULL); /* built for batch 1 */
        }
        /* what the float reader and a wrong batch say */
        {
            nn_model m2 = c.m;
            CHECK_EQ_INT(nn_model_load_from_memory(&m2, NULL, f, len), NN_ERR_UNSUPPORTED);
            CHECKF(strstr(m2.error, "int8") != NULL, "message: %s", m2.error);
            CHECK_EQ_INT(qload(f, len, -1, &q2, &a2), NN_ERR_INVALID_ARGUMENT);
        }
        /* every truncation and a flipped bit in every byte: refused, nothing changed */
        {
            size_t cut, i;
            int refused = 0, flips = 0;
            nn_arena_reset(&a2);
            CHECK_EQ_INT(qload(f, len, 0, &q2, &a2), NN_OK);
            for (cut = 0; cut < len; cut++) refused += qload(f, cut, 0, &q2, &a2) != NN_OK;
            CHECKF(refused == (int)len, "%d of %lu truncations refused", refused, (unsigned long)len);
            for (i = 0; i < len; i++) {
                f[i] ^= (unsigned char)(1u << (i % 8));
                flips += qload(f, len, 0, &q2, &a2) != NN_OK;
                f[i] ^= (unsigned char)(1u << (i % 8));
            }
            CHECKF(flips == (int)len, "%d of %lu bit flips refused", flips, (unsigned long)len);
            y = nn_qmodel_forward(&q2, nn_tensor_2d(x, B, in));
            CHECK(y.data && memcmp(y.data, ref, sizeof(float) * (size_t)B * q.outputs) == 0);
        }
        nn_arena_deinit(&a2);
        nn_arena_deinit(&qa);
        nn_arena_deinit(&c.arena);
        free(f);
        free(calib);
        free(x);
        free(ref);
    }
}

/* Files with good checksums and hostile contents: each refused with its
   code, the model and arena untouched, nothing huge allocated */
static void test_quant_file_hostile(void) {
    enum { CAL = 16 };
    qcase c;
    nn_qmodel q, q2;
    nn_arena qa, a2;
    unsigned char *f, *g;
    size_t len;
    float calib[CAL * 16];
    nn_rng r;
    /* the layout this test edits: QNT8's payload at 40, layer 0's record at
       48 (dense 16 -> 8: 8 x 16 weights at 128, scales at 256, biases at 288) */
    struct { size_t off; uint32_t v; nn_result want; const char *what; } cases[] = {
        {40, 0, NN_ERR_CORRUPT, "no layers"},
        {40, 65, NN_ERR_CORRUPT, "65 layers"},
        {44, 0, NN_ERR_CORRUPT, "max_batch 0"},
        {44, 0x7FFFFFFF, NN_ERR_CORRUPT, "max_batch 2^31 - 1"},
        {48, 9, NN_ERR_CORRUPT, "an unknown kind"},
        {48, NN_QLAYER_CONV2D, NN_ERR_CORRUPT, "a dense record read as a conv"},
        {52, 17, NN_ERR_CORRUPT, "in 17 (the bytes no longer add up)"},
        {56, 1u << 24, NN_ERR_CORRUPT, "out 2^24 (does not chain; no allocation)"},
        {56, 0x7FFFFFFF, NN_ERR_CORRUPT, "out 2^31 - 1"},
        {60, NN_ACT_SOFTMAX, NN_ERR_CORRUPT, "softmax"},
        {60, 99, NN_ERR_CORRUPT, "an unknown activation"},
        {64, 0x7FC00000, NN_ERR_CORRUPT, "alpha NaN"},
        {68, 0, NN_ERR_CORRUPT, "input scale 0"},
        {68, 0x7F800000, NN_ERR_CORRUPT, "input scale inf"},
        {72, 1, NN_ERR_CORRUPT, "a dense layer with an image shape"},
        {128, 0x80, NN_ERR_CORRUPT, "a weight of -128"},
        {256, 0, NN_ERR_CORRUPT, "a weight scale 0"},
        {256, 0xFFC00000, NN_ERR_CORRUPT, "a weight scale NaN"},
        {288, 0x7F800000, NN_ERR_CORRUPT, "a bias inf"},
        {12, 4, NN_ERR_CORRUPT, "QNT8 in a 1.4 file"},
        {12, 1000, NN_OK, "a newer minor (read as this one)"},
        {28, 0, NN_ERR_VERSION, "QNT8 not marked required: an unknown tag's flag decides"},
    };
    size_t i;
    int k;
    nn_rng_seed(&r, 3);
    fill(&r, calib, (size_t)CAL * 16, -1.0f, 1.0f);
    if (!CHECK(qcase_make(&c, 16, 8, 4, 2, 8)) || !CHECK(quantize(&q, &qa, &c.m, calib, CAL, 4))) return;
    len = nn_qmodel_save_size(&q);
    f = (unsigned char *)malloc(len + 64);
    g = (unsigned char *)malloc(len + 64);
    CHECK(nn_qmodel_save_to_memory(&q, f, len, NULL) == NN_OK);
    CHECK(rd32le(f + 48) == NN_QLAYER_DENSE && rd32le(f + 52) == 16 && rd32le(f + 56) == 8);
    CHECK(nn_arena_init_heap(&a2, 1 << 20) == NN_OK);
    memset(&q2, 0, sizeof q2);
    CHECK_EQ_INT(qload(f, len, 0, &q2, &a2), NN_OK);
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        nn_result got;
        memcpy(g, f, len);
        if (cases[i].off == 128) g[128 + 5] = 0x80;
        else if (cases[i].off == 28) wr32le(g + 24, 0x71746E71u); /* the tag renamed "qntq": unknown */
        else wr32le(g + cases[i].off, cases[i].v);
        if (cases[i].off == 28) wr32le(g + 28, 1); /* ...and required */
        recrc(g);
        got = qload(g, len, 0, &q2, &a2);
        CHECKF(got == cases[i].want, "%s: %d, want %d (%s)", cases[i].what, (int)got, (int)cases[i].want, q2.error);
        if (got == NN_OK) nn_arena_reset(&a2);
    }
    /* a byte past the last layer, counted in the section: refused */
    memcpy(g, f, len);
    g[len] = g[len - 1]; g[len - 1] = g[len - 2]; g[len - 2] = g[len - 3]; g[len - 3] = g[len - 4]; /* CRC moves */
    g[len - 4] = 0;
    wr32le(g + 32, rd32le(g + 32) + 1);
    recrc(g);
    CHECK_EQ_INT(qload(g, len + 1, 0, &q2, &a2), NN_ERR_CORRUPT);
    /* an arena too small: OUT_OF_MEMORY, nothing taken */
    {
        nn_arena tiny;
        unsigned char mem[512];
        CHECK(nn_arena_init(&tiny, mem, sizeof mem) == NN_OK);
        CHECK_EQ_INT(qload(f, len, 0, &q2, &tiny), NN_ERR_OUT_OF_MEMORY);
    }
    /* not QNT8: a float model file, and nonsense */
    {
        size_t fl = nn_model_save_size(&c.m, NULL);
        unsigned char *mf = (unsigned char *)malloc(fl);
        CHECK(nn_model_save_to_memory(&c.m, NULL, mf, fl, NULL) == NN_OK);
        CHECK_EQ_INT(qload(mf, fl, 0, &q2, &a2), NN_ERR_UNSUPPORTED);
        CHECKF(strstr(q2.error, "float model") != NULL, "message: %s", q2.error);
        free(mf);
        CHECK_EQ_INT(qload((const unsigned char *)"hello, world, this is text", 26, 0, &q2, &a2), NN_ERR_BAD_MAGIC);
        CHECK_EQ_INT(nn_qmodel_init_from_memory(&q2, &a2, NULL, 10, 0), NN_ERR_INVALID_ARGUMENT);
    }
    /* through a path: atomic save, read back the same bits; a save into a
       missing directory fails and leaves no file */
    {
        const char *path = "build/test_quant_model.nnw";
        float x[16];
        nn_tensor y1, y2;
        FILE *t;
        for (k = 0; k < 16; k++) x[k] = 0.1f * (float)k - 0.7f;
        CHECK_EQ_INT(nn_qmodel_save(&q, path), NN_OK);
        nn_arena_reset(&a2);
        if (CHECK_EQ_INT(nn_qmodel_init_from_file(&q2, &a2, path, 0), NN_OK)) {
            float keep[2];
            y1 = nn_qmodel_forward(&q, nn_tensor_2d(x, 1, 16));
            memcpy(keep, y1.data, sizeof keep);
            y2 = nn_qmodel_forward(&q2, nn_tensor_2d(x, 1, 16));
            CHECK(y2.data && memcmp(keep, y2.data, sizeof keep) == 0);
        }
        CHECK_EQ_INT(nn_qmodel_save(&q, "build/no/such/dir/q.nnw"), NN_ERR_IO);
        t = fopen("build/no/such/dir/q.nnw.tmp", "rb");
        CHECK(t == NULL);
        if (t) fclose(t);
        CHECK_EQ_INT(nn_qmodel_init_from_file(&q2, &a2, "build/no/such/file.nnw", 0), NN_ERR_IO);
        remove(path);
    }
    nn_arena_deinit(&a2);
    nn_arena_deinit(&qa);
    nn_arena_deinit(&c.arena);
    free(f);
    free(g);
}

#ifdef NN_TEST_FASHION
/* The accuracy target on real data: an MLP (784-256-BN-ReLU-dropout-128-BN-
   ReLU-10) trained 2 epochs on Fashion-MNIST, quantized with 500 training
   images; test accuracy of both on the 10,000 test images. */
#include <stdio.h>
#include <time.h>
#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_PNG /* its zlib inflate is what is used */
#include <stb/stb_image.h>
static nn_result fashion_inflate(void *dst, size_t dst_len, const void *src, size_t src_len) {
    int n = stbi_zlib_decode_noheader_buffer((char *)dst, (int)dst_len, (const char *)src, (int)src_len);
    return n == (int)dst_len ? NN_OK : NN_ERR_CORRUPT;
}
static int accuracy(nn_tensor (*fwd)(void *, nn_tensor), void *obj, const float *x, const unsigned char *labels, int n,
                    int bs) {
    int r0, right = 0, i, k;
    for (r0 = 0; r0 < n; r0 += bs) {
        int b = n - r0 < bs ? n - r0 : bs;
        nn_tensor z = fwd(obj, nn_tensor_2d((float *)(size_t)(x + (size_t)r0 * 784), b, 784));
        for (i = 0; i < b; i++) {
            int best = 0;
            for (k = 1; k < 10; k++)
                if (z.data[i * 10 + k] > z.data[i * 10 + best]) best = k;
            right += best == labels[r0 + i];
        }
    }
    return right;
}
static nn_tensor fwd_float(void *m, nn_tensor x) { return nn_model_forward((nn_model *)m, x); }
/* steps of Adam on batches of bs random training rows (bx, by: bs rows) */
static void train_steps(nn_model *m, nn_optim *o, const float *xtr, const unsigned char *ytr, int n_tr, int bs,
                        int steps, nn_rng *r, float *bx, int *by) {
    int s, i;
    for (s = 0; s < steps; s++) {
        nn_tensor z;
        for (i = 0; i < bs; i++) {
            int k = (int)(nn_rng_u64(r) % (uint64_t)n_tr);
            memcpy(bx + (size_t)i * 784, xtr + (size_t)k * 784, sizeof(float) * 784);
            by[i] = ytr[k];
        }
        z = nn_model_forward(m, nn_tensor_2d(bx, bs, 784));
        nn_loss_cross_entropy(nn_model_output_grad(m), z, by);
        nn_model_zero_grad(m);
        nn_model_backward(m, nn_model_output_grad(m));
        nn_optim_step(o, m->params, m->grads, m->n_params);
    }
}
static nn_tensor fwd_int8(void *q, nn_tensor x) { return nn_qmodel_forward((nn_qmodel *)q, x); }

static void test_quant_fashion_accuracy(void) {
    const char *dir = "/usr/share/datasets/fashion-mnist";
    char path[256];
    nn_idx tx, ty, sx, sy;
    float *xtr, *xte, *bx;
    int *by, i, n_tr, n_te, right_f, right_q;
    nn_layer_desc l[9];
    nn_model_desc md;
    nn_optim_desc od;
    nn_arena arena, qa;
    nn_model m;
    nn_optim opt;
    nn_qmodel q;
    nn_rng r;
    double t0, tf, tq;
    snprintf(path, sizeof path, "%s/train-images-idx3-ubyte.gz", dir);
    if (nn_idx_load(&tx, path, fashion_inflate) != NN_OK) {
        TEST_NOTE("Fashion-MNIST not found in %s (apt-get install dataset-fashion-mnist): not run", dir);
        CHECK(0);
        return;
    }
    snprintf(path, sizeof path, "%s/train-labels-idx1-ubyte.gz", dir);
    CHECK(nn_idx_load(&ty, path, fashion_inflate) == NN_OK);
    snprintf(path, sizeof path, "%s/t10k-images-idx3-ubyte.gz", dir);
    CHECK(nn_idx_load(&sx, path, fashion_inflate) == NN_OK);
    snprintf(path, sizeof path, "%s/t10k-labels-idx1-ubyte.gz", dir);
    CHECK(nn_idx_load(&sy, path, fashion_inflate) == NN_OK);
    n_tr = tx.dims[0];
    n_te = sx.dims[0];
    xtr = falloc((size_t)n_tr * 784);
    xte = falloc((size_t)n_te * 784);
    for (i = 0; i < n_tr * 784; i++) xtr[i] = tx.data[i] / 255.0f;
    for (i = 0; i < n_te * 784; i++) xte[i] = sx.data[i] / 255.0f;
    l[0] = nn_dense(256, NN_ACT_IDENTITY); l[1] = nn_batchnorm(); l[2] = nn_activation(NN_ACT_RELU);
    l[3] = nn_dropout(0.2f);
    l[4] = nn_dense(128, NN_ACT_IDENTITY); l[5] = nn_batchnorm(); l[6] = nn_activation(NN_ACT_RELU);
    l[7] = nn_dropout(0.2f);
    l[8] = nn_dense(10, NN_ACT_IDENTITY);
    memset(&md, 0, sizeof md);
    md.inputs = 784; md.max_batch = 128; md.layers = l; md.n_layers = 9; md.seed = 42;
    od = nn_optim_desc_default(NN_OPTIM_ADAM);
    od.lr = 2e-3f;
    CHECK(nn_arena_init_heap(&arena, nn_model_arena_bytes(&md) + nn_optim_arena_bytes(&od, nn_model_param_count(&md))) ==
          NN_OK);
    CHECK(nn_model_init(&m, &arena, &md) == NN_OK && nn_optim_init(&opt, &arena, &od, m.n_params) == NN_OK);
    bx = falloc((size_t)128 * 784);
    by = (int *)calloc(128, sizeof(int));
    nn_rng_seed(&r, 1);
    train_steps(&m, &opt, xtr, ty.data, n_tr, 128, 2 * (n_tr / 128), &r, bx, by); /* 2 epochs */
    nn_model_set_mode(&m, NN_MODE_EVAL);
    right_f = accuracy(fwd_float, &m, xte, sy.data, n_te, 128);
    CHECK(nn_arena_init_heap(&qa, nn_qmodel_arena_bytes(&m, 128)) == NN_OK);
    CHECK_EQ_INT(nn_qmodel_init(&q, &qa, &m, nn_tensor_2d(xtr, 500, 784), 128), NN_OK);
    right_q = accuracy(fwd_int8, &q, xte, sy.data, n_te, 128);
    CHECKF(right_f - right_q <= n_te / 200, "int8 test accuracy %.2f%%, float %.2f%%: more than 0.5 points lost",
           100.0 * right_q / n_te, 100.0 * right_f / n_te);
    /* the files: the int8 one about a quarter of the float one */
    {
        size_t qf = nn_qmodel_save_size(&q), ff = nn_model_save_size(&m, NULL);
        CHECKF(qf * 35 < ff * 10, "int8 file %lu bytes, float file %lu: not 3.5x smaller", (unsigned long)qf,
               (unsigned long)ff);
        TEST_NOTE("files: float %lu bytes, int8 %lu bytes (%.2fx)", (unsigned long)ff, (unsigned long)qf,
                  (double)ff / (double)qf);
    }
    CHECK(right_f > n_te * 8 / 10); /* the float model learned */
    /* batch-1 latency, for the record (the bench holds the measured ratio) */
    t0 = (double)clock();
    for (i = 0; i < 2000; i++) nn_model_forward(&m, nn_tensor_2d(xte + (size_t)(i % 100) * 784, 1, 784));
    tf = ((double)clock() - t0) / CLOCKS_PER_SEC / 2000;
    t0 = (double)clock();
    for (i = 0; i < 2000; i++) nn_qmodel_forward(&q, nn_tensor_2d(xte + (size_t)(i % 100) * 784, 1, 784));
    tq = ((double)clock() - t0) / CLOCKS_PER_SEC / 2000;
    TEST_NOTE("Fashion-MNIST test accuracy: float %.2f%%, int8 %.2f%% (%s kernel); weights %lu -> %lu bytes (%.2fx); "
              "batch 1: float %.1f us, int8 %.1f us", 100.0 * right_f / n_te, 100.0 * right_q / n_te,
              nn_qkernel_name(q.kernel), (unsigned long)q.float_weight_bytes, (unsigned long)q.weight_bytes,
              (double)q.float_weight_bytes / (double)q.weight_bytes, 1e6 * tf, 1e6 * tq);
    nn_arena_deinit(&qa);
    nn_arena_deinit(&arena);
    /* A CNN (conv 8 + BatchNorm2d + ReLU, max pool, conv 16 + ReLU, max
       pool, dense 10), 400 steps of 64, the same rule */
    {
        nn_layer_desc cl[8];
        nn_model cm;
        nn_arena ca, cqa;
        nn_optim copt;
        nn_qmodel cq;
        cl[0] = nn_conv2d(8, 3, 1, 1, NN_ACT_IDENTITY); cl[1] = nn_batchnorm2d(); cl[2] = nn_activation(NN_ACT_RELU);
        cl[3] = nn_maxpool2d(2, 2, 0); cl[4] = nn_conv2d(16, 3, 1, 1, NN_ACT_RELU); cl[5] = nn_maxpool2d(2, 2, 0);
        cl[6] = nn_flatten(); cl[7] = nn_dense(10, NN_ACT_IDENTITY);
        memset(&md, 0, sizeof md);
        md.inputs = 784; md.max_batch = 64; md.layers = cl; md.n_layers = 8; md.seed = 7;
        md.input_shape[0] = 1; md.input_shape[1] = 28; md.input_shape[2] = 28;
        CHECK(nn_arena_init_heap(&ca, nn_model_arena_bytes(&md) + nn_optim_arena_bytes(&od, nn_model_param_count(&md))) ==
              NN_OK);
        CHECK(nn_model_init(&cm, &ca, &md) == NN_OK && nn_optim_init(&copt, &ca, &od, cm.n_params) == NN_OK);
        t0 = (double)clock();
        train_steps(&cm, &copt, xtr, ty.data, n_tr, 64, 400, &r, bx, by);
        nn_model_set_mode(&cm, NN_MODE_EVAL);
        right_f = accuracy(fwd_float, &cm, xte, sy.data, n_te, 64);
        CHECK(nn_arena_init_heap(&cqa, nn_qmodel_arena_bytes(&cm, 64)) == NN_OK);
        CHECK_EQ_INT(nn_qmodel_init(&cq, &cqa, &cm, nn_tensor_2d(xtr, 500, 784), 64), NN_OK);
        right_q = accuracy(fwd_int8, &cq, xte, sy.data, n_te, 64);
        CHECKF(right_f - right_q <= n_te / 200, "CNN: int8 test accuracy %.2f%%, float %.2f%%: more than 0.5 points lost",
               100.0 * right_q / n_te, 100.0 * right_f / n_te);
        CHECK(right_f > n_te * 8 / 10);
        TEST_NOTE("Fashion-MNIST CNN (%.1f s to train): test accuracy float %.2f%%, int8 %.2f%%; weights %lu -> %lu "
                  "bytes", ((double)clock() - t0) / CLOCKS_PER_SEC, 100.0 * right_f / n_te, 100.0 * right_q / n_te,
                  (unsigned long)cq.float_weight_bytes, (unsigned long)cq.weight_bytes);
        nn_arena_deinit(&cqa);
        nn_arena_deinit(&ca);
    }
    nn_idx_free(&tx); nn_idx_free(&ty); nn_idx_free(&sx); nn_idx_free(&sy);
    free(xtr); free(xte); free(bx); free(by);
}
#endif

static const test_case tests[] = {
    TEST(test_quant_kernels_same_bits),
    TEST(test_quant_layers_close_to_float),
    TEST(test_quant_conv),
    TEST(test_quant_fold_and_sizes),
    TEST(test_quant_refusals),
    TEST(test_quant_hostile_values),
    TEST(test_quant_rounding_and_limits),
    TEST(test_quant_file_roundtrip),
    TEST(test_quant_file_hostile),
#ifdef NN_TEST_FASHION
    TEST(test_quant_fashion_accuracy),
#endif
};

int main(int argc, char **argv) { return TEST_MAIN(argc, argv, tests); }
