/* fashion_mnist.c - the flagship: Fashion-MNIST from its IDX files to a validated,
   saved model, with pictures.

   cc -O2 examples/fashion_mnist.c -o fashion_mnist -lm && ./fashion_mnist
   (`make demo` installs the data set and the stb headers, then runs it)

   What it teaches, in order:
     1. the data stay as bytes (47 MB, not 188 MB of floats); batches become floats
        one at a time (nn_data with a 256-entry table);
     2. a stratified validation split (nn_split) held out of the training set, and
        per-pixel standardization fitted on the training part only;
     3. an MLP with BatchNorm and Dropout between its dense layers;
     4. AdamW, ReduceLROnPlateau on the validation accuracy, early stopping that
        restores the best epoch's weights, all through nn_fit, with a progress bar;
     5. the test set touched once, at the end: accuracy, per-class report, a
        confusion matrix, learning curves (PNG, examples/nn_plot.h);
     6. the best model saved with its preprocessing and provenance, so that
        examples/classify_image.c classifies PNG files exactly as trained;
     7. threads: the model's GEMMs on a pool (nn_threads), which uses its
        workers only where they pay; the weights are the same bits with any
        thread count.
   Usage: fashion_mnist [max-epochs 1-500, default 60] [out-dir, default build]
                        [threads 1-64, default 2]
   Files written to out-dir: fashion_mnist.nnw, fashion_mnist_curves.png,
   fashion_mnist_confusion.png, fashion_mnist_history.csv.                     */
#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_PNG /* only its zlib decoder is needed here */
#include <stb/stb_image.h>

#define NN_IMPLEMENTATION
#include "../nn.h"
#define NN_PLOT_IMPLEMENTATION
#include "nn_plot.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DATA_DIR "/usr/share/datasets/fashion-mnist"
#define BATCH 128
#define SEED 2026

static const char *class_names[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                      "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

/* nn.h brings no decompressor: plug in stb's. */
static nn_result stb_inflate(void *dst, size_t dst_len, const void *src, size_t src_len) {
    int n;
    if (dst_len > INT_MAX || src_len > INT_MAX) return NN_ERR_TOO_LARGE;
    n = stbi_zlib_decode_noheader_buffer((char *)dst, (int)dst_len, (const char *)src, (int)src_len);
    return n == (int)dst_len ? NN_OK : NN_ERR_CORRUPT;
}

static int load(nn_idx *out, const char *name, int rank) {
    char path[1024];
    nn_result r;
    snprintf(path, sizeof path, "%s/%s", DATA_DIR, name);
    r = nn_idx_load(out, path, stb_inflate);
    if (r != NN_OK) {
        fprintf(stderr, "error: %s: %s\n", path, nn_result_string(r));
        if (r == NN_ERR_IO) fprintf(stderr, "  (install it with: apt-get install dataset-fashion-mnist)\n");
        return 0;
    }
    if (out->rank != rank || (rank == 3 && (out->dims[1] != 28 || out->dims[2] != 28))) {
        fprintf(stderr, "error: %s: unexpected shape\n", path);
        return 0;
    }
    return 1;
}

static int parse_int(const char *s, int lo, int hi, int *out) {
    char *end;
    long v;
    if (*s < '0' || *s > '9') return 0;
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || *end || v < lo || v > hi) return 0;
    *out = (int)v;
    return 1;
}

