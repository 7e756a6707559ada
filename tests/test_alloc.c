/* test_alloc.c - a training step allocates nothing.

   NN_MALLOC / NN_REALLOC / NN_FREE are counting wrappers. Set-up must take exactly one
   allocation (the heap arena); ten full training steps (forward, cross-entropy into
   nn_model_output_grad, zero_grad, backward, optimizer step) must take none. */
#include <stdlib.h>

static long alloc_malloc = 0, alloc_realloc = 0, alloc_free = 0;
static void *count_malloc(size_t n) {
    alloc_malloc++;
    return malloc(n);
}
static void *count_realloc(void *p, size_t n) {
    alloc_realloc++;
    return realloc(p, n);
}
static void count_free(void *p) {
    alloc_free++;
    free(p);
}
#define NN_MALLOC(sz) count_malloc(sz)
#define NN_REALLOC(p, sz) count_realloc(p, sz)
#define NN_FREE(p) count_free(p)
#define NN_IMPLEMENTATION
#include "../nn.h"
#include "test.h"

#include <string.h>

static long alloc_calls(void) { return alloc_malloc + alloc_realloc + alloc_free; }

static void check_no_alloc_in_steps(int inputs, const int *units, const nn_act *acts, int n_layers, int batch) {
    nn_layer_desc ls[8];
    nn_model_desc md;
    nn_optim_desc od;
    nn_model m;
    nn_optim o;
    nn_arena a;
    float *x;
    int *labels, i, step, classes = units[n_layers - 1];
    long before, mallocs;
    size_t bytes;
    nn_rng r;

    for (i = 0; i < n_layers; i++) ls[i] = nn_dense(units[i], acts[i]);
    memset(&md, 0, sizeof md);
    md.inputs = inputs;
    md.max_batch = batch;
    md.layers = ls;
    md.n_layers = n_layers;
    md.seed = 42;
    od = nn_optim_desc_default(NN_OPTIM_SGD);
    od.lr = 0.01f;
    od.momentum = 0.9f;

    /* test data comes from plain malloc, not the counted hooks */
    x = (float *)malloc(sizeof(float) * (size_t)batch * (size_t)inputs);
    labels = (int *)malloc(sizeof(int) * (size_t)batch);
    if (!x || !labels) exit(2);
    nn_rng_seed(&r, 7);
    for (i = 0; i < batch * inputs; i++) x[i] = nn_rng_uniform(&r);
    for (i = 0; i < batch; i++) labels[i] = (int)nn_rng_below(&r, (uint32_t)classes);

    /* set-up: one allocation, sized exactly by the queries */
    before = alloc_calls();
    mallocs = alloc_malloc;
    bytes = nn_model_arena_bytes(&md) + nn_optim_arena_bytes(&od, nn_model_param_count(&md));
    CHECK_EQ_INT(nn_arena_init_heap(&a, bytes), NN_OK);
    CHECK_EQ_INT(nn_model_init(&m, &a, &md), NN_OK);
    CHECK_EQ_INT(nn_optim_init(&o, &a, &od, m.n_params), NN_OK);
    CHECK_EQ_INT(a.used, bytes);
    CHECK_EQ_INT(alloc_malloc - mallocs, 1);
    CHECKF(alloc_calls() - before == 1, "set-up made %ld allocator calls, expected 1", alloc_calls() - before);

    for (step = 0; step < 11; step++) {
        nn_tensor y, dy;
        float loss;
        if (step == 1) before = alloc_calls(); /* step 0 is the warm-up */
        y = nn_model_forward(&m, nn_tensor_2d(x, batch, inputs));
        dy = nn_model_output_grad(&m);
        loss = nn_loss_cross_entropy(dy, y, labels);
        nn_model_zero_grad(&m);
        CHECK_EQ_INT(nn_model_backward(&m, dy), NN_OK);
        CHECK_EQ_INT(nn_optim_step(&o, m.params, m.grads, m.n_params), NN_OK);
        CHECK(y.data != NULL && loss == loss && loss >= 0.0f);
    }
    CHECKF(alloc_calls() - before == 0, "10 training steps made %ld allocator calls", alloc_calls() - before);

    before = alloc_free;
    nn_arena_deinit(&a);
    CHECK_EQ_INT(alloc_free - before, 1);
    free(x);
    free(labels);
}

static void test_alloc_mnist_mlp(void) {
    const int units[3] = {256, 128, 10};
    const nn_act acts[3] = {NN_ACT_RELU, NN_ACT_RELU, NN_ACT_IDENTITY};
    check_no_alloc_in_steps(784, units, acts, 3, 64);
}

