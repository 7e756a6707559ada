/* course_lab.c - the claims of a neural-network course, each one measured.

   cc -O2 examples/course_lab.c -o course_lab -lm && ./course_lab
   (needs Debian's dataset-fashion-mnist and libstb-dev; `make demo` installs both)

   What it teaches: how to look inside training rather than only at its loss. Each
   experiment states a claim the course makes, runs the smallest thing that tests it on
   real data (6,000 Fashion-MNIST images), and prints what it measured:
     1. check a backward pass before trusting it (nn_gradcheck_model);
     2. sigmoid networks' gradients vanish with depth, ReLU with He init keeps them
        (nn_model_layer_stats; a picture of the gradient per layer);
     3. too large a learning rate kills ReLU units;
     4. weights that all start equal stay equal (symmetry), random ones do not;
     5. dropout narrows the gap between training and test accuracy; batch norm
        trains at a learning rate that stalls the same network without it;
     6. the loss surface's curvature: the top Hessian eigenvalue (sharpness) and
        the Hessian's trace, and the step size 2 / lambda_max that gradient descent
        must stay under;
     7. a learning-rate range test suggests a learning rate (nn_lr_find; a picture).
   Usage: course_lab [out-dir, default build]; writes course_grad_flow.png (gradient
   norms per layer over training) and course_lr_find.png (loss against the learning
   rate) there. About 10 s on one core. */
#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_PNG /* only its zlib decoder is needed here */
#include <stb/stb_image.h>

#define NN_IMPLEMENTATION
#include "../nn.h"
#define NN_PLOT_IMPLEMENTATION
#include "nn_plot.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DATA_DIR "/usr/share/datasets/fashion-mnist"
#define N_TRAIN 6000
#define N_TEST 2000

static float xs[N_TRAIN * 784], xt[N_TEST * 784];
static int ys[N_TRAIN], yt[N_TEST];

/* nn.h brings no decompressor: plug in stb's. */
static nn_result stb_inflate(void *dst, size_t dst_len, const void *src, size_t src_len) {
    int n;
    if (dst_len > INT_MAX || src_len > INT_MAX) return NN_ERR_TOO_LARGE;
    n = stbi_zlib_decode_noheader_buffer((char *)dst, (int)dst_len, (const char *)src, (int)src_len);
    return n == (int)dst_len ? NN_OK : NN_ERR_CORRUPT;
}

/* The first n images (scaled to [0, 1]) and labels of one part of the set. */
static int load(const char *images, const char *labels, int n, float *x, int *y) {
    char p1[512], p2[512];
    nn_idx im, lb;
    int i;
    snprintf(p1, sizeof p1, "%s/%s", DATA_DIR, images);
    snprintf(p2, sizeof p2, "%s/%s", DATA_DIR, labels);
    if (nn_idx_load(&im, p1, stb_inflate) != NN_OK || nn_idx_load(&lb, p2, stb_inflate) != NN_OK ||
        im.rank != 3 || im.dims[0] < n || lb.dims[0] < n) {
        fprintf(stderr, "error: cannot read %s (apt-get install dataset-fashion-mnist)\n", DATA_DIR);
        return 0;
    }
    for (i = 0; i < n * 784; i++) x[i] = im.data[i] / 255.0f;
    for (i = 0; i < n; i++) y[i] = lb.data[i];
    nn_idx_free(&im);
    nn_idx_free(&lb);
    return 1;
}

/* A model and an optimizer in one heap arena, with room for scratch. */
typedef struct net {
    nn_model m;
    nn_optim o;
    nn_arena a;
} net;

static int net_make(net *n, const nn_layer_desc *ls, int count, int max_batch, nn_optim_desc od, uint64_t seed) {
    nn_model_desc md;
    memset(n, 0, sizeof *n);
    memset(&md, 0, sizeof md);
    md.inputs = 784; md.max_batch = max_batch; md.layers = ls; md.n_layers = count; md.seed = seed;
    if (nn_arena_init_heap(&n->a, nn_model_arena_bytes(&md) + nn_optim_arena_bytes(&od, nn_model_param_count(&md)) +
                                      ((size_t)64 << 20)) != NN_OK ||
        nn_model_init(&n->m, &n->a, &md) != NN_OK || nn_optim_init(&n->o, &n->a, &od, n->m.n_params) != NN_OK) {
        fprintf(stderr, "error: set-up: %s%s\n", n->m.error, n->o.error);
        return 0;
    }
    return 1;
}

