/* hparam_search.c - choosing hyperparameters by search, not by hand.

   cc -O2 examples/hparam_search.c -o hparam_search -lm && ./hparam_search
   ./hparam_search halving          (or grid, random, c2f, tpe; default tpe)

   What it teaches: a search space over everything a training run takes (learning
   rate and weight decay on a log scale, weight decay and dropout including exactly 0,
   width, depth, batch size and the optimizer itself as choices); an objective that
   builds, trains and scores one configuration by 5-fold cross-validation (178 rows
   are too few for one validation split: a single split rewards luck); five search
   methods, from the grid the course starts with to TPE (the algorithm Optuna uses by
   default) and successive halving (many configurations on a few epochs, the best
   continued); every trial written to a CSV file; and the test rows touched once, by
   the winner alone, retrained on every other row.
   Usage: hparam_search [grid|random|c2f|halving|tpe] [trials, default 30] [file.csv]
                        [trials CSV out, default build/hparam_trials.csv]
   Data: examples/data/wine.csv (178 wines, 13 measurements, 3 cultivars; from
   Debian's python3-sklearn, see examples/data/README). */
#define NN_IMPLEMENTATION
#include "../nn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SEED 7

#define FOLDS 5

/* what every trial shares: the data, the test rows held out, the folds of the rest */
typedef struct study {
    nn_csv csv;
    nn_data all;
    int classes;
    int *dev, n_dev, *test, n_test; /* rows for the search, rows for the end */
    int *fold_of, *tr, *va;         /* fold of each dev row; scratch row lists */
    nn_prep prep;                   /* standardization, refitted on each training part */
    nn_arena prep_arena;
} study;

enum { D_LR, D_WD, D_WIDTH, D_DEPTH, D_DROPOUT, D_BATCH, D_OPTIM, N_DIMS };

/* Builds the network a trial describes and trains it for t->budget epochs on the
   rows tr (standardization fitted on them alone); returns the loss on the rows va
   after the last epoch. acc, when not NULL, gets the accuracy on va. */
static double train_one(study *s, const nn_hp_trial *t, const int *tr, int n_tr, const int *va, int n_va,
                        double *acc) {
    nn_layer_desc layers[8];
    nn_model_desc md;
    nn_optim_desc od = nn_optim_desc_default((nn_optim_kind)(int)t->x[D_OPTIM]);
    nn_fit_desc fd;
    nn_fit_result res;
    nn_fit_epoch hist[1024];
    nn_data train = s->all, val = s->all;
    nn_model net;
    nn_optim opt;
    nn_arena arena;
    int depth = (int)t->x[D_DEPTH], width = (int)t->x[D_WIDTH], n = 0, i;
    double score;
    for (i = 0; i < depth; i++) {
        layers[n++] = nn_dense(width, NN_ACT_RELU);
        if (t->x[D_DROPOUT] > 0.0) layers[n++] = nn_dropout((float)t->x[D_DROPOUT]);
    }
    layers[n++] = nn_dense(s->classes, NN_ACT_IDENTITY);
    memset(&md, 0, sizeof md);
    md.inputs = s->csv.cols; md.max_batch = 64; md.layers = layers; md.n_layers = n; md.seed = SEED;
    od.lr = (float)t->x[D_LR];
    od.weight_decay = (float)t->x[D_WD]; /* 0 is a value: no decay at all */
    if (od.kind == NN_OPTIM_SGD) od.momentum = 0.9f;
    train.rows = tr; train.n_rows = n_tr;
    val.rows = va; val.n_rows = n_va;
    if (t->budget > 1024 || nn_prep_fit_standardize_data(&s->prep, &train) != NN_OK ||
        nn_arena_init_heap(&arena, nn_model_arena_bytes(&md) + nn_optim_arena_bytes(&od, nn_model_param_count(&md)) +
                                       (1 << 20)) != NN_OK)
        return NAN;
    if (nn_model_init(&net, &arena, &md) != NN_OK || nn_optim_init(&opt, &arena, &od, net.n_params) != NN_OK) {
        nn_arena_deinit(&arena);
        return NAN;
    }
    fd = nn_fit_desc_default((int)t->budget, (int)t->x[D_BATCH]);
    fd.seed = SEED;
    fd.val = &val;
    fd.prep = &s->prep;
    fd.patience = -1; /* all the epochs the budget gives: no peeking at the held-out rows */
    fd.history = hist;
    fd.history_cap = 1024;
    score = nn_fit(&net, &opt, &arena, &train, &fd, &res) == NN_OK ? (double)hist[res.epochs_run - 1].val_loss : NAN;
    if (acc) *acc = res.epochs_run > 0 ? (double)hist[res.epochs_run - 1].val_acc : NAN;
    nn_arena_deinit(&arena);
    return score;
}