static void test_alloc_small(void) {
    const int units[3] = {5, 4, 3};
    const nn_act acts[3] = {NN_ACT_TANH, NN_ACT_SIGMOID, NN_ACT_IDENTITY};
    check_no_alloc_in_steps(7, units, acts, 3, 3);
}

static void test_alloc_arena_only(void) {
    static unsigned char mem[4096];
    nn_arena a;
    long before = alloc_calls();
    CHECK_EQ_INT(nn_arena_init(&a, mem, sizeof mem), NN_OK); /* caller buffer: no allocation */
    CHECK(nn_arena_alloc(&a, 100) != NULL);
    nn_arena_deinit(&a);
    nn_arena_deinit(NULL);
    CHECK_EQ_INT(alloc_calls() - before, 0);
}

/* The hooks are the ones nn.h uses, and they count. */
static void test_alloc_counters_count(void) {
    long m = alloc_malloc, r = alloc_realloc, f = alloc_free;
    void *p = NN_MALLOC(16);
    CHECK(p != NULL);
    p = NN_REALLOC(p, 32);
    CHECK(p != NULL);
    NN_FREE(p);
    CHECK(alloc_malloc == m + 1 && alloc_realloc == r + 1 && alloc_free == f + 1);
    nn_free(NULL);
    CHECK_EQ_INT(alloc_free, f + 1);
}

/* nn_fit takes its scratch from the arena: no allocator call from start to end (no
   checkpoint file, whose atomic save is the one thing in it that touches the OS). */
static void test_alloc_fit(void) {
    enum { N = 300, F = 12, K = 4 };
    static float x[N * F];
    static int y[N];
    nn_layer_desc ls[3];
    nn_model_desc md;
    nn_optim_desc od = nn_optim_desc_default(NN_OPTIM_ADAMW);
    nn_model m;
    nn_optim o;
    nn_arena a;
    nn_data d;
    nn_fit_desc fd = nn_fit_desc_default(3, 32);
    nn_fit_result res;
    nn_fit_epoch hist[3];
    nn_rng r;
    long before;
    int i;
    ls[0] = nn_dense(32, NN_ACT_RELU); ls[1] = nn_dropout(0.1f); ls[2] = nn_dense(K, NN_ACT_IDENTITY);
    memset(&md, 0, sizeof md);
    md.inputs = F; md.max_batch = 64; md.layers = ls; md.n_layers = 3; md.seed = 1;
    nn_rng_seed(&r, 3);
    for (i = 0; i < N * F; i++) x[i] = nn_rng_normal(&r);
    for (i = 0; i < N; i++) y[i] = (int)nn_rng_below(&r, K);
    memset(&d, 0, sizeof d);
    d.n = N; d.features = F; d.x = x; d.labels = y;
    fd.val_split = 0.2f; fd.restore_best = 1; fd.patience = 5; fd.history = hist; fd.history_cap = 3;
    CHECK_EQ_INT(nn_arena_init_heap(&a, nn_model_arena_bytes(&md) + nn_optim_arena_bytes(&od, nn_model_param_count(&md)) +
                                            (1 << 16)), NN_OK);
    CHECK_EQ_INT(nn_model_init(&m, &a, &md), NN_OK);
    CHECK_EQ_INT(nn_optim_init(&o, &a, &od, m.n_params), NN_OK);
    CHECK(nn_fit_arena_bytes(&m, &d, &fd) < (1 << 16));
    before = alloc_calls();
    CHECK_EQ_INT(nn_fit(&m, &o, &a, &d, &fd, &res), NN_OK);
    CHECKF(alloc_calls() == before, "nn_fit made %ld allocator calls", alloc_calls() - before);
    CHECK(res.epochs_run == 3);
    nn_arena_deinit(&a);
}

/* A CNN with every image kind (overlapping max pooling, a grouped dilated padded conv,
   batch norm per channel, average pooling without the padding in the divisor, a 1x1
   conv, channel dropout, global pooling): set-up takes one allocation, ten training
   steps (each with an eval forward) none; then the same on a 2-thread pool whose
   workers take the GEMMs (a conv large enough for them). */
