/* test_core.c - tests for everything in nn.h: arena, size queries, tensors, RNG, GEMM,
   PyTorch parity, numerical gradients, model, training, summary and I/O helpers.

   Built by `make test` as C99, C11 (clang), C++11, NN_STATIC, NN_NO_SIMD, OpenMP and
   address+undefined sanitizer variants. Run from the repository root (fixtures are read
   from FIXTURE_DIR); `build/test_core_c99 gemm` runs only the tests whose name contains
   "gemm". */
#ifndef NN_TEST_LINKED /* built against a separately compiled implementation */
#define NN_IMPLEMENTATION
#endif
#include "../nn.h"
#include "fixture.h"
#include "test.h"

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#ifndef FIXTURE_DIR
#define FIXTURE_DIR "tests/fixtures/"
#endif

/* ------------------------------------------------------------------ helpers */

static int is_aligned64(const void *p) { return ((uintptr_t)p & (uintptr_t)(NN_ARENA_ALIGN - 1)) == 0; }

static float *falloc(size_t n) {
    float *p = (float *)calloc(n ? n : 1, sizeof(float));
    if (!p) {
        fprintf(stderr, "test: out of memory\n");
        exit(2);
    }
    return p;
}

static void fill_uniform(nn_rng *r, float *p, size_t n, float lo, float hi) {
    size_t i;
    for (i = 0; i < n; i++) p[i] = lo + (hi - lo) * nn_rng_uniform(r);
}

static void fill_value(float *p, size_t n, float v) {
    size_t i;
    for (i = 0; i < n; i++) p[i] = v;
}

static int all_zero(const void *p, size_t n) {
    const unsigned char *b = (const unsigned char *)p;
    size_t i;
    for (i = 0; i < n; i++)
        if (b[i]) return 0;
    return 1;
}

static int all_finite(const float *p, size_t n) {
    size_t i;
    for (i = 0; i < n; i++)
        if (!(p[i] - p[i] == 0.0f)) return 0;
    return 1;
}

/* Layers with PyTorch's defaults (nn.h's constructors). */
static nn_layer_desc ld_dense(int units, nn_act act) { return nn_dense(units, act); }

static nn_layer_desc ld_act(nn_act act) { return nn_activation(act); }

static nn_model_desc md_make(int inputs, int max_batch, const nn_layer_desc *layers, int n,
                             uint64_t seed) {
    nn_model_desc d;
    memset(&d, 0, sizeof d);
    d.inputs = inputs;
    d.max_batch = max_batch;
    d.layers = layers;
    d.n_layers = n;
    d.seed = seed;
    return d;
}

/* An arena over a malloc'd block with a capacity of exactly cap bytes (a multiple of
   NN_ARENA_ALIGN); *mem is the block to free. */
static void exact_arena(nn_arena *a, void **mem, size_t cap) {
    uintptr_t p;
    *mem = malloc(cap + NN_ARENA_ALIGN);
    if (!*mem) exit(2);
    p = (uintptr_t)*mem;
    nn_arena_init(a, *mem, cap + (size_t)((NN_ARENA_ALIGN - (p & (NN_ARENA_ALIGN - 1))) & (NN_ARENA_ALIGN - 1)));
}

/* A heap arena sized exactly for the model plus `extra` bytes, and the model in it. */
static int model_make(nn_model *m, nn_arena *a, const nn_model_desc *d, size_t extra) {
    size_t bytes = nn_model_arena_bytes(d);
    memset(a, 0, sizeof *a); /* nn_arena_deinit is safe even when this fails */
    if (!bytes || nn_arena_init_heap(a, bytes + extra) != NN_OK) return 0;
    return nn_model_init(m, a, d) == NN_OK;
}

static nn_optim_desc sgd_desc(float lr, float momentum) {
    nn_optim_desc o = nn_optim_desc_default(NN_OPTIM_SGD);
    o.lr = lr;
    o.momentum = momentum;
    return o;
}

/* ------------------------------------------------------------------ arena */

static void test_arena_caller_buffer(void) {
    static unsigned char mem[4096 + 256];
    unsigned char *aligned = (unsigned char *)(((uintptr_t)mem + 63) & ~(uintptr_t)63);
    unsigned char *start = aligned + 5; /* deliberately misaligned */
    const size_t bytes = 2000;
    const size_t sizes[] = {1, 63, 64, 65, 0, 100, 7, 200};
    size_t used = 0, mark, peak, i;
    unsigned char *p, *q;
    nn_arena a;

    CHECK_EQ_INT(nn_arena_bytes_for(0), 0);
    CHECK_EQ_INT(nn_arena_bytes_for(1), 64);
    CHECK_EQ_INT(nn_arena_bytes_for(64), 64);
    CHECK_EQ_INT(nn_arena_bytes_for(65), 128);

    memset(mem, 0xAB, sizeof mem);
    CHECK_EQ_INT(nn_arena_init(&a, start, bytes), NN_OK);
    CHECK(is_aligned64(a.base));
    CHECK(a.base == aligned + 64); /* first aligned address at or after start */
    CHECK(a.cap % NN_ARENA_ALIGN == 0);
    CHECK(a.cap <= bytes - (size_t)(a.base - start));
    CHECK(a.cap + NN_ARENA_ALIGN > bytes - (size_t)(a.base - start));
    CHECK(a.used == 0 && a.peak == 0 && a.owned == NULL);

    for (i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        p = (unsigned char *)nn_arena_alloc(&a, sizes[i]);
        CHECKF(p != NULL, "alloc(%lu) failed", (unsigned long)sizes[i]);
        if (!p) return;
        CHECKF(is_aligned64(p), "alloc(%lu) not 64-byte aligned", (unsigned long)sizes[i]);
        CHECK(p == a.base + used);
        CHECKF(all_zero(p, sizes[i]), "alloc(%lu) not zero-filled", (unsigned long)sizes[i]);
        CHECK(p + sizes[i] <= a.base + a.cap);
        memset(p, 0xCD, sizes[i]);
        used += nn_arena_bytes_for(sizes[i]);
        CHECK_EQ_INT(a.used, used);
        CHECK_EQ_INT(a.peak, used);
    }

    /* mark / rewind: memory handed out again is zero-filled again; peak stays */
    mark = nn_arena_mark(&a);
    CHECK_EQ_INT(mark, a.used);
    p = (unsigned char *)nn_arena_alloc(&a, 300);
    CHECK(p != NULL);
    if (!p) return;
    memset(p, 0x5A, 300);
    peak = a.peak;
    CHECK_EQ_INT(peak, mark + 320);
    nn_arena_rewind(&a, mark);
    CHECK_EQ_INT(a.used, mark);
    CHECK_EQ_INT(a.peak, peak);
    q = (unsigned char *)nn_arena_alloc(&a, 300);
    CHECK(q == p);
    CHECK(q && all_zero(q, 300));

    nn_arena_reset(&a);
    CHECK_EQ_INT(a.used, 0);
    CHECK_EQ_INT(a.peak, peak);
    p = (unsigned char *)nn_arena_alloc(&a, 10);
    CHECK(p == a.base);
    CHECK(p && all_zero(p, 10));

    /* nothing outside [base, base + cap) was touched */
    for (p = mem; p < a.base; p++)
        if (*p != 0xAB) break;
    CHECK(p == a.base);
    for (p = a.base + a.cap; p < mem + sizeof mem; p++)
        if (*p != 0xAB) break;
    CHECK(p == mem + sizeof mem);

    nn_arena_deinit(&a); /* caller buffer: only the struct is cleared */
    CHECK(a.base == NULL && a.cap == 0 && a.used == 0);
}