static nn_batch batch_at(int first, int b) {
    nn_batch bt;
    bt.x = nn_tensor_2d(xs + (size_t)first * 784, b, 784);
    bt.labels = ys + first;
    bt.targets = NULL;
    return bt;
}

/* steps minibatches of 64 in order through the 6,000 images */
static float train_steps(net *n, int steps) {
    float loss = 0.0f;
    int s;
    nn_model_set_mode(&n->m, NN_MODE_TRAIN);
    for (s = 0; s < steps; s++) {
        loss = nn_model_loss(&n->m, batch_at((s * 64) % (N_TRAIN - 64), 64), 1);
        nn_optim_step(&n->o, n->m.params, n->m.grads, n->m.n_params);
    }
    return loss;
}

/* accuracy on n rows of x/y, in EVAL mode, as many rows at a time as the model takes */
static double accuracy(net *n, const float *x, const int *y, int rows) {
    int r, correct = 0, step = n->m.max_batch < 250 ? n->m.max_batch : 250;
    nn_model_set_mode(&n->m, NN_MODE_EVAL);
    for (r = 0; r < rows; r += step) {
        int b = rows - r < step ? rows - r : step, pred[250], i;
        nn_tensor out = nn_model_forward(&n->m, nn_tensor_2d((float *)(uintptr_t)(x + (size_t)r * 784), b, 784));
        nn_argmax_rows(pred, out.data, b, 10);
        for (i = 0; i < b; i++) correct += pred[i] == y[r + i];
    }
    return (double)correct / rows;
}

static nn_optim_desc sgd(float lr, float momentum) {
    nn_optim_desc od = nn_optim_desc_default(NN_OPTIM_SGD);
    od.lr = lr;
    od.momentum = momentum;
    return od;
}

