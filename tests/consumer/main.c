/* The smallest program a packaged nn.h must build: found through pkg-config
   or CMake (tests/install_check.sh), it trains XOR for a few hundred steps
   and exits 0 only if the network learned it and the header it compiled
   against is the version the package declared (NN_EXPECT_VERSION). */
#define NN_IMPLEMENTATION
#include <nn.h>
#include <stdio.h>
#include <string.h>

int main(void) {
    float xs[8] = {0, 0, 0, 1, 1, 0, 1, 1}, ys[4] = {0, 1, 1, 0};
    nn_layer_desc layers[2];
    nn_model_desc md;
    nn_optim_desc od;
    nn_arena arena;
    nn_model net;
    nn_optim opt;
    nn_tensor x = nn_tensor_2d(xs, 4, 2), t = nn_tensor_2d(ys, 4, 1);
    float loss = 1.0f;
    int step, ok = 1;
    layers[0] = nn_dense(8, NN_ACT_TANH);
    layers[1] = nn_dense(1, NN_ACT_IDENTITY);
    memset(&md, 0, sizeof md);
    md.inputs = 2; md.max_batch = 4; md.layers = layers; md.n_layers = 2; md.seed = 1;
    od = nn_optim_desc_default(NN_OPTIM_ADAM);
    od.lr = 0.05f;
    if (nn_arena_init_heap(&arena, nn_model_arena_bytes(&md) + nn_optim_arena_bytes(&od, nn_model_param_count(&md))) ||
        nn_model_init(&net, &arena, &md) || nn_optim_init(&opt, &arena, &od, net.n_params))
        return 2;
    for (step = 0; step < 500; step++) {
        nn_tensor z = nn_model_forward(&net, x);
        loss = nn_loss_mse(nn_model_output_grad(&net), z, t);
        memset(net.grads, 0, sizeof(float) * net.n_params);
        if (nn_model_backward(&net, nn_model_output_grad(&net)) || nn_optim_step(&opt, net.params, net.grads, net.n_params))
            return 3;
    }
#ifdef NN_EXPECT_VERSION
    ok = !strcmp(NN_VERSION_STRING, NN_EXPECT_VERSION);
#endif
    printf("nn.h %s: xor loss %.5f after %d steps\n", NN_VERSION_STRING, loss, step);
    nn_arena_deinit(&arena);
    return ok && loss < 0.01f ? 0 : 1;
}