static void test_arena_out_of_memory(void) {
    static unsigned char mem[1024 + 128];
    unsigned char *aligned = (unsigned char *)(((uintptr_t)mem + 63) & ~(uintptr_t)63);
    unsigned char *p, *q;
    nn_tensor t;
    int big[2] = {11, 16}, huge[4] = {INT_MAX, INT_MAX, INT_MAX, 4}, i;
    nn_arena a;

    CHECK_EQ_INT(nn_arena_init(&a, NULL, 100), NN_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(nn_arena_init(&a, aligned + 1, 10), NN_ERR_OUT_OF_MEMORY); /* all alignment */
    CHECK_EQ_INT(nn_arena_init(&a, aligned + 1, 63), NN_OK);
    CHECK_EQ_INT(a.cap, 0);
    CHECK(nn_arena_alloc(&a, 1) == NULL);

    CHECK_EQ_INT(nn_arena_init(&a, aligned + 1, 63 + 640 + 10), NN_OK);
    CHECK_EQ_INT(a.cap, 640);
    CHECK(nn_arena_alloc(&a, 641) == NULL);
    CHECK_EQ_INT(a.used, 0);
    for (i = 0; i < 4; i++) { /* volatile: keeps the compiler from folding sizes it would warn about */
        volatile size_t huge = SIZE_MAX - (size_t)(i == 1 ? 10 : i == 2 ? 63 : i == 3 ? 64 : 0);
        CHECK(nn_arena_alloc(&a, huge) == NULL);
    }
    CHECK_EQ_INT(a.used, 0);

    t = nn_tensor_alloc(&a, 2, big); /* 704 bytes > 640 */
    CHECK(t.data == NULL);
    CHECK(t.rank == 2 && t.shape[0] == 11 && t.shape[1] == 16);
    CHECK_EQ_INT(a.used, 0);
    t = nn_tensor_alloc(&a, 4, huge); /* element count overflows */
    CHECK(t.data == NULL);
    CHECK_EQ_INT(a.used, 0);

    p = (unsigned char *)nn_arena_alloc(&a, 576);
    CHECK(p != NULL);
    if (!p) return;
    memset(p, 0x77, 576);
    CHECK(nn_arena_alloc(&a, 65) == NULL);
    CHECK_EQ_INT(a.used, 576);
    CHECK_EQ_INT(a.peak, 576);
    q = (unsigned char *)nn_arena_alloc(&a, 64);
    CHECK(q == p + 576);
    CHECK_EQ_INT(a.used, 640);
    CHECK(nn_arena_alloc(&a, 1) == NULL);
    CHECK_EQ_INT(a.used, 640);
    CHECK(p[0] == 0x77 && p[575] == 0x77); /* failed calls wrote nothing */
    nn_arena_rewind(&a, 576);
    CHECK(nn_arena_alloc(&a, 64) == q);
}

static void test_arena_heap(void) {
    nn_arena a;
    void *p;
    CHECK_EQ_INT(nn_arena_init_heap(&a, 1000), NN_OK);
    CHECK(a.owned != NULL);
    CHECK(is_aligned64(a.base));
    CHECK(a.cap >= 1024 && a.cap <= 1024 + NN_ARENA_ALIGN && a.cap % NN_ARENA_ALIGN == 0);
    p = nn_arena_alloc(&a, 1000);
    CHECK(p != NULL && all_zero(p, 1000));
    CHECK(nn_arena_alloc(&a, a.cap - a.used + 1) == NULL);
    nn_arena_deinit(&a);
    CHECK(a.owned == NULL && a.base == NULL && a.cap == 0);
    nn_arena_deinit(&a); /* twice is fine */
    nn_arena_deinit(NULL);

    CHECK_EQ_INT(nn_arena_init_heap(&a, 0), NN_OK);
    CHECK_EQ_INT(a.cap, 0);
    nn_arena_deinit(&a);
}

/* Asking for more than the address space must fail, not hand back a smaller arena. */
static void test_arena_heap_huge(void) {
    nn_arena a;
    nn_result r = nn_arena_init_heap(&a, SIZE_MAX);
    CHECKF(r == NN_ERR_OUT_OF_MEMORY, "init_heap(SIZE_MAX) returned %d (%s) with cap %lu", (int)r,
           nn_result_string(r), (unsigned long)a.cap);
    nn_arena_deinit(&a);
    r = nn_arena_init_heap(&a, SIZE_MAX - 100);
    CHECKF(r == NN_ERR_OUT_OF_MEMORY, "init_heap(SIZE_MAX - 100) returned %d with cap %lu", (int)r,
           (unsigned long)a.cap);
    nn_arena_deinit(&a);
}

/* ------------------------------------------------------------------ size queries */

static size_t expected_params(const nn_model_desc *d) {
    size_t n = 0;
    int i, w = d->inputs;
    for (i = 0; i < d->n_layers; i++)
        if (d->layers[i].kind == NN_LAYER_DENSE) {
            n += (size_t)d->layers[i].units * (size_t)w + (d->layers[i].no_bias ? 0 : (size_t)d->layers[i].units);
            w = d->layers[i].units;
        }
    return n;
}

static void test_model_arena_bytes_exact(void) {
    nn_layer_desc l1[3], l2[3], l3[1], l4[4], l5[1];
    nn_model_desc d[5];
    int k;
    l1[0] = ld_dense(5, NN_ACT_RELU); l1[1] = ld_dense(4, NN_ACT_TANH); l1[2] = ld_dense(3, NN_ACT_IDENTITY);
    l2[0] = ld_dense(256, NN_ACT_RELU); l2[1] = ld_dense(128, NN_ACT_RELU); l2[2] = ld_dense(10, NN_ACT_IDENTITY);
    l3[0] = ld_dense(2, NN_ACT_IDENTITY); l3[0].no_bias = 1;
    l4[0] = ld_act(NN_ACT_SIGMOID); l4[1] = ld_dense(6, NN_ACT_IDENTITY); l4[2] = ld_act(NN_ACT_RELU);
    l4[3] = ld_dense(2, NN_ACT_SIGMOID);
    l5[0] = ld_dense(1, NN_ACT_IDENTITY);
    d[0] = md_make(7, 4, l1, 3, 1);
    d[1] = md_make(784, 64, l2, 3, 2);
    d[2] = md_make(3, 1, l3, 1, 3);
    d[3] = md_make(5, 9, l4, 4, 4);
    d[4] = md_make(1, 1, l5, 1, 5);
    for (k = 0; k < 5; k++) {
        size_t bytes = nn_model_arena_bytes(&d[k]), before;
        void *mem;
        nn_arena a;
        nn_model m;
        nn_result r;
        CHECKF(bytes > 0 && bytes % NN_ARENA_ALIGN == 0, "desc %d: arena bytes %lu", k, (unsigned long)bytes);
        if (!bytes) continue;
        /* exact fit after an unrelated allocation */
        CHECK_EQ_INT(nn_arena_init_heap(&a, NN_ARENA_ALIGN + bytes), NN_OK);
        CHECK(nn_arena_alloc(&a, 1) != NULL);
        before = a.used;
        r = nn_model_init(&m, &a, &d[k]);
        CHECKF(r == NN_OK, "desc %d: init returned %s", k, nn_result_string(r));
        CHECKF(a.used - before == bytes, "desc %d: used %lu, query said %lu", k,
               (unsigned long)(a.used - before), (unsigned long)bytes);
        if (r == NN_OK) {
            CHECK_EQ_INT(m.arena_bytes, bytes);
            CHECK_EQ_INT(m.n_params, expected_params(&d[k]));
            CHECK(is_aligned64(m.params) && is_aligned64(m.grads));
        }
        nn_arena_deinit(&a);
        /* exactly enough, then one alignment unit short: out of memory, arena untouched */
        exact_arena(&a, &mem, NN_ARENA_ALIGN + bytes);
        CHECK_EQ_INT(a.cap, NN_ARENA_ALIGN + bytes);
        CHECK(nn_arena_alloc(&a, 1) != NULL);
        r = nn_model_init(&m, &a, &d[k]);
        CHECKF(r == NN_OK && a.used == a.cap, "desc %d: exact arena gave %s", k, nn_result_string(r));
        free(mem);
        exact_arena(&a, &mem, bytes);
        CHECK(nn_arena_alloc(&a, 1) != NULL);
        before = a.used;
        r = nn_model_init(&m, &a, &d[k]);
        CHECKF(r == NN_ERR_OUT_OF_MEMORY, "desc %d: short arena gave %s", k, nn_result_string(r));
        CHECK_EQ_INT(a.used, before);
        free(mem);
    }
}

static void test_model_invalid_desc(void) {
    nn_layer_desc good[2], bad[2];
    nn_model_desc d;
    nn_arena a;
    nn_model m;
    int k;
    good[0] = ld_dense(4, NN_ACT_RELU);
    good[1] = ld_dense(2, NN_ACT_IDENTITY);
    CHECK_EQ_INT(nn_arena_init_heap(&a, 1 << 16), NN_OK);
    for (k = 0; k < 14; k++) {
        nn_result r;
        memcpy(bad, good, sizeof good);
        d = md_make(3, 4, bad, 2, 1);
        switch (k) {
        case 0: d.inputs = 0; break;
        case 1: d.inputs = -3; break;
        case 2: bad[1].units = 0; break;
        case 3: bad[0].kind = (nn_layer_kind)9; break;
        case 4: d.layers = NULL; break;
        case 5: d.n_layers = 0; break;
        case 6: d.max_batch = 0; break;
        case 7: bad[0].act = NN_ACT_COUNT_; break;
        case 8: bad[1].units = -2; break;
        case 9: bad[1].tag = 0; break; /* not made by a constructor */
        case 10: memset(&bad[0], 0, sizeof bad[0]); bad[0].kind = NN_LAYER_DENSE; bad[0].units = 4; break;
        case 11: bad[0] = nn_dropout(1.0f); break;  /* p in [0, 1) */
        case 12: bad[0] = nn_batchnorm(); bad[0].momentum = -0.1f; break;
        case 13: bad[0] = nn_maxout(4, 0, NN_ACT_IDENTITY); break; /* k 0 is literal, not "2" */
        }
        CHECKF(nn_model_arena_bytes(&d) == 0, "case %d: size query of an invalid desc is not 0", k);
        CHECKF(nn_model_param_count(&d) == 0, "case %d: parameter count of an invalid desc is not 0", k);
        memset(m.error, 0, sizeof m.error);
        r = nn_model_init(&m, &a, &d);
        CHECKF(r == NN_ERR_INVALID_ARGUMENT, "case %d: init returned %s", k, nn_result_string(r));
        CHECKF(m.error[0] != '\0' && strlen(m.error) < sizeof m.error, "case %d: error \"%s\"", k, m.error);
        if (k >= 9 && k <= 10) CHECKF(strstr(m.error, "layer 1") != NULL || strstr(m.error, "layer 0") != NULL,
                                      "case %d: error \"%s\" does not name the layer", k, m.error);
        CHECK_EQ_INT(a.used, 0);
    }
    CHECK_EQ_INT(nn_model_init(&m, &a, NULL), NN_ERR_INVALID_ARGUMENT);
    d = md_make(3, 4, good, 2, 1);
    CHECK_EQ_INT(nn_model_init(&m, &a, &d), NN_OK);
    CHECKF(m.error[0] == '\0', "error after success: \"%s\"", m.error);
    nn_arena_deinit(&a);
}

static void test_optim_arena_bytes_exact(void) {
    nn_optim_desc od = sgd_desc(0.1f, 0.9f), bad;
    const size_t n = 1001;
    size_t bytes = nn_optim_arena_bytes(&od, n), before;
    void *mem;
    nn_optim o;
    nn_arena a;
    CHECK_EQ_INT(bytes, nn_arena_bytes_for(n * sizeof(float)));
    CHECK_EQ_INT(nn_arena_init_heap(&a, NN_ARENA_ALIGN + bytes), NN_OK);
    CHECK(nn_arena_alloc(&a, 3) != NULL);
    before = a.used;
    CHECK_EQ_INT(nn_optim_init(&o, &a, &od, n), NN_OK);
    CHECK_EQ_INT(a.used - before, bytes);
    nn_arena_deinit(&a);

    exact_arena(&a, &mem, bytes);
    CHECK(nn_arena_alloc(&a, 3) != NULL);
    before = a.used;
    CHECK_EQ_INT(nn_optim_init(&o, &a, &od, n), NN_ERR_OUT_OF_MEMORY);
    CHECK_EQ_INT(a.used, before);

    /* no momentum: no state, nothing taken */
    od = nn_optim_desc_default(NN_OPTIM_SGD);
    CHECK_EQ_INT(nn_optim_arena_bytes(&od, n), 0);
    CHECK_EQ_INT(nn_optim_init(&o, &a, &od, n), NN_OK);
    CHECK_EQ_INT(a.used, before);
    CHECK(o.d.lr == 0.01f); /* documented default */
    od = sgd_desc(0.0f, 0.0f); /* lr 0 is literal (torch accepts it) */
    CHECK_EQ_INT(nn_optim_init(&o, &a, &od, n), NN_OK);
    CHECK(o.d.lr == 0.0f);

    bad = sgd_desc(0.1f, 0.5f);
    bad.kind = (nn_optim_kind)7;
    CHECK_EQ_INT(nn_optim_init(&o, &a, &bad, n), NN_ERR_INVALID_ARGUMENT);
    bad = sgd_desc(-0.1f, 0.5f);
    CHECK_EQ_INT(nn_optim_init(&o, &a, &bad, n), NN_ERR_INVALID_ARGUMENT);
    bad = sgd_desc(0.1f, -0.5f);
    CHECK_EQ_INT(nn_optim_init(&o, &a, &bad, n), NN_ERR_INVALID_ARGUMENT);
    bad = sgd_desc(0.1f, (float)NAN);
    CHECK_EQ_INT(nn_optim_init(&o, &a, &bad, n), NN_ERR_INVALID_ARGUMENT);
    memset(&bad, 0, sizeof bad); /* zeroed: no tag */
    bad.lr = 0.1f;
    CHECK_EQ_INT(nn_optim_arena_bytes(&bad, n), 0);
    CHECK_EQ_INT(nn_optim_init(&o, &a, &bad, n), NN_ERR_INVALID_ARGUMENT);
    CHECK(o.error[0] != '\0');
    CHECK_EQ_INT(a.used, before);
    free(mem);
}

/* ------------------------------------------------------------------ tensors */

static void test_tensor_views(void) {
    float buf[2 * 3 * 4 * 5];
    int shape[4] = {2, 3, 4, 5}, r2[2] = {6, 20}, r3[3] = {2, 12, 5};
    nn_tensor t, u, v;
    nn_arena a;
    int i;
    for (i = 0; i < 120; i++) buf[i] = (float)i;

    t = nn_tensor_1d(buf, 7);
    CHECK(t.data == buf && t.rank == 1 && t.shape[0] == 7 && t.shape[1] == 1 && t.shape[3] == 1);
    CHECK_EQ_INT(nn_tensor_size(t), 7);
    CHECK_EQ_INT(nn_tensor_row_size(t), 1);

    t = nn_tensor_2d(buf, 6, 20);
    CHECK(t.rank == 2 && t.shape[0] == 6 && t.shape[1] == 20 && t.shape[2] == 1);
    CHECK_EQ_INT(nn_tensor_size(t), 120);
    CHECK_EQ_INT(nn_tensor_row_size(t), 20);

    t = nn_tensor_3d(buf, 2, 12, 5);
    CHECK(t.rank == 3 && t.shape[2] == 5 && t.shape[3] == 1);
    CHECK_EQ_INT(nn_tensor_row_size(t), 60);

    t = nn_tensor_4d(buf, 2, 3, 4, 5);
    u = nn_tensor_view(buf, 4, shape);
    CHECK(nn_tensor_same_shape(t, u));
    CHECK(t.rank == 4 && t.shape[0] == 2 && t.shape[1] == 3 && t.shape[2] == 4 && t.shape[3] == 5);
    CHECK_EQ_INT(nn_tensor_size(t), 120);
    CHECK_EQ_INT(nn_tensor_row_size(t), 60);

    /* rows: a view of dim 0 */
    u = nn_tensor_rows(t, 1, 1);
    CHECK(u.data == buf + 60 && u.shape[0] == 1 && u.shape[1] == 3 && u.rank == 4);
    CHECK(u.data[0] == 60.0f);
    v = nn_tensor_rows(nn_tensor_2d(buf, 6, 20), 2, 3);
    CHECK(v.data == buf + 40 && v.shape[0] == 3 && v.shape[1] == 20);
    CHECK_EQ_INT(nn_tensor_size(v), 60);
    v = nn_tensor_rows(nn_tensor_2d(buf, 6, 20), 6, 0);
    CHECK(v.shape[0] == 0 && nn_tensor_size(v) == 0);
    v = nn_tensor_rows(nn_tensor_2d(NULL, 6, 20), 2, 3);
    CHECK(v.data == NULL && v.shape[0] == 3);

    /* reshape keeps the data */
    u = nn_tensor_reshape(t, 2, r2);
    CHECK(u.data == buf && u.rank == 2 && u.shape[0] == 6 && u.shape[1] == 20 && u.shape[2] == 1);
    u = nn_tensor_reshape(u, 3, r3);
    CHECK(u.rank == 3 && u.shape[1] == 12 && nn_tensor_size(u) == 120);

    /* same_shape compares rank and dims */
    CHECK(nn_tensor_same_shape(nn_tensor_2d(buf, 6, 20), nn_tensor_2d(NULL, 6, 20)));
    CHECK(!nn_tensor_same_shape(nn_tensor_2d(buf, 6, 20), nn_tensor_2d(buf, 20, 6)));
    CHECK(!nn_tensor_same_shape(nn_tensor_2d(buf, 6, 20), nn_tensor_3d(buf, 6, 20, 1)));
    CHECK(!nn_tensor_same_shape(nn_tensor_1d(buf, 120), nn_tensor_2d(buf, 120, 1)));

    /* alloc: zero-filled, aligned, shaped */
    CHECK_EQ_INT(nn_arena_init_heap(&a, 4096), NN_OK);
    CHECK(nn_arena_alloc(&a, 4) != NULL);
    t = nn_tensor_alloc(&a, 3, r3);
    CHECK(t.data != NULL && is_aligned64(t.data));
    CHECK(t.rank == 3 && t.shape[0] == 2 && t.shape[1] == 12 && t.shape[2] == 5 && t.shape[3] == 1);
    CHECK(t.data && all_zero(t.data, 120 * sizeof(float)));
    CHECK_EQ_INT(a.used, 64 + nn_arena_bytes_for(120 * sizeof(float)));
    nn_arena_deinit(&a);
}

/* ------------------------------------------------------------------ rng */

static void test_rng_streams(void) {
    nn_rng a, b, c, z;
    int i, same_ab = 1, diff_ac = 0, nonzero = 0;
    nn_rng_seed(&a, 42);
    nn_rng_seed(&b, 42);
    nn_rng_seed(&c, 43);
    nn_rng_seed(&z, 0);
    for (i = 0; i < 1000; i++) {
        uint64_t x = nn_rng_u64(&a), y = nn_rng_u64(&b), w = nn_rng_u64(&c);
        if (x != y) same_ab = 0;
        if (x != w) diff_ac++;
        if (nn_rng_u64(&z) != 0) nonzero++;
    }
    CHECK(same_ab);
    CHECKF(diff_ac >= 999, "seeds 42 and 43 agree on %d of 1000 outputs", 1000 - diff_ac);
    CHECK(nonzero >= 999); /* seed 0 is a valid seed */
    /* the state is the whole story: copying it forks an identical stream */
    b = a;
    CHECK(nn_rng_u64(&a) == nn_rng_u64(&b));
}

static void test_rng_uniform_normal(void) {
    nn_rng r;
    const int n = 100000;
    int i, in_range = 1, lo = 0, hi = 0, finite = 1;
    double s = 0, s2 = 0, mean, var;
    nn_rng_seed(&r, 7);
    for (i = 0; i < n; i++) {
        float u = nn_rng_uniform(&r);
        if (!(u >= 0.0f && u < 1.0f)) in_range = 0;
        if (u < 0.01f) lo++;
        if (u > 0.99f) hi++;
        s += u;
    }
    CHECK(in_range);
    CHECK_NEAR(s / n, 0.5, 0.01);
    CHECK(lo > 700 && lo < 1300 && hi > 700 && hi < 1300);

    s = 0;
    for (i = 0; i < n; i++) {
        float x = nn_rng_normal(&r);
        if (!(x - x == 0.0f)) finite = 0;
        s += x;
        s2 += (double)x * x;
    }
    mean = s / n;
    var = s2 / n - mean * mean;
    CHECK(finite);
    CHECK_NEAR(mean, 0.0, 0.02);
    CHECK_NEAR(var, 1.0, 0.03);
}

static void test_rng_below(void) {
    nn_rng r;
    int counts[7] = {0}, i, ok = 1, k;
    const uint32_t big[3] = {0xFFFFFFFFu, 0x80000001u, 1000000007u};
    nn_rng_seed(&r, 99);
    for (i = 0; i < 1000; i++)
        if (nn_rng_below(&r, 1) != 0) ok = 0;
    CHECK(ok);
    for (i = 0; i < 70000; i++) {
        uint32_t v = nn_rng_below(&r, 7);
        if (v >= 7) ok = 0;
        else counts[v]++;
    }
    CHECK(ok);
    for (i = 0; i < 7; i++) CHECKF(counts[i] > 9000 && counts[i] < 11000, "value %d seen %d times", i, counts[i]);
    for (k = 0; k < 3; k++) {
        uint32_t top = 0;
        for (i = 0; i < 10000; i++) {
            uint32_t v = nn_rng_below(&r, big[k]);
            if (v >= big[k]) ok = 0;
            if (v > top) top = v;
        }
        CHECK(ok);
        CHECK(top > big[k] / 10u * 9u); /* reaches the top of the range */
    }
}

static void test_rng_shuffle(void) {
    enum { N = 100 };
    int a[N], b[N], seen[N], i, perm = 1, moved = 0, same = 1;
    nn_rng r1, r2;
    for (i = 0; i < N; i++) a[i] = b[i] = i, seen[i] = 0;
    nn_rng_seed(&r1, 5);
    nn_rng_seed(&r2, 5);
    nn_rng_shuffle(&r1, a, N);
    nn_rng_shuffle(&r2, b, N);
    for (i = 0; i < N; i++) {
        if (a[i] < 0 || a[i] >= N || seen[a[i]]++) perm = 0;
        if (a[i] != i) moved++;
        if (a[i] != b[i]) same = 0;
    }
    CHECK(perm);
    CHECK(moved > N / 2);
    CHECK(same);
    nn_rng_shuffle(&r1, a, 0);
    a[0] = 3;
    nn_rng_shuffle(&r1, a, 1);
    CHECK(a[0] == 3);
}

/* ------------------------------------------------------------------ gemm */

/* Tolerance. Both nn_gemm and nn_gemm_ref sum K products in float, in different orders
   (blocked/FMA vs plain). Any float summation order is within gamma_K = K*u/(1-K*u) of the
   exact sum relative to sum|a_k b_k| (u = 2^-24); alpha and beta add a few more roundings.
   So each element is compared against the exact (double) result and against the other
   implementation with
       |got - want| <= 1e-5 |want| + 2 (K + 4) u mag,   mag = |alpha| sum_k |a_ik b_kj| + |beta c_ij|
   i.e. PARITY.md's rtol = 1e-5 plus an atol of 1e-5 scaled for K (2 (K+4) u = 1e-5 at K = 80,
   3.6e-5 at K = 300), taken relative to the dot product's own magnitude rather than the
   array's maximum so that cancelling elements are neither over- nor under-forgiven. The
   bound is rigorous, so no seed can make it flaky; a wrong index or a missing term is
   off by O(mag). */
#define GEMM_U (1.0 / 16777216.0)

typedef struct gemm_stats {
    int cases;
    double worst; /* largest |gemm - ref| / (2 (K+4) u mag) seen */
} gemm_stats;

static int gemm_case(nn_rng *r, int ta, int tb, int M, int N, int K, float alpha, float beta, int pad,
                     gemm_stats *st) {
    const float SENTINEL = 12345.0f;
    int rowsA = ta ? K : M, colsA = ta ? M : K, rowsB = tb ? N : K, colsB = tb ? K : N;
    int lda = colsA + pad, ldb = colsB + 2 * pad + (pad ? 1 : 0), ldc = N + pad;
    float *A = falloc((size_t)rowsA * lda), *B = falloc((size_t)rowsB * ldb);
    float *C0 = falloc((size_t)M * ldc), *C1 = falloc((size_t)M * ldc), *C2 = falloc((size_t)M * ldc);
    int i, j, k, ok = 1, bad_i = -1, bad_j = -1;
    double bad_got = 0, bad_want = 0, bad_tol = 0;
    float qnan = (float)NAN;
    for (i = 0; i < rowsA; i++)
        for (j = 0; j < lda; j++) A[(size_t)i * lda + j] = j < colsA ? 2.0f * nn_rng_uniform(r) - 1.0f : qnan;
    for (i = 0; i < rowsB; i++)
        for (j = 0; j < ldb; j++) B[(size_t)i * ldb + j] = j < colsB ? 2.0f * nn_rng_uniform(r) - 1.0f : qnan;
    for (i = 0; i < M; i++)
        for (j = 0; j < ldc; j++) C0[(size_t)i * ldc + j] = j < N ? 2.0f * nn_rng_uniform(r) - 1.0f : SENTINEL;
    memcpy(C1, C0, sizeof(float) * (size_t)M * ldc);
    if (beta == 0.0f) /* beta = 0 must not read C */
        for (i = 0; i < M; i++) fill_value(C1 + (size_t)i * ldc, (size_t)N, qnan);
    memcpy(C2, C1, sizeof(float) * (size_t)M * ldc);

    nn_gemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C1, ldc);
    nn_gemm_ref(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C2, ldc);

    for (i = 0; i < M; i++) {
        for (j = 0; j < ldc; j++) {
            size_t at = (size_t)i * ldc + j;
            double exact = 0, mag = 0, tol, c0;
            if (j >= N) {
                if (C1[at] != SENTINEL || C2[at] != SENTINEL) ok = 0, bad_i = i, bad_j = j;
                continue;
            }
            for (k = 0; k < K; k++) {
                double a = ta ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k];
                double b = tb ? B[(size_t)j * ldb + k] : B[(size_t)k * ldb + j];
                exact += a * b;
                mag += fabs(a * b);
            }
            c0 = beta != 0.0f ? (double)C0[at] : 0.0;
            exact = alpha * exact + beta * c0;
            mag = fabs((double)alpha) * mag + fabs((double)beta * c0);
            tol = 1e-5 * fabs(exact) + 2.0 * (K + 4) * GEMM_U * mag + 1e-30;
            if (mag > 0) {
                double e = fabs((double)C1[at] - C2[at]) / (2.0 * (K + 4) * GEMM_U * mag);
                if (e > st->worst) st->worst = e;
            }
            if (!(fabs(C1[at] - exact) <= tol && fabs(C2[at] - exact) <= tol &&
                  fabs((double)C1[at] - C2[at]) <= tol + 1e-5 * fabs(exact))) {
                if (ok) bad_i = i, bad_j = j, bad_got = C1[at], bad_want = C2[at], bad_tol = tol;
                ok = 0;
            }
        }
    }
    CHECKF(ok, "gemm ta=%d tb=%d M=%d N=%d K=%d alpha=%g beta=%g pad=%d: C[%d][%d] gemm %.9g ref %.9g tol %.3g",
           ta, tb, M, N, K, alpha, beta, pad, bad_i, bad_j, bad_got, bad_want, bad_tol);
    st->cases++;
    free(A);
    free(B);
    free(C0);
    free(C1);
    free(C2);
    return ok;
}

