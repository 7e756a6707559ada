/* tu_b.c - the second translation unit: sees only nn.h's declarations (no
   NN_IMPLEMENTATION here), linked with tu_a.c which holds the implementation. */
#include "../nn.h"
#include "../nn.h" /* a second include is harmless */

float tu_b_dense_sum(float *x, float *w, float *b, int batch, int in, int out, float *y);
uint64_t tu_b_rng(uint64_t seed);
nn_layer_desc tu_b_layer(void);
nn_optim_desc tu_b_optim(void);

/* y = relu(x w^T + b); returns the sum of y. */
float tu_b_dense_sum(float *x, float *w, float *b, int batch, int in, int out, float *y) {
    nn_tensor ty = nn_tensor_2d(y, batch, out);
    float s = 0.0f;
    size_t i;
    nn_dense_forward(ty, nn_tensor_2d(x, batch, in), nn_tensor_2d(w, out, in), nn_tensor_1d(b, out));
    nn_act_forward(NN_ACT_RELU, 0.0f, ty, ty);
    for (i = 0; i < nn_tensor_size(ty); i++) s += y[i];
    return s;
}

uint64_t tu_b_rng(uint64_t seed) {
    nn_rng r;
    nn_rng_seed(&r, seed);
    nn_rng_u64(&r);
    return nn_rng_u64(&r);
}

/* The description constructors are declared for every unit, defined in one. */
nn_layer_desc tu_b_layer(void) {
    nn_layer_desc l = nn_dense(3, NN_ACT_LEAKY_RELU);
    l.alpha = 0.0f; /* literal */
    return l;
}
nn_optim_desc tu_b_optim(void) { return nn_optim_desc_default(NN_OPTIM_ADAMW); }