int main(int argc, char **argv) {
    const char *out_dir = argc > 1 ? argv[1] : "build";
    char path[1024];
    nn_layer_desc ls[20];
    net n1, n2;
    int i;
    if (argc > 2) {
        fprintf(stderr, "usage: course_lab [out-dir]\n");
        return 2;
    }
    if (!load("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", N_TRAIN, xs, ys) ||
        !load("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", N_TEST, xt, yt))
        return 1;

    /* ---- 1. gradient check ---- */
    printf("1. Check a backward pass before trusting it.\n");
    {
        nn_gradcheck_desc gd = nn_gradcheck_desc_default();
        nn_gradcheck_result gr;
        nn_result r;
        ls[0] = nn_dense(32, NN_ACT_TANH);
        ls[1] = nn_layernorm();
        ls[2] = nn_dense(10, NN_ACT_IDENTITY);
        if (!net_make(&n1, ls, 3, 64, sgd(0.1f, 0.0f), 1)) return 1;
        gd.max_per_run = 200; /* sampled: the first weight alone has 25,088 entries */
        r = nn_gradcheck_model(&n1.m, batch_at(0, 8), &gd, &n1.a, &gr);
        nn_gradcheck_print(&gr, stdout);
        printf("   measured: %s; worst relative error %.2g over %ld sampled derivatives\n\n",
               r == NN_OK ? "backward agrees with centred differences" : gr.error, gr.max_rel, gr.checked);
        nn_arena_deinit(&n1.a);
    }

    /* ---- 2. vanishing gradients ---- */
    printf("2. Sigmoid gradients vanish with depth; ReLU with He initialization keeps them.\n");
    {
        enum { STEPS = 200, EVERY = 4, PTS = STEPS / EVERY };
        static float flow[2][3][PTS], when[PTS]; /* [sigmoid, relu][layer 1, 5, 9][time] */
        static const char *names[2][3] = {{"sigmoid, layer 1", "sigmoid, layer 5", "sigmoid, layer 9"},
                                          {"ReLU + He, layer 1", "ReLU + He, layer 5", "ReLU + He, layer 9"}};
        float first[2][9];
        int kind, s;
        for (kind = 0; kind < 2; kind++) {
            nn_layer_stats st[32];
            int nl, k;
            for (i = 0; i < 8; i++) {
                ls[i] = nn_dense(64, kind ? NN_ACT_RELU : NN_ACT_SIGMOID);
                if (kind) ls[i].init = NN_INIT_KAIMING_NORMAL;
            }
            ls[8] = nn_dense(10, NN_ACT_IDENTITY);
            if (!net_make(&n1, ls, 9, 256, sgd(0.01f, 0.9f), 2)) return 1;
            for (s = 0; s < STEPS; s++) {
                nn_model_loss(&n1.m, batch_at((s * 64) % (N_TRAIN - 64), 64), 1);
                if (s % EVERY == 0) { /* the gradient per layer, before the step changes it */
                    nl = nn_model_layer_stats(&n1.m, NULL, st, 32);
                    for (i = 0, k = 0; i < nl && k < 9; i++) {
                        if (st[i].kind != NN_LAYER_DENSE) continue;
                        if (s == 0) first[kind][k] = (float)log10(st[i].grad_norm);
                        if (k % 4 == 0) flow[kind][k / 4][s / EVERY] = st[i].grad_norm;
                        k++;
                    }
                    when[s / EVERY] = (float)s;
                }
                nn_optim_step(&n1.o, n1.m.params, n1.m.grads, n1.m.n_params);
            }
            printf("   %-7s log10 |dW| from the first layer to the last, step 0:", kind ? "ReLU" : "sigmoid");
            for (i = 0; i < 9; i++) printf(" %5.1f", (double)first[kind][i]);
            printf("\n");
            nn_arena_deinit(&n1.a);
        }
        printf("   measured: first / last layer gradient norm %.1e with sigmoid, %.1e with ReLU + He\n",
               pow(10.0, first[0][0] - first[0][8]), pow(10.0, first[1][0] - first[1][8]));
        {
            nn_plot_xy_series sr[6];
            for (i = 0; i < 6; i++) {
                sr[i].label = names[i / 3][i % 3];
                sr[i].x = when;
                sr[i].y = flow[i / 3][i % 3];
                sr[i].n = PTS;
            }
            snprintf(path, sizeof path, "%s/course_grad_flow.png", out_dir);
            if (nn_plot_xy_png(path, 800, 480, "gradient flow: 9-layer MLP, SGD lr 0.01 momentum 0.9", "training step",
                               "|dL/dW| of the layer", 0, 1, sr, 6, NAN) == NN_PLOT_OK)
                printf("   wrote %s\n", path);
        }
        printf("\n");
    }

    /* ---- 3. dead ReLUs ---- */
    printf("3. Too large a learning rate kills ReLU units (they output 0 for every input).\n");
    {
        float lrs[3] = {0.01f, 0.3f, 3.0f};
        int k;
        for (k = 0; k < 3; k++) {
            nn_layer_stats st[8];
            ls[0] = nn_dense(128, NN_ACT_RELU);
            ls[1] = nn_dense(128, NN_ACT_RELU);
            ls[2] = nn_dense(10, NN_ACT_IDENTITY);
            if (!net_make(&n1, ls, 3, 512, sgd(lrs[k], 0.9f), 3)) return 1;
            train_steps(&n1, 200);
            nn_model_set_mode(&n1.m, NN_MODE_TRAIN);
            nn_model_loss(&n1.m, batch_at(1000, 512), 0);
            nn_model_layer_stats(&n1.m, NULL, st, 8);
            printf("   SGD lr %-5g momentum 0.9, 200 steps: dead units %4.1f%% and %4.1f%% of the two ReLU layers, "
                   "test accuracy %.1f%%\n", (double)lrs[k], 100.0 * st[1].dead_fraction, 100.0 * st[3].dead_fraction,
                   100.0 * accuracy(&n1, xt, yt, N_TEST));
            nn_arena_deinit(&n1.a);
        }
        printf("\n");
    }

    /* ---- 4. symmetry ---- */
    printf("4. Weights that all start equal stay equal: every hidden unit learns the same thing.\n");
    {
        int k;
        for (k = 0; k < 2; k++) {
            int distinct = 0, u, v;
            ls[0] = nn_dense(32, NN_ACT_TANH);
            ls[1] = nn_dense(10, NN_ACT_IDENTITY);
            if (k == 0)
                for (i = 0; i < 2; i++) {
                    ls[i].init = NN_INIT_CONSTANT;
                    ls[i].init_value = 0.01f;
                }
            if (!net_make(&n1, ls, 2, 64, sgd(0.1f, 0.9f), 4)) return 1;
            train_steps(&n1, 300);
            for (u = 0; u < 32; u++) { /* hidden units whose incoming weights differ from every earlier one */
                for (v = 0; v < u; v++)
                    if (memcmp(n1.m.layers[0].w.data + (size_t)u * 784, n1.m.layers[0].w.data + (size_t)v * 784,
                               784 * sizeof(float)) == 0)
                        break;
                distinct += v == u;
            }
            printf("   %-24s 300 steps: %2d distinct hidden units of 32, test accuracy %.1f%%\n",
                   k ? "random (PyTorch) init:" : "every weight 0.01:", distinct, 100.0 * accuracy(&n1, xt, yt, N_TEST));
            nn_arena_deinit(&n1.a);
        }
        printf("\n");
    }

    /* ---- 5. dropout and batch norm ---- */
    printf("5. Dropout narrows the train/test gap; batch norm trains where plain SGD stalls.\n");
    {
        int k;
        float loss;
        for (k = 0; k < 2; k++) {
            double tr, te;
            int n = 0;
            ls[n++] = nn_dense(512, NN_ACT_RELU);
            if (k) ls[n++] = nn_dropout(0.5f);
            ls[n++] = nn_dense(512, NN_ACT_RELU);
            if (k) ls[n++] = nn_dropout(0.5f);
            ls[n++] = nn_dense(10, NN_ACT_IDENTITY);
            if (!net_make(&n1, ls, n, 250, nn_optim_desc_default(NN_OPTIM_ADAM), 5)) return 1;
            train_steps(&n1, 94 * 15); /* 15 epochs of the 6,000 images */
            tr = accuracy(&n1, xs, ys, N_TRAIN);
            te = accuracy(&n1, xt, yt, N_TEST);
            printf("   %-22s train %.1f%%, test %.1f%%: gap %.1f points\n", k ? "dropout 0.5, Adam:" : "no dropout, Adam:",
                   100.0 * tr, 100.0 * te, 100.0 * (tr - te));
            nn_arena_deinit(&n1.a);
        }
        for (k = 0; k < 2; k++) {
            int n = 0, j;
            for (j = 0; j < 6; j++) {
                ls[n++] = nn_dense(64, k ? NN_ACT_IDENTITY : NN_ACT_SIGMOID);
                if (k) {
                    ls[n++] = nn_batchnorm();
                    ls[n++] = nn_activation(NN_ACT_SIGMOID);
                }
            }
            ls[n++] = nn_dense(10, NN_ACT_IDENTITY);
            if (!net_make(&n1, ls, n, 250, sgd(0.5f, 0.0f), 6)) return 1;
            loss = train_steps(&n1, 300); /* before the accuracy: argument order is unspecified in C */
            printf("   6 sigmoid layers, SGD lr 0.5, 300 steps, %-13s final loss %.3f, test accuracy %.1f%%\n",
                   k ? "batch norm:" : "plain:", (double)loss, 100.0 * accuracy(&n1, xt, yt, N_TEST));
            nn_arena_deinit(&n1.a);
        }
        printf("\n");
    }

    /* ---- 6. curvature ---- */
    printf("6. Curvature: the Hessian's top eigenvalue (sharpness) bounds a stable step, lr < 2 / lambda_max.\n");
    {
        int k;
        ls[0] = nn_dense(16, NN_ACT_TANH);
        ls[1] = nn_dense(10, NN_ACT_IDENTITY);
        if (!net_make(&n1, ls, 2, 256, sgd(0.05f, 0.0f), 7)) return 1;
        nn_model_set_mode(&n1.m, NN_MODE_EVAL); /* a function of the weights alone */
        for (k = 0; k < 2; k++) {
            double lam = 0.0, tr = 0.0, se = 0.0;
            int its = 0;
            if (k) train_steps(&n1, 500), nn_model_set_mode(&n1.m, NN_MODE_EVAL);
            nn_hessian_top_eigen(&n1.m, batch_at(0, 256), 100, 1e-4, 1, 0.0f, &n1.a, &lam, NULL, &its);
            nn_hessian_trace(&n1.m, batch_at(0, 256), 30, 2, 0.0f, &n1.a, &tr, &se);
            printf("   %-16s lambda_max %7.3f (%3d Hessian-vector products), 2 / lambda_max %6.3f; trace %8.2f +- %.2f "
                   "(%lu parameters)\n", k ? "after 500 steps:" : "at init:", lam, its, 2.0 / lam, tr, se,
                   (unsigned long)n1.m.n_params);
        }
        printf("   the SGD lr used, 0.05, is below 2 / lambda_max: the steps are stable\n\n");
        nn_arena_deinit(&n1.a);
    }

    /* ---- 7. learning-rate range test ---- */
    printf("7. A learning-rate range test (loss while the lr grows) suggests a learning rate.\n");
    {
        nn_lr_find_desc fd = nn_lr_find_desc_default();
        static nn_lr_find_result fr;
        nn_data d;
        ls[0] = nn_dense(128, NN_ACT_RELU);
        ls[1] = nn_dense(10, NN_ACT_IDENTITY);
        if (!net_make(&n1, ls, 2, 64, sgd(0.1f, 0.9f), 8)) return 1;
        memset(&d, 0, sizeof d);
        d.n = N_TRAIN; d.features = 784; d.x = xs; d.labels = ys;
        fd.lr_min = 1e-5; fd.lr_max = 10.0; fd.steps = 150;
        if (nn_lr_find(&n1.m, &n1.o, &n1.a, &d, &fd, &fr) == NN_OK) {
            printf("   SGD momentum 0.9, %d of %d steps%s: steepest fall at lr %.3g, lowest loss at lr %.3g\n", fr.n,
                   fd.steps, fr.diverged ? " (stopped: the loss diverged)" : "", fr.suggested, fr.min_lr);
            for (i = 0; i < 2; i++) {
                nn_optim_desc od = sgd(i ? (float)fr.suggested : 1e-4f, 0.9f);
                if (!net_make(&n2, ls, 2, 64, od, 8)) return 1;
                train_steps(&n2, 300);
                printf("   300 steps at lr %-8.3g test accuracy %.1f%%\n", (double)od.lr, 100.0 * accuracy(&n2, xt, yt, N_TEST));
                nn_arena_deinit(&n2.a);
            }
            {
                nn_plot_xy_series sr[2];
                sr[0].label = "loss, per batch"; sr[0].x = fr.lr; sr[0].y = fr.loss; sr[0].n = fr.n;
                sr[1].label = "loss, smoothed"; sr[1].x = fr.lr; sr[1].y = fr.smoothed; sr[1].n = fr.n;
                snprintf(path, sizeof path, "%s/course_lr_find.png", out_dir);
                if (nn_plot_xy_png(path, 800, 480, "learning-rate range test, SGD momentum 0.9", "learning rate", "loss",
                                   1, 1, sr, 2, fr.suggested) == NN_PLOT_OK)
                    printf("   wrote %s (the dashed line: the suggested lr)\n", path);
            }
        } else {
            printf("   %s\n", fr.error);
        }
        nn_arena_deinit(&n1.a);
    }
    return 0;
}