static const float GEMM_ALPHA[2] = {1.0f, 0.5f};
static const float GEMM_BETA[3] = {0.0f, 1.0f, -0.3f};

static void test_gemm_small(void) {
    static const int S[] = {1, 2, 3, 5, 6, 7, 16, 17}, KS[] = {1, 3, 7, 17};
    gemm_stats st = {0, 0.0};
    nn_rng r;
    int t, a, b, c, n = 0;
    nn_rng_seed(&r, 11);
    for (t = 0; t < 4; t++)
        for (a = 0; a < 8; a++)
            for (b = 0; b < 8; b++)
                for (c = 0; c < 4; c++, n++)
                    gemm_case(&r, t & 1, t >> 1, S[a], S[b], KS[c], GEMM_ALPHA[n % 2], GEMM_BETA[(n / 2) % 3],
                              n % 3 == 0 ? 0 : 3, &st);
    TEST_NOTE("gemm small: %d cases, worst |gemm-ref| = %.3f of the bound 2(K+4)u*mag (simd level %d)", st.cases,
              st.worst, nn_simd_level());
}

static void test_gemm_large(void) {
    static const int T[][3] = {{33, 64, 100}, {64, 33, 257}, {100, 17, 300}, {257, 5, 33}, {5, 257, 64},
                               {300, 300, 7}, {17, 100, 257}, {64, 64, 64},  {300, 257, 100}, {7, 300, 300},
                               {300, 7, 16},  {16, 17, 300}, {73, 129, 256}, {6, 16, 512}};
    const int nt = (int)(sizeof T / sizeof T[0]);
    gemm_stats st = {0, 0.0};
    nn_rng r;
    int t, i, n = 0;
    nn_rng_seed(&r, 12);
    for (i = 0; i < nt; i++)
        for (t = 0; t < 4; t++, n++)
            gemm_case(&r, t & 1, t >> 1, T[i][0], T[i][1], T[i][2], GEMM_ALPHA[n % 2], GEMM_BETA[(n / 2) % 3],
                      n % 2 ? 5 : 0, &st);
    TEST_NOTE("gemm large: %d cases, worst |gemm-ref| = %.3f of the bound 2(K+4)u*mag", st.cases, st.worst);
}

static void test_gemm_k0_and_empty(void) {
    float A[4] = {1, 2, 3, 4}, B[4] = {5, 6, 7, 8}, C[12], C0[12];
    int i, ok;
    nn_rng r;
    int pass;
    nn_rng_seed(&r, 13);
    fill_uniform(&r, C0, 12, -2.0f, 2.0f);
    for (pass = 0; pass < 2; pass++) {
        void (*g)(int, int, int, int, int, float, const float *, int, const float *, int, float, float *, int) =
            pass ? nn_gemm_ref : nn_gemm;
        /* K = 0: C = beta * C */
        memcpy(C, C0, sizeof C);
        g(0, 0, 3, 4, 0, 1.0f, A, 1, B, 4, -0.3f, C, 4);
        for (ok = 1, i = 0; i < 12; i++)
            if (C[i] != -0.3f * C0[i]) ok = 0;
        CHECKF(ok, "%s: K=0 beta=-0.3 is not beta*C", pass ? "ref" : "gemm");
        memcpy(C, C0, sizeof C);
        g(1, 1, 3, 4, 0, 0.5f, A, 3, B, 1, 1.0f, C, 4);
        CHECKF(memcmp(C, C0, sizeof C) == 0, "%s: K=0 beta=1 changed C", pass ? "ref" : "gemm");
        fill_value(C, 12, (float)NAN);
        g(0, 0, 3, 4, 0, 1.0f, A, 1, B, 4, 0.0f, C, 4);
        for (ok = 1, i = 0; i < 12; i++)
            if (C[i] != 0.0f) ok = 0;
        CHECKF(ok, "%s: K=0 beta=0 over NaN is not 0", pass ? "ref" : "gemm");
        /* M = 0 or N = 0: C untouched */
        memcpy(C, C0, sizeof C);
        g(0, 0, 0, 4, 2, 1.0f, A, 2, B, 4, 0.0f, C, 4);
        g(0, 0, 3, 0, 2, 1.0f, A, 2, B, 4, 0.0f, C, 4);
        CHECKF(memcmp(C, C0, sizeof C) == 0, "%s: empty product touched C", pass ? "ref" : "gemm");
    }
    /* alpha = 0, beta = 0 over NaN */
    fill_value(C, 12, (float)NAN);
    nn_gemm(0, 0, 3, 4, 1, 0.0f, A, 1, B, 4, 0.0f, C, 4);
    for (ok = 1, i = 0; i < 12; i++)
        if (C[i] != 0.0f) ok = 0;
    CHECK(ok);
}

/* The empty tensor ("no dx", "no bias") from one call, the same in C and C++. */
static void test_tensor_none(void) {
    nn_tensor t = nn_tensor_none();
    float w[6] = {1, 2, 3, 4, 5, 6}, x[3] = {1, 1, 1}, y[2] = {0, 0};
    CHECK(t.data == NULL && t.rank == 0);
    nn_dense_forward(nn_tensor_2d(y, 1, 2), nn_tensor_2d(x, 1, 3), nn_tensor_2d(w, 2, 3), nn_tensor_none());
    CHECK(y[0] == 6.0f && y[1] == 15.0f);
}

/* The AVX-512 kernel tiles C as 8x32 where AVX2 tiles it as 6x16, but every element
   gets the same FMAs in the same order: the two levels give the same bits (and on a CPU
   without AVX-512, level 3 runs the AVX2 kernel, so this holds trivially). Partial
   tiles, every transpose, alpha/beta and padded rows of C included; the narrow
   kernels (N <= 16: 12x16 against 6x16, A read in place, a last tile shifted up) and B read
   in place (M <= 32) too. */
static void test_gemm_levels_identical(void) {
    static const int T[][3] = {{1, 1, 1},   {8, 32, 9},    {9, 33, 17},  {7, 31, 5},   {64, 10, 128},
                               {64, 256, 33}, {33, 784, 64}, {17, 3, 300}, {100, 100, 100}, {257, 129, 300},
                               /* narrow C and B in place */
                               {6, 10, 37}, {11, 16, 300}, {12, 1, 5}, {13, 10, 128}, {25, 16, 257}, {7, 10, 600},
                               {256, 10, 128}, {10, 128, 64}, {32, 47, 33}, {20, 100, 257}, {3, 5, 9},
                               /* the row kernel (M < 6; the AVX-512 one takes B's rows 4 at a time) */
                               {1, 256, 784}, {3, 17, 33}, {5, 9, 16}, {1, 7, 15}, {2, 4, 8}, {4, 13, 47},
                               {1, 128, 256}, {2, 5, 31}};
    const int nt = (int)(sizeof T / sizeof T[0]);
    nn_rng r;
    int t, i, n = 0, same = 0, cases = 0;
    nn_rng_seed(&r, 21);
    for (i = 0; i < nt; i++)
        for (t = 0; t < 4; t++, n++) {
            int M = T[i][0], N = T[i][1], K = T[i][2], ta = t & 1, tb = t >> 1, ldc = N + (n % 2 ? 3 : 0);
            float alpha = GEMM_ALPHA[n % 2], beta = GEMM_BETA[(n / 2) % 3];
            float *A = falloc((size_t)M * K), *B = falloc((size_t)K * N), *C1 = falloc((size_t)M * ldc),
                  *C3 = falloc((size_t)M * ldc);
            fill_uniform(&r, A, (size_t)M * K, -1, 1);
            fill_uniform(&r, B, (size_t)K * N, -1, 1);
            fill_uniform(&r, C1, (size_t)M * ldc, -1, 1);
            memcpy(C3, C1, sizeof(float) * (size_t)M * ldc);
            nn_gemm_at(1, ta, tb, M, N, K, alpha, A, ta ? M : K, B, tb ? K : N, beta, C1, ldc);
            nn_gemm_at(3, ta, tb, M, N, K, alpha, A, ta ? M : K, B, tb ? K : N, beta, C3, ldc);
            cases++;
            same += memcmp(C1, C3, sizeof(float) * (size_t)M * ldc) == 0;
            CHECKF(memcmp(C1, C3, sizeof(float) * (size_t)M * ldc) == 0,
                   "AVX-512 and AVX2 differ: M=%d N=%d K=%d ta=%d tb=%d beta=%g", M, N, K, ta, tb, beta);
            free(A);
            free(B);
            free(C1);
            free(C3);
        }
    TEST_NOTE("gemm levels: %d of %d cases bit-identical between levels 1 and 3 (this CPU: %s)", same, cases,
              nn_simd_name());
}

static void test_gemm_deterministic(void) {
    const int M = 257, N = 300, K = 300;
    float *A = falloc((size_t)M * K), *B = falloc((size_t)K * N), *C1 = falloc((size_t)M * N),
          *C2 = falloc((size_t)M * N);
    nn_rng r;
    int t;
    nn_rng_seed(&r, 14);
    fill_uniform(&r, A, (size_t)M * K, -1, 1);
    fill_uniform(&r, B, (size_t)K * N, -1, 1);
    for (t = 0; t < 4; t++) {
        nn_gemm(t & 1, t >> 1, M, N, K, 1.0f, A, (t & 1) ? M : K, B, (t >> 1) ? K : N, 0.0f, C1, N);
        nn_gemm(t & 1, t >> 1, M, N, K, 1.0f, A, (t & 1) ? M : K, B, (t >> 1) ? K : N, 0.0f, C2, N);
        CHECKF(memcmp(C1, C2, sizeof(float) * (size_t)M * N) == 0, "trans %d: two runs differ", t);
    }
#ifdef _OPENMP
    {
        int threads[3] = {1, 2, 3}, i, saved = omp_get_max_threads();
        nn_gemm(0, 1, M, N, K, 1.0f, A, K, B, K, 0.0f, C1, N);
        for (i = 0; i < 3; i++) {
            omp_set_num_threads(threads[i]);
            fill_value(C2, (size_t)M * N, 0.0f);
            nn_gemm(0, 1, M, N, K, 1.0f, A, K, B, K, 0.0f, C2, N);
            CHECKF(memcmp(C1, C2, sizeof(float) * (size_t)M * N) == 0, "%d threads differ from %d", threads[i],
                   saved);
        }
        omp_set_num_threads(saved);
        TEST_NOTE("OpenMP: %d threads, results bit-identical for 1, 2 and 3 threads", saved);
    }
#endif
    free(A);
    free(B);
    free(C1);
    free(C2);
}

/* The size breakdown adds up to the exact query and names the right parts. */
static void test_model_sizes_breakdown(void) {
    nn_layer_desc ls[4];
    nn_model_desc d;
    nn_model_sizes z;
    ls[0] = ld_dense(256, NN_ACT_RELU);
    ls[1] = nn_batchnorm();
    ls[2] = ld_dense(128, NN_ACT_RELU);
    ls[3] = ld_dense(10, NN_ACT_IDENTITY);
    d = md_make(784, 64, ls, 4, 1);
    CHECK_EQ_INT(nn_model_sizes_query(&d, &z), NN_OK);
    CHECK(z.total == nn_model_arena_bytes(&d));
    CHECK(z.params == nn_arena_bytes_for(sizeof(float) * nn_model_param_count(&d)) && z.grads == z.params);
    CHECK(z.buffers == nn_arena_bytes_for(sizeof(float) * 2 * 256));  /* running mean and var */
    CHECK(z.scratch >= sizeof(float) * 64 * (256 + 256 + 256 + 128 + 128 + 10)); /* every layer's output */
    CHECK(z.params + z.grads + z.buffers + z.scratch + z.tables == z.total);
    d.inputs = 0;
    CHECK_EQ_INT(nn_model_sizes_query(&d, &z), NN_ERR_INVALID_ARGUMENT);
}

/* Trains a 256-300-200-10 MLP (every GEMM form; big enough that the GEMMs use
   threads, with both column and row slabs) for a few Adam steps and returns
   a copy of the weights. */
static float *train_threads_run(int threads) {
    enum { IN = 256, B = 64, STEPS = 6 };
    nn_layer_desc ls[3];
    nn_model_desc d;
    nn_model m;
    nn_arena a;
    nn_optim o;
    nn_optim_desc od;
    float x[B * IN], *out;
    int y[B], step, i;
    nn_rng r;
#ifdef _OPENMP
    omp_set_num_threads(threads);
#else
    (void)threads;
#endif
    ls[0] = ld_dense(300, NN_ACT_RELU);
    ls[1] = ld_dense(200, NN_ACT_TANH);
    ls[2] = ld_dense(10, NN_ACT_IDENTITY);
    d = md_make(IN, B, ls, 3, 77);
    od = nn_optim_desc_default(NN_OPTIM_ADAM);
    if (!model_make(&m, &a, &d, nn_optim_arena_bytes(&od, nn_model_param_count(&d))) ||
        nn_optim_init(&o, &a, &od, m.n_params) != NN_OK)
        return NULL;
    nn_rng_seed(&r, 5);
    for (step = 0; step < STEPS; step++) {
        nn_tensor z, dz;
        fill_uniform(&r, x, B * IN, -1, 1);
        for (i = 0; i < B; i++) y[i] = (int)nn_rng_below(&r, 10);
        z = nn_model_forward(&m, nn_tensor_2d(x, B, IN));
        dz = nn_model_output_grad(&m);
        nn_loss_cross_entropy(dz, z, y);
        nn_model_zero_grad(&m);
        nn_model_backward(&m, dz);
        nn_optim_step(&o, m.params, m.grads, m.n_params);
    }
    out = falloc(m.n_params);
    memcpy(out, m.params, sizeof(float) * m.n_params);
    nn_arena_deinit(&a);
    return out;
}

/* Same seed, same data: bit-identical weights at any thread count (and run
   after run without OpenMP). */
