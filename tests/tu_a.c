/* tu_a.c - two translation units: this one defines NN_IMPLEMENTATION, tu_b.c only
   includes nn.h. Linking them proves there are no duplicate or missing symbols;
   the test checks both units compute the same thing. */
#define NN_IMPLEMENTATION
#include "../nn.h"
#include "../nn.h" /* the implementation guard makes a second include a no-op */
#include "test.h"

float tu_b_dense_sum(float *x, float *w, float *b, int batch, int in, int out, float *y);
uint64_t tu_b_rng(uint64_t seed);
nn_layer_desc tu_b_layer(void);
nn_optim_desc tu_b_optim(void);

static void test_two_translation_units(void) {
    enum { B = 3, IN = 5, OUT = 4 };
    float x[B * IN], w[OUT * IN], b[OUT], y1[B * OUT], y2[B * OUT], s1 = 0.0f, s2;
    nn_rng r;
    int i;
    nn_rng_seed(&r, 1);
    for (i = 0; i < B * IN; i++) x[i] = nn_rng_uniform(&r) - 0.5f;
    for (i = 0; i < OUT * IN; i++) w[i] = nn_rng_uniform(&r) - 0.5f;
    for (i = 0; i < OUT; i++) b[i] = nn_rng_uniform(&r) - 0.5f;
    nn_dense_forward(nn_tensor_2d(y1, B, OUT), nn_tensor_2d(x, B, IN), nn_tensor_2d(w, OUT, IN),
                     nn_tensor_1d(b, OUT));
    nn_relu_forward(nn_tensor_2d(y1, B, OUT), nn_tensor_2d(y1, B, OUT));
    for (i = 0; i < B * OUT; i++) s1 += y1[i];
    s2 = tu_b_dense_sum(x, w, b, B, IN, OUT, y2);
    CHECK(s1 == s2);
    CHECK(memcmp(y1, y2, sizeof y1) == 0);
    CHECK(s1 > 0.0f);
    nn_rng_seed(&r, 99);
    nn_rng_u64(&r);
    CHECK(nn_rng_u64(&r) == tu_b_rng(99));
}

/* Descriptions built in the other unit: the same defaults, the same tag. */
static void test_two_units_descriptions(void) {
    nn_layer_desc l = tu_b_layer(), here = nn_dense(3, NN_ACT_LEAKY_RELU);
    nn_optim_desc o = tu_b_optim(), oh = nn_optim_desc_default(NN_OPTIM_ADAMW);
    CHECK(l.tag == NN_DESC_TAG && l.kind == NN_LAYER_DENSE && l.units == 3 && l.alpha == 0.0f);
    CHECK(here.alpha == 0.01f && l.init_gain == here.init_gain && l.eps == here.eps);
    CHECK(o.tag == NN_DESC_TAG && o.kind == NN_OPTIM_ADAMW && o.weight_decay == 0.01f);
    CHECK(o.lr == oh.lr && o.beta1 == oh.beta1 && o.beta2 == oh.beta2 && o.eps == oh.eps);
}

static const test_case tests[] = {
    TEST(test_two_translation_units),
    TEST(test_two_units_descriptions),
};

int main(int argc, char **argv) { return TEST_MAIN(argc, argv, tests); }
