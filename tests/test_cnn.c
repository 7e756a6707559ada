/* test_cnn.c - convolutional networks in nn.h's sequential model (section 8): the image
   kinds (CONV2D, MAXPOOL2D, AVGPOOL2D, GLOBAL_AVGPOOL, BATCHNORM2D, DROPOUT2D) chained
   by nn_model_*, saved and loaded (GEOM, format 1.4), exported as C, validated.

   Build and run from the repository root (fixtures are read from tests/fixtures/):
       gcc -std=c99 -O2 -Wall -Wextra -Wpedantic -Werror tests/test_cnn.c -o /tmp/tn -lm -lpthread && /tmp/tn
   An argument runs only the tests whose name contains it:  /tmp/tn serialize

   What is checked, and against what
   - PyTorch parity (tests/fixtures/cnn_small.txt, written by tests/gen_conv_fixtures.py):
     Conv2d-ReLU-MaxPool-Conv2d-ReLU-MaxPool-Flatten-Linear on (3, 1, 12, 12), mean
     cross-entropy; logits, loss, every intermediate the fixture has, every parameter
     gradient and dx by the rule of PARITY.md,
         |got - want| <= rtol |want| + atol max_j |want_j|,   rtol = atol = 1e-5,
     with every activation and gradient buffer of the model filled with NaN first (an
     element nobody writes is a mismatch). One line "parity cnn_small worst_rel <v>"
     reports the worst elementwise relative error (a figure, not the criterion). The same
     model without the Flatten layer (a dense layer reads the flattened size) must give
     the same bits.
   - nn_gradcheck_model (centred differences) on CNNs that use every image kind:
     overlapping max pooling on the input (values 0.05 apart in each plane: no step of the
     check moves a window's winner; see every_kind_layers), grouped dilated padded conv,
     BatchNorm2d, ELU, AvgPool2d without the padding in the divisor, a 1x1 conv,
     Dropout2d, global average pooling; train and eval, batch 3 and 1; and a strided
     rectangular conv first (d loss / d x checked through it).
   - Serializer: round trips (init from memory, load into a live model) give the same
     eval bits; GEOM is there and says what the description says; every truncation and a
     single-bit flip of every byte are refused without arena use or change to the model;
     crafted GEOM sections with their CRCs fixed (count, values over INT_MAX, minor 3,
     another padding, another input shape of the same size, an unknown required tag,
     GEOM removed); a plain MLP is still written without GEOM.
   - C export (POSIX, only with -DNN_TEST_EXTERNAL as test_serialize's, since it runs the
     system compiler): the exported CNN compiles warning-free and gives the same bits.
   - Validation of descriptions (each bad field refused with its code and a message
     naming the layer; a live model survives a failed init unchanged), batch statistics
     (BatchNorm1d refuses a training batch of 1, BatchNorm2d trains on one image),
     determinism (same seed, same bits; a 2-thread pool gives the 1-thread bits), EVAL
     forwards that run the image layers in blocks of rows (outputs and input gradients
     the bits of forwards one block long),
     no allocator call inside a training step (only when this file compiles the
     implementation itself: the counting NN_MALLOC hooks must be the implementation's),
     the summary's shapes and descriptions, and the arena size queries.
   Everything is deterministic: data comes from nn_rng with fixed seeds. */
#if (defined(__unix__) || defined(__APPLE__)) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L /* mkdtemp */
#endif
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__GNUC__) || defined(__clang__)
#define T_UNUSED __attribute__((unused))
#else
#define T_UNUSED
#endif

#ifndef NN_TEST_LINKED /* built against a separately compiled implementation */
/* Counting allocator hooks (test_cnn_no_alloc_in_step): every call nn.h makes to its
   allocator. Only a file that compiles the implementation can hook it. */
static long t_alloc_calls = 0;
static T_UNUSED void *t_malloc(size_t n) {
    t_alloc_calls++;
    return malloc(n);
}
static T_UNUSED void *t_realloc(void *p, size_t n) {
    t_alloc_calls++;
    return realloc(p, n);
}
static T_UNUSED void t_free(void *p) {
    t_alloc_calls++;
    free(p);
}
#define NN_MALLOC(sz) t_malloc(sz)
#define NN_REALLOC(p, sz) t_realloc(p, sz)
#define NN_FREE(p) t_free(p)
#define NN_IMPLEMENTATION
#endif
#include "../nn.h"
#include "fixture.h"
#include "test.h"

#if defined(__unix__) || defined(__APPLE__)
#define T_POSIX 1
#include <unistd.h>
#else
#define T_POSIX 0
#endif

#ifndef FIXTURE_DIR
#define FIXTURE_DIR "tests/fixtures/"
#endif

#define RTOL 1e-5
#define ATOL 1e-5

/* ======================================================================== */
/* helpers                                                                   */
/* ======================================================================== */

/* Scratch memory: what a test takes is released at its end (tmem_release). */
#define TMEM_MAX 256
static void *tmem_ptr[TMEM_MAX];
static int tmem_n = 0;
static void *tmem(size_t bytes) {
    void *p;
    if (tmem_n == TMEM_MAX) {
        printf("test_cnn: scratch pool full\n");
        fflush(stdout);
        abort();
    }
    p = calloc(bytes ? bytes : 1, 1);
    if (!p) {
        printf("test_cnn: out of memory\n");
        fflush(stdout);
        abort();
    }
    tmem_ptr[tmem_n++] = p;
    return p;
}
static float *fbuf(size_t n) { return (float *)tmem(n * sizeof(float)); }
static int *ibuf(size_t n) { return (int *)tmem(n * sizeof(int)); }
static unsigned char *bbuf(size_t n) { return (unsigned char *)tmem(n); }
static void tmem_release(void) {
    while (tmem_n > 0) free(tmem_ptr[--tmem_n]);
}

static void fill_uniform(float *p, size_t n, uint64_t seed, float lo, float hi) {
    nn_rng r;
    size_t i;
    nn_rng_seed(&r, seed);
    for (i = 0; i < n; i++) p[i] = lo + (hi - lo) * nn_rng_uniform(&r);
}
static void fill_labels(int *p, int n, int classes, uint64_t seed) {
    nn_rng r;
    int i;
    nn_rng_seed(&r, seed);
    for (i = 0; i < n; i++) p[i] = (int)nn_rng_below(&r, (uint32_t)classes);
}
static void fill_nan(float *p, size_t n) {
    size_t i;
    for (i = 0; i < n; i++) p[i] = (float)NAN;
}
static int same_floats(const float *a, const float *b, size_t n) { return n == 0 || memcmp(a, b, n * sizeof(float)) == 0; }
static int all_finite(const float *p, size_t n) {
    size_t i;
    for (i = 0; i < n; i++)
        if (!(p[i] - p[i] == 0.0f)) return 0;
    return 1;
}

/* A description over (C, H, W) images. */
static nn_model_desc cnn_desc(const nn_layer_desc *ls, int n, int c, int h, int w, int max_batch, uint64_t seed) {
    nn_model_desc d;
    memset(&d, 0, sizeof d);
    d.inputs = c * h * w;
    d.max_batch = max_batch;
    d.layers = ls;
    d.n_layers = n;
    d.seed = seed;
    d.input_shape[0] = c;
    d.input_shape[1] = h;
    d.input_shape[2] = w;
    return d;
}

/* A model in a heap arena of exactly its size plus `extra` bytes. */
typedef struct held {
    nn_model m;
    nn_arena a;
} held;
static int held_init(held *h, const nn_model_desc *d, size_t extra) {
    size_t bytes = nn_model_arena_bytes(d);
    memset(h, 0, sizeof *h);
    if (!CHECKF(bytes > 0, "invalid model description")) return 0;
    if (!CHECK_EQ_INT(nn_arena_init_heap(&h->a, bytes + extra), NN_OK)) return 0;
    if (!CHECKF(nn_model_init(&h->m, &h->a, d) == NN_OK, "nn_model_init: %s", h->m.error)) {
        nn_arena_deinit(&h->a);
        return 0;
    }
    return 1;
}
static void held_free(held *h) { nn_arena_deinit(&h->a); }

/* EVAL outputs for B rows of x into out (B * outputs); the mode is restored. */
static int eval_out(nn_model *m, const float *x, int B, float *out) {
    nn_mode old = m->mode;
    nn_tensor y;
    nn_model_set_mode(m, NN_MODE_EVAL);
    y = nn_model_forward(m, nn_tensor_2d((float *)x, B, m->inputs));
    nn_model_set_mode(m, old);
    if (!y.data) return 0;
    memcpy(out, y.data, sizeof(float) * (size_t)B * (size_t)m->outputs);
    return 1;
}

/* One training step: cross-entropy on the logits, zero_grad, backward, optimizer.
   Returns the loss (NaN when the forward was refused). */
static float train_step(nn_model *m, nn_optim *o, const float *x, const int *labels, int B) {
    nn_tensor y = nn_model_forward(m, nn_tensor_2d((float *)x, B, m->inputs)), dy;
    float loss;
    if (!y.data) return (float)NAN;
    dy = nn_model_output_grad(m);
    loss = nn_loss_cross_entropy(dy, y, labels);
    nn_model_zero_grad(m);
    if (nn_model_backward(m, dy) != NN_OK) return (float)NAN;
    if (nn_optim_step_params(o, m->param_list, m->n_param_list) != NN_OK) return (float)NAN;
    return loss;
}

/* The model struct as it was, but for its error message (the one field a failed call
   may change). */
static int same_model_struct(const nn_model *a, const nn_model *b) {
    nn_model t;
    memcpy(&t, b, sizeof t);
    memcpy(t.error, a->error, sizeof t.error);
    return memcmp(a, &t, sizeof t) == 0;
}

/* Everything a failed load or init must leave alone: the struct, parameters, buffers. */
typedef struct snap {
    nn_model m;
    float *params, *buffers;
} snap;
static void snap_take(snap *s, const nn_model *m) {
    s->m = *m;
    s->params = fbuf(m->n_params);
    s->buffers = fbuf(m->n_buffers);
    if (m->n_params) memcpy(s->params, m->params, sizeof(float) * m->n_params);
    if (m->n_buffers) memcpy(s->buffers, m->buffers, sizeof(float) * m->n_buffers);
}
static int snap_same(const snap *s, const nn_model *m) {
    return same_model_struct(&s->m, m) && same_floats(s->params, m->params, m->n_params) &&
           same_floats(s->buffers, m->buffers, m->n_buffers);
}

/* ---- the file format (docs/FORMAT.md) ---- */
#define TAG4(a, b, c, d) ((uint32_t)(a) | ((uint32_t)(b) << 8) | ((uint32_t)(c) << 16) | ((uint32_t)(d) << 24))
#define T_GEOM TAG4('G', 'E', 'O', 'M')
#define F_HEADER 24
#define F_SECHEAD 16
#define F_GEOM_FIELDS 10