int main(int argc, char **argv) {
    nn_idx train_x, train_y, test_x, test_y;
    const char *out_dir = argc > 2 ? argv[2] : "build";
    int max_epochs = 60, n_threads = 2, n, n_test, *labels, *test_labels, *idx, nt, nv, i;
    long gemm_calls = 0, gemm_parallel = 0;
    nn_threads *threads;
    float table[256];
    nn_data all, train, val;
    nn_layer_desc layers[10];
    nn_model_desc md;
    nn_optim_desc od;
    nn_sched_desc sd;
    nn_fit_desc fd;
    nn_fit_result res;
    nn_fit_epoch history[500];
    nn_model net;
    nn_optim opt;
    nn_sched plateau;
    nn_prep prep;
    nn_meta meta;
    nn_train_state st;
    nn_arena arena;
    size_t bytes;
    char path[1024], text[2048];

    if (argc > 4 || (argc > 1 && !parse_int(argv[1], 1, 500, &max_epochs)) ||
        (argc > 3 && !parse_int(argv[3], 1, NN_MAX_THREADS, &n_threads))) {
        fprintf(stderr, "usage: fashion_mnist [max-epochs 1-500, default 60] [out-dir, default build] "
                        "[threads 1-%d, default 2]\n", NN_MAX_THREADS);
        return 2;
    }
    if (!load(&train_x, "train-images-idx3-ubyte.gz", 3) || !load(&train_y, "train-labels-idx1-ubyte.gz", 1) ||
        !load(&test_x, "t10k-images-idx3-ubyte.gz", 3) || !load(&test_y, "t10k-labels-idx1-ubyte.gz", 1))
        return 1;
    n = train_x.dims[0];
    n_test = test_x.dims[0];
    if (train_y.dims[0] != n || test_y.dims[0] != n_test) {
        fprintf(stderr, "error: image and label counts differ\n");
        return 1;
    }
    labels = (int *)malloc(sizeof(int) * (size_t)n);
    test_labels = (int *)malloc(sizeof(int) * (size_t)n_test);
    idx = (int *)malloc(sizeof(int) * (size_t)n);
    if (!labels || !test_labels || !idx) return 1;
    for (i = 0; i < n; i++) labels[i] = train_y.data[i];
    for (i = 0; i < n_test; i++) test_labels[i] = test_y.data[i];

    /* 1. The images stay bytes; the table turns a byte into [0, 1] as ToTensor does. */
    nn_u8_table_normalize(table, 255.0f, 0.0f, 1.0f);
    memset(&all, 0, sizeof all);
    all.n = n; all.features = 784; all.x_u8 = train_x.data; all.table = table; all.labels = labels;

    /* 2. 10% of the training set, stratified, for validation; the test set is
       not looked at until the end. Standardization (each pixel to mean 0, std 1)
       is fitted on the training part only. */
    if (nn_split(idx, n, labels, 10, 0.1f, 0.0f, SEED, &nt, &nv, NULL) != NN_OK) return 1;
    train = all; train.rows = idx; train.n_rows = nt;
    val = all; val.rows = idx + nt; val.n_rows = nv;

    /* 3. dense -> batch norm -> ReLU -> dropout, twice, then the logits */
    layers[0] = nn_dense(512, NN_ACT_IDENTITY);
    layers[1] = nn_batchnorm();
    layers[2] = nn_activation(NN_ACT_RELU);
    layers[3] = nn_dropout(0.3f);
    layers[4] = nn_dense(256, NN_ACT_IDENTITY);
    layers[5] = nn_batchnorm();
    layers[6] = nn_activation(NN_ACT_RELU);
    layers[7] = nn_dropout(0.3f);
    layers[8] = nn_dense(10, NN_ACT_IDENTITY);
    memset(&md, 0, sizeof md);
    md.inputs = 784; md.max_batch = 256; md.layers = layers; md.n_layers = 9; md.seed = SEED;
    od = nn_optim_desc_default(NN_OPTIM_ADAMW); /* lr 1e-3, weight decay 0.01 */

    /* One allocation: model, optimizer, preprocessing, and nn_fit's scratch. */
    bytes = nn_model_arena_bytes(&md) + nn_optim_arena_bytes(&od, nn_model_param_count(&md)) +
            nn_prep_arena_bytes(784, 0) + (size_t)4 * n * sizeof(int) + (size_t)(1 << 20) +
            (size_t)2 * nn_model_param_count(&md) * sizeof(float);
    if (nn_arena_init_heap(&arena, bytes) != NN_OK) return 1;
    memset(&prep, 0, sizeof prep);
    if (nn_model_init(&net, &arena, &md) != NN_OK || nn_optim_init(&opt, &arena, &od, net.n_params) != NN_OK ||
        nn_prep_init(&prep, &arena, 784, 0) != NN_OK || nn_prep_fit_standardize_data(&prep, &train) != NN_OK) {
        fprintf(stderr, "error: set-up: %s%s%s\n", net.error, opt.error, prep.error);
        return 1;
    }
    /* 7. A pool of n_threads (the caller included); NULL (one thread, or no
       threads on this system) is fine: the model then runs alone. */
    threads = n_threads > 1 ? nn_threads_create(n_threads) : NULL;
    net.threads = threads;
    nn_model_summary(&net, text, sizeof text);
    printf("%s", text);
    printf("train %d, validation %d, test %d images; batch %d; AdamW lr %g, weight decay %g; %s kernels, "
           "%d thread%s\n", nt, nv, n_test, BATCH, (double)od.lr, (double)od.weight_decay, nn_simd_name(),
           nn_threads_count(threads), nn_threads_count(threads) > 1 ? "s" : "");

    /* 4. Both watch the validation accuracy (the loss turns up early here, while
       the accuracy still climbs): ReduceLROnPlateau halves the lr when it has not
       improved for 3 epochs; early stopping ends the run after 8 such epochs and
       restores the best epoch's weights. */
    sd = nn_sched_desc_default(NN_SCHED_PLATEAU, od.lr);
    sd.mode_max = 1;
    sd.factor = 0.5;
    sd.patience = 3;
    if (nn_sched_init(&plateau, &sd) != NN_OK) return 1;
    meta = nn_meta_make("fashion-mnist mlp 512-256 bn dropout");
    memset(&st, 0, sizeof st);
    st.prep = &prep;
    st.meta = &meta;
    snprintf(path, sizeof path, "%s/fashion_mnist.nnw", out_dir);
    fd = nn_fit_desc_default(max_epochs, BATCH);
    fd.seed = SEED;
    fd.val = &val;
    fd.prep = &prep;
    fd.monitor = NN_MONITOR_VAL_ACCURACY;
    fd.patience = 8;
    fd.restore_best = 1;
    fd.sched = &plateau;
    fd.checkpoint = path; /* the best epoch, with its preprocessing and provenance */
    fd.checkpoint_state = &st;
    fd.meta = &meta;
    fd.history = history;
    fd.history_cap = max_epochs;
    fd.on_batch = nn_fit_progress;
    fd.on_epoch = nn_fit_progress;
    fd.user = stdout;
    if (nn_fit(&net, &opt, &arena, &train, &fd, &res) != NN_OK) {
        fprintf(stderr, "error: %s\n", res.error);
        return 1;
    }
    printf("%s after %d epochs; best: epoch %d, validation accuracy %.2f%% (weights restored, saved to %s)\n",
           res.stop == NN_FIT_EARLY_STOP ? "early stop" : "done", res.epochs_run, res.best_epoch, 100.0 * res.best,
           path);
    if (threads) {
        nn_threads_stats(threads, &gemm_calls, &gemm_parallel, NULL, NULL);
        printf("thread pool: %ld of %ld GEMMs ran on %d threads (the others alone, where that was faster)\n",
               gemm_parallel, gemm_calls, nn_threads_count(threads));
    }

    /* 5. The test set, once: accuracy, report, confusion matrix, curves. */
    {
        nn_data test;
        int counts[100] = {0}, rows[256], pred[256], lab[256], correct = 0, start, c, sup[10];
        float xraw[256 * 784], xin[256 * 784], pr[10], rc[10], f1[10], macro[3] = {0, 0, 0}, weighted[3] = {0, 0, 0};
        float tl[500], vl[500], ta[500], va[500];
        nn_plot_series s[4];
        FILE *f;
        memset(&test, 0, sizeof test);
        test.n = n_test; test.features = 784; test.x_u8 = test_x.data; test.table = table; test.labels = test_labels;
        nn_model_set_mode(&net, NN_MODE_EVAL);
        for (start = 0; start < n_test; start += 256) {
            int b = n_test - start < 256 ? n_test - start : 256;
            nn_tensor out;
            for (i = 0; i < b; i++) rows[i] = start + i;
            nn_data_gather(&test, rows, b, xraw, lab, NULL);
            nn_prep_apply(&prep, nn_tensor_2d(xin, b, 784), nn_tensor_2d(xraw, b, 784));
            out = nn_model_forward(&net, nn_tensor_2d(xin, b, 784));
            nn_argmax_rows(pred, out.data, b, 10);
            for (i = 0; i < b; i++) correct += pred[i] == lab[i];
            nn_confusion_add(counts, pred, lab, b, 10);
        }
        nn_class_report(counts, 10, pr, rc, f1, sup, macro, weighted);
        printf("\n%-12s %9s %9s %9s %8s\n", "class", "precision", "recall", "F1", "support");
        for (c = 0; c < 10; c++)
            printf("%-12s %9.3f %9.3f %9.3f %8d\n", class_names[c], (double)pr[c], (double)rc[c], (double)f1[c], sup[c]);
        printf("%-12s %9.3f %9.3f %9.3f %8d\n\n", "macro avg", (double)macro[0], (double)macro[1], (double)macro[2],
               n_test);
        for (i = 0; i < res.epochs_run; i++) {
            tl[i] = history[i].train_loss; vl[i] = history[i].val_loss;
            ta[i] = history[i].train_acc; va[i] = history[i].val_acc;
        }
        s[0].label = "train loss"; s[0].y = tl; s[0].n = res.epochs_run; s[0].right_axis = 0;
        s[1].label = "validation loss"; s[1].y = vl; s[1].n = res.epochs_run; s[1].right_axis = 0;
        s[2].label = "train accuracy"; s[2].y = ta; s[2].n = res.epochs_run; s[2].right_axis = 1;
        s[3].label = "validation accuracy"; s[3].y = va; s[3].n = res.epochs_run; s[3].right_axis = 1;
        snprintf(path, sizeof path, "%s/fashion_mnist_curves.png", out_dir);
        if (nn_plot_curves_png(path, 800, 480, "Fashion-MNIST MLP: learning curves", "cross-entropy", "accuracy", s,
                               4) == NN_PLOT_OK)
            printf("wrote %s\n", path);
        snprintf(path, sizeof path, "%s/fashion_mnist_confusion.png", out_dir);
        if (nn_plot_confusion_png(path, counts, 10, class_names, "Fashion-MNIST test set") == NN_PLOT_OK)
            printf("wrote %s\n", path);
        snprintf(path, sizeof path, "%s/fashion_mnist_history.csv", out_dir);
        f = fopen(path, "w");
        if (f && nn_fit_history_csv(history, res.epochs_run, f) == NN_OK) printf("wrote %s\n", path);
        if (f) fclose(f);
        nn_meta_describe(&meta, text, sizeof text);
        printf("\nthe saved model's provenance:\n%s", text);
        printf("\ntest accuracy: %.2f%%\n", 100.0 * correct / n_test);
    }
    nn_idx_free(&train_x); nn_idx_free(&train_y); nn_idx_free(&test_x); nn_idx_free(&test_y);
    free(labels); free(test_labels); free(idx);
    nn_threads_destroy(threads);
    nn_arena_deinit(&arena);
    return 0;
}