static void test_training_threads_bit_identical(void) {
    size_t n = 256 * 300 + 300 + 300 * 200 + 200 + 200 * 10 + 10;
    float *ref = train_threads_run(1), *other;
    int t;
#ifdef _OPENMP
    int saved = omp_get_max_threads();
#endif
    CHECK(ref != NULL);
    if (!ref) return;
    for (t = 1; t <= 3; t++) {
        other = train_threads_run(t);
        CHECK(other != NULL);
        if (other) CHECKF(memcmp(ref, other, sizeof(float) * n) == 0, "training at %d threads differs from 1 thread", t);
        free(other);
    }
#ifdef _OPENMP
    omp_set_num_threads(saved);
    TEST_NOTE("Adam training of a 256-300-200-10 MLP: weights bit-identical at 1, 2 and 3 threads");
#endif
    free(ref);
}

/* ------------------------------------------------------------------ PyTorch parity */
/* One family = fixture files <prefix>_<shape>.txt and a checker. To add one: write a
   checker, add a row to PARITY_FAMILIES and a one-line test function. */

typedef struct parity_stats {
    double worst_rel;    /* worst |got-want| / |want| over |want| >= 1e-3 max|want| */
    double worst_scaled; /* worst |got-want| / max|want| of its array */
    int arrays, cases;
} parity_stats;

/* Compare got with a fixture tensor under PARITY.md's rule. Returns 1 when it matches. */
static int parity_cmp(parity_stats *st, const char *file, const char *what, const float *got, const fx_tensor *want,
                      double rtol, double atol) {
    double worst = 0, scale = 0, dmax = 0;
    int i, ok = fx_close(got, want->data, want->size, rtol, atol, NULL);
    for (i = 0; i < want->size; i++)
        if (fabs(want->data[i]) > scale) scale = fabs(want->data[i]);
    /* Relative error is reported where it means something: elements below 1e-3 of the
       array's scale are governed by the atol term (see PARITY.md). */
    for (i = 0; i < want->size; i++) {
        double d = fabs((double)got[i] - want->data[i]), e = fabs(want->data[i]);
        if (got[i] == want->data[i]) continue;
        if (!(d <= dmax)) dmax = d;
        if (e >= 1e-3 * scale && !(d / e <= worst)) worst = d / e;
    }
    CHECKF(ok, "%s: '%s' differs from PyTorch (rtol %g, atol %g)", file, what, rtol, atol);
    if (!(worst <= st->worst_rel)) st->worst_rel = worst;
    if (scale > 0 && !(dmax / scale <= st->worst_scaled)) st->worst_scaled = dmax / scale;
    st->arrays++;
    return ok;
}

static const fx_tensor *fx_need(const fx_file *f, const char *name) {
    const fx_tensor *t = fx_get(f, name);
    CHECKF(t != NULL, "%s: no tensor '%s'", f->path, name);
    return t;
}

/* A tensor that may be absent (no message). */
static const fx_tensor *fx_find(const fx_file *f, const char *name) {
    int i;
    for (i = 0; i < f->n; i++)
        if (strcmp(f->t[i].name, name) == 0) return &f->t[i];
    return NULL;
}

typedef void (*parity_fn)(const fx_file *f, int arg, parity_stats *st);

static void parity_dense(const fx_file *f, int arg, parity_stats *st) {
    const fx_tensor *x = fx_need(f, "x"), *w = fx_need(f, "w"), *b = fx_need(f, "b"), *dy = fx_need(f, "dy"),
                    *y = fx_need(f, "y"), *dx = fx_need(f, "dx"), *dw = fx_need(f, "dw"), *db = fx_need(f, "db");
    int B, IN, OUT, i;
    float *yb, *dxb, *dwb, *dbb, *dx1, *dw1, *db1, *dw2, *db2;
    nn_tensor tx, tw, tb, tdy, tdx, tdw, tdb;
    (void)arg;
    if (!x || !w || !b || !dy || !y || !dx || !dw || !db) return;
    B = x->shape[0];
    IN = x->shape[1];
    OUT = w->shape[0];
    tx = nn_tensor_2d(x->data, B, IN);
    tw = nn_tensor_2d(w->data, OUT, IN);
    tb = nn_tensor_1d(b->data, OUT);
    tdy = nn_tensor_2d(dy->data, B, OUT);
    yb = falloc((size_t)B * OUT);
    dxb = falloc((size_t)B * IN);
    dwb = falloc((size_t)OUT * IN);
    dbb = falloc((size_t)OUT);
    dx1 = falloc((size_t)B * IN);
    dw1 = falloc((size_t)OUT * IN);
    db1 = falloc((size_t)OUT);
    dw2 = falloc((size_t)OUT * IN);
    db2 = falloc((size_t)OUT);
    fill_value(yb, (size_t)B * OUT, (float)NAN);
    fill_value(dxb, (size_t)B * IN, (float)NAN); /* dx is written, not accumulated */
    fill_value(dwb, (size_t)OUT * IN, 0.0f);
    fill_value(dbb, (size_t)OUT, 0.0f);
    tdx = nn_tensor_2d(dxb, B, IN);
    tdw = nn_tensor_2d(dwb, OUT, IN);
    tdb = nn_tensor_1d(dbb, OUT);

    nn_dense_forward(nn_tensor_2d(yb, B, OUT), tx, tw, tb);
    parity_cmp(st, f->path, "y", yb, y, 1e-5, 1e-5);
    nn_dense_backward(tdx, tdw, tdb, tdy, tx, tw);
    parity_cmp(st, f->path, "dx", dxb, dx, 1e-5, 1e-5);
    parity_cmp(st, f->path, "dw", dwb, dw, 1e-5, 1e-5);
    parity_cmp(st, f->path, "db", dbb, db, 1e-5, 1e-5);
    memcpy(dx1, dxb, sizeof(float) * (size_t)B * IN);
    memcpy(dw1, dwb, sizeof(float) * (size_t)OUT * IN);
    memcpy(db1, dbb, sizeof(float) * (size_t)OUT);

    /* a second backward accumulates: 2x the gradients; dx is overwritten, unchanged */
    nn_dense_backward(tdx, tdw, tdb, tdy, tx, tw);
    CHECKF(memcmp(dx1, dxb, sizeof(float) * (size_t)B * IN) == 0, "%s: dx changed on a second backward", f->path);
    for (i = 0; i < OUT * IN; i++) dw2[i] = 2.0f * dw->data[i];
    for (i = 0; i < OUT; i++) db2[i] = 2.0f * db->data[i];
    CHECKF(fx_close(dwb, dw2, OUT * IN, 1e-5, 1e-5, NULL), "%s: dw after two backwards is not 2x", f->path);
    CHECKF(fx_close(dbb, db2, OUT, 1e-5, 1e-5, NULL), "%s: db after two backwards is not 2x", f->path);
    for (i = 0; i < OUT * IN; i++) dw2[i] = 2.0f * dw1[i];
    CHECKF(fx_close(dwb, dw2, OUT * IN, 1e-6, 1e-6, NULL), "%s: dw accumulation is not dw + dw", f->path);

    /* NULL dx and db are skipped; dw alone is the same */
    fill_value(dwb, (size_t)OUT * IN, 0.0f);
    nn_dense_backward(nn_tensor_2d(NULL, B, IN), tdw, nn_tensor_1d(NULL, OUT), tdy, tx, tw);
    CHECKF(memcmp(dwb, dw1, sizeof(float) * (size_t)OUT * IN) == 0, "%s: dw alone differs", f->path);

    free(yb);
    free(dxb);
    free(dwb);
    free(dbb);
    free(dx1);
    free(dw1);
    free(db1);
    free(dw2);
    free(db2);
}

static void parity_act(const fx_file *f, int arg, parity_stats *st) {
    nn_act act = (nn_act)arg;
    const fx_tensor *x = fx_need(f, "x"), *dy = fx_need(f, "dy"), *y = fx_need(f, "y"), *dx = fx_need(f, "dx");
    const fx_tensor *al_t = fx_find(f, "alpha");
    float alpha = al_t ? al_t->data[0] : 0.0f;
    /* ReLU and identity are exact (a select or a copy); the others are within 1e-5. */
    double tol = (act == NN_ACT_RELU || act == NN_ACT_IDENTITY) ? 0.0 : 1e-5;
    float *yb, *dxb, *al, *y2, *dx2;
    nn_tensor tx, tdy, ty, tdx;
    int B, N;
    size_t n, bytes;
    if (!x || !dy || !y || !dx) return;
    B = x->shape[0];
    N = x->shape[1];
    n = (size_t)B * N;
    bytes = n * sizeof(float);
    yb = falloc(n);
    dxb = falloc(n);
    al = falloc(n);
    y2 = falloc(n);
    dx2 = falloc(n);
    fill_value(yb, n, (float)NAN);
    fill_value(dxb, n, (float)NAN);
    tx = nn_tensor_2d(x->data, B, N);
    tdy = nn_tensor_2d(dy->data, B, N);
    ty = nn_tensor_2d(yb, B, N);
    tdx = nn_tensor_2d(dxb, B, N);
    nn_act_forward(act, alpha, ty, tx);
    parity_cmp(st, f->path, "y", yb, y, tol, tol);
    nn_act_backward(act, alpha, tdx, tdy, tx, ty);
    parity_cmp(st, f->path, "dx", dxb, dx, tol, tol);

    /* dx may alias dy */
    memcpy(al, dy->data, bytes);
    nn_act_backward(act, alpha, nn_tensor_2d(al, B, N), nn_tensor_2d(al, B, N), tx, ty);
    CHECKF(memcmp(al, dxb, bytes) == 0, "%s: dx aliasing dy differs", f->path);
    /* any shape: the same data viewed as 4-D */
    nn_act_forward(act, alpha, nn_tensor_4d(y2, 1, B, 1, N), nn_tensor_4d(x->data, 1, B, 1, N));
    CHECKF(memcmp(y2, yb, bytes) == 0, "%s: 4-D view differs", f->path);
    /* the named wrappers are the same functions */
    fill_value(y2, n, (float)NAN);
    fill_value(dx2, n, (float)NAN);
    switch (act) {
    case NN_ACT_RELU:
        nn_relu_forward(nn_tensor_2d(y2, B, N), tx);
        nn_relu_backward(nn_tensor_2d(dx2, B, N), tdy, tx);
        break;
    case NN_ACT_SIGMOID:
        nn_sigmoid_forward(nn_tensor_2d(y2, B, N), tx);
        nn_sigmoid_backward(nn_tensor_2d(dx2, B, N), tdy, ty);
        break;
    case NN_ACT_TANH:
        nn_tanh_forward(nn_tensor_2d(y2, B, N), tx);
        nn_tanh_backward(nn_tensor_2d(dx2, B, N), tdy, ty);
        break;
    case NN_ACT_SOFTMAX:
        nn_softmax_forward(nn_tensor_2d(y2, B, N), tx);
        nn_softmax_backward(nn_tensor_2d(dx2, B, N), tdy, ty);
        break;
    default:
        memcpy(y2, yb, bytes);
        memcpy(dx2, dxb, bytes);
        break;
    }
    CHECKF(memcmp(y2, yb, bytes) == 0 && memcmp(dx2, dxb, bytes) == 0, "%s: named wrapper differs", f->path);
    free(yb);
    free(dxb);
    free(al);
    free(y2);
    free(dx2);
}

/* Losses: pred (B,C), target (B,C) or labels (B) stored as floats, loss, dpred;
   extra tensors delta (Huber) and weight (class weights). */
enum {
    LOSS_MSE,
    LOSS_L1,
    LOSS_HUBER,
    LOSS_BCE,
    LOSS_BCE_LOGITS,
    LOSS_CE_LABELS,
    LOSS_CE_WEIGHTED,
    LOSS_CE_PROBS
};

static float loss_eval(int kind, const fx_file *f, nn_tensor d, nn_tensor p, const fx_tensor *t, const int *labels) {
    const fx_tensor *w = fx_find(f, "weight"), *delta = fx_find(f, "delta");
    nn_tensor tt = nn_tensor_2d(t->data, p.shape[0], t->size / p.shape[0]);
    switch (kind) {
    case LOSS_MSE: return nn_loss_mse(d, p, tt);
    case LOSS_L1: return nn_loss_l1(d, p, tt);
    case LOSS_HUBER: return nn_loss_huber(d, p, tt, delta ? delta->data[0] : 1.0f);
    case LOSS_BCE: return nn_loss_bce(d, p, tt);
    case LOSS_BCE_LOGITS: return nn_loss_bce_logits(d, p, tt);
    case LOSS_CE_LABELS: return nn_loss_cross_entropy(d, p, labels);
    case LOSS_CE_WEIGHTED: return nn_loss_cross_entropy_weighted(d, p, labels, w ? w->data : NULL);
    case LOSS_CE_PROBS: return nn_loss_cross_entropy_probs(d, p, tt, w ? w->data : NULL);
    }
    return (float)NAN;
}

static void parity_loss(const fx_file *f, int kind, parity_stats *st) {
    const fx_tensor *p = fx_need(f, "pred"), *t = fx_need(f, "target"), *l = fx_need(f, "loss"),
                    *dp = fx_need(f, "dpred");
    int B, C, i, *labels;
    float *d, loss, loss2;
    nn_tensor tp;
    if (!p || !t || !l || !dp) return;
    B = p->shape[0];
    C = p->shape[1];
    tp = nn_tensor_2d(p->data, B, C);
    labels = (int *)malloc(sizeof(int) * (size_t)B);
    d = falloc((size_t)B * C);
    if (!labels) exit(2);
    for (i = 0; i < B; i++) labels[i] = (kind == LOSS_CE_LABELS || kind == LOSS_CE_WEIGHTED) ? (int)t->data[i] : 0;
    fill_value(d, (size_t)B * C, (float)NAN);
    loss = loss_eval(kind, f, nn_tensor_2d(d, B, C), tp, t, labels);
    parity_cmp(st, f->path, "loss", &loss, l, 1e-5, 1e-5);
    parity_cmp(st, f->path, "dpred", d, dp, 1e-5, 1e-5);
    loss2 = loss_eval(kind, f, nn_tensor_2d(NULL, B, C), tp, t, labels);
    CHECKF(loss2 == loss, "%s: loss without gradient differs", f->path);
    free(labels);
    free(d);
}

/* torch.optim on g = a (p - c) + noise[t] for two parameters p0 (17) and p1 (3), passed
   as two named runs. Hyperparameters come from the fixture; param-group files give p1 no
   weight decay, which nn.h expresses with no_decay. */
static float fx_opt(const fx_file *f, const char *name, float dflt) {
    const fx_tensor *t = fx_find(f, name);
    return t ? t->data[0] : dflt;
}

