/* fuzz_load.c - libFuzzer target for nn.h's loaders of untrusted bytes.

   Each input goes to:
     nn_model_load_from_memory   into four fixed small models, each with an optimizer,
                                 a schedule and a data RNG in the train state; on failure
                                 the target's whole arena and structs must be unchanged
                                 (STYLE.md rule 15), on success one training step runs on
                                 what was loaded (unless FUZZ_NO_STEP) and the target is
                                 restored for the next input;
     nn_model_init_from_memory   into a 256 KiB arena; on failure the arena must be
                                 rewound, on success the model runs a forward pass;
     nn_model_desc_from_memory, nn_idx_parse, nn_gzip_decode (with a stub inflate that
                                 copies its input);
     nn_qmodel_init_from_memory  (int8 models, QNT8) into the same arena; on failure the
                                 arena and the nn_qmodel must be unchanged, on success it
                                 runs a forward pass.
   Random bytes almost never carry valid CRC-32C checksums, so every input that starts
   with the magic is also run a second time with its header and section checksums
   recomputed: the mutations then reach the section parsers instead of the checksum test.

   Build and run (Debian's clang needs libclang-rt-14-dev for -fsanitize=fuzzer):
       clang -g -O1 -fsanitize=fuzzer,address,undefined tests/fuzz_load.c -o build/fuzz_load -lm
       cp -r tests/corpus build/corpus_work   # a scratch copy: the committed corpus stays small
       build/fuzz_load -max_total_time=600 build/corpus_work tests/corpus
   Without libFuzzer (any compiler), -DFUZZ_STANDALONE gives a main that runs files
   through the same target (reproducers, corpus regression) and writes the seed corpus:
       cc -DFUZZ_STANDALONE -g -fsanitize=address,undefined tests/fuzz_load.c -o build/fuzz_standalone -lm
       build/fuzz_standalone tests/corpus/[a-z]*    # replay every seed
       build/fuzz_standalone --write-corpus tests/corpus
   -DFUZZ_NO_STEP leaves out the training step after a successful load (loaders only).
   -DFUZZ_SKIP_KNOWN also skips the forward pass of a model built from a file whose
   description holds a NaN (an old nn.h bug: NaN passed nn__model_validate, then NN_ASSERT
   fired in nn_dropout_forward; the range checks now refuse it, see
   tests/fuzz_crashes/nan_dropout_p.nnw), so a long run can look past known bugs.
   Target 3 holds format 1.1's literal zeros (dropout p 0, batchnorm momentum 0, LeakyReLU
   slope 0) and a linear ONE_CYCLE schedule: its files carry the ZLIT and SCHX sections.
   Target 2 holds format 1.3's vanilla dropout and optimizer flags (LAYX and OPTX). */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef NN_TEST_LINKED /* make test links the sanitizer build of the implementation */
#define NN_IMPLEMENTATION
#endif
#include "../nn.h"

