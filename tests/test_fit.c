/* test_fit.c - tests for nn_fit, the training loop: bit-identical to the hand-written
   loop doing the same steps, early stopping that restores the best weights bit for bit,
   checkpoints, schedules (per batch, per epoch, ReduceLROnPlateau on the monitored value),
   callbacks that stop, a NaN stop that names the layer, and every refused description;
   gradient accumulation and the data-parallel slice and reduce hook against the hand
   loop they document, and nn_rng_jump's streams.

   Build and run from the repository root:
       gcc -std=c99 -O2 -Wall -Wextra -Wpedantic -Werror tests/test_fit.c -o /tmp/tf -lm && /tmp/tf */
#ifndef NN_TEST_LINKED /* built against a separately compiled implementation */
#define NN_IMPLEMENTATION
#endif
#include "../nn.h"
#include "test.h"

#include <stdlib.h>
#include <string.h>

enum { N = 203, F = 7, K = 3, B = 16 };

/* Three noisy Gaussian blobs: learnable, not perfectly. */
static float g_x[N * F];
static unsigned char g_x8[N * F];
static int g_y[N];

static void make_data(uint64_t seed, float noise) {
    nn_rng r;
    int i, j;
    nn_rng_seed(&r, seed);
    for (i = 0; i < N; i++) {
        g_y[i] = (int)nn_rng_below(&r, K);
        for (j = 0; j < F; j++) {
            g_x[i * F + j] = (float)((g_y[i] + j) % K) * 1.5f + 40.0f * (float)(j == 3) + noise * nn_rng_normal(&r);
            g_x8[i * F + j] = (unsigned char)nn_rng_below(&r, 256);
        }
    }
}

typedef struct net {
    nn_arena a;
    nn_model m;
    nn_optim o;
} net;

static int build(net *t, int dropout, nn_optim_kind kind, float lr) {
    nn_layer_desc l[3];
    nn_model_desc md;
    nn_optim_desc od = nn_optim_desc_default(kind);
    int nl = 0;
    l[nl++] = nn_dense(17, NN_ACT_RELU);
    if (dropout) l[nl++] = nn_dropout(0.25f);
    l[nl++] = nn_dense(K, NN_ACT_IDENTITY);
    memset(&md, 0, sizeof md);
    md.inputs = F; md.max_batch = 32; md.layers = l; md.n_layers = nl; md.seed = 11;
    od.lr = lr;
    if (kind == NN_OPTIM_ADAMW) od.weight_decay = 0.01f;
    if (nn_arena_init_heap(&t->a, nn_model_arena_bytes(&md) + nn_optim_arena_bytes(&od, nn_model_param_count(&md)) +
                                      (1 << 16)) != NN_OK)
        return 0;
    return nn_model_init(&t->m, &t->a, &md) == NN_OK && nn_optim_init(&t->o, &t->a, &od, t->m.n_params) == NN_OK;
}

static int same_bits(const float *a, const float *b, size_t n) { return memcmp(a, b, n * sizeof(float)) == 0; }

/* The loop a user writes by hand, step for step what nn_fit documents. */
static void hand_loop(net *t, const nn_data *d, const nn_prep *prep, nn_sched *s, int epochs, uint64_t seed) {
    int idx[N], lab[32], e, b;
    float x[32 * F], xin[32 * F];
    const int *rows;
    nn_batcher bt;
    nn_batcher_init(&bt, idx, d->n, B, 1, 0, seed);
    if (s) nn_optim_attach_sched(&t->o, s);
    for (e = 0; e < epochs; e++) {
        nn_model_set_mode(&t->m, NN_MODE_TRAIN);
        while ((b = nn_batcher_next(&bt, &rows)) > 0) {
            nn_tensor out, dout;
            nn_data_gather(d, rows, b, x, lab, NULL);
            if (prep) nn_prep_apply(prep, nn_tensor_2d(xin, b, F), nn_tensor_2d(x, b, F));
            out = nn_model_forward(&t->m, nn_tensor_2d(prep ? xin : x, b, F));
            dout = nn_model_output_grad(&t->m);
            nn_loss_cross_entropy(dout, out, lab);
            nn_model_zero_grad(&t->m);
            nn_model_backward(&t->m, dout);
            nn_optim_step_params(&t->o, t->m.param_list, t->m.n_param_list);
            if (s) nn_sched_step(s, 0.0f);
        }
    }
    nn_optim_attach_sched(&t->o, NULL);
}

/* nn_fit against the hand-written loop: same bits, with dropout, bytes through a table,
   a standardization stage and a per-batch cosine schedule. */