static void cnn_steps(const nn_layer_desc *ls, int n, int c, int h, int w, int batch, nn_threads *th) {
    nn_model_desc md;
    nn_optim_desc od = nn_optim_desc_default(NN_OPTIM_ADAM);
    nn_model m;
    nn_optim o;
    nn_arena a;
    float *x;
    int labels[8], i, step;
    long before;
    size_t bytes;
    nn_rng r;
    memset(&md, 0, sizeof md);
    md.inputs = c * h * w; md.max_batch = batch; md.layers = ls; md.n_layers = n; md.seed = 1;
    md.input_shape[0] = c; md.input_shape[1] = h; md.input_shape[2] = w;
    x = (float *)malloc(sizeof(float) * (size_t)batch * (size_t)md.inputs); /* not counted */
    if (!x) exit(2);
    nn_rng_seed(&r, 7);
    for (i = 0; i < batch * md.inputs; i++) x[i] = 2.0f * nn_rng_uniform(&r) - 1.0f;
    before = alloc_calls();
    bytes = nn_model_arena_bytes(&md) + nn_optim_arena_bytes(&od, nn_model_param_count(&md));
    CHECK_EQ_INT(nn_arena_init_heap(&a, bytes), NN_OK);
    CHECK_EQ_INT(nn_model_init(&m, &a, &md), NN_OK);
    CHECK_EQ_INT(nn_optim_init(&o, &a, &od, m.n_params), NN_OK);
    CHECK_EQ_INT(a.used, bytes);
    CHECKF(alloc_calls() - before == 1, "CNN set-up made %ld allocator calls, expected 1", alloc_calls() - before);
    for (i = 0; i < batch; i++) labels[i] = (int)nn_rng_below(&r, (uint32_t)m.outputs);
    m.threads = th;
    for (step = 0; step < 11; step++) {
        nn_tensor y, dy;
        float loss;
        if (step == 1) before = alloc_calls(); /* step 0 is the warm-up */
        nn_model_set_mode(&m, NN_MODE_TRAIN);
        y = nn_model_forward(&m, nn_tensor_4d(x, batch, c, h, w));
        dy = nn_model_output_grad(&m);
        loss = nn_loss_cross_entropy(dy, y, labels);
        nn_model_zero_grad(&m);
        CHECK_EQ_INT(nn_model_backward(&m, dy), NN_OK);
        CHECK_EQ_INT(nn_optim_step_params(&o, m.param_list, m.n_param_list), NN_OK);
        CHECK(y.data != NULL && loss == loss);
        nn_model_set_mode(&m, NN_MODE_EVAL);
        CHECK(nn_model_forward(&m, nn_tensor_4d(x, batch, c, h, w)).data != NULL);
    }
    CHECKF(alloc_calls() - before == 0, "10 CNN training steps made %ld allocator calls", alloc_calls() - before);
    before = alloc_free;
    nn_arena_deinit(&a);
    CHECK_EQ_INT(alloc_free - before, 1);
    free(x);
}

static void test_alloc_cnn(void) {
    nn_layer_desc ls[9], big[8];
    nn_threads *th;
    ls[0] = nn_maxpool2d(2, 1, 0);
    ls[1] = nn_conv2d(6, 3, 1, 2, NN_ACT_IDENTITY);
    ls[1].groups = 3;
    ls[1].dilation[0] = ls[1].dilation[1] = 2;
    ls[2] = nn_batchnorm2d();
    ls[3] = nn_activation(NN_ACT_ELU);
    ls[4] = nn_avgpool2d(3, 2, 1);
    ls[4].count_include_pad = 0;
    ls[5] = nn_conv2d(5, 1, 1, 0, NN_ACT_TANH);
    ls[6] = nn_dropout2d(0.3f);
    ls[7] = nn_global_avgpool();
    ls[8] = nn_dense(4, NN_ACT_IDENTITY);
    cnn_steps(ls, 9, 3, 9, 7, 4, NULL);
    /* conv 2's GEMMs (32 x 256 x 72 per image) are over the pool's threshold */
    big[0] = nn_conv2d(8, 3, 1, 1, NN_ACT_IDENTITY);
    big[1] = nn_batchnorm2d();
    big[2] = nn_activation(NN_ACT_RELU);
    big[3] = nn_maxpool2d(2, 2, 0);
    big[4] = nn_dropout2d(0.2f);
    big[5] = nn_conv2d(32, 3, 1, 1, NN_ACT_RELU);
    big[6] = nn_global_avgpool();
    big[7] = nn_dense(10, NN_ACT_IDENTITY);
    th = nn_threads_create(2); /* its allocations come before the counted steps */
    if (th) nn_threads_set_adaptive(th, 0);
    cnn_steps(big, 8, 3, 32, 32, 2, th);
    if (th) {
        long parallel = 0;
        nn_threads_stats(th, NULL, &parallel, NULL, NULL);
        CHECKF(parallel > 0, "no GEMM went to the pool");
        nn_threads_destroy(th);
    }
}

static const test_case tests[] = {
    TEST(test_alloc_fit),
    TEST(test_alloc_counters_count),
    TEST(test_alloc_mnist_mlp),
    TEST(test_alloc_small),
    TEST(test_alloc_arena_only),
    TEST(test_alloc_cnn),
};

int main(int argc, char **argv) { return TEST_MAIN(argc, argv, tests); }
