/* csv_classify.c - a CSV file in, a validated classifier out.

   cc -O2 examples/csv_classify.c -o csv_classify -lm && ./csv_classify
   ./csv_classify examples/data/wine.csv label

   What it teaches: reading a numeric CSV with a header (the label column found by
   its name, errors that name the line and column), a stratified three-way split
   (train / validation / test), standardization fitted on the training rows only,
   early stopping on the validation loss, per-class precision, recall and F1 on the
   test rows, and a model file that carries its preprocessing.
   Usage: csv_classify [file.csv, default examples/data/breast_cancer.csv]
                       [label column name, default "label"] [model out, default build/csv_model.nnw]
   The data sets in examples/data come from Debian's python3-sklearn (see its README). */
#define NN_IMPLEMENTATION
#include "../nn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SEED 7

int main(int argc, char **argv) {
    const char *file = argc > 1 ? argv[1] : "examples/data/breast_cancer.csv";
    const char *label = argc > 2 ? argv[2] : "label";
    const char *out = argc > 3 ? argv[3] : "build/csv_model.nnw";
    nn_csv_desc cd = nn_csv_desc_default();
    nn_csv csv;
    nn_data all, train, val;
    nn_layer_desc layers[3];
    nn_model_desc md;
    nn_optim_desc od = nn_optim_desc_default(NN_OPTIM_ADAM);
    nn_fit_desc fd;
    nn_fit_result res;
    nn_model net;
    nn_optim opt;
    nn_prep prep;
    nn_meta meta;
    nn_train_state st;
    nn_arena arena;
    int *idx, nt, nv, ns, K, i, c, counts[64 * 64], sup[64];
    float macro[3] = {0, 0, 0}, weighted[3] = {0, 0, 0}, pr[64], rc[64], f1[64];

    if (argc > 4) {
        fprintf(stderr, "usage: csv_classify [file.csv] [label column] [model out]\n");
        return 2;
    }
    /* 1. The CSV: delimiter and header detected, the label column by name. */
    memset(&csv, 0, sizeof csv);
    cd.label_name = label;
    if (nn_csv_load(&csv, &cd, file) != NN_OK) {
        fprintf(stderr, "error: %s: %s\n", file, csv.error);
        return 1;
    }
    if (!csv.labels || csv.n_classes < 2 || csv.n_classes > 64) {
        fprintf(stderr, "error: %s: the column \"%s\" must hold class indices 0..K-1 (2 <= K <= 64)\n", file, label);
        return 1;
    }
    K = csv.n_classes;
    printf("%s: %d rows, %d features (%s, %s, ...), %d classes\n", file, csv.rows, csv.cols,
           csv.names ? csv.names[0] : "?", csv.cols > 1 && csv.names ? csv.names[1] : "?", K);

    /* 2. 60% train, 20% validation, 20% test; every class in each part in proportion. */
    idx = (int *)malloc(sizeof(int) * (size_t)csv.rows);
    if (!idx || nn_split(idx, csv.rows, csv.labels, K, 0.2f, 0.2f, SEED, &nt, &nv, &ns) != NN_OK) return 1;
    memset(&all, 0, sizeof all);
    all.n = csv.rows; all.features = csv.cols; all.x = csv.x; all.labels = csv.labels;
    train = all; train.rows = idx; train.n_rows = nt;
    val = all; val.rows = idx + nt; val.n_rows = nv;
    printf("split: %d train, %d validation, %d test rows\n", nt, nv, ns);

    /* 3. A small MLP; standardization from the training rows alone. */
    layers[0] = nn_dense(32, NN_ACT_RELU);
    layers[1] = nn_dropout(0.2f);
    layers[2] = nn_dense(K, NN_ACT_IDENTITY);
    memset(&md, 0, sizeof md);
    md.inputs = csv.cols; md.max_batch = 64; md.layers = layers; md.n_layers = 3; md.seed = SEED;
    od.lr = 3e-3f;
    if (nn_arena_init_heap(&arena, nn_model_arena_bytes(&md) + nn_optim_arena_bytes(&od, nn_model_param_count(&md)) +
                                       nn_prep_arena_bytes(csv.cols, 0) + (1 << 20)) != NN_OK)
        return 1;
    memset(&prep, 0, sizeof prep);
    if (nn_model_init(&net, &arena, &md) != NN_OK || nn_optim_init(&opt, &arena, &od, net.n_params) != NN_OK ||
        nn_prep_init(&prep, &arena, csv.cols, 0) != NN_OK || nn_prep_fit_standardize_data(&prep, &train) != NN_OK) {
        fprintf(stderr, "error: set-up: %s%s%s\n", net.error, opt.error, prep.error);
        return 1;
    }

    /* 4. Train with early stopping on the validation loss; keep the best epoch. */
    meta = nn_meta_make(file);
    memset(&st, 0, sizeof st);
    st.prep = &prep;
    st.meta = &meta;
    fd = nn_fit_desc_default(300, 16);
    fd.seed = SEED;
    fd.val = &val;
    fd.prep = &prep;
    fd.patience = 20;
    fd.restore_best = 1;
    fd.meta = &meta;
    if (nn_fit(&net, &opt, &arena, &train, &fd, &res) != NN_OK) {
        fprintf(stderr, "error: %s\n", res.error);
        return 1;
    }
    printf("trained %d epochs (%s); best validation loss %.4f at epoch %d\n", res.epochs_run,
           res.stop == NN_FIT_EARLY_STOP ? "early stop" : "all", (double)res.best, res.best_epoch);

    /* 5. The test rows, once. */
    memset(counts, 0, sizeof counts);
    nn_model_set_mode(&net, NN_MODE_EVAL);
    for (i = 0; i < ns; i++) {
        float x[4096], xin[4096];
        int row = idx[nt + nv + i], lab = 0, pred = 0;
        nn_tensor y;
        if (csv.cols > 4096) return 1;
        nn_data_gather(&all, &row, 1, x, &lab, NULL);
        nn_prep_apply(&prep, nn_tensor_2d(xin, 1, csv.cols), nn_tensor_2d(x, 1, csv.cols));
        y = nn_model_forward(&net, nn_tensor_2d(xin, 1, csv.cols));
        nn_argmax_rows(&pred, y.data, 1, K);
        nn_confusion_add(counts, &pred, &lab, 1, K);
    }
    nn_class_report(counts, K, pr, rc, f1, sup, macro, weighted);
    printf("\n%-6s %9s %9s %9s %8s\n", "class", "precision", "recall", "F1", "support");
    for (c = 0; c < K; c++) printf("%-6d %9.3f %9.3f %9.3f %8d\n", c, (double)pr[c], (double)rc[c], (double)f1[c], sup[c]);
    {
        int correct = 0;
        for (c = 0; c < K; c++) correct += counts[c * K + c];
        printf("test accuracy: %.2f%% (%d of %d), macro F1 %.3f\n", 100.0 * correct / ns, correct, ns, (double)macro[2]);
    }

    /* 6. The model, its standardization and where it came from, in one file. */
    if (nn_model_save(&net, &st, out) != NN_OK) {
        fprintf(stderr, "error: cannot write %s\n", out);
        return 1;
    }
    printf("saved %s\n", out);
    free(idx);
    nn_csv_free(&csv);
    nn_arena_deinit(&arena);
    return 0;
}