static void test_fit_matches_hand_loop(void) {
    int c;
    make_data(1, 1.0f);
    for (c = 0; c < 3; c++) {
        net a, h;
        nn_data d;
        nn_fit_desc fd = nn_fit_desc_default(4, B);
        nn_fit_result res;
        nn_prep prep;
        nn_arena pa;
        float table[256];
        nn_sched sa, sh;
        nn_sched_desc sd = nn_sched_desc_default(NN_SCHED_COSINE, 0.01);
        nn_result r;
        if (!CHECK(build(&a, 1, NN_OPTIM_ADAM, 0.01f) && build(&h, 1, NN_OPTIM_ADAM, 0.01f))) return;
        memset(&d, 0, sizeof d);
        d.n = N; d.features = F; d.labels = g_y;
        if (c == 1) {
            nn_u8_table_normalize(table, 255.0f, 0.5f, 0.25f);
            d.x_u8 = g_x8;
            d.table = table;
        } else {
            d.x = g_x;
        }
        memset(&prep, 0, sizeof prep);
        if (c == 2) {
            CHECK_EQ_INT(nn_arena_init_heap(&pa, nn_prep_arena_bytes(F, 0)), NN_OK);
            CHECK_EQ_INT(nn_prep_init(&prep, &pa, F, 0), NN_OK);
            CHECK_EQ_INT(nn_prep_fit_standardize(&prep, g_x, N), NN_OK);
            fd.prep = &prep;
            sd.t_max = 4 * ((N + B - 1) / B);
            CHECK_EQ_INT(nn_sched_init(&sa, &sd), NN_OK);
            CHECK_EQ_INT(nn_sched_init(&sh, &sd), NN_OK);
            fd.sched = &sa;
        }
        fd.seed = 77;
        r = nn_fit(&a.m, &a.o, &a.a, &d, &fd, &res);
        CHECKF(r == NN_OK, "case %d: %s", c, res.error);
        CHECK(res.epochs_run == 4 && res.stop == NN_FIT_COMPLETED);
        hand_loop(&h, &d, c == 2 ? &prep : NULL, c == 2 ? &sh : NULL, 4, 77);
        CHECKF(same_bits(a.m.params, h.m.params, a.m.n_params), "case %d: nn_fit and the hand loop differ", c);
        CHECKF(!same_bits(a.m.params, h.m.params, 0) || a.m.params[0] != 0.0f, "case %d", c);
        CHECK(a.o.step == h.o.step && a.o.step == 4 * ((N + B - 1) / B));
        if (c == 2) {
            CHECK(sa.t == sh.t && sa.lr == sh.lr);
            nn_arena_deinit(&pa);
        }
        nn_arena_deinit(&a.a);
        nn_arena_deinit(&h.a);
    }
}

typedef struct snap {
    float w[4096];
    size_t n;
    int epoch;
    float val_loss[64];
} snap;

static int snap_on_epoch(const nn_fit_state *s, void *user) {
    snap *sp = (snap *)user;
    sp->val_loss[s->epoch - 1] = s->last->val_loss;
    if (s->improved) {
        memcpy(sp->w, s->model->params, s->model->n_params * sizeof(float));
        sp->n = s->model->n_params;
        sp->epoch = s->epoch;
    }
    return 0;
}

/* Overfitting on noisy labels with a large lr: validation loss turns up, early stopping
   ends the run, and the weights are the best epoch's, bit for bit (as the callback saw
   them), and so is the checkpoint file. */