static void parity_optim(const fx_file *f, int kind, parity_stats *st) {
    const fx_tensor *p0 = fx_need(f, "p0"), *p1 = fx_need(f, "p1"), *a0 = fx_need(f, "a0"), *c0 = fx_need(f, "c0"),
                    *a1 = fx_need(f, "a1"), *c1 = fx_need(f, "c1"), *n0 = fx_need(f, "noise0"),
                    *n1 = fx_need(f, "noise1"), *tr0 = fx_need(f, "traj0"), *tr1 = fx_need(f, "traj1");
    int steps = (int)fx_scalar(f, "steps"), groups = fx_find(f, "weight_decay0") != NULL, t, i, n_0, n_1;
    float *p, *g, *got0, *got1;
    nn_optim_desc od;
    nn_param runs[2];
    nn_optim o;
    nn_arena a;
    if (!p0 || !p1 || !a0 || !c0 || !a1 || !c1 || !n0 || !n1 || !tr0 || !tr1) return;
    CHECKF(fx_opt(f, "maximize", 0.0f) == 0.0f && (!groups || fx_opt(f, "weight_decay1", 0.0f) == 0.0f),
           "%s: a setting nn.h does not have", f->path);
    /* torch.optim's defaults for what the fixture does not set; its values literally */
    od = nn_optim_desc_default((nn_optim_kind)kind);
    od.lr = fx_opt(f, "lr", od.lr);
    od.momentum = fx_opt(f, "momentum", od.momentum);
    od.dampening = fx_opt(f, "dampening", od.dampening);
    od.nesterov = fx_opt(f, "nesterov", (float)od.nesterov) != 0.0f;
    od.beta1 = fx_opt(f, "beta1", od.beta1);
    od.beta2 = fx_opt(f, "beta2", od.beta2);
    od.eps = fx_opt(f, "eps", od.eps);
    od.alpha = fx_opt(f, "alpha", od.alpha);
    od.centered = fx_opt(f, "centered", (float)od.centered) != 0.0f;
    od.amsgrad = fx_opt(f, "amsgrad", (float)od.amsgrad) != 0.0f;
    od.lr_decay = fx_opt(f, "lr_decay", od.lr_decay);
    od.initial_accumulator_value = fx_opt(f, "initial_accumulator_value", od.initial_accumulator_value);
    od.weight_decay = groups ? fx_opt(f, "weight_decay0", od.weight_decay) : fx_opt(f, "weight_decay", od.weight_decay);
    od.lookahead_k = (int)fx_opt(f, "k", (float)od.lookahead_k);
    od.lookahead_alpha = fx_opt(f, "la_alpha", od.lookahead_alpha);
    n_0 = p0->size;
    n_1 = p1->size;
    p = falloc((size_t)(n_0 + n_1));
    g = falloc((size_t)(n_0 + n_1));
    got0 = falloc((size_t)steps * n_0);
    got1 = falloc((size_t)steps * n_1);
    memcpy(p, p0->data, sizeof(float) * (size_t)n_0);
    memcpy(p + n_0, p1->data, sizeof(float) * (size_t)n_1);
    memset(runs, 0, sizeof runs);
    runs[0].name = "p0";
    runs[0].data = p;
    runs[0].grad = g;
    runs[0].size = (size_t)n_0;
    runs[1].name = "p1";
    runs[1].data = p + n_0;
    runs[1].grad = g + n_0;
    runs[1].size = (size_t)n_1;
    runs[1].no_decay = groups;
    CHECK_EQ_INT(nn_arena_init_heap(&a, nn_optim_arena_bytes(&od, (size_t)(n_0 + n_1))), NN_OK);
    if (!CHECK_EQ_INT(nn_optim_init(&o, &a, &od, (size_t)(n_0 + n_1)), NN_OK)) {
        nn_arena_deinit(&a);
        return;
    }
    for (t = 0; t < steps; t++) {
        for (i = 0; i < n_0 + n_1; i++) {
            float ai = i < n_0 ? a0->data[i] : a1->data[i - n_0];
            float ci = i < n_0 ? c0->data[i] : c1->data[i - n_0];
            float ni = i < n_0 ? n0->data[t * n_0 + i] : n1->data[t * n_1 + i - n_0];
            float gi = ai * (p[i] - ci); /* float32: a (p - c) first, then + noise */
            g[i] = gi + ni;
        }
        if (!CHECK_EQ_INT(nn_optim_step_params(&o, runs, 2), NN_OK)) break;
        memcpy(got0 + (size_t)t * n_0, p, sizeof(float) * (size_t)n_0);
        memcpy(got1 + (size_t)t * n_1, p + n_0, sizeof(float) * (size_t)n_1);
    }
    parity_cmp(st, f->path, "traj0", got0, tr0, 1e-5, 1e-5);
    parity_cmp(st, f->path, "traj1", got1, tr1, 1e-5, 1e-5);
    nn_arena_deinit(&a);
    free(p);
    free(g);
    free(got0);
    free(got1);
}

static const char *const DENSE_SHAPES[] = {"1x1x1", "1x3x17", "2x33x17", "3x17x33", "64x33x3", NULL};
static const char *const ACT_SHAPES[] = {"1x1", "1x33", "3x17", "64x33", NULL};
static const char *const LOSS_SHAPES[] = {"1x1", "1x33", "3x17", "64x10", NULL};
static const char *const ONEHOT_SHAPES[] = {"3x17", "64x10", NULL};
static const char *const BCE_EDGE_SHAPES[] = {"1x6", NULL};
static const char *const NO_SHAPE[] = {"", NULL};

typedef struct parity_family {
    const char *prefix;
    const char *const *shapes;
    parity_fn fn;
    int arg;
} parity_family;

static const parity_family PARITY_FAMILIES[] = {
    {"dense", DENSE_SHAPES, parity_dense, 0},
    {"relu", ACT_SHAPES, parity_act, NN_ACT_RELU},
    {"sigmoid", ACT_SHAPES, parity_act, NN_ACT_SIGMOID},
    {"tanh", ACT_SHAPES, parity_act, NN_ACT_TANH},
    {"identity", ACT_SHAPES, parity_act, NN_ACT_IDENTITY},
    {"leaky_relu", ACT_SHAPES, parity_act, NN_ACT_LEAKY_RELU},
    {"elu", ACT_SHAPES, parity_act, NN_ACT_ELU},
    {"gelu", ACT_SHAPES, parity_act, NN_ACT_GELU},
    {"gelu_tanh", ACT_SHAPES, parity_act, NN_ACT_GELU_TANH},
    {"silu", ACT_SHAPES, parity_act, NN_ACT_SILU},
    {"softplus", ACT_SHAPES, parity_act, NN_ACT_SOFTPLUS},
    {"softmax", ACT_SHAPES, parity_act, NN_ACT_SOFTMAX},
    {"ce_labels", LOSS_SHAPES, parity_loss, LOSS_CE_LABELS},
    {"ce_labels_weighted", LOSS_SHAPES, parity_loss, LOSS_CE_WEIGHTED},
    {"ce_probs", LOSS_SHAPES, parity_loss, LOSS_CE_PROBS},
    {"ce_probs_weighted", LOSS_SHAPES, parity_loss, LOSS_CE_PROBS},
    {"ce_probs_onehot", ONEHOT_SHAPES, parity_loss, LOSS_CE_PROBS},
    {"mse", LOSS_SHAPES, parity_loss, LOSS_MSE},
    {"l1", LOSS_SHAPES, parity_loss, LOSS_L1},
    {"huber_d07", LOSS_SHAPES, parity_loss, LOSS_HUBER},
    {"huber_d10", LOSS_SHAPES, parity_loss, LOSS_HUBER},
    {"bce", LOSS_SHAPES, parity_loss, LOSS_BCE},
    {"bce_edge", BCE_EDGE_SHAPES, parity_loss, LOSS_BCE},
    {"bce_logits", LOSS_SHAPES, parity_loss, LOSS_BCE_LOGITS},
    {"opt_sgd_plain", NO_SHAPE, parity_optim, NN_OPTIM_SGD},
    {"opt_sgd_momentum", NO_SHAPE, parity_optim, NN_OPTIM_SGD},
    {"opt_sgd_dampening", NO_SHAPE, parity_optim, NN_OPTIM_SGD},
    {"opt_sgd_nesterov", NO_SHAPE, parity_optim, NN_OPTIM_SGD},
    {"opt_sgd_wd", NO_SHAPE, parity_optim, NN_OPTIM_SGD},
    {"opt_sgd_groups", NO_SHAPE, parity_optim, NN_OPTIM_SGD},
    {"opt_adagrad_default", NO_SHAPE, parity_optim, NN_OPTIM_ADAGRAD},
    {"opt_adagrad_decay", NO_SHAPE, parity_optim, NN_OPTIM_ADAGRAD},
    {"opt_adagrad_wd", NO_SHAPE, parity_optim, NN_OPTIM_ADAGRAD},
    {"opt_rmsprop_default", NO_SHAPE, parity_optim, NN_OPTIM_RMSPROP},
    {"opt_rmsprop_momentum", NO_SHAPE, parity_optim, NN_OPTIM_RMSPROP},
    {"opt_rmsprop_centered", NO_SHAPE, parity_optim, NN_OPTIM_RMSPROP},
    {"opt_rmsprop_centered_momentum_wd", NO_SHAPE, parity_optim, NN_OPTIM_RMSPROP},
    {"opt_adam_default", NO_SHAPE, parity_optim, NN_OPTIM_ADAM},
    {"opt_adam_amsgrad", NO_SHAPE, parity_optim, NN_OPTIM_ADAM},
    {"opt_adam_wd", NO_SHAPE, parity_optim, NN_OPTIM_ADAM},
    {"opt_adam_betas", NO_SHAPE, parity_optim, NN_OPTIM_ADAM},
    {"opt_adamw_default", NO_SHAPE, parity_optim, NN_OPTIM_ADAMW},
    {"opt_adamw_wd_amsgrad", NO_SHAPE, parity_optim, NN_OPTIM_ADAMW},
    {"opt_adamw_groups", NO_SHAPE, parity_optim, NN_OPTIM_ADAMW},
    {"opt_lookahead_sgd", NO_SHAPE, parity_optim, NN_OPTIM_SGD},
    {"opt_lookahead_adam", NO_SHAPE, parity_optim, NN_OPTIM_ADAM},
};

static void run_family(const char *prefix) {
    const parity_family *fam = NULL;
    parity_stats st;
    int i;
    memset(&st, 0, sizeof st);
    for (i = 0; i < (int)(sizeof PARITY_FAMILIES / sizeof PARITY_FAMILIES[0]); i++)
        if (strcmp(PARITY_FAMILIES[i].prefix, prefix) == 0) fam = &PARITY_FAMILIES[i];
    CHECKF(fam != NULL, "no parity family '%s'", prefix);
    if (!fam) return;
    for (i = 0; fam->shapes[i]; i++) {
        char path[256];
        fx_file f;
        snprintf(path, sizeof path, "%s%s%s%s.txt", FIXTURE_DIR, fam->prefix, fam->shapes[i][0] ? "_" : "",
                 fam->shapes[i]);
        if (!CHECKF(fx_load(&f, path) == 0, "cannot load %s", path)) continue;
        fam->fn(&f, fam->arg, &st);
        st.cases++;
        fx_free(&f);
    }
    TEST_NOTE("parity %-32s %d cases, %2d arrays: worst rel err %.2e, worst |diff|/max|want| %.2e", prefix,
              st.cases, st.arrays, st.worst_rel, st.worst_scaled);
}

static void test_parity_dense(void) { run_family("dense"); }
static void test_parity_relu(void) { run_family("relu"); }
static void test_parity_sigmoid(void) { run_family("sigmoid"); }
static void test_parity_tanh(void) { run_family("tanh"); }
static void test_parity_identity(void) { run_family("identity"); }
static void test_parity_leaky_relu(void) { run_family("leaky_relu"); }
static void test_parity_elu(void) { run_family("elu"); }
static void test_parity_gelu(void) { run_family("gelu"); }
static void test_parity_gelu_tanh(void) { run_family("gelu_tanh"); }
static void test_parity_silu(void) { run_family("silu"); }
static void test_parity_softplus(void) { run_family("softplus"); }
static void test_parity_softmax(void) { run_family("softmax"); }
static void test_parity_ce_labels(void) { run_family("ce_labels"); }
static void test_parity_ce_labels_weighted(void) { run_family("ce_labels_weighted"); }
static void test_parity_ce_probs(void) { run_family("ce_probs"); }
static void test_parity_ce_probs_weighted(void) { run_family("ce_probs_weighted"); }
static void test_parity_ce_probs_onehot(void) { run_family("ce_probs_onehot"); }
static void test_parity_mse(void) { run_family("mse"); }
static void test_parity_l1(void) { run_family("l1"); }
static void test_parity_huber(void) {
    run_family("huber_d07");
    run_family("huber_d10");
}
static void test_parity_bce(void) {
    run_family("bce");
    run_family("bce_edge");
}
static void test_parity_bce_logits(void) { run_family("bce_logits"); }
static void test_parity_opt_sgd(void) {
    run_family("opt_sgd_plain");
    run_family("opt_sgd_momentum");
    run_family("opt_sgd_dampening");
    run_family("opt_sgd_nesterov");
    run_family("opt_sgd_wd");
    run_family("opt_sgd_groups");
}
static void test_parity_opt_adagrad(void) {
    run_family("opt_adagrad_default");
    run_family("opt_adagrad_decay");
    run_family("opt_adagrad_wd");
}
static void test_parity_opt_rmsprop(void) {
    run_family("opt_rmsprop_default");
    run_family("opt_rmsprop_momentum");
    run_family("opt_rmsprop_centered");
    run_family("opt_rmsprop_centered_momentum_wd");
}
static void test_parity_opt_adam(void) {
    run_family("opt_adam_default");
    run_family("opt_adam_amsgrad");
    run_family("opt_adam_wd");
    run_family("opt_adam_betas");
}
static void test_parity_opt_adamw(void) {
    run_family("opt_adamw_default");
    run_family("opt_adamw_wd_amsgrad");
    run_family("opt_adamw_groups");
}
static void test_parity_opt_lookahead(void) {
    run_family("opt_lookahead_sgd");
    run_family("opt_lookahead_adam");
}

/* ------------------------------------------------------------------ numerical gradients */
/* Centered differences, (L(x+h) - L(x-h)) / (x+h - x-h) with the float-rounded step, losses
   in double. Relative error |a - n| / max(|a|, |n|), entries where both are below GC_TINY
   ignored: the losses go through float forward passes whose rounding (~1e-7 relative)
   becomes ~1e-7 / 2h = 5e-5 of noise in n, so smaller gradients carry no information. */
#define GC_H 1e-3
#define GC_TINY 1e-3
#define GC_THRESH 1e-2

typedef struct gc_ctx gc_ctx;
struct gc_ctx {
    double (*loss)(gc_ctx *c);
    unsigned long sig; /* ReLU on/off pattern of the last evaluation (0 if no ReLU) */
};

typedef struct gc_result {
    double worst;
    int checked, kinks;
} gc_result;

static gc_result gradcheck(const char *what, float *x, size_t n, const float *g, gc_ctx *c) {
    gc_result r = {0.0, 0, 0};
    size_t i;
    int reported = 0;
    for (i = 0; i < n; i++) {
        float save = x[i], xp, xm;
        double lp, lm, num, a = g[i], den, rel;
        unsigned long sp, sm;
        x[i] = (float)(save + GC_H);
        xp = x[i];
        lp = c->loss(c);
        sp = c->sig;
        x[i] = (float)(save - GC_H);
        xm = x[i];
        lm = c->loss(c);
        sm = c->sig;
        x[i] = save;
        if (sp != sm) { /* the step crossed a ReLU kink: no derivative to compare */
            r.kinks++;
            continue;
        }
        num = (lp - lm) / ((double)xp - (double)xm);
        den = fabs(a) > fabs(num) ? fabs(a) : fabs(num);
        if (den < GC_TINY) continue;
        rel = fabs(a - num) / den;
        r.checked++;
        if (!(rel <= r.worst)) r.worst = rel;
        if (!(rel <= GC_THRESH) && !reported) {
            CHECKF(0, "%s[%lu]: analytic %.6g numerical %.6g rel err %.3g", what, (unsigned long)i, a, num, rel);
            reported = 1;
        }
    }
    CHECKF(r.checked > 0, "%s: no entry large enough to check", what);
    CHECK(r.worst <= GC_THRESH);
    return r;
}

/* L = sum(r * f(x)) for a layer f, so dL/dy = r. */
typedef struct layer_ctx {
    gc_ctx base;
    int kind; /* 0 dense, 1 activation */
    nn_act act;
    nn_tensor x, w, b, y, r;
} layer_ctx;

static double layer_loss(gc_ctx *c) {
    layer_ctx *l = (layer_ctx *)c;
    size_t i, n = nn_tensor_size(l->y);
    double s = 0;
    if (l->kind == 0) nn_dense_forward(l->y, l->x, l->w, l->b);
    else nn_act_forward(l->act, 0.0f, l->y, l->x);
    for (i = 0; i < n; i++) s += (double)l->r.data[i] * l->y.data[i];
    return s;
}

static void test_gradcheck_dense(void) {
    enum { B = 3, IN = 5, OUT = 4 };
    float x[B * IN], w[OUT * IN], b[OUT], y[B * OUT], r[B * OUT], dx[B * IN], dw[OUT * IN], db[OUT];
    layer_ctx l;
    gc_result rx, rw, rb;
    nn_rng g;
    nn_rng_seed(&g, 21);
    fill_uniform(&g, x, B * IN, -1, 1);
    fill_uniform(&g, w, OUT * IN, -1, 1);
    fill_uniform(&g, b, OUT, -1, 1);
    fill_uniform(&g, r, B * OUT, -1, 1);
    memset(&l, 0, sizeof l);
    l.base.loss = layer_loss;
    l.kind = 0;
    l.x = nn_tensor_2d(x, B, IN);
    l.w = nn_tensor_2d(w, OUT, IN);
    l.b = nn_tensor_1d(b, OUT);
    l.y = nn_tensor_2d(y, B, OUT);
    l.r = nn_tensor_2d(r, B, OUT);
    memset(dw, 0, sizeof dw);
    memset(db, 0, sizeof db);
    nn_dense_backward(nn_tensor_2d(dx, B, IN), nn_tensor_2d(dw, OUT, IN), nn_tensor_1d(db, OUT), l.r, l.x, l.w);
    rx = gradcheck("dense dx", x, B * IN, dx, &l.base);
    rw = gradcheck("dense dw", w, OUT * IN, dw, &l.base);
    rb = gradcheck("dense db", b, OUT, db, &l.base);
    TEST_NOTE("gradcheck dense: worst rel err dx %.2e dw %.2e db %.2e", rx.worst, rw.worst, rb.worst);
}