static uint32_t rd32(const unsigned char *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static uint64_t rd64(const unsigned char *p) { return (uint64_t)rd32(p) | ((uint64_t)rd32(p + 4) << 32); }
static void wr32(unsigned char *p, uint32_t v) {
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}
static void fix_header(unsigned char *f) { wr32(f + 20, nn_crc32c(0, f, 20)); }
/* the section CRC covers its 16-byte header and payload */
static void fix_section(unsigned char *f, size_t off) {
    uint64_t len = rd64(f + off + 8);
    wr32(f + off + F_SECHEAD + (size_t)len, nn_crc32c(0, f + off, F_SECHEAD + (size_t)len));
}
/* Offset of the header of the first section with this tag, or 0. */
static size_t sec_find(const unsigned char *f, size_t len, uint32_t tag) {
    size_t pos = F_HEADER;
    uint32_t n = rd32(f + 16), i;
    for (i = 0; i < n && pos + F_SECHEAD <= len; i++) {
        uint64_t slen = rd64(f + pos + 8);
        if (rd32(f + pos) == tag) return pos;
        pos += F_SECHEAD + (size_t)slen + 4;
    }
    return 0;
}
/* A copy of f (tmem) without the section at off. */
static unsigned char *remove_section(const unsigned char *f, size_t len, size_t off, size_t *out_len) {
    size_t t = F_SECHEAD + (size_t)rd64(f + off + 8) + 4;
    unsigned char *g = bbuf(len - t);
    memcpy(g, f, off);
    memcpy(g + off, f + off + t, len - off - t);
    wr32(g + 16, rd32(g + 16) - 1);
    fix_header(g);
    *out_len = len - t;
    return g;
}
/* Saves into an exactly sized block (so ASan sees any read past the end). */
static unsigned char *save_tmem(const nn_model *m, size_t *len) {
    size_t n = nn_model_save_size(m, NULL), w = 0;
    unsigned char *b = bbuf(n);
    CHECK_EQ_INT(nn_model_save_to_memory(m, NULL, b, n, &w), NN_OK);
    CHECK(w == n);
    *len = w;
    return b;
}
static unsigned char *dup_tmem(const unsigned char *p, size_t n) {
    unsigned char *q = bbuf(n);
    if (n) memcpy(q, p, n);
    return q;
}

/* ======================================================================== */
/* 1. PyTorch parity: cnn_small                                              */
/* ======================================================================== */

/* Every activation buffer and both gradient ping-pong buffers to NaN: an element the
   forward or backward fails to write shows as a mismatch. */
static void model_fill_nan(nn_model *m) {
    size_t widest = (size_t)m->inputs, MB = (size_t)m->max_batch;
    int l;
    for (l = 0; l < m->n_layers; l++) {
        nn_layer *ly = &m->layers[l];
        if ((size_t)ly->out > widest) widest = (size_t)ly->out;
        if (ly->kind != NN_LAYER_FLATTEN && ly->y.data) fill_nan(ly->y.data, MB * (size_t)ly->out);
    }
    fill_nan(m->gbuf[0], MB * widest);
    fill_nan(m->gbuf[1], MB * widest);
    fill_nan(m->dout, MB * (size_t)m->outputs);
}

typedef struct parity {
    double worst, worst_scaled; /* max |diff| / |want|, max |diff| / max |want| */
    char where[32];
} parity;
static void parity_cmp(parity *p, const char *what, const float *got, const fx_tensor *want, size_t n) {
    double w = 0.0;
    int ok;
    if (!CHECKF(want != NULL && (size_t)want->size == n, "%s: fixture tensor missing or not %lu values", what,
                (unsigned long)n))
        return;
    ok = fx_close(got, want->data, want->size, RTOL, ATOL, &w);
    CHECKF(ok, "%s: beyond rtol = atol = 1e-5 (worst rel %.3g)", what, w);
    {
        double big = 0.0, d = 0.0;
        size_t i;
        for (i = 0; i < n; i++) big = fabs(want->data[i]) > big ? fabs(want->data[i]) : big;
        for (i = 0; i < n; i++) d = fabs((double)got[i] - want->data[i]) > d ? fabs((double)got[i] - want->data[i]) : d;
        if (big > 0.0 && d / big > p->worst_scaled) p->worst_scaled = d / big;
    }
    if (!(w <= p->worst)) {
        p->worst = w;
        snprintf(p->where, sizeof p->where, "%s", what);
    }
}

/* The cnn_small layers, with or without the explicit Flatten. */
static int cnn_small_layers(nn_layer_desc *ls, int flatten) {
    int n = 0;
    ls[n++] = nn_conv2d(4, 3, 1, 1, NN_ACT_RELU);
    ls[n++] = nn_maxpool2d(2, 2, 0);
    ls[n++] = nn_conv2d(8, 3, 1, 1, NN_ACT_RELU);
    ls[n++] = nn_maxpool2d(2, 2, 0);
    if (flatten) ls[n++] = nn_flatten();
    ls[n++] = nn_dense(10, NN_ACT_IDENTITY);
    return n;
}

/* Forward, loss and backward of the fixture's batch; the outputs into the caller's
   buffers (logits B*10, grads n_params, dx B*144). */
static float cnn_small_run(nn_model *m, const fx_file *f, float *logits, float *grads, float *dx) {
    static const char *pnames[6] = {"c1_w", "c1_b", "c2_w", "c2_b", "fc_w", "fc_b"};
    const fx_tensor *x = fx_get(f, "x"), *lab = fx_get(f, "labels");
    int labels[3], i, B;
    float *input_grad;
    nn_tensor y, dy;
    float loss;
    if (!CHECK(x && lab && x->rank == 4 && x->shape[0] == 3 && lab->size == 3)) return (float)NAN;
    B = x->shape[0];
    if (!CHECK_EQ_INT(m->n_param_list, 6)) return (float)NAN;
    for (i = 0; i < 6; i++) {
        const fx_tensor *p = fx_get(f, pnames[i]);
        if (!CHECKF(p && (size_t)p->size == m->param_list[i].size, "%s: %lu values in the model", pnames[i],
                    (unsigned long)m->param_list[i].size))
            return (float)NAN;
        memcpy(m->param_list[i].data, p->data, sizeof(float) * (size_t)p->size);
    }
    for (i = 0; i < B; i++) labels[i] = (int)lab->data[i];
    input_grad = fbuf((size_t)m->max_batch * (size_t)m->inputs);
    fill_nan(input_grad, (size_t)m->max_batch * (size_t)m->inputs);
    m->input_grad = input_grad;
    model_fill_nan(m);
    y = nn_model_forward(m, nn_tensor_4d(x->data, B, 1, 12, 12)); /* a 4-D batch: rows of C*H*W */
    if (!CHECKF(y.data != NULL, "forward refused: %s", m->error)) return (float)NAN;
    CHECK(y.shape[0] == B && nn_tensor_row_size(y) == 10);
    dy = nn_model_output_grad(m);
    loss = nn_loss_cross_entropy(dy, y, labels);
    nn_model_zero_grad(m);
    CHECK_EQ_INT(nn_model_backward(m, dy), NN_OK);
    memcpy(logits, y.data, sizeof(float) * (size_t)B * 10);
    memcpy(grads, m->grads, sizeof(float) * m->n_params);
    memcpy(dx, input_grad, sizeof(float) * (size_t)B * (size_t)m->inputs);
    m->input_grad = NULL;
    return loss;
}

static void test_cnn_small_parity(void) {
    static const char *gnames[6] = {"d_c1_w", "d_c1_b", "d_c2_w", "d_c2_b", "d_fc_w", "d_fc_b"};
    /* the model's layers (flatten included) that hold the fixture's intermediates */
    static const struct { int layer; nn_layer_kind kind; const char *name; } inter[4] = {
        {0, NN_LAYER_CONV2D, "z1"}, {2, NN_LAYER_MAXPOOL2D, "p1"}, {3, NN_LAYER_CONV2D, "z2"},
        {5, NN_LAYER_MAXPOOL2D, "p2"}};
    fx_file f;
    nn_layer_desc ls[8];
    nn_model_desc d;
    held a, b;
    parity p;
    float *logits[2], *grads[2], *dx[2], loss[2];
    int n, i, B = 3;
    if (!CHECK(fx_load(&f, FIXTURE_DIR "cnn_small.txt") == 0)) return;
    memset(&p, 0, sizeof p);
    n = cnn_small_layers(ls, 1);
    d = cnn_desc(ls, n, 1, 12, 12, 4, 1);
    if (!held_init(&a, &d, 0)) {
        fx_free(&f);
        return;
    }
    CHECK_EQ_INT(a.m.n_params, 1066);
    CHECK_EQ_INT(a.m.n_layers, 8); /* conv, relu, pool, conv, relu, pool, flatten, dense */
    for (i = 0; i < 2; i++) {
        logits[i] = fbuf((size_t)B * 10);
        grads[i] = fbuf(a.m.n_params);
        dx[i] = fbuf((size_t)B * 144);
    }
    loss[0] = cnn_small_run(&a.m, &f, logits[0], grads[0], dx[0]);
    parity_cmp(&p, "logits", logits[0], fx_get(&f, "y"), (size_t)B * 10);
    {
        float want = fx_scalar(&f, "loss");
        parity_cmp(&p, "loss", &loss[0], fx_get(&f, "loss"), 1);
        CHECK_CLOSE(loss[0], want, RTOL, ATOL);
    }
    for (i = 0; i < 4; i++) {
        const nn_layer *ly = &a.m.layers[inter[i].layer];
        if (CHECKF(ly->kind == inter[i].kind, "layer %d is not the expected kind", inter[i].layer))
            parity_cmp(&p, inter[i].name, ly->y.data, fx_get(&f, inter[i].name), (size_t)B * (size_t)ly->out);
    }
    for (i = 0; i < 6; i++)
        parity_cmp(&p, gnames[i], grads[0] + (a.m.param_list[i].grad - a.m.grads), fx_get(&f, gnames[i]),
                   a.m.param_list[i].size);
    parity_cmp(&p, "dx", dx[0], fx_get(&f, "dx"), (size_t)B * 144);
    TEST_NOTE("parity cnn_small worst_rel %.2e (at %s; worst |diff|/max|want| %.2e)", p.worst, p.where,
              p.worst_scaled);

    /* without the Flatten layer: the dense layer reads the flattened (8, 3, 3) */
    n = cnn_small_layers(ls, 0);
    d = cnn_desc(ls, n, 1, 12, 12, 4, 1);
    if (held_init(&b, &d, 0)) {
        CHECK_EQ_INT(b.m.n_params, 1066);
        CHECK_EQ_INT(b.m.n_layers, a.m.n_layers - 1);
        loss[1] = cnn_small_run(&b.m, &f, logits[1], grads[1], dx[1]);
        CHECK(memcmp(&loss[0], &loss[1], sizeof(float)) == 0);
        CHECK(same_floats(logits[0], logits[1], (size_t)B * 10));
        CHECK(same_floats(grads[0], grads[1], a.m.n_params));
        CHECK(same_floats(dx[0], dx[1], (size_t)B * 144));
        held_free(&b);
    }
    held_free(&a);
    fx_free(&f);
    tmem_release();
}

/* ======================================================================== */
/* 2. whole-model gradient checks                                            */
/* ======================================================================== */

/* Each of n planes of `size` values: the levels (k - (size-1)/2) * 0.05, k = 0..size-1, in
   a random order. Two values of a plane differ by 0.05 or more, so moving one by the
   check's step (1e-2) never changes which one a max-pooling window picks. */
static void fill_planes_spaced(float *x, int n, int size, uint64_t seed) {
    nn_rng r;
    int *idx = ibuf((size_t)size), q, k;
    nn_rng_seed(&r, seed);
    for (q = 0; q < n; q++) {
        for (k = 0; k < size; k++) idx[k] = k;
        nn_rng_shuffle(&r, idx, size);
        for (k = 0; k < size; k++) x[(size_t)q * size + idx[k]] = 0.05f * ((float)k - 0.5f * (float)(size - 1));
    }
}

/* nn_gradcheck_model with the given step on a fresh model: every parameter run and the
   input pass; the worst relative error stays below 0.1 (a batch-norm bias gradient, near
   zero, reaches 6e-2 with float32 noise). */
static void cnn_gradcheck(const char *what, const nn_layer_desc *ls, int n, int c, int h, int w, int B, int classify,
                          nn_mode mode, double step) {
    nn_model_desc d = cnn_desc(ls, n, c, h, w, B, 23);
    held hd;
    nn_arena scratch;
    nn_gradcheck_desc gd = nn_gradcheck_desc_default();
    nn_gradcheck_result res;
    nn_batch bt;
    nn_result rc;
    float *x, *t;
    int *labels, l;
    if (!held_init(&hd, &d, 0)) return;
    if (!CHECK_EQ_INT(nn_arena_init_heap(&scratch, (size_t)1 << 20), NN_OK)) {
        held_free(&hd);
        return;
    }
    x = fbuf((size_t)B * (size_t)hd.m.inputs);
    t = fbuf((size_t)B * (size_t)hd.m.outputs);
    labels = ibuf((size_t)B);
    fill_planes_spaced(x, B * hd.m.input_shape[0], hd.m.input_shape[1] * hd.m.input_shape[2], 101);
    fill_uniform(t, (size_t)B * (size_t)hd.m.outputs, 102, -1.0f, 1.0f);
    fill_labels(labels, B, hd.m.outputs, 103);
    /* normalization parameters away from 1 and 0, so that their gradients mean something */
    for (l = 0; l < hd.m.n_layers; l++) {
        nn_layer *ly = &hd.m.layers[l];
        if (ly->kind == NN_LAYER_BATCHNORM2D) {
            fill_uniform(ly->w.data, nn_tensor_size(ly->w), 104 + (uint64_t)l, 0.6f, 1.4f);
            fill_uniform(ly->b.data, nn_tensor_size(ly->b), 204 + (uint64_t)l, -0.3f, 0.3f);
        }
    }
    bt.x = nn_tensor_2d(x, B, hd.m.inputs);
    bt.labels = classify ? labels : NULL;
    bt.targets = classify ? NULL : t;
    if (mode == NN_MODE_EVAL && hd.m.n_buffers) {
        /* running statistics away from (0, 1): two training forwards */
        CHECK(nn_model_forward(&hd.m, bt.x).data != NULL);
        CHECK(nn_model_forward(&hd.m, bt.x).data != NULL);
    }
    nn_model_set_mode(&hd.m, mode);
    gd.step = step;
    rc = nn_gradcheck_model(&hd.m, bt, &gd, &scratch, &res);
    CHECKF(rc == NN_OK, "%s: %s (%s)", what, nn_result_string(rc), res.error);
    CHECKF(res.checked > 0 && res.failed == 0, "%s: %ld of %ld elements failed; worst %s[%ld] analytic %.6g numeric "
           "%.6g", what, res.failed, res.checked, res.n_worst ? res.worst[0].run : "-",
           res.n_worst ? res.worst[0].index : -1L, res.n_worst ? res.worst[0].analytic : 0.0,
           res.n_worst ? res.worst[0].numeric : 0.0);
    CHECKF(res.max_rel < 0.1, "%s: worst relative error %g", what, res.max_rel);
    /* every parameter run, then the input */
    CHECK_EQ_INT(res.n_runs, hd.m.n_param_list + 1);
    CHECK(res.n_runs > 0 && strcmp(res.runs[res.n_runs - 1].name, "input") == 0);
    CHECK(scratch.used == 0);
    TEST_NOTE("gradcheck %s: %ld elements, worst relative error %.2g", what, res.checked, res.max_rel);
    nn_arena_deinit(&scratch);
    held_free(&hd);
    tmem_release();
}

/* Every image kind in one model, input (3, 9, 7). Max pooling comes first: deeper in
   the network a step of 1e-2 on a weight moves every value of a channel and, at that
   size, some window's winner (29 of 131 weights did so with max pooling after the 1x1
   conv), and the centred difference straddles a kink. On the input, whose values are
   0.05 apart within a plane, no step moves a winner. */
static int every_kind_layers(nn_layer_desc *ls) {
    int n = 0;
    ls[n++] = nn_maxpool2d(2, 1, 0);                /* overlapping windows: (3, 8, 6) */
    ls[n] = nn_conv2d(6, 3, 1, 2, NN_ACT_IDENTITY); /* (6, 8, 6): dilation 2 eats padding 2 */
    ls[n].groups = 3;
    ls[n].dilation[0] = ls[n].dilation[1] = 2;
    n++;
    ls[n++] = nn_batchnorm2d();
    ls[n++] = nn_activation(NN_ACT_ELU);
    ls[n] = nn_avgpool2d(3, 2, 1); /* (6, 4, 3) */
    ls[n].count_include_pad = 0;
    n++;
    ls[n++] = nn_conv2d(5, 1, 1, 0, NN_ACT_TANH); /* 1x1, the direct path: (5, 4, 3) */
    ls[n++] = nn_dropout2d(0.3f);
    ls[n++] = nn_global_avgpool(); /* 5 */
    ls[n++] = nn_dense(4, NN_ACT_IDENTITY);
    return n;
}

static void test_cnn_gradcheck_every_kind(void) {
    nn_layer_desc ls[16];
    int n = every_kind_layers(ls);
    cnn_gradcheck("every kind, train, batch 3", ls, n, 3, 9, 7, 3, 1, NN_MODE_TRAIN, 1e-2);
    cnn_gradcheck("every kind, train, batch 1", ls, n, 3, 9, 7, 1, 1, NN_MODE_TRAIN, 1e-2);
    cnn_gradcheck("every kind, eval, batch 3", ls, n, 3, 9, 7, 3, 1, NN_MODE_EVAL, 1e-2);
    cnn_gradcheck("every kind, eval, batch 1", ls, n, 3, 9, 7, 1, 1, NN_MODE_EVAL, 1e-2);
}

/* A strided conv with a rectangular kernel and padding first: d loss / d x through it;
   MSE this time. */
static void test_cnn_gradcheck_conv_first(void) {
    nn_layer_desc ls[4];
    int n = 0;
    ls[n] = nn_conv2d(3, 3, 2, 1, NN_ACT_TANH); /* (2, 7, 9) -> (3, 4, 9) */
    ls[n].kernel[1] = 5;
    ls[n].stride[1] = 1;
    ls[n].padding[1] = 2;
    n++;
    ls[n++] = nn_flatten();
    ls[n++] = nn_dense(3, NN_ACT_IDENTITY);
    cnn_gradcheck("conv first (3x5, stride 2x1), MSE, batch 2", ls, n, 2, 7, 9, 2, 0, NN_MODE_TRAIN, 1e-2);
    cnn_gradcheck("conv first, cross-entropy, batch 1", ls, n, 2, 7, 9, 1, 1, NN_MODE_TRAIN, 1e-2);
}

/* ======================================================================== */
/* 3. serializer                                                             */
/* ======================================================================== */

#define SER_C 2
#define SER_H 8
#define SER_W 8
#define SER_B 3

/* input (2, 8, 8): conv 0 may lose its padding (global pooling keeps the dense input). */
static int ser_layers(nn_layer_desc *ls) {
    int n = 0;
    ls[n++] = nn_conv2d(4, 3, 1, 1, NN_ACT_RELU); /* (4, 8, 8) */
    ls[n++] = nn_batchnorm2d();
    ls[n++] = nn_maxpool2d(2, 2, 0); /* (4, 4, 4) */
    ls[n++] = nn_dropout2d(0.25f);
    ls[n] = nn_conv2d(6, 3, 1, 1, NN_ACT_TANH); /* (6, 4, 4) */
    ls[n].groups = 2;
    n++;
    ls[n] = nn_avgpool2d(2, 1, 1); /* (6, 5, 5) */
    ls[n].count_include_pad = 0;
    n++;
    ls[n++] = nn_global_avgpool();
    ls[n++] = nn_dense(5, NN_ACT_IDENTITY);
    return n;
}

/* A ser model trained a few steps (running statistics away from (0, 1)). */
static int ser_model(held *h, nn_layer_desc *ls, uint64_t seed, int steps) {
    int n = ser_layers(ls), s, B = SER_B;
    nn_model_desc d = cnn_desc(ls, n, SER_C, SER_H, SER_W, SER_B, seed);
    nn_optim_desc od = nn_optim_desc_default(NN_OPTIM_SGD);
    nn_optim o;
    float *x;
    int *labels;
    if (!held_init(h, &d, nn_optim_arena_bytes(&od, nn_model_param_count(&d)))) return 0;
    if (!CHECK_EQ_INT(nn_optim_init(&o, &h->a, &od, h->m.n_params), NN_OK)) return 0;
    x = fbuf((size_t)B * (size_t)h->m.inputs);
    labels = ibuf((size_t)B);
    for (s = 0; s < steps; s++) {
        fill_uniform(x, (size_t)B * (size_t)h->m.inputs, seed * 100 + (uint64_t)s, -1.0f, 1.0f);
        fill_labels(labels, B, h->m.outputs, seed * 100 + 50 + (uint64_t)s);
        {
            float loss = train_step(&h->m, &o, x, labels, B);
            CHECKF(loss == loss && loss > 0.0f, "training step %d: loss %g (%s)", s, (double)loss, h->m.error);
        }
    }
    return 1;
}

static void test_cnn_serialize_roundtrip(void) {
    nn_layer_desc ls[16], ls2[16], back[16];
    held g, h;
    nn_arena a;
    nn_model m2;
    nn_model_desc fd;
    unsigned char *buf;
    size_t len, off, bytes = 0;
    float *x, *y0, *y1;
    int i, j, n;
    if (!ser_model(&g, ls, 1, 3) || !ser_model(&h, ls2, 2, 0)) return;
    n = g.m.n_descs;
    x = fbuf((size_t)SER_B * (size_t)g.m.inputs);
    y0 = fbuf((size_t)SER_B * (size_t)g.m.outputs);
    y1 = fbuf((size_t)SER_B * (size_t)g.m.outputs);
    fill_uniform(x, (size_t)SER_B * (size_t)g.m.inputs, 77, -1.0f, 1.0f);
    CHECK(eval_out(&g.m, x, SER_B, y0));
    CHECK(all_finite(y0, (size_t)SER_B * (size_t)g.m.outputs));
    buf = save_tmem(&g.m, &len);
    memset(&fd, 0, sizeof fd);

    /* GEOM is there, required, and holds the description */
    off = sec_find(buf, len, T_GEOM);
    if (CHECKF(off != 0, "a CNN file has no GEOM section")) {
        const unsigned char *p = buf + off + F_SECHEAD;
        CHECK_EQ_INT(rd32(buf + off + 4), 1); /* required */
        CHECK_EQ_INT(rd64(buf + off + 8), 16 + 4 * F_GEOM_FIELDS * n);
        CHECK_EQ_INT(rd32(p), n);
        CHECK(rd32(p + 4) == SER_C && rd32(p + 8) == SER_H && rd32(p + 12) == SER_W);
        for (i = 0; i < n; i++) {
            const nn_layer_desc *l = &ls[i];
            int want[F_GEOM_FIELDS], bad = 0;
            want[0] = l->kernel[0]; want[1] = l->kernel[1]; want[2] = l->stride[0]; want[3] = l->stride[1];
            want[4] = l->padding[0]; want[5] = l->padding[1]; want[6] = l->dilation[0]; want[7] = l->dilation[1];
            want[8] = l->groups; want[9] = l->count_include_pad;
            for (j = 0; j < F_GEOM_FIELDS; j++) bad += rd32(p + 16 + 4 * (F_GEOM_FIELDS * i + j)) != (uint32_t)want[j];
            CHECKF(bad == 0, "GEOM record of layer %d: %d fields differ from the description", i, bad);
        }
        /* spot checks against the constructors' values */
        CHECK(rd32(p + 16 + 4 * 4) == 1 && rd32(p + 16 + 4 * 8) == 1);                        /* conv 0: padding, groups */
        CHECK(rd32(p + 16 + 4 * (F_GEOM_FIELDS * 4 + 8)) == 2);                                /* conv 4: groups 2 */
        CHECK(rd32(p + 16 + 4 * (F_GEOM_FIELDS * 5 + 9)) == 0 && rd32(p + 16 + 4 * (F_GEOM_FIELDS * 5 + 4)) == 1);
        CHECK(rd32(p + 16 + 4 * (F_GEOM_FIELDS * 7)) == 0);                                    /* dense: no window */
    }
    CHECK_EQ_INT(rd32(buf + 12), NN_FORMAT_VERSION_MINOR);

    /* the description read back */
    if (CHECK_EQ_INT(nn_model_desc_from_memory(&fd, back, 16, buf, len), NN_OK)) {
        CHECK(fd.input_shape[0] == SER_C && fd.input_shape[1] == SER_H && fd.input_shape[2] == SER_W);
        CHECK_EQ_INT(fd.n_layers, n);
        for (i = 0; i < n && i < fd.n_layers; i++)
            CHECKF(back[i].kind == ls[i].kind && memcmp(back[i].kernel, ls[i].kernel, sizeof ls[i].kernel) == 0 &&
                       memcmp(back[i].stride, ls[i].stride, sizeof ls[i].stride) == 0 &&
                       memcmp(back[i].padding, ls[i].padding, sizeof ls[i].padding) == 0 &&
                       memcmp(back[i].dilation, ls[i].dilation, sizeof ls[i].dilation) == 0 &&
                       back[i].groups == ls[i].groups && back[i].count_include_pad == ls[i].count_include_pad &&
                       back[i].units == ls[i].units && back[i].act == ls[i].act && back[i].p == ls[i].p,
                   "layer %d read back differs", i);
    }
    CHECK_EQ_INT(nn_model_arena_bytes_from_memory(&bytes, buf, len, 0), NN_OK);
    CHECK_EQ_INT(bytes, g.m.arena_bytes);

    /* a new model from the file alone */
    if (CHECK_EQ_INT(nn_arena_init_heap(&a, bytes), NN_OK)) {
        if (CHECKF(nn_model_init_from_memory(&m2, &a, buf, len) == NN_OK, "init_from_memory: %s", m2.error)) {
            CHECK(a.used == bytes);
            CHECK(memcmp(m2.input_shape, g.m.input_shape, sizeof m2.input_shape) == 0);
            CHECK(m2.n_params == g.m.n_params && same_floats(m2.params, g.m.params, g.m.n_params));
            CHECK(m2.n_buffers == g.m.n_buffers && same_floats(m2.buffers, g.m.buffers, g.m.n_buffers));
            CHECK(eval_out(&m2, x, SER_B, y1));
            CHECK(same_floats(y0, y1, (size_t)SER_B * (size_t)g.m.outputs));
        }
        nn_arena_deinit(&a);
    }
    /* loaded into a live model built from the same description (another seed) */
    CHECK(!same_floats(h.m.params, g.m.params, g.m.n_params));
    CHECKF(nn_model_load_from_memory(&h.m, NULL, buf, len) == NN_OK, "load: %s", h.m.error);
    CHECK(same_floats(h.m.params, g.m.params, g.m.n_params) && same_floats(h.m.buffers, g.m.buffers, g.m.n_buffers));
    memset(y1, 0, sizeof(float) * (size_t)SER_B * (size_t)g.m.outputs);
    CHECK(eval_out(&h.m, x, SER_B, y1));
    CHECK(same_floats(y0, y1, (size_t)SER_B * (size_t)g.m.outputs));
    held_free(&g);
    held_free(&h);
    tmem_release();
}

/* Every proper prefix of a CNN file is refused; nothing taken from the arena, the
   caller's model unchanged. */
static void test_cnn_serialize_truncation(void) {
    nn_layer_desc ls[16], ls2[16];
    held g, h;
    nn_arena small;
    snap sn;
    unsigned char *buf;
    size_t len, cut;
    long bad_load = 0, bad_init = 0, bad_desc = 0, arena_used = 0, changed = 0;
    if (!ser_model(&g, ls, 1, 2) || !ser_model(&h, ls2, 2, 0)) return;
    buf = save_tmem(&g.m, &len);
    if (!CHECK_EQ_INT(nn_arena_init_heap(&small, (size_t)1 << 18), NN_OK)) return;
    snap_take(&sn, &h.m);
    for (cut = 0; cut < len; cut++) {
        unsigned char *p = (unsigned char *)malloc(cut ? cut : 1); /* exactly sized: ASan sees overreads */
        nn_model tmp;
        nn_model_desc d;
        nn_layer_desc back[16];
        if (!p) break;
        memcpy(p, buf, cut);
        if (nn_model_load_from_memory(&h.m, NULL, p, cut) == NN_OK) bad_load++;
        if (nn_model_init_from_memory(&tmp, &small, p, cut) == NN_OK) bad_init++;
        if (small.used != 0) {
            arena_used++;
            nn_arena_reset(&small);
        }
        if (nn_model_desc_from_memory(&d, back, 16, p, cut) == NN_OK) bad_desc++;
        if (!snap_same(&sn, &h.m)) changed++;
        free(p);
    }
    CHECKF(bad_load == 0, "%ld truncated files loaded", bad_load);
    CHECKF(bad_init == 0, "%ld truncated files built a model", bad_init);
    CHECKF(arena_used == 0, "%ld refused files left arena memory taken", arena_used);
    CHECKF(bad_desc == 0, "%ld truncated files gave a description", bad_desc);
    CHECKF(changed == 0, "%ld failed loads changed the caller's model", changed);
    CHECK_EQ_INT(nn_model_load_from_memory(&h.m, NULL, buf, len), NN_OK); /* the whole file does load */
    TEST_NOTE("%lu truncations of a %lu-byte CNN file refused", (unsigned long)len, (unsigned long)len);
    nn_arena_deinit(&small);
    held_free(&g);
    held_free(&h);
    tmem_release();
}

/* One bit of every byte flipped (bit i mod 8 of byte i): refused, no arena use, the
   caller's model unchanged. */
static void test_cnn_serialize_bitflips(void) {
    nn_layer_desc ls[16], ls2[16];
    held g, h;
    nn_arena small;
    snap sn;
    unsigned char *buf, *p;
    size_t len, i;
    long accepted = 0, changed = 0, codes[16];
    memset(codes, 0, sizeof codes);
    if (!ser_model(&g, ls, 1, 2) || !ser_model(&h, ls2, 2, 0)) return;
    buf = save_tmem(&g.m, &len);
    p = dup_tmem(buf, len);
    if (!CHECK_EQ_INT(nn_arena_init_heap(&small, (size_t)1 << 18), NN_OK)) return;
    snap_take(&sn, &h.m);
    for (i = 0; i < len; i++) {
        unsigned char bit = (unsigned char)(1u << (i % 8));
        nn_model tmp;
        nn_result r;
        p[i] ^= bit;
        r = nn_model_load_from_memory(&h.m, NULL, p, len);
        if (r == NN_OK) accepted++;
        else if (-(int)r < 16) codes[-(int)r]++;
        if (nn_model_init_from_memory(&tmp, &small, p, len) == NN_OK || small.used != 0) {
            accepted++;
            nn_arena_reset(&small);
        }
        if (!snap_same(&sn, &h.m)) changed++;
        p[i] ^= bit;
    }
    CHECKF(accepted == 0, "%ld single-bit flips were accepted", accepted);
    CHECKF(changed == 0, "%ld failed loads changed the caller's model", changed);
    CHECK_EQ_INT(nn_model_load_from_memory(&h.m, NULL, p, len), NN_OK); /* every flip undone */
    TEST_NOTE("%lu flips (one per byte): %ld bad magic, %ld checksum, %ld truncated, %ld corrupt, %ld version",
              (unsigned long)len, codes[4], codes[8], codes[6], codes[7], codes[5]);
    nn_arena_deinit(&small);
    held_free(&g);
    held_free(&h);
    tmem_release();
}

/* The three ways to read a file, each expecting a code; the live model unchanged when
   load fails; the arena untouched when init fails. */
static void expect_file(const char *what, held *h, const snap *sn, const unsigned char *f, size_t len,
                        nn_result want_load, nn_result want_init) {
    nn_arena a;
    nn_model tmp;
    nn_result r = nn_model_load_from_memory(&h->m, NULL, f, len);
    CHECKF(r == want_load, "%s: load gave %d (%s), expected %d", what, (int)r, h->m.error, (int)want_load);
    if (want_load != NN_OK) CHECKF(snap_same(sn, &h->m), "%s: a failed load changed the model", what);
    if (CHECK_EQ_INT(nn_arena_init_heap(&a, (size_t)1 << 18), NN_OK)) {
        memset(&tmp, 0, sizeof tmp);
        r = nn_model_init_from_memory(&tmp, &a, f, len);
        CHECKF(r == want_init, "%s: init_from_memory gave %d (%s), expected %d", what, (int)r, tmp.error,
               (int)want_init);
        if (want_init != NN_OK) CHECKF(a.used == 0, "%s: a failed init left %lu arena bytes taken", what,
                                       (unsigned long)a.used);
        nn_arena_deinit(&a);
    }
}

static void test_cnn_serialize_crafted_geom(void) {
    nn_layer_desc ls[16], ls2[16];
    held g, h;
    snap sn;
    unsigned char *buf, *p, *geom;
    size_t len, off, plen;
    int n;
    float *x, *y0, *y1;
    if (!ser_model(&g, ls, 1, 2) || !ser_model(&h, ls2, 1, 2)) return; /* h == g, bit for bit */
    n = g.m.n_descs;
    buf = save_tmem(&g.m, &len);
    off = sec_find(buf, len, T_GEOM);
    if (!CHECK(off != 0)) return;
    snap_take(&sn, &h.m);
    x = fbuf((size_t)SER_B * (size_t)g.m.inputs);
    y0 = fbuf((size_t)SER_B * (size_t)g.m.outputs);
    y1 = fbuf((size_t)SER_B * (size_t)g.m.outputs);
    fill_uniform(x, (size_t)SER_B * (size_t)g.m.inputs, 5, -1.0f, 1.0f);

    /* the unmodified file loads (the baseline of every case below) */
    expect_file("as written", &h, &sn, buf, len, NN_OK, NN_OK);
    snap_take(&sn, &h.m);

    /* n not ARCH's count */
    p = dup_tmem(buf, len);
    geom = p + off + F_SECHEAD;
    wr32(geom, (uint32_t)n + 1);
    fix_section(p, off);
    expect_file("GEOM n + 1", &h, &sn, p, len, NN_ERR_CORRUPT, NN_ERR_CORRUPT);
    wr32(geom, (uint32_t)n - 1);
    fix_section(p, off);
    expect_file("GEOM n - 1", &h, &sn, p, len, NN_ERR_CORRUPT, NN_ERR_CORRUPT);

    /* a value over INT_MAX: a window field, an input-shape field */
    p = dup_tmem(buf, len);
    geom = p + off + F_SECHEAD;
    wr32(geom + 16, 0x80000000u); /* conv 0's kernel[0] */
    fix_section(p, off);
    expect_file("GEOM kernel 2^31", &h, &sn, p, len, NN_ERR_CORRUPT, NN_ERR_CORRUPT);
    p = dup_tmem(buf, len);
    geom = p + off + F_SECHEAD;
    wr32(geom + 4 + 4, 0xFFFFFFFFu); /* input H */
    fix_section(p, off);
    expect_file("GEOM input H 2^32-1", &h, &sn, p, len, NN_ERR_CORRUPT, NN_ERR_CORRUPT);

    /* a 1.3 file cannot have GEOM */
    p = dup_tmem(buf, len);
    wr32(p + 12, 3);
    fix_header(p);
    expect_file("minor 3 with GEOM", &h, &sn, p, len, NN_ERR_CORRUPT, NN_ERR_CORRUPT);

    /* conv 0 without its padding: another valid model (8x8 -> 6x6 -> ... -> global pool,
       same parameters); not the live one */
    p = dup_tmem(buf, len);
    geom = p + off + F_SECHEAD;
    wr32(geom + 16 + 4 * 4, 0);
    wr32(geom + 16 + 4 * 5, 0);
    fix_section(p, off);
    expect_file("conv 0 padding 0", &h, &sn, p, len, NN_ERR_SHAPE_MISMATCH, NN_OK);
    {
        nn_arena a;
        nn_model m2;
        if (CHECK_EQ_INT(nn_arena_init_heap(&a, (size_t)1 << 18), NN_OK)) {
            if (CHECKF(nn_model_init_from_memory(&m2, &a, p, len) == NN_OK, "%s", m2.error)) {
                CHECK(m2.descs[0].padding[0] == 0 && m2.descs[0].padding[1] == 0);
                CHECK(m2.layers[0].kind == NN_LAYER_CONV2D && m2.layers[0].geom.ph == 0 && m2.layers[0].geom.pw == 0);
                CHECK(m2.layers[0].out_shape[0] == 4 && m2.layers[0].out_shape[1] == 6 && m2.layers[0].out_shape[2] == 6);
                CHECK(same_floats(m2.params, g.m.params, g.m.n_params));
                CHECK(eval_out(&m2, x, SER_B, y1) && all_finite(y1, (size_t)SER_B * (size_t)m2.outputs));
                CHECK(eval_out(&g.m, x, SER_B, y0));
                CHECK(!same_floats(y0, y1, (size_t)SER_B * (size_t)g.m.outputs)); /* the padding mattered */
            }
            nn_arena_deinit(&a);
        }
    }

    /* another input shape of the same size: (2, 4, 16) */
    p = dup_tmem(buf, len);
    geom = p + off + F_SECHEAD;
    wr32(geom + 8, 4);
    wr32(geom + 12, 16);
    fix_section(p, off);
    expect_file("input (2, 4, 16)", &h, &sn, p, len, NN_ERR_SHAPE_MISMATCH, NN_OK);
    {
        nn_arena a;
        nn_model m2;
        if (CHECK_EQ_INT(nn_arena_init_heap(&a, (size_t)1 << 18), NN_OK)) {
            if (CHECKF(nn_model_init_from_memory(&m2, &a, p, len) == NN_OK, "%s", m2.error))
                CHECK(m2.input_shape[0] == 2 && m2.input_shape[1] == 4 && m2.input_shape[2] == 16 &&
                      m2.layers[0].out_shape[1] == 4 && m2.layers[0].out_shape[2] == 16);
            nn_arena_deinit(&a);
        }
    }

    /* GEOM under an unknown tag that readers must know: a newer format */
    p = dup_tmem(buf, len);
    wr32(p + off, TAG4('G', 'E', 'O', 'Z'));
    fix_section(p, off);
    expect_file("GEOM renamed, required", &h, &sn, p, len, NN_ERR_VERSION, NN_ERR_VERSION);
    /* ... and as an optional one: skipped, which leaves conv layers with no window */
    wr32(p + off + 4, 0);
    fix_section(p, off);
    expect_file("GEOM renamed, optional", &h, &sn, p, len, NN_ERR_SHAPE_MISMATCH, NN_ERR_CORRUPT);
    /* GEOM removed */
    p = remove_section(buf, len, off, &plen);
    expect_file("GEOM removed", &h, &sn, p, plen, NN_ERR_SHAPE_MISMATCH, NN_ERR_CORRUPT);

    /* after all that, the live model still works as before */
    CHECK(snap_same(&sn, &h.m));
    CHECK(eval_out(&g.m, x, SER_B, y0) && eval_out(&h.m, x, SER_B, y1));
    CHECK(same_floats(y0, y1, (size_t)SER_B * (size_t)g.m.outputs));
    held_free(&g);
    held_free(&h);
    tmem_release();
}

/* A model with flat input and no image kind writes no GEOM (a 1.3 reader's file but for
   the minor); an input_shape alone is enough to write it. */
static void test_cnn_serialize_mlp_no_geom(void) {
    nn_layer_desc ls[3];
    nn_model_desc d;
    held g, h;
    unsigned char *buf;
    size_t len;
    ls[0] = nn_dense(7, NN_ACT_RELU);
    ls[1] = nn_dropout(0.1f);
    ls[2] = nn_dense(3, NN_ACT_IDENTITY);
    memset(&d, 0, sizeof d);
    d.inputs = 6;
    d.max_batch = 2;
    d.layers = ls;
    d.n_layers = 3;
    d.seed = 3;
    if (!held_init(&g, &d, 0)) return;
    buf = save_tmem(&g.m, &len);
    CHECK(sec_find(buf, len, T_GEOM) == 0);
    CHECK_EQ_INT(rd32(buf + 16), 4); /* ARCH, PARM, BUFS, RNGS */
    d.seed = 4;
    if (held_init(&h, &d, 0)) {
        CHECK_EQ_INT(nn_model_load_from_memory(&h.m, NULL, buf, len), NN_OK);
        CHECK(same_floats(h.m.params, g.m.params, g.m.n_params));
        held_free(&h);
    }
    held_free(&g);
    /* the same MLP over a (6, 1, 1) input shape stated: GEOM keeps it */
    d.input_shape[0] = 6;
    d.input_shape[1] = 1;
    d.input_shape[2] = 1;
    if (held_init(&g, &d, 0)) {
        size_t off;
        buf = save_tmem(&g.m, &len);
        off = sec_find(buf, len, T_GEOM);
        if (CHECK(off != 0)) CHECK(rd32(buf + off + F_SECHEAD + 4) == 6 && rd32(buf + off + F_SECHEAD + 8) == 1);
        held_free(&g);
    }
    tmem_release();
}

/* ======================================================================== */
/* 4. C export                                                               */
/* ======================================================================== */

#if T_POSIX
#ifdef NN_TEST_EXTERNAL
static char *read_text(const char *path) {
    FILE *f = fopen(path, "rb");
    long n;
    char *s;
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    s = (char *)tmem((size_t)n + 1);
    if (fread(s, 1, (size_t)n, f) != (size_t)n) s = NULL;
    fclose(f);
    return s;
}

static void test_cnn_export_c(void) {
    static const char *names[] = {"NN_LAYER_CONV2D", "NN_LAYER_BATCHNORM2D", "NN_LAYER_MAXPOOL2D",
                                  "NN_LAYER_DROPOUT2D", "NN_LAYER_AVGPOOL2D", "NN_LAYER_GLOBAL_AVGPOOL",
                                  "NN_LAYER_DENSE", "NN_ACT_RELU", "NN_ACT_TANH", "input_shape"};
    nn_layer_desc ls[16];
    held g;
    char dir[512], hpath[600], cpath[600], bin[600], opath[600], cmd[4096];
    const char *base = getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    const char *cc = getenv("NN_TEST_CC") ? getenv("NN_TEST_CC") : "cc";
    float *x, *y;
    char *text;
    FILE *f;
    int i, rc, B = SER_B, nout;
    if (!ser_model(&g, ls, 1, 3)) return;
    nout = B * g.m.outputs;
    x = fbuf((size_t)B * (size_t)g.m.inputs);
    y = fbuf((size_t)nout);
    fill_uniform(x, (size_t)B * (size_t)g.m.inputs, 8, -1.0f, 1.0f);
    CHECK(eval_out(&g.m, x, B, y));
    snprintf(dir, sizeof dir, "%s/nn_cnn_export_XXXXXX", base);
    if (!CHECKF(mkdtemp(dir) != NULL, "cannot make a directory under %s", base)) return;
    snprintf(hpath, sizeof hpath, "%s/cnn_model.h", dir);
    snprintf(cpath, sizeof cpath, "%s/cnn_main.c", dir);
    snprintf(bin, sizeof bin, "%s/cnn_main", dir);
    snprintf(opath, sizeof opath, "%s/cnn_out.txt", dir);
    f = fopen(hpath, "w");
    if (CHECK(f != NULL)) {
        CHECK_EQ_INT(nn_model_export_c(&g.m, "cnn_model", f), NN_OK);
        fclose(f);
    }
    text = read_text(hpath);
    if (CHECK(text != NULL)) {
        for (i = 0; i < (int)(sizeof names / sizeof names[0]); i++)
            CHECKF(strstr(text, names[i]) != NULL, "the export does not name %s", names[i]);
        CHECK(strstr(text, "(nn_layer_kind)") == NULL && strstr(text, "(nn_act)") == NULL);
        CHECK(strstr(text, "input_shape[0] = 2; d.input_shape[1] = 8; d.input_shape[2] = 8;") != NULL);
        CHECK(strstr(text, "groups = 2;") != NULL && strstr(text, "count_include_pad = 0;") != NULL);
    }
    f = fopen(cpath, "w");
    if (CHECK(f != NULL)) {
        fprintf(f, "/* written by tests/test_cnn.c: runs the exported CNN */\n"
                   "#define NN_IMPLEMENTATION\n#include \"nn.h\"\n#include \"cnn_model.h\"\n#include <stdio.h>\n"
                   "static float xs[%d] = {\n",
                B * g.m.inputs);
        for (i = 0; i < B * g.m.inputs; i++) fprintf(f, "%.9g,%s", (double)x[i], i % 8 == 7 ? "\n" : " ");
        fprintf(f, "};\nstatic unsigned char mem[NN_ARENA_BUFFER_BYTES(CNN_MODEL_ARENA_BYTES)];\n"
                   "int main(void) {\n    nn_arena a;\n    nn_model m;\n    nn_tensor y;\n    int i;\n"
                   "    if (nn_arena_init(&a, mem, sizeof mem) != NN_OK) return 1;\n"
                   "    if (cnn_model_init(&m, &a) != NN_OK) return 2;\n"
                   "    y = nn_model_forward(&m, nn_tensor_4d(xs, %d, %d, %d, %d));\n"
                   "    if (!y.data) return 3;\n"
                   "    for (i = 0; i < %d; i++) printf(\"%%.9g\\n\", (double)y.data[i]);\n    return 0;\n}\n",
                B, SER_C, SER_H, SER_W, nout);
        fclose(f);
    }
    /* The kernels of this build: NN_NO_SIMD changes the last bits of a GEMM. -O0 compiles
       nn.h in a quarter of -O2's time (about 3 s, not 11) and gives the same bits: ISO C
       (-std=c99) contracts no a*b+c into an FMA at any level, and no level reorders a
       float sum. */
    snprintf(cmd, sizeof cmd,
             "%s -std=c99 -O0 -Wall -Wextra -Wpedantic -Werror %s -I. -I%s %s -o %s -lm && %s > %s", cc,
             nn_simd_level() ? "" : "-DNN_NO_SIMD", dir, cpath, bin, bin, opath);
    rc = system(cmd);
    if (CHECKF(rc == 0, "'%s' failed (%d)", cmd, rc)) {
        char *out = read_text(opath), *q, *end;
        if (CHECK(out != NULL)) {
            int bad = 0, count = 0;
            q = out;
            for (i = 0; i < nout; i++) {
                float v = strtof(q, &end);
                if (end == q) break;
                count++;
                bad += memcmp(&v, &y[i], 4) != 0;
                q = end;
            }
            CHECKF(count == nout && bad == 0, "exported CNN: %d of %d outputs differ (%d read)", bad, nout, count);
        }
    }
    remove(hpath);
    remove(cpath);
    remove(bin);
    remove(opath);
    rmdir(dir);
    held_free(&g);
    tmem_release();
}
#endif /* NN_TEST_EXTERNAL */
#endif

/* ======================================================================== */
/* 5. validation                                                             */
/* ======================================================================== */

typedef struct live {
    held h;
    float *x, *y0;
} live;

/* A working CNN over (3, 8, 8) whose survival every failed init is checked against. */
static int live_make(live *v) {
    static nn_layer_desc ls[4];
    nn_model_desc d;
    ls[0] = nn_conv2d(4, 3, 1, 1, NN_ACT_RELU);
    ls[1] = nn_maxpool2d(2, 2, 0);
    ls[2] = nn_global_avgpool();
    ls[3] = nn_dense(3, NN_ACT_IDENTITY);
    d = cnn_desc(ls, 4, 3, 8, 8, 2, 9);
    if (!held_init(&v->h, &d, (size_t)1 << 16)) return 0;
    v->x = fbuf(2 * 192);
    v->y0 = fbuf(2 * 3);
    fill_uniform(v->x, 2 * 192, 10, -1.0f, 1.0f);
    return CHECK(eval_out(&v->h.m, v->x, 2, v->y0));
}

/* desc must be refused with code by every query and by init into the live model, whose
   message must contain each of the NULL-terminated words; the live model stays as it was
   and still gives the same outputs. */
static void expect_refused(live *v, const char *what, const nn_model_desc *d, nn_result code, const char *w1,
                           const char *w2) {
    nn_model_sizes z;
    snap sn;
    size_t used = v->h.a.used;
    float y[6];
    nn_result r;
    snap_take(&sn, &v->h.m);
    CHECKF(nn_model_arena_bytes(d) == 0, "%s: arena_bytes is not 0", what);
    CHECKF(nn_model_param_count(d) == 0, "%s: param_count is not 0", what);
    CHECKF(nn_model_sizes_query(d, &z) == code, "%s: sizes_query", what);
    r = nn_model_init(&v->h.m, &v->h.a, d);
    CHECKF(r == code, "%s: init gave %d (%s), expected %d", what, (int)r, v->h.m.error, (int)code);
    CHECKF(w1 == NULL || strstr(v->h.m.error, w1) != NULL, "%s: message '%s' lacks '%s'", what, v->h.m.error, w1);
    CHECKF(w2 == NULL || strstr(v->h.m.error, w2) != NULL, "%s: message '%s' lacks '%s'", what, v->h.m.error, w2);
    CHECKF(v->h.a.used == used && snap_same(&sn, &v->h.m), "%s: the live model or its arena changed", what);
    CHECKF(eval_out(&v->h.m, v->x, 2, y) && same_floats(y, v->y0, 6), "%s: the live model no longer works", what);
}

static void test_cnn_validation(void) {
    live v;
    nn_layer_desc ls[4];
    nn_model_desc d;
    if (!live_make(&v)) return;

    ls[0] = nn_conv2d(4, 0, 1, 0, NN_ACT_RELU);
    d = cnn_desc(ls, 1, 3, 8, 8, 2, 1);
    expect_refused(&v, "conv kernel 0", &d, NN_ERR_INVALID_ARGUMENT, "layer 0 (conv2d)", "kernel 0x0");
    ls[0] = nn_conv2d(4, 3, 0, 0, NN_ACT_RELU);
    expect_refused(&v, "conv stride 0", &d, NN_ERR_INVALID_ARGUMENT, "layer 0 (conv2d)", "stride 0x0");
    ls[0] = nn_conv2d(4, 3, 1, 1, NN_ACT_RELU);
    ls[0].groups = 2; /* 3 input channels */
    expect_refused(&v, "conv groups 2 over 3 channels", &d, NN_ERR_INVALID_ARGUMENT, "layer 0 (conv2d)", "groups 2");
    ls[0].groups = 0;
    expect_refused(&v, "conv groups 0", &d, NN_ERR_INVALID_ARGUMENT, "layer 0 (conv2d)", "groups 0");
    ls[0] = nn_conv2d(5, 3, 1, 1, NN_ACT_RELU);
    ls[0].groups = 3; /* divides the input, not the 5 outputs */
    expect_refused(&v, "conv groups 3, 5 outputs", &d, NN_ERR_INVALID_ARGUMENT, "layer 0 (conv2d)", "groups 3");

    /* a 5x5 window on a 3x3 image, as layer 1 */
    ls[0] = nn_conv2d(2, 1, 1, 0, NN_ACT_IDENTITY);
    ls[1] = nn_maxpool2d(5, 1, 0);
    d = cnn_desc(ls, 2, 1, 3, 3, 2, 1);
    expect_refused(&v, "maxpool 5 on 3x3", &d, NN_ERR_SHAPE_MISMATCH, "layer 1 (maxpool2d)", "does not fit");
    ls[1] = nn_conv2d(2, 3, 1, 0, NN_ACT_IDENTITY);
    ls[1].dilation[0] = 2; /* 5 rows of reach on 3 */
    expect_refused(&v, "dilated conv on 3x3", &d, NN_ERR_SHAPE_MISMATCH, "layer 1 (conv2d)", "does not fit");
    /* a convolution on flat features: (64, 1, 1) */
    ls[0] = nn_conv2d(2, 3, 1, 0, NN_ACT_IDENTITY);
    memset(&d, 0, sizeof d);
    d.inputs = 64; d.max_batch = 2; d.layers = ls; d.n_layers = 1; d.seed = 1;
    expect_refused(&v, "conv on flat input", &d, NN_ERR_SHAPE_MISMATCH, "layer 0 (conv2d)", "1x1 input");

    d = cnn_desc(ls, 1, 3, 8, 8, 2, 1);
    ls[0] = nn_maxpool2d(3, 1, 2);
    expect_refused(&v, "maxpool padding 2 of kernel 3", &d, NN_ERR_INVALID_ARGUMENT, "layer 0 (maxpool2d)",
                   "over half");
    ls[0] = nn_avgpool2d(2, 2, 0);
    ls[0].padding[1] = 2;
    expect_refused(&v, "avgpool padding 0x2 of kernel 2", &d, NN_ERR_INVALID_ARGUMENT, "layer 0 (avgpool2d)",
                   "over half");
    ls[0] = nn_avgpool2d(2, 2, 0);
    ls[0].dilation[1] = 2;
    expect_refused(&v, "avgpool dilation 2", &d, NN_ERR_INVALID_ARGUMENT, "layer 0 (avgpool2d)", "dilation 1x2");
    ls[0] = nn_maxpool2d(2, 2, 0);
    ls[0].groups = 1;
    expect_refused(&v, "maxpool groups 1", &d, NN_ERR_INVALID_ARGUMENT, "layer 0 (maxpool2d)", "groups = 1");
    ls[0] = nn_avgpool2d(2, 2, 0);
    ls[0].count_include_pad = 2;
    expect_refused(&v, "avgpool count_include_pad 2", &d, NN_ERR_INVALID_ARGUMENT, "layer 0 (avgpool2d)",
                   "count_include_pad = 2");
    ls[0] = nn_maxpool2d(2, 2, 0);
    ls[0].count_include_pad = 1;
    expect_refused(&v, "maxpool count_include_pad 1", &d, NN_ERR_INVALID_ARGUMENT, "layer 0 (maxpool2d)",
                   "count_include_pad = 1");

    /* window fields on a dense layer (after a flatten: layer 1) */
    ls[0] = nn_flatten();
    ls[1] = nn_dense(4, NN_ACT_RELU);
    ls[1].kernel[0] = 3;
    d = cnn_desc(ls, 2, 3, 8, 8, 2, 1);
    expect_refused(&v, "dense kernel 3", &d, NN_ERR_INVALID_ARGUMENT, "layer 1 (dense)", "conv and pooling");
    ls[1] = nn_dense(4, NN_ACT_RELU);
    ls[1].stride[1] = 1;
    expect_refused(&v, "dense stride 1", &d, NN_ERR_INVALID_ARGUMENT, "layer 1 (dense)", "conv and pooling");
    ls[1] = nn_batchnorm2d();
    ls[1].padding[0] = 1;
    expect_refused(&v, "batchnorm2d padding 1", &d, NN_ERR_INVALID_ARGUMENT, "layer 1 (batchnorm2d)", NULL);

    /* the input shape */
    ls[0] = nn_conv2d(4, 3, 1, 1, NN_ACT_RELU);
    d = cnn_desc(ls, 1, 3, 8, 8, 2, 1);
    d.input_shape[2] = 7; /* 168 != 192 */
    expect_refused(&v, "input_shape (3, 8, 7) for 192 inputs", &d, NN_ERR_INVALID_ARGUMENT, "input_shape (3, 8, 7)",
                   "192 inputs");
    d = cnn_desc(ls, 1, 3, 8, 8, 2, 1);
    d.input_shape[1] = 0;
    d.input_shape[2] = 64;
    expect_refused(&v, "input_shape (3, 0, 64)", &d, NN_ERR_INVALID_ARGUMENT, "input_shape (3, 0, 64)", NULL);
    d.input_shape[0] = 0;
    d.input_shape[1] = 0;
    d.input_shape[2] = 192;
    expect_refused(&v, "input_shape (0, 0, 192)", &d, NN_ERR_INVALID_ARGUMENT, "input_shape (0, 0, 192)", NULL);
    d.input_shape[0] = -3;
    d.input_shape[1] = -8;
    d.input_shape[2] = 8;
    expect_refused(&v, "input_shape (-3, -8, 8)", &d, NN_ERR_INVALID_ARGUMENT, "input_shape", NULL);

    /* the same live model, rebuilt from a good description after all that */
    {
        nn_layer_desc ok[2];
        ok[0] = nn_conv2d(2, 3, 1, 1, NN_ACT_RELU);
        ok[1] = nn_global_avgpool();
        d = cnn_desc(ok, 2, 3, 8, 8, 2, 1);
        CHECK_EQ_INT(nn_model_init(&v.h.m, &v.h.a, &d), NN_OK);
        CHECK(v.h.m.error[0] == '\0' && v.h.m.outputs == 2);
    }
    held_free(&v.h);
    tmem_release();
}

/* ======================================================================== */
/* 6. batch statistics                                                       */
/* ======================================================================== */

static void test_cnn_batch_statistics(void) {
    nn_layer_desc ls[5];
    nn_model_desc d;
    nn_optim_desc od = nn_optim_desc_default(NN_OPTIM_SGD);
    nn_optim o;
    held h;
    float x[2 * 32], *p0;
    int labels[2] = {1, 2};
    nn_tensor y;

    /* BatchNorm1d in training: one row gives one value per feature */
    ls[0] = nn_dense(8, NN_ACT_IDENTITY);
    ls[1] = nn_batchnorm();
    ls[2] = nn_dense(3, NN_ACT_IDENTITY);
    memset(&d, 0, sizeof d);
    d.inputs = 5; d.max_batch = 2; d.layers = ls; d.n_layers = 3; d.seed = 1;
    fill_uniform(x, sizeof x / sizeof x[0], 1, -1.0f, 1.0f);
    if (held_init(&h, &d, 0)) {
        y = nn_model_forward(&h.m, nn_tensor_2d(x, 1, 5));
        CHECK(y.data == NULL);
        CHECKF(strstr(h.m.error, "batch norm") != NULL, "message: '%s'", h.m.error);
        CHECK(nn_model_forward(&h.m, nn_tensor_2d(x, 2, 5)).data != NULL && h.m.error[0] == '\0');
        nn_model_set_mode(&h.m, NN_MODE_EVAL);
        CHECK(nn_model_forward(&h.m, nn_tensor_2d(x, 1, 5)).data != NULL); /* running statistics: fine */
        held_free(&h);
    }

    /* BatchNorm2d: one image of 4x4 gives 16 values per channel, and trains */
    ls[0] = nn_conv2d(4, 3, 1, 1, NN_ACT_IDENTITY);
    ls[1] = nn_batchnorm2d();
    ls[2] = nn_activation(NN_ACT_RELU);
    ls[3] = nn_global_avgpool();
    ls[4] = nn_dense(3, NN_ACT_IDENTITY);
    d = cnn_desc(ls, 5, 2, 4, 4, 2, 1);
    if (held_init(&h, &d, nn_optim_arena_bytes(&od, nn_model_param_count(&d)))) {
        float loss;
        int s, moved = 0;
        size_t i;
        CHECK_EQ_INT(nn_optim_init(&o, &h.a, &od, h.m.n_params), NN_OK);
        p0 = fbuf(h.m.n_params);
        memcpy(p0, h.m.params, sizeof(float) * h.m.n_params);
        for (s = 0; s < 3; s++) {
            loss = train_step(&h.m, &o, x, labels, 1);
            CHECKF(loss == loss && loss > 0.0f, "step %d on one image: loss %g (%s)", s, (double)loss, h.m.error);
        }
        CHECK(all_finite(h.m.params, h.m.n_params) && all_finite(h.m.buffers, h.m.n_buffers));
        CHECK(!same_floats(p0, h.m.params, h.m.n_params));
        for (i = 0; i < 4; i++) moved += h.m.buffers[i] != 0.0f; /* running means */
        CHECK(moved > 0);
        held_free(&h);
    }

    /* BatchNorm2d on 1x1 maps: one image is one value per channel again */
    ls[0] = nn_conv2d(4, 1, 1, 0, NN_ACT_IDENTITY);
    ls[1] = nn_batchnorm2d();
    ls[2] = nn_dense(3, NN_ACT_IDENTITY);
    d = cnn_desc(ls, 3, 5, 1, 1, 2, 1);
    if (held_init(&h, &d, 0)) {
        CHECK(nn_model_forward(&h.m, nn_tensor_2d(x, 1, 5)).data == NULL && h.m.error[0] != '\0');
        CHECK(nn_model_forward(&h.m, nn_tensor_2d(x, 2, 5)).data != NULL);
        held_free(&h);
    }
    tmem_release();
}

/* ======================================================================== */
/* 7. determinism                                                            */
/* ======================================================================== */

#define DET_C 3
#define DET_HW 32
#define DET_B 8
#define DET_CLASSES 10

/* conv-bn2d-relu-maxpool-dropout2d-conv-gap-dense; conv 2's per-image GEMMs
   (32 x 256 x 72) are above the pool's 1e6-flop threshold. */
static int det_layers(nn_layer_desc *ls) {
    int n = 0;
    ls[n++] = nn_conv2d(8, 3, 1, 1, NN_ACT_IDENTITY);
    ls[n++] = nn_batchnorm2d();
    ls[n++] = nn_activation(NN_ACT_RELU);
    ls[n++] = nn_maxpool2d(2, 2, 0);
    ls[n++] = nn_dropout2d(0.2f);
    ls[n++] = nn_conv2d(32, 3, 1, 1, NN_ACT_RELU);
    ls[n++] = nn_global_avgpool();
    ls[n++] = nn_dense(DET_CLASSES, NN_ACT_IDENTITY);
    return n;
}

/* Five Adam steps on batches of 8; params and buffers out (n_params + n_buffers). */
static int det_train(nn_threads *th, uint64_t seed, float *out, size_t *n_out, float *last_loss) {
    nn_layer_desc ls[8];
    int n = det_layers(ls), s;
    nn_model_desc d = cnn_desc(ls, n, DET_C, DET_HW, DET_HW, DET_B, seed);
    nn_optim_desc od = nn_optim_desc_default(NN_OPTIM_ADAM);
    nn_optim o;
    held h;
    float *x = fbuf((size_t)DET_B * DET_C * DET_HW * DET_HW);
    int labels[DET_B];
    od.lr = 1e-2f;
    if (!held_init(&h, &d, nn_optim_arena_bytes(&od, nn_model_param_count(&d)))) return 0;
    if (!CHECK_EQ_INT(nn_optim_init(&o, &h.a, &od, h.m.n_params), NN_OK)) return 0;
    h.m.threads = th;
    for (s = 0; s < 5; s++) {
        fill_uniform(x, (size_t)DET_B * DET_C * DET_HW * DET_HW, 1000 + (uint64_t)s, -1.0f, 1.0f);
        fill_labels(labels, DET_B, DET_CLASSES, 2000 + (uint64_t)s);
        *last_loss = train_step(&h.m, &o, x, labels, DET_B);
        CHECKF(*last_loss == *last_loss, "step %d: %s", s, h.m.error);
    }
    memcpy(out, h.m.params, sizeof(float) * h.m.n_params);
    memcpy(out + h.m.n_params, h.m.buffers, sizeof(float) * h.m.n_buffers);
    *n_out = h.m.n_params + h.m.n_buffers;
    held_free(&h);
    return 1;
}

static void test_cnn_determinism(void) {
    nn_layer_desc ls[8];
    int n = det_layers(ls);
    nn_model_desc d = cnn_desc(ls, n, DET_C, DET_HW, DET_HW, DET_B, 5);
    size_t np = nn_model_param_count(&d) + 2 * 8 /* running mean and var */, n1 = 0, n2 = 0, n3 = 0;
    float *a = fbuf(np), *b = fbuf(np), *c = fbuf(np), la = 0, lb = 0, lc = 0;
    nn_threads *th;
    if (!det_train(NULL, 5, a, &n1, &la) || !det_train(NULL, 5, b, &n2, &lb)) return;
    CHECK(n1 == np && n2 == np);
    CHECKF(same_floats(a, b, np) && memcmp(&la, &lb, sizeof la) == 0, "two runs from seed 5 differ");
    /* a different seed gives different weights (the comparison can fail) */
    if (det_train(NULL, 6, c, &n3, &lc)) CHECK(!same_floats(a, c, np));
    th = nn_threads_create(2);
    if (th) {
        long calls = 0, parallel = 0, chunks = 0;
        nn_threads_set_adaptive(th, 0); /* every large GEMM to the workers */
        if (det_train(th, 5, c, &n3, &lc)) {
            CHECKF(same_floats(a, c, np) && memcmp(&la, &lc, sizeof la) == 0, "2 threads differ from 1");
        }
        nn_threads_stats(th, &calls, &parallel, NULL, &chunks);
        CHECKF(parallel > 0, "no GEMM went to the pool (%ld calls)", calls);
        TEST_NOTE("2-thread pool: %ld GEMM calls, %ld parallel, %ld chunks run by the worker", calls, parallel, chunks);
        nn_threads_destroy(th);
    } else {
        TEST_NOTE("no thread pool in this build: the 2-thread comparison is skipped");
    }
    tmem_release();
}

/* EVAL runs the image layers a block of rows at a time (see nn__eval_block):
   the outputs, and the input gradient of a backward after it, must be the
   bits of the same rows run in forwards small enough to be one block. The
   model has every kind with per-row state among its image layers (max
   pooling's argmax, dropout's mask, layer norm's statistics, maxout's
   pieces, Dropout2d's factors). */
static void test_cnn_eval_blocks(void) {
    enum { C = 3, HW = 32, B = 40, PIECE = 8 };
    nn_layer_desc ls[12];
    int n = 0, r, outs;
    nn_model_desc d;
    held h;
    float *x = fbuf((size_t)B * C * HW * HW), *y_all, *y_pc, *dx_all, *dx_pc, *dy;
    ls[n++] = nn_conv2d(16, 3, 1, 1, NN_ACT_IDENTITY); /* 64 KB a row: blocks of 16 rows */
    ls[n++] = nn_batchnorm2d();
    ls[n++] = nn_activation(NN_ACT_RELU);
    ls[n++] = nn_dropout(0.25f);
    ls[n++] = nn_maxpool2d(2, 2, 0);
    ls[n++] = nn_layernorm();
    ls[n++] = nn_maxout(64, 2, NN_ACT_IDENTITY); /* (64, 1, 1) from here */
    ls[n++] = nn_dropout2d(0.5f);
    ls[n++] = nn_global_avgpool();
    ls[n++] = nn_dense(5, NN_ACT_IDENTITY);
    d = cnn_desc(ls, n, C, HW, HW, B, 17);
    if (!held_init(&h, &d, 0)) return;
    outs = h.m.outputs;
    y_all = fbuf((size_t)B * outs); y_pc = fbuf((size_t)B * outs); dy = fbuf((size_t)B * outs);
    dx_all = fbuf((size_t)B * d.inputs); dx_pc = fbuf((size_t)B * d.inputs);
    fill_uniform(x, (size_t)B * d.inputs, 23, -1.0f, 1.0f);
    fill_uniform(dy, (size_t)B * outs, 29, -1.0f, 1.0f);
    nn_model_set_mode(&h.m, NN_MODE_EVAL);
    h.m.input_grad = dx_all;
    if (CHECKF(nn_model_forward(&h.m, nn_tensor_2d(x, B, d.inputs)).data != NULL, "forward: %s", h.m.error)) {
        memcpy(y_all, nn_model_forward(&h.m, nn_tensor_2d(x, B, d.inputs)).data, sizeof(float) * (size_t)B * outs);
        CHECK_EQ_INT(nn_model_backward(&h.m, nn_tensor_2d(dy, B, outs)), NN_OK);
    }
    for (r = 0; r < B; r += PIECE) {
        nn_tensor y;
        h.m.input_grad = dx_pc + (size_t)r * d.inputs;
        y = nn_model_forward(&h.m, nn_tensor_2d(x + (size_t)r * d.inputs, PIECE, d.inputs));
        if (!CHECKF(y.data != NULL, "forward of rows %d..: %s", r, h.m.error)) break;
        memcpy(y_pc + (size_t)r * outs, y.data, sizeof(float) * (size_t)PIECE * outs);
        CHECK_EQ_INT(nn_model_backward(&h.m, nn_tensor_2d(dy + (size_t)r * outs, PIECE, outs)), NN_OK);
    }
    CHECKF(same_floats(y_all, y_pc, (size_t)B * outs), "EVAL outputs of %d rows in blocks differ from %d-row forwards",
           B, PIECE);
    CHECKF(same_floats(dx_all, dx_pc, (size_t)B * d.inputs), "input gradients after a blocked EVAL forward differ");
    CHECK(all_finite(y_all, (size_t)B * outs) && all_finite(dx_all, (size_t)B * d.inputs));
    held_free(&h);
    tmem_release();
}

/* ======================================================================== */
/* 8. no allocation inside a training step                                   */
/* ======================================================================== */

#ifndef NN_TEST_LINKED
static void alloc_steps(const char *what, const nn_model_desc *d, int B, int steps, int pool) {
    nn_optim_desc od = nn_optim_desc_default(NN_OPTIM_ADAM);
    nn_threads *th = NULL;
    nn_model m;
    nn_optim o;
    nn_arena a;
    float *x = fbuf((size_t)B * (size_t)d->inputs), *ev;
    int *labels = ibuf((size_t)B), s, classes;
    size_t bytes = nn_model_arena_bytes(d) + nn_optim_arena_bytes(&od, nn_model_param_count(d));
    long before;
    fill_uniform(x, (size_t)B * (size_t)d->inputs, 3, -1.0f, 1.0f);
    /* set-up: one allocation for the arena, sized exactly by the queries */
    before = t_alloc_calls;
    if (!CHECK_EQ_INT(nn_arena_init_heap(&a, bytes), NN_OK)) return;
    if (!CHECK_EQ_INT(nn_model_init(&m, &a, d), NN_OK)) return;
    CHECK_EQ_INT(nn_optim_init(&o, &a, &od, m.n_params), NN_OK);
    CHECK_EQ_INT(a.used, bytes);
    CHECKF(t_alloc_calls - before == 1, "%s: set-up made %ld allocator calls, expected 1", what,
           t_alloc_calls - before);
    if (pool) {
        th = nn_threads_create(2); /* allocates here, before the steps */
        if (th) nn_threads_set_adaptive(th, 0);
        m.threads = th;
    }
    classes = m.outputs;
    fill_labels(labels, B, classes, 4);
    ev = fbuf((size_t)B * (size_t)m.outputs);
    for (s = 0; s < steps + 1; s++) {
        float loss;
        if (s == 1) before = t_alloc_calls; /* step 0 is the warm-up */
        loss = train_step(&m, &o, x, labels, B);
        CHECK(loss == loss);
        CHECK(eval_out(&m, x, B, ev)); /* an eval forward too */
    }
    CHECKF(t_alloc_calls - before == 0, "%s: %d training steps made %ld allocator calls", what, steps,
           t_alloc_calls - before);
    if (th) {
        long parallel = 0;
        nn_threads_stats(th, NULL, &parallel, NULL, NULL);
        CHECKF(parallel > 0, "%s: the pool ran nothing", what);
        nn_threads_destroy(th);
    }
    before = t_alloc_calls;
    nn_arena_deinit(&a);
    CHECK_EQ_INT(t_alloc_calls - before, 1);
}

static void test_cnn_no_alloc_in_step(void) {
    nn_layer_desc ls[16], dl[8];
    int n = every_kind_layers(ls);
    nn_model_desc d = cnn_desc(ls, n, 3, 9, 7, 4, 1);
    alloc_steps("every kind", &d, 4, 10, 0);
    n = det_layers(dl);
    d = cnn_desc(dl, n, DET_C, DET_HW, DET_HW, 2, 1);
    alloc_steps("on a 2-thread pool", &d, 2, 3, 1);
    tmem_release();
}
#endif /* NN_TEST_LINKED */

/* ======================================================================== */
/* 9. summary                                                                */
/* ======================================================================== */

static void test_cnn_summary(void) {
    static const char *want_train[] = {
        "(B, 1, 28, 28)",  "conv2d 1->32 k3x3 p1", "(B, 32, 28, 28)", "320",
        "relu",            "maxpool2d k2x2 s2",    "(B, 32, 14, 14)", "batchnorm2d eps=1e-05 m=0.1",
        "dropout2d p=0.25", "conv2d 32->16 k3x3 s2 p1 g4", "(B, 16, 7, 7)", "avgpool2d k3x3 s1 p1 exclude pad",
        "global avgpool 7x7", "(B, 16       )",    "dense 16->10",    "mode: TRAIN"};
    nn_layer_desc ls[8];
    nn_model_desc d;
    held h;
    char buf[4096], small[40], count[64];
    size_t len;
    int n = 0, i;
    ls[n++] = nn_conv2d(32, 3, 1, 1, NN_ACT_RELU);
    ls[n++] = nn_maxpool2d(2, 2, 0);
    ls[n++] = nn_batchnorm2d();
    ls[n++] = nn_dropout2d(0.25f);
    ls[n] = nn_conv2d(16, 3, 2, 1, NN_ACT_IDENTITY);
    ls[n].groups = 4;
    n++;
    ls[n] = nn_avgpool2d(3, 1, 1);
    ls[n].count_include_pad = 0;
    n++;
    ls[n++] = nn_global_avgpool();
    ls[n++] = nn_dense(10, NN_ACT_IDENTITY);
    d = cnn_desc(ls, n, 1, 28, 28, 2, 1);
    if (!held_init(&h, &d, 0)) return;
    len = nn_model_summary(&h.m, buf, sizeof buf);
    CHECK(len == strlen(buf) && len < sizeof buf);
    for (i = 0; i < (int)(sizeof want_train / sizeof want_train[0]); i++)
        CHECKF(strstr(buf, want_train[i]) != NULL, "summary lacks '%s':\n%s", want_train[i], buf);
    snprintf(count, sizeof count, "parameters: %lu", (unsigned long)h.m.n_params);
    CHECKF(strstr(buf, count) != NULL, "summary lacks '%s':\n%s", count, buf);
    /* the shapes in layer order */
    {
        const char *p1 = strstr(buf, "(B, 32, 28, 28)"), *p2 = strstr(buf, "(B, 32, 14, 14)"),
                   *p3 = strstr(buf, "(B, 16, 7, 7)");
        CHECK(p1 && p2 && p3 && p1 < p2 && p2 < p3);
    }
    nn_model_set_mode(&h.m, NN_MODE_EVAL);
    nn_model_summary(&h.m, buf, sizeof buf);
    CHECKF(strstr(buf, "dropout2d p=0.25 (off)") && strstr(buf, "mode: EVAL"), "eval summary:\n%s", buf);
    /* cut short: NUL-terminated, the length it needed */
    memset(small, 'x', sizeof small);
    CHECK(nn_model_summary(&h.m, small, sizeof small) == strlen(buf));
    CHECK(small[sizeof small - 1] == '\0' && strncmp(small, buf, sizeof small - 1) == 0);
    held_free(&h);
}

/* ======================================================================== */
/* 10. arena sizes                                                           */
/* ======================================================================== */

static void arena_exact(const char *what, const nn_model_desc *d) {
    size_t bytes = nn_model_arena_bytes(d);
    nn_model_sizes z;
    nn_arena a;
    nn_model m;
    if (!CHECKF(bytes > 0, "%s: arena_bytes 0", what)) return;
    if (CHECK_EQ_INT(nn_model_sizes_query(d, &z), NN_OK))
        CHECKF(z.total == bytes && z.params + z.grads + z.buffers + z.scratch + z.tables == bytes &&
                   z.params == nn_arena_bytes_for(sizeof(float) * nn_model_param_count(d)) && z.grads == z.params,
               "%s: sizes_query parts do not add up", what);
    /* a roomy arena: init takes exactly the queried bytes */
    if (CHECK_EQ_INT(nn_arena_init_heap(&a, bytes + 4096), NN_OK)) {
        if (CHECK_EQ_INT(nn_model_init(&m, &a, d), NN_OK)) {
            CHECKF(a.used == bytes && m.arena_bytes == bytes, "%s: init took %lu bytes, the query said %lu", what,
                   (unsigned long)a.used, (unsigned long)bytes);
            CHECK_EQ_INT(m.n_params, nn_model_param_count(d));
        }
        nn_arena_deinit(&a);
    }
    /* exactly that much is enough; one allocation less is not, and nothing stays taken */
    if (CHECK_EQ_INT(nn_arena_init_heap(&a, bytes), NN_OK)) {
        CHECK_EQ_INT(nn_model_init(&m, &a, d), NN_OK);
        CHECK(a.used == a.cap);
        nn_arena_deinit(&a);
    }
    if (CHECK_EQ_INT(nn_arena_init_heap(&a, bytes - NN_ARENA_ALIGN), NN_OK)) {
        memset(&m, 0, sizeof m);
        CHECK_EQ_INT(nn_model_init(&m, &a, d), NN_ERR_OUT_OF_MEMORY);
        CHECK(a.used == 0 && strstr(m.error, "arena") != NULL);
        nn_arena_deinit(&a);
    }
}

static void test_cnn_arena_sizes(void) {
    nn_layer_desc ls[16];
    nn_model_desc d;
    int n = cnn_small_layers(ls, 1);
    d = cnn_desc(ls, n, 1, 12, 12, 4, 1);
    CHECK_EQ_INT(nn_model_param_count(&d), 1066); /* PyTorch's count for cnn_small */
    arena_exact("cnn_small", &d);
    n = every_kind_layers(ls);
    d = cnn_desc(ls, n, 3, 9, 7, 5, 1);
    CHECK_EQ_INT(nn_model_param_count(&d), 6 * 1 * 9 + 6 + 2 * 6 + 5 * 6 + 5 + 4 * 5 + 4); /* groups 3 */
    arena_exact("every kind", &d);
    n = det_layers(ls);
    d = cnn_desc(ls, n, DET_C, DET_HW, DET_HW, 7, 1);
    arena_exact("conv-bn-pool-conv", &d);
}

/* ======================================================================== */
static const test_case tests[] = {
    TEST(test_cnn_small_parity),
    TEST(test_cnn_gradcheck_every_kind),
    TEST(test_cnn_gradcheck_conv_first),
    TEST(test_cnn_serialize_roundtrip),
    TEST(test_cnn_serialize_truncation),
    TEST(test_cnn_serialize_bitflips),
    TEST(test_cnn_serialize_crafted_geom),
    TEST(test_cnn_serialize_mlp_no_geom),
#if T_POSIX
#ifdef NN_TEST_EXTERNAL /* runs the system compiler: one configuration is enough */
    TEST(test_cnn_export_c),
#endif
#endif
    TEST(test_cnn_validation),
    TEST(test_cnn_batch_statistics),
    TEST(test_cnn_determinism),
    TEST(test_cnn_eval_blocks),
#ifndef NN_TEST_LINKED /* the allocator hooks must be the implementation's */
    TEST(test_cnn_no_alloc_in_step),
#endif
    TEST(test_cnn_summary),
    TEST(test_cnn_arena_sizes),
};

int main(int argc, char **argv) { return TEST_MAIN(argc, argv, tests); }
