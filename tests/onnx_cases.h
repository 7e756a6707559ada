/* onnx_cases.h - the models nn_model_export_onnx is checked on (every layer
   kind and activation, odd sizes), shared by tests/onnx_dump.c (which the
   fixture generator runs) and tests/test_onnx.c. Parameters and running
   statistics are drawn from nn_rng_uniform after init, so every platform
   builds the same bits (no libm on the way). Include after nn.h. */
#include <string.h>

#define ONNX_CASES 4
static const char *const onnx_case_names[ONNX_CASES] = {"mlp", "acts", "cnn", "cnn_groups"};

typedef struct onnx_case {
    nn_layer_desc l[16];
    nn_model_desc md;
    int n;
} onnx_case;

static void onnx_case_desc(int which, onnx_case *c) {
    nn_layer_desc *l = c->l;
    int n = 0;
    memset(c, 0, sizeof *c);
    c->md.max_batch = 4;
    c->md.seed = 100u + (unsigned)which;
    switch (which) {
    case 0: /* dense, batch norm, dropout, layer norm, maxout, GELU (both), SiLU, softmax */
        c->md.inputs = 6;
        l[n++] = nn_dense(7, NN_ACT_RELU);
        l[n++] = nn_batchnorm();
        l[n++] = nn_dropout(0.25f);
        l[n++] = nn_dense(5, NN_ACT_GELU);
        l[n++] = nn_layernorm();
        l[n++] = nn_dense(4, NN_ACT_GELU_TANH);
        l[n++] = nn_maxout(3, 2, NN_ACT_SILU);
        l[n++] = nn_dense(3, NN_ACT_SOFTMAX);
        break;
    case 1: /* the other activations, weight standardization, a layer without bias */
        c->md.inputs = 5;
        l[n++] = nn_dense(5, NN_ACT_LEAKY_RELU);
        l[n - 1].alpha = 0.1f;
        l[n++] = nn_dense(5, NN_ACT_ELU);
        l[n - 1].alpha = 0.5f;
        l[n - 1].weight_std = 1;
        l[n++] = nn_dense(5, NN_ACT_SIGMOID);
        l[n - 1].no_bias = 1;
        l[n++] = nn_dense(5, NN_ACT_TANH);
        l[n++] = nn_dense(5, NN_ACT_SOFTPLUS);
        l[n++] = nn_dense(1, NN_ACT_IDENTITY);
        break;
    case 2: /* conv, BatchNorm2d, pools (padding, count_include_pad 0), dropout2d, global pool */
        c->md.input_shape[0] = 3; c->md.input_shape[1] = 7; c->md.input_shape[2] = 9;
        c->md.inputs = 3 * 7 * 9;
        l[n++] = nn_conv2d(5, 3, 1, 1, NN_ACT_RELU);
        l[n++] = nn_batchnorm2d();
        l[n++] = nn_maxpool2d(2, 2, 0);
        l[n++] = nn_conv2d(4, 3, 2, 2, NN_ACT_IDENTITY);
        l[n++] = nn_avgpool2d(3, 1, 1);
        l[n - 1].count_include_pad = 0;
        l[n++] = nn_dropout2d(0.5f);
        l[n++] = nn_global_avgpool();
        l[n++] = nn_dense(3, NN_ACT_IDENTITY);
        break;
    default: /* groups, depthwise, dilation, kernel 5, a max pool with padding, flatten then dense */
        c->md.input_shape[0] = 4; c->md.input_shape[1] = 9; c->md.input_shape[2] = 8;
        c->md.inputs = 4 * 9 * 8;
        l[n++] = nn_conv2d(6, 3, 1, 1, NN_ACT_ELU);
        l[n - 1].groups = 2;
        l[n++] = nn_conv2d(6, 3, 1, 2, NN_ACT_IDENTITY);
        l[n - 1].groups = 6;
        l[n - 1].dilation[0] = 2; l[n - 1].dilation[1] = 2;
        l[n++] = nn_maxpool2d(3, 2, 1);
        l[n++] = nn_conv2d(2, 5, 1, 2, NN_ACT_SIGMOID);
        l[n - 1].no_bias = 1;
        l[n++] = nn_flatten();
        l[n++] = nn_dense(4, NN_ACT_IDENTITY);
        break;
    }
    c->n = n;
    c->md.layers = l;
    c->md.n_layers = n;
}

/* Builds case `which` into m (arena from the heap), EVAL, deterministic values. */
static int onnx_case_build(int which, onnx_case *c, nn_model *m, nn_arena *a) {
    nn_rng r;
    size_t i;
    onnx_case_desc(which, c);
    if (nn_arena_init_heap(a, nn_model_arena_bytes(&c->md)) != NN_OK || nn_model_init(m, a, &c->md) != NN_OK) return 0;
    nn_rng_seed(&r, 7000u + (unsigned)which);
    for (i = 0; i < m->n_params; i++) m->params[i] = nn_rng_uniform(&r) - 0.5f;
    for (i = 0; i < m->n_buffers; i++) m->buffers[i] = 0.5f + nn_rng_uniform(&r); /* means and variances */
    nn_model_set_mode(m, NN_MODE_EVAL);
    return 1;
}

/* Its inputs: B rows from another stream. */
static void onnx_case_input(int which, float *x, size_t n) {
    nn_rng r;
    size_t i;
    nn_rng_seed(&r, 9000u + (unsigned)which);
    for (i = 0; i < n; i++) x[i] = 2.0f * nn_rng_uniform(&r) - 1.0f;
}
