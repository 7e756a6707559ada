/* fashion_mnist.c - train a 784-256-128-10 MLP on Fashion-MNIST.

   cc -O2 -o fashion_mnist examples/fashion_mnist.c -lm && ./fashion_mnist

   (add -fopenmp to use both cores; `make demo` installs the data and runs it)

   What it teaches: reading the real data set (gzip-compressed IDX files from
   Debian's dataset-fashion-mnist, inflated with stb_image's zlib decoder),
   sizing an arena before anything is allocated, a hand-written training loop
   with shuffled minibatches and SGD with momentum, and evaluation in EVAL mode.
   Usage: fashion_mnist [epochs] [data-dir]                                     */
#define _POSIX_C_SOURCE 200809L /* clock_gettime, isatty */
#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_PNG /* we only need its zlib decoder */
#include <stb/stb_image.h>

#define NN_IMPLEMENTATION
#include "../nn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64
#define EVAL_BATCH 256

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

/* Bytes -> normalized floats for the rows idx[0..n). */
static void gather(float *x, int *y, const nn_idx *images, const nn_idx *labels, const int *idx, int n) {
    int i, j;
    for (i = 0; i < n; i++) {
        const unsigned char *src = images->data + (size_t)idx[i] * 784;
        for (j = 0; j < 784; j++) x[(size_t)i * 784 + j] = ((float)src[j] * (1.0f / 255.0f) - 0.2860f) * (1.0f / 0.3530f);
        y[i] = labels->data[idx[i]];
    }
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
    int epochs = argc > 1 ? atoi(argv[1]) : 10;
    const char *dir = argc > 2 ? argv[2] : "/usr/share/datasets/fashion-mnist";
    nn_idx train_x, train_y, test_x, test_y;
    nn_layer_desc layers[3];
    nn_model_desc md;
    nn_optim_desc od;
    nn_model net;
    nn_optim opt;
    nn_arena arena;
    nn_rng rng;
    size_t bytes;
    float *x;
    int *y, *idx, n, epoch, steps_per_epoch;
    char summary[2048];
    double acc = 0.0, lr0;

    if (!load(&train_x, dir, "train-images-idx3-ubyte.gz", 3) || !load(&train_y, dir, "train-labels-idx1-ubyte.gz", 1) ||
        !load(&test_x, dir, "t10k-images-idx3-ubyte.gz", 3) || !load(&test_y, dir, "t10k-labels-idx1-ubyte.gz", 1))
        return 1;
    n = train_x.dims[0];
    if (train_y.dims[0] != n || test_y.dims[0] != test_x.dims[0]) {
        fprintf(stderr, "error: image and label counts differ\n");
        return 1;
    }

    /* Each layer has its own width and its own activation. */
    memset(layers, 0, sizeof layers);
    layers[0].kind = NN_LAYER_DENSE; layers[0].units = 256; layers[0].act = NN_ACT_RELU;
    layers[1].kind = NN_LAYER_DENSE; layers[1].units = 128; layers[1].act = NN_ACT_RELU;
    layers[2].kind = NN_LAYER_DENSE; layers[2].units = 10;  /* logits: softmax lives in the loss */
    memset(&md, 0, sizeof md);
    md.inputs = 784; md.max_batch = EVAL_BATCH; md.layers = layers; md.n_layers = 3; md.seed = 42;
    memset(&od, 0, sizeof od);
    od.kind = NN_OPTIM_SGD; od.lr = 0.05f; od.momentum = 0.9f;

    /* Size everything first, then allocate once: model, optimizer state, batch buffers. */
    bytes = nn_model_arena_bytes(&md) + nn_optim_arena_bytes(&od, nn_model_param_count(&md)) +
            nn_arena_bytes_for(sizeof(float) * EVAL_BATCH * 784) + nn_arena_bytes_for(sizeof(int) * EVAL_BATCH) +
            nn_arena_bytes_for(sizeof(int) * (size_t)n);
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
        nn_model_sizes z;
        nn_model_sizes_query(&md, &z);
        printf("arena: parameters %lu B, gradients %lu B, batch scratch %lu B, optimizer %lu B, data buffers %lu B\n",
               (unsigned long)z.params, (unsigned long)z.grads, (unsigned long)z.scratch,
               (unsigned long)nn_optim_arena_bytes(&od, net.n_params),
               (unsigned long)(bytes - z.total - nn_optim_arena_bytes(&od, net.n_params)));
    }
    printf("train %d, test %d images; batch %d; SGD lr %.3g (cosine decay) momentum %.2g; %s kernels\n", n, test_x.dims[0], BATCH,
           od.lr, od.momentum, nn_simd_level() ? "AVX2+FMA" : "reference");

    lr0 = od.lr;
    nn_rng_seed(&rng, 7);
    for (int i = 0; i < n; i++) idx[i] = i;
    steps_per_epoch = n / BATCH;
    for (epoch = 1; epoch <= epochs; epoch++) {
        double t0 = now(), loss_sum = 0.0, dt;
        int step;
        nn_rng_shuffle(&rng, idx, n);
        for (step = 0; step < steps_per_epoch; step++) {
            nn_tensor out, dout;
            /* cosine decay of the learning rate over the whole run */
            double progress_frac = ((double)(epoch - 1) * steps_per_epoch + step) / ((double)epochs * steps_per_epoch);
            opt.d.lr = (float)(0.5 * lr0 * (1.0 + cos(3.14159265358979 * progress_frac)));
            gather(x, y, &train_x, &train_y, idx + step * BATCH, BATCH);
            out = nn_model_forward(&net, nn_tensor_2d(x, BATCH, 784));
            dout = nn_model_output_grad(&net);
            loss_sum += nn_loss_cross_entropy(dout, out, y);
            nn_model_zero_grad(&net);
            nn_model_backward(&net, dout);
            nn_optim_step(&opt, net.params, net.grads, net.n_params);
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