static void test_fit_early_stopping_restores_best(void) {
    net a, c;
    nn_data d;
    nn_fit_desc fd = nn_fit_desc_default(60, B);
    nn_fit_result res;
    nn_fit_epoch hist[60];
    static snap sp;
    nn_meta meta = nn_meta_make("early-stop test");
    nn_train_state st;
    int e, argmin = 0;
    make_data(2, 3.0f);
    if (!CHECK(build(&a, 0, NN_OPTIM_ADAM, 0.05f) && build(&c, 0, NN_OPTIM_ADAM, 0.05f))) return;
    memset(&d, 0, sizeof d);
    d.n = N; d.features = F; d.x = g_x; d.labels = g_y;
    memset(&st, 0, sizeof st);
    st.meta = &meta;
    fd.val_split = 0.3f;
    fd.patience = 3;
    fd.restore_best = 1;
    fd.history = hist;
    fd.history_cap = 60;
    fd.on_epoch = snap_on_epoch;
    fd.user = &sp;
    fd.seed = 5;
    fd.meta = &meta;
    fd.checkpoint = "build/test_fit_best.nnw";
    fd.checkpoint_state = &st;
    if (!CHECKF(nn_fit(&a.m, &a.o, &a.a, &d, &fd, &res) == NN_OK, "%s", res.error)) return;
    CHECKF(res.stop == NN_FIT_EARLY_STOP && res.epochs_run < 60, "stop %d after %d epochs", (int)res.stop,
           res.epochs_run);
    CHECK(res.epochs_run == res.best_epoch + 3);
    TEST_NOTE("stopped after %d epochs, best epoch %d (val loss %.4f)", res.epochs_run, res.best_epoch, (double)res.best);
    for (e = 1; e < res.epochs_run; e++)
        if (hist[e].val_loss < hist[argmin].val_loss) argmin = e;
    CHECK_EQ_INT(res.best_epoch, argmin + 1);
    CHECK(res.best == hist[argmin].val_loss);
    CHECK(sp.epoch == res.best_epoch && sp.n == a.m.n_params);
    CHECKF(same_bits(a.m.params, sp.w, a.m.n_params), "restored weights differ from the best epoch's");
    CHECK(hist[0].train_acc == hist[0].train_acc && hist[0].val_acc >= 0.0f && hist[0].seconds >= 0.0);
    /* the checkpoint holds the best weights too, and the provenance */
    {
        nn_meta back;
        int idx[N], nt;
        memset(&st, 0, sizeof st);
        st.meta = &back;
        CHECK_EQ_INT(nn_model_load(&c.m, &st, "build/test_fit_best.nnw"), NN_OK);
        CHECKF(same_bits(c.m.params, sp.w, c.m.n_params), "the checkpoint differs from the best epoch");
        CHECK_EQ_INT(nn_split(idx, N, g_y, K, 0.3f, 0.0f, 5, &nt, NULL, NULL), NN_OK);
        CHECK(!strcmp(back.label, "early-stop test") && back.data_rows == (uint64_t)nt && back.data_crc != 0);
        CHECK(back.epochs == 60 && back.batch == B && back.seed == 5 && back.optim_kind == NN_OPTIM_ADAM);
        remove("build/test_fit_best.nnw");
    }
#ifndef NN_NO_STDIO
    {
        FILE *f = tmpfile();
        char line[256];
        int lines = 0;
        if (CHECK(f != NULL)) {
            CHECK_EQ_INT(nn_fit_history_csv(hist, res.epochs_run, f), NN_OK);
            rewind(f);
            while (fgets(line, sizeof line, f)) lines++;
            fclose(f);
            CHECK_EQ_INT(lines, res.epochs_run + 1);
        }
    }
#endif
    nn_arena_deinit(&a.a);
    nn_arena_deinit(&c.a);
}

static int stop_at_5(const nn_fit_state *s, void *user) {
    (void)user;
    return s->global_step == 5;
}

static int count_events(const nn_fit_state *s, void *user) {
    int *n = (int *)user;
    n[s->event]++;
    CHECK(s->step >= 1 && s->step <= s->steps && s->epoch >= 1);
    return 0;
}

/* A callback stops; events counted; a per-epoch schedule; regression targets with MSE;
   ReduceLROnPlateau fed the monitored value. */
