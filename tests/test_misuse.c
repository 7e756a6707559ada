/* test_misuse.c - what happens when the caller gets something wrong.

   Every case here is a mistake a user can make at run time: a batch larger than
   max_batch, a feature count the model was not built for, labels out of range,
   tensors of the wrong size, NULL buffers, zeroed descriptions, loaded state no run
   can produce. Each must come back as an error code with a message (or, for the void
   per-layer kernels, an always-on check that writes nothing), never as a crash, an
   out-of-bounds write or a silent answer.

   `make test` builds this suite under address+undefined sanitizers twice: with
   asserts, where NN_ASSERT is a counter so the suite also sees that the kernels'
   checks fire, and with -DNDEBUG, where NN_ASSERT is assert() compiled out, because
   the checks must survive release builds. It is always one translation unit (it
   defines NN_ASSERT before the implementation). */
#ifndef NDEBUG
static long misuse_asserts = 0;
#define NN_ASSERT(c) ((c) ? (void)0 : (void)misuse_asserts++)
#define ASSERT_HITS(n) CHECK_EQ_INT(misuse_asserts - (n), 0)
#define ASSERTS_ON 1
#else
#define ASSERTS_ON 0
#endif
#define NN_IMPLEMENTATION
#include "../nn.h"
#include "test.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define SENTINEL 12345.0f
#define SENTINEL_INT 12345

static void fill(float *p, size_t n, float v) {
    size_t i;
    for (i = 0; i < n; i++) p[i] = v;
}
static int all_equal(const float *p, size_t n, float v) {
    size_t i;
    for (i = 0; i < n; i++)
        if (p[i] != v) return 0;
    return 1;
}
static long asserts_now(void) {
#if ASSERTS_ON
    return misuse_asserts;
#else
    return 0;
#endif
}
/* A kernel misuse: with asserts on, exactly one more NN_ASSERT hit. */
#define EXPECT_KERNEL_CHECK(before)                                                        \
    do {                                                                                   \
        if (ASSERTS_ON) CHECKF(asserts_now() == (before) + 1, "NN_ASSERT hits %ld, want %ld", \
                               asserts_now(), (long)(before) + 1);                        \
    } while (0)

/* A 2 -> 4 (relu) -> 3 model with max_batch 4 in an exactly sized heap arena, so
   ASan sees any write past it. */
typedef struct small_net {
    nn_arena arena;
    nn_model m;
    nn_layer_desc ls[2];
    nn_model_desc md;
} small_net;

static nn_result small_net_init(small_net *s) {
    nn_result r;
    memset(s, 0, sizeof *s);
    s->ls[0] = nn_dense(4, NN_ACT_RELU);
    s->ls[1] = nn_dense(3, NN_ACT_IDENTITY);
    s->md.inputs = 2;
    s->md.max_batch = 4;
    s->md.layers = s->ls;
    s->md.n_layers = 2;
    s->md.seed = 7;
    r = nn_arena_init_heap(&s->arena, nn_model_arena_bytes(&s->md));
    if (r != NN_OK) return r;
    return nn_model_init(&s->m, &s->arena, &s->md);
}

/* ------------------------------------------------------------ model, forward */

static void test_forward_batch_over_max_batch(void) {
    small_net s;
    float x[2 * 9];
    nn_tensor y;
    CHECK_EQ_INT(small_net_init(&s), NN_OK);
    fill(x, 18, 0.5f);
    y = nn_model_forward(&s.m, nn_tensor_2d(x, 9, 2));
    CHECK(y.data == NULL);
    CHECKF(strstr(s.m.error, "max_batch") != NULL, "error: %s", s.m.error);
    y = nn_model_forward(&s.m, nn_tensor_2d(x, 0, 2));
    CHECK(y.data == NULL);
    y = nn_model_forward(&s.m, nn_tensor_2d(x, 4, 2)); /* the largest batch still works */
    CHECK(y.data != NULL && y.shape[0] == 4 && y.shape[1] == 3);
    CHECK(s.m.error[0] == '\0');
    nn_arena_deinit(&s.arena);
}

static void test_forward_wrong_feature_count(void) {
    small_net s;
    float x[3 * 2];
    nn_tensor y;
    CHECK_EQ_INT(small_net_init(&s), NN_OK);
    fill(x, 6, 1.0f);
    y = nn_model_forward(&s.m, nn_tensor_2d(x, 2, 3)); /* 3 features into a 2-input model */
    CHECK(y.data == NULL);
    CHECKF(strstr(s.m.error, "3 features") && strstr(s.m.error, "takes 2"), "error: %s", s.m.error);
    y = nn_model_forward(&s.m, nn_tensor_2d(NULL, 2, 2));
    CHECK(y.data == NULL);
    nn_arena_deinit(&s.arena);
}

static void test_backward_wrong_dy(void) {
    small_net s;
    float x[2 * 2] = {1, 2, 3, 4}, dy[4 * 3];
    nn_tensor y;
    CHECK_EQ_INT(small_net_init(&s), NN_OK);
    CHECK_EQ_INT(nn_model_backward(&s.m, nn_tensor_2d(dy, 2, 3)), NN_ERR_INVALID_ARGUMENT); /* no forward yet */
    y = nn_model_forward(&s.m, nn_tensor_2d(x, 2, 2));
    CHECK(y.data != NULL);
    nn_model_zero_grad(&s.m);
    CHECK_EQ_INT(nn_model_backward(&s.m, nn_tensor_2d(dy, 4, 3)), NN_ERR_SHAPE_MISMATCH);
    CHECK_EQ_INT(nn_model_backward(&s.m, nn_tensor_2d(dy, 2, 2)), NN_ERR_SHAPE_MISMATCH);
    CHECK_EQ_INT(nn_model_backward(&s.m, nn_tensor_2d(NULL, 2, 3)), NN_ERR_SHAPE_MISMATCH);
    CHECK(all_equal(s.m.grads, s.m.n_params, 0.0f)); /* nothing accumulated */
    CHECKF(strstr(s.m.error, "dy is") != NULL, "error: %s", s.m.error);
    fill(dy, 6, 1.0f);
    CHECK_EQ_INT(nn_model_backward(&s.m, nn_tensor_2d(dy, 2, 3)), NN_OK);
    nn_arena_deinit(&s.arena);
}