/* The search calls this once per trial: the mean validation loss of 5 folds (lower
   is better). */
static double objective(void *user, const nn_hp_trial *t) {
    study *s = (study *)user;
    double v = 0.0;
    int k, i, ntr, nva;
    for (k = 0; k < FOLDS; k++) {
        nn_kfold_indices(s->fold_of, s->n_dev, k, s->tr, &ntr, s->va, &nva);
        for (i = 0; i < ntr; i++) s->tr[i] = s->dev[s->tr[i]]; /* fold positions to data rows */
        for (i = 0; i < nva; i++) s->va[i] = s->dev[s->va[i]];
        v += train_one(s, t, s->tr, ntr, s->va, nva, NULL) / FOLDS;
    }
    printf("  trial %3d  budget %3.0f  lr %.2e  wd %.1e  width %3.0f  depth %.0f  dropout %.2f  batch %2.0f  %-5s"
           "  5-fold loss %.4f\n",
           t->id, t->budget, t->x[D_LR], t->x[D_WD], t->x[D_WIDTH], t->x[D_DEPTH], t->x[D_DROPOUT], t->x[D_BATCH],
           t->x[D_OPTIM] == NN_OPTIM_SGD ? "sgd" : t->x[D_OPTIM] == NN_OPTIM_ADAM ? "adam" : "adamw", v);
    return v;
}

