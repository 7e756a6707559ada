/* test_serialize.c - tests for nn.h's serializer (section 12) against docs/FORMAT.md:
   round trips of every layer kind through memory, FILE*, paths and a second process,
   exact resume of training (model, optimizer, schedule, RNGs), hostile input (every
   truncation, every single-bit flip, crafted headers and sections, absurd sizes), atomic
   saves, the C source export, checkpoints, a committed golden file and a PyTorch-made
   file (tools/nn_torch.py).

   Build and run from the repository root (fixtures and build/ are relative to it):
       gcc -std=c99 -O2 -Wall -Wextra -Wpedantic -Werror tests/test_serialize.c \
           -o build/test_serialize -lm && build/test_serialize
   Also built with -DNN_PORTABLE_ENDIAN (the byte-by-byte path big-endian hosts take).
   `build/test_serialize trunc` runs only the tests whose name contains "trunc".

   Special modes (not tests):
       build/test_serialize --write-golden DIR   writes DIR/model_v1.nnw and
                                                 DIR/model_v1_expected.txt (the committed
                                                 golden pair in tests/fixtures/)
       build/test_serialize --load-print FILE    loads FILE, prints its EVAL outputs on a
                                                 fixed input (the "new process" test)

   Comparisons are bit-exact (memcmp) except where the maths may take another path:
     golden outputs      PARITY rule, rtol = atol = 1e-5: the golden file was written by an
                         x86-64 AVX2/FMA build; NN_NO_SIMD or another CPU rounds the last
                         bits differently (1.2e-6 seen). Parameters, buffers, optimizer,
                         schedule and RNG state are compared exactly.
     torch parity        rtol = atol = 1e-5 (PARITY.md).
   The POSIX-only tests (second process, C export, atomic save over a directory) are
   compiled only under __unix__ / __APPLE__. */
#if (defined(__unix__) || defined(__APPLE__)) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L /* mkdtemp, rmdir, unlink */
#endif
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Allocator hooks: remember the largest single request, so a test can show that a file
   claiming absurd sizes never makes the loader ask for a large block. */
#if defined(__GNUC__) || defined(__clang__)
#define T_UNUSED __attribute__((unused))
#else
#define T_UNUSED
#endif
static size_t t_alloc_max = 0;
static T_UNUSED void *t_malloc(size_t n) {
    if (n > t_alloc_max) t_alloc_max = n;
    return malloc(n);
}
static T_UNUSED void *t_realloc(void *p, size_t n) {
    if (n > t_alloc_max) t_alloc_max = n;
    return realloc(p, n);
}
#define NN_MALLOC(sz) t_malloc(sz)
#define NN_REALLOC(p, sz) t_realloc(p, sz)
#define NN_FREE(p) free(p)

#ifndef NN_TEST_LINKED /* built against a separately compiled implementation */
#define NN_IMPLEMENTATION
#endif
#include "../nn.h"
#include "fixture.h"
#include "test.h"

#if defined(__unix__) || defined(__APPLE__)
#define T_POSIX 1
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#else
#define T_POSIX 0
#endif
/* the atomic save's failure path needs a directory where the temporary goes */
#if T_POSIX
#define T_MKDIR(p) mkdir(p, 0755)
#define T_RMDIR(p) rmdir(p)
#elif defined(_WIN32)
#include <direct.h>
#define T_MKDIR(p) _mkdir(p)
#define T_RMDIR(p) _rmdir(p)
#endif

#ifndef FIXTURE_DIR
#define FIXTURE_DIR "tests/fixtures/"
#endif

/* ------------------------------------------------------------------ helpers */

static const char *t_argv0 = "";
static char t_dir[512] = "build"; /* scratch directory (a fresh temp dir on POSIX) */

static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "test: out of memory\n");
        exit(2);
    }
    return p;
}
static float *falloc(size_t n) { return (float *)xmalloc(n * sizeof(float)); }