static void test_fit_callbacks_and_schedules(void) {
    net a;
    nn_data d;
    nn_fit_desc fd;
    nn_fit_result res;
    nn_fit_epoch hist[30];
    nn_sched s;
    nn_sched_desc sd;
    int counts[2] = {0, 0}, e, drops = 0;
    static float tg[N * K];
    make_data(3, 1.0f);
    if (!CHECK(build(&a, 0, NN_OPTIM_SGD, 0.01f))) return;
    memset(&d, 0, sizeof d);
    d.n = N; d.features = F; d.x = g_x; d.labels = g_y;
    fd = nn_fit_desc_default(3, B);
    fd.on_batch = stop_at_5;
    CHECK_EQ_INT(nn_fit(&a.m, &a.o, &a.a, &d, &fd, &res), NN_OK);
    CHECK(res.stop == NN_FIT_CALLBACK_STOP && res.epochs_run == 1 && a.o.step == 5);
    fd = nn_fit_desc_default(2, B);
    fd.on_batch = count_events;
    fd.on_epoch = count_events;
    fd.user = counts;
    sd = nn_sched_desc_default(NN_SCHED_STEP, 0.01);
    sd.step_size = 1;
    sd.gamma = 0.5;
    CHECK_EQ_INT(nn_sched_init(&s, &sd), NN_OK);
    fd.sched = &s;
    fd.sched_per_epoch = 1;
    fd.history = hist;
    fd.history_cap = 2;
    CHECK_EQ_INT(nn_fit(&a.m, &a.o, &a.a, &d, &fd, &res), NN_OK);
    CHECK(counts[NN_FIT_BATCH] == 2 * ((N + B - 1) / B) && counts[NN_FIT_EPOCH] == 2);
    CHECK(hist[0].lr == 0.01f && hist[1].lr == 0.005f && s.t == 2);
    CHECK(a.o.sched == NULL); /* detached again */
    CHECK(hist[0].val_loss != hist[0].val_loss); /* no validation: NaN */
    /* regression: targets are one-hot codes, MSE */
    nn_one_hot(tg, g_y, N, K);
    d.labels = NULL;
    d.targets = tg;
    d.target_dim = K;
    fd = nn_fit_desc_default(30, B);
    fd.val_split = 0.25f;
    sd = nn_sched_desc_default(NN_SCHED_PLATEAU, 0.5);
    sd.patience = 0;
    sd.factor = 0.5;
    CHECK_EQ_INT(nn_sched_init(&s, &sd), NN_OK);
    fd.sched = &s;
    fd.history = hist;
    fd.history_cap = 30;
    a.o.d.lr = 0.5f;
    CHECKF(nn_fit(&a.m, &a.o, &a.a, &d, &fd, &res) == NN_OK, "%s", res.error);
    CHECK(hist[0].train_acc != hist[0].train_acc && hist[0].val_loss == hist[0].val_loss);
    for (e = 1; e < 30; e++) {
        CHECK(hist[e].lr == hist[e - 1].lr || hist[e].lr == 0.5f * hist[e - 1].lr);
        drops += hist[e].lr < hist[e - 1].lr;
    }
    CHECKF(drops > 0, "ReduceLROnPlateau never reduced the lr in 30 epochs");
    nn_arena_deinit(&a.a);
}

/* A NaN feature poisons one batch: training stops, naming the first layer that went bad. */
static void test_fit_nonfinite_names_layer(void) {
    net a;
    nn_data d;
    nn_fit_desc fd = nn_fit_desc_default(2, B);
    nn_fit_result res;
    make_data(4, 1.0f);
    g_x[100 * F + 2] = NAN;
    if (!CHECK(build(&a, 0, NN_OPTIM_SGD, 0.01f))) return;
    memset(&d, 0, sizeof d);
    d.n = N; d.features = F; d.x = g_x; d.labels = g_y;
    CHECK_EQ_INT(nn_fit(&a.m, &a.o, &a.a, &d, &fd, &res), NN_ERR_NONFINITE);
    CHECK(res.stop == NN_FIT_NONFINITE);
    CHECKF(strstr(res.error, "layer 0 (dense)") != NULL, "%s", res.error);
    nn_arena_deinit(&a.a);
}

