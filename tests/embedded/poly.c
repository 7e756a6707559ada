/* Every activation nn_act_forward has a polynomial for (sigmoid, tanh, SiLU,
   ELU, GELU both forms, softmax) over inputs from -110 to 110 (and NaN,
   infinities, zeros of both signs, denormals), printed as bit patterns.
   tests/embedded_check.sh builds it with the AVX2 kernels and with
   -DNN_NO_SIMD -DNN_POLY_ACT and compares: the plain-C twins must give the
   AVX2 kernels' bits, with no libm call. */
#include <stdio.h>
#include <string.h>
#define NN_STATIC
#define NN_IMPLEMENTATION
#include "nn.h"

#define N 4103 /* not a multiple of 8: the kernels' tails too */
int main(void) {
    static float x[N], y[N];
    static const nn_act acts[7] = {NN_ACT_SIGMOID, NN_ACT_TANH, NN_ACT_SILU, NN_ACT_ELU,
                                   NN_ACT_GELU,    NN_ACT_GELU_TANH, NN_ACT_SOFTMAX};
    unsigned u;
    int i, a;
    for (i = 0; i < N - 16; i++) x[i] = -110.0f + 220.0f * (float)i / (float)(N - 17);
    u = 0x7FC00000u; memcpy(&x[N - 16], &u, 4);   /* NaN */
    u = 0x7F800000u; memcpy(&x[N - 15], &u, 4);   /* +inf */
    u = 0xFF800000u; memcpy(&x[N - 14], &u, 4);   /* -inf */
    u = 0x80000000u; memcpy(&x[N - 13], &u, 4);   /* -0 */
    u = 0x00000001u; memcpy(&x[N - 12], &u, 4);   /* the smallest denormal */
    u = 0x80400000u; memcpy(&x[N - 11], &u, 4);   /* a negative denormal */
    for (i = N - 10; i < N; i++) x[i] = (float)(i - N + 5) * 0.01f;
    for (a = 0; a < 7; a++) {
        nn_tensor tx = nn_tensor_2d(x, a == 6 ? N / 11 : 1, a == 6 ? 11 : N); /* softmax: rows of 11 */
        nn_tensor ty = nn_tensor_2d(y, tx.shape[0], tx.shape[1]);
        if (a == 6) { /* softmax of finite rows */
            for (i = 0; i < N; i++) y[i] = x[i] == x[i] && x[i] - x[i] == 0.0f ? x[i] : 0.0f;
            nn_act_forward(acts[a], 0.0f, ty, nn_tensor_2d(y, tx.shape[0], tx.shape[1]));
        } else {
            nn_act_forward(acts[a], 0.7f, ty, tx);
        }
        for (i = 0; i < (a == 6 ? N / 11 * 11 : N); i++) {
            memcpy(&u, &y[i], 4);
            if (y[i] != y[i]) printf("%d %d nan\n", a, i); /* a NaN's sign and payload carry no meaning */
            else printf("%d %d %08x\n", a, i, u);
        }
    }
    return 0;
}