#define FZ_CHECK(c)                                                                  \
    do {                                                                             \
        if (!(c)) {                                                                  \
            fprintf(stderr, "fuzz_load.c:%d: check failed: %s\n", __LINE__, #c);     \
            abort();                                                                 \
        }                                                                            \
    } while (0)

static uint32_t fz_rd32(const unsigned char *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static uint64_t fz_rd64(const unsigned char *p) { return (uint64_t)fz_rd32(p) | ((uint64_t)fz_rd32(p + 4) << 32); }
static void fz_wr32(unsigned char *p, uint32_t v) {
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}

/* ---- the fixed targets ---- */
#define FZ_TARGETS 5
typedef struct fz_target {
    nn_arena arena;
    nn_model m;
    nn_optim o;
    nn_sched s;
    nn_rng rng;
    nn_train_state st;
    /* snapshot: the arena's bytes and the structs */
    unsigned char *snap;
    nn_model sm;
    nn_optim so;
    nn_sched ss;
    nn_rng sr;
    float *x, *t; /* a batch for the training step */
} fz_target;
static fz_target fz_t[FZ_TARGETS];
static int fz_ready = 0;

/* A layer of the given kind with nn.h's (PyTorch's) defaults. */
static nn_layer_desc fz_ld(nn_layer_kind kind, int units, nn_act act) {
    switch (kind) {
    case NN_LAYER_DENSE: return nn_dense(units, act);
    case NN_LAYER_MAXOUT: return nn_maxout(units, 2, act);
    case NN_LAYER_ACT: return nn_activation(act);
    default: return nn_layer_desc_default(kind);
    }
}

/* The descriptions of target i (also used for the seed corpus). */
static int fz_layers(int i, nn_layer_desc *l, int *inputs, int *max_batch) {
    switch (i) {
    case 0:
        *inputs = 4; *max_batch = 3;
        l[0] = fz_ld(NN_LAYER_DENSE, 6, NN_ACT_RELU);
        l[1] = fz_ld(NN_LAYER_BATCHNORM, 0, NN_ACT_IDENTITY);
        l[2] = fz_ld(NN_LAYER_DROPOUT, 0, NN_ACT_IDENTITY);
        l[2].p = 0.2f;
        l[3] = fz_ld(NN_LAYER_DENSE, 2, NN_ACT_IDENTITY);
        return 4;
    case 1:
        *inputs = 5; *max_batch = 2;
        l[0] = fz_ld(NN_LAYER_MAXOUT, 3, NN_ACT_IDENTITY);
        l[1] = fz_ld(NN_LAYER_LAYERNORM, 0, NN_ACT_IDENTITY);
        l[2] = fz_ld(NN_LAYER_DENSE, 4, NN_ACT_IDENTITY);
        l[2].no_bias = 1;
        l[2].weight_std = 1;
        l[3] = fz_ld(NN_LAYER_ACT, 0, NN_ACT_SOFTMAX);
        return 4;
    case 2:
        /* format 1.3's LAYX section: vanilla dropout */
        *inputs = 3; *max_batch = 2;
        l[0] = fz_ld(NN_LAYER_DENSE, 4, NN_ACT_TANH);
        l[1] = nn_dropout(0.25f);
        l[1].vanilla = 1;
        l[2] = fz_ld(NN_LAYER_FLATTEN, 0, NN_ACT_IDENTITY);
        l[3] = fz_ld(NN_LAYER_DENSE, 1, NN_ACT_ELU);
        return 4;
    case 4:
        /* format 1.4's GEOM section: an image model with every image kind */
        *inputs = 2 * 5 * 4; *max_batch = 2;
        l[0] = nn_conv2d(4, 3, 1, 1, NN_ACT_RELU);
        l[0].groups = 2;
        l[1] = nn_batchnorm2d();
        l[2] = nn_maxpool2d(2, 2, 0);
        l[3] = nn_avgpool2d(2, 1, 1);
        l[3].count_include_pad = 0;
        l[4] = nn_dropout2d(0.2f);
        l[5] = nn_global_avgpool();
        l[6] = fz_ld(NN_LAYER_DENSE, 2, NN_ACT_IDENTITY);
        return 7;
    default:
        /* literal zeros a 1.0 reader would have replaced: its files carry ZLIT */
        *inputs = 3; *max_batch = 3;
        l[0] = fz_ld(NN_LAYER_DENSE, 5, NN_ACT_LEAKY_RELU);
        l[0].alpha = 0.0f;
        l[0].init_gain = nn_init_gain(NN_ACT_LEAKY_RELU, 0.0f);
        l[1] = nn_dropout(0.0f);
        l[2] = nn_batchnorm();
        l[2].momentum = 0.0f;
        l[3] = fz_ld(NN_LAYER_DENSE, 2, NN_ACT_IDENTITY);
        return 4;
    }
}

/* The image shape of target i's input, all 0 for flat ones. */
static void fz_input_shape(int i, int *shape) {
    shape[0] = i == 4 ? 2 : 0;
    shape[1] = i == 4 ? 5 : 0;
    shape[2] = i == 4 ? 4 : 0;
}

static void fz_optim_sched(int i, nn_optim_desc *od, nn_sched_desc *sd) {
    switch (i) {
    case 0:
        *od = nn_optim_desc_default(NN_OPTIM_ADAM);
        od->amsgrad = 1;
        *sd = nn_sched_desc_default(NN_SCHED_COSINE, 0.01);
        sd->t_max = 10;
        sd->warmup_steps = 2;
        break;
    case 1:
        *od = nn_optim_desc_default(NN_OPTIM_SGD);
        od->momentum = 0.9f;
        od->lookahead_k = 3;
        *sd = nn_sched_desc_default(NN_SCHED_MULTISTEP, 0.1);
        sd->n_milestones = 2;
        sd->milestones[0] = 2;
        sd->milestones[1] = 4;
        break;
    case 2:
        /* format 1.3's OPTX section: the course's RMSprop and proximal L1 */
        *od = nn_optim_desc_default(NN_OPTIM_RMSPROP);
        od->centered = 1;
        od->momentum = 0.5f;
        od->eps_inside_sqrt = 1;
        od->l1 = 0.01f;
        od->l1_proximal = 1;
        *sd = nn_sched_desc_default(NN_SCHED_STEP, 0.05);
        sd->step_size = 3;
        break;
    default:
        /* format 1.1's SCHX section: written for anneal_linear */
        *od = nn_optim_desc_default(NN_OPTIM_ADAMW);
        od->weight_decay = 0.0f;
        *sd = nn_sched_desc_default(NN_SCHED_ONE_CYCLE, 0.0);
        sd->max_lr = 0.01;
        sd->total_steps = 100;
        sd->anneal_linear = 1;
        break;
    }
}

static void fz_step(fz_target *g) {
    nn_tensor y, dy;
    float loss;
    int B = g->m.max_batch;
    nn_model_set_mode(&g->m, NN_MODE_TRAIN);
    y = nn_model_forward(&g->m, nn_tensor_2d(g->x, B, g->m.inputs));
    dy = nn_model_output_grad(&g->m);
    loss = nn_loss_mse(dy, y, nn_tensor_2d(g->t, B, g->m.outputs));
    nn_model_zero_grad(&g->m);
    FZ_CHECK(y.data != NULL && nn_model_backward(&g->m, dy) == NN_OK);
    g->o.d.lr = nn_sched_lr(&g->s);
    {
        /* a loaded step count at its limit is refused, never overflowed */
        long before = g->o.step;
        nn_result r = nn_optim_step_params(&g->o, g->m.param_list, g->m.n_param_list);
        FZ_CHECK(r == NN_OK || (r == NN_ERR_TOO_LARGE && before == LONG_MAX / 2 && g->o.step == before));
    }
    nn_sched_step(&g->s, loss);
}

static void fz_build(int i, fz_target *g, int train_steps) {
    nn_layer_desc l[8];
    nn_model_desc md;
    nn_optim_desc od;
    nn_sched_desc sd;
    int inputs, mb, k;
    memset(g, 0, sizeof *g);
    memset(&md, 0, sizeof md);
    md.n_layers = fz_layers(i, l, &inputs, &mb);
    md.layers = l;
    md.inputs = inputs;
    md.max_batch = mb;
    md.seed = 100 + (uint64_t)i;
    fz_input_shape(i, md.input_shape);
    fz_optim_sched(i, &od, &sd);
    FZ_CHECK(nn_arena_init_heap(&g->arena, nn_model_arena_bytes(&md) + nn_optim_arena_bytes(&od, nn_model_param_count(&md))) ==
             NN_OK);
    FZ_CHECK(nn_model_init(&g->m, &g->arena, &md) == NN_OK);
    FZ_CHECK(nn_optim_init(&g->o, &g->arena, &od, g->m.n_params) == NN_OK);
    FZ_CHECK(nn_sched_init(&g->s, &sd) == NN_OK);
    nn_rng_seed(&g->rng, 7 + (uint64_t)i);
    g->st.optim = &g->o;
    g->st.sched = &g->s;
    g->st.rng = &g->rng;
    g->x = (float *)malloc(sizeof(float) * (size_t)mb * (size_t)inputs);
    g->t = (float *)malloc(sizeof(float) * (size_t)mb * (size_t)g->m.outputs);
    FZ_CHECK(g->x && g->t);
    for (k = 0; k < mb * inputs; k++) g->x[k] = (float)((k * 7) % 5) - 2.0f;
    for (k = 0; k < mb * g->m.outputs; k++) g->t[k] = (float)(k % 3) * 0.5f;
    for (k = 0; k < train_steps; k++) fz_step(g);
    g->snap = (unsigned char *)malloc(g->arena.used ? g->arena.used : 1);
    FZ_CHECK(g->snap != NULL);
}

static void fz_snap(fz_target *g) {
    memcpy(g->snap, g->arena.base, g->arena.used);
    g->sm = g->m;
    g->so = g->o;
    g->ss = g->s;
    g->sr = g->rng;
}
/* Everything as snapshotted but the error messages, the one thing a failed call may
   write (nn.h: "It is the one field a failed call changes"). */
static int fz_unchanged(const fz_target *g) {
    nn_model m = g->m;
    nn_optim o = g->o;
    nn_sched s = g->s;
    memcpy(m.error, g->sm.error, sizeof m.error);
    memcpy(o.error, g->so.error, sizeof o.error);
    memcpy(s.error, g->ss.error, sizeof s.error);
    return memcmp(g->snap, g->arena.base, g->arena.used) == 0 && memcmp(&g->sm, &m, sizeof m) == 0 &&
           memcmp(&g->so, &o, sizeof o) == 0 && memcmp(&g->ss, &s, sizeof s) == 0 &&
           memcmp(&g->sr, &g->rng, sizeof g->rng) == 0;
}
static void fz_restore(fz_target *g) {
    memcpy(g->arena.base, g->snap, g->arena.used);
    g->m = g->sm;
    g->o = g->so;
    g->s = g->ss;
    g->rng = g->sr;
}

static void fz_init(void) {
    int i;
    if (fz_ready) return;
    for (i = 0; i < FZ_TARGETS; i++) {
        fz_build(i, &fz_t[i], 2);
        fz_snap(&fz_t[i]);
    }
    fz_ready = 1;
}

/* ---- the loaders ---- */
static unsigned char fz_mem[1 << 18];

static nn_result fz_stub_inflate(void *dst, size_t dst_len, const void *src, size_t src_len) {
    size_t n = dst_len < src_len ? dst_len : src_len;
    if (src_len == 0) return NN_ERR_CORRUPT;
    memcpy(dst, src, n);
    if (n < dst_len) memset((unsigned char *)dst + n, 0, dst_len - n);
    return NN_OK;
}

#ifdef FUZZ_SKIP_KNOWN
static int fz_known_bug(const nn_model *m) {
    int i;
    for (i = 0; i < m->n_descs; i++) {
        const nn_layer_desc *l = &m->descs[i];
        if (l->p != l->p || l->eps != l->eps || l->momentum != l->momentum) return 1;
    }
    return 0;
}
#endif

static void fz_models(const unsigned char *data, size_t size) {
    int i;
    for (i = 0; i < FZ_TARGETS; i++) {
        fz_target *g = &fz_t[i];
        nn_result r = nn_model_load_from_memory(&g->m, &g->st, data, size);
        if (r != NN_OK) {
            FZ_CHECK(r < 0 && r >= NN_ERR_UNSUPPORTED);
            FZ_CHECK(fz_unchanged(g)); /* a failed load changes nothing */
            continue;
        }
#ifndef FUZZ_NO_STEP
        fz_step(g); /* what was accepted must be usable */
#endif
        fz_restore(g);
    }
    {
        nn_arena a;
        nn_model m;
        nn_result r;
        FZ_CHECK(nn_arena_init(&a, fz_mem, sizeof fz_mem) == NN_OK);
        r = nn_model_init_from_memory(&m, &a, data, size);
        if (r != NN_OK) {
            FZ_CHECK(a.used == 0);
        } else {
            static float x[4096];
            int B = m.max_batch < 2 ? m.max_batch : 2;
            FZ_CHECK(a.used == m.arena_bytes);
#ifdef FUZZ_SKIP_KNOWN
            if (fz_known_bug(&m)) B = 0;
#endif
            if (B > 0 && (size_t)B * (size_t)m.inputs <= sizeof x / sizeof x[0]) {
                nn_model_set_mode(&m, NN_MODE_EVAL);
                nn_model_forward(&m, nn_tensor_2d(x, B, m.inputs));
                if (B > 1) {
                    nn_model_set_mode(&m, NN_MODE_TRAIN);
                    nn_model_forward(&m, nn_tensor_2d(x, B, m.inputs));
                }
            }
        }
    }
    {
        static nn_layer_desc layers[512];
        nn_model_desc d;
        (void)nn_model_desc_from_memory(&d, layers, 512, data, size);
    }
    {   /* the int8 loader: a failure leaves q and the arena as they were, a success runs */
        static nn_qmodel q, before;
        nn_arena a;
        nn_result r;
        size_t need = 0;
        FZ_CHECK(nn_arena_init(&a, fz_mem, sizeof fz_mem) == NN_OK);
        memset(&q, 0x5A, sizeof q);
        before = q;
        r = nn_qmodel_init_from_memory(&q, &a, data, size, 0);
        if (r != NN_OK) {
            FZ_CHECK(r < 0 && r >= NN_ERR_UNSUPPORTED);
            FZ_CHECK(a.used == 0);
            FZ_CHECK(memcmp(q.layers, before.layers, sizeof q.layers) == 0 && q.n_layers == before.n_layers);
        } else {
            static float x[4096];
            int B = q.max_batch < 2 ? q.max_batch : 2;
            FZ_CHECK(nn_qmodel_arena_bytes_from_memory(&need, data, size, 0) == NN_OK && need == a.used);
            if ((size_t)B * (size_t)q.inputs <= sizeof x / sizeof x[0])
                FZ_CHECK(nn_qmodel_forward(&q, nn_tensor_2d(x, B, q.inputs)).data != NULL);
        }
    }
}

/* Recompute the header and section CRCs where the framing allows; 1 if it looked like
   a model file at all. */
static int fz_repair(unsigned char *p, size_t len) {
    static const unsigned char magic[8] = {0x89, 'N', 'N', 'H', 0x0D, 0x0A, 0x1A, 0x0A};
    size_t pos = 24;
    uint32_t n, i;
    if (len < 24 || memcmp(p, magic, 8) != 0) return 0;
    fz_wr32(p + 20, nn_crc32c(0, p, 20));
    n = fz_rd32(p + 16);
    for (i = 0; i < n && i < 64; i++) {
        uint64_t slen;
        if (len - pos < 16) break;
        slen = fz_rd64(p + pos + 8);
        if (slen > (uint64_t)(len - pos - 16) || len - pos - 16 - (size_t)slen < 4) break;
        fz_wr32(p + pos + 16 + (size_t)slen, nn_crc32c(0, p + pos, 16 + (size_t)slen));
        pos += 16 + (size_t)slen + 4;
    }
    return 1;
}

#ifdef __cplusplus
extern "C"
#endif
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#ifdef __cplusplus
extern "C"
#endif
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fz_init();
    fz_models(data, size);
    if (size >= 24) {
        unsigned char *p = (unsigned char *)malloc(size);
        FZ_CHECK(p != NULL);
        memcpy(p, data, size);
        if (fz_repair(p, size) && memcmp(p, data, size) != 0) fz_models(p, size);
        free(p);
    }
    {
        nn_idx idx;
        if (nn_idx_parse(&idx, data, size) == NN_OK) {
            FZ_CHECK(idx.data >= data && idx.data + idx.count == data + size);
            FZ_CHECK(idx.rank >= 1 && idx.rank <= 4);
        }
    }
    {
        void *out = NULL;
        size_t out_len = 0;
        if (nn_gzip_decode(&out, &out_len, data, size, (size_t)1 << 20, fz_stub_inflate) == NN_OK) {
            FZ_CHECK(out != NULL && out_len <= ((size_t)1 << 20));
            nn_free(out);
        } else {
            FZ_CHECK(out == NULL && out_len == 0);
        }
    }
    return 0;
}

#ifdef FUZZ_STANDALONE
/* ---- without libFuzzer: replay files, or write the seed corpus ---- */
static int fz_write(const char *dir, const char *name, const void *p, size_t n) {
    char path[1024];
    FILE *f;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    f = fopen(path, "wb");
    if (!f || fwrite(p, 1, n, f) != n) {
        fprintf(stderr, "cannot write %s\n", path);
        if (f) fclose(f);
        return 1;
    }
    fclose(f);
    printf("%s (%lu bytes)\n", path, (unsigned long)n);
    return 0;
}

static unsigned char *fz_save(const nn_model *m, const nn_train_state *st, size_t *len) {
    unsigned char *b;
    *len = nn_model_save_size(m, st);
    b = (unsigned char *)malloc(*len);
    FZ_CHECK(b && nn_model_save_to_memory(m, st, b, *len, len) == NN_OK);
    return b;
}

static int fz_write_corpus(const char *dir) {
    fz_target g[FZ_TARGETS];
    nn_train_state st;
    unsigned char *b, *c;
    size_t len, clen, off;
    int i, bad = 0;
    char name[64];
    for (i = 0; i < FZ_TARGETS; i++) fz_build(i, &g[i], 3);
    /* each target with everything, and with parts of the train state */
    for (i = 0; i < FZ_TARGETS; i++) {
        snprintf(name, sizeof name, "t%d_full.nnw", i);
        b = fz_save(&g[i].m, &g[i].st, &len);
        bad |= fz_write(dir, name, b, len);
        free(b);
    }
    b = fz_save(&g[0].m, NULL, &len);
    bad |= fz_write(dir, "t0_plain.nnw", b, len);
    free(b);
    memset(&st, 0, sizeof st);
    st.optim = &g[2].o;
    b = fz_save(&g[2].m, &st, &len);
    bad |= fz_write(dir, "t2_optim_only.nnw", b, len);
    free(b);
    /* an architecture none of the targets has (init_from_memory builds it) */
    {
        nn_layer_desc l[3];
        nn_model_desc md;
        nn_arena a;
        nn_model m;
        l[0] = fz_ld(NN_LAYER_DENSE, 3, NN_ACT_GELU);
        l[1] = fz_ld(NN_LAYER_LAYERNORM, 0, NN_ACT_IDENTITY);
        l[2] = fz_ld(NN_LAYER_DENSE, 2, NN_ACT_SIGMOID);
        memset(&md, 0, sizeof md);
        md.inputs = 7; md.max_batch = 2; md.layers = l; md.n_layers = 3; md.seed = 5;
        FZ_CHECK(nn_arena_init_heap(&a, nn_model_arena_bytes(&md)) == NN_OK && nn_model_init(&m, &a, &md) == NN_OK);
        b = fz_save(&m, NULL, &len);
        bad |= fz_write(dir, "other_arch.nnw", b, len);
        free(b);
        nn_arena_deinit(&a);
    }
    /* an optional section of a newer writer in the middle (skipped by readers) */
    b = fz_save(&g[0].m, &g[0].st, &len);
    off = 24;
    {
        size_t plen = 6; /* after ARCH */
        off += 16 + (size_t)fz_rd64(b + off + 8) + 4;
        clen = len + 16 + plen + 4;
        c = (unsigned char *)malloc(clen);
        FZ_CHECK(c != NULL);
        memcpy(c, b, off);
        fz_wr32(c + off, 0x5A5A5A5Au); /* "ZZZZ" */
        fz_wr32(c + off + 4, 0);
        fz_wr32(c + off + 8, (uint32_t)plen);
        fz_wr32(c + off + 12, 0);
        memcpy(c + off + 16, "future", plen);
        fz_wr32(c + off + 16 + plen, nn_crc32c(0, c + off, 16 + plen));
        memcpy(c + off + 16 + plen + 4, b + off, len - off);
        fz_wr32(c + 16, fz_rd32(c + 16) + 1);
        fz_wr32(c + 20, nn_crc32c(0, c, 20));
        bad |= fz_write(dir, "t0_unknown_section.nnw", c, clen);
        free(c);
    }
    /* damaged copies: truncated, one bit flipped in PARM, wrong major version */
    bad |= fz_write(dir, "t0_truncated.nnw", b, len / 2);
    c = (unsigned char *)malloc(len);
    FZ_CHECK(c != NULL);
    memcpy(c, b, len);
    c[24 + 16 + fz_rd64(b + 24 + 8) + 4 + 16 + 30] ^= 0x10;
    bad |= fz_write(dir, "t0_bitflip.nnw", c, len);
    memcpy(c, b, len);
    fz_wr32(c + 8, 2);
    fz_wr32(c + 20, nn_crc32c(0, c, 20));
    bad |= fz_write(dir, "t0_major2.nnw", c, len);
    free(c);
    free(b);
    /* IDX: 2 x 3 x 4 unsigned bytes, and one with a byte too many */
    {
        unsigned char idx[4 + 12 + 25];
        int k;
        memset(idx, 0, sizeof idx);
        idx[2] = 0x08;
        idx[3] = 3;
        idx[7] = 2; idx[11] = 3; idx[15] = 4;
        for (k = 0; k < 25; k++) idx[16 + k] = (unsigned char)(k * 11);
        bad |= fz_write(dir, "ok.idx", idx, sizeof idx - 1);
        bad |= fz_write(dir, "trailing.idx", idx, sizeof idx);
    }
    /* int8 models (QNT8): an MLP with batch norm folded in, and a CNN with
       every int8 kind */
    {
        nn_layer_desc l[9];
        nn_model_desc md;
        nn_arena a, qa;
        nn_model m;
        nn_qmodel q;
        static float cal[8 * 64];
        int k, which;
        for (k = 0; k < 8 * 64; k++) cal[k] = (float)((k * 37) % 101) / 50.0f - 1.0f;
        for (which = 0; which < 2; which++) {
            memset(&md, 0, sizeof md);
            if (!which) {
                l[0] = nn_dense(5, NN_ACT_IDENTITY); l[1] = nn_batchnorm(); l[2] = nn_activation(NN_ACT_RELU);
                l[3] = nn_dense(3, NN_ACT_TANH);
                md.inputs = 7; md.n_layers = 4;
            } else {
                l[0] = nn_conv2d(3, 3, 1, 1, NN_ACT_IDENTITY); l[1] = nn_batchnorm2d(); l[2] = nn_activation(NN_ACT_RELU);
                l[3] = nn_maxpool2d(2, 2, 0); l[4] = nn_conv2d(4, 3, 2, 1, NN_ACT_GELU); l[5] = nn_avgpool2d(3, 1, 1);
                l[6] = nn_conv2d(2, 1, 1, 0, NN_ACT_IDENTITY); l[7] = nn_global_avgpool(); l[8] = nn_dense(3, NN_ACT_IDENTITY);
                md.inputs = 64; md.n_layers = 9;
                md.input_shape[0] = 1; md.input_shape[1] = 8; md.input_shape[2] = 8;
            }
            md.max_batch = 4; md.layers = l; md.seed = 9;
            FZ_CHECK(nn_arena_init_heap(&a, nn_model_arena_bytes(&md)) == NN_OK && nn_model_init(&m, &a, &md) == NN_OK);
            nn_model_set_mode(&m, NN_MODE_EVAL);
            FZ_CHECK(nn_arena_init_heap(&qa, nn_qmodel_arena_bytes(&m, 2)) == NN_OK);
            FZ_CHECK(nn_qmodel_init(&q, &qa, &m, nn_tensor_2d(cal, 8, md.inputs), 2) == NN_OK);
            len = nn_qmodel_save_size(&q);
            b = (unsigned char *)malloc(len);
            FZ_CHECK(b && nn_qmodel_save_to_memory(&q, b, len, NULL) == NN_OK);
            bad |= fz_write(dir, which ? "q8_cnn.nnw" : "q8_mlp.nnw", b, len);
            free(b);
            nn_arena_deinit(&qa);
            nn_arena_deinit(&a);
        }
    }
    /* gzip whose "deflate" bytes the stub copies: CRC-32 and size match its output */
    {
        static const char text[] = "nn.h fuzz seed: gzip member with FNAME";
        unsigned char gz[128];
        size_t n = sizeof text - 1, pos = 0;
        gz[pos++] = 0x1f; gz[pos++] = 0x8b; gz[pos++] = 8; gz[pos++] = 8; /* FNAME */
        memset(gz + pos, 0, 6);
        pos += 6;
        memcpy(gz + pos, "seed\0", 5);
        pos += 5;
        memcpy(gz + pos, text, n);
        pos += n;
        fz_wr32(gz + pos, nn_crc32(0, text, n));
        fz_wr32(gz + pos + 4, (uint32_t)n);
        pos += 8;
        bad |= fz_write(dir, "member.gz", gz, pos);
    }
    for (i = 0; i < FZ_TARGETS; i++) {
        nn_arena_deinit(&g[i].arena);
        free(g[i].x);
        free(g[i].t);
        free(g[i].snap);
    }
    return bad;
}

#include "fuzz_replay.h"
int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "--write-corpus") == 0) return fz_write_corpus(argv[2]);
    return fz_replay(argc, argv, NULL, NULL);
}
#endif