static void test_gradcheck_activations(void) {
    static const nn_act acts[3] = {NN_ACT_RELU, NN_ACT_SIGMOID, NN_ACT_TANH};
    enum { B = 3, N = 7 };
    float x[B * N], y[B * N], r[B * N], dx[B * N];
    int k, i;
    for (k = 0; k < 3; k++) {
        layer_ctx l;
        gc_result res;
        nn_rng g;
        char what[32];
        nn_rng_seed(&g, 22 + (uint64_t)k);
        fill_uniform(&g, x, B * N, -2, 2);
        for (i = 0; i < B * N; i++) /* keep ReLU inputs off the kink by more than h */
            if (fabsf(x[i]) < 0.05f) x[i] = x[i] < 0 ? -0.05f : 0.05f;
        fill_uniform(&g, r, B * N, 0.5f, 1.5f);
        memset(&l, 0, sizeof l);
        l.base.loss = layer_loss;
        l.kind = 1;
        l.act = acts[k];
        l.x = nn_tensor_2d(x, B, N);
        l.y = nn_tensor_2d(y, B, N);
        l.r = nn_tensor_2d(r, B, N);
        nn_act_forward(acts[k], 0.0f, l.y, l.x);
        nn_act_backward(acts[k], 0.0f, nn_tensor_2d(dx, B, N), l.r, l.x, l.y);
        snprintf(what, sizeof what, "%s dx", nn_act_name(acts[k]));
        res = gradcheck(what, x, B * N, dx, &l.base);
        TEST_NOTE("gradcheck %-8s worst rel err %.2e (%d entries)", nn_act_name(acts[k]), res.worst, res.checked);
    }
}

typedef struct loss_ctx {
    gc_ctx base;
    int kind; /* 0 cross-entropy, 1 mse */
    nn_tensor p, t;
    const int *labels;
} loss_ctx;

static double loss_loss(gc_ctx *c) {
    loss_ctx *l = (loss_ctx *)c;
    nn_tensor none = nn_tensor_2d(NULL, l->p.shape[0], l->p.shape[1]);
    return l->kind == 0 ? (double)nn_loss_cross_entropy(none, l->p, l->labels) : (double)nn_loss_mse(none, l->p, l->t);
}

static void test_gradcheck_losses(void) {
    enum { B = 2, C = 5 };
    float p[B * C], t[B * C], d[B * C];
    int labels[B] = {3, 0}, k;
    for (k = 0; k < 2; k++) {
        loss_ctx l;
        gc_result res;
        nn_rng g;
        nn_rng_seed(&g, 30 + (uint64_t)k);
        fill_uniform(&g, p, B * C, -1, 1);
        fill_uniform(&g, t, B * C, -1, 1);
        memset(&l, 0, sizeof l);
        l.base.loss = loss_loss;
        l.kind = k;
        l.p = nn_tensor_2d(p, B, C);
        l.t = nn_tensor_2d(t, B, C);
        l.labels = labels;
        if (k == 0) nn_loss_cross_entropy(nn_tensor_2d(d, B, C), l.p, labels);
        else nn_loss_mse(nn_tensor_2d(d, B, C), l.p, l.t);
        res = gradcheck(k ? "mse dpred" : "cross-entropy dlogits", p, B * C, d, &l.base);
        TEST_NOTE("gradcheck %-13s worst rel err %.2e (%d entries)", k ? "mse" : "cross-entropy", res.worst,
                  res.checked);
    }
}

/* Whole model, cross-entropy computed in double from the model's logits. */
typedef struct model_ctx {
    gc_ctx base;
    nn_model *m;
    nn_tensor x;
    const int *labels;
} model_ctx;

static double model_ce_loss(gc_ctx *c) {
    model_ctx *mc = (model_ctx *)c;
    nn_model *m = mc->m;
    nn_tensor y = nn_model_forward(m, mc->x);
    int B = y.shape[0], C = y.shape[1], i, j, l;
    double total = 0;
    unsigned long sig = 0;
    for (i = 0; i < B; i++) {
        const float *z = y.data + (size_t)i * C;
        double mx = z[0], s = 0;
        for (j = 1; j < C; j++) mx = z[j] > mx ? z[j] : mx;
        for (j = 0; j < C; j++) s += exp((double)z[j] - mx);
        total += log(s) + mx - z[mc->labels[i]];
    }
    for (l = 0; l + 1 < m->n_layers; l++) /* inputs of every ReLU */
        if (m->layers[l + 1].kind == NN_LAYER_ACT && m->layers[l + 1].act == NN_ACT_RELU)
            for (i = 0; i < B * m->layers[l].out; i++) sig = sig * 1000003ul + (m->layers[l].y.data[i] > 0.0f);
    mc->base.sig = sig;
    return total / B;
}

static void test_gradcheck_model(void) {
    enum { B = 4, IN = 7 };
    nn_layer_desc ls[3];
    nn_model_desc d;
    nn_model m;
    nn_arena a;
    float x[B * IN], *g;
    int labels[B] = {0, 2, 1, 2}, p;
    model_ctx mc;
    nn_tensor y;
    nn_rng r;
    gc_result res;
    ls[0] = ld_dense(5, NN_ACT_RELU);
    ls[1] = ld_dense(4, NN_ACT_TANH);
    ls[2] = ld_dense(3, NN_ACT_IDENTITY);
    d = md_make(IN, B, ls, 3, 123);
    CHECK(model_make(&m, &a, &d, 0));
    CHECK_EQ_INT(m.n_params, 7 * 5 + 5 + 5 * 4 + 4 + 4 * 3 + 3);
    nn_rng_seed(&r, 24);
    fill_uniform(&r, x, B * IN, -1.5f, 1.5f);
    y = nn_model_forward(&m, nn_tensor_2d(x, B, IN));
    nn_loss_cross_entropy(nn_model_output_grad(&m), y, labels);
    nn_model_zero_grad(&m);
    nn_model_backward(&m, nn_model_output_grad(&m));
    g = falloc(m.n_params);
    memcpy(g, m.grads, sizeof(float) * m.n_params);
    memset(&mc, 0, sizeof mc);
    mc.base.loss = model_ce_loss;
    mc.m = &m;
    mc.x = nn_tensor_2d(x, B, IN);
    mc.labels = labels;
    res = gradcheck("model params", m.params, m.n_params, g, &mc.base);
    CHECKF(res.checked >= (int)m.n_params / 2, "only %d of %lu parameters checked", res.checked,
           (unsigned long)m.n_params);
    TEST_NOTE("gradcheck model 7-5relu-4tanh-3: worst rel err %.2e (%d of %lu params checked, %d kinks skipped)",
              res.worst, res.checked, (unsigned long)m.n_params, res.kinks);
    /* each named parameter run was covered */
    for (p = 0; p < m.n_param_list; p++) CHECK(m.param_list[p].grad >= m.grads);
    free(g);
    nn_arena_deinit(&a);
}

/* ------------------------------------------------------------------ model */

static void test_model_layout(void) {
    nn_layer_desc ls[3];
    nn_model_desc d;
    nn_model m;
    nn_arena a;
    size_t total = 0;
    int p;
    static const char *const names[6] = {"0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias"};
    ls[0] = ld_dense(9, NN_ACT_SIGMOID);
    ls[1] = ld_dense(7, NN_ACT_RELU);
    ls[2] = ld_dense(4, NN_ACT_TANH);
    d = md_make(6, 8, ls, 3, 5);
    CHECK(model_make(&m, &a, &d, 0));
    CHECK_EQ_INT(m.n_layers, 6); /* each dense with an activation is two layers, as in torch */
    CHECK_EQ_INT(m.inputs, 6);
    CHECK_EQ_INT(m.outputs, 4);
    CHECK_EQ_INT(m.n_param_list, 6);
    for (p = 0; p < m.n_param_list && p < 6; p++) {
        CHECKF(strcmp(m.param_list[p].name, names[p]) == 0, "param %d is '%s', want '%s'", p, m.param_list[p].name,
               names[p]);
        CHECK(m.param_list[p].data == m.params + total); /* one contiguous block */
        CHECK(m.param_list[p].grad == m.grads + total);
        CHECK_EQ_INT(m.param_list[p].no_decay, p % 2);
        total += m.param_list[p].size;
    }
    CHECK_EQ_INT(total, m.n_params);
    CHECK(m.layers[0].kind == NN_LAYER_DENSE && m.layers[1].kind == NN_LAYER_ACT && m.layers[1].act == NN_ACT_SIGMOID);
    CHECK(m.layers[3].act == NN_ACT_RELU && m.layers[5].act == NN_ACT_TANH);
    /* nn.Linear init: U(-1/sqrt(in), 1/sqrt(in)), not all zero */
    {
        float bound = 1.0f / sqrtf(6.0f);
        size_t i;
        int in_range = 1;
        for (i = 0; i < m.param_list[0].size; i++)
            if (fabsf(m.param_list[0].data[i]) > bound) in_range = 0;
        CHECK(in_range);
        CHECK(!all_zero(m.param_list[0].data, m.param_list[0].size * sizeof(float)));
        CHECK(!all_zero(m.param_list[1].data, m.param_list[1].size * sizeof(float)));
    }
    CHECK(all_zero(m.grads, m.n_params * sizeof(float)));
    nn_arena_deinit(&a);
}

/* The model only chains the public layer functions: same bits as calling them by hand. */
static void test_model_matches_layers(void) {
    enum { B = 5, IN = 6 };
    nn_layer_desc ls[3];
    nn_model_desc d;
    nn_model m;
    nn_arena a;
    float x[B * IN], h1[B * 8], h1a[B * 8], h2[B * 3], out[B * 3];
    nn_tensor y;
    nn_rng r;
    ls[0] = ld_dense(8, NN_ACT_TANH);
    ls[1] = ld_act(NN_ACT_RELU);
    ls[2] = ld_dense(3, NN_ACT_SIGMOID);
    d = md_make(IN, 16, ls, 3, 9);
    CHECK(model_make(&m, &a, &d, 0));
    nn_rng_seed(&r, 25);
    fill_uniform(&r, x, B * IN, -2, 2);
    y = nn_model_forward(&m, nn_tensor_2d(x, B, IN));
    CHECK(y.rank == 2 && y.shape[0] == B && y.shape[1] == 3);
    CHECK_EQ_INT(m.batch, B);
    nn_dense_forward(nn_tensor_2d(h1, B, 8), nn_tensor_2d(x, B, IN), m.layers[0].w, m.layers[0].b);
    nn_tanh_forward(nn_tensor_2d(h1a, B, 8), nn_tensor_2d(h1, B, 8));
    nn_relu_forward(nn_tensor_2d(h1, B, 8), nn_tensor_2d(h1a, B, 8));
    nn_dense_forward(nn_tensor_2d(h2, B, 3), nn_tensor_2d(h1, B, 8), m.layers[3].w, m.layers[3].b);
    nn_sigmoid_forward(nn_tensor_2d(out, B, 3), nn_tensor_2d(h2, B, 3));
    CHECK(memcmp(out, y.data, sizeof out) == 0);
    y = nn_model_output_grad(&m);
    CHECK(y.shape[0] == B && y.shape[1] == 3 && y.data != NULL);
    /* batch of one, then the full max batch */
    y = nn_model_forward(&m, nn_tensor_2d(x, 1, IN));
    CHECK(y.shape[0] == 1 && memcmp(out, y.data, 3 * sizeof(float)) == 0);
    {
        /* Batches of 6 rows and more take the packed GEMM, smaller ones a
           row kernel with another summation order: the same to rounding, and
           within each path a row's result never depends on the batch. */
        float big[16 * IN], first[B * 3];
        int i, close = 1;
        memset(big, 0, sizeof big);
        memcpy(big, x, sizeof x);
        y = nn_model_forward(&m, nn_tensor_2d(big, 16, IN));
        CHECK(y.shape[0] == 16);
        for (i = 0; i < B * 3; i++) close &= fabsf(out[i] - y.data[i]) <= 1e-6f * (1.0f + fabsf(out[i]));
        CHECK(close);
        memcpy(first, y.data, sizeof first);
        y = nn_model_forward(&m, nn_tensor_2d(big, 12, IN));
        CHECK(y.shape[0] == 12 && memcmp(first, y.data, sizeof first) == 0);
    }
    nn_arena_deinit(&a);
}

static void test_model_all_params_get_gradient(void) {
    enum { B = 16, IN = 6 };
    nn_layer_desc ls[3];
    nn_model_desc d;
    nn_model m;
    nn_arena a;
    float x[B * IN], t[B * 4];
    nn_tensor y, dy;
    nn_rng r;
    int p;
    /* ReLU first, on inputs of both signs: a unit dead for all 16 rows is a 1 in 65536 event */
    ls[0] = ld_dense(9, NN_ACT_RELU);
    ls[1] = ld_dense(7, NN_ACT_SIGMOID);
    ls[2] = ld_dense(4, NN_ACT_TANH);
    d = md_make(IN, B, ls, 3, 77);
    CHECK(model_make(&m, &a, &d, 0));
    nn_rng_seed(&r, 26);
    fill_uniform(&r, x, B * IN, -2, 2);
    fill_uniform(&r, t, B * 4, -1, 1);
    y = nn_model_forward(&m, nn_tensor_2d(x, B, IN));
    dy = nn_model_output_grad(&m);
    nn_loss_mse(dy, y, nn_tensor_2d(t, B, 4));
    nn_model_zero_grad(&m);
    nn_model_backward(&m, dy);
    for (p = 0; p < m.n_param_list; p++) {
        size_t i, zeros = 0;
        for (i = 0; i < m.param_list[p].size; i++) zeros += m.param_list[p].grad[i] == 0.0f;
        CHECKF(zeros == 0, "%s: %lu of %lu gradients are zero", m.param_list[p].name, (unsigned long)zeros,
               (unsigned long)m.param_list[p].size);
    }
    CHECK(all_finite(m.grads, m.n_params));
    /* backward accumulates; zero_grad clears */
    {
        float *g1 = falloc(m.n_params);
        size_t i;
        int ok = 1;
        memcpy(g1, m.grads, sizeof(float) * m.n_params);
        nn_model_backward(&m, dy);
        for (i = 0; i < m.n_params; i++)
            if (fabsf(m.grads[i] - 2.0f * g1[i]) > 1e-6f * fabsf(g1[i]) + 1e-12f) ok = 0;
        CHECK(ok);
        nn_model_zero_grad(&m);
        CHECK(all_zero(m.grads, m.n_params * sizeof(float)));
        free(g1);
    }
    nn_arena_deinit(&a);
}

/* ------------------------------------------------------------------ training */

static void train_ce(nn_model *m, nn_optim *o, float *X, const int *labels, int n, int B, int steps, float *first,
                     float *last) {
    int s;
    for (s = 0; s < steps; s++) {
        int start = (s % (n / B)) * B;
        nn_tensor y = nn_model_forward(m, nn_tensor_2d(X + (size_t)start * m->inputs, B, m->inputs));
        nn_tensor dy = nn_model_output_grad(m);
        float loss = nn_loss_cross_entropy(dy, y, labels + start);
        if (s == 0 && first) *first = loss;
        if (last) *last = loss;
        nn_model_zero_grad(m);
        nn_model_backward(m, dy);
        nn_optim_step(o, m->params, m->grads, m->n_params);
    }
}

