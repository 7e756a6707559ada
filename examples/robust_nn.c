/* robust_nn.c - batch norm, dropout, AdamW, a warmup+cosine schedule and
   checkpoints on Fashion-MNIST.

   cc -O2 -o robust_nn examples/robust_nn.c -lm && ./robust_nn

   (add -fopenmp to use every core: same results, bit for bit)

   What it teaches: the "RobustNN" stack (Linear -> BatchNorm -> ReLU -> Dropout,
   twice, then Linear), why the TRAIN/EVAL switch matters (dropout draws a new
   mask on every forward in TRAIN mode; EVAL is deterministic), parameter groups
   (biases and norm parameters skip weight decay), an LR schedule, and
   checkpoints: the best epoch is saved atomically and reloaded from the file
   alone at the end. Usage: robust_nn [epochs] [data-dir]                        */
#define _POSIX_C_SOURCE 200809L
#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_PNG /* only its zlib decoder is used */
#include <stb/stb_image.h>

#define NN_IMPLEMENTATION
#include "../nn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BATCH 128

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

static double accuracy(nn_model *net, const nn_idx *im, const nn_idx *lb, float *x, int *y, int *idx) {
    int n = im->dims[0], correct = 0, s, i, j;
    for (i = 0; i < n; i++) idx[i] = i;
    for (s = 0; s < n; s += BATCH) {
        int b = n - s < BATCH ? n - s : BATCH;
        nn_tensor out;
        gather(x, y, im, lb, idx + s, b);
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
    int epochs = argc > 1 ? atoi(argv[1]) : 5;
    const char *dir = argc > 2 ? argv[2] : "/usr/share/datasets/fashion-mnist";
    nn_idx tx, ty, vx, vy;
    nn_layer_desc L[9];
    nn_model_desc md;
    nn_optim_desc od;
    nn_sched_desc sd;
    nn_model net, again;
    nn_optim opt;
    nn_sched sched;
    nn_arena arena, arena2;
    nn_rng shuffle;
    nn_train_state st;
    nn_checkpoint ck;
    float *x, first[10], second[10];
    int *y, *idx, n, epoch, steps, i;
    char summary[2048];
    double acc, acc2;

    if (!load(&tx, dir, "train-images-idx3-ubyte.gz") || !load(&ty, dir, "train-labels-idx1-ubyte.gz") ||
        !load(&vx, dir, "t10k-images-idx3-ubyte.gz") || !load(&vy, dir, "t10k-labels-idx1-ubyte.gz"))
        return 1;
    n = tx.dims[0];

    /* Linear -> BatchNorm -> ReLU -> Dropout, twice, then Linear */
    memset(L, 0, sizeof L);
    L[0].kind = NN_LAYER_DENSE; L[0].units = 256; L[0].init = NN_INIT_KAIMING_NORMAL;
    L[1].kind = NN_LAYER_BATCHNORM;
    L[2].kind = NN_LAYER_ACT; L[2].act = NN_ACT_RELU;
    L[3].kind = NN_LAYER_DROPOUT; L[3].p = 0.2f;
    L[4].kind = NN_LAYER_DENSE; L[4].units = 128; L[4].init = NN_INIT_KAIMING_NORMAL;
    L[5].kind = NN_LAYER_BATCHNORM;
    L[6].kind = NN_LAYER_ACT; L[6].act = NN_ACT_RELU;
    L[7].kind = NN_LAYER_DROPOUT; L[7].p = 0.2f;
    L[8].kind = NN_LAYER_DENSE; L[8].units = 10;
    memset(&md, 0, sizeof md);
    md.inputs = 784; md.max_batch = BATCH; md.layers = L; md.n_layers = 9; md.seed = 1;
    memset(&od, 0, sizeof od);
    od.kind = NN_OPTIM_ADAMW; od.lr = 2e-3f; od.weight_decay = 0.05f;
    if (nn_arena_init_heap(&arena, nn_model_arena_bytes(&md) + nn_optim_arena_bytes(&od, nn_model_param_count(&md)) +
                                       nn_arena_bytes_for(sizeof(float) * BATCH * 784) + nn_arena_bytes_for(sizeof(int) * BATCH) +
                                       nn_arena_bytes_for(sizeof(int) * (size_t)n)) != NN_OK ||
        nn_model_init(&net, &arena, &md) != NN_OK || nn_optim_init(&opt, &arena, &od, net.n_params) != NN_OK) {
        fprintf(stderr, "error: set-up failed\n");
        return 1;
    }
    x = (float *)nn_arena_alloc(&arena, sizeof(float) * BATCH * 784);
    y = (int *)nn_arena_alloc(&arena, sizeof(int) * BATCH);
    idx = (int *)nn_arena_alloc(&arena, sizeof(int) * (size_t)n);
    steps = n / BATCH;

    memset(&sd, 0, sizeof sd);
    sd.kind = NN_SCHED_COSINE; sd.base_lr = od.lr; sd.t_max = epochs * steps - steps / 2;
    sd.warmup_steps = steps / 2; sd.warmup_start_factor = 0.1; /* half an epoch of warmup */
    nn_sched_init(&sched, &sd);
    nn_rng_seed(&shuffle, 7);
    memset(&st, 0, sizeof st);
    st.optim = &opt; st.sched = &sched; st.rng = &shuffle;
    memset(&ck, 0, sizeof ck);
    ck.path_best = "robust_best.nnw"; ck.path_last = "robust_last.nnw"; ck.mode_max = 1;

    nn_model_summary(&net, summary, sizeof summary);
    printf("%s", summary);

    for (epoch = 1; epoch <= epochs; epoch++) {
        double loss = 0.0;
        int s, improved;
        for (i = 0; i < n; i++) idx[i] = i;
        nn_rng_shuffle(&shuffle, idx, n);
        nn_model_set_mode(&net, NN_MODE_TRAIN);
        for (s = 0; s < steps; s++) {
            nn_tensor out, d;
            gather(x, y, &tx, &ty, idx + s * BATCH, BATCH);
            out = nn_model_forward(&net, nn_tensor_2d(x, BATCH, 784));
            d = nn_model_output_grad(&net);
            loss += nn_loss_cross_entropy(d, out, y);
            nn_model_zero_grad(&net);
            nn_model_backward(&net, d);
            opt.d.lr = nn_sched_lr(&sched);
            nn_optim_step_params(&opt, net.param_list, net.n_param_list); /* no decay on biases, BN */
            nn_sched_step(&sched, 0.0f);
        }
        nn_model_set_mode(&net, NN_MODE_EVAL);
        acc = accuracy(&net, &vx, &vy, x, y, idx);
        if (nn_checkpoint_update(&ck, &net, &st, (float)acc, &improved) != NN_OK) fprintf(stderr, "warning: checkpoint failed\n");
        printf("epoch %d  loss %.4f  test acc %.2f%%  lr %.2e%s\n", epoch, loss / steps, acc, nn_sched_lr(&sched),
               improved ? "  (saved best)" : "");
    }

    /* TRAIN mode: dropout makes two forwards of the same batch differ. EVAL: identical. */
    for (i = 0; i < BATCH; i++) idx[i] = i;
    gather(x, y, &vx, &vy, idx, BATCH);
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
    acc2 = accuracy(&again, &vx, &vy, x, y, idx);
    printf("reloaded %s: test acc %.2f%% (best epoch had %.2f%%)\n", ck.path_best, acc2, ck.best);
    nn_idx_free(&tx); nn_idx_free(&ty); nn_idx_free(&vx); nn_idx_free(&vy);
    nn_arena_deinit(&arena2);
    nn_arena_deinit(&arena);
    return 0;
}
