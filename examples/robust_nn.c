/* robust_nn.c - batch norm, dropout, AdamW, a warmup+cosine schedule and
   checkpoints on Fashion-MNIST.

   cc -O2 -o robust_nn examples/robust_nn.c -lm && ./robust_nn

   (more cores: set net.threads = nn_threads_create(2), as examples/fashion_mnist.c
   does; same results, bit for bit)

   What it teaches: the "RobustNN" stack (Linear -> BatchNorm -> ReLU -> Dropout,
   twice, then Linear), why the TRAIN/EVAL switch matters (dropout draws a new
   mask on every forward in TRAIN mode; EVAL is deterministic), parameter groups
   (biases and norm parameters skip weight decay), an LR schedule, and
   checkpoints: the best epoch is saved atomically and reloaded from the file
   alone at the end. Model selection never looks at the test set: the best
   epoch is picked on a validation split, 10,000 of the 60,000 training images
   (a seeded shuffle picks them; they are never trained on), and the test set
   is evaluated once, at the end, on the reloaded best checkpoint.
   Usage: robust_nn [epochs 1-1000, default 5] [data-dir]; a bad argument
   prints the usage on stderr and exits with status 2.                          */
#define _POSIX_C_SOURCE 200809L
#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_PNG /* only its zlib decoder is used */
#include <stb/stb_image.h>

#define NN_IMPLEMENTATION
#include "../nn.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BATCH 128
#define N_VAL 10000      /* training images held out to pick the best epoch */
#define SPLIT_SEED 3     /* which ones: a shuffle with this seed */
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
    fprintf(stderr, "robust_nn: %s\nusage: robust_nn [epochs] [data-dir]\n"
                    "  epochs    1 to 1000 (default 5)\n  data-dir  default " DATA_DIR "\n", why);
    return 2;
}

static nn_result stb_inflate(void *dst, size_t dst_len, const void *src, size_t src_len) {
    int n;
    if (dst_len > INT_MAX || src_len > INT_MAX) return NN_ERR_TOO_LARGE;
    n = stbi_zlib_decode_noheader_buffer((char *)dst, (int)dst_len, (const char *)src, (int)src_len);
    return n == (int)dst_len ? NN_OK : NN_ERR_CORRUPT;
}

static int load(nn_idx *out, const char *dir, const char *name) {
    char path[1024];
    nn_result r;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    r = nn_idx_load(out, path, stb_inflate);
    if (r != NN_OK) fprintf(stderr, "error: %s: %s\n", path, nn_result_string(r));
    return r == NN_OK;
}

static void gather(float *x, int *y, const nn_idx *im, const nn_idx *lb, const int *idx, int n) {
    int i, j;
    for (i = 0; i < n; i++) {
        const unsigned char *src = im->data + (size_t)idx[i] * 784;
        for (j = 0; j < 784; j++) x[(size_t)i * 784 + j] = ((float)src[j] * (1.0f / 255.0f) - 0.2860f) * (1.0f / 0.3530f);
        y[i] = lb->data[idx[i]];
    }
}

/* Accuracy in percent over the n images rows[0..n) (images 0..n-1 when rows is NULL). */
static double accuracy(nn_model *net, const nn_idx *im, const nn_idx *lb, const int *rows, int n, float *x, int *y) {
    int correct = 0, s, i, j, chunk[BATCH];
    for (s = 0; s < n; s += BATCH) {
        int b = n - s < BATCH ? n - s : BATCH;
        nn_tensor out;
        for (i = 0; i < b; i++) chunk[i] = rows ? rows[s + i] : s + i;
        gather(x, y, im, lb, chunk, b);
        out = nn_model_forward(net, nn_tensor_2d(x, b, 784));
        for (i = 0; i < b; i++) {
            int best = 0;
            for (j = 1; j < 10; j++) if (out.data[i * 10 + j] > out.data[i * 10 + best]) best = j;
            correct += best == y[i];
        }
    }
    return 100.0 * correct / n;
}