static void test_failed_init_leaves_live_model(void) {
    small_net s;
    nn_model_desc bad;
    nn_layer_desc zero[1];
    float x[2] = {0.25f, -1.0f}, before[3], *params0;
    nn_tensor y;
    size_t used;
    CHECK_EQ_INT(small_net_init(&s), NN_OK);
    y = nn_model_forward(&s.m, nn_tensor_2d(x, 1, 2));
    memcpy(before, y.data, sizeof before);
    params0 = s.m.params;
    used = s.arena.used;
    /* an invalid description: a zeroed layer (no tag) */
    memset(zero, 0, sizeof zero);
    zero[0].kind = NN_LAYER_DENSE;
    zero[0].units = 5;
    bad = s.md;
    bad.layers = zero;
    bad.n_layers = 1;
    CHECK_EQ_INT(nn_model_init(&s.m, &s.arena, &bad), NN_ERR_INVALID_ARGUMENT);
    CHECKF(strstr(s.m.error, "layer 0") != NULL, "error: %s", s.m.error);
    /* a valid one that does not fit the full arena */
    CHECK_EQ_INT(nn_model_init(&s.m, &s.arena, &s.md), NN_ERR_OUT_OF_MEMORY);
    CHECKF(strstr(s.m.error, "arena full") != NULL, "error: %s", s.m.error);
    CHECK(s.arena.used == used);
    /* the live model is intact */
    CHECK(s.m.params == params0 && s.m.inputs == 2 && s.m.outputs == 3);
    y = nn_model_forward(&s.m, nn_tensor_2d(x, 1, 2));
    CHECK(y.data != NULL && memcmp(y.data, before, sizeof before) == 0);
    nn_arena_deinit(&s.arena);
}