/* Every refused description: an error and a message, model and arena untouched. */
static void test_fit_refusals(void) {
    net a;
    nn_data d, v;
    nn_fit_desc fd;
    nn_fit_result res;
    float before[4096];
    size_t mark;
    int bad_labels[N], i;
    make_data(5, 1.0f);
    if (!CHECK(build(&a, 0, NN_OPTIM_SGD, 0.01f))) return;
    memcpy(before, a.m.params, a.m.n_params * sizeof(float));
    mark = nn_arena_mark(&a.a);
    memset(&d, 0, sizeof d);
    d.n = N; d.features = F; d.x = g_x; d.labels = g_y;
    for (i = 0; i < N; i++) bad_labels[i] = g_y[i];
    bad_labels[50] = K;
#define REFUSE(setup, code, text)                                                                  \
    do {                                                                                           \
        nn_data dd = d;                                                                            \
        fd = nn_fit_desc_default(2, B);                                                            \
        setup;                                                                                     \
        CHECK_EQ_INT(nn_fit(&a.m, &a.o, &a.a, &dd, &fd, &res), code);                              \
        CHECKF(strstr(res.error, text) != NULL, "message \"%s\", expected \"%s\"", res.error, text); \
    } while (0)
    REFUSE(memset(&fd, 0, sizeof fd), NN_ERR_INVALID_ARGUMENT, "nn_fit_desc_default");
    REFUSE(fd.batch = 33, NN_ERR_INVALID_ARGUMENT, "max_batch 32");
    REFUSE(fd.epochs = 0, NN_ERR_INVALID_ARGUMENT, "0 epochs");
    REFUSE(dd.features = F + 1, NN_ERR_INVALID_ARGUMENT, "features");
    REFUSE(dd.labels = bad_labels, NN_ERR_INVALID_ARGUMENT, "label 3 of row 50");
    REFUSE(dd.labels = NULL, NN_ERR_INVALID_ARGUMENT, "labels or targets");
    REFUSE(fd.monitor = NN_MONITOR_VAL_ACCURACY, NN_ERR_INVALID_ARGUMENT, "validation data");
    REFUSE(fd.val_split = 1.5f, NN_ERR_INVALID_ARGUMENT, "val_split");
    REFUSE((fd.val_split = 0.2f, v = d, fd.val = &v), NN_ERR_INVALID_ARGUMENT, "not with a val set");
    REFUSE(fd.patience = -2, NN_ERR_INVALID_ARGUMENT, "patience");
    REFUSE(fd.history_cap = 3, NN_ERR_INVALID_ARGUMENT, "history");
    REFUSE((dd.targets = g_x, dd.labels = NULL, dd.target_dim = 2), NN_ERR_SHAPE_MISMATCH, "2 values a row");
    REFUSE((fd.drop_last = 1, fd.batch = 32, dd.n = 20), NN_ERR_INVALID_ARGUMENT, "drop_last");
#undef REFUSE
    CHECKF(same_bits(a.m.params, before, a.m.n_params), "a refused fit changed the model");
    CHECK(nn_arena_mark(&a.a) == mark && a.o.step == 0);
    /* an arena too small for the scratch */
    {
        nn_arena tiny;
        static unsigned char mem[256];
        nn_arena_init(&tiny, mem, sizeof mem);
        fd = nn_fit_desc_default(2, B);
        CHECK_EQ_INT(nn_fit(&a.m, &a.o, &tiny, &d, &fd, &res), NN_ERR_OUT_OF_MEMORY);
        CHECKF(strstr(res.error, "nn_fit_arena_bytes") != NULL, "%s", res.error);
        CHECK(nn_fit_arena_bytes(&a.m, &d, &fd) > sizeof mem);
    }
    nn_arena_deinit(&a.a);
}

/* Views: nn_fit over a train view and a val view from nn_split is nn_fit with val_split
   (same seed), bit for bit; standardization fitted over a view of bytes equals the fit
   on the float rows. */
static void test_fit_views(void) {
    net a, b;
    nn_data d, tv, vv;
    nn_fit_desc fd;
    nn_fit_result res;
    nn_fit_epoch ha[3], hb[3];
    int idx[N], nt, nv, i;
    nn_arena pa;
    nn_prep p1, p2;
    float table[256];
    static float xf[N * F];
    make_data(6, 1.0f);
    if (!CHECK(build(&a, 0, NN_OPTIM_ADAM, 0.01f) && build(&b, 0, NN_OPTIM_ADAM, 0.01f))) return;
    memset(&d, 0, sizeof d);
    d.n = N; d.features = F; d.x = g_x; d.labels = g_y;
    fd = nn_fit_desc_default(3, B);
    fd.val_split = 0.2f; fd.seed = 9; fd.history = ha; fd.history_cap = 3;
    CHECK_EQ_INT(nn_fit(&a.m, &a.o, &a.a, &d, &fd, &res), NN_OK);
    CHECK_EQ_INT(nn_split(idx, N, g_y, K, 0.2f, 0.0f, 9, &nt, &nv, NULL), NN_OK);
    tv = d; tv.rows = idx; tv.n_rows = nt;
    vv = d; vv.rows = idx + nt; vv.n_rows = nv;
    fd = nn_fit_desc_default(3, B);
    fd.val = &vv; fd.seed = 9; fd.history = hb; fd.history_cap = 3;
    CHECKF(nn_fit(&b.m, &b.o, &b.a, &tv, &fd, &res) == NN_OK, "%s", res.error);
    CHECKF(same_bits(a.m.params, b.m.params, a.m.n_params), "views and val_split differ");
    CHECK(ha[2].val_loss == hb[2].val_loss && ha[2].val_acc == hb[2].val_acc);
    fd.val_split = 0.1f;
    fd.val = NULL;
    CHECK_EQ_INT(nn_fit(&b.m, &b.o, &b.a, &tv, &fd, &res), NN_ERR_INVALID_ARGUMENT);
    idx[0] = N;
    fd = nn_fit_desc_default(3, B);
    CHECK_EQ_INT(nn_fit(&b.m, &b.o, &b.a, &tv, &fd, &res), NN_ERR_INVALID_ARGUMENT);
    CHECKF(strstr(res.error, "view row 0") != NULL, "%s", res.error);
    /* standardization over a byte view = over the same rows as floats */
    CHECK_EQ_INT(nn_split(idx, N, NULL, 0, 0.3f, 0.0f, 4, &nt, &nv, NULL), NN_OK);
    nn_u8_table_normalize(table, 255.0f, 0.0f, 1.0f);
    for (i = 0; i < nt; i++) {
        int j;
        for (j = 0; j < F; j++) xf[i * F + j] = table[g_x8[idx[i] * F + j]];
    }
    memset(&p1, 0, sizeof p1); memset(&p2, 0, sizeof p2);
    CHECK_EQ_INT(nn_arena_init_heap(&pa, 2 * nn_prep_arena_bytes(F, 0)), NN_OK);
    CHECK_EQ_INT(nn_prep_init(&p1, &pa, F, 0), NN_OK);
    CHECK_EQ_INT(nn_prep_init(&p2, &pa, F, 0), NN_OK);
    CHECK_EQ_INT(nn_prep_fit_standardize(&p1, xf, nt), NN_OK);
    memset(&tv, 0, sizeof tv);
    tv.n = N; tv.features = F; tv.x_u8 = g_x8; tv.table = table; tv.rows = idx; tv.n_rows = nt;
    CHECK_EQ_INT(nn_prep_fit_standardize_data(&p2, &tv), NN_OK);
    CHECK(same_bits(p1.shift, p2.shift, F) && same_bits(p1.scale, p2.scale, F));
    nn_arena_deinit(&pa);
    nn_arena_deinit(&a.a);
    nn_arena_deinit(&b.a);
}

