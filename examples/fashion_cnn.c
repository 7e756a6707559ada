/* fashion_cnn.c - a convolutional network on Fashion-MNIST: the images as
   images, and the step past what an MLP reaches.

   cc -O2 examples/fashion_cnn.c -o fashion_cnn -lm -lpthread && ./fashion_cnn
   (the data: apt-get install dataset-fashion-mnist libstb-dev)

   What it teaches, in order:
     1. a model description that reads like PyTorch's module list: the input
        is (1, 28, 28) (md.input_shape), convolutions and pooling shrink it,
        the dense layers read the flattened (64, 7, 7);
     2. augmentation of the training batches (random crop with 2 pixels of
        padding, horizontal flips), seeded like everything else;
     3. the same nn_fit loop as the MLP: a validation set, AdamW with a cosine
        schedule, the best epoch's weights restored and saved;
     4. the test set once, at the end, and the epoch time next to the MLP's.
   Usage: fashion_cnn [epochs 1-200, default 25] [out-dir, default build]
                      [threads 1-64, default 2]
   Writes out-dir/fashion_cnn.nnw (the model and its provenance). */
#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_PNG /* only its zlib decoder is needed here */
#include <stb/stb_image.h>

#define NN_IMPLEMENTATION
#include "../nn.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DATA_DIR "/usr/share/datasets/fashion-mnist"
#define BATCH 64
#define SEED 2026

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
    int epochs = 25, n_threads = 2, n, n_test, *labels, *test_labels, *idx, nt, nv, i;
    nn_threads *threads;
    float table[256];
    nn_data all, train, val, test;
    nn_layer_desc layers[12];
    nn_model_desc md;
    nn_optim_desc od;
    nn_sched_desc sd;
    nn_augment_desc aug;
    nn_fit_desc fd;
    nn_fit_result res;
    nn_fit_epoch history[200];
    nn_model net;
    nn_optim opt;
    nn_sched cosine;
    nn_meta meta;
    nn_train_state st;
    nn_arena arena;
    size_t bytes;
    double seconds = 0.0;
    char path[1024], text[4096];

    if (argc > 4 || (argc > 1 && !parse_int(argv[1], 1, 200, &epochs)) ||
        (argc > 3 && !parse_int(argv[3], 1, NN_MAX_THREADS, &n_threads))) {
        fprintf(stderr, "usage: fashion_cnn [epochs 1-200, default 25] [out-dir, default build] "
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

    /* The bytes become floats through a table: ToTensor and Normalize((0.2860,),
       (0.3530,)), Fashion-MNIST's mean and std over all pixels (one pair, not one
       per pixel: a shifted image stays the same image). 10% held out, stratified. */
    nn_u8_table_normalize(table, 255.0f, 0.2860f, 0.3530f);
    memset(&all, 0, sizeof all);
    all.n = n; all.features = 784; all.x_u8 = train_x.data; all.table = table; all.labels = labels;
    if (nn_split(idx, n, labels, 10, 0.1f, 0.0f, SEED, &nt, &nv, NULL) != NN_OK) return 1;
    train = all; train.rows = idx; train.n_rows = nt;
    val = all; val.rows = idx + nt; val.n_rows = nv;

    /* 1. conv(32) - pool - conv(64) - pool - dense(128) - dense(10), as
          nn.Sequential(Conv2d(1, 32, 3, padding=1), BatchNorm2d(32), ReLU(), MaxPool2d(2),
                        Conv2d(32, 64, 3, padding=1), BatchNorm2d(64), ReLU(), MaxPool2d(2),
                        Flatten(), Linear(3136, 128), ReLU(), Dropout(0.3), Linear(128, 10)) */
    i = 0;
    layers[i++] = nn_conv2d(32, 3, 1, 1, NN_ACT_IDENTITY);
    layers[i++] = nn_batchnorm2d();
    layers[i++] = nn_activation(NN_ACT_RELU);
    layers[i++] = nn_maxpool2d(2, 2, 0);
    layers[i++] = nn_conv2d(64, 3, 1, 1, NN_ACT_IDENTITY);
    layers[i++] = nn_batchnorm2d();
    layers[i++] = nn_activation(NN_ACT_RELU);
    layers[i++] = nn_maxpool2d(2, 2, 0);
    layers[i++] = nn_flatten();
    layers[i++] = nn_dense(128, NN_ACT_RELU);
    layers[i++] = nn_dropout(0.3f);
    layers[i++] = nn_dense(10, NN_ACT_IDENTITY);
    memset(&md, 0, sizeof md);
    md.inputs = 784; md.input_shape[0] = 1; md.input_shape[1] = 28; md.input_shape[2] = 28;
    md.max_batch = 256; md.layers = layers; md.n_layers = i; md.seed = SEED;
    od = nn_optim_desc_default(NN_OPTIM_ADAMW); /* lr 1e-3, weight decay 0.01 */
    od.lr = 2e-3f;

    bytes = nn_model_arena_bytes(&md) + nn_optim_arena_bytes(&od, nn_model_param_count(&md)) +
            (size_t)4 * n * sizeof(int) + (size_t)(1 << 20) +
            (size_t)2 * nn_model_param_count(&md) * sizeof(float);
    if (nn_arena_init_heap(&arena, bytes) != NN_OK) return 1;
    if (nn_model_init(&net, &arena, &md) != NN_OK || nn_optim_init(&opt, &arena, &od, net.n_params) != NN_OK) {
        fprintf(stderr, "error: set-up: %s%s\n", net.error, opt.error);
        return 1;
    }
    threads = n_threads > 1 ? nn_threads_create(n_threads) : NULL;
    net.threads = threads;
    nn_model_summary(&net, text, sizeof text);
    printf("%s", text);

    /* 2. augmentation: the training batches only, before the preprocessing */
    aug = nn_augment_desc_default();
    aug.flip_p = 0.5f;
    aug.crop_padding = 2;
    aug.fill = table[0]; /* black, as the table maps it */

    /* 3. AdamW with a cosine schedule over the run, stepped per batch */
    sd = nn_sched_desc_default(NN_SCHED_COSINE, od.lr);
    sd.t_max = epochs * ((nt + BATCH - 1) / BATCH);
    if (nn_sched_init(&cosine, &sd) != NN_OK) return 1;
    meta = nn_meta_make("fashion-mnist cnn 32-64 bn, augmented");
    memset(&st, 0, sizeof st);
    st.meta = &meta;
    snprintf(path, sizeof path, "%s/fashion_cnn.nnw", out_dir);
    fd = nn_fit_desc_default(epochs, BATCH);
    fd.seed = SEED;
    fd.val = &val;
    fd.augment = &aug;
    fd.monitor = NN_MONITOR_VAL_ACCURACY;
    fd.restore_best = 1;
    fd.sched = &cosine;
    fd.checkpoint = path;
    fd.checkpoint_state = &st;
    fd.meta = &meta;
    fd.history = history;
    fd.history_cap = epochs;
    fd.on_batch = nn_fit_progress;
    fd.on_epoch = nn_fit_progress;
    fd.user = stdout;
    printf("train %d, validation %d, test %d images; batch %d; AdamW lr %g with cosine decay; flips and 2-pixel "
           "crops; %s kernels, %d thread%s\n", nt, nv, n_test, BATCH, (double)od.lr, nn_simd_name(),
           nn_threads_count(threads), nn_threads_count(threads) > 1 ? "s" : "");
    if (nn_fit(&net, &opt, &arena, &train, &fd, &res) != NN_OK) {
        fprintf(stderr, "error: %s\n", res.error);
        return 1;
    }
    for (i = 0; i < res.epochs_run; i++) seconds += history[i].seconds;
    printf("best: epoch %d, validation accuracy %.2f%% (weights restored, saved to %s)\n", res.best_epoch,
           100.0 * res.best, path);
    printf("epoch time: %.1f s on average (%.0f images/s in training)\n", seconds / res.epochs_run,
           nt * res.epochs_run / seconds);

    /* 4. the test set, once */
    {
        int rows[256], pred[256], lab[256], correct = 0, start;
        static float x[256 * 784];
        memset(&test, 0, sizeof test);
        test.n = n_test; test.features = 784; test.x_u8 = test_x.data; test.table = table; test.labels = test_labels;
        nn_model_set_mode(&net, NN_MODE_EVAL);
        for (start = 0; start < n_test; start += 256) {
            int b = n_test - start < 256 ? n_test - start : 256;
            nn_tensor out;
            for (i = 0; i < b; i++) rows[i] = start + i;
            nn_data_gather(&test, rows, b, x, lab, NULL);
            out = nn_model_forward(&net, nn_tensor_4d(x, b, 1, 28, 28));
            nn_argmax_rows(pred, out.data, b, 10);
            for (i = 0; i < b; i++) correct += pred[i] == lab[i];
        }
        printf("\ntest accuracy: %.2f%%\n", 100.0 * correct / n_test);
    }
    nn_idx_free(&train_x); nn_idx_free(&train_y); nn_idx_free(&test_x); nn_idx_free(&test_y);
    free(labels); free(test_labels); free(idx);
    nn_threads_destroy(threads);
    nn_arena_deinit(&arena);
    return 0;
}
