/* kfold.c - 5-fold cross-validation of two network configurations.

   cc -O2 examples/kfold.c -o kfold -lm && ./kfold [file.csv, default examples/data/wine.csv]

   What it teaches: with little data a single validation split is noisy; k-fold
   cross-validation trains k models, each tested on the fold it did not see, and
   reports the mean and the spread of the metric, which is what compares two
   configurations fairly. Each fold fits its own standardization on its own
   training rows (fitting it on all rows would leak the held-out fold into the
   model), and the held-out fold is never used to pick an epoch: every run trains
   a fixed number of epochs. Stratified folds keep the class proportions. */
#define NN_IMPLEMENTATION
#include "../nn.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FOLDS 5
#define SEED 11

typedef struct config {
    const char *name;
    int hidden1, hidden2; /* 0: no such layer */
    float dropout, weight_decay, lr;
    int epochs;
} config;

/* Trains one configuration on train, returns its accuracy on test. */
static double run_fold(const config *cf, const nn_data *train, const nn_data *test, int K, int fold) {
    nn_layer_desc layers[5];
    nn_model_desc md;
    nn_optim_desc od = nn_optim_desc_default(NN_OPTIM_ADAMW);
    nn_fit_desc fd;
    nn_fit_result res;
    nn_model net;
    nn_optim opt;
    nn_prep prep;
    nn_arena arena;
    int nl = 0, i, correct = 0, F = train->features;
    layers[nl++] = nn_dense(cf->hidden1, NN_ACT_RELU);
    if (cf->dropout > 0.0f) layers[nl++] = nn_dropout(cf->dropout);
    if (cf->hidden2) layers[nl++] = nn_dense(cf->hidden2, NN_ACT_RELU);
    layers[nl++] = nn_dense(K, NN_ACT_IDENTITY);
    memset(&md, 0, sizeof md);
    md.inputs = F; md.max_batch = 32; md.layers = layers; md.n_layers = nl; md.seed = SEED + (uint64_t)fold;
    od.lr = cf->lr;
    od.weight_decay = cf->weight_decay;
    if (nn_arena_init_heap(&arena, nn_model_arena_bytes(&md) + nn_optim_arena_bytes(&od, nn_model_param_count(&md)) +
                                       nn_prep_arena_bytes(F, 0) + (1 << 18)) != NN_OK)
        return NAN;
    memset(&prep, 0, sizeof prep);
    if (nn_model_init(&net, &arena, &md) != NN_OK || nn_optim_init(&opt, &arena, &od, net.n_params) != NN_OK ||
        nn_prep_init(&prep, &arena, F, 0) != NN_OK || nn_prep_fit_standardize_data(&prep, train) != NN_OK)
        return NAN;
    fd = nn_fit_desc_default(cf->epochs, 16);
    fd.seed = SEED + (uint64_t)fold;
    fd.prep = &prep;
    if (nn_fit(&net, &opt, &arena, train, &fd, &res) != NN_OK) {
        fprintf(stderr, "error: %s\n", res.error);
        return NAN;
    }
    nn_model_set_mode(&net, NN_MODE_EVAL);
    for (i = 0; i < test->n_rows; i++) {
        float x[256], xin[256];
        int lab = 0, pred = 0;
        nn_tensor y;
        nn_data_gather(test, &test->rows[i], 1, x, &lab, NULL);
        nn_prep_apply(&prep, nn_tensor_2d(xin, 1, F), nn_tensor_2d(x, 1, F));
        y = nn_model_forward(&net, nn_tensor_2d(xin, 1, F));
        nn_argmax_rows(&pred, y.data, 1, K);
        correct += pred == lab;
    }
    nn_arena_deinit(&arena);
    return (double)correct / test->n_rows;
}

int main(int argc, char **argv) {
    static const config configs[2] = {
        {"small: 8 hidden units, no regularization", 8, 0, 0.0f, 0.0f, 1e-2f, 60},
        {"wider: 64-32, dropout 0.3, weight decay 0.05", 64, 32, 0.3f, 0.05f, 3e-3f, 60},
    };
    const char *file = argc > 1 ? argv[1] : "examples/data/wine.csv";
    nn_csv_desc cd = nn_csv_desc_default();
    nn_csv csv;
    nn_data all, train, test;
    int *fold, *tr, *te, c, f, ntr, nte;
    memset(&csv, 0, sizeof csv);
    cd.label_name = "label";
    if (nn_csv_load(&csv, &cd, file) != NN_OK || !csv.labels || csv.cols > 256) {
        fprintf(stderr, "error: %s: %s\n", file, csv.error[0] ? csv.error : "needs integer labels, <= 256 features");
        return 1;
    }
    fold = (int *)malloc(sizeof(int) * (size_t)csv.rows * 3);
    if (!fold) return 1;
    tr = fold + csv.rows;
    te = tr + csv.rows;
    if (nn_kfold(fold, csv.rows, FOLDS, csv.labels, csv.n_classes, SEED) != NN_OK) return 1;
    memset(&all, 0, sizeof all);
    all.n = csv.rows; all.features = csv.cols; all.x = csv.x; all.labels = csv.labels;
    printf("%s: %d rows, %d features, %d classes; %d stratified folds\n\n", file, csv.rows, csv.cols, csv.n_classes,
           FOLDS);
    for (c = 0; c < 2; c++) {
        double acc[FOLDS], mean = 0.0, var = 0.0;
        printf("%s\n  folds:", configs[c].name);
        for (f = 0; f < FOLDS; f++) {
            nn_kfold_indices(fold, csv.rows, f, tr, &ntr, te, &nte);
            train = all; train.rows = tr; train.n_rows = ntr;
            test = all; test.rows = te; test.n_rows = nte;
            acc[f] = run_fold(&configs[c], &train, &test, csv.n_classes, f);
            mean += acc[f] / FOLDS;
            printf(" %.3f", acc[f]);
            fflush(stdout);
        }
        for (f = 0; f < FOLDS; f++) var += (acc[f] - mean) * (acc[f] - mean) / (FOLDS - 1);
        printf("\n  accuracy %.3f +- %.3f (mean +- sample std over %d folds)\n\n", mean, sqrt(var), FOLDS);
    }
    free(fold);
    nn_csv_free(&csv);
    return 0;
}
