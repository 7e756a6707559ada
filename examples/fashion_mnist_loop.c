/* fashion_mnist_loop.c - train a 784-256-128-10 MLP on Fashion-MNIST, by hand.

   cc -O2 -o fashion_mnist_loop examples/fashion_mnist_loop.c -lm && ./fashion_mnist_loop

   (examples/fashion_mnist.c is the same task through nn_fit, with validation,
   early stopping, pictures and a thread pool)

   What it teaches: reading the real data set (gzip-compressed IDX files from
   Debian's dataset-fashion-mnist, inflated with stb_image's zlib decoder),
   sizing an arena before anything is allocated, a hand-written training loop
   with shuffled minibatches and SGD with momentum, and evaluation in EVAL mode.
   Usage: fashion_mnist [epochs 1-1000, default 10] [data-dir]; a bad argument
   prints the usage on stderr and exits with status 2.                         */
#define _POSIX_C_SOURCE 200809L /* clock_gettime, isatty */
#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_PNG /* we only need its zlib decoder */
#include <stb/stb_image.h>

#define NN_IMPLEMENTATION
#include "../nn.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64
#define EVAL_BATCH 256
#define DATA_DIR "/usr/share/datasets/fashion-mnist"

/* A whole number in [lo, hi] and nothing else: "abc", "-1", "5x", "" fail. */
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

static int usage(const char *why) {
    fprintf(stderr, "fashion_mnist_loop: %s\nusage: fashion_mnist_loop [epochs] [data-dir]\n"
                    "  epochs    1 to 1000 (default 10)\n  data-dir  default " DATA_DIR "\n", why);
    return 2;
}

