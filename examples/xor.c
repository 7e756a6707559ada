/* xor.c - the smallest network that needs a hidden layer.

   cc -O2 -o xor examples/xor.c -lm && ./xor

   What it teaches: the whole nn.h workflow in one screen: describe a model
   (each layer with its own width and activation), size and set up an arena,
   then a hand-written loop of forward, loss, zero_grad, backward, step. */
#define NN_IMPLEMENTATION
#include "../nn.h"

#include <stdio.h>
#include <string.h>

int main(int argc, char **argv) {
    static unsigned char mem[64 * 1024]; /* everything the model needs lives here */
    float xs[8] = {0, 0, 0, 1, 1, 0, 1, 1}, ts[4] = {0, 1, 1, 0};
    nn_tensor x = nn_tensor_2d(xs, 4, 2), t = nn_tensor_2d(ts, 4, 1);
    nn_layer_desc layers[2];
    nn_model_desc md;
    nn_optim_desc od;
    nn_arena arena;
    nn_model net;
    nn_optim opt;
    int step, i, ok = 1;

    if (argc > 1) {
        fprintf(stderr, "xor: unexpected argument '%s'\nusage: xor   (takes no arguments)\n", argv[1]);
        return 2;
    }
    layers[0] = nn_dense(8, NN_ACT_TANH);
    layers[1] = nn_dense(1, NN_ACT_SIGMOID);
    memset(&md, 0, sizeof md);
    md.inputs = 2; md.max_batch = 4; md.layers = layers; md.n_layers = 2; md.seed = 1;
    od = nn_optim_desc_default(NN_OPTIM_SGD);
    od.lr = 0.5f; od.momentum = 0.9f;

    printf("model needs %lu bytes, optimizer %lu, buffer has %lu\n",
           (unsigned long)nn_model_arena_bytes(&md),
           (unsigned long)nn_optim_arena_bytes(&od, nn_model_param_count(&md)), (unsigned long)sizeof mem);
    if (nn_arena_init(&arena, mem, sizeof mem) != NN_OK || nn_model_init(&net, &arena, &md) != NN_OK ||
        nn_optim_init(&opt, &arena, &od, net.n_params) != NN_OK) {
        fprintf(stderr, "set-up failed: buffer too small\n");
        return 1;
    }

    for (step = 0; step <= 1000; step++) {
        nn_tensor y = nn_model_forward(&net, x);
        nn_tensor dy = nn_model_output_grad(&net);
        float loss = nn_loss_mse(dy, y, t); /* writes dloss/dy into dy */
        nn_model_zero_grad(&net);           /* backward accumulates: clear first */
        nn_model_backward(&net, dy);
        nn_optim_step(&opt, net.params, net.grads, net.n_params);
        if (step % 200 == 0) printf("step %4d  loss %.5f\n", step, loss);
    }

    nn_model_set_mode(&net, NN_MODE_EVAL);
    {
        nn_tensor y = nn_model_forward(&net, x);
        for (i = 0; i < 4; i++) {
            printf("%g xor %g = %.3f\n", xs[2 * i], xs[2 * i + 1], y.data[i]);
            ok &= (y.data[i] > 0.5f) == (ts[i] > 0.5f);
        }
    }
    printf("%s\n", ok ? "learned XOR" : "did not learn XOR");
    return ok ? 0 : 1;
}