/* Data-parallel pieces. The hand loop of a batch cut in `parts` slices: the
   gradient of each slice from zero, slice `only` alone (world: what one
   worker trains on) or all of them meaned in order by nn_grad_mean_ordered
   (accum; what a deterministic reduction over workers gives). */
static void slices_loop(net *t, const nn_data *d, int epochs, uint64_t seed, int parts, int only) {
    int idx[N], lab[32], e, b, p;
    float x[32 * F];
    static float g[4][4096];
    const int *rows;
    nn_batcher bt;
    nn_batcher_init(&bt, idx, d->n, B, 1, 1, seed);
    for (e = 0; e < epochs; e++) {
        nn_model_set_mode(&t->m, NN_MODE_TRAIN);
        while ((b = nn_batcher_next(&bt, &rows)) > 0) {
            int mb = b / parts;
            for (p = 0; p < parts; p++) {
                nn_tensor out, dout;
                if (only >= 0 && p != only) continue;
                nn_data_gather(d, rows + p * mb, mb, x, lab, NULL);
                out = nn_model_forward(&t->m, nn_tensor_2d(x, mb, F));
                dout = nn_model_output_grad(&t->m);
                nn_loss_cross_entropy(dout, out, lab);
                nn_model_zero_grad(&t->m);
                nn_model_backward(&t->m, dout);
                memcpy(g[p], t->m.grads, sizeof(float) * t->m.n_params);
            }
            if (only < 0) nn_grad_mean_ordered(t->m.grads, g[0], parts, t->m.n_params, 4096);
            nn_optim_step_params(&t->o, t->m.param_list, t->m.n_param_list);
        }
    }
}

typedef struct reduce_log {
    long calls;
    size_t n;
    int nonzero, fail_at;
} reduce_log;
static nn_result log_reduce(float *g, size_t n, void *ctx) {
    reduce_log *l = (reduce_log *)ctx;
    size_t i;
    l->calls++;
    l->n = n;
    for (i = 0; i < n; i++) l->nonzero += g[i] != 0.0f;
    return l->fail_at && l->calls == l->fail_at ? NN_ERR_IO : NN_OK;
}