int main(int argc, char **argv) {
    static const double depths[3] = {1, 2, 3}, dropouts[4] = {0.0, 0.1, 0.25, 0.5}, batches[3] = {8, 16, 32};
    static const double optims[3] = {NN_OPTIM_SGD, NN_OPTIM_ADAM, NN_OPTIM_ADAMW};
    static const char *const optim_names[3] = {"sgd", "adam", "adamw"};
    const char *method_name = argc > 1 ? argv[1] : "tpe", *file = argc > 3 ? argv[3] : "examples/data/wine.csv";
    const char *out = argc > 4 ? argv[4] : "build/hparam_trials.csv";
    int trials = argc > 2 ? atoi(argv[2]) : 30, *idx, *dev_labels, nt, nv, ns, need, i;
    static study s;
    nn_hp_dim dims[N_DIMS];
    nn_hp_search_desc d;
    nn_hp_method method;
    nn_hp_trial *t;
    nn_hp_result res;
    nn_csv_desc cd = nn_csv_desc_default();
    double test_acc = 0.0;
    FILE *f;

    if (!strcmp(method_name, "grid")) method = NN_HP_GRID;
    else if (!strcmp(method_name, "random")) method = NN_HP_RANDOM;
    else if (!strcmp(method_name, "c2f")) method = NN_HP_COARSE_TO_FINE;
    else if (!strcmp(method_name, "halving")) method = NN_HP_HALVING;
    else if (!strcmp(method_name, "tpe")) method = NN_HP_TPE;
    else method = (nn_hp_method)0;
    if (argc > 5 || !method || trials < 1 || trials > 1000) {
        fprintf(stderr, "usage: hparam_search [grid|random|c2f|halving|tpe] [trials 1-1000] [file.csv] [out.csv]\n");
        return 2;
    }

    /* 1. The data: 20% held out for the end; the rest in 5 stratified folds. */
    memset(&s.csv, 0, sizeof s.csv);
    cd.label_name = "label";
    if (nn_csv_load(&s.csv, &cd, file) != NN_OK || !s.csv.labels || s.csv.cols > 64) {
        fprintf(stderr, "error: %s: %s\n", file, s.csv.error[0] ? s.csv.error : "needs a label column, <= 64 features");
        return 1;
    }
    s.classes = s.csv.n_classes;
    memset(&s.all, 0, sizeof s.all);
    s.all.n = s.csv.rows; s.all.features = s.csv.cols; s.all.x = s.csv.x; s.all.labels = s.csv.labels;
    idx = (int *)malloc(sizeof(int) * (size_t)s.csv.rows);
    dev_labels = (int *)malloc(sizeof(int) * (size_t)s.csv.rows);
    s.fold_of = (int *)malloc(sizeof(int) * (size_t)s.csv.rows);
    s.tr = (int *)malloc(sizeof(int) * (size_t)s.csv.rows);
    s.va = (int *)malloc(sizeof(int) * (size_t)s.csv.rows);
    if (!idx || !dev_labels || !s.fold_of || !s.tr || !s.va ||
        nn_split(idx, s.csv.rows, s.csv.labels, s.classes, 0.0f, 0.2f, SEED, &nt, &nv, &ns) != NN_OK)
        return 1;
    s.dev = idx; s.n_dev = nt;
    s.test = idx + nt + nv; s.n_test = ns;
    for (i = 0; i < s.n_dev; i++) dev_labels[i] = s.csv.labels[s.dev[i]];
    if (nn_kfold(s.fold_of, s.n_dev, FOLDS, dev_labels, s.classes, SEED) != NN_OK) return 1;
    if (nn_arena_init_heap(&s.prep_arena, nn_prep_arena_bytes(s.csv.cols, 0)) != NN_OK) return 1;
    memset(&s.prep, 0, sizeof s.prep);
    if (nn_prep_init(&s.prep, &s.prep_arena, s.csv.cols, 0) != NN_OK) return 1;
    printf("%s: %d rows (%d for the search in %d folds, %d for the end), %d features, %d classes\n", file,
           s.csv.rows, s.n_dev, FOLDS, s.n_test, s.csv.cols, s.classes);

    /* 2. The space. Log scales where a factor matters more than a difference; 0 is
       reachable where "none" is a sensible answer (weight decay by zero_p, dropout
       as a choice). */
    dims[D_LR] = nn_hp_log_uniform("lr", 1e-4, 0.3, 0.0);
    dims[D_WD] = nn_hp_log_uniform("weight_decay", 1e-6, 1e-1, 0.25);
    dims[D_WIDTH] = nn_hp_int("width", 4, 128);
    dims[D_DEPTH] = nn_hp_choice("depth", 3, depths, NULL);
    dims[D_DROPOUT] = nn_hp_choice("dropout", 4, dropouts, NULL);
    dims[D_BATCH] = nn_hp_choice("batch", 3, batches, NULL);
    dims[D_OPTIM] = nn_hp_choice("optimizer", 3, optims, optim_names);
    if (method == NN_HP_GRID) {
        /* a grid multiplies: 2 x 2 x 2 x 3 x 4 x 3 x 3 = 1728 at full size; keep it small */
        dims[D_LR].grid = 3;
        dims[D_WD].grid = 1;    /* 1e-6 .. 1e-1 collapses to its middle, plus 0 */
        dims[D_WIDTH].grid = 2;
        dims[D_DEPTH].n_choices = dims[D_DEPTH].grid = 2;
        dims[D_DROPOUT].n_choices = 2;
        dims[D_BATCH].n_choices = 1;
        dims[D_OPTIM].n_choices = 2;
    }

    /* 3. The search. Budgets are epochs: 40 each, or from 5 up by halving. */
    d = nn_hp_search_desc_default(method);
    d.trials = method == NN_HP_COARSE_TO_FINE ? (trials + 2) / 3 : trials;
    d.budget = method == NN_HP_HALVING ? 3 : 40;
    d.seed = SEED;
    need = nn_hp_search_count(dims, N_DIMS, &d);
    t = (nn_hp_trial *)malloc(sizeof(nn_hp_trial) * (size_t)(need > 0 ? need : 1));
    if (!t) return 1;
    printf("%s search, %d trials:\n", method_name, need);
    if (nn_hp_search(dims, N_DIMS, &d, objective, &s, t, need, &res) != NN_OK) {
        fprintf(stderr, "error: %s\n", res.error);
        return 1;
    }

    /* 4. Every trial as CSV, then the winner on the test rows (the only time they are used). */
    f = fopen(out, "w");
    if (f && nn_hp_trials_csv(dims, N_DIMS, t, res.n_trials, f) == NN_OK) printf("wrote %s\n", out);
    if (f) fclose(f);
    {
        const nn_hp_trial *b = &t[res.best];
        double v = train_one(&s, b, s.dev, s.n_dev, s.test, s.n_test, &test_acc);
        printf("\nbest of %d trials (#%d): lr %.3g, weight decay %.3g, width %.0f, depth %.0f, dropout %.2f, batch %.0f, "
               "%s, %.0f epochs; 5-fold loss %.4f\n", res.n_trials, b->id, b->x[D_LR], b->x[D_WD], b->x[D_WIDTH],
               b->x[D_DEPTH], b->x[D_DROPOUT], b->x[D_BATCH], optim_names[b->choice[D_OPTIM]], b->budget, b->score);
        printf("retrained on all %d search rows: test loss %.4f, test accuracy %.1f%% (%d rows, used once)\n", s.n_dev,
               v, 100.0 * test_acc, s.n_test);
    }
    free(t);
    free(idx);
    free(dev_labels);
    free(s.fold_of);
    free(s.tr);
    free(s.va);
    nn_arena_deinit(&s.prep_arena);
    nn_csv_free(&s.csv);
    return 0;
}