static void test_null_arguments(void) {
    small_net s;
    nn_model m;
    nn_optim o;
    nn_sched sc;
    nn_lbfgs lb;
    nn_arena a;
    nn_optim_desc od = nn_optim_desc_default(NN_OPTIM_SGD);
    nn_lbfgs_desc ld = nn_lbfgs_desc_default();
    void *buf = NULL;
    size_t len = 0, bytes = 0;
    memset(&m, 0, sizeof m);
    memset(&o, 0, sizeof o);
    memset(&sc, 0, sizeof sc);
    memset(&lb, 0, sizeof lb);
    CHECK_EQ_INT(small_net_init(&s), NN_OK);
    CHECK_EQ_INT(nn_model_init(&m, NULL, &s.md), NN_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(nn_model_init(&m, &s.arena, NULL), NN_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(nn_model_init(NULL, &s.arena, &s.md), NN_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(nn_optim_init(&o, NULL, &od, 10), NN_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(nn_optim_init(&o, &s.arena, NULL, 10), NN_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(nn_lbfgs_init(&lb, NULL, &ld, 10), NN_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(nn_sched_init(&sc, NULL), NN_ERR_INVALID_ARGUMENT);
    CHECKF(sc.error[0] != '\0', "no message");
    CHECK_EQ_INT(nn_arena_init(NULL, &bytes, sizeof bytes), NN_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(nn_arena_init(&a, NULL, 64), NN_ERR_INVALID_ARGUMENT);
    CHECK(nn_arena_alloc(NULL, 16) == NULL);
    /* NULL buffers with a length */
    CHECK_EQ_INT(nn_model_load_from_memory(&s.m, NULL, NULL, 100), NN_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(nn_model_init_from_memory(&m, &s.arena, NULL, 100), NN_ERR_INVALID_ARGUMENT);
    {
        nn_idx idx;
        CHECK_EQ_INT(nn_idx_parse(&idx, NULL, 100), NN_ERR_INVALID_ARGUMENT);
    }
    CHECK_EQ_INT(nn_gzip_decode(&buf, &len, NULL, 100, 1000, NULL), NN_ERR_UNSUPPORTED);
    /* NULL paths */
    CHECK_EQ_INT(nn_model_save(&s.m, NULL, NULL), NN_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(nn_model_load(&s.m, NULL, NULL), NN_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(nn_read_file(&buf, &len, NULL, 100), NN_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(nn_model_arena_bytes_from_file(&bytes, NULL, 0), NN_ERR_INVALID_ARGUMENT);
    nn_arena_deinit(&s.arena);
}

static nn_result fake_inflate(void *dst, size_t dst_len, const void *src, size_t src_len) {
    (void)src;
    (void)src_len;
    memset(dst, 0, dst_len);
    return NN_OK;
}

static void test_gzip_null_and_truncated(void) {
    /* a gzip member holding 1000 bytes of 0xff in one stored DEFLATE block */
    unsigned char gz[10 + 5 + 1000 + 8];
    void *out = NULL;
    size_t out_len = 0, n = 0, i;
    uint32_t crc;
    memset(gz, 0, sizeof gz);
    gz[0] = 0x1f; gz[1] = 0x8b; gz[2] = 8; gz[9] = 3;
    n = 10;
    gz[n++] = 1; /* final stored block */
    gz[n++] = 1000 & 0xff; gz[n++] = 1000 >> 8;
    gz[n++] = (unsigned char)~(1000 & 0xff); gz[n++] = (unsigned char)~(1000 >> 8);
    for (i = 0; i < 1000; i++) gz[n++] = 0xff;
    {
        unsigned char ones[1000];
        memset(ones, 0xff, sizeof ones);
        crc = nn_crc32(0, ones, sizeof ones);
    }
    for (i = 0; i < 4; i++) gz[n++] = (unsigned char)(crc >> (8 * i));
    gz[n++] = 1000 & 0xff; gz[n++] = 1000 >> 8; gz[n++] = 0; gz[n++] = 0;
    CHECK_EQ_INT(nn_gzip_decode(&out, &out_len, NULL, 100, 1 << 20, fake_inflate), NN_ERR_INVALID_ARGUMENT);
    /* cut in half: the "trailer" is payload bytes promising ~4 GB */
    CHECK_EQ_INT(nn_gzip_decode(&out, &out_len, gz, 500, 1 << 20, fake_inflate), NN_ERR_TRUNCATED);
    CHECK_EQ_INT(nn_gzip_decode(&out, &out_len, gz, sizeof gz - 3, 1 << 20, fake_inflate), NN_ERR_TRUNCATED);
    CHECK(out == NULL && out_len == 0);
    /* whole: the size is plausible, and a small limit is a size limit */
    CHECK_EQ_INT(nn_gzip_decode(&out, &out_len, gz, sizeof gz, 100, fake_inflate), NN_ERR_TOO_LARGE);
}

/* ------------------------------------------------------------ descriptions */

static void test_zeroed_descriptions_refused(void) {
    small_net s;
    nn_optim o;
    nn_sched sc;
    nn_lbfgs lb;
    nn_optim_desc od;
    nn_sched_desc sd;
    nn_lbfgs_desc ld;
    CHECK_EQ_INT(small_net_init(&s), NN_OK);
    memset(&od, 0, sizeof od);
    od.kind = NN_OPTIM_ADAM;
    memset(&o, 0, sizeof o);
    CHECK_EQ_INT(nn_optim_init(&o, &s.arena, &od, 10), NN_ERR_INVALID_ARGUMENT);
    CHECKF(strstr(o.error, "nn_optim_desc_default") != NULL, "error: %s", o.error);
    CHECK(nn_optim_arena_bytes(&od, 10) == 0);
    memset(&sd, 0, sizeof sd);
    sd.kind = NN_SCHED_STEP;
    sd.base_lr = 0.1;
    sd.step_size = 3;
    CHECK_EQ_INT(nn_sched_init(&sc, &sd), NN_ERR_INVALID_ARGUMENT);
    CHECKF(strstr(sc.error, "nn_sched_desc_default") != NULL, "error: %s", sc.error);
    memset(&ld, 0, sizeof ld);
    CHECK_EQ_INT(nn_lbfgs_init(&lb, &s.arena, &ld, 10), NN_ERR_INVALID_ARGUMENT);
    CHECK(nn_lbfgs_arena_bytes(&ld, 10) == 0);
    /* out-of-range literal values say which field */
    od = nn_optim_desc_default(NN_OPTIM_ADAM);
    od.beta2 = 1.5f;
    CHECK_EQ_INT(nn_optim_init(&o, &s.arena, &od, 10), NN_ERR_INVALID_ARGUMENT);
    CHECKF(strstr(o.error, "beta2") != NULL, "error: %s", o.error);
    sd = nn_sched_desc_default(NN_SCHED_STEP, 0.1);
    CHECK_EQ_INT(nn_sched_init(&sc, &sd), NN_ERR_INVALID_ARGUMENT); /* step_size is required */
    CHECKF(strstr(sc.error, "step_size") != NULL, "error: %s", sc.error);
    nn_arena_deinit(&s.arena);
}

static void test_model_desc_errors_name_the_layer(void) {
    nn_layer_desc ls[3];
    nn_model_desc md;
    nn_model m;
    unsigned char mem[4096];
    nn_arena a;
    ls[0] = nn_dense(4, NN_ACT_RELU);
    ls[1] = nn_dropout(1.0f); /* p must be < 1 */
    ls[2] = nn_dense(2, NN_ACT_IDENTITY);
    memset(&md, 0, sizeof md);
    md.inputs = 3;
    md.max_batch = 2;
    md.layers = ls;
    md.n_layers = 3;
    memset(&m, 0, sizeof m);
    CHECK_EQ_INT(nn_arena_init(&a, mem, sizeof mem), NN_OK);
    CHECK_EQ_INT(nn_model_init(&m, &a, &md), NN_ERR_INVALID_ARGUMENT);
    CHECKF(strstr(m.error, "layer 1") && strstr(m.error, "p = 1"), "error: %s", m.error);
    CHECK(nn_model_arena_bytes(&md) == 0);
    ls[1] = nn_dropout(0.0f); /* zero is a value, not "default" */
    CHECK_EQ_INT(nn_model_init(&m, &a, &md), NN_OK);
    CHECK(m.layers[2].p == 0.0f);
}

/* A maxout layer whose units x k overflows int: refused, and the message itself must
   not overflow computing it (the fuzzer's find: 1317601280 x 3 as int in the message). */
static void test_model_desc_huge_maxout_message(void) {
    nn_layer_desc ls[1];
    nn_model_desc md;
    nn_model m;
    unsigned char mem[4096];
    nn_arena a;
    ls[0] = nn_maxout(1317601280, 3, NN_ACT_IDENTITY);
    memset(&md, 0, sizeof md);
    md.inputs = 3;
    md.max_batch = 2;
    md.layers = ls;
    md.n_layers = 1;
    memset(&m, 0, sizeof m);
    CHECK_EQ_INT(nn_arena_init(&a, mem, sizeof mem), NN_OK);
    CHECK_EQ_INT(nn_model_init(&m, &a, &md), NN_ERR_TOO_LARGE);
    CHECKF(strstr(m.error, "3952803840 x 3 weights") != NULL, "error: %s", m.error);
}

/* ------------------------------------------------------------ data, metrics, fit */

/* The data toolkit with NULLs and bad sizes, in release builds too: NaN, 0 or an
   error, and nothing written. */
static void test_data_api_refuses_bad_caller_data(void) {
    float sc[6] = {1, 2, 3, 4, 5, 6}, out[8];
    int lab[2] = {0, 1}, pred[2] = {SENTINEL_INT, SENTINEL_INT}, cm[4] = {0, 0, 0, 0}, idx[4], fold[4] = {0, 1, 0, 1};
    int nt = -1, nv = -1;
    nn_batcher b;
    nn_csv_desc cd = nn_csv_desc_default();
    nn_csv csv;
    nn_prep p;
    nn_fit_desc fd = nn_fit_desc_default(1, 1);
    nn_fit_result res;
    fill(out, 8, SENTINEL);
    nn_argmax_rows(NULL, sc, 2, 3);
    nn_argmax_rows(pred, NULL, 2, 3);
    nn_argmax_rows(pred, sc, 2, 0);
    CHECK(pred[0] == SENTINEL_INT && pred[1] == SENTINEL_INT);
    CHECK(isnan(nn_accuracy(NULL, lab, 2)) && isnan(nn_accuracy(lab, NULL, 2)) && isnan(nn_accuracy(lab, lab, 0)));
    CHECK(isnan(nn_top_k_accuracy(NULL, lab, 2, 3, 1)) && isnan(nn_top_k_accuracy(sc, lab, 2, 3, 0)));
    CHECK(nn_confusion_add(NULL, lab, lab, 2, 2) == 0 && nn_confusion_add(cm, lab, lab, 2, 0) == 0);
    nn_class_report(NULL, 2, out, out, out, NULL, out, out);
    nn_class_report(cm, 0, out, out, out, NULL, out, out);
    CHECK(all_equal(out, 8, SENTINEL));
    CHECK(isnan(nn_log_loss_logits(NULL, lab, 2, 3)) && isnan(nn_log_loss_logits(sc, lab, 2, 0)));
    lab[1] = 3;
    CHECK(isnan(nn_log_loss_logits(sc, lab, 2, 3)));
    CHECK(isnan(nn_mse(NULL, sc, 3)) && isnan(nn_mae(sc, NULL, 3)) && isnan(nn_r2(sc, sc, 1)) && isnan(nn_mse(sc, sc, 0)));
    CHECK_EQ_INT(nn_split(NULL, 4, NULL, 0, 0.5f, 0.0f, 1, &nt, &nv, NULL), NN_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(nn_split(idx, 2, lab, 2, 0.5f, 0.0f, 1, &nt, &nv, NULL), NN_ERR_INVALID_ARGUMENT); /* label 3 */
    CHECK(nt == -1 && nv == -1);
    CHECK_EQ_INT(nn_kfold(fold, 4, 2, lab, 2, 1), NN_ERR_INVALID_ARGUMENT);
    CHECK(fold[0] == 0 && fold[1] == 1);
    nn_kfold_indices(NULL, 4, 0, idx, &nt, idx, &nv);
    CHECK(nt == 0 && nv == 0);
    CHECK_EQ_INT(nn_batcher_init(&b, NULL, 4, 2, 1, 0, 1), NN_ERR_INVALID_ARGUMENT);
    CHECK(nn_batcher_next(NULL, NULL) == 0 && nn_batcher_count(NULL) == 0);
    CHECK_EQ_INT(nn_gather_f32(nn_tensor_2d(out, 2, 3), NULL, 4, idx), NN_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(nn_data_gather(NULL, idx, 1, out, NULL, NULL), NN_ERR_INVALID_ARGUMENT);
    CHECK(all_equal(out, 8, SENTINEL));
    memset(&csv, 0, sizeof csv);
    CHECK_EQ_INT(nn_csv_parse(&csv, &cd, NULL, 5), NN_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(nn_csv_parse(&csv, NULL, "1", 1), NN_ERR_INVALID_ARGUMENT);
    CHECK(csv.owned == NULL);
    memset(&p, 0, sizeof p);
    CHECK_EQ_INT(nn_prep_fit_standardize(&p, sc, 2), NN_ERR_INVALID_ARGUMENT); /* not initialized */
    CHECK_EQ_INT(nn_prep_apply(&p, nn_tensor_2d(out, 2, 3), nn_tensor_2d(sc, 2, 3)), NN_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(nn_one_hot(out, NULL, 2, 3), NN_ERR_INVALID_ARGUMENT);
    CHECK(all_equal(out, 8, SENTINEL));
    CHECK_EQ_INT(nn_fit(NULL, NULL, NULL, NULL, &fd, &res), NN_ERR_INVALID_ARGUMENT);
    CHECK(res.error[0] != 0);
    nn_meta_set_training(NULL, NULL, NULL, 1, 1, 1);
    CHECK(nn_meta_describe(NULL, NULL, 0) == 0);
}

/* ------------------------------------------------------------ losses */

static void test_loss_bad_labels_and_sizes(void) {
    float z[2 * 3] = {1, 2, 3, 4, 5, 6}, dz[2 * 3], t[6], w[3] = {1, 1, 1};
    int bad_hi[2] = {0, 3}, bad_lo[2] = {-1, 0}, good[2] = {0, 2};
    nn_tensor Z = nn_tensor_2d(z, 2, 3), DZ = nn_tensor_2d(dz, 2, 3);
    fill(dz, 6, SENTINEL);
    CHECK(isnan(nn_loss_cross_entropy(DZ, Z, bad_hi)));
    CHECK(isnan(nn_loss_cross_entropy(DZ, Z, bad_lo)));
    CHECK(isnan(nn_loss_cross_entropy_weighted(DZ, Z, bad_hi, w)));
    CHECK(isnan(nn_loss_cross_entropy(DZ, Z, NULL)));
    CHECK(isnan(nn_loss_cross_entropy(nn_tensor_2d(dz, 1, 3), Z, good))); /* dlogits too small */
    CHECK(all_equal(dz, 6, SENTINEL));
    CHECK(!isnan(nn_loss_cross_entropy(DZ, Z, good)));
    fill(dz, 6, SENTINEL);
    fill(t, 6, 0.5f);
    /* pointwise losses: dpred and target sizes */
    CHECK(isnan(nn_loss_mse(nn_tensor_1d(dz, 5), Z, nn_tensor_2d(t, 2, 3))));
    CHECK(isnan(nn_loss_mse(DZ, Z, nn_tensor_1d(t, 5))));
    CHECK(isnan(nn_loss_l1(DZ, Z, nn_tensor_1d(t, 4))));
    CHECK(isnan(nn_loss_huber(DZ, Z, nn_tensor_2d(t, 2, 3), 0.0f)));
    CHECK(isnan(nn_loss_bce(DZ, Z, nn_tensor_1d(t, 7))));
    CHECK(isnan(nn_loss_bce_logits(DZ, Z, nn_tensor_1d(NULL, 6))));
    CHECK(isnan(nn_loss_cross_entropy_probs(DZ, Z, nn_tensor_2d(t, 3, 1), NULL)));
    CHECK(all_equal(dz, 6, SENTINEL));
}

/* ------------------------------------------------------------ per-layer kernels */

static void test_kernel_shape_checks(void) {
    float x[4 * 3], y[4 * 3], g[3], b[3], rm[3], rv[3], sm[4], sr[4], dx[4 * 3], dy[4 * 3], mask[12];
    nn_tensor X = nn_tensor_2d(x, 4, 3), Y = nn_tensor_2d(y, 4, 3);
    long before;
    fill(x, 12, 0.5f);
    fill(dy, 12, 1.0f);
    fill(g, 3, 1.0f);
    fill(b, 3, 0.0f);
    fill(rm, 3, 0.0f);
    fill(rv, 3, 1.0f);
    fill(sm, 4, 0.0f);
    fill(sr, 4, 1.0f);
    fill(mask, 12, 1.0f);
    /* batch norm: beta too small */
    fill(y, 12, SENTINEL);
    before = asserts_now();
    nn_batchnorm_forward(Y, sm, sr, X, nn_tensor_1d(g, 3), nn_tensor_1d(b, 2), rm, rv, 1e-5f, 0.1f, 1);
    EXPECT_KERNEL_CHECK(before);
    CHECK(all_equal(y, 12, SENTINEL));
    /* batch norm backward: dx of another size */
    fill(dx, 12, SENTINEL);
    before = asserts_now();
    nn_batchnorm_backward(nn_tensor_2d(dx, 4, 2), nn_tensor_none(), nn_tensor_none(), nn_tensor_2d(dy, 4, 3), X,
                          nn_tensor_1d(g, 3), sm, sr, 1);
    EXPECT_KERNEL_CHECK(before);
    CHECK(all_equal(dx, 12, SENTINEL));
    /* batch norm in training with one row: no variance (PyTorch refuses too) */
    before = asserts_now();
    nn_batchnorm_forward(nn_tensor_2d(y, 1, 3), sm, sr, nn_tensor_2d(x, 1, 3), nn_tensor_1d(g, 3), nn_tensor_1d(b, 3),
                         rm, rv, 1e-5f, 0.1f, 1);
    EXPECT_KERNEL_CHECK(before);
    CHECK(all_equal(y, 12, SENTINEL));
    /* layer norm: gamma, then beta too small */
    before = asserts_now();
    nn_layernorm_forward(Y, sm, sr, X, nn_tensor_1d(g, 2), nn_tensor_1d(b, 3), 1e-5f);
    EXPECT_KERNEL_CHECK(before);
    before = asserts_now();
    nn_layernorm_forward(Y, sm, sr, X, nn_tensor_1d(g, 3), nn_tensor_1d(b, 1), 1e-5f);
    EXPECT_KERNEL_CHECK(before);
    CHECK(all_equal(y, 12, SENTINEL));
    before = asserts_now();
    nn_layernorm_backward(nn_tensor_2d(dx, 4, 3), nn_tensor_1d(y, 2), nn_tensor_none(), nn_tensor_2d(dy, 4, 3), X,
                          nn_tensor_1d(g, 3), sm, sr);
    EXPECT_KERNEL_CHECK(before);
    CHECK(all_equal(dx, 12, SENTINEL) && all_equal(y, 12, SENTINEL));
    /* activation backward: y smaller than dy (sigmoid reads y) */
    before = asserts_now();
    nn_act_backward(NN_ACT_SIGMOID, 0.0f, nn_tensor_2d(dx, 4, 3), nn_tensor_2d(dy, 4, 3), X, nn_tensor_1d(y, 2));
    EXPECT_KERNEL_CHECK(before);
    before = asserts_now();
    nn_act_backward(NN_ACT_RELU, 0.0f, nn_tensor_2d(dx, 4, 3), nn_tensor_2d(dy, 4, 3), nn_tensor_1d(x, 5), Y);
    EXPECT_KERNEL_CHECK(before);
    before = asserts_now();
    nn_act_forward(NN_ACT_TANH, 0.0f, nn_tensor_1d(y, 11), X);
    EXPECT_KERNEL_CHECK(before);
    CHECK(all_equal(dx, 12, SENTINEL) && all_equal(y, 12, SENTINEL));
    /* dropout backward: dx of another size; training without a mask */
    before = asserts_now();
    nn_dropout_backward(nn_tensor_2d(dx, 2, 3), nn_tensor_2d(dy, 4, 3), mask, 1);
    EXPECT_KERNEL_CHECK(before);
    before = asserts_now();
    nn_dropout_backward(nn_tensor_2d(dx, 4, 3), nn_tensor_2d(dy, 4, 3), NULL, 1);
    EXPECT_KERNEL_CHECK(before);
    before = asserts_now();
    nn_dropout_forward(Y, NULL, X, 0.5f, 1, NULL);
    EXPECT_KERNEL_CHECK(before);
    CHECK(all_equal(dx, 12, SENTINEL) && all_equal(y, 12, SENTINEL));
    /* dense: weight of the wrong width, output of the wrong size, dx too small */
    {
        float w[2 * 3], dw[2 * 3];
        fill(w, 6, 0.1f);
        fill(dw, 6, SENTINEL);
        before = asserts_now();
        nn_dense_forward(nn_tensor_2d(y, 4, 2), X, nn_tensor_2d(w, 3, 2), nn_tensor_none());
        EXPECT_KERNEL_CHECK(before);
        before = asserts_now();
        nn_dense_forward(nn_tensor_2d(y, 3, 2), X, nn_tensor_2d(w, 2, 3), nn_tensor_none());
        EXPECT_KERNEL_CHECK(before);
        before = asserts_now();
        nn_dense_backward(nn_tensor_2d(dx, 4, 2), nn_tensor_2d(dw, 2, 3), nn_tensor_none(), nn_tensor_2d(dy, 4, 2), X,
                          nn_tensor_2d(w, 2, 3));
        EXPECT_KERNEL_CHECK(before);
        CHECK(all_equal(y, 12, SENTINEL) && all_equal(dx, 12, SENTINEL) && all_equal(dw, 6, SENTINEL));
    }
    /* maxout backward: an argmax outside [0, k) never indexes dz */
    {
        float w[4 * 3], dz[4 * 4], dw[4 * 3];
        int argmax[4 * 2] = {0, 1, 0, 1, 0, 7, 0, 1};
        fill(w, 12, 0.1f);
        fill(dz, 16, SENTINEL);
        fill(dw, 12, SENTINEL);
        before = asserts_now();
        nn_maxout_backward(nn_tensor_none(), nn_tensor_2d(dw, 4, 3), nn_tensor_none(), nn_tensor_2d(dz, 4, 4),
                           nn_tensor_2d(dy, 4, 2), X, nn_tensor_2d(w, 4, 3), argmax, 2);
        EXPECT_KERNEL_CHECK(before);
        CHECK(all_equal(dz, 16, SENTINEL) && all_equal(dw, 12, SENTINEL));
    }
}

/* ------------------------------------------------------------ optimizer, schedules */

static void test_optim_step_sizes(void) {
    small_net s;
    nn_optim o;
    nn_optim_desc od = nn_optim_desc_default(NN_OPTIM_ADAM);
    float w[20], gr[20];
    CHECK_EQ_INT(small_net_init(&s), NN_OK);
    nn_arena_deinit(&s.arena);
    CHECK_EQ_INT(nn_arena_init_heap(&s.arena, nn_optim_arena_bytes(&od, 10)), NN_OK);
    CHECK_EQ_INT(nn_optim_init(&o, &s.arena, &od, 10), NN_OK);
    fill(w, 20, 1.0f);
    fill(gr, 20, 0.5f);
    CHECK_EQ_INT(nn_optim_step(&o, w, gr, 11), NN_ERR_SHAPE_MISMATCH); /* more than the state holds */
    CHECKF(strstr(o.error, "holds 10") != NULL, "error: %s", o.error);
    CHECK(all_equal(w, 20, 1.0f) && o.step == 0);
    CHECK_EQ_INT(nn_optim_step(&o, w, NULL, 10), NN_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(nn_optim_step(&o, w, gr, 10), NN_OK);
    CHECK(w[0] != 1.0f && w[10] == 1.0f);
    nn_arena_deinit(&s.arena);
}

static void test_sched_counters_saturate(void) {
    nn_sched s;
    nn_sched_desc d = nn_sched_desc_default(NN_SCHED_STEP, 0.1);
    float lr;
    d.step_size = 1;
    CHECK_EQ_INT(nn_sched_init(&s, &d), NN_OK);
    s.t = LONG_MAX / 2; /* the limit: the step keeps the lr, never overflows */
    lr = nn_sched_lr(&s);
    CHECK(nn_sched_step(&s, 0.0f) == lr && s.t == LONG_MAX / 2);
    d = nn_sched_desc_default(NN_SCHED_COSINE_RESTARTS, 0.1);
    d.t_0 = 1;
    d.t_mult = 3;
    CHECK_EQ_INT(nn_sched_init(&s, &d), NN_OK);
    s.t_i = LONG_MAX / 4; /* t_i * t_mult would overflow */
    s.t_cur = s.t_i - 1;
    nn_sched_step(&s, 0.0f);
    CHECK(s.t_i == LONG_MAX / 2 && s.t_cur == 0);
    d = nn_sched_desc_default(NN_SCHED_PLATEAU, 0.1);
    d.patience = INT_MAX;
    CHECK_EQ_INT(nn_sched_init(&s, &d), NN_OK);
    nn_sched_step(&s, 1.0f);
    s.num_bad = INT_MAX;
    nn_sched_step(&s, 2.0f); /* no improvement: the count stays at INT_MAX */
    CHECK(s.num_bad == INT_MAX);
    /* one-cycle past its last step holds the final lr (it ran off below 0 before) */
    d = nn_sched_desc_default(NN_SCHED_ONE_CYCLE, 0.0);
    d.max_lr = 0.1;
    d.total_steps = 10;
    d.anneal_linear = 1;
    CHECK_EQ_INT(nn_sched_init(&s, &d), NN_OK);
    {
        int t;
        float last = 0.0f;
        for (t = 1; t <= 12; t++) {
            lr = nn_sched_step(&s, 0.0f);
            if (t == 9) last = lr;
        }
        CHECK(lr == last && lr > 0.0f && nn_sched_momentum(&s) <= 0.95f);
    }
}

/* Saves m (+ optimizer, schedule) to a heap buffer. */
static unsigned char *save_mem(const nn_model *m, const nn_train_state *st, size_t *len) {
    size_t n = nn_model_save_size(m, st), w = 0;
    unsigned char *buf = (unsigned char *)malloc(n);
    if (!buf || nn_model_save_to_memory(m, st, buf, n, &w) != NN_OK || w != n) {
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

static void test_loader_refuses_unreachable_state(void) {
    small_net s;
    nn_optim o;
    nn_sched sc;
    nn_train_state st;
    nn_optim_desc od = nn_optim_desc_default(NN_OPTIM_SGD);
    nn_sched_desc sd = nn_sched_desc_default(NN_SCHED_PLATEAU, 0.1);
    unsigned char *buf;
    size_t len = 0;
    float p0;
    CHECK_EQ_INT(small_net_init(&s), NN_OK);
    nn_arena_deinit(&s.arena);
    CHECK_EQ_INT(nn_arena_init_heap(&s.arena, nn_model_arena_bytes(&s.md) + nn_optim_arena_bytes(&od, 100)), NN_OK);
    CHECK_EQ_INT(nn_model_init(&s.m, &s.arena, &s.md), NN_OK);
    CHECK_EQ_INT(nn_optim_init(&o, &s.arena, &od, s.m.n_params), NN_OK);
    CHECK_EQ_INT(nn_sched_init(&sc, &sd), NN_OK);
    memset(&st, 0, sizeof st);
    st.optim = &o;
    st.sched = &sc;
    p0 = s.m.params[0];
    /* a plateau count past patience: no run leaves it there */
    sc.num_bad = INT_MAX;
    buf = save_mem(&s.m, &st, &len);
    CHECK(buf != NULL);
    s.m.params[0] = 99.0f;
    CHECK_EQ_INT(nn_model_load_from_memory(&s.m, &st, buf, len), NN_ERR_CORRUPT);
    CHECKF(strstr(s.m.error, "SCHD") != NULL, "error: %s", s.m.error);
    CHECK(s.m.params[0] == 99.0f && sc.num_bad == INT_MAX); /* nothing loaded */
    free(buf);
    sc.num_bad = 0;
    /* an optimizer one step below the limit: the step reaches it, the file
       still loads, and the next step is refused rather than overflowing */
    s.m.params[0] = p0;
    o.step = LONG_MAX / 2 - 1;
    nn_model_zero_grad(&s.m);
    CHECK_EQ_INT(nn_optim_step(&o, s.m.params, s.m.grads, s.m.n_params), NN_OK);
    buf = save_mem(&s.m, &st, &len);
    CHECK(buf != NULL);
    CHECK_EQ_INT(nn_model_load_from_memory(&s.m, &st, buf, len), NN_OK);
    CHECK(o.step == LONG_MAX / 2);
    CHECK_EQ_INT(nn_optim_step(&o, s.m.params, s.m.grads, s.m.n_params), NN_ERR_TOO_LARGE);
    free(buf);
    /* the all-zero RNG state (xoshiro never leaves it: dropout would drop forever) */
    o.step = 0;
    memset(s.m.rng.s, 0, sizeof s.m.rng.s);
    buf = save_mem(&s.m, NULL, &len);
    CHECK(buf != NULL);
    nn_rng_seed(&s.m.rng, 3);
    CHECK_EQ_INT(nn_model_load_from_memory(&s.m, NULL, buf, len), NN_ERR_CORRUPT);
    CHECKF(strstr(s.m.error, "RNGS") != NULL, "error: %s", s.m.error);
    CHECK(s.m.rng.s[0] != 0);
    free(buf);
    nn_arena_deinit(&s.arena);
}

static void test_arena_size_from_file(void) {
    small_net s;
    unsigned char *buf;
    size_t len = 0, bytes = 0, bytes64 = 0;
    nn_arena a;
    nn_model m;
    CHECK_EQ_INT(small_net_init(&s), NN_OK);
    buf = save_mem(&s.m, NULL, &len);
    CHECK(buf != NULL);
    CHECK_EQ_INT(nn_model_arena_bytes_from_memory(&bytes, buf, len, 0), NN_OK);
    CHECK(bytes == nn_model_arena_bytes(&s.md));
    CHECK_EQ_INT(nn_model_arena_bytes_from_memory(&bytes64, buf, len, 64), NN_OK);
    CHECK(bytes64 > bytes);
    CHECK_EQ_INT(nn_model_arena_bytes_from_memory(&bytes64, buf, len - 1, 64), NN_ERR_TRUNCATED);
    /* exactly that many bytes, at any alignment of the buffer */
    {
        unsigned char *raw = (unsigned char *)malloc(NN_ARENA_BUFFER_BYTES(bytes64) + 1);
        CHECK_EQ_INT(nn_arena_init(&a, raw + 1, NN_ARENA_BUFFER_BYTES(bytes64)), NN_OK);
        memset(&m, 0, sizeof m);
        CHECK_EQ_INT(nn_model_init_from_memory_batch(&m, &a, buf, len, 64), NN_OK);
        CHECK(m.max_batch == 64 && a.used == bytes64);
        free(raw);
    }
    free(buf);
    nn_arena_deinit(&s.arena);
}

/* ------------------------------------------------------------ defaults, literal values */

/* The constructors give the activation's gain (torch's calculate_gain); nn_init_fill
   takes its gain literally, so 0 fills zeros only when asked. */
static void test_init_gain_from_constructor(void) {
    nn_layer_desc l = nn_dense(512, NN_ACT_RELU);
    nn_layer_desc ls[1];
    nn_model_desc md;
    nn_model m;
    nn_arena a;
    double s2 = 0.0, want = 2.0 / 256.0; /* kaiming normal, relu: var = gain^2 / fan_in */
    size_t i;
    float w[6];
    nn_rng r;
    CHECK(fabsf(l.init_gain - sqrtf(2.0f)) < 1e-6f);
    l.init = NN_INIT_KAIMING_NORMAL;
    ls[0] = l;
    memset(&md, 0, sizeof md);
    md.inputs = 256;
    md.max_batch = 1;
    md.layers = ls;
    md.n_layers = 1;
    md.seed = 5;
    CHECK_EQ_INT(nn_arena_init_heap(&a, nn_model_arena_bytes(&md)), NN_OK);
    CHECK_EQ_INT(nn_model_init(&m, &a, &md), NN_OK);
    for (i = 0; i < nn_tensor_size(m.layers[0].w); i++) s2 += (double)m.layers[0].w.data[i] * m.layers[0].w.data[i];
    s2 /= (double)nn_tensor_size(m.layers[0].w);
    CHECKF(fabs(s2 / want - 1.0) < 0.03, "weight variance %g, want %g", s2, want);
    nn_arena_deinit(&a);
    nn_rng_seed(&r, 1);
    nn_init_fill(w, 2, 3, NN_INIT_XAVIER_UNIFORM, 0.0f, 0.0f, 0, &r);
    CHECK(all_equal(w, 6, 0.0f));
    nn_init_fill(w, 2, 3, NN_INIT_XAVIER_UNIFORM, 1.0f, 0.0f, 0, &r);
    CHECK(!all_equal(w, 6, 0.0f));
}

/* An attached schedule sets the optimizer's lr before each step (and one-cycle's
   momentum as Adam's beta1); the caller advances the schedule. */
static void test_attached_schedule_drives_optimizer(void) {
    nn_arena a;
    nn_optim o;
    nn_sched s;
    nn_optim_desc od = nn_optim_desc_default(NN_OPTIM_ADAM);
    nn_sched_desc sd = nn_sched_desc_default(NN_SCHED_ONE_CYCLE, 0.0); /* base_lr unused by one-cycle */
    float w[3] = {1, 2, 3}, g[3] = {0.1f, 0.2f, 0.3f};
    int t;
    sd.max_lr = 0.1;
    sd.total_steps = 20;
    sd.anneal_linear = 1;
    CHECK_EQ_INT(nn_sched_init(&s, &sd), NN_OK);
    CHECK_EQ_INT(nn_arena_init_heap(&a, nn_optim_arena_bytes(&od, 3)), NN_OK);
    CHECK_EQ_INT(nn_optim_init(&o, &a, &od, 3), NN_OK);
    nn_optim_attach_sched(&o, &s);
    for (t = 0; t < 5; t++) {
        CHECK_EQ_INT(nn_optim_step(&o, w, g, 3), NN_OK);
        CHECK(o.d.lr == nn_sched_lr(&s) && o.d.beta1 == nn_sched_momentum(&s));
        nn_sched_step(&s, 0.0f);
    }
    CHECK(fabs(o.d.lr - 0.004 - (0.1 - 0.004) * 4.0 / 5.0) < 1e-6); /* linear warm-up: lr at t = 4 of 0..5 */
    nn_optim_attach_sched(&o, NULL);
    o.d.lr = 0.5f;
    CHECK_EQ_INT(nn_optim_step(&o, w, g, 3), NN_OK);
    CHECK(o.d.lr == 0.5f);
    nn_arena_deinit(&a);
}

/* The message describes the last call: a failure writes it, a success clears it, and
   init_from_memory reports into the caller's model. */
static void test_error_buffer_follows_last_call(void) {
    small_net s;
    unsigned char *buf;
    size_t len = 0;
    nn_model m2;
    CHECK_EQ_INT(small_net_init(&s), NN_OK);
    buf = save_mem(&s.m, NULL, &len);
    CHECK(buf != NULL);
    buf[len - 1] ^= 1; /* the last section's CRC */
    CHECK_EQ_INT(nn_model_load_from_memory(&s.m, NULL, buf, len), NN_ERR_CHECKSUM);
    CHECKF(strstr(s.m.error, "CRC") != NULL, "error: %s", s.m.error);
    buf[len - 1] ^= 1;
    CHECK_EQ_INT(nn_model_load_from_memory(&s.m, NULL, buf, len), NN_OK);
    CHECKF(s.m.error[0] == '\0', "stale error: %s", s.m.error);
    memset(&m2, 0, sizeof m2);
    CHECK_EQ_INT(nn_model_init_from_memory(&m2, &s.arena, buf, len - 5), NN_ERR_TRUNCATED); /* arena is full anyway */
    CHECKF(m2.error[0] != '\0', "no message");
    free(buf);
    nn_arena_deinit(&s.arena);
}

static const test_case tests[] = {
    TEST(test_forward_batch_over_max_batch),
    TEST(test_forward_wrong_feature_count),
    TEST(test_backward_wrong_dy),
    TEST(test_failed_init_leaves_live_model),
    TEST(test_null_arguments),
    TEST(test_gzip_null_and_truncated),
    TEST(test_zeroed_descriptions_refused),
    TEST(test_model_desc_errors_name_the_layer),
    TEST(test_model_desc_huge_maxout_message),
    TEST(test_data_api_refuses_bad_caller_data),
    TEST(test_loss_bad_labels_and_sizes),
    TEST(test_kernel_shape_checks),
    TEST(test_optim_step_sizes),
    TEST(test_sched_counters_saturate),
    TEST(test_loader_refuses_unreachable_state),
    TEST(test_arena_size_from_file),
    TEST(test_init_gain_from_constructor),
    TEST(test_attached_schedule_drives_optimizer),
    TEST(test_error_buffer_follows_last_call),
};

int main(int argc, char **argv) { return TEST_MAIN(argc, argv, tests); }