static void test_fit_data_parallel(void) {
    nn_data d;
    int parts;
    make_data(5, 1.0f);
    memset(&d, 0, sizeof d);
    d.n = N; d.features = F; d.labels = g_y; d.x = g_x;
    for (parts = 2; parts <= 4; parts++) {
        net a, h, w, hw;
        nn_fit_desc fd = nn_fit_desc_default(3, B);
        nn_fit_result res;
        reduce_log lg;
        if (!CHECK(build(&a, 0, NN_OPTIM_ADAM, 0.01f) && build(&h, 0, NN_OPTIM_ADAM, 0.01f) &&
                   build(&w, 0, NN_OPTIM_ADAM, 0.01f) && build(&hw, 0, NN_OPTIM_ADAM, 0.01f)))
            return;
        fd.seed = 31;
        fd.drop_last = 1;
        /* accum: the slices' gradients meaned in order, the same bits as the hand loop */
        fd.accum = parts == 3 ? 1 : parts; /* B = 16: 2 and 4 divide it; 3 is refused below */
        if (parts != 3) {
            CHECKF(nn_fit(&a.m, &a.o, &a.a, &d, &fd, &res) == NN_OK, "accum %d: %s", parts, res.error);
            slices_loop(&h, &d, 3, 31, parts, -1);
            CHECKF(same_bits(a.m.params, h.m.params, a.m.n_params), "accum %d: nn_fit and nn_grad_mean_ordered differ",
                   parts);
            CHECK(a.o.step == 3 * (N / B));
            /* ...and not whole batches (the check can fail) */
            slices_loop(&hw, &d, 3, 31, 1, -1);
            CHECK(!same_bits(a.m.params, hw.m.params, a.m.n_params));
        }
        /* world: this worker's slice, the reduce hook once a step before the optimizer */
        fd.accum = 0;
        fd.world = parts == 3 ? 4 : parts;
        fd.rank = fd.world - 1;
        fd.reduce = log_reduce;
        memset(&lg, 0, sizeof lg);
        fd.reduce_ctx = &lg;
        CHECKF(nn_fit(&w.m, &w.o, &w.a, &d, &fd, &res) == NN_OK, "world %d: %s", fd.world, res.error);
        nn_arena_deinit(&hw.a);
        CHECK(build(&hw, 0, NN_OPTIM_ADAM, 0.01f));
        slices_loop(&hw, &d, 3, 31, fd.world, fd.rank);
        CHECKF(same_bits(w.m.params, hw.m.params, w.m.n_params), "world %d rank %d: not the slice's training", fd.world,
               fd.rank);
        CHECK(lg.calls == 3 * (N / B) && lg.n == w.m.n_params && lg.nonzero > 0);
        /* a failing reduction stops the run with its code and says so */
        memset(&lg, 0, sizeof lg);
        lg.fail_at = 5;
        CHECK_EQ_INT(nn_fit(&w.m, &w.o, &w.a, &d, &fd, &res), NN_ERR_IO);
        CHECKF(strstr(res.error, "reduction") != NULL && lg.calls == 5, "%s", res.error);
        {   /* ...with the gradients at 0, as nn_fit always returns them */
            size_t k, nz = 0;
            for (k = 0; k < w.m.n_params; k++) nz += w.m.grads[k] != 0.0f;
            CHECKF(nz == 0, "%lu gradients left nonzero", (unsigned long)nz);
        }
        nn_arena_deinit(&a.a);
        nn_arena_deinit(&h.a);
        nn_arena_deinit(&w.a);
        nn_arena_deinit(&hw.a);
    }
    /* what is refused: uneven slices, no drop_last, both at once, a rank outside */
    {
        net a;
        nn_fit_desc fd;
        nn_fit_result res;
        int k;
        if (!CHECK(build(&a, 0, NN_OPTIM_SGD, 0.01f))) return;
        for (k = 0; k < 6; k++) {
            fd = nn_fit_desc_default(1, B);
            fd.drop_last = 1;
            if (k == 0) fd.accum = 3;
            if (k == 1) { fd.accum = 2; fd.drop_last = 0; }
            if (k == 2) { fd.world = 2; fd.accum = 2; }
            if (k == 3) { fd.world = 2; fd.rank = 2; }
            if (k == 4) { fd.world = 2; fd.rank = -1; }
            if (k == 5) fd.world = -1;
            CHECKF(nn_fit(&a.m, &a.o, &a.a, &d, &fd, &res) == NN_ERR_INVALID_ARGUMENT, "case %d accepted", k);
        }
        /* a global batch over max_batch is fine when its slices fit */
        fd = nn_fit_desc_default(1, 64);
        fd.drop_last = 1;
        CHECK_EQ_INT(nn_fit(&a.m, &a.o, &a.a, &d, &fd, &res), NN_ERR_INVALID_ARGUMENT); /* max_batch 32 */
        fd.accum = 2;
        CHECKF(nn_fit(&a.m, &a.o, &a.a, &d, &fd, &res) == NN_OK, "%s", res.error);
        nn_arena_deinit(&a.a);
    }
}

/* Augmentation per worker: two ranks that see the same rows (each batch's
   second half a copy of its first, no shuffle) train alike without
   augmentation and apart with it (each draws its own flips). */