static void test_training_deterministic(void) {
    enum { N = 64, B = 16, IN = 10 };
    nn_layer_desc ls[3];
    nn_model_desc d[3];
    nn_model m[3];
    nn_arena a[3];
    nn_optim o[3];
    nn_optim_desc od = sgd_desc(0.1f, 0.9f);
    float X[N * IN];
    int labels[N], i, k;
    nn_rng r;
    ls[0] = ld_dense(16, NN_ACT_RELU);
    ls[1] = ld_dense(8, NN_ACT_TANH);
    ls[2] = ld_dense(3, NN_ACT_IDENTITY);
    nn_rng_seed(&r, 27);
    fill_uniform(&r, X, N * IN, -1, 1);
    for (i = 0; i < N; i++) labels[i] = (int)nn_rng_below(&r, 3);
    for (k = 0; k < 3; k++) {
        d[k] = md_make(IN, B, ls, 3, k < 2 ? 1234 : 1235);
        CHECK(model_make(&m[k], &a[k], &d[k], nn_optim_arena_bytes(&od, 0) + 4096 * 4));
        CHECK_EQ_INT(nn_optim_init(&o[k], &a[k], &od, m[k].n_params), NN_OK);
        train_ce(&m[k], &o[k], X, labels, N, B, 50, NULL, NULL);
        CHECK(all_finite(m[k].params, m[k].n_params));
    }
    CHECKF(memcmp(m[0].params, m[1].params, sizeof(float) * m[0].n_params) == 0,
           "same seed and data gave different weights");
    CHECKF(memcmp(m[0].params, m[2].params, sizeof(float) * m[0].n_params) != 0, "different seeds gave the same weights");
    for (k = 0; k < 3; k++) nn_arena_deinit(&a[k]);
}

static void test_training_xor(void) {
    nn_layer_desc ls[2];
    nn_model_desc d;
    nn_optim_desc od = sgd_desc(0.5f, 0.9f);
    nn_model m;
    nn_optim o;
    nn_arena a;
    float xs[8] = {0, 0, 0, 1, 1, 0, 1, 1}, ts[4] = {0, 1, 1, 0}, first = 0, loss = 0;
    nn_tensor x = nn_tensor_2d(xs, 4, 2), t = nn_tensor_2d(ts, 4, 1), y;
    int step, i, correct = 0;
    ls[0] = ld_dense(8, NN_ACT_TANH);
    ls[1] = ld_dense(1, NN_ACT_SIGMOID);
    d = md_make(2, 4, ls, 2, 1);
    CHECK(model_make(&m, &a, &d, nn_arena_bytes_for(sizeof(float) * 64)));
    CHECK_EQ_INT(nn_optim_init(&o, &a, &od, m.n_params), NN_OK);
    for (step = 0; step < 2000; step++) {
        nn_tensor dy;
        y = nn_model_forward(&m, x);
        dy = nn_model_output_grad(&m);
        loss = nn_loss_mse(dy, y, t);
        if (step == 0) first = loss;
        nn_model_zero_grad(&m);
        nn_model_backward(&m, dy);
        nn_optim_step(&o, m.params, m.grads, m.n_params);
    }
    nn_model_set_mode(&m, NN_MODE_EVAL);
    y = nn_model_forward(&m, x);
    for (i = 0; i < 4; i++) correct += (y.data[i] > 0.5f) == (ts[i] > 0.5f);
    CHECKF(loss < 0.02f && loss < 0.1f * first, "XOR loss %.4g -> %.4g", first, loss);
    CHECK_EQ_INT(correct, 4);
    TEST_NOTE("XOR: mse %.4f -> %.5f after 2000 steps", first, loss);
    nn_arena_deinit(&a);
}

static void test_training_blobs(void) {
    enum { N = 96, B = 32, IN = 4 };
    nn_layer_desc ls[2];
    nn_model_desc d;
    nn_optim_desc od = sgd_desc(0.05f, 0.9f);
    nn_model m;
    nn_optim o;
    nn_arena a;
    float X[N * IN], first = 0, last = 0;
    int labels[N], i, j;
    nn_rng r;
    nn_rng_seed(&r, 28);
    for (i = 0; i < N; i++) { /* three Gaussian blobs around distinct centres */
        labels[i] = i % 3;
        for (j = 0; j < IN; j++) X[i * IN + j] = 0.5f * nn_rng_normal(&r) + (j == labels[i] ? 2.0f : 0.0f);
    }
    ls[0] = ld_dense(12, NN_ACT_RELU);
    ls[1] = ld_dense(3, NN_ACT_IDENTITY);
    d = md_make(IN, B, ls, 2, 3);
    CHECK(model_make(&m, &a, &d, nn_arena_bytes_for(sizeof(float) * 200)));
    CHECK_EQ_INT(nn_optim_init(&o, &a, &od, m.n_params), NN_OK);
    train_ce(&m, &o, X, labels, N, B, 300, &first, &last);
    CHECKF(last < 0.25f * first, "cross-entropy %.4g -> %.4g", first, last);
    TEST_NOTE("blobs: cross-entropy %.4f -> %.4f after 300 steps", first, last);
    nn_arena_deinit(&a);
}

/* ------------------------------------------------------------------ summary */

static void test_model_summary(void) {
    nn_layer_desc ls[3];
    nn_model_desc d;
    nn_model m;
    nn_arena a;
    char buf[2048], small[16];
    size_t n, n2;
    ls[0] = ld_dense(5, NN_ACT_RELU);
    ls[1] = ld_dense(4, NN_ACT_TANH);
    ls[2] = ld_dense(3, NN_ACT_IDENTITY);
    d = md_make(7, 4, ls, 3, 1);
    CHECK(model_make(&m, &a, &d, 0));
    n = nn_model_summary(&m, buf, sizeof buf);
    CHECK(n == strlen(buf) && n > 0 && n < sizeof buf);
    CHECK(strstr(buf, "dense 7->5") != NULL);
    CHECK(strstr(buf, "relu") != NULL);
    CHECK(strstr(buf, "dense 5->4") != NULL);
    CHECK(strstr(buf, "tanh") != NULL);
    CHECK(strstr(buf, "dense 4->3") != NULL);
    CHECK(strstr(buf, " 40\n") != NULL && strstr(buf, " 24\n") != NULL && strstr(buf, " 15\n") != NULL);
    CHECK(strstr(buf, "parameters: 79") != NULL);
    CHECK(strstr(buf, "TRAIN") != NULL && strstr(buf, "EVAL") == NULL);
    nn_model_set_mode(&m, NN_MODE_EVAL);
    CHECK(m.mode == NN_MODE_EVAL);
    n2 = nn_model_summary(&m, buf, sizeof buf);
    CHECK(n2 == strlen(buf));
    CHECK(strstr(buf, "EVAL") != NULL && strstr(buf, "TRAIN") == NULL);
    /* truncation: NUL-terminated prefix, full length returned */
    memset(small, 'x', sizeof small);
    CHECK_EQ_INT(nn_model_summary(&m, small, sizeof small), n2);
    CHECK(small[sizeof small - 1] == '\0' && strlen(small) == sizeof small - 1);
    CHECK(strncmp(small, buf, sizeof small - 1) == 0);
    small[0] = 'x';
    CHECK_EQ_INT(nn_model_summary(&m, small, 1), n2);
    CHECK(small[0] == '\0');
    CHECK_EQ_INT(nn_model_summary(&m, NULL, 0), n2);
    nn_model_set_mode(&m, NN_MODE_TRAIN);
    nn_model_summary(&m, buf, sizeof buf);
    CHECK(strstr(buf, "TRAIN") != NULL);
    nn_arena_deinit(&a);
}

/* ------------------------------------------------------------------ io */

static void test_crc32(void) {
    const char *s = "123456789";
    CHECK(nn_crc32(0, s, 9) == 0xCBF43926u);
    CHECK(nn_crc32(nn_crc32(0, s, 4), s + 4, 5) == 0xCBF43926u); /* incremental */
    CHECK(nn_crc32(0, s, 0) == 0);
    CHECK(nn_crc32(0, "a", 1) == 0xE8B7BE43u);
}

static void test_result_string(void) {
    const char *s[13];
    int i, j, ok = 1;
    for (i = 0; i < 13; i++) {
        s[i] = nn_result_string((nn_result)-i);
        CHECKF(s[i] != NULL && s[i][0] != '\0', "code %d has no description", -i);
        if (!s[i]) return;
    }
    for (i = 0; i < 13; i++)
        for (j = i + 1; j < 13; j++)
            if (strcmp(s[i], s[j]) == 0) ok = 0;
    CHECK(ok);
    CHECK(nn_result_string((nn_result)-99) != NULL && nn_result_string((nn_result)-99)[0] != '\0');
    CHECK(strcmp(nn_act_name(NN_ACT_RELU), "relu") == 0 && strcmp(nn_act_name(NN_ACT_TANH), "tanh") == 0);
    CHECK(strcmp(nn_act_name(NN_ACT_SIGMOID), "sigmoid") == 0 && strcmp(nn_act_name(NN_ACT_IDENTITY), "identity") == 0);
}

/* IDX: 00 00 08 rank, big-endian dims, then the bytes. */
static size_t make_idx(unsigned char *buf, int rank, const uint32_t *dims, size_t count) {
    size_t pos = 4, i;
    int k;
    buf[0] = 0;
    buf[1] = 0;
    buf[2] = 0x08;
    buf[3] = (unsigned char)rank;
    for (k = 0; k < rank; k++, pos += 4) {
        buf[pos] = (unsigned char)(dims[k] >> 24);
        buf[pos + 1] = (unsigned char)(dims[k] >> 16);
        buf[pos + 2] = (unsigned char)(dims[k] >> 8);
        buf[pos + 3] = (unsigned char)dims[k];
    }
    for (i = 0; i < count; i++) buf[pos + i] = (unsigned char)(i * 7 + 3);
    return pos + count;
}

/* Parse a copy of exactly len bytes (so a sanitizer sees any overread). */
static nn_result idx_parse_copy(nn_idx *out, const unsigned char *src, size_t len) {
    unsigned char *p = (unsigned char *)malloc(len ? len : 1);
    nn_result r;
    if (!p) exit(2);
    memcpy(p, src, len);
    r = nn_idx_parse(out, p, len);
    free(p);
    return r;
}

static void test_idx_parse(void) {
    unsigned char buf[64], bad[64];
    const uint32_t dims[3] = {2, 3, 4}, d1[1] = {5}, d4[4] = {1, 2, 1, 3};
    const uint32_t zero[3] = {2, 0, 4}, over[4] = {0x7FFFFFFFu, 0x7FFFFFFFu, 0x7FFFFFFFu, 0x7FFFFFFFu};
    const uint32_t neg[1] = {0x80000000u};
    size_t len = make_idx(buf, 3, dims, 24), l, i;
    nn_idx idx, sentinel;
    int ok = 1, unchanged = 1;
    nn_result r;

    CHECK_EQ_INT(len, 40);
    CHECK_EQ_INT(nn_idx_parse(&idx, buf, len), NN_OK);
    CHECK(idx.rank == 3 && idx.dims[0] == 2 && idx.dims[1] == 3 && idx.dims[2] == 4 && idx.dims[3] == 1);
    CHECK_EQ_INT(idx.count, 24);
    CHECK(idx.data == buf + 16 && idx.owned == NULL);
    for (i = 0; i < 24; i++)
        if (idx.data[i] != (unsigned char)(i * 7 + 3)) ok = 0;
    CHECK(ok);
    nn_idx_free(&idx); /* not owned: only cleared */
    CHECK(idx.data == NULL);
    nn_idx_free(NULL);
    CHECK_EQ_INT(idx_parse_copy(&idx, buf, make_idx(buf, 1, d1, 5)), NN_OK);
    CHECK(idx.rank == 1 && idx.dims[0] == 5 && idx.dims[1] == 1 && idx.count == 5);
    CHECK_EQ_INT(idx_parse_copy(&idx, buf, make_idx(buf, 4, d4, 6)), NN_OK);
    CHECK(idx.rank == 4 && idx.dims[3] == 3 && idx.count == 6);

    len = make_idx(buf, 3, dims, 24);
    memset(&sentinel, 0x5C, sizeof sentinel);
    /* every truncation fails, never reads past len, leaves out alone */
    for (l = 0; l < len; l++) {
        idx = sentinel;
        r = idx_parse_copy(&idx, buf, l);
        if (r == NN_OK) ok = 0;
        if (memcmp(&idx, &sentinel, sizeof idx) != 0) unchanged = 0;
        if (l < 4 + 12 && r != NN_ERR_TRUNCATED) ok = 0;
    }
    CHECKF(ok, "a truncated IDX was accepted or gave a code other than NN_ERR_TRUNCATED");
    CHECK(unchanged);
    CHECK_EQ_INT(idx_parse_copy(&idx, buf, len - 1), NN_ERR_TRUNCATED);
    /* trailing bytes */
    memcpy(bad, buf, len);
    bad[len] = 0;
    CHECK_EQ_INT(idx_parse_copy(&idx, bad, len + 1), NN_ERR_CORRUPT);
    /* magic and type */
    memcpy(bad, buf, len);
    bad[0] = 1;
    CHECK_EQ_INT(idx_parse_copy(&idx, bad, len), NN_ERR_BAD_MAGIC);
    memcpy(bad, buf, len);
    bad[1] = 0x08;
    CHECK_EQ_INT(idx_parse_copy(&idx, bad, len), NN_ERR_BAD_MAGIC);
    memcpy(bad, buf, len);
    bad[2] = 0x0D; /* float32 */
    CHECK_EQ_INT(idx_parse_copy(&idx, bad, len), NN_ERR_UNSUPPORTED);
    bad[2] = 0x09; /* signed byte */
    CHECK_EQ_INT(idx_parse_copy(&idx, bad, len), NN_ERR_UNSUPPORTED);
    /* rank 0 and 5 */
    memcpy(bad, buf, len);
    bad[3] = 0;
    r = idx_parse_copy(&idx, bad, len);
    CHECKF(r == NN_ERR_CORRUPT, "rank 0 gave %s", nn_result_string(r));
    bad[3] = 5;
    r = idx_parse_copy(&idx, bad, len);
    CHECKF(r == NN_ERR_CORRUPT, "rank 5 gave %s", nn_result_string(r));
    /* a zero dim, a dim past INT_MAX, a product past SIZE_MAX */
    CHECK_EQ_INT(idx_parse_copy(&idx, bad, make_idx(bad, 3, zero, 0)), NN_ERR_CORRUPT);
    CHECK_EQ_INT(idx_parse_copy(&idx, bad, make_idx(bad, 1, neg, 0)), NN_ERR_CORRUPT);
    r = idx_parse_copy(&idx, bad, make_idx(bad, 4, over, 0));
    CHECKF(r == NN_ERR_TOO_LARGE, "dims overflowing size_t gave %s", nn_result_string(r));
}

/* gzip container around "deflate" bytes that the fake inflate below simply copies. */
enum { GZ_FTEXT = 1, GZ_FHCRC = 2, GZ_FEXTRA = 4, GZ_FNAME = 8, GZ_FCOMMENT = 16 };

static void put_le32(unsigned char *p, uint32_t v) {
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}

static size_t make_gz(unsigned char *out, const unsigned char *payload, size_t n, unsigned flags) {
    size_t pos = 10;
    out[0] = 0x1f;
    out[1] = 0x8b;
    out[2] = 8;
    out[3] = (unsigned char)flags;
    put_le32(out + 4, 0x12345678u); /* mtime */
    out[8] = 0;
    out[9] = 3; /* unix */
    if (flags & GZ_FEXTRA) {
        out[pos++] = 3;
        out[pos++] = 0;
        out[pos++] = 'a';
        out[pos++] = 'b';
        out[pos++] = 'c';
    }
    if (flags & GZ_FNAME) {
        memcpy(out + pos, "file.idx", 9);
        pos += 9;
    }
    if (flags & GZ_FCOMMENT) {
        memcpy(out + pos, "hi", 3);
        pos += 3;
    }
    if (flags & GZ_FHCRC) {
        uint32_t c = nn_crc32(0, out, pos);
        out[pos++] = (unsigned char)c;
        out[pos++] = (unsigned char)(c >> 8);
    }
    memcpy(out + pos, payload, n);
    pos += n;
    put_le32(out + pos, nn_crc32(0, payload, n));
    put_le32(out + pos + 4, (uint32_t)n);
    return pos + 8;
}

static int fake_inflate_calls = 0;
/* "Stored" data: the first dst_len bytes of src are the output (nn_gzip_decode may
   pass the 8-byte trailer along, as a real inflater stops at the final block). */
static nn_result fake_inflate(void *dst, size_t dst_len, const void *src, size_t src_len) {
    fake_inflate_calls++;
    if (src_len < dst_len) return NN_ERR_CORRUPT;
    if (dst_len) memcpy(dst, src, dst_len);
    return NN_OK;
}
static nn_result failing_inflate(void *dst, size_t dst_len, const void *src, size_t src_len) {
    (void)dst;
    (void)dst_len;
    (void)src;
    (void)src_len;
    fake_inflate_calls++;
    return NN_ERR_VERSION; /* any code: it must come back unchanged */
}