static const char *tpath(char *buf, size_t size, const char *name) {
    snprintf(buf, size, "%s/%s", t_dir, name);
    return buf;
}

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
static void wr64(unsigned char *p, uint64_t v) {
    wr32(p, (uint32_t)v);
    wr32(p + 4, (uint32_t)(v >> 32));
}
static float f32_of(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

#define TAG4(a, b, c, d) ((uint32_t)(a) | ((uint32_t)(b) << 8) | ((uint32_t)(c) << 16) | ((uint32_t)(d) << 24))
#define T_ARCH TAG4('A', 'R', 'C', 'H')
#define T_PARM TAG4('P', 'A', 'R', 'M')
#define T_BUFS TAG4('B', 'U', 'F', 'S')
#define T_OPTM TAG4('O', 'P', 'T', 'M')
#define T_SCHD TAG4('S', 'C', 'H', 'D')
#define T_RNGS TAG4('R', 'N', 'G', 'S')
#define T_ZLIT TAG4('Z', 'L', 'I', 'T') /* 1.1: ARCH holds zeros a 1.0 reader would replace */
#define T_SCHX TAG4('S', 'C', 'H', 'X') /* 1.1: schedule fields SCHD lacks */
/* fixed sizes from docs/FORMAT.md */
#define F_HEADER 24
#define F_SECHEAD 16
#define F_LAYER 56
#define F_OPTM_FIXED 100
#define F_SCHD 292

/* A layer of the given kind with nn.h's (PyTorch's) defaults. */
static nn_layer_desc LD(nn_layer_kind kind, int units, nn_act act) {
    switch (kind) {
    case NN_LAYER_DENSE: return nn_dense(units, act);
    case NN_LAYER_MAXOUT: return nn_maxout(units, 2, act);
    case NN_LAYER_ACT: return nn_activation(act);
    default: return nn_layer_desc_default(kind);
    }
}

/* Another slope / ELU alpha, with the init gain that goes with it (what the
   constructors would have set for this alpha). */
static void set_alpha(nn_layer_desc *l, float alpha) {
    l->alpha = alpha;
    if (l->kind == NN_LAYER_DENSE || l->kind == NN_LAYER_MAXOUT) l->init_gain = nn_init_gain(l->act, alpha);
}

static nn_model_desc MD(const nn_layer_desc *l, int n, int inputs, int max_batch, uint64_t seed) {
    nn_model_desc d;
    memset(&d, 0, sizeof d);
    d.layers = l;
    d.n_layers = n;
    d.inputs = inputs;
    d.max_batch = max_batch;
    d.seed = seed;
    return d;
}

/* A heap arena sized for the model plus `extra` bytes, and the model in it. */
static int model_new(nn_model *m, nn_arena *a, const nn_layer_desc *l, int n, int inputs, int max_batch,
                     uint64_t seed, size_t extra) {
    nn_model_desc d = MD(l, n, inputs, max_batch, seed);
    size_t bytes = nn_model_arena_bytes(&d);
    memset(m, 0, sizeof *m);
    if (!CHECKF(bytes > 0, "invalid model description")) return 0;
    if (!CHECK_EQ_INT(nn_arena_init_heap(a, bytes + extra), NN_OK)) return 0;
    return CHECK_EQ_INT(nn_model_init(m, a, &d), NN_OK);
}

static void fill_randn(float *p, size_t n, uint64_t seed) {
    nn_rng r;
    size_t i;
    nn_rng_seed(&r, seed);
    for (i = 0; i < n; i++) p[i] = nn_rng_normal(&r);
}

/* One MSE training step on (B, inputs) -> (B, outputs); returns the loss. */
static float train_step(nn_model *m, nn_optim *o, const float *x, const float *t, int B) {
    nn_tensor X = nn_tensor_2d((float *)x, B, m->inputs), T = nn_tensor_2d((float *)t, B, m->outputs);
    nn_tensor y = nn_model_forward(m, X), dy = nn_model_output_grad(m);
    float loss = nn_loss_mse(dy, y, T);
    nn_model_zero_grad(m);
    nn_model_backward(m, dy);
    nn_optim_step_params(o, m->param_list, m->n_param_list);
    return loss;
}

/* Steps of minibatch training as a real loop does it: the data RNG shuffles the sample
   order, the schedule sets the optimizer's lr, the model's RNG drives dropout. */
static void train_loop(nn_model *m, nn_optim *o, nn_sched *s, nn_rng *data_rng, const float *X, const float *T,
                       int n_samples, int B, int steps) {
    int *idx = (int *)xmalloc(sizeof(int) * (size_t)n_samples), i, k, step;
    float *xb = falloc((size_t)B * (size_t)m->inputs), *tb = falloc((size_t)B * (size_t)m->outputs);
    for (step = 0; step < steps; step++) {
        float loss;
        for (i = 0; i < n_samples; i++) idx[i] = i;
        nn_rng_shuffle(data_rng, idx, n_samples);
        for (k = 0; k < B; k++) {
            memcpy(xb + (size_t)k * m->inputs, X + (size_t)idx[k] * m->inputs, sizeof(float) * (size_t)m->inputs);
            memcpy(tb + (size_t)k * m->outputs, T + (size_t)idx[k] * m->outputs, sizeof(float) * (size_t)m->outputs);
        }
        if (s) o->d.lr = nn_sched_lr(s);
        loss = train_step(m, o, xb, tb, B);
        if (s) nn_sched_step(s, loss);
    }
    free(idx);
    free(xb);
    free(tb);
}

/* EVAL outputs for B rows of x into out (B * outputs); the mode is restored. */
static void eval_out(nn_model *m, const float *x, int B, float *out) {
    nn_mode old = m->mode;
    nn_tensor y;
    nn_model_set_mode(m, NN_MODE_EVAL);
    y = nn_model_forward(m, nn_tensor_2d((float *)x, B, m->inputs));
    memcpy(out, y.data, sizeof(float) * (size_t)B * (size_t)m->outputs);
    nn_model_set_mode(m, old);
}

/* Saves into an exactly sized heap block (so ASan sees any read past the end). */
static unsigned char *save_alloc(const nn_model *m, const nn_train_state *st, size_t *len) {
    size_t n = nn_model_save_size(m, st), w = 0;
    unsigned char *b = (unsigned char *)xmalloc(n);
    CHECK_EQ_INT(nn_model_save_to_memory(m, st, b, n, &w), NN_OK);
    CHECK(w == n);
    *len = w;
    return b;
}

static unsigned char *dup_bytes(const unsigned char *p, size_t n) {
    unsigned char *q = (unsigned char *)xmalloc(n);
    if (n) memcpy(q, p, n);
    return q;
}

static unsigned char *read_all(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    unsigned char *b;
    long n;
    *len = 0;
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    b = (unsigned char *)xmalloc((size_t)n);
    if (fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        fclose(f);
        return NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return b;
}

static int write_all(const char *path, const void *p, size_t n) {
    FILE *f = fopen(path, "wb");
    int ok;
    if (!f) return 0;
    ok = fwrite(p, 1, n, f) == n;
    return fclose(f) == 0 && ok;
}

static int file_exists(const char *path) {
    FILE *f = fopen(path, "rb");
    if (f) fclose(f);
    return f != NULL;
}

static int same_floats(const float *a, const float *b, size_t n) { return n == 0 || memcmp(a, b, n * sizeof(float)) == 0; }

static int same_model_values(const nn_model *a, const nn_model *b) {
    return a->n_params == b->n_params && a->n_buffers == b->n_buffers && same_floats(a->params, b->params, a->n_params) &&
           same_floats(a->buffers, b->buffers, a->n_buffers) && memcmp(&a->rng, &b->rng, sizeof a->rng) == 0;
}

/* ---- snapshot of everything a failed load must leave alone ---- */
typedef struct snap {
    nn_model m;
    float *params, *buffers;
    nn_optim o;
    float *ov[4];
    nn_sched s;
    nn_rng r;
} snap;

static float **optim_vecs(nn_optim *o, float **v) {
    v[0] = o->s0; v[1] = o->s1; v[2] = o->s2; v[3] = o->slow;
    return v;
}

static void snap_take(snap *s, const nn_model *m, const nn_train_state *st) {
    int i;
    memset(s, 0, sizeof *s);
    s->m = *m;
    s->params = falloc(m->n_params);
    s->buffers = falloc(m->n_buffers);
    if (m->n_params) memcpy(s->params, m->params, sizeof(float) * m->n_params);
    if (m->n_buffers) memcpy(s->buffers, m->buffers, sizeof(float) * m->n_buffers);
    if (st && st->optim) {
        float *v[4];
        s->o = *st->optim;
        optim_vecs(st->optim, v);
        for (i = 0; i < 4; i++)
            if (v[i]) {
                s->ov[i] = falloc(st->optim->n);
                memcpy(s->ov[i], v[i], sizeof(float) * st->optim->n);
            }
    }
    if (st && st->sched) s->s = *st->sched;
    if (st && st->rng) s->r = *st->rng;
}

/* The objects as snapshotted, but for their error messages: "It is the one field a
   failed call changes" (nn.h). */
static int same_model_struct(const nn_model *a, const nn_model *b) {
    nn_model t;
    memcpy(&t, b, sizeof t);
    memcpy(t.error, a->error, sizeof t.error);
    return memcmp(a, &t, sizeof t) == 0;
}
static int same_optim_struct(const nn_optim *a, const nn_optim *b) {
    nn_optim t;
    memcpy(&t, b, sizeof t);
    memcpy(t.error, a->error, sizeof t.error);
    return memcmp(a, &t, sizeof t) == 0;
}
static int same_sched_struct(const nn_sched *a, const nn_sched *b) {
    nn_sched t;
    memcpy(&t, b, sizeof t);
    memcpy(t.error, a->error, sizeof t.error);
    return memcmp(a, &t, sizeof t) == 0;
}

static int snap_same(const snap *s, const nn_model *m, const nn_train_state *st) {
    int i, ok = same_model_struct(&s->m, m) && same_floats(s->params, m->params, m->n_params) &&
                same_floats(s->buffers, m->buffers, m->n_buffers);
    if (st && st->optim) {
        float *v[4];
        ok = ok && same_optim_struct(&s->o, st->optim);
        optim_vecs(st->optim, v);
        for (i = 0; i < 4; i++)
            if (v[i]) ok = ok && same_floats(s->ov[i], v[i], st->optim->n);
    }
    if (st && st->sched) ok = ok && same_sched_struct(&s->s, st->sched);
    if (st && st->rng) ok = ok && memcmp(&s->r, st->rng, sizeof s->r) == 0;
    return ok;
}

static void snap_free(snap *s) {
    int i;
    free(s->params);
    free(s->buffers);
    for (i = 0; i < 4; i++) free(s->ov[i]);
}

/* ---- section surgery for crafted files (docs/FORMAT.md) ---- */
static void fix_header(unsigned char *f) { wr32(f + 20, nn_crc32c(0, f, 20)); }
static void fix_section(unsigned char *f, size_t off) {
    uint64_t len = rd64(f + off + 8);
    wr32(f + off + F_SECHEAD + (size_t)len, nn_crc32c(0, f + off, F_SECHEAD + (size_t)len));
}
/* Offset of the section header of the first section with this tag, or 0. */
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
/* Whole section (header, payload, CRC) length at off. */
static size_t sec_total(const unsigned char *f, size_t off) { return F_SECHEAD + (size_t)rd64(f + off + 8) + 4; }

/* A copy of f with a section (correct CRC) inserted at byte offset `at` (a section
   boundary) and the header's count and CRC updated. */
static unsigned char *insert_section(const unsigned char *f, size_t len, size_t at, uint32_t tag, uint32_t flags,
                                     const void *payload, size_t plen, size_t *out_len) {
    size_t n = len + F_SECHEAD + plen + 4;
    unsigned char *g = (unsigned char *)xmalloc(n);
    memcpy(g, f, at);
    wr32(g + at, tag);
    wr32(g + at + 4, flags);
    wr64(g + at + 8, plen);
    if (plen) memcpy(g + at + F_SECHEAD, payload, plen);
    wr32(g + at + F_SECHEAD + plen, nn_crc32c(0, g + at, F_SECHEAD + plen));
    memcpy(g + at + F_SECHEAD + plen + 4, f + at, len - at);
    wr32(g + 16, rd32(g + 16) + 1);
    fix_header(g);
    *out_len = n;
    return g;
}

/* A copy of f without the section at off. */
static unsigned char *remove_section(const unsigned char *f, size_t len, size_t off, size_t *out_len) {
    size_t t = sec_total(f, off);
    unsigned char *g = (unsigned char *)xmalloc(len - t);
    memcpy(g, f, off);
    memcpy(g + off, f + off + t, len - off - t);
    wr32(g + 16, rd32(g + 16) - 1);
    fix_header(g);
    *out_len = len - t;
    return g;
}

/* ---- the models ---- */

/* Every layer kind and every activation, DENSE with and without bias, with weight
   standardization, inline activations (DENSE.act) and separate ACT layers, non-default
   hyperparameters in every field the description has. */
static int layers_all(nn_layer_desc *l) {
    int n = 0;
    l[n] = LD(NN_LAYER_DENSE, 16, NN_ACT_IDENTITY); l[n].init = NN_INIT_KAIMING_UNIFORM; l[n].init_fan_out = 1; n++;
    l[n] = LD(NN_LAYER_BATCHNORM, 0, NN_ACT_IDENTITY); l[n].eps = 1e-3f; l[n].momentum = 0.2f; n++;
    l[n] = LD(NN_LAYER_ACT, 0, NN_ACT_RELU); n++;
    l[n] = LD(NN_LAYER_DROPOUT, 0, NN_ACT_IDENTITY); l[n].p = 0.3f; n++;
    l[n] = LD(NN_LAYER_DENSE, 10, NN_ACT_TANH); l[n].no_bias = 1; l[n].init = NN_INIT_XAVIER_NORMAL; l[n].init_gain = 1.5f; n++;
    l[n] = LD(NN_LAYER_LAYERNORM, 0, NN_ACT_IDENTITY); l[n].eps = 1e-4f; n++;
    l[n] = LD(NN_LAYER_MAXOUT, 8, NN_ACT_LEAKY_RELU); l[n].k = 3; set_alpha(&l[n], 0.2f); n++;
    l[n] = LD(NN_LAYER_DENSE, 8, NN_ACT_ELU); l[n].weight_std = 1; l[n].eps = 1e-4f; set_alpha(&l[n], 0.7f); n++;
    l[n] = LD(NN_LAYER_FLATTEN, 0, NN_ACT_IDENTITY); n++;
    l[n] = LD(NN_LAYER_ACT, 0, NN_ACT_SIGMOID); n++;
    l[n] = LD(NN_LAYER_DENSE, 6, NN_ACT_GELU); l[n].init = NN_INIT_LECUN_NORMAL; n++;
    l[n] = LD(NN_LAYER_ACT, 0, NN_ACT_GELU_TANH); n++;
    l[n] = LD(NN_LAYER_ACT, 0, NN_ACT_SILU); n++;
    l[n] = LD(NN_LAYER_ACT, 0, NN_ACT_SOFTPLUS); n++;
    l[n] = LD(NN_LAYER_DENSE, 7, NN_ACT_IDENTITY); l[n].init = NN_INIT_CONSTANT; l[n].init_value = 0.01f; n++;
    l[n] = LD(NN_LAYER_ACT, 0, NN_ACT_LEAKY_RELU); n++;
    l[n] = LD(NN_LAYER_DENSE, 5, NN_ACT_SOFTMAX); n++;
    l[n] = LD(NN_LAYER_ACT, 0, NN_ACT_IDENTITY); n++;
    return n;
}
#define ALL_IN 12
#define ALL_MB 8

/* dense + batchnorm + relu + dropout + dense: the exact-resume model */
static int layers_resume(nn_layer_desc *l) {
    l[0] = LD(NN_LAYER_DENSE, 16, NN_ACT_IDENTITY);
    l[1] = LD(NN_LAYER_BATCHNORM, 0, NN_ACT_IDENTITY);
    l[2] = LD(NN_LAYER_ACT, 0, NN_ACT_RELU);
    l[3] = LD(NN_LAYER_DROPOUT, 0, NN_ACT_IDENTITY);
    l[3].p = 0.25f;
    l[4] = LD(NN_LAYER_DENSE, 4, NN_ACT_IDENTITY);
    return 5;
}
#define RES_IN 8
#define RES_MB 16
#define RES_SAMPLES 64

static nn_optim_desc adam_desc(void) {
    nn_optim_desc d = nn_optim_desc_default(NN_OPTIM_ADAM);
    d.lr = 0.01f;
    d.weight_decay = 1e-4f;
    return d;
}
static nn_sched_desc cosine_desc(void) {
    nn_sched_desc d = nn_sched_desc_default(NN_SCHED_COSINE, 0.01);
    d.t_max = 40;
    d.eta_min = 1e-4;
    d.warmup_steps = 3;
    return d;
}

/* A trained model with Adam, a cosine schedule and a data RNG: every section present. */
typedef struct rig {
    nn_arena a;
    nn_model m;
    nn_optim o;
    nn_sched s;
    nn_rng rng;
    nn_train_state st;
    float *X, *T;
} rig;

static int rig_new(rig *g, uint64_t model_seed, uint64_t rng_seed, int train_steps) {
    nn_layer_desc l[8];
    int n = layers_resume(l);
    nn_optim_desc od = adam_desc();
    nn_sched_desc sd = cosine_desc();
    nn_model_desc md = MD(l, n, RES_IN, RES_MB, model_seed);
    memset(g, 0, sizeof *g);
    if (!model_new(&g->m, &g->a, l, n, RES_IN, RES_MB, model_seed, nn_optim_arena_bytes(&od, nn_model_param_count(&md))))
        return 0;
    if (!CHECK_EQ_INT(nn_optim_init(&g->o, &g->a, &od, g->m.n_params), NN_OK)) return 0;
    if (!CHECK_EQ_INT(nn_sched_init(&g->s, &sd), NN_OK)) return 0;
    nn_rng_seed(&g->rng, rng_seed);
    g->st.optim = &g->o;
    g->st.sched = &g->s;
    g->st.rng = &g->rng;
    g->X = falloc((size_t)RES_SAMPLES * RES_IN);
    g->T = falloc((size_t)RES_SAMPLES * 4);
    fill_randn(g->X, (size_t)RES_SAMPLES * RES_IN, 11);
    fill_randn(g->T, (size_t)RES_SAMPLES * 4, 12);
    train_loop(&g->m, &g->o, &g->s, &g->rng, g->X, g->T, RES_SAMPLES, RES_MB, train_steps);
    return 1;
}
static void rig_free(rig *g) {
    nn_arena_deinit(&g->a);
    free(g->X);
    free(g->T);
}

/* A small model with every section, for the bit-flip sweep. */
static int rig_small(rig *g, uint64_t seed) {
    nn_layer_desc l[2];
    nn_optim_desc od = adam_desc();
    nn_sched_desc sd = cosine_desc();
    float x[4] = {0.5f, -1.0f, 2.0f, 0.25f}, t[4] = {1.0f, 0.0f, 0.0f, 1.0f};
    memset(g, 0, sizeof *g);
    l[0] = LD(NN_LAYER_DENSE, 2, NN_ACT_IDENTITY);
    l[1] = LD(NN_LAYER_BATCHNORM, 0, NN_ACT_IDENTITY);
    if (!model_new(&g->m, &g->a, l, 2, 2, 2, seed, 4096)) return 0;
    if (!CHECK_EQ_INT(nn_optim_init(&g->o, &g->a, &od, g->m.n_params), NN_OK)) return 0;
    if (!CHECK_EQ_INT(nn_sched_init(&g->s, &sd), NN_OK)) return 0;
    nn_rng_seed(&g->rng, seed + 1);
    g->st.optim = &g->o;
    g->st.sched = &g->s;
    g->st.rng = &g->rng;
    train_step(&g->m, &g->o, x, t, 2);
    nn_sched_step(&g->s, 0.0f);
    return 1;
}

/* ------------------------------------------------------------------ round trips */

static void test_roundtrip_memory_all_layers(void) {
    nn_layer_desc l[32], got_l[32];
    int n = layers_all(l), i, B = 5;
    nn_arena a, b;
    nn_model m, m2;
    nn_optim o;
    nn_optim_desc od;
    nn_model_desc got;
    float *X = falloc((size_t)ALL_MB * ALL_IN), *T, *y1, *y2;
    unsigned char *buf;
    size_t len;
    od = nn_optim_desc_default(NN_OPTIM_SGD);
    od.lr = 0.05f;
    od.momentum = 0.9f;
    if (!model_new(&m, &a, l, n, ALL_IN, ALL_MB, 3, 1 << 16)) return;
    CHECK_EQ_INT(nn_optim_init(&o, &a, &od, m.n_params), NN_OK);
    T = falloc((size_t)ALL_MB * m.outputs);
    y1 = falloc((size_t)ALL_MB * m.outputs);
    y2 = falloc((size_t)ALL_MB * m.outputs);
    fill_randn(X, (size_t)ALL_MB * ALL_IN, 5);
    fill_randn(T, (size_t)ALL_MB * m.outputs, 6);
    for (i = 0; i < 6; i++) train_step(&m, &o, X, T, ALL_MB); /* trains batch-norm running stats */
    CHECKF(m.buffers[0] != 0.0f && m.buffers[16] != 1.0f, "running statistics were not trained");

    buf = save_alloc(&m, NULL, &len);
    CHECK(len == nn_model_save_size(&m, NULL));
    /* the description comes back field for field */
    CHECK_EQ_INT(nn_model_desc_from_memory(&got, got_l, 32, buf, len), NN_OK);
    CHECK(got.inputs == ALL_IN && got.max_batch == ALL_MB && got.seed == 3 && got.n_layers == n);
    CHECK(memcmp(got_l, l, sizeof(nn_layer_desc) * (size_t)n) == 0);

    /* a fresh arena of exactly the size the description asks, the file alone */
    CHECK_EQ_INT(nn_arena_init_heap(&b, nn_model_arena_bytes(&got)), NN_OK);
    CHECK_EQ_INT(nn_model_desc_from_memory(&got, got_l, n - 1, buf, len), NN_ERR_TOO_LARGE);
    if (!CHECK_EQ_INT(nn_model_init_from_memory(&m2, &b, buf, len), NN_OK)) goto done;
    CHECK(m2.n_layers == m.n_layers && m2.n_param_list == m.n_param_list && m2.n_buffer_list == m.n_buffer_list);
    CHECK(same_model_values(&m, &m2));
    for (i = 0; i < m.n_param_list; i++) CHECK(strcmp(m.param_list[i].name, m2.param_list[i].name) == 0);
    eval_out(&m, X, B, y1);
    eval_out(&m2, X, B, y2);
    CHECKF(memcmp(y1, y2, sizeof(float) * (size_t)B * m.outputs) == 0, "EVAL outputs differ after a memory round trip");
    /* the model RNG came back too: a TRAIN forward (dropout, batch statistics) matches */
    nn_model_forward(&m, nn_tensor_2d(X, ALL_MB, ALL_IN));
    nn_model_forward(&m2, nn_tensor_2d(X, ALL_MB, ALL_IN));
    CHECKF(memcmp(m.layers[m.n_layers - 1].y.data, m2.layers[m2.n_layers - 1].y.data,
                  sizeof(float) * (size_t)ALL_MB * m.outputs) == 0,
           "TRAIN outputs differ: the dropout RNG was not restored");
    CHECK(same_model_values(&m, &m2));
    TEST_NOTE("%d descriptions -> %d internal layers, %lu parameters, file %lu bytes", n, m.n_layers,
              (unsigned long)m.n_params, (unsigned long)len);
done:
    free(buf);
    free(X);
    free(T);
    free(y1);
    free(y2);
    nn_arena_deinit(&a);
    nn_arena_deinit(&b);
}

/* One model per activation (inline DENSE.act) and per layer kind alone. */
static void test_roundtrip_each_kind(void) {
    int k, i;
    for (k = 0; k < NN_ACT_COUNT_ + 6; k++) {
        nn_layer_desc l[3];
        int n = 0, B = 3;
        nn_arena a, b;
        nn_model m, m2;
        float X[3 * 6], y1[3 * 8], y2[3 * 8];
        unsigned char *buf;
        size_t len;
        if (k < NN_ACT_COUNT_) {
            l[n] = LD(NN_LAYER_DENSE, 5, (nn_act)k);
            set_alpha(&l[n], 0.3f);
            n++;
        } else {
            l[n++] = LD(NN_LAYER_DENSE, 6, NN_ACT_IDENTITY);
            switch (k - NN_ACT_COUNT_) {
            case 0: l[n] = LD(NN_LAYER_DENSE, 4, NN_ACT_IDENTITY); l[n].no_bias = 1; break;
            case 1: l[n] = LD(NN_LAYER_DENSE, 4, NN_ACT_IDENTITY); l[n].weight_std = 1; break;
            case 2: l[n] = LD(NN_LAYER_MAXOUT, 4, NN_ACT_IDENTITY); break;
            case 3: l[n] = LD(NN_LAYER_BATCHNORM, 0, NN_ACT_IDENTITY); break;
            case 4: l[n] = LD(NN_LAYER_LAYERNORM, 0, NN_ACT_IDENTITY); break;
            default: l[n] = LD(NN_LAYER_FLATTEN, 0, NN_ACT_IDENTITY); break;
            }
            n++;
            l[n] = LD(NN_LAYER_DROPOUT, 0, NN_ACT_IDENTITY);
            n++;
        }
        if (!model_new(&m, &a, l, n, 6, 3, 100 + (uint64_t)k, 0)) return;
        fill_randn(X, 18, (uint64_t)k);
        for (i = 0; i < 2; i++) nn_model_forward(&m, nn_tensor_2d(X, 3, 6)); /* batch-norm stats move */
        for (i = 0; i < (int)m.n_params; i++) m.params[i] += 0.001f * (float)i; /* not the init values */
        buf = save_alloc(&m, NULL, &len);
        CHECK_EQ_INT(nn_arena_init_heap(&b, m.arena_bytes), NN_OK);
        if (CHECKF(nn_model_init_from_memory(&m2, &b, buf, len) == NN_OK, "case %d: init_from_memory failed", k)) {
            eval_out(&m, X, B, y1);
            eval_out(&m2, X, B, y2);
            CHECKF(memcmp(y1, y2, sizeof(float) * (size_t)B * m.outputs) == 0, "case %d: outputs differ", k);
            CHECKF(same_model_values(&m, &m2), "case %d: values differ", k);
            CHECKF(m2.arena_bytes == m.arena_bytes, "case %d: different arena use", k);
        }
        free(buf);
        nn_arena_deinit(&a);
        nn_arena_deinit(&b);
    }
}

/* A model with no parameters at all (activation and flatten only). */
static void test_roundtrip_no_params(void) {
    nn_layer_desc l[2];
    nn_arena a, b;
    nn_model m, m2;
    unsigned char *buf;
    size_t len;
    float X[4] = {-1.0f, 0.5f, 2.0f, -3.0f}, y1[4], y2[4];
    l[0] = LD(NN_LAYER_FLATTEN, 0, NN_ACT_IDENTITY);
    l[1] = LD(NN_LAYER_ACT, 0, NN_ACT_TANH);
    if (!model_new(&m, &a, l, 2, 2, 2, 1, 0)) return;
    CHECK(m.n_params == 0 && m.n_buffers == 0);
    buf = save_alloc(&m, NULL, &len);
    CHECK_EQ_INT(nn_arena_init_heap(&b, m.arena_bytes), NN_OK);
    CHECK_EQ_INT(nn_model_init_from_memory(&m2, &b, buf, len), NN_OK);
    CHECK_EQ_INT(nn_model_load_from_memory(&m, NULL, buf, len), NN_OK);
    eval_out(&m, X, 2, y1);
    eval_out(&m2, X, 2, y2);
    CHECK(memcmp(y1, y2, sizeof y1) == 0);
    free(buf);
    nn_arena_deinit(&a);
    nn_arena_deinit(&b);
}

/* nn_model_save / nn_model_load / nn_model_init_from_file / nn_model_save_to_file. */
static void test_roundtrip_files(void) {
    nn_layer_desc l[32];
    int n = layers_all(l), B = ALL_MB;
    nn_arena a, b, c;
    nn_model m, m2, m3;
    char p1[600], p2[600];
    unsigned char *mem, *disk;
    size_t len, dlen;
    float *X = falloc((size_t)ALL_MB * ALL_IN), *y1, *y2;
    FILE *f;
    if (!model_new(&m, &a, l, n, ALL_IN, ALL_MB, 21, 0)) return;
    if (!model_new(&m2, &b, l, n, ALL_IN, ALL_MB, 9999, 0)) return; /* same shapes, other values */
    y1 = falloc((size_t)B * m.outputs);
    y2 = falloc((size_t)B * m.outputs);
    fill_randn(X, (size_t)ALL_MB * ALL_IN, 22);
    nn_model_forward(&m, nn_tensor_2d(X, ALL_MB, ALL_IN)); /* running stats move */
    mem = save_alloc(&m, NULL, &len);

    tpath(p1, sizeof p1, "roundtrip.nnw");
    CHECK_EQ_INT(nn_model_save(&m, NULL, p1), NN_OK);
    disk = read_all(p1, &dlen);
    CHECKF(disk && dlen == len && memcmp(disk, mem, len) == 0, "nn_model_save wrote other bytes than save_to_memory");
    free(disk);
    tpath(p2, sizeof p2, "roundtrip.nnw.tmp");
    CHECKF(!file_exists(p2), "the temporary file was left behind");
    CHECK(!same_model_values(&m, &m2));
    CHECK_EQ_INT(nn_model_load(&m2, NULL, p1), NN_OK);
    CHECK(same_model_values(&m, &m2));
    eval_out(&m, X, B, y1);
    eval_out(&m2, X, B, y2);
    CHECKF(memcmp(y1, y2, sizeof(float) * (size_t)B * m.outputs) == 0, "outputs differ after save/load by path");

    CHECK_EQ_INT(nn_arena_init_heap(&c, m.arena_bytes), NN_OK);
    CHECK_EQ_INT(nn_model_init_from_file(&m3, &c, p1), NN_OK);
    eval_out(&m3, X, B, y2);
    CHECKF(memcmp(y1, y2, sizeof(float) * (size_t)B * m.outputs) == 0, "outputs differ after init_from_file");
    CHECK(c.used == m.arena_bytes);

    /* FILE* */
    tpath(p2, sizeof p2, "roundtrip_file.nnw");
    f = fopen(p2, "wb");
    if (CHECK(f != NULL)) {
        CHECK_EQ_INT(nn_model_save_to_file(&m, NULL, f), NN_OK);
        fclose(f);
        disk = read_all(p2, &dlen);
        CHECKF(disk && dlen == len && memcmp(disk, mem, len) == 0, "save_to_file wrote other bytes");
        free(disk);
        fill_randn(m2.params, m2.n_params, 1);
        CHECK_EQ_INT(nn_model_load(&m2, NULL, p2), NN_OK);
        eval_out(&m2, X, B, y2);
        CHECKF(memcmp(y1, y2, sizeof(float) * (size_t)B * m.outputs) == 0, "outputs differ after save_to_file");
        remove(p2);
    }
    remove(p1);
    free(mem);
    free(X);
    free(y1);
    free(y2);
    nn_arena_deinit(&a);
    nn_arena_deinit(&b);
    nn_arena_deinit(&c);
}

/* ---- a second process loads the file ---- */
static const uint64_t PRINT_SEED = 4242;

/* What --load-print prints: the EVAL outputs on a fixed input, exact (%.9g), and a
   CRC-32C of their bytes. */
static void format_outputs(nn_model *m, char *out, size_t size) {
    size_t nx = (size_t)m->max_batch * (size_t)m->inputs, ny = (size_t)m->max_batch * (size_t)m->outputs, i, len;
    float *x = falloc(nx), *y = falloc(ny);
    fill_randn(x, nx, PRINT_SEED);
    eval_out(m, x, m->max_batch, y);
    len = (size_t)snprintf(out, size, "crc %08lx\n", (unsigned long)nn_crc32c(0, y, ny * sizeof(float)));
    for (i = 0; i < ny && len < size; i++) len += (size_t)snprintf(out + len, size - len, "%.9g\n", (double)y[i]);
    free(x);
    free(y);
}

static int mode_load_print(const char *path) {
    nn_arena a;
    nn_model m;
    static char text[1 << 16];
    nn_result r;
    if (nn_arena_init_heap(&a, (size_t)1 << 24) != NN_OK) return 2;
    r = nn_model_init_from_file(&m, &a, path);
    if (r != NN_OK) {
        printf("error %d %s\n", (int)r, nn_result_string(r));
        return 1;
    }
    format_outputs(&m, text, sizeof text);
    fputs(text, stdout);
    nn_arena_deinit(&a);
    return 0;
}

#if T_POSIX
static void test_roundtrip_new_process(void) {
    nn_layer_desc l[32];
    int n = layers_all(l), rc;
    nn_arena a;
    nn_model m;
    char path[600], out[600], cmd[2048];
    static char want[1 << 16];
    unsigned char *got;
    size_t glen;
    float *X = falloc((size_t)ALL_MB * ALL_IN);
    if (!model_new(&m, &a, l, n, ALL_IN, ALL_MB, 31, 0)) return;
    fill_randn(X, (size_t)ALL_MB * ALL_IN, 32);
    nn_model_forward(&m, nn_tensor_2d(X, ALL_MB, ALL_IN));
    tpath(path, sizeof path, "process.nnw");
    tpath(out, sizeof out, "process.txt");
    CHECK_EQ_INT(nn_model_save(&m, NULL, path), NN_OK);
    format_outputs(&m, want, sizeof want);
    snprintf(cmd, sizeof cmd, "'%s' --load-print '%s' > '%s'", t_argv0, path, out);
    rc = system(cmd);
    CHECKF(rc == 0, "'%s' exited with %d", cmd, rc);
    got = read_all(out, &glen);
    CHECKF(got && glen == strlen(want) && memcmp(got, want, glen) == 0,
           "the second process printed other outputs:\n%.*s\nwant:\n%.200s", got ? (int)(glen < 200 ? glen : 200) : 0,
           got ? (const char *)got : "", want);
    free(got);
    remove(path);
    remove(out);
    free(X);
    nn_arena_deinit(&a);
}
#endif

/* ------------------------------------------------------------------ exact resume */

static void test_exact_resume(void) {
    const int N = 20, M = 20;
    rig ref, res;
    unsigned char *buf;
    size_t len;
    char path[600];
    if (!rig_new(&ref, 7, 99, N)) return;
    buf = save_alloc(&ref.m, &ref.st, &len);
    tpath(path, sizeof path, "resume.nnw");
    CHECK_EQ_INT(nn_model_save(&ref.m, &ref.st, path), NN_OK);
    /* the straight run goes on */
    train_loop(&ref.m, &ref.o, &ref.s, &ref.rng, ref.X, ref.T, RES_SAMPLES, RES_MB, M);

    /* a fresh model/optimizer/schedule/RNG with other seeds, resumed from the file */
    if (!rig_new(&res, 123456, 5, 0)) return;
    CHECK(!same_model_values(&ref.m, &res.m));
    CHECK_EQ_INT(nn_model_load(&res.m, &res.st, path), NN_OK);
    CHECK(res.o.step == N && res.s.t == N);
    train_loop(&res.m, &res.o, &res.s, &res.rng, res.X, res.T, RES_SAMPLES, RES_MB, M);

    CHECKF(same_floats(ref.m.params, res.m.params, ref.m.n_params), "weights differ after resuming");
    CHECKF(same_floats(ref.m.buffers, res.m.buffers, ref.m.n_buffers), "running statistics differ after resuming");
    CHECKF(memcmp(&ref.m.rng, &res.m.rng, sizeof ref.m.rng) == 0, "model (dropout) RNG differs after resuming");
    CHECKF(same_floats(ref.o.s0, res.o.s0, ref.o.n) && same_floats(ref.o.s1, res.o.s1, ref.o.n),
           "Adam moments differ after resuming");
    CHECK(ref.o.step == res.o.step && ref.o.step == N + M);
    CHECK(memcmp(&ref.o.d, &res.o.d, sizeof ref.o.d) == 0);
    CHECK(ref.s.t == res.s.t && ref.s.lr == res.s.lr && ref.s.t_cur == res.s.t_cur && ref.s.best == res.s.best);
    CHECK(nn_sched_lr(&ref.s) == nn_sched_lr(&res.s));
    CHECKF(memcmp(&ref.rng, &res.rng, sizeof ref.rng) == 0, "data RNG differs after resuming");

    /* the same from memory, and a load without train state leaves the caller's alone */
    {
        rig r2;
        snap sn;
        nn_train_state none;
        memset(&none, 0, sizeof none);
        if (rig_new(&r2, 1, 2, 0)) {
            snap_take(&sn, &r2.m, &r2.st);
            CHECK_EQ_INT(nn_model_load_from_memory(&r2.m, NULL, buf, len), NN_OK);
            CHECK(r2.o.step == 0 && r2.s.t == 0 && memcmp(&sn.r, &r2.rng, sizeof sn.r) == 0);
            CHECK_EQ_INT(nn_model_load_from_memory(&r2.m, &none, buf, len), NN_OK);
            CHECK_EQ_INT(nn_model_load_from_memory(&r2.m, &r2.st, buf, len), NN_OK);
            CHECK(r2.o.step == N && r2.s.t == N);
            train_loop(&r2.m, &r2.o, &r2.s, &r2.rng, r2.X, r2.T, RES_SAMPLES, RES_MB, M);
            CHECKF(same_floats(ref.m.params, r2.m.params, ref.m.n_params) &&
                       same_floats(ref.o.s1, r2.o.s1, ref.o.n) && memcmp(&ref.rng, &r2.rng, sizeof ref.rng) == 0,
                   "resume from memory differs");
            snap_free(&sn);
            rig_free(&r2);
        }
    }
    remove(path);
    free(buf);
    rig_free(&ref);
    rig_free(&res);
}

/* A file saved without a data RNG restores the model RNG only; one saved without an
   optimizer leaves the caller's optimizer alone. */
static void test_partial_train_state(void) {
    rig g, h;
    nn_train_state st;
    unsigned char *buf;
    size_t len;
    snap sn;
    if (!rig_new(&g, 1, 2, 3) || !rig_new(&h, 3, 4, 1)) return;
    memset(&st, 0, sizeof st);
    st.sched = &g.s;
    buf = save_alloc(&g.m, &st, &len);
    CHECK(sec_find(buf, len, T_OPTM) == 0 && sec_find(buf, len, T_SCHD) != 0);
    CHECK(rd32(buf + sec_find(buf, len, T_RNGS) + F_SECHEAD) == 1);
    snap_take(&sn, &h.m, &h.st);
    CHECK_EQ_INT(nn_model_load_from_memory(&h.m, &h.st, buf, len), NN_OK);
    CHECK(memcmp(&sn.o, &h.o, sizeof sn.o) == 0 && same_floats(sn.ov[0], h.o.s0, h.o.n));
    CHECK(memcmp(&sn.r, &h.rng, sizeof sn.r) == 0);
    CHECK(h.s.t == g.s.t && h.s.lr == g.s.lr);
    CHECK(memcmp(&h.m.rng, &g.m.rng, sizeof g.m.rng) == 0);
    snap_free(&sn);
    free(buf);
    rig_free(&g);
    rig_free(&h);
}

/* ------------------------------------------------------------------ hostile input */

/* Every proper prefix of a real file (all six sections) fails, never reads past the
   end (exactly sized blocks: ASan), and leaves model, optimizer, schedule, RNG and arena
   as they were. */
static void test_truncation_every_offset(void) {
    rig g, h;
    unsigned char *buf;
    size_t len, cut;
    snap sn;
    nn_arena small;
    long bad_load = 0, bad_init = 0, bad_desc = 0, changed = 0;
    if (!rig_new(&g, 1, 2, 5) || !rig_new(&h, 3, 4, 2)) return;
    buf = save_alloc(&g.m, &g.st, &len);
    CHECK_EQ_INT(nn_arena_init_heap(&small, (size_t)1 << 16), NN_OK);
    snap_take(&sn, &h.m, &h.st);
    for (cut = 0; cut < len; cut++) {
        unsigned char *p = dup_bytes(buf, cut);
        nn_model tmp;
        nn_model_desc d;
        nn_layer_desc ls[16];
        if (nn_model_load_from_memory(&h.m, &h.st, p, cut) == NN_OK) bad_load++;
        if (nn_model_init_from_memory(&tmp, &small, p, cut) == NN_OK) bad_init++;
        if (nn_model_desc_from_memory(&d, ls, 16, p, cut) == NN_OK) bad_desc++;
        if (small.used != 0) {
            bad_init++;
            nn_arena_reset(&small);
        }
        if (!snap_same(&sn, &h.m, &h.st)) changed++;
        free(p);
    }
    CHECKF(bad_load == 0, "%ld truncated files loaded", bad_load);
    CHECKF(bad_init == 0, "%ld truncated files built a model (or left arena memory taken)", bad_init);
    CHECKF(bad_desc == 0, "%ld truncated files gave a description", bad_desc);
    CHECKF(changed == 0, "%ld failed loads changed the caller's objects", changed);
    /* and the whole file still loads */
    CHECK_EQ_INT(nn_model_load_from_memory(&h.m, &h.st, buf, len), NN_OK);
    TEST_NOTE("%lu truncations of a %lu-byte file rejected", (unsigned long)len, (unsigned long)len);
    snap_free(&sn);
    nn_arena_deinit(&small);
    free(buf);
    rig_free(&g);
    rig_free(&h);
}

/* Every single-bit flip of a small file (all six sections) is rejected, and the
   caller's objects stay as they were. */
static void test_bitflip_every_bit(void) {
    rig g, h;
    unsigned char *buf, *p;
    size_t len, i;
    snap sn;
    nn_arena small;
    long accepted = 0, changed = 0, codes[16];
    int bit;
    memset(codes, 0, sizeof codes);
    if (!rig_small(&g, 1) || !rig_small(&h, 2)) return;
    buf = save_alloc(&g.m, &g.st, &len);
    p = dup_bytes(buf, len);
    CHECK_EQ_INT(nn_arena_init_heap(&small, (size_t)1 << 16), NN_OK);
    snap_take(&sn, &h.m, &h.st);
    for (i = 0; i < len; i++) {
        for (bit = 0; bit < 8; bit++) {
            nn_model tmp;
            nn_result r;
            p[i] ^= (unsigned char)(1u << bit);
            r = nn_model_load_from_memory(&h.m, &h.st, p, len);
            if (r == NN_OK) accepted++;
            else if (-(int)r < 16) codes[-(int)r]++;
            if (nn_model_init_from_memory(&tmp, &small, p, len) == NN_OK || small.used != 0) {
                accepted++;
                nn_arena_reset(&small);
            }
            if (!snap_same(&sn, &h.m, &h.st)) changed++;
            p[i] ^= (unsigned char)(1u << bit);
        }
    }
    CHECKF(accepted == 0, "%ld single-bit flips were accepted", accepted);
    CHECKF(changed == 0, "%ld failed loads changed the caller's objects", changed);
    TEST_NOTE("%lu flips of a %lu-byte file: %ld bad magic, %ld checksum, %ld truncated, %ld corrupt, %ld version",
              (unsigned long)len * 8, (unsigned long)len, codes[4], codes[8], codes[6], codes[7], codes[5]);
    snap_free(&sn);
    nn_arena_deinit(&small);
    free(buf);
    free(p);
    rig_free(&g);
    rig_free(&h);
}

static void test_error_magic_and_header(void) {
    rig g, h;
    unsigned char *buf, *p;
    size_t len;
    snap sn;
    static const unsigned char png[8] = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A};
    if (!rig_small(&g, 1) || !rig_small(&h, 2)) return;
    buf = save_alloc(&g.m, &g.st, &len);
    snap_take(&sn, &h.m, &h.st);
    /* the magic and header as FORMAT.md gives them */
    CHECK(buf[0] == 0x89 && memcmp(buf + 1, "NNH\r\n\x1a\n", 7) == 0);
    CHECK(rd32(buf + 8) == NN_FORMAT_VERSION_MAJOR && rd32(buf + 12) == NN_FORMAT_VERSION_MINOR && rd32(buf + 16) == 6);
    CHECK(NN_FORMAT_VERSION_MAJOR == 1 && NN_FORMAT_VERSION_MINOR == 5 && rd32(buf + 12) == 5); /* format 1.5 */
    CHECK(rd32(buf + 20) == nn_crc32c(0, buf, 20));

    p = dup_bytes(buf, len);
    p[1] = 'X';
    CHECK_EQ_INT(nn_model_load_from_memory(&h.m, &h.st, p, len), NN_ERR_BAD_MAGIC);
    memcpy(p, png, 8);
    CHECK_EQ_INT(nn_model_load_from_memory(&h.m, &h.st, p, len), NN_ERR_BAD_MAGIC);
    CHECK_EQ_INT(nn_model_load_from_memory(&h.m, &h.st, "abc", 3), NN_ERR_BAD_MAGIC);
    CHECK_EQ_INT(nn_model_load_from_memory(&h.m, &h.st, buf, 5), NN_ERR_TRUNCATED); /* a prefix of the magic */
    CHECK_EQ_INT(nn_model_load_from_memory(&h.m, &h.st, buf, 0), NN_ERR_TRUNCATED);
    CHECK_EQ_INT(nn_model_load_from_memory(&h.m, &h.st, buf, 23), NN_ERR_TRUNCATED);
    free(p);

    /* header CRC */
    p = dup_bytes(buf, len);
    p[12] ^= 1;
    CHECK_EQ_INT(nn_model_load_from_memory(&h.m, &h.st, p, len), NN_ERR_CHECKSUM);
    p[12] ^= 1;
    p[21] ^= 0x80;
    CHECK_EQ_INT(nn_model_load_from_memory(&h.m, &h.st, p, len), NN_ERR_CHECKSUM);
    free(p);

    /* major version 2 and 0: refused; minor version 7: read (it may only add sections) */
    p = dup_bytes(buf, len);
    wr32(p + 8, 2);
    fix_header(p);
    CHECK_EQ_INT(nn_model_load_from_memory(&h.m, &h.st, p, len), NN_ERR_VERSION);
    wr32(p + 8, 0);
    fix_header(p);
    CHECK_EQ_INT(nn_model_load_from_memory(&h.m, &h.st, p, len), NN_ERR_VERSION);
    {
        nn_model tmp;
        nn_arena a;
        CHECK_EQ_INT(nn_arena_init_heap(&a, 1 << 16), NN_OK);
        CHECK_EQ_INT(nn_model_init_from_memory(&tmp, &a, p, len), NN_ERR_VERSION);
        CHECK(a.used == 0);
        nn_arena_deinit(&a);
    }
    CHECK(snap_same(&sn, &h.m, &h.st));
    wr32(p + 8, NN_FORMAT_VERSION_MAJOR);
    wr32(p + 12, NN_FORMAT_VERSION_MINOR + 7);
    fix_header(p);
    CHECK_EQ_INT(nn_model_load_from_memory(&h.m, &h.st, p, len), NN_OK);
    CHECK(same_model_values(&g.m, &h.m));
    free(p);

    /* section count: more than 64, one too many, one too few */
    p = dup_bytes(buf, len);
    wr32(p + 16, 65);
    fix_header(p);
    CHECK_EQ_INT(nn_model_load_from_memory(&h.m, &h.st, p, len), NN_ERR_CORRUPT);
    wr32(p + 16, 7);
    fix_header(p);
    CHECK_EQ_INT(nn_model_load_from_memory(&h.m, &h.st, p, len), NN_ERR_TRUNCATED);
    wr32(p + 16, 5);
    fix_header(p);
    CHECK_EQ_INT(nn_model_load_from_memory(&h.m, &h.st, p, len), NN_ERR_CORRUPT);
    wr32(p + 16, 0);
    fix_header(p);
    CHECK_EQ_INT(nn_model_load_from_memory(&h.m, &h.st, p, len), NN_ERR_CORRUPT);
    free(p);
    /* a trailing byte */
    p = (unsigned char *)xmalloc(len + 1);
    memcpy(p, buf, len);
    p[len] = 0;
    CHECK_EQ_INT(nn_model_load_from_memory(&h.m, &h.st, p, len + 1), NN_ERR_CORRUPT);
    free(p);
    snap_free(&sn);
    free(buf);
    rig_free(&g);
    rig_free(&h);
}

static void test_error_sections(void) {
    rig g, h;
    unsigned char *buf, *p;
    size_t len, plen, off;
    snap sn;
    const unsigned char payload[5] = {1, 2, 3, 4, 5};
    const uint32_t ZZZZ = TAG4('Z', 'Z', 'Z', 'Z');
    int where;
    if (!rig_small(&g, 1) || !rig_small(&h, 2)) return;
    buf = save_alloc(&g.m, &g.st, &len);
    snap_take(&sn, &h.m, &h.st);

    /* unknown sections at the start, in the middle and at the end */
    for (where = 0; where < 3; where++) {
        size_t at = where == 0 ? F_HEADER : where == 1 ? sec_find(buf, len, T_BUFS) : len;
        nn_arena a;
        nn_model tmp;
        snap_free(&sn);
        snap_take(&sn, &h.m, &h.st);
        /* required: refused as a newer format */
        p = insert_section(buf, len, at, ZZZZ, 1, payload, sizeof payload, &plen);
        CHECK_EQ_INT(nn_model_load_from_memory(&h.m, &h.st, p, plen), NN_ERR_VERSION);
        CHECK(snap_same(&sn, &h.m, &h.st));
        free(p);
        p = insert_section(buf, len, at, ZZZZ, 0xFFFFFFFFu, payload, sizeof payload, &plen);
        CHECK_EQ_INT(nn_model_load_from_memory(&h.m, &h.st, p, plen), NN_ERR_VERSION);
        free(p);
        /* optional (any other flag bits set): skipped */
        p = insert_section(buf, len, at, ZZZZ, 0xFFFFFFFEu, payload, sizeof payload, &plen);
        CHECK_EQ_INT(nn_model_load_from_memory(&h.m, &h.st, p, plen), NN_OK);
        CHECK(same_model_values(&g.m, &h.m) && h.o.step == g.o.step);
        CHECK_EQ_INT(nn_arena_init_heap(&a, 1 << 16), NN_OK);
        CHECK_EQ_INT(nn_model_init_from_memory(&tmp, &a, p, plen), NN_OK);
        nn_arena_deinit(&a);
        /* ... but its CRC is still checked */
        p[at + F_SECHEAD] ^= 1;
        CHECK_EQ_INT(nn_model_load_from_memory(&h.m, &h.st, p, plen), NN_ERR_CHECKSUM);
        free(p);
        /* an empty optional section */
        p = insert_section(buf, len, at, ZZZZ, 0, NULL, 0, &plen);
        CHECK_EQ_INT(nn_model_load_from_memory(&h.m, &h.st, p, plen), NN_OK);
        free(p);
        memcpy(&h.m.rng, &sn.m.rng, sizeof h.m.rng);
        CHECK_EQ_INT(nn_model_load_from_memory(&h.m, &h.st, buf, len), NN_OK);
    }
    /* a known section twice */
    off = sec_find(buf, len, T_PARM);
    p = insert_section(buf, len, off, T_PARM, 1, buf + off + F_SECHEAD, (size_t)rd64(buf + off + 8), &plen);
    CHECK_EQ_INT(nn_model_load_from_memory(&h.m, &h.st, p, plen), NN_ERR_CORRUPT);
    free(p);
    /* a required section missing */
    {
        const uint32_t req[3] = {T_ARCH, T_PARM, T_BUFS};
        int i;
        for (i = 0; i < 3; i++) {
            p = remove_section(buf, len, sec_find(buf, len, req[i]), &plen);
            CHECK_EQ_INT(nn_model_load_from_memory(&h.m, &h.st, p, plen), NN_ERR_CORRUPT);
            free(p);
        }
    }
    /* optional sections may be missing */
    {
        const uint32_t opt[3] = {T_RNGS, T_OPTM, T_SCHD};
        int i;
        for (i = 0; i < 3; i++) {
            p = remove_section(buf, len, sec_find(buf, len, opt[i]), &plen);
            CHECK_EQ_INT(nn_model_load_from_memory(&h.m, &h.st, p, plen), NN_OK);
            free(p);
        }
    }
    /* a section claiming 2^62 bytes, and one claiming one byte more than there is */
    p = dup_bytes(buf, len);
    off = sec_find(p, len, T_PARM);
    wr64(p + off + 8, (uint64_t)1 << 62);
    CHECK_EQ_INT(nn_model_load_from_memory(&h.m, &h.st, p, len), NN_ERR_TRUNCATED);
    wr64(p + off + 8, (uint64_t)(len - off - F_SECHEAD - 3));
    CHECK_EQ_INT(nn_model_load_from_memory(&h.m, &h.st, p, len), NN_ERR_TRUNCATED);
    free(p);
    /* a payload one byte longer than its fields (CRC fixed): inconsistent */
    {
        const uint32_t tags[6] = {T_ARCH, T_PARM, T_BUFS, T_RNGS, T_OPTM, T_SCHD};
        int i;
        for (i = 0; i < 6; i++) {
            size_t slen, qlen;
            unsigned char *q, *longer;
            off = sec_find(buf, len, tags[i]);
            slen = (size_t)rd64(buf + off + 8);
            q = (unsigned char *)xmalloc(slen + 1);
            memcpy(q, buf + off + F_SECHEAD, slen);
            q[slen] = 0;
            p = remove_section(buf, len, off, &plen);
            longer = insert_section(p, plen, off, tags[i], rd32(buf + off + 4), q, slen + 1, &qlen);
            CHECKF(nn_model_load_from_memory(&h.m, &h.st, longer, qlen) == NN_ERR_CORRUPT,
                   "section %d one byte too long: not CORRUPT", i);
            free(longer);
            free(q);
            free(p);
        }
    }
    memcpy(&h.m.rng, &sn.m.rng, sizeof h.m.rng);
    snap_free(&sn);
    free(buf);
    rig_free(&g);
    rig_free(&h);
}

/* Absurd sizes: errors, no large allocation, arena untouched. */
static void test_error_absurd_sizes(void) {
    nn_layer_desc l[2];
    nn_arena a, small;
    nn_model m, tmp;
    unsigned char *buf, *p;
    size_t len, off, namelen, before;
    nn_result r;
    char path[600];
    l[0] = LD(NN_LAYER_DENSE, 3, NN_ACT_RELU);
    l[1] = LD(NN_LAYER_DENSE, 2, NN_ACT_IDENTITY);
    if (!model_new(&m, &a, l, 2, 4, 2, 1, 0)) return;
    buf = save_alloc(&m, NULL, &len);
    CHECK_EQ_INT(nn_arena_init_heap(&small, (size_t)1 << 16), NN_OK);
    t_alloc_max = 0;

    /* a PARM run claiming 2^40 elements */
    p = dup_bytes(buf, len);
    off = sec_find(p, len, T_PARM);
    namelen = rd32(p + off + F_SECHEAD + 4);
    wr64(p + off + F_SECHEAD + 8 + namelen, (uint64_t)1 << 40);
    fix_section(p, off);
    CHECK_EQ_INT(nn_model_load_from_memory(&m, NULL, p, len), NN_ERR_TRUNCATED);
    r = nn_model_init_from_memory(&tmp, &small, p, len);
    CHECKF(r == NN_ERR_TRUNCATED, "2^40-element run: %s", nn_result_string(r));
    CHECK(small.used == 0);
    /* a run count of 10^6, a name of 2^31 bytes */
    wr64(p + off + F_SECHEAD + 8 + namelen, 12);
    wr32(p + off + F_SECHEAD, 1000000);
    fix_section(p, off);
    CHECK_EQ_INT(nn_model_load_from_memory(&m, NULL, p, len), NN_ERR_TOO_LARGE);
    wr32(p + off + F_SECHEAD, (uint32_t)m.n_param_list);
    wr32(p + off + F_SECHEAD + 4, 0x80000000u);
    fix_section(p, off);
    CHECK_EQ_INT(nn_model_load_from_memory(&m, NULL, p, len), NN_ERR_CORRUPT);
    free(p);

    /* ARCH claiming 10^6 layers, and 0 layers */
    p = dup_bytes(buf, len);
    off = sec_find(p, len, T_ARCH);
    wr32(p + off + F_SECHEAD + 16, 1000000);
    fix_section(p, off);
    r = nn_model_init_from_memory(&tmp, &small, p, len);
    CHECKF(r == NN_ERR_TOO_LARGE, "10^6 layers: %s", nn_result_string(r));
    CHECK_EQ_INT(nn_model_load_from_memory(&m, NULL, p, len), NN_ERR_TOO_LARGE);
    wr32(p + off + F_SECHEAD + 16, 0);
    fix_section(p, off);
    CHECK(nn_model_init_from_memory(&tmp, &small, p, len) != NN_OK);
    CHECK(small.used == 0);
    free(p);

    /* a layer with 2^31-1 units: refused before anything is allocated */
    p = dup_bytes(buf, len);
    off = sec_find(p, len, T_ARCH);
    wr32(p + off + F_SECHEAD + 20 + 4, 0x7FFFFFFFu);
    fix_section(p, off);
    r = nn_model_init_from_memory(&tmp, &small, p, len);
    CHECKF(r == NN_ERR_TOO_LARGE || r == NN_ERR_CORRUPT || r == NN_ERR_OUT_OF_MEMORY, "units 2^31-1: %s",
           nn_result_string(r));
    CHECK(small.used == 0);
    CHECK_EQ_INT(nn_model_load_from_memory(&m, NULL, p, len), NN_ERR_SHAPE_MISMATCH);
    free(p);
    /* ... also where the description itself is valid (one DENSE layer, inputs 1,
       max_batch 1: 2^31-1 weights): the arena check refuses it before nn_model_init */
    {
        nn_arena a1;
        nn_model m1;
        unsigned char *b1;
        size_t l1, seen = t_alloc_max;
        l[1] = LD(NN_LAYER_DENSE, 1, NN_ACT_IDENTITY);
        if (model_new(&m1, &a1, l + 1, 1, 1, 1, 1, 0)) {
            t_alloc_max = seen; /* the arena above is ours, not the loader's */
            b1 = save_alloc(&m1, NULL, &l1);
            off = sec_find(b1, l1, T_ARCH);
            wr32(b1 + off + F_SECHEAD + 20 + 4, 0x7FFFFFFFu);
            fix_section(b1, off);
            r = nn_model_init_from_memory(&tmp, &small, b1, l1);
            CHECKF(r == NN_ERR_OUT_OF_MEMORY, "one layer of 2^31-1 units: %s", nn_result_string(r));
            CHECK(small.used == 0);
            free(b1);
            nn_arena_deinit(&a1);
        }
    }

    /* other nonsense in a description: unknown kind, negative inputs, act out of range */
    {
        int field;
        for (field = 0; field < 3; field++) {
            p = dup_bytes(buf, len);
            off = sec_find(p, len, T_ARCH);
            if (field == 0) wr32(p + off + F_SECHEAD + 20, 99);
            if (field == 1) wr32(p + off + F_SECHEAD, 0xFFFFFFF0u);
            if (field == 2) wr32(p + off + F_SECHEAD + 20 + 8, 1000);
            fix_section(p, off);
            CHECKF(nn_model_init_from_memory(&tmp, &small, p, len) == NN_ERR_CORRUPT, "field %d", field);
            /* a kind no version knows is corrupt; other fields differ from the model's */
            CHECKF(nn_model_load_from_memory(&m, NULL, p, len) == (field == 0 ? NN_ERR_CORRUPT : NN_ERR_SHAPE_MISMATCH),
                   "field %d", field);
            CHECK(small.used == 0);
            if (field == 0) { /* ... unless the file is newer than this reader: a kind it may not know yet */
                wr32(p + 12, NN_FORMAT_VERSION_MINOR + 1);
                wr32(p + 20, nn_crc32c(0, p, 20));
                CHECK_EQ_INT(nn_model_init_from_memory(&tmp, &small, p, len), NN_ERR_VERSION);
                CHECK_EQ_INT(nn_model_load_from_memory(&m, NULL, p, len), NN_ERR_VERSION);
                CHECK(small.used == 0);
            }
            free(p);
        }
    }
    /* an RNGS section that says 3 generators */
    p = dup_bytes(buf, len);
    off = sec_find(p, len, T_RNGS);
    wr32(p + off + F_SECHEAD, 3);
    fix_section(p, off);
    CHECK_EQ_INT(nn_model_load_from_memory(&m, NULL, p, len), NN_ERR_CORRUPT);
    free(p);
    CHECKF(t_alloc_max == 0, "the memory loaders called NN_MALLOC (largest %lu bytes)", (unsigned long)t_alloc_max);

    /* through a path: the only allocation is the file's own size */
    p = dup_bytes(buf, len);
    off = sec_find(p, len, T_PARM);
    wr64(p + off + F_SECHEAD + 8 + namelen, (uint64_t)1 << 40);
    fix_section(p, off);
    tpath(path, sizeof path, "absurd.nnw");
    CHECK(write_all(path, p, len));
    before = small.used;
    CHECK_EQ_INT(nn_model_init_from_file(&tmp, &small, path), NN_ERR_TRUNCATED);
    CHECK(small.used == before);
    CHECKF(t_alloc_max <= len + 1, "largest allocation %lu bytes for a %lu-byte file", (unsigned long)t_alloc_max,
           (unsigned long)len);
    remove(path);
    free(p);
    free(buf);
    nn_arena_deinit(&a);
    nn_arena_deinit(&small);
}

static void test_error_shape_mismatch(void) {
    nn_layer_desc l[3], o[3];
    nn_arena a, b;
    nn_model m, m2;
    unsigned char *buf;
    size_t len;
    snap sn;
    int v;
    l[0] = LD(NN_LAYER_DENSE, 16, NN_ACT_RELU);
    l[1] = LD(NN_LAYER_BATCHNORM, 0, NN_ACT_IDENTITY);
    l[2] = LD(NN_LAYER_DENSE, 3, NN_ACT_IDENTITY);
    if (!model_new(&m, &a, l, 3, 5, 4, 1, 0)) return;
    buf = save_alloc(&m, NULL, &len);
    for (v = 0; v < 6; v++) {
        int n = 3, inputs = 5;
        memcpy(o, l, sizeof l);
        switch (v) {
        case 0: o[0].units = 17; break;              /* a different width */
        case 1: inputs = 6; break;                   /* a different input count */
        case 2: n = 2; break;                        /* fewer layers */
        case 3: o[0].act = NN_ACT_TANH; break;       /* another activation */
        case 4: o[1].momentum = 0.5f; break;         /* another hyperparameter */
        default: o[2].no_bias = 1; break;            /* no bias */
        }
        if (!model_new(&m2, &b, o, n, inputs, 4, 2, 0)) return;
        snap_take(&sn, &m2, NULL);
        memset(m2.error, 0, sizeof m2.error);
        CHECKF(nn_model_load_from_memory(&m2, NULL, buf, len) == NN_ERR_SHAPE_MISMATCH, "variant %d", v);
        CHECKF(snap_same(&sn, &m2, NULL), "variant %d: the model changed", v);
        if (v == 0 || v >= 3) /* a layer that differs: the message names it */
            CHECKF(strstr(m2.error, "layer") != NULL, "variant %d: error \"%s\"", v, m2.error);
        snap_free(&sn);
        nn_arena_deinit(&b);
    }
    /* a different max_batch is fine: it is a buffer size, not a shape of the weights */
    if (model_new(&m2, &b, l, 3, 5, 9, 2, 0)) {
        CHECK_EQ_INT(nn_model_load_from_memory(&m2, NULL, buf, len), NN_OK);
        CHECK(same_model_values(&m, &m2));
        nn_arena_deinit(&b);
    }
    free(buf);
    nn_arena_deinit(&a);

    /* optimizer and schedule that do not match the file's */
    {
        rig g, h;
        nn_optim sgd, adam_other_n;
        nn_sched step;
        nn_optim_desc od;
        nn_sched_desc sd;
        nn_train_state st;
        nn_arena c;
        if (!rig_new(&g, 1, 2, 2) || !rig_new(&h, 3, 4, 0)) return;
        buf = save_alloc(&g.m, &g.st, &len);
        CHECK_EQ_INT(nn_arena_init_heap(&c, 1 << 16), NN_OK);
        od = nn_optim_desc_default(NN_OPTIM_SGD);
        CHECK_EQ_INT(nn_optim_init(&sgd, &c, &od, h.m.n_params), NN_OK);
        od = adam_desc();
        CHECK_EQ_INT(nn_optim_init(&adam_other_n, &c, &od, h.m.n_params + 1), NN_OK);
        sd = nn_sched_desc_default(NN_SCHED_STEP, 0.1);
        sd.step_size = 3;
        CHECK_EQ_INT(nn_sched_init(&step, &sd), NN_OK);
        st = h.st;
        st.optim = &sgd;
        snap_take(&sn, &h.m, &st);
        CHECK_EQ_INT(nn_model_load_from_memory(&h.m, &st, buf, len), NN_ERR_SHAPE_MISMATCH);
        CHECK(snap_same(&sn, &h.m, &st));
        snap_free(&sn);
        st.optim = &adam_other_n;
        CHECK_EQ_INT(nn_model_load_from_memory(&h.m, &st, buf, len), NN_ERR_SHAPE_MISMATCH);
        st = h.st;
        st.sched = &step;
        snap_take(&sn, &h.m, &st);
        CHECK_EQ_INT(nn_model_load_from_memory(&h.m, &st, buf, len), NN_ERR_SHAPE_MISMATCH);
        CHECK(snap_same(&sn, &h.m, &st));
        snap_free(&sn);
        free(buf);
        nn_arena_deinit(&c);
        rig_free(&g);
        rig_free(&h);
    }
}

static void test_error_io_paths(void) {
    nn_layer_desc l[1];
    nn_arena a;
    nn_model m, tmp;
    char path[600];
    l[0] = LD(NN_LAYER_DENSE, 2, NN_ACT_IDENTITY);
    if (!model_new(&m, &a, l, 1, 2, 1, 1, 1 << 12)) return;
    tpath(path, sizeof path, "does_not_exist.nnw");
    CHECK_EQ_INT(nn_model_load(&m, NULL, path), NN_ERR_IO);
    CHECK_EQ_INT(nn_model_init_from_file(&tmp, &a, path), NN_ERR_IO);
    tpath(path, sizeof path, "no_such_dir/x.nnw");
    CHECK_EQ_INT(nn_model_save(&m, NULL, path), NN_ERR_IO);
    CHECK_EQ_INT(nn_model_save(&m, NULL, ""), NN_ERR_INVALID_ARGUMENT);
    nn_arena_deinit(&a);
}

/* A directory is not a model file: an I/O error (on ext4, ftell of a directory says
   LLONG_MAX: a loader that trusts it says TOO_LARGE instead). */
static void test_error_io_directory(void) {
    nn_layer_desc l[1];
    nn_arena a;
    nn_model m, tmp;
    nn_result r;
    l[0] = LD(NN_LAYER_DENSE, 2, NN_ACT_IDENTITY);
    if (!model_new(&m, &a, l, 1, 2, 1, 1, 1 << 12)) return;
    r = nn_model_load(&m, NULL, t_dir);
    CHECKF(r == NN_ERR_IO, "nn_model_load(directory) = %d (%s), want NN_ERR_IO", (int)r, nn_result_string(r));
    r = nn_model_init_from_file(&tmp, &a, t_dir);
    CHECKF(r == NN_ERR_IO, "nn_model_init_from_file(directory) = %d (%s), want NN_ERR_IO", (int)r, nn_result_string(r));
    nn_arena_deinit(&a);
}

static void test_result_strings_distinct(void) {
    int i, j;
    for (i = 0; i >= NN_ERR_UNSUPPORTED; i--) {
        const char *s = nn_result_string((nn_result)i);
        CHECKF(s && *s && strcmp(s, "unknown error") != 0, "code %d has no text", i);
        for (j = i - 1; j >= NN_ERR_UNSUPPORTED; j--)
            CHECKF(strcmp(s, nn_result_string((nn_result)j)) != 0, "codes %d and %d share a text", i, j);
    }
    CHECK(strcmp(nn_result_string((nn_result)-99), "unknown error") == 0);
}

/* The writer never writes past cap; a short buffer is NN_ERR_OUT_OF_MEMORY. */
static void test_save_to_memory_limits(void) {
    rig g;
    unsigned char *buf;
    size_t len, cap, w;
    long bad = 0;
    if (!rig_small(&g, 1)) return;
    buf = save_alloc(&g.m, &g.st, &len);
    for (cap = 0; cap < len; cap++) {
        unsigned char *p = (unsigned char *)xmalloc(cap);
        w = 123;
        if (nn_model_save_to_memory(&g.m, &g.st, p, cap, &w) != NN_ERR_OUT_OF_MEMORY || w != 0) bad++;
        free(p);
    }
    CHECKF(bad == 0, "%ld short buffers were not refused", bad);
    CHECK_EQ_INT(nn_model_save_to_memory(&g.m, &g.st, NULL, 100, &w), NN_ERR_INVALID_ARGUMENT);
    free(buf);
    rig_free(&g);
}

/* The loaded optimizer must be one the caller could have built: same state vectors
   in the same roles. SGD with momentum (s0) and SGD with Lookahead (slow) both keep one
   vector; nn.h loads one into the other, copies the file's description (lookahead_k = 0)
   over the caller's, and the next nn_optim_step_params divides by lookahead_k = 0
   (SIGFPE). The step is not run here. */
static void test_optim_layout_mismatch(void) {
    nn_layer_desc l[1];
    nn_arena a;
    nn_model m;
    nn_optim mom, look;
    nn_optim_desc d1, d2;
    nn_train_state st;
    unsigned char *buf;
    size_t len;
    snap sn;
    nn_result r;
    l[0] = LD(NN_LAYER_DENSE, 2, NN_ACT_IDENTITY);
    if (!model_new(&m, &a, l, 1, 3, 4, 1, 1 << 14)) return;
    d1 = nn_optim_desc_default(NN_OPTIM_SGD);
    d1.momentum = 0.9f;
    d2 = d1;
    d2.momentum = 0.0f;
    d2.lookahead_k = 5;
    CHECK_EQ_INT(nn_optim_init(&mom, &a, &d1, m.n_params), NN_OK);
    CHECK_EQ_INT(nn_optim_init(&look, &a, &d2, m.n_params), NN_OK);
    memset(&st, 0, sizeof st);
    st.optim = &mom;
    buf = save_alloc(&m, &st, &len);
    st.optim = &look;
    snap_take(&sn, &m, &st);
    r = nn_model_load_from_memory(&m, &st, buf, len);
    CHECKF(r == NN_ERR_SHAPE_MISMATCH, "momentum state loaded into a Lookahead optimizer: %d (%s)", (int)r,
           nn_result_string(r));
    CHECKF(snap_same(&sn, &m, &st), "the optimizer was changed (now lookahead_k = %d with slow weights %s)",
           look.d.lookahead_k, look.slow ? "allocated" : "absent");
    snap_free(&sn);
    free(buf);
    nn_arena_deinit(&a);
}

/* A file whose OPTM/SCHD descriptions (correct CRCs) hold values nn_optim_init /
   nn_sched_init would refuse must be refused too: loaded, they crash the next step
   (MULTISTEP n_milestones 1000 reads past milestones[16]; STEP step_size 0 divides by
   zero; lookahead_k 0 with slow weights divides by zero). The steps are not run here. */
static void test_hostile_train_state(void) {
    nn_layer_desc l[1];
    nn_arena a;
    nn_model m;
    nn_optim o;
    nn_sched s1, s2;
    nn_optim_desc od;
    nn_sched_desc sd;
    nn_train_state st;
    unsigned char *buf, *p;
    size_t len, off;
    snap sn;
    nn_result r;
    l[0] = LD(NN_LAYER_DENSE, 2, NN_ACT_IDENTITY);
    if (!model_new(&m, &a, l, 1, 3, 4, 1, 1 << 14)) return;
    od = nn_optim_desc_default(NN_OPTIM_SGD);
    od.lookahead_k = 5;
    CHECK_EQ_INT(nn_optim_init(&o, &a, &od, m.n_params), NN_OK);
    sd = nn_sched_desc_default(NN_SCHED_MULTISTEP, 0.1);
    sd.n_milestones = 2;
    sd.milestones[0] = 3;
    sd.milestones[1] = 6;
    CHECK_EQ_INT(nn_sched_init(&s1, &sd), NN_OK);
    sd = nn_sched_desc_default(NN_SCHED_STEP, 0.1);
    sd.step_size = 4;
    CHECK_EQ_INT(nn_sched_init(&s2, &sd), NN_OK);
    memset(&st, 0, sizeof st);
    st.optim = &o;
    st.sched = &s1;
    buf = save_alloc(&m, &st, &len);

    p = dup_bytes(buf, len); /* MULTISTEP with 1000 milestones */
    off = sec_find(p, len, T_SCHD);
    wr32(p + off + F_SECHEAD + 88, 1000);
    fix_section(p, off);
    snap_take(&sn, &m, &st);
    r = nn_model_load_from_memory(&m, &st, p, len);
    CHECKF(r != NN_OK && snap_same(&sn, &m, &st), "MULTISTEP n_milestones = 1000 loaded: %s", nn_result_string(r));
    snap_free(&sn);
    free(p);

    p = dup_bytes(buf, len); /* Lookahead with lookahead_k = 0 */
    off = sec_find(p, len, T_OPTM);
    wr32(p + off + F_SECHEAD + 72, 0);
    fix_section(p, off);
    memcpy(&s1, &sn.s, sizeof s1);
    snap_take(&sn, &m, &st);
    r = nn_model_load_from_memory(&m, &st, p, len);
    CHECKF(r != NN_OK && snap_same(&sn, &m, &st), "lookahead_k = 0 with slow weights loaded: %s", nn_result_string(r));
    snap_free(&sn);
    free(p);
    free(buf);

    st.sched = &s2; /* STEP with step_size 0 */
    buf = save_alloc(&m, &st, &len);
    p = dup_bytes(buf, len);
    off = sec_find(p, len, T_SCHD);
    wr32(p + off + F_SECHEAD + 12, 0);
    fix_section(p, off);
    snap_take(&sn, &m, &st);
    r = nn_model_load_from_memory(&m, &st, p, len);
    CHECKF(r != NN_OK && snap_same(&sn, &m, &st), "STEP step_size = 0 loaded: %s", nn_result_string(r));
    snap_free(&sn);
    free(p);
    free(buf);
    nn_arena_deinit(&a);
}

/* A description nn_model_init would refuse must not build from a file either. NaN
   passed an old nn__model_validate's `p < 0 || p >= 1` (and the eps/momentum checks), so
   a file with dropout p = NaN built a model whose first forward failed NN_ASSERT in
   nn_dropout_forward (found by tests/fuzz_load.c). The forward is not run here. */
static void test_hostile_description_nan(void) {
    nn_layer_desc l[3];
    nn_arena a, small;
    nn_model m, tmp;
    unsigned char *buf, *p;
    size_t len, off;
    nn_model_desc md;
    const struct {
        int layer, offset;
        const char *what;
    } cases[3] = {{1, 40, "dropout p"}, {2, 44, "batch-norm eps"}, {2, 48, "batch-norm momentum"}};
    int i;
    l[0] = LD(NN_LAYER_DENSE, 3, NN_ACT_RELU);
    l[1] = LD(NN_LAYER_DROPOUT, 0, NN_ACT_IDENTITY);
    l[1].p = 0.5f;
    l[2] = LD(NN_LAYER_BATCHNORM, 0, NN_ACT_IDENTITY);
    if (!model_new(&m, &a, l, 3, 2, 2, 1, 0)) return;
    buf = save_alloc(&m, NULL, &len);
    CHECK_EQ_INT(nn_arena_init_heap(&small, 1 << 16), NN_OK);
    for (i = 0; i < 3; i++) {
        nn_result r;
        p = dup_bytes(buf, len);
        off = sec_find(p, len, T_ARCH);
        wr32(p + off + F_SECHEAD + 20 + F_LAYER * cases[i].layer + cases[i].offset, 0x7FC00000u); /* NaN */
        fix_section(p, off);
        r = nn_model_init_from_memory(&tmp, &small, p, len);
        CHECKF(r == NN_ERR_CORRUPT && small.used == 0, "%s = NaN in a file: %s", cases[i].what, nn_result_string(r));
        nn_arena_reset(&small);
        free(p);
    }
    /* and straight from a description */
    l[1].p = f32_of(0x7FC00000u);
    md = MD(l, 3, 2, 2, 1);
    CHECKF(nn_model_init(&tmp, &small, &md) == NN_ERR_INVALID_ARGUMENT, "nn_model_init accepted dropout p = NaN");
    free(buf);
    nn_arena_deinit(&a);
    nn_arena_deinit(&small);
}

/* ------------------------------------------------------------------ format 1.1: literal descriptions */

/* Every field a 1.0 reader would have read as "the default" when it is 0, at 0. */
static int layers_zeros(nn_layer_desc *l) {
    l[0] = nn_dense(4, NN_ACT_LEAKY_RELU);
    l[0].alpha = 0.0f;     /* LeakyReLU slope 0: ReLU */
    l[0].init_gain = 0.0f; /* unused by NN_INIT_DEFAULT, stored all the same */
    l[1] = nn_batchnorm();
    l[1].eps = 0.0f;
    l[1].momentum = 0.0f;  /* running statistics stay put */
    l[2] = nn_dropout(0.0f);
    l[3] = nn_maxout(3, 2, NN_ACT_ELU);
    l[3].alpha = 0.0f;
    l[3].init_gain = 0.0f;
    l[4] = nn_layernorm();
    l[4].eps = 0.0f;
    l[5] = nn_activation(NN_ACT_ELU);
    l[5].alpha = 0.0f;
    return 6;
}
/* ... and what a 1.0 file with those zeros meant: the constructors' defaults */
static int layers_zeros_v10(nn_layer_desc *l) {
    l[0] = nn_dense(4, NN_ACT_LEAKY_RELU);
    l[1] = nn_batchnorm();
    l[2] = nn_layer_desc_default(NN_LAYER_DROPOUT); /* p 0.5 */
    l[3] = nn_maxout(3, 2, NN_ACT_ELU);
    l[4] = nn_layernorm();
    l[5] = nn_activation(NN_ACT_ELU);
    return 6;
}
#define ZL_IN 5
#define ZL_MB 6

/* A model with literal zeros saves a ZLIT section (required, empty, first) so that a 1.0
   reader refuses the file instead of reading the zeros as defaults, and round-trips
   exactly; TRAIN outputs show the zeros are in force (dropout p 0 is the identity,
   batch norm momentum 0 leaves the running statistics alone). */
static void test_zlit_literal_zeros(void) {
    nn_layer_desc l[8], got[8];
    int n = layers_zeros(l), i;
    nn_arena a, b;
    nn_model m, m2;
    nn_model_desc d;
    float X[ZL_MB * ZL_IN], y1[ZL_MB * 3], y2[ZL_MB * 3], *buf0;
    unsigned char *buf, *p, *q;
    size_t len, plen, qlen, off;
    if (!model_new(&m, &a, l, n, ZL_IN, ZL_MB, 8, 0)) return;
    fill_randn(X, ZL_MB * ZL_IN, 81);
    buf0 = falloc(m.n_buffers);
    memcpy(buf0, m.buffers, sizeof(float) * m.n_buffers);
    for (i = 0; i < 3; i++) nn_model_forward(&m, nn_tensor_2d(X, ZL_MB, ZL_IN));
    CHECKF(same_floats(buf0, m.buffers, m.n_buffers), "batch norm momentum 0 moved the running statistics");
    for (i = 0; i < (int)m.n_params; i++) m.params[i] += 0.01f * (float)(i % 7); /* not the init values */
    buf = save_alloc(&m, NULL, &len);
    /* ZLIT: the first section, required, empty */
    off = sec_find(buf, len, T_ZLIT);
    CHECKF(off == F_HEADER, "ZLIT at %lu, want the first section", (unsigned long)off);
    if (off) CHECK(rd32(buf + off + 4) == 1 && rd64(buf + off + 8) == 0);
    CHECK(rd32(buf + 12) == NN_FORMAT_VERSION_MINOR && rd32(buf + 16) == 5); /* ZLIT ARCH PARM BUFS RNGS */
    CHECK(len == nn_model_save_size(&m, NULL));
    /* the description comes back literally, zeros and all */
    memset(&d, 0, sizeof d);
    CHECK_EQ_INT(nn_model_desc_from_memory(&d, got, 8, buf, len), NN_OK);
    CHECK(d.n_layers == n && memcmp(got, l, sizeof(nn_layer_desc) * (size_t)n) == 0);
    CHECK(got[2].p == 0.0f && got[1].momentum == 0.0f && got[1].eps == 0.0f && got[0].alpha == 0.0f);
    CHECK_EQ_INT(nn_arena_init_heap(&b, m.arena_bytes), NN_OK);
    if (CHECK_EQ_INT(nn_model_init_from_memory(&m2, &b, buf, len), NN_OK)) {
        CHECK(same_model_values(&m, &m2));
        eval_out(&m, X, ZL_MB, y1);
        eval_out(&m2, X, ZL_MB, y2);
        CHECK(memcmp(y1, y2, sizeof y1) == 0);
        /* TRAIN: dropout p 0 keeps every unit, so TRAIN and EVAL differ only by batch norm */
        memcpy(y1, nn_model_forward(&m, nn_tensor_2d(X, ZL_MB, ZL_IN)).data, sizeof y1);
        memcpy(y2, nn_model_forward(&m2, nn_tensor_2d(X, ZL_MB, ZL_IN)).data, sizeof y2);
        CHECKF(memcmp(y1, y2, sizeof y1) == 0, "TRAIN outputs differ after a round trip");
        CHECK(same_model_values(&m, &m2));
        CHECK(same_floats(buf0, m2.buffers, m2.n_buffers));
        /* and it saves the very same bytes again */
        p = save_alloc(&m2, NULL, &plen);
        CHECK(plen == len && memcmp(p, buf, len) == 0);
        free(p);
    }
    CHECK_EQ_INT(nn_model_load_from_memory(&m, NULL, buf, len), NN_OK);
    /* ZLIT only guards old readers: a 1.1 file without it still reads literally */
    p = remove_section(buf, len, off, &plen);
    CHECK_EQ_INT(nn_model_desc_from_memory(&d, got, 8, p, plen), NN_OK);
    CHECK(memcmp(got, l, sizeof(nn_layer_desc) * (size_t)n) == 0);
    /* ZLIT with a payload is not a ZLIT a writer makes */
    q = insert_section(p, plen, F_HEADER, T_ZLIT, 1, "x", 1, &qlen);
    CHECK_EQ_INT(nn_model_load_from_memory(&m, NULL, q, qlen), NN_ERR_CORRUPT);
    free(q);
    free(p);
    /* a model without literal zeros has no ZLIT */
    {
        nn_layer_desc dl[8];
        nn_arena c;
        nn_model m3;
        unsigned char *b3;
        size_t l3;
        int n3 = layers_zeros_v10(dl);
        if (model_new(&m3, &c, dl, n3, ZL_IN, ZL_MB, 8, 0)) {
            b3 = save_alloc(&m3, NULL, &l3);
            CHECK(sec_find(b3, l3, T_ZLIT) == 0 && rd32(b3 + 16) == 4);
            free(b3);
            nn_arena_deinit(&c);
        }
    }
    free(buf0);
    free(buf);
    nn_arena_deinit(&a);
    nn_arena_deinit(&b);
}

/* A format 1.0 file (written when zero meant "default") with zeros in p, eps, momentum,
   alpha and init_gain loads with the old defaults. The file is made as a 1.0 writer made
   it: the same bytes without ZLIT, minor version 0. That is also what a reader that
   ignored ZLIT would see: every literal zero replaced by a default. */
static void test_v10_file_zeros_are_defaults(void) {
    nn_layer_desc l[8], lv[8], got[8];
    int n = layers_zeros(l), i;
    nn_arena a, b, c;
    nn_model m, mv, m2;
    nn_model_desc d;
    unsigned char *buf, *v10;
    size_t len, vlen, off;
    snap sn;
    if (!model_new(&m, &a, l, n, ZL_IN, ZL_MB, 9, 0)) return;
    for (i = 0; i < (int)m.n_params; i++) m.params[i] = 0.001f * (float)i - 0.05f;
    for (i = 0; i < (int)m.n_buffers; i++) m.buffers[i] = 1.0f + 0.125f * (float)i;
    buf = save_alloc(&m, NULL, &len);
    off = sec_find(buf, len, T_ZLIT);
    if (!CHECK(off != 0)) {
        free(buf);
        nn_arena_deinit(&a);
        return;
    }
    v10 = remove_section(buf, len, off, &vlen);
    wr32(v10 + 12, 0);
    fix_header(v10);
    /* every zero read as the default */
    memset(&d, 0, sizeof d);
    CHECK_EQ_INT(nn_model_desc_from_memory(&d, got, 8, v10, vlen), NN_OK);
    layers_zeros_v10(lv);
    CHECK(d.n_layers == n && d.inputs == ZL_IN && d.max_batch == ZL_MB);
    for (i = 0; i < n; i++)
        CHECKF(memcmp(&got[i], &lv[i], sizeof got[i]) == 0,
               "layer %d of a 1.0 file: alpha %g p %g eps %g momentum %g init_gain %g k %d, want %g %g %g %g %g %d", i,
               (double)got[i].alpha, (double)got[i].p, (double)got[i].eps, (double)got[i].momentum,
               (double)got[i].init_gain, got[i].k, (double)lv[i].alpha, (double)lv[i].p, (double)lv[i].eps,
               (double)lv[i].momentum, (double)lv[i].init_gain, lv[i].k);
    CHECK(got[2].p == 0.5f && got[1].eps == 1e-5f && got[1].momentum == 0.1f && got[0].alpha == 0.01f &&
          got[3].alpha == 1.0f && got[4].eps == 1e-5f && got[5].alpha == 1.0f);
    /* built from the 1.0 file: the old defaults in force, the values as saved */
    CHECK_EQ_INT(nn_arena_init_heap(&b, m.arena_bytes), NN_OK);
    if (CHECK_EQ_INT(nn_model_init_from_memory(&m2, &b, v10, vlen), NN_OK)) {
        CHECK(same_floats(m.params, m2.params, m.n_params) && same_floats(m.buffers, m2.buffers, m.n_buffers));
        for (i = 0; i < m2.n_layers; i++) {
            const nn_layer *ly = &m2.layers[i];
            if (ly->kind == NN_LAYER_DROPOUT) CHECK(ly->p == 0.5f);
            if (ly->kind == NN_LAYER_BATCHNORM) CHECK(ly->eps == 1e-5f && ly->momentum == 0.1f);
            if (ly->kind == NN_LAYER_ACT && ly->act == NN_ACT_LEAKY_RELU) CHECK(ly->alpha == 0.01f);
        }
    }
    /* it loads into a model built from the defaults, not into the literal-zero one */
    if (model_new(&mv, &c, lv, n, ZL_IN, ZL_MB, 10, 0)) {
        CHECK_EQ_INT(nn_model_load_from_memory(&mv, NULL, v10, vlen), NN_OK);
        CHECK(same_floats(m.params, mv.params, m.n_params) && same_floats(m.buffers, mv.buffers, m.n_buffers));
        CHECK_EQ_INT(nn_model_load_from_memory(&mv, NULL, buf, len), NN_ERR_SHAPE_MISMATCH);
        nn_arena_deinit(&c);
    }
    snap_take(&sn, &m, NULL);
    CHECK_EQ_INT(nn_model_load_from_memory(&m, NULL, v10, vlen), NN_ERR_SHAPE_MISMATCH);
    CHECK(snap_same(&sn, &m, NULL));
    CHECKF(m.error[0] != '\0', "a failed load left no message");
    snap_free(&sn);
    /* the committed corpus and golden files are 1.0 files of the old writer */
    {
        size_t glen;
        unsigned char *g = read_all(FIXTURE_DIR "model_v1.nnw", &glen);
        CHECK(g && glen > F_HEADER && rd32(g + 12) == 0);
        free(g);
    }
    free(buf);
    free(v10);
    nn_arena_deinit(&a);
    nn_arena_deinit(&b);
}

/* ONE_CYCLE's anneal_linear / three_phase are not in SCHD: a schedule that sets one
   saves a required SCHX section, and a resume continues with the same curve. */
static void test_schx_one_cycle(void) {
    static const int variants[3][2] = {{1, 0}, {0, 1}, {1, 1}};
    int v;
    for (v = 0; v < 4; v++) {
        nn_layer_desc l[2];
        nn_arena a, b;
        nn_model m, m2;
        nn_optim o, o2;
        nn_sched s, s2;
        nn_optim_desc od = nn_optim_desc_default(NN_OPTIM_SGD);
        nn_sched_desc sd = nn_sched_desc_default(NN_SCHED_ONE_CYCLE, 0.0);
        nn_train_state st, st2;
        nn_rng r, r2;
        float X[8 * 3], T[8 * 2];
        unsigned char *buf, *p;
        size_t len, plen, off;
        int k, same = 1, lin = v < 3 ? variants[v][0] : 0, three = v < 3 ? variants[v][1] : 0;
        l[0] = nn_dense(4, NN_ACT_TANH);
        l[1] = nn_dense(2, NN_ACT_IDENTITY);
        od.momentum = 0.9f;
        sd.max_lr = 0.1;
        sd.total_steps = 40;
        sd.anneal_linear = lin;
        sd.three_phase = three;
        if (!model_new(&m, &a, l, 2, 3, 4, 1, 1 << 12) || !model_new(&m2, &b, l, 2, 3, 4, 2, 1 << 12)) return;
        CHECK_EQ_INT(nn_optim_init(&o, &a, &od, m.n_params), NN_OK);
        CHECK_EQ_INT(nn_optim_init(&o2, &b, &od, m2.n_params), NN_OK);
        CHECK_EQ_INT(nn_sched_init(&s, &sd), NN_OK);
        sd.anneal_linear = 0; /* the resumed run starts from another curve: the file sets it */
        sd.three_phase = 0;
        CHECK_EQ_INT(nn_sched_init(&s2, &sd), NN_OK);
        nn_rng_seed(&r, 3);
        nn_rng_seed(&r2, 4);
        memset(&st, 0, sizeof st);
        st.optim = &o;
        st.sched = &s;
        st.rng = &r;
        st2 = st;
        st2.optim = &o2;
        st2.sched = &s2;
        st2.rng = &r2;
        fill_randn(X, 24, 5);
        fill_randn(T, 16, 6);
        train_loop(&m, &o, &s, &r, X, T, 8, 4, 7);
        buf = save_alloc(&m, &st, &len);
        off = sec_find(buf, len, T_SCHX);
        if (v == 3) {
            CHECKF(off == 0, "cosine ONE_CYCLE: SCHX written");
        } else if (CHECKF(off != 0, "variant %d: no SCHX", v)) {
            CHECK(rd32(buf + off + 4) == 1 && rd64(buf + off + 8) >= 4);
            CHECK(rd32(buf + off + F_SECHEAD) == (uint32_t)lin);
            if (rd64(buf + off + 8) >= 8) CHECK(rd32(buf + off + F_SECHEAD + 4) == (uint32_t)three);
            CHECK(off > sec_find(buf, len, T_SCHD)); /* after the section it extends */
        }
        CHECK_EQ_INT(nn_model_load_from_memory(&m2, &st2, buf, len), NN_OK);
        CHECK(s2.d.anneal_linear == lin && s2.d.three_phase == three && s2.t == s.t && s2.lr == s.lr);
        for (k = 0; k < 25; k++) {
            nn_sched_step(&s, 0.0f);
            nn_sched_step(&s2, 0.0f);
            same &= nn_sched_lr(&s) == nn_sched_lr(&s2) && nn_sched_momentum(&s) == nn_sched_momentum(&s2);
        }
        CHECKF(same, "variant %d: the resumed schedule follows another curve", v);
        if (off) {
            /* SCHX without SCHD, and with a value other than 0 and 1: corrupt */
            p = remove_section(buf, len, sec_find(buf, len, T_SCHD), &plen);
            CHECK_EQ_INT(nn_model_load_from_memory(&m2, &st2, p, plen), NN_ERR_CORRUPT);
            free(p);
            p = dup_bytes(buf, len);
            wr32(p + off + F_SECHEAD, 2);
            fix_section(p, off);
            CHECK_EQ_INT(nn_model_load_from_memory(&m2, &st2, p, len), NN_ERR_CORRUPT);
            free(p);
        }
        free(buf);
        nn_arena_deinit(&a);
        nn_arena_deinit(&b);
    }
}

/* ------------------------------------------------------------------ the layout, read independently */

/* Walks a saved file as docs/FORMAT.md describes it, with no help from nn.h's reader. */
static void test_format_layout(void) {
    rig g;
    unsigned char *buf;
    size_t len, pos, q;
    const uint32_t want_tags[6] = {T_ARCH, T_PARM, T_BUFS, T_RNGS, T_OPTM, T_SCHD};
    const uint32_t want_flags[6] = {1, 1, 1, 0, 0, 0};
    uint32_t i, j;
    if (!rig_new(&g, 77, 78, 3)) return;
    buf = save_alloc(&g.m, &g.st, &len);
    CHECK(rd32(buf + 16) == 6);
    pos = F_HEADER;
    for (i = 0; i < 6; i++) {
        uint32_t tag = rd32(buf + pos), flags = rd32(buf + pos + 4);
        uint64_t slen = rd64(buf + pos + 8);
        const unsigned char *pl = buf + pos + F_SECHEAD;
        CHECKF(tag == want_tags[i] && flags == want_flags[i], "section %u: tag %08x flags %u", i, tag, flags);
        CHECK(rd32(pl + slen) == nn_crc32c(0, buf + pos, F_SECHEAD + (size_t)slen));
        if (tag == T_ARCH) {
            CHECK(slen == 20 + (uint64_t)F_LAYER * (uint64_t)g.m.n_descs);
            CHECK(rd32(pl) == RES_IN && rd32(pl + 4) == RES_MB && rd64(pl + 8) == 77 && rd32(pl + 16) == 5);
            for (j = 0; j < 5; j++) {
                const unsigned char *f = pl + 20 + F_LAYER * j;
                const nn_layer_desc *d = &g.m.descs[j];
                CHECK(rd32(f) == (uint32_t)d->kind && rd32(f + 4) == (uint32_t)d->units && rd32(f + 8) == (uint32_t)d->act);
                CHECK(f32_of(rd32(f + 40)) == d->p && rd32(f + 52) == (uint32_t)d->k);
                /* 1.1 records are literal: the defaults are written out, not as 0 */
                CHECK(f32_of(rd32(f + 12)) == d->alpha && f32_of(rd32(f + 28)) == d->init_gain &&
                      f32_of(rd32(f + 44)) == d->eps && f32_of(rd32(f + 48)) == d->momentum);
                if (d->kind == NN_LAYER_BATCHNORM) CHECK(f32_of(rd32(f + 44)) == 1e-5f && f32_of(rd32(f + 48)) == 0.1f);
                if (d->kind == NN_LAYER_DROPOUT) CHECK(f32_of(rd32(f + 40)) == 0.25f);
                if (d->kind == NN_LAYER_DENSE) CHECK(f32_of(rd32(f + 28)) == 1.0f && f32_of(rd32(f + 44)) == 1e-5f);
            }
        } else if (tag == T_PARM || tag == T_BUFS) {
            const nn_param *list = tag == T_PARM ? g.m.param_list : g.m.buffer_list;
            uint32_t n = rd32(pl);
            CHECK((int)n == (tag == T_PARM ? g.m.n_param_list : g.m.n_buffer_list));
            q = 4;
            for (j = 0; j < n; j++) {
                uint32_t nl = rd32(pl + q), k, bad = 0;
                uint64_t cnt;
                CHECK(nl == strlen(list[j].name) && memcmp(pl + q + 4, list[j].name, nl) == 0);
                q += 4 + nl;
                cnt = rd64(pl + q);
                q += 8;
                CHECK(cnt == list[j].size);
                for (k = 0; k < cnt; k++) bad += f32_of(rd32(pl + q + 4 * k)) != list[j].data[k];
                CHECKF(bad == 0, "%s: %u floats differ from little-endian IEEE", list[j].name, bad);
                q += 4 * (size_t)cnt;
            }
            CHECK(q == slen);
        } else if (tag == T_RNGS) {
            CHECK(slen == 4 + 2 * 32 && rd32(pl) == 2);
            for (j = 0; j < 4; j++) CHECK(rd64(pl + 4 + 8 * j) == g.m.rng.s[j] && rd64(pl + 36 + 8 * j) == g.rng.s[j]);
        } else if (tag == T_OPTM) {
            CHECK(slen == F_OPTM_FIXED + 2 * 4 * (uint64_t)g.o.n);
            CHECK(rd32(pl) == NN_OPTIM_ADAM && f32_of(rd32(pl + 24)) == g.o.d.beta1 && f32_of(rd32(pl + 60)) == g.o.d.weight_decay);
            CHECK(rd64(pl + 80) == (uint64_t)g.o.step && rd64(pl + 88) == g.o.n && rd32(pl + 96) == 2);
            CHECK(f32_of(rd32(pl + 100)) == g.o.s0[0] && f32_of(rd32(pl + 100 + 4 * g.o.n)) == g.o.s1[0]);
        } else if (tag == T_SCHD) {
            double lr;
            uint64_t u = rd64(pl + 244);
            memcpy(&lr, &u, 8);
            CHECKF(slen == F_SCHD, "SCHD length %lu", (unsigned long)slen);
            CHECK(rd32(pl) == NN_SCHED_COSINE && rd32(pl + 100) == 40 && rd32(pl + 224) == 3);
            CHECK(rd64(pl + 236) == (uint64_t)g.s.t && lr == g.s.lr);
        }
        pos += F_SECHEAD + (size_t)slen + 4;
    }
    CHECK(pos == len);
    free(buf);
    rig_free(&g);
}

/* ------------------------------------------------------------------ atomic save */

#ifdef T_MKDIR
static void test_atomic_save_failure_keeps_old_file(void) {
    nn_layer_desc l[2];
    nn_arena a, b;
    nn_model m1, m2, chk;
    char path[600], tmp[620];
    unsigned char *before, *after;
    size_t blen, alen;
    l[0] = LD(NN_LAYER_DENSE, 4, NN_ACT_TANH);
    l[1] = LD(NN_LAYER_DENSE, 2, NN_ACT_IDENTITY);
    if (!model_new(&m1, &a, l, 2, 3, 2, 1, 0) || !model_new(&m2, &b, l, 2, 3, 2, 2, 1 << 14)) return;
    tpath(path, sizeof path, "atomic.nnw");
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    CHECK_EQ_INT(nn_model_save(&m1, NULL, path), NN_OK);
    before = read_all(path, &blen);
    /* the temporary name is taken by a directory: the save must fail */
    CHECK(T_MKDIR(tmp) == 0);
    CHECK_EQ_INT(nn_model_save(&m2, NULL, path), NN_ERR_IO);
    after = read_all(path, &alen);
    CHECKF(before && after && blen == alen && memcmp(before, after, blen) == 0, "the old file was damaged");
    CHECK_EQ_INT(nn_model_init_from_file(&chk, &b, path), NN_OK);
    CHECK(same_model_values(&m1, &chk));
    CHECK(T_RMDIR(tmp) == 0);
    free(after);
    /* and a successful save replaces it whole, leaving no temporary behind */
    CHECK_EQ_INT(nn_model_save(&m2, NULL, path), NN_OK);
    CHECK(!file_exists(tmp));
    CHECK_EQ_INT(nn_model_load(&chk, NULL, path), NN_OK);
    CHECK(same_model_values(&m2, &chk));
    remove(path);
    free(before);
    nn_arena_deinit(&a);
    nn_arena_deinit(&b);
}
#endif

/* ------------------------------------------------------------------ golden file */

/* The golden model: written once by `--write-golden` on x86-64 and committed; every
   build (NN_PORTABLE_ENDIAN, NN_NO_SIMD, C++) must read the same values from it. */
#define GOLD_IN 6
#define GOLD_MB 4
#define GOLD_SEED 20240601u
static int layers_golden(nn_layer_desc *l) {
    l[0] = LD(NN_LAYER_DENSE, 8, NN_ACT_RELU);
    l[1] = LD(NN_LAYER_BATCHNORM, 0, NN_ACT_IDENTITY);
    l[1].momentum = 0.3f;
    l[2] = LD(NN_LAYER_DROPOUT, 0, NN_ACT_IDENTITY);
    l[2].p = 0.25f;
    l[3] = LD(NN_LAYER_MAXOUT, 5, NN_ACT_IDENTITY);
    l[4] = LD(NN_LAYER_LAYERNORM, 0, NN_ACT_IDENTITY);
    l[5] = LD(NN_LAYER_DENSE, 3, NN_ACT_SOFTMAX);
    l[5].weight_std = 1;
    l[5].no_bias = 1;
    return 6;
}

typedef struct golden {
    nn_arena a;
    nn_model m;
    nn_optim o;
    nn_sched s;
    nn_rng rng;
    nn_train_state st;
} golden;

static int golden_new(golden *g) {
    nn_layer_desc l[6];
    int n = layers_golden(l);
    nn_optim_desc od = adam_desc();
    nn_sched_desc sd = cosine_desc();
    memset(g, 0, sizeof *g);
    if (!model_new(&g->m, &g->a, l, n, GOLD_IN, GOLD_MB, GOLD_SEED, 1 << 16)) return 0;
    if (!CHECK_EQ_INT(nn_optim_init(&g->o, &g->a, &od, g->m.n_params), NN_OK)) return 0;
    if (!CHECK_EQ_INT(nn_sched_init(&g->s, &sd), NN_OK)) return 0;
    nn_rng_seed(&g->rng, 77);
    g->st.optim = &g->o;
    g->st.sched = &g->s;
    g->st.rng = &g->rng;
    return 1;
}

static void fx_write(FILE *f, const char *name, const float *v, int n) {
    int i;
    fprintf(f, "%s 1 %d\n", name, n);
    for (i = 0; i < n; i++) fprintf(f, "%s%.9g", i ? " " : "", (double)v[i]);
    fprintf(f, "\n");
}
static void rng_words(const nn_rng *r, float *w) {
    int i, k;
    for (i = 0; i < 4; i++)
        for (k = 0; k < 4; k++) w[4 * i + k] = (float)((r->s[i] >> (16 * k)) & 0xFFFFu);
}

static int mode_write_golden(const char *dir) {
    golden g;
    float X[8 * GOLD_IN], T[8 * 3], x[GOLD_MB * GOLD_IN], y[GOLD_MB * 3], w[16], sc[3];
    char path[600];
    FILE *f;
    if (!golden_new(&g)) return 1;
    fill_randn(X, sizeof X / sizeof X[0], 1);
    fill_randn(T, sizeof T / sizeof T[0], 2);
    train_loop(&g.m, &g.o, &g.s, &g.rng, X, T, 8, GOLD_MB, 10);
    snprintf(path, sizeof path, "%s/model_v1.nnw", dir);
    if (nn_model_save(&g.m, &g.st, path) != NN_OK) return 1;
    fill_randn(x, sizeof x / sizeof x[0], 4);
    eval_out(&g.m, x, GOLD_MB, y);
    snprintf(path, sizeof path, "%s/model_v1_expected.txt", dir);
    f = fopen(path, "w");
    if (!f) return 1;
    fprintf(f, "# expected contents of model_v1.nnw (nn.h format %d.%d), written by\n"
               "# `build/test_serialize --write-golden tests/fixtures` on an x86-64 host (simd level %d).\n"
               "# x: input (%d, %d) flattened; y: EVAL outputs; params/buffers: the model's blocks;\n"
               "# s0/s1: Adam moments; scalars: optimizer step, schedule t, schedule lr;\n"
               "# rng_model/rng_user: xoshiro256** state as 16-bit words, s[0] low word first.\n",
            NN_FORMAT_VERSION_MAJOR, NN_FORMAT_VERSION_MINOR, nn_simd_level(), GOLD_MB, GOLD_IN);
    fx_write(f, "x", x, GOLD_MB * GOLD_IN);
    fx_write(f, "y", y, GOLD_MB * 3);
    fx_write(f, "params", g.m.params, (int)g.m.n_params);
    fx_write(f, "buffers", g.m.buffers, (int)g.m.n_buffers);
    fx_write(f, "s0", g.o.s0, (int)g.o.n);
    fx_write(f, "s1", g.o.s1, (int)g.o.n);
    sc[0] = (float)g.o.step;
    sc[1] = (float)g.s.t;
    sc[2] = (float)g.s.lr;
    fx_write(f, "scalars", sc, 3);
    rng_words(&g.m.rng, w);
    fx_write(f, "rng_model", w, 16);
    rng_words(&g.rng, w);
    fx_write(f, "rng_user", w, 16);
    fclose(f);
    nn_arena_deinit(&g.a);
    printf("wrote %s/model_v1.nnw and %s/model_v1_expected.txt\n", dir, dir);
    return 0;
}

static int fx_same(const fx_file *f, const char *name, const float *got, size_t n) {
    const fx_tensor *t = fx_get(f, name);
    return CHECKF(t && (size_t)t->size == n && same_floats(t->data, got, n), "golden %s differs", name);
}

static void test_golden_v1(void) {
    fx_file fx;
    golden g;
    nn_arena a;
    nn_model m;
    unsigned char *file, *again;
    size_t flen, alen;
    float y[GOLD_MB * 3], w[16];
    const fx_tensor *x, *want, *sc;
    double worst = 0.0;
    if (!CHECKF(fx_load(&fx, FIXTURE_DIR "model_v1_expected.txt") == 0, "cannot load the golden expectations")) return;
    x = fx_get(&fx, "x");
    want = fx_get(&fx, "y");
    sc = fx_get(&fx, "scalars");
    if (!CHECK(x && want && sc && x->size == GOLD_MB * GOLD_IN && want->size == GOLD_MB * 3 && sc->size == 3)) {
        fx_free(&fx);
        return;
    }
    /* built from the file alone */
    CHECK_EQ_INT(nn_arena_init_heap(&a, 1 << 16), NN_OK);
    if (CHECK_EQ_INT(nn_model_init_from_file(&m, &a, FIXTURE_DIR "model_v1.nnw"), NN_OK)) {
        fx_same(&fx, "params", m.params, m.n_params);
        fx_same(&fx, "buffers", m.buffers, m.n_buffers);
        rng_words(&m.rng, w);
        fx_same(&fx, "rng_model", w, 16);
        eval_out(&m, x->data, GOLD_MB, y);
        CHECKF(fx_close(y, want->data, GOLD_MB * 3, 1e-5, 1e-5, &worst), "golden outputs differ");
        TEST_NOTE("golden outputs: worst relative error %.3g (%s)", worst,
                  memcmp(y, want->data, sizeof y) == 0 ? "bit-identical" : "not bit-identical");
    }
    /* loaded with its train state into a model built from the same description */
    if (golden_new(&g)) {
        CHECK_EQ_INT(nn_model_load(&g.m, &g.st, FIXTURE_DIR "model_v1.nnw"), NN_OK);
        fx_same(&fx, "params", g.m.params, g.m.n_params);
        fx_same(&fx, "s0", g.o.s0, g.o.n);
        fx_same(&fx, "s1", g.o.s1, g.o.n);
        CHECK((float)g.o.step == sc->data[0] && (float)g.s.t == sc->data[1] && (float)g.s.lr == sc->data[2]);
        rng_words(&g.rng, w);
        fx_same(&fx, "rng_user", w, 16);
        /* The golden file is format 1.0 (zeros meant defaults). This build writes 1.1: the
           same sections, byte for byte, but for the ARCH records, which now hold the
           defaults themselves; read back, both describe the same layers. */
        file = read_all(FIXTURE_DIR "model_v1.nnw", &flen);
        again = save_alloc(&g.m, &g.st, &alen);
        if (CHECK(file != NULL && flen == alen && flen > F_HEADER)) {
            static const uint32_t same[5] = {T_PARM, T_BUFS, T_RNGS, T_OPTM, T_SCHD};
            nn_layer_desc l0[8], l1[8], lg[8];
            nn_model_desc d0, d1;
            size_t o0, o1;
            int i, n = layers_golden(lg);
            CHECK(rd32(file + 12) == 0 && rd32(again + 12) == NN_FORMAT_VERSION_MINOR);
            CHECK(memcmp(file, again, 12) == 0 && rd32(file + 16) == rd32(again + 16));
            CHECK(sec_find(again, alen, T_ZLIT) == 0); /* no literal zeros in this model */
            for (i = 0; i < 5; i++) {
                o0 = sec_find(file, flen, same[i]);
                o1 = sec_find(again, alen, same[i]);
                CHECKF(o0 && o0 == o1 && memcmp(file + o0, again + o1, sec_total(file, o0)) == 0,
                       "section %d differs after re-saving the golden file", i);
            }
            o0 = sec_find(file, flen, T_ARCH);
            o1 = sec_find(again, alen, T_ARCH);
            CHECK(o0 && o0 == o1 && rd64(file + o0 + 8) == rd64(again + o1 + 8));
            CHECK(memcmp(file + o0 + F_SECHEAD, again + o1 + F_SECHEAD, 20) == 0);
            /* layer 1 (batch norm, momentum 0.3): eps 0 in 1.0, 1e-5 in 1.1 */
            CHECK(f32_of(rd32(file + o0 + F_SECHEAD + 20 + F_LAYER + 44)) == 0.0f);
            CHECK(f32_of(rd32(again + o1 + F_SECHEAD + 20 + F_LAYER + 44)) == 1e-5f);
            CHECK(f32_of(rd32(again + o1 + F_SECHEAD + 20 + F_LAYER + 48)) == 0.3f);
            memset(&d0, 0, sizeof d0);
            memset(&d1, 0, sizeof d1);
            CHECK_EQ_INT(nn_model_desc_from_memory(&d0, l0, 8, file, flen), NN_OK);
            CHECK_EQ_INT(nn_model_desc_from_memory(&d1, l1, 8, again, alen), NN_OK);
            CHECK(d0.n_layers == n && d1.n_layers == n);
            if (d0.n_layers == n && d1.n_layers == n) {
                CHECK(memcmp(l0, lg, sizeof(nn_layer_desc) * (size_t)n) == 0); /* 1.0 zeros read as defaults */
                CHECK(memcmp(l1, lg, sizeof(nn_layer_desc) * (size_t)n) == 0);
            }
        }
        free(file);
        free(again);
        nn_arena_deinit(&g.a);
    }
    TEST_NOTE("byte order path: %s", nn__host_le() ? "whole-array copies (little-endian host)" : "byte by byte (NN_PORTABLE_ENDIAN or big-endian)");
    fx_free(&fx);
    nn_arena_deinit(&a);
}

/* ------------------------------------------------------------------ C export */

#if T_POSIX
#ifdef NN_TEST_EXTERNAL
static void test_export_c(void) {
    nn_layer_desc l[32];
    int n = layers_all(l), B = ALL_MB, i, rc;
    nn_arena a;
    nn_model m;
    FILE *f;
    float *X = falloc((size_t)ALL_MB * ALL_IN), *y;
    char cmd[2048];
    const char *cc = getenv("NN_TEST_CC") ? getenv("NN_TEST_CC") : "cc";
    unsigned char *out;
    size_t olen;
    if (!model_new(&m, &a, l, n, ALL_IN, ALL_MB, 41, 0)) return;
    y = falloc((size_t)B * m.outputs);
    fill_randn(X, (size_t)ALL_MB * ALL_IN, 42);
    for (i = 0; i < 3; i++) nn_model_forward(&m, nn_tensor_2d(X, ALL_MB, ALL_IN));
    eval_out(&m, X, B, y);
    mkdir("build", 0755);
    f = fopen("build/exported_model.h", "w");
    if (!CHECK(f != NULL)) return;
    CHECK_EQ_INT(nn_model_export_c(&m, "exported_model", f), NN_OK);
    fclose(f);
    f = fopen("build/exported_main.c", "w");
    if (!CHECK(f != NULL)) return;
    fprintf(f, "/* written by tests/test_serialize.c: runs the exported model */\n"
               "#define NN_IMPLEMENTATION\n#include \"nn.h\"\n#include \"exported_model.h\"\n#include <stdio.h>\n"
               "static float xs[%d] = {\n",
            ALL_MB * ALL_IN);
    for (i = 0; i < ALL_MB * ALL_IN; i++) fprintf(f, "%.9g,%s", (double)X[i], i % 8 == 7 ? "\n" : " ");
    /* the arena from the export's own constant: exactly the model's bytes, any alignment */
    fprintf(f, "};\nstatic unsigned char mem[NN_ARENA_BUFFER_BYTES(EXPORTED_MODEL_ARENA_BYTES)];\n"
               "int main(void) {\n    nn_arena a;\n    nn_model m;\n    nn_tensor y;\n    int i;\n"
               "    if (nn_arena_init(&a, mem, sizeof mem) != NN_OK) return 1;\n"
               "    if (exported_model_init(&m, &a) != NN_OK) return 2;\n"
               "    y = nn_model_forward(&m, nn_tensor_2d(xs, %d, %d));\n"
               "    for (i = 0; i < %d; i++) printf(\"%%.9g\\n\", (double)y.data[i]);\n    return 0;\n}\n",
            B, ALL_IN, B * m.outputs);
    fclose(f);
    /* the same kernels as this build: NN_NO_SIMD changes the last bits of a GEMM */
    snprintf(cmd, sizeof cmd,
             "%s -std=c99 -O2 -Wall -Wextra -Wpedantic -Werror %s -I. -Ibuild build/exported_main.c -o build/exported_main -lm "
             "&& build/exported_main > build/exported_out.txt",
             cc, nn_simd_level() ? "" : "-DNN_NO_SIMD");
    rc = system(cmd);
    if (CHECKF(rc == 0, "'%s' failed (%d)", cmd, rc)) {
        out = read_all("build/exported_out.txt", &olen);
        if (CHECK(out != NULL)) {
            char *s = (char *)xmalloc(olen + 1), *p, *end;
            int bad = 0, count = 0;
            memcpy(s, out, olen);
            s[olen] = 0;
            p = s;
            for (i = 0; i < B * m.outputs; i++) {
                float v = strtof(p, &end);
                if (end == p) break;
                count++;
                bad += memcmp(&v, &y[i], 4) != 0;
                p = end;
            }
            CHECKF(count == B * m.outputs && bad == 0, "exported model: %d of %d outputs differ (%d read)", bad,
                   B * m.outputs, count);
            free(s);
            free(out);
        }
    }
    free(X);
    free(y);
    nn_arena_deinit(&a);
}
#endif /* NN_TEST_EXTERNAL */
#endif

/* ------------------------------------------------------------------ checkpoints */

static void test_checkpoint(void) {
    nn_layer_desc l[1];
    nn_arena a, b;
    nn_model m, chk;
    nn_checkpoint c;
    char best[600], last[600];
    float *best_params;
    int mode, i, improved;
    l[0] = LD(NN_LAYER_DENSE, 3, NN_ACT_IDENTITY);
    if (!model_new(&m, &a, l, 1, 2, 1, 1, 0) || !model_new(&chk, &b, l, 1, 2, 1, 2, 0)) return;
    best_params = falloc(m.n_params);
    tpath(best, sizeof best, "ckpt_best.nnw");
    tpath(last, sizeof last, "ckpt_last.nnw");
    for (mode = 0; mode < 2; mode++) {
        /* min mode: 3, 2, 2.5, 1, 1 -> improves at 0, 1, 3. max mode: mirrored. */
        const float metrics[5] = {3.0f, 2.0f, 2.5f, 1.0f, 1.0f};
        const int want[5] = {1, 1, 0, 1, 0};
        memset(&c, 0, sizeof c);
        c.path_best = best;
        c.path_last = last;
        c.mode_max = mode;
        remove(best);
        remove(last);
        for (i = 0; i < 5; i++) {
            float metric = mode ? -metrics[i] : metrics[i];
            size_t k;
            for (k = 0; k < m.n_params; k++) m.params[k] = (float)(i * 100 + (int)k); /* "training" */
            improved = -1;
            CHECK_EQ_INT(nn_checkpoint_update(&c, &m, NULL, metric, &improved), NN_OK);
            CHECKF(improved == want[i], "mode %d epoch %d: improved = %d", mode, i, improved);
            if (improved) memcpy(best_params, m.params, sizeof(float) * m.n_params);
            CHECK_EQ_INT(nn_model_load(&chk, NULL, last), NN_OK);
            CHECKF(same_floats(chk.params, m.params, m.n_params), "mode %d epoch %d: last is not this epoch", mode, i);
            CHECK_EQ_INT(nn_model_load(&chk, NULL, best), NN_OK);
            CHECKF(same_floats(chk.params, best_params, m.n_params), "mode %d epoch %d: best is not the best epoch", mode, i);
        }
        CHECK(c.has_best && c.best == (mode ? -1.0f : 1.0f));
    }
    /* only a best path */
    memset(&c, 0, sizeof c);
    c.path_best = best;
    remove(best);
    CHECK_EQ_INT(nn_checkpoint_update(&c, &m, NULL, 5.0f, NULL), NN_OK);
    CHECK(file_exists(best));
    /* with train state: the checkpoint resumes */
    {
        rig g, h;
        if (rig_new(&g, 1, 2, 2) && rig_new(&h, 5, 6, 0)) {
            memset(&c, 0, sizeof c);
            c.path_last = last;
            CHECK_EQ_INT(nn_checkpoint_update(&c, &g.m, &g.st, 1.0f, &improved), NN_OK);
            CHECK_EQ_INT(nn_model_load(&h.m, &h.st, last), NN_OK);
            CHECK(same_model_values(&g.m, &h.m) && h.o.step == g.o.step && same_floats(g.o.s1, h.o.s1, g.o.n));
            rig_free(&g);
            rig_free(&h);
        }
    }
    remove(best);
    remove(last);
    free(best_params);
    nn_arena_deinit(&a);
    nn_arena_deinit(&b);
}

/* A NaN metric is never an improvement: not on the first call either (else best = NaN
   and no later epoch compares better, so path_best is never written again). */
static void test_checkpoint_nan_metric(void) {
    nn_layer_desc l[1];
    nn_arena a;
    nn_model m;
    nn_checkpoint c;
    char best[600];
    int improved = -1;
    float nan_v = (float)NAN;
    l[0] = LD(NN_LAYER_DENSE, 3, NN_ACT_IDENTITY);
    if (!model_new(&m, &a, l, 1, 2, 1, 1, 0)) return;
    tpath(best, sizeof best, "ckpt_nan.nnw");
    memset(&c, 0, sizeof c);
    c.path_best = best;
    CHECK_EQ_INT(nn_checkpoint_update(&c, &m, NULL, nan_v, &improved), NN_OK);
    CHECKF(improved == 0, "a NaN first metric counted as an improvement");
    CHECK_EQ_INT(nn_checkpoint_update(&c, &m, NULL, 1.0f, &improved), NN_OK);
    CHECKF(improved == 1, "after a NaN first metric, 1.0 did not improve (best = %g)", (double)c.best);
    remove(best);
    nn_arena_deinit(&a);
}

/* ------------------------------------------------------------------ PyTorch */

/* tests/fixtures/torch_model.nnw (an MLP) and torch_cnn.nnw (a CNN, format 1.4 with GEOM)
   were written by tools/nn_torch.py from models trained in PyTorch
   (tests/gen_torch_model.py); their EVAL logits are in torch_model_logits.txt and
   torch_cnn_logits.txt. */
static void torch_model_case(const char *nnw, const char *logits, const char *what) {
    fx_file fx;
    nn_arena a;
    nn_model m;
    const fx_tensor *x, *want;
    float *y;
    double worst = 0.0;
    int B;
    if (!CHECKF(fx_load(&fx, logits) == 0, "cannot load %s", logits)) return;
    x = fx_get(&fx, "x");
    want = fx_get(&fx, "logits");
    CHECK_EQ_INT(nn_arena_init_heap(&a, 1 << 20), NN_OK);
    if (CHECK(x && want) && CHECK_EQ_INT(nn_model_init_from_file(&m, &a, nnw), NN_OK)) {
        B = x->shape[0];
        if (CHECK(x->rank == 2 && x->shape[1] == m.inputs && B <= m.max_batch && want->size == B * m.outputs)) {
            y = falloc((size_t)want->size);
            eval_out(&m, x->data, B, y);
            CHECKF(fx_close(y, want->data, want->size, 1e-5, 1e-5, &worst), "logits differ from PyTorch's");
            TEST_NOTE("%s: %d layers, %lu parameters, batch %d, worst relative error %.3g", what, m.n_layers,
                      (unsigned long)m.n_params, B, worst);
            free(y);
        }
    }
    fx_free(&fx);
    nn_arena_deinit(&a);
}
static void test_torch_model(void) {
    torch_model_case(FIXTURE_DIR "torch_model.nnw", FIXTURE_DIR "torch_model_logits.txt", "torch model");
}
static void test_torch_cnn(void) {
    torch_model_case(FIXTURE_DIR "torch_cnn.nnw", FIXTURE_DIR "torch_cnn_logits.txt", "torch cnn");
}

#if T_POSIX
#ifdef NN_TEST_EXTERNAL
/* tools/nn_torch.py reads and writes format 1.1: a file with literal zeros (LeakyReLU
   slope 0, batch norm momentum 0, dropout p 0) goes to PyTorch and back, and comes back
   with its ZLIT section and the very records nn.h's constructors make, so it loads into
   the model it came from. Needs python3 with torch and numpy (NN_TEST_PYTHON, default
   /usr/bin/python3, Debian's python3-torch); without them the test says so and passes.
   Costs one torch import (2-3 s). */
static void test_torch_tool_v11(void) {
    nn_layer_desc l[8], got[8];
    nn_arena a, b;
    nn_model m, m2;
    nn_model_desc d;
    char in[600], mid[600], out[600], script[600], cmd[4096];
    const char *py = getenv("NN_TEST_PYTHON");
    unsigned char *buf;
    size_t len;
    int rc, i, n = 0;
    FILE *f;
    if (!py || !*py) py = access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3";
    if (access("tools/nn_torch.py", R_OK) != 0) {
        TEST_NOTE("skipped: tools/nn_torch.py is not here (run from the repository root)");
        CHECK(1);
        return;
    }
    l[n++] = nn_dense(4, NN_ACT_IDENTITY);
    l[n] = nn_activation(NN_ACT_LEAKY_RELU); l[n++].alpha = 0.0f;
    l[n] = nn_batchnorm(); l[n++].momentum = 0.0f;
    l[n++] = nn_dropout(0.0f);
    l[n] = nn_dense(3, NN_ACT_IDENTITY); l[n++].no_bias = 1;
    l[n] = nn_activation(NN_ACT_ELU); l[n++].alpha = 0.5f;
    l[n++] = nn_layernorm();
    l[n++] = nn_activation(NN_ACT_SOFTMAX);
    if (!model_new(&m, &a, l, n, 5, 8, 0, 0) || !model_new(&m2, &b, l, n, 5, 8, 1, 0)) return;
    for (i = 0; i < (int)m.n_params; i++) m.params[i] = 0.01f * (float)(i % 13) - 0.05f;
    for (i = 0; i < (int)m.n_buffers; i++) m.buffers[i] = 0.5f + 0.25f * (float)i;
    tpath(in, sizeof in, "tool_in.nnw");
    tpath(mid, sizeof mid, "tool_mid.pt");
    tpath(out, sizeof out, "tool_out.nnw");
    tpath(script, sizeof script, "tool_run.py");
    CHECK_EQ_INT(nn_model_save(&m, NULL, in), NN_OK);
    /* the tool's command line, twice in one interpreter (torch loads once: 2-3 s) */
    f = fopen(script, "w");
    if (!CHECK(f != NULL)) return;
    fprintf(f, "import sys\ntry:\n    import numpy, torch\nexcept ImportError:\n    sys.exit(77)\n"
               "sys.path.insert(0, 'tools')\nimport nn_torch as t\n"
               "sys.exit(t.main(['to-torch', '%s', '%s']) or t.main(['to-nn', '%s', '%s', '--max-batch', '8', "
               "'--seed', '0']))\n",
            in, mid, mid, out);
    fclose(f);
    snprintf(cmd, sizeof cmd, "'%s' '%s' > /dev/null", py, script);
    rc = system(cmd);
    if (rc != -1 && WIFEXITED(rc) && (WEXITSTATUS(rc) == 77 || WEXITSTATUS(rc) == 127)) {
        TEST_NOTE("skipped: %s %s (Debian: python3-torch)", py,
                  WEXITSTATUS(rc) == 77 ? "has no torch or numpy" : "is not there");
        CHECK(1);
    } else if (CHECKF(rc == 0, "'%s' exited with %d", cmd, rc) && CHECK((buf = read_all(out, &len)) != NULL)) {
        CHECK(len > F_HEADER && rd32(buf + 12) == NN_FORMAT_VERSION_MINOR && sec_find(buf, len, T_ZLIT) == F_HEADER);
        memset(&d, 0, sizeof d);
        CHECK_EQ_INT(nn_model_desc_from_memory(&d, got, 8, buf, len), NN_OK);
        CHECK(d.n_layers == n && d.inputs == 5 && d.max_batch == 8);
        for (i = 0; i < n && i < d.n_layers; i++)
            CHECKF(memcmp(&got[i], &l[i], sizeof l[i]) == 0,
                   "layer %d from the tool: kind %d act %d alpha %g init_gain %g p %g eps %g momentum %g k %d", i,
                   (int)got[i].kind, (int)got[i].act, (double)got[i].alpha, (double)got[i].init_gain,
                   (double)got[i].p, (double)got[i].eps, (double)got[i].momentum, got[i].k);
        CHECK_EQ_INT(nn_model_load_from_memory(&m2, NULL, buf, len), NN_OK);
        CHECK(same_floats(m.params, m2.params, m.n_params) && same_floats(m.buffers, m2.buffers, m.n_buffers));
        free(buf);
    }
    remove(in);
    remove(mid);
    remove(out);
    remove(script);
    nn_arena_deinit(&a);
    nn_arena_deinit(&b);
}
#endif /* NN_TEST_EXTERNAL */
#endif

/* ------------------------------------------------------------------ sizes */

static void test_sizes_mlp(void) {
    nn_layer_desc l[3];
    nn_model_desc md;
    nn_arena a;
    nn_model m;
    nn_optim o;
    nn_optim_desc od = adam_desc();
    nn_train_state st;
    size_t plain, with_adam, expect;
    l[0] = LD(NN_LAYER_DENSE, 256, NN_ACT_RELU);
    l[1] = LD(NN_LAYER_DENSE, 128, NN_ACT_RELU);
    l[2] = LD(NN_LAYER_DENSE, 10, NN_ACT_IDENTITY);
    md = MD(l, 3, 784, 1, 1);
    if (!model_new(&m, &a, l, 3, 784, 1, 1, nn_optim_arena_bytes(&od, nn_model_param_count(&md)))) return;
    CHECK_EQ_INT(nn_optim_init(&o, &a, &od, m.n_params), NN_OK);
    memset(&st, 0, sizeof st);
    st.optim = &o;
    plain = nn_model_save_size(&m, NULL);
    with_adam = nn_model_save_size(&m, &st);
    /* header + ARCH + PARM (6 runs) + BUFS (0 runs) + RNGS (1 generator) */
    expect = 24 + (20 + 20 + 3 * 56) + (20 + 4 + 6 * 12 + 3 * (8 + 6) + 4 * m.n_params) + (20 + 4) + (20 + 36);
    CHECKF(plain == expect, "784-256-128-10 file: %lu bytes, FORMAT.md says %lu", (unsigned long)plain, (unsigned long)expect);
    CHECK(with_adam == plain + 20 + F_OPTM_FIXED + 2 * 4 * m.n_params);
    TEST_NOTE("784-256-128-10 MLP (%lu parameters): %lu bytes, %lu with Adam state", (unsigned long)m.n_params,
              (unsigned long)plain, (unsigned long)with_adam);
    nn_arena_deinit(&a);
}

/* ------------------------------------------------------------------ main */

static const test_case tests[] = {
    TEST(test_roundtrip_memory_all_layers),
    TEST(test_roundtrip_each_kind),
    TEST(test_roundtrip_no_params),
    TEST(test_roundtrip_files),
#if T_POSIX
    TEST(test_roundtrip_new_process),
#endif
    TEST(test_exact_resume),
    TEST(test_partial_train_state),
    TEST(test_truncation_every_offset),
    TEST(test_bitflip_every_bit),
    TEST(test_error_magic_and_header),
    TEST(test_error_sections),
    TEST(test_error_absurd_sizes),
    TEST(test_error_shape_mismatch),
    TEST(test_error_io_paths),
    TEST(test_error_io_directory),
    TEST(test_result_strings_distinct),
    TEST(test_save_to_memory_limits),
    TEST(test_optim_layout_mismatch),
    TEST(test_hostile_train_state),
    TEST(test_hostile_description_nan),
    TEST(test_format_layout),
    TEST(test_zlit_literal_zeros),
    TEST(test_v10_file_zeros_are_defaults),
    TEST(test_schx_one_cycle),
#ifdef T_MKDIR
    TEST(test_atomic_save_failure_keeps_old_file),
#endif
    TEST(test_golden_v1),
#if T_POSIX
#ifdef NN_TEST_EXTERNAL /* runs a compiler or Python: one configuration is enough */
    TEST(test_export_c),
#endif
#endif
    TEST(test_checkpoint),
    TEST(test_checkpoint_nan_metric),
    TEST(test_torch_model),
    TEST(test_torch_cnn),
#if T_POSIX
#ifdef NN_TEST_EXTERNAL /* runs a compiler or Python: one configuration is enough */
    TEST(test_torch_tool_v11),
#endif
#endif
    TEST(test_sizes_mlp),
};

int main(int argc, char **argv) {
    int rc;
    t_argv0 = argv[0];
    if (argc == 3 && strcmp(argv[1], "--load-print") == 0) return mode_load_print(argv[2]);
    if (argc == 3 && strcmp(argv[1], "--write-golden") == 0) return mode_write_golden(argv[2]);
#if T_POSIX
    {
        const char *base = getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
        snprintf(t_dir, sizeof t_dir, "%s/nn_serialize_XXXXXX", base);
        if (!mkdtemp(t_dir)) {
            fprintf(stderr, "test: cannot make a temporary directory under %s\n", base);
            return 2;
        }
    }
#endif
    rc = TEST_MAIN(argc, argv, tests);
#if T_POSIX
    rmdir(t_dir); /* every test removes its own files; a failed one may leave some behind */
#endif
    return rc;
}