static void test_fit_augment_per_worker(void) {
    static float x[64 * F];
    static int y[64];
    nn_layer_desc l[2];
    nn_model_desc md;
    nn_augment_desc ad = nn_augment_desc_default();
    float w[2][2][4096];
    int aug, rank, i;
    size_t n = 0;
    make_data(9, 1.0f);
    for (i = 0; i < 64; i++) { /* rows 8k..8k+7 repeat in 8k+8..8k+15 */
        int src = (i / 16) * 8 + i % 8;
        memcpy(x + i * F, g_x + src * F, sizeof(float) * F);
        y[i] = g_y[src];
    }
    ad.flip_p = 0.5f;
    for (aug = 0; aug < 2; aug++)
        for (rank = 0; rank < 2; rank++) {
            nn_arena a;
            nn_model m;
            nn_optim o;
            nn_optim_desc od = nn_optim_desc_default(NN_OPTIM_SGD);
            nn_data d;
            nn_fit_desc fd = nn_fit_desc_default(3, 16);
            nn_fit_result res;
            l[0] = nn_dense(9, NN_ACT_RELU);
            l[1] = nn_dense(K, NN_ACT_IDENTITY);
            memset(&md, 0, sizeof md);
            md.inputs = F; md.max_batch = 8; md.layers = l; md.n_layers = 2; md.seed = 4;
            md.input_shape[0] = 1; md.input_shape[1] = 1; md.input_shape[2] = F;
            od.lr = 0.05f;
            if (!CHECK(nn_arena_init_heap(&a, nn_model_arena_bytes(&md) + nn_optim_arena_bytes(&od, 1000) + (1 << 16)) ==
                       NN_OK) || !CHECK(nn_model_init(&m, &a, &md) == NN_OK && nn_optim_init(&o, &a, &od, m.n_params) == NN_OK))
                return;
            memset(&d, 0, sizeof d);
            d.n = 64; d.features = F; d.x = x; d.labels = y;
            fd.shuffle = 0;
            fd.drop_last = 1;
            fd.world = 2;
            fd.rank = rank;
            fd.augment = aug ? &ad : NULL;
            CHECKF(nn_fit(&m, &o, &a, &d, &fd, &res) == NN_OK, "%s", res.error);
            n = m.n_params;
            memcpy(w[aug][rank], m.params, sizeof(float) * n);
            nn_arena_deinit(&a);
        }
    CHECK(same_bits(w[0][0], w[0][1], n));  /* the same rows, no augmentation: the same training */
    CHECK(!same_bits(w[1][0], w[1][1], n)); /* each rank its own flips */
}

/* nn_rng_jump: a stream of its own that commutes with drawing (what resuming a
   data-parallel run relies on), the same every time */
static void test_rng_jump(void) {
    nn_rng a, b, c, d;
    uint64_t first[64];
    int i, j, shared = 0;
    nn_rng_seed(&a, 99);
    b = a;
    for (i = 0; i < 1000; i++) (void)nn_rng_u64(&a);
    nn_rng_jump(&a);            /* draw, then jump */
    nn_rng_jump(&b);            /* jump, then draw */
    c = b;
    for (i = 0; i < 1000; i++) (void)nn_rng_u64(&b);
    CHECK(memcmp(&a, &b, sizeof a) == 0);
    nn_rng_seed(&a, 99);
    for (i = 0; i < 64; i++) first[i] = nn_rng_u64(&a);
    d = c;
    for (i = 0; i < 64; i++) {
        uint64_t v = nn_rng_u64(&d);
        for (j = 0; j < 64; j++) shared += v == first[j];
    }
    CHECK(shared == 0);
    nn_rng_seed(&a, 99);
    nn_rng_seed(&b, 99);
    nn_rng_jump(&a);
    nn_rng_jump(&b);
    CHECK(memcmp(&a, &b, sizeof a) == 0 && memcmp(&a, &c, sizeof a) == 0);
    nn_rng_jump(&b);
    CHECK(memcmp(&a, &b, sizeof a) != 0);
}

static const test_case tests[] = {
    TEST(test_fit_views),
    TEST(test_fit_matches_hand_loop),
    TEST(test_fit_early_stopping_restores_best),
    TEST(test_fit_callbacks_and_schedules),
    TEST(test_fit_nonfinite_names_layer),
    TEST(test_fit_refusals),
    TEST(test_fit_data_parallel),
    TEST(test_fit_augment_per_worker),
    TEST(test_rng_jump),
};

int main(int argc, char **argv) { return TEST_MAIN(argc, argv, tests); }