int main(int argc, char **argv) {
    int epochs = 5;
    const char *dir = argc > 2 ? argv[2] : DATA_DIR;
    nn_idx tx, ty, vx, vy;
    nn_layer_desc L[9];
    nn_model_desc md;
    nn_optim_desc od;
    nn_sched_desc sd;
    nn_model net, again;
    nn_optim opt;
    nn_sched sched;
    nn_arena arena, arena2;
    nn_rng shuffle, splitter;
    nn_train_state st;
    nn_checkpoint ck;
    float *x, first[10], second[10];
    int *y, *idx, *split, *val, n, n_train, epoch, best_epoch = 0, steps, i;
    char summary[2048];
    double acc, val2, test;

    if (argc > 3) return usage("too many arguments");
    if (argc > 1 && !parse_int(argv[1], 1, 1000, &epochs)) return usage("epochs must be a whole number from 1 to 1000");
    if (!*dir) return usage("data-dir is empty");
    if (!load(&tx, dir, "train-images-idx3-ubyte.gz") || !load(&ty, dir, "train-labels-idx1-ubyte.gz") ||
        !load(&vx, dir, "t10k-images-idx3-ubyte.gz") || !load(&vy, dir, "t10k-labels-idx1-ubyte.gz"))
        return 1;
    n = tx.dims[0];
    n_train = n - N_VAL;
    if (ty.dims[0] != n || vy.dims[0] != vx.dims[0] || n_train < BATCH) {
        fprintf(stderr, "error: expected matching image and label counts and more than %d training images\n", N_VAL + BATCH);
        return 1;
    }

    /* Linear -> BatchNorm -> ReLU -> Dropout, twice, then Linear */
    L[0] = nn_dense(256, NN_ACT_IDENTITY); L[0].init = NN_INIT_KAIMING_NORMAL;
    L[1] = nn_batchnorm();
    L[2] = nn_activation(NN_ACT_RELU);
    L[3] = nn_dropout(0.2f);
    L[4] = nn_dense(128, NN_ACT_IDENTITY); L[4].init = NN_INIT_KAIMING_NORMAL;
    L[5] = nn_batchnorm();
    L[6] = nn_activation(NN_ACT_RELU);
    L[7] = nn_dropout(0.2f);
    L[8] = nn_dense(10, NN_ACT_IDENTITY);
    memset(&md, 0, sizeof md);
    md.inputs = 784; md.max_batch = BATCH; md.layers = L; md.n_layers = 9; md.seed = 1;
    od = nn_optim_desc_default(NN_OPTIM_ADAMW);
    od.lr = 2e-3f; od.weight_decay = 0.05f;
    if (nn_arena_init_heap(&arena, nn_model_arena_bytes(&md) + nn_optim_arena_bytes(&od, nn_model_param_count(&md)) +
                                       nn_arena_bytes_for(sizeof(float) * BATCH * 784) + nn_arena_bytes_for(sizeof(int) * BATCH) +
                                       nn_arena_bytes_for(sizeof(int) * (size_t)n) * 2) != NN_OK ||
        nn_model_init(&net, &arena, &md) != NN_OK || nn_optim_init(&opt, &arena, &od, net.n_params) != NN_OK) {
        fprintf(stderr, "error: set-up failed\n");
        return 1;
    }
    x = (float *)nn_arena_alloc(&arena, sizeof(float) * BATCH * 784);
    y = (int *)nn_arena_alloc(&arena, sizeof(int) * BATCH);
    idx = (int *)nn_arena_alloc(&arena, sizeof(int) * (size_t)n);
    split = (int *)nn_arena_alloc(&arena, sizeof(int) * (size_t)n);

    /* Hold out N_VAL training images, chosen by a seeded shuffle: split[0..n_train)
       are trained on, val = split[n_train..n) only pick the best epoch. The test
       set plays no part in any choice; it is evaluated once, at the very end. */
    for (i = 0; i < n; i++) split[i] = i;
    nn_rng_seed(&splitter, SPLIT_SEED);
    nn_rng_shuffle(&splitter, split, n);
    val = split + n_train;
    steps = n_train / BATCH;

    sd = nn_sched_desc_default(NN_SCHED_COSINE, od.lr);
    sd.t_max = epochs * steps - steps / 2;
    sd.warmup_steps = steps / 2; sd.warmup_start_factor = 0.1; /* half an epoch of warmup */
    if (nn_sched_init(&sched, &sd) != NN_OK) {
        fprintf(stderr, "error: %s\n", sched.error);
        return 1;
    }
    nn_optim_attach_sched(&opt, &sched); /* the optimizer takes its lr from the schedule */
    nn_rng_seed(&shuffle, 7);
    memset(&st, 0, sizeof st);
    st.optim = &opt; st.sched = &sched; st.rng = &shuffle;
    memset(&ck, 0, sizeof ck);
    ck.path_best = "robust_best.nnw"; ck.path_last = "robust_last.nnw"; ck.mode_max = 1;

    nn_model_summary(&net, summary, sizeof summary);
    printf("%s", summary);
    printf("the %d training images split: %d to train on, %d held out for validation (seeded shuffle, seed %d)\n"
           "the best epoch is picked on validation accuracy; the %d test images are evaluated once, at the end\n",
           n, n_train, N_VAL, SPLIT_SEED, vx.dims[0]);

    for (epoch = 1; epoch <= epochs; epoch++) {
        double loss = 0.0;
        int s, improved;
        for (i = 0; i < n_train; i++) idx[i] = split[i];
        nn_rng_shuffle(&shuffle, idx, n_train);
        nn_model_set_mode(&net, NN_MODE_TRAIN);
        for (s = 0; s < steps; s++) {
            nn_tensor out, d;
            gather(x, y, &tx, &ty, idx + s * BATCH, BATCH);
            out = nn_model_forward(&net, nn_tensor_2d(x, BATCH, 784));
            d = nn_model_output_grad(&net);
            loss += nn_loss_cross_entropy(d, out, y);
            nn_model_zero_grad(&net);
            nn_model_backward(&net, d);
            nn_optim_step_params(&opt, net.param_list, net.n_param_list); /* no decay on biases, BN */
            nn_sched_step(&sched, 0.0f);
        }
        nn_model_set_mode(&net, NN_MODE_EVAL);
        acc = accuracy(&net, &tx, &ty, val, N_VAL, x, y);
        if (nn_checkpoint_update(&ck, &net, &st, (float)acc, &improved) != NN_OK) {
            fprintf(stderr, "warning: checkpoint failed\n");
            improved = 0;
        }
        if (improved) best_epoch = epoch;
        printf("epoch %d  loss %.4f  val acc %.2f%%  lr %.2e%s\n", epoch, loss / steps, acc, nn_sched_lr(&sched),
               improved ? "  (best so far: saved)" : "");
    }

    /* TRAIN mode: dropout makes two forwards of the same batch differ. EVAL: identical. */
    gather(x, y, &tx, &ty, val, BATCH); /* validation images */
    nn_model_set_mode(&net, NN_MODE_TRAIN);
    memcpy(first, nn_model_forward(&net, nn_tensor_2d(x, BATCH, 784)).data, sizeof first);
    memcpy(second, nn_model_forward(&net, nn_tensor_2d(x, BATCH, 784)).data, sizeof second);
    printf("TRAIN mode, same input twice: %s\n", memcmp(first, second, sizeof first) ? "outputs differ (dropout)" : "identical");
    nn_model_set_mode(&net, NN_MODE_EVAL);
    memcpy(first, nn_model_forward(&net, nn_tensor_2d(x, BATCH, 784)).data, sizeof first);
    memcpy(second, nn_model_forward(&net, nn_tensor_2d(x, BATCH, 784)).data, sizeof second);
    printf("EVAL mode, same input twice:  %s\n", memcmp(first, second, sizeof first) ? "outputs differ" : "identical");

    /* The best checkpoint alone rebuilds the model (architecture is in the file). */
    {
        nn_result r = nn_arena_init_heap(&arena2, nn_model_arena_bytes(&md));
        if (r == NN_OK) r = nn_model_init_from_file(&again, &arena2, ck.path_best);
        if (r != NN_OK) {
            fprintf(stderr, "error: cannot reload %s: %s\n", ck.path_best, nn_result_string(r));
            return 1;
        }
    }
    nn_model_set_mode(&again, NN_MODE_EVAL);
    val2 = accuracy(&again, &tx, &ty, val, N_VAL, x, y);
    printf("best epoch %d (val acc %.2f%%); reloaded from %s alone: val acc %.2f%%\n", best_epoch, ck.best, ck.path_best,
           val2);
    test = accuracy(&again, &vx, &vy, NULL, vx.dims[0], x, y); /* the one look at the test set */
    printf("test acc %.2f%% (%d test images, evaluated once, on the reloaded best checkpoint)\n", test, vx.dims[0]);
    nn_idx_free(&tx); nn_idx_free(&ty); nn_idx_free(&vx); nn_idx_free(&vy);
    nn_arena_deinit(&arena2);
    nn_arena_deinit(&arena);
    return 0;
}