/* nn.h brings no decompressor; plug in stb's. */
static nn_result stb_inflate(void *dst, size_t dst_len, const void *src, size_t src_len) {
    int n;
    if (dst_len > INT_MAX || src_len > INT_MAX) return NN_ERR_TOO_LARGE;
    n = stbi_zlib_decode_noheader_buffer((char *)dst, (int)dst_len, (const char *)src, (int)src_len);
    return n == (int)dst_len ? NN_OK : NN_ERR_CORRUPT;
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int load(nn_idx *out, const char *dir, const char *name, int rank) {
    char path[1024];
    nn_result r;
    snprintf(path, sizeof path, "%s/%s", dir, name);
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

/* Bytes -> normalized floats for the rows idx[0..n): the images stay uint8 in
   memory; table maps each byte value to its float (ToTensor + Normalize). */
static float table[256];
static void gather(float *x, int *y, const nn_idx *images, const nn_idx *labels, const int *idx, int n) {
    int i;
    nn_gather_u8(nn_tensor_2d(x, n, 784), images->data, (size_t)images->dims[0], idx, table);
    for (i = 0; i < n; i++) y[i] = labels->data[idx[i]];
}

static void progress(int epoch, int epochs, int done, int total, double loss, double t0) {
    int width = 30, filled = (int)((double)width * done / total), i;
    char bar[64];
    if (!isatty(2)) return; /* a bar only where someone watches it */
    for (i = 0; i < width; i++) bar[i] = i < filled ? '#' : '.';
    bar[width] = 0;
    fprintf(stderr, "\repoch %2d/%d [%s] %5.1f%%  loss %.4f  %6.0f samples/s ", epoch, epochs, bar,
            100.0 * done / total, loss, done / (now() - t0 + 1e-9));
    fflush(stderr);
}

static double evaluate(nn_model *net, const nn_idx *images, const nn_idx *labels, float *x, int *y,
                       int *idx) {
    int n = images->dims[0], correct = 0, start, i, j;
    nn_model_set_mode(net, NN_MODE_EVAL);
    for (i = 0; i < n; i++) idx[i] = i;
    for (start = 0; start < n; start += EVAL_BATCH) {
        int b = n - start < EVAL_BATCH ? n - start : EVAL_BATCH;
        nn_tensor out;
        gather(x, y, images, labels, idx + start, b);
        out = nn_model_forward(net, nn_tensor_2d(x, b, 784));
        for (i = 0; i < b; i++) {
            const float *z = out.data + (size_t)i * 10;
            int best = 0;
            for (j = 1; j < 10; j++) if (z[j] > z[best]) best = j;
            correct += best == y[i];
        }
    }
    nn_model_set_mode(net, NN_MODE_TRAIN);
    return 100.0 * correct / n;
}

int main(int argc, char **argv) {
    int epochs = 10;
    const char *dir = argc > 2 ? argv[2] : DATA_DIR;
    nn_idx train_x, train_y, test_x, test_y;
    nn_layer_desc layers[3];
    nn_model_desc md;
    nn_optim_desc od;
    nn_sched_desc sd;
    nn_model net;
    nn_optim opt;
    nn_sched sched;
    nn_arena arena;
    nn_rng rng;
    size_t model_bytes, optim_bytes, data_bytes, bytes;
    float *x;
    int *y, *idx, n, epoch, steps_per_epoch;
    char summary[2048];
    double acc = 0.0;

    if (argc > 3) return usage("too many arguments");
    if (argc > 1 && !parse_int(argv[1], 1, 1000, &epochs)) return usage("epochs must be a whole number from 1 to 1000");
    if (!*dir) return usage("data-dir is empty");
    if (!load(&train_x, dir, "train-images-idx3-ubyte.gz", 3) || !load(&train_y, dir, "train-labels-idx1-ubyte.gz", 1) ||
        !load(&test_x, dir, "t10k-images-idx3-ubyte.gz", 3) || !load(&test_y, dir, "t10k-labels-idx1-ubyte.gz", 1))
        return 1;
    n = train_x.dims[0];
    if (train_y.dims[0] != n || test_y.dims[0] != test_x.dims[0]) {
        fprintf(stderr, "error: image and label counts differ\n");
        return 1;
    }

    /* Each layer has its own width and its own activation. Constructors give
       PyTorch's defaults (nn.Linear's initialization here); fields can be
       overridden afterwards, and every value is taken literally. */
    layers[0] = nn_dense(256, NN_ACT_RELU);
    layers[1] = nn_dense(128, NN_ACT_RELU);
    layers[2] = nn_dense(10, NN_ACT_IDENTITY); /* logits: softmax lives in the loss */
    memset(&md, 0, sizeof md);
    md.inputs = 784; md.max_batch = EVAL_BATCH; md.layers = layers; md.n_layers = 3; md.seed = 42;
    od = nn_optim_desc_default(NN_OPTIM_SGD);
    od.lr = 0.05f; od.momentum = 0.9f;

    /* Size everything first, then allocate once: model, optimizer state, batch buffers. */
    model_bytes = nn_model_arena_bytes(&md);
    optim_bytes = nn_optim_arena_bytes(&od, nn_model_param_count(&md));
    data_bytes = nn_arena_bytes_for(sizeof(float) * EVAL_BATCH * 784) + nn_arena_bytes_for(sizeof(int) * EVAL_BATCH) +
                 nn_arena_bytes_for(sizeof(int) * (size_t)n);
    bytes = model_bytes + optim_bytes + data_bytes;
    if (nn_arena_init_heap(&arena, bytes) != NN_OK) { fprintf(stderr, "error: out of memory\n"); return 1; }
    if (nn_model_init(&net, &arena, &md) != NN_OK || nn_optim_init(&opt, &arena, &od, net.n_params) != NN_OK) {
        fprintf(stderr, "error: arena too small\n");
        return 1;
    }
    x = (float *)nn_arena_alloc(&arena, sizeof(float) * EVAL_BATCH * 784);
    y = (int *)nn_arena_alloc(&arena, sizeof(int) * EVAL_BATCH);
    idx = (int *)nn_arena_alloc(&arena, sizeof(int) * (size_t)n);
    if (!x || !y || !idx) { fprintf(stderr, "error: arena too small\n"); return 1; }

    nn_model_summary(&net, summary, sizeof summary);
    printf("%s", summary);
    {
        /* The summary's "arena" is the model's share alone (nn_model_arena_bytes);
           the arena this program allocates also holds the optimizer state and
           its own batch buffers. Every figure printed is the sum of its parts. */
        nn_model_sizes z;
        nn_model_sizes_query(&md, &z);
        printf("arena: %lu B in one allocation, %lu B used after set-up =\n", (unsigned long)bytes,
               (unsigned long)arena.used);
        printf("  %8lu B  model (the summary's \"arena\") = parameters %lu + gradients %lu\n"
               "             + running statistics %lu + batch scratch for %d rows %lu + layer tables %lu\n",
               (unsigned long)model_bytes, (unsigned long)z.params, (unsigned long)z.grads, (unsigned long)z.buffers,
               md.max_batch, (unsigned long)z.scratch, (unsigned long)z.tables);
        printf("  %8lu B  optimizer: SGD momentum, one float per parameter\n", (unsigned long)optim_bytes);
        printf("  %8lu B  this program's buffers: a batch of %d images and labels, %d shuffle indices\n",
               (unsigned long)data_bytes, EVAL_BATCH, n);
    }
    printf("train %d, test %d images; batch %d; SGD lr %.3g (cosine decay) momentum %.2g; %s kernels\n", n, test_x.dims[0], BATCH,
           od.lr, od.momentum, nn_simd_name());

    nn_u8_table_normalize(table, 255.0f, 0.2860f, 0.3530f); /* the training set's mean and std */
    nn_rng_seed(&rng, 7);
    for (int i = 0; i < n; i++) idx[i] = i;
    steps_per_epoch = n / BATCH;
    /* cosine decay of the learning rate over the whole run, one schedule step
       per optimizer step; attached, the optimizer reads its lr from it */
    sd = nn_sched_desc_default(NN_SCHED_COSINE, od.lr);
    sd.t_max = epochs * steps_per_epoch;
    if (nn_sched_init(&sched, &sd) != NN_OK) { fprintf(stderr, "error: %s\n", sched.error); return 1; }
    nn_optim_attach_sched(&opt, &sched);
    for (epoch = 1; epoch <= epochs; epoch++) {
        double t0 = now(), loss_sum = 0.0, dt;
        int step;
        nn_rng_shuffle(&rng, idx, n);
        for (step = 0; step < steps_per_epoch; step++) {
            nn_tensor out, dout;
            gather(x, y, &train_x, &train_y, idx + step * BATCH, BATCH);
            out = nn_model_forward(&net, nn_tensor_2d(x, BATCH, 784));
            dout = nn_model_output_grad(&net);
            loss_sum += nn_loss_cross_entropy(dout, out, y);
            nn_model_zero_grad(&net);
            nn_model_backward(&net, dout);
            nn_optim_step(&opt, net.params, net.grads, net.n_params);
            nn_sched_step(&sched, 0.0f);
            if (step % 50 == 0 || step == steps_per_epoch - 1)
                progress(epoch, epochs, (step + 1) * BATCH, steps_per_epoch * BATCH, loss_sum / (step + 1), t0);
        }
        dt = now() - t0;
        acc = evaluate(&net, &test_x, &test_y, x, y, idx);
        if (isatty(2)) fprintf(stderr, "\r%*s\r", 100, "");
        printf("epoch %2d  train loss %.4f  test acc %.2f%%  %.2f s  %.0f samples/s\n", epoch,
               loss_sum / steps_per_epoch, acc, dt, steps_per_epoch * BATCH / dt);
        fflush(stdout);
        for (int i = 0; i < n; i++) idx[i] = i; /* evaluate() reused idx; keep the shuffle a pure function of the seed */
    }
    printf("test accuracy: %.2f%%\n", acc);
    nn_idx_free(&train_x); nn_idx_free(&train_y); nn_idx_free(&test_x); nn_idx_free(&test_y);
    nn_arena_deinit(&arena);
    return 0;
}