static nn_result gz_decode_copy(void **out, size_t *out_len, const unsigned char *src, size_t len, size_t max_out,
                                nn_inflate_fn fn) {
    unsigned char *p = (unsigned char *)malloc(len ? len : 1);
    nn_result r;
    if (!p) exit(2);
    memcpy(p, src, len);
    r = nn_gzip_decode(out, out_len, p, len, max_out, fn);
    free(p);
    return r;
}

static void test_gzip_decode(void) {
    unsigned char payload[40], gz[128], bad[128];
    const unsigned flag_sets[4] = {0, GZ_FNAME, GZ_FEXTRA | GZ_FNAME | GZ_FCOMMENT | GZ_FHCRC, GZ_FTEXT | GZ_FHCRC};
    void *out = NULL;
    size_t out_len = 0, len, l, i;
    int k, ok;
    nn_result r;
    for (i = 0; i < sizeof payload; i++) payload[i] = (unsigned char)(i * 13 + 1);

    for (k = 0; k < 4; k++) {
        len = make_gz(gz, payload, sizeof payload, flag_sets[k]);
        fake_inflate_calls = 0;
        r = gz_decode_copy(&out, &out_len, gz, len, 1 << 20, fake_inflate);
        CHECKF(r == NN_OK, "flags 0x%x: %s", flag_sets[k], nn_result_string(r));
        CHECK(out_len == sizeof payload && out && memcmp(out, payload, sizeof payload) == 0);
        CHECK_EQ_INT(fake_inflate_calls, 1);
        nn_free(out);
        out = NULL;
        /* every truncation is an error, out stays NULL */
        for (ok = 1, l = 0; l < len; l++) {
            out = (void *)gz;
            out_len = 99;
            r = gz_decode_copy(&out, &out_len, gz, l, 1 << 20, fake_inflate);
            if (r == NN_OK || out != NULL || out_len != 0) ok = 0;
            if (r == NN_OK) nn_free(out);
        }
        CHECKF(ok, "flags 0x%x: a truncated gzip stream was accepted", flag_sets[k]);
    }
    /* empty member */
    len = make_gz(gz, payload, 0, 0);
    CHECK_EQ_INT(gz_decode_copy(&out, &out_len, gz, len, 1 << 20, fake_inflate), NN_OK);
    CHECK(out_len == 0 && out != NULL);
    nn_free(out);
    nn_free(NULL);

    len = make_gz(gz, payload, sizeof payload, GZ_FNAME);
    /* no inflate plugged in */
    CHECK_EQ_INT(gz_decode_copy(&out, &out_len, gz, len, 1 << 20, NULL), NN_ERR_UNSUPPORTED);
    /* magic, method, reserved flags: inflate never called */
    fake_inflate_calls = 0;
    memcpy(bad, gz, len);
    bad[0] = 0x1e;
    CHECK_EQ_INT(gz_decode_copy(&out, &out_len, bad, len, 1 << 20, fake_inflate), NN_ERR_BAD_MAGIC);
    memcpy(bad, gz, len);
    bad[1] = 0x8c;
    CHECK_EQ_INT(gz_decode_copy(&out, &out_len, bad, len, 1 << 20, fake_inflate), NN_ERR_BAD_MAGIC);
    memcpy(bad, gz, len);
    bad[2] = 7;
    r = gz_decode_copy(&out, &out_len, bad, len, 1 << 20, fake_inflate);
    CHECKF(r == NN_ERR_UNSUPPORTED, "method 7 gave %s", nn_result_string(r));
    for (k = 5; k < 8; k++) {
        memcpy(bad, gz, len);
        bad[3] = (unsigned char)(bad[3] | (1u << k));
        r = gz_decode_copy(&out, &out_len, bad, len, 1 << 20, fake_inflate);
        CHECKF(r == NN_ERR_CORRUPT, "reserved flag bit %d gave %s", k, nn_result_string(r));
    }
    CHECK_EQ_INT(fake_inflate_calls, 0);
    /* isize above max_out: refused before inflating */
    CHECK_EQ_INT(gz_decode_copy(&out, &out_len, gz, len, sizeof payload - 1, fake_inflate), NN_ERR_TOO_LARGE);
    CHECK(out == NULL && out_len == 0);
    /* an isize no DEFLATE stream of these bytes can reach (over 1032:1): cut short */
    memcpy(bad, gz, len);
    put_le32(bad + len - 4, 0xFFFFFFFFu);
    CHECK_EQ_INT(gz_decode_copy(&out, &out_len, bad, len, 1 << 20, fake_inflate), NN_ERR_TRUNCATED);
    CHECK_EQ_INT(gz_decode_copy(&out, &out_len, bad, len, 0xFFFFFFFFu, fake_inflate), NN_ERR_TRUNCATED);
    CHECK_EQ_INT(fake_inflate_calls, 0);
    CHECK_EQ_INT(gz_decode_copy(&out, &out_len, gz, len, sizeof payload, fake_inflate), NN_OK);
    nn_free(out);
    /* an inflate error comes back as is */
    fake_inflate_calls = 0;
    out = (void *)gz;
    CHECK_EQ_INT(gz_decode_copy(&out, &out_len, gz, len, 1 << 20, failing_inflate), NN_ERR_VERSION);
    CHECK(out == NULL && out_len == 0);
    CHECK_EQ_INT(fake_inflate_calls, 1);
    /* CRC mismatch: in the trailer, or in the data */
    memcpy(bad, gz, len);
    bad[len - 8] ^= 1;
    CHECK_EQ_INT(gz_decode_copy(&out, &out_len, bad, len, 1 << 20, fake_inflate), NN_ERR_CHECKSUM);
    CHECK(out == NULL);
    memcpy(bad, gz, len);
    bad[len - 9] ^= 0x80;
    CHECK_EQ_INT(gz_decode_copy(&out, &out_len, bad, len, 1 << 20, fake_inflate), NN_ERR_CHECKSUM);
    CHECK(out == NULL);
}

#ifndef NN_NO_STDIO
static void tmp_path(char *buf, size_t size, const char *tag) {
    static int counter = 0;
    const char *dir = getenv("TMPDIR");
    if (!dir || !*dir) dir = "/tmp";
    snprintf(buf, size, "%s/nn_test_%s_%lx_%d.tmp", dir, tag, (unsigned long)(uintptr_t)&counter ^ (unsigned long)time(NULL),
             counter++);
}

static int write_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    int ok;
    if (!f) return 0;
    ok = fwrite(data, 1, n, f) == n;
    return fclose(f) == 0 && ok;
}

static void test_read_file(void) {
    char path[512];
    unsigned char data[100];
    void *out = (void *)data;
    size_t len = 7, i;
    for (i = 0; i < sizeof data; i++) data[i] = (unsigned char)(255 - i);
    CHECK_EQ_INT(nn_read_file(&out, &len, "/nonexistent/dir/file.bin", 1 << 20), NN_ERR_IO);
    CHECK(out == NULL && len == 0);
    tmp_path(path, sizeof path, "read");
    CHECK(write_file(path, data, sizeof data));
    CHECK_EQ_INT(nn_read_file(&out, &len, path, 99), NN_ERR_TOO_LARGE);
    CHECK(out == NULL && len == 0);
    CHECK_EQ_INT(nn_read_file(&out, &len, path, 100), NN_OK);
    CHECK(len == 100 && out && memcmp(out, data, 100) == 0);
    nn_free(out);
    CHECK(write_file(path, data, 0));
    CHECK_EQ_INT(nn_read_file(&out, &len, path, 100), NN_OK);
    CHECK(len == 0);
    nn_free(out);
    remove(path);
}

/* A directory opens with fopen on Linux; reading it must fail with NN_ERR_IO (ext4 reports
   a huge size for it, procfs a size of 0: neither is a file). */
static void test_read_file_directory(void) {
#ifdef __linux__
    static const char *const dirs[3] = {".", "/tmp", "/proc"};
    const int n = 3;
#else
    static const char *const dirs[2] = {".", "/tmp"};
    const int n = 2;
#endif
    int k;
    for (k = 0; k < n; k++) {
        void *out = NULL;
        size_t len = 0;
        nn_result r = nn_read_file(&out, &len, dirs[k], 1 << 20);
        CHECKF(r == NN_ERR_IO, "nn_read_file(\"%s\") returned %s", dirs[k], nn_result_string(r));
        CHECK(out == NULL && len == 0);
        if (r == NN_OK) nn_free(out);
    }
}

static void test_idx_load(void) {
    char path[512];
    unsigned char raw[64], gz[128];
    const uint32_t dims[2] = {3, 5};
    size_t n = make_idx(raw, 2, dims, 15), gn;
    nn_idx idx;
    nn_result r;
    tmp_path(path, sizeof path, "idx");
    /* plain */
    CHECK(write_file(path, raw, n));
    r = nn_idx_load(&idx, path, NULL);
    CHECKF(r == NN_OK, "plain IDX: %s", nn_result_string(r));
    if (r == NN_OK) {
        CHECK(idx.rank == 2 && idx.dims[0] == 3 && idx.dims[1] == 5 && idx.count == 15);
        CHECK(idx.owned != NULL && memcmp(idx.data, raw + 12, 15) == 0);
        nn_idx_free(&idx);
        CHECK(idx.owned == NULL && idx.data == NULL);
    }
    /* gzip */
    gn = make_gz(gz, raw, n, GZ_FNAME);
    CHECK(write_file(path, gz, gn));
    r = nn_idx_load(&idx, path, fake_inflate);
    CHECKF(r == NN_OK, "gzip IDX: %s", nn_result_string(r));
    if (r == NN_OK) {
        CHECK(idx.count == 15 && memcmp(idx.data, raw + 12, 15) == 0);
        nn_idx_free(&idx);
    }
    CHECK_EQ_INT(nn_idx_load(&idx, path, NULL), NN_ERR_UNSUPPORTED);
    CHECK(idx.owned == NULL);
    /* a broken file: an error and nothing to free (the leak checker watches) */
    CHECK(write_file(path, raw, n - 1));
    CHECK_EQ_INT(nn_idx_load(&idx, path, NULL), NN_ERR_TRUNCATED);
    CHECK(idx.owned == NULL && idx.data == NULL);
    gn = make_gz(gz, raw, n - 1, 0);
    CHECK(write_file(path, gz, gn));
    CHECK_EQ_INT(nn_idx_load(&idx, path, fake_inflate), NN_ERR_TRUNCATED);
    CHECK(idx.owned == NULL);
    remove(path);
    CHECK_EQ_INT(nn_idx_load(&idx, path, NULL), NN_ERR_IO);
}
#endif

/* ------------------------------------------------------------------ main */

/* nn_gather_u8: row by row the table's values, on odd row lengths (1, 3, 17,
   784) and batches of 1 and 5; a row out of range or a NULL argument is an
   error with nothing written. nn_u8_table_normalize is torchvision's ToTensor
   then Normalize: ((v / 255) - mean) / std, each step rounded to float. */
static void test_gather_u8(void) {
    static const int Fs[4] = {1, 3, 17, 784};
    enum { N = 9 };
    float table[256], dst[5 * 784 + 1];
    unsigned char src[N * 784];
    int rows[5] = {8, 0, 3, 3, 5}, bad_rows[5] = {1, 2, N, 0, 0}, neg_rows[5] = {1, -1, 0, 0, 0};
    int f, i, v, same = 1;
    size_t j;
    nn_u8_table_normalize(table, 255.0f, 0.2860f, 0.3530f);
    for (v = 0; v < 256; v++) {
        float x = (float)v / 255.0f;
        x = x - 0.2860f;
        x = x / 0.3530f;
        same &= memcmp(&x, &table[v], sizeof x) == 0;
    }
    CHECKF(same, "nn_u8_table_normalize differs from ((v / 255) - mean) / std");
    CHECK(table[0] < 0.0f && table[255] > 2.0f);
    for (j = 0; j < sizeof src; j++) src[j] = (unsigned char)(j * 37 + j / 7);
    for (f = 0; f < 4; f++) {
        int F = Fs[f], b;
        for (b = 1; b <= 5; b += 4) {
            int ok = 1;
            for (j = 0; j < sizeof dst / sizeof dst[0]; j++) dst[j] = -7.0f;
            CHECK_EQ_INT(nn_gather_u8(nn_tensor_2d(dst, b, F), src, N, rows, table), NN_OK);
            for (i = 0; i < b; i++)
                for (j = 0; j < (size_t)F; j++)
                    ok &= dst[(size_t)i * F + j] == table[src[(size_t)rows[i] * F + j]];
            ok &= dst[(size_t)b * F] == -7.0f; /* nothing past the batch */
            CHECKF(ok, "F=%d B=%d: gathered values differ from the table's", F, b);
        }
    }
    for (j = 0; j < 5 * 17; j++) dst[j] = -7.0f;
    CHECK_EQ_INT(nn_gather_u8(nn_tensor_2d(dst, 5, 17), src, N, bad_rows, table), NN_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(nn_gather_u8(nn_tensor_2d(dst, 5, 17), src, N, neg_rows, table), NN_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(nn_gather_u8(nn_tensor_2d(dst, 5, 17), NULL, N, rows, table), NN_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(nn_gather_u8(nn_tensor_2d(dst, 5, 17), src, N, NULL, table), NN_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(nn_gather_u8(nn_tensor_2d(dst, 5, 17), src, N, rows, NULL), NN_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(nn_gather_u8(nn_tensor_2d(NULL, 5, 17), src, N, rows, table), NN_ERR_INVALID_ARGUMENT);
    for (j = 0, same = 1; j < 5 * 17; j++) same &= dst[j] == -7.0f;
    CHECKF(same, "a rejected gather wrote into dst");
}

static const test_case tests[] = {
    TEST(test_gather_u8),
    TEST(test_arena_caller_buffer),
    TEST(test_arena_out_of_memory),
    TEST(test_arena_heap),
    TEST(test_arena_heap_huge),
    TEST(test_model_arena_bytes_exact),
    TEST(test_model_invalid_desc),
    TEST(test_optim_arena_bytes_exact),
    TEST(test_tensor_views),
    TEST(test_rng_streams),
    TEST(test_rng_uniform_normal),
    TEST(test_rng_below),
    TEST(test_rng_shuffle),
    TEST(test_gemm_small),
    TEST(test_gemm_large),
    TEST(test_gemm_k0_and_empty),
    TEST(test_tensor_none),
    TEST(test_gemm_levels_identical),
    TEST(test_gemm_deterministic),
    TEST(test_training_threads_bit_identical),
    TEST(test_model_sizes_breakdown),
    TEST(test_parity_dense),
    TEST(test_parity_relu),
    TEST(test_parity_sigmoid),
    TEST(test_parity_tanh),
    TEST(test_parity_identity),
    TEST(test_parity_leaky_relu),
    TEST(test_parity_elu),
    TEST(test_parity_gelu),
    TEST(test_parity_gelu_tanh),
    TEST(test_parity_silu),
    TEST(test_parity_softplus),
    TEST(test_parity_softmax),
    TEST(test_parity_ce_labels),
    TEST(test_parity_ce_labels_weighted),
    TEST(test_parity_ce_probs),
    TEST(test_parity_ce_probs_weighted),
    TEST(test_parity_ce_probs_onehot),
    TEST(test_parity_mse),
    TEST(test_parity_l1),
    TEST(test_parity_huber),
    TEST(test_parity_bce),
    TEST(test_parity_bce_logits),
    TEST(test_parity_opt_sgd),
    TEST(test_parity_opt_adagrad),
    TEST(test_parity_opt_rmsprop),
    TEST(test_parity_opt_adam),
    TEST(test_parity_opt_adamw),
    TEST(test_parity_opt_lookahead),
    TEST(test_gradcheck_dense),
    TEST(test_gradcheck_activations),
    TEST(test_gradcheck_losses),
    TEST(test_gradcheck_model),
    TEST(test_model_layout),
    TEST(test_model_matches_layers),
    TEST(test_model_all_params_get_gradient),
    TEST(test_training_deterministic),
    TEST(test_training_xor),
    TEST(test_training_blobs),
    TEST(test_model_summary),
    TEST(test_crc32),
    TEST(test_result_string),
    TEST(test_idx_parse),
    TEST(test_gzip_decode),
#ifndef NN_NO_STDIO
    TEST(test_read_file),
    TEST(test_read_file_directory),
    TEST(test_idx_load),
#endif
};

int main(int argc, char **argv) { return TEST_MAIN(argc, argv, tests); }
