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

static const test_case tests[] = {
    TEST(test_alloc_fit),
    TEST(test_alloc_counters_count),
    TEST(test_alloc_mnist_mlp),
    TEST(test_alloc_small),
    TEST(test_alloc_arena_only),
};

int main(int argc, char **argv) { return TEST_MAIN(argc, argv, tests); }
