/* The host side of tests/embedded_check.sh: trains two small models (an MLP
   with batch norm, and a CNN: conv, BatchNorm2d, ReLU, max pool, dense) for
   a few steps so that every weight and running statistic has moved, exports
   each as C source with nn_model_export_c (and its int8 form with
   nn_qmodel_export_c), and writes the inputs and the
   outputs the full library computes for them (EVAL mode) as ref.h. The
   embedded build must reproduce those outputs from the compiled-in weights.
   usage: export_models OUTDIR */
#define NN_IMPLEMENTATION
#include "../../nn.h"
#include <stdio.h>
#include <string.h>

#define BATCH 3

static int train_export(const char *dir, const char *name, nn_layer_desc *l, int n, int inputs, int c, int h,
                        int w, FILE *ref) {
    nn_model_desc md;
    nn_optim_desc od;
    nn_arena arena;
    nn_model net;
    nn_optim opt;
    nn_rng rng;
    float x[16 * 64], out[BATCH * 16];
    int labels[16], step, i;
    char path[512];
    FILE *f;
    nn_tensor z;
    memset(&md, 0, sizeof md);
    md.inputs = inputs; md.max_batch = 16; md.layers = l; md.n_layers = n; md.seed = 11;
    md.input_shape[0] = c; md.input_shape[1] = h; md.input_shape[2] = w;
    od = nn_optim_desc_default(NN_OPTIM_ADAM);
    od.lr = 0.01f;
    if (nn_arena_init_heap(&arena, nn_model_arena_bytes(&md) + nn_optim_arena_bytes(&od, nn_model_param_count(&md))) ||
        nn_model_init(&net, &arena, &md) || nn_optim_init(&opt, &arena, &od, net.n_params)) {
        fprintf(stderr, "%s: init failed: %s\n", name, net.error);
        return 1;
    }
    nn_rng_seed(&rng, 5);
    for (step = 0; step < 20; step++) {
        for (i = 0; i < 16 * inputs; i++) x[i] = nn_rng_uniform(&rng) * 2.0f - 1.0f;
        for (i = 0; i < 16; i++) labels[i] = (int)(nn_rng_u64(&rng) % (uint64_t)net.outputs);
        z = nn_model_forward(&net, nn_tensor_2d(x, 16, inputs));
        nn_loss_cross_entropy(nn_model_output_grad(&net), z, labels);
        nn_model_zero_grad(&net);
        if (nn_model_backward(&net, nn_model_output_grad(&net)) || nn_optim_step(&opt, net.params, net.grads, net.n_params))
            return 1;
    }
    nn_model_set_mode(&net, NN_MODE_EVAL);
    for (i = 0; i < BATCH * inputs; i++) x[i] = nn_rng_uniform(&rng) * 2.0f - 1.0f;
    z = nn_model_forward(&net, nn_tensor_2d(x, BATCH, inputs));
    memcpy(out, z.data, sizeof(float) * (size_t)BATCH * (size_t)net.outputs);
    snprintf(path, sizeof path, "%s/%s_model.h", dir, name);
    f = fopen(path, "wb");
    if (!f || nn_model_export_c(&net, name, f) != NN_OK || fclose(f) != 0) return 1;
    fprintf(ref, "#define %s_INPUTS %d\n#define %s_OUTPUTS %d\n", name, inputs, name, net.outputs);
    fprintf(ref, "static const float %s_x[%d] = {", name, BATCH * inputs);
    for (i = 0; i < BATCH * inputs; i++) fprintf(ref, "%a%s", (double)x[i], i + 1 < BATCH * inputs ? ", " : "};\n");
    fprintf(ref, "static const float %s_y[%d] = {", name, BATCH * net.outputs);
    for (i = 0; i < BATCH * net.outputs; i++) fprintf(ref, "%a%s", (double)out[i], i + 1 < BATCH * net.outputs ? ", " : "};\n");
    printf("%s: %lu parameters, arena %lu bytes\n", name, (unsigned long)net.n_params, (unsigned long)net.arena_bytes);
    { /* each quantized too: calibrated on 16 fresh rows */
        nn_arena qa;
        nn_qmodel q;
        float calib[16 * 64];
        for (i = 0; i < 16 * inputs; i++) calib[i] = nn_rng_uniform(&rng) * 2.0f - 1.0f;
        if (nn_arena_init_heap(&qa, nn_qmodel_arena_bytes(&net, BATCH)) != NN_OK ||
            nn_qmodel_init(&q, &qa, &net, nn_tensor_2d(calib, 16, inputs), BATCH) != NN_OK)
            return 1;
        z = nn_qmodel_forward(&q, nn_tensor_2d(x, BATCH, inputs));
        snprintf(path, sizeof path, "%s/q%s_model.h", dir, name);
        f = fopen(path, "wb");
        if (!z.data || !f || nn_qmodel_export_c(&q, name, f) != NN_OK || fclose(f) != 0) return 1;
        fprintf(ref, "static const float q%s_y[%d] = {", name, BATCH * net.outputs);
        for (i = 0; i < BATCH * net.outputs; i++)
            fprintf(ref, "%a%s", (double)z.data[i], i + 1 < BATCH * net.outputs ? ", " : "};\n");
        printf("q%s: int8 (%s kernel)\n", name, nn_qkernel_name(q.kernel));
        nn_arena_deinit(&qa);
    }
    nn_arena_deinit(&arena);
    return 0;
}

int main(int argc, char **argv) {
    nn_layer_desc mlp[4], cnn[6];
    char path[512];
    FILE *ref;
    int bad;
    if (argc < 2) return 2;
    mlp[0] = nn_dense(24, NN_ACT_IDENTITY);
    mlp[1] = nn_batchnorm();
    mlp[2] = nn_activation(NN_ACT_TANH);
    mlp[3] = nn_dense(4, NN_ACT_IDENTITY);
    cnn[0] = nn_conv2d(6, 3, 1, 1, NN_ACT_IDENTITY);
    cnn[1] = nn_batchnorm2d();
    cnn[2] = nn_activation(NN_ACT_RELU);
    cnn[3] = nn_maxpool2d(2, 2, 0);
    cnn[4] = nn_flatten();
    cnn[5] = nn_dense(5, NN_ACT_IDENTITY);
    snprintf(path, sizeof path, "%s/ref.h", argv[1]);
    ref = fopen(path, "wb");
    if (!ref) return 1;
    fprintf(ref, "#define REF_BATCH %d\n", BATCH);
    bad = train_export(argv[1], "mlp", mlp, 4, 10, 0, 0, 0, ref) ||
          train_export(argv[1], "cnn", cnn, 6, 64, 1, 8, 8, ref);
    return fclose(ref) != 0 || bad;
}
